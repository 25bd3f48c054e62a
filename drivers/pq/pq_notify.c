/* SPDX-License-Identifier: MIT */
/*
 * Notifications: LISTEN/UNLISTEN and waiting for the next NOTIFY on a
 * listener's connection (the listen and notify_wait slots), and dropping
 * them everywhere else.
 *
 * libpq keeps every NotificationResponse it parses in a list until
 * PQnotifies hands it out. A pooled connection on which a user ran LISTEN
 * (through dbr_exec, with reset = none, or before the reset) would keep
 * them all: 20,000 notifications of 1 KB are 20 MB that nobody reads. So a
 * connection that never listened through the listen slot frees them as
 * soon as libpq has parsed them: while a statement waits for its answer
 * (pq_wait_result), after its results, and whenever an idle connection is
 * looked at (alive, usable).
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "pq.h"

/* NAMEDATALEN - 1: the server cuts a longer identifier, and the
 * notifications would then come under another name. */
#define PQ_CHANNEL_MAX 63

void pq_notify_drop(dbr_driver_conn *conn)
{
    PGnotify *n;

    if (conn->listener)
        return;
    while ((n = PQnotifies(conn->pg)))
        PQfreemem(n);
}

bool pq_listen(dbr_driver_conn *conn, const char *channel, bool on, const dbr_wait *wait,
               dbr_error **err)
{
    dbr_driver_result *r;
    char *id, *sql;

    if (!channel || !*channel)
        return dbr_set_error(err, DBR_ERR_MISUSE, PQ_LAYER, "listen: channel is %s",
                             channel ? "empty" : "NULL");
    if (strlen(channel) > PQ_CHANNEL_MAX) {
        dbr_error *e = dbr_error_new(DBR_ERR_MISUSE, PQ_LAYER,
                                     "listen: channel is %zu bytes long; at most %d (the server "
                                     "would cut it to NAMEDATALEN - 1, and notifications would "
                                     "come under another name); nothing was sent",
                                     strlen(channel), PQ_CHANNEL_MAX);

        dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
        return dbr_error_propagate(err, e);
    }
    /* From now on this connection's notifications are wanted: none is
     * dropped, not even one that arrives with the answer to this LISTEN. */
    conn->listener = true;
    id = PQescapeIdentifier(conn->pg, channel, strlen(channel));
    if (!id) {
        char *msg = g_strdup(PQerrorMessage(conn->pg));
        dbr_error *e =
            dbr_error_new(DBR_ERR_MISUSE, PQ_LAYER, "listen: the channel name cannot be quoted: %s",
                          g_strchomp(msg));

        g_free(msg);
        dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
        return dbr_error_propagate(err, e);
    }
    sql = g_strdup_printf("%s %s", on ? "LISTEN" : "UNLISTEN", id);
    PQfreemem(id);
    r = pq_exec(conn, sql, NULL, 0, wait, err);
    g_free(sql);
    PQclear((PGresult *)r);
    return r != NULL;
}

/* The connection is gone: what the server said on its way out (a FATAL
 * goodbye after pg_terminate_backend or a shutdown), else libpq's words. */
static dbr_error *lost(dbr_driver_conn *conn)
{
    dbr_error *e;

    conn->broken = true;
    if (!*conn->goodbye_sqlstate)
        return pq_conn_error(conn->pg, DBR_PHASE_NONE, DBR_OUTCOME_NOT_APPLIED,
                             "the listener's connection was lost");
    e = dbr_error_new(DBR_ERR_CONNECTION, PQ_LAYER, "the listener's connection was lost: %s",
                      conn->goodbye);
    dbr_error_set_sqlstate(e, conn->goodbye_sqlstate);
    dbr_error_set_transient(e, true);
    dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    return e;
}

int pq_notify_wait(dbr_driver_conn *conn, const dbr_wait *wait, char **channel, char **payload,
                   int *pid, dbr_error **err)
{
    PGconn *pg = conn->pg;

    conn->listener = true;
    for (;;) {
        /* PQnotifies parses what was read: notifications that came before
         * the connection was lost are handed out before the loss is. */
        PGnotify *n = PQnotifies(pg);
        int r;

        if (n) {
            *channel = strdup(n->relname);
            *payload = strdup(n->extra ? n->extra : "");
            *pid = n->be_pid;
            PQfreemem(n);
            if (!*channel || !*payload) {
                free(*channel);
                free(*payload);
                *channel = *payload = NULL;
                dbr_set_error(err, DBR_ERR_RESOURCE, PQ_LAYER, "out of memory");
                return -1;
            }
            return 1;
        }
        if (conn->broken || PQstatus(pg) != CONNECTION_OK)
            return dbr_error_propagate(err, lost(conn)), -1;
        r = pq_wait_socket(PQsocket(pg), false, wait, wait ? wait->deadline_us : 0);
        if (r == 0 || r == -1)
            return 0; /* the deadline or a cancel: the caller's ctx says which */
        if (r == -2) {
            conn->broken = true;
            dbr_error_propagate(
                err, pq_conn_error(pg, DBR_PHASE_NONE, DBR_OUTCOME_NOT_APPLIED, "poll failed"));
            return -1;
        }
        /* A failed read (EOF after a goodbye) leaves CONNECTION_BAD: the
         * loop hands out what was parsed, then reports the loss. */
        if (!PQconsumeInput(pg))
            conn->broken = true;
        conn->last_answer_us = dbr_now_us();
    }
}
