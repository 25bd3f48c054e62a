/* SPDX-License-Identifier: MIT */
/*
 * The pool on the scripted driver: limits, FIFO waiters, deadlines and
 * cancellation while waiting, discarding broken connections, cleaning up
 * connections returned inside a transaction, lifetime, idle time and
 * max_idle recycling, and stats.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

#define DB "[database]\ndriver = fake\n"

static int conn_id(dbr_db *db)
{
    return (int)t_int(db, "fake:conn_id");
}

typedef struct holder {
    dbr_db *db;
    GMutex lock;
    GCond cond;
    bool holding, release;
    int order; /* when it got its connection */
} holder;

static gint acquired_seq;

static bool hold(dbr_tx *tx, void *user, dbr_error **err)
{
    holder *h = user;

    (void)tx;
    (void)err;
    g_mutex_lock(&h->lock);
    h->order = g_atomic_int_add(&acquired_seq, 1);
    h->holding = true;
    g_cond_broadcast(&h->cond);
    while (!h->release)
        g_cond_wait(&h->cond, &h->lock);
    g_mutex_unlock(&h->lock);
    return true;
}

static gpointer hold_thread(gpointer data)
{
    holder *h = data;
    dbr_error *err = NULL;

    ck_assert_msg(dbr_tx_run(h->db, NULL, NULL, hold, h, &err), "%s", dbr_error_message(err));
    return NULL;
}

static holder *holder_new(dbr_db *db)
{
    holder *h = g_new0(holder, 1);

    h->db = db;
    g_mutex_init(&h->lock);
    g_cond_init(&h->cond);
    return h;
}

static void holder_free(holder *h)
{
    g_mutex_clear(&h->lock);
    g_cond_clear(&h->cond);
    g_free(h);
}

static void holder_release(holder *h)
{
    g_mutex_lock(&h->lock);
    h->release = true;
    g_cond_broadcast(&h->cond);
    g_mutex_unlock(&h->lock);
}

static bool holder_holding(void *p)
{
    holder *h = p;
    bool v;

    g_mutex_lock(&h->lock);
    v = h->holding;
    g_mutex_unlock(&h->lock);
    return v;
}

typedef struct waits {
    dbr_db *db;
    long long n;
} waits;

static bool waiters_at_least(void *p)
{
    waits *w = p;
    dbr_pool_stats st;

    dbr_pool_stats_get(w->db, &st);
    return st.wait_count >= w->n;
}

static gpointer exec_thread(gpointer data)
{
    dbr_db *db = data;

    for (int i = 0; i < 20; i++)
        ck_assert(dbr_exec(db, NULL, "fake:sleep 2", 0, NULL, NULL));
    return NULL;
}

START_TEST(test_pool_gives_a_thread_its_own_connection_back)
{
    dbr_db *db = t_open(DB "max_open_conns = 2\nmax_idle_conns = 2\n");
    holder *h = holder_new(db);
    GThread *t;
    int x, y;

    x = conn_id(db); /* this thread uses X, then X is idle */
    t = g_thread_new("hold", hold_thread, h);
    ck_assert(t_wait_for(holder_holding, h, 10000)); /* another thread holds X */
    y = conn_id(db);                                 /* so this one gets Y */
    ck_assert_int_ne(x, y);
    holder_release(h);
    g_thread_join(t); /* X comes back last: the head of the idle list */
    /* This thread gets Y, the one it used last, not the most recent one. */
    ck_assert_int_eq(conn_id(db), y);
    ck_assert_int_eq(conn_id(db), y);
    holder_free(h);
    dbr_close(db);
}
END_TEST

START_TEST(test_pool_never_exceeds_max_open)
{
    dbr_db *db = t_open(DB "max_open_conns = 3\nmax_idle_conns = 3\n");
    dbr_db *probe = t_open(DB);
    GThread *th[8];
    dbr_pool_stats st;
    long long opened_before = t_int(probe, "fake:stats");

    for (int i = 0; i < 8; i++)
        th[i] = g_thread_new("exec", exec_thread, db);
    for (int i = 0; i < 8; i++)
        g_thread_join(th[i]);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_le(st.open, 3);
    ck_assert_int_eq(st.in_use, 0);
    ck_assert_int_gt(st.wait_count, 0);
    ck_assert_int_gt(st.wait_duration_us, 0);
    /* it never had to open more than 3 (one was open at dbr_open) */
    ck_assert_int_le(t_int(probe, "fake:stats") - opened_before, 2);
    dbr_close(db);
    dbr_close(probe);
}
END_TEST

START_TEST(test_pool_serves_waiters_fifo)
{
    dbr_db *db = t_open(DB "max_open_conns = 1\n");
    holder *a = holder_new(db), *b = holder_new(db), *c = holder_new(db);
    waits w = {db, 1};
    GThread *ta, *tb, *tc;

    g_atomic_int_set(&acquired_seq, 0);
    ta = g_thread_new("a", hold_thread, a);
    ck_assert(t_wait_for(holder_holding, a, 10000));
    tb = g_thread_new("b", hold_thread, b);
    ck_assert(t_wait_for(waiters_at_least, &w, 10000));
    w.n = 2;
    tc = g_thread_new("c", hold_thread, c);
    ck_assert(t_wait_for(waiters_at_least, &w, 10000));
    holder_release(a);
    ck_assert(t_wait_for(holder_holding, b, 10000));
    ck_assert(!holder_holding(c)); /* c queued after b, so b goes first */
    holder_release(b);
    holder_release(c);
    g_thread_join(ta);
    g_thread_join(tb);
    g_thread_join(tc);
    ck_assert_int_eq(a->order, 0);
    ck_assert_int_eq(b->order, 1);
    ck_assert_int_eq(c->order, 2);
    holder_free(a);
    holder_free(b);
    holder_free(c);
    dbr_close(db);
}
END_TEST

START_TEST(test_pool_wait_honours_deadline)
{
    dbr_db *db = t_open(DB "max_open_conns = 1\n");
    holder *a = holder_new(db);
    GThread *ta = g_thread_new("a", hold_thread, a);
    dbr_error *err = NULL;
    dbr_ctx *ctx;
    gint64 start;

    ck_assert(t_wait_for(holder_holding, a, 10000));
    start = g_get_monotonic_time();
    ctx = dbr_ctx_with_timeout(100);
    ck_assert(!dbr_exec(db, ctx, "SELECT 1", 0, NULL, &err));
    ck_assert_int_ge(g_get_monotonic_time() - start, 100000);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_POOL_EXHAUSTED);
    ck_assert_int_eq(dbr_error_kind_of(dbr_error_cause(err)), DBR_ERR_TIMEOUT);
    ck_assert_msg(strstr(dbr_error_message(err), "all 1 connections in use"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    holder_release(a);
    g_thread_join(ta);
    holder_free(a);
    dbr_ctx_free(ctx);
    dbr_close(db);
}
END_TEST

/* Waiters whose deadline or cancel races the hand-off of a connection:
 * whichever wins, no connection may be lost or handed to two callers. */
typedef struct racer {
    dbr_db *db;
    GMutex lock; /* guards ctx against the canceler */
    dbr_ctx *ctx;
    int seed, ok;
} racer;

static gint racers_left;

static gpointer race_thread(gpointer data)
{
    racer *r = data;

    for (int i = 0; i < 150; i++) {
        dbr_ctx *ctx =
            (r->seed + i) % 3 ? dbr_ctx_with_timeout(1 + (r->seed + i) % 2) : dbr_ctx_new();
        dbr_error *err = NULL;

        g_mutex_lock(&r->lock);
        r->ctx = ctx;
        g_mutex_unlock(&r->lock);
        if (dbr_exec(r->db, ctx, "fake:sleep 1", 0, NULL, &err)) {
            r->ok++;
        } else {
            dbr_error_kind k = dbr_error_kind_of(err);

            ck_assert_msg(k == DBR_ERR_POOL_EXHAUSTED || k == DBR_ERR_TIMEOUT ||
                              k == DBR_ERR_CANCELED,
                          "%s", dbr_error_message(err));
            dbr_error_free(err);
        }
        g_mutex_lock(&r->lock);
        r->ctx = NULL;
        g_mutex_unlock(&r->lock);
        dbr_ctx_free(ctx);
    }
    g_atomic_int_add(&racers_left, -1);
    return NULL;
}

START_TEST(test_pool_hand_off_races_deadlines_and_cancels)
{
    enum { N = 8 };
    dbr_db *db = t_open(DB "max_open_conns = 2\nmax_idle_conns = 2\n");
    racer r[N];
    GThread *th[N];
    dbr_pool_stats st;
    int ok = 0;

    g_atomic_int_set(&racers_left, N);
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.db = db, .seed = i};
        g_mutex_init(&r[i].lock);
        th[i] = g_thread_new("race", race_thread, &r[i]);
    }
    /* cancel whoever is mid-call, round and round, until all are done */
    for (int i = 0; g_atomic_int_get(&racers_left) > 0; i++) {
        racer *v = &r[i % N];

        g_mutex_lock(&v->lock);
        if (v->ctx)
            dbr_ctx_cancel(v->ctx);
        g_mutex_unlock(&v->lock);
        g_usleep(300);
    }
    for (int i = 0; i < N; i++) {
        g_thread_join(th[i]);
        g_mutex_clear(&r[i].lock);
        ok += r[i].ok;
    }
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.in_use, 0);
    ck_assert_int_le(st.open, 2);
    ck_assert_int_gt(st.wait_count, 0);
    ck_assert_int_gt(ok, 0);
    /* both connections still serve: nothing was lost to a race */
    {
        dbr_ctx *ctx = dbr_ctx_with_timeout(10000);
        holder *a = holder_new(db);
        GThread *ta = g_thread_new("a", hold_thread, a);

        ck_assert(t_wait_for(holder_holding, a, 10000));
        ck_assert(dbr_exec(db, ctx, "SELECT 1", 0, NULL, NULL));
        holder_release(a);
        g_thread_join(ta);
        holder_free(a);
        dbr_ctx_free(ctx);
    }
    dbr_close(db);
}
END_TEST

typedef struct canceler {
    dbr_db *db;
    dbr_ctx *ctx;
} canceler;

static gpointer cancel_when_waiting(gpointer data)
{
    canceler *c = data;
    waits w = {c->db, 1};

    ck_assert(t_wait_for(waiters_at_least, &w, 10000));
    dbr_ctx_cancel(c->ctx);
    return NULL;
}

START_TEST(test_pool_wait_is_woken_by_cancel)
{
    dbr_db *db = t_open(DB "max_open_conns = 1\n");
    holder *a = holder_new(db);
    GThread *ta = g_thread_new("a", hold_thread, a), *tc;
    canceler c = {db, dbr_ctx_new()};
    dbr_error *err = NULL;

    ck_assert(t_wait_for(holder_holding, a, 10000));
    tc = g_thread_new("cancel", cancel_when_waiting, &c);
    ck_assert(!dbr_exec(db, c.ctx, "SELECT 1", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CANCELED);
    dbr_error_free(err);
    g_thread_join(tc);
    holder_release(a);
    g_thread_join(ta);
    holder_free(a);
    dbr_ctx_free(c.ctx);
    dbr_close(db);
}
END_TEST

START_TEST(test_pool_discards_broken_connection)
{
    dbr_db *db = t_open(DB "max_open_conns = 1\n");
    dbr_error *err = NULL;
    dbr_pool_stats st;
    int before = conn_id(db);

    ck_assert(!dbr_exec(db, NULL, "fake:fail connection sent", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
    ck_assert_int_eq(dbr_error_phase_of(err), DBR_PHASE_SENT);
    ck_assert(!dbr_error_retryable(err)); /* it was sent: the server may have run it */
    dbr_error_free(err);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 0);
    ck_assert_int_ne(conn_id(db), before);
    dbr_close(db);
}
END_TEST

START_TEST(test_pool_validates_idle_connections)
{
    dbr_db *db = t_open(DB "conn_validate_after = 1ms\n");
    dbr_db *killer = t_open(DB);
    int before = conn_id(db);

    t_exec(killer, "fake:kill_all"); /* the killer's own connection survives */
    g_usleep(20000);
    /* killed while idle: found dead on checkout, replaced, the call succeeds */
    ck_assert(dbr_ping(db, NULL, NULL));
    ck_assert_int_ne(conn_id(db), before);
    dbr_close(db);
    dbr_close(killer);
}
END_TEST

/* An autocommit statement that leaves a transaction open is refused as
 * misuse (what it did is rolled back, not applied). */
static void left_open(dbr_db *db)
{
    dbr_error *err = NULL;

    ck_assert(!dbr_exec(db, NULL, "fake:leave_open", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
}

START_TEST(test_pool_rolls_back_connection_returned_in_transaction)
{
    dbr_db *db = t_open(DB "max_open_conns = 1\n");
    dbr_result *r;
    int id = conn_id(db);

    t_exec(db, "fake:reset");
    left_open(db);
    ck_assert_int_eq(conn_id(db), id); /* kept, but only after a ROLLBACK */
    r = dbr_query(db, NULL, "fake:log", 0, NULL, NULL);
    ck_assert_int_eq(dbr_result_nrows(r), 1);
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "ROLLBACK");
    dbr_result_free(r);
    dbr_close(db);
}
END_TEST

START_TEST(test_pool_discards_connection_whose_rollback_fails)
{
    dbr_db *db = t_open(DB "max_open_conns = 1\n");
    int id = conn_id(db);
    dbr_pool_stats st;

    t_exec(db, "fake:fail_next ROLLBACK connection sent");
    left_open(db);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 0);
    ck_assert_int_ne(conn_id(db), id);
    dbr_close(db);
}
END_TEST

START_TEST(test_pool_recycles_by_lifetime)
{
    dbr_db *db = t_open(DB "conn_max_lifetime = 50ms\n");
    int id = conn_id(db);
    dbr_pool_stats st;

    g_usleep(80000);
    ck_assert_int_ne(conn_id(db), id);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_ge(st.max_lifetime_closed, 1);
    dbr_close(db);
}
END_TEST

START_TEST(test_pool_recycles_by_idle_time)
{
    dbr_db *db = t_open(DB "conn_max_idle_time = 30ms\n");
    int id = conn_id(db);
    dbr_pool_stats st;

    g_usleep(60000);
    ck_assert_int_ne(conn_id(db), id);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_ge(st.max_idle_time_closed, 1);
    ck_assert_int_eq(st.max_lifetime_closed, 0);
    dbr_close(db);
}
END_TEST

/* dbr_pool_close_idle counts what it closes as the checkout does: by the
 * reason each connection expired, and not at all when it closes a fit one. */
static bool pruned_one(void *db)
{
    return dbr_pool_close_idle(db, false) == 1;
}

START_TEST(test_pool_close_idle_counts_by_reason)
{
    dbr_db *lifetime = t_open(DB "conn_max_lifetime = 50ms\n");
    dbr_db *idle = t_open(DB "conn_max_idle_time = 30ms\n");
    dbr_db *fit = t_open(DB);
    dbr_pool_stats st;

    conn_id(lifetime);
    conn_id(idle);
    conn_id(fit);
    ck_assert(t_wait_for(pruned_one, lifetime, 5000));
    dbr_pool_stats_get(lifetime, &st);
    ck_assert_int_eq(st.max_lifetime_closed, 1);
    ck_assert_int_eq(st.max_idle_time_closed, 0);
    ck_assert_int_eq(st.open, 0);
    ck_assert(t_wait_for(pruned_one, idle, 5000));
    dbr_pool_stats_get(idle, &st);
    ck_assert_int_eq(st.max_idle_time_closed, 1);
    ck_assert_int_eq(st.max_lifetime_closed, 0);
    ck_assert_int_eq(st.idle, 0);
    ck_assert_int_eq(dbr_pool_close_idle(fit, false), 0);
    ck_assert_int_eq(dbr_pool_close_idle(fit, true), 1);
    dbr_pool_stats_get(fit, &st);
    ck_assert_int_eq(st.max_idle_time_closed + st.max_lifetime_closed, 0);
    ck_assert_int_eq(st.open, 0);
    dbr_close(fit);
    dbr_close(idle);
    dbr_close(lifetime);
}
END_TEST

START_TEST(test_pool_keeps_at_most_max_idle)
{
    dbr_db *db = t_open(DB "max_open_conns = 4\nmax_idle_conns = 1\n");
    holder *h[3];
    GThread *t[3];
    dbr_pool_stats st;

    for (int i = 0; i < 3; i++) {
        h[i] = holder_new(db);
        t[i] = g_thread_new("h", hold_thread, h[i]);
        ck_assert(t_wait_for(holder_holding, h[i], 10000));
    }
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.in_use, 3);
    for (int i = 0; i < 3; i++) {
        holder_release(h[i]);
        g_thread_join(t[i]);
        holder_free(h[i]);
    }
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.idle, 1);
    ck_assert_int_eq(st.open, 1);
    ck_assert_int_eq(st.max_idle_closed, 2);
    dbr_close(db);
}
END_TEST

START_TEST(test_pool_failed_connect_frees_its_slot)
{
    dbr_db *db = t_open(DB "max_open_conns = 1\nconn_max_lifetime = 1ms\n");
    dbr_error *err = NULL;
    dbr_pool_stats st;

    g_usleep(20000);
    t_exec(db, "fake:connect_fail 1 connection"); /* runs on a fresh connection */
    g_usleep(20000);
    ck_assert(!dbr_ping(db, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
    ck_assert_int_eq(dbr_error_phase_of(err), DBR_PHASE_CONNECT);
    dbr_error_free(err);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 0);
    ck_assert_int_eq(st.in_use, 0);
    ck_assert(dbr_ping(db, NULL, NULL));
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pool_never_exceeds_max_open);
    tcase_add_test(tc, test_pool_close_idle_counts_by_reason);
    tcase_add_test(tc, test_pool_gives_a_thread_its_own_connection_back);
    tcase_add_test(tc, test_pool_serves_waiters_fifo);
    tcase_add_test(tc, test_pool_wait_honours_deadline);
    tcase_add_test(tc, test_pool_wait_is_woken_by_cancel);
    tcase_add_test(tc, test_pool_hand_off_races_deadlines_and_cancels);
    tcase_add_test(tc, test_pool_discards_broken_connection);
    tcase_add_test(tc, test_pool_validates_idle_connections);
    tcase_add_test(tc, test_pool_rolls_back_connection_returned_in_transaction);
    tcase_add_test(tc, test_pool_discards_connection_whose_rollback_fails);
    tcase_add_test(tc, test_pool_recycles_by_lifetime);
    tcase_add_test(tc, test_pool_recycles_by_idle_time);
    tcase_add_test(tc, test_pool_keeps_at_most_max_idle);
    tcase_add_test(tc, test_pool_failed_connect_frees_its_slot);
    suite_add_tcase(s, tc);
    return t_run(s);
}
