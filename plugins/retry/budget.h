/* SPDX-License-Identifier: MIT */
/* A retry budget shared by every thread of a db. */
#ifndef DBR_RETRY_BUDGET_H
#define DBR_RETRY_BUDGET_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define BUDGET_SNAPSHOTS 32
#define BUDGET_STRIPES   8

typedef struct budget {
    double ratio;      /* retries allowed per request, over the window */
    int64_t window_us; /* the sliding window */
    int min_retries;   /* retries always allowed per window, however few the requests */
    /* atomic: every call, counted on the hot path, each thread on a
     * cache line of its own (one shared counter bounces between CPUs) */
    struct {
        guint64 n;
    } __attribute__((aligned(64))) requests[BUDGET_STRIPES];
    guint64 retries; /* under lock */
    GMutex lock;
    struct {
        int64_t t_us;
        guint64 requests, retries;
    } snap[BUDGET_SNAPSHOTS];
    int nsnap, head;
    gint64 last_snap_us; /* atomic: when the newest snapshot was taken */
} budget;

void budget_init(budget *b, double ratio, int64_t window_us, int min_retries);
void budget_clear(budget *b);
void budget_snapshot(budget *b, int64_t now_us);
/* Counts a request; now and then (every window/16) also takes a snapshot,
 * so that the window's requests are known when a retry is asked for. */
int budget_stripe(void);
static inline void budget_note_request(budget *b, int64_t now_us)
{
    __atomic_fetch_add(&b->requests[budget_stripe()].n, 1, __ATOMIC_RELAXED);
    if (now_us - __atomic_load_n(&b->last_snap_us, __ATOMIC_RELAXED) >= b->window_us / 16)
        budget_snapshot(b, now_us);
}
/* Takes one retry from the budget; false when the window's share is spent. */
bool budget_withdraw(budget *b, int64_t now_us);

#endif
