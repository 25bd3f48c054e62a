/* SPDX-License-Identifier: MIT */
/* The migrate plugin's shared pieces: migrations, their sources, history. */
#ifndef DBR_MIGRATE_H
#define DBR_MIGRATE_H

#include <glib.h>

#include <dbr/plugin.h>

#define MIGRATE_LAYER "migrate"

typedef struct mig {
    long long version;
    char *description;
    char *up_path, *down_path; /* files; NULL for a C migration */
    char *up_sql, *down_sql;
    bool no_tx;             /* the up file starts with "-- dbr:no-transaction" */
    bool down_no_tx;        /* the down file does */
    const dbr_migration *c; /* a C migration, or NULL */
    char checksum[65];      /* SHA-256 of the up script ("c:VERSION:DESCRIPTION" for C) */
    char *problem;          /* why this migration cannot run (a bad file), or NULL */
    char *bad_file;         /* with problem: the file at fault */
} mig;

typedef struct applied {
    long long version;
    char *description, *checksum, *applied_at;
    long long execution_ms;
    bool dirty;
} applied;

typedef struct migrate {
    const dbr_host *host;
    dbr_db *db;
    const char *dir; /* "" = none */
    char *dir_owned; /* dir made absolute against the config file's directory */
    const char *table;
    int64_t lock_timeout_us;
    long long lock_key;
    const char *auto_mode, *require;
    GMutex lock; /* one command at a time per db */
} migrate;

/* A DBR_ERR_MIGRATION error into *err; always false. */
bool migrate_fail(dbr_error **err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* source.c: every known migration, sorted by version (mig_free each),
 * bad files included as entries with a problem (version 0 when the name
 * holds none; those sort last). NULL and an error only when the directory
 * cannot be read at all. */
GPtrArray *mig_load(const migrate *m, dbr_error **err);
/* False, with an error listing every bad file, when any entry has a problem. */
bool mig_check(const GPtrArray *all, dbr_error **err);
void mig_free(mig *x);
/* The entry of version in all (loaded or loading), or NULL. */
mig *mig_find(const GPtrArray *all, long long version);
const char *mig_name(const mig *x); /* the up file, or "C migration N" */
/* The 1-based line of text that byte pos is on, for error messages. */
unsigned mig_line_at(const char *text, size_t pos);

/* lock.c: the lock every migration transaction takes first. */
bool migrate_lock(const migrate *m, dbr_tx *tx, dbr_error **err);

/* history.c */
bool history_ensure(const migrate *m, dbr_tx *tx, dbr_error **err);
GPtrArray *history_read(const migrate *m, dbr_error **err); /* applied *, by version */
void applied_free(applied *a);

/* engine.c: the commands. *reply is a JSON answer (g_free) or NULL; a
 * failed dry-run gives both its report and an error. */
bool migrate_command(migrate *m, const char *command, char **reply, dbr_error **err);
/* For the open hook: true when nothing is pending (require = latest). */
bool migrate_is_latest(migrate *m, dbr_error **err);

#endif
