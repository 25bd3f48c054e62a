/* SPDX-License-Identifier: MIT */
/*
 * Prepared statements and the statement cache against the real server:
 * a cache hit proven from the session's own pg_prepared_statements (one
 * connection, max_open_conns = 1), LRU eviction at capacity, binary
 * parameters through the cache, a schema change in autocommit (re-prepared
 * transparently, applied once) and in a transaction (rerun whole by the
 * retry plugin), a user's DEALLOCATE ALL and PREPARE of one of our names,
 * a backend terminated between runs, a deadline during a prepared run and
 * during its prepare, PgBouncer in transaction mode with nothing kept, and
 * misuse.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"

static dbr_db *open_pg(const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s\nmax_open_conns = 1\n%s", t_conninfo(),
                  extra ? extra : "");
}

/* Runs sql (text parameters) and returns its first value as a number. */
static long long q_int(dbr_db *db, const char *sql, int n, const char *const *p)
{
    dbr_error *err = NULL;
    dbr_result *r = dbr_query(db, NULL, sql, n, p, &err);
    long long v;

    ck_assert_msg(r, "%s: %s", sql, dbr_error_message(err));
    v = dbr_result_value(r, 0, 0) ? atoll(dbr_result_value(r, 0, 0)) : -1;
    dbr_result_free(r);
    return v;
}

/* A query whose text is new each time, so the cache never keeps it: it
 * reads the session's prepared statements without becoming one of them. */
static long long session_query(dbr_db *db, const char *what, const char *statement)
{
    static gint n;
    char *sql = g_strdup_printf("SELECT %s FROM pg_prepared_statements WHERE name LIKE "
                                "'dbr\\_%%' AND ($1::text IS NULL OR statement = $1) /* %d */",
                                what, g_atomic_int_add(&n, 1));
    const char *p[1] = {statement};
    long long v = q_int(db, sql, 1, p);

    g_free(sql);
    return v;
}

static long long prepared(dbr_db *db, const char *statement)
{
    return session_query(db, "count(*)", statement);
}

/* How many times the session ran statement as a prepared statement. */
static long long executions(dbr_db *db, const char *statement)
{
    return session_query(db, "coalesce(sum(generic_plans + custom_plans), 0)", statement);
}

static void one(dbr_db *db, const char *sql, const char *param, long long want)
{
    const char *p[1] = {param};

    ck_assert_int_eq(q_int(db, sql, param ? 1 : 0, p), want);
}

/* --- the cache ----------------------------------------------------------- */

/* A statement freed after its db's dbr_close: its calls are refused (not a
 * use of freed memory), and freeing it last ends the close. */
START_TEST(test_stmt_outlives_dbr_close_and_is_refused)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;
    dbr_stmt *s = dbr_prepare(db, NULL, "SELECT $1::int", &err);
    const char *p[1] = {"7"};

    ck_assert_msg(s, "%s", dbr_error_message(err));
    dbr_close(db);
    dbr_close(db); /* ignored, with an error line: the statement still holds the db */
    ck_assert_ptr_null(dbr_stmt_query(s, NULL, 1, p, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_msg(strstr(dbr_error_message(err), "dbr_close"), "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    ck_assert_str_eq(dbr_stmt_sql(s), "SELECT $1::int");
    dbr_stmt_free(s);
}
END_TEST

START_TEST(test_stmt_cache_prepares_on_first_reuse_then_hits)
{
    dbr_db *db = open_pg(NULL);
    const char *sql = "SELECT $1::int + 1";

    ck_assert(dbr_supports(db, DBR_CAP_PREPARE));
    one(db, sql, "1", 2);
    ck_assert_int_eq(prepared(db, sql), 0); /* seen once: nothing kept */
    one(db, sql, "2", 3);
    ck_assert_int_eq(prepared(db, sql), 1); /* reused: prepared */
    for (int i = 0; i < 10; i++)
        one(db, sql, "3", 4);
    /* The run that prepared it and ten more, all by name. */
    ck_assert_int_eq(executions(db, sql), 11);
    ck_assert_int_eq(prepared(db, NULL), 1);
    dbr_close(db);
}
END_TEST

START_TEST(test_stmt_cache_off_keeps_nothing)
{
    dbr_db *db = open_pg("statement_cache_size = 0");
    const char *sql = "SELECT $1::int + 1";
    dbr_error *err = NULL;
    dbr_stmt *s;

    for (int i = 0; i < 5; i++)
        one(db, sql, "1", 2);
    s = dbr_prepare(db, NULL, "SELECT $1::int * 3", &err);
    ck_assert_msg(s, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_stmt_nparams(s), 1);
    for (int i = 0; i < 3; i++) {
        const char *p[1] = {"5"};
        dbr_result *r = dbr_stmt_query(s, NULL, 1, p, &err);

        ck_assert_msg(r, "%s", dbr_error_message(err));
        ck_assert_str_eq(dbr_result_value(r, 0, 0), "15");
        dbr_result_free(r);
    }
    ck_assert_int_eq(prepared(db, NULL), 0);
    dbr_stmt_free(s);
    dbr_close(db);
}
END_TEST

START_TEST(test_stmt_cache_evicts_the_least_recently_used)
{
    dbr_db *db = open_pg("statement_cache_size = 3");
    const char *a = "SELECT $1::int + 10", *b = "SELECT $1::int + 20", *c = "SELECT $1::int + 30",
               *d = "SELECT $1::int + 40";

    one(db, a, "1", 11);
    one(db, a, "1", 11);
    one(db, b, "1", 21);
    one(db, b, "1", 21);
    one(db, c, "1", 31);
    one(db, c, "1", 31);
    ck_assert_int_eq(prepared(db, NULL), 3);
    one(db, a, "2", 12); /* a is the most recent now: b is the oldest */
    one(db, d, "1", 41);
    one(db, d, "1", 41); /* prepared: b makes room, deallocated in the same round trip */
    ck_assert_int_eq(prepared(db, NULL), 3);
    ck_assert_int_eq(prepared(db, a), 1);
    ck_assert_int_eq(prepared(db, b), 0);
    ck_assert_int_eq(prepared(db, c), 1);
    ck_assert_int_eq(prepared(db, d), 1);
    /* b comes back: seen again, then prepared, evicting c. */
    one(db, b, "2", 22);
    one(db, b, "2", 22);
    ck_assert_int_eq(prepared(db, c), 0);
    ck_assert_int_eq(prepared(db, b), 1);
    ck_assert_int_eq(prepared(db, NULL), 3);
    dbr_close(db);
}
END_TEST

/* A statement that fails (its table is not made yet) is never prepared,
 * so failing in a loop it evicts nothing; once it works, it is. */
START_TEST(test_stmt_failing_statement_evicts_nothing)
{
    dbr_db *db = open_pg("statement_cache_size = 2");
    const char *a = "SELECT $1::int + 1", *b = "SELECT $1::int + 2";
    const char *bad = "SELECT count(*) FROM stmt_later WHERE a = $1::int";
    const char *p[1] = {"1"};

    t_exec(db, "DROP TABLE IF EXISTS stmt_later");
    one(db, a, "1", 2);
    one(db, a, "1", 2);
    one(db, b, "1", 3);
    one(db, b, "1", 3);
    for (int i = 0; i < 5; i++) {
        dbr_error *err = NULL;

        ck_assert(!dbr_exec(db, NULL, bad, 1, p, &err));
        ck_assert_str_eq(dbr_error_sqlstate(err), "42P01");
        dbr_error_free(err);
    }
    ck_assert_int_eq(prepared(db, a), 1);
    ck_assert_int_eq(prepared(db, b), 1);
    t_exec(db, "CREATE TABLE stmt_later (a int)");
    one(db, bad, "1", 0);
    one(db, bad, "1", 0);
    ck_assert_int_eq(prepared(db, bad), 1);
    ck_assert_int_eq(prepared(db, a), 0); /* the least recently used made room */
    dbr_close(db);
}
END_TEST

/* Evicted inside a transaction block, a statement is deallocated only
 * after it: a DEALLOCATE there that failed would abort the caller's work. */
static bool churn(dbr_tx *tx, void *user, dbr_error **err)
{
    static const char *const texts[] = {"SELECT $1::int + 100", "SELECT $1::int + 200",
                                        "SELECT $1::int + 300"};

    (void)user;
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 2; k++) {
            const char *p[1] = {"1"};
            dbr_result *r = dbr_tx_query(tx, texts[i], 1, p, err);

            if (!r)
                return false;
            dbr_result_free(r);
        }
    }
    return dbr_tx_exec(tx, "INSERT INTO stmt_churn VALUES (1)", 0, NULL, err);
}

START_TEST(test_stmt_eviction_inside_a_transaction_waits_for_its_end)
{
    dbr_db *db = open_pg("statement_cache_size = 1");
    dbr_error *err = NULL;

    t_exec(db, "DROP TABLE IF EXISTS stmt_churn");
    t_exec(db, "CREATE TABLE stmt_churn (a int)");
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, churn, NULL, &err), "%s", dbr_error_message(err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stmt_churn"), 1);
    /* Two evicted in the transaction, still on the server until the next
     * statement prepared outside one. */
    one(db, "SELECT $1::int + 400", "1", 401);
    one(db, "SELECT $1::int + 400", "1", 401);
    ck_assert_int_eq(prepared(db, NULL), 1);
    dbr_close(db);
}
END_TEST

/* Prepared statements are not transactional: one prepared in a
 * transaction that rolls back stays, and the cache keeps using it. */
static bool prepare_then_roll_back(dbr_tx *tx, void *user, dbr_error **err)
{
    const char *p[1] = {"1"};

    (void)user;
    for (int i = 0; i < 2; i++) {
        dbr_result *r = dbr_tx_query(tx, "SELECT $1::int + 1000", 1, p, err);

        if (!r)
            return false;
        dbr_result_free(r);
    }
    return false;
}

START_TEST(test_stmt_prepared_in_a_rolled_back_transaction_stays)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;

    ck_assert(!dbr_tx_run(db, NULL, NULL, prepare_then_roll_back, NULL, &err));
    ck_assert_ptr_null(err);
    one(db, "SELECT $1::int + 1000", "2", 1002);
    ck_assert_int_eq(executions(db, "SELECT $1::int + 1000"), 2);
    dbr_close(db);
}
END_TEST

START_TEST(test_stmt_binary_parameters_through_the_cache)
{
    dbr_db *db = open_pg(NULL);
    static const char bytes[] = {'a', 0, 'b', 0, (char)0xff};
    const char *values[1] = {bytes};
    const int lengths[1] = {5}, formats[1] = {1};
    dbr_args args = {.n = 1, .values = values, .lengths = lengths, .formats = formats};
    const char *sql = "SELECT length($1::bytea), encode($1::bytea, 'hex')";
    dbr_error *err = NULL;

    for (int i = 0; i < 4; i++) {
        dbr_result *r = dbr_query_args(db, NULL, sql, &args, &err);

        ck_assert_msg(r, "run %d: %s", i, dbr_error_message(err));
        ck_assert_str_eq(dbr_result_value(r, 0, 0), "5");
        ck_assert_str_eq(dbr_result_value(r, 0, 1), "61006200ff");
        dbr_result_free(r);
    }
    ck_assert_int_eq(executions(db, sql), 3);
    dbr_close(db);
}
END_TEST

/* --- a schema change ----------------------------------------------------- */

START_TEST(test_stmt_schema_change_in_autocommit_prepares_again_and_applies_once)
{
    dbr_db *db = open_pg(NULL);
    const char *ins = "INSERT INTO stmt_log (a) VALUES ($1::int) RETURNING *";
    const char *sel = "SELECT * FROM stmt_log WHERE a = $1::int";
    dbr_error *err = NULL;
    dbr_result *r;
    const char *p[1] = {"7"};

    t_exec(db, "DROP TABLE IF EXISTS stmt_log");
    t_exec(db, "CREATE TABLE stmt_log (a int)");
    for (int i = 0; i < 2; i++) {
        r = dbr_query(db, NULL, ins, 1, p, &err);
        ck_assert_msg(r, "%s", dbr_error_message(err));
        dbr_result_free(r);
        one(db, sel, "7", 7);
    }
    ck_assert_int_eq(prepared(db, ins), 1);
    ck_assert_int_eq(prepared(db, sel), 1);
    /* RETURNING * and SELECT * now have another row type: the server
     * refuses the kept plans with "cached plan must not change result
     * type" before running them. */
    t_exec(db, "ALTER TABLE stmt_log ADD COLUMN b text DEFAULT 'new'");
    r = dbr_query(db, NULL, ins, 1, p, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_ncols(r), 2);
    ck_assert_str_eq(dbr_result_value(r, 0, 1), "new");
    dbr_result_free(r);
    /* Inserted once by that call: the refused run applied nothing. */
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stmt_log"), 3);
    r = dbr_query(db, NULL, sel, 1, p, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_ncols(r), 2);
    ck_assert_int_eq(dbr_result_nrows(r), 3);
    dbr_result_free(r);

    /* Dropped and made again, first with the same row type, then another. */
    t_exec(db, "DROP TABLE stmt_log");
    t_exec(db, "CREATE TABLE stmt_log (a int, b text DEFAULT 'again')");
    r = dbr_query(db, NULL, ins, 1, p, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_str_eq(dbr_result_value(r, 0, 1), "again");
    dbr_result_free(r);
    t_exec(db, "DROP TABLE stmt_log");
    t_exec(db, "CREATE TABLE stmt_log (a int, b text, c int DEFAULT 3)");
    r = dbr_query(db, NULL, sel, 1, p, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_ncols(r), 3);
    ck_assert_int_eq(dbr_result_nrows(r), 0);
    dbr_result_free(r);
    r = dbr_query(db, NULL, ins, 1, p, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_str_eq(dbr_result_value(r, 0, 2), "3");
    dbr_result_free(r);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stmt_log"), 1);
    /* The outdated statements were deallocated, the new ones kept (and
     * the count(*) that ran twice). */
    ck_assert_int_eq(prepared(db, ins), 1);
    ck_assert_int_eq(prepared(db, sel), 1);
    ck_assert_int_eq(prepared(db, NULL), 3);
    dbr_close(db);
}
END_TEST

typedef struct tx_state {
    int attempts;
} tx_state;

static bool insert_and_read(dbr_tx *tx, void *user, dbr_error **err)
{
    tx_state *st = user;
    const char *p[1] = {"1"};
    dbr_result *r;

    st->attempts++;
    if (!dbr_tx_exec(tx, "INSERT INTO stmt_tx (a) VALUES ($1::int)", 1, p, err))
        return false;
    r = dbr_tx_query(tx, "SELECT * FROM stmt_tx WHERE a = $1::int", 1, p, err);
    if (!r)
        return false;
    dbr_result_free(r);
    return true;
}

static void prime_tx_table(dbr_db *db)
{
    tx_state st = {0};
    dbr_error *err = NULL;

    t_exec(db, "DROP TABLE IF EXISTS stmt_tx");
    t_exec(db, "CREATE TABLE stmt_tx (a int)");
    for (int i = 0; i < 2; i++)
        ck_assert_msg(dbr_tx_run(db, NULL, NULL, insert_and_read, &st, &err), "%s",
                      dbr_error_message(err));
    ck_assert_int_eq(prepared(db, "SELECT * FROM stmt_tx WHERE a = $1::int"), 1);
    t_exec(db, "ALTER TABLE stmt_tx ADD COLUMN b int");
}

/* The same schema change on a server that speaks German: the stale plan
 * is known by the server function that refused it, not by its words. */
START_TEST(test_stmt_schema_change_is_recognised_in_any_server_language)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s "
                        "options='-c lc_messages=de_DE.UTF-8'\nmax_open_conns = 1\n",
                        t_conninfo());
    const char *sel = "SELECT * FROM stmt_de WHERE a = $1::int";
    dbr_error *err = NULL;
    dbr_result *r;
    const char *p[1] = {"7"};

    t_exec(db, "DROP TABLE IF EXISTS stmt_de");
    t_exec(db, "CREATE TABLE stmt_de (a int)");
    t_exec(db, "INSERT INTO stmt_de VALUES (7)");
    for (int i = 0; i < 2; i++)
        one(db, sel, "7", 7);
    ck_assert_int_eq(prepared(db, sel), 1);
    t_exec(db, "ALTER TABLE stmt_de ADD COLUMN b text DEFAULT 'neu'");
    r = dbr_query(db, NULL, sel, 1, p, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_result_ncols(r), 2);
    ck_assert_str_eq(dbr_result_value(r, 0, 1), "neu");
    dbr_result_free(r);
    t_exec(db, "DROP TABLE stmt_de");
    dbr_close(db);
}
END_TEST

START_TEST(test_stmt_schema_change_in_a_transaction_is_transient_and_not_applied)
{
    dbr_db *db = open_pg(NULL);
    tx_state st = {0};
    dbr_error *err = NULL;

    prime_tx_table(db);
    ck_assert(!dbr_tx_run(db, NULL, NULL, insert_and_read, &st, &err));
    ck_assert_int_eq(st.attempts, 1);
    ck_assert_str_eq(dbr_error_sqlstate(err), "0A000");
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_SERIALIZATION);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_msg(dbr_error_retryable(err), "%s", dbr_error_message(err));
    dbr_error_free(err);
    err = NULL;
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stmt_tx"), 2); /* rolled back */
    /* Run by hand again: the statement is prepared afresh. */
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, insert_and_read, &st, &err), "%s",
                  dbr_error_message(err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stmt_tx"), 3);
    dbr_close(db);
}
END_TEST

START_TEST(test_stmt_schema_change_in_a_transaction_is_rerun_by_retry)
{
    dbr_db *db = open_pg("[chain]\nplugins = retry, breaker\n[plugin.retry]\nmax_attempts = 3\n"
                         "initial_interval = 1ms\n");
    tx_state st = {0};
    dbr_error *err = NULL;

    prime_tx_table(db);
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, insert_and_read, &st, &err), "%s",
                  dbr_error_message(err));
    ck_assert_int_eq(st.attempts, 2);
    /* The first run was rolled back: one row, not two. */
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stmt_tx"), 3);
    dbr_close(db);
}
END_TEST

/* --- the user's own PREPARE and DEALLOCATE ------------------------------- */

/* Runs user (a DEALLOCATE), then the cached statement, in one transaction. */
static bool deallocate_then_read(dbr_tx *tx, void *user, dbr_error **err)
{
    const char *p[1] = {"5"};
    dbr_result *r;

    if (!dbr_tx_exec(tx, user, 0, NULL, err))
        return false;
    r = dbr_tx_query(tx, "SELECT $1::int * 2", 1, p, err);
    if (!r)
        return false;
    dbr_result_free(r);
    return true;
}

/* A DEALLOCATE that the server refuses (the transaction already failed)
 * deallocated nothing: the cache keeps the statement, which is still on
 * the server, instead of forgetting it there until the session ends. */
static bool failed_then_deallocate(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_error *e = NULL;

    ck_assert(!dbr_tx_exec(tx, "SELECT 1/0", 0, NULL, &e));
    dbr_error_free(e);
    e = NULL;
    ck_assert(!dbr_tx_exec(tx, user, 0, NULL, &e));
    ck_assert_msg(strcmp(dbr_error_sqlstate(e), "25P02") == 0, "%s: %s", dbr_error_sqlstate(e),
                  dbr_error_message(e));
    dbr_error_free(e);
    (void)err;
    return false; /* roll back */
}

START_TEST(test_stmt_refused_deallocate_keeps_the_statement)
{
    dbr_db *db = open_pg("reset = none");
    const char *sql = "SELECT $1::int * 3";
    dbr_error *err = NULL;
    char *name, *dealloc;

    one(db, sql, "1", 3);
    one(db, sql, "1", 3);
    name = t_value(db, "SELECT name FROM pg_prepared_statements WHERE statement = "
                       "'SELECT $1::int * 3'");
    for (int i = 0; i < 2; i++) {
        dealloc = g_strdup_printf(i ? "DEALLOCATE %s" : "DEALLOCATE ALL", name);
        ck_assert(!dbr_tx_run(db, NULL, NULL, failed_then_deallocate, dealloc, &err));
        dbr_error_free(err);
        err = NULL;
        g_free(dealloc);
        one(db, sql, "2", 6);
        /* still the one statement, run again: not a second one beside a
         * forgotten first */
        ck_assert_int_eq(prepared(db, sql), 1);
        ck_assert_int_eq(prepared(db, NULL), 1);
    }
    g_free(name);
    dbr_close(db);
}
END_TEST

START_TEST(test_stmt_user_deallocate_all_does_not_desynchronise)
{
    dbr_db *db = open_pg("reset = none");
    const char *sql = "SELECT $1::int * 2";
    dbr_error *err = NULL;

    one(db, sql, "1", 2);
    one(db, sql, "1", 2);
    t_exec(db, "DEALLOCATE ALL");
    one(db, sql, "2", 4);
    one(db, sql, "2", 4);
    ck_assert_int_eq(prepared(db, sql), 1);
    ck_assert(dbr_exec_script(db, NULL, "SELECT 1; DEALLOCATE ALL; SELECT 2", &err));
    one(db, sql, "3", 6);
    t_exec(db, "DISCARD ALL");
    one(db, sql, "3", 6);
    /* Inside a transaction: read from the text, so the statement is
     * prepared again there instead of failing with 26000 and aborting. */
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, deallocate_then_read, "DEALLOCATE ALL", &err), "%s",
                  dbr_error_message(err));
    /* One of ours by its name, quoted or not. */
    {
        char *name = t_value(db, "SELECT name FROM pg_prepared_statements WHERE statement = "
                                 "'SELECT $1::int * 2'");
        char *quoted = g_strdup_printf("DEALLOCATE PREPARE \"%s\"", name);
        char *bare = g_strdup_printf("/* mine */ deallocate %s", name);

        ck_assert_msg(dbr_tx_run(db, NULL, NULL, deallocate_then_read, quoted, &err), "%s",
                      dbr_error_message(err));
        g_free(name);
        name = t_value(db, "SELECT name FROM pg_prepared_statements WHERE statement = "
                           "'SELECT $1::int * 2' /* again */");
        g_free(bare);
        bare = g_strdup_printf("/* mine */ deallocate %s", name);
        ck_assert_msg(dbr_tx_run(db, NULL, NULL, deallocate_then_read, bare, &err), "%s",
                      dbr_error_message(err));
        g_free(name);
        g_free(quoted);
        g_free(bare);
    }
    /* Hidden from the text (a DO block): the server's 26000 says it, and
     * the statement is prepared again in the same call. */
    t_exec(db, "DO $$BEGIN EXECUTE 'DEALLOCATE ALL'; END$$");
    ck_assert_int_eq(prepared(db, NULL), 0);
    one(db, sql, "4", 8);
    ck_assert_int_eq(prepared(db, sql), 1);
    dbr_close(db);
}
END_TEST

/* Statements that vanish again and again (as behind a pooler in
 * transaction mode that the config does not declare): after the third
 * time the connection keeps none, and every call still works. */
START_TEST(test_stmt_statements_vanishing_turn_the_cache_off)
{
    dbr_db *db = open_pg("reset = none");
    const char *sql = "SELECT $1::int * 7";

    one(db, sql, "1", 7);
    one(db, sql, "1", 7);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(prepared(db, sql), 1);
        t_exec(db, "DO $$BEGIN EXECUTE 'DEALLOCATE ALL'; END$$");
        one(db, sql, "2", 14); /* 26000: prepared again and run in the same call */
    }
    t_exec(db, "DO $$BEGIN EXECUTE 'DEALLOCATE ALL'; END$$");
    for (int i = 0; i < 4; i++)
        one(db, sql, "3", 21);
    ck_assert_int_eq(prepared(db, NULL), 0);
    dbr_close(db);
}
END_TEST

START_TEST(test_stmt_user_prepare_of_our_name_does_not_collide)
{
    dbr_db *db = open_pg("reset = none");
    const char *sql = "SELECT $1::int * 5";
    char *first, *next, *sql_text, *v;

    /* The connection's first statement is dbr_<T>_1: the user takes the
     * name its next one gets, dbr_<T>_2. */
    one(db, "SELECT $1::int * 6", "1", 6);
    one(db, "SELECT $1::int * 6", "1", 6);
    first = t_value(db, "SELECT name FROM pg_prepared_statements WHERE statement = "
                        "'SELECT $1::int * 6'");
    ck_assert_msg(g_str_has_suffix(first, "_1"), "%s", first);
    next = g_strdup_printf("%.*s_2", (int)strlen(first) - 2, first);
    sql_text = g_strdup_printf("PREPARE %s AS SELECT 'mine'", next);
    t_exec(db, sql_text);
    g_free(sql_text);
    one(db, sql, "1", 5);
    one(db, sql, "2", 10); /* 42P05 naming it: prepared under another name */
    one(db, sql, "3", 15);
    ck_assert_int_eq(prepared(db, sql), 1);
    sql_text = g_strdup_printf("EXECUTE %s", next);
    v = t_value(db, sql_text);
    g_free(sql_text);
    ck_assert_str_eq(v, "mine");
    g_free(v);
    g_free(first);
    g_free(next);
    dbr_close(db);
}
END_TEST

START_TEST(test_stmt_session_reset_forgets_the_cache)
{
    dbr_db *db = open_pg(NULL); /* reset = auto */
    const char *sql = "SELECT $1::int - 1";

    one(db, sql, "1", 0);
    one(db, sql, "1", 0);
    ck_assert_int_eq(prepared(db, sql), 1);
    t_exec(db, "SET application_name = 'stmt_reset'"); /* DISCARD ALL on its return */
    ck_assert_int_eq(prepared(db, NULL), 0);
    one(db, sql, "5", 4);
    one(db, sql, "5", 4);
    ck_assert_int_eq(prepared(db, sql), 1);
    dbr_close(db);
}
END_TEST

/* Each connection names its statements with a random tag of its own:
 * behind a pooler, a Bind that reaches another client's session finds no
 * statement of that name instead of running that client's. */
START_TEST(test_stmt_names_are_unique_per_connection)
{
    dbr_db *a = open_pg("reset = none"), *b = open_pg("reset = none");
    const char *sql = "SELECT $1::int * 4";
    const char *q =
        "SELECT name FROM pg_prepared_statements WHERE statement = 'SELECT $1::int * 4'";
    char *na, *nb;

    one(a, sql, "1", 4);
    one(a, sql, "1", 4);
    one(b, sql, "1", 4);
    one(b, sql, "1", 4);
    na = t_value(a, q);
    nb = t_value(b, q);
    ck_assert_msg(g_regex_match_simple("^dbr_[0-9a-f]{16}_[0-9]+$", na, 0, 0), "%s", na);
    ck_assert_msg(g_regex_match_simple("^dbr_[0-9a-f]{16}_[0-9]+$", nb, 0, 0), "%s", nb);
    ck_assert_str_ne(na, nb);
    g_free(na);
    g_free(nb);
    dbr_close(a);
    dbr_close(b);
}
END_TEST

/* 0A000 and 26000 raised while the statement runs (here by a function,
 * after it advanced a sequence) are the statement's own errors, not a
 * stale cached statement: never run again, in autocommit or in a
 * transaction under the retry plugin. */
static int raise_attempts;

static bool tx_raise(dbr_tx *tx, void *user, dbr_error **err)
{
    const char *p[2] = {"1", user};
    dbr_result *r;

    raise_attempts++;
    r = dbr_tx_query(tx, "SELECT stmt_raise($1::int, $2)", 2, p, err);
    dbr_result_free(r);
    return r != NULL;
}

START_TEST(test_stmt_runtime_0A000_and_26000_are_not_stale_statements)
{
    dbr_db *db = open_pg("reset = none\n[chain]\nplugins = retry\n[plugin.retry]\n"
                         "max_attempts = 4\ninitial_interval = 1ms\n");
    const char *sql = "SELECT stmt_raise($1::int, $2)";
    static const char *const codes[] = {"0A000", "26000"};
    dbr_error *err = NULL;

    t_exec(db, "DROP SEQUENCE IF EXISTS stmt_raise_seq");
    t_exec(db, "CREATE SEQUENCE stmt_raise_seq");
    t_exec(db, "CREATE OR REPLACE FUNCTION stmt_raise(x int, code text) RETURNS int "
               "LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('stmt_raise_seq'); IF x > 0 THEN "
               "RAISE EXCEPTION 'refused' USING ERRCODE = code; END IF; RETURN x; END $$");
    for (size_t i = 0; i < G_N_ELEMENTS(codes); i++) {
        const char *p[2] = {"0", codes[i]};
        long long before;
        dbr_result *r;

        for (int k = 0; k < 3; k++) /* cached (prepared) from the second run */
            ck_assert_int_eq(q_int(db, sql, 2, p), 0);
        ck_assert_int_eq(prepared(db, sql), 1);
        before = t_int(db, "SELECT last_value FROM stmt_raise_seq");
        p[0] = "1";
        r = dbr_query(db, NULL, sql, 2, p, &err);
        ck_assert_ptr_null(r);
        ck_assert_str_eq(dbr_error_sqlstate(err), codes[i]);
        ck_assert_int_eq(t_int(db, "SELECT last_value FROM stmt_raise_seq") - before, 1);
        dbr_error_free(err);
        err = NULL;
        raise_attempts = 0;
        ck_assert(!dbr_tx_run(db, NULL, NULL, tx_raise, (void *)codes[i], &err));
        ck_assert_int_eq(raise_attempts, 1);
        ck_assert_str_eq(dbr_error_sqlstate(err), codes[i]);
        ck_assert(!dbr_error_transient(err));
        dbr_error_free(err);
        err = NULL;
    }
    dbr_close(db);
}
END_TEST

/* A user's DISCARD ALL inside a transaction block fails: the cached
 * statements are still on the server, and are still used. */
static bool tx_discard(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "DISCARD ALL", 0, NULL, err);
}

START_TEST(test_stmt_failed_discard_all_in_a_transaction_forgets_nothing)
{
    dbr_db *db = open_pg("reset = none");
    const char *sql = "SELECT $1::int + 7";
    dbr_error *err = NULL;
    long long ran;

    one(db, sql, "1", 8);
    one(db, sql, "1", 8);
    ck_assert_int_eq(prepared(db, sql), 1);
    ran = executions(db, sql);
    ck_assert(!dbr_tx_run(db, NULL, NULL, tx_discard, NULL, &err));
    dbr_error_free(err);
    one(db, sql, "2", 9);
    ck_assert_int_eq(prepared(db, sql), 1); /* no second name left behind */
    ck_assert_int_eq(executions(db, sql), ran + 1);
    dbr_close(db);
}
END_TEST

/* --- the explicit API ----------------------------------------------------- */

static bool tx_insert_stmt(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_stmt *s = user;

    for (int i = 0; i < 3; i++) {
        char v[8];
        const char *p[1] = {v};

        g_snprintf(v, sizeof(v), "%d", i);
        if (!dbr_tx_stmt_exec(tx, s, 1, p, err))
            return false;
    }
    return true;
}

START_TEST(test_stmt_prepare_and_run)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;
    dbr_stmt *add, *ins;
    dbr_result *r;
    const char *p[2] = {"2", "40"};

    add = dbr_prepare(db, NULL, "SELECT $1::int + $2::int", &err);
    ck_assert_msg(add, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_stmt_nparams(add), 2);
    ck_assert_str_eq(dbr_stmt_sql(add), "SELECT $1::int + $2::int");
    /* Prepared by dbr_prepare: the first run is already a hit. */
    ck_assert_int_eq(prepared(db, "SELECT $1::int + $2::int"), 1);
    r = dbr_stmt_query(add, NULL, 2, p, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "42");
    dbr_result_free(r);
    ck_assert_int_eq(executions(db, "SELECT $1::int + $2::int"), 1);

    t_exec(db, "DROP TABLE IF EXISTS stmt_items");
    t_exec(db, "CREATE TABLE stmt_items (a int)");
    ins = dbr_prepare(db, NULL, "INSERT INTO stmt_items VALUES ($1::int)", &err);
    ck_assert_msg(ins, "%s", dbr_error_message(err));
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, tx_insert_stmt, ins, &err), "%s",
                  dbr_error_message(err));
    ck_assert(dbr_stmt_exec(ins, NULL, 1, p, &err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM stmt_items"), 4);
    ck_assert_int_eq(executions(db, "INSERT INTO stmt_items VALUES ($1::int)"), 4);
    /* A utility statement runs unnamed, and still checks its parameters. */
    {
        dbr_stmt *u = dbr_prepare(db, NULL, "SET LOCAL work_mem = '8MB'", &err);

        ck_assert_msg(u, "%s", dbr_error_message(err));
        ck_assert_int_eq(dbr_stmt_nparams(u), 0);
        dbr_stmt_free(u);
    }
    dbr_stmt_free(add);
    dbr_stmt_free(ins);
    dbr_close(db);
}
END_TEST

START_TEST(test_stmt_prepare_reports_errors_early)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;

    ck_assert_ptr_null(dbr_prepare(db, NULL, "SELEC 1", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_SYNTAX);
    ck_assert_str_eq(dbr_error_sqlstate(err), "42601");
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    err = NULL;
    ck_assert_ptr_null(dbr_prepare(db, NULL, "SELECT * FROM stmt_no_such_table", &err));
    ck_assert_str_eq(dbr_error_sqlstate(err), "42P01");
    dbr_error_free(err);
    err = NULL;
    /* The connection is fine afterwards. */
    one(db, "SELECT $1::int", "1", 1);
    dbr_close(db);
}
END_TEST

static void expect_misuse(dbr_error *err, const char *needle)
{
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_msg(strstr(dbr_error_message(err), needle), "\"%s\" lacks \"%s\"",
                  dbr_error_message(err), needle);
    dbr_error_free(err);
}

static bool tx_misuse(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_stmt *s = user;
    dbr_error *e = NULL;
    const char *p[1] = {"1"};

    (void)err;
    ck_assert(!dbr_tx_stmt_exec(tx, s, 1, p, &e));
    expect_misuse(e, "nparams is 1 but the statement takes 2");
    e = NULL;
    ck_assert_ptr_null(dbr_tx_stmt_query(tx, NULL, 0, NULL, &e));
    expect_misuse(e, "stmt is NULL");
    e = NULL;
    {
        dbr_db *other = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
        dbr_stmt *foreign = dbr_prepare(other, NULL, "SELECT 1", &e);

        ck_assert_msg(foreign, "%s", dbr_error_message(e));
        ck_assert(!dbr_tx_stmt_exec(tx, foreign, 0, NULL, &e));
        expect_misuse(e, "prepared on another db");
        dbr_stmt_free(foreign);
        dbr_close(other);
    }
    return true;
}

START_TEST(test_stmt_misuse_is_refused_before_sending)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;
    const char *p[2] = {"1", "2"};
    dbr_stmt *s = dbr_prepare(db, NULL, "SELECT $1::int + $2::int", &err);

    ck_assert_msg(s, "%s", dbr_error_message(err));
    ck_assert_ptr_null(dbr_prepare(NULL, NULL, "SELECT 1", &err));
    expect_misuse(err, "db is NULL");
    err = NULL;
    ck_assert_ptr_null(dbr_prepare(db, NULL, NULL, &err));
    expect_misuse(err, "sql is NULL");
    err = NULL;
    ck_assert(!dbr_stmt_exec(s, NULL, 1, p, &err));
    expect_misuse(err, "nparams is 1 but the statement takes 2");
    err = NULL;
    ck_assert_ptr_null(dbr_stmt_query(s, NULL, -1, p, &err));
    expect_misuse(err, "nparams is -1");
    err = NULL;
    ck_assert_ptr_null(dbr_stmt_query(NULL, NULL, 0, NULL, &err));
    expect_misuse(err, "stmt is NULL");
    err = NULL;
    ck_assert(!dbr_stmt_exec_args(s, NULL, NULL, &err));
    expect_misuse(err, "args is NULL");
    err = NULL;
    ck_assert_ptr_null(dbr_stmt_query(s, NULL, 2, NULL, &err));
    expect_misuse(err, "params is NULL");
    err = NULL;
    ck_assert(!dbr_tx_stmt_exec(NULL, s, 2, p, &err));
    expect_misuse(err, "tx is NULL");
    err = NULL;
    ck_assert(dbr_tx_run(db, NULL, NULL, tx_misuse, s, &err));
    ck_assert_int_eq(dbr_stmt_nparams(NULL), -1);
    ck_assert_ptr_null(dbr_stmt_sql(NULL));
    dbr_stmt_free(NULL);
    /* Nothing reached the server: the statement never ran. */
    ck_assert_int_eq(executions(db, "SELECT $1::int + $2::int"), 0);
    dbr_stmt_free(s);
    dbr_close(db);
}
END_TEST

START_TEST(test_stmt_unsupported_by_a_driver_without_prepare)
{
    dbr_db *db = t_open("[database]\ndriver = fake\n");
    dbr_error *err = NULL;

    ck_assert(!dbr_supports(db, DBR_CAP_PREPARE));
    ck_assert_ptr_null(dbr_prepare(db, NULL, "SELECT 1", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_UNSUPPORTED);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

/* --- faults ----------------------------------------------------------------- */

static dbr_db *admin_db;

static bool backend_gone(void *arg)
{
    return t_int(admin_db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                           "'dbr_stmt_victim'") == *(long long *)arg;
}

START_TEST(test_stmt_terminated_backend_between_runs_prepares_on_the_new_one)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s application_name=dbr_stmt_victim\n"
                        "max_open_conns = 1\n[chain]\nplugins = retry, breaker\n[plugin.retry]\n"
                        "max_attempts = 5\ninitial_interval = 1ms\n",
                        t_conninfo());
    const char *sql = "SELECT $1::int + 7";
    dbr_error *err = NULL;
    dbr_stmt *s;
    long long pid, zero = 0, one_conn = 1;
    const char *p[1] = {"1"};
    dbr_result *r;

    admin_db = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    s = dbr_prepare(db, NULL, sql, &err);
    ck_assert_msg(s, "%s", dbr_error_message(err));
    one(db, sql, "1", 8);
    pid = t_int(db, "SELECT pg_backend_pid()");
    ck_assert_int_eq(prepared(db, sql), 1);
    ck_assert(t_wait_for(backend_gone, &one_conn, 20000));
    t_exec(admin_db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                     "application_name = 'dbr_stmt_victim'");
    ck_assert(t_wait_for(backend_gone, &zero, 20000));
    r = dbr_stmt_query(s, NULL, 1, p, &err);
    ck_assert_msg(r, "%s", dbr_error_message(err));
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "8");
    dbr_result_free(r);
    ck_assert_int_ne(t_int(db, "SELECT pg_backend_pid()"), pid);
    /* The new session prepared it again and ran it by name. */
    ck_assert_int_eq(prepared(db, sql), 1);
    ck_assert_int_eq(executions(db, sql), 1);
    dbr_stmt_free(s);
    dbr_close(db);
    dbr_close(admin_db);
}
END_TEST

START_TEST(test_stmt_deadline_during_a_prepared_run)
{
    dbr_db *db = open_pg("cancel_grace = 5s");
    const char *sql = "SELECT pg_sleep($1::float8)::text";
    dbr_error *err = NULL;
    dbr_ctx *ctx;
    dbr_stmt *s = dbr_prepare(db, NULL, sql, &err);
    const char *p0[1] = {"0"}, *p30[1] = {"30"};
    long long pid = t_int(db, "SELECT pg_backend_pid()");
    gint64 t0;

    ck_assert_msg(s, "%s", dbr_error_message(err));
    ck_assert(dbr_stmt_exec(s, NULL, 1, p0, &err));
    ctx = dbr_ctx_with_timeout(300);
    t0 = g_get_monotonic_time();
    ck_assert(!dbr_stmt_exec(s, ctx, 1, p30, &err));
    ck_assert_int_lt(g_get_monotonic_time() - t0, 10 * G_USEC_PER_SEC);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    err = NULL;
    dbr_ctx_free(ctx);
    /* The server answered the cancel: same session, statement still kept. */
    ck_assert_int_eq(t_int(db, "SELECT pg_backend_pid()"), pid);
    ck_assert(dbr_stmt_exec(s, NULL, 1, p0, &err));
    ck_assert_int_eq(executions(db, sql), 3);

    /* A deadline while the statement is being prepared and run in one
     * round trip (its first reuse). */
    {
        const char *sql2 = "SELECT pg_sleep($1::float8)::text AS slept";
        const char *pz[1] = {"0"};

        one(db, "SELECT $1::int", "0", 0);
        ck_assert(dbr_exec(db, NULL, sql2, 1, pz, &err));
        ctx = dbr_ctx_with_timeout(300);
        ck_assert(!dbr_exec(db, ctx, sql2, 1, p30, &err));
        ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
        ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
        dbr_error_free(err);
        err = NULL;
        dbr_ctx_free(ctx);
        ck_assert_int_eq(t_int(db, "SELECT pg_backend_pid()"), pid);
        ck_assert(dbr_exec(db, NULL, sql2, 1, pz, &err));
        ck_assert_int_eq(executions(db, sql2), 2);
    }
    dbr_stmt_free(s);
    dbr_close(db);
}
END_TEST

typedef struct canceler {
    dbr_db *admin;
    dbr_ctx *ctx;
    const char *sql;
} canceler;

static bool sleeping(void *arg)
{
    canceler *c = arg;
    const char *p[1] = {c->sql};
    dbr_error *err = NULL;
    dbr_result *r = dbr_query(c->admin, NULL,
                              "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                              "query = $1",
                              1, p, &err);
    bool yes = r && atoi(dbr_result_value(r, 0, 0)) > 0;

    dbr_result_free(r);
    dbr_error_free(err);
    return yes;
}

static gpointer cancel_when_sleeping(gpointer arg)
{
    canceler *c = arg;

    ck_assert(t_wait_for(sleeping, c, 20000));
    dbr_ctx_cancel(c->ctx);
    return NULL;
}

START_TEST(test_stmt_cancel_during_a_prepared_run)
{
    dbr_db *db = open_pg("cancel_grace = 5s");
    const char *sql = "SELECT pg_sleep($1::float8)::text AS canceled";
    canceler c = {t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo()), dbr_ctx_new(),
                  sql};
    dbr_error *err = NULL;
    dbr_stmt *s = dbr_prepare(db, NULL, sql, &err);
    const char *p[1] = {"30"};
    GThread *th;

    ck_assert_msg(s, "%s", dbr_error_message(err));
    th = g_thread_new("cancel", cancel_when_sleeping, &c);
    ck_assert(!dbr_stmt_exec(s, c.ctx, 1, p, &err));
    g_thread_join(th);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CANCELED);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    p[0] = "0";
    err = NULL;
    ck_assert_msg(dbr_stmt_exec(s, NULL, 1, p, &err), "%s", dbr_error_message(err));
    ck_assert_int_eq(executions(db, sql), 2);
    dbr_ctx_free(c.ctx);
    dbr_stmt_free(s);
    dbr_close(c.admin);
    dbr_close(db);
}
END_TEST

/* --- PgBouncer in transaction mode ------------------------------------------ */

static const char *bouncer(void)
{
    const char *c = getenv("DBR_TEST_BOUNCER_CONNINFO");

    ck_assert_msg(c && *c, "DBR_TEST_BOUNCER_CONNINFO is not set: run the suite through "
                           "scripts/run-tests.sh, which starts PgBouncer beside the server");
    return c;
}

typedef struct bouncer_worker {
    dbr_db *db;
    dbr_stmt *s;
    int base, wrong;
} bouncer_worker;

static gpointer bouncer_loop(gpointer arg)
{
    bouncer_worker *w = arg;

    for (int i = 0; i < 50; i++) {
        char n[16];
        const char *p[1] = {n};
        dbr_error *err = NULL;
        dbr_result *r;

        g_snprintf(n, sizeof(n), "%d", w->base + i);
        r = (i % 2) ? dbr_stmt_query(w->s, NULL, 1, p, &err)
                    : dbr_query(w->db, NULL, "SELECT $1::int * 3", 1, p, &err);
        if (!r || atoi(dbr_result_value(r, 0, 0)) != 3 * (w->base + i))
            w->wrong++;
        dbr_result_free(r);
        dbr_error_free(err);
    }
    return NULL;
}

START_TEST(test_stmt_behind_pgbouncer_transaction_mode_keeps_nothing)
{
    dbr_db *db =
        t_open("[database]\ndriver = pq\nconninfo = %s\npooler = transaction\nmax_open_conns = 4\n"
               "[chain]\nplugins = retry, breaker, health\n",
               bouncer());
    dbr_error *err = NULL;
    dbr_stmt *s = dbr_prepare(db, NULL, "SELECT $1::int * 3", &err);
    bouncer_worker w[4];
    GThread *th[4];

    ck_assert_msg(s, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_stmt_nparams(s), 1);
    for (int i = 0; i < 4; i++) {
        w[i] = (bouncer_worker){db, s, i * 1000, 0};
        th[i] = g_thread_new("b", bouncer_loop, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(th[i]);
        ck_assert_int_eq(w[i].wrong, 0);
    }
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM pg_prepared_statements"), 0);
    ck_assert_ptr_null(dbr_prepare(db, NULL, "SELEC 1", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_SYNTAX);
    dbr_error_free(err);
    dbr_stmt_free(s);
    dbr_close(db);
}
END_TEST

/* PgBouncer in transaction mode that the config does not declare (only a
 * warning at open): several clients, each checking its own answers. */
typedef struct undeclared_worker {
    int k, wrong, errors;
} undeclared_worker;

static gpointer undeclared_loop(gpointer arg)
{
    undeclared_worker *w = arg;
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\nmax_open_conns = 1\n", bouncer());
    char sql[64];

    g_snprintf(sql, sizeof(sql), "SELECT $1::int * %d", w->k);
    for (int i = 1; i <= 60; i++) {
        char n[16];
        const char *p[1] = {n};
        dbr_error *err = NULL;
        dbr_result *r;

        g_snprintf(n, sizeof(n), "%d", i);
        r = dbr_query(db, NULL, sql, 1, p, &err);
        if (!r)
            w->errors++;
        else if (atoi(dbr_result_value(r, 0, 0)) != w->k * i)
            w->wrong++;
        dbr_result_free(r);
        dbr_error_free(err);
    }
    dbr_close(db);
    return NULL;
}

START_TEST(test_stmt_behind_an_undeclared_pgbouncer_no_wrong_answer)
{
    undeclared_worker w[6] = {{.k = 3}, {.k = 5}, {.k = 7}, {.k = 11}, {.k = 13}, {.k = 17}};
    GThread *th[6];

    for (int i = 0; i < 6; i++)
        th[i] = g_thread_new("u", undeclared_loop, &w[i]);
    for (int i = 0; i < 6; i++)
        g_thread_join(th[i]);
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(w[i].wrong == 0, "k=%d: %d wrong answers", w[i].k, w[i].wrong);
        ck_assert_msg(w[i].errors == 0, "k=%d: %d errors", w[i].k, w[i].errors);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pg_stmt");
    TCase *tc = tcase_create("stmt");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stmt_cache_prepares_on_first_reuse_then_hits);
    tcase_add_test(tc, test_stmt_cache_off_keeps_nothing);
    tcase_add_test(tc, test_stmt_cache_evicts_the_least_recently_used);
    tcase_add_test(tc, test_stmt_failing_statement_evicts_nothing);
    tcase_add_test(tc, test_stmt_eviction_inside_a_transaction_waits_for_its_end);
    tcase_add_test(tc, test_stmt_prepared_in_a_rolled_back_transaction_stays);
    tcase_add_test(tc, test_stmt_binary_parameters_through_the_cache);
    tcase_add_test(tc, test_stmt_schema_change_in_autocommit_prepares_again_and_applies_once);
    tcase_add_test(tc, test_stmt_schema_change_in_a_transaction_is_transient_and_not_applied);
    tcase_add_test(tc, test_stmt_schema_change_in_a_transaction_is_rerun_by_retry);
    tcase_add_test(tc, test_stmt_user_deallocate_all_does_not_desynchronise);
    tcase_add_test(tc, test_stmt_user_prepare_of_our_name_does_not_collide);
    tcase_add_test(tc, test_stmt_statements_vanishing_turn_the_cache_off);
    tcase_add_test(tc, test_stmt_session_reset_forgets_the_cache);
    tcase_add_test(tc, test_stmt_names_are_unique_per_connection);
    tcase_add_test(tc, test_stmt_runtime_0A000_and_26000_are_not_stale_statements);
    tcase_add_test(tc, test_stmt_failed_discard_all_in_a_transaction_forgets_nothing);
    tcase_add_test(tc, test_stmt_prepare_and_run);
    tcase_add_test(tc, test_stmt_prepare_reports_errors_early);
    tcase_add_test(tc, test_stmt_misuse_is_refused_before_sending);
    tcase_add_test(tc, test_stmt_unsupported_by_a_driver_without_prepare);
    tcase_add_test(tc, test_stmt_terminated_backend_between_runs_prepares_on_the_new_one);
    tcase_add_test(tc, test_stmt_deadline_during_a_prepared_run);
    tcase_add_test(tc, test_stmt_cancel_during_a_prepared_run);
    tcase_add_test(tc, test_stmt_behind_pgbouncer_transaction_mode_keeps_nothing);
    tcase_add_test(tc, test_stmt_behind_an_undeclared_pgbouncer_no_wrong_answer);
    tcase_add_test(tc, test_stmt_outlives_dbr_close_and_is_refused);
    tcase_add_test(tc, test_stmt_refused_deallocate_keeps_the_statement);
    tcase_add_test(tc, test_stmt_schema_change_is_recognised_in_any_server_language);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return t_run(suite());
}
