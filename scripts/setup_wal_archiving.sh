#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2016 # perl expressions (json_field) are single-quoted on purpose
# setup_wal_archiving.sh - physical backups, WAL archiving and point-in-time
# recovery, on pgBackRest (Debian package "pgbackrest"): a thin, checked
# front end that keeps the seed's commands.
#
# A repository directory REPO holds one pgBackRest stanza per cluster
# (default "main"), its configuration REPO/STANZA.conf (mode 0600: it holds
# the encryption passphrase when there is one) and its logs. Keep it on
# another machine's disk or mount than the cluster.
#
# Set up archiving and take the first full backup:
#   setup_wal_archiving.sh --pgdata DIR --repo REPO [--stanza NAME]
#       [--archive-timeout 60s] [--retention-full 2] [--retention-diff 6]
#       [--cipher-pass-file FILE] [--restart] [--no-backup]
#   Checks --archive-timeout with PostgreSQL's own parser before anything is
#   written; sets wal_level = replica, archive_mode = on, archive_timeout
#   and archive_command = pgbackrest archive-push (which accepts a segment
#   that is already archived with the same contents, so a crash between copy
#   and bookkeeping does not wedge archiving); archive_mode needs a restart:
#   --restart does it. Then stanza-create, check (a segment really reaches
#   the repository) and a full backup. The last line is REPO/STANZA.conf.
#   (--archive DIR is the seed's name for --repo.)
#
# Backups and checks (retention applies after each backup, WAL included):
#   setup_wal_archiving.sh --backup --repo REPO [--stanza NAME] [--type full|diff|incr]
#   setup_wal_archiving.sh --verify --repo REPO [--stanza NAME]
#   setup_wal_archiving.sh --info   --repo REPO [--stanza NAME]
#
# Before a recovery, get the newest WAL into the repository:
#   setup_wal_archiving.sh --switch-wal --repo REPO [--stanza NAME] [--wait 60]
#     the server is alive: pg_switch_wal(), then waits until that segment is
#     archived (or says why not: pg_stat_archiver's last failure).
#   setup_wal_archiving.sh --push-wal --from OLD_PGDATA --repo REPO [--stanza NAME]
#     the server is dead but its data directory is readable: archives every
#     segment of OLD_PGDATA/pg_wal that is newer than the repository's
#     newest, up to the end of valid WAL (pg_waldump finds it).
#
# Recover (into a new directory, or over one with --delta):
#   setup_wal_archiving.sh --pitr --repo REPO [--stanza NAME] --pgdata NEWDIR
#       (--target-time 'YYYY-MM-DD HH:MM:SS[.ffffff]+00' | --target-lsn X/Y |
#        --target-name RESTORE_POINT | --target immediate | --target latest)
#       [--delta] [--switch-wal] [--stream-dir DIR] [--start --port N] [--timeout 600]
#   "latest" replays to the end of the archive (everything archived), the
#   others stop just before the target (time, LSN) or at it (a restore
#   point made with pg_create_restore_point; immediate: the backup's end).
#   --stream-dir also reads the WAL of stream_wal.sh (pg_receivewal) from
#   DIR, the unfinished last segment included, for what the archive lacks.
#   A target before the oldest backup is refused. The recovered server does
#   not archive (archive_mode = off) until setup is run on it. With --start
#   it starts on port N and waits until recovery ended and it is promoted
#   (no login needed: pg_controldata says "in production"); when recovery
#   stops short it says which WAL is missing. The last line is NEWDIR.
#
# Connection (setup, --switch-wal): the PG* environment or --config FILE (a
# dbr config's [database] conninfo and password_file), as a superuser.
set -euo pipefail
export DR_NAME=setup_wal_archiving
# shellcheck source=scripts/lib/dr-common.sh
. "$(dirname "$0")/lib/dr-common.sh"

usage() { sed -n '4,57p' "$0" | sed 's/^# \{0,1\}//'; }

mode=setup pgdata='' repo='' stanza=main timeout=60s retention_full=2 retention_diff=6
cipher_file='' restart=0 backup=1 config='' type=incr from='' wait_s=60
target_kind='' target='' delta=0 switch=0 start=0 port='' start_timeout=600 stream=
set_mode() {
    if [ "$mode" = setup ]; then
        mode=${1#--}
    elif [ "$mode/$1" = switch-wal/--pitr ] || [ "$mode/$1" = pitr/--switch-wal ]; then
        mode=pitr switch=1
    else
        dr_die "$1 and --$mode cannot be combined"
    fi
}
while [ $# -gt 0 ]; do
    case "$1" in
    --pgdata | --repo | --archive | --stanza | --archive-timeout | --retention-full | --retention-diff | \
        --cipher-pass-file | --config | --type | --from | --wait | --target-time | --target-lsn | \
        --target-name | --target | --port | --timeout | --stream-dir)
        [ $# -ge 2 ] || dr_die "$1 needs a value (see --help)"
        case "$1" in
        --pgdata) pgdata=$2 ;;
        --repo | --archive) repo=$2 ;;
        --stanza) stanza=$2 ;;
        --archive-timeout) timeout=$2 ;;
        --retention-full) retention_full=$2 ;;
        --retention-diff) retention_diff=$2 ;;
        --cipher-pass-file) cipher_file=$2 ;;
        --config) config=$2 ;;
        --type) type=$2 ;;
        --from) from=$2 ;;
        --wait) wait_s=$2 ;;
        --port) port=$2 ;;
        --timeout) start_timeout=$2 ;;
        --stream-dir) stream=$2 ;;
        --target-time | --target-lsn | --target-name | --target)
            [ -z "$target_kind" ] || dr_die "give one recovery target, not $target_kind and $1"
            target_kind=$1 target=$2
            ;;
        esac
        shift
        ;;
    --backup | --verify | --info | --switch-wal | --push-wal | --pitr)
        set_mode "$1"
        ;;
    --restart) restart=1 ;;
    --no-backup) backup=0 ;;
    --delta) delta=1 ;;
    --start) start=1 ;;
    -h | --help) usage; exit 0 ;;
    *) dr_die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[ -n "$repo" ] || dr_die "--repo is required (see --help)"
[[ $stanza =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || dr_die "--stanza: expected letters, digits, '_', '.', '-'; got '$stanza'"
for n in retention_full retention_diff wait_s start_timeout; do
    [[ ${!n} =~ ^[1-9][0-9]{0,5}$ ]] ||
        dr_die "--${n//_/-}: expected a whole number from 1 up; got '${!n}'"
done
case "$type" in full | diff | incr) ;; *) dr_die "--type: expected full, diff or incr; got '$type'" ;; esac
# A relative path would mean something else to the server and to pgBackRest.
case "$repo" in /*) ;; *) repo=$(pwd)/$repo ;; esac
conf=$repo/$stanza.conf
dr_conn_setup "$config"
dr_require pgbackrest psql

bindir() {
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ]; then
        pg_config --bindir
    else
        dirname "$(find /usr/lib/postgresql -name pg_ctl -type f | sort | tail -n 1)"
    fi
}

# Runs a command as the owner of path $1 (PostgreSQL and its files refuse root).
as_owner() {
    local path=$1 owner
    shift
    owner=$(stat -c %U "$path")
    if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
        runuser -u "$owner" -- "$@"
    else
        "$@"
    fi
}

pgb() { as_owner "$repo" pgbackrest --config="$conf" --stanza="$stanza" "$@"; }
need_conf() { [ -r "$conf" ] || dr_die "no pgBackRest configuration $conf: run setup first (see --help)"; }

# "key" of the stanza's info (JSON) via a small filter: the values we need.
info_json() { pgb --output=json info; }
json_field() { # json, perl expression on $i (the stanza's info)
    perl -MJSON::PP -e 'my $i = decode_json($ARGV[0])->[0]; print eval($ARGV[1]) // "", "\n"' -- "$1" "$2"
}

setup() {
    local owner sock pgport pguser cmd
    [ -n "$pgdata" ] || dr_die "--pgdata is required (see --help)"
    [ -f "$pgdata/PG_VERSION" ] || dr_die "$pgdata is not a PostgreSQL data directory"
    case "$pgdata" in /*) ;; *) pgdata=$(pwd)/$pgdata ;; esac
    owner=$(stat -c %U "$pgdata")
    # PostgreSQL's own parser: "1min" is right, "5m" is not; nothing is
    # written before this passes.
    # (an empty configuration of its own: Debian keeps postgresql.conf out
    # of the data directory)
    local cfgdir
    cfgdir=$(mktemp -d "${TMPDIR:-/tmp}/dbr-guc.XXXXXX")
    dr_cleanup_add "$cfgdir"
    : >"$cfgdir/postgresql.conf"
    chmod 755 "$cfgdir"
    chmod 644 "$cfgdir/postgresql.conf"
    as_owner "$pgdata" "$(bindir)/postgres" -D "$cfgdir" -C archive_timeout -c "archive_timeout=$timeout" \
        >/dev/null 2>"$DR_PRIVATE/timeout.err" ||
        dr_die "--archive-timeout '$timeout': $(sed -n 's/.*\(FATAL\|ERROR\|HINT\|DETAIL\): *//p' "$DR_PRIVATE/timeout.err" | tr '\n' ' ')"
    pgport=$(dr_psql postgres -At -c "SHOW port") || dr_die "cannot connect to the server (PG* environment or --config)"
    sock=$(dr_psql postgres -At -c "SHOW unix_socket_directories" | cut -d, -f1 | sed 's/^ *//')
    pguser=$(dr_psql postgres -At -c "SELECT current_user")
    [ "$(dr_psql postgres -At -c "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")" = t ] ||
        dr_die "connect as a superuser: pgBackRest's backups need one"
    [ "$(dr_psql postgres -At -c "SHOW data_directory")" -ef "$pgdata" ] ||
        dr_die "the server the PG* environment reaches does not run $pgdata"

    dr_private_mkdir "$repo"
    mkdir -p "$repo/log" "$repo/lock"
    [ "$(id -u)" != 0 ] || chown "$owner" "$repo" "$repo/log" "$repo/lock"
    {
        echo "# written by setup_wal_archiving.sh; the repository and its WAL, stanza $stanza"
        echo "[global]"
        echo "repo1-path=$repo"
        echo "repo1-retention-full=$retention_full"
        echo "repo1-retention-diff=$retention_diff"
        echo "log-path=$repo/log"
        echo "lock-path=$repo/lock"
        echo "log-level-console=warn"
        echo "log-level-stderr=warn"
        echo "log-level-file=info"
        echo "compress-type=lz4"
        echo "start-fast=y"
        echo "archive-check=y"
        echo "archive-timeout=120"
        if [ -n "$cipher_file" ]; then
            local pass
            IFS= read -r pass <"$cipher_file" || [ -n "$pass" ] || dr_die "--cipher-pass-file: $cipher_file is empty"
            echo "repo1-cipher-type=aes-256-cbc"
            echo "repo1-cipher-pass=$pass"
        fi
        echo
        echo "[$stanza]"
        echo "pg1-path=$pgdata"
        echo "pg1-port=$pgport"
        echo "pg1-socket-path=$sock"
        echo "pg1-user=$pguser"
    } >"$conf.partial"
    [ "$(id -u)" != 0 ] || chown "$owner" "$conf.partial"
    mv "$conf.partial" "$conf"

    # sh runs archive_command: the configuration path is single-quoted.
    cmd="pgbackrest --config='${conf//\'/\'\\\'\'}' --stanza=$stanza archive-push %p"
    dr_log "archiving WAL into the repository $repo (stanza $stanza, archive_timeout $timeout)"
    dr_psql postgres -v timeout="$timeout" -v cmd="$cmd" -f - <<'SQL'
ALTER SYSTEM SET wal_level = 'replica';
ALTER SYSTEM SET archive_mode = 'on';
ALTER SYSTEM SET archive_timeout = :'timeout';
ALTER SYSTEM SET archive_command = :'cmd';
SELECT pg_reload_conf() \g /dev/null
SQL
    if [ "$(dr_psql postgres -At -c 'SHOW archive_mode')" != on ] ||
        [ "$(dr_psql postgres -At -c 'SHOW wal_level')" = minimal ]; then
        [ "$restart" = 1 ] ||
            dr_die "archive_mode takes effect only at a restart: restart the server (or pass --restart) and run again"
        dr_log "restarting the server for archive_mode"
        as_owner "$pgdata" "$(bindir)/pg_ctl" -D "$pgdata" -w -t 120 restart -m fast \
            -l "$pgdata/pg_ctl-restart.log" >/dev/null || dr_die "the restart failed: see $pgdata/pg_ctl-restart.log"
    fi
    pgb stanza-create || dr_die "pgbackrest stanza-create failed (see $repo/log)"
    pgb check || dr_die "pgbackrest check failed: WAL does not reach the repository (see $repo/log and the server log)"
    if [ "$backup" = 1 ]; then
        type=full
        backup
    fi
    echo "$conf"
}

backup() {
    need_conf
    dr_log "taking a $type backup"
    pgb backup --type="$type" || dr_die "pgbackrest backup failed (see $repo/log)"
    dr_log "backup $(json_field "$(info_json)" '$i->{backup}[-1]{label}') done; retention applied"
}

verify() {
    local out gaps
    need_conf
    out=$(pgb verify --log-level-console=info 2>&1) || dr_die "pgbackrest verify failed: $out"
    if printf '%s\n' "$out" | grep -Eq 'checksum invalid|missing|invalid|ERROR'; then
        printf '%s\n' "$out" >&2
        dr_die "the repository has damaged or missing files (above)"
    fi
    # pgBackRest checks each file; a segment missing between two archived
    # ones of a timeline (WAL is contiguous within one) is found here.
    gaps=$(find "$repo/archive/$stanza" -type f -printf '%f\n' 2>/dev/null | sed -n 's/^\([0-9A-F]\{24\}\)-.*/\1/p' | sort -u |
        perl -ne 'chomp; my ($tli, $log, $seg) = unpack "A8 A8 A8"; my $n = hex($log) * 256 + hex($seg);
            printf "missing WAL on timeline %s after %s (%d segments)\n", $tli, $p, $n - $pn - 1
                if defined $pt && $tli eq $pt && $n != $pn + 1;
            ($pt, $pn, $p) = ($tli, $n, $_);')
    if [ -n "$gaps" ]; then
        printf '%s\n' "$gaps" >&2
        dr_die "the archive has gaps (above): recovery cannot pass them"
    fi
    dr_log "the repository verifies: every backup and WAL file reads and matches its checksum, no WAL is missing"
}

info() {
    need_conf
    pgb info
}

# Names of WAL segments compare as text within a timeline.
switch_wal() {
    local seg deadline state
    need_conf
    seg=$(dr_psql postgres -At -c "SELECT pg_walfile_name(pg_switch_wal())") ||
        dr_die "cannot reach the server for pg_switch_wal() (is it alive? if not: --push-wal --from ITS_PGDATA)"
    dr_log "switched WAL; waiting until $seg is archived"
    deadline=$(($(date +%s) + wait_s))
    while :; do
        state=$(dr_psql postgres -At -F ' ' -v seg="$seg" -f - <<'SQL'
SELECT coalesce(last_archived_wal >= :'seg', false), coalesce(last_failed_wal, '-'),
       coalesce(to_char(last_failed_time, 'YYYY-MM-DD HH24:MI:SS TZ'), '-')
  FROM pg_stat_archiver
SQL
        )
        [ "${state%% *}" != t ] || break
        if [ "$(date +%s)" -ge "$deadline" ]; then
            dr_die "$seg was not archived within $wait_s s; the last archiving failure: $(echo "$state" | cut -d' ' -f2-) (see the server log)"
        fi
        sleep 0.2
    done
    dr_log "$seg is archived"
}

push_wal() {
    local wal end endseg newest tli f name last n=0
    need_conf
    [ -n "$from" ] || dr_die "--push-wal needs --from OLD_PGDATA"
    wal=$from/pg_wal
    [ -d "$wal" ] || dr_die "$wal is not readable: nothing to push"
    # The end of valid WAL: the last record pg_waldump reads, from the
    # latest checkpoint's redo segment on.
    f=$(as_owner "$from" "$(bindir)/pg_controldata" "$from" | sed -n "s/^Latest checkpoint's REDO WAL file: *//p")
    [ -n "$f" ] || dr_die "cannot read the control file of $from (pg_controldata)"
    # Without an end segment pg_waldump reads only the first: give the last
    # file there is (recycled files beyond the end hold old, invalid WAL).
    last=$(find "$wal" -maxdepth 1 -name "${f:0:8}*" -printf '%f\n' | grep -E '^[0-9A-F]{24}$' | sort | tail -n 1)
    local rc=0
    as_owner "$from" "$(bindir)/pg_waldump" -p "$wal" "$f" "$last" 2>"$DR_PRIVATE/waldump.err" >/dev/null || rc=$?
    end=$(sed -n 's/.*invalid record length at \([0-9A-F]*\/[0-9A-F]*\).*/\1/p; s/.*error in WAL record at \([0-9A-F]*\/[0-9A-F]*\).*/\1/p' \
        "$DR_PRIVATE/waldump.err" | tail -n 1)
    tli=${f:0:8}
    if [ -n "$end" ]; then
        endseg=$(printf '%s%08X%08X' "$tli" "0x${end%/*}" $((0x${end#*/} / 16777216)))
    elif [ "$rc" = 0 ]; then
        # Valid to the last byte of the newest file (it had just filled up).
        endseg=$last end="the end of $last"
    else
        dr_die "cannot find the end of WAL in $wal: pg_waldump said: $(tail -n 1 "$DR_PRIVATE/waldump.err")"
    fi
    newest=$(json_field "$(info_json)" '(sort map { $_->{max} // "" } @{$i->{archive}})[-1]')
    dr_log "the repository's newest segment: ${newest:-none}; valid WAL in $wal ends at $end ($endseg)"
    for f in "$wal"/[0-9A-F]*; do
        name=${f##*/}
        [[ $name =~ ^[0-9A-F]{24}$ ]] || continue
        [ "${name:0:8}" = "$tli" ] || continue
        [[ $name > ${newest:-0} ]] || continue
        [[ ! $name > $endseg ]] || continue
        pgb --pg1-path="$from" archive-push "$f" || dr_die "pushing $name failed (see $repo/log)"
        dr_log "pushed $name"
        n=$((n + 1))
    done
    dr_log "$n segments pushed; the repository now ends at $endseg"
}

lsn_num() { printf '%d' $(((0x${1%/*} << 32) + 0x${1#*/})); }

pitr() {
    local json oldest_stop oldest_lsn t type_args=() log started owner bin state newest
    need_conf
    [ -n "$pgdata" ] || dr_die "--pitr needs --pgdata NEWDIR"
    [ -n "$target_kind" ] || dr_die "--pitr needs a target: --target-time, --target-lsn, --target-name or --target immediate|latest"
    case "$pgdata" in /*) ;; *) pgdata=$(pwd)/$pgdata ;; esac
    [ "$start" = 0 ] || [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || dr_die "--start needs --port N (1-65535)"
    if [ -e "$pgdata" ] && [ -n "$(ls -A "$pgdata" 2>/dev/null)" ] && [ "$delta" = 0 ]; then
        dr_die "$pgdata is not empty: recover into a new directory, or pass --delta to reuse it"
    fi
    [ "$switch" = 0 ] || switch_wal

    json=$(info_json) || dr_die "cannot read the repository (pgbackrest info)"
    [ -n "$(json_field "$json" '$i->{backup}[0]{label}')" ] || dr_die "the repository has no backup of stanza $stanza"
    oldest_stop=$(json_field "$json" '$i->{backup}[0]{timestamp}{stop}')
    oldest_lsn=$(json_field "$json" '$i->{backup}[0]{lsn}{stop}')
    newest=$(json_field "$json" '(sort map { $_->{max} // "" } @{$i->{archive}})[-1]')
    case "$target_kind" in
    --target-time)
        t=$(date -d "$target" +%s.%N 2>/dev/null) ||
            dr_die "--target-time '$target': not a time (expected 'YYYY-MM-DD HH:MM:SS[.ffffff]+00')"
        # One spelling for pgBackRest and PostgreSQL: UTC, microseconds.
        target=$(date -u -d "@$t" '+%F %T.%6N+00')
        awk -v t="$t" -v s="$oldest_stop" 'BEGIN { exit !(t >= s) }' ||
            dr_die "--target-time '$target' is before the end of the oldest backup ($(date -u -d "@$oldest_stop" '+%F %T+00')): no backup can recover to it"
        type_args=(--type=time "--target=$target" --target-exclusive --target-action=promote)
        ;;
    --target-lsn)
        [[ $target =~ ^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$ ]] || dr_die "--target-lsn '$target': expected an LSN like 0/3000060"
        [ "$(lsn_num "$target")" -ge "$(lsn_num "$oldest_lsn")" ] ||
            dr_die "--target-lsn $target is before the end of the oldest backup ($oldest_lsn): no backup can recover to it"
        type_args=(--type=lsn "--target=$target" --target-exclusive --target-action=promote)
        ;;
    --target-name) type_args=(--type=name "--target=$target" --target-action=promote) ;;
    --target)
        case "$target" in
        immediate) type_args=(--type=immediate --target-action=promote) ;;
        latest) type_args=(--type=default) ;;
        *) dr_die "--target: expected immediate or latest; got '$target'" ;;
        esac
        ;;
    esac

    started=$(date +%s.%N)
    mkdir -p "$pgdata"
    owner=$(stat -c %U "$repo")
    [ "$(id -u)" != 0 ] || chown "$owner" "$pgdata"
    chmod 700 "$pgdata"
    local delta_args=() stream_args=()
    [ "$delta" = 0 ] || delta_args=(--delta --force)
    if [ -n "$stream" ]; then
        case "$stream" in /*) ;; *) stream=$(pwd)/$stream ;; esac
        [ -d "$stream" ] || dr_die "--stream-dir $stream is not a directory"
        # The archive first; then the stream's complete segment; then its
        # unfinished one (pg_receivewal's .partial), which ends recovery.
        # pgBackRest writes the option into postgresql.auto.conf without
        # escaping single quotes: the paths go in double quotes for sh, so
        # quotes, '$', '`' and '\' in them are refused.
        case "$stream$conf$pgdata" in *[\'\"\$\`\\]*) dr_die "--stream-dir, --repo and --pgdata: paths with quotes, \$, \` or \\ cannot go into restore_command" ;; esac
        stream_args=("--recovery-option=restore_command=pgbackrest --config=\"$conf\" --pg1-path=\"$pgdata\" --stanza=$stanza archive-get %f \"%p\" || cp \"$stream\"/%f \"%p\" 2>/dev/null || cp \"$stream\"/%f.partial \"%p\" 2>/dev/null")
    fi
    dr_log "restoring into $pgdata ($target_kind $target; the archive ends at ${newest:-nothing})"
    pgb --pg1-path="$pgdata" restore "${type_args[@]}" --archive-mode=off "${delta_args[@]}" "${stream_args[@]}" ||
        dr_die "pgbackrest restore failed (see $repo/log)"
    dr_log "restored in $(elapsed "$started") s; recovery configured"
    if [ "$start" = 1 ]; then
        bin=$(bindir)
        log=$pgdata/log/recovery.log
        as_owner "$pgdata" mkdir -p "$pgdata/log"
        # (postgres -C reads the configuration only while no server runs)
        local sockdir
        sockdir=$(as_owner "$pgdata" "$bin/postgres" -D "$pgdata" -C unix_socket_directories 2>/dev/null | cut -d, -f1 | sed 's/^ *//') || true
        as_owner "$pgdata" "$bin/pg_ctl" -D "$pgdata" -o "-p $port" -l "$log" -W start >/dev/null ||
            dr_die "the recovered server did not start: see $log"
        # Promoted: recovery.signal is gone, the control file says "in
        # production" (the restored copy said so before startup, hence both),
        # and the server answers on its port (pg_isready needs no login,
        # which also holds when we run as root).
        local deadline=$(($(date +%s) + start_timeout))
        while :; do
            if [ ! -e "$pgdata/recovery.signal" ]; then
                state=$(as_owner "$pgdata" "$bin/pg_controldata" "$pgdata" 2>/dev/null | sed -n 's/^Database cluster state: *//p')
                if [ "$state" = "in production" ] && "$bin/pg_isready" -q -h "${sockdir:-127.0.0.1}" -p "$port"; then
                    break
                fi
            fi
            if ! as_owner "$pgdata" "$bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
                sleep 0.5 # the postmaster may still be writing its pid file
                as_owner "$pgdata" "$bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1 || recovery_failed "$log" "$newest"
            fi
            [ "$(date +%s)" -lt "$deadline" ] ||
                dr_die "recovery did not finish within $start_timeout s; see $log"
            sleep 0.1
        done
        [ "$target" != latest ] || check_reached_end "$newest"
        dr_log "recovered and promoted in $(elapsed "$started") s, on timeline $(as_owner "$pgdata" "$bin/pg_controldata" "$pgdata" | sed -n "s/^Latest checkpoint's TimeLineID: *//p")"
    fi
    echo "$pgdata"
}

# After --target latest: recovery ends where restore_command first finds
# nothing, which is the end of the archive only when no segment is missing
# or unreadable before it. The new timeline's history file says where it
# ended; anything the archive holds beyond that was not replayed.
check_reached_end() { # newest archived segment
    local newest=$1 hist line tli lsn seg
    hist=$(find "$pgdata/pg_wal" -maxdepth 1 -name '*.history' | sort | tail -n 1)
    [ -n "$hist" ] || return 0
    line=$(grep -v '^#' "$hist" | tail -n 1)
    tli=$(printf '%08X' "$(echo "$line" | cut -f1)")
    lsn=$(echo "$line" | cut -f2)
    seg=$(printf '%s%08X%08X' "$tli" "0x${lsn%/*}" $((0x${lsn#*/} / 16777216)))
    if [[ $seg < ${newest:-0} ]]; then
        dr_die "recovery ended at $lsn (segment $seg) but the archive holds WAL up to $newest: a segment in between is missing or damaged, and everything after it was NOT replayed (run --verify). The server at $pgdata is up on the new timeline with that older data."
    fi
}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# The server stopped during recovery: say why, in the operator's terms.
recovery_failed() { # log, newest archived segment
    local log=$1 newest=$2
    grep -E 'FATAL|PANIC' "$log" | tail -n 3 >&2 || true
    if grep -Eq 'could not create any TCP/IP sockets|could not bind' "$log"; then
        dr_die "port $port is taken: the recovered server could not listen. Choose another --port; the restored directory can be reused with --delta"
    fi
    local last
    last=$(grep -o 'restored log file "[0-9A-F]*"' "$log" | tail -n 1 | tr -dc '0-9A-F\n' | tail -c 25)
    if grep -q 'recovery ended before configured recovery target was reached' "$log" && [ -n "$last" ] &&
        [[ $last < ${newest:-0} ]]; then
        dr_die "recovery read the archive up to $last, but it holds WAL up to $newest: the segment after $last is missing or damaged (run --verify); the target lies beyond it"
    fi
    if grep -q 'recovery ended before configured recovery target was reached' "$log"; then
        dr_die "the archive ends before the target: its newest segment is ${newest:-none}. WAL written after it never reached the repository: if the old server is alive run --switch-wal, if it died with its data directory run --push-wal --from OLD_PGDATA; or recover everything there is with --target latest"
    fi
    if grep -Eq 'could not (find|read|open).*(WAL|file)|invalid checkpoint|unexpected pageaddr|incorrect resource manager|checksum' "$log"; then
        dr_die "recovery stopped on missing or damaged WAL (above); run --verify to find the damaged files"
    fi
    dr_die "the recovered server stopped during recovery (above); see $log"
}

"${mode//-/_}"
