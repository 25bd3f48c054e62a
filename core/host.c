/* SPDX-License-Identifier: MIT */
/*
 * Host services handed to plugins: clock, interruptible sleep, randomness,
 * events and metrics, and two ways to look at the database below the chain
 * (a breaker's recovery probe, a health check). Plugins reach time and
 * randomness only through here, which is what lets their tests run on a
 * fake clock.
 */
#include <glib.h>

#include "ctx.h"
#include "splitmix64.h"
#include "db.h"

void dbr_host_init(dbr_host *host, dbr_db *db, const dbr_clock *clock, uint64_t seed)
{
    host->db = db;
    host->metrics = db->metrics;
    host->events = db->events;
    if (clock && clock->now_us && clock->sleep_until)
        host->clock = *clock;
    host->rng = seed ? seed : (guint64)g_get_real_time() ^ ((guint64)(guintptr)db << 16);
}

bool dbr_host_one_shot(const dbr_host *host)
{
    return host && host->db && host->db->one_shot;
}

bool dbr_host_supports(const dbr_host *host, dbr_capability cap)
{
    return host && host->db && dbr_supports(host->db, cap);
}

const char *dbr_host_driver_name(const dbr_host *host)
{
    return host && host->db ? host->db->st->driver : "";
}

int64_t dbr_host_now_us(const dbr_host *host)
{
    return host->clock.now_us ? host->clock.now_us(host->clock.user) : dbr_now_us();
}

int64_t dbr_host_coarse_now_us(const dbr_host *host)
{
    return host->clock.now_us ? host->clock.now_us(host->clock.user) : dbr_coarse_now_us();
}

bool dbr_host_sleep(const dbr_host *host, dbr_ctx *ctx, int64_t us, dbr_error **err)
{
    int64_t until;
    bool slept;

    if (us < 0)
        us = 0;
    until = dbr_host_now_us(host) + us;
    slept = host->clock.sleep_until ? host->clock.sleep_until(host->clock.user, ctx, until)
                                    : dbr_ctx_sleep_until(ctx, until);
    if (slept)
        return true;
    return dbr_ctx_check(ctx, "sleep", err) &&
           dbr_set_error(err, DBR_ERR_INTERNAL, "core", "sleep ended early");
}

uint64_t dbr_host_random(const dbr_host *host)
{
    /* Lock-free, and every thread gets a distinct value. */
    return dbr_splitmix64(&((dbr_host *)host)->rng);
}

void dbr_host_publish(const dbr_host *host, const char *type, ...)
{
    va_list ap;

    va_start(ap, type);
    /* A subscriber runs on the publisher's thread, a plugin's own (the
     * health monitor's) included: dbr_close from it would wait for that
     * thread, so it is refused like one from inside a call. */
    dbr_gate_mark(host->db);
    dbr_events_publishv(host->events, type, ap);
    dbr_gate_unmark();
    va_end(ap);
}

const char *dbr_host_db_name(const dbr_host *host)
{
    return host->db->st->name;
}

dbr_counter *dbr_host_counter(const dbr_host *host, const char *name, const char *help,
                              const char *labels)
{
    return dbr_metrics_counter(host->metrics, name, help, labels);
}

dbr_gauge *dbr_host_gauge(const dbr_host *host, const char *name, const char *help,
                          const char *labels)
{
    return dbr_metrics_gauge(host->metrics, name, help, labels);
}

dbr_histogram *dbr_host_histogram(const dbr_host *host, const char *name, const char *help,
                                  const char *labels)
{
    return dbr_metrics_histogram(host->metrics, name, help, labels);
}

bool dbr_host_probe(const dbr_host *host, dbr_ctx *ctx, dbr_error **err)
{
    const dbr_db *db = host->db;
    dbr_driver_conn *dc;
    dbr_wait wait;
    bool ok;

    if (!dbr_ctx_wait(ctx, db->st->cancel_grace_us, &wait, err))
        return false;
    wait = dbr_wait_within(wait, db->st->connect_timeout_us);
    dc = db->drv->connect(db->st->conninfo, &db->st->driver_opts, &wait, err);
    if (!dc)
        return false;
    ok = dbr_driver_ping(db->drv, dc, &wait, err);
    db->drv->close(dc);
    return ok;
}

bool dbr_host_check(const dbr_host *host, dbr_ctx *ctx, const char *sql, dbr_error **err)
{
    dbr_db *db = host->db;
    dbr_call call = {
        .kind = sql ? DBR_CALL_QUERY : DBR_CALL_PING,
        .terminal = sql ? dbr_autocommit_terminal : dbr_ping_terminal,
        .run = dbr_exec_run,
        .db = db,
        .nstatements = sql ? 1 : 0,
        .ctx = ctx,
        .sql = sql,
        .idempotent = true,
    };
    /* Straight to the terminal: no plugin sees a check. */
    dbr_next below = {.db = db, .index = db->nlinks};

    if (db->check_only)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "this db was opened with check_only: it runs no calls");
    return dbr_next_call(&below, &call, err);
}

bool dbr_host_run_session(const dbr_host *host, dbr_ctx *ctx, const char *const *statements, int n,
                          int *done, dbr_error **err)
{
    dbr_db *db = host ? host->db : NULL;
    dbr_driver_conn *dc;
    dbr_wait wait, connecting;
    int i = 0;
    bool ok = true;

    if (done)
        *done = 0;
    if (!db || n < 0 || (n > 0 && !statements))
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_host_run_session: NULL host or statements, or n < 0");
    if (db->check_only)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "this db was opened with check_only: it runs no calls");
    if (!dbr_ctx_wait(ctx, db->st->cancel_grace_us, &wait, err))
        return false;
    /* Connecting has its own bound; the statements have the caller's. */
    connecting = dbr_wait_within(wait, db->st->connect_timeout_us);
    dc = db->drv->connect(db->st->conninfo, &db->st->driver_opts, &connecting, err);
    if (!dc)
        return false;
    for (; ok && i < n; i++) {
        if (!statements[i])
            ok = dbr_set_error(err, DBR_ERR_MISUSE, "core",
                               "dbr_host_run_session: statement %d is NULL", i + 1);
        else
            ok = dbr_ctx_check(ctx, "statement", err) &&
                 dbr_pooler_allows(db, statements[i], err) &&
                 dbr_run_script_on(db, dc, &wait, statements[i], err);
        /* Each one commits on its own: one that leaves a transaction open
         * (BEGIN) would make the ones after it uncommitted, and "done" a lie. */
        if (ok && db->drv->txstatus(dc) != DBR_TXSTATUS_IDLE)
            ok = dbr_set_error(err, DBR_ERR_MISUSE, "core",
                               "statement %d left a transaction open (BEGIN without COMMIT); it "
                               "was rolled back",
                               i + 1);
        if (ok && done)
            *done = i + 1;
    }
    db->drv->close(dc);
    return ok;
}
