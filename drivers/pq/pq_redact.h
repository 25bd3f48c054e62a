/* SPDX-License-Identifier: MIT */
/* Connection strings with their secrets hidden (pq_redact.c). */
#ifndef DBR_PQ_REDACT_H
#define DBR_PQ_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/* "host=db password=*** user=app": conninfo in either libpq form (key=value
 * or URI) with every secret hidden; g_free it. NULL gives "". Thread-safe. */
char *pq_redact_conninfo(const char *conninfo);
/* The redact_conninfo slot: the same, allocated with malloc (the core
 * frees it with free()). */
char *pq_redact_conninfo_slot(const char *conninfo);

#endif
