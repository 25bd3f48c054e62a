#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Physical backups, WAL archiving and point-in-time recovery on pgBackRest
# (setup_wal_archiving.sh), on a cluster of its own with a workload writing a
# row every 100 ms, as the operator would run them:
#   - --archive-timeout checked by PostgreSQL's parser before anything is
#     written; a relative repository path;
#   - PITR to just before a DROP TABLE made seconds ago (pg_switch_wal first),
#     to a named restore point, an LSN, "immediate", with --delta;
#   - a target before the oldest backup refused;
#   - the server killed: recovery to "latest" (the whole data directory
#     lost: RPO and RTO measured and printed), the same target time fails
#     saying what is missing until the dead server's WAL is pushed;
#   - archive-push of an already archived, identical segment succeeds;
#   - a missing and a corrupted WAL segment found by --verify and reported
#     by recovery, never a silent short recovery.
# Needs the DBR_TEST_* environment of scripts/lib/pgcluster.sh.
# shellcheck source=tests/dr/lib.sh
. "$(dirname "$0")/lib.sh"
wal=$scripts/setup_wal_archiving.sh
archive_timeout=2

port=$(cluster_new src <<'CONF'
fsync = off
log_statement = 'ddl'
checkpoint_timeout = '30min'
CONF
)
export PGHOST=$work/src/sock PGPORT=$port PGUSER=dbr PGDATABASE=postgres
sq() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
src=$work/src/data

check_fails "--archive-timeout 5m (PostgreSQL rejects it) is refused with PostgreSQL's reason" \
    'archive-timeout .5m.: .*invalid value for parameter "archive_timeout"' \
    "$wal" --pgdata "$src" --repo "$work/repo" --archive-timeout 5m --restart
check "...before anything was written" test "$(sq -c 'SHOW archive_mode')" = off -a ! -e "$work/repo"
# An encrypted repository; a relative path, as an operator in the backup
# directory types it.
printf 'a passphrase for the drill\n' >"$work/cipher"
chmod 600 "$work/cipher"
conf=$(cd "$work" && "$wal" --pgdata "$src" --repo repo --archive-timeout 1min --restart --no-backup \
    --cipher-pass-file "$work/cipher" 2>"$work/setup.err" | tail -n 1) ||
    cat "$work/setup.err"
check "--archive-timeout 1min (the help's own kind of value) is accepted" test "$(sq -c 'SHOW archive_timeout')" = 1min
check "setup with a relative --repo writes an absolute configuration" grep -qx "repo1-path=$work/repo" "$conf"
check "the configuration is private (0600)" test "$(stat -c %a "$conf")" = 600
check "the repository is encrypted" grep -qx "repo1-cipher-type=aes-256-cbc" "$conf"
check "archiving is on" test "$(sq -c 'SHOW archive_mode')" = on
# Again with the drill's archive_timeout: setup is repeatable; it takes the full backup.
"$wal" --pgdata "$src" --repo "$work/repo" --archive-timeout "${archive_timeout}s" --cipher-pass-file "$work/cipher" \
    >/dev/null 2>"$work/setup.err" ||
    { not_ok "setup again with a full backup"; cat "$work/setup.err"; }
check "a full backup is in the repository" bash -c "'$wal' --info --repo '$work/repo' | grep -q 'full backup'"

# DBR_TEST_DR_ROWS: a bigger database for an RTO figure (4000000 rows, about
# 300 MB with their index: docs/database-disaster-recovery.md).
rows=${DBR_TEST_DR_ROWS:-20000}
[[ $rows =~ ^[0-9]+$ ]] || { echo "DBR_TEST_DR_ROWS: expected a number of rows" >&2; exit 2; }
sq <<SQL
CREATE TABLE important (id int PRIMARY KEY, v text);
INSERT INTO important SELECT g, md5(g::text) FROM generate_series(1, $rows) g;
CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
SQL
# The workload: a row every 100 ms; each acknowledged row (id, commit time)
# is logged only after the server answered.
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
wait_for 60 ticks_over 10
check "an incremental backup" "$wal" --backup --repo "$work/repo" --type incr
check "a differential backup" "$wal" --backup --repo "$work/repo" --type diff

# --- the bad DROP, seconds ago, server alive ---
wait_for 60 ticks_over 30
sq -c "SELECT pg_create_restore_point('before_drop')" >/dev/null
n_before=$(sq -c "SELECT count(*) FROM ticks")
lsn=$(sq -c "SELECT pg_current_wal_insert_lsn()")
t_before=$(sq -c "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')")
sq -c "DROP TABLE important"
check "log_statement = ddl logs the DROP with its time" grep -rq 'statement: DROP TABLE important' "$work/src/log" "$src"
# pg_waldump finds the exact spot: the commit that removed the table's files.
drop_lsn=$({ pgcluster_as_owner pg_waldump -p "$src/pg_wal" -s "$lsn" 2>/dev/null || true; } |
    grep -m1 'COMMIT.*rels:' | sed -n 's/.*lsn: \([0-9A-F]*\/[0-9A-F]*\),.*/\1/p' || true)
check "pg_waldump shows the DROP's commit (rels:) after the noted LSN" test -n "$drop_lsn"
decision=$(now)
rec=$work/recovered
out=$(pitr_start --switch-wal --repo "$work/repo" --pgdata "$rec" --target-time "$t_before" \
    2>"$work/pitr.err" | tail -n 1) || cat "$work/pitr.err"
rport=$(cat "$work/pitr.port")
clusters+=("$rec")
first_write=$(now)
export PGPORT=$rport
check "PITR to just before a DROP made seconds ago: promoted" test "$out" = "$rec"
check "...the dropped table is back with all its rows" test "$(sq -c 'SELECT count(*) FROM important' 2>&1)" = "$rows"
check "...the workload's rows up to the target are there" test "$(sq -c "SELECT count(*) >= $n_before FROM ticks")" = t
check "...nothing after the target" test "$(sq -c "SELECT count(*) FROM ticks WHERE at > '$t_before'")" = 0
check "...it accepts writes, on a new timeline" sq -c "INSERT INTO ticks DEFAULT VALUES"
check "...and it does not archive into the old timeline's repository" test "$(sq -c 'SHOW archive_mode')" = off
echo "# RTO, PITR to before the DROP (server alive, pg_switch_wal first), a database of $(sq -c "SELECT pg_database_size(current_database()) / 1048576") MB recovered: $(elapsed "$decision" "$first_write") s"
stop_rec() { pgcluster_as_owner pg_ctl -D "$rec" -m fast -w stop >/dev/null; }
# The recovered server's own history: a stanza of its own, archiving its
# timeline (PG* points at it).
check "setup on the recovered server (a new stanza) archives its new timeline" \
    "$wal" --pgdata "$rec" --repo "$work/repo" --stanza after_pitr --restart --no-backup
check "...its segments are on timeline 2" bash -c "sq() { psql -X -At -c \"\$1\"; }
    test \"\$(sq 'SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)')\" = 00000002"

# --- the other kinds of target, over the same directory with --delta ---
stop_rec
check "PITR to the named restore point, --delta" pitr_start --repo "$work/repo" --pgdata "$rec" \
    --target-name before_drop --delta
PGPORT=$(cat "$work/pitr.port")
check "...the table is back" test "$(sq -c 'SELECT count(*) FROM important' 2>&1)" = "$rows"
stop_rec
check "PITR to the LSN of the DROP's commit (from pg_waldump), --delta" pitr_start --repo "$work/repo" --pgdata "$rec" \
    --target-lsn "${drop_lsn:-$lsn}" --delta
PGPORT=$(cat "$work/pitr.port")
check "...the table is back" test "$(sq -c 'SELECT count(*) FROM important' 2>&1)" = "$rows"
stop_rec
check "PITR to immediate (the newest backup's end), --delta" pitr_start --repo "$work/repo" --pgdata "$rec" \
    --target immediate --delta
PGPORT=$(cat "$work/pitr.port")
check "...the table is there (the backup predates the DROP)" test "$(sq -c 'SELECT count(*) FROM important' 2>&1)" = "$rows"
stop_rec
export PGPORT=$port

early=$(date -u -d '-1 hour' '+%F %T+00')
check_fails "a target before the oldest backup is refused" "before the end of the oldest backup" \
    "$wal" --pitr --repo "$work/repo" --pgdata "$work/too-early" --target-time "$early"
check "...and nothing was restored" test ! -e "$work/too-early"
check_fails "a port already in use is named as such (the source server's own)" "port $port is taken" \
    "$wal" --pitr --repo "$work/repo" --pgdata "$work/taken" --target immediate --start --port "$port"
clusters+=("$work/taken")

# archive-push of a segment that is already archived, identical: accepted.
seg=$(sq -c "SELECT last_archived_wal FROM pg_stat_archiver")
check "archive-push of an already archived identical segment succeeds (a crash between copy and bookkeeping)" \
    pgcluster_as_owner pgbackrest --config="$conf" --stanza=main archive-push "$src/pg_wal/$seg"

# --- disaster: the server dies; then its data directory is lost ---
wait_for 60 ticks_over "$(($(wc -l <"$work/acked") + 20))"
pgcluster_as_owner pg_ctl -D "$src" -m immediate stop >/dev/null
disaster=$(now)
kill "$wl" 2>/dev/null || true
wait "$wl" 2>/dev/null || true
last_acked=$(tail -n 1 "$work/acked" | cut -d'|' -f2)
t_last=$(date -u -d "@$last_acked" '+%F %T.%6N+00')
mv "$src" "$work/src-dead" # the data directory is gone (kept aside for the push below)

rec2=$work/latest
decision=$(now)
out=$(pitr_start --repo "$work/repo" --pgdata "$rec2" --target latest 2>"$work/pitr.err" | tail -n 1) ||
    cat "$work/pitr.err"
clusters+=("$rec2")
PGPORT=$(cat "$work/pitr.port")
sq -c "INSERT INTO ticks DEFAULT VALUES" 2>/dev/null || true
first_write=$(now)
check "data directory lost: recovery to the end of the archive (--target latest) promotes" test "$out" = "$rec2"
newest=$(sq -c "SELECT max(extract(epoch FROM at)) FROM ticks WHERE at <= to_timestamp($disaster)")
sq -c "SELECT id FROM ticks" | sort >"$work/have"
cut -d'|' -f1 "$work/acked" | sort >"$work/want"
lost=$(comm -23 "$work/want" "$work/have" | wc -l)
old_lost=$(while IFS='|' read -r id at; do
    if awk -v a="$at" -v d="$disaster" -v w="$archive_timeout" 'BEGIN { exit !(a < d - w - 1) }'; then echo "$id"; fi
done <"$work/acked" | sort | comm -23 - "$work/have" | wc -l)
rpo=$(elapsed "$newest" "$disaster")
rto=$(elapsed "$decision" "$first_write")
echo "# archive (archive_timeout ${archive_timeout}s), data directory lost: RPO $rpo s (newest surviving row vs the kill), $lost acknowledged rows lost of $(wc -l <"$work/want"); RTO $rto s (decision to first accepted write)"
check "archive RPO within archive_timeout (+1 s for the switch)" awk -v x="$rpo" -v w="$archive_timeout" 'BEGIN { exit !(x <= w + 1) }'
check "...and no acknowledged row older than that is lost" test "$old_lost" = 0
check "RTO under 60 s" awk -v x="$rto" 'BEGIN { exit !(x < 60) }'
pgcluster_as_owner pg_ctl -D "$rec2" -m immediate stop >/dev/null

# The server died with its data directory intact: the target (its last
# acknowledged write) lies beyond the archive until its WAL is pushed.
check_fails "a target beyond the archive fails, saying what is missing" \
    "the archive ends before the target: its newest segment is [0-9A-F]{24}.*--push-wal" \
    pitr_start --repo "$work/repo" --pgdata "$work/short" --target-time "$t_last"
clusters+=("$work/short")
check "--push-wal archives the dead server's remaining WAL" \
    "$wal" --push-wal --from "$work/src-dead" --repo "$work/repo"
out=$(pitr_start --repo "$work/repo" --pgdata "$work/pushed" --target-time "$t_last" 2>"$work/pitr.err" | tail -n 1) ||
    cat "$work/pitr.err"
clusters+=("$work/pushed")
PGPORT=$(cat "$work/pitr.port")
check "...then PITR to the last acknowledged write before the crash succeeds" test "$out" = "$work/pushed"
check "...with every acknowledged row before it" test "$(sq -c "SELECT count(*) FROM ticks WHERE at < '$t_last'")" = "$(($(wc -l <"$work/acked") - 1))"
pgcluster_as_owner pg_ctl -D "$work/pushed" -m immediate stop >/dev/null

# --- damaged repository: verify finds it; recovery reports it ---
check "verify passes on the intact repository" "$wal" --verify --repo "$work/repo"
archdir=$(find "$work/repo/archive/main" -mindepth 2 -maxdepth 2 -type d | sort | head -n 1)
mapfile -t segs < <(find "$archdir" -name '0000000100000000*' | sort)
victim=${segs[$((${#segs[@]} - 3))]}
mv "$victim" "$work/victim"
check_fails "a missing WAL segment: --verify reports it" "missing|damaged" "$wal" --verify --repo "$work/repo"
check_fails "a missing WAL segment: recovery to latest stops there and says so" "missing or damaged" \
    pitr_start --repo "$work/repo" --pgdata "$work/gap" --target latest
clusters+=("$work/gap")
mv "$work/victim" "$victim"
printf 'garbage' | dd of="$victim" bs=1 seek=100 conv=notrunc status=none
check_fails "a corrupted WAL segment: --verify reports it" "damaged|invalid" "$wal" --verify --repo "$work/repo"
check_fails "a corrupted WAL segment: recovery to latest stops there and says so" "missing or damaged" \
    pitr_start --repo "$work/repo" --pgdata "$work/corrupt" --target latest
clusters+=("$work/corrupt")

done_testing
