/* SPDX-License-Identifier: MIT */
/*
 * The lock that serialises migration commands across processes, taken
 * first in each of their transactions and held until it ends.
 *
 * With a driver that has transaction-scoped advisory locks
 * (DBR_CAP_ADVISORY_LOCK) it is one, on lock_key, waiting at most
 * lock_timeout. Without them it is the row of a one-row table beside the
 * history (TABLE_lock), updated in the transaction: any SQL database makes
 * a second writer of that row wait until the first transaction ends. On
 * SQLite the transaction's BEGIN IMMEDIATE already holds the database's
 * write lock, and the wait is the driver's _busy_timeout.
 */
#include "migrate.h"

static bool exec_fmt(dbr_tx *tx, const char *fmt, const char *table, dbr_error **err)
{
    char *sql = g_strdup_printf(fmt, table, table);
    bool ok = dbr_tx_exec(tx, sql, 0, NULL, err);

    g_free(sql);
    return ok;
}

bool migrate_lock(const migrate *m, dbr_tx *tx, dbr_error **err)
{
    if (dbr_supports(m->db, DBR_CAP_ADVISORY_LOCK))
        return dbr_tx_advisory_lock(tx, m->lock_key, m->lock_timeout_us / 1000, err);
    return exec_fmt(tx,
                    "CREATE TABLE IF NOT EXISTS %s_lock (id integer PRIMARY KEY, taken integer NOT "
                    "NULL)",
                    m->table, err) &&
           exec_fmt(tx,
                    "INSERT INTO %s_lock (id, taken) SELECT 1, 0 WHERE NOT EXISTS "
                    "(SELECT 1 FROM %s_lock WHERE id = 1)",
                    m->table, err) &&
           exec_fmt(tx, "UPDATE %s_lock SET taken = taken + 1 WHERE id = 1", m->table, err);
}
