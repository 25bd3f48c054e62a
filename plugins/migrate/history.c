/* SPDX-License-Identifier: MIT */
/* The history table: which versions are applied, when, how long they took. */
#include <stdlib.h>

#include "migrate.h"

void applied_free(applied *a)
{
    if (!a)
        return;
    g_free(a->description);
    g_free(a->checksum);
    g_free(a->applied_at);
    g_free(a);
}

bool history_ensure(const migrate *m, dbr_tx *tx, dbr_error **err)
{
    char *sql = g_strdup_printf("CREATE TABLE IF NOT EXISTS %s ("
                                "version bigint PRIMARY KEY, "
                                "description text NOT NULL, "
                                "checksum text NOT NULL, "
                                "applied_at timestamptz NOT NULL DEFAULT now(), "
                                "execution_ms bigint NOT NULL DEFAULT 0, "
                                "dirty boolean NOT NULL DEFAULT false)",
                                m->table);
    bool ok = dbr_tx_exec(tx, sql, 0, NULL, err);

    g_free(sql);
    return ok;
}

typedef struct reading {
    const migrate *m;
    GPtrArray *out;
} reading;

static bool read_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    reading *r = user;
    char *sql;
    dbr_result *res;

    if (!dbr_tx_advisory_lock(tx, r->m->lock_key, r->m->lock_timeout_us / 1000, err) ||
        !history_ensure(r->m, tx, err))
        return false;
    sql = g_strdup_printf("SELECT version, description, checksum, "
                          "to_char(applied_at, 'YYYY-MM-DD HH24:MI:SSOF'), execution_ms, dirty "
                          "FROM %s ORDER BY version",
                          r->m->table);
    res = dbr_tx_query(tx, sql, 0, NULL, err);
    g_free(sql);
    if (!res)
        return false;
    for (int i = 0; i < dbr_result_nrows(res); i++) {
        applied *a = g_new0(applied, 1);

        a->version = g_ascii_strtoll(dbr_result_value(res, i, 0), NULL, 10);
        a->description = g_strdup(dbr_result_value(res, i, 1));
        a->checksum = g_strdup(dbr_result_value(res, i, 2));
        a->applied_at = g_strdup(dbr_result_value(res, i, 3));
        a->execution_ms = g_ascii_strtoll(dbr_result_value(res, i, 4), NULL, 10);
        a->dirty = dbr_result_value(res, i, 5)[0] == 't';
        g_ptr_array_add(r->out, a);
    }
    dbr_result_free(res);
    return true;
}

GPtrArray *history_read(const migrate *m, dbr_error **err)
{
    reading r = {m, g_ptr_array_new_with_free_func((GDestroyNotify)applied_free)};

    /* Creating the table takes the lock, so that concurrent first runs do
     * not race on CREATE TABLE IF NOT EXISTS. */
    if (!dbr_tx_run(m->db, NULL, NULL, read_tx, &r, err)) {
        g_ptr_array_free(r.out, TRUE);
        return NULL;
    }
    return r.out;
}
