/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Check suites. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdlib.h>

#include "testutil.h"

static dbr_db *open_v(const char *fmt, va_list ap, dbr_error **err)
{
    char *text = g_strdup_vprintf(fmt, ap);
    dbr_db *db = dbr_open_string(text, err);

    g_free(text);
    return db;
}

dbr_db *t_open(const char *fmt, ...)
{
    dbr_error *err = NULL;
    va_list ap;
    dbr_db *db;

    va_start(ap, fmt);
    db = open_v(fmt, ap, &err);
    va_end(ap);
    ck_assert_msg(db != NULL, "dbr_open_string: %s", dbr_error_message(err));
    return db;
}

dbr_error *t_open_fail(const char *fmt, ...)
{
    dbr_error *err = NULL;
    va_list ap;
    dbr_db *db;

    va_start(ap, fmt);
    db = open_v(fmt, ap, &err);
    va_end(ap);
    if (db)
        dbr_close(db);
    ck_assert_msg(db == NULL, "dbr_open_string succeeded, expected an error");
    ck_assert_ptr_nonnull(err);
    return err;
}

char *t_value(dbr_db *db, const char *sql)
{
    dbr_error *err = NULL;
    dbr_result *r = dbr_query(db, NULL, sql, 0, NULL, &err);
    char *v;

    ck_assert_msg(r != NULL, "%s: %s", sql, dbr_error_message(err));
    ck_assert_msg(dbr_result_nrows(r) > 0, "%s: no rows", sql);
    v = g_strdup(dbr_result_value(r, 0, 0) ? dbr_result_value(r, 0, 0) : "(null)");
    dbr_result_free(r);
    return v;
}

long long t_int(dbr_db *db, const char *sql)
{
    char *v = t_value(db, sql);
    long long n = atoll(v);

    g_free(v);
    return n;
}

void t_exec(dbr_db *db, const char *sql)
{
    dbr_error *err = NULL;

    ck_assert_msg(dbr_exec(db, NULL, sql, 0, NULL, &err), "%s: %s", sql, dbr_error_message(err));
}

const char *t_conninfo(void)
{
    const char *c = getenv("DBR_TEST_CONNINFO");

    ck_assert_msg(c && *c, "DBR_TEST_CONNINFO is not set: run the suite through "
                           "scripts/run-tests.sh, which starts a throwaway PostgreSQL");
    return c;
}

void t_pgctl(const char *args)
{
    const char *ctl = getenv("DBR_TEST_PGCTL");
    char *cmd;

    ck_assert_msg(ctl && *ctl, "DBR_TEST_PGCTL is not set: run through scripts/run-tests.sh");
    cmd = g_strdup_printf("%s %s >/dev/null 2>&1", ctl, args);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    g_free(cmd);
}

char *t_tmpdir(const char *name)
{
    const char *base = getenv("DBR_TEST_TMPDIR");
    char *dir;

    ck_assert_msg(base && *base, "DBR_TEST_TMPDIR is not set: run through meson test");
    g_mkdir_with_parents(base, 0755);
    g_chmod(base, 0755);
    dir = g_strdup_printf("%s/%s.%d", base, name, (int)getpid());
    g_mkdir_with_parents(dir, 0755);
    g_chmod(dir, 0755);
    return dir;
}

int t_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

bool t_wait_for(bool (*cond)(void *), void *arg, int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (!cond(arg)) {
        if (g_get_monotonic_time() > end)
            return false;
        g_usleep(10000);
    }
    return true;
}

char *t_standby(const char *what, const char *name)
{
    char *script =
        g_build_filename(getenv("DBR_TEST_SOURCE_ROOT"), "scripts", "lib", "pgstandby.sh", NULL);
    char *argv[] = {"bash", script, (char *)what, (char *)name, NULL};
    char *out = NULL, *errout = NULL;
    GError *gerr = NULL;
    int status = 0;

    ck_assert_msg(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errout,
                               &status, &gerr),
                  "%s", gerr ? gerr->message : "");
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "pgstandby.sh %s %s: %s", what,
                  name ? name : "", errout);
    g_free(errout);
    g_free(script);
    return g_strstrip(out);
}
