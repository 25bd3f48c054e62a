/* SPDX-License-Identifier: MIT */
/*
 * From PostgreSQL's diagnostics to dbr's error kinds, once, here.
 *
 * The kind and outcome rule of every SQLSTATE are in pq_sqlstate.c. libpq's
 * own errors (a lost connection, a refused connect) carry no SQLSTATE, so
 * they are recognized by the connection's state, not by their text. A failed
 * connect gives only a message; the driver asks libpq for verbose messages
 * while connecting, so the server's refusal carries its SQLSTATE in the text
 * ("FATAL:  53300: sorry, too many clients already"), which is read in any
 * language the server speaks (lc_messages).
 */
#include <glib.h>
#include <string.h>

#include "pq.h"
#include "pq_sqlstate.h"

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

/* By the server function that raises it, not by its words, which the
 * server translates (lc_messages); 0A000 alone is any unsupported feature,
 * a function the statement calls included. */
bool pq_plan_changed(const PGresult *res)
{
    return g_strcmp0(PQresultErrorField(res, PG_DIAG_SQLSTATE), "0A000") == 0 &&
           g_strcmp0(PQresultErrorField(res, PG_DIAG_SOURCE_FUNCTION), "RevalidateCachedQuery") ==
               0;
}

dbr_error *pq_result_error(const PGresult *res, bool atomic)
{
    const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const pq_sqlstate *known = pq_sqlstate_find(ss);
    int flags = known ? known->flags : 0;
    bool fatal =
        !ss || (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0));
    dbr_error_kind kind = pq_classify(ss);
    char *msg = first_line(primary ? primary : PQresultErrorMessage(res));
    dbr_outcome outcome;
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
    /* The server's words name a prepared statement the caller never made:
     * dbr_exec sends one statement through the extended protocol. */
    if (g_strcmp0(ss, "42601") == 0 && primary &&
        g_str_has_prefix(primary, "cannot insert multiple commands into a prepared statement"))
        dbr_error_set_hint(e, "dbr_exec and dbr_query run one statement: run several with "
                              "dbr_exec_script, or one by one, or as a dbr_batch");
    dbr_error_set_phase(e, ss ? DBR_PHASE_ANSWERED : DBR_PHASE_SENT);
    /* An ERROR ends the statement and rolls back its work, unless the
     * statement could commit part of it first (a procedure's COMMIT, a
     * script's, CREATE INDEX CONCURRENTLY's own transactions). A FATAL, or
     * the connection lost, after the request left says nothing of what ran:
     * a terminated backend may have committed, or be waiting for a
     * synchronous standby with its commit already done. A code that ends the
     * session (class 08, 57P) is taken so whatever its severity: PgBouncer's
     * "server conn crashed?" is an ERROR 08P01 in older releases. The idle
     * timeouts (25P03, 57P05) are the exception: the server sends them only
     * to a session with no request in flight, so ours never ran. */
    if (flags & PQ_SS_IDLE_ONLY)
        outcome = DBR_OUTCOME_NOT_APPLIED;
    /* An ERROR that points into the statement's own text came from parsing
     * or analysing it (a syntax error, an unknown table): nothing of it
     * ran, even when it is a CALL or DO that could have committed part-way.
     * Errors of what such a body runs point into that (internal) text. */
    else if (!fatal && !(flags & PQ_SS_SESSION_ENDS) &&
             PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION))
        outcome = DBR_OUTCOME_NOT_APPLIED;
    else if (fatal || (flags & (PQ_SS_SESSION_ENDS | PQ_SS_UNKNOWN)) || !atomic)
        outcome = DBR_OUTCOME_UNKNOWN;
    else
        outcome = DBR_OUTCOME_NOT_APPLIED;
    dbr_error_set_outcome(e, outcome);
    dbr_error_set_transient(e, !ss || (flags & PQ_SS_TRANSIENT));
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

/* The SQLSTATE in a verbose message ("...failed: FATAL:  53300: sorry, ..."):
 * five digits or capitals between a severity's ":  " and ": ". */
static bool verbose_sqlstate(const char *msg, char out[6])
{
    for (const char *p = msg ? strstr(msg, ":  ") : NULL; p; p = strstr(p + 1, ":  ")) {
        const char *c = p + 3;
        int n = 0;

        while (n < 5 && ((c[n] >= '0' && c[n] <= '9') || (c[n] >= 'A' && c[n] <= 'Z')))
            n++;
        if (n == 5 && c[5] == ':' && c[6] == ' ') {
            memcpy(out, c, 5);
            out[5] = '\0';
            return true;
        }
    }
    return false;
}

dbr_error *pq_connect_error(PGconn *pg)
{
    /* Servers and proxies that give a refusal no code: English only. */
    static const struct {
        const char *text, *sqlstate;
    } known[] = {
        {"password authentication failed", "28P01"},
        {"no pg_hba.conf entry", "28000"},
        {"authentication failed", "28000"},
        {"the database system is starting up", "57P03"},
        {"the database system is shutting down", "57P03"},
        {"the database system is in recovery mode", "57P03"},
        {"too many clients already", "53300"},
        {"too many connections", "53300"},
        {"remaining connection slots are reserved", "53300"},
    };
    const char *raw = pg ? PQerrorMessage(pg) : "out of memory";
    dbr_error *e = pq_conn_error(pg, DBR_PHASE_CONNECT, DBR_OUTCOME_NOT_APPLIED, "cannot connect");
    char ss[6] = "";
    dbr_error *k;

    if (!verbose_sqlstate(raw, ss)) {
        for (size_t i = 0; i < G_N_ELEMENTS(known) && !*ss; i++)
            if (strstr(raw, known[i].text))
                g_strlcpy(ss, known[i].sqlstate, sizeof(ss));
    }
    if (!*ss)
        return e; /* libpq's own: refused, unreachable, timed out */
    /* The server refused the session before it began: nothing ran. */
    k = dbr_error_new(pq_classify(ss), PQ_LAYER, "%s", dbr_error_message(e));
    dbr_error_set_sqlstate(k, ss);
    dbr_error_set_phase(k, DBR_PHASE_CONNECT);
    dbr_error_set_transient(k, (pq_sqlstate_flags(ss) & PQ_SS_TRANSIENT) != 0);
    dbr_error_free(e);
    return k;
}
