/* SPDX-License-Identifier: MIT */
/* A transaction as the core's transaction files share it. */
#ifndef DBR_CORE_TX_H
#define DBR_CORE_TX_H

#include "db.h"

/*
 * One running transaction. The application never sees this struct: its
 * dbr_tx handle is a number naming the slot and the slot's generation
 * (tx_handle.c), so a handle kept past its callback is refused for good,
 * whatever the slot is doing by then.
 */
typedef struct tx {
    gsize gen;   /* atomic: bumped each time the slot is taken */
    gint active; /* atomic */
    guint32 index;
    dbr_db *db;
    dbr_pconn *pc;
    dbr_ctx *ctx;
    const dbr_tx_opts *opts;
    const char *key; /* dbr_tx_run_once's idempotency key, or NULL */
    unsigned savepoints;
    bool tracked;          /* COMMIT learns the transaction id (resolve_commit, probed) */
    bool pipelined;        /* COMMIT goes behind a request that tells when the session ended */
    bool escaped;          /* a statement of the callback ended the transaction itself */
    bool misused;          /* a statement that would have ended it was refused */
    bool unsure;           /* a script's answer was lost: it may have COMMITted */
    GThread *owner;        /* the thread running the callback */
    dbr_error_kind failed; /* kind of the last statement that failed, or NONE */
    bool failed_transient; /* and whether the driver found it transient */
    char *failed_msg;
    struct tx *next_free;
} tx;

/* Runs a statement call of the transaction handle names through the chain
 * (kind tx_stmt): call->run on the transaction's connection, with its ctx.
 * A statement that would end the transaction is refused; a failure is
 * remembered as the transaction's. For batch.c, stream.c and copy.c. */
bool dbr_tx_statement(const dbr_tx *handle, const char *fn, dbr_call *call, dbr_error **err);

/* Handles (tx_handle.c). Slots live as long as the process; taking and
 * releasing one locks, finding one from a handle does not. */
tx *dbr_tx_slot_take(dbr_db *db);
void dbr_tx_slot_release(tx *t);
dbr_tx *dbr_tx_handle(const tx *t);
/* The active transaction a handle names, or NULL. */
tx *dbr_tx_slot_find(const dbr_tx *handle);

/* COMMIT, or ROLLBACK when the ctx ran out first, and what became of it
 * when the answer was lost (tx_commit.c). Returns the connection to the
 * pool and releases the slot. */
bool dbr_tx_commit(tx *t, dbr_error **err);
/* The whole transaction failed before COMMIT: the server rolled it back.
 * An error that is not the transaction's own (made by the callback, or by
 * a call it made on another connection) keeps its outcome: that other
 * work may have been applied. */
dbr_error *dbr_tx_rolled_back(dbr_error *e, bool own);
/* Idempotency keys (tx_key.c). dbr_tx_key_table makes sure the table
 * exists, outside any transaction, once per db. dbr_tx_key_claim, right
 * after BEGIN, inserts the key; *already is set when an earlier run of the
 * key committed (then nothing else must run). dbr_tx_key_resolve asks fresh
 * connections whether a run whose COMMIT answer was lost committed: 1 yes,
 * 0 no, -1 not known by the ctx's deadline. */
bool dbr_tx_key_table(dbr_db *db, dbr_pconn *pc, const dbr_wait *wait, dbr_error **err);
bool dbr_tx_key_claim(dbr_db *db, dbr_pconn *pc, const dbr_wait *wait, const char *key,
                      bool *already, dbr_error **err);
int dbr_tx_key_resolve(dbr_db *db, dbr_ctx *ctx, const char *key);
/* What became of a transaction whose COMMIT answer was lost, asked with
 * look on fresh connections of its own (the pool's may have died with the
 * same event) until the ctx's deadline or, without one, connect_timeout,
 * pausing 50 ms doubling to 1 s between looks. look answers 1 committed,
 * 0 not, -1 no answer yet (asked again), -2 never knowable (stop). Returns
 * 1, 0, or -1 when not known. */
typedef int (*dbr_tx_look_fn)(dbr_db *db, const dbr_wait *wait, const void *what);
int dbr_tx_ask_until_known(dbr_db *db, dbr_ctx *ctx, dbr_tx_look_fn look, const void *what);
/* Whether COMMIT can learn the transaction id here: probes the server once
 * per db, outside any transaction, on pc. */
bool dbr_tx_tracking_usable(dbr_db *db, dbr_pconn *pc, dbr_ctx *ctx);

#endif
