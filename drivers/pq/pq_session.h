/* SPDX-License-Identifier: MIT */
/* Statements that may change the session beyond themselves (pq_session.c,
 * pq_pooler.c). */
#ifndef DBR_PQ_SESSION_H
#define DBR_PQ_SESSION_H

#include <stdbool.h>

/* True when sql (a script when script is set) may leave session state
 * behind: settings, a role, temporary objects, prepared statements,
 * listeners, cursors, session locks. */
bool pq_session_changing(const char *sql, bool script);

/* The first thing in sql (a script) that certainly binds state to the
 * server session beyond its transaction, as a static name ("SET",
 * "LISTEN", "pg_advisory_lock"), or NULL (pq_pooler.c). */
const char *pq_session_bound(const char *sql);

#endif
