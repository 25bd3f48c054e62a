/* SPDX-License-Identifier: MIT */
/*
 * dbr/plugin.h - the middleware ABI: what a plugin module implements.
 *
 * A plugin is a shared module whose descriptor (dbr/module.h) has kind
 * DBR_MODULE_PLUGIN and ops pointing at a static const struct dbr_plugin_ops.
 * The plugins of a db form a chain in the order of the config file's
 * `[chain] plugins =`, outermost first; below the last one the core runs the
 * call (pool checkout, driver, pool return).
 *
 * A call is one unit of work: a connect, a ping, a statement or query in
 * autocommit, a whole transaction (the application's callback, so that a
 * retry re-runs all of it), or one statement inside a transaction. A
 * plugin's handle() may inspect it, call next zero times (refuse it), once
 * (pass it on: `return dbr_next_call(next, call, err);`) or several times
 * (retry), and shape the outcome.
 *
 * Ownership: the result of a successful query stays in the call and goes to
 * the application; a plugin that calls next again after a success must
 * first dbr_result_free(dbr_call_take_result(call)). An error from next
 * belongs to the plugin, which passes it up (dbr_error_propagate), wraps it,
 * or frees it.
 *
 * Threads: one plugin instance (self) serves every thread of its db at once;
 * handle() must be thread-safe and should not block except by calling next
 * or by dbr_host_sleep(). create, open, close and destroy run on the thread
 * that opens or closes the db.
 *
 * Time, randomness, events and metrics come from the dbr_host handed to
 * create(), never from globals, so tests can run a plugin on a fake clock.
 */
#ifndef DBR_PLUGIN_H
#define DBR_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "dbr.h"
#include "module.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DBR_CALL_CONNECT = 1, /* the first connection of dbr_open */
    DBR_CALL_PING,        /* dbr_ping */
    DBR_CALL_EXEC,        /* dbr_exec, autocommit */
    DBR_CALL_QUERY,       /* dbr_query, autocommit */
    DBR_CALL_TX,          /* a whole transaction: dbr_tx_run and its variants */
    DBR_CALL_TX_STMT,     /* one statement inside a transaction: never retry it alone */
    DBR_CALL_BATCH,       /* dbr_batch_run, autocommit: the whole batch (ABI 3.0) */
    DBR_CALL_STREAM,      /* dbr_query_stream, autocommit (ABI 3.0) */
    DBR_CALL_COPY,        /* dbr_copy_from / dbr_copy_to, autocommit (ABI 3.0) */
} dbr_call_kind;
/* One more than the highest kind this header knows; a library of a later
 * minor may pass kinds above it (treat them like an exec). */
#define DBR_CALL_KIND_END (DBR_CALL_COPY + 1)

typedef struct dbr_call dbr_call;
typedef struct dbr_next dbr_next;
typedef struct dbr_host dbr_host;

/* Reading the call. */
DBR_API dbr_call_kind dbr_call_kind_of(const dbr_call *call);
DBR_API const char *dbr_call_kind_name(dbr_call_kind kind); /* "exec", "tx", ... */
/* The SQL: NULL for connect, ping, tx; a batch's first statement. */
DBR_API const char *dbr_call_sql(const dbr_call *call);
DBR_API int dbr_call_nparams(const dbr_call *call);
/* The parameter values; with formats (NULL: all text), a value whose format
 * is 1 is binary, dbr_call_args(call)->lengths[i] bytes, not a string. */
DBR_API const char *const *dbr_call_params(const dbr_call *call);
DBR_API const dbr_args *dbr_call_args(const dbr_call *call); /* NULL when there are none */
/* The number of statements of a batch (1 for other statement calls, 0 for
 * connect, ping, tx). Since ABI 3.0. */
DBR_API int dbr_call_nstatements(const dbr_call *call);
/* Whether running the call again could still do what the caller asked:
 * false once a stream's row or a COPY TO's data reached the caller, or a
 * COPY FROM's callback was read (its data cannot be read again). A plugin
 * that runs a call again checks it first. Since ABI 3.0. */
DBR_API bool dbr_call_replayable(const dbr_call *call);
DBR_API dbr_ctx *dbr_call_ctx(const dbr_call *call);               /* may be NULL: no deadline */
DBR_API const dbr_tx_opts *dbr_call_tx_opts(const dbr_call *call); /* NULL unless a tx */
/* True when running the call twice cannot apply its work twice: pings,
 * read-only transactions, and calls the application marked so. */
DBR_API bool dbr_call_idempotent(const dbr_call *call);
/* The idempotency key of a dbr_tx_run_once transaction, else NULL. */
DBR_API const char *dbr_call_idempotency_key(const dbr_call *call);
/* Whether the call only reads, so that a standby may answer it: a read-only
 * transaction, or a call whose ctx route is DBR_ROUTE_STANDBY; never with
 * DBR_ROUTE_PRIMARY, never a COPY (it may load rows). */
DBR_API bool dbr_call_reads_only(const dbr_call *call);
/* Runs the call through another db's whole chain instead of passing it
 * down this one (a router sending a read to a standby's db); a query's
 * result comes back in the call. A statement inside a transaction cannot
 * move (DBR_ERR_MISUSE). */
DBR_API bool dbr_call_redirect(dbr_call *call, dbr_db *other, dbr_error **err);
DBR_API dbr_result *dbr_call_take_result(dbr_call *call);
/* For a transaction: when the connection is lost while COMMIT is in flight,
 * ask a fresh connection whether it committed (where the driver can), so
 * that "committed" becomes success and "aborted" a retryable error instead
 * of DBR_ERR_COMMIT_UNKNOWN. The retry plugin sets it (resolve_commit). */
DBR_API void dbr_call_set_resolve_commit(dbr_call *call, bool on);
/* Replaces the call's ctx for the layers below (a plugin that adds a
 * default deadline); returns the previous one, which the plugin puts back
 * before it returns. */
DBR_API dbr_ctx *dbr_call_swap_ctx(dbr_call *call, dbr_ctx *ctx);
/* Replaces the SQL the layers below see (a tagger that appends a comment);
 * returns the previous text, which the plugin puts back before it returns.
 * The new text stays the plugin's and must live until then. NULL sql is
 * refused (the old text is kept and returned). */
DBR_API const char *dbr_call_swap_sql(dbr_call *call, const char *sql);
/* Fault injection: the core closes the connection it checks out for this
 * call instead of using it, as if the server had dropped it, and fails the
 * call with a retryable connection error. */
DBR_API void dbr_call_set_drop_connection(dbr_call *call);

/* Passing the call down the chain. */
DBR_API bool dbr_next_call(const dbr_next *next, dbr_call *call, dbr_error **err);

/* Host services. Time here is the db's clock (dbr_open_opts), which tests
 * may replace with a fake one. */
DBR_API int64_t dbr_host_now_us(const dbr_host *host);
/* The same clock read cheaply (about 6 ns instead of 30 here), up to a few
 * milliseconds behind: for timeouts and expiry on a hot path, not for
 * measuring latency. */
DBR_API int64_t dbr_host_coarse_now_us(const dbr_host *host);
/* Sleeps us microseconds, waking at once when ctx is canceled; never past
 * ctx's deadline. Returns false (TIMEOUT or CANCELED) when woken early. */
DBR_API bool dbr_host_sleep(const dbr_host *host, dbr_ctx *ctx, int64_t us, dbr_error **err);
DBR_API uint64_t dbr_host_random(const dbr_host *host); /* thread-safe, seeded per db */
/* Publishes an event; fields are name, value pairs ending with NULL. */
DBR_API void dbr_host_publish(const dbr_host *host, const char *type, ...);
DBR_API const char *dbr_host_db_name(const dbr_host *host);
/* True when the db was opened for one command and is closed
 * right after (dbr_open_opts.one_shot or check_only, as the dbr tool does):
 * a plugin then starts nothing meant for a long-running service (listeners,
 * background threads, periodic work) and answers its commands (control)
 * on the caller's thread. Constant for the life of the db. */
DBR_API bool dbr_host_one_shot(const dbr_host *host);
/* Whether the db's driver has capability cap (as dbr_supports), and the
 * driver's name from [database] driver: already known in a plugin's
 * create, so a plugin that needs a capability refuses there, where its
 * config error names the file and line and `dbr check` sees it too. */
DBR_API bool dbr_host_supports(const dbr_host *host, dbr_capability cap);
DBR_API const char *dbr_host_driver_name(const dbr_host *host);

/* Looking at the database below the chain. Both are thread-safe, block
 * within ctx (NULL: no deadline) and return false with an error when the
 * database does not answer.
 *
 * dbr_host_probe opens a new connection with the db's driver and conninfo,
 * outside the pool, pings it and closes it: whether the server takes new
 * sessions now (a breaker's recovery probe). Bounded by connect_timeout too.
 *
 * dbr_host_check pings a pooled connection (sql NULL) or runs sql on one,
 * its result discarded, with no plugin on the way: a health check that
 * measures the database, never a retry's backoff or an open breaker. */
DBR_API bool dbr_host_probe(const dbr_host *host, dbr_ctx *ctx, dbr_error **err);
DBR_API bool dbr_host_check(const dbr_host *host, dbr_ctx *ctx, const char *sql, dbr_error **err);

/*
 * Opens a db beside the host's own, for a plugin that talks to another
 * server of the same cluster (a router's standby): the same driver,
 * credentials and timeouts, no plugins, no connection until the first
 * call, and the host's conninfo with the driver's connection keywords
 * keys[i] = vals[i] on top (they win; an empty value unsets the key; for
 * pq: host, port, target_session_attrs). The core does not edit the
 * conninfo: the pairs reach the driver in dbr_driver_opts, and a key the
 * driver does not know fails the first connect with DBR_ERR_CONFIG. The
 * strings are copied. name (letters, digits, '_', '-') labels its
 * metrics; the pooler setting is the host's too. Close it with dbr_close
 * before the plugin's destroy returns. NULL and DBR_ERR_MISUSE for a NULL
 * or negative argument, a NULL key or value, or an empty key.
 */
DBR_API dbr_db *dbr_host_open_sibling(const dbr_host *host, const char *name,
                                      const char *const *keys, const char *const *vals, int n,
                                      int max_open_conns, dbr_error **err);

/*
 * Runs n statements one after another, each in autocommit (one simple-
 * protocol Query each, so none is inside a transaction block), on one new
 * connection outside the pool and the chain that is closed afterwards:
 * for what must not run in a transaction (CREATE INDEX CONCURRENTLY) and
 * still needs the settings an earlier statement made (SET lock_timeout).
 * Nothing is retried: the caller decides what a failure means.
 *
 * Stops at the first failure. *done (may be NULL) is set to the number of
 * statements that completed; the failing one's fate is in the error's
 * outcome. Connecting is bounded by connect_timeout and ctx, statements by
 * ctx only (NULL: no deadline). A statement that leaves a transaction
 * open (BEGIN) stops the run with DBR_ERR_MISUSE; closing the connection
 * rolls it back.
 * Thread-safe.
 */
DBR_API bool dbr_host_run_session(const dbr_host *host, dbr_ctx *ctx, const char *const *statements,
                                  int n, int *done, dbr_error **err);

/* Metrics, registered at create() and updated lock-free on the hot path.
 * Names follow Prometheus conventions: dbr_ prefix, _total counters,
 * _seconds histograms. labels is "k=\"v\",k2=\"v2\"" or NULL. */
typedef struct dbr_counter dbr_counter;
typedef struct dbr_gauge dbr_gauge;
typedef struct dbr_histogram dbr_histogram;
DBR_API dbr_counter *dbr_host_counter(const dbr_host *host, const char *name, const char *help,
                                      const char *labels);
DBR_API dbr_gauge *dbr_host_gauge(const dbr_host *host, const char *name, const char *help,
                                  const char *labels);
DBR_API dbr_histogram *dbr_host_histogram(const dbr_host *host, const char *name, const char *help,
                                          const char *labels);
DBR_API void dbr_counter_add(dbr_counter *c, uint64_t n);
DBR_API void dbr_gauge_set(dbr_gauge *g, double v);
DBR_API void dbr_histogram_observe(dbr_histogram *h, double seconds);

struct dbr_plugin_ops {
    uint32_t struct_size; /* sizeof(struct dbr_plugin_ops) the plugin was built with */

    /* Builds an instance from the plugin's config group. Required. */
    bool (*create)(const dbr_config_section *cfg, const dbr_host *host, void **self,
                   dbr_error **err);
    /* Frees the instance, after close. Required. */
    void (*destroy)(void *self);
    /* The middleware itself. Required. */
    bool (*handle)(void *self, dbr_call *call, const dbr_next *next, dbr_error **err);
    /* Runs once the db is usable (after its first connect), in chain order.
     * A failure fails dbr_open. Optional. */
    bool (*open)(void *self, dbr_db *db, dbr_error **err);
    /* Runs when the db closes, in reverse chain order, before the pool
     * closes: stop threads and give back connections of your own (sibling
     * dbs) here; destroy may come much later (a prepared statement or a
     * listener can keep the closed db in memory). Optional. */
    void (*close)(void *self, dbr_db *db);
    /* Carries out an operator's command from dbr_control(); *reply, when
     * set, is a malloc'd string the caller frees. Thread-safe. Optional. */
    bool (*control)(void *self, const char *command, char **reply, dbr_error **err);
    /* Slots above: ABI 1.0 */
};

#ifdef __cplusplus
}
#endif

#endif /* DBR_PLUGIN_H */
