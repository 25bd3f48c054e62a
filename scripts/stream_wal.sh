#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# stream_wal.sh - streamed WAL for an RPO of about a second: pg_receivewal
# with a physical replication slot of its own, beside the archive.
#
#   stream_wal.sh --start  --dir DIR [--slot dbr_stream] [--sync]
#   stream_wal.sh --status --dir DIR [--slot dbr_stream] [--max-lag-bytes N]
#   stream_wal.sh --stop   --dir DIR [--drop-slot]
#
# --start creates the slot when it is missing (so the server keeps every
# segment until pg_receivewal has it: watch the slot, the health plugin
# does), then runs pg_receivewal --synchronous (each write flushed to DIR)
# in the background as the owner of DIR; its pid and log are in DIR. With
# --sync the server also waits for it before a commit returns
# (synchronous_standby_names): no acknowledged write is lost, but commits
# stop while it is down.
# --status exits 0 only when the slot is active and pg_receivewal is
# streaming with a flush lag under --max-lag-bytes (default 16 MB); it
# prints the lag and the WAL the slot holds back.
# --stop stops pg_receivewal (and with --drop-slot drops the slot, or the
# server keeps WAL for it forever).
#
# Recovery reads DIR, including the last, unfinished segment (.partial),
# with setup_wal_archiving.sh --pitr --stream-dir DIR.
#
# Connection: the PG* environment of a role with REPLICATION (and a
# "replication" line in pg_hba.conf), as the owner of DIR; a password
# through that user's PGPASSFILE/.pgpass, never a command line.
set -euo pipefail
export DR_NAME=stream_wal
# shellcheck source=scripts/lib/dr-common.sh
. "$(dirname "$0")/lib/dr-common.sh"

usage() { sed -n '3,29p' "$0" | sed 's/^# \{0,1\}//'; }

mode='' dir='' slot=dbr_stream sync=0 max_lag=16777216 drop=0
while [ $# -gt 0 ]; do
    case "$1" in
    --dir | --slot | --max-lag-bytes)
        [ $# -ge 2 ] || dr_die "$1 needs a value (see --help)"
        case "$1" in --dir) dir=$2 ;; --slot) slot=$2 ;; --max-lag-bytes) max_lag=$2 ;; esac
        shift
        ;;
    --start | --status | --stop)
        [ -z "$mode" ] || dr_die "$1 and --$mode cannot be combined"
        mode=${1#--}
        ;;
    --sync) sync=1 ;;
    --drop-slot) drop=1 ;;
    -h | --help) usage; exit 0 ;;
    *) dr_die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[ -n "$mode" ] || dr_die "give --start, --status or --stop (see --help)"
[ -n "$dir" ] || dr_die "--dir is required (see --help)"
[[ $slot =~ ^[a-z0-9_]{1,63}$ ]] || dr_die "--slot: expected lower-case letters, digits and '_' (a slot name); got '$slot'"
[[ $max_lag =~ ^[1-9][0-9]{0,15}$ ]] || dr_die "--max-lag-bytes: expected a whole number from 1 up; got '$max_lag'"
case "$dir" in /*) ;; *) dir=$(pwd)/$dir ;; esac
dr_require pg_receivewal psql

as_owner() {
    local owner
    owner=$(stat -c %U "$dir")
    if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then runuser -u "$owner" -- "$@"; else "$@"; fi
}
pidfile=$dir/pg_receivewal.pid
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
    [ -d "$dir" ] || dr_die "$dir does not exist: create it, owned by the user pg_receivewal runs as"
    chmod 700 "$dir"
    ! running || dr_die "pg_receivewal already runs for $dir (pid $(cat "$pidfile"))"
    as_owner pg_receivewal --slot="$slot" --create-slot --if-not-exists --no-password ||
        dr_die "cannot create the replication slot $slot (a role with REPLICATION? max_replication_slots?)"
    # shellcheck disable=SC2016 # the inner shell expands them
    as_owner bash -c 'pg_receivewal -D "$1" --slot="$2" --synchronous --no-password \
        >>"$1/pg_receivewal.log" 2>&1 </dev/null & echo $! >"$1/pg_receivewal.pid"' _ "$dir" "$slot"
    if [ "$sync" = 1 ]; then
        # Never replace a synchronous standby the operator has: that would
        # turn it asynchronous without a word. The old value (empty here)
        # is kept in $dir so that --stop puts it back.
        local current
        current=$(dr_psql postgres -At -c "SHOW synchronous_standby_names") ||
            dr_die "cannot read synchronous_standby_names"
        [ -z "$current" ] || [ "$current" = pg_receivewal ] ||
            dr_die "--sync: synchronous_standby_names is already '$current'; add pg_receivewal to it yourself (ANY 1 (..., pg_receivewal)) instead"
        printf '%s' "$current" >"$dir/synchronous_standby_names.before"
        dr_psql postgres -c "ALTER SYSTEM SET synchronous_standby_names = 'pg_receivewal'" -c "SELECT pg_reload_conf()" >/dev/null
    fi
    # Started: the server shows it streaming into the slot.
    local deadline=$(($(date +%s) + 60))
    until [ "$(dr_psql postgres -At -v slot="$slot" -f - <<<"SELECT active FROM pg_replication_slots WHERE slot_name = :'slot'")" = t ]; do
        running || dr_die "pg_receivewal stopped: $(tail -n 3 "$dir/pg_receivewal.log")"
        [ "$(date +%s)" -lt "$deadline" ] || dr_die "pg_receivewal did not start streaming within 60 s: see $dir/pg_receivewal.log"
        sleep 0.1
    done
    dr_log "pg_receivewal streams into $dir (slot $slot, pid $(cat "$pidfile"))"
}

status() {
    local row
    row=$(dr_psql postgres -At -F ' ' -v slot="$slot" -f - <<'SQL'
SELECT s.active, coalesce(r.state, 'none'),
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), r.flush_lsn), -1)::bigint,
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn), -1)::bigint
  FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
 WHERE s.slot_name = :'slot'
SQL
    ) || dr_die "cannot query the server"
    [ -n "$row" ] || dr_die "no replication slot $slot: run --start"
    read -r active state lag held <<<"$row"
    echo "slot $slot active $active state $state flush_lag_bytes $lag retained_bytes $held"
    { [ "$active" = t ] && [ "$state" = streaming ]; } || dr_die "pg_receivewal is not streaming (see $dir/pg_receivewal.log)"
    { [ "$lag" -ge 0 ] && [ "$lag" -le "$max_lag" ]; } || dr_die "pg_receivewal is $lag bytes behind (more than $max_lag)"
}

stop() {
    if running; then
        kill "$(cat "$pidfile")"
        local deadline=$(($(date +%s) + 30))
        while running; do
            [ "$(date +%s)" -lt "$deadline" ] || dr_die "pg_receivewal (pid $(cat "$pidfile")) did not stop"
            sleep 0.1
        done
    fi
    rm -f "$pidfile"
    # --sync made commits wait for this stream: they would hang now.
    if [ -f "$dir/synchronous_standby_names.before" ]; then
        dr_psql postgres -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null ||
            dr_die "pg_receivewal stopped, but synchronous_standby_names still names it: reset it, or commits wait for ever"
        rm -f "$dir/synchronous_standby_names.before"
        dr_log "synchronous_standby_names reset: commits no longer wait for the stream"
    fi
    if [ "$drop" = 1 ]; then
        dr_psql postgres -v slot="$slot" -f - >/dev/null <<<"SELECT pg_drop_replication_slot(:'slot') FROM pg_replication_slots WHERE slot_name = :'slot'"
        dr_log "slot $slot dropped"
    fi
    dr_log "stopped"
}

"$mode"
