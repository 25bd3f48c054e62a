/* SPDX-License-Identifier: MIT */
/*
 * The SQLite driver beyond the conformance suite: its conninfo, its error
 * map and outcomes (a locked database, a corrupt file, a read-only one),
 * the lock wait bounded by the deadline and a cancel, the failed and the
 * rolled-back transaction states, parameters and the statement cache.
 * Every database is a file under the test tmp dir; no server.
 */
#include <dlfcn.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include <dbr/driver.h>

#include "../testutil.h"

static char *dir;

static char *db_path(const char *name)
{
    return g_build_filename(dir, name, NULL);
}

/* A db on file name, with URI parameters and config lines of its own. */
static dbr_db *open_file(const char *name, const char *params, const char *rest)
{
    char *path = db_path(name);
    dbr_db *db = t_open("[database]\ndriver = sqlite\nconninfo = file:%s?mode=rwc%s%s\n%s", path,
                        params ? "&" : "", params ? params : "", rest ? rest : "");

    g_free(path);
    return db;
}

static void setup(void)
{
    dir = t_tmpdir("sqlite");
}

static void teardown(void)
{
    g_free(dir);
}

START_TEST(test_conninfo_checked_before_any_io)
{
    dbr_error *e;

    /* the driver's own parameters: unknown, or a bad value */
    e = t_open_fail("[database]\ndriver = sqlite\nconninfo = file:/nonexistent/x.db?_busy=5\n");
    ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(e), "_busy"), "%s", dbr_error_message(e));
    ck_assert_msg(!strstr(dbr_error_message(e), "nonexistent"), "quotes the conninfo: %s",
                  dbr_error_message(e));
    dbr_error_free(e);
    e = t_open_fail("[database]\ndriver = sqlite\nconninfo = file:x.db?_busy_timeout=soon\n");
    ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_CONFIG);
    dbr_error_free(e);
    /* SQLite's own, which SQLite would ignore: a typo must not open rw */
    e = t_open_fail("[database]\ndriver = sqlite\nconninfo = file:x.db?mod=ro\n");
    ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_CONFIG);
    dbr_error_free(e);
    e = t_open_fail("[database]\ndriver = sqlite\nconninfo = file:x.db?mode=rwx\n");
    ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_CONFIG);
    dbr_error_free(e);
    e = t_open_fail("[database]\ndriver = sqlite\nconninfo =\n");
    ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_CONFIG);
    dbr_error_free(e);
}
END_TEST

START_TEST(test_wal_and_defaults)
{
    dbr_db *db = open_file("wal.db", NULL, NULL);
    char *v;

    v = t_value(db, "PRAGMA journal_mode");
    ck_assert_str_eq(v, "wal");
    g_free(v);
    ck_assert_int_eq(t_int(db, "PRAGMA foreign_keys"), 1);
    ck_assert_int_eq(t_int(db, "PRAGMA synchronous"), 2); /* FULL */
    dbr_close(db);
    db = open_file("wal.db", "_journal_mode=delete&_foreign_keys=off&_synchronous=normal", NULL);
    v = t_value(db, "PRAGMA journal_mode");
    ck_assert_str_eq(v, "delete");
    g_free(v);
    ck_assert_int_eq(t_int(db, "PRAGMA foreign_keys"), 0);
    ck_assert_int_eq(t_int(db, "PRAGMA synchronous"), 1);
    dbr_close(db);
}
END_TEST

/* ---- another connection holding the write lock ---- */

typedef struct holder {
    dbr_db *db;
    gint holding, release;
} holder;

static bool hold_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    holder *h = user;
    int64_t end = dbr_now_us() + 30 * G_USEC_PER_SEC;

    if (!dbr_tx_exec(tx, "INSERT INTO t (v) VALUES ('holder')", 0, NULL, err))
        return false;
    g_atomic_int_set(&h->holding, 1);
    while (!g_atomic_int_get(&h->release) && dbr_now_us() < end)
        g_usleep(2000);
    return true;
}

static gpointer hold_thread(gpointer p)
{
    holder *h = p;

    ck_assert(dbr_tx_run(h->db, NULL, NULL, hold_tx, h, NULL));
    return NULL;
}

static bool is_holding(void *p)
{
    return g_atomic_int_get(&((holder *)p)->holding);
}

static GThread *hold_lock(holder *h)
{
    GThread *th = g_thread_new("holder", hold_thread, h);

    ck_assert(t_wait_for(is_holding, h, 30000));
    return th;
}

static bool insert_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    return dbr_tx_exec(tx, "INSERT INTO t (v) VALUES ('victim')", 0, NULL, err);
}

static gpointer cancel_soon(gpointer ctx)
{
    g_usleep(100000);
    dbr_ctx_cancel(ctx);
    return NULL;
}

START_TEST(test_locked_database_outcomes)
{
    dbr_db *db = open_file("busy.db", "_busy_timeout=1000", NULL);
    holder h = {.db = open_file("busy.db", NULL, NULL)};
    dbr_error *err = NULL;
    dbr_ctx *ctx;
    GThread *th, *c;
    int64_t t0;

    t_exec(db, "CREATE TABLE t (v text NOT NULL)");
    th = hold_lock(&h);
    /* the busy timeout: contention, transient, nothing applied */
    t0 = dbr_now_us();
    ck_assert(!dbr_exec(db, NULL, "INSERT INTO t (v) VALUES ('auto')", 0, NULL, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_LOCK_CONTENTION, "%s", dbr_error_message(err));
    ck_assert(dbr_error_transient(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert(dbr_error_retryable(err));
    ck_assert_int_ge(dbr_now_us() - t0, 900000);
    g_clear_pointer(&err, dbr_error_free);
    /* a transaction fails at BEGIN IMMEDIATE, whole and retryable */
    ck_assert(!dbr_tx_run(db, NULL, NULL, insert_tx, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_LOCK_CONTENTION);
    ck_assert(dbr_error_retryable(err));
    g_clear_pointer(&err, dbr_error_free);
    /* a deadline shorter than the busy timeout ends the wait (the busy
     * timeout would have said lock contention) */
    ctx = dbr_ctx_with_timeout(50);
    ck_assert(!dbr_tx_run(db, ctx, NULL, insert_tx, NULL, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_TIMEOUT, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    dbr_ctx_free(ctx);
    /* and so does a cancel */
    ctx = dbr_ctx_new();
    c = g_thread_new("cancel", cancel_soon, ctx);
    ck_assert(!dbr_exec(db, ctx, "INSERT INTO t (v) VALUES ('auto')", 0, NULL, &err));
    g_thread_join(c);
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_CANCELED, "%s", dbr_error_message(err));
    g_clear_pointer(&err, dbr_error_free);
    dbr_ctx_free(ctx);
    /* reads go on under a writer (WAL) */
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM t"), 0);
    g_atomic_int_set(&h.release, 1);
    g_thread_join(th);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM t"), 1);
    dbr_close(h.db);
    dbr_close(db);
}
END_TEST

/* In rollback-journal mode COMMIT needs the exclusive lock, which a reader
 * holds off: SQLite fails it with SQLITE_BUSY and leaves the transaction
 * open; the driver rolls it back, so the outcome is certain. */
static bool read_hold_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    holder *h = user;
    int64_t end = dbr_now_us() + 30 * G_USEC_PER_SEC;
    dbr_result *r = dbr_tx_query(tx, "SELECT count(*) FROM t", 0, NULL, err);

    if (!r)
        return false;
    dbr_result_free(r);
    g_atomic_int_set(&h->holding, 1);
    while (!g_atomic_int_get(&h->release) && dbr_now_us() < end)
        g_usleep(2000);
    return true;
}

static gpointer read_hold_thread(gpointer p)
{
    holder *h = p;

    ck_assert(dbr_tx_read_only(h->db, NULL, read_hold_tx, h, NULL));
    return NULL;
}

START_TEST(test_busy_commit_rolled_back)
{
    dbr_db *db =
        open_file("commit.db", "_journal_mode=delete&_busy_timeout=200", "max_open_conns = 1\n");
    holder h = {.db = open_file("commit.db", "_journal_mode=delete", NULL)};
    dbr_error *err = NULL;
    dbr_pool_stats st;
    GThread *th;

    t_exec(db, "CREATE TABLE t (v text NOT NULL)");
    th = g_thread_new("reader", read_hold_thread, &h);
    ck_assert(t_wait_for(is_holding, &h, 30000));
    ck_assert(!dbr_tx_run(db, NULL, NULL, insert_tx, NULL, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_LOCK_CONTENTION, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert(dbr_error_retryable(err));
    dbr_error_free(err);
    g_atomic_int_set(&h.release, 1);
    g_thread_join(th);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM t"), 0);
    /* rolled back in place: the connection went back to the pool clean */
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 1);
    dbr_close(h.db);
    dbr_close(db);
}
END_TEST

static int retries;

static void count_retries(const dbr_event *ev, void *user)
{
    if (strcmp(dbr_event_type(ev), "retry.attempt") == 0)
        g_atomic_int_inc(&retries);
}

static bool corrupted(const dbr_error *e)
{
    for (; e; e = dbr_error_cause(e))
        if (dbr_error_kind_of(e) == DBR_ERR_DATA_CORRUPTED)
            return !dbr_error_transient(e);
    return false;
}

START_TEST(test_corrupt_file_never_retried)
{
    static const char junk[] = "this is not an SQLite database: a text long enough to cover the "
                               "100 bytes of its header, and then some more bytes to be sure.";
    char *path = db_path("corrupt.db");
    dbr_error *err = NULL;
    dbr_db *db;

    /* at open */
    ck_assert(g_file_set_contents(path, junk, -1, NULL));
    err = t_open_fail("[database]\ndriver = sqlite\nconninfo = file:%s\n", path);
    ck_assert_msg(corrupted(err), "%s", dbr_error_message(err));
    g_clear_pointer(&err, dbr_error_free);
    /* under a running db: every call opens a new connection, which finds it */
    ck_assert(g_unlink(path) == 0);
    db = t_open("[database]\ndriver = sqlite\nconninfo = file:%s?_journal_mode=delete\n"
                "max_idle_conns = 0\n"
                "[chain]\nplugins = retry\n[plugin.retry]\ninitial_interval = 1ms\n",
                path);
    t_exec(db, "CREATE TABLE t (v text)");
    dbr_subscribe(db, count_retries, NULL);
    ck_assert(g_file_set_contents(path, junk, -1, NULL));
    ck_assert(!dbr_exec(db, NULL, "SELECT count(*) FROM t", 0, NULL, &err));
    ck_assert_msg(corrupted(err), "%s", dbr_error_message(err));
    ck_assert_int_eq(g_atomic_int_get(&retries), 0);
    dbr_error_free(err);
    dbr_close(db);
    g_free(path);
}
END_TEST

START_TEST(test_read_only_file)
{
    dbr_db *db = open_file("ro.db", NULL, NULL), *ro;
    char *path = db_path("ro.db");
    dbr_error *err = NULL;

    t_exec(db, "CREATE TABLE t (v text)");
    dbr_close(db);
    ro = t_open("[database]\ndriver = sqlite\nconninfo = file:%s?mode=ro\n", path);
    ck_assert_int_eq(t_int(ro, "SELECT count(*) FROM t"), 0);
    ck_assert(!dbr_exec(ro, NULL, "INSERT INTO t (v) VALUES ('x')", 0, NULL, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_READ_ONLY, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    dbr_close(ro);
    g_free(path);
}
END_TEST

/* ---- transaction states ---- */

static bool fail_then_go_on(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_error *e = NULL;

    ck_assert(dbr_tx_exec(tx, "INSERT INTO t (v) VALUES ('first')", 0, NULL, err));
    ck_assert(!dbr_tx_exec(tx, "INSERT INTO t (v) VALUES (NULL)", 0, NULL, &e));
    dbr_error_free(e);
    /* as PostgreSQL: the block takes nothing more */
    ck_assert(!dbr_tx_exec(tx, "INSERT INTO t (v) VALUES ('after')", 0, NULL, &e));
    ck_assert_str_eq(dbr_error_sqlstate(e), "25P02");
    dbr_error_free(e);
    return true;
}

/* A write interrupted at the deadline inside a transaction: SQLite rolls
 * the whole transaction back by itself. */
static bool slow_write(dbr_tx *tx, void *user, dbr_error **err)
{
    return dbr_tx_exec(tx, "INSERT INTO t (v) VALUES ('before')", 0, NULL, err) &&
           dbr_tx_exec(tx,
                       "INSERT INTO t (v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                       "FROM c WHERE x < 100000000) SELECT 'x' || x FROM c",
                       0, NULL, err);
}

START_TEST(test_failed_and_rolled_back_transactions)
{
    dbr_db *db = open_file("tx.db", NULL, "max_open_conns = 1\n");
    dbr_ctx *ctx = dbr_ctx_with_timeout(300);
    dbr_error *err = NULL;

    t_exec(db, "CREATE TABLE t (v text NOT NULL)");
    ck_assert(!dbr_tx_run(db, NULL, NULL, fail_then_go_on, NULL, &err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    ck_assert(!dbr_tx_run(db, ctx, NULL, slow_write, NULL, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_TIMEOUT, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    /* nothing of either, and the one connection is clean */
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM t"), 0);
    t_exec(db, "INSERT INTO t (v) VALUES ('ok')");
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM t"), 1);
    dbr_ctx_free(ctx);
    dbr_close(db);
}
END_TEST

/* ---- parameters and the cache ---- */

START_TEST(test_parameters)
{
    dbr_db *db = open_file("params.db", NULL, NULL);
    static const char blob[] = {'a', 0, 'b', (char)0xff};
    const char *vals[] = {blob, "7"};
    int lens[] = {4, 0}, fmts[] = {1, 0};
    dbr_args args = {2, vals, lens, fmts};
    const char *one[] = {"x"};
    dbr_error *err = NULL;
    dbr_result *r;

    t_exec(db, "CREATE TABLE b (data blob, n integer)");
    ck_assert_msg(dbr_exec_args(db, NULL, "INSERT INTO b (data, n) VALUES ($1, $2)", &args, &err),
                  "%s", dbr_error_message(err));
    r = dbr_query(db, NULL, "SELECT data, n, length(data) FROM b", 0, NULL, &err);
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "\\x610062ff"); /* bytea's text form */
    ck_assert_str_eq(dbr_result_value(r, 0, 1), "7");
    ck_assert_str_eq(dbr_result_value(r, 0, 2), "4");
    dbr_result_free(r);
    /* only $N: SQLite's ? would bind silently by position */
    ck_assert(!dbr_exec(db, NULL, "SELECT ?", 1, one, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    g_clear_pointer(&err, dbr_error_free);
    ck_assert(!dbr_exec(db, NULL, "SELECT $1, $2", 1, one, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_msg(strstr(dbr_error_message(err), "2 parameters"), "%s", dbr_error_message(err));
    g_clear_pointer(&err, dbr_error_free);
    /* several statements need dbr_exec_script */
    ck_assert(!dbr_exec(db, NULL, "SELECT 1; SELECT 2", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_SYNTAX);
    g_clear_pointer(&err, dbr_error_free);
    ck_assert(dbr_exec_script(db, NULL, "CREATE TABLE s1 (a int); CREATE TABLE s2 (a int);", &err));
    /* a script that failed after a COMMIT of its own: some of it stays */
    ck_assert(!dbr_exec_script(db, NULL,
                               "BEGIN; INSERT INTO s1 (a) VALUES (1); COMMIT; "
                               "INSERT INTO s1 (a) VALUES (1, 2);",
                               &err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_UNKNOWN);
    g_clear_pointer(&err, dbr_error_free);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM s1"), 1);
    /* one that failed before anything committed */
    ck_assert(!dbr_exec_script(
        db, NULL, "INSERT INTO s2 (a) VALUES (1, 2); INSERT INTO s2 VALUES (3);", &err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    dbr_close(db);
}
END_TEST

START_TEST(test_statement_cache_and_schema_change)
{
    dbr_db *db = open_file("cache.db", NULL, "statement_cache_size = 2\nmax_open_conns = 1\n");
    dbr_error *err = NULL;
    dbr_result *r;

    t_exec(db, "CREATE TABLE c (a integer)");
    t_exec(db, "INSERT INTO c (a) VALUES (1)");
    for (int i = 0; i < 20; i++) {
        char sql[64];

        g_snprintf(sql, sizeof(sql), "SELECT a + %d FROM c", i % 5);
        ck_assert_int_eq(t_int(db, sql), 1 + i % 5);
    }
    r = dbr_query(db, NULL, "SELECT * FROM c", 0, NULL, &err);
    ck_assert_int_eq(dbr_result_ncols(r), 1);
    dbr_result_free(r);
    /* a cached statement after a schema change sees the new shape */
    t_exec(db, "ALTER TABLE c ADD COLUMN b text DEFAULT 'new'");
    r = dbr_query(db, NULL, "SELECT * FROM c", 0, NULL, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_ncols(r), 2);
    ck_assert_str_eq(dbr_result_value(r, 0, 1), "new");
    dbr_result_free(r);
    dbr_close(db);
}
END_TEST

/* A PRAGMA, a TEMP table or an ATTACH of one borrower never reaches the
 * next (reset = auto): the driver opens the file again. */
START_TEST(test_session_state_does_not_cross_borrowers)
{
    dbr_db *db = open_file("session.db", NULL, "max_open_conns = 1\nmax_idle_conns = 1\n");
    char *other = db_path("other.db"), *sql;
    dbr_error *err = NULL;
    dbr_result *r;

    ck_assert(dbr_supports(db, DBR_CAP_SESSION_RESET));
    t_exec(db, "PRAGMA foreign_keys = OFF");
    ck_assert_int_eq(t_int(db, "PRAGMA foreign_keys"), 1);
    t_exec(db, "CREATE TEMP TABLE scratch (a integer)");
    ck_assert(!dbr_exec(db, NULL, "SELECT * FROM scratch", 0, NULL, &err));
    g_clear_pointer(&err, dbr_error_free);
    sql = g_strdup_printf("ATTACH DATABASE '%s' AS other", other);
    t_exec(db, sql);
    r = dbr_query(db, NULL, "SELECT count(*) FROM pragma_database_list WHERE name = 'other'", 0,
                  NULL, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "0");
    dbr_result_free(r);
    /* plain statements cost no reset: the cache keeps working */
    t_exec(db, "CREATE TABLE kept (a integer)");
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM kept"), 0);
    g_free(sql);
    g_free(other);
    dbr_close(db);
}
END_TEST

/* Writers from several threads, each transaction through retry (its
 * budget out of the way: it is the retry plugin's business, not the
 * driver's): lock contention is ridden out, every transaction lands
 * exactly once. */
typedef struct writer {
    dbr_db *db;
    int id;
    gint failed;
} writer;

static bool write_one(dbr_tx *tx, void *user, dbr_error **err)
{
    const char *p[1] = {user};

    return dbr_tx_exec(tx, "INSERT INTO w (v) VALUES ($1)", 1, p, err) &&
           dbr_tx_exec(tx, "UPDATE total SET n = n + 1", 0, NULL, err);
}

static gpointer writer_thread(gpointer p)
{
    writer *w = p;

    for (int i = 0; i < 50; i++) {
        char label[32];
        dbr_error *err = NULL;

        g_snprintf(label, sizeof(label), "w%d-%d", w->id, i);
        if (!dbr_tx_run(w->db, NULL, NULL, write_one, label, &err)) {
            fprintf(stderr, "%s: %s\n", label, dbr_error_message(err));
            g_atomic_int_inc(&w->failed);
            dbr_error_free(err);
        }
    }
    return NULL;
}

START_TEST(test_concurrent_writers_through_retry)
{
    dbr_db *db = open_file("writers.db", "_busy_timeout=5&_synchronous=normal",
                           "max_open_conns = 4\n[chain]\nplugins = retry\n"
                           "[plugin.retry]\nmax_attempts = 100\ninitial_interval = 1ms\n"
                           "max_interval = 50ms\n"
                           "budget_min_retries = 1000000\n");
    writer w[4];
    GThread *th[4];
    int failed = 0;

    retries = 0;
    dbr_subscribe(db, count_retries, NULL);
    t_exec(db, "CREATE TABLE w (v text PRIMARY KEY)");
    t_exec(db, "CREATE TABLE total (n integer NOT NULL)");
    t_exec(db, "INSERT INTO total (n) VALUES (0)");
    for (int i = 0; i < 4; i++) {
        w[i] = (writer){.db = db, .id = i};
        th[i] = g_thread_new("writer", writer_thread, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(th[i]);
        failed += g_atomic_int_get(&w[i].failed);
    }
    printf("concurrent writers: 200 transactions, %d retries, %d failed\n",
           g_atomic_int_get(&retries), failed);
    ck_assert_int_eq(failed, 0);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM w"), 200);
    ck_assert_int_eq(t_int(db, "SELECT n FROM total"), 200);
    dbr_unsubscribe(db, count_retries, NULL);
    dbr_close(db);
}
END_TEST

/* ---- the driver's slots, called directly ----
 * Typed reads, prepare and streams through the module's own table, so that
 * they are tested whatever the core in front of them does yet. */

static const struct dbr_driver_ops *load_ops(void **handle)
{
    const char *root = getenv("DBR_TEST_BUILD_ROOT");
    char *path;
    dbr_module_entry_fn entry;

    ck_assert_msg(root && *root, "DBR_TEST_BUILD_ROOT is not set: run through meson test");
    path = g_build_filename(root, "drivers", "dbr-driver-sqlite.so", NULL);
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(*handle, "%s: %s", path, dlerror());
    g_free(path);
    entry = (dbr_module_entry_fn)dlsym(*handle, DBR_MODULE_ENTRY_SYMBOL);
    ck_assert_ptr_nonnull(entry);
    return entry()->ops;
}

static dbr_driver_result *run(const struct dbr_driver_ops *ops, dbr_driver_conn *c, const char *sql,
                              const dbr_args *args, const dbr_wait *w)
{
    dbr_error *err = NULL;
    dbr_driver_result *r = ops->exec(c, sql, args, DBR_EXEC_CACHE, w, &err);

    ck_assert_msg(r, "%s: %s", sql, dbr_error_message(err));
    return r;
}

typedef struct streamed {
    const struct dbr_driver_ops *ops;
    long long seen, stop_at;
} streamed;

static bool on_row(void *user, dbr_driver_result *row, dbr_error **err)
{
    streamed *s = user;
    bool go_on;

    ck_assert_int_eq(s->ops->result_nrows(row), 1);
    s->seen++;
    go_on = !s->stop_at || s->seen < s->stop_at;
    s->ops->result_free(row); /* what the core does with each row */
    return go_on;
}

static int64_t utc_us(int y, int mo, int d, int h)
{
    GDateTime *t = g_date_time_new_utc(y, mo, d, h, 0, 0);
    int64_t us = g_date_time_to_unix(t) * G_USEC_PER_SEC;

    g_date_time_unref(t);
    return us;
}

START_TEST(test_driver_slots_typed_prepare_stream)
{
    void *handle;
    const struct dbr_driver_ops *ops = load_ops(&handle);
    dbr_driver_opts opts = {.struct_size = sizeof(opts), .statement_cache_size = 4};
    dbr_wait w = {.deadline_us = 0, .cancel_fd = -1, .grace_us = 0};
    static const char blob[] = {'x', 0, 'y'};
    const char *vals[] = {"9007199254740993", blob, "2026-11-30 12:00:00"};
    int lens[] = {0, 3, 0}, fmts[] = {0, 1, 0};
    dbr_args args = {3, vals, lens, fmts};
    char *path = db_path("slots.db"), *conninfo = g_strdup_printf("file:%s", path);
    dbr_error *err = NULL;
    dbr_driver_conn *c;
    dbr_driver_result *r;
    streamed st = {.ops = ops};
    long long rows = 0;
    char why[128];
    dbr_value v;
    int n = -1;

    c = ops->connect(conninfo, &opts, &w, &err);
    ck_assert_msg(c, "%s", dbr_error_message(err));
    ops->result_free(run(ops, c,
                         "CREATE TABLE ty (i bigint, d real, t text, b blob, ok boolean, "
                         "ts timestamp, dt date, big text)",
                         NULL, &w));
    ops->result_free(run(ops, c,
                         "INSERT INTO ty VALUES ($1, 1.5, 'text', $2, 1, $3, '2026-11-30', "
                         "'99999999999999999999'), (NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
                         "NULL)",
                         &args, &w));
    r = run(ops, c, "SELECT i, d, t, b, ok, ts, dt, big, 1 + 1 AS two FROM ty ORDER BY i DESC",
            NULL, &w);
    ck_assert_int_eq(ops->result_coltype(r, 0), DBR_TYPE_INT);
    ck_assert_int_eq(ops->result_coltype(r, 1), DBR_TYPE_FLOAT);
    ck_assert_int_eq(ops->result_coltype(r, 2), DBR_TYPE_TEXT);
    ck_assert_int_eq(ops->result_coltype(r, 3), DBR_TYPE_BYTES);
    ck_assert_int_eq(ops->result_coltype(r, 4), DBR_TYPE_BOOL);
    ck_assert_int_eq(ops->result_coltype(r, 5), DBR_TYPE_TIMESTAMP);
    ck_assert_int_eq(ops->result_coltype(r, 6), DBR_TYPE_DATE);
    ck_assert_int_eq(ops->result_coltype(r, 8), DBR_TYPE_INT); /* no declared type: its value's */
    ck_assert_int_eq(ops->result_coltype(r, 99), DBR_TYPE_UNKNOWN);
    ck_assert(ops->result_get(r, 0, 0, DBR_TYPE_INT, &v, why, sizeof(why)));
    ck_assert(v.i == 9007199254740993LL);
    ck_assert(ops->result_get(r, 0, 1, DBR_TYPE_FLOAT, &v, why, sizeof(why)));
    ck_assert(v.d == 1.5);
    ck_assert(ops->result_get(r, 0, 3, DBR_TYPE_BYTES, &v, why, sizeof(why)));
    ck_assert_int_eq(v.bytes.len, 3);
    ck_assert(memcmp(v.bytes.data, blob, 3) == 0);
    ck_assert(ops->result_get(r, 0, 4, DBR_TYPE_BOOL, &v, why, sizeof(why)));
    ck_assert(v.b);
    ck_assert_str_eq(ops->result_value(r, 0, 4), "t");
    ck_assert(ops->result_get(r, 0, 5, DBR_TYPE_TIMESTAMP, &v, why, sizeof(why)));
    ck_assert(v.us == utc_us(2026, 11, 30, 12));
    ck_assert(ops->result_get(r, 0, 6, DBR_TYPE_DATE, &v, why, sizeof(why)));
    ck_assert(v.us == utc_us(2026, 11, 30, 0));
    /* what does not convert fails with a reason */
    ck_assert(!ops->result_get(r, 0, 7, DBR_TYPE_INT, &v, why, sizeof(why))); /* overflow */
    ck_assert(!ops->result_get(r, 0, 2, DBR_TYPE_INT, &v, why, sizeof(why)));
    ck_assert(!ops->result_get(r, 0, 2, DBR_TYPE_TIMESTAMP, &v, why, sizeof(why)));
    ck_assert(!ops->result_get(r, 1, 0, DBR_TYPE_INT, &v, why, sizeof(why)));
    ck_assert_msg(strstr(why, "NULL"), "%s", why);
    ops->result_free(r);

    /* prepare: $N counted, other parameter styles refused */
    ck_assert(ops->prepare(c, "SELECT $2, $1, $2", &n, &w, &err));
    ck_assert_int_eq(n, 2);
    ck_assert(!ops->prepare(c, "SELECT :name", &n, &w, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    g_clear_pointer(&err, dbr_error_free);
    ck_assert(!ops->prepare(c, "SELECT * FROM no_such_table", &n, &w, &err));
    g_clear_pointer(&err, dbr_error_free);

    /* streams: every row, a stop asked by the callback, a deadline */
    ck_assert(ops->exec_stream(c,
                               "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s "
                               "WHERE x < 1000) SELECT x FROM s",
                               NULL, on_row, &st, &w, &rows, &err));
    ck_assert_int_eq(st.seen, 1000);
    ck_assert_int_eq(rows, 1000);
    st.seen = 0;
    st.stop_at = 10;
    ck_assert(!ops->exec_stream(c,
                                "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s "
                                "WHERE x < 1000) SELECT x FROM s",
                                NULL, on_row, &st, &w, &rows, &err));
    ck_assert_ptr_null(err); /* the callback asked to stop: no error of the driver's */
    ck_assert_int_eq(st.seen, 10);
    ck_assert_int_eq(rows, 10);
    g_clear_pointer(&err, dbr_error_free);
    st.seen = 0;
    st.stop_at = 0;
    w.deadline_us = dbr_now_us() + 200000;
    ck_assert(!ops->exec_stream(c,
                                "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s "
                                "WHERE x < 1000000000) SELECT count(*) FROM s",
                                NULL, on_row, &st, &w, &rows, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    g_clear_pointer(&err, dbr_error_free);
    w.deadline_us = 0;

    /* transaction states as the core reads them */
    ck_assert_int_eq(ops->txstatus(c), DBR_TXSTATUS_IDLE);
    ops->result_free(run(ops, c, ops->begin_sql(&(dbr_tx_opts){0}), NULL, &w));
    ck_assert_int_eq(ops->txstatus(c), DBR_TXSTATUS_INTRANS);
    ck_assert_ptr_null(ops->exec(c, "INSERT INTO nowhere VALUES (1)", NULL, 0, &w, &err));
    g_clear_pointer(&err, dbr_error_free);
    ck_assert_int_eq(ops->txstatus(c), DBR_TXSTATUS_INERROR);
    ops->result_free(run(ops, c, "ROLLBACK", NULL, &w));
    ck_assert_int_eq(ops->txstatus(c), DBR_TXSTATUS_IDLE);
    ops->close(c);
    dlclose(handle);
    g_free(conninfo);
    g_free(path);
}
END_TEST

/* SQLite consults the progress handler once more after a statement's
 * OP_Halt has committed (when its step counter, which a cached statement
 * keeps across runs, crosses a multiple of the handler's period): a
 * deadline seen there must not report committed work as not applied. Each
 * insert outlives its 1 ms deadline (4 MB of randomblob); about one run in
 * a hundred meets that last check. */
START_TEST(test_deadline_after_commit_is_not_not_applied)
{
    dbr_db *db = open_file("late.db", NULL, "max_open_conns = 1\n");
    int failures = 0, i;

    t_exec(db, "CREATE TABLE t (v int)");
    /* Under valgrind a tenth as many: each run is 50 times slower there, and
     * the plain and sanitizer runs make the 400. */
    for (i = 0; i < (RUNNING_ON_VALGRIND ? 40 : 400) && failures < 3; i++) {
        char n[16], q[64];
        const char *p[1] = {n};
        dbr_ctx *ctx = dbr_ctx_with_timeout(1);
        dbr_error *err = NULL;
        bool ok;

        g_snprintf(n, sizeof(n), "%d", i);
        ok = dbr_exec(db, ctx, "INSERT INTO t (v) SELECT $1 WHERE length(randomblob(4000000)) > 0",
                      1, p, &err);
        g_snprintf(q, sizeof(q), "SELECT count(*) FROM t WHERE v = %d", i);
        if (ok) {
            ck_assert_int_eq(t_int(db, q), 1);
        } else {
            failures++;
            if (dbr_error_outcome(err) == DBR_OUTCOME_NOT_APPLIED)
                ck_assert_msg(t_int(db, q) == 0,
                              "insert %d reported not applied (%s) but its row is there", i,
                              dbr_error_message(err));
            else
                ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_UNKNOWN);
        }
        dbr_error_free(err);
        dbr_ctx_free(ctx);
    }
    dbr_close(db);
}
END_TEST

/* ON CONFLICT FAIL (and RAISE(FAIL)) in autocommit keep the rows written
 * before the failing one: partly applied, never "not applied". */
START_TEST(test_on_conflict_fail_is_partial)
{
    dbr_db *db = open_file("fail.db", NULL, "max_open_conns = 1\n");
    dbr_error *err = NULL;

    t_exec(db, "CREATE TABLE u (v int UNIQUE ON CONFLICT FAIL)");
    t_exec(db, "INSERT INTO u VALUES (3)");
    ck_assert(!dbr_exec(db, NULL, "INSERT INTO u SELECT column1 FROM (VALUES (1),(2),(3),(4))", 0,
                        NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONSTRAINT);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM u"), 3);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_PARTIAL);
    ck_assert(!dbr_error_retryable(err));
    g_clear_pointer(&err, dbr_error_free);
    /* the same through a trigger's RAISE(FAIL) */
    t_exec(db, "CREATE TABLE w (v int)");
    t_exec(db, "CREATE TRIGGER w_no3 BEFORE INSERT ON w WHEN new.v = 3 "
               "BEGIN SELECT RAISE(FAIL, 'no 3'); END");
    ck_assert(!dbr_exec(db, NULL, "INSERT INTO w SELECT column1 FROM (VALUES (1),(2),(3),(4))", 0,
                        NULL, &err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM w"), 2);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_PARTIAL);
    g_clear_pointer(&err, dbr_error_free);
    /* a failure that wrote nothing stays not applied (no stale change count) */
    ck_assert(!dbr_exec(db, NULL, "INSERT INTO u VALUES (3)", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    /* ON CONFLICT ABORT (the default) undoes the statement: not applied */
    t_exec(db, "CREATE TABLE a (v int UNIQUE)");
    t_exec(db, "INSERT INTO a VALUES (3)");
    ck_assert(!dbr_exec(db, NULL, "INSERT INTO a SELECT column1 FROM (VALUES (1),(2),(3),(4))", 0,
                        NULL, &err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM a"), 1);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    /* a trigger that writes, then RAISE(FAIL): the statement's own table
     * keeps nothing (its change count is 0) but the trigger's row is
     * committed: partly applied */
    t_exec(db, "CREATE TABLE audit (v int)");
    t_exec(db, "CREATE TABLE x (v int)");
    t_exec(db, "CREATE TRIGGER x_audit BEFORE INSERT ON x BEGIN INSERT INTO audit "
               "VALUES (new.v); SELECT RAISE(FAIL, 'no') WHERE new.v = 1; END");
    ck_assert(!dbr_exec(db, NULL, "INSERT INTO x VALUES (1)", 0, NULL, &err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM audit"), 1);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM x"), 0);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_PARTIAL);
    g_clear_pointer(&err, dbr_error_free);
    /* the same with RAISE(ABORT): the trigger's row is undone too */
    t_exec(db, "CREATE TABLE y (v int)");
    t_exec(db, "CREATE TRIGGER y_audit BEFORE INSERT ON y BEGIN INSERT INTO audit "
               "VALUES (new.v); SELECT RAISE(ABORT, 'no') WHERE new.v = 2; END");
    ck_assert(!dbr_exec(db, NULL, "INSERT INTO y VALUES (2)", 0, NULL, &err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM audit"), 1);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    dbr_close(db);
}
END_TEST

/* The plugins that need what only a server with a replicated, archived log
 * has refuse SQLite at open, naming the driver and the capability; the
 * health plugin without watch_archiving works. */
START_TEST(test_server_only_plugins_refuse_clearly)
{
    char *path = db_path("plugins.db");
    dbr_error *err;
    dbr_db *db;
    dbr_replication_state rs = {0};
    dbr_archive_state as = {0};

    /* A config error on the plugin's lines, in check mode (dbr check) too */
    for (int check = 0; check < 2; check++) {
        char *text =
            g_strdup_printf("[database]\ndriver = sqlite\nconninfo = file:%s?mode=rwc\n[chain]\n"
                            "plugins = router\n[plugin.router]\nstandbys = 127.0.0.1:5432\n",
                            path);
        dbr_open_opts opts = {.config_text = text, .check_only = check};

        err = NULL;
        ck_assert_ptr_null(dbr_open_with(&opts, &err));
        ck_assert_kind(err, DBR_ERR_CONFIG);
        ck_assert_msg(strstr(dbr_error_message(err), "<string>:6: [plugin.router]: ") &&
                          strstr(dbr_error_message(err), "\"replication\"") &&
                          strstr(dbr_error_message(err), "\"sqlite\""),
                      "%s", dbr_error_message(err));
        dbr_error_free(err);
        g_free(text);
        text = g_strdup_printf("[database]\ndriver = sqlite\nconninfo = file:%s?mode=rwc\n[chain]\n"
                               "plugins = health\n[plugin.health]\nwatch_archiving = true\n",
                               path);
        opts = (dbr_open_opts){.config_text = text, .check_only = check};
        err = NULL;
        ck_assert_ptr_null(dbr_open_with(&opts, &err));
        ck_assert_kind(err, DBR_ERR_CONFIG);
        ck_assert_msg(
            strstr(dbr_error_message(err), "\"archive_status\"") &&
                strstr(dbr_error_message(err), "\"sqlite\"") &&
                strstr(dbr_error_message(err), "<string>:7: [plugin.health] watch_archiving"),
            "%s", dbr_error_message(err));
        dbr_error_free(err);
        g_free(text);
    }
    db = t_open("[database]\ndriver = sqlite\nconninfo = file:%s?mode=rwc\n[chain]\n"
                "plugins = health\n[plugin.health]\ninterval = 50ms\n",
                path);
    t_exec(db, "CREATE TABLE IF NOT EXISTS h (x int)");
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM h"), 0);
    /* the calls themselves: unsupported, not applied, nothing sent */
    ck_assert(!dbr_supports(db, DBR_CAP_REPLICATION));
    ck_assert(!dbr_supports(db, DBR_CAP_ARCHIVE_STATUS));
    err = NULL;
    ck_assert(!dbr_replication_state_get(db, NULL, &rs, &err));
    ck_assert_kind(err, DBR_ERR_UNSUPPORTED);
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_msg(strstr(dbr_error_message(err), "sqlite"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_archive_state_get(db, NULL, &as, &err));
    ck_assert_kind(err, DBR_ERR_UNSUPPORTED);
    dbr_error_free(err);
    ck_assert_int_eq(rs.struct_size, 0); /* untouched */
    dbr_close(db);
    g_free(path);
}
END_TEST

/* `dbr check` and the open log line show the conninfo through the driver's
 * redact_conninfo: the path and the known settings, every other URI
 * parameter's value hidden. A password or a connection keyword from the
 * core is refused, not ignored. */
START_TEST(test_conninfo_redacted_and_password_refused)
{
    char *path = db_path("redact.db"), *pwfile = db_path("pw"), *text, **lines;
    dbr_open_opts opts = {0};
    dbr_error *err = NULL;
    bool seen = false;
    dbr_db *db;

    text = g_strdup_printf("[database]\ndriver = sqlite\n"
                           "conninfo = file:%s?mode=rwc&modeof=/Zq4/secret&_busy_timeout=200\n",
                           path);
    opts.config_text = text;
    opts.check_only = true;
    db = dbr_open_with(&opts, &err);
    ck_assert_msg(db, "%s", dbr_error_message(err));
    lines = dbr_chain_settings(db, -1);
    for (char **l = lines; *l; l++) {
        ck_assert_msg(!strstr(*l, "Zq4"), "%s", *l);
        if (g_str_has_prefix(*l, "conninfo = ")) {
            char *want =
                g_strdup_printf("conninfo = file:%s?mode=rwc&modeof=***&_busy_timeout=200", path);

            ck_assert_str_eq(*l, want);
            g_free(want);
            seen = true;
        }
    }
    ck_assert(seen);
    dbr_strv_free(lines);
    dbr_close(db);
    g_free(text);
    ck_assert(g_file_set_contents(pwfile, "Zq5\n", -1, NULL));
    ck_assert_int_eq(g_chmod(pwfile, 0600), 0);
    /* At open, on the password_file line, even without connecting or in
     * check mode (dbr check). */
    for (int mode = 0; mode < 3; mode++) {
        text = g_strdup_printf("[database]\ndriver = sqlite\nconninfo = file:%s?mode=rwc\n"
                               "password_file = %s\n%s",
                               path, pwfile, mode == 1 ? "connect_on_open = false\n" : "");
        opts = (dbr_open_opts){.config_text = text, .check_only = mode == 2};
        err = NULL;
        ck_assert_ptr_null(dbr_open_with(&opts, &err));
        ck_assert_kind(err, DBR_ERR_CONFIG);
        ck_assert_msg(strstr(dbr_error_message(err), "takes no password") &&
                          strstr(dbr_error_message(err), "<string>:4: [database] password_file") &&
                          !strstr(dbr_error_message(err), "Zq5"),
                      "%s", dbr_error_message(err));
        dbr_error_free(err);
        g_free(text);
    }
    g_free(pwfile);
    g_free(path);
}
END_TEST

/* [plugin.migrate] dir, relative: found beside the config file, whatever
 * the working directory (`dbr migrate -c conf/app.ini` from anywhere). */
START_TEST(test_migrate_dir_is_relative_to_the_config_file)
{
    char *conf = db_path("conf"), *mig = g_build_filename(conf, "mig", NULL);
    char *up = g_build_filename(mig, "0001_t.up.sql", NULL), *ini = db_path("conf/app.ini");
    char *text, *dbfile = db_path("conf/app.db"), *reply = NULL;
    dbr_error *err = NULL;
    dbr_db *db;

    ck_assert_int_eq(g_mkdir_with_parents(mig, 0700), 0);
    ck_assert(g_file_set_contents(up, "CREATE TABLE t (x int);\n", -1, NULL));
    text = g_strdup_printf("[database]\ndriver = sqlite\nconninfo = file:%s?mode=rwc\n[chain]\n"
                           "plugins = migrate\n[plugin.migrate]\ndir = mig\n",
                           dbfile);
    ck_assert(g_file_set_contents(ini, text, -1, NULL));
    db = dbr_open(ini, &err); /* the tests run in the build directory, not conf/ */
    ck_assert_msg(db, "%s", dbr_error_message(err));
    ck_assert_msg(dbr_control(db, "migrate", "up", &reply, &err), "%s", dbr_error_message(err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM t"), 0);
    g_free(reply);
    dbr_close(db);
    g_free(text);
    g_free(conf);
    g_free(mig);
    g_free(up);
    g_free(ini);
    g_free(dbfile);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sqlite");
    TCase *tc = tcase_create("driver");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_conninfo_checked_before_any_io);
    tcase_add_test(tc, test_wal_and_defaults);
    tcase_add_test(tc, test_locked_database_outcomes);
    tcase_add_test(tc, test_busy_commit_rolled_back);
    tcase_add_test(tc, test_corrupt_file_never_retried);
    tcase_add_test(tc, test_read_only_file);
    tcase_add_test(tc, test_failed_and_rolled_back_transactions);
    tcase_add_test(tc, test_parameters);
    tcase_add_test(tc, test_statement_cache_and_schema_change);
    tcase_add_test(tc, test_session_state_does_not_cross_borrowers);
    tcase_add_test(tc, test_driver_slots_typed_prepare_stream);
    tcase_add_test(tc, test_concurrent_writers_through_retry);
    tcase_add_test(tc, test_deadline_after_commit_is_not_not_applied);
    tcase_add_test(tc, test_on_conflict_fail_is_partial);
    tcase_add_test(tc, test_server_only_plugins_refuse_clearly);
    tcase_add_test(tc, test_conninfo_redacted_and_password_refused);
    tcase_add_test(tc, test_migrate_dir_is_relative_to_the_config_file);
    suite_add_tcase(s, tc);
    return t_run(s);
}
