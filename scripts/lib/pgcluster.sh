#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Throwaway PostgreSQL clusters for tests and the demo. Source this file, then:
#   pgcluster_start        # initdb + start; exports DBR_TEST_* (see below)
#   pgcluster_stop         # stop and remove everything (also run from an EXIT trap)
#
# The cluster lives in a fresh temporary directory, listens on a unix socket in
# that directory and on a free loopback port, trusts local connections for the
# superuser "dbr", and is removed afterwards. PostgreSQL refuses to run as
# root: when we are root, the server runs as the unprivileged "postgres" user
# (Debian's postgresql package creates it).
#
# Exported for the tests:
#   DBR_TEST_CONNINFO  conninfo of the test database over the unix socket
#   DBR_TEST_TCP_CONNINFO  the same over 127.0.0.1:PORT
#   DBR_TEST_PGDATA DBR_TEST_PGPORT DBR_TEST_PGSOCK DBR_TEST_PGBIN
#   DBR_TEST_PGCTL     a command that runs pg_ctl as the server's user:
#                      $DBR_TEST_PGCTL stop -m immediate ; $DBR_TEST_PGCTL start

pgcluster_bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir
        return
    fi
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    echo "pgcluster: no PostgreSQL server binaries (initdb) found; install postgresql" >&2
    return 1
}

# Runs a command as the cluster's owner.
pgcluster_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pgcluster_port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pgcluster_start() {
    local bindir base port tries=0
    bindir=$(pgcluster_bindir) || return 1
    base=$(mktemp -d "${TMPDIR:-/tmp}/dbr-pg.XXXXXX") || return 1
    chmod 755 "$base"
    mkdir -p "$base/data" "$base/sock" "$base/log"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || { echo "pgcluster: no 'postgres' user to run the server as" >&2; return 1; }
        chown -R postgres: "$base/data" "$base/sock" "$base/log"
    fi
    PGCLUSTER_BASE=$base
    # A German locale of the cluster's own (LOCPATH), so that tests can make
    # the server speak another language (lc_messages) without touching the
    # system's locales.
    mkdir -p "$base/locale"
    ln -s /usr/lib/locale/C.utf8 "$base/locale/C.utf8" 2>/dev/null || true
    localedef -i de_DE -f UTF-8 "$base/locale/de_DE.UTF-8" >/dev/null 2>&1 ||
        echo "pgcluster: cannot build the de_DE.UTF-8 locale (install locales); lc_messages tests will fail" >&2
    export DBR_TEST_LOCPATH=$base/locale
    pgcluster_as_owner "$bindir/initdb" -D "$base/data" -U dbr --auth=trust -E UTF8 \
        --locale=C.UTF-8 >"$base/initdb.log" 2>&1 || {
        cat "$base/initdb.log" >&2
        return 1
    }
    cat >>"$base/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$base/sock'
max_connections = 60
fsync = off
full_page_writes = off
deadlock_timeout = 100ms
log_min_messages = warning
log_line_prefix = '%m [%p] '
CONF
    while :; do
        port=$(( 20000 + (RANDOM % 20000) ))
        tries=$((tries + 1))
        pgcluster_port_free "$port" || continue
        if pgcluster_as_owner env LOCPATH="$DBR_TEST_LOCPATH" "$bindir/pg_ctl" -D "$base/data" \
            -l "$base/log/server.log" -o "-p $port" -w -t 60 start >/dev/null; then
            break
        fi
        if [ $tries -ge 5 ]; then
            echo "pgcluster: the server did not start; its log:" >&2
            cat "$base/log/server.log" >&2
            return 1
        fi
    done
    export DBR_TEST_PGBIN=$bindir DBR_TEST_PGDATA=$base/data DBR_TEST_PGPORT=$port
    export DBR_TEST_PGSOCK=$base/sock
    export DBR_TEST_CONNINFO="host=$base/sock port=$port user=dbr dbname=dbr_test"
    export DBR_TEST_TCP_CONNINFO="host=127.0.0.1 port=$port user=dbr dbname=dbr_test"
    export DBR_TEST_PGCTL="$PGCLUSTER_SELF_DIR/pgctl.sh"
    "$bindir/psql" -X -q -h "$base/sock" -p "$port" -U dbr -d postgres \
        -c "CREATE DATABASE dbr_test" >/dev/null || return 1
    echo "pgcluster: PostgreSQL $("$bindir/postgres" -V | awk '{print $3}') on port $port, socket $base/sock"
}

pgcluster_stop() {
    local d
    [ -n "${PGCLUSTER_BASE:-}" ] || return 0
    # A PgBouncer of lib/pgbouncer.sh lives in the cluster's directory.
    if declare -F pgbouncer_stop >/dev/null; then pgbouncer_stop; fi
    # Standbys a failed test left behind (lib/pgstandby.sh) first.
    for d in "$PGCLUSTER_BASE"/standbys/*/data; do
        if [ -f "$d/postmaster.pid" ]; then
            pgcluster_as_owner "$DBR_TEST_PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
        fi
    done
    if [ -f "$PGCLUSTER_BASE/data/postmaster.pid" ]; then
        pgcluster_as_owner "$DBR_TEST_PGBIN/pg_ctl" -D "$PGCLUSTER_BASE/data" -m immediate \
            stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PGCLUSTER_BASE"
    PGCLUSTER_BASE=
}

PGCLUSTER_SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
