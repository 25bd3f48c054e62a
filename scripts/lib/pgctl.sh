#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pg_ctl on the test cluster, as the cluster's owner: used by fault tests to
# stop (-m immediate) and start the server. Needs the DBR_TEST_* environment
# that lib/pgcluster.sh exports.
set -eu
: "${DBR_TEST_PGBIN:?} ${DBR_TEST_PGDATA:?} ${DBR_TEST_PGPORT:?}"
cmd=$1
shift
extra=()
case "$cmd" in
start | restart) extra=(-l "$DBR_TEST_PGDATA/../log/server.log" -o "-p $DBR_TEST_PGPORT" -w -t 60) ;;
stop) extra=(-w -t 60) ;;
esac
# The cluster's own locales (lc_messages tests): see lib/pgcluster.sh.
locpath=()
[ -n "${DBR_TEST_LOCPATH:-}" ] && locpath=(env LOCPATH="$DBR_TEST_LOCPATH")
if [ "$(id -u)" = 0 ]; then
    exec runuser -u postgres -- "${locpath[@]}" "$DBR_TEST_PGBIN/pg_ctl" -D "$DBR_TEST_PGDATA" "$cmd" "${extra[@]}" "$@"
fi
exec "${locpath[@]}" "$DBR_TEST_PGBIN/pg_ctl" -D "$DBR_TEST_PGDATA" "$cmd" "${extra[@]}" "$@"
