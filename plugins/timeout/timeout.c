/* SPDX-License-Identifier: MIT */
/*
 * dbr-plugin-timeout: a default deadline per call kind, for calls whose
 * ctx has none, enforced like any deadline: the statement is canceled on
 * the server (and the connection closed if the server does not answer).
 *
 *   [chain]
 *   plugins = timeout, retry, breaker   # outermost: the deadline covers the retries
 *
 *   [plugin.timeout]
 *   statement = 5s       # exec, query, ping, connect (0: none)
 *   transaction = 30s    # a whole transaction (0: none)
 *   bulk = 60s           # a batch, a stream, a COPY: they run long by design (0: none)
 *
 * A caller's own deadline always wins, shorter or longer. A canceled
 * caller's ctx still cancels the call: the default deadline is a child of
 * it (dbr_ctx_child), which costs one small allocation per call that gets
 * one.
 *
 * Written only against the public SDK (include/dbr/plugin.h).
 */
#include <glib.h>

#include <dbr/plugin.h>

typedef struct timeouts {
    int64_t statement_us, transaction_us, bulk_us;
} timeouts;

static bool timeout_create(const dbr_config_section *cfg, const dbr_host *host, void **self,
                           dbr_error **err)
{
    timeouts *t = g_new0(timeouts, 1);

    (void)host;
    if (!dbr_config_get_duration(cfg, "statement", 5 * G_TIME_SPAN_SECOND, 0, G_TIME_SPAN_DAY,
                                 &t->statement_us, err) ||
        !dbr_config_get_duration(cfg, "transaction", 30 * G_TIME_SPAN_SECOND, 0, G_TIME_SPAN_DAY,
                                 &t->transaction_us, err) ||
        !dbr_config_get_duration(cfg, "bulk", 60 * G_TIME_SPAN_SECOND, 0, G_TIME_SPAN_DAY,
                                 &t->bulk_us, err)) {
        g_free(t);
        return false;
    }
    *self = t;
    return true;
}

static void timeout_destroy(void *self)
{
    g_free(self);
}

static bool timeout_handle(void *self, dbr_call *call, const dbr_next *next, dbr_error **err)
{
    timeouts *t = self;
    dbr_call_kind kind = dbr_call_kind_of(call);
    bool bulk = kind == DBR_CALL_BATCH || kind == DBR_CALL_STREAM || kind == DBR_CALL_COPY;
    int64_t us = kind == DBR_CALL_TX ? t->transaction_us : bulk ? t->bulk_us : t->statement_us;
    dbr_ctx *caller = dbr_call_ctx(call), *bounded;
    dbr_error *e = NULL;
    bool ok;

    if (kind == DBR_CALL_TX_STMT || !us || dbr_ctx_deadline(caller))
        return dbr_next_call(next, call, err);
    bounded = dbr_ctx_child(caller, us / 1000);
    dbr_call_swap_ctx(call, bounded);
    ok = dbr_next_call(next, call, &e);
    dbr_call_swap_ctx(call, caller);
    dbr_ctx_free(bounded);
    if (ok)
        return true;
    if (dbr_error_kind_of(e) == DBR_ERR_TIMEOUT)
        e = dbr_error_wrap(e, DBR_ERR_TIMEOUT, "timeout", "default %s deadline of %lld ms",
                           kind == DBR_CALL_TX ? "transaction"
                           : bulk              ? "bulk"
                                               : "statement",
                           (long long)(us / 1000));
    return dbr_error_propagate(err, e);
}

static const struct dbr_plugin_ops timeout_ops = {
    .struct_size = sizeof(struct dbr_plugin_ops),
    .create = timeout_create,
    .destroy = timeout_destroy,
    .handle = timeout_handle,
};

DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "timeout", "1.0.0",
                  "a default deadline per call kind when the caller gives none", &timeout_ops)
