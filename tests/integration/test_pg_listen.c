/* SPDX-License-Identifier: MIT */
/*
 * LISTEN/NOTIFY against the real PostgreSQL: a listener gets notifications
 * of several channels with their payload and sender; a deadline or a
 * cancel from another thread ends a wait and leaves the listener usable;
 * after its backend is terminated, its network connection cut or the
 * server restarted, it LISTENs again and returns a gap before anything
 * sent later; and pooled connections on which a user ran LISTEN do not
 * pile up the notifications they receive.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbr/listen.h>

#include "../proxy.h"
#include "../testutil.h"

static dbr_db *open_pg(const char *app, const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s application_name=%s\n%s", t_conninfo(),
                  app, extra ? extra : "");
}

static dbr_listener *new_listener(dbr_db *db)
{
    dbr_error *err = NULL;
    dbr_listener *l = dbr_listener_new(db, NULL, &err);

    ck_assert_msg(l != NULL, "dbr_listener_new: %s", dbr_error_message(err));
    return l;
}

static void listen_on(dbr_listener *l, const char *channel)
{
    dbr_error *err = NULL;

    ck_assert_msg(dbr_listener_listen(l, NULL, channel, &err), "listen %s: %s", channel,
                  dbr_error_message(err));
}

/* The next notification within timeout_ms; fails the test on an error. */
static dbr_notification *next_within(dbr_listener *l, long long timeout_ms)
{
    dbr_ctx *ctx = dbr_ctx_with_timeout(timeout_ms);
    dbr_error *err = NULL;
    dbr_notification *n = dbr_listener_next(l, ctx, &err);

    ck_assert_msg(n != NULL, "dbr_listener_next: %s", dbr_error_message(err));
    dbr_ctx_free(ctx);
    return n;
}

/* NOTIFY channel, payload from sender's one connection; its backend's pid. */
static int notify(dbr_db *sender, const char *channel, const char *payload)
{
    const char *p[2] = {channel, payload};
    dbr_error *err = NULL;
    dbr_result *r =
        dbr_query(sender, NULL, "SELECT pg_backend_pid(), pg_notify($1, $2)", 2, p, &err);
    int pid;

    ck_assert_msg(r != NULL, "pg_notify: %s", dbr_error_message(err));
    pid = atoi(dbr_result_value(r, 0, 0));
    dbr_result_free(r);
    return pid;
}

static void assert_note(dbr_notification *n, const char *channel, const char *payload, int pid)
{
    ck_assert(!dbr_notification_missed(n));
    ck_assert_str_eq(dbr_notification_channel(n), channel);
    ck_assert_str_eq(dbr_notification_payload(n), payload);
    if (pid)
        ck_assert_int_eq(dbr_notification_pid(n), pid);
    dbr_notification_free(n);
}

static void assert_gap(dbr_notification *n)
{
    ck_assert_msg(dbr_notification_missed(n), "expected a gap, got %s: %s",
                  dbr_notification_channel(n), dbr_notification_payload(n));
    ck_assert_ptr_null(dbr_notification_channel(n));
    ck_assert_str_eq(dbr_notification_payload(n), "");
    ck_assert_int_eq(dbr_notification_pid(n), 0);
    dbr_notification_free(n);
}

/* Nothing more within timeout_ms: the wait ends with DBR_ERR_TIMEOUT. */
static void assert_nothing_within(dbr_listener *l, long long timeout_ms)
{
    dbr_ctx *ctx = dbr_ctx_with_timeout(timeout_ms);
    dbr_error *err = NULL;
    dbr_notification *n = dbr_listener_next(l, ctx, &err);

    ck_assert_msg(n == NULL, "unexpected notification %s: %s", dbr_notification_channel(n),
                  dbr_notification_payload(n));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
}

/* A listener freed after its db's dbr_close: its calls are refused, its own
 * connection stays usable only for dbr_listener_free, which ends the close. */
START_TEST(test_listen_outlives_dbr_close_and_is_refused)
{
    dbr_db *db = open_pg("listen_close", NULL);
    dbr_listener *l = new_listener(db);
    dbr_error *err = NULL;

    listen_on(l, "closing");
    dbr_close(db);
    ck_assert_ptr_null(dbr_listener_next(l, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_msg(strstr(dbr_error_message(err), "dbr_close"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_listener_listen(l, NULL, "other", &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    dbr_listener_free(l);
}
END_TEST

/* A thread waiting in dbr_listener_next (no deadline) when another closes
 * the db: the wait ends with DBR_ERR_MISUSE and the listener's connection
 * goes, instead of waiting on (and delivering) for ever. */
typedef struct next_run {
    dbr_listener *l;
    dbr_notification *n;
    dbr_error *err;
} next_run;

static gpointer next_thread(gpointer arg)
{
    next_run *r = arg;

    r->n = dbr_listener_next(r->l, NULL, &r->err);
    return NULL;
}

static bool listener_gone(void *admin)
{
    return t_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                        "'listen_close_wait'") == 0;
}

START_TEST(test_listen_wait_in_progress_ends_at_dbr_close)
{
    dbr_db *db = open_pg("listen_close_wait", NULL);
    dbr_db *admin = open_pg("listen_close_admin", NULL);
    dbr_listener *l = new_listener(db);
    next_run r = {.l = l};
    GThread *th;

    listen_on(l, "closing_wait");
    th = g_thread_new("next", next_thread, &r);
    dbr_close(db);
    g_thread_join(th);
    ck_assert_ptr_null(r.n);
    ck_assert_int_eq(dbr_error_kind_of(r.err), DBR_ERR_MISUSE);
    ck_assert_msg(strstr(dbr_error_message(r.err), "dbr_close"), "%s", dbr_error_message(r.err));
    dbr_error_free(r.err);
    ck_assert(t_wait_for(listener_gone, admin, 20000));
    dbr_listener_free(l);
    dbr_close(admin);
}
END_TEST

START_TEST(test_listen_delivers_channels_payloads_and_sender)
{
    dbr_db *db = open_pg("dbr_listen", NULL);
    dbr_db *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_listener *l = new_listener(db);
    int pid;

    listen_on(l, "jobs");
    /* Taken as written: case and blanks kept, quoted by the driver. */
    listen_on(l, "Mixed \"Case\" chan");
    listen_on(l, "jobs"); /* twice: nothing more */
    pid = notify(sender, "jobs", "first");
    notify(sender, "Mixed \"Case\" chan", "second");
    notify(sender, "not_listened", "x");
    notify(sender, "jobs", "");
    assert_note(next_within(l, 30000), "jobs", "first", pid);
    assert_note(next_within(l, 30000), "Mixed \"Case\" chan", "second", pid);
    assert_note(next_within(l, 30000), "jobs", "", pid);
    assert_nothing_within(l, 200);
    dbr_listener_free(l);
    dbr_close(sender);
    dbr_close(db);
}
END_TEST

START_TEST(test_listen_unlisten_stops_one_channel)
{
    dbr_db *db = open_pg("dbr_listen", NULL);
    dbr_db *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_listener *l = new_listener(db);
    dbr_error *err = NULL;

    listen_on(l, "a");
    listen_on(l, "b");
    ck_assert(dbr_listener_unlisten(l, NULL, "a", &err));
    ck_assert(dbr_listener_unlisten(l, NULL, "never", &err)); /* not listened: nothing */
    notify(sender, "a", "dropped");
    notify(sender, "b", "kept");
    assert_note(next_within(l, 30000), "b", "kept", 0);
    assert_nothing_within(l, 200);
    dbr_listener_free(l);
    dbr_close(sender);
    dbr_close(db);
}
END_TEST

START_TEST(test_listen_timeout_leaves_the_listener_usable)
{
    dbr_db *db = open_pg("dbr_listen", NULL);
    dbr_db *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_listener *l = new_listener(db);
    dbr_ctx *ctx = dbr_ctx_with_timeout(300);
    dbr_error *err = NULL;
    gint64 start = g_get_monotonic_time(), took;

    listen_on(l, "t");
    ck_assert_ptr_null(dbr_listener_next(l, ctx, &err));
    took = g_get_monotonic_time() - start;
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    ck_assert_int_ge(took, 290000);
    ck_assert_msg(took < 10000000, "took %lld us", (long long)took);
    dbr_error_free(err);
    err = NULL;
    /* A notification already here is returned even by an ended ctx. */
    notify(sender, "t", "late");
    assert_note(next_within(l, 30000), "t", "late", 0);
    dbr_ctx_free(ctx);
    dbr_listener_free(l);
    dbr_close(sender);
    dbr_close(db);
}
END_TEST

typedef struct canceler {
    dbr_ctx *ctx;
} canceler;

static gpointer cancel_soon(gpointer data)
{
    canceler *c = data;

    /* Not a synchronization: a cancel that came before the wait began
     * would end it at once too; the time bounds below tell which it was. */
    g_usleep(300000);
    dbr_ctx_cancel(c->ctx);
    return NULL;
}

START_TEST(test_listen_cancel_from_another_thread_wakes_next)
{
    dbr_db *db = open_pg("dbr_listen", NULL);
    dbr_db *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_listener *l = new_listener(db);
    canceler c = {.ctx = dbr_ctx_new()}; /* no deadline: only the cancel ends it */
    dbr_error *err = NULL;
    gint64 start, took;
    GThread *t;

    listen_on(l, "c");
    start = g_get_monotonic_time();
    t = g_thread_new("cancel", cancel_soon, &c);
    ck_assert_ptr_null(dbr_listener_next(l, c.ctx, &err));
    took = g_get_monotonic_time() - start;
    g_thread_join(t);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CANCELED);
    ck_assert_int_ge(took, 290000);
    ck_assert_msg(took < 20000000, "took %lld us", (long long)took);
    dbr_error_free(err);
    notify(sender, "c", "after cancel");
    assert_note(next_within(l, 30000), "c", "after cancel", 0);
    dbr_ctx_free(c.ctx);
    dbr_listener_free(l);
    dbr_close(sender);
    dbr_close(db);
}
END_TEST

static int events_seen;

static void on_event(const dbr_event *ev, void *user)
{
    (void)user;
    if (strcmp(dbr_event_type(ev), "listener.reconnected") == 0) {
        ck_assert_ptr_nonnull(dbr_event_get(ev, "attempts"));
        ck_assert_ptr_nonnull(dbr_event_get(ev, "channels"));
        g_atomic_int_inc(&events_seen);
    }
}

static long long reconnects(dbr_db *db)
{
    char *m = dbr_metrics_text(db), **lines = g_strsplit(m, "\n", -1);
    long long n = -1;

    for (char **p = lines; *p; p++)
        if (g_str_has_prefix(*p, "dbr_listener_reconnects_total{"))
            n = atoll(strrchr(*p, ' ') + 1);
    g_strfreev(lines);
    free(m);
    return n;
}

/* Terminates the listener's backend: the session of application app whose
 * last statement was a LISTEN (the db's pooled ones run none). */
static void terminate_listener(dbr_db *admin, const char *app)
{
    char *sql = g_strdup_printf("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE application_name = '%s' AND query LIKE 'LISTEN %%'",
                                app);

    ck_assert_int_eq(t_int(admin, sql), 1);
    g_free(sql);
}

START_TEST(test_listen_terminated_backend_gives_a_gap_then_delivers)
{
    dbr_db *db = open_pg("dbr_listen_term", NULL);
    dbr_db *admin = open_pg("dbr_listen_admin", NULL);
    dbr_db *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_listener *l = new_listener(db);
    int pid;

    g_atomic_int_set(&events_seen, 0);
    dbr_subscribe(db, on_event, NULL);
    listen_on(l, "t1");
    listen_on(l, "t2");
    ck_assert_int_eq(reconnects(db), 0);
    terminate_listener(admin, "dbr_listen_term");
    assert_gap(next_within(l, 60000));
    ck_assert_int_eq(reconnects(db), 1);
    ck_assert_int_eq(g_atomic_int_get(&events_seen), 1);
    /* Both channels were listened on again before the gap was returned:
     * the first notification sent after it arrives, on either channel. */
    pid = notify(sender, "t2", "after the gap");
    assert_note(next_within(l, 30000), "t2", "after the gap", pid);
    notify(sender, "t1", "and this one");
    assert_note(next_within(l, 30000), "t1", "and this one", pid);
    /* One gap per loss. */
    assert_nothing_within(l, 200);
    dbr_listener_free(l);
    dbr_close(sender);
    dbr_close(admin);
    dbr_close(db);
}
END_TEST

START_TEST(test_listen_lost_connection_is_reopened_by_listen_too)
{
    dbr_db *db = open_pg("dbr_listen_term2", NULL);
    dbr_db *admin = open_pg("dbr_listen_admin", NULL);
    dbr_db *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_listener *l = new_listener(db);

    listen_on(l, "old");
    terminate_listener(admin, "dbr_listen_term2");
    /* The LISTEN meets the dead session (or finds it gone) and is made on a
     * new one, which listens on both. */
    listen_on(l, "new");
    assert_gap(next_within(l, 60000));
    notify(sender, "old", "o");
    notify(sender, "new", "n");
    assert_note(next_within(l, 30000), "old", "o", 0);
    assert_note(next_within(l, 30000), "new", "n", 0);
    dbr_listener_free(l);
    dbr_close(sender);
    dbr_close(admin);
    dbr_close(db);
}
END_TEST

START_TEST(test_listen_network_cut_gives_a_gap)
{
    t_proxy *proxy = t_proxy_start(atoi(getenv("DBR_TEST_PGPORT")));
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=%d user=dbr "
                        "dbname=dbr_test\nconnect_timeout = 300ms\n",
                        t_proxy_port(proxy));
    dbr_db *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_listener *l = new_listener(db);
    dbr_ctx *ctx = dbr_ctx_with_timeout(1500);
    dbr_error *err = NULL;
    gint64 start;

    listen_on(l, "cut");
    /* Cut, and what answers next is a hung server: each reconnect is given
     * up at connect_timeout, and the ctx ends the wait. */
    t_proxy_stall(proxy, true);
    t_proxy_cut(proxy);
    start = g_get_monotonic_time();
    ck_assert_ptr_null(dbr_listener_next(l, ctx, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    ck_assert_ptr_nonnull(dbr_error_cause(err)); /* the last attempt's failure */
    ck_assert_msg(g_get_monotonic_time() - start < 10000000, "took %lld us",
                  (long long)(g_get_monotonic_time() - start));
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    t_proxy_stall(proxy, false);
    assert_gap(next_within(l, 60000));
    notify(sender, "cut", "through again");
    assert_note(next_within(l, 30000), "cut", "through again", 0);
    dbr_listener_free(l);
    dbr_close(sender);
    dbr_close(db);
    t_proxy_stop(proxy);
}
END_TEST

/* A path gone silent: the server's end is gone and nothing says so (a NAT
 * entry or a virtual IP dropped; the stalled proxy keeps the socket open and
 * the kernel ACKs, so TCP keepalives never fire). Only a probe finds it. */
START_TEST(test_listen_silent_path_is_probed_then_gives_a_gap)
{
    t_proxy *proxy = t_proxy_start(atoi(getenv("DBR_TEST_PGPORT")));
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=%d user=dbr "
                        "dbname=dbr_test application_name=dbr_listen_silent\n"
                        "connect_timeout = 300ms\n",
                        t_proxy_port(proxy));
    dbr_db *admin = open_pg("dbr_listen_admin", NULL);
    dbr_db *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_listener *l = new_listener(db);
    int i;

    listen_on(l, "silent");
    dbr_listener_set_keepalive(l, 500);
    t_proxy_stall(proxy, true);
    terminate_listener(admin, "dbr_listen_silent");
    notify(sender, "silent", "lost one");
    /* Each wait ends at its ctx; the probe goes unanswered within
     * connect_timeout, the connection is given up, and the reconnects
     * (stalled too) fail: the wait then ends while reconnecting, with the
     * last attempt's failure as the cause. Without a probe every wait ends
     * on the ctx alone. */
    for (i = 0; i < 30; i++) {
        dbr_ctx *ctx = dbr_ctx_with_timeout(1000);
        dbr_error *err = NULL;
        dbr_notification *n = dbr_listener_next(l, ctx, &err);
        bool reconnecting;

        ck_assert_msg(n == NULL, "unexpected %s", dbr_notification_missed(n) ? "gap" : "note");
        ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
        reconnecting = dbr_error_cause(err) != NULL;
        dbr_error_free(err);
        dbr_ctx_free(ctx);
        if (reconnecting)
            break;
    }
    ck_assert_msg(i < 30, "30 waits of 1 s and the silent connection was never given up");
    t_proxy_stall(proxy, false);
    assert_gap(next_within(l, 60000));
    ck_assert_int_eq(reconnects(db), 1);
    notify(sender, "silent", "heard again");
    assert_note(next_within(l, 30000), "silent", "heard again", 0);
    dbr_listener_free(l);
    dbr_close(sender);
    dbr_close(admin);
    dbr_close(db);
    t_proxy_stop(proxy);
}
END_TEST

#define PROBED_NOTES 300

static gpointer send_numbered(gpointer data)
{
    dbr_db *sender = data;

    for (int i = 0; i < PROBED_NOTES; i++) {
        char payload[16];

        g_snprintf(payload, sizeof(payload), "%d", i);
        notify(sender, "probed", payload);
    }
    return NULL;
}

/* A healthy listener probed all the time (keepalive 1 ms): notifications
 * that arrive while a probe waits for its answer are kept, in order, and
 * a probe answered is no loss (no gap, no reconnect). */
START_TEST(test_listen_probes_of_a_healthy_listener_lose_nothing)
{
    dbr_db *db = open_pg("dbr_listen_probe", NULL);
    dbr_db *admin = open_pg("dbr_listen_admin", NULL);
    dbr_db *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_listener *l = new_listener(db);
    GThread *t;

    listen_on(l, "probed");
    dbr_listener_set_keepalive(l, 1);
    t = g_thread_new("sender", send_numbered, sender);
    for (int i = 0; i < PROBED_NOTES; i++) {
        char payload[16];

        g_snprintf(payload, sizeof(payload), "%d", i);
        assert_note(next_within(l, 30000), "probed", payload, 0);
    }
    g_thread_join(t);
    assert_nothing_within(l, 300);
    /* The session's last statement is a probe (the empty query), not the
     * LISTEN: probes did run, on the one session. */
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name "
                                  "= 'dbr_listen_probe' AND query = ''"),
                     1);
    ck_assert_int_eq(reconnects(db), 0);
    dbr_listener_free(l);
    dbr_close(sender);
    dbr_close(admin);
    dbr_close(db);
}
END_TEST

/* A refusal that waiting will not change is returned at once, not waited
 * out, and a later call tries again. */
START_TEST(test_listen_lasting_refusal_is_returned_then_retried)
{
    dbr_db *admin = open_pg("dbr_listen_admin", NULL);
    dbr_db *db, *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_error *err = NULL;
    dbr_listener *l;
    dbr_ctx *ctx;
    gint64 start;

    t_exec(admin, "DROP ROLE IF EXISTS dbr_listen_role");
    t_exec(admin, "CREATE ROLE dbr_listen_role LOGIN");
    db = t_open("[database]\ndriver = pq\nconninfo = %s user=dbr_listen_role "
                "application_name=dbr_listen_role\n",
                t_conninfo());
    l = new_listener(db);
    listen_on(l, "p");
    t_exec(admin, "ALTER ROLE dbr_listen_role NOLOGIN");
    terminate_listener(admin, "dbr_listen_role");
    ctx = dbr_ctx_with_timeout(60000);
    start = g_get_monotonic_time();
    ck_assert_ptr_null(dbr_listener_next(l, ctx, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_PERMISSION, "%s: %s",
                  dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err));
    ck_assert_int_lt(g_get_monotonic_time() - start, 30000000);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    t_exec(admin, "ALTER ROLE dbr_listen_role LOGIN");
    assert_gap(next_within(l, 60000));
    notify(sender, "p", "welcome back");
    assert_note(next_within(l, 30000), "p", "welcome back", 0);
    dbr_listener_free(l);
    dbr_close(db);
    t_exec(admin, "DROP ROLE dbr_listen_role");
    dbr_close(sender);
    dbr_close(admin);
}
END_TEST

static gpointer start_server(gpointer data)
{
    (void)data;
    t_pgctl("start -w");
    return NULL;
}

/* A notification sent after a restart, by a sender whose own connection
 * the restart may have broken: a first failure is retried. */
static void notify_after_restart(dbr_db *sender, const char *channel, const char *payload)
{
    const char *p[2] = {channel, payload};

    for (int i = 0; i < 50; i++) {
        dbr_error *err = NULL;

        if (dbr_exec(sender, NULL, "SELECT pg_notify($1, $2)", 2, p, &err))
            return;
        ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_CONNECTION, "%s", dbr_error_message(err));
        dbr_error_free(err);
        g_usleep(100000);
    }
    ck_abort_msg("the server did not come back");
}

START_TEST(test_listen_server_restart_gives_a_gap_then_delivers)
{
    dbr_db *db = open_pg("dbr_listen", NULL);
    dbr_db *sender = open_pg("dbr_listen_sender", "max_open_conns = 1\n");
    dbr_listener *l = new_listener(db);
    dbr_error *err = NULL;
    dbr_ctx *ctx;
    GThread *t;

    listen_on(l, "r");
    t_pgctl("stop -m fast -w");
    /* While the server is down the ctx ends the reconnecting: its timeout,
     * with the last attempt's failure as the cause. */
    ctx = dbr_ctx_with_timeout(500);
    ck_assert_ptr_null(dbr_listener_next(l, ctx, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_TIMEOUT);
    ck_assert_int_eq(dbr_error_kind_of(dbr_error_cause(err)), DBR_ERR_CONNECTION);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    /* Down while the listener waits: its reconnects fail (refused, then
     * "starting up") and back off until the server is back. */
    t = g_thread_new("start", start_server, NULL);
    assert_gap(next_within(l, 120000));
    g_thread_join(t);
    ck_assert_int_ge(reconnects(db), 1);
    notify_after_restart(sender, "r", "after restart");
    assert_note(next_within(l, 30000), "r", "after restart", 0);
    /* And a restart while nobody waits: the loss is found by the next wait. */
    t_pgctl("restart -m fast -w");
    assert_gap(next_within(l, 120000));
    notify_after_restart(sender, "r", "after second restart");
    assert_note(next_within(l, 30000), "r", "after second restart", 0);
    dbr_listener_free(l);
    dbr_close(sender);
    dbr_close(db);
}
END_TEST

START_TEST(test_listen_misuse_is_refused_clearly)
{
    dbr_db *db = open_pg("dbr_listen", NULL);
    dbr_listener *l = new_listener(db);
    dbr_error *err = NULL;
    char long_name[80];

    ck_assert_ptr_null(dbr_listener_new(NULL, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(dbr_error_message(err), "db is NULL"));
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_listener_listen(NULL, NULL, "x", &err));
    ck_assert_ptr_nonnull(strstr(dbr_error_message(err), "listener is NULL"));
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_listener_listen(l, NULL, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(dbr_error_message(err), "channel is NULL"));
    dbr_error_free(err);
    err = NULL;
    ck_assert(!dbr_listener_unlisten(l, NULL, "", &err));
    ck_assert_ptr_nonnull(strstr(dbr_error_message(err), "channel is empty"));
    dbr_error_free(err);
    err = NULL;
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    ck_assert(!dbr_listener_listen(l, NULL, long_name, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(dbr_error_message(err), "64 bytes"));
    dbr_error_free(err);
    err = NULL;
    long_name[63] = '\0'; /* the longest the server keeps */
    listen_on(l, long_name);
    ck_assert_ptr_null(dbr_listener_next(NULL, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    /* NULL everywhere else is harmless. */
    ck_assert_ptr_null(dbr_notification_channel(NULL));
    ck_assert_str_eq(dbr_notification_payload(NULL), "");
    ck_assert_int_eq(dbr_notification_pid(NULL), 0);
    ck_assert(!dbr_notification_missed(NULL));
    dbr_notification_free(NULL);
    dbr_listener_free(NULL);
    ck_assert(!dbr_listener_listen(NULL, NULL, "x", NULL));
    dbr_listener_free(l);
    dbr_close(db);
    /* Behind a pooler in transaction mode LISTEN would hold on no session. */
    db = open_pg("dbr_listen", "pooler = transaction\n");
    err = NULL;
    ck_assert_ptr_null(dbr_listener_new(db, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_ptr_nonnull(strstr(dbr_error_message(err), "pooler = transaction"));
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

START_TEST(test_listen_unsupported_by_a_driver_without_the_slots)
{
    dbr_db *db = t_open("[database]\ndriver = fake\n");
    dbr_error *err = NULL;

    ck_assert(!dbr_supports(db, DBR_CAP_LISTEN));
    ck_assert_ptr_null(dbr_listener_new(db, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_UNSUPPORTED);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static bool child_exec(dbr_db *db, const char *sql)
{
    dbr_error *err = NULL;

    if (dbr_exec(db, NULL, sql, 0, NULL, &err))
        return true;
    fprintf(stderr, "%s: %s\n", sql, dbr_error_message(err));
    dbr_error_free(err);
    return false;
}

/* The pile-up measured in a process of its own (test_pg_listen
 * --pile-child), where malloc is the real one: a memory checker's own
 * allocator keeps freed blocks in quarantine (valgrind does not follow the
 * exec; ASan gets quarantine_size_mb=0), so its RSS would grow either way.
 * A user's LISTEN through dbr_exec stays on the pooled connection (reset =
 * none); 20,000 notifications of 1 KB then reach it while ordinary queries
 * run. libpq keeps each until PQnotifies hands it out: without the driver
 * dropping them the client grows by over 20 MB. */
static int pile_child(void)
{
    char *cfg = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s application_name=%s\n"
                                "max_open_conns = 1\nreset = none\n",
                                getenv("DBR_TEST_CONNINFO"), "dbr_listen_pile");
    dbr_db *db = dbr_open_string(cfg, NULL), *sender = dbr_open_string(cfg, NULL);
    bool ok = db && sender && child_exec(db, "LISTEN pile");
    long before = 0, after = 0;

    for (int i = 0; ok && i < 50; i++)
        ok = child_exec(db, "SELECT 1");
    before = rss_kb();
    ok = ok && child_exec(sender, "SELECT pg_notify('pile', lpad(i::text, 1000, 'x')) "
                                  "FROM generate_series(1, 20000) AS i");
    /* The server sends them all before the answer to the next statement
     * (they were queued when the sender committed), so these read them. */
    for (int i = 0; ok && i < 50; i++)
        ok = child_exec(db, "SELECT count(*) FROM pg_listening_channels()");
    after = rss_kb();
    printf("pooled connection, 20000 notifications of 1 KB: RSS %ld kB -> %ld kB (+%ld kB)\n",
           before, after, after - before);
    dbr_close(sender);
    dbr_close(db);
    g_free(cfg);
    /* 6 MB: undrained, the 20 MB of notifications stay; drained, the growth
     * is libpq's buffers (+128 kB with glibc, +2.4 MB under ASan). */
    return ok && before > 0 && after - before < 6144 ? 0 : 1;
}

START_TEST(test_listen_pooled_connection_does_not_pile_up_notifications)
{
    char *self = g_build_filename(getenv("DBR_TEST_BUILD_ROOT"), "tests", "test_pg_listen", NULL);
    char *argv[] = {self, "--pile-child", NULL}, *out = NULL, *errout = NULL, *asan;
    char **envp = g_get_environ();
    const char *old;
    GError *gerr = NULL;
    int status = 0;

    t_conninfo();
    old = g_environ_getenv(envp, "ASAN_OPTIONS");
    asan = old ? g_strconcat(old, ":quarantine_size_mb=0", NULL) : g_strdup("quarantine_size_mb=0");
    envp = g_environ_setenv(envp, "ASAN_OPTIONS", asan, TRUE);
    ck_assert_msg(g_spawn_sync(NULL, argv, envp, 0, NULL, NULL, &out, &errout, &status, &gerr),
                  "%s", gerr ? gerr->message : "");
    printf("%s", out);
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "%s%s", out, errout);
    g_free(out);
    g_free(errout);
    g_free(asan);
    g_strfreev(envp);
    g_free(self);
}
END_TEST

/* reset = auto: a user's LISTEN marks the session changed, and the pool's
 * DISCARD ALL ends it before the next user. */
START_TEST(test_listen_through_exec_is_reset_on_return)
{
    dbr_db *db = open_pg("dbr_listen_reset", "max_open_conns = 1\n");

    t_exec(db, "LISTEN leftover");
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM pg_listening_channels()"), 0);
    dbr_close(db);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s;
    TCase *tc;

    if (argc > 1 && strcmp(argv[1], "--pile-child") == 0)
        return pile_child();
    s = suite_create("pg_listen");
    tc = tcase_create("pg_listen");

    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_listen_delivers_channels_payloads_and_sender);
    tcase_add_test(tc, test_listen_unlisten_stops_one_channel);
    tcase_add_test(tc, test_listen_timeout_leaves_the_listener_usable);
    tcase_add_test(tc, test_listen_cancel_from_another_thread_wakes_next);
    tcase_add_test(tc, test_listen_terminated_backend_gives_a_gap_then_delivers);
    tcase_add_test(tc, test_listen_lost_connection_is_reopened_by_listen_too);
    tcase_add_test(tc, test_listen_network_cut_gives_a_gap);
    tcase_add_test(tc, test_listen_silent_path_is_probed_then_gives_a_gap);
    tcase_add_test(tc, test_listen_probes_of_a_healthy_listener_lose_nothing);
    tcase_add_test(tc, test_listen_lasting_refusal_is_returned_then_retried);
    tcase_add_test(tc, test_listen_server_restart_gives_a_gap_then_delivers);
    tcase_add_test(tc, test_listen_misuse_is_refused_clearly);
    tcase_add_test(tc, test_listen_unsupported_by_a_driver_without_the_slots);
    tcase_add_test(tc, test_listen_pooled_connection_does_not_pile_up_notifications);
    tcase_add_test(tc, test_listen_through_exec_is_reset_on_return);
    tcase_add_test(tc, test_listen_outlives_dbr_close_and_is_refused);
    tcase_add_test(tc, test_listen_wait_in_progress_ends_at_dbr_close);
    suite_add_tcase(s, tc);
    return t_run(s);
}
