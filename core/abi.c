/* SPDX-License-Identifier: MIT */
/* Sized structs from the application: see abi.h. */
#include "abi.h"

bool dbr_struct_ok(const char *fn, const char *what, const void *p, uint32_t struct_size,
                   size_t known, dbr_error **err)
{
    const unsigned char *bytes = p;

    if (struct_size == 0 || struct_size == known)
        return true;
    if (struct_size < known)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: %s->struct_size is %u; expected 0 or at least %zu (rebuild "
                             "against dbr's headers)",
                             fn, what, struct_size, known);
    if (struct_size > 1u << 16)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: %s->struct_size is %u, not a size: zero-initialise the struct",
                             fn, what, struct_size);
    for (size_t i = known; i < struct_size; i++)
        if (bytes[i])
            return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                                 "%s: %s sets fields this library (%zu bytes) does not know: it "
                                 "was built against a newer dbr",
                                 fn, what, known);
    return true;
}
