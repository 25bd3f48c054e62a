/* SPDX-License-Identifier: MIT */
/*
 * Opening and closing a db, and the autocommit entry points.
 *
 * dbr_open: parse the config, load the driver, create the pool, load and
 * create each plugin in chain order (a plugin must read every key of its
 * group), make the first connection through the chain (so a retry plugin can
 * wait out a database that is still starting), then run the plugins' open
 * hooks. Any failure undoes what was done, in reverse.
 */
#include <glib.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "ctx.h"
#include "db.h"
#include "secret_key.h"

#ifndef DBR_VERSION
#define DBR_VERSION "0.0.0"
#endif

/* one_shot was added in what was tail padding after check_only: the size,
 * and so the ABI of the struct callers allocate, must not have changed. */
#define DBR_ROUND_UP(n, a) (((n) + (a)-1) / (a) * (a))
_Static_assert(sizeof(dbr_open_opts) ==
                   DBR_ROUND_UP(offsetof(dbr_open_opts, check_only) + sizeof(bool),
                                alignof(dbr_open_opts)),
               "dbr_open_opts grew: append members only where padding was");

const char *dbr_version(void)
{
    return DBR_VERSION;
}

/* The required slots (dbr/driver.h), each named when missing: the core
 * calls them without looking, so a driver without one never loads. */
static bool required_slots(const struct dbr_driver_ops *ops, const char *path, dbr_error **err)
{
#define REQUIRED(m)                                                                                \
    {                                                                                              \
#m, offsetof(struct dbr_driver_ops, m)                                                     \
    }
    static const struct {
        const char *name;
        size_t offset;
    } slots[] = {REQUIRED(connect),      REQUIRED(close),           REQUIRED(exec),
                 REQUIRED(result_nrows), REQUIRED(result_ncols),    REQUIRED(result_colname),
                 REQUIRED(result_value), REQUIRED(result_affected), REQUIRED(result_free),
                 REQUIRED(txstatus)};
#undef REQUIRED

    for (size_t i = 0; i < G_N_ELEMENTS(slots); i++) {
        const void *fn;

        if (ops->struct_size < slots[i].offset + sizeof(void (*)(void)))
            return dbr_set_error(err, DBR_ERR_PLUGIN, "loader",
                                 "refusing to load %s: its driver ops end (struct_size %u) "
                                 "before the required slot %s",
                                 path, (unsigned)ops->struct_size, slots[i].name);
        memcpy(&fn, (const char *)ops + slots[i].offset, sizeof(fn));
        if (!fn)
            return dbr_set_error(err, DBR_ERR_PLUGIN, "loader",
                                 "refusing to load %s: its driver ops lack the required slot %s",
                                 path, slots[i].name);
    }
    return true;
}

static bool load_driver(dbr_db *db, dbr_error **err)
{
    const char *name = db->st->driver;
    bool by_path = g_path_is_absolute(name);
    const struct dbr_driver_ops *ops;

    dbr_error *e = NULL;

    if (!dbr_loader_load(by_path ? NULL : name, by_path ? name : NULL, DBR_MODULE_DRIVER,
                         db->st->paths, &db->driver_mod, &e))
        return dbr_error_propagate(
            err, dbr_error_wrap(e, dbr_error_kind_of(e), "core", "%s:%d: [database] driver",
                                db->st->source, dbr_settings_line(db->st, "database", "driver")));
    ops = db->driver_mod.mod->ops;
    if (!required_slots(ops, db->driver_mod.path, err))
        return false;
    db->drv = ops;
    return true;
}

static bool load_plugin(dbr_db *db, int i, dbr_error **err)
{
    dbr_link *link = &db->links[i];
    dbr_config_section *sec = db->st->sections[i];
    const char *name = db->st->plugins[i], *module;
    const struct dbr_plugin_ops *ops;

    if (!dbr_config_get_string(sec, "module", NULL, &module, err))
        return false;
    dbr_error *e = NULL;

    if (!dbr_loader_load(module ? NULL : name, module, DBR_MODULE_PLUGIN, db->st->paths, &link->mod,
                         &e))
        return dbr_error_propagate(
            err, dbr_error_wrap(e, dbr_error_kind_of(e), "core", "%s:%d: %s", db->st->source,
                                module ? dbr_settings_line(db->st, sec->group, "module")
                                       : dbr_settings_line(db->st, "chain", "plugins"),
                                module ? "module" : "[chain] plugins"));
    ops = link->mod.mod->ops;
    if (ops->struct_size < offsetof(struct dbr_plugin_ops, open) || !ops->create || !ops->destroy ||
        !ops->handle)
        return dbr_set_error(err, DBR_ERR_PLUGIN, "loader",
                             "refusing to load %s: its plugin ops lack create, destroy or handle",
                             link->mod.path);
    for (int j = 0; j < i; j++)
        if (strcmp(db->links[j].mod.mod->name, link->mod.mod->name) == 0)
            return dbr_set_error(err, DBR_ERR_PLUGIN, "loader",
                                 "refusing to load %s: a plugin named \"%s\" is already loaded",
                                 link->mod.path, link->mod.mod->name);
    link->ops = ops;
    if (!ops->create(sec, &db->host, &link->self, err)) {
        link->ops = NULL;
        if (err && !*err)
            dbr_set_error(err, DBR_ERR_PLUGIN, name, "plugin %s failed to start", name);
        return false;
    }
    return dbr_section_check_unread(sec, err);
}

static void register_core_metrics(dbr_db *db)
{
    static const char *const resolved[] = {"committed", "aborted", "unresolved"};

    for (int i = 0; i < 3; i++) {
        char *labels = g_strdup_printf("db=\"%s\",result=\"%s\"", db->st->name, resolved[i]);

        db->commits_resolved[i] = dbr_metrics_counter(
            db->metrics, "dbr_commit_resolutions_total",
            "COMMITs whose answer was lost, looked up with the transaction id, by result.", labels);
        g_free(labels);
    }
    {
        char *labels = g_strdup_printf("db=\"%s\"", db->st->name);

        db->key_replays = dbr_metrics_counter(
            db->metrics, "dbr_tx_key_replays_total",
            "dbr_tx_run_once calls that found their key committed by an earlier run, so ran "
            "nothing.",
            labels);
        g_free(labels);
    }
    for (int k = DBR_CALL_CONNECT; k < DBR_NCALL_KINDS; k++) {
        char *ok = g_strdup_printf("db=\"%s\",kind=\"%s\",outcome=\"ok\"", db->st->name,
                                   dbr_call_kind_name(k));
        char *failed = g_strdup_printf("db=\"%s\",kind=\"%s\",outcome=\"error\"", db->st->name,
                                       dbr_call_kind_name(k));
        char *kind = g_strdup_printf("db=\"%s\",kind=\"%s\"", db->st->name, dbr_call_kind_name(k));

        db->calls_ok[k] = dbr_metrics_counter(db->metrics, "dbr_calls_total",
                                              "Calls through the chain, by kind and outcome.", ok);
        db->calls_failed[k] =
            dbr_metrics_counter(db->metrics, "dbr_calls_total",
                                "Calls through the chain, by kind and outcome.", failed);
        db->call_seconds[k] =
            dbr_metrics_histogram(db->metrics, "dbr_call_duration_seconds",
                                  "Latency of calls through the whole chain, by kind.", kind);
        g_free(ok);
        g_free(failed);
        g_free(kind);
    }
}

/* What a sibling (dbr_host_open_sibling) takes from its parent's settings,
 * beside its own config text: the connection, and keywords over it. */
typedef struct sibling {
    const dbr_settings *parent;
    const char *const *keys, *const *vals;
    int n;
} sibling;

static void adopt(dbr_settings *st, const sibling *sib)
{
    memset(st->conninfo, 0, strlen(st->conninfo));
    g_free(st->conninfo);
    st->conninfo = g_strdup(sib->parent->conninfo);
    st->password = g_strdup(sib->parent->password);
    st->override_keys = g_new0(char *, sib->n + 1);
    st->override_values = g_new0(char *, sib->n + 1);
    for (int i = 0; i < sib->n; i++) {
        st->override_keys[i] = g_strdup(sib->keys[i]);
        st->override_values[i] = g_strdup(sib->vals[i]);
    }
    dbr_settings_set_driver_opts(st);
}

static dbr_db *db_open(const char *path, const char *text, const dbr_open_opts *opts,
                       const sibling *sib, dbr_error **err)
{
    dbr_db *db = g_aligned_alloc0(1, sizeof(dbr_db), 64);

    db->refs = 1;
    dbr_call first = {
        .kind = DBR_CALL_CONNECT, .terminal = dbr_connect_terminal, .idempotent = true};
    GString *chain;
    char *safe;
    int n;

    db->st = dbr_settings_load(path, text, err);
    if (!db->st)
        goto out_fail;
    if (sib) /* set before anything reads it */
        adopt(db->st, sib);
    db->metrics = dbr_metrics_new();
    db->events = dbr_events_new();
    dbr_host_init(&db->host, db, opts ? opts->clock : NULL, opts ? opts->seed : 0);
    /* Before the plugins' create(): they may read it there. */
    db->check_only = opts && opts->check_only;
    db->one_shot = opts && (opts->one_shot || opts->check_only);
    register_core_metrics(db);
    if (!load_driver(db, err))
        goto out_fail;
    if (DBR_OPS_HAS(struct dbr_driver_ops, db->drv, check_conninfo)) {
        dbr_error *e = NULL;

        /* The conninfo alone, then with what goes beside it (the password
         * of password_file, a sibling's keywords), so that the error names
         * the line at fault. Here, not at the first connect: dbr check and
         * connect_on_open = false see it too. */
        if (!db->drv->check_conninfo(db->st->conninfo, NULL, &e)) {
            dbr_error_propagate(err,
                                dbr_error_wrap(e, DBR_ERR_CONFIG, "core",
                                               "%s:%d: [database] conninfo", db->st->source,
                                               dbr_settings_line(db->st, "database", "conninfo")));
            goto out_fail;
        }
        if (!db->drv->check_conninfo(db->st->conninfo, &db->st->driver_opts, &e)) {
            const char *key = db->st->driver_opts.password ? "password_file" : "conninfo";

            dbr_error_propagate(err,
                                dbr_error_wrap(e, DBR_ERR_CONFIG, "core", "%s:%d: [database] %s",
                                               db->st->source,
                                               dbr_settings_line(db->st, "database", key), key));
            goto out_fail;
        }
    }
    db->pool = dbr_pool_new(db->drv, db->st);
    n = (int)g_strv_length(db->st->plugins);
    db->links = g_new0(dbr_link, n);
    for (db->nlinks = 0; db->nlinks < n; db->nlinks++) {
        if (!load_plugin(db, db->nlinks, err)) {
            db->nlinks++; /* so dbr_close undoes this one too */
            goto out_fail;
        }
    }
    if (db->check_only)
        return db;
    if (db->st->connect_on_open && !dbr_dispatch(db, &first, err))
        goto out_fail;
    for (int i = 0; i < db->nlinks; i++) {
        dbr_link *link = &db->links[i];

        if (DBR_OPS_HAS(struct dbr_plugin_ops, link->ops, open) &&
            !link->ops->open(link->self, db, err))
            goto out_fail;
        link->opened = true;
    }
    chain = g_string_new(NULL);
    for (int i = 0; i < db->nlinks; i++)
        g_string_append_printf(chain, "%s > ", db->links[i].mod.mod->name);
    safe = dbr_conninfo_shown(db, db->st->conninfo);
    dbr_log(DBR_LOG_INFO, "core", NULL,
            "db \"%s\" open: chain %score, driver %s (%s), conninfo \"%s\"", db->st->name,
            chain->str, db->driver_mod.mod->name, db->driver_mod.path, safe);
    g_free(safe);
    g_string_free(chain, TRUE);
    return db;

out_fail:
    dbr_close(db);
    return NULL;
}

dbr_db *dbr_open(const char *config_path, dbr_error **err)
{
    if (!config_path)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_open: config_path is NULL"), NULL;
    return db_open(config_path, NULL, NULL, NULL, err);
}

dbr_db *dbr_open_string(const char *config_text, dbr_error **err)
{
    if (!config_text)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_open_string: config_text is NULL"),
               NULL;
    return db_open(NULL, config_text, NULL, NULL, err);
}

dbr_db *dbr_open_with(const dbr_open_opts *caller, dbr_error **err)
{
    dbr_open_opts opts;
    dbr_clock clock;

    if (!caller)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_open_with: opts is NULL"), NULL;
    if (!DBR_STRUCT_TAKE("dbr_open_with", "opts", &opts, caller, err) ||
        (opts.clock && !DBR_STRUCT_TAKE("dbr_open_with", "opts->clock", &clock, opts.clock, err)))
        return NULL;
    if (opts.clock)
        opts.clock = &clock; /* db_open copies it */
    if (!opts.config_path == !opts.config_text)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_open_with: give exactly one of config_path and config_text"),
               NULL;
    if (opts.clock && (!opts.clock->now_us || !opts.clock->sleep_until))
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_open_with: a clock needs now_us and sleep_until"),
               NULL;
    return db_open(opts.config_path, opts.config_text, &opts, NULL, err);
}

dbr_db *dbr_host_open_sibling(const dbr_host *host, const char *name, const char *const *keys,
                              const char *const *vals, int n, int max_open_conns, dbr_error **err)
{
    const dbr_db *parent = host ? host->db : NULL;
    const dbr_settings *st;
    dbr_open_opts opts = {0};
    sibling sib = {.keys = keys, .vals = vals, .n = n};
    char *text;
    dbr_db *db;

    if (!parent || !name || n < 0 || (n && (!keys || !vals)) || max_open_conns < 0)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_host_open_sibling: NULL or negative argument"),
               NULL;
    for (int i = 0; i < n; i++)
        if (!keys[i] || !vals[i] || !*keys[i])
            return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                                 "dbr_host_open_sibling: key or value %d is NULL (or the key "
                                 "empty)",
                                 i),
                   NULL;
    st = parent->st;
    sib.parent = st;
    /* No conninfo in the text: it could hold a password with " #" or "${"
     * that reading a config would cut or expand. It is set directly, and
     * the keys go to the driver beside it (driver_opts). */
    text = g_strdup_printf(
        "[database]\ndriver = %s\nname = %s\nmax_open_conns = %d\n"
        "max_idle_conns = %d\nconnect_on_open = false\n"
        "connect_timeout = %lldus\ncancel_timeout = %lldus\n"
        "cancel_grace = %lldus\npooler = %s\nstatement_cache_size = %d\n",
        st->driver, name, max_open_conns, MIN(max_open_conns, 2), (long long)st->connect_timeout_us,
        (long long)st->cancel_timeout_us, (long long)st->cancel_grace_us,
        st->pooler_transaction ? "transaction" : "none", st->driver_opts.statement_cache_size);
    opts.config_text = text;
    opts.clock = host->clock.now_us ? &host->clock : NULL;
    db = db_open(NULL, text, &opts, &sib, err);
    g_free(text);
    return db;
}

char *dbr_conninfo_shown(const dbr_db *db, const char *conninfo)
{
    char *shown, *out;

    if (!conninfo || !*conninfo)
        return g_strdup("");
    if (!db->drv || !DBR_OPS_HAS(struct dbr_driver_ops, db->drv, redact_conninfo))
        return g_strdup("(hidden: the driver cannot redact it)");
    shown = db->drv->redact_conninfo(conninfo);
    if (!shown)
        return g_strdup("(hidden)");
    out = g_strdup(shown);
    free(shown);
    return out;
}

static bool control(dbr_db *db, const char *plugin, const char *command, char **reply,
                    dbr_error **err)
{
    for (int i = 0; i < db->nlinks; i++) {
        dbr_link *link = &db->links[i];
        char *out = NULL;
        bool ok;

        if (strcmp(db->st->plugins[i], plugin) != 0)
            continue;
        if (!DBR_OPS_HAS(struct dbr_plugin_ops, link->ops, control))
            return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                                 "dbr_control: plugin %s takes no commands",
                                 dbr_quote(plugin).text);
        ok = link->ops->control(link->self, command, &out, err);
        if (reply)
            *reply = out;
        else
            free(out);
        return ok;
    }
    return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                         "dbr_control: no plugin %s in this db's chain", dbr_quote(plugin).text);
}

bool dbr_control(dbr_db *db, const char *plugin, const char *command, char **reply, dbr_error **err)
{
    bool ok;

    if (reply)
        *reply = NULL;
    if (!db || !plugin || !command)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_control: NULL argument");
    if (!dbr_gate_enter(db))
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_control: the db is closing");
    ok = control(db, plugin, command, reply, err);
    dbr_gate_leave(db);
    return ok;
}

void dbr_close(dbr_db *db)
{
    if (!db)
        return;
    /* A second close of a db a statement or listener keeps in memory would
     * drop the open db's reference twice and free it under them. */
    if (dbr_gate_closed(db)) {
        dbr_log(DBR_LOG_ERROR, "core", NULL,
                "dbr_close called twice on the same db: the second call is ignored");
        return;
    }
    if (dbr_gate_inside(db)) {
        /* Closing would wait for the call this thread is in: refuse, and
         * say so loudly, rather than hang. The db stays open. */
        dbr_log(
            DBR_LOG_ERROR, "core", NULL,
            "dbr_close called from inside a call of the same db (a transaction or stream "
            "callback) or from a subscriber to its events: refused, the db stays open; close it "
            "after the call or the event returns");
        return;
    }
    dbr_gate_close(db);
    for (int i = db->nlinks - 1; i >= 0; i--) {
        dbr_link *link = &db->links[i];

        if (link->opened && DBR_OPS_HAS(struct dbr_plugin_ops, link->ops, close))
            link->ops->close(link->self, db);
    }
    dbr_pool_free(db->pool);
    db->pool = NULL;
    dbr_db_release(db);
}

void dbr_db_hold(dbr_db *db)
{
    g_atomic_int_inc(&db->refs);
}

/* The rest of dbr_close, once no statement or listener needs the driver,
 * the settings, the metrics or the events any more. */
void dbr_db_release(dbr_db *db)
{
    if (!g_atomic_int_dec_and_test(&db->refs))
        return;
    for (int i = db->nlinks - 1; i >= 0; i--) {
        dbr_link *link = &db->links[i];

        if (link->ops)
            link->ops->destroy(link->self);
        dbr_loader_unload(&link->mod);
    }
    g_free(db->links);
    dbr_loader_unload(&db->driver_mod);
    dbr_events_free(db->events);
    dbr_metrics_free(db->metrics);
    dbr_settings_free(db->st);
    g_mutex_clear(&db->gate.lock);
    g_cond_clear(&db->gate.idle);
    g_aligned_free(db);
}

int dbr_chain_count(const dbr_db *db)
{
    return db ? db->nlinks : 0;
}

bool dbr_chain_module_sized(const dbr_db *db, int index, dbr_module_info *out, size_t size)
{
    const dbr_loaded *m;
    dbr_module_info all;

    if (!db || !out || size < sizeof(uint32_t) || index < -1 || index >= db->nlinks)
        return false;
    m = index < 0 ? &db->driver_mod : &db->links[index].mod;
    all.struct_size = (uint32_t)MIN(size, sizeof(all));
    all.name = index < 0 ? db->st->driver : db->st->plugins[index];
    all.module = m->mod->name;
    all.version = m->mod->version;
    all.description = m->mod->description ? m->mod->description : "";
    all.path = m->path;
    memcpy(out, &all, all.struct_size);
    return true;
}

#undef dbr_chain_module
DBR_API bool dbr_chain_module(const dbr_db *db, int index, dbr_module_info *out);
bool dbr_chain_module(const dbr_db *db, int index, dbr_module_info *out)
{
    return dbr_chain_module_sized(db, index, out, sizeof(dbr_module_info));
}

char **dbr_chain_settings(const dbr_db *db, int index)
{
    const char *group;
    GPtrArray *out;
    char **keys;

    if (!db || index < -1 || index >= db->nlinks)
        return NULL;
    group = index < 0 ? "database" : db->st->sections[index]->group;
    out = g_ptr_array_new();
    keys = g_key_file_get_keys(db->st->kf, group, NULL, NULL);
    for (char **k = keys; k && *k; k++) {
        char *raw = dbr_config_strip_comment(g_key_file_get_value(db->st->kf, group, *k, NULL));
        char *shown = strcmp(*k, "conninfo") == 0      ? dbr_conninfo_shown(db, raw)
                      : dbr_secret_key(*k, strlen(*k)) ? g_strdup("***")
                                                       : g_strdup(raw);

        g_ptr_array_add(out, g_strdup_printf("%s = %s", *k, g_strstrip(shown)));
        g_free(shown);
        g_free(raw);
    }
    g_strfreev(keys);
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

void dbr_strv_free(char **strv)
{
    g_strfreev(strv);
}

void dbr_pool_stats_get_sized(dbr_db *db, dbr_pool_stats *out, size_t size)
{
    dbr_pool_stats all = {0};

    if (!out || !size)
        return;
    if (db && dbr_gate_enter(db)) {
        dbr_pool_read_stats(db->pool, &all);
        dbr_gate_leave(db);
    }
    memcpy(out, &all, MIN(size, sizeof(all)));
}

#undef dbr_pool_stats_get
DBR_API void dbr_pool_stats_get(dbr_db *db, dbr_pool_stats *out);
void dbr_pool_stats_get(dbr_db *db, dbr_pool_stats *out)
{
    dbr_pool_stats_get_sized(db, out, sizeof(dbr_pool_stats));
}

void dbr_subscribe(dbr_db *db, dbr_event_fn fn, void *user)
{
    if (db && fn && dbr_gate_enter(db)) {
        dbr_events_subscribe(db->events, fn, user);
        dbr_gate_leave(db);
    }
}

void dbr_unsubscribe(dbr_db *db, dbr_event_fn fn, void *user)
{
    /* Also while closing: after it returns, fn is not called again. */
    if (db && fn)
        dbr_events_unsubscribe(db->events, fn, user);
}

int dbr_pool_waiters(dbr_db *db)
{
    int n;

    if (!db || !dbr_gate_enter(db))
        return 0;
    n = dbr_pool_waiting(db->pool);
    dbr_gate_leave(db);
    return n;
}

int dbr_pool_close_idle(dbr_db *db, bool all)
{
    int n;

    if (!db || !dbr_gate_enter(db))
        return 0;
    n = dbr_pool_prune(db->pool, all);
    dbr_gate_leave(db);
    return n;
}

static char *metrics_text(dbr_db *db);

char *dbr_metrics_text(dbr_db *db)
{
    char *text;

    if (!db || !dbr_gate_enter(db))
        return NULL;
    text = metrics_text(db);
    dbr_gate_leave(db);
    return text;
}

static char *metrics_text(dbr_db *db)
{
    dbr_pool_counters c;
    dbr_pool_stats s;
    GString *out;

    if (!db)
        return NULL;
    out = g_string_sized_new(4096);
    dbr_pool_read_stats(db->pool, &s);
    dbr_pool_read_counters(db->pool, &c);
    {
        /* Go's DBStats under Prometheus names, then what the pool does
         * beyond them. */
        const struct {
            const char *name, *type, *help;
            long long value;
        } pool_series[] = {
            {"max_open_connections", "gauge", "Maximum open connections (0 = unlimited).",
             s.max_open},
            {"open_connections", "gauge", "Open connections, in use or idle.", s.open},
            {"in_use_connections", "gauge", "Connections checked out.", s.in_use},
            {"idle_connections", "gauge", "Idle connections.", s.idle},
            {"wait_count_total", "counter", "Checkouts that had to wait.", s.wait_count},
            {"max_idle_closed_total", "counter", "Connections closed by max_idle_conns.",
             s.max_idle_closed},
            {"max_idle_time_closed_total", "counter", "Connections closed by conn_max_idle_time.",
             s.max_idle_time_closed},
            {"max_lifetime_closed_total", "counter", "Connections closed by conn_max_lifetime.",
             s.max_lifetime_closed},
            {"session_resets_total", "counter", "Returned connections whose session was reset.",
             c.resets},
            {"session_reset_failures_total", "counter",
             "Session resets that failed (the connection was closed).", c.reset_failed},
            {"validations_total", "counter",
             "Idle connections pinged after another was found ended by the server.", c.validated},
            {"validation_failures_total", "counter", "Of those, the ones found dead (closed).",
             c.validate_failed},
            {"connect_refusals_total", "counter",
             "New connections the server refused for lack of slots while the pool had its own.",
             c.refused},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(pool_series); i++)
            g_string_append_printf(out,
                                   "# HELP dbr_pool_%s %s\n# TYPE dbr_pool_%s %s\n"
                                   "dbr_pool_%s{db=\"%s\"} %lld\n",
                                   pool_series[i].name, pool_series[i].help, pool_series[i].name,
                                   pool_series[i].type, pool_series[i].name, db->st->name,
                                   pool_series[i].value);
    }
    g_string_append_printf(out,
                           "# HELP dbr_pool_wait_duration_seconds_total Time spent waiting for "
                           "a connection.\n# TYPE dbr_pool_wait_duration_seconds_total counter\n"
                           "dbr_pool_wait_duration_seconds_total{db=\"%s\"} %.6f\n",
                           db->st->name, (double)s.wait_duration_us / 1e6);
    dbr_metrics_render(db->metrics, out);
    /* The contract says free(): hand back malloc'd memory, not g_malloc'd. */
    {
        char *text = strdup(out->str);

        g_string_free(out, TRUE);
        return text;
    }
}
