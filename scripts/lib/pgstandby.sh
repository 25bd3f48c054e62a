#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A streaming standby of the test cluster, for failover tests:
#   pgstandby.sh start     # pg_basebackup -R, start; prints the standby's port
#   pgstandby.sh promote   # pg_ctl promote, waits until it takes writes
#   pgstandby.sh remove    # stop -m immediate and delete it
# Needs the DBR_TEST_* environment that lib/pgcluster.sh exports. The
# standby lives beside the primary's data directory, on a free loopback
# port and a socket directory of its own.
set -eu
: "${DBR_TEST_PGBIN:?} ${DBR_TEST_PGDATA:?} ${DBR_TEST_PGPORT:?} ${DBR_TEST_PGSOCK:?}"
base=$(dirname "$DBR_TEST_PGDATA")/standby
# shellcheck source=scripts/lib/pgcluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/pgcluster.sh"
as_owner() { pgcluster_as_owner "$@"; }

case "${1:-}" in
start)
    rm -rf "$base"
    mkdir -p "$base/sock"
    [ "$(id -u)" = 0 ] && chown postgres: "$base" "$base/sock"
    as_owner "$DBR_TEST_PGBIN/pg_basebackup" -h "$DBR_TEST_PGSOCK" -p "$DBR_TEST_PGPORT" -U dbr \
        -D "$base/data" -R -X stream -c fast >/dev/null
    for _ in $(seq 1 20); do
        port=$((20000 + (RANDOM % 20000)))
        pgcluster_port_free "$port" || continue
        if as_owner "$DBR_TEST_PGBIN/pg_ctl" -D "$base/data" -l "$base/server.log" \
            -o "-p $port -c unix_socket_directories=$base/sock" -w -t 60 start >/dev/null; then
            echo "$port"
            exit 0
        fi
    done
    echo "pgstandby: the standby did not start; its log:" >&2
    cat "$base/server.log" >&2
    exit 1
    ;;
promote)
    as_owner "$DBR_TEST_PGBIN/pg_ctl" -D "$base/data" -w -t 60 promote >/dev/null
    ;;
remove)
    if [ -f "$base/data/postmaster.pid" ]; then
        as_owner "$DBR_TEST_PGBIN/pg_ctl" -D "$base/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$base"
    ;;
*)
    echo "usage: pgstandby.sh start|promote|remove" >&2
    exit 2
    ;;
esac
