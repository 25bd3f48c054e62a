/* SPDX-License-Identifier: MIT */
/*
 * dbr_ping and the first connect of dbr_open: the terminals of the calls
 * that only prove the server answers.
 */
#include "db.h"

bool dbr_connect_terminal(dbr_call *call, dbr_error **err)
{
    dbr_wait wait;
    dbr_pconn *pc = dbr_terminal_begin(call, &wait, err);

    if (!pc)
        return false; /* dbr_terminal_begin made the pooler check */
    dbr_pool_put(call->db->pool, pc, false);
    return true;
}

bool dbr_ping_terminal(dbr_call *call, dbr_error **err)
{
    dbr_wait wait;
    dbr_pconn *pc = dbr_terminal_begin(call, &wait, err);
    bool ok;

    if (!pc)
        return false;
    ok = dbr_driver_ping(call->db->drv, pc->dc, &wait, err);
    dbr_pool_put(call->db->pool, pc, false);
    return ok;
}

bool dbr_ping(dbr_db *db, dbr_ctx *ctx, dbr_error **err)
{
    dbr_call call = {
        .kind = DBR_CALL_PING, .terminal = dbr_ping_terminal, .ctx = ctx, .idempotent = true};

    if (!db)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_ping: db is NULL");
    return dbr_dispatch(db, &call, err);
}
