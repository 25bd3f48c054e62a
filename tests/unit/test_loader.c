/* SPDX-License-Identifier: MIT */
/*
 * The module loader refuses, with DBR_ERR_PLUGIN naming the file and the
 * reason: files that are not shared objects, objects without the entry
 * symbol, descriptors of another ABI, unsafe files and directories, modules
 * of the wrong kind or name, and duplicate plugins.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "../testutil.h"

static char *fixture(const char *file)
{
    char *dir = g_path_get_dirname(getenv("DBR_TEST_TMPDIR"));
    char *path = g_build_filename(dir, file, NULL);

    g_free(dir);
    ck_assert_msg(g_file_test(path, G_FILE_TEST_IS_REGULAR), "fixture %s missing", path);
    return path;
}

static char *copy_to(const char *src, const char *dir, const char *name, int mode)
{
    char *dst = g_build_filename(dir, name, NULL), *data;
    gsize len;

    ck_assert(g_file_get_contents(src, &data, &len, NULL));
    g_unlink(dst);
    ck_assert(g_file_set_contents(dst, data, (gssize)len, NULL));
    ck_assert_int_eq(g_chmod(dst, mode), 0);
    g_free(data);
    return dst;
}

static void expect_refusal(const char *config, const char *const *needles)
{
    dbr_error *err = t_open_fail("%s", config);

    ck_assert_msg(dbr_error_kind_of(err) == DBR_ERR_PLUGIN, "kind %s: %s",
                  dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err));
    for (; *needles; needles++)
        ck_assert_msg(strstr(dbr_error_message(err), *needles), "\"%s\" not in \"%s\"", *needles,
                      dbr_error_message(err));
    dbr_error_free(err);
}

#define REFUSED(config, ...) expect_refusal(config, (const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_loader_refuses_a_file_that_is_not_elf)
{
    char *dir = t_tmpdir("loader"), *path = g_build_filename(dir, "text.so", NULL);
    char *config;

    g_file_set_contents(path, "this is not a shared object\n", -1, NULL);
    g_chmod(path, 0644);
    config = g_strdup_printf("[database]\ndriver = %s\n", path);
    REFUSED(config, path, "dlopen failed");
    g_free(config);
    g_free(path);
    g_free(dir);
}
END_TEST

START_TEST(test_loader_refuses_missing_entry_symbol)
{
    REFUSED("[database]\ndriver = bad_no_entry\n", "dbr-driver-bad_no_entry.so",
            "no entry symbol dbr_module_entry");
}
END_TEST

START_TEST(test_loader_refuses_bad_magic_and_abi)
{
    REFUSED("[database]\ndriver = bad_magic\n", "dbr-driver-bad_magic.so", "bad magic");
    REFUSED("[database]\ndriver = bad_abi_major\n", "dbr-driver-bad_abi_major.so",
            "built for ABI 4.", "rebuild it");
    REFUSED("[database]\ndriver = bad_abi_minor\n", "dbr-driver-bad_abi_minor.so",
            "newer than this libdbr");
}
END_TEST

START_TEST(test_loader_refuses_group_writable_file)
{
    char *dir = t_tmpdir("loader"), *src = fixture("dbr-driver-fake.so");
    char *dst = copy_to(src, dir, "dbr-driver-fake.so", 0664);
    char *config = g_strdup_printf("[database]\ndriver = %s\n", dst);

    REFUSED(config, dst, "writable by group or others", "0664");
    g_chmod(dst, 0644);
    dbr_close(t_open("%s", config));
    g_free(config);
    g_free(dst);
    g_free(src);
    g_free(dir);
}
END_TEST

START_TEST(test_loader_refuses_file_under_writable_directory)
{
    char *dir = t_tmpdir("loader-dir"), *src = fixture("dbr-driver-fake.so");
    char *dst = copy_to(src, dir, "dbr-driver-fake.so", 0644);
    char *config = g_strdup_printf("[database]\ndriver = %s\n", dst);

    g_chmod(dir, 0777);
    REFUSED(config, dst, "directory", "writable by group or others");
    /* A sticky directory, like /tmp, is safe: no one else can replace our file. */
    g_chmod(dir, 01777);
    dbr_close(t_open("%s", config));
    g_chmod(dir, 0755);
    g_free(config);
    g_free(dst);
    g_free(src);
    g_free(dir);
}
END_TEST

START_TEST(test_loader_refuses_file_owned_by_someone_else)
{
    char *dir = t_tmpdir("loader"), *src = fixture("dbr-driver-fake.so");
    char *dst = copy_to(src, dir, "dbr-driver-fake.so", 0644);
    char *config = g_strdup_printf("[database]\ndriver = %s\n", dst);

    if (geteuid() == 0) {
        ck_assert_int_eq(chown(dst, 65534, 65534), 0);
        REFUSED(config, dst, "owned by uid 65534");
    } else {
        /* Without root we cannot give a file away; the rule still holds for
         * our own files, which must load. */
        dbr_close(t_open("%s", config));
    }
    g_free(config);
    g_free(dst);
    g_free(src);
    g_free(dir);
}
END_TEST

START_TEST(test_loader_refuses_non_regular_and_relative_paths)
{
    REFUSED("[database]\ndriver = /dev/null\n", "/dev/null", "not a regular file");
    REFUSED("[database]\ndriver = fake\n[chain]\nplugins = trace_a\n"
            "[plugin.trace_a]\nmodule = relative/trace.so\n",
            "relative/trace.so", "must be absolute");
    REFUSED("[database]\ndriver = no_such_driver\n", "driver \"no_such_driver\" not found",
            "dbr-driver-no_such_driver.so");
}
END_TEST

START_TEST(test_loader_refuses_wrong_kind_name_and_duplicates)
{
    char *dir = t_tmpdir("loader"), *plugin = fixture("dbr-plugin-trace_a.so");
    char *driver = fixture("dbr-driver-fake.so");
    char *renamed = copy_to(driver, dir, "dbr-driver-other.so", 0644);
    char *config;

    config = g_strdup_printf("[database]\ndriver = %s\n", plugin);
    REFUSED(config, plugin, "is not a driver module");
    g_free(config);

    config = g_strdup_printf("[database]\ndriver = other\n[chain]\npath = %s\n", dir);
    REFUSED(config, renamed, "calls itself \"fake\", expected \"other\"");
    g_free(config);

    config = g_strdup_printf("[database]\ndriver = fake\n[chain]\nplugins = trace_a, again\n"
                             "[plugin.again]\nmodule = %s\n",
                             plugin);
    REFUSED(config, "a plugin named \"trace_a\" is already loaded");
    g_free(config);
    g_free(renamed);
    g_free(driver);
    g_free(plugin);
    g_free(dir);
}
END_TEST

START_TEST(test_loader_refuses_a_relative_module_path_entry)
{
    char *saved = g_strdup(getenv("DBR_MODULE_PATH"));
    char *path = g_strdup_printf("%s:plugins/../relative-dir", saved);

    /* an entry before the relative one that holds the module is no excuse:
     * the whole variable is refused, naming the entry */
    ck_assert_int_eq(setenv("DBR_MODULE_PATH", path, 1), 0);
    REFUSED("[database]\ndriver = fake\n", "$DBR_MODULE_PATH", "\"plugins/../relative-dir\"",
            "not an absolute path");
    ck_assert_int_eq(setenv("DBR_MODULE_PATH", saved, 1), 0);
    ck_assert_int_eq(setenv("DBR_MODULE_SYSTEM_PATH", "lib/dbr", 1), 0);
    REFUSED("[database]\ndriver = fake\n", "$DBR_MODULE_SYSTEM_PATH \"lib/dbr\"",
            "not an absolute path");
    ck_assert_int_eq(setenv("DBR_MODULE_SYSTEM_PATH", "", 1), 0);
    dbr_close(t_open("[database]\ndriver = fake\n"));
    g_free(path);
    g_free(saved);
}
END_TEST

START_TEST(test_loader_loads_by_name_and_by_path)
{
    char *plugin = fixture("dbr-plugin-trace_b.so");
    dbr_db *db = t_open("[database]\ndriver = fake\n[chain]\nplugins = trace_a, mine\n"
                        "[plugin.mine]\nmodule = %s\nnote = hello\n",
                        plugin);

    ck_assert(dbr_ping(db, NULL, NULL));
    dbr_close(db);
    g_free(plugin);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");

    tcase_add_test(tc, test_loader_refuses_a_file_that_is_not_elf);
    tcase_add_test(tc, test_loader_refuses_missing_entry_symbol);
    tcase_add_test(tc, test_loader_refuses_bad_magic_and_abi);
    tcase_add_test(tc, test_loader_refuses_group_writable_file);
    tcase_add_test(tc, test_loader_refuses_file_under_writable_directory);
    tcase_add_test(tc, test_loader_refuses_file_owned_by_someone_else);
    tcase_add_test(tc, test_loader_refuses_non_regular_and_relative_paths);
    tcase_add_test(tc, test_loader_refuses_wrong_kind_name_and_duplicates);
    tcase_add_test(tc, test_loader_refuses_a_relative_module_path_entry);
    tcase_add_test(tc, test_loader_loads_by_name_and_by_path);
    suite_add_tcase(s, tc);
    return t_run(s);
}
