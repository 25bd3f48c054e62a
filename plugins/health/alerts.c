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
#include <json-glib/json-glib.h>
#include <stdio.h>

#include "health.h"

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

char *health_report_json(const health_settings *cfg, const health_report *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "status");
    json_builder_add_string_value(b, health_status_name(r->status));
    json_builder_set_member_name(b, "checked_at");
    json_builder_add_int_value(b, r->at_unix);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, r->ok);
    if (!r->ok) {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, r->error);
    }
    json_builder_set_member_name(b, "ping_seconds");
    json_builder_add_double_value(b, (double)r->ping_us / 1e6);
    json_builder_set_member_name(b, "query_seconds");
    json_builder_add_double_value(b, (double)r->query_us / 1e6);
    json_builder_set_member_name(b, "pool");
    json_builder_begin_object(b);
#define POOL_MEMBER(name, v)                                                                       \
    json_builder_set_member_name(b, name);                                                         \
    json_builder_add_int_value(b, (gint64)(v))
    POOL_MEMBER("max_open", r->pool.max_open);
    POOL_MEMBER("open", r->pool.open);
    POOL_MEMBER("in_use", r->pool.in_use);
    POOL_MEMBER("idle", r->pool.idle);
    POOL_MEMBER("wait_count", r->pool.wait_count);
    POOL_MEMBER("wait_duration_us", r->pool.wait_duration_us);
#undef POOL_MEMBER
    json_builder_end_object(b);
    json_builder_set_member_name(b, "breaker");
    json_builder_add_string_value(b, r->breaker ? r->breaker : "none");
    json_builder_set_member_name(b, "alerts");
    json_builder_begin_array(b);
    for (int c = 0; c < NCONDS; c++) {
        if (!r->active[c])
            continue;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "condition");
        json_builder_add_string_value(b, health_condition_names[c]);
        json_builder_set_member_name(b, "severity");
        json_builder_add_string_value(b, health_status_name(health_condition_severity[c]));
        json_builder_set_member_name(b, "value");
        json_builder_add_double_value(b, r->value[c]);
        json_builder_set_member_name(b, "threshold");
        json_builder_add_double_value(b, health_threshold(cfg, c));
        json_builder_set_member_name(b, "for_seconds");
        json_builder_add_double_value(b, (double)(r->at_us - r->since_us[c]) / 1e6);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_data(gen, NULL);
}
