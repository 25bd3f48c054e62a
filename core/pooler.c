/* SPDX-License-Identifier: MIT */
/*
 * [database] pooler = transaction: behind a pooler in transaction mode
 * (PgBouncer's pool_mode = transaction) the server session is this
 * client's only until its transaction ends; the next transaction may run on
 * another server, and the next client on this one. A statement that leaves
 * state in the session (SET without LOCAL, PREPARE, LISTEN, a session
 * advisory lock, a temporary table that outlives its transaction, a held
 * cursor) would work once, then fail or act on another client's session
 * without a word. So it is refused before anything is sent, with the
 * construct named; the driver says what binds state (session_bound), the
 * core only decides. docs/pgbouncer.md is the table of what works.
 */
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
                      "client's by then (use SET LOCAL, set_config(..., true), "
                      "pg_advisory_xact_lock or ON COMMIT DROP inside a transaction, or a "
                      "direct connection; see docs/pgbouncer.md); nothing was sent",
                      what);
    dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
    dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    dbr_error_set_transient(e, false);
    return dbr_error_propagate(err, e);
}
