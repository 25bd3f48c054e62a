/* SPDX-License-Identifier: MIT */
/*
 * The optional endpoint: GET /healthz (200 or 503 and the last check as
 * JSON) and GET /metrics (the db's Prometheus text exposition).
 *
 * libmicrohttpd serves it from its own listener thread: it is the embedded
 * server of the Prometheus C client and of many appliances, small, and with
 * no event loop for us to run (libsoup would need a GMainLoop thread of our
 * own). It binds to the address `listen` gives, loopback by default;
 * exposing it wider is the operator's decision.
 *
 * It lives inside someone else's process, so it must not take that
 * process down: epoll (or poll), never select(), which cannot watch a
 * descriptor above 1023 and so fails in a busy process; at most
 * max_connections clients, each dropped after connection_timeout idle, so
 * idle clients cannot eat the process's descriptors.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (!body)
        return MHD_NO; /* out of memory: drop this client, keep serving */
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }

    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **state)
{
    health *h = cls;

    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", strdup("GET only\n"));
    if (strcmp(url, "/metrics") == 0)
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                     dbr_metrics_text(h->db));
    if (strcmp(url, "/healthz") == 0) {
        health_report r;
        char *json, *body;

        if (!health_last(h, &r))
            return reply(
                c, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
                strdup("{\"status\": \"unknown\", \"error\": \"no check has run yet\"}\n"));
        json = health_report_json(&h->cfg, &r, h->cfg.detail);
        body = malloc(strlen(json) + 2);
        if (body) {
            strcpy(body, json);
            strcat(body, "\n");
        }
        g_free(json);
        return reply(c, r.status == SEV_CRITICAL ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                     "application/json", body);
    }
    return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", strdup("try /healthz or /metrics\n"));
}

bool health_http_start(health *h, dbr_error **err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char *host, *colon;
    const char *port;
    unsigned flags;
    int rc;

    host = g_strdup(h->cfg.listen);
    colon = strrchr(host, ':');
    if (!colon || !colon[1]) {
        g_free(host);
        return dbr_set_error(err, DBR_ERR_CONFIG, HEALTH_LAYER,
                             "[plugin.health] listen: expected HOST:PORT, got %s",
                             dbr_quote(h->cfg.listen).text);
    }
    *colon = '\0';
    port = colon + 1;
    if (host[0] == '[') { /* [::1]:9187 */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        dbr_set_error(err, DBR_ERR_CONFIG, HEALTH_LAYER, "[plugin.health] listen: %s: %s",
                      dbr_quote(h->cfg.listen).text, gai_strerror(rc));
        g_free(host);
        return false;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags = MHD_USE_EPOLL_INTERNAL_THREAD;
    else if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
        flags = MHD_USE_POLL_INTERNAL_THREAD;
    else {
        freeaddrinfo(ai);
        g_free(host);
        return dbr_set_error(err, DBR_ERR_PLUGIN, HEALTH_LAYER,
                             "this libmicrohttpd has neither epoll nor poll: the endpoint will "
                             "not run on select()");
    }
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->httpd =
        MHD_start_daemon(flags, (uint16_t)atoi(port), NULL, NULL, serve, h, MHD_OPTION_SOCK_ADDR,
                         ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->cfg.max_connections,
                         MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)(h->cfg.connection_timeout_us / G_USEC_PER_SEC), MHD_OPTION_END);
    freeaddrinfo(ai);
    g_free(host);
    if (!h->httpd)
        return dbr_set_error(err, DBR_ERR_PLUGIN, HEALTH_LAYER,
                             "cannot listen on %s (in use, or not an address of this host)",
                             dbr_quote_name(h->cfg.listen).text);
    return true;
}

void health_http_stop(health *h)
{
    if (h->httpd)
        MHD_stop_daemon(h->httpd);
    h->httpd = NULL;
}
