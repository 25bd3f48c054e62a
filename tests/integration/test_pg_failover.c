/* SPDX-License-Identifier: MIT */
/*
 * A failover under load on a real replicated cluster: the test server as
 * primary and two streaming standbys (scripts/lib/pgstandby.sh). Writer
 * threads run keyed transactions (dbr_tx_run_once) through retry and
 * breaker, with the shipped defaults, over a conninfo that lists the three
 * servers with target_session_attrs=read-write; the primary is stopped with
 * pg_ctl stop -m immediate and the standby r1 promoted. Every call's
 * verdict is logged (ok, not-applied, unknown; already applied), then the
 * rows are read back on the new primary, each carrying the number of the
 * call that wrote it:
 *
 * - synchronous replication (r1 the synchronous standby): no acknowledged
 *   write lost, none applied twice, no call left unknown;
 * - asynchronous replication: none applied twice, and the acknowledged
 *   writes the standby had not received are counted and printed: that is
 *   the window asynchronous replication leaves, not hidden;
 * - the same with r1 cut off from the stream shortly before the crash:
 *   every write acknowledged after that is counted lost, none before (the
 *   checker sees the window it is meant to see).
 *
 * Also measured and printed: the time from `pg_ctl promote` to the first
 * write acknowledged by the new primary. And, deterministically, one keyed
 * COMMIT held in flight (waiting for r1) when the primary dies: decided by
 * its key on the promoted r1, committed if r1 had received it, else run
 * again there, once. The shared test server is given
 * back as it was (standbys removed, synchronous replication off, the old
 * data directory started as primary again), also when a test fails.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"

#define FO_WRITERS     4
#define FO_WARM_OKS    10    /* acknowledged writes per writer before the fault */
#define FO_AFTER_OKS   10    /* ... and after the promotion */
#define FO_LAG_OKS     5     /* ... and while r1 is detached, in the lagging case */
#define FO_CALL_MS     20000 /* each call's deadline: room to resolve a lost COMMIT */
#define FO_MAX_CALLS   200   /* calls of one key before a writer gives it up */
#define FO_WAIT_MS     60000
#define FO_RECOVERY_US (2 * G_USEC_PER_SEC) /* promoted to first write: the goal */

typedef enum {
    REPL_SYNC,      /* r1 is the synchronous standby */
    REPL_ASYNC,     /* r1 streams asynchronously, as fast as loopback goes */
    REPL_ASYNC_LAG, /* ... and stops receiving a few writes before the primary dies */
    REPL_COUNT
} replication;

static const char *const replication_names[REPL_COUNT] = {"sync", "async", "async-lag"};

typedef enum { V_OK, V_NOT_APPLIED, V_UNKNOWN, V_COUNT } verdict;

static const char *const verdict_names[V_COUNT] = {"ok", "not-applied", "unknown"};

/* One call of dbr_tx_run_once and dbr's verdict on it. */
typedef struct call {
    int key_no, call_no;
    verdict verdict;
    bool already; /* ok, and an earlier call of the key had committed it */
    int64_t start_us, done_us;
    dbr_error_kind kind;
    char *message; /* NULL when ok */
} call;

typedef struct writer {
    dbr_db *db;
    const char *mode;
    int index;
    gint *stop;
    gint oks; /* acknowledged calls so far */
    GArray *calls;
} writer;

typedef struct write_arg {
    const char *key;
    int call_no;
} write_arg;

static dbr_db *admin;

static void admin_open(void)
{
    admin = t_open("[database]\ndriver = pq\nconninfo = %s\n", t_conninfo());
}

static void admin_close(void)
{
    dbr_close(admin);
    admin = NULL;
}

/* The shared server as every other test expects it, also after a failed
 * test (an unchecked fixture: no assertion here). */
static void restore_cluster(void)
{
    char *cmd = g_strdup_printf("bash '%s/scripts/lib/pgstandby.sh' restore >/dev/null",
                                getenv("DBR_TEST_SOURCE_ROOT"));

    if (system(cmd) != 0)
        fprintf(stderr, "restore_cluster: %s failed\n", cmd);
    g_free(cmd);
}

/* ---- the writers ---- */

static bool write_row(dbr_tx *tx, void *user, dbr_error **err)
{
    const write_arg *a = user;
    char no[16];
    const char *params[] = {a->key, no};

    g_snprintf(no, sizeof(no), "%d", a->call_no);
    return dbr_tx_exec(tx, "INSERT INTO fo_ops (key, call) VALUES ($1, $2::int)", 2, params, err);
}

static char *key_name(const char *mode, int writer_index, int key_no)
{
    return g_strdup_printf("fo-%s-%d-%d", mode, writer_index, key_no);
}

/* Keys one after the other; each is called again until it is acknowledged,
 * as an application with idempotency keys would. After stop, a key whose
 * last call was not applied is left; one that is unknown is not. */
static gpointer write_thread(gpointer data)
{
    writer *w = data;

    for (int key_no = 0; !g_atomic_int_get(w->stop); key_no++) {
        char *key = key_name(w->mode, w->index, key_no);

        for (int call_no = 1; call_no <= FO_MAX_CALLS; call_no++) {
            write_arg a = {.key = key, .call_no = call_no};
            call c = {.key_no = key_no, .call_no = call_no};
            dbr_ctx *ctx = dbr_ctx_with_timeout(FO_CALL_MS);
            dbr_error *err = NULL;
            bool ok;

            c.start_us = dbr_now_us();
            ok = dbr_tx_run_once(w->db, ctx, NULL, key, write_row, &a, &c.already, &err);
            c.done_us = dbr_now_us();
            if (ok) {
                c.verdict = V_OK;
            } else {
                c.verdict =
                    dbr_error_outcome(err) == DBR_OUTCOME_NOT_APPLIED ? V_NOT_APPLIED : V_UNKNOWN;
                c.kind = dbr_error_kind_of(err);
                c.message = g_strdup(err ? dbr_error_message(err) : "(no error)");
            }
            g_array_append_val(w->calls, c);
            dbr_error_free(err);
            dbr_ctx_free(ctx);
            if (ok) {
                g_atomic_int_inc(&w->oks);
                break;
            }
            if (c.verdict == V_NOT_APPLIED && g_atomic_int_get(w->stop))
                break;
            g_usleep(5000); /* pacing: an open breaker refuses in nanoseconds */
        }
        g_free(key);
    }
    return NULL;
}

typedef struct progress {
    writer *w;
    int want[FO_WRITERS];
} progress;

static bool all_wrote(void *arg)
{
    progress *p = arg;

    for (int i = 0; i < FO_WRITERS; i++)
        if (g_atomic_int_get(&p->w[i].oks) < p->want[i])
            return false;
    return true;
}

static void wait_for_oks(writer *w, int more, const char *when)
{
    progress p = {.w = w};

    for (int i = 0; i < FO_WRITERS; i++)
        p.want[i] = g_atomic_int_get(&w[i].oks) + more;
    ck_assert_msg(t_wait_for(all_wrote, &p, FO_WAIT_MS),
                  "not every writer had %d more writes acknowledged %s within %d s", more, when,
                  FO_WAIT_MS / 1000);
}

/* ---- reading the history back ---- */

typedef struct found {
    int rows;
    int call_no; /* the call whose write is there */
} found;

/* key -> found, from the new primary's table */
static GHashTable *read_back(dbr_db *db)
{
    dbr_error *err = NULL;
    dbr_result *r = dbr_query(db, NULL, "SELECT key, count(*), min(call) FROM fo_ops GROUP BY key",
                              0, NULL, &err);
    GHashTable *rows = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

    ck_assert_msg(r != NULL, "reading fo_ops back: %s", dbr_error_message(err));
    for (int i = 0; i < dbr_result_nrows(r); i++) {
        found *f = g_new(found, 1);

        f->rows = atoi(dbr_result_value(r, i, 1));
        f->call_no = atoi(dbr_result_value(r, i, 2));
        g_hash_table_insert(rows, g_strdup(dbr_result_value(r, i, 0)), f);
    }
    dbr_result_free(r);
    return rows;
}

typedef struct tally {
    int calls[V_COUNT], replays, keys, acked, lost, twice, left_unknown, mistakes;
    int lost_before_detach; /* lost, though acknowledged before r1 was told to stop receiving */
    int acked_detached;     /* acknowledged by the old primary in a call begun after r1 had
                               stopped receiving */
    int64_t first_ok_us;    /* the first write the new primary acknowledged */
} tally;

static void complain(GString *bad, int *n, const char *key, const char *what, const call *c)
{
    if (++*n > 20)
        return;
    g_string_append_printf(bad, "\n  %s: %s (call %d said %s%s%s%s%s%s)", key, what, c->call_no,
                           verdict_names[c->verdict], c->already ? ", already applied" : "",
                           c->message ? ": " : "", c->message ? dbr_error_kind_name(c->kind) : "",
                           c->message ? ", " : "", c->message ? c->message : "");
}

/* One key's calls, calls[0..n), against what the new primary holds. */
/* The detach: r1 told to stop receiving at detach[0], stopped by detach[1]
 * (both 0 when r1 was not detached), the old primary stopped at detach[2]. */
static void check_key(const char *key, const call *calls, int n, const found *f,
                      const int64_t detach[3], tally *t, GString *bad)
{
    const call *acked = NULL, *wrote = NULL;

    t->keys++;
    for (int i = 0; i < n; i++) {
        t->calls[calls[i].verdict]++;
        t->replays += calls[i].already;
        if (calls[i].verdict == V_OK)
            acked = &calls[i];
        if (f && calls[i].call_no == f->call_no)
            wrote = &calls[i];
    }
    t->acked += acked != NULL;
    if (detach[1] && acked && acked->start_us >= detach[1] && acked->done_us < detach[2])
        t->acked_detached++;
    if (calls[n - 1].verdict == V_UNKNOWN)
        t->left_unknown++;
    if (f && !wrote) {
        complain(bad, &t->mistakes, key, "written by a call that was never made", &calls[n - 1]);
    } else if (f && f->rows > 1) {
        t->twice++;
        complain(bad, &t->mistakes, key, "applied more than once", wrote);
    } else if (acked && !f) {
        t->lost++; /* counted, judged by the caller: the async window */
        if (detach[0] && acked->done_us < detach[0])
            t->lost_before_detach++;
    } else if (f && wrote->verdict == V_NOT_APPLIED) {
        complain(bad, &t->mistakes, key, "reported not applied, but its write is there", wrote);
    } else if (f && wrote->already) {
        complain(bad, &t->mistakes, key, "reported already applied, but it wrote", wrote);
    } else if (f && acked && !acked->already && acked != wrote) {
        complain(bad, &t->mistakes, key, "acknowledged, but another call's write is there", acked);
    }
}

static tally check_history(writer *w, GHashTable *rows, int64_t promoted_us,
                           const int64_t detach[3], GString *bad)
{
    tally t = {0};

    for (int i = 0; i < FO_WRITERS; i++) {
        const call *calls = (const call *)(void *)w[i].calls->data;
        guint n = w[i].calls->len;

        for (guint k = 0; k < n; k++)
            if (calls[k].verdict == V_OK && !calls[k].already && calls[k].done_us >= promoted_us &&
                (!t.first_ok_us || calls[k].done_us < t.first_ok_us))
                t.first_ok_us = calls[k].done_us;
        for (guint start = 0; start < n;) {
            guint end = start;
            char *key = key_name(w[i].mode, i, calls[start].key_no);

            while (end < n && calls[end].key_no == calls[start].key_no)
                end++;
            check_key(key, calls + start, (int)(end - start), g_hash_table_lookup(rows, key),
                      detach, &t, bad);
            g_free(key);
            start = end;
        }
    }
    return t;
}

static void free_writer(writer *w)
{
    for (guint k = 0; k < w->calls->len; k++)
        g_free(g_array_index(w->calls, call, k).message);
    g_array_free(w->calls, TRUE);
}

/* How the chain got there: lost COMMIT answers the keys settled, retries. */
static void print_metrics(dbr_db *db, const char *mode)
{
    char *text = dbr_metrics_text(db);
    char **lines = g_strsplit(text, "\n", -1);
    GString *out = g_string_new(NULL);

    for (char **l = lines; *l; l++)
        if ((g_str_has_prefix(*l, "dbr_commit_resolutions_total{") ||
             g_str_has_prefix(*l, "dbr_tx_key_replays_total{") ||
             g_str_has_prefix(*l, "dbr_retry_retries_total{")) &&
            !g_str_has_suffix(*l, " 0"))
            g_string_append_printf(out, "\n  %s", *l);
    printf("failover (%s replication): metrics:%s\n", mode, out->len ? out->str : " none");
    g_string_free(out, TRUE);
    g_strfreev(lines);
    free(text);
}

/* ---- the scenario ---- */

static void failover_under_load(replication repl)
{
    const char *mode = replication_names[repl];
    char *r1, *r2;
    dbr_db *db, *newp;
    writer w[FO_WRITERS];
    GThread *t[FO_WRITERS];
    gint stop = 0;
    int64_t detach[3] = {0, 0, 0}, stopped_us, promote_us, promoted_us;
    GHashTable *rows;
    GString *bad = g_string_new(NULL);
    tally tl;

    t_exec(admin, "DROP TABLE IF EXISTS fo_ops, fo_keys");
    t_exec(admin, "CREATE TABLE fo_ops (key text NOT NULL, call int NOT NULL)");
    r1 = t_standby("start", "r1");
    r2 = t_standby("start", "r2");
    if (repl == REPL_SYNC)
        g_free(t_standby("sync", "r1"));
    /* The shipped defaults, but for the key table of this test. r2 stays
     * a standby: target_session_attrs must pass it over after the switch. */
    db = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1,127.0.0.1,127.0.0.1 "
                "port=%s,%s,%s user=dbr dbname=dbr_test target_session_attrs=read-write "
                "connect_timeout=2\nidempotency_table = fo_keys\n"
                "[chain]\nplugins = retry, breaker\n",
                getenv("DBR_TEST_PGPORT"), r2, r1);
    for (int i = 0; i < FO_WRITERS; i++) {
        w[i] = (writer){.db = db, .mode = mode, .index = i, .stop = &stop};
        w[i].calls = g_array_new(FALSE, FALSE, sizeof(call));
        t[i] = g_thread_new("writer", write_thread, &w[i]);
    }
    wait_for_oks(w, FO_WARM_OKS, "before the fault");
    if (repl == REPL_ASYNC_LAG) {
        /* What the primary acknowledges from now on never reaches r1. */
        detach[0] = dbr_now_us();
        g_free(t_standby("detach", "r1"));
        detach[1] = dbr_now_us();
        /* one more: a call already under way when r1 stopped may be the
         * first of them, and it is not counted as begun after the cut */
        wait_for_oks(w, FO_LAG_OKS + 1, "while r1 was detached");
    }

    /* The primary dies without a word; r1 is promoted at once. */
    stopped_us = dbr_now_us();
    detach[2] = stopped_us;
    t_pgctl("stop -m immediate");
    promote_us = dbr_now_us();
    g_free(t_standby("promote", "r1"));
    promoted_us = dbr_now_us();
    wait_for_oks(w, FO_AFTER_OKS, "after the promotion");
    g_atomic_int_set(&stop, 1);
    for (int i = 0; i < FO_WRITERS; i++)
        g_thread_join(t[i]);

    newp = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=%s user=dbr "
                  "dbname=dbr_test\n",
                  r1);
    ck_assert_int_eq(t_int(newp, "SELECT pg_is_in_recovery()::int"), 0);
    rows = read_back(newp);
    tl = check_history(w, rows, promote_us, detach, bad);
    printf("failover (%s replication): %d keys, %d acknowledged; calls: %d ok (%d already "
           "applied), %d not-applied, %d unknown\n",
           mode, tl.keys, tl.acked, tl.calls[V_OK], tl.replays, tl.calls[V_NOT_APPLIED],
           tl.calls[V_UNKNOWN]);
    printf("failover (%s replication): acknowledged writes lost: %d, applied twice: %d, keys left "
           "unknown: %d, misreported: %d\n",
           mode, tl.lost, tl.twice, tl.left_unknown, tl.mistakes);
    print_metrics(db, mode);
    ck_assert_msg(tl.first_ok_us, "no write was acknowledged after the promotion");
    printf("failover (%s replication): primary stopped in %.0f ms, pg_ctl promote took %.0f ms; "
           "first write acknowledged %.0f ms after pg_ctl promote began, %.0f ms after it "
           "returned (goal: under %.0f ms)\n",
           mode, (double)(promote_us - stopped_us) / 1000.0,
           (double)(promoted_us - promote_us) / 1000.0,
           (double)(tl.first_ok_us - promote_us) / 1000.0,
           (double)(tl.first_ok_us - promoted_us) / 1000.0, (double)FO_RECOVERY_US / 1000.0);
    /* dbr's part: once the standby is a primary (pg_ctl promote polls, so
     * the first write may even come before it returns). */
    ck_assert_int_lt(tl.first_ok_us - promoted_us, FO_RECOVERY_US);
    ck_assert_msg(tl.mistakes == 0, "%d misreported or duplicated writes:%s", tl.mistakes,
                  bad->str);
    ck_assert_int_eq(tl.twice, 0);
    if (repl == REPL_SYNC) {
        ck_assert_int_eq(tl.lost, 0);
        ck_assert_int_eq(tl.calls[V_UNKNOWN], 0);
        ck_assert_int_eq(tl.left_unknown, 0);
    }
    if (repl == REPL_ASYNC_LAG) {
        printf("failover (%s replication): r1 stopped receiving in %.0f ms; %d writes "
               "acknowledged by calls begun after that; %d lost writes acknowledged before it "
               "began\n",
               mode, (double)(detach[1] - detach[0]) / 1000.0, tl.acked_detached,
               tl.lost_before_detach);
        /* The checker sees the window: what r1 never received is lost, and
         * nothing it had received. */
        ck_assert_int_ge(tl.acked_detached, FO_WRITERS * FO_LAG_OKS);
        ck_assert_int_ge(tl.lost, tl.acked_detached);
        ck_assert_int_eq(tl.lost_before_detach, 0);
    }

    g_hash_table_destroy(rows);
    g_string_free(bad, TRUE);
    for (int i = 0; i < FO_WRITERS; i++)
        free_writer(&w[i]);
    dbr_close(newp);
    dbr_close(db);
    g_free(r1);
    g_free(r2);
    /* The old primary back as it was, for the tests that follow. */
    dbr_close(admin);
    restore_cluster();
    admin_open();
    t_exec(admin, "DROP TABLE IF EXISTS fo_ops, fo_keys");
}

/* ---- one COMMIT in flight at the failover ---- */

typedef struct inflight {
    dbr_db *db;
    gint runs;
    bool ok, already;
    char error[256];
} inflight;

static bool inflight_write(dbr_tx *tx, void *user, dbr_error **err)
{
    inflight *f = user;

    g_atomic_int_inc(&f->runs);
    return dbr_tx_exec(tx, "INSERT INTO fo_ops (key, call) VALUES ('inflight', 1)", 0, NULL, err);
}

static bool nothing(dbr_tx *tx, void *user, dbr_error **err)
{
    (void)tx, (void)user, (void)err;
    return true;
}

static gpointer inflight_thread(gpointer data)
{
    inflight *f = data;
    dbr_ctx *ctx = dbr_ctx_with_timeout(FO_CALL_MS);
    dbr_error *err = NULL;

    f->ok = dbr_tx_run_once(f->db, ctx, NULL, "inflight", inflight_write, f, &f->already, &err);
    if (!f->ok)
        g_strlcpy(f->error, dbr_error_message(err), sizeof(f->error));
    dbr_error_free(err);
    dbr_ctx_free(ctx);
    return NULL;
}

static bool commit_waits(void *arg)
{
    (void)arg;
    return t_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                        "'fo_inflight' AND wait_event = 'SyncRep'") == 1;
}

/* r1 has flushed every byte of WAL the primary wrote so far. */
static bool r1_has_it_all(void *arg)
{
    (void)arg;
    return t_int(admin, "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'r1' "
                        "AND flush_lsn >= pg_current_wal_insert_lsn()") == 1;
}

static long long metric(dbr_db *db, const char *line_prefix)
{
    char *text = dbr_metrics_text(db);
    const char *at = strstr(text, line_prefix);
    long long v = at ? atoll(at + strlen(line_prefix)) : -1;

    free(text);
    return v;
}

/* A keyed transaction whose COMMIT waits for the synchronous standby r1
 * when the primary dies, and r1 is promoted. reached: r1 had received the
 * COMMIT (its replay paused, under synchronous_commit = remote_apply), so
 * the key is found on it: committed, run once. Else r1 had been cut off
 * from the stream before: the key is not found, not applied, and retry
 * runs the transaction again on r1. Either way the row is there once. */
static void commit_in_flight(bool reached)
{
    inflight f = {0};
    dbr_db *r1db;
    GThread *t;
    char *r1;

    t_exec(admin, "DROP TABLE IF EXISTS fo_ops, fo_keys");
    t_exec(admin, "CREATE TABLE fo_ops (key text NOT NULL, call int NOT NULL)");
    r1 = t_standby("start", "r1");
    f.db = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1,127.0.0.1 port=%s,%s "
                  "user=dbr dbname=dbr_test target_session_attrs=read-write connect_timeout=2 "
                  "application_name=fo_inflight options='-c synchronous_commit=remote_apply'\n"
                  "idempotency_table = fo_keys\n[chain]\nplugins = retry, breaker\n",
                  getenv("DBR_TEST_PGPORT"), r1);
    /* the key table made before COMMITs wait for r1 */
    ck_assert(dbr_tx_run_once(f.db, NULL, NULL, "warm", nothing, NULL, NULL, NULL));
    r1db = t_open("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=%s user=dbr "
                  "dbname=dbr_test\nmax_idle_conns = 0\n",
                  r1);
    g_free(t_standby("sync", "r1"));
    /* the tables and the warm-up key are on r1 before anything is held back */
    ck_assert_msg(t_wait_for(r1_has_it_all, NULL, 20000), "r1 does not catch up");
    if (reached)
        t_exec(r1db, "SELECT pg_wal_replay_pause()");
    else
        g_free(t_standby("detach", "r1"));
    t = g_thread_new("inflight", inflight_thread, &f);
    ck_assert_msg(t_wait_for(commit_waits, NULL, 20000), "COMMIT does not wait for r1");
    if (reached)
        ck_assert_msg(t_wait_for(r1_has_it_all, NULL, 20000), "r1 does not receive the COMMIT");
    t_pgctl("stop -m immediate");
    if (reached)
        t_exec(r1db, "SELECT pg_wal_replay_resume()");
    g_free(t_standby("promote", "r1"));
    g_thread_join(t);

    printf("COMMIT in flight at the failover, %s r1: %s after %d run(s), found %lld time(s) on "
           "r1; key resolutions: %lld committed, %lld not committed\n",
           reached ? "received by" : "never sent to", f.ok ? "ok" : f.error, f.runs,
           t_int(r1db, "SELECT count(*) FROM fo_ops WHERE key = 'inflight'"),
           metric(f.db, "dbr_commit_resolutions_total{db=\"default\",result=\"committed\"} "),
           metric(f.db, "dbr_commit_resolutions_total{db=\"default\",result=\"aborted\"} "));
    ck_assert_msg(f.ok, "%s", f.error);
    ck_assert(!f.already);
    ck_assert_int_eq(f.runs, reached ? 1 : 2);
    ck_assert_int_eq(t_int(r1db, "SELECT count(*) FROM fo_ops WHERE key = 'inflight'"), 1);
    ck_assert_int_eq(
        metric(f.db, reached ? "dbr_commit_resolutions_total{db=\"default\",result=\"committed\"} "
                             : "dbr_commit_resolutions_total{db=\"default\",result=\"aborted\"} "),
        1);

    dbr_close(r1db);
    dbr_close(f.db);
    g_free(r1);
    dbr_close(admin);
    restore_cluster();
    admin_open();
    t_exec(admin, "DROP TABLE IF EXISTS fo_ops, fo_keys");
}

START_TEST(test_pg_commit_received_by_the_promoted_standby_is_committed_once)
{
    commit_in_flight(true);
}
END_TEST

START_TEST(test_pg_commit_the_promoted_standby_never_got_is_run_again_once)
{
    commit_in_flight(false);
}
END_TEST

START_TEST(test_pg_failover_with_sync_replication_loses_nothing)
{
    failover_under_load(REPL_SYNC);
}
END_TEST

START_TEST(test_pg_failover_with_async_replication_counts_its_window)
{
    failover_under_load(REPL_ASYNC);
}
END_TEST

START_TEST(test_pg_failover_with_a_lagging_standby_loses_exactly_its_lag)
{
    failover_under_load(REPL_ASYNC_LAG);
}
END_TEST

/* A test case each: an unchecked teardown runs once per case, and the next
 * test needs the shared server back even when this one failed. */
static void add_case(Suite *s, const char *name, const TTest *test)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, admin_open, admin_close);
    tcase_add_unchecked_fixture(tc, NULL, restore_cluster);
    tcase_add_test(tc, test);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
}

int main(void)
{
    Suite *s = suite_create("pg_failover");

    /* The figures are the point: never lose them to a failed test's exit. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    add_case(s, "commit-received",
             test_pg_commit_received_by_the_promoted_standby_is_committed_once);
    add_case(s, "commit-never-sent",
             test_pg_commit_the_promoted_standby_never_got_is_run_again_once);
    add_case(s, "sync", test_pg_failover_with_sync_replication_loses_nothing);
    add_case(s, "async", test_pg_failover_with_async_replication_counts_its_window);
    add_case(s, "async-lag", test_pg_failover_with_a_lagging_standby_loses_exactly_its_lag);
    return t_run(s);
}
