/* SPDX-License-Identifier: MIT */
/*
 * dbr/batch.h - pipelined batches (ABI 3.0): N statements in one round trip
 * (drivers with DBR_CAP_PIPELINE; others run them one by one, with the same
 * results and outcomes, only slower).
 *
 * DBR_BATCH_ATOMIC runs them in one implicit transaction: all are applied or
 * none. DBR_BATCH_EACH lets each commit on its own: a failed statement does
 * not stop those after it, and when some were applied and others not the
 * error's outcome is DBR_OUTCOME_PARTIAL. Inside a transaction
 * (dbr_tx_batch_run) every statement belongs to it and the first failure
 * fails the transaction. dbr_batch_run returns true only when every statement
 * succeeded; either way each statement's result or error can be read.
 *
 * The batch is one call (kind batch) through the chain: the retry plugin
 * runs it again whole only when nothing was applied (or the ctx is marked
 * idempotent), never after a partial or unknown outcome.
 *
 * Threads: a batch belongs to one thread at a time. Errors as everywhere in
 * dbr.
 */
#ifndef DBR_BATCH_H
#define DBR_BATCH_H

#include "dbr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbr_batch dbr_batch;
typedef enum dbr_batch_mode {
    DBR_BATCH_ATOMIC = 0, /* one implicit transaction: all or none */
    DBR_BATCH_EACH,       /* each statement commits on its own */
} dbr_batch_mode;

DBR_API dbr_batch *dbr_batch_new(void);
/* Queues a statement; sql and params are copied. Refuses (DBR_ERR_MISUSE,
 * nothing queued) transaction control (BEGIN, COMMIT, SAVEPOINT, ...),
 * which would break the mode's promise, and COPY (dbr/copy.h). */
DBR_API bool dbr_batch_add(dbr_batch *b, const char *sql, int nparams, const char *const *params,
                           dbr_error **err);
DBR_API int dbr_batch_count(const dbr_batch *b);
DBR_API bool dbr_batch_run(dbr_db *db, dbr_ctx *ctx, dbr_batch *b, dbr_batch_mode mode,
                           dbr_error **err);
DBR_API bool dbr_tx_batch_run(dbr_tx *tx, dbr_batch *b, dbr_error **err);
/* An empty batch sends nothing and succeeds. After a run: statement i's
 * result (NULL when it failed or did not run, and in an ATOMIC batch that
 * failed), and its error (NULL when it succeeded; the call's own error when
 * the call failed before the batch was sent). Both belong to the batch and
 * live until the next run, dbr_batch_clear or dbr_batch_free. */
DBR_API const dbr_result *dbr_batch_result(const dbr_batch *b, int i);
DBR_API const dbr_error *dbr_batch_error(const dbr_batch *b, int i);
/* Forgets the statements and results, to fill the batch again. */
DBR_API void dbr_batch_clear(dbr_batch *b);
DBR_API void dbr_batch_free(dbr_batch *b);

#ifdef __cplusplus
}
#endif

#endif /* DBR_BATCH_H */
