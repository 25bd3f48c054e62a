/* SPDX-License-Identifier: MIT */
/* A retry budget shared by every thread of a db. */
#ifndef DBR_RETRY_BUDGET_H
#define DBR_RETRY_BUDGET_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define BUDGET_SNAPSHOTS 32

typedef struct budget {
    double ratio;      /* retries allowed per request, over the window */
    int64_t window_us; /* the sliding window */
    int min_retries;   /* retries always allowed per window, however few the requests */
    guint64 requests;  /* atomic: every call, counted on the hot path */
    guint64 retries;   /* under lock */
    GMutex lock;
    struct {
        int64_t t_us;
        guint64 requests, retries;
    } snap[BUDGET_SNAPSHOTS];
    int nsnap, head;
} budget;

void budget_init(budget *b, double ratio, int64_t window_us, int min_retries);
void budget_clear(budget *b);
static inline void budget_note_request(budget *b)
{
    __atomic_fetch_add(&b->requests, 1, __ATOMIC_RELAXED);
}
/* Takes one retry from the budget; false when the window's share is spent. */
bool budget_withdraw(budget *b, int64_t now_us);

#endif
