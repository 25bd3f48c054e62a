/* SPDX-License-Identifier: MIT */
/*
 * Literal redaction for logged SQL: a log line must show the shape of a
 * statement, never the data in it (a password in an UPDATE, a card number
 * in a WHERE). A small scanner, not a parser: it knows where strings,
 * dollar quotes, identifiers, placeholders and numbers begin and end.
 */
#include <glib.h>
#include <stdbool.h>
#include <string.h>

#include "redact_sql.h"

static bool ident_char(char c)
{
    return g_ascii_isalnum(c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

char *log_redact_sql(const char *sql)
{
    GString *out = g_string_sized_new(strlen(sql));
    const char *p = sql;

    while (*p) {
        if (*p == '\'' ||
            ((*p == 'E' || *p == 'e') && p[1] == '\'' && (p == sql || !ident_char(p[-1])))) {
            if (*p != '\'')
                p++;
            p++;
            while (*p) {
                if (*p == '\\' && p[1])
                    p += 2;
                else if (*p == '\'' && p[1] == '\'')
                    p += 2;
                else if (*p == '\'')
                    break;
                else
                    p++;
            }
            if (*p)
                p++;
            g_string_append(out, "'?'");
        } else if (*p == '$' && (p == sql || !ident_char(p[-1])) && !g_ascii_isdigit(p[1])) {
            /* $tag$ ... $tag$ */
            const char *end = strchr(p + 1, '$');
            char *tag;
            const char *close;

            if (!end) {
                g_string_append_c(out, *p++);
                continue;
            }
            tag = g_strndup(p, (gsize)(end - p + 1));
            close = strstr(end + 1, tag);
            p = close ? close + strlen(tag) : p + strlen(p);
            g_string_append(out, "$$?$$");
            g_free(tag);
        } else if (*p == '$' && g_ascii_isdigit(p[1])) {
            g_string_append_c(out, *p++); /* a placeholder: keep */
            while (g_ascii_isdigit(*p))
                g_string_append_c(out, *p++);
        } else if (*p == '-' && p[1] == '-') {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);

            g_string_append_len(out, p, (gssize)n);
            p += n;
        } else if (*p == '"') {
            const char *q = strchr(p + 1, '"');
            size_t n = q ? (size_t)(q - p + 1) : strlen(p);

            g_string_append_len(out, p, (gssize)n);
            p += n;
        } else if (g_ascii_isdigit(*p) && (p == sql || !ident_char(p[-1]))) {
            while (g_ascii_isalnum(*p) || *p == '.')
                p++;
            g_string_append_c(out, '?');
        } else if (ident_char(*p)) {
            while (ident_char(*p))
                g_string_append_c(out, *p++);
        } else {
            g_string_append_c(out, *p++);
        }
    }
    return g_string_free(out, FALSE);
}
