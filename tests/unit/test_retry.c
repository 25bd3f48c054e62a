/* SPDX-License-Identifier: MIT */
/*
 * The retry plugin on the scripted driver and a fake clock: what is retried
 * and what never is, the backoff delays and their jitter bounds, attempt,
 * elapsed-time, deadline and budget limits, cancellation during a backoff
 * sleep, and whole transactions run again on a serialization failure.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

#define DB "[database]\ndriver = fake\nconnect_on_open = false\n"

/* A fake clock: sleeping advances it at once and records the delay. */
typedef struct fake_clock {
    int64_t now;
    GArray *sleeps; /* int64_t microseconds */
} fake_clock;

static int64_t fake_now(void *user)
{
    return ((fake_clock *)user)->now;
}

static bool fake_sleep_until(void *user, dbr_ctx *ctx, int64_t until)
{
    fake_clock *c = user;
    int64_t d = until - c->now;

    if (dbr_ctx_done(ctx))
        return false;
    g_array_append_val(c->sleeps, d);
    c->now = until;
    return true;
}

static fake_clock clk;
static dbr_clock clock_ops = {fake_now, fake_sleep_until, &clk, 0};

static dbr_db *open_fake(uint64_t seed, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static dbr_db *open_fake(uint64_t seed, const char *fmt, ...)
{
    dbr_open_opts o = {.clock = &clock_ops, .seed = seed};
    dbr_error *err = NULL;
    va_list ap;
    char *text;
    dbr_db *db;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    o.config_text = text;
    db = dbr_open_with(&o, &err);
    ck_assert_msg(db != NULL, "%s", dbr_error_message(err));
    g_free(text);
    return db;
}

static void setup(void)
{
    clk.now = 1000000;
    clk.sleeps = g_array_new(FALSE, FALSE, sizeof(int64_t));
}

static void teardown(void)
{
    g_array_free(clk.sleeps, TRUE);
}

typedef struct seen {
    int attempts, giveups;
    char reason[64];
} seen;

static void count_events(const dbr_event *ev, void *user)
{
    seen *s = user;

    if (strcmp(dbr_event_type(ev), "retry.attempt") == 0)
        g_atomic_int_inc(&s->attempts);
    if (strcmp(dbr_event_type(ev), "retry.giveup") == 0) {
        s->giveups++;
        g_strlcpy(s->reason, dbr_event_get(ev, "reason"), sizeof(s->reason));
    }
}

/* A second db without plugins, to script the shared fake driver. */
static void script(const char *sql)
{
    dbr_db *ctl = t_open("[database]\ndriver = fake\nconninfo = control\n");

    t_exec(ctl, sql);
    dbr_close(ctl);
}

START_TEST(test_retry_retries_connect_failures_with_exponential_delays)
{
    dbr_db *db = open_fake(1, DB "[chain]\nplugins = retry\n[plugin.retry]\njitter = false\n"
                                 "initial_interval = 100ms\nmax_interval = 10s\n");
    seen s = {0};
    dbr_error *err = NULL;

    dbr_subscribe(db, count_events, &s);
    script("fake:connect_fail 3 connection");
    ck_assert_msg(dbr_ping(db, NULL, &err), "%s", dbr_error_message(err));
    ck_assert_int_eq(s.attempts, 3);
    ck_assert_int_eq(clk.sleeps->len, 3);
    ck_assert_int_eq(g_array_index(clk.sleeps, int64_t, 0), 100000);
    ck_assert_int_eq(g_array_index(clk.sleeps, int64_t, 1), 200000);
    ck_assert_int_eq(g_array_index(clk.sleeps, int64_t, 2), 400000);
    dbr_close(db);
}
END_TEST

static GArray *jittered_delays(uint64_t seed)
{
    dbr_db *db = open_fake(seed, DB "[chain]\nplugins = retry\n[plugin.retry]\n"
                                    "max_attempts = 8\nmax_interval = 1s\n"
                                    "initial_interval = 100ms\n");
    GArray *copy;

    g_array_set_size(clk.sleeps, 0);
    script("fake:connect_fail 7 connection");
    ck_assert(dbr_ping(db, NULL, NULL));
    dbr_close(db);
    copy = g_array_sized_new(FALSE, FALSE, sizeof(int64_t), clk.sleeps->len);
    g_array_append_vals(copy, clk.sleeps->data, clk.sleeps->len);
    return copy;
}

START_TEST(test_retry_jitter_stays_within_bounds_and_repeats_with_a_seed)
{
    GArray *a = jittered_delays(42), *b = jittered_delays(42), *c = jittered_delays(43);
    bool differ = false;

    ck_assert_int_eq(a->len, 7);
    for (guint i = 0; i < a->len; i++) {
        int64_t cap = MIN((int64_t)100000 << i, 1000000), d = g_array_index(a, int64_t, i);

        ck_assert_msg(d >= 0 && d < cap, "delay %u = %lld, cap %lld", i, (long long)d,
                      (long long)cap);
        ck_assert_int_eq(d, g_array_index(b, int64_t, i));
        differ |= d != g_array_index(c, int64_t, i);
    }
    ck_assert(differ); /* another seed, other delays */
    g_array_free(a, TRUE);
    g_array_free(b, TRUE);
    g_array_free(c, TRUE);
}
END_TEST

START_TEST(test_retry_gives_up_after_max_attempts)
{
    dbr_db *db = open_fake(1, DB "[chain]\nplugins = retry\n[plugin.retry]\nmax_attempts = 3\n");
    seen s = {0};
    dbr_error *err = NULL;

    dbr_subscribe(db, count_events, &s);
    script("fake:connect_fail 10 connection");
    ck_assert(!dbr_ping(db, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
    ck_assert_msg(strstr(dbr_error_message(err), "gave up after 3 attempts (max_attempts)"), "%s",
                  dbr_error_message(err));
    ck_assert_str_eq(dbr_error_layer(err), "retry");
    ck_assert_str_eq(dbr_error_layer(dbr_error_cause(err)), "fake");
    ck_assert_int_eq(s.attempts, 2);
    ck_assert_int_eq(s.giveups, 1);
    dbr_error_free(err);
    script("fake:reset");
    dbr_close(db);
}
END_TEST

/* An attempt that applied part of the call (PARTIAL) leaves the call's
 * fate open, whatever later attempts say: giving up after it is never
 * "not applied". */
START_TEST(test_retry_remembers_a_partial_attempt)
{
    dbr_db *db = open_fake(1, DB "[chain]\nplugins = retry, trace_a\n[plugin.retry]\n"
                                 "max_attempts = 2\n[plugin.trace_a]\n"
                                 "outcomes = partial, not-applied, not-applied\n");
    dbr_ctx *ctx = dbr_ctx_new();
    dbr_error *err = NULL;

    dbr_ctx_set_idempotent(ctx, true);
    ck_assert(!dbr_exec(db, ctx, "UPDATE t SET x = 1", 0, NULL, &err));
    ck_assert_msg(strstr(dbr_error_message(err), "gave up after 2 attempts"), "%s",
                  dbr_error_message(err));
    ck_assert_msg(dbr_error_outcome(err) != DBR_OUTCOME_NOT_APPLIED,
                  "an attempt applied part of it, yet the call says not applied: %s",
                  dbr_error_message(err));
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    dbr_close(db);
}
END_TEST

START_TEST(test_retry_stops_at_max_elapsed)
{
    dbr_db *db = open_fake(1, DB "[chain]\nplugins = retry\n[plugin.retry]\njitter = false\n"
                                 "max_attempts = 50\nmax_elapsed = 250ms\n"
                                 "initial_interval = 100ms\n");
    seen s = {0};
    dbr_error *err = NULL;

    dbr_subscribe(db, count_events, &s);
    script("fake:connect_fail 50 connection");
    ck_assert(!dbr_ping(db, NULL, &err));
    /* 100 ms, then 200 ms would end at 300 ms > 250 ms */
    ck_assert_int_eq(clk.sleeps->len, 1);
    ck_assert_str_eq(s.reason, "max_elapsed");
    dbr_error_free(err);
    script("fake:reset");
    dbr_close(db);
}
END_TEST

START_TEST(test_retry_passes_non_retryable_kinds_after_one_attempt)
{
    static const char *const failures[] = {
        "fake:fail constraint answered", "fake:fail syntax answered",
        "fake:fail permission answered", "fake:fail commit-unknown sent",
        "fake:fail read-only answered",  "fake:fail misuse answered",
        "fake:fail connection sent", /* an autocommit write that may have run */
        "fake:fail timeout answered",    "fake:fail resource answered",
    };
    dbr_db *db = open_fake(1, DB "[chain]\nplugins = retry\n");
    seen s = {0};

    dbr_subscribe(db, count_events, &s);
    for (size_t i = 0; i < G_N_ELEMENTS(failures); i++) {
        dbr_error *err = NULL;

        ck_assert(!dbr_exec(db, NULL, failures[i], 0, NULL, &err));
        ck_assert_msg(strstr(dbr_error_message(err), "injected"), "%s: %s", failures[i],
                      dbr_error_message(err));
        ck_assert_msg(!strstr(dbr_error_message(err), "gave up"), "%s", dbr_error_message(err));
        dbr_error_free(err);
    }
    ck_assert_int_eq(s.attempts, 0);
    ck_assert_int_eq(s.giveups, 0);
    dbr_close(db);
}
END_TEST

static int runs;

static bool update_once(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    runs++;
    return dbr_tx_exec(tx, "UPDATE counter SET n = n + 1", 0, NULL, err);
}

START_TEST(test_retry_reruns_the_whole_transaction_on_serialization_failure)
{
    dbr_db *db = open_fake(1, DB "[chain]\nplugins = retry\n");
    dbr_error *err = NULL;
    dbr_result *r;
    GString *log = g_string_new(NULL);

    script("fake:reset");
    script("fake:fail_next UPDATE serialization answered");
    runs = 0;
    ck_assert_msg(dbr_tx_serializable(db, NULL, update_once, NULL, &err), "%s",
                  dbr_error_message(err));
    ck_assert_int_eq(runs, 2);
    r = dbr_query(db, NULL, "fake:log", 0, NULL, NULL);
    for (int i = 0; i < dbr_result_nrows(r); i++)
        g_string_append_printf(log, "%s%s", i ? " | " : "", dbr_result_value(r, i, 0));
    dbr_result_free(r);
    ck_assert_str_eq(
        log->str, "START TRANSACTION ISOLATION LEVEL SERIALIZABLE | UPDATE counter SET n = n + 1 "
                  "| ROLLBACK | START TRANSACTION ISOLATION LEVEL SERIALIZABLE | "
                  "UPDATE counter SET n = n + 1 | COMMIT");
    g_string_free(log, TRUE);
    dbr_close(db);
}
END_TEST

START_TEST(test_retry_never_retries_commit_unknown_transaction)
{
    dbr_db *db = open_fake(1, DB "[chain]\nplugins = retry\n");
    dbr_error *err = NULL;

    script("fake:fail_next COMMIT connection sent");
    runs = 0;
    ck_assert(!dbr_tx_run(db, NULL, NULL, update_once, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_COMMIT_UNKNOWN);
    ck_assert_int_eq(runs, 1);
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

START_TEST(test_retry_budget_limits_a_retry_storm)
{
    dbr_db *db = open_fake(1, DB "[chain]\nplugins = retry\n[plugin.retry]\nbudget_ratio = 0\n"
                                 "budget_min_retries = 2\nmax_attempts = 5\n");
    seen s = {0};
    dbr_error *err = NULL;

    dbr_subscribe(db, count_events, &s);
    script("fake:connect_fail 100 connection");
    ck_assert(!dbr_ping(db, NULL, &err));
    ck_assert_int_eq(s.attempts, 2);
    ck_assert_str_eq(s.reason, "retry budget spent");
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_ping(db, NULL, &err)); /* no budget left in this window */
    ck_assert_int_eq(s.attempts, 2);
    ck_assert_msg(strstr(dbr_error_message(err), "gave up after 1 attempt (retry budget spent)"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    script("fake:reset");
    dbr_close(db);
}
END_TEST

START_TEST(test_retry_open_breaker_is_waited_out_unless_configured)
{
    dbr_db *db = open_fake(1, DB "[chain]\nplugins = retry, trace_a\n[plugin.retry]\n"
                                 "wait_breaker = false\n[plugin.trace_a]\nrefuse = true\n");
    seen s = {0};
    dbr_error *err = NULL;

    dbr_subscribe(db, count_events, &s);
    ck_assert(!dbr_ping(db, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CIRCUIT_OPEN);
    ck_assert_int_eq(s.attempts, 0);
    dbr_error_free(err);
    dbr_close(db);
    /* By default a refusal is waited out at initial_interval's pace: it
     * spends no attempt (nothing was sent) and no growing backoff, only
     * time (max_elapsed) and budget. */
    db = open_fake(1, DB "[chain]\nplugins = retry, trace_a\n[plugin.retry]\njitter = false\n"
                         "max_attempts = 3\nmax_elapsed = 1s\nbudget_min_retries = 1000\n"
                         "[plugin.trace_a]\nrefuse = true\n");
    dbr_subscribe(db, count_events, &s);
    g_array_set_size(clk.sleeps, 0);
    err = NULL;
    ck_assert(!dbr_ping(db, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CIRCUIT_OPEN);
    ck_assert_str_eq(s.reason, "max_elapsed");
    ck_assert_int_eq(s.attempts, 20); /* 1 s of 50 ms waits, far past max_attempts */
    for (guint i = 0; i < clk.sleeps->len; i++)
        ck_assert_int_eq(g_array_index(clk.sleeps, int64_t, i), 50000);
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

typedef struct canceler {
    dbr_ctx *ctx;
    seen *s;
} canceler;

static bool attempted(void *arg)
{
    return g_atomic_int_get(&((seen *)arg)->attempts) > 0;
}

static gpointer cancel_after_first_attempt(gpointer data)
{
    canceler *c = data;

    ck_assert(t_wait_for(attempted, c->s, 10000));
    dbr_ctx_cancel(c->ctx);
    return NULL;
}

START_TEST(test_retry_cancel_interrupts_the_backoff_sleep)
{
    /* the real clock: the sleep must end when the ctx is canceled */
    dbr_db *db = t_open(DB "[chain]\nplugins = retry\n[plugin.retry]\ninitial_interval = 30s\n"
                           "max_interval = 60s\njitter = false\nmax_elapsed = 0\n");
    seen s = {0};
    canceler c = {dbr_ctx_new(), &s};
    dbr_error *err = NULL;
    gint64 start = g_get_monotonic_time();
    GThread *t;

    dbr_subscribe(db, count_events, &s);
    script("fake:connect_fail 5 connection");
    t = g_thread_new("cancel", cancel_after_first_attempt, &c);
    ck_assert(!dbr_ping(db, c.ctx, &err));
    g_thread_join(t);
    ck_assert_int_lt(g_get_monotonic_time() - start, 5000000);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CANCELED);
    ck_assert_int_eq(dbr_error_kind_of(dbr_error_cause(err)), DBR_ERR_CONNECTION);
    dbr_error_free(err);
    dbr_ctx_free(c.ctx);
    script("fake:reset");
    dbr_close(db);
}
END_TEST

START_TEST(test_retry_no_sleep_outlives_the_deadline)
{
    dbr_db *db = t_open(DB "[chain]\nplugins = retry\n[plugin.retry]\ninitial_interval = 2s\n"
                           "max_interval = 10s\njitter = false\nmax_elapsed = 0\n");
    dbr_ctx *ctx = dbr_ctx_with_timeout(300);
    dbr_error *err = NULL;
    gint64 start = g_get_monotonic_time();

    script("fake:connect_fail 5 connection");
    ck_assert(!dbr_ping(db, ctx, &err));
    ck_assert_int_lt(g_get_monotonic_time() - start, 300000);
    ck_assert_msg(strstr(dbr_error_message(err), "(deadline)"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    script("fake:reset");
    dbr_close(db);
}
END_TEST

START_TEST(test_retry_rejects_bad_settings)
{
    dbr_error *err = t_open_fail(DB "[chain]\nplugins = retry\n[plugin.retry]\nmax_attempts = 0\n");

    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), "[plugin.retry] max_attempts"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    err = t_open_fail(DB "[chain]\nplugins = retry\n[plugin.retry]\ninitial_interval = 5s\n"
                         "max_interval = 1s\n");
    ck_assert_msg(strstr(dbr_error_message(err), "max_interval"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    err = t_open_fail(DB "[chain]\nplugins = retry\n[plugin.retry]\nmax_atempts = 3\n");
    ck_assert_msg(strstr(dbr_error_message(err), "max_atempts: unknown key"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("retry");
    TCase *tc = tcase_create("retry");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_retry_retries_connect_failures_with_exponential_delays);
    tcase_add_test(tc, test_retry_jitter_stays_within_bounds_and_repeats_with_a_seed);
    tcase_add_test(tc, test_retry_gives_up_after_max_attempts);
    tcase_add_test(tc, test_retry_stops_at_max_elapsed);
    tcase_add_test(tc, test_retry_passes_non_retryable_kinds_after_one_attempt);
    tcase_add_test(tc, test_retry_reruns_the_whole_transaction_on_serialization_failure);
    tcase_add_test(tc, test_retry_never_retries_commit_unknown_transaction);
    tcase_add_test(tc, test_retry_budget_limits_a_retry_storm);
    tcase_add_test(tc, test_retry_open_breaker_is_waited_out_unless_configured);
    tcase_add_test(tc, test_retry_cancel_interrupts_the_backoff_sleep);
    tcase_add_test(tc, test_retry_no_sleep_outlives_the_deadline);
    tcase_add_test(tc, test_retry_rejects_bad_settings);
    tcase_add_test(tc, test_retry_remembers_a_partial_attempt);
    suite_add_tcase(s, tc);
    return t_run(s);
}
