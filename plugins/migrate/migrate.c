/* SPDX-License-Identifier: MIT */
/*
 * dbr-plugin-migrate: versioned, locked, reversible schema migrations.
 *
 *   [chain]
 *   plugins = retry, migrate
 *
 *   [plugin.migrate]
 *   dir = /srv/app/migrations   # NNNN_description.up.sql / .down.sql
 *   table = dbr_schema_migrations
 *   lock_timeout = 1m           # waiting for another process's migration
 *   lock_key = 0                # advisory lock key (0: derived from the table name)
 *   auto = up                   # apply pending migrations when the db opens
 *   require = latest            # or: refuse to open while any is pending
 *
 * Migrations also come from C (dbr_migration_register). Commands, through
 * dbr_control(db, "migrate", COMMAND) or `dbr migrate -c FILE COMMAND`:
 * up, down [N], goto V, status, dry-run, force V, baseline V; each answers
 * with JSON. Events: migrate.start, migrate.applied, migrate.rolled_back
 * (version, description, duration_ms). docs/migrations.md has the rules.
 */
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

static bool valid_identifier(const char *s)
{
    if (!*s || !(g_ascii_isalpha(*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!(g_ascii_isalnum(*s) || *s == '_' || *s == '.'))
            return false;
    return true;
}

static bool migrate_create(const dbr_config_section *cfg, const dbr_host *host, void **self,
                           dbr_error **err)
{
    migrate *m = g_new0(migrate, 1);

    m->host = host;
    if (!dbr_config_get_string(cfg, "dir", "", &m->dir, err) ||
        !dbr_config_get_string(cfg, "table", "dbr_schema_migrations", &m->table, err) ||
        !dbr_config_get_duration(cfg, "lock_timeout", G_TIME_SPAN_MINUTE, G_TIME_SPAN_MILLISECOND,
                                 G_TIME_SPAN_DAY, &m->lock_timeout_us, err) ||
        !dbr_config_get_int(cfg, "lock_key", 0, G_MININT64, G_MAXINT64, &m->lock_key, err) ||
        !dbr_config_get_string(cfg, "auto", "", &m->auto_mode, err) ||
        !dbr_config_get_string(cfg, "require", "", &m->require, err))
        goto out_fail;
    if (!valid_identifier(m->table)) {
        dbr_error_propagate(err, dbr_config_error(cfg, "table",
                                                  "expected a table name ([a-z_][a-z0-9_]*, "
                                                  "optionally schema.table), got \"%s\"",
                                                  m->table));
        goto out_fail;
    }
    if (*m->auto_mode && strcmp(m->auto_mode, "up") != 0) {
        dbr_error_propagate(err, dbr_config_error(cfg, "auto", "expected \"up\" or nothing"));
        goto out_fail;
    }
    if (*m->require && strcmp(m->require, "latest") != 0) {
        dbr_error_propagate(err,
                            dbr_config_error(cfg, "require", "expected \"latest\" or nothing"));
        goto out_fail;
    }
    /* Relative to the config file, not to wherever the process runs (as
     * `dbr migrate` from another directory would find another folder). */
    if (*m->dir && !g_path_is_absolute(m->dir) && dbr_config_file(cfg)) {
        char *base = g_path_get_dirname(dbr_config_file(cfg));

        m->dir_owned = g_build_filename(base, m->dir, NULL);
        m->dir = m->dir_owned;
        g_free(base);
    }
    if (*m->dir && !g_file_test(m->dir, G_FILE_TEST_IS_DIR)) {
        dbr_error_propagate(err, dbr_config_error(cfg, "dir", "%s is not a directory", m->dir));
        goto out_fail;
    }
    if (!m->lock_key) {
        /* Stable across processes and builds: FNV-1a of the table name. */
        guint64 h = 1469598103934665603ULL;

        for (const char *p = m->table; *p; p++)
            h = (h ^ (guchar)*p) * 1099511628211ULL;
        m->lock_key = (long long)(h >> 1);
    }
    g_mutex_init(&m->lock);
    *self = m;
    return true;

out_fail:
    g_free(m->dir_owned);
    g_free(m);
    return false;
}

static void migrate_destroy(void *self)
{
    migrate *m = self;

    g_mutex_clear(&m->lock);
    g_free(m->dir_owned);
    g_free(m);
}

static bool migrate_handle(void *self, dbr_call *call, const dbr_next *next, dbr_error **err)
{
    (void)self;
    return dbr_next_call(next, call, err);
}

static bool migrate_open(void *self, dbr_db *db, dbr_error **err)
{
    migrate *m = self;

    m->db = db;
    /* A one-shot open (the dbr tool, even `dbr migrate` itself) applies
     * nothing and requires nothing on its own: the tool's command says
     * what to do. */
    if (dbr_host_one_shot(m->host))
        return true;
    if (*m->auto_mode) {
        char *reply;
        bool ok = migrate_command(m, "up", &reply, err);

        g_free(reply);
        if (!ok)
            return false;
    }
    return !*m->require || migrate_is_latest(m, err);
}

static bool migrate_control(void *self, const char *command, char **reply, dbr_error **err)
{
    migrate *m = self;
    char *json;
    bool ok;

    if (!m->db)
        return dbr_set_error(err, DBR_ERR_MISUSE, MIGRATE_LAYER,
                             "the db was opened with check_only: no migrations");
    ok = migrate_command(m, command, &json, err);
    /* a failed dry-run still reports what it tried (dbr_control passes it on) */
    if (reply && json) {
        *reply = strdup(json);
        if (!*reply && ok)
            ok = dbr_set_error(err, DBR_ERR_RESOURCE, MIGRATE_LAYER, "out of memory");
    }
    g_free(json);
    return ok;
}

static const struct dbr_plugin_ops migrate_ops = {
    .struct_size = sizeof(struct dbr_plugin_ops),
    .create = migrate_create,
    .destroy = migrate_destroy,
    .handle = migrate_handle,
    .open = migrate_open,
    .control = migrate_control,
};

DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "migrate", "1.0.0",
                  "versioned, locked, reversible schema migrations", &migrate_ops)
