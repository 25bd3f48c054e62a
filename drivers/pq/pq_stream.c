/* SPDX-License-Identifier: MIT */
/*
 * Streaming a query's rows (libpq's single-row mode; libpq 15 has no
 * chunked mode): each row is its own one-row PGresult, handed to the
 * caller's row function and freed by it, so memory does not grow with the
 * result.
 *
 * Deadlines and cancels are those of pq_exec (pq_wait.c): when the ctx
 * ends the server is asked to cancel and gets the grace period to answer,
 * and its answer decides. Rows that arrive meanwhile still go to the
 * caller: if the query ends well, every row was delivered and the call
 * succeeded. Rows are checked against the ctx every STREAM_CHECK_ROWS rows
 * too, since a fast server keeps libpq's buffer full and the socket would
 * never be waited on. Rows still arriving when the grace ends: the
 * connection is closed and the outcome is unknown.
 *
 * A row function that returns false stops the query: a cancel request,
 * then the rest of the answer read and dropped within the grace period;
 * without an acknowledged cancel or a complete answer by then, the
 * connection is given up. Never is a connection handed back half-read.
 */
#include <glib.h>
#include <poll.h>

#include "pq.h"

/* Rows between two looks at the deadline and the cancel descriptor: a
 * clock read and a poll() every 64 rows cost nothing next to the rows. */
#define STREAM_CHECK_ROWS 64

static dbr_error *stream_interrupted(const exec_wait *ew, const char *why)
{
    dbr_error *e =
        dbr_error_new(ew->canceled ? DBR_ERR_CANCELED : DBR_ERR_TIMEOUT, PQ_LAYER, "%s%s",
                      ew->canceled ? "statement canceled"
                                   : "statement timed out (deadline "
                                     "exceeded)",
                      why);

    dbr_error_set_phase(e, DBR_PHASE_SENT);
    dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
    return e;
}

/* Asks the server to stop the query, once, and starts the grace period.
 * False when the cancel got no acknowledgement: the connection is broken
 * (the request might still hit a later statement). */
static bool stop_query(dbr_driver_conn *conn, exec_wait *ew)
{
    if (ew->stopping)
        return true;
    ew->deadline_us = dbr_now_us() + (ew->wait ? ew->wait->grace_us : 0);
    ew->stopping = true;
    if (pq_cancel_send(conn, ew->deadline_us))
        return true;
    conn->broken = true;
    return false;
}

/* Between rows: whether the ctx has ended (deadline passed or canceled). */
static bool ctx_ended(exec_wait *ew)
{
    struct pollfd p = {.fd = ew->wait ? ew->wait->cancel_fd : -1, .events = POLLIN};

    if (ew->deadline_us && dbr_now_us() >= ew->deadline_us)
        return true;
    if (p.fd >= 0 && poll(&p, 1, 0) == 1) {
        ew->canceled = true;
        return true;
    }
    return false;
}

/* A COPY cannot be streamed: as pq_exec does, the statement is stopped and
 * its connection closed. A COPY FROM ended with an error is rolled back; a
 * COPY TO may run to its end and commit on the server. */
static dbr_error *refuse_copy(dbr_driver_conn *conn, ExecStatusType st, exec_wait *ew)
{
    dbr_error *e = dbr_error_new(DBR_ERR_MISUSE, PQ_LAYER,
                                 "COPY cannot be streamed with dbr_query_stream (use "
                                 "dbr_copy_to); the statement was stopped and its connection "
                                 "closed");

    if (st == PGRES_COPY_IN)
        (void)PQputCopyEnd(conn->pg, "COPY is not supported through dbr_query_stream");
    conn->broken = true;
    dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
    dbr_error_set_outcome(e, st == PGRES_COPY_IN || pq_wait_atomic(ew) ? DBR_OUTCOME_NOT_APPLIED
                                                                       : DBR_OUTCOME_UNKNOWN);
    return e;
}

typedef struct stream {
    dbr_driver_row_fn row;
    void *user;
    long long n;         /* rows handed to row */
    bool stopped;        /* row returned false: the rest is dropped */
    dbr_error *user_err; /* row's error, when it stopped */
    PGresult *bad;       /* the first error the server answered */
    dbr_error *e;        /* the connection's failure */
} stream;

/* One result of the query: a row, the end, an error. False when reading
 * must end now (the connection was given up). */
static bool take(dbr_driver_conn *conn, exec_wait *ew, stream *s, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);

    switch (st) {
    case PGRES_SINGLE_TUPLE:
        if (ew->stopping && dbr_now_us() >= ew->deadline_us) {
            PQclear(res);
            conn->broken = true;
            s->e = stream_interrupted(ew, "; rows were still arriving when cancel_grace ended, "
                                          "so the connection was closed");
            return false;
        }
        if (s->stopped) {
            PQclear(res);
            return true;
        }
        s->n++;
        if (!s->row(s->user, (dbr_driver_result *)res, &s->user_err)) {
            s->stopped = true;
            return stop_query(conn, ew);
        }
        /* A row function that went on has no error to give. */
        dbr_error_free(s->user_err);
        s->user_err = NULL;
        if (!ew->stopping && s->n % STREAM_CHECK_ROWS == 0 && ctx_ended(ew) &&
            !stop_query(conn, ew)) {
            s->e = stream_interrupted(ew, "; the cancel request got no answer within "
                                          "cancel_grace, so the connection was closed");
            return false;
        }
        return true;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        PQclear(res);
        s->e = refuse_copy(conn, st, ew);
        return false;
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        PQclear(res);
        return true;
    default:
        if (!s->bad)
            s->bad = res;
        else
            PQclear(res);
        return true;
    }
}

/* Reads the answer to the end, or until the connection is given up. */
static void read_all(dbr_driver_conn *conn, exec_wait *ew, stream *s)
{
    PGresult *res;

    if (!pq_flush_all(conn, ew->wait, &s->e))
        return;
    for (;;) {
        if (PQisBusy(conn->pg) && !pq_wait_result(conn, ew, &s->e))
            return;
        res = PQgetResult(conn->pg);
        if (!res)
            break;
        if (!take(conn, ew, s, res))
            return;
    }
    if (PQstatus(conn->pg) != CONNECTION_OK)
        conn->broken = true;
    conn->last_answer_us = dbr_now_us();
}

bool pq_exec_stream(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                    dbr_driver_row_fn row, void *user, const dbr_wait *wait, long long *rows,
                    dbr_error **err)
{
    exec_wait ew = {
        .wait = wait, .deadline_us = wait ? wait->deadline_us : 0, .sql = sql, .atomic = -1};
    stream s = {.row = row, .user = user};
    dbr_error *e;

    if (rows)
        *rows = 0;
    if (!pq_usable(conn, err))
        return false;
    ew.in_tx = PQtransactionStatus(conn->pg) != PQTRANS_IDLE; /* before the send changes it */
    if (!PQsendQueryParams(conn->pg, sql, args ? args->n : 0, NULL, args ? args->values : NULL,
                           args ? args->lengths : NULL, args ? args->formats : NULL, 0))
        return dbr_error_propagate(err, pq_send_refused(conn));
    if (!conn->session_changed)
        conn->session_changed = pq_session_changing(sql, false);
    if (!PQsetSingleRowMode(conn->pg)) {
        /* Only refused when not right after a send; the query is out. */
        conn->broken = true;
        e = dbr_error_new(DBR_ERR_INTERNAL, PQ_LAYER, "libpq refused single-row mode");
        dbr_error_set_phase(e, DBR_PHASE_SENT);
        dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
        return dbr_error_propagate(err, e);
    }
    conn->streaming = true;
    read_all(conn, &ew, &s);
    conn->streaming = false;
    if (rows)
        *rows = s.n;
    if (s.stopped) {
        /* The caller asked to stop: what the server said since is moot. */
        PQclear(s.bad);
        dbr_error_free(s.e);
        return dbr_error_propagate(err, s.user_err);
    }
    if (s.e) {
        PQclear(s.bad);
        return dbr_error_propagate(err, s.e);
    }
    if (!s.bad)
        return true;
    /* After our cancel, the server's 57014 is the caller's timeout or
     * cancel; any other error speaks for itself. An ERROR after rows were
     * delivered rolls back an atomic statement all the same. */
    e = ew.stopping && g_strcmp0(PQresultErrorField(s.bad, PG_DIAG_SQLSTATE), "57014") == 0
            ? pq_interrupted(&ew, s.bad)
            : pq_result_error(s.bad, pq_wait_atomic(&ew));
    PQclear(s.bad);
    return dbr_error_propagate(err, e);
}
