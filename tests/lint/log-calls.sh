#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every log line of the core, the drivers and the plugins goes through
# dbr_log() (dbr/log.h), so an application's handler sees all of them:
# fails when a GLib log macro or a write to stderr appears there instead.
#   log-calls.sh SOURCE_ROOT
set -euo pipefail
cd "$1"
pattern='\bg_(warning|message|info|debug|critical|error|log|log_structured|printerr|print)[[:space:]]*\(|\bfprintf[[:space:]]*\([[:space:]]*stderr|\bperror[[:space:]]*\('
if grep -rnE "$pattern" common core drivers plugins --include='*.c' --include='*.h'; then
    echo "log-calls.sh: the lines above bypass dbr_log() (include/dbr/log.h)" >&2
    exit 1
fi
echo "log-calls.sh: every log line of common/, core/, drivers/ and plugins/ goes through dbr_log()"
