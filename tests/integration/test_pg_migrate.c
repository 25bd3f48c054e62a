/* SPDX-License-Identifier: MIT */
/*
 * Schema migrations against a real PostgreSQL: round trips of every command
 * on SQL files and on C migrations, a failing migration leaving nothing
 * behind, four concurrent `dbr migrate up` processes, every bad input, a
 * migration outside a transaction, and auto = up / require = latest.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../testutil.h"

/* A migration directory: pairs of file name and content, NULL-terminated. */
static char *make_dir(const char *name, ...)
{
    char *dir = t_tmpdir(name);
    const char *file;
    va_list ap;

    va_start(ap, name);
    while ((file = va_arg(ap, const char *))) {
        const char *text = va_arg(ap, const char *);
        char *path = g_build_filename(dir, file, NULL);

        ck_assert(g_file_set_contents(path, text, -1, NULL));
        g_free(path);
    }
    va_end(ap);
    return dir;
}

static void rm_dir(char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        char *p = g_build_filename(dir, n, NULL);

        g_unlink(p);
        g_free(p);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(dir);
    g_free(dir);
}

static char *config_for(const char *dir, const char *table, const char *extra)
{
    return g_strdup_printf("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = migrate\n"
                           "[plugin.migrate]\ndir = %s\ntable = %s\n%s",
                           t_conninfo(), dir, table, extra ? extra : "");
}

static dbr_db *open_migrate(const char *dir, const char *table, const char *extra)
{
    char *text = config_for(dir, table, extra);
    dbr_db *db = t_open("%s", text);

    g_free(text);
    return db;
}

static char *command(dbr_db *db, const char *cmd)
{
    char *reply = NULL;
    dbr_error *err = NULL;

    ck_assert_msg(dbr_control(db, "migrate", cmd, &reply, &err), "%s: %s", cmd,
                  dbr_error_message(err));
    return reply;
}

static dbr_error *command_fails(dbr_db *db, const char *cmd)
{
    dbr_error *err = NULL;
    char *reply = NULL;

    ck_assert_msg(!dbr_control(db, "migrate", cmd, &reply, &err), "%s succeeded: %s", cmd, reply);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MIGRATION);
    return err;
}

static long long version_of(dbr_db *db, const char *table)
{
    char *sql = g_strdup_printf("SELECT coalesce(max(version), 0) FROM %s", table);
    long long v = t_int(db, sql);

    g_free(sql);
    return v;
}

static bool table_exists(dbr_db *db, const char *name)
{
    char *sql = g_strdup_printf("SELECT count(*) FROM pg_tables WHERE tablename = '%s'", name);
    bool yes = t_int(db, sql) == 1;

    g_free(sql);
    return yes;
}

#define ROUND_FILES                                                                                \
    "0001_create_items.up.sql", "CREATE TABLE m1_items (id int PRIMARY KEY);\n",                   \
        "0001_create_items.down.sql", "DROP TABLE m1_items;\n", "0002_add_label.up.sql",           \
        "ALTER TABLE m1_items ADD COLUMN label text;\nINSERT INTO m1_items VALUES (1, 'one');\n",  \
        "0002_add_label.down.sql",                                                                 \
        "DELETE FROM m1_items;\nALTER TABLE m1_items DROP COLUMN label;\n",                        \
        "0003_create_tags.up.sql", "CREATE TABLE m1_tags (tag text);\n",                           \
        "0003_create_tags.down.sql", "DROP TABLE m1_tags;\n", "README", "not a migration\n"

START_TEST(test_pg_migrate_round_trips_on_files)
{
    char *dir = make_dir("mig-round", ROUND_FILES, NULL);
    dbr_db *db = open_migrate(dir, "m1_history", NULL);
    char *r;

    t_exec(db, "DROP TABLE IF EXISTS m1_items, m1_tags, m1_history");
    /* dry-run: plan and SQL, tried in a transaction and rolled back */
    r = command(db, "dry-run");
    ck_assert_msg(strstr(r, "CREATE TABLE m1_items") && strstr(r, "rolled back"), "%s", r);
    free(r);
    ck_assert(!table_exists(db, "m1_items"));
    r = command(db, "up");
    free(r);
    ck_assert_int_eq(version_of(db, "m1_history"), 3);
    ck_assert(table_exists(db, "m1_tags"));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM m1_items"), 1);
    r = command(db, "status");
    ck_assert_msg(strstr(r, "\"state\" : \"applied\"") && !strstr(r, "pending"), "%s", r);
    free(r);
    r = command(db, "down");
    free(r);
    ck_assert_int_eq(version_of(db, "m1_history"), 2);
    ck_assert(!table_exists(db, "m1_tags"));
    r = command(db, "goto 1");
    free(r);
    ck_assert_int_eq(version_of(db, "m1_history"), 1);
    r = command(db, "goto 3");
    free(r);
    ck_assert_int_eq(version_of(db, "m1_history"), 3);
    r = command(db, "down 3");
    free(r);
    ck_assert_int_eq(version_of(db, "m1_history"), 0);
    ck_assert(!table_exists(db, "m1_items"));
    /* force: record a version without running anything */
    r = command(db, "force 2");
    ck_assert_msg(strstr(r, "\"version\" : 2"), "%s", r);
    free(r);
    ck_assert(!table_exists(db, "m1_items"));
    t_exec(db, "DELETE FROM m1_history");
    r = command(db, "baseline 2"); /* adopt a database that is already at 2 */
    free(r);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM m1_history"), 2);
    dbr_close(db);
    rm_dir(dir);
}
END_TEST

static bool c_up(dbr_tx *tx, void *user, dbr_error **err)
{
    char *sql = g_strdup_printf("CREATE TABLE %s (x int)", (const char *)user);
    bool ok = dbr_tx_exec(tx, sql, 0, NULL, err);

    g_free(sql);
    return ok;
}

static bool c_down(dbr_tx *tx, void *user, dbr_error **err)
{
    char *sql = g_strdup_printf("DROP TABLE %s", (const char *)user);
    bool ok = dbr_tx_exec(tx, sql, 0, NULL, err);

    g_free(sql);
    return ok;
}

START_TEST(test_pg_migrate_c_registered_migrations)
{
    dbr_migration a = {10, "create c_a", c_up, c_down, "m2_a"};
    dbr_migration b = {11, "create c_b", c_up, NULL, "m2_b"};
    dbr_error *err = NULL;
    dbr_db *db;
    char *r;

    dbr_migration_clear();
    ck_assert(dbr_migration_register(&a, NULL));
    ck_assert(dbr_migration_register(&b, NULL));
    ck_assert(!dbr_migration_register(&a, &err)); /* twice */
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MIGRATION);
    dbr_error_free(err);
    db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = migrate\n"
                "[plugin.migrate]\ntable = m2_history\n",
                t_conninfo());
    t_exec(db, "DROP TABLE IF EXISTS m2_a, m2_b, m2_history");
    r = command(db, "up");
    free(r);
    ck_assert(table_exists(db, "m2_a") && table_exists(db, "m2_b"));
    err = command_fails(db, "down"); /* 11 has no down */
    ck_assert_msg(strstr(dbr_error_message(err), "version 11"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    r = command(db, "force 10");
    free(r);
    r = command(db, "down");
    free(r);
    ck_assert(!table_exists(db, "m2_a"));
    dbr_close(db);
    dbr_migration_clear();
}
END_TEST

START_TEST(test_pg_migrate_failure_leaves_nothing_half_applied)
{
    char *dir = make_dir(
        "mig-fail", "0001_base.up.sql", "CREATE TABLE m3_base (x int);\n", "0002_broken.up.sql",
        "CREATE TABLE m3_half (x int);\nINSERT INTO m3_nosuch VALUES (1);\n", NULL);
    dbr_db *db = open_migrate(dir, "m3_history", NULL);
    dbr_error *err;

    t_exec(db, "DROP TABLE IF EXISTS m3_base, m3_half, m3_history");
    err = command_fails(db, "up");
    ck_assert_msg(strstr(dbr_error_message(err), "0002_broken.up.sql (version 2) failed"), "%s",
                  dbr_error_message(err));
    ck_assert_msg(strstr(dbr_error_message(err), "m3_nosuch"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    ck_assert(table_exists(db, "m3_base"));
    ck_assert(!table_exists(db, "m3_half")); /* nothing of it remains */
    ck_assert_int_eq(version_of(db, "m3_history"), 1);
    dbr_close(db);
    rm_dir(dir);
}
END_TEST

static int run_tool(const char *config_path, const char *cmd, char **out, char **errout)
{
    char *argv[] = {
        (char *)getenv("DBR_TEST_TOOL"), "migrate", "-c", (char *)config_path, (char *)cmd, NULL};
    int status = -1;

    ck_assert_msg(argv[0], "DBR_TEST_TOOL is not set");
    ck_assert(
        g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, errout, &status, NULL));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_pg_migrate_four_concurrent_processes_apply_each_once)
{
    char *dir = t_tmpdir("mig-many"), *cfg_path = g_build_filename(dir, "db.ini", NULL);
    char *migs = g_build_filename(dir, "m", NULL), *text;
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    GPid pids[4];
    int fails = 0;

    g_mkdir_with_parents(migs, 0755);
    t_exec(db, "DROP TABLE IF EXISTS m4_history, m4_log");
    for (int v = 1; v <= 20; v++) {
        char *file = g_strdup_printf("%s/%04d_step_%d.up.sql", migs, v, v);
        char *sql = g_strdup_printf("%sCREATE TABLE IF NOT EXISTS m4_log (v int);\n"
                                    "INSERT INTO m4_log VALUES (%d);\nSELECT pg_sleep(0.02);\n",
                                    "", v);

        g_file_set_contents(file, sql, -1, NULL);
        g_free(file);
        g_free(sql);
    }
    text = config_for(migs, "m4_history", NULL);
    g_file_set_contents(cfg_path, text, -1, NULL);
    for (int i = 0; i < 4; i++) {
        char *argv[] = {(char *)getenv("DBR_TEST_TOOL"), "migrate", "-c", cfg_path, "up", NULL};

        ck_assert(g_spawn_async(NULL, argv, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                                &pids[i], NULL));
    }
    for (int i = 0; i < 4; i++) {
        int status;

        waitpid(pids[i], &status, 0);
        fails += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ck_assert_int_eq(fails, 0);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM m4_history"), 20);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM m4_log"), 20);
    ck_assert_int_eq(t_int(db, "SELECT count(DISTINCT v) FROM m4_log"), 20);
    g_free(text);
    g_free(cfg_path);
    dbr_close(db);
    rm_dir(migs);
    g_free(dir);
}
END_TEST

START_TEST(test_pg_migrate_bad_inputs_name_file_and_version)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    char *dir, *path;
    dbr_db *m;
    dbr_error *err;
    char *r;

    t_exec(db, "DROP TABLE IF EXISTS m5_history, m5_a, m5_b");
    /* duplicate version */
    dir = make_dir("mig-dup", "0001_a.up.sql", "SELECT 1;", "0001_b.up.sql", "SELECT 2;", NULL);
    m = open_migrate(dir, "m5_history", NULL);
    err = command_fails(m, "status");
    ck_assert_msg(strstr(dbr_error_message(err), "version 1 appears twice"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    dbr_close(m);
    rm_dir(dir);
    /* bad name */
    dir = make_dir("mig-name", "add_things.up.sql", "SELECT 1;", NULL);
    m = open_migrate(dir, "m5_history", NULL);
    err = command_fails(m, "up");
    ck_assert_msg(strstr(dbr_error_message(err), "add_things.up.sql: bad migration file name"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    dbr_close(m);
    rm_dir(dir);
    /* empty file */
    dir = make_dir("mig-empty", "0001_nothing.up.sql", "  \n\n", NULL);
    m = open_migrate(dir, "m5_history", NULL);
    err = command_fails(m, "up");
    ck_assert_msg(strstr(dbr_error_message(err), "0001_nothing.up.sql is empty"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    dbr_close(m);
    rm_dir(dir);
    /* changed, missing, out of order, missing down */
    dir = make_dir("mig-change", "0001_a.up.sql", "CREATE TABLE m5_a (x int);", "0003_b.up.sql",
                   "CREATE TABLE m5_b (x int);", NULL);
    m = open_migrate(dir, "m5_history", NULL);
    r = command(m, "up");
    free(r);
    err = command_fails(m, "down");
    ck_assert_msg(strstr(dbr_error_message(err), "cannot roll back version 3: its .down.sql is "
                                                 "missing"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    path = g_build_filename(dir, "0002_late.up.sql", NULL);
    g_file_set_contents(path, "SELECT 1;", -1, NULL);
    err = command_fails(m, "up");
    ck_assert_msg(strstr(dbr_error_message(err), "0002_late.up.sql (version 2) is pending but "
                                                 "version 3 is already applied"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    g_unlink(path);
    g_free(path);
    path = g_build_filename(dir, "0001_a.up.sql", NULL);
    g_file_set_contents(path, "CREATE TABLE m5_a (x int, y int);", -1, NULL);
    err = command_fails(m, "up");
    ck_assert_msg(strstr(dbr_error_message(err), "0001_a.up.sql (version 1) has changed since it "
                                                 "was applied"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    g_unlink(path);
    err = command_fails(m, "up");
    ck_assert_msg(strstr(dbr_error_message(err), "version 1 (a) is applied but its migration is "
                                                 "missing"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    g_free(path);
    dbr_close(m);
    rm_dir(dir);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_migrate_outside_a_transaction_and_dirty_state)
{
    char *dir =
        make_dir("mig-notx", "0001_table.up.sql", "CREATE TABLE m6_t (x int);", "0002_index.up.sql",
                 "-- dbr:no-transaction\nCREATE INDEX CONCURRENTLY m6_idx ON m6_t (x);",
                 "0003_broken.up.sql",
                 "-- dbr:no-transaction\nCREATE INDEX CONCURRENTLY m6_bad ON m6_nosuch (x);", NULL);
    dbr_db *m = open_migrate(dir, "m6_history", NULL);
    dbr_error *err;
    char *r;

    t_exec(m, "DROP TABLE IF EXISTS m6_t, m6_history");
    err = command_fails(m, "up");
    ck_assert_msg(strstr(dbr_error_message(err), "0003_broken.up.sql (version 3, outside a "
                                                 "transaction) failed"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    ck_assert_int_eq(t_int(m, "SELECT count(*) FROM pg_indexes WHERE indexname = 'm6_idx'"), 1);
    r = command(m, "status");
    ck_assert_msg(strstr(r, "\"state\" : \"dirty\""), "%s", r);
    free(r);
    err = command_fails(m, "up"); /* dirty stops everything... */
    ck_assert_msg(strstr(dbr_error_message(err), "version 3 (broken) is dirty"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    r = command(m, "force 2"); /* ...until force says what is true */
    free(r);
    ck_assert_int_eq(version_of(m, "m6_history"), 2);
    dbr_close(m);
    rm_dir(dir);
}
END_TEST

START_TEST(test_pg_migrate_auto_up_and_require_latest_at_open)
{
    char *dir = make_dir("mig-open", "0001_a.up.sql", "CREATE TABLE m7_a (x int);", "0002_b.up.sql",
                         "CREATE TABLE m7_b (x int);", NULL);
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    char *text;
    dbr_error *err;

    t_exec(db, "DROP TABLE IF EXISTS m7_a, m7_b, m7_history");
    text = config_for(dir, "m7_history", "require = latest\n");
    err = t_open_fail("%s", text);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MIGRATION);
    ck_assert_msg(strstr(dbr_error_message(err), "the schema is at version 0 but this program "
                                                 "needs 2"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    g_free(text);
    text = config_for(dir, "m7_history", "auto = up\nrequire = latest\n");
    dbr_close(t_open("%s", text));
    ck_assert(table_exists(db, "m7_b"));
    g_free(text);
    dbr_close(db);
    rm_dir(dir);
}
END_TEST

START_TEST(test_pg_migrate_tool_reports_progress_and_failure)
{
    char *dir = make_dir("mig-tool", "0001_first.up.sql", "CREATE TABLE m8_a (x int);",
                         "0002_bad.up.sql", "SELEC broken;", NULL);
    char *cfg = g_build_filename(dir, "db.ini", NULL), *text = config_for(dir, "m8_history", NULL);
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    char *out = NULL, *errout = NULL;

    t_exec(db, "DROP TABLE IF EXISTS m8_a, m8_history");
    g_file_set_contents(cfg, text, -1, NULL);
    ck_assert_int_eq(run_tool(cfg, "up", &out, &errout), 1);
    ck_assert_msg(strstr(out, "applying 1 first") && strstr(out, "1 applied in"), "%s", out);
    ck_assert_msg(strstr(errout, "0002_bad.up.sql (version 2) failed") &&
                      strstr(errout, "syntax error"),
                  "%s", errout);
    g_free(out);
    g_free(errout);
    ck_assert_int_eq(run_tool(cfg, "status", &out, &errout), 0);
    ck_assert_msg(strstr(out, "schema version 1") && strstr(out, "pending"), "%s", out);
    g_free(out);
    g_free(errout);
    g_free(text);
    g_free(cfg);
    dbr_close(db);
    rm_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_migrate");
    TCase *tc = tcase_create("pg_migrate");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pg_migrate_round_trips_on_files);
    tcase_add_test(tc, test_pg_migrate_c_registered_migrations);
    tcase_add_test(tc, test_pg_migrate_failure_leaves_nothing_half_applied);
    tcase_add_test(tc, test_pg_migrate_four_concurrent_processes_apply_each_once);
    tcase_add_test(tc, test_pg_migrate_bad_inputs_name_file_and_version);
    tcase_add_test(tc, test_pg_migrate_outside_a_transaction_and_dirty_state);
    tcase_add_test(tc, test_pg_migrate_auto_up_and_require_latest_at_open);
    tcase_add_test(tc, test_pg_migrate_tool_reports_progress_and_failure);
    suite_add_tcase(s, tc);
    return t_run(s);
}
