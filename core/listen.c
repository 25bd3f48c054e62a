/* SPDX-License-Identifier: MIT */
/*
 * LISTEN/NOTIFY that survives failures (dbr/listen.h).
 *
 * A listener owns one driver connection outside the pool and the set of
 * channels it listens on. When the connection is lost, dbr_listener_next
 * opens a new one (backing off, within the ctx), LISTENs again on every
 * channel, and only then returns a gap. The order is the point: whatever is
 * sent after the caller has seen the gap reaches the new connection, so a
 * caller that re-reads its state on a gap misses nothing.
 *
 * No plugin sees a listener: it runs no statement a caller asked for, and
 * its one long wait would only skew a breaker's or health's view.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include <dbr/listen.h>

#include "ctx.h"
#include "db.h"

/* Reconnect backoff: doubling from the first to the most, half of it
 * jittered, so that listeners of many processes do not reconnect in step. */
#define BACKOFF_FIRST_US (100 * G_TIME_SPAN_MILLISECOND)
#define BACKOFF_MAX_US   (5 * G_TIME_SPAN_SECOND)
/* Silence after which dbr_listener_next probes the connection (the default
 * of dbr_listener_set_keepalive). */
#define KEEPALIVE_DEFAULT_US (30 * G_TIME_SPAN_SECOND)
/* The longest a dbr_listener_next waits before it looks whether its db was
 * closed meanwhile: a wake-up four times a second on an idle listener. */
#define CLOSE_LOOK_US (250 * G_TIME_SPAN_MILLISECOND)

struct dbr_listener {
    dbr_db *db;
    dbr_driver_conn *dc; /* NULL: lost, not open again yet */
    GPtrArray *channels; /* g_strdup'ed names, as the caller wrote them */
    /* The connection was lost while channels were listened on: a gap is
     * owed, to be returned once a new connection listens on all of them. */
    bool missed;
    unsigned failures; /* reconnects failed in a row: the backoff's exponent */
    dbr_counter *reconnects;
    int64_t keepalive_us; /* silence before a probe; 0: never */
    int64_t heard_us;     /* the server's last sign of life on dc */
};

struct dbr_notification {
    char *channel; /* malloc'd by the driver; NULL for a gap */
    char *payload; /* malloc'd by the driver; NULL for a gap */
    int pid;
    bool missed;
};

static bool check_channel(const char *fn, const char *channel, dbr_error **err)
{
    if (!channel)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: channel is NULL", fn);
    /* How long a name may be is the driver's to say (its listen slot
     * refuses a longer one before sending anything). */
    if (!*channel)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: channel is empty", fn);
    return true;
}

/* After dbr_close a listener is only good for dbr_listener_free: its
 * connection goes at the first call that finds the db closed. */
static bool check_open(dbr_listener *l, const char *fn, dbr_error **err)
{
    if (!l)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: listener is NULL", fn);
    if (dbr_gate_closed(l->db)) {
        if (l->dc) {
            l->db->drv->close(l->dc);
            l->dc = NULL;
        }
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: its db is closed (dbr_close); nothing was sent: free the "
                             "listener",
                             fn);
    }
    return true;
}

static int find_channel(const dbr_listener *l, const char *channel)
{
    for (guint i = 0; i < l->channels->len; i++)
        if (strcmp(g_ptr_array_index(l->channels, i), channel) == 0)
            return (int)i;
    return -1;
}

/* Closes a lost (or given up) connection. */
static void drop(dbr_listener *l)
{
    if (!l->dc)
        return;
    l->db->drv->close(l->dc);
    l->dc = NULL;
    if (l->channels->len)
        l->missed = true;
}

/* One attempt: a new connection, bounded by connect_timeout and the ctx,
 * listening on every channel of the set before it is used. */
static bool connect_once(dbr_listener *l, dbr_ctx *ctx, dbr_error **err)
{
    const dbr_db *db = l->db;
    int64_t limit = dbr_now_us() + db->st->connect_timeout_us;
    dbr_driver_conn *dc;
    dbr_wait wait;

    if (!dbr_ctx_wait(ctx, db->st->cancel_grace_us, &wait, err))
        return false;
    /* LISTEN is one short round trip: the same bound covers it, so that a
     * server that accepts and then stalls cannot hold the caller for ever. */
    if (!wait.deadline_us || wait.deadline_us > limit)
        wait.deadline_us = limit;
    dc = db->drv->connect(db->st->conninfo, &db->st->driver_opts, &wait, err);
    if (!dc)
        return false;
    for (guint i = 0; i < l->channels->len; i++) {
        if (!db->drv->listen(dc, g_ptr_array_index(l->channels, i), true, &wait, err)) {
            db->drv->close(dc);
            return false;
        }
    }
    l->dc = dc;
    l->heard_us = dbr_now_us();
    return true;
}

static int64_t backoff_us(dbr_listener *l)
{
    int64_t us = BACKOFF_FIRST_US;

    for (unsigned i = 1; i < l->failures && us < BACKOFF_MAX_US; i++)
        us *= 2;
    us = MIN(us, BACKOFF_MAX_US);
    return us / 2 + (int64_t)(dbr_host_random(&l->db->host) % (uint64_t)(us / 2 + 1));
}

/* The ctx ended while reconnecting: its error, with the last attempt's
 * failure as the cause, which says why no connection came. */
static bool ctx_ended(dbr_ctx *ctx, dbr_error *last, dbr_error **err)
{
    dbr_error *e = NULL, *w;

    dbr_ctx_check(ctx, "dbr_listener_next", &e);
    if (!e) /* the sleep ended early on its own */
        return last ? dbr_error_propagate(err, last)
                    : dbr_set_error(err, DBR_ERR_INTERNAL, "core",
                                    "dbr_listener_next: the backoff sleep ended early");
    if (!last)
        return dbr_error_propagate(err, e);
    w = dbr_error_wrap(last, dbr_error_kind_of(e), "core", "%s while reconnecting the listener",
                       dbr_error_message(e));
    dbr_error_free(e);
    dbr_error_set_outcome(w, DBR_OUTCOME_NOT_APPLIED);
    return dbr_error_propagate(err, w);
}

/* A new connection listens on every channel again: counted, logged and
 * published, whichever call opened it. */
static void reopened(dbr_listener *l, unsigned attempts)
{
    const dbr_db *db = l->db;
    char na[16], nc[16];

    l->failures = 0;
    dbr_counter_add(l->reconnects, 1);
    g_snprintf(na, sizeof(na), "%u", attempts);
    g_snprintf(nc, sizeof(nc), "%u", l->channels->len);
    dbr_log(DBR_LOG_INFO, "core", NULL,
            "db \"%s\": listener reconnected (%s attempt(s)), listening again on %s channel(s)",
            db->st->name, na, nc);
    dbr_host_publish(&db->host, "listener.reconnected", "db", db->st->name, "attempts", na,
                     "channels", nc, NULL);
}

/* Whether waiting may change a failed attempt: what the driver calls
 * transient, a lost connection, and a timeout of connect_timeout's own
 * bound (the ctx's end is looked at before). */
static bool worth_retrying(const dbr_error *e)
{
    dbr_error_kind k = dbr_error_kind_of(e);

    return dbr_error_transient(e) || k == DBR_ERR_TIMEOUT || k == DBR_ERR_CONNECTION;
}

/* Until a new connection listens on every channel, or the ctx ends, or the
 * server refuses for a reason that waiting will not change (a password, a
 * database that is gone): then that error, and a later call tries again. */
static bool reconnect(dbr_listener *l, dbr_ctx *ctx, dbr_error **err)
{
    dbr_db *db = l->db;
    dbr_error *last = NULL;
    unsigned attempts = 0;

    for (;;) {
        int64_t pause = l->failures > 0 ? backoff_us(l) : 0;

        if (dbr_ctx_done(ctx))
            return ctx_ended(ctx, last, err);
        /* The pause in slices, looking whether the db was closed meanwhile */
        for (; pause > 0; pause -= CLOSE_LOOK_US) {
            if (!check_open(l, "dbr_listener_next", err)) {
                dbr_error_free(last);
                return false;
            }
            if (!dbr_host_sleep(&db->host, ctx, MIN(pause, CLOSE_LOOK_US), NULL))
                return ctx_ended(ctx, last, err);
        }
        dbr_error_free(last);
        last = NULL;
        if (!check_open(l, "dbr_listener_next", err))
            return false;
        attempts++;
        if (connect_once(l, ctx, &last)) {
            if (!check_open(l, "dbr_listener_next", err))
                return false; /* closed while connecting: the new one goes too */
            break;
        }
        l->failures++;
        dbr_log(DBR_LOG_DEBUG, "core", NULL, "db \"%s\": listener reconnect failed: %s",
                db->st->name, dbr_error_message(last));
        if (dbr_ctx_done(ctx))
            return ctx_ended(ctx, last, err);
        if (!worth_retrying(last))
            return dbr_error_propagate(err, last);
    }
    reopened(l, attempts);
    return true;
}

dbr_listener *dbr_listener_new(dbr_db *db, dbr_ctx *ctx, dbr_error **err)
{
    dbr_listener *l;
    char *labels;

    if (!db)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_listener_new: db is NULL"), NULL;
    if (db->check_only)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "this db was opened with check_only: it runs no calls"),
               NULL;
    if (!dbr_supports(db, DBR_CAP_LISTEN))
        return dbr_unsupported(db, "dbr_listener_new", err), NULL;
    /* A pooler in transaction mode hands each transaction to any server
     * session: LISTEN would hold on none of them, and nothing would come. */
    if (db->st->pooler_transaction)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_listener_new: LISTEN needs a session of its own, and [database] "
                             "pooler = transaction says a pooler hands out transactions: open "
                             "the listener on a db whose conninfo reaches the server directly"),
               NULL;
    /* Inside the gate while it opens, like a call: a dbr_close on another
     * thread waits for it, and after that the listener holds the db. */
    if (!dbr_gate_enter(db))
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_listener_new: the db is closing (dbr_close)"),
               NULL;
    l = g_new0(dbr_listener, 1);
    l->db = db;
    dbr_db_hold(db);
    l->channels = g_ptr_array_new_with_free_func(g_free);
    l->keepalive_us = KEEPALIVE_DEFAULT_US;
    labels = g_strdup_printf("db=\"%s\"", db->st->name);
    l->reconnects =
        dbr_metrics_counter(db->metrics, "dbr_listener_reconnects_total",
                            "Listener connections opened again after a loss (dbr_listener_next "
                            "then returns a gap).",
                            labels);
    g_free(labels);
    if (!connect_once(l, ctx, err)) {
        dbr_listener_free(l);
        l = NULL;
    }
    dbr_gate_leave(db);
    return l;
}

/* LISTEN or UNLISTEN on the listener's connection, opening one first when
 * it was lost (one attempt, which owes the caller a gap). LISTEN and
 * UNLISTEN change nothing but the session's set, so one lost under them is
 * tried once more on a new connection. */
static bool change(dbr_listener *l, dbr_ctx *ctx, const char *channel, bool on, const char *fn,
                   dbr_error **err)
{
    const struct dbr_driver_ops *drv;
    int at;

    if (!check_open(l, fn, err) || !check_channel(fn, channel, err))
        return false;
    drv = l->db->drv;
    at = find_channel(l, channel);
    if (on == (at >= 0))
        return true;
    for (int attempt = 0;; attempt++) {
        dbr_error *e = NULL;
        dbr_wait wait;

        /* A new connection will not LISTEN on it: nothing to tell the server. */
        if (!on && !l->dc) {
            g_ptr_array_remove_index(l->channels, (guint)at);
            return true;
        }
        if (!l->dc) {
            if (!connect_once(l, ctx, err))
                return false;
            reopened(l, 1);
        }
        if (!dbr_ctx_wait(ctx, l->db->st->cancel_grace_us, &wait, err))
            return false;
        if (drv->listen(l->dc, channel, on, &wait, &e)) {
            if (on)
                g_ptr_array_add(l->channels, g_strdup(channel));
            else
                g_ptr_array_remove_index(l->channels, (guint)at);
            return true;
        }
        if (drv->txstatus(l->dc) != DBR_TXSTATUS_BROKEN)
            return dbr_error_propagate(err, e);
        drop(l);
        if (attempt > 0 || dbr_ctx_done(ctx))
            return dbr_error_propagate(err, e);
        dbr_error_free(e);
    }
}

bool dbr_listener_listen(dbr_listener *l, dbr_ctx *ctx, const char *channel, dbr_error **err)
{
    return change(l, ctx, channel, true, "dbr_listener_listen", err);
}

bool dbr_listener_unlisten(dbr_listener *l, dbr_ctx *ctx, const char *channel, dbr_error **err)
{
    return change(l, ctx, channel, false, "dbr_listener_unlisten", err);
}

/* Nothing has come for keepalive: the empty query, to be answered within
 * connect_timeout (or the ctx). Through exec, which keeps the notifications
 * that arrive meanwhile on a listener's connection. No answer: the driver
 * gives the connection up (txstatus BROKEN), and the caller's next
 * notify_wait hands out what was queued, then reports the loss. False only
 * when the ctx cannot be waited on. */
static bool probe(dbr_listener *l, dbr_ctx *ctx, dbr_error **err)
{
    const struct dbr_driver_ops *drv = l->db->drv;
    int64_t limit = dbr_now_us() + l->db->st->connect_timeout_us;
    dbr_driver_result *r;
    dbr_error *e = NULL;
    dbr_wait wait;

    if (!dbr_ctx_wait(ctx, l->db->st->cancel_grace_us, &wait, err))
        return false;
    if (!wait.deadline_us || wait.deadline_us > limit)
        wait.deadline_us = limit;
    r = drv->exec(l->dc, "", NULL, 0, &wait, &e);
    if (r)
        drv->result_free(r);
    if (!r && drv->txstatus(l->dc) == DBR_TXSTATUS_BROKEN)
        dbr_log(DBR_LOG_NOTICE, "core", NULL,
                "db \"%s\": listener connection gave no answer to a keepalive probe (%s)",
                l->db->st->name, dbr_error_message(e));
    else /* an answer, even an error (a cancel's, at the ctx's end) */
        l->heard_us = dbr_now_us();
    dbr_error_free(e);
    return true;
}

dbr_notification *dbr_listener_next(dbr_listener *l, dbr_ctx *ctx, dbr_error **err)
{
    const struct dbr_driver_ops *drv;

    if (!check_open(l, "dbr_listener_next", err))
        return NULL;
    drv = l->db->drv;
    for (;;) {
        dbr_notification *n;
        char *channel = NULL, *payload = NULL;
        dbr_error *e = NULL;
        dbr_wait wait;
        int64_t probe_at;
        int pid = 0, r;

        /* dbr_close on another thread: looked at between waits, each at
         * most CLOSE_LOOK_US long, so that a thread looping here ends and
         * the listener's connection goes soon after the db closed. */
        if (!check_open(l, "dbr_listener_next", err))
            return NULL;
        if (!l->dc && !reconnect(l, ctx, err))
            return NULL;
        if (l->missed) {
            /* Every channel is listened on again: what is sent from now on
             * comes after this gap. */
            l->missed = false;
            n = g_new0(dbr_notification, 1);
            n->missed = true;
            return n;
        }
        if (!dbr_ctx_wait(ctx, l->db->st->cancel_grace_us, &wait, err))
            return NULL;
        /* Waiting stops when a probe is due; notifications already come
         * are handed out first. */
        probe_at = l->keepalive_us ? l->heard_us + l->keepalive_us : 0;
        if (probe_at && (!wait.deadline_us || wait.deadline_us > probe_at))
            wait.deadline_us = probe_at;
        if (!wait.deadline_us || wait.deadline_us > dbr_now_us() + CLOSE_LOOK_US)
            wait.deadline_us = dbr_now_us() + CLOSE_LOOK_US;
        r = drv->notify_wait(l->dc, &wait, &channel, &payload, &pid, &e);
        if (r == 1) {
            l->heard_us = dbr_now_us();
            n = g_new0(dbr_notification, 1);
            n->channel = channel;
            n->payload = payload;
            n->pid = pid;
            return n;
        }
        if (r == 0) {
            if (!dbr_ctx_check(ctx, "dbr_listener_next", err))
                return NULL;
            if (!probe_at || dbr_now_us() < probe_at)
                continue;
            if (!probe(l, ctx, err))
                return NULL;
            continue;
        }
        if (drv->txstatus(l->dc) != DBR_TXSTATUS_BROKEN)
            return dbr_error_propagate(err, e), NULL;
        dbr_log(DBR_LOG_NOTICE, "core", NULL,
                "db \"%s\": listener connection lost (%s); reconnecting", l->db->st->name,
                dbr_error_message(e));
        dbr_error_free(e);
        drop(l);
    }
}

void dbr_listener_set_keepalive(dbr_listener *l, long long ms)
{
    if (l)
        l->keepalive_us = ms > 0 ? MIN(ms, G_MAXINT64 / 1000) * G_TIME_SPAN_MILLISECOND : 0;
}

void dbr_listener_free(dbr_listener *l)
{
    if (!l)
        return;
    if (l->dc)
        l->db->drv->close(l->dc);
    g_ptr_array_free(l->channels, TRUE);
    dbr_db_release(l->db);
    g_free(l);
}

const char *dbr_notification_channel(const dbr_notification *n)
{
    return n ? n->channel : NULL;
}

const char *dbr_notification_payload(const dbr_notification *n)
{
    return n && n->payload ? n->payload : "";
}

int dbr_notification_pid(const dbr_notification *n)
{
    return n ? n->pid : 0;
}

bool dbr_notification_missed(const dbr_notification *n)
{
    return n && n->missed;
}

void dbr_notification_free(dbr_notification *n)
{
    if (!n)
        return;
    free(n->channel);
    free(n->payload);
    g_free(n);
}
