#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds dbr and runs every test suite against a throwaway PostgreSQL.
#
#   scripts/run-tests.sh            all: normal build, the Debian packages
#                                   (scripts/build-debs.sh), ASan/UBSan build,
#                                   ThreadSanitizer (pool and chain), valgrind
#   scripts/run-tests.sh --quick    the normal build only
#   scripts/run-tests.sh -- ARGS    extra arguments for `meson test` (e.g. a test name)
#
# On a fresh Debian 12 machine it installs what it needs with apt-get first.
# The cluster is created in a temporary directory (initdb, a unix socket and a
# free loopback port; as root the server runs as the "postgres" user) and is
# always removed at the end, pass or fail.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
quick=0
meson_args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --) shift; meson_args=("$@"); break ;;
    -h | --help) sed -n '3,13p' "$0"; exit 0 ;;
    *) echo "run-tests.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# shellcheck source=scripts/lib/deps.sh
. "$top/scripts/lib/deps.sh"
deps_ensure

# shellcheck source=scripts/lib/pgcluster.sh
. "$top/scripts/lib/pgcluster.sh"
# shellcheck source=scripts/lib/pgbouncer.sh
. "$top/scripts/lib/pgbouncer.sh"
trap pgcluster_stop EXIT INT TERM

build() { # dir, extra meson options...
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" --werror -Dtests=enabled "$@"
    else
        meson configure "$dir" --werror -Dtests=enabled "$@" >/dev/null
    fi
    ninja -C "$dir"
}

passed=0 failed=0
run_suite() { # label, dir, meson test options...
    local label=$1 dir=$2 log rc=0 ok bad
    shift 2
    echo "=== $label ==="
    log=$(mktemp)
    meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" "${meson_args[@]}" | tee "$log" ||
        rc=$?
    ok=$(awk '/^Ok:/ { print $2 }' "$log")
    bad=$(awk '/^(Fail|Timeout|Unexpected Pass):/ { n += $NF } END { print n + 0 }' "$log")
    passed=$((passed + ${ok:-0}))
    failed=$((failed + bad))
    rm -f "$log"
    if [ "$rc" != 0 ]; then
        echo "$passed passed, $((failed > 0 ? failed : 1)) failed"
        exit "$rc"
    fi
}

lint() {
    local files
    echo "=== lint ==="
    # The repository's own files; without git (a tarball), every file under it.
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        files=$(git ls-files '*.c' '*.h')
    else
        files=$(find common core drivers plugins tools tests examples include -name '*.[ch]')
    fi
    if command -v clang-format >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        clang-format --dry-run -Werror $files
        echo "clang-format: every C file follows .clang-format"
    fi
    if command -v shellcheck >/dev/null 2>&1; then
        shellcheck -x scripts/*.sh scripts/lib/*.sh tests/dr/*.sh tests/sdk/*.sh tests/lint/*.sh .ci/run
        echo "shellcheck: clean"
    fi
    scripts/lint-neutral.sh
}

pgcluster_start
pgbouncer_start

lint
build build
run_suite "tests" build
if [ $quick = 0 ]; then
    echo "=== Debian packages ==="
    "$top/scripts/build-debs.sh"
    build build-sanitize -Dsanitize=address,undefined
    # the dr suite is shell scripts: nothing of ours for a sanitizer to watch.
    # intercept_tls_get_addr=0: GCC 12's LeakSanitizer mistracks the dynamic
    # TLS that libgnutls (pulled in by libpq through libldap) first touches in
    # its destructor at exit, and crashes its own leak check on it
    # ("Tracer caught signal 11"); valgrind's stage still checks for leaks.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:intercept_tls_get_addr=0 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_suite "tests under ASan and UBSan" build-sanitize --no-suite dr
    # ThreadSanitizer on what threads share: the pool, the chain, the close
    # barrier. Only those programs and the modules they load are built.
    # G_SLICE=always-malloc: GSlice's magazines move memory between threads
    # under locks inside libglib that the annotations cannot see.
    echo "=== ThreadSanitizer build ==="
    tsan_tests=(pool chain abi retry pg_pool)
    if [ ! -f build-tsan/build.ninja ]; then
        meson setup build-tsan --werror -Dtests=enabled -Dsanitize=thread >/dev/null
    fi
    # shellcheck disable=SC2046
    ninja -C build-tsan $(ninja -C build-tsan -t targets all |
        awk -F: '$1 ~ /\.so$/ && $1 !~ /\.p\// { print $1 }') tools/dbr \
        "${tsan_tests[@]/#/tests/test_}"
    G_SLICE=always-malloc TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        run_suite "pool and chain tests under ThreadSanitizer" build-tsan --no-rebuild \
        "${tsan_tests[@]}"
    run_suite "tests under valgrind" build --setup valgrind --no-suite dr
fi
echo "run-tests.sh: every suite passed (suite runs counted across the builds)"
echo "$passed passed, $failed failed"
