/* SPDX-License-Identifier: MIT */
/*
 * Literal redaction for logged SQL: a log line must show the shape of a
 * statement, never the data in it (a password in an UPDATE, a card number
 * in a WHERE). Built on the core's lexer (dbr/sql.h) so that it reads
 * SQL exactly as the splitter of migrations and the server do.
 */
#include <glib.h>
#include <string.h>

#include <dbr/sql.h>

#include "redact_sql.h"

char *log_redact_sql(const char *sql)
{
    size_t len = strlen(sql), pos = 0;
    GString *out = g_string_sized_new(len);
    dbr_sql_token t;

    for (;;) {
        pos = dbr_sql_lex(sql, len, pos, &t);
        switch (t.kind) {
        case DBR_SQL_END:
            return g_string_free(out, FALSE);
        case DBR_SQL_STRING:
            g_string_append(out, "'?'");
            break;
        case DBR_SQL_DOLLAR_STRING:
            g_string_append(out, "$$?$$");
            break;
        case DBR_SQL_NUMBER:
            g_string_append_c(out, '?');
            break;
        case DBR_SQL_COMMENT:
            g_string_append(out, "/*?*/");
            break;
        default:
            g_string_append_len(out, sql + t.start, (gssize)t.len);
            break;
        }
    }
}

char *log_first_word(const char *sql)
{
    char word[32];

    dbr_sql_next_word(sql, word, sizeof(word));
    return g_strdup_printf("%s ... (the rest not logged: the server could not parse it)", word);
}

/* The first quote of a message, in any server language: ASCII quotes and
 * the guillemets and curly quotes of translated messages. */
static const char *first_quote(const char *m)
{
    static const char *const quotes[] = {"\"",     "'",      "\u00bb", "\u00ab", "\u201e", "\u201c",
                                         "\u201d", "\u2018", "\u2019", "\u2039", "\u203a"};
    const char *first = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(quotes); i++) {
        const char *q = strstr(m, quotes[i]);

        if (q && (!first || q < first))
            first = q;
    }
    return first;
}

char *log_redact_server_message(const char *message, const char *sqlstate)
{
    const char *q;

    if (!message)
        return g_strdup("");
    /* Data exceptions quote the value, and a syntax error quotes the SQL
     * around the error, literals included: both are cut at the first
     * quote, whatever the language. */
    if (!sqlstate || (strncmp(sqlstate, "22", 2) != 0 && strcmp(sqlstate, "42601") != 0))
        return g_strdup(message);
    q = first_quote(message);
    if (!q)
        return g_strdup(message);
    return g_strdup_printf("%.*s(not logged: it may quote data)", (int)(q - message), message);
}
