/* SPDX-License-Identifier: MIT */
/*
 * Batches and COPY on the scripted driver, which has no pipeline and no
 * COPY: a batch runs statement by statement with the same meanings (ATOMIC
 * inside START TRANSACTION ... COMMIT, a lost COMMIT answer unknown; EACH
 * partial), and COPY is refused as unsupported before anything is sent.
 */
#include <glib.h>
#include <string.h>

#include <dbr/batch.h>
#include <dbr/copy.h>

#include "../testutil.h"

#define DB "[database]\ndriver = fake\nmax_open_conns = 1\n"

static void expect_log(dbr_db *db, const char *expected)
{
    dbr_result *r = dbr_query(db, NULL, "fake:log", 0, NULL, NULL);
    GString *s = g_string_new(NULL);

    ck_assert_ptr_nonnull(r);
    for (int i = 0; i < dbr_result_nrows(r); i++)
        g_string_append_printf(s, "%s%s", i ? " | " : "", dbr_result_value(r, i, 0));
    dbr_result_free(r);
    t_exec(db, "fake:reset");
    ck_assert_msg(strcmp(s->str, expected) == 0, "log:\n  %s\nexpected:\n  %s", s->str, expected);
    g_string_free(s, TRUE);
}

static dbr_batch *abc(void)
{
    dbr_batch *b = dbr_batch_new();
    const char *p[] = {"x"};

    ck_assert(dbr_batch_add(b, "INSERT a", 1, p, NULL));
    ck_assert(dbr_batch_add(b, "UPDATE b", 0, NULL, NULL));
    ck_assert(dbr_batch_add(b, "DELETE c", 0, NULL, NULL));
    return b;
}

START_TEST(test_batch_atomic_runs_in_a_transaction_without_a_pipeline)
{
    dbr_db *db = t_open(DB);
    dbr_batch *b = abc();
    dbr_error *err = NULL;

    ck_assert(!dbr_supports(db, DBR_CAP_PIPELINE));
    t_exec(db, "fake:reset");
    ck_assert_msg(dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, &err), "%s", dbr_error_message(err));
    expect_log(db, "START TRANSACTION | INSERT a | UPDATE b | DELETE c | COMMIT");
    ck_assert_str_eq(dbr_result_value(dbr_batch_result(b, 0), 0, 0), "x");

    /* a failing middle: rolled back, nothing stands */
    t_exec(db, "fake:fail_next INSERT constraint answered");
    dbr_batch_clear(b);
    ck_assert(dbr_batch_add(b, "SELECT 1", 0, NULL, NULL));
    ck_assert(dbr_batch_add(b, "INSERT b", 0, NULL, NULL));
    ck_assert(dbr_batch_add(b, "SELECT 3", 0, NULL, NULL));
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, &err));
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONSTRAINT);
    expect_log(db, "START TRANSACTION | SELECT 1 | INSERT b | ROLLBACK");
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(dbr_batch_result(b, i));
        ck_assert_outcome(dbr_batch_error(b, i), DBR_OUTCOME_NOT_APPLIED);
    }
    dbr_error_free(err);
    err = NULL;

    /* COMMIT's answer lost: unknown, never retryable */
    t_exec(db, "fake:fail_next COMMIT connection sent");
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_ATOMIC, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_COMMIT_UNKNOWN);
    ck_assert_outcome(err, DBR_OUTCOME_UNKNOWN);
    ck_assert(!dbr_error_retryable(err));
    ck_assert_outcome(dbr_batch_error(b, 1), DBR_OUTCOME_UNKNOWN);
    dbr_error_free(err);
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

START_TEST(test_batch_each_runs_one_by_one_without_a_pipeline)
{
    dbr_db *db = t_open(DB);
    dbr_batch *b = abc();
    dbr_error *err = NULL;

    t_exec(db, "fake:reset");
    t_exec(db, "fake:fail_next UPDATE constraint answered");
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err));
    ck_assert_outcome(err, DBR_OUTCOME_PARTIAL);
    expect_log(db, "INSERT a | UPDATE b | DELETE c");
    ck_assert_ptr_nonnull(dbr_batch_result(b, 0));
    ck_assert_ptr_nonnull(dbr_batch_error(b, 1));
    ck_assert_ptr_nonnull(dbr_batch_result(b, 2));
    dbr_error_free(err);
    err = NULL;

    /* the session lost at b: c is not sent, b's fate is unknown */
    t_exec(db, "fake:fail_next UPDATE connection sent");
    ck_assert(!dbr_batch_run(db, NULL, b, DBR_BATCH_EACH, &err));
    ck_assert_outcome(err, DBR_OUTCOME_UNKNOWN);
    ck_assert_outcome(dbr_batch_error(b, 1), DBR_OUTCOME_UNKNOWN);
    ck_assert_outcome(dbr_batch_error(b, 2), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_ptr_nonnull(dbr_batch_result(b, 0));
    dbr_error_free(err);
    dbr_batch_free(b);
    dbr_close(db);
}
END_TEST

static long long no_data(void *user, char *buf, size_t cap, dbr_error **err)
{
    (void)user, (void)buf, (void)cap, (void)err;
    return 0;
}

START_TEST(test_copy_is_unsupported_without_the_slots)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    ck_assert(!dbr_supports(db, DBR_CAP_COPY));
    ck_assert(!dbr_copy_from(db, NULL, "COPY t FROM STDIN", no_data, NULL, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_UNSUPPORTED);
    ck_assert_outcome(err, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_msg(strstr(dbr_error_message(err), "dbr_copy_from"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");

    tcase_add_test(tc, test_batch_atomic_runs_in_a_transaction_without_a_pipeline);
    tcase_add_test(tc, test_batch_each_runs_one_by_one_without_a_pipeline);
    tcase_add_test(tc, test_copy_is_unsupported_without_the_slots);
    suite_add_tcase(s, tc);
    return t_run(s);
}
