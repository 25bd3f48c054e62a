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
 * Blocking: every function that talks to the server takes a dbr_wait and must
 * return by its deadline, or as soon as its cancel_fd turns readable, with a
 * DBR_ERR_TIMEOUT or DBR_ERR_CANCELED error. A driver that cannot stop the
 * server's work cleanly in time breaks the connection instead (the pool then
 * discards it).
 *
 * Errors: the driver classifies native errors into kinds once, sets the
 * SQLSTATE, detail and hint, the phase (dbr/error.h) and the retry flag.
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
 */
typedef struct dbr_wait {
    int64_t deadline_us;
    int cancel_fd;
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
    /* Asks the server to stop the statement running on conn, waiting at most
     * until the deadline. Thread-safe against a concurrent exec on conn.
     * Optional. */
    bool (*cancel)(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);
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
     * nothing; on failure it leaves that id in xid ("" when none was
     * assigned, or it is not known). xact_status asks, on another
     * connection, what became of xid: 1 committed, 0 aborted, -1 not known
     * (still in progress, or too old), or -2 and an error. */
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
    /* Slots above: ABI 1.0 */
};

#ifdef __cplusplus
}
#endif

#endif /* DBR_DRIVER_H */
