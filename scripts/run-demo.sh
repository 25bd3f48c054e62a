#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The dbr demo on a throwaway local PostgreSQL:
#   scripts/run-demo.sh [ROUNDS]
# Builds dbr, starts a temporary cluster, writes a config file for it, and
# runs examples/demo.c: a 4-thread workload during which every backend of the
# database is killed with pg_terminate_backend. It prints what it retried,
# that it carried on, the pool stats and the metrics. The cluster is removed
# afterwards.
#   scripts/run-demo.sh --sqlite [ROUNDS]
# The same workload on an SQLite file in a temporary directory, no server:
# halfway through, one connection holds the write lock for 500 ms and the
# writers' lock contention is retried.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sqlite=0
if [ "${1:-}" = --sqlite ]; then
    sqlite=1
    shift
fi
# shellcheck source=scripts/lib/deps.sh
. scripts/lib/deps.sh
deps_ensure

if [ "$sqlite" = 1 ]; then
    [ -f build/build.ninja ] || meson setup build
    ninja -C build >/dev/null
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT INT TERM
    config="$dir/demo.ini"
    cat >"$config" <<INI
# The demo's config on SQLite: a short busy timeout, so that a writer meeting
# the held write lock fails fast (nothing applied) and the retry plugin tries
# again. See docs/writing-drivers.md, "The SQLite driver".
[database]
driver = sqlite
conninfo = file:$dir/demo.db?mode=rwc&_busy_timeout=100
max_open_conns = 4
max_idle_conns = 4

[chain]
plugins = retry, breaker
path = $top/build/plugins

[plugin.retry]
max_attempts = 8
initial_interval = 10ms
max_interval = 200ms

[plugin.breaker]
max_failures = 10
timeout = 5s
INI
    echo "config ($config):"
    sed 's/^/  /' "$config"
    echo
    DBR_MODULE_PATH="$top/build/drivers:$top/build/plugins" ./build/examples/dbr-demo "$config" "${1:-400}"
    exit
fi
# shellcheck source=scripts/lib/pgcluster.sh
. scripts/lib/pgcluster.sh
trap pgcluster_stop EXIT INT TERM

[ -f build/build.ninja ] || meson setup build
ninja -C build >/dev/null
pgcluster_start

config="$PGCLUSTER_BASE/demo.ini"
cat >"$config" <<INI
# The demo's config: the PostgreSQL driver, a small pool, retry outside a
# circuit breaker. See docs/configuration.md and docs/retry-and-breaker.md.
[database]
driver = pq
conninfo = $DBR_TEST_CONNINFO application_name=dbr-demo
max_open_conns = 4
max_idle_conns = 4
conn_max_lifetime = 5m
conn_max_idle_time = 1m

[chain]
plugins = retry, breaker
path = $top/build/plugins

[plugin.retry]
max_attempts = 5
initial_interval = 10ms
max_interval = 500ms
resolve_commit = true

[plugin.breaker]
max_failures = 10
timeout = 5s
INI
echo "config ($config):"
sed 's/^/  /' "$config"
echo
DBR_MODULE_PATH="$top/build/drivers:$top/build/plugins" ./build/examples/dbr-demo "$config" "${1:-400}"
