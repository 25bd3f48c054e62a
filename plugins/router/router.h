/* SPDX-License-Identifier: MIT */
/* The router plugin's shared pieces: its standbys and how far behind they are. */
#ifndef DBR_ROUTER_H
#define DBR_ROUTER_H

#include <glib.h>

#include <dbr/plugin.h>

#define ROUTER_LAYER   "router"
#define ROUTER_SAMPLES 512 /* the primary's log position over the last ones, for lag */

typedef struct replica {
    char *label;       /* "host:port", for metrics and messages */
    char *host, *port; /* as given */
    dbr_db *db;        /* its own pool (dbr_host_open_sibling) */
    gint up;           /* atomic: in recovery and answering at the last check */
    gint64 lag_us;     /* atomic: how far its replay is behind the primary */
    dbr_gauge *up_gauge, *lag_gauge;
    dbr_counter *calls_ok, *calls_error;
} replica;

typedef struct sample {
    int64_t at_us;
    int64_t lsn; /* the log position (dbr_replication_state.position), bytes */
} sample;

typedef struct router {
    const dbr_host *host;
    GPtrArray *replicas; /* replica * */
    int64_t max_lag_us, interval_us;
    int max_conns;
    dbr_db *primary; /* a sibling on the db's own conninfo: the log position */
    dbr_counter *fallbacks;
    guint next; /* atomic: round robin */
    /* the checker */
    GThread *thread;
    GMutex lock;
    GCond wake;
    bool stop;
    sample samples[ROUTER_SAMPLES];
    int nsamples, head;
} router;

/* replicas.c: the checker thread, started by open, stopped by close. */
void router_checker_start(router *r);
void router_checker_stop(router *r);
/* How far behind a standby that has replayed up to lsn is, from the
 * primary's samples (0 when it has everything the last sample saw). */
int64_t router_lag_us(const router *r, int64_t lsn, int64_t now_us);

#endif
