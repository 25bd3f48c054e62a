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

typedef enum {
    DBR_TXSTATUS_IDLE = 0, /* no transaction open: fit for the pool */
    DBR_TXSTATUS_ACTIVE,   /* a statement is running */
    DBR_TXSTATUS_INTRANS,  /* in a transaction block */
    DBR_TXSTATUS_INERROR,  /* in a failed transaction block */
    DBR_TXSTATUS_BROKEN,   /* the connection is unusable */
} dbr_txstatus;

struct dbr_driver_ops {
    uint32_t struct_size; /* sizeof(struct dbr_driver_ops) the driver was built with */

    /* Opens a connection. conninfo is passed as the user wrote it (secrets
     * included): never log it. Required. */
    dbr_driver_conn *(*connect)(const char *conninfo, const dbr_wait *wait, dbr_error **err);
    /* Closes and frees. Must not block for long. Required. */
    void (*close)(dbr_driver_conn *conn);
    /* Runs one statement with text parameters (NULL = SQL NULL). Returns a
     * result the caller frees with result_free, or NULL and an error.
     * Required. */
    dbr_driver_result *(*exec)(dbr_driver_conn *conn, const char *sql, int nparams,
                               const char *const *params, const dbr_wait *wait, dbr_error **err);
    /* Result access; the strings belong to the result. Required. */
    int (*result_nrows)(const dbr_driver_result *res);
    int (*result_ncols)(const dbr_driver_result *res);
    const char *(*result_colname)(const dbr_driver_result *res, int col);
    const char *(*result_value)(const dbr_driver_result *res, int row, int col); /* NULL = NULL */
    long long (*result_affected)(const dbr_driver_result *res); /* -1 when not a count */
    void (*result_free)(dbr_driver_result *res);
    /* Transaction state as the driver knows it, without I/O. Required. */
    dbr_txstatus (*txstatus)(const dbr_driver_conn *conn);
    /* A round trip proving the server answers. Optional: the core falls back
     * to exec("SELECT 1"). */
    bool (*ping)(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);
    /* Without blocking, tells whether the connection still looks usable
     * (for instance: the server has not closed it while it sat idle). Called
     * on connections that were idle in the pool. Optional. */
    bool (*alive)(dbr_driver_conn *conn);
    /* Maps a SQLSTATE to a kind; DBR_ERR_NONE when it is not an error the
     * driver knows. Optional. */
    dbr_error_kind (*classify)(const char *sqlstate);
    /* SQL for transaction control. Optional: NULL or a NULL return falls back
     * to the SQL standard forms. begin_sql returns a static string. */
    const char *(*begin_sql)(const dbr_tx_opts *opts);
    /* Writes the statement for op on savepoint `name` into buf. */
    bool (*savepoint_sql)(char *buf, int len, int op /* 0 set, 1 release, 2 rollback to */,
                          const char *name);
    /* Resolving an ambiguous COMMIT (optional, both or neither):
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
    /* Runs a script of one or more statements (the simple protocol, no
     * parameters), for migrations. Optional: the core falls back to exec,
     * which runs one statement. Returns false and an error on the first
     * failing statement. */
    bool (*exec_script)(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait,
                        dbr_error **err);
    /* Takes a transaction-scoped advisory lock on key, waiting at most
     * timeout_us (a DBR_ERR_TIMEOUT error after that). Optional. */
    bool (*xact_lock)(dbr_driver_conn *conn, long long key, int64_t timeout_us,
                      const dbr_wait *wait, dbr_error **err);
    /* Whether commit_tracked can work on this server (the function it needs
     * may be revoked, missing on an older server, or a proxy may not pass a
     * pipeline through): 1 yes, 0 no, -1 not known (an error in err). Runs
     * outside any transaction; the core asks once per db. Optional: without
     * it commit_tracked is used untested. */
    int (*commit_tracking_probe)(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);
    /* Session state a user leaves behind (settings and roles, temporary
     * tables, prepared statements, LISTEN, session locks, held cursors):
     * session_changed tells, without I/O, whether a statement run since the
     * last reset may have changed it (true when unsure). session_reset
     * returns the session to the state of a new connection, in one round
     * trip: sql NULL runs the driver's own reset (PostgreSQL: DISCARD ALL),
     * else that SQL. It runs outside any transaction. Optional, both or
     * neither: without them the pool resets nothing. */
    bool (*session_changed)(const dbr_driver_conn *conn);
    bool (*session_reset)(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait,
                          dbr_error **err);
    /* Slots above: ABI 2.0 */
    /* Checks the syntax of a conninfo without any I/O: unknown keywords,
     * quoting, encoding. Returns false with a DBR_ERR_CONFIG error that
     * quotes none of the conninfo (it may hold a password). Optional: the
     * core calls it in dbr_open, before anything connects, so that `dbr
     * check` and an open with connect_on_open = false catch a typo. */
    bool (*check_conninfo)(const char *conninfo, dbr_error **err);
    /* Names the first thing in sql (a script of one or more statements)
     * that binds state to the server session beyond its transaction: a
     * session setting, a prepared statement, a listener, a session advisory
     * lock, a temporary table that outlives the transaction, a held cursor.
     * Returns NULL when there is none, else a static string naming it as
     * the user wrote it ("SET", "LISTEN", "pg_advisory_lock"). Reads the text
     * only, erring on the side of NULL (unlike session_changed): the core
     * refuses what it names when a pooler in transaction mode is in front
     * ([database] pooler = transaction), so a false name would refuse good
     * work. Thread-safe. Optional: without it nothing is refused. */
    const char *(*session_bound)(const char *sql);
    /* Whether a pooler (PgBouncer and the like) answers for the server on
     * this connection, in one round trip outside any transaction: 1 yes,
     * 0 no, -1 not known (an error in err). The core asks once per db, on
     * the connection dbr_open makes, and logs a warning when the answer
     * contradicts [database] pooler. Optional. */
    int (*pooler_detect)(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);
    /* Slots above: ABI 2.1 */
};

#ifdef __cplusplus
}
#endif

#endif /* DBR_DRIVER_H */
