/* SPDX-License-Identifier: MIT */
/*
 * The log hook of dbr/log.h: one place every log line of the core, the
 * driver and the plugins goes through, to the application's handler or to
 * GLib's structured log.
 *
 * The handler and its user data are swapped together under a write lock and
 * called under a read lock, so that after dbr_log_set_handler() returns no
 * thread is still inside the old handler (its data may be freed). The level
 * is an atomic read on every line, so a filtered-out line costs no lock and
 * no formatting.
 */
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <dbr/log.h>

static GRWLock log_lock;
static dbr_log_fn log_fn;
static void *log_user;
static gint log_level = DBR_LOG_DEBUG;

static dbr_log_level clamp(dbr_log_level level)
{
    if ((int)level < DBR_LOG_ERROR)
        return DBR_LOG_ERROR;
    if ((int)level > DBR_LOG_DEBUG)
        return DBR_LOG_DEBUG;
    return level;
}

void dbr_log_set_handler(dbr_log_fn fn, void *user)
{
    g_rw_lock_writer_lock(&log_lock);
    log_fn = fn;
    log_user = fn ? user : NULL;
    g_rw_lock_writer_unlock(&log_lock);
}

void dbr_log_set_level(dbr_log_level level)
{
    g_atomic_int_set(&log_level, (gint)clamp(level));
}

dbr_log_level dbr_log_get_level(void)
{
    return (dbr_log_level)g_atomic_int_get(&log_level);
}

bool dbr_log_enabled(dbr_log_level level)
{
    return (int)level >= DBR_LOG_ERROR && (int)level <= g_atomic_int_get(&log_level);
}

const char *dbr_log_level_name(dbr_log_level level)
{
    switch (level) {
    case DBR_LOG_ERROR:
        return "error";
    case DBR_LOG_WARNING:
        return "warning";
    case DBR_LOG_NOTICE:
        return "notice";
    case DBR_LOG_INFO:
        return "info";
    case DBR_LOG_DEBUG:
        return "debug";
    }
    return "";
}

/* G_LOG_LEVEL_ERROR would abort the process: an error line is critical. */
static GLogLevelFlags glib_level(dbr_log_level level, const char **priority)
{
    switch (level) {
    case DBR_LOG_ERROR:
        *priority = "3";
        return G_LOG_LEVEL_CRITICAL;
    case DBR_LOG_WARNING:
        *priority = "4";
        return G_LOG_LEVEL_WARNING;
    case DBR_LOG_NOTICE:
        *priority = "5";
        return G_LOG_LEVEL_MESSAGE;
    case DBR_LOG_INFO:
        *priority = "6";
        return G_LOG_LEVEL_INFO;
    default:
        *priority = "7";
        return G_LOG_LEVEL_DEBUG;
    }
}

#define MAX_GLIB_FIELDS 24

static void to_glib(dbr_log_level level, const char *layer, const char *message,
                    const char *const *fields)
{
    GLogField f[MAX_GLIB_FIELDS];
    const char *priority;
    GLogLevelFlags gl = glib_level(level, &priority);
    gsize n = 0;

    f[n++] = (GLogField){"MESSAGE", message, -1};
    f[n++] = (GLogField){"PRIORITY", priority, -1};
    f[n++] = (GLogField){"GLIB_DOMAIN", "dbr", -1};
    f[n++] = (GLogField){"DBR_LAYER", layer, -1};
    for (int i = 0; fields[i] && fields[i + 1] && n < MAX_GLIB_FIELDS; i += 2)
        f[n++] = (GLogField){fields[i], fields[i + 1], -1};
    g_log_structured_array(gl, f, n);
}

void dbr_log(dbr_log_level level, const char *layer, const char *const *fields, const char *fmt,
             ...)
{
    static const char *const no_fields[] = {NULL};
    char small[512], *message = small;
    va_list ap;
    int len;

    if (!dbr_log_enabled(level) || !fmt)
        return;
    va_start(ap, fmt);
    len = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(small)) {
        message = malloc((size_t)len + 1);
        if (!message) /* out of memory: the start of the line is better than nothing */
            message = small;
        else {
            va_start(ap, fmt);
            vsnprintf(message, (size_t)len + 1, fmt, ap);
            va_end(ap);
        }
    }
    if (!layer)
        layer = "";
    if (!fields)
        fields = no_fields;
    g_rw_lock_reader_lock(&log_lock);
    if (log_fn)
        log_fn(level, layer, message, fields, log_user);
    else
        to_glib(level, layer, message, fields);
    g_rw_lock_reader_unlock(&log_lock);
    if (message != small)
        free(message);
}
