/* SPDX-License-Identifier: MIT */
/* Finding, checking and loading driver and plugin modules. */
#ifndef DBR_CORE_LOADER_H
#define DBR_CORE_LOADER_H

#include <dbr/module.h>

/* A mapped module, counted: the db holds one reference and every result
 * made by its driver another, so a result read or freed after dbr_close
 * never calls into a module that dlclose unmapped (a module built without
 * -z nodelete, as out-of-tree ones are). */
typedef struct dbr_module_ref dbr_module_ref;

typedef struct dbr_loaded {
    dbr_module_ref *ref;
    const dbr_module *mod;
    char *path;
} dbr_loaded;

/*
 * Loads a module of `kind` by name (searched in dirs, then $DBR_MODULE_PATH,
 * then the install dir) or by absolute path. Refuses unsafe files before
 * dlopen runs any of their code, then checks the descriptor.
 */
bool dbr_loader_load(const char *name, const char *path, dbr_module_kind kind, char *const *dirs,
                     dbr_loaded *out, dbr_error **err);
/* Drops the db's reference; the module is unmapped with the last one. */
void dbr_loader_unload(dbr_loaded *m);
/* Another reference (a result's), and its release. Thread-safe. */
dbr_module_ref *dbr_loader_hold(dbr_module_ref *ref);
void dbr_loader_release(dbr_module_ref *ref);

#endif
