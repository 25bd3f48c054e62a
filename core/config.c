/* SPDX-License-Identifier: MIT */
/*
 * Loading the config file: GKeyFile parsing, the [database] and [chain]
 * groups, and the checks GKeyFile does not make (duplicate keys, unknown
 * groups, plugin groups nobody loads). Plugin groups are read by their
 * plugins through section.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "settings.h"
#include "suggest.h"

#define PLUGIN_GROUP_PREFIX "plugin."

static bool fail_file(const dbr_settings *st, int line, dbr_error **err, const char *fmt, ...)
    DBR_PRINTF(4, 5);
static bool fail_file(const dbr_settings *st, int line, dbr_error **err, const char *fmt, ...)
{
    va_list ap;
    char *what;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (line > 0)
        dbr_set_error(err, DBR_ERR_CONFIG, "config", "%s:%d: %s", st->source, line, what);
    else
        dbr_set_error(err, DBR_ERR_CONFIG, "config", "%s: %s", st->source, what);
    g_free(what);
    return false;
}

/* The group a raw line opens, or NULL. */
static char *line_group(const char *line)
{
    const char *s = line, *end;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '[' || !(end = strchr(s, ']')))
        return NULL;
    return g_strndup(s + 1, (gsize)(end - s - 1));
}

/* The key a raw line sets, or NULL. */
static char *line_key(const char *line)
{
    const char *s = line, *eq;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '#' || *s == '[' || !(eq = strchr(s, '=')))
        return NULL;
    return g_strstrip(g_strndup(s, (gsize)(eq - s)));
}

int dbr_settings_line(const dbr_settings *st, const char *group, const char *key)
{
    bool in_group = false;

    for (int i = 0; st->lines && st->lines[i]; i++) {
        char *g = line_group(st->lines[i]), *k;

        if (g) {
            in_group = strcmp(g, group) == 0;
            g_free(g);
            if (in_group && !key)
                return i + 1;
            continue;
        }
        if (!in_group || !key)
            continue;
        k = line_key(st->lines[i]);
        if (k && strcmp(k, key) == 0) {
            g_free(k);
            return i + 1;
        }
        g_free(k);
    }
    return 0;
}

/* GKeyFile keeps the last of two equal keys without a word: refuse them. */
static bool check_duplicate_keys(const dbr_settings *st, dbr_error **err)
{
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    char *group = g_strdup("");
    bool ok = true;

    for (int i = 0; ok && st->lines[i]; i++) {
        char *g = line_group(st->lines[i]), *k, *id;

        if (g) {
            g_free(group);
            group = g;
            continue;
        }
        if (!(k = line_key(st->lines[i])))
            continue;
        id = g_strconcat(group, "\n", k, NULL);
        if (g_hash_table_contains(seen, id))
            ok = fail_file(st, i + 1, err, "[%s] %s: set twice in the same group",
                           dbr_quote_name(group).text, dbr_quote_name(k).text);
        g_hash_table_add(seen, id);
        g_free(k);
    }
    g_free(group);
    g_hash_table_destroy(seen);
    return ok;
}

/* Reads password_file only when no one else may read it (the rule of
 * libpq's .pgpass and ssh's private keys). */
static bool read_password_file(const dbr_config_section *sec, const char *path, char **out,
                               dbr_error **err)
{
    GError *gerr = NULL;
    GStatBuf sb;
    char *text;

    if (g_stat(path, &sb) != 0) {
        dbr_error_propagate(err, dbr_config_error(sec, "password_file", "cannot read %s: %s",
                                                  dbr_quote_name(path).text, g_strerror(errno)));
        return false;
    }
    if (!S_ISREG(sb.st_mode) || (sb.st_mode & (S_IRWXG | S_IRWXO))) {
        dbr_error_propagate(err, dbr_config_error(sec, "password_file",
                                                  "%s must be a regular file that group and "
                                                  "others cannot access (chmod 600)",
                                                  dbr_quote_name(path).text));
        return false;
    }
    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        dbr_error_propagate(err, dbr_config_error(sec, "password_file", "cannot read %s",
                                                  dbr_quote_name(path).text));
        g_error_free(gerr);
        return false;
    }
    *strchrnul(text, '\n') = '\0';
    *out = text;
    return true;
}

/* A table name pasted into SQL: an identifier, optionally schema-qualified. */
static bool sql_name(const char *s)
{
    bool start = true;

    if (!*s || strlen(s) > 127)
        return false;
    for (; *s; s++) {
        if (*s == '.' && !start) {
            start = true;
            continue;
        }
        if (!(g_ascii_isalpha(*s) || *s == '_' || (!start && g_ascii_isdigit(*s))))
            return false;
        start = false;
    }
    return !start;
}

/* Module and db names end up in file names and metric labels: keep them to
 * a safe alphabet. */
static bool safe_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!g_ascii_isalnum(*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static bool load_database(dbr_settings *st, dbr_error **err)
{
    dbr_config_section *sec;
    const char *driver, *conninfo, *password_file, *name, *reset, *keys, *pooler;
    long long max_open, max_idle, cache;
    bool ok;

    if (!g_key_file_has_group(st->kf, "database")) {
        /* A misspelt header ([databse]) is the likely cause: name its line. */
        char **groups = g_key_file_get_groups(st->kf, NULL);
        const char *const want[] = {"database", NULL};
        const char *near = NULL;
        bool r;

        for (char **g = groups; g && *g && !near; g++)
            if (dbr_suggest(*g, want))
                near = *g;
        r = near ? fail_file(st, dbr_settings_line(st, near, NULL), err,
                             "unknown group [%s]: did you mean [database]? (the group that names "
                             "the driver is missing)",
                             dbr_quote_name(near).text)
                 : fail_file(st, 0, err, "missing group [database] (it names the driver)");
        g_strfreev(groups);
        return r;
    }
    sec = dbr_section_new(st, "database");
    ok = dbr_config_get_string(sec, "driver", NULL, &driver, err) &&
         dbr_config_get_string(sec, "conninfo", "", &conninfo, err) &&
         dbr_config_get_string(sec, "password_file", NULL, &password_file, err) &&
         dbr_config_get_string(sec, "name", "default", &name, err) &&
         dbr_config_get_int(sec, "max_open_conns", 10, 0, 100000, &max_open, err) &&
         dbr_config_get_int(sec, "max_idle_conns", 2, 0, 100000, &max_idle, err) &&
         dbr_config_get_duration(sec, "conn_max_lifetime", 30 * G_TIME_SPAN_MINUTE, 0,
                                 G_MAXINT64 / 4, &st->max_lifetime_us, err) &&
         dbr_config_get_duration(sec, "conn_max_idle_time", 10 * G_TIME_SPAN_MINUTE, 0,
                                 G_MAXINT64 / 4, &st->max_idle_time_us, err) &&
         dbr_config_get_duration(sec, "conn_validate_after", G_TIME_SPAN_SECOND, 0, G_MAXINT64 / 4,
                                 &st->validate_after_us, err) &&
         dbr_config_get_duration(sec, "connect_timeout", 10 * G_TIME_SPAN_SECOND,
                                 G_TIME_SPAN_MILLISECOND, G_TIME_SPAN_HOUR, &st->connect_timeout_us,
                                 err) &&
         dbr_config_get_duration(sec, "cancel_timeout", G_TIME_SPAN_SECOND,
                                 10 * G_TIME_SPAN_MILLISECOND, G_TIME_SPAN_MINUTE,
                                 &st->cancel_timeout_us, err) &&
         dbr_config_get_duration(sec, "cancel_grace", 250 * G_TIME_SPAN_MILLISECOND, 0,
                                 G_TIME_SPAN_MINUTE, &st->cancel_grace_us, err) &&
         dbr_config_get_bool(sec, "connect_on_open", true, &st->connect_on_open, err) &&
         dbr_config_get_string(sec, "reset", "auto", &reset, err) &&
         dbr_config_get_string(sec, "idempotency_table", "dbr_idempotency_keys", &keys, err) &&
         dbr_config_get_string(sec, "pooler", "none", &pooler, err) &&
         dbr_config_get_int(sec, "statement_cache_size", 100, 0, 10000, &cache, err) &&
         dbr_section_check_unread(sec, err);
    if (ok && (!driver || !*driver)) {
        dbr_error_propagate(
            err, dbr_config_error(sec, "driver", "missing: name a driver such as \"pq\""));
        ok = false;
    } else if (ok && !g_path_is_absolute(driver) && !safe_name(driver)) {
        dbr_error_propagate(err, dbr_config_error(sec, "driver",
                                                  "expected a name of letters, digits, '_' and "
                                                  "'-' (or an absolute path), got %s",
                                                  dbr_quote(driver).text));
        ok = false;
    }
    if (ok) {
        if (g_ascii_strcasecmp(reset, "auto") == 0) {
            st->reset = DBR_RESET_AUTO;
        } else if (g_ascii_strcasecmp(reset, "always") == 0) {
            st->reset = DBR_RESET_ALWAYS;
        } else if (g_ascii_strcasecmp(reset, "none") == 0) {
            st->reset = DBR_RESET_NONE;
        } else if (!strpbrk(reset, " \t\r\n")) {
            /* One word that is not a mode: a typo ("allways"), not SQL. */
            dbr_error_propagate(err, dbr_config_error(sec, "reset",
                                                      "expected auto, always, none or an SQL "
                                                      "statement such as DISCARD ALL, got %s",
                                                      dbr_quote(reset).text));
            ok = false;
        } else {
            st->reset = DBR_RESET_SQL;
            st->reset_sql = g_strdup(reset);
        }
    }
    if (ok && g_ascii_strcasecmp(pooler, "transaction") == 0) {
        st->pooler_transaction = true;
    } else if (ok && g_ascii_strcasecmp(pooler, "none") != 0) {
        dbr_error_propagate(
            err, dbr_config_error(sec, "pooler",
                                  "expected none or transaction (a pooler that hands the "
                                  "server session to another client after each transaction; "
                                  "session pooling needs none), got \"%s\"",
                                  pooler));
        ok = false;
    }
    if (ok && st->pooler_transaction) {
        /* The session a statement changed is another client's by the time
         * the connection comes back: a reset would land on whichever server
         * the pooler picks. */
        if (st->reset == DBR_RESET_ALWAYS || st->reset == DBR_RESET_SQL) {
            dbr_error_propagate(
                err, dbr_config_error(sec, "reset",
                                      "a session reset cannot work with pooler = transaction "
                                      "(the pooler hands the server session to other clients "
                                      "between transactions): use auto or none, got \"%s\"",
                                      reset));
            ok = false;
        }
        st->reset = DBR_RESET_NONE;
    }
    if (ok && !sql_name(keys)) {
        dbr_error_propagate(err, dbr_config_error(sec, "idempotency_table",
                                                  "expected a table name ([A-Za-z_][A-Za-z0-9_]*, "
                                                  "optionally schema.table)"));
        ok = false;
    }
    if (ok && !safe_name(name)) {
        dbr_error_propagate(err, dbr_config_error(sec, "name",
                                                  "expected letters, digits, '_' and '-' (it "
                                                  "labels metrics), got %s",
                                                  dbr_quote(name).text));
        ok = false;
    }
    if (ok) {
        char *password = NULL;

        if (password_file && !read_password_file(sec, password_file, &password, err)) {
            ok = false;
        } else {
            /* The conninfo stays as written: the password goes to the
             * driver beside it (driver_opts), which alone knows its syntax. */
            st->conninfo = g_strdup(conninfo);
            st->password = password;
            st->driver = g_strdup(driver);
            st->name = g_strdup(name);
            st->idempotency_table = g_strdup(keys);
            st->max_open = (int)max_open;
            dbr_settings_set_driver_opts(st);
            /* A prepared statement is the server session's: behind a pooler
             * in transaction mode the next transaction may find another. */
            st->driver_opts.statement_cache_size = st->pooler_transaction ? 0 : (int)cache;
            /* As Go's database/sql: never more idle than open. */
            st->max_idle = max_open && max_idle > max_open ? (int)max_open : (int)max_idle;
        }
    }
    dbr_section_free(sec);
    return ok;
}

static bool load_chain(dbr_settings *st, dbr_error **err)
{
    dbr_config_section *sec = dbr_section_new(st, "chain");
    gsize n;
    bool ok;

    ok = dbr_section_get_list(sec, "plugins", &st->plugins, err) &&
         dbr_section_get_list(sec, "path", &st->paths, err) && dbr_section_check_unread(sec, err);
    if (ok && g_key_file_has_group(st->kf, "chain")) {
        for (char **p = st->paths; *p; p++) {
            if (!g_path_is_absolute(*p)) {
                dbr_error_propagate(err,
                                    dbr_config_error(sec, "path", "%s is not an absolute directory",
                                                     dbr_quote(*p).text));
                ok = false;
                break;
            }
        }
    }
    dbr_section_free(sec);
    if (!ok)
        return false;
    n = g_strv_length(st->plugins);
    st->sections = g_new0(dbr_config_section *, n + 1);
    for (gsize i = 0; i < n; i++) {
        char *group;

        if (!safe_name(st->plugins[i]))
            return fail_file(st, dbr_settings_line(st, "chain", "plugins"), err,
                             "[chain] plugins: %s is not a plugin name (letters, digits, "
                             "'_' and '-')",
                             dbr_quote(st->plugins[i]).text);
        group = g_strconcat(PLUGIN_GROUP_PREFIX, st->plugins[i], NULL);

        for (gsize j = 0; j < i; j++) {
            if (strcmp(st->plugins[i], st->plugins[j]) == 0) {
                g_free(group);
                return fail_file(st, dbr_settings_line(st, "chain", "plugins"), err,
                                 "[chain] plugins: %s is listed twice",
                                 dbr_quote(st->plugins[i]).text);
            }
        }
        st->sections[i] = dbr_section_new(st, group);
        g_free(group);
    }
    return true;
}

/* " (did you mean X?)" when a known name is near, else "". */
static char *did_you_mean(const char *word, const char *const *known, const char *before,
                          const char *after)
{
    const char *near = dbr_suggest(word, known);

    return near ? g_strdup_printf("; did you mean %s%s%s?", before, near, after) : g_strdup("");
}

/* Every group must be one we know, and every plugin group must be in the chain. */
static bool check_groups(const dbr_settings *st, dbr_error **err)
{
    static const char *const fixed[] = {"database", "chain", NULL};
    char **groups = g_key_file_get_groups(st->kf, NULL);
    GPtrArray *known = g_ptr_array_new_with_free_func(g_free);
    bool ok = true;

    g_ptr_array_add(known, g_strdup("database"));
    g_ptr_array_add(known, g_strdup("chain"));
    for (char **p = st->plugins; *p; p++)
        g_ptr_array_add(known, g_strconcat(PLUGIN_GROUP_PREFIX, *p, NULL));
    g_ptr_array_add(known, NULL);
    for (char **g = groups; ok && *g; g++) {
        const char *name =
            g_str_has_prefix(*g, PLUGIN_GROUP_PREFIX) ? *g + strlen(PLUGIN_GROUP_PREFIX) : "";
        int line = dbr_settings_line(st, *g, NULL);
        char *hint;

        if (g_strv_contains(fixed, *g))
            continue;
        hint = did_you_mean(*g, (const char *const *)known->pdata, "[", "]");
        if (!*name)
            ok = fail_file(st, line, err,
                           "unknown group [%s]: expected [database], [chain] or [plugin.NAME]%s",
                           dbr_quote_name(*g).text, hint);
        else if (!g_strv_contains((const char *const *)st->plugins, name)) {
            const char *listed = dbr_suggest(name, (const char *const *)st->plugins);

            /* A listed name near this group's is one typo, and more often
             * in the list than in the group that holds the settings: say
             * both lines. */
            if (listed)
                ok = fail_file(st, dbr_settings_line(st, "chain", "plugins"), err,
                               "[chain] plugins lists %s, and line %d configures [%s]: one of "
                               "the two names is misspelled",
                               dbr_quote(listed).text, line, dbr_quote_name(*g).text);
            else
                ok = fail_file(st, line, err,
                               "[%s] configures plugin %s, which [chain] plugins does not list%s",
                               dbr_quote_name(*g).text, dbr_quote(name).text,
                               *hint ? hint : " (add it there, or remove this group)");
        }
        g_free(hint);
    }
    g_ptr_array_free(known, TRUE);
    g_strfreev(groups);
    return ok;
}

/* The whole file, or an error that names the file once and says why not
 * (GLib's own message would name it a second time). */
static bool read_file(dbr_settings *st, const char *path, char **out, dbr_error **err)
{
    GString *text;
    struct stat sb;
    char buf[65536];
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail_file(st, 0, err, "cannot read the config file: %s", g_strerror(errno));
    if (fstat(fd, &sb) != 0) {
        int e = errno;

        close(fd);
        return fail_file(st, 0, err, "cannot read the config file: %s", g_strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return fail_file(st, 0, err, "cannot read the config file: %s",
                         S_ISDIR(sb.st_mode) ? "it is a directory" : "not a regular file");
    }
    text = g_string_sized_new((gsize)sb.st_size + 1);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;

            close(fd);
            g_string_free(text, TRUE);
            return fail_file(st, 0, err, "cannot read the config file: %s", g_strerror(e));
        }
        if (n == 0)
            break;
        g_string_append_len(text, buf, n);
    }
    close(fd);
    if (strlen(text->str) != text->len) {
        g_string_free(text, TRUE);
        return fail_file(st, 0, err, "not a text file: it holds NUL bytes");
    }
    *out = g_string_free(text, FALSE);
    return true;
}

/* The line-level syntax GKeyFile would refuse, refused here first with the
 * line's number and a bounded quote of it (GKeyFile quotes the whole line). */
static bool check_lines(const dbr_settings *st, dbr_error **err)
{
    bool in_group = false;

    for (int i = 0; st->lines[i]; i++) {
        char *line = g_strstrip(g_strdup(st->lines[i]));
        bool ok = true;

        if (!*line || *line == '#') {
            /* blank or a comment */
        } else if (*line == '[') {
            size_t n = strlen(line);

            if (line[n - 1] != ']' || n < 3 || strpbrk(line + 1, "[") ||
                strchr(line + 1, ']') != line + n - 1)
                ok = fail_file(st, i + 1, err, "expected a group such as [database], got %s",
                               dbr_quote(line).text);
            in_group = true;
        } else if (!strchr(line, '=') || *line == '=') {
            ok = fail_file(st, i + 1, err, "expected KEY = VALUE, a [group] or a # comment, got %s",
                           dbr_quote(line).text);
        } else if (!in_group) {
            ok = fail_file(st, i + 1, err, "a key before the first group: start with [database]");
        }
        g_free(line);
        if (!ok)
            return false;
    }
    return true;
}

dbr_settings *dbr_settings_load(const char *path, const char *text, dbr_error **err)
{
    dbr_settings *st = g_new0(dbr_settings, 1);
    GError *gerr = NULL;
    char *owned = NULL;

    /* Every message starts with the source: bound it like any user text. */
    st->source = g_strdup(path ? dbr_quote_name(path).text : "<string>");
    st->path = g_strdup(path);
    if (path) {
        if (!read_file(st, path, &owned, err))
            goto out_free;
        text = owned;
    }
    if (!g_utf8_validate(text, -1, NULL)) {
        fail_file(st, 0, err, "not a text file: the config must be UTF-8 text in INI form");
        goto out_free;
    }
    st->lines = g_strsplit(text, "\n", -1);
    if (!check_lines(st, err))
        goto out_free;
    st->kf = g_key_file_new();
    if (!g_key_file_load_from_data(st->kf, text, (gsize)-1, G_KEY_FILE_NONE, &gerr)) {
        fail_file(st, 0, err, "not a valid INI file: %s", dbr_quote(gerr->message).text);
        goto out_free;
    }
    if (!check_duplicate_keys(st, err) || !load_database(st, err) || !load_chain(st, err) ||
        !check_groups(st, err))
        goto out_free;
    g_free(owned);
    return st;

out_free:
    if (gerr)
        g_error_free(gerr);
    g_free(owned);
    dbr_settings_free(st);
    return NULL;
}

static void wipe_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        memset(v[i], 0, strlen(v[i]));
    g_strfreev(v);
}

void dbr_settings_set_driver_opts(dbr_settings *st)
{
    st->driver_opts.struct_size = sizeof(st->driver_opts);
    st->driver_opts.password = st->password;
    st->driver_opts.noverrides = st->override_keys ? (int)g_strv_length(st->override_keys) : 0;
    st->driver_opts.override_keys = (const char *const *)st->override_keys;
    st->driver_opts.override_values = (const char *const *)st->override_values;
}

void dbr_settings_free(dbr_settings *st)
{
    if (!st)
        return;
    for (size_t i = 0; st->sections && st->sections[i]; i++)
        dbr_section_free(st->sections[i]);
    g_free(st->sections);
    if (st->conninfo)
        memset(st->conninfo, 0, strlen(st->conninfo));
    g_free(st->conninfo);
    if (st->password)
        memset(st->password, 0, strlen(st->password));
    g_free(st->password);
    wipe_strv(st->override_keys);
    wipe_strv(st->override_values);
    g_free(st->driver);
    g_free(st->reset_sql);
    g_free(st->idempotency_table);
    g_free(st->name);
    g_strfreev(st->plugins);
    g_strfreev(st->paths);
    g_strfreev(st->lines);
    if (st->kf)
        g_key_file_free(st->kf);
    g_free(st->source);
    g_free(st->path);
    g_free(st);
}
