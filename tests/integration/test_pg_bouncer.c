/* SPDX-License-Identifier: MIT */
/*
 * The workload through PgBouncer 1.18 in transaction mode (the Debian
 * package, started by scripts/lib/pgbouncer.sh in front of the test
 * cluster), with the default chain: what works there, what dbr refuses
 * with [database] pooler = transaction and why, and a server restart behind
 * the bouncer. docs/pgbouncer.md is the table these tests back.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbr/log.h>

#include "../testutil.h"

static const char *bouncer(void)
{
    const char *c = getenv("DBR_TEST_BOUNCER_CONNINFO");

    ck_assert_msg(c && *c, "DBR_TEST_BOUNCER_CONNINFO is not set: run the suite through "
                           "scripts/run-tests.sh, which starts PgBouncer beside the server");
    return c;
}

#define CHAIN                                                                                      \
    "[chain]\nplugins = retry, breaker, health\n"                                                  \
    "[plugin.retry]\nmax_attempts = 60\ninitial_interval = 20ms\nmax_interval = 250ms\n"           \
    "[plugin.breaker]\nmax_failures = 1000\n"

static dbr_db *open_bouncer(const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s\npooler = transaction\n%s\n" CHAIN,
                  bouncer(), extra ? extra : "");
}

static void assert_value(dbr_db *db, const char *sql, const char *want)
{
    char *v = t_value(db, sql);

    ck_assert_msg(strcmp(v, want) == 0, "%s: %s, expected %s", sql, v, want);
    g_free(v);
}

/* --- what works --------------------------------------------------------- */

START_TEST(test_bouncer_exec_and_query_with_parameters)
{
    dbr_db *db = open_bouncer(NULL);
    dbr_error *err = NULL;

    t_exec(db, "DROP TABLE IF EXISTS bouncer_kv");
    t_exec(db, "CREATE TABLE bouncer_kv (k int PRIMARY KEY, v text)");
    for (int i = 0; i < 50; i++) {
        char k[16], v[32];
        const char *p[2] = {k, v};

        g_snprintf(k, sizeof(k), "%d", i);
        g_snprintf(v, sizeof(v), "value %d", i);
        ck_assert_msg(dbr_exec(db, NULL, "INSERT INTO bouncer_kv VALUES ($1::int, $2)", 2, p, &err),
                      "%s", dbr_error_message(err));
    }
    {
        const char *p[1] = {"42"};
        dbr_result *r =
            dbr_query(db, NULL, "SELECT v FROM bouncer_kv WHERE k = $1::int", 1, p, &err);

        ck_assert_msg(r, "%s", dbr_error_message(err));
        ck_assert_str_eq(dbr_result_value(r, 0, 0), "value 42");
        dbr_result_free(r);
    }
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM bouncer_kv"), 50);
    /* Through the bouncer indeed: we connect over TCP, the bouncer reaches
     * the server over its unix socket. */
    assert_value(db, "SELECT inet_client_addr() IS NULL", "t");
    ck_assert(dbr_ping(db, NULL, &err));
    dbr_close(db);
}
END_TEST

typedef struct querier {
    dbr_db *db;
    int base, wrong;
} querier;

static gpointer query_loop(gpointer p)
{
    querier *q = p;

    for (int i = 0; i < 100; i++) {
        char n[16];
        const char *params[1] = {n};
        dbr_error *err = NULL;
        dbr_result *r;

        g_snprintf(n, sizeof(n), "%d", q->base + i);
        r = dbr_query(q->db, NULL, "SELECT $1::int * 2", 1, params, &err);
        if (!r || atoi(dbr_result_value(r, 0, 0)) != 2 * (q->base + i))
            q->wrong++;
        dbr_result_free(r);
        dbr_error_free(err);
    }
    return NULL;
}

/* Each statement is an unnamed prepared statement sent whole (Parse, Bind,
 * Execute, Sync): 4 threads of 100 through 4 client connections, with the
 * bouncer's servers shared among them, each answer its own. */
START_TEST(test_bouncer_parallel_parameterized_queries)
{
    dbr_db *db = open_bouncer("max_open_conns = 4");
    querier q[4];
    GThread *th[4];

    for (int i = 0; i < 4; i++) {
        q[i] = (querier){db, i * 1000, 0};
        th[i] = g_thread_new("q", query_loop, &q[i]);
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(th[i]);
        ck_assert_int_eq(q[i].wrong, 0);
    }
    dbr_close(db);
}
END_TEST

static bool inner_fails(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "INSERT INTO bouncer_tx VALUES (2)", 0, NULL, err) &&
           dbr_tx_exec(tx, "SELECT 1/0", 0, NULL, err);
}

static bool outer(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_error *inner = NULL;

    (void)user;
    /* Session-like state that ends with the transaction is fine. */
    if (!dbr_tx_exec(tx, "SET LOCAL statement_timeout = '5s'", 0, NULL, err) ||
        !dbr_tx_exec(tx, "SELECT set_config('work_mem', '8MB', true)", 0, NULL, err) ||
        !dbr_tx_exec(tx, "CREATE TEMP TABLE bouncer_scratch (x int) ON COMMIT DROP", 0, NULL,
                     err) ||
        !dbr_tx_advisory_lock(tx, 4242, 5000, err) ||
        !dbr_tx_exec(tx, "INSERT INTO bouncer_tx VALUES (1)", 0, NULL, err))
        return false;
    ck_assert(!dbr_tx_savepoint(tx, inner_fails, NULL, &inner));
    dbr_error_free(inner);
    return dbr_tx_exec(tx, "INSERT INTO bouncer_tx VALUES (3)", 0, NULL, err);
}

START_TEST(test_bouncer_transactions_savepoints_and_local_settings)
{
    dbr_db *db = open_bouncer(NULL);
    dbr_error *err = NULL;

    t_exec(db, "DROP TABLE IF EXISTS bouncer_tx");
    t_exec(db, "CREATE TABLE bouncer_tx (x int)");
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, outer, NULL, &err), "%s", dbr_error_message(err));
    ck_assert_msg(dbr_tx_serializable(db, NULL, outer, NULL, &err), "%s", dbr_error_message(err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM bouncer_tx"), 4);
    ck_assert_int_eq(t_int(db, "SELECT sum(x) FROM bouncer_tx"), 8);
    dbr_close(db);
}
END_TEST

static bool add_one(dbr_tx *tx, void *user, dbr_error **err)
{
    (*(int *)user)++;
    return dbr_tx_exec(tx, "UPDATE bouncer_once SET n = n + 1", 0, NULL, err);
}

START_TEST(test_bouncer_tx_run_once_applies_a_key_once)
{
    dbr_db *db = open_bouncer(NULL);
    dbr_error *err = NULL;
    bool again = true;
    int runs = 0;
    char key[64];

    t_exec(db, "DROP TABLE IF EXISTS bouncer_once");
    t_exec(db, "CREATE TABLE bouncer_once (n int)");
    t_exec(db, "INSERT INTO bouncer_once VALUES (0)");
    g_snprintf(key, sizeof(key), "bouncer-once-%lld", (long long)g_get_real_time());
    ck_assert_msg(dbr_tx_run_once(db, NULL, NULL, key, add_one, &runs, &again, &err), "%s",
                  dbr_error_message(err));
    ck_assert(!again);
    ck_assert(dbr_tx_run_once(db, NULL, NULL, key, add_one, &runs, &again, &err));
    ck_assert(again);
    ck_assert_int_eq(runs, 1);
    ck_assert_int_eq(t_int(db, "SELECT n FROM bouncer_once"), 1);
    dbr_close(db);
}
END_TEST

static GString *warnings;
static GMutex warnings_lock;

static void keep_warnings(dbr_log_level level, const char *layer, const char *message,
                          const char *const *fields, void *user)
{
    (void)fields;
    (void)user;
    if (level > DBR_LOG_WARNING)
        return;
    g_mutex_lock(&warnings_lock);
    g_string_append_printf(warnings, "%s: %s\n", layer, message);
    g_mutex_unlock(&warnings_lock);
}

static bool insert_one(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "INSERT INTO bouncer_commit VALUES (1)", 0, NULL, err);
}

/* The pq driver pipelines COMMIT behind the transaction id request; the
 * bouncer passes the pipeline through (each request ends in its own Sync,
 * and the server stays the client's until the idle ReadyForQuery), so the
 * probe says yes and no warning is logged. */
START_TEST(test_bouncer_commit_tracking_passes_through)
{
    dbr_db *db;
    dbr_error *err = NULL;

    warnings = g_string_new(NULL);
    dbr_log_set_handler(keep_warnings, NULL);
    db = open_bouncer(NULL);
    t_exec(db, "DROP TABLE IF EXISTS bouncer_commit");
    t_exec(db, "CREATE TABLE bouncer_commit (x int)");
    for (int i = 0; i < 20; i++)
        ck_assert_msg(dbr_tx_run(db, NULL, NULL, insert_one, NULL, &err), "%s",
                      dbr_error_message(err));
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM bouncer_commit"), 20);
    dbr_close(db);
    dbr_log_set_handler(NULL, NULL);
    ck_assert_msg(strstr(warnings->str, "pipelined") == NULL, "%s", warnings->str);
    g_string_free(warnings, TRUE);
}
END_TEST

/* A COMMIT whose answer is lost behind the bouncer (its server terminated
 * while COMMIT waits) is resolved by transaction id on fresh connections
 * through the bouncer: an aborted one is reported not applied, a committed
 * one committed, never the other way round. */
typedef struct commit_killer {
    dbr_db *admin;
    const char *where;
    int killed;
} commit_killer;

static bool commit_waiting(void *arg)
{
    commit_killer *k = arg;
    char *sql = g_strdup_printf("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                "'dbr_bc_commit' AND query = 'COMMIT' AND state = 'active' AND %s",
                                k->where);
    bool yes = t_int(k->admin, sql) == 1;

    g_free(sql);
    return yes;
}

static gpointer kill_during_commit(gpointer data)
{
    commit_killer *k = data;

    ck_assert(t_wait_for(commit_waiting, k, 20000));
    k->killed = (int)t_int(k->admin, "SELECT count(pg_terminate_backend(pid)) FROM "
                                     "pg_stat_activity WHERE application_name = 'dbr_bc_commit' "
                                     "AND query = 'COMMIT'");
    return NULL;
}

static bool insert_commit_row(dbr_tx *tx, void *user, dbr_error **err)
{
    (*(int *)user)++;
    return dbr_tx_exec(tx, "INSERT INTO bouncer_lost VALUES (1)", 0, NULL, err);
}

static bool sync_standby_set(void *arg)
{
    char *v = t_value(arg, "SHOW synchronous_standby_names");
    bool set = strcmp(v, "dbr_bc_nomatch") == 0;

    g_free(v);
    return set;
}

static dbr_db *open_commit_victim(const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s application_name=dbr_bc_commit\n"
                  "pooler = transaction\n[chain]\nplugins = retry, breaker, health\n"
                  "[plugin.retry]\nresolve_commit = true\ninitial_interval = 1ms\n"
                  "max_interval = 10ms\n%s",
                  bouncer(), extra);
}

START_TEST(test_bouncer_lost_commit_is_resolved_through_the_bouncer)
{
    dbr_db *admin = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo()), *db;
    commit_killer k = {admin, "true", 0};
    dbr_error *err = NULL;
    GThread *th;
    int runs = 0;
    bool ok;

    t_exec(admin, "DROP TABLE IF EXISTS bouncer_lost");
    t_exec(admin, "DROP SEQUENCE IF EXISTS bouncer_lost_seq");
    t_exec(admin, "CREATE TABLE bouncer_lost (x int)");
    t_exec(admin, "CREATE SEQUENCE bouncer_lost_seq");
    /* Aborted: a deferred trigger sleeps in COMMIT, the first time only. */
    t_exec(admin, "CREATE OR REPLACE FUNCTION bouncer_lost_fn() RETURNS trigger LANGUAGE plpgsql "
                  "AS $$ BEGIN IF nextval('bouncer_lost_seq') = 1 THEN PERFORM pg_sleep(30); "
                  "END IF; RETURN NULL; END $$");
    t_exec(admin, "CREATE CONSTRAINT TRIGGER bouncer_lost_trg AFTER INSERT ON bouncer_lost "
                  "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bouncer_lost_fn()");
    db = open_commit_victim("max_attempts = 1\n");
    th = g_thread_new("killer", kill_during_commit, &k);
    ok = dbr_tx_run(db, NULL, NULL, insert_commit_row, &runs, &err);
    g_thread_join(th);
    ck_assert_int_eq(k.killed, 1);
    ck_assert_msg(!ok, "an aborted transaction reported committed");
    ck_assert_msg(dbr_error_kind_of(err) != DBR_ERR_COMMIT_UNKNOWN, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(runs, 1);
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM bouncer_lost"), 0);
    g_clear_pointer(&err, dbr_error_free);
    dbr_close(db);
    t_exec(admin, "DROP TRIGGER bouncer_lost_trg ON bouncer_lost");

    /* Committed: a synchronous standby that never comes holds COMMIT after
     * the local commit; its server is terminated there. */
    t_exec(admin, "ALTER SYSTEM SET synchronous_standby_names = 'dbr_bc_nomatch'");
    t_exec(admin, "SELECT pg_reload_conf()");
    ck_assert(t_wait_for(sync_standby_set, admin, 10000));
    db = open_commit_victim("");
    runs = 0;
    k.where = "wait_event = 'SyncRep'";
    k.killed = 0;
    th = g_thread_new("killer", kill_during_commit, &k);
    ok = dbr_tx_run(db, NULL, NULL, insert_commit_row, &runs, &err);
    g_thread_join(th);
    t_exec(admin, "ALTER SYSTEM RESET synchronous_standby_names");
    t_exec(admin, "SELECT pg_reload_conf()");
    ck_assert_int_eq(k.killed, 1);
    ck_assert_msg(ok, "a transaction that committed was reported %s: %s",
                  dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err));
    ck_assert_int_eq(runs, 1);
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM bouncer_lost"), 1);
    dbr_close(db);
    t_exec(admin, "DROP TABLE bouncer_lost");
    t_exec(admin, "DROP SEQUENCE bouncer_lost_seq");
    t_exec(admin, "DROP FUNCTION bouncer_lost_fn()");
    dbr_close(admin);
}
END_TEST

/* A deadline cancels the statement on the server: the bouncer forwards
 * the cancel request to the server that runs it. */
START_TEST(test_bouncer_deadline_cancels_on_the_server)
{
    dbr_db *db = open_bouncer(NULL);
    dbr_ctx *ctx = dbr_ctx_with_timeout(300);
    dbr_error *err = NULL;
    gint64 t0 = g_get_monotonic_time();

    ck_assert(!dbr_exec(db, ctx, "SELECT pg_sleep(20)", 0, NULL, &err));
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_TIMEOUT, "%s", dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_lt(g_get_monotonic_time() - t0, 5 * G_USEC_PER_SEC);
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM pg_stat_activity "
                               "WHERE query = 'SELECT pg_sleep(20)' AND state = 'active'"),
                     0);
    dbr_close(db);
}
END_TEST

/* The health plugin's checks (a ping and its probe query) through the
 * bouncer. */
START_TEST(test_bouncer_health_check)
{
    dbr_db *db = open_bouncer(NULL);
    dbr_error *err = NULL;
    char *reply = NULL;

    ck_assert_msg(dbr_control(db, "health", "check", &reply, &err), "%s", dbr_error_message(err));
    /* Whatever the JSON's spacing. */
    {
        char *packed = g_strdup(reply);
        char *w = packed;

        for (const char *c = reply; *c; c++)
            if (*c != ' ' && *c != '\n')
                *w++ = *c;
        *w = '\0';
        ck_assert_msg(strstr(packed, "\"status\":\"healthy\"") && strstr(packed, "\"ok\":true"),
                      "%s", reply);
        g_free(packed);
    }
    free(reply);
    dbr_close(db);
}
END_TEST

/* --- what is refused, and why ------------------------------------------- */

static const char *const session_bound[][2] = {
    {"SET statement_timeout = '1ms'", "SET"},
    {"set session search_path = public", "SET"},
    {"SET ROLE dbr", "SET"},
    {"RESET statement_timeout", "RESET"},
    {"PREPARE bouncer_p AS SELECT 1", "PREPARE"},
    {"LISTEN bouncer_channel", "LISTEN"},
    {"SELECT pg_advisory_lock(7)", "pg_advisory_lock"},
    {"SELECT pg_try_advisory_lock_shared(7)", "pg_try_advisory_lock_shared"},
    {"CREATE TEMP TABLE bouncer_t (x int)", "TEMP"},
    {"SELECT 1 INTO TEMPORARY bouncer_t2", "TEMP"},
    {"CREATE TABLE pg_temp.bouncer_t3 (x int)", "pg_temp"},
    {"SELECT pg_advisory_unlock_all()", "pg_advisory_unlock_all"},
    {"SELECT dblink_connect('other', 'dbname=x')", "dblink_connect"},
    {"SELECT set_config('search_path', 'public', 1 = 1)", "set_config"},
    {"DECLARE bouncer_c CURSOR WITH HOLD FOR SELECT 1", "WITH HOLD"},
    {"SELECT set_config('search_path', 'public', false)", "set_config"},
    {"LOAD 'auto_explain'", "LOAD"},
};

static void assert_refused(dbr_error *err, const char *sql, const char *what)
{
    ck_assert_msg(err, "%s: accepted", sql);
    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_MISUSE, "%s: %s (%s)", sql,
                  dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err));
    ck_assert_msg(strstr(dbr_error_message(err), what), "%s: message lacks \"%s\": %s", sql, what,
                  dbr_error_message(err));
    ck_assert_msg(strstr(dbr_error_message(err), "pooler"), "%s: %s", sql, dbr_error_message(err));
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert(!dbr_error_retryable(err));
}

static bool tx_one(dbr_tx *tx, void *user, dbr_error **err)
{
    return dbr_tx_exec(tx, user, 0, NULL, err);
}

START_TEST(test_bouncer_refuses_session_state_with_a_clear_error)
{
    dbr_db *db = open_bouncer(NULL);

    for (size_t i = 0; i < G_N_ELEMENTS(session_bound); i++) {
        const char *sql = session_bound[i][0], *what = session_bound[i][1];
        char *script = g_strdup_printf("SELECT 1; %s; SELECT 2", sql);
        dbr_error *err = NULL;

        ck_assert(!dbr_exec(db, NULL, sql, 0, NULL, &err));
        assert_refused(err, sql, what);
        if (i == 0)
            printf("%s\n", dbr_error_message(err));
        dbr_error_free(err);
        err = NULL;
        ck_assert(!dbr_tx_run(db, NULL, NULL, tx_one, (void *)sql, &err));
        assert_refused(err, sql, what);
        dbr_error_free(err);
        err = NULL;
        ck_assert(!dbr_exec_script(db, NULL, script, &err));
        assert_refused(err, script, what);
        dbr_error_free(err);
        g_free(script);
    }
    /* Nothing of it reached the server, and the breaker counted none of it. */
    assert_value(db, "SELECT current_setting('statement_timeout')", "0");
    {
        char *reply = NULL;

        ck_assert(dbr_control(db, "breaker", "state", &reply, NULL));
        ck_assert_msg(strstr(reply, "state=closed") && strstr(reply, " failures=0"), "%s", reply);
        free(reply);
    }
    /* Look-alikes that end with their transaction or name nothing of the
     * session: a string, a comment, a column called temp, NOTIFY, DO. */
    t_exec(db, "SELECT 'SET x = 1; LISTEN y; temp', 1 AS temp /* PREPARE */");
    t_exec(db, "NOTIFY bouncer_channel, 'hello'");
    t_exec(db, "SELECT pg_notify('bouncer_channel', 'x')");
    t_exec(db, "DO $$ BEGIN PERFORM 1; END $$");
    t_exec(db, "SELECT pg_try_advisory_xact_lock(7)");
    t_exec(db, "DISCARD ALL");
    dbr_close(db);
}
END_TEST

/* Why: with the bouncer in transaction mode the server session behind a
 * client changes from one transaction to the next, so a session-level
 * setting of one client is found by another. pooler = none lets it
 * through, and the leak shows. (reset = auto would send DISCARD ALL after
 * the SET, which the bouncer most often, not always, gives to the same
 * server: another client may take that server in between.) */
START_TEST(test_bouncer_session_settings_leak_between_clients_without_pooler)
{
    dbr_db *a, *b;
    bool leaked = false;

    /* (Their warning that pooler = none is wrong here is the next test's.) */
    warnings = g_string_new(NULL);
    dbr_log_set_handler(keep_warnings, NULL);
    a = t_open("[database]\ndriver = pq\nconninfo = %s\nreset = none\n", bouncer());
    b = t_open("[database]\ndriver = pq\nconninfo = %s\nmax_open_conns = 1\n", bouncer());

    /* A setting the bouncer does not track (it re-sends application_name,
     * client_encoding, DateStyle, TimeZone and standard_conforming_strings
     * to each client's server, nothing else). */
    t_exec(a, "SET dbr.bouncer_leak = 'from a'");
    /* The bouncer hands its idle server to the next client: poll b until it
     * meets a's setting. */
    for (int i = 0; i < 200 && !leaked; i++) {
        char *v = t_value(b, "SELECT current_setting('dbr.bouncer_leak', true)");

        leaked = strcmp(v, "from a") == 0;
        g_free(v);
    }
    ck_assert_msg(leaked, "client b never met client a's SET");
    dbr_close(a);
    dbr_close(b);
    dbr_log_set_handler(NULL, NULL);
    g_string_free(warnings, TRUE);
}
END_TEST

static char *warnings_of_open(const char *conninfo, const char *pooler)
{
    dbr_db *db;
    char *out;

    warnings = g_string_new(NULL);
    dbr_log_set_handler(keep_warnings, NULL);
    db = t_open("[database]\ndriver = pq\nconninfo = %s\npooler = %s\n", conninfo, pooler);
    dbr_close(db);
    dbr_log_set_handler(NULL, NULL);
    out = g_string_free(warnings, FALSE);
    warnings = NULL;
    return out;
}

/* A config that does not match what stands in front is caught at open. */
START_TEST(test_bouncer_open_warns_when_pooler_setting_contradicts)
{
    char *w;

    w = warnings_of_open(bouncer(), "none");
    ck_assert_msg(strstr(w, "pooler answers for the server") && strstr(w, "pooler = transaction"),
                  "no warning through the bouncer with pooler = none: %s", w);
    g_free(w);
    w = warnings_of_open(t_conninfo(), "transaction");
    ck_assert_msg(strstr(w, "straight to the server"), "no warning: %s", w);
    g_free(w);
    w = warnings_of_open(bouncer(), "transaction");
    ck_assert_msg(!strstr(w, "pooler"), "%s", w);
    g_free(w);
    w = warnings_of_open(t_conninfo(), "none");
    ck_assert_msg(!strstr(w, "pooler"), "%s", w);
    g_free(w);
}
END_TEST

/* dbr_open that does not connect (connect_on_open = false) leaves the
 * look to the first call, which warns (and turns the statement cache off:
 * the same flag). */
static bool tx_select_one(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "SELECT 1", 0, NULL, err);
}

START_TEST(test_bouncer_undeclared_pooler_is_found_by_the_first_call)
{
    const char *sql = "SELECT $1::int + 1";
    const char *p[1] = {"1"};
    dbr_error *err = NULL;
    dbr_db *db;
    char *w;

    warnings = g_string_new(NULL);
    dbr_log_set_handler(keep_warnings, NULL);
    db = t_open("[database]\ndriver = pq\nconninfo = %s\nconnect_on_open = false\n", bouncer());
    ck_assert_msg(!strstr(warnings->str, "pooler"), "%s", warnings->str);
    for (int i = 0; i < 3; i++) {
        dbr_result *r = dbr_query(db, NULL, sql, 1, p, &err);

        ck_assert_msg(r, "%s", dbr_error_message(err));
        dbr_result_free(r);
    }
    dbr_close(db);
    dbr_log_set_handler(NULL, NULL);
    w = g_string_free(warnings, FALSE);
    warnings = NULL;
    ck_assert_msg(strstr(w, "pooler answers for the server"), "no warning: %s", w);
    g_free(w);
    /* The same for a program that only runs transactions */
    warnings = g_string_new(NULL);
    dbr_log_set_handler(keep_warnings, NULL);
    db = t_open("[database]\ndriver = pq\nconninfo = %s\nconnect_on_open = false\n", bouncer());
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, tx_select_one, NULL, &err), "%s",
                  dbr_error_message(err));
    dbr_close(db);
    dbr_log_set_handler(NULL, NULL);
    w = g_string_free(warnings, FALSE);
    warnings = NULL;
    ck_assert_msg(strstr(w, "pooler answers for the server"), "no warning for a transaction: %s",
                  w);
    g_free(w);
}
END_TEST

/* Startup settings in the conninfo: PgBouncer refuses them at connect
 * (and with ignore_startup_parameters = options it would drop them without
 * a word), and dbr_open says so. */
START_TEST(test_bouncer_conninfo_options_are_refused_at_open)
{
    dbr_error *err = t_open_fail("[database]\ndriver = pq\nconninfo = %s "
                                 "options='-c statement_timeout=5s'\npooler = transaction\n",
                                 bouncer());

    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONNECTION);
    ck_assert_msg(strstr(dbr_error_message(err), "unsupported startup parameter: options"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
}
END_TEST

static long long metric(dbr_db *db, const char *name)
{
    char *text = dbr_metrics_text(db);
    const char *p = strstr(text, name);
    long long v;

    ck_assert_msg(p, "no %s in the metrics", name);
    p = strchr(p, ' ');
    v = atoll(p + 1);
    free(text);
    return v;
}

/* DISCARD ALL would run on whichever server the bouncer picks, not on the
 * session the statement changed: with pooler = transaction the pool never
 * sends it (reset = auto), and refuses a reset it was asked for. */
START_TEST(test_bouncer_pool_sends_no_reset)
{
    dbr_db *db = open_bouncer(NULL);
    dbr_error *err;

    /* DO and a local set_config are what reset = auto resets after. */
    t_exec(db, "DO $$ BEGIN PERFORM 1; END $$");
    t_exec(db, "SELECT set_config('work_mem', '8MB', true)");
    ck_assert_int_eq(metric(db, "dbr_pool_session_resets_total{"), 0);
    dbr_close(db);

    err = t_open_fail("[database]\ndriver = pq\nconninfo = %s\npooler = transaction\n"
                      "reset = always\n",
                      bouncer());
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), "reset") &&
                      strstr(dbr_error_message(err), "pooler"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    err = t_open_fail("[database]\ndriver = pq\nconninfo = %s\npooler = bouncer\n", bouncer());
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), "pooler") &&
                      strstr(dbr_error_message(err), "transaction"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
}
END_TEST

/* --- migrations --------------------------------------------------------- */

static char *migration_dir(const char *name, const char *const *files)
{
    char *dir = t_tmpdir(name);

    for (int i = 0; files[i]; i += 2) {
        char *path = g_build_filename(dir, files[i], NULL);

        ck_assert(g_file_set_contents(path, files[i + 1], -1, NULL));
        g_free(path);
    }
    return dir;
}

static dbr_db *open_migrate(const char *dir, const char *table)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s\npooler = transaction\n"
                  "[chain]\nplugins = retry, breaker, health, migrate\n"
                  "[plugin.migrate]\ndir = %s\ntable = %s\n",
                  bouncer(), dir, table);
}

typedef struct racer {
    const char *dir;
    bool ok;
    char *error;
} racer;

static gpointer race_up(gpointer p)
{
    racer *r = p;
    dbr_db *db = open_migrate(r->dir, "bouncer_history");
    dbr_error *err = NULL;
    char *reply = NULL;

    r->ok = dbr_control(db, "migrate", "up", &reply, &err);
    if (!r->ok)
        r->error = g_strdup(dbr_error_message(err));
    dbr_error_free(err);
    free(reply);
    dbr_close(db);
    return NULL;
}

/* Advisory xact locks hold for the transaction, which the bouncer keeps on
 * one server: three processes' `up` apply each migration once. Then a
 * no-transaction file runs statement by statement (CREATE INDEX
 * CONCURRENTLY), by one process: a concurrent `up` that meets its dirty
 * row while it runs stops, as it does without a bouncer. */
START_TEST(test_bouncer_migrate_up_concurrently)
{
    const char *const files[] = {
        "1_a.up.sql", "CREATE TABLE bouncer_m (x int); INSERT INTO bouncer_m VALUES (1);",
        "2_b.up.sql", "INSERT INTO bouncer_m VALUES (2);",
        NULL,
    };
    const char *const no_tx[] = {
        "3_c.up.sql",
        "-- dbr:no-transaction\nCREATE INDEX CONCURRENTLY bouncer_m_x ON bouncer_m (x);\n"
        "INSERT INTO bouncer_m VALUES (3);\n",
        NULL,
    };
    char *dir = migration_dir("bouncer-migrate", files), *dir2;
    racer r[3] = {{0}};
    GThread *th[3];
    dbr_db *db = open_bouncer(NULL);

    t_exec(db, "DROP TABLE IF EXISTS bouncer_m, bouncer_history");
    for (int i = 0; i < 3; i++) {
        r[i].dir = dir;
        th[i] = g_thread_new("up", race_up, &r[i]);
    }
    for (int i = 0; i < 3; i++) {
        g_thread_join(th[i]);
        ck_assert_msg(r[i].ok, "up %d: %s", i, r[i].error);
    }
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM bouncer_m"), 2);
    dir2 = migration_dir("bouncer-migrate", no_tx);
    ck_assert_str_eq(dir, dir2);
    race_up(&r[0]);
    ck_assert_msg(r[0].ok, "up: %s", r[0].error);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM bouncer_m"), 3);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM bouncer_history WHERE NOT dirty"), 3);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM pg_indexes WHERE indexname = 'bouncer_m_x'"),
                     1);
    dbr_close(db);
    g_free(dir);
    g_free(dir2);
}
END_TEST

/* A SET in one statement of a no-transaction file would hold for that
 * statement's server only: refused before anything of the file runs. */
START_TEST(test_bouncer_migrate_refuses_set_in_a_no_transaction_file)
{
    const char *const files[] = {
        "1_a.up.sql",
        "-- dbr:no-transaction\nSET lock_timeout = '1s';\n"
        "CREATE TABLE bouncer_nt (x int);\n",
        NULL,
    };
    char *dir = migration_dir("bouncer-migrate-set", files);
    dbr_db *db = open_bouncer(NULL), *m;
    dbr_error *err = NULL;
    char *reply = NULL;

    t_exec(db, "DROP TABLE IF EXISTS bouncer_nt, bouncer_history_nt");
    m = open_migrate(dir, "bouncer_history_nt");
    ck_assert(!dbr_control(m, "migrate", "up", &reply, &err));
    ck_assert_msg(strstr(dbr_error_message(err), "SET") &&
                      strstr(dbr_error_message(err), "pooler") &&
                      strstr(dbr_error_message(err), "statement 1"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    ck_assert_int_eq(t_int(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'bouncer_nt'"), 0);
    dbr_close(m);
    dbr_close(db);
    g_free(dir);
}
END_TEST

/* --- faults ------------------------------------------------------------- */

/* pg_ctl restart behind the bouncer: its clients' connections stay up while
 * the servers behind it go; retry rides the gap out and nothing acknowledged
 * is lost or applied twice. */
typedef struct writer {
    dbr_db *db;
    volatile gint stop;
    gint64 run; /* keys of this run only */
    int acked, failed;
    gint64 longest_us; /* the slowest acknowledged write: the restart's gap */
    char *last_error;
} writer;

static bool write_row(dbr_tx *tx, void *user, dbr_error **err)
{
    return dbr_tx_exec(tx, "INSERT INTO bouncer_restart VALUES ($1)", 1,
                       (const char *const[]){user}, err);
}

static gpointer write_loop(gpointer p)
{
    writer *w = p;

    for (int i = 0; !g_atomic_int_get(&w->stop); i++) {
        char key[64];
        dbr_error *err = NULL;
        dbr_ctx *ctx = dbr_ctx_with_timeout(20000);

        gint64 t0 = g_get_monotonic_time();

        g_snprintf(key, sizeof(key), "bouncer-restart-%lld-%d", (long long)w->run, i);
        if (dbr_tx_run_once(w->db, ctx, NULL, key, write_row, key, NULL, &err)) {
            w->longest_us = MAX(w->longest_us, g_get_monotonic_time() - t0);
            g_atomic_int_inc(&w->acked);
        } else {
            w->failed++;
            g_free(w->last_error);
            w->last_error = g_strdup(dbr_error_message(err));
            dbr_error_free(err);
        }
        dbr_ctx_free(ctx);
    }
    return NULL;
}

static bool acked_some(void *p)
{
    return g_atomic_int_get(&((writer *)p)->acked) >= 5;
}

START_TEST(test_bouncer_server_restart_is_ridden_out)
{
    writer w = {0};
    GThread *th;
    int before;

    w.db = open_bouncer(NULL);
    w.run = g_get_real_time();
    t_exec(w.db, "DROP TABLE IF EXISTS bouncer_restart");
    t_exec(w.db, "CREATE TABLE bouncer_restart (k text PRIMARY KEY)");
    th = g_thread_new("writer", write_loop, &w);
    ck_assert(t_wait_for(acked_some, &w, 20000));
    t_pgctl("restart -m fast");
    before = g_atomic_int_get(&w.acked);
    /* Writes go on after the restart. */
    {
        gint64 end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        while (g_atomic_int_get(&w.acked) < before + 5 && g_get_monotonic_time() < end)
            g_usleep(10000);
    }
    g_atomic_int_set(&w.stop, 1);
    g_thread_join(th);
    ck_assert_msg(w.failed == 0, "%d writes failed, the last: %s", w.failed, w.last_error);
    ck_assert_int_ge(w.acked, before + 5);
    ck_assert_int_eq(t_int(w.db, "SELECT count(*) FROM bouncer_restart"), w.acked);
    printf("restart behind pgbouncer: %d writes acknowledged (%d after the restart), 0 failed, "
           "slowest %.0f ms\n",
           w.acked, w.acked - before, (double)w.longest_us / 1000);
    g_free(w.last_error);
    dbr_close(w.db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_bouncer");
    TCase *tc = tcase_create("bouncer");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bouncer_exec_and_query_with_parameters);
    tcase_add_test(tc, test_bouncer_parallel_parameterized_queries);
    tcase_add_test(tc, test_bouncer_transactions_savepoints_and_local_settings);
    tcase_add_test(tc, test_bouncer_tx_run_once_applies_a_key_once);
    tcase_add_test(tc, test_bouncer_commit_tracking_passes_through);
    tcase_add_test(tc, test_bouncer_lost_commit_is_resolved_through_the_bouncer);
    tcase_add_test(tc, test_bouncer_deadline_cancels_on_the_server);
    tcase_add_test(tc, test_bouncer_health_check);
    tcase_add_test(tc, test_bouncer_refuses_session_state_with_a_clear_error);
    tcase_add_test(tc, test_bouncer_session_settings_leak_between_clients_without_pooler);
    tcase_add_test(tc, test_bouncer_pool_sends_no_reset);
    tcase_add_test(tc, test_bouncer_open_warns_when_pooler_setting_contradicts);
    tcase_add_test(tc, test_bouncer_undeclared_pooler_is_found_by_the_first_call);
    tcase_add_test(tc, test_bouncer_conninfo_options_are_refused_at_open);
    tcase_add_test(tc, test_bouncer_migrate_up_concurrently);
    tcase_add_test(tc, test_bouncer_migrate_refuses_set_in_a_no_transaction_file);
    tcase_add_test(tc, test_bouncer_server_restart_is_ridden_out);
    suite_add_tcase(s, tc);
    return t_run(s);
}
