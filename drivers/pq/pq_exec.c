/* SPDX-License-Identifier: MIT */
/*
 * Running a statement: send, flush, wait for the answer within the
 * deadline, cancel on the server when the deadline passes or the ctx is
 * canceled.
 *
 * The connection is in non-blocking mode, so nothing here can block past
 * the caller's deadline: each wait is a poll() on the socket and the ctx's
 * cancel descriptor. The extended protocol runs one statement per call, and
 * an autocommit statement commits only at the Sync that ends the message
 * sequence, so a request that was not completely sent cannot have committed.
 */
#include <glib.h>

#include "pq.h"

/* After a cancel request, how long the server gets to answer before the
 * connection is given up on. */
#define PQ_CANCEL_GRACE_US (1000 * 1000)

static dbr_error *interrupted(dbr_driver_conn *conn, bool canceled, bool answered)
{
    dbr_error *e;

    if (!answered)
        conn->broken = true;
    e = dbr_error_new(canceled ? DBR_ERR_CANCELED : DBR_ERR_TIMEOUT, PQ_LAYER, "%s%s",
                      canceled ? "statement canceled" : "statement timed out (deadline exceeded)",
                      answered ? ""
                               : "; the server did not acknowledge the cancel, so the "
                                 "connection was closed");
    if (answered)
        dbr_error_set_sqlstate(e, "57014");
    dbr_error_set_phase(e, answered ? DBR_PHASE_ANSWERED : DBR_PHASE_SENT);
    return e;
}

/* Reads until libpq has a whole result, within the wait; on deadline or
 * cancel asks the server to stop and waits a grace period for it to. */
bool pq_wait_result(dbr_driver_conn *conn, exec_wait *ew, dbr_error **e)
{
    PGconn *pg = conn->pg;

    while (PQisBusy(pg)) {
        int r =
            pq_wait_socket(PQsocket(pg), false, ew->stopping ? NULL : ew->wait, ew->deadline_us);

        if (r == 1) {
            /* On a lost connection libpq queues an error result (after any
             * FATAL message the server sent first): let the caller read it. */
            if (!PQconsumeInput(pg))
                break;
            continue;
        }
        if (r == -2) {
            dbr_error_free(*e);
            *e = pq_conn_error(pg, DBR_PHASE_SENT, "poll failed");
            conn->broken = true;
            return false;
        }
        if (ew->stopping) { /* the grace period is over */
            dbr_error_free(*e);
            *e = interrupted(conn, ew->canceled, false);
            return false;
        }
        ew->canceled = r == -1;
        ew->stopping = true;
        pq_cancel_async(pg);
        ew->deadline_us = dbr_now_us() + PQ_CANCEL_GRACE_US;
    }
    if (ew->stopping && !*e)
        *e = interrupted(conn, ew->canceled, true);
    return true;
}

bool pq_flush_all(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **e)
{
    int r;

    while ((r = PQflush(conn->pg)) == 1) {
        int w = pq_wait_socket(PQsocket(conn->pg), true, wait, wait ? wait->deadline_us : 0);

        if (w == 1)
            continue;
        /* Part of the request is out, the rest never will be: without its
         * Sync the server cannot commit it, but the connection is unusable. */
        conn->broken = true;
        *e = w == -1 ? dbr_error_new(DBR_ERR_CANCELED, PQ_LAYER, "canceled while sending")
                     : dbr_error_new(DBR_ERR_TIMEOUT, PQ_LAYER, "deadline exceeded while sending");
        dbr_error_set_phase(*e, DBR_PHASE_BEFORE_SEND);
        return false;
    }
    if (r < 0) {
        *e = pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND, "connection lost while sending");
        return false;
    }
    return true;
}

/* Collects the answers to what was sent: the error if there was one, else
 * the last result. */
static dbr_driver_result *collect(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err)
{
    exec_wait ew = {.wait = wait, .deadline_us = wait ? wait->deadline_us : 0};
    PGresult *res, *keep = NULL;
    dbr_error *e = NULL;

    if (!pq_flush_all(conn, wait, &e) || !pq_wait_result(conn, &ew, &e)) {
        if (PQstatus(conn->pg) != CONNECTION_OK)
            conn->broken = true;
        return dbr_error_propagate(err, e), NULL;
    }
    while ((res = PQgetResult(conn->pg))) {
        ExecStatusType st = PQresultStatus(res);
        bool is_error =
            st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE;

        if (keep && (PQresultStatus(keep) == PGRES_FATAL_ERROR || !is_error)) {
            PQclear(res);
        } else {
            PQclear(keep);
            keep = res;
        }
        if (PQisBusy(conn->pg) && !pq_wait_result(conn, &ew, &e))
            break;
    }
    if (e) { /* interrupted: the server's 57014 answer is not what the caller sees */
        PQclear(keep);
        return dbr_error_propagate(err, e), NULL;
    }
    if (!keep)
        return dbr_error_propagate(err, pq_conn_error(conn->pg, DBR_PHASE_SENT, "no result")), NULL;
    switch (PQresultStatus(keep)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        return (dbr_driver_result *)keep;
    default:
        e = pq_result_error(keep, DBR_PHASE_ANSWERED);
        if (PQstatus(conn->pg) != CONNECTION_OK)
            conn->broken = true;
        PQclear(keep);
        return dbr_error_propagate(err, e), NULL;
    }
}

static bool usable(dbr_driver_conn *conn, dbr_error **err)
{
    if (!conn->broken && PQstatus(conn->pg) == CONNECTION_OK)
        return true;
    return dbr_error_propagate(
        err, pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND, "connection is broken"));
}

dbr_driver_result *pq_exec(dbr_driver_conn *conn, const char *sql, int nparams,
                           const char *const *params, const dbr_wait *wait, dbr_error **err)
{
    if (!usable(conn, err))
        return NULL;
    if (!PQsendQueryParams(conn->pg, sql, nparams, NULL, params, NULL, NULL, 0))
        return dbr_error_propagate(err,
                                   pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND, "cannot send")),
               NULL;
    return collect(conn, wait, err);
}

bool pq_exec_script(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait, dbr_error **err)
{
    dbr_driver_result *r;

    if (!usable(conn, err))
        return false;
    /* The simple protocol: several statements, one implicit transaction
     * unless the script manages its own. */
    if (!PQsendQuery(conn->pg, sql))
        return dbr_error_propagate(err,
                                   pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND, "cannot send"));
    r = collect(conn, wait, err);
    PQclear((PGresult *)r);
    return r != NULL;
}

bool pq_xact_lock(dbr_driver_conn *conn, long long key, int64_t timeout_us, const dbr_wait *wait,
                  dbr_error **err)
{
    char setting[64], k[32];
    const char *params[1] = {k};
    dbr_driver_result *r;
    dbr_error *e = NULL;

    /* lock_timeout bounds the wait on the server; SET LOCAL ends with the
     * transaction, like the lock. */
    g_snprintf(setting, sizeof(setting), "SET LOCAL lock_timeout = %lld",
               (long long)(timeout_us / 1000 > 0 ? timeout_us / 1000 : 1));
    g_snprintf(k, sizeof(k), "%lld", key);
    r = pq_exec(conn, setting, 0, NULL, wait, err);
    if (!r)
        return false;
    PQclear((PGresult *)r);
    r = pq_exec(conn, "SELECT pg_advisory_xact_lock($1::bigint)", 1, params, wait, &e);
    if (!r) {
        if (dbr_error_kind_of(e) == DBR_ERR_TIMEOUT)
            e = dbr_error_wrap(e, DBR_ERR_TIMEOUT, PQ_LAYER,
                               "advisory lock %lld not granted within %lld ms", key,
                               (long long)(timeout_us / 1000));
        return dbr_error_propagate(err, e);
    }
    PQclear((PGresult *)r);
    return true;
}

bool pq_ping(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err)
{
    /* The empty query: one round trip, no parse, no plan. */
    dbr_driver_result *r = pq_exec(conn, "", 0, NULL, wait, err);

    PQclear((PGresult *)r);
    return r != NULL;
}
