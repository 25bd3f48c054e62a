/* SPDX-License-Identifier: MIT */
/*
 * Running statements on SQLite: one statement (exec), a script, a stream,
 * and the per-connection statement cache (an LRU by SQL text of statements
 * prepared with SQLITE_PREPARE_PERSISTENT).
 *
 * Parameters are written $1, $2 ... as for PostgreSQL; SQLite reads "$1" as
 * a named parameter, so each is bound by its name, repeats included. Text
 * values are bound as TEXT (column affinity converts them on insert and in
 * comparisons with a column), binary ones as BLOB.
 *
 * Transaction state: PostgreSQL refuses everything but ROLLBACK once a
 * statement of a transaction block has failed, and the core counts on it
 * (a callback that swallows a failure must not commit the rest). SQLite
 * keeps the block open after a failed statement, or rolls the whole block
 * back on its own (SQLITE_FULL, an interrupted write): both are reported
 * as DBR_TXSTATUS_INERROR and refuse other statements until ROLLBACK, or
 * ROLLBACK TO a savepoint for the first.
 */
#include <string.h>

#include <dbr/sql.h>

#include "sqlite.h"

/* ---- the statement cache ---- */

static void cached_free(gpointer p)
{
    sq_cached *c = p;

    sqlite3_finalize(c->stmt);
    g_free(c->sql);
    g_free(c);
}

void sq_cache_init(dbr_driver_conn *conn, int size)
{
    conn->cache_size = MAX(size, 0);
    conn->cache = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, cached_free);
    g_queue_init(&conn->lru);
}

void sq_cache_clear(dbr_driver_conn *conn)
{
    if (!conn->cache)
        return;
    g_queue_clear(&conn->lru);
    g_clear_pointer(&conn->cache, g_hash_table_destroy);
}

static void cache_put(dbr_driver_conn *conn, const char *sql, sqlite3_stmt *st)
{
    sq_cached *c = g_new0(sq_cached, 1);
    guint cap = (guint)MAX(conn->cache_size, 1);

    c->sql = g_strdup(sql);
    c->stmt = st;
    g_queue_push_head(&conn->lru, c);
    c->link = conn->lru.head;
    g_hash_table_insert(conn->cache, c->sql, c);
    while (g_hash_table_size(conn->cache) > cap) {
        sq_cached *old = g_queue_pop_tail(&conn->lru);

        g_hash_table_remove(conn->cache, old->sql);
    }
}

static bool blank(const char *s)
{
    char w[2];

    /* dbr_sql_next_word skips blanks, comments and empty statements. */
    s = dbr_sql_next_word(s, w, sizeof(w));
    return !*w && !*s;
}

/* The prepared statement for sql: from the cache, or prepared now and kept
 * when keep. *st is NULL for a text without a statement (blanks, comments). */
static bool stmt_get(dbr_driver_conn *conn, const char *sql, bool keep, sqlite3_stmt **st,
                     bool *from_cache, dbr_error **err)
{
    const char *tail = NULL;
    sq_cached *c;
    int rc;

    *from_cache = false;
    if (keep && (c = g_hash_table_lookup(conn->cache, sql))) {
        g_queue_unlink(&conn->lru, c->link);
        g_queue_push_head_link(&conn->lru, c->link);
        *st = c->stmt;
        *from_cache = true;
        return true;
    }
    rc = sqlite3_prepare_v3(conn->db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, st, &tail);
    if (rc != SQLITE_OK)
        return dbr_error_propagate(err, sq_error(conn, rc, NULL, false));
    if (*st && tail && !blank(tail)) {
        dbr_error *e = dbr_error_new(DBR_ERR_SYNTAX, SQ_LAYER,
                                     "cannot run several statements in one call with "
                                     "parameters or a result: use dbr_exec_script");

        sqlite3_finalize(*st);
        *st = NULL;
        dbr_error_set_sqlstate(e, "42601");
        dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
        dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
        return dbr_error_propagate(err, e);
    }
    if (*st && keep)
        cache_put(conn, sql, *st);
    *from_cache = *st && keep;
    return true;
}

/* Gives a statement back: reset for the cache, or finalized. */
static void stmt_put(sqlite3_stmt *st, bool cached)
{
    if (!st)
        return;
    if (cached) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
}

/* ---- parameters ---- */

/* The number $N a parameter name stands for, or 0 when it is not $N. */
static int param_number(const char *name)
{
    long n = 0;

    if (!name || name[0] != '$' || !g_ascii_isdigit(name[1]) || name[1] == '0')
        return 0;
    for (const char *p = name + 1; *p; p++) {
        if (!g_ascii_isdigit(*p) || n > 65535)
            return 0;
        n = n * 10 + (*p - '0');
    }
    return n <= 65535 ? (int)n : 0;
}

/* The highest $N of st; -1 and an error for a parameter not written $N. */
static int param_max(sqlite3_stmt *st, dbr_error **err)
{
    int count = st ? sqlite3_bind_parameter_count(st) : 0, max = 0;

    for (int i = 1; i <= count; i++) {
        const char *name = sqlite3_bind_parameter_name(st, i);
        int n = param_number(name);

        if (!n)
            return dbr_error_propagate(err, sq_misuse("parameter %s: write parameters as $1, $2, "
                                                      "... (as for every dbr driver)",
                                                      name ? dbr_quote(name).text : "?")),
                   -1;
        max = MAX(max, n);
    }
    return max;
}

static bool bind_args(sqlite3_stmt *st, const dbr_args *args, dbr_error **err)
{
    int n = args ? args->n : 0, max = param_max(st, err), count;

    if (max < 0)
        return false;
    if (max != n)
        return dbr_error_propagate(err, sq_misuse("the statement takes %d parameter%s ($1 to $%d) "
                                                  "but %d were given",
                                                  max, max == 1 ? "" : "s", max, n));
    count = st ? sqlite3_bind_parameter_count(st) : 0;
    for (int i = 1; i <= count; i++) {
        int k = param_number(sqlite3_bind_parameter_name(st, i)) - 1;
        const char *v = args->values[k];
        int rc;

        if (!v)
            rc = sqlite3_bind_null(st, i);
        else if (args->formats && args->formats[k] == 1)
            rc = sqlite3_bind_blob(st, i, v, args->lengths[k], SQLITE_TRANSIENT);
        else
            rc = sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
        if (rc != SQLITE_OK)
            return dbr_error_propagate(err, sq_error(NULL, rc, "binding a parameter", false));
    }
    return true;
}

/* ---- transaction state ---- */

typedef enum { GATE_RUN, GATE_DONE, GATE_REFUSED } gate;

/* Whether sql may run in the connection's transaction state; GATE_DONE:
 * a ROLLBACK of a block SQLite already rolled back, which only clears it. */
static gate tx_gate(dbr_driver_conn *conn, const char *sql, dbr_error **err)
{
    char w[16];
    const char *rest;
    dbr_error *e;

    if (!conn->tx_failed && !conn->tx_aborted)
        return GATE_RUN;
    rest = dbr_sql_next_word(sql, w, sizeof(w));
    if (strcmp(w, "rollback") == 0) {
        char w2[16];

        rest = dbr_sql_next_word(rest, w2, sizeof(w2));
        if (strcmp(w2, "transaction") == 0)
            dbr_sql_next_word(rest, w2, sizeof(w2));
        if (strcmp(w2, "to") != 0 && conn->tx_aborted) {
            conn->tx_aborted = conn->tx_failed = false;
            return GATE_DONE;
        }
        return GATE_RUN;
    }
    e = dbr_error_new(DBR_ERR_MISUSE, SQ_LAYER,
                      "current transaction is aborted, commands ignored until end of transaction "
                      "block");
    dbr_error_set_sqlstate(e, "25P02");
    dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
    dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    dbr_error_propagate(err, e);
    return GATE_REFUSED;
}

/* A read-only transaction's PRAGMA query_only ends with the transaction. */
static void query_only_sync(dbr_driver_conn *conn)
{
    if (conn->query_only && sqlite3_get_autocommit(conn->db) && !conn->tx_aborted) {
        sqlite3_exec(conn->db, "PRAGMA query_only = 0", NULL, NULL, NULL);
        conn->query_only = false;
    }
}

static bool is_commit(const char *sql)
{
    char w[16];

    dbr_sql_next_word(sql, w, sizeof(w));
    return strcmp(w, "commit") == 0 || strcmp(w, "end") == 0;
}

static bool is_rollback(const char *sql)
{
    char w[16];

    dbr_sql_next_word(sql, w, sizeof(w));
    return strcmp(w, "rollback") == 0;
}

static void after_success(dbr_driver_conn *conn, const char *sql)
{
    char w[16], w2[16];
    const char *rest = dbr_sql_next_word(sql, w, sizeof(w));

    sq_session_note(conn, sql);
    if (sqlite3_get_autocommit(conn->db)) {
        conn->tx_failed = false;
    } else if (strcmp(w, "rollback") == 0) {
        rest = dbr_sql_next_word(rest, w2, sizeof(w2));
        if (strcmp(w2, "transaction") == 0)
            dbr_sql_next_word(rest, w2, sizeof(w2));
        if (strcmp(w2, "to") == 0)
            conn->tx_failed = false;
    }
    if (strcmp(sql, SQ_BEGIN_READ_ONLY) == 0 &&
        sqlite3_exec(conn->db, "PRAGMA query_only = 1", NULL, NULL, NULL) == SQLITE_OK)
        conn->query_only = true;
}

/* A statement failed with e. A failed COMMIT is rolled back here, so that
 * its outcome is certain: SQLite leaves the block open after SQLITE_BUSY. */
static dbr_error *after_failure(dbr_driver_conn *conn, const char *sql, bool in_tx_before, int rc,
                                dbr_error *e)
{
    int prim = rc & 0xff;

    if (in_tx_before && is_commit(sql)) {
        const dbr_wait *w = conn->wait;

        /* Not stopped by the deadline that may have stopped COMMIT. */
        conn->wait = NULL;
        if (!sqlite3_get_autocommit(conn->db) &&
            sqlite3_exec(conn->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
            conn->broken = true;
        conn->wait = w;
        conn->tx_failed = conn->tx_aborted = false;
        /* An I/O error may strike after the commit record was written. */
        if (prim == SQLITE_IOERR)
            dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
        return e;
    }
    if (in_tx_before) {
        if (sqlite3_get_autocommit(conn->db))
            conn->tx_aborted = true;
        else
            conn->tx_failed = true;
    }
    if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB || prim == SQLITE_IOERR)
        conn->broken = true; /* the pool opens a new one */
    return e;
}

/* What every call does first. */
static bool call_begin(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err)
{
    dbr_error *e;

    if (conn->broken) {
        e = dbr_error_new(DBR_ERR_CONNECTION, SQ_LAYER,
                          "the connection was given up after an I/O error or corruption");
        dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
        dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
        return dbr_error_propagate(err, e);
    }
    /* From here to the slot's end the handlers see the call's wait: a lock
     * may be waited for while preparing too. */
    sq_wait_begin(conn, wait);
    query_only_sync(conn);
    return sq_wait_check(wait, err);
}

/* Whether sql is a statement SQLite counts the changes of, write a
 * statement that may write. */
static bool counted(const char *sql, bool write)
{
    char w[16];

    dbr_sql_next_word(sql, w, sizeof(w));
    return !strcmp(w, "insert") || !strcmp(w, "update") || !strcmp(w, "delete") ||
           !strcmp(w, "replace") || (!strcmp(w, "with") && write);
}

static long long affected(dbr_driver_conn *conn, const char *sql, sqlite3_stmt *st)
{
    return counted(sql, !sqlite3_stmt_readonly(st)) ? (long long)sqlite3_changes64(conn->db) : -1;
}

/* A write that failed in autocommit (write: sqlite3_stmt_readonly said
 * no), called once the statement is reset or finalized, which sets the
 * change count of a statement that stopped before its end. ON CONFLICT
 * FAIL and RAISE(FAIL) commit the rows written before the failing one
 * (then the count is theirs; a statement rolled back counts 0): partly
 * applied. An I/O error may strike after the commit record was written,
 * as for COMMIT (after_failure): unknown. */
static void autocommit_failure(dbr_driver_conn *conn, const char *sql, bool write, int rc,
                               dbr_error *e)
{
    if (!write || dbr_error_outcome(e) != DBR_OUTCOME_NOT_APPLIED)
        return;
    if ((rc & 0xff) == SQLITE_IOERR)
        dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
    /* The commit hook ran for a failed statement only when SQLite kept its
     * work (OE_FAIL commits what came before; ABORT rolls all back without
     * committing); the total count includes what triggers wrote, which
     * sqlite3_changes64 leaves out. */
    else if ((counted(sql, write) && sqlite3_changes64(conn->db) > 0) ||
             (conn->committing && sqlite3_total_changes64(conn->db) > conn->changes_before))
        dbr_error_set_outcome(e, DBR_OUTCOME_PARTIAL);
}

/* ---- the slots ---- */

static dbr_driver_result *exec_one(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                                   unsigned flags, const dbr_wait *wait, dbr_error **err)
{
    bool keep = (flags & DBR_EXEC_PREPARE) || ((flags & DBR_EXEC_CACHE) && conn->cache_size > 0);
    bool cached, in_tx;
    sqlite3_stmt *st = NULL;
    dbr_driver_result *res;
    gate g;
    int rc;

    if (!call_begin(conn, wait, err) || (g = tx_gate(conn, sql, err)) == GATE_REFUSED)
        return NULL;
    if (g == GATE_DONE)
        return sq_result_new(NULL);
    in_tx = !sqlite3_get_autocommit(conn->db);
    if (!stmt_get(conn, sql, keep, &st, &cached, err) || !bind_args(st, args, err)) {
        /* As PostgreSQL: any failed statement aborts the block. */
        conn->tx_failed |= in_tx;
        stmt_put(st, cached);
        return NULL;
    }
    if (!st)
        return sq_result_new(NULL);
    /* The columns are read after the first step: a schema change since the
     * statement was cached makes SQLite prepare it again there, and a
     * SELECT * may then have more columns than before. */
    sq_wait_statement(conn);
    rc = sqlite3_step(st);
    res = sq_result_new(st);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st))
        sq_result_add_row(res, st);
    if (rc == SQLITE_DONE) {
        res->affected = affected(conn, sql, st);
        stmt_put(st, cached);
        after_success(conn, sql);
        return res;
    }
    {
        dbr_error *e = sq_error(conn, rc, is_commit(sql) ? "COMMIT" : NULL, false);
        bool write = !in_tx && !sqlite3_stmt_readonly(st);

        stmt_put(st, cached);
        sq_result_free(res);
        autocommit_failure(conn, sql, write, rc, e);
        return dbr_error_propagate(err, after_failure(conn, sql, in_tx, rc, e)), NULL;
    }
}

static bool exec_script(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait,
                        dbr_error **err)
{
    const char *p = sql;
    bool committed = false; /* a statement of the script has committed on its own */
    gate g;

    if (!call_begin(conn, wait, err) || (g = tx_gate(conn, sql, err)) == GATE_REFUSED)
        return false;
    if (g == GATE_DONE)
        return true;
    while (p && *p) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        bool in_tx = !sqlite3_get_autocommit(conn->db);
        int rc = sqlite3_prepare_v2(conn->db, p, -1, &st, &tail);
        dbr_error *e;

        if (rc == SQLITE_OK && st) {
            sq_wait_statement(conn);
            while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                ;
            if (rc == SQLITE_DONE) {
                char *one = g_strndup(p, (gsize)(tail - p));

                rc = SQLITE_OK;
                /* Committed on its own: a write in autocommit, or the end
                 * of a block the script opened (COMMIT, END, the outermost
                 * RELEASE; SQLite calls those read-only), not a ROLLBACK. */
                if (sqlite3_get_autocommit(conn->db) &&
                    (in_tx ? !is_rollback(one) : !sqlite3_stmt_readonly(st)))
                    committed = true;
                after_success(conn, one);
                g_free(one);
            }
        }
        if (rc != SQLITE_OK) {
            char *one = g_strndup(p, tail && tail > p ? (gsize)(tail - p) : strlen(p));
            bool write = !in_tx && st && !sqlite3_stmt_readonly(st);

            e = sq_error(conn, rc, NULL, committed);
            sqlite3_finalize(st);
            autocommit_failure(conn, one, write, rc, e);
            e = after_failure(conn, one, in_tx, rc, e);
            g_free(one);
            return dbr_error_propagate(err, e);
        }
        sqlite3_finalize(st);
        p = tail;
    }
    return true;
}

static bool prepare(dbr_driver_conn *conn, const char *sql, int *nparams, const dbr_wait *wait,
                    dbr_error **err)
{
    sqlite3_stmt *st = NULL;
    bool cached;
    int max;

    if (!call_begin(conn, wait, err) || !stmt_get(conn, sql, true, &st, &cached, err))
        return false;
    max = param_max(st, err);
    stmt_put(st, cached);
    if (max < 0)
        return false;
    if (nparams)
        *nparams = max;
    return true;
}

/* Streams prepare their own statement: the row callback may run other
 * statements on this connection (in a transaction), which must not evict
 * or reuse one that is still stepping. */
static bool exec_stream(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                        dbr_driver_row_fn row, void *user, const dbr_wait *wait, long long *rows,
                        dbr_error **err)
{
    sqlite3_stmt *st = NULL;
    bool cached, in_tx;
    long long n = 0;
    gate g;
    int rc;

    if (rows)
        *rows = 0;
    if (!call_begin(conn, wait, err) || (g = tx_gate(conn, sql, err)) == GATE_REFUSED)
        return false;
    if (g == GATE_DONE)
        return true;
    in_tx = !sqlite3_get_autocommit(conn->db);
    if (!stmt_get(conn, sql, false, &st, &cached, err) || !bind_args(st, args, err)) {
        conn->tx_failed |= in_tx;
        stmt_put(st, false);
        return false;
    }
    if (!st)
        return true;
    sq_wait_statement(conn);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dbr_driver_result *one = sq_result_new(st);
        dbr_error *e = NULL;
        bool go_on;

        sq_result_add_row(one, st);
        n++;
        if (rows)
            *rows = n;
        /* The callback may run statements of its own: they set their wait. */
        go_on = row(user, one, &e);
        conn->wait = wait;
        if (!go_on) {
            sqlite3_finalize(st);
            return dbr_error_propagate(err, e);
        }
    }
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        after_success(conn, sql);
        return true;
    }
    {
        dbr_error *e = sq_error(conn, rc, NULL, false);
        bool write = !in_tx && !sqlite3_stmt_readonly(st);

        sqlite3_finalize(st);
        autocommit_failure(conn, sql, write, rc, e);
        return dbr_error_propagate(err, after_failure(conn, sql, in_tx, rc, e));
    }
}

/* The slots: each ends its call's wait, whatever path it took. */

dbr_driver_result *sq_exec(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                           unsigned flags, const dbr_wait *wait, dbr_error **err)
{
    dbr_driver_result *r = exec_one(conn, sql, args, flags, wait, err);

    sq_wait_end(conn);
    return r;
}

bool sq_exec_script(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait, dbr_error **err)
{
    bool ok = exec_script(conn, sql, wait, err);

    sq_wait_end(conn);
    return ok;
}

bool sq_prepare(dbr_driver_conn *conn, const char *sql, int *nparams, const dbr_wait *wait,
                dbr_error **err)
{
    bool ok = prepare(conn, sql, nparams, wait, err);

    sq_wait_end(conn);
    return ok;
}

bool sq_exec_stream(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                    dbr_driver_row_fn row, void *user, const dbr_wait *wait, long long *rows,
                    dbr_error **err)
{
    bool ok = exec_stream(conn, sql, args, row, user, wait, rows, err);

    sq_wait_end(conn);
    return ok;
}
