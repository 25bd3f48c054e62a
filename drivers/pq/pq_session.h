/* SPDX-License-Identifier: MIT */
/* Statements that may change the session beyond themselves (pq_session.c). */
#ifndef DBR_PQ_SESSION_H
#define DBR_PQ_SESSION_H

#include <stdbool.h>

/* True when sql (a script when script is set) may leave session state
 * behind: settings, a role, temporary objects, prepared statements,
 * listeners, cursors, session locks. */
bool pq_session_changing(const char *sql, bool script);

#endif
