/* SPDX-License-Identifier: MIT */
/* Which statements may leave session state behind (drivers/pq/pq_session.c). */
#include <glib.h>

#include "../../drivers/pq/pq_session.h"
#include "../testutil.h"

START_TEST(test_session_changing_statements)
{
    static const char *const yes[] = {
        "SET statement_timeout = '1s'",
        "  set search_path TO app",
        "SET SESSION AUTHORIZATION alice",
        "SET ROLE reporting",
        "/* c */ SET work_mem = '64MB'",
        "RESET ALL",
        "PREPARE q AS SELECT 1",
        "LISTEN jobs",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "LOAD 'auto_explain'",
        "DO $$BEGIN PERFORM 1; END$$",
        "CALL p()",
        "CREATE TEMP TABLE t (x int)",
        "create temporary table t (x int)",
        "CREATE GLOBAL TEMPORARY TABLE t (x int)",
        "SELECT 1 INTO TEMP t",
        "SELECT set_config('search_path', 'x', false)",
        "SELECT pg_catalog.SET_CONFIG('a.b', 'c', false)",
        "SELECT pg_advisory_lock(42)",
        "SELECT pg_try_advisory_lock_shared(1, 2)",
        "SELECT dblink_connect('x')",
        "CREATE TABLE pg_temp.acct (x int)",
        "CREATE TABLE PG_TEMP_3.acct (x int)",
        "UPDATE pg_settings SET setting = '50ms' WHERE name = 'statement_timeout'",
    };
    static const char *const no[] = {
        "SELECT 1",
        "",
        "SET LOCAL statement_timeout = '1s'",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SET CONSTRAINTS ALL DEFERRED",
        "INSERT INTO t VALUES (1)",
        "UPDATE t SET x = 1",
        "SELECT temperature, template FROM readings",
        "SELECT pg_advisory_xact_lock(42)",
        "SELECT pg_try_advisory_xact_lock(1)",
        "BEGIN",
        "COMMIT",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++)
        ck_assert_msg(pq_session_changing(yes[i], false), "should change the session: %s", yes[i]);
    for (size_t i = 0; i < G_N_ELEMENTS(no); i++)
        ck_assert_msg(!pq_session_changing(no[i], false), "should not: %s", no[i]);
    /* A script may hold anything. */
    ck_assert(pq_session_changing("SELECT 1; SELECT 2", true));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pq_session");
    TCase *tc = tcase_create("pq_session");

    tcase_add_test(tc, test_session_changing_statements);
    suite_add_tcase(s, tc);
    return t_run(s);
}
