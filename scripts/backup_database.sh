#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# backup_database.sh - a verified logical backup of one database.
#
#   backup_database.sh --dbname NAME --dir DIR [--keep N] [--config FILE]
#
# Writes DIR/NAME-YYYYmmddTHHMMSSZ.dump (pg_dump custom format) atomically
# (a temporary file, then rename), checks it with pg_restore --list, and
# writes beside it NAME-....manifest: the dump's SHA-256 and, per table, the
# row count and a checksum of the content, which restore_database.sh checks
# after restoring. Keeps the newest N backups of NAME (default 7).
#
# Connection: the usual PG* environment (PGHOST, PGPORT, PGUSER, PGPASSFILE
# or PGPASSWORD), or the [database] conninfo of a dbr config file. No
# password is ever printed. Exit 0 only when the backup is written and
# verified; the last line of output is the path of the dump.
set -euo pipefail
export DR_NAME=backup_database
# shellcheck source=scripts/lib/dr-common.sh
. "$(dirname "$0")/lib/dr-common.sh"

usage() { sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//'; }

dbname='' dir='' keep=7 config=''
while [ $# -gt 0 ]; do
    case "$1" in
    --dbname) dbname=${2:?--dbname needs a value}; shift ;;
    --dir) dir=${2:?--dir needs a value}; shift ;;
    --keep) keep=${2:?--keep needs a value}; shift ;;
    --config) config=${2:?--config needs a value}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; dr_die "unknown argument $1" ;;
    esac
    shift
done
[ -n "$dbname" ] || dr_die "--dbname is required"
[ -n "$dir" ] || dr_die "--dir is required"
case "$keep" in '' | *[!0-9]* | 0) dr_die "--keep must be a positive number, got '$keep'" ;; esac
if [ -n "$config" ]; then
    DR_CONNINFO=$(dr_conninfo_from_config "$config")
    export DR_CONNINFO
fi
dr_require pg_dump pg_restore psql sha256sum

mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
base="$dir/$dbname-$stamp"
tmp="$base.dump.partial"
trap 'rm -f "$tmp" "$base.manifest.partial"' EXIT

mapfile -t conn < <(dr_conn_args "$dbname")
dr_log "dumping $dbname"
pg_dump --format=custom --no-password "${conn[@]}" --file="$tmp" ||
    dr_die "pg_dump of $dbname failed"
pg_restore --list "$tmp" >/dev/null || dr_die "the dump does not read back (pg_restore --list)"
sum=$(sha256sum "$tmp" | cut -d' ' -f1)
{
    echo "# dbr backup manifest"
    echo "database $dbname"
    echo "created $stamp"
    echo "sha256 $sum"
    dr_table_fingerprint "$dbname" | sed 's/^/table /'
} >"$base.manifest.partial" || dr_die "could not fingerprint the tables of $dbname"
sync "$tmp" "$base.manifest.partial" 2>/dev/null || true
mv "$tmp" "$base.dump"
mv "$base.manifest.partial" "$base.manifest"
trap - EXIT

# Retention: the newest $keep dumps of this database, with their manifests.
# The names sort by time (UTC stamps), so the oldest come first.
shopt -s nullglob
all=("$dir/$dbname"-*.dump)
for f in "${all[@]:0:$((${#all[@]} > keep ? ${#all[@]} - keep : 0))}"; do
    rm -f "$f" "${f%.dump}.manifest"
    dr_log "removed old backup $f"
done
dr_log "backup verified: $(grep -c '^table ' "$base.manifest") tables, sha256 $sum"
echo "$base.dump"
