/* SPDX-License-Identifier: MIT */
/*
 * dbr_replication_state_get and dbr_archive_state_get: what a plugin needs
 * to know of the server's replication and log archiving, asked of the
 * driver (its replication_state and archive_state slots) so that the
 * plugins run no SQL of one database's catalogs.
 *
 * Each is one round trip on a pooled connection, through the chain as a
 * ping-kind call (a read that changes nothing: safe to repeat, never in a
 * transaction), so the breaker, retry and timeouts apply as to a ping.
 */
#include <string.h>

#include "db.h"

typedef bool (*state_fn)(const struct dbr_driver_ops *drv, dbr_driver_conn *dc,
                         const dbr_wait *wait, void *out, dbr_error **err);

typedef struct state_op {
    state_fn fn;
    void *out; /* the library's own struct, zeroed, struct_size set */
} state_op;

static bool replication(const struct dbr_driver_ops *drv, dbr_driver_conn *dc, const dbr_wait *wait,
                        void *out, dbr_error **err)
{
    return drv->replication_state(dc, wait, out, err);
}

static bool archive(const struct dbr_driver_ops *drv, dbr_driver_conn *dc, const dbr_wait *wait,
                    void *out, dbr_error **err)
{
    return drv->archive_state(dc, wait, out, err);
}

static bool state_terminal(dbr_call *call, dbr_error **err)
{
    const state_op *op = call->op;
    dbr_wait wait;
    dbr_pconn *pc = dbr_terminal_begin(call, &wait, err);
    bool ok;

    if (!pc)
        return false;
    ok = op->fn(call->db->drv, pc->dc, &wait, op->out, err);
    dbr_pool_put(call->db->pool, pc, false);
    return ok;
}

/* The checks, the call, and the copy of what the caller's struct holds. */
static bool get_state(const char *fn, dbr_db *db, dbr_ctx *ctx, dbr_capability cap, state_fn state,
                      void *all, size_t known, size_t oldest, void *out, size_t size,
                      dbr_error **err)
{
    state_op op = {.fn = state, .out = all};
    dbr_call call = {
        .kind = DBR_CALL_PING, .terminal = state_terminal, .ctx = ctx, .idempotent = true};
    uint32_t filled = (uint32_t)(size < known ? size : known);

    if (!db || !out)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: %s is NULL", fn, !db ? "db" : "out");
    if (size < oldest)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: size is %zu; expected at least %zu (rebuild against dbr's "
                             "headers)",
                             fn, size, oldest);
    if (!dbr_supports(db, cap))
        return dbr_unsupported(db, fn, err);
    memset(all, 0, known);
    memcpy(all, &(uint32_t){(uint32_t)known}, sizeof(uint32_t)); /* struct_size comes first */
    call.op = &op;
    if (!dbr_dispatch(db, &call, err))
        return false;
    memcpy(all, &filled, sizeof(uint32_t));
    memcpy(out, all, filled);
    return true;
}

bool dbr_replication_state_get_sized(dbr_db *db, dbr_ctx *ctx, dbr_replication_state *out,
                                     size_t size, dbr_error **err)
{
    dbr_replication_state all;

    return get_state("dbr_replication_state_get", db, ctx, DBR_CAP_REPLICATION, replication, &all,
                     sizeof(all), offsetof(dbr_replication_state, position) + sizeof(int64_t), out,
                     size, err);
}

bool dbr_archive_state_get_sized(dbr_db *db, dbr_ctx *ctx, dbr_archive_state *out, size_t size,
                                 dbr_error **err)
{
    dbr_archive_state all;

    return get_state(
        "dbr_archive_state_get", db, ctx, DBR_CAP_ARCHIVE_STATUS, archive, &all, sizeof(all),
        offsetof(dbr_archive_state, slot_retained_bytes) + sizeof(int64_t), out, size, err);
}
