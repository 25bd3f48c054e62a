/* SPDX-License-Identifier: MIT */
/*
 * Streams: dbr_query_stream and dbr_tx_query_stream, one call of kind
 * stream (or tx_stmt) whose rows go one by one from the driver's
 * exec_stream to the caller's function.
 *
 * Each row reaches the caller as a dbr_result on the stack over the
 * driver's one-row result, freed as soon as the function returns: the core
 * allocates nothing per row. Before the first row is handed over the call
 * is marked spent (dbr_call_replayable false), so no plugin runs it again
 * once the caller has seen data; a failure before that is an ordinary one,
 * retried by the usual rules.
 */
#include <glib.h>

#include "ctx.h"
#include "db.h"
#include "tx.h"

typedef struct stream_op {
    dbr_row_fn fn;
    void *user;
    long long rows; /* rows fn received, over every attempt */
} stream_op;

static bool on_row(void *user, dbr_driver_result *row, dbr_error **err)
{
    dbr_call *call = user;
    stream_op *op = call->op;
    dbr_result r = {.drv = call->db->drv, .res = row};
    bool ok;

    call->replay_spent = true;
    op->rows++;
    ok = op->fn(&r, op->user, err);
    call->db->drv->result_free(row);
    return ok;
}

static bool stream_run(dbr_call *call, dbr_driver_conn *dc, const dbr_wait *wait, dbr_error **err)
{
    return call->db->drv->exec_stream(dc, call->sql, call->args.n > 0 ? &call->args : NULL, on_row,
                                      call, wait, NULL, err);
}

static bool check(const char *fn, const dbr_db *db, const char *sql, const dbr_args *args,
                  dbr_row_fn row, dbr_error **err)
{
    if (!dbr_check_statement(fn, db, sql, args, err))
        return false;
    if (!row)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: fn is NULL", fn);
    if (!DBR_OPS_HAS(struct dbr_driver_ops, db->drv, exec_stream))
        return dbr_unsupported(db, fn, err);
    return true;
}

bool dbr_query_stream(dbr_db *db, dbr_ctx *ctx, const char *sql, int nparams,
                      const char *const *params, dbr_row_fn fn, void *user, long long *rows,
                      dbr_error **err)
{
    stream_op op = {.fn = fn, .user = user};
    dbr_call call = {.kind = DBR_CALL_STREAM,
                     .terminal = dbr_autocommit_terminal,
                     .run = stream_run,
                     .ctx = ctx,
                     .sql = sql,
                     .args = {.n = nparams, .values = params},
                     .nstatements = 1,
                     .idempotent = dbr_ctx_idempotent(ctx),
                     .op = &op};
    bool ok;

    if (rows)
        *rows = 0;
    if (!check("dbr_query_stream", db, sql, &call.args, fn, err))
        return false;
    call.exec_flags = dbr_exec_flags(db);
    ok = dbr_dispatch(db, &call, err);
    if (rows)
        *rows = op.rows;
    return ok;
}

bool dbr_tx_query_stream(dbr_tx *handle, const char *sql, int nparams, const char *const *params,
                         dbr_row_fn fn, void *user, long long *rows, dbr_error **err)
{
    stream_op op = {.fn = fn, .user = user};
    dbr_call call = {.run = stream_run,
                     .sql = sql,
                     .args = {.n = nparams, .values = params},
                     .nstatements = 1,
                     .op = &op};
    tx *t = dbr_tx_slot_find(handle);
    bool ok;

    if (rows)
        *rows = 0;
    /* A handle that names no transaction of this thread is
     * dbr_tx_statement's to refuse; another thread's is not read here. */
    if (t && t->owner != g_thread_self())
        t = NULL;
    if (t && !check("dbr_tx_query_stream", t->db, sql, &call.args, fn, err))
        return false;
    if (!sql || !fn)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_tx_query_stream: %s is NULL",
                             !sql ? "sql" : "fn");
    ok = dbr_tx_statement(handle, "dbr_tx_query_stream", &call, err);
    if (rows)
        *rows = op.rows;
    /* Stopped by fn: the server canceled the query, which aborts the
     * transaction block; say so at COMMIT rather than "unknown error". */
    if (!ok && t && !t->failed && t->db->drv->txstatus(t->pc->dc) == DBR_TXSTATUS_INERROR) {
        t->failed = DBR_ERR_CANCELED;
        g_free(t->failed_msg);
        t->failed_msg = g_strdup("dbr_tx_query_stream: the row function stopped the stream, "
                                 "whose query was canceled on the server, and that aborts "
                                 "the transaction (run the stream in dbr_tx_savepoint to go on)");
    }
    return ok;
}
