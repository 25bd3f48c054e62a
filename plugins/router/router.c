/* SPDX-License-Identifier: MIT */
/*
 * dbr-plugin-router: reads on streaming standbys, everything else on the
 * primary.
 *
 *   [chain]
 *   plugins = router, retry, breaker     # router outermost
 *
 *   [plugin.router]
 *   standbys = 10.0.0.2:5432, 10.0.0.3:5432   # host:port ([v6]:port, /socket/dir:port)
 *   max_replica_lag = 1s     # a standby further behind than this gets no reads
 *   check_interval = 500ms   # how often each standby's lag is measured
 *   max_conns = 4            # connections per standby
 *
 * What goes to a standby (dbr_call_reads_only): read-only transactions
 * (dbr_tx_read_only, or opts.read_only) and calls whose ctx route is
 * DBR_ROUTE_STANDBY; never a call whose ctx route is DBR_ROUTE_PRIMARY
 * (read your own writes). Each standby has its own pool, opened with the
 * db's conninfo and credentials and the standby's host and port on top
 * (target_session_attrs = any). A background check measures each
 * standby's replay lag against the primary's log position, in time (see
 * replicas.c); the driver must have DBR_CAP_REPLICATION (pq has, sqlite
 * has not: the router then refuses to open). A read goes to the next
 * standby, round robin, that is in
 * recovery, answering and no further behind than max_replica_lag; with
 * none, or when the standby fails it with a connection or transient error,
 * it runs on the primary through the rest of the chain (a read is safe to
 * run again). Metrics: dbr_router_replica_up{host},
 * dbr_router_replica_lag_seconds{host}, dbr_router_calls_total{host,result},
 * dbr_router_fallbacks_total.
 *
 * Learned from pgx's and HikariCP's read/write splitting advice and
 * PgBouncer's and Pgpool-II's lag checks; no code copied.
 */
#include <stdlib.h>
#include <string.h>

#include "router.h"

static void replica_free(replica *s)
{
    if (!s)
        return;
    dbr_close(s->db);
    g_free(s->label);
    g_free(s->host);
    g_free(s->port);
    g_free(s);
}

/* "host:port", "[v6]:port" or "/socket/dir:port" into its parts. */
static bool parse_standby(const char *text, char **host, char **port)
{
    const char *colon = strrchr(text, ':');
    char *h;

    if (!colon || colon == text || !colon[1])
        return false;
    for (const char *p = colon + 1; *p; p++)
        if (!g_ascii_isdigit(*p))
            return false;
    h = g_strndup(text, (gsize)(colon - text));
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        char *inner = g_strndup(h + 1, strlen(h) - 2);

        g_free(h);
        h = inner;
    }
    *host = h;
    *port = g_strdup(colon + 1);
    return true;
}

static bool parse_config(router *r, const dbr_config_section *cfg, dbr_error **err);
static void router_destroy(void *self);

static bool router_create(const dbr_config_section *cfg, const dbr_host *host, void **self,
                          dbr_error **err)
{
    router *r = g_new0(router, 1);

    r->host = host;
    r->replicas = g_ptr_array_new_with_free_func((GDestroyNotify)replica_free);
    g_mutex_init(&r->lock);
    g_cond_init(&r->wake);
    if (!parse_config(r, cfg, err)) {
        router_destroy(r);
        return false;
    }
    if (!dbr_host_supports(host, DBR_CAP_REPLICATION)) {
        dbr_error_propagate(err, dbr_config_error(cfg, NULL,
                                                  "the router needs the driver's capability "
                                                  "\"%s\" (where the server stands in "
                                                  "replication, to measure standby lag), which "
                                                  "driver \"%s\" lacks: remove router from "
                                                  "[chain] plugins",
                                                  dbr_capability_name(DBR_CAP_REPLICATION),
                                                  dbr_host_driver_name(host)));
        router_destroy(r);
        return false;
    }
    *self = r;
    return true;
}

static bool parse_config(router *r, const dbr_config_section *cfg, dbr_error **err)
{
    const char *list;
    long long conns;
    char **parts;

    if (!dbr_config_get_string(cfg, "standbys", "", &list, err) ||
        !dbr_config_get_duration(cfg, "max_replica_lag", G_TIME_SPAN_SECOND, 0, G_TIME_SPAN_HOUR,
                                 &r->max_lag_us, err) ||
        !dbr_config_get_duration(cfg, "check_interval", 500 * G_TIME_SPAN_MILLISECOND,
                                 10 * G_TIME_SPAN_MILLISECOND, G_TIME_SPAN_HOUR, &r->interval_us,
                                 err) ||
        !dbr_config_get_int(cfg, "max_conns", 4, 1, 10000, &conns, err))
        return false;
    r->max_conns = (int)conns;
    parts = g_strsplit(list, ",", -1);
    for (char **p = parts; *p; p++) {
        replica *s;

        g_strstrip(*p);
        if (!**p)
            continue;
        s = g_new0(replica, 1);
        if (!parse_standby(*p, &s->host, &s->port)) {
            dbr_error_propagate(err, dbr_config_error(cfg, "standbys",
                                                      "expected host:port entries separated by "
                                                      "commas (\"[::1]:5432\" for IPv6), got %s",
                                                      dbr_quote(*p).text));
            g_free(s);
            g_strfreev(parts);
            return false;
        }
        /* a label value of the metrics: keep it to a safe alphabet */
        s->label = g_strcanon(g_strdup(*p),
                              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                              "_.:/@+-[]",
                              '_');
        g_ptr_array_add(r->replicas, s);
    }
    g_strfreev(parts);
    if (!r->replicas->len)
        return dbr_set_error(err, DBR_ERR_CONFIG, ROUTER_LAYER,
                             "[plugin.router] standbys: name at least one standby (host:port)");
    return true;
}

static void router_destroy(void *self)
{
    router *r = self;

    router_checker_stop(r);
    g_ptr_array_free(r->replicas, TRUE);
    dbr_close(r->primary);
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->wake);
    g_free(r);
}

static bool router_open(void *self, dbr_db *db, dbr_error **err)
{
    static const char *const keys[] = {"host", "hostaddr", "port", "target_session_attrs"};
    router *r = self;
    char name[96], labels[256];

    if (dbr_host_one_shot(r->host)) /* the dbr tool: no standbys, no thread */
        return true;
    g_snprintf(name, sizeof(name), "%s-router-primary", dbr_host_db_name(r->host));
    r->primary = dbr_host_open_sibling(r->host, name, NULL, NULL, 0, 1, err);
    if (!r->primary)
        return false;
    g_snprintf(labels, sizeof(labels), "db=\"%s\"", dbr_host_db_name(r->host));
    r->fallbacks = dbr_host_counter(r->host, "dbr_router_fallbacks_total",
                                    "Reads that went to the primary: no standby fitted, or the "
                                    "standby failed them.",
                                    labels);
    for (guint i = 0; i < r->replicas->len; i++) {
        replica *s = g_ptr_array_index(r->replicas, i);
        const char *vals[] = {s->host, "", s->port, "any"};
        char *hl;

        g_snprintf(name, sizeof(name), "%s-standby-%u", dbr_host_db_name(r->host), i + 1);
        s->db = dbr_host_open_sibling(r->host, name, keys, vals, 4, r->max_conns, err);
        if (!s->db)
            return false;
        hl = g_strdup_printf("db=\"%s\",host=\"%s\"", dbr_host_db_name(r->host), s->label);
        s->up_gauge = dbr_host_gauge(r->host, "dbr_router_replica_up",
                                     "1 when the standby is in recovery and answered the last "
                                     "check.",
                                     hl);
        s->lag_gauge = dbr_host_gauge(r->host, "dbr_router_replica_lag_seconds",
                                      "How far the standby's replay is behind the primary.", hl);
        g_free(hl);
        hl = g_strdup_printf("db=\"%s\",host=\"%s\",result=\"ok\"", dbr_host_db_name(r->host),
                             s->label);
        s->calls_ok = dbr_host_counter(r->host, "dbr_router_calls_total",
                                       "Reads sent to a standby, by result.", hl);
        g_free(hl);
        hl = g_strdup_printf("db=\"%s\",host=\"%s\",result=\"error\"", dbr_host_db_name(r->host),
                             s->label);
        s->calls_error = dbr_host_counter(r->host, "dbr_router_calls_total",
                                          "Reads sent to a standby, by result.", hl);
        g_free(hl);
    }
    router_checker_start(r);
    return true;
}

/* The db's calls are over (dbr_close waits for them): the checker stops and
 * the siblings' connections go now, not when the last statement or
 * listener that keeps the closed db in memory is freed. */
static void router_close(void *self, dbr_db *db)
{
    router *r = self;

    (void)db;
    router_checker_stop(r);
    dbr_close(r->primary);
    r->primary = NULL;
    for (guint i = 0; i < r->replicas->len; i++) {
        replica *s = g_ptr_array_index(r->replicas, i);

        dbr_close(s->db);
        s->db = NULL;
    }
}

/* The next standby, round robin, that is up and close enough; NULL if none. */
static replica *pick(router *r)
{
    guint n = r->replicas->len, start = (guint)g_atomic_int_add((gint *)&r->next, 1);

    for (guint k = 0; k < n; k++) {
        replica *s = g_ptr_array_index(r->replicas, (start + k) % n);

        if (g_atomic_int_get(&s->up) &&
            __atomic_load_n(&s->lag_us, __ATOMIC_RELAXED) <= r->max_lag_us)
            return s;
    }
    return NULL;
}

static bool router_handle(void *self, dbr_call *call, const dbr_next *next, dbr_error **err)
{
    router *r = self;
    dbr_error *e = NULL;
    replica *s;

    if (!r->thread || !dbr_call_reads_only(call))
        return dbr_next_call(next, call, err);
    s = pick(r);
    if (!s) {
        dbr_counter_add(r->fallbacks, 1);
        return dbr_next_call(next, call, err);
    }
    if (dbr_call_redirect(call, s->db, &e)) {
        dbr_counter_add(s->calls_ok, 1);
        return true;
    }
    dbr_counter_add(s->calls_error, 1);
    /* The standby could not answer (gone, restarting, promoted away): the
     * primary can, and a read is safe to run again. An answer that is the
     * read's own fault, or the caller's deadline, stands. */
    if (dbr_error_kind_of(e) == DBR_ERR_CONNECTION || dbr_error_kind_of(e) == DBR_ERR_RESOURCE ||
        (dbr_error_transient(e) && dbr_error_kind_of(e) != DBR_ERR_TIMEOUT &&
         dbr_error_kind_of(e) != DBR_ERR_CANCELED)) {
        g_atomic_int_set(&s->up, 0); /* until the next check says otherwise */
        dbr_error_free(e);
        dbr_counter_add(r->fallbacks, 1);
        return dbr_next_call(next, call, err);
    }
    return dbr_error_propagate(err, e);
}

static const struct dbr_plugin_ops router_ops = {
    .struct_size = sizeof(struct dbr_plugin_ops),
    .create = router_create,
    .destroy = router_destroy,
    .handle = router_handle,
    .open = router_open,
    .close = router_close,
};

DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "router", "1.0.0",
                  "reads on streaming standbys within a lag bound, the rest on the primary",
                  &router_ops)
