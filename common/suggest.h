/* SPDX-License-Identifier: MIT */
/* "Did you mean": the known name nearest a misspelt one. */
#ifndef DBR_COMMON_SUGGEST_H
#define DBR_COMMON_SUGGEST_H

#include <stddef.h>

/* The candidate (from the NULL-terminated list) nearest to word, when it is
 * near enough to be a typo of it (a small edit distance, ignoring case, or
 * word cut short), else NULL. The result points into candidates. Words
 * longer than 64 bytes get no suggestion. */
const char *dbr_suggest(const char *word, const char *const *candidates);

#endif
