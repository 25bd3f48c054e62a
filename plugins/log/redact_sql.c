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

/* The quotes of server messages, in any language, with their closers. */
static const struct {
    const char *open, *close;
} quotes[] = {
    {"\"", "\""},         {"'", "'"},           {"\u00bb", "\u00ab"},
    {"\u00ab", "\u00bb"},                       /* German », French « */
    {"\u201e", "\u201c"}, {"\u201c", "\u201d"}, /* „…“ and “…” */
    {"\u2018", "\u2019"}, {"\u2039", "\u203a"}, {"\u203a", "\u2039"},
};

/* The first opening quote at or after m, and which one; NULL if none. */
static const char *first_quote(const char *m, size_t *which)
{
    const char *first = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(quotes); i++) {
        const char *q = strstr(m, quotes[i].open);

        if (q && (!first || q < first)) {
            first = q;
            *which = i;
        }
    }
    return first;
}

char *log_redact_server_message(const char *message, const char *sqlstate)
{
    GString *out;
    const char *p, *q;
    size_t which = 0;

    if (!message)
        return g_strdup("");
    /* Data exceptions quote the value, and a syntax error quotes the SQL
     * around the error, literals included: both are cut at the first
     * quote, whatever the language. */
    if (sqlstate && (strncmp(sqlstate, "22", 2) == 0 || strcmp(sqlstate, "42601") == 0)) {
        q = first_quote(message, &which);
        if (!q)
            return g_strdup(message);
        return g_strdup_printf("%.*s(not logged: it may quote data)", (int)(q - message), message);
    }
    /* Other messages quote names, but a name can be data too (a literal
     * cast to regclass or regrole, a setting asked for by name): every
     * quoted part becomes an ellipsis. The SQL, logged beside, still shows
     * the names the statement wrote. */
    out = g_string_new(NULL);
    for (p = message; (q = first_quote(p, &which));) {
        const char *body = q + strlen(quotes[which].open);
        const char *end = strstr(body, quotes[which].close);
        const char *nl = strchr(body, '\n');

        g_string_append_len(out, p, q - p);
        g_string_append(out, quotes[which].open);
        g_string_append(out, "\u2026");
        if (!end || (nl && nl < end)) /* no closer on this line: the rest goes */
            return g_string_free(out, FALSE);
        g_string_append(out, quotes[which].close);
        p = end + strlen(quotes[which].close);
    }
    g_string_append(out, p);
    return g_string_free(out, FALSE);
}
