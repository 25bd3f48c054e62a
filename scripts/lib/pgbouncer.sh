#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A PgBouncer in transaction mode in front of the throwaway cluster of
# lib/pgcluster.sh, for tests/integration/test_pg_bouncer.c. Source this file
# (after pgcluster.sh), then:
#   pgbouncer_start   # after pgcluster_start; exports DBR_TEST_BOUNCER_CONNINFO
#   pgbouncer_stop    # also run by pgcluster_stop, before it removes the cluster
#
# Everything lives in the cluster's temporary directory (config, a userlist
# of mode 0600, its own unix socket directory, log, pid file), it listens on
# a free loopback port, and as root it runs as the cluster's unprivileged
# user (PgBouncer refuses to run as root). auth_type = trust: the cluster
# itself trusts local connections; nothing here holds a password.
#
# server_login_retry is short so that a client waiting through a server
# restart is served as soon as the server is back (the default waits 15 s
# after a failed login).

pgbouncer_start() {
    local base=${PGCLUSTER_BASE:?pgbouncer: start the cluster first (pgcluster_start)}
    local dir=$base/bouncer port tries=0
    command -v pgbouncer >/dev/null 2>&1 || {
        echo "pgbouncer: no pgbouncer binary; install the pgbouncer package (scripts/lib/deps.sh)" >&2
        return 1
    }
    mkdir -p "$dir/sock"
    (umask 077 && printf '"dbr" ""\n' >"$dir/userlist.txt")
    [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
    while :; do
        port=$(( 20000 + (RANDOM % 20000) ))
        tries=$((tries + 1))
        pgcluster_port_free "$port" || continue
        cat >"$dir/pgbouncer.ini" <<INI
[databases]
dbr_test = host=$DBR_TEST_PGSOCK port=$DBR_TEST_PGPORT dbname=dbr_test user=dbr

[pgbouncer]
pool_mode = transaction
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir/sock
auth_type = trust
auth_file = $dir/userlist.txt
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
max_client_conn = 200
default_pool_size = 20
server_login_retry = 1
server_check_delay = 1
INI
        if pgcluster_as_owner pgbouncer -d "$dir/pgbouncer.ini" >>"$dir/start.log" 2>&1 &&
            pgbouncer_wait_listening "$port"; then
            break
        fi
        pgbouncer_stop_daemon "$dir"
        if [ $tries -ge 5 ]; then
            echo "pgbouncer: it did not start; its log:" >&2
            cat "$dir/start.log" "$dir/pgbouncer.log" >&2 2>/dev/null
            return 1
        fi
    done
    PGBOUNCER_DIR=$dir
    export DBR_TEST_BOUNCER_CONNINFO="host=127.0.0.1 port=$port user=dbr dbname=dbr_test"
    echo "pgbouncer: $(pgbouncer --version | head -1), pool_mode = transaction, on port $port"
}

pgbouncer_wait_listening() { # port: up to 10 s
    local _
    for _ in $(seq 100); do
        pgcluster_port_free "$1" || return 0
        sleep 0.1
    done
    return 1
}

pgbouncer_stop_daemon() { # dir
    local pid _
    [ -f "$1/pgbouncer.pid" ] || return 0
    pid=$(cat "$1/pgbouncer.pid" 2>/dev/null) || return 0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

pgbouncer_stop() {
    [ -n "${PGBOUNCER_DIR:-}" ] || return 0
    pgbouncer_stop_daemon "$PGBOUNCER_DIR"
    PGBOUNCER_DIR=
}
