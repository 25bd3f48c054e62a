/* SPDX-License-Identifier: MIT */
/*
 * dbr-driver-sqlite: the SQLite driver, on the system's libsqlite3. The
 * second real driver: what it lacks of PostgreSQL (COPY, LISTEN, pipelines,
 * advisory locks, commit tracking) it does not declare, and the core says
 * "unsupported by driver sqlite" for those calls.
 *
 * Config:
 *   [database]
 *   driver = sqlite
 *   conninfo = file:/var/lib/app/app.db?mode=rwc&_busy_timeout=5000
 *
 * The conninfo is an SQLite URI (sqlite_uri.c lists the driver's own `_`
 * parameters). Each connection opens the file with SQLITE_OPEN_NOMUTEX
 * (the core uses a connection from one thread at a time), in WAL mode with
 * synchronous = FULL and foreign keys enforced unless the URI says
 * otherwise.
 *
 * Transactions: BEGIN IMMEDIATE for one that may write (it takes the
 * database's write lock at once, so two writers never deadlock half-way:
 * the second waits, or fails at BEGIN with nothing done and retry runs it
 * again), BEGIN DEFERRED with PRAGMA query_only for a read-only one. SQLite
 * transactions are SERIALIZABLE, whatever isolation is asked for: READ
 * COMMITTED and REPEATABLE READ get the stronger level, as the SQL standard
 * allows. Savepoints are SQLite's own.
 *
 * Build: part of the dbr meson build (drivers/meson.build).
 */
#include <string.h>

#include "sqlite.h"

static bool pragma(dbr_driver_conn *conn, const char *sql, char *answer, int len, dbr_error **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(conn->db, sql, -1, &st, NULL);

    if (answer && len > 0)
        answer[0] = '\0';
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            if (answer && sqlite3_column_text(st, 0))
                g_strlcpy(answer, (const char *)sqlite3_column_text(st, 0), (gsize)len);
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    if (rc != SQLITE_OK) {
        dbr_error *e = sq_error(conn, rc, "setting up the connection", false);

        dbr_error_set_phase(e, DBR_PHASE_CONNECT);
        dbr_error_propagate(err, e);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK;
}

static bool setup(dbr_driver_conn *conn, const sq_uri *u, dbr_error **err)
{
    char sql[96], mode[32];

    if (!u->read_only) {
        g_snprintf(sql, sizeof(sql), "PRAGMA journal_mode = %s", u->journal);
        if (!pragma(conn, sql, mode, sizeof(mode), err))
            return false;
        /* An in-memory database stays "memory": only an explicit
         * _journal_mode must take. */
        if (u->journal_set && g_ascii_strcasecmp(mode, u->journal) != 0)
            return dbr_set_error(err, DBR_ERR_CONFIG, SQ_LAYER,
                                 "_journal_mode = %s did not take: SQLite kept %s", u->journal,
                                 dbr_quote_name(mode).text);
    }
    g_snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s", u->synchronous);
    if (!pragma(conn, sql, NULL, 0, err))
        return false;
    return pragma(conn, u->foreign_keys ? "PRAGMA foreign_keys = ON" : "PRAGMA foreign_keys = OFF",
                  NULL, 0, err);
}

bool sq_open(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err)
{
    int rc = sqlite3_open_v2(
        conn->uri.open_name, &conn->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    bool ok;

    if (rc != SQLITE_OK) {
        /* SQLite's message does not quote the file name. */
        dbr_error *e = sq_error(conn->db ? conn : NULL, rc, "cannot open the database", false);

        dbr_error_set_phase(e, DBR_PHASE_CONNECT);
        dbr_error_propagate(err, e);
        sqlite3_close_v2(conn->db);
        conn->db = NULL;
        return false;
    }
    sqlite3_extended_result_codes(conn->db, 1);
    sq_wait_install(conn);
    sq_wait_begin(conn, wait);
    ok = setup(conn, &conn->uri, err);
    sq_wait_end(conn);
    if (!ok) {
        sqlite3_close_v2(conn->db);
        conn->db = NULL;
    }
    return ok;
}

/* What the core hands over beside the conninfo that SQLite has no use for:
 * refused, rather than ignored as if it had worked. */
static bool sq_opts_check(const dbr_driver_opts *opts, dbr_error **err)
{
    if (DBR_DRIVER_OPTS_HAS(opts, password) && opts->password)
        return dbr_set_error(err, DBR_ERR_CONFIG, SQ_LAYER,
                             "[database] password_file: an SQLite database takes no password");
    if (DBR_DRIVER_OPTS_HAS(opts, override_values) && opts->noverrides > 0)
        return dbr_set_error(err, DBR_ERR_CONFIG, SQ_LAYER,
                             "connection keyword \"%s\" given beside the conninfo: the sqlite "
                             "driver takes none",
                             opts->override_keys[0]);
    return true;
}

static dbr_driver_conn *sq_connect(const char *conninfo, const dbr_driver_opts *opts,
                                   const dbr_wait *wait, dbr_error **err)
{
    dbr_driver_conn *conn;

    if (!sq_opts_check(opts, err))
        return NULL;
    conn = g_new0(dbr_driver_conn, 1);

    if (!sq_uri_parse(conninfo, &conn->uri, err) || !sq_wait_check(wait, err)) {
        if (err && *err && dbr_error_kind_of(*err) != DBR_ERR_CONFIG)
            dbr_error_set_phase(*err, DBR_PHASE_CONNECT);
        sq_uri_clear(&conn->uri);
        g_free(conn);
        return NULL;
    }
    conn->busy_timeout_us = conn->uri.busy_timeout_us;
    sq_cache_init(conn, opts && opts->struct_size >=
                                    offsetof(dbr_driver_opts, statement_cache_size) + sizeof(int)
                            ? opts->statement_cache_size
                            : 0);
    if (!sq_open(conn, wait, err)) {
        sq_cache_clear(conn);
        sq_uri_clear(&conn->uri);
        g_free(conn);
        return NULL;
    }
    return conn;
}

static void sq_close(dbr_driver_conn *conn)
{
    if (!conn)
        return;
    sq_cache_clear(conn);
    /* An open transaction is rolled back by the close. */
    sqlite3_close_v2(conn->db);
    sq_uri_clear(&conn->uri);
    g_free(conn);
}

static dbr_txstatus sq_txstatus(const dbr_driver_conn *conn)
{
    if (conn->broken)
        return DBR_TXSTATUS_BROKEN;
    if (conn->tx_failed || conn->tx_aborted)
        return DBR_TXSTATUS_INERROR;
    return sqlite3_get_autocommit(conn->db) ? DBR_TXSTATUS_IDLE : DBR_TXSTATUS_INTRANS;
}

/* Reading the schema proves the file is there and is a database. */
static bool sq_ping(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err)
{
    dbr_driver_result *r =
        sq_exec(conn, "SELECT count(*) FROM sqlite_schema", NULL, DBR_EXEC_CACHE, wait, err);

    sq_result_free(r);
    return r != NULL;
}

static bool sq_alive(dbr_driver_conn *conn)
{
    return !conn->broken;
}

static const char *sq_begin_sql(const dbr_tx_opts *opts)
{
    return opts && opts->read_only ? SQ_BEGIN_READ_ONLY : SQ_BEGIN_WRITE;
}

static bool sq_check_conninfo(const char *conninfo, const dbr_driver_opts *opts, dbr_error **err)
{
    return sq_uri_parse(conninfo, NULL, err) && sq_opts_check(opts, err);
}

static const struct dbr_driver_ops sq_ops = {
    .struct_size = sizeof(struct dbr_driver_ops),
    .connect = sq_connect,
    .close = sq_close,
    .exec = sq_exec,
    .result_nrows = sq_result_nrows,
    .result_ncols = sq_result_ncols,
    .result_colname = sq_result_colname,
    .result_value = sq_result_value,
    .result_affected = sq_result_affected,
    .result_free = sq_result_free,
    .txstatus = sq_txstatus,
    .ping = sq_ping,
    .alive = sq_alive,
    .begin_sql = sq_begin_sql,
    .exec_script = sq_exec_script,
    /* No xact_lock: BEGIN IMMEDIATE already serialises writers. */
    .check_conninfo = sq_check_conninfo,
    .session_changed = sq_session_changed,
    .session_reset = sq_session_reset,
    .prepare = sq_prepare,
    .result_coltype = sq_result_coltype,
    .result_get = sq_result_get,
    .exec_stream = sq_exec_stream,
    .redact_conninfo = sq_redact_conninfo,
    /* No replication_state, no archive_state: one file, no log shipping. */
};

DBR_MODULE_DEFINE(DBR_MODULE_DRIVER, "sqlite", "3.0.0", "SQLite through libsqlite3", &sq_ops)
