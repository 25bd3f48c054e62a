/* SPDX-License-Identifier: MIT */
/*
 * Server notices reach dbr's log hook, never stderr, also those the server
 * sends while the connection starts up (before the first PQconnectPoll the
 * driver installs its notice receiver; libpq's default prints to stderr).
 */
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "../testutil.h"

static GMutex lock;
static GString *lines;

static void record(dbr_log_level level, const char *layer, const char *message,
                   const char *const *fields, void *user)
{
    (void)fields, (void)user;
    g_mutex_lock(&lock);
    g_string_append_printf(lines, "%s|%s|%s\n", dbr_log_level_name(level), layer, message);
    g_mutex_unlock(&lock);
}

/* Runs the open with fd 2 pointed at a file; returns what was written there. */
static char *stderr_of_open(const char *conninfo, dbr_db **db)
{
    char *dir = t_tmpdir("notices"), *file = g_build_filename(dir, "stderr", NULL), *text;
    int saved = dup(2), fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    ck_assert(saved >= 0 && fd >= 0);
    ck_assert_int_eq(dup2(fd, 2), 2);
    close(fd);
    *db = t_open("[database]\ndriver = pq\nconninfo = %s\n", conninfo);
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
    ck_assert(g_file_get_contents(file, &text, NULL, NULL));
    g_free(file);
    g_free(dir);
    return text;
}

START_TEST(test_pg_startup_notices_go_to_the_log_not_stderr)
{
    /* client_min_messages from the startup packet: the server's DEBUG lines
     * of the session start arrive as notices while the connection starts */
    char *conninfo = g_strdup_printf("%s options='-c client_min_messages=debug5'", t_conninfo());
    dbr_db *db;
    char *err_text;

    lines = g_string_new(NULL);
    dbr_log_set_handler(record, NULL);
    err_text = stderr_of_open(conninfo, &db);
    dbr_close(db);
    dbr_log_set_handler(NULL, NULL);
    ck_assert_msg(!strstr(err_text, "DEBUG"), "a startup notice went to stderr: %s", err_text);
    ck_assert_msg(strstr(lines->str, "debug|pq|server: DEBUG:"), "no notice reached the log: %s",
                  lines->str);
    g_free(err_text);
    g_free(conninfo);
    g_string_free(lines, TRUE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_notices");
    TCase *tc = tcase_create("pg_notices");

    tcase_add_test(tc, test_pg_startup_notices_go_to_the_log_not_stderr);
    suite_add_tcase(s, tc);
    return t_run(s);
}
