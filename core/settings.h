/* SPDX-License-Identifier: MIT */
/* The parsed config file: [database], [chain] and each plugin's group. */
#ifndef DBR_CORE_SETTINGS_H
#define DBR_CORE_SETTINGS_H

#include <glib.h>

#include <dbr/config.h>
#include <dbr/driver.h>

typedef struct dbr_settings dbr_settings;

struct dbr_config_section {
    dbr_settings *st;
    char *group;
    GHashTable *values; /* key -> expanded value, filled as keys are read */
    GHashTable *read;   /* keys a reader asked for */
};

struct dbr_settings {
    char *source; /* the path, or "<string>" (quoted for messages) */
    char *path;   /* the file as given to dbr_open; NULL for text */
    GKeyFile *kf;
    char **lines; /* the raw text, to name lines in errors */

    /* [database] */
    char *name;
    char *driver;
    char *conninfo; /* as written, secrets included: never log it; see dbr_conninfo_shown */
    /* password_file's first line, or NULL; and a sibling's connection
     * keywords over the conninfo (dbr_host_open_sibling), NULL-terminated
     * or NULL. Handed to the driver in driver_opts; wiped when freed. */
    char *password;
    char **override_keys, **override_values;
    int max_open; /* 0 = unlimited */
    int max_idle;
    int64_t max_lifetime_us;  /* 0 = forever */
    int64_t max_idle_time_us; /* 0 = forever */
    int64_t validate_after_us;
    int64_t connect_timeout_us;
    int64_t cancel_timeout_us;
    int64_t cancel_grace_us; /* past a deadline or a cancel: the server's last word */
    bool connect_on_open;
    /* What a returned connection gets before the next user (`reset =`). */
    enum {
        DBR_RESET_AUTO = 0, /* the driver's reset, after a use that may have changed the session */
        DBR_RESET_ALWAYS,   /* the driver's reset after every use */
        DBR_RESET_NONE,
        DBR_RESET_SQL, /* reset_sql after every use */
    } reset;
    char *reset_sql;
    char *idempotency_table; /* dbr_tx_run_once's keys (tx_key.c) */
    /* A pooler in transaction mode (PgBouncer pool_mode = transaction) in
     * front of the server: statements that would leave state in the server
     * session are refused (pooler.c), and the pool resets nothing. */
    bool pooler_transaction;
    dbr_driver_opts driver_opts; /* what every connect passes the driver */

    /* [chain] */
    char **plugins;                /* names, outermost first */
    char **paths;                  /* extra module directories */
    dbr_config_section **sections; /* one per plugin, same order */
};

dbr_settings *dbr_settings_load(const char *path, const char *text, dbr_error **err);
/* Points driver_opts at password and the overrides, after either changed. */
void dbr_settings_set_driver_opts(dbr_settings *st);
void dbr_settings_free(dbr_settings *st);

dbr_config_section *dbr_section_new(dbr_settings *st, const char *group);
void dbr_section_free(dbr_config_section *sec);
/* A DBR_ERR_CONFIG error for the first key of sec nobody read, or true. */
bool dbr_section_check_unread(const dbr_config_section *sec, dbr_error **err);
/* The 1-based line of [group] key (or of [group] when key is NULL); 0 if not found. */
int dbr_settings_line(const dbr_settings *st, const char *group, const char *key);
/* A list value: comma-separated, trimmed, no empty entries. */
bool dbr_section_get_list(const dbr_config_section *sec, const char *key, char ***out,
                          dbr_error **err);

/* A raw key-file value without its trailing " # comment" and blanks, in
 * place (section.c). */
char *dbr_config_strip_comment(char *raw);

#endif
