/* SPDX-License-Identifier: MIT */
/* Core-private marks on errors (error.c). */
#ifndef DBR_CORE_ERROR_ORIGIN_H
#define DBR_CORE_ERROR_ORIGIN_H

#include <dbr/error.h>

/* Which transaction a statement error came from, so that only the
 * transaction's own failures are declared rolled back; the mark is looked
 * for down the cause chain. */
void dbr_error_set_origin(dbr_error *e, const void *origin);
bool dbr_error_has_origin(const dbr_error *e, const void *origin);

#endif
