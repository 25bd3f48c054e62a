/* SPDX-License-Identifier: MIT */
/*
 * The conninfo of the SQLite driver: an SQLite URI filename
 * (https://sqlite.org/uri.html), `file:/path/app.db?mode=rwc`, or a plain
 * path. Query parameters whose name starts with `_` are the driver's own
 * and are stripped before the URI reaches sqlite3_open_v2:
 *
 *   _busy_timeout=5000   ms a statement waits for another connection's
 *                        lock (bounded by the call's deadline); default 5000
 *   _journal_mode=wal    wal (default), delete, truncate, persist, memory, off
 *   _synchronous=full    full (default: a committed transaction survives a
 *                        power loss), normal, extra, off
 *   _foreign_keys=on     on (default, as PostgreSQL enforces them) or off
 *
 * SQLite ignores a query parameter it does not know, so a typo ("mod=ro")
 * would silently open the database read-write: every parameter is checked
 * here, before any I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"

static bool bad(dbr_error **err, const char *key, const char *expected)
{
    return dbr_set_error(
        err, DBR_ERR_CONFIG, SQ_LAYER,
        "invalid conninfo: parameter %s: expected %s (see docs/writing-drivers.md, "
        "\"The SQLite driver\")",
        dbr_quote_name(key).text, expected);
}

/* value is one of the NULL-terminated list; returns the list's (static) string. */
static const char *one_of(const char *value, const char *const *list)
{
    for (; *list; list++)
        if (g_ascii_strcasecmp(value, *list) == 0)
            return *list;
    return NULL;
}

static bool own_param(const char *key, const char *value, sq_uri *u, dbr_error **err)
{
    static const char *const journals[] = {"wal",    "delete", "truncate", "persist",
                                           "memory", "off",    NULL};
    static const char *const syncs[] = {"full", "normal", "extra", "off", NULL};
    static const char *const on[] = {"on", "true", "1", "yes", NULL};
    static const char *const off[] = {"off", "false", "0", "no", NULL};

    if (strcmp(key, "_busy_timeout") == 0) {
        char *end;
        long long ms = g_ascii_strtoll(value, &end, 10);

        if (!*value || *end || ms < 0 || ms > 86400000LL)
            return bad(err, key, "milliseconds from 0 to 86400000");
        u->busy_timeout_us = ms * 1000;
    } else if (strcmp(key, "_journal_mode") == 0) {
        if (!(u->journal = one_of(value, journals)))
            return bad(err, key, "wal, delete, truncate, persist, memory or off");
        u->journal_set = true;
    } else if (strcmp(key, "_synchronous") == 0) {
        if (!(u->synchronous = one_of(value, syncs)))
            return bad(err, key, "full, normal, extra or off");
    } else if (strcmp(key, "_foreign_keys") == 0) {
        if (one_of(value, on))
            u->foreign_keys = true;
        else if (one_of(value, off))
            u->foreign_keys = false;
        else
            return bad(err, key, "on or off");
    } else {
        return bad(err, key,
                   "one of _busy_timeout, _journal_mode, _synchronous, _foreign_keys (names "
                   "starting with _ are the driver's)");
    }
    return true;
}

/* SQLite's own parameters: kept, after checking what SQLite would not. */
static bool sqlite_param(const char *key, const char *value, sq_uri *u, dbr_error **err)
{
    static const char *const modes[] = {"ro", "rw", "rwc", "memory", NULL};
    static const char *const caches[] = {"shared", "private", NULL};
    static const char *const bools[] = {"0", "1", "on", "off", "true", "false", "yes", "no", NULL};

    if (strcmp(key, "mode") == 0) {
        if (!one_of(value, modes))
            return bad(err, key, "ro, rw, rwc or memory");
        u->read_only = g_ascii_strcasecmp(value, "ro") == 0;
    } else if (strcmp(key, "cache") == 0) {
        if (!one_of(value, caches))
            return bad(err, key, "shared or private");
    } else if (strcmp(key, "immutable") == 0 || strcmp(key, "nolock") == 0 ||
               strcmp(key, "psow") == 0) {
        if (!one_of(value, bools))
            return bad(err, key, "a boolean");
        if (strcmp(key, "immutable") == 0 &&
            one_of(value, (const char *const[]){"1", "on", "true", "yes", NULL}))
            u->read_only = true;
    } else if (strcmp(key, "vfs") != 0 && strcmp(key, "modeof") != 0) {
        return bad(err, key,
                   "an SQLite URI parameter (vfs, mode, cache, psow, nolock, immutable, modeof) "
                   "or one of the driver's (_busy_timeout, _journal_mode, _synchronous, "
                   "_foreign_keys)");
    }
    return true;
}

bool sq_uri_parse(const char *conninfo, sq_uri *out, dbr_error **err)
{
    sq_uri u = {.busy_timeout_us = 5000 * 1000,
                .journal = "wal",
                .synchronous = "full",
                .foreign_keys = true};
    const char *q;
    char **params = NULL;
    GString *kept;
    bool ok = true;

    if (!conninfo || !*conninfo)
        return dbr_set_error(err, DBR_ERR_CONFIG, SQ_LAYER,
                             "invalid conninfo: empty; expected an SQLite URI such as "
                             "file:/var/lib/app/app.db?mode=rwc");
    if (strlen(conninfo) != strcspn(conninfo, "\n\r"))
        return dbr_set_error(err, DBR_ERR_CONFIG, SQ_LAYER,
                             "invalid conninfo: it holds a line break");
    if (!g_str_has_prefix(conninfo, "file:")) {
        /* A plain path: SQLite reads it as a file name, '?' included. */
        if (out) {
            *out = u;
            out->open_name = g_strdup(conninfo);
        }
        return true;
    }
    q = strchr(conninfo, '?');
    kept = g_string_new_len(conninfo, q ? q - conninfo : (gssize)strcspn(conninfo, "#"));
    if (q) {
        char *query = g_strndup(q + 1, strcspn(q + 1, "#"));

        params = g_strsplit(query, "&", -1);
        g_free(query);
    }
    for (int i = 0; ok && params && params[i]; i++) {
        char *eq = strchr(params[i], '='), *key, *value;

        if (!*params[i])
            continue;
        key = g_uri_unescape_segment(params[i], eq, NULL);
        value = eq ? g_uri_unescape_string(eq + 1, NULL) : g_strdup("");
        if (!key || !value) {
            ok = dbr_set_error(err, DBR_ERR_CONFIG, SQ_LAYER,
                               "invalid conninfo: a query parameter has a bad %%-escape");
        } else if (key[0] == '_') {
            ok = own_param(key, value, &u, err);
        } else {
            ok = sqlite_param(key, value, &u, err);
            if (ok)
                g_string_append_printf(kept, "%c%s", strchr(kept->str, '?') ? '&' : '?', params[i]);
        }
        g_free(key);
        g_free(value);
    }
    g_strfreev(params);
    if (ok && out) {
        *out = u;
        out->open_name = g_string_free(kept, FALSE);
    } else {
        g_string_free(kept, TRUE);
    }
    return ok;
}

void sq_uri_clear(sq_uri *u)
{
    g_clear_pointer(&u->open_name, g_free);
}

/* Parameters whose values are settings, never secrets: shown as written.
 * Any other (a VFS's own, say a key for an encrypting one) is hidden. */
static bool safe_param(const char *key)
{
    static const char *const safe[] = {
        "mode",          "cache",         "immutable",    "nolock",        "psow", "vfs",
        "_busy_timeout", "_journal_mode", "_synchronous", "_foreign_keys", NULL};

    for (const char *const *s = safe; *s; s++)
        if (strcmp(key, *s) == 0)
            return true;
    return false;
}

char *sq_redact_conninfo(const char *conninfo)
{
    const char *q;
    GString *out;
    char **params;
    char *shown;

    if (!conninfo)
        return strdup("");
    if (!g_str_has_prefix(conninfo, "file:"))
        return strdup(conninfo); /* a plain path: nothing in it but the name */
    q = strchr(conninfo, '?');
    out = g_string_new_len(conninfo, q ? q - conninfo : (gssize)strcspn(conninfo, "#"));
    params = q ? g_strsplit_set(q + 1, "&#", -1) : NULL;
    /* g_strsplit_set cuts at '#' too: what follows it (a fragment) is not
     * shown, so stop at the first piece after one. */
    for (int i = 0; params && params[i]; i++) {
        const char *piece = q + 1;
        char *eq, *key;

        for (int k = 0; k < i; k++)
            piece += strlen(params[k]) + 1;
        if (piece > q + 1 && piece[-1] == '#')
            break;
        if (!*params[i])
            continue;
        eq = strchr(params[i], '=');
        key = g_uri_unescape_segment(params[i], eq, NULL);
        g_string_append_c(out, strchr(out->str, '?') ? '&' : '?');
        if (key && safe_param(key))
            g_string_append(out, params[i]);
        else
            g_string_append_printf(out, "%.*s=***",
                                   eq ? (int)(eq - params[i]) : (int)strlen(params[i]), params[i]);
        g_free(key);
    }
    g_strfreev(params);
    shown = strdup(out->str); /* the core frees it with free() */
    g_string_free(out, TRUE);
    return shown;
}
