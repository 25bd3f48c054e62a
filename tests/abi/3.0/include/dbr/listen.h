/* SPDX-License-Identifier: MIT */
/*
 * dbr/listen.h - LISTEN/NOTIFY that survives failures (ABI 3.0; drivers
 * with DBR_CAP_LISTEN).
 *
 * A listener owns one connection outside the pool, opened with the db's
 * driver and conninfo. When that connection is lost, dbr_listener_next
 * reconnects (backing off, within the ctx), LISTENs again on every channel,
 * and then returns a gap: a notification whose dbr_notification_missed() is
 * true and whose channel is NULL, because notifications sent while no
 * connection listened are gone. Re-read what you track after a gap.
 *
 * Threads: one listener is used by one thread at a time. Free it before its
 * db is closed. Errors as everywhere in dbr.
 */
#ifndef DBR_LISTEN_H
#define DBR_LISTEN_H

#include "dbr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbr_listener dbr_listener;
typedef struct dbr_notification dbr_notification;

/* Connects within ctx. */
DBR_API dbr_listener *dbr_listener_new(dbr_db *db, dbr_ctx *ctx, dbr_error **err);
/* Starts or stops listening on channel (an identifier, taken as written). */
DBR_API bool dbr_listener_listen(dbr_listener *l, dbr_ctx *ctx, const char *channel,
                                 dbr_error **err);
DBR_API bool dbr_listener_unlisten(dbr_listener *l, dbr_ctx *ctx, const char *channel,
                                   dbr_error **err);
/* The next notification, waiting within ctx (NULL: for ever); NULL and
 * DBR_ERR_TIMEOUT or DBR_ERR_CANCELED when ctx ends first. Free it with
 * dbr_notification_free. */
DBR_API dbr_notification *dbr_listener_next(dbr_listener *l, dbr_ctx *ctx, dbr_error **err);
DBR_API void dbr_listener_free(dbr_listener *l);

DBR_API const char *dbr_notification_channel(const dbr_notification *n); /* NULL for a gap */
DBR_API const char *dbr_notification_payload(const dbr_notification *n); /* "" for a gap */
DBR_API int dbr_notification_pid(const dbr_notification *n); /* the sender's backend; 0 gap */
DBR_API bool dbr_notification_missed(const dbr_notification *n);
DBR_API void dbr_notification_free(dbr_notification *n);

#ifdef __cplusplus
}
#endif

#endif /* DBR_LISTEN_H */
