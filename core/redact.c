/* SPDX-License-Identifier: MIT */
/*
 * Redaction of secrets in connection strings, for logs and error text.
 *
 * Both libpq forms are handled: key=value pairs (password='it''s' with
 * quotes and backslash escapes) and URIs (postgresql://user:secret@host and
 * ?password=secret). When a string cannot be parsed with certainty, the rest
 * of it is dropped rather than risk printing a secret.
 */
#include <glib.h>
#include <string.h>

#include "settings.h"

static bool is_secret_key(const char *key, size_t len)
{
    return (len == 8 && g_ascii_strncasecmp(key, "password", 8) == 0) ||
           (len == 11 && g_ascii_strncasecmp(key, "sslpassword", 11) == 0);
}

static char *redact_uri(const char *uri)
{
    GString *out = g_string_new(NULL);
    const char *scheme_end = strstr(uri, "://"), *auth, *at, *colon, *q;

    if (!scheme_end)
        return g_string_free(out, FALSE);
    auth = scheme_end + 3;
    at = strpbrk(auth, "@/?");
    g_string_append_len(out, uri, auth - uri);
    if (at && *at == '@') {
        colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            g_string_append_len(out, auth, colon - auth);
            g_string_append(out, ":***");
        } else {
            g_string_append_len(out, auth, at - auth);
        }
        auth = at;
    }
    q = strchr(auth, '?');
    g_string_append_len(out, auth, q ? q - auth : (gssize)strlen(auth));
    while (q) {
        const char *next = strchr(q + 1, '&'), *eq = strchr(q + 1, '=');
        size_t len = next ? (size_t)(next - q - 1) : strlen(q + 1);

        g_string_append_c(out, *q);
        if (eq && eq < q + 1 + len && is_secret_key(q + 1, (size_t)(eq - q - 1))) {
            g_string_append_len(out, q + 1, eq - q);
            g_string_append(out, "***");
        } else {
            g_string_append_len(out, q + 1, (gssize)len);
        }
        q = next;
    }
    return g_string_free(out, FALSE);
}

char *dbr_redact_conninfo(const char *conninfo)
{
    GString *out;
    const char *p;

    if (!conninfo)
        return g_strdup("");
    if (g_str_has_prefix(conninfo, "postgresql://") || g_str_has_prefix(conninfo, "postgres://"))
        return redact_uri(conninfo);
    out = g_string_new(NULL);
    p = conninfo;
    while (*p) {
        const char *key, *eq;
        bool secret;

        while (g_ascii_isspace(*p))
            p++;
        if (!*p)
            break;
        key = p;
        eq = strchr(p, '=');
        if (!eq) {
            g_string_append(out, " ...");
            break;
        }
        {
            const char *kend = eq;

            while (kend > key && g_ascii_isspace(kend[-1]))
                kend--;
            secret = is_secret_key(key, (size_t)(kend - key));
            if (out->len)
                g_string_append_c(out, ' ');
            g_string_append_len(out, key, kend - key);
            g_string_append_c(out, '=');
        }
        p = eq + 1;
        while (g_ascii_isspace(*p))
            p++;
        if (*p == '\'') {
            const char *v = ++p;

            while (*p && *p != '\'')
                p += (*p == '\\' && p[1]) ? 2 : 1;
            if (!*p) { /* unterminated quote: do not guess where the secret ends */
                g_string_append(out, secret ? "***" : "...");
                break;
            }
            if (secret) {
                g_string_append(out, "***");
            } else {
                g_string_append_c(out, '\'');
                g_string_append_len(out, v, p - v);
                g_string_append_c(out, '\'');
            }
            p++;
        } else {
            const char *v = p;

            while (*p && !g_ascii_isspace(*p))
                p += (*p == '\\' && p[1]) ? 2 : 1;
            g_string_append_len(out, secret ? "***" : v, secret ? 3 : p - v);
        }
    }
    return g_string_free(out, FALSE);
}
