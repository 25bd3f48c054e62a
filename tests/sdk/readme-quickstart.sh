#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs README.md's quick start as written, against the test server and the
# build tree: its shell blocks, its app.ini and app.c, and compares what it
# prints with what the README says it prints.
#   readme-quickstart.sh README.md BUILD_ROOT WORK_DIR
#
# Two things differ from a reader's machine, both outside the README's text:
# `sudo -u postgres CMD` runs CMD as the test server's superuser, and libpq's
# environment (PGHOST, PGPORT) points at the test server instead of the
# system one. dbr, pkg-config and the loader find the build tree through
# meson's uninstalled pkg-config file, as the README's install section shows.
set -euo pipefail
readme=$1 build=$2 work=$3
: "${DBR_TEST_PGSOCK:?run through scripts/run-tests.sh, which starts a throwaway PostgreSQL}"
rm -rf "$work"
mkdir -p "$work/blocks" "$work/run"
chmod 755 "$work" "$work/run"

# The quick start's fenced blocks in order: NN.LANG
awk -v dir="$work/blocks" '
    /^## / { inqs = ($0 == "## Quick start") }
    inqs && /^```/ && !inblock { inblock = 1; n++; lang = substr($0, 4); if (lang == "") lang = "out"
                                 file = sprintf("%s/%02d.%s", dir, n, lang); printf "" > file; next }
    inqs && /^```/ && inblock { inblock = 0; next }
    inblock { print > file }
' "$readme"
blocks=("$work"/blocks/*)
[ ${#blocks[@]} = 6 ] || { echo "expected 6 blocks in the quick start, found ${#blocks[@]}" >&2; exit 1; }
setup=${blocks[0]} ini=${blocks[1]} app=${blocks[2]} run=${blocks[3]} fail=${blocks[4]} expected=${blocks[5]}
cp "$ini" "$work/run/app.ini"
cp "$app" "$work/run/app.c"

export USER=dbr_quickstart_reader PGUSER=dbr_quickstart_reader
export PGHOST=$DBR_TEST_PGSOCK PGPORT=$DBR_TEST_PGPORT
export PKG_CONFIG_PATH=$build/meson-uninstalled LD_LIBRARY_PATH=$build/core
DBR_MODULE_PATH=$(pkg-config --variable=modulepath dbr)
export DBR_MODULE_PATH PATH=$build/tools:$PATH
sudo() { # sudo -u postgres CMD: CMD as the test server's superuser
    if [ "$1" != -u ] || [ "$2" != postgres ]; then
        echo "unexpected sudo $*" >&2
        return 1
    fi
    shift 2
    PGUSER=dbr "$@"
}
# In a sanitizer build, the README's cc links the sanitizer runtime too.
cc() { command cc "$@" ${DBR_TEST_SANITIZE:+-fsanitize=$DBR_TEST_SANITIZE}; }
cleanup() {
    PGUSER=dbr dropdb --if-exists dbr_quickstart 2>/dev/null || true
    PGUSER=dbr dropuser --if-exists "$USER" 2>/dev/null || true
}
cleanup
trap cleanup EXIT

cd "$work/run"
# shellcheck disable=SC1090
. "$setup"
# shellcheck disable=SC1090
. "$run" >"$work/run.out" 2>&1 || { cat "$work/run.out" >&2; echo "the run block failed" >&2; exit 1; }
cat "$work/run.out"
if ! grep -q "^plugin retry " "$work/run.out" || ! grep -q "^driver pq " "$work/run.out"; then
    echo "dbr check did not print the chain the README describes" >&2
    exit 1
fi
grep -qx "transferred" "$work/run.out" || { echo "./app did not print transferred" >&2; exit 1; }
if ! grep -Eq '^ +1 \| 900$' "$work/run.out" || ! grep -Eq '^ +2 \| 100$' "$work/run.out"; then
    echo "the table does not show 900 and 100" >&2
    exit 1
fi
set +e # the block shows a failing ./app and its exit status
# shellcheck disable=SC1090
. "$fail" >"$work/fail.out" 2>&1
set -e
cat "$work/fail.out"
grep -v '^DROP TABLE$' "$work/fail.out" >"$work/fail.cmp"
diff -u "$expected" "$work/fail.cmp" || { echo "the failure output differs from the README's" >&2; exit 1; }
echo "README quick start: ran as written, printed what it says"
