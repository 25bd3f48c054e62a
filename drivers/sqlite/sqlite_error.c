/* SPDX-License-Identifier: MIT */
/*
 * SQLite result codes as dbr error kinds and outcomes.
 *
 * SQLite undoes a failed statement (its statement journal), so a failure
 * is not applied unless work of the same call had already committed: an
 * autocommit script past its first statement, or a COMMIT whose write may
 * have reached the disk before an I/O error (sqlite_exec.c adds the
 * failed autocommit write: ON CONFLICT FAIL, an I/O error). A constraint
 * violation gets
 * the SQL standard's SQLSTATE for its class (23505 unique, 23503 foreign
 * key, 23502 not null, 23514 check, else 23000); other errors carry none.
 */
#include <stdarg.h>
#include <string.h>

#include "sqlite.h"

typedef struct sq_class {
    dbr_error_kind kind;
    bool transient;
    const char *sqlstate;
} sq_class;

static sq_class constraint_class(int xrc)
{
    sq_class c = {DBR_ERR_CONSTRAINT, false, "23000"};

    switch (xrc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
        c.sqlstate = "23505";
        break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        c.sqlstate = "23503";
        break;
    case SQLITE_CONSTRAINT_NOTNULL:
        c.sqlstate = "23502";
        break;
    case SQLITE_CONSTRAINT_CHECK:
        c.sqlstate = "23514";
        break;
    }
    return c;
}

static sq_class classify(int xrc)
{
    switch (xrc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return (sq_class){DBR_ERR_LOCK_CONTENTION, true, ""};
    case SQLITE_CONSTRAINT:
        return constraint_class(xrc);
    case SQLITE_READONLY:
        return (sq_class){DBR_ERR_READ_ONLY, false, ""};
    case SQLITE_NOMEM:
        return (sq_class){DBR_ERR_RESOURCE, true, ""};
    case SQLITE_FULL:
    case SQLITE_TOOBIG:
    case SQLITE_IOERR:
        return (sq_class){DBR_ERR_RESOURCE, false, ""};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return (sq_class){DBR_ERR_DATA_CORRUPTED, false, ""};
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return (sq_class){DBR_ERR_PERMISSION, false, ""};
    case SQLITE_CANTOPEN:
        return (sq_class){DBR_ERR_CONNECTION, false, ""};
    case SQLITE_SCHEMA:
        /* SQLite re-prepares on a schema change itself; this is the
         * change racing it again: run it again. */
        return (sq_class){DBR_ERR_SERIALIZATION, true, ""};
    case SQLITE_ERROR:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        /* A statement SQLite cannot prepare or a value it cannot take:
         * PostgreSQL's classes 42 and 22, which dbr calls syntax. */
        return (sq_class){DBR_ERR_SYNTAX, false, ""};
    default:
        return (sq_class){DBR_ERR_INTERNAL, false, ""};
    }
}

dbr_error *sq_error(dbr_driver_conn *conn, int rc, const char *what, bool applied_before)
{
    int xrc = conn && conn->db ? sqlite3_extended_errcode(conn->db) : rc;
    const char *msg = conn && conn->db ? sqlite3_errmsg(conn->db) : sqlite3_errstr(rc);
    sq_class c;
    dbr_error *e;

    /* Interrupted once its commit had begun (see sqlite_wait.c): SQLite
     * should not, but if it did the work may well be committed. */
    if ((rc & 0xff) == SQLITE_INTERRUPT && conn && conn->committing)
        applied_before = true;
    /* The extended code belongs to the last call on the handle: use it only
     * when it refines rc. */
    if ((xrc & 0xff) != (rc & 0xff))
        xrc = rc;
    c = classify(xrc);
    if (conn && conn->stop != SQ_STOP_NONE &&
        ((rc & 0xff) == SQLITE_INTERRUPT || (rc & 0xff) == SQLITE_BUSY)) {
        /* Our own handlers stopped it: the caller's deadline or cancel
         * (SQLite rolled the statement back), or the busy timeout. */
        if (conn->stop == SQ_STOP_BUSY) {
            e = dbr_error_new(DBR_ERR_LOCK_CONTENTION, SQ_LAYER,
                              "%s%sthe database is locked by another connection (waited "
                              "_busy_timeout, %lld ms)",
                              what ? what : "", what ? ": " : "",
                              (long long)(conn->busy_timeout_us / 1000));
            dbr_error_set_transient(e, true);
        } else {
            e = dbr_error_new(conn->stop == SQ_STOP_CANCEL ? DBR_ERR_CANCELED : DBR_ERR_TIMEOUT,
                              SQ_LAYER, "%s%s%s", what ? what : "", what ? ": " : "",
                              conn->stop == SQ_STOP_CANCEL
                                  ? "statement canceled"
                                  : "statement timed out (deadline exceeded)");
        }
        dbr_error_set_phase(e, DBR_PHASE_SENT);
        dbr_error_set_outcome(e, applied_before ? DBR_OUTCOME_UNKNOWN : DBR_OUTCOME_NOT_APPLIED);
        return e;
    }
    if ((rc & 0xff) == SQLITE_INTERRUPT)
        c = (sq_class){DBR_ERR_CANCELED, false, ""};
    e = dbr_error_new(c.kind, SQ_LAYER, "%s%s%s", what ? what : "", what ? ": " : "", msg);
    if (*c.sqlstate)
        dbr_error_set_sqlstate(e, c.sqlstate);
    dbr_error_set_detail(e, sqlite3_errstr(xrc));
    dbr_error_set_transient(e, c.transient);
    dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
    dbr_error_set_outcome(e, applied_before ? DBR_OUTCOME_UNKNOWN : DBR_OUTCOME_NOT_APPLIED);
    return e;
}

dbr_error *sq_misuse(const char *fmt, ...)
{
    va_list ap;
    char *msg;
    dbr_error *e;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    e = dbr_error_new(DBR_ERR_MISUSE, SQ_LAYER, "%s", msg);
    dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
    dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    g_free(msg);
    return e;
}
