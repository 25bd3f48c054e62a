/* SPDX-License-Identifier: MIT */
/*
 * dbr-plugin-retry: retries what is safe to retry, with exponential backoff
 * and full jitter, under a retry budget shared by the db.
 *
 *   [chain]
 *   plugins = retry, breaker
 *
 *   [plugin.retry]
 *   max_attempts = 5          # tries that reached the database, the first included
 *   initial_interval = 50ms
 *   max_interval = 1s
 *   multiplier = 2.0
 *   jitter = true             # full jitter: uniform [0, cap)
 *   max_elapsed = 5s          # stop retrying this long after the first failure (0 = no limit)
 *   budget_ratio = 0.2        # retries may add 20% to the requests of a window...
 *   budget_window = 10s
 *   budget_min_retries = 10   # ...plus this many per window
 *   wait_breaker = true       # wait out an open breaker (below) instead of failing
 *   resolve_commit = true     # ask the server when COMMIT's answer is lost
 *
 * The defaults ride out a server restart or a failover of a few seconds
 * (docs/retry-and-breaker.md): with `plugins = retry, breaker` an outage
 * opens the breaker, whose probe closes it within about half a second of
 * the server taking connections again; meanwhile a call the open breaker
 * refuses waits initial_interval (jittered) and asks again, which costs no
 * I/O and no attempt, only time (max_elapsed) and the retry budget. In an
 * outage that lasts, the budget runs out within a window and calls fail at
 * once with circuit-open: waiting is for the first seconds, not forever.
 *
 * What is retried is decided by the failure's outcome and whether it is
 * transient, both set by the layer that knows (docs/errors.md), never by
 * SQLSTATE alone:
 *   - a transient failure whose outcome is not-applied: a connection refused
 *     or lost before the request left, a server starting up, a deadlock or
 *     serialization failure (of an autocommit statement, or of a whole
 *     transaction, whose callback then runs again from the start), a
 *     transaction whose connection broke before COMMIT was sent;
 *   - a transient failure whose outcome is unknown (the connection was lost
 *     after the request left, commit-unknown), only when the call is safe to
 *     repeat (dbr_call_idempotent: a read-only transaction, a ping, or a ctx
 *     marked with dbr_ctx_set_idempotent);
 *   - never: constraint, syntax, permission, config, misuse, a canceled or
 *     expired ctx, a statement inside a transaction, an open breaker (unless
 *     wait_breaker), and an unknown outcome of a call that is not idempotent.
 * A wrapped error ("gave up after 3 attempts") keeps its cause's outcome.
 * The first connect of dbr_open goes through the chain, so with retry in it
 * opening a db waits out a database that is still starting (the budget does
 * not limit that one caller; max_attempts and max_elapsed do).
 *
 * Ambiguous commits: with resolve_commit, a transaction whose COMMIT lost its
 * answer is looked up on a fresh connection (DBR_CAP_COMMIT_TRACKING: the
 * driver learns the transaction id in the COMMIT's own round trip, and its
 * xact_status says what became of it): committed
 * becomes success, aborted a retryable error that runs the transaction
 * again, anything else stays DBR_ERR_COMMIT_UNKNOWN.
 *
 * Events: retry.attempt (call, attempt, delay_ms, kind), retry.giveup
 * (call, attempts, kind, reason). Metrics: dbr_retry_requests_total,
 * dbr_retry_retries_total{kind}, dbr_retry_giveups_total{kind}.
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include <dbr/plugin.h>

#include "backoff.h"
#include "budget.h"

#define LAYER "retry"

typedef struct retry {
    const dbr_host *host;
    int max_attempts;
    backoff backoff;
    int64_t max_elapsed_us;
    bool wait_breaker;
    bool resolve_commit;
    budget budget;
    dbr_counter *requests;
    dbr_counter *retries[DBR_ERR_KIND_MAX + 1];
    dbr_counter *giveups[DBR_ERR_KIND_MAX + 1];
} retry;

static bool retry_create(const dbr_config_section *cfg, const dbr_host *host, void **self,
                         dbr_error **err)
{
    retry *r = NULL;
    long long attempts, min_retries;
    double ratio;
    int64_t window;
    char labels[128];

    /* Aligned for the budget's stripes (posix_memalign: GLib 2.68 has no
     * g_aligned_alloc0). */
    if (posix_memalign((void **)&r, 64, sizeof(retry)) != 0)
        return dbr_set_error(err, DBR_ERR_RESOURCE, LAYER, "out of memory");
    memset(r, 0, sizeof(*r));
    r->host = host;
    if (!dbr_config_get_int(cfg, "max_attempts", 5, 1, 1000, &attempts, err) ||
        !dbr_config_get_duration(cfg, "initial_interval", 50 * G_TIME_SPAN_MILLISECOND, 0,
                                 G_TIME_SPAN_HOUR, &r->backoff.initial_us, err) ||
        !dbr_config_get_duration(cfg, "max_interval", G_TIME_SPAN_SECOND, 0, G_TIME_SPAN_DAY,
                                 &r->backoff.max_us, err) ||
        !dbr_config_get_double(cfg, "multiplier", 2.0, 1.0, 100.0, &r->backoff.multiplier, err) ||
        !dbr_config_get_bool(cfg, "jitter", true, &r->backoff.jitter, err) ||
        !dbr_config_get_duration(cfg, "max_elapsed", 5 * G_TIME_SPAN_SECOND, 0, G_TIME_SPAN_DAY,
                                 &r->max_elapsed_us, err) ||
        !dbr_config_get_double(cfg, "budget_ratio", 0.2, 0.0, 1000.0, &ratio, err) ||
        !dbr_config_get_duration(cfg, "budget_window", 10 * G_TIME_SPAN_SECOND,
                                 G_TIME_SPAN_MILLISECOND, G_TIME_SPAN_HOUR, &window, err) ||
        !dbr_config_get_int(cfg, "budget_min_retries", 10, 0, 1000000, &min_retries, err) ||
        !dbr_config_get_bool(cfg, "wait_breaker", true, &r->wait_breaker, err) ||
        !dbr_config_get_bool(cfg, "resolve_commit", true, &r->resolve_commit, err)) {
        free(r);
        return false;
    }
    if (r->backoff.max_us < r->backoff.initial_us) {
        dbr_error_propagate(err, dbr_config_error(cfg, "max_interval",
                                                  "must not be shorter than initial_interval"));
        free(r);
        return false;
    }
    r->max_attempts = (int)attempts;
    budget_init(&r->budget, ratio, window, (int)min_retries);
    g_snprintf(labels, sizeof(labels), "db=\"%s\"", dbr_host_db_name(host));
    r->requests = dbr_host_counter(host, "dbr_retry_requests_total",
                                   "Calls that entered the retry plugin.", labels);
    for (int k = DBR_ERR_CONNECTION; k <= DBR_ERR_KIND_MAX; k++) {
        g_snprintf(labels, sizeof(labels), "db=\"%s\",kind=\"%s\"", dbr_host_db_name(host),
                   dbr_error_kind_name(k));
        r->retries[k] = dbr_host_counter(host, "dbr_retry_retries_total",
                                         "Calls tried again, by the kind of error.", labels);
        r->giveups[k] = dbr_host_counter(host, "dbr_retry_giveups_total",
                                         "Calls that failed after retrying, by kind.", labels);
    }
    *self = r;
    return true;
}

static void retry_destroy(void *self)
{
    retry *r = self;

    budget_clear(&r->budget);
    free(r);
}

/* Why a failed call is not tried again. */
typedef enum {
    GO = 0,
    STOP_KIND,    /* the kind of error is never retried */
    STOP_UNSAFE,  /* sent, no answer, and not safe to repeat */
    STOP_SPENT,   /* its input was read or its output delivered: cannot run again */
    STOP_CTX,     /* the caller canceled or ran out of time */
    STOP_BREAKER, /* an open breaker refused it */
    STOP_ATTEMPTS,
    STOP_MAX_ELAPSED,
    STOP_DEADLINE, /* the next delay would end past the ctx's deadline */
    STOP_BUDGET,
} stop_reason;

static const char *const stop_names[] = {
    [GO] = "",
    [STOP_KIND] = "not retryable",
    [STOP_UNSAFE] = "not safe to repeat",
    [STOP_SPENT] = "input or output already consumed",
    [STOP_CTX] = "ctx done",
    [STOP_BREAKER] = "breaker open",
    [STOP_ATTEMPTS] = "max_attempts",
    [STOP_MAX_ELAPSED] = "max_elapsed",
    [STOP_DEADLINE] = "deadline",
    [STOP_BUDGET] = "retry budget spent",
};

static stop_reason not_retryable(const retry *r, const dbr_call *call, const dbr_error *e)
{
    if (dbr_ctx_done(dbr_call_ctx(call)))
        return STOP_CTX;
    if (dbr_error_kind_of(e) == DBR_ERR_CIRCUIT_OPEN)
        return r->wait_breaker ? GO : STOP_BREAKER;
    if (!dbr_error_transient(e))
        return STOP_KIND;
    /* A stream whose rows reached the caller, a COPY whose data was read:
     * running it again would deliver or need what is gone. */
    if (!dbr_call_replayable(call))
        return STOP_SPENT;
    if (dbr_error_outcome(e) == DBR_OUTCOME_NOT_APPLIED)
        return GO;
    /* Unknown: it may have been applied. Only what cannot apply twice. */
    return dbr_call_idempotent(call) ? GO : STOP_UNSAFE;
}

static void give_up(retry *r, const dbr_call *call, const dbr_error *e, int attempts,
                    stop_reason reason)
{
    char n[16];

    dbr_counter_add(r->giveups[dbr_error_kind_of(e)], 1);
    g_snprintf(n, sizeof(n), "%d", attempts);
    dbr_host_publish(r->host, "retry.giveup", "call", dbr_call_kind_name(dbr_call_kind_of(call)),
                     "attempts", n, "kind", dbr_error_kind_name(dbr_error_kind_of(e)), "reason",
                     stop_names[reason], NULL);
    if (attempts > 1)
        dbr_log(DBR_LOG_WARNING, LAYER, NULL, "gave up on %s after %s attempts (%s: %s)",
                dbr_call_kind_name(dbr_call_kind_of(call)), n,
                dbr_error_kind_name(dbr_error_kind_of(e)), stop_names[reason]);
}

/* The error a call that retrying gave up on ends with: the last failure,
 * how far it went, and (when an open breaker had the last word) what failed
 * before. An attempt whose outcome was unknown leaves the call's unknown. */
static dbr_error *gave_up(dbr_error *e, int tries, int refusals, const char *why, const char *cause,
                          bool maybe_applied)
{
    char *refused = refusals ? g_strdup_printf(" and %d refusal%s by an open breaker", refusals,
                                               refusals == 1 ? "" : "s")
                             : g_strdup("");

    if (cause)
        e = dbr_error_wrap(e, dbr_error_kind_of(e), LAYER,
                           "gave up after %d attempt%s%s (%s; the last failure: %s)", tries,
                           tries == 1 ? "" : "s", refused, why, cause);
    else
        e = dbr_error_wrap(e, dbr_error_kind_of(e), LAYER, "gave up after %d attempt%s%s (%s)",
                           tries, tries == 1 ? "" : "s", refused, why);
    g_free(refused);
    if (maybe_applied)
        dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
    return e;
}

static bool retry_handle(void *self, dbr_call *call, const dbr_next *next, dbr_error **err)
{
    retry *r = self;
    dbr_ctx *ctx = dbr_call_ctx(call);
    dbr_error *e = NULL;
    int64_t first_failure = 0;
    int tries = 0;              /* attempts that reached past the breaker */
    bool waited = false;        /* a token was taken to wait out an open breaker */
    int refusals = 0;           /* attempts an open breaker refused */
    bool maybe_applied = false; /* an attempt's outcome was unknown (an idempotent call) */
    char *last_cause = NULL;    /* the last failure that was not a refusal */

    /* One statement of a transaction is never repeated alone: the retry of
     * a transaction is the whole callback, one level up. */
    if (dbr_call_kind_of(call) == DBR_CALL_TX_STMT)
        return dbr_next_call(next, call, err);
    budget_note_request(&r->budget, dbr_host_coarse_now_us(r->host));
    dbr_counter_add(r->requests, 1);
    if (r->resolve_commit && dbr_call_kind_of(call) == DBR_CALL_TX)
        dbr_call_set_resolve_commit(call, true);
    for (int attempt = 1;; attempt++) {
        stop_reason why;
        int64_t now, delay, deadline;
        dbr_error *se = NULL;
        char a[16], d[32];

        bool refused;

        if (dbr_next_call(next, call, &e)) {
            g_free(last_cause);
            return true;
        }
        /* An open breaker's refusal is waited out at a short, steady pace
         * (nothing was sent, so no attempt is spent and no backoff grows:
         * the call goes on as soon as the breaker closes). */
        refused = dbr_error_kind_of(e) == DBR_ERR_CIRCUIT_OPEN;
        if (refused) {
            refusals++;
        } else {
            tries++;
            g_free(last_cause);
            last_cause = g_strdup(dbr_error_message(e));
        }
        /* Once an attempt may have run, or ran in part, so may the call,
         * whatever the later attempts say. */
        if (dbr_error_outcome(e) == DBR_OUTCOME_UNKNOWN ||
            dbr_error_outcome(e) == DBR_OUTCOME_PARTIAL)
            maybe_applied = true;
        why = not_retryable(r, call, e);
        if (!why && tries >= r->max_attempts)
            why = STOP_ATTEMPTS;
        now = dbr_host_now_us(r->host);
        if (!first_failure)
            first_failure = now;
        delay = why ? 0 : backoff_delay(&r->backoff, refused ? 1 : tries, dbr_host_random(r->host));
        /* Deadlines are on the real clock, whatever clock the host has. */
        deadline = dbr_ctx_deadline(ctx);
        if (!why && r->max_elapsed_us && now + delay - first_failure > r->max_elapsed_us)
            why = STOP_MAX_ELAPSED;
        if (!why && deadline && dbr_now_us() + delay >= deadline)
            why = STOP_DEADLINE; /* sleeping past it would be for nothing */
        /* The first connect of dbr_open is one caller waiting for its
         * database, not a storm: the budget does not apply to it. */
        /* Waiting out an open breaker sends nothing: it takes one token for
         * the whole wait, so the budget bounds how many callers wait, and
         * the rest fail at once. */
        if (!why && dbr_call_kind_of(call) != DBR_CALL_CONNECT && !(refused && waited)) {
            if (!budget_withdraw(&r->budget, now))
                why = STOP_BUDGET;
            else if (refused)
                waited = true;
        }
        if (why) {
            /* A first failure that was never a candidate goes back as it
             * is; one that retrying gave up on says how far it went. */
            if (attempt == 1 && why < STOP_MAX_ELAPSED) {
                g_free(last_cause);
                return dbr_error_propagate(err, e);
            }
            give_up(r, call, e, attempt, why);
            e = gave_up(e, tries, refusals, stop_names[why], refused ? last_cause : NULL,
                        maybe_applied);
            g_free(last_cause);
            return dbr_error_propagate(err, e);
        }
        dbr_counter_add(r->retries[dbr_error_kind_of(e)], 1);
        g_snprintf(a, sizeof(a), "%d", attempt);
        g_snprintf(d, sizeof(d), "%.3f", (double)delay / 1000.0);
        dbr_host_publish(r->host, "retry.attempt", "call",
                         dbr_call_kind_name(dbr_call_kind_of(call)), "attempt", a, "delay_ms", d,
                         "kind", dbr_error_kind_name(dbr_error_kind_of(e)), NULL);
        /* An operator should see that work ran again (a transaction's
         * callback runs once more): one line per retry, at info. */
        dbr_log(DBR_LOG_INFO, LAYER, NULL, "retrying %s in %s ms after attempt %s failed (%s)",
                dbr_call_kind_name(dbr_call_kind_of(call)), d, a,
                dbr_error_kind_name(dbr_error_kind_of(e)));
        if (!dbr_host_sleep(r->host, ctx, delay, &se)) {
            /* Canceled or out of time while waiting: say so, keep the story. */
            give_up(r, call, e, attempt, STOP_CTX);
            e = dbr_error_wrap(
                e, dbr_error_kind_of(se), LAYER, "%s while waiting to retry after %d attempt%s",
                dbr_error_kind_name(dbr_error_kind_of(se)), attempt, attempt == 1 ? "" : "s");
            if (maybe_applied)
                dbr_error_set_outcome(e, DBR_OUTCOME_UNKNOWN);
            dbr_error_free(se);
            g_free(last_cause);
            return dbr_error_propagate(err, e);
        }
        dbr_error_free(e);
        e = NULL;
    }
}

static const struct dbr_plugin_ops retry_ops = {
    .struct_size = sizeof(struct dbr_plugin_ops),
    .create = retry_create,
    .destroy = retry_destroy,
    .handle = retry_handle,
};

DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "retry", "1.0.0",
                  "retries what is safe to retry, with backoff, jitter and a budget", &retry_ops)
