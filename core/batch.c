/* SPDX-License-Identifier: MIT */
/*
 * Pipelined batches: dbr_batch_* and the run of a batch call, in autocommit
 * (kind batch, through the chain once for the whole batch) and inside a
 * transaction (kind tx_stmt, through dbr_tx_statement).
 *
 * The driver's exec_batch sends every statement in one round trip and says
 * what the server answered to each; this file turns that into the batch's
 * meaning. ATOMIC: one failure and nothing is applied (the implicit
 * transaction rolled back), so no statement keeps a result. EACH: every
 * statement stands on its own, and the call's outcome says whether none
 * (not applied), some (partial) or an unknown set of them was applied. A
 * driver without exec_batch gets the same meanings statement by statement:
 * ATOMIC inside BEGIN ... COMMIT, where a lost COMMIT answer is unknown.
 *
 * Transaction control (BEGIN, COMMIT, SAVEPOINT ...) and COPY are refused
 * in a batch before anything is sent: either would break what the mode
 * promises (an ATOMIC batch that commits half-way, a pipeline stuck in a
 * COPY).
 */
#include <glib.h>
#include <string.h>

#include <dbr/batch.h>
#include <dbr/sql.h>

#include "ctx.h"
#include "tx.h"

typedef struct batch_stmt {
    char *sql;
    char **values; /* owned copies; NULL entries are SQL NULL */
    dbr_args args; /* points into values */
} batch_stmt;

struct dbr_batch {
    GArray *stmts; /* batch_stmt */
    dbr_result **results;
    dbr_error **errors;
    int nrun; /* entries of results and errors */
};

/* What a batch call carries in call->op. */
typedef struct batch_op {
    dbr_batch *b;
    bool atomic; /* ATOMIC in autocommit; inside a transaction, ignored */
    bool in_tx;
} batch_op;

dbr_batch *dbr_batch_new(void)
{
    dbr_batch *b = g_new0(dbr_batch, 1);

    b->stmts = g_array_new(FALSE, TRUE, sizeof(batch_stmt));
    return b;
}

static void forget_results(dbr_batch *b)
{
    for (int i = 0; i < b->nrun; i++) {
        dbr_result_free(b->results[i]);
        dbr_error_free(b->errors[i]);
    }
    g_clear_pointer(&b->results, g_free);
    g_clear_pointer(&b->errors, g_free);
    b->nrun = 0;
}

void dbr_batch_clear(dbr_batch *b)
{
    if (!b)
        return;
    forget_results(b);
    for (guint i = 0; i < b->stmts->len; i++) {
        batch_stmt *s = &g_array_index(b->stmts, batch_stmt, i);

        g_free(s->sql);
        for (int j = 0; j < s->args.n; j++)
            g_free(s->values[j]);
        g_free(s->values);
    }
    g_array_set_size(b->stmts, 0);
}

void dbr_batch_free(dbr_batch *b)
{
    if (!b)
        return;
    dbr_batch_clear(b);
    g_array_free(b->stmts, TRUE);
    g_free(b);
}

int dbr_batch_count(const dbr_batch *b)
{
    return b ? (int)b->stmts->len : 0;
}

/* The statements a batch refuses, by their first words. */
static const char *refused_word(const char *sql)
{
    static const char *const control[] = {"begin",    "start",     "commit",  "end", "abort",
                                          "rollback", "savepoint", "release", "copy"};
    char w[16], w2[16];
    const char *rest = dbr_sql_next_word(sql, w, sizeof(w));

    for (size_t i = 0; i < G_N_ELEMENTS(control); i++)
        if (strcmp(w, control[i]) == 0)
            return control[i];
    if (strcmp(w, "prepare") == 0) {
        dbr_sql_next_word(rest, w2, sizeof(w2));
        if (strcmp(w2, "transaction") == 0)
            return "prepare transaction";
    }
    return NULL;
}

bool dbr_batch_add(dbr_batch *b, const char *sql, int nparams, const char *const *params,
                   dbr_error **err)
{
    batch_stmt s = {0};
    const char *word;

    if (!b || !sql)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_batch_add: %s is NULL",
                             !b ? "b" : "sql");
    if (nparams < 0 || (nparams > 0 && !params))
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_batch_add: nparams is %d but params is %s", nparams,
                             params ? "set" : "NULL");
    if (b->stmts->len >= G_MAXINT / 2)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_batch_add: the batch is full");
    if ((word = refused_word(sql)))
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_batch_add: %s does not belong in a batch (%s); nothing was "
                             "queued",
                             dbr_quote(word).text,
                             strcmp(word, "copy") == 0
                                 ? "use dbr_copy_from or dbr_copy_to"
                                 : "use DBR_BATCH_ATOMIC for all or nothing, or dbr_tx_batch_run");
    s.sql = g_strdup(sql);
    s.values = g_new0(char *, nparams + 1);
    for (int i = 0; i < nparams; i++)
        s.values[i] = g_strdup(params[i]);
    s.args = (dbr_args){.n = nparams, .values = (const char *const *)s.values};
    g_array_append_val(b->stmts, s);
    return true;
}

const dbr_result *dbr_batch_result(const dbr_batch *b, int i)
{
    return b && i >= 0 && i < b->nrun ? b->results[i] : NULL;
}

const dbr_error *dbr_batch_error(const dbr_batch *b, int i)
{
    return b && i >= 0 && i < b->nrun ? b->errors[i] : NULL;
}

static batch_stmt *stmt(const dbr_batch *b, int i)
{
    return &g_array_index(b->stmts, batch_stmt, i);
}

/* An error of the same kind as e, for a statement that e's failure stopped
 * or rolled back. */
static dbr_error *stopped_by(const dbr_error *e, dbr_outcome outcome, const char *fmt, int i)
{
    dbr_error *s = dbr_error_new(dbr_error_kind_of(e) ? dbr_error_kind_of(e) : DBR_ERR_INTERNAL,
                                 "core", fmt, i + 1, dbr_error_message(e));

    dbr_error_set_phase(s, dbr_error_phase_of(e));
    dbr_error_set_outcome(s, outcome);
    dbr_error_set_transient(s, dbr_error_transient(e));
    return s;
}

/* ATOMIC failed: nothing of it stands. Every statement gets an error (its
 * own, or what stopped it) with the batch's outcome. */
static void atomic_failed(dbr_batch *b, const dbr_error *why, dbr_outcome outcome)
{
    for (int i = 0; i < b->nrun; i++) {
        g_clear_pointer(&b->results[i], dbr_result_free);
        if (!b->errors[i])
            b->errors[i] = stopped_by(why, outcome,
                                      outcome == DBR_OUTCOME_NOT_APPLIED
                                          ? "statement %d rolled back with the batch: %s"
                                          : "statement %d: the batch's fate is unknown: %s",
                                      i);
        else
            dbr_error_set_outcome(b->errors[i], outcome);
    }
}

/* The call's error once every statement has its entry. */
static bool conclude(dbr_batch *b, const batch_op *op, dbr_error *whole, dbr_error **err)
{
    int first = -1, napplied = 0;
    bool unknown = false;
    dbr_error *e;

    for (int i = 0; i < b->nrun; i++) {
        if (!b->results[i] && !b->errors[i]) {
            /* No answer for it: what ended the batch speaks for it. */
            b->errors[i] = whole
                               ? stopped_by(whole, dbr_error_outcome(whole), "statement %d: %s", i)
                               : dbr_error_new(DBR_ERR_INTERNAL, "core",
                                               "statement %d got no answer from the driver", i + 1);
            if (!whole)
                dbr_error_set_outcome(b->errors[i], DBR_OUTCOME_UNKNOWN);
        }
        if (b->results[i]) {
            napplied++;
            continue;
        }
        if (first < 0)
            first = i;
        unknown |= dbr_error_outcome(b->errors[i]) != DBR_OUTCOME_NOT_APPLIED;
    }
    if (first < 0 && !whole)
        return true;
    if (first < 0) {
        /* Every statement answered, then the batch failed: its end (a
         * COMMIT, the last Sync) decides. */
        if (op->atomic && !op->in_tx)
            atomic_failed(b, whole, dbr_error_outcome(whole));
        return dbr_error_propagate(err, whole);
    }
    if (op->in_tx) {
        /* The transaction fails with its first failure and rolls back. */
        e = dbr_error_wrap(dbr_error_copy(b->errors[first]), dbr_error_kind_of(b->errors[first]),
                           "core", "statement %d of the batch failed", first + 1);
    } else if (op->atomic) {
        dbr_outcome o = whole ? dbr_error_outcome(whole) : DBR_OUTCOME_NONE;

        if (o != DBR_OUTCOME_UNKNOWN)
            o = unknown ? DBR_OUTCOME_UNKNOWN : DBR_OUTCOME_NOT_APPLIED;
        e = dbr_error_wrap(dbr_error_copy(b->errors[first]), dbr_error_kind_of(b->errors[first]),
                           "core", "statement %d of %d failed; %s", first + 1, b->nrun,
                           o == DBR_OUTCOME_NOT_APPLIED ? "the batch was rolled back"
                                                        : "the batch may or may not be committed");
        dbr_error_set_outcome(e, o);
        atomic_failed(b, b->errors[first], o);
    } else {
        e = dbr_error_wrap(dbr_error_copy(b->errors[first]), dbr_error_kind_of(b->errors[first]),
                           "core", "%d of %d statements failed or did not run (the first: %d)",
                           b->nrun - napplied, b->nrun, first + 1);
        dbr_error_set_outcome(e, unknown    ? DBR_OUTCOME_UNKNOWN
                                 : napplied ? DBR_OUTCOME_PARTIAL
                                            : DBR_OUTCOME_NOT_APPLIED);
    }
    /* Repeating all of it is worth trying when the first failure may pass;
     * whether it is safe is the outcome's business. */
    dbr_error_set_transient(e, dbr_error_transient(b->errors[first]));
    dbr_error_free(whole);
    return dbr_error_propagate(err, e);
}

/* One round trip through the driver's pipeline. */
static bool run_pipelined(dbr_call *call, dbr_batch *b, const batch_op *op, dbr_driver_conn *dc,
                          const dbr_wait *wait, dbr_error **err)
{
    const struct dbr_driver_ops *drv = call->db->drv;
    int n = b->nrun;
    const char **sql = g_new(const char *, n);
    dbr_args *args = g_new(dbr_args, n);
    dbr_driver_result **res = g_new0(dbr_driver_result *, n);
    dbr_error *whole = NULL;
    bool ok;

    for (int i = 0; i < n; i++) {
        sql[i] = stmt(b, i)->sql;
        args[i] = stmt(b, i)->args;
    }
    ok = drv->exec_batch(dc, n, sql, args, op->atomic || op->in_tx, res, b->errors, wait, &whole);
    for (int i = 0; i < n; i++) {
        if (res[i] && b->errors[i]) { /* a driver that gave both: believe the error */
            drv->result_free(res[i]);
            res[i] = NULL;
        }
        b->results[i] = res[i] ? dbr_result_wrap(call->db, res[i]) : NULL;
    }
    g_free(sql);
    g_free(args);
    g_free(res);
    if (ok && whole) /* success with an error set: believe the success */
        g_clear_pointer(&whole, dbr_error_free);
    if (!ok && !whole) {
        whole =
            dbr_error_new(DBR_ERR_INTERNAL, "core", "the driver's batch failed without an error");
        dbr_error_set_outcome(whole, DBR_OUTCOME_UNKNOWN);
    }
    return conclude(b, op, whole, err);
}

/* What a statement run alone got: its result, or its error. */
static bool run_one(dbr_call *call, dbr_batch *b, int i, dbr_driver_conn *dc, const dbr_wait *wait)
{
    return dbr_run_on(call->db, dc, wait, stmt(b, i)->sql, &stmt(b, i)->args, call->exec_flags,
                      &b->results[i], &b->errors[i]);
}

/* Transaction control for the statement-by-statement ATOMIC batch; it must
 * run even past the caller's deadline, so it gets a short one of its own. */
static bool control(dbr_call *call, dbr_driver_conn *dc, const char *sql, dbr_error **err)
{
    dbr_wait w = {.deadline_us = dbr_now_us() + call->db->st->cancel_timeout_us,
                  .cancel_fd = -1,
                  .grace_us = call->db->st->cancel_grace_us};

    return dbr_run_on(call->db, dc, &w, sql, NULL, 0, NULL, err);
}

/* A driver without a pipeline: the statements one by one, with the same
 * meanings. */
static bool run_one_by_one(dbr_call *call, dbr_batch *b, const batch_op *op, dbr_driver_conn *dc,
                           const dbr_wait *wait, dbr_error **err)
{
    const struct dbr_driver_ops *drv = call->db->drv;
    bool atomic = op->atomic && !op->in_tx, failed = false;
    dbr_error *stop = NULL, *whole = NULL;
    int sent = 0;

    if (atomic) {
        static const dbr_tx_opts defaults = {0};
        const char *begin = NULL;

        if (DBR_OPS_HAS(struct dbr_driver_ops, drv, begin_sql))
            begin = drv->begin_sql(&defaults);
        if (!dbr_run_on(call->db, dc, wait, begin ? begin : "START TRANSACTION", NULL, 0, NULL,
                        &whole)) {
            dbr_error_set_outcome(whole, DBR_OUTCOME_NOT_APPLIED); /* BEGIN applies nothing */
            return conclude(b, op, whole, err);
        }
    }
    while (sent < b->nrun) {
        bool ok;

        if (!dbr_ctx_check(call->ctx, "batch", &stop))
            break;
        ok = run_one(call, b, sent++, dc, wait);
        failed |= !ok;
        /* EACH goes on after a failed statement, not after a lost session. */
        if (!ok && (atomic || op->in_tx || drv->txstatus(dc) == DBR_TXSTATUS_BROKEN))
            break;
    }
    for (int j = sent; j < b->nrun; j++) {
        b->errors[j] = stopped_by(stop ? stop : b->errors[sent - 1], DBR_OUTCOME_NOT_APPLIED,
                                  "statement %d was not sent: %s", j);
        failed = true;
    }
    dbr_error_free(stop);
    if (!atomic)
        return conclude(b, op, NULL, err);
    if (failed) {
        /* Never committed: rolled back by ROLLBACK, or by the server when
         * the session ended first. */
        if (drv->txstatus(dc) != DBR_TXSTATUS_BROKEN)
            (void)control(call, dc, "ROLLBACK", NULL);
        for (int j = 0; j < b->nrun; j++)
            if (b->errors[j])
                dbr_error_set_outcome(b->errors[j], DBR_OUTCOME_NOT_APPLIED);
        return conclude(b, op, NULL, err);
    }
    if (!dbr_ctx_check(call->ctx, "batch COMMIT", &whole)) {
        /* Out of time before COMMIT: rolled back rather than committed late. */
        if (drv->txstatus(dc) != DBR_TXSTATUS_BROKEN)
            (void)control(call, dc, "ROLLBACK", NULL);
        dbr_error_set_outcome(whole, DBR_OUTCOME_NOT_APPLIED);
    } else if (!control(call, dc, "COMMIT", &whole) &&
               dbr_error_outcome(whole) != DBR_OUTCOME_NOT_APPLIED) {
        whole = dbr_error_wrap(whole, DBR_ERR_COMMIT_UNKNOWN, "core",
                               "the batch's COMMIT got no answer");
        dbr_error_set_outcome(whole, DBR_OUTCOME_UNKNOWN);
        dbr_error_set_transient(whole, false);
    }
    return conclude(b, op, whole, err);
}

static bool batch_run(dbr_call *call, dbr_driver_conn *dc, const dbr_wait *wait, dbr_error **err)
{
    batch_op *op = call->op;
    dbr_batch *b = op->b;

    /* A retry runs it again from the start. */
    forget_results(b);
    for (int i = 0; i < (int)b->stmts->len; i++)
        if (!dbr_pooler_allows(call->db, stmt(b, i)->sql, err))
            return false;
    b->nrun = (int)b->stmts->len;
    b->results = g_new0(dbr_result *, b->nrun);
    b->errors = g_new0(dbr_error *, b->nrun);
    if (DBR_OPS_HAS(struct dbr_driver_ops, call->db->drv, exec_batch))
        return run_pipelined(call, b, op, dc, wait, err);
    return run_one_by_one(call, b, op, dc, wait, err);
}

/* The call failed before the batch ran (no connection, the ctx done, a
 * plugin's refusal): every statement gets the call's error. */
static bool failed_unrun(dbr_batch *b, dbr_error *e, dbr_error **err)
{
    if (b->nrun == 0 && b->stmts->len > 0 && e) {
        b->nrun = (int)b->stmts->len;
        b->results = g_new0(dbr_result *, b->nrun);
        b->errors = g_new0(dbr_error *, b->nrun);
        for (int i = 0; i < b->nrun; i++)
            b->errors[i] = dbr_error_copy(e);
    }
    return dbr_error_propagate(err, e);
}

bool dbr_batch_run(dbr_db *db, dbr_ctx *ctx, dbr_batch *b, dbr_batch_mode mode, dbr_error **err)
{
    batch_op op = {.b = b, .atomic = mode == DBR_BATCH_ATOMIC};
    dbr_error *e = NULL;
    dbr_call call = {.kind = DBR_CALL_BATCH,
                     .terminal = dbr_autocommit_terminal,
                     .run = batch_run,
                     .ctx = ctx,
                     .idempotent = dbr_ctx_idempotent(ctx),
                     .op = &op};

    if (!db)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_batch_run: db is NULL");
    if (!b)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_batch_run: b is NULL");
    if (mode != DBR_BATCH_ATOMIC && mode != DBR_BATCH_EACH)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_batch_run: mode is %d; expected DBR_BATCH_ATOMIC or "
                             "DBR_BATCH_EACH",
                             (int)mode);
    forget_results(b);
    if (b->stmts->len == 0)
        return true; /* nothing to send */
    call.sql = stmt(b, 0)->sql;
    call.args = stmt(b, 0)->args;
    call.nstatements = (int)b->stmts->len;
    call.exec_flags = dbr_exec_flags(db);
    return dbr_dispatch(db, &call, &e) || failed_unrun(b, e, err);
}

bool dbr_tx_batch_run(dbr_tx *handle, dbr_batch *b, dbr_error **err)
{
    batch_op op = {.b = b, .in_tx = true};
    dbr_error *e = NULL;
    dbr_call call = {.run = batch_run, .op = &op};

    if (!handle)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_tx_batch_run: tx is NULL");
    if (!b)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_tx_batch_run: b is NULL");
    forget_results(b);
    if (b->stmts->len == 0)
        return true;
    call.sql = stmt(b, 0)->sql;
    call.args = stmt(b, 0)->args;
    call.nstatements = (int)b->stmts->len;
    return dbr_tx_statement(handle, "dbr_tx_batch_run", &call, &e) || failed_unrun(b, e, err);
}
