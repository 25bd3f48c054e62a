/* SPDX-License-Identifier: MIT */
/*
 * Bounded quoting of user text for messages (include/dbr/error.h): a key of
 * 200,000 characters or a value with a newline must not turn an error into
 * a screenful, nor split a log line in two.
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include <dbr/error.h>

/* Appends c to out (capacity cap, room kept for the NUL). */
static void put(char *out, size_t *len, size_t cap, const char *c, size_t n)
{
    if (*len + n < cap) {
        memcpy(out + *len, c, n);
        *len += n;
    }
}

dbr_quoted dbr_quote(const char *s)
{
    dbr_quoted q;
    size_t len = 0, cap = sizeof(q.text), total;
    const char *p, *end;

    if (!s)
        s = "(null)";
    total = strlen(s);
    end = s + total;
    put(q.text, &len, cap, "\"", 1);
    for (p = s; p < end && (size_t)(p - s) < DBR_QUOTE_MAX;) {
        unsigned char c = (unsigned char)*p;
        char esc[8];

        if (c >= 0x80) {
            gunichar u = g_utf8_get_char_validated(p, end - p);

            if (u != (gunichar)-1 && u != (gunichar)-2) {
                size_t n = (size_t)(g_utf8_next_char(p) - p);

                /* Keep a character whole or leave it out. */
                if ((size_t)(p - s) + n > DBR_QUOTE_MAX)
                    break;
                put(q.text, &len, cap, p, n);
                p += n;
                continue;
            }
            g_snprintf(esc, sizeof(esc), "\\x%02x", c);
            put(q.text, &len, cap, esc, strlen(esc));
        } else if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(q.text, &len, cap, esc, 2);
        } else if (c == '\n') {
            put(q.text, &len, cap, "\\n", 2);
        } else if (c == '\t') {
            put(q.text, &len, cap, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            g_snprintf(esc, sizeof(esc), "\\x%02x", c);
            put(q.text, &len, cap, esc, strlen(esc));
        } else {
            put(q.text, &len, cap, p, 1);
        }
        p++;
    }
    put(q.text, &len, cap, "\"", 1);
    if (p < end) {
        char more[40];

        g_snprintf(more, sizeof(more), "... (%zu bytes)", total);
        put(q.text, &len, cap, more, strlen(more));
    }
    q.text[len] = '\0';
    return q;
}

dbr_quoted dbr_quote_name(const char *s)
{
    dbr_quoted q;
    size_t n = s ? strlen(s) : 0;

    if (!s || !n || n > DBR_QUOTE_MAX)
        return dbr_quote(s);
    for (const char *p = s; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("_-.:/@+", *p))
            return dbr_quote(s);
    memcpy(q.text, s, n + 1);
    return q;
}
