/* SPDX-License-Identifier: MIT */
/*
 * The retry budget (after Finagle's RetryBudget and gRPC's retry
 * throttling): over a sliding window, retries may add at most `ratio` of the
 * requests made, plus a small floor so a quiet service can still retry.
 * When every thread of a service meets a struggling server at once, the
 * budget turns most would-be retries into fast failures instead of
 * multiplying the load by max_attempts.
 *
 * The hot path increments a counter and reads the clock; every window/16 a
 * request also takes a snapshot of the counters (under the lock). Deciding
 * a retry (rare) compares the counters with the oldest snapshot inside the
 * window: the requests of the last window, and no older ones, buy retries.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "budget.h"

void budget_init(budget *b, double ratio, int64_t window_us, int min_retries)
{
    b->ratio = ratio;
    b->window_us = window_us;
    b->min_retries = min_retries;
    memset(b->requests, 0, sizeof(b->requests));
    b->retries = 0;
    b->nsnap = 0;
    b->head = 0;
    b->last_snap_us = G_MININT64 / 2;
    g_mutex_init(&b->lock);
}

void budget_clear(budget *b)
{
    g_mutex_clear(&b->lock);
}

/* This thread's stripe, from its pthread handle (no thread-local storage
 * in a dlopen'd module: it would be allocated lazily and looked up through
 * __tls_get_addr on every call). Two threads may share one: that costs
 * some contention, never a count. */
int budget_stripe(void)
{
    guint64 h = (guint64)(uintptr_t)pthread_self();

    h ^= h >> 21;
    h *= 0x9e3779b97f4a7c15ULL;
    return (int)(h >> 61) % BUDGET_STRIPES;
}

static guint64 requests_now(const budget *b)
{
    guint64 n = 0;

    for (int i = 0; i < BUDGET_STRIPES; i++)
        n += __atomic_load_n(&b->requests[i].n, __ATOMIC_RELAXED);
    return n;
}

/* With the lock held. */
static void snapshot_locked(budget *b, int64_t now_us, guint64 requests)
{
    int newest = (b->head + BUDGET_SNAPSHOTS - 1) % BUDGET_SNAPSHOTS;

    if (b->nsnap && now_us - b->snap[newest].t_us < b->window_us / 16)
        return;
    b->snap[b->head].t_us = now_us;
    b->snap[b->head].requests = requests;
    b->snap[b->head].retries = b->retries;
    b->head = (b->head + 1) % BUDGET_SNAPSHOTS;
    if (b->nsnap < BUDGET_SNAPSHOTS)
        b->nsnap++;
    __atomic_store_n(&b->last_snap_us, now_us, __ATOMIC_RELAXED);
}

void budget_snapshot(budget *b, int64_t now_us)
{
    g_mutex_lock(&b->lock);
    snapshot_locked(b, now_us, requests_now(b));
    g_mutex_unlock(&b->lock);
}

bool budget_withdraw(budget *b, int64_t now_us)
{
    guint64 requests, base_req = 0, base_ret = 0;
    bool allowed;

    g_mutex_lock(&b->lock);
    /* Read under the lock: a snapshot taken by another thread in between
     * would be newer than this count, and the difference would wrap. */
    requests = requests_now(b);
    snapshot_locked(b, now_us, requests);
    /* The base is the oldest snapshot still inside the window: the requests
     * of the last window buy retries, not hours of healthy traffic before a
     * server falls over. After a quiet spell it is a recent one, so only
     * the floor applies. */
    for (int i = 0; i < b->nsnap; i++) {
        int k = (b->head + BUDGET_SNAPSHOTS - b->nsnap + i) % BUDGET_SNAPSHOTS;

        if (now_us - b->snap[k].t_us <= b->window_us) {
            base_req = b->snap[k].requests;
            base_ret = b->snap[k].retries;
            break;
        }
    }
    allowed = (double)(b->retries - base_ret) <
              (double)b->min_retries + b->ratio * (double)(requests - base_req);
    if (allowed)
        b->retries++;
    g_mutex_unlock(&b->lock);
    return allowed;
}
