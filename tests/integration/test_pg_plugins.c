/* SPDX-License-Identifier: MIT */
/*
 * The log, chaos and timeout plugins against a real PostgreSQL: what the
 * log shows and never shows, chaos repeating its faults with a seed and a
 * workload surviving 20% injected failures behind retry and breaker, and
 * default deadlines that cancel on the server and yield to the caller's.
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "../testutil.h"

/* Every log record of the process, as "LEVEL|MESSAGE|DBR_SQL" lines. */
static GMutex log_lock;
static GString *log_text;

static GLogWriterOutput capture(GLogLevelFlags level, const GLogField *fields, gsize n,
                                gpointer user)
{
    const char *message = "", *sql = "";

    (void)user;
    for (gsize i = 0; i < n; i++) {
        if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
        else if (strcmp(fields[i].key, "DBR_SQL") == 0)
            sql = fields[i].value;
    }
    g_mutex_lock(&log_lock);
    g_string_append_printf(log_text, "%s|%s|%s\n",
                           level & G_LOG_LEVEL_WARNING ? "warning" : "message", message, sql);
    g_mutex_unlock(&log_lock);
    return G_LOG_WRITER_HANDLED;
}

static char *log_take(void)
{
    char *s;

    g_mutex_lock(&log_lock);
    s = g_strdup(log_text->str);
    g_string_truncate(log_text, 0);
    g_mutex_unlock(&log_lock);
    return s;
}

START_TEST(test_pg_log_shows_slow_and_failed_calls_without_their_data)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = log\n"
                        "[plugin.log]\nslow_threshold = 100ms\n",
                        t_conninfo());
    const char *secret[] = {"top-secret-param"};
    char *text;

    g_free(log_take());
    t_exec(db, "SELECT 1");
    ck_assert(dbr_exec(db, NULL, "SELECT pg_sleep(0.15), 'secret-literal', 42, $1::text", 1, secret,
                       NULL));
    ck_assert(
        !dbr_exec(db, NULL, "SELECT * FROM no_such_table WHERE pw = 'hunter2'", 0, NULL, NULL));
    text = log_take();
    ck_assert_msg(strstr(text, "message|slow exec:") &&
                      strstr(text, "|SELECT pg_sleep(?), '?', ?, $1::text\n"),
                  "%s", text);
    ck_assert_msg(strstr(text, "warning|exec failed after") && strstr(text, "(syntax)") &&
                      strstr(text, "|SELECT * FROM no_such_table WHERE pw = '?'\n"),
                  "%s", text);
    ck_assert_msg(!strstr(text, "SELECT 1"), "a fast call was logged: %s", text);
    ck_assert_msg(!strstr(text, "secret-literal") && !strstr(text, "hunter2") &&
                      !strstr(text, "top-secret-param"),
                  "data leaked into the log: %s", text);
    g_free(text);
    dbr_close(db);
    /* parameter values only when asked for */
    db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = log\n"
                "[plugin.log]\nlog_params = true\n",
                t_conninfo());
    g_free(log_take());
    ck_assert(!dbr_exec(db, NULL, "SELECT $1::int", 1, secret, NULL));
    text = log_take();
    ck_assert_msg(strstr(text, "$1='top-secret-param'"), "%s", text);
    g_free(text);
    dbr_close(db);
}
END_TEST

static void record_fault(const dbr_event *ev, void *user)
{
    if (strcmp(dbr_event_type(ev), "chaos.fault") == 0)
        g_string_append_printf(user, "%s ", dbr_event_get(ev, "fault"));
}

static char *fault_sequence(long long seed)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\nconnect_on_open = false\n"
                        "[chain]\nplugins = chaos\n[plugin.chaos]\nenabled = true\nseed = %lld\n"
                        "error_rate = 0.3\ndrop_rate = 0.1\nlatency = 1ms\nlatency_rate = 0.1\n",
                        t_conninfo(), seed);
    GString *seq = g_string_new(NULL);

    dbr_subscribe(db, record_fault, seq);
    for (int i = 0; i < 200; i++) {
        g_string_append_printf(seq, "%d:", i);
        dbr_ping(db, NULL, NULL);
    }
    dbr_close(db);
    return g_string_free(seq, FALSE);
}

START_TEST(test_pg_chaos_repeats_its_faults_with_a_seed)
{
    char *a = fault_sequence(7), *b = fault_sequence(7), *c = fault_sequence(8);

    ck_assert_msg(strstr(a, "error") && strstr(a, "drop") && strstr(a, "latency"), "%s", a);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    g_free(a);
    g_free(b);
    g_free(c);
}
END_TEST

START_TEST(test_pg_chaos_is_off_unless_enabled)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = chaos\n"
                        "[plugin.chaos]\nerror_rate = 1\n",
                        t_conninfo());

    for (int i = 0; i < 20; i++)
        t_exec(db, "SELECT 1");
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_reads_survive_twenty_percent_injected_failures)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\n"
                        "plugins = retry, breaker, chaos\n"
                        "[plugin.retry]\nmax_attempts = 10\ninitial_interval = 1ms\n"
                        "max_interval = 10ms\nbudget_ratio = 1\n"
                        "[plugin.breaker]\nmax_failures = 20\n"
                        "[plugin.chaos]\nenabled = true\nseed = 2024\nerror_rate = 0.2\n"
                        "drop_rate = 0.05\n",
                        t_conninfo());
    char *m, *errors;

    for (int i = 0; i < 1000; i++) {
        dbr_error *err = NULL;
        dbr_result *r = dbr_query(db, NULL, "SELECT 1", 0, NULL, &err);

        ck_assert_msg(r != NULL, "read %d: %s", i, dbr_error_message(err));
        dbr_result_free(r);
    }
    m = dbr_metrics_text(db);
    errors = strstr(m, "dbr_chaos_faults_total{db=\"default\",fault=\"error\"} ");
    ck_assert_ptr_nonnull(errors);
    printf("1000 reads answered through %lld injected errors\n",
           (long long)g_ascii_strtoll(strchr(errors, '}') + 2, NULL, 10));
    ck_assert_int_gt(g_ascii_strtoll(strchr(errors, '}') + 2, NULL, 10), 150);
    free(m);
    dbr_close(db);
}
END_TEST

static bool no_sleeper(void *admin)
{
    return t_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                        "query = 'SELECT pg_sleep(5)'") == 0;
}

static bool sleeps(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "SELECT pg_sleep(0.3)", 0, NULL, err) &&
           dbr_tx_exec(tx, "SELECT pg_sleep(0.3)", 0, NULL, err);
}

START_TEST(test_pg_timeout_gives_default_deadlines)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = timeout\n"
                        "[plugin.timeout]\nstatement = 300ms\ntransaction = 400ms\n",
                        t_conninfo());
    dbr_db *admin = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    dbr_error *err = NULL;
    dbr_ctx *ctx;
    gint64 start = g_get_monotonic_time();

    ck_assert(!dbr_exec(db, NULL, "SELECT pg_sleep(5)", 0, NULL, &err));
    ck_assert_int_lt(g_get_monotonic_time() - start, 2000000);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    ck_assert_msg(strstr(dbr_error_message(err), "default statement deadline of 300 ms"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    err = NULL;
    ck_assert(t_wait_for(no_sleeper, admin, 5000)); /* canceled on the server */
    /* a whole transaction gets the transaction deadline */
    ck_assert(!dbr_tx_run(db, NULL, NULL, sleeps, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    dbr_error_free(err);
    err = NULL;
    /* the caller's own deadline wins, even a longer one */
    ctx = dbr_ctx_with_timeout(3000);
    ck_assert_msg(dbr_exec(db, ctx, "SELECT pg_sleep(0.6)", 0, NULL, &err), "%s",
                  dbr_error_message(err));
    dbr_ctx_free(ctx);
    dbr_close(admin);
    dbr_close(db);
}
END_TEST

static gpointer cancel_soon(gpointer ctx)
{
    g_usleep(200000);
    dbr_ctx_cancel(ctx);
    return NULL;
}

START_TEST(test_pg_timeout_keeps_the_callers_cancel)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = timeout\n"
                        "[plugin.timeout]\nstatement = 10s\n",
                        t_conninfo());
    dbr_ctx *ctx = dbr_ctx_new(); /* cancellable, no deadline: the plugin adds one */
    GThread *t = g_thread_new("cancel", cancel_soon, ctx);
    dbr_error *err = NULL;

    ck_assert(!dbr_exec(db, ctx, "SELECT pg_sleep(5)", 0, NULL, &err));
    g_thread_join(t);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CANCELED);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_plugins");
    TCase *tc = tcase_create("pg_plugins");

    log_text = g_string_new(NULL);
    g_log_set_writer_func(capture, NULL, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pg_log_shows_slow_and_failed_calls_without_their_data);
    tcase_add_test(tc, test_pg_chaos_repeats_its_faults_with_a_seed);
    tcase_add_test(tc, test_pg_chaos_is_off_unless_enabled);
    tcase_add_test(tc, test_pg_reads_survive_twenty_percent_injected_failures);
    tcase_add_test(tc, test_pg_timeout_gives_default_deadlines);
    tcase_add_test(tc, test_pg_timeout_keeps_the_callers_cancel);
    suite_add_tcase(s, tc);
    {
        int rc = t_run(s);

        g_string_free(log_text, TRUE);
        return rc;
    }
}
