/* SPDX-License-Identifier: MIT */
/*
 * Prepared statements (dbr/stmt.h): a db-wide handle naming one SQL text.
 *
 * dbr_prepare runs one call through the chain (kind exec, idempotent: it
 * applies nothing) whose work on the connection is the driver's prepare:
 * a syntax error or an unknown table fails there, and the number of
 * parameters is learned. The handle itself holds no connection: each run
 * is a statement call like dbr_exec or dbr_query with DBR_EXEC_PREPARE
 * added, so the connection it lands on prepares the text if its statement
 * cache does not hold it yet (behind a pooler in transaction mode: unnamed,
 * in the same round trip). The handle is immutable once made, so any
 * number of threads may run it at once.
 */
#include <glib.h>

#include <dbr/stmt.h>

#include "ctx.h"
#include "db.h"
#include "tx.h"

struct dbr_stmt {
    dbr_db *db;
    char *sql;
    int nparams;
};

static bool prepare_run(dbr_call *call, dbr_driver_conn *dc, const dbr_wait *wait, dbr_error **err)
{
    return call->db->drv->prepare(dc, call->sql, call->op, wait, err);
}

dbr_stmt *dbr_prepare(dbr_db *db, dbr_ctx *ctx, const char *sql, dbr_error **err)
{
    int nparams = -1;
    dbr_call call = {.kind = DBR_CALL_EXEC,
                     .terminal = dbr_autocommit_terminal,
                     .run = prepare_run,
                     .ctx = ctx,
                     .sql = sql,
                     .nstatements = 1,
                     .idempotent = true, /* a Parse applies nothing */
                     .op = &nparams};
    dbr_stmt *s;

    if (!dbr_check_statement("dbr_prepare", db, sql, NULL, err))
        return NULL;
    if (!DBR_OPS_HAS(struct dbr_driver_ops, db->drv, prepare) || !db->drv->prepare)
        return dbr_unsupported(db, "dbr_prepare", err), NULL;
    call.exec_flags = dbr_exec_flags(db) | DBR_EXEC_PREPARE;
    /* Held before the call: a dbr_close on another thread may finish as
     * soon as the call leaves the gate. */
    dbr_db_hold(db);
    if (!dbr_dispatch(db, &call, err) ||
        (nparams < 0 &&
         !dbr_set_error(err, DBR_ERR_INTERNAL, "core",
                        "dbr_prepare: the driver did not report the number of parameters"))) {
        dbr_db_release(db);
        return NULL;
    }
    s = g_new0(dbr_stmt, 1);
    s->db = db;
    s->sql = g_strdup(sql);
    s->nparams = nparams;
    return s;
}

int dbr_stmt_nparams(const dbr_stmt *stmt)
{
    return stmt ? stmt->nparams : -1;
}

const char *dbr_stmt_sql(const dbr_stmt *stmt)
{
    return stmt ? stmt->sql : NULL;
}

void dbr_stmt_free(dbr_stmt *stmt)
{
    if (!stmt)
        return;
    g_free(stmt->sql);
    dbr_db_release(stmt->db);
    g_free(stmt);
}

/* A run: dbr_exec_run with the statement prepared (or found) first. */
static bool stmt_run(dbr_call *call, dbr_driver_conn *dc, const dbr_wait *wait, dbr_error **err)
{
    return dbr_run_on(call->db, dc, wait, call->sql, &call->args,
                      call->exec_flags | DBR_EXEC_PREPARE, call->want_result ? &call->result : NULL,
                      err);
}

/* The checks every run makes before anything is sent. */
static bool check_run(const char *fn, const dbr_stmt *stmt, const dbr_args *args, dbr_error **err)
{
    if (!stmt)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: stmt is NULL", fn);
    if (!args)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: args is NULL", fn);
    if (args->n != stmt->nparams)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: nparams is %d but the statement takes %d parameter%s; nothing "
                             "was sent",
                             fn, args->n, stmt->nparams, stmt->nparams == 1 ? "" : "s");
    return dbr_check_statement(fn, stmt->db, stmt->sql, args, err);
}

static bool run(const char *fn, dbr_stmt *stmt, dbr_ctx *ctx, const dbr_args *args,
                dbr_result **out, dbr_error **err)
{
    dbr_call call = {.kind = out ? DBR_CALL_QUERY : DBR_CALL_EXEC,
                     .terminal = dbr_autocommit_terminal,
                     .run = stmt_run,
                     .ctx = ctx,
                     .nstatements = 1,
                     .want_result = out != NULL};

    if (out)
        *out = NULL;
    if (!check_run(fn, stmt, args, err))
        return false;
    call.sql = stmt->sql;
    call.args = *args;
    call.idempotent = dbr_ctx_idempotent(ctx);
    call.exec_flags = dbr_exec_flags(stmt->db);
    if (!dbr_dispatch(stmt->db, &call, err))
        return false;
    if (out)
        *out = dbr_call_take_result(&call);
    return true;
}

static bool tx_run(const char *fn, dbr_tx *handle, dbr_stmt *stmt, const dbr_args *args,
                   dbr_result **out, dbr_error **err)
{
    dbr_call call = {.run = stmt_run, .want_result = out != NULL};
    tx *t;
    bool ok;

    if (out)
        *out = NULL;
    if (!handle)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: tx is NULL", fn);
    if (!check_run(fn, stmt, args, err))
        return false;
    /* Another db may have another driver, whose checks the handle never
     * passed. An ended transaction is dbr_tx_statement's to report. */
    t = dbr_tx_slot_find(handle);
    if (t && t->db != stmt->db)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: the statement was prepared on another db than the "
                             "transaction's; nothing was sent",
                             fn);
    call.sql = stmt->sql;
    call.args = *args;
    ok = dbr_tx_statement(handle, fn, &call, err);
    if (out && ok)
        *out = dbr_call_take_result(&call);
    return ok;
}

bool dbr_stmt_exec(dbr_stmt *stmt, dbr_ctx *ctx, int nparams, const char *const *params,
                   dbr_error **err)
{
    dbr_args args = {.n = nparams, .values = params};

    return run("dbr_stmt_exec", stmt, ctx, &args, NULL, err);
}

dbr_result *dbr_stmt_query(dbr_stmt *stmt, dbr_ctx *ctx, int nparams, const char *const *params,
                           dbr_error **err)
{
    dbr_args args = {.n = nparams, .values = params};
    dbr_result *r;

    run("dbr_stmt_query", stmt, ctx, &args, &r, err);
    return r;
}

bool dbr_stmt_exec_args(dbr_stmt *stmt, dbr_ctx *ctx, const dbr_args *args, dbr_error **err)
{
    return run("dbr_stmt_exec_args", stmt, ctx, args, NULL, err);
}

dbr_result *dbr_stmt_query_args(dbr_stmt *stmt, dbr_ctx *ctx, const dbr_args *args, dbr_error **err)
{
    dbr_result *r;

    run("dbr_stmt_query_args", stmt, ctx, args, &r, err);
    return r;
}

bool dbr_tx_stmt_exec(dbr_tx *handle, dbr_stmt *stmt, int nparams, const char *const *params,
                      dbr_error **err)
{
    dbr_args args = {.n = nparams, .values = params};

    return tx_run("dbr_tx_stmt_exec", handle, stmt, &args, NULL, err);
}

dbr_result *dbr_tx_stmt_query(dbr_tx *handle, dbr_stmt *stmt, int nparams,
                              const char *const *params, dbr_error **err)
{
    dbr_args args = {.n = nparams, .values = params};
    dbr_result *r;

    tx_run("dbr_tx_stmt_query", handle, stmt, &args, &r, err);
    return r;
}

bool dbr_tx_stmt_exec_args(dbr_tx *handle, dbr_stmt *stmt, const dbr_args *args, dbr_error **err)
{
    return tx_run("dbr_tx_stmt_exec_args", handle, stmt, args, NULL, err);
}

dbr_result *dbr_tx_stmt_query_args(dbr_tx *handle, dbr_stmt *stmt, const dbr_args *args,
                                   dbr_error **err)
{
    dbr_result *r;

    tx_run("dbr_tx_stmt_query_args", handle, stmt, args, &r, err);
    return r;
}
