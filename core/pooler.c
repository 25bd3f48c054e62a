/* SPDX-License-Identifier: MIT */
/*
 * [database] pooler = transaction: behind a pooler in transaction mode
 * (PgBouncer's pool_mode = transaction, for one) the server session is this
 * client's only until its transaction ends; the next transaction may run on
 * another server, and the next client on this one. A statement that leaves
 * state in the session (SET without LOCAL, PREPARE, LISTEN, a session
 * advisory lock, a temporary table that outlives its transaction, a held
 * cursor) would work once, then fail or act on another client's session
 * without a word. So it is refused before anything is sent, with the
 * construct named; the driver says what binds state (session_bound), the
 * core only decides. The driver's documentation (for pq: docs/pgbouncer.md)
 * is the table of what works.
 *
 * A config that does not say so is caught once, on the first connection
 * (dbr_open's, or the first call's when dbr_open did not connect or could
 * not ask): the driver tells whether a pooler answers for the server, and
 * a contradiction is a
 * warning (not an error: a pooler in session mode is fine with pooler =
 * none, and the check cannot tell the modes apart). The statement cache is
 * turned off for that db all the same (dbr_exec_flags): a statement kept on
 * one server session and bound on another would run another client's.
 */
#include <dbr/log.h>

#include "ctx.h"
#include "db.h"

bool dbr_pooler_allows(const dbr_db *db, const char *sql, dbr_error **err)
{
    const char *what;
    dbr_error *e;

    if (!db->st->pooler_transaction || !sql ||
        !DBR_OPS_HAS(struct dbr_driver_ops, db->drv, session_bound) || !db->drv->session_bound)
        return true;
    what = db->drv->session_bound(sql);
    if (!what)
        return true;
    e = dbr_error_new(DBR_ERR_MISUSE, "core",
                      "refused: %s keeps state in the server session after the transaction, "
                      "and with [database] pooler = transaction that session is another "
                      "client's by then (use the transaction-scoped form inside a "
                      "transaction: SET LOCAL, dbr_tx_advisory_lock, a temporary table "
                      "dropped at commit; or a direct connection; the driver's documentation "
                      "lists what works); nothing was sent",
                      what);
    dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
    dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    dbr_error_set_transient(e, false);
    return dbr_error_propagate(err, e);
}

bool dbr_pooler_first_look(dbr_call *call, dbr_pconn **pc, dbr_wait *wait, dbr_error **err)
{
    dbr_db *db = call->db;
    bool broken;

    dbr_pooler_detect(db, (*pc)->dc, wait);
    /* Found: this call too runs without the statement cache. */
    if (g_atomic_int_get(&db->pooler_found))
        call->exec_flags &= ~(unsigned)DBR_EXEC_CACHE;
    /* The look took time and may have lost the connection: the call's own
     * checks again, so that it is refused before sending rather than sent
     * late or on a dead connection. */
    broken = db->drv->txstatus((*pc)->dc) == DBR_TXSTATUS_BROKEN;
    if (!broken && dbr_ctx_check(call->ctx, dbr_call_kind_name(call->kind), err) &&
        dbr_ctx_wait(call->ctx, db->st->cancel_grace_us, wait, err))
        return true;
    dbr_pool_put(db->pool, *pc, broken);
    *pc = NULL;
    if (broken) {
        dbr_error *e = dbr_error_new(DBR_ERR_CONNECTION, "core",
                                     "the connection was lost while looking for a pooler in "
                                     "front of the server; nothing of the call was sent");

        dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
        dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
        dbr_error_set_transient(e, true);
        dbr_error_propagate(err, e);
    }
    return false;
}

void dbr_pooler_detect(dbr_db *db, dbr_driver_conn *dc, const dbr_wait *wait)
{
    dbr_wait bounded;
    dbr_error *e = NULL;
    int found;

    if (g_atomic_int_get(&db->pooler_checked))
        return;
    if (!DBR_OPS_HAS(struct dbr_driver_ops, db->drv, pooler_detect) || !db->drv->pooler_detect) {
        g_atomic_int_set(&db->pooler_checked, 1); /* nothing to ask */
        return;
    }
    /* dbr_open has no ctx: a server that took the connection and then
     * hangs must not hold it for ever. */
    bounded = dbr_wait_within(*wait, db->st->connect_timeout_us);
    found = db->drv->pooler_detect(dc, &bounded, &e);
    if (found < 0) { /* not known (the call failed): no warning either way */
        dbr_error_free(e);
        /* Asked again by the next calls, a few times: not for ever, since
         * each asking is a round trip ahead of a caller's statement. */
        if (g_atomic_int_add(&db->pooler_tries, 1) >= 2)
            g_atomic_int_set(&db->pooler_checked, 1);
        return;
    }
    if (!g_atomic_int_compare_and_exchange(&db->pooler_checked, 0, 1))
        return;
    if (found && !db->st->pooler_transaction) {
        g_atomic_int_set(&db->pooler_found, 1); /* dbr_exec_flags: no statement cache */
        dbr_log(DBR_LOG_WARNING, "core", NULL,
                "db \"%s\": a connection pooler answers for the server (the process id the "
                "connection announced is not the server's); if it pools transactions "
                "(hands the server session to another client after each one), set "
                "[database] pooler = transaction, or session settings, prepared statements "
                "and locks leak between its clients; prepared statements are not kept for it",
                db->st->name);
    } else if (!found && db->st->pooler_transaction)
        dbr_log(DBR_LOG_WARNING, "core", NULL,
                "db \"%s\": [database] pooler = transaction, but the connection goes straight "
                "to the server: statements that keep session state are refused for nothing",
                db->st->name);
}
