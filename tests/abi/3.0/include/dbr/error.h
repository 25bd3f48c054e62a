/* SPDX-License-Identifier: MIT */
/*
 * dbr/error.h - the one error object of every layer.
 *
 * An error has a kind (what went wrong, in portable terms), the SQLSTATE when
 * the server sent one, a message, detail and hint, the layer that raised it,
 * the phase of the call in which it happened, its outcome (whether the server
 * may have applied the call's effects), whether the failure is transient,
 * and optionally the error it wraps ("gave up after 5 attempts" wraps the
 * last failure). Drivers classify native codes into kinds once and decide
 * the outcome of what reached the server; the core decides the outcome of a
 * transaction; the layers above only read them (docs/errors.md).
 *
 * Every function that can fail takes `dbr_error **err` last. On failure it
 * returns false (or NULL) and, when err is not NULL, stores a new error there
 * that the caller frees with dbr_error_free(). All accessors accept NULL.
 */
#ifndef DBR_ERROR_H
#define DBR_ERROR_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DBR_API          __attribute__((visibility("default")))
#define DBR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DBR_API
#define DBR_PRINTF(f, a)
#endif

/*
 * The kinds, in one list so that the enum, the name table and the docs cannot
 * drift. Append only: the numbers are ABI.
 */
#define DBR_ERROR_KINDS(X)                                                                         \
    X(CONNECTION, "connection")                                                                    \
    X(TIMEOUT, "timeout")                                                                          \
    X(CANCELED, "canceled")                                                                        \
    X(DEADLOCK, "deadlock")                                                                        \
    X(SERIALIZATION, "serialization")                                                              \
    X(CONSTRAINT, "constraint")                                                                    \
    X(SYNTAX, "syntax")                                                                            \
    X(PERMISSION, "permission")                                                                    \
    X(READ_ONLY, "read-only")                                                                      \
    X(RESOURCE, "resource")                                                                        \
    X(CIRCUIT_OPEN, "circuit-open")                                                                \
    X(POOL_EXHAUSTED, "pool-exhausted")                                                            \
    X(COMMIT_UNKNOWN, "commit-unknown")                                                            \
    X(CONFIG, "config")                                                                            \
    X(PLUGIN, "plugin")                                                                            \
    X(MIGRATION, "migration")                                                                      \
    X(MISUSE, "misuse")                                                                            \
    X(INTERNAL, "internal")                                                                        \
    X(LOCK_CONTENTION, "lock-contention")                                                          \
    X(DATA_CORRUPTED, "data-corrupted")                                                            \
    X(UNSUPPORTED, "unsupported")

typedef enum {
    DBR_ERR_NONE = 0, /* not an error kind: what dbr_error_kind_of(NULL) returns */
#define DBR_ERROR_KIND_ENUM(name, text) DBR_ERR_##name,
    DBR_ERROR_KINDS(DBR_ERROR_KIND_ENUM)
#undef DBR_ERROR_KIND_ENUM
} dbr_error_kind;

/* The highest kind this header knows. A library of a later minor version may
 * return kinds above it: treat those as DBR_ERR_INTERNAL. */
#define DBR_ERR_KIND_MAX DBR_ERR_UNSUPPORTED

/*
 * How far the failed call got, for logs and metrics. Whether repeating it
 * could apply the work twice is the outcome's business (dbr_error_outcome),
 * not the phase's: an answered FATAL, for one, has an unknown outcome.
 */
typedef enum {
    DBR_PHASE_NONE = 0,    /* not a database call: config, misuse, plugin loading */
    DBR_PHASE_CONNECT,     /* while opening a connection */
    DBR_PHASE_BEFORE_SEND, /* the request never left this process */
    DBR_PHASE_SENT,        /* sent, then no answer came (connection lost, deadline) */
    DBR_PHASE_ANSWERED,    /* the server (or a proxy) answered with this error */
} dbr_error_phase;

/*
 * What became of the call's effects on the server. A call whose effects were
 * applied is a success, whatever happened around it (a deadline that passed
 * while the answer was on its way, a cancel that lost the race): an error
 * always has one of the outcomes below.
 */
typedef enum {
    DBR_OUTCOME_NONE = 0,        /* not an outcome: what dbr_error_outcome(NULL) returns */
    DBR_OUTCOME_NOT_APPLIED = 1, /* the server certainly applied none of the call's effects:
                                  * never sent, refused before it ran, or rolled back */
    DBR_OUTCOME_UNKNOWN,         /* it may or may not have applied them: the connection was
                                  * lost after the request was sent, COMMIT's answer was lost */
    DBR_OUTCOME_PARTIAL,         /* some parts were applied and others certainly not (a batch
                                  * whose statements commit one by one): the call's per-part
                                  * results say which. Never repeated unless idempotent. Since
                                  * ABI 3.0. */
} dbr_outcome;

typedef struct dbr_error dbr_error;

/* Readers. Each accepts NULL and then returns DBR_ERR_NONE, "" or false. */
DBR_API dbr_error_kind dbr_error_kind_of(const dbr_error *e);
DBR_API const char *dbr_error_kind_name(dbr_error_kind kind); /* "connection", "deadlock", ... */
DBR_API const char *dbr_error_sqlstate(const dbr_error *e);   /* "" when none */
DBR_API const char *dbr_error_message(const dbr_error *e);
DBR_API const char *dbr_error_detail(const dbr_error *e); /* "" when none */
DBR_API const char *dbr_error_hint(const dbr_error *e);   /* "" when none */
DBR_API const char *dbr_error_layer(const dbr_error *e);  /* "core", "pq", "retry", ... */
DBR_API dbr_error_phase dbr_error_phase_of(const dbr_error *e);
DBR_API const char *dbr_error_phase_name(dbr_error_phase phase); /* "connect", "sent", ... */
/* Not applied or unknown; a new error is not applied until a layer that
 * knows better says otherwise. A wrapper has its cause's outcome. */
DBR_API dbr_outcome dbr_error_outcome(const dbr_error *e);
DBR_API const char *dbr_outcome_name(dbr_outcome outcome); /* "not-applied", "unknown" */
/* The failure may pass: a new attempt could succeed (a lost connection, a
 * deadlock, a serialization failure, a server starting up). Says nothing
 * about whether a new attempt is safe: that is the outcome's business. */
DBR_API bool dbr_error_transient(const dbr_error *e);
/* Safe to run again as it is: transient and not applied. An unknown outcome
 * is never retryable: only a caller who knows the call is idempotent may
 * repeat it (dbr_ctx_set_idempotent). */
DBR_API bool dbr_error_retryable(const dbr_error *e);
DBR_API const dbr_error *dbr_error_cause(const dbr_error *e); /* the wrapped error, or NULL */
DBR_API void dbr_error_free(dbr_error *e);

/*
 * Writers, for drivers, plugins and the core. An error is built, then handed
 * to the caller with dbr_error_propagate(), which frees it when the caller
 * passed err == NULL.
 */
DBR_API dbr_error *dbr_error_new(dbr_error_kind kind, const char *layer, const char *fmt, ...)
    DBR_PRINTF(3, 4);
/* Takes ownership of cause; the wrapper starts with the cause's SQLSTATE,
 * phase, outcome and transient flag. */
DBR_API dbr_error *dbr_error_wrap(dbr_error *cause, dbr_error_kind kind, const char *layer,
                                  const char *fmt, ...) DBR_PRINTF(4, 5);
DBR_API dbr_error *dbr_error_copy(const dbr_error *e);
DBR_API void dbr_error_set_sqlstate(dbr_error *e, const char *sqlstate);
DBR_API void dbr_error_set_detail(dbr_error *e, const char *detail);
DBR_API void dbr_error_set_hint(dbr_error *e, const char *hint);
DBR_API void dbr_error_set_phase(dbr_error *e, dbr_error_phase phase);
DBR_API void dbr_error_set_outcome(dbr_error *e, dbr_outcome outcome);
DBR_API void dbr_error_set_transient(dbr_error *e, bool transient);
/* A preset error of `kind` that lives as long as the library: handing it
 * out allocates nothing, dbr_error_free ignores it and setters leave it
 * unchanged. For refusal paths that must not allocate (an open breaker). */
DBR_API dbr_error *dbr_error_preset(dbr_error_kind kind);
/* Stores e in *dest, or frees it when dest is NULL. Always returns false. */
DBR_API bool dbr_error_propagate(dbr_error **dest, dbr_error *e);
/* dbr_error_propagate(dest, dbr_error_new(...)) in one call. Always returns false. */
DBR_API bool dbr_set_error(dbr_error **dest, dbr_error_kind kind, const char *layer,
                           const char *fmt, ...) DBR_PRINTF(4, 5);

/*
 * User text in messages. Whatever a user typed (a config key or value, a
 * command, a plugin name) may be huge or hold control characters, and a
 * message must stay one readable line: quote it through these, never with
 * a bare "%s".
 *
 * dbr_quote(s).text is s in double quotes with `"`, `\` and control or
 * invalid UTF-8 bytes escaped (\n, \t, \xNN), cut after DBR_QUOTE_MAX bytes
 * of s at a character boundary, and then followed by `... (N bytes)`:
 *     "conninfo"      "aaaa...aaaa"... (200000 bytes)
 * dbr_quote_name(s).text is s unquoted when it is a plain name (at most
 * DBR_QUOTE_MAX bytes of letters, digits and `_-.:/@+`), else dbr_quote(s):
 * for keys, groups and file names that read better bare.
 *
 * The result is returned by value and owns its text: use it within the
 * expression that calls it, e.g.
 *     dbr_set_error(err, DBR_ERR_CONFIG, "x", "unknown command %s", dbr_quote(cmd).text);
 * No allocation, so it works when memory is short; thread-safe; NULL reads
 * as "(null)".
 */
#define DBR_QUOTE_MAX 100
typedef struct dbr_quoted {
    char text[DBR_QUOTE_MAX * 4 + 40];
} dbr_quoted;
DBR_API dbr_quoted dbr_quote(const char *s);
DBR_API dbr_quoted dbr_quote_name(const char *s);

#ifdef __cplusplus
}
#endif

#endif /* DBR_ERROR_H */
