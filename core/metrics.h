/* SPDX-License-Identifier: MIT */
/* The metrics registry of a db: counters, gauges, latency histograms. */
#ifndef DBR_CORE_METRICS_H
#define DBR_CORE_METRICS_H

#include <glib.h>

#include <dbr/plugin.h>

typedef struct dbr_metrics dbr_metrics;

dbr_metrics *dbr_metrics_new(void);
void dbr_metrics_free(dbr_metrics *m);
/* Registration returns the existing series for the same name and labels. */
dbr_counter *dbr_metrics_counter(dbr_metrics *m, const char *name, const char *help,
                                 const char *labels);
dbr_gauge *dbr_metrics_gauge(dbr_metrics *m, const char *name, const char *help,
                             const char *labels);
dbr_histogram *dbr_metrics_histogram(dbr_metrics *m, const char *name, const char *help,
                                     const char *labels);
void dbr_metrics_render(dbr_metrics *m, GString *out);
uint64_t dbr_counter_value(const dbr_counter *c);

#endif
