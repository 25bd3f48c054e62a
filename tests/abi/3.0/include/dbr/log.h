/* SPDX-License-Identifier: MIT */
/*
 * dbr/log.h - where the log lines of libdbr, its driver and its plugins go.
 *
 * By default every line goes to GLib's structured log (domain "dbr", with
 * the fields below plus MESSAGE, PRIORITY and GLIB_DOMAIN), so an
 * application that already routes GLib's log (g_log_set_writer_func,
 * journald) needs nothing here. An application that does not use GLib
 * installs its own handler with dbr_log_set_handler() and chooses how much
 * it wants with dbr_log_set_level().
 *
 * Every line the core, the pq driver and the shipped plugins write goes
 * through dbr_log(); a third-party plugin should use it too.
 *
 * Threads: every function here is safe to call from any thread at any time,
 * also while other threads log. The handler is called on the thread that
 * logs, possibly from several threads at once, and must call neither
 * dbr_log() nor dbr_log_set_handler() itself.
 */
#ifndef DBR_LOG_H
#define DBR_LOG_H

#include <stdbool.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most severe first: a level lets through itself and everything above it. */
typedef enum {
    DBR_LOG_ERROR = 1, /* something failed that the library could not handle for you */
    DBR_LOG_WARNING,   /* a misuse or a degraded state worth an operator's look */
    DBR_LOG_NOTICE,    /* a notable normal event: a slow call, a failed call (log plugin) */
    DBR_LOG_INFO,      /* lifecycle: a db opened, a lost COMMIT resolved */
    DBR_LOG_DEBUG,     /* server notices, internals */
} dbr_log_level;

/*
 * A log handler. level: the line's level (never more verbose than the level
 * set). layer: who wrote it ("core", "pq", "log", ...), never NULL.
 * message: the text, one line without a trailing newline, never NULL.
 * fields: NULL-terminated name, value pairs of structured data
 * ("DBR_CALL", "exec", "DBR_DURATION_MS", "812.004", ...), never NULL,
 * possibly empty. All strings belong to the caller and live only during the
 * call: copy what you keep.
 */
typedef void (*dbr_log_fn)(dbr_log_level level, const char *layer, const char *message,
                           const char *const *fields, void *user);

/*
 * Sends every later line to fn(…, user) instead of GLib's log; fn NULL puts
 * the GLib default back. When it returns, no thread calls the previous
 * handler any more, so its user data may be freed.
 */
DBR_API void dbr_log_set_handler(dbr_log_fn fn, void *user);
/*
 * Drops lines less severe than level before they are formatted, for the
 * handler and for GLib alike. Default DBR_LOG_DEBUG: everything reaches the
 * GLib default, which itself shows info and debug lines only when
 * G_MESSAGES_DEBUG says so. A level outside the enum is clamped into it.
 */
DBR_API void dbr_log_set_level(dbr_log_level level);
DBR_API dbr_log_level dbr_log_get_level(void);
/* Whether a line of this level would be written now: to skip costly work. */
DBR_API bool dbr_log_enabled(dbr_log_level level);
/* "error", "warning", "notice", "info", "debug"; "" for anything else. */
DBR_API const char *dbr_log_level_name(dbr_log_level level);

/*
 * Writes one line: printf-style message, layer as above, fields as above or
 * NULL. Safe from any thread; never fails (a line that cannot be formatted
 * for lack of memory is dropped).
 */
DBR_API void dbr_log(dbr_log_level level, const char *layer, const char *const *fields,
                     const char *fmt, ...) DBR_PRINTF(4, 5);

#ifdef __cplusplus
}
#endif

#endif /* DBR_LOG_H */
