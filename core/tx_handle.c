/* SPDX-License-Identifier: MIT */
/*
 * Transaction handles that can never come back to life.
 *
 * A dbr_tx handle used after its callback returned must be refused, not be
 * undefined behaviour, and not be taken for a later transaction that reuses
 * its memory. So the handle is not a pointer: it is the slot's index in
 * the low bits and the slot's generation above them, and a slot's
 * generation grows each time it is taken. Slots are never freed (there are
 * as many as transactions ever ran at once), so reading a stale handle's
 * slot is always safe, and finding a slot takes no lock: the statement path
 * stays lock-free. On 64-bit systems the generation has 44 bits. Only a
 * slot's own thread moves its generation (at release), so a handle whose
 * generation matches names the live transaction it was made for.
 */
#include <glib.h>
#include <stdint.h>

#include "tx.h"

#define INDEX_BITS 20 /* a million transactions at once */
#define SEG_BITS   10
#define SEG_SIZE   (1u << SEG_BITS)
#define NSEGS      (1u << (INDEX_BITS - SEG_BITS))

static tx *segments[NSEGS]; /* atomic pointers, filled once each */
static GMutex slots_lock;
static tx *free_slots;
static guint32 nslots;

tx *dbr_tx_slot_take(dbr_db *db)
{
    tx *t;

    g_mutex_lock(&slots_lock);
    t = free_slots;
    if (t) {
        free_slots = t->next_free;
    } else if (nslots < NSEGS * SEG_SIZE) {
        guint32 i = nslots++;
        tx *seg = g_atomic_pointer_get(&segments[i >> SEG_BITS]);

        if (!seg) {
            seg = g_new0(tx, SEG_SIZE);
            g_atomic_pointer_set(&segments[i >> SEG_BITS], seg);
        }
        t = &seg[i & (SEG_SIZE - 1)];
        t->index = i;
        t->gen = 1; /* 0 is never a generation */
    }
    g_mutex_unlock(&slots_lock);
    if (!t)
        return NULL;
    t->next_free = NULL;
    t->db = db;
    t->pc = NULL;
    t->ctx = NULL;
    t->opts = NULL;
    t->savepoints = 0;
    t->tracked = false;
    t->pipelined = false;
    t->escaped = false;
    t->misused = false;
    t->unsure = false;
    t->owner = g_thread_self();
    t->failed = DBR_ERR_NONE;
    t->failed_transient = false;
    g_clear_pointer(&t->failed_msg, g_free);
    g_atomic_int_set(&t->active, 1);
    return t;
}

void dbr_tx_slot_release(tx *t)
{
    /* The generation moves on at release, so that a stale handle can never
     * match again, even while the slot is being taken by another thread;
     * it skips values whose handle bits would be 0 (32-bit systems). */
    gsize gen = (gsize)g_atomic_pointer_add(&t->gen, 1) + 1;

    if ((((uintptr_t)gen << INDEX_BITS) >> INDEX_BITS) == 0)
        (void)g_atomic_pointer_add(&t->gen, 1);
    g_atomic_int_set(&t->active, 0);
    g_clear_pointer(&t->failed_msg, g_free);
    t->pc = NULL;
    t->ctx = NULL;
    g_mutex_lock(&slots_lock);
    t->next_free = free_slots;
    free_slots = t;
    g_mutex_unlock(&slots_lock);
}

dbr_tx *dbr_tx_handle(const tx *t)
{
    uintptr_t gen = (uintptr_t)g_atomic_pointer_get((gsize *)&t->gen);

    return (dbr_tx *)((gen << INDEX_BITS) | t->index);
}

tx *dbr_tx_slot_find(const dbr_tx *handle)
{
    uintptr_t h = (uintptr_t)handle;
    uintptr_t index = h & ((1u << INDEX_BITS) - 1), gen = h >> INDEX_BITS;
    tx *seg, *t;

    if (gen == 0)
        return NULL; /* generations start at 1: not a handle */
    seg = g_atomic_pointer_get(&segments[index >> SEG_BITS]);
    if (!seg)
        return NULL;
    t = &seg[index & (SEG_SIZE - 1)];
    if (!g_atomic_int_get(&t->active))
        return NULL;
    /* Only the generation's low bits fit a handle on 32-bit systems. */
    if (((uintptr_t)g_atomic_pointer_get(&t->gen) << INDEX_BITS) >> INDEX_BITS != gen)
        return NULL;
    return t;
}
