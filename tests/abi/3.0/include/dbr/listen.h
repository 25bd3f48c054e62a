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
 * connection listened are gone. Re-read what you track after a gap: any
 * notification sent after the gap was returned is delivered, because every
 * channel is listened on again before the gap is reported. A gap is owed
 * only when the connection was lost while listening on some channel.
 *
 * Threads: one listener is used by one thread at a time; dbr_ctx_cancel on
 * the ctx of a waiting dbr_listener_next may come from any thread. After
 * dbr_close of its db (even while one waits: the wait ends within a
 * quarter of a second) its calls fail with DBR_ERR_MISUSE and its
 * connection is closed: free it either way. Errors as everywhere in dbr.
 */
#ifndef DBR_LISTEN_H
#define DBR_LISTEN_H

#include "dbr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbr_listener dbr_listener;
typedef struct dbr_notification dbr_notification;

/*
 * Opens the listener's connection with db's driver and conninfo, within ctx
 * and [database] connect_timeout. NULL and an error: DBR_ERR_MISUSE (db
 * NULL, or opened check_only), DBR_ERR_UNSUPPORTED (the driver lacks
 * DBR_CAP_LISTEN), or the connect's own (connection, timeout, canceled).
 * Free it with dbr_listener_free. After dbr_close(db) its calls fail with
 * DBR_ERR_MISUSE; freeing it is all that is left to do.
 */
DBR_API dbr_listener *dbr_listener_new(dbr_db *db, dbr_ctx *ctx, dbr_error **err);
/*
 * Starts or stops listening on channel: an identifier taken as written
 * (case kept, quoted by the driver), of 1 byte up to the driver's limit
 * (pq: 63 bytes; a longer name is DBR_ERR_MISUSE from the driver, before
 * anything is sent). Listening twice on a
 * channel, or stopping on one not listened on, does nothing. When the
 * connection was lost these open a new one first (one attempt within ctx
 * and connect_timeout; the next dbr_listener_next then returns a gap).
 * False and DBR_ERR_MISUSE for a NULL listener or a bad channel name, or
 * the server's error (the set of channels is then unchanged).
 */
DBR_API bool dbr_listener_listen(dbr_listener *l, dbr_ctx *ctx, const char *channel,
                                 dbr_error **err);
DBR_API bool dbr_listener_unlisten(dbr_listener *l, dbr_ctx *ctx, const char *channel,
                                   dbr_error **err);
/*
 * The next notification, waiting within ctx (NULL: for ever); one that has
 * already arrived is returned even when ctx has ended. NULL and
 * DBR_ERR_TIMEOUT or DBR_ERR_CANCELED when ctx ends first (the listener
 * stays usable); dbr_ctx_cancel from another thread wakes the wait. A lost
 * connection is not an error: it is opened again, backing off from 100 ms
 * to 5 s between attempts, until ctx ends or the server refuses for good (a
 * non-transient error, such as a wrong password: returned, and the next
 * call tries again). Each reconnection publishes a "listener.reconnected"
 * event (fields db, attempts, channels) and counts in
 * dbr_listener_reconnects_total. Free the notification with
 * dbr_notification_free.
 */
DBR_API dbr_notification *dbr_listener_next(dbr_listener *l, dbr_ctx *ctx, dbr_error **err);
/*
 * A path that goes silent (a NAT entry or a virtual IP dropped, a hung
 * peer: nothing closes the connection, and TCP keepalives may never fire)
 * would leave a listener deaf. So when dbr_listener_next waits and nothing
 * has come from the server for ms milliseconds (default 30000), it sends a
 * probe (an empty query; notifications arriving meanwhile are kept) and
 * gives it [database] connect_timeout (and cancel_grace) to be answered: no
 * answer, and the connection is treated as lost (reconnect, then a gap).
 * A probe also keeps a server's idle_session_timeout, if longer than ms,
 * from ending the session. 0 or less: never probe. NULL is ignored.
 */
DBR_API void dbr_listener_set_keepalive(dbr_listener *l, long long ms);
/* Closes the connection and frees; NULL is ignored. */
DBR_API void dbr_listener_free(dbr_listener *l);

/* Strings belong to the notification. All accept NULL. */
DBR_API const char *dbr_notification_channel(const dbr_notification *n); /* NULL for a gap */
DBR_API const char *dbr_notification_payload(const dbr_notification *n); /* "" for a gap */
DBR_API int dbr_notification_pid(const dbr_notification *n); /* the sender's backend; 0 gap */
/* True for a gap: notifications may have been lost before this one. */
DBR_API bool dbr_notification_missed(const dbr_notification *n);
DBR_API void dbr_notification_free(dbr_notification *n);

#ifdef __cplusplus
}
#endif

#endif /* DBR_LISTEN_H */
