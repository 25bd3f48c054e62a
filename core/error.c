/* SPDX-License-Identifier: MIT */
/*
 * The error object shared by every layer (include/dbr/error.h).
 *
 * Strings are owned by the error. The SQLSTATE and the layer name are kept
 * inline: they are short by definition, the layer must outlive a module that
 * may be unloaded before its error is read, and it keeps allocations down on
 * the error path of every failed statement.
 */
#include <glib.h>
#include <stdarg.h>
#include <string.h>

#include <dbr/error.h>

#include "error_origin.h"

struct dbr_error {
    bool preset; /* static: never freed, never changed */
    dbr_error_kind kind;
    dbr_error_phase phase;
    dbr_outcome outcome;
    bool transient;
    char sqlstate[6];
    char *message;
    char *detail;
    char *hint;
    char layer[32];     /* copied: an error may outlive the module that raised it */
    const void *origin; /* core-private: the transaction whose statement failed */
    dbr_error *cause;
};

static const char *const kind_names[] = {[DBR_ERR_NONE] = "none",
#define DBR_KIND_NAME(name, text) [DBR_ERR_##name] = text,
                                         DBR_ERROR_KINDS(DBR_KIND_NAME)
#undef DBR_KIND_NAME
};

const char *dbr_error_kind_name(dbr_error_kind kind)
{
    if ((unsigned)kind >= G_N_ELEMENTS(kind_names))
        return "unknown";
    return kind_names[kind];
}

static dbr_error *error_newv(dbr_error_kind kind, const char *layer, const char *fmt, va_list ap)
{
    dbr_error *e = g_new0(dbr_error, 1);

    /* Every table indexed by kind (metrics, presets) may trust it. */
    e->kind = (unsigned)kind > DBR_ERR_KIND_MAX ? DBR_ERR_INTERNAL : kind;
    e->outcome = DBR_OUTCOME_NOT_APPLIED;
    g_strlcpy(e->layer, layer ? layer : "core", sizeof(e->layer));
    e->message = g_strdup_vprintf(fmt, ap);
    return e;
}

dbr_error *dbr_error_new(dbr_error_kind kind, const char *layer, const char *fmt, ...)
{
    va_list ap;
    dbr_error *e;

    va_start(ap, fmt);
    e = error_newv(kind, layer, fmt, ap);
    va_end(ap);
    return e;
}

dbr_error *dbr_error_wrap(dbr_error *cause, dbr_error_kind kind, const char *layer, const char *fmt,
                          ...)
{
    va_list ap;
    dbr_error *e;
    char *head;

    va_start(ap, fmt);
    e = error_newv(kind, layer, fmt, ap);
    va_end(ap);
    if (cause) {
        /* The wrapper speaks for the whole story: "gave up after 5 attempts:
         * connection refused" reads well in one log line. */
        head = e->message;
        e->message = g_strdup_printf("%s: %s", head, cause->message);
        g_free(head);
        memcpy(e->sqlstate, cause->sqlstate, sizeof(e->sqlstate));
        e->phase = cause->phase;
        e->outcome = cause->outcome;
        e->transient = cause->transient;
        e->cause = cause;
    }
    return e;
}

dbr_error *dbr_error_copy(const dbr_error *e)
{
    dbr_error *c;

    if (!e)
        return NULL;
    c = g_new0(dbr_error, 1);
    *c = *e;
    c->preset = false;
    c->message = g_strdup(e->message);
    c->detail = g_strdup(e->detail);
    c->hint = g_strdup(e->hint);
    c->cause = dbr_error_copy(e->cause);
    return c;
}

dbr_error *dbr_error_preset(dbr_error_kind kind)
{
    static dbr_error presets[DBR_ERR_KIND_MAX + 1];
    static char messages[DBR_ERR_KIND_MAX + 1][48];
    static gsize ready;

    if (g_once_init_enter(&ready)) {
        for (int k = 0; k <= DBR_ERR_KIND_MAX; k++) {
            presets[k].preset = true;
            presets[k].kind = (dbr_error_kind)k;
            presets[k].outcome = DBR_OUTCOME_NOT_APPLIED;
            g_strlcpy(presets[k].layer, "core", sizeof(presets[k].layer));
            g_snprintf(messages[k], sizeof(messages[k]), "%s",
                       k == DBR_ERR_CIRCUIT_OPEN ? "circuit breaker is open: call refused"
                                                 : dbr_error_kind_name(k));
            presets[k].message = messages[k];
        }
        g_once_init_leave(&ready, 1);
    }
    if ((unsigned)kind > DBR_ERR_KIND_MAX)
        kind = DBR_ERR_INTERNAL;
    return &presets[kind];
}

void dbr_error_free(dbr_error *e)
{
    while (e && !e->preset) {
        dbr_error *cause = e->cause;

        g_free(e->message);
        g_free(e->detail);
        g_free(e->hint);
        g_free(e);
        e = cause;
    }
}

bool dbr_error_propagate(dbr_error **dest, dbr_error *e)
{
    if (dest)
        *dest = e;
    else
        dbr_error_free(e);
    return false;
}

bool dbr_set_error(dbr_error **dest, dbr_error_kind kind, const char *layer, const char *fmt, ...)
{
    va_list ap;

    if (!dest)
        return false;
    va_start(ap, fmt);
    *dest = error_newv(kind, layer, fmt, ap);
    va_end(ap);
    return false;
}

void dbr_error_set_sqlstate(dbr_error *e, const char *sqlstate)
{
    if (e && !e->preset)
        g_strlcpy(e->sqlstate, sqlstate ? sqlstate : "", sizeof(e->sqlstate));
}

void dbr_error_set_detail(dbr_error *e, const char *detail)
{
    if (e && !e->preset) {
        g_free(e->detail);
        e->detail = g_strdup(detail);
    }
}

void dbr_error_set_hint(dbr_error *e, const char *hint)
{
    if (e && !e->preset) {
        g_free(e->hint);
        e->hint = g_strdup(hint);
    }
}

void dbr_error_set_phase(dbr_error *e, dbr_error_phase phase)
{
    if (e && !e->preset)
        e->phase = phase;
}

void dbr_error_set_outcome(dbr_error *e, dbr_outcome outcome)
{
    if (e && !e->preset &&
        (outcome == DBR_OUTCOME_NOT_APPLIED || outcome == DBR_OUTCOME_UNKNOWN ||
         outcome == DBR_OUTCOME_PARTIAL))
        e->outcome = outcome;
}

void dbr_error_set_transient(dbr_error *e, bool transient)
{
    if (e && !e->preset)
        e->transient = transient;
}

dbr_error_kind dbr_error_kind_of(const dbr_error *e)
{
    return e ? e->kind : DBR_ERR_NONE;
}

const char *dbr_error_sqlstate(const dbr_error *e)
{
    return e ? e->sqlstate : "";
}

const char *dbr_error_message(const dbr_error *e)
{
    return e && e->message ? e->message : "";
}

const char *dbr_error_detail(const dbr_error *e)
{
    return e && e->detail ? e->detail : "";
}

const char *dbr_error_hint(const dbr_error *e)
{
    return e && e->hint ? e->hint : "";
}

const char *dbr_error_layer(const dbr_error *e)
{
    return e ? e->layer : "";
}

dbr_error_phase dbr_error_phase_of(const dbr_error *e)
{
    return e ? e->phase : DBR_PHASE_NONE;
}

dbr_outcome dbr_error_outcome(const dbr_error *e)
{
    return e ? e->outcome : DBR_OUTCOME_NONE;
}

const char *dbr_error_phase_name(dbr_error_phase phase)
{
    static const char *const names[] = {
        [DBR_PHASE_NONE] = "none",
        [DBR_PHASE_CONNECT] = "connect",
        [DBR_PHASE_BEFORE_SEND] = "before-send",
        [DBR_PHASE_SENT] = "sent",
        [DBR_PHASE_ANSWERED] = "answered",
    };

    return (unsigned)phase < G_N_ELEMENTS(names) ? names[phase] : "unknown";
}

const char *dbr_outcome_name(dbr_outcome outcome)
{
    switch (outcome) {
    case DBR_OUTCOME_NOT_APPLIED:
        return "not-applied";
    case DBR_OUTCOME_UNKNOWN:
        return "unknown";
    case DBR_OUTCOME_PARTIAL:
        return "partial";
    default:
        return "none";
    }
}

bool dbr_error_transient(const dbr_error *e)
{
    return e && e->transient;
}

bool dbr_error_retryable(const dbr_error *e)
{
    return e && e->transient && e->outcome == DBR_OUTCOME_NOT_APPLIED;
}

const dbr_error *dbr_error_cause(const dbr_error *e)
{
    return e ? e->cause : NULL;
}

void dbr_error_set_origin(dbr_error *e, const void *origin)
{
    if (e && !e->preset)
        e->origin = origin;
}

bool dbr_error_has_origin(const dbr_error *e, const void *origin)
{
    for (; e; e = e->cause)
        if (e->origin == origin)
            return true;
    return false;
}
