/* SPDX-License-Identifier: MIT */
/*
 * Statements against the real PostgreSQL: parameters, NULLs, column names,
 * affected rows, multi-row results, and how server and connection errors
 * are classified.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

static dbr_db *open_pg(const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s\n%s", t_conninfo(), extra ? extra : "");
}

START_TEST(test_pg_query_params_nulls_and_columns)
{
    dbr_db *db = open_pg(NULL);
    const char *params[] = {"42", NULL, "it's; DROP TABLE x --"};
    dbr_error *err = NULL;
    dbr_result *r;

    r = dbr_query(db, NULL, "SELECT $1::int + 1 AS answer, $2::text AS nothing, $3::text AS raw", 3,
                  params, &err);
    ck_assert_msg(r != NULL, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_nrows(r), 1);
    ck_assert_int_eq(dbr_result_ncols(r), 3);
    ck_assert_str_eq(dbr_result_colname(r, 0), "answer");
    ck_assert_str_eq(dbr_result_colname(r, 1), "nothing");
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "43");
    ck_assert_ptr_null(dbr_result_value(r, 0, 1));
    /* parameters are never interpolated */
    ck_assert_str_eq(dbr_result_value(r, 0, 2), "it's; DROP TABLE x --");
    ck_assert_ptr_null(dbr_result_value(r, 1, 0));
    ck_assert_ptr_null(dbr_result_value(r, 0, 3));
    dbr_result_free(r);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_exec_affected_rows_and_multi_row_results)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;
    dbr_result *r;

    t_exec(db, "DROP TABLE IF EXISTS ex_items");
    t_exec(db, "CREATE TABLE ex_items (id int PRIMARY KEY, label text)");
    r = dbr_query(db, NULL,
                  "INSERT INTO ex_items SELECT g, 'item ' || g FROM generate_series(1, 250) g", 0,
                  NULL, &err);
    ck_assert_msg(r != NULL, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_affected(r), 250);
    dbr_result_free(r);
    r = dbr_query(db, NULL, "SELECT id, label FROM ex_items ORDER BY id", 0, NULL, &err);
    ck_assert_int_eq(dbr_result_nrows(r), 250);
    ck_assert_str_eq(dbr_result_value(r, 249, 1), "item 250");
    ck_assert_int_eq(dbr_result_affected(r), 250);
    dbr_result_free(r);
    r = dbr_query(db, NULL, "UPDATE ex_items SET label = 'x' WHERE id <= 10", 0, NULL, &err);
    ck_assert_int_eq(dbr_result_affected(r), 10);
    ck_assert_int_eq(dbr_result_nrows(r), 0);
    dbr_result_free(r);
    r = dbr_query(db, NULL, "CREATE INDEX ON ex_items (label)", 0, NULL, &err);
    ck_assert_int_eq(dbr_result_affected(r), -1);
    dbr_result_free(r);
    ck_assert(dbr_ping(db, NULL, &err));
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_unique_violation_is_constraint_23505)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;

    t_exec(db, "DROP TABLE IF EXISTS ex_unique");
    t_exec(db, "CREATE TABLE ex_unique (id int PRIMARY KEY)");
    t_exec(db, "INSERT INTO ex_unique VALUES (1)");
    ck_assert(!dbr_exec(db, NULL, "INSERT INTO ex_unique VALUES (1)", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONSTRAINT);
    ck_assert_str_eq(dbr_error_sqlstate(err), "23505");
    ck_assert_str_eq(dbr_error_detail(err), "Key (id)=(1) already exists.");
    ck_assert_str_eq(dbr_error_layer(err), "pq");
    ck_assert_int_eq(dbr_error_phase_of(err), DBR_PHASE_ANSWERED);
    ck_assert(!dbr_error_retryable(err));
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

static void expect_kind(dbr_db *db, const char *sql, dbr_error_kind kind, const char *sqlstate)
{
    dbr_error *err = NULL;

    ck_assert_msg(!dbr_exec(db, NULL, sql, 0, NULL, &err), "%s succeeded", sql);
    ck_assert_msg(dbr_error_kind_of(err) == kind, "%s: kind %s (%s), expected %s", sql,
                  dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err),
                  dbr_error_kind_name(kind));
    ck_assert_str_eq(dbr_error_sqlstate(err), sqlstate);
    ck_assert(!dbr_error_retryable(err));
    dbr_error_free(err);
}

START_TEST(test_pg_server_errors_map_to_kinds)
{
    dbr_db *db = open_pg(NULL);
    dbr_db *limited;

    expect_kind(db, "SELEC 1", DBR_ERR_SYNTAX, "42601");
    expect_kind(db, "SELECT * FROM no_such_table", DBR_ERR_SYNTAX, "42P01");
    expect_kind(db, "SELECT 1/0", DBR_ERR_SYNTAX, "22012");
    expect_kind(db, "SET statement_timeout = 50; SELECT pg_sleep(1)", DBR_ERR_SYNTAX, "42601");
    {
        dbr_error *err = NULL;

        /* Two statements in one dbr_exec: the hint names the way to run them. */
        ck_assert(!dbr_exec(db, NULL, "SELECT 1; SELECT 2", 0, NULL, &err));
        ck_assert_msg(strstr(dbr_error_hint(err), "dbr_exec_script"), "hint: %s",
                      dbr_error_hint(err));
        ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
        dbr_error_free(err);
    }
    t_exec(db, "DROP TABLE IF EXISTS ex_secret");
    t_exec(db, "CREATE TABLE ex_secret (x int)");
    t_exec(db, "DROP ROLE IF EXISTS dbr_limited");
    t_exec(db, "CREATE ROLE dbr_limited LOGIN");
    limited = t_open("[database]\ndriver = pq\nconninfo = %s user=dbr_limited\n", t_conninfo());
    expect_kind(limited, "SELECT * FROM ex_secret", DBR_ERR_PERMISSION, "42501");
    dbr_close(limited);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_statement_timeout_is_timeout)
{
    /* A session's own default (a SET would not outlive its call: the pool
     * resets the session), given as a startup option. */
    dbr_db *db = t_open(
        "[database]\ndriver = pq\nconninfo = %s options='-c statement_timeout=50'\n", t_conninfo());
    dbr_error *err = NULL;

    ck_assert(!dbr_exec(db, NULL, "SELECT pg_sleep(2)", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    ck_assert_str_eq(dbr_error_sqlstate(err), "57014");
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_connect_failures_are_classified)
{
    dbr_error *err;

    err = t_open_fail("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=1 "
                      "connect_timeout=5 password=s3cret\n");
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
    ck_assert_int_eq(dbr_error_phase_of(err), DBR_PHASE_CONNECT);
    ck_assert(dbr_error_retryable(err));
    ck_assert_msg(!strstr(dbr_error_message(err), "s3cret"), "%s", dbr_error_message(err));
    dbr_error_free(err);

    err = t_open_fail("[database]\ndriver = pq\nconninfo = %s uzer=x password=s3cret\n",
                      t_conninfo());
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    /* The unknown word itself is never echoed (with an unquoted blank in a
     * password it would be half the password): the keyword it is a typo of
     * is suggested instead. */
    ck_assert_msg(strstr(dbr_error_message(err), "\"user\""), "%s", dbr_error_message(err));
    ck_assert_msg(!strstr(dbr_error_message(err), "uzer"), "%s", dbr_error_message(err));
    ck_assert_msg(!strstr(dbr_error_message(err), "s3cret"), "%s", dbr_error_message(err));
    dbr_error_free(err);

    err = t_open_fail("[database]\ndriver = pq\nconninfo = %s dbname=no_such_db\n", t_conninfo());
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert(!dbr_error_retryable(err));
    dbr_error_free(err);
}
END_TEST

START_TEST(test_pg_multi_host_conninfo_passes_through)
{
    /* The first host refuses; libpq moves on to the second, which is ours. */
    const char *port = getenv("DBR_TEST_PGPORT");
    dbr_db *db;
    char *v;

    ck_assert_ptr_nonnull(port);
    db = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1,127.0.0.1 port=1,%s "
                "user=dbr dbname=dbr_test target_session_attrs=read-write\n",
                port);
    v = t_value(db, "SELECT current_setting('port')");
    ck_assert_str_eq(v, port);
    g_free(v);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_exec");
    TCase *tc = tcase_create("pg_exec");

    tcase_add_test(tc, test_pg_query_params_nulls_and_columns);
    tcase_add_test(tc, test_pg_exec_affected_rows_and_multi_row_results);
    tcase_add_test(tc, test_pg_unique_violation_is_constraint_23505);
    tcase_add_test(tc, test_pg_server_errors_map_to_kinds);
    tcase_add_test(tc, test_pg_statement_timeout_is_timeout);
    tcase_add_test(tc, test_pg_connect_failures_are_classified);
    tcase_add_test(tc, test_pg_multi_host_conninfo_passes_through);
    suite_add_tcase(s, tc);
    return t_run(s);
}
