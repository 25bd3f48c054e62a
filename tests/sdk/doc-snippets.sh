#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Compiles every C block of a doc as shown, so the doc cannot rot.
#   doc-snippets.sh DOC.md SOURCE_ROOT BUILD_ROOT WORK_DIR [EXAMPLE.c]
#
# Consecutive ```c blocks make one file (a tutorial builds one plugin step
# by step); a line <!-- unit: NAME --> just before a block starts a new file.
# Each file is compiled as a shared object with -Wall -Wextra -Werror against
# the build tree's headers and libdbr. With EXAMPLE.c, the first file must
# also be that file, less its opening comment: the tutorial is the example.
set -euo pipefail
doc=$1 src=$2 build=$3 work=$4 example=${5:-}
rm -rf "$work"
mkdir -p "$work"
awk -v dir="$work" '
    /^<!-- unit: [A-Za-z0-9_-]+ -->$/ { unit = $3; next }
    /^```c$/ {
        inblock = 1
        if (unit == "") unit = "tutorial"
        file = dir "/" unit ".c"
        if (seen[file]++) print "" > file # blocks of one file are apart by a blank line
        next
    }
    /^```/ && inblock { inblock = 0; next }
    inblock { print > file }
' "$doc"
units=("$work"/*.c)
[ -e "${units[0]}" ] || { echo "doc-snippets.sh: no C block in $doc" >&2; exit 1; }
for c in "${units[@]}"; do
    if ! cc -std=c11 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -I"$src/include" \
        "$c" -o "${c%.c}.so" -L"$build/core" -ldbr 2>"${c%.c}.log"; then
        echo "doc-snippets.sh: the blocks of unit $(basename "${c%.c}") in $doc do not compile:" >&2
        cat -n "$c" >&2
        cat "${c%.c}.log" >&2
        exit 1
    fi
    echo "compiled: $(basename "$c") ($(grep -c '' "$c") lines)"
done
if [ -n "$example" ]; then
    # the example less its opening comment, which the tutorial tells in prose
    awk 'started || /^#include/ { started = 1; print }' "$example" >"$work/example-body.c"
    if ! diff -u "$work/example-body.c" "$work/tutorial.c"; then
        echo "doc-snippets.sh: the tutorial of $doc is no longer $example (diff above)" >&2
        exit 1
    fi
    echo "the tutorial is $example"
fi
