/* SPDX-License-Identifier: MIT */
/*
 * The circuit breaker on the scripted driver and a fake clock: every
 * transition, what counts as a failure, half-open limits, generations,
 * rate-based tripping, the clearing interval, operator control, and an
 * open state that refuses without allocating.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

#define DB "[database]\ndriver = fake\nconnect_on_open = false\n[chain]\nplugins = breaker\n"

static gint64 fake_time = 1000000;

static int64_t fake_now(void *user)
{
    (void)user;
    return fake_time;
}

static bool fake_sleep_until(void *user, dbr_ctx *ctx, int64_t until)
{
    (void)user;
    if (dbr_ctx_done(ctx))
        return false;
    fake_time = until;
    return true;
}

static dbr_clock clock_ops = {fake_now, fake_sleep_until, NULL, 0};

static dbr_db *open_breaker(const char *settings)
{
    /* The recovery probe runs on real time and would close an open breaker
     * behind a test's back: only the tests about it turn it on. */
    char *text =
        g_strdup_printf(DB "[plugin.breaker]\n%s%s",
                        strstr(settings, "probe_interval") ? "" : "probe_interval = 0\n", settings);
    dbr_open_opts o = {.config_text = text, .clock = &clock_ops, .seed = 1};
    dbr_error *err = NULL;
    dbr_db *db = dbr_open_with(&o, &err);

    ck_assert_msg(db != NULL, "%s", dbr_error_message(err));
    g_free(text);
    return db;
}

static char *state_of(dbr_db *db)
{
    char *reply = NULL, *sp, *st;
    dbr_error *err = NULL;

    ck_assert_msg(dbr_control(db, "breaker", "state", &reply, &err), "%s", dbr_error_message(err));
    sp = strchr(reply, ' ');
    st = g_strndup(reply + 6, (gsize)(sp - reply - 6));
    free(reply);
    return st;
}

static void expect_state(dbr_db *db, const char *want)
{
    char *st = state_of(db);

    ck_assert_str_eq(st, want);
    g_free(st);
}

static void record(const dbr_event *ev, void *user)
{
    GString *s = user;

    if (strcmp(dbr_event_type(ev), "breaker.state") == 0)
        g_string_append_printf(s, "%s%s>%s", s->len ? " " : "", dbr_event_get(ev, "from"),
                               dbr_event_get(ev, "to"));
}

static bool fails(dbr_db *db, const char *sql, dbr_error_kind kind)
{
    dbr_error *err = NULL;
    bool ok = dbr_exec(db, NULL, sql, 0, NULL, &err);

    ck_assert_msg(!ok && dbr_error_kind_of(err) == kind, "%s: expected %s, got %s (%s)", sql,
                  dbr_error_kind_name(kind), dbr_error_kind_name(dbr_error_kind_of(err)),
                  dbr_error_message(err));
    dbr_error_free(err);
    return true;
}

START_TEST(test_breaker_trips_after_max_failures_and_fails_fast)
{
    dbr_db *db = open_breaker("max_failures = 3\ntimeout = 30s\n");
    GString *events = g_string_new(NULL);
    dbr_error *e1 = NULL, *e2 = NULL;

    dbr_subscribe(db, record, events);
    for (int i = 0; i < 3; i++) {
        expect_state(db, "closed");
        fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    }
    expect_state(db, "open");
    ck_assert_str_eq(events->str, "closed>open");
    /* open: refused without reaching the driver, with a preset error */
    ck_assert(!dbr_exec(db, NULL, "SELECT 1", 0, NULL, &e1));
    ck_assert(!dbr_exec(db, NULL, "SELECT 1", 0, NULL, &e2));
    ck_assert_int_eq(dbr_error_kind_of(e1), DBR_ERR_CIRCUIT_OPEN);
    ck_assert_ptr_eq(e1, e2); /* the same static object: nothing was allocated */
    dbr_error_free(e1);
    dbr_error_free(e2);
    g_string_free(events, TRUE);
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_counts_only_infrastructure_failures)
{
    dbr_db *db = open_breaker("max_failures = 2\n");

    for (int i = 0; i < 10; i++) {
        fails(db, "fake:fail constraint answered", DBR_ERR_CONSTRAINT);
        fails(db, "fake:fail syntax answered", DBR_ERR_SYNTAX);
        fails(db, "fake:fail permission answered", DBR_ERR_PERMISSION);
        fails(db, "fake:fail canceled answered", DBR_ERR_CANCELED);
        /* the server's answers about the request, and the caller's deadline */
        fails(db, "fake:fail lock-contention answered", DBR_ERR_LOCK_CONTENTION);
        fails(db, "fake:fail timeout answered", DBR_ERR_TIMEOUT);
        fails(db, "fake:fail data-corrupted answered", DBR_ERR_DATA_CORRUPTED);
        fails(db, "fake:fail misuse answered", DBR_ERR_MISUSE);
    }
    expect_state(db, "closed");
    /* one failure between successes never trips it */
    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    t_exec(db, "SELECT 1");
    fails(db, "fake:fail resource answered", DBR_ERR_RESOURCE);
    expect_state(db, "closed");
    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    expect_state(db, "open");
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_counted_kinds_are_configurable)
{
    dbr_db *db = open_breaker("max_failures = 2\ncount = timeout, lock-contention\n");
    dbr_open_opts o = {.config_text = DB "[plugin.breaker]\ncount = connection, sorcery\n"};
    dbr_error *err = NULL;

    /* connection is no longer counted... */
    for (int i = 0; i < 5; i++)
        fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    expect_state(db, "closed");
    /* ...timeouts and lock contention are */
    fails(db, "fake:fail timeout answered", DBR_ERR_TIMEOUT);
    fails(db, "fake:fail lock-contention answered", DBR_ERR_LOCK_CONTENTION);
    expect_state(db, "open");
    dbr_close(db);
    /* a name that is no kind is a config error that names it and the key */
    ck_assert_ptr_null(dbr_open_with(&o, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), "count") &&
                      strstr(dbr_error_message(err), "sorcery"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
}
END_TEST

static bool breaker_half_open(void *arg)
{
    char *st = state_of(arg);
    bool half = strcmp(st, "half-open") == 0;

    g_free(st);
    return half;
}

START_TEST(test_breaker_probe_closes_it_when_the_server_takes_connections)
{
    /* A timeout of an hour: only the probe can close it within the test. */
    dbr_db *db = open_breaker("max_failures = 1\ntimeout = 1h\nprobe_interval = 5ms\n"
                              "probe_max_interval = 20ms\n");
    dbr_db *ctl = t_open("[database]\ndriver = fake\nconninfo = control\n");
    GString *events = g_string_new(NULL);
    char *text;

    dbr_subscribe(db, record, events);
    t_exec(db, "SELECT 1"); /* the failing call below then needs no connect */
    /* The server refuses the next 4 connects: the probes fail, back off... */
    t_exec(ctl, "fake:connect_fail 4 connection");
    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    /* ...and the fifth probe gets through and half-opens it, with no user
     * call (and long before the timeout); the next call closes it. */
    ck_assert(t_wait_for(breaker_half_open, db, 20000));
    text = dbr_metrics_text(db);
    ck_assert(strstr(text, "dbr_breaker_probes_total{db=\"default\",result=\"failed\"} 4\n"));
    ck_assert(strstr(text, "dbr_breaker_probes_total{db=\"default\",result=\"ok\"} 1\n"));
    free(text);
    t_exec(db, "SELECT 1");
    expect_state(db, "closed");
    ck_assert_str_eq(events->str, "closed>open open>half-open half-open>closed");
    g_string_free(events, TRUE);
    dbr_close(ctl);
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_probe_leaves_a_forced_open_alone)
{
    dbr_db *db = open_breaker("probe_interval = 1ms\nprobe_max_interval = 1ms\n");

    ck_assert(dbr_control(db, "breaker", "force_open", NULL, NULL));
    g_usleep(50000); /* fifty chances for a probe that should not run */
    expect_state(db, "open");
    ck_assert(dbr_control(db, "breaker", "reset", NULL, NULL));
    expect_state(db, "closed");
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_failed_login_is_not_a_sick_server)
{
    dbr_db *db = open_breaker("max_failures = 2\n");
    dbr_db *ctl = t_open("[database]\ndriver = fake\nconninfo = control\n");

    t_exec(ctl, "fake:connect_fail 5 permission");
    for (int i = 0; i < 5; i++)
        ck_assert(!dbr_ping(db, NULL, NULL));
    expect_state(db, "closed");
    dbr_close(ctl);
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_half_opens_after_timeout_and_closes_on_success)
{
    dbr_db *db = open_breaker("max_failures = 1\ntimeout = 10s\nmax_requests = 2\n");
    GString *events = g_string_new(NULL);

    dbr_subscribe(db, record, events);
    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    expect_state(db, "open");
    fake_time += 9 * G_USEC_PER_SEC;
    fails(db, "SELECT 1", DBR_ERR_CIRCUIT_OPEN);
    fake_time += 1 * G_USEC_PER_SEC;
    expect_state(db, "half-open");
    t_exec(db, "SELECT 1");
    expect_state(db, "half-open"); /* max_requests successes are needed */
    t_exec(db, "SELECT 1");
    expect_state(db, "closed");
    ck_assert_str_eq(events->str, "closed>open open>half-open half-open>closed");
    g_string_free(events, TRUE);
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_half_open_failure_reopens)
{
    dbr_db *db = open_breaker("max_failures = 1\ntimeout = 10s\n");
    GString *events = g_string_new(NULL);

    dbr_subscribe(db, record, events);
    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    fake_time += 10 * G_USEC_PER_SEC;
    fails(db, "fake:fail resource answered", DBR_ERR_RESOURCE);
    expect_state(db, "open");
    ck_assert_str_eq(events->str, "closed>open open>half-open half-open>open");
    g_string_free(events, TRUE);
    dbr_close(db);
}
END_TEST

typedef struct slow {
    dbr_db *db;
    const char *sql;
    bool ok;
    dbr_error_kind kind;
} slow;

static gpointer run_slow(gpointer data)
{
    slow *s = data;
    dbr_error *err = NULL;

    s->ok = dbr_exec(s->db, NULL, s->sql, 0, NULL, &err);
    s->kind = dbr_error_kind_of(err);
    dbr_error_free(err);
    return NULL;
}

static bool one_in_use(void *arg)
{
    dbr_pool_stats st;

    dbr_pool_stats_get(arg, &st);
    return st.in_use == 1;
}

START_TEST(test_breaker_half_open_lets_max_requests_through)
{
    dbr_db *db = open_breaker("max_failures = 1\ntimeout = 10s\nmax_requests = 1\n");
    slow s = {db, "fake:sleep 300", false, 0};
    GThread *t;

    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    fake_time += 10 * G_USEC_PER_SEC;
    t = g_thread_new("slow", run_slow, &s);
    ck_assert(t_wait_for(one_in_use, db, 10000));
    /* the one half-open slot is taken: refused */
    fails(db, "SELECT 1", DBR_ERR_CIRCUIT_OPEN);
    g_thread_join(t);
    ck_assert(s.ok);
    expect_state(db, "closed");
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_ignores_outcomes_of_an_earlier_generation)
{
    dbr_db *db = open_breaker("max_failures = 1\n");
    slow s = {db, "fake:sleep_fail 300 connection", false, 0};
    GThread *t = g_thread_new("slow", run_slow, &s);

    ck_assert(t_wait_for(one_in_use, db, 10000));
    /* a new generation starts while the slow call is in flight */
    ck_assert(dbr_control(db, "breaker", "reset", NULL, NULL));
    g_thread_join(t);
    ck_assert_int_eq(s.kind, DBR_ERR_CONNECTION);
    expect_state(db, "closed"); /* its failure belonged to the old generation */
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_trips_on_failure_ratio)
{
    dbr_db *db = open_breaker("max_failures = 1000\nfailure_ratio = 0.5\nmin_requests = 10\n");

    for (int i = 0; i < 4; i++) {
        t_exec(db, "SELECT 1");
        fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    }
    expect_state(db, "closed"); /* 8 requests: below min_requests */
    t_exec(db, "SELECT 1");
    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    expect_state(db, "open"); /* 5 of 10 */
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_interval_clears_counts)
{
    dbr_db *db = open_breaker("max_failures = 3\ninterval = 1s\n");

    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    fake_time += G_USEC_PER_SEC;
    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    expect_state(db, "closed");
    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    expect_state(db, "open");
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_operator_can_force_open_and_reset)
{
    dbr_db *db = open_breaker("timeout = 1s\n");
    dbr_error *err = NULL;
    char *reply = NULL;

    ck_assert(dbr_control(db, "breaker", "force_open", &reply, &err));
    ck_assert_msg(strstr(reply, "state=open") && strstr(reply, "forced=true"), "%s", reply);
    free(reply);
    fake_time += 3600 * G_TIME_SPAN_SECOND; /* forced open outlasts any timeout */
    fails(db, "SELECT 1", DBR_ERR_CIRCUIT_OPEN);
    ck_assert(dbr_control(db, "breaker", "reset", NULL, &err));
    t_exec(db, "SELECT 1");
    expect_state(db, "closed");
    ck_assert(!dbr_control(db, "breaker", "explode", NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_control(db, "nosuch", "state", NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_state_in_metrics)
{
    dbr_db *db = open_breaker("max_failures = 1\n");
    char *text;

    fails(db, "fake:fail connection answered", DBR_ERR_CONNECTION);
    fails(db, "SELECT 1", DBR_ERR_CIRCUIT_OPEN);
    text = dbr_metrics_text(db);
    ck_assert_msg(strstr(text, "dbr_breaker_state{db=\"default\"} 2\n"), "%s", text);
    ck_assert(strstr(text, "dbr_breaker_rejected_total{db=\"default\"} 1\n"));
    ck_assert(strstr(text, "dbr_breaker_transitions_total{db=\"default\",to=\"open\"} 1\n"));
    free(text);
    dbr_close(db);
}
END_TEST

static dbr_db *open_chain(const char *chain)
{
    char *text = g_strdup_printf("[database]\ndriver = fake\nconnect_on_open = false\n"
                                 "[chain]\nplugins = %s\n[plugin.breaker]\nmax_failures = 3\n"
                                 "probe_interval = 0\n[plugin.retry]\nmax_attempts = 5\n"
                                 "jitter = false\nwait_breaker = false\n",
                                 chain);
    dbr_open_opts o = {.config_text = text, .clock = &clock_ops, .seed = 1};
    dbr_error *err = NULL;
    dbr_db *db = dbr_open_with(&o, &err);

    ck_assert_msg(db != NULL, "%s", dbr_error_message(err));
    g_free(text);
    return db;
}

START_TEST(test_breaker_inside_retry_counts_every_attempt)
{
    dbr_db *db = open_chain("retry, breaker");
    dbr_db *ctl = t_open("[database]\ndriver = fake\nconninfo = control\n");
    dbr_error *err = NULL;

    t_exec(ctl, "fake:connect_fail 10 connection");
    ck_assert(!dbr_ping(db, NULL, &err));
    /* attempts 1-3 fail and trip it; the 4th is refused, which ends the retries */
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CIRCUIT_OPEN);
    ck_assert_msg(strstr(dbr_error_message(err),
                         "gave up after 3 attempts and 1 refusal by an open "
                         "breaker (breaker open; the last failure: "
                         "injected connect failure)"),
                  "%s", dbr_error_message(err));
    expect_state(db, "open");
    dbr_error_free(err);
    t_exec(ctl, "fake:reset");
    dbr_close(ctl);
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_refusal_after_an_unknown_attempt_stays_unknown)
{
    dbr_db *db = open_chain("retry, breaker");
    dbr_ctx *ctx = dbr_ctx_new();
    dbr_error *err = NULL;

    /* An idempotent call whose attempts were lost after sending (unknown),
     * until the breaker refused the next: it may have run, and the final
     * error, a refusal, must not say "not applied". */
    dbr_ctx_set_idempotent(ctx, true);
    ck_assert(!dbr_exec(db, ctx, "fake:fail connection sent", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CIRCUIT_OPEN);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_UNKNOWN);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    dbr_close(db);
}
END_TEST

START_TEST(test_breaker_outside_retry_counts_one_logical_call)
{
    dbr_db *db = open_chain("breaker, retry");
    dbr_db *ctl = t_open("[database]\ndriver = fake\nconninfo = control\n");
    dbr_error *err = NULL;

    t_exec(ctl, "fake:connect_fail 10 connection");
    ck_assert(!dbr_ping(db, NULL, &err));
    /* five attempts inside, one failure for the breaker */
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
    ck_assert_msg(strstr(dbr_error_message(err), "gave up after 5 attempts"), "%s",
                  dbr_error_message(err));
    expect_state(db, "closed");
    dbr_error_free(err);
    t_exec(ctl, "fake:reset");
    dbr_close(ctl);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("breaker");
    TCase *tc = tcase_create("breaker");

    tcase_add_test(tc, test_breaker_trips_after_max_failures_and_fails_fast);
    tcase_add_test(tc, test_breaker_counts_only_infrastructure_failures);
    tcase_add_test(tc, test_breaker_failed_login_is_not_a_sick_server);
    tcase_add_test(tc, test_breaker_half_opens_after_timeout_and_closes_on_success);
    tcase_add_test(tc, test_breaker_counted_kinds_are_configurable);
    tcase_add_test(tc, test_breaker_probe_closes_it_when_the_server_takes_connections);
    tcase_add_test(tc, test_breaker_probe_leaves_a_forced_open_alone);
    tcase_add_test(tc, test_breaker_half_open_failure_reopens);
    tcase_add_test(tc, test_breaker_half_open_lets_max_requests_through);
    tcase_add_test(tc, test_breaker_ignores_outcomes_of_an_earlier_generation);
    tcase_add_test(tc, test_breaker_trips_on_failure_ratio);
    tcase_add_test(tc, test_breaker_interval_clears_counts);
    tcase_add_test(tc, test_breaker_operator_can_force_open_and_reset);
    tcase_add_test(tc, test_breaker_state_in_metrics);
    tcase_add_test(tc, test_breaker_inside_retry_counts_every_attempt);
    tcase_add_test(tc, test_breaker_refusal_after_an_unknown_attempt_stays_unknown);
    tcase_add_test(tc, test_breaker_outside_retry_counts_one_logical_call);
    suite_add_tcase(s, tc);
    return t_run(s);
}
