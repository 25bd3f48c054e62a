/* SPDX-License-Identifier: MIT */
/*
 * dbr/sql.h - reading SQL text, for the core, drivers and plugins.
 *
 * Only what deciding about a statement needs without parsing it: its
 * leading keywords. Thread-safe, allocation-free.
 */
#ifndef DBR_SQL_H
#define DBR_SQL_H

#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Copies the next word of sql (ASCII letters only, in lower case, at most
 * len - 1 of them; a longer word is cut) into word, skipping blanks, empty
 * statements (`;`), `--` comments (to the end of the line, \r or \n) and
 * C-style comments, nested, as PostgreSQL's lexer reads them. Returns
 * the text after the whole word, for the next call; word is "" when the
 * next thing is not a letter. sql and word must not be NULL, len > 0.
 */
DBR_API const char *dbr_sql_next_word(const char *sql, char *word, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* DBR_SQL_H */
