/* SPDX-License-Identifier: MIT */
/*
 * The router's checker: every check_interval it reads the primary's log
 * position and each standby's replay position (dbr_replication_state_get:
 * the driver knows how), and from them how far behind each standby is, in
 * time.
 *
 * Lag in time, not bytes: the primary's position is sampled with the time
 * it was read, and a standby that has replayed up to L is as far behind as
 * the oldest sample the primary had already passed L at. A standby that
 * has everything the last sample saw is not behind, however idle the
 * primary; one whose replay is paused falls behind as soon as the primary
 * writes. (A replay timestamp, the last replayed transaction's commit
 * time, would call an idle standby of an idle primary late.)
 */
#include <stdlib.h>
#include <string.h>

#include "router.h"

int64_t router_lag_us(const router *r, int64_t lsn, int64_t now_us)
{
    const sample *newest;
    int64_t behind_since = 0;

    if (!r->nsamples)
        return 0;
    newest = &r->samples[(r->head + ROUTER_SAMPLES - 1) % ROUTER_SAMPLES];
    if (lsn >= newest->lsn)
        return 0;
    /* the oldest sample the primary was already past lsn at */
    for (int k = 0; k < r->nsamples; k++) {
        const sample *s =
            &r->samples[(r->head + ROUTER_SAMPLES - r->nsamples + k) % ROUTER_SAMPLES];

        if (s->lsn > lsn) {
            /* Behind even the oldest sample kept, once the window is full:
             * behind since before it, by how much no one knows. Unbounded,
             * rather than the window's length (a stuck standby would look
             * fit under a max_replica_lag longer than the window). */
            if (k == 0 && r->nsamples == ROUTER_SAMPLES)
                return G_MAXINT64;
            behind_since = s->at_us;
            break;
        }
    }
    return MAX(now_us - behind_since, 0);
}

static bool read_state(dbr_db *db, dbr_replication_state *st, int64_t timeout_us)
{
    /* generous: a slow answer is not a down standby (lag says how late) */
    dbr_ctx *ctx = dbr_ctx_with_timeout(MAX(timeout_us / 1000 * 4, 2000));
    bool ok = dbr_replication_state_get(db, ctx, st, NULL);

    dbr_ctx_free(ctx);
    return ok;
}

static void check_once(router *r)
{
    dbr_replication_state primary = {0};
    int64_t now;

    /* a primary that is itself replaying (mid-failover) gives no sample */
    if (read_state(r->primary, &primary, r->interval_us) && !primary.standby) {
        g_mutex_lock(&r->lock);
        r->samples[r->head] = (sample){dbr_host_now_us(r->host), primary.position};
        r->head = (r->head + 1) % ROUTER_SAMPLES;
        r->nsamples = MIN(r->nsamples + 1, ROUTER_SAMPLES);
        g_mutex_unlock(&r->lock);
    }
    for (guint i = 0; i < r->replicas->len; i++) {
        replica *s = g_ptr_array_index(r->replicas, i);
        dbr_replication_state st = {0};
        int64_t lag = 0;
        bool ok;

        /* a standby that was promoted is no standby: its reads could see a
         * history the primary does not have */
        ok = read_state(s->db, &st, r->interval_us) && st.standby;
        if (ok) {
            now = dbr_host_now_us(r->host);
            g_mutex_lock(&r->lock);
            lag = router_lag_us(r, st.position, now);
            g_mutex_unlock(&r->lock);
        }
        g_atomic_int_set(&s->up, ok);
        __atomic_store_n(&s->lag_us, lag, __ATOMIC_RELAXED);
        dbr_gauge_set(s->up_gauge, ok ? 1 : 0);
        dbr_gauge_set(s->lag_gauge, ok ? (double)lag / 1e6 : 0);
    }
}

static gpointer checker(gpointer arg)
{
    router *r = arg;

    g_mutex_lock(&r->lock);
    while (!r->stop) {
        g_mutex_unlock(&r->lock);
        check_once(r);
        g_mutex_lock(&r->lock);
        if (!r->stop)
            g_cond_wait_until(&r->wake, &r->lock, g_get_monotonic_time() + r->interval_us);
    }
    g_mutex_unlock(&r->lock);
    return NULL;
}

void router_checker_start(router *r)
{
    GError *gerr = NULL;

    r->stop = false;
    /* without a thread no standby is ever found fit: every call goes to
     * the primary, which is slower but correct */
    r->thread = g_thread_try_new("dbr-router", checker, r, &gerr);
    if (!r->thread) {
        dbr_log(DBR_LOG_WARNING, ROUTER_LAYER, NULL,
                "cannot start the standby checker (%s): every read goes to the primary",
                gerr->message);
        g_error_free(gerr);
    }
}

void router_checker_stop(router *r)
{
    if (!r->thread)
        return;
    g_mutex_lock(&r->lock);
    r->stop = true;
    g_cond_signal(&r->wake);
    g_mutex_unlock(&r->lock);
    g_thread_join(r->thread);
    r->thread = NULL;
}
