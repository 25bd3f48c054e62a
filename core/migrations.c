/* SPDX-License-Identifier: MIT */
/*
 * The process-wide registry of schema migrations written in C. The migrate
 * plugin reads it when it plans; the application fills it before dbr_open.
 */
#include <glib.h>
#include <string.h>

#include <dbr/dbr.h>

#include "abi.h"

static GMutex lock;
static GArray *registry; /* dbr_migration, sorted by version; descriptions owned */

static gint by_version(gconstpointer a, gconstpointer b)
{
    long long x = ((const dbr_migration *)a)->version, y = ((const dbr_migration *)b)->version;

    return x < y ? -1 : x > y;
}

bool dbr_migration_register(const dbr_migration *caller, dbr_error **err)
{
    dbr_migration copy, taken;
    const dbr_migration *m = &taken;

    if (!caller)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_migration_register: m is NULL");
    if (!DBR_STRUCT_TAKE("dbr_migration_register", "m", &taken, caller, err))
        return false;
    if (!m->up || m->version <= 0 || !m->description || !*m->description)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "dbr_migration_register: needs a version > 0, a description and up");
    g_mutex_lock(&lock);
    if (!registry)
        registry = g_array_new(FALSE, FALSE, sizeof(dbr_migration));
    for (guint i = 0; i < registry->len; i++) {
        if (g_array_index(registry, dbr_migration, i).version == m->version) {
            g_mutex_unlock(&lock);
            return dbr_set_error(err, DBR_ERR_MIGRATION, "core",
                                 "migration %lld is registered twice", m->version);
        }
    }
    copy = *m;
    copy.description = g_strdup(m->description);
    g_array_append_val(registry, copy);
    g_array_sort(registry, by_version);
    g_mutex_unlock(&lock);
    return true;
}

void dbr_migration_clear(void)
{
    g_mutex_lock(&lock);
    for (guint i = 0; registry && i < registry->len; i++)
        g_free((char *)g_array_index(registry, dbr_migration, i).description);
    if (registry)
        g_array_set_size(registry, 0);
    g_mutex_unlock(&lock);
}

const dbr_migration *dbr_migration_list(int *n)
{
    const dbr_migration *list;

    g_mutex_lock(&lock);
    *n = registry ? (int)registry->len : 0;
    list = registry ? (const dbr_migration *)(void *)registry->data : NULL;
    g_mutex_unlock(&lock);
    return list;
}
