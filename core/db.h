/* SPDX-License-Identifier: MIT */
/* The db, the call and the chain, as the core's files share them. */
#ifndef DBR_CORE_DB_H
#define DBR_CORE_DB_H

#include <glib.h>

#include <dbr/driver.h>
#include <dbr/plugin.h>

#include "error_origin.h"
#include "events.h"
#include "loader.h"
#include "metrics.h"
#include "pool.h"
#include "settings.h"

#define DBR_NCALL_KINDS (DBR_CALL_TX_STMT + 1)

struct dbr_host {
    dbr_db *db;
    dbr_metrics *metrics;
    dbr_events *events;
    dbr_clock clock; /* now_us NULL: the real monotonic clock */
    guint64 rng;     /* splitmix64 state, advanced atomically */
};

typedef struct dbr_link {
    dbr_loaded mod;
    const struct dbr_plugin_ops *ops;
    void *self;
    bool opened;
} dbr_link;

struct dbr_db {
    dbr_settings *st;
    dbr_loaded driver_mod;
    const struct dbr_driver_ops *drv;
    dbr_pool *pool;
    dbr_link *links;
    int nlinks;
    dbr_host host;
    dbr_metrics *metrics;
    dbr_events *events;
    gint commit_tracking; /* atomic: 0 not probed yet, 1 COMMIT can learn xids, -1 cannot */
    gint pooler_checked;  /* atomic: whether a pooler in front was looked for (pooler.c) */
    bool check_only;
    bool one_shot; /* dbr_open_opts.one_shot or check_only */
    dbr_counter *calls_ok[DBR_NCALL_KINDS];
    dbr_counter *calls_failed[DBR_NCALL_KINDS];
    dbr_counter *commits_resolved[3]; /* committed, aborted, unresolved */
    gint keys_ready;                  /* atomic: the idempotency key table is known to exist */
    dbr_counter *key_replays;         /* dbr_tx_run_once calls an earlier run had done */
    dbr_histogram *call_seconds[DBR_NCALL_KINDS];
};

struct dbr_call {
    dbr_call_kind kind;
    dbr_db *db;
    dbr_ctx *ctx;
    const char *sql;
    int nparams;
    const char *const *params;
    bool idempotent;
    bool want_result; /* a query, not an exec */
    bool resolve_commit;
    bool script;          /* several statements, simple protocol, no parameters */
    bool drop_connection; /* fault injection */
    dbr_result *result;   /* a successful query's result */
    /* DBR_CALL_TX */
    const dbr_tx_opts *tx_opts;
    const char *tx_key; /* dbr_tx_run_once: the idempotency key, or NULL */
    bool *tx_already;   /* dbr_tx_run_once: set when an earlier run had committed */
    dbr_tx_fn fn;
    void *user;
    /* DBR_CALL_TX_STMT */
    struct tx *tx;
};

struct dbr_next {
    dbr_db *db;
    int index; /* the link to run next; nlinks = the core */
};

struct dbr_result {
    const struct dbr_driver_ops *drv;
    dbr_driver_result *res;
};

/* Runs a call through the whole chain, with the core's call metrics. */
bool dbr_dispatch(dbr_db *db, dbr_call *call, dbr_error **err);
/* The terminals' pool checkout: honours the call's ctx and a fault-injected
 * drop (dbr_call_set_drop_connection). */
dbr_pconn *dbr_checkout(dbr_call *call, dbr_error **err);
/* The bottom of the chain for a whole transaction and for one statement in it. */
bool dbr_tx_terminal(dbr_call *call, dbr_error **err);
bool dbr_tx_stmt_terminal(dbr_call *call, dbr_error **err);
/* Runs one statement on a connection and wraps the result (NULL when unwanted). */
bool dbr_run_on(dbr_db *db, dbr_driver_conn *dc, const dbr_wait *wait, const char *sql, int nparams,
                const char *const *params, dbr_result **out, dbr_error **err);
/* A script, through the driver's exec_script when it has one. */
bool dbr_run_script_on(dbr_db *db, dbr_driver_conn *dc, const dbr_wait *wait, const char *sql,
                       dbr_error **err);
/* False and a DBR_ERR_MISUSE error naming the construct when sql would keep
 * state in the server session and [database] pooler = transaction
 * (pooler.c). */
bool dbr_pooler_allows(const dbr_db *db, const char *sql, dbr_error **err);
/* Once per db: asks the driver whether a pooler answers for the server on
 * dc and warns when that contradicts [database] pooler. Never fails. */
void dbr_pooler_detect(dbr_db *db, dbr_driver_conn *dc, const dbr_wait *wait);
dbr_result *dbr_result_wrap(const struct dbr_driver_ops *drv, dbr_driver_result *res);

void dbr_host_init(dbr_host *host, dbr_db *db, const dbr_clock *clock, uint64_t seed);

#endif
