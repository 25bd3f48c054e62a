/* SPDX-License-Identifier: MIT */
/* PostgreSQL's SQLSTATEs as dbr sees them: one table (pq_sqlstate.c). */
#ifndef DBR_PQ_SQLSTATE_H
#define DBR_PQ_SQLSTATE_H

#include <stddef.h>

#include <dbr/error.h>

enum {
    PQ_SS_TRANSIENT = 1 << 0,    /* sending it again may succeed */
    PQ_SS_SESSION_ENDS = 1 << 1, /* after send: unknown, whatever the severity */
    PQ_SS_IDLE_ONLY = 1 << 2,    /* sent only to an idle session: not applied */
    PQ_SS_UNKNOWN = 1 << 3,      /* unknown even for an all-or-nothing statement */
};

typedef struct pq_sqlstate {
    char code[6];
    unsigned char kind; /* dbr_error_kind */
    unsigned char flags;
} pq_sqlstate;

/* The entry of exactly this code, or NULL. */
const pq_sqlstate *pq_sqlstate_exact(const char *code);
/* The entry of this code, else of its class's generic code (CC000), or NULL. */
const pq_sqlstate *pq_sqlstate_find(const char *code);
/* Its kind: DBR_ERR_NONE for no code, DBR_ERR_INTERNAL for a class unknown here. */
dbr_error_kind pq_classify(const char *code);
/* Its PQ_SS_ flags (0 for an unknown code). */
int pq_sqlstate_flags(const char *code);
/* The whole table, for tests. */
const pq_sqlstate *pq_sqlstate_table(size_t *n);

#endif
