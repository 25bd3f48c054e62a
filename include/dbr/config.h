/* SPDX-License-Identifier: MIT */
/*
 * dbr/config.h - typed access to one group of the config file, for plugins.
 *
 * A plugin's create() receives its `[plugin.NAME]` group as a
 * dbr_config_section. Each getter reads one key: a missing key gives the
 * default, a malformed or out-of-range value gives a DBR_ERR_CONFIG error
 * that names the file, the group, the key, its line and what was expected.
 * After create() returns, the core refuses any key of the group that the
 * plugin never read, so a misspelt key is an error, not a silent default.
 *
 * Values have ${VAR} expanded from the environment and a trailing
 * " # comment" removed. Durations read as "250ms", "30s", "5m", "1h", "0".
 * Strings returned belong to the section and live as long as the db.
 */
#ifndef DBR_CONFIG_H
#define DBR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbr_config_section dbr_config_section;

DBR_API const char *dbr_config_group(const dbr_config_section *sec); /* "plugin.retry" */
/* The config file's path as given to dbr_open, or NULL for a config given
 * as text: for a plugin that resolves a relative path against the file's
 * directory rather than the process's working directory. Owned by the db. */
DBR_API const char *dbr_config_file(const dbr_config_section *sec);
DBR_API bool dbr_config_has(const dbr_config_section *sec, const char *key);
DBR_API bool dbr_config_get_string(const dbr_config_section *sec, const char *key, const char *def,
                                   const char **out, dbr_error **err);
DBR_API bool dbr_config_get_int(const dbr_config_section *sec, const char *key, long long def,
                                long long min, long long max, long long *out, dbr_error **err);
DBR_API bool dbr_config_get_double(const dbr_config_section *sec, const char *key, double def,
                                   double min, double max, double *out, dbr_error **err);
DBR_API bool dbr_config_get_bool(const dbr_config_section *sec, const char *key, bool def,
                                 bool *out, dbr_error **err);
/* Durations in microseconds. */
DBR_API bool dbr_config_get_duration(const dbr_config_section *sec, const char *key, int64_t def_us,
                                     int64_t min_us, int64_t max_us, int64_t *out_us,
                                     dbr_error **err);
/* A config error about key, naming file, group, key and line. */
DBR_API dbr_error *dbr_config_error(const dbr_config_section *sec, const char *key, const char *fmt,
                                    ...) DBR_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif

#endif /* DBR_CONFIG_H */
