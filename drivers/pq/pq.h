/* SPDX-License-Identifier: MIT */
/* The PostgreSQL driver's shared pieces. */
#ifndef DBR_PQ_H
#define DBR_PQ_H

#include <libpq-fe.h>

#include <dbr/driver.h>

#define PQ_LAYER "pq"

struct dbr_driver_conn {
    PGconn *pg;
    bool broken; /* given up on after a cancel that went unanswered */
};

/* Errors */
dbr_error_kind pq_classify(const char *sqlstate);
dbr_error *pq_result_error(const PGresult *res, dbr_error_phase phase);
dbr_error *pq_conn_error(PGconn *pg, dbr_error_phase phase, const char *what);
dbr_error *pq_connect_error(PGconn *pg);

/* Waiting on the socket within a dbr_wait: 1 ready, 0 deadline, -1 canceled,
 * -2 poll failed. */
int pq_wait_socket(int fd, bool for_write, const dbr_wait *wait, int64_t deadline_us);

/* Cancellation */
void pq_cancel_async(PGconn *pg);
bool pq_cancel(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);

/* Where a statement's wait stands: before the deadline, or past it with a
 * cancel request sent and a grace period running. It spans every result of
 * the statement, so the server is asked to cancel at most once. */
typedef struct exec_wait {
    const dbr_wait *wait;
    int64_t deadline_us;
    bool stopping, canceled;
} exec_wait;

/* Sends what libpq has buffered, within the wait. */
bool pq_flush_all(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **e);
/* Reads until libpq has a whole result (PQisBusy false); on the deadline or
 * a cancel, asks the server to stop and waits a grace period for it. False
 * when the connection had to be given up. */
bool pq_wait_result(dbr_driver_conn *conn, exec_wait *ew, dbr_error **e);

/* Statements */
dbr_driver_result *pq_exec(dbr_driver_conn *conn, const char *sql, int nparams,
                           const char *const *params, const dbr_wait *wait, dbr_error **err);
bool pq_ping(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);
bool pq_exec_script(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait, dbr_error **err);
bool pq_xact_lock(dbr_driver_conn *conn, long long key, int64_t timeout_us, const dbr_wait *wait,
                  dbr_error **err);

/* Ambiguous commits */
bool pq_commit_tracked(dbr_driver_conn *conn, const dbr_wait *wait, char *xid, int xid_len,
                       dbr_error **err);
int pq_xact_status(dbr_driver_conn *conn, const char *xid, const dbr_wait *wait, dbr_error **err);

#endif
