/* SPDX-License-Identifier: MIT */
/*
 * Events: a type and name/value fields, delivered synchronously to every
 * subscriber on the publishing thread. Publishing holds a read lock while it
 * calls the subscribers, so that unsubscribing (a write lock) waits for
 * every delivery in flight: after dbr_unsubscribe returns, the subscriber's
 * data may be freed. Subscribers must not subscribe or unsubscribe from
 * inside a delivery.
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
    GRWLock lock;
    GArray *subs; /* subscriber */
};

dbr_events *dbr_events_new(void)
{
    dbr_events *ev = g_new0(dbr_events, 1);

    g_rw_lock_init(&ev->lock);
    ev->subs = g_array_new(FALSE, FALSE, sizeof(subscriber));
    return ev;
}

void dbr_events_free(dbr_events *ev)
{
    if (!ev)
        return;
    g_array_free(ev->subs, TRUE);
    g_rw_lock_clear(&ev->lock);
    g_free(ev);
}

void dbr_events_subscribe(dbr_events *ev, dbr_event_fn fn, void *user)
{
    subscriber s = {fn, user};

    g_rw_lock_writer_lock(&ev->lock);
    g_array_append_val(ev->subs, s);
    g_rw_lock_writer_unlock(&ev->lock);
}

void dbr_events_unsubscribe(dbr_events *ev, dbr_event_fn fn, void *user)
{
    g_rw_lock_writer_lock(&ev->lock);
    for (guint i = 0; i < ev->subs->len; i++) {
        subscriber *s = &g_array_index(ev->subs, subscriber, i);

        if (s->fn == fn && s->user == user) {
            g_array_remove_index(ev->subs, i);
            break;
        }
    }
    g_rw_lock_writer_unlock(&ev->lock);
}

void dbr_events_publishv(dbr_events *ev, const char *type, va_list ap)
{
    dbr_event e = {.type = type};
    int i = 0;

    g_rw_lock_reader_lock(&ev->lock);
    if (ev->subs->len) {
        for (const char *k; i < 2 * MAX_FIELDS && (k = va_arg(ap, const char *));) {
            e.fields[i++] = k;
            e.fields[i++] = va_arg(ap, const char *);
        }
        e.fields[i] = NULL;
        for (guint s = 0; s < ev->subs->len; s++) {
            subscriber *sub = &g_array_index(ev->subs, subscriber, s);

            sub->fn(&e, sub->user);
        }
    }
    g_rw_lock_reader_unlock(&ev->lock);
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

int dbr_event_nfields(const dbr_event *ev)
{
    int n = 0;

    if (!ev)
        return 0;
    while (ev->fields[2 * n])
        n++;
    return n;
}

const char *dbr_event_field_name(const dbr_event *ev, int i)
{
    return i >= 0 && i < dbr_event_nfields(ev) ? ev->fields[2 * i] : NULL;
}

const char *dbr_event_field_value(const dbr_event *ev, int i)
{
    if (i < 0 || i >= dbr_event_nfields(ev))
        return NULL;
    return ev->fields[2 * i + 1] ? ev->fields[2 * i + 1] : "";
}
