/* SPDX-License-Identifier: MIT */
/*
 * The connection pool.
 *
 * Semantics of Go's database/sql: max_open (0 = unlimited), max_idle,
 * a maximum lifetime and a maximum idle time per connection, stats as
 * sql.DBStats. Beyond it:
 *   - waiters are served strictly FIFO: a returned connection is handed to
 *     the oldest waiter directly, so a newcomer can never overtake it;
 *   - each lifetime is shortened by a random 0-10%, so connections opened
 *     together do not all expire together;
 *   - a connection idle for longer than conn_validate_after is checked
 *     (driver alive(), no round trip) before it is handed out;
 *   - a connection that comes back inside a transaction is rolled back, and
 *     discarded if that fails; a broken one is always discarded;
 *   - no session state crosses borrowers: a connection whose user may have
 *     changed its session (SET, SET ROLE, a temporary table, PREPARE,
 *     LISTEN, a session advisory lock, a held cursor; the driver tells) is
 *     reset before it is kept (`reset =`, docs/configuration.md). Only those
 *     uses pay the round trip, and the one who made the change pays it;
 *   - once a connection is found ended by the server (terminated, shut
 *     down, crashed), every connection idle since before then is suspect
 *     and pinged before it is handed out, so one event does not hand each
 *     retry another dead connection (as Npgsql and HikariCP do);
 *   - when the server refuses a new session for lack of slots (class 53,
 *     "too many clients") while the pool has connections of its own, the
 *     caller waits for one of those instead of failing, and no new
 *     connection is tried for a while (50 ms, doubling to 5 s).
 *
 * The lock is held only for list and counter updates; connecting, closing
 * and rolling back happen outside it. Expiry decisions read the coarse
 * monotonic clock (tick resolution, a fifth of the cost): lifetimes and idle
 * times are seconds to hours, and this is the hot path of every call.
 */
#include <glib.h>
#include <string.h>

#include "ctx.h"
#include "park.h"
#include "pool.h"

/* Why a waiter was woken (its park word). */
enum { WOKEN_LOOK = 1, WOKEN_HANDED };

typedef struct waiter {
    dbr_park park;
    dbr_pconn *conn;  /* handed over by a returning connection */
    bool slot;        /* or: leave to open a connection of its own */
    int64_t start_us; /* dbr_now_us when it began to wait */
} waiter;

struct dbr_pool {
    const struct dbr_driver_ops *drv;
    const dbr_settings *st;
    GMutex lock;
    dbr_pconn *idle; /* most recently returned first */
    int nidle;
    int open; /* connected or connecting, in use or idle */
    int in_use;
    GQueue waiters; /* waiter *, oldest first */
    bool closing;   /* dbr_close has begun: nobody waits any more */
    long long wait_count, wait_duration_us;
    long long max_idle_closed, max_idle_time_closed, max_lifetime_closed;
    guint epoch;               /* bumped when a connection is found ended */
    int64_t refuse_until_us;   /* dbr_now_us: open nothing new before, while others are open */
    int64_t refuse_backoff_us; /* the last refusal's pause; 0 after a connect succeeds */
    dbr_pool_counters counters;
    bool reset_warned;
    guint64 next_id; /* atomic: connection ids, from 1 */
};

static void put(dbr_pool *pool, dbr_pconn *pc, bool discard, bool note_death);

dbr_pool *dbr_pool_new(const struct dbr_driver_ops *drv, const dbr_settings *st)
{
    dbr_pool *pool = g_new0(dbr_pool, 1);

    pool->drv = drv;
    pool->st = st;
    g_mutex_init(&pool->lock);
    g_queue_init(&pool->waiters);
    return pool;
}

static void close_list(dbr_pool *pool, dbr_pconn *list)
{
    while (list) {
        dbr_pconn *next = list->next;

        pool->drv->close(list->dc);
        g_free(list);
        list = next;
    }
}

void dbr_pool_free(dbr_pool *pool)
{
    if (!pool)
        return;
    if (pool->in_use)
        dbr_log(DBR_LOG_WARNING, "core", NULL, "closing a db with %d connection(s) still in use",
                pool->in_use);
    close_list(pool, pool->idle);
    g_mutex_clear(&pool->lock);
    g_free(pool);
}

/* With the lock held: whether the server refuses new sessions for now,
 * while the pool has connections of its own to serve from. */
static bool refusing(const dbr_pool *pool)
{
    return pool->open > 0 && pool->refuse_until_us && dbr_now_us() < pool->refuse_until_us;
}

/* With the lock held: a slot freed up; let the oldest waiter open a
 * connection (not while the server refuses them: the waiters then wait for
 * a returned connection, or for the pause to end). */
static void grant_slot(dbr_pool *pool)
{
    waiter *w;

    if (refusing(pool) || !(w = g_queue_pop_head(&pool->waiters)))
        return;
    pool->open++;
    pool->in_use++;
    pool->wait_duration_us += dbr_now_us() - w->start_us;
    w->slot = true;
    dbr_park_wake(&w->park, WOKEN_LOOK);
}

static dbr_pconn *pool_connect(dbr_pool *pool, dbr_ctx *ctx, dbr_error **err)
{
    dbr_driver_conn *dc = NULL;
    dbr_wait wait;
    dbr_pconn *pc;

    if (dbr_ctx_wait(ctx, pool->st->cancel_grace_us, &wait, err)) {
        wait = dbr_wait_within(wait, pool->st->connect_timeout_us);
        dc = pool->drv->connect(pool->st->conninfo, &pool->st->driver_opts, &wait, err);
        if (!dc && err && *err && dbr_error_kind_of(*err) == DBR_ERR_TIMEOUT &&
            !dbr_ctx_done(ctx)) {
            /* connect_timeout ran out, not the caller's deadline: a server
             * that does not answer a connect is a connection failure. */
            dbr_error *e = dbr_error_wrap(*err, DBR_ERR_CONNECTION, "pool",
                                          "no answer within connect_timeout");

            dbr_error_set_phase(e, DBR_PHASE_CONNECT);
            dbr_error_set_transient(e, true);
            dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
            *err = e;
        }
    }
    if (!dc) {
        bool refused = err && *err && dbr_error_kind_of(*err) == DBR_ERR_RESOURCE &&
                       dbr_error_phase_of(*err) == DBR_PHASE_CONNECT;

        g_mutex_lock(&pool->lock);
        pool->open--;
        pool->in_use--;
        if (refused) {
            /* No slots on the server: pause new connects before the slot
             * goes to a waiter, who would only be refused again. */
            pool->counters.refused++;
            pool->refuse_backoff_us = pool->refuse_backoff_us
                                          ? MIN(pool->refuse_backoff_us * 2, 5 * G_TIME_SPAN_SECOND)
                                          : 50 * G_TIME_SPAN_MILLISECOND;
            pool->refuse_until_us = dbr_now_us() + pool->refuse_backoff_us;
        }
        grant_slot(pool);
        g_mutex_unlock(&pool->lock);
        return NULL;
    }
    if (__atomic_load_n(&pool->refuse_backoff_us, __ATOMIC_RELAXED)) {
        g_mutex_lock(&pool->lock);
        pool->refuse_backoff_us = 0;
        pool->refuse_until_us = 0;
        g_mutex_unlock(&pool->lock);
    }
    pc = g_new0(dbr_pconn, 1);
    pc->dc = dc;
    pc->id = __atomic_add_fetch(&pool->next_id, 1, __ATOMIC_RELAXED);
    pc->epoch = __atomic_load_n(&pool->epoch, __ATOMIC_RELAXED);
    pc->created_us = dbr_coarse_now_us();
    if (pool->st->max_lifetime_us) {
        int64_t spread = pool->st->max_lifetime_us / 10;

        pc->expires_us = pc->created_us + pool->st->max_lifetime_us -
                         (spread > 0 ? g_random_int_range(0, (gint32)MIN(spread, G_MAXINT32)) : 0);
    }
    return pc;
}

static void wake_waiter(void *arg)
{
    void **pw = arg; /* {pool, waiter} */
    dbr_pool *pool = pw[0];
    waiter *w = pw[1];

    g_mutex_lock(&pool->lock);
    dbr_park_wake(&w->park, WOKEN_LOOK);
    g_mutex_unlock(&pool->lock);
}

/* Why an idle connection is due to be closed, if it is. */
typedef enum { FIT, PAST_LIFETIME, PAST_IDLE_TIME } expiry;

/* Whether pc has outlived its lifetime, or been idle for 1/share of
 * conn_max_idle_time; the lifetime counts first when both hold. */
static expiry expiry_of(const dbr_pool *pool, const dbr_pconn *pc, int64_t now, int share)
{
    if (pc->expires_us && now >= pc->expires_us)
        return PAST_LIFETIME;
    if (pool->st->max_idle_time_us && now - pc->returned_us >= pool->st->max_idle_time_us / share)
        return PAST_IDLE_TIME;
    return FIT;
}

/* With the lock held: an idle connection, already unlinked, leaves the
 * pool, counted by why it goes; it is closed from *dead outside the lock. */
static void retire(dbr_pool *pool, dbr_pconn *pc, expiry why, dbr_pconn **dead)
{
    if (why == PAST_LIFETIME)
        pool->max_lifetime_closed++;
    else if (why == PAST_IDLE_TIME)
        pool->max_idle_time_closed++;
    pool->open--;
    pool->nidle--;
    pc->next = *dead;
    *dead = pc;
}

/* The connection this thread last checked out, per pool: a thread gets it
 * back when it is idle (HikariCP's ConcurrentBag keeps the same affinity).
 * Threads that keep their connection keep their backend, and the scheduler
 * stops moving them after each other's; without it two threads on a pool of
 * two swap connections on most calls and run at half the speed of two
 * threads on raw client connections. An id, not a pointer: the connection may be gone. One per
 * thread, for the pool it used last: a thread that alternates between two
 * dbs keeps no affinity (a cost, not a fault). */
static _Thread_local struct {
    const dbr_pool *pool;
    guint64 id;
} last_used;

/* With the lock held: unlinks and returns this thread's last connection
 * when it is idle and fit, or NULL. */
static dbr_pconn *take_own(dbr_pool *pool, int64_t now)
{
    dbr_pconn **link;

    if (last_used.pool != pool || !pool->idle || pool->idle->id == last_used.id)
        return NULL; /* not this pool's, or at the head: take_idle's first pick */
    for (link = &pool->idle->next; *link; link = &(*link)->next) {
        dbr_pconn *pc = *link;

        if (pc->id != last_used.id)
            continue;
        /* Expired, or idle for half of conn_max_idle_time: left where it
         * is, so that after a burst the connections nobody takes first
         * still age out (expired ones are closed by take_idle at the head,
         * or by the next prune). */
        if (expiry_of(pool, pc, now, 2) != FIT)
            return NULL;
        *link = pc->next;
        pool->nidle--;
        pool->in_use++;
        return pc;
    }
    return NULL;
}

/* With the lock held: takes the most recent idle connection that is still
 * within its lifetime and idle time; expired ones go on *dead. */
static dbr_pconn *take_idle(dbr_pool *pool, int64_t now, dbr_pconn **dead)
{
    dbr_pconn *own = take_own(pool, now);

    if (own)
        return own;
    while (pool->idle) {
        dbr_pconn *pc = pool->idle;
        expiry why = expiry_of(pool, pc, now, 1);

        pool->idle = pc->next;
        if (why == FIT) {
            pool->nidle--;
            pool->in_use++;
            return pc;
        }
        retire(pool, pc, why, dead);
    }
    return NULL;
}

bool dbr_driver_ping(const struct dbr_driver_ops *drv, dbr_driver_conn *dc, const dbr_wait *wait,
                     dbr_error **err)
{
    dbr_driver_result *r;

    if (DBR_OPS_HAS(struct dbr_driver_ops, drv, ping) && drv->ping)
        return drv->ping(dc, wait, err);
    r = drv->exec(dc, "SELECT 1", NULL, 0, wait, err);
    if (r)
        drv->result_free(r);
    return r != NULL;
}

/* Outside the lock: pings a connection that was idle when another was found
 * ended by the server. */
static bool validate(dbr_pool *pool, dbr_pconn *pc, dbr_ctx *ctx)
{
    dbr_wait wait;
    bool ok;

    if (!dbr_ctx_wait(ctx, 0, &wait, NULL))
        return false;
    wait = dbr_wait_within(wait, pool->st->cancel_timeout_us);
    ok = dbr_driver_ping(pool->drv, pc->dc, &wait, NULL);
    g_mutex_lock(&pool->lock);
    pool->counters.validated++;
    if (!ok)
        pool->counters.validate_failed++;
    g_mutex_unlock(&pool->lock);
    return ok;
}

/* After a failed connect: true (the error dropped, the lock held) when the
 * server refused the session for lack of slots while the pool has
 * connections of its own, so the caller should wait for one of those. A
 * caller refused for longer than connect_timeout hears the refusal. */
static bool refused_for_slots(dbr_pool *pool, dbr_error **e, int64_t *since)
{
    int64_t now;

    if (!*e || dbr_error_kind_of(*e) != DBR_ERR_RESOURCE ||
        dbr_error_phase_of(*e) != DBR_PHASE_CONNECT)
        return false;
    now = dbr_now_us();
    if (!*since)
        *since = now;
    if (now - *since >= pool->st->connect_timeout_us)
        return false;
    g_mutex_lock(&pool->lock);
    if (pool->open == 0) {
        g_mutex_unlock(&pool->lock);
        return false; /* nothing to serve from: the caller hears it */
    }
    dbr_error_free(*e);
    *e = NULL;
    return true;
}

/* With the lock held and a slot taken (open and in_use counted): drops the
 * lock and connects. NULL with *e set: the caller's failure; NULL without
 * one: the server refused for lack of slots and the lock is held again, so
 * the caller waits for a connection of the pool's own. */
static dbr_pconn *connect_unlocked(dbr_pool *pool, dbr_ctx *ctx, dbr_pconn **dead, dbr_error **e,
                                   int64_t *refused_since)
{
    dbr_pconn *pc;

    g_mutex_unlock(&pool->lock);
    close_list(pool, *dead);
    *dead = NULL;
    pc = pool_connect(pool, ctx, e);
    if (!pc && refused_for_slots(pool, e, refused_since))
        return NULL;
    if (!pc && !*e)
        *e = dbr_error_new(DBR_ERR_CONNECTION, "pool", "cannot connect");
    return pc;
}

dbr_pconn *dbr_pool_get(dbr_pool *pool, dbr_ctx *ctx, dbr_error **err)
{
    dbr_pconn *dead = NULL, *pc = NULL;
    dbr_error *e = NULL;
    waiter w;
    void *wake_arg[2] = {pool, &w};
    dbr_ctx_waker waker = {.fn = wake_waiter, .arg = wake_arg};
    bool registered = false;
    int64_t refused_since = 0;

    if (!dbr_ctx_check(ctx, "waiting for a connection", err))
        return NULL;
    /* Ready before the waker can see it. */
    memset(&w, 0, sizeof(w));
    dbr_park_init(&w.park);
    g_mutex_lock(&pool->lock);
    for (;;) {
        int64_t now = dbr_coarse_now_us(), until;
        bool paused, may_open;

        pc = take_idle(pool, now, &dead);
        if (pc) {
            guint epoch = pool->epoch;
            bool suspect = pc->epoch != epoch;
            bool ok;

            g_mutex_unlock(&pool->lock);
            close_list(pool, dead);
            dead = NULL;
            if (suspect)
                ok = validate(pool, pc, ctx);
            else
                ok = !(pool->st->validate_after_us &&
                       now - pc->returned_us >= pool->st->validate_after_us &&
                       DBR_OPS_HAS(struct dbr_driver_ops, pool->drv, alive) &&
                       !pool->drv->alive(pc->dc));
            if (!ok) {
                put(pool, pc, true, !suspect);
                pc = NULL;
                if (!dbr_ctx_check(ctx, "waiting for a connection", err))
                    goto out;
                g_mutex_lock(&pool->lock);
                continue;
            }
            pc->epoch = epoch;
            goto out;
        }
        paused = refusing(pool);
        may_open = !pool->st->max_open || pool->open < pool->st->max_open;
        if (may_open && !paused) {
            pool->open++;
            pool->in_use++;
            if (!(pc = connect_unlocked(pool, ctx, &dead, &e, &refused_since)) && !e)
                continue;
            goto out;
        }
        /* Full, or the server refuses more: queue up. The ctx lock is taken
         * before the pool lock by a canceling thread, so register the waker
         * without holding ours. */
        if (ctx && !registered) {
            g_mutex_unlock(&pool->lock);
            dbr_ctx_add_waker(ctx, &waker);
            registered = true;
            g_mutex_lock(&pool->lock);
            continue;
        }
        g_queue_push_tail(&pool->waiters, &w);
        pool->wait_count++;        /* as Go's WaitCount: counted when the wait starts */
        w.start_us = dbr_now_us(); /* the one who pops it adds the wait to the total */
        /* While refusing, wake when the pause ends to try a connect again. */
        until = paused && may_open ? pool->refuse_until_us : 0;
        if (dbr_ctx_deadline(ctx) && (!until || dbr_ctx_deadline(ctx) < until))
            until = dbr_ctx_deadline(ctx);
        for (;;) {
            dbr_park_arm(&w.park);
            if (w.conn || w.slot || pool->closing || dbr_ctx_done(ctx) ||
                (until && dbr_now_us() >= until))
                break;
            g_mutex_unlock(&pool->lock);
            /* Handed a connection: the hand-off was the last write to w,
             * so go on without the lock the returning thread may still
             * hold. Anything else is looked at under it. */
            if (dbr_park_wait(&w.park, until) == WOKEN_HANDED) {
                pc = w.conn;
                goto out;
            }
            g_mutex_lock(&pool->lock);
        }
        if (!w.conn && !w.slot) {
            g_queue_remove(&pool->waiters, &w);
            pool->wait_duration_us += dbr_now_us() - w.start_us;
        }
        if (w.conn) {
            pc = w.conn;
        } else if (w.slot) {
            w.slot = false;
            if (!(pc = connect_unlocked(pool, ctx, &dead, &e, &refused_since)) && !e)
                continue;
            goto out;
        } else if (pool->closing) {
            g_mutex_unlock(&pool->lock);
            e = dbr_error_new(DBR_ERR_MISUSE, "pool",
                              "the db is closing (dbr_close): no connection will come");
            dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
            goto out;
        } else if (!dbr_ctx_done(ctx)) {
            continue; /* the pause is over: try again */
        } else {
            g_mutex_unlock(&pool->lock);
            dbr_ctx_check(ctx, "waiting for a connection", &e);
            if (e && dbr_error_kind_of(e) == DBR_ERR_TIMEOUT) {
                /* Say what the caller waited for: the pool, not the server. */
                e = pool->refuse_backoff_us
                        ? dbr_error_wrap(e, DBR_ERR_POOL_EXHAUSTED, "pool",
                                         "the server refuses new connections (no free slots) "
                                         "and the pool's own are in use")
                        : dbr_error_wrap(e, DBR_ERR_POOL_EXHAUSTED, "pool",
                                         "all %d connections in use", pool->st->max_open);
            }
            goto out;
        }
        g_mutex_unlock(&pool->lock);
        goto out;
    }
out:
    if (pc) {
        last_used.pool = pool;
        last_used.id = pc->id;
    }
    close_list(pool, dead);
    if (registered)
        dbr_ctx_remove_waker(ctx, &waker);
    dbr_park_clear(&w.park);
    if (e)
        dbr_error_propagate(err, e);
    return pc;
}

/* Outside the lock: returns the session to how a new connection starts,
 * when its user may have changed it (or always, as configured). */
static bool reset_session(dbr_pool *pool, dbr_pconn *pc)
{
    const dbr_settings *st = pool->st;
    dbr_error *e = NULL;
    dbr_wait wait;
    bool ok, warn;

    if (st->reset == DBR_RESET_NONE ||
        !DBR_OPS_HAS(struct dbr_driver_ops, pool->drv, session_reset) ||
        !pool->drv->session_reset || !pool->drv->session_changed)
        return true;
    if (st->reset == DBR_RESET_AUTO && !pool->drv->session_changed(pc->dc))
        return true;
    wait = dbr_wait_own(st->cancel_timeout_us, st->cancel_grace_us);
    ok = pool->drv->session_reset(pc->dc, st->reset == DBR_RESET_SQL ? st->reset_sql : NULL, &wait,
                                  &e) &&
         pool->drv->txstatus(pc->dc) == DBR_TXSTATUS_IDLE;
    g_mutex_lock(&pool->lock);
    pool->counters.resets++;
    if (!ok)
        pool->counters.reset_failed++;
    /* A reset SQL that always fails costs a new connection per call: say
     * so, once. */
    warn = !ok && e && !pool->reset_warned;
    if (warn)
        pool->reset_warned = true;
    g_mutex_unlock(&pool->lock);
    if (warn)
        dbr_log(DBR_LOG_WARNING, "core", NULL,
                "[database] reset: the session reset failed (%s); the connection was closed, "
                "as will be every one whose reset fails",
                dbr_error_message(e));
    dbr_error_free(e);
    return ok;
}

/* Outside the lock: leaves the connection fit for the next user, or says no. */
static bool make_clean(dbr_pool *pool, dbr_pconn *pc)
{
    dbr_txstatus s = pool->drv->txstatus(pc->dc);
    dbr_driver_result *r;
    dbr_wait wait;

    if (s == DBR_TXSTATUS_IDLE)
        return reset_session(pool, pc);
    if (s != DBR_TXSTATUS_INTRANS && s != DBR_TXSTATUS_INERROR)
        return false;
    wait = dbr_wait_own(pool->st->cancel_timeout_us, pool->st->cancel_grace_us);
    r = pool->drv->exec(pc->dc, "ROLLBACK", NULL, 0, &wait, NULL);
    if (r)
        pool->drv->result_free(r);
    return r && pool->drv->txstatus(pc->dc) == DBR_TXSTATUS_IDLE && reset_session(pool, pc);
}

/* Returns a connection; note_death when its user may have found it ended (not a
 * validation ping, which only confirms what the epoch already says). */
static void put(dbr_pool *pool, dbr_pconn *pc, bool discard, bool note_death)
{
    int64_t now;
    waiter *w;
    bool broken;

    if (!pc)
        return;
    broken = note_death && pool->drv->txstatus(pc->dc) == DBR_TXSTATUS_BROKEN;
    if (!discard && !make_clean(pool, pc))
        discard = true;
    now = dbr_coarse_now_us();
    g_mutex_lock(&pool->lock);
    /* Ended under its user: the connections idle since may be too. */
    if (broken)
        pool->epoch++;
    if (!discard && pc->expires_us && now >= pc->expires_us) {
        pool->max_lifetime_closed++;
        discard = true;
    }
    if (discard) {
        pool->open--;
        pool->in_use--;
        grant_slot(pool);
    } else if ((w = g_queue_pop_head(&pool->waiters))) {
        /* Hand-off: in_use stays the same, the connection changes hands. */
        pc->returned_us = now;
        pool->wait_duration_us += dbr_now_us() - w->start_us;
        w->conn = pc;
        dbr_park_wake(&w->park, WOKEN_HANDED);
        pc = NULL;
    } else if (pool->nidle >= pool->st->max_idle) {
        pool->max_idle_closed++;
        pool->open--;
        pool->in_use--;
        discard = true;
    } else {
        pc->returned_us = now;
        pc->next = pool->idle;
        pool->idle = pc;
        pool->nidle++;
        pool->in_use--;
        pc = NULL;
    }
    g_mutex_unlock(&pool->lock);
    if (pc) {
        pool->drv->close(pc->dc);
        g_free(pc);
    }
}

void dbr_pool_put(dbr_pool *pool, dbr_pconn *pc, bool discard)
{
    put(pool, pc, discard, true);
}

void dbr_pool_begin_close(dbr_pool *pool)
{
    g_mutex_lock(&pool->lock);
    pool->closing = true;
    for (GList *l = pool->waiters.head; l; l = l->next)
        dbr_park_wake(&((waiter *)l->data)->park, WOKEN_LOOK);
    g_mutex_unlock(&pool->lock);
}

void dbr_pool_read_stats(dbr_pool *pool, dbr_pool_stats *out)
{
    g_mutex_lock(&pool->lock);
    out->max_open = pool->st->max_open;
    out->open = pool->open;
    out->in_use = pool->in_use;
    out->idle = pool->nidle;
    out->wait_count = pool->wait_count;
    out->wait_duration_us = pool->wait_duration_us;
    out->max_idle_closed = pool->max_idle_closed;
    out->max_idle_time_closed = pool->max_idle_time_closed;
    out->max_lifetime_closed = pool->max_lifetime_closed;
    g_mutex_unlock(&pool->lock);
}

void dbr_pool_read_counters(dbr_pool *pool, dbr_pool_counters *out)
{
    g_mutex_lock(&pool->lock);
    *out = pool->counters;
    g_mutex_unlock(&pool->lock);
}

int dbr_pool_waiting(dbr_pool *pool)
{
    int n;

    g_mutex_lock(&pool->lock);
    n = (int)g_queue_get_length(&pool->waiters);
    g_mutex_unlock(&pool->lock);
    return n;
}

int dbr_pool_prune(dbr_pool *pool, bool all)
{
    dbr_pconn *dead = NULL, *keep = NULL, *pc;
    int64_t now = dbr_coarse_now_us();
    int n = 0;

    g_mutex_lock(&pool->lock);
    while ((pc = pool->idle)) {
        expiry why = expiry_of(pool, pc, now, 1);

        pool->idle = pc->next;
        if (all || why != FIT) {
            retire(pool, pc, why, &dead);
            n++;
        } else {
            pc->next = keep;
            keep = pc;
        }
    }
    /* keep is reversed; put it back in most-recent-first order */
    while ((pc = keep)) {
        keep = pc->next;
        pc->next = pool->idle;
        pool->idle = pc;
    }
    for (int i = 0; i < n && g_queue_get_length(&pool->waiters); i++)
        grant_slot(pool);
    g_mutex_unlock(&pool->lock);
    close_list(pool, dead);
    return n;
}
