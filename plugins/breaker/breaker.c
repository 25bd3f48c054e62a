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
 *   timeout = 30s          # how long it stays open before half-opening
 *   max_failures = 5       # trip after this many consecutive failures
 *   failure_ratio = 0      # also trip when failures/requests reaches this...
 *   min_requests = 20      # ...over at least this many requests (0 < ratio <= 1)
 *   count = connection, resource, commit-unknown   # the kinds that are failures
 *   probe_interval = 100ms # while open, try a new connection this often (0 = never)...
 *   probe_max_interval = 500ms # ...doubling after each failed try, up to this
 *
 * Closed: calls pass; infrastructure failures are counted. Open: every call
 * fails at once with DBR_ERR_CIRCUIT_OPEN, without a pool checkout, I/O,
 * syscall, lock or allocation (a preset error). Half-open: at most
 * max_requests calls in flight, the rest refused; max_requests successes
 * close it, any failure opens it again. An outcome of a call that started
 * in an earlier generation (before a state change) is not counted.
 *
 * Recovery does not wait for the timeout or for user traffic: while open, a
 * thread of the breaker's own opens a new connection (outside the pool and
 * the chain) and pings it, at probe_interval, doubling after each failure up
 * to probe_max_interval (and never beyond timeout). The first probe that
 * succeeds half-opens the breaker at once (instead of after timeout), and
 * the next max_requests calls close it or open it again; so a server that
 * restarts in half a second is served again within about probe_max_interval
 * of taking connections. The callers' path stays free of I/O while open. (The probe is Polly's and
 * Envoy's "active health check" idea applied to gobreaker's state machine.)
 *
 * Only outages count: the kinds in `count`, by default a connection lost or
 * refused (a connect that timed out included), the server out of resources
 * (class 53; the pool serves from the connections it has before it reports
 * a refusal of new ones) and a commit whose answer was lost. The server's
 * answer about a request (lock contention, statement_timeout, constraint,
 * syntax, permission, a corrupted page) is a success for the breaker: the
 * database answered. Not counted at all: the caller's own deadline or
 * cancel, a client-side refusal (misuse, config), an exhausted pool, a
 * refusal by another breaker, a failed login, and a session the server
 * ended for idling (25P03, 57P05: the client's doing). Statements inside a
 * transaction pass through: the transaction as a whole is the call the
 * breaker judges.
 *
 * Commands (dbr_control): "state" (the state and counts), "force_open"
 * (isolate the database on purpose, until "reset"), "reset" (closed, counts
 * cleared). Events: breaker.state (from, to). Metrics: dbr_breaker_state
 * (0 closed, 1 half-open, 2 open), dbr_breaker_requests_total,
 * dbr_breaker_failures_total, dbr_breaker_rejected_total,
 * dbr_breaker_transitions_total{to}, dbr_breaker_time_in_state_seconds_total{state},
 * dbr_breaker_probes_total{result}.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include <dbr/plugin.h>

#define LAYER "breaker"

typedef enum { ST_CLOSED = 0, ST_HALF_OPEN = 1, ST_OPEN = 2 } state;
static const char *const state_names[] = {"closed", "half-open", "open"};

/* 64 bits: a ratio over counts that are never cleared (interval = 0) must not
 * see `requests` wrap while `total_failures` does not. */
typedef struct counts {
    guint64 requests, total_successes, total_failures, consecutive_successes, consecutive_failures;
} counts;

typedef enum { OUTCOME_SUCCESS, OUTCOME_FAILURE, OUTCOME_IGNORE } outcome;

typedef struct breaker {
    const dbr_host *host;
    guint32 max_requests, max_failures, min_requests;
    int64_t interval_us, timeout_us;
    double failure_ratio;
    guint32 counted; /* bit k: a failure of kind k is counted */
    int64_t probe_us, probe_max_us;

    GMutex lock;
    state st;
    guint64 generation;
    counts c;
    int64_t expiry_us; /* closed: next clearing (0 = none); open: end of timeout */
    int64_t since_us;  /* when the current state began */
    bool forced;       /* force_open: stays open until reset */
    gint64 open_until; /* atomic: the fail-fast window, 0 when not open */
    gint failing;      /* atomic: consecutive_failures > 0 */

    /* The recovery probe's thread; waits on probe_wake under lock. */
    GThread *prober;
    GCond probe_wake;
    bool stopping;
    dbr_ctx *probe_ctx; /* the probe in flight, canceled by close */

    dbr_gauge *state_gauge;
    dbr_counter *requests, *failures, *rejected;
    dbr_counter *transitions[3], *time_in[3];
    dbr_counter *probes_ok, *probes_failed;
} breaker;

typedef struct transition {
    bool happened;
    state from, to;
} transition;

/* `count = connection, resource`: kind names into a bit set. */
static bool parse_counted(const dbr_config_section *cfg, guint32 *out, dbr_error **err)
{
    const char *text = NULL;
    char **names;
    bool ok = true;

    if (!dbr_config_get_string(cfg, "count", "connection, resource, commit-unknown", &text, err))
        return false;
    *out = 0;
    names = g_strsplit(text, ",", -1);
    for (int i = 0; ok && names[i]; i++) {
        const char *name = g_strstrip(names[i]);
        int k;

        if (!*name) {
            dbr_error_propagate(err, dbr_config_error(cfg, "count",
                                                      "an empty entry in the list: expected kind "
                                                      "names separated by commas"));
            ok = false;
            break;
        }
        for (k = DBR_ERR_CONNECTION; k <= DBR_ERR_KIND_MAX; k++)
            if (strcmp(dbr_error_kind_name(k), name) == 0)
                break;
        if (k > DBR_ERR_KIND_MAX || k == DBR_ERR_CIRCUIT_OPEN) {
            dbr_error_propagate(err, dbr_config_error(cfg, "count",
                                                      "%s is not an error kind a breaker "
                                                      "can count (expected names such as "
                                                      "connection, resource, commit-unknown, "
                                                      "timeout, lock-contention)",
                                                      dbr_quote(name).text));
            ok = false;
        } else {
            *out |= 1u << k;
        }
    }
    g_strfreev(names);
    if (ok && !*out) {
        dbr_error_propagate(err, dbr_config_error(cfg, "count",
                                                  "empty: a breaker that counts nothing never "
                                                  "opens; name at least one kind"));
        ok = false;
    }
    return ok;
}

/* probe_interval: 0 (off) or 1 ms up to timeout; probe_max_interval, when
 * given, not below it; left out, the default or probe_interval, whichever
 * is longer, and never beyond timeout. */
static bool probe_settings_ok(const dbr_config_section *cfg, breaker *b, dbr_error **err)
{
    if (!b->probe_us)
        return true;
    if (b->probe_us < G_TIME_SPAN_MILLISECOND || b->probe_us > b->timeout_us) {
        dbr_error_propagate(err, dbr_config_error(cfg, "probe_interval",
                                                  "expected 0 (no probe) or from 1ms up to "
                                                  "timeout (%lld ms)",
                                                  (long long)(b->timeout_us / 1000)));
        return false;
    }
    if (b->probe_max_us < b->probe_us) {
        if (dbr_config_has(cfg, "probe_max_interval")) {
            dbr_error_propagate(err, dbr_config_error(cfg, "probe_max_interval",
                                                      "must not be shorter than probe_interval"));
            return false;
        }
        b->probe_max_us = b->probe_us;
    }
    if (b->probe_max_us > b->timeout_us)
        b->probe_max_us = b->timeout_us;
    return true;
}

static bool breaker_create(const dbr_config_section *cfg, const dbr_host *host, void **self,
                           dbr_error **err)
{
    breaker *b = g_new0(breaker, 1);
    long long max_requests, max_failures, min_requests;
    char labels[160];

    b->host = host;
    if (!dbr_config_get_int(cfg, "max_requests", 1, 1, 1000000, &max_requests, err) ||
        !dbr_config_get_duration(cfg, "interval", 0, 0, G_TIME_SPAN_DAY, &b->interval_us, err) ||
        !dbr_config_get_duration(cfg, "timeout", 30 * G_TIME_SPAN_SECOND, G_TIME_SPAN_MILLISECOND,
                                 G_TIME_SPAN_DAY, &b->timeout_us, err) ||
        !dbr_config_get_int(cfg, "max_failures", 5, 1, 1000000, &max_failures, err) ||
        !dbr_config_get_double(cfg, "failure_ratio", 0.0, 0.0, 1.0, &b->failure_ratio, err) ||
        !dbr_config_get_int(cfg, "min_requests", 20, 1, 1000000000, &min_requests, err) ||
        !parse_counted(cfg, &b->counted, err) ||
        !dbr_config_get_duration(cfg, "probe_interval", 100 * G_TIME_SPAN_MILLISECOND, 0,
                                 G_TIME_SPAN_HOUR, &b->probe_us, err) ||
        !dbr_config_get_duration(cfg, "probe_max_interval", 500 * G_TIME_SPAN_MILLISECOND,
                                 G_TIME_SPAN_MILLISECOND, G_TIME_SPAN_DAY, &b->probe_max_us, err)) {
        g_free(b);
        return false;
    }
    if (!probe_settings_ok(cfg, b, err)) {
        g_free(b);
        return false;
    }
    g_cond_init(&b->probe_wake);
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
    g_snprintf(labels, sizeof(labels), "db=\"%s\",result=\"ok\"", dbr_host_db_name(host));
    b->probes_ok = dbr_host_counter(host, "dbr_breaker_probes_total",
                                    "Recovery probes while open, by result.", labels);
    g_snprintf(labels, sizeof(labels), "db=\"%s\",result=\"failed\"", dbr_host_db_name(host));
    b->probes_failed = dbr_host_counter(host, "dbr_breaker_probes_total",
                                        "Recovery probes while open, by result.", labels);
    *self = b;
    return true;
}

static void breaker_destroy(void *self)
{
    breaker *b = self;

    g_cond_clear(&b->probe_wake);
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
    __atomic_store_n(&b->st, to, __ATOMIC_RELEASE);
    b->since_us = now;
    __atomic_store_n(&b->generation, b->generation + 1, __ATOMIC_RELEASE);
    memset(&b->c, 0, sizeof(b->c));
    __atomic_store_n(&b->failing, 0, __ATOMIC_RELEASE);
    b->expiry_us = to == ST_OPEN     ? now + b->timeout_us
                   : to == ST_CLOSED ? (b->interval_us ? now + b->interval_us : 0)
                                     : 0;
    __atomic_store_n(&b->open_until, 0, __ATOMIC_RELEASE);
    if (to == ST_OPEN) {
        __atomic_store_n(&b->open_until, b->forced ? G_MAXINT64 : b->expiry_us, __ATOMIC_RELEASE);
        g_cond_signal(&b->probe_wake);
    }
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
        __atomic_store_n(&b->generation, b->generation + 1, __ATOMIC_RELEASE);
        memset(&b->c, 0, sizeof(b->c));
        __atomic_store_n(&b->failing, 0, __ATOMIC_RELEASE);
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

static outcome judge(const breaker *b, const dbr_error *e)
{
    const char *ss;
    dbr_error_kind kind;

    if (!e)
        return OUTCOME_SUCCESS;
    kind = dbr_error_kind_of(e);
    ss = dbr_error_sqlstate(e);
    /* A session ended for idling says nothing of the server's health. */
    if (ss && (strcmp(ss, "25P03") == 0 || strcmp(ss, "57P05") == 0))
        return OUTCOME_IGNORE;
    if ((unsigned)kind <= DBR_ERR_KIND_MAX && (b->counted & (1u << kind)))
        return OUTCOME_FAILURE;
    switch (kind) {
    case DBR_ERR_PERMISSION:
        /* A failed login is a configuration error, not a sick server. */
        return dbr_error_phase_of(e) == DBR_PHASE_CONNECT ? OUTCOME_IGNORE : OUTCOME_SUCCESS;
    case DBR_ERR_TIMEOUT:  /* the caller's deadline, or statement_timeout */
    case DBR_ERR_CANCELED: /* the caller's cancel */
    case DBR_ERR_CIRCUIT_OPEN:
    case DBR_ERR_POOL_EXHAUSTED:
    case DBR_ERR_MISUSE:
    case DBR_ERR_CONFIG:
    case DBR_ERR_PLUGIN:
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
            __atomic_store_n(&b->failing, 0, __ATOMIC_RELEASE);
            if (s == ST_HALF_OPEN && b->c.consecutive_successes >= b->max_requests)
                set_state(b, ST_CLOSED, now, &t);
            break;
        case OUTCOME_FAILURE:
            dbr_counter_add(b->failures, 1);
            b->c.total_failures++;
            b->c.consecutive_failures++;
            __atomic_store_n(&b->failing, 1, __ATOMIC_RELEASE);
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
    /* Closed and healthy, with no ratio to keep and no clearing due: a
     * success changes nothing the rule reads, so the call takes no lock
     * (one shared lock taken twice per call is a cost that grows with
     * threads). The success and request counts in the "state" reply then
     * cover the calls since the last failure only. */
    if (b->failure_ratio == 0 && !b->interval_us) {
        /* The generation read before and after the state: a transition in
         * between (which bumps it under the lock) sends the call the slow
         * way, so a fast call never belongs to a half-open generation. */
        gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&b->st, __ATOMIC_ACQUIRE) == ST_CLOSED &&
            !__atomic_load_n(&b->failing, __ATOMIC_ACQUIRE) &&
            __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == gen) {
            outcome o;

            dbr_counter_add(b->requests, 1);
            ok = dbr_next_call(next, call, &e);
            o = judge(b, ok ? NULL : e);
            /* An ignored outcome has no slot to give back (none was
             * taken); a success matters only if a failure came meanwhile. */
            if (o == OUTCOME_FAILURE ||
                (o == OUTCOME_SUCCESS && __atomic_load_n(&b->failing, __ATOMIC_ACQUIRE)))
                record(b, gen, o);
            if (ok)
                return true;
            return dbr_error_propagate(err, e);
        }
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
    record(b, gen, judge(b, ok ? NULL : e));
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
                             "unknown command %s: expected state, force_open or reset",
                             dbr_quote(command).text);
    }
    s = current(b, now, &t);
    c = b->c;
    g_mutex_unlock(&b->lock);
    announce(b, &t);
    if (reply) {
        char *text = g_strdup_printf(
            "state=%s requests=%" G_GUINT64_FORMAT " successes=%" G_GUINT64_FORMAT
            " failures=%" G_GUINT64_FORMAT " consecutive_successes=%" G_GUINT64_FORMAT
            " consecutive_failures=%" G_GUINT64_FORMAT " forced=%s",
            state_names[s], c.requests, c.total_successes, c.total_failures,
            c.consecutive_successes, c.consecutive_failures, b->forced ? "true" : "false");

        *reply = strdup(text);
        g_free(text);
    }
    return true;
}

/* The recovery probe: while open (and not forced), try a new connection at a
 * growing interval; the first that answers half-opens the breaker. */
static gpointer probe_main(gpointer data)
{
    breaker *b = data;
    int64_t interval = b->probe_us;

    g_mutex_lock(&b->lock);
    while (!b->stopping) {
        transition t = {0};
        guint64 gen;
        dbr_error *e = NULL;
        dbr_ctx *ctx;
        bool ok;

        if (b->st != ST_OPEN || b->forced) {
            interval = b->probe_us;
            g_cond_wait(&b->probe_wake, &b->lock);
            continue;
        }
        /* Real time: this paces I/O, it is not the state machine's clock. */
        {
            gint64 until = g_get_monotonic_time() + interval;

            while (!b->stopping && b->st == ST_OPEN &&
                   g_cond_wait_until(&b->probe_wake, &b->lock, until))
                ;
        }
        if (b->stopping || b->st != ST_OPEN || b->forced)
            continue;
        gen = b->generation;
        ctx = dbr_ctx_with_timeout(MAX(interval, b->probe_max_us) / 1000);
        b->probe_ctx = ctx;
        g_mutex_unlock(&b->lock);
        ok = dbr_host_probe(b->host, ctx, &e);
        dbr_counter_add(ok ? b->probes_ok : b->probes_failed, 1);
        g_mutex_lock(&b->lock);
        b->probe_ctx = NULL;
        dbr_ctx_free(ctx);
        if (ok && !b->stopping && gen == b->generation && b->st == ST_OPEN && !b->forced) {
            /* Half-open, not closed: the probe proves the server takes
             * sessions, not that it has disk or memory again (resource),
             * so max_requests real calls decide. */
            set_state(b, ST_HALF_OPEN, dbr_host_coarse_now_us(b->host), &t);
            interval = b->probe_us;
        } else {
            interval = MIN(interval * 2, b->probe_max_us);
        }
        dbr_error_free(e);
        if (t.happened) {
            g_mutex_unlock(&b->lock);
            announce(b, &t);
            g_mutex_lock(&b->lock);
        }
    }
    g_mutex_unlock(&b->lock);
    return NULL;
}

static bool breaker_open(void *self, dbr_db *db, dbr_error **err)
{
    breaker *b = self;
    GError *gerr = NULL;

    if (!b->probe_us)
        return true;
    b->prober = g_thread_try_new("dbr-breaker", probe_main, b, &gerr);
    if (!b->prober) {
        dbr_set_error(err, DBR_ERR_PLUGIN, LAYER, "cannot start the probe thread: %s",
                      gerr->message);
        g_error_free(gerr);
        return false;
    }
    return true;
}

static void breaker_close(void *self, dbr_db *db)
{
    breaker *b = self;

    if (!b->prober)
        return;
    g_mutex_lock(&b->lock);
    b->stopping = true;
    if (b->probe_ctx)
        dbr_ctx_cancel(b->probe_ctx); /* a probe stuck on a dead server ends now */
    g_cond_broadcast(&b->probe_wake);
    g_mutex_unlock(&b->lock);
    g_thread_join(b->prober);
    b->prober = NULL;
}

static const struct dbr_plugin_ops breaker_ops = {
    .struct_size = sizeof(struct dbr_plugin_ops),
    .create = breaker_create,
    .destroy = breaker_destroy,
    .handle = breaker_handle,
    .control = breaker_control,
    .open = breaker_open,
    .close = breaker_close,
};

DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "breaker", "1.0.0",
                  "circuit breaker: closed, open, half-open (gobreaker model)", &breaker_ops)
