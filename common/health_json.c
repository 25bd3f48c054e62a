/* SPDX-License-Identifier: MIT */
/*
 * The health report's JSON shape (health_json.h). Written by hand rather
 * than with JsonGenerator: numbers keep at most 6 decimals, and the layout
 * (one alert a line) is what people read with curl.
 */
#include "health_json.h"
#include "json_text.h"

static void member(GString *out, const char *indent, const char *name)
{
    g_string_append_printf(out, "%s\"%s\": ", indent, name);
}

static void alert(GString *out, const dbr_health_alert_view *a)
{
    member(out, "", "condition");
    dbr_json_string(out, a->condition);
    g_string_append(out, ", ");
    member(out, "", "severity");
    dbr_json_string(out, a->severity);
    g_string_append(out, ", ");
    member(out, "", "value");
    dbr_json_number(out, a->value);
    g_string_append(out, ", ");
    member(out, "", "threshold");
    dbr_json_number(out, a->threshold);
    if (a->has_for) {
        g_string_append(out, ", ");
        member(out, "", "for_seconds");
        dbr_json_number(out, a->for_seconds);
    }
}

char *dbr_health_json(const dbr_health_view *v)
{
    GString *out = g_string_new("{\n");

    member(out, "  ", "status");
    dbr_json_string(out, v->status);
    g_string_append(out, ",\n");
    if (v->has_checked_at)
        g_string_append_printf(out, "  \"checked_at\": %" G_GINT64_FORMAT ",\n",
                               (gint64)v->checked_at);
    g_string_append_printf(out, "  \"ok\": %s,\n", v->ok ? "true" : "false");
    if (!v->ok) {
        member(out, "  ", "error_kind");
        dbr_json_string(out, v->error_kind ? v->error_kind : "none");
        g_string_append(out, ",\n");
        if (v->error) {
            member(out, "  ", "error");
            dbr_json_string(out, v->error);
            g_string_append(out, ",\n");
        }
    }
    if (v->has_ping) {
        member(out, "  ", "ping_seconds");
        dbr_json_number(out, v->ping_seconds);
        g_string_append(out, ",\n");
    }
    if (v->has_query) {
        member(out, "  ", "query_seconds");
        dbr_json_number(out, v->query_seconds);
        g_string_append(out, ",\n");
    }
    if (v->has_pool)
        g_string_append_printf(out,
                               "  \"pool\": {\"max_open\": %d, \"open\": %d, \"in_use\": %d, "
                               "\"idle\": %d, \"wait_count\": %lld, \"wait_duration_us\": %lld},\n",
                               v->pool.max_open, v->pool.open, v->pool.in_use, v->pool.idle,
                               v->pool.wait_count, v->pool.wait_duration_us);
    if (v->breaker) {
        member(out, "  ", "breaker");
        dbr_json_string(out, v->breaker);
        g_string_append(out, ",\n");
    }
    g_string_append(out, "  \"alerts\": [");
    for (int i = 0; i < v->nalerts; i++) {
        g_string_append(out, i ? ",\n    {" : "\n    {");
        alert(out, &v->alerts[i]);
        g_string_append(out, "}");
    }
    g_string_append(out, v->nalerts ? "\n  ]\n}" : "]\n}");
    return g_string_free(out, FALSE);
}
