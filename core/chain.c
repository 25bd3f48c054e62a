/* SPDX-License-Identifier: MIT */
/*
 * The middleware chain.
 *
 * `next` is {db, index}: dbr_next_call runs link `index` with a next of
 * index + 1 made on the stack, so a plugin may call it any number of times
 * and no state is shared between calls. Below the last link runs the call's
 * own terminal, which the API function that made the call chose from the
 * file named after the call's kind: the chain knows none of them.
 */
#include <glib.h>

#include "ctx.h"
#include "db.h"

static const char *const call_kind_names[DBR_NCALL_KINDS] = {
    [DBR_CALL_CONNECT] = "connect", [DBR_CALL_PING] = "ping",     [DBR_CALL_EXEC] = "exec",
    [DBR_CALL_QUERY] = "query",     [DBR_CALL_TX] = "tx",         [DBR_CALL_TX_STMT] = "tx_stmt",
    [DBR_CALL_BATCH] = "batch",     [DBR_CALL_STREAM] = "stream", [DBR_CALL_COPY] = "copy",
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
    return call->args.n;
}

const char *const *dbr_call_params(const dbr_call *call)
{
    return call->args.values;
}

const dbr_args *dbr_call_args(const dbr_call *call)
{
    return call && call->args.n > 0 ? &call->args : NULL;
}

int dbr_call_nstatements(const dbr_call *call)
{
    return call ? call->nstatements : 0;
}

bool dbr_call_replayable(const dbr_call *call)
{
    return call && !call->replay_spent;
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

    /* A COPY may load rows (FROM STDIN): it stays on the primary. */
    if (!call || call->kind == DBR_CALL_CONNECT || call->kind == DBR_CALL_TX_STMT ||
        call->kind == DBR_CALL_COPY)
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
    /* A stream's rows went to the caller through the moved call. */
    call->replay_spent |= moved.replay_spent;
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

dbr_pconn *dbr_terminal_begin(dbr_call *call, dbr_wait *wait, dbr_error **err)
{
    dbr_pconn *pc = dbr_checkout(call, err);

    if (!pc)
        return NULL;
    /* The ctx may have run out while the pool handed the connection over:
     * then nothing is sent. */
    if (!dbr_ctx_check(call->ctx, dbr_call_kind_name(call->kind), err) ||
        !dbr_ctx_wait(call->ctx, call->db->st->cancel_grace_us, wait, err)) {
        dbr_pool_put(call->db->pool, pc, false);
        return NULL;
    }
    if (G_UNLIKELY(!g_atomic_int_get(&call->db->pooler_checked)) &&
        !dbr_pooler_first_look(call, &pc, wait, err))
        return NULL;
    return pc;
}

bool dbr_next_call(const dbr_next *next, dbr_call *call, dbr_error **err)
{
    dbr_next below;
    const dbr_link *link;

    if (!next || !call)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_next_call: NULL argument");
    if (next->index >= next->db->nlinks)
        return call->terminal(call, err);
    link = &next->db->links[next->index];
    below.db = next->db;
    below.index = next->index + 1;
    return link->ops->handle(link->self, call, &below, err);
}

/* Counts a caller out once close has begun. Under the lock: close reads
 * the count under it, so the db cannot be freed between this thread's
 * decrement and its wake-up of close (a lock taken after the decrement
 * could be in freed memory). */
static void count_out(dbr_db *db)
{
    g_mutex_lock(&db->gate.lock);
    if (g_atomic_int_dec_and_test(&db->gate.inflight))
        g_cond_broadcast(&db->gate.idle);
    g_mutex_unlock(&db->gate.lock);
}

/* The caller counts itself in before it looks at closing, and close sets
 * closing before it looks at the count, so one of the two always sees the
 * other (both sequentially consistent). */
static bool gate_enter(dbr_db *db, const dbr_call *call)
{
    g_atomic_int_inc(&db->gate.inflight);
    if (G_LIKELY(!g_atomic_int_get(&db->gate.closing)) || (call && call->kind == DBR_CALL_TX_STMT))
        return true;
    count_out(db);
    return false;
}

/* The calls this thread is inside, innermost last (a router's sibling
 * nests one db's call in another's): dbr_close from inside one of its own
 * db's calls would wait for itself for ever. */
#define GATE_DEPTH 8
static _Thread_local const dbr_db *inside[GATE_DEPTH];
static _Thread_local int ninside;

bool dbr_gate_closed(const dbr_db *db)
{
    return g_atomic_int_get(&db->gate.closing) != 0;
}

bool dbr_gate_inside(const dbr_db *db)
{
    for (int i = 0; i < ninside && i < GATE_DEPTH; i++)
        if (inside[i] == db)
            return true;
    return false;
}

void dbr_gate_mark(const dbr_db *db)
{
    if (ninside++ < GATE_DEPTH)
        inside[ninside - 1] = db;
}

void dbr_gate_unmark(void)
{
    ninside--;
}

bool dbr_gate_enter(dbr_db *db)
{
    return gate_enter(db, NULL);
}

void dbr_gate_leave(dbr_db *db)
{
    /* The common case touches nothing but the count. A close that begins
     * between the look and the decrement finds the count on its next poll
     * (dbr_gate_close), since this thread wakes no one. */
    if (G_LIKELY(!g_atomic_int_get(&db->gate.closing)))
        g_atomic_int_add(&db->gate.inflight, -1);
    else
        count_out(db);
}

void dbr_gate_close(dbr_db *db)
{
    g_atomic_int_set(&db->gate.closing, 1);
    if (db->pool)
        dbr_pool_begin_close(db->pool);
    g_mutex_lock(&db->gate.lock);
    while (g_atomic_int_get(&db->gate.inflight) > 0)
        g_cond_wait_until(&db->gate.idle, &db->gate.lock,
                          g_get_monotonic_time() + 10 * G_TIME_SPAN_MILLISECOND);
    g_mutex_unlock(&db->gate.lock);
}

bool dbr_dispatch(dbr_db *db, dbr_call *call, dbr_error **err)
{
    dbr_next top = {.db = db, .index = 0};
    int64_t start;
    dbr_error *e = NULL;
    bool ok;

    call->db = db;
    if (!call->terminal)
        return dbr_set_error(err, DBR_ERR_INTERNAL, "core", "a %s call without a terminal",
                             dbr_call_kind_name(call->kind));
    if (db->check_only)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "this db was opened with check_only: it runs no calls");
    if (!gate_enter(db, call)) {
        e = dbr_error_new(
            DBR_ERR_MISUSE, "core",
            "%s: the db is closing or closed (dbr_close was called): nothing was sent",
            dbr_call_kind_name(call->kind));
        dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
        return dbr_error_propagate(err, e);
    }
    start = dbr_now_us();
    dbr_gate_mark(db);
    ok = dbr_next_call(&top, call, &e);
    dbr_gate_unmark();
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
    dbr_gate_leave(db);
    if (e)
        dbr_error_propagate(err, e);
    return ok;
}
