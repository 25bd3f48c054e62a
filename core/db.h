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

#define DBR_NCALL_KINDS DBR_CALL_KIND_END

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
    gint pooler_found;    /* atomic: a pooler the config does not declare: no statement cache */
    gint pooler_tries;    /* atomic: failed attempts to look (pooler.c gives up after 3) */
    bool check_only;
    bool one_shot; /* dbr_open_opts.one_shot or check_only */
    /* atomic: one for the open db, one per prepared statement and listener
     * (SQLite's sqlite3_close_v2 keeps a closed connection the same way
     * until its last statement is finalized); the last to go frees it. */
    gint refs;
    /* dbr_close's barrier (chain.c): calls in flight, counted on their own
     * cache line, and whether close has begun. */
    struct {
        gint inflight; /* atomic */
        gint closing;  /* atomic */
        GMutex lock;
        GCond idle;
    } __attribute__((aligned(64))) gate;
    dbr_counter *calls_ok[DBR_NCALL_KINDS];
    dbr_counter *calls_failed[DBR_NCALL_KINDS];
    dbr_counter *commits_resolved[3]; /* committed, aborted, unresolved */
    gint keys_ready;                  /* atomic: the idempotency key table is known to exist */
    dbr_counter *key_replays;         /* dbr_tx_run_once calls an earlier run had done */
    dbr_histogram *call_seconds[DBR_NCALL_KINDS];
};

typedef bool (*dbr_terminal_fn)(dbr_call *call, dbr_error **err);
/* The work of a statement call on one connection, the same in autocommit
 * (dbr_autocommit_terminal) and in a transaction (tx.c). */
typedef bool (*dbr_run_fn)(dbr_call *call, dbr_driver_conn *dc, const dbr_wait *wait,
                           dbr_error **err);

struct dbr_call {
    dbr_call_kind kind;
    /* What runs the call below the last plugin: set by the API function
     * that made the call, from the file named after its kind (exec.c,
     * ping.c, tx.c, batch.c, stream.c, copy.c), so the chain knows none. */
    dbr_terminal_fn terminal;
    dbr_run_fn run; /* statement calls: the work on the connection */
    dbr_db *db;
    dbr_ctx *ctx;
    const char *sql;
    dbr_args args;       /* args.n 0: none */
    unsigned exec_flags; /* DBR_EXEC_* the terminal passes to the driver */
    int nstatements;     /* a batch's size; 1 for one statement */
    bool replay_spent;   /* input read or output delivered: cannot run again */
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
    /* The kind's own data (a batch, a stream's callback, a COPY's). */
    void *op;
};

struct dbr_next {
    dbr_db *db;
    int index; /* the link to run next; nlinks = the core */
};

struct dbr_result {
    const struct dbr_driver_ops *drv;
    dbr_driver_result *res;
    dbr_module_ref *module; /* the driver's, held while the result lives; NULL for a row a
                               stream lends its callback */
};

/* Runs a call through the whole chain, with the core's call metrics. A call
 * made once dbr_close has begun is refused, unless it is a statement of a
 * transaction already in flight (which close waits for). */
bool dbr_dispatch(dbr_db *db, dbr_call *call, dbr_error **err);
/* dbr_close's barrier: refuses new calls and returns once those in flight
 * have finished. */
void dbr_gate_close(dbr_db *db);
/* This thread is inside one of db's calls or event deliveries until the
 * matching unmark: dbr_close(db) from here is refused (dbr_gate_inside). */
void dbr_gate_mark(const dbr_db *db);
void dbr_gate_unmark(void);
/* Whether dbr_close has begun. */
bool dbr_gate_closed(const dbr_db *db);
/* A handle that outlives a call (dbr_stmt, dbr_listener) holds its db: after
 * dbr_close the db refuses calls but stays in memory until the last handle
 * is freed. */
void dbr_db_hold(dbr_db *db);
void dbr_db_release(dbr_db *db);
/* For the db's other entry points (dbr_control, metrics, pool statistics,
 * subscriptions): false once close has begun, else true and the caller
 * calls dbr_gate_leave when done. */
bool dbr_gate_enter(dbr_db *db);
/* Whether this thread is inside a call of db (a callback, a row function,
 * an event raised by the call): dbr_close there would wait for itself. */
bool dbr_gate_inside(const dbr_db *db);
void dbr_gate_leave(dbr_db *db);
/* The terminals' pool checkout: honours the call's ctx and a fault-injected
 * drop (dbr_call_set_drop_connection). */
dbr_pconn *dbr_checkout(dbr_call *call, dbr_error **err);
/* A terminal's start on a pooled connection: checks a connection out and
 * turns the ctx into the driver's wait. False (nothing sent) when the pool
 * or the ctx says no. */
dbr_pconn *dbr_terminal_begin(dbr_call *call, dbr_wait *wait, dbr_error **err);
/* The terminal of a statement call in autocommit: the pooler check of its
 * SQL, a connection, call->run, and no transaction left open. */
bool dbr_autocommit_terminal(dbr_call *call, dbr_error **err);
/* call->run of dbr_exec, dbr_query and dbr_exec_script and their tx_ forms. */
bool dbr_exec_run(dbr_call *call, dbr_driver_conn *dc, const dbr_wait *wait, dbr_error **err);
/* Fails a call whose driver lacks what it needs: DBR_ERR_UNSUPPORTED,
 * not applied. */
bool dbr_unsupported(const dbr_db *db, const char *what, dbr_error **err);
/* conninfo as the driver shows it, secrets hidden (its redact_conninfo),
 * or a fixed placeholder when it cannot; g_free it. */
char *dbr_conninfo_shown(const dbr_db *db, const char *conninfo);
/* Runs one statement on a connection and wraps the result (NULL when unwanted). */
bool dbr_run_on(dbr_db *db, dbr_driver_conn *dc, const dbr_wait *wait, const char *sql,
                const dbr_args *args, unsigned flags, dbr_result **out, dbr_error **err);
/* The exec flags a statement of this db runs with (the statement cache
 * unless a pooler in transaction mode is in front). */
unsigned dbr_exec_flags(const dbr_db *db);
/* Checks an API function's statement arguments: db, sql and args. */
bool dbr_check_statement(const char *fn, const dbr_db *db, const char *sql, const dbr_args *args,
                         dbr_error **err);
/* After an autocommit statement: a BEGIN left open is rolled back by the
 * pool, so the call fails (misuse) rather than report lost work as done. */
bool dbr_check_no_open_tx(dbr_call *call, dbr_pconn *pc, dbr_error **err);
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
/* The pooler check dbr_open makes, made on the first call's connection
 * when dbr_open did not (pooler.c). On false *pc went back to the pool and
 * *err says why: nothing of the call was sent. */
bool dbr_pooler_first_look(dbr_call *call, dbr_pconn **pc, dbr_wait *wait, dbr_error **err);
/* A result of db's driver, for the application: it keeps the driver
 * module mapped until dbr_result_free, even past dbr_close. */
dbr_result *dbr_result_wrap(const dbr_db *db, dbr_driver_result *res);

void dbr_host_init(dbr_host *host, dbr_db *db, const dbr_clock *clock, uint64_t seed);
/* The terminals of the kinds in tx.c (whole transaction and one statement
 * in it) and ping.c. */
bool dbr_tx_terminal(dbr_call *call, dbr_error **err);
bool dbr_tx_stmt_terminal(dbr_call *call, dbr_error **err);
bool dbr_ping_terminal(dbr_call *call, dbr_error **err);
bool dbr_connect_terminal(dbr_call *call, dbr_error **err);

#endif
