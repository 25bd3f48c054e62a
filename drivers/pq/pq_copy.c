/* SPDX-License-Identifier: MIT */
/*
 * copy_from and copy_to: COPY ... FROM STDIN fed by a callback, COPY ... TO
 * STDOUT drained into one, on the non-blocking connection, within the
 * wait's deadline and cancel.
 *
 * What decides the outcome of COPY FROM is whether CopyDone left: before
 * it the server cannot commit, and a session closed then (a deadline, a
 * lost connection) or a CopyFail (the read callback failed) rolls the COPY
 * back, so nothing was applied. After it, the answer decides; no answer is
 * unknown. COPY TO commits whatever it does (COPY (DELETE ... RETURNING ...)
 * TO STDOUT) when it ends, on the server's side: its answer decides, a
 * cancel's 57014 applied nothing, no answer is unknown.
 */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "pq.h"

#define COPY_CHUNK (64 * 1024)

/* Waits until the socket takes more data (1), reading what the server says
 * meanwhile; 0 deadline, -1 canceled, -2 connection lost. */
static int wait_writable(dbr_driver_conn *conn, const dbr_wait *wait)
{
    PGconn *pg = conn->pg;

    for (;;) {
        struct pollfd p[2] = {{.fd = PQsocket(pg), .events = POLLIN | POLLOUT},
                              {.fd = wait ? wait->cancel_fd : -1, .events = POLLIN}};
        int64_t left_ms = -1;
        int n;

        if (wait && wait->deadline_us) {
            int64_t now = dbr_now_us();

            if (now >= wait->deadline_us)
                return 0;
            left_ms = MIN((wait->deadline_us - now + 999) / 1000, G_MAXINT32);
        }
        n = poll(p, p[1].fd >= 0 ? 2 : 1, (int)left_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -2;
        if (n == 0)
            continue; /* the deadline check above ends it */
        if (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLNVAL | POLLERR)))
            return -1;
        if ((p[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(pg))
            return -2;
        if (p[0].revents & POLLOUT)
            return 1;
    }
}

static dbr_error *stopped_error(int why, PGconn *pg, dbr_outcome outcome, const char *when)
{
    dbr_error *e = why == -2
                       ? pq_conn_error(pg, DBR_PHASE_SENT, outcome, "connection lost")
                       : dbr_error_new(why == -1 ? DBR_ERR_CANCELED : DBR_ERR_TIMEOUT, PQ_LAYER,
                                       "COPY %s %s", why == -1 ? "canceled" : "timed out", when);

    dbr_error_set_phase(e, DBR_PHASE_SENT);
    dbr_error_set_outcome(e, outcome);
    return e;
}

/* The answers that end the COPY (after CopyDone, CopyFail or the last
 * row; first, when not NULL, already read): its row count, or its error. */
static bool finish(dbr_driver_conn *conn, exec_wait *ew, PGresult *first, long long *rows,
                   dbr_error **err)
{
    PGresult *r, *keep = first;
    dbr_error *e = NULL;

    for (;;) {
        if (PQisBusy(conn->pg) && !pq_wait_result(conn, ew, &e)) {
            PQclear(keep);
            return dbr_error_propagate(err, e);
        }
        r = PQgetResult(conn->pg);
        if (!r)
            break;
        if (PQresultStatus(r) == PGRES_COPY_IN || PQresultStatus(r) == PGRES_COPY_OUT ||
            PQresultStatus(r) == PGRES_COPY_BOTH) {
            /* Still copying: libpq and the server are not where we think. */
            PQclear(r);
            PQclear(keep);
            conn->broken = true;
            return dbr_error_propagate(err, pq_conn_error(conn->pg, DBR_PHASE_SENT,
                                                          DBR_OUTCOME_UNKNOWN, "COPY did not end"));
        }
        /* The first error is the one that counts. */
        if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(keep);
            keep = r;
        }
    }
    if (PQstatus(conn->pg) != CONNECTION_OK)
        conn->broken = true;
    conn->last_answer_us = dbr_now_us();
    if (!keep)
        return dbr_error_propagate(
            err, pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN, "no answer to COPY"));
    if (PQresultStatus(keep) == PGRES_COMMAND_OK) {
        const char *n = PQcmdTuples(keep);

        if (rows)
            *rows = n && *n ? strtoll(n, NULL, 10) : -1;
        PQclear(keep);
        return true;
    }
    /* COPY is one statement: an ERROR rolled all of it back. A FATAL ends
     * the session too. */
    {
        const char *severity = PQresultErrorField(keep, PG_DIAG_SEVERITY_NONLOCALIZED);

        if (!severity || strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0)
            conn->broken = true;
    }
    e = ew->stopping && g_strcmp0(PQresultErrorField(keep, PG_DIAG_SQLSTATE), "57014") == 0
            ? pq_interrupted(ew, keep)
            : pq_result_error(keep, true);
    PQclear(keep);
    return dbr_error_propagate(err, e);
}

/* Sends sql and waits for the server to start the COPY in the direction
 * wanted: true then. False when the call is over, *over_ok telling how
 * (err set when it failed). */
static bool start(dbr_driver_conn *conn, exec_wait *ew, const char *sql, ExecStatusType want,
                  long long *rows, bool *over_ok, dbr_error **err)
{
    dbr_error *e = NULL;
    ExecStatusType st;
    PGresult *r;

    *over_ok = false;
    if (!pq_usable(conn, err))
        return false;
    if (!PQsendQueryParams(conn->pg, sql, 0, NULL, NULL, NULL, NULL, 0)) {
        conn->broken = true;
        return dbr_error_propagate(err, pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND,
                                                      DBR_OUTCOME_NOT_APPLIED, "cannot send COPY"));
    }
    if (!conn->session_changed)
        conn->session_changed = pq_session_changing(sql, false);
    if (!pq_flush_all(conn, ew->wait, &e) || (PQisBusy(conn->pg) && !pq_wait_result(conn, ew, &e)))
        return dbr_error_propagate(err, e);
    r = PQgetResult(conn->pg);
    st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == want) {
        PQclear(r);
        return true;
    }
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        /* The other direction. A COPY FROM ended with an error is rolled
         * back; a COPY TO may run to its end on the server and commit. */
        PQclear(r);
        if (st == PGRES_COPY_IN)
            (void)PQputCopyEnd(conn->pg, "dbr_copy_to was given a COPY FROM STDIN");
        conn->broken = true;
        e = dbr_error_new(DBR_ERR_MISUSE, PQ_LAYER,
                          "%s was given a COPY %s; the connection was closed",
                          want == PGRES_COPY_IN ? "dbr_copy_from" : "dbr_copy_to",
                          st == PGRES_COPY_IN ? "FROM STDIN" : "TO STDOUT");
        dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
        dbr_error_set_outcome(e,
                              st == PGRES_COPY_IN ? DBR_OUTCOME_NOT_APPLIED : DBR_OUTCOME_UNKNOWN);
        return dbr_error_propagate(err, e);
    }
    /* An error, or a COPY that needed no data from us (to or from a file
     * on the server): its answer is the call's. */
    *over_ok = finish(conn, ew, r, rows, err);
    return false;
}

/* The read callback failed: CopyFail makes the server roll the COPY back,
 * so nothing was applied whatever comes next; its answer only decides
 * whether the connection is kept. */
static bool abort_copy(dbr_driver_conn *conn, exec_wait *ew, dbr_error *why, dbr_error **err)
{
    char msg[160];
    dbr_error *tail = NULL;
    int r;

    g_snprintf(msg, sizeof(msg), "aborted by the caller: %s", dbr_error_message(why));
    while ((r = PQputCopyEnd(conn->pg, msg)) == 0) {
        if (wait_writable(conn, ew->wait) != 1)
            break;
    }
    if (r != 1 || !pq_flush_all(conn, ew->wait, &tail) || finish(conn, ew, NULL, NULL, &tail) ||
        g_strcmp0(dbr_error_sqlstate(tail), "57014") != 0)
        conn->broken = true;
    dbr_error_free(tail);
    dbr_error_set_phase(why, DBR_PHASE_SENT);
    dbr_error_set_outcome(why, DBR_OUTCOME_NOT_APPLIED);
    dbr_error_set_transient(why, false);
    return dbr_error_propagate(err, why);
}

/* Whether the wait still holds: 1 yes, 0 its deadline passed, -1 its ctx
 * was canceled. Checked between chunks, which may keep flowing without a
 * single wait. */
static int still_on(const dbr_wait *wait)
{
    struct pollfd p = {.fd = wait ? wait->cancel_fd : -1, .events = POLLIN};

    if (wait && wait->deadline_us && dbr_now_us() >= wait->deadline_us)
        return 0;
    if (p.fd >= 0 && poll(&p, 1, 0) == 1)
        return -1;
    return 1;
}

bool pq_copy_from(dbr_driver_conn *conn, const char *sql, dbr_copy_read_fn read, void *user,
                  long long *rows, const dbr_wait *wait, dbr_error **err)
{
    exec_wait ew = {.wait = wait, .deadline_us = wait ? wait->deadline_us : 0, .atomic = 1};
    dbr_error *e = NULL;
    char *buf;
    bool over_ok;
    int put, w;

    if (!start(conn, &ew, sql, PGRES_COPY_IN, rows, &over_ok, err))
        return over_ok;
    buf = g_malloc(COPY_CHUNK);
    for (;;) {
        long long n;

        if ((w = still_on(wait)) != 1) {
            put = 0;
            break;
        }
        n = read(user, buf, COPY_CHUNK, &e);
        if (n < 0) {
            g_free(buf);
            if (!e)
                e = dbr_error_new(DBR_ERR_INTERNAL, PQ_LAYER, "the read callback failed");
            return abort_copy(conn, &ew, e, err);
        }
        g_clear_pointer(&e, dbr_error_free);
        w = 1;
        while ((put = n > 0 ? PQputCopyData(conn->pg, buf, (int)n)
                            : PQputCopyEnd(conn->pg, NULL)) == 0 &&
               (w = wait_writable(conn, wait)) == 1)
            ;
        if (put != 1)
            break;
        if (n == 0) {
            g_free(buf);
            /* CopyDone is the last thing queued: if it does not all leave,
             * the server cannot commit. */
            if (!pq_flush_all(conn, wait, &e)) {
                dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
                return dbr_error_propagate(err, e);
            }
            return finish(conn, &ew, NULL, rows, err);
        }
        {
            /* In non-blocking mode libpq buffers whatever the socket does
             * not take, without bound, and shifts the rest of its buffer
             * after every partial send: send this chunk before reading the
             * next, as blocking mode would. */
            int f;

            while ((f = PQflush(conn->pg)) == 1 && (w = wait_writable(conn, wait)) == 1)
                ;
            if (f != 0) {
                put = f < 0 ? -1 : 0;
                break;
            }
        }
        {
            /* What the server said meanwhile (an error, a goodbye) ends
             * the COPY on its side: read it, so the next put refuses
             * instead of sending into the void. */
            struct pollfd p = {.fd = PQsocket(conn->pg), .events = POLLIN};

            if (poll(&p, 1, 0) == 1 && !PQconsumeInput(conn->pg)) {
                put = -1;
                break;
            }
        }
    }
    g_free(buf);
    /* The server ended the COPY (a bad row, a FATAL): its answer says why,
     * and without our CopyDone it cannot have committed. */
    if (put == -1 && PQstatus(conn->pg) == CONNECTION_OK) {
        if (finish(conn, &ew, NULL, rows, &e))
            return true;
        dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
        return dbr_error_propagate(err, e);
    }
    /* CopyDone never left: closing the session rolls the COPY back. */
    conn->broken = true;
    return dbr_error_propagate(err, stopped_error(put == -1 ? -2 : w, conn->pg,
                                                  DBR_OUTCOME_NOT_APPLIED, "while sending data"));
}

/* The write callback failed: ask the server to stop and drain what it
 * still sends, within the grace. */
static bool stop_copy_out(dbr_driver_conn *conn, exec_wait *ew, dbr_error *why, dbr_error **err)
{
    int64_t until = dbr_now_us() + (ew->wait ? ew->wait->grace_us : 0);
    dbr_error *tail = NULL;
    bool completed = false;
    char *row;
    int n;

    if (!pq_cancel_send(conn, until)) {
        conn->broken = true;
        goto out;
    }
    ew->stopping = true;
    ew->deadline_us = until;
    while ((n = PQgetCopyData(conn->pg, &row, 1)) != -1) {
        if (n > 0) {
            PQfreemem(row);
            continue;
        }
        if (n == -2 || pq_wait_socket(PQsocket(conn->pg), false, NULL, until) != 1 ||
            !PQconsumeInput(conn->pg)) {
            conn->broken = true;
            goto out;
        }
    }
    completed = finish(conn, ew, NULL, NULL, &tail);
out:
    /* Stopped by our cancel: nothing applied. Run to its end first, or no
     * answer: what it did stands or is unknown. */
    dbr_error_set_phase(why, DBR_PHASE_SENT);
    dbr_error_set_outcome(why, !completed && g_strcmp0(dbr_error_sqlstate(tail), "57014") == 0
                                   ? DBR_OUTCOME_NOT_APPLIED
                                   : DBR_OUTCOME_UNKNOWN);
    dbr_error_set_transient(why, false);
    dbr_error_free(tail);
    return dbr_error_propagate(err, why);
}

/* The deadline passed or the ctx was canceled (why: 0 or -1) while rows
 * were coming: ask the server to stop, and give it the grace to answer. */
static bool begin_stop(dbr_driver_conn *conn, exec_wait *ew, int why)
{
    ew->canceled = why == -1;
    ew->deadline_us = dbr_now_us() + (ew->wait ? ew->wait->grace_us : 0);
    if (!pq_cancel_send(conn, ew->deadline_us))
        return false;
    ew->stopping = true;
    return true;
}

static bool lost_copy_to(dbr_driver_conn *conn, dbr_error **err)
{
    conn->broken = true;
    return dbr_error_propagate(err, pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN,
                                                  "connection lost during COPY TO"));
}

bool pq_copy_to(dbr_driver_conn *conn, const char *sql, dbr_copy_write_fn write, void *user,
                long long *rows, const dbr_wait *wait, dbr_error **err)
{
    exec_wait ew = {.wait = wait, .deadline_us = wait ? wait->deadline_us : 0, .atomic = 1};
    unsigned got = 0;
    bool over_ok;
    char *row;
    int n, w;

    if (!start(conn, &ew, sql, PGRES_COPY_OUT, rows, &over_ok, err))
        return over_ok;
    while ((n = PQgetCopyData(conn->pg, &row, 1)) != -1) {
        dbr_error *e = NULL;

        if (n > 0) {
            bool ok = write(user, row, (size_t)n, &e);

            PQfreemem(row);
            if (!ok) {
                if (!e)
                    e = dbr_error_new(DBR_ERR_INTERNAL, PQ_LAYER, "the write callback failed");
                return stop_copy_out(conn, &ew, e, err);
            }
            dbr_error_free(e);
            /* Rows may flow without a single wait: look at the clock now
             * and then. */
            if (++got % 1024 == 0 && !ew.stopping && (w = still_on(wait)) != 1 &&
                !begin_stop(conn, &ew, w))
                goto no_answer;
            continue;
        }
        if (n == -2)
            return lost_copy_to(conn, err);
        /* Nothing buffered: wait for more within the deadline; past it (or
         * on a cancel), ask the server to stop and give it the grace. */
        w = pq_wait_socket(PQsocket(conn->pg), false, ew.stopping ? NULL : wait, ew.deadline_us);
        if (w == 1) {
            if (!PQconsumeInput(conn->pg))
                return lost_copy_to(conn, err);
            continue;
        }
        if (w == -2)
            return lost_copy_to(conn, err);
        if (ew.stopping || !begin_stop(conn, &ew, w))
            goto no_answer;
    }
    return finish(conn, &ew, NULL, rows, err);
no_answer:
    conn->broken = true;
    return dbr_error_propagate(err,
                               stopped_error(ew.canceled ? -1 : 0, conn->pg, DBR_OUTCOME_UNKNOWN,
                                             "and the server did not stop within "
                                             "cancel_grace; the connection was closed"));
}
