/* SPDX-License-Identifier: MIT */
/*
 * The middleware chain and the core terminal at its bottom.
 *
 * `next` is {db, index}: dbr_next_call runs link `index` with a next of
 * index + 1 made on the stack, so a plugin may call it any number of times
 * and no state is shared between calls. Below the last link the terminal
 * checks a connection out, drives the driver and returns the connection.
 */
#include <glib.h>

#include "ctx.h"
#include "db.h"

static const char *const call_kind_names[DBR_NCALL_KINDS] = {
    [DBR_CALL_CONNECT] = "connect", [DBR_CALL_PING] = "ping", [DBR_CALL_EXEC] = "exec",
    [DBR_CALL_QUERY] = "query",     [DBR_CALL_TX] = "tx",     [DBR_CALL_TX_STMT] = "tx_stmt",
};

const char *dbr_call_kind_name(dbr_call_kind kind)
{
    if ((unsigned)kind >= DBR_NCALL_KINDS || !call_kind_names[kind])
        return "unknown";
    return call_kind_names[kind];
}

dbr_call_kind dbr_call_kind_of(const dbr_call *call)
{
    return call->kind;
}

const char *dbr_call_sql(const dbr_call *call)
{
    return call->sql;
}

int dbr_call_nparams(const dbr_call *call)
{
    return call->nparams;
}

const char *const *dbr_call_params(const dbr_call *call)
{
    return call->params;
}

dbr_ctx *dbr_call_ctx(const dbr_call *call)
{
    return call->ctx;
}

const dbr_tx_opts *dbr_call_tx_opts(const dbr_call *call)
{
    return call->kind == DBR_CALL_TX ? call->tx_opts : NULL;
}

bool dbr_call_idempotent(const dbr_call *call)
{
    return call->idempotent;
}

const char *dbr_call_idempotency_key(const dbr_call *call)
{
    return call ? call->tx_key : NULL;
}

bool dbr_call_reads_only(const dbr_call *call)
{
    dbr_route route;

    if (!call || call->kind == DBR_CALL_CONNECT || call->kind == DBR_CALL_TX_STMT)
        return false;
    route = dbr_ctx_route(call->ctx);
    if (route == DBR_ROUTE_PRIMARY)
        return false;
    /* A standby refuses SERIALIZABLE (0A000): such a read stays on the primary. */
    if (call->kind == DBR_CALL_TX)
        return (!call->tx_opts || call->tx_opts->isolation != DBR_ISOLATION_SERIALIZABLE) &&
               ((call->tx_opts && call->tx_opts->read_only) || route == DBR_ROUTE_STANDBY);
    return route == DBR_ROUTE_STANDBY;
}

bool dbr_call_redirect(dbr_call *call, dbr_db *other, dbr_error **err)
{
    dbr_call moved;
    bool ok;

    if (!call || !other)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_call_redirect: NULL argument");
    if (call->kind == DBR_CALL_TX_STMT || call->kind == DBR_CALL_CONNECT)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_call_redirect: a %s call cannot move to another db",
                             dbr_call_kind_name(call->kind));
    moved = *call;
    moved.result = NULL;
    ok = dbr_dispatch(other, &moved, err);
    if (ok && moved.result) {
        if (call->want_result)
            call->result = moved.result;
        else
            dbr_result_free(moved.result);
    }
    return ok;
}

void dbr_call_set_resolve_commit(dbr_call *call, bool on)
{
    call->resolve_commit = on;
}

dbr_ctx *dbr_call_swap_ctx(dbr_call *call, dbr_ctx *ctx)
{
    dbr_ctx *old = call->ctx;

    /* A statement inside a transaction keeps running on the transaction's
     * ctx: only the layers of this call see the swap. */
    call->ctx = ctx;
    return old;
}

const char *dbr_call_swap_sql(dbr_call *call, const char *sql)
{
    const char *old = call->sql;

    if (sql && old)
        call->sql = sql;
    return old;
}

void dbr_call_set_drop_connection(dbr_call *call)
{
    call->drop_connection = true;
}

dbr_result *dbr_call_take_result(dbr_call *call)
{
    dbr_result *r = call->result;

    call->result = NULL;
    return r;
}

dbr_pconn *dbr_checkout(dbr_call *call, dbr_error **err)
{
    dbr_pool *pool = call->db->pool;
    dbr_pconn *pc = dbr_pool_get(pool, call->ctx, err);
    dbr_error *e;

    if (!pc || !call->drop_connection)
        return pc;
    /* Fault injection: close it as if the server had, once per attempt, so
     * that a retry gets a fresh connection. */
    call->drop_connection = false;
    dbr_pool_put(pool, pc, true);
    e = dbr_error_new(DBR_ERR_CONNECTION, "core", "connection dropped (fault injection)");
    dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
    dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    dbr_error_set_transient(e, true);
    dbr_error_propagate(err, e);
    return NULL;
}

bool dbr_run_on(dbr_db *db, dbr_driver_conn *dc, const dbr_wait *wait, const char *sql, int nparams,
                const char *const *params, dbr_result **out, dbr_error **err)
{
    dbr_driver_result *res = db->drv->exec(dc, sql, nparams, params, wait, err);

    if (!res)
        return false;
    if (out)
        *out = dbr_result_wrap(db->drv, res);
    else
        db->drv->result_free(res);
    return true;
}

bool dbr_run_script_on(dbr_db *db, dbr_driver_conn *dc, const dbr_wait *wait, const char *sql,
                       dbr_error **err)
{
    if (DBR_OPS_HAS(struct dbr_driver_ops, db->drv, exec_script))
        return db->drv->exec_script(dc, sql, wait, err);
    return dbr_run_on(db, dc, wait, sql, 0, NULL, NULL, err);
}

static bool terminal(dbr_call *call, dbr_error **err)
{
    dbr_db *db = call->db;
    dbr_pconn *pc;
    dbr_wait wait;
    bool ok;

    switch (call->kind) {
    case DBR_CALL_TX:
        return dbr_tx_terminal(call, err);
    case DBR_CALL_TX_STMT:
        return dbr_tx_stmt_terminal(call, err);
    case DBR_CALL_EXEC:
    case DBR_CALL_QUERY:
        if (!dbr_pooler_allows(db, call->sql, err))
            return false;
        break;
    default:
        break;
    }
    pc = dbr_checkout(call, err);
    if (!pc)
        return false;
    /* The ctx may have run out while the pool handed the connection over:
     * then nothing is sent. */
    if (!dbr_ctx_check(call->ctx, dbr_call_kind_name(call->kind), err) ||
        !dbr_ctx_wait(call->ctx, db->st->cancel_grace_us, &wait, err)) {
        dbr_pool_put(db->pool, pc, false);
        return false;
    }
    switch (call->kind) {
    case DBR_CALL_CONNECT:
        dbr_pooler_detect(db, pc->dc, &wait);
        ok = true;
        break;
    case DBR_CALL_PING:
        ok = dbr_driver_ping(db->drv, pc->dc, &wait, err);
        break;
    case DBR_CALL_EXEC:
        if (call->script) {
            ok = dbr_run_script_on(db, pc->dc, &wait, call->sql, err);
            break;
        }
        /* fall through */
    case DBR_CALL_QUERY:
        ok = dbr_run_on(db, pc->dc, &wait, call->sql, call->nparams, call->params,
                        call->want_result ? &call->result : NULL, err);
        break;
    default:
        ok = dbr_set_error(err, DBR_ERR_INTERNAL, "core", "unknown call kind %d", call->kind);
        break;
    }
    if (ok && (call->kind == DBR_CALL_EXEC || call->kind == DBR_CALL_QUERY)) {
        dbr_txstatus s = db->drv->txstatus(pc->dc);

        if (s == DBR_TXSTATUS_INTRANS || s == DBR_TXSTATUS_INERROR) {
            /* A BEGIN without its COMMIT: the pool rolls it back, so what it
             * did is not applied, and saying "done" would lose it. */
            if (call->result)
                dbr_result_free(dbr_call_take_result(call));
            dbr_error *e = dbr_error_new(DBR_ERR_MISUSE, "core",
                                         "the statement left a transaction open (BEGIN without "
                                         "COMMIT); it was rolled back: use dbr_tx_run for "
                                         "transactions");

            /* A script may have committed work before its BEGIN. */
            if (call->script)
                dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
            ok = dbr_error_propagate(err, e);
        }
    }
    dbr_pool_put(db->pool, pc, false);
    return ok;
}

bool dbr_next_call(const dbr_next *next, dbr_call *call, dbr_error **err)
{
    dbr_next below;
    const dbr_link *link;

    if (!next || !call)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_next_call: NULL argument");
    if (next->index >= next->db->nlinks)
        return terminal(call, err);
    link = &next->db->links[next->index];
    below.db = next->db;
    below.index = next->index + 1;
    return link->ops->handle(link->self, call, &below, err);
}

bool dbr_dispatch(dbr_db *db, dbr_call *call, dbr_error **err)
{
    dbr_next top = {.db = db, .index = 0};
    int64_t start = dbr_now_us();
    dbr_error *e = NULL;
    bool ok;

    call->db = db;
    if (db->check_only)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "this db was opened with check_only: it runs no calls");
    ok = dbr_next_call(&top, call, &e);
    if (ok && e) {
        /* A plugin reported success and an error: believe the success. */
        dbr_log(DBR_LOG_WARNING, "core", NULL,
                "a plugin returned success with an error set (%s); ignoring the error",
                dbr_error_message(e));
        dbr_error_free(e);
        e = NULL;
    }
    if (!ok && call->result)
        dbr_result_free(dbr_call_take_result(call));
    dbr_counter_add(ok ? db->calls_ok[call->kind] : db->calls_failed[call->kind], 1);
    dbr_histogram_observe(db->call_seconds[call->kind], (double)(dbr_now_us() - start) / 1e6);
    if (e)
        dbr_error_propagate(err, e);
    return ok;
}
