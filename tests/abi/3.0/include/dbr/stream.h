/* SPDX-License-Identifier: MIT */
/*
 * dbr/stream.h - reading a large result row by row (ABI 3.0; drivers with
 * DBR_CAP_STREAM), with memory that does not grow with the result.
 *
 * fn gets each row as a one-row result (row 0) that lives only during the
 * call: copy what you keep. Returning false stops the query (the server is
 * asked to cancel it); dbr_query_stream then returns false with fn's error,
 * or with *err left NULL when fn set none, as dbr_tx_run does. *rows (may
 * be NULL) gets the number of rows fn received.
 *
 * The stream is one call (kind stream) through the chain. It may be retried
 * only until its first row reached fn (dbr_call_replayable): after that a
 * failure is the caller's to handle.
 */
#ifndef DBR_STREAM_H
#define DBR_STREAM_H

#include "dbr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef bool (*dbr_row_fn)(const dbr_result *row, void *user, dbr_error **err);

DBR_API bool dbr_query_stream(dbr_db *db, dbr_ctx *ctx, const char *sql, int nparams,
                              const char *const *params, dbr_row_fn fn, void *user, long long *rows,
                              dbr_error **err);
DBR_API bool dbr_tx_query_stream(dbr_tx *tx, const char *sql, int nparams,
                                 const char *const *params, dbr_row_fn fn, void *user,
                                 long long *rows, dbr_error **err);

#ifdef __cplusplus
}
#endif

#endif /* DBR_STREAM_H */
