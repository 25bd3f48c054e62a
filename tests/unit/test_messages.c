/* SPDX-License-Identifier: MIT */
/*
 * What error messages say about user text: at most a bounded, escaped
 * prefix of it (dbr_quote), whatever its size or bytes; a "did you mean"
 * for a misspelt key, group or plugin; the config file named once.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "../testutil.h"

#define DB  "[database]\ndriver = fake\n"
#define BIG 200000

/* A message fit for one line of a terminal or a log, whatever the input. */
#define MESSAGE_MAX 1000

static char *repeat(char c, size_t n)
{
    char *s = g_malloc(n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void expect_bounded(const char *text, const char *needle)
{
    dbr_error *err = t_open_fail("%s", text);
    const char *m = dbr_error_message(err);

    ck_assert_msg(strlen(m) < MESSAGE_MAX, "a message of %zu bytes: %.300s...", strlen(m), m);
    ck_assert_msg(!strchr(m, '\n'), "a message of several lines: %s", m);
    if (needle)
        ck_assert_msg(strstr(m, needle), "\"%s\" not in \"%s\"", needle, m);
    dbr_error_free(err);
}

START_TEST(test_quote_escapes_and_bounds_user_text)
{
    char *big = repeat('k', BIG);
    dbr_quoted q = dbr_quote(big);

    ck_assert_str_eq(dbr_quote("plain").text, "\"plain\"");
    ck_assert_str_eq(dbr_quote("a\"b\\c\nd\te\x01").text, "\"a\\\"b\\\\c\\nd\\te\\x01\"");
    ck_assert_str_eq(dbr_quote(NULL).text, "\"(null)\"");
    ck_assert_str_eq(dbr_quote("caf\xc3\xa9").text, "\"caf\xc3\xa9\"");
    ck_assert_str_eq(dbr_quote("bad \xff byte").text, "\"bad \\xff byte\"");
    ck_assert_msg(strlen(q.text) < 200 && strstr(q.text, "... (200000 bytes)"), "%s", q.text);
    /* cut at a character boundary: never half of a UTF-8 sequence */
    {
        GString *s = g_string_new("k");

        for (int i = 0; i < 100; i++)
            g_string_append(s, "\xc3\xa9");
        q = dbr_quote(s->str);
        ck_assert(g_utf8_validate(q.text, -1, NULL));
        ck_assert_msg(strstr(q.text, "... (201 bytes)"), "%s", q.text);
        g_string_free(s, TRUE);
    }
    ck_assert_str_eq(dbr_quote_name("/etc/app/db.ini").text, "/etc/app/db.ini");
    ck_assert_str_eq(dbr_quote_name("my file.ini").text, "\"my file.ini\"");
    ck_assert_msg(strlen(dbr_quote_name(big).text) < 200, "%s", dbr_quote_name(big).text);
    g_free(big);
}
END_TEST

START_TEST(test_config_error_quotes_a_bounded_prefix_of_long_input)
{
    char *big = repeat('k', BIG), *digits = repeat('9', BIG), *text;

    /* a key, a value, a line that is neither, a group, a list entry, a variable */
    text = g_strdup_printf(DB "%s = 1\n", big);
    expect_bounded(text, "(200000 bytes): unknown key");
    g_free(text);
    text = g_strdup_printf(DB "max_open_conns = %s\n", digits);
    expect_bounded(text, "max_open_conns");
    g_free(text);
    text = g_strdup_printf(DB "conn_max_lifetime = %s\n", big);
    expect_bounded(text, "conn_max_lifetime");
    g_free(text);
    text = g_strdup_printf(DB "%s\n", big);
    expect_bounded(text, "<string>:3: expected KEY = VALUE");
    g_free(text);
    text = g_strdup_printf(DB "[%s]\nx = 1\n", big);
    expect_bounded(text, "unknown group");
    g_free(text);
    text = g_strdup_printf(DB "[chain]\nplugins = %s\n", big);
    expect_bounded(text, "plugin");
    g_free(text);
    text = g_strdup_printf(DB "[chain]\nplugins = trace_a, %s!\n", big);
    expect_bounded(text, "is not a plugin name");
    g_free(text);
    text = g_strdup_printf(DB "conninfo = ${%s}\n", big);
    expect_bounded(text, "is not set");
    g_free(text);
    text = g_strdup_printf("[database]\ndriver = %s\n", big);
    expect_bounded(text, "driver");
    g_free(text);
    text = g_strdup_printf(DB "[chain]\nplugins = trace_a\n[plugin.trace_a]\nmodule = %s\n", big);
    expect_bounded(text, "module");
    g_free(text);
    text = g_strdup_printf(DB "[chain]\nplugins = trace_a\n[plugin.trace_a]\nmodule = /%s\n", big);
    expect_bounded(text, "refusing to load");
    g_free(text);
    g_free(digits);
    g_free(big);
}
END_TEST

START_TEST(test_config_error_bounds_a_long_file_name)
{
    char *big = repeat('d', 5000), *path = g_strdup_printf("/tmp/%s/x.ini", big);
    dbr_error *err = NULL;

    ck_assert(!dbr_open(path, &err));
    ck_assert_msg(strlen(dbr_error_message(err)) < MESSAGE_MAX, "%zu bytes",
                  strlen(dbr_error_message(err)));
    dbr_error_free(err);
    g_free(path);
    g_free(big);
}
END_TEST

static void expect_hint(const char *text, const char *needle)
{
    dbr_error *err = t_open_fail("%s", text);

    ck_assert_msg(strstr(dbr_error_message(err), needle), "\"%s\" not in \"%s\"", needle,
                  dbr_error_message(err));
    dbr_error_free(err);
}

START_TEST(test_config_suggests_the_nearest_known_name)
{
    /* keys of the core's groups and of a plugin's */
    expect_hint(DB "coninfo = host=x\n", "[database] coninfo: unknown key; did you mean conninfo?");
    expect_hint(DB "max_open = 5\n", "did you mean max_open_conns?");
    expect_hint(DB "[chain]\nplugins = trace_a\npluggins = x\n", "did you mean plugins?");
    expect_hint(DB "[chain]\nplugins = health\n[plugin.health]\nintervall = 1s\n",
                "did you mean interval?");
    /* groups */
    expect_hint(DB "[chian]\nplugins = trace_a\n", "unknown group [chian]");
    expect_hint(DB "[chian]\nplugins = trace_a\n", "did you mean [chain]?");
    /* a group and a chain entry one typo apart: the typo may be in either
     * (a new user's report: the list was wrong, the group was blamed) */
    expect_hint(DB "[chain]\nplugins = health\n[plugin.helth]\ninterval = 1s\n",
                "[chain] plugins lists \"health\", and line 5 configures [plugin.helth]: one "
                "of the two names is misspelled");
    expect_hint(DB "[chain]\nplugins = retyr\n[plugin.retry]\nmax_attempts = 3\n",
                ":4: [chain] plugins lists \"retyr\", and line 5 configures [plugin.retry]");
    /* plugin and driver names, from the modules that exist */
    expect_hint(DB "[chain]\nplugins = helth\n", "did you mean \"health\"?");
    expect_hint("[database]\ndriver = fak\n", "did you mean \"fake\"?");
    /* nothing near: no suggestion */
    {
        dbr_error *err = t_open_fail(DB "zzzzzz = 1\n");

        ck_assert_msg(!strstr(dbr_error_message(err), "did you mean"), "%s",
                      dbr_error_message(err));
        dbr_error_free(err);
    }
}
END_TEST

START_TEST(test_config_unreadable_file_is_named_once)
{
    char *dir = t_tmpdir("messages"), *path = g_build_filename(dir, "absent.ini", NULL);
    dbr_error *err = NULL;
    const char *m, *first;

    ck_assert(!dbr_open(path, &err));
    m = dbr_error_message(err);
    first = strstr(m, "absent.ini");
    ck_assert_msg(first && !strstr(first + 1, "absent.ini"), "named twice: %s", m);
    ck_assert_msg(strstr(m, "No such file or directory"), "%s", m);
    dbr_error_free(err);
    ck_assert(!dbr_open(dir, &err));
    ck_assert_msg(strstr(dbr_error_message(err), "a directory"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    g_free(path);
    g_free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("messages");
    TCase *tc = tcase_create("messages");

    tcase_add_test(tc, test_quote_escapes_and_bounds_user_text);
    tcase_add_test(tc, test_config_error_quotes_a_bounded_prefix_of_long_input);
    tcase_add_test(tc, test_config_error_bounds_a_long_file_name);
    tcase_add_test(tc, test_config_suggests_the_nearest_known_name);
    tcase_add_test(tc, test_config_unreadable_file_is_named_once);
    suite_add_tcase(s, tc);
    return t_run(s);
}
