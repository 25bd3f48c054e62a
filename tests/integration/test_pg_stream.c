/* SPDX-License-Identifier: MIT */
/*
 * Streaming against the real PostgreSQL: 5 million rows in flat resident
 * memory (next to a buffered query that grows), stopping early with the
 * query canceled on the server, a backend terminated mid-stream (never
 * retried once rows were delivered, even with retry and an idempotent ctx)
 * and before the first row (retried), a deadline and a cancel mid-stream,
 * streams inside a transaction, the outcomes of writes, and misuse.
 */
#include <glib.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "../testutil.h"

#define MILLION 1000000LL

/* Under valgrind and ASan every row costs many times more (libpq's three
 * allocations per row go through their allocators): the memory test
 * streams 100 000 rows under valgrind (against a buffered 300 000) and a
 * million under ASan,
 * still flat and still checked; the 5-million-row figure is the native
 * run's (and dbr-bench --stream's). */
#ifdef __SANITIZE_ADDRESS__
#define STREAM_ROWS MILLION
#else
#define STREAM_ROWS (5 * MILLION)
#endif

static dbr_db *open_pg(const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s\nmax_open_conns = 1\n%s", t_conninfo(),
                  extra ? extra : "");
}

/* Resident memory in KiB (VmRSS of /proc/self/status). */
static long rss_kb(void)
{
    char *text = NULL, *line;
    long kb = -1;

    if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL))
        return -1;
    line = strstr(text, "VmRSS:");
    if (line)
        kb = strtol(line + 6, NULL, 10);
    g_free(text);
    return kb;
}

typedef struct counter {
    long long rows;
    long long stop_at;   /* 0: never stop */
    dbr_error *stop_err; /* given when stopping */
    int64_t last;        /* the last first-column value, to check the order */
    int64_t pid;         /* column 0 of the first row, when asked */
    bool want_pid, pid_changed;
    long peak_kb; /* sampled every 100 000 rows */
    dbr_db *admin;
    long long kill_at; /* terminate the stream's backend after this row */
    dbr_ctx *cancel;   /* canceled after cancel_at rows */
    long long cancel_at;
} counter;

static bool count_row(const dbr_result *row, void *user, dbr_error **err)
{
    counter *c = user;
    int64_t v;

    ck_assert_int_eq(dbr_result_nrows(row), 1);
    c->rows++;
    if (c->want_pid) {
        ck_assert(dbr_result_int64(row, 0, 0, &v, err));
        if (c->rows == 1)
            c->pid = v;
        else if (v != c->pid)
            c->pid_changed = true;
    } else if (dbr_result_ncols(row) > 0 && dbr_result_coltype(row, 0) == DBR_TYPE_INT) {
        ck_assert(dbr_result_int64(row, 0, 0, &v, err));
        ck_assert_msg(v == c->last + 1, "row %lld: %lld after %lld", c->rows, (long long)v,
                      (long long)c->last);
        c->last = v;
    }
    if (c->rows % 100000 == 0) {
        long kb = rss_kb();

        if (kb > c->peak_kb)
            c->peak_kb = kb;
    }
    if (c->kill_at && c->rows == c->kill_at) {
        char sql[96], *done;

        g_snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)", (long long)c->pid);
        done = t_value(c->admin, sql);
        ck_assert_str_eq(done, "t");
        g_free(done);
    }
    if (c->cancel && c->rows == c->cancel_at)
        dbr_ctx_cancel(c->cancel);
    if (c->stop_at && c->rows == c->stop_at) {
        if (c->stop_err) {
            *err = c->stop_err;
            c->stop_err = NULL;
        }
        return false;
    }
    return true;
}

START_TEST(test_pg_stream_5m_rows_in_flat_memory)
{
    dbr_db *db = open_pg(NULL);
    counter c = {0};
    dbr_error *err = NULL;
    long long rows = 0, want = RUNNING_ON_VALGRIND ? MILLION / 10 : STREAM_ROWS;
    long long contrast = RUNNING_ON_VALGRIND ? 300000 : MILLION;
    long before, after, grown, buffered0, buffered1;
    char *sql =
        g_strdup_printf("SELECT g, 'row number ' || g FROM generate_series(1, %lld) g", want);
    dbr_result *r;

    /* Warm up with 300 000 rows: the connection and libpq's buffers
     * exist before measuring, and an allocator that holds freed memory back
     * for a while (ASan's 256 MB quarantine, valgrind's 20 MB freelist,
     * filled by some 3 KB of libpq allocations per row) is full already,
     * so what is measured is whether memory grows with the result. */
    ck_assert(dbr_query_stream(db, NULL, "SELECT g FROM generate_series(1, $1) g", 1,
                               (const char *[]){RUNNING_ON_VALGRIND ? "20000" : "300000"},
                               count_row, &c, &rows, &err));
    ck_assert_int_eq(rows, RUNNING_ON_VALGRIND ? 20000 : 300000);
    memset(&c, 0, sizeof(c));
    malloc_trim(0);
    before = rss_kb();
    c.peak_kb = before;
    ck_assert_msg(dbr_query_stream(db, NULL, sql, 0, NULL, count_row, &c, &rows, &err), "%s",
                  dbr_error_message(err));
    after = rss_kb();
    g_free(sql);
    ck_assert_int_eq(rows, want);
    ck_assert_int_eq(c.rows, want);
    ck_assert_int_eq(c.last, want);
    grown = MAX(c.peak_kb, after) - before;
    /* the buffered form of a million rows, for contrast */
    malloc_trim(0);
    buffered0 = rss_kb();
    r = dbr_query(db, NULL, "SELECT g, 'row number ' || g FROM generate_series(1, $1::bigint) g", 1,
                  (const char *[]){RUNNING_ON_VALGRIND ? "300000" : "1000000"}, &err);
    ck_assert_msg(r != NULL, "%s", dbr_error_message(err));
    buffered1 = rss_kb();
    dbr_result_free(r);
    printf("stream of %lld rows: VmRSS %ld KiB before, peak %ld, after %ld (grew %ld KiB); "
           "dbr_query of %lld rows grew it by %ld KiB\n",
           want, before, c.peak_kb, after, grown, contrast, buffered1 - buffered0);
    fflush(stdout);
    ck_assert_msg(grown < 20 * 1024, "the stream grew resident memory by %ld KiB", grown);
    ck_assert_msg(buffered1 - buffered0 > contrast / 25,
                  "dbr_query of %lld rows grew it by %ld KiB", contrast, buffered1 - buffered0);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_stream_stop_early_cancels_the_query_and_keeps_the_connection)
{
    /* What was in flight when the cancel landed is read and dropped within
     * cancel_grace: generous here, for a loaded machine or valgrind. */
    dbr_db *db = open_pg("cancel_grace = 10s\n");
    counter c = {.stop_at = 10};
    dbr_error *err = NULL;
    long long rows = -1, pid = t_int(db, "SELECT pg_backend_pid()");
    dbr_pool_stats st;

    t_exec(db, "DROP SEQUENCE IF EXISTS stream_seq");
    t_exec(db, "CREATE SEQUENCE stream_seq");
    /* stopped by fn without an error: false, and *err left NULL */
    ck_assert(!dbr_query_stream(
        db, NULL, "SELECT g, nextval('stream_seq') FROM generate_series(1, 1000000) g", 0, NULL,
        count_row, &c, &rows, &err));
    ck_assert_ptr_null(err);
    ck_assert_int_eq(rows, 10);
    ck_assert_int_eq(c.rows, 10);
    /* the server stopped producing rows: canceled, not drained to the end */
    ck_assert_msg(t_int(db, "SELECT last_value FROM stream_seq") < MILLION,
                  "the query ran to its end");
    /* the same connection, clean */
    ck_assert_int_eq(t_int(db, "SELECT pg_backend_pid()"), pid);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 1);

    /* stopped with an error: that error comes back */
    memset(&c, 0, sizeof(c));
    c.stop_at = 3;
    c.stop_err = dbr_error_new(DBR_ERR_CONSTRAINT, "app", "enough rows");
    ck_assert(!dbr_query_stream(db, NULL, "SELECT g FROM generate_series(1, 1000000) g", 0, NULL,
                                count_row, &c, &rows, &err));
    ck_assert_str_eq(dbr_error_message(err), "enough rows");
    ck_assert_int_eq(rows, 3);
    dbr_error_free(err);
    ck_assert_int_eq(t_int(db, "SELECT pg_backend_pid()"), pid);
    t_exec(db, "DROP SEQUENCE stream_seq");
    dbr_close(db);
}
END_TEST

static void count_event(const dbr_event *ev, void *user)
{
    if (strcmp(dbr_event_type(ev), "retry.attempt") == 0)
        g_atomic_int_inc((gint *)user);
}

#define RETRY_CHAIN                                                                                \
    "[chain]\nplugins = retry\n[plugin.retry]\nmax_attempts = 5\ninitial_interval = 10ms\n"

START_TEST(test_pg_stream_backend_terminated_mid_stream_is_not_retried)
{
    dbr_db *db = open_pg(RETRY_CHAIN), *admin = open_pg(NULL);
    counter c = {.want_pid = true, .kill_at = 1000, .admin = admin};
    dbr_ctx *ctx = dbr_ctx_new();
    dbr_error *err = NULL;
    long long rows = 0;
    gint attempts = 0;

    dbr_subscribe(db, count_event, &attempts);
    dbr_ctx_set_idempotent(ctx, true); /* retry would run it again if it could */
    ck_assert(!dbr_query_stream(db, ctx,
                                "SELECT pg_backend_pid(), g FROM generate_series(1, 1000000) g", 0,
                                NULL, count_row, &c, &rows, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_CONNECTION, "%s: %s",
                  dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_UNKNOWN);
    ck_assert(dbr_error_transient(err)); /* retryable in itself: only the spent rows stop it */
    ck_assert_int_eq(g_atomic_int_get(&attempts), 0);
    ck_assert(rows >= 1000 && rows < MILLION);
    ck_assert(!c.pid_changed);
    dbr_error_free(err);
    /* the db goes on, on a new connection */
    ck_assert_int_ne(t_int(db, "SELECT pg_backend_pid()"), c.pid);
    dbr_ctx_free(ctx);
    dbr_close(db);
    dbr_close(admin);
}
END_TEST

typedef struct killer {
    dbr_db *admin;
    int killed;
} killer;

static bool sleeper_killed(void *arg)
{
    killer *k = arg;

    k->killed +=
        (int)t_int(k->admin, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                             "wait_event = 'PgSleep' AND query LIKE '%stream_retry_marker%' AND "
                             "pid <> pg_backend_pid()");
    return k->killed > 0;
}

static gpointer kill_sleeper(gpointer arg)
{
    killer *k = arg;

    t_wait_for(sleeper_killed, k, 60000);
    return NULL;
}

/* The first attempt sleeps (and is terminated there, before any row), the
 * next ones do not. */
static const char retry_sql[] =
    "SELECT g FROM generate_series(1, 100) g WHERE (SELECT pg_sleep(CASE WHEN "
    "nextval('stream_attempts') = 1 THEN 60 ELSE 0 END)) IS NOT NULL /* stream_retry_marker */";

static bool stream_with_killer(dbr_db *db, dbr_db *admin, dbr_ctx *ctx, counter *c, long long *rows,
                               dbr_error **err)
{
    killer k = {.admin = admin};
    GThread *t;
    bool ok;

    t_exec(admin, "DROP SEQUENCE IF EXISTS stream_attempts");
    t_exec(admin, "CREATE SEQUENCE stream_attempts");
    t = g_thread_new("killer", kill_sleeper, &k);
    ok = dbr_query_stream(db, ctx, retry_sql, 0, NULL, count_row, c, rows, err);
    g_thread_join(t);
    ck_assert_int_eq(k.killed, 1);
    return ok;
}

START_TEST(test_pg_stream_backend_terminated_before_the_first_row_is_retried)
{
    dbr_db *db = open_pg(RETRY_CHAIN), *admin = open_pg(NULL);
    dbr_ctx *ctx = dbr_ctx_new();
    dbr_error *err = NULL;
    long long rows = 0;
    gint attempts = 0;
    counter c = {0};

    dbr_subscribe(db, count_event, &attempts);
    /* Not idempotent: sent and lost, so unknown, never repeated blindly. */
    ck_assert(!stream_with_killer(db, admin, NULL, &c, &rows, &err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_UNKNOWN);
    ck_assert_int_eq(g_atomic_int_get(&attempts), 0);
    ck_assert_int_eq(rows, 0);
    dbr_error_free(err);
    err = NULL;
    /* Idempotent: nothing reached the caller yet, so retry runs it again. */
    dbr_ctx_set_idempotent(ctx, true);
    memset(&c, 0, sizeof(c));
    ck_assert_msg(stream_with_killer(db, admin, ctx, &c, &rows, &err), "%s",
                  dbr_error_message(err));
    ck_assert_int_eq(g_atomic_int_get(&attempts), 1);
    ck_assert_int_eq(rows, 100);
    ck_assert_int_eq(c.last, 100);
    t_exec(admin, "DROP SEQUENCE stream_attempts");
    dbr_ctx_free(ctx);
    dbr_close(db);
    dbr_close(admin);
}
END_TEST

START_TEST(test_pg_stream_deadline_mid_stream_times_out_and_keeps_the_connection)
{
    dbr_db *db = open_pg("cancel_grace = 10s\n");
    dbr_ctx *ctx = dbr_ctx_with_timeout(1000);
    long long pid = t_int(db, "SELECT pg_backend_pid()"), rows = 0;
    dbr_error *err = NULL;
    counter c = {0};

    /* Rows bigger than the server's 8 KiB output buffer leave one by one,
     * one every 20 ms: some arrive before the deadline, most never. */
    ck_assert(!dbr_query_stream(db, ctx,
                                "SELECT g, repeat('x', 9000), pg_sleep(0.02) FROM "
                                "generate_series(1, 100000) g",
                                0, NULL, count_row, &c, &rows, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_TIMEOUT, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED); /* the server's 57014 */
    ck_assert_str_eq(dbr_error_sqlstate(err), "57014");
    ck_assert_msg(rows > 0 && rows < 100000, "%lld rows", rows);
    dbr_error_free(err);
    ck_assert_int_eq(t_int(db, "SELECT pg_backend_pid()"), pid);
    dbr_ctx_free(ctx);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_stream_cancel_mid_stream_of_a_fast_query)
{
    dbr_db *db = open_pg("cancel_grace = 10s\n");
    dbr_ctx *ctx = dbr_ctx_new();
    long long pid = t_int(db, "SELECT pg_backend_pid()"), rows = 0;
    dbr_error *err = NULL;
    counter c = {.cancel = ctx, .cancel_at = 1000};

    /* libpq's buffer never runs dry here: the cancel is seen between rows */
    ck_assert(!dbr_query_stream(db, ctx, "SELECT g FROM generate_series(1, 1000000) g", 0, NULL,
                                count_row, &c, &rows, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_CANCELED, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_msg(rows >= 1000 && rows < MILLION, "%lld rows", rows);
    dbr_error_free(err);
    ck_assert_int_eq(t_int(db, "SELECT pg_backend_pid()"), pid);
    dbr_ctx_free(ctx);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_stream_cancel_without_grace_gives_the_connection_up)
{
    dbr_db *db = open_pg("cancel_grace = 0\n");
    dbr_ctx *ctx = dbr_ctx_new();
    long long pid = t_int(db, "SELECT pg_backend_pid()"), rows = 0;
    dbr_error *err = NULL;
    counter c = {.cancel = ctx, .cancel_at = 1000};

    /* No time to hear the server's answer: the connection cannot be
     * trusted to be in step, so it goes, and what ran is unknown. */
    ck_assert(!dbr_query_stream(db, ctx, "SELECT g FROM generate_series(1, 1000000) g", 0, NULL,
                                count_row, &c, &rows, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_CANCELED, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_UNKNOWN);
    ck_assert_msg(strstr(dbr_error_message(err), "connection was closed"), "%s",
                  dbr_error_message(err));
    ck_assert_msg(rows >= 1000 && rows < MILLION, "%lld rows", rows);
    dbr_error_free(err);
    ck_assert_int_ne(t_int(db, "SELECT pg_backend_pid()"), pid);
    dbr_ctx_free(ctx);
    dbr_close(db);
}
END_TEST

typedef struct in_tx {
    long long rows;
    dbr_tx *tx;
    dbr_error *nested; /* what a statement run from the row function got */
} in_tx;

static bool nested_row(const dbr_result *row, void *user, dbr_error **err)
{
    in_tx *s = user;

    (void)row;
    (void)err;
    if (s->rows++ == 0)
        ck_assert(!dbr_tx_exec(s->tx, "SELECT 1", 0, NULL, &s->nested));
    return true;
}

static bool stream_own_writes(dbr_tx *tx, void *user, dbr_error **err)
{
    in_tx *s = user;
    counter c = {0};
    long long rows = 0;

    if (!dbr_tx_exec(tx, "INSERT INTO stream_tx SELECT generate_series(1, 1000)", 0, NULL, err))
        return false;
    if (!dbr_tx_query_stream(tx, "SELECT id FROM stream_tx ORDER BY id", 0, NULL, count_row, &c,
                             &rows, err))
        return false;
    ck_assert_int_eq(rows, 1000);
    ck_assert_int_eq(c.last, 1000);
    /* the row function cannot run a statement on the stream's connection */
    s->tx = tx;
    if (!dbr_tx_query_stream(tx, "SELECT id FROM stream_tx WHERE id <= $1", 1,
                             (const char *[]){"5"}, nested_row, s, NULL, err))
        return false;
    /* after the stream, the transaction goes on */
    return dbr_tx_exec(tx, "INSERT INTO stream_tx VALUES (1001)", 0, NULL, err);
}

static bool stop_in_savepoint(dbr_tx *tx, void *user, dbr_error **err)
{
    counter *c = user;

    return dbr_tx_query_stream(tx, "SELECT g FROM generate_series(1, 1000000) g", 0, NULL,
                               count_row, c, NULL, err);
}

static bool stream_stopped_in_savepoint(dbr_tx *tx, void *user, dbr_error **err)
{
    counter c = {.stop_at = 5};

    (void)user;
    ck_assert(!dbr_tx_savepoint(tx, stop_in_savepoint, &c, err));
    ck_assert_int_eq(c.rows, 5);
    /* the savepoint took the canceled query with it; the transaction goes on */
    return dbr_tx_exec(tx, "INSERT INTO stream_tx VALUES (2000)", 0, NULL, err);
}

static bool stream_stopped_bare(dbr_tx *tx, void *user, dbr_error **err)
{
    counter c = {.stop_at = 5};

    (void)user;
    ck_assert(!dbr_tx_query_stream(tx, "SELECT g FROM generate_series(1, 1000000) g", 0, NULL,
                                   count_row, &c, NULL, err));
    return true; /* goes on as if nothing happened: COMMIT must not pretend */
}

START_TEST(test_pg_stream_in_a_transaction)
{
    dbr_db *db = open_pg("cancel_grace = 10s\n");
    dbr_error *err = NULL;
    in_tx s = {0};

    t_exec(db, "DROP TABLE IF EXISTS stream_tx");
    t_exec(db, "CREATE TABLE stream_tx (id int PRIMARY KEY)");
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, stream_own_writes, &s, &err), "%s",
                  dbr_error_message(err));
    ck_assert_int_eq(s.rows, 5);
    ck_assert_ptr_nonnull(s.nested);
    ck_assert_int_eq(dbr_error_kind_of(s.nested), DBR_ERR_MISUSE);
    ck_assert_msg(strstr(dbr_error_message(s.nested), "stream"), "%s", dbr_error_message(s.nested));
    dbr_error_free(s.nested);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stream_tx"), 1001);

    ck_assert_msg(dbr_tx_run(db, NULL, NULL, stream_stopped_in_savepoint, NULL, &err), "%s",
                  dbr_error_message(err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stream_tx WHERE id = 2000"), 1);

    ck_assert(!dbr_tx_run(db, NULL, NULL, stream_stopped_bare, NULL, &err));
    ck_assert_msg(strstr(dbr_error_message(err), "stopped the stream"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    t_exec(db, "DROP TABLE stream_tx");
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_stream_outcomes_of_writes_and_errors_after_rows)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;
    long long rows = 0;
    counter c = {0};

    t_exec(db, "DROP TABLE IF EXISTS stream_w");
    t_exec(db, "CREATE TABLE stream_w (id int PRIMARY KEY)");
    ck_assert_msg(dbr_query_stream(db, NULL,
                                   "INSERT INTO stream_w SELECT g FROM generate_series(1, 10) g "
                                   "RETURNING id",
                                   0, NULL, count_row, &c, &rows, &err),
                  "%s", dbr_error_message(err));
    ck_assert_int_eq(rows, 10);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stream_w"), 10);
    /* an ERROR rolls the statement back: not applied */
    memset(&c, 0, sizeof(c));
    ck_assert(!dbr_query_stream(db, NULL,
                                "INSERT INTO stream_w SELECT g FROM generate_series(11, 20) g "
                                "UNION ALL SELECT 5 RETURNING id",
                                0, NULL, count_row, &c, &rows, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONSTRAINT);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    err = NULL;
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stream_w"), 10);
    /* an ERROR after rows were delivered: the rows stay delivered, the
     * statement is rolled back */
    memset(&c, 0, sizeof(c));
    ck_assert(!dbr_query_stream(db, NULL,
                                "SELECT g, repeat('x', 9000), 1 / (g - 50) FROM "
                                "generate_series(1, 100) g",
                                0, NULL, count_row, &c, &rows, &err));
    ck_assert_str_eq(dbr_error_sqlstate(err), "22012");
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(rows, 49);
    dbr_error_free(err);
    /* parameters, and a stream with no rows */
    memset(&c, 0, sizeof(c));
    c.last = 7;
    ck_assert(dbr_query_stream(db, NULL, "SELECT id FROM stream_w WHERE id > $1 ORDER BY id", 1,
                               (const char *[]){"7"}, count_row, &c, &rows, &err));
    ck_assert_int_eq(rows, 3);
    ck_assert(dbr_query_stream(db, NULL, "SELECT id FROM stream_w WHERE false", 0, NULL, count_row,
                               &c, &rows, &err));
    ck_assert_int_eq(rows, 0);
    t_exec(db, "DROP TABLE stream_w");
    dbr_close(db);
}
END_TEST

static void expect(dbr_error *err, dbr_error_kind kind, const char *part)
{
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(dbr_error_kind_of(err) == kind, "%s", dbr_error_message(err));
    ck_assert_msg(strstr(dbr_error_message(err), part), "\"%s\" not in: %s", part,
                  dbr_error_message(err));
    dbr_error_free(err);
}

START_TEST(test_pg_stream_misuse_copy_and_unsupported)
{
    dbr_db *db = open_pg(NULL), *fake = t_open("[database]\ndriver = fake\n");
    dbr_error *err = NULL;
    long long rows = 7;
    counter c = {0};

    ck_assert(!dbr_query_stream(db, NULL, "SELECT 1", 0, NULL, NULL, NULL, &rows, &err));
    expect(err, DBR_ERR_MISUSE, "fn is NULL");
    ck_assert_int_eq(rows, 0);
    err = NULL;
    ck_assert(!dbr_query_stream(NULL, NULL, "SELECT 1", 0, NULL, count_row, &c, NULL, &err));
    expect(err, DBR_ERR_MISUSE, "db is NULL");
    err = NULL;
    ck_assert(!dbr_query_stream(db, NULL, NULL, 0, NULL, count_row, &c, NULL, &err));
    expect(err, DBR_ERR_MISUSE, "sql is NULL");
    err = NULL;
    ck_assert(!dbr_query_stream(db, NULL, "SELECT 1", -2, NULL, count_row, &c, NULL, &err));
    expect(err, DBR_ERR_MISUSE, "nparams is -2");
    err = NULL;
    ck_assert(!dbr_tx_query_stream(NULL, "SELECT 1", 0, NULL, count_row, &c, NULL, &err));
    expect(err, DBR_ERR_MISUSE, "tx is NULL");
    err = NULL;
    ck_assert(!dbr_query_stream(db, NULL, "COPY (SELECT 1) TO STDOUT", 0, NULL, count_row, &c, NULL,
                                &err));
    expect(err, DBR_ERR_MISUSE, "dbr_copy_to");
    err = NULL;
    ck_assert_int_eq(t_int(db, "SELECT 41 + 1"), 42);
    ck_assert(!dbr_supports(fake, DBR_CAP_STREAM));
    ck_assert(!dbr_query_stream(fake, NULL, "SELECT 1", 0, NULL, count_row, &c, NULL, &err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    expect(err, DBR_ERR_UNSUPPORTED, "dbr_query_stream");
    dbr_close(fake);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_stream");
    TCase *tc = tcase_create("stream");

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_pg_stream_5m_rows_in_flat_memory);
    tcase_add_test(tc, test_pg_stream_stop_early_cancels_the_query_and_keeps_the_connection);
    tcase_add_test(tc, test_pg_stream_backend_terminated_mid_stream_is_not_retried);
    tcase_add_test(tc, test_pg_stream_backend_terminated_before_the_first_row_is_retried);
    tcase_add_test(tc, test_pg_stream_deadline_mid_stream_times_out_and_keeps_the_connection);
    tcase_add_test(tc, test_pg_stream_cancel_mid_stream_of_a_fast_query);
    tcase_add_test(tc, test_pg_stream_cancel_without_grace_gives_the_connection_up);
    tcase_add_test(tc, test_pg_stream_in_a_transaction);
    tcase_add_test(tc, test_pg_stream_outcomes_of_writes_and_errors_after_rows);
    tcase_add_test(tc, test_pg_stream_misuse_copy_and_unsupported);
    suite_add_tcase(s, tc);
    return t_run(s);
}
