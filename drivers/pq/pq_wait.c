/* SPDX-License-Identifier: MIT */
/*
 * Waiting for the server without blocking past a deadline.
 *
 * The connection is in non-blocking mode: each wait is a poll() on the
 * socket and the ctx's cancel descriptor. When the deadline passes or the
 * ctx is canceled, the server is asked to stop (pq_cancel.c) and gets the
 * grace period, from that moment, to acknowledge the request and answer.
 * Its answer decides the call: a success is a success (the work was done
 * before the cancel landed), its 57014 a timeout or cancel that applied
 * nothing. No answer in time: the connection is closed and the outcome is
 * unknown. The caller thus returns at most grace_us past its deadline.
 */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>

#include <dbr/sql.h>

#include "pq.h"

int pq_wait_socket(int fd, bool for_write, const dbr_wait *wait, int64_t deadline_us)
{
    struct pollfd p[2] = {{.fd = fd, .events = for_write ? POLLOUT : POLLIN},
                          {.fd = wait ? wait->cancel_fd : -1, .events = POLLIN}};

    for (;;) {
        int64_t left_ms = -1;
        int n;

        if (deadline_us) {
            int64_t now = dbr_now_us();

            if (now >= deadline_us)
                return 0;
            left_ms = (deadline_us - now + 999) / 1000;
            if (left_ms > G_MAXINT32)
                left_ms = G_MAXINT32;
        }
        n = poll(p, p[1].fd >= 0 ? 2 : 1, (int)left_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -2;
        /* A readable cancel descriptor, or one that is gone (a ctx freed
         * while in use): stop either way. */
        if (n > 0 && p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLNVAL | POLLERR)))
            return -1;
        if (n > 0)
            return 1;
    }
}

static dbr_error *interrupted_error(const exec_wait *ew, const char *why, dbr_outcome outcome)
{
    dbr_error *e = dbr_error_new(
        ew->canceled ? DBR_ERR_CANCELED : DBR_ERR_TIMEOUT, PQ_LAYER, "%s%s",
        ew->canceled ? "statement canceled" : "statement timed out (deadline exceeded)", why);

    dbr_error_set_phase(e, DBR_PHASE_SENT);
    dbr_error_set_outcome(e, outcome);
    return e;
}

dbr_error *pq_interrupted(exec_wait *ew, const PGresult *res)
{
    dbr_error *e = interrupted_error(
        ew, "", pq_wait_atomic(ew) ? DBR_OUTCOME_NOT_APPLIED : DBR_OUTCOME_UNKNOWN);

    dbr_error_set_sqlstate(e, "57014");
    dbr_error_set_phase(e, DBR_PHASE_ANSWERED);
    dbr_error_set_detail(e, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    return e;
}

bool pq_wait_result(dbr_driver_conn *conn, exec_wait *ew, dbr_error **e)
{
    PGconn *pg = conn->pg;

    while (PQisBusy(pg)) {
        int r;

        /* PQisBusy parsed what came: a pooled connection drops NOTIFYs as
         * they arrive, not after a whole answer's worth of them. */
        pq_notify_drop(conn);
        r = pq_wait_socket(PQsocket(pg), false, ew->stopping ? NULL : ew->wait, ew->deadline_us);

        if (r == 1) {
            /* On a lost connection libpq queues an error result (after any
             * FATAL message the server sent first): let the caller read it. */
            if (!PQconsumeInput(pg) && PQisBusy(pg)) {
                /* libpq gave up reading but queued no result: no answer. */
                dbr_error_free(*e);
                *e = pq_conn_error(pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN, "read failed");
                conn->broken = true;
                return false;
            }
            continue;
        }
        if (r == -2) {
            dbr_error_free(*e);
            *e = pq_conn_error(pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN, "poll failed");
            conn->broken = true;
            return false;
        }
        if (ew->stopping) { /* the grace period is over, no answer */
            dbr_error_free(*e);
            *e = interrupted_error(ew,
                                   "; the server did not answer within cancel_grace, so the "
                                   "connection was closed",
                                   DBR_OUTCOME_UNKNOWN);
            conn->broken = true;
            return false;
        }
        ew->canceled = r == -1;
        ew->deadline_us = dbr_now_us() + (ew->wait ? ew->wait->grace_us : 0);
        if (!pq_cancel_send(conn, ew->deadline_us)) {
            /* Without an acknowledged cancel the request may still be on
             * its way and could hit a later statement: give the connection
             * up. An answer that is already here still counts. */
            conn->broken = true;
            if (PQconsumeInput(pg) && !PQisBusy(pg)) {
                ew->stopping = true;
                return true;
            }
            dbr_error_free(*e);
            *e = interrupted_error(ew,
                                   "; the cancel request got no answer within cancel_grace, so "
                                   "the connection was closed",
                                   DBR_OUTCOME_UNKNOWN);
            return false;
        }
        ew->stopping = true;
    }
    return true;
}

bool pq_flush_all(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **e)
{
    int r;

    while ((r = PQflush(conn->pg)) == 1) {
        int w = pq_wait_socket(PQsocket(conn->pg), true, wait, wait ? wait->deadline_us : 0);

        if (w == 1)
            continue;
        /* Part of the request is out, the rest never will be: the part that
         * left may hold a whole Execute, so what it did is unknown. */
        conn->broken = true;
        *e = w == -1 ? dbr_error_new(DBR_ERR_CANCELED, PQ_LAYER, "canceled while sending")
                     : dbr_error_new(DBR_ERR_TIMEOUT, PQ_LAYER, "deadline exceeded while sending");
        dbr_error_set_phase(*e, DBR_PHASE_SENT);
        dbr_error_set_outcome(*e, DBR_OUTCOME_UNKNOWN);
        return false;
    }
    if (r < 0) {
        *e = pq_conn_error(conn->pg, DBR_PHASE_SENT, DBR_OUTCOME_UNKNOWN,
                           "connection lost while sending");
        conn->broken = true;
        return false;
    }
    return true;
}

bool pq_usable(dbr_driver_conn *conn, dbr_error **err)
{
    struct pollfd p = {.fd = PQsocket(conn->pg), .events = POLLIN};
    dbr_error_kind kind;
    dbr_error *e;

    /* An idle session has nothing to say unless the server is ending it (a
     * FATAL, then EOF) or a NOTIFY came. Reading that now tells "the server
     * had gone before we sent" from "it went while running our request".
     * A connection that answered within the last millisecond is not asked
     * (a syscall saved on back-to-back calls): a goodbye that lands in that
     * window is then read after sending, and reported unknown, which is
     * true if less precise. */
    int64_t now = dbr_now_us();

    /* A stream's row callback running a statement on its own connection
     * (in the same transaction): libpq would refuse it half-way. */
    if (conn->streaming)
        return dbr_set_error(err, DBR_ERR_MISUSE, PQ_LAYER,
                             "a stream is reading rows on this connection: its row callback "
                             "cannot run another statement in the same transaction (nothing was "
                             "sent)");
    if (!conn->broken && PQstatus(conn->pg) == CONNECTION_OK &&
        now - conn->last_answer_us >= 1000 && poll(&p, 1, 0) == 1 && PQconsumeInput(conn->pg))
        (void)PQisBusy(conn->pg); /* parses: a FATAL reaches pq_notice */
    pq_notify_drop(conn);
    if (!conn->broken && PQstatus(conn->pg) == CONNECTION_OK)
        return true;
    conn->broken = true;
    if (!*conn->goodbye_sqlstate)
        return dbr_error_propagate(err, pq_conn_error(conn->pg, DBR_PHASE_BEFORE_SEND,
                                                      DBR_OUTCOME_NOT_APPLIED,
                                                      "the server had closed the connection"));
    /* The server said why before it went: keep its words. */
    kind = pq_classify(conn->goodbye_sqlstate);
    /* Whatever the reason (idle_in_transaction_session_timeout's 25P03, an
     * admin's termination), the session is over: a connection failure. */
    if (kind == DBR_ERR_NONE || kind == DBR_ERR_INTERNAL || kind == DBR_ERR_MISUSE)
        kind = DBR_ERR_CONNECTION;
    e = dbr_error_new(kind, PQ_LAYER, "the server had closed the connection: %s", conn->goodbye);
    dbr_error_set_sqlstate(e, conn->goodbye_sqlstate);
    dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
    dbr_error_set_transient(e, true);
    return dbr_error_propagate(err, e);
}

/* First words of statements that run in one transaction, all or nothing,
 * in autocommit: queries and DML, then session and DDL commands. Anything
 * else (CALL, DO, VACUUM, a word dbr does not know) is taken to possibly
 * commit part of its work: an ERROR is then unknown, which is never wrong,
 * only less precise. */
static const char *const dml_words[] = {"select",  "insert", "update", "delete",  "merge",
                                        "with",    "values", "table",  "explain", "show",
                                        "execute", "fetch",  "declare"};
static const char *const ddl_words[] = {"set",        "reset",   "lock",     "create",  "alter",
                                        "drop",       "grant",   "revoke",   "comment", "truncate",
                                        "refresh",    "listen",  "unlisten", "notify",  "prepare",
                                        "deallocate", "discard", "security"};

static bool word_in(const char *word, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(word, list[i]) == 0)
            return true;
    return false;
}

/* Whether an autocommit statement may commit part of its work before it
 * ends (CALL and DO may COMMIT inside; a script may hold a COMMIT). */
static bool statement_atomic(bool in_tx, const char *sql, bool script)
{
    char word[16];

    /* Inside a transaction block nothing commits before COMMIT. */
    if (in_tx)
        return true;
    if (script)
        return false;
    dbr_sql_next_word(sql, word, sizeof(word));
    if (word_in(word, dml_words, G_N_ELEMENTS(dml_words)))
        return true;
    /* DDL is transactional, except the CONCURRENTLY forms and what works on
     * a whole database, a tablespace or the system (ALTER SYSTEM). */
    return word_in(word, ddl_words, G_N_ELEMENTS(ddl_words)) && !strcasestr(sql, "concurrently") &&
           !strcasestr(sql, "database") && !strcasestr(sql, "tablespace") &&
           !strcasestr(sql, "system");
}

bool pq_wait_atomic(exec_wait *ew)
{
    if (ew->atomic < 0)
        ew->atomic = !ew->sql || statement_atomic(ew->in_tx, ew->sql, ew->script);
    return ew->atomic;
}
