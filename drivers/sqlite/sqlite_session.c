/* SPDX-License-Identifier: MIT */
/*
 * Session state a borrower may leave on a pooled SQLite connection: PRAGMAs
 * (foreign_keys = OFF would follow the connection to its next user),
 * ATTACHed databases, TEMP tables, views and triggers. The reset is the
 * honest one: the handle is closed and the file opened again with the
 * conninfo's settings, which costs a file open and the PRAGMAs, no round
 * trip; the statement cache goes with it.
 */
#include <string.h>

#include <dbr/sql.h>

#include "sqlite.h"

void sq_session_note(dbr_driver_conn *conn, const char *sql)
{
    char w[16];
    const char *rest = dbr_sql_next_word(sql, w, sizeof(w));

    if (!strcmp(w, "pragma") || !strcmp(w, "attach") || !strcmp(w, "detach")) {
        conn->session_changed = true;
    } else if (!strcmp(w, "create")) {
        /* CREATE TEMP ..., CREATE TABLE temp.x: unsure is changed. */
        char *lower = g_ascii_strdown(rest, -1);

        if (strstr(lower, "temp"))
            conn->session_changed = true;
        g_free(lower);
    }
}

bool sq_session_changed(const dbr_driver_conn *conn)
{
    return conn->session_changed;
}

bool sq_session_reset(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait, dbr_error **err)
{
    if (sql) {
        if (!sq_exec_script(conn, sql, wait, err))
            return false;
        conn->session_changed = false;
        return true;
    }
    if (conn->broken || !sq_wait_check(wait, err))
        return conn->broken
                   ? dbr_set_error(err, DBR_ERR_CONNECTION, SQ_LAYER, "the connection was given up")
                   : false;
    sq_cache_clear(conn);
    sqlite3_close_v2(conn->db);
    conn->db = NULL;
    conn->tx_failed = conn->tx_aborted = conn->query_only = false;
    sq_cache_init(conn, conn->cache_size);
    if (!sq_open(conn, wait, err)) {
        conn->broken = true; /* the pool closes it */
        return false;
    }
    conn->session_changed = false;
    return true;
}
