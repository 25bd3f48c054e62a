/* SPDX-License-Identifier: MIT */
/*
 * Deadlines and cancel on SQLite, which has no socket to poll: a progress
 * handler, called every SQ_PROGRESS_STEPS virtual machine steps, stops a
 * running statement (SQLITE_INTERRUPT, which rolls the statement back) once
 * the call's deadline has passed or its cancel descriptor turned readable;
 * a busy handler waits for another connection's lock in short sleeps, up to
 * _busy_timeout and never past the deadline or a cancel. Both see the call
 * through conn->wait, set for the duration of one driver call: a connection
 * is used by one thread at a time, so no lock is needed.
 *
 * SQLite answers at once when it is stopped, so the grace period of a
 * dbr_wait is not needed: the connection is always left usable.
 *
 * Once a statement commits, it is not stopped any more: SQLite calls the
 * progress handler once more after OP_Halt has committed (when its step
 * counter crosses a period there), and an interrupt then would report
 * committed work as rolled back. A commit hook marks the commit; the
 * progress handler lets the statement end, and should SQLITE_INTERRUPT come
 * all the same, sq_error says unknown, never not applied.
 */
#include <poll.h>

#include "sqlite.h"

/* About 20-100 us of work between checks: a deadline is met within a
 * millisecond, for a cost below one percent of a statement's time. */
#define SQ_PROGRESS_STEPS 1000

static bool canceled(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    /* A descriptor that is gone (a ctx freed while in use) stops too. */
    return fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLNVAL | POLLERR));
}

/* SQ_STOP_DEADLINE or _CANCEL when the call must stop now, else NONE. */
static sq_stop must_stop(const dbr_wait *w)
{
    if (!w)
        return SQ_STOP_NONE;
    if (canceled(w->cancel_fd))
        return SQ_STOP_CANCEL;
    if (w->deadline_us && dbr_now_us() >= w->deadline_us)
        return SQ_STOP_DEADLINE;
    return SQ_STOP_NONE;
}

static int on_progress(void *arg)
{
    dbr_driver_conn *conn = arg;
    sq_stop s;

    if (conn->committing)
        return 0;
    s = must_stop(conn->wait);
    if (s == SQ_STOP_NONE)
        return 0;
    conn->stop = s;
    return 1;
}

static int on_commit(void *arg)
{
    dbr_driver_conn *conn = arg;

    conn->committing = true;
    return 0; /* let it commit */
}

static int on_busy(void *arg, int count)
{
    dbr_driver_conn *conn = arg;
    int64_t now = dbr_now_us(), waited, pause;
    sq_stop s = must_stop(conn->wait);

    if (count == 0)
        conn->busy_since_us = now;
    if (s != SQ_STOP_NONE) {
        conn->stop = s;
        return 0;
    }
    waited = now - conn->busy_since_us;
    if (waited >= conn->busy_timeout_us) {
        conn->stop = SQ_STOP_BUSY;
        return 0;
    }
    /* 1, 2, 4 ... 32 ms: quick for short write transactions, gentle for a
     * long one; never past the busy timeout or the deadline. */
    pause = MIN((int64_t)1000 << MIN(count, 5), conn->busy_timeout_us - waited);
    if (conn->wait && conn->wait->deadline_us)
        pause = MIN(pause, MAX(conn->wait->deadline_us - now, 0) + 100);
    if (conn->wait && conn->wait->cancel_fd >= 0) {
        struct pollfd p = {.fd = conn->wait->cancel_fd, .events = POLLIN};

        (void)poll(&p, 1, (int)((pause + 999) / 1000));
    } else {
        g_usleep((gulong)pause);
    }
    return 1;
}

void sq_wait_install(dbr_driver_conn *conn)
{
    sqlite3_progress_handler(conn->db, SQ_PROGRESS_STEPS, on_progress, conn);
    sqlite3_busy_handler(conn->db, on_busy, conn);
    sqlite3_commit_hook(conn->db, on_commit, conn);
}

void sq_wait_begin(dbr_driver_conn *conn, const dbr_wait *wait)
{
    conn->wait = wait;
    conn->stop = SQ_STOP_NONE;
    conn->committing = false;
}

void sq_wait_statement(dbr_driver_conn *conn)
{
    conn->committing = false;
    conn->changes_before = sqlite3_total_changes64(conn->db);
}

void sq_wait_end(dbr_driver_conn *conn)
{
    conn->wait = NULL;
}

bool sq_wait_check(const dbr_wait *wait, dbr_error **err)
{
    sq_stop s = must_stop(wait);
    dbr_error *e;

    if (s == SQ_STOP_NONE)
        return true;
    e = dbr_error_new(s == SQ_STOP_CANCEL ? DBR_ERR_CANCELED : DBR_ERR_TIMEOUT, SQ_LAYER, "%s",
                      s == SQ_STOP_CANCEL ? "canceled before the statement ran"
                                          : "deadline exceeded before the statement ran");
    dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
    dbr_error_set_outcome(e, DBR_OUTCOME_NOT_APPLIED);
    return dbr_error_propagate(err, e);
}
