/* SPDX-License-Identifier: MIT */
/*
 * dbr-plugin-log: logs slow calls and failed calls through dbr's log hook
 * (dbr/log.h: the application's handler, or GLib's structured log by
 * default), with the SQL's literals redacted.
 *
 *   [chain]
 *   plugins = log, retry, breaker
 *
 *   [plugin.log]
 *   slow_threshold = 200ms   # log calls at least this slow (0: no slow-call log)
 *   log_errors = true        # log every failed call
 *   log_params = false       # add parameter values (never on by default)
 *
 * Lines have the layer "log" and the fields DBR_CALL (the call kind),
 * DBR_SQL (redacted), DBR_DURATION_MS, and for failures DBR_ERROR_KIND and
 * DBR_SQLSTATE; slow calls at DBR_LOG_NOTICE, failures at DBR_LOG_WARNING.
 * Route them with dbr_log_set_handler, or, by default, with GLib's
 * g_log_set_writer_func (journald: g_log_writer_journald).
 *
 * Written only against the public SDK (include/dbr/plugin.h).
 */
#include <glib.h>
#include <string.h>

#include <dbr/plugin.h>

#include "redact_sql.h"

typedef struct logger {
    const dbr_host *host;
    int64_t slow_us; /* 0: slow calls are not logged */
    bool log_errors, log_params;
} logger;

static bool log_create(const dbr_config_section *cfg, const dbr_host *host, void **self,
                       dbr_error **err)
{
    logger *l = g_new0(logger, 1);

    l->host = host;
    if (!dbr_config_get_duration(cfg, "slow_threshold", 200 * G_TIME_SPAN_MILLISECOND, 0,
                                 G_TIME_SPAN_DAY, &l->slow_us, err) ||
        !dbr_config_get_bool(cfg, "log_errors", true, &l->log_errors, err) ||
        !dbr_config_get_bool(cfg, "log_params", false, &l->log_params, err)) {
        g_free(l);
        return false;
    }
    *self = l;
    return true;
}

static void log_destroy(void *self)
{
    g_free(self);
}

/* Bytes of a binary parameter shown, in hex, before the rest is elided. */
#define LOG_BINARY_SHOWN 32

/* A binary parameter (format 1) is lengths[i] raw bytes, not a string: it
 * may hold zero bytes and has no terminator, so it is shown in bytea's hex
 * form with its length, never read as text. */
static void append_binary(GString *s, const unsigned char *v, int len)
{
    g_string_append(s, "'\\x");
    for (int i = 0; i < len && i < LOG_BINARY_SHOWN; i++)
        g_string_append_printf(s, "%02x", v[i]);
    g_string_append_printf(s, "%s' (%d bytes, binary)", len > LOG_BINARY_SHOWN ? "..." : "", len);
}

static char *params_text(const dbr_call *call)
{
    const dbr_args *args = dbr_call_args(call);
    GString *s = g_string_new(NULL);

    for (int i = 0; args && i < args->n; i++) {
        const char *v = args->values[i];

        g_string_append_printf(s, "%s$%d=", i ? " " : "", i + 1);
        if (!v)
            g_string_append(s, "NULL");
        else if (args->formats && args->formats[i] == 1)
            append_binary(s, (const unsigned char *)v, args->lengths ? args->lengths[i] : 0);
        else
            g_string_append_printf(s, "'%s'", v);
    }
    return g_string_free(s, FALSE);
}

static void emit(const logger *l, const dbr_call *call, int64_t us, const dbr_error *e)
{
    const char *sql = dbr_call_sql(call);
    /* SQL the server could not parse may be data pasted into it (a quote
     * in a value ends the literal early, the rest reads as names): only its
     * first word is shown. */
    bool unparsed = e && strcmp(dbr_error_sqlstate(e), "42601") == 0;
    char *redacted = !sql ? g_strdup("") : unparsed ? log_first_word(sql) : log_redact_sql(sql);
    char *params = l->log_params && dbr_call_nparams(call) ? params_text(call) : g_strdup("");
    char *server =
        e ? log_redact_server_message(dbr_error_message(e), dbr_error_sqlstate(e)) : NULL;
    char ms[32];
    char *message;

    g_snprintf(ms, sizeof(ms), "%.3f", (double)us / 1000.0);
    if (e)
        message = g_strdup_printf("%s failed after %s ms (%s): %s%s%s%s%s",
                                  dbr_call_kind_name(dbr_call_kind_of(call)), ms,
                                  dbr_error_kind_name(dbr_error_kind_of(e)), server,
                                  *redacted ? " -- " : "", redacted, *params ? " -- " : "", params);
    else
        message =
            g_strdup_printf("slow %s: %s ms%s%s%s%s", dbr_call_kind_name(dbr_call_kind_of(call)),
                            ms, *redacted ? " -- " : "", redacted, *params ? " -- " : "", params);
    {
        const char *fields[] = {"DBR_CALL",
                                dbr_call_kind_name(dbr_call_kind_of(call)),
                                "DBR_SQL",
                                redacted,
                                "DBR_DURATION_MS",
                                ms,
                                "DBR_ERROR_KIND",
                                e ? dbr_error_kind_name(dbr_error_kind_of(e)) : "",
                                "DBR_SQLSTATE",
                                e ? dbr_error_sqlstate(e) : "",
                                NULL};

        dbr_log(e ? DBR_LOG_WARNING : DBR_LOG_NOTICE, "log", fields, "%s", message);
    }
    g_free(message);
    g_free(server);
    g_free(params);
    g_free(redacted);
}

static bool log_handle(void *self, dbr_call *call, const dbr_next *next, dbr_error **err)
{
    logger *l = self;
    int64_t start = dbr_host_now_us(l->host), us;
    dbr_error *e = NULL;
    bool ok = dbr_next_call(next, call, &e);

    us = dbr_host_now_us(l->host) - start;
    if (((!ok && l->log_errors) || (ok && l->slow_us > 0 && us >= l->slow_us)) &&
        dbr_log_enabled(ok ? DBR_LOG_NOTICE : DBR_LOG_WARNING))
        emit(l, call, us, ok ? NULL : e);
    if (!ok)
        return dbr_error_propagate(err, e);
    return true;
}

static const struct dbr_plugin_ops log_ops = {
    .struct_size = sizeof(struct dbr_plugin_ops),
    .create = log_create,
    .destroy = log_destroy,
    .handle = log_handle,
};

DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "log", "1.0.0",
                  "logs slow and failed calls, with SQL literals redacted", &log_ops)
