/* SPDX-License-Identifier: MIT */
/*
 * Reads on a real streaming standby (scripts/lib/pgstandby.sh): read-only
 * transactions and calls routed to standbys land there (pg_is_in_recovery()
 * inside them says so), writes and read-your-writes stay on the primary, a
 * standby whose replay is paused (pg_wal_replay_pause) is skipped once it
 * is further behind than max_replica_lag, and with the standby gone reads
 * go to the primary and still succeed.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbr/stmt.h>

#include "../testutil.h"

typedef struct where {
    char *in_recovery;
} where;

static bool ask_recovery(dbr_tx *tx, void *user, dbr_error **err)
{
    where *w = user;
    dbr_result *r = dbr_tx_query(tx, "SELECT pg_is_in_recovery()", 0, NULL, err);

    if (!r)
        return false;
    g_free(w->in_recovery);
    w->in_recovery = g_strdup(dbr_result_value(r, 0, 0));
    dbr_result_free(r);
    return true;
}

/* "t" when a read-only transaction ran on a standby, "f" on the primary */
static char *read_only_lands(dbr_db *db, dbr_ctx *ctx)
{
    where w = {NULL};
    dbr_error *err = NULL;

    ck_assert_msg(dbr_tx_read_only(db, ctx, ask_recovery, &w, &err), "%s", dbr_error_message(err));
    return w.in_recovery;
}

static bool lands_on_standby(void *arg)
{
    char *v = read_only_lands(arg, NULL);
    bool yes = strcmp(v, "t") == 0;

    g_free(v);
    return yes;
}

static bool lands_on_primary(void *arg)
{
    char *v = read_only_lands(arg, NULL);
    bool yes = strcmp(v, "f") == 0;

    g_free(v);
    return yes;
}

/* the primary's WAL moves on while the standby's replay is paused */
static bool writes_pushed_it_behind(void *arg)
{
    void **a = arg;

    t_exec(a[1], "INSERT INTO r1_t VALUES (1)");
    return lands_on_primary(a[0]);
}

static void cleanup(void)
{
    char *cmd = g_strdup_printf("bash '%s/scripts/lib/pgstandby.sh' remove >/dev/null 2>&1",
                                getenv("DBR_TEST_SOURCE_ROOT"));

    if (system(cmd) != 0)
        fprintf(stderr, "pgstandby.sh remove failed\n");
    g_free(cmd);
}

START_TEST(test_pg_router_sends_reads_to_a_fitting_standby)
{
    dbr_db *admin = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    char *port, *v, *sconn, *metrics;
    dbr_db *db, *on_standby;
    dbr_ctx *ctx;
    void *both[2];

    t_exec(admin, "DROP TABLE IF EXISTS r1_t");
    t_exec(admin, "CREATE TABLE r1_t (x int)");
    port = t_standby("start", NULL);
    db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = router, retry\n"
                "[plugin.router]\nstandbys = 127.0.0.1:%s\nmax_replica_lag = 300ms\n"
                "check_interval = 50ms\n",
                t_conninfo(), port);
    /* reads go to the standby once it was checked */
    ck_assert_msg(t_wait_for(lands_on_standby, db, 30000), "no read reached the standby");
    {
        int served = 0;

        for (int i = 0; i < 100; i++) {
            v = read_only_lands(db, NULL);
            served += strcmp(v, "t") == 0;
            g_free(v);
        }
        printf("router: %d of 100 read-only transactions were served by the standby\n", served);
        ck_assert_int_ge(served, 50);
    }
    /* a write transaction, and a read that must see the caller's writes,
     * stay on the primary */
    v = t_value(db, "SELECT pg_is_in_recovery()::text");
    ck_assert_str_eq(v, "false");
    g_free(v);
    ctx = dbr_ctx_new();
    dbr_ctx_set_route(ctx, DBR_ROUTE_PRIMARY);
    v = read_only_lands(db, ctx);
    ck_assert_str_eq(v, "f");
    g_free(v);
    /* an autocommit query marked as a read goes to the standby */
    dbr_ctx_set_route(ctx, DBR_ROUTE_STANDBY);
    {
        dbr_result *r = dbr_query(db, ctx, "SELECT pg_is_in_recovery()::text", 0, NULL, NULL);

        ck_assert_ptr_nonnull(r);
        ck_assert_str_eq(dbr_result_value(r, 0, 0), "true");
        dbr_result_free(r);
    }
    dbr_ctx_free(ctx);
    /* a standby refuses SERIALIZABLE: such a read stays on the primary (review) */
    {
        static const dbr_tx_opts ser_ro = {DBR_ISOLATION_SERIALIZABLE, true, false, 0};
        where w = {NULL};
        dbr_error *err = NULL;

        ck_assert_msg(dbr_tx_run(db, NULL, &ser_ro, ask_recovery, &w, &err), "%s",
                      dbr_error_message(err));
        ck_assert_str_eq(w.in_recovery, "f");
        g_free(w.in_recovery);
    }
    /* a standby whose replay is paused falls behind and is skipped */
    sconn = g_strdup_printf("host=127.0.0.1 port=%s user=dbr dbname=dbr_test", port);
    on_standby = t_open("[database]\ndriver = pq\nconninfo = %s\n", sconn);
    /* What the router reads (the pq driver's replication_state slot): the
     * primary's write position grows with a write; the standby replays. */
    {
        dbr_replication_state p1 = {0}, p2 = {0}, s = {0};
        dbr_error *err = NULL;

        ck_assert(dbr_supports(admin, DBR_CAP_REPLICATION));
        ck_assert_msg(dbr_replication_state_get(admin, NULL, &p1, &err), "%s",
                      dbr_error_message(err));
        ck_assert_int_eq(p1.struct_size, sizeof(p1));
        ck_assert(!p1.standby);
        ck_assert_int_gt(p1.position, 0);
        t_exec(admin, "INSERT INTO r1_t SELECT generate_series(1, 1000)");
        ck_assert(dbr_replication_state_get(admin, NULL, &p2, &err));
        ck_assert_int_gt(p2.position, p1.position);
        ck_assert_msg(dbr_replication_state_get(on_standby, NULL, &s, &err), "%s",
                      dbr_error_message(err));
        ck_assert(s.standby);
        ck_assert_int_gt(s.position, 0);
        ck_assert_int_le(s.position, p2.position + (1 << 20));
        /* a caller's struct smaller than the ABI 3.0 one is refused */
        ck_assert(!dbr_replication_state_get_sized(admin, NULL, &s, sizeof(uint32_t), &err));
        ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
        ck_assert_msg(strstr(dbr_error_message(err), "size is 4"), "%s", dbr_error_message(err));
        dbr_error_free(err);
    }
    t_exec(on_standby, "SELECT pg_wal_replay_pause()");
    both[0] = db;
    both[1] = admin;
    ck_assert_msg(t_wait_for(writes_pushed_it_behind, both, 30000),
                  "reads still went to a standby further behind than max_replica_lag");
    metrics = dbr_metrics_text(db);
    ck_assert_msg(strstr(metrics, "dbr_router_replica_lag_seconds{") &&
                      strstr(metrics, "dbr_router_fallbacks_total{"),
                  "%s", metrics);
    free(metrics);
    t_exec(on_standby, "SELECT pg_wal_replay_resume()");
    ck_assert_msg(t_wait_for(lands_on_standby, db, 30000),
                  "the standby caught up but got no reads");
    dbr_close(on_standby);
    /* the standby gone: reads still succeed, on the primary */
    g_free(t_standby("remove", NULL));
    for (int i = 0; i < 5; i++) {
        v = read_only_lands(db, NULL);
        ck_assert_str_eq(v, "f");
        g_free(v);
    }
    dbr_close(db);
    g_free(sconn);
    g_free(port);
    dbr_close(admin);
}
END_TEST

/* The router's own connections (its primary and standby siblings) go at
 * dbr_close, even while a prepared statement keeps the closed db in
 * memory. The standby is the primary itself, so one server holds all. */
static long long router_conns(void)
{
    dbr_db *probe = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    long long n = t_int(probe, "SELECT count(*) FROM pg_stat_activity WHERE application_name "
                               "= 'dbr_router_close'");

    dbr_close(probe);
    return n;
}

static bool conns_at_least(void *want)
{
    return router_conns() >= *(long long *)want;
}

static bool conns_at_most(void *want)
{
    return router_conns() <= *(long long *)want;
}

START_TEST(test_pg_router_close_gives_back_its_connections)
{
    dbr_db *probe = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    char *port = t_value(probe, "SELECT current_setting('port')");
    long long two = 2, none = 0;
    dbr_error *err = NULL;
    dbr_stmt *s;
    dbr_db *db;

    dbr_close(probe);
    db = t_open("[database]\ndriver = pq\nconninfo = %s host=127.0.0.1 port=%s "
                "application_name=dbr_router_close\n[chain]\nplugins = router\n[plugin.router]\n"
                "standbys = 127.0.0.1:%s\ncheck_interval = 50ms\n",
                t_conninfo(), port, port);
    ck_assert(t_wait_for(conns_at_least, &two, 20000));
    s = dbr_prepare(db, NULL, "SELECT 1", &err);
    ck_assert_msg(s, "%s", dbr_error_message(err));
    dbr_close(db);
    ck_assert_msg(t_wait_for(conns_at_most, &none, 20000), "%lld connections left", router_conns());
    dbr_stmt_free(s);
    g_free(port);
}
END_TEST

START_TEST(test_pg_router_config_errors)
{
    dbr_error *err = t_open_fail("[database]\ndriver = pq\nconninfo = %s\n[chain]\n"
                                 "plugins = router\n[plugin.router]\nstandbys = nohostport\n",
                                 t_conninfo());

    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), "host:port"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    err = t_open_fail("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = router\n",
                      t_conninfo());
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    dbr_error_free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_router");
    TCase *tc = tcase_create("pg_router");

    tcase_set_timeout(tc, 180);
    tcase_add_unchecked_fixture(tc, NULL, cleanup);
    tcase_add_test(tc, test_pg_router_sends_reads_to_a_fitting_standby);
    tcase_add_test(tc, test_pg_router_config_errors);
    tcase_add_test(tc, test_pg_router_close_gives_back_its_connections);
    suite_add_tcase(s, tc);
    return t_run(s);
}
