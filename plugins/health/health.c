/* SPDX-License-Identifier: MIT */
/*
 * dbr-plugin-health: a background health monitor with alerts, connection
 * recycling, metrics, and an optional /healthz and /metrics endpoint.
 *
 *   [chain]
 *   plugins = retry, breaker, health
 *
 *   [plugin.health]
 *   interval = 30s              # production 30-60s, development 10-15s, critical 5-10s
 *   ping_timeout = 2s
 *   query_timeout = 3s
 *   probe_query = SELECT 1
 *   max_idle_conn_pct = 80      # warning above this share of idle connections
 *   min_open_conns = 1          # warning below this many open connections
 *   max_connection_wait_time = 1s  # critical above this average wait for a connection
 *   connection_wait_warning = 500ms
 *   ping_critical = 1s
 *   ping_warning = 500ms
 *   query_critical = 1s         # the probe query's latency
 *   query_warning = 500ms
 *   breaker_open_critical = 1m  # critical when the breaker stays open longer
 *   listen = 127.0.0.1:9187     # optional: GET /healthz and /metrics
 *   max_connections = 16        # the endpoint's concurrent clients
 *   connection_timeout = 10s    # an idle client is dropped after this
 *   detail = false              # true: /healthz shows the error text
 *
 * Alerts are events: health.alert (condition, severity, value, threshold)
 * once when a condition starts, health.recovered once when it ends.
 * Commands (dbr_control): "status" (the last check as JSON), "check" (run
 * one now, as JSON). Metrics: dbr_health_ping_seconds,
 * dbr_health_query_seconds, dbr_health_checks_total{outcome},
 * dbr_health_status (0 healthy, 1 warning, 2 critical), dbr_health_alerts.
 * docs/health.md has the whole story.
 */
#include <stdlib.h>
#include <string.h>

#include "archiver.h"
#include "health.h"

static bool read_settings(const dbr_config_section *cfg, health_settings *s, dbr_error **err)
{
    return dbr_config_get_duration(cfg, "interval", 30 * G_TIME_SPAN_SECOND,
                                   10 * G_TIME_SPAN_MILLISECOND, G_TIME_SPAN_DAY, &s->interval_us,
                                   err) &&
           dbr_config_get_duration(cfg, "ping_timeout", 2 * G_TIME_SPAN_SECOND,
                                   G_TIME_SPAN_MILLISECOND, G_TIME_SPAN_HOUR, &s->ping_timeout_us,
                                   err) &&
           dbr_config_get_duration(cfg, "query_timeout", 3 * G_TIME_SPAN_SECOND,
                                   G_TIME_SPAN_MILLISECOND, G_TIME_SPAN_HOUR, &s->query_timeout_us,
                                   err) &&
           dbr_config_get_string(cfg, "probe_query", "SELECT 1", &s->probe_query, err) &&
           dbr_config_get_int(cfg, "max_idle_conn_pct", 80, 0, 100, &s->max_idle_conn_pct, err) &&
           dbr_config_get_int(cfg, "min_open_conns", 1, 0, 100000, &s->min_open_conns, err) &&
           dbr_config_get_duration(cfg, "max_connection_wait_time", G_TIME_SPAN_SECOND, 0,
                                   G_TIME_SPAN_HOUR, &s->max_connection_wait_us, err) &&
           dbr_config_get_duration(cfg, "connection_wait_warning", 500 * G_TIME_SPAN_MILLISECOND, 0,
                                   G_TIME_SPAN_HOUR, &s->wait_warning_us, err) &&
           dbr_config_get_duration(cfg, "ping_critical", G_TIME_SPAN_SECOND, 0, G_TIME_SPAN_HOUR,
                                   &s->ping_critical_us, err) &&
           dbr_config_get_duration(cfg, "ping_warning", 500 * G_TIME_SPAN_MILLISECOND, 0,
                                   G_TIME_SPAN_HOUR, &s->ping_warning_us, err) &&
           dbr_config_get_duration(cfg, "query_critical", G_TIME_SPAN_SECOND, 0, G_TIME_SPAN_HOUR,
                                   &s->query_critical_us, err) &&
           dbr_config_get_duration(cfg, "query_warning", 500 * G_TIME_SPAN_MILLISECOND, 0,
                                   G_TIME_SPAN_HOUR, &s->query_warning_us, err) &&
           dbr_config_get_duration(cfg, "breaker_open_critical", G_TIME_SPAN_MINUTE, 0,
                                   G_TIME_SPAN_DAY, &s->breaker_open_critical_us, err) &&
           dbr_config_get_string(cfg, "listen", "", &s->listen, err) &&
           dbr_config_get_int(cfg, "max_connections", 16, 1, 1024, &s->max_connections, err) &&
           dbr_config_get_duration(cfg, "connection_timeout", 10 * G_TIME_SPAN_SECOND,
                                   G_TIME_SPAN_SECOND, G_TIME_SPAN_HOUR, &s->connection_timeout_us,
                                   err) &&
           dbr_config_get_bool(cfg, "detail", false, &s->detail, err);
}

static bool health_create(const dbr_config_section *cfg, const dbr_host *host, void **self,
                          dbr_error **err)
{
    health *h = g_new0(health, 1);
    dbr_error *aerr = NULL;
    char labels[128];

    h->host = host;
    if (!read_settings(cfg, &h->cfg, err)) {
        g_free(h);
        return false;
    }
    if (!*h->cfg.probe_query) {
        dbr_error_propagate(err, dbr_config_error(cfg, "probe_query", "must not be empty"));
        g_free(h);
        return false;
    }
    h->archiver = health_archiver_new(cfg, host, &aerr);
    if (!aerr && h->archiver && !dbr_host_supports(host, DBR_CAP_ARCHIVE_STATUS))
        aerr = dbr_config_error(cfg, "watch_archiving",
                                "true needs the driver's capability \"%s\", which driver \"%s\" "
                                "lacks: set it to false",
                                dbr_capability_name(DBR_CAP_ARCHIVE_STATUS),
                                dbr_host_driver_name(host));
    if (aerr) {
        dbr_error_propagate(err, aerr);
        health_archiver_free(h->archiver);
        g_free(h);
        return false;
    }
    g_mutex_init(&h->check_lock);
    g_mutex_init(&h->lock);
    g_cond_init(&h->wake);
    g_snprintf(labels, sizeof(labels), "db=\"%s\"", dbr_host_db_name(host));
    h->ping_seconds = dbr_host_histogram(host, "dbr_health_ping_seconds",
                                         "Latency of the health check's ping.", labels);
    h->query_seconds = dbr_host_histogram(host, "dbr_health_query_seconds",
                                          "Latency of the health check's probe query.", labels);
    h->status_gauge = dbr_host_gauge(host, "dbr_health_status",
                                     "Last check: 0 healthy, 1 warning, 2 critical.", labels);
    h->alerts_gauge =
        dbr_host_gauge(host, "dbr_health_alerts", "Alert conditions active now.", labels);
    g_snprintf(labels, sizeof(labels), "db=\"%s\",outcome=\"ok\"", dbr_host_db_name(host));
    h->checks_ok = dbr_host_counter(host, "dbr_health_checks_total", "Health checks run.", labels);
    g_snprintf(labels, sizeof(labels), "db=\"%s\",outcome=\"failed\"", dbr_host_db_name(host));
    h->checks_failed =
        dbr_host_counter(host, "dbr_health_checks_total", "Health checks run.", labels);
    *self = h;
    return true;
}

static void health_destroy(void *self)
{
    health *h = self;

    health_archiver_free(h->archiver);
    g_mutex_clear(&h->check_lock);
    g_mutex_clear(&h->lock);
    g_cond_clear(&h->wake);
    g_free(h);
}

static bool health_handle(void *self, dbr_call *call, const dbr_next *next, dbr_error **err)
{
    (void)self;
    return dbr_next_call(next, call, err);
}

static bool health_open(void *self, dbr_db *db, dbr_error **err)
{
    health *h = self;

    h->db = db;
    /* The breaker's state until its next event (when one is called so). */
    {
        char *reply = NULL;

        if (dbr_control(db, "breaker", "state", &reply, NULL) && reply) {
            const char *st = reply + strlen("state=");

            h->breaker = strncmp(st, "open", 4) == 0        ? "open"
                         : strncmp(st, "half-open", 9) == 0 ? "half-open"
                                                            : "closed";
        }
        free(reply);
    }
    /* A one-shot open (the dbr tool) answers "check" on its caller's thread
     * and serves nothing: the service it stands beside owns the port. */
    if (dbr_host_one_shot(h->host))
        return true;
    if (!health_monitor_start(h, err))
        return false;
    if (*h->cfg.listen && !health_http_start(h, err)) {
        health_monitor_stop(h);
        return false;
    }
    return true;
}

static void health_close(void *self, dbr_db *db)
{
    health *h = self;

    (void)db;
    health_http_stop(h);
    health_monitor_stop(h);
}

static bool health_control(void *self, const char *command, char **reply, dbr_error **err)
{
    health *h = self;
    health_report r;
    char *json;

    if (strcmp(command, "check") == 0) {
        health_check_now(h, &r);
    } else if (strcmp(command, "status") == 0) {
        if (!health_last(h, &r))
            health_check_now(h, &r);
    } else {
        return dbr_set_error(err, DBR_ERR_MISUSE, HEALTH_LAYER,
                             "unknown command %s: expected status or check",
                             dbr_quote(command).text);
    }
    if (reply) {
        json = health_report_json(&h->cfg, &r, true); /* the operator's own command */
        *reply = strdup(json);
        g_free(json);
    }
    return true;
}

static const struct dbr_plugin_ops health_ops = {
    .struct_size = sizeof(struct dbr_plugin_ops),
    .create = health_create,
    .destroy = health_destroy,
    .handle = health_handle,
    .open = health_open,
    .close = health_close,
    .control = health_control,
};

DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "health", "1.0.0",
                  "health monitor: checks, alerts, recycling, /healthz and /metrics", &health_ops)
