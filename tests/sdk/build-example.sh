#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The SDK test's build step: installs dbr from BUILD_DIR into a temporary
# root, then builds examples/plugin against that installation with nothing
# but pkg-config -- once with its own meson.build, once with the one-line cc
# recipe of docs/writing-plugins.md. Prints the two plugin paths.
#   build-example.sh BUILD_DIR SOURCE_ROOT WORK_DIR
set -euo pipefail
build=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"
meson install -C "$build" --no-rebuild --destdir "$work/root" >"$work/install.log"
pcdir=$(dirname "$(find "$work/root" -name dbr.pc | head -n 1)")
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$work/root
# meson's own pkg-config lookups see the same environment
meson setup "$work/build" "$src/examples/plugin" >"$work/setup.log"
ninja -C "$work/build" >"$work/ninja.log"
# shellcheck disable=SC2046
cc -shared -fPIC -fvisibility=hidden "$src/examples/plugin/tagger.c" -o "$work/cc-tagger.so" \
    $(pkg-config --cflags --libs dbr)
chmod 644 "$work/build/dbr-plugin-tagger.so" "$work/cc-tagger.so"
echo "$work/build/dbr-plugin-tagger.so"
echo "$work/cc-tagger.so"
