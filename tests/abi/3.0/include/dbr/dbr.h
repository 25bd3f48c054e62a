/* SPDX-License-Identifier: MIT */
/*
 * dbr/dbr.h - the application API.
 *
 * A dbr_db is opened from a config file that names a driver, the connection
 * pool's limits and the chain of middleware plugins. Every call (a statement,
 * a query, a whole transaction, a ping) goes through that chain to the core,
 * which checks a connection out of the pool, drives the driver, and returns
 * the connection.
 *
 * Threads: a dbr_db, and every function taking one, is safe to use from any
 * number of threads at once. A dbr_tx belongs to the thread running its
 * callback. A dbr_ctx may be canceled from any thread. A dbr_result is
 * immutable and may be read from any thread.
 *
 * Errors: every function that can fail takes `dbr_error **err` last, returns
 * false (or NULL) on failure and, when err is not NULL, stores a new error
 * there that the caller frees with dbr_error_free(). A NULL ctx means no
 * deadline. Parameters are text (NULL for SQL NULL), $1..$n in the SQL, never
 * interpolated.
 */
#ifndef DBR_DBR_H
#define DBR_DBR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbr_db dbr_db;
typedef struct dbr_ctx dbr_ctx;
typedef struct dbr_tx dbr_tx;
typedef struct dbr_result dbr_result;
typedef struct dbr_event dbr_event;

/*
 * Structs that cross the ABI and may grow carry their size (ABI 3.0): each
 * input struct ends its ABI 3.0 fields with struct_size, and fields a later
 * minor adds come after it. 0 means the ABI 3.0 layout, so a program that
 * zero-initialises the struct (or initialises the fields it knows, by name
 * or in order) and never sets struct_size keeps working with any 3.x
 * library; one that uses a later field sets struct_size = sizeof. A library
 * refuses (DBR_ERR_MISUSE) a struct from a newer header that sets a field it
 * does not know. Output structs are sized by the call itself
 * (dbr_pool_stats_get and dbr_chain_module pass sizeof).
 */

/* Opening and closing. dbr_close is a barrier: it refuses new calls on the
 * db (DBR_ERR_MISUSE), cancels the waits of those in flight on other
 * threads, and returns once they have finished, before anything is freed.
 * Results, batches, prepared statements and listeners may outlive it:
 * results and batches hold nothing of the db; a statement or a listener
 * keeps the closed db in memory (connections, plugins' threads and calls
 * are gone) until it is freed, and its calls fail with DBR_ERR_MISUSE,
 * nothing sent (as SQLite's sqlite3_close_v2 keeps a connection until its
 * last statement is finalized). Called from inside one of the db's own calls (a
 * transaction's callback, a stream's row function) or from a subscriber to
 * one of its events (on any thread, a plugin's own included: the health
 * monitor's) it would wait for itself: it is refused with an error log
 * line and the db stays open. */
DBR_API dbr_db *dbr_open(const char *config_path, dbr_error **err);
DBR_API dbr_db *dbr_open_string(const char *config_text, dbr_error **err);
DBR_API void dbr_close(dbr_db *db);

/* Opening with options: a clock and a random seed for the plugins' timing
 * logic (backoff delays, breaker timeouts), so that tests and simulations can
 * run them on a fake clock. Zero-initialise, set one of config_path and
 * config_text, and what else you need. The clock does not drive I/O: the
 * pool and the driver always wait on the real monotonic clock. */
typedef struct dbr_clock {
    int64_t (*now_us)(void *user); /* monotonic microseconds */
    /* Returns true once now_us() >= until_us; returns false at once when
     * ctx is canceled, or when ctx's deadline comes first. */
    bool (*sleep_until)(void *user, dbr_ctx *ctx, int64_t until_us);
    void *user;
    uint32_t struct_size; /* 0 or sizeof(dbr_clock); fields after it are later minors' */
} dbr_clock;
typedef struct dbr_open_opts {
    const char *config_path;
    const char *config_text;
    const dbr_clock *clock; /* NULL: the real monotonic clock */
    uint64_t seed;          /* 0: seeded from the time; else plugins' randomness repeats */
    bool check_only;        /* load and check config, driver and plugins, connect to
                               nothing and start nothing (`dbr check`) */
    /* The db serves one command and is closed again (the dbr tool beside a
     * running service, a cron job): plugins start nothing meant for a
     * long-running process, such as the health plugin's HTTP listener and
     * monitor thread, which would fight the service for its port. Plugins
     * read it with dbr_host_one_shot(). */
    bool one_shot;
    uint32_t struct_size; /* 0 or sizeof(dbr_open_opts); fields after it are later minors' */
} dbr_open_opts;
DBR_API dbr_db *dbr_open_with(const dbr_open_opts *opts, dbr_error **err);

/* Asks plugin `plugin` of db to carry out `command` (each plugin documents
 * its commands: the breaker's "state", "force_open", "reset", ...). On
 * success *reply, when reply is not NULL, is a string to free(). */
DBR_API bool dbr_control(dbr_db *db, const char *plugin, const char *command, char **reply,
                         dbr_error **err);

/* What a db is made of, for tools and logs. Index -1 is the driver, 0 to
 * dbr_chain_count() - 1 the plugins, outermost first. Strings belong to the
 * db. dbr_chain_settings returns "key = value" lines of the module's group
 * ([database] for the driver, conninfo and secrets redacted), NULL-terminated;
 * free it with dbr_strv_free. */
typedef struct dbr_module_info {
    uint32_t struct_size; /* set by the call: the fields it filled */
    const char *name;     /* as the config names it */
    const char *module;   /* the module's own name */
    const char *version;
    const char *description;
    const char *path; /* the file it was loaded from */
} dbr_module_info;
DBR_API int dbr_chain_count(const dbr_db *db);
DBR_API bool dbr_chain_module_sized(const dbr_db *db, int index, dbr_module_info *out, size_t size);
#define dbr_chain_module(db, index, out)                                                           \
    dbr_chain_module_sized((db), (index), (out), sizeof(*(out)))
DBR_API char **dbr_chain_settings(const dbr_db *db, int index);
DBR_API void dbr_strv_free(char **strv);

/* Statements in autocommit. */
DBR_API bool dbr_ping(dbr_db *db, dbr_ctx *ctx, dbr_error **err);
DBR_API bool dbr_exec(dbr_db *db, dbr_ctx *ctx, const char *sql, int nparams,
                      const char *const *params, dbr_error **err);
DBR_API dbr_result *dbr_query(dbr_db *db, dbr_ctx *ctx, const char *sql, int nparams,
                              const char *const *params, dbr_error **err);

/*
 * Parameters with binary values (ABI 3.0): what dbr_exec's text array
 * cannot carry, such as a bytea holding zero bytes. values[i] NULL is SQL
 * NULL; formats[i] 1 makes values[i] lengths[i] raw bytes (for bytea: the
 * bytes themselves; for other types the server's binary form), 0 a
 * NUL-terminated text. formats NULL: every value is text; lengths may then
 * be NULL. The arrays are read during the call only.
 */
typedef struct dbr_args {
    int n;
    const char *const *values;
    const int *lengths;
    const int *formats;
} dbr_args;
DBR_API bool dbr_exec_args(dbr_db *db, dbr_ctx *ctx, const char *sql, const dbr_args *args,
                           dbr_error **err);
DBR_API dbr_result *dbr_query_args(dbr_db *db, dbr_ctx *ctx, const char *sql, const dbr_args *args,
                                   dbr_error **err);

/* Results. Out-of-range rows or columns give NULL (or 0), never a crash. */
DBR_API int dbr_result_nrows(const dbr_result *r);
DBR_API int dbr_result_ncols(const dbr_result *r);
DBR_API const char *dbr_result_colname(const dbr_result *r, int col);
DBR_API const char *dbr_result_value(const dbr_result *r, int row, int col); /* NULL = SQL NULL */
DBR_API long long dbr_result_affected(const dbr_result *r); /* -1 when not a row count */
DBR_API void dbr_result_free(dbr_result *r);

/*
 * Typed results (ABI 3.0; drivers with DBR_CAP_TYPED). The portable type
 * of a column, its index by name, and getters that convert a value or fail
 * with DBR_ERR_MISUSE naming the row, the column and why: a NULL (test with
 * dbr_result_isnull first), a type that does not convert, an overflow.
 * Timestamps are microseconds since 1970-01-01 00:00 UTC (a timestamp
 * without time zone is read as UTC, a date as its midnight UTC). Byte
 * strings belong to the result and stay valid until dbr_result_free.
 *
 * What converts: int64 from INT, and from NUMERIC or text when the value
 * is an exact integer that fits; double from FLOAT, INT, NUMERIC or text;
 * bool from BOOL ("t"/"f"; text also "true"/"false"); bytes from BYTES
 * (decoded), or text's own bytes; timestamp_us from TIMESTAMP, DATE or
 * text in ISO form. Anything else is a type mismatch. The PostgreSQL
 * driver reads timestamps in the ISO DateStyle only (the server's
 * default): another DateStyle, or 'infinity', fails with a reason.
 * Out-of-range row or column, NULL r or out: DBR_ERR_MISUSE naming it; a
 * driver without DBR_CAP_TYPED: DBR_ERR_UNSUPPORTED. Reading a result from
 * several threads at once is safe; freeing it while another reads is not.
 */
typedef enum dbr_type {
    DBR_TYPE_UNKNOWN = 0, /* a type the driver does not map: read it as text */
    DBR_TYPE_TEXT,
    DBR_TYPE_INT,     /* smallint, integer, bigint */
    DBR_TYPE_FLOAT,   /* real, double precision */
    DBR_TYPE_NUMERIC, /* exact decimal: read as text, or as double losing precision */
    DBR_TYPE_BOOL,
    DBR_TYPE_BYTES,     /* bytea, blob */
    DBR_TYPE_TIMESTAMP, /* with or without time zone */
    DBR_TYPE_DATE,
} dbr_type;
typedef union dbr_value {
    int64_t i;
    double d;
    bool b;
    struct {
        const void *data;
        size_t len;
    } bytes;
    int64_t us; /* timestamps and dates: microseconds since the Unix epoch, UTC */
} dbr_value;
DBR_API dbr_type dbr_result_coltype(const dbr_result *r, int col); /* UNKNOWN out of range */
/* The first column named exactly name (case-sensitive); -1 when absent or NULL. */
DBR_API int dbr_result_column(const dbr_result *r, const char *name);
DBR_API bool dbr_result_isnull(const dbr_result *r, int row, int col); /* true out of range */
DBR_API bool dbr_result_int64(const dbr_result *r, int row, int col, int64_t *out, dbr_error **err);
DBR_API bool dbr_result_double(const dbr_result *r, int row, int col, double *out, dbr_error **err);
DBR_API bool dbr_result_bool(const dbr_result *r, int row, int col, bool *out, dbr_error **err);
DBR_API bool dbr_result_bytes(const dbr_result *r, int row, int col, const void **data, size_t *len,
                              dbr_error **err);
DBR_API bool dbr_result_timestamp_us(const dbr_result *r, int row, int col, int64_t *out,
                                     dbr_error **err);
/* "int", "timestamp", ...; "unknown" for a type this header does not know. */
DBR_API const char *dbr_type_name(dbr_type type);

/* Transactions. The callback's return decides: true commits, false rolls
 * back. A failed statement, a broken connection or a failed COMMIT rolls back
 * too. dbr_tx_run returns true only when the transaction committed. When the
 * callback returned false without setting *err, dbr_tx_run returns false and
 * leaves *err NULL: the rollback was what the application asked for. */
typedef enum {
    DBR_ISOLATION_DEFAULT,
    DBR_ISOLATION_READ_COMMITTED,
    DBR_ISOLATION_REPEATABLE_READ,
    DBR_ISOLATION_SERIALIZABLE
} dbr_isolation;
typedef struct {
    dbr_isolation isolation;
    bool read_only;
    bool deferrable;
    uint32_t struct_size; /* 0 or sizeof(dbr_tx_opts); fields after it are later minors' */
} dbr_tx_opts;
typedef bool (*dbr_tx_fn)(dbr_tx *tx, void *user, dbr_error **err);

DBR_API bool dbr_tx_run(dbr_db *db, dbr_ctx *ctx, const dbr_tx_opts *opts, /* NULL = defaults */
                        dbr_tx_fn fn, void *user, dbr_error **err);
/*
 * Runs a transaction at most once for key, whoever runs it again: the
 * retry plugin after an unknown COMMIT or a failover, the caller after a
 * crash, another process. The key (1 to 200 bytes; a request id, an order
 * number) is inserted into [database] idempotency_table (default
 * dbr_idempotency_keys, created on first use) as the transaction's first
 * statement, so it commits exactly when the transaction's work does.
 *
 * - If a run of this key committed before, fn is not called, nothing is
 *   applied, *already_applied (may be NULL) is set to true and the call
 *   succeeds: report what the first run did.
 * - If COMMIT's answer is lost, the key's row is looked up on whatever
 *   server answers (after a failover too, where transaction ids prove
 *   nothing): committed is success; not committed is a transient
 *   not-applied error; no answer by the ctx's deadline is commit-unknown.
 * - The call counts as idempotent (dbr_call_idempotent), so retry may run
 *   it again after any outcome: the key makes that safe.
 *
 * Rows are never deleted by dbr: keep the table to the window in which a
 * key can come back (DELETE ... WHERE committed_at < now() - '7 days').
 * read_only opts are refused (DBR_ERR_MISUSE). Thread-safe like
 * dbr_tx_run.
 */
DBR_API bool dbr_tx_run_once(dbr_db *db, dbr_ctx *ctx, const dbr_tx_opts *opts, const char *key,
                             dbr_tx_fn fn, void *user, bool *already_applied, dbr_error **err);
DBR_API bool dbr_tx_read_only(dbr_db *db, dbr_ctx *ctx, dbr_tx_fn fn, void *user, dbr_error **err);
DBR_API bool dbr_tx_serializable(dbr_db *db, dbr_ctx *ctx, dbr_tx_fn fn, void *user,
                                 dbr_error **err);
DBR_API bool dbr_tx_exec(dbr_tx *tx, const char *sql, int nparams, const char *const *params,
                         dbr_error **err);
DBR_API dbr_result *dbr_tx_query(dbr_tx *tx, const char *sql, int nparams,
                                 const char *const *params, dbr_error **err);
DBR_API bool dbr_tx_exec_args(dbr_tx *tx, const char *sql, const dbr_args *args, dbr_error **err);
DBR_API dbr_result *dbr_tx_query_args(dbr_tx *tx, const char *sql, const dbr_args *args,
                                      dbr_error **err);
/* Runs fn inside a savepoint, to any depth. When fn fails or returns false,
 * the work since the savepoint is rolled back, dbr_tx_savepoint returns false
 * and the enclosing transaction goes on. */
DBR_API bool dbr_tx_savepoint(dbr_tx *tx, dbr_tx_fn fn, void *user, dbr_error **err);

/* A script of several statements separated by semicolons, without
 * parameters (the simple protocol): for schema migrations. */
DBR_API bool dbr_exec_script(dbr_db *db, dbr_ctx *ctx, const char *sql, dbr_error **err);
DBR_API bool dbr_tx_exec_script(dbr_tx *tx, const char *sql, dbr_error **err);
/* Takes an advisory lock held until the transaction ends (the pq driver:
 * a transaction-scoped advisory lock, which also works behind a pooler in
 * transaction mode), waiting at most timeout_ms; DBR_ERR_TIMEOUT after
 * that; DBR_ERR_UNSUPPORTED without DBR_CAP_ADVISORY_LOCK. */
DBR_API bool dbr_tx_advisory_lock(dbr_tx *tx, long long key, long long timeout_ms, dbr_error **err);

/* Schema migrations written in C, registered before dbr_open for the
 * migrate plugin (docs/migrations.md). up and down run inside the
 * migration's transaction; down may be NULL (irreversible). The strings
 * are copied. Process-wide; a version registered twice is an error. */
typedef struct dbr_migration {
    long long version;
    const char *description;
    dbr_tx_fn up;
    dbr_tx_fn down;
    void *user;
    uint32_t struct_size; /* 0 or sizeof(dbr_migration); fields after it are later minors' */
} dbr_migration;
DBR_API bool dbr_migration_register(const dbr_migration *m, dbr_error **err);
/* Forgets every registered migration (for tests). */
DBR_API void dbr_migration_clear(void);
/* The registered migrations, in version order; *n gets their number. The
 * array lives until the next register or clear. */
DBR_API const dbr_migration *dbr_migration_list(int *n);

/* Deadlines and cancellation. */
DBR_API dbr_ctx *dbr_ctx_new(void); /* cancellable, no deadline */
DBR_API dbr_ctx *dbr_ctx_with_timeout(long long timeout_ms);
DBR_API void dbr_ctx_cancel(dbr_ctx *ctx); /* thread-safe; cancels a running query */
/* A ctx that ends when parent is canceled or at the earlier of parent's
 * deadline and timeout_ms from now. parent may be NULL. It is not
 * cancellable itself; free it before parent. */
DBR_API dbr_ctx *dbr_ctx_child(const dbr_ctx *parent, long long timeout_ms);
DBR_API void dbr_ctx_free(dbr_ctx *ctx);
DBR_API bool dbr_ctx_done(const dbr_ctx *ctx); /* canceled or past its deadline */
/* Marks the calls made with this ctx as safe to repeat even after they
 * reached the server (reads; writes the application made idempotent), so a
 * retry plugin may run them again when the connection breaks mid-flight.
 * Without it, an autocommit statement that was sent is never repeated. */
DBR_API void dbr_ctx_set_idempotent(dbr_ctx *ctx, bool idempotent);
/* The deadline on the dbr_now_us() clock; 0 when there is none. */
DBR_API int64_t dbr_ctx_deadline(const dbr_ctx *ctx);
/* Where a router plugin may send the calls made with this ctx (a child
 * inherits it). DEFAULT: read-only transactions (dbr_tx_read_only) may go to
 * a standby, everything else to the primary. STANDBY: the calls only read,
 * so autocommit queries may go to a standby too. PRIMARY: always the
 * primary, for a caller who must read its own writes. Without a router in
 * the chain it changes nothing. */
typedef enum dbr_route {
    DBR_ROUTE_DEFAULT = 0,
    DBR_ROUTE_STANDBY = 1,
    DBR_ROUTE_PRIMARY = 2,
} dbr_route;
DBR_API void dbr_ctx_set_route(dbr_ctx *ctx, dbr_route route);
DBR_API dbr_route dbr_ctx_route(const dbr_ctx *ctx);

/* Pool statistics, the fields of Go's sql.DBStats. dbr_pool_stats_get is
 * a macro passing sizeof(*out), so the library fills no more than the
 * caller's struct holds; the function of that name (for bindings that
 * cannot use the macro) fills the ABI 3.0 fields. */
typedef struct {
    int max_open, open, in_use, idle;
    long long wait_count, wait_duration_us, max_idle_closed, max_idle_time_closed,
        max_lifetime_closed;
} dbr_pool_stats;
DBR_API void dbr_pool_stats_get(dbr_db *db, dbr_pool_stats *out);
DBR_API void dbr_pool_stats_get_sized(dbr_db *db, dbr_pool_stats *out, size_t size);
#define dbr_pool_stats_get(db, out) dbr_pool_stats_get_sized((db), (out), sizeof(*(out)))
/* Closes idle connections now: all of them (after the server was seen
 * down, they are likely dead), or only those past conn_max_idle_time or
 * conn_max_lifetime. Returns how many were closed. */
DBR_API int dbr_pool_close_idle(dbr_db *db, bool all);
/* How many callers are waiting for a connection right now. */
DBR_API int dbr_pool_waiters(dbr_db *db);

/* Metrics in the Prometheus text exposition format; free() the string. */
DBR_API char *dbr_metrics_text(dbr_db *db);

/* Events: "breaker.state", "health.alert", "retry.attempt", ... Delivered on
 * the thread that raised them, synchronously: a subscriber must be quick and
 * must not call back into the db. */
DBR_API const char *dbr_event_type(const dbr_event *ev);
DBR_API const char *dbr_event_get(const dbr_event *ev, const char *field); /* NULL if absent */
/* Listing an event's fields, in the order they were published: the number
 * of fields (0 for NULL), then the name and value of field i, 0 <= i < n
 * (NULL out of range; a value published as NULL reads ""). The strings
 * belong to the event and live only during the delivery: copy what you keep. */
DBR_API int dbr_event_nfields(const dbr_event *ev);
DBR_API const char *dbr_event_field_name(const dbr_event *ev, int i);
DBR_API const char *dbr_event_field_value(const dbr_event *ev, int i);
typedef void (*dbr_event_fn)(const dbr_event *ev, void *user);
DBR_API void dbr_subscribe(dbr_db *db, dbr_event_fn fn, void *user);
/* Removes a subscription (the same fn and user); after it returns, fn is
 * not called again with user, even by another thread. */
DBR_API void dbr_unsubscribe(dbr_db *db, dbr_event_fn fn, void *user);

/*
 * What the db's driver can do beyond the required statements and
 * transactions (ABI 3.0). A call that needs a capability the driver lacks
 * fails with DBR_ERR_UNSUPPORTED before anything is sent.
 */
typedef enum dbr_capability {
    DBR_CAP_PREPARE = 1,     /* dbr_prepare, the statement cache */
    DBR_CAP_TYPED,           /* dbr_result_coltype and the typed getters */
    DBR_CAP_PIPELINE,        /* dbr_batch_run in one round trip */
    DBR_CAP_STREAM,          /* dbr_query_stream */
    DBR_CAP_COPY,            /* dbr_copy_from, dbr_copy_to */
    DBR_CAP_LISTEN,          /* dbr_listener */
    DBR_CAP_ADVISORY_LOCK,   /* dbr_tx_advisory_lock */
    DBR_CAP_COMMIT_TRACKING, /* an ambiguous COMMIT can be resolved */
    DBR_CAP_SESSION_RESET,   /* the pool resets session state */
    DBR_CAP_REPLICATION,     /* dbr_replication_state_get */
    DBR_CAP_ARCHIVE_STATUS,  /* dbr_archive_state_get */
} dbr_capability;
DBR_API bool dbr_supports(const dbr_db *db, dbr_capability cap);
DBR_API const char *dbr_capability_name(dbr_capability cap); /* "prepare", ... */

/*
 * Where the server stands in replication (DBR_CAP_REPLICATION), for a
 * plugin that measures how far a standby lags (the router). One round
 * trip on a pooled connection, through the chain like dbr_ping. Output
 * structs sized by the call: dbr_replication_state_get is a macro passing
 * sizeof(*out); the library fills no more than that and sets
 * out->struct_size to what it filled.
 *
 * position is in bytes of the server's write-ahead log, monotonic on one
 * history and comparable between a primary and its standbys: a primary's
 * write position, or a standby's replay position (0 before it has
 * replayed anything). Thread-safe like dbr_ping. False and an error:
 * DBR_ERR_MISUSE (a NULL argument, size smaller than the ABI 3.0 struct),
 * DBR_ERR_UNSUPPORTED (the driver lacks the capability; nothing is sent),
 * or the server's (connection, timeout, permission, ...); *out is then
 * untouched.
 */
typedef struct dbr_replication_state {
    uint32_t struct_size; /* set by the call: the bytes it filled */
    bool standby;         /* the server replays another's log (a standby in recovery) */
    int64_t position;     /* bytes of log: written (primary) or replayed (standby) */
} dbr_replication_state;
DBR_API bool dbr_replication_state_get_sized(dbr_db *db, dbr_ctx *ctx, dbr_replication_state *out,
                                             size_t size, dbr_error **err);
#define dbr_replication_state_get(db, ctx, out, err)                                               \
    dbr_replication_state_get_sized((db), (ctx), (out), sizeof(*(out)), (err))

/*
 * The server's archiving of its write-ahead log (DBR_CAP_ARCHIVE_STATUS),
 * the ground point-in-time recovery stands on, for the health plugin. One
 * round trip like dbr_replication_state_get, sized and failing the same
 * way; the role may need the server's monitoring privileges (the driver's
 * documentation says which), else DBR_ERR_PERMISSION.
 */
typedef struct dbr_archive_state {
    uint32_t struct_size;        /* set by the call: the bytes it filled */
    bool archiving;              /* archiving is switched on */
    bool failing;                /* the last attempt failed (after the last success) */
    int64_t failed_count;        /* attempts failed since the server's counters were reset */
    int64_t age_us;              /* age of the newest archived segment; -1: none yet */
    int64_t wal_bytes;           /* write-ahead log kept on the server's disk */
    int64_t slot_retained_bytes; /* the most log a replication slot holds back; 0: no slot */
} dbr_archive_state;
DBR_API bool dbr_archive_state_get_sized(dbr_db *db, dbr_ctx *ctx, dbr_archive_state *out,
                                         size_t size, dbr_error **err);
#define dbr_archive_state_get(db, ctx, out, err)                                                   \
    dbr_archive_state_get_sized((db), (ctx), (out), sizeof(*(out)), (err))

/* Monotonic microseconds: the clock of every deadline in dbr. */
DBR_API int64_t dbr_now_us(void);
/* The library's version, "MAJOR.MINOR.PATCH". */
DBR_API const char *dbr_version(void);

#ifdef __cplusplus
}
#endif

#include "batch.h"
#include "copy.h"
#include "listen.h"
#include "stmt.h"
#include "stream.h"

#endif /* DBR_DBR_H */
