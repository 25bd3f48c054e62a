/* SPDX-License-Identifier: MIT */
/*
 * Pipelined batches against the real PostgreSQL: per-statement results and
 * errors, what ATOMIC and EACH apply when a statement in the middle fails,
 * a batch inside a transaction, a deadline in the middle, a backend
 * terminated in the middle (unknown, connection discarded, not retried) or
 * before the batch left (retried), and misuse.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbr/batch.h>

#include "../testutil.h"

static dbr_db *admin;

static dbr_db *open_pg(const char *app, const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s application_name=%s\n"
                  "max_open_conns = 1\n%s",
                  t_conninfo(), app, extra ? extra : "");
}

static void setup(void)
{
    admin = t_open("[database]\ndriver = pq\nconninfo = %s application_name=dbr_bt_admin\n",
                   t_conninfo());
    t_exec(admin, "DROP TABLE IF EXISTS bt");
    t_exec(admin, "CREATE TABLE bt (id int PRIMARY KEY, note text)");
}

static void teardown(void)
{
    t_exec(admin, "DROP TABLE IF EXISTS bt");
    t_exec(admin, "DROP TABLE IF EXISTS btd");
    dbr_close(admin);
}

static long long rows_in_bt(void)
{
    return t_int(admin, "SELECT count(*) FROM bt");
}

static void add(dbr_batch *b, const char *sql)
{
    dbr_error *err = NULL;

    ck_assert_msg(dbr_batch_add(b, sql, 0, NULL, &err), "%s: %s", sql, dbr_error_message(err));
}

/* The three inserts with a failing one in the middle. */
static dbr_batch *failing_middle(void)
{
    dbr_batch *b = dbr_batch_new();

    add(b, "INSERT INTO bt VALUES (1, 'one')");
    add(b, "INSERT INTO bt VALUES (2, 'two'::int::text)"); /* 22P02 */
    add(b, "INSERT INTO bt VALUES (3, 'three')");
    return b;
}

static void count_attempts(const dbr_event *ev, void *user)
{
    if (strcmp(dbr_event_type(ev), "retry.attempt") == 0)
        g_atomic_int_inc((gint *)user);
}

START_TEST(test_pg_batch_gives_each_statement_its_result_or_error)
{
    dbr_db *db = open_pg("dbr_bt", NULL);
    dbr_batch *b = dbr_batch_new();
    const char *p1[] = {"10", "ten"}, *p2[] = {"21"};
    dbr_error *err = NULL;
    const dbr_result *r;

    ck_assert(dbr_batch_add(b, "INSERT INTO bt VALUES ($1::int, $2) RETURNING id", 2, p1, &err));
    ck_assert(dbr_batch_add(b, "SELECT $1::int * 2 AS doubled", 1, p2, &err));
    add(b, "SELECT 1 / 0");
    add(b, "SELECT note FROM bt WHERE id = 10");
    ck_assert_int_eq(dbr_batch_count(b), 4);

    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err));
    /* statement 1 applied, 2 and 4 answered, 3 failed on its own */
    ck_assert_outcome(err, DBR_OUTCOME_PARTIAL);
    ck_assert(!dbr_error_retryable(err));
    r = dbr_batch_result(b, 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "10");
    ck_assert_int_eq(dbr_result_affected(r), 1);
    r = dbr_batch_result(b, 1);
    ck_assert_str_eq(dbr_result_colname(r, 0), "doubled");
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "42");
    ck_assert_ptr_null(dbr_batch_result(b, 2));
    ck_assert_str_eq(dbr_error_sqlstate(dbr_batch_error(b, 2)), "22012");
    ck_assert_outcome(dbr_batch_error(b, 2), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_str_eq(dbr_result_value(dbr_batch_result(b, 3), 0, 0), "ten");
    for (int i = 0; i < 4; i++)
        ck_assert_msg((dbr_batch_error(b, i) == NULL) == (i != 2), "statement %d", i + 1);
    ck_assert_ptr_null(dbr_batch_result(b, 4));
    ck_assert_ptr_null(dbr_batch_error(b, -1));
    dbr_error_free(err);

    /* A batch that succeeds whole, ATOMIC, run again after a clear. */
    dbr_batch_clear(b);
    ck_assert_int_eq(dbr_batch_count(b), 0);
    add(b, "UPDATE bt SET note = 'TEN' WHERE id = 10");
    add(b, "SELECT count(*) FROM bt");
    ck_assert_msg(dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, &err), "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_affected(dbr_batch_result(b, 0)), 1);
    ck_assert_str_eq(dbr_result_value(dbr_batch_result(b, 1), 0, 0), "1");
    ck_assert_ptr_null(dbr_batch_error(b, 0));
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_batch_atomic_with_a_failing_middle_applies_nothing)
{
    dbr_db *db = open_pg("dbr_bt", NULL);
    dbr_batch *b = failing_middle();
    dbr_error *err = NULL;

    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, &err));
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_str_eq(dbr_error_sqlstate(err), "22P02");
    ck_assert_msg(strstr(dbr_error_message(err), "statement 2 of 3"), "%s", dbr_error_message(err));
    ck_assert_int_eq(rows_in_bt(), 0);
    /* no statement stands: each has an error, none a result */
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(dbr_batch_result(b, i));
        ck_assert_ptr_nonnull(dbr_batch_error(b, i));
        ck_assert_outcome(dbr_batch_error(b, i), DBR_OUTCOME_NOT_APPLIED);
    }
    dbr_error_free(err);
    /* the connection went back clean: the next batch runs on it */
    dbr_batch_clear(b);
    add(b, "INSERT INTO bt VALUES (4, 'four')");
    ck_assert(dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, NULL));
    ck_assert_int_eq(rows_in_bt(), 1);
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_batch_each_with_a_failing_middle_applies_the_others)
{
    dbr_db *db = open_pg("dbr_bt", NULL);
    dbr_batch *b = failing_middle();
    dbr_error *err = NULL;

    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err));
    ck_assert_outcome(err, DBR_OUTCOME_PARTIAL);
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM bt WHERE id IN (1, 3)"), 2);
    ck_assert_int_eq(rows_in_bt(), 2);
    ck_assert_ptr_null(dbr_batch_error(b, 0));
    ck_assert_ptr_nonnull(dbr_batch_error(b, 1));
    ck_assert_ptr_null(dbr_batch_error(b, 2));
    ck_assert_int_eq(dbr_result_affected(dbr_batch_result(b, 2)), 1);
    dbr_error_free(err);

    /* Every statement failing: nothing applied. */
    dbr_batch_clear(b);
    add(b, "INSERT INTO bt VALUES (1, 'again')"); /* 23505 */
    add(b, "INSERT INTO bt VALUES (3, 'again')");
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err));
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_kind(err, DBR_ERR_CONSTRAINT);
    dbr_error_free(err);
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

static bool tx_batch(dbr_tx *tx, void *user, dbr_error **err)
{
    return dbr_tx_exec(tx, "INSERT INTO bt VALUES (100, 'before')", 0, NULL, err) &&
           dbr_tx_batch_run(tx, user, err);
}

START_TEST(test_pg_batch_inside_a_transaction_belongs_to_it)
{
    dbr_db *db = open_pg("dbr_bt", NULL);
    dbr_batch *b = dbr_batch_new();
    dbr_error *err = NULL;

    add(b, "INSERT INTO bt VALUES (101, 'a')");
    add(b, "SELECT count(*) FROM bt");
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, tx_batch, b, &err), "%s", dbr_error_message(err));
    /* the batch saw the transaction's own row */
    ck_assert_str_eq(dbr_result_value(dbr_batch_result(b, 1), 0, 0), "2");
    ck_assert_int_eq(rows_in_bt(), 2);

    /* A failure in the batch fails the transaction: all rolled back, the
     * statement before the batch too. */
    t_exec(admin, "DELETE FROM bt");
    dbr_batch_free(b);
    b = failing_middle();
    ck_assert(!dbr_tx_run(db, NULL, NULL, tx_batch, b, &err));
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_str_eq(dbr_error_sqlstate(err), "22P02");
    ck_assert_int_eq(rows_in_bt(), 0);
    ck_assert_ptr_nonnull(dbr_batch_error(b, 2)); /* after the failure: not run */
    dbr_error_free(err);
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_batch_deadline_in_the_middle)
{
    /* A long grace: the statements behind the canceled one finish within
     * it even on a loaded machine, so what they do is certain. */
    dbr_db *db = open_pg("dbr_bt", "cancel_grace = 20s\n");
    dbr_batch *b = dbr_batch_new();
    dbr_error *err = NULL;
    dbr_ctx *ctx;
    gint64 t0;

    add(b, "INSERT INTO bt VALUES (1, 'one')");
    add(b, "SELECT pg_sleep(30)");
    add(b, "INSERT INTO bt VALUES (3, 'three')");

    ctx = dbr_ctx_with_timeout(300);
    t0 = g_get_monotonic_time();
    ck_assert(!dbr_batch_run(db, ctx, b, DBR_BATCH_ATOMIC, &err));
    ck_assert_msg(g_get_monotonic_time() - t0 < 15 * G_USEC_PER_SEC, "took %lld ms",
                  (long long)(g_get_monotonic_time() - t0) / 1000);
    ck_assert_kind(err, DBR_ERR_TIMEOUT);
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(rows_in_bt(), 0);
    dbr_error_free(err);
    dbr_ctx_free(ctx);

    /* EACH: the first committed before the deadline, the third runs after
     * the cancel stopped the second. */
    ctx = dbr_ctx_with_timeout(300);
    ck_assert(!dbr_batch_run(db, ctx, b, DBR_BATCH_EACH, &err));
    ck_assert_kind(err, DBR_ERR_TIMEOUT);
    ck_assert_outcome(err, DBR_OUTCOME_PARTIAL);
    ck_assert_kind(dbr_batch_error(b, 1), DBR_ERR_TIMEOUT);
    ck_assert_int_eq(rows_in_bt(), 2);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    /* the canceled connection was kept and still works */
    t_exec(db, "SELECT 1");
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

typedef struct terminator {
    const char *app;
    int killed;
} terminator;

static bool sleeping(void *arg)
{
    char *sql = g_strdup_printf("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                "'%s' AND query LIKE '%%pg_sleep%%' AND state = 'active'",
                                ((terminator *)arg)->app);
    long long n = t_int(admin, sql);

    g_free(sql);
    return n > 0;
}

static gpointer terminate_when_sleeping(gpointer data)
{
    terminator *t = data;
    char *sql;

    if (!t_wait_for(sleeping, t, 20000))
        return NULL;
    sql = g_strdup_printf("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                          "application_name = '%s'",
                          t->app);
    t->killed = (int)t_int(admin, sql);
    g_free(sql);
    return NULL;
}

START_TEST(test_pg_batch_backend_terminated_mid_batch_is_unknown_and_not_retried)
{
    dbr_db *db = open_pg("dbr_bt_victim", "[chain]\nplugins = retry\n[plugin.retry]\n"
                                          "initial_interval = 1ms\nmax_interval = 10ms\n");
    terminator t = {.app = "dbr_bt_victim"};
    dbr_error *err = NULL;
    dbr_pool_stats st;
    int attempts = 0;

    dbr_subscribe(db, count_attempts, &attempts);
    for (int mode = 0; mode < 2; mode++) {
        dbr_batch *b = dbr_batch_new();
        GThread *th;

        add(b, "INSERT INTO bt VALUES (1, 'one')");
        add(b, "SELECT pg_sleep(30)");
        add(b, "INSERT INTO bt VALUES (3, 'three')");
        t.killed = 0;
        th = g_thread_new("terminator", terminate_when_sleeping, &t);
        ck_assert(!dbr_batch_run(db, NULL, b, mode ? DBR_BATCH_EACH : DBR_BATCH_ATOMIC, &err));
        g_thread_join(th);
        ck_assert_int_eq(t.killed, 1);
        ck_assert_outcome(err, DBR_OUTCOME_UNKNOWN);
        ck_assert(!dbr_error_retryable(err));
        ck_assert_int_eq(g_atomic_int_get(&attempts), 0);
        /* What the server did: ATOMIC rolled back, EACH kept the first. */
        ck_assert_int_eq(rows_in_bt(), mode ? 1 : 0);
        /* the statement that was running when the session ended */
        ck_assert_outcome(dbr_batch_error(b, 1), DBR_OUTCOME_UNKNOWN);
        if (mode)
            ck_assert_ptr_nonnull(dbr_batch_result(b, 0));
        /* the connection was discarded, not handed back */
        dbr_pool_stats_get(db, &st);
        ck_assert_int_eq(st.open, 0);
        dbr_error_free(err);
        err = NULL;
        dbr_batch_free(b);
    }
    t_exec(db, "SELECT 1");
    dbr_close(db);
}
END_TEST

static bool backend_gone(void *arg)
{
    char *sql =
        g_strdup_printf("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (const char *)arg);
    long long n = t_int(admin, sql);

    g_free(sql);
    return n == 0;
}

START_TEST(test_pg_batch_backend_terminated_before_the_batch_left_is_retried)
{
    /* No validation on checkout: the dead connection reaches the driver,
     * which finds the server's goodbye before sending anything. */
    dbr_db *db = open_pg("dbr_bt_before", "conn_validate_after = 1h\n[chain]\nplugins = retry\n"
                                          "[plugin.retry]\ninitial_interval = 1ms\n"
                                          "max_interval = 10ms\n");
    dbr_batch *b = dbr_batch_new();
    dbr_error *err = NULL;
    int attempts = 0;
    char *pid, *sql;

    dbr_subscribe(db, count_attempts, &attempts);
    pid = t_value(db, "SELECT pg_backend_pid()");
    sql = g_strdup_printf("SELECT pg_terminate_backend(%s)", pid);
    t_exec(admin, sql);
    ck_assert(t_wait_for(backend_gone, pid, 20000));
    add(b, "INSERT INTO bt VALUES (1, 'one')");
    add(b, "INSERT INTO bt VALUES (2, 'two')");
    ck_assert_msg(dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err), "%s", dbr_error_message(err));
    ck_assert_int_eq(g_atomic_int_get(&attempts), 1);
    ck_assert_int_eq(rows_in_bt(), 2);
    g_free(sql);
    g_free(pid);
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

typedef struct canceler {
    dbr_ctx *ctx;
    const char *app;
} canceler;

static gpointer cancel_when_sleeping(gpointer data)
{
    canceler *c = data;
    terminator t = {.app = c->app};

    if (t_wait_for(sleeping, &t, 20000))
        dbr_ctx_cancel(c->ctx);
    return NULL;
}

START_TEST(test_pg_batch_cancel_in_the_middle)
{
    dbr_db *db = open_pg("dbr_bt_cancel", "cancel_grace = 20s\n");
    dbr_batch *b = dbr_batch_new();
    canceler c = {.ctx = dbr_ctx_new(), .app = "dbr_bt_cancel"};
    dbr_error *err = NULL;
    GThread *th;

    add(b, "INSERT INTO bt VALUES (1, 'one')");
    add(b, "SELECT pg_sleep(30)");
    add(b, "INSERT INTO bt VALUES (3, 'three')");
    th = g_thread_new("canceler", cancel_when_sleeping, &c);
    ck_assert(!dbr_batch_run(db, c.ctx, b, DBR_BATCH_ATOMIC, &err));
    g_thread_join(th);
    ck_assert_kind(err, DBR_ERR_CANCELED);
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(rows_in_bt(), 0);
    dbr_error_free(err);
    dbr_ctx_free(c.ctx);
    dbr_batch_free(b);
    t_exec(db, "SELECT 1");
    dbr_close(db);
}
END_TEST

/* PgBouncer in transaction mode: an ATOMIC batch is one transaction; in
 * EACH every Sync may end up on another server connection. */
START_TEST(test_pg_batch_through_pgbouncer)
{
    const char *bouncer = getenv("DBR_TEST_BOUNCER_CONNINFO");
    dbr_db *db;
    dbr_batch *b = failing_middle();
    dbr_error *err = NULL;

    ck_assert_msg(bouncer && *bouncer, "DBR_TEST_BOUNCER_CONNINFO is not set");
    db = t_open("[database]\ndriver = pq\nconninfo = %s\npooler = transaction\n", bouncer);
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, &err));
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(rows_in_bt(), 0);
    dbr_error_free(err);
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err));
    ck_assert_outcome(err, DBR_OUTCOME_PARTIAL);
    ck_assert_int_eq(rows_in_bt(), 2);
    dbr_error_free(err);
    dbr_batch_clear(b);
    add(b, "INSERT INTO bt VALUES (5, 'five')");
    add(b, "SELECT count(*) FROM bt");
    ck_assert_msg(dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err), "%s", dbr_error_message(err));
    ck_assert_str_eq(dbr_result_value(dbr_batch_result(b, 1), 0, 0), "3");
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

/* A transient failure in the middle: ATOMIC applied nothing, so retry runs
 * the whole batch again; EACH applied the others (partial): never again. */
START_TEST(test_pg_batch_retry_reruns_only_what_applied_nothing)
{
    dbr_db *db = open_pg("dbr_bt_retry", "[chain]\nplugins = retry\n[plugin.retry]\n"
                                         "max_attempts = 3\ninitial_interval = 1ms\n"
                                         "max_interval = 10ms\n");
    dbr_batch *b = dbr_batch_new();
    dbr_error *err = NULL;
    int attempts = 0;

    dbr_subscribe(db, count_attempts, &attempts);
    t_exec(admin, "CREATE OR REPLACE FUNCTION bt_conflict() RETURNS int LANGUAGE plpgsql AS $$ "
                  "BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$");
    add(b, "INSERT INTO bt VALUES (1, 'one')");
    add(b, "SELECT bt_conflict()");
    add(b, "INSERT INTO bt VALUES (3, 'three')");
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, &err));
    ck_assert_kind(err, DBR_ERR_SERIALIZATION);
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(g_atomic_int_get(&attempts), 2);
    ck_assert_int_eq(rows_in_bt(), 0);
    dbr_error_free(err);

    attempts = 0;
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err));
    ck_assert_outcome(err, DBR_OUTCOME_PARTIAL);
    ck_assert_int_eq(g_atomic_int_get(&attempts), 0);
    ck_assert_int_eq(rows_in_bt(), 2);
    dbr_error_free(err);
    t_exec(admin, "DROP FUNCTION bt_conflict()");
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_batch_misuse_is_refused_clearly)
{
    dbr_db *db = open_pg("dbr_bt", NULL);
    dbr_batch *b = dbr_batch_new();
    const char *p[] = {"1"};
    dbr_error *err = NULL;

#define MISUSE(call, needle)                                                                       \
    do {                                                                                           \
        ck_assert(!(call));                                                                        \
        ck_assert_kind(err, DBR_ERR_MISUSE);                                                       \
        ck_assert_msg(strstr(dbr_error_message(err), needle), "%s", dbr_error_message(err));       \
        dbr_error_free(err);                                                                       \
        err = NULL;                                                                                \
    } while (0)
    MISUSE(dbr_batch_add(NULL, "SELECT 1", 0, NULL, &err), "b is NULL");
    MISUSE(dbr_batch_add(b, NULL, 0, NULL, &err), "sql is NULL");
    MISUSE(dbr_batch_add(b, "SELECT $1", -1, p, &err), "nparams is -1");
    MISUSE(dbr_batch_add(b, "SELECT $1", 1, NULL, &err), "params is NULL");
    MISUSE(dbr_batch_add(b, "COPY bt FROM STDIN", 0, NULL, &err), "dbr_copy_from");
    MISUSE(dbr_batch_add(b, "  begin", 0, NULL, &err), "\"begin\"");
    MISUSE(dbr_batch_add(b, "COMMIT", 0, NULL, &err), "\"commit\"");
    MISUSE(dbr_batch_add(b, "PREPARE TRANSACTION 'x'", 0, NULL, &err), "prepare transaction");
    {
        /* More parameters than the protocol counts: the pq driver refuses
         * the batch before anything is sent, the statement before too. */
        const char **many = g_new(const char *, 70000);
        dbr_batch *big = dbr_batch_new();
        dbr_result *r;

        for (int i = 0; i < 70000; i++)
            many[i] = "1";
        ck_assert(dbr_batch_add(big, "CREATE TABLE bt_never_sent (x int)", 0, NULL, &err));
        ck_assert(dbr_batch_add(big, "SELECT $1", 70000, many, &err));
        for (int mode = DBR_BATCH_ATOMIC; mode <= DBR_BATCH_EACH; mode++) {
            ck_assert(!dbr_batch_run(db, NULL, big, (dbr_batch_mode)mode, &err));
            ck_assert_kind(err, DBR_ERR_MISUSE);
            ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
            ck_assert_msg(strstr(dbr_error_message(err), "has 70000 parameters"), "%s",
                          dbr_error_message(err));
            ck_assert_ptr_nonnull(strstr(dbr_error_message(err), "nothing was sent"));
            ck_assert_int_eq(dbr_error_outcome(dbr_batch_error(big, 0)), DBR_OUTCOME_NOT_APPLIED);
            ck_assert_ptr_nonnull(
                strstr(dbr_error_message(dbr_batch_error(big, 1)), "statement 2 of the batch"));
            dbr_error_free(err);
            err = NULL;
        }
        r = dbr_query(db, NULL, "SELECT to_regclass('bt_never_sent') IS NULL", 0, NULL, &err);
        ck_assert_ptr_nonnull(r);
        ck_assert_str_eq(dbr_result_value(r, 0, 0), "t");
        dbr_result_free(r);
        dbr_batch_free(big);
        g_free(many);
    }
    ck_assert_int_eq(dbr_batch_count(b), 0);
    MISUSE(dbr_batch_run(NULL, NULL, b, DBR_BATCH_ATOMIC, &err), "db is NULL");
    MISUSE(dbr_batch_run(db, NULL, NULL, DBR_BATCH_ATOMIC, &err), "b is NULL");
    MISUSE(dbr_batch_run(db, NULL, b, (dbr_batch_mode)7, &err), "mode is 7");
    MISUSE(dbr_tx_batch_run(NULL, b, &err), "tx is NULL");
    /* An empty batch sends nothing and succeeds; NULL readers are harmless. */
    ck_assert(dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err));
    ck_assert_int_eq(dbr_batch_count(NULL), 0);
    ck_assert_ptr_null(dbr_batch_result(NULL, 0));
    ck_assert_ptr_null(dbr_batch_error(b, 0));
    dbr_batch_clear(NULL);
    dbr_batch_free(NULL);
    /* PREPARE of a statement is not transaction control. */
    ck_assert(dbr_batch_add(b, "PREPARE bt_q AS SELECT 1", 0, NULL, &err));
    dbr_batch_free(b);
    dbr_close(db);
#undef MISUSE
}
END_TEST

static bool bt_has_a_row(void *arg)
{
    (void)arg;
    return rows_in_bt() > 0;
}

/* A CALL that COMMITs inside commits on its own Execute, before the
 * batch's one Sync: a send that never finished is then unknown. */
START_TEST(test_pg_batch_send_cut_after_a_committing_call_is_unknown)
{
    dbr_db *db = open_pg("dbr_bt", NULL);
    dbr_batch *b = dbr_batch_new();
    dbr_error *err = NULL;
    size_t len = 64u << 20; /* far more than the socket buffers hold */
    char *big = g_malloc(len + 1);
    const char *p1[] = {big};
    dbr_ctx *ctx;

    memset(big, 'y', len);
    big[len] = 0;
    t_exec(admin, "CREATE OR REPLACE PROCEDURE bt_commit(n int, s float8) LANGUAGE plpgsql AS $$ "
                  "BEGIN INSERT INTO bt VALUES (n, 'proc'); COMMIT; PERFORM pg_sleep(s); END $$");
    add(b, "CALL bt_commit(1, 5)");
    ck_assert(dbr_batch_add(b, "SELECT length($1)", 1, p1, &err));
    /* The server sleeps 5 s without reading: the deadline comes first. */
    ctx = dbr_ctx_with_timeout(1500);
    ck_assert(!dbr_batch_run(db, ctx, b, DBR_BATCH_ATOMIC, &err));
    ck_assert_kind(err, DBR_ERR_TIMEOUT);
    ck_assert_outcome(err, DBR_OUTCOME_UNKNOWN);
    ck_assert(t_wait_for(bt_has_a_row, NULL, 20000)); /* indeed: the CALL committed */
    ck_assert_int_eq(rows_in_bt(), 1);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    dbr_batch_free(b);
    g_free(big);
    dbr_close(db);
}
END_TEST

static bool tx_select_one(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_result *r = dbr_tx_query(tx, "SELECT 1 AS x", 0, NULL, err);

    (void)user;
    dbr_result_free(r);
    return r != NULL;
}

/* A batch's DEALLOCATE ALL empties the statement cache too. */
START_TEST(test_pg_batch_deallocate_is_seen_by_the_statement_cache)
{
    dbr_db *db = open_pg("dbr_bt", NULL);
    dbr_batch *b = dbr_batch_new();
    dbr_error *err = NULL;

    for (int i = 0; i < 3; i++) /* prepared on reuse */
        dbr_result_free(dbr_query(db, NULL, "SELECT 1 AS x", 0, NULL, NULL));
    ck_assert_int_ge(t_int(db, "SELECT count(*) FROM pg_prepared_statements"), 1);
    add(b, "DEALLOCATE ALL");
    ck_assert_msg(dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err), "%s", dbr_error_message(err));
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, tx_select_one, NULL, &err), "%s",
                  dbr_error_message(err));
    /* the same with DISCARD ALL */
    for (int i = 0; i < 3; i++)
        dbr_result_free(dbr_query(db, NULL, "SELECT 1 AS x", 0, NULL, NULL));
    ck_assert_int_ge(t_int(db, "SELECT count(*) FROM pg_prepared_statements"), 1);
    dbr_batch_clear(b);
    add(b, "DISCARD ALL");
    ck_assert_msg(dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err), "%s", dbr_error_message(err));
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, tx_select_one, NULL, &err), "%s",
                  dbr_error_message(err));
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

/* A deferred constraint fails at the implicit COMMIT, that is at the Sync:
 * the statements it covers are not applied and the connection is kept. */
START_TEST(test_pg_batch_deferred_constraint_at_the_sync_is_not_applied)
{
    dbr_db *db = open_pg("dbr_bt", NULL);
    dbr_batch *b = dbr_batch_new();
    dbr_error *err = NULL;
    dbr_pool_stats st;

    t_exec(admin, "DROP TABLE IF EXISTS btd");
    t_exec(admin, "CREATE TABLE btd (id int, CONSTRAINT btd_u UNIQUE (id) DEFERRABLE INITIALLY "
                  "DEFERRED)");
    add(b, "INSERT INTO btd VALUES (1)");
    add(b, "INSERT INTO btd VALUES (1)");
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, &err));
    ck_assert_kind(err, DBR_ERR_CONSTRAINT);
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    for (int i = 0; i < 2; i++) {
        ck_assert_ptr_null(dbr_batch_result(b, i));
        ck_assert_outcome(dbr_batch_error(b, i), DBR_OUTCOME_NOT_APPLIED);
    }
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM btd"), 0);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 1);
    g_clear_pointer(&err, dbr_error_free);

    /* EACH: only the statement whose own Sync failed. */
    add(b, "INSERT INTO btd VALUES (2), (2)");
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err));
    ck_assert_outcome(err, DBR_OUTCOME_PARTIAL);
    ck_assert_ptr_nonnull(dbr_batch_result(b, 0));
    ck_assert_ptr_null(dbr_batch_error(b, 0));
    ck_assert_kind(dbr_batch_error(b, 1), DBR_ERR_CONSTRAINT);
    ck_assert_outcome(dbr_batch_error(b, 1), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_kind(dbr_batch_error(b, 2), DBR_ERR_CONSTRAINT);
    ck_assert_outcome(dbr_batch_error(b, 2), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM btd"), 1);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 1);
    t_exec(db, "SELECT 1"); /* the connection still works */
    dbr_error_free(err);
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_batch");
    TCase *tc = tcase_create("batch");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pg_batch_gives_each_statement_its_result_or_error);
    tcase_add_test(tc, test_pg_batch_atomic_with_a_failing_middle_applies_nothing);
    tcase_add_test(tc, test_pg_batch_each_with_a_failing_middle_applies_the_others);
    tcase_add_test(tc, test_pg_batch_inside_a_transaction_belongs_to_it);
    tcase_add_test(tc, test_pg_batch_deadline_in_the_middle);
    tcase_add_test(tc, test_pg_batch_backend_terminated_mid_batch_is_unknown_and_not_retried);
    tcase_add_test(tc, test_pg_batch_backend_terminated_before_the_batch_left_is_retried);
    tcase_add_test(tc, test_pg_batch_cancel_in_the_middle);
    tcase_add_test(tc, test_pg_batch_retry_reruns_only_what_applied_nothing);
    tcase_add_test(tc, test_pg_batch_through_pgbouncer);
    tcase_add_test(tc, test_pg_batch_misuse_is_refused_clearly);
    tcase_add_test(tc, test_pg_batch_send_cut_after_a_committing_call_is_unknown);
    tcase_add_test(tc, test_pg_batch_deallocate_is_seen_by_the_statement_cache);
    tcase_add_test(tc, test_pg_batch_deferred_constraint_at_the_sync_is_not_applied);
    suite_add_tcase(s, tc);
    return t_run(s);
}
