#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What dbr needs to build and test, installed with apt-get when missing
# (Debian 12). Source it and call deps_ensure.

DBR_DEBIAN_PACKAGES=(build-essential meson ninja-build pkg-config libglib2.0-dev libpq-dev libsqlite3-dev check
    postgresql postgresql-client valgrind curl procps libmicrohttpd-dev libjson-glib-dev
    prometheus clang-format shellcheck git locales pgbouncer pgbackrest perl)

# Only for building the .deb packages (scripts/build-debs.sh).
# shellcheck disable=SC2034
DBR_DEBIAN_PACKAGING=(debhelper dpkg-dev fakeroot man-db)

deps_missing() { # package names to check; default: DBR_DEBIAN_PACKAGES
    local p missing=()
    [ $# -gt 0 ] || set -- "${DBR_DEBIAN_PACKAGES[@]}"
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    echo "${missing[@]}"
}

deps_ensure() { # package names; default: DBR_DEBIAN_PACKAGES
    local missing sudo=()
    [ $# -gt 0 ] || set -- "${DBR_DEBIAN_PACKAGES[@]}"
    command -v dpkg-query >/dev/null 2>&1 || { echo "deps: not a Debian system; install: $*" >&2; return 0; }
    missing=$(deps_missing "$@")
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "deps: missing packages ($missing) and no sudo" >&2; return 1; }
        sudo=(sudo)
    fi
    echo "deps: installing $missing"
    "${sudo[@]}" apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends $missing
}
