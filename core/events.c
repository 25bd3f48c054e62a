/* SPDX-License-Identifier: MIT */
/*
 * Events: a type and name/value fields, delivered synchronously to every
 * subscriber on the publishing thread. Subscribers are copied out under the
 * lock and called outside it, so a slow subscriber never blocks another
 * thread's subscribe or publish.
 */
#include <glib.h>
#include <string.h>

#include "events.h"

#define MAX_FIELDS 16

struct dbr_event {
    const char *type;
    const char *fields[2 * MAX_FIELDS + 1];
};

typedef struct subscriber {
    dbr_event_fn fn;
    void *user;
} subscriber;

struct dbr_events {
    GMutex lock;
    GArray *subs; /* subscriber */
};

dbr_events *dbr_events_new(void)
{
    dbr_events *ev = g_new0(dbr_events, 1);

    g_mutex_init(&ev->lock);
    ev->subs = g_array_new(FALSE, FALSE, sizeof(subscriber));
    return ev;
}

void dbr_events_free(dbr_events *ev)
{
    if (!ev)
        return;
    g_array_free(ev->subs, TRUE);
    g_mutex_clear(&ev->lock);
    g_free(ev);
}

void dbr_events_subscribe(dbr_events *ev, dbr_event_fn fn, void *user)
{
    subscriber s = {fn, user};

    g_mutex_lock(&ev->lock);
    g_array_append_val(ev->subs, s);
    g_mutex_unlock(&ev->lock);
}

void dbr_events_publishv(dbr_events *ev, const char *type, va_list ap)
{
    dbr_event e = {.type = type};
    subscriber *copy;
    guint n;
    int i = 0;

    g_mutex_lock(&ev->lock);
    n = ev->subs->len;
    copy = n ? g_memdup2(ev->subs->data, n * sizeof(subscriber)) : NULL;
    g_mutex_unlock(&ev->lock);
    if (!n)
        return;
    for (const char *k; i < 2 * MAX_FIELDS && (k = va_arg(ap, const char *));) {
        e.fields[i++] = k;
        e.fields[i++] = va_arg(ap, const char *);
    }
    e.fields[i] = NULL;
    for (guint s = 0; s < n; s++)
        copy[s].fn(&e, copy[s].user);
    g_free(copy);
}

void dbr_events_publish(dbr_events *ev, const char *type, ...)
{
    va_list ap;

    va_start(ap, type);
    dbr_events_publishv(ev, type, ap);
    va_end(ap);
}

const char *dbr_event_type(const dbr_event *ev)
{
    return ev ? ev->type : NULL;
}

const char *dbr_event_get(const dbr_event *ev, const char *field)
{
    if (!ev || !field)
        return NULL;
    for (int i = 0; ev->fields[i]; i += 2)
        if (strcmp(ev->fields[i], field) == 0)
            return ev->fields[i + 1] ? ev->fields[i + 1] : "";
    return NULL;
}
