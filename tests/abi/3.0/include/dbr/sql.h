/* SPDX-License-Identifier: MIT */
/*
 * dbr/sql.h - reading SQL text, for the core, drivers and plugins.
 *
 * A lexer that reads SQL text the way PostgreSQL's own scanner (scan.l)
 * cuts it into tokens, a statement splitter on top of it (psql's rules,
 * BEGIN ATOMIC bodies included), and the leading keywords of a statement.
 * No parsing: enough to split a script, redact its literals and decide
 * about a statement. Everything here is thread-safe, allocation-free and
 * never reads past the length it is given.
 *
 * Assumes standard_conforming_strings = on (PostgreSQL's default since 9.1):
 * a backslash is an escape only in E'...' strings.
 */
#ifndef DBR_SQL_H
#define DBR_SQL_H

#include <stdbool.h>
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

/* What a token is. The list may grow at the end. */
typedef enum dbr_sql_token_kind {
    DBR_SQL_END = 0,       /* no more text */
    DBR_SQL_SPACE,         /* blanks: space, \t, \n, \r, \f, \v */
    DBR_SQL_COMMENT,       /* -- to the end of the line, or a nested C-style comment */
    DBR_SQL_WORD,          /* a keyword or an unquoted name (letters, digits, _, $) */
    DBR_SQL_QUOTED_NAME,   /* "name" or U&"name" ("" inside stands for ") */
    DBR_SQL_STRING,        /* 'text', E'text', N'text', U&'text', B'0101', X'ff' */
    DBR_SQL_DOLLAR_STRING, /* $$text$$ or $tag$text$tag$ */
    DBR_SQL_NUMBER,        /* 42, 3.5, .5e-3, 0x1F, 1_000 */
    DBR_SQL_PARAM,         /* $1 */
    DBR_SQL_SEMICOLON,     /* ; */
    DBR_SQL_OPERATOR,      /* a run of operator characters: + - * / < > = ~ ! @ # % ^ & | ` ? */
    DBR_SQL_PUNCTUATION,   /* one of ( ) [ ] , : . or any other byte */
} dbr_sql_token_kind;

/* One token: bytes [start, start + len) of the text. This struct never
 * grows; new facts come through new functions. */
typedef struct dbr_sql_token {
    dbr_sql_token_kind kind;
    size_t start, len;
    bool unterminated; /* a string, quoted name or comment cut off by the end of the text */
} dbr_sql_token;

/*
 * Reads the token of sql[0, len) that starts at byte pos into *tok and
 * returns the position after it (pos itself, with kind DBR_SQL_END, at the
 * end). Tokens tile the text: every byte belongs to exactly one, so a loop
 * that starts at 0 and feeds each return value back visits the whole text.
 * NUL bytes are ordinary bytes here. sql may be NULL only when len is 0.
 */
DBR_API size_t dbr_sql_lex(const char *sql, size_t len, size_t pos, dbr_sql_token *tok);

/* One statement of a script: bytes [start, start + len), from its first
 * token that is not blank or a comment to the end of its last one, without
 * the semicolon. Never grows. */
typedef struct dbr_sql_statement {
    size_t start, len;
    bool unterminated; /* it ends inside a string, quoted name or comment */
} dbr_sql_statement;

/*
 * Finds the next statement of sql[0, len) at or after *pos, as psql splits
 * a script: at semicolons outside strings, comments and parentheses, and
 * outside the BEGIN ... END body of CREATE [OR REPLACE] FUNCTION/PROCEDURE
 * (BEGIN ATOMIC, SQL-standard bodies). Empty statements and text that is
 * only blanks and comments are skipped. Returns false when no statement is
 * left; otherwise fills *out and moves *pos past the statement's semicolon.
 * Start with *pos = 0.
 */
DBR_API bool dbr_sql_next_statement(const char *sql, size_t len, size_t *pos,
                                    dbr_sql_statement *out);

#ifdef __cplusplus
}
#endif

#endif /* DBR_SQL_H */
