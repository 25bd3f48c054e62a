/* SPDX-License-Identifier: MIT */
/* Exponential backoff with full jitter. */
#ifndef DBR_RETRY_BACKOFF_H
#define DBR_RETRY_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

typedef struct backoff {
    int64_t initial_us;
    int64_t max_us;
    double multiplier;
    bool jitter;
} backoff;

/*
 * The delay before retry number `retry` (1 = the first retry):
 *   cap   = min(max, initial * multiplier^(retry - 1))
 *   delay = cap                      without jitter
 *   delay = uniform [0, cap)         with full jitter, from random64
 */
int64_t backoff_delay(const backoff *b, int retry, uint64_t random64);

#endif
