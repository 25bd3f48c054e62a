/* SPDX-License-Identifier: MIT */
/*
 * Alert conditions and their episodes.
 *
 * A condition is evaluated at every check; an alert is published once when
 * it starts (health.alert) and once when it ends (health.recovered), never
 * at every interval in between. The seed's conditions and defaults:
 *   critical: the breaker open for more than 1 minute, a failed check, an
 *             exhausted pool, ping latency over 1 s, an average connection
 *             wait over max_connection_wait_time (1 s)
 *   warning:  idle connections over 80% of open ones, an average connection
 *             wait over 500 ms, ping latency over 500 ms, fewer open
 *             connections than min_open_conns
 * and, beyond the seed, the probe query's latency (warning over 500 ms,
 * critical over 1 s): a ping answers even while locks or load make real
 * queries slow.
 */
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "health_json.h"

const char *const health_condition_names[NCONDS] = {
    [COND_BREAKER_OPEN] = "breaker_open",     [COND_CHECK_FAILED] = "check_failed",
    [COND_POOL_EXHAUSTED] = "pool_exhausted", [COND_PING_CRITICAL] = "ping_latency",
    [COND_WAIT_CRITICAL] = "connection_wait", [COND_IDLE_HIGH] = "idle_connections",
    [COND_WAIT_WARNING] = "connection_wait",  [COND_PING_WARNING] = "ping_latency",
    [COND_OPEN_LOW] = "open_connections",     [COND_QUERY_CRITICAL] = "query_latency",
    [COND_QUERY_WARNING] = "query_latency",
};

const severity health_condition_severity[NCONDS] = {
    [COND_BREAKER_OPEN] = SEV_CRITICAL,   [COND_CHECK_FAILED] = SEV_CRITICAL,
    [COND_POOL_EXHAUSTED] = SEV_CRITICAL, [COND_PING_CRITICAL] = SEV_CRITICAL,
    [COND_WAIT_CRITICAL] = SEV_CRITICAL,  [COND_IDLE_HIGH] = SEV_WARNING,
    [COND_WAIT_WARNING] = SEV_WARNING,    [COND_PING_WARNING] = SEV_WARNING,
    [COND_OPEN_LOW] = SEV_WARNING,        [COND_QUERY_CRITICAL] = SEV_CRITICAL,
    [COND_QUERY_WARNING] = SEV_WARNING,
};

const char *health_status_name(severity s)
{
    static const char *const names[] = {"healthy", "warning", "critical"};

    return names[s];
}

/* In the unit each condition is reported in: seconds, percent, count. */
double health_threshold(const health_settings *cfg, condition c)
{
    switch (c) {
    case COND_BREAKER_OPEN:
        return (double)cfg->breaker_open_critical_us / 1e6;
    case COND_CHECK_FAILED:
    case COND_POOL_EXHAUSTED:
        return 1;
    case COND_PING_CRITICAL:
        return (double)cfg->ping_critical_us / 1e6;
    case COND_WAIT_CRITICAL:
        return (double)cfg->max_connection_wait_us / 1e6;
    case COND_IDLE_HIGH:
        return (double)cfg->max_idle_conn_pct;
    case COND_WAIT_WARNING:
        return (double)cfg->wait_warning_us / 1e6;
    case COND_PING_WARNING:
        return (double)cfg->ping_warning_us / 1e6;
    case COND_OPEN_LOW:
        return (double)cfg->min_open_conns;
    case COND_QUERY_CRITICAL:
        return (double)cfg->query_critical_us / 1e6;
    case COND_QUERY_WARNING:
        return (double)cfg->query_warning_us / 1e6;
    default:
        return 0;
    }
}

void health_evaluate(const health_settings *cfg, health_report *r)
{
    const dbr_pool_stats *p = &r->pool;
    double idle_pct = p->open ? 100.0 * p->idle / p->open : 0;

    r->value[COND_BREAKER_OPEN] = (double)r->breaker_open_us / 1e6;
    r->value[COND_CHECK_FAILED] = r->ok ? 0 : 1;
    r->value[COND_POOL_EXHAUSTED] = (double)r->waiting;
    r->value[COND_QUERY_CRITICAL] = r->value[COND_QUERY_WARNING] = (double)r->query_us / 1e6;
    r->value[COND_PING_CRITICAL] = r->value[COND_PING_WARNING] = (double)r->ping_us / 1e6;
    r->value[COND_WAIT_CRITICAL] = r->value[COND_WAIT_WARNING] = r->wait_avg_us / 1e6;
    r->value[COND_IDLE_HIGH] = idle_pct;
    r->value[COND_OPEN_LOW] = p->open;

    r->active[COND_BREAKER_OPEN] = r->breaker_open_us > cfg->breaker_open_critical_us;
    r->active[COND_CHECK_FAILED] = !r->ok;
    /* every connection busy and callers had to wait for one */
    r->active[COND_POOL_EXHAUSTED] =
        p->max_open > 0 && p->in_use >= p->max_open && (r->waiting > 0 || r->waits > 0);
    r->active[COND_PING_CRITICAL] = r->ok && r->ping_us > cfg->ping_critical_us;
    r->active[COND_WAIT_CRITICAL] = r->wait_avg_us > (double)cfg->max_connection_wait_us;
    /* a pool of one idle connection is not "mostly idle": only above the floor */
    r->active[COND_IDLE_HIGH] = p->open > cfg->min_open_conns && idle_pct > cfg->max_idle_conn_pct;
    r->active[COND_WAIT_WARNING] =
        !r->active[COND_WAIT_CRITICAL] && r->wait_avg_us > (double)cfg->wait_warning_us;
    r->active[COND_PING_WARNING] =
        r->ok && !r->active[COND_PING_CRITICAL] && r->ping_us > cfg->ping_warning_us;
    r->active[COND_OPEN_LOW] = r->ok && p->open < cfg->min_open_conns;
    r->active[COND_QUERY_CRITICAL] = r->ok && r->query_us > cfg->query_critical_us;
    r->active[COND_QUERY_WARNING] =
        r->ok && !r->active[COND_QUERY_CRITICAL] && r->query_us > cfg->query_warning_us;
    r->status = SEV_OK;
    for (int c = 0; c < NCONDS; c++)
        if (r->active[c] && health_condition_severity[c] > r->status)
            r->status = health_condition_severity[c];
}

void health_announce(const dbr_host *host, const health_settings *cfg, const health_report *prev,
                     health_report *now)
{
    for (int c = 0; c < NCONDS; c++) {
        bool was = prev && prev->active[c];
        char value[32], threshold[32];

        now->since_us[c] = now->active[c] ? (was ? prev->since_us[c] : now->at_us) : 0;
        if (was == now->active[c])
            continue;
        g_snprintf(value, sizeof(value), "%g", now->value[c]);
        g_snprintf(threshold, sizeof(threshold), "%g", health_threshold(cfg, c));
        dbr_host_publish(host, now->active[c] ? "health.alert" : "health.recovered", "condition",
                         health_condition_names[c], "severity",
                         health_status_name(health_condition_severity[c]), "value", value,
                         "threshold", threshold, NULL);
    }
}

char *health_report_json(const health_settings *cfg, const health_report *r, bool detail)
{
    dbr_health_alert_view alerts[NCONDS + G_N_ELEMENTS(r->extra)];
    dbr_health_view v = {
        .status = health_status_name(r->status),
        .has_checked_at = true,
        .checked_at = r->at_unix,
        .ok = r->ok,
        /* The kind is safe to show anywhere; the text may name hosts and users. */
        .error_kind = r->error_kind ? dbr_error_kind_name(r->error_kind) : "none",
        .error = detail ? r->error : NULL,
        /* A latency only for what answered: a failed step's time measures the failure. */
        .has_ping = r->ping_ok,
        .ping_seconds = (double)r->ping_us / 1e6,
        .has_query = r->ok,
        .query_seconds = (double)r->query_us / 1e6,
        .has_pool = true,
        .pool = r->pool,
        .breaker = r->breaker ? r->breaker : "none",
        .alerts = alerts,
    };

    for (int c = 0; c < NCONDS; c++)
        if (r->active[c])
            alerts[v.nalerts++] = (dbr_health_alert_view){
                .condition = health_condition_names[c],
                .severity = health_status_name(health_condition_severity[c]),
                .value = r->value[c],
                .threshold = health_threshold(cfg, c),
                .has_for = true,
                .for_seconds = (double)(r->at_us - r->since_us[c]) / 1e6,
            };
    for (int i = 0; i < r->nextra; i++)
        alerts[v.nalerts++] = (dbr_health_alert_view){
            .condition = r->extra[i].condition,
            .severity = health_status_name(r->extra[i].severity),
            .value = r->extra[i].value,
            .threshold = r->extra[i].threshold,
        };
    return dbr_health_json(&v);
}
