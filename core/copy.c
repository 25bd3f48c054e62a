/* SPDX-License-Identifier: MIT */
/*
 * COPY: dbr_copy_from, dbr_copy_from_buffer, dbr_copy_to and their tx_
 * forms. Each is one call (kind copy in autocommit, tx_stmt inside a
 * transaction) whose run hands the driver's copy_from / copy_to slot a
 * callback of this file standing in front of the caller's.
 *
 * The stand-in is what makes retry safe: once the caller's read callback
 * has been called its data may be gone (a pipe, a generator), and once a
 * chunk reached the caller's write callback it has been delivered, so the
 * call is marked spent (dbr_call_replayable) and the retry plugin stops. A
 * buffer can be read again: dbr_copy_from_buffer stays replayable.
 */
#include <glib.h>
#include <string.h>

#include <dbr/copy.h>
#include <dbr/sql.h>

#include "ctx.h"
#include "tx.h"

typedef struct copy_op {
    dbr_call *outer; /* the call the plugins above see */
    dbr_call *inner; /* the call being run (a copy, after a redirect) */
    dbr_copy_read_fn read;
    dbr_copy_write_fn write;
    void *user;
    const char *data; /* dbr_copy_from_buffer */
    size_t len, off;
    long long rows;
} copy_op;

static void spend(copy_op *op)
{
    op->outer->replay_spent = true;
    if (op->inner)
        op->inner->replay_spent = true;
}

static long long read_user(void *user, char *buf, size_t cap, dbr_error **err)
{
    copy_op *op = user;
    long long n;

    spend(op);
    n = op->read(op->user, buf, cap, err);
    if (n > (long long)cap) {
        dbr_error_free(*err);
        *err = NULL;
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_copy_from: the read callback returned %lld bytes for a buffer "
                             "of %zu",
                             n, cap),
               -1;
    }
    if (n < 0 && !*err)
        dbr_set_error(err, DBR_ERR_MISUSE, "core",
                      "dbr_copy_from: the read callback returned %lld without an error", n);
    return n < 0 ? -1 : n;
}

static long long read_buffer(void *user, char *buf, size_t cap, dbr_error **err)
{
    copy_op *op = user;
    size_t n = MIN(cap, op->len - op->off);

    (void)err;
    memcpy(buf, op->data + op->off, n);
    op->off += n;
    return (long long)n;
}

static bool write_user(void *user, const char *data, size_t len, dbr_error **err)
{
    copy_op *op = user;

    spend(op);
    return op->write(op->user, data, len, err);
}

static bool copy_run(dbr_call *call, dbr_driver_conn *dc, const dbr_wait *wait, dbr_error **err)
{
    const struct dbr_driver_ops *drv = call->db->drv;
    copy_op *op = call->op;

    op->inner = call;
    op->rows = -1;
    op->off = 0; /* a retry reads the buffer from its start */
    if (op->write) {
        if (!DBR_OPS_HAS(struct dbr_driver_ops, drv, copy_to))
            return dbr_unsupported(call->db, "dbr_copy_to", err);
        return drv->copy_to(dc, call->sql, write_user, op, &op->rows, wait, err);
    }
    if (!DBR_OPS_HAS(struct dbr_driver_ops, drv, copy_from))
        return dbr_unsupported(call->db, "dbr_copy_from", err);
    return drv->copy_from(dc, call->sql, op->data ? read_buffer : read_user, op, &op->rows, wait,
                          err);
}

/* The arguments every form checks; sql must be a COPY, so that nothing
 * else runs (and perhaps commits) before the driver finds it is not. */
static bool check(const char *fn, const void *owner, const char *owner_name, const char *sql,
                  bool has_callback, const char *callback_name, dbr_error **err)
{
    char word[8];

    if (!owner)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: %s is NULL", fn, owner_name);
    if (!sql)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: sql is NULL", fn);
    if (!has_callback)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: %s is NULL", fn, callback_name);
    dbr_sql_next_word(sql, word, sizeof(word));
    if (strcmp(word, "copy") != 0)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: sql must be a COPY statement, not %s; nothing was sent", fn,
                             dbr_quote(word).text);
    return true;
}

static bool run(dbr_db *db, dbr_ctx *ctx, const char *sql, copy_op *op, long long *rows,
                dbr_error **err)
{
    dbr_call call = {.kind = DBR_CALL_COPY,
                     .terminal = dbr_autocommit_terminal,
                     .run = copy_run,
                     .ctx = ctx,
                     .sql = sql,
                     .nstatements = 1,
                     .idempotent = dbr_ctx_idempotent(ctx),
                     .op = op};
    bool ok;

    op->outer = &call;
    ok = dbr_dispatch(db, &call, err);
    if (rows)
        *rows = ok ? op->rows : -1;
    return ok;
}

static bool run_tx(dbr_tx *handle, const char *fn, const char *sql, copy_op *op, long long *rows,
                   dbr_error **err)
{
    dbr_call call = {.run = copy_run, .sql = sql, .op = op};
    bool ok;

    op->outer = &call;
    ok = dbr_tx_statement(handle, fn, &call, err);
    if (rows)
        *rows = ok ? op->rows : -1;
    return ok;
}

bool dbr_copy_from(dbr_db *db, dbr_ctx *ctx, const char *sql, dbr_copy_read_fn read, void *user,
                   long long *rows, dbr_error **err)
{
    copy_op op = {.read = read, .user = user};

    if (!check("dbr_copy_from", db, "db", sql, read != NULL, "read", err))
        return false;
    return run(db, ctx, sql, &op, rows, err);
}

bool dbr_copy_from_buffer(dbr_db *db, dbr_ctx *ctx, const char *sql, const void *data, size_t len,
                          long long *rows, dbr_error **err)
{
    copy_op op = {.data = data ? data : "", .len = len};

    if (!data && len > 0)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_copy_from_buffer: data is NULL but len is %zu", len);
    if (!check("dbr_copy_from_buffer", db, "db", sql, true, "data", err))
        return false;
    return run(db, ctx, sql, &op, rows, err);
}

bool dbr_copy_to(dbr_db *db, dbr_ctx *ctx, const char *sql, dbr_copy_write_fn write, void *user,
                 long long *rows, dbr_error **err)
{
    copy_op op = {.write = write, .user = user};

    if (!check("dbr_copy_to", db, "db", sql, write != NULL, "write", err))
        return false;
    return run(db, ctx, sql, &op, rows, err);
}

bool dbr_tx_copy_from(dbr_tx *handle, const char *sql, dbr_copy_read_fn read, void *user,
                      long long *rows, dbr_error **err)
{
    copy_op op = {.read = read, .user = user};

    if (!check("dbr_tx_copy_from", handle, "tx", sql, read != NULL, "read", err))
        return false;
    return run_tx(handle, "dbr_tx_copy_from", sql, &op, rows, err);
}

bool dbr_tx_copy_to(dbr_tx *handle, const char *sql, dbr_copy_write_fn write, void *user,
                    long long *rows, dbr_error **err)
{
    copy_op op = {.write = write, .user = user};

    if (!check("dbr_tx_copy_to", handle, "tx", sql, write != NULL, "write", err))
        return false;
    return run_tx(handle, "dbr_tx_copy_to", sql, &op, rows, err);
}
