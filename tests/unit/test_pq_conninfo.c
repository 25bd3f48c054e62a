/* SPDX-License-Identifier: MIT */
/*
 * The core's password and a sibling's keywords put over a conninfo by the
 * pq driver (drivers/pq/pq_hosts.c, dbr_driver_opts), with libpq as the
 * oracle: the connection is only started (to a port nothing listens on),
 * and PQconninfo says what libpq took for each keyword.
 */
#include <check.h>
#include <glib.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "../../drivers/pq/pq_hosts.h"

/* What libpq holds for key on the connection started from conninfo and
 * opts (g_free; NULL when unset). */
static char *taken(const char *conninfo, const dbr_driver_opts *opts, const char *key)
{
    dbr_error *err = NULL;
    PQconninfoOption *all;
    pq_hosts h;
    PGconn *pg;
    char *v = NULL;

    ck_assert_msg(pq_hosts_init(&h, conninfo, opts, &err), "%s", dbr_error_message(err));
    pg = pq_hosts_start(&h, 0);
    ck_assert_ptr_nonnull(pg);
    all = PQconninfo(pg);
    for (PQconninfoOption *o = all; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0 && o->val && *o->val)
            v = g_strdup(o->val);
    PQconninfoFree(all);
    PQfinish(pg);
    pq_hosts_clear(&h);
    return v;
}

static void ck_taken(const char *conninfo, const dbr_driver_opts *opts, const char *key,
                     const char *want)
{
    char *v = taken(conninfo, opts, key);

    ck_assert_msg(g_strcmp0(v, want) == 0, "%s from [%s]: [%s], wanted [%s]", key, conninfo,
                  v ? v : "(unset)", want ? want : "(unset)");
    g_free(v);
}

/* Quotes, backslashes, blanks, and what a URI or a key=value pair would
 * have to escape. */
static const char pw[] = "it's a \\ \"pass\" word='x' @:/?&=%20";

START_TEST(test_password_beside_a_key_value_conninfo)
{
    dbr_driver_opts o = {.struct_size = sizeof(o), .password = pw};

    ck_taken("host=127.0.0.1 port=1 dbname=app user=u", &o, "password", pw);
    /* password_file wins over a password in the conninfo */
    ck_taken("host=127.0.0.1 port=1 dbname=app user=u password=old", &o, "password", pw);
    ck_taken("host=127.0.0.1 port=1 dbname=app user=u password=old", &o, "user", "u");
    /* none given: the conninfo's stays */
    o.password = NULL;
    ck_taken("host=127.0.0.1 port=1 dbname=app user=u password=old", &o, "password", "old");
}
END_TEST

START_TEST(test_password_beside_a_uri_conninfo)
{
    dbr_driver_opts o = {.struct_size = sizeof(o), .password = pw};

    ck_taken("postgresql://u@127.0.0.1:1/app?sslmode=disable", &o, "password", pw);
    ck_taken("postgresql://u:old@127.0.0.1:1/app", &o, "password", pw);
    ck_taken("postgresql://u:old@127.0.0.1:1/app", &o, "dbname", "app");
    ck_taken("postgres://127.0.0.1:1/app?password=old&user=u", &o, "password", pw);
}
END_TEST

START_TEST(test_password_beside_a_dbname_that_is_a_conninfo)
{
    dbr_driver_opts o = {.struct_size = sizeof(o), .password = pw};

    ck_taken("dbname='host=127.0.0.1 port=1 dbname=app password=old'", &o, "password", pw);
    ck_taken("dbname=postgresql://u:old@127.0.0.1:1/app", &o, "password", pw);
}
END_TEST

START_TEST(test_overrides_win_in_order_and_empty_unsets)
{
    const char *keys[] = {"host", "hostaddr", "port", "target_session_attrs", "port"};
    const char *vals[] = {"/tmp/standby", "", "2", "any", "3"};
    dbr_driver_opts o = {.struct_size = sizeof(o),
                         .password = pw,
                         .noverrides = 5,
                         .override_keys = keys,
                         .override_values = vals};
    const char *ci = "host=10.0.0.1 hostaddr=10.0.0.1 port=1 dbname=app "
                     "target_session_attrs=read-write";

    ck_taken(ci, &o, "host", "/tmp/standby");
    ck_taken(ci, &o, "hostaddr", NULL);
    ck_taken(ci, &o, "port", "3");
    ck_taken(ci, &o, "target_session_attrs", "any");
    ck_taken(ci, &o, "dbname", "app");
    ck_taken(ci, &o, "password", pw);
    /* a URI with a host list: the standby's one host replaces it */
    ck_taken("postgresql://a:1,b:2/app", &o, "host", "/tmp/standby");
    ck_taken("postgresql://a:1,b:2/app", &o, "port", "3");
}
END_TEST

START_TEST(test_unknown_override_is_a_config_error_without_the_value)
{
    const char *keys[] = {"host", "hots"};
    const char *vals[] = {"h", "Zq9secret"};
    dbr_driver_opts o = {
        .struct_size = sizeof(o), .noverrides = 2, .override_keys = keys, .override_values = vals};
    dbr_error *err = NULL;
    pq_hosts h;

    ck_assert(!pq_hosts_init(&h, "host=127.0.0.1 port=1", &o, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), "\"hots\"") &&
                      !strstr(dbr_error_message(err), "Zq9"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
}
END_TEST

/* A dbname that is itself a conninfo: libpq skips empty values there, so
 * a keyword the core must unset (a standby's hostaddr) is refused, not
 * silently kept (the standby would connect to the primary's address). */
START_TEST(test_empty_override_beside_a_dbname_conninfo_is_refused)
{
    const char *keys[] = {"host", "hostaddr", "port"};
    const char *vals[] = {"/tmp/standby", "", "3"};
    dbr_driver_opts o = {
        .struct_size = sizeof(o), .noverrides = 3, .override_keys = keys, .override_values = vals};
    dbr_error *err = NULL;
    pq_hosts h;

    ck_assert(
        !pq_hosts_init(&h, "hostaddr=10.0.0.1 dbname='host=10.0.0.1 port=1 dbname=app'", &o, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_CONFIG);
    ck_assert_msg(strstr(dbr_error_message(err), "\"hostaddr\"") &&
                      strstr(dbr_error_message(err), "flat"),
                  "%s", dbr_error_message(err));
    dbr_error_free(err);
    /* without the empty one it is taken as before */
    o.noverrides = 1;
    ck_assert(pq_hosts_init(&h, "dbname='host=10.0.0.1 port=1 dbname=app'", &o, &err));
    pq_hosts_clear(&h);
}
END_TEST

/* A core built before the fields existed: struct_size stops short of them. */
START_TEST(test_older_opts_are_read_within_their_size)
{
    dbr_driver_opts o = {.struct_size =
                             offsetof(dbr_driver_opts, statement_cache_size) + sizeof(int),
                         .password = pw};

    ck_taken("host=127.0.0.1 port=1 password=old", &o, "password", "old");
    ck_taken("host=127.0.0.1 port=1 password=old", NULL, "password", "old");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pq_conninfo");
    TCase *tc = tcase_create("conninfo");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_password_beside_a_key_value_conninfo);
    tcase_add_test(tc, test_password_beside_a_uri_conninfo);
    tcase_add_test(tc, test_password_beside_a_dbname_that_is_a_conninfo);
    tcase_add_test(tc, test_overrides_win_in_order_and_empty_unsets);
    tcase_add_test(tc, test_unknown_override_is_a_config_error_without_the_value);
    tcase_add_test(tc, test_older_opts_are_read_within_their_size);
    tcase_add_test(tc, test_empty_override_beside_a_dbname_conninfo_is_refused);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
