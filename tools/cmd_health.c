/* SPDX-License-Identifier: MIT */
/*
 * dbr health: one health check, as a report people read or JSON for
 * scripts; the exit code (0 healthy, 1 warning, 2 critical, 3 cannot open)
 * makes it a probe for orchestrators and cron.
 */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define EXIT_UNOPENED 3

static bool has_health_plugin(dbr_db *db)
{
    for (int i = 0; i < dbr_chain_count(db); i++) {
        dbr_module_info m;

        if (dbr_chain_module(db, i, &m) && strcmp(m.module, "health") == 0)
            return true;
    }
    return false;
}

/* Without the health plugin: a ping and the pool, as the same JSON shape. */
static char *basic_check(dbr_db *db)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    dbr_ctx *ctx = dbr_ctx_with_timeout(2000);
    dbr_error *err = NULL;
    int64_t t0 = dbr_now_us();
    bool ok = dbr_ping(db, ctx, &err);
    dbr_pool_stats st;

    dbr_pool_stats_get(db, &st);
    json_builder_begin_object(b);
    tool_json_str(b, "status", ok ? "healthy" : "critical");
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, ok);
    if (!ok)
        tool_json_str(b, "error", dbr_error_message(err));
    json_builder_set_member_name(b, "ping_seconds");
    json_builder_add_double_value(b, (double)(dbr_now_us() - t0) / 1e6);
    json_builder_set_member_name(b, "pool");
    json_builder_begin_object(b);
    tool_json_int(b, "max_open", st.max_open);
    tool_json_int(b, "open", st.open);
    tool_json_int(b, "in_use", st.in_use);
    tool_json_int(b, "idle", st.idle);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "alerts");
    json_builder_begin_array(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    return tool_json_text(b);
}

static void print_report(const char *config, JsonObject *r)
{
    JsonArray *alerts = json_object_get_array_member(r, "alerts");

    printf("%s: %s\n", config, json_object_get_string_member(r, "status"));
    if (json_object_has_member(r, "error"))
        printf("  check failed: %s\n", json_object_get_string_member(r, "error"));
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

int cmd_health(const tool_opts *o)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    dbr_error *err = NULL;
    dbr_db *db = dbr_open(o->config, &err);
    char *report = NULL;
    const char *status;
    JsonObject *r;
    int rc;

    if (!db) {
        if (o->json)
            printf(
                "{\"status\": \"critical\", \"ok\": false, \"error\": \"cannot open the db\"}\n");
        tool_error(o->config, err);
        dbr_error_free(err);
        return EXIT_UNOPENED;
    }
    if (has_health_plugin(db)) {
        if (!dbr_control(db, "health", "check", &report, &err)) {
            tool_error("health check", err);
            dbr_error_free(err);
            dbr_close(db);
            return EXIT_UNOPENED;
        }
    } else {
        char *basic = basic_check(db);

        report = strdup(basic);
        g_free(basic);
    }
    dbr_close(db);
    if (!json_parser_load_from_data(parser, report, -1, NULL)) {
        fprintf(stderr, "dbr: the health report is not JSON: %s\n", report);
        free(report);
        return EXIT_UNOPENED;
    }
    r = json_node_get_object(json_parser_get_root(parser));
    status = json_object_get_string_member(r, "status");
    rc = strcmp(status, "healthy") == 0 ? 0 : strcmp(status, "warning") == 0 ? 1 : 2;
    if (o->json)
        printf("%s\n", report);
    else
        print_report(o->config, r);
    free(report);
    return rc;
}
