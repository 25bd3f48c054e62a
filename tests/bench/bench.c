/* SPDX-License-Identifier: MIT */
/*
 * dbr-bench: the cost of dbr's layers next to raw libpq, measured side by
 * side in one run on one unix-socket connection.
 *
 *   dbr-bench [-n CALLS] [-r ROUNDS] [-c EXTRA_CONFIG_FILE] [--rss MILLIONS]
 *
 * Needs DBR_TEST_CONNINFO (scripts/run-bench.sh sets up a throwaway server).
 * Each round runs CALLS calls of every variant in turn, so drift in the
 * machine's speed hits all variants alike; the per-call figures are medians
 * over the rounds. Reported per call: wall time and the calling thread's CPU
 * time, and heap allocations (counted by wrapping malloc in this program).
 * Ratios are against raw PQexecParams. EXTRA_CONFIG_FILE, when given, holds
 * a [chain] group (and plugin groups) for a second dbr variant.
 */
#include <dbr/dbr.h>

#include <libpq-fe.h>
#include <stdatomic.h>
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

static void run_ping_fake(variant *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!dbr_ping(v->db, NULL, NULL))
            die("dbr_ping", "failed");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(sample *s, int rounds, size_t off)
{
    double v[256];

    for (int i = 0; i < rounds; i++)
        v[i] = *(double *)((char *)&s[i] + off);
    qsort(v, (size_t)rounds, sizeof(double), cmp_double);
    return v[rounds / 2];
}

static dbr_db *open_db(const char *conninfo, const char *extra_path)
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

int main(int argc, char **argv)
{
    const char *conninfo = getenv("DBR_TEST_CONNINFO"), *extra = NULL;
    int n = 5000, rounds = 9, millions = 0;
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
        else if (strcmp(argv[i], "--rss") == 0 && i + 1 < argc)
            millions = atoi(argv[++i]);
        else
            die("usage", "dbr-bench [-n CALLS] [-r ROUNDS] [-c EXTRA_CONFIG] [--rss MILLIONS]");
    }
    if (!conninfo)
        die("DBR_TEST_CONNINFO", "not set (scripts/run-bench.sh sets it)");
    if (rounds < 1 || rounds > 256 || n < 1)
        die("arguments", "need 1 <= rounds <= 256 and calls >= 1");

    vs[nv++] = (variant){.name = "libpq PQexecParams", .run = run_params};
    vs[nv++] = (variant){.name = "libpq PQexecPrepared", .run = run_prepared};
    vs[nv++] = (variant){.name = "dbr_query, no plugins", .run = run_dbr};
    if (extra)
        vs[nv++] = (variant){.name = "dbr_query, with -c chain", .run = run_dbr};
    vs[0].pg = PQconnectdb(conninfo);
    vs[1].pg = vs[0].pg;
    if (PQstatus(vs[0].pg) != CONNECTION_OK)
        die("PQconnectdb", PQerrorMessage(vs[0].pg));
    prep = PQprepare(vs[1].pg, "q", "SELECT $1::int", 1, NULL);
    PQclear(prep);
    vs[2].db = open_db(conninfo, NULL);
    if (extra)
        vs[3].db = open_db(conninfo, extra);

    if (millions > 0) {
        long start = rss_kb();

        printf("resident memory over %d million dbr_query calls (KiB):\n", millions);
        for (int m = 0; m < millions * 10; m++) {
            run_dbr(&vs[2], 100000);
            printf("  after %5.1f M calls: %ld (start %ld)\n", (m + 1) / 10.0, rss_kb(), start);
            fflush(stdout);
        }
    }

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
    printf("%d rounds x %d calls of SELECT $1::int on one unix-socket connection; medians\n",
           rounds, n);
    printf("%-28s %10s %10s %10s %10s %8s\n", "variant", "wall us", "x params", "cpu us",
           "x params", "allocs");
    for (int v = 0; v < nv; v++) {
        double w = median(vs[v].s, rounds, offsetof(sample, wall_us));
        double c = median(vs[v].s, rounds, offsetof(sample, cpu_us));
        double a = median(vs[v].s, rounds, offsetof(sample, allocs));
        double w0 = median(vs[0].s, rounds, offsetof(sample, wall_us));
        double c0 = median(vs[0].s, rounds, offsetof(sample, cpu_us));

        printf("%-28s %10.2f %10.3f %10.2f %10.3f %8.1f\n", vs[v].name, w, w / w0, c, c / c0, a);
    }

    /* The core alone: dispatch, metrics, pool checkout and return, on the
     * scripted driver whose ping does no I/O. */
    {
        variant f = {.name = "fake"};
        dbr_error *err = NULL;
        double c0, w0;
        long a0;
        int calls = 200000;

        f.db = dbr_open_string("[database]\ndriver = fake\n", &err);
        if (!f.db)
            die("fake driver", dbr_error_message(err));
        run_ping_fake(&f, 1000);
        w0 = now_us(CLOCK_MONOTONIC);
        c0 = now_us(CLOCK_THREAD_CPUTIME_ID);
        a0 = atomic_load(&allocs);
        run_ping_fake(&f, calls);
        printf("core path without I/O (dispatch + metrics + pool checkout/return, fake driver): "
               "%.0f ns wall, %.0f ns cpu, %.2f allocs per call\n",
               (now_us(CLOCK_MONOTONIC) - w0) * 1000 / calls,
               (now_us(CLOCK_THREAD_CPUTIME_ID) - c0) * 1000 / calls,
               (double)(atomic_load(&allocs) - a0) / calls);
        dbr_close(f.db);
    }
    for (int v = 0; v < nv; v++) {
        free(vs[v].s);
        if (vs[v].db)
            dbr_close(vs[v].db);
    }
    PQfinish(vs[0].pg);
    return 0;
}
