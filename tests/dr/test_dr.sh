#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Disaster-recovery drills, for real, on clusters this test creates:
#   (logical backups: tests/dr/test_logical.sh)
#   2. WAL archiving and point-in-time recovery: three batches of writes with
#      the time noted, a destructive statement, recovery to the moment before
#      it; measures the recovery time and the data-loss window and checks
#      them against the seed's objectives (RTO 1 h, RPO 15 min) and ours
#      (recovery under 5 min, data loss under 1 min).
# Needs the DBR_TEST_* environment of scripts/lib/pgcluster.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
scripts=$top/scripts
: "${DBR_TEST_PGBIN:?run through scripts/run-tests.sh}"
export PATH=$DBR_TEST_PGBIN:$PATH
work=$(mktemp -d "${TMPDIR:-/tmp}/dbr-dr.XXXXXX")
chmod 755 "$work"
pids_to_stop=()
cleanup() {
    for d in "${pids_to_stop[@]}"; do
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
# shellcheck source=scripts/lib/pgcluster.sh
. "$scripts/lib/pgcluster.sh" # pgcluster_as_owner, pgcluster_port_free
free_port() {
    local p
    while :; do
        p=$((40000 + RANDOM % 20000))
        pgcluster_port_free "$p" && { echo "$p"; return; }
    done
}

# --- 2. WAL archiving and point-in-time recovery (a cluster of its own) ---
src=$work/src
mkdir -p "$src/data" "$src/log"
[ "$(id -u)" != 0 ] || chown -R postgres: "$src"
pgcluster_as_owner initdb -D "$src/data" -U dbr --auth=trust >/dev/null
sport=$(free_port)
pgcluster_as_owner pg_ctl -D "$src/data" -o "-p $sport -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" \
    -l "$src/log/server.log" -w start >/dev/null
pids_to_stop+=("$src/data")
export PGHOST=127.0.0.1 PGPORT=$sport
base=$("$scripts/setup_wal_archiving.sh" --pgdata "$src/data" --archive "$work/archive" \
    --archive-timeout 5s --restart 2>"$work/wal.err" | tail -n 1) || { cat "$work/wal.err"; exit 1; }
check "archiving is on after setup" test "$(psql -X -At -d postgres -c 'SHOW archive_mode')" = on
check "a base backup was taken" test -f "$base/PG_VERSION"
psql -X -q -d postgres -c "CREATE TABLE ledger (id serial PRIMARY KEY, batch int, note text)"
psql -X -q -d postgres -c "INSERT INTO ledger (batch, note) SELECT 1, 'b1-' || g FROM generate_series(1, 100) g"
sleep 1.1
psql -X -q -d postgres -c "INSERT INTO ledger (batch, note) SELECT 2, 'b2-' || g FROM generate_series(1, 100) g"
sleep 1.1
target=$(psql -X -At -d postgres -c "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')")
sleep 1.1
psql -X -q -d postgres -c "DELETE FROM ledger WHERE batch = 1" # the destructive statement
psql -X -q -d postgres -c "INSERT INTO ledger (batch, note) SELECT 3, 'b3-' || g FROM generate_series(1, 100) g"
# The data-loss window: how long the last write waits until its WAL is archived.
written=$(date +%s.%N)
seg=$(psql -X -At -d postgres -c "SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
until [ -f "$work/archive/$seg" ]; do sleep 0.1; done
archived=$(date +%s.%N)
rpo=$(awk -v a="$written" -v b="$archived" 'BEGIN { printf "%.1f", b - a }')
check "the archive never holds a partial segment" bash -c "! ls '$work/archive' | grep -q '\\.part$'"
# Disaster: the source is gone. Recover into a new directory.
pgcluster_as_owner pg_ctl -D "$src/data" -m immediate stop >/dev/null
t0=$(date +%s.%N)
rport=$(free_port)
recovered=$("$scripts/setup_wal_archiving.sh" --pitr --base "$base" --archive "$work/archive" \
    --pgdata "$work/recovered" --target-time "$target" --start --port "$rport" 2>"$work/pitr.err" | tail -n 1) ||
    { cat "$work/pitr.err"; exit 1; }
pids_to_stop+=("$recovered")
t1=$(date +%s.%N)
rto=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
export PGPORT=$rport
check "batch one is back (the destroyed rows)" test "$(psql -X -At -d postgres -c 'SELECT count(*) FROM ledger WHERE batch = 1')" = 100
check "batch two is present" test "$(psql -X -At -d postgres -c 'SELECT count(*) FROM ledger WHERE batch = 2')" = 100
check "batch three, written after the target, is absent" test "$(psql -X -At -d postgres -c 'SELECT count(*) FROM ledger WHERE batch = 3')" = 0
check "the recovered server accepts writes" psql -X -q -d postgres -c "INSERT INTO ledger (batch) VALUES (9)"
echo "recovery time (RTO): ${rto} s   objectives: seed 3600 s, ours 300 s"
echo "data-loss window (RPO): ${rpo} s with archive_timeout 5s   objectives: seed 900 s, ours 60 s"
check "recovery within our 5-minute objective" awk -v x="$rto" 'BEGIN { exit !(x < 300) }'
check "data loss within our 1-minute objective" awk -v x="$rpo" 'BEGIN { exit !(x < 60) }'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
