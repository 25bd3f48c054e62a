#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian packages (libdbr0, libdbr-dev, dbr-tools) with
# dpkg-buildpackage from a copy of the tree, installs them with dpkg -i, and
# checks the installation as a user of the packages would: the tool and its
# manual pages are there, and examples/plugin builds against the installed
# libdbr-dev with nothing but pkg-config and loads into the installed dbr.
#
#   scripts/build-debs.sh [--keep] [--out DIR]
#     --out DIR   where the .deb files go (default: build-debs/ in the tree)
#     --keep      leave the packages installed (default: remove them again,
#                 unless they were installed before)
#
# Installing needs root (or sudo): CI runs it on a throwaway machine. Without
# either it stops with an error; it never skips a step silently.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build-debs keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --keep) keep=1 ;;
    --out) out=$(realpath -m "$2"); shift ;;
    -h | --help) sed -n '3,15p' "$0"; exit 0 ;;
    *) echo "build-debs.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "build-debs: $*"; }
die() { echo "build-debs: $*" >&2; exit 1; }

sudo=()
if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
        die "installing the packages needs root: run as root or with password-less sudo"
    fi
    sudo=(sudo -n)
fi

# shellcheck source=scripts/lib/deps.sh
. "$top/scripts/lib/deps.sh"
deps_ensure
deps_ensure "${DBR_DEBIAN_PACKAGING[@]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/dbr-debs.XXXXXX")
packages=(libdbr0 libdbr-dev dbr-tools) # the -dbgsym ones are built, not installed
preinstalled=()
cleanup() {
    local rc=$? p remove=()
    if [ $keep = 0 ]; then
        for p in "${packages[@]}"; do
            [[ " ${preinstalled[*]} " == *" $p "* ]] && continue
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' &&
                remove+=("$p")
        done
        [ ${#remove[@]} = 0 ] || "${sudo[@]}" dpkg --purge "${remove[@]}" >/dev/null
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT INT TERM
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' &&
        preinstalled+=("$p")
done

# A copy of the tree: dpkg-buildpackage writes the .debs beside the source
# directory, and the tree's own build directories must not leak in.
src=$work/dbr
mkdir -p "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked and new files as they are in the work tree (a deleted one is skipped)
    (cd "$top" && git ls-files -z --cached --others --exclude-standard |
        tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$src" -xf -
else
    tar -C "$top" --exclude='./build*' -cf - . | tar -C "$src" -xf -
fi

say "dpkg-buildpackage -us -uc -b (log: $out/dpkg-buildpackage.log)"
mkdir -p "$out"
rm -f "$out"/*.deb
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/dpkg-buildpackage.log" 2>&1; then
    tail -n 40 "$out/dpkg-buildpackage.log" >&2
    die "dpkg-buildpackage failed (whole log: $out/dpkg-buildpackage.log)"
fi
# -Dtests=disabled (debian/rules): meson never even looks for Check
grep -q "Dependency check skipped: feature tests disabled" "$out/dpkg-buildpackage.log" ||
    die "the package build looked for Check: -Dtests=disabled did not reach meson"
cp "$work"/*.deb "$out"/
for p in "${packages[@]}"; do
    ls "$out/${p}"_*.deb >/dev/null 2>&1 || die "no $p package was built"
done
ls -l "$out"/*.deb

say "dpkg -i ${packages[*]}"
debs=()
for p in "${packages[@]}"; do debs+=("$out/${p}"_*.deb); done
"${sudo[@]}" dpkg -i "${debs[@]}" >"$out/dpkg-i.log" 2>&1 ||
    { cat "$out/dpkg-i.log" >&2; die "dpkg -i failed"; }

# From here on, only what the packages installed: no build tree, no test paths.
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR LD_LIBRARY_PATH DBR_MODULE_PATH DBR_MODULE_SYSTEM_PATH
moduledir=$(pkg-config --variable=moduledir dbr)
[ -f "$moduledir/dbr-driver-pq.so" ] || die "no pq driver in moduledir $moduledir"
[ -f "$moduledir/dbr-driver-sqlite.so" ] || die "no sqlite driver in moduledir $moduledir"
for p in retry breaker health migrate log chaos timeout; do
    [ -f "$moduledir/dbr-plugin-$p.so" ] || die "no $p plugin in $moduledir"
done
dbr version
for page in man1/dbr.1.gz man5/dbr.ini.5.gz; do
    [ -f "/usr/share/man/$page" ] || die "manual page /usr/share/man/$page is not installed"
done
say "installed: libdbr $(pkg-config --modversion dbr), modules in $moduledir, dbr(1), dbr.ini(5)"

# examples/plugin against the installed libdbr-dev, both ways the guide shows
cp -r "$top/examples/plugin" "$work/plugin"
meson setup "$work/plugin/build" "$work/plugin" >"$work/plugin-setup.log" 2>&1 ||
    { cat "$work/plugin-setup.log" >&2; die "meson setup of examples/plugin failed"; }
ninja -C "$work/plugin/build" >"$work/plugin-ninja.log" 2>&1 ||
    { cat "$work/plugin-ninja.log" >&2; die "examples/plugin does not build against the package"; }
# shellcheck disable=SC2046
cc -shared -fPIC -fvisibility=hidden "$work/plugin/tagger.c" -o "$work/plugin/cc-tagger.so" \
    $(pkg-config --cflags --libs dbr)
chmod 755 "$work" "$work/plugin" "$work/plugin/build"
for so in "$work/plugin/build/dbr-plugin-tagger.so" "$work/plugin/cc-tagger.so"; do
    chmod 644 "$so"
    printf '[database]\ndriver = pq\nconninfo = dbname=app\n[chain]\nplugins = tagger, retry\n[plugin.tagger]\nmodule = %s\napplication = billing\n' \
        "$so" >"$work/check.ini"
    dbr check -c "$work/check.ini" >"$work/check.log" 2>&1 ||
        { cat "$work/check.log" >&2; die "the installed dbr does not load $so"; }
    grep -q "plugin tagger" "$work/check.log" || { cat "$work/check.log" >&2; die "no tagger in the chain"; }
    grep -q "driver pq .*($moduledir/dbr-driver-pq.so)" "$work/check.log" ||
        { cat "$work/check.log" >&2; die "the driver did not come from $moduledir"; }
done
say "examples/plugin built with pkg-config (meson and cc) and loaded by the installed dbr"
say "ok: $(cd "$out" && echo ./*.deb)"
