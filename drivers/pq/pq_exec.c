/* SPDX-License-Identifier: MIT */
/*
 * Running a statement: check the session still stands, send, flush, wait
 * for the answer within the deadline (pq_wait.c), and say what the server
 * did with it.
 *
 * The extended protocol runs one statement per call, and an autocommit
 * statement commits only at the Sync that ends the message sequence, except
 * a CALL or DO whose body COMMITs (pq_wait_atomic). The answer decides
 * the outcome; without one, a request that left is unknown.
 */
#include <glib.h>
#include <string.h>

#include "pq.h"
#include "pq_hosts.h"

/* COPY runs through dbr_copy_from and dbr_copy_to (pq_copy.c), not here: a
 * COPY FROM STDIN is ended with an error (the server rolls it back), a COPY
 * TO STDOUT is abandoned with its connection. */
static dbr_error *refuse_copy(dbr_driver_conn *conn, ExecStatusType st, bool atomic, bool script)
{
    dbr_error *e = dbr_error_new(DBR_ERR_MISUSE, PQ_LAYER,
                                 "COPY %s is not supported by dbr_exec or dbr_query (use %s); "
                                 "the statement was stopped and its connection closed",
                                 st == PGRES_COPY_IN ? "FROM STDIN" : "TO STDOUT",
                                 st == PGRES_COPY_IN ? "dbr_copy_from" : "dbr_copy_to");

    if (st == PGRES_COPY_IN)
        (void)PQputCopyEnd(conn->pg, "COPY FROM STDIN runs through dbr_copy_from, not dbr_exec");
    conn->broken = true;
    /* A COPY FROM ended with an error is rolled back. A COPY TO may run to
     * its end on the server (its rows fit the socket buffers) and commit
     * before it notices the connection closed: `COPY (DELETE ... RETURNING
     * ...) TO STDOUT` does. Inside a transaction block nothing commits; in
     * an autocommit script, statements before the COPY may have. */
    dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
    dbr_error_set_outcome(e, atomic || (st == PGRES_COPY_IN && !script) ? DBR_OUTCOME_NOT_APPLIED
                                                                        : DBR_OUTCOME_UNKNOWN);
    return e;
}

static bool is_error(ExecStatusType st)
{
    return st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE;
}

/* A statement of a script ran inside the caller's transaction block and
 * ended it (COMMIT, PREPARE TRANSACTION, or ROLLBACK, whose tag ROLLBACK TO
 * SAVEPOINT shares: taken as ending it, to be safe). */
static bool ends_transaction(const PGresult *res)
{
    const char *tag = PQcmdStatus((PGresult *)res);

    return PQresultStatus(res) == PGRES_COMMAND_OK &&
           (strcmp(tag, "COMMIT") == 0 || strcmp(tag, "ROLLBACK") == 0 ||
            strcmp(tag, "PREPARE TRANSACTION") == 0);
}

/* The error a call ends with; once a script has left the caller's
 * transaction, whatever else happened, that is what the caller must hear:
 * misuse, with the work before it possibly committed. */
static dbr_driver_result *fail(dbr_error **err, dbr_error *e, bool ended)
{
    if (ended) {
        e = dbr_error_wrap(e, DBR_ERR_MISUSE, PQ_LAYER,
                           "a statement of the script ended the transaction (COMMIT, ROLLBACK "
                           "or PREPARE TRANSACTION)");
        dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
        dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
        dbr_error_set_transient(e, false);
    }
    return dbr_error_propagate(err, e), NULL;
}

/* A write refused with 25006 by a server in hot standby (in_hot_standby:
 * a demoted primary, a standby reached without target_session_attrs =
 * read-write): nothing was applied, and another host, or this one once
 * promoted, may take it. The error is transient, the connection is dropped
 * so that the pool opens a new one, and that one starts at the next host of
 * the conninfo. A session made read-only by its role, its database, its
 * options or the caller's own read-only transaction is none of these: the
 * server reports default_transaction_read_only for all of them alike, so it
 * is no sign of a failover, and the error stays final. */
void pq_note_read_only_server(dbr_driver_conn *conn, dbr_error *e)
{
    const char *standby = PQparameterStatus(conn->pg, "in_hot_standby");

    if (strcmp(dbr_error_sqlstate(e), "25006") != 0 || !standby || strcmp(standby, "on") != 0)
        return;
    dbr_error_set_transient(e, true);
    conn->broken = true;
    pq_hosts_skip(conn->hosts_id, conn->host_index, conn->nhosts);
}

/* Collects the answers to what was sent: the error if there was one, else
 * the last result. */
dbr_driver_result *pq_collect(dbr_driver_conn *conn, const dbr_wait *wait, const char *sql,
                              bool in_tx, bool script, dbr_error **err)
{
    exec_wait ew = {.wait = wait,
                    .deadline_us = wait ? wait->deadline_us : 0,
                    .sql = sql,
                    .in_tx = in_tx,
                    .script = script,
                    .atomic = -1};
    bool in_tx_script = script && in_tx, ended = false;
    PGresult *res, *keep = NULL;
    dbr_error *e = NULL;

    if (!pq_flush_all(conn, wait, &e) || !pq_wait_result(conn, &ew, &e))
        return fail(err, e, false);
    while ((res = PQgetResult(conn->pg))) {
        ExecStatusType st = PQresultStatus(res);

        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            PQclear(res);
            PQclear(keep);
            return fail(err, refuse_copy(conn, st, pq_wait_atomic(&ew), script), ended);
        }
        if (in_tx_script && ends_transaction(res))
            ended = true;
        if (keep && (PQresultStatus(keep) == PGRES_FATAL_ERROR || !is_error(st))) {
            PQclear(res);
        } else {
            PQclear(keep);
            keep = res;
        }
        if (PQisBusy(conn->pg) && !pq_wait_result(conn, &ew, &e)) {
            PQclear(keep);
            return fail(err, e, ended);
        }
    }
    if (PQstatus(conn->pg) != CONNECTION_OK)
        conn->broken = true;
    conn->last_answer_us = dbr_now_us();
    pq_notify_drop(conn);
    if (!keep)
        return fail(err, pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN, "no result"),
                    ended);
    switch (PQresultStatus(keep)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        if (ended) {
            PQclear(keep);
            return fail(err,
                        dbr_error_new(DBR_ERR_MISUSE, PQ_LAYER,
                                      "the rest of it ran outside the transaction"),
                        true);
        }
        /* Done, even if a cancel was sent meanwhile: it lost the race. */
        return (dbr_driver_result *)keep;
    default:
        /* After our cancel, the server's 57014 is the caller's timeout or
         * cancel; any other answer speaks for itself. */
        e = ew.stopping && g_strcmp0(PQresultErrorField(keep, PG_DIAG_SQLSTATE), "57014") == 0
                ? pq_interrupted(&ew, keep)
                : pq_result_error(keep, pq_wait_atomic(&ew));
        conn->plan_changed = pq_plan_changed(keep);
        pq_note_read_only_server(conn, e);
        PQclear(keep);
        return fail(err, e, ended);
    }
}

/* libpq refused to queue the request: on a healthy connection that is the
 * request's fault (too many parameters, say), and nothing was sent. */
dbr_error *pq_send_refused(dbr_driver_conn *conn)
{
    dbr_error *e;
    char *msg;

    if (PQstatus(conn->pg) != CONNECTION_OK) {
        conn->broken = true;
        return pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN, "cannot send");
    }
    /* libpq may have flushed part of a large request before refusing the
     * rest (out of memory): the connection cannot be trusted to be in step
     * with the server, so it goes. No Execute of it can have left: libpq
     * checks a request before it writes it. */
    conn->broken = true;
    msg = g_strdup(PQerrorMessage(conn->pg));
    e = dbr_error_new(DBR_ERR_MISUSE, PQ_LAYER, "libpq refused the request before sending it: %s",
                      g_strchomp(msg));
    g_free(msg);
    dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
    return e;
}

dbr_driver_result *pq_exec(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                           unsigned flags, const dbr_wait *wait, dbr_error **err)
{
    dbr_driver_result *r;
    bool in_tx;

    if (flags & (DBR_EXEC_CACHE | DBR_EXEC_PREPARE))
        return pq_stmt_exec(conn, sql, args, flags, wait, err);
    if (!pq_usable(conn, err))
        return NULL;
    in_tx = PQtransactionStatus(conn->pg) != PQTRANS_IDLE; /* before the send changes it */
    if (!PQsendQueryParams(conn->pg, sql, args ? args->n : 0, NULL, args ? args->values : NULL,
                           args ? args->lengths : NULL, args ? args->formats : NULL, 0))
        return dbr_error_propagate(err, pq_send_refused(conn)), NULL;
    if (!conn->session_changed)
        conn->session_changed = pq_session_changing(sql, false);
    r = pq_collect(conn, wait, sql, in_tx, false, err);
    /* One statement's answer says exactly whether its DEALLOCATE or DISCARD
     * ran (they are not transactional): forgotten once they did, kept
     * when the server refused them. */
    if (r && pq_stmt_observe(conn, sql, false))
        pq_stmt_forget_all(conn);
    return r;
}

bool pq_exec_script(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait, dbr_error **err)
{
    dbr_driver_result *r;
    bool in_tx, discard;

    if (!pq_usable(conn, err))
        return false;
    discard = pq_stmt_observe(conn, sql, true);
    in_tx = PQtransactionStatus(conn->pg) != PQTRANS_IDLE;
    /* The simple protocol: several statements, one implicit transaction
     * unless the script manages its own. */
    if (!PQsendQuery(conn->pg, sql))
        return dbr_error_propagate(err, pq_send_refused(conn));
    conn->session_changed = true;
    r = pq_collect(conn, wait, sql, in_tx, true, err);
    PQclear((PGresult *)r);
    if (r && discard)
        pq_stmt_forget_all(conn);
    return r != NULL;
}

bool pq_session_changed(const dbr_driver_conn *conn)
{
    return conn->session_changed;
}

bool pq_session_reset(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait, dbr_error **err)
{
    char *own = NULL;
    bool ok;

    /* DISCARD ALL: settings and role back to the connection's defaults
     * (startup options kept), temporary tables, prepared statements,
     * listeners, cursors, session advisory locks and cached plans gone.
     * A reset of the user's own gets our statements' DEALLOCATE behind it
     * (after a newline: the user's text may end in a comment). */
    if (sql && pq_stmt_server_side(conn))
        sql = own = g_strconcat(sql, "\n;DEALLOCATE ALL", NULL);
    ok = pq_exec_script(conn, sql ? sql : "DISCARD ALL", wait, err);
    g_free(own);
    pq_stmt_forget_all(conn); /* on failure the pool closes the connection */
    if (!ok)
        return false;
    conn->session_changed = false;
    return true;
}

/* One statement whose result is not wanted. */
static bool run(dbr_driver_conn *conn, const char *sql, int nparams, const char *const *params,
                const dbr_wait *wait, dbr_error **err)
{
    dbr_driver_result *r =
        pq_exec(conn, sql, &(dbr_args){.n = nparams, .values = params}, 0, wait, err);

    PQclear((PGresult *)r);
    return r != NULL;
}

bool pq_xact_lock(dbr_driver_conn *conn, long long key, int64_t timeout_us, const dbr_wait *wait,
                  dbr_error **err)
{
    /* lock_timeout is an int of milliseconds; 0 would mean "wait forever". */
    long long ms = CLAMP(timeout_us / 1000, 1, G_MAXINT32);
    char k[32], limit[32];
    const char *set_params[1] = {limit}, *lock_params[1] = {k}, *restore_params[1];
    dbr_driver_result *r;
    dbr_error *e = NULL;
    char *old;

    /* lock_timeout bounds the wait on the server, then goes back to what it
     * was, so that the rest of the transaction waits as it did before. */
    g_snprintf(k, sizeof(k), "%lld", key);
    g_snprintf(limit, sizeof(limit), "%lldms", ms);
    r = pq_exec(conn,
                "SELECT current_setting('lock_timeout'), set_config('lock_timeout', $1, true)",
                &(dbr_args){.n = 1, .values = set_params}, 0, wait, err);
    if (!r)
        return false;
    old = g_strdup(PQgetvalue((PGresult *)r, 0, 0));
    PQclear((PGresult *)r);
    if (!run(conn, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock_params, wait, &e)) {
        g_free(old);
        if (g_strcmp0(dbr_error_sqlstate(e), "55P03") == 0)
            e = dbr_error_wrap(e, DBR_ERR_TIMEOUT, PQ_LAYER,
                               "advisory lock %lld not granted within %lld ms", key, ms);
        return dbr_error_propagate(err, e);
    }
    restore_params[0] = old;
    if (!run(conn, "SELECT set_config('lock_timeout', $1, true)", 1, restore_params, wait, err)) {
        g_free(old);
        return false;
    }
    g_free(old);
    return true;
}

bool pq_ping(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err)
{
    /* The empty query: one round trip, no parse, no plan. */
    return run(conn, "", 0, NULL, wait, err);
}

/* A pooler answers the startup itself: the process id the connection
 * announced (BackendKeyData, the cancel key) is its own invention, not the
 * id of the server process that runs the statements. */
int pq_pooler_detect(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err)
{
    dbr_driver_result *r = pq_exec(conn, "SELECT pg_backend_pid()", NULL, 0, wait, err);
    const char *v;
    int verdict;

    if (!r)
        return -1;
    v = PQntuples((PGresult *)r) == 1 ? PQgetvalue((PGresult *)r, 0, 0) : NULL;
    verdict = !v || !*v ? -1 : atoi(v) != PQbackendPID(conn->pg);
    PQclear((PGresult *)r);
    if (verdict < 0)
        dbr_set_error(err, DBR_ERR_INTERNAL, PQ_LAYER, "pg_backend_pid() gave no value");
    return verdict;
}
