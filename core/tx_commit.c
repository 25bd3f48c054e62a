/* SPDX-License-Identifier: MIT */
/*
 * The end of a transaction: COMMIT, and what became of it.
 *
 *   - The ctx is checked before COMMIT is sent: a transaction whose deadline
 *     passed (or whose ctx was canceled) during its callback is rolled back
 *     instead, a timeout with nothing applied.
 *   - COMMIT answered: committed, or an error that rolled it back (a
 *     serialization failure, a deferred constraint): not applied.
 *   - A deadline that passes while COMMIT runs is a cancel request to the
 *     server; its answer decides (a COMMIT it could not stop is a success).
 *   - Where the driver can, COMMIT is pipelined behind a request whose
 *     answer the server flushes before it reads COMMIT: a session that ends
 *     before that answer (a shutdown, a terminated backend, an idle
 *     timeout) never ran COMMIT, which is then not applied.
 *   - No answer: the outcome is unknown, DBR_ERR_COMMIT_UNKNOWN, unless the
 *     transaction's id was learned with COMMIT (resolve_commit) and the
 *     server, asked on fresh connections of its own until the ctx's deadline,
 *     says committed (success) or aborted (not applied, retryable).
 */
#include <glib.h>
#include <string.h>

#include "ctx.h"
#include "tx.h"

dbr_error *dbr_tx_rolled_back(dbr_error *e, bool own)
{
    dbr_error_kind k = dbr_error_kind_of(e);

    /* Whatever the statement's own outcome (a connection lost while it ran
     * is unknown for the statement), COMMIT was never sent: the server
     * rolled the transaction back. */
    if (!own)
        return e;
    dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    dbr_error_set_transient(e, k == DBR_ERR_SERIALIZATION || k == DBR_ERR_DEADLOCK ||
                                   k == DBR_ERR_CONNECTION || dbr_error_transient(e));
    return e;
}

bool dbr_tx_tracking_usable(dbr_db *db, dbr_pconn *pc, dbr_ctx *ctx)
{
    int known = g_atomic_int_get(&db->commit_tracking);
    dbr_error *e = NULL;
    dbr_wait wait;
    int r;

    if (known || !DBR_OPS_HAS(struct dbr_driver_ops, db->drv, commit_tracking_probe))
        return known >= 0;
    if (!dbr_ctx_wait(ctx, db->st->cancel_grace_us, &wait, NULL))
        return false;
    r = db->drv->commit_tracking_probe(pc->dc, &wait, &e);
    if (r == 0) {
        dbr_log(DBR_LOG_WARNING, "core", NULL,
                "this server cannot take COMMIT pipelined behind a transaction id request "
                "(a proxy without pipelines, or the driver's id request is missing or revoked "
                "on the server): a COMMIT "
                "whose answer is lost stays commit-unknown");
        g_atomic_int_set(&db->commit_tracking, -1);
    } else if (r == 1) {
        g_atomic_int_set(&db->commit_tracking, 1);
    }
    dbr_error_free(e); /* not known this time: asked again next time */
    return r == 1;
}

int dbr_tx_ask_until_known(dbr_db *db, dbr_ctx *ctx, dbr_tx_look_fn look, const void *what)
{
    int64_t now = dbr_now_us(), pause = 50000;
    int64_t end = dbr_ctx_deadline(ctx) ? dbr_ctx_deadline(ctx) : now + db->st->connect_timeout_us;

    /* A deadline that cut COMMIT short still leaves one quick look. */
    end = MAX(end, now + db->st->cancel_grace_us);
    while (!dbr_ctx_canceled(ctx) && dbr_now_us() < end) {
        dbr_wait wait = {.deadline_us = end, .cancel_fd = -1, .grace_us = db->st->cancel_grace_us};
        int status = look(db, &wait, what);

        if (status != -1)
            return status < 0 ? -1 : status;
        /* Backing off: the server may be down or failing over, and every
         * waiter asks. */
        dbr_ctx_sleep_until(NULL, MIN(dbr_now_us() + pause, end));
        pause = MIN(pause * 2, 1000000);
    }
    return -1;
}

/* One look on a fresh connection at what became of transaction xid; a
 * dying backend may still be finishing its commit, so "in progress" is
 * asked again (dbr_tx_look_fn's answers). */
static int xid_look(dbr_db *db, const dbr_wait *wait, const void *xid)
{
    dbr_driver_conn *dc = db->drv->connect(db->st->conninfo, &db->st->driver_opts, wait, NULL);
    int status = -2;

    if (dc) {
        status = db->drv->xact_status(dc, xid, wait, NULL);
        db->drv->close(dc);
    }
    if (status == -3) {
        dbr_log(DBR_LOG_INFO, "core", NULL,
                "COMMIT's answer was lost and the server has restarted since (or is another "
                "server): its transaction id proves nothing there");
        return -2;
    }
    return status == 0 || status == 1 ? status : -1;
}

static bool commit_unknown(dbr_error *ce, const char *xid, dbr_error **err)
{
    ce =
        dbr_error_wrap(ce, DBR_ERR_COMMIT_UNKNOWN, "core", "the outcome of COMMIT is unknown%s%s%s",
                       *xid ? " (transaction " : "", xid, *xid ? " unresolved)" : "");
    dbr_error_set_outcome(ce, DBR_OUTCOME_UNKNOWN);
    dbr_error_set_transient(ce, true);
    return dbr_error_propagate(err, ce);
}

/* Tells what asking found about a COMMIT whose answer was lost (status as
 * dbr_tx_ask_until_known's), as decided by the transaction id xid, or by
 * the idempotency key when xid is NULL: committed is a success, not
 * committed is not applied (safe to run again), anything else unknown. */
static bool resolved(dbr_db *db, int status, const char *xid, dbr_error *ce, dbr_error **err)
{
    dbr_counter_add(db->commits_resolved[status == 1 ? 0 : status == 0 ? 1 : 2], 1);
    if (status == 1) {
        if (xid)
            dbr_log(DBR_LOG_INFO, "core", NULL,
                    "COMMIT's answer was lost; the server says transaction %s committed", xid);
        else
            dbr_log(DBR_LOG_INFO, "core", NULL,
                    "COMMIT's answer was lost; its idempotency key is recorded: it committed");
        dbr_error_free(ce);
        return true;
    }
    if (status == 0) {
        ce = xid ? dbr_error_wrap(ce, DBR_ERR_CONNECTION, "core",
                                  "COMMIT's answer was lost and the transaction did not commit "
                                  "(transaction %s aborted)",
                                  xid)
                 : dbr_error_wrap(ce, DBR_ERR_CONNECTION, "core",
                                  "COMMIT's answer was lost and the transaction did not commit "
                                  "(its idempotency key is not recorded)");
        dbr_error_set_outcome(ce, DBR_OUTCOME_NOT_APPLIED);
        dbr_error_set_transient(ce, true);
        return dbr_error_propagate(err, ce);
    }
    return commit_unknown(ce, xid ? xid : "", err);
}

bool dbr_tx_commit(tx *t, dbr_error **err)
{
    dbr_db *db = t->db;
    dbr_ctx *ctx = t->ctx;
    bool tracked = t->tracked; /* the slot is not ours once released */
    bool pipelined = t->pipelined;
    const char *key = t->key;
    dbr_error *ce = NULL;
    char xid[192] = "";
    dbr_wait wait;
    bool ok;

    if (!dbr_ctx_check(ctx, "COMMIT", &ce) ||
        !dbr_ctx_wait(ctx, db->st->cancel_grace_us, &wait, &ce)) {
        /* Out of time before COMMIT left: roll back, so that the caller is
         * told the truth (nothing applied) within its deadline. */
        dbr_wait w = dbr_wait_own(db->st->cancel_timeout_us, db->st->cancel_grace_us);
        bool clean = dbr_run_on(db, t->pc->dc, &w, "ROLLBACK", NULL, 0, NULL, NULL);

        dbr_pool_put(db->pool, t->pc, !clean);
        dbr_tx_slot_release(t);
        ce = dbr_error_wrap(ce, dbr_error_kind_of(ce), "core",
                            "the transaction was rolled back instead of committed");
        dbr_error_set_outcome(ce, DBR_OUTCOME_NOT_APPLIED);
        return dbr_error_propagate(err, ce);
    }
    if (tracked)
        ok = db->drv->commit_tracked(t->pc->dc, &wait, xid, sizeof(xid), &ce);
    else if (pipelined)
        ok = db->drv->commit_tracked(t->pc->dc, &wait, NULL, 0, &ce);
    else
        ok = dbr_run_on(db, t->pc->dc, &wait, "COMMIT", NULL, 0, NULL, &ce);
    dbr_pool_put(db->pool, t->pc, !ok && db->drv->txstatus(t->pc->dc) != DBR_TXSTATUS_IDLE);
    dbr_tx_slot_release(t);
    if (ok)
        return true;
    if (dbr_error_outcome(ce) == DBR_OUTCOME_NOT_APPLIED)
        return dbr_error_propagate(err, dbr_tx_rolled_back(ce, true));
    if (key) /* the key's row decides, on whatever server answers now */
        return resolved(db, dbr_tx_key_resolve(db, ctx, key), NULL, ce, err);
    /* "none": no id was assigned before COMMIT, but COMMIT itself assigns
     * one to a transaction whose only effect is a NOTIFY. Unknown. */
    if (!tracked || !*xid || strcmp(xid, "none") == 0)
        return commit_unknown(ce, "", err);
    return resolved(db, dbr_tx_ask_until_known(db, ctx, xid_look, xid), xid, ce, err);
}
