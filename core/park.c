/* SPDX-License-Identifier: MIT */
/*
 * The wake-up word (park.h). On Linux a futex on the word itself: a wake is
 * one store and one FUTEX_WAKE, a wait one FUTEX_WAIT, and nothing else is
 * shared (one waiter owns each word, so none of the care a futex mutex
 * needs: futex(2)). Elsewhere a mutex and a condition.
 */
#include "park.h"

#include "ctx.h"

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif

void dbr_park_init(dbr_park *p)
{
    __atomic_store_n(&p->word, 0, __ATOMIC_RELAXED);
#ifndef __linux__
    g_mutex_init(&p->lock);
    g_cond_init(&p->cond);
#endif
}

void dbr_park_clear(dbr_park *p)
{
#ifndef __linux__
    g_mutex_clear(&p->lock);
    g_cond_clear(&p->cond);
#else
    (void)p;
#endif
}

void dbr_park_arm(dbr_park *p)
{
    __atomic_store_n(&p->word, 0, __ATOMIC_RELAXED);
}

#ifdef __linux__
int dbr_park_wait(dbr_park *p, int64_t until_us)
{
    struct timespec rel, *timeout = NULL;
    int why = __atomic_load_n(&p->word, __ATOMIC_ACQUIRE);

    if (why)
        return why;
    if (until_us) {
        int64_t left = until_us - dbr_now_us();

        if (left <= 0)
            return 0;
        rel.tv_sec = (time_t)(left / G_USEC_PER_SEC);
        rel.tv_nsec = (long)(left % G_USEC_PER_SEC) * 1000;
        timeout = &rel;
    }
    /* Sleeps only while the word is still 0; EAGAIN (already woken), EINTR
     * and ETIMEDOUT all end up reading the word again. */
    syscall(SYS_futex, &p->word, FUTEX_WAIT_PRIVATE, 0, timeout, NULL, 0);
    return __atomic_load_n(&p->word, __ATOMIC_ACQUIRE);
}

void dbr_park_wake(dbr_park *p, int why)
{
    __atomic_store_n(&p->word, why, __ATOMIC_RELEASE);
    syscall(SYS_futex, &p->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
#else
int dbr_park_wait(dbr_park *p, int64_t until_us)
{
    int why;

    g_mutex_lock(&p->lock);
    if (!__atomic_load_n(&p->word, __ATOMIC_ACQUIRE)) {
        if (until_us)
            g_cond_wait_until(&p->cond, &p->lock, until_us);
        else
            g_cond_wait(&p->cond, &p->lock);
    }
    why = __atomic_load_n(&p->word, __ATOMIC_ACQUIRE);
    g_mutex_unlock(&p->lock);
    return why;
}

/* Here the waiter takes p->lock after the store, so the unlock is not a
 * write to freed memory. */
void dbr_park_wake(dbr_park *p, int why)
{
    g_mutex_lock(&p->lock);
    __atomic_store_n(&p->word, why, __ATOMIC_RELEASE);
    g_cond_signal(&p->cond);
    g_mutex_unlock(&p->lock);
}
#endif
