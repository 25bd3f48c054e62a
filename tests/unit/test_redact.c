/* SPDX-License-Identifier: MIT */
/*
 * Connection strings redacted for logs and `dbr check` (the pq driver's
 * redact_conninfo slot, drivers/pq/pq_redact.c; common/secret_key.c's secret keys),
 * fuzzed with libpq as the oracle: random passwords (quotes, backslashes,
 * blanks, '@', ':', '/', '?', '&', '=', '%') written into every form libpq
 * reads (key=value quoted and unquoted, URI user info raw or percent-
 * encoded, URI query with a plain or percent-encoded keyword, a dbname that
 * is itself a connection string). libpq must read the password back from
 * the string, and the redacted string must not contain it, raw or encoded.
 *
 * DBR_TEST_SEED picks another seed; DBR_TEST_FUZZ_ROUNDS more rounds.
 */
#include <check.h>
#include <glib.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/secret_key.h"
#include "../../drivers/pq/pq_redact.h"

static GRand *rng;

static int pick(int n)
{
    return g_rand_int_range(rng, 0, n);
}

/* A password with a marker no other part of the string holds. */
static char *password(void)
{
    static const char alphabet[] = "abcXYZ019 '\"\\@:/?&=%#;$!-_.~+";
    GString *p = g_string_new("Zq");

    for (int i = 4 + pick(10); i > 0; i--)
        g_string_append_c(p, alphabet[pick(sizeof(alphabet) - 1)]);
    return g_string_free(p, FALSE);
}

/* key=value quoting: inside '...', backslash escapes ' and \. */
static char *quoted(const char *pw)
{
    GString *q = g_string_new("'");

    for (const char *c = pw; *c; c++) {
        if (*c == '\'' || *c == '\\')
            g_string_append_c(q, '\\');
        g_string_append_c(q, *c);
    }
    g_string_append_c(q, '\'');
    return g_string_free(q, FALSE);
}

/* Unquoted: backslash escapes blanks, quotes and backslashes. */
static char *escaped(const char *pw)
{
    GString *q = g_string_new(NULL);

    for (const char *c = pw; *c; c++) {
        if (*c == ' ' || *c == '\'' || *c == '\\')
            g_string_append_c(q, '\\');
        g_string_append_c(q, *c);
    }
    return g_string_free(q, FALSE);
}

/* Percent-encoding; raw lists the characters libpq takes as they are
 * where the value goes (user info: '?', '&', '='; a query value: '@', '/',
 * ',', ':'), which are sometimes left raw, as users do. */
static char *encoded_raw(const char *pw, const char *raw)
{
    GString *q = g_string_new(NULL);

    for (const char *c = pw; *c; c++) {
        bool plain = g_ascii_isalnum(*c) || strchr("-_.~", *c);

        if (plain || (raw && strchr(raw, *c) && pick(2)))
            g_string_append_c(q, *c);
        else
            g_string_append_printf(q, "%%%02X", (unsigned char)*c);
    }
    return g_string_free(q, FALSE);
}

static char *encoded(const char *pw, bool raw_ok)
{
    return encoded_raw(pw, raw_ok ? "?&=$!;+" : NULL);
}

static char *libpq_password(const char *conninfo)
{
    char *perr = NULL, *pw = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);

    if (!opts) {
        PQfreemem(perr);
        return NULL;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val)
            pw = g_strdup(o->val);
        else if (strcmp(o->keyword, "dbname") == 0 && o->val && !pw &&
                 (strchr(o->val, '=') || g_str_has_prefix(o->val, "postgresql://")))
            pw = libpq_password(o->val); /* expanded by libpq when connecting */
    PQconninfoFree(opts);
    return pw;
}

static char *make_conninfo(const char *pw, int form)
{
    char *a, *b, *out;

    switch (form) {
    case 0:
        a = quoted(pw);
        out = g_strdup_printf("host=127.0.0.1 password=%s dbname=app", a);
        break;
    case 1:
        a = escaped(pw);
        out = g_strdup_printf("password=%s host=/tmp user=app", a);
        break;
    case 2:
        a = encoded(pw, true);
        out = g_strdup_printf("postgresql://app:%s@127.0.0.1:5432/app?sslmode=disable", a);
        break;
    case 3:
        a = encoded_raw(pw, "@/,:$!;+");
        out = g_strdup_printf("postgres://127.0.0.1/app?application_name=x&%s=%s",
                              pick(2) ? "password" : "pass%77ord", a);
        break;
    default:
        b = encoded(pw, false);
        a = g_strdup_printf("postgresql://app:%s@127.0.0.1/app", b);
        g_free(b);
        out = g_strdup_printf("host=127.0.0.1 dbname='%s'", a);
        break;
    }
    g_free(a);
    return out;
}

START_TEST(test_redaction_hides_every_password_libpq_reads)
{
    const char *r = g_getenv("DBR_TEST_FUZZ_ROUNDS"), *s = g_getenv("DBR_TEST_SEED");
    int rounds = r ? atoi(r) : 5000;
    guint32 seed = s ? (guint32)strtoul(s, NULL, 10) : 20261130u;

    fprintf(stderr, "seed %u (DBR_TEST_SEED)\n", seed);
    rng = g_rand_new_with_seed(seed);
    for (int i = 0; i < rounds; i++) {
        char *pw = password();
        int form = i % 5;
        char *ci = make_conninfo(pw, form), *read = libpq_password(ci), *red, *enc;

        /* the oracle first: the string really carries this password */
        ck_assert_msg(read && strcmp(read, pw) == 0,
                      "generator bug: libpq reads [%s] from [%s], expected [%s]",
                      read ? read : "(none)", ci, pw);
        red = pq_redact_conninfo(ci);
        enc = encoded(pw, false);
        ck_assert_msg(!strstr(red, "Zq") && !strstr(red, enc),
                      "round %d: the password [%s] survives in\n%s\n->\n%s", i, pw, ci, red);
        ck_assert_msg(strstr(red, "127.0.0.1") || strstr(red, "/tmp"),
                      "round %d: the host is gone: %s", i, red);
        g_free(enc);
        g_free(red);
        g_free(read);
        g_free(ci);
        g_free(pw);
    }
    g_rand_free(rng);
}
END_TEST

static void ck_redacts(const char *in, const char *want)
{
    char *got = pq_redact_conninfo(in);

    ck_assert_msg(strcmp(got, want) == 0, "%s\n-> %s\nwanted %s", in, got, want);
    g_free(got);
}

START_TEST(test_redaction_examples)
{
    /* the examples */
    ck_redacts("postgresql://app:s3cr?t@host/app", "postgresql://app:***@host/app");
    ck_redacts("postgresql://app:50%off-Secret@127.0.0.1:1/app",
               "postgresql://app:***@127.0.0.1:1/app");
    ck_redacts("postgresql://h/db?pass%77ord=hunter2&sslmode=require",
               "postgresql://h/db?pass%77ord=***&sslmode=require");
    ck_redacts("host=h password = 'it\\'s' user=u", "host=h password=*** user=u");
    ck_redacts("host=h password my secret=x", "host=h ...");
    ck_redacts("dbname='postgresql://u:pw@h/db' host=x", "dbname='postgresql://u:***@h/db' host=x");
    ck_redacts("dbname=app host=x", "dbname=app host=x");
    ck_redacts("postgresql://u@h/db", "postgresql://u@h/db");
    /* a raw '@' in a query password is not user info (review) */
    ck_redacts("postgresql://127.0.0.1/app?password=Zq3p@ss&port=1",
               "postgresql://127.0.0.1/app?password=***&port=1");
    ck_redacts("postgresql://h:5432/db?password=p@ss", "postgresql://h:5432/db?password=***");
    ck_redacts("postgresql://app:Zq5/rest@127.0.0.1:1/app", "postgresql://app:***@127.0.0.1:1/app");
    /* every secret libpq knows, by the one rule dbr_chain_settings uses too
     * (the exact-name copy showed libpq 18's oauth_client_secret) */
    ck_redacts("host=h sslpassword=Zq6 sslmode=require", "host=h sslpassword=*** sslmode=require");
    ck_redacts("host=h oauth_client_secret='Zq7 x' oauth_client_id=app",
               "host=h oauth_client_secret=*** oauth_client_id=app");
    ck_redacts("postgresql://h/db?oauth_client_secret=Zq8&sslPassword=Zq9",
               "postgresql://h/db?oauth_client_secret=***&sslPassword=***");
    ck_redacts("host=h passfile=/home/app/.pgpass", "host=h passfile=/home/app/.pgpass");
}
END_TEST

START_TEST(test_secret_keys)
{
    static const char *const secret[] = {"password",      "sslpassword", "oauth_client_secret",
                                         "password_file", "api_token",   "PASSWORD"};
    static const char *const plain[] = {"passfile", "user", "sslkey", "dbname", "max_open_conns"};

    for (size_t i = 0; i < G_N_ELEMENTS(secret); i++)
        ck_assert_msg(dbr_secret_key(secret[i], strlen(secret[i])), "%s", secret[i]);
    for (size_t i = 0; i < G_N_ELEMENTS(plain); i++)
        ck_assert_msg(!dbr_secret_key(plain[i], strlen(plain[i])), "%s", plain[i]);
    /* only the first len bytes are the key */
    ck_assert(!dbr_secret_key("user=password", 4));
}
END_TEST

/* Moved with the redaction from the core (tests/unit/test_config.c). */
START_TEST(test_redaction_hides_every_password_form)
{
    ck_redacts("host=db password=s3cret user=app", "host=db password=*** user=app");
    ck_redacts("host=db password='s3 cret' user=app", "host=db password=*** user=app");
    ck_redacts("password = 'it\\'s s3cret'", "password=***");
    ck_redacts("host=db sslpassword=s3cret", "host=db sslpassword=***");
    ck_redacts("host=db password='s3cret", "host=db password=***");
    ck_redacts("postgresql://app:s3cret@db:5432/app?sslmode=require",
               "postgresql://app:***@db:5432/app?sslmode=require");
    ck_redacts("postgres://db/app?user=x&password=s3cret&a=b",
               "postgres://db/app?user=x&password=***&a=b");
    ck_redacts("host=db s3cret", "host=db ...");
}
END_TEST

/* The slot hands out malloc'd memory the core frees with free(). */
START_TEST(test_redaction_slot_is_malloced)
{
    char *r = pq_redact_conninfo_slot("host=db password=s3cret");

    ck_assert_str_eq(r, "host=db password=***");
    free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("redact");
    TCase *tc = tcase_create("conninfo");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_redaction_examples);
    tcase_add_test(tc, test_secret_keys);
    tcase_add_test(tc, test_redaction_hides_every_password_form);
    tcase_add_test(tc, test_redaction_slot_is_malloced);
    tcase_add_test(tc, test_redaction_hides_every_password_libpq_reads);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
