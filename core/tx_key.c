/* SPDX-License-Identifier: MIT */
/*
 * Idempotency keys: a transaction run with dbr_tx_run_once inserts its key
 * into a small table of dbr's ([database] idempotency_table) as its first
 * statement, so the key commits if and only if the transaction does.
 *
 * - A second run of the key meets the first run's row: a unique violation
 *   if the first committed (this run is rolled back and reported done,
 *   "already applied"), or a wait on the first's row lock while it is still
 *   in flight, which ends when it commits or aborts. So the work is applied
 *   at most once, whatever runs it again: the retry plugin, the caller
 *   after a crash, another process.
 * - When COMMIT's answer is lost, whether the key's row exists decides:
 *   asked of whatever server answers now, so it works after a failover,
 *   where a transaction id (the driver's xact_status) means nothing. The question is
 *   an INSERT of the key that is always rolled back: it waits for a
 *   transaction still committing on the same server instead of missing it.
 *
 * Plain SQL (CREATE TABLE IF NOT EXISTS, INSERT ... ON CONFLICT DO
 * NOTHING), so any driver whose server speaks it gets the feature. Learned
 * from Stripe's idempotency keys and the outbox pattern; no code copied.
 */
#include <glib.h>
#include <string.h>

#include "ctx.h"
#include "tx.h"

bool dbr_tx_key_table(dbr_db *db, dbr_pconn *pc, const dbr_wait *wait, dbr_error **err)
{
    dbr_error *e = NULL;
    char *sql;
    bool ok;

    if (g_atomic_int_get(&db->keys_ready))
        return true;
    /* A table that is there needs no CREATE right, but a server may check
     * that right on the schema before it looks whether the table exists
     * (PostgreSQL does), and an application's role rarely has it. So look
     * first. */
    sql = g_strdup_printf("SELECT 1 FROM %s WHERE false", db->st->idempotency_table);
    ok = dbr_run_on(db, pc->dc, wait, sql, NULL, 0, NULL, NULL);
    g_free(sql);
    if (ok) {
        g_atomic_int_set(&db->keys_ready, 1);
        return true;
    }
    if (db->drv->txstatus(pc->dc) == DBR_TXSTATUS_BROKEN)
        return dbr_set_error(err, DBR_ERR_CONNECTION, "core",
                             "the connection broke looking for the idempotency key table");
    sql = g_strdup_printf("CREATE TABLE IF NOT EXISTS %s (key text PRIMARY KEY, "
                          "committed_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP)",
                          db->st->idempotency_table);
    ok = dbr_run_on(db, pc->dc, wait, sql, NULL, 0, NULL, &e);
    g_free(sql);
    /* Two first runs at once: one CREATE may fail on the catalog's unique
     * index while the other creates the table. Either way it exists. */
    if (!ok && strcmp(dbr_error_sqlstate(e), "23505") == 0) {
        dbr_error_free(e);
        ok = true;
    }
    if (!ok)
        return dbr_error_propagate(
            err, dbr_error_wrap(e, dbr_error_kind_of(e), "core",
                                "cannot create the idempotency key table %s (nothing was run)",
                                db->st->idempotency_table));
    g_atomic_int_set(&db->keys_ready, 1);
    return true;
}

bool dbr_tx_key_claim(dbr_db *db, dbr_pconn *pc, const dbr_wait *wait, const char *key,
                      bool *already, dbr_error **err)
{
    char *sql = g_strdup_printf("INSERT INTO %s (key) VALUES ($1)", db->st->idempotency_table);
    const char *params[1] = {key};
    dbr_error *e = NULL;
    bool ok = dbr_run_on(db, pc->dc, wait, sql, &(dbr_args){.n = 1, .values = params}, 0, NULL, &e);

    g_free(sql);
    *already = false;
    if (ok)
        return true;
    /* unique_violation, and only that: the key's row is there, an earlier
     * run committed. Any other constraint an owner put on the table (a
     * CHECK on the key's length) is an error of this run, which applied
     * nothing. */
    if (strcmp(dbr_error_sqlstate(e), "23505") == 0) {
        dbr_error_free(e);
        *already = true;
        return true;
    }
    return dbr_error_propagate(err, e);
}

/* One look on a fresh connection: 1 the key is there, 0 it is not, -1 no
 * answer (the server may be down or failing over: asked again). */
static int key_look(dbr_db *db, const dbr_wait *wait, const void *key)
{
    dbr_driver_conn *dc = db->drv->connect(db->st->conninfo, &db->st->driver_opts, wait, NULL);
    char *sql = g_strdup_printf("INSERT INTO %s (key) VALUES ($1) ON CONFLICT DO NOTHING",
                                db->st->idempotency_table);
    const char *params[1] = {key};
    dbr_result *r = NULL;
    int status = -1;

    if (dc && dbr_run_on(db, dc, wait, "BEGIN", NULL, 0, NULL, NULL) &&
        dbr_run_on(db, dc, wait, sql, &(dbr_args){.n = 1, .values = params}, 0, &r, NULL)) {
        status = dbr_result_affected(r) == 0 ? 1 : dbr_result_affected(r) == 1 ? 0 : -1;
        dbr_result_free(r);
    }
    g_free(sql);
    if (dc) /* never keep the probe's row: roll back, or close, which does */
        db->drv->close(dc);
    return status;
}

int dbr_tx_key_resolve(dbr_db *db, dbr_ctx *ctx, const char *key)
{
    return dbr_tx_ask_until_known(db, ctx, key_look, key);
}
