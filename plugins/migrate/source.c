/* SPDX-License-Identifier: MIT */
/*
 * Where migrations come from: a directory of NNNN_description.up.sql and
 * NNNN_description.down.sql files, and migrations registered from C
 * (dbr_migration_register). Every malformed input stops the plan with an
 * error naming the file and the version.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

#define NO_TX_MARK "-- dbr:no-transaction"

void mig_free(mig *x)
{
    if (!x)
        return;
    g_free(x->description);
    g_free(x->up_path);
    g_free(x->down_path);
    g_free(x->up_sql);
    g_free(x->down_sql);
    g_free(x);
}

bool migrate_fail(dbr_error **err, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    dbr_set_error(err, DBR_ERR_MIGRATION, MIGRATE_LAYER, "%s", msg);
    g_free(msg);
    return false;
}

const char *mig_name(const mig *x)
{
    return x->up_path ? x->up_path : "a C migration";
}

/* "0003_add_index.up.sql" -> 3, "add index", up. */
static bool parse_name(const char *name, long long *version, char **description, bool *up)
{
    const char *p = name, *us, *end;
    char *num;

    while (g_ascii_isdigit(*p))
        p++;
    if (p == name || *p != '_')
        return false;
    us = p;
    if (g_str_has_suffix(name, ".up.sql")) {
        *up = true;
        end = name + strlen(name) - strlen(".up.sql");
    } else if (g_str_has_suffix(name, ".down.sql")) {
        *up = false;
        end = name + strlen(name) - strlen(".down.sql");
    } else {
        return false;
    }
    if (end <= us + 1)
        return false;
    num = g_strndup(name, (gsize)(us - name));
    *version = g_ascii_strtoll(num, NULL, 10);
    g_free(num);
    *description = g_strndup(us + 1, (gsize)(end - us - 1));
    g_strdelimit(*description, "_", ' ');
    return *version > 0;
}

static void checksum_of(const char *text, char out[65])
{
    char *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text, -1);

    g_strlcpy(out, hex, 65);
    g_free(hex);
}

static bool read_script(const char *path, char **out, dbr_error **err)
{
    GError *gerr = NULL;
    char *text, *trimmed;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        migrate_fail(err, "cannot read %s: %s", path, gerr->message);
        g_error_free(gerr);
        return false;
    }
    trimmed = g_strstrip(g_strdup(text));
    if (!*trimmed) {
        g_free(trimmed);
        g_free(text);
        return migrate_fail(err, "%s is empty: a migration must do something", path);
    }
    g_free(trimmed);
    *out = text;
    return true;
}

static gint by_version(gconstpointer a, gconstpointer b)
{
    const mig *x = *(mig *const *)a, *y = *(mig *const *)b;

    return x->version < y->version ? -1 : x->version > y->version;
}

static mig *find(GPtrArray *all, long long version)
{
    for (guint i = 0; i < all->len; i++)
        if (((mig *)g_ptr_array_index(all, i))->version == version)
            return g_ptr_array_index(all, i);
    return NULL;
}

static bool load_dir(const char *dir, GPtrArray *all, dbr_error **err)
{
    GError *gerr = NULL;
    GDir *d = g_dir_open(dir, 0, &gerr);
    const char *name;
    bool ok = true;

    if (!d) {
        migrate_fail(err, "[plugin.migrate] dir: cannot open %s: %s", dir, gerr->message);
        g_error_free(gerr);
        return false;
    }
    while (ok && (name = g_dir_read_name(d))) {
        char *path = g_build_filename(dir, name, NULL), *description = NULL;
        long long version;
        bool up;
        mig *x;

        if (!g_str_has_suffix(name, ".sql") || !g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
            g_free(path);
            continue; /* a README beside the migrations is fine */
        }
        if (!parse_name(name, &version, &description, &up)) {
            ok = migrate_fail(err,
                              "%s: bad migration file name: expected NNNN_description.up.sql or "
                              "NNNN_description.down.sql",
                              path);
            g_free(path);
            break;
        }
        x = find(all, version);
        if (!x) {
            x = g_new0(mig, 1);
            x->version = version;
            x->description = g_strdup(description);
            g_ptr_array_add(all, x);
        } else if (strcmp(x->description, description) != 0 ||
                   (up ? !!x->up_path : !!x->down_path)) {
            ok = migrate_fail(err, "version %lld appears twice: %s and %s", version, path,
                              up ? (x->up_path ? x->up_path : x->down_path)
                                 : (x->down_path ? x->down_path : x->up_path));
        }
        if (ok && up) {
            x->up_path = g_strdup(path);
            ok = read_script(path, &x->up_sql, err);
        } else if (ok) {
            x->down_path = g_strdup(path);
            ok = read_script(path, &x->down_sql, err);
        }
        g_free(description);
        g_free(path);
    }
    g_dir_close(d);
    for (guint i = 0; ok && i < all->len; i++) {
        mig *x = g_ptr_array_index(all, i);

        if (!x->up_path)
            ok = migrate_fail(err, "version %lld has %s but no .up.sql", x->version, x->down_path);
        else {
            x->no_tx = g_str_has_prefix(x->up_sql, NO_TX_MARK);
            checksum_of(x->up_sql, x->checksum);
        }
    }
    return ok;
}

GPtrArray *mig_load(const migrate *m, dbr_error **err)
{
    GPtrArray *all = g_ptr_array_new_with_free_func((GDestroyNotify)mig_free);
    const dbr_migration *c;
    int n;

    if (*m->dir && !load_dir(m->dir, all, err)) {
        g_ptr_array_free(all, TRUE);
        return NULL;
    }
    c = dbr_migration_list(&n);
    for (int i = 0; i < n; i++) {
        mig *x = find(all, c[i].version);
        char *sig;

        if (x) {
            migrate_fail(err, "version %lld is both %s and a C migration (%s)", c[i].version,
                         x->up_path, c[i].description);
            g_ptr_array_free(all, TRUE);
            return NULL;
        }
        x = g_new0(mig, 1);
        x->version = c[i].version;
        x->description = g_strdup(c[i].description);
        x->c = &c[i];
        sig = g_strdup_printf("c:%lld:%s", c[i].version, c[i].description);
        checksum_of(sig, x->checksum);
        g_free(sig);
        g_ptr_array_add(all, x);
    }
    g_ptr_array_sort(all, by_version);
    return all;
}
