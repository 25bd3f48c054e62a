/* SPDX-License-Identifier: MIT */
/*
 * Exponential backoff with full jitter (the AWS Architecture Blog's
 * "Exponential Backoff and Jitter" analysis): among plain, equal and
 * decorrelated jitter it does the least total work and finishes soonest
 * when many clients contend, which is exactly the retry storm after a
 * database restart or a burst of serialization failures. Its one cost, a
 * first retry that may come almost at once, is what a lost connection wants
 * anyway (the pool opens a fresh one).
 */
#include <math.h>

#include "backoff.h"

int64_t backoff_delay(const backoff *b, int retry, uint64_t random64)
{
    double cap = (double)b->initial_us * pow(b->multiplier, retry > 1 ? retry - 1 : 0);

    if (cap > (double)b->max_us || !isfinite(cap))
        cap = (double)b->max_us;
    if (!b->jitter || cap < 1)
        return (int64_t)cap;
    /* 53 random bits make a uniform double in [0, 1). */
    return (int64_t)(cap * ((double)(random64 >> 11) / 9007199254740992.0));
}
