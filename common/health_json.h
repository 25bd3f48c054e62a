/* SPDX-License-Identifier: MIT */
/*
 * The health report's JSON shape, written in one place: the health plugin
 * (dbr_control replies, /healthz) and `dbr health` without the plugin (a
 * ping, or a database that cannot be reached) describe a check in a view
 * and this writes it. docs/health.md shows the shape.
 */
#ifndef DBR_COMMON_HEALTH_JSON_H
#define DBR_COMMON_HEALTH_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <dbr/dbr.h>

typedef struct dbr_health_alert_view {
    const char *condition, *severity;
    double value, threshold;
    bool has_for;       /* how long it has been active is known: */
    double for_seconds; /* then written */
} dbr_health_alert_view;

/* One check as seen by whoever ran it; the has_ flags and NULL pointers
 * leave a member out. */
typedef struct dbr_health_view {
    const char *status; /* "healthy", "warning", "critical" */
    bool has_checked_at;
    int64_t checked_at;       /* wall clock, Unix seconds */
    bool ok;                  /* the check answered */
    const char *error_kind;   /* with !ok: the error's kind */
    const char *error;        /* with !ok: its message, or NULL to leave it out
                                 (it may name hosts and users) */
    bool has_ping, has_query; /* only what answered has a latency */
    double ping_seconds, query_seconds;
    bool has_pool;
    dbr_pool_stats pool;
    const char *breaker; /* the breaker's last state, or NULL */
    const dbr_health_alert_view *alerts;
    int nalerts;
} dbr_health_view;

/* The report as indented JSON (no final newline); g_free it. */
char *dbr_health_json(const dbr_health_view *v);

#endif
