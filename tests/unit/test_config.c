/* SPDX-License-Identifier: MIT */
/*
 * Config files: each malformed file gives DBR_ERR_CONFIG naming the file,
 * the line, the group and the key, and what was expected; well-formed
 * values (durations, comments, ${VAR}) read as documented. (How a
 * conninfo's secrets are redacted is the driver's: tests/unit/test_redact.c.)
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include <dbr/config.h>

#include "../testutil.h"

#define DB "[database]\ndriver = fake\n"

static void expect_config_error(const char *text, const char *const *needles)
{
    dbr_error *err = t_open_fail("%s", text);

    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_CONFIG, "kind %s for: %s",
                  dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err));
    for (; *needles; needles++)
        ck_assert_msg(strstr(dbr_error_message(err), *needles), "\"%s\" not in \"%s\"", *needles,
                      dbr_error_message(err));
    dbr_error_free(err);
}

#define EXPECT(text, ...) expect_config_error(text, (const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_config_rejects_bad_duration)
{
    EXPECT(DB "conn_max_lifetime = 5 minutes\n", "<string>:3:", "[database] conn_max_lifetime",
           "expected a duration", "\"5 minutes\"");
    EXPECT(DB "conn_max_idle_time = -1s\n", "conn_max_idle_time", "expected a duration");
    EXPECT(DB "connect_timeout = 0\n", "connect_timeout", "out of range");
    EXPECT(DB "cancel_timeout = 10x\n", "cancel_timeout", "expected a duration");
}
END_TEST

START_TEST(test_config_rejects_unknown_keys_and_groups)
{
    EXPECT(DB "max_open = 5\n", "<string>:3:", "[database] max_open", "unknown key");
    EXPECT(DB "[foo]\nx = 1\n", "<string>:3:", "unknown group [foo]");
    EXPECT(DB "[chain]\nplugins = trace_a\ncolour = red\n", "[chain] colour", "unknown key");
    EXPECT(DB "[plugin.trace_b]\nrefuse = true\n", "[plugin.trace_b]", "does not list");
    EXPECT(DB "[chain]\nplugins = trace_a\n[plugin.trace_a]\ncolour = red\n",
           "[plugin.trace_a] colour", "unknown key", "<string>:6:");
}
END_TEST

START_TEST(test_config_rejects_missing_driver_and_database)
{
    EXPECT("[database]\nconninfo = x\n", "driver", "missing");
    EXPECT("[chain]\nplugins =\n", "missing group [database]");
    /* a misspelt header: its line, and the group it was meant to be */
    EXPECT("[chain]\nplugins =\n[databse]\ndriver = pq\n", "<string>:3:", "unknown group [databse]",
           "did you mean [database]?");
    EXPECT("[database]\ndriver =\n", "driver", "missing");
}
END_TEST

START_TEST(test_config_rejects_bad_numbers)
{
    EXPECT(DB "max_open_conns = -3\n", "<string>:3:", "max_open_conns", "out of range");
    EXPECT(DB "max_idle_conns = ten\n", "max_idle_conns", "expected an integer", "\"ten\"");
    EXPECT(DB "max_open_conns = 99999999999999999999\n", "max_open_conns", "expected an integer");
    EXPECT(DB "connect_on_open = maybe\n", "connect_on_open", "true or false");
}
END_TEST

START_TEST(test_config_rejects_bad_reset_count_and_probe)
{
    dbr_db *db;

    EXPECT(DB "reset = allways\n", "<string>:3:", "[database] reset",
           "expected auto, always, none or an SQL statement", "\"allways\"");
    EXPECT(DB "[chain]\nplugins = breaker\n[plugin.breaker]\ncount = connection,,resource\n",
           "[plugin.breaker] count", "empty entry");
    EXPECT(DB "[chain]\nplugins = breaker\n[plugin.breaker]\ncount =\n", "count", "empty");
    EXPECT(DB "[chain]\nplugins = breaker\n[plugin.breaker]\ncount = connection, sorcery\n",
           "count", "\"sorcery\"");
    EXPECT(DB "[chain]\nplugins = breaker\n[plugin.breaker]\nprobe_interval = 1us\n",
           "<string>:6:", "probe_interval", "from 1ms up to timeout");
    EXPECT(DB "[chain]\nplugins = breaker\n[plugin.breaker]\ntimeout = 30s\n"
              "probe_interval = 10m\n",
           "probe_interval", "timeout (30000 ms)");
    EXPECT(DB "[chain]\nplugins = breaker\n[plugin.breaker]\nprobe_interval = 2s\n"
              "probe_max_interval = 1s\n",
           "<string>:7:", "probe_max_interval", "not be shorter than probe_interval");
    /* Accepted: the modes in any case, SQL, and a probe_interval above the
     * default probe_max_interval when that is left out. */
    db = t_open(DB "connect_on_open = false\nreset = ALWAYS\n");
    dbr_close(db);
    db = t_open(DB "connect_on_open = false\nreset = RESET ALL\n");
    dbr_close(db);
    db = t_open(DB "connect_on_open = false\n[chain]\nplugins = breaker\n[plugin.breaker]\n"
                   "probe_interval = 1s\n");
    dbr_close(db);
}
END_TEST

START_TEST(test_config_rejects_bad_lists)
{
    EXPECT(DB "[chain]\nplugins = trace_a,,trace_b\n", "[chain] plugins", "empty entry");
    EXPECT(DB "[chain]\nplugins = trace_a, trace_a\n", "listed twice");
    EXPECT(DB "[chain]\npath = relative/dir\n", "[chain] path", "not an absolute directory");
}
END_TEST

START_TEST(test_config_rejects_bad_syntax_and_garbage)
{
    EXPECT(DB "this line has no equals sign\n", "<string>");
    EXPECT(DB "max_open_conns = 3\nmax_open_conns = 4\n", "<string>:4:", "set twice");
    EXPECT("\x7f"
           "ELF\x01\x02\xff\xfe garbage\n",
           "not a text file");
    EXPECT(DB "[plugin.trace_a]\nrefuse = perhaps\n[chain]\nplugins = trace_a\n",
           "[plugin.trace_a] refuse", "true or false");
}
END_TEST

START_TEST(test_config_rejects_unsafe_names)
{
    EXPECT(DB "name = a\"b\n", "[database] name", "labels metrics");
    EXPECT("[database]\ndriver = ../../etc/passwd\n", "[database] driver", "absolute path");
    EXPECT(DB "[chain]\nplugins = ../evil\n", "is not a plugin name");
}
END_TEST

START_TEST(test_config_rejects_undefined_environment_variable)
{
    g_unsetenv("DBR_TEST_NO_SUCH_VAR");
    EXPECT(DB "conninfo = host=${DBR_TEST_NO_SUCH_VAR}\n", "[database] conninfo",
           "DBR_TEST_NO_SUCH_VAR", "not set");
    EXPECT(DB "conninfo = host=${UNTERMINATED\n", "unterminated ${");
}
END_TEST

START_TEST(test_config_names_the_file_it_could_not_read)
{
    char *dir = t_tmpdir("config"), *path = g_build_filename(dir, "missing.ini", NULL);
    dbr_error *err = NULL;

    ck_assert_ptr_null(dbr_open(path, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), "missing.ini"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    err = NULL;
    /* A directory is not a config file either. */
    ck_assert_ptr_null(dbr_open(dir, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), dir), "%s", dbr_error_message(err));
    dbr_error_free(err);
    g_free(path);
    g_free(dir);
}
END_TEST

START_TEST(test_config_error_names_file_and_line)
{
    char *dir = t_tmpdir("config"), *path = g_build_filename(dir, "app.ini", NULL);
    dbr_error *err = NULL;

    g_file_set_contents(path, "# app\n[database]\ndriver = fake\n\nmax_idle_conns = lots\n", -1,
                        NULL);
    ck_assert_ptr_null(dbr_open(path, &err));
    ck_assert_msg(g_str_has_prefix(dbr_error_message(err), path), "%s", dbr_error_message(err));
    ck_assert_msg(strstr(dbr_error_message(err), "app.ini:5: [database] max_idle_conns"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    g_free(path);
    g_free(dir);
}
END_TEST

START_TEST(test_config_password_file_must_be_private)
{
    char *dir = t_tmpdir("config"), *pw = g_build_filename(dir, "pw", NULL);

    g_file_set_contents(pw, "s3cret\n", -1, NULL);
    g_chmod(pw, 0644);
    {
        dbr_error *err = t_open_fail(DB "password_file = %s\n", pw);

        ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
        ck_assert_msg(strstr(dbr_error_message(err), "chmod 600"), "%s", dbr_error_message(err));
        ck_assert_msg(!strstr(dbr_error_message(err), "s3cret"), "%s", dbr_error_message(err));
        dbr_error_free(err);
    }
    g_chmod(pw, 0600);
    dbr_close(t_open(DB "password_file = %s\n", pw));
    g_free(pw);
    g_free(dir);
}
END_TEST

START_TEST(test_config_reads_values_as_documented)
{
    dbr_pool_stats st;
    dbr_db *db;
    char *metrics;

    g_setenv("DBR_TEST_MAXOPEN", "7", TRUE);
    db = t_open(DB "max_open_conns = ${DBR_TEST_MAXOPEN}   # from the environment\n"
                   "conn_max_lifetime = 5m\nconn_max_idle_time = 250ms\n"
                   "name = orders\n[chain]\nplugins =\n");
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.max_open, 7);
    metrics = dbr_metrics_text(db);
    ck_assert_msg(strstr(metrics, "dbr_pool_max_open_connections{db=\"orders\"} 7"), "%s", metrics);
    free(metrics);
    dbr_close(db);
}
END_TEST

START_TEST(test_config_api_misuse_is_reported)
{
    dbr_error *err = NULL;

    ck_assert_ptr_null(dbr_open_string(NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    err = NULL;
    ck_assert_ptr_null(dbr_open(NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    ck_assert_ptr_null(dbr_open_string("", NULL)); /* err may be NULL */
}
END_TEST

/* A driver without redact_conninfo (the scripted one): the core knows no
 * conninfo syntax, so `dbr check` shows a placeholder, never the text. */
START_TEST(test_conninfo_hidden_without_the_driver_slot)
{
    dbr_db *db = t_open(DB "conninfo = user=app password=Zq1secret\nconnect_on_open = false\n");
    char **lines = dbr_chain_settings(db, -1);
    bool seen = false;

    for (char **l = lines; *l; l++) {
        ck_assert_msg(!strstr(*l, "Zq1"), "%s", *l);
        seen |= strcmp(*l, "conninfo = (hidden: the driver cannot redact it)") == 0;
    }
    ck_assert(seen);
    dbr_strv_free(lines);
    dbr_close(db);
}
END_TEST

/* Every getter of dbr/config.h names the argument it was given NULL; the
 * typed ones used to return false with no error at all for a NULL out. */
START_TEST(test_config_getters_name_a_null_argument)
{
    static const char *const types[] = {"string", "int", "double", "bool", "duration"};
    dbr_error *err = NULL;
    const char *s;

    for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
        char *text = g_strdup_printf("[database]\ndriver = fake\n[chain]\nplugins = trace_a\n"
                                     "[plugin.trace_a]\nnull_out = %s\n",
                                     types[i]);
        char *expected = g_strdup_printf("dbr_config_get_%s: out is NULL", types[i]);

        ck_assert_ptr_null(dbr_open_string(text, &err));
        ck_assert_ptr_nonnull(err);
        ck_assert_msg(
            strstr(dbr_error_message(err), expected) ||
                (dbr_error_cause(err) && strstr(dbr_error_message(dbr_error_cause(err)), expected)),
            "%s: %s", types[i], dbr_error_message(err));
        dbr_error_free(err);
        err = NULL;
        g_free(expected);
        g_free(text);
    }
    ck_assert(!dbr_config_get_string(NULL, "k", "", &s, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_msg(strstr(dbr_error_message(err), "dbr_config_get_string: sec is NULL"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");

    tcase_add_test(tc, test_config_rejects_bad_duration);
    tcase_add_test(tc, test_config_rejects_unknown_keys_and_groups);
    tcase_add_test(tc, test_config_rejects_missing_driver_and_database);
    tcase_add_test(tc, test_config_rejects_bad_numbers);
    tcase_add_test(tc, test_config_rejects_bad_lists);
    tcase_add_test(tc, test_config_rejects_bad_reset_count_and_probe);
    tcase_add_test(tc, test_config_rejects_bad_syntax_and_garbage);
    tcase_add_test(tc, test_config_rejects_unsafe_names);
    tcase_add_test(tc, test_config_rejects_undefined_environment_variable);
    tcase_add_test(tc, test_config_names_the_file_it_could_not_read);
    tcase_add_test(tc, test_config_error_names_file_and_line);
    tcase_add_test(tc, test_config_password_file_must_be_private);
    tcase_add_test(tc, test_config_reads_values_as_documented);
    tcase_add_test(tc, test_config_api_misuse_is_reported);
    tcase_add_test(tc, test_conninfo_hidden_without_the_driver_slot);
    tcase_add_test(tc, test_config_getters_name_a_null_argument);
    suite_add_tcase(s, tc);
    return t_run(s);
}
