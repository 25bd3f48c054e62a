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

#include <dbr/sql.h>

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
    g_free(x->problem);
    g_free(x->bad_file);
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

/* "0003_add_index.up.sql" -> 3, "add index", up. NULL when the name is
 * good, else what is wrong with it. */
static const char *parse_name(const char *name, long long *version, char **description, bool *up)
{
    const char *p = name, *us, *end;
    char *num;
    int overflow;

    *version = 0;
    *description = NULL;
    while (g_ascii_isdigit(*p))
        p++;
    if (g_str_has_suffix(name, ".up.sql")) {
        *up = true;
        end = name + strlen(name) - strlen(".up.sql");
    } else if (g_str_has_suffix(name, ".down.sql")) {
        *up = false;
        end = name + strlen(name) - strlen(".down.sql");
    } else {
        return "bad migration file name: expected NNNN_description.up.sql or "
               "NNNN_description.down.sql";
    }
    if (p == name || *p != '_' || end <= p + 1)
        return "bad migration file name: expected NNNN_description.up.sql or "
               "NNNN_description.down.sql";
    us = p;
    num = g_strndup(name, (gsize)(us - name));
    errno = 0;
    *version = g_ascii_strtoll(num, NULL, 10);
    overflow = errno == ERANGE;
    g_free(num);
    if (overflow) {
        *version = 0;
        return "the version number is too large (at most 9223372036854775807)";
    }
    if (*version == 0)
        return "version 0 is not a migration: versions start at 1 (0 means \"nothing applied\")";
    *description = g_strndup(us + 1, (gsize)(end - us - 1));
    g_strdelimit(*description, "_", ' ');
    return NULL;
}

static void checksum_of(const char *text, char out[65])
{
    char *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text, -1);

    g_strlcpy(out, hex, 65);
    g_free(hex);
}

/* The file's text, or NULL with *problem set. */
static char *read_script(const char *path, char **problem)
{
    GError *gerr = NULL;
    char *text, *trimmed;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        *problem = g_strdup_printf("cannot read it: %s", gerr->message);
        g_error_free(gerr);
        return NULL;
    }
    trimmed = g_strstrip(g_strdup(text));
    if (!*trimmed) {
        *problem = g_strdup("the file is empty: a migration must do something");
        g_free(text);
        text = NULL;
    }
    g_free(trimmed);
    return text;
}

static gint by_version(gconstpointer a, gconstpointer b)
{
    const mig *x = *(mig *const *)a, *y = *(mig *const *)b;

    if (!x->version || !y->version) /* unnumbered bad files last, by name */
        return x->version ? -1 : y->version ? 1 : g_strcmp0(x->bad_file, y->bad_file);
    return x->version < y->version ? -1 : x->version > y->version;
}

mig *mig_find(const GPtrArray *all, long long version)
{
    for (guint i = 0; i < all->len; i++)
        if (((mig *)g_ptr_array_index(all, i))->version == version)
            return g_ptr_array_index(all, i);
    return NULL;
}

unsigned mig_line_at(const char *text, size_t pos)
{
    unsigned line = 1;

    for (size_t i = 0; i < pos; i++)
        line += text[i] == '\n';
    return line;
}

/* What a no-transaction file must not hold, or NULL: it is split into
 * statements that each run in autocommit, so an unterminated string or
 * comment would be cut differently from how the server reads the file, and
 * transaction control would leave statements uncommitted or roll back
 * ones already counted as applied. */
static char *no_tx_problem(const char *sql)
{
    static const char *const control[] = {"begin",    "start", "commit",    "end",
                                          "rollback", "abort", "savepoint", "release"};
    size_t len = strlen(sql), pos = 0;
    dbr_sql_statement st;
    dbr_sql_token t;
    int n = 0;

    for (size_t p = 0;;) {
        p = dbr_sql_lex(sql, len, p, &t);
        if (t.kind == DBR_SQL_END)
            break;
        if (t.unterminated)
            return g_strdup_printf("line %u: an unterminated %s runs to the end of the file",
                                   mig_line_at(sql, t.start),
                                   t.kind == DBR_SQL_COMMENT       ? "comment"
                                   : t.kind == DBR_SQL_QUOTED_NAME ? "quoted name"
                                                                   : "string");
    }
    while (dbr_sql_next_statement(sql, len, &pos, &st)) {
        char *text = g_strndup(sql + st.start, st.len);
        char first[16], second[16];
        const char *rest = dbr_sql_next_word(text, first, sizeof(first));
        bool bad = false;

        n++;
        dbr_sql_next_word(rest, second, sizeof(second));
        for (size_t i = 0; i < G_N_ELEMENTS(control); i++)
            bad |= strcmp(first, control[i]) == 0;
        bad |= strcmp(first, "prepare") == 0 && strcmp(second, "transaction") == 0;
        g_free(text);
        if (bad)
            return g_strdup_printf("statement %d (line %u) is %s: outside a transaction each "
                                   "statement commits on its own; put a transaction in a "
                                   "migration without the no-transaction mark",
                                   n, mig_line_at(sql, st.start), first);
    }
    return NULL;
}

static void set_problem(mig *x, const char *file, char *problem)
{
    if (x->problem) { /* keep the first; the others are listed once it is fixed */
        g_free(problem);
        return;
    }
    x->problem = problem;
    x->bad_file = g_strdup(file);
}

static bool load_dir(const char *dir, GPtrArray *all, dbr_error **err)
{
    GError *gerr = NULL;
    GDir *d = g_dir_open(dir, 0, &gerr);
    const char *name;

    if (!d) {
        migrate_fail(err, "[plugin.migrate] dir: cannot open %s: %s", dir, gerr->message);
        g_error_free(gerr);
        return false;
    }
    while ((name = g_dir_read_name(d))) {
        char *path = g_build_filename(dir, name, NULL), *description = NULL, *problem = NULL;
        const char *bad;
        long long version;
        bool up;
        mig *x;

        if (!g_str_has_suffix(name, ".sql") || !g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
            g_free(path);
            continue; /* a README beside the migrations is fine */
        }
        bad = parse_name(name, &version, &description, &up);
        if (bad) {
            x = g_new0(mig, 1);
            x->version = version; /* 0 unless the name held one */
            x->description = g_strdup("");
            set_problem(x, path, g_strdup(bad));
            g_ptr_array_add(all, x);
            g_free(path);
            continue;
        }
        x = mig_find(all, version);
        if (!x) {
            x = g_new0(mig, 1);
            x->version = version;
            x->description = g_strdup(description);
            g_ptr_array_add(all, x);
        } else if (strcmp(x->description, description) != 0 ||
                   (up ? !!x->up_path : !!x->down_path)) {
            const char *other = up ? (x->up_path ? x->up_path : x->down_path)
                                   : (x->down_path ? x->down_path : x->up_path);

            set_problem(x, path,
                        g_strdup_printf("version %lld appears twice: %s and %s", version, path,
                                        other ? other : "another file"));
            g_free(description);
            g_free(path);
            continue;
        }
        if (up) {
            x->up_path = g_strdup(path);
            x->up_sql = read_script(path, &problem);
        } else {
            x->down_path = g_strdup(path);
            x->down_sql = read_script(path, &problem);
        }
        if (problem)
            set_problem(x, path, problem);
        g_free(description);
        g_free(path);
    }
    g_dir_close(d);
    for (guint i = 0; i < all->len; i++) {
        mig *x = g_ptr_array_index(all, i);

        if (!x->version)
            continue;
        if (!x->up_path && x->down_path)
            set_problem(
                x, x->down_path,
                g_strdup_printf("version %lld has %s but no .up.sql", x->version, x->down_path));
        if (x->up_sql) {
            x->no_tx = g_str_has_prefix(x->up_sql, NO_TX_MARK);
            checksum_of(x->up_sql, x->checksum);
            if (x->no_tx) {
                char *problem = no_tx_problem(x->up_sql);

                if (problem)
                    set_problem(x, x->up_path, problem);
            }
        }
        if (x->down_sql) {
            x->down_no_tx = g_str_has_prefix(x->down_sql, NO_TX_MARK);
            if (x->down_no_tx) {
                char *problem = no_tx_problem(x->down_sql);

                if (problem)
                    set_problem(x, x->down_path, problem);
            }
        }
    }
    return true;
}

bool mig_check(const GPtrArray *all, dbr_error **err)
{
    GString *msg = NULL;
    int n = 0;

    for (guint i = 0; i < all->len; i++) {
        const mig *x = g_ptr_array_index(all, i);

        if (!x->problem)
            continue;
        if (!msg)
            msg = g_string_new(NULL);
        g_string_append_printf(msg, "%s%s: %s", n++ ? "; " : "", x->bad_file, x->problem);
    }
    if (!msg)
        return true;
    migrate_fail(err, "%d bad migration file%s (`dbr migrate status` lists them): %s", n,
                 n == 1 ? "" : "s", msg->str);
    g_string_free(msg, TRUE);
    return false;
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
        mig *x = mig_find(all, c[i].version);
        char *sig;

        if (x) {
            const char *file = x->up_path ? x->up_path : x->down_path ? x->down_path : "a file";

            set_problem(x, file,
                        g_strdup_printf("version %lld is both %s and a C migration (%s)",
                                        c[i].version, file, c[i].description));
            continue;
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
