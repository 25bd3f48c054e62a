/* SPDX-License-Identifier: MIT */
/*
 * The migration commands: up, down N, goto V, status, dry-run, force V,
 * baseline V.
 *
 * Each migration runs in its own transaction together with its history row,
 * under the migration lock (lock.c: a transaction-scoped advisory lock
 * where the driver has one, which also works behind a pooler in
 * transaction mode; else a lock row; the SQL is portable: CAST, not ::).
 * Inside the lock the history is read again, so when several processes
 * run `up` at once each migration is applied exactly once and the others
 * skip it. A migration
 * whose file starts with "-- dbr:no-transaction" runs outside a transaction:
 * its history row is written first, marked dirty, and cleared only when it
 * succeeded; a dirty version stops every later command until `force`.
 */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include <dbr/sql.h>

#include "json_text.h"
#include "migrate.h"

typedef struct state {
    migrate *m;
    GPtrArray *all;     /* mig * */
    GPtrArray *applied; /* applied * */
} state;

static void state_clear(state *s)
{
    if (s->all)
        g_ptr_array_free(s->all, TRUE);
    if (s->applied)
        g_ptr_array_free(s->applied, TRUE);
}

static applied *find_applied(const state *s, long long version)
{
    for (guint i = 0; i < s->applied->len; i++)
        if (((applied *)g_ptr_array_index(s->applied, i))->version == version)
            return g_ptr_array_index(s->applied, i);
    return NULL;
}

static long long current_version(const state *s)
{
    return s->applied->len
               ? ((applied *)g_ptr_array_index(s->applied, s->applied->len - 1))->version
               : 0;
}

static bool load(state *s, dbr_error **err)
{
    s->all = mig_load(s->m, err);
    if (!s->all)
        return false;
    s->applied = history_read(s->m, err);
    return s->applied != NULL;
}

/* What an operator runs after a migration outside a transaction failed
 * partway (g_free): finish it by hand and record it, or undo it and run
 * it again. */
static char *dirty_advice(const state *s, const applied *a)
{
    long long before = 0;

    for (guint i = 0; i < s->applied->len; i++) {
        const applied *b = g_ptr_array_index(s->applied, i);

        if (b->version < a->version)
            before = b->version;
    }
    return g_strdup_printf(
        "version %lld (%s) is dirty: it runs outside a transaction and failed partway (or is "
        "still running elsewhere), so the database may hold part of it. Repair one of two ways: "
        "make the database match the migration as applied (finish what failed by hand), make "
        "its file match what you did, then `dbr migrate force %lld` (records %lld as applied, "
        "with the file as it is now); or make the database match it as not applied (undo what "
        "it did, or finish a rollback that failed), fix the file, then `dbr migrate force %lld` "
        "and, to apply it again, `dbr migrate up`",
        a->version, a->description, a->version, a->version, before);
}

/* The safety checks of every command but force and status. */
static bool verify(const state *s, dbr_error **err)
{
    long long top = current_version(s);

    for (guint i = 0; i < s->applied->len; i++) {
        const applied *a = g_ptr_array_index(s->applied, i);
        const mig *x = mig_find(s->all, a->version);

        if (a->dirty) {
            char *advice = dirty_advice(s, a);

            migrate_fail(err, "%s", advice);
            g_free(advice);
            return false;
        }
        if (!x)
            return migrate_fail(err,
                                "version %lld (%s) is applied but its migration is missing "
                                "(no %lld_*.up.sql in %s and no C migration)",
                                a->version, a->description, a->version,
                                *s->m->dir ? s->m->dir : "(no dir)");
        if (strcmp(x->checksum, a->checksum) != 0)
            return migrate_fail(err,
                                "%s (version %lld) has changed since it was applied: a migration "
                                "must never change once applied; add a new one instead",
                                mig_name(x), x->version);
    }
    for (guint i = 0; i < s->all->len; i++) {
        const mig *x = g_ptr_array_index(s->all, i);

        if (x->version < top && !find_applied(s, x->version))
            return migrate_fail(err,
                                "%s (version %lld) is pending but version %lld is already applied: "
                                "out of order; renumber it after %lld",
                                mig_name(x), x->version, top, top);
    }
    return true;
}

static void publish(const migrate *m, const char *type, const mig *x, int64_t us)
{
    char v[32], ms[32];

    g_snprintf(v, sizeof(v), "%lld", x->version);
    g_snprintf(ms, sizeof(ms), "%.1f", (double)us / 1000.0);
    dbr_host_publish(m->host, type, "version", v, "description", x->description, "duration_ms",
                     us ? ms : NULL, NULL);
}

/* One migration step inside a transaction. */
typedef struct step {
    migrate *m;
    const mig *x;
    bool up;
    bool dry;     /* dry-run: run, never record */
    bool skipped; /* someone else did it first */
    bool mark_dirty;
    int64_t started_us;
} step;

/* Inside the lock: whether version is in the history now, and dirty. */
static bool applied_now(const migrate *m, dbr_tx *tx, long long version, bool *yes, bool *dirty,
                        dbr_error **err)
{
    char *sql =
        g_strdup_printf("SELECT dirty FROM %s WHERE version = CAST($1 AS bigint)", m->table);
    char v[32];
    const char *p[1] = {v};
    dbr_result *r;

    g_snprintf(v, sizeof(v), "%lld", version);
    r = dbr_tx_query(tx, sql, 1, p, err);
    g_free(sql);
    if (!r)
        return false;
    *yes = dbr_result_nrows(r) > 0;
    /* t, or 1 from a driver without boolean text */
    *dirty = *yes && (dbr_result_value(r, 0, 0)[0] == 't' || dbr_result_value(r, 0, 0)[0] == '1');
    dbr_result_free(r);
    return true;
}

static bool run_body(step *st, dbr_tx *tx, dbr_error **err)
{
    const mig *x = st->x;
    dbr_error *e = NULL;
    bool ok;

    if (x->c) {
        ok = (st->up ? x->c->up : x->c->down)(tx, x->c->user, &e);
        if (!ok && !e)
            e = dbr_error_new(DBR_ERR_MIGRATION, MIGRATE_LAYER, "its callback returned false");
    } else {
        ok = dbr_tx_exec_script(tx, st->up ? x->up_sql : x->down_sql, &e);
    }
    if (ok)
        return true;
    return dbr_error_propagate(
        err, dbr_error_wrap(e, DBR_ERR_MIGRATION, MIGRATE_LAYER, "%s (version %lld) failed",
                            st->up ? mig_name(x) : (x->down_path ? x->down_path : mig_name(x)),
                            x->version));
}

static bool record(step *st, dbr_tx *tx, bool dirty, dbr_error **err)
{
    const migrate *m = st->m;
    char v[32], ms[32];
    const char *p[5] = {v, st->x->description, st->x->checksum, ms, dirty ? "1" : "0"};
    char *sql;
    bool ok;

    g_snprintf(v, sizeof(v), "%lld", st->x->version);
    g_snprintf(ms, sizeof(ms), "%lld",
               (long long)((dbr_host_now_us(m->host) - st->started_us) / 1000));
    if (st->up)
        /* force V says V is applied as its file is now: the row takes
         * that file (force reports when it replaced another checksum). */
        sql = g_strdup_printf(
            "INSERT INTO %s (version, description, checksum, execution_ms, "
            "dirty) VALUES (CAST($1 AS bigint), $2, $3, CAST($4 AS bigint), CAST($5 AS boolean)) "
            "ON CONFLICT (version) DO UPDATE SET dirty = EXCLUDED.dirty, "
            "execution_ms = EXCLUDED.execution_ms, "
            "checksum = EXCLUDED.checksum, description = EXCLUDED.description",
            m->table);
    else
        sql = g_strdup_printf("DELETE FROM %s WHERE version = CAST($1 AS bigint)", m->table);
    ok = dbr_tx_exec(tx, sql, st->up ? 5 : 1, p, err);
    g_free(sql);
    return ok;
}

static bool set_dirty(step *st, dbr_tx *tx, dbr_error **err)
{
    char *sql = g_strdup_printf("UPDATE %s SET dirty = true WHERE version = CAST($1 AS bigint)",
                                st->m->table);
    char v[32];
    const char *p[1] = {v};
    bool ok;

    g_snprintf(v, sizeof(v), "%lld", st->x->version);
    ok = dbr_tx_exec(tx, sql, 1, p, err);
    g_free(sql);
    return ok;
}

static bool step_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    step *st = user;
    bool done, dirty;

    if (!migrate_lock(st->m, tx, err) || !history_ensure(st->m, tx, err) ||
        !applied_now(st->m, tx, st->x->version, &done, &dirty, err))
        return false;
    /* Another process marked it dirty after this one read the history: its
     * no-transaction run is going on, or failed. Neither is "applied". */
    if (dirty)
        return migrate_fail(err,
                            "%s (version %lld) is dirty: another process is running it outside a "
                            "transaction, or it failed there; run `dbr migrate status`, and the "
                            "next command says how to repair",
                            mig_name(st->x), st->x->version);
    if (done == st->up) {
        st->skipped = true; /* another process got there first */
        return true;
    }
    st->started_us = dbr_host_now_us(st->m->host);
    if (st->mark_dirty && st->up) /* no-transaction: only the dirty row, the body runs outside */
        return record(st, tx, true, err);
    if (st->mark_dirty) /* the same for a down: its row stays, marked, until the body ran */
        return set_dirty(st, tx, err);
    publish(st->m, st->up ? "migrate.start" : "migrate.start_down", st->x, 0);
    return run_body(st, tx, err) && record(st, tx, false, err);
}

/* Outside a transaction, statement by statement: a server may run a
 * multi-statement query as one implicit transaction (PostgreSQL does), where CREATE INDEX
 * CONCURRENTLY and friends refuse to run. One session for the whole file,
 * so that a SET before them holds. */
static bool run_no_tx(step *st, dbr_error **err)
{
    const char *sql = st->up ? st->x->up_sql : st->x->down_sql;
    size_t len = strlen(sql), pos = 0;
    GPtrArray *texts = g_ptr_array_new_with_free_func(g_free);
    GArray *starts = g_array_new(FALSE, FALSE, sizeof(size_t));
    dbr_sql_statement one;
    dbr_error *e = NULL;
    int done = 0;
    bool ok;

    while (dbr_sql_next_statement(sql, len, &pos, &one)) {
        g_ptr_array_add(texts, g_strndup(sql + one.start, one.len));
        g_array_append_val(starts, one.start);
    }
    ok = dbr_host_run_session(st->m->host, NULL, (const char *const *)texts->pdata, (int)texts->len,
                              &done, &e);
    if (!ok) {
        size_t at = done < (int)starts->len ? g_array_index(starts, size_t, done) : len;

        dbr_error_propagate(
            err, dbr_error_wrap(e, DBR_ERR_MIGRATION, MIGRATE_LAYER,
                                "%s (version %lld, outside a transaction): statement %d of %u "
                                "(line %u) failed after %d applied; the version is marked dirty "
                                "(`dbr migrate status`; the next command says how to repair)",
                                st->up ? mig_name(st->x) : st->x->down_path, st->x->version,
                                done + 1, texts->len, mig_line_at(sql, at), done));
    }
    g_array_free(starts, TRUE);
    g_ptr_array_free(texts, TRUE);
    return ok;
}

static bool apply_no_tx(step *st, dbr_error **err)
{
    int64_t t0;

    st->mark_dirty = true;
    if (!dbr_tx_run(st->m->db, NULL, NULL, step_tx, st, err))
        return false;
    if (st->skipped)
        return true;
    publish(st->m, st->up ? "migrate.start" : "migrate.start_down", st->x, 0);
    t0 = st->started_us;
    if (!run_no_tx(st, err))
        return false;
    st->mark_dirty = false;
    st->started_us = t0;
    {
        /* clear the dirty mark, or for a down the row itself */
        char *sql = st->up
                        ? g_strdup_printf("UPDATE %s SET dirty = false, execution_ms = "
                                          "CAST($2 AS bigint) WHERE version = CAST($1 AS bigint)",
                                          st->m->table)
                        : g_strdup_printf("DELETE FROM %s WHERE version = CAST($1 AS bigint) AND "
                                          "CAST($2 AS bigint) IS NOT NULL",
                                          st->m->table);
        char v[32], ms[32];
        const char *p[2] = {v, ms};
        bool ok;

        g_snprintf(v, sizeof(v), "%lld", st->x->version);
        g_snprintf(ms, sizeof(ms), "%lld", (long long)((dbr_host_now_us(st->m->host) - t0) / 1000));
        ok = dbr_exec(st->m->db, NULL, sql, 2, p, err);
        g_free(sql);
        return ok;
    }
}

static bool apply(migrate *m, const mig *x, bool up, JsonBuilder *done, dbr_error **err)
{
    step st = {.m = m, .x = x, .up = up};
    int64_t t0 = dbr_host_now_us(m->host);
    bool ok;

    if (!up && !x->down_sql && !(x->c && x->c->down))
        return migrate_fail(err, "cannot roll back version %lld: %s", x->version,
                            x->up_path ? "its .down.sql is missing"
                                       : "its C migration has no down");
    ok = (up ? x->no_tx : x->down_no_tx) ? apply_no_tx(&st, err)
                                         : dbr_tx_run(m->db, NULL, NULL, step_tx, &st, err);
    if (!ok)
        return false;
    if (!st.skipped) {
        publish(m, up ? "migrate.applied" : "migrate.rolled_back", x,
                MAX(dbr_host_now_us(m->host) - t0, 1));
        json_builder_add_int_value(done, x->version);
    }
    return true;
}

static bool up_to(state *s, long long target, JsonBuilder *done, dbr_error **err)
{
    for (guint i = 0; i < s->all->len; i++) {
        const mig *x = g_ptr_array_index(s->all, i);

        if (x->version > target)
            break;
        if (!find_applied(s, x->version) && !apply(s->m, x, true, done, err))
            return false;
    }
    return true;
}

static bool down_to(state *s, long long target, int limit, JsonBuilder *done, dbr_error **err)
{
    for (int i = (int)s->applied->len - 1, n = 0; i >= 0 && (limit < 0 || n < limit); i--, n++) {
        const applied *a = g_ptr_array_index(s->applied, i);

        if (a->version <= target)
            break;
        if (!apply(s->m, mig_find(s->all, a->version), false, done, err))
            return false;
    }
    return true;
}

static char *status_json(const state *s, const char *note)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    GHashTable *seen = g_hash_table_new(g_int64_hash, g_int64_equal);
    char *out;

    json_builder_begin_object(b);
    dbr_json_add_int(b, "version", current_version(s));
    if (note)
        dbr_json_add_str(b, "note", note);
    json_builder_set_member_name(b, "migrations");
    json_builder_begin_array(b);
    for (guint i = 0; i < s->all->len; i++) {
        const mig *x = g_ptr_array_index(s->all, i);
        const applied *a = find_applied(s, x->version);
        const char *st = x->problem                         ? "bad"
                         : !a                               ? "pending"
                         : a->dirty                         ? "dirty"
                         : strcmp(a->checksum, x->checksum) ? "mismatch"
                                                            : "applied";

        if (x->version)
            g_hash_table_add(seen, (gpointer)&x->version);
        json_builder_begin_object(b);
        dbr_json_add_int(b, "version", x->version); /* 0: a file whose name holds none */
        dbr_json_add_str(b, "description", x->description);
        dbr_json_add_str(b, "state", st);
        dbr_json_add_str(b, "source", x->problem ? x->bad_file : mig_name(x));
        if (x->problem)
            dbr_json_add_str(b, "problem", x->problem);
        if (a) {
            dbr_json_add_str(b, "applied_at", a->applied_at);
            dbr_json_add_int(b, "execution_ms", a->execution_ms);
        }
        json_builder_end_object(b);
    }
    for (guint i = 0; i < s->applied->len; i++) {
        const applied *a = g_ptr_array_index(s->applied, i);

        if (g_hash_table_contains(seen, &a->version))
            continue;
        json_builder_begin_object(b);
        dbr_json_add_int(b, "version", a->version);
        dbr_json_add_str(b, "description", a->description);
        dbr_json_add_str(b, "state", a->dirty ? "dirty" : "missing");
        dbr_json_add_str(b, "applied_at", a->applied_at);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_hash_table_destroy(seen);
    out = dbr_json_pretty(b);
    return out;
}

/* Dry run: every pending migration that can run in a transaction, in
 * order, inside one transaction that is always rolled back. What each one
 * did is reported, and the reply is given even when one failed. */
typedef enum { DRY_NOT_TRIED, DRY_RAN, DRY_FAILED, DRY_OUTSIDE, DRY_AFTER_FAILURE } dry_result;

typedef struct dry {
    state *s;
    GArray *results; /* dry_result, one per entry of s->all */
    dbr_error *failure;
} dry;

static bool dry_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    dry *d = user;
    bool failed = false;

    (void)err;
    if (!migrate_lock(d->s->m, tx, &d->failure))
        return false;
    for (guint i = 0; i < d->s->all->len; i++) {
        const mig *x = g_ptr_array_index(d->s->all, i);
        step st = {.m = d->s->m, .x = x, .up = true, .dry = true};
        dry_result *r = &g_array_index(d->results, dry_result, i);

        if (find_applied(d->s, x->version))
            continue;
        if (failed)
            *r = DRY_AFTER_FAILURE;
        else if (x->no_tx)
            *r = DRY_OUTSIDE;
        else if (run_body(&st, tx, &d->failure))
            *r = DRY_RAN;
        else
            *r = DRY_FAILED, failed = true;
    }
    return false; /* always roll back */
}

static const char *dry_result_text(dry_result r)
{
    switch (r) {
    case DRY_RAN:
        return "ran, rolled back";
    case DRY_FAILED:
        return "failed";
    case DRY_OUTSIDE:
        return "not tried: it runs outside a transaction, which a dry run cannot roll back";
    case DRY_AFTER_FAILURE:
        return "not tried: an earlier migration failed";
    default:
        return "not tried: the dry run did not start";
    }
}

static char *dry_run(state *s, dbr_error **err, bool *ok)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    dry d = {s, g_array_new(FALSE, TRUE, sizeof(dry_result)), NULL};
    int pending = 0, count[DRY_AFTER_FAILURE + 1] = {0};
    GString *summary = g_string_new(NULL);
    dbr_error *txerr = NULL;
    char *out;

    g_array_set_size(d.results, s->all->len);
    for (guint i = 0; i < s->all->len; i++)
        pending += !find_applied(s, ((mig *)g_ptr_array_index(s->all, i))->version);
    if (pending)
        dbr_tx_run(s->m->db, NULL, NULL, dry_tx, &d, &txerr);
    if (!d.failure)
        d.failure = txerr; /* the transaction itself failed: nothing ran */
    else
        dbr_error_free(txerr);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "plan");
    json_builder_begin_array(b);
    for (guint i = 0; i < s->all->len; i++) {
        const mig *x = g_ptr_array_index(s->all, i);
        dry_result r = g_array_index(d.results, dry_result, i);

        if (find_applied(s, x->version))
            continue;
        count[r]++;
        json_builder_begin_object(b);
        dbr_json_add_int(b, "version", x->version);
        dbr_json_add_str(b, "description", x->description);
        dbr_json_add_str(b, "source", mig_name(x));
        json_builder_set_member_name(b, "transaction");
        json_builder_add_boolean_value(b, !x->no_tx);
        dbr_json_add_str(b, "sql", x->up_sql ? x->up_sql : "(C callback)");
        dbr_json_add_str(b, "result", dry_result_text(r));
        if (r == DRY_FAILED && d.failure)
            dbr_json_add_str(b, "error", dbr_error_message(d.failure));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    if (!pending)
        g_string_append(summary, "nothing to apply");
    else
        g_string_printf(summary, "%d of %d pending migration%s ran and %s rolled back",
                        count[DRY_RAN], pending, pending == 1 ? "" : "s",
                        count[DRY_RAN] == 1 ? "was" : "were");
    if (count[DRY_FAILED])
        g_string_append(summary, "; 1 failed");
    if (count[DRY_OUTSIDE])
        g_string_append_printf(summary,
                               "; %d not tried: outside a transaction, a dry run cannot roll "
                               "it back",
                               count[DRY_OUTSIDE]);
    if (count[DRY_AFTER_FAILURE])
        g_string_append_printf(summary, "; %d not tried after the failure",
                               count[DRY_AFTER_FAILURE]);
    if (count[DRY_NOT_TRIED])
        g_string_append_printf(summary, "; %d not tried: the dry run could not start",
                               count[DRY_NOT_TRIED]);
    *ok = !d.failure;
    dbr_json_add_str(b, "result", summary->str);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, *ok);
    json_builder_end_object(b);
    out = dbr_json_pretty(b);
    if (d.failure)
        dbr_error_propagate(err, d.failure);
    g_string_free(summary, TRUE);
    g_array_free(d.results, TRUE);
    return out;
}

typedef struct forcing {
    state *s;
    long long version;
    bool baseline;
    bool replaced; /* V was recorded with another checksum: its file changed */
} forcing;

static bool force_tx(dbr_tx *tx, void *user, dbr_error **err)
{
    forcing *f = user;
    migrate *m = f->s->m;
    char v[32], *sql;
    const char *p[1] = {v};
    bool ok;

    if (!migrate_lock(m, tx, err) || !history_ensure(m, tx, err))
        return false;
    g_snprintf(v, sizeof(v), "%lld", f->version);
    if (f->baseline) {
        dbr_result *r;

        sql = g_strdup_printf("SELECT count(*) FROM %s", m->table);
        r = dbr_tx_query(tx, sql, 0, NULL, err);
        g_free(sql);
        if (!r)
            return false;
        ok = strcmp(dbr_result_value(r, 0, 0), "0") == 0;
        dbr_result_free(r);
        if (!ok)
            return migrate_fail(err, "baseline: the history already lists migrations; use force");
    }
    sql = g_strdup_printf("DELETE FROM %s WHERE version > CAST($1 AS bigint)", m->table);
    ok = dbr_tx_exec(tx, sql, 1, p, err);
    g_free(sql);
    if (ok && !f->baseline && f->version) {
        const mig *x = mig_find(f->s->all, f->version);
        dbr_result *r;

        sql =
            g_strdup_printf("SELECT checksum FROM %s WHERE version = CAST($1 AS bigint)", m->table);
        r = dbr_tx_query(tx, sql, 1, p, err);
        g_free(sql);
        ok = r != NULL;
        f->replaced = ok && x && dbr_result_nrows(r) == 1 &&
                      strcmp(dbr_result_value(r, 0, 0), x->checksum) != 0;
        dbr_result_free(r);
    }
    for (guint i = 0; ok && i < f->s->all->len; i++) {
        const mig *x = g_ptr_array_index(f->s->all, i);
        step st = {.m = m, .x = x, .up = true, .started_us = dbr_host_now_us(m->host)};

        /* force marks V itself; baseline adopts everything up to V */
        if (x->version > f->version || (!f->baseline && x->version != f->version))
            continue;
        ok = record(&st, tx, false, err);
    }
    if (ok) {
        sql = g_strdup_printf("UPDATE %s SET dirty = false", m->table);
        ok = dbr_tx_exec(tx, sql, 0, NULL, err);
        g_free(sql);
    }
    return ok;
}

#define USAGE "expected up, down [N], goto V, status, dry-run, force V or baseline V"

/* A whole decimal number in [min, max]; what names it in the error. */
static bool parse_number(const char *word, const char *what, long long min, long long max,
                         long long *out, dbr_error **err)
{
    char *end;

    if (!word)
        return migrate_fail(err, "expected %s", what);
    errno = 0;
    *out = g_ascii_strtoll(word, &end, 10);
    if (!g_ascii_isdigit(*word) || *end || errno == ERANGE || *out < min || *out > max)
        return migrate_fail(err, "expected %s from %lld to %lld, got \"%.40s%s\"", what, min, max,
                            word, strlen(word) > 40 ? "..." : "");
    return true;
}

static bool run_force(state *s, char **w, char **reply, dbr_error **err)
{
    forcing f = {s, 0, strcmp(w[0], "baseline") == 0, false};

    if (!parse_number(w[1], "a version number", 0, G_MAXINT64, &f.version, err))
        return false;
    if (f.version && !mig_find(s->all, f.version))
        return migrate_fail(err, "%s %lld: no such migration", w[0], f.version);
    if (!dbr_tx_run(s->m->db, NULL, NULL, force_tx, &f, err))
        return false;
    state_clear(s);
    *s = (state){.m = s->m};
    if (!load(s, err))
        return false;
    if (f.replaced) {
        char *note = g_strdup_printf("version %lld's file had changed since it was recorded: "
                                     "force recorded the file as it is now",
                                     f.version);

        *reply = status_json(s, note);
        g_free(note);
    } else {
        *reply = status_json(s, NULL);
    }
    return true;
}

static bool run_steps(state *s, char **w, char **reply, dbr_error **err)
{
    g_autoptr(JsonBuilder) done = json_builder_new();
    long long n = 1;
    bool ok;

    json_builder_begin_object(done);
    json_builder_set_member_name(done, "done");
    json_builder_begin_array(done);
    if (strcmp(w[0], "up") == 0) {
        ok = up_to(s, G_MAXINT64, done, err);
    } else if (strcmp(w[0], "down") == 0) {
        long long napplied = s->applied->len;

        if (!napplied)
            ok = migrate_fail(err, "down: nothing is applied");
        else
            ok = (!w[1] ||
                  parse_number(w[1], "a count of applied migrations", 1, napplied, &n, err)) &&
                 down_to(s, 0, (int)n, done, err);
    } else {
        ok = parse_number(w[1], "a version number", 0, G_MAXINT64, &n, err);
        if (ok && n && !mig_find(s->all, n))
            ok = migrate_fail(err, "goto %lld: no such migration", n);
        if (ok)
            ok = n >= current_version(s) ? up_to(s, n, done, err) : down_to(s, n, -1, done, err);
    }
    json_builder_end_array(done);
    if (ok) {
        state after = {.m = s->m};

        ok = load(&after, err);
        if (ok) {
            dbr_json_add_int(done, "version", current_version(&after));
            json_builder_end_object(done);
            *reply = dbr_json_pretty(done);
        }
        state_clear(&after);
    }
    return ok;
}

bool migrate_command(migrate *m, const char *command, char **reply, dbr_error **err)
{
    static const struct {
        const char *name;
        int args; /* 0, 1, or -1: optional */
    } commands[] = {{"up", 0},      {"down", -1}, {"goto", 1},    {"status", 0},
                    {"dry-run", 0}, {"force", 1}, {"baseline", 1}};
    char **w = g_strsplit_set(command ? command : "", " \t\n", -1), **a = w;
    state s = {.m = m};
    guint nw = 0, c;
    bool ok = false;

    *reply = NULL;
    /* drop the empty words of repeated blanks */
    for (char **p = w; *p; p++) {
        if (**p)
            *a++ = *p;
        else
            g_free(*p);
    }
    *a = NULL;
    nw = g_strv_length(w);
    for (c = 0; nw && c < G_N_ELEMENTS(commands); c++)
        if (strcmp(w[0], commands[c].name) == 0)
            break;
    if (!nw) {
        g_strfreev(w);
        return migrate_fail(err, "no command given: %s", USAGE);
    }
    if (c == G_N_ELEMENTS(commands)) {
        migrate_fail(err, "unknown command \"%.40s%s\": %s", w[0], strlen(w[0]) > 40 ? "..." : "",
                     USAGE);
        g_strfreev(w);
        return false;
    }
    if (nw - 1 > (guint)ABS(commands[c].args) || (commands[c].args == 1 && nw < 2)) {
        migrate_fail(err, "%s takes %s: %s", w[0],
                     commands[c].args == 0   ? "no argument"
                     : commands[c].args == 1 ? "exactly one argument"
                                             : "at most one argument",
                     USAGE);
        g_strfreev(w);
        return false;
    }
    g_mutex_lock(&m->lock);
    if (!load(&s, err))
        goto out;
    if (strcmp(w[0], "status") == 0) {
        *reply = status_json(&s, NULL);
        ok = true;
        goto out;
    }
    if (!mig_check(s.all, err))
        goto out;
    if (strcmp(w[0], "force") == 0 || strcmp(w[0], "baseline") == 0)
        ok = run_force(&s, w, reply, err);
    else if (!verify(&s, err))
        ok = false;
    else if (strcmp(w[0], "dry-run") == 0)
        *reply = dry_run(&s, err, &ok);
    else
        ok = run_steps(&s, w, reply, err);
out:
    state_clear(&s);
    g_mutex_unlock(&m->lock);
    g_strfreev(w);
    return ok;
}

bool migrate_is_latest(migrate *m, dbr_error **err)
{
    state s = {.m = m};
    bool ok;

    g_mutex_lock(&m->lock);
    ok = load(&s, err) && mig_check(s.all, err) && verify(&s, err);
    for (guint i = 0; ok && i < s.all->len; i++) {
        const mig *x = g_ptr_array_index(s.all, i);

        if (!find_applied(&s, x->version))
            ok = migrate_fail(err,
                              "the schema is at version %lld but this program needs %lld (%s is "
                              "pending): run `dbr migrate up` first",
                              current_version(&s),
                              ((mig *)g_ptr_array_index(s.all, s.all->len - 1))->version,
                              mig_name(x));
    }
    state_clear(&s);
    g_mutex_unlock(&m->lock);
    return ok;
}
