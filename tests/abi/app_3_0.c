/* SPDX-License-Identifier: MIT */
/*
 * A program built against the ABI 3.0 headers (tests/abi/3.0/include, a
 * frozen copy: never edit it), run against the library of this tree. It
 * uses every sized struct the way a 3.0 program would and loads the
 * smallest driver and plugin, themselves built against the same frozen
 * headers. When a later minor appends to those structs, this program must
 * keep passing unchanged: that is the ABI rule of docs/architecture.md.
 * Prints "ok" and exits 0, or names what broke and exits 1.
 */
#include <stdio.h>
#include <string.h>

#include <dbr/dbr.h>
#include <dbr/module.h>

#if DBR_ABI_MAJOR != 3 || DBR_ABI_MINOR != 0
#error "this program must be built against the frozen ABI 3.0 headers"
#endif

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "app_3_0: %s%s%s\n", what, err ? ": " : "",                            \
                    err ? dbr_error_message(err) : "");                                            \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static bool body(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "UPDATE t SET x = 1", 0, NULL, err);
}

int main(void)
{
    dbr_error *err = NULL;
    dbr_open_opts opts = {.config_text = "[database]\ndriver = min_3_0\n[chain]\nplugins = "
                                         "min_3_0\n"};
    dbr_tx_opts tx = {.isolation = DBR_ISOLATION_SERIALIZABLE}; /* no struct_size: 3.0 */
    dbr_pool_stats st;
    dbr_module_info info;
    dbr_result *r;
    dbr_db *db;

    db = dbr_open_with(&opts, &err);
    CHECK(db, "dbr_open_with");
    CHECK(dbr_tx_run(db, NULL, &tx, body, NULL, &err), "dbr_tx_run");
    r = dbr_query(db, NULL, "SELECT $1", 1, (const char *[]){"v"}, &err);
    CHECK(r && strcmp(dbr_result_value(r, 0, 0), "v") == 0, "dbr_query");
    dbr_pool_stats_get(db, &st);
    CHECK(st.open == 1 && st.idle == 1, "dbr_pool_stats_get");
    CHECK(dbr_chain_module(db, -1, &info) && strcmp(info.module, "min_3_0") == 0,
          "dbr_chain_module");
    dbr_close(db);
    CHECK(dbr_result_nrows(r) == 1, "a result after dbr_close");
    dbr_result_free(r);
    puts("ok");
    return 0;
}
