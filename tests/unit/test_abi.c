/* SPDX-License-Identifier: MIT */
/*
 * The ABI's growth rules, held to:
 * - a driver that fills only the required slots, and a plugin that fills
 *   only create, destroy and handle, with poison past their struct_size,
 *   load and serve every call (the core reads no slot they did not
 *   declare; what needs a missing one is DBR_ERR_UNSUPPORTED);
 * - a driver without a required slot is refused, the slot named;
 * - a result outlives dbr_close, its driver built without -z nodelete;
 * - sized structs: 0 is the 3.0 layout, a larger size is taken when the
 *   bytes this library does not know are zero and refused otherwise, and
 *   output structs are filled only as far as the caller's size;
 * - dbr_close is a barrier: a call in flight finishes, callers waiting for
 *   a connection fail at once, and nothing is freed under them.
 */
#include <glib.h>
#include <string.h>

#include "../testutil.h"

/* The core's own struct copy, to try it on structs of other minors. */
#include "../../core/abi.c"

#define MIN_CONFIG "[database]\ndriver = min\n[chain]\nplugins = min\n"

static bool in_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_exec(tx, "UPDATE t SET x = 1", 0, NULL, err);
}

static bool locks(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)user;
    return dbr_tx_advisory_lock(tx, 42, 100, err);
}

START_TEST(test_abi_smallest_modules_serve_every_call)
{
    dbr_db *db = t_open(MIN_CONFIG);
    dbr_error *err = NULL;
    dbr_result *r;

    ck_assert_msg(dbr_ping(db, NULL, &err), "%s", dbr_error_message(err));
    ck_assert(dbr_exec(db, NULL, "INSERT 1", 0, NULL, &err));
    r = dbr_query(db, NULL, "SELECT $1", 1, (const char *[]){"v"}, &err);
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "v");
    dbr_result_free(r);
    ck_assert_msg(dbr_tx_run(db, NULL, NULL, in_tx, NULL, &err), "%s", dbr_error_message(err));
    ck_assert(dbr_exec_script(db, NULL, "SELECT 1; SELECT 2", &err));
    for (int c = DBR_CAP_PREPARE; c <= DBR_CAP_SESSION_RESET; c++)
        ck_assert_msg(!dbr_supports(db, (dbr_capability)c), "claims %s",
                      dbr_capability_name((dbr_capability)c));
    ck_assert(!dbr_tx_run(db, NULL, NULL, locks, NULL, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_UNSUPPORTED);
    ck_assert_int_eq(dbr_error_outcome(err), DBR_OUTCOME_NOT_APPLIED);
    ck_assert_msg(strstr(dbr_error_message(err), "unsupported by driver min"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
    ck_assert_int_eq(dbr_pool_close_idle(db, true), 1);
    dbr_close(db);
}
END_TEST

START_TEST(test_abi_driver_without_a_required_slot_is_refused)
{
    dbr_error *err = t_open_fail("[database]\ndriver = min_no_txstatus\n");

    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_PLUGIN);
    ck_assert_msg(strstr(dbr_error_message(err), "required slot txstatus"), "%s",
                  dbr_error_message(err));
    dbr_error_free(err);
}
END_TEST

START_TEST(test_abi_result_outlives_close)
{
    dbr_db *db = t_open(MIN_CONFIG);
    dbr_result *r = dbr_query(db, NULL, "SELECT 'kept'", 0, NULL, NULL);

    ck_assert_ptr_nonnull(r);
    dbr_close(db); /* the driver would be unmapped here without the result's hold */
    ck_assert_int_eq(dbr_result_nrows(r), 1);
    ck_assert_str_eq(dbr_result_value(r, 0, 0), "SELECT 'kept'");
    dbr_result_free(r);
}
END_TEST

START_TEST(test_abi_sized_structs)
{
    struct {
        dbr_open_opts opts;
        char later[16]; /* fields of a later minor */
    } big;
    dbr_error *err = NULL;
    dbr_db *db;
    struct {
        dbr_pool_stats st;
        long long guard;
    } out;
    dbr_module_info info;

    memset(&big, 0, sizeof(big));
    big.opts.config_text = MIN_CONFIG;
    big.opts.struct_size = sizeof(big);
    db = dbr_open_with(&big.opts, &err);
    ck_assert_msg(db, "a larger struct with a zero tail is taken: %s", dbr_error_message(err));
    dbr_close(db);

    big.later[3] = 1;
    ck_assert_ptr_null(dbr_open_with(&big.opts, &err));
    ck_assert_int_eq(dbr_error_kind_of(err), DBR_ERR_MISUSE);
    ck_assert_msg(strstr(dbr_error_message(err), "newer dbr"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    err = NULL;

    big.opts.struct_size = 4;
    ck_assert_ptr_null(dbr_open_with(&big.opts, &err));
    ck_assert_msg(strstr(dbr_error_message(err), "struct_size is 4"), "%s", dbr_error_message(err));
    dbr_error_free(err);
    err = NULL;

    big.opts.struct_size = 0;
    memset(big.later, 0, sizeof(big.later));
    db = dbr_open_with(&big.opts, &err);
    ck_assert(db);
    /* An older caller's smaller struct: nothing written past it. */
    memset(&out, 0x5a, sizeof(out));
    dbr_pool_stats_get_sized(db, &out.st, offsetof(dbr_pool_stats, idle));
    ck_assert_int_eq(out.st.open, 1);
    ck_assert_int_eq((unsigned char)((char *)&out.st)[offsetof(dbr_pool_stats, idle)], 0x5a);
    ck_assert_int_eq(out.guard, 0x5a5a5a5a5a5a5a5aLL);
    dbr_pool_stats_get(db, &out.st);
    ck_assert_int_eq(out.st.idle, 1);
    ck_assert(dbr_chain_module(db, 0, &info));
    ck_assert_int_eq(info.struct_size, sizeof(info));
    ck_assert_str_eq(info.module, "min");
    dbr_close(db);
}
END_TEST

/* The barrier: one call holds the only connection, three wait for it. */
typedef struct {
    dbr_db *db;
    const char *sql;
    dbr_ctx *ctx;
    dbr_error *err;
    bool ok;
    gint done; /* atomic */
} worker;

static gpointer run_worker(gpointer arg)
{
    worker *w = arg;

    w->ok = dbr_exec(w->db, w->ctx, w->sql, 0, NULL, &w->err);
    g_atomic_int_set(&w->done, 1);
    return NULL;
}

static gint closed; /* atomic: run_close's dbr_close returned */

static gpointer run_close(gpointer db)
{
    dbr_close(db);
    g_atomic_int_set(&closed, 1);
    return NULL;
}

static bool busy(void *arg)
{
    dbr_pool_stats st;

    dbr_pool_stats_get(arg, &st);
    return st.in_use == 1;
}

static bool all_waiting(void *arg)
{
    return dbr_pool_waiters(arg) == 3;
}

static bool waiters_done(void *arg)
{
    worker *w = arg;

    return g_atomic_int_get(&w[1].done) && g_atomic_int_get(&w[2].done) &&
           g_atomic_int_get(&w[3].done);
}

START_TEST(test_abi_close_is_a_barrier)
{
    dbr_db *db = t_open("[database]\ndriver = fake\nmax_open_conns = 1\n[chain]\nplugins = "
                        "retry\n");
    worker w[4] = {{.db = db, .sql = "fake:sleep 60000"},
                   {.db = db, .sql = "SELECT 1"},
                   {.db = db, .sql = "SELECT 1"},
                   {.db = db, .sql = "SELECT 1"}};
    GThread *th[4], *closer;

    for (int i = 0; i < 4; i++)
        w[i].ctx = i == 0 ? dbr_ctx_new() : dbr_ctx_with_timeout(60000);
    th[0] = g_thread_new("busy", run_worker, &w[0]);
    ck_assert(t_wait_for(busy, db, 30000)); /* it holds the only connection */
    for (int i = 1; i < 4; i++)
        th[i] = g_thread_new("waiter", run_worker, &w[i]);
    ck_assert(t_wait_for(all_waiting, db, 30000));
    g_atomic_int_set(&closed, 0);
    closer = g_thread_new("close", run_close, db);
    /* The waiters fail at once, long before their 60 s ctx... */
    ck_assert(t_wait_for(waiters_done, w, 30000));
    /* ...while close waits for the call in flight, which still runs. */
    ck_assert(!g_atomic_int_get(&w[0].done));
    ck_assert(!g_atomic_int_get(&closed));
    dbr_ctx_cancel(w[0].ctx);
    g_thread_join(closer);
    /* The call left the db before close returned; its thread sets done a
     * moment after dbr_exec returns, so that is looked at once it ended. */
    for (int i = 0; i < 4; i++)
        g_thread_join(th[i]);
    ck_assert(g_atomic_int_get(&w[0].done));
    ck_assert_int_eq(dbr_error_kind_of(w[0].err), DBR_ERR_CANCELED);
    dbr_error_free(w[0].err);
    for (int i = 1; i < 4; i++) {
        ck_assert(!w[i].ok);
        ck_assert_int_eq(dbr_error_kind_of(w[i].err), DBR_ERR_MISUSE);
        ck_assert_int_eq(dbr_error_outcome(w[i].err), DBR_OUTCOME_NOT_APPLIED);
        ck_assert_msg(strstr(dbr_error_message(w[i].err), "closing"), "%s",
                      dbr_error_message(w[i].err));
        dbr_error_free(w[i].err);
    }
    for (int i = 0; i < 4; i++)
        dbr_ctx_free(w[i].ctx);
}
END_TEST

static bool close_own_db(dbr_tx *tx, void *user, dbr_error **err)
{
    dbr_close(user); /* refused: it would wait for this very call */
    return dbr_tx_exec(tx, "UPDATE t SET x = 1", 0, NULL, err);
}

START_TEST(test_abi_close_from_inside_a_call_is_refused_not_a_hang)
{
    dbr_db *db = t_open(MIN_CONFIG);
    dbr_error *err = NULL;

    ck_assert_msg(dbr_tx_run(db, NULL, NULL, close_own_db, db, &err), "%s", dbr_error_message(err));
    ck_assert(dbr_ping(db, NULL, &err)); /* still open */
    dbr_close(db);
}
END_TEST

/* An event the health monitor raises on its own thread: a subscriber that
 * closes the db would make dbr_close join the very thread it runs on. */
typedef struct closer {
    dbr_db *db;
    gint tried; /* atomic */
} closer;

static void close_on_alert(const dbr_event *ev, void *user)
{
    closer *c = user;

    if (strcmp(dbr_event_type(ev), "health.alert") == 0 && !g_atomic_int_get(&c->tried)) {
        dbr_close(c->db); /* refused: the health monitor's thread is inside its db */
        g_atomic_int_set(&c->tried, 1);
    }
}

static bool tried(void *user)
{
    return g_atomic_int_get(&((closer *)user)->tried) != 0;
}

START_TEST(test_abi_close_from_a_plugin_threads_event_is_refused_not_a_hang)
{
    /* min_open_conns above max_open_conns: the first check raises an alert */
    dbr_db *db = t_open("[database]\ndriver = fake\nmax_open_conns = 1\n[chain]\nplugins = "
                        "health\n[plugin.health]\ninterval = 20ms\nmin_open_conns = 5\n");
    closer c = {db, 0};
    dbr_error *err = NULL;

    dbr_subscribe(db, close_on_alert, &c);
    ck_assert(t_wait_for(tried, &c, 20000));
    ck_assert_msg(dbr_ping(db, NULL, &err), "%s", dbr_error_message(err)); /* still open */
    dbr_unsubscribe(db, close_on_alert, &c);
    dbr_close(db);
}
END_TEST

/* The rule for a later minor, on the core's own copy function: a 3.1
 * library (one more field after struct_size) takes a 3.0 program's struct,
 * its new field zero; and a 3.0 library takes a 3.1 program's struct whose
 * new field is unset, refusing it when set. */
typedef struct {
    const char *a;
    bool b;
    uint32_t struct_size;
} v30;
typedef struct {
    const char *a;
    bool b;
    uint32_t struct_size;
    const char *added;
} v31;

START_TEST(test_abi_older_and_newer_minors_of_a_sized_struct)
{
    v30 old = {"x", true, sizeof(v30)}, old_zero = {"y", false, 0}, back;
    v31 got, newer = {"z", true, sizeof(v31), NULL};
    dbr_error *err = NULL;

    /* What DBR_STRUCT_TAKE passes: the caller's struct_size and the 3.0 end. */
    const size_t end30 = offsetof(v30, struct_size) + sizeof(uint32_t);

    memset(&got, 0x5a, sizeof(got));
    ck_assert(dbr_struct_take("f", "opts", &got, sizeof(got), &old, old.struct_size, end30, &err));
    ck_assert_str_eq(got.a, "x");
    ck_assert_ptr_null(got.added);
    memset(&got, 0x5a, sizeof(got));
    ck_assert(dbr_struct_take("f", "opts", &got, sizeof(got), &old_zero, 0, end30, &err));
    ck_assert_str_eq(got.a, "y");
    ck_assert_ptr_null(got.added);
    ck_assert(
        dbr_struct_take("f", "opts", &back, sizeof(back), &newer, newer.struct_size, end30, &err));
    ck_assert_str_eq(back.a, "z");
    newer.added = "set";
    ck_assert(
        !dbr_struct_take("f", "opts", &back, sizeof(back), &newer, newer.struct_size, end30, &err));
    ck_assert_msg(strstr(dbr_error_message(err), "newer dbr"), "%s", dbr_error_message(err));
    dbr_error_free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("abi");
    TCase *tc = tcase_create("abi");

    tcase_add_test(tc, test_abi_smallest_modules_serve_every_call);
    tcase_add_test(tc, test_abi_driver_without_a_required_slot_is_refused);
    tcase_add_test(tc, test_abi_result_outlives_close);
    tcase_add_test(tc, test_abi_sized_structs);
    tcase_add_test(tc, test_abi_older_and_newer_minors_of_a_sized_struct);
    tcase_add_test(tc, test_abi_close_is_a_barrier);
    tcase_add_test(tc, test_abi_close_from_inside_a_call_is_refused_not_a_hang);
    tcase_add_test(tc, test_abi_close_from_a_plugin_threads_event_is_refused_not_a_hang);
    suite_add_tcase(s, tc);
    return t_run(s);
}
