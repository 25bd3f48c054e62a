/* SPDX-License-Identifier: MIT */
/*
 * The health monitor's archiving watch (watch_archiving) against a real
 * PostgreSQL: pg_wal over its limit and a replication slot holding WAL back
 * raise warnings and recover; an archive_command that fails raises a
 * critical alert (the status turns critical) that recovers once archiving
 * works; an archive that stops receiving segments warns; the gauges are on
 * /metrics and pass promtool. The test turns archive_mode on for the shared
 * test server (a restart) and always turns it off again.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../testutil.h"

typedef struct alerts {
    GMutex lock;
    GString *log; /* "alert:wal_size:warning recovered:wal_size ..." */
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

typedef struct want {
    alerts *a;
    const char *what;
} want;

static bool wanted(void *arg)
{
    want *w = arg;
    bool yes;

    g_mutex_lock(&w->a->lock);
    yes = strstr(w->a->log->str, w->what) != NULL;
    g_mutex_unlock(&w->a->lock);
    return yes;
}

static void expect(alerts *a, const char *what)
{
    want w = {a, what};

    ck_assert_msg(t_wait_for(wanted, &w, 60000), "no \"%s\" within 60 s; events: %s", what,
                  a->log->str);
}

/* A statement on a connection of its own (the test's db may hold
 * connections a restart killed). */
static void admin(const char *sql)
{
    dbr_db *db = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());

    t_exec(db, sql);
    dbr_close(db);
}

static void archiving_off(void)
{
    admin("ALTER SYSTEM RESET archive_mode");
    admin("ALTER SYSTEM RESET archive_command");
    admin("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
          " WHERE slot_name = 'dbr_test_archiver'");
    t_pgctl("restart");
}

static char *metrics(int port)
{
    char *out = g_strdup_printf("%s/metrics.%d", getenv("DBR_TEST_TMPDIR"), (int)getpid());
    char *cmd = g_strdup_printf("curl -s -o %s http://127.0.0.1:%d/metrics", out, port);
    char *body = NULL, *check;
    int rc;

    g_mkdir_with_parents(getenv("DBR_TEST_TMPDIR"), 0755);
    ck_assert_msg(g_spawn_command_line_sync(cmd, NULL, NULL, &rc, NULL) && rc == 0, "%s", cmd);
    g_file_get_contents(out, &body, NULL, NULL);
    check = g_strdup_printf("sh -c 'promtool check metrics < %s'", out);
    ck_assert_msg(g_spawn_command_line_sync(check, NULL, NULL, &rc, NULL), "%s", check);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
                  "promtool check metrics failed on:\n%.2000s", body);
    g_unlink(out);
    g_free(check);
    g_free(cmd);
    g_free(out);
    return body ? body : g_strdup("");
}

/* The value of the first sample of gauge name in a /metrics body, or -1. */
static double gauge(const char *body, const char *name)
{
    char *key = g_strdup_printf("\n%s{", name);
    const char *p = strstr(body, key), *end;

    g_free(key);
    if (!p || !(end = strstr(p, "} ")))
        return -1;
    return g_ascii_strtod(end + 2, NULL);
}

static dbr_db *open_watching(int *port)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        dbr_error *err = NULL;
        char *text;
        dbr_db *db;

        *port = 20000 + g_random_int_range(0, 40000);
        text = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s\nconnect_timeout = 2s\n"
                               "[chain]\nplugins = health\n[plugin.health]\ninterval = 200ms\n"
                               "watch_archiving = true\nwal_warning_mb = 1\n"
                               "slot_retained_warning_mb = 1\narchive_age_warning = 2s\n"
                               "listen = 127.0.0.1:%d\n",
                               t_conninfo(), *port);
        db = dbr_open_string(text, &err);
        g_free(text);
        if (db)
            return db;
        ck_assert_msg(strstr(dbr_error_message(err), "cannot listen"), "%s",
                      dbr_error_message(err));
        dbr_error_free(err);
    }
    ck_abort_msg("no free port for the health endpoint");
    return NULL;
}

START_TEST(test_pg_archiver_wal_slot_and_archive_failures_alert_and_recover)
{
    int port;
    dbr_db *db = open_watching(&port);
    alerts a = {.log = g_string_new(NULL)};
    char *body, *status;

    g_mutex_init(&a.lock);
    dbr_subscribe(db, on_event, &a);

    /* pg_wal is never under 1 MB: the warning shows at once. */
    expect(&a, "alert:wal_size:warning");

    /* A slot that reserves WAL and nobody reads. */
    admin("SELECT pg_create_physical_replication_slot('dbr_test_archiver', true)");
    admin(
        "CREATE TABLE archiver_filler AS SELECT g, md5(g::text) FROM generate_series(1, 40000) g");
    admin("DROP TABLE archiver_filler");
    expect(&a, "alert:slot_retained_wal:warning");
    body = metrics(port);
    ck_assert_msg(strstr(body, "dbr_health_slot_retained_bytes{"), "%.2000s", body);
    ck_assert_msg(strstr(body, "dbr_health_wal_bytes{"), "%.2000s", body);
    ck_assert_msg(strstr(body, "dbr_health_archive_failing{"), "%.2000s", body);
    g_free(body);
    admin("SELECT pg_drop_replication_slot('dbr_test_archiver')");
    expect(&a, "recovered:slot_retained_wal");

    /* Archiving on, with a command that always fails. */
    admin("ALTER SYSTEM SET archive_mode = on");
    admin("ALTER SYSTEM SET archive_command = 'false'");
    t_pgctl("restart");
    admin("CREATE TABLE archiver_filler AS SELECT 1 AS one");
    admin("DROP TABLE archiver_filler");
    admin("SELECT pg_switch_wal()");
    expect(&a, "alert:archive_failing:critical");
    /* What the plugin read, as the application can read it (the pq
     * driver's archive_state slot). */
    {
        dbr_archive_state st = {0};
        dbr_error *err = NULL;

        ck_assert(dbr_supports(db, DBR_CAP_ARCHIVE_STATUS));
        ck_assert_msg(dbr_archive_state_get(db, NULL, &st, &err), "%s", dbr_error_message(err));
        ck_assert_int_eq(st.struct_size, sizeof(st));
        ck_assert(st.archiving && st.failing);
        ck_assert_int_ge(st.failed_count, 1);
        ck_assert_int_gt(st.wal_bytes, 0);
        ck_assert_int_eq(st.slot_retained_bytes, 0); /* the slot was dropped */
        ck_assert(!dbr_archive_state_get(db, NULL, NULL, &err));
        ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
        dbr_error_free(err);
    }
    ck_assert(dbr_control(db, "health", "check", &status, NULL));
    ck_assert_msg(strstr(status, "\"status\": \"critical\""), "%s", status);
    /* and the report says why: a critical status with no alert is no help */
    ck_assert_msg(strstr(status, "\"condition\": \"archive_failing\""), "%s", status);
    free(status);
    body = metrics(port);
    ck_assert_msg(gauge(body, "dbr_health_archive_failing") == 1, "%.2000s", body);
    ck_assert_msg(gauge(body, "dbr_health_archive_failures") >= 1, "%.2000s", body);
    g_free(body);

    /* Archiving works again: recovered; then no new segment for longer than
     * archive_age_warning: the archive is getting old. */
    admin("ALTER SYSTEM SET archive_command = 'true'");
    admin("SELECT pg_reload_conf()");
    expect(&a, "recovered:archive_failing");
    expect(&a, "alert:archive_age:warning");

    dbr_close(db);
    g_string_free(a.log, TRUE);
    g_mutex_clear(&a.lock);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pg_archiver");
    TCase *tc = tcase_create("pg_archiver");

    tcase_set_timeout(tc, 240);
    /* Unchecked: runs even when the test failed half-way. */
    tcase_add_unchecked_fixture(tc, NULL, archiving_off);
    tcase_add_test(tc, test_pg_archiver_wal_slot_and_archive_failures_alert_and_recover);
    suite_add_tcase(s, tc);
    return t_run(s);
}
