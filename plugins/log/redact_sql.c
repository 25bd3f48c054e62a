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

char *log_redact_server_message(const char *message, const char *sqlstate)
{
    GString *out;
    const char *p;

    if (!message)
        return g_strdup("");
    if (!sqlstate || strncmp(sqlstate, "22", 2) != 0)
        return g_strdup(message);
    out = g_string_sized_new(strlen(message));
    for (p = message; *p;) {
        const char *close;

        if (*p != '"') {
            g_string_append_c(out, *p++);
            continue;
        }
        /* the value may itself hold quotes: hide to the last quote of a
         * line rather than guess where it ends */
        close = strchr(p + 1, '\n');
        close = close ? g_strrstr_len(p + 1, close - (p + 1), "\"") : strrchr(p + 1, '"');
        g_string_append(out, "\"?\"");
        if (!close)
            break;
        p = close + 1;
    }
    return g_string_free(out, FALSE);
}
