/* SPDX-License-Identifier: MIT */
/*
 * Redaction of secrets in libpq connection strings, for logs, error text
 * and `dbr check` (the driver's redact_conninfo slot; the core shows what
 * it returns and knows no conninfo syntax).
 *
 * Both libpq forms are handled: key=value pairs (password='it''s' with
 * quotes and backslash escapes) and URIs (postgresql://user:secret@host and
 * ?password=secret). When a string cannot be parsed with certainty, the rest
 * of it is dropped rather than risk printing a secret.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "pq_redact.h"
#include "secret_key.h"

static bool is_uri(const char *s)
{
    return g_str_has_prefix(s, "postgresql://") || g_str_has_prefix(s, "postgres://");
}

/* A URI query keyword as libpq reads it: percent-decoded ("pass%77ord"). */
static bool is_secret_uri_key(const char *key, size_t len)
{
    char *raw = g_strndup(key, len), *dec = g_uri_unescape_string(raw, NULL);
    bool secret = dec ? dbr_secret_key(dec, strlen(dec)) : true; /* undecodable: hide */

    g_free(dec);
    g_free(raw);
    return secret;
}

/* Where the user info of a URI ends (its '@'), or NULL. libpq takes the
 * first '@' before the first '/'; a password with an unencoded '/' or ','
 * would escape that rule, so an '@' before the query counts too. */
static const char *userinfo_end(const char *auth)
{
    const char *slash = strchr(auth, '/'), *q = strchr(auth, '?'), *at = strchr(auth, '@');

    if (at && (!slash || at < slash))
        return at;
    if (!at || (q && q < at))
        return NULL;
    return at;
}

static char *redact_uri(const char *uri)
{
    GString *out = g_string_new(NULL);
    const char *auth = strstr(uri, "://") + 3, *at = userinfo_end(auth), *p;

    g_string_append_len(out, uri, auth - uri);
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));

        if (colon) {
            g_string_append_len(out, auth, colon - auth);
            g_string_append(out, ":***");
        } else {
            g_string_append_len(out, auth, at - auth);
        }
        auth = at;
    }
    /* Every key=value after a '?' or '&' anywhere, not only after the
     * first '?': a raw '@' or '?' in a value must not shift what is read
     * as the query. */
    for (p = auth; *p;) {
        const char *key, *eq, *end;

        if (*p != '?' && *p != '&') {
            g_string_append_c(out, *p++);
            continue;
        }
        g_string_append_c(out, *p++);
        key = p;
        end = p + strcspn(p, "&");
        eq = memchr(key, '=', (size_t)(end - key));
        if (eq && (is_secret_uri_key(key, (size_t)(eq - key)) ||
                   ((size_t)(eq - key) == 6 && g_ascii_strncasecmp(key, "dbname", 6) == 0))) {
            /* a dbname here may be a whole connection string: hidden too */
            g_string_append_len(out, key, eq + 1 - key);
            g_string_append(out, "***");
            p = end;
        }
    }
    return g_string_free(out, FALSE);
}

/* A dbname that is itself a connection string (libpq expands it). */
static bool is_conninfo_value(const char *v, size_t len)
{
    char *s = g_strndup(v, len);
    bool yes = is_uri(s) || strchr(s, '=') != NULL;

    g_free(s);
    return yes;
}

static void append_value(GString *out, const char *v, size_t len, bool secret, bool dbname)
{
    if (secret) {
        g_string_append(out, "***");
    } else if (dbname && is_conninfo_value(v, len)) {
        char *inner = g_strndup(v, len), *r = pq_redact_conninfo(inner);

        g_string_append_printf(out, "'%s'", r);
        g_free(r);
        g_free(inner);
    } else {
        g_string_append_len(out, v, (gssize)len);
    }
}

char *pq_redact_conninfo(const char *conninfo)
{
    GString *out;
    const char *p;

    if (!conninfo)
        return g_strdup("");
    if (is_uri(conninfo))
        return redact_uri(conninfo);
    out = g_string_new(NULL);
    p = conninfo;
    while (*p) {
        const char *key, *kend;
        bool secret, dbname;

        while (g_ascii_isspace(*p))
            p++;
        if (!*p)
            break;
        /* a keyword is one word: "password my secret=x" is not parsed with
         * certainty, so the rest is dropped */
        key = p;
        while (*p && *p != '=' && !g_ascii_isspace(*p))
            p++;
        kend = p;
        while (g_ascii_isspace(*p))
            p++;
        if (*p != '=' || kend == key) {
            g_string_append(out, out->len ? " ..." : "...");
            break;
        }
        secret = dbr_secret_key(key, (size_t)(kend - key));
        dbname = kend - key == 6 && g_ascii_strncasecmp(key, "dbname", 6) == 0;
        if (out->len)
            g_string_append_c(out, ' ');
        g_string_append_len(out, key, kend - key);
        g_string_append_c(out, '=');
        p++;
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
            if (secret || (dbname && is_conninfo_value(v, (size_t)(p - v)))) {
                append_value(out, v, (size_t)(p - v), secret, dbname);
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
            append_value(out, v, (size_t)(p - v), secret, dbname);
        }
    }
    return g_string_free(out, FALSE);
}

char *pq_redact_conninfo_slot(const char *conninfo)
{
    char *shown = pq_redact_conninfo(conninfo);
    char *out = strdup(shown); /* the core frees it with free() */

    g_free(shown);
    return out;
}
