/* SPDX-License-Identifier: MIT */
/*
 * Transactions: BEGIN, the application's callback, then COMMIT or ROLLBACK,
 * always. Savepoints nest to any depth.
 *
 * A dbr_tx handle must stay safe to touch after its callback returned, so
 * that using it then is reported as DBR_ERR_MISUSE rather than being
 * undefined behaviour. Handles are therefore never freed while the db is
 * open: they are recycled through a FIFO list that is kept at least
 * TX_RECYCLE_AFTER long, so a stale handle is only ever reused after many
 * later transactions, and reads as ended until then.
 *
 * Errors of the whole transaction are classified here: everything before
 * COMMIT was rolled back, so a deadlock, a serialization failure or a broken
 * connection is safe to retry as a whole; a connection lost while COMMIT was
 * in flight is DBR_ERR_COMMIT_UNKNOWN and never is.
 */
#include <glib.h>
#include <string.h>

#include "ctx.h"
#include "db.h"

#define TX_MAGIC         0x74786e31u /* "txn1" */
#define TX_RECYCLE_AFTER 64

typedef enum { TX_ENDED = 0, TX_ACTIVE } tx_state;

struct dbr_tx {
    guint32 magic;
    tx_state state;
    dbr_db *db;
    dbr_pconn *pc;
    dbr_ctx *ctx;
    int depth;
    unsigned savepoints;
    bool resolve_commit;
    dbr_error_kind failed; /* kind of the last statement that failed, or NONE */
    char *failed_msg;
};

struct dbr_txs {
    GMutex lock;
    GQueue free; /* dbr_tx *, ended, oldest first */
    GPtrArray *all;
};

dbr_txs *dbr_txs_new(void)
{
    dbr_txs *txs = g_new0(dbr_txs, 1);

    g_mutex_init(&txs->lock);
    g_queue_init(&txs->free);
    txs->all = g_ptr_array_new();
    return txs;
}

void dbr_txs_free(dbr_txs *txs)
{
    if (!txs)
        return;
    for (guint i = 0; i < txs->all->len; i++) {
        dbr_tx *tx = g_ptr_array_index(txs->all, i);

        g_free(tx->failed_msg);
        g_free(tx);
    }
    g_ptr_array_free(txs->all, TRUE);
    g_queue_clear(&txs->free);
    g_mutex_clear(&txs->lock);
    g_free(txs);
}

static dbr_tx *tx_acquire(dbr_db *db)
{
    dbr_txs *txs = db->txs;
    dbr_tx *tx = NULL;

    g_mutex_lock(&txs->lock);
    if (g_queue_get_length(&txs->free) > TX_RECYCLE_AFTER)
        tx = g_queue_pop_head(&txs->free);
    if (!tx) {
        tx = g_new0(dbr_tx, 1);
        tx->magic = TX_MAGIC;
        g_ptr_array_add(txs->all, tx);
    }
    g_mutex_unlock(&txs->lock);
    tx->db = db;
    tx->state = TX_ACTIVE;
    tx->depth = 0;
    tx->savepoints = 0;
    tx->failed = DBR_ERR_NONE;
    g_clear_pointer(&tx->failed_msg, g_free);
    return tx;
}

static void tx_release(dbr_tx *tx)
{
    dbr_txs *txs = tx->db->txs;

    tx->state = TX_ENDED;
    tx->pc = NULL;
    tx->ctx = NULL;
    g_mutex_lock(&txs->lock);
    g_queue_push_tail(&txs->free, tx);
    g_mutex_unlock(&txs->lock);
}

static const char *begin_sql(const struct dbr_driver_ops *drv, const dbr_tx_opts *o)
{
    static const char *const iso[] = {
        [DBR_ISOLATION_DEFAULT] = "",
        [DBR_ISOLATION_READ_COMMITTED] = " ISOLATION LEVEL READ COMMITTED",
        [DBR_ISOLATION_REPEATABLE_READ] = " ISOLATION LEVEL REPEATABLE READ",
        [DBR_ISOLATION_SERIALIZABLE] = " ISOLATION LEVEL SERIALIZABLE",
    };
    /* 4 isolations x read_only x deferrable: every BEGIN is a static string. */
    static char table[4][2][2][96];
    static gsize built;
    const char *s;

    if (drv->begin_sql && (s = drv->begin_sql(o)))
        return s;
    if (g_once_init_enter(&built)) {
        for (int i = 0; i < 4; i++)
            for (int r = 0; r < 2; r++)
                for (int d = 0; d < 2; d++)
                    g_snprintf(table[i][r][d], sizeof(table[i][r][d]), "START TRANSACTION%s%s%s",
                               iso[i], r ? (i ? ", READ ONLY" : " READ ONLY") : "",
                               d ? ((i || r) ? ", DEFERRABLE" : " DEFERRABLE") : "");
        g_once_init_leave(&built, 1);
    }
    return table[o->isolation][o->read_only][o->deferrable];
}

/* Control statements (ROLLBACK, RELEASE ...) must run even when the
 * caller's deadline has passed, so they get their own short one. */
static dbr_wait control_wait(const dbr_db *db)
{
    dbr_wait w = {.deadline_us = dbr_now_us() + db->st->cancel_timeout_us, .cancel_fd = -1};

    return w;
}

static bool tx_control(dbr_tx *tx, const char *sql, dbr_error **err)
{
    dbr_wait w = control_wait(tx->db);

    return dbr_run_on(tx->db, tx->pc->dc, &w, sql, 0, NULL, NULL, err);
}

/* The whole transaction failed before COMMIT: the server rolled it back. */
static dbr_error *classify_rolled_back(dbr_error *e)
{
    dbr_error_kind k = dbr_error_kind_of(e);

    dbr_error_set_retryable(e, k == DBR_ERR_SERIALIZATION || k == DBR_ERR_DEADLOCK ||
                                   k == DBR_ERR_CONNECTION || dbr_error_retryable(e));
    return e;
}

/* After COMMIT's answer was lost: asks fresh connections what became of
 * transaction xid. A dying backend may still be finishing its commit, so
 * "in progress" is asked again, within the connect timeout. */
static int ask_xact_status(dbr_db *db, dbr_ctx *ctx, const char *xid)
{
    /* Bounded by the connect timeout, not by the caller's deadline, which
     * may be what cut COMMIT short; a cancel still stops it. */
    dbr_ctx *bound = dbr_ctx_with_timeout(db->st->connect_timeout_us / 1000);
    int status = -2;

    while (!dbr_ctx_canceled(ctx)) {
        dbr_pconn *pc = dbr_pool_get(db->pool, bound, NULL);
        dbr_wait wait = dbr_ctx_wait(bound);

        if (!pc)
            break;
        status = db->drv->xact_status(pc->dc, xid, &wait, NULL);
        dbr_pool_put(db->pool, pc, status == -2);
        /* A dying backend may still be finishing its commit: ask again. */
        if (status != -1 || !dbr_ctx_sleep_until(bound, dbr_now_us() + 50000))
            break;
    }
    dbr_ctx_free(bound);
    return status;
}

static bool ambiguous(const dbr_error *ce)
{
    /* COMMIT left and the session ended without a clear answer. Even a
     * FATAL "terminating connection" instead of the answer counts: no guess
     * about a commit. */
    return dbr_error_phase_of(ce) == DBR_PHASE_SENT ||
           (dbr_error_kind_of(ce) == DBR_ERR_CONNECTION &&
            dbr_error_phase_of(ce) != DBR_PHASE_BEFORE_SEND);
}

static bool tx_commit(dbr_tx *tx, dbr_error **err)
{
    dbr_db *db = tx->db;
    dbr_ctx *ctx = tx->ctx;
    bool tracked = tx->resolve_commit && db->drv->commit_tracked && db->drv->xact_status;
    dbr_wait wait = dbr_ctx_wait(ctx);
    dbr_error *ce = NULL;
    char xid[32] = "";
    bool ok;
    int status;

    ok = tracked ? db->drv->commit_tracked(tx->pc->dc, &wait, xid, sizeof(xid), &ce)
                 : dbr_run_on(db, tx->pc->dc, &wait, "COMMIT", 0, NULL, NULL, &ce);
    dbr_pool_put(db->pool, tx->pc, !ok && db->drv->txstatus(tx->pc->dc) != DBR_TXSTATUS_IDLE);
    tx_release(tx);
    if (ok)
        return true;
    if (!ambiguous(ce)) {
        /* The server answered COMMIT with an error (a serialization failure,
         * a deferred constraint): the transaction was rolled back. */
        return dbr_error_propagate(err, classify_rolled_back(ce));
    }
    if (tracked && strcmp(xid, "none") == 0) {
        /* It wrote nothing: whether COMMIT ran cannot matter. */
        dbr_error_free(ce);
        return true;
    }
    status = tracked && *xid ? ask_xact_status(db, ctx, xid) : -2;
    if (status == 1) {
        g_info("COMMIT's answer was lost; pg_xact_status(%s) says it committed", xid);
        dbr_error_free(ce);
        return true;
    }
    if (status == 0) {
        ce = dbr_error_wrap(ce, DBR_ERR_CONNECTION, "core",
                            "COMMIT's answer was lost and the transaction did not commit "
                            "(transaction %s aborted)",
                            xid);
        dbr_error_set_retryable(ce, true);
        return dbr_error_propagate(err, ce);
    }
    ce =
        dbr_error_wrap(ce, DBR_ERR_COMMIT_UNKNOWN, "core", "the outcome of COMMIT is unknown%s%s%s",
                       *xid ? " (transaction " : "", xid, *xid ? " still unresolved)" : "");
    dbr_error_set_retryable(ce, false);
    return dbr_error_propagate(err, ce);
}

static bool tx_finish(dbr_tx *tx, bool ok, dbr_error *e, dbr_error **err)
{
    dbr_db *db = tx->db;
    dbr_txstatus s = db->drv->txstatus(tx->pc->dc);

    if (ok && s == DBR_TXSTATUS_INERROR) {
        /* The callback swallowed a failed statement: COMMIT would silently
         * roll back, so say so instead. */
        ok = false;
        e = dbr_error_new(tx->failed ? tx->failed : DBR_ERR_INTERNAL, "core",
                          "transaction rolled back: a statement failed and the callback went on: "
                          "%s",
                          tx->failed_msg ? tx->failed_msg : "unknown error");
        dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
    }
    if (ok && s == DBR_TXSTATUS_BROKEN) {
        ok = false;
        e = dbr_error_new(DBR_ERR_CONNECTION, "core",
                          "the connection broke during the transaction: %s",
                          tx->failed_msg ? tx->failed_msg : "connection lost");
        dbr_error_set_phase(e, DBR_PHASE_SENT);
    }
    if (!ok) {
        bool clean = s != DBR_TXSTATUS_BROKEN && tx_control(tx, "ROLLBACK", NULL);

        dbr_pool_put(db->pool, tx->pc, !clean);
        tx_release(tx);
        if (!e)
            return false; /* the application asked for the rollback */
        return dbr_error_propagate(err, classify_rolled_back(e));
    }
    return tx_commit(tx, err);
}

bool dbr_tx_terminal(dbr_call *call, dbr_error **err)
{
    dbr_db *db = call->db;
    dbr_wait wait = dbr_ctx_wait(call->ctx);
    dbr_error *e = NULL;
    dbr_pconn *pc;
    dbr_tx *tx;
    bool ok;

    pc = dbr_checkout(call, err);
    if (!pc)
        return false;
    if (!dbr_run_on(db, pc->dc, &wait, begin_sql(db->drv, call->tx_opts), 0, NULL, NULL, &e)) {
        dbr_pool_put(db->pool, pc, db->drv->txstatus(pc->dc) == DBR_TXSTATUS_BROKEN);
        return dbr_error_propagate(err, classify_rolled_back(e));
    }
    tx = tx_acquire(db);
    tx->pc = pc;
    tx->ctx = call->ctx;
    tx->resolve_commit = call->resolve_commit;
    ok = call->fn(tx, call->user, &e);
    if (ok && e) {
        g_warning("a transaction callback returned true with an error set (%s); committing",
                  dbr_error_message(e));
        g_clear_pointer(&e, dbr_error_free);
    }
    return tx_finish(tx, ok, e, err);
}

static bool tx_check(const dbr_tx *tx, const char *fn, dbr_error **err)
{
    if (!tx)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: tx is NULL", fn);
    if (tx->magic != TX_MAGIC)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: not a transaction handle", fn);
    if (tx->state != TX_ACTIVE)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: the transaction has ended (its callback returned)", fn);
    return true;
}

bool dbr_tx_stmt_terminal(dbr_call *call, dbr_error **err)
{
    dbr_tx *tx = call->tx;
    dbr_wait wait = dbr_ctx_wait(tx->ctx);
    dbr_error *e = NULL;
    bool ok = call->script ? dbr_run_script_on(tx->db, tx->pc->dc, &wait, call->sql, &e)
                           : dbr_run_on(tx->db, tx->pc->dc, &wait, call->sql, call->nparams,
                                        call->params, call->want_result ? &call->result : NULL, &e);

    if (ok)
        return true;
    tx->failed = dbr_error_kind_of(e);
    g_free(tx->failed_msg);
    tx->failed_msg = g_strdup(dbr_error_message(e));
    /* Repeating one statement of a transaction is never safe on its own. */
    dbr_error_set_retryable(e, false);
    return dbr_error_propagate(err, e);
}

static bool tx_statement(dbr_tx *tx, const char *fn, const char *sql, int nparams,
                         const char *const *params, dbr_result **out, dbr_error **err)
{
    dbr_call call = {.kind = DBR_CALL_TX_STMT};
    bool ok;

    if (!tx_check(tx, fn, err))
        return false;
    if (!sql || nparams < 0 || (nparams > 0 && !params))
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: %s", fn,
                             !sql ? "sql is NULL" : "nparams and params disagree");
    call.ctx = tx->ctx;
    call.sql = sql;
    call.nparams = nparams;
    call.params = params;
    call.tx = tx;
    call.want_result = out != NULL;
    ok = dbr_dispatch(tx->db, &call, err);
    if (out)
        *out = ok ? dbr_call_take_result(&call) : NULL;
    return ok;
}

bool dbr_tx_exec_script(dbr_tx *tx, const char *sql, dbr_error **err)
{
    dbr_call call = {.kind = DBR_CALL_TX_STMT, .script = true};

    if (!tx_check(tx, "dbr_tx_exec_script", err))
        return false;
    if (!sql)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_tx_exec_script: sql is NULL");
    call.ctx = tx->ctx;
    call.sql = sql;
    call.tx = tx;
    return dbr_dispatch(tx->db, &call, err);
}

bool dbr_tx_advisory_lock(dbr_tx *tx, long long key, long long timeout_ms, dbr_error **err)
{
    dbr_wait wait;

    if (!tx_check(tx, "dbr_tx_advisory_lock", err))
        return false;
    if (!DBR_OPS_HAS(struct dbr_driver_ops, tx->db->drv, xact_lock))
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_tx_advisory_lock: driver %s has no advisory locks",
                             tx->db->st->driver);
    wait = dbr_ctx_wait(tx->ctx);
    return tx->db->drv->xact_lock(tx->pc->dc, key, timeout_ms * 1000, &wait, err);
}

bool dbr_tx_exec(dbr_tx *tx, const char *sql, int nparams, const char *const *params,
                 dbr_error **err)
{
    return tx_statement(tx, "dbr_tx_exec", sql, nparams, params, NULL, err);
}

dbr_result *dbr_tx_query(dbr_tx *tx, const char *sql, int nparams, const char *const *params,
                         dbr_error **err)
{
    dbr_result *r = NULL;

    tx_statement(tx, "dbr_tx_query", sql, nparams, params, &r, err);
    return r;
}

static void savepoint_sql(const dbr_tx *tx, int op, unsigned id, char *buf, int len)
{
    static const char *const fmt[] = {"SAVEPOINT dbr_sp_%u", "RELEASE SAVEPOINT dbr_sp_%u",
                                      "ROLLBACK TO SAVEPOINT dbr_sp_%u"};
    char name[32];

    g_snprintf(name, sizeof(name), "dbr_sp_%u", id);
    if (tx->db->drv->savepoint_sql && tx->db->drv->savepoint_sql(buf, len, op, name))
        return;
    g_snprintf(buf, (gulong)len, fmt[op], id);
}

bool dbr_tx_savepoint(dbr_tx *tx, dbr_tx_fn fn, void *user, dbr_error **err)
{
    char sql[96];
    dbr_error *e = NULL;
    unsigned id;
    bool ok;

    if (!tx_check(tx, "dbr_tx_savepoint", err))
        return false;
    if (!fn)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_tx_savepoint: fn is NULL");
    id = ++tx->savepoints;
    savepoint_sql(tx, 0, id, sql, sizeof(sql));
    if (!tx_control(tx, sql, err))
        return false;
    tx->depth++;
    ok = fn(tx, user, &e);
    tx->depth--;
    if (ok && e)
        g_clear_pointer(&e, dbr_error_free);
    if (ok && tx->db->drv->txstatus(tx->pc->dc) == DBR_TXSTATUS_INERROR) {
        ok = false;
        e = dbr_error_new(tx->failed ? tx->failed : DBR_ERR_INTERNAL, "core",
                          "savepoint rolled back: a statement failed and the callback went on: %s",
                          tx->failed_msg ? tx->failed_msg : "unknown error");
    }
    if (ok) {
        savepoint_sql(tx, 1, id, sql, sizeof(sql));
        return tx_control(tx, sql, err);
    }
    savepoint_sql(tx, 2, id, sql, sizeof(sql));
    if (tx_control(tx, sql, NULL)) {
        savepoint_sql(tx, 1, id, sql, sizeof(sql));
        tx_control(tx, sql, NULL);
        /* Back at the savepoint: the enclosing transaction is healthy again. */
        tx->failed = DBR_ERR_NONE;
    }
    if (!e)
        return false;
    dbr_error_set_retryable(e, false);
    return dbr_error_propagate(err, e);
}

static bool tx_run(dbr_db *db, dbr_ctx *ctx, const dbr_tx_opts *opts, dbr_tx_fn fn, void *user,
                   const char *name, dbr_error **err)
{
    static const dbr_tx_opts defaults = {DBR_ISOLATION_DEFAULT, false, false};
    dbr_call call = {.kind = DBR_CALL_TX};

    if (!db || !fn)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: %s is NULL", name,
                             !db ? "db" : "fn");
    if (opts && ((unsigned)opts->isolation > DBR_ISOLATION_SERIALIZABLE))
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: unknown isolation level %d", name,
                             (int)opts->isolation);
    call.ctx = ctx;
    call.tx_opts = opts ? opts : &defaults;
    call.fn = fn;
    call.user = user;
    /* A read-only transaction cannot apply anything twice. */
    call.idempotent = call.tx_opts->read_only || dbr_ctx_idempotent(ctx);
    return dbr_dispatch(db, &call, err);
}

bool dbr_tx_run(dbr_db *db, dbr_ctx *ctx, const dbr_tx_opts *opts, dbr_tx_fn fn, void *user,
                dbr_error **err)
{
    return tx_run(db, ctx, opts, fn, user, "dbr_tx_run", err);
}

bool dbr_tx_read_only(dbr_db *db, dbr_ctx *ctx, dbr_tx_fn fn, void *user, dbr_error **err)
{
    static const dbr_tx_opts ro = {DBR_ISOLATION_DEFAULT, true, false};

    return tx_run(db, ctx, &ro, fn, user, "dbr_tx_read_only", err);
}

bool dbr_tx_serializable(dbr_db *db, dbr_ctx *ctx, dbr_tx_fn fn, void *user, dbr_error **err)
{
    static const dbr_tx_opts ser = {DBR_ISOLATION_SERIALIZABLE, false, false};

    return tx_run(db, ctx, &ser, fn, user, "dbr_tx_serializable", err);
}
