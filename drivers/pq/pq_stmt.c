/* SPDX-License-Identifier: MIT */
/*
 * Prepared statements and the per-connection statement cache.
 *
 * Config:
 *   [database]
 *   statement_cache_size = 100   # statements each connection keeps; 0: none
 *
 * A statement run with DBR_EXEC_CACHE is only noted the first time its text
 * is seen (it runs unnamed, as without a cache): a statement run once never
 * costs a Parse that is kept. On its first reuse it is prepared as
 * dbr_<T>_<N> (T: 16 hex digits drawn at random for the connection, so
 * that no two connections share a name) and run in the same round trip, in
 * pipeline mode:
 *     [DEALLOCATE evicted  Sync]...  Parse dbr_T_N  Bind  Execute  Sync
 * and from then on it is only bound and executed (PQsendQueryPrepared), the
 * same messages as PQexecPrepared. DBR_EXEC_PREPARE (an explicit dbr_stmt)
 * prepares it on its first run. With a cache size of 0 (and always behind a
 * pooler in transaction mode, where a named statement would stay on one
 * server while the next transaction runs on another) both run unnamed:
 * Parse, Bind and Execute in one Sync, which any pooler passes whole.
 *
 * Only plannable statements are kept (SELECT, INSERT, UPDATE, DELETE,
 * MERGE, WITH, VALUES, TABLE): a utility statement gains nothing from a
 * Parse kept, and some (VACUUM, COPY) must not run in a pipeline.
 *
 * The least recently used statement makes room for a new one. It is
 * deallocated ahead of the next statement prepared outside a transaction
 * block, in its own Sync, so that its answer (even "does not exist", after
 * a user's DEALLOCATE) can never abort anything of the caller's; inside a
 * transaction block it waits, since a failed DEALLOCATE there would abort
 * the caller's transaction.
 *
 * What can make a kept statement wrong, and what is done:
 *   - 0A000 "cached plan must not change result type" (a SELECT * after
 *     ALTER TABLE ... ADD COLUMN), 26000 "prepared statement does not
 *     exist" (a user's DEALLOCATE ALL that lexing missed), 42P05 "already
 *     exists" (a user PREPAREd our name): all are raised before the
 *     statement runs. Outside a transaction block nothing was applied, so
 *     the statement is prepared again under a new name and run once more,
 *     in the same call. Inside one the error has aborted the caller's
 *     transaction: the entry is dropped and the error becomes a transient,
 *     not applied serialization failure, for the retry plugin to run the
 *     whole transaction again. Only errors that name our statement (26000,
 *     42P05), or 0A000 with the server's "cached plan must not change
 *     result type", are taken so: the same codes raised while a statement
 *     runs (a function's RAISE) are the statement's own errors.
 *   - DISCARD ALL (the pool's session reset, or the user's) and DEALLOCATE
 *     ALL or DEALLOCATE dbr_T_N by the user: read from the text, and the
 *     entries forgotten (pq_stmt_observe) once the statement succeeded; a
 *     refused one (inside a failed transaction block) deallocated nothing.
 *     In a script or a batch, where one answer covers several statements,
 *     a DEALLOCATE is forgotten before it is sent (should it not run, the
 *     server keeps a statement the cache no longer names until the session
 *     ends: a leak, never a name the server no longer has).
 *   - Statements that vanish again and again (26000 three times): a pooler
 *     in transaction mode nobody declared. The connection stops keeping
 *     statements and says so in the log.
 *
 * A connection is used by one thread at a time: the cache takes no lock.
 */
#include <glib.h>
#include <string.h>

#include <dbr/sql.h>

#include "pq.h"

/* Longer texts are run unnamed: they are mostly generated (a VALUES list
 * of many rows), rarely repeated, and costly to hash and keep. */
#define MAX_CACHED_SQL 65536
/* DEALLOCATEs sent ahead of one statement, so that a backlog built up in
 * a long transaction does not land on one caller at once. */
#define MAX_DOOMED_PER_CALL 16

typedef struct entry {
    char *sql; /* the key, owned */
    char name[40];
    bool prepared;        /* name exists on the server */
    bool ran;             /* its last unnamed run (or its statement) worked */
    bool changes_session; /* pq_session_changing(sql), read once */
    int nparams;          /* -1 until described */
    GList link;           /* in lru when prepared, else in seen; data = the entry */
} entry;

struct pq_stmt_cache {
    GHashTable *by_sql; /* sql -> entry */
    GQueue lru;         /* prepared entries, most recently used first */
    GQueue seen;        /* run once, not prepared, most recently seen first */
    GPtrArray *doomed;  /* names to DEALLOCATE outside a transaction block */
    guint64 tag;        /* random, in every name: no two connections share one */
    unsigned next_id;
    int capacity;
    int missing; /* our statements found gone (26000) */
    bool off;    /* too many gone: run everything unnamed from now on */
};

static pq_stmt_cache *cache_of(dbr_driver_conn *conn)
{
    pq_stmt_cache *c = conn->stmts;

    if (c && c->off)
        return NULL;
    if (c || conn->cache_size <= 0)
        return c;
    c = g_new0(pq_stmt_cache, 1);
    c->by_sql = g_hash_table_new(g_str_hash, g_str_equal);
    g_queue_init(&c->lru);
    g_queue_init(&c->seen);
    c->doomed = g_ptr_array_new_with_free_func(g_free);
    c->capacity = conn->cache_size;
    /* Behind a pooler nobody declared, a Bind may reach another client's
     * server session: a name of its own answers 26000 there, never runs
     * what that client prepared under the same name. */
    c->tag = (guint64)g_random_int() << 32 | g_random_int();
    conn->stmts = c;
    return c;
}

static bool cacheable(const char *sql)
{
    static const char *const words[] = {"select", "insert", "update", "delete",
                                        "merge",  "with",   "values", "table"};
    char w[8];

    if (strlen(sql) > MAX_CACHED_SQL)
        return false;
    dbr_sql_next_word(sql, w, sizeof(w));
    for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
        if (strcmp(w, words[i]) == 0)
            return true;
    return false;
}

static void entry_free(pq_stmt_cache *c, entry *e)
{
    g_queue_unlink(e->prepared ? &c->lru : &c->seen, &e->link);
    g_hash_table_remove(c->by_sql, e->sql);
    g_free(e->sql);
    g_free(e);
}

/* Seen entries are bounded like prepared ones: a stream of distinct texts
 * costs memory only up to the capacity. */
static void trim_seen(pq_stmt_cache *c)
{
    while ((int)c->seen.length > c->capacity)
        entry_free(c, c->seen.tail->data);
}

static entry *entry_new(pq_stmt_cache *c, const char *sql)
{
    entry *e = g_new0(entry, 1);

    e->sql = g_strdup(sql);
    e->nparams = -1;
    e->changes_session = pq_session_changing(sql, false);
    e->link.data = e;
    g_hash_table_insert(c->by_sql, e->sql, e);
    g_queue_push_head_link(&c->seen, &e->link);
    trim_seen(c);
    return e;
}

/* The server no longer has (or must no longer be asked for) e's name: back
 * to "seen", so that its next run prepares it again under a new name.
 * doom: the server still has it, deallocate it later. */
static void entry_unprepare(pq_stmt_cache *c, entry *e, bool doom)
{
    if (!e->prepared)
        return;
    if (doom)
        g_ptr_array_add(c->doomed, g_strdup(e->name));
    g_queue_unlink(&c->lru, &e->link);
    e->prepared = false;
    e->ran = true; /* it worked here: prepare it again on its next run */
    e->nparams = -1;
    e->name[0] = '\0';
    g_queue_push_head_link(&c->seen, &e->link);
    trim_seen(c);
}

static void make_room(pq_stmt_cache *c)
{
    while ((int)c->lru.length >= c->capacity) {
        entry *victim = c->lru.tail->data;

        g_ptr_array_add(c->doomed, g_strdup(victim->name));
        victim->prepared = false;
        g_queue_unlink(&c->lru, &victim->link);
        g_hash_table_remove(c->by_sql, victim->sql);
        g_free(victim->sql);
        g_free(victim);
    }
}

static void name_entry(pq_stmt_cache *c, entry *e)
{
    g_snprintf(e->name, sizeof(e->name), "dbr_%016" G_GINT64_MODIFIER "x_%u", c->tag, ++c->next_id);
}

static void mark_prepared(pq_stmt_cache *c, entry *e)
{
    g_queue_unlink(&c->seen, &e->link);
    e->prepared = true;
    g_queue_push_head_link(&c->lru, &e->link);
}

static void touch(pq_stmt_cache *c, entry *e)
{
    if (c->lru.head == &e->link)
        return;
    g_queue_unlink(&c->lru, &e->link);
    g_queue_push_head_link(&c->lru, &e->link);
}

void pq_stmt_forget_all(dbr_driver_conn *conn)
{
    pq_stmt_cache *c = conn->stmts;

    if (!c)
        return;
    while (c->lru.head)
        entry_unprepare(c, c->lru.head->data, false);
    g_ptr_array_set_size(c->doomed, 0);
}

bool pq_stmt_server_side(const dbr_driver_conn *conn)
{
    return conn->stmts && (conn->stmts->lru.length || conn->stmts->doomed->len);
}

void pq_stmt_cache_free(dbr_driver_conn *conn)
{
    pq_stmt_cache *c = conn->stmts;

    if (!c)
        return;
    while (c->lru.head)
        entry_free(c, c->lru.head->data);
    while (c->seen.head)
        entry_free(c, c->seen.head->data);
    g_hash_table_destroy(c->by_sql);
    g_ptr_array_free(c->doomed, TRUE);
    g_free(c);
    conn->stmts = NULL;
}

/* --- what the user's own SQL does to our statements ------------------- */

/* The next word or quoted name of sql[0, len) from *pos, lower-cased into
 * w (a quoted name as written); "" at the end or before anything else. */
static void next_name(const char *sql, size_t len, size_t *pos, char *w, size_t wlen)
{
    dbr_sql_token t;

    w[0] = '\0';
    do
        *pos = dbr_sql_lex(sql, len, *pos, &t);
    while (t.kind == DBR_SQL_SPACE || t.kind == DBR_SQL_COMMENT);
    if (t.kind == DBR_SQL_WORD && t.len < wlen) {
        for (size_t i = 0; i < t.len; i++)
            w[i] = g_ascii_tolower(sql[t.start + i]);
        w[t.len] = '\0';
    } else if (t.kind == DBR_SQL_QUOTED_NAME && t.len >= 2 && t.len - 2 < wlen &&
               sql[t.start] == '"') {
        memcpy(w, sql + t.start + 1, t.len - 2);
        w[t.len - 2] = '\0';
    }
}

/* True for a DISCARD ALL: the caller forgets the statements once it
 * succeeded (inside a transaction block it fails, and they stay). */
static bool observe_one(dbr_driver_conn *conn, const char *sql, size_t len)
{
    pq_stmt_cache *c = conn->stmts;
    size_t pos = 0;
    char w[48];

    next_name(sql, len, &pos, w, sizeof(w));
    if (strcmp(w, "discard") == 0) {
        next_name(sql, len, &pos, w, sizeof(w));
        return strcmp(w, "all") == 0;
    }
    if (strcmp(w, "deallocate") != 0)
        return false;
    next_name(sql, len, &pos, w, sizeof(w));
    if (strcmp(w, "prepare") == 0)
        next_name(sql, len, &pos, w, sizeof(w));
    if (strcmp(w, "all") == 0) {
        pq_stmt_forget_all(conn);
        return false;
    }
    for (GList *l = c->lru.head; l; l = l->next) {
        entry *e = l->data;

        if (strcmp(e->name, w) == 0) {
            entry_unprepare(c, e, false);
            return false;
        }
    }
    return false;
}

bool pq_stmt_observe(dbr_driver_conn *conn, const char *sql, bool script)
{
    char w[16];
    dbr_sql_statement st;
    size_t pos = 0, len;
    bool discard = false;

    if (!pq_stmt_server_side(conn))
        return false;
    if (!script) {
        /* The cheap test first: this runs before every uncached statement. */
        dbr_sql_next_word(sql, w, sizeof(w));
        if (strcmp(w, "deallocate") == 0 || strcmp(w, "discard") == 0)
            return observe_one(conn, sql, strlen(sql));
        return false;
    }
    len = strlen(sql);
    while (dbr_sql_next_statement(sql, len, &pos, &st))
        discard |= observe_one(conn, sql + st.start, st.len);
    return discard;
}

/* --- the pipeline: deallocations, Parse, Describe, Execute, Sync -------- */

typedef struct stmt_pipe {
    const char *name; /* "" for the unnamed statement */
    const char *sql;
    const dbr_args *args;
    bool parse, describe, execute;
    int ndoomed; /* DEALLOCATEs sent ahead */
    /* what came back */
    bool parsed;
    int nparams;
    PGresult *result; /* the Execute's */
} stmt_pipe;

static bool send_pipe(dbr_driver_conn *conn, pq_stmt_cache *c, stmt_pipe *p, bool in_tx)
{
    PGconn *pg = conn->pg;
    const dbr_args *a = p->args;

    if (!PQenterPipelineMode(pg))
        return false;
    for (guint i = 0; c && !in_tx && i < c->doomed->len && i < MAX_DOOMED_PER_CALL; i++) {
        char sql[64];

        g_snprintf(sql, sizeof(sql), "DEALLOCATE %s", (const char *)c->doomed->pdata[i]);
        if (!PQsendQueryParams(pg, sql, 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(pg))
            return false;
        p->ndoomed++;
    }
    return (!p->parse || PQsendPrepare(pg, p->name, p->sql, 0, NULL)) &&
           (!p->describe || PQsendDescribePrepared(pg, p->name)) &&
           (!p->execute || PQsendQueryPrepared(pg, p->name, a ? a->n : 0, a ? a->values : NULL,
                                               a ? a->lengths : NULL, a ? a->formats : NULL, 0)) &&
           PQpipelineSync(pg);
}

/* One queued request's results, up to the NULL that ends them: its first
 * error, else its last result. False when no answer came (*e set). */
static bool read_request(dbr_driver_conn *conn, exec_wait *ew, PGresult **out, dbr_error **e)
{
    PGresult *r, *keep = NULL;

    for (;;) {
        if (PQisBusy(conn->pg) && !pq_wait_result(conn, ew, e)) {
            PQclear(keep);
            return false;
        }
        r = PQgetResult(conn->pg);
        if (!r)
            break;
        if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(keep);
            keep = r;
        }
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC)
            break; /* a Sync has no NULL after it */
    }
    *out = keep;
    return true;
}

static bool read_sync(dbr_driver_conn *conn, exec_wait *ew, dbr_error **e)
{
    PGresult *r = NULL;
    bool ok = read_request(conn, ew, &r, e) && r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;

    if (!ok && !*e)
        *e = r && PQresultStatus(r) == PGRES_FATAL_ERROR
                 ? pq_result_error(r, false)
                 : pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN,
                                 "the pipeline's end did not come");
    PQclear(r);
    return ok;
}

/* The error a failed answer stands for: after our cancel, the caller's
 * timeout or cancel; else what the server said. */
static dbr_error *answer_error(dbr_driver_conn *conn, exec_wait *ew, const PGresult *r, bool atomic)
{
    conn->plan_changed = pq_plan_changed(r);
    if (ew->stopping && g_strcmp0(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57014") == 0)
        return pq_interrupted(ew, r);
    return pq_result_error(r, atomic);
}

/* Reads what send_pipe queued. The statement's error, if any, in *e; the
 * connection left out of pipeline mode, or broken. */
static bool read_pipe(dbr_driver_conn *conn, pq_stmt_cache *c, stmt_pipe *p, exec_wait *ew,
                      dbr_error **e)
{
    PGresult *r = NULL;
    bool gone[MAX_DOOMED_PER_CALL] = {false};

    for (int i = 0; i < p->ndoomed; i++) {
        /* Done, or "does not exist" (the user deallocated it): gone. A
         * DEALLOCATE canceled or failed otherwise leaves the statement on
         * the server: its name stays to be deallocated. */
        if (!read_request(conn, ew, &r, e) || !read_sync(conn, ew, e))
            goto lost;
        gone[i] = r && (PQresultStatus(r) == PGRES_COMMAND_OK ||
                        g_strcmp0(PQresultErrorField(r, PG_DIAG_SQLSTATE), "26000") == 0);
        PQclear(r);
        r = NULL;
    }
    for (int i = p->ndoomed - 1; c && i >= 0; i--)
        if (gone[i])
            g_ptr_array_remove_index(c->doomed, (guint)i);
    if (p->parse) {
        if (!read_request(conn, ew, &r, e))
            goto lost;
        p->parsed = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        /* Nothing ran after a failed Parse: not applied, whatever the
         * statement would have done. */
        if (!p->parsed && r && PQresultStatus(r) == PGRES_FATAL_ERROR)
            *e = answer_error(conn, ew, r, true);
        PQclear(r);
        r = NULL;
    }
    if (p->describe) {
        if (!read_request(conn, ew, &r, e))
            goto lost;
        if (r && PQresultStatus(r) == PGRES_COMMAND_OK)
            p->nparams = PQnparams(r);
        else if (!*e && r && PQresultStatus(r) == PGRES_FATAL_ERROR)
            *e = answer_error(conn, ew, r, true);
        PQclear(r);
        r = NULL;
    }
    if (p->execute) {
        if (!read_request(conn, ew, &r, e))
            goto lost;
        switch (r ? PQresultStatus(r) : PGRES_FATAL_ERROR) {
        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
        case PGRES_EMPTY_QUERY:
            p->result = r;
            break;
        case PGRES_PIPELINE_ABORTED:
            PQclear(r); /* the Parse's error, read above, says why */
            break;
        default:
            if (!*e)
                *e = r ? answer_error(conn, ew, r, pq_wait_atomic(ew))
                       : pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN, "no result");
            PQclear(r);
        }
        r = NULL;
    }
    /* An autocommit statement commits at the Sync: its result counts only
     * once the Sync's answer is in. */
    if (!read_sync(conn, ew, e))
        goto lost;
    if (!PQexitPipelineMode(conn->pg))
        conn->broken = true;
    if (PQstatus(conn->pg) != CONNECTION_OK)
        conn->broken = true;
    conn->last_answer_us = dbr_now_us();
    if (*e && p->result)
        g_clear_pointer(&p->result, PQclear);
    /* A connection found broken after the whole answer came still gave
     * it: the pool discards it afterwards. */
    return !*e;

lost:
    PQclear(r);
    g_clear_pointer(&p->result, PQclear);
    conn->broken = true;
    if (!*e)
        *e = pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN, "no answer");
    /* Whatever was read, the request left and its answer did not all
     * come: an autocommit statement may have committed. */
    if (dbr_error_outcome(*e) == DBR_OUTCOME_NOT_APPLIED && p->execute && !pq_wait_atomic(ew))
        dbr_error_set_outcome(*e, DBR_OUTCOME_UNKNOWN);
    return false;
}

static bool run_pipe(dbr_driver_conn *conn, pq_stmt_cache *c, stmt_pipe *p, bool in_tx,
                     const dbr_wait *wait, dbr_error **err)
{
    exec_wait ew = {.wait = wait,
                    .deadline_us = wait ? wait->deadline_us : 0,
                    .sql = p->sql,
                    .in_tx = in_tx,
                    .atomic = -1};
    dbr_error *e = NULL;

    if (!send_pipe(conn, c, p, in_tx)) {
        /* Nothing can have committed: a Sync that did not leave commits
         * nothing, and the connection goes (rolling back what did). */
        e = pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND, DBR_OUTCOME_NOT_APPLIED,
                          "cannot queue the prepared statement");
        conn->broken = true;
        return dbr_error_propagate(err, e);
    }
    if (!pq_flush_all(conn, wait, &e))
        return dbr_error_propagate(err, e);
    if (!read_pipe(conn, c, p, &ew, &e)) {
        if (e)
            pq_note_read_only_server(conn, e);
        return dbr_error_propagate(err, e);
    }
    return true;
}

/* --- running statements ------------------------------------------------ */

/* Whether e says that the server-side statement name was outdated, gone or
 * (before it was made) its name taken, all before anything ran. The codes
 * alone do not say it: a function the statement runs may raise them. For
 * 0A000 the server function that raised it does (pq_plan_changed, noted on
 * the connection as the answer was read, in any server language); 26000 and
 * 42P05 name the statement, whose name is ours alone (looked for whole,
 * whatever quotes the server's language puts around it). */
static bool stale(const dbr_driver_conn *conn, const dbr_error *e, bool was_prepared,
                  const char *name)
{
    const char *ss = dbr_error_sqlstate(e);
    const char *msg = dbr_error_message(e);
    size_t n = name ? strlen(name) : 0;

    if (!n)
        return false;
    if (was_prepared && strcmp(ss, "0A000") == 0)
        return conn->plan_changed;
    if (strcmp(ss, was_prepared ? "26000" : "42P05") != 0)
        return false;
    for (const char *m = strstr(msg, name); m; m = strstr(m + 1, name))
        if ((m == msg || (!g_ascii_isalnum(m[-1]) && m[-1] != '_')) && !g_ascii_isalnum(m[n]) &&
            m[n] != '_')
            return true;
    return false;
}

/* Inside a transaction block the stale statement's error has aborted the
 * caller's transaction: nothing of it will commit, and running it again
 * whole will prepare the statement afresh. */
static dbr_error *rerun_whole(dbr_error *e)
{
    e = dbr_error_wrap(e, DBR_ERR_SERIALIZATION, PQ_LAYER,
                       "a cached prepared statement could no longer be used (the schema changed "
                       "or the statement was deallocated); it was dropped, and the transaction "
                       "can run again");
    dbr_error_set_transient(e, true);
    dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    return e;
}

/* Statements that keep vanishing mean a session that is not ours from one
 * statement to the next: a pooler in transaction mode that [database]
 * pooler does not declare. Each named statement would then be left on
 * some server of the pooler's, and a name could meet another client's:
 * this connection stops keeping any. */
static void note_missing(pq_stmt_cache *c, const dbr_error *x)
{
    if (strcmp(dbr_error_sqlstate(x), "26000") != 0 || ++c->missing != 3)
        return;
    c->off = true;
    dbr_log(DBR_LOG_WARNING, PQ_LAYER, NULL,
            "prepared statements of this connection vanished 3 times (a pooler in transaction "
            "mode in front? then set [database] pooler = transaction): it keeps none from now "
            "on");
}

/* used: the name the statement ran under, for stale(). */
static dbr_driver_result *run_entry(dbr_driver_conn *conn, pq_stmt_cache *c, entry *e,
                                    const dbr_args *args, bool in_tx, const dbr_wait *wait,
                                    char (*used)[40], dbr_error **err)
{
    stmt_pipe p = {.sql = e->sql, .args = args, .execute = true, .nparams = -1};

    conn->plan_changed = false;
    if (!conn->session_changed)
        conn->session_changed = e->changes_session;
    if (e->prepared && (in_tx || !c->doomed->len)) {
        const dbr_args *a = args;

        /* The hot path: Bind, Execute, Sync, as PQexecPrepared sends. */
        touch(c, e);
        g_strlcpy(*used, e->name, sizeof(*used));
        if (!PQsendQueryPrepared(conn->pg, e->name, a ? a->n : 0, a ? a->values : NULL,
                                 a ? a->lengths : NULL, a ? a->formats : NULL, 0))
            return dbr_error_propagate(err, pq_send_refused(conn)), NULL;
        return pq_collect(conn, wait, e->sql, in_tx, false, err);
    }
    if (!e->prepared) {
        make_room(c);
        name_entry(c, e);
        p.parse = true;
    } else {
        touch(c, e);
    }
    p.name = e->name;
    g_strlcpy(*used, e->name, sizeof(*used));
    if (!run_pipe(conn, c, &p, in_tx, wait, err)) {
        if (p.parsed && !conn->broken) {
            mark_prepared(c, e);
        } else if (!e->prepared) {
            e->name[0] = '\0';
            e->ran = false; /* run unnamed until it works */
        }
        return NULL;
    }
    if (p.parse)
        mark_prepared(c, e);
    return (dbr_driver_result *)p.result;
}

/* Unnamed: Parse, Bind, Execute in one Sync. */
static dbr_driver_result *run_unnamed(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                                      const dbr_wait *wait, dbr_error **err)
{
    return pq_exec(conn, sql, args, 0, wait, err);
}

/* A text the cache has seen but not prepared, run unnamed: only one that
 * worked is prepared on its next run, so that a statement failing in a
 * loop (a table not made yet) never evicts a good one for a Parse that
 * fails too. */
static dbr_driver_result *run_seen(dbr_driver_conn *conn, pq_stmt_cache *c, const char *sql,
                                   const dbr_args *args, const dbr_wait *wait, dbr_error **err)
{
    dbr_driver_result *r = run_unnamed(conn, sql, args, wait, err);
    entry *e = g_hash_table_lookup(c->by_sql, sql); /* looked up again: the run may trim */

    if (e)
        e->ran = r != NULL;
    return r;
}

dbr_driver_result *pq_stmt_exec(dbr_driver_conn *conn, const char *sql, const dbr_args *args,
                                unsigned flags, const dbr_wait *wait, dbr_error **err)
{
    /* Without DBR_EXEC_CACHE the core wants nothing kept (a pooler). */
    pq_stmt_cache *c = flags & DBR_EXEC_CACHE ? cache_of(conn) : NULL;
    entry *e = c ? g_hash_table_lookup(c->by_sql, sql) : NULL;
    bool in_tx;

    if (!e) {
        if (!c || !cacheable(sql))
            return run_unnamed(conn, sql, args, wait, err);
        e = entry_new(c, sql);
        if (!(flags & DBR_EXEC_PREPARE))
            return run_seen(conn, c, sql, args, wait, err); /* prepared on its first reuse */
    } else if (!e->prepared && !e->ran && !(flags & DBR_EXEC_PREPARE)) {
        return run_seen(conn, c, sql, args, wait, err);
    }
    if (!pq_usable(conn, err))
        return NULL;
    in_tx = PQtransactionStatus(conn->pg) != PQTRANS_IDLE; /* before the send changes it */
    for (int attempt = 0;; attempt++) {
        bool was_prepared = e->prepared;
        char used[40] = "";
        dbr_error *x = NULL;
        dbr_driver_result *r = run_entry(conn, c, e, args, in_tx, wait, &used, &x);

        if (r)
            return r;
        if (conn->broken || !stale(conn, x, was_prepared, used))
            return dbr_error_propagate(err, x), NULL;
        /* 0A000: the old statement still exists, deallocate it later. */
        entry_unprepare(c, e, strcmp(dbr_error_sqlstate(x), "0A000") == 0);
        note_missing(c, x);
        if (in_tx || attempt > 0)
            return dbr_error_propagate(err, in_tx ? rerun_whole(x) : x), NULL;
        dbr_log(DBR_LOG_DEBUG, PQ_LAYER, NULL, "prepared statement dropped (%s); preparing again",
                dbr_error_message(x));
        dbr_error_free(x);
    }
}

bool pq_prepare(dbr_driver_conn *conn, const char *sql, int *nparams, const dbr_wait *wait,
                dbr_error **err)
{
    pq_stmt_cache *c = cache_of(conn);
    entry *e = c && cacheable(sql) ? g_hash_table_lookup(c->by_sql, sql) : NULL;
    bool in_tx;

    if (c && !e && cacheable(sql))
        e = entry_new(c, sql);
    if (e && e->prepared && e->nparams >= 0) {
        touch(c, e);
        *nparams = e->nparams;
        return true;
    }
    if (!pq_usable(conn, err))
        return false;
    in_tx = PQtransactionStatus(conn->pg) != PQTRANS_IDLE;
    for (int attempt = 0;; attempt++) {
        stmt_pipe p = {.name = "", .sql = sql, .parse = true, .describe = true, .nparams = -1};
        bool was_prepared = e && e->prepared;
        char used[40] = "";
        dbr_error *x = NULL;

        if (e && e->prepared) {
            touch(c, e);
            p.name = e->name;
            p.parse = false;
        } else if (e) {
            make_room(c);
            name_entry(c, e);
            p.name = e->name;
        }
        g_strlcpy(used, p.name, sizeof(used));
        conn->plan_changed = false;
        if (run_pipe(conn, c, &p, in_tx, wait, &x)) {
            if (e && p.parse)
                mark_prepared(c, e);
            if (e)
                e->nparams = p.nparams;
            *nparams = p.nparams;
            return true;
        }
        if (e && p.parsed && !conn->broken)
            mark_prepared(c, e);
        else if (e && !e->prepared)
            e->name[0] = '\0';
        if (!e || conn->broken || !stale(conn, x, was_prepared, used) || attempt > 0 || in_tx)
            return dbr_error_propagate(err, x);
        entry_unprepare(c, e, false);
        dbr_error_free(x);
    }
}
