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
 * to a transaction that has none and reports "none"; that is not "wrote
 * nothing": a transaction whose only effect is a NOTIFY gets its id at
 * COMMIT, so the core decides what "none" means.
 *
 * The function may be revoked, missing (servers before 13) or a proxy may
 * not pass a pipeline through: an error there would abort the caller's
 * transaction, so pq_commit_tracking_probe tries the same pipeline outside
 * any transaction first, once per db.
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
        *e = pq_result_error(r, true);
    PQclear(r);
    return false;
}

/* The result of a Sync. */
static bool sync_point(dbr_driver_conn *conn, exec_wait *ew, dbr_error **e)
{
    PGresult *r = next_result(conn, ew, e);
    bool ok = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;

    if (r && !ok && !*e && PQresultStatus(r) == PGRES_FATAL_ERROR)
        *e = pq_result_error(r, true);
    PQclear(r);
    return ok;
}

/* COMMIT left and no answer came: whatever error stands, the outcome is
 * unknown (the core resolves it). */
static bool lost(dbr_driver_conn *conn, dbr_error **e, const char *what)
{
    if (!*e)
        *e = pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN, what);
    dbr_error_set_outcome(*e, DBR_OUTCOME_UNKNOWN);
    conn->broken = true;
    return false;
}

/* The token that pq_xact_status checks, '@'-separated: the transaction id,
 * when the server's postmaster started (epoch seconds, whatever the
 * session's DateStyle and TimeZone), and what tells a clean restart of the
 * same cluster: its system identifier, the timeline WAL is written on, when
 * the cumulative statistics were last reset, and the WAL position before
 * COMMIT. Those four are empty on a standby or where pg_control_system()
 * and pg_control_checkpoint() are not granted. NULL when no id is assigned.
 * Nothing here fails on a standby: a read-only transaction there commits
 * as anywhere else. */
#define TRACK_SQL                                                                                  \
    "SELECT pg_current_xact_id_if_assigned()::text || '@' || "                                     \
    "extract(epoch FROM pg_postmaster_start_time())::text || '@' || "                              \
    "CASE WHEN pg_is_in_recovery() "                                                               \
    "  OR NOT has_function_privilege('pg_control_system()', 'execute') "                           \
    "  OR NOT has_function_privilege('pg_control_checkpoint()', 'execute') THEN '@@@' "            \
    "ELSE (SELECT system_identifier FROM pg_control_system())::text || '@' || "                    \
    "  substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) || '@' || "                             \
    "  coalesce(extract(epoch FROM (SELECT stats_reset FROM pg_stat_bgwriter))::text, '') || "     \
    "  '@' || pg_current_wal_lsn()::text END"

/* Queues  `first`  Sync  `second`  Sync.
 * *second_queued says whether the first Sync went out (it flushes), so that
 * `second` may have left too when a later step fails. */
static bool send_pipelined(dbr_driver_conn *conn, const char *first, const char *second,
                           bool *second_queued)
{
    *second_queued = false;
    if (!PQenterPipelineMode(conn->pg) ||
        !PQsendQueryParams(conn->pg, first, 0, NULL, NULL, NULL, NULL, 0) ||
        !PQpipelineSync(conn->pg))
        return false;
    *second_queued = true;
    return PQsendQueryParams(conn->pg, second, 0, NULL, NULL, NULL, NULL, 0) &&
           PQpipelineSync(conn->pg);
}

/* A FATAL that the server itself sent in place of the first answer: the
 * backend exits after it, and it flushes the first answer (at the first
 * Sync) before it reads COMMIT, so COMMIT never ran. A proxy speaks for a
 * lost server with class 08 (PgBouncer's 08P01), and a server that crashed
 * after COMMIT may have sent answers the proxy never passed on: those stay
 * unknown. */
static bool ended_before_commit(const PGresult *r)
{
    const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);

    return ss && severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0) &&
           strncmp(ss, "08", 2) != 0;
}

bool pq_commit_tracked(dbr_driver_conn *conn, const dbr_wait *wait, char *xid, int xid_len,
                       dbr_error **err)
{
    exec_wait ew = {.wait = wait, .deadline_us = wait ? wait->deadline_us : 0, .atomic = 1};
    dbr_error *e = NULL;
    PGresult *r;
    bool ok = false, commit_queued = false;

    if (xid)
        g_strlcpy(xid, "", (gsize)xid_len);
    if (!pq_usable(conn, err))
        return false;
    /* Without xid, the request ahead of COMMIT is the empty query: only its
     * answer's arrival matters. */
    if (!send_pipelined(conn, xid ? TRACK_SQL : "", "COMMIT", &commit_queued)) {
        /* PQpipelineSync flushes: once COMMIT was queued, a failure of the
         * second Sync may come after COMMIT's Execute left, and COMMIT
         * runs at Execute. Before that, nothing of COMMIT left. */
        e = pq_conn_error(conn->pg, commit_queued ? DBR_PHASE_SENT : DBR_PHASE_BEFORE_SEND,
                          commit_queued ? DBR_OUTCOME_UNKNOWN : DBR_OUTCOME_NOT_APPLIED,
                          "cannot send COMMIT");
        PQexitPipelineMode(conn->pg);
        conn->broken = true; /* a half-built pipeline is not worth recovering */
        return dbr_error_propagate(err, e);
    }
    if (!pq_flush_all(conn, wait, &e)) {
        dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
        return dbr_error_propagate(err, e);
    }

    /* In pipeline mode each query's results end with a NULL, and each Sync
     * gives one PGRES_PIPELINE_SYNC result. */
    r = next_result(conn, &ew, &e); /* 1: the id */
    if (!r || PQresultStatus(r) != (xid ? PGRES_TUPLES_OK : PGRES_EMPTY_QUERY)) {
        if (r && !e && PQresultErrorField(r, PG_DIAG_SQLSTATE) &&
            (dbr_error_outcome((e = pq_result_error(r, true))) == DBR_OUTCOME_NOT_APPLIED ||
             ended_before_commit(r))) {
            /* The server answered the first query with an ERROR: it handles
             * messages in order, so the COMMIT behind it ran in an aborted
             * transaction, as a ROLLBACK. Or the server said goodbye before
             * answering it, so it never read COMMIT. An error of class 08
             * may come from a proxy while COMMIT ran: unknown. */
            e = dbr_error_wrap(e, dbr_error_kind_of(e), PQ_LAYER,
                               "the transaction ended before COMMIT");
            dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
            dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
            PQclear(r);
            conn->broken = true;
            return dbr_error_propagate(err, e);
        }
        PQclear(r);
        lost(conn, &e, "connection lost before the transaction id arrived");
        return dbr_error_propagate(err, e);
    }
    if (xid)
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
    if (!ok && !e) /* COMMIT answered with an error: rolled back */
        e = ew.stopping && g_strcmp0(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57014") == 0
                ? pq_interrupted(&ew, r)
                : pq_result_error(r, true);
    PQclear(r);
    {
        /* COMMIT's answer decides; what the tail of the pipeline does (a
         * late Sync) only decides whether the connection is kept. */
        dbr_error *tail = NULL;

        if (end_of_query(conn, &ew, &tail) && sync_point(conn, &ew, &tail))
            PQexitPipelineMode(conn->pg);
        else
            conn->broken = true;
        dbr_error_free(tail);
    }
    if (ok) {
        dbr_error_free(e);
        return true;
    }
    return dbr_error_propagate(err, e);
}

/*
 * An id's status speaks for our transaction only if the id cannot have been
 * handed to another transaction since. On the same postmaster run it
 * cannot. Across a restart it can after a crash (or an immediate stop): an
 * id whose transaction never reached the WAL on disk is given out again.
 * After a clean shutdown (fast or smart) every id given out is in the
 * shutdown checkpoint, and none is reused. A clean restart of the same
 * cluster is told by four things, none of them a clock:
 *   - the same system identifier, and the same timeline (not another
 *     cluster, not a promoted standby);
 *   - cumulative statistics last reset at the same moment: PostgreSQL keeps
 *     them across a clean shutdown and discards them after a crash, which
 *     resets them anew (a manual reset since only makes us refuse);
 *   - a last checkpoint whose redo point is at or past the WAL position
 *     before our COMMIT: a clean shutdown checkpoints after every record it
 *     had, while a copy of the cluster from before our transaction has not
 *     reached it.
 * The id's status is read only once all that holds (CASE keeps a status
 * query from failing on an id "in the future" after a crash). A standby
 * cannot answer, and the question is asked again.
 */
int pq_xact_status(dbr_driver_conn *conn, const char *token, const dbr_wait *wait, dbr_error **err)
{
    char **part = g_strsplit(token, "@", 8);
    const char *params[6];
    dbr_driver_result *res;
    const PGresult *r;
    int status = -2;

    if (g_strv_length(part) != 6 || !*part[0]) {
        g_strfreev(part);
        return dbr_set_error(err, DBR_ERR_MISUSE, PQ_LAYER, "not a transaction token"), -2;
    }
    for (int i = 0; i < 6; i++)
        params[i] = part[i];
    res = pq_exec(
        conn,
        "SELECT CASE "
        "WHEN extract(epoch FROM pg_postmaster_start_time())::text = $2 "
        "  THEN pg_xact_status($1::xid8)::text "
        "WHEN $3 = '' OR pg_is_in_recovery() "
        "  OR NOT has_function_privilege('pg_control_system()', 'execute') "
        "  OR NOT has_function_privilege('pg_control_checkpoint()', 'execute') "
        "  THEN 'elsewhere' "
        "WHEN (SELECT system_identifier FROM pg_control_system())::text = $3 "
        "  AND substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) = $4 "
        "  AND coalesce(extract(epoch FROM (SELECT stats_reset FROM pg_stat_bgwriter))::text, "
        "               '') = $5 "
        "  AND (SELECT redo_lsn FROM pg_control_checkpoint()) >= $6::pg_lsn "
        "  THEN pg_xact_status($1::xid8)::text "
        "ELSE 'elsewhere' END",
        &(dbr_args){.n = 6, .values = (const char *const *)params}, 0, wait, err);
    g_strfreev(part);
    if (!res)
        return -2;
    r = (const PGresult *)res;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        const char *v = PQgetvalue(r, 0, 0);

        status = strcmp(v, "committed") == 0   ? 1
                 : strcmp(v, "aborted") == 0   ? 0
                 : strcmp(v, "elsewhere") == 0 ? -3
                                               : -1;
    } else {
        status = -1;
    }
    PQclear((PGresult *)res);
    return status;
}

int pq_commit_tracking_probe(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err)
{
    exec_wait ew = {.wait = wait, .deadline_us = wait ? wait->deadline_us : 0, .atomic = 1};
    dbr_error *e = NULL;
    PGresult *r;
    int verdict = 1;
    bool queued;

    if (!pq_usable(conn, err))
        return -1;
    /* The shape of commit_tracked, with a harmless second query. */
    if (!send_pipelined(conn, TRACK_SQL, "SELECT 1", &queued)) {
        conn->broken = true;
        dbr_error_propagate(err, pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND,
                                               DBR_OUTCOME_NOT_APPLIED, "cannot send the probe"));
        return -1;
    }
    if (!pq_flush_all(conn, wait, &e))
        return dbr_error_propagate(err, e), -1;
    for (int step = 0; step < 2 && verdict == 1; step++) {
        r = next_result(conn, &ew, &e);
        if (!r) {
            lost(conn, &e, "connection lost during the commit tracking probe");
            return dbr_error_propagate(err, e), -1;
        }
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            /* An answer that is not a connection failure: the server (or
             * whatever stands in front of it) cannot do this. */
            const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);

            dbr_log(DBR_LOG_INFO, "pq", NULL,
                    "resolve_commit: commit tracking is not available here (%s %s)", ss ? ss : "",
                    PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                        ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                        : "");
            /* Only a refusal that will not pass (no privilege, no such
             * function, not supported, a protocol error from a proxy)
             * means "cannot"; a busy or restarting server is asked again. */
            verdict = ss && (strncmp(ss, "42", 2) == 0 || strncmp(ss, "0A", 2) == 0 ||
                             strcmp(ss, "08P01") == 0)
                          ? 0
                          : -1;
            if (verdict == -1)
                e = pq_result_error(r, true);
        }
        PQclear(r);
        if (verdict == 1 && (!end_of_query(conn, &ew, &e) || !sync_point(conn, &ew, &e)))
            verdict = -1;
    }
    if (verdict == 0) {
        /* The rest of the pipeline is not worth draining: one connection,
         * once per db. */
        conn->broken = true;
        dbr_error_free(e);
        return 0;
    }
    if (verdict == 1 && PQexitPipelineMode(conn->pg))
        return 1;
    conn->broken = true;
    if (!e)
        e = pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_NOT_APPLIED,
                          "the commit tracking probe broke the connection");
    return dbr_error_propagate(err, e), -1;
}
