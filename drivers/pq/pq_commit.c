/* SPDX-License-Identifier: MIT */
/*
 * COMMIT with its transaction id known, so that a lost answer can be
 * resolved later with pg_xact_status().
 *
 * The id is learned in the same round trip as the COMMIT: in pipeline mode
 * the client sends
 *     SELECT pg_current_xact_id_if_assigned()   Sync   COMMIT   Sync
 * and the server flushes the first answer at the first Sync, before it
 * starts committing; so if the connection dies during COMMIT the id has
 * already arrived. pg_current_xact_id_if_assigned() does not assign an id
 * to a transaction that has none: a read-only transaction stays free of
 * one, and reports "none" (it wrote nothing, so its COMMIT cannot matter).
 */
#include <glib.h>
#include <string.h>

#include "pq.h"

/* The next result of the pipeline, waited for within ew; NULL at the end of
 * one query's results, or on failure with *e set. */
static PGresult *next_result(dbr_driver_conn *conn, exec_wait *ew, dbr_error **e)
{
    if (PQisBusy(conn->pg) && !pq_wait_result(conn, ew, e))
        return NULL;
    return PQgetResult(conn->pg);
}

/* The NULL that ends one query's results; an extra result means a broken
 * stream. */
static bool end_of_query(dbr_driver_conn *conn, exec_wait *ew, dbr_error **e)
{
    PGresult *r = next_result(conn, ew, e);

    if (!r)
        return !*e && PQstatus(conn->pg) == CONNECTION_OK;
    if (!*e && PQresultStatus(r) == PGRES_FATAL_ERROR)
        *e = pq_result_error(r, DBR_PHASE_ANSWERED);
    PQclear(r);
    return false;
}

/* The result of a Sync. */
static bool sync_point(dbr_driver_conn *conn, exec_wait *ew, dbr_error **e)
{
    PGresult *r = next_result(conn, ew, e);
    bool ok = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;

    if (r && !ok && !*e && PQresultStatus(r) == PGRES_FATAL_ERROR)
        *e = pq_result_error(r, DBR_PHASE_ANSWERED);
    PQclear(r);
    return ok;
}

static bool lost(dbr_driver_conn *conn, dbr_error **e, const char *what)
{
    if (!*e)
        *e = pq_conn_error(conn->pg, DBR_PHASE_SENT, what);
    conn->broken = true;
    return false;
}

bool pq_commit_tracked(dbr_driver_conn *conn, const dbr_wait *wait, char *xid, int xid_len,
                       dbr_error **err)
{
    exec_wait ew = {.wait = wait, .deadline_us = wait ? wait->deadline_us : 0};
    dbr_error *e = NULL;
    PGresult *r;
    bool ok = false;

    g_strlcpy(xid, "", (gsize)xid_len);
    if (conn->broken || PQstatus(conn->pg) != CONNECTION_OK)
        return dbr_error_propagate(
            err, pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND, "connection is broken"));
    if (!PQenterPipelineMode(conn->pg) ||
        !PQsendQueryParams(conn->pg, "SELECT pg_current_xact_id_if_assigned()::text", 0, NULL, NULL,
                           NULL, NULL, 0) ||
        !PQpipelineSync(conn->pg) ||
        !PQsendQueryParams(conn->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) ||
        !PQpipelineSync(conn->pg)) {
        e = pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND, "cannot send COMMIT");
        PQexitPipelineMode(conn->pg);
        conn->broken = true; /* a half-built pipeline is not worth recovering */
        return dbr_error_propagate(err, e);
    }
    if (!pq_flush_all(conn, wait, &e))
        return dbr_error_propagate(err, e);

    /* In pipeline mode each query's results end with a NULL, and each Sync
     * gives one PGRES_PIPELINE_SYNC result. */
    r = next_result(conn, &ew, &e); /* 1: the id */
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        if (r && !e && PQresultErrorField(r, PG_DIAG_SQLSTATE)) {
            /* The server answered the first query with an error (a FATAL
             * after pg_terminate_backend): it handles messages in order, so
             * it never ran the COMMIT behind it. Nothing committed. */
            e = pq_result_error(r, DBR_PHASE_ANSWERED);
            e = dbr_error_wrap(e, dbr_error_kind_of(e), PQ_LAYER,
                               "the transaction ended before COMMIT");
            dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
        }
        PQclear(r);
        lost(conn, &e, "connection lost before the transaction id arrived");
        return dbr_error_propagate(err, e);
    }
    g_strlcpy(xid, PQgetisnull(r, 0, 0) ? "none" : PQgetvalue(r, 0, 0), (gsize)xid_len);
    PQclear(r);
    if (!end_of_query(conn, &ew, &e) || !sync_point(conn, &ew, &e)) {
        lost(conn, &e, "connection lost during COMMIT");
        return dbr_error_propagate(err, e);
    }
    r = next_result(conn, &ew, &e); /* 2: COMMIT's answer */
    if (!r) {
        lost(conn, &e, "connection lost during COMMIT");
        return dbr_error_propagate(err, e);
    }
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok && !e)
        e = pq_result_error(r, DBR_PHASE_ANSWERED);
    PQclear(r);
    if (end_of_query(conn, &ew, &e) && sync_point(conn, &ew, &e))
        PQexitPipelineMode(conn->pg);
    else
        conn->broken = true; /* the answer came; only the tail went missing */
    if (ok) {
        dbr_error_free(e);
        return true;
    }
    return dbr_error_propagate(err, e);
}

int pq_xact_status(dbr_driver_conn *conn, const char *xid, const dbr_wait *wait, dbr_error **err)
{
    const char *params[1] = {xid};
    dbr_driver_result *res = pq_exec(conn, "SELECT pg_xact_status($1::xid8)", 1, params, wait, err);
    const PGresult *r = (const PGresult *)res;
    int status = -2;

    if (!res)
        return -2;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        const char *v = PQgetvalue(r, 0, 0);

        status = strcmp(v, "committed") == 0 ? 1 : strcmp(v, "aborted") == 0 ? 0 : -1;
    }
    PQclear((PGresult *)res);
    return status;
}
