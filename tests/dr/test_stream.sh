#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Streamed WAL (stream_wal.sh: pg_receivewal with its own slot) beside a
# pgBackRest archive with a long archive_timeout, a row written every 100 ms:
#   - the slot is created, the stream monitored (--status), a stopped
#     stream is reported while its slot holds WAL back, and resumes;
#   - the server is killed and its data directory lost: recovery to
#     "latest" reads the stream's unfinished segment (.partial) too; RPO and
#     RTO measured and printed.
# Needs the DBR_TEST_* environment of scripts/lib/pgcluster.sh.
# shellcheck source=tests/dr/lib.sh
. "$(dirname "$0")/lib.sh"
wal=$scripts/setup_wal_archiving.sh
stream=$scripts/stream_wal.sh

port=$(cluster_new src <<'CONF'
fsync = off
checkpoint_timeout = '30min'
CONF
)
export PGHOST=$work/src/sock PGPORT=$port PGUSER=dbr PGDATABASE=postgres
sq() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
src=$work/src/data
"$wal" --pgdata "$src" --repo "$work/repo" --archive-timeout 1min --restart >/dev/null 2>"$work/setup.err" ||
    { cat "$work/setup.err"; exit 1; }
sq -c "CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())"

mkdir -p "$work/stream"
[ "$(id -u)" != 0 ] || chown postgres: "$work/stream"
check "--start creates the slot and streams" "$stream" --start --dir "$work/stream"
check "...the slot exists" test "$(sq -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dbr_stream'")" = 1
check "--status: streaming" "$stream" --status --dir "$work/stream"
check "--stop" "$stream" --stop --dir "$work/stream"
sq -c "CREATE TABLE filler AS SELECT g, md5(g::text) FROM generate_series(1, 100000) g"
check_fails "--status reports a stopped stream" "not streaming" "$stream" --status --dir "$work/stream"
check "...while its slot holds the WAL back" test "$(sq -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) > 4000000 FROM pg_replication_slots WHERE slot_name = 'dbr_stream'")" = t
# --sync: commits wait for the stream while it runs, and no longer after
# --stop (review: the setting stayed, and every commit hung); an operator's
# own synchronous standby is never replaced.
mkdir -p "$work/sstream"
[ "$(id -u)" != 0 ] || chown postgres: "$work/sstream"
check "--start --sync" "$stream" --start --sync --slot dbr_sync --dir "$work/sstream"
check "...commits wait for the stream" test "$(sq -c "SHOW synchronous_standby_names")" = pg_receivewal
check "--stop after --sync" "$stream" --stop --drop-slot --slot dbr_sync --dir "$work/sstream"
check "...puts synchronous_standby_names back" wait_for 30 \
    bash -c "[ -z \"\$(psql -X -At -c 'SHOW synchronous_standby_names')\" ]"
check "...and a commit goes through" timeout 10 psql -X -q -c "INSERT INTO ticks DEFAULT VALUES"
sq -c "ALTER SYSTEM SET synchronous_standby_names = 'replica_a'" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 30 bash -c "[ \"\$(psql -X -At -c 'SHOW synchronous_standby_names')\" = replica_a ]"
check_fails "--sync never replaces an operator's synchronous standby" "already 'replica_a'" \
    "$stream" --start --sync --slot dbr_sync2 --dir "$work/sstream"
"$stream" --stop --drop-slot --slot dbr_sync2 --dir "$work/sstream" >/dev/null 2>&1 || true
sq -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null
check "--start again resumes on the same slot" "$stream" --start --dir "$work/stream"
check "--status: streaming again, once caught up" wait_for 60 "$stream" --status --dir "$work/stream"
on_exit+=("'$stream' --stop --dir '$work/stream' >/dev/null 2>&1")

workload() {
    while :; do
        psql -X -qAt -c "INSERT INTO ticks DEFAULT VALUES RETURNING id, extract(epoch FROM clock_timestamp())" \
            >>"$work/acked" 2>/dev/null || true
        sleep 0.1
    done
}
: >"$work/acked"
workload &
wl=$!
on_exit+=("kill $wl 2>/dev/null")
ticks_over() { test "$(wc -l <"$work/acked")" -ge "$1"; }
wait_for 60 ticks_over 40
pgcluster_as_owner pg_ctl -D "$src" -m immediate stop >/dev/null
disaster=$(now)
kill "$wl" 2>/dev/null || true
wait "$wl" 2>/dev/null || true
rm -rf "$src" # the data directory is lost
"$stream" --stop --dir "$work/stream" >/dev/null 2>&1 || true
check "the stream holds an unfinished segment (.partial)" bash -c "ls '$work/stream' | grep -q '\\.partial\$'"

decision=$(now)
out=$(pitr_start --repo "$work/repo" --pgdata "$work/latest" --target latest --stream-dir "$work/stream" \
    2>"$work/pitr.err" | tail -n 1) || tail -n 30 "$work/pitr.err"
clusters+=("$work/latest")
PGPORT=$(cat "$work/pitr.port")
sq -c "INSERT INTO ticks DEFAULT VALUES" 2>/dev/null || true
first_write=$(now)
check "data directory lost: recovery to latest from archive + stream promotes" test "$out" = "$work/latest"
newest=$(sq -c "SELECT max(extract(epoch FROM at)) FROM ticks WHERE at <= to_timestamp($disaster)")
sq -c "SELECT id FROM ticks" | sort >"$work/have"
cut -d'|' -f1 "$work/acked" | sort >"$work/want"
lost=$(comm -23 "$work/want" "$work/have" | wc -l)
rpo=$(elapsed "${newest:-0}" "$disaster")
rto=$(elapsed "$decision" "$first_write")
echo "# streamed WAL (pg_receivewal, archive_timeout 1min), data directory lost: RPO $rpo s (newest surviving row vs the kill), $lost acknowledged rows lost of $(wc -l <"$work/want"); RTO $rto s (decision to first accepted write)"
check "streamed RPO within 1 s" awk -v x="$rpo" 'BEGIN { exit !(x <= 1) }'
check "at most one acknowledged row lost (asynchronous stream)" test "$lost" -le 1
check "RTO under 60 s" awk -v x="$rto" 'BEGIN { exit !(x < 60) }'

done_testing
