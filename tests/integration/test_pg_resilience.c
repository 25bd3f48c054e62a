/* SPDX-License-Identifier: MIT */
/*
 * Retry and circuit breaker against a real PostgreSQL under real faults:
 * the server stopped with pg_ctl stop -m immediate and started again,
 * backends killed with pg_terminate_backend, real serialization failures
 * and deadlocks, and a connection cut by a proxy while an INSERT runs.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proxy.h"
#include "../testutil.h"

static dbr_db *open_pg(const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s\n%s", t_conninfo(), extra);
}

static void record_states(const dbr_event *ev, void *user)
{
    GString *s = user;

    if (strcmp(dbr_event_type(ev), "breaker.state") == 0)
        g_string_append_printf(s, "%s%s>%s", s->len ? " " : "", dbr_event_get(ev, "from"),
                               dbr_event_get(ev, "to"));
}

static bool breaker_is(dbr_db *db, const char *state)
{
    char *reply = NULL, *want = g_strdup_printf("state=%s ", state);
    bool is;

    ck_assert(dbr_control(db, "breaker", "state", &reply, NULL));
    is = g_str_has_prefix(reply, want);
    free(reply);
    g_free(want);
    return is;
}

static bool ping_ok(void *db)
{
    return dbr_ping(db, NULL, NULL);
}

START_TEST(test_pg_breaker_opens_when_server_stops_and_closes_after_restart)
{
    dbr_db *db = open_pg("connect_timeout = 2s\n[chain]\nplugins = breaker\n"
                         "[plugin.breaker]\nmax_failures = 3\ntimeout = 500ms\n");
    GString *states = g_string_new(NULL);
    gint64 start;
    int failures = 0, refused = 0;
    const int N = 100000;

    dbr_subscribe(db, record_states, states);
    ck_assert(dbr_ping(db, NULL, NULL));
    t_pgctl("stop -m immediate");
    while (!breaker_is(db, "open") && failures < 50) {
        dbr_error *err = NULL;

        ck_assert(!dbr_ping(db, NULL, &err));
        ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
        dbr_error_free(err);
        failures++;
    }
    ck_assert_int_eq(failures, 3); /* opened after exactly max_failures */
    start = g_get_monotonic_time();
    for (int i = 0; i < N; i++) {
        dbr_error *err = NULL;

        if (!dbr_exec(db, NULL, "SELECT 1", 0, NULL, &err) &&
            dbr_error_kind_of(err) == DBR_ERR_CIRCUIT_OPEN)
            refused++;
        dbr_error_free(err);
        if (i % 1000 == 999 && !breaker_is(db, "open"))
            break; /* half-open after the timeout: stop measuring */
    }
    printf("breaker open: %d calls refused at %.0f ns per call\n", refused,
           (double)(g_get_monotonic_time() - start) * 1000.0 / (refused ? refused : 1));
    ck_assert_int_gt(refused, 1000);
    t_pgctl("start");
    ck_assert(t_wait_for(ping_ok, db, 30000));
    ck_assert(breaker_is(db, "closed"));
    /* in order: opened, then (perhaps) half-open trials while the server
     * was down, closed at last by the recovery probe or a half-open trial */
    ck_assert_msg(g_str_has_prefix(states->str, "closed>open "), "%s", states->str);
    ck_assert_msg(g_str_has_suffix(states->str, ">closed"), "%s", states->str);
    g_string_free(states, TRUE);
    dbr_close(db);
}
END_TEST

static gpointer start_server_later(gpointer data)
{
    (void)data;
    /* The scenario itself is "the database comes up two seconds later". */
    g_usleep(2 * G_USEC_PER_SEC);
    t_pgctl("start");
    return NULL;
}

START_TEST(test_pg_open_waits_out_a_server_that_is_starting)
{
    GThread *t;
    dbr_db *db;
    dbr_error *err = NULL;
    char *text;

    t_pgctl("stop -m immediate");
    /* without retry, opening fails at once */
    err = t_open_fail("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
    ck_assert(dbr_error_retryable(err));
    dbr_error_free(err);
    err = NULL;
    t = g_thread_new("starter", start_server_later, NULL);
    text = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = retry\n"
                           "[plugin.retry]\nmax_attempts = 100\ninitial_interval = 50ms\n"
                           "max_interval = 500ms\nmax_elapsed = 60s\n",
                           t_conninfo());
    db = dbr_open_string(text, &err);
    g_thread_join(t);
    ck_assert_msg(db != NULL, "%s", dbr_error_message(err));
    ck_assert(dbr_ping(db, NULL, NULL));
    g_free(text);
    dbr_close(db);
}
END_TEST

typedef struct killer {
    dbr_db *db;
    gint stop;
    gint kills;
} killer;

static gpointer kill_bank(gpointer data)
{
    killer *k = data;

    while (!g_atomic_int_get(&k->stop)) {
        g_atomic_int_add(&k->kills,
                         (int)t_int(k->db, "SELECT count(pg_terminate_backend(pid)) FROM "
                                           "pg_stat_activity WHERE application_name = 'dbr_bank'"));
        g_usleep(150000);
    }
    return NULL;
}

static gpointer kill_loop(gpointer data)
{
    killer *k = data;

    while (!g_atomic_int_get(&k->stop)) {
        g_atomic_int_add(
            &k->kills, (int)t_int(k->db, "SELECT count(pg_terminate_backend(pid)) FROM "
                                         "pg_stat_activity WHERE application_name = 'dbr_reader'"));
        g_usleep(100000);
    }
    return NULL;
}

START_TEST(test_pg_reads_survive_terminated_backends)
{
    killer k = {.db = open_pg("")};
    dbr_db *db;
    dbr_ctx *ctx = dbr_ctx_new();
    GThread *t;
    int ok = 0;

    db = t_open("[database]\ndriver = pq\nconninfo = %s application_name=dbr_reader\n"
                "max_open_conns = 2\n[chain]\nplugins = retry, breaker\n[plugin.retry]\n"
                "max_attempts = 10\ninitial_interval = 1ms\nmax_interval = 50ms\n",
                t_conninfo());
    dbr_ctx_set_idempotent(ctx, true); /* reads: safe to repeat even after they were sent */
    t = g_thread_new("killer", kill_loop, &k);
    /* read until the killer has struck ten times (bounded by a deadline) */
    for (gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
         (ok < 300 || g_atomic_int_get(&k.kills) < 10) && g_get_monotonic_time() < end;) {
        dbr_error *err = NULL;
        dbr_result *r = dbr_query(db, ctx, "SELECT count(*) FROM pg_class", 0, NULL, &err);

        ck_assert_msg(r != NULL, "read %d: %s", ok, dbr_error_message(err));
        ok++;
        dbr_result_free(r);
    }
    g_atomic_int_set(&k.stop, 1);
    g_thread_join(t);
    printf("reads: all %d answered while %d backends were terminated\n", ok, k.kills);
    ck_assert_int_ge(k.kills, 10);
    ck_assert(breaker_is(db, "closed")); /* single kills never open the breaker */
    dbr_ctx_free(ctx);
    dbr_close(k.db);
    dbr_close(db);
}
END_TEST

static bool increment(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_result *r = dbr_tx_query(tx, "SELECT n FROM res_counter WHERE id = 1", 0, NULL, err);
    char next[32];
    const char *p[1] = {next};

    (void)user;
    if (!r)
        return false;
    g_snprintf(next, sizeof(next), "%lld", atoll(dbr_result_value(r, 0, 0)) + 1);
    dbr_result_free(r);
    return dbr_tx_exec(tx, "UPDATE res_counter SET n = $1::int WHERE id = 1", 1, p, err);
}

static gpointer incrementer(gpointer data)
{
    dbr_db *db = data;

    for (int i = 0; i < 200; i++) {
        dbr_error *err = NULL;

        ck_assert_msg(dbr_tx_serializable(db, NULL, increment, NULL, &err), "%s",
                      dbr_error_message(err));
    }
    return NULL;
}

START_TEST(test_pg_serializable_increments_with_retry_are_exact)
{
    dbr_db *db = open_pg("max_open_conns = 8\nmax_idle_conns = 8\n[chain]\nplugins = retry\n"
                         "[plugin.retry]\nmax_attempts = 1000\ninitial_interval = 1ms\n"
                         "max_interval = 20ms\nbudget_ratio = 1000\n");
    GThread *t[8];

    t_exec(db, "DROP TABLE IF EXISTS res_counter");
    t_exec(db, "CREATE TABLE res_counter (id int PRIMARY KEY, n int NOT NULL)");
    t_exec(db, "INSERT INTO res_counter VALUES (1, 0)");
    for (int i = 0; i < 8; i++)
        t[i] = g_thread_new("inc", incrementer, db);
    for (int i = 0; i < 8; i++)
        g_thread_join(t[i]);
    ck_assert_int_eq(t_int(db, "SELECT n FROM res_counter WHERE id = 1"), 1600);
    {
        char *m = dbr_metrics_text(db), *line = strstr(m, "dbr_retry_retries_total{db=\"default\","
                                                          "kind=\"serialization\"}");

        ck_assert_ptr_nonnull(line);
        printf("serializable increments: 1600 exact, %lld serialization retries\n",
               atoll(strchr(line, '}') + 1));
        free(m);
    }
    dbr_close(db);
}
END_TEST

typedef struct side {
    dbr_db *db;
    GMutex *lock;
    GCond *cond;
    int *arrived;
    const char *first, *second;
    int runs;
} side;

static bool locking_pair(dbr_tx *tx, void *user, dbr_error **err)
{
    side *s = user;

    if (!dbr_tx_exec(tx, s->first, 0, NULL, err))
        return false;
    if (s->runs++ == 0) { /* only the first run meets the other side */
        g_mutex_lock(s->lock);
        (*s->arrived)++;
        g_cond_broadcast(s->cond);
        while (*s->arrived < 2)
            g_cond_wait(s->cond, s->lock);
        g_mutex_unlock(s->lock);
    }
    return dbr_tx_exec(tx, s->second, 0, NULL, err);
}

static gpointer run_side(gpointer data)
{
    side *s = data;
    dbr_error *err = NULL;

    ck_assert_msg(dbr_tx_run(s->db, NULL, NULL, locking_pair, s, &err), "%s",
                  dbr_error_message(err));
    return NULL;
}

START_TEST(test_pg_deadlocked_transactions_both_commit_with_retry)
{
    dbr_db *db = open_pg("max_open_conns = 4\n[chain]\nplugins = retry\n");
    GMutex lock;
    GCond cond;
    int arrived = 0;
    side a = {db,
              &lock,
              &cond,
              &arrived,
              "UPDATE res_pair SET v = v + 1 WHERE id = 1",
              "UPDATE res_pair SET v = v + 1 WHERE id = 2",
              0};
    side b = {db,
              &lock,
              &cond,
              &arrived,
              "UPDATE res_pair SET v = v + 10 WHERE id = 2",
              "UPDATE res_pair SET v = v + 10 WHERE id = 1",
              0};
    GThread *ta, *tb;

    g_mutex_init(&lock);
    g_cond_init(&cond);
    t_exec(db, "DROP TABLE IF EXISTS res_pair");
    t_exec(db, "CREATE TABLE res_pair (id int PRIMARY KEY, v int NOT NULL)");
    t_exec(db, "INSERT INTO res_pair VALUES (1, 0), (2, 0)");
    ta = g_thread_new("a", run_side, &a);
    tb = g_thread_new("b", run_side, &b);
    g_thread_join(ta);
    g_thread_join(tb);
    /* one of them deadlocked and ran again; both committed, once each */
    ck_assert_int_eq(a.runs + b.runs, 3);
    ck_assert_int_eq(t_int(db, "SELECT v FROM res_pair WHERE id = 1"), 11);
    ck_assert_int_eq(t_int(db, "SELECT v FROM res_pair WHERE id = 2"), 11);
    g_mutex_clear(&lock);
    g_cond_clear(&cond);
    dbr_close(db);
}
END_TEST

typedef struct cutter {
    dbr_db *admin;
    t_proxy *proxy;
} cutter;

static bool insert_running(void *arg)
{
    return t_int(arg, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                      "AND query LIKE 'INSERT INTO res_once%'") == 1;
}

static gpointer cut_during_insert(gpointer data)
{
    cutter *c = data;

    ck_assert(t_wait_for(insert_running, c->admin, 20000));
    t_proxy_cut(c->proxy);
    return NULL;
}

static void count_attempts(const dbr_event *ev, void *user)
{
    if (strcmp(dbr_event_type(ev), "retry.attempt") == 0)
        (*(int *)user)++;
}

static bool insert_committed(void *arg)
{
    return t_int(arg, "SELECT count(*) FROM res_once") >= 1 &&
           t_int(arg, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                      "'INSERT INTO res_once%' AND state = 'active'") == 0;
}

START_TEST(test_pg_insert_cut_after_send_is_not_run_again)
{
    t_proxy *proxy = t_proxy_start(atoi(getenv("DBR_TEST_PGPORT")));
    cutter c = {open_pg(""), proxy};
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=%d user=dbr "
                        "dbname=dbr_test\n[chain]\nplugins = retry\n",
                        t_proxy_port(proxy));
    dbr_error *err = NULL;
    int attempts = 0;
    GThread *t;

    dbr_subscribe(db, count_attempts, &attempts);
    t_exec(c.admin, "DROP TABLE IF EXISTS res_once");
    t_exec(c.admin, "CREATE TABLE res_once (x int)");
    t = g_thread_new("cutter", cut_during_insert, &c);
    ck_assert(
        !dbr_exec(db, NULL, "INSERT INTO res_once SELECT 1 FROM pg_sleep(0.5)", 0, NULL, &err));
    g_thread_join(t);
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
    ck_assert_int_eq(dbr_error_phase_of(err), DBR_PHASE_SENT);
    ck_assert(!dbr_error_retryable(err));
    ck_assert_int_eq(attempts, 0);
    dbr_error_free(err);
    /* the server finished and committed it: retrying would have doubled it */
    ck_assert(t_wait_for(insert_committed, c.admin, 10000));
    ck_assert_int_eq(t_int(c.admin, "SELECT count(*) FROM res_once"), 1);
    dbr_close(db);
    dbr_close(c.admin);
    t_proxy_stop(proxy);
}
END_TEST

static int tx_runs;

static bool insert_one(dbr_tx *tx, void *user, dbr_error **err)
{
    tx_runs++;
    return dbr_tx_exec(tx, user, 0, NULL, err);
}

typedef struct commit_killer {
    dbr_db *admin;
    const char *where;
} commit_killer;

static bool commit_waiting(void *arg)
{
    commit_killer *k = arg;
    char *sql = g_strdup_printf("SELECT count(*) FROM pg_stat_activity WHERE query = 'COMMIT' "
                                "AND state = 'active' AND %s",
                                k->where);
    bool yes = t_int(k->admin, sql) == 1;

    g_free(sql);
    return yes;
}

static gpointer kill_commit(gpointer data)
{
    commit_killer *k = data;

    ck_assert(t_wait_for(commit_waiting, k, 20000));
    t_exec(k->admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE query = 'COMMIT' AND state = 'active'");
    return NULL;
}

START_TEST(test_pg_resolve_commit_reruns_a_transaction_that_aborted)
{
    dbr_db *db = open_pg("[chain]\nplugins = retry\n[plugin.retry]\nresolve_commit = true\n");
    commit_killer k = {open_pg(""), "true"};
    dbr_error *err = NULL;
    GThread *t;

    t_exec(k.admin, "DROP TABLE IF EXISTS res_commit");
    t_exec(k.admin, "DROP SEQUENCE IF EXISTS res_commit_seq");
    t_exec(k.admin, "CREATE TABLE res_commit (x int)");
    t_exec(k.admin, "CREATE SEQUENCE res_commit_seq");
    /* COMMIT runs a deferred trigger that sleeps the first time only */
    t_exec(k.admin, "CREATE OR REPLACE FUNCTION res_commit_fn() RETURNS trigger LANGUAGE plpgsql "
                    "AS $$ BEGIN IF nextval('res_commit_seq') = 1 THEN PERFORM pg_sleep(30); "
                    "END IF; RETURN NULL; END $$");
    t_exec(k.admin, "CREATE CONSTRAINT TRIGGER res_commit_trg AFTER INSERT ON res_commit "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION res_commit_fn()");
    tx_runs = 0;
    t = g_thread_new("killer", kill_commit, &k);
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, insert_one, "INSERT INTO res_commit VALUES (1)", &err),
                  "%s", dbr_error_message(err));
    g_thread_join(t);
    /* killed during COMMIT, found aborted, run again, committed once */
    ck_assert_int_eq(tx_runs, 2);
    ck_assert_int_eq(t_int(k.admin, "SELECT count(*) FROM res_commit"), 1);
    dbr_close(k.admin);
    dbr_close(db);
}
END_TEST

static bool setting_is(void *arg)
{
    char *v = t_value(arg, "SHOW synchronous_standby_names");
    bool set = strcmp(v, "dbr_nosuch_standby") == 0;

    g_free(v);
    return set;
}

START_TEST(test_pg_resolve_commit_turns_a_lost_answer_into_success)
{
    /* With a synchronous standby that never comes, COMMIT commits locally
     * and then waits: killing it then loses the answer of a commit that
     * did happen. The admin sessions commit locally so they never wait. */
    dbr_db *admin = t_open("[database]\ndriver = pq\nconninfo = %s "
                           "options='-c synchronous_commit=local'\n",
                           t_conninfo());
    commit_killer k = {admin, "wait_event = 'SyncRep'"};
    dbr_db *db;
    dbr_error *err = NULL;
    GThread *t;

    t_exec(admin, "DROP TABLE IF EXISTS res_sync");
    t_exec(admin, "CREATE TABLE res_sync (x int)");
    t_exec(admin, "ALTER SYSTEM SET synchronous_standby_names = 'dbr_nosuch_standby'");
    t_exec(admin, "SELECT pg_reload_conf()");
    db = open_pg("[chain]\nplugins = retry\n[plugin.retry]\nresolve_commit = true\n");
    ck_assert(t_wait_for(setting_is, db, 10000));
    tx_runs = 0;
    t = g_thread_new("killer", kill_commit, &k);
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, insert_one, "INSERT INTO res_sync VALUES (1)", &err),
                  "%s", dbr_error_message(err));
    g_thread_join(t);
    ck_assert_int_eq(tx_runs, 1); /* committed: not run again */
    t_exec(admin, "ALTER SYSTEM RESET synchronous_standby_names");
    t_exec(admin, "SELECT pg_reload_conf()");
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM res_sync"), 1);
    dbr_close(db);
    dbr_close(admin);
}
END_TEST

/* The bank: transfers between accounts under faults. Money is never created
 * or destroyed, and every transfer lands exactly once, even when COMMIT's
 * answer is lost (resolved by looking for its unique id). */
#define BANK_ACCOUNTS  10
#define BANK_THREADS   4
#define BANK_TRANSFERS 150

typedef struct bank {
    dbr_db *db;
    gint unknown, tellers;
} bank;

typedef struct transfer {
    char id[32], from[8], to[8];
} transfer;

static bool do_transfer(dbr_tx *tx, void *user, dbr_error **err)
{
    const transfer *t = user;
    const char *debit[] = {t->from}, *credit[] = {t->to}, *log[] = {t->id, t->from, t->to};

    return dbr_tx_exec(tx, "UPDATE bank_accounts SET balance = balance - 7 WHERE id = $1::int", 1,
                       debit, err) &&
           dbr_tx_exec(tx, "UPDATE bank_accounts SET balance = balance + 7 WHERE id = $1::int", 1,
                       credit, err) &&
           dbr_tx_exec(tx, "INSERT INTO bank_log (id, src, dst) VALUES ($1, $2::int, $3::int)", 3,
                       log, err);
}

static gpointer teller(gpointer data)
{
    bank *b = data;
    int me = g_atomic_int_add(&b->tellers, 1);

    for (int i = 0; i < BANK_TRANSFERS; i++) {
        transfer t;
        int from = g_random_int_range(1, BANK_ACCOUNTS + 1), to = from % BANK_ACCOUNTS + 1;

        g_snprintf(t.id, sizeof(t.id), "teller%d-%d", me, i);
        g_snprintf(t.from, sizeof(t.from), "%d", from);
        g_snprintf(t.to, sizeof(t.to), "%d", to);
        for (int attempt = 0;; attempt++) {
            dbr_error *err = NULL;

            if (dbr_tx_run(b->db, NULL, NULL, do_transfer, &t, &err))
                break;
            ck_assert_msg(attempt < 20, "transfer %s: %s", t.id, dbr_error_message(err));
            if (dbr_error_kind_of(err) == DBR_ERR_COMMIT_UNKNOWN) {
                /* the idempotency key says whether it happened */
                const char *p[] = {t.id};
                dbr_result *r = dbr_query(
                    b->db, NULL, "SELECT count(*) FROM bank_log WHERE id = $1", 1, p, NULL);
                bool landed = r && strcmp(dbr_result_value(r, 0, 0), "1") == 0;

                dbr_result_free(r);
                g_atomic_int_inc(&b->unknown);
                dbr_error_free(err);
                if (landed)
                    break;
                continue;
            }
            /* retry gave up on something transient: the application tries again */
            ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_CONNECTION ||
                              dbr_error_kind_of(err) == DBR_ERR_SERIALIZATION ||
                              dbr_error_kind_of(err) == DBR_ERR_DEADLOCK,
                          "transfer %s: %s", t.id, dbr_error_message(err));
            dbr_error_free(err);
        }
    }
    return NULL;
}

START_TEST(test_pg_bank_invariant_holds_under_faults)
{
    bank b = {.db = t_open("[database]\ndriver = pq\nconninfo = %s application_name=dbr_bank\n"
                           "max_open_conns = 4\n[chain]\nplugins = retry, breaker, chaos\n"
                           "[plugin.retry]\nmax_attempts = 8\ninitial_interval = 1ms\n"
                           "max_interval = 20ms\nbudget_ratio = 10\nresolve_commit = true\n"
                           "[plugin.breaker]\nmax_failures = 50\n"
                           "[plugin.chaos]\nenabled = true\nseed = 99\nerror_rate = 0.05\n"
                           "drop_rate = 0.05\n",
                           t_conninfo())};
    killer k = {.db = open_pg("")};
    GThread *tellers[BANK_THREADS], *kt;
    char *sql;

    t_exec(k.db, "DROP TABLE IF EXISTS bank_accounts, bank_log");
    t_exec(k.db, "CREATE TABLE bank_accounts (id int PRIMARY KEY, balance bigint NOT NULL)");
    t_exec(k.db, "CREATE TABLE bank_log (id text PRIMARY KEY, src int, dst int)");
    sql = g_strdup_printf("INSERT INTO bank_accounts SELECT g, 1000 FROM generate_series(1, %d) g",
                          BANK_ACCOUNTS);
    t_exec(k.db, sql);
    g_free(sql);
    /* kill the tellers' backends now and then, while they work */
    kt = g_thread_new("killer", kill_bank, &k);
    for (int i = 0; i < BANK_THREADS; i++)
        tellers[i] = g_thread_new("teller", teller, &b);
    for (int i = 0; i < BANK_THREADS; i++)
        g_thread_join(tellers[i]);
    g_atomic_int_set(&k.stop, 1);
    g_thread_join(kt);
    printf("bank: %d transfers, %d backends terminated, %d unknown commits resolved by id\n",
           BANK_THREADS * BANK_TRANSFERS, g_atomic_int_get(&k.kills), g_atomic_int_get(&b.unknown));
    ck_assert_int_eq(t_int(k.db, "SELECT sum(balance) FROM bank_accounts"), 1000 * BANK_ACCOUNTS);
    ck_assert_int_eq(t_int(k.db, "SELECT count(*) FROM bank_log"), BANK_THREADS * BANK_TRANSFERS);
    /* every logged transfer moved money once: balances agree with the log */
    ck_assert_int_eq(t_int(k.db, "SELECT count(*) FROM bank_accounts a WHERE balance <> 1000 + 7 * "
                                 "((SELECT count(*) FROM bank_log WHERE dst = a.id) - "
                                 "(SELECT count(*) FROM bank_log WHERE src = a.id))"),
                     0);
    dbr_close(k.db);
    dbr_close(b.db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_resilience");
    TCase *tc = tcase_create("pg_resilience");

    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_pg_breaker_opens_when_server_stops_and_closes_after_restart);
    tcase_add_test(tc, test_pg_open_waits_out_a_server_that_is_starting);
    tcase_add_test(tc, test_pg_reads_survive_terminated_backends);
    tcase_add_test(tc, test_pg_serializable_increments_with_retry_are_exact);
    tcase_add_test(tc, test_pg_deadlocked_transactions_both_commit_with_retry);
    tcase_add_test(tc, test_pg_insert_cut_after_send_is_not_run_again);
    tcase_add_test(tc, test_pg_resolve_commit_reruns_a_transaction_that_aborted);
    tcase_add_test(tc, test_pg_resolve_commit_turns_a_lost_answer_into_success);
    tcase_add_test(tc, test_pg_bank_invariant_holds_under_faults);
    suite_add_tcase(s, tc);
    return t_run(s);
}
