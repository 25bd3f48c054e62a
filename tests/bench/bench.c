/* SPDX-License-Identifier: MIT */
/*
 * dbr-bench: the cost of dbr's layers next to raw libpq, measured side by
 * side in one run on one unix-socket connection.
 *
 *   dbr-bench [-n CALLS] [-r ROUNDS] [--chain "retry, breaker"] [-c EXTRA_CONFIG_FILE]
 *             [--rss MILLIONS] [--stream MILLIONS]
 *   dbr-bench --stmt [-n CALLS] [-r ROUNDS]
 *
 * Needs DBR_TEST_CONNINFO (scripts/run-bench.sh sets up a throwaway server).
 * Each round runs CALLS calls of every variant in turn, so drift in the
 * machine's speed hits all variants alike; the per-call figures are medians
 * over the rounds. Reported per call: wall time and the calling thread's CPU
 * time, and heap allocations (counted by wrapping malloc in this program).
 * Ratios are against raw PQexecParams. --chain adds a dbr variant with that
 * chain of plugins (default "retry, breaker"; "" for none); EXTRA_CONFIG_FILE
 * replaces it with a [chain] group and plugin groups of your own.
 *
 * --stream streams MILLIONS million rows (generate_series) through raw
 * libpq's single-row mode and through dbr_query_stream, side by side:
 * wall time per row and resident memory growth (peak - start).
 *
 * Then, on the scripted driver (no I/O), the core's own path and the
 * plugins' costs: a call through the chain against no chain, and a call an
 * open breaker refuses.
 *
 * --stmt: prepared statements only. SELECT $1::int through the default
 * chain (retry, breaker, health) with the statement cache, without it
 * (statement_cache_size = 0), and through a dbr_stmt, beside raw
 * PQexecParams and PQexecPrepared; ratios against PQexecPrepared.
 * --batch: instead, 100 INSERTs as one dbr_batch_run (ATOMIC and EACH)
 * against 100 sequential dbr_exec on the same connection, and raw libpq
 * pipeline mode and PQexecParams, ROUNDS rounds of 20 batches each.
 * --copy: instead, COPY of 1M rows in (dbr_copy_from from a callback vs
 * raw PQputCopyData) and out (dbr_copy_to vs raw PQgetCopyData), ROUNDS
 * rounds.
 */
#include <dbr/batch.h>
#include <dbr/copy.h>
#include <dbr/dbr.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Allocation counting: this program's malloc family wraps glibc's. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static atomic_long allocs;

void *malloc(size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}

typedef struct sample {
    double wall_us, cpu_us, allocs;
} sample;

typedef struct variant {
    const char *name;
    void (*run)(struct variant *v, int n);
    PGconn *pg;
    dbr_db *db;
    sample *s;
} variant;

static double now_us(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "dbr-bench: %s: %s\n", what, msg);
    exit(1);
}

static void run_params(variant *v, int n)
{
    const char *p[1] = {"42"};

    for (int i = 0; i < n; i++) {
        PGresult *r = PQexecParams(v->pg, "SELECT $1::int", 1, NULL, p, NULL, NULL, 0);

        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            die("PQexecParams", PQerrorMessage(v->pg));
        PQclear(r);
    }
}

static void run_prepared(variant *v, int n)
{
    const char *p[1] = {"42"};

    for (int i = 0; i < n; i++) {
        PGresult *r = PQexecPrepared(v->pg, "q", 1, p, NULL, NULL, 0);

        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            die("PQexecPrepared", PQerrorMessage(v->pg));
        PQclear(r);
    }
}

static void run_dbr(variant *v, int n)
{
    const char *p[1] = {"42"};
    dbr_error *err = NULL;

    for (int i = 0; i < n; i++) {
        dbr_result *r = dbr_query(v->db, NULL, "SELECT $1::int", 1, p, &err);

        if (!r)
            die("dbr_query", dbr_error_message(err));
        dbr_result_free(r);
    }
}

static void run_stmt(variant *v, int n)
{
    const char *p[1] = {"42"};
    dbr_error *err = NULL;
    dbr_stmt *s = dbr_prepare(v->db, NULL, "SELECT $1::int", &err);

    if (!s)
        die("dbr_prepare", dbr_error_message(err));
    for (int i = 0; i < n; i++) {
        dbr_result *r = dbr_stmt_query(s, NULL, 1, p, &err);

        if (!r)
            die("dbr_stmt_query", dbr_error_message(err));
        dbr_result_free(r);
    }
    dbr_stmt_free(s);
}

static int cmp_double_fwd(const void *a, const void *b);

/* Median ns per dbr_ping on the scripted driver, 200 000 calls a round.
 * With control set, the breaker gets that command first (calls then fail). */
static double fake_ping_ns(const char *config, const char *control, long *allocs_out)
{
    dbr_error *err = NULL;
    dbr_db *db = dbr_open_string(config, &err);
    double best[7];
    const int calls = 200000;
    long a0;

    if (!db)
        die("fake driver", dbr_error_message(err));
    if (control && !dbr_control(db, "breaker", control, NULL, &err))
        die("dbr_control", dbr_error_message(err));
    for (int i = 0; i < 1000; i++)
        (void)dbr_ping(db, NULL, NULL);
    a0 = atomic_load(&allocs);
    for (int r = 0; r < 7; r++) {
        double c0 = now_us(CLOCK_THREAD_CPUTIME_ID);

        for (int i = 0; i < calls; i++) {
            dbr_error *e = NULL;

            if (!dbr_ping(db, NULL, &e) && dbr_error_kind_of(e) != DBR_ERR_CIRCUIT_OPEN)
                die("dbr_ping", dbr_error_message(e));
            dbr_error_free(e);
        }
        best[r] = (now_us(CLOCK_THREAD_CPUTIME_ID) - c0) * 1000.0 / calls;
    }
    if (allocs_out)
        *allocs_out = atomic_load(&allocs) - a0;
    dbr_close(db);
    qsort(best, 7, sizeof(double), cmp_double_fwd);
    return best[3];
}

typedef struct contender {
    dbr_db *db;
    int calls;
} contender;

static void *contend(void *arg)
{
    contender *c = arg;

    for (int i = 0; i < c->calls; i++)
        if (!dbr_ping(c->db, NULL, NULL))
            die("dbr_ping", "failed under contention");
    return NULL;
}

/* Threads sharing a small pool on the scripted driver: the FIFO hand-off
 * and the condition variables at work. Wall ns per call, all threads. */
static double contended_ns(int threads, int max_open, int calls, dbr_pool_stats *st)
{
    char config[128];
    dbr_error *err = NULL;
    dbr_db *db;
    pthread_t t[64];
    contender c;
    double w0;

    snprintf(config, sizeof(config), "[database]\ndriver = fake\nmax_open_conns = %d\n", max_open);
    if (!(db = dbr_open_string(config, &err)))
        die("fake driver", dbr_error_message(err));
    c.db = db;
    c.calls = calls;
    w0 = now_us(CLOCK_MONOTONIC);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, contend, &c);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    w0 = (now_us(CLOCK_MONOTONIC) - w0) * 1000.0 / ((double)threads * calls);
    dbr_pool_stats_get(db, st);
    dbr_close(db);
    return w0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int cmp_double_fwd(const void *a, const void *b)
{
    return cmp_double(a, b);
}

static double median(sample *s, int rounds, size_t off)
{
    double v[256];

    for (int i = 0; i < rounds; i++)
        v[i] = *(double *)((char *)&s[i] + off);
    qsort(v, (size_t)rounds, sizeof(double), cmp_double);
    return v[rounds / 2];
}

static dbr_db *open_db(const char *conninfo, const char *extra_path, const char *chain)
{
    char *extra = NULL, *text;
    dbr_error *err = NULL;
    dbr_db *db;
    size_t len = 0;

    if (extra_path) {
        FILE *f = fopen(extra_path, "r");

        if (!f)
            die(extra_path, "cannot read");
        extra = malloc(65536);
        len = fread(extra, 1, 65535, f);
        extra[len] = '\0';
        fclose(f);
    } else if (chain) {
        extra = malloc(strlen(chain) + 64);
        len = (size_t)sprintf(extra, "[chain]\nplugins = %s\n", chain);
    }
    text = malloc(strlen(conninfo) + len + 128);
    sprintf(text, "[database]\ndriver = pq\nconninfo = %s\nmax_open_conns = 1\n%s", conninfo,
            extra ? extra : "");
    db = dbr_open_string(text, &err);
    if (!db)
        die("dbr_open", dbr_error_message(err));
    free(text);
    free(extra);
    return db;
}

static void measure(variant *vs, int nv, int n, int rounds);
static void report(variant *vs, int nv, int rounds, int base, const char *base_name);

/* --stmt: the statement cache against raw libpq's prepared and unnamed
 * statements, one thread, one connection each. */
static int stmt_bench(const char *conninfo, int n, int rounds)
{
    static const char *const configs[] = {
        "",                           /* the default: statement_cache_size = 100 */
        "statement_cache_size = 0\n", /* every statement unnamed */
        "",                           /* through a dbr_stmt */
    };
    variant vs[5] = {
        {.name = "libpq PQexecParams", .run = run_params},
        {.name = "libpq PQexecPrepared", .run = run_prepared},
        {.name = "dbr_query, cache", .run = run_dbr},
        {.name = "dbr_query, cache off", .run = run_dbr},
        {.name = "dbr_stmt_query", .run = run_stmt},
    };
    PGresult *prep;

    vs[0].pg = PQconnectdb(conninfo);
    if (PQstatus(vs[0].pg) != CONNECTION_OK)
        die("PQconnectdb", PQerrorMessage(vs[0].pg));
    vs[1].pg = PQconnectdb(conninfo);
    if (PQstatus(vs[1].pg) != CONNECTION_OK)
        die("PQconnectdb", PQerrorMessage(vs[1].pg));
    prep = PQprepare(vs[1].pg, "q", "SELECT $1::int", 1, NULL);
    PQclear(prep);
    for (int v = 2; v < 5; v++) {
        char *text = malloc(strlen(conninfo) + 256);
        dbr_error *err = NULL;

        sprintf(text,
                "[database]\ndriver = pq\nconninfo = %s\nmax_open_conns = 1\n%s"
                "[chain]\nplugins = retry, breaker, health\n",
                conninfo, configs[v - 2]);
        vs[v].db = dbr_open_string(text, &err);
        if (!vs[v].db)
            die("dbr_open", dbr_error_message(err));
        free(text);
    }
    measure(vs, 5, n, rounds);
    printf("%d rounds x %d calls of SELECT $1::int, one thread, each variant on its own "
           "unix-socket connection; dbr through retry, breaker, health; medians\n",
           rounds, n);
    report(vs, 5, rounds, 1, "prepared");
    for (int v = 0; v < 5; v++) {
        free(vs[v].s);
        if (vs[v].db)
            dbr_close(vs[v].db);
        if (vs[v].pg)
            PQfinish(vs[v].pg);
    }
    return 0;
}

static void measure(variant *vs, int nv, int n, int rounds)
{
    for (int v = 0; v < nv; v++) {
        vs[v].s = calloc((size_t)rounds, sizeof(sample));
        vs[v].run(&vs[v], n / 10 + 1); /* warm up */
    }
    for (int r = 0; r < rounds; r++) {
        for (int v = 0; v < nv; v++) {
            double w0 = now_us(CLOCK_MONOTONIC), c0 = now_us(CLOCK_THREAD_CPUTIME_ID);
            long a0 = atomic_load(&allocs);

            vs[v].run(&vs[v], n);
            vs[v].s[r].wall_us = (now_us(CLOCK_MONOTONIC) - w0) / n;
            vs[v].s[r].cpu_us = (now_us(CLOCK_THREAD_CPUTIME_ID) - c0) / n;
            vs[v].s[r].allocs = (double)(atomic_load(&allocs) - a0) / n;
        }
    }
}

static void report(variant *vs, int nv, int rounds, int base, const char *base_name)
{
    double w0 = median(vs[base].s, rounds, offsetof(sample, wall_us));
    double c0 = median(vs[base].s, rounds, offsetof(sample, cpu_us));
    char x[32];

    snprintf(x, sizeof(x), "x %s", base_name);
    printf("%-28s %10s %10s %10s %10s %8s\n", "variant", "wall us", x, "cpu us", x, "allocs");
    for (int v = 0; v < nv; v++) {
        double w = median(vs[v].s, rounds, offsetof(sample, wall_us));
        double c = median(vs[v].s, rounds, offsetof(sample, cpu_us));
        double a = median(vs[v].s, rounds, offsetof(sample, allocs));

        printf("%-28s %10.2f %10.3f %10.2f %10.3f %8.1f\n", vs[v].name, w, w / w0, c, c / c0, a);
    }
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;

    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * 4;
}

/* ---- --batch: 100 INSERTs per batch ---- */

#define BATCH_N    100
#define BATCH_REPS 20

static void batch_reset(PGconn *pg)
{
    PQclear(PQexec(pg, "TRUNCATE bench_batch"));
}

static void batch_dbr_seq(dbr_db *db, int base)
{
    char id[16];
    const char *p[1] = {id};
    dbr_error *err = NULL;

    for (int i = 0; i < BATCH_N; i++) {
        snprintf(id, sizeof(id), "%d", base + i);
        if (!dbr_exec(db, NULL, "INSERT INTO bench_batch VALUES ($1::int, 'x')", 1, p, &err))
            die("dbr_exec", dbr_error_message(err));
    }
}

static void batch_dbr(dbr_db *db, int base, dbr_batch_mode mode)
{
    dbr_batch *b = dbr_batch_new();
    dbr_error *err = NULL;
    char id[16];
    const char *p[1] = {id};

    for (int i = 0; i < BATCH_N; i++) {
        snprintf(id, sizeof(id), "%d", base + i);
        if (!dbr_batch_add(b, "INSERT INTO bench_batch VALUES ($1::int, 'x')", 1, p, &err))
            die("dbr_batch_add", dbr_error_message(err));
    }
    if (!dbr_batch_run(db, NULL, b, mode, &err))
        die("dbr_batch_run", dbr_error_message(err));
    dbr_batch_free(b);
}

static void batch_dbr_atomic(dbr_db *db, int base)
{
    batch_dbr(db, base, DBR_BATCH_ATOMIC);
}

static void batch_dbr_each(dbr_db *db, int base)
{
    batch_dbr(db, base, DBR_BATCH_EACH);
}

static PGconn *batch_pg;

static void batch_raw_seq(dbr_db *db, int base)
{
    char id[16];
    const char *p[1] = {id};

    (void)db;
    for (int i = 0; i < BATCH_N; i++) {
        PGresult *r;

        snprintf(id, sizeof(id), "%d", base + i);
        r = PQexecParams(batch_pg, "INSERT INTO bench_batch VALUES ($1::int, 'x')", 1, NULL, p,
                         NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            die("PQexecParams", PQerrorMessage(batch_pg));
        PQclear(r);
    }
}

static void batch_raw_pipeline(dbr_db *db, int base)
{
    char id[16];
    const char *p[1] = {id};
    PGresult *r;

    (void)db;
    if (!PQenterPipelineMode(batch_pg))
        die("PQenterPipelineMode", PQerrorMessage(batch_pg));
    for (int i = 0; i < BATCH_N; i++) {
        snprintf(id, sizeof(id), "%d", base + i);
        if (!PQsendQueryParams(batch_pg, "INSERT INTO bench_batch VALUES ($1::int, 'x')", 1, NULL,
                               p, NULL, NULL, 0))
            die("PQsendQueryParams", PQerrorMessage(batch_pg));
    }
    if (!PQpipelineSync(batch_pg))
        die("PQpipelineSync", PQerrorMessage(batch_pg));
    for (int i = 0; i < BATCH_N; i++) {
        r = PQgetResult(batch_pg);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            die("pipeline", PQerrorMessage(batch_pg));
        PQclear(r);
        PQclear(PQgetResult(batch_pg)); /* the NULL that ends it */
    }
    r = PQgetResult(batch_pg);
    if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
        die("pipeline", "no sync");
    PQclear(r);
    PQexitPipelineMode(batch_pg);
}

static int bench_batch(const char *conninfo, int rounds)
{
    static const struct {
        const char *name;
        void (*run)(dbr_db *db, int base);
    } vs[] = {
        {"100 x dbr_exec", batch_dbr_seq},      {"dbr_batch_run ATOMIC", batch_dbr_atomic},
        {"dbr_batch_run EACH", batch_dbr_each}, {"100 x PQexecParams", batch_raw_seq},
        {"libpq pipeline", batch_raw_pipeline},
    };
    enum { NV = sizeof(vs) / sizeof(vs[0]) };
    sample *s[NV];
    dbr_db *db = open_db(conninfo, NULL, NULL);

    batch_pg = PQconnectdb(conninfo);
    if (PQstatus(batch_pg) != CONNECTION_OK)
        die("PQconnectdb", PQerrorMessage(batch_pg));
    PQclear(PQexec(batch_pg, "DROP TABLE IF EXISTS bench_batch"));
    PQclear(PQexec(batch_pg, "CREATE UNLOGGED TABLE bench_batch (id int PRIMARY KEY, v text)"));
    for (int v = 0; v < NV; v++) {
        s[v] = calloc((size_t)rounds, sizeof(sample));
        vs[v].run(db, 0); /* warm up */
        batch_reset(batch_pg);
    }
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < NV; i++) {
            /* odd rounds run the variants the other way round */
            int v = r % 2 ? NV - 1 - i : i;
            double w0 = now_us(CLOCK_MONOTONIC), c0 = now_us(CLOCK_THREAD_CPUTIME_ID);

            for (int k = 0; k < BATCH_REPS; k++)
                vs[v].run(db, k * BATCH_N);
            s[v][r].wall_us = (now_us(CLOCK_MONOTONIC) - w0) / BATCH_REPS;
            s[v][r].cpu_us = (now_us(CLOCK_THREAD_CPUTIME_ID) - c0) / BATCH_REPS;
            batch_reset(batch_pg);
        }
    }
    printf("%d rounds x %d batches of %d INSERTs on one unix-socket connection; medians per "
           "batch of %d\n",
           rounds, BATCH_REPS, BATCH_N, BATCH_N);
    printf("%-24s %10s %14s %10s\n", "variant", "wall us", "x 100 dbr_exec", "cpu us");
    for (int v = 0; v < NV; v++) {
        double w = median(s[v], rounds, offsetof(sample, wall_us));
        double c = median(s[v], rounds, offsetof(sample, cpu_us));
        double w0 = median(s[0], rounds, offsetof(sample, wall_us));

        printf("%-24s %10.0f %13.2fx %10.0f\n", vs[v].name, w, w0 / w, c);
    }
    PQclear(PQexec(batch_pg, "DROP TABLE bench_batch"));
    for (int v = 0; v < NV; v++)
        free(s[v]);
    PQfinish(batch_pg);
    dbr_close(db);
    return 0;
}

/* ---- --copy: 1M rows in and out ---- */

#define COPY_ROWS 1000000LL

typedef struct copy_gen {
    long long next;
} copy_gen;

static long long copy_fill(void *user, char *buf, size_t cap, dbr_error **err)
{
    copy_gen *g = user;
    size_t n = 0;

    (void)err;
    while (g->next <= COPY_ROWS && cap - n > 64) {
        n += (size_t)snprintf(buf + n, cap - n, "%lld\trow %lld\n", g->next, g->next);
        g->next++;
    }
    return (long long)n;
}

static bool copy_count(void *user, const char *data, size_t len, dbr_error **err)
{
    (void)data;
    (void)err;
    *(long long *)user += (long long)len;
    return true;
}

static long long copy_in_dbr(dbr_db *db, PGconn *pg)
{
    copy_gen g = {1};
    dbr_error *err = NULL;
    long long rows = 0;

    (void)pg;
    if (!dbr_copy_from(db, NULL, "COPY bench_copy FROM STDIN", copy_fill, &g, &rows, &err))
        die("dbr_copy_from", dbr_error_message(err));
    return rows;
}

static long long copy_in_raw(dbr_db *db, PGconn *pg)
{
    static char buf[64 * 1024];
    copy_gen g = {1};
    PGresult *r;
    long long n, rows;

    (void)db;
    r = PQexec(pg, "COPY bench_copy FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN)
        die("COPY", PQerrorMessage(pg));
    PQclear(r);
    while ((n = copy_fill(&g, buf, sizeof(buf), NULL)) > 0)
        if (PQputCopyData(pg, buf, (int)n) != 1)
            die("PQputCopyData", PQerrorMessage(pg));
    if (PQputCopyEnd(pg, NULL) != 1)
        die("PQputCopyEnd", PQerrorMessage(pg));
    r = PQgetResult(pg);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        die("COPY", PQerrorMessage(pg));
    rows = atoll(PQcmdTuples(r));
    PQclear(r);
    PQclear(PQgetResult(pg));
    return rows;
}

static long long copy_out_dbr(dbr_db *db, PGconn *pg)
{
    dbr_error *err = NULL;
    long long rows = 0, bytes = 0;

    (void)pg;
    if (!dbr_copy_to(db, NULL, "COPY bench_copy TO STDOUT", copy_count, &bytes, &rows, &err))
        die("dbr_copy_to", dbr_error_message(err));
    return rows;
}

static long long copy_out_raw(dbr_db *db, PGconn *pg)
{
    PGresult *r;
    long long rows, bytes = 0;
    char *row;
    int n;

    (void)db;
    r = PQexec(pg, "COPY bench_copy TO STDOUT");
    if (PQresultStatus(r) != PGRES_COPY_OUT)
        die("COPY", PQerrorMessage(pg));
    PQclear(r);
    while ((n = PQgetCopyData(pg, &row, 0)) > 0) {
        copy_count(&bytes, row, (size_t)n, NULL);
        PQfreemem(row);
    }
    r = PQgetResult(pg);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        die("COPY", PQerrorMessage(pg));
    rows = atoll(PQcmdTuples(r));
    PQclear(r);
    PQclear(PQgetResult(pg));
    return rows;
}

static int bench_copy(const char *conninfo, int rounds)
{
    static const struct {
        const char *name;
        long long (*run)(dbr_db *db, PGconn *pg);
        bool in;
    } vs[] = {
        {"COPY in, dbr_copy_from", copy_in_dbr, true},
        {"COPY in, PQputCopyData", copy_in_raw, true},
        {"COPY out, dbr_copy_to", copy_out_dbr, false},
        {"COPY out, PQgetCopyData", copy_out_raw, false},
    };
    enum { NV = sizeof(vs) / sizeof(vs[0]) };
    sample *s[NV];
    dbr_db *db = open_db(conninfo, NULL, NULL);
    PGconn *pg = PQconnectdb(conninfo);

    if (PQstatus(pg) != CONNECTION_OK)
        die("PQconnectdb", PQerrorMessage(pg));
    PQclear(PQexec(pg, "DROP TABLE IF EXISTS bench_copy"));
    PQclear(PQexec(pg, "CREATE UNLOGGED TABLE bench_copy (id bigint, v text)"));
    for (int v = 0; v < NV; v++)
        s[v] = calloc((size_t)rounds, sizeof(sample));
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < NV; k++) {
            /* odd rounds run each pair the other way round: no variant
             * always goes first */
            int v = r % 2 ? k ^ 1 : k;
            double w0, c0;
            long long rows;

            /* COPY in starts from an empty table; COPY out reads the 1M
             * rows the last COPY in left */
            if (vs[v].in)
                PQclear(PQexec(pg, "TRUNCATE bench_copy"));
            /* the first scan of fresh rows sets their hint bits: not the
             * first COPY out's cost alone */
            if (k == 2)
                PQclear(PQexec(pg, "VACUUM bench_copy"));
            w0 = now_us(CLOCK_MONOTONIC);
            c0 = now_us(CLOCK_THREAD_CPUTIME_ID);
            rows = vs[v].run(db, pg);
            s[v][r].wall_us = now_us(CLOCK_MONOTONIC) - w0;
            s[v][r].cpu_us = now_us(CLOCK_THREAD_CPUTIME_ID) - c0;
            if (rows != COPY_ROWS)
                die(vs[v].name, "wrong row count");
        }
    }
    printf("%d rounds of COPY of %lld rows on one unix-socket connection; medians\n", rounds,
           COPY_ROWS);
    printf("%-26s %10s %10s %10s\n", "variant", "wall ms", "x libpq", "cpu ms");
    for (int v = 0; v < NV; v++) {
        int raw = v | 1;
        double w = median(s[v], rounds, offsetof(sample, wall_us));
        double c = median(s[v], rounds, offsetof(sample, cpu_us));
        double w0 = median(s[raw], rounds, offsetof(sample, wall_us));

        printf("%-26s %10.0f %10.3f %10.0f\n", vs[v].name, w / 1000, w / w0, c / 1000);
    }
    PQclear(PQexec(pg, "DROP TABLE bench_copy"));
    for (int v = 0; v < NV; v++)
        free(s[v]);
    PQfinish(pg);
    dbr_close(db);
    return 0;
}

typedef struct stream_count {
    long long rows;
    long peak_kb;
} stream_count;

static void stream_note(stream_count *c)
{
    if (++c->rows % 100000 == 0) {
        long kb = rss_kb();

        if (kb > c->peak_kb)
            c->peak_kb = kb;
    }
}

static bool stream_row(const dbr_result *row, void *user, dbr_error **err)
{
    (void)err;
    if (!dbr_result_value(row, 0, 0))
        die("dbr_query_stream", "a NULL row");
    stream_note(user);
    return true;
}

/* The same rows through raw libpq's single-row mode and dbr_query_stream. */
static void bench_stream(PGconn *pg, dbr_db *db, int millions)
{
    char sql[128];
    const char *names[2] = {"libpq single-row mode", "dbr_query_stream"};
    double us[2];
    stream_count c[2];

    snprintf(sql, sizeof(sql), "SELECT g, 'row number ' || g FROM generate_series(1, %d) g",
             millions * 1000000);
    for (int v = 0; v < 2; v++) {
        double w0;
        long start;

        memset(&c[v], 0, sizeof(c[v]));
        start = c[v].peak_kb = rss_kb();
        w0 = now_us(CLOCK_MONOTONIC);
        if (v == 0) {
            PGresult *r;

            if (!PQsendQuery(pg, sql) || !PQsetSingleRowMode(pg))
                die("PQsendQuery", PQerrorMessage(pg));
            while ((r = PQgetResult(pg))) {
                if (PQresultStatus(r) == PGRES_SINGLE_TUPLE)
                    stream_note(&c[v]);
                else if (PQresultStatus(r) != PGRES_TUPLES_OK)
                    die("single-row mode", PQerrorMessage(pg));
                PQclear(r);
            }
        } else {
            dbr_error *err = NULL;

            if (!dbr_query_stream(db, NULL, sql, 0, NULL, stream_row, &c[v], NULL, &err))
                die("dbr_query_stream", dbr_error_message(err));
        }
        us[v] = now_us(CLOCK_MONOTONIC) - w0;
        c[v].peak_kb -= start;
    }
    printf("streaming %d million rows of (int, text), one run each:\n", millions);
    printf("%-28s %10s %12s %14s\n", "variant", "seconds", "ns per row", "RSS growth KiB");
    for (int v = 0; v < 2; v++)
        printf("%-28s %10.2f %12.0f %14ld\n", names[v], us[v] / 1e6,
               us[v] * 1000.0 / (double)c[v].rows, c[v].peak_kb);
    printf("dbr_query_stream / libpq: %.3f\n", us[1] / us[0]);
}

int main(int argc, char **argv)
{
    const char *conninfo = getenv("DBR_TEST_CONNINFO"), *extra = NULL, *chain = "retry, breaker";
    int n = 5000, rounds = 9, millions = 0, stream_millions = 0;
    bool stmt = false, batch = false, copy = false;
    variant vs[5];
    int nv = 0;
    PGresult *prep;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            extra = argv[++i];
        else if (strcmp(argv[i], "--chain") == 0 && i + 1 < argc)
            chain = argv[++i];
        else if (strcmp(argv[i], "--rss") == 0 && i + 1 < argc)
            millions = atoi(argv[++i]);
        else if (strcmp(argv[i], "--stmt") == 0)
            stmt = true;
        else if (strcmp(argv[i], "--batch") == 0)
            batch = true;
        else if (strcmp(argv[i], "--copy") == 0)
            copy = true;
        else if (strcmp(argv[i], "--stream") == 0 && i + 1 < argc)
            stream_millions = atoi(argv[++i]);
        else
            die("usage", "dbr-bench [-n CALLS] [-r ROUNDS] [--chain LIST] [-c EXTRA_CONFIG] "
                         "[--rss MILLIONS] [--stream MILLIONS] | --stmt [-n CALLS] [-r ROUNDS] "
                         "| --batch [-r ROUNDS] | --copy [-r ROUNDS]");
    }
    if (!conninfo)
        die("DBR_TEST_CONNINFO", "not set (scripts/run-bench.sh sets it)");
    if (rounds < 1 || rounds > 256 || n < 1)
        die("arguments", "need 1 <= rounds <= 256 and calls >= 1");
    if (stmt)
        return stmt_bench(conninfo, n, rounds);
    if (batch)
        return bench_batch(conninfo, rounds);
    if (copy)
        return bench_copy(conninfo, rounds);

    vs[nv++] = (variant){.name = "libpq PQexecParams", .run = run_params};
    vs[nv++] = (variant){.name = "libpq PQexecPrepared", .run = run_prepared};
    vs[nv++] = (variant){.name = "dbr_query, no plugins", .run = run_dbr};
    if (extra || *chain)
        vs[nv++] =
            (variant){.name = extra ? "dbr_query, -c chain" : "dbr_query, --chain", .run = run_dbr};
    vs[0].pg = PQconnectdb(conninfo);
    vs[1].pg = vs[0].pg;
    if (PQstatus(vs[0].pg) != CONNECTION_OK)
        die("PQconnectdb", PQerrorMessage(vs[0].pg));
    prep = PQprepare(vs[1].pg, "q", "SELECT $1::int", 1, NULL);
    PQclear(prep);
    vs[2].db = open_db(conninfo, NULL, NULL);
    if (nv > 3)
        vs[3].db = open_db(conninfo, extra, chain);

    if (stream_millions > 0)
        bench_stream(vs[0].pg, vs[2].db, stream_millions);
    if (millions > 0) {
        long start = rss_kb();

        printf("resident memory over %d million dbr_query calls (KiB):\n", millions);
        for (int m = 0; m < millions * 10; m++) {
            run_dbr(&vs[2], 100000);
            printf("  after %5.1f M calls: %ld (start %ld)\n", (m + 1) / 10.0, rss_kb(), start);
            fflush(stdout);
        }
    }

    measure(vs, nv, n, rounds);
    printf("%d rounds x %d calls of SELECT $1::int on one unix-socket connection; medians\n",
           rounds, n);
    report(vs, nv, rounds, 0, "params");

    if (*chain)
        printf("--chain: %s\n", chain);
    /* On the scripted driver, whose ping does no I/O: the core's own path
     * (dispatch, metrics, pool checkout and return), the chain's cost on
     * top, and a call refused by an open breaker. */
    {
        const char *bare = "[database]\ndriver = fake\n";
        char *with = malloc(strlen(chain) + 64);
        double bare_ns, chain_ns, open_ns;
        long open_allocs;

        sprintf(with, "[database]\ndriver = fake\n[chain]\nplugins = %s\n", chain);
        bare_ns = fake_ping_ns(bare, NULL, NULL);
        chain_ns = fake_ping_ns(with, NULL, NULL);
        printf("core path without I/O (dispatch + metrics + pool checkout/return, fake driver): "
               "%.0f ns per call, 0 allocations\n",
               bare_ns);
        printf("chain \"%s\" on top of it: +%.0f ns per successful call\n", chain,
               chain_ns - bare_ns);
        {
            const char *only = "[database]\ndriver = fake\n[chain]\nplugins = breaker\n";
            const char *floor = "[database]\ndriver = fake\nconnect_on_open = false\n"
                                "[chain]\nplugins = trace_a\n"
                                "[plugin.trace_a]\nrefuse = true\nquiet = true\n";
            double floor_ns = fake_ping_ns(floor, NULL, NULL);

            open_ns = fake_ping_ns(only, "force_open", &open_allocs);
            printf("refused by an open breaker: %.0f ns per dbr_ping; a plugin that refuses with "
                   "no work at all: %.0f ns (the core's dispatch and call metrics); so the open "
                   "breaker's own part: %.0f ns, %ld allocations in all\n",
                   open_ns, floor_ns, open_ns - floor_ns, open_allocs);
        }
        free(with);
    }
    {
        dbr_pool_stats st;
        double one = contended_ns(1, 2, 200000, &st), many = contended_ns(8, 2, 50000, &st);

        printf("pool under contention (fake driver, max_open_conns = 2): 1 thread %.0f ns per "
               "call; 8 threads %.0f ns per call of wall time, %lld waits averaging %.1f us\n",
               one, many, st.wait_count,
               st.wait_count ? (double)st.wait_duration_us / (double)st.wait_count : 0.0);
    }
    for (int v = 0; v < nv; v++) {
        free(vs[v].s);
        if (vs[v].db)
            dbr_close(vs[v].db);
    }
    PQfinish(vs[0].pg);
    return 0;
}
