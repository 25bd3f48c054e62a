/* SPDX-License-Identifier: MIT */
/*
 * A Jepsen-style history check of the outcome model. Four workers issue
 * non-idempotent autocommit INSERTs and money transfers (transactions that
 * also write their id to a ledger) through retry and breaker, some with
 * generous deadlines and some with short random ones, while a nemesis
 * terminates every backend, stalls COMMIT behind a synchronous standby that
 * never comes (and kills backends waiting there), and restarts the server
 * with pg_ctl stop -m immediate. Each call's verdict is logged: ok,
 * not-applied or unknown. Read back on a healthy server, the tables prove
 * that dbr never lost work (every ok op is there once), never did it twice
 * (no id appears twice, money is conserved and agrees with the ledger) and
 * never misreported it (no not-applied op is there).
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"

#define HIST_SEED        20240611
#define HIST_WORKERS     4
#define HIST_ACCOUNTS    5
#define HIST_BALANCE     1000
#define HIST_WORKLOAD_US (15 * G_USEC_PER_SEC)
#define HIST_GENEROUS_MS 5000
#define HIST_ADMIN_APP   "dbr_hist_admin"

typedef enum {
    FAULT_NONE,
    FAULT_KILL,       /* pg_terminate_backend of every other backend */
    FAULT_STALL,      /* COMMIT waits for a synchronous standby that never comes */
    FAULT_STALL_KILL, /* the same, and the backends waiting there are terminated */
    FAULT_RESTART,    /* pg_ctl stop -m immediate, then start */
    FAULT_COUNT
} fault;

static const char *const fault_names[FAULT_COUNT] = {"none", "kill", "stall", "stall+kill",
                                                     "restart"};

typedef enum { OP_INSERT, OP_TRANSFER, OP_KINDS } op_kind;

static const char *const op_names[OP_KINDS] = {"insert", "transfer"};

typedef enum { V_OK, V_NOT_APPLIED, V_UNKNOWN, V_COUNT } verdict;

static const char *const verdict_names[V_COUNT] = {"ok", "not-applied", "unknown"};

/* One operation of the history and dbr's verdict on it. */
typedef struct op {
    op_kind kind;
    int id;
    int from, to, amount; /* transfers */
    long long deadline_ms;
    fault fault_start, fault_end; /* the nemesis's fault when the call began and ended */
    verdict verdict;
    dbr_error_kind err_kind;
    char *message; /* the error's message; NULL when ok */
    char *mistake; /* the verdict contradicts itself (no error, no outcome); NULL if fine */
} op;

typedef struct history {
    dbr_db *db;    /* the workers' db: retry, breaker */
    dbr_db *admin; /* the nemesis's db: no plugins, commits locally */
    gint64 start_us;
    gint stop;
    gint fault;
    gint faults[FAULT_COUNT];
    gint rounds;
} history;

typedef struct worker {
    history *h;
    int index;
    GRand *rand;
    GArray *ops;
} worker;

static dbr_db *open_admin(void)
{
    /* synchronous_commit=local: the nemesis's own statements never stall */
    return t_open("[database]\ndriver = pq\nconninfo = %s application_name=" HIST_ADMIN_APP
                  " options='-c synchronous_commit=local'\nconnect_timeout = 2s\n",
                  t_conninfo());
}

static dbr_db *open_workers(void)
{
    char *text =
        g_strdup_printf("[database]\ndriver = pq\nconninfo = %s application_name=dbr_hist\n"
                        "max_open_conns = %d\nmax_idle_conns = %d\nconnect_timeout = 2s\n"
                        "[chain]\nplugins = retry, breaker\n"
                        "[plugin.retry]\nmax_attempts = 5\ninitial_interval = 10ms\n"
                        "max_interval = 100ms\nresolve_commit = true\n"
                        "[plugin.breaker]\nmax_failures = 5\ntimeout = 200ms\n",
                        t_conninfo(), HIST_WORKERS, HIST_WORKERS);
    dbr_open_opts opts = {.config_text = text, .seed = HIST_SEED};
    dbr_error *err = NULL;
    dbr_db *db = dbr_open_with(&opts, &err);

    ck_assert_msg(db != NULL, "dbr_open_with: %s", dbr_error_message(err));
    g_free(text);
    return db;
}

/* ---- the workers ---- */

static bool do_transfer(dbr_tx *tx, void *user, dbr_error **err)
{
    const op *o = user;
    char id[16], from[8], to[8], amount[8];
    const char *debit[] = {from, amount}, *credit[] = {to, amount},
               *entry[] = {id, from, to, amount};
    const char *debit_sql = "UPDATE hist_accounts SET balance = balance - $2::int "
                            "WHERE id = $1::int",
               *credit_sql = "UPDATE hist_accounts SET balance = balance + $2::int "
                             "WHERE id = $1::int";

    g_snprintf(id, sizeof(id), "%d", o->id);
    g_snprintf(from, sizeof(from), "%d", o->from);
    g_snprintf(to, sizeof(to), "%d", o->to);
    g_snprintf(amount, sizeof(amount), "%d", o->amount);
    /* rows locked in account order: transfers wait for each other, never deadlock */
    if (o->from < o->to) {
        if (!dbr_tx_exec(tx, debit_sql, 2, debit, err) ||
            !dbr_tx_exec(tx, credit_sql, 2, credit, err))
            return false;
    } else if (!dbr_tx_exec(tx, credit_sql, 2, credit, err) ||
               !dbr_tx_exec(tx, debit_sql, 2, debit, err)) {
        return false;
    }
    return dbr_tx_exec(tx,
                       "INSERT INTO hist_ledger (id, src, dst, amount) "
                       "VALUES ($1::int, $2::int, $3::int, $4::int)",
                       4, entry, err);
}

static void judge(op *o, bool ok, const dbr_error *err)
{
    if (ok) {
        o->verdict = V_OK;
        return;
    }
    o->err_kind = dbr_error_kind_of(err);
    o->message = g_strdup(err ? dbr_error_message(err) : "(no error)");
    switch (dbr_error_outcome(err)) {
    case DBR_OUTCOME_NOT_APPLIED:
        o->verdict = V_NOT_APPLIED;
        if (o->err_kind == DBR_ERR_COMMIT_UNKNOWN)
            o->mistake = g_strdup("a commit-unknown error whose outcome is not-applied");
        break;
    case DBR_OUTCOME_UNKNOWN:
        o->verdict = V_UNKNOWN;
        break;
    default:
        o->verdict = V_UNKNOWN; /* claims nothing: checked as unknown, reported as a mistake */
        o->mistake = g_strdup(err ? "an error without an outcome" : "a failure without an error");
        break;
    }
}

static gpointer work(gpointer data)
{
    worker *w = data;
    history *h = w->h;

    for (int n = 0; !g_atomic_int_get(&h->stop); n++) {
        op o = {.id = (w->index + 1) * 1000000 + n};
        dbr_error *err = NULL;
        dbr_ctx *ctx;
        bool ok;

        o.kind = g_rand_boolean(w->rand) ? OP_INSERT : OP_TRANSFER;
        o.from = g_rand_int_range(w->rand, 1, HIST_ACCOUNTS + 1);
        o.to = (o.from + g_rand_int_range(w->rand, 0, HIST_ACCOUNTS - 1)) % HIST_ACCOUNTS + 1;
        o.amount = g_rand_int_range(w->rand, 1, 50);
        /* half get all the time they need, half a deadline that may end anywhere */
        o.deadline_ms =
            g_rand_boolean(w->rand) ? HIST_GENEROUS_MS : g_rand_int_range(w->rand, 1, 40);
        ctx = dbr_ctx_with_timeout(o.deadline_ms);
        o.fault_start = g_atomic_int_get(&h->fault);
        if (o.kind == OP_INSERT) {
            char id[16];
            const char *p[] = {id};

            g_snprintf(id, sizeof(id), "%d", o.id);
            ok = dbr_exec(h->db, ctx, "INSERT INTO hist_ops (id) VALUES ($1::int)", 1, p, &err);
        } else {
            ok = dbr_tx_run(h->db, ctx, NULL, do_transfer, &o, &err);
        }
        o.fault_end = g_atomic_int_get(&h->fault);
        judge(&o, ok, err);
        g_array_append_val(w->ops, o);
        dbr_error_free(err);
        dbr_ctx_free(ctx);
        if (!ok)
            g_usleep(5000); /* pacing: an open breaker refuses in nanoseconds */
    }
    return NULL;
}

/* ---- the nemesis ---- */

static bool ping_ok(void *db)
{
    return dbr_ping(db, NULL, NULL);
}

static bool standby_names_set(void *db)
{
    char *v = t_value(db, "SHOW synchronous_standby_names");
    bool set = strcmp(v, "dbr_nomatch") == 0;

    g_free(v);
    return set;
}

static bool stall_over(void *db)
{
    char *v = t_value(db, "SHOW synchronous_standby_names");
    bool over = strcmp(v, "") == 0;

    g_free(v);
    return over && t_int(db, "SELECT count(*) FROM pg_stat_activity "
                             "WHERE wait_event = 'SyncRep'") == 0;
}

static bool commit_stalled(void *db)
{
    return t_int(db, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") > 0;
}

static void terminate_others(dbr_db *admin)
{
    t_exec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND backend_type = 'client backend' "
                  "AND application_name <> '" HIST_ADMIN_APP "'");
}

static void stall_begin(dbr_db *admin)
{
    t_exec(admin, "ALTER SYSTEM SET synchronous_standby_names = 'dbr_nomatch'");
    t_exec(admin, "SELECT pg_reload_conf()");
    ck_assert_msg(t_wait_for(standby_names_set, admin, 10000),
                  "synchronous_standby_names was not set");
}

static void stall_end(dbr_db *admin)
{
    t_exec(admin, "ALTER SYSTEM RESET synchronous_standby_names");
    t_exec(admin, "SELECT pg_reload_conf()");
    ck_assert_msg(t_wait_for(stall_over, admin, 10000), "COMMIT still waits for a standby");
}

static void inflict(history *h, GRand *rand, fault f)
{
    switch (f) {
    case FAULT_KILL:
        terminate_others(h->admin);
        break;
    case FAULT_STALL:
        stall_begin(h->admin);
        g_usleep(g_rand_int_range(rand, 300, 800) * 1000);
        stall_end(h->admin);
        break;
    case FAULT_STALL_KILL:
        stall_begin(h->admin);
        g_usleep(g_rand_int_range(rand, 100, 400) * 1000);
        /* an open breaker may hold every worker back: then there is no one to kill */
        t_wait_for(commit_stalled, h->admin, 2000);
        terminate_others(h->admin);
        stall_end(h->admin);
        break;
    case FAULT_RESTART:
        t_pgctl("stop -m immediate");
        g_usleep(g_rand_int_range(rand, 100, 400) * 1000);
        t_pgctl("start");
        ck_assert_msg(t_wait_for(ping_ok, h->admin, 30000), "the server did not come back");
        break;
    default:
        break;
    }
}

static gpointer nemesis(gpointer data)
{
    history *h = data;
    GRand *rand = g_rand_new_with_seed(HIST_SEED);

    for (int round = 0; !g_atomic_int_get(&h->stop); round++) {
        fault f = FAULT_KILL + round % (FAULT_COUNT - 1);

        g_usleep(g_rand_int_range(rand, 200, 600) * 1000); /* a healthy spell */
        if (g_atomic_int_get(&h->stop))
            break;
        g_atomic_int_set(&h->fault, f);
        inflict(h, rand, f);
        g_atomic_int_set(&h->fault, FAULT_NONE);
        g_atomic_int_inc(&h->faults[f]);
        g_atomic_int_inc(&h->rounds);
    }
    g_rand_free(rand);
    return NULL;
}

static bool workload_done(void *data)
{
    history *h = data;

    return g_get_monotonic_time() - h->start_us >= HIST_WORKLOAD_US &&
           g_atomic_int_get(&h->rounds) >= FAULT_COUNT - 1;
}

/* ---- reading the outcome ---- */

static bool others_gone(void *db)
{
    return t_int(db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND backend_type = 'client backend' "
                     "AND application_name <> '" HIST_ADMIN_APP "'") == 0;
}

/* After the workload: no stall, and no backend left that could still change the tables. */
static void settle(dbr_db *admin)
{
    ck_assert_msg(t_wait_for(ping_ok, admin, 30000), "the server is not back");
    stall_end(admin);
    if (!t_wait_for(others_gone, admin, 10000)) {
        terminate_others(admin);
        ck_assert_msg(t_wait_for(others_gone, admin, 10000), "backends outlive their clients");
    }
}

/* id -> how many rows carry it */
static GHashTable *count_ids(dbr_db *db, const char *table)
{
    char *sql = g_strdup_printf("SELECT id, count(*) FROM %s GROUP BY id", table);
    dbr_error *err = NULL;
    dbr_result *r = dbr_query(db, NULL, sql, 0, NULL, &err);
    GHashTable *counts = g_hash_table_new(g_direct_hash, g_direct_equal);

    ck_assert_msg(r != NULL, "%s: %s", sql, dbr_error_message(err));
    for (int i = 0; i < dbr_result_nrows(r); i++)
        g_hash_table_insert(counts, GINT_TO_POINTER(atoi(dbr_result_value(r, i, 0))),
                            GINT_TO_POINTER(atoi(dbr_result_value(r, i, 1))));
    dbr_result_free(r);
    g_free(sql);
    return counts;
}

static void report(GString *bad, int *nbad, const op *o, const char *what, int found)
{
    if (++*nbad > 40)
        return;
    g_string_append_printf(bad,
                           "\n  %s %d: %s; dbr said %s%s%s%s%s (deadline %lld ms, fault %s -> %s), "
                           "found %d time(s)",
                           op_names[o->kind], o->id, what, verdict_names[o->verdict],
                           o->message ? " [" : "",
                           o->message ? dbr_error_kind_name(o->err_kind) : "",
                           o->message ? ": " : "", o->message ? o->message : "", o->deadline_ms,
                           fault_names[o->fault_start], fault_names[o->fault_end], found);
    if (o->message)
        g_string_append_c(bad, ']');
}

typedef struct tally {
    int verdicts[OP_KINDS][V_COUNT];
    int unknown_applied[OP_KINDS], unknown_absent[OP_KINDS];
    int kinds[V_COUNT][DBR_ERR_KIND_MAX + 1];
    int by_fault[FAULT_COUNT][V_COUNT];
} tally;

static void check_op(const op *o, GHashTable *found_in, tally *t, GString *bad, int *nbad)
{
    int found = GPOINTER_TO_INT(g_hash_table_lookup(found_in, GINT_TO_POINTER(o->id)));

    t->verdicts[o->kind][o->verdict]++;
    t->by_fault[o->fault_start ? o->fault_start : o->fault_end][o->verdict]++;
    if (o->verdict != V_OK && o->err_kind <= DBR_ERR_KIND_MAX)
        t->kinds[o->verdict][o->err_kind]++;
    if (o->mistake)
        report(bad, nbad, o, o->mistake, found);
    if (found > 1)
        report(bad, nbad, o, "applied more than once", found);
    else if (o->verdict == V_OK && found != 1)
        report(bad, nbad, o, "ok but lost", found);
    else if (o->verdict == V_NOT_APPLIED && found != 0)
        report(bad, nbad, o, "not-applied but applied", found);
    else if (o->verdict == V_UNKNOWN)
        (found ? t->unknown_applied : t->unknown_absent)[o->kind]++;
}

/* What resolve_commit made of the COMMITs whose answer was lost. */
static void print_resolutions(dbr_db *db)
{
    char *text = dbr_metrics_text(db);
    char **lines = g_strsplit(text, "\n", -1);

    for (char **l = lines; *l; l++)
        if (g_str_has_prefix(*l, "dbr_commit_resolutions_total{"))
            printf("history: %s\n", *l);
    g_strfreev(lines);
    free(text);
}

static void print_tally(const tally *t)
{
    for (int k = 0; k < OP_KINDS; k++)
        printf("history: %-9s %5d ok, %5d not-applied, %4d unknown (%d applied, %d absent)\n",
               op_names[k], t->verdicts[k][V_OK], t->verdicts[k][V_NOT_APPLIED],
               t->verdicts[k][V_UNKNOWN], t->unknown_applied[k], t->unknown_absent[k]);
    for (int v = V_NOT_APPLIED; v < V_COUNT; v++) {
        printf("history: %s by kind:", verdict_names[v]);
        for (int e = 0; e <= DBR_ERR_KIND_MAX; e++)
            if (t->kinds[v][e])
                printf(" %s %d", e ? dbr_error_kind_name(e) : "none", t->kinds[v][e]);
        printf("\n");
    }
    printf("history: by fault when the call began or ended:");
    for (int f = 0; f < FAULT_COUNT; f++)
        printf(" %s %d/%d/%d", fault_names[f], t->by_fault[f][V_OK], t->by_fault[f][V_NOT_APPLIED],
               t->by_fault[f][V_UNKNOWN]);
    printf(" (ok/not-applied/unknown)\n");
    fflush(stdout); /* a failed check ends the process: the figures first */
}

START_TEST(test_history_every_verdict_holds_under_faults)
{
    history h = {0};
    worker w[HIST_WORKERS];
    GThread *workers[HIST_WORKERS], *nt;
    GHashTable *ops_found, *ledger_found, *issued;
    GHashTableIter it;
    gpointer key;
    tally t = {0};
    GString *bad = g_string_new(NULL);
    int nbad = 0;
    char *sql;

    h.admin = open_admin();
    stall_end(h.admin); /* whatever an earlier run left */
    t_exec(h.admin, "DROP TABLE IF EXISTS hist_ops, hist_accounts, hist_ledger");
    /* no keys on the ids: an op applied twice must show as two rows */
    t_exec(h.admin, "CREATE TABLE hist_ops (id int NOT NULL)");
    t_exec(h.admin, "CREATE TABLE hist_accounts (id int PRIMARY KEY, balance bigint NOT NULL)");
    t_exec(h.admin, "CREATE TABLE hist_ledger (id int NOT NULL, src int NOT NULL, "
                    "dst int NOT NULL, amount int NOT NULL)");
    sql = g_strdup_printf("INSERT INTO hist_accounts SELECT g, %d FROM generate_series(1, %d) g",
                          HIST_BALANCE, HIST_ACCOUNTS);
    t_exec(h.admin, sql);
    g_free(sql);

    h.db = open_workers();
    h.start_us = g_get_monotonic_time();
    nt = g_thread_new("nemesis", nemesis, &h);
    for (int i = 0; i < HIST_WORKERS; i++) {
        w[i] = (worker){&h, i, g_rand_new_with_seed(HIST_SEED + 1 + i),
                        g_array_new(FALSE, TRUE, sizeof(op))};
        workers[i] = g_thread_new("worker", work, &w[i]);
    }
    ck_assert_msg(t_wait_for(workload_done, &h, 60000), "the nemesis did not finish its rounds");
    g_atomic_int_set(&h.stop, 1);
    g_thread_join(nt);
    for (int i = 0; i < HIST_WORKERS; i++)
        g_thread_join(workers[i]);
    printf("history: %.1f s of workload; faults: %d kill, %d stall, %d stall+kill, %d restart\n",
           (double)(g_get_monotonic_time() - h.start_us) / G_USEC_PER_SEC, h.faults[FAULT_KILL],
           h.faults[FAULT_STALL], h.faults[FAULT_STALL_KILL], h.faults[FAULT_RESTART]);
    print_resolutions(h.db);
    dbr_close(h.db);
    settle(h.admin);

    ops_found = count_ids(h.admin, "hist_ops");
    ledger_found = count_ids(h.admin, "hist_ledger");
    issued = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (int i = 0; i < HIST_WORKERS; i++) {
        for (guint j = 0; j < w[i].ops->len; j++) {
            const op *o = &g_array_index(w[i].ops, op, j);

            check_op(o, o->kind == OP_INSERT ? ops_found : ledger_found, &t, bad, &nbad);
            g_hash_table_insert(issued, GINT_TO_POINTER(o->id), (gpointer)o);
        }
    }
    /* nothing appears that was never asked for */
    g_hash_table_iter_init(&it, ops_found);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        const op *o = g_hash_table_lookup(issued, key);

        if (!o || o->kind != OP_INSERT) {
            g_string_append_printf(bad, "\n  insert %d: in hist_ops, never issued",
                                   GPOINTER_TO_INT(key));
            nbad++;
        }
    }
    g_hash_table_iter_init(&it, ledger_found);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        const op *o = g_hash_table_lookup(issued, key);

        if (!o || o->kind != OP_TRANSFER) {
            g_string_append_printf(bad, "\n  transfer %d: in hist_ledger, never issued",
                                   GPOINTER_TO_INT(key));
            nbad++;
        }
    }
    print_tally(&t);
    if (nbad > 40)
        g_string_append_printf(bad, "\n  ... and %d more", nbad - 40);
    ck_assert_msg(nbad == 0, "%d violation(s) of the history:%s", nbad, bad->str);
    /* money: conserved, and every account agrees with the ledger */
    ck_assert_int_eq(t_int(h.admin, "SELECT sum(balance) FROM hist_accounts"),
                     (long long)HIST_BALANCE * HIST_ACCOUNTS);
    sql = g_strdup_printf("SELECT count(*) FROM hist_accounts a WHERE balance <> %d "
                          "+ COALESCE((SELECT sum(amount) FROM hist_ledger WHERE dst = a.id), 0) "
                          "- COALESCE((SELECT sum(amount) FROM hist_ledger WHERE src = a.id), 0)",
                          HIST_BALANCE);
    ck_assert_msg(t_int(h.admin, sql) == 0, "balances disagree with the ledger");
    g_free(sql);
    /* the history means something: work got through, and every fault struck */
    ck_assert_int_gt(t.verdicts[OP_INSERT][V_OK], 0);
    ck_assert_int_gt(t.verdicts[OP_TRANSFER][V_OK], 0);
    for (int f = FAULT_KILL; f < FAULT_COUNT; f++)
        ck_assert_int_ge(h.faults[f], 1);

    for (int i = 0; i < HIST_WORKERS; i++) {
        for (guint j = 0; j < w[i].ops->len; j++) {
            g_free(g_array_index(w[i].ops, op, j).message);
            g_free(g_array_index(w[i].ops, op, j).mistake);
        }
        g_array_free(w[i].ops, TRUE);
        g_rand_free(w[i].rand);
    }
    g_hash_table_destroy(issued);
    g_hash_table_destroy(ops_found);
    g_hash_table_destroy(ledger_found);
    g_string_free(bad, TRUE);
    dbr_close(h.admin);
}
END_TEST

/* Runs in the parent process after the test, pass or fail: a failed test
 * must not leave the server stopped or COMMIT stalled for the next suite.
 * Best effort, without assertions. */
static void restore_server(void)
{
    const char *ctl = getenv("DBR_TEST_PGCTL"), *conninfo = getenv("DBR_TEST_CONNINFO");
    char *cmd, *text;
    dbr_db *db;

    if (!ctl || !conninfo)
        return;
    cmd = g_strdup_printf("%s status >/dev/null 2>&1 || %s start >/dev/null 2>&1", ctl, ctl);
    if (system(cmd) != 0)
        fprintf(stderr, "pg_history: could not start the server again\n");
    g_free(cmd);
    text = g_strdup_printf("[database]\ndriver = pq\nconninfo = %s "
                           "options='-c synchronous_commit=local'\n",
                           conninfo);
    db = dbr_open_string(text, NULL);
    g_free(text);
    if (!db || !dbr_exec(db, NULL, "ALTER SYSTEM RESET synchronous_standby_names", 0, NULL, NULL) ||
        !dbr_exec(db, NULL, "SELECT pg_reload_conf()", 0, NULL, NULL))
        fprintf(stderr, "pg_history: could not reset synchronous_standby_names\n");
    if (db)
        dbr_close(db);
}

int main(void)
{
    Suite *s = suite_create("pg_history");
    TCase *tc = tcase_create("pg_history");

    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, NULL, restore_server);
    tcase_add_test(tc, test_history_every_verdict_holds_under_faults);
    suite_add_tcase(s, tc);
    return t_run(s);
}
