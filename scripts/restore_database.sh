#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# restore_database.sh - restore a backup and prove it is the same data.
#
#   restore_database.sh --file BACKUP.dump --dbname TARGET [--force] [--config FILE]
#
# Before restoring: checks the dump against the SHA-256 in its manifest
# (BACKUP.manifest beside it), so a corrupted or truncated file is refused.
# Creates TARGET when it does not exist; refuses a TARGET that has tables
# unless --force, which drops and recreates it. After restoring: compares
# every table's row count and content checksum with the manifest.
#
# Connection: the PG* environment or a dbr config file's conninfo (the
# maintenance database "postgres" is used to create and drop TARGET). Exit 0
# only when the restored data matches; the last line is the database name.
set -euo pipefail
export DR_NAME=restore_database
# shellcheck source=scripts/lib/dr-common.sh
. "$(dirname "$0")/lib/dr-common.sh"

usage() { sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'; }

file='' target='' force=0 config=''
while [ $# -gt 0 ]; do
    case "$1" in
    --file) file=${2:?--file needs a value}; shift ;;
    --dbname) target=${2:?--dbname needs a value}; shift ;;
    --force) force=1 ;;
    --config) config=${2:?--config needs a value}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; dr_die "unknown argument $1" ;;
    esac
    shift
done
[ -n "$file" ] || dr_die "--file is required"
[ -n "$target" ] || dr_die "--dbname is required"
[ -r "$file" ] || dr_die "cannot read $file"
manifest=${file%.dump}.manifest
[ -r "$manifest" ] || dr_die "no manifest $manifest beside the backup: cannot verify it"
if [ -n "$config" ]; then
    DR_CONNINFO=$(dr_conninfo_from_config "$config")
    export DR_CONNINFO
fi
dr_require pg_restore psql sha256sum

want=$(awk '$1 == "sha256" { print $2 }' "$manifest")
have=$(sha256sum "$file" | cut -d' ' -f1)
[ "$want" = "$have" ] || dr_die "$file is corrupted: sha256 $have, the manifest says $want"
pg_restore --list "$file" >/dev/null || dr_die "$file does not read (pg_restore --list)"

exists=$(dr_psql postgres -At -c "SELECT count(*) FROM pg_database WHERE datname = '$target'")
if [ "$exists" = 1 ]; then
    tables=$(dr_psql "$target" -At -c "SELECT count(*) FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
    if [ "$tables" != 0 ]; then
        [ "$force" = 1 ] || dr_die "$target is not empty ($tables tables): use --force to replace it"
        dr_log "dropping $target (--force)"
        dr_psql postgres -c "DROP DATABASE \"$target\" WITH (FORCE)"
        exists=0
    fi
fi
[ "$exists" = 1 ] || dr_psql postgres -c "CREATE DATABASE \"$target\""

mapfile -t conn < <(dr_conn_args "$target")
dr_log "restoring $file into $target"
pg_restore --no-owner --exit-on-error --no-password "${conn[@]}" "$file" ||
    dr_die "pg_restore into $target failed"

expected=$(awk '$1 == "table" { $1 = ""; sub(/^ /, ""); print }' "$manifest")
actual=$(dr_table_fingerprint "$target")
if [ "$expected" != "$actual" ]; then
    dr_log "the restored data differs from the backup:"
    diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") >&2 || true
    dr_die "verification failed for $target"
fi
dr_log "restore verified: $(printf '%s\n' "$expected" | grep -c .) tables match row counts and checksums"
echo "$target"
