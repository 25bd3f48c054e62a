#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Shared by the disaster-recovery drills: TAP-like results, clusters of their
# own (initdb, a free loopback port, password authentication over TCP), and
# polling with a deadline instead of fixed sleeps.
#
# DR_SCRIPTS may point at another copy of scripts/ (to run the drills
# against an older version of the scripts).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export scripts=${DR_SCRIPTS:-$top/scripts}
: "${DBR_TEST_PGBIN:?run through scripts/run-tests.sh}"
export PATH=$DBR_TEST_PGBIN:$PATH
# shellcheck source=scripts/lib/pgcluster.sh
. "$top/scripts/lib/pgcluster.sh" # pgcluster_as_owner, pgcluster_port_free
work=$(mktemp -d "${TMPDIR:-/tmp}/dbr-dr.XXXXXX")
chmod 755 "$work"
clusters=()
on_exit=()
cleanup() {
    local d
    for d in "${on_exit[@]}"; do eval "$d" || true; done
    # cluster_new runs in $(...), a subshell: it lists its clusters in a file
    [ ! -f "$work/clusters" ] || mapfile -t -O "${#clusters[@]}" clusters <"$work/clusters"
    for d in "${clusters[@]}"; do
        [ ! -f "$d/postmaster.pid" ] ||
            pgcluster_as_owner "$DBR_TEST_PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { # description, command...
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# The command must fail, and its stderr must match the extended regex $2.
check_fails() { # description, regex, command...
    local what=$1 re=$2
    shift 2
    if "$@" >"$work/out" 2>"$work/err"; then
        not_ok "$what (it exited 0)"
    elif grep -Eq -- "$re" "$work/err"; then
        ok "$what"
    else
        not_ok "$what (stderr does not match /$re/:)"
        sed 's/^/    /' "$work/err"
    fi
}
done_testing() {
    echo "$pass passed, $fail failed"
    [ "$fail" = 0 ]
}
# Polls command until it succeeds; fails after $1 seconds.
wait_for() { # seconds, command...
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}
free_port() {
    local p
    while :; do
        p=$((40000 + RANDOM % 20000))
        pgcluster_port_free "$p" && { echo "$p"; return; }
    done
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# A new cluster in $work/NAME/data on a free port, superuser "dbr", trusted
# over its socket ($work/NAME/sock), scram-sha-256 over 127.0.0.1. Extra
# postgresql.conf lines on stdin. Prints the port.
cluster_new() {
    local dir=$work/$1 port
    mkdir -p "$dir/data" "$dir/sock" "$dir/log"
    [ "$(id -u)" != 0 ] || chown -R postgres: "$dir"
    pgcluster_as_owner initdb -D "$dir/data" -U dbr --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$dir/log/initdb.log" 2>&1 || { cat "$dir/log/initdb.log" >&2; return 1; }
    {
        echo "unix_socket_directories = '$dir/sock'"
        echo "listen_addresses = '127.0.0.1'"
        echo "log_line_prefix = '%m [%p] '"
        cat
    } >>"$dir/data/postgresql.conf"
    port=$(free_port)
    echo "port = $port" >>"$dir/data/postgresql.conf"
    clusters+=("$dir/data")
    echo "$dir/data" >>"$work/clusters" # for cleanup: this runs in a subshell
    pgcluster_as_owner pg_ctl -D "$dir/data" -l "$dir/log/server.log" -w -t 120 start >/dev/null ||
        { cat "$dir/log/server.log" >&2; return 1; }
    echo "$port"
}

# setup_wal_archiving.sh --pitr ARGS --start on a free port, and again
# (--delta) on another when some other process took that port in between:
# the machine is shared. Leaves the port in $work/pitr.port.
pitr_start() {
    local rc
    for _ in 1 2 3 4 5; do
        free_port >"$work/pitr.port"
        rc=0
        "$scripts/setup_wal_archiving.sh" --pitr "$@" --start --port "$(cat "$work/pitr.port")" 2>"$work/pitr.try" || rc=$?
        cat "$work/pitr.try" >&2
        { [ "$rc" != 0 ] && grep -q 'is taken' "$work/pitr.try"; } || return "$rc"
        set -- "$@" --delta
    done
    return 1
}
