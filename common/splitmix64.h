/* SPDX-License-Identifier: MIT */
/*
 * splitmix64 (Steele, Lea, Flood 2014; Vigna's reference constants): a
 * generator whose state is one counter, so a thread advances it with one
 * atomic add and no lock, and every caller gets a distinct value. Used by
 * the host's randomness (core/host.c) and the chaos plugin's own seeded
 * draws: header-only, so each copy of the code is this one.
 */
#ifndef DBR_COMMON_SPLITMIX64_H
#define DBR_COMMON_SPLITMIX64_H

#include <stdint.h>

/* The next value of the generator whose state is *state; thread-safe. */
static inline uint64_t dbr_splitmix64(uint64_t *state)
{
    uint64_t z = __atomic_add_fetch(state, 0x9e3779b97f4a7c15ULL, __ATOMIC_RELAXED);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
