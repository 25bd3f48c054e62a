/* SPDX-License-Identifier: MIT */
/*
 * exec_batch: n statements in one round trip, with libpq's pipeline mode.
 *
 * atomic (or inside a transaction block): every statement, then one Sync.
 * The server runs them in one implicit transaction that commits only at
 * the Sync: an ERROR aborts the rest (PGRES_PIPELINE_ABORTED) and rolls all
 * back, and a connection closed before the Sync left rolls all back too.
 * Otherwise a Sync follows each statement, so each commits on its own and
 * a failure does not stop the next.
 *
 * A statement's result counts only once the Sync behind it has answered
 * (it committed there): a session lost in between leaves it unknown.
 * Sending is non-blocking and reads what the server answers meanwhile, so
 * a batch larger than the socket buffers cannot deadlock with a server
 * that is blocked writing results we are not reading.
 */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>

#include "pq.h"

static bool is_error(ExecStatusType st)
{
    return st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE;
}

/* Sends what libpq has queued by the wait's deadline, reading the server's
 * answers meanwhile (they stay queued in libpq). 0 sent; else *e is set:
 * -1 the tail of what was queued never left (a deadline, a cancel, a
 * connection lost while some was still to send), -2 libpq failed writing
 * (what left is not known). */
static int flush_reading(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **e)
{
    PGconn *pg = conn->pg;
    int r;

    while ((r = PQflush(pg)) == 1) {
        struct pollfd p[2] = {{.fd = PQsocket(pg), .events = POLLIN | POLLOUT},
                              {.fd = wait ? wait->cancel_fd : -1, .events = POLLIN}};
        int64_t left_ms = -1;
        int n;

        if (wait && wait->deadline_us) {
            int64_t now = dbr_now_us();

            left_ms = now >= wait->deadline_us ? 0 : (wait->deadline_us - now + 999) / 1000;
            left_ms = MIN(left_ms, G_MAXINT32);
        }
        n = left_ms == 0 ? 0 : poll(p, p[1].fd >= 0 ? 2 : 1, (int)left_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (n == 0 || (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLNVAL | POLLERR)))) {
            *e = n == 0 ? dbr_error_new(DBR_ERR_TIMEOUT, PQ_LAYER,
                                        "batch timed out while sending (deadline exceeded)")
                        : dbr_error_new(DBR_ERR_CANCELED, PQ_LAYER, "batch canceled while sending");
            dbr_error_set_phase(*e, DBR_PHASE_SENT);
            return -1;
        }
        if ((p[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(pg))
            break;
    }
    if (r == 0)
        return 0;
    *e = pq_conn_error(pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN, "connection lost while sending");
    return r == 1 ? -1 : -2; /* 1: some of it is still here, so it never left */
}

/* The next result, waited for within ew; NULL at the end of a query's
 * results, or when the wait failed (*e set). */
static PGresult *next_result(dbr_driver_conn *conn, exec_wait *ew, dbr_error **e)
{
    if (PQisBusy(conn->pg) && !pq_wait_result(conn, ew, e))
        return NULL;
    return PQgetResult(conn->pg);
}

/* Whether an error result ends the session (a FATAL, libpq's own "server
 * closed the connection", a socket gone). */
static bool session_ended(PGconn *pg, const PGresult *r)
{
    const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);

    return PQstatus(pg) != CONNECTION_OK || !PQresultErrorField(r, PG_DIAG_SQLSTATE) ||
           (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0));
}

/* Whether sql commits nothing on its own before it ends (pq_wait.c). */
static bool statement_atomic(const char *sql, bool in_tx)
{
    exec_wait w = {.sql = sql, .in_tx = in_tx, .atomic = -1};

    return pq_wait_atomic(&w);
}

typedef struct batch_run {
    dbr_driver_conn *conn;
    int n;
    const char *const *sql;
    bool one_sync, in_tx;
    dbr_driver_result **results;
    dbr_error **errors;
    int confirmed;    /* statements whose Sync has answered */
    bool all_atomic;  /* no statement so far may have committed on its own */
    dbr_error *first; /* the first statement error, for those it aborted */
} batch_run;

/* The session ended with no Sync answer for statements from confirmed on:
 * their results do not prove a commit. */
static bool lost(batch_run *b, int upto, dbr_error *why, dbr_error **err)
{
    b->conn->broken = true;
    for (int j = b->confirmed; j <= upto && j < b->n; j++) {
        if (!b->results[j])
            continue;
        PQclear((PGresult *)b->results[j]);
        b->results[j] = NULL;
        b->errors[j] = dbr_error_copy(why);
        dbr_error_set_outcome(b->errors[j], DBR_OUTCOME_UNKNOWN);
    }
    dbr_error_set_outcome(why, DBR_OUTCOME_UNKNOWN);
    return dbr_error_propagate(err, why);
}

/* What the server said to statement i, from its first result. False when
 * the session ended (err set). */
static bool take_answer(batch_run *b, exec_wait *ew, int i, PGresult *r, dbr_error **err)
{
    ExecStatusType st = PQresultStatus(r);
    dbr_error *e;
    bool own;

    switch (st) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        b->results[i] = (dbr_driver_result *)r;
        return true;
    case PGRES_PIPELINE_ABORTED:
        PQclear(r);
        e = dbr_error_new(b->first ? dbr_error_kind_of(b->first) : DBR_ERR_INTERNAL, PQ_LAYER,
                          "not run: an earlier statement of the batch failed%s%s",
                          b->first ? ": " : "", b->first ? dbr_error_message(b->first) : "");
        dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
        dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
        b->errors[i] = e;
        return true;
    default:
        break;
    }
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        /* dbr_batch_add refuses COPY; one hidden in a function is not
         * worth unwinding from a pipeline. */
        if (st == PGRES_COPY_IN)
            (void)PQputCopyEnd(b->conn->pg, "COPY is not supported in a batch");
        PQclear(r);
        e = dbr_error_new(DBR_ERR_MISUSE, PQ_LAYER,
                          "statement %d started a COPY, which a batch cannot run (use "
                          "dbr_copy_from or dbr_copy_to); the connection was closed",
                          i + 1);
        dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
        b->errors[i] = dbr_error_copy(e);
        return lost(b, i, e, err);
    }
    if (!is_error(st) || session_ended(b->conn->pg, r)) {
        e = is_error(st) ? pq_result_error(r, false)
                         : pq_conn_error(b->conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN,
                                         "unexpected answer in the pipeline");
        PQclear(r);
        b->errors[i] = dbr_error_copy(e);
        dbr_error_set_outcome(b->errors[i], DBR_OUTCOME_UNKNOWN);
        return lost(b, i, e, err);
    }
    /* An ERROR: this statement did nothing, unless it may have committed
     * part of its work (CALL, DO); in one implicit transaction, nothing of
     * the batch stands unless an earlier statement may have committed. */
    own = statement_atomic(b->sql[i], b->in_tx);
    b->all_atomic &= own;
    e = ew->stopping && g_strcmp0(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57014") == 0
            ? pq_interrupted(ew, r)
            : pq_result_error(r, own);
    if (b->one_sync && !b->in_tx && !b->all_atomic)
        dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
    PQclear(r);
    if (!b->first)
        b->first = dbr_error_copy(e);
    b->errors[i] = e;
    return true;
}

/* Reads statement i's results up to the NULL that ends them. */
static bool read_statement(batch_run *b, exec_wait *ew, int i, dbr_error **err)
{
    dbr_error *e = NULL;
    PGresult *r;

    ew->sql = b->sql[i];
    ew->atomic = b->in_tx ? 1 : (signed char)-1;
    r = next_result(b->conn, ew, &e);
    if (!r)
        return lost(b, i,
                    e ? e
                      : pq_conn_error(b->conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN,
                                      "no answer in the pipeline"),
                    err);
    if (!take_answer(b, ew, i, r, err))
        return false;
    if (b->errors[i] == NULL)
        b->all_atomic &= statement_atomic(b->sql[i], b->in_tx);
    /* One result per query, then NULL: anything else means the stream is
     * not what we think. */
    r = next_result(b->conn, ew, &e);
    if (r || e) {
        PQclear(r);
        return lost(b, i,
                    e ? e
                      : pq_conn_error(b->conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN,
                                      "unexpected result in the pipeline"),
                    err);
    }
    return true;
}

/* Whether statements from..upto-1 may have committed work before the
 * batch's one Sync left (a CALL or DO that commits, CREATE DATABASE, ...
 * CONCURRENTLY): then a batch whose Sync never left is not "not applied". */
static bool may_have_committed(const batch_run *b, int from, int upto)
{
    for (int i = from; i < upto && i < b->n; i++)
        if (!statement_atomic(b->sql[i], b->in_tx))
            return true;
    return false;
}

/* The Sync answered an ERROR that leaves the session usable (a deferred
 * constraint at the implicit COMMIT): the statements it covers failed with
 * it and nothing of them stands, unless one may have committed on its
 * own. Reads on to the Sync's end. */
static bool sync_failed(batch_run *b, exec_wait *ew, int upto, PGresult *r, dbr_error **err)
{
    dbr_outcome outcome = may_have_committed(b, b->confirmed, upto + 1) ? DBR_OUTCOME_UNKNOWN
                                                                        : DBR_OUTCOME_NOT_APPLIED;
    dbr_error *e = pq_result_error(r, outcome == DBR_OUTCOME_NOT_APPLIED), *w = NULL;

    PQclear(r);
    dbr_error_set_outcome(e, outcome);
    for (int j = b->confirmed; j <= upto && j < b->n; j++) {
        if (b->errors[j]) {
            dbr_error_set_outcome(b->errors[j], outcome);
            continue;
        }
        PQclear((PGresult *)b->results[j]);
        b->results[j] = NULL;
        b->errors[j] = dbr_error_copy(e);
    }
    if (!b->first)
        b->first = dbr_error_copy(e);
    /* Then the end of the error's results and the Sync's own answer. */
    for (int k = 0; k < 3; k++) {
        r = next_result(b->conn, ew, &w);
        if (!r && !w)
            continue;
        if (r && PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            dbr_error_free(e);
            b->confirmed = upto + 1;
            return true;
        }
        break;
    }
    PQclear(r);
    dbr_error_free(e);
    return lost(b, upto,
                w ? w
                  : pq_conn_error(b->conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN,
                                  "no Sync answer in the pipeline"),
                err);
}

/* Reads a Sync's answer: what came before it is now final. */
static bool read_sync(batch_run *b, exec_wait *ew, int upto, dbr_error **err)
{
    dbr_error *e = NULL;
    PGresult *r = next_result(b->conn, ew, &e);
    bool ok = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;

    if (!ok && r && PQresultStatus(r) == PGRES_FATAL_ERROR && !session_ended(b->conn->pg, r) &&
        !g_str_has_prefix(PQresultErrorField(r, PG_DIAG_SQLSTATE), "08") &&
        !g_str_has_prefix(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57P"))
        return sync_failed(b, ew, upto, r, err);
    if (!ok && !e)
        e = r && is_error(PQresultStatus(r))
                ? pq_result_error(r, false)
                : pq_conn_error(b->conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN,
                                "no Sync answer in the pipeline");
    PQclear(r);
    if (!ok)
        return lost(b, upto, e, err);
    b->confirmed = upto + 1;
    return true;
}

/* Queues the statements (and Syncs); returns how many were queued, with
 * *synced how many a queued Sync covers. */
static int queue_all(batch_run *b, const dbr_args *args, int *synced)
{
    PGconn *pg = b->conn->pg;
    int i;

    *synced = 0;
    for (i = 0; i < b->n; i++) {
        const dbr_args *a = args && args[i].n > 0 ? &args[i] : NULL;

        /* A DEALLOCATE is forgotten by pq_stmt_observe; a DISCARD ALL is
         * forgotten here, before it runs: should it not run, the server
         * keeps statements the cache no longer names (a leak until the
         * session ends), never a name the server no longer has. */
        if (pq_stmt_observe(b->conn, b->sql[i], false))
            pq_stmt_forget_all(b->conn);
        if (!PQsendQueryParams(pg, b->sql[i], a ? a->n : 0, NULL, a ? a->values : NULL,
                               a ? a->lengths : NULL, a ? a->formats : NULL, 0))
            return i;
        if (!b->conn->session_changed)
            b->conn->session_changed = pq_session_changing(b->sql[i], false);
        if (!b->one_sync) {
            if (!PQpipelineSync(pg))
                return i; /* its Execute may have left: counted as sent, not synced */
            *synced = i + 1;
        }
    }
    if (b->one_sync && PQpipelineSync(pg))
        *synced = b->n;
    return i;
}

/* The protocol counts a statement's parameters in 16 bits: libpq would
 * refuse statement i when it comes to queue it, after the statements
 * before it were queued (and may have left). Refused here first, nothing
 * sent: statement i gets the error, err says the batch did not run. */
static bool too_many_params(int n, const dbr_args *args, dbr_error **errors, dbr_error **err)
{
    for (int i = 0; args && i < n; i++) {
        dbr_error *e;

        if (args[i].n <= PQ_MAX_PARAMS)
            continue;
        e = dbr_error_new(DBR_ERR_MISUSE, PQ_LAYER,
                          "statement %d of the batch has %d parameters, more than the %d the "
                          "protocol takes; nothing was sent",
                          i + 1, args[i].n, PQ_MAX_PARAMS);
        dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
        errors[i] = dbr_error_copy(e);
        return dbr_error_propagate(err, e);
    }
    return true;
}

bool pq_exec_batch(dbr_driver_conn *conn, int n, const char *const *sql, const dbr_args *args,
                   bool atomic, dbr_driver_result **results, dbr_error **errors,
                   const dbr_wait *wait, dbr_error **err)
{
    batch_run b = {
        .conn = conn, .n = n, .sql = sql, .results = results, .errors = errors, .all_atomic = true};
    exec_wait ew = {.wait = wait, .deadline_us = wait ? wait->deadline_us : 0, .atomic = -1};
    dbr_error *e = NULL;
    int queued, synced, sent;
    bool ok = true;

    if (n <= 0)
        return true;
    if (!too_many_params(n, args, errors, err) || !pq_usable(conn, err))
        return false;
    b.in_tx = PQtransactionStatus(conn->pg) != PQTRANS_IDLE;
    b.one_sync = atomic || b.in_tx;
    ew.in_tx = b.in_tx;
    if (!PQenterPipelineMode(conn->pg)) {
        e = pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND, DBR_OUTCOME_NOT_APPLIED,
                          "cannot enter pipeline mode");
        conn->broken = true;
        return dbr_error_propagate(err, e);
    }
    queued = queue_all(&b, args, &synced);
    if (queued < n || synced < n) {
        /* libpq refused a request. On a healthy connection it refused it
         * before writing any of it: what a queued Sync covers may have
         * committed, the rest will not (closing the session rolls back a
         * pipeline whose Sync never left). On a failing one, what it was
         * writing may have left too. */
        bool healthy = PQstatus(conn->pg) == CONNECTION_OK;
        int maybe = healthy ? synced : b.one_sync ? (queued < n ? 0 : n) : MIN(queued + 1, n);
        /* libpq may have sent what it queued before: a CALL among it may
         * have committed before the Sync. */
        bool unsure = b.one_sync && may_have_committed(&b, 0, MIN(queued + 1, n));

        e = healthy ? dbr_error_new(DBR_ERR_MISUSE, PQ_LAYER,
                                    "libpq refused statement %d of the batch: %.*s", queued + 1,
                                    (int)strcspn(PQerrorMessage(conn->pg), "\n"),
                                    PQerrorMessage(conn->pg))
                    : pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN,
                                    "cannot send the batch");
        dbr_error_set_phase(e, DBR_PHASE_SENT);
        conn->broken = true;
        for (int i = maybe; i < n; i++) {
            errors[i] = dbr_error_copy(e);
            dbr_error_set_outcome(errors[i],
                                  unsure ? DBR_OUTCOME_UNKNOWN : DBR_OUTCOME_NOT_APPLIED);
        }
        dbr_error_set_outcome(e, maybe == 0 && !unsure ? DBR_OUTCOME_NOT_APPLIED
                                                       : DBR_OUTCOME_UNKNOWN);
        return dbr_error_propagate(err, e);
    }
    sent = flush_reading(conn, wait, &e);
    if (sent != 0) {
        /* Part of the pipeline never left. One Sync at the end: it is the
         * part that did not, so nothing commits (closing the session rolls
         * back), unless a statement that left commits on its own (a CALL
         * that COMMITs). Else some statements' Syncs may have left. */
        conn->broken = true;
        dbr_error_set_outcome(e, sent == -1 && b.one_sync && !may_have_committed(&b, 0, n)
                                     ? DBR_OUTCOME_NOT_APPLIED
                                     : DBR_OUTCOME_UNKNOWN);
        return dbr_error_propagate(err, e);
    }
    for (int i = 0; i < n && ok; i++) {
        ok = read_statement(&b, &ew, i, err);
        if (ok && !b.one_sync)
            ok = read_sync(&b, &ew, i, err);
    }
    if (ok && b.one_sync)
        ok = read_sync(&b, &ew, n - 1, err);
    /* Every answer is in: what the batch did is known. Leftovers (there
     * should be none) only cost the connection. */
    if (ok && !PQexitPipelineMode(conn->pg))
        conn->broken = true;
    if (ok)
        conn->last_answer_us = dbr_now_us();
    dbr_error_free(b.first);
    return ok;
}
