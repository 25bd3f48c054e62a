/* SPDX-License-Identifier: MIT */
/*
 * dbr-driver-pq: the PostgreSQL driver, on libpq. The only code in dbr that
 * includes a libpq header.
 *
 * Config:
 *   [database]
 *   driver = pq
 *   conninfo = host=localhost dbname=app user=app   # or a postgresql:// URI
 *
 * conninfo goes to libpq as written, so multi-host lists and
 * target_session_attrs work as libpq documents them. Beneath it the driver
 * sets defaults the user can override in conninfo: TCP keepalives that find a
 * dead peer within about a minute, tcp_user_timeout, and
 * fallback_application_name=dbr.
 *
 * Build: part of the dbr meson build (drivers/meson.build).
 */
#include <glib.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "pq.h"
#include "pq_redact.h"
#include "pq_hosts.h"
#include "suggest.h"

/* Server notices go to the log, not to stderr as libpq would print them.
 * A FATAL message that arrives while the session is idle (after
 * pg_terminate_backend, or a shutdown) comes here too: the server is saying
 * goodbye before it closes the socket, so the connection is done. */
static void pq_notice(void *arg, const PGresult *res)
{
    dbr_driver_conn *conn = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorMessage(res);

    if (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0)) {
        const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

        conn->broken = true;
        g_strlcpy(conn->goodbye_sqlstate, ss ? ss : "", sizeof(conn->goodbye_sqlstate));
        g_strlcpy(conn->goodbye, primary ? primary : "", sizeof(conn->goodbye));
    }
    dbr_log(DBR_LOG_DEBUG, "pq", NULL, "server: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* libpq's message for an unknown keyword quotes the word, and an unquoted
 * password with a blank in it makes a "keyword" of its second half. So the
 * word is never shown; a libpq keyword it is a typo of (dbr_suggest's
 * rule, as for dbr's own keys) is, as a suggestion. */
static char *near_keyword(const char *perr)
{
    static const char prefix[] = "invalid connection option \"";
    PQconninfoOption *defs;
    GPtrArray *keywords;
    const char *best;
    char word[64];
    size_t n;

    if (!g_str_has_prefix(perr, prefix))
        return NULL;
    n = strcspn(perr + strlen(prefix), "\"");
    if (n < 3 || n >= sizeof(word))
        return NULL;
    memcpy(word, perr + strlen(prefix), n);
    word[n] = '\0';
    defs = PQconndefaults();
    keywords = g_ptr_array_new();
    for (PQconninfoOption *o = defs; o && o->keyword; o++)
        g_ptr_array_add(keywords, o->keyword);
    g_ptr_array_add(keywords, NULL);
    best = dbr_suggest(word, (const char *const *)keywords->pdata);
    if (best)
        best = g_intern_string(best);
    g_ptr_array_free(keywords, TRUE);
    PQconninfoFree(defs);
    return (char *)best;
}

/* A malformed conninfo is a config error, said before any I/O. libpq's
 * own message may quote a value (a percent-encoded password), so it is
 * not passed on. */
/* A URI whose password holds an unencoded '/' or ',' (or '@'): libpq
 * takes the user info to end at the first '@' before the first '/', so
 * such a password is read as a host, a port or a path, and libpq's
 * connect errors then quote it. Refused before that can happen. */
static bool uri_userinfo_unencoded(const char *conninfo)
{
    const char *auth, *q, *at;

    if (!g_str_has_prefix(conninfo, "postgresql://") && !g_str_has_prefix(conninfo, "postgres://"))
        return false;
    auth = strstr(conninfo, "://") + 3;
    q = strchr(auth, '?');
    at = strchr(auth, '@');
    if (!at || (q && q < at))
        return false;
    /* a second '@' before the query, or a '/' or ',' before the first */
    return strcspn(auth, "/,") < (size_t)(at - auth) ||
           memchr(at + 1, '@', q ? (size_t)(q - at - 1) : strlen(at + 1));
}

/* The options with a fixed set of values, which libpq checks only when it
 * connects: a typo there is a config error now, not a connection failure
 * retried five times. */
static bool check_values(const PQconninfoOption *opts, dbr_error **err)
{
    static const struct {
        const char *keyword;
        const char *const values[8];
    } enums[] = {
        {"sslmode", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
        {"gssencmode", {"disable", "prefer", "require"}},
        {"channel_binding", {"disable", "prefer", "require"}},
        {"target_session_attrs",
         {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}},
        {"load_balance_hosts", {"disable", "random"}},
    };

    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        for (size_t i = 0; o->val && i < G_N_ELEMENTS(enums); i++) {
            bool known = false;
            GString *list;

            if (strcmp(o->keyword, enums[i].keyword) != 0)
                continue;
            for (size_t j = 0; enums[i].values[j]; j++)
                known |= strcmp(o->val, enums[i].values[j]) == 0;
            if (known)
                continue;
            list = g_string_new(NULL);
            for (size_t j = 0; enums[i].values[j]; j++)
                g_string_append_printf(list, "%s%s", j ? ", " : "", enums[i].values[j]);
            dbr_set_error(err, DBR_ERR_CONFIG, PQ_LAYER,
                          "invalid conninfo: %s must be one of %s, got %s", o->keyword, list->str,
                          dbr_quote(o->val).text);
            g_string_free(list, TRUE);
            return false;
        }
    }
    return true;
}

static bool check_text(const char *conninfo, dbr_error **err)
{
    char *perr = NULL, *near;
    PQconninfoOption *opts;

    if (conninfo && uri_userinfo_unencoded(conninfo))
        return dbr_set_error(err, DBR_ERR_CONFIG, PQ_LAYER,
                             "invalid conninfo: the user info of the postgresql:// URI holds a "
                             "'/', ',' or '@': percent-encode them in the user name and password "
                             "(%%2F, %%2C, %%40); the text is not shown, it may hold a password");
    opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
    if (opts) {
        bool ok = check_values(opts, err);

        PQconninfoFree(opts);
        return ok;
    }
    near = perr ? near_keyword(perr) : NULL;
    if (near)
        dbr_set_error(err, DBR_ERR_CONFIG, PQ_LAYER,
                      "invalid conninfo: unknown option (did you mean \"%s\"?)", near);
    else
        dbr_set_error(err, DBR_ERR_CONFIG, PQ_LAYER,
                      "invalid conninfo: libpq cannot parse it (check keywords, quoting and "
                      "percent-encoding; its text is not shown, it may hold a password)");
    PQfreemem(perr);
    return false;
}

/* The text, then the host list it makes with opts' keywords put over it
 * (opts may be NULL), as connect would: no I/O. */
static bool pq_check_conninfo(const char *conninfo, const dbr_driver_opts *opts, dbr_error **err)
{
    pq_hosts hosts;

    if (!check_text(conninfo, err) || !pq_hosts_init(&hosts, conninfo, opts, err))
        return false;
    pq_hosts_clear(&hosts);
    return true;
}

/* One host's libpq connection, polled until it is up, failed, or
 * deadline_us (0: none) passed. */
static PGconn *connect_one(const pq_hosts *h, int i, const dbr_wait *wait, int64_t deadline_us,
                           dbr_driver_conn *conn, dbr_error **err)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    PGconn *pg = pq_hosts_start(h, i);

    /* Before the first PQconnectPoll: notices of the startup (a login
     * WARNING, DEBUG lines asked for in options) come to the log too. */
    if (pg)
        PQsetNoticeReceiver(pg, pq_notice, conn);
    /* A refusal's message then carries its SQLSTATE, in any server language. */
    if (pg)
        PQsetErrorVerbosity(pg, PQERRORS_VERBOSE);
    if (!pg || PQstatus(pg) == CONNECTION_BAD) {
        dbr_error_propagate(err, pq_connect_error(pg));
        PQfinish(pg);
        return NULL;
    }
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int r = pq_wait_socket(PQsocket(pg), st == PGRES_POLLING_WRITING, wait, deadline_us);

        if (r != 1) {
            dbr_error *e =
                dbr_error_new(r == -1 ? DBR_ERR_CANCELED : DBR_ERR_TIMEOUT, PQ_LAYER,
                              r == -1 ? "connect canceled" : "timed out connecting to the server");

            dbr_error_set_phase(e, DBR_PHASE_CONNECT);
            dbr_error_set_transient(e, r == 0);
            dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
            PQfinish(pg);
            return dbr_error_propagate(err, e), NULL;
        }
        st = PQconnectPoll(pg);
    }
    if (st == PGRES_POLLING_FAILED) {
        dbr_error_propagate(err, pq_connect_error(pg));
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* Host by host from the one that answered last (pq_hosts.c), each within
 * its own timeout and all within the caller's deadline. */
static PGconn *connect_hosts(const pq_hosts *h, const dbr_wait *wait, dbr_driver_conn *conn,
                             int *index, dbr_error **err)
{
    int64_t deadline = wait ? wait->deadline_us : 0;
    int first = pq_hosts_first(h);
    GString *tried = NULL;
    dbr_error *e = NULL;
    int ntried = 0;

    for (int k = 0; k < h->n; k++) {
        int i = (first + k) % h->n;
        int64_t now = dbr_now_us(), until = deadline;
        PGconn *pg;

        /* Each host that is left gets a fair share of the caller's time,
         * so a long per-host timeout cannot spend it all on the first. */
        if (h->n - k > 1 && deadline > now)
            until = now + (deadline - now) / (h->n - k);
        if (h->per_host_us)
            until = until ? MIN(until, now + h->per_host_us) : now + h->per_host_us;
        dbr_error_free(e);
        e = NULL;
        pg = connect_one(h, i, wait, until, conn, &e);
        ntried++;
        if (pg) {
            if (h->n > 1)
                pq_hosts_remember(h->id, i);
            *index = i;
            if (tried)
                g_string_free(tried, TRUE);
            return pg;
        }
        if (h->n > 1) {
            char *name = pq_hosts_name(h, i);

            if (!tried)
                tried = g_string_new(NULL);
            g_string_append_printf(tried, "%s%s: %s", tried->len ? "; " : "", name,
                                   dbr_error_message(e));
            g_free(name);
        }
        /* the caller's cancel or deadline ends the walk, a host's own does not */
        if (dbr_error_kind_of(e) == DBR_ERR_CANCELED || (deadline && dbr_now_us() >= deadline))
            break;
    }
    if (tried) {
        dbr_error *all =
            dbr_error_wrap(e, dbr_error_kind_of(e), PQ_LAYER,
                           "%d of %d hosts tried, none answered (%s); the last one said", ntried,
                           h->n, tried->str);

        g_string_free(tried, TRUE);
        e = all;
    }
    dbr_error_propagate(err, e);
    return NULL;
}

static dbr_driver_conn *pq_connect(const char *conninfo, const dbr_driver_opts *opts,
                                   const dbr_wait *wait, dbr_error **err)
{
    dbr_driver_conn *conn;
    pq_hosts hosts;
    int index = 0;
    PGconn *pg;

    if (!check_text(conninfo, err) || !pq_hosts_init(&hosts, conninfo, opts, err))
        return NULL;
    conn = g_new0(dbr_driver_conn, 1);
    pg = connect_hosts(&hosts, wait, conn, &index, err);
    if (!pg) {
        pq_hosts_clear(&hosts);
        g_free(conn);
        return NULL;
    }
    /* what a host that failed said on its way out is not this session's */
    conn->broken = false;
    conn->goodbye_sqlstate[0] = conn->goodbye[0] = '\0';
    if (PQsetnonblocking(pg, 1) != 0) {
        dbr_error_propagate(err, pq_conn_error(pg, DBR_PHASE_CONNECT, DBR_OUTCOME_NOT_APPLIED,
                                               "cannot set non-blocking"));
        PQfinish(pg);
        pq_hosts_clear(&hosts);
        g_free(conn);
        return NULL;
    }
    PQsetErrorVerbosity(pg, PQERRORS_DEFAULT);
    conn->pg = pg;
    if (opts && opts->struct_size >= offsetof(dbr_driver_opts, statement_cache_size) + sizeof(int))
        conn->cache_size = opts->statement_cache_size;
    g_strlcpy(conn->hosts_id, hosts.id, sizeof(conn->hosts_id));
    conn->host_index = index;
    conn->nhosts = hosts.n;
    pq_hosts_clear(&hosts);
    pq_cancel_key_learn(conn);
    return conn;
}

static void pq_close(dbr_driver_conn *conn)
{
    if (!conn)
        return;
    PQfinish(conn->pg);
    pq_stmt_cache_free(conn);
    g_free(conn);
}

static dbr_txstatus pq_txstatus(const dbr_driver_conn *conn)
{
    if (conn->broken || PQstatus(conn->pg) != CONNECTION_OK)
        return DBR_TXSTATUS_BROKEN;
    switch (PQtransactionStatus(conn->pg)) {
    case PQTRANS_IDLE:
        return DBR_TXSTATUS_IDLE;
    case PQTRANS_ACTIVE:
        return DBR_TXSTATUS_ACTIVE;
    case PQTRANS_INTRANS:
        return DBR_TXSTATUS_INTRANS;
    case PQTRANS_INERROR:
        return DBR_TXSTATUS_INERROR;
    default:
        return DBR_TXSTATUS_BROKEN;
    }
}

/* An idle connection has nothing to read unless the server spoke first,
 * and an idle server speaks only to say goodbye (a FATAL message, then
 * EOF, after pg_terminate_backend or a shutdown). */
static bool pq_alive(dbr_driver_conn *conn)
{
    struct pollfd p = {.fd = PQsocket(conn->pg), .events = POLLIN};

    /* The goodbye comes in two reads: the message, then EOF. A few rounds
     * are enough; an idle server has nothing else to say (except NOTIFYs,
     * which end the loop as soon as the socket is drained). */
    for (int i = 0; i < 4; i++) {
        if (conn->broken || PQstatus(conn->pg) != CONNECTION_OK)
            return false;
        if (poll(&p, 1, 0) != 1)
            return true;
        /* PQconsumeInput only reads; PQisBusy parses, which hands a FATAL
         * goodbye to pq_notice. */
        if (!PQconsumeInput(conn->pg))
            return false;
        (void)PQisBusy(conn->pg);
        pq_notify_drop(conn);
    }
    return PQstatus(conn->pg) == CONNECTION_OK;
}

static const struct dbr_driver_ops pq_ops = {
    .struct_size = sizeof(struct dbr_driver_ops),
    .connect = pq_connect,
    .close = pq_close,
    .exec = pq_exec,
    .result_nrows = pq_result_nrows,
    .result_ncols = pq_result_ncols,
    .result_colname = pq_result_colname,
    .result_value = pq_result_value,
    .result_affected = pq_result_affected,
    .result_free = pq_result_free,
    .txstatus = pq_txstatus,
    .ping = pq_ping,
    .alive = pq_alive,
    .begin_sql = NULL, /* PostgreSQL speaks the standard START TRANSACTION */
    .commit_tracked = pq_commit_tracked,
    .xact_status = pq_xact_status,
    .exec_script = pq_exec_script,
    .xact_lock = pq_xact_lock,
    .commit_tracking_probe = pq_commit_tracking_probe,
    .session_changed = pq_session_changed,
    .session_reset = pq_session_reset,
    .check_conninfo = pq_check_conninfo,
    .session_bound = pq_session_bound,
    .pooler_detect = pq_pooler_detect,
    .listen = pq_listen,
    .notify_wait = pq_notify_wait,
    .prepare = pq_prepare,
    .exec_batch = pq_exec_batch,
    .copy_from = pq_copy_from,
    .copy_to = pq_copy_to,
    .result_coltype = pq_result_coltype,
    .result_get = pq_result_get,
    .exec_stream = pq_exec_stream,
    .redact_conninfo = pq_redact_conninfo_slot,
    .replication_state = pq_replication_state,
    .archive_state = pq_archive_state,
};

DBR_MODULE_DEFINE(DBR_MODULE_DRIVER, "pq", "3.0.0", "PostgreSQL through libpq", &pq_ops)
