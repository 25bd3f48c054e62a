#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds examples/plugin against the build tree, not an installation, with
# meson's uninstalled pkg-config file (meson-uninstalled/dbr-uninstalled.pc),
# as README.md shows: with its meson.build (which reads moduledir) and with
# the one-line cc recipe. Then the build tree's dbr loads both, finding the
# driver through the file's modulepath variable.
#   build-uninstalled.sh BUILD_ROOT SOURCE_ROOT WORK_DIR DBR_TOOL
set -euo pipefail
build=$1 src=$2 work=$3 tool=$4
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"
export PKG_CONFIG_PATH=$build/meson-uninstalled
pkg-config --variable=moduledir dbr | grep -q . || { echo "no moduledir variable" >&2; exit 1; }
meson setup "$work/build" "$src/examples/plugin" >"$work/setup.log" 2>&1 ||
    { cat "$work/setup.log" >&2; exit 1; }
ninja -C "$work/build" >"$work/ninja.log" 2>&1 || { cat "$work/ninja.log" >&2; exit 1; }
# shellcheck disable=SC2046
cc -shared -fPIC -fvisibility=hidden "$src/examples/plugin/tagger.c" -o "$work/cc-tagger.so" \
    $(pkg-config --cflags --libs dbr)
DBR_MODULE_PATH=$(pkg-config --variable=modulepath dbr)
export DBR_MODULE_PATH
for so in "$work/build/dbr-plugin-tagger.so" "$work/cc-tagger.so"; do
    chmod 644 "$so"
    printf '[database]\ndriver = pq\nconninfo = dbname=app\n[chain]\nplugins = tagger\n[plugin.tagger]\nmodule = %s\napplication = billing\n' \
        "$so" >"$work/check.ini"
    "$tool" check -c "$work/check.ini" | tee "$work/check.log"
    grep -q "plugin tagger" "$work/check.log"
    grep -q "driver pq .*($build/drivers/dbr-driver-pq.so)" "$work/check.log"
done
echo "examples/plugin built against $PKG_CONFIG_PATH/dbr-uninstalled.pc and loaded"
