/* SPDX-License-Identifier: MIT */
/*
 * Transactions against the real PostgreSQL: commit, rollback (verified by
 * reading the table afterwards), savepoints three deep, read-only and
 * serializable variants, real serialization failures and deadlocks, and a
 * COMMIT whose backend is killed while it runs.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

static dbr_db *open_pg(const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s\n%s", t_conninfo(), extra ? extra : "");
}

static void reset_table(dbr_db *db)
{
    t_exec(db, "DROP TABLE IF EXISTS tx_items");
    t_exec(db, "CREATE TABLE tx_items (id int PRIMARY KEY, label text)");
}

static bool insert(dbr_tx *tx, const char *id, dbr_error **err)
{
    const char *p[] = {id};

    return dbr_tx_exec(tx, "INSERT INTO tx_items VALUES ($1::int, 'x')", 1, p, err);
}

static bool insert_1_2(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return insert(tx, "1", err) && insert(tx, "2", err);
}

static bool insert_then_no(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    insert(tx, "1", err);
    return false;
}

static bool insert_then_fail(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return insert(tx, "1", err) && insert(tx, "1", err); /* duplicate key */
}

START_TEST(test_pg_tx_commits_and_rolls_back)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;

    reset_table(db);
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, insert_1_2, NULL, &err), "%s", dbr_error_message(err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM tx_items"), 2);

    reset_table(db);
    ck_assert(!dbr_tx_run(db, NULL, NULL, insert_then_no, NULL, &err));
    ck_assert_ptr_null(err);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM tx_items"), 0);

    ck_assert(!dbr_tx_run(db, NULL, NULL, insert_then_fail, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONSTRAINT);
    ck_assert_str_eq(dbr_error_sqlstate(err), "23505");
    dbr_error_free(err);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM tx_items"), 0);
    dbr_close(db);
}
END_TEST

static bool sp_level3(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return insert(tx, "3", err);
}

static bool sp_level2(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    if (!insert(tx, "2", err) || !dbr_tx_savepoint(tx, sp_level3, NULL, err))
        return false;
    return insert(tx, "1", err); /* duplicate of level 1's row: this level fails */
}

static bool sp_level1(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_error *inner = NULL;

    (void)user;
    if (!insert(tx, "1", err))
        return false;
    ck_assert(!dbr_tx_savepoint(tx, sp_level2, NULL, &inner));
    ck_assert_int_eq(dbr_error_kind_of(inner), DBR_ERR_CONSTRAINT);
    dbr_error_free(inner);
    return insert(tx, "4", err);
}

START_TEST(test_pg_tx_savepoints_three_deep_with_failing_middle)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;

    reset_table(db);
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, sp_level1, NULL, &err), "%s", dbr_error_message(err));
    /* levels 2 and 3 were rolled back with their savepoint; 1 and 4 remain */
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM tx_items"), 2);
    ck_assert_int_eq(t_int(db, "SELECT sum(id) FROM tx_items"), 5);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_tx_read_only_refuses_writes)
{
    dbr_db *db = open_pg(NULL);
    dbr_error *err = NULL;

    reset_table(db);
    ck_assert(!dbr_tx_read_only(db, NULL, insert_1_2, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_READ_ONLY);
    ck_assert_str_eq(dbr_error_sqlstate(err), "25006");
    dbr_error_free(err);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM tx_items"), 0);
    dbr_close(db);
}
END_TEST

/* Two transactions that meet at a barrier between their read and write. */
typedef struct pair {
    dbr_db *db;
    GMutex lock;
    GCond cond;
    int arrived;
} pair;

/* Both sides have done their first statement before either does its second. */
static void barrier(pair *p)
{
    g_mutex_lock(&p->lock);
    p->arrived++;
    g_cond_broadcast(&p->cond);
    while (p->arrived < 2)
        g_cond_wait(&p->cond, &p->lock);
    g_mutex_unlock(&p->lock);
}

typedef struct side {
    pair *p;
    const char *first, *second;
    dbr_error *err;
    bool ok;
} side;

static bool two_steps(dbr_tx *tx, void *user, dbr_error **err)
{
    side *s = user;
    dbr_error *e = NULL;
    bool ok = dbr_tx_exec(tx, s->first, 0, NULL, &e);

    barrier(s->p);
    if (ok)
        ok = dbr_tx_exec(tx, s->second, 0, NULL, &e);
    if (!ok)
        dbr_error_propagate(err, e);
    return ok;
}

static gpointer run_side(gpointer data)
{
    side *s = data;
    dbr_tx_opts o = {DBR_ISOLATION_SERIALIZABLE, false, false, 0};

    s->ok = dbr_tx_run(s->p->db, NULL, &o, two_steps, s, &s->err);
    return NULL;
}

static void run_pair(pair *p, side *a, side *b)
{
    GThread *ta = g_thread_new("a", run_side, a), *tb = g_thread_new("b", run_side, b);

    g_thread_join(ta);
    g_thread_join(tb);
}

START_TEST(test_pg_tx_serializable_conflict_is_serialization)
{
    pair p = {.db = open_pg("max_open_conns = 4\n")};
    side a = {.p = &p,
              .first = "SELECT sum(id) FROM tx_items WHERE id < 100",
              .second = "INSERT INTO tx_items VALUES (100, 'a')"};
    side b = {.p = &p,
              .first = "SELECT sum(id) FROM tx_items WHERE id >= 100",
              .second = "INSERT INTO tx_items VALUES (1, 'b')"};
    dbr_error *e;

    g_mutex_init(&p.lock);
    g_cond_init(&p.cond);
    reset_table(p.db);
    run_pair(&p, &a, &b);
    ck_assert_msg(a.ok != b.ok, "exactly one must fail (a: %s, b: %s)", dbr_error_message(a.err),
                  dbr_error_message(b.err));
    e = a.ok ? b.err : a.err;
    ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_SERIALIZATION);
    ck_assert_str_eq(dbr_error_sqlstate(e), "40001");
    ck_assert(dbr_error_retryable(e)); /* the whole transaction may run again */
    dbr_error_free(a.err);
    dbr_error_free(b.err);
    ck_assert_int_eq(t_int(p.db, "SELECT count(*) FROM tx_items"), 1);
    dbr_close(p.db);
}
END_TEST

static bool two_updates_rc(dbr_tx *tx, void *user, dbr_error **err)
{
    return two_steps(tx, user, err);
}

static gpointer run_side_rc(gpointer data)
{
    side *s = data;

    s->ok = dbr_tx_run(s->p->db, NULL, NULL, two_updates_rc, s, &s->err);
    return NULL;
}

START_TEST(test_pg_tx_read_committed_deadlock_is_40P01)
{
    pair p = {.db = open_pg("max_open_conns = 4\n")};
    side a = {.p = &p,
              .first = "UPDATE tx_items SET label = 'a' WHERE id = 1",
              .second = "UPDATE tx_items SET label = 'a' WHERE id = 2"};
    side b = {.p = &p,
              .first = "UPDATE tx_items SET label = 'b' WHERE id = 2",
              .second = "UPDATE tx_items SET label = 'b' WHERE id = 1"};
    GThread *ta, *tb;
    dbr_error *e;

    g_mutex_init(&p.lock);
    g_cond_init(&p.cond);
    reset_table(p.db);
    t_exec(p.db, "INSERT INTO tx_items VALUES (1, 'x'), (2, 'x')");
    ta = g_thread_new("a", run_side_rc, &a);
    tb = g_thread_new("b", run_side_rc, &b);
    g_thread_join(ta);
    g_thread_join(tb);
    ck_assert_msg(a.ok != b.ok, "exactly one must fail (a: %s, b: %s)", dbr_error_message(a.err),
                  dbr_error_message(b.err));
    e = a.ok ? b.err : a.err;
    ck_assert_int_eq(dbr_error_kind_of(e), DBR_ERR_DEADLOCK);
    ck_assert_str_eq(dbr_error_sqlstate(e), "40P01");
    ck_assert(dbr_error_retryable(e));
    dbr_error_free(a.err);
    dbr_error_free(b.err);
    dbr_close(p.db);
}
END_TEST

/* COMMIT runs a deferred trigger that sleeps, so the backend can be killed
 * while COMMIT is in flight. */
static bool insert_slow_commit(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "INSERT INTO tx_slow VALUES (1)", 0, NULL, err);
}

typedef struct killer {
    dbr_db *db;
    bool killed;
} killer;

static bool commit_running(void *arg)
{
    return t_int(arg, "SELECT count(*) FROM pg_stat_activity WHERE query = 'COMMIT' "
                      "AND state = 'active'") == 1;
}

static gpointer kill_commit(gpointer data)
{
    killer *k = data;

    ck_assert(t_wait_for(commit_running, k->db, 20000));
    k->killed = t_int(k->db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE query = 'COMMIT' AND state = 'active'") == 1;
    return NULL;
}

START_TEST(test_pg_tx_backend_killed_during_commit_is_commit_unknown)
{
    dbr_db *db = open_pg(NULL), *other = open_pg(NULL);
    killer k = {other, false};
    dbr_error *err = NULL;
    GThread *t;

    t_exec(db, "DROP TABLE IF EXISTS tx_slow");
    t_exec(db, "CREATE TABLE tx_slow (x int)");
    t_exec(db, "CREATE OR REPLACE FUNCTION tx_slow_fn() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$");
    t_exec(db, "CREATE CONSTRAINT TRIGGER tx_slow_trg AFTER INSERT ON tx_slow "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tx_slow_fn()");
    t = g_thread_new("killer", kill_commit, &k);
    ck_assert(!dbr_tx_run(db, NULL, NULL, insert_slow_commit, NULL, &err));
    g_thread_join(t);
    ck_assert(k.killed);
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_COMMIT_UNKNOWN, "%s: %s",
                  dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err));
    ck_assert(!dbr_error_retryable(err));
    dbr_error_free(err);
    /* the pool dropped the dead connection and serves the next call */
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM tx_slow"), 0);
    dbr_close(other);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_tx");
    TCase *tc = tcase_create("pg_tx");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pg_tx_commits_and_rolls_back);
    tcase_add_test(tc, test_pg_tx_savepoints_three_deep_with_failing_middle);
    tcase_add_test(tc, test_pg_tx_read_only_refuses_writes);
    tcase_add_test(tc, test_pg_tx_serializable_conflict_is_serialization);
    tcase_add_test(tc, test_pg_tx_read_committed_deadlock_is_40P01);
    tcase_add_test(tc, test_pg_tx_backend_killed_during_commit_is_commit_unknown);
    suite_add_tcase(s, tc);
    return t_run(s);
}
