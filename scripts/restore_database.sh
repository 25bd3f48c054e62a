#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# restore_database.sh - restore a logical backup and prove it is the same data.
#
#   restore_database.sh --file BACKUP.dump --dbname TARGET [--force] [--globals]
#                       [--no-owner] [--config FILE]
#
# Before anything is touched: checks the dump against the SHA-256 in its
# manifest (BACKUP.manifest beside it), so a corrupted or truncated file is
# refused.
#
# Then restores into a new scratch database, never into TARGET itself, and
# compares every table's, materialized view's and sequence's content and the
# large objects with the manifest. Only a restore that verified is swapped
# in: TARGET (when it exists) and the scratch database are renamed in one
# transaction, so TARGET always names either the old or the verified new
# data. A failed or differing restore leaves TARGET and its sessions alone.
#
#   --force     TARGET exists and holds relations: replace it. Its sessions
#               are closed for the swap (connections to it are refused for
#               those few statements); the old database is kept as
#               TARGET_replaced_STAMP, drop it once satisfied.
#   --globals   first create the roles and tablespaces of BACKUP.globals.sql
#               (a new cluster needs them for the owners; roles that exist
#               are left as they are).
#   --no-owner  restore everything owned by the connecting user instead.
#
# Connection: the PG* environment or --config FILE (a dbr config's
# [database] conninfo and password_file; see backup_database.sh). The
# maintenance database "postgres" is used to create and rename databases.
# Exit 0 only when the restored data matches; the last line is TARGET.
set -euo pipefail
export DR_NAME=restore_database
# shellcheck source=scripts/lib/dr-common.sh
. "$(dirname "$0")/lib/dr-common.sh"

usage() { sed -n '3,31p' "$0" | sed 's/^# \{0,1\}//'; }

file='' target='' force=0 globals=0 owner=1 config=''
while [ $# -gt 0 ]; do
    case "$1" in
    --file | --dbname | --config)
        [ $# -ge 2 ] || dr_die "$1 needs a value (see --help)"
        case "$1" in --file) file=$2 ;; --dbname) target=$2 ;; --config) config=$2 ;; esac
        shift
        ;;
    --force) force=1 ;;
    --globals) globals=1 ;;
    --no-owner) owner=0 ;;
    -h | --help) usage; exit 0 ;;
    *) dr_die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[ -n "$file" ] || dr_die "--file is required (see --help)"
[ -n "$target" ] || dr_die "--dbname is required (see --help)"
[ -r "$file" ] || dr_die "cannot read $file"
manifest=${file%.dump}.manifest
[ -r "$manifest" ] || dr_die "no manifest $manifest beside the backup: cannot verify it"
dr_conn_setup "$config"
dr_require pg_restore psql sha256sum

want=$(awk '$1 == "sha256" { print $2 }' "$manifest")
have=$(sha256sum "$file" | cut -d' ' -f1)
[ "$want" = "$have" ] || dr_die "$file is corrupted: sha256 $have, the manifest says $want"
pg_restore --list "$file" >/dev/null || dr_die "$file does not read (pg_restore --list)"

# psql variables are quoted by psql (:'v'), identifiers by the server (%I).
# (psql substitutes variables in a script, not in -c: the SQL comes on stdin.)
sql() { dr_psql postgres -At -v target="$target" -v scratch="$scratch" -v old="$old" -f -; }
stamp=$(date -u +%Y%m%dT%H%M%SZ)
scratch="dbr_restore_${stamp}_$$"
old="${target}_replaced_$stamp"

exists=$(sql <<<"SELECT count(*) FROM pg_database WHERE datname = :'target'")
if [ "$exists" = 1 ]; then
    relations=$(dr_psql "$target" -At -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm', 'S', 'v', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\_toast%'")
    [ "$relations" = 0 ] || [ "$force" = 1 ] ||
        dr_die "$target is not empty ($relations relations): use --force to replace it (the old one is kept)"
fi

if [ "$globals" = 1 ]; then
    g=${file%.dump}.globals.sql
    [ -r "$g" ] || dr_die "--globals: cannot read $g"
    dr_log "creating the roles and tablespaces of $g (existing ones are left alone)"
    # Without ON_ERROR_STOP: "role ... already exists" is expected.
    psql -X -q --no-password -d "$(dr_db postgres)" -f "$g" 2>&1 | grep -v 'already exists' >&2 || true
fi

sql <<<"SELECT format('CREATE DATABASE %I TEMPLATE template0', :'scratch') \gexec" >/dev/null ||
    dr_die "cannot create the scratch database $scratch"
drop_scratch() {
    [ -n "$scratch" ] || return 0
    sql <<<"SELECT format('DROP DATABASE IF EXISTS %I', :'scratch') \gexec" >/dev/null 2>&1 || true
}
DR_ON_EXIT=drop_scratch

owner_args=()
[ "$owner" = 1 ] || owner_args=(--no-owner)
dr_log "restoring $file into the scratch database $scratch"
pg_restore "${owner_args[@]}" --exit-on-error --no-password -d "$(dr_db "$scratch")" "$file" ||
    dr_die "pg_restore failed; $target was not touched (missing roles? try --globals or --no-owner)"

# The database's own settings (ALTER DATABASE ... SET, and per role in it):
# pg_restore --create writes them for the original name; they are applied
# to the scratch database, whose settings follow it through the rename.
orig=$(awk '$1 == "database" { sub(/^database /, ""); print; exit }' "$manifest")
if [ -n "$orig" ]; then
    qorig=$(dr_psql postgres -At -v n="$orig" -f - <<<"SELECT quote_ident(:'n')")
    qscratch=$(dr_psql postgres -At -v n="$scratch" -f - <<<"SELECT quote_ident(:'n')")
    pg_restore --create --schema-only -f - "$file" |
        awk -v db="ALTER DATABASE $qorig SET " -v in_db=" IN DATABASE $qorig SET " -v new="$qscratch" '
            index($0, db) == 1 { print "ALTER DATABASE " new " SET " substr($0, length(db) + 1); next }
            /^ALTER ROLE / && (i = index($0, in_db)) > 0 {
                print substr($0, 1, i - 1) " IN DATABASE " new " SET " substr($0, i + length(in_db)) }' \
        >"$DR_PRIVATE/settings.sql" || dr_die "cannot read the database settings from $file"
    if [ -s "$DR_PRIVATE/settings.sql" ]; then
        dr_psql postgres -f "$DR_PRIVATE/settings.sql" >/dev/null ||
            dr_die "cannot apply the database settings of the backup; $target was not touched"
        dr_log "applied $(wc -l <"$DR_PRIVATE/settings.sql") database settings (ALTER DATABASE ... SET)"
    fi
fi

grep -v '^\(#\|database \|created \|sha256 \)' "$manifest" >"$DR_PRIVATE/expected"
dr_fingerprint "$scratch" >"$DR_PRIVATE/actual" || dr_die "could not fingerprint the restored database"
if ! dr_fingerprint_compare "$DR_PRIVATE/expected" "$DR_PRIVATE/actual" >"$DR_PRIVATE/diff"; then
    dr_log "the restored data differs from the backup:"
    cat "$DR_PRIVATE/diff" >&2
    dr_die "verification failed; $target was not touched"
fi
n=$(grep -c . "$DR_PRIVATE/expected")

if [ "$exists" != 1 ]; then
    sql <<<"SELECT format('ALTER DATABASE %I RENAME TO %I', :'scratch', :'target') \gexec" >/dev/null ||
        dr_die "cannot rename $scratch to $target"
else
    # Close TARGET's sessions (and keep new ones out) for the swap; both
    # renames commit together or not at all.
    swapped=0
    for _ in $(seq 1 50); do
        if sql >/dev/null 2>"$DR_PRIVATE/swap.err" <<'SQL'; then
SELECT format('ALTER DATABASE %I ALLOW_CONNECTIONS false', :'target') \gexec
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = :'target' AND pid <> pg_backend_pid();
BEGIN;
SELECT format('ALTER DATABASE %I RENAME TO %I', :'target', :'old') \gexec
SELECT format('ALTER DATABASE %I RENAME TO %I', :'scratch', :'target') \gexec
COMMIT;
SELECT format('ALTER DATABASE %I ALLOW_CONNECTIONS true', :'old') \gexec
SQL
            swapped=1
            break
        fi
        sleep 0.2 # terminated sessions take a moment to leave
    done
    if [ "$swapped" != 1 ]; then
        sql <<<"SELECT format('ALTER DATABASE %I ALLOW_CONNECTIONS true', :'target') \gexec" >/dev/null 2>&1 || true
        dr_die "could not swap in the restored database: $(tail -n 1 "$DR_PRIVATE/swap.err"); $target is unchanged"
    fi
    dr_log "the replaced database is kept as $old: drop it once satisfied"
fi
scratch=''
dr_log "restore verified: $n relations match row counts and checksums"
echo "$target"
