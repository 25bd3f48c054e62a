/* SPDX-License-Identifier: MIT */
/*
 * The health monitor against a real PostgreSQL: a stopped server raises one
 * critical alert per episode and recovers, an exhausted pool and a slow
 * server trip their conditions, /metrics passes promtool and /healthz
 * follows the server, closing a db mid-check neither hangs nor leaks, and
 * `dbr health` exits 0, 1 and 2. The endpoint runs in a process with
 * descriptors above 1024, bounds idle clients, and shows no error text
 * unless configured; the dbr tool runs beside a service that holds the
 * endpoint's port.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../testutil.h"

typedef struct alerts {
    GMutex lock;
    GString *log; /* "alert:check_failed:critical recovered:check_failed ..." */
} alerts;

static void on_event(const dbr_event *ev, void *user)
{
    alerts *a = user;
    const char *type = dbr_event_type(ev);

    if (strcmp(type, "health.alert") != 0 && strcmp(type, "health.recovered") != 0)
        return;
    g_mutex_lock(&a->lock);
    g_string_append_printf(a->log, "%s%s:%s:%s", a->log->len ? " " : "",
                           strcmp(type, "health.alert") == 0 ? "alert" : "recovered",
                           dbr_event_get(ev, "condition"), dbr_event_get(ev, "severity"));
    g_mutex_unlock(&a->lock);
}

static bool log_has(alerts *a, const char *what)
{
    bool yes;

    g_mutex_lock(&a->lock);
    yes = strstr(a->log->str, what) != NULL;
    g_mutex_unlock(&a->lock);
    return yes;
}

static int log_count(alerts *a, const char *what)
{
    int n = 0;

    g_mutex_lock(&a->lock);
    for (const char *p = a->log->str; (p = strstr(p, what)); p += strlen(what))
        n++;
    g_mutex_unlock(&a->lock);
    return n;
}

typedef struct want {
    alerts *a;
    const char *what;
} want;

static bool wanted(void *arg)
{
    want *w = arg;

    return log_has(w->a, w->what);
}

static char *http_get(int port, const char *path, int *status)
{
    char *out = g_strdup_printf("%s/http.%d", getenv("DBR_TEST_TMPDIR"), (int)getpid());
    char *cmd = g_strdup_printf(
        "curl -s --max-time 10 -o %s -w '%%{http_code}' http://127.0.0.1:%d%s", out, port, path);
    char *body = NULL, *code = NULL;

    g_mkdir_with_parents(getenv("DBR_TEST_TMPDIR"), 0755);
    ck_assert_msg(g_spawn_command_line_sync(cmd, &code, NULL, NULL, NULL), "%s", cmd);
    *status = atoi(code);
    g_file_get_contents(out, &body, NULL, NULL);
    g_unlink(out);
    g_free(cmd);
    g_free(code);
    g_free(out);
    return body ? body : g_strdup("");
}

/* Opens a db whose health endpoint listens on a port no one else holds:
 * config_fmt takes the conninfo, then the port. */
static dbr_db *open_listening(const char *config_fmt, int *port)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        char *text;
        dbr_error *err = NULL;
        dbr_db *db;

        *port = 20000 + g_random_int_range(0, 40000);
        text = g_strdup_printf(config_fmt, t_conninfo(), *port);
        db = dbr_open_string(text, &err);
        g_free(text);
        if (db)
            return db;
        ck_assert_msg(strstr(dbr_error_message(err), "cannot listen"), "%s",
                      dbr_error_message(err));
        dbr_error_free(err); /* taken: try another */
    }
    ck_abort_msg("no free port for the health endpoint");
    return NULL;
}

START_TEST(test_pg_health_stopped_server_raises_one_critical_alert_and_recovers)
{
    int port, status;
    dbr_db *db = open_listening("[database]\ndriver = pq\nconninfo = %s\nconnect_timeout = 1s\n"
                                "max_idle_conns = 4\n[chain]\nplugins = health\n[plugin.health]\n"
                                "interval = 200ms\nping_timeout = 500ms\nlisten = 127.0.0.1:%d\n",
                                &port);
    alerts a = {.log = g_string_new(NULL)};
    want down = {&a, "alert:check_failed:critical"}, up = {&a, "recovered:check_failed"};
    dbr_pool_stats st;
    char *body;
    gint64 stopped;

    g_mutex_init(&a.lock);
    dbr_subscribe(db, on_event, &a);
    t_exec(db, "SELECT 1");
    body = http_get(port, "/healthz", &status);
    ck_assert_msg(status == 200 || status == 503, "%d", status); /* 503 only before a check */
    g_free(body);
    t_pgctl("stop -m immediate");
    stopped = g_get_monotonic_time();
    ck_assert(t_wait_for(wanted, &down, 10000));
    printf("critical alert %.0f ms after the stop (interval 200 ms)\n",
           (double)(g_get_monotonic_time() - stopped) / 1000);
    /* within two intervals, plus the ping timeout of a check already under
     * way, plus a second of slack for a loaded machine */
    ck_assert_int_lt(g_get_monotonic_time() - stopped, (2 * 200 + 500 + 1000) * 1000);
    dbr_pool_stats_get(db, &st);
    ck_assert_int_eq(st.idle, 0); /* idle connections were closed: they were dead */
    body = http_get(port, "/healthz", &status);
    ck_assert_int_eq(status, 503);
    ck_assert_msg(strstr(body, "\"critical\""), "%s", body);
    g_free(body);
    g_usleep(600000); /* several more checks while it stays down */
    t_pgctl("start");
    ck_assert(t_wait_for(wanted, &up, 20000));
    ck_assert_int_eq(log_count(&a, "alert:check_failed"), 1); /* one per episode */
    ck_assert_int_eq(log_count(&a, "recovered:check_failed"), 1);
    body = http_get(port, "/healthz", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(strstr(body, "\"healthy\""), "%s", body);
    g_free(body);
    dbr_unsubscribe(db, on_event, &a);
    dbr_close(db);
    g_string_free(a.log, TRUE);
    g_mutex_clear(&a.lock);
}
END_TEST

typedef struct holder {
    dbr_db *db;
    gint release;
    gint holding;
} holder;

static bool hold_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    holder *h = user;

    if (!dbr_tx_exec(tx, "SELECT 1", 0, NULL, err))
        return false;
    g_atomic_int_inc(&h->holding);
    while (!g_atomic_int_get(&h->release))
        g_usleep(1000);
    return true;
}

static gpointer hold_thread(gpointer data)
{
    holder *h = data;

    ck_assert(dbr_tx_run(h->db, NULL, NULL, hold_tx, h, NULL));
    return NULL;
}

static gpointer waiter_thread(gpointer data)
{
    ck_assert(dbr_exec(data, NULL, "SELECT 1", 0, NULL, NULL));
    return NULL;
}

static bool two_holding(void *arg)
{
    return g_atomic_int_get(&((holder *)arg)->holding) == 2;
}

static bool one_waiting(void *arg)
{
    return dbr_pool_waiters(arg) == 1;
}

START_TEST(test_pg_health_exhausted_pool_trips_pool_and_wait_conditions)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\nmax_open_conns = 2\n"
                        "[chain]\nplugins = health\n[plugin.health]\ninterval = 1h\n"
                        "ping_timeout = 300ms\n",
                        t_conninfo());
    holder h = {.db = db};
    GThread *t1, *t2, *w;
    char *report = NULL;

    ck_assert(dbr_control(db, "health", "check", NULL, NULL)); /* baseline */
    t1 = g_thread_new("h1", hold_thread, &h);
    t2 = g_thread_new("h2", hold_thread, &h);
    ck_assert(t_wait_for(two_holding, &h, 10000));
    w = g_thread_new("waiter", waiter_thread, db);
    ck_assert(t_wait_for(one_waiting, db, 10000));
    /* the check's own ping queues behind them too: give it a short timeout */
    ck_assert(dbr_control(db, "health", "check", &report, NULL));
    ck_assert_msg(strstr(report, "\"pool_exhausted\""), "%s", report);
    ck_assert_msg(strstr(report, "\"critical\""), "%s", report);
    free(report);
    g_usleep(700000); /* the waiter waits 700 ms: over connection_wait_warning */
    g_atomic_int_set(&h.release, 1);
    g_thread_join(t1);
    g_thread_join(t2);
    g_thread_join(w);
    ck_assert(dbr_control(db, "health", "check", &report, NULL));
    ck_assert_msg(strstr(report, "\"connection_wait\""), "%s", report);
    free(report);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_health_slow_server_trips_latency_thresholds)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = health\n"
                        "[plugin.health]\ninterval = 1h\nprobe_query = SELECT pg_sleep(0.6)\n",
                        t_conninfo());
    alerts a = {.log = g_string_new(NULL)};
    char *report = NULL;

    g_mutex_init(&a.lock);
    dbr_subscribe(db, on_event, &a);
    ck_assert(dbr_control(db, "health", "check", &report, NULL));
    ck_assert_msg(strstr(report, "\"warning\""), "%s", report);
    ck_assert(log_has(&a, "alert:query_latency:warning"));
    free(report);
    dbr_unsubscribe(db, on_event, &a);
    dbr_close(db);
    db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = health\n"
                "[plugin.health]\ninterval = 1h\nprobe_query = SELECT pg_sleep(1.2)\n",
                t_conninfo());
    ck_assert(dbr_control(db, "health", "check", &report, NULL));
    ck_assert_msg(strstr(report, "\"status\": \"critical\""), "%s", report);
    ck_assert_msg(strstr(report, "\"query_latency\""), "%s", report);
    free(report);
    dbr_close(db);
    g_string_free(a.log, TRUE);
    g_mutex_clear(&a.lock);
}
END_TEST

START_TEST(test_pg_health_breaker_open_too_long_is_critical)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\n"
                        "plugins = breaker, health\n[plugin.health]\ninterval = 1h\n"
                        "breaker_open_critical = 200ms\n",
                        t_conninfo());
    alerts a = {.log = g_string_new(NULL)};
    char *report = NULL;

    g_mutex_init(&a.lock);
    dbr_subscribe(db, on_event, &a);
    ck_assert(dbr_control(db, "health", "check", &report, NULL));
    ck_assert_msg(strstr(report, "\"breaker\": \"closed\""), "%s", report);
    free(report);
    ck_assert(dbr_control(db, "breaker", "force_open", NULL, NULL));
    ck_assert(dbr_control(db, "health", "check", &report, NULL));
    /* open, but not for long yet: only the failed check is critical */
    ck_assert_msg(!strstr(report, "\"breaker_open\""), "%s", report);
    free(report);
    g_usleep(300000); /* open longer than breaker_open_critical */
    ck_assert(dbr_control(db, "health", "check", &report, NULL));
    ck_assert_msg(strstr(report, "\"breaker_open\"") && strstr(report, "\"breaker\": \"open\""),
                  "%s", report);
    free(report);
    ck_assert(log_has(&a, "alert:breaker_open:critical"));
    ck_assert(dbr_control(db, "breaker", "reset", NULL, NULL));
    ck_assert(dbr_control(db, "health", "check", &report, NULL));
    free(report);
    ck_assert(log_has(&a, "recovered:breaker_open"));
    dbr_unsubscribe(db, on_event, &a);
    dbr_close(db);
    g_string_free(a.log, TRUE);
    g_mutex_clear(&a.lock);
}
END_TEST

START_TEST(test_pg_health_metrics_pass_promtool)
{
    int port, status;
    dbr_db *db = open_listening("[database]\ndriver = pq\nconninfo = %s\nname = orders\n[chain]\n"
                                "plugins = retry, breaker, health\n[plugin.health]\n"
                                "interval = 100ms\nlisten = 127.0.0.1:%d\n",
                                &port);
    char *body, *file, *cmd;
    int rc;

    t_exec(db, "SELECT 1");
    ck_assert(dbr_control(db, "health", "check", NULL, NULL));
    body = http_get(port, "/metrics", &status);
    ck_assert_int_eq(status, 200);
    for (const char *m = "dbr_pool_open_connections{db=\"orders\"}\0dbr_calls_total\0"
                         "dbr_call_duration_seconds_bucket\0dbr_breaker_state\0"
                         "dbr_retry_requests_total\0dbr_health_ping_seconds_bucket\0"
                         "dbr_health_status\0";
         *m; m += strlen(m) + 1)
        ck_assert_msg(strstr(body, m), "%s missing from /metrics", m);
    file = g_strdup_printf("%s/metrics.%d", getenv("DBR_TEST_TMPDIR"), (int)getpid());
    g_file_set_contents(file, body, -1, NULL);
    cmd = g_strdup_printf("promtool check metrics < %s", file);
    rc = system(cmd);
    ck_assert_msg(rc == 0, "promtool check metrics failed (%d) on:\n%s", rc, body);
    g_unlink(file);
    g_free(cmd);
    g_free(file);
    g_free(body);
    body = http_get(port, "/nope", &status);
    ck_assert_int_eq(status, 404);
    g_free(body);
    dbr_close(db);
}
END_TEST

START_TEST(test_pg_health_close_during_a_check_neither_hangs_nor_leaks)
{
    for (int i = 0; i < 15; i++) {
        dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\n"
                            "plugins = health\n[plugin.health]\ninterval = 10ms\n"
                            "probe_query = SELECT pg_sleep(0.05)\n",
                            t_conninfo());
        gint64 start;

        g_usleep((gulong)(g_random_int_range(0, 60)) * 1000);
        start = g_get_monotonic_time();
        dbr_close(db);
        /* the running check was canceled, not waited for */
        ck_assert_int_lt(g_get_monotonic_time() - start, 2000000);
    }
}
END_TEST

static int run_tool(const char *config_text, char **out)
{
    char *dir = t_tmpdir("health"), *path = g_build_filename(dir, "h.ini", NULL);
    char *argv[] = {(char *)getenv("DBR_TEST_TOOL"), "health", "-c", path, NULL};
    int wait_status = -1;

    ck_assert_msg(argv[0], "DBR_TEST_TOOL is not set");
    g_file_set_contents(path, config_text, -1, NULL);
    ck_assert(
        g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, NULL, &wait_status, NULL));
    g_free(path);
    g_free(dir);
    return WEXITSTATUS(wait_status);
}

START_TEST(test_pg_health_tool_exit_codes)
{
    char *base = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s\n[chain]\n"
                                 "plugins = health\n[plugin.health]\n",
                                 t_conninfo());
    char *text, *out = NULL;

    text = g_strconcat(base, "interval = 1h\n", NULL);
    ck_assert_int_eq(run_tool(text, &out), 0);
    ck_assert_msg(strstr(out, ": healthy"), "%s", out);
    g_free(out);
    g_free(text);
    text = g_strconcat(base, "probe_query = SELECT pg_sleep(0.6)\n", NULL);
    ck_assert_int_eq(run_tool(text, &out), 1);
    ck_assert_msg(strstr(out, "warning: query_latency"), "%s", out);
    g_free(out);
    g_free(text);
    text = g_strconcat(base, "probe_query = SELECT 1/0\n", NULL);
    ck_assert_int_eq(run_tool(text, &out), 2);
    ck_assert_msg(strstr(out, "critical: check_failed"), "%s", out);
    g_free(out);
    g_free(text);
    /* a server that refuses the login is as critical as one that is down */
    text = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s user=dbr_canary_user\n"
                           "[chain]\nplugins = health\n",
                           t_conninfo());
    ck_assert_int_eq(run_tool(text, &out), 2);
    ck_assert_msg(strstr(out, "critical"), "%s", out);
    g_free(out);
    g_free(text);
    /* a database that does not exist is an outage for the service too
     * (3D000 says so), not a config error (a new user's report) */
    text = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s dbname=dbr_no_such_db\n"
                           "[chain]\nplugins = health\n",
                           t_conninfo());
    ck_assert_int_eq(run_tool(text, &out), 2);
    ck_assert_msg(strstr(out, "critical"), "%s", out);
    g_free(out);
    g_free(text);
    /* a conninfo value libpq would refuse only at connect: unknown (3) at once */
    text = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s sslmode=bogus\n"
                           "[chain]\nplugins = health\n",
                           t_conninfo());
    ck_assert_int_eq(run_tool(text, &out), 3);
    g_free(out);
    g_free(text);
    g_free(base);
}
END_TEST

/* Runs `dbr ARGS... -c path`; returns the exit status, stdout in *out. */
static int run_dbr(const char *path, const char *command, const char *arg, char **out)
{
    char *argv[] = {
        (char *)getenv("DBR_TEST_TOOL"), (char *)command, "-c", (char *)path, (char *)arg, NULL};
    char *err = NULL;
    int wait_status = -1;

    ck_assert_msg(argv[0], "DBR_TEST_TOOL is not set");
    ck_assert(
        g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, &err, &wait_status, NULL));
    if (WEXITSTATUS(wait_status) != 0)
        fprintf(stderr, "dbr %s: %s", command, err);
    g_free(err);
    return WEXITSTATUS(wait_status);
}

START_TEST(test_pg_health_tool_runs_beside_a_service_holding_the_port)
{
    char *dir = t_tmpdir("beside"), *mdir = g_build_filename(dir, "migrations", NULL);
    char *path = g_build_filename(dir, "service.ini", NULL), *fmt, *text, *out = NULL, *body;
    int port, status;
    dbr_db *service;

    g_mkdir_with_parents(mdir, 0755);
    fmt = g_strdup_printf("[database]\ndriver = pq\nconninfo = %%s\n[chain]\n"
                          "plugins = health, migrate\n[plugin.health]\ninterval = 1h\n"
                          "listen = 127.0.0.1:%%d\n[plugin.migrate]\ndir = %s\n"
                          "table = dbr_beside_migrations\n",
                          mdir);
    /* The service: its endpoint holds the port. */
    service = open_listening(fmt, &port);
    text = g_strdup_printf(fmt, t_conninfo(), port);
    ck_assert(g_file_set_contents(path, text, -1, NULL));
    ck_assert_int_eq(run_dbr(path, "health", NULL, &out), 0);
    ck_assert_msg(strstr(out, ": healthy"), "%s", out);
    g_free(out);
    ck_assert_int_eq(run_dbr(path, "migrate", "status", &out), 0);
    g_free(out);
    ck_assert_int_eq(run_dbr(path, "migrate", "up", &out), 0);
    g_free(out);
    ck_assert_int_eq(run_dbr(path, "check", NULL, &out), 0);
    g_free(out);
    /* and the endpoint is still the service's */
    ck_assert(dbr_control(service, "health", "check", NULL, NULL));
    body = http_get(port, "/healthz", &status);
    ck_assert_msg(status == 200, "%d: %s", status, body);
    g_free(body);
    dbr_close(service);
    g_free(text);
    g_free(fmt);
    g_free(path);
    g_free(mdir);
    g_free(dir);
}
END_TEST

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    ck_assert(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the DIR's own */
}

START_TEST(test_pg_health_endpoint_serves_with_descriptors_above_1024)
{
    struct rlimit saved, rl;
    GArray *dups = g_array_new(FALSE, FALSE, sizeof(int));
    char *body;
    int port, status, fd;
    dbr_db *db;

    ck_assert(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    ck_assert_msg(saved.rlim_max == RLIM_INFINITY || saved.rlim_max > 1200,
                  "the hard limit of descriptors (%llu) is too low for this test",
                  (unsigned long long)saved.rlim_max);
    rl = saved;
    rl.rlim_cur = saved.rlim_max == RLIM_INFINITY ? 4096 : saved.rlim_max;
    ck_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    /* A busy process: every descriptor below 1100 taken. */
    while ((fd = dup(0)) >= 0 && fd < 1100)
        g_array_append_val(dups, fd);
    ck_assert_msg(fd >= 1100, "dup: %s", g_strerror(errno));
    g_array_append_val(dups, fd);
    db = open_listening("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = health\n"
                        "[plugin.health]\ninterval = 1h\nlisten = 127.0.0.1:%d\n",
                        &port);
    ck_assert(dbr_control(db, "health", "check", NULL, NULL));
    body = http_get(port, "/healthz", &status);
    ck_assert_msg(status == 200 && strstr(body, "\"healthy\""), "%d: %s", status, body);
    g_free(body);
    dbr_close(db);
    for (guint i = 0; i < dups->len; i++)
        close(g_array_index(dups, int, i));
    g_array_free(dups, TRUE);
    setrlimit(RLIMIT_NOFILE, &saved);
}
END_TEST

START_TEST(test_pg_health_endpoint_bounds_idle_clients)
{
    enum { IDLE = 300, LIMIT = 64 };
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int clients[IDLE], port, status = 0, base, most = 0;
    dbr_db *db = open_listening("[database]\ndriver = pq\nconninfo = %s\n[chain]\n"
                                "plugins = health\n[plugin.health]\ninterval = 1h\n"
                                "max_connections = 64\nconnection_timeout = 1s\n"
                                "listen = 127.0.0.1:%d\n",
                                &port);
    gint64 deadline;
    char *body = NULL;

    ck_assert(dbr_control(db, "health", "check", NULL, NULL));
    base = count_fds();
    a.sin_port = htons((uint16_t)port);
    for (int i = 0; i < IDLE; i++) {
        clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ck_assert(clients[i] >= 0);
        ck_assert(connect(clients[i], (struct sockaddr *)&a, sizeof(a)) == 0 ||
                  errno == EINPROGRESS);
    }
    /* The idle clients say nothing. The endpoint holds at most LIMIT of them
     * (the rest wait in the kernel's queue, holding none of our
     * descriptors), drops each after 1s idle, and so comes to a new client. */
    deadline = g_get_monotonic_time() + 60 * G_TIME_SPAN_SECOND;
    while (g_get_monotonic_time() < deadline) {
        most = MAX(most, count_fds() - base - IDLE);
        g_free(body);
        body = http_get(port, "/healthz", &status);
        most = MAX(most, count_fds() - base - IDLE);
        if (status == 200)
            break;
        g_usleep(50000);
    }
    ck_assert_msg(status == 200, "no answer for a new client: %d %s", status, body);
    ck_assert_msg(most <= LIMIT + 2, "the endpoint held %d descriptors for %d idle clients", most,
                  IDLE);
    g_free(body);
    for (int i = 0; i < IDLE; i++)
        close(clients[i]);
    dbr_close(db);
}
END_TEST

typedef struct answer {
    int port, status;
    char *body;
} answer;

static bool healthz_failed(void *arg)
{
    answer *w = arg;

    g_free(w->body);
    w->body = http_get(w->port, "/healthz", &w->status);
    return w->status == 503 && strstr(w->body, "check_failed");
}

START_TEST(test_pg_health_healthz_shows_error_text_only_with_detail)
{
    for (int detail = 0; detail < 2; detail++) {
        answer w = {0};
        dbr_db *db;
        /* A role that does not exist: the server's refusal names it. */
        char *cfg = g_strdup_printf("[database]\ndriver = pq\nconninfo = %%s "
                                    "user=dbr_canary_user\nconnect_on_open = false\n[chain]\n"
                                    "plugins = health\n[plugin.health]\ninterval = 100ms\n"
                                    "listen = 127.0.0.1:%%d\n%s",
                                    detail ? "detail = true\n" : "");

        db = open_listening(cfg, &w.port);
        ck_assert_msg(t_wait_for(healthz_failed, &w, 30000), "%d: %s", w.status, w.body);
        if (detail) {
            ck_assert_msg(strstr(w.body, "dbr_canary_user"), "%s", w.body);
        } else {
            ck_assert_msg(!strstr(w.body, "dbr_canary_user"), "%s", w.body);
            ck_assert_msg(!strstr(w.body, "\"error\""), "%s", w.body);
        }
        ck_assert_msg(strstr(w.body, "\"error_kind\""), "%s", w.body);
        g_free(w.body);
        g_free(cfg);
        dbr_close(db);
    }
}
END_TEST

START_TEST(test_pg_health_report_numbers_are_short)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n[chain]\nplugins = health\n"
                        "[plugin.health]\ninterval = 1h\nmin_open_conns = 50\n",
                        t_conninfo());
    char *report = NULL;
    GRegex *number = g_regex_new("[0-9]+\\.([0-9]+)", 0, 0, NULL);
    GMatchInfo *m = NULL;

    ck_assert(dbr_control(db, "health", "check", &report, NULL));
    ck_assert_msg(strstr(report, "\"ping_seconds\""), "%s", report);
    /* every fraction at most 6 digits: microseconds, not 0.0062170000000000003 */
    g_regex_match(number, report, 0, &m);
    for (; g_match_info_matches(m); g_match_info_next(m, NULL)) {
        char *frac = g_match_info_fetch(m, 1);

        ck_assert_msg(strlen(frac) <= 6, "a long number in %s", report);
        g_free(frac);
    }
    g_match_info_free(m);
    g_regex_unref(number);
    free(report);
    dbr_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_health");
    TCase *tc = tcase_create("pg_health");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pg_health_stopped_server_raises_one_critical_alert_and_recovers);
    tcase_add_test(tc, test_pg_health_exhausted_pool_trips_pool_and_wait_conditions);
    tcase_add_test(tc, test_pg_health_slow_server_trips_latency_thresholds);
    tcase_add_test(tc, test_pg_health_breaker_open_too_long_is_critical);
    tcase_add_test(tc, test_pg_health_metrics_pass_promtool);
    tcase_add_test(tc, test_pg_health_close_during_a_check_neither_hangs_nor_leaks);
    tcase_add_test(tc, test_pg_health_tool_exit_codes);
    tcase_add_test(tc, test_pg_health_tool_runs_beside_a_service_holding_the_port);
    tcase_add_test(tc, test_pg_health_endpoint_serves_with_descriptors_above_1024);
    tcase_add_test(tc, test_pg_health_endpoint_bounds_idle_clients);
    tcase_add_test(tc, test_pg_health_healthz_shows_error_text_only_with_detail);
    tcase_add_test(tc, test_pg_health_report_numbers_are_short);
    suite_add_tcase(s, tc);
    return t_run(s);
}
