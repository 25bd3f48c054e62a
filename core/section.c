/* SPDX-License-Identifier: MIT */
/*
 * Typed reading of one config group (include/dbr/config.h): value clean-up
 * (trailing comments, ${VAR} expansion), numbers, booleans and durations with
 * range checks, and errors that name file, line, group and key.
 */
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "suggest.h"

dbr_config_section *dbr_section_new(dbr_settings *st, const char *group)
{
    dbr_config_section *sec = g_new0(dbr_config_section, 1);

    sec->st = st;
    sec->group = g_strdup(group);
    sec->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    sec->read = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return sec;
}

void dbr_section_free(dbr_config_section *sec)
{
    if (!sec)
        return;
    g_hash_table_destroy(sec->values);
    g_hash_table_destroy(sec->read);
    g_free(sec->group);
    g_free(sec);
}

const char *dbr_config_group(const dbr_config_section *sec)
{
    return sec ? sec->group : "";
}

const char *dbr_config_file(const dbr_config_section *sec)
{
    return sec ? sec->st->path : NULL;
}

static dbr_error *section_errorv(const dbr_config_section *sec, const char *key, const char *fmt,
                                 va_list ap)
{
    char *what = g_strdup_vprintf(fmt, ap);
    int line = dbr_settings_line(sec->st, sec->group, key);
    dbr_error *e;

    /* key NULL: the group as a whole, at its header's line */
    if (line > 0)
        e = dbr_error_new(DBR_ERR_CONFIG, "config", "%s:%d: [%s]%s%s: %s", sec->st->source, line,
                          dbr_quote_name(sec->group).text, key ? " " : "",
                          key ? dbr_quote_name(key).text : "", what);
    else
        e = dbr_error_new(DBR_ERR_CONFIG, "config", "%s: [%s]%s%s: %s", sec->st->source,
                          dbr_quote_name(sec->group).text, key ? " " : "",
                          key ? dbr_quote_name(key).text : "", what);
    g_free(what);
    return e;
}

dbr_error *dbr_config_error(const dbr_config_section *sec, const char *key, const char *fmt, ...)
{
    va_list ap;
    dbr_error *e;

    va_start(ap, fmt);
    e = section_errorv(sec, key, fmt, ap);
    va_end(ap);
    return e;
}

static bool fail(const dbr_config_section *sec, const char *key, dbr_error **err, const char *fmt,
                 ...) DBR_PRINTF(4, 5);
static bool fail(const dbr_config_section *sec, const char *key, dbr_error **err, const char *fmt,
                 ...)
{
    va_list ap;

    va_start(ap, fmt);
    dbr_error_propagate(err, section_errorv(sec, key, fmt, ap));
    va_end(ap);
    return false;
}

/* Expands ${VAR}; an undefined variable is an error, a lone '$' is kept. */
static char *expand_env(const dbr_config_section *sec, const char *key, const char *in,
                        dbr_error **err)
{
    GString *out = g_string_sized_new(strlen(in));

    for (const char *p = in; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            char *name;
            const char *val;

            if (!end) {
                fail(sec, key, err, "unterminated ${ in value");
                return g_string_free(out, TRUE), NULL;
            }
            name = g_strndup(p + 2, (gsize)(end - p - 2));
            val = *name ? g_getenv(name) : NULL;
            if (!val) {
                fail(sec, key, err, "environment variable %s is not set",
                     dbr_quote_name(name).text);
                g_free(name);
                return g_string_free(out, TRUE), NULL;
            }
            g_string_append(out, val);
            g_free(name);
            p = end + 1;
        } else {
            g_string_append_c(out, *p++);
        }
    }
    return g_string_free(out, FALSE);
}

char *dbr_config_strip_comment(char *raw)
{
    /* GKeyFile knows only whole-line comments; the design's examples put a
     * comment after a value, so " # ..." ends it. */
    for (char *hash = strchr(raw, '#'); hash; hash = strchr(hash + 1, '#')) {
        if (hash == raw || hash[-1] == ' ' || hash[-1] == '\t') {
            *hash = '\0';
            break;
        }
    }
    return g_strstrip(raw);
}

/* The cleaned value of key, or NULL (and *err unset) when it is absent. */
static const char *section_value(const dbr_config_section *sec, const char *key, dbr_error **err)
{
    char *raw, *val;
    const char *cached;

    g_hash_table_add(sec->read, g_strdup(key));
    cached = g_hash_table_lookup(sec->values, key);
    if (cached)
        return cached;
    raw = g_key_file_get_value(sec->st->kf, sec->group, key, NULL);
    if (!raw)
        return NULL;
    dbr_config_strip_comment(raw);
    val = expand_env(sec, key, raw, err);
    g_free(raw);
    if (!val)
        return NULL;
    g_hash_table_insert(sec->values, g_strdup(key), val);
    return val;
}

bool dbr_config_has(const dbr_config_section *sec, const char *key)
{
    return sec && key && g_key_file_has_key(sec->st->kf, sec->group, key, NULL);
}

/* True, or DBR_ERR_MISUSE naming the getter fn's first NULL argument. */
static bool args_given(const char *fn, const dbr_config_section *sec, const char *key,
                       const void *out, dbr_error **err)
{
    const char *missing = !sec ? "sec" : !key ? "key" : !out ? "out" : NULL;

    return !missing || dbr_set_error(err, DBR_ERR_MISUSE, "config", "%s: %s is NULL", fn, missing);
}

/* The start of every typed getter: the arguments checked, then the value
 * of key in *v, or NULL when it is absent (the getter's default applies). */
static bool typed_value(const char *fn, const dbr_config_section *sec, const char *key,
                        const void *out, const char **v, dbr_error **err)
{
    return args_given(fn, sec, key, out, err) && dbr_config_get_string(sec, key, NULL, v, err);
}

bool dbr_config_get_string(const dbr_config_section *sec, const char *key, const char *def,
                           const char **out, dbr_error **err)
{
    dbr_error *e = NULL;
    const char *v;

    if (!args_given("dbr_config_get_string", sec, key, out, err))
        return false;
    v = section_value(sec, key, &e);
    if (e)
        return dbr_error_propagate(err, e);
    *out = v ? v : def;
    return true;
}

bool dbr_config_get_int(const dbr_config_section *sec, const char *key, long long def,
                        long long min, long long max, long long *out, dbr_error **err)
{
    const char *v;
    char *end;
    long long n;

    if (!typed_value("dbr_config_get_int", sec, key, out, &v, err))
        return false;
    if (!v)
        return *out = def, true;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (!*v || *end || errno == ERANGE)
        return fail(sec, key, err, "expected an integer from %lld to %lld, got %s", min, max,
                    dbr_quote(v).text);
    if (n < min || n > max)
        return fail(sec, key, err, "%lld is out of range: expected %lld to %lld", n, min, max);
    *out = n;
    return true;
}

bool dbr_config_get_double(const dbr_config_section *sec, const char *key, double def, double min,
                           double max, double *out, dbr_error **err)
{
    const char *v;
    char *end;
    double d;

    if (!typed_value("dbr_config_get_double", sec, key, out, &v, err))
        return false;
    if (!v)
        return *out = def, true;
    d = g_ascii_strtod(v, &end);
    if (!*v || *end || !isfinite(d))
        return fail(sec, key, err, "expected a number from %g to %g, got %s", min, max,
                    dbr_quote(v).text);
    if (d < min || d > max)
        return fail(sec, key, err, "%g is out of range: expected %g to %g", d, min, max);
    *out = d;
    return true;
}

bool dbr_config_get_bool(const dbr_config_section *sec, const char *key, bool def, bool *out,
                         dbr_error **err)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    const char *v;

    if (!typed_value("dbr_config_get_bool", sec, key, out, &v, err))
        return false;
    if (!v)
        return *out = def, true;
    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (g_ascii_strcasecmp(v, yes[i]) == 0)
            return *out = true, true;
        if (g_ascii_strcasecmp(v, no[i]) == 0)
            return *out = false, true;
    }
    return fail(sec, key, err, "expected true or false, got %s", dbr_quote(v).text);
}

/* "250ms", "30s", "5m", "1h", "100us", or "0". */
static bool parse_duration(const char *v, int64_t *out_us)
{
    static const struct {
        const char *unit;
        int64_t us;
    } units[] = {{"us", 1}, {"ms", 1000}, {"s", 1000000}, {"m", 60000000}, {"h", 3600000000}};
    char *end;
    long long n;

    errno = 0;
    if (!g_ascii_isdigit(*v))
        return false;
    n = strtoll(v, &end, 10);
    if (errno == ERANGE)
        return false;
    if (!*end)
        return n == 0 ? (*out_us = 0, true) : false;
    for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (n > INT64_MAX / units[i].us)
                return false;
            *out_us = n * units[i].us;
            return true;
        }
    }
    return false;
}

static void format_duration(int64_t us, char *buf, size_t len)
{
    if (us % 3600000000 == 0 && us)
        g_snprintf(buf, len, "%" G_GINT64_FORMAT "h", us / 3600000000);
    else if (us % 60000000 == 0 && us)
        g_snprintf(buf, len, "%" G_GINT64_FORMAT "m", us / 60000000);
    else if (us % 1000000 == 0)
        g_snprintf(buf, len, "%" G_GINT64_FORMAT "s", us / 1000000);
    else if (us % 1000 == 0)
        g_snprintf(buf, len, "%" G_GINT64_FORMAT "ms", us / 1000);
    else
        g_snprintf(buf, len, "%" G_GINT64_FORMAT "us", us);
}

bool dbr_config_get_duration(const dbr_config_section *sec, const char *key, int64_t def_us,
                             int64_t min_us, int64_t max_us, int64_t *out_us, dbr_error **err)
{
    char lo[32], hi[32];
    const char *v;
    int64_t us;

    if (!typed_value("dbr_config_get_duration", sec, key, out_us, &v, err))
        return false;
    if (!v)
        return *out_us = def_us, true;
    format_duration(min_us, lo, sizeof(lo));
    format_duration(max_us, hi, sizeof(hi));
    if (!parse_duration(v, &us))
        return fail(sec, key, err,
                    "expected a duration such as 250ms, 30s, 5m or 1h (from %s to %s), got %s", lo,
                    hi, dbr_quote(v).text);
    if (us < min_us || us > max_us)
        return fail(sec, key, err, "%s is out of range: expected %s to %s", dbr_quote_name(v).text,
                    lo, hi);
    *out_us = us;
    return true;
}

bool dbr_section_get_list(const dbr_config_section *sec, const char *key, char ***out,
                          dbr_error **err)
{
    const char *v;
    char **parts;

    if (!dbr_config_get_string(sec, key, "", &v, err))
        return false;
    if (!*v) {
        *out = g_new0(char *, 1);
        return true;
    }
    parts = g_strsplit(v, ",", -1);
    for (char **p = parts; *p; p++) {
        g_strstrip(*p);
        if (!**p) {
            g_strfreev(parts);
            return fail(sec, key, err, "empty entry in the list %s", dbr_quote(v).text);
        }
    }
    *out = parts;
    return true;
}

bool dbr_section_check_unread(const dbr_config_section *sec, dbr_error **err)
{
    gsize n = 0;
    char **keys = g_key_file_get_keys(sec->st->kf, sec->group, &n, NULL);
    bool ok = true;

    for (gsize i = 0; keys && i < n && ok; i++) {
        if (!g_hash_table_contains(sec->read, keys[i])) {
            /* The keys the reader asked for are the keys it knows. */
            g_autofree gpointer *known = g_hash_table_get_keys_as_array(sec->read, NULL);
            const char *near = dbr_suggest(keys[i], (const char *const *)known);

            if (near)
                ok = fail(sec, keys[i], err, "unknown key; did you mean %s?", near);
            else
                ok = fail(sec, keys[i], err, "unknown key");
        }
    }
    g_strfreev(keys);
    return ok;
}
