/* SPDX-License-Identifier: MIT */
/*
 * The pool against the real PostgreSQL: the open limit as the server sees
 * it (pg_stat_activity), lifetime and idle-time recycling, backends killed
 * with pg_terminate_backend, and connections never handed out inside a
 * transaction.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

static dbr_db *open_pg(const char *app, const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s application_name=%s\n%s", t_conninfo(),
                  app, extra ? extra : "");
}

typedef struct watch {
    dbr_db *monitor;
    gint stop;
    long long max_seen;
} watch;

static gpointer watch_backends(gpointer data)
{
    watch *w = data;

    while (!g_atomic_int_get(&w->stop)) {
        long long n = t_int(w->monitor, "SELECT count(*) FROM pg_stat_activity "
                                        "WHERE application_name = 'dbr_pool_limit'");

        if (n > w->max_seen)
            w->max_seen = n;
        g_usleep(2000);
    }
    return NULL;
}

static gpointer busy_worker(gpointer data)
{
    dbr_db *db = data;
    dbr_error *err = NULL;

    for (int i = 0; i < 15; i++)
        ck_assert_msg(dbr_exec(db, NULL, "SELECT pg_sleep(0.005)", 0, NULL, &err), "%s",
                      dbr_error_message(err));
    return NULL;
}

START_TEST(test_pg_pool_eight_threads_never_exceed_three_connections)
{
    dbr_db *db = open_pg("dbr_pool_limit", "max_open_conns = 3\nmax_idle_conns = 3\n");
    watch w = {.monitor = open_pg("dbr_pool_monitor", NULL)};
    GThread *mon = g_thread_new("watch", watch_backends, &w), *th[8];
    dbr_pool_stats st;

    for (int i = 0; i < 8; i++)
        th[i] = g_thread_new("worker", busy_worker, db);
    for (int i = 0; i < 8; i++)
        g_thread_join(th[i]);
    g_atomic_int_set(&w.stop, 1);
    g_thread_join(mon);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_le(w.max_seen, 3);
    ck_assert_int_ge(w.max_seen, 2); /* and the load did use the pool */
    ck_assert_int_le(st.open, 3);
    ck_assert_int_gt(st.wait_count, 0);
    ck_assert_int_gt(st.wait_duration_us, 0);
    dbr_close(db);
    dbr_close(w.monitor);
}
END_TEST

START_TEST(test_pg_pool_recycles_by_lifetime_and_idle_time)
{
    dbr_db *db = open_pg("dbr_pool_life", "conn_max_lifetime = 200ms\n");
    long long pid = t_int(db, "SELECT pg_backend_pid()");
    dbr_pool_stats st;

    g_usleep(300000);
    ck_assert_int_ne(t_int(db, "SELECT pg_backend_pid()"), pid);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_ge(st.max_lifetime_closed, 1);
    dbr_close(db);

    db = open_pg("dbr_pool_idle", "conn_max_idle_time = 100ms\n");
    pid = t_int(db, "SELECT pg_backend_pid()");
    g_usleep(200000);
    ck_assert_int_ne(t_int(db, "SELECT pg_backend_pid()"), pid);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_ge(st.max_idle_time_closed, 1);
    dbr_close(db);
}
END_TEST

static bool backend_gone(void *arg)
{
    void **a = arg;

    return t_int(a[0], a[1]) == 0;
}

START_TEST(test_pg_pool_discards_terminated_backend)
{
    dbr_db *db = open_pg("dbr_pool_kill", "max_open_conns = 1\n");
    dbr_db *admin = open_pg("dbr_pool_admin", NULL);
    long long pid = t_int(db, "SELECT pg_backend_pid()");
    char *gone = g_strdup_printf("SELECT count(*) FROM pg_stat_activity WHERE pid = %lld", pid);
    char *kill = g_strdup_printf("SELECT pg_terminate_backend(%lld)::int", pid);
    void *args[2] = {admin, gone};
    dbr_error *err = NULL;
    dbr_pool_stats st;

    ck_assert_int_eq(t_int(admin, kill), 1);
    ck_assert(t_wait_for(backend_gone, args, 10000));
    /* Killed within the validation window: the call that finds it dead
     * fails, says why and that it is safe to retry; the next one works. */
    if (!dbr_exec(db, NULL, "SELECT 1", 0, NULL, &err)) {
        ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
        ck_assert_str_eq(dbr_error_sqlstate(err), "57P01");
        ck_assert(dbr_error_retryable(err));
        dbr_error_free(err);
        err = NULL;
    }
    ck_assert_int_ne(t_int(db, "SELECT pg_backend_pid()"), pid);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 1);
    dbr_close(db);

    /* Validated after an idle spell: the dead connection is never used. */
    db = open_pg("dbr_pool_kill", "max_open_conns = 1\nconn_validate_after = 1ms\n");
    pid = t_int(db, "SELECT pg_backend_pid()");
    g_free(gone);
    g_free(kill);
    gone = g_strdup_printf("SELECT count(*) FROM pg_stat_activity WHERE pid = %lld", pid);
    kill = g_strdup_printf("SELECT pg_terminate_backend(%lld)::int", pid);
    args[1] = gone;
    ck_assert_int_eq(t_int(admin, kill), 1);
    ck_assert(t_wait_for(backend_gone, args, 10000));
    /* idle for longer than conn_validate_after, at the pool clock's resolution */
    g_usleep(20000);
    ck_assert_msg(dbr_exec(db, NULL, "SELECT 1", 0, NULL, &err), "%s", dbr_error_message(err));
    ck_assert_int_ne(t_int(db, "SELECT pg_backend_pid()"), pid);
    g_free(gone);
    g_free(kill);
    dbr_close(db);
    dbr_close(admin);
}
END_TEST

START_TEST(test_pg_pool_never_hands_out_a_connection_inside_a_transaction)
{
    dbr_db *db = open_pg("dbr_pool_tx", "max_open_conns = 1\n");
    dbr_db *admin = open_pg("dbr_pool_admin", NULL);
    dbr_error *err = NULL;
    char *a, *b;

    /* An autocommit BEGIN leaves the session inside a transaction: refused
     * as misuse (nothing of it is kept)... */
    ck_assert(!dbr_exec(db, NULL, "BEGIN", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    /* ...which the pool rolls back when the connection comes home. */
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name "
                                  "= 'dbr_pool_tx' AND state LIKE 'idle in transaction%'"),
                     0);
    a = t_value(db, "SELECT clock_timestamp()::text || ' ' || now()::text");
    g_usleep(20000);
    b = t_value(db, "SELECT now()::text");
    /* inside one transaction now() would stand still */
    ck_assert_msg(!strstr(a, b), "%s / %s", a, b);
    g_free(a);
    g_free(b);
    dbr_close(db);
    dbr_close(admin);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_pool");
    TCase *tc = tcase_create("pg_pool");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pg_pool_eight_threads_never_exceed_three_connections);
    tcase_add_test(tc, test_pg_pool_recycles_by_lifetime_and_idle_time);
    tcase_add_test(tc, test_pg_pool_discards_terminated_backend);
    tcase_add_test(tc, test_pg_pool_never_hands_out_a_connection_inside_a_transaction);
    suite_add_tcase(s, tc);
    return t_run(s);
}
