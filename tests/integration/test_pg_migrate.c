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
    dbr_migration a = {10, "create c_a", c_up, c_down, "m2_a", 0};
    dbr_migration b = {11, "create c_b", c_up, NULL, "m2_b", 0};
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
    err = command_fails(m, "up");
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
    ck_assert_msg(strstr(dbr_error_message(err), "0001_nothing.up.sql: the file is empty"), "%s",
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
                                                 "transaction): statement 1 of 1"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    ck_assert_int_eq(t_int(m, "SELECT count(*) FROM pg_indexes WHERE indexname = 'm6_idx'"), 1);
    r = command(m, "status");
    ck_assert_msg(strstr(r, "\"state\" : \"dirty\""), "%s", r);
    free(r);
    err = command_fails(m, "up"); /* dirty stops everything... */
    ck_assert_msg(strstr(dbr_error_message(err), "version 3 (broken) is dirty"), "%s",
                  dbr_error_message(err));
    ck_assert_msg(strstr(dbr_error_message(err), "`dbr migrate force 3`") &&
                      strstr(dbr_error_message(err), "`dbr migrate force 2`") &&
                      strstr(dbr_error_message(err), "`dbr migrate up`"),
                  "the error does not say how to repair: %s", dbr_error_message(err));
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

static char *status_of(dbr_db *m, long long version)
{
    char *r = command(m, "status"), *key = g_strdup_printf("\"version\" : %lld,", version);
    char *at = strstr(strstr(r, "\"migrations\""), key), *st, *out;

    ck_assert_msg(at, "version %lld not in %s", version, r);
    st = strstr(at, "\"state\" : \"");
    ck_assert_ptr_nonnull(st);
    st += strlen("\"state\" : \"");
    out = g_strndup(st, strcspn(st, "\""));
    g_free(key);
    free(r);
    return out;
}

/* The example: two CREATE INDEX CONCURRENTLY in one file failed
 * every time (one multi-statement query is one implicit transaction). The
 * file is split by the lexer (quotes, E'' strings, dollar quotes, nested
 * comments, a BEGIN ATOMIC body) and runs on one session, so a SET holds. */
START_TEST(test_pg_migrate_no_transaction_file_runs_statement_by_statement)
{
    char *dir = make_dir(
        "mig-split", "0001_table.up.sql", "CREATE TABLE m9_t (x int, y text);",
        "0002_indexes.up.sql",
        "-- dbr:no-transaction\n"
        "SET application_name = 'm9;session';\n"
        "CREATE INDEX CONCURRENTLY m9_x ON m9_t (x); /* one; /* nested; */ two; */\n"
        "CREATE INDEX CONCURRENTLY m9_y ON m9_t (y) WHERE y <> 'a;b' AND y <> E'c\\';d';\n"
        "CREATE FUNCTION m9_f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN "
        "true THEN 2 END; END;\n"
        "DO $body$ BEGIN PERFORM 1; END $body$;\n"
        "CREATE TABLE m9_app AS SELECT current_setting('application_name') AS v; -- last\n",
        NULL);
    dbr_db *m = open_migrate(dir, "m9_history", NULL);
    dbr_result *res;
    char *r, *st;

    t_exec(m, "DROP TABLE IF EXISTS m9_t, m9_app, m9_history");
    t_exec(m, "DROP FUNCTION IF EXISTS m9_f()");
    r = command(m, "up");
    free(r);
    ck_assert_int_eq(
        t_int(m, "SELECT count(*) FROM pg_indexes WHERE indexname IN ('m9_x', 'm9_y')"), 2);
    ck_assert_int_eq(t_int(m, "SELECT m9_f()"), 2);
    res = dbr_query(m, NULL, "SELECT v FROM m9_app", 0, NULL, NULL);
    ck_assert_ptr_nonnull(res);
    ck_assert_str_eq(dbr_result_value(res, 0, 0), "m9;session");
    dbr_result_free(res);
    st = status_of(m, 2);
    ck_assert_str_eq(st, "applied");
    g_free(st);
    dbr_close(m);
    rm_dir(dir);
}
END_TEST

/* A no-transaction migration fails partway; the operator fixes the file
 * and follows the error's advice. Both repair paths must get out: force N
 * (finished by hand) and force N-1 then up (run it again). */
START_TEST(test_pg_migrate_repair_after_a_dirty_failure)
{
    char *dir = make_dir("mig-repair", "0001_table.up.sql", "CREATE TABLE m10_t (x int);",
                         "0002_idx.up.sql",
                         "-- dbr:no-transaction\nCREATE INDEX CONCURRENTLY m10_a ON m10_t (x);\n"
                         "CREATE INDEX CONCURRENTLY m10_b ON m10_t (nosuch);\n",
                         "0003_more.up.sql", "CREATE TABLE m10_more (x int);", NULL);
    char *path = g_build_filename(dir, "0002_idx.up.sql", NULL), *st, *r;
    dbr_db *m = open_migrate(dir, "m10_history", NULL);
    dbr_error *err;

    t_exec(m, "DROP TABLE IF EXISTS m10_t, m10_more, m10_history");
    err = command_fails(m, "up");
    ck_assert_msg(
        strstr(dbr_error_message(err), "statement 2 of 2 (line 3) failed after 1 applied"), "%s",
        dbr_error_message(err));
    dbr_error_free(err);
    st = status_of(m, 2);
    ck_assert_str_eq(st, "dirty");
    g_free(st);
    /* path 1: finish by hand, fix the file, force 2: applied, and up goes on */
    t_exec(m, "CREATE INDEX m10_b ON m10_t (x)");
    ck_assert(g_file_set_contents(path,
                                  "-- dbr:no-transaction\nCREATE INDEX CONCURRENTLY m10_a ON "
                                  "m10_t (x);\nCREATE INDEX CONCURRENTLY m10_b ON m10_t (x);\n",
                                  -1, NULL));
    free(command(m, "force 2"));
    st = status_of(m, 2);
    ck_assert_msg(strcmp(st, "applied") == 0, "after force 2 the state is %s", st);
    g_free(st);
    free(command(m, "up"));
    ck_assert(table_exists(m, "m10_more"));
    /* path 2: force 1, undo, up runs 2 (and 3) again. force 1 must not
     * take an edit of 0001 for the applied file. */
    {
        char *p1 = g_build_filename(dir, "0001_table.up.sql", NULL);

        ck_assert(g_file_set_contents(p1, "CREATE TABLE m10_t (x int); -- edited", -1, NULL));
        r = command(m, "force 1");
        ck_assert_msg(strstr(r, "version 1's file had changed since it was recorded"),
                      "force 1 took an edited 0001 without saying so: %s", r);
        free(r);
        g_free(p1);
    }
    t_exec(m, "DROP TABLE m10_more");
    t_exec(m, "DROP INDEX m10_a");
    t_exec(m, "DROP INDEX m10_b");
    r = command(m, "up");
    ck_assert_msg(strstr(r, "2,") && strstr(r, "3"), "%s", r);
    free(r);
    ck_assert_int_eq(
        t_int(m, "SELECT count(*) FROM pg_indexes WHERE indexname IN ('m10_a', 'm10_b')"), 2);
    st = status_of(m, 3);
    ck_assert_str_eq(st, "applied");
    g_free(st);
    g_free(path);
    dbr_close(m);
    rm_dir(dir);
}
END_TEST

/* dry-run says exactly what it tried: every pending migration with its
 * result, on stdout too when one fails, and never "every pending migration
 * ran" when one could not be tried. */
START_TEST(test_pg_migrate_dry_run_reports_what_it_tried)
{
    char *dir =
        make_dir("mig-dry", "0001_a.up.sql", "CREATE TABLE m11_a (x int);", "0002_idx.up.sql",
                 "-- dbr:no-transaction\nCREATE INDEX CONCURRENTLY m11_i ON m11_a (x);", NULL);
    char *cfg = g_build_filename(dir, "db.ini", NULL), *text = config_for(dir, "m11_history", NULL);
    char *bad = g_build_filename(dir, "0003_bad.up.sql", NULL);
    dbr_db *m = open_migrate(dir, "m11_history", NULL);
    char *out = NULL, *errout = NULL, *reply = NULL;
    dbr_error *err = NULL;

    t_exec(m, "DROP TABLE IF EXISTS m11_a, m11_history");
    g_file_set_contents(cfg, text, -1, NULL);
    free(command(m, "goto 1"));
    /* only a no-transaction migration pending: nothing tried, and said so */
    reply = command(m, "dry-run");
    ck_assert_msg(strstr(reply, "0 of 1 pending migration ran and were rolled back") ||
                      strstr(reply, "0 of 1 pending migration ran"),
                  "%s", reply);
    ck_assert_msg(strstr(reply, "1 not tried: outside a transaction") &&
                      !strstr(reply, "every pending"),
                  "%s", reply);
    free(reply);
    /* a failing one: the report comes with the error, on stdout from the tool */
    g_file_set_contents(bad, "SELEC broken;", -1, NULL);
    ck_assert(!dbr_control(m, "migrate", "dry-run", &reply, &err));
    ck_assert_msg(reply && strstr(reply, "\"result\" : \"failed\"") &&
                      strstr(reply, "\"ok\" : false") && strstr(reply, "; 1 failed"),
                  "%s", reply ? reply : "(no reply)");
    ck_assert_msg(strstr(dbr_error_message(err), "0003_bad.up.sql (version 3) failed"), "%s",
                  dbr_error_message(err));
    free(reply);
    dbr_error_free(err);
    ck_assert_int_eq(run_tool(cfg, "dry-run", &out, &errout), 1);
    ck_assert_msg(strstr(out, "-- 3 bad") && strstr(out, "=> failed") &&
                      strstr(out, "=> not tried: it runs outside a transaction"),
                  "stdout: %s", out);
    ck_assert_msg(strstr(errout, "syntax error"), "stderr: %s", errout);
    g_free(out);
    g_free(errout);
    ck_assert(!table_exists(m, "m11_bad"));
    g_free(bad);
    g_free(text);
    g_free(cfg);
    dbr_close(m);
    rm_dir(dir);
}
END_TEST

/* status lists every migration and marks the bad files; every other
 * command refuses while one is bad, naming all of them. */
START_TEST(test_pg_migrate_status_lists_bad_files)
{
    char *dir =
        make_dir("mig-status", "0001_a.up.sql", "SELECT 1;", "0002_empty.up.sql", "\n",
                 "0003_x.up.sql", "SELECT 3;", "0003_y.up.sql", "SELECT 4;", "0000_zero.up.sql",
                 "SELECT 0;", "oops.up.sql", "SELECT 5;", "99999999999999999999_big.up.sql",
                 "SELECT 6;", "0004_d.down.sql", "SELECT 7;", "0005_ok.up.sql", "SELECT 8;", NULL);
    dbr_db *m = open_migrate(dir, "m12_history", NULL);
    char *r, *out = NULL, *errout = NULL;
    char *cfg = g_build_filename(dir, "db.ini", NULL), *text = config_for(dir, "m12_history", NULL);
    dbr_error *err;

    t_exec(m, "DROP TABLE IF EXISTS m12_history");
    r = command(m, "status");
    ck_assert_msg(strstr(r, "0001_a.up.sql") && strstr(r, "0005_ok.up.sql"), "%s", r);
    ck_assert_msg(strstr(r, "the file is empty") && strstr(r, "version 3 appears twice") &&
                      strstr(r, "version 0 is not a migration") && strstr(r, "oops.up.sql") &&
                      strstr(r, "too large") && strstr(r, "has") && strstr(r, "but no .up.sql"),
                  "%s", r);
    free(r);
    err = command_fails(m, "up");
    ck_assert_msg(strstr(dbr_error_message(err), "6 bad migration files"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    g_file_set_contents(cfg, text, -1, NULL);
    ck_assert_int_eq(run_tool(cfg, "status", &out, &errout), 0);
    ck_assert_msg(strstr(out, "bad") && strstr(out, "0000_zero.up.sql") &&
                      strstr(out, "pending   ok"),
                  "%s", out);
    g_free(out);
    g_free(errout);
    g_free(text);
    g_free(cfg);
    dbr_close(m);
    rm_dir(dir);
}
END_TEST

/* Commands: empty, unknown, extra words, counts out of range. */
START_TEST(test_pg_migrate_commands_are_checked)
{
    char *dir = make_dir("mig-cmd", "0001_a.up.sql", "CREATE TABLE m13_a (x int);",
                         "0001_a.down.sql", "DROP TABLE m13_a;", NULL);
    char *cfg = g_build_filename(dir, "db.ini", NULL), *text = config_for(dir, "m13_history", NULL);
    dbr_db *m = open_migrate(dir, "m13_history", NULL);
    static const char *const bad[] = {"",
                                      "   ",
                                      "down 4294967295",
                                      "down 4294967296",
                                      "down 0",
                                      "down -1",
                                      "down 1 2",
                                      "up now",
                                      "goto",
                                      "goto 1x",
                                      "status please",
                                      "force",
                                      "sideways",
                                      "down 99999999999999999999"};
    char *out = NULL, *errout = NULL;
    dbr_error *err;

    t_exec(m, "DROP TABLE IF EXISTS m13_a, m13_history");
    free(command(m, "up"));
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        err = command_fails(m, bad[i]);
        ck_assert_msg(strstr(dbr_error_message(err), "expected") ||
                          strstr(dbr_error_message(err), "takes"),
                      "\"%s\": %s", bad[i], dbr_error_message(err));
        dbr_error_free(err);
    }
    ck_assert(table_exists(m, "m13_a")); /* nothing was rolled back */
    g_file_set_contents(cfg, text, -1, NULL);
    ck_assert_int_eq(run_tool(cfg, "", &out, &errout), 2); /* usage */
    g_free(out);
    g_free(errout);
    free(command(m, "down 1"));
    ck_assert(!table_exists(m, "m13_a"));
    err = command_fails(m, "down");
    ck_assert_msg(strstr(dbr_error_message(err), "nothing is applied"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    g_free(text);
    g_free(cfg);
    dbr_close(m);
    rm_dir(dir);
}
END_TEST

/* The dbr tool opens one-shot: a config with auto = up and require = latest
 * (the service's) must neither apply migrations behind `dbr migrate status`
 * nor refuse `dbr migrate up` for being behind. */
START_TEST(test_pg_migrate_tool_ignores_auto_and_require)
{
    char *dir = make_dir("mig-oneshot", "0001_a.up.sql", "CREATE TABLE m14_a (x int);", NULL);
    char *cfg = g_build_filename(dir, "db.ini", NULL);
    char *text = config_for(dir, "m14_history", "auto = up\nrequire = latest\n");
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    char *out = NULL, *errout = NULL;

    t_exec(db, "DROP TABLE IF EXISTS m14_a, m14_history");
    g_file_set_contents(cfg, text, -1, NULL);
    ck_assert_int_eq(run_tool(cfg, "status", &out, &errout), 0);
    ck_assert_msg(strstr(out, "pending"), "%s%s", out, errout);
    ck_assert(!table_exists(db, "m14_a"));
    g_free(out);
    g_free(errout);
    ck_assert_int_eq(run_tool(cfg, "up", &out, &errout), 0);
    ck_assert(table_exists(db, "m14_a"));
    g_free(out);
    g_free(errout);
    g_free(text);
    g_free(cfg);
    dbr_close(db);
    rm_dir(dir);
}
END_TEST

/* A no-transaction file is checked before anything runs: an unterminated
 * comment or string, or transaction control, makes it a bad file. */
START_TEST(test_pg_migrate_no_transaction_file_is_checked_first)
{
    char *dir =
        make_dir("mig-notx-bad", "0001_open.up.sql",
                 "-- dbr:no-transaction\nCREATE TABLE m16_a (x int);\n"
                 "/* temporarily disabled\nCREATE TABLE m16_b (x int);\n",
                 "0002_tx.up.sql",
                 "-- dbr:no-transaction\nBEGIN;\nCREATE TABLE m16_c (x int);\nCOMMIT;\n", NULL);
    dbr_db *m = open_migrate(dir, "m16_history", NULL);
    dbr_error *err;
    char *r;

    t_exec(m, "DROP TABLE IF EXISTS m16_a, m16_b, m16_c, m16_history");
    r = command(m, "status");
    ck_assert_msg(strstr(r, "line 3: an unterminated comment") &&
                      strstr(r, "statement 1 (line 2) is begin"),
                  "%s", r);
    free(r);
    err = command_fails(m, "up");
    dbr_error_free(err);
    ck_assert(!table_exists(m, "m16_a"));
    ck_assert_int_eq(version_of(m, "m16_history"), 0);
    dbr_close(m);
    rm_dir(dir);
}
END_TEST

typedef struct upper {
    dbr_db *db;
    bool ok;
} upper;

static gpointer run_up(gpointer arg)
{
    upper *u = arg;
    char *reply = NULL;
    dbr_error *err = NULL;

    u->ok = dbr_control(u->db, "migrate", "up", &reply, &err);
    free(reply);
    dbr_error_free(err);
    return NULL;
}

typedef struct holder {
    dbr_db *admin;
    bool ok;
} holder;

static bool two_waiting(void *arg)
{
    return t_int(arg, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                      "objid = 4242 AND NOT granted") >= 2;
}

static bool held(void *arg)
{
    return t_int(arg, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                      "objid = 4242 AND granted") == 1;
}

static bool hold_until_both_wait(dbr_tx *tx, void *user, dbr_error **err)
{
    holder *h = user;

    if (!dbr_tx_exec(tx, "SELECT pg_advisory_xact_lock(4242)", 0, NULL, err))
        return false;
    h->ok = t_wait_for(two_waiting, h->admin, 30000);
    return true;
}

static gpointer hold(gpointer arg)
{
    holder *h = arg;

    dbr_tx_run(h->admin, NULL, NULL, hold_until_both_wait, h, NULL);
    return NULL;
}

/* Two processes run `up` at once; the first marks a no-transaction
 * migration dirty and runs it (it fails); the second must not take the
 * dirty row for "applied" and go on to apply the next migration. */
START_TEST(test_pg_migrate_concurrent_up_never_passes_a_dirty_version)
{
    char *dir = make_dir("mig-race", "0001_slow.up.sql",
                         "-- dbr:no-transaction\nSELECT pg_sleep(1);\nSELECT 1/0;\n",
                         "0002_next.up.sql", "CREATE TABLE m17_b (x int);", NULL);
    dbr_db *admin = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    upper a = {open_migrate(dir, "m17_history", "lock_key = 4242\n"), false};
    upper b = {open_migrate(dir, "m17_history", "lock_key = 4242\n"), false};
    holder h = {admin, false};
    GThread *th, *ta, *tb;

    t_exec(admin, "DROP TABLE IF EXISTS m17_b, m17_history");
    free(command(a.db, "status")); /* the history table, so both wait on the lock */
    th = g_thread_new("holder", hold, &h);
    ck_assert(t_wait_for(held, admin, 30000));
    ta = g_thread_new("a", run_up, &a);
    tb = g_thread_new("b", run_up, &b);
    g_thread_join(th);
    ck_assert(h.ok);
    g_thread_join(ta);
    g_thread_join(tb);
    ck_assert_msg(!a.ok && !b.ok, "an up reported success past a failed migration (a %d, b %d)",
                  a.ok, b.ok);
    ck_assert_msg(!table_exists(admin, "m17_b"), "version 2 was applied over a dirty version 1");
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM m17_history WHERE version = 2"), 0);
    dbr_close(a.db);
    dbr_close(b.db);
    dbr_close(admin);
    rm_dir(dir);
}
END_TEST

/* A down file can run outside a transaction too (DROP INDEX CONCURRENTLY),
 * and the tool's repair advice names the config, so it can be pasted. */
START_TEST(test_pg_migrate_no_transaction_down_and_advice_for_this_config)
{
    char *dir = make_dir(
        "mig-notx-down", "0001_t.up.sql", "CREATE TABLE m18_t (x int, y int);", "0001_t.down.sql",
        "DROP TABLE m18_t;", "0002_idx.up.sql",
        "-- dbr:no-transaction\nCREATE INDEX CONCURRENTLY m18_x ON m18_t (x);\n"
        "CREATE INDEX CONCURRENTLY m18_y ON m18_t (y);\n",
        "0002_idx.down.sql",
        "-- dbr:no-transaction\nDROP INDEX CONCURRENTLY m18_x;\nDROP INDEX CONCURRENTLY m18_y;\n",
        "0003_bad.up.sql",
        "-- dbr:no-transaction\nCREATE INDEX CONCURRENTLY m18_z ON m18_t (nosuch);\n", NULL);
    char *cfg = g_build_filename(dir, "db.ini", NULL), *text = config_for(dir, "m18_history", NULL);
    char *bad = g_build_filename(dir, "0003_bad.up.sql", NULL), *want;
    dbr_db *m = open_migrate(dir, "m18_history", NULL);
    char *out = NULL, *errout = NULL;

    t_exec(m, "DROP TABLE IF EXISTS m18_t, m18_history");
    g_file_set_contents(cfg, text, -1, NULL);
    free(command(m, "goto 2"));
    ck_assert_int_eq(
        t_int(m, "SELECT count(*) FROM pg_indexes WHERE indexname IN ('m18_x', 'm18_y')"), 2);
    free(command(m, "down 1"));
    ck_assert_int_eq(
        t_int(m, "SELECT count(*) FROM pg_indexes WHERE indexname IN ('m18_x', 'm18_y')"), 0);
    ck_assert_int_eq(version_of(m, "m18_history"), 1);
    /* the failed no-transaction up: the advice names this config */
    ck_assert_int_eq(run_tool(cfg, "up", &out, &errout), 1);
    g_free(out);
    g_free(errout);
    ck_assert_int_eq(run_tool(cfg, "up", &out, &errout), 1);
    want = g_strdup_printf("`dbr migrate -c '%s' force 3`", cfg);
    ck_assert_msg(strstr(errout, want), "%s", errout);
    g_free(want);
    g_free(out);
    g_free(errout);
    g_unlink(bad);
    g_free(bad);
    g_free(text);
    g_free(cfg);
    dbr_close(m);
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
    tcase_add_test(tc, test_pg_migrate_no_transaction_file_runs_statement_by_statement);
    tcase_add_test(tc, test_pg_migrate_repair_after_a_dirty_failure);
    tcase_add_test(tc, test_pg_migrate_dry_run_reports_what_it_tried);
    tcase_add_test(tc, test_pg_migrate_status_lists_bad_files);
    tcase_add_test(tc, test_pg_migrate_commands_are_checked);
    tcase_add_test(tc, test_pg_migrate_tool_ignores_auto_and_require);
    tcase_add_test(tc, test_pg_migrate_no_transaction_file_is_checked_first);
    tcase_add_test(tc, test_pg_migrate_concurrent_up_never_passes_a_dirty_version);
    tcase_add_test(tc, test_pg_migrate_no_transaction_down_and_advice_for_this_config);
    suite_add_tcase(s, tc);
    return t_run(s);
}
