/* SPDX-License-Identifier: MIT */
/* Helpers shared by the Check suites. */
#ifndef DBR_TESTUTIL_H
#define DBR_TESTUTIL_H

#include <check.h>

#include <dbr/dbr.h>

/* RUNNING_ON_VALGRIND: true under valgrind (0 where its header is absent),
 * for the few tests that do less there. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* Opens a db from a printf-formatted config; fails the test on error. */
dbr_db *t_open(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens a db expecting failure; returns the error (never NULL). */
dbr_error *t_open_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The first value of a query, g_strdup'ed ("(null)" for SQL NULL); fails on error. */
char *t_value(dbr_db *db, const char *sql);
long long t_int(dbr_db *db, const char *sql);
void t_exec(dbr_db *db, const char *sql);
/* The test server's conninfo; a missing server fails the test. */
const char *t_conninfo(void);
/* pg_ctl on the test cluster as its owner: "stop -m immediate", "start". */
void t_pgctl(const char *args);
/* A fresh directory under the build tree for files a test makes. */
char *t_tmpdir(const char *name);
/* Runs a Check suite with the usual settings; returns the exit code. */
int t_run(Suite *s);
/* Polls cond(arg) every 10 ms until it holds or timeout_ms passes. */
bool t_wait_for(bool (*cond)(void *), void *arg, int timeout_ms);

/* Runs scripts/lib/pgstandby.sh WHAT [NAME] (a streaming standby of the test
 * server: start, promote, sync, detach, remove, restore; NAME NULL: the
 * default one) and fails the test if it fails; its stdout (the port for
 * start), g_free'd by the caller. */
char *t_standby(const char *what, const char *name);

/* An error's outcome and kind, named in the failure message. */
#define ck_assert_outcome(e, o)                                                                    \
    ck_assert_msg(dbr_error_outcome(e) == (o), "outcome %s, expected %s: %s",                      \
                  dbr_outcome_name(dbr_error_outcome(e)), dbr_outcome_name(o),                     \
                  dbr_error_message(e))
#define ck_assert_kind(e, k)                                                                       \
    ck_assert_msg(dbr_error_kind_of(e) == (k), "kind %s, expected %s: %s",                         \
                  dbr_error_kind_name(dbr_error_kind_of(e)), dbr_error_kind_name(k),               \
                  dbr_error_message(e))

#endif
