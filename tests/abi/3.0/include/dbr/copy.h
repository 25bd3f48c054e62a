/* SPDX-License-Identifier: MIT */
/*
 * dbr/copy.h - bulk loading and unloading with COPY (ABI 3.0; drivers with
 * DBR_CAP_COPY), under the ctx's deadline and cancel.
 *
 * dbr_copy_from runs `COPY ... FROM STDIN`, feeding it what read returns:
 * read writes up to cap bytes into buf and returns how many, 0 at the end of
 * the data, or -1 with *err set to abort (the COPY is rolled back, nothing
 * is applied). dbr_copy_to runs `COPY ... TO STDOUT` and hands each chunk
 * (a row, in the text and CSV formats) to write. *rows (may be NULL) gets
 * the row count the server reports.
 *
 * Outcome: a COPY in autocommit is one transaction, applied whole or not at
 * all; a connection lost after the data was sent leaves it unknown. Each is
 * one call (kind copy) through the chain: a COPY whose input was a callback
 * cannot be fed again once read was called, nor one whose output reached
 * write (dbr_call_replayable), so retry runs again only dbr_copy_from_buffer
 * and a COPY TO that failed before its first chunk.
 */
#ifndef DBR_COPY_H
#define DBR_COPY_H

#include "dbr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef long long (*dbr_copy_read_fn)(void *user, char *buf, size_t cap, dbr_error **err);
typedef bool (*dbr_copy_write_fn)(void *user, const char *data, size_t len, dbr_error **err);

DBR_API bool dbr_copy_from(dbr_db *db, dbr_ctx *ctx, const char *sql, dbr_copy_read_fn read,
                           void *user, long long *rows, dbr_error **err);
DBR_API bool dbr_copy_from_buffer(dbr_db *db, dbr_ctx *ctx, const char *sql, const void *data,
                                  size_t len, long long *rows, dbr_error **err);
DBR_API bool dbr_copy_to(dbr_db *db, dbr_ctx *ctx, const char *sql, dbr_copy_write_fn write,
                         void *user, long long *rows, dbr_error **err);
DBR_API bool dbr_tx_copy_from(dbr_tx *tx, const char *sql, dbr_copy_read_fn read, void *user,
                              long long *rows, dbr_error **err);
DBR_API bool dbr_tx_copy_to(dbr_tx *tx, const char *sql, dbr_copy_write_fn write, void *user,
                            long long *rows, dbr_error **err);

#ifdef __cplusplus
}
#endif

#endif /* DBR_COPY_H */
