/* SPDX-License-Identifier: MIT */
/* The SQLite driver's shared pieces. */
#ifndef DBR_SQLITE_H
#define DBR_SQLITE_H

#include <glib.h>
#include <sqlite3.h>

#include <dbr/driver.h>

#define SQ_LAYER "sqlite"

/* What the conninfo says beyond SQLite's own URI: the `_name=value` query
 * parameters, stripped before the URI reaches sqlite3_open_v2
 * (sqlite_uri.c). */
typedef struct sq_uri {
    char *open_name;         /* what sqlite3_open_v2 gets; g_free */
    int64_t busy_timeout_us; /* _busy_timeout (ms in the URI) */
    const char *journal;     /* _journal_mode: static, lower case */
    const char *synchronous; /* _synchronous: static */
    bool foreign_keys;       /* _foreign_keys */
    bool journal_set;        /* _journal_mode was written, so it must take */
    bool read_only;          /* mode=ro: no PRAGMA that writes */
} sq_uri;

/* Parses conninfo without I/O; false and a DBR_ERR_CONFIG error that quotes
 * none of it but the name of a bad parameter. out may be NULL (a check). */
bool sq_uri_parse(const char *conninfo, sq_uri *out, dbr_error **err);
void sq_uri_clear(sq_uri *u);
/* The redact_conninfo slot: the path as written, and of the URI's query
 * only the parameters known to hold no secret (sqlite_uri.c). malloc'd. */
char *sq_redact_conninfo(const char *conninfo);

/* Why the running call was stopped by the progress or busy handler. */
typedef enum { SQ_STOP_NONE = 0, SQ_STOP_DEADLINE, SQ_STOP_CANCEL, SQ_STOP_BUSY } sq_stop;

typedef struct sq_cached {
    char *sql; /* the key, owned */
    sqlite3_stmt *stmt;
    GList *link; /* in the LRU queue; data = this */
} sq_cached;

struct dbr_driver_conn {
    sqlite3 *db; /* NULL once a reset failed to open it again (then broken) */
    sq_uri uri;  /* what it was opened with, to open it again (session reset) */
    bool broken;
    bool session_changed; /* a statement since the last reset may have changed the session */
    /* PostgreSQL's "aborted transaction" state, which the core relies on:
     * a statement failed inside a transaction block (failed), or SQLite
     * rolled the whole block back by itself (aborted: autocommit again, yet
     * still a transaction to the core until its ROLLBACK). Either stays
     * until ROLLBACK (or ROLLBACK TO for failed). */
    bool tx_failed;
    bool tx_aborted;
    bool query_only; /* PRAGMA query_only is on for a read-only transaction */
    int64_t busy_timeout_us;
    /* The call in progress: its wait, and what stopped it. */
    const dbr_wait *wait;
    sq_stop stop;
    int64_t busy_since_us; /* when the current wait for a lock began */
    /* The commit hook ran since the statement began: its work is being or
     * has been committed, and the progress handler no longer stops it. */
    bool committing;
    sqlite3_int64 changes_before; /* total_changes64 when the statement started */
    /* The statement cache: SQL text -> sq_cached, most recent at the head. */
    GHashTable *cache;
    GQueue lru;
    int cache_size;
};

/* A buffered result, or one row of a stream. */
typedef struct sq_cell {
    int type; /* SQLITE_INTEGER, _FLOAT, _TEXT, _BLOB, _NULL */
    int len;  /* bytes of a TEXT or BLOB (text has a NUL after them) */
    union {
        sqlite3_int64 i;
        double d;
    } v;
    char *text; /* the value as text (PostgreSQL's forms: bytea as \x hex); NULL for NULL */
    void *blob; /* a BLOB's bytes */
} sq_cell;

struct dbr_driver_result {
    int ncols, nrows;
    char **colnames;
    dbr_type *coltypes; /* from the declared type, else the first non-NULL value */
    GArray *cells;      /* sq_cell, row-major */
    GStringChunk *strings;
    long long affected; /* -1 when not a count */
};

/* Errors (sqlite_error.c): rc of the call on conn, classified. what says
 * what was being done ("prepare", "step", "COMMIT"); applied_before: work
 * of this call already committed (an autocommit script past its first
 * statement), making a failure's outcome unknown. */
dbr_error *sq_error(dbr_driver_conn *conn, int rc, const char *what, bool applied_before);
dbr_error *sq_misuse(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* Waiting (sqlite_wait.c): the handlers see conn->wait during a call. */
void sq_wait_install(dbr_driver_conn *conn);
void sq_wait_begin(dbr_driver_conn *conn, const dbr_wait *wait);
void sq_wait_end(dbr_driver_conn *conn);
/* Before each statement of a call: a commit seen is that statement's. */
void sq_wait_statement(dbr_driver_conn *conn);
/* Before a call: false and an error when its deadline or cancel has come. */
bool sq_wait_check(const dbr_wait *wait, dbr_error **err);

/* Results (sqlite_result.c). */
dbr_driver_result *sq_result_new(sqlite3_stmt *stmt);
void sq_result_add_row(dbr_driver_result *r, sqlite3_stmt *stmt);
int sq_result_nrows(const dbr_driver_result *r);
int sq_result_ncols(const dbr_driver_result *r);
const char *sq_result_colname(const dbr_driver_result *r, int col);
const char *sq_result_value(const dbr_driver_result *r, int row, int col);
long long sq_result_affected(const dbr_driver_result *r);
void sq_result_free(dbr_driver_result *r);
dbr_type sq_result_coltype(const dbr_driver_result *r, int col);
bool sq_result_get(const dbr_driver_result *r, int row, int col, dbr_type as, dbr_value *out,
                   char *why, int why_len);

/* Statements (sqlite_exec.c). */
dbr_driver_result *sq_exec(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                           unsigned flags, const dbr_wait *wait, dbr_error **err);
bool sq_exec_script(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait, dbr_error **err);
bool sq_prepare(dbr_driver_conn *conn, const char *sql, int *nparams, const dbr_wait *wait,
                dbr_error **err);
bool sq_exec_stream(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                    dbr_driver_row_fn row, void *user, const dbr_wait *wait, long long *rows,
                    dbr_error **err);
void sq_cache_init(dbr_driver_conn *conn, int size);
void sq_cache_clear(dbr_driver_conn *conn);

/* Opens conn->uri into conn->db (NULL on failure) with its PRAGMAs
 * (sqlite.c). */
bool sq_open(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err);

/* Session state (sqlite_session.c). */
void sq_session_note(dbr_driver_conn *conn, const char *sql);
bool sq_session_changed(const dbr_driver_conn *conn);
bool sq_session_reset(dbr_driver_conn *conn, const char *sql, const dbr_wait *wait,
                      dbr_error **err);

/* The BEGIN a read-only transaction gets (sqlite.c): exec recognises it
 * and turns PRAGMA query_only on until the transaction ends. */
#define SQ_BEGIN_READ_ONLY "BEGIN DEFERRED TRANSACTION"
#define SQ_BEGIN_WRITE     "BEGIN IMMEDIATE TRANSACTION"

#endif
