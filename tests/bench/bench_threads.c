/* SPDX-License-Identifier: MIT */
/*
 * dbr-bench-threads: calls per second of N threads through dbr's pool next
 * to N threads on raw libpq, one connection each, side by side in one run.
 *
 *   dbr-bench-threads [-s SECONDS] [-r ROUNDS] [--chain LIST] [--cache N]
 * --cache N: [database] statement_cache_size (default 100; 0 sends what raw
 * PQexecParams sends, the like-for-like comparison)
 *
 * Needs DBR_TEST_CONNINFO (scripts/run-bench.sh --threads sets up a
 * throwaway server). Scenarios, each raw against dbr:
 *   1 thread,  pool of 1     against 1 raw thread
 *   2 threads, pool of 2     against 2 raw threads
 *   4 threads, pool of 4     against 4 raw threads
 *   8 threads, pool of 2     against 2 raw threads (waiters: a hand-off)
 * Each round runs every variant for SECONDS in turn (so a change in the
 * machine's speed hits all alike); the figures are medians over the rounds.
 * Every call is `SELECT $1::int`. Printed per variant: calls per second,
 * the ratio to its raw counterpart, the client's CPU per call (the whole
 * process: CLOCK_PROCESS_CPUTIME_ID) and CPU migrations of its threads per
 * second (perf_event_open, PERF_COUNT_SW_CPU_MIGRATIONS, inherited by the
 * threads; "n/a" where the kernel does not allow it).
 */
#include <dbr/dbr.h>

#include <libpq-fe.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16

typedef struct worker {
    PGconn *pg;                 /* raw: its own connection */
    dbr_db *db;                 /* or dbr */
    struct shared_pool *shared; /* or raw threads sharing these */
    atomic_bool *stop;
    long calls;
} worker;

/* The raw reference for waiters: raw threads sharing connections through a
 * mutex-protected stack, a returned connection handed to the oldest waiter
 * (what dbr's pool promises), with no dbr in the way. */
typedef struct shared_waiter {
    pthread_cond_t cond;
    PGconn *conn;
    struct shared_waiter *next;
} shared_waiter;

typedef struct shared_pool {
    pthread_mutex_t lock;
    PGconn *idle[MAX_THREADS];
    int nidle;
    shared_waiter *head, *tail;
} shared_pool;

static PGconn *shared_get(shared_pool *sp, shared_waiter *me)
{
    PGconn *c;

    pthread_mutex_lock(&sp->lock);
    if (sp->nidle) {
        c = sp->idle[--sp->nidle];
    } else {
        me->conn = NULL;
        me->next = NULL;
        if (sp->tail)
            sp->tail->next = me;
        else
            sp->head = me;
        sp->tail = me;
        while (!me->conn)
            pthread_cond_wait(&me->cond, &sp->lock);
        c = me->conn;
    }
    pthread_mutex_unlock(&sp->lock);
    return c;
}

static void shared_put(shared_pool *sp, PGconn *c)
{
    shared_waiter *w;

    pthread_mutex_lock(&sp->lock);
    if ((w = sp->head)) {
        sp->head = w->next;
        if (!sp->head)
            sp->tail = NULL;
        w->conn = c;
        pthread_cond_signal(&w->cond);
    } else {
        sp->idle[sp->nidle++] = c;
    }
    pthread_mutex_unlock(&sp->lock);
}

typedef struct result {
    double ops, cpu_us_per_call, migrations;
} result;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "dbr-bench-threads: %s: %s\n", what, msg);
    exit(1);
}

static double now_s(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *raw_loop(void *arg)
{
    worker *w = arg;
    const char *p[1] = {"42"};

    while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
        PGresult *r = PQexecParams(w->pg, "SELECT $1::int", 1, NULL, p, NULL, NULL, 0);

        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            die("PQexecParams", PQerrorMessage(w->pg));
        PQclear(r);
        w->calls++;
    }
    return NULL;
}

static void *shared_loop(void *arg)
{
    worker *w = arg;
    const char *p[1] = {"42"};
    shared_waiter me = {.conn = NULL};

    pthread_cond_init(&me.cond, NULL);
    while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
        PGconn *c = shared_get(w->shared, &me);
        PGresult *r = PQexecParams(c, "SELECT $1::int", 1, NULL, p, NULL, NULL, 0);

        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            die("PQexecParams", PQerrorMessage(c));
        PQclear(r);
        shared_put(w->shared, c);
        w->calls++;
    }
    pthread_cond_destroy(&me.cond);
    return NULL;
}

static void *dbr_loop(void *arg)
{
    worker *w = arg;
    const char *p[1] = {"42"};

    while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
        dbr_error *err = NULL;
        dbr_result *r = dbr_query(w->db, NULL, "SELECT $1::int", 1, p, &err);

        if (!r)
            die("dbr_query", dbr_error_message(err));
        dbr_result_free(r);
        w->calls++;
    }
    return NULL;
}

/* A counter of this process's CPU migrations, inherited by threads created
 * after it; -1 where perf events are not allowed. */
static int migrations_counter(void)
{
    struct perf_event_attr a;

    memset(&a, 0, sizeof(a));
    a.size = sizeof(a);
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_CPU_MIGRATIONS;
    a.inherit = 1;
    a.disabled = 1;
    a.exclude_kernel = 0;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static result run(int threads, PGconn **pgs, dbr_db *db, shared_pool *shared, double seconds)
{
    pthread_t t[MAX_THREADS];
    worker w[MAX_THREADS];
    atomic_bool stop = false;
    int fd = migrations_counter();
    double wall0, cpu0, wall, cpu;
    long calls = 0;
    long long migrations = 0;
    result r;

    if (fd >= 0) {
        ioctl(fd, PERF_EVENT_IOC_RESET, 0);
        ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
    }
    wall0 = now_s(CLOCK_MONOTONIC);
    cpu0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){.pg = pgs ? pgs[i] : NULL, .db = db, .shared = shared, .stop = &stop};
        pthread_create(&t[i], NULL, shared ? shared_loop : pgs ? raw_loop : dbr_loop, &w[i]);
    }
    {
        struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};

        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        calls += w[i].calls;
    }
    wall = now_s(CLOCK_MONOTONIC) - wall0;
    cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    if (fd >= 0) {
        ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
        if (read(fd, &migrations, sizeof(migrations)) != sizeof(migrations))
            migrations = -1;
        close(fd);
    } else {
        migrations = -1;
    }
    r.ops = (double)calls / wall;
    r.cpu_us_per_call = calls ? cpu * 1e6 / (double)calls : 0;
    r.migrations = migrations < 0 ? -1 : (double)migrations / wall;
    return r;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median_of(result *rs, int n, size_t off)
{
    double v[64];

    for (int i = 0; i < n; i++)
        v[i] = *(const double *)((const char *)&rs[i] + off);
    qsort(v, (size_t)n, sizeof(double), cmp);
    return v[n / 2];
}

/* [database] statement_cache_size of the dbs under test (--cache). */
static int cache_size = 100;

static dbr_db *open_pool(const char *conninfo, int size, const char *chain)
{
    char text[4096];
    dbr_error *err = NULL;
    dbr_db *db;

    snprintf(text, sizeof(text),
             "[database]\ndriver = pq\nconninfo = %s\nmax_open_conns = %d\nmax_idle_conns = %d\n"
             "statement_cache_size = %d\n[chain]\nplugins = %s\n[plugin.health]\ninterval = 1h\n",
             conninfo, size, size, cache_size, chain);
    if (!*chain)
        snprintf(text, sizeof(text),
                 "[database]\ndriver = pq\nconninfo = %s\nmax_open_conns = %d\n"
                 "max_idle_conns = %d\nstatement_cache_size = %d\n",
                 conninfo, size, size, cache_size);
    db = dbr_open_string(text, &err);
    if (!db)
        die("dbr_open", dbr_error_message(err));
    return db;
}

int main(int argc, char **argv)
{
    static const struct {
        int threads, pool, raw;
    } scenarios[] = {{1, 1, 1}, {2, 2, 2}, {4, 4, 4}, {8, 2, 2}};
    enum { NS = sizeof(scenarios) / sizeof(scenarios[0]) };
    const char *conninfo = getenv("DBR_TEST_CONNINFO"), *chain = "retry, breaker, health";
    double seconds = 1.0;
    int rounds = 5;
    PGconn *pgs[MAX_THREADS];
    dbr_db *dbs[NS];
    result raw[NS][64], via[NS][64], shared[NS][64];
    shared_pool sp;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--chain") == 0 && i + 1 < argc)
            chain = argv[++i];
        else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc)
            cache_size = atoi(argv[++i]);
        else
            die("usage", "dbr-bench-threads [-s SECONDS] [-r ROUNDS] [--chain LIST] [--cache N]");
    }
    if (!conninfo)
        die("DBR_TEST_CONNINFO", "not set (run scripts/run-bench.sh --threads)");
    if (rounds < 1 || rounds > 64 || seconds <= 0)
        die("usage", "-r 1..64, -s > 0");
    for (int i = 0; i < MAX_THREADS; i++) {
        pgs[i] = PQconnectdb(conninfo);
        if (PQstatus(pgs[i]) != CONNECTION_OK)
            die("PQconnectdb", PQerrorMessage(pgs[i]));
    }
    for (int s = 0; s < NS; s++)
        dbs[s] = open_pool(conninfo, scenarios[s].pool, chain);
    for (int r = 0; r < rounds; r++) {
        for (int s = 0; s < NS; s++) {
            raw[s][r] = run(scenarios[s].raw, pgs, NULL, NULL, seconds);
            via[s][r] = run(scenarios[s].threads, NULL, dbs[s], NULL, seconds);
            if (scenarios[s].threads > scenarios[s].pool) {
                pthread_mutex_init(&sp.lock, NULL);
                sp.nidle = scenarios[s].pool;
                for (int i = 0; i < sp.nidle; i++)
                    sp.idle[i] = pgs[i];
                sp.head = sp.tail = NULL;
                shared[s][r] = run(scenarios[s].threads, NULL, NULL, &sp, seconds);
                pthread_mutex_destroy(&sp.lock);
            }
        }
    }
    printf("%d rounds x %.1f s per variant, SELECT $1::int over one connection per raw thread; "
           "medians\n",
           rounds, seconds);
    printf("--chain: %s\n", *chain ? chain : "(none)");
    printf("%-34s %10s %7s %10s %12s\n", "variant", "calls/s", "ratio", "cpu us/call",
           "migrations/s");
    for (int s = 0; s < NS; s++) {
        double ro = median_of(raw[s], rounds, offsetof(result, ops));
        double vo = median_of(via[s], rounds, offsetof(result, ops));
        char name[64];

        snprintf(name, sizeof(name), "libpq, %d thread%s", scenarios[s].raw,
                 scenarios[s].raw == 1 ? "" : "s");
        printf("%-34s %10.0f %7.3f %10.2f %12.0f\n", name, ro, 1.0,
               median_of(raw[s], rounds, offsetof(result, cpu_us_per_call)),
               median_of(raw[s], rounds, offsetof(result, migrations)));
        snprintf(name, sizeof(name), "dbr, %d thread%s, pool of %d", scenarios[s].threads,
                 scenarios[s].threads == 1 ? "" : "s", scenarios[s].pool);
        printf("%-34s %10.0f %7.3f %10.2f %12.0f\n", name, vo, vo / ro,
               median_of(via[s], rounds, offsetof(result, cpu_us_per_call)),
               median_of(via[s], rounds, offsetof(result, migrations)));
        if (scenarios[s].threads > scenarios[s].pool) {
            double so = median_of(shared[s], rounds, offsetof(result, ops));

            snprintf(name, sizeof(name), "libpq, %d threads sharing %d (FIFO)",
                     scenarios[s].threads, scenarios[s].pool);
            printf("%-34s %10.0f %7.3f %10.2f %12.0f\n", name, so, so / ro,
                   median_of(shared[s], rounds, offsetof(result, cpu_us_per_call)),
                   median_of(shared[s], rounds, offsetof(result, migrations)));
        }
    }
    for (int s = 0; s < NS; s++)
        dbr_close(dbs[s]);
    for (int i = 0; i < MAX_THREADS; i++)
        PQfinish(pgs[i]);
    return 0;
}
