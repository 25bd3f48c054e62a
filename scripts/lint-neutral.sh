#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The core, the plugins, common/ and the public headers are driver-neutral:
# what is specific to one database lives in drivers/. Fails, naming file and
# line, when the code (comments stripped) of a .c or .h under core/,
# plugins/, common/ or include/ names a backend: postgres, libpq, pgbouncer,
# sqlite, pg_ at the start of a word or after '_' (case-insensitive), or a
# libpq function (PQ and a lowercase letter). Comments may still cite a
# database as the source of a rule they borrow (core/sql_lexer.c follows
# PostgreSQL's scanner); code and strings may not.
#   lint-neutral.sh [SOURCE_ROOT]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

# Prints "file:line: text" for every code line of $1 that names a backend.
# The comments are replaced by as many newlines as they held, so line
# numbers stay true; string and character literals are kept whole (a "/*"
# inside one is text). gcc -fpreprocessed -E would do the same but refuses a
# '#' that begins a continued line of a macro (core/db.c's REQUIRED).
scan() {
    perl -0777 -ne '
        s{/\*.*?\*/|//[^\n]*|("(?:\\.|[^"\\\n])*"|\x27(?:\\.|[^\x27\\\n])*\x27)}
         {defined $1 ? $1 : "\n" x (() = $& =~ /\n/g)}gse;
        my $n = 0;
        for my $l (split /\n/, $_, -1) {
            $n++;
            print "$ARGV:$n: $l\n"
                if $l =~ /postgres|libpq|pgbouncer|sqlite|(?:\b|_)pg_/i || $l =~ /PQ[a-z]/;
        }' "$1"
}

found=0
while IFS= read -r f; do
    hits=$(scan "$f")
    if [ -n "$hits" ]; then
        printf '%s\n' "$hits"
        found=1
    fi
done < <(find core plugins common include -name '*.[ch]' | sort)

if [ $found = 1 ]; then
    echo "lint-neutral.sh: the lines above name a database backend outside drivers/: move the" \
        "code into the driver (a driver slot), or word it in the driver's generic terms" >&2
    exit 1
fi
echo "lint-neutral.sh: core/, plugins/, common/ and include/ name no backend outside comments"
