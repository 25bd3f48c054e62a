/* SPDX-License-Identifier: MIT */
/*
 * The metrics registry and its Prometheus text exposition.
 *
 * Registration takes a lock and happens when a db opens; updates are single
 * atomic operations, so the hot path never locks. Histograms keep
 * per-bucket counts and a sum in nanoseconds, made cumulative when rendered.
 *
 * Counters and histograms are striped: each thread adds to one of
 * NSTRIPES cache-line-sized copies, and a read sums them. One shared
 * counter that every call of every thread increments would bounce its
 * cache line between the CPUs on each call (a cost that grows with
 * threads); a stripe stays in its thread's CPU's cache.
 */
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS G_N_ELEMENTS(bucket_bounds)

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

#define NSTRIPES  8
#define CACHELINE 64

typedef struct metric {
    metric_type type;
    char *name;
    char *help;
    char *labels; /* "" when none */
    union {
        struct dbr_counter {
            struct {
                guint64 value;
            } __attribute__((aligned(CACHELINE))) stripe[NSTRIPES];
        } counter;
        struct dbr_gauge {
            gint64 bits; /* a double's bits, stored atomically */
        } gauge;
        struct dbr_histogram {
            struct {
                guint64 buckets[NBUCKETS + 1];
                guint64 sum_ns;
            } __attribute__((aligned(CACHELINE))) stripe[NSTRIPES];
        } hist;
    } u;
} metric;

/* This thread's stripe: threads take them in turn. */
static int my_stripe(void)
{
    static int next;
    static _Thread_local int mine = -1;

    if (G_UNLIKELY(mine < 0))
        mine = (int)((unsigned)__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % NSTRIPES);
    return mine;
}

struct dbr_metrics {
    GMutex lock;
    GPtrArray *all; /* metric *, in registration order */
};

dbr_metrics *dbr_metrics_new(void)
{
    dbr_metrics *m = g_new0(dbr_metrics, 1);

    g_mutex_init(&m->lock);
    m->all = g_ptr_array_new();
    return m;
}

static void metric_free(metric *x)
{
    g_free(x->name);
    g_free(x->help);
    g_free(x->labels);
    free(x);
}

void dbr_metrics_free(dbr_metrics *m)
{
    if (!m)
        return;
    for (guint i = 0; i < m->all->len; i++)
        metric_free(g_ptr_array_index(m->all, i));
    g_ptr_array_free(m->all, TRUE);
    g_mutex_clear(&m->lock);
    g_free(m);
}

static metric *metric_get(dbr_metrics *m, metric_type type, const char *name, const char *help,
                          const char *labels)
{
    metric *x = NULL;

    if (!m || !name)
        return NULL;
    labels = labels ? labels : "";
    g_mutex_lock(&m->lock);
    for (guint i = 0; i < m->all->len; i++) {
        metric *y = g_ptr_array_index(m->all, i);

        if (strcmp(y->name, name) == 0 && strcmp(y->labels, labels) == 0) {
            x = y->type == type ? y : NULL;
            goto out;
        }
    }
    /* posix_memalign, not g_aligned_alloc0: GLib 2.68 has none. */
    if (posix_memalign((void **)&x, CACHELINE, sizeof(metric)) != 0) {
        x = NULL;
        goto out;
    }
    memset(x, 0, sizeof(*x));
    x->type = type;
    x->name = g_strdup(name);
    x->help = g_strdup(help ? help : "");
    x->labels = g_strdup(labels);
    g_ptr_array_add(m->all, x);
out:
    g_mutex_unlock(&m->lock);
    return x;
}

dbr_counter *dbr_metrics_counter(dbr_metrics *m, const char *name, const char *help,
                                 const char *labels)
{
    metric *x = metric_get(m, METRIC_COUNTER, name, help, labels);

    return x ? &x->u.counter : NULL;
}

dbr_gauge *dbr_metrics_gauge(dbr_metrics *m, const char *name, const char *help, const char *labels)
{
    metric *x = metric_get(m, METRIC_GAUGE, name, help, labels);

    return x ? &x->u.gauge : NULL;
}

dbr_histogram *dbr_metrics_histogram(dbr_metrics *m, const char *name, const char *help,
                                     const char *labels)
{
    metric *x = metric_get(m, METRIC_HISTOGRAM, name, help, labels);

    return x ? &x->u.hist : NULL;
}

void dbr_counter_add(dbr_counter *c, uint64_t n)
{
    if (c)
        __atomic_fetch_add(&c->stripe[my_stripe()].value, n, __ATOMIC_RELAXED);
}

uint64_t dbr_counter_value(const dbr_counter *c)
{
    guint64 v = 0;

    for (int i = 0; c && i < NSTRIPES; i++)
        v += __atomic_load_n(&c->stripe[i].value, __ATOMIC_RELAXED);
    return v;
}

void dbr_gauge_set(dbr_gauge *g, double v)
{
    gint64 bits;

    if (!g)
        return;
    memcpy(&bits, &v, sizeof(bits));
    __atomic_store_n(&g->bits, bits, __ATOMIC_RELAXED);
}

static double gauge_get(const dbr_gauge *g)
{
    gint64 bits = __atomic_load_n(&g->bits, __ATOMIC_RELAXED);
    double v;

    memcpy(&v, &bits, sizeof(v));
    return v;
}

void dbr_histogram_observe(dbr_histogram *h, double seconds)
{
    size_t i = 0;
    int s;

    if (!h)
        return;
    if (seconds < 0 || isnan(seconds))
        seconds = 0;
    while (i < NBUCKETS && seconds > bucket_bounds[i])
        i++;
    s = my_stripe();
    __atomic_fetch_add(&h->stripe[s].buckets[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->stripe[s].sum_ns, (guint64)(seconds * 1e9), __ATOMIC_RELAXED);
}

static guint64 bucket_count(const dbr_histogram *h, size_t i)
{
    guint64 v = 0;

    for (int s = 0; s < NSTRIPES; s++)
        v += __atomic_load_n(&h->stripe[s].buckets[i], __ATOMIC_RELAXED);
    return v;
}

static guint64 sum_ns(const dbr_histogram *h)
{
    guint64 v = 0;

    for (int s = 0; s < NSTRIPES; s++)
        v += __atomic_load_n(&h->stripe[s].sum_ns, __ATOMIC_RELAXED);
    return v;
}

static void series(GString *out, const char *name, const char *suffix, const char *labels,
                   const char *extra)
{
    bool any = *labels || extra;

    g_string_append(out, name);
    g_string_append(out, suffix);
    if (any) {
        g_string_append_c(out, '{');
        g_string_append(out, labels);
        if (*labels && extra)
            g_string_append_c(out, ',');
        if (extra)
            g_string_append(out, extra);
        g_string_append_c(out, '}');
    }
}

static void render_one(GString *out, const metric *x)
{
    char num[G_ASCII_DTOSTR_BUF_SIZE], le[64];
    guint64 cum = 0;

    switch (x->type) {
    case METRIC_COUNTER:
        series(out, x->name, "", x->labels, NULL);
        g_string_append_printf(out, " %" G_GUINT64_FORMAT "\n", dbr_counter_value(&x->u.counter));
        break;
    case METRIC_GAUGE:
        series(out, x->name, "", x->labels, NULL);
        g_string_append_printf(out, " %s\n",
                               g_ascii_formatd(num, sizeof(num), "%.17g", gauge_get(&x->u.gauge)));
        break;
    case METRIC_HISTOGRAM:
        for (size_t i = 0; i <= NBUCKETS; i++) {
            cum += bucket_count(&x->u.hist, i);
            if (i < NBUCKETS)
                g_snprintf(le, sizeof(le), "le=\"%s\"",
                           g_ascii_formatd(num, sizeof(num), "%g", bucket_bounds[i]));
            else
                g_strlcpy(le, "le=\"+Inf\"", sizeof(le));
            series(out, x->name, "_bucket", x->labels, le);
            g_string_append_printf(out, " %" G_GUINT64_FORMAT "\n", cum);
        }
        series(out, x->name, "_sum", x->labels, NULL);
        g_string_append_printf(
            out, " %s\n",
            g_ascii_formatd(num, sizeof(num), "%.9f", (double)sum_ns(&x->u.hist) / 1e9));
        series(out, x->name, "_count", x->labels, NULL);
        /* The count is the +Inf bucket, so the exposition is consistent even
         * while other threads observe. */
        g_string_append_printf(out, " %" G_GUINT64_FORMAT "\n", cum);
        break;
    }
}

void dbr_metrics_render(dbr_metrics *m, GString *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    GHashTable *done = g_hash_table_new(g_str_hash, g_str_equal);

    g_mutex_lock(&m->lock);
    /* Prometheus wants all series of one family together, after one HELP
     * and TYPE: walk families in order of first registration. */
    for (guint i = 0; i < m->all->len; i++) {
        const metric *x = g_ptr_array_index(m->all, i);

        if (g_hash_table_contains(done, x->name))
            continue;
        g_hash_table_add(done, x->name);
        g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name,
                               type_names[x->type]);
        for (guint j = i; j < m->all->len; j++) {
            const metric *y = g_ptr_array_index(m->all, j);

            if (strcmp(y->name, x->name) == 0)
                render_one(out, y);
        }
    }
    g_mutex_unlock(&m->lock);
    g_hash_table_destroy(done);
}
