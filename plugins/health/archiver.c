/* SPDX-License-Identifier: MIT */
/*
 * The health monitor's watch on the archiving of the server's write-ahead
 * log (WAL), the ground point-in-time recovery stands on
 * (docs/database-disaster-recovery.md):
 *
 *   critical: archive_failing    the last archive attempt failed (after
 *                                the last success); the server retries
 *                                forever and its WAL grows meanwhile
 *   warning:  archive_age        the newest archived segment is older than
 *                                archive_age_warning (15m, the seed's RPO);
 *                                only with archiving on
 *             wal_size           the WAL on the server's disk is more than
 *                                wal_warning_mb
 *             slot_retained_wal  a replication slot holds back more WAL
 *                                than slot_retained_warning_mb (a stopped
 *                                WAL receiver or standby fills the disk)
 *
 * Off unless watch_archiving = true, which needs a driver with
 * DBR_CAP_ARCHIVE_STATUS (health_open refuses otherwise). Then one
 * dbr_archive_state_get per check, after the ping and probe, through the
 * chain, so it takes a pool connection; it is skipped when the check
 * already failed. Episodes are announced like the other conditions
 * (health.alert once, health.recovered once) and raise the check's status.
 * The role may need monitoring privileges (pq: pg_monitor). Gauges:
 * dbr_health_archive_failing, dbr_health_archive_failures,
 * dbr_health_archive_age_seconds (-1: nothing archived yet),
 * dbr_health_wal_bytes, dbr_health_slot_retained_bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "archiver.h"

typedef enum { ARCH_FAILING, ARCH_AGE, ARCH_WAL_SIZE, ARCH_SLOT, NARCH } arch_cond;

static const char *const arch_names[NARCH] = {"archive_failing", "archive_age", "wal_size",
                                              "slot_retained_wal"};
static const severity arch_severity[NARCH] = {SEV_CRITICAL, SEV_WARNING, SEV_WARNING, SEV_WARNING};

struct health_archiver {
    const dbr_host *host;
    int64_t age_warning_us;
    long long wal_warning_mb, slot_warning_mb;
    bool active[NARCH];  /* the last check's, for episodes */
    double value[NARCH]; /* and its values, for the report */
    dbr_gauge *failing, *failed_count, *age, *wal_bytes, *slot_bytes;
};

health_archiver *health_archiver_new(const dbr_config_section *cfg, const dbr_host *host,
                                     dbr_error **err)
{
    health_archiver *a;
    char labels[128];
    bool on;

    if (!dbr_config_get_bool(cfg, "watch_archiving", false, &on, err) || !on)
        return NULL;
    a = g_new0(health_archiver, 1);
    a->host = host;
    if (!dbr_config_get_duration(cfg, "archive_age_warning", 15 * G_TIME_SPAN_MINUTE,
                                 G_TIME_SPAN_SECOND, 7 * G_TIME_SPAN_DAY, &a->age_warning_us,
                                 err) ||
        !dbr_config_get_int(cfg, "wal_warning_mb", 8192, 1, 1LL << 30, &a->wal_warning_mb, err) ||
        !dbr_config_get_int(cfg, "slot_retained_warning_mb", 4096, 1, 1LL << 30,
                            &a->slot_warning_mb, err)) {
        g_free(a);
        return NULL;
    }
    g_snprintf(labels, sizeof(labels), "db=\"%s\"", dbr_host_db_name(host));
    a->failing = dbr_host_gauge(host, "dbr_health_archive_failing",
                                "1 while the last WAL archive attempt failed.", labels);
    a->failed_count = dbr_host_gauge(host, "dbr_health_archive_failures",
                                     "WAL archive attempts that failed since the server's "
                                     "counters were reset.",
                                     labels);
    a->age = dbr_host_gauge(host, "dbr_health_archive_age_seconds",
                            "Age of the newest archived WAL segment (-1: none yet).", labels);
    a->wal_bytes = dbr_host_gauge(host, "dbr_health_wal_bytes",
                                  "Size of the WAL on the server's disk.", labels);
    a->slot_bytes = dbr_host_gauge(host, "dbr_health_slot_retained_bytes",
                                   "The most WAL a replication slot holds back.", labels);
    return a;
}

void health_archiver_free(health_archiver *a)
{
    g_free(a);
}

static double threshold(const health_archiver *a, arch_cond c)
{
    switch (c) {
    case ARCH_AGE:
        return (double)a->age_warning_us / 1e6;
    case ARCH_WAL_SIZE:
        return (double)a->wal_warning_mb * 1048576.0;
    case ARCH_SLOT:
        return (double)a->slot_warning_mb * 1048576.0;
    default:
        return 1;
    }
}

severity health_archiver_check(health_archiver *a, dbr_db *db, dbr_ctx *ctx, int *nactive)
{
    dbr_archive_state st = {0};
    double value[NARCH];
    bool active[NARCH], mode_on;
    severity worst = SEV_OK;

    *nactive = 0;
    if (!dbr_archive_state_get(db, ctx, &st, NULL)) {
        /* No new facts (no monitoring privilege, a failover in progress):
         * keep the episodes as they were rather than announce a false
         * recovery. */
        for (int c = 0; c < NARCH; c++)
            if (a->active[c]) {
                (*nactive)++;
                worst = MAX(worst, arch_severity[c]);
            }
        return worst;
    }
    mode_on = st.archiving;
    value[ARCH_FAILING] = st.failing;
    value[ARCH_AGE] = st.age_us < 0 ? -1 : (double)st.age_us / 1e6;
    value[ARCH_WAL_SIZE] = (double)st.wal_bytes;
    value[ARCH_SLOT] = (double)st.slot_retained_bytes;
    dbr_gauge_set(a->failing, value[ARCH_FAILING]);
    dbr_gauge_set(a->failed_count, (double)st.failed_count);
    dbr_gauge_set(a->age, value[ARCH_AGE]);
    dbr_gauge_set(a->wal_bytes, value[ARCH_WAL_SIZE]);
    dbr_gauge_set(a->slot_bytes, value[ARCH_SLOT]);

    active[ARCH_FAILING] = mode_on && value[ARCH_FAILING] > 0;
    active[ARCH_AGE] = mode_on && value[ARCH_AGE] > threshold(a, ARCH_AGE);
    active[ARCH_WAL_SIZE] = value[ARCH_WAL_SIZE] > threshold(a, ARCH_WAL_SIZE);
    active[ARCH_SLOT] = value[ARCH_SLOT] > threshold(a, ARCH_SLOT);
    for (int c = 0; c < NARCH; c++) {
        char v[32], t[32];

        if (active[c]) {
            (*nactive)++;
            worst = MAX(worst, arch_severity[c]);
        }
        a->value[c] = value[c];
        if (active[c] == a->active[c])
            continue;
        a->active[c] = active[c];
        g_snprintf(v, sizeof(v), "%g", value[c]);
        g_snprintf(t, sizeof(t), "%g", threshold(a, c));
        dbr_host_publish(a->host, active[c] ? "health.alert" : "health.recovered", "condition",
                         arch_names[c], "severity", health_status_name(arch_severity[c]), "value",
                         v, "threshold", t, NULL);
    }
    return worst;
}

void health_archiver_report(const health_archiver *a, health_report *r)
{
    for (int c = 0; c < NARCH; c++) {
        if (!a->active[c] || r->nextra >= (int)G_N_ELEMENTS(r->extra))
            continue;
        r->extra[r->nextra].condition = arch_names[c];
        r->extra[r->nextra].severity = arch_severity[c];
        r->extra[r->nextra].value = a->value[c];
        r->extra[r->nextra].threshold = threshold(a, c);
        r->nextra++;
    }
}
