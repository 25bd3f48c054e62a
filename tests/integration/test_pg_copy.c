/* SPDX-License-Identifier: MIT */
/*
 * COPY against the real PostgreSQL: a million rows in from a callback and
 * out to one, with the server's counts; a read callback's error and a
 * backend terminated mid-COPY leave nothing; deadlines mid-COPY; retry runs
 * a buffer's COPY again after a not-applied failure but never a callback's
 * once it was read; plain dbr_exec still refuses COPY; misuse.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbr/copy.h>

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
    admin = t_open("[database]\ndriver = pq\nconninfo = %s application_name=dbr_cp_admin\n",
                   t_conninfo());
    t_exec(admin, "DROP TABLE IF EXISTS cp");
    t_exec(admin, "CREATE TABLE cp (id int, note text)");
}

static void teardown(void)
{
    t_exec(admin, "DROP TABLE IF EXISTS cp");
    dbr_close(admin);
}

static long long rows_in_cp(void)
{
    return t_int(admin, "SELECT count(*) FROM cp");
}

/* Generates rows "i\trow i\n" for i in [1, total], in whole rows per call;
 * fails at fail_at (a row number) and calls hook once after hook_after
 * calls, then sleeps delay_ms per call. */
typedef struct gen {
    long long next, total, fail_at;
    int calls, hook_after, delay_ms;
    void (*hook)(struct gen *g);
    const char *app;
} gen;

static long long gen_read(void *user, char *buf, size_t cap, dbr_error **err)
{
    gen *g = user;
    size_t n = 0;

    if (g->hook && ++g->calls == g->hook_after)
        g->hook(g);
    if (g->delay_ms)
        g_usleep((gulong)g->delay_ms * 1000);
    while (g->next <= g->total && cap - n > 64) {
        if (g->fail_at && g->next == g->fail_at)
            return dbr_set_error(err, DBR_ERR_INTERNAL, "test", "the generator broke at row %lld",
                                 g->next),
                   -1;
        n += (size_t)g_snprintf(buf + n, cap - n, "%lld\trow %lld\n", g->next, g->next);
        g->next++;
    }
    return (long long)n;
}

typedef struct sink {
    long long chunks, bytes;
    long long fail_at; /* chunk number, 0: never */
    void (*hook)(struct sink *s);
    long long hook_at;
    const char *app;
} sink;

static bool sink_write(void *user, const char *data, size_t len, dbr_error **err)
{
    sink *s = user;

    (void)data;
    s->chunks++;
    s->bytes += (long long)len;
    if (s->hook && s->chunks == s->hook_at)
        s->hook(s);
    if (s->fail_at && s->chunks == s->fail_at)
        return dbr_set_error(err, DBR_ERR_INTERNAL, "test", "the sink is full");
    return true;
}

static void count_attempts(const dbr_event *ev, void *user)
{
    if (strcmp(dbr_event_type(ev), "retry.attempt") == 0)
        g_atomic_int_inc((gint *)user);
}

static bool backend_gone(void *arg)
{
    char *sql = g_strdup_printf("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                "'%s'",
                                (const char *)arg);
    long long n = t_int(admin, sql);

    g_free(sql);
    return n == 0;
}

/* Terminates the call's own backend from the admin connection, and waits
 * until it is gone. */
static void terminate(const char *app)
{
    char *sql = g_strdup_printf("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE application_name = '%s'",
                                app);

    ck_assert_int_eq(t_int(admin, sql), 1);
    ck_assert(t_wait_for(backend_gone, (void *)app, 20000));
    g_free(sql);
}

static void gen_terminate(gen *g)
{
    terminate(g->app);
}

static void sink_terminate(sink *s)
{
    terminate(s->app);
}

START_TEST(test_pg_copy_a_million_rows_in_and_out)
{
    dbr_db *db = open_pg("dbr_cp", NULL);
    gen g = {.next = 1, .total = 1000000};
    sink s = {0};
    dbr_error *err = NULL;
    long long rows = 0;

    ck_assert_msg(dbr_copy_from(db, NULL, "COPY cp FROM STDIN", gen_read, &g, &rows, &err), "%s",
                  dbr_error_message(err));
    ck_assert_int_eq(rows, 1000000);
    ck_assert_int_eq(rows_in_cp(), 1000000);
    ck_assert_int_eq(t_int(admin, "SELECT sum(id) FROM cp"), 500000500000LL);

    rows = 0;
    ck_assert_msg(dbr_copy_to(db, NULL, "COPY cp TO STDOUT", sink_write, &s, &rows, &err), "%s",
                  dbr_error_message(err));
    ck_assert_int_eq(rows, 1000000);
    ck_assert_int_eq(s.chunks, 1000000); /* a row per chunk in the text format */
    ck_assert_int_eq(s.bytes, t_int(admin, "SELECT sum(length(id::text || note) + 2) FROM cp"));

    /* From a buffer, in CSV. */
    ck_assert(dbr_copy_from_buffer(db, NULL, "COPY cp FROM STDIN (FORMAT csv)", "7,\"a, b\"\n8,c\n",
                                   13, &rows, &err));
    ck_assert_int_eq(rows, 2);
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM cp WHERE note = 'a, b'"), 1);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_copy_read_callback_error_leaves_nothing)
{
    dbr_db *db = open_pg("dbr_cp", NULL);
    gen g = {.next = 1, .total = 100000, .fail_at = 90000};
    dbr_error *err = NULL;
    dbr_pool_stats st;
    long long rows = 5;

    ck_assert(!dbr_copy_from(db, NULL, "COPY cp FROM STDIN", gen_read, &g, &rows, &err));
    ck_assert_kind(err, DBR_ERR_INTERNAL);
    ck_assert_msg(strstr(dbr_error_message(err), "generator broke"), "%s", dbr_error_message(err));
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(rows, -1);
    ck_assert_int_eq(rows_in_cp(), 0);
    dbr_error_free(err);
    /* CopyFail ended it cleanly: the connection was kept */
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 1);
    t_exec(db, "SELECT 1");

    /* A bad row: the server's error, nothing applied. */
    ck_assert(!dbr_copy_from_buffer(db, NULL, "COPY cp FROM STDIN", "1\ta\nx\tb\n", 8, NULL, &err));
    ck_assert_str_eq(dbr_error_sqlstate(err), "22P02");
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(rows_in_cp(), 0);
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_copy_backend_terminated_mid_copy)
{
    dbr_db *db = open_pg("dbr_cp_victim", NULL);
    gen g = {.next = 1,
             .total = 2000000,
             .hook = gen_terminate,
             .hook_after = 3,
             .app = "dbr_cp_victim"};
    sink s = {.hook = sink_terminate, .hook_at = 10, .app = "dbr_cp_victim"};
    dbr_error *err = NULL;
    dbr_pool_stats st;

    /* COPY FROM: CopyDone never left, so the server rolled it back. */
    ck_assert(!dbr_copy_from(db, NULL, "COPY cp FROM STDIN", gen_read, &g, NULL, &err));
    ck_assert_kind(err, DBR_ERR_CONNECTION);
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(rows_in_cp(), 0);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 0);
    dbr_error_free(err);

    /* COPY TO: no answer, unknown (a COPY TO may write). */
    t_exec(admin, "INSERT INTO cp SELECT i, 'x' FROM generate_series(1, 200000) i");
    ck_assert(!dbr_copy_to(db, NULL, "COPY cp TO STDOUT", sink_write, &s, NULL, &err));
    ck_assert_outcome(err, DBR_OUTCOME_UNKNOWN);
    ck_assert(!dbr_error_retryable(err));
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 0);
    dbr_error_free(err);
    t_exec(db, "SELECT 1");
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_copy_deadline_mid_copy)
{
    dbr_db *db = open_pg("dbr_cp", "cancel_grace = 10s\n");
    gen g = {.next = 1, .total = 1000000000, .delay_ms = 20};
    sink s = {0};
    dbr_error *err = NULL;
    dbr_ctx *ctx = dbr_ctx_with_timeout(300);
    gint64 t0 = g_get_monotonic_time();

    /* FROM: data still coming at the deadline; CopyDone never left. */
    ck_assert(!dbr_copy_from(db, ctx, "COPY cp FROM STDIN", gen_read, &g, NULL, &err));
    ck_assert_kind(err, DBR_ERR_TIMEOUT);
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_msg(g_get_monotonic_time() - t0 < 5 * G_USEC_PER_SEC, "took %lld ms",
                  (long long)(g_get_monotonic_time() - t0) / 1000);
    ck_assert_int_eq(rows_in_cp(), 0);
    dbr_error_free(err);
    dbr_ctx_free(ctx);

    /* TO: rows stop coming (pg_sleep at row 50000); the cancel's 57014
     * applied nothing and the connection is kept. */
    ctx = dbr_ctx_with_timeout(300);
    ck_assert(!dbr_copy_to(db, ctx,
                           "COPY (SELECT i, CASE WHEN i = 50000 THEN (SELECT 1 FROM "
                           "pg_sleep(30)) ELSE 0 END FROM generate_series(1, 100000) i) TO STDOUT",
                           sink_write, &s, NULL, &err));
    ck_assert_kind(err, DBR_ERR_TIMEOUT);
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    t_exec(db, "SELECT 1");
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_copy_retry_reruns_a_buffer_never_a_read_callback)
{
    const char *chain = "conn_validate_after = 1h\n[chain]\nplugins = retry\n[plugin.retry]\n"
                        "initial_interval = 1ms\nmax_interval = 10ms\n";
    dbr_db *db = open_pg("dbr_cp_retry", chain);
    gen g = {
        .next = 1, .total = 2000000, .hook = gen_terminate, .hook_after = 3, .app = "dbr_cp_retry"};
    dbr_error *err = NULL;
    int attempts = 0;
    long long rows = 0;

    dbr_subscribe(db, count_attempts, &attempts);
    /* The pooled connection's backend is gone before the COPY: not sent,
     * so the buffer is sent again on a new connection. */
    t_exec(db, "SELECT 1");
    terminate("dbr_cp_retry");
    ck_assert_msg(
        dbr_copy_from_buffer(db, NULL, "COPY cp FROM STDIN", "1\ta\n2\tb\n", 8, &rows, &err), "%s",
        dbr_error_message(err));
    ck_assert_int_eq(attempts, 1);
    ck_assert_int_eq(rows, 2);
    ck_assert_int_eq(rows_in_cp(), 2);

    /* The backend dies once the callback has been read: not applied, and
     * transient, but its data is gone, so it is not run again. */
    attempts = 0;
    ck_assert(!dbr_copy_from(db, NULL, "COPY cp FROM STDIN", gen_read, &g, NULL, &err));
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(attempts, 0);
    ck_assert_int_eq(rows_in_cp(), 2);
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

static bool tx_copy(dbr_tx *tx, void *user, dbr_error **err)
{
    long long rows = 0;
    sink s = {0};

    if (!dbr_tx_copy_from(tx, "COPY cp FROM STDIN", gen_read, user, &rows, err) ||
        !dbr_tx_copy_to(tx, "COPY cp TO STDOUT", sink_write, &s, NULL, err))
        return false;
    ck_assert_int_eq(rows, 1000);
    ck_assert_int_eq(s.chunks % 1000, 0); /* what it added, and what was there */
    return ((gen *)user)->fail_at == 0;
}

START_TEST(test_pg_copy_inside_a_transaction)
{
    dbr_db *db = open_pg("dbr_cp", NULL);
    gen g = {.next = 1, .total = 1000};
    dbr_error *err = NULL;

    ck_assert_msg(dbr_tx_run(db, NULL, NULL, tx_copy, &g, &err), "%s", dbr_error_message(err));
    ck_assert_int_eq(rows_in_cp(), 1000);
    /* the callback says no after its COPY: rolled back */
    g = (gen){.next = 1, .total = 1000, .fail_at = -1};
    ck_assert(!dbr_tx_run(db, NULL, NULL, tx_copy, &g, &err));
    ck_assert_int_eq(rows_in_cp(), 1000);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_copy_through_pgbouncer)
{
    const char *bouncer = getenv("DBR_TEST_BOUNCER_CONNINFO");
    gen g = {.next = 1, .total = 50000};
    sink s = {0};
    dbr_error *err = NULL;
    long long rows = 0;
    dbr_db *db;

    ck_assert_msg(bouncer && *bouncer, "DBR_TEST_BOUNCER_CONNINFO is not set");
    db = t_open("[database]\ndriver = pq\nconninfo = %s\npooler = transaction\n", bouncer);
    ck_assert_msg(dbr_copy_from(db, NULL, "COPY cp FROM STDIN", gen_read, &g, &rows, &err), "%s",
                  dbr_error_message(err));
    ck_assert_int_eq(rows, 50000);
    ck_assert_msg(dbr_copy_to(db, NULL, "COPY cp TO STDOUT", sink_write, &s, &rows, &err), "%s",
                  dbr_error_message(err));
    ck_assert_int_eq(rows, 50000);
    ck_assert_int_eq(s.chunks, 50000);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_copy_misuse_and_exec_refusal)
{
    dbr_db *db = open_pg("dbr_cp", NULL);
    dbr_error *err = NULL;
    gen g = {.next = 1, .total = 1};
    sink s = {0};

#define MISUSE(call, needle)                                                                       \
    do {                                                                                           \
        ck_assert(!(call));                                                                        \
        ck_assert_kind(err, DBR_ERR_MISUSE);                                                       \
        ck_assert_msg(strstr(dbr_error_message(err), needle), "%s", dbr_error_message(err));       \
        dbr_error_free(err);                                                                       \
        err = NULL;                                                                                \
    } while (0)
    MISUSE(dbr_copy_from(NULL, NULL, "COPY cp FROM STDIN", gen_read, &g, NULL, &err), "db is NULL");
    MISUSE(dbr_copy_from(db, NULL, NULL, gen_read, &g, NULL, &err), "sql is NULL");
    MISUSE(dbr_copy_from(db, NULL, "COPY cp FROM STDIN", NULL, &g, NULL, &err), "read is NULL");
    MISUSE(dbr_copy_to(db, NULL, "COPY cp TO STDOUT", NULL, &s, NULL, &err), "write is NULL");
    MISUSE(dbr_copy_from_buffer(db, NULL, "COPY cp FROM STDIN", NULL, 4, NULL, &err),
           "data is NULL");
    MISUSE(dbr_copy_from(db, NULL, "INSERT INTO cp VALUES (1)", gen_read, &g, NULL, &err),
           "must be a COPY");
    MISUSE(dbr_tx_copy_from(NULL, "COPY cp FROM STDIN", gen_read, &g, NULL, &err), "tx is NULL");
    /* the other direction */
    MISUSE(dbr_copy_to(db, NULL, "COPY cp FROM STDIN", sink_write, &s, NULL, &err),
           "COPY FROM STDIN");
    ck_assert_int_eq(rows_in_cp(), 0);
    /* dbr_exec still refuses COPY, and says where to go */
    MISUSE(dbr_exec(db, NULL, "COPY cp FROM STDIN", 0, NULL, &err), "dbr_copy_from");
    /* an empty buffer copies nothing */
    ck_assert(dbr_copy_from_buffer(db, NULL, "COPY cp FROM STDIN", NULL, 0, NULL, &err));
    ck_assert_int_eq(rows_in_cp(), 0);
    dbr_close(db);
#undef MISUSE
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_copy");
    TCase *tc = tcase_create("copy");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_pg_copy_a_million_rows_in_and_out);
    tcase_add_test(tc, test_pg_copy_read_callback_error_leaves_nothing);
    tcase_add_test(tc, test_pg_copy_backend_terminated_mid_copy);
    tcase_add_test(tc, test_pg_copy_deadline_mid_copy);
    tcase_add_test(tc, test_pg_copy_retry_reruns_a_buffer_never_a_read_callback);
    tcase_add_test(tc, test_pg_copy_inside_a_transaction);
    tcase_add_test(tc, test_pg_copy_through_pgbouncer);
    tcase_add_test(tc, test_pg_copy_misuse_and_exec_refusal);
    suite_add_tcase(s, tc);
    return t_run(s);
}
