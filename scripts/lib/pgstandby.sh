#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Streaming standbys of the test cluster, for failover tests:
#   pgstandby.sh start [NAME]    # pg_basebackup -R, start, wait until it streams; prints its port
#   pgstandby.sh promote [NAME]  # pg_ctl promote, waits until it takes writes
#   pgstandby.sh sync NAME|off   # synchronous_standby_names on the primary ('"NAME"' or
#                                # reset), reload, wait until NAME is the sync standby (or none is)
#   pgstandby.sh detach NAME     # the standby stops streaming (primary_conninfo emptied,
#                                # reload), waits until the primary no longer sends to it:
#                                # a replication lag that grows, for loss-window tests
#   pgstandby.sh remove [NAME]   # stop -m immediate and delete it; without NAME, every standby
#   pgstandby.sh restore         # the shared server as the other tests expect it: every
#                                # standby removed, the primary started if it is down, and
#                                # synchronous replication off
# NAME (default "standby": lowercase letters, digits, _) is also the standby's
# application_name on the primary. Needs the DBR_TEST_* environment that
# lib/pgcluster.sh exports. Standbys live beside the primary's data directory
# (standbys/NAME), each on a free loopback port and a socket directory of its
# own; as root they run as the primary's unprivileged owner.
set -eu
: "${DBR_TEST_PGBIN:?} ${DBR_TEST_PGDATA:?} ${DBR_TEST_PGPORT:?} ${DBR_TEST_PGSOCK:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$DBR_TEST_PGDATA")/standbys
# shellcheck source=scripts/lib/pgcluster.sh
. "$here/pgcluster.sh"
as_owner() { pgcluster_as_owner "$@"; }

# The primary, as the superuser; never waits for a synchronous standby.
primary_sql() {
    PGOPTIONS='-c synchronous_commit=local' "$DBR_TEST_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
        -h "$DBR_TEST_PGSOCK" -p "$DBR_TEST_PGPORT" -U dbr -d postgres -c "$1"
}

# Polls the primary every 100 ms for up to 60 s until SQL prints WANT.
primary_wait() { # sql, want, what
    for _ in $(seq 1 600); do
        [ "$(primary_sql "$1" 2>/dev/null || true)" = "$2" ] && return 0
        sleep 0.1
    done
    echo "pgstandby: $3 (waited 60 s)" >&2
    return 1
}

name=${2:-standby}
case "$name" in
*[!a-z0-9_]* | "")
    echo "pgstandby: standby name '$name': expected lowercase letters, digits and _" >&2
    exit 2
    ;;
esac
base=$root/$name

remove_one() { # dir
    if [ -f "$1/data/postmaster.pid" ]; then
        as_owner "$DBR_TEST_PGBIN/pg_ctl" -D "$1/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$1"
}

case "${1:-}" in
start)
    remove_one "$base"
    mkdir -p "$base/sock"
    [ "$(id -u)" = 0 ] && chown postgres: "$root" "$base" "$base/sock"
    as_owner "$DBR_TEST_PGBIN/pg_basebackup" -h "$DBR_TEST_PGSOCK" -p "$DBR_TEST_PGPORT" -U dbr \
        -D "$base/data" -R -X stream -c fast >/dev/null
    # Its own name on the primary (pg_stat_replication, synchronous_standby_names):
    # the last primary_conninfo of the file wins over the one -R wrote.
    echo "primary_conninfo = 'host=$DBR_TEST_PGSOCK port=$DBR_TEST_PGPORT user=dbr application_name=$name'" |
        as_owner tee -a "$base/data/postgresql.auto.conf" >/dev/null
    for _ in $(seq 1 20); do
        port=$((20000 + (RANDOM % 20000)))
        pgcluster_port_free "$port" || continue
        if as_owner "$DBR_TEST_PGBIN/pg_ctl" -D "$base/data" -l "$base/server.log" \
            -o "-p $port -c unix_socket_directories=$base/sock" -w -t 60 start >/dev/null; then
            primary_wait "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$name' AND state = 'streaming'" \
                1 "the standby $name does not stream from the primary" || {
                cat "$base/server.log" >&2
                exit 1
            }
            echo "$port"
            exit 0
        fi
    done
    echo "pgstandby: the standby $name did not start; its log:" >&2
    cat "$base/server.log" >&2
    exit 1
    ;;
promote)
    as_owner "$DBR_TEST_PGBIN/pg_ctl" -D "$base/data" -w -t 60 promote >/dev/null
    ;;
sync)
    if [ "$name" = off ]; then
        primary_sql "ALTER SYSTEM RESET synchronous_standby_names"
        primary_sql "SELECT pg_reload_conf()" >/dev/null
        primary_wait "SHOW synchronous_standby_names" "" "synchronous_standby_names is still set"
    else
        primary_sql "ALTER SYSTEM SET synchronous_standby_names = '\"$name\"'"
        primary_sql "SELECT pg_reload_conf()" >/dev/null
        primary_wait "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$name'" \
            sync "the standby $name is not the synchronous standby"
    fi
    ;;
detach)
    port=$(sed -n 4p "$base/data/postmaster.pid")
    for sql in "ALTER SYSTEM SET primary_conninfo = ''" "SELECT pg_reload_conf()"; do
        "$DBR_TEST_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$base/sock" -p "$port" -U dbr \
            -d postgres -c "$sql" >/dev/null
    done
    primary_wait "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$name'" 0 \
        "the primary still streams to the standby $name"
    ;;
remove)
    if [ -n "${2:-}" ]; then
        remove_one "$base"
    else
        for d in "$root"/*/; do
            [ -d "$d" ] && remove_one "${d%/}"
        done
        rm -rf "$root"
    fi
    ;;
restore)
    for d in "$root"/*/; do
        [ -d "$d" ] && remove_one "${d%/}"
    done
    rm -rf "$root"
    "$here/pgctl.sh" status >/dev/null 2>&1 || "$here/pgctl.sh" start >/dev/null
    primary_sql "ALTER SYSTEM RESET synchronous_standby_names"
    primary_sql "SELECT pg_reload_conf()" >/dev/null
    primary_wait "SHOW synchronous_standby_names" "" "synchronous_standby_names is still set"
    ;;
*)
    echo "usage: pgstandby.sh start|promote|remove [NAME] | sync NAME|off | detach NAME | restore" >&2
    exit 2
    ;;
esac
