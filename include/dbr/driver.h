/* SPDX-License-Identifier: MIT */
/*
 * dbr/driver.h - the driver ABI: what a database driver module implements.
 *
 * A driver is a shared module whose descriptor (dbr/module.h) has kind
 * DBR_MODULE_DRIVER and ops pointing at a static const struct
 * dbr_driver_ops. The core never includes a database client header; all that
 * is specific to one database (its wire protocol, its error codes, its
 * savepoint syntax) lives behind this table.
 *
 * Threads: the core uses one connection from one thread at a time. Functions
 * that take no connection (classify) may run on any thread at once.
 *
 * Blocking: every function that talks to the server takes a dbr_wait. When
 * its deadline passes or its cancel_fd turns readable, the driver asks the
 * server to stop and waits at most grace_us more for the server's own
 * answer, which decides the call: a success stays a success (the work was
 * done), the server's cancel error is DBR_ERR_TIMEOUT or DBR_ERR_CANCELED
 * with outcome not-applied. A driver that gets no answer within the grace
 * breaks the connection (the pool discards it) and reports the outcome as
 * unknown when the request may have reached the server. No cancel request
 * may outlive the call that sent it: the connection is not handed back
 * while one is in flight.
 *
 * Errors: the driver classifies native errors into kinds once, sets the
 * SQLSTATE, detail and hint, the phase, whether the failure is transient,
 * and the outcome of what reached the server (dbr/error.h): not-applied when
 * nothing was sent or the server refused or rolled back the statement;
 * unknown when the request was sent and no definite answer came (a lost
 * connection, a FATAL after the request left). The core decides the outcome
 * of a whole transaction from these.
 */
#ifndef DBR_DRIVER_H
#define DBR_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "dbr.h"
#include "module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A driver's connection and result; each driver defines the structs. */
typedef struct dbr_driver_conn dbr_driver_conn;
typedef struct dbr_driver_result dbr_driver_result;

/*
 * How long a driver call may block. deadline_us is on the dbr_now_us() clock,
 * 0 for none. cancel_fd is -1, or a descriptor that becomes readable (and
 * stays readable) when the caller's ctx is canceled: poll it with the socket.
 * grace_us bounds what may follow the deadline or a cancel: the cancel
 * request and the wait for the server's answer to it (0: give up at once).
 */
typedef struct dbr_wait {
    int64_t deadline_us;
    int cancel_fd;
    int64_t grace_us;
} dbr_wait;

/*
 * What the core tells the driver about the connections it opens (ABI 3.0).
 * A driver reads a field only when struct_size covers it.
 */
typedef struct dbr_driver_opts {
    uint32_t struct_size;     /* sizeof(dbr_driver_opts) the core was built with */
    int statement_cache_size; /* prepared statements a connection keeps (LRU); 0: none */
    /* Settings the core hands over instead of editing the conninfo text,
     * whose syntax only the driver knows. Each overrides what the conninfo
     * says, in this order, the later winning: first password, then the
     * override pairs in their order. The strings belong to the core and
     * live as long as the db; a driver copies what it keeps past connect
     * and wipes its copies of password (memset) before freeing them. */
    const char *password; /* [database] password_file's first line; NULL: none. A secret:
                             never in a log line, an error message or a metric label */
    int noverrides;       /* pairs in override_keys / override_values; 0: none */
    /* The driver's own connection keywords and their values, from a plugin
     * that opens a db beside this one (dbr_host_open_sibling: the router
     * gives a standby's host and port). An empty value unsets the key. A
     * key the driver does not know fails connect with DBR_ERR_CONFIG
     * naming the key (never the value); a driver that takes no keywords
     * refuses any. */
    const char *const *override_keys;
    const char *const *override_values;
} dbr_driver_opts;

/* Whether opts (may be NULL) carries field: a core of an older minor hands
 * a smaller struct, whose struct_size stops short of the fields it never
 * had. A driver reads a field only when this is true. */
#define DBR_DRIVER_OPTS_HAS(opts, field)                                                           \
    ((opts) && (opts)->struct_size >= offsetof(dbr_driver_opts, field) + sizeof((opts)->field))

/* exec flags. */
enum {
    /* The statement may be prepared and kept in the connection's statement
     * cache (dbr_driver_opts.statement_cache_size): the core sets it unless a
     * pooler in transaction mode is in front. A driver prepares a statement
     * on its first reuse, not its first run. */
    DBR_EXEC_CACHE = 1u << 0,
    /* Prepare it now and keep it in the statement cache (an explicit
     * dbr_stmt). Without DBR_EXEC_CACHE or with a cache size of 0 (a
     * pooler in transaction mode): prepared unnamed and run in the same
     * round trip, nothing kept. */
    DBR_EXEC_PREPARE = 1u << 1,
};

/* What a streaming driver hands the core for each row: a one-row result
 * the core reads and then frees with result_free. Returning false stops the
 * stream (err set, or NULL when the caller asked to stop). */
typedef bool (*dbr_driver_row_fn)(void *user, dbr_driver_result *row, dbr_error **err);

typedef enum {
    DBR_TXSTATUS_IDLE = 0, /* no transaction open: fit for the pool */
    DBR_TXSTATUS_ACTIVE,   /* a statement is running */
    DBR_TXSTATUS_INTRANS,  /* in a transaction block */
    DBR_TXSTATUS_INERROR,  /* in a failed transaction block */
    DBR_TXSTATUS_BROKEN,   /* the connection is unusable */
} dbr_txstatus;

struct dbr_driver_ops {
    uint32_t struct_size; /* sizeof(struct dbr_driver_ops) the driver was built with */

    /* Required slots: the loader refuses a driver without any of them, so
     * the core calls them without checking. */

    /* Opens a connection. conninfo is passed as the user wrote it (secrets
     * included): never log it. */
    dbr_driver_conn *(*connect)(const char *conninfo, const dbr_driver_opts *opts,
                                const dbr_wait *wait, dbr_error **err);
    /* Closes and frees. Must not block for long. */
    void (*close)(dbr_driver_conn *conn);
    /* Runs one statement. args may be NULL (no parameters); flags are
     * DBR_EXEC_*. Returns a result the caller frees with result_free, or
     * NULL and an error. */
    dbr_driver_result *(*exec)(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                               unsigned flags, const dbr_wait *wait, dbr_error **err);
    /* Result access; the strings belong to the result. */
    int (*result_nrows)(const dbr_driver_result *res);
    int (*result_ncols)(const dbr_driver_result *res);
    const char *(*result_colname)(const dbr_driver_result *res, int col);
    const char *(*result_value)(const dbr_driver_result *res, int row, int col); /* NULL = NULL */
    long long (*result_affected)(const dbr_driver_result *res); /* -1 when not a count */
    void (*result_free)(dbr_driver_result *res);
    /* Transaction state as the driver knows it, without I/O. */
    dbr_txstatus (*txstatus)(const dbr_driver_conn *conn);

    /* Optional slots: the core reads each through DBR_OPS_HAS and does
     * without it as each says. */

    /* A round trip proving the server answers. Without it: exec("SELECT 1"). */
    bool (*ping)(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);
    /* Without blocking, tells whether the connection still looks usable
     * (for instance: the server has not closed it while it sat idle). Called
     * on connections that were idle in the pool. Without it: assumed. */
    bool (*alive)(dbr_driver_conn *conn);
    /* SQL for transaction control. Without it: the SQL standard forms.
     * begin_sql returns a static string, or NULL for the standard form. */
    const char *(*begin_sql)(const dbr_tx_opts *opts);
    /* Resolving an ambiguous COMMIT (both or neither):
     * commit_tracked commits like exec("COMMIT") but first learns the
     * transaction's id, without assigning one to a transaction that wrote
     * nothing; on failure it leaves in xid a token naming that id on that
     * server's run ("" when it is not known, "none" when no id was
     * assigned; the core reads nothing else into it). xact_status asks, on
     * another connection, what became of it: 1 committed, 0 aborted, -1 not
     * known yet (still in progress), -3 never knowable here (the server has
     * restarted or is another server: an id whose transaction never reached
     * the WAL may have been given to another transaction since), or -2 and
     * an error. commit_tracked with xid NULL learns no id but keeps the
     * request ahead of COMMIT: a session the server ended before answering
     * it never read COMMIT, which is then reported not applied; the core
     * uses it for every COMMIT once commit_tracking_probe said yes. */
    bool (*commit_tracked)(dbr_driver_conn *conn, const dbr_wait *wait, char *xid, int xid_len,
                           dbr_error **err);
    int (*xact_status)(dbr_driver_conn *conn, const char *xid, const dbr_wait *wait,
                       dbr_error **err);
    /* Whether commit_tracked can work on this server (the function it needs
     * may be revoked, missing on an older server, or a proxy may not pass a
     * pipeline through): 1 yes, 0 no, -1 not known (an error in err). Runs
     * outside any transaction; the core asks once per db. Without it
     * commit_tracked is used untested. */
    int (*commit_tracking_probe)(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);
    /* Runs a script of one or more statements (no parameters), for
     * migrations. Without it: exec, which runs one statement. Returns false
     * and an error on the first failing statement. */
    bool (*exec_script)(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait,
                        dbr_error **err);
    /* Takes a transaction-scoped lock on key, waiting at most timeout_us (a
     * DBR_ERR_TIMEOUT error after that). Without it:
     * dbr_tx_advisory_lock is DBR_ERR_UNSUPPORTED. */
    bool (*xact_lock)(dbr_driver_conn *conn, long long key, int64_t timeout_us,
                      const dbr_wait *wait, dbr_error **err);
    /* Session state a user leaves behind (settings and roles, temporary
     * tables, prepared statements, LISTEN, session locks, held cursors):
     * session_changed tells, without I/O, whether a statement run since the
     * last reset may have changed it (true when unsure). session_reset
     * returns the session to the state of a new connection, in one round
     * trip: sql NULL runs the driver's own reset (PostgreSQL: DISCARD ALL),
     * else that SQL; the driver forgets its own prepared statements too. It
     * runs outside any transaction. Both or neither: without them the pool
     * resets nothing. */
    bool (*session_changed)(const dbr_driver_conn *conn);
    bool (*session_reset)(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait,
                          dbr_error **err);
    /* Checks the syntax of a conninfo without any I/O: unknown keywords,
     * quoting, encoding; with opts (non-NULL), also what connect would be
     * given beside it (a password the driver cannot use, an unknown
     * override keyword). Returns false with a DBR_ERR_CONFIG error that
     * quotes none of the conninfo or opts (they may hold a password). The
     * core calls it in dbr_open, before anything connects, once without
     * opts and once with them. */
    bool (*check_conninfo)(const char *conninfo, const dbr_driver_opts *opts, dbr_error **err);
    /* Names the first thing in sql (a script of one or more statements)
     * that binds state to the server session beyond its transaction: a
     * session setting, a prepared statement, a listener, a session advisory
     * lock, a temporary table that outlives the transaction, a held cursor.
     * Returns NULL when there is none, else a static string naming it as
     * the user wrote it ("SET", "LISTEN", "pg_advisory_lock"). Reads the text
     * only, erring on the side of NULL (unlike session_changed): the core
     * refuses what it names when a pooler in transaction mode is in front
     * ([database] pooler = transaction), so a false name would refuse good
     * work. Thread-safe. Without it nothing is refused. */
    const char *(*session_bound)(const char *sql);
    /* Whether a pooler (PgBouncer and the like) answers for the server on
     * this connection, in one round trip outside any transaction: 1 yes,
     * 0 no, -1 not known (an error in err). The core asks once per db, on
     * the connection dbr_open makes, and logs a warning when the answer
     * contradicts [database] pooler. */
    int (*pooler_detect)(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);

    /* Data access (ABI 3.0). Each slot a driver fills is a capability
     * (dbr_supports); a call that needs a missing one fails with
     * DBR_ERR_UNSUPPORTED, outcome not-applied, before anything is sent. */

    /* Prepares sql on conn and keeps it (as exec with DBR_EXEC_PREPARE
     * would; with a cache size of 0 only checks it), reporting its number
     * of parameters. Errors as exec's, not applied. DBR_CAP_PREPARE. */
    bool (*prepare)(dbr_driver_conn *conn, const char *sql, int *nparams, const dbr_wait *wait,
                    dbr_error **err);
    /* Typed access to a value (DBR_CAP_TYPED): the column's portable type,
     * and a value read as that type. result_get fails (false, a message in
     * why) on a NULL, a type that does not convert, or an overflow. Byte
     * strings stay valid as long as the result. */
    dbr_type (*result_coltype)(const dbr_driver_result *res, int col);
    bool (*result_get)(const dbr_driver_result *res, int row, int col, dbr_type as, dbr_value *out,
                       char *why, int why_len);
    /* Runs n statements in one round trip (DBR_CAP_PIPELINE). atomic: one
     * implicit transaction, all or none; else each commits on its own (in a
     * transaction block, all belong to it). Each statement gets a result in
     * results[i] or an error in errors[i] (NULL for one that did not run).
     * Returns false with err only when the batch as a whole failed (the
     * connection was lost): err's outcome then covers every statement whose
     * own entry is empty. */
    bool (*exec_batch)(dbr_driver_conn *conn, int n, const char *const *sql, const dbr_args *args,
                       bool atomic, dbr_driver_result **results, dbr_error **errors,
                       const dbr_wait *wait, dbr_error **err);
    /* Runs a query and hands its rows one by one to row (DBR_CAP_STREAM),
     * with memory that does not grow with the result. When row returns
     * false the driver stops the query, leaves the connection usable or
     * broken, and passes row's error (or none) back. */
    bool (*exec_stream)(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                        dbr_driver_row_fn row, void *user, const dbr_wait *wait, long long *rows,
                        dbr_error **err);
    /* COPY ... FROM STDIN fed by read, and COPY ... TO STDOUT drained into
     * write (DBR_CAP_COPY); *rows gets the server's row count. */
    bool (*copy_from)(dbr_driver_conn *conn, const char *sql, dbr_copy_read_fn read, void *user,
                      long long *rows, const dbr_wait *wait, dbr_error **err);
    bool (*copy_to)(dbr_driver_conn *conn, const char *sql, dbr_copy_write_fn write, void *user,
                    long long *rows, const dbr_wait *wait, dbr_error **err);
    /* Notifications (DBR_CAP_LISTEN, all three): listen starts (on) or stops
     * listening on channel; notify_wait waits for the next notification and
     * returns 1 with *channel and *payload (malloc'd, the caller frees) and
     * *pid, 0 when the wait's deadline passed or its cancel_fd turned
     * readable first (the caller's ctx says which), -1 and an error when
     * the connection is lost (txstatus then says BROKEN), after handing out
     * every notification that arrived before the loss. A connection that
     * has never listened drains and drops what arrives. */
    bool (*listen)(dbr_driver_conn *conn, const char *channel, bool on, const dbr_wait *wait,
                   dbr_error **err);
    int (*notify_wait)(dbr_driver_conn *conn, const dbr_wait *wait, char **channel, char **payload,
                       int *pid, dbr_error **err);

    /* What is specific to one database's syntax and catalogs, so that the
     * core and the plugins need not know it (ABI 3.0). */

    /* conninfo for a log line or `dbr check`: secrets hidden, and the rest
     * of a text that cannot be parsed with certainty dropped. Returns a
     * string allocated with malloc that the core frees with free(); NULL
     * when out of memory. No I/O; thread-safe. Without it the core shows a
     * fixed placeholder, never the text. */
    char *(*redact_conninfo)(const char *conninfo);
    /* Fills *out (dbr/dbr.h, DBR_CAP_REPLICATION) in one round trip outside
     * any transaction. The core passes a zeroed struct with its own
     * struct_size: a driver built against a newer header fills no field
     * past it. Errors as exec's. */
    bool (*replication_state)(dbr_driver_conn *conn, const dbr_wait *wait,
                              dbr_replication_state *out, dbr_error **err);
    /* Fills *out (dbr/dbr.h, DBR_CAP_ARCHIVE_STATUS), the same way. */
    bool (*archive_state)(dbr_driver_conn *conn, const dbr_wait *wait, dbr_archive_state *out,
                          dbr_error **err);
    /* Slots above: ABI 3.0 */
};

#ifdef __cplusplus
}
#endif

#endif /* DBR_DRIVER_H */
