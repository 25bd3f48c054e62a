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
/* Whether the value of a keyword named key (len bytes) is a secret: its
 * name holds "password", "secret" or "token", in any case. That covers
 * libpq's secrets (password, sslpassword, libpq 18's oauth_client_secret);
 * wider than libpq on purpose, since a harmless value hidden costs nothing
 * and a secret shown cannot be taken back. */
bool pq_secret_key(const char *key, size_t len);

#endif
