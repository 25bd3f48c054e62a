/* SPDX-License-Identifier: MIT */
/*
 * The wake-up word (park.h): a futex on the word itself: a wake is
 * one store and one FUTEX_WAKE, a wait one FUTEX_WAIT, and nothing else is
 * shared (one waiter owns each word, so none of the care a futex mutex
 * needs: futex(2)). Linux only, as the rest of the core (eventfd,
 * CLOCK_MONOTONIC_COARSE).
 */
#include "park.h"

#include "ctx.h"

#ifndef __linux__
#error "core/park.c waits on futex(2): the core builds on Linux only"
#endif
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void dbr_park_init(dbr_park *p)
{
    __atomic_store_n(&p->word, 0, __ATOMIC_RELAXED);
}

void dbr_park_clear(dbr_park *p)
{
    (void)p;
}

void dbr_park_arm(dbr_park *p)
{
    __atomic_store_n(&p->word, 0, __ATOMIC_RELAXED);
}

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
