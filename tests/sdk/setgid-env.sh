#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A setgid program ignores $DBR_MODULE_PATH (secure_getenv): a caller's
# environment must not choose the code it runs with the program's group.
# Builds a program that opens a db with the fake driver, which only
# $DBR_MODULE_PATH finds: it must open as a plain program and be refused,
# naming the ignored variable, once setgid to another group.
#   setgid-env.sh BUILD_ROOT WORK_DIR
set -euo pipefail
build=$1 work=$2
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"
# A group other than ours: as root any (nogroup), else a supplementary one.
if [ "$(id -u)" = 0 ]; then
    group=$(getent group nogroup >/dev/null && echo nogroup || echo 65534)
else
    group=$(id -G | tr ' ' '\n' | grep -vx "$(id -g)" | head -n 1 || true)
    [ -n "$group" ] || { echo "setgid-env.sh: needs root or a supplementary group to make a setgid program" >&2; exit 1; }
fi
cat >"$work/open.c" <<'C'
#include <dbr/dbr.h>
#include <stdio.h>

int main(void)
{
    dbr_error *err = NULL;
    dbr_db *db = dbr_open_string("[database]\ndriver = fake\nconnect_on_open = false\n", &err);

    if (!db) {
        printf("refused: %s\n", dbr_error_message(err));
        dbr_error_free(err);
        return 1;
    }
    printf("opened\n");
    dbr_close(db);
    return 0;
}
C
# an absolute RUNPATH: a secure program ignores LD_LIBRARY_PATH and $ORIGIN
# shellcheck disable=SC2046
cc "$work/open.c" -o "$work/open" $(PKG_CONFIG_PATH=$build/meson-uninstalled pkg-config --cflags --libs dbr) \
    -Wl,-rpath,"$build/core" ${DBR_TEST_SANITIZE:+-fsanitize=$DBR_TEST_SANITIZE}
export DBR_MODULE_PATH=$build/tests DBR_MODULE_SYSTEM_PATH=
"$work/open" | tee "$work/plain.out"
grep -qx opened "$work/plain.out"
chgrp "$group" "$work/open"
chmod 2755 "$work/open"
if "$work/open" >"$work/setgid.out"; then
    cat "$work/setgid.out"
    echo "setgid-env.sh: a setgid program loaded a module from \$DBR_MODULE_PATH" >&2
    exit 1
fi
cat "$work/setgid.out"
grep -q 'DBR_MODULE_PATH (ignored: a setuid or setgid program)' "$work/setgid.out"
