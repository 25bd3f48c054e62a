#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# setup_wal_archiving.sh - continuous WAL archiving, base backups, and
# point-in-time recovery.
#
# Set up archiving and take a base backup:
#   setup_wal_archiving.sh --pgdata DIR --archive DIR [--archive-timeout 30s]
#                          [--base-dir DIR] [--restart] [--config FILE]
#   Sets wal_level = replica, archive_mode = on, archive_timeout, and an
#   archive_command that copies each WAL segment into the archive, never
#   overwrites a file already there (it fails, and the server logs and
#   retries: loud, not lossy) and renames into place only complete files.
#   archive_mode needs a restart: --restart does it (pg_ctl, as the data
#   directory's owner). Then takes a base backup with pg_basebackup into
#   --base-dir (default ARCHIVE/../base); the last line is its path.
#
# Recover to a point in time:
#   setup_wal_archiving.sh --pitr --base BASEBACKUP --archive DIR --pgdata NEWDIR
#                          --target-time 'YYYY-MM-DD HH:MM:SS+00' [--start --port N]
#   Copies the base backup into NEWDIR (which must not exist or be empty),
#   configures recovery (restore_command from the archive, the target time,
#   recovery_target_action = promote) and, with --start, starts the server
#   and waits until recovery has finished and it accepts writes. The last
#   line is NEWDIR.
#
# Connection for the setup: the PG* environment, or a dbr config file's
# conninfo (a superuser is needed for ALTER SYSTEM and pg_basebackup).
set -euo pipefail
export DR_NAME=setup_wal_archiving
# shellcheck source=scripts/lib/dr-common.sh
. "$(dirname "$0")/lib/dr-common.sh"

usage() { sed -n '3,29p' "$0" | sed 's/^# \{0,1\}//'; }

mode=setup pgdata='' archive='' timeout=30s basedir='' restart=0 config=''
base='' target='' start=0 port=''
while [ $# -gt 0 ]; do
    case "$1" in
    --pgdata) pgdata=${2:?--pgdata needs a value}; shift ;;
    --archive) archive=${2:?--archive needs a value}; shift ;;
    --archive-timeout) timeout=${2:?--archive-timeout needs a value}; shift ;;
    --base-dir) basedir=${2:?--base-dir needs a value}; shift ;;
    --restart) restart=1 ;;
    --config) config=${2:?--config needs a value}; shift ;;
    --pitr) mode=pitr ;;
    --base) base=${2:?--base needs a value}; shift ;;
    --target-time) target=${2:?--target-time needs a value}; shift ;;
    --start) start=1 ;;
    --port) port=${2:?--port needs a value}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; dr_die "unknown argument $1" ;;
    esac
    shift
done
[ -n "$pgdata" ] || dr_die "--pgdata is required"
[ -n "$archive" ] || dr_die "--archive is required"
if [ -n "$config" ]; then
    DR_CONNINFO=$(dr_conninfo_from_config "$config")
    export DR_CONNINFO
fi

bindir() {
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ]; then
        pg_config --bindir
    else
        dirname "$(find /usr/lib/postgresql -name pg_ctl -type f | sort | tail -n 1)"
    fi
}

# Runs a command as the owner of directory $1 (PostgreSQL refuses root).
as_owner() {
    local dir=$1 owner
    shift
    owner=$(stat -c %U "$dir")
    if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
        runuser -u "$owner" -- "$@"
    else
        "$@"
    fi
}

setup() {
    local owner quoted stamp dest
    [ -f "$pgdata/postgresql.conf" ] || dr_die "$pgdata is not a PostgreSQL data directory"
    case "$timeout" in *[!0-9smh]* | '') dr_die "--archive-timeout: expected e.g. 30s or 1min" ;; esac
    dr_require psql pg_basebackup
    mkdir -p "$archive"
    archive=$(cd "$archive" && pwd)
    owner=$(stat -c %U "$pgdata")
    [ "$(id -u)" != 0 ] || chown "$owner" "$archive"
    chmod 700 "$archive"
    # %p and %f come from the server; the archive path is single-quoted for sh.
    quoted=${archive//\'/\'\\\'\'}
    dr_log "archiving WAL into $archive (archive_timeout $timeout)"
    dr_psql postgres <<SQL
ALTER SYSTEM SET wal_level = 'replica';
ALTER SYSTEM SET archive_mode = 'on';
ALTER SYSTEM SET archive_timeout = '$timeout';
ALTER SYSTEM SET archive_command = 'test ! -f ''$quoted''/%f && cp %p ''$quoted''/%f.part && mv ''$quoted''/%f.part ''$quoted''/%f';
SQL
    if [ "$restart" = 1 ]; then
        dr_log "restarting the server for archive_mode"
        as_owner "$pgdata" mkdir -p "$pgdata/log"
        as_owner "$pgdata" "$(bindir)/pg_ctl" -D "$pgdata" -w -t 120 restart \
            -l "$pgdata/log/pg_ctl.log" >/dev/null || dr_die "the restart failed: see $pgdata/log/pg_ctl.log"
    else
        dr_log "restart the server now: archive_mode takes effect only at start"
    fi
    [ "$(dr_psql postgres -At -c 'SHOW archive_mode')" = on ] ||
        dr_die "archive_mode is not on yet: restart the server (or pass --restart) and run again"
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    dest=${basedir:-$(dirname "$archive")/base}/base-$stamp
    mkdir -p "$(dirname "$dest")"
    # pg_basebackup takes a conninfo in -d, not a database name
    local conn=()
    [ -z "${DR_CONNINFO:-}" ] || conn=(-d "$DR_CONNINFO")
    dr_log "taking a base backup into $dest"
    pg_basebackup "${conn[@]}" -D "$dest" -Fp -X stream --checkpoint=fast --no-password ||
        dr_die "pg_basebackup failed"
    dr_psql postgres -c "SELECT pg_switch_wal()" >/dev/null
    echo "$dest"
}

pitr() {
    local owner start_s waited=0 bin
    [ -n "$base" ] || dr_die "--pitr needs --base (a base backup from this script)"
    [ -n "$target" ] || dr_die "--pitr needs --target-time"
    [ -f "$base/PG_VERSION" ] || dr_die "$base is not a base backup"
    [ -d "$archive" ] || dr_die "no archive at $archive"
    if [ -e "$pgdata" ] && [ -n "$(ls -A "$pgdata" 2>/dev/null)" ]; then
        dr_die "$pgdata is not empty: recover into a new directory"
    fi
    start_s=$(date +%s.%N)
    mkdir -p "$pgdata"
    cp -a "$base/." "$pgdata/"
    rm -f "$pgdata/postmaster.pid" "$pgdata/standby.signal"
    owner=$(stat -c %U "$archive")
    [ "$(id -u)" != 0 ] || chown -R "$owner" "$pgdata"
    chmod 700 "$pgdata"
    cat >>"$pgdata/postgresql.auto.conf" <<CONF
# point-in-time recovery, written by setup_wal_archiving.sh --pitr
restore_command = 'cp ''$archive''/%f %p'
recovery_target_time = '$target'
recovery_target_inclusive = off
recovery_target_action = 'promote'
# the recovered server archives nothing until an operator says so
archive_mode = 'off'
CONF
    touch "$pgdata/recovery.signal"
    [ "$(id -u)" != 0 ] || chown "$owner" "$pgdata/recovery.signal" "$pgdata/postgresql.auto.conf"
    dr_log "recovery configured in $pgdata: target $target"
    if [ "$start" = 1 ]; then
        [ -n "$port" ] || dr_die "--start needs --port"
        bin=$(bindir)
        as_owner "$pgdata" "$bin/pg_ctl" -D "$pgdata" -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" \
            -l "$pgdata/recovery.log" -w -t 600 start >/dev/null || {
            tail -n 20 "$pgdata/recovery.log" >&2
            dr_die "the recovered server did not start"
        }
        until [ "$(psql -X -At -h 127.0.0.1 -p "$port" -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
            sleep 0.2
            waited=$((waited + 1))
            [ $waited -lt 3000 ] || dr_die "recovery did not finish within 10 minutes"
        done
        dr_log "recovered and promoted in $(awk -v a="$start_s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
    fi
    echo "$pgdata"
}

"$mode"
