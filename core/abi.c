/* SPDX-License-Identifier: MIT */
/* Sized structs from the application: see abi.h. */
#include <string.h>

#include "abi.h"

bool dbr_struct_take(const char *fn, const char *what, void *dst, size_t known, const void *src,
                     uint32_t struct_size, size_t oldest, dbr_error **err)
{
    const unsigned char *bytes = src;
    size_t n = struct_size ? struct_size : oldest;

    if (n < oldest)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: %s->struct_size is %u; expected 0 or at least %zu (rebuild "
                             "against dbr's headers)",
                             fn, what, struct_size, oldest);
    if (n > 1u << 16)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: %s->struct_size is %u, not a size: zero-initialise the struct",
                             fn, what, struct_size);
    for (size_t i = known; i < n; i++)
        if (bytes[i])
            return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                                 "%s: %s sets fields this library (%zu bytes) does not know: it "
                                 "was built against a newer dbr",
                                 fn, what, known);
    memset(dst, 0, known);
    memcpy(dst, src, n < known ? n : known);
    return true;
}
