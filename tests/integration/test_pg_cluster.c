/* SPDX-License-Identifier: MIT */
/*
 * When one server is not enough, against a real PostgreSQL: a conninfo
 * whose first host never answers (a loopback proxy that accepts and then
 * stalls, like a frozen primary) reaches the second within its per-host
 * timeout and remembers it; a write that reaches a standby (25006, in hot
 * standby) is retried until the standby is promoted, applied once, while a
 * session read-only by its own settings is not retried; idempotency keys
 * run a transaction once, also across a crash during COMMIT.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proxy.h"
#include "../testutil.h"

static int pg_port(void)
{
    return atoi(getenv("DBR_TEST_PGPORT"));
}

static dbr_db *open_timed(const char *conninfo, const char *extra, int64_t *us)
{
    char *text = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s\n%s", conninfo, extra);
    dbr_error *err = NULL;
    int64_t t0 = g_get_monotonic_time();
    dbr_db *db = dbr_open_string(text, &err);

    *us = g_get_monotonic_time() - t0;
    ck_assert_msg(db, "open after %lld ms: %s", (long long)(*us / 1000), dbr_error_message(err));
    g_free(text);
    return db;
}

START_TEST(test_pg_first_host_never_answers)
{
    t_proxy *frozen = t_proxy_start(pg_port());
    char *conninfo;
    int64_t us;
    dbr_db *db;

    t_proxy_stall(frozen, true);
    /* per-host timeout from the conninfo (4 s); the db's own is 20 s */
    conninfo = g_strdup_printf("host=127.0.0.1,127.0.0.1 port=%d,%d user=dbr dbname=dbr_test "
                               "connect_timeout=4",
                               t_proxy_port(frozen), pg_port());
    db = open_timed(conninfo, "connect_timeout = 20s\n", &us);
    ck_assert_int_eq(t_int(db, "SELECT 1"), 1);
    ck_assert_msg(us >= 3 * G_USEC_PER_SEC, "the frozen host was not waited for: %lld ms",
                  (long long)(us / 1000));
    dbr_close(db);
    /* the host that answered is remembered: no second wait for the frozen one */
    db = open_timed(conninfo, "connect_timeout = 20s\n", &us);
    ck_assert_msg(us < 3 * G_USEC_PER_SEC, "the frozen host was tried again: %lld ms",
                  (long long)(us / 1000));
    dbr_close(db);
    g_free(conninfo);
    /* no connect_timeout in the conninfo: each host gets a fair share of the
     * db's (6 s over 2 hosts), so the second is still reached */
    conninfo = g_strdup_printf("host=127.0.0.1,127.0.0.1 port=%d,%d user=dbr dbname=dbr_test "
                               "application_name=fair_share",
                               t_proxy_port(frozen), pg_port());
    db = open_timed(conninfo, "connect_timeout = 6s\n", &us);
    ck_assert_int_eq(t_int(db, "SELECT 1"), 1);
    dbr_close(db);
    g_free(conninfo);
    /* a per-host timeout as long as the whole deadline still leaves the
     * second host its share (review: it used to spend it all on the first) */
    conninfo = g_strdup_printf("host=127.0.0.1,127.0.0.1 port=%d,%d user=dbr dbname=dbr_test "
                               "connect_timeout=10 application_name=long_per_host",
                               t_proxy_port(frozen), pg_port());
    db = open_timed(conninfo, "connect_timeout = 8s\n", &us);
    ck_assert_int_eq(t_int(db, "SELECT 1"), 1);
    dbr_close(db);
    g_free(conninfo);
    t_proxy_stop(frozen);
}
END_TEST

START_TEST(test_pg_hosts_that_do_not_match_are_a_config_error)
{
    dbr_error *err = t_open_fail("[database]\ndriver = pq\nconninfo = host=a,b,c port=1,2\n");

    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), "3 hosts") &&
                      strstr(dbr_error_message(err), "2 ports"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
}
END_TEST

typedef struct writer {
    dbr_db *db;
    bool ok;
    char *error;
} writer;

static gpointer write_once(gpointer arg)
{
    writer *w = arg;
    dbr_error *err = NULL;

    w->ok = dbr_exec(w->db, NULL, "INSERT INTO c2_rows VALUES (1)", 0, NULL, &err);
    if (!w->ok)
        w->error = g_strdup(dbr_error_message(err));
    dbr_error_free(err);
    return NULL;
}

/* dbr_retry_retries_total{db="...",kind="read-only"} N, with N > 0 */
static bool retried(void *arg)
{
    char *m = dbr_metrics_text(arg), **lines = g_strsplit(m, "\n", -1);
    bool yes = false;

    for (char **l = lines; *l && !yes; l++)
        yes = g_str_has_prefix(*l, "dbr_retry_retries_total{") &&
              strstr(*l, "kind=\"read-only\"} ") && atoll(strrchr(*l, ' ') + 1) > 0;
    g_strfreev(lines);
    free(m);
    return yes;
}

static bool insert_in_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "INSERT INTO c2_rows VALUES (2)", 0, NULL, err);
}

/* A write that reaches a standby (a demoted primary, a conninfo without
 * target_session_attrs) is refused with 25006 and not applied: with retry
 * it goes through once the standby is promoted, applied once. */
START_TEST(test_pg_write_on_a_standby_is_retried_until_promoted)
{
    dbr_db *admin = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    char *port, *conninfo;
    dbr_db *db, *fresh;
    writer w = {NULL, false, NULL};
    GThread *t;

    t_exec(admin, "DROP TABLE IF EXISTS c2_rows");
    t_exec(admin, "CREATE TABLE c2_rows (x int)");
    port = t_standby("start", NULL);
    conninfo = g_strdup_printf("host=127.0.0.1 port=%s user=dbr dbname=dbr_test", port);
    db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = retry\n"
                "[plugin.retry]\nmax_elapsed = 60s\nmax_interval = 200ms\n",
                conninfo);
    w.db = db;
    t = g_thread_new("writer", write_once, &w);
    ck_assert_msg(t_wait_for(retried, db, 30000), "the refused write was not retried");
    g_free(t_standby("promote", NULL));
    g_thread_join(t);
    ck_assert_msg(w.ok, "the write failed: %s", w.error ? w.error : "");
    fresh = t_open("[database]\ndriver = pq\nconninfo = %s\n", conninfo);
    ck_assert_int_eq(t_int(fresh, "SELECT count(*) FROM c2_rows"), 1);
    dbr_close(fresh);
    dbr_close(db);
    g_free(t_standby("remove", NULL));
    g_free(conninfo);
    g_free(port);
    dbr_close(admin);
}
END_TEST

/* A session read-only by its own settings (role, database, options) or the
 * caller's read-only transaction: 25006 is final, never retried. */
START_TEST(test_pg_read_only_session_is_not_an_outage)
{
    dbr_db *admin = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s "
                        "options='-c default_transaction_read_only=on'\n[chain]\n"
                        "plugins = retry\n",
                        t_conninfo());
    dbr_error *err = NULL;

    t_exec(admin, "DROP TABLE IF EXISTS c2_rows");
    t_exec(admin, "CREATE TABLE c2_rows (x int)");
    ck_assert(!dbr_exec(db, NULL, "INSERT INTO c2_rows VALUES (3)", 0, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_READ_ONLY);
    ck_assert_msg(!dbr_error_transient(err), "a read-only session's write was retryable: %s",
                  dbr_error_message(err));
    g_clear_pointer(&err, dbr_error_free);
    ck_assert(!dbr_tx_read_only(admin, NULL, insert_in_tx, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_READ_ONLY);
    ck_assert(!dbr_error_transient(err));
    dbr_error_free(err);
    dbr_close(db);
    dbr_close(admin);
}
END_TEST

/* Idempotency keys: a key runs its transaction once, however often and
 * from however many threads it is run. */
typedef struct keyed {
    dbr_db *db;
    const char *key;
    int runs;
    bool ok, already;
} keyed;

static bool insert_keyed(dbr_tx *tx, void *user, dbr_error **err)
{
    keyed *k = user;
    const char *p[1] = {k->key};

    g_atomic_int_inc(&k->runs);
    return dbr_tx_exec(tx, "INSERT INTO c3_orders VALUES ($1)", 1, p, err);
}

static gpointer run_keyed(gpointer arg)
{
    keyed *k = arg;
    dbr_error *err = NULL;

    k->ok = dbr_tx_run_once(k->db, NULL, NULL, k->key, insert_keyed, k, &k->already, &err);
    dbr_error_free(err);
    return NULL;
}

START_TEST(test_pg_idempotency_key_runs_once)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\nidempotency_table = c3_keys\n",
                        t_conninfo());
    keyed k = {db, "order-1", 0, false, false}, many[4];
    GThread *t[4];
    dbr_error *err = NULL;

    t_exec(db, "DROP TABLE IF EXISTS c3_orders, c3_keys");
    t_exec(db, "CREATE TABLE c3_orders (id text)");
    run_keyed(&k);
    ck_assert(k.ok && !k.already);
    run_keyed(&k);
    ck_assert_msg(k.ok && k.already, "a second run of the key was not recognised");
    ck_assert_int_eq(k.runs, 1); /* the callback did not run again */
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM c3_orders WHERE id = 'order-1'"), 1);
    /* four threads at once with one new key: one applies, three find it done */
    for (int i = 0; i < 4; i++) {
        many[i] = (keyed){db, "order-2", 0, false, false};
        t[i] = g_thread_new("keyed", run_keyed, &many[i]);
    }
    for (int i = 0; i < 4; i++)
        g_thread_join(t[i]);
    {
        int applied = 0;

        for (int i = 0; i < 4; i++) {
            ck_assert(many[i].ok);
            applied += !many[i].already;
        }
        ck_assert_int_eq(applied, 1);
    }
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM c3_orders WHERE id = 'order-2'"), 1);
    /* an application role without CREATE on the schema, the table made
     * for it by its owner (a new user's report: every call failed) */
    t_exec(db, "DROP ROLE IF EXISTS c3_app");
    t_exec(db, "CREATE ROLE c3_app LOGIN");
    t_exec(db, "REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    t_exec(db, "GRANT SELECT, INSERT ON c3_orders, c3_keys TO c3_app");
    {
        dbr_db *app = t_open("[database]\ndriver = pq\nconninfo = %s user=c3_app\n"
                             "idempotency_table = c3_keys\n",
                             t_conninfo());
        keyed a = {app, "order-3", 0, false, false};

        a.ok = dbr_tx_run_once(app, NULL, NULL, a.key, insert_keyed, &a, &a.already, &err);
        ck_assert_msg(a.ok && !a.already, "a role that may not CREATE: %s",
                      err ? dbr_error_message(err) : "already");
        dbr_close(app);
    }
    t_exec(db, "REVOKE ALL ON c3_orders, c3_keys FROM c3_app");
    t_exec(db, "DROP ROLE c3_app");
    /* a constraint of the owner's on the key table is not "already applied"
     * (review: a CHECK on the key's length made work silently vanish) */
    t_exec(db, "ALTER TABLE c3_keys ADD CONSTRAINT c3_short CHECK (length(key) <= 16)");
    {
        keyed longer = {db, "order-2026-11-30-000042", 0, false, false};

        longer.ok = dbr_tx_run_once(db, NULL, NULL, longer.key, insert_keyed, &longer,
                                    &longer.already, &err);
        ck_assert_msg(!longer.ok && !longer.already, "a CHECK violation read as already applied");
        ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
        g_clear_pointer(&err, dbr_error_free);
    }
    t_exec(db, "ALTER TABLE c3_keys DROP CONSTRAINT c3_short");
    /* misuse */
    ck_assert(!dbr_tx_run_once(db, NULL, NULL, "", insert_keyed, &k, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    dbr_error_free(err);
    dbr_close(db);
}
END_TEST

typedef struct crasher {
    dbr_db *admin;
    bool crashed;
} crasher;

static bool commit_in_trigger(void *arg)
{
    return t_int(arg, "SELECT count(*) FROM pg_stat_activity WHERE "
                      "application_name = 'c3_victim' AND wait_event = 'PgSleep'") == 1;
}

static gpointer crash_during_commit(gpointer data)
{
    crasher *c = data;

    if (!t_wait_for(commit_in_trigger, c->admin, 20000))
        return NULL;
    t_exec(c->admin, "DELETE FROM c3_sleep"); /* the run after the crash goes through */
    t_pgctl("stop -m immediate");
    t_pgctl("start");
    c->crashed = true;
    return NULL;
}

/* COMMIT's answer is lost in a crash while COMMIT runs a deferred trigger:
 * the transaction never reached the WAL. A transaction id proves nothing on
 * the restarted server (plain dbr_tx_run stays commit-unknown); the key's
 * absence proves it did not commit, so retry runs it again, once. */
START_TEST(test_pg_idempotency_key_resolves_a_commit_lost_in_a_crash)
{
    dbr_db *admin = t_open("[database]\ndriver = pq\nconninfo = %s application_name=c3_admin "
                           "options='-c synchronous_commit=local'\n",
                           t_conninfo());
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s application_name=c3_victim\n"
                        "idempotency_table = c3_keys\n[chain]\nplugins = retry\n"
                        "[plugin.retry]\nmax_elapsed = 60s\n",
                        t_conninfo());
    keyed k = {db, "order-crash", 0, false, false};
    crasher c = {admin, false};
    dbr_error *err = NULL;
    GThread *t;

    t_exec(admin, "DROP TABLE IF EXISTS c3_orders, c3_keys, c3_sleep");
    t_exec(admin, "CREATE TABLE c3_orders (id text)");
    t_exec(admin, "CREATE TABLE c3_sleep (x int)");
    t_exec(admin, "INSERT INTO c3_sleep VALUES (1)");
    t_exec(admin, "CREATE OR REPLACE FUNCTION c3_slow() RETURNS trigger LANGUAGE plpgsql AS $$ "
                  "BEGIN IF EXISTS (SELECT 1 FROM c3_sleep) THEN PERFORM pg_sleep(30); END IF; "
                  "RETURN NULL; END $$");
    t_exec(admin, "CREATE CONSTRAINT TRIGGER c3_slow_trg AFTER INSERT ON c3_orders DEFERRABLE "
                  "INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION c3_slow()");
    t_exec(db, "SELECT 1");
    t = g_thread_new("crasher", crash_during_commit, &c);
    k.ok = dbr_tx_run_once(db, NULL, NULL, k.key, insert_keyed, &k, &k.already, &err);
    g_thread_join(t);
    ck_assert(c.crashed);
    ck_assert_msg(k.ok, "the keyed transaction failed: %s", dbr_error_message(err));
    ck_assert_int_eq(k.runs, 2); /* lost in the crash, then run again */
    dbr_close(admin);
    admin = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM c3_orders WHERE id = 'order-crash'"), 1);
    t_exec(admin, "DROP TABLE c3_orders, c3_sleep");
    t_exec(admin, "DROP FUNCTION c3_slow()");
    dbr_error_free(err);
    dbr_close(db);
    dbr_close(admin);
}
END_TEST

/* Whatever a failed test left behind (a standby) is gone before the suites
 * that run after this one. */
static void cleanup(void)
{
    char *cmd = g_strdup_printf("bash '%s/scripts/lib/pgstandby.sh' remove >/dev/null 2>&1",
                                getenv("DBR_TEST_SOURCE_ROOT"));

    if (system(cmd) != 0)
        fprintf(stderr, "pgstandby.sh remove failed\n");
    g_free(cmd);
}

int main(void)
{
    Suite *s = suite_create("pg_cluster");
    TCase *tc = tcase_create("pg_cluster");

    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, NULL, cleanup);
    tcase_add_test(tc, test_pg_first_host_never_answers);
    tcase_add_test(tc, test_pg_hosts_that_do_not_match_are_a_config_error);
    tcase_add_test(tc, test_pg_write_on_a_standby_is_retried_until_promoted);
    tcase_add_test(tc, test_pg_read_only_session_is_not_an_outage);
    tcase_add_test(tc, test_pg_idempotency_key_runs_once);
    tcase_add_test(tc, test_pg_idempotency_key_resolves_a_commit_lost_in_a_crash);
    suite_add_tcase(s, tc);
    return t_run(s);
}
