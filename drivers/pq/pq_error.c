/* SPDX-License-Identifier: MIT */
/*
 * From PostgreSQL's diagnostics to dbr's error kinds, once, here.
 *
 * libpq's own errors (a lost connection, a failed connect) carry no
 * SQLSTATE, so they are recognized by the connection's state, not by their
 * text. The one exception is a failed connect, where libpq 15 gives only the
 * server's message: authentication failures and "starting up" are told apart
 * by that text (best effort, English server messages).
 */
#include <glib.h>
#include <string.h>

#include "pq.h"

dbr_error_kind pq_classify(const char *ss)
{
    if (!ss || strlen(ss) != 5)
        return DBR_ERR_NONE;
    if (strncmp(ss, "08", 2) == 0 || strcmp(ss, "57P01") == 0 || strcmp(ss, "57P02") == 0 ||
        strcmp(ss, "57P03") == 0 || strcmp(ss, "57P05") == 0)
        return DBR_ERR_CONNECTION;
    if (strcmp(ss, "40001") == 0)
        return DBR_ERR_SERIALIZATION;
    if (strcmp(ss, "40P01") == 0)
        return DBR_ERR_DEADLOCK;
    if (strncmp(ss, "23", 2) == 0)
        return DBR_ERR_CONSTRAINT;
    if (strcmp(ss, "42501") == 0 || strncmp(ss, "28", 2) == 0)
        return DBR_ERR_PERMISSION;
    /* 42 syntax and access rules, 22 bad data, 0A unsupported: the request
     * itself is wrong, and sending it again cannot help. */
    if (strncmp(ss, "42", 2) == 0 || strncmp(ss, "22", 2) == 0 || strncmp(ss, "0A", 2) == 0)
        return DBR_ERR_SYNTAX;
    if (strcmp(ss, "25006") == 0)
        return DBR_ERR_READ_ONLY;
    if (strncmp(ss, "2D", 2) == 0) /* invalid transaction termination: COMMIT where none may be */
        return DBR_ERR_MISUSE;
    if (strcmp(ss, "25P02") == 0)
        return DBR_ERR_MISUSE; /* a statement after a failed one in the same transaction */
    if (strncmp(ss, "53", 2) == 0 || strncmp(ss, "58", 2) == 0)
        return DBR_ERR_RESOURCE;
    if (strcmp(ss, "57014") == 0)
        return DBR_ERR_CANCELED;
    if (strcmp(ss, "55P03") == 0)
        return DBR_ERR_TIMEOUT; /* lock_timeout or NOWAIT */
    return DBR_ERR_INTERNAL;
}

static char *first_line(const char *msg)
{
    const char *nl;

    while (msg && g_str_has_prefix(msg, "ERROR:  "))
        msg += 8;
    if (!msg || !*msg)
        return g_strdup("unknown error");
    nl = strchr(msg, '\n');
    return nl ? g_strndup(msg, (gsize)(nl - msg)) : g_strdup(msg);
}

dbr_error *pq_result_error(const PGresult *res, bool atomic)
{
    const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    bool fatal =
        !ss || (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0));
    dbr_error_kind kind = pq_classify(ss);
    char *msg = first_line(primary ? primary : PQresultErrorMessage(res));
    dbr_error *e;

    if (kind == DBR_ERR_NONE)
        kind = DBR_ERR_CONNECTION; /* libpq's own: no SQLSTATE means no server answer */
    if (kind == DBR_ERR_CANCELED)
        kind = DBR_ERR_TIMEOUT; /* not our cancel (that is pq_interrupted): statement_timeout */
    e = dbr_error_new(kind, PQ_LAYER, "%s", msg);
    g_free(msg);
    dbr_error_set_sqlstate(e, ss);
    dbr_error_set_detail(e, PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
    dbr_error_set_hint(e, PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
    dbr_error_set_phase(e, ss ? DBR_PHASE_ANSWERED : DBR_PHASE_SENT);
    /* An ERROR ends the statement and rolls back its work, unless the
     * statement could commit part of it first (a procedure's COMMIT, a
     * script's, CREATE INDEX CONCURRENTLY's own transactions). A FATAL, or the
     * connection lost, after the request left says nothing of what ran: a
     * terminated backend may have committed, or be waiting for a
     * synchronous standby with its commit already done. */
    /* A connection-class error may be a pooler speaking for a server that
     * vanished mid-request (PgBouncer's "server conn crashed?" is an ERROR
     * 08P01 in older releases): whatever its severity, unknown. */
    if (ss && (strncmp(ss, "08", 2) == 0 || strncmp(ss, "57P", 3) == 0))
        fatal = true;
    dbr_error_set_outcome(e, !fatal && atomic ? DBR_OUTCOME_NOT_APPLIED : DBR_OUTCOME_UNKNOWN);
    dbr_error_set_transient(e, kind == DBR_ERR_SERIALIZATION || kind == DBR_ERR_DEADLOCK ||
                                   kind == DBR_ERR_CONNECTION);
    return e;
}

dbr_error *pq_conn_error(PGconn *pg, dbr_error_phase phase, dbr_outcome outcome, const char *what)
{
    char *msg = first_line(pg ? PQerrorMessage(pg) : NULL);
    dbr_error *e = dbr_error_new(DBR_ERR_CONNECTION, PQ_LAYER, "%s: %s", what, msg);

    g_free(msg);
    dbr_error_set_phase(e, phase);
    dbr_error_set_outcome(e, outcome);
    dbr_error_set_transient(e, true);
    return e;
}

dbr_error *pq_connect_error(PGconn *pg)
{
    static const struct {
        const char *text, *sqlstate;
        dbr_error_kind kind;
        bool retryable;
    } known[] = {
        {"password authentication failed", "28P01", DBR_ERR_PERMISSION, false},
        {"no pg_hba.conf entry", "28000", DBR_ERR_PERMISSION, false},
        {"authentication failed", "28000", DBR_ERR_PERMISSION, false},
        {"does not exist", "3D000", DBR_ERR_CONFIG, false},
        {"the database system is starting up", "57P03", DBR_ERR_CONNECTION, true},
        {"the database system is shutting down", "57P03", DBR_ERR_CONNECTION, true},
        {"the database system is in recovery mode", "57P03", DBR_ERR_CONNECTION, true},
        {"too many connections", "53300", DBR_ERR_RESOURCE, true},
        {"remaining connection slots are reserved", "53300", DBR_ERR_RESOURCE, true},
    };
    const char *raw = pg ? PQerrorMessage(pg) : "out of memory";
    dbr_error *e = pq_conn_error(pg, DBR_PHASE_CONNECT, DBR_OUTCOME_NOT_APPLIED, "cannot connect");

    for (size_t i = 0; i < G_N_ELEMENTS(known); i++) {
        if (strstr(raw, known[i].text)) {
            dbr_error *k = dbr_error_new(known[i].kind, PQ_LAYER, "%s", dbr_error_message(e));

            dbr_error_set_sqlstate(k, known[i].sqlstate);
            dbr_error_set_phase(k, DBR_PHASE_CONNECT);
            dbr_error_set_transient(k, known[i].retryable);
            dbr_error_free(e);
            return k;
        }
    }
    return e;
}
