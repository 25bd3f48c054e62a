/* SPDX-License-Identifier: MIT */
/*
 * dbr/stmt.h - prepared statements (ABI 3.0; drivers with DBR_CAP_PREPARE).
 *
 * A dbr_stmt names one SQL text for a whole db. dbr_prepare checks it on one
 * connection (a syntax error or an unknown table fails here, not at the
 * first run) and learns its parameters; each pooled connection prepares it
 * again on its first use there and keeps it in its statement cache
 * ([database] statement_cache_size). When the server answers that a cached
 * plan can no longer be used because the schema changed, the statement is
 * prepared again and run once more, transparently, where that cannot apply
 * work twice (in autocommit: the failed run applied nothing); inside a
 * transaction the error ends the transaction, transient and not applied,
 * for the retry plugin to run it again whole. Behind a pooler in transaction
 * mode ([database] pooler = transaction) nothing is kept: each run prepares
 * and executes in one round trip.
 *
 * Runs go through the whole chain like dbr_exec and dbr_query (kind exec or
 * query): retry, breaker, deadlines and cancel apply unchanged.
 *
 * The automatic cache: dbr_exec, dbr_query and their forms prepare a
 * plannable statement (SELECT, INSERT, UPDATE, DELETE, MERGE, WITH,
 * VALUES, TABLE) on its second run on a connection and reuse it after;
 * the same recovery from a schema change applies. A text seen once costs
 * no more round trips or server memory than without a cache.
 *
 * Threads: a dbr_stmt may be used from any number of threads at once. It
 * may outlive dbr_close of its db, which then refuses its runs
 * (DBR_ERR_MISUSE): free it either way. Errors as everywhere in dbr.
 */
#ifndef DBR_STMT_H
#define DBR_STMT_H

#include "dbr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbr_stmt dbr_stmt;

/*
 * Checks sql on a pooled connection and returns a handle to free with
 * dbr_stmt_free, or NULL and an error: the server's (DBR_ERR_SYNTAX for a
 * syntax error or an unknown table, not applied), DBR_ERR_UNSUPPORTED when
 * the driver cannot prepare, DBR_ERR_MISUSE for a NULL db or sql. The text
 * is copied. Retried by the retry plugin like a read: it applies nothing.
 */
DBR_API dbr_stmt *dbr_prepare(dbr_db *db, dbr_ctx *ctx, const char *sql, dbr_error **err);
DBR_API int dbr_stmt_nparams(const dbr_stmt *stmt);     /* -1 for NULL */
DBR_API const char *dbr_stmt_sql(const dbr_stmt *stmt); /* the handle's copy; NULL for NULL */
/*
 * Runs the statement, in autocommit or in the transaction tx, like
 * dbr_exec, dbr_query and their _args forms (text parameters, NULL for SQL
 * NULL; or dbr_args with binary values). nparams must equal
 * dbr_stmt_nparams: a mismatch is DBR_ERR_MISUSE before anything is sent.
 */
DBR_API bool dbr_stmt_exec(dbr_stmt *stmt, dbr_ctx *ctx, int nparams, const char *const *params,
                           dbr_error **err);
DBR_API dbr_result *dbr_stmt_query(dbr_stmt *stmt, dbr_ctx *ctx, int nparams,
                                   const char *const *params, dbr_error **err);
DBR_API bool dbr_stmt_exec_args(dbr_stmt *stmt, dbr_ctx *ctx, const dbr_args *args,
                                dbr_error **err);
DBR_API dbr_result *dbr_stmt_query_args(dbr_stmt *stmt, dbr_ctx *ctx, const dbr_args *args,
                                        dbr_error **err);
DBR_API bool dbr_tx_stmt_exec(dbr_tx *tx, dbr_stmt *stmt, int nparams, const char *const *params,
                              dbr_error **err);
DBR_API dbr_result *dbr_tx_stmt_query(dbr_tx *tx, dbr_stmt *stmt, int nparams,
                                      const char *const *params, dbr_error **err);
DBR_API bool dbr_tx_stmt_exec_args(dbr_tx *tx, dbr_stmt *stmt, const dbr_args *args,
                                   dbr_error **err);
DBR_API dbr_result *dbr_tx_stmt_query_args(dbr_tx *tx, dbr_stmt *stmt, const dbr_args *args,
                                           dbr_error **err);
/* Frees the handle (NULL is ignored). Connections that prepared it keep
 * their copy until their cache evicts it or the connection closes. Not
 * while another thread still runs it. May come after dbr_close of its db
 * (whose calls on it then fail with DBR_ERR_MISUSE, nothing sent). */
DBR_API void dbr_stmt_free(dbr_stmt *stmt);

#ifdef __cplusplus
}
#endif

#endif /* DBR_STMT_H */
