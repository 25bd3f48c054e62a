/* SPDX-License-Identifier: MIT */
/*
 * dbr health: one health check, as a report people read or JSON for
 * scripts; the exit code makes it a probe for orchestrators, cron and
 * Nagios: 0 healthy, 1 warning, 2 critical (a failed check, or a database
 * that cannot be reached), 3 unknown (a usage or config error: no check ran).
 */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health_json.h"
#include "tool.h"

/* A check that did not answer, in the health plugin's shape: critical,
 * with the check_failed alert the plugin raises for it. pool is NULL when
 * the database could not even be opened. */
static char *failed_report(const dbr_error *err, const dbr_pool_stats *pool)
{
    static const dbr_health_alert_view check_failed = {
        .condition = "check_failed", .severity = "critical", .value = 1, .threshold = 1};
    dbr_health_view v = {
        .status = "critical",
        .has_checked_at = true,
        .checked_at = g_get_real_time() / G_USEC_PER_SEC,
        .error_kind = dbr_error_kind_name(dbr_error_kind_of(err)),
        .error = dbr_error_message(err), /* the operator's own command */
        .has_pool = pool != NULL,
        .alerts = &check_failed,
        .nalerts = 1,
    };

    if (pool)
        v.pool = *pool;
    return dbr_health_json(&v);
}

/* Without the health plugin: a ping and the pool, in the plugin's shape. */
static char *basic_check(dbr_db *db)
{
    dbr_ctx *ctx = dbr_ctx_with_timeout(2000);
    dbr_error *err = NULL;
    int64_t t0 = dbr_now_us(), took;
    bool ok = dbr_ping(db, ctx, &err);
    dbr_health_view v = {
        .status = "healthy",
        .has_checked_at = true,
        .checked_at = g_get_real_time() / G_USEC_PER_SEC,
        .ok = true,
        .has_ping = true,
        .has_pool = true,
    };
    char *report;

    took = dbr_now_us() - t0;
    dbr_pool_stats_get(db, &v.pool);
    v.ping_seconds = (double)took / 1e6;
    report = ok ? dbr_health_json(&v) : failed_report(err, &v.pool);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    return report;
}

static void print_report(const char *config, JsonObject *r)
{
    JsonArray *alerts = json_object_get_array_member(r, "alerts");

    printf("%s: %s\n", config, json_object_get_string_member(r, "status"));
    if (json_object_has_member(r, "error"))
        printf("  check failed: %s\n", json_object_get_string_member(r, "error"));
    /* Only what answered has a latency. */
    if (json_object_has_member(r, "ping_seconds"))
        printf("  ping:  %.1f ms\n", json_object_get_double_member(r, "ping_seconds") * 1000);
    if (json_object_has_member(r, "query_seconds"))
        printf("  probe: %.1f ms\n", json_object_get_double_member(r, "query_seconds") * 1000);
    if (json_object_has_member(r, "pool")) {
        JsonObject *p = json_object_get_object_member(r, "pool");

        printf("  pool:  %" G_GINT64_FORMAT " open (%" G_GINT64_FORMAT " in use, %" G_GINT64_FORMAT
               " idle) of %" G_GINT64_FORMAT " max\n",
               json_object_get_int_member(p, "open"), json_object_get_int_member(p, "in_use"),
               json_object_get_int_member(p, "idle"), json_object_get_int_member(p, "max_open"));
    }
    if (json_object_has_member(r, "breaker"))
        printf("  breaker: %s\n", json_object_get_string_member(r, "breaker"));
    for (guint i = 0; alerts && i < json_array_get_length(alerts); i++) {
        JsonObject *a = json_array_get_object_element(alerts, i);

        printf("  %s: %s = %g (threshold %g)\n", json_object_get_string_member(a, "severity"),
               json_object_get_string_member(a, "condition"),
               json_object_get_double_member(a, "value"),
               json_object_get_double_member(a, "threshold"));
    }
}

/* Something only the connect could find wrong with the config (a conninfo
 * libpq cannot parse) is still the config's fault. But what the server
 * said (a SQLSTATE: the database does not exist, 3D000) is the database
 * being unreachable for the service: critical. */
static bool config_fault(const dbr_error *err)
{
    dbr_error_kind k = dbr_error_kind_of(err);

    /* UNSUPPORTED: the config asks the driver for what it cannot do */
    return (k == DBR_ERR_CONFIG || k == DBR_ERR_MISUSE || k == DBR_ERR_UNSUPPORTED) &&
           !*dbr_error_sqlstate(err);
}

int cmd_health(const tool_opts *o)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    dbr_error *err = NULL;
    dbr_db *db;
    char *report = NULL;
    const char *status, *plugin;
    JsonObject *r;
    int rc;

    /* A config that does not load is unknown (3), not critical: check it
     * without connecting first, so that what fails after is the database. */
    db = tool_open(o, true, &err);
    if (!db) {
        rc = tool_fail_error(o, TOOL_HEALTH_UNKNOWN, err);
        dbr_error_free(err);
        return rc;
    }
    dbr_close(db);
    db = tool_open(o, false, &err);
    if (!db && config_fault(err)) {
        rc = tool_fail_error(o, TOOL_HEALTH_UNKNOWN, err);
        dbr_error_free(err);
        return rc;
    }
    if (!db) {
        /* Unreachable: for a probe that is critical, reported as a failed
         * check is. */
        report = failed_report(err, NULL);
        dbr_error_free(err);
    } else if ((plugin = tool_chain_name(db, "health"))) {
        char *reply = NULL;

        /* By the name the chain gives it, which need not be "health". */
        if (!dbr_control(db, plugin, "check", &reply, &err)) {
            rc = tool_fail_error(o, TOOL_HEALTH_UNKNOWN, err);
            dbr_error_free(err);
            dbr_close(db);
            return rc;
        }
        report = g_strdup(reply);
        free(reply);
    } else {
        report = basic_check(db);
    }
    dbr_close(db);
    if (!report || !json_parser_load_from_data(parser, report, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        rc = tool_fail(o, TOOL_HEALTH_UNKNOWN, "internal", "the health report is not JSON");
        g_free(report);
        return rc;
    }
    r = json_node_get_object(json_parser_get_root(parser));
    status = json_object_get_string_member(r, "status");
    rc = !status                          ? TOOL_HEALTH_UNKNOWN
         : strcmp(status, "healthy") == 0 ? 0
         : strcmp(status, "warning") == 0 ? 1
                                          : TOOL_HEALTH_CRITICAL;
    if (o->json)
        printf("%s\n", report);
    else
        print_report(dbr_quote_name(o->config).text, r);
    g_free(report);
    return rc;
}
