/* SPDX-License-Identifier: MIT */
/* What a pooler in transaction mode cannot carry (drivers/pq/pq_pooler.c):
 * named for certain, and nothing named that ends with its transaction or
 * only looks alike. */
#include <glib.h>
#include <string.h>

#include "../../drivers/pq/pq_session.h"
#include "../testutil.h"

START_TEST(test_pooler_names_what_binds_the_session)
{
    static const char *const bound[][2] = {
        {"SET statement_timeout = '1s'", "SET"},
        {"  set search_path TO app", "SET"},
        {"SET SESSION AUTHORIZATION alice", "SET"},
        {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "SET"},
        {"/* c */ SET work_mem = '64MB'", "SET"},
        {"RESET ALL", "RESET"},
        {"PREPARE q AS SELECT 1", "PREPARE"},
        {"LISTEN jobs", "LISTEN"},
        {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", "DECLARE ... WITH HOLD"},
        {"LOAD 'auto_explain'", "LOAD"},
        {"CREATE TEMP TABLE t (x int)", "TEMPORARY"},
        {"create temporary table t (x int)", "TEMPORARY"},
        {"CREATE GLOBAL TEMPORARY TABLE t (x int)", "TEMPORARY"},
        {"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", "TEMPORARY"},
        {"SELECT 1 INTO TEMP t", "TEMPORARY"},
        {"CREATE TABLE pg_temp.acct (x int)", "pg_temp"},
        {"SELECT set_config('search_path', 'x', false)", "set_config"},
        {"SELECT pg_catalog.SET_CONFIG('a.b', 'c', false)", "set_config"},
        {"SELECT set_config('a.b', 'c', $1)", "set_config"},
        {"SELECT set_config('a.b', f(1, 2), not true)", "set_config"},
        {"SELECT pg_advisory_lock(42)", "pg_advisory_lock"},
        {"SELECT pg_try_advisory_lock_shared(1, 2)", "pg_try_advisory_lock_shared"},
        {"SELECT pg_advisory_unlock_all()", "pg_advisory_unlock_all"},
        {"SELECT dblink_connect('x')", "dblink_connect"},
        {"UPDATE pg_settings SET setting = '50ms' WHERE name = 'statement_timeout'",
         "UPDATE pg_settings"},
        {"SELECT 1; SET x.y = 1; SELECT 2", "SET"},
        /* quoted names resolve to the same functions and schema (review) */
        {"SELECT \"set_config\"('application_name', 'x', false)", "set_config"},
        {"SELECT pg_catalog.\"set_config\"('a.b', 'c', false)", "set_config"},
        {"SELECT \"pg_advisory_lock\"(1)", "pg_advisory_lock"},
        {"CREATE TABLE \"pg_temp\".t (x int)", "pg_temp"},
        {"UPDATE pg_catalog.pg_settings SET setting = 'x' WHERE name = 'y'", "UPDATE pg_settings"},
        {"UPDATE ONLY pg_settings SET setting = 'x' WHERE name = 'y'", "UPDATE pg_settings"},
    };
    static const char *const free_of_it[] = {
        "SELECT 1",
        "",
        ";;",
        "SET LOCAL statement_timeout = '1s'",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SET CONSTRAINTS ALL DEFERRED",
        "PREPARE TRANSACTION 'tx1'",
        "INSERT INTO t VALUES (1)",
        "UPDATE t SET x = 1",
        "ALTER ROLE app SET search_path = app",
        "INSERT INTO temp VALUES (1)",
        "MERGE INTO temp t USING s ON true WHEN MATCHED THEN DO NOTHING",
        "CREATE TABLE temp (x int)",
        "SELECT temp, temperature FROM readings",
        "CREATE TEMP TABLE t (x int) ON COMMIT DROP",
        "DECLARE c CURSOR FOR SELECT 1",
        "SELECT set_config('work_mem', '8MB', true)",
        "SELECT set_config('work_mem', '8MB', TRUE)",
        "SELECT set_config('work_mem', '8MB', 'true')",
        "SELECT \"SET_CONFIG\"('a', 'b', false)", /* another function: quoted names are exact */
        "SELECT 'SET x = 1; LISTEN y; CREATE TEMP TABLE z', $$PREPARE$$ /* RESET */ -- LOAD",
        "SELECT pg_advisory_xact_lock(42)",
        "SELECT pg_try_advisory_xact_lock(1)",
        "SELECT pg_advisory_lock",
        "SELECT * FROM pg_settings",
        "NOTIFY jobs, 'x'",
        "UNLISTEN *",
        "DISCARD ALL",
        "DO $$BEGIN PERFORM 1; END$$",
        "BEGIN",
        "COMMIT",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bound); i++) {
        const char *got = pq_session_bound(bound[i][0]);

        ck_assert_msg(got && strcmp(got, bound[i][1]) == 0, "%s: got %s, want %s", bound[i][0],
                      got ? got : "nothing", bound[i][1]);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(free_of_it); i++) {
        const char *got = pq_session_bound(free_of_it[i]);

        ck_assert_msg(!got, "%s: named %s", free_of_it[i], got);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pq_pooler");
    TCase *tc = tcase_create("pq_pooler");

    tcase_add_test(tc, test_pooler_names_what_binds_the_session);
    suite_add_tcase(s, tc);
    return t_run(s);
}
