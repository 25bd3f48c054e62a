#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Logical backup and restore drills (backup_database.sh, restore_database.sh)
# on a cluster of their own, one case per fault found in the seed's scripts:
# retention that took other databases' backups and the one just written,
# counts like 00 and 08, a restore that dropped the live database first,
# table names pasted into SQL, passwords on command lines, URIs, file modes,
# manifests that did not match their dump, time-zone dependent checks.
# Needs the DBR_TEST_* environment of scripts/lib/pgcluster.sh.
# shellcheck source=tests/dr/lib.sh
. "$(dirname "$0")/lib.sh"

port=$(cluster_new logical </dev/null)
export PGHOST=$work/logical/sock PGPORT=$port PGUSER=dbr PGDATABASE=postgres
sq() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# Every client program the scripts run goes through a shim that records its
# argument vector (what ps shows every user), can be told to fail, and can
# run a statement right after pg_dump (an application writing meanwhile).
mkdir -p "$work/shim"
for tool in pg_dump pg_dumpall pg_restore psql; do
    cat >"$work/shim/$tool" <<SH
#!/usr/bin/env bash
printf '%s\n' "$tool \$*" >>"$work/argv.log"
if [ "\${DR_TEST_FAIL:-}" = "$tool" ] && [ "\$1" != --list ]; then
    echo "$tool: failing on purpose (test)" >&2
    exit 1
fi
"$DBR_TEST_PGBIN/$tool" "\$@"
rc=\$?
if [ "$tool" = pg_dump ] && [ -n "\${DR_TEST_AFTER_DUMP:-}" ]; then
    "$DBR_TEST_PGBIN/psql" -X -q -d "\$DR_TEST_AFTER_DUMP_DB" -c "\$DR_TEST_AFTER_DUMP" >/dev/null
fi
exit \$rc
SH
    chmod 755 "$work/shim/$tool"
done
# perl parses the conninfo (review: it once had it, password and all, as an
# argument); its shim logs the argument vector too.
perl_path=$(command -v perl)
cat >"$work/shim/perl" <<SH
#!/usr/bin/env bash
printf '%s\n' "perl \$*" >>"$work/argv.log"
exec "$perl_path" "\$@"
SH
chmod 755 "$work/shim/perl"
export PATH=$work/shim:$PATH
mkdir -p "$work/tmp"
chmod 700 "$work/tmp"
export TMPDIR=$work/tmp # the scripts' private files, checked for leftovers

for s in backup_database restore_database setup_wal_archiving; do
    out=$("$scripts/$s.sh" --help 2>&1) && rc=0 || rc=$?
    check "$s.sh --help prints its help and exits 0" test "$rc" = 0 -a -n "$(printf '%s' "$out" | grep -- '--')"
done

sq -c "CREATE DATABASE shop" -c 'CREATE DATABASE "shop-eu"' \
    -c "ALTER DATABASE shop SET work_mem = '7MB'" -c "ALTER DATABASE shop SET search_path = public, \"x y\""
sq -d shop <<'SQL'
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric, opened timestamptz);
INSERT INTO accounts SELECT g, 'owner ' || g, g * 10.5, '2026-01-01 00:00+00'::timestamptz + g * interval '1 hour'
  FROM generate_series(1, 3000) g;
CREATE SEQUENCE invoice_no START 1000;
SELECT count(nextval('invoice_no')) FROM generate_series(1, 7) \g /dev/null
CREATE MATERIALIZED VIEW rich AS SELECT id, balance FROM accounts WHERE balance > 30000;
SELECT lo_from_bytea(0, 'a large object') \g /dev/null
SQL

# Odd names in a database of their own, so that each fault shows alone.
sq -c "CREATE DATABASE odd"
sq -d odd <<'SQL'
CREATE TABLE "my table" (v text);
INSERT INTO "my table" VALUES ('space');
CREATE TABLE "it's" (v text);
INSERT INTO "it's" VALUES ('quote');
CREATE TABLE "dq""x" (v text);
INSERT INTO "dq""x" VALUES ('double quote');
SQL
# A role that may only create tables names one so that the old fingerprint
# SQL, run by the superuser, read a server file into the manifest.
sq -c "CREATE DATABASE evil"
sq -d evil <<'SQL'
CREATE ROLE creator LOGIN;
GRANT CREATE, USAGE ON SCHEMA public TO creator;
SET ROLE creator;
CREATE TABLE "x'||pg_read_file('postgresql.auto.conf')||'" (v int);
RESET ROLE;
SQL

# --- retention ---
R=$work/backups
mkdir -p "$R"
chmod 755 "$R"
for n in shop-20200101T000000Z shop-20200102T000000Z shop-20200103T000000Z \
    shop-eu-20200101T000000Z shop-eu-20300101T000000Z shop-20990101T000000Z shopping-20200101T000000Z; do
    echo fake >"$R/$n.dump"
    echo fake >"$R/$n.manifest"
done
dump=$("$scripts/backup_database.sh" --dbname shop --dir "$R" --keep 2 2>"$work/backup.err" | tail -n 1) || {
    not_ok "backup of shop (--keep 2)"
    cat "$work/backup.err"
}
check "the backup just written is kept, even with a newer-named one beside it" test -s "$dump"
check "retention keeps exactly 2 backups of shop: the new one and the newest other" \
    test "$(cd "$R" && printf '%s ' shop-2*.dump)" = "$(basename "$dump") shop-20990101T000000Z.dump "
check "retention leaves shop-eu's backups alone" test -e "$R/shop-eu-20200101T000000Z.dump" -a -e "$R/shop-eu-20300101T000000Z.dump"
check "retention leaves shopping's backup alone" test -e "$R/shopping-20200101T000000Z.dump"
check "the old backups' manifests went with them" test ! -e "$R/shop-20200101T000000Z.manifest"
before=$(ls "$R")
for bad in 00 08 0 abc -1 2x ''; do
    check_fails "--keep '$bad' is refused with a clear error" "--keep: expected .*got '$bad'" \
        "$scripts/backup_database.sh" --dbname shop --dir "$R" --keep "$bad"
done
check "...and a refused count deleted and wrote nothing" test "$(ls "$R")" = "$before"

# --- modes and the manifest ---
check "the backup directory is made 0700" test "$(stat -c %a "$R")" = 700
check "the dump is 0600" test "$(stat -c %a "$dump")" = 600
check "the manifest is 0600" test "$(stat -c %a "${dump%.dump}.manifest")" = 600
check "the roles file is 0600" test "$(stat -c %a "${dump%.dump}.globals.sql")" = 600
m=${dump%.dump}.manifest
odd=$("$scripts/backup_database.sh" --dbname odd --dir "$work/b-odd" 2>"$work/odd.err" | tail -n 1) || cat "$work/odd.err"
mo=${odd%.dump}.manifest
check "a backup of tables named with a space and quotes works" test -s "$odd"
check "the manifest names tables with a space and quotes" \
    bash -c "tr '\\037' ' ' <'$mo' >'$mo.txt' && grep -qF 'table public.\"my table\" 1 ' '$mo.txt' && grep -qF 'table public.\"it'\''s\" 1 ' '$mo.txt' && grep -qF 'table public.\"dq\"\"x\" 1 ' '$mo.txt'"
check "those tables restore and verify" "$scripts/restore_database.sh" --file "$odd" --dbname odd_copy
evil=$("$scripts/backup_database.sh" --dbname evil --dir "$work/b-evil" 2>"$work/evil.err" | tail -n 1) || cat "$work/evil.err"
me=${evil%.dump}.manifest
check "a table name holding SQL did not run it (no server file in the manifest)" \
    bash -c "! grep -q 'Do not edit' '$me' && grep -qF 'pg_read_file' '$me'"
check "the manifest is not world-readable" test "$(stat -c %a "$me" 2>/dev/null)" = 600
check "that table restores and verifies, its owner kept" bash -c "'$scripts/restore_database.sh' --file '$evil' --dbname evil_copy &&
    test \"\$(psql -X -At -d evil_copy -c \"SELECT tableowner FROM pg_tables WHERE tablename LIKE 'x%'\")\" = creator"
check "the manifest covers the sequence, the materialized view and large objects" \
    bash -c "tr '\\037' ' ' <'$m' >'$m.txt' && grep -q '^sequence public.invoice_no 1006 t' '$m.txt' && grep -q '^matview public.rich ' '$m.txt' && grep -q '^large-objects all 1 ' '$m.txt'"

# --- into a new cluster: the owners' roles come from the globals file ---
port2=$(cluster_new other </dev/null)
check_fails "into a new cluster without the roles: refused, with the way out" "missing roles\? try --globals" \
    env PGHOST="$work/other/sock" PGPORT="$port2" "$scripts/restore_database.sh" --file "$evil" --dbname evil
check "...with --globals: roles created, restored, verified, owner kept" bash -c "
    export PGHOST='$work/other/sock' PGPORT='$port2'
    '$scripts/restore_database.sh' --file '$evil' --dbname evil --globals >/dev/null 2>&1 &&
    test \"\$(psql -X -At -d evil -c \"SELECT tableowner FROM pg_tables WHERE tablename LIKE 'x%'\")\" = creator"

# --- restore: a new database, verified, swapped in ---
restored=$("$scripts/restore_database.sh" --file "$dump" --dbname shop_copy 2>"$work/restore.err" | tail -n 1) ||
    cat "$work/restore.err"
check "restore into a new database verifies (sequence, matview, large object)" test "$restored" = shop_copy
check "...with the database's own settings (ALTER DATABASE ... SET)" test "$(sq -d shop_copy -c "SHOW work_mem" -c "SHOW search_path" | tr '\n' ' ')" = '7MB public, "x y" '
check "restore verification does not depend on the session's time zone" \
    env PGTZ=Pacific/Chatham PGDATESTYLE='SQL, DMY' "$scripts/restore_database.sh" --file "$dump" --dbname shop_tz
check_fails "a non-empty target is refused without --force" "not empty" \
    "$scripts/restore_database.sh" --file "$dump" --dbname shop_copy

# A writer stays connected to the target during the restore.
writer() {
    while :; do
        echo "INSERT INTO accounts VALUES (nextval('invoice_no') + 100000, 'live', 0, now());"
        sleep 0.05
    done | psql -X -q -d shop_copy >/dev/null 2>&1 || true
}
sq -d shop_copy -c "SELECT setval('invoice_no', 500000)" >/dev/null || true
writer &
wpid=$!
on_exit+=("kill $wpid 2>/dev/null")
live_rows() { test "$(sq -d shop_copy -c "SELECT count(*) FROM accounts WHERE owner = 'live'")" -gt 3; }
check "the writer writes into the target" wait_for 60 live_rows
check_fails "a restore that fails leaves the target alone" "pg_restore failed; shop_copy was not touched" \
    env DR_TEST_FAIL=pg_restore "$scripts/restore_database.sh" --file "$dump" --dbname shop_copy --force
check "...the target still exists, with the writer's rows" live_rows
n1=$(sq -d shop_copy -c "SELECT count(*) FROM accounts WHERE owner = 'live'")
check "...and the writer's session kept writing" wait_for 60 \
    bash -c "[ \$(psql -X -At -d shop_copy -c \"SELECT count(*) FROM accounts WHERE owner = 'live'\") -gt $n1 ]"
check "...and no scratch database is left behind" test "$(sq -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'dbr_restore%'")" = 0
cp "$dump" "$work/tampered.dump"
sed 's/^\(table public.accounts\)\o0373000\o037/\1\o0372999\o037/' "$m" >"$work/tampered.manifest"
check_fails "a restore that does not match the manifest is not swapped in" "verification failed; shop_copy was not touched" \
    "$scripts/restore_database.sh" --file "$work/tampered.dump" --dbname shop_copy --force
check "...the target is untouched" live_rows
out=$("$scripts/restore_database.sh" --file "$dump" --dbname shop_copy --force 2>"$work/restore.err" | tail -n 1) ||
    cat "$work/restore.err"
check "--force with a live writer: restored, verified, swapped in" test "$out" = shop_copy
check "...the target now holds the backup's rows" test "$(sq -d shop_copy -c "SELECT count(*) FROM accounts")" = 3000
old=$(sq -c "SELECT datname FROM pg_database WHERE datname LIKE 'shop\\_copy\\_replaced\\_%'")
check "...the replaced database is kept, with the writer's rows" \
    test -n "$old" -a "$(sq -d "$old" -c "SELECT count(*) > 0 FROM accounts WHERE owner = 'live'")" = t
kill "$wpid" 2>/dev/null || true
wait "$wpid" 2>/dev/null || true

# --- a manifest taken in the dump's own snapshot ---
sq -d shop -c "CREATE TABLE orders (id serial PRIMARY KEY, at timestamptz DEFAULT now())" \
    -c "INSERT INTO orders DEFAULT VALUES"
dump2=$(DR_TEST_AFTER_DUMP="INSERT INTO orders DEFAULT VALUES" DR_TEST_AFTER_DUMP_DB=shop \
    "$scripts/backup_database.sh" --dbname shop --dir "$R" --keep 2 2>"$work/backup.err" | tail -n 1) ||
    cat "$work/backup.err"
check "a write right after pg_dump's snapshot: the manifest still matches the dump" \
    "$scripts/restore_database.sh" --file "$dump2" --dbname shop_snap

# --- secrets and conninfos ---
sq -c "CREATE ROLE dr_pw LOGIN SUPERUSER PASSWORD 'S3cr:et@x'"
secret='S3cr:et@x'
printf '%s\n' "$secret" >"$work/pw"
chmod 600 "$work/pw"
cat >"$work/uri.ini" <<INI
[database]
conninfo = postgresql://dr_pw:S3cr%3Aet%40x@127.0.0.1:$port/postgres?connect_timeout=10
INI
cat >"$work/kv.ini" <<INI
[database]
conninfo = host=127.0.0.1 port=$port user=dr_pw connect_timeout=10
password_file = $work/pw
INI
: >"$work/argv.log"
(
    unset PGHOST PGPORT PGUSER PGDATABASE
    d=$("$scripts/backup_database.sh" --config "$work/uri.ini" --dbname shop --dir "$work/b-uri" 2>"$work/uri.err" | tail -n 1) &&
        "$scripts/restore_database.sh" --config "$work/uri.ini" --file "$d" --dbname shop_uri 2>>"$work/uri.err"
) >/dev/null
check "a postgresql:// conninfo with a password works for backup and restore" test "$(sq -d shop_uri -c 'SELECT count(*) FROM accounts')" = 3000
(
    unset PGHOST PGPORT PGUSER PGDATABASE
    d=$("$scripts/backup_database.sh" --config "$work/kv.ini" --dbname shop --dir "$work/b-kv" 2>"$work/kv.err" | tail -n 1) &&
        "$scripts/restore_database.sh" --config "$work/kv.ini" --file "$d" --dbname shop_kv 2>>"$work/kv.err"
) >/dev/null
check "password_file with a key=value conninfo works for backup and restore" test "$(sq -d shop_kv -c 'SELECT count(*) FROM accounts')" = 3000
check "the password never was on a command line (ps)" bash -c "test -s '$work/argv.log' && ! grep -qF 'S3cr' '$work/argv.log'"
check "...nor in a message" bash -c "! grep -qF 'S3cr' '$work/uri.err' '$work/kv.err' '$work/backup.err' '$work/restore.err'"
check "...and no private file (passfile, service file) is left behind" test -z "$(ls -A "$work/tmp")"
chmod 644 "$work/pw"
check_fails "a password_file others can read is refused, naming the file and key" \
    "kv.ini: \[database\] password_file: .*/pw must be .*chmod 600" \
    "$scripts/backup_database.sh" --config "$work/kv.ini" --dbname shop --dir "$work/b-kv"

# Two tables whose names differ after a blank must not share one line of
# the comparison (review: a restore missing one of them passed).
blank_names_differ() (
  # shellcheck source=scripts/lib/dr-common.sh
  . "$top/scripts/lib/dr-common.sh"
  us=$'\037'
  printf 'table public."order items"%s3%sabc\ntable public."order notes"%s2%sdef\n' \
      "$us" "$us" "$us" "$us" >"$work/fp_want"
  printf 'table public."order notes"%s2%sdef\n' "$us" "$us" >"$work/fp_have"
  ! dr_fingerprint_compare "$work/fp_want" "$work/fp_have" >"$work/fp_diff" &&
      grep -q 'missing table public."order items"' "$work/fp_diff"
)
check "a missing table whose name holds a blank fails verification" blank_names_differ

done_testing
