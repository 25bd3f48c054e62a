/* SPDX-License-Identifier: MIT */
/*
 * Transactions on the scripted driver: the exact statements sent for
 * commit, rollback and savepoints, how each failure is classified (what is
 * safe to retry, what is commit-unknown), and misuse of a handle.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

#define DB "[database]\ndriver = fake\nmax_open_conns = 2\n"

/* The statements the driver saw since the last reset, joined with " | ". */
static char *log_of(dbr_db *db)
{
    dbr_result *r = dbr_query(db, NULL, "fake:log", 0, NULL, NULL);
    GString *s = g_string_new(NULL);

    ck_assert_ptr_nonnull(r);
    for (int i = 0; i < dbr_result_nrows(r); i++)
        g_string_append_printf(s, "%s%s", i ? " | " : "", dbr_result_value(r, i, 0));
    dbr_result_free(r);
    t_exec(db, "fake:reset");
    return g_string_free(s, FALSE);
}

static void expect_log(dbr_db *db, const char *expected)
{
    char *got = log_of(db);

    ck_assert_msg(strcmp(got, expected) == 0, "log:\n  %s\nexpected:\n  %s", got, expected);
    g_free(got);
}

static bool run_sql(dbr_tx *tx, void *user, dbr_error **err)
{
    return dbr_tx_exec(tx, user, 0, NULL, err);
}

static bool say_no(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)err;
    dbr_tx_exec(tx, user, 0, NULL, NULL);
    return false;
}

static bool swallow_failure(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    (void)err;
    dbr_tx_exec(tx, "fake:fail constraint answered", 0, NULL, NULL);
    return true;
}

START_TEST(test_tx_commits_on_success)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    t_exec(db, "fake:reset");
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, run_sql, "INSERT 1", &err), "%s",
                  dbr_error_message(err));
    expect_log(db, "START TRANSACTION | INSERT 1 | COMMIT");
    dbr_close(db);
}
END_TEST

START_TEST(test_tx_rolls_back_when_callback_says_no)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    t_exec(db, "fake:reset");
    ck_assert(!dbr_tx_run(db, NULL, NULL, say_no, "INSERT 1", &err));
    ck_assert_ptr_null(err); /* the application asked for it: no error */
    expect_log(db, "START TRANSACTION | INSERT 1 | ROLLBACK");
    dbr_close(db);
}
END_TEST

START_TEST(test_tx_rolls_back_on_failed_statement)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    t_exec(db, "fake:reset");
    t_exec(db, "fake:fail_next INSERT constraint answered");
    ck_assert(!dbr_tx_run(db, NULL, NULL, run_sql, "INSERT 1", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONSTRAINT);
    ck_assert_str_eq(dbr_error_sqlstate(err), "23505");
    ck_assert(!dbr_error_retryable(err));
    dbr_error_free(err);
    expect_log(db, "START TRANSACTION | INSERT 1 | ROLLBACK");
    dbr_close(db);
}
END_TEST

START_TEST(test_tx_serialization_failure_is_retryable_as_a_whole)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    t_exec(db, "fake:fail_next UPDATE serialization answered");
    ck_assert(!dbr_tx_serializable(db, NULL, run_sql, "UPDATE x", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_SERIALIZATION);
    ck_assert(dbr_error_retryable(err));
    dbr_error_free(err);
    err = NULL;
    t_exec(db, "fake:fail_next COMMIT serialization answered");
    ck_assert(!dbr_tx_serializable(db, NULL, run_sql, "UPDATE x", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_SERIALIZATION);
    ck_assert(dbr_error_retryable(err));
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

START_TEST(test_tx_connection_lost_during_commit_is_commit_unknown)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;
    dbr_pool_stats before, after;

    dbr_pool_stats_get(db, &before);
    t_exec(db, "fake:fail_next COMMIT connection sent");
    ck_assert(!dbr_tx_run(db, NULL, NULL, run_sql, "INSERT 1", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_COMMIT_UNKNOWN);
    ck_assert(!dbr_error_retryable(err));
    ck_assert_int_eq(dbr_error_kind_of(dbr_error_cause(err)), DBR_ERR_CONNECTION);
    dbr_error_free(err);
    dbr_pool_stats_get(db, &after);
    ck_assert_int_eq(after.open, before.open - 1); /* the broken connection was discarded */
    dbr_close(db);
}
END_TEST

START_TEST(test_tx_connection_lost_before_commit_is_retryable)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    t_exec(db, "fake:fail_next INSERT connection sent");
    ck_assert(!dbr_tx_run(db, NULL, NULL, run_sql, "INSERT 1", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
    /* the server rolls back an open transaction when its connection dies */
    ck_assert(dbr_error_retryable(err));
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

START_TEST(test_tx_swallowed_failure_is_not_committed)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    t_exec(db, "fake:reset");
    ck_assert(!dbr_tx_run(db, NULL, NULL, swallow_failure, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONSTRAINT);
    ck_assert_msg(strstr(dbr_error_message(err), "the callback went on"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    expect_log(db, "START TRANSACTION | ROLLBACK");
    dbr_close(db);
}
END_TEST

static bool savepoint_swallows(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_error *inner = NULL;

    (void)user;
    ck_assert(!dbr_tx_savepoint(tx, swallow_failure, NULL, &inner));
    /* Told like a transaction would be: the failed statement's kind, and
     * the server answered it (the savepoint's copy used to leave the
     * phase unset). */
    ck_assert_int_eq(dbr_error_kind_of(inner), DBR_ERR_CONSTRAINT);
    ck_assert_int_eq(dbr_error_phase_of(inner), DBR_PHASE_ANSWERED);
    ck_assert_int_eq(dbr_error_outcome(inner), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_msg(strstr(dbr_error_message(inner),
                         "savepoint rolled back: a statement failed and the callback went on"),
                  "%s", dbr_error_message(inner));
    dbr_error_free(inner);
    return dbr_tx_exec(tx, "INSERT 2", 0, NULL, err);
}

START_TEST(test_tx_savepoint_swallowed_failure_is_rolled_back_to_it)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    t_exec(db, "fake:reset");
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, savepoint_swallows, NULL, &err), "%s",
                  err ? dbr_error_message(err) : "");
    expect_log(db, "START TRANSACTION | SAVEPOINT dbr_sp_1 | ROLLBACK TO SAVEPOINT dbr_sp_1 | "
                   "RELEASE SAVEPOINT dbr_sp_1 | INSERT 2 | COMMIT");
    dbr_close(db);
}
END_TEST

START_TEST(test_tx_swallowed_failure_is_answered_and_not_applied)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    ck_assert(!dbr_tx_run(db, NULL, NULL, swallow_failure, NULL, &err));
    ck_assert_int_eq(dbr_error_phase_of(err), DBR_PHASE_ANSWERED);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_msg(strstr(dbr_error_message(err),
                         "transaction rolled back: a statement failed and the callback went on"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

static bool level3(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "INSERT 3", 0, NULL, err);
}

static bool level2_fails(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    if (!dbr_tx_exec(tx, "INSERT 2", 0, NULL, err))
        return false;
    ck_assert(dbr_tx_savepoint(tx, level3, NULL, err));
    return dbr_tx_exec(tx, "fake:fail constraint answered", 0, NULL, err);
}

static bool level1(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_error *inner = NULL;

    (void)user;
    if (!dbr_tx_exec(tx, "INSERT 1", 0, NULL, err))
        return false;
    ck_assert(!dbr_tx_savepoint(tx, level2_fails, NULL, &inner));
    ck_assert_int_eq(dbr_error_kind_of(inner), DBR_ERR_CONSTRAINT);
    dbr_error_free(inner);
    /* the outer transaction goes on */
    return dbr_tx_exec(tx, "INSERT 4", 0, NULL, err);
}

START_TEST(test_tx_savepoints_nest_and_roll_back_to_their_level)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    t_exec(db, "fake:reset");
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, level1, NULL, &err), "%s", dbr_error_message(err));
    expect_log(db, "START TRANSACTION | INSERT 1 | SAVEPOINT dbr_sp_1 | INSERT 2 | "
                   "SAVEPOINT dbr_sp_2 | INSERT 3 | RELEASE SAVEPOINT dbr_sp_2 | "
                   "ROLLBACK TO SAVEPOINT dbr_sp_1 | RELEASE SAVEPOINT dbr_sp_1 | INSERT 4 | "
                   "COMMIT");
    dbr_close(db);
}
END_TEST

static dbr_tx *stashed;

static bool stash(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    (void)err;
    stashed = tx;
    return true;
}

START_TEST(test_tx_use_after_end_is_misuse)
{
    dbr_db *db = t_open(DB);
    dbr_error *err = NULL;

    ck_assert(dbr_tx_run(db, NULL, NULL, stash, NULL, NULL));
    ck_assert(!dbr_tx_exec(stashed, "INSERT 1", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_msg(strstr(dbr_error_message(err), "has ended"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    err = NULL;
    ck_assert_ptr_null(dbr_tx_query(stashed, "SELECT 1", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_tx_savepoint(stashed, stash, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_tx_exec(NULL, "INSERT 1", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_tx_run(db, NULL, NULL, NULL, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    err = NULL;
    {
        dbr_tx_opts bad = {.isolation = 42};

        ck_assert(!dbr_tx_run(db, NULL, &bad, stash, NULL, &err));
        ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
        dbr_error_free(err);
    }
    dbr_close(db);
}
END_TEST

static bool try_control(dbr_tx *tx, void *user, dbr_error **err)
{
    const char *const *sql = user;
    dbr_error *e = NULL;

    (void)err;
    ck_assert_msg(!dbr_tx_exec(tx, sql[0], 0, NULL, &e), "\"%s\" was not refused", sql[0]);
    ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_MISUSE);
    dbr_error_free(e);
    return true;
}

static bool savepoint_rollback_is_fine(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "/* a /* nested */ comment */ rollback work to savepoint s", 0, NULL,
                       err);
}

/* Statements that would end dbr's transaction under it are refused before
 * they are sent, and the transaction is rolled back as misuse; ROLLBACK TO
 * SAVEPOINT is not one of them. */
START_TEST(test_tx_refuses_statements_that_end_the_transaction)
{
    static const char *const refused[] = {
        "COMMIT",   " -- why\n commit and chain",     "/* x /* y */ */ END",     "abort",
        "ROLLBACK", "rollback transaction and chain", "PREPARE TRANSACTION 'p'",
    };
    dbr_db *db = t_open(DB);

    for (size_t i = 0; i < G_N_ELEMENTS(refused); i++) {
        const char *sql[1] = {refused[i]};
        dbr_error *err = NULL;

        ck_assert(!dbr_tx_run(db, NULL, NULL, try_control, (void *)sql, &err));
        ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
        ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
        dbr_error_free(err);
        expect_log(db, "START TRANSACTION | ROLLBACK");
    }
    ck_assert(dbr_tx_run(db, NULL, NULL, savepoint_rollback_is_fine, NULL, NULL));
    dbr_close(db);
}
END_TEST

typedef struct stale_probe {
    dbr_tx *stale;
    bool stale_accepted;
} stale_probe;

static bool use_stale(dbr_tx *tx, void *user, dbr_error **err)
{
    stale_probe *p = user;
    dbr_error *e = NULL;

    (void)err;
    /* The stale handle must not reach this (or any) transaction. */
    if (dbr_tx_exec(p->stale, "INSERT stale", 0, NULL, &e))
        p->stale_accepted = true;
    else
        ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_MISUSE);
    dbr_error_free(e);
    return dbr_tx_exec(tx, "INSERT fresh", 0, NULL, err);
}

/* A handle kept past its callback stays refused however often its slot is
 * reused since (it came back after 64 transactions when handles were
 * recycled pointers). */
START_TEST(test_tx_stale_handle_never_comes_back)
{
    dbr_db *db = t_open(DB);
    stale_probe p = {0};
    char *log;

    ck_assert(dbr_tx_run(db, NULL, NULL, stash, NULL, NULL));
    p.stale = stashed;
    for (int i = 0; i < 300; i++)
        ck_assert(dbr_tx_run(db, NULL, NULL, use_stale, &p, NULL));
    ck_assert_msg(!p.stale_accepted, "a stale transaction handle was accepted");
    log = log_of(db);
    ck_assert_msg(!strstr(log, "INSERT stale"), "the stale handle wrote: %s", log);
    g_free(log);
    dbr_close(db);
}
END_TEST

START_TEST(test_tx_options_choose_the_begin_statement)
{
    dbr_db *db = t_open(DB);
    dbr_tx_opts o = {DBR_ISOLATION_SERIALIZABLE, true, true, 0};

    t_exec(db, "fake:reset");
    ck_assert(dbr_tx_run(db, NULL, &o, stash, NULL, NULL));
    ck_assert(dbr_tx_read_only(db, NULL, stash, NULL, NULL));
    o.isolation = DBR_ISOLATION_REPEATABLE_READ;
    o.read_only = false;
    o.deferrable = false;
    ck_assert(dbr_tx_run(db, NULL, &o, stash, NULL, NULL));
    expect_log(db, "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE | "
                   "COMMIT | START TRANSACTION READ ONLY | COMMIT | "
                   "START TRANSACTION ISOLATION LEVEL REPEATABLE READ | COMMIT");
    dbr_close(db);
}
END_TEST

static bool query_in_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    const char *params[] = {"v1"};
    dbr_result *r = dbr_tx_query(tx, "SELECT $1", 1, params, err);

    if (!r)
        return false;
    *(char **)user = g_strdup(dbr_result_value(r, 0, 0));
    dbr_result_free(r);
    return true;
}

START_TEST(test_tx_query_returns_rows)
{
    dbr_db *db = t_open(DB);
    char *v = NULL;

    ck_assert(dbr_tx_run(db, NULL, NULL, query_in_tx, &v, NULL));
    ck_assert_str_eq(v, "v1");
    g_free(v);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tx");
    TCase *tc = tcase_create("tx");

    tcase_add_test(tc, test_tx_commits_on_success);
    tcase_add_test(tc, test_tx_stale_handle_never_comes_back);
    tcase_add_test(tc, test_tx_refuses_statements_that_end_the_transaction);
    tcase_add_test(tc, test_tx_rolls_back_when_callback_says_no);
    tcase_add_test(tc, test_tx_rolls_back_on_failed_statement);
    tcase_add_test(tc, test_tx_serialization_failure_is_retryable_as_a_whole);
    tcase_add_test(tc, test_tx_connection_lost_during_commit_is_commit_unknown);
    tcase_add_test(tc, test_tx_connection_lost_before_commit_is_retryable);
    tcase_add_test(tc, test_tx_swallowed_failure_is_not_committed);
    tcase_add_test(tc, test_tx_savepoints_nest_and_roll_back_to_their_level);
    tcase_add_test(tc, test_tx_savepoint_swallowed_failure_is_rolled_back_to_it);
    tcase_add_test(tc, test_tx_swallowed_failure_is_answered_and_not_applied);
    tcase_add_test(tc, test_tx_use_after_end_is_misuse);
    tcase_add_test(tc, test_tx_options_choose_the_begin_statement);
    tcase_add_test(tc, test_tx_query_returns_rows);
    suite_add_tcase(s, tc);
    return t_run(s);
}
