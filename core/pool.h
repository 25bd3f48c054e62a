/* SPDX-License-Identifier: MIT */
/* The connection pool: the semantics of Go's database/sql pool. */
#ifndef DBR_CORE_POOL_H
#define DBR_CORE_POOL_H

#include <glib.h>

#include <dbr/driver.h>

#include "settings.h"

typedef struct dbr_pool dbr_pool;

typedef struct dbr_pconn {
    dbr_driver_conn *dc;
    int64_t created_us;
    int64_t expires_us; /* 0 = never */
    int64_t returned_us;
    guint epoch;            /* the pool's epoch when opened or last validated */
    guint64 id;             /* unique in its pool, from 1 */
    struct dbr_pconn *next; /* idle list */
} dbr_pconn;

/* What the pool did beyond Go's DBStats, for metrics. */
typedef struct dbr_pool_counters {
    long long resets, reset_failed;       /* session resets on return */
    long long validated, validate_failed; /* suspect connections pinged */
    long long refused;                    /* new sessions the server refused for lack of slots */
} dbr_pool_counters;

dbr_pool *dbr_pool_new(const struct dbr_driver_ops *drv, const dbr_settings *st);
/* Closes the idle connections and frees the pool; every connection must have
 * been returned. */
void dbr_pool_free(dbr_pool *pool);
/* Checks a connection out, waiting FIFO behind others while the pool is at
 * max_open, within ctx's deadline and cancellation. */
dbr_pconn *dbr_pool_get(dbr_pool *pool, dbr_ctx *ctx, dbr_error **err);
/* Returns a connection. It is closed instead of kept when discard is set,
 * when the driver says it is broken or still inside a transaction that
 * cannot be rolled back, or when it is past its lifetime. */
void dbr_pool_put(dbr_pool *pool, dbr_pconn *pc, bool discard);
void dbr_pool_read_stats(dbr_pool *pool, dbr_pool_stats *out);
/* dbr_close has begun: callers waiting for a connection fail at once
 * (DBR_ERR_MISUSE, nothing sent), and so do those that would wait. */
void dbr_pool_begin_close(dbr_pool *pool);
/* Closes every idle connection (after a failed health check), and those past
 * their idle time or lifetime; returns how many were closed. */
int dbr_pool_prune(dbr_pool *pool, bool all);
int dbr_pool_waiting(dbr_pool *pool);
/* One round trip on dc: the driver's ping, or SELECT 1 where it has none. */
bool dbr_driver_ping(const struct dbr_driver_ops *drv, dbr_driver_conn *dc, const dbr_wait *wait,
                     dbr_error **err);
void dbr_pool_read_counters(dbr_pool *pool, dbr_pool_counters *out);

#endif
