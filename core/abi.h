/* SPDX-License-Identifier: MIT */
/*
 * Sized structs from the application (dbr_open_opts, dbr_clock, dbr_tx_opts,
 * dbr_migration): struct_size 0 is the ABI 3.0 layout; a size above what
 * this library knows is accepted only when the bytes it does not know are
 * zero, so a program built against a later minor that sets none of the
 * newer fields still runs here, and one that relies on them is refused
 * instead of silently ignored (the rule of Linux's openat2 and clone3).
 */
#ifndef DBR_CORE_ABI_H
#define DBR_CORE_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dbr/error.h>

bool dbr_struct_ok(const char *fn, const char *what, const void *p, uint32_t struct_size,
                   size_t known, dbr_error **err);
#define DBR_STRUCT_OK(fn, what, p, err)                                                            \
    dbr_struct_ok((fn), (what), (p), (p)->struct_size, sizeof(*(p)), (err))

#endif
