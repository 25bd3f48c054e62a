/* SPDX-License-Identifier: MIT */
/*
 * Waiting for the server without blocking past a deadline, and cancelling.
 *
 * libpq 15's PQcancel() blocks (a blocking connect, then a wait for EOF), so
 * it never runs on the caller's thread: a short-lived detached thread sends
 * the cancel request while the caller goes on waiting for the server's
 * answer, for a bounded grace period. If no answer comes, the caller breaks
 * the connection instead (the pool discards it), so a server that accepts
 * connections but never answers cannot hold a thread past its deadline.
 */
#include <errno.h>
#include <glib.h>
#include <poll.h>

#include "pq.h"

int pq_wait_socket(int fd, bool for_write, const dbr_wait *wait, int64_t deadline_us)
{
    struct pollfd p[2] = {{.fd = fd, .events = for_write ? POLLOUT : POLLIN},
                          {.fd = wait ? wait->cancel_fd : -1, .events = POLLIN}};

    for (;;) {
        int64_t left_ms = -1;
        int n;

        if (deadline_us) {
            int64_t now = dbr_now_us();

            if (now >= deadline_us)
                return 0;
            left_ms = (deadline_us - now + 999) / 1000;
            if (left_ms > G_MAXINT32)
                left_ms = G_MAXINT32;
        }
        n = poll(p, p[1].fd >= 0 ? 2 : 1, (int)left_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -2;
        if (n > 0 && p[1].fd >= 0 && (p[1].revents & POLLIN))
            return -1;
        if (n > 0)
            return 1;
    }
}

static gpointer cancel_thread(gpointer data)
{
    PGcancel *c = data;
    char buf[256];

    PQcancel(c, buf, sizeof(buf));
    PQfreeCancel(c);
    return NULL;
}

void pq_cancel_async(PGconn *pg)
{
    PGcancel *c = PQgetCancel(pg);
    GError *gerr = NULL;
    GThread *t;

    if (!c)
        return;
    t = g_thread_try_new("dbr-pq-cancel", cancel_thread, c, &gerr);
    if (!t) {
        g_warning("cannot start a cancel thread: %s", gerr->message);
        g_error_free(gerr);
        PQfreeCancel(c);
        return;
    }
    g_thread_unref(t); /* detached: it ends when the cancel request is done */
}

typedef struct sync_cancel {
    PGcancel *c;
    GMutex lock;
    GCond done_cond;
    bool done, ok, abandoned;
    char buf[256];
} sync_cancel;

static gpointer sync_cancel_thread(gpointer data)
{
    sync_cancel *s = data;
    bool ok = PQcancel(s->c, s->buf, sizeof(s->buf));
    bool abandoned;

    g_mutex_lock(&s->lock);
    s->ok = ok;
    s->done = true;
    abandoned = s->abandoned;
    g_cond_signal(&s->done_cond);
    g_mutex_unlock(&s->lock);
    if (abandoned) {
        /* The caller gave up waiting; whoever finishes last frees. */
        PQfreeCancel(s->c);
        g_mutex_clear(&s->lock);
        g_cond_clear(&s->done_cond);
        g_free(s);
    }
    return NULL;
}

bool pq_cancel(dbr_driver_conn *conn, const dbr_wait *wait, dbr_error **err)
{
    sync_cancel *s;
    GThread *t;
    bool done, ok;

    if (!conn || !conn->pg)
        return dbr_set_error(err, DBR_ERR_MISUSE, PQ_LAYER, "cancel: no connection");
    s = g_new0(sync_cancel, 1);
    s->c = PQgetCancel(conn->pg);
    if (!s->c) {
        g_free(s);
        return dbr_set_error(err, DBR_ERR_CONNECTION, PQ_LAYER, "cancel: connection is closed");
    }
    g_mutex_init(&s->lock);
    g_cond_init(&s->done_cond);
    t = g_thread_new("dbr-pq-cancel", sync_cancel_thread, s);
    g_thread_unref(t);
    g_mutex_lock(&s->lock);
    while (!s->done) {
        if (wait && wait->deadline_us) {
            if (!g_cond_wait_until(&s->done_cond, &s->lock, wait->deadline_us))
                break;
        } else {
            g_cond_wait(&s->done_cond, &s->lock);
        }
    }
    done = s->done;
    ok = s->ok;
    if (!done)
        s->abandoned = true;
    g_mutex_unlock(&s->lock);
    if (!done)
        return dbr_set_error(err, DBR_ERR_TIMEOUT, PQ_LAYER,
                             "cancel request got no answer before the deadline");
    if (!ok)
        dbr_set_error(err, DBR_ERR_CONNECTION, PQ_LAYER, "cancel request failed: %s", s->buf);
    PQfreeCancel(s->c);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->done_cond);
    g_free(s);
    return ok;
}
