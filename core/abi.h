/* SPDX-License-Identifier: MIT */
/*
 * Sized structs from the application (dbr_open_opts, dbr_clock, dbr_tx_opts,
 * dbr_migration). Each ends its ABI 3.0 fields with struct_size; fields of
 * later minors come after it. The core never reads the caller's struct in
 * place: it takes a copy of this library's size, filled from the bytes the
 * caller declared (struct_size; 0 means the 3.0 layout) and zero beyond
 * them, so a program built against an older minor works and its missing
 * fields read as zero (defaults). A struct from a newer minor is taken when
 * the bytes this library does not know are zero, and refused otherwise,
 * rather than silently half-read (the rule of Linux's openat2 and clone3).
 */
#ifndef DBR_CORE_ABI_H
#define DBR_CORE_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dbr/error.h>

bool dbr_struct_take(const char *fn, const char *what, void *dst, size_t known, const void *src,
                     uint32_t struct_size, size_t oldest, dbr_error **err);

/* Copies *src into *dst (both of the same struct type). */
#define DBR_STRUCT_TAKE(fn, what, dst, src, err)                                                   \
    dbr_struct_take((fn), (what), (dst), sizeof(*(dst)), (src), (src)->struct_size,                \
                    offsetof(__typeof__(*(src)), struct_size) + sizeof(uint32_t), (err))

#endif
