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
 *
 * The ctx's deadline and cancel hold for the whole stream (checked between
 * rows too); as for any statement the server's answer decides, so rows that
 * arrive within cancel_grace still reach fn, and a query that finished is a
 * success. An ERROR after rows were delivered still rolls the statement
 * back (not applied); a lost connection leaves it unknown.
 *
 * Threads: dbr_query_stream is thread-safe like dbr_query; fn runs on the
 * calling thread. dbr_tx_query_stream follows dbr_tx_query's rules, and fn
 * cannot run statements of the same transaction (DBR_ERR_MISUSE, nothing
 * sent: the connection is busy with the stream). Stopping a stream in a
 * transaction cancels its query, which aborts the transaction: run it in
 * dbr_tx_savepoint to go on afterwards.
 * Errors: DBR_ERR_MISUSE for a NULL db, tx, sql or fn or bad parameters;
 * DBR_ERR_UNSUPPORTED (not applied) without DBR_CAP_STREAM.
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
