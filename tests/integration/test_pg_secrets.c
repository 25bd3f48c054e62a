/* SPDX-License-Identifier: MIT */
/*
 * Secrets against a real PostgreSQL and the real tool: passwords of every
 * awkward shape never reach an error message, a log record or the output
 * of `dbr check`, and the log plugin never shows a literal or a value the
 * server quotes back. The shapes are the ones users write and redaction
 * got wrong: '%' and '?' in a URI password, '@' and '/', quotes and blanks
 * in key=value form. A conninfo typo is caught by `dbr check` without a
 * connection.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../testutil.h"

static GMutex log_lock;
static GString *log_text;

/* Every field of every log record of the process, one record a line. */
static GLogWriterOutput capture(GLogLevelFlags level, const GLogField *fields, gsize n,
                                gpointer user)
{
    (void)level;
    (void)user;
    g_mutex_lock(&log_lock);
    for (gsize i = 0; i < n; i++)
        if (fields[i].length < 0)
            g_string_append_printf(log_text, "%s=%s|", fields[i].key,
                                   (const char *)fields[i].value);
    g_string_append_c(log_text, '\n');
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

static int run_tool(char **argv, char **out)
{
    char *o = NULL, *e = NULL;
    int status = -1;

    ck_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &o, &e, &status, NULL));
    *out = g_strconcat(o, e, NULL);
    g_free(o);
    g_free(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Each password carries a marker that nothing else in the test holds. */
static const struct {
    const char *conninfo, *secret;
} shapes[] = {
    {"postgresql://app:50%off-Zq1Secret@127.0.0.1:1/app", "Zq1Secret"},
    {"postgresql://app:Zq2s3cr?t@127.0.0.1:1/app", "Zq2s3cr"},
    {"postgresql://app:Zq3p@ss/word@127.0.0.1:1/app", "Zq3p"},
    {"postgresql://127.0.0.1:1/app?pass%77ord=Zq4hunter", "Zq4hunter"},
    {"host=127.0.0.1 port=1 password='Zq5it\\'s secret'", "Zq5it"},
    {"host=127.0.0.1 port=1 password=Zq6my secret", "Zq6my"},
    {"host=127.0.0.1 port=1 password Zq7oops", "Zq7oops"},
    {"host=127.0.0.1 port=1 dbname='postgresql://u:Zq8inner@127.0.0.1:1/x'", "Zq8inner"},
    {"postgresql://app:Zq9a,Zq9b/c@127.0.0.1:1/app", "Zq9"},
    {"postgresql://app:Zq10x/rest@127.0.0.1:1/app", "Zq10"},
    {"postgresql://127.0.0.1:1/app?password=Zq11p@ss&sslmode=disable", "Zq11"},
};

START_TEST(test_pg_secrets_never_in_errors_logs_or_check)
{
    const char *tool = getenv("DBR_TEST_TOOL");
    char *dir = t_tmpdir("secrets");

    ck_assert_ptr_nonnull(tool);
    for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
        char *text = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s\n"
                                     "connect_timeout = 2s\n",
                                     shapes[i].conninfo);
        char *path = g_build_filename(dir, "db.ini", NULL), *out, *logs;
        char *argv[] = {(char *)tool, "check", "-c", path, NULL};
        dbr_error *err = NULL;
        dbr_db *db;

        g_free(log_take());
        db = dbr_open_string(text, &err);
        ck_assert_msg(!db, "%s opened", shapes[i].conninfo);
        ck_assert_msg(!strstr(dbr_error_message(err), shapes[i].secret),
                      "the password is in the error: %s", dbr_error_message(err));
        dbr_error_free(err);
        ck_assert(g_file_set_contents(path, text, -1, NULL));
        run_tool(argv, &out);
        ck_assert_msg(!strstr(out, shapes[i].secret), "`dbr check` shows the password: %s", out);
        logs = log_take();
        ck_assert_msg(!strstr(logs, shapes[i].secret), "a log record holds the password: %s", logs);
        g_free(logs);
        g_free(out);
        g_free(path);
        g_free(text);
    }
    g_free(dir);
}
END_TEST

START_TEST(test_pg_check_finds_a_conninfo_typo_without_connecting)
{
    char *dir = t_tmpdir("check-typo");
    char *path = g_build_filename(dir, "db.ini", NULL), *out;
    char *argv[] = {getenv("DBR_TEST_TOOL"), "check", "-c", path, NULL};
    /* port 1: nothing listens, so a check that connected would fail anyway */
    const char *text = "[database]\ndriver = pq\nconninfo = usr=app host=127.0.0.1 port=1\n";
    dbr_error *err = NULL;

    ck_assert(g_file_set_contents(path, text, -1, NULL));
    ck_assert_int_eq(run_tool(argv, &out), 1);
    ck_assert_msg(strstr(out, "[database] conninfo") && strstr(out, "did you mean \"user\""), "%s",
                  out);
    g_free(out);
    /* the same "did you mean" as dbr's own keys: swapped letters, any case */
    ck_assert(g_file_set_contents(
        path, "[database]\ndriver = pq\nconninfo = SSLMdoe=require host=127.0.0.1 port=1\n", -1,
        NULL));
    ck_assert_int_eq(run_tool(argv, &out), 1);
    ck_assert_msg(strstr(out, "did you mean \"sslmode\"") && !strstr(out, "SSLMdoe"), "%s", out);
    g_free(out);
    /* a value libpq checks only when it connects, checked without connecting */
    ck_assert(g_file_set_contents(path,
                                  "[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=1 "
                                  "sslmode=requir\n",
                                  -1, NULL));
    ck_assert_int_eq(run_tool(argv, &out), 1);
    ck_assert_msg(strstr(out, "sslmode must be one of"), "%s", out);
    g_free(out);
    /* and an open that does not connect first says so at open, not later */
    ck_assert_ptr_null(dbr_open_string("[database]\ndriver = pq\nconninfo = usr=app\n"
                                       "connect_on_open = false\n",
                                       &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    dbr_error_free(err);
    g_free(path);
    g_free(dir);
}
END_TEST

/* dbr check and dbr_chain_settings show neither an sslpassword nor the
 * path or the contents of a password_file, in text or JSON. */
START_TEST(test_pg_check_hides_sslpassword_and_password_file)
{
    char *dir = t_tmpdir("check-secret-keys");
    char *path = g_build_filename(dir, "db.ini", NULL);
    char *pwfile = g_build_filename(dir, "Zq31path.pw", NULL), *out;
    char *argv[] = {getenv("DBR_TEST_TOOL"), "check", "-c", path, NULL};
    char *argv_json[] = {getenv("DBR_TEST_TOOL"), "check", "-c", path, "--json", NULL};
    char *text = g_strdup_printf("[database]\ndriver = pq\n"
                                 "conninfo = host=127.0.0.1 port=1 sslpassword=Zq32ssl\n"
                                 "password_file = %s\nconnect_on_open = false\n",
                                 pwfile);
    dbr_error *err = NULL;
    char **settings;
    dbr_db *db;

    ck_assert(g_file_set_contents(pwfile, "Zq33content\n", -1, NULL));
    ck_assert_int_eq(g_chmod(pwfile, 0600), 0);
    ck_assert(g_file_set_contents(path, text, -1, NULL));
    ck_assert_int_eq(run_tool(argv, &out), 0);
    ck_assert_msg(strstr(out, "password_file = ***") && strstr(out, "sslpassword=***") &&
                      !strstr(out, "Zq3"),
                  "%s", out);
    g_free(out);
    ck_assert_int_eq(run_tool(argv_json, &out), 0);
    ck_assert_msg(strstr(out, "sslpassword=***") && !strstr(out, "Zq3"), "%s", out);
    g_free(out);
    db = dbr_open_string(text, &err);
    ck_assert_msg(db, "%s", err ? dbr_error_message(err) : "");
    settings = dbr_chain_settings(db, -1);
    for (char **kv = settings; kv && *kv; kv++)
        ck_assert_msg(!strstr(*kv, "Zq3"), "dbr_chain_settings shows %s", *kv);
    dbr_strv_free(settings);
    dbr_close(db);
    g_free(text);
    g_free(pwfile);
    g_free(path);
    g_free(dir);
}
END_TEST

/* dbr check shows each setting as it is read: without its # comment. */
START_TEST(test_pg_check_shows_settings_without_their_comments)
{
    char *dir = t_tmpdir("check-comment");
    char *path = g_build_filename(dir, "db.ini", NULL), *out;
    char *argv[] = {getenv("DBR_TEST_TOOL"), "check", "-c", path, NULL};
    char *text = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s   # the test server\n"
                                 "max_open_conns = 3  # small\n",
                                 t_conninfo());

    ck_assert(g_file_set_contents(path, text, -1, NULL));
    ck_assert_int_eq(run_tool(argv, &out), 0);
    ck_assert_msg(strstr(out, "max_open_conns = 3\n") && !strstr(out, "the test server") &&
                      !strstr(out, " ..."),
                  "%s", out);
    g_free(out);
    g_free(text);
    g_free(path);
    g_free(dir);
}
END_TEST

/* The log plugin: literals of every kind, comments and the value a data
 * exception quotes back never reach a record. */
START_TEST(test_pg_log_never_shows_literals_or_quoted_values)
{
    static const char *const failing[] = {
        "SELECT 'C:\\' AS path, 'Zq1hunter' AS pw FROM no_such_table",
        "/* it's a comment */ SELECT 'Zq2hunter' FROM no_such_table",
        "SELECT 1 /* Zq3hunter */ FROM no_such_table",
        "SELECT E'a\\'b', 'Zq4hunter' FROM no_such_table",
        "SELECT $t$ Zq5hunter $t$ FROM no_such_table",
        "SELECT 'Zq6hunter'::int",
        "SELECT 'Zq7hunter'::date",
        "SELECT 99999999999999999999::int -- Zq8hunter",
        "SELECT 'Zq9hunter",                             /* 42601 quotes the SQL */
        "UPDATE t SET name = 'it'Zq10hunter's' WHERE x", /* a quote pasted into SQL */
        "SELECT 'Zq12hunter'::regclass",                 /* names that are data */
        "SELECT current_setting('Zq13hunter')",
    };
    const char *role[] = {"Zq14hunter"};
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = log\n"
                        "[plugin.log]\nlog_errors = true\n",
                        t_conninfo());
    char *logs;

    g_free(log_take());
    for (size_t i = 0; i < G_N_ELEMENTS(failing); i++)
        ck_assert_msg(!dbr_exec(db, NULL, failing[i], 0, NULL, NULL), "%s ran", failing[i]);
    ck_assert(!dbr_exec(db, NULL, "SELECT $1::regrole", 1, role, NULL)); /* log_params off */
    logs = log_take();
    /* every failure was logged, with its shape */
    ck_assert_msg(strstr(logs, "SELECT '?' AS path, '?' AS pw FROM no_such_table") &&
                      strstr(logs, "invalid input syntax for type integer: (not logged"),
                  "%s", logs);
    ck_assert_msg(!strstr(logs, "Zq") && !strstr(logs, "99999999999999999999"),
                  "a literal or quoted value reached the log: %s", logs);
    g_free(logs);
    dbr_close(db);
    /* in German the server quotes with guillemets */
    db = t_open("[database]\ndriver = pq\nconninfo = %s options='-c lc_messages=de_DE.UTF-8'\n"
                "[chain]\nplugins = log\n",
                t_conninfo());
    g_free(log_take());
    ck_assert(!dbr_exec(db, NULL, "SELECT 'Zq11hunter'::int", 0, NULL, NULL));
    logs = log_take();
    ck_assert_msg(strstr(logs, "integer") && !strstr(logs, "Zq11"), "%s", logs);
    g_free(logs);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_secrets");
    TCase *tc = tcase_create("pg_secrets");

    log_text = g_string_new(NULL);
    g_log_set_writer_func(capture, NULL, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pg_secrets_never_in_errors_logs_or_check);
    tcase_add_test(tc, test_pg_check_hides_sslpassword_and_password_file);
    tcase_add_test(tc, test_pg_check_finds_a_conninfo_typo_without_connecting);
    tcase_add_test(tc, test_pg_check_shows_settings_without_their_comments);
    tcase_add_test(tc, test_pg_log_never_shows_literals_or_quoted_values);
    suite_add_tcase(s, tc);
    {
        int rc = t_run(s);

        g_string_free(log_text, TRUE);
        return rc;
    }
}
