/* SPDX-License-Identifier: MIT */
/* Deadlines and cancellation, as the rest of the core sees them. */
#ifndef DBR_CORE_CTX_H
#define DBR_CORE_CTX_H

#include <dbr/driver.h>

/*
 * Someone blocked on a condition variable who must wake when the ctx is
 * canceled. Registered for the duration of one wait; fn runs on the canceling
 * thread with the ctx lock held, so it may take the waiter's own lock but must
 * never call back into the ctx.
 */
typedef struct dbr_ctx_waker {
    void (*fn)(void *arg);
    void *arg;
    struct dbr_ctx_waker *next;
} dbr_ctx_waker;

/* CLOCK_MONOTONIC at tick resolution (a few ms), for expiry decisions on hot
 * paths: the same time base as dbr_now_us(), a fifth of the cost. */
int64_t dbr_coarse_now_us(void);

/* ctx may be NULL everywhere: no deadline, never canceled. */
/* Fills out with ctx's deadline and cancel descriptor (made on first use)
 * and grace_us. False, with DBR_ERR_RESOURCE, when no descriptor can be had:
 * the call must then fail before it sends anything. */
bool dbr_ctx_wait(const dbr_ctx *ctx, int64_t grace_us, dbr_wait *out, dbr_error **err);
/* The wait of a control statement (ROLLBACK, RELEASE, a session reset),
 * which must run even when the caller's deadline has passed or its ctx was
 * canceled: a deadline of its own, timeout_us from now, and no cancel
 * descriptor. */
dbr_wait dbr_wait_own(int64_t timeout_us, int64_t grace_us);
/* w with its deadline brought forward to timeout_us from now, when it has
 * none or a later one: a connect or a check bounded by its own timeout
 * within the caller's deadline. */
dbr_wait dbr_wait_within(dbr_wait w, int64_t timeout_us);
bool dbr_ctx_canceled(const dbr_ctx *ctx);
bool dbr_ctx_idempotent(const dbr_ctx *ctx);
/* False, with DBR_ERR_CANCELED or DBR_ERR_TIMEOUT, when ctx is done. */
bool dbr_ctx_check(const dbr_ctx *ctx, const char *what, dbr_error **err);
void dbr_ctx_add_waker(dbr_ctx *ctx, dbr_ctx_waker *w);
void dbr_ctx_remove_waker(dbr_ctx *ctx, dbr_ctx_waker *w);
/* Blocks until ctx is canceled, its deadline passes, or until_us (0 = no
 * limit): true when until_us was reached first. Never busy-waits. */
bool dbr_ctx_sleep_until(const dbr_ctx *ctx, int64_t until_us);

#endif
