/* SPDX-License-Identifier: MIT */
/* Event subscribers of a db and the publishing side. */
#ifndef DBR_CORE_EVENTS_H
#define DBR_CORE_EVENTS_H

#include <stdarg.h>

#include <dbr/dbr.h>

typedef struct dbr_events dbr_events;

dbr_events *dbr_events_new(void);
void dbr_events_free(dbr_events *ev);
void dbr_events_subscribe(dbr_events *ev, dbr_event_fn fn, void *user);
void dbr_events_unsubscribe(dbr_events *ev, dbr_event_fn fn, void *user);
/* fields: name, value pairs ending with NULL. */
void dbr_events_publishv(dbr_events *ev, const char *type, va_list ap);
void dbr_events_publish(dbr_events *ev, const char *type, ...);

#endif
