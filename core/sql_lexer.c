/* SPDX-License-Identifier: MIT */
/*
 * SQL tokens and statements (include/dbr/sql.h), cut where PostgreSQL's
 * scanner (src/backend/parser/scan.l) cuts them and split where psql
 * (src/fe_utils/psqlscan.l) splits a script. Learned from those two files;
 * this is a reading of their rules, not their code.
 *
 * One lexer for the whole project: the migrate plugin splits no-transaction
 * files with it, the log plugin redacts literals with it, and its fuzz test
 * (tests/unit/test_sql_lexer.c) checks both uses against SQL built with
 * known boundaries.
 */
#include <glib.h>
#include <string.h>

#include <dbr/sql.h>

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool ident_start(unsigned char c)
{
    return g_ascii_isalpha(c) || c == '_' || c >= 0x80;
}

static bool ident_cont(unsigned char c)
{
    return ident_start(c) || g_ascii_isdigit(c) || c == '$';
}

static bool operator_char(unsigned char c)
{
    return c && strchr("~!@#^&|`?+-*/%<>=", c) != NULL;
}

/* From p, just past an opening quote q, to just past the closing one.
 * doubled: "qq" stands for q; backslash: \x escapes any byte (E'' only). */
static size_t quoted(const char *s, size_t len, size_t p, char q, bool doubled, bool backslash,
                     bool *unterminated)
{
    while (p < len) {
        if (backslash && s[p] == '\\' && p + 1 < len) {
            p += 2;
        } else if (s[p] == q) {
            if (doubled && p + 1 < len && s[p + 1] == q)
                p += 2;
            else
                return p + 1;
        } else {
            p++;
        }
    }
    *unterminated = true;
    return len;
}

/* The length of a dollar-quote delimiter ($$ or $tag$) at p, or 0. */
static size_t dollar_delimiter(const char *s, size_t len, size_t p)
{
    size_t q = p + 1;

    if (q < len && ident_start((unsigned char)s[q])) {
        q++;
        while (q < len && (ident_cont((unsigned char)s[q]) && s[q] != '$'))
            q++;
    }
    return q < len && s[q] == '$' ? q + 1 - p : 0;
}

static size_t dollar_string(const char *s, size_t len, size_t p, size_t dlen, bool *unterminated)
{
    for (size_t q = p + dlen; q + dlen <= len; q++)
        if (s[q] == '$' && memcmp(s + q, s + p, dlen) == 0)
            return q + dlen;
    *unterminated = true;
    return len;
}

static size_t block_comment(const char *s, size_t len, size_t p, bool *unterminated)
{
    int depth = 0;

    while (p + 1 < len) {
        if (s[p] == '/' && s[p + 1] == '*') {
            depth++;
            p += 2;
        } else if (s[p] == '*' && s[p + 1] == '/') {
            p += 2;
            if (--depth == 0)
                return p;
        } else {
            p++;
        }
    }
    *unterminated = true;
    return len;
}

/* Digits, with whatever letters, digits and underscores are glued to them
 * (0x1F, 1_000, 1e-5): hiding too much of a literal is the safe mistake. */
static size_t number(const char *s, size_t len, size_t p)
{
    bool dot = false;

    while (p < len) {
        unsigned char c = (unsigned char)s[p];

        if (g_ascii_isalnum(c) || c == '_') {
            p++;
            if ((c == 'e' || c == 'E') && p < len && (s[p] == '+' || s[p] == '-') && p + 1 < len &&
                g_ascii_isdigit(s[p + 1]))
                p++;
        } else if (c == '.' && !dot && !(p + 1 < len && s[p + 1] == '.')) {
            /* "1..5" is 1, "..", 5 (a PL/pgSQL range) */
            dot = true;
            p++;
        } else {
            break;
        }
    }
    return p;
}

static size_t operator_run(const char *s, size_t len, size_t p)
{
    size_t q = p;

    while (q < len && operator_char((unsigned char)s[q])) {
        /* a comment starts inside the run: the operator ends before it */
        if (q > p && q + 1 < len &&
            ((s[q] == '-' && s[q + 1] == '-') || (s[q] == '/' && s[q + 1] == '*')))
            break;
        q++;
    }
    return q;
}

size_t dbr_sql_lex(const char *s, size_t len, size_t pos, dbr_sql_token *tok)
{
    size_t p = pos, end;
    unsigned char c, n;
    dbr_sql_token t = {.kind = DBR_SQL_END, .start = pos};

    if (!s || pos >= len) {
        t.start = len;
        *tok = t;
        return s ? len : 0;
    }
    c = (unsigned char)s[p];
    n = p + 1 < len ? (unsigned char)s[p + 1] : 0;
    if (is_space(c)) {
        t.kind = DBR_SQL_SPACE;
        end = p + 1;
        while (end < len && is_space((unsigned char)s[end]))
            end++;
    } else if (c == '-' && n == '-') {
        t.kind = DBR_SQL_COMMENT;
        end = p + 2;
        while (end < len && s[end] != '\n' && s[end] != '\r')
            end++;
    } else if (c == '/' && n == '*') {
        t.kind = DBR_SQL_COMMENT;
        end = block_comment(s, len, p, &t.unterminated);
    } else if (c == '\'') {
        t.kind = DBR_SQL_STRING;
        end = quoted(s, len, p + 1, '\'', true, false, &t.unterminated);
    } else if ((c == 'E' || c == 'e') && n == '\'') {
        t.kind = DBR_SQL_STRING;
        end = quoted(s, len, p + 2, '\'', true, true, &t.unterminated);
    } else if ((c == 'N' || c == 'n') && n == '\'') {
        t.kind = DBR_SQL_STRING;
        end = quoted(s, len, p + 2, '\'', true, false, &t.unterminated);
    } else if ((c == 'B' || c == 'b' || c == 'X' || c == 'x') && n == '\'') {
        t.kind = DBR_SQL_STRING; /* bits and hex: no quote inside at all */
        end = quoted(s, len, p + 2, '\'', false, false, &t.unterminated);
    } else if ((c == 'U' || c == 'u') && n == '&' && p + 2 < len &&
               (s[p + 2] == '\'' || s[p + 2] == '"')) {
        t.kind = s[p + 2] == '\'' ? DBR_SQL_STRING : DBR_SQL_QUOTED_NAME;
        end = quoted(s, len, p + 3, s[p + 2], true, false, &t.unterminated);
    } else if (c == '"') {
        t.kind = DBR_SQL_QUOTED_NAME;
        end = quoted(s, len, p + 1, '"', true, false, &t.unterminated);
    } else if (ident_start(c)) {
        t.kind = DBR_SQL_WORD;
        end = p + 1;
        while (end < len && ident_cont((unsigned char)s[end]))
            end++;
    } else if (c == '$' && g_ascii_isdigit(n)) {
        t.kind = DBR_SQL_PARAM;
        end = p + 1;
        while (end < len && g_ascii_isdigit(s[end]))
            end++;
    } else if (c == '$' && dollar_delimiter(s, len, p)) {
        t.kind = DBR_SQL_DOLLAR_STRING;
        end = dollar_string(s, len, p, dollar_delimiter(s, len, p), &t.unterminated);
    } else if (g_ascii_isdigit(c) || (c == '.' && g_ascii_isdigit(n))) {
        t.kind = DBR_SQL_NUMBER;
        end = number(s, len, p);
    } else if (c == ';') {
        t.kind = DBR_SQL_SEMICOLON;
        end = p + 1;
    } else if (operator_char(c)) {
        t.kind = DBR_SQL_OPERATOR;
        end = operator_run(s, len, p);
    } else {
        t.kind = DBR_SQL_PUNCTUATION;
        end = p + 1;
    }
    t.len = end - p;
    *tok = t;
    return end;
}

/* The words psql looks at to know a statement is CREATE [OR REPLACE]
 * FUNCTION/PROCEDURE, whose BEGIN ... END body holds semicolons. */
enum { W_OTHER, W_CREATE, W_OR, W_REPLACE, W_ROUTINE };

static int word_code(const char *w, size_t n)
{
    if (n == 6 && g_ascii_strncasecmp(w, "create", 6) == 0)
        return W_CREATE;
    if (n == 2 && g_ascii_strncasecmp(w, "or", 2) == 0)
        return W_OR;
    if (n == 7 && g_ascii_strncasecmp(w, "replace", 7) == 0)
        return W_REPLACE;
    if ((n == 8 && g_ascii_strncasecmp(w, "function", 8) == 0) ||
        (n == 9 && g_ascii_strncasecmp(w, "procedure", 9) == 0))
        return W_ROUTINE;
    return W_OTHER;
}

static bool is_word(const char *s, const dbr_sql_token *t, const char *w)
{
    return t->len == strlen(w) && g_ascii_strncasecmp(s + t->start, w, t->len) == 0;
}

bool dbr_sql_next_statement(const char *s, size_t len, size_t *pos, dbr_sql_statement *out)
{
    dbr_sql_statement st = {0};
    dbr_sql_token t;
    size_t p = pos ? *pos : len;
    int words[4], nwords = 0, parens = 0, begins = 0;
    bool started = false, routine = false;

    if (!s || !pos || !out) {
        if (pos)
            *pos = len;
        return false;
    }
    for (;;) {
        p = dbr_sql_lex(s, len, p, &t);
        if (t.kind == DBR_SQL_END)
            break;
        if (t.kind == DBR_SQL_SPACE || t.kind == DBR_SQL_COMMENT) {
            st.unterminated |= started && t.unterminated;
            continue;
        }
        if (t.kind == DBR_SQL_SEMICOLON && parens == 0 && begins == 0) {
            if (started)
                break;
            continue; /* an empty statement */
        }
        if (!started) {
            started = true;
            st.start = t.start;
        }
        st.len = t.start + t.len - st.start;
        st.unterminated |= t.unterminated;
        if (t.kind == DBR_SQL_PUNCTUATION && s[t.start] == '(') {
            parens++;
        } else if (t.kind == DBR_SQL_PUNCTUATION && s[t.start] == ')') {
            if (parens > 0)
                parens--;
        } else if (t.kind == DBR_SQL_WORD) {
            if (nwords < 4) {
                words[nwords++] = word_code(s + t.start, t.len);
                routine =
                    words[0] == W_CREATE && ((nwords >= 2 && words[1] == W_ROUTINE) ||
                                             (nwords >= 4 && words[1] == W_OR &&
                                              words[2] == W_REPLACE && words[3] == W_ROUTINE));
            }
            if (routine && parens == 0) {
                if (is_word(s, &t, "begin"))
                    begins++;
                else if (is_word(s, &t, "case") && begins > 0)
                    begins++; /* CASE ends with END too */
                else if (is_word(s, &t, "end") && begins > 0)
                    begins--;
            }
        }
    }
    *pos = p;
    if (!started)
        return false;
    *out = st;
    return true;
}
