/* SPDX-License-Identifier: MIT */
/*
 * The replication_state and archive_state slots: where the server stands
 * in its write-ahead log, and how archiving that log goes, read from
 * PostgreSQL's own functions and views. The router measures standby lag
 * with the first, the health plugin watches archiving with the second.
 *
 * Positions are LSNs as bytes since 0/0 (pg_lsn minus '0/0'), monotonic on
 * one timeline. archive_state needs the pg_monitor role (pg_ls_waldir);
 * without it the server refuses (permission).
 */
#include <glib.h>
#include <string.h>

#include "pq.h"

/* One row: in recovery, then the primary's write position or the
 * standby's replay position (NULL before it has replayed anything). The
 * CASE keeps pg_current_wal_lsn() off a standby, where it fails. */
static const char replication_sql[] = "SELECT pg_is_in_recovery(), (CASE WHEN pg_is_in_recovery()"
                                      " THEN coalesce(pg_last_wal_replay_lsn() - '0/0'::pg_lsn, 0)"
                                      " ELSE pg_current_wal_lsn() - '0/0'::pg_lsn END)::bigint";

/* One row: archive_mode on, failed_count, failing, age in s (NULL: never),
 * pg_wal bytes, the most WAL any slot holds back (NULL: no slot). */
static const char archive_sql[] =
    "SELECT current_setting('archive_mode') <> 'off', a.failed_count,"
    " coalesce(a.last_failed_time > coalesce(a.last_archived_time, '-infinity'), false),"
    " extract(epoch FROM now() - a.last_archived_time),"
    " (SELECT sum(size) FROM pg_ls_waldir()),"
    " (SELECT max(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
    " ELSE pg_current_wal_lsn() END, restart_lsn)) FROM pg_replication_slots)"
    " FROM pg_stat_archiver a";

/* The one row of sql, or NULL and an error. */
static PGresult *one_row(dbr_driver_conn *conn, const char *sql, int ncols, const dbr_wait *wait,
                         dbr_error **err)
{
    PGresult *r = (PGresult *)pq_exec(conn, sql, NULL, 0, wait, err);

    if (r && (PQntuples(r) != 1 || PQnfields(r) != ncols)) {
        dbr_set_error(err, DBR_ERR_INTERNAL, PQ_LAYER,
                      "the server's status query answered %d rows of %d columns", PQntuples(r),
                      PQnfields(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static bool flag(const PGresult *r, int col)
{
    return !PQgetisnull(r, 0, col) && PQgetvalue(r, 0, col)[0] == 't';
}

static int64_t int64_or(const PGresult *r, int col, int64_t none)
{
    return PQgetisnull(r, 0, col) ? none : g_ascii_strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

/* A field of the core's struct, when its struct_size (the core's build)
 * has it. */
#define FITS(out, field)                                                                           \
    ((out)->struct_size >= offsetof(__typeof__(*(out)), field) + sizeof((out)->field))

bool pq_replication_state(dbr_driver_conn *conn, const dbr_wait *wait, dbr_replication_state *out,
                          dbr_error **err)
{
    PGresult *r = one_row(conn, replication_sql, 2, wait, err);

    if (!r)
        return false;
    if (FITS(out, standby))
        out->standby = flag(r, 0);
    if (FITS(out, position))
        out->position = int64_or(r, 1, 0);
    PQclear(r);
    return true;
}

bool pq_archive_state(dbr_driver_conn *conn, const dbr_wait *wait, dbr_archive_state *out,
                      dbr_error **err)
{
    PGresult *r = one_row(conn, archive_sql, 6, wait, err);

    if (!r)
        return false;
    if (FITS(out, archiving))
        out->archiving = flag(r, 0);
    if (FITS(out, failed_count))
        out->failed_count = int64_or(r, 1, 0);
    if (FITS(out, failing))
        out->failing = flag(r, 2);
    if (FITS(out, age_us))
        out->age_us =
            PQgetisnull(r, 0, 3) ? -1 : (int64_t)(g_ascii_strtod(PQgetvalue(r, 0, 3), NULL) * 1e6);
    if (FITS(out, wal_bytes))
        out->wal_bytes = int64_or(r, 4, 0);
    if (FITS(out, slot_retained_bytes))
        out->slot_retained_bytes = int64_or(r, 5, 0);
    PQclear(r);
    return true;
}
