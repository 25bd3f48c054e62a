/* SPDX-License-Identifier: MIT */
/*
 * dbr/module.h - the descriptor every loadable module (driver or plugin)
 * exports, and the ABI version rule.
 *
 * A module exports exactly one symbol, DBR_MODULE_ENTRY_SYMBOL, a function
 * returning a pointer to a static const dbr_module. The loader checks, in
 * this order and naming the file and the field that differs: the magic, the
 * ABI major (must equal the core's), the ABI minor (must not be newer than
 * the core's), the struct size, the kind, the name, and the ops table.
 *
 * The ABI rule: the major number changes when anything already published
 * changes meaning or layout (every module must be rebuilt); the minor number
 * changes when something is appended (a new optional vtable slot, a new
 * accessor). Vtables are only ever appended to, and each begins with its
 * struct_size so the core never reads a slot an older module does not have.
 */
#ifndef DBR_MODULE_H
#define DBR_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ABI 3.0 (from 2.1): sized public structs, the driver connect options and
 * dbr_args in exec, typed results, prepared statements, batches, streams,
 * COPY, listeners, capabilities (dbr_supports), DBR_ERR_UNSUPPORTED,
 * DBR_OUTCOME_PARTIAL and the call kinds batch, stream and copy. The driver
 * slots classify and savepoint_sql are gone (the core never called the
 * first; savepoints use the SQL standard's forms). */
#define DBR_MODULE_MAGIC        0x44425231u /* "DBR1" */
#define DBR_ABI_MAJOR           3
#define DBR_ABI_MINOR           0
#define DBR_MODULE_ENTRY_SYMBOL "dbr_module_entry"

typedef enum {
    DBR_MODULE_DRIVER = 1,
    DBR_MODULE_PLUGIN = 2,
} dbr_module_kind;

typedef struct dbr_module {
    uint32_t magic;          /* DBR_MODULE_MAGIC */
    uint16_t abi_major;      /* DBR_ABI_MAJOR the module was built with */
    uint16_t abi_minor;      /* DBR_ABI_MINOR the module was built with */
    uint32_t struct_size;    /* sizeof(dbr_module) the module was built with */
    dbr_module_kind kind;    /* driver or plugin */
    const char *name;        /* "pq", "retry": unique in a db */
    const char *version;     /* the module's own version, for logs and `dbr check` */
    const char *description; /* one line */
    const void *ops;         /* const struct dbr_driver_ops * or dbr_plugin_ops * */
} dbr_module;

typedef const dbr_module *(*dbr_module_entry_fn)(void);

#if defined(__GNUC__)
#define DBR_MODULE_EXPORT __attribute__((visibility("default")))
#else
#define DBR_MODULE_EXPORT
#endif

/*
 * Defines the entry function of a module:
 *   DBR_MODULE_DEFINE(DBR_MODULE_PLUGIN, "audit", "1.0", "audit log", &audit_ops)
 */
#define DBR_MODULE_DEFINE(kind_, name_, version_, description_, ops_)                              \
    DBR_MODULE_EXPORT const dbr_module *dbr_module_entry(void);                                    \
    const dbr_module *dbr_module_entry(void)                                                       \
    {                                                                                              \
        static const dbr_module module = {                                                         \
            .magic = DBR_MODULE_MAGIC,                                                             \
            .abi_major = DBR_ABI_MAJOR,                                                            \
            .abi_minor = DBR_ABI_MINOR,                                                            \
            .struct_size = sizeof(dbr_module),                                                     \
            .kind = (kind_),                                                                       \
            .name = (name_),                                                                       \
            .version = (version_),                                                                 \
            .description = (description_),                                                         \
            .ops = (ops_),                                                                         \
        };                                                                                         \
        return &module;                                                                            \
    }

/* True when a vtable built by a module has the slot and fills it. */
#define DBR_OPS_HAS(type, ops, member)                                                             \
    ((ops)->struct_size >= offsetof(type, member) + sizeof((ops)->member) && (ops)->member != NULL)

#ifdef __cplusplus
}
#endif

#endif /* DBR_MODULE_H */
