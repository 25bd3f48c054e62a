/* SPDX-License-Identifier: MIT */
/* The health monitor's watch on WAL archiving (archiver.c). */
#ifndef DBR_HEALTH_ARCHIVER_H
#define DBR_HEALTH_ARCHIVER_H

#include "health.h"

typedef struct health_archiver health_archiver;

/* Reads watch_archiving (false: returns NULL, err untouched),
 * archive_age_warning, wal_warning_mb and slot_retained_warning_mb from
 * the plugin's section and registers the gauges; NULL with err set on bad
 * settings. Free with health_archiver_free (NULL is fine). */
health_archiver *health_archiver_new(const dbr_config_section *cfg, const dbr_host *host,
                                     dbr_error **err);
void health_archiver_free(health_archiver *a);

/* Queries db within ctx, sets the gauges, publishes health.alert /
 * health.recovered for the episodes that start or end; returns the worst
 * active severity and sets *nactive. Called from one thread at a time (the
 * monitor's check lock). */
severity health_archiver_check(health_archiver *a, dbr_db *db, dbr_ctx *ctx, int *nactive);
/* Lists the active alerts of the last check in r->extra, for the report. */
void health_archiver_report(const health_archiver *a, health_report *r);

#endif
