/* SPDX-License-Identifier: MIT */
/*
 * Deadlines and cancellation against the real PostgreSQL: a timed-out
 * statement is canceled on the server and returns promptly; a cancel from
 * another thread stops a running query; a deadline bounds connecting to a
 * server that never answers; and against a server that stops answering
 * mid-query (a stalled proxy), the connection is closed instead of waited on.
 */
#include <arpa/inet.h>
#include <glib.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../proxy.h"
#include "../testutil.h"

static dbr_db *open_pg(const char *app, const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s application_name=%s\n%s", t_conninfo(),
                  app, extra ? extra : "");
}

static bool no_sleeper(void *arg)
{
    return t_int(arg, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                      "AND query LIKE 'SELECT pg_sleep(10)%'") == 0;
}

START_TEST(test_pg_ctx_timeout_cancels_the_statement_on_the_server)
{
    /* A generous cancel_grace: this is about the server's answer to the
     * cancel, which under valgrind on a busy machine takes its time. */
    dbr_db *db = open_pg("dbr_ctx", "max_open_conns = 1\ncancel_grace = 5s\n");
    dbr_db *admin = open_pg("dbr_ctx_admin", NULL);
    long long pid = t_int(db, "SELECT pg_backend_pid()");
    dbr_error *err = NULL;
    /* The clock starts with the ctx, not after another round trip (under
     * valgrind one takes longer than the 10 ms of slack below). */
    gint64 start = g_get_monotonic_time(), took;
    dbr_ctx *ctx = dbr_ctx_with_timeout(200);

    ck_assert(!dbr_exec(db, ctx, "SELECT pg_sleep(10)", 0, NULL, &err));
    took = g_get_monotonic_time() - start;
    ck_assert_msg(took < 1000000, "took %lld us", (long long)took);
    ck_assert_int_ge(took, 190000);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    dbr_error_free(err);
    /* the server shows the query gone, and the connection lived on */
    ck_assert(t_wait_for(no_sleeper, admin, 5000));
    ck_assert_int_eq(t_int(db, "SELECT pg_backend_pid()"), pid);
    dbr_ctx_free(ctx);
    dbr_close(db);
    dbr_close(admin);
}
END_TEST

typedef struct cancel_arg {
    dbr_db *admin;
    dbr_ctx *ctx;
} cancel_arg;

static bool sleeper_running(void *arg)
{
    return !no_sleeper(arg);
}

static gpointer cancel_when_running(gpointer data)
{
    cancel_arg *c = data;

    ck_assert(t_wait_for(sleeper_running, c->admin, 10000));
    dbr_ctx_cancel(c->ctx);
    return NULL;
}

START_TEST(test_pg_ctx_cancel_from_another_thread)
{
    dbr_db *db = open_pg("dbr_ctx", "cancel_grace = 5s\n");
    cancel_arg c = {open_pg("dbr_ctx_admin", NULL), dbr_ctx_new()};
    GThread *t = g_thread_new("cancel", cancel_when_running, &c);
    dbr_error *err = NULL;
    gint64 start = g_get_monotonic_time();

    ck_assert(!dbr_exec(db, c.ctx, "SELECT pg_sleep(10)", 0, NULL, &err));
    ck_assert_int_lt(g_get_monotonic_time() - start, 5000000);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CANCELED);
    dbr_error_free(err);
    g_thread_join(t);
    ck_assert(t_wait_for(no_sleeper, c.admin, 5000));
    /* a canceled ctx refuses further work at once */
    err = NULL;
    ck_assert(!dbr_exec(db, c.ctx, "SELECT 1", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CANCELED);
    dbr_error_free(err);
    dbr_ctx_free(c.ctx);
    dbr_close(db);
    dbr_close(c.admin);
}
END_TEST

START_TEST(test_pg_ctx_deadline_bounds_connecting)
{
    /* A socket that listens but never accepts: the TCP handshake completes
     * in the kernel, the server never says a word. */
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    dbr_ctx *ctx = dbr_ctx_with_timeout(300);
    dbr_error *err = NULL;
    gint64 start;
    dbr_db *db;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    db = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=%d user=dbr "
                "dbname=dbr_test\nconnect_on_open = false\n",
                ntohs(a.sin_port));
    start = g_get_monotonic_time();
    ck_assert(!dbr_ping(db, ctx, &err));
    ck_assert_int_lt(g_get_monotonic_time() - start, 1000000);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    ck_assert_int_eq(dbr_error_phase_of(err), DBR_PHASE_CONNECT);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    dbr_close(db);
    close(fd);
}
END_TEST

START_TEST(test_pg_ctx_hung_server_gets_its_connection_closed)
{
    t_proxy *proxy = t_proxy_start(atoi(getenv("DBR_TEST_PGPORT")));
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=%d user=dbr "
                        "dbname=dbr_test\nmax_open_conns = 1\n",
                        t_proxy_port(proxy));
    dbr_ctx *ctx = dbr_ctx_with_timeout(300);
    dbr_error *err = NULL;
    dbr_pool_stats st;
    gint64 start;

    t_exec(db, "SELECT 1");
    t_proxy_stall(proxy, true);
    start = g_get_monotonic_time();
    ck_assert(!dbr_exec(db, ctx, "SELECT 1", 0, NULL, &err));
    /* 300 ms deadline + 1 s for the cancel to be acknowledged, then closed */
    ck_assert_int_lt(g_get_monotonic_time() - start, 2500000);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    ck_assert_int_eq(dbr_error_phase_of(err), DBR_PHASE_SENT);
    ck_assert_msg(strstr(dbr_error_message(err), "connection was closed"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.open, 0);
    /* the server recovers: a new connection works */
    t_proxy_stall(proxy, false);
    t_exec(db, "SELECT 1");
    dbr_ctx_free(ctx);
    dbr_close(db);
    t_proxy_stop(proxy);
}
END_TEST

/* Both constructors clamp a timeout the same way: zero or less is already
 * past, a huge one is capped short of overflowing the clock, and a child
 * never outlives its parent's deadline. */
START_TEST(test_pg_ctx_timeouts_are_clamped_alike)
{
    dbr_ctx *past = dbr_ctx_with_timeout(-5), *huge = dbr_ctx_with_timeout(LLONG_MAX);
    dbr_ctx *parent = dbr_ctx_with_timeout(60000);
    dbr_ctx *child_past = dbr_ctx_child(huge, LLONG_MIN);
    dbr_ctx *child_huge = dbr_ctx_child(huge, LLONG_MAX);
    dbr_ctx *child_capped = dbr_ctx_child(parent, LLONG_MAX);
    int64_t now = g_get_monotonic_time();

    ck_assert(dbr_ctx_done(past));
    ck_assert(dbr_ctx_done(child_past));
    ck_assert(!dbr_ctx_done(huge));
    ck_assert(!dbr_ctx_done(child_huge));
    ck_assert_int_gt(dbr_ctx_deadline(huge), now);
    ck_assert_int_gt(dbr_ctx_deadline(child_huge), now);
    ck_assert_int_eq(dbr_ctx_deadline(child_capped), dbr_ctx_deadline(parent));
    dbr_ctx_free(child_capped);
    dbr_ctx_free(child_huge);
    dbr_ctx_free(child_past);
    dbr_ctx_free(parent);
    dbr_ctx_free(huge);
    dbr_ctx_free(past);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_ctx");
    TCase *tc = tcase_create("pg_ctx");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pg_ctx_timeout_cancels_the_statement_on_the_server);
    tcase_add_test(tc, test_pg_ctx_cancel_from_another_thread);
    tcase_add_test(tc, test_pg_ctx_deadline_bounds_connecting);
    tcase_add_test(tc, test_pg_ctx_hung_server_gets_its_connection_closed);
    tcase_add_test(tc, test_pg_ctx_timeouts_are_clamped_alike);
    suite_add_tcase(s, tc);
    return t_run(s);
}
