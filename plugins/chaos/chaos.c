/* SPDX-License-Identifier: MIT */
/*
 * dbr-plugin-chaos: fault injection for testing resilience in staging.
 * Off unless enabled; deterministic with a seed.
 *
 *   [chain]
 *   plugins = retry, breaker, chaos   # innermost, so the others see its faults
 *
 *   [plugin.chaos]
 *   enabled = true
 *   seed = 42            # 0: from the clock; otherwise the same calls get the same faults
 *   error_rate = 0.2     # share of calls failed with error_kind
 *   error_kind = connection   # connection, timeout, resource, deadlock, serialization
 *   drop_rate = 0.05     # share of calls whose real connection is closed
 *   latency = 50ms       # delay added to...
 *   latency_rate = 0.1   # ...this share of calls
 *
 * An injected error is raised before anything is sent (phase before-send),
 * so a retry layer may repeat the call; a dropped connection is closed by
 * the core, so the pool's recovery path runs for real. Statements inside a
 * transaction are left alone: faults land on whole calls.
 *
 * Each call draws three numbers from the plugin's own generator, in a fixed
 * order, so a single-threaded workload with a fixed seed meets the same
 * faults every run. Events: chaos.fault (fault, call). Metrics:
 * dbr_chaos_faults_total{fault}.
 *
 * Written only against the public SDK (include/dbr/plugin.h).
 */
#include <glib.h>
#include <string.h>

#include <dbr/plugin.h>

#include "splitmix64.h"

typedef struct chaos {
    const dbr_host *host;
    bool enabled;
    uint64_t state; /* splitmix64.h, advanced atomically */
    double error_rate, drop_rate, latency_rate;
    dbr_error_kind error_kind;
    int64_t latency_us;
    dbr_counter *errors, *drops, *delays;
} chaos;

/* A uniform draw in [0, 1): the generator's top 53 bits. */
static double draw(chaos *c)
{
    return (double)(dbr_splitmix64(&c->state) >> 11) / 9007199254740992.0;
}

static bool chaos_create(const dbr_config_section *cfg, const dbr_host *host, void **self,
                         dbr_error **err)
{
    static const dbr_error_kind allowed[] = {DBR_ERR_CONNECTION, DBR_ERR_TIMEOUT, DBR_ERR_RESOURCE,
                                             DBR_ERR_DEADLOCK, DBR_ERR_SERIALIZATION};
    chaos *c = g_new0(chaos, 1);
    const char *kind;
    long long seed;
    char labels[128];

    c->host = host;
    if (!dbr_config_get_bool(cfg, "enabled", false, &c->enabled, err) ||
        !dbr_config_get_int(cfg, "seed", 0, 0, G_MAXINT64, &seed, err) ||
        !dbr_config_get_double(cfg, "error_rate", 0, 0, 1, &c->error_rate, err) ||
        !dbr_config_get_string(cfg, "error_kind", "connection", &kind, err) ||
        !dbr_config_get_double(cfg, "drop_rate", 0, 0, 1, &c->drop_rate, err) ||
        !dbr_config_get_duration(cfg, "latency", 0, 0, G_TIME_SPAN_MINUTE, &c->latency_us, err) ||
        !dbr_config_get_double(cfg, "latency_rate", 0, 0, 1, &c->latency_rate, err)) {
        g_free(c);
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(allowed); i++)
        if (strcmp(kind, dbr_error_kind_name(allowed[i])) == 0)
            c->error_kind = allowed[i];
    if (!c->error_kind) {
        dbr_error_propagate(err, dbr_config_error(cfg, "error_kind",
                                                  "expected connection, timeout, resource, "
                                                  "deadlock or serialization, got %s",
                                                  dbr_quote(kind).text));
        g_free(c);
        return false;
    }
    c->state = seed ? (guint64)seed : dbr_host_random(host);
    g_snprintf(labels, sizeof(labels), "db=\"%s\",fault=\"error\"", dbr_host_db_name(host));
    c->errors = dbr_host_counter(host, "dbr_chaos_faults_total", "Faults injected.", labels);
    g_snprintf(labels, sizeof(labels), "db=\"%s\",fault=\"drop\"", dbr_host_db_name(host));
    c->drops = dbr_host_counter(host, "dbr_chaos_faults_total", "Faults injected.", labels);
    g_snprintf(labels, sizeof(labels), "db=\"%s\",fault=\"latency\"", dbr_host_db_name(host));
    c->delays = dbr_host_counter(host, "dbr_chaos_faults_total", "Faults injected.", labels);
    *self = c;
    return true;
}

static void chaos_destroy(void *self)
{
    g_free(self);
}

static void fault(chaos *c, const dbr_call *call, const char *what)
{
    dbr_host_publish(c->host, "chaos.fault", "fault", what, "call",
                     dbr_call_kind_name(dbr_call_kind_of(call)), NULL);
}

static bool chaos_handle(void *self, dbr_call *call, const dbr_next *next, dbr_error **err)
{
    chaos *c = self;
    double d_drop, d_error, d_delay;

    if (!c->enabled || dbr_call_kind_of(call) == DBR_CALL_TX_STMT)
        return dbr_next_call(next, call, err);
    d_drop = draw(c);
    d_error = draw(c);
    d_delay = draw(c);
    if (d_delay < c->latency_rate && c->latency_us) {
        dbr_counter_add(c->delays, 1);
        fault(c, call, "latency");
        if (!dbr_host_sleep(c->host, dbr_call_ctx(call), c->latency_us, err))
            return false;
    }
    if (d_error < c->error_rate) {
        dbr_error *e = dbr_error_new(c->error_kind, "chaos", "injected %s failure",
                                     dbr_error_kind_name(c->error_kind));

        dbr_counter_add(c->errors, 1);
        fault(c, call, "error");
        dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
        dbr_error_set_transient(e, c->error_kind == DBR_ERR_CONNECTION ||
                                       c->error_kind == DBR_ERR_DEADLOCK ||
                                       c->error_kind == DBR_ERR_SERIALIZATION);
        return dbr_error_propagate(err, e);
    }
    if (d_drop < c->drop_rate) {
        dbr_counter_add(c->drops, 1);
        fault(c, call, "drop");
        dbr_call_set_drop_connection(call);
    }
    return dbr_next_call(next, call, err);
}

static const struct dbr_plugin_ops chaos_ops = {
    .struct_size = sizeof(struct dbr_plugin_ops),
    .create = chaos_create,
    .destroy = chaos_destroy,
    .handle = chaos_handle,
};

DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "chaos", "1.0.0",
                  "fault injection: errors, dropped connections, latency (off unless enabled)",
                  &chaos_ops)
