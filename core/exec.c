/* SPDX-License-Identifier: MIT */
/*
 * Statements in autocommit: dbr_exec, dbr_query and their dbr_args forms,
 * dbr_exec_script, and the terminal that runs them at the bottom of the
 * chain.
 */
#include <glib.h>

#include "ctx.h"
#include "db.h"

bool dbr_check_statement(const char *fn, const dbr_db *db, const char *sql, const dbr_args *args,
                         dbr_error **err)
{
    if (!db || !sql)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: %s is NULL", fn, !db ? "db" : "sql");
    if (!args)
        return true;
    if (args->n < 0 || (args->n > 0 && !args->values))
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: nparams is %d but params is %s", fn,
                             args->n, args->values ? "set" : "NULL");
    if (args->formats && !args->lengths) {
        for (int i = 0; i < args->n; i++)
            if (args->formats[i] != 0)
                return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                                     "%s: parameter $%d is binary but lengths is NULL", fn, i + 1);
    }
    if (args->formats) {
        for (int i = 0; i < args->n; i++) {
            if (args->formats[i] != 0 && args->formats[i] != 1)
                return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                                     "%s: parameter $%d has format %d; expected 0 (text) or 1 "
                                     "(binary)",
                                     fn, i + 1, args->formats[i]);
            if (args->formats[i] == 1 && args->values[i] && args->lengths[i] < 0)
                return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: parameter $%d has length %d",
                                     fn, i + 1, args->lengths[i]);
        }
    }
    return true;
}

unsigned dbr_exec_flags(const dbr_db *db)
{
    /* A pooler in front that the config does not declare may be in
     * transaction mode: a statement kept on one server session would be
     * bound on another's. */
    return db->st->pooler_transaction || g_atomic_int_get(&db->pooler_found) ? 0u : DBR_EXEC_CACHE;
}

bool dbr_unsupported(const dbr_db *db, const char *what, dbr_error **err)
{
    dbr_error *e = dbr_error_new(DBR_ERR_UNSUPPORTED, "core", "%s: unsupported by driver %s", what,
                                 db->driver_mod.mod->name);

    dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
    dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    return dbr_error_propagate(err, e);
}

bool dbr_run_on(dbr_db *db, dbr_driver_conn *dc, const dbr_wait *wait, const char *sql,
                const dbr_args *args, unsigned flags, dbr_result **out, dbr_error **err)
{
    dbr_driver_result *res =
        db->drv->exec(dc, sql, args && args->n > 0 ? args : NULL, flags, wait, err);

    if (!res)
        return false;
    if (out)
        *out = dbr_result_wrap(db, res);
    else
        db->drv->result_free(res);
    return true;
}

bool dbr_run_script_on(dbr_db *db, dbr_driver_conn *dc, const dbr_wait *wait, const char *sql,
                       dbr_error **err)
{
    if (DBR_OPS_HAS(struct dbr_driver_ops, db->drv, exec_script))
        return db->drv->exec_script(dc, sql, wait, err);
    return dbr_run_on(db, dc, wait, sql, NULL, 0, NULL, err);
}

bool dbr_check_no_open_tx(dbr_call *call, dbr_pconn *pc, dbr_error **err)
{
    dbr_txstatus s = call->db->drv->txstatus(pc->dc);
    dbr_error *e;

    if (s != DBR_TXSTATUS_INTRANS && s != DBR_TXSTATUS_INERROR)
        return true;
    /* A BEGIN without its COMMIT: the pool rolls it back, so what it did is
     * not applied, and saying "done" would lose it. */
    if (call->result)
        dbr_result_free(dbr_call_take_result(call));
    e = dbr_error_new(DBR_ERR_MISUSE, "core",
                      "the statement left a transaction open (BEGIN without COMMIT); it was "
                      "rolled back: use dbr_tx_run for transactions");
    /* A script may have committed work before its BEGIN. */
    if (call->script)
        dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
    return dbr_error_propagate(err, e);
}

bool dbr_exec_run(dbr_call *call, dbr_driver_conn *dc, const dbr_wait *wait, dbr_error **err)
{
    if (call->script)
        return dbr_run_script_on(call->db, dc, wait, call->sql, err);
    return dbr_run_on(call->db, dc, wait, call->sql, &call->args, call->exec_flags,
                      call->want_result ? &call->result : NULL, err);
}

bool dbr_autocommit_terminal(dbr_call *call, dbr_error **err)
{
    dbr_db *db = call->db;
    dbr_pconn *pc;
    dbr_wait wait;
    bool ok;

    if (call->sql && !dbr_pooler_allows(db, call->sql, err))
        return false;
    pc = dbr_terminal_begin(call, &wait, err);
    if (!pc)
        return false;
    ok = call->run(call, pc->dc, &wait, err) && dbr_check_no_open_tx(call, pc, err);
    dbr_pool_put(db->pool, pc, false);
    return ok;
}

static bool run(dbr_db *db, dbr_ctx *ctx, const char *sql, const dbr_args *args, bool want_result,
                dbr_result **out, dbr_error **err)
{
    dbr_call call = {.kind = want_result ? DBR_CALL_QUERY : DBR_CALL_EXEC,
                     .terminal = dbr_autocommit_terminal,
                     .run = dbr_exec_run,
                     .ctx = ctx,
                     .sql = sql,
                     .nstatements = 1,
                     .idempotent = dbr_ctx_idempotent(ctx),
                     .want_result = want_result};

    if (args)
        call.args = *args;
    call.exec_flags = dbr_exec_flags(db);
    if (!dbr_dispatch(db, &call, err))
        return false;
    if (out)
        *out = dbr_call_take_result(&call);
    return true;
}

bool dbr_exec(dbr_db *db, dbr_ctx *ctx, const char *sql, int nparams, const char *const *params,
              dbr_error **err)
{
    dbr_args args = {.n = nparams, .values = params};

    if (!dbr_check_statement("dbr_exec", db, sql, &args, err))
        return false;
    return run(db, ctx, sql, &args, false, NULL, err);
}

dbr_result *dbr_query(dbr_db *db, dbr_ctx *ctx, const char *sql, int nparams,
                      const char *const *params, dbr_error **err)
{
    dbr_args args = {.n = nparams, .values = params};
    dbr_result *r = NULL;

    if (!dbr_check_statement("dbr_query", db, sql, &args, err))
        return NULL;
    run(db, ctx, sql, &args, true, &r, err);
    return r;
}

bool dbr_exec_args(dbr_db *db, dbr_ctx *ctx, const char *sql, const dbr_args *args, dbr_error **err)
{
    if (!dbr_check_statement("dbr_exec_args", db, sql, args, err))
        return false;
    return run(db, ctx, sql, args, false, NULL, err);
}

dbr_result *dbr_query_args(dbr_db *db, dbr_ctx *ctx, const char *sql, const dbr_args *args,
                           dbr_error **err)
{
    dbr_result *r = NULL;

    if (!dbr_check_statement("dbr_query_args", db, sql, args, err))
        return NULL;
    run(db, ctx, sql, args, true, &r, err);
    return r;
}

bool dbr_exec_script(dbr_db *db, dbr_ctx *ctx, const char *sql, dbr_error **err)
{
    dbr_call call = {.kind = DBR_CALL_EXEC,
                     .terminal = dbr_autocommit_terminal,
                     .run = dbr_exec_run,
                     .ctx = ctx,
                     .sql = sql,
                     .nstatements = 1,
                     .script = true};

    if (!dbr_check_statement("dbr_exec_script", db, sql, NULL, err))
        return false;
    return dbr_dispatch(db, &call, err);
}
