#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The example of dbr.ini(5) loads: `dbr check` accepts it as printed.
#   man-example.sh DBR_TOOL MAN_PAGE WORK_DIR
set -euo pipefail
tool=$1 page=$2 work=$3
mkdir -p "$work"
awk '/^\.SH EXAMPLES/ { f = 1 } f && /^\.nf/ { p = 1; next } p && /^\.fi/ { exit } p' "$page" |
    sed 's/\\-/-/g' >"$work/example.ini"
grep -q '^\[database\]' "$work/example.ini" || { echo "man-example.sh: no example in $page" >&2; exit 1; }
"$tool" check -c "$work/example.ini"
