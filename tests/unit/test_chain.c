/* SPDX-License-Identifier: MIT */
/*
 * The middleware chain on the scripted driver: zero plugins, config order,
 * short-circuiting, lifecycle hooks and their failures, the first connect
 * going through the chain, and the core's call metrics.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

#define DB "[database]\ndriver = fake\n"

static void record(const dbr_event *ev, void *user)
{
    GString *trace = user;
    const char *name = dbr_event_get(ev, "name");

    if (!name)
        return;
    g_string_append_printf(trace, "%s%s:%s", trace->len ? " " : "", dbr_event_type(ev), name);
    if (dbr_event_get(ev, "kind"))
        g_string_append_printf(trace, ":%s", dbr_event_get(ev, "kind"));
}

static bool one_statement(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "UPDATE t SET x = 1", 0, NULL, err);
}

START_TEST(test_chain_with_zero_plugins_runs_calls)
{
    dbr_db *db = t_open(DB "[chain]\nplugins =\n");
    const char *params[] = {"a", NULL};
    dbr_error *err = NULL;
    dbr_result *r;

    ck_assert(dbr_ping(db, NULL, &err));
    r = dbr_query(db, NULL, "SELECT $1, $2", 2, params, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "a");
    ck_assert_ptr_null(dbr_result_value(r, 0, 1));
    ck_assert_str_eq(dbr_result_colname(r, 1), "c2");
    ck_assert_ptr_null(dbr_result_value(r, 5, 0)); /* out of range is NULL, not a crash */
    ck_assert_ptr_null(dbr_result_colname(r, -1));
    dbr_result_free(r);
    dbr_close(db);
}
END_TEST

START_TEST(test_chain_runs_plugins_in_config_order)
{
    dbr_db *db = t_open(DB "[chain]\nplugins = trace_b, trace_a\n");
    GString *trace = g_string_new(NULL);

    dbr_subscribe(db, record, trace);
    t_exec(db, "UPDATE t SET x = 1");
    ck_assert_str_eq(trace->str, "trace:trace_b:exec trace:trace_a:exec");
    g_string_truncate(trace, 0);
    ck_assert(dbr_tx_run(db, NULL, NULL, one_statement, NULL, NULL));
    ck_assert_str_eq(trace->str, "trace:trace_b:tx trace:trace_a:tx "
                                 "trace:trace_b:tx_stmt trace:trace_a:tx_stmt");
    g_string_truncate(trace, 0);
    dbr_close(db);
    /* close hooks run in reverse chain order */
    ck_assert_str_eq(trace->str, "trace.close:trace_a trace.close:trace_b");
    g_string_free(trace, TRUE);
}
END_TEST

static void list_fields(const dbr_event *ev, void *user)
{
    GString *out = user;

    if (strcmp(dbr_event_type(ev), "trace") != 0)
        return;
    for (int i = 0; i < dbr_event_nfields(ev); i++)
        g_string_append_printf(out, "%s=%s ", dbr_event_field_name(ev, i),
                               dbr_event_field_value(ev, i));
    ck_assert_ptr_null(dbr_event_field_name(ev, dbr_event_nfields(ev)));
    ck_assert_ptr_null(dbr_event_field_value(ev, -1));
}

START_TEST(test_chain_event_fields_can_be_listed)
{
    dbr_db *db = t_open(DB "[chain]\nplugins = trace_a\n");
    GString *out = g_string_new(NULL);

    dbr_subscribe(db, list_fields, out);
    t_exec(db, "UPDATE t SET x = 1");
    ck_assert_str_eq(out->str, "name=trace_a kind=exec ");
    ck_assert_int_eq(dbr_event_nfields(NULL), 0);
    ck_assert_ptr_null(dbr_event_field_name(NULL, 0));
    dbr_unsubscribe(db, list_fields, out);
    dbr_close(db);
    g_string_free(out, TRUE);
}
END_TEST

START_TEST(test_chain_plugin_may_refuse_without_calling_next)
{
    dbr_db *db = t_open(DB "connect_on_open = false\n[chain]\nplugins = trace_a\n"
                           "[plugin.trace_a]\nrefuse = true\n");
    dbr_db *plain = t_open(DB);
    dbr_error *err = NULL;
    char *log;

    t_exec(plain, "fake:reset");
    ck_assert(!dbr_exec(db, NULL, "DELETE FROM never_sent", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CIRCUIT_OPEN);
    ck_assert_str_eq(dbr_error_layer(err), "trace_a");
    dbr_error_free(err);
    log = t_value(plain, "fake:stats");
    /* nothing reached the driver: the log is empty */
    {
        dbr_result *r = dbr_query(plain, NULL, "fake:log", 0, NULL, NULL);

        ck_assert_int_eq(dbr_result_nrows(r), 0);
        dbr_result_free(r);
    }
    g_free(log);
    dbr_close(db);
    dbr_close(plain);
}
END_TEST

START_TEST(test_chain_plugin_create_failure_fails_open)
{
    dbr_error *err = t_open_fail(DB "[chain]\nplugins = trace_a, trace_b\n"
                                    "[plugin.trace_b]\nfail_create = true\n");

    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_PLUGIN);
    ck_assert_str_eq(dbr_error_message(err), "create failed on purpose");
    dbr_error_free(err);
}
END_TEST

START_TEST(test_chain_open_hook_failure_fails_open)
{
    dbr_error *err = t_open_fail(DB "[chain]\nplugins = trace_a, trace_b\n"
                                    "[plugin.trace_b]\nfail_open = true\n");

    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_PLUGIN);
    ck_assert_str_eq(dbr_error_message(err), "open failed on purpose");
    dbr_error_free(err);
}
END_TEST

START_TEST(test_chain_first_connect_at_open)
{
    dbr_db *plain = t_open(DB);
    dbr_error *err;

    t_exec(plain, "fake:connect_fail 1 connection");
    err = t_open_fail(DB "[chain]\nplugins = trace_a\n");
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
    ck_assert_int_eq(dbr_error_phase_of(err), DBR_PHASE_CONNECT);
    ck_assert(dbr_error_retryable(err));
    dbr_error_free(err);
    /* connect_on_open = false opens without touching the server */
    t_exec(plain, "fake:connect_fail 1 connection");
    {
        dbr_db *lazy = t_open(DB "connect_on_open = false\n");
        dbr_pool_stats st;

        dbr_pool_stats_get(lazy, &st);
        ck_assert_int_eq(st.open, 0);
        ck_assert(!dbr_ping(lazy, NULL, NULL));
        ck_assert(dbr_ping(lazy, NULL, NULL));
        dbr_close(lazy);
    }
    dbr_close(plain);
}
END_TEST

START_TEST(test_chain_counts_calls_in_metrics)
{
    dbr_db *db = t_open(DB "name = m\n");
    char *text;

    t_exec(db, "SELECT 1");
    ck_assert(!dbr_exec(db, NULL, "fake:fail syntax answered", 0, NULL, NULL));
    text = dbr_metrics_text(db);
    ck_assert_msg(strstr(text, "dbr_calls_total{db=\"m\",kind=\"exec\",outcome=\"ok\"} 1\n"), "%s",
                  text);
    ck_assert(strstr(text, "dbr_calls_total{db=\"m\",kind=\"exec\",outcome=\"error\"} 1\n"));
    ck_assert(strstr(text, "dbr_calls_total{db=\"m\",kind=\"connect\",outcome=\"ok\"} 1\n"));
    ck_assert(strstr(text, "dbr_call_duration_seconds_count{db=\"m\",kind=\"exec\"} 2\n"));
    ck_assert(strstr(text, "# TYPE dbr_call_duration_seconds histogram\n"));
    free(text);
    dbr_close(db);
}
END_TEST

START_TEST(test_chain_api_misuse_is_reported)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    ck_assert(!dbr_exec(NULL, NULL, "SELECT 1", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_exec(db, NULL, NULL, 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    err = NULL;
    ck_assert_ptr_null(dbr_query(db, NULL, "SELECT $1", 1, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_ping(NULL, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    ck_assert_ptr_null(dbr_metrics_text(NULL));
    dbr_close(NULL);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chain");
    TCase *tc = tcase_create("chain");

    tcase_add_test(tc, test_chain_with_zero_plugins_runs_calls);
    tcase_add_test(tc, test_chain_runs_plugins_in_config_order);
    tcase_add_test(tc, test_chain_event_fields_can_be_listed);
    tcase_add_test(tc, test_chain_plugin_may_refuse_without_calling_next);
    tcase_add_test(tc, test_chain_plugin_create_failure_fails_open);
    tcase_add_test(tc, test_chain_open_hook_failure_fails_open);
    tcase_add_test(tc, test_chain_first_connect_at_open);
    tcase_add_test(tc, test_chain_counts_calls_in_metrics);
    tcase_add_test(tc, test_chain_api_misuse_is_reported);
    suite_add_tcase(s, tc);
    return t_run(s);
}
