/* SPDX-License-Identifier: MIT */
/* The health plugin's shared state: settings, the monitor, alerts, the endpoint. */
#ifndef DBR_HEALTH_H
#define DBR_HEALTH_H

#include <glib.h>

#include <dbr/plugin.h>

#define HEALTH_LAYER "health"

typedef enum { SEV_OK = 0, SEV_WARNING = 1, SEV_CRITICAL = 2 } severity;

/* One alert condition, in the order of the seed's list. */
typedef enum {
    COND_BREAKER_OPEN,
    COND_CHECK_FAILED,
    COND_POOL_EXHAUSTED,
    COND_PING_CRITICAL,
    COND_WAIT_CRITICAL,
    COND_IDLE_HIGH,
    COND_WAIT_WARNING,
    COND_PING_WARNING,
    COND_OPEN_LOW,
    COND_QUERY_CRITICAL,
    COND_QUERY_WARNING,
    NCONDS
} condition;

typedef struct health_settings {
    int64_t interval_us, ping_timeout_us, query_timeout_us;
    const char *probe_query;
    long long max_idle_conn_pct, min_open_conns;
    int64_t max_connection_wait_us, wait_warning_us;
    int64_t ping_critical_us, ping_warning_us;
    int64_t query_critical_us, query_warning_us;
    int64_t breaker_open_critical_us;
    const char *listen;            /* "" = no endpoint */
    long long max_connections;     /* the endpoint's concurrent clients */
    int64_t connection_timeout_us; /* an idle client is dropped after this */
    bool detail;                   /* /healthz shows the error text (host and user names) */
} health_settings;

/* What one check saw. */
typedef struct health_report {
    int64_t at_us;             /* host clock */
    gint64 at_unix;            /* wall clock, for people */
    bool ok;                   /* ping and probe answered */
    bool ping_ok;              /* the ping answered: ping_us is a latency */
    char error[256];           /* why not */
    dbr_error_kind error_kind; /* and of what kind (DBR_ERR_NONE when ok) */
    int64_t ping_us, query_us;
    dbr_pool_stats pool;
    long long waits;     /* checkouts that had to wait since the last check */
    int waiting;         /* callers waiting for a connection at the check */
    double wait_avg_us;  /* their average wait, of those that got a connection */
    const char *breaker; /* last state seen in breaker.state events, or "none" */
    int64_t breaker_open_us;
    double value[NCONDS]; /* the measured value of each condition */
    bool active[NCONDS];
    int64_t since_us[NCONDS];
    severity status;
    /* Active alerts of other watches (archiver.c), listed after the above. */
    struct {
        const char *condition; /* static */
        severity severity;
        double value, threshold;
    } extra[8];
    int nextra;
} health_report;

typedef struct health {
    const dbr_host *host;
    health_settings cfg;
    dbr_db *db;

    GMutex check_lock; /* one check at a time */
    GMutex lock;       /* guards everything below */
    GCond wake;
    GThread *thread;
    bool stopping;
    dbr_ctx *in_flight; /* the running check's ctx, canceled on close */
    health_report last; /* the last completed check */
    bool have_last;
    const char *breaker; /* from breaker.state events */
    int64_t breaker_opened_us;
    long long prev_wait_count, prev_wait_us;
    int prev_waiting;

    struct MHD_Daemon *httpd;
    struct health_archiver *archiver; /* archiver.c; NULL unless watch_archiving */

    dbr_histogram *ping_seconds, *query_seconds;
    dbr_counter *checks_ok, *checks_failed;
    dbr_gauge *status_gauge, *alerts_gauge;
} health;

/* monitor.c */
bool health_monitor_start(health *h, dbr_error **err);
void health_monitor_stop(health *h);
/* Runs one check now (on the calling thread) and publishes alert changes. */
void health_check_now(health *h, health_report *out);
/* A copy of the last completed check, taken under the lock; false (out
 * untouched) when none has completed yet. */
bool health_last(health *h, health_report *out);

/* alerts.c */
extern const char *const health_condition_names[NCONDS];
extern const severity health_condition_severity[NCONDS];
double health_threshold(const health_settings *cfg, condition c);
/* Sets out->value, active and status from what the check measured. */
void health_evaluate(const health_settings *cfg, health_report *out);
/* Publishes health.alert / health.recovered for the changes from prev. */
void health_announce(const dbr_host *host, const health_settings *cfg, const health_report *prev,
                     health_report *now);
/* The report as JSON (g_free it); the error's text only with detail, since
 * it may name hosts and users. */
char *health_report_json(const health_settings *cfg, const health_report *r, bool detail);
const char *health_status_name(severity s);

/* http.c */
bool health_http_start(health *h, dbr_error **err);
void health_http_stop(health *h);

#endif
