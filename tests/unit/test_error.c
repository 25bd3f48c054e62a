/* SPDX-License-Identifier: MIT */
/* The error object: kinds, names, fields, wrapping, NULL safety. */
#include <string.h>

#include "../testutil.h"

START_TEST(test_error_kind_names_cover_every_kind)
{
    ck_assert_str_eq(dbr_error_kind_name(DBR_ERR_CONNECTION), "connection");
    ck_assert_str_eq(dbr_error_kind_name(DBR_ERR_DEADLOCK), "deadlock");
    ck_assert_str_eq(dbr_error_kind_name(DBR_ERR_COMMIT_UNKNOWN), "commit-unknown");
    ck_assert_str_eq(dbr_error_kind_name(DBR_ERR_INTERNAL), "internal");
    ck_assert_int_eq(DBR_ERR_CONNECTION, 1);
    for (int k = DBR_ERR_CONNECTION; k <= DBR_ERR_KIND_MAX; k++)
        ck_assert_str_ne(dbr_error_kind_name(k), "unknown");
    ck_assert_str_eq(dbr_error_kind_name(999), "unknown");
}
END_TEST

START_TEST(test_error_fields_round_trip)
{
    dbr_error *e = dbr_error_new(DBR_ERR_CONSTRAINT, "pq", "duplicate key %d", 7);

    dbr_error_set_sqlstate(e, "23505");
    dbr_error_set_detail(e, "Key (id)=(7) already exists.");
    dbr_error_set_hint(e, "pick another");
    dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
    ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_CONSTRAINT);
    ck_assert_str_eq(dbr_error_message(e), "duplicate key 7");
    ck_assert_str_eq(dbr_error_sqlstate(e), "23505");
    ck_assert_str_eq(dbr_error_detail(e), "Key (id)=(7) already exists.");
    ck_assert_str_eq(dbr_error_hint(e), "pick another");
    ck_assert_str_eq(dbr_error_layer(e), "pq");
    ck_assert_int_eq(dbr_error_phase_of(e), DBR_PHASE_ANSWERED);
    ck_assert(!dbr_error_retryable(e));
    dbr_error_free(e);
}
END_TEST

START_TEST(test_error_wrap_keeps_cause_and_tells_the_story)
{
    dbr_error *cause = dbr_error_new(DBR_ERR_CONNECTION, "pq", "connection refused");
    dbr_error *e, *copy;

    dbr_error_set_phase(cause, DBR_PHASE_CONNECT);
    e = dbr_error_wrap(cause, DBR_ERR_CONNECTION, "retry", "gave up after %d attempts", 5);
    ck_assert_str_eq(dbr_error_message(e), "gave up after 5 attempts: connection refused");
    ck_assert_ptr_eq(dbr_error_cause(e), cause);
    ck_assert_str_eq(dbr_error_layer(dbr_error_cause(e)), "pq");
    ck_assert_int_eq(dbr_error_phase_of(e), DBR_PHASE_CONNECT);
    copy = dbr_error_copy(e);
    dbr_error_free(e);
    ck_assert_str_eq(dbr_error_message(dbr_error_cause(copy)), "connection refused");
    dbr_error_free(copy);
}
END_TEST

START_TEST(test_error_accessors_accept_null)
{
    dbr_error *e = NULL;

    ck_assert_int_eq(dbr_error_kind_of(NULL), DBR_ERR_NONE);
    ck_assert_str_eq(dbr_error_message(NULL), "");
    ck_assert_str_eq(dbr_error_sqlstate(NULL), "");
    ck_assert(!dbr_error_retryable(NULL));
    ck_assert_ptr_null(dbr_error_cause(NULL));
    dbr_error_free(NULL);
    ck_assert(!dbr_set_error(NULL, DBR_ERR_MISUSE, "t", "dropped"));
    ck_assert(!dbr_set_error(&e, DBR_ERR_MISUSE, "t", "kept"));
    ck_assert_str_eq(dbr_error_message(e), "kept");
    dbr_error_free(e);
}
END_TEST

/* retryable follows from transient and the outcome; a wrapper keeps both. */
START_TEST(test_error_retryable_follows_from_outcome)
{
    dbr_error *e = dbr_error_new(DBR_ERR_CONNECTION, "test", "lost");
    dbr_error *w;

    ck_assert_int_eq(dbr_error_outcome(e), DBR_OUTCOME_NOT_APPLIED);
    ck_assert(!dbr_error_retryable(e));
    dbr_error_set_transient(e, true);
    ck_assert(dbr_error_retryable(e));
    dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
    ck_assert(dbr_error_transient(e));
    ck_assert(!dbr_error_retryable(e));
    dbr_error_set_outcome(e, (dbr_outcome)42); /* ignored */
    ck_assert_int_eq(dbr_error_outcome(e), DBR_OUTCOME_UNKNOWN);
    w = dbr_error_wrap(e, DBR_ERR_CONNECTION, "retry", "gave up after 3 attempts");
    ck_assert_int_eq(dbr_error_outcome(w), DBR_OUTCOME_UNKNOWN);
    ck_assert(dbr_error_transient(w));
    ck_assert(!dbr_error_retryable(w));
    ck_assert_str_eq(dbr_outcome_name(dbr_error_outcome(w)), "unknown");
    ck_assert_str_eq(dbr_outcome_name(DBR_OUTCOME_NOT_APPLIED), "not-applied");
    ck_assert_int_eq(dbr_error_outcome(NULL), DBR_OUTCOME_NONE);
    ck_assert_str_eq(dbr_error_phase_name(DBR_PHASE_SENT), "sent");
    ck_assert_str_eq(dbr_error_phase_name((dbr_error_phase)99), "unknown");
    dbr_error_free(w);
}
END_TEST

START_TEST(test_error_layer_outlives_its_string)
{
    char layer[16];
    dbr_error *e;

    strcpy(layer, "plugin-x");
    e = dbr_error_new(DBR_ERR_PLUGIN, layer, "boom");
    memset(layer, 'Z', sizeof(layer) - 1);
    ck_assert_str_eq(dbr_error_layer(e), "plugin-x");
    dbr_error_free(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("error");

    tcase_add_test(tc, test_error_kind_names_cover_every_kind);
    tcase_add_test(tc, test_error_fields_round_trip);
    tcase_add_test(tc, test_error_wrap_keeps_cause_and_tells_the_story);
    tcase_add_test(tc, test_error_accessors_accept_null);
    tcase_add_test(tc, test_error_layer_outlives_its_string);
    tcase_add_test(tc, test_error_retryable_follows_from_outcome);
    suite_add_tcase(s, tc);
    return t_run(s);
}
