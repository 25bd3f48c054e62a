/* SPDX-License-Identifier: MIT */
/*
 * The log hook (dbr/log.h) on the scripted driver: an application's handler
 * gets the core's and the plugins' lines with their fields, the level drops
 * lines before they are written, NULL puts GLib's log back, a handler
 * swapped out is never called again while other threads log, and the log
 * plugin's slow_threshold = 0 turns the slow-call log off.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

#define DB "[database]\ndriver = fake\n"

/* Every line the handler got, as "level|layer|message|F1=V1,F2=V2" lines. */
static GMutex lines_lock;
static GString *lines;

static void record(dbr_log_level level, const char *layer, const char *message,
                   const char *const *fields, void *user)
{
    g_mutex_lock(&lines_lock);
    g_string_append_printf(lines, "%s|%s|%s|", dbr_log_level_name(level), layer, message);
    for (int i = 0; fields[i]; i += 2)
        g_string_append_printf(lines, "%s%s=%s", i ? "," : "", fields[i], fields[i + 1]);
    g_string_append_c(lines, '\n');
    g_mutex_unlock(&lines_lock);
    if (user)
        g_atomic_int_inc((gint *)user);
}

static char *lines_take(void)
{
    char *s;

    g_mutex_lock(&lines_lock);
    s = g_strdup(lines->str);
    g_string_truncate(lines, 0);
    g_mutex_unlock(&lines_lock);
    return s;
}

static void setup(void)
{
    lines = g_string_new(NULL);
    dbr_log_set_level(DBR_LOG_DEBUG);
}

static void teardown(void)
{
    dbr_log_set_handler(NULL, NULL);
    dbr_log_set_level(DBR_LOG_DEBUG);
    g_string_free(lines, TRUE);
}

START_TEST(test_log_handler_gets_core_and_plugin_lines)
{
    dbr_db *db;
    char *text;

    dbr_log_set_handler(record, NULL);
    db = t_open(DB "[chain]\nplugins = log\n");
    ck_assert(!dbr_exec(db, NULL, "fake:fail syntax answered", 0, NULL, NULL));
    dbr_close(db);
    text = lines_take();
    ck_assert_msg(strstr(text, "info|core|db \""), "no open line from the core: %s", text);
    ck_assert_msg(strstr(text, "warning|log|exec failed after") && strstr(text, "DBR_CALL=exec,") &&
                      strstr(text, "DBR_ERROR_KIND=syntax"),
                  "no failure line from the log plugin: %s", text);
    g_free(text);
}
END_TEST

START_TEST(test_log_level_drops_less_severe_lines)
{
    dbr_db *db;
    char *text;

    ck_assert_int_eq(dbr_log_get_level(), DBR_LOG_DEBUG);
    dbr_log_set_handler(record, NULL);
    dbr_log_set_level(DBR_LOG_WARNING);
    ck_assert(dbr_log_enabled(DBR_LOG_ERROR) && dbr_log_enabled(DBR_LOG_WARNING));
    ck_assert(!dbr_log_enabled(DBR_LOG_NOTICE) && !dbr_log_enabled(DBR_LOG_DEBUG));
    db = t_open(DB "[chain]\nplugins = log\n");
    ck_assert(!dbr_exec(db, NULL, "fake:fail syntax answered", 0, NULL, NULL));
    dbr_log(DBR_LOG_INFO, "test", NULL, "an info line");
    dbr_close(db);
    text = lines_take();
    ck_assert_msg(!strstr(text, "info|"), "a line below the level was written: %s", text);
    ck_assert_msg(strstr(text, "warning|log|"), "%s", text);
    g_free(text);
    /* out of range is clamped, never a silent "log nothing" or a crash */
    dbr_log_set_level((dbr_log_level)0);
    ck_assert_int_eq(dbr_log_get_level(), DBR_LOG_ERROR);
    dbr_log_set_level((dbr_log_level)99);
    ck_assert_int_eq(dbr_log_get_level(), DBR_LOG_DEBUG);
    ck_assert_str_eq(dbr_log_level_name(DBR_LOG_NOTICE), "notice");
    ck_assert_str_eq(dbr_log_level_name((dbr_log_level)42), "");
}
END_TEST

static GString *glib_lines;

static GLogWriterOutput glib_capture(GLogLevelFlags level, const GLogField *fields, gsize n,
                                     gpointer user)
{
    const char *message = "", *layer = "", *domain = "";

    (void)user;
    for (gsize i = 0; i < n; i++) {
        if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
        else if (strcmp(fields[i].key, "DBR_LAYER") == 0)
            layer = fields[i].value;
        else if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
            domain = fields[i].value;
    }
    g_mutex_lock(&lines_lock);
    g_string_append_printf(glib_lines, "%d|%s|%s|%s\n", (int)(level & G_LOG_LEVEL_MASK), domain,
                           layer, message);
    g_mutex_unlock(&lines_lock);
    return G_LOG_WRITER_HANDLED;
}

START_TEST(test_log_default_and_null_handler_go_to_glib)
{
    char *text;

    dbr_log_set_handler(record, NULL);
    dbr_log(DBR_LOG_WARNING, "test", NULL, "to the handler");
    dbr_log_set_handler(NULL, NULL);
    dbr_log(DBR_LOG_WARNING, "test", NULL, "to glib %d", 42);
    text = lines_take();
    ck_assert_msg(strstr(text, "to the handler") && !strstr(text, "to glib"), "%s", text);
    g_free(text);
    g_mutex_lock(&lines_lock);
    ck_assert_msg(strstr(glib_lines->str, "|dbr|test|to glib 42\n"), "%s", glib_lines->str);
    ck_assert_msg(!strstr(glib_lines->str, "to the handler"), "%s", glib_lines->str);
    g_mutex_unlock(&lines_lock);
}
END_TEST

START_TEST(test_log_long_lines_are_whole)
{
    char *big = g_strnfill(5000, 'x'), *text;

    dbr_log_set_handler(record, NULL);
    dbr_log(DBR_LOG_NOTICE, "test", NULL, "%s|end", big);
    text = lines_take();
    ck_assert_msg(strstr(text, big) && strstr(text, "|end|"), "a long line was cut");
    g_free(text);
    g_free(big);
}
END_TEST

/* After dbr_log_set_handler returns, the old handler is never called again. */
static gint retired, late_calls, stop;

static void old_handler(dbr_log_level level, const char *layer, const char *message,
                        const char *const *fields, void *user)
{
    (void)level, (void)layer, (void)message, (void)fields, (void)user;
    if (g_atomic_int_get(&retired))
        g_atomic_int_inc(&late_calls);
}

static void new_handler(dbr_log_level level, const char *layer, const char *message,
                        const char *const *fields, void *user)
{
    (void)level, (void)layer, (void)message, (void)fields;
    g_atomic_int_inc((gint *)user);
}

static gpointer logger_thread(gpointer arg)
{
    (void)arg;
    while (!g_atomic_int_get(&stop))
        dbr_log(DBR_LOG_DEBUG, "test", NULL, "line from a thread");
    return NULL;
}

static bool got_some(void *arg)
{
    return g_atomic_int_get((gint *)arg) > 100;
}

START_TEST(test_log_swapped_handler_is_never_called_again)
{
    GThread *t[4];
    gint new_calls = 0;

    g_atomic_int_set(&retired, 0);
    g_atomic_int_set(&late_calls, 0);
    g_atomic_int_set(&stop, 0);
    dbr_log_set_handler(old_handler, NULL);
    for (int i = 0; i < 4; i++)
        t[i] = g_thread_new("logger", logger_thread, NULL);
    dbr_log_set_handler(new_handler, &new_calls);
    g_atomic_int_set(&retired, 1);
    ck_assert(t_wait_for(got_some, &new_calls, 30000));
    g_atomic_int_set(&stop, 1);
    for (int i = 0; i < 4; i++)
        g_thread_join(t[i]);
    ck_assert_int_eq(g_atomic_int_get(&late_calls), 0);
}
END_TEST

START_TEST(test_log_slow_threshold_zero_logs_no_slow_call)
{
    dbr_db *db;
    char *text;

    dbr_log_set_handler(record, NULL);
    db = t_open(DB "[chain]\nplugins = log\n[plugin.log]\nslow_threshold = 0\n");
    t_exec(db, "SELECT 1");
    t_exec(db, "fake:sleep 20");
    ck_assert(dbr_ping(db, NULL, NULL));
    ck_assert(!dbr_exec(db, NULL, "fake:fail syntax answered", 0, NULL, NULL));
    dbr_close(db);
    text = lines_take();
    ck_assert_msg(!strstr(text, "|log|slow "), "slow_threshold = 0 logged a slow call: %s", text);
    ck_assert_msg(strstr(text, "warning|log|exec failed"), "failures are still logged: %s", text);
    g_free(text);
    /* and a positive threshold still logs what is slower */
    db = t_open(DB "[chain]\nplugins = log\n[plugin.log]\nslow_threshold = 1ms\n");
    t_exec(db, "fake:sleep 20");
    dbr_close(db);
    text = lines_take();
    ck_assert_msg(strstr(text, "notice|log|slow exec: ") && strstr(text, "DBR_SQL=fake:sleep ?"),
                  "%s", text);
    g_free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");

    glib_lines = g_string_new(NULL);
    g_log_set_writer_func(glib_capture, NULL, NULL);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_log_handler_gets_core_and_plugin_lines);
    tcase_add_test(tc, test_log_level_drops_less_severe_lines);
    tcase_add_test(tc, test_log_default_and_null_handler_go_to_glib);
    tcase_add_test(tc, test_log_long_lines_are_whole);
    tcase_add_test(tc, test_log_swapped_handler_is_never_called_again);
    tcase_add_test(tc, test_log_slow_threshold_zero_logs_no_slow_call);
    suite_add_tcase(s, tc);
    {
        int rc = t_run(s);

        g_string_free(glib_lines, TRUE);
        return rc;
    }
}
