/* SPDX-License-Identifier: MIT */
/*
 * Deadlines and thread-safe cancellation.
 *
 * A ctx owns an eventfd that turns readable, and stays readable, once the ctx
 * is canceled: a driver polls it beside its socket, so a cancel wakes a
 * blocked query at once without signals or polling loops. Waiters that sleep
 * on a condition variable (the pool) register a waker instead.
 */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"

struct dbr_ctx {
    int64_t deadline_us; /* 0 = none */
    int efd;             /* -1: never canceled */
    bool owns_efd;
    const dbr_ctx *parent; /* a child ends when its parent is canceled */
    gint canceled;         /* atomic */
    bool idempotent;
    GMutex lock; /* guards wakers */
    dbr_ctx_waker *wakers;
};

int64_t dbr_now_us(void)
{
    return g_get_monotonic_time();
}

int64_t dbr_coarse_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static dbr_ctx *ctx_new(int64_t deadline_us)
{
    dbr_ctx *ctx = g_new0(dbr_ctx, 1);

    ctx->deadline_us = deadline_us;
    ctx->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ctx->efd < 0)
        g_error("dbr: eventfd failed: %s", g_strerror(errno)); /* out of descriptors */
    ctx->owns_efd = true;
    g_mutex_init(&ctx->lock);
    return ctx;
}

dbr_ctx *dbr_ctx_new(void)
{
    return ctx_new(0);
}

dbr_ctx *dbr_ctx_with_timeout(long long timeout_ms)
{
    int64_t now = dbr_now_us();

    /* A timeout of zero or less is a ctx already past its deadline. */
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (timeout_ms > INT64_MAX / 2000)
        timeout_ms = INT64_MAX / 2000;
    return ctx_new(now + timeout_ms * 1000);
}

dbr_ctx *dbr_ctx_child(const dbr_ctx *parent, long long timeout_ms)
{
    dbr_ctx *ctx = g_new0(dbr_ctx, 1);
    int64_t deadline;

    if (timeout_ms < 0)
        timeout_ms = 0;
    if (timeout_ms > INT64_MAX / 2000)
        timeout_ms = INT64_MAX / 2000;
    deadline = dbr_now_us() + timeout_ms * 1000;
    /* Cancellation is the parent's: share its descriptor, not a new one. */
    ctx->efd = parent ? parent->efd : -1;
    ctx->parent = parent;
    ctx->idempotent = parent && parent->idempotent;
    ctx->deadline_us = parent && parent->deadline_us && parent->deadline_us < deadline
                           ? parent->deadline_us
                           : deadline;
    g_mutex_init(&ctx->lock);
    return ctx;
}

void dbr_ctx_cancel(dbr_ctx *ctx)
{
    uint64_t one = 1;

    if (!ctx || !ctx->owns_efd || g_atomic_int_exchange(&ctx->canceled, 1))
        return;
    if (write(ctx->efd, &one, sizeof(one)) < 0) {
        /* Only EAGAIN is possible on an eventfd, and then it is readable. */
    }
    g_mutex_lock(&ctx->lock);
    for (dbr_ctx_waker *w = ctx->wakers; w; w = w->next)
        w->fn(w->arg);
    g_mutex_unlock(&ctx->lock);
}

void dbr_ctx_free(dbr_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->owns_efd)
        close(ctx->efd);
    g_mutex_clear(&ctx->lock);
    g_free(ctx);
}

void dbr_ctx_set_idempotent(dbr_ctx *ctx, bool idempotent)
{
    if (ctx)
        ctx->idempotent = idempotent;
}

bool dbr_ctx_idempotent(const dbr_ctx *ctx)
{
    return ctx && ctx->idempotent;
}

bool dbr_ctx_canceled(const dbr_ctx *ctx)
{
    for (; ctx; ctx = ctx->parent)
        if (g_atomic_int_get(&ctx->canceled))
            return true;
    return false;
}

bool dbr_ctx_done(const dbr_ctx *ctx)
{
    return ctx && (dbr_ctx_canceled(ctx) || (ctx->deadline_us && dbr_now_us() >= ctx->deadline_us));
}

int64_t dbr_ctx_deadline(const dbr_ctx *ctx)
{
    return ctx ? ctx->deadline_us : 0;
}

dbr_wait dbr_ctx_wait(const dbr_ctx *ctx)
{
    dbr_wait w = {.deadline_us = 0, .cancel_fd = -1};

    if (ctx) {
        w.deadline_us = ctx->deadline_us;
        w.cancel_fd = ctx->efd;
    }
    return w;
}

bool dbr_ctx_check(const dbr_ctx *ctx, const char *what, dbr_error **err)
{
    if (!ctx)
        return true;
    if (dbr_ctx_canceled(ctx))
        return dbr_set_error(err, DBR_ERR_CANCELED, "core", "%s: canceled", what);
    if (ctx->deadline_us && dbr_now_us() >= ctx->deadline_us)
        return dbr_set_error(err, DBR_ERR_TIMEOUT, "core", "%s: deadline exceeded", what);
    return true;
}

void dbr_ctx_add_waker(dbr_ctx *ctx, dbr_ctx_waker *w)
{
    while (ctx && ctx->parent) /* cancels arrive at the root */
        ctx = (dbr_ctx *)ctx->parent;
    if (!ctx)
        return;
    g_mutex_lock(&ctx->lock);
    w->next = ctx->wakers;
    ctx->wakers = w;
    g_mutex_unlock(&ctx->lock);
}

void dbr_ctx_remove_waker(dbr_ctx *ctx, dbr_ctx_waker *w)
{
    while (ctx && ctx->parent)
        ctx = (dbr_ctx *)ctx->parent;
    if (!ctx)
        return;
    g_mutex_lock(&ctx->lock);
    for (dbr_ctx_waker **p = &ctx->wakers; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    g_mutex_unlock(&ctx->lock);
}

bool dbr_ctx_sleep_until(const dbr_ctx *ctx, int64_t until_us)
{
    struct pollfd pfd = {.fd = ctx ? ctx->efd : -1, .events = POLLIN};

    for (;;) {
        int64_t now = dbr_now_us(), end = until_us, left;

        if (ctx && ctx->deadline_us && (end == 0 || ctx->deadline_us < end))
            end = ctx->deadline_us;
        if (dbr_ctx_canceled(ctx))
            return false;
        if (end && now >= end)
            return end == until_us;
        left = end ? (end - now + 999) / 1000 : -1;
        if (left > INT32_MAX)
            left = INT32_MAX;
        if (poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)left) > 0)
            return false;
    }
}
