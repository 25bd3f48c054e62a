/* SPDX-License-Identifier: MIT */
/*
 * A wake-up word for one waiting thread: the pool's waiters sleep on their
 * own word, not on a condition variable tied to the pool's lock, so a
 * waiter handed a connection runs on without taking that lock again (with
 * a condition variable it wakes inside the lock's wait and, on a loaded
 * machine, often blocks on it a second time behind the thread that woke
 * it: about half a context switch more per hand-off, measured).
 *
 * Protocol: the waiter arms the word (dbr_park_arm) while it holds the lock
 * that guards what it waits for, checks, lets go of the lock, then waits;
 * a waker changes that state and calls dbr_park_wake under the same lock,
 * so no wake-up is lost and the word outlives every dbr_park_wake on it.
 */
#ifndef DBR_CORE_PARK_H
#define DBR_CORE_PARK_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct dbr_park {
    int word; /* atomic: 0 armed, else the reason it was woken */
} dbr_park;

void dbr_park_init(dbr_park *p);
void dbr_park_clear(dbr_park *p);
/* Ready to wait: a dbr_park_wake from now on ends the next wait. */
void dbr_park_arm(dbr_park *p);
/* Waits until woken or until until_us (dbr_now_us's clock; 0 = no limit).
 * Returns the last wake's reason (> 0), or 0 at until_us and now and then
 * for no reason (the caller checks what it waits for, as with a
 * condition). */
int dbr_park_wait(dbr_park *p, int64_t until_us);
/* Wakes the waiter with a reason (> 0), or makes its next wait return at
 * once. The waker's writes before the call are seen by a waiter that reads
 * this reason. The store of the reason is the last write to *p: a waiter
 * that reads it may free *p (the futex wake that follows only names the
 * address), so a reason that hands something over can end the wait
 * without the lock. */
void dbr_park_wake(dbr_park *p, int why);

#endif
