/* SPDX-License-Identifier: MIT */
/*
 * Transactions: BEGIN, the application's callback, then COMMIT or ROLLBACK,
 * always. Savepoints nest to any depth.
 *
 * The outcome of a whole transaction is decided here: anything that fails
 * before COMMIT is sent leaves it rolled back (not applied, and safe to run
 * again when the failure is transient), whatever the failing statement's
 * own outcome; COMMIT itself is tx_commit.c's. A callback that ends the
 * transaction on its own (COMMIT, ROLLBACK, PREPARE TRANSACTION in a
 * statement) is misuse: the statement is refused after the fact, later
 * ones are not sent, and the transaction's outcome is unknown.
 */
#include <glib.h>
#include <string.h>

#include <dbr/sql.h>

#include "abi.h"
#include "ctx.h"
#include "tx.h"

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

    if (DBR_OPS_HAS(struct dbr_driver_ops, drv, begin_sql) && (s = drv->begin_sql(o)))
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

/* A statement of the transaction failed with e: remember it (a callback
 * that swallows it is told later), mark e as this transaction's own, and
 * hand it on. Repeating one statement of a transaction is never safe on
 * its own. */
static bool tx_failed(tx *t, dbr_error *e, dbr_error **err)
{
    t->failed = dbr_error_kind_of(e);
    t->failed_transient = dbr_error_transient(e); /* for the whole transaction */
    g_free(t->failed_msg);
    t->failed_msg = g_strdup(dbr_error_message(e));
    dbr_error_set_transient(e, false);
    dbr_error_set_origin(e, dbr_tx_handle(t));
    return dbr_error_propagate(err, e);
}

/* Control statements (ROLLBACK, RELEASE ...) must run even when the
 * caller's deadline has passed, so they get their own short one. */
static bool tx_control(tx *t, const char *sql, dbr_error **err)
{
    dbr_wait w = dbr_wait_own(t->db->st->cancel_timeout_us, t->db->st->cancel_grace_us);
    dbr_error *e = NULL;

    return dbr_run_on(t->db, t->pc->dc, &w, sql, NULL, 0, NULL, &e) || tx_failed(t, e, err);
}

static dbr_error *escaped_error(void)
{
    dbr_error *e = dbr_error_new(DBR_ERR_MISUSE, "core",
                                 "a statement of the transaction callback ended the transaction "
                                 "(COMMIT, ROLLBACK or PREPARE TRANSACTION); dbr ends transactions "
                                 "itself, so what the callback did before it may or may not be "
                                 "committed");

    dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
    return e;
}

/* The callback returned true although a statement failed and the server
 * is still in the aborted state: committing (or releasing the savepoint)
 * would silently roll back, so the caller is told, with the failed
 * statement's kind and message. what names what was rolled back. */
static dbr_error *went_on_error(const tx *t, const char *what)
{
    dbr_error *e = dbr_error_new(t->failed ? t->failed : DBR_ERR_INTERNAL, "core",
                                 "%s rolled back: a statement failed and the callback went on: %s",
                                 what, t->failed_msg ? t->failed_msg : "unknown error");

    dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
    return e;
}

static bool tx_finish(tx *t, bool ok, dbr_error *e, dbr_error **err)
{
    dbr_db *db = t->db;
    dbr_txstatus s = db->drv->txstatus(t->pc->dc);
    bool own_error = false; /* e was made here, about this transaction */

    if (t->escaped || (ok && s == DBR_TXSTATUS_IDLE)) {
        /* Nothing of ours is left to commit or roll back. */
        dbr_error_free(e);
        dbr_pool_put(db->pool, t->pc, s != DBR_TXSTATUS_IDLE);
        dbr_tx_slot_release(t);
        return dbr_error_propagate(err, escaped_error());
    }
    if (t->misused) {
        /* The callback tried to end the transaction itself: whatever it
         * returned, it did not mean this transaction to commit as it is. */
        dbr_error_free(e);
        e = dbr_error_new(DBR_ERR_MISUSE, "core",
                          "the transaction callback ran COMMIT, ROLLBACK or PREPARE TRANSACTION "
                          "(refused); the transaction was rolled back");
        ok = false;
        own_error = true;
    }
    if (ok && s == DBR_TXSTATUS_INERROR) {
        ok = false;
        e = went_on_error(t, "transaction");
        own_error = true;
    }
    if (ok && s == DBR_TXSTATUS_BROKEN) {
        ok = false;
        e = dbr_error_new(DBR_ERR_CONNECTION, "core",
                          "the connection broke during the transaction: %s",
                          t->failed_msg ? t->failed_msg : "connection lost");
        dbr_error_set_phase(e, DBR_PHASE_SENT);
        own_error = true;
    }
    if (!ok) {
        bool clean = s != DBR_TXSTATUS_BROKEN && tx_control(t, "ROLLBACK", NULL);
        bool unsure = t->unsure; /* the slot is not ours once released */
        bool own = !unsure && (own_error || dbr_error_has_origin(e, dbr_tx_handle(t)));
        /* What the driver said of the failed statement (lock contention, a
         * server out of memory: transient) holds for running the whole
         * transaction again. */
        bool transient = own && e && t->failed_transient && dbr_error_kind_of(e) == t->failed;

        dbr_pool_put(db->pool, t->pc, !clean);
        dbr_tx_slot_release(t);
        if (!e)
            return false; /* the application asked for the rollback */
        /* A script's lost answer may hide a COMMIT: not "rolled back". */
        if (unsure)
            dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
        if (transient)
            dbr_error_set_transient(e, true);
        return dbr_error_propagate(err, dbr_tx_rolled_back(e, own));
    }
    return dbr_tx_commit(t, err);
}

bool dbr_tx_terminal(dbr_call *call, dbr_error **err)
{
    dbr_db *db = call->db;
    dbr_error *e = NULL;
    dbr_pconn *pc;
    dbr_wait wait;
    bool ok, tracked, pipelined;
    tx *t;

    pc = dbr_checkout(call, err);
    if (!pc)
        return false;
    if (G_UNLIKELY(!g_atomic_int_get(&db->pooler_checked))) {
        if (!dbr_ctx_wait(call->ctx, db->st->cancel_grace_us, &wait, err)) {
            dbr_pool_put(db->pool, pc, false);
            return false;
        }
        if (!dbr_pooler_first_look(call, &pc, &wait, err))
            return false;
    }
    /* Probed before BEGIN: a failure inside the transaction would abort it.
     * Where the driver can pipeline COMMIT, it does even without
     * resolve_commit: the request that goes ahead of COMMIT tells a session
     * that ended before COMMIT was read (not applied) from one that ended
     * during it (unknown). */
    pipelined = DBR_OPS_HAS(struct dbr_driver_ops, db->drv, commit_tracked) &&
                db->drv->commit_tracked && dbr_tx_tracking_usable(db, pc, call->ctx);
    tracked = pipelined && call->resolve_commit &&
              DBR_OPS_HAS(struct dbr_driver_ops, db->drv, xact_status) && db->drv->xact_status;
    if (db->drv->txstatus(pc->dc) == DBR_TXSTATUS_BROKEN) {
        /* The probe gave its connection up: take another. */
        dbr_pool_put(db->pool, pc, true);
        pc = dbr_checkout(call, err);
        if (!pc)
            return false;
    }
    if (!dbr_ctx_check(call->ctx, "BEGIN", &e) ||
        !dbr_ctx_wait(call->ctx, db->st->cancel_grace_us, &wait, &e) ||
        (call->tx_key && !dbr_tx_key_table(db, pc, &wait, &e)) ||
        !dbr_run_on(db, pc->dc, &wait, begin_sql(db->drv, call->tx_opts), NULL, 0, NULL, &e)) {
        dbr_pool_put(db->pool, pc, db->drv->txstatus(pc->dc) == DBR_TXSTATUS_BROKEN);
        return dbr_error_propagate(err, dbr_tx_rolled_back(e, true));
    }
    if (call->tx_key) {
        bool already = false;

        if (!dbr_tx_key_claim(db, pc, &wait, call->tx_key, &already, &e) || already) {
            /* Claimed by a run that committed: this one does nothing. */
            bool clean = db->drv->txstatus(pc->dc) != DBR_TXSTATUS_BROKEN &&
                         dbr_run_on(db, pc->dc, &wait, "ROLLBACK", NULL, 0, NULL, NULL);

            dbr_pool_put(db->pool, pc, !clean);
            if (!already)
                return dbr_error_propagate(err, dbr_tx_rolled_back(e, true));
            if (call->tx_already)
                *call->tx_already = true;
            dbr_counter_add(db->key_replays, 1);
            return true;
        }
    }
    t = dbr_tx_slot_take(db);
    if (!t) {
        dbr_pool_put(db->pool, pc, false); /* the pool rolls it back */
        return dbr_set_error(err, DBR_ERR_RESOURCE, "core",
                             "too many transactions at once; nothing was sent");
    }
    t->pc = pc;
    t->ctx = call->ctx;
    t->opts = call->tx_opts;
    t->key = call->tx_key;
    t->tracked = tracked;
    t->pipelined = pipelined;
    ok = call->fn(dbr_tx_handle(t), call->user, &e);
    if (ok && e) {
        dbr_log(DBR_LOG_WARNING, "core", NULL,
                "a transaction callback returned true with an error set (%s); committing",
                dbr_error_message(e));
        g_clear_pointer(&e, dbr_error_free);
    }
    return tx_finish(t, ok, e, err);
}

/* COMMIT, END, ABORT, ROLLBACK (but not ROLLBACK TO SAVEPOINT), PREPARE
 * TRANSACTION: statements that would end dbr's transaction under it (with
 * AND CHAIN, even start another one behind its back). */
static bool ends_transaction(const char *sql)
{
    char w[16];

    sql = dbr_sql_next_word(sql, w, sizeof(w));
    if (strcmp(w, "commit") == 0 || strcmp(w, "end") == 0 || strcmp(w, "abort") == 0)
        return true;
    if (strcmp(w, "prepare") == 0)
        return dbr_sql_next_word(sql, w, sizeof(w)), strcmp(w, "transaction") == 0;
    if (strcmp(w, "rollback") != 0)
        return false;
    sql = dbr_sql_next_word(sql, w, sizeof(w));
    if (strcmp(w, "work") == 0 || strcmp(w, "transaction") == 0)
        dbr_sql_next_word(sql, w, sizeof(w));
    return strcmp(w, "to") != 0;
}

/* The active transaction a handle names, or a misuse error. */
static tx *tx_check(const dbr_tx *handle, const char *fn, dbr_error **err)
{
    tx *t;

    if (!handle)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: tx is NULL", fn), NULL;
    t = dbr_tx_slot_find(handle);
    if (!t)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: the transaction has ended (its callback returned), or this "
                             "is not a transaction handle",
                             fn),
               NULL;
    if (t->owner != g_thread_self())
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: the transaction belongs to another thread (a dbr_tx may be used "
                             "only by the callback that received it, on its thread)",
                             fn),
               NULL;
    if (t->escaped || t->misused)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: the transaction %s; nothing was sent", fn,
                             t->escaped ? "was ended by one of its own statements"
                                        : "callback tried to end it itself, so it will be rolled "
                                          "back"),
               NULL;
    return t;
}

bool dbr_tx_stmt_terminal(dbr_call *call, dbr_error **err)
{
    tx *t = call->tx;
    dbr_db *db = t->db;
    dbr_error *e = NULL;
    dbr_wait wait;
    bool ok;

    ok = dbr_ctx_check(t->ctx, "statement", &e) &&
         dbr_ctx_wait(t->ctx, db->st->cancel_grace_us, &wait, &e) &&
         (!call->sql || dbr_pooler_allows(db, call->sql, &e)) &&
         call->run(call, t->pc->dc, &wait, &e);
    if (db->drv->txstatus(t->pc->dc) == DBR_TXSTATUS_IDLE ||
        (!ok && dbr_error_kind_of(e) == DBR_ERR_MISUSE &&
         dbr_error_outcome(e) == DBR_OUTCOME_UNKNOWN)) {
        /* The statement ended the transaction: whatever it answered, the
         * callback has left dbr's transaction. */
        t->escaped = true;
        if (ok && call->result)
            dbr_result_free(dbr_call_take_result(call));
        dbr_error_free(e);
        e = escaped_error();
        ok = false;
    }
    if (ok)
        return true;
    /* A script that may have run a COMMIT before its answer was lost: the
     * transaction's outcome is no longer known to be "rolled back". */
    if (call->script && dbr_error_outcome(e) == DBR_OUTCOME_UNKNOWN)
        t->unsure = true;
    return tx_failed(t, e, err);
}

bool dbr_tx_statement(const dbr_tx *handle, const char *fn, dbr_call *call, dbr_error **err)
{
    tx *t = tx_check(handle, fn, err);

    if (!t)
        return false;
    if (call->sql && ends_transaction(call->sql)) {
        char word[16];

        t->misused = true;
        dbr_sql_next_word(call->sql, word, sizeof(word));
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: refusing %s, a statement that ends the transaction: dbr "
                             "commits when the callback returns true and rolls back when it "
                             "returns false; nothing was sent, and the transaction will be "
                             "rolled back",
                             fn, word);
    }
    call->kind = DBR_CALL_TX_STMT;
    call->terminal = dbr_tx_stmt_terminal;
    call->ctx = t->ctx;
    call->tx = t;
    call->exec_flags = dbr_exec_flags(t->db);
    if (!call->nstatements)
        call->nstatements = 1;
    return dbr_dispatch(t->db, call, err);
}

static bool tx_statement(dbr_tx *handle, const char *fn, const char *sql, const dbr_args *args,
                         dbr_result **out, dbr_error **err)
{
    dbr_call call = {.run = dbr_exec_run, .sql = sql, .want_result = out != NULL};
    tx *t = tx_check(handle, fn, err);
    bool ok;

    if (!t)
        return false;
    if (!sql)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: sql is NULL", fn);
    if (!dbr_check_statement(fn, t->db, sql, args, err))
        return false;
    if (args)
        call.args = *args;
    ok = dbr_tx_statement(handle, fn, &call, err);
    if (out)
        *out = ok ? dbr_call_take_result(&call) : NULL;
    return ok;
}

bool dbr_tx_exec_script(dbr_tx *handle, const char *sql, dbr_error **err)
{
    dbr_call call = {.run = dbr_exec_run, .sql = sql, .script = true};

    if (!sql)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_tx_exec_script: sql is NULL");
    return dbr_tx_statement(handle, "dbr_tx_exec_script", &call, err);
}

bool dbr_tx_advisory_lock(dbr_tx *handle, long long key, long long timeout_ms, dbr_error **err)
{
    tx *t = tx_check(handle, "dbr_tx_advisory_lock", err);
    dbr_error *e = NULL;
    dbr_wait wait;

    if (!t)
        return false;
    if (timeout_ms < 0)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_tx_advisory_lock: timeout_ms is %lld; expected 0 or more",
                             timeout_ms);
    if (!DBR_OPS_HAS(struct dbr_driver_ops, t->db->drv, xact_lock))
        return dbr_unsupported(t->db, "dbr_tx_advisory_lock", err);
    /* Clamped to a day: microseconds must not overflow. */
    if (!dbr_ctx_check(t->ctx, "dbr_tx_advisory_lock", &e) ||
        !dbr_ctx_wait(t->ctx, t->db->st->cancel_grace_us, &wait, &e) ||
        !t->db->drv->xact_lock(t->pc->dc, key, MIN(timeout_ms, 86400000LL) * 1000, &wait, &e))
        return tx_failed(t, e, err);
    return true;
}

bool dbr_tx_exec(dbr_tx *handle, const char *sql, int nparams, const char *const *params,
                 dbr_error **err)
{
    dbr_args args = {.n = nparams, .values = params};

    return tx_statement(handle, "dbr_tx_exec", sql, &args, NULL, err);
}

dbr_result *dbr_tx_query(dbr_tx *handle, const char *sql, int nparams, const char *const *params,
                         dbr_error **err)
{
    dbr_args args = {.n = nparams, .values = params};
    dbr_result *r = NULL;

    tx_statement(handle, "dbr_tx_query", sql, &args, &r, err);
    return r;
}

bool dbr_tx_exec_args(dbr_tx *handle, const char *sql, const dbr_args *args, dbr_error **err)
{
    return tx_statement(handle, "dbr_tx_exec_args", sql, args, NULL, err);
}

dbr_result *dbr_tx_query_args(dbr_tx *handle, const char *sql, const dbr_args *args,
                              dbr_error **err)
{
    dbr_result *r = NULL;

    tx_statement(handle, "dbr_tx_query_args", sql, args, &r, err);
    return r;
}

/* The SQL standard's forms, which every SQL database dbr drives takes. */
static void savepoint_sql(int op, unsigned id, char *buf, int len)
{
    static const char *const fmt[] = {"SAVEPOINT dbr_sp_%u", "RELEASE SAVEPOINT dbr_sp_%u",
                                      "ROLLBACK TO SAVEPOINT dbr_sp_%u"};

    g_snprintf(buf, (gulong)len, fmt[op], id);
}

bool dbr_tx_savepoint(dbr_tx *handle, dbr_tx_fn fn, void *user, dbr_error **err)
{
    tx *t = tx_check(handle, "dbr_tx_savepoint", err);
    char sql[96];
    dbr_error *e = NULL;
    unsigned id;
    bool ok, back;

    if (!t)
        return false;
    if (!fn)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_tx_savepoint: fn is NULL");
    id = ++t->savepoints;
    savepoint_sql(0, id, sql, sizeof(sql));
    if (!tx_control(t, sql, err))
        return false;
    ok = fn(handle, user, &e);
    if (ok && e)
        g_clear_pointer(&e, dbr_error_free);
    if (t->escaped) {
        dbr_error_free(e);
        return dbr_error_propagate(err, escaped_error());
    }
    if (ok && t->db->drv->txstatus(t->pc->dc) == DBR_TXSTATUS_INERROR) {
        ok = false;
        e = went_on_error(t, "savepoint");
    }
    if (ok) {
        savepoint_sql(1, id, sql, sizeof(sql));
        return tx_control(t, sql, err);
    }
    savepoint_sql(2, id, sql, sizeof(sql));
    back = tx_control(t, sql, NULL);
    if (back) {
        savepoint_sql(1, id, sql, sizeof(sql));
        tx_control(t, sql, NULL);
        /* Back at the savepoint: the enclosing transaction is healthy again. */
        t->failed = DBR_ERR_NONE;
    }
    if (!e)
        return false;
    /* Rolled back to the savepoint: nothing of the transaction's own work
     * since it applied. An error from elsewhere (a call the callback made
     * on another connection) keeps its outcome. */
    if (back && !t->unsure && dbr_error_has_origin(e, handle))
        dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    dbr_error_set_transient(e, false);
    return dbr_error_propagate(err, e);
}

static bool tx_run(dbr_db *db, dbr_ctx *ctx, const dbr_tx_opts *opts, dbr_tx_fn fn, void *user,
                   const char *name, const char *key, bool *already, dbr_error **err)
{
    dbr_tx_opts taken = {0}; /* the defaults when opts is NULL */
    dbr_call call = {
        .kind = DBR_CALL_TX, .terminal = dbr_tx_terminal, .tx_key = key, .tx_already = already};

    if (!db || !fn)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: %s is NULL", name,
                             !db ? "db" : "fn");
    /* Plugins read the opts (dbr_call_tx_opts) as this library's struct. */
    if (opts && !DBR_STRUCT_TAKE(name, "opts", &taken, opts, err))
        return false;
    if ((unsigned)taken.isolation > DBR_ISOLATION_SERIALIZABLE)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: unknown isolation level %d", name,
                             (int)taken.isolation);
    call.ctx = ctx;
    call.tx_opts = &taken;
    call.fn = fn;
    call.user = user;
    /* A read-only transaction cannot apply anything twice, nor can one
     * whose idempotency key commits with it. */
    call.idempotent = call.tx_opts->read_only || dbr_ctx_idempotent(ctx) || key;
    return dbr_dispatch(db, &call, err);
}

bool dbr_tx_run_once(dbr_db *db, dbr_ctx *ctx, const dbr_tx_opts *opts, const char *key,
                     dbr_tx_fn fn, void *user, bool *already_applied, dbr_error **err)
{
    if (already_applied)
        *already_applied = false;
    if (!key || !*key || strlen(key) > 200)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_tx_run_once: the key must be 1 to 200 bytes, got %s",
                             !key   ? "NULL"
                             : *key ? "a longer one"
                                    : "\"\"");
    if (opts && opts->read_only)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_tx_run_once: a read-only transaction cannot record its key (and "
                             "needs none: it applies nothing)");
    return tx_run(db, ctx, opts, fn, user, "dbr_tx_run_once", key, already_applied, err);
}

bool dbr_tx_run(dbr_db *db, dbr_ctx *ctx, const dbr_tx_opts *opts, dbr_tx_fn fn, void *user,
                dbr_error **err)
{
    return tx_run(db, ctx, opts, fn, user, "dbr_tx_run", NULL, NULL, err);
}

bool dbr_tx_read_only(dbr_db *db, dbr_ctx *ctx, dbr_tx_fn fn, void *user, dbr_error **err)
{
    static const dbr_tx_opts ro = {DBR_ISOLATION_DEFAULT, true, false, 0};

    return tx_run(db, ctx, &ro, fn, user, "dbr_tx_read_only", NULL, NULL, err);
}

bool dbr_tx_serializable(dbr_db *db, dbr_ctx *ctx, dbr_tx_fn fn, void *user, dbr_error **err)
{
    static const dbr_tx_opts ser = {DBR_ISOLATION_SERIALIZABLE, false, false, 0};

    return tx_run(db, ctx, &ser, fn, user, "dbr_tx_serializable", NULL, NULL, err);
}
