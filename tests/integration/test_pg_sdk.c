/* SPDX-License-Identifier: MIT */
/*
 * The plugin SDK as a user meets it: dbr installed into a temporary root,
 * examples/plugin built against it with pkg-config only (its meson.build,
 * and the one-line cc recipe), loaded by `module =` path, and its effect
 * seen on real queries: the comment shows in pg_stat_activity.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

static char **build_example(void)
{
    char *work = g_strdup_printf("%s/sdk.%d", getenv("DBR_TEST_TMPDIR"), (int)getpid());
    char *argv[] = {(char *)getenv("DBR_TEST_SDK_SCRIPT"), (char *)getenv("DBR_TEST_BUILD_ROOT"),
                    (char *)getenv("DBR_TEST_SOURCE_ROOT"), work, NULL};
    char *out = NULL, *errout = NULL, **paths;
    int status = -1;

    ck_assert_msg(argv[0] && argv[1] && argv[2], "the SDK test needs its meson environment");
    g_mkdir_with_parents(getenv("DBR_TEST_TMPDIR"), 0755);
    ck_assert(
        g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errout, &status, NULL));
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "build-example.sh failed:\n%s%s", out,
                  errout);
    paths = g_strsplit(g_strstrip(out), "\n", -1);
    ck_assert_int_eq(g_strv_length(paths), 2);
    g_free(out);
    g_free(errout);
    g_free(work);
    return paths;
}

typedef struct runner {
    dbr_db *db;
    bool ok;
} runner;

static gpointer run_slow(gpointer data)
{
    runner *r = data;

    r->ok = dbr_exec(r->db, NULL, "SELECT pg_sleep(1)", 0, NULL, NULL);
    return NULL;
}

static bool tagged_query_seen(void *admin)
{
    return t_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE query = "
                        "'SELECT pg_sleep(1) /*application=''sdk-test'',db_driver=''dbr''*/'") == 1;
}

static void check_plugin(const char *path)
{
    dbr_db *admin = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    runner r = {.db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\n"
                             "plugins = tagger, retry\n[plugin.tagger]\nmodule = %s\n"
                             "application = sdk-test\n",
                             t_conninfo(), path)};
    GThread *t = g_thread_new("slow", run_slow, &r);
    dbr_error *err;

    ck_assert_msg(t_wait_for(tagged_query_seen, admin, 20000),
                  "the tagged query never showed in pg_stat_activity");
    g_thread_join(t);
    ck_assert(r.ok);
    dbr_close(r.db);
    /* its settings are checked like any plugin's */
    err = t_open_fail("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = tagger\n"
                      "[plugin.tagger]\nmodule = %s\napplication = no spaces please\n",
                      t_conninfo(), path);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), "[plugin.tagger] application"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    dbr_close(admin);
}

START_TEST(test_pg_sdk_plugin_built_outside_the_tree_works)
{
    char **paths = build_example();

    check_plugin(paths[0]); /* examples/plugin/meson.build */
    check_plugin(paths[1]); /* cc ... $(pkg-config --cflags --libs dbr) */
    g_strfreev(paths);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_sdk");
    TCase *tc = tcase_create("pg_sdk");

    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_pg_sdk_plugin_built_outside_the_tree_works);
    suite_add_tcase(s, tc);
    return t_run(s);
}
