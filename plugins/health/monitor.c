/* SPDX-License-Identifier: MIT */
/*
 * The background monitor: one thread per db, a check every interval.
 *
 * A check pings with ping_timeout, runs the probe query with query_timeout,
 * reads the pool's stats and the breaker's state (learned from its
 * breaker.state events), evaluates the alert conditions, and recycles
 * connections: after a check that failed for a connection reason every
 * idle connection is closed (they are likely dead), otherwise those past
 * their idle time or lifetime.
 *
 * The ping and the query go below the chain (dbr_host_check): a check
 * measures the database, not the plugins. It never waits out a retry's
 * backoff, spends the retry budget, takes a half-open slot or is refused by
 * an open breaker, and an exhausted pool or a slow query is not taken for
 * dead connections.
 *
 * Closing the db stops the thread: the running check's ctx is canceled, so
 * a check stuck on a dead server ends at once, and the thread is joined.
 */
#include <string.h>

#include "archiver.h"
#include "health.h"

static const char *intern_state(const char *s)
{
    static const char *const states[] = {"closed", "half-open", "open"};

    for (size_t i = 0; s && i < G_N_ELEMENTS(states); i++)
        if (strcmp(s, states[i]) == 0)
            return states[i];
    return "unknown";
}

static void breaker_seen(const dbr_event *ev, void *user)
{
    health *h = user;
    const char *to;

    if (strcmp(dbr_event_type(ev), "breaker.state") != 0)
        return;
    to = intern_state(dbr_event_get(ev, "to"));
    g_mutex_lock(&h->lock);
    h->breaker = to;
    /* An outage episode runs from open, through half-open probes, to closed. */
    if (strcmp(to, "open") == 0 && !h->breaker_opened_us)
        h->breaker_opened_us = dbr_host_now_us(h->host);
    else if (strcmp(to, "closed") == 0)
        h->breaker_opened_us = 0;
    g_mutex_unlock(&h->lock);
}

/* Makes a ctx for one step of the check, or NULL when the db is closing. */
static dbr_ctx *begin_step(health *h, int64_t timeout_us)
{
    dbr_ctx *ctx = dbr_ctx_with_timeout(timeout_us / 1000);

    g_mutex_lock(&h->lock);
    if (h->stopping) {
        g_mutex_unlock(&h->lock);
        dbr_ctx_free(ctx);
        return NULL;
    }
    h->in_flight = ctx;
    g_mutex_unlock(&h->lock);
    return ctx;
}

static void end_step(health *h, dbr_ctx *ctx)
{
    g_mutex_lock(&h->lock);
    h->in_flight = NULL;
    g_mutex_unlock(&h->lock);
    dbr_ctx_free(ctx);
}

static void measure(health *h, health_report *r)
{
    dbr_error *err = NULL;
    dbr_ctx *ctx;
    int64_t t0;

    if (!(ctx = begin_step(h, h->cfg.ping_timeout_us))) {
        g_strlcpy(r->error, "the db is closing", sizeof(r->error));
        return;
    }
    t0 = dbr_now_us();
    r->ok = r->ping_ok = dbr_host_check(h->host, ctx, NULL, &err);
    r->ping_us = dbr_now_us() - t0;
    end_step(h, ctx);
    if (!r->ok) {
        g_snprintf(r->error, sizeof(r->error), "ping: %s", dbr_error_message(err));
        r->error_kind = dbr_error_kind_of(err);
        dbr_error_free(err);
        return;
    }
    dbr_histogram_observe(h->ping_seconds, (double)r->ping_us / 1e6);
    if (!(ctx = begin_step(h, h->cfg.query_timeout_us))) {
        r->ok = false;
        g_strlcpy(r->error, "the db is closing", sizeof(r->error));
        return;
    }
    t0 = dbr_now_us();
    r->ok = dbr_host_check(h->host, ctx, h->cfg.probe_query, &err);
    r->query_us = dbr_now_us() - t0;
    end_step(h, ctx);
    if (!r->ok) {
        g_snprintf(r->error, sizeof(r->error), "probe query: %s", dbr_error_message(err));
        r->error_kind = dbr_error_kind_of(err);
        dbr_error_free(err);
        return;
    }
    dbr_histogram_observe(h->query_seconds, (double)r->query_us / 1e6);
}

void health_check_now(health *h, health_report *out)
{
    health_report prev = {0};
    bool had_prev;
    long long waits, waited, ended;
    int archiver_alerts = 0;

    g_mutex_lock(&h->check_lock); /* one check at a time: episodes stay in order */
    memset(out, 0, sizeof(*out));
    out->at_us = dbr_host_now_us(h->host);
    out->at_unix = g_get_real_time() / G_USEC_PER_SEC;
    measure(h, out);
    /* Recycle: after a connection failure all idle connections are suspect;
     * a timeout, an exhausted pool or an error in the probe query says
     * nothing about them. */
    dbr_pool_close_idle(h->db, !out->ok && (out->error_kind == DBR_ERR_CONNECTION ||
                                            out->error_kind == DBR_ERR_COMMIT_UNKNOWN));
    dbr_pool_stats_get(h->db, &out->pool);

    out->waiting = dbr_pool_waiters(h->db);
    g_mutex_lock(&h->lock);
    /* A wait is counted when it starts and timed when it ends: the waits
     * that ended since the last check are those then in progress, plus
     * those started since, less those still in progress. */
    waits = out->pool.wait_count - h->prev_wait_count;
    waited = out->pool.wait_duration_us - h->prev_wait_us;
    ended = h->prev_waiting + waits - out->waiting;
    out->waits = waits;
    out->wait_avg_us = ended > 0 ? (double)waited / (double)ended : 0;
    h->prev_wait_count = out->pool.wait_count;
    h->prev_wait_us = out->pool.wait_duration_us;
    h->prev_waiting = out->waiting;
    out->breaker = h->breaker ? h->breaker : "none";
    out->breaker_open_us = h->breaker_opened_us ? out->at_us - h->breaker_opened_us : 0;
    had_prev = h->have_last;
    prev = h->last;
    g_mutex_unlock(&h->lock);

    health_evaluate(&h->cfg, out);
    /* Subscribers may call back into this plugin: publish unlocked. */
    health_announce(h->host, &h->cfg, had_prev ? &prev : NULL, out);
    if (h->archiver && out->ok) {
        dbr_ctx *ctx = begin_step(h, h->cfg.query_timeout_us);

        if (ctx) {
            out->status =
                MAX(out->status, health_archiver_check(h->archiver, h->db, ctx, &archiver_alerts));
            health_archiver_report(h->archiver, out);
            end_step(h, ctx);
        }
    }
    dbr_counter_add(out->ok ? h->checks_ok : h->checks_failed, 1);
    dbr_gauge_set(h->status_gauge, out->status);
    {
        int n = archiver_alerts;

        for (int c = 0; c < NCONDS; c++)
            n += out->active[c];
        dbr_gauge_set(h->alerts_gauge, n);
    }
    g_mutex_lock(&h->lock);
    h->last = *out;
    h->have_last = true;
    g_mutex_unlock(&h->lock);
    g_mutex_unlock(&h->check_lock);
}

static gpointer monitor_thread(gpointer data)
{
    health *h = data;
    health_report r;

    g_mutex_lock(&h->lock);
    while (!h->stopping) {
        gint64 until = g_get_monotonic_time() + h->cfg.interval_us;

        while (!h->stopping && g_cond_wait_until(&h->wake, &h->lock, until))
            ;
        if (h->stopping)
            break;
        g_mutex_unlock(&h->lock);
        health_check_now(h, &r);
        g_mutex_lock(&h->lock);
    }
    g_mutex_unlock(&h->lock);
    return NULL;
}

bool health_monitor_start(health *h, dbr_error **err)
{
    GError *gerr = NULL;

    dbr_subscribe(h->db, breaker_seen, h);
    h->thread = g_thread_try_new("dbr-health", monitor_thread, h, &gerr);
    if (!h->thread) {
        dbr_unsubscribe(h->db, breaker_seen, h);
        dbr_set_error(err, DBR_ERR_PLUGIN, HEALTH_LAYER, "cannot start the monitor thread: %s",
                      gerr->message);
        g_error_free(gerr);
        return false;
    }
    return true;
}

bool health_last(health *h, health_report *out)
{
    bool have;

    g_mutex_lock(&h->lock);
    have = h->have_last;
    if (have)
        *out = h->last;
    g_mutex_unlock(&h->lock);
    return have;
}

void health_monitor_stop(health *h)
{
    if (!h->thread)
        return;
    g_mutex_lock(&h->lock);
    h->stopping = true;
    if (h->in_flight)
        dbr_ctx_cancel(h->in_flight); /* a check stuck on a dead server ends now */
    g_cond_broadcast(&h->wake);
    g_mutex_unlock(&h->lock);
    g_thread_join(h->thread);
    h->thread = NULL;
    dbr_unsubscribe(h->db, breaker_seen, h);
}
