/* SPDX-License-Identifier: MIT */
/* The PostgreSQL driver's shared pieces. */
#ifndef DBR_PQ_H
#define DBR_PQ_H

#include <libpq-fe.h>
#include <sys/socket.h>

#include <dbr/driver.h>

#include "pq_session.h"
#include "pq_sqlstate.h"

#define PQ_LAYER "pq"
/* The most parameters one statement may have: the protocol counts them in
 * 16 bits. */
#define PQ_MAX_PARAMS 65535

/* A connection's prepared statements (pq_stmt.c). */
typedef struct pq_stmt_cache pq_stmt_cache;

/* What a cancel request needs, learned once at connect (pq_cancel.c). */
typedef struct pq_cancel_key {
    bool known; /* false: the key could not be read; a deadline then closes the connection */
    int be_pid, be_key;
    struct sockaddr_storage addr;
    socklen_t addr_len;
} pq_cancel_key;

struct dbr_driver_conn {
    PGconn *pg;
    bool broken; /* given up on: a FATAL goodbye, an unanswered cancel, a half-sent request */
    bool session_changed;     /* a statement since the last reset may have changed the session */
    bool plan_changed;        /* the last failed answer was a cached plan's changed result type */
    int64_t last_answer_us;   /* when the last answer was read (dbr_now_us) */
    char goodbye_sqlstate[6]; /* a FATAL the server sent while the session was idle */
    char goodbye[128];
    pq_cancel_key cancel;
    char hosts_id[65]; /* which conninfo, and which of its hosts (pq_hosts.c) */
    int host_index, nhosts;
    int cache_size;       /* dbr_driver_opts.statement_cache_size */
    pq_stmt_cache *stmts; /* NULL until the first statement is kept */
    bool listener;        /* listened through the listen slot: its notifications are kept */
    bool streaming;       /* a stream's rows are being read: no other request may start */
};

/* Errors. An answer's outcome: an ERROR rolled back an atomic statement
 * (not applied); a FATAL after the request left, or an ERROR of a statement
 * that may commit part-way (CALL, DO, a script), leaves it unknown. */
dbr_error *pq_result_error(const PGresult *res, bool atomic);
/* Whether res is the server's refusal to run a prepared statement whose
 * result type a schema change altered (0A000 from RevalidateCachedQuery). */
bool pq_plan_changed(const PGresult *res);
dbr_error *pq_conn_error(PGconn *pg, dbr_error_phase phase, dbr_outcome outcome, const char *what);
dbr_error *pq_connect_error(PGconn *pg);

/* Waiting on the socket within a dbr_wait: 1 ready, 0 deadline, -1 canceled,
 * -2 poll failed. */
int pq_wait_socket(int fd, bool for_write, const dbr_wait *wait, int64_t deadline_us);

/* Cancellation, bounded: learns the key at connect, sends a cancel request
 * and waits for the server to acknowledge it, all by deadline_us. */
void pq_cancel_key_learn(dbr_driver_conn *conn);
bool pq_cancel_send(const dbr_driver_conn *conn, int64_t deadline_us);

/* Where a statement's wait stands: before the deadline, or past it with a
 * cancel request acknowledged and the grace period running. It spans every
 * result of the statement, so the server is asked to cancel at most once. */
typedef struct exec_wait {
    const dbr_wait *wait;
    int64_t deadline_us;
    bool stopping; /* a cancel was sent and acknowledged: waiting for the answer */
    bool canceled; /* the ctx was canceled (else its deadline passed) */
    /* What decides whether the statement can commit part of its work on its
     * own, worked out only when an error needs it (pq_wait_atomic). */
    const char *sql; /* NULL: atomic */
    bool in_tx;      /* sent inside a transaction block */
    bool script;
    signed char atomic; /* -1: not worked out yet */
} exec_wait;

/* Whether the statement of ew is all or nothing (pq_statement_atomic). */
bool pq_wait_atomic(exec_wait *ew);

/* Sends what libpq has buffered, within the wait. */
bool pq_flush_all(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **e);
/* Reads until libpq has a whole result (PQisBusy false); on the deadline or
 * a cancel, asks the server to stop and waits the grace period for its
 * answer. False, with the connection broken, when it had to be given up. */
bool pq_wait_result(dbr_driver_conn *conn, exec_wait *ew, dbr_error **e);
/* The error a statement gets when the server answered our cancel (57014):
 * the caller's timeout or cancel, not applied when atomic. */
dbr_error *pq_interrupted(exec_wait *ew, const PGresult *res);
/* Before sending: the connection still stands (a FATAL goodbye that came
 * while it was idle is read now, so it is "not sent", not "lost"). */
bool pq_usable(dbr_driver_conn *conn, dbr_error **err);

/* Statements */
dbr_driver_result *pq_exec(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                           unsigned flags, const dbr_wait *wait, dbr_error **err);
bool pq_ping(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);
bool pq_exec_script(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait, dbr_error **err);
bool pq_session_changed(const dbr_driver_conn *conn);
bool pq_session_reset(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait,
                      dbr_error **err);
bool pq_xact_lock(dbr_driver_conn *conn, long long key, int64_t timeout_us, const dbr_wait *wait,
                  dbr_error **err);

/* Ambiguous commits */
bool pq_commit_tracked(dbr_driver_conn *conn, const dbr_wait *wait, char *xid, int xid_len,
                       dbr_error **err);
int pq_xact_status(dbr_driver_conn *conn, const char *token, const dbr_wait *wait, dbr_error **err);
int pq_commit_tracking_probe(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);

/* Shared by pq_exec.c and pq_stmt.c: collects the answer to one request
 * sent outside pipeline mode; the error of a request libpq would not
 * queue; a 25006 from a server in hot standby made transient. */
dbr_driver_result *pq_collect(dbr_driver_conn *conn, const dbr_wait *wait, const char *sql,
                              bool in_tx, bool script, dbr_error **err);
dbr_error *pq_send_refused(dbr_driver_conn *conn);
void pq_note_read_only_server(dbr_driver_conn *conn, dbr_error *e);

/* Prepared statements and the statement cache (pq_stmt.c). pq_exec hands
 * pq_stmt_exec what carries DBR_EXEC_CACHE or DBR_EXEC_PREPARE.
 * pq_stmt_observe reads a user's DEALLOCATE or DISCARD ALL (after one
 * statement succeeded; before a script or batch is sent), and returns true
 * for a DISCARD ALL, after whose success the caller calls
 * pq_stmt_forget_all; pq_stmt_forget_all also follows a session
 * reset; pq_stmt_server_side tells whether the server holds any of ours. */
dbr_driver_result *pq_stmt_exec(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                                unsigned flags, const dbr_wait *wait, dbr_error **err);
bool pq_prepare(dbr_driver_conn *conn, const char *sql, int *nparams, const dbr_wait *wait,
                dbr_error **err);
bool pq_stmt_observe(dbr_driver_conn *conn, const char *sql, bool script);
void pq_stmt_forget_all(dbr_driver_conn *conn);
bool pq_stmt_server_side(const dbr_driver_conn *conn);
void pq_stmt_cache_free(dbr_driver_conn *conn);
/* Pipelined batches (pq_batch.c) and COPY (pq_copy.c): the exec_batch,
 * copy_from and copy_to slots. */
bool pq_exec_batch(dbr_driver_conn *conn, int n, const char *const *sql, const dbr_args *args,
                   bool atomic, dbr_driver_result **results, dbr_error **errors,
                   const dbr_wait *wait, dbr_error **err);
bool pq_copy_from(dbr_driver_conn *conn, const char *sql, dbr_copy_read_fn read, void *user,
                  long long *rows, const dbr_wait *wait, dbr_error **err);
bool pq_copy_to(dbr_driver_conn *conn, const char *sql, dbr_copy_write_fn write, void *user,
                long long *rows, const dbr_wait *wait, dbr_error **err);

/* A pooler in front (pq_exec.c): 1 yes, 0 no, -1 and an error. */
int pq_pooler_detect(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);

/* Notifications (pq_notify.c). pq_notify_drop frees what libpq has parsed
 * unless the connection is a listener; every place that reads from the
 * server calls it, so that a pooled connection never piles them up. */
void pq_notify_drop(dbr_driver_conn *conn);
bool pq_listen(dbr_driver_conn *conn, const char *channel, bool on, const dbr_wait *wait,
               dbr_error **err);
int pq_notify_wait(dbr_driver_conn *conn, const dbr_wait *wait, char **channel, char **payload,
                   int *pid, dbr_error **err);
/* The replication_state and archive_state slots (pq_wal.c). */
bool pq_replication_state(dbr_driver_conn *conn, const dbr_wait *wait, dbr_replication_state *out,
                          dbr_error **err);
bool pq_archive_state(dbr_driver_conn *conn, const dbr_wait *wait, dbr_archive_state *out,
                      dbr_error **err);
/* Results (pq_result.c): the PGresult itself, and its typed reading. */
int pq_result_nrows(const dbr_driver_result *r);
int pq_result_ncols(const dbr_driver_result *r);
const char *pq_result_colname(const dbr_driver_result *r, int col);
const char *pq_result_value(const dbr_driver_result *r, int row, int col);
long long pq_result_affected(const dbr_driver_result *r);
void pq_result_free(dbr_driver_result *r);
dbr_type pq_result_coltype(const dbr_driver_result *r, int col);
bool pq_result_get(const dbr_driver_result *r, int row, int col, dbr_type as, dbr_value *out,
                   char *why, int why_len);

/* Streaming (pq_stream.c): single-row mode, each row handed to row. */
bool pq_exec_stream(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                    dbr_driver_row_fn row, void *user, const dbr_wait *wait, long long *rows,
                    dbr_error **err);
/* libpq refused to queue a request (pq_exec.c): the error, and the
 * connection given up when it cannot be trusted. */
dbr_error *pq_send_refused(dbr_driver_conn *conn);

#endif
