/* SPDX-License-Identifier: MIT */
/*
 * "Did you mean": edit distance (with transpositions, ignoring case)
 * between a misspelt name and the names that exist. Shared by the config
 * checks, the loader, the dbr tool and the pq driver's conninfo keywords
 * (common/: linked into each).
 */
#include <glib.h>
#include <string.h>

#include "suggest.h"

#define SUGGEST_MAX_LEN 64

/* Optimal string alignment distance of a and b (each at most SUGGEST_MAX_LEN). */
static size_t distance(const char *a, size_t la, const char *b, size_t lb)
{
    unsigned char d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1]; /* values <= 64 */

    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = g_ascii_tolower(a[i - 1]) != g_ascii_tolower(b[j - 1]);
            size_t v = MIN(MIN(d[i - 1][j] + 1u, d[i][j - 1] + 1u), d[i - 1][j - 1] + cost);

            if (i > 1 && j > 1 && g_ascii_tolower(a[i - 1]) == g_ascii_tolower(b[j - 2]) &&
                g_ascii_tolower(a[i - 2]) == g_ascii_tolower(b[j - 1]))
                v = MIN(v, d[i - 2][j - 2] + 1u);
            d[i][j] = (unsigned char)v;
        }
    }
    return d[la][lb];
}

const char *dbr_suggest(const char *word, const char *const *candidates)
{
    size_t lw = word ? strlen(word) : 0, best = (size_t)-1;
    const char *pick = NULL;

    if (!lw || lw > SUGGEST_MAX_LEN || !candidates)
        return NULL;
    for (const char *const *c = candidates; *c; c++) {
        size_t lc = strlen(*c), d, allowed;

        if (!lc || lc > SUGGEST_MAX_LEN || strcmp(*c, word) == 0)
            continue;
        /* A typo changes a letter or two; a longer name allows more. */
        allowed = lc < 5 ? 1 : lc < 12 ? 2 : 3;
        d = distance(word, lw, *c, lc);
        if (lw >= 3 && lw < lc && g_ascii_strncasecmp(*c, word, lw) == 0)
            d = MIN(d, 1); /* cut short: "max_open" for "max_open_conns" */
        if (d <= allowed && d < best) {
            best = d;
            pick = *c;
        }
    }
    return pick;
}
