/* SPDX-License-Identifier: MIT */
/*
 * The module loader.
 *
 * dlopen runs a module's constructors, so every check that protects the
 * process happens before it: the file must be a regular file owned by root or
 * by us and not writable by group or others, and so must every directory on
 * its path (OpenSSH's safe_path rule), except that a sticky directory such as
 * /tmp may be world-writable, because no one else can rename or replace what
 * we own inside it. Then, after dlopen (RTLD_NOW | RTLD_LOCAL, so a missing
 * symbol fails here and modules cannot interpose on each other), the
 * descriptor is checked field by field. Every refusal is a DBR_ERR_PLUGIN
 * error naming the file and the reason.
 */
#include <dlfcn.h>
#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "suggest.h"

struct dbr_module_ref {
    gint refs; /* atomic */
    void *handle;
};

#ifndef DBR_MODULEDIR
#define DBR_MODULEDIR "/usr/local/lib/dbr"
#endif

static bool refuse(dbr_error **err, const char *path, const char *fmt, ...) DBR_PRINTF(3, 4);
static bool refuse(dbr_error **err, const char *path, const char *fmt, ...)
{
    va_list ap;
    char *why;

    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    dbr_set_error(err, DBR_ERR_PLUGIN, "loader", "refusing to load %s: %s",
                  dbr_quote_name(path).text, why);
    g_free(why);
    return false;
}

static bool owner_ok(const struct stat *sb)
{
    return sb->st_uid == 0 || sb->st_uid == geteuid();
}

/* The file and each directory above it, up to /. */
static bool check_safe_path(const char *real, dbr_error **err)
{
    struct stat sb;
    char *dir;

    if (stat(real, &sb) != 0)
        return refuse(err, real, "%s", g_strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return refuse(err, real, "not a regular file");
    if (!owner_ok(&sb))
        return refuse(err, real, "owned by uid %u, neither root nor the current user",
                      (unsigned)sb.st_uid);
    if (sb.st_mode & (S_IWGRP | S_IWOTH))
        return refuse(err, real, "writable by group or others (mode %04o)",
                      (unsigned)(sb.st_mode & 07777));
    dir = g_path_get_dirname(real);
    for (;;) {
        char *up;

        if (stat(dir, &sb) != 0) {
            refuse(err, real, "directory %s: %s", dir, g_strerror(errno));
            break;
        }
        if (!owner_ok(&sb)) {
            refuse(err, real, "directory %s is owned by uid %u, neither root nor the current user",
                   dir, (unsigned)sb.st_uid);
            break;
        }
        if ((sb.st_mode & (S_IWGRP | S_IWOTH)) && !(sb.st_mode & S_ISVTX)) {
            refuse(err, real, "directory %s is writable by group or others (mode %04o)", dir,
                   (unsigned)(sb.st_mode & 07777));
            break;
        }
        if (strcmp(dir, "/") == 0) {
            g_free(dir);
            return true;
        }
        up = g_path_get_dirname(dir);
        g_free(dir);
        dir = up;
    }
    g_free(dir);
    return false;
}

static const char *kind_word(dbr_module_kind kind)
{
    return kind == DBR_MODULE_DRIVER ? "driver" : "plugin";
}

/* The environment, unless the process runs setuid or setgid: a module path
 * from the caller's environment would load the caller's code with our
 * privileges. */
static const char *env_get(const char *name)
{
    return secure_getenv(name);
}

/* $DBR_MODULE_PATH: a relative entry would be resolved against whatever the
 * working directory happens to be, so it is refused, by name. */
static bool env_dirs(GPtrArray *all, dbr_error **err)
{
    const char *env = env_get("DBR_MODULE_PATH");
    char **parts;
    bool ok = true;

    if (!env || !*env)
        return true;
    parts = g_strsplit(env, ":", -1);
    for (char **p = parts; *p && ok; p++) {
        if (!**p)
            continue;
        if (!g_path_is_absolute(*p))
            ok = dbr_set_error(err, DBR_ERR_PLUGIN, "loader",
                               "$DBR_MODULE_PATH: entry \"%.200s\" is not an absolute path "
                               "(every entry must start with /)",
                               *p);
        else
            g_ptr_array_add(all, g_strdup(*p));
    }
    g_strfreev(parts);
    return ok;
}

/* The directories searched, in order: [chain] path, $DBR_MODULE_PATH, the
 * system's; a bad entry is left out (find_module reports it). */
static GPtrArray *module_dirs(char *const *dirs)
{
    const char *sys = env_get("DBR_MODULE_SYSTEM_PATH");
    GPtrArray *all = g_ptr_array_new_with_free_func(g_free);
    dbr_error *ignored = NULL;

    for (char *const *d = dirs; d && *d; d++)
        g_ptr_array_add(all, g_strdup(*d));
    env_dirs(all, &ignored);
    dbr_error_free(ignored);
    g_ptr_array_add(all, g_strdup(sys && g_path_is_absolute(sys) ? sys : DBR_MODULEDIR));
    return all;
}

/* *found: the first dbr-KIND-NAME.so in dirs, $DBR_MODULE_PATH, then the
 * system directory; NULL when there is none. False only on a bad path. */
static bool find_module(const char *name, dbr_module_kind kind, char *const *dirs, char **found,
                        dbr_error **err)
{
    char *file = g_strdup_printf("dbr-%s-%s.so", kind_word(kind), name);
    const char *sys = env_get("DBR_MODULE_SYSTEM_PATH");
    GPtrArray *all = g_ptr_array_new_with_free_func(g_free);
    bool ok;

    *found = NULL;
    for (char *const *d = dirs; d && *d; d++)
        g_ptr_array_add(all, g_strdup(*d));
    ok = env_dirs(all, err);
    if (ok && sys && *sys && !g_path_is_absolute(sys))
        ok = dbr_set_error(err, DBR_ERR_PLUGIN, "loader",
                           "$DBR_MODULE_SYSTEM_PATH \"%.200s\" is not an absolute path", sys);
    /* Tests empty the system path so an installed copy is never picked up. */
    g_ptr_array_add(all, g_strdup(sys ? sys : DBR_MODULEDIR));
    for (guint i = 0; ok && i < all->len && !*found; i++) {
        const char *dir = g_ptr_array_index(all, i);
        char *candidate;

        if (!*dir)
            continue;
        candidate = g_build_filename(dir, file, NULL);
        if (g_file_test(candidate, G_FILE_TEST_EXISTS))
            *found = candidate;
        else
            g_free(candidate);
    }
    g_ptr_array_free(all, TRUE);
    g_free(file);
    return ok;
}

/* " (did you mean \"x\"?)" for the module of this kind whose name is
 * nearest to name among those installed in the search path, or "". */
static char *nearest_module(const char *name, dbr_module_kind kind, char *const *dirs)
{
    char *prefix = g_strdup_printf("dbr-%s-", kind_word(kind));
    GPtrArray *all = module_dirs(dirs), *names = g_ptr_array_new_with_free_func(g_free);
    const char *near;
    char *out;

    for (guint i = 0; i < all->len; i++) {
        const char *dir = g_ptr_array_index(all, i), *f;
        GDir *d = *dir ? g_dir_open(dir, 0, NULL) : NULL;

        while (d && (f = g_dir_read_name(d)))
            if (g_str_has_prefix(f, prefix) && g_str_has_suffix(f, ".so"))
                g_ptr_array_add(names,
                                g_strndup(f + strlen(prefix), strlen(f) - strlen(prefix) - 3));
        if (d)
            g_dir_close(d);
    }
    g_ptr_array_add(names, NULL);
    near = dbr_suggest(name, (const char *const *)names->pdata);
    out = near ? g_strdup_printf("; did you mean \"%s\"?", near) : g_strdup("");
    g_ptr_array_free(names, TRUE);
    g_ptr_array_free(all, TRUE);
    g_free(prefix);
    return out;
}

static bool check_descriptor(const dbr_module *m, const char *path, const char *name,
                             dbr_module_kind kind, dbr_error **err)
{
    if (!m)
        return refuse(err, path, "%s() returned NULL", DBR_MODULE_ENTRY_SYMBOL);
    if (m->magic != DBR_MODULE_MAGIC)
        return refuse(err, path, "bad magic 0x%08x (expected 0x%08x): not a dbr module",
                      (unsigned)m->magic, (unsigned)DBR_MODULE_MAGIC);
    if (m->abi_major != DBR_ABI_MAJOR)
        return refuse(err, path, "built for ABI %u.%u, this libdbr provides ABI %d.%d: rebuild it",
                      m->abi_major, m->abi_minor, DBR_ABI_MAJOR, DBR_ABI_MINOR);
    if (m->abi_minor > DBR_ABI_MINOR)
        return refuse(err, path,
                      "built for ABI %u.%u, newer than this libdbr's %d.%d: "
                      "upgrade libdbr",
                      m->abi_major, m->abi_minor, DBR_ABI_MAJOR, DBR_ABI_MINOR);
    /* An older minor's descriptor may be shorter than this library's: what
     * it must hold is the 3.0 fields, up to ops. */
    if (m->struct_size < offsetof(dbr_module, ops) + sizeof(m->ops))
        return refuse(err, path, "descriptor size %u is smaller than the %zu bytes of ABI 3.0",
                      (unsigned)m->struct_size, offsetof(dbr_module, ops) + sizeof(m->ops));
    if (m->kind != kind)
        return refuse(err, path, "is not a %s module", kind_word(kind));
    if (!m->name || !*m->name || !m->ops)
        return refuse(err, path, "descriptor has no name or no ops");
    if (name && strcmp(m->name, name) != 0)
        return refuse(err, path, "module calls itself %s, expected %s", dbr_quote(m->name).text,
                      dbr_quote(name).text);
    return true;
}

bool dbr_loader_load(const char *name, const char *path, dbr_module_kind kind, char *const *dirs,
                     dbr_loaded *out, dbr_error **err)
{
    char real[PATH_MAX];
    char *found = NULL;
    dbr_module_entry_fn entry;
    void *handle;

    memset(out, 0, sizeof(*out));
    if (path) {
        if (!g_path_is_absolute(path))
            return refuse(err, path, "module paths must be absolute");
    } else {
        if (!find_module(name, kind, dirs, &found, err))
            return false;
        if (!found) {
            char *near = nearest_module(name, kind, dirs);

            dbr_set_error(
                err, DBR_ERR_PLUGIN, "loader",
                "%s %s not found: no dbr-%s-%s.so in [chain] path, "
                "$DBR_MODULE_PATH%s or %s%s",
                kind_word(kind), dbr_quote(name).text, kind_word(kind), dbr_quote_name(name).text,
                getenv("DBR_MODULE_PATH") && !env_get("DBR_MODULE_PATH")
                    ? " (ignored: a setuid or setgid program)"
                    : "",
                env_get("DBR_MODULE_SYSTEM_PATH") ? "$DBR_MODULE_SYSTEM_PATH" : DBR_MODULEDIR,
                near);
            g_free(near);
            return false;
        }
        path = found;
    }
    if (!realpath(path, real)) {
        refuse(err, path, "%s", g_strerror(errno));
        goto out_free;
    }
    if (!check_safe_path(real, err))
        goto out_free;
    handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        refuse(err, real, "dlopen failed: %s", dlerror());
        goto out_free;
    }
    *(void **)&entry = dlsym(handle, DBR_MODULE_ENTRY_SYMBOL);
    if (!entry) {
        refuse(err, real, "no entry symbol %s(): not a dbr module", DBR_MODULE_ENTRY_SYMBOL);
        goto out_close;
    }
    out->mod = entry();
    if (!check_descriptor(out->mod, real, path == found ? name : NULL, kind, err))
        goto out_close;
    out->ref = g_new(dbr_module_ref, 1);
    out->ref->handle = handle;
    out->ref->refs = 1;
    out->path = g_strdup(real);
    g_free(found);
    return true;

out_close:
    dlclose(handle);
out_free:
    out->mod = NULL;
    g_free(found);
    return false;
}

dbr_module_ref *dbr_loader_hold(dbr_module_ref *ref)
{
    if (ref)
        g_atomic_int_inc(&ref->refs);
    return ref;
}

void dbr_loader_release(dbr_module_ref *ref)
{
    if (!ref || !g_atomic_int_dec_and_test(&ref->refs))
        return;
    dlclose(ref->handle);
    g_free(ref);
}

void dbr_loader_unload(dbr_loaded *m)
{
    if (!m || !m->ref)
        return;
    dbr_loader_release(m->ref);
    g_free(m->path);
    memset(m, 0, sizeof(*m));
}
