/* SPDX-License-Identifier: MIT */
/*
 * The driver conformance suite: one Check suite, written against the public
 * API only, that every dbr driver must pass. It runs twice in dbr's own CI
 * (tests/meson.build: conformance_pq, conformance_sqlite), and a third-party
 * driver author runs it against theirs (docs/writing-drivers.md).
 *
 * Environment:
 *   DBR_CONFORMANCE_CONFIG    the [database] lines naming the driver, e.g.
 *                             "driver = sqlite\nconninfo = file:/tmp/c.db?mode=rwc"
 *                             (${VAR} expands as in any config), or @FILE
 *                             for a file holding them; the suite adds pool
 *                             limits and chains of its own
 *   DBR_CONFORMANCE_SLOW_SQL  a statement that runs for a minute or more
 *                             unless stopped (default: a recursive CTE
 *                             counting to 1e9)
 *   DBR_CONFORMANCE_FAULT     how to break a call in the middle:
 *                             "lock": another connection holds the write
 *                             lock (BEGIN IMMEDIATE) until the victim's call
 *                             has been retried; "sql:STATEMENT": run
 *                             STATEMENT on another connection, repeatedly
 *                             until its first value is not 0, while the
 *                             victim runs DBR_CONFORMANCE_SLOW_SQL (marked
 *                             with the comment dbr_conformance_victim),
 *                             e.g. one that terminates the victim's session
 *   DBR_TEST_TMPDIR           files the suite makes (migrations)
 *
 * Tables the suite makes are named conf_* and dropped first. A capability
 * the driver does not declare (dbr_supports) is skipped explicitly: the
 * test prints "SKIP <capability>: driver <name> lacks DBR_CAP_<...>" and
 * passes. Calls that need it must fail with DBR_ERR_UNSUPPORTED.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../testutil.h"

#define VICTIM_MARK "/* dbr_conformance_victim */ "

static char *base_config;    /* the [database] lines */
static const char *slow_sql; /* runs for a minute unless stopped */
static const char *fault;    /* "lock" or "sql:..." */
static char driver_name[64];

/* A db on the driver, with extra [database] lines and the rest of a config. */
static dbr_db *open_db(const char *db_extra, const char *rest)
{
    return t_open("[database]\n%s\n%s\n%s", base_config, db_extra ? db_extra : "",
                  rest ? rest : "");
}

static void exec_ok(dbr_db *db, const char *sql)
{
    t_exec(db, sql);
}

static void drop_tables(dbr_db *db, const char *const *names)
{
    for (; *names; names++) {
        char *sql = g_strdup_printf("DROP TABLE IF EXISTS %s", *names);

        t_exec(db, sql);
        g_free(sql);
    }
}

/* Prints the skip and tells the caller to return: the test passes. */
static bool lacks(dbr_db *db, dbr_capability cap, const char *macro)
{
    if (dbr_supports(db, cap))
        return false;
    printf("SKIP %s: driver %s lacks %s\n", dbr_capability_name(cap), driver_name, macro);
    fflush(stdout);
    return true;
}

/* ---- statements ---- */

START_TEST(test_exec_query_params_nulls)
{
    dbr_db *db = open_db(NULL, NULL);
    const char *ins[] = {"1", "one", NULL};
    const char *ins2[] = {"2", NULL, "7"};
    const char *rep[] = {"ab", "cd"};
    dbr_error *err = NULL;
    dbr_result *r;

    drop_tables(db, (const char *const[]){"conf_items", NULL});
    exec_ok(db, "CREATE TABLE conf_items (id integer PRIMARY KEY, name text, n integer)");
    ck_assert_msg(dbr_exec(db, NULL, "INSERT INTO conf_items (id, name, n) VALUES ($1, $2, $3)", 3,
                           ins, &err),
                  "%s", dbr_error_message(err));
    ck_assert(dbr_exec(db, NULL, "INSERT INTO conf_items (id, name, n) VALUES ($1, $2, $3)", 3,
                       ins2, &err));
    r = dbr_query(db, NULL, "SELECT id, name, n FROM conf_items ORDER BY id", 0, NULL, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_nrows(r), 2);
    ck_assert_int_eq(dbr_result_ncols(r), 3);
    ck_assert_str_eq(dbr_result_colname(r, 1), "name");
    ck_assert_str_eq(dbr_result_value(r, 0, 1), "one");
    ck_assert_ptr_null(dbr_result_value(r, 0, 2)); /* NULL parameter stored as NULL */
    ck_assert_ptr_null(dbr_result_value(r, 1, 1));
    ck_assert_str_eq(dbr_result_value(r, 1, 2), "7");
    /* out of range: NULL, never a crash */
    ck_assert_ptr_null(dbr_result_value(r, 5, 0));
    ck_assert_ptr_null(dbr_result_colname(r, 9));
    dbr_result_free(r);
    /* a parameter used twice, parameters out of order */
    r = dbr_query(db, NULL, "SELECT CAST($2 AS text) || CAST($1 AS text) || CAST($2 AS text)", 2,
                  rep, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "cdabcd");
    dbr_result_free(r);
    /* affected rows */
    r = dbr_query(db, NULL, "UPDATE conf_items SET n = 1", 0, NULL, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_affected(r), 2);
    dbr_result_free(r);
    /* misuse is an error, not a crash */
    ck_assert(!dbr_exec(db, NULL, NULL, 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    g_clear_pointer(&err, dbr_error_free);
    ck_assert(!dbr_exec(db, NULL, "SELECT 1", -1, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    g_clear_pointer(&err, dbr_error_free);
    /* a syntax error: syntax, not applied, not retryable */
    ck_assert(!dbr_exec(db, NULL, "SELECT 1 FROM WHERE", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_SYNTAX);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert(!dbr_error_retryable(err));
    g_clear_pointer(&err, dbr_error_free);
    ck_assert(dbr_ping(db, NULL, &err));
    dbr_close(db);
}
END_TEST

/* ---- transactions ---- */

static bool insert_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    const char *p[] = {user};

    return dbr_tx_exec(tx, "INSERT INTO conf_tx (v) VALUES ($1)", 1, p, err);
}

static bool insert_then_false(dbr_tx *tx, void *user, dbr_error **err)
{
    return insert_tx(tx, user, err) && false;
}

static bool insert_then_fail(dbr_tx *tx, void *user, dbr_error **err)
{
    return insert_tx(tx, user, err) &&
           dbr_tx_exec(tx, "INSERT INTO conf_tx (v) VALUES (NULL)", 0, NULL, err);
}

/* Swallows the failure and returns true: dbr must not commit the rest. */
static bool insert_swallow(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_error *e = NULL;

    if (!insert_tx(tx, user, err))
        return false;
    ck_assert(!dbr_tx_exec(tx, "INSERT INTO conf_tx (v) VALUES (NULL)", 0, NULL, &e));
    dbr_error_free(e);
    return true;
}

START_TEST(test_tx_commit_rollback)
{
    dbr_db *db = open_db(NULL, NULL);
    dbr_error *err = NULL;

    drop_tables(db, (const char *const[]){"conf_tx", NULL});
    exec_ok(db, "CREATE TABLE conf_tx (v text NOT NULL)");
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, insert_tx, "a", &err), "%s", dbr_error_message(err));
    /* the callback says no: rolled back, no error */
    ck_assert(!dbr_tx_run(db, NULL, NULL, insert_then_false, "b", &err));
    ck_assert_ptr_null(err);
    /* a statement fails: rolled back, the statement's kind, not applied */
    ck_assert(!dbr_tx_run(db, NULL, NULL, insert_then_fail, "c", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONSTRAINT);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    /* a failure the callback swallowed: rolled back all the same */
    ck_assert(!dbr_tx_run(db, NULL, NULL, insert_swallow, "d", &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    /* a read-only transaction refuses to write */
    ck_assert(!dbr_tx_read_only(db, NULL, insert_tx, "e", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_READ_ONLY);
    g_clear_pointer(&err, dbr_error_free);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM conf_tx"), 1);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM conf_tx WHERE v = 'a'"), 1);
    /* every isolation level is given or refused, never silently weaker:
     * what runs must commit */
    for (int iso = DBR_ISOLATION_DEFAULT; iso <= DBR_ISOLATION_SERIALIZABLE; iso++) {
        dbr_tx_opts o = {.isolation = (dbr_isolation)iso};

        if (!dbr_tx_run(db, NULL, &o, insert_tx, "iso", &err)) {
            ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_UNSUPPORTED, "isolation %d: %s", iso,
                          dbr_error_message(err));
            printf("isolation %d refused: %s\n", iso, dbr_error_message(err));
            g_clear_pointer(&err, dbr_error_free);
        }
    }
    dbr_close(db);
}
END_TEST

static bool sp_fail(dbr_tx *tx, void *user, dbr_error **err)
{
    return insert_tx(tx, "inner", err) && insert_tx(tx, NULL, err);
}

static bool sp_ok(dbr_tx *tx, void *user, dbr_error **err)
{
    return insert_tx(tx, "kept", err);
}

static bool sp_nested(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_error *e = NULL;

    if (!dbr_tx_savepoint(tx, sp_ok, NULL, err))
        return false;
    ck_assert(!dbr_tx_savepoint(tx, sp_fail, NULL, &e));
    ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_CONSTRAINT);
    ck_assert_int_eq(dbr_error_outcome(e), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(e);
    return insert_tx(tx, "outer", err);
}

static bool sp_outer(dbr_tx *tx, void *user, dbr_error **err)
{
    return dbr_tx_savepoint(tx, sp_nested, NULL, err);
}

START_TEST(test_savepoints)
{
    dbr_db *db = open_db(NULL, NULL);
    dbr_error *err = NULL;

    drop_tables(db, (const char *const[]){"conf_tx", NULL});
    exec_ok(db, "CREATE TABLE conf_tx (v text NOT NULL)");
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, sp_outer, NULL, &err), "%s", dbr_error_message(err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM conf_tx"), 2);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM conf_tx WHERE v = 'inner'"), 0);
    dbr_close(db);
}
END_TEST

START_TEST(test_constraint_errors)
{
    dbr_db *db = open_db(NULL, NULL);
    dbr_error *err = NULL;

    drop_tables(db, (const char *const[]){"conf_child", "conf_parent", NULL});
    exec_ok(db, "CREATE TABLE conf_parent (id integer PRIMARY KEY, u text UNIQUE, "
                "c integer CHECK (c > 0))");
    exec_ok(db, "CREATE TABLE conf_child (p integer NOT NULL REFERENCES conf_parent (id))");
    exec_ok(db, "INSERT INTO conf_parent (id, u, c) VALUES (1, 'x', 1)");
    {
        static const struct {
            const char *sql, *sqlstate;
        } cases[] = {
            {"INSERT INTO conf_parent (id, u, c) VALUES (1, 'y', 1)", "23505"},
            {"INSERT INTO conf_parent (id, u, c) VALUES (2, 'x', 1)", "23505"},
            {"INSERT INTO conf_parent (id, u, c) VALUES (3, 'z', 0)", "23514"},
            {"INSERT INTO conf_child (p) VALUES (NULL)", "23502"},
            {"INSERT INTO conf_child (p) VALUES (99)", "23503"},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
            ck_assert_msg(!dbr_exec(db, NULL, cases[i].sql, 0, NULL, &err), "%s succeeded",
                          cases[i].sql);
            ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_CONSTRAINT, "%s: %s", cases[i].sql,
                          dbr_error_message(err));
            ck_assert_str_eq(dbr_error_sqlstate(err), cases[i].sqlstate);
            ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
            ck_assert(!dbr_error_retryable(err));
            g_clear_pointer(&err, dbr_error_free);
        }
    }
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM conf_child"), 0);
    dbr_close(db);
}
END_TEST

START_TEST(test_run_once)
{
    dbr_db *db = open_db(NULL, NULL);
    char *key = g_strdup_printf("conformance-%d-%lld", (int)getpid(), (long long)dbr_now_us());
    dbr_error *err = NULL;
    bool already = true;

    drop_tables(db, (const char *const[]){"conf_tx", NULL});
    exec_ok(db, "CREATE TABLE conf_tx (v text NOT NULL)");
    ck_assert_msg(dbr_tx_run_once(db, NULL, NULL, key, insert_tx, "once", &already, &err), "%s",
                  dbr_error_message(err));
    ck_assert(!already);
    /* run again, as after a crash: nothing applied, reported as done */
    ck_assert(dbr_tx_run_once(db, NULL, NULL, key, insert_tx, "once", &already, &err));
    ck_assert(already);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM conf_tx"), 1);
    g_free(key);
    dbr_close(db);
}
END_TEST

/* ---- deadlines and cancel ---- */

typedef struct canceler {
    dbr_ctx *ctx;
    int after_ms;
} canceler;

static gpointer cancel_later(gpointer p)
{
    canceler *c = p;

    g_usleep((gulong)c->after_ms * 1000);
    dbr_ctx_cancel(c->ctx);
    return NULL;
}

START_TEST(test_deadline_and_cancel)
{
    dbr_db *db = open_db(NULL, NULL);
    dbr_ctx *ctx = dbr_ctx_with_timeout(300);
    dbr_error *err = NULL;
    int64_t t0 = dbr_now_us();
    canceler c;
    GThread *th;

    ck_assert(!dbr_exec(db, ctx, slow_sql, 0, NULL, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_TIMEOUT, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    /* generous on a loaded machine: the statement alone runs a minute */
    ck_assert_int_lt(dbr_now_us() - t0, 20 * G_USEC_PER_SEC);
    g_clear_pointer(&err, dbr_error_free);
    dbr_ctx_free(ctx);
    /* the connection is clean after it */
    ck_assert_int_eq(t_int(db, "SELECT 41 + 1"), 42);

    /* a cancel from another thread stops the statement */
    c.ctx = dbr_ctx_new();
    c.after_ms = 300;
    th = g_thread_new("cancel", cancel_later, &c);
    t0 = dbr_now_us();
    ck_assert(!dbr_exec(db, c.ctx, slow_sql, 0, NULL, &err));
    g_thread_join(th);
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_CANCELED, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_lt(dbr_now_us() - t0, 20 * G_USEC_PER_SEC);
    g_clear_pointer(&err, dbr_error_free);
    dbr_ctx_free(c.ctx);
    ck_assert_int_eq(t_int(db, "SELECT 41 + 1"), 42);
    dbr_close(db);
}
END_TEST

/* ---- the pool ---- */

typedef struct holders {
    dbr_db *db;
    gint held, release;
    gint waited_ok;
} holders;

static bool hold_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    holders *h = user;
    dbr_result *r = dbr_tx_query(tx, "SELECT 1", 0, NULL, err);
    int64_t end = dbr_now_us() + 30 * G_USEC_PER_SEC;

    if (!r)
        return false;
    dbr_result_free(r);
    g_atomic_int_inc(&h->held);
    while (!g_atomic_int_get(&h->release) && dbr_now_us() < end)
        g_usleep(5000);
    return true;
}

static gpointer hold_thread(gpointer p)
{
    holders *h = p;
    dbr_error *err = NULL;

    /* read-only: any number of them may hold their connection at once */
    if (!dbr_tx_read_only(h->db, NULL, hold_tx, h, &err)) {
        fprintf(stderr, "holder: %s\n", dbr_error_message(err));
        dbr_error_free(err);
    }
    return NULL;
}

static gpointer wait_thread(gpointer p)
{
    holders *h = p;
    dbr_error *err = NULL;
    dbr_result *r = dbr_query(h->db, NULL, "SELECT 1", 0, NULL, &err);

    g_atomic_int_set(&h->waited_ok, r != NULL);
    dbr_result_free(r);
    dbr_error_free(err);
    return NULL;
}

static bool two_held(void *p)
{
    return g_atomic_int_get(&((holders *)p)->held) == 2;
}

static bool one_waiting(void *p)
{
    return dbr_pool_waiters(((holders *)p)->db) >= 1;
}

START_TEST(test_pool_limits)
{
    holders h = {.db = open_db("max_open_conns = 2\nmax_idle_conns = 2", NULL)};
    dbr_ctx *ctx = dbr_ctx_with_timeout(300);
    dbr_error *err = NULL;
    dbr_pool_stats st;
    GThread *a, *b, *w;

    a = g_thread_new("hold", hold_thread, &h);
    b = g_thread_new("hold", hold_thread, &h);
    ck_assert(t_wait_for(two_held, &h, 30000));
    dbr_pool_stats_get(h.db, &st);
    ck_assert_int_eq(st.max_open, 2);
    ck_assert_int_eq(st.in_use, 2);
    /* no connection by the deadline: pool-exhausted, nothing sent */
    ck_assert(!dbr_exec(h.db, ctx, "SELECT 1", 0, NULL, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_POOL_EXHAUSTED, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    /* without a deadline a caller waits its turn */
    w = g_thread_new("wait", wait_thread, &h);
    ck_assert(t_wait_for(one_waiting, &h, 30000));
    g_atomic_int_set(&h.release, 1);
    g_thread_join(a);
    g_thread_join(b);
    g_thread_join(w);
    ck_assert(g_atomic_int_get(&h.waited_ok));
    dbr_pool_stats_get(h.db, &st);
    ck_assert_int_le(st.open, 2);
    ck_assert_int_ge(st.wait_count, 1);
    dbr_ctx_free(ctx);
    dbr_close(h.db);
}
END_TEST

/* ---- migrations ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char *path = g_build_filename(dir, name, NULL);

    ck_assert(g_file_set_contents(path, text, -1, NULL));
    g_free(path);
}

static char *control(dbr_db *db, const char *plugin, const char *cmd)
{
    dbr_error *err = NULL;
    char *reply = NULL;

    ck_assert_msg(dbr_control(db, plugin, cmd, &reply, &err), "%s %s: %s", plugin, cmd,
                  dbr_error_message(err));
    return reply;
}

START_TEST(test_migrations_up_down)
{
    char *dir = t_tmpdir("conformance-migrations");
    dbr_db *plain = open_db(NULL, NULL), *db;
    char *rest, *reply;

    drop_tables(plain, (const char *const[]){"conf_users", "conf_migrations",
                                             "conf_migrations_lock", NULL});
    /* portable SQL: what any driver's database takes */
    write_file(dir, "0001_users.up.sql",
               "CREATE TABLE conf_users (id integer PRIMARY KEY, name text NOT NULL UNIQUE);\n"
               "INSERT INTO conf_users (id, name) VALUES (1, 'root');\n");
    write_file(dir, "0001_users.down.sql", "DROP TABLE conf_users;\n");
    write_file(dir, "0002_email.up.sql", "ALTER TABLE conf_users ADD COLUMN email text;\n");
    write_file(dir, "0002_email.down.sql", "ALTER TABLE conf_users DROP COLUMN email;\n");
    rest = g_strdup_printf("[chain]\nplugins = retry, migrate\n[plugin.migrate]\ndir = %s\n"
                           "table = conf_migrations\n",
                           dir);
    db = open_db(NULL, rest);
    g_free(control(db, "migrate", "up"));
    ck_assert_int_eq(t_int(plain, "SELECT count(*) FROM conf_migrations"), 2);
    exec_ok(plain, "UPDATE conf_users SET email = 'r@example.org'");
    reply = control(db, "migrate", "status");
    ck_assert_msg(strstr(reply, "\"version\""), "%s", reply);
    g_free(reply);
    g_free(control(db, "migrate", "down 1"));
    ck_assert_int_eq(t_int(plain, "SELECT count(*) FROM conf_migrations"), 1);
    ck_assert_int_eq(t_int(plain, "SELECT count(*) FROM conf_users"), 1);
    g_free(control(db, "migrate", "down 1"));
    ck_assert_int_eq(t_int(plain, "SELECT count(*) FROM conf_migrations"), 0);
    /* up again from nothing: the same folder, the same result */
    g_free(control(db, "migrate", "up"));
    ck_assert_int_eq(t_int(plain, "SELECT count(*) FROM conf_users"), 1);
    dbr_close(db);
    dbr_close(plain);
    g_free(rest);
    g_free(dir);
}
END_TEST

/* ---- the chain with a fault in the middle ---- */

typedef struct chain_case {
    dbr_db *db, *other;
    gint retries, attempts, holding, done;
} chain_case;

static void on_event(const dbr_event *ev, void *user)
{
    chain_case *c = user;

    if (strcmp(dbr_event_type(ev), "retry.attempt") == 0)
        g_atomic_int_inc(&c->retries);
}

static bool victim_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    chain_case *c = user;
    int attempt = g_atomic_int_add(&c->attempts, 1) + 1;

    if (!dbr_tx_exec(tx, "INSERT INTO conf_chain (v) VALUES ('victim')", 0, NULL, err))
        return false;
    if (attempt == 1 && g_str_has_prefix(fault, "sql:")) {
        char *sql = g_strconcat(VICTIM_MARK, slow_sql, NULL);
        bool ok = dbr_tx_exec(tx, sql, 0, NULL, err);

        g_free(sql);
        return ok;
    }
    return true;
}

static bool holder_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    chain_case *c = user;
    int64_t end = dbr_now_us() + 30 * G_USEC_PER_SEC;

    if (!dbr_tx_exec(tx, "INSERT INTO conf_chain (v) VALUES ('holder')", 0, NULL, err))
        return false;
    g_atomic_int_set(&c->holding, 1);
    /* held until the victim has failed on the lock and been retried */
    while (g_atomic_int_get(&c->retries) < 1 && dbr_now_us() < end)
        g_usleep(5000);
    return true;
}

static gpointer fault_thread(gpointer p)
{
    chain_case *c = p;
    dbr_error *err = NULL;
    int64_t end = dbr_now_us() + 30 * G_USEC_PER_SEC;

    if (strcmp(fault, "lock") == 0) {
        if (!dbr_tx_run(c->other, NULL, NULL, holder_tx, c, &err))
            fprintf(stderr, "holder: %s\n", dbr_error_message(err));
        dbr_error_free(err);
        return NULL;
    }
    /* until the statement has reached the victim's session */
    while (!g_atomic_int_get(&c->done) && dbr_now_us() < end) {
        dbr_result *r = dbr_query(c->other, NULL, fault + 4, 0, NULL, &err);
        bool hit = r && dbr_result_value(r, 0, 0) && strcmp(dbr_result_value(r, 0, 0), "0") != 0;

        dbr_result_free(r);
        g_clear_pointer(&err, dbr_error_free);
        if (hit)
            break;
        g_usleep(20000);
    }
    return NULL;
}

static bool holding(void *p)
{
    return g_atomic_int_get(&((chain_case *)p)->holding);
}

START_TEST(test_chain_retry_rides_out_a_fault)
{
    chain_case c = {0};
    dbr_ctx *ctx = dbr_ctx_with_timeout(60000);
    dbr_error *err = NULL;
    char *reply;
    GThread *th;

    c.other = open_db(NULL, NULL);
    drop_tables(c.other, (const char *const[]){"conf_chain", NULL});
    exec_ok(c.other, "CREATE TABLE conf_chain (v text NOT NULL)");
    c.db = open_db(NULL, "[chain]\nplugins = retry, breaker, health\n"
                         "[plugin.retry]\nmax_attempts = 20\ninitial_interval = 50ms\n"
                         "max_interval = 200ms\njitter = false\n"
                         "[plugin.breaker]\nmax_failures = 50\n"
                         "[plugin.health]\ninterval = 1h\n");
    dbr_subscribe(c.db, on_event, &c);
    th = g_thread_new("fault", fault_thread, &c);
    if (strcmp(fault, "lock") == 0)
        ck_assert(t_wait_for(holding, &c, 30000));
    ck_assert_msg(dbr_tx_run(c.db, ctx, NULL, victim_tx, &c, &err), "%s", dbr_error_message(err));
    g_atomic_int_set(&c.done, 1);
    g_thread_join(th);
    printf("chain: the victim's transaction succeeded after %d retries (fault %s)\n",
           g_atomic_int_get(&c.retries), strcmp(fault, "lock") == 0 ? "lock" : "sql");
    ck_assert_int_ge(g_atomic_int_get(&c.retries), 1);
    /* applied exactly once */
    ck_assert_int_eq(t_int(c.other, "SELECT count(*) FROM conf_chain WHERE v = 'victim'"), 1);
    if (strcmp(fault, "lock") == 0)
        ck_assert_int_eq(t_int(c.other, "SELECT count(*) FROM conf_chain WHERE v = 'holder'"), 1);
    /* the breaker stayed closed, health sees a working database */
    reply = control(c.db, "breaker", "state");
    ck_assert_msg(strstr(reply, "closed"), "%s", reply);
    g_free(reply);
    reply = control(c.db, "health", "check");
    ck_assert_msg(strstr(reply, "healthy"), "%s", reply);
    g_free(reply);
    dbr_unsubscribe(c.db, on_event, &c);
    dbr_ctx_free(ctx);
    dbr_close(c.db);
    dbr_close(c.other);
}
END_TEST

/* ---- capabilities ---- */

START_TEST(test_typed_results)
{
    dbr_db *db = open_db(NULL, NULL);
    dbr_error *err = NULL;
    dbr_result *r;
    int64_t i;
    double d;

    if (lacks(db, DBR_CAP_TYPED, "DBR_CAP_TYPED")) {
        dbr_close(db);
        return;
    }
    drop_tables(db, (const char *const[]){"conf_typed", NULL});
    exec_ok(db, "CREATE TABLE conf_typed (i bigint, d double precision, t text)");
    exec_ok(db, "INSERT INTO conf_typed VALUES (9007199254740993, 1.5, 'x'), (NULL, NULL, NULL)");
    r = dbr_query(db, NULL,
                  "SELECT i, d, t FROM conf_typed ORDER BY CASE WHEN i IS NULL THEN 1 ELSE 0 END",
                  0, NULL, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_coltype(r, 0), DBR_TYPE_INT);
    ck_assert_int_eq(dbr_result_coltype(r, 1), DBR_TYPE_FLOAT);
    ck_assert_int_eq(dbr_result_coltype(r, 2), DBR_TYPE_TEXT);
    ck_assert_int_eq(dbr_result_column(r, "d"), 1);
    ck_assert(dbr_result_int64(r, 0, 0, &i, &err));
    ck_assert(i == 9007199254740993LL);
    ck_assert(dbr_result_double(r, 0, 1, &d, &err));
    ck_assert(d == 1.5);
    ck_assert(dbr_result_isnull(r, 1, 0));
    ck_assert(!dbr_result_int64(r, 1, 0, &i, &err)); /* NULL: an error, not 0 */
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    g_clear_pointer(&err, dbr_error_free);
    ck_assert(!dbr_result_int64(r, 0, 2, &i, &err)); /* 'x' is no integer */
    g_clear_pointer(&err, dbr_error_free);
    /* 1.5 is no integer either, and the message never quotes a value: it
     * may be personal data, and errors are logged. */
    ck_assert(!dbr_result_int64(r, 0, 1, &i, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_msg(!strstr(dbr_error_message(err), "1.5"), "the value is quoted: %s",
                  dbr_error_message(err));
    g_clear_pointer(&err, dbr_error_free);
    dbr_result_free(r);
    dbr_close(db);
}
END_TEST

START_TEST(test_prepare)
{
    dbr_db *db = open_db(NULL, NULL);
    const char *p[] = {"20", "22"};
    dbr_error *err = NULL;
    dbr_result *r;
    dbr_stmt *s;

    if (lacks(db, DBR_CAP_PREPARE, "DBR_CAP_PREPARE")) {
        dbr_close(db);
        return;
    }
    s = dbr_prepare(db, NULL, "SELECT CAST($1 AS integer) + CAST($2 AS integer)", &err);
    ck_assert_msg(s, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_stmt_nparams(s), 2);
    for (int k = 0; k < 3; k++) {
        r = dbr_stmt_query(s, NULL, 2, p, &err);
        ck_assert_msg(r, "%s", dbr_error_message(err));
        ck_assert_str_eq(dbr_result_value(r, 0, 0), "42");
        dbr_result_free(r);
    }
    dbr_stmt_free(s);
    /* a statement that cannot be prepared fails at prepare */
    ck_assert_ptr_null(dbr_prepare(db, NULL, "SELECT * FROM conf_no_such_table", &err));
    ck_assert_ptr_nonnull(err);
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

static bool count_row(const dbr_result *row, void *user, dbr_error **err)
{
    (*(long long *)user)++;
    return dbr_result_nrows(row) == 1;
}

START_TEST(test_stream)
{
    dbr_db *db = open_db(NULL, NULL);
    dbr_error *err = NULL;
    long long seen = 0, rows = 0;

    if (lacks(db, DBR_CAP_STREAM, "DBR_CAP_STREAM")) {
        dbr_close(db);
        return;
    }
    ck_assert_msg(dbr_query_stream(db, NULL,
                                   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM "
                                   "c WHERE x < 1000) SELECT x FROM c",
                                   0, NULL, count_row, &seen, &rows, &err),
                  "%s", dbr_error_message(err));
    ck_assert_int_eq(seen, 1000);
    ck_assert_int_eq(rows, 1000);
    dbr_close(db);
}
END_TEST

/* Every driver runs batches: in one round trip with DBR_CAP_PIPELINE, one
 * by one without, with the same results and outcomes (dbr/batch.h). */
static dbr_batch *three_inserts(const char *bad_one)
{
    dbr_batch *b = dbr_batch_new();
    const char *vals[3] = {"b1", "b2", "b3"};
    dbr_error *err = NULL;

    for (int i = 0; i < 3; i++) {
        const char *p[1] = {vals[i]};
        bool bad = bad_one && strcmp(vals[i], bad_one) == 0;

        ck_assert(dbr_batch_add(b, "INSERT INTO conf_batch (v) VALUES ($1)", 1,
                                bad ? (const char *const[]){NULL} : p, &err));
    }
    return b;
}

START_TEST(test_batch)
{
    dbr_db *db = open_db(NULL, NULL);
    dbr_error *err = NULL;
    dbr_batch *b;

    if (!dbr_supports(db, DBR_CAP_PIPELINE))
        printf("batch: driver %s lacks DBR_CAP_PIPELINE: its batches run one by one\n",
               driver_name);
    drop_tables(db, (const char *const[]){"conf_batch", NULL});
    exec_ok(db, "CREATE TABLE conf_batch (v text NOT NULL)");
    b = three_inserts(NULL);
    ck_assert_msg(dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, &err), "%s", dbr_error_message(err));
    ck_assert_ptr_nonnull(dbr_batch_result(b, 2));
    dbr_batch_free(b);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM conf_batch"), 3);
    /* atomic: one failure, nothing applied */
    b = three_inserts("b3");
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, &err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    g_clear_pointer(&err, dbr_error_free);
    ck_assert_int_eq(dbr_error_kind_of(dbr_batch_error(b, 2)), DBR_ERR_CONSTRAINT);
    dbr_batch_free(b);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM conf_batch"), 3);
    /* each on its own: the others applied, the outcome partial */
    b = three_inserts("b2");
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_PARTIAL);
    g_clear_pointer(&err, dbr_error_free);
    ck_assert_ptr_null(dbr_batch_error(b, 0));
    ck_assert_int_eq(dbr_error_kind_of(dbr_batch_error(b, 1)), DBR_ERR_CONSTRAINT);
    ck_assert_ptr_null(dbr_batch_error(b, 2));
    dbr_batch_free(b);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM conf_batch"), 5);
    dbr_close(db);
}
END_TEST

/* COPY and LISTEN belong to the databases that have them: a driver that
 * declares them is tested by its own suites; one that does not must refuse
 * the calls before anything is sent. */
START_TEST(test_copy_and_listen_refused_when_lacking)
{
    dbr_db *db = open_db(NULL, NULL);
    dbr_error *err = NULL;

    if (dbr_supports(db, DBR_CAP_COPY)) {
        printf("copy: driver %s has DBR_CAP_COPY (its own suite tests it)\n", driver_name);
    } else {
        printf("copy: driver %s lacks DBR_CAP_COPY: checking that it is refused\n", driver_name);
        ck_assert(
            !dbr_copy_from_buffer(db, NULL, "COPY conf_none FROM STDIN", "1\n", 2, NULL, &err));
        ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_UNSUPPORTED, "%s", dbr_error_message(err));
        ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
        g_clear_pointer(&err, dbr_error_free);
    }
    if (dbr_supports(db, DBR_CAP_LISTEN)) {
        printf("listen: driver %s has DBR_CAP_LISTEN (its own suite tests it)\n", driver_name);
    } else {
        printf("listen: driver %s lacks DBR_CAP_LISTEN: checking that it is refused\n",
               driver_name);
        dbr_listener *l = dbr_listener_new(db, NULL, &err);

        ck_assert_ptr_null(l);
        ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_UNSUPPORTED, "%s", dbr_error_message(err));
        g_clear_pointer(&err, dbr_error_free);
    }
    dbr_close(db);
}
END_TEST

static bool lock_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    return dbr_tx_advisory_lock(tx, 4242, 1000, err);
}

/* A capability the driver lacks is refused before anything is sent. */
START_TEST(test_advisory_lock_or_unsupported)
{
    dbr_db *db = open_db(NULL, NULL);
    dbr_error *err = NULL;

    if (dbr_supports(db, DBR_CAP_ADVISORY_LOCK)) {
        ck_assert_msg(dbr_tx_run(db, NULL, NULL, lock_tx, NULL, &err), "%s",
                      dbr_error_message(err));
    } else {
        printf("SKIP advisory_lock: driver %s lacks DBR_CAP_ADVISORY_LOCK (checked: the call is "
               "refused as unsupported)\n",
               driver_name);
        ck_assert(!dbr_tx_run(db, NULL, NULL, lock_tx, NULL, &err));
        ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_UNSUPPORTED);
        ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
        dbr_error_free(err);
    }
    dbr_close(db);
}
END_TEST

/* What the others cover when a driver has them; listed so that a lack is
 * said, never silent. */
START_TEST(test_capabilities_declared)
{
    static const struct {
        dbr_capability cap;
        const char *macro;
    } caps[] = {
        {DBR_CAP_PREPARE, "DBR_CAP_PREPARE"},
        {DBR_CAP_TYPED, "DBR_CAP_TYPED"},
        {DBR_CAP_PIPELINE, "DBR_CAP_PIPELINE"},
        {DBR_CAP_STREAM, "DBR_CAP_STREAM"},
        {DBR_CAP_COPY, "DBR_CAP_COPY"},
        {DBR_CAP_LISTEN, "DBR_CAP_LISTEN"},
        {DBR_CAP_ADVISORY_LOCK, "DBR_CAP_ADVISORY_LOCK"},
        {DBR_CAP_COMMIT_TRACKING, "DBR_CAP_COMMIT_TRACKING"},
        {DBR_CAP_SESSION_RESET, "DBR_CAP_SESSION_RESET"},
    };
    dbr_db *db = open_db(NULL, NULL);

    for (size_t i = 0; i < G_N_ELEMENTS(caps); i++)
        if (!lacks(db, caps[i].cap, caps[i].macro))
            printf("driver %s has %s\n", driver_name, caps[i].macro);
    dbr_close(db);
}
END_TEST

static char *read_config(void)
{
    const char *v = getenv("DBR_CONFORMANCE_CONFIG");
    char *text = NULL;

    if (!v || !*v) {
        fprintf(stderr, "conformance: DBR_CONFORMANCE_CONFIG is not set (the [database] lines "
                        "naming the driver, or @FILE); see docs/writing-drivers.md\n");
        exit(2);
    }
    if (v[0] != '@')
        return g_strdup(v);
    if (!g_file_get_contents(v + 1, &text, NULL, NULL)) {
        fprintf(stderr, "conformance: cannot read %s\n", v + 1);
        exit(2);
    }
    return text;
}

int main(void)
{
    Suite *s = suite_create("conformance");
    TCase *tc = tcase_create("driver");
    dbr_module_info info = {0};
    const char *tmp = getenv("DBR_TEST_TMPDIR");
    dbr_error *err = NULL;
    char *text;
    dbr_db *db;

    base_config = read_config();
    slow_sql = getenv("DBR_CONFORMANCE_SLOW_SQL");
    if (!slow_sql || !*slow_sql)
        slow_sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < "
                   "1000000000) SELECT count(*) FROM c";
    fault = getenv("DBR_CONFORMANCE_FAULT");
    if (!fault || (strcmp(fault, "lock") != 0 && !g_str_has_prefix(fault, "sql:"))) {
        fprintf(stderr, "conformance: DBR_CONFORMANCE_FAULT must be lock or sql:STATEMENT\n");
        return 2;
    }
    if (tmp && *tmp)
        g_mkdir_with_parents(tmp, 0755);
    /* Which driver, said once at the top of the log. */
    text = g_strdup_printf("[database]\n%s\n", base_config);
    db = dbr_open_string(text, &err);
    g_free(text);
    if (!db) {
        fprintf(stderr, "conformance: cannot open the db: %s\n", dbr_error_message(err));
        return 2;
    }
    dbr_chain_module(db, -1, &info);
    g_strlcpy(driver_name, info.module ? info.module : "?", sizeof(driver_name));
    printf("conformance: driver %s %s (%s)\n", driver_name, info.version ? info.version : "",
           info.path ? info.path : "");
    dbr_close(db);

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_exec_query_params_nulls);
    tcase_add_test(tc, test_tx_commit_rollback);
    tcase_add_test(tc, test_savepoints);
    tcase_add_test(tc, test_constraint_errors);
    tcase_add_test(tc, test_run_once);
    tcase_add_test(tc, test_deadline_and_cancel);
    tcase_add_test(tc, test_pool_limits);
    tcase_add_test(tc, test_migrations_up_down);
    tcase_add_test(tc, test_chain_retry_rides_out_a_fault);
    tcase_add_test(tc, test_typed_results);
    tcase_add_test(tc, test_prepare);
    tcase_add_test(tc, test_stream);
    tcase_add_test(tc, test_batch);
    tcase_add_test(tc, test_copy_and_listen_refused_when_lacking);
    tcase_add_test(tc, test_advisory_lock_or_unsupported);
    tcase_add_test(tc, test_capabilities_declared);
    suite_add_tcase(s, tc);
    {
        int rc = t_run(s);

        g_free(base_config);
        return rc;
    }
}
