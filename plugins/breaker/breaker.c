/* SPDX-License-Identifier: MIT */
/*
 * dbr-plugin-breaker: a circuit breaker in the sony/gobreaker model.
 *
 *   [chain]
 *   plugins = retry, breaker
 *
 *   [plugin.breaker]
 *   max_requests = 1       # calls let through while half-open; that many
 *                          # successes in a row close it again
 *   interval = 0           # while closed, clear the counts this often (0 = never)
 *   timeout = 60s          # how long it stays open before half-opening
 *   max_failures = 5       # trip after this many consecutive failures
 *   failure_ratio = 0      # also trip when failures/requests reaches this...
 *   min_requests = 20      # ...over at least this many requests (0 < ratio <= 1)
 *
 * Closed: calls pass; infrastructure failures are counted. Open: every call
 * fails at once with DBR_ERR_CIRCUIT_OPEN, without a pool checkout, I/O,
 * syscall, lock or allocation (a preset error). Half-open: at most
 * max_requests calls in flight, the rest refused; max_requests successes
 * close it, any failure opens it again. An outcome of a call that started
 * in an earlier generation (before a state change) is not counted.
 *
 * Only infrastructure failures count: connection, timeout, resource (class 53)
 * and commit-unknown. A constraint, syntax or permission error is a success
 * for the breaker, since the database answered; a failed authentication, a
 * canceled ctx, an exhausted pool and a refusal by another breaker are not
 * counted at all. Statements inside a transaction pass through: the
 * transaction as a whole is the call the breaker judges.
 *
 * Commands (dbr_control): "state" (the state and counts), "force_open"
 * (isolate the database on purpose, until "reset"), "reset" (closed, counts
 * cleared). Events: breaker.state (from, to). Metrics: dbr_breaker_state
 * (0 closed, 1 half-open, 2 open), dbr_breaker_requests_total,
 * dbr_breaker_failures_total, dbr_breaker_rejected_total,
 * dbr_breaker_transitions_total{to}, dbr_breaker_time_in_state_seconds_total{state}.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include <dbr/plugin.h>

#define LAYER "breaker"

typedef enum { ST_CLOSED = 0, ST_HALF_OPEN = 1, ST_OPEN = 2 } state;
static const char *const state_names[] = {"closed", "half-open", "open"};

typedef struct counts {
    guint32 requests, total_successes, total_failures, consecutive_successes, consecutive_failures;
} counts;

typedef enum { OUTCOME_SUCCESS, OUTCOME_FAILURE, OUTCOME_IGNORE } outcome;

typedef struct breaker {
    const dbr_host *host;
    guint32 max_requests, max_failures, min_requests;
    int64_t interval_us, timeout_us;
    double failure_ratio;

    GMutex lock;
    state st;
    guint64 generation;
    counts c;
    int64_t expiry_us; /* closed: next clearing (0 = none); open: end of timeout */
    int64_t since_us;  /* when the current state began */
    bool forced;       /* force_open: stays open until reset */
    gint64 open_until; /* atomic: the fail-fast window, 0 when not open */

    dbr_gauge *state_gauge;
    dbr_counter *requests, *failures, *rejected;
    dbr_counter *transitions[3], *time_in[3];
} breaker;

typedef struct transition {
    bool happened;
    state from, to;
} transition;

static bool breaker_create(const dbr_config_section *cfg, const dbr_host *host, void **self,
                           dbr_error **err)
{
    breaker *b = g_new0(breaker, 1);
    long long max_requests, max_failures, min_requests;
    char labels[160];

    b->host = host;
    if (!dbr_config_get_int(cfg, "max_requests", 1, 1, 1000000, &max_requests, err) ||
        !dbr_config_get_duration(cfg, "interval", 0, 0, G_TIME_SPAN_DAY, &b->interval_us, err) ||
        !dbr_config_get_duration(cfg, "timeout", 60 * G_TIME_SPAN_SECOND, G_TIME_SPAN_MILLISECOND,
                                 G_TIME_SPAN_DAY, &b->timeout_us, err) ||
        !dbr_config_get_int(cfg, "max_failures", 5, 1, 1000000, &max_failures, err) ||
        !dbr_config_get_double(cfg, "failure_ratio", 0.0, 0.0, 1.0, &b->failure_ratio, err) ||
        !dbr_config_get_int(cfg, "min_requests", 20, 1, 1000000000, &min_requests, err)) {
        g_free(b);
        return false;
    }
    b->max_requests = (guint32)max_requests;
    b->max_failures = (guint32)max_failures;
    b->min_requests = (guint32)min_requests;
    g_mutex_init(&b->lock);
    b->since_us = dbr_host_coarse_now_us(host);
    if (b->interval_us)
        b->expiry_us = b->since_us + b->interval_us;
    g_snprintf(labels, sizeof(labels), "db=\"%s\"", dbr_host_db_name(host));
    b->state_gauge = dbr_host_gauge(host, "dbr_breaker_state",
                                    "Breaker state: 0 closed, 1 half-open, 2 open.", labels);
    b->requests = dbr_host_counter(host, "dbr_breaker_requests_total",
                                   "Calls the breaker let through.", labels);
    b->failures = dbr_host_counter(host, "dbr_breaker_failures_total",
                                   "Infrastructure failures counted by the breaker.", labels);
    b->rejected = dbr_host_counter(host, "dbr_breaker_rejected_total",
                                   "Calls refused while open or half-open.", labels);
    for (int s = 0; s < 3; s++) {
        g_snprintf(labels, sizeof(labels), "db=\"%s\",to=\"%s\"", dbr_host_db_name(host),
                   state_names[s]);
        b->transitions[s] = dbr_host_counter(host, "dbr_breaker_transitions_total",
                                             "State changes, by the state entered.", labels);
        g_snprintf(labels, sizeof(labels), "db=\"%s\",state=\"%s\"", dbr_host_db_name(host),
                   state_names[s]);
        b->time_in[s] = dbr_host_counter(host, "dbr_breaker_time_in_state_seconds_total",
                                         "Whole seconds spent in each state, counted when it "
                                         "is left.",
                                         labels);
    }
    *self = b;
    return true;
}

static void breaker_destroy(void *self)
{
    breaker *b = self;

    g_mutex_clear(&b->lock);
    g_free(b);
}

/* With the lock held. */
static void set_state(breaker *b, state to, int64_t now, transition *t)
{
    state from = b->st;

    if (from == to && to != ST_CLOSED)
        return;
    dbr_counter_add(b->time_in[from], (uint64_t)((now - b->since_us) / G_TIME_SPAN_SECOND));
    b->st = to;
    b->since_us = now;
    b->generation++;
    memset(&b->c, 0, sizeof(b->c));
    b->expiry_us = to == ST_OPEN     ? now + b->timeout_us
                   : to == ST_CLOSED ? (b->interval_us ? now + b->interval_us : 0)
                                     : 0;
    __atomic_store_n(&b->open_until, 0, __ATOMIC_RELEASE);
    if (to == ST_OPEN)
        __atomic_store_n(&b->open_until, b->forced ? G_MAXINT64 : b->expiry_us, __ATOMIC_RELEASE);
    dbr_gauge_set(b->state_gauge, to);
    if (from != to) {
        dbr_counter_add(b->transitions[to], 1);
        t->happened = true;
        t->from = from;
        t->to = to;
    }
}

/* With the lock held: the state as of now, after expiries. */
static state current(breaker *b, int64_t now, transition *t)
{
    if (b->st == ST_CLOSED && b->expiry_us && b->expiry_us <= now) {
        b->generation++;
        memset(&b->c, 0, sizeof(b->c));
        b->expiry_us = now + b->interval_us;
    } else if (b->st == ST_OPEN && !b->forced && b->expiry_us <= now) {
        set_state(b, ST_HALF_OPEN, now, t);
    }
    return b->st;
}

/* Outside the lock: subscribers may take their time. */
static void announce(breaker *b, const transition *t)
{
    if (t->happened)
        dbr_host_publish(b->host, "breaker.state", "from", state_names[t->from], "to",
                         state_names[t->to], NULL);
}

static bool ready_to_trip(const breaker *b)
{
    if (b->c.consecutive_failures >= b->max_failures)
        return true;
    return b->failure_ratio > 0 && b->c.requests >= b->min_requests &&
           (double)b->c.total_failures >= b->failure_ratio * (double)b->c.requests;
}

static outcome judge(const dbr_error *e)
{
    if (!e)
        return OUTCOME_SUCCESS;
    switch (dbr_error_kind_of(e)) {
    case DBR_ERR_CONNECTION:
    case DBR_ERR_TIMEOUT:
    case DBR_ERR_RESOURCE:
    case DBR_ERR_COMMIT_UNKNOWN:
        return OUTCOME_FAILURE;
    case DBR_ERR_PERMISSION:
        /* A failed login is a configuration error, not a sick server. */
        return dbr_error_phase_of(e) == DBR_PHASE_CONNECT ? OUTCOME_IGNORE : OUTCOME_SUCCESS;
    case DBR_ERR_CANCELED:
    case DBR_ERR_CIRCUIT_OPEN:
    case DBR_ERR_POOL_EXHAUSTED:
    case DBR_ERR_MISUSE:
        return OUTCOME_IGNORE;
    default:
        return OUTCOME_SUCCESS; /* the database answered */
    }
}

static void record(breaker *b, guint64 gen, outcome o)
{
    transition t = {0};
    int64_t now = dbr_host_coarse_now_us(b->host);
    state s;

    g_mutex_lock(&b->lock);
    s = current(b, now, &t);
    if (gen == b->generation) {
        switch (o) {
        case OUTCOME_SUCCESS:
            b->c.total_successes++;
            b->c.consecutive_successes++;
            b->c.consecutive_failures = 0;
            if (s == ST_HALF_OPEN && b->c.consecutive_successes >= b->max_requests)
                set_state(b, ST_CLOSED, now, &t);
            break;
        case OUTCOME_FAILURE:
            dbr_counter_add(b->failures, 1);
            b->c.total_failures++;
            b->c.consecutive_failures++;
            b->c.consecutive_successes = 0;
            if (s == ST_HALF_OPEN || (s == ST_CLOSED && ready_to_trip(b)))
                set_state(b, ST_OPEN, now, &t);
            break;
        case OUTCOME_IGNORE:
            if (b->c.requests > 0)
                b->c.requests--; /* give the half-open slot back */
            break;
        }
    }
    g_mutex_unlock(&b->lock);
    announce(b, &t);
}

static bool breaker_handle(void *self, dbr_call *call, const dbr_next *next, dbr_error **err)
{
    breaker *b = self;
    transition t = {0};
    dbr_error *e = NULL;
    int64_t now;
    guint64 gen;
    bool ok;
    state s;

    if (dbr_call_kind_of(call) == DBR_CALL_TX_STMT)
        return dbr_next_call(next, call, err);
    now = dbr_host_coarse_now_us(b->host);
    /* Open: refuse without the lock, without allocating. */
    if (now < __atomic_load_n(&b->open_until, __ATOMIC_ACQUIRE)) {
        dbr_counter_add(b->rejected, 1);
        return dbr_error_propagate(err, dbr_error_preset(DBR_ERR_CIRCUIT_OPEN));
    }
    g_mutex_lock(&b->lock);
    s = current(b, now, &t);
    if (s == ST_OPEN || (s == ST_HALF_OPEN && b->c.requests >= b->max_requests)) {
        g_mutex_unlock(&b->lock);
        announce(b, &t);
        dbr_counter_add(b->rejected, 1);
        return dbr_error_propagate(err, dbr_error_preset(DBR_ERR_CIRCUIT_OPEN));
    }
    b->c.requests++;
    gen = b->generation;
    g_mutex_unlock(&b->lock);
    announce(b, &t);
    dbr_counter_add(b->requests, 1);

    ok = dbr_next_call(next, call, &e);
    record(b, gen, judge(ok ? NULL : e));
    if (!ok)
        return dbr_error_propagate(err, e);
    return true;
}

static bool breaker_control(void *self, const char *command, char **reply, dbr_error **err)
{
    breaker *b = self;
    transition t = {0};
    int64_t now = dbr_host_coarse_now_us(b->host);
    state s;
    counts c;

    g_mutex_lock(&b->lock);
    if (strcmp(command, "force_open") == 0) {
        b->forced = true;
        set_state(b, ST_OPEN, now, &t);
        __atomic_store_n(&b->open_until, G_MAXINT64, __ATOMIC_RELEASE);
    } else if (strcmp(command, "reset") == 0) {
        b->forced = false;
        set_state(b, ST_CLOSED, now, &t);
    } else if (strcmp(command, "state") != 0) {
        g_mutex_unlock(&b->lock);
        return dbr_set_error(err, DBR_ERR_MISUSE, LAYER,
                             "unknown command \"%s\": expected state, force_open or reset",
                             command);
    }
    s = current(b, now, &t);
    c = b->c;
    g_mutex_unlock(&b->lock);
    announce(b, &t);
    if (reply) {
        char *text = g_strdup_printf("state=%s requests=%u successes=%u failures=%u "
                                     "consecutive_successes=%u consecutive_failures=%u "
                                     "forced=%s",
                                     state_names[s], c.requests, c.total_successes,
                                     c.total_failures, c.consecutive_successes,
                                     c.consecutive_failures, b->forced ? "true" : "false");

        *reply = strdup(text);
        g_free(text);
    }
    return true;
}

static const struct dbr_plugin_ops breaker_ops = {
    .struct_size = sizeof(struct dbr_plugin_ops),
    .create = breaker_create,
    .destroy = breaker_destroy,
    .handle = breaker_handle,
    .control = breaker_control,
};

DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "breaker", "1.0.0",
                  "circuit breaker: closed, open, half-open (gobreaker model)", &breaker_ops)
