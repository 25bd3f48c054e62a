/* SPDX-License-Identifier: MIT */
/*
 * The dbr demo: a small workload that keeps going while its database
 * connections are killed under it.
 *
 *   dbr-demo CONFIG [ROUNDS]
 *
 * Opens a db from CONFIG, creates a table, and runs ROUNDS rounds of work
 * (an insert in a transaction, a read, a read-only transaction) from 4
 * threads. Halfway through, a separate connection terminates every other
 * backend of the database with pg_terminate_backend. The workload treats an
 * error the library marks retryable by trying again, as applications
 * should; at the end it checks that every insert landed exactly once and
 * prints pool stats and metrics. scripts/run-demo.sh runs it on a throwaway
 * PostgreSQL.
 *
 * On SQLite (driver = sqlite; scripts/run-demo.sh --sqlite) there is no
 * backend to kill: halfway through, one connection holds the database's
 * write lock for a while instead, so writers fail with lock contention
 * (SQLITE_BUSY, nothing applied) and the retry plugin rides it out.
 */
#include <dbr/dbr.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 4

static dbr_db *db;
static bool on_sqlite; /* the demo's own SQL differs per database, not dbr's */
static int rounds = 200;
static atomic_int done_rounds, retried, resolved, failed, plugin_retries;

/* What the plugins did, as they did it. */
static void on_event(const dbr_event *ev, void *user)
{
    (void)user;
    if (strcmp(dbr_event_type(ev), "retry.attempt") == 0) {
        atomic_fetch_add(&plugin_retries, 1);
        printf("  retry plugin: %s failed (%s), attempt %s, trying again in %s ms\n",
               dbr_event_get(ev, "call"), dbr_event_get(ev, "kind"), dbr_event_get(ev, "attempt"),
               dbr_event_get(ev, "delay_ms"));
    } else if (strcmp(dbr_event_type(ev), "breaker.state") == 0) {
        printf("  breaker: %s -> %s\n", dbr_event_get(ev, "from"), dbr_event_get(ev, "to"));
    }
}

/* After DBR_ERR_COMMIT_UNKNOWN: the label is unique, so it tells whether the
 * insert committed. 1 yes, 0 no, -1 cannot tell yet. */
static int insert_landed(const char *label)
{
    const char *params[1] = {label};
    dbr_result *r =
        dbr_query(db, NULL, "SELECT count(*) FROM demo_items WHERE label = $1", 1, params, NULL);
    int n = r ? atoi(dbr_result_value(r, 0, 0)) : -1;

    dbr_result_free(r);
    return n;
}

static bool insert_row(dbr_tx *tx, void *user, dbr_error **err)
{
    const char *params[1] = {user};

    return dbr_tx_exec(tx, "INSERT INTO demo_items (label) VALUES ($1)", 1, params, err);
}

static bool count_rows(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_result *r = dbr_tx_query(tx, "SELECT count(*) FROM demo_items", 0, NULL, err);

    (void)user;
    dbr_result_free(r);
    return r != NULL;
}

/* Runs one step, trying again while the library says that is safe. */
static bool step(int kind, const char *label)
{
    for (int attempt = 1;; attempt++) {
        dbr_error *err = NULL;
        dbr_result *r = NULL;
        bool ok;

        switch (kind) {
        case 0:
            ok = dbr_tx_run(db, NULL, NULL, insert_row, (void *)label, &err);
            break;
        case 1: {
            /* A plain read: safe to repeat even when a backend dies while it
             * runs, so the retry plugin may re-run it (dbr cannot tell a
             * read from a write whose answer was lost: the caller says so). */
            dbr_ctx *read = dbr_ctx_new();

            dbr_ctx_set_idempotent(read, true);
            r = dbr_query(db, read, "SELECT max(id) FROM demo_items", 0, NULL, &err);
            ok = r != NULL;
            dbr_result_free(r);
            dbr_ctx_free(read);
            break;
        }
        default:
            ok = dbr_tx_read_only(db, NULL, count_rows, NULL, &err);
            break;
        }
        if (ok)
            return true;
        if (kind == 0 && dbr_error_kind_of(err) == DBR_ERR_COMMIT_UNKNOWN && attempt < 5) {
            /* Never blind-retry an ambiguous commit: look for its effect. */
            int landed = insert_landed(label);

            printf("  [%s] COMMIT outcome unknown (%s); the row is %s\n", label,
                   dbr_error_message(err),
                   landed == 1 ? "there: it committed" : "not there: retrying");
            dbr_error_free(err);
            if (landed == 1) {
                atomic_fetch_add(&resolved, 1);
                return true;
            }
            atomic_fetch_add(&retried, 1);
            continue;
        }
        if (dbr_error_retryable(err) && attempt < 5) {
            printf("  [%s] %s error, safe to retry: %s\n", label,
                   dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err));
            atomic_fetch_add(&retried, 1);
            dbr_error_free(err);
            continue;
        }
        fprintf(stderr, "  [%s] failed: %s (%s)\n", label, dbr_error_message(err),
                dbr_error_kind_name(dbr_error_kind_of(err)));
        dbr_error_free(err);
        atomic_fetch_add(&failed, 1);
        return false;
    }
}

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    char label[64];

    for (int i = 0; i < rounds / NTHREADS; i++) {
        snprintf(label, sizeof(label), "t%d-%d", id, i);
        step(0, label);
        step(1, label);
        step(2, label);
        atomic_fetch_add(&done_rounds, 1);
    }
    return NULL;
}

/* Holds SQLite's write lock (BEGIN IMMEDIATE, then a write) for 500 ms. */
static bool hold_lock(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    if (!dbr_tx_exec(tx, "UPDATE demo_items SET label = label WHERE id < 0", 0, NULL, err))
        return false;
    nanosleep(&(struct timespec){.tv_nsec = 500000000}, NULL);
    return true;
}

static void *killer(void *arg)
{
    dbr_error *err = NULL;
    dbr_result *r;

    (void)arg;
    while (atomic_load(&done_rounds) < rounds / 2)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    if (on_sqlite) {
        printf("** holding the database's write lock for 500 ms, mid-workload **\n");
        if (!dbr_tx_run(db, NULL, NULL, hold_lock, NULL, &err))
            fprintf(stderr, "locker: %s\n", dbr_error_message(err));
        dbr_error_free(err);
        return NULL;
    }
    /* One of the pool's own connections kills all the others. */
    r = dbr_query(db, NULL,
                  "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                  "AND backend_type = 'client backend'",
                  0, NULL, &err);
    if (r)
        printf("** terminated %s backend(s) with pg_terminate_backend, mid-workload **\n",
               dbr_result_value(r, 0, 0));
    else
        fprintf(stderr, "killer: %s\n", dbr_error_message(err));
    dbr_result_free(r);
    dbr_error_free(err);
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t threads[NTHREADS], kill_thread;
    dbr_error *err = NULL;
    dbr_pool_stats st;
    dbr_result *r;
    char *metrics;
    long long rows;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG [ROUNDS]\n", argv[0]);
        return 2;
    }
    if (argc > 2)
        rounds = atoi(argv[2]) > NTHREADS ? atoi(argv[2]) : rounds;
    db = dbr_open(argv[1], &err);
    if (!db) {
        fprintf(stderr, "dbr_open: %s\n", dbr_error_message(err));
        dbr_error_free(err);
        return 1;
    }
    {
        dbr_module_info drv;

        on_sqlite = dbr_chain_module(db, -1, &drv) && strcmp(drv.module, "sqlite") == 0;
    }
    if (!dbr_exec(db, NULL, "DROP TABLE IF EXISTS demo_items; ", 0, NULL, &err) ||
        !dbr_exec(db, NULL,
                  on_sqlite ? "CREATE TABLE demo_items (id integer PRIMARY KEY, label text UNIQUE)"
                            : "CREATE TABLE demo_items (id serial PRIMARY KEY, label text UNIQUE)",
                  0, NULL, &err)) {
        fprintf(stderr, "setup: %s\n", dbr_error_message(err));
        dbr_error_free(err);
        dbr_close(db);
        return 1;
    }
    dbr_subscribe(db, on_event, NULL);
    printf("running %d rounds on %d threads\n", rounds, NTHREADS);
    pthread_create(&kill_thread, NULL, killer, NULL);
    for (long i = 0; i < NTHREADS; i++)
        pthread_create(&threads[i], NULL, worker, (void *)i);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_join(kill_thread, NULL);

    r = dbr_query(db, NULL, "SELECT count(*), count(DISTINCT label) FROM demo_items", 0, NULL,
                  &err);
    rows = r ? atoll(dbr_result_value(r, 0, 0)) : -1;
    printf("carried on: %d rounds done; the retry plugin retried %d calls, the application %d "
           "more, %d unknown commits resolved by the application, %d failed; %lld rows inserted "
           "(expected %d)\n",
           atomic_load(&done_rounds), atomic_load(&plugin_retries), atomic_load(&retried),
           atomic_load(&resolved), atomic_load(&failed), rows, (rounds / NTHREADS) * NTHREADS);
    dbr_result_free(r);
    dbr_error_free(err);
    dbr_pool_stats_get(db, &st);
    printf("pool: max_open=%d open=%d in_use=%d idle=%d wait_count=%lld wait=%lldus "
           "closed(max_idle=%lld idle_time=%lld lifetime=%lld)\n",
           st.max_open, st.open, st.in_use, st.idle, st.wait_count, st.wait_duration_us,
           st.max_idle_closed, st.max_idle_time_closed, st.max_lifetime_closed);
    metrics = dbr_metrics_text(db);
    printf("--- metrics ---\n%s", metrics);
    free(metrics);
    dbr_close(db);
    return atomic_load(&failed) == 0 && rows == (rounds / NTHREADS) * NTHREADS ? 0 : 1;
}
