#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# backup_database.sh - a verified logical backup of one database.
#
#   backup_database.sh --dbname NAME --dir DIR [--keep N] [--config FILE]
#
# Writes DIR/NAME-YYYYmmddTHHMMSSZ.dump (pg_dump custom format), checked with
# pg_restore --list, and beside it:
#   NAME-....manifest      the dump's SHA-256 and, per table, materialized
#                          view, sequence and for the large objects, the row
#                          count and a content checksum, read in the very
#                          snapshot pg_dump used (restore_database.sh checks
#                          them after restoring);
#   NAME-....globals.sql   roles and tablespaces (pg_dumpall --globals-only),
#                          which a restore into a new cluster needs.
# Files are mode 0600, DIR is made 0700. Each file is written under a
# temporary name and renamed into place.
#
# Retention: keeps the newest N backups of exactly NAME (default 7): the
# backups of "shop-eu" are not those of "shop", and the backup just written
# is never removed. N is a whole number from 1 up.
#
# Connection: the PG* environment (PGHOST, PGPORT, PGUSER, PGPASSFILE), or
# --config FILE: a dbr config's [database] conninfo (key=value or
# postgresql:// URI) and password_file. Neither the conninfo nor a password
# ever reaches a command line or a message. Exit 0 only when the backup is
# written and verified; the last line of output is the path of the dump.
set -euo pipefail
export DR_NAME=backup_database
# shellcheck source=scripts/lib/dr-common.sh
. "$(dirname "$0")/lib/dr-common.sh"

usage() { sed -n '3,27p' "$0" | sed 's/^# \{0,1\}//'; }

dbname='' dir='' keep=7 config=''
while [ $# -gt 0 ]; do
    case "$1" in
    --dbname | --dir | --keep | --config)
        [ $# -ge 2 ] || dr_die "$1 needs a value (see --help)"
        case "$1" in
        --dbname) dbname=$2 ;; --dir) dir=$2 ;; --keep) keep=$2 ;; --config) config=$2 ;;
        esac
        shift
        ;;
    -h | --help) usage; exit 0 ;;
    *) dr_die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[ -n "$dbname" ] || dr_die "--dbname is required (see --help)"
[ -n "$dir" ] || dr_die "--dir is required (see --help)"
case "$dbname" in
*/* | .*) dr_die "--dbname '$dbname': a name with '/' or a leading '.' cannot name a backup file" ;;
esac
# 08 is not octal here, 00 is not "keep nothing": a count is 1, 2, ... only.
[[ $keep =~ ^[1-9][0-9]{0,5}$ ]] ||
    dr_die "--keep: expected the number of backups to keep, a whole number from 1 up without leading zeros; got '$keep'"
dr_conn_setup "$config"
dr_require pg_dump pg_dumpall pg_restore psql sha256sum

dr_private_mkdir "$dir"
# Two runs in the same second would share a name: wait for the next second.
for _ in $(seq 1 30); do
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    base="$dir/$dbname-$stamp"
    [ -e "$base.dump" ] || break
    sleep 0.1
done
[ ! -e "$base.dump" ] || dr_die "$base.dump already exists"
dr_cleanup_add "$base.dump.partial" "$base.manifest.partial" "$base.globals.sql.partial"

# One transaction exports its snapshot; pg_dump and the fingerprint both read
# in it, so the manifest describes exactly what the dump holds even while the
# application writes. The holder stays open until both are done.
coproc HOLD { dr_psql "$dbname" -At 2>&1; }
hold_in=${HOLD[1]}
printf 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();\n' >&"$hold_in"
snapshot=''
IFS= read -r -t 120 snapshot <&"${HOLD[0]}" || true
[[ $snapshot =~ ^[0-9A-Fa-f-]+$ ]] || dr_die "cannot open a snapshot in $dbname: ${snapshot:-no answer}"

# The fingerprint first: its sequences must not be ahead of the dump's.
dr_fingerprint "$dbname" "$snapshot" >"$DR_PRIVATE/fingerprint" ||
    dr_die "could not fingerprint the relations of $dbname"
dr_log "dumping $dbname"
pg_dump --format=custom --no-password --snapshot="$snapshot" --file="$base.dump.partial" "$(dr_db "$dbname")" ||
    dr_die "pg_dump of $dbname failed"
printf 'COMMIT;\n\\q\n' >&"$hold_in"
exec {hold_in}>&-
wait "$HOLD_PID" 2>/dev/null || true

pg_restore --list "$base.dump.partial" >/dev/null || dr_die "the dump does not read back (pg_restore --list)"
sum=$(sha256sum "$base.dump.partial" | cut -d' ' -f1)
{
    echo "# dbr backup manifest"
    echo "database $dbname"
    echo "created $stamp"
    echo "sha256 $sum"
    cat "$DR_PRIVATE/fingerprint"
} >"$base.manifest.partial"
if ! pg_dumpall --globals-only --no-password -d "$(dr_db postgres)" >"$base.globals.sql.partial" 2>"$DR_PRIVATE/globals.err"; then
    # Not a superuser: the roles without their password hashes.
    pg_dumpall --globals-only --no-role-passwords --no-password -d "$(dr_db postgres)" \
        >"$base.globals.sql.partial" || dr_die "pg_dumpall --globals-only failed"
    dr_log "warning: roles saved without passwords (not a superuser)"
fi
sync "$base.dump.partial" "$base.manifest.partial" "$base.globals.sql.partial" 2>/dev/null || true
mv "$base.globals.sql.partial" "$base.globals.sql"
mv "$base.manifest.partial" "$base.manifest"
mv "$base.dump.partial" "$base.dump"

# Retention: backups named exactly NAME-STAMP.dump, oldest first (UTC stamps
# sort by time); the one just written always stays.
mine=()
for f in "$dir"/*.dump; do
    name=${f##*/}
    [ "${name:0:${#dbname}+1}" = "$dbname-" ] || continue
    [[ ${name:${#dbname}+1} =~ ^[0-9]{8}T[0-9]{6}Z\.dump$ ]] || continue
    [ "$f" = "$base.dump" ] || mine+=("$f")
done
excess=$((${#mine[@]} + 1 - keep))
if [ "$excess" -gt 0 ]; then
    mapfile -t mine < <(printf '%s\n' "${mine[@]}" | LC_ALL=C sort)
    for f in "${mine[@]:0:$excess}"; do
        rm -f -- "$f" "${f%.dump}.manifest" "${f%.dump}.globals.sql"
        dr_log "removed old backup $f"
    done
fi
dr_log "backup verified: $(grep -c -v '^\(#\|database \|created \|sha256 \)' "$base.manifest") relations, sha256 $sum"
echo "$base.dump"
