/* SPDX-License-Identifier: MIT */
/*
 * Deadlines and thread-safe cancellation.
 *
 * A ctx has an eventfd that turns readable, and stays readable, once the ctx
 * is canceled: a driver polls it beside its socket, so a cancel wakes a
 * blocked query at once without signals or polling loops. Waiters that sleep
 * on a condition variable (the pool) register a waker instead.
 *
 * The eventfd is made the first time a call waits on the ctx, not when the
 * ctx is made: a program short of descriptors gets a DBR_ERR_RESOURCE error
 * from that call (nothing sent) instead of an abort, and a ctx that never
 * reaches the server costs no descriptor. Out of memory, the constructors
 * return a ctx that is already past its deadline rather than NULL, which
 * would mean "no deadline": a call made with it fails at once, not applied.
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
    int64_t deadline_us;   /* 0 = none */
    gint efd;              /* atomic; -1 until a call first waits on a root ctx */
    bool is_child;         /* shares its root's eventfd, cannot be canceled itself */
    bool preset;           /* the out-of-memory ctx: static, already expired */
    const dbr_ctx *parent; /* a child ends when its parent is canceled */
    gint canceled;         /* atomic */
    bool idempotent;
    int route;   /* dbr_route */
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

/* Handed out when a ctx cannot be allocated: expired since the epoch of
 * the monotonic clock, never freed, never changed. */
static dbr_ctx oom_ctx = {.deadline_us = 1, .efd = -1, .preset = true};

static dbr_ctx *ctx_alloc(int64_t deadline_us)
{
    dbr_ctx *ctx = g_try_new0(dbr_ctx, 1);

    if (!ctx)
        return &oom_ctx;
    ctx->deadline_us = deadline_us;
    ctx->efd = -1;
    g_mutex_init(&ctx->lock);
    return ctx;
}

dbr_ctx *dbr_ctx_new(void)
{
    return ctx_alloc(0);
}

/* The deadline timeout_ms from now. A timeout of zero or less is a
 * deadline already reached; a huge one is capped where the microseconds
 * cannot overflow when added to the clock. */
static int64_t deadline_in(long long timeout_ms)
{
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (timeout_ms > INT64_MAX / 2000)
        timeout_ms = INT64_MAX / 2000;
    return dbr_now_us() + timeout_ms * 1000;
}

dbr_ctx *dbr_ctx_with_timeout(long long timeout_ms)
{
    return ctx_alloc(deadline_in(timeout_ms));
}

dbr_ctx *dbr_ctx_child(const dbr_ctx *parent, long long timeout_ms)
{
    int64_t deadline = deadline_in(timeout_ms);
    dbr_ctx *ctx = ctx_alloc(deadline);

    if (ctx->preset)
        return ctx;
    /* Cancellation is the root's: share its descriptor, not a new one. */
    ctx->is_child = true;
    ctx->parent = parent;
    ctx->idempotent = parent && parent->idempotent;
    ctx->route = parent ? parent->route : DBR_ROUTE_DEFAULT;
    ctx->deadline_us = parent && parent->deadline_us && parent->deadline_us < deadline
                           ? parent->deadline_us
                           : deadline;
    g_mutex_init(&ctx->lock);
    return ctx;
}

static void signal_efd(int fd)
{
    uint64_t one = 1;

    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
        /* Only EAGAIN is possible on an eventfd, and then it is readable. */
    }
}

void dbr_ctx_cancel(dbr_ctx *ctx)
{
    if (!ctx || ctx->is_child || ctx->preset || g_atomic_int_exchange(&ctx->canceled, 1))
        return;
    /* A waiter that makes the descriptor after this read sees the flag and
     * signals it itself (dbr_ctx_wait): one of the two always does. */
    signal_efd(g_atomic_int_get(&ctx->efd));
    g_mutex_lock(&ctx->lock);
    for (dbr_ctx_waker *w = ctx->wakers; w; w = w->next)
        w->fn(w->arg);
    g_mutex_unlock(&ctx->lock);
}

void dbr_ctx_free(dbr_ctx *ctx)
{
    if (!ctx || ctx->preset)
        return;
    if (ctx->efd >= 0)
        close(ctx->efd);
    g_mutex_clear(&ctx->lock);
    g_free(ctx);
}

void dbr_ctx_set_idempotent(dbr_ctx *ctx, bool idempotent)
{
    if (ctx && !ctx->preset)
        ctx->idempotent = idempotent;
}

bool dbr_ctx_idempotent(const dbr_ctx *ctx)
{
    return ctx && ctx->idempotent;
}

void dbr_ctx_set_route(dbr_ctx *ctx, dbr_route route)
{
    if (ctx && !ctx->preset && route >= DBR_ROUTE_DEFAULT && route <= DBR_ROUTE_PRIMARY)
        ctx->route = route;
}

dbr_route dbr_ctx_route(const dbr_ctx *ctx)
{
    return ctx ? (dbr_route)ctx->route : DBR_ROUTE_DEFAULT;
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

/* The ctx at the top of ctx's parents (NULL for NULL): cancels arrive
 * there, and its eventfd and wakers serve the whole family. */
static dbr_ctx *root_of(const dbr_ctx *ctx)
{
    while (ctx && ctx->parent)
        ctx = ctx->parent;
    return (dbr_ctx *)ctx;
}

/* The root's eventfd, made on first use; -1 and errno when it cannot be. */
static int root_efd(const dbr_ctx *ctx)
{
    dbr_ctx *root = root_of(ctx);
    int fd;

    if (root->preset)
        return -1;
    fd = g_atomic_int_get(&root->efd);
    if (fd >= 0)
        return fd;
    fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -1;
    if (!g_atomic_int_compare_and_exchange(&root->efd, -1, fd)) {
        close(fd); /* another thread was first */
        return g_atomic_int_get(&root->efd);
    }
    if (g_atomic_int_get(&root->canceled))
        signal_efd(fd); /* canceled before the descriptor existed */
    return fd;
}

bool dbr_ctx_wait(const dbr_ctx *ctx, int64_t grace_us, dbr_wait *out, dbr_error **err)
{
    out->deadline_us = ctx ? ctx->deadline_us : 0;
    out->cancel_fd = -1;
    out->grace_us = grace_us;
    if (!ctx || ctx->preset)
        return true;
    out->cancel_fd = root_efd(ctx);
    if (out->cancel_fd < 0)
        return dbr_set_error(err, DBR_ERR_RESOURCE, "core",
                             "cannot wait on the ctx: eventfd failed: %s (out of file "
                             "descriptors?); nothing was sent",
                             g_strerror(errno));
    return true;
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
    ctx = root_of(ctx); /* cancels arrive at the root */
    if (!ctx)
        return;
    g_mutex_lock(&ctx->lock);
    w->next = ctx->wakers;
    ctx->wakers = w;
    g_mutex_unlock(&ctx->lock);
}

void dbr_ctx_remove_waker(dbr_ctx *ctx, dbr_ctx_waker *w)
{
    ctx = root_of(ctx);
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
    /* Without a descriptor (none to be had) the sleep still ends on time;
     * a cancel is then noticed within 50 ms. */
    int fd = ctx ? root_efd(ctx) : -1;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

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
        if (ctx && fd < 0 && (left < 0 || left > 50))
            left = 50;
        if (poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)left) > 0)
            return false;
    }
}

dbr_wait dbr_wait_own(int64_t timeout_us, int64_t grace_us)
{
    return (dbr_wait){
        .deadline_us = dbr_now_us() + timeout_us, .cancel_fd = -1, .grace_us = grace_us};
}

dbr_wait dbr_wait_within(dbr_wait w, int64_t timeout_us)
{
    int64_t limit = dbr_now_us() + timeout_us;

    if (!w.deadline_us || w.deadline_us > limit)
        w.deadline_us = limit;
    return w;
}
