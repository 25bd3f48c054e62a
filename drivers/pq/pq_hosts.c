/* SPDX-License-Identifier: MIT */
/*
 * A conninfo that lists several hosts (host=a,b,c port=5432,5433,5434),
 * connected host by host.
 *
 * libpq walks such a list itself, but it applies connect_timeout per host
 * only in its blocking PQconnectdb; under PQconnectPoll, which the driver
 * needs for deadlines and cancel, a first host that accepts TCP and then
 * never answers (a frozen primary, a hung proxy) holds the whole connect
 * until the caller's deadline and the second host is never tried. So the
 * list is taken apart here and each host gets its own libpq connection,
 * bounded by its own timeout: the conninfo's connect_timeout, or else an
 * equal share of what is left of the caller's deadline. Everything else
 * (target_session_attrs, sslmode, the user's keepalives) is libpq's, per
 * host, as documented.
 *
 * The host that answered is remembered per conninfo, so after a failover
 * new connections go straight to the new primary instead of paying the
 * dead host's timeout every time. Learned from libpq's own host walk
 * (fe-connect.c) and pgx's per-host fallback; no code copied.
 */
#include <stdlib.h>
#include <string.h>

#include "pq_hosts.h"

/* The driver's defaults, under anything the user sets. */
static const char *const default_keys[] = {"keepalives",          "keepalives_idle",
                                           "keepalives_interval", "keepalives_count",
                                           "tcp_user_timeout",    "fallback_application_name"};
static const char *const default_vals[] = {"1", "30", "10", "3", "30000", "dbr"};

static GMutex remembered_lock;
static GHashTable *remembered; /* id -> index + 1 */

static char **split_list(const char *v, int *n)
{
    char **parts = g_strsplit(v ? v : "", ",", -1);

    *n = (int)g_strv_length(parts);
    for (int i = 0; i < *n; i++)
        g_strstrip(parts[i]);
    return parts;
}

/* A list of 1 entry stands for every host; else it must have n. */
static char **fit(char **list, int count, int n)
{
    char **out;

    if (count == n)
        return list;
    out = g_new0(char *, n + 1);
    for (int i = 0; i < n; i++)
        out[i] = g_strdup(count == 1 ? list[0] : "");
    g_strfreev(list);
    return out;
}

/* The value of keyword o once the core's settings are put over the
 * conninfo's (dbr_driver_opts): the password, then the overrides in their
 * order, the later winning; an empty override unsets it (NULL). */
static const char *over(const PQconninfoOption *o, const dbr_driver_opts *opts)
{
    const char *v = o->val;

    if (DBR_DRIVER_OPTS_HAS(opts, password) && opts->password &&
        strcmp(o->keyword, "password") == 0)
        v = opts->password;
    for (int i = 0; DBR_DRIVER_OPTS_HAS(opts, override_values) && i < opts->noverrides; i++)
        if (strcmp(o->keyword, opts->override_keys[i]) == 0)
            v = *opts->override_values[i] ? opts->override_values[i] : NULL;
    return v;
}

/* An override keyword libpq does not know, or NULL. */
static const char *unknown_override(const PQconninfoOption *all, const dbr_driver_opts *opts)
{
    for (int i = 0; DBR_DRIVER_OPTS_HAS(opts, override_values) && i < opts->noverrides; i++) {
        const PQconninfoOption *o = all;

        while (o && o->keyword && strcmp(o->keyword, opts->override_keys[i]) != 0)
            o++;
        if (!o || !o->keyword)
            return opts->override_keys[i];
    }
    return NULL;
}

/* Which conninfo: its text and the overrides (not the password), hashed. */
static void hosts_id(pq_hosts *h, const char *conninfo, const dbr_driver_opts *opts)
{
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);

    g_checksum_update(sum, (const guchar *)conninfo, -1);
    for (int i = 0; DBR_DRIVER_OPTS_HAS(opts, override_values) && i < opts->noverrides; i++) {
        g_checksum_update(sum, (const guchar *)"\n", 1);
        g_checksum_update(sum, (const guchar *)opts->override_keys[i], -1);
        g_checksum_update(sum, (const guchar *)"=", 1);
        g_checksum_update(sum, (const guchar *)opts->override_values[i], -1);
    }
    g_strlcpy(h->id, g_checksum_get_string(sum), sizeof(h->id));
    g_checksum_free(sum);
}

bool pq_hosts_init(pq_hosts *h, const char *conninfo, const dbr_driver_opts *dopts, dbr_error **err)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    const char *host = NULL, *hostaddr = NULL, *port = NULL, *bad;
    int nh = 0, na = 0, np = 0;

    memset(h, 0, sizeof(*h));
    if ((bad = unknown_override(opts, dopts))) {
        PQconninfoFree(opts);
        return dbr_set_error(err, DBR_ERR_CONFIG, "pq",
                             "connection keyword \"%s\" (given beside the conninfo) is not one "
                             "libpq knows",
                             bad);
    }
    h->conninfo = conninfo;
    h->opts = dopts;
    hosts_id(h, conninfo, dopts);
    h->keys = g_ptr_array_new();
    h->vals = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < G_N_ELEMENTS(default_keys); i++) {
        g_ptr_array_add(h->keys, (char *)default_keys[i]);
        g_ptr_array_add(h->vals, g_strdup(default_vals[i]));
    }
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        const char *val = over(o, dopts);

        if (!val)
            continue;
        if (strcmp(o->keyword, "host") == 0) {
            host = val;
        } else if (strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = val;
        } else if (strcmp(o->keyword, "port") == 0) {
            port = val;
        } else {
            if (strcmp(o->keyword, "connect_timeout") == 0 && atoi(val) > 0)
                /* libpq reads 1 as 2 seconds: so does this */
                h->per_host_us = (int64_t)MAX(atoi(val), 2) * G_USEC_PER_SEC;
            else if (strcmp(o->keyword, "load_balance_hosts") == 0)
                h->random = strcmp(val, "random") == 0;
            else if (strcmp(o->keyword, "dbname") == 0 &&
                     (strchr(val, '=') || g_str_has_prefix(val, "postgresql://") ||
                      g_str_has_prefix(val, "postgres://")))
                h->whole = true;
            g_ptr_array_add(h->keys, (char *)g_intern_string(o->keyword));
            g_ptr_array_add(h->vals, g_strdup(val));
        }
    }
    h->host = split_list(host, &nh);
    h->hostaddr = split_list(hostaddr, &na);
    h->port = split_list(port, &np);
    PQconninfoFree(opts);
    h->n = MAX(MAX(nh, na), 1);
    if (h->whole) {
        h->n = 1; /* the hosts are inside dbname: libpq walks them itself */
        /* There libpq skips an empty value: a keyword the core asks to
         * unset (a router's standby drops the primary's hostaddr) would
         * stay, and the connection would go where it should not. */
        for (int i = 0; DBR_DRIVER_OPTS_HAS(dopts, override_values) && i < dopts->noverrides; i++)
            if (!*dopts->override_values[i]) {
                const char *key = dopts->override_keys[i];

                pq_hosts_clear(h);
                return dbr_set_error(err, DBR_ERR_CONFIG, "pq",
                                     "conninfo: its dbname is itself a connection string, where "
                                     "libpq cannot unset \"%s\" as a standby's connection "
                                     "must: write the connection string out flat",
                                     key);
            }
        return true;
    }
    if ((nh > 1 && na > 1 && nh != na) || (np > 1 && np != h->n) || (nh > 1 && na == 1) ||
        (na > 1 && nh == 1)) {
        pq_hosts_clear(h);
        return dbr_set_error(err, DBR_ERR_CONFIG, "pq",
                             "conninfo: %d hosts, %d host addresses and %d ports do not match: "
                             "give one port for all hosts or one per host",
                             nh, na, np);
    }
    h->host = fit(h->host, nh, h->n);
    h->hostaddr = fit(h->hostaddr, na, h->n);
    h->port = fit(h->port, np, h->n);
    return true;
}

void pq_hosts_clear(pq_hosts *h)
{
    if (h->keys)
        g_ptr_array_free(h->keys, TRUE);
    if (h->vals) {
        /* the conninfo's values may hold its password: wipe before freeing */
        for (guint i = 0; i < h->vals->len; i++)
            memset(h->vals->pdata[i], 0, strlen(h->vals->pdata[i]));
        g_ptr_array_free(h->vals, TRUE);
    }
    g_strfreev(h->host);
    g_strfreev(h->hostaddr);
    g_strfreev(h->port);
    memset(h, 0, sizeof(*h));
}

int pq_hosts_first(const pq_hosts *h)
{
    int i = 0;

    if (h->n <= 1)
        return 0;
    if (h->random)
        return g_random_int_range(0, h->n);
    g_mutex_lock(&remembered_lock);
    if (remembered)
        i = GPOINTER_TO_INT(g_hash_table_lookup(remembered, h->id));
    g_mutex_unlock(&remembered_lock);
    return i > 0 && i <= h->n ? i - 1 : 0;
}

void pq_hosts_remember(const char *id, int index)
{
    g_mutex_lock(&remembered_lock);
    if (!remembered)
        remembered = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (g_hash_table_size(remembered) > 256) /* conninfos built per call: stay bounded */
        g_hash_table_remove_all(remembered);
    g_hash_table_insert(remembered, g_strdup(id), GINT_TO_POINTER(index + 1));
    g_mutex_unlock(&remembered_lock);
}

void pq_hosts_skip(const char *id, int index, int n)
{
    if (n > 1)
        pq_hosts_remember(id, (index + 1) % n);
}

PGconn *pq_hosts_start(const pq_hosts *h, int i)
{
    const char **keys, **vals;
    guint n = h->keys->len, k = 0;
    PGconn *pg;

    if (h->whole) {
        /* dbname is a whole conninfo: let libpq expand it, defaults first,
         * the core's password and overrides after it (later entries win;
         * libpq skips an empty value here, so one cannot unset a key) */
        const dbr_driver_opts *o = h->opts;
        int nover = DBR_DRIVER_OPTS_HAS(o, override_values) ? o->noverrides : 0;

        keys = g_new0(const char *, G_N_ELEMENTS(default_keys) + 3 + (guint)nover);
        vals = g_new0(const char *, G_N_ELEMENTS(default_keys) + 3 + (guint)nover);
        for (; k < G_N_ELEMENTS(default_keys); k++)
            keys[k] = default_keys[k], vals[k] = default_vals[k];
        keys[k] = "dbname", vals[k++] = h->conninfo;
        if (DBR_DRIVER_OPTS_HAS(o, password) && o->password)
            keys[k] = "password", vals[k++] = o->password;
        for (int j = 0; j < nover; j++)
            keys[k] = o->override_keys[j], vals[k++] = o->override_values[j];
        pg = PQconnectStartParams(keys, vals, 1);
        g_free(keys);
        g_free(vals);
        return pg;
    }
    keys = g_new0(const char *, n + 4);
    vals = g_new0(const char *, n + 4);
    for (; k < n; k++)
        keys[k] = h->keys->pdata[k], vals[k] = h->vals->pdata[k];
    if (*h->host[i])
        keys[k] = "host", vals[k++] = h->host[i];
    if (*h->hostaddr[i])
        keys[k] = "hostaddr", vals[k++] = h->hostaddr[i];
    if (*h->port[i])
        keys[k] = "port", vals[k++] = h->port[i];
    pg = PQconnectStartParams(keys, vals, 0);
    g_free(keys);
    g_free(vals);
    return pg;
}

char *pq_hosts_name(const pq_hosts *h, int i)
{
    const char *host = h->whole ? "" : *h->host[i] ? h->host[i] : h->hostaddr[i];
    const char *port = h->whole ? "" : h->port[i];

    return g_strdup_printf("%s%s%s", *host ? host : "the default host", *port ? ":" : "", port);
}
