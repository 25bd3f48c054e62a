/* SPDX-License-Identifier: MIT */
/*
 * ThreadSanitizer and GLib's locks. On Linux GLib implements GMutex, GCond
 * and GRWLock on futexes inside libglib, which ThreadSanitizer neither
 * intercepts nor instruments: every access a GMutex orders would be
 * reported as a race. Linked into the ThreadSanitizer build's test
 * programs only, this file interposes the lock functions the core calls,
 * runs GLib's own through dlsym(RTLD_NEXT), and tells ThreadSanitizer what
 * they order (acquire after taking a lock, release before giving it up),
 * the annotations its documentation gives for custom synchronisation.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <glib.h>
#include <stdlib.h>

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

#define REAL(ret, name, params)                                                                    \
    static ret(*real_##name) params;                                                               \
    if (!real_##name) {                                                                            \
        *(void **)&real_##name = dlsym(RTLD_NEXT, #name);                                          \
        if (!real_##name)                                                                          \
            abort();                                                                               \
    }

void g_mutex_lock(GMutex *m)
{
    REAL(void, g_mutex_lock, (GMutex *))
    real_g_mutex_lock(m);
    __tsan_acquire(m);
}

gboolean g_mutex_trylock(GMutex *m)
{
    REAL(gboolean, g_mutex_trylock, (GMutex *))
    if (!real_g_mutex_trylock(m))
        return FALSE;
    __tsan_acquire(m);
    return TRUE;
}

void g_mutex_unlock(GMutex *m)
{
    REAL(void, g_mutex_unlock, (GMutex *))
    __tsan_release(m);
    real_g_mutex_unlock(m);
}

void g_cond_wait(GCond *c, GMutex *m)
{
    REAL(void, g_cond_wait, (GCond *, GMutex *))
    __tsan_release(m);
    real_g_cond_wait(c, m);
    __tsan_acquire(m);
}

gboolean g_cond_wait_until(GCond *c, GMutex *m, gint64 end_time)
{
    gboolean r;

    REAL(gboolean, g_cond_wait_until, (GCond *, GMutex *, gint64))
    __tsan_release(m);
    r = real_g_cond_wait_until(c, m, end_time);
    __tsan_acquire(m);
    return r;
}

void g_rw_lock_writer_lock(GRWLock *l)
{
    REAL(void, g_rw_lock_writer_lock, (GRWLock *))
    real_g_rw_lock_writer_lock(l);
    __tsan_acquire(l);
}

void g_rw_lock_writer_unlock(GRWLock *l)
{
    REAL(void, g_rw_lock_writer_unlock, (GRWLock *))
    __tsan_release(l);
    real_g_rw_lock_writer_unlock(l);
}

void g_rw_lock_reader_lock(GRWLock *l)
{
    REAL(void, g_rw_lock_reader_lock, (GRWLock *))
    real_g_rw_lock_reader_lock(l);
    __tsan_acquire(l);
}

/* Readers only read: their release is what a later writer acquires. */
void g_rw_lock_reader_unlock(GRWLock *l)
{
    REAL(void, g_rw_lock_reader_unlock, (GRWLock *))
    __tsan_release(l);
    real_g_rw_lock_reader_unlock(l);
}
