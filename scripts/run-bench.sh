#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The benchmark of docs/performance.md on a throwaway local PostgreSQL:
#   scripts/run-bench.sh [dbr-bench arguments]    e.g. -n 5000 -r 21
#   scripts/run-bench.sh --threads [dbr-bench-threads arguments]   e.g. -s 1 -r 5
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/lib/deps.sh
. scripts/lib/deps.sh
deps_ensure
# shellcheck source=scripts/lib/pgcluster.sh
. scripts/lib/pgcluster.sh
trap pgcluster_stop EXIT INT TERM
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release -Dtests=enabled
ninja -C build-release >/dev/null
pgcluster_start
program=./build-release/tests/bench/dbr-bench
if [ "${1:-}" = --threads ]; then
    program=./build-release/tests/bench/dbr-bench-threads
    shift
fi
DBR_MODULE_PATH="$top/build-release/drivers:$top/build-release/plugins:$top/build-release/tests" \
    DBR_MODULE_SYSTEM_PATH='' "$program" "$@"
