/* SPDX-License-Identifier: MIT */
/* Finding, checking and loading driver and plugin modules. */
#ifndef DBR_CORE_LOADER_H
#define DBR_CORE_LOADER_H

#include <dbr/module.h>

typedef struct dbr_loaded {
    void *handle;
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
void dbr_loader_unload(dbr_loaded *m);

#endif
