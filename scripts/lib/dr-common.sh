#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Shared by the backup, restore and WAL-archiving scripts: messages, failure,
# private files, and the connection.
#
# The connection never travels on a command line, where ps shows it to every
# user: dr_conn_setup turns a dbr config's [database] conninfo (key=value or
# postgresql:// URI) into a private libpq service file, and its password (or
# password_file) into a private PGPASSFILE. Tools then get only a database
# name.

dr_log() { printf '%s: %s\n' "${DR_NAME:-dr}" "$*" >&2; }
dr_die() {
    dr_log "error: $*"
    exit 1
}

# Backups hold every row and password hash of a database: nothing we create
# is for other users.
umask 077

# Files and directories removed when the script exits, however it exits.
DR_CLEANUP=()
dr_cleanup_add() { DR_CLEANUP+=("$@"); }
dr_cleanup() {
    local f
    for f in "${DR_CLEANUP[@]}"; do rm -rf -- "$f"; done
    [ -z "${DR_ON_EXIT:-}" ] || eval "$DR_ON_EXIT"
}
trap dr_cleanup EXIT

# A private directory for this run (mode 0700), removed on exit.
DR_PRIVATE=$(mktemp -d "${TMPDIR:-/tmp}/dbr-dr.XXXXXX") || dr_die "cannot create a temporary directory"
dr_cleanup_add "$DR_PRIVATE"

# A conninfo value as a libpq key=value literal: dbname='it''s' is wrong,
# libpq wants backslashes.
dr_conn_quote() {
    local v=${1//\\/\\\\}
    printf "'%s'" "${v//\'/\\\'}"
}

# The conninfo for database $1, for a tool's -d: only the database name,
# quoted, so that a name with '=' or a URI prefix is not read as a conninfo.
dr_db() { printf 'dbname=%s' "$(dr_conn_quote "$1")"; }

# Parses a libpq conninfo ($1: key=value or postgresql:// URI) and prints
# NUL-separated key and value pairs; on a syntax error prints why (never the
# conninfo, which may hold a password) and fails.
dr_conninfo_parse() {
    # Through the environment of perl alone, never its argv: any local user
    # can read a command line (ps, /proc/PID/cmdline), and this one may hold
    # a password.
    DR_CONNINFO=$1 perl -e '
        use strict;
        my $s = $ENV{DR_CONNINFO};
        delete $ENV{DR_CONNINFO};
        my @kv;
        sub dec { my $v = shift; $v =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge; return $v; }
        sub bad { print STDERR "$_[0]\n"; exit 1; }
        if ($s =~ m{^postgres(?:ql)?://(.*)\z}s) {
            my $rest = $1;
            my ($main, $query) = split /\?/, $rest, 2;
            my ($authority, $path) = $main =~ m{^([^/]*)(?:/(.*))?\z}s;
            my $hostport = $authority;
            if ($authority =~ /^(.*)@([^@]*)\z/s) {
                $hostport = $2;
                my ($u, $p) = split /:/, $1, 2;
                push @kv, ["user", dec($u)] if length $u;
                push @kv, ["password", dec($p)] if defined $p;
            }
            my (@hosts, @ports);
            for my $hp (split /,/, $hostport, -1) {
                my ($h, $p);
                if ($hp =~ /^\[([^\]]*)\](?::(\d*))?\z/) { ($h, $p) = ($1, $2); }
                elsif ($hp =~ /^([^:]*)(?::(\d*))?\z/) { ($h, $p) = ($1, $2); }
                else { bad("the URI host list is malformed (expected host[:port],...)"); }
                push @hosts, dec($h);
                push @ports, defined $p ? $p : "";
            }
            push @kv, ["host", join(",", @hosts)] if grep { length } @hosts;
            push @kv, ["port", join(",", @ports)] if grep { length } @ports;
            push @kv, ["dbname", dec($path)] if defined $path && length $path;
            if (defined $query) {
                for my $pair (split /&/, $query) {
                    my ($k, $v) = split /=/, $pair, 2;
                    bad("URI parameter without a value") unless defined $v;
                    push @kv, [dec($k), dec($v)];
                }
            }
        } else {
            pos($s) = 0;
            while ($s =~ /\G\s*([A-Za-z_]+)\s*=\s*/gc) {
                my $k = $1;
                my $v;
                if ($s =~ /\G\x27((?:[^\x27\\]|\\.)*)\x27/gcs) { $v = $1; }
                elsif ($s =~ /\G((?:[^\s\x27\\]|\\.)*)/gcs) { $v = $1; }
                $v =~ s/\\(.)/$1/gs;
                push @kv, [$k, $v];
            }
            $s =~ /\G\s*/gc;
            bad("cannot parse it at character " . (pos($s) + 1) . " (expected key=value)")
                if pos($s) != length $s;
        }
        print "$_->[0]\0$_->[1]\0" for @kv;
    '
}

# Reads key $2 of group [$3] (default database) of the dbr config file $1
# (GKeyFile syntax: whole-line comments, \s \n \t \\ escapes).
dr_config_value() {
    local file=$1 key=$2 group=${3:-database}
    [ -r "$file" ] || dr_die "cannot read the config file $file"
    perl -ne '
        BEGIN { ($key, $group) = splice @ARGV, 0, 2; }
        if (/^\s*\[(.*)\]\s*$/) { $in = ($1 eq $group); next; }
        next unless $in && /^\s*([^=#\s][^=]*?)\s*=\s*(.*?)\r?\n?\z/s && $1 eq $key;
        my $v = $2;
        $v =~ s/\\(.)/{ s => " ", n => "\n", t => "\t", r => "\r", "\\" => "\\" }->{$1} \/\/ "\\$1"/ge;
        print $v;
        exit;
    ' "$key" "$group" "$file"
}

# Writes a private passfile (libpq's format, any host and database) holding
# password $1 and points PGPASSFILE at it.
dr_use_password() {
    local pw=${1//\\/\\\\}
    printf '*:*:*:*:%s\n' "${pw//:/\\:}" >"$DR_PRIVATE/pgpass"
    export PGPASSFILE=$DR_PRIVATE/pgpass
}

# Connection setup from the dbr config file $1 (nothing to do without one:
# the PG* environment applies). Dies with the file and key on bad input.
dr_conn_setup() {
    local file=$1 conninfo pwfile mode k v service dir password=''
    [ -n "$file" ] || return 0
    conninfo=$(dr_config_value "$file" conninfo) || dr_die "cannot read $file"
    pwfile=$(dr_config_value "$file" password_file)
    dir=$DR_PRIVATE
    service=$dir/pg_service.conf
    printf '[dbr]\n' >"$service"
    if [ -n "$conninfo" ]; then
        dr_conninfo_parse "$conninfo" >"$dir/conninfo" 2>"$dir/conninfo.err" ||
            dr_die "$file: [database] conninfo: $(cat "$dir/conninfo.err")"
        while IFS= read -r -d '' k && IFS= read -r -d '' v; do
            case "$k" in
            password) password=$v ;;
            service) dr_die "$file: [database] conninfo: service= is not supported here; write its settings in the conninfo" ;;
            *)
                case "$v" in *$'\n'*) dr_die "$file: [database] conninfo: the value of $k has a line break" ;; esac
                printf '%s=%s\n' "$k" "$v" >>"$service"
                ;;
            esac
        done <"$dir/conninfo"
    fi
    export PGSERVICEFILE=$service PGSERVICE=dbr
    if [ -n "$pwfile" ]; then
        [ -f "$pwfile" ] || dr_die "$file: [database] password_file: $pwfile is not a readable file"
        mode=$(stat -c %a "$pwfile")
        case "$mode" in
        *00) ;;
        *) dr_die "$file: [database] password_file: $pwfile must be a regular file that group and others cannot access (chmod 600), it is $mode" ;;
        esac
        IFS= read -r password <"$pwfile" || [ -n "$password" ] ||
            dr_die "$file: [database] password_file: $pwfile is empty"
    fi
    [ -z "$password" ] || dr_use_password "$password"
}

dr_psql() { # database, psql args...
    local db=$1
    shift
    psql -X -q -v ON_ERROR_STOP=1 --no-password -d "$(dr_db "$db")" "$@"
}

dr_require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || dr_die "$tool is not installed (Debian: postgresql-client)"
    done
}

# A directory for backups: created 0700, and an existing one must not be
# open to others (a backup is every row and every password hash).
dr_private_mkdir() {
    local d=$1
    mkdir -p -- "$d" || dr_die "cannot create $d"
    chmod go-rwx -- "$d" || dr_die "cannot make $d private (chmod 700)"
}

# What a restore must reproduce, from database $1, one line per relation:
#   table|matview|sequence|large-objects NAME ROWS MD5
# sorted. The SQL that reads each relation is built by the server
# (format('%I.%I')), never from names pasted into a string here, and text
# forms that depend on settings are pinned (time zone, date and interval
# style, float digits, bytea, collation of the ordering). With $2, the reads
# run in that exported snapshot: the one pg_dump saw.
dr_fingerprint() {
    local db=$1 snapshot=${2:-}
    {
        if [ -n "$snapshot" ]; then
            echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
            echo "SET TRANSACTION SNAPSHOT $(printf "'%s'" "${snapshot//\'/}");"
        else
            echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
        fi
        cat <<'SQL'
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, YMD';
SET LOCAL IntervalStyle = 'postgres';
SET LOCAL extra_float_digits = 1;
SET LOCAL bytea_output = 'hex';
SELECT CASE c.relkind
         WHEN 'S' THEN format('SELECT %L, last_value, is_called FROM %I.%I',
                              'sequence ' || replace(replace(format('%I.%I', n.nspname, c.relname), E'\n', '\n'), chr(31), '\x1f'),
                              n.nspname, c.relname)
         ELSE format('SELECT %L, count(*), coalesce(md5(string_agg(r::text, E''\n'' ORDER BY r::text COLLATE "C")), ''empty'') FROM %I.%I r',
                     CASE c.relkind WHEN 'm' THEN 'matview ' ELSE 'table ' END
                       || replace(replace(format('%I.%I', n.nspname, c.relname), E'\n', '\n'), chr(31), '\x1f'),
                     n.nspname, c.relname)
       END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'm', 'S')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
   AND NOT (c.relkind = 'm' AND NOT c.relispopulated)
 ORDER BY format('%I.%I', n.nspname, c.relname) COLLATE "C", c.relkind \gexec
SELECT 'large-objects all', count(*),
       coalesce(md5(string_agg(oid::text || ':' || md5(lo_get(oid)), ',' ORDER BY oid)), 'empty')
  FROM pg_largeobject_metadata;
COMMIT;
SQL
    } | dr_psql "$db" -At -F $'\037' -f - | LC_ALL=C sort
    return "${PIPESTATUS[1]}"
}

# Compares fingerprints (files $1: the manifest's, $2: the restored
# database's); prints each difference and fails on any. A sequence is not
# transactional (nextval is seen outside any snapshot): the manifest records
# it before pg_dump reads it, and the restored one must not be behind it.
dr_fingerprint_compare() {
    # Fields are separated by US (\037), never by blanks: a name may hold
    # blanks ("order items" and "order notes" must not share a key).
    awk -F '\037' '
        function key() { return $1 }
        function is_seq() { return index($1, "sequence ") == 1 }
        function next_value() { return $2 + ($3 == "t") }
        FNR == NR { want[key()] = $0; if (is_seq()) wantseq[key()] = next_value(); next }
        {
            k = key(); have[k] = 1
            if (!(k in want)) { print "unexpected " $0; bad = 1; next }
            if (is_seq()) {
                if (next_value() < wantseq[k]) { print "behind: " $0 " (the backup had " want[k] ")"; bad = 1 }
            } else if ($0 != want[k]) { print "differs: " $0 " (the backup had " want[k] ")"; bad = 1 }
        }
        END {
            for (k in want) if (!(k in have)) { print "missing " want[k]; bad = 1 }
            exit bad
        }' "$1" "$2"
}
