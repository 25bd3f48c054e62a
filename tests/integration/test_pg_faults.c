/* SPDX-License-Identifier: MIT */
/*
 * Faults counted for what they are, on a real server: lock contention and
 * statement_timeout are answers (not outages), sessions the server ended
 * for idling are re-run, a server out of slots is served from the pool's
 * own connections, a mass termination does not hand dead connections to
 * retries, no session state crosses borrowers, a health check measures the
 * database and not the chain, and the shipped defaults ride out a fast
 * restart with no failed call.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proxy.h"
#include "../testutil.h"

static dbr_db *admin;

static void admin_open(void)
{
    admin = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
}

static void admin_close(void)
{
    dbr_close(admin);
    admin = NULL;
}

static dbr_db *open_pg(const char *conninfo_extra, const char *extra)
{
    return t_open("[database]\ndriver = pq\nconninfo = %s %s\n%s", t_conninfo(),
                  conninfo_extra ? conninfo_extra : "", extra ? extra : "");
}

/* Events come from the probe's thread and the callers' threads. */
static GMutex states_lock;

static void record_states(const dbr_event *ev, void *user)
{
    GString *s = user;

    if (strcmp(dbr_event_type(ev), "breaker.state") != 0)
        return;
    g_mutex_lock(&states_lock);
    g_string_append_printf(s, "%s%s>%s", s->len ? " " : "", dbr_event_get(ev, "from"),
                           dbr_event_get(ev, "to"));
    g_mutex_unlock(&states_lock);
}

static GString *watch_breaker(dbr_db *db)
{
    GString *s = g_string_new(NULL);

    dbr_subscribe(db, record_states, s);
    return s;
}

static void unwatch_breaker(dbr_db *db, GString *s)
{
    dbr_unsubscribe(db, record_states, s);
    g_string_free(s, TRUE);
}

static char *breaker_state(dbr_db *db)
{
    char *reply = NULL, *st;

    ck_assert(dbr_control(db, "breaker", "state", &reply, NULL));
    st = g_strndup(reply + 6, strcspn(reply + 6, " "));
    free(reply);
    return st;
}

static void expect_breaker(dbr_db *db, const char *want)
{
    char *st = breaker_state(db);

    ck_assert_msg(strcmp(st, want) == 0, "breaker %s, expected %s", st, want);
    g_free(st);
}

static long long metric(dbr_db *db, const char *series)
{
    char *text = dbr_metrics_text(db), *at = strstr(text, series);
    long long v = -1;

    ck_assert_msg(at, "no %s in the metrics", series);
    v = atoll(at + strlen(series));
    free(text);
    return v;
}

/* An error of a statement, checked for kind, SQLSTATE and outcome. */
static void expect_error(dbr_db *db, const char *sql, dbr_error_kind kind, const char *sqlstate,
                         dbr_outcome outcome, bool transient)
{
    dbr_error *err = NULL;

    ck_assert_msg(!dbr_exec(db, NULL, sql, 0, NULL, &err), "%s succeeded", sql);
    ck_assert_msg(dbr_error_kind_of(err) == kind, "%s: %s (%s), expected %s", sql,
                  dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err),
                  dbr_error_kind_name(kind));
    if (sqlstate)
        ck_assert_str_eq(dbr_error_sqlstate(err), sqlstate);
    ck_assert_msg(dbr_error_outcome(err) == outcome, "%s: outcome %s", sql,
                  dbr_outcome_name(dbr_error_outcome(err)));
    ck_assert_msg(dbr_error_transient(err) == transient, "%s: transient %d", sql,
                  dbr_error_transient(err));
    dbr_error_free(err);
}

/* ---- a row lock held by another transaction ---- */

typedef struct holder {
    dbr_db *db;
    const char *sql;
    gint holding, release;
} holder;

static bool hold_fn(dbr_tx *tx, void *user, dbr_error **err)
{
    holder *h = user;

    if (!dbr_tx_exec(tx, h->sql, 0, NULL, err))
        return false;
    g_atomic_int_set(&h->holding, 1);
    while (!g_atomic_int_get(&h->release))
        g_usleep(2000);
    return true;
}

static gpointer hold_thread(gpointer data)
{
    holder *h = data;
    dbr_error *err = NULL;

    ck_assert_msg(dbr_tx_run(h->db, NULL, NULL, hold_fn, h, &err), "%s", dbr_error_message(err));
    return NULL;
}

static bool is_holding(void *arg)
{
    return g_atomic_int_get(&((holder *)arg)->holding);
}

START_TEST(test_pg_lock_contention_and_statement_timeout_are_answers_not_outages)
{
    dbr_db *db = open_pg(NULL, "[chain]\nplugins = breaker\n[plugin.breaker]\nmax_failures = 3\n");
    dbr_db *short_locks = open_pg("options='-c lock_timeout=50 -c statement_timeout=100'",
                                  "[chain]\nplugins = breaker\n[plugin.breaker]\n"
                                  "max_failures = 3\n");
    holder h = {.db = admin, .sql = "SELECT * FROM fk_lock WHERE id = 1 FOR UPDATE"};
    GThread *t;

    t_exec(admin, "DROP TABLE IF EXISTS fk_lock");
    t_exec(admin, "CREATE TABLE fk_lock (id int PRIMARY KEY, v int)");
    t_exec(admin, "INSERT INTO fk_lock VALUES (1, 0)");
    t = g_thread_new("holder", hold_thread, &h);
    ck_assert(t_wait_for(is_holding, &h, 10000));
    /* Five NOWAIT refusals with max_failures = 3: the breaker stays closed. */
    for (int i = 0; i < 5; i++)
        expect_error(db, "SELECT * FROM fk_lock WHERE id = 1 FOR UPDATE NOWAIT",
                     DBR_ERR_LOCK_CONTENTION, "55P03", DBR_OUTCOME_NOT_APPLIED, true);
    expect_breaker(db, "closed");
    t_exec(db, "SELECT 1");
    /* lock_timeout is the same answer; statement_timeout is a timeout that
     * the breaker does not count either. */
    for (int i = 0; i < 5; i++) {
        expect_error(short_locks, "UPDATE fk_lock SET v = v + 1 WHERE id = 1",
                     DBR_ERR_LOCK_CONTENTION, "55P03", DBR_OUTCOME_NOT_APPLIED, true);
        expect_error(short_locks, "SELECT pg_sleep(5)", DBR_ERR_TIMEOUT, "57014",
                     DBR_OUTCOME_NOT_APPLIED, false);
    }
    expect_breaker(short_locks, "closed");
    t_exec(short_locks, "SELECT 1");
    g_atomic_int_set(&h.release, 1);
    g_thread_join(t);
    ck_assert_int_eq(t_int(admin, "SELECT v FROM fk_lock WHERE id = 1"), 0);
    dbr_close(short_locks);
    dbr_close(db);
}
END_TEST

/* ---- sessions the server ends for idling ---- */

/* The idle timeouts are FATALs the server sends only to an idle session.
 * Read before a request is sent, they were always "not applied"; the case
 * that matters is the race where the goodbye is on its way while the next
 * request leaves. A stalled proxy makes that race certain: it holds the
 * server's goodbye until the client's request has reached it. */

static long long backend_pid;

static bool backend_gone(void *arg)
{
    char *sql =
        g_strdup_printf("SELECT count(*) FROM pg_stat_activity WHERE pid = %lld", backend_pid);
    long long n = t_int(admin, sql);

    (void)arg;
    g_free(sql);
    return n == 0;
}

static bool request_held(void *arg)
{
    return t_proxy_client_bytes_waiting(arg) > 0;
}

/* Lets the goodbye through once the client's next request is held. */
static gpointer release_when_sent(gpointer data)
{
    t_proxy *p = data;

    ck_assert(t_wait_for(request_held, p, 20000));
    t_proxy_stall(p, false);
    return NULL;
}

/* Holds what the server says, waits until backend_pid is gone, and lets it
 * through once the next request has left: that request meets the goodbye. */
static GThread *goodbye_in_flight(t_proxy *p)
{
    t_proxy_stall(p, true);
    ck_assert(t_wait_for(backend_gone, NULL, 20000));
    return g_thread_new("release", release_when_sent, p);
}

static dbr_db *open_via(t_proxy *p, const char *extra_conninfo, const char *extra)
{
    return t_open("[database]\ndriver = pq\n"
                  "conninfo = host=127.0.0.1 port=%d user=dbr dbname=dbr_test %s\n%s",
                  t_proxy_port(p), extra_conninfo, extra);
}

typedef struct idler {
    t_proxy *proxy;
    int runs;
    dbr_error_kind first_kind;
    char first_sqlstate[6];
    dbr_outcome first_outcome;
} idler;

static bool idle_fn(dbr_tx *tx, void *user, dbr_error **err)
{
    idler *id = user;
    dbr_result *r;
    dbr_error *e = NULL;
    GThread *release;
    bool ok;

    id->runs++;
    if (!dbr_tx_exec(tx, "INSERT INTO fk_idle VALUES (1)", 0, NULL, err))
        return false;
    if (id->runs > 1)
        return true;
    /* The first run idles past idle_in_transaction_session_timeout. */
    r = dbr_tx_query(tx,
                     "SELECT pg_backend_pid(), "
                     "set_config('idle_in_transaction_session_timeout', '100', true)",
                     0, NULL, err);
    if (!r)
        return false;
    backend_pid = atoll(dbr_result_value(r, 0, 0));
    dbr_result_free(r);
    release = goodbye_in_flight(id->proxy);
    ok = dbr_tx_exec(tx, "INSERT INTO fk_idle VALUES (2)", 0, NULL, &e);
    g_thread_join(release);
    if (ok)
        return true;
    id->first_kind = dbr_error_kind_of(e);
    g_strlcpy(id->first_sqlstate, dbr_error_sqlstate(e) ? dbr_error_sqlstate(e) : "",
              sizeof(id->first_sqlstate));
    id->first_outcome = dbr_error_outcome(e);
    return dbr_error_propagate(err, e);
}

START_TEST(test_pg_idle_in_transaction_timeout_is_rerun_by_retry)
{
    t_proxy *p = t_proxy_start(atoi(getenv("DBR_TEST_PGPORT")));
    dbr_db *db = open_via(p, "", "[chain]\nplugins = retry\n");
    idler id = {.proxy = p};
    dbr_error *err = NULL;

    t_exec(admin, "DROP TABLE IF EXISTS fk_idle");
    t_exec(admin, "CREATE TABLE fk_idle (v int)");
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, idle_fn, &id, &err), "%s", dbr_error_message(err));
    /* The server rolled the first run back (25P03): retry ran it again. */
    ck_assert_int_eq(id.runs, 2);
    ck_assert_int_eq(id.first_kind, DBR_ERR_CONNECTION);
    ck_assert_str_eq(id.first_sqlstate, "25P03");
    ck_assert_int_eq(id.first_outcome, DBR_OUTCOME_NOT_APPLIED);
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM fk_idle"), 1);
    dbr_close(db);
    t_proxy_stop(p);
}
END_TEST

START_TEST(test_pg_idle_session_timeout_is_a_transient_not_applied_failure)
{
    t_proxy *p = t_proxy_start(atoi(getenv("DBR_TEST_PGPORT")));
    dbr_db *db = open_via(p, "options='-c idle_session_timeout=100'", "");
    char *pid = t_value(db, "SELECT pg_backend_pid()");
    GThread *release;

    t_exec(admin, "CREATE TABLE IF NOT EXISTS fk_idle (v int)");
    backend_pid = atoll(pid);
    g_free(pid);
    release = goodbye_in_flight(p);
    /* An INSERT meeting the goodbye never ran: not applied, transient. */
    expect_error(db, "INSERT INTO fk_idle VALUES (3)", DBR_ERR_CONNECTION, "57P05",
                 DBR_OUTCOME_NOT_APPLIED, true);
    g_thread_join(release);
    t_exec(db, "SELECT 1"); /* a new session */
    dbr_close(db);
    t_proxy_stop(p);
}
END_TEST

/* ---- a server out of connection slots ---- */

static void make_limited_role(const char *name, int limit)
{
    char *sql;

    sql = g_strdup_printf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE usename = '%s'",
                          name);
    t_exec(admin, sql);
    g_free(sql);
    sql = g_strdup_printf("DROP ROLE IF EXISTS %s", name);
    t_exec(admin, sql);
    g_free(sql);
    sql = g_strdup_printf("CREATE ROLE %s LOGIN CONNECTION LIMIT %d", name, limit);
    t_exec(admin, sql);
    g_free(sql);
}

static dbr_db *open_as(const char *role, const char *extra)
{
    char *conninfo = g_strdup_printf("%s user=%s", t_conninfo(), role);
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n%s", conninfo, extra);

    g_free(conninfo);
    return db;
}

static dbr_error *open_as_fails(const char *role, const char *dbname)
{
    char *conninfo = g_strdup_printf("%s user=%s%s%s", t_conninfo(), role, dbname ? " dbname=" : "",
                                     dbname ? dbname : "");
    dbr_error *err = t_open_fail("[database]\ndriver = pq\nconninfo = %s\n", conninfo);

    g_free(conninfo);
    return err;
}

static bool lc_messages_is_german(void *arg)
{
    char *v = t_value(admin, "SELECT setting FROM pg_settings WHERE name = 'lc_messages'");
    bool de = strcmp(v, "de_DE.UTF-8") == 0;

    (void)arg;
    g_free(v);
    return de;
}

/* Settings a test changes with ALTER SYSTEM, back to the defaults even when
 * it fails. */
static void reset_server_settings(void)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());

    t_exec(db, "ALTER SYSTEM RESET lc_messages");
    t_exec(db, "ALTER SYSTEM RESET synchronous_standby_names");
    t_exec(db, "SELECT pg_reload_conf()");
    dbr_close(db);
}

START_TEST(test_pg_connect_refusals_are_classified_in_any_language)
{
    dbr_db *a, *b;
    dbr_error *err;

    make_limited_role("fk_two", 2);
    a = open_as("fk_two", "");
    b = open_as("fk_two", "");
    for (int german = 0; german < 2; german++) {
        if (german) {
            t_exec(admin, "ALTER SYSTEM SET lc_messages = 'de_DE.UTF-8'");
            t_exec(admin, "SELECT pg_reload_conf()");
            ck_assert(t_wait_for(lc_messages_is_german, NULL, 20000));
        }
        /* a third session for the role: "too many connections" (53300) */
        err = open_as_fails("fk_two", NULL);
        ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_RESOURCE, "%s", dbr_error_message(err));
        ck_assert_str_eq(dbr_error_sqlstate(err), "53300");
        ck_assert_int_eq(dbr_error_phase_of(err), DBR_PHASE_CONNECT);
        ck_assert(dbr_error_transient(err));
        ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
        if (german) /* the server spoke German: only the code was read */
            ck_assert_msg(strstr(dbr_error_message(err), "zu viele Verbindungen"), "%s",
                          dbr_error_message(err));
        dbr_error_free(err);
        /* a database that does not exist (3D000) */
        err = open_as_fails("dbr", "fk_no_such_db");
        ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_CONFIG, "%s", dbr_error_message(err));
        ck_assert_str_eq(dbr_error_sqlstate(err), "3D000");
        ck_assert(!dbr_error_transient(err));
        dbr_error_free(err);
    }
    reset_server_settings();
    dbr_close(a);
    dbr_close(b);
}
END_TEST

typedef struct worker {
    dbr_db *db;
    int calls, failed;
    char first_error[256];
} worker;

static gpointer short_calls(gpointer data)
{
    worker *w = data;

    for (int i = 0; i < w->calls; i++) {
        dbr_ctx *ctx = dbr_ctx_with_timeout(20000);
        dbr_error *err = NULL;

        if (!dbr_exec(w->db, ctx, "SELECT pg_sleep(0.002)", 0, NULL, &err)) {
            if (!w->failed++)
                g_strlcpy(w->first_error, dbr_error_message(err), sizeof(w->first_error));
        }
        dbr_error_free(err);
        dbr_ctx_free(ctx);
    }
    return NULL;
}

START_TEST(test_pg_pool_serves_from_its_own_connections_when_the_server_is_full)
{
    dbr_db *db;
    GString *states;
    worker w[10];
    GThread *t[10];
    dbr_pool_stats st;
    int failed = 0;

    make_limited_role("fk_full", 2);
    db = open_as("fk_full", "max_open_conns = 10\nmax_idle_conns = 10\n"
                            "[chain]\nplugins = retry, breaker\n");
    states = watch_breaker(db);
    for (int i = 0; i < 10; i++) {
        w[i] = (worker){.db = db, .calls = 30};
        t[i] = g_thread_new("worker", short_calls, &w[i]);
    }
    for (int i = 0; i < 10; i++) {
        g_thread_join(t[i]);
        if (w[i].failed)
            fprintf(stderr, "worker %d: %d failed, first: %s\n", i, w[i].failed, w[i].first_error);
        failed += w[i].failed;
    }
    dbr_pool_stats_get(db, &st);
    printf("server full: 300 calls on 10 threads, %d failed, %lld refusals waited out, "
           "breaker: \"%s\"\n",
           failed, metric(db, "dbr_pool_connect_refusals_total{db=\"default\"} "), states->str);
    ck_assert_int_eq(failed, 0);
    ck_assert_str_eq(states->str, ""); /* the breaker never opened */
    ck_assert_int_gt(metric(db, "dbr_pool_connect_refusals_total{db=\"default\"} "), 0);
    ck_assert_int_le(st.open, 2);
    unwatch_breaker(db, states);
    dbr_close(db);
}
END_TEST

/* ---- a mass termination ---- */

/* Ten threads each hold a connection of their own until all ten do: the
 * pool then has ten connections, however slowly the threads start. */
static gint holding_now;

static bool all_ten_holding(void *arg)
{
    (void)arg;
    return g_atomic_int_get(&holding_now) >= 10;
}

static bool hold_until_ten(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    if (!dbr_tx_exec(tx, "SELECT 1", 0, NULL, err))
        return false;
    g_atomic_int_inc(&holding_now);
    ck_assert(t_wait_for(all_ten_holding, NULL, 60000));
    return true;
}

static gpointer hold_one(gpointer data)
{
    dbr_error *err = NULL;

    ck_assert_msg(dbr_tx_run(data, NULL, NULL, hold_until_ten, NULL, &err), "%s",
                  dbr_error_message(err));
    return NULL;
}

static bool no_fk_mass_backends(void *arg)
{
    (void)arg;
    return t_int(admin, "SELECT count(*) FROM pg_stat_activity "
                        "WHERE application_name = 'fk_mass'") == 0;
}

START_TEST(test_pg_pool_drops_the_dead_after_a_mass_termination)
{
    dbr_db *db = open_pg("application_name=fk_mass",
                         "max_open_conns = 10\nmax_idle_conns = 10\n"
                         "[chain]\nplugins = retry\n[plugin.retry]\nmax_attempts = 3\n");
    GThread *t[10];
    dbr_pool_stats st;

    t_exec(admin, "DROP TABLE IF EXISTS fk_mass_t");
    t_exec(admin, "CREATE TABLE fk_mass_t (v int)");
    g_atomic_int_set(&holding_now, 0);
    for (int i = 0; i < 10; i++)
        t[i] = g_thread_new("fill", hold_one, db);
    for (int i = 0; i < 10; i++)
        g_thread_join(t[i]);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.idle, 10);
    t_exec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE application_name = 'fk_mass'");
    ck_assert(t_wait_for(no_fk_mass_backends, NULL, 20000));
    /* Ten writes (not idempotent): none may draw three dead connections. */
    for (int i = 0; i < 10; i++) {
        char v[16];
        const char *p[1] = {v};
        dbr_error *err = NULL;

        g_snprintf(v, sizeof(v), "%d", i);
        ck_assert_msg(dbr_exec(db, NULL, "INSERT INTO fk_mass_t VALUES ($1::int)", 1, p, &err),
                      "write %d: %s", i, dbr_error_message(err));
    }
    ck_assert_int_eq(t_int(admin, "SELECT count(DISTINCT v) FROM fk_mass_t"), 10);
    printf("mass termination: %lld idle connections pinged, %lld found dead\n",
           metric(db, "dbr_pool_validations_total{db=\"default\"} "),
           metric(db, "dbr_pool_validation_failures_total{db=\"default\"} "));
    ck_assert_int_ge(metric(db, "dbr_pool_validation_failures_total{db=\"default\"} "), 8);
    dbr_close(db);
}
END_TEST

/* ---- session state and borrowers ---- */

static bool set_role_fn(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "SET ROLE fk_role", 0, NULL, err);
}

static void expect_value(dbr_db *db, const char *sql, const char *want)
{
    char *v = t_value(db, sql);

    ck_assert_msg(strcmp(v, want) == 0, "%s: %s, expected %s", sql, v, want);
    g_free(v);
}

START_TEST(test_pg_no_session_state_crosses_borrowers)
{
    /* One connection: every call borrows the same session. */
    dbr_db *db = open_pg(NULL, "max_open_conns = 1\n");
    char *default_path = t_value(db, "SHOW search_path");
    long long resets;
    dbr_error *err = NULL;

    t_exec(admin, "DROP ROLE IF EXISTS fk_role");
    t_exec(admin, "CREATE ROLE fk_role");
    t_exec(db, "SET statement_timeout = '1s'");
    expect_value(db, "SHOW statement_timeout", "0");
    t_exec(db, "SET search_path = pg_catalog");
    expect_value(db, "SHOW search_path", default_path);
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, set_role_fn, NULL, &err), "%s",
                  dbr_error_message(err));
    expect_value(db, "SELECT current_user", "dbr");
    t_exec(db, "CREATE TEMP TABLE fk_tmp (x int)");
    expect_value(db, "SELECT count(*) FROM pg_class WHERE relname = 'fk_tmp'", "0");
    t_exec(db, "SELECT pg_advisory_lock(4242)");
    expect_value(admin,
                 "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242", "0");
    t_exec(db, "PREPARE fk_p AS SELECT 1");
    expect_value(db, "SELECT count(*) FROM pg_prepared_statements", "0");
    t_exec(db, "LISTEN fk_chan");
    expect_value(db, "SELECT count(*) FROM pg_listening_channels()", "0");
    t_exec(db, "DECLARE fk_c CURSOR WITH HOLD FOR SELECT 1");
    expect_value(db, "SELECT count(*) FROM pg_cursors WHERE name = 'fk_c'", "0");
    /* a migration-like script that SETs */
    ck_assert(dbr_exec_script(db, NULL, "SET statement_timeout = '1s'; SELECT 1", NULL));
    expect_value(db, "SHOW statement_timeout", "0");
    /* ...while a plain call costs no reset (no extra round trip) */
    resets = metric(db, "dbr_pool_session_resets_total{db=\"default\"} ");
    for (int i = 0; i < 100; i++)
        t_exec(db, "SELECT 1");
    ck_assert_int_eq(metric(db, "dbr_pool_session_resets_total{db=\"default\"} "), resets);
    ck_assert_int_ge(resets, 9);
    g_free(default_path);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_reset_none_always_and_own_sql)
{
    dbr_db *none = open_pg(NULL, "max_open_conns = 1\nreset = none\n");
    dbr_db *always = open_pg(NULL, "max_open_conns = 1\nreset = always\n");
    dbr_db *own = open_pg(NULL, "max_open_conns = 1\nreset = RESET statement_timeout\n");
    long long before;

    /* none: the state stays (what the default prevents) */
    t_exec(none, "SET statement_timeout = '1s'");
    expect_value(none, "SHOW statement_timeout", "1s");
    /* always: every use is followed by a reset */
    before = metric(always, "dbr_pool_session_resets_total{db=\"default\"} ");
    for (int i = 0; i < 10; i++)
        t_exec(always, "SELECT 1");
    ck_assert_int_eq(metric(always, "dbr_pool_session_resets_total{db=\"default\"} "), before + 10);
    /* the user's SQL, after every use: it resets what it says, no more */
    t_exec(own, "SET statement_timeout = '1s'");
    expect_value(own, "SHOW statement_timeout", "0");
    t_exec(own, "SET lock_timeout = '2s'");
    expect_value(own, "SHOW lock_timeout", "2s");
    dbr_close(none);
    dbr_close(always);
    dbr_close(own);
}
END_TEST

/* ---- health checks measure the database ---- */

START_TEST(test_pg_health_check_goes_below_retry_and_breaker)
{
    dbr_db *db = open_pg(NULL, "[chain]\nplugins = retry, breaker, health\n"
                               "[plugin.health]\ninterval = 1h\n");
    char *report = NULL;
    long long retried = metric(db, "dbr_retry_requests_total{db=\"default\"} ");

    ck_assert(dbr_control(db, "breaker", "force_open", NULL, NULL));
    ck_assert(dbr_control(db, "health", "check", &report, NULL));
    /* The database answers: the check says so, and says the breaker is open. */
    ck_assert_msg(strstr(report, "\"ok\": true"), "%s", report);
    free(report);
    expect_breaker(db, "open");
    ck_assert_int_eq(metric(db, "dbr_retry_requests_total{db=\"default\"} "), retried);
    ck_assert(dbr_control(db, "breaker", "reset", NULL, NULL));
    dbr_close(db);
}
END_TEST

/* ---- a fast restart under load, with the shipped defaults ---- */

typedef struct loader {
    dbr_db *db;
    int id;
    gint *stop;
    int calls, failed, unknown; /* unknown: failed with commit-unknown */
    GArray *ok_at;              /* int64_t end time (dbr_now_us) of each successful call */
    char first_error[256];
} loader;

static bool insert_fn(dbr_tx *tx, void *user, dbr_error **err)
{
    loader *l = user;
    char id[16], n[16];
    const char *p[2] = {id, n};

    g_snprintf(id, sizeof(id), "%d", l->id);
    g_snprintf(n, sizeof(n), "%d", l->calls);
    return dbr_tx_exec(tx, "INSERT INTO fk_restart (worker, n) VALUES ($1::int, $2::int)", 2, p,
                       err);
}

static gpointer load_thread(gpointer data)
{
    loader *l = data;

    while (!g_atomic_int_get(l->stop)) {
        dbr_error *err = NULL;

        l->calls++;
        if (dbr_tx_run(l->db, NULL, NULL, insert_fn, l, &err)) {
            int64_t now = dbr_now_us();

            g_array_append_val(l->ok_at, now);
        } else {
            if (dbr_error_kind_of(err) == DBR_ERR_COMMIT_UNKNOWN)
                l->unknown++;
            if (!l->failed++)
                g_strlcpy(l->first_error, dbr_error_message(err), sizeof(l->first_error));
        }
        dbr_error_free(err);
    }
    return NULL;
}

/* Stops the workers and joins them: how long after `since` the slowest was
 * back (fails the test if one never was), and the failures. */
static int64_t settle(loader *l, GThread **t, int n, gint *stop, int64_t since, int *failed,
                      int *unknown)
{
    int64_t worst = 0;

    g_atomic_int_set(stop, 1);
    for (int i = 0; i < n; i++) {
        int64_t back = 0;

        g_thread_join(t[i]);
        for (guint k = 0; k < l[i].ok_at->len && !back; k++)
            if (g_array_index(l[i].ok_at, int64_t, k) >= since)
                back = g_array_index(l[i].ok_at, int64_t, k);
        ck_assert_msg(back, "worker %d never succeeded after the fault", i);
        worst = MAX(worst, back - since);
        if (l[i].failed)
            fprintf(stderr, "worker %d: %d of %d calls failed, first: %s\n", i, l[i].failed,
                    l[i].calls, l[i].first_error);
        *failed += l[i].failed;
        *unknown += l[i].unknown;
        g_array_free(l[i].ok_at, TRUE);
    }
    return worst;
}

static gpointer restart_thread(gpointer data)
{
    (void)data;
    t_pgctl("restart -m fast");
    return NULL;
}

START_TEST(test_pg_defaults_ride_out_a_fast_restart)
{
    dbr_db *db = open_pg(NULL, "[chain]\nplugins = retry, breaker\n");
    /* Its own connection each time: whether the server takes sessions. */
    dbr_db *probe = open_pg(NULL, "max_idle_conns = 0\nconnect_timeout = 1s\n");
    GString *states = watch_breaker(db);
    gint stop = 0;
    loader l[4];
    GThread *t[4], *r;
    int64_t down_at = 0, accept_at = 0, worst;
    int failed = 0, unknown = 0;

    t_exec(admin, "DROP TABLE IF EXISTS fk_restart");
    t_exec(admin, "CREATE TABLE fk_restart (worker int, n int)");
    for (int i = 0; i < 4; i++) {
        l[i] = (loader){.db = db, .id = i, .stop = &stop};
        l[i].ok_at = g_array_new(FALSE, FALSE, sizeof(int64_t));
        t[i] = g_thread_new("load", load_thread, &l[i]);
    }
    g_usleep(300000); /* load, not timing: let the workers get going */
    r = g_thread_new("restart", restart_thread, NULL);
    /* The moment the server takes connections again, to 2 ms. */
    while (!accept_at) {
        bool ok = dbr_ping(probe, NULL, NULL);
        int64_t now = dbr_now_us();

        if (!ok && !down_at)
            down_at = now;
        if (ok && down_at)
            accept_at = now;
        else
            g_usleep(2000);
        ck_assert_msg(!down_at || now - down_at < 60 * G_USEC_PER_SEC, "server never came back");
    }
    g_thread_join(r);
    /* Two seconds of service after the restart, then stop. */
    g_usleep(2 * G_USEC_PER_SEC);
    worst = settle(l, t, 4, &stop, accept_at, &failed, &unknown);
    printf("fast restart: down %.0f ms, all 4 workers running again %.0f ms after the server "
           "took connections, %d failed calls, breaker: \"%s\", lost COMMIT answers resolved: "
           "%lld committed, %lld aborted, %lld unresolved\n",
           (double)(accept_at - down_at) / 1000.0, (double)worst / 1000.0, failed, states->str,
           metric(db, "dbr_commit_resolutions_total{db=\"default\",result=\"committed\"} "),
           metric(db, "dbr_commit_resolutions_total{db=\"default\",result=\"aborted\"} "),
           metric(db, "dbr_commit_resolutions_total{db=\"default\",result=\"unresolved\"} "));
    ck_assert_int_eq(failed, 0);
    ck_assert_int_le(worst, G_USEC_PER_SEC);
    unwatch_breaker(db, states);
    dbr_close(probe);
    dbr_close(db);
}
END_TEST

/* ---- a failover to a streaming standby ---- */

static bool server_takes_sessions(void *arg);

/* The primary back, the standby gone: also after a failed test (an
 * unchecked fixture, so no assertion here). */
static void restore_cluster(void)
{
    char *cmd = g_strdup_printf("bash '%s/scripts/lib/pgstandby.sh' remove >/dev/null 2>&1; "
                                "'%s' status >/dev/null 2>&1 || '%s' start >/dev/null 2>&1",
                                getenv("DBR_TEST_SOURCE_ROOT"), getenv("DBR_TEST_PGCTL"),
                                getenv("DBR_TEST_PGCTL"));

    if (system(cmd) != 0)
        fprintf(stderr, "restore_cluster: %s failed\n", cmd);
    g_free(cmd);
}

START_TEST(test_pg_defaults_ride_out_a_failover)
{
    char *standby_port;
    dbr_db *db;
    GString *states;
    gint stop = 0;
    loader l[4];
    GThread *t[4];
    int64_t promoted_at, worst;
    int failed = 0, unknown = 0;

    t_exec(admin, "DROP TABLE IF EXISTS fk_restart");
    t_exec(admin, "CREATE TABLE fk_restart (worker int, n int)");
    standby_port = t_standby("start", NULL);
    db = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1,127.0.0.1 port=%s,%s "
                "user=dbr dbname=dbr_test target_session_attrs=read-write\n"
                "[chain]\nplugins = retry, breaker\n",
                getenv("DBR_TEST_PGPORT"), standby_port);
    states = watch_breaker(db);
    for (int i = 0; i < 4; i++) {
        l[i] = (loader){.db = db, .id = i, .stop = &stop};
        l[i].ok_at = g_array_new(FALSE, FALSE, sizeof(int64_t));
        t[i] = g_thread_new("load", load_thread, &l[i]);
    }
    g_usleep(300000); /* load, not timing: let the workers get going */
    /* The primary goes away; the standby is promoted at once. */
    t_pgctl("stop -m fast");
    g_free(t_standby("promote", NULL));
    promoted_at = dbr_now_us();
    g_usleep(2 * G_USEC_PER_SEC);
    worst = settle(l, t, 4, &stop, promoted_at, &failed, &unknown);
    printf("failover: all 4 workers writing again %.0f ms after the standby was promoted, %d "
           "failed calls (%d of them commit-unknown: COMMIT's answer lost in the switch, which "
           "no id on the new timeline can settle), breaker: \"%s\"\n",
           (double)worst / 1000.0, failed, unknown, states->str);
    /* A lost COMMIT answer is an honest failure here; anything else is not. */
    ck_assert_int_eq(failed, unknown);
    ck_assert_int_le(worst, G_USEC_PER_SEC);
    unwatch_breaker(db, states);
    dbr_close(db);
    g_free(standby_port);
    restore_cluster();
    dbr_close(admin);
    admin_open();
    ck_assert(t_wait_for(server_takes_sessions, NULL, 30000));
}
END_TEST

static void restore_cluster_and_settings(void)
{
    restore_cluster();
    reset_server_settings();
}

/* ---- a lost COMMIT answer and a clean restart ---- */

static bool server_takes_sessions(void *arg)
{
    (void)arg;
    return dbr_ping(admin, NULL, NULL);
}

/* A crash (stop -m immediate) and a start: the cumulative statistics are
 * discarded, so the run begins with a stats_reset newer than its start. */
static void crash_restart(void)
{
    t_pgctl("stop -m immediate");
    t_pgctl("start");
    dbr_close(admin);
    admin_open();
    ck_assert(t_wait_for(server_takes_sessions, NULL, 30000));
}

static bool sync_standby_awaited(void *arg)
{
    char *v = t_value(admin, "SHOW synchronous_standby_names");
    bool set = strcmp(v, "fk_nobody") == 0;

    (void)arg;
    g_free(v);
    return set;
}

static bool commit_in_syncrep(void *arg)
{
    (void)arg;
    return t_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE "
                        "application_name = 'fk_syncrep' AND wait_event = 'SyncRep'") == 1;
}

typedef struct committer {
    dbr_db *db;
    int runs;
    bool ok;
    char error[256];
} committer;

static bool insert_once_fn(dbr_tx *tx, void *user, dbr_error **err)
{
    committer *c = user;

    c->runs++;
    return dbr_tx_exec(tx, "INSERT INTO fk_sync VALUES (1)", 0, NULL, err);
}

static gpointer commit_thread(gpointer data)
{
    committer *c = data;
    dbr_error *err = NULL;

    c->ok = dbr_tx_run(c->db, NULL, NULL, insert_once_fn, c, &err);
    if (!c->ok)
        g_strlcpy(c->error, dbr_error_message(err), sizeof(c->error));
    dbr_error_free(err);
    return NULL;
}

START_TEST(test_pg_lost_commit_is_resolved_across_a_clean_restart)
{
    committer c = {0};
    GThread *t;

    crash_restart();
    t_exec(admin, "DROP TABLE IF EXISTS fk_sync");
    t_exec(admin, "CREATE TABLE fk_sync (v int)");
    /* COMMIT commits locally, then waits for a synchronous standby that
     * never comes; a fast restart ends it there, its answer lost. */
    t_exec(admin, "ALTER SYSTEM SET synchronous_standby_names = 'fk_nobody'");
    t_exec(admin, "SELECT pg_reload_conf()");
    ck_assert(t_wait_for(sync_standby_awaited, NULL, 20000));
    c.db = open_pg("application_name=fk_syncrep", "[chain]\nplugins = retry\n");
    t = g_thread_new("commit", commit_thread, &c);
    ck_assert(t_wait_for(commit_in_syncrep, NULL, 20000));
    t_exec(admin, "ALTER SYSTEM RESET synchronous_standby_names");
    t_pgctl("restart -m fast");
    g_thread_join(t);
    dbr_close(admin);
    admin_open();
    /* The id is asked of the restarted server: a clean restart hands out no
     * id again, so its answer (committed) is the truth. */
    ck_assert_msg(c.ok, "a committed transaction was reported failed: %s", c.error);
    ck_assert_int_eq(c.runs, 1);
    ck_assert_int_eq(t_int(admin, "SELECT count(*) FROM fk_sync"), 1);
    ck_assert_int_eq(
        metric(c.db, "dbr_commit_resolutions_total{db=\"default\",result=\"committed\"} "), 1);
    dbr_close(c.db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_faults");
    TCase *answers = tcase_create("answers");
    TCase *sessions = tcase_create("sessions");
    TCase *language = tcase_create("language");
    TCase *pool = tcase_create("pool");
    TCase *restart = tcase_create("restart");

    tcase_add_checked_fixture(answers, admin_open, admin_close);
    tcase_add_test(answers, test_pg_lock_contention_and_statement_timeout_are_answers_not_outages);
    tcase_add_test(answers, test_pg_idle_in_transaction_timeout_is_rerun_by_retry);
    tcase_add_test(answers, test_pg_idle_session_timeout_is_a_transient_not_applied_failure);
    tcase_add_test(answers, test_pg_health_check_goes_below_retry_and_breaker);
    suite_add_tcase(s, answers);

    tcase_add_checked_fixture(sessions, admin_open, admin_close);
    tcase_add_test(sessions, test_pg_no_session_state_crosses_borrowers);
    tcase_add_test(sessions, test_pg_reset_none_always_and_own_sql);
    suite_add_tcase(s, sessions);

    /* lc_messages goes back to the default even when the test fails. */
    tcase_add_checked_fixture(language, admin_open, admin_close);
    tcase_add_unchecked_fixture(language, NULL, reset_server_settings);
    tcase_add_test(language, test_pg_connect_refusals_are_classified_in_any_language);
    suite_add_tcase(s, language);

    tcase_add_checked_fixture(pool, admin_open, admin_close);
    tcase_add_test(pool, test_pg_pool_serves_from_its_own_connections_when_the_server_is_full);
    tcase_add_test(pool, test_pg_pool_drops_the_dead_after_a_mass_termination);
    suite_add_tcase(s, pool);

    tcase_add_checked_fixture(restart, admin_open, admin_close);
    tcase_add_unchecked_fixture(restart, NULL, restore_cluster_and_settings);
    tcase_add_test(restart, test_pg_defaults_ride_out_a_fast_restart);
    tcase_add_test(restart, test_pg_lost_commit_is_resolved_across_a_clean_restart);
    tcase_add_test(restart, test_pg_defaults_ride_out_a_failover);
    tcase_set_timeout(restart, 120);
    suite_add_tcase(s, restart);
    return t_run(s);
}
