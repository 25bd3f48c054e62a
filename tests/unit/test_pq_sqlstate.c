/* SPDX-License-Identifier: MIT */
/*
 * The pq driver's SQLSTATE table: every code of the server's own list
 * (errcodes.txt, DBR_TEST_ERRCODES) has an entry made on purpose, and the
 * codes whose handling matters most have the kind and outcome rule the docs
 * promise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../drivers/pq/pq_sqlstate.h"
#include "../testutil.h"

START_TEST(test_sqlstate_every_server_code_is_mapped_on_purpose)
{
    const char *path = getenv("DBR_TEST_ERRCODES");
    FILE *f;
    char line[512];
    int codes = 0, missing = 0;

    ck_assert_msg(path && *path, "DBR_TEST_ERRCODES names the server's errcodes.txt");
    f = fopen(path, "r");
    ck_assert_msg(f, "cannot open %s", path);
    while (fgets(line, sizeof(line), f)) {
        char code[6], sev;

        /* "sqlstate  E/W/S  ERRCODE_NAME  spec_name" */
        if (sscanf(line, "%5[0-9A-Z] %c ERRCODE_", code, &sev) != 2 || strlen(code) != 5)
            continue;
        codes++;
        if (!pq_sqlstate_exact(code)) {
            fprintf(stderr, "no entry for SQLSTATE %s: %s", code, line);
            missing++;
        }
    }
    fclose(f);
    ck_assert_int_ge(codes, 250); /* the list was read, not skipped */
    ck_assert_int_eq(missing, 0);
}
END_TEST

START_TEST(test_sqlstate_table_is_sorted_and_known_kinds)
{
    size_t n;
    const pq_sqlstate *t = pq_sqlstate_table(&n);

    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(strlen(t[i].code), 5);
        ck_assert_int_ge(t[i].kind, DBR_ERR_CONNECTION);
        ck_assert_int_le(t[i].kind, DBR_ERR_KIND_MAX);
        if (i)
            ck_assert_msg(strcmp(t[i - 1].code, t[i].code) < 0, "%s before %s", t[i - 1].code,
                          t[i].code);
        /* Every class has its generic code, the fallback of newer codes. */
        {
            char generic[6];

            memcpy(generic, t[i].code, 2);
            memcpy(generic + 2, "000", 4);
            ck_assert_msg(pq_sqlstate_exact(generic), "class of %s has no %s", t[i].code, generic);
        }
    }
}
END_TEST

static void expect(const char *code, dbr_error_kind kind, int flags)
{
    const pq_sqlstate *s = pq_sqlstate_find(code);

    ck_assert_msg(s, "%s found", code);
    ck_assert_msg(s->kind == kind, "%s: kind %s, expected %s", code, dbr_error_kind_name(s->kind),
                  dbr_error_kind_name(kind));
    ck_assert_msg(s->flags == flags, "%s: flags %d, expected %d", code, s->flags, flags);
}

START_TEST(test_sqlstate_the_codes_that_matter)
{
    const int T = PQ_SS_TRANSIENT, S = PQ_SS_SESSION_ENDS, I = PQ_SS_IDLE_ONLY;

    expect("55P03", DBR_ERR_LOCK_CONTENTION, T); /* NOWAIT, lock_timeout */
    expect("57014", DBR_ERR_CANCELED, 0);        /* statement_timeout or a cancel */
    expect("25P03", DBR_ERR_CONNECTION, T | S | I);
    expect("57P05", DBR_ERR_CONNECTION, T | S | I);
    expect("57P01", DBR_ERR_CONNECTION, T | S);
    expect("57P02", DBR_ERR_CONNECTION, T | S);
    expect("57P03", DBR_ERR_CONNECTION, T | S);
    expect("53300", DBR_ERR_RESOURCE, T);
    expect("53100", DBR_ERR_RESOURCE, 0);
    expect("08P01", DBR_ERR_CONNECTION, T | S);
    expect("08007", DBR_ERR_COMMIT_UNKNOWN, S);
    expect("0A000", DBR_ERR_SYNTAX, 0);
    expect("XX001", DBR_ERR_DATA_CORRUPTED, 0);
    expect("XX002", DBR_ERR_DATA_CORRUPTED, 0);
    expect("58000", DBR_ERR_RESOURCE, 0);
    expect("58030", DBR_ERR_RESOURCE, 0);
    expect("40001", DBR_ERR_SERIALIZATION, T);
    expect("40P01", DBR_ERR_DEADLOCK, T);
    expect("40002", DBR_ERR_CONSTRAINT, 0);
    expect("23505", DBR_ERR_CONSTRAINT, 0);
    expect("42501", DBR_ERR_PERMISSION, 0);
    expect("28P01", DBR_ERR_PERMISSION, 0);
    expect("25006", DBR_ERR_READ_ONLY, 0);
    expect("25P02", DBR_ERR_MISUSE, 0);
    expect("2D000", DBR_ERR_MISUSE, 0);
    expect("3D000", DBR_ERR_CONFIG, 0);
    expect("25P04", DBR_ERR_CONNECTION, T | S); /* transaction_timeout, PostgreSQL 17 */
}
END_TEST

START_TEST(test_sqlstate_unknown_codes_take_their_class)
{
    /* A code of a newer server falls to its class's generic entry. */
    ck_assert_int_eq(pq_classify("55P99"), DBR_ERR_MISUSE);
    ck_assert_int_eq(pq_classify("08Z99"), DBR_ERR_CONNECTION);
    ck_assert(pq_sqlstate_flags("08Z99") & PQ_SS_SESSION_ENDS);
    ck_assert_int_eq(pq_classify("53999"), DBR_ERR_RESOURCE);
    ck_assert_int_eq(pq_classify("XX999"), DBR_ERR_INTERNAL);
    /* A class nobody knows, and no code at all. */
    ck_assert_int_eq(pq_classify("ZZ001"), DBR_ERR_INTERNAL);
    ck_assert_int_eq(pq_sqlstate_flags("ZZ001"), 0);
    ck_assert_int_eq(pq_classify(NULL), DBR_ERR_NONE);
    ck_assert_int_eq(pq_classify("123"), DBR_ERR_NONE);
    ck_assert_int_eq(pq_classify("123456"), DBR_ERR_NONE);
    ck_assert_ptr_null(pq_sqlstate_exact("5"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pq_sqlstate");
    TCase *tc = tcase_create("pq_sqlstate");

    tcase_add_test(tc, test_sqlstate_every_server_code_is_mapped_on_purpose);
    tcase_add_test(tc, test_sqlstate_table_is_sorted_and_known_kinds);
    tcase_add_test(tc, test_sqlstate_the_codes_that_matter);
    tcase_add_test(tc, test_sqlstate_unknown_codes_take_their_class);
    suite_add_tcase(s, tc);
    return t_run(s);
}
