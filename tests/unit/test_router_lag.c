/* SPDX-License-Identifier: MIT */
/* The router's lag arithmetic (plugins/router/replicas.c): a standby's lag in
 * time from the primary's sampled WAL positions. */
#include <check.h>
#include <glib.h>
#include <stdlib.h>

#include "../../plugins/router/router.h"

static void add(router *r, int64_t at, int64_t lsn)
{
    r->samples[r->head] = (sample){at, lsn};
    r->head = (r->head + 1) % ROUTER_SAMPLES;
    r->nsamples = MIN(r->nsamples + 1, ROUTER_SAMPLES);
}

START_TEST(test_lag_from_samples)
{
    router *r = g_new0(router, 1);

    ck_assert_int_eq(router_lag_us(r, 0, 100), 0); /* nothing known yet */
    add(r, 1000, 10);
    add(r, 2000, 20);
    add(r, 3000, 20);                                   /* an idle primary */
    ck_assert_int_eq(router_lag_us(r, 20, 5000), 0);    /* has everything: not behind */
    ck_assert_int_eq(router_lag_us(r, 15, 5000), 3000); /* behind since the 20 at 2000 */
    ck_assert_int_eq(router_lag_us(r, 5, 5000), 4000);  /* behind the oldest, window not full */
    g_free(r);
}
END_TEST

/* A standby stuck since before the window: unbounded, not the window's
 * length (review: a 3600 s stall read as 5 s with a 10 ms interval). */
START_TEST(test_lag_beyond_the_window_is_unbounded)
{
    router *r = g_new0(router, 1);

    for (int i = 0; i < ROUTER_SAMPLES + 10; i++)
        add(r, 1000000 + (int64_t)i * 10000, 100 + i);
    ck_assert_int_eq(router_lag_us(r, 5, 1000000 + (int64_t)(ROUTER_SAMPLES + 10) * 10000),
                     G_MAXINT64);
    g_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router_lag");
    TCase *tc = tcase_create("lag");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_lag_from_samples);
    tcase_add_test(tc, test_lag_beyond_the_window_is_unbounded);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
