/* SPDX-License-Identifier: MIT */
/*
 * tagger: a dbr middleware plugin that appends a sqlcommenter-style comment
 * to every statement, so the server's views and logs (pg_stat_activity,
 * log_min_duration_statement) show which application sent it: after
 * "SELECT 1" comes a block comment holding
 *
 *     application='billing',db_driver='dbr'
 *
 * Build it outside the dbr tree, against an installed dbr:
 *     meson setup build && ninja -C build           (meson.build beside this file)
 *     cc -shared -fPIC -fvisibility=hidden tagger.c -o dbr-plugin-tagger.so \
 *        $(pkg-config --cflags --libs dbr)
 *
 * Use it:
 *     [chain]
 *     plugins = tagger, retry
 *     [plugin.tagger]
 *     module = /opt/acme/lib/dbr-plugin-tagger.so
 *     application = billing
 *
 * docs/writing-plugins.md builds it step by step.
 */
#include <dbr/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tagger {
    char comment[160];   /* built once at create: the hot path only copies */
    dbr_counter *tagged; /* statements tagged, labelled with the db's name */
} tagger;

/* Values go inside '...': keep them to a safe alphabet rather than escape. */
static bool safe_value(const char *s)
{
    for (; *s; s++)
        if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') || ('0' <= *s && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

static bool tagger_create(const dbr_config_section *cfg, const dbr_host *host, void **self,
                          dbr_error **err)
{
    char labels[128];
    tagger *t;
    const char *app;

    if (!dbr_config_get_string(cfg, "application", "dbr-app", &app, err))
        return false;
    if (!*app || strlen(app) > 100 || !safe_value(app)) {
        /* A config error names file, group, key and line for the user. */
        dbr_error_propagate(err, dbr_config_error(cfg, "application",
                                                  "expected letters, digits, '-', '_' or '.' "
                                                  "(at most 100), got \"%s\"",
                                                  app));
        return false;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return dbr_set_error(err, DBR_ERR_RESOURCE, "tagger", "out of memory");
    snprintf(t->comment, sizeof(t->comment), " /*application='%s',db_driver='dbr'*/", app);
    /* The db's name ([database] name) tells apart the dbs of one process. */
    snprintf(labels, sizeof(labels), "db=\"%s\"", dbr_host_db_name(host));
    t->tagged = dbr_host_counter(host, "tagger_statements_total", "Statements tagged.", labels);
    *self = t;
    return true;
}

static bool tagger_handle(void *self, dbr_call *call, const dbr_next *next, dbr_error **err)
{
    tagger *t = self;
    const char *sql = dbr_call_sql(call), *old;
    size_t n;
    char *tagged;
    bool ok;

    /* Connects, pings and whole transactions carry no SQL of their own. */
    if (!sql)
        return dbr_next_call(next, call, err);
    n = strlen(sql);
    tagged = malloc(n + sizeof(t->comment));
    if (!tagged) /* never fail a call over a comment */
        return dbr_next_call(next, call, err);
    memcpy(tagged, sql, n);
    strcpy(tagged + n, t->comment);
    old = dbr_call_swap_sql(call, tagged);
    ok = dbr_next_call(next, call, err);
    dbr_call_swap_sql(call, old); /* put it back before returning: retry may read it */
    free(tagged);
    dbr_counter_add(t->tagged, 1); /* lock-free; a NULL counter (out of memory) is ignored */
    return ok;
}

static void tagger_destroy(void *self)
{
    free(self); /* the counter belongs to the db's registry, not to us */
}

static const struct dbr_plugin_ops tagger_ops = {
    .struct_size = sizeof(struct dbr_plugin_ops),
    .create = tagger_create,
    .destroy = tagger_destroy,
    .handle = tagger_handle,
};

DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "tagger", "1.0.0",
                  "appends a sqlcommenter comment naming the application", &tagger_ops)
