/* SPDX-License-Identifier: MIT */
/* The history table: which versions are applied, when, how long they took. */
#include <stdlib.h>
#include <string.h>

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
                                "applied_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, "
                                "execution_ms bigint NOT NULL DEFAULT 0, "
                                "dirty boolean NOT NULL DEFAULT false)",
                                m->table);
    bool ok = dbr_tx_exec(tx, sql, 0, NULL, err);

    g_free(sql);
    return ok;
}

/* applied_at as "YYYY-MM-DD HH:MM:SS+00" whatever the database's text for
 * it: PostgreSQL's ISO output carries microseconds and the session's
 * offset, SQLite's CURRENT_TIMESTAMP is UTC without one. Text in another
 * form (a DateStyle other than ISO) is shown as it is. */
static char *applied_at_text(const char *v)
{
    size_t n;

    if (!v || strlen(v) < 19 || v[4] != '-' || v[10] != ' ' || v[13] != ':')
        return g_strdup(v ? v : "");
    n = 19;
    if (v[n] == '.')
        n += 1 + strspn(v + n + 1, "0123456789");
    return g_strdup_printf("%.19s%s", v, v[n] ? v + n : "+00");
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

    if (!migrate_lock(r->m, tx, err) || !history_ensure(r->m, tx, err))
        return false;
    sql = g_strdup_printf("SELECT version, description, checksum, "
                          "applied_at, execution_ms, dirty "
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
        a->applied_at = applied_at_text(dbr_result_value(res, i, 3));
        a->execution_ms = g_ascii_strtoll(dbr_result_value(res, i, 4), NULL, 10);
        /* t, or 1 from a driver without boolean text */
        a->dirty = dbr_result_value(res, i, 5)[0] == 't' || dbr_result_value(res, i, 5)[0] == '1';
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
