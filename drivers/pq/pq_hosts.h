/* SPDX-License-Identifier: MIT */
/* Which host to connect to, when a conninfo lists several (pq_hosts.c). */
#ifndef DBR_PQ_HOSTS_H
#define DBR_PQ_HOSTS_H

#include <glib.h>
#include <libpq-fe.h>

#include <dbr/driver.h>

/* A conninfo taken apart into one libpq connection per host. */
typedef struct pq_hosts {
    GPtrArray *keys, *vals;          /* every option but host, hostaddr and port */
    int n;                           /* hosts: 1 when the conninfo names none or one */
    char **host, **hostaddr, **port; /* n entries each, "" where not given */
    int64_t per_host_us;             /* connect_timeout of the conninfo, 0 when not set */
    bool random;                     /* load_balance_hosts = random */
    bool whole;                      /* a dbname that is itself a conninfo: libpq's own way */
    const char *conninfo;
    const dbr_driver_opts *opts; /* the core's password and overrides (whole: after dbname) */
    char id[65]; /* SHA-256 of the conninfo: what the remembered host is kept under */
} pq_hosts;

/* Parses conninfo (which pq_check_conninfo has accepted) and puts opts'
 * password and override keywords over it (dbr_driver_opts; opts may be
 * NULL). False with a config error when the host, hostaddr and port lists
 * do not match, or an override names a keyword libpq does not know. */
bool pq_hosts_init(pq_hosts *h, const char *conninfo, const dbr_driver_opts *opts, dbr_error **err);
void pq_hosts_clear(pq_hosts *h);

/* Where to start: the host that answered last time for this conninfo
 * (thread-safe), or a random one with load_balance_hosts = random. */
int pq_hosts_first(const pq_hosts *h);
/* The host that answered; and, when a host turned out not to take writes
 * (a read-only answer after a failover), the one after it. Thread-safe. */
void pq_hosts_remember(const char *id, int index);
void pq_hosts_skip(const char *id, int index, int n);

/* Starts a libpq connection to host i, with the driver's defaults under
 * the user's options (PQconnectStartParams). */
PGconn *pq_hosts_start(const pq_hosts *h, int i);
/* "host:port" of host i for messages (g_free). */
char *pq_hosts_name(const pq_hosts *h, int i);

#endif
