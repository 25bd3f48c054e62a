/* SPDX-License-Identifier: MIT */
/*
 * What in a statement binds state to the server session beyond its
 * transaction, for [database] pooler = transaction (core/pooler.c refuses
 * it): behind PgBouncer in transaction mode the server session belongs to
 * this client only until the transaction ends, so a session setting, a
 * prepared statement, a listener, a session advisory lock, a temporary
 * table or a held cursor stays behind on a server the next client gets.
 *
 * Unlike pq_session_changing (which decides a reset and errs on "yes"),
 * this errs on "no": a false name refuses good work. It reads tokens with
 * the SQL lexer, so words in strings, quoted names and comments never
 * count, and it names only what it sees for certain:
 *   SET (not SET LOCAL, SET TRANSACTION, SET CONSTRAINTS), RESET, PREPARE
 *   (not PREPARE TRANSACTION), LISTEN, LOAD, DECLARE ... WITH HOLD;
 *   TEMP/TEMPORARY after CREATE, GLOBAL, LOCAL, OR REPLACE or INTO, unless
 *   the statement says ON COMMIT DROP; the schema pg_temp; set_config whose
 *   third argument is not true; UPDATE [ONLY] [pg_catalog.]pg_settings; the
 *   session advisory lock functions; dblink_connect. Names count quoted
 *   too, spelled exactly ("set_config", "pg_temp"), as the server resolves
 *   them.
 * What a function or DO block does inside its body is not seen:
 * docs/pgbouncer.md says so.
 */
#include <glib.h>
#include <string.h>

#include <dbr/sql.h>

#include "pq_session.h"

static const char *const advisory_functions[] = {
    "pg_advisory_lock",       "pg_advisory_lock_shared",
    "pg_try_advisory_lock",   "pg_try_advisory_lock_shared",
    "pg_advisory_unlock",     "pg_advisory_unlock_shared",
    "pg_advisory_unlock_all", "dblink_connect",
    "dblink_connect_u"};

typedef struct stmt {
    const char *sql;
    GArray *tok; /* dbr_sql_token: words, names, strings, numbers, punctuation */
} stmt;

/* Token i of s, or NULL past the end. */
static const dbr_sql_token *tok_at(const stmt *s, guint i)
{
    return i < s->tok->len ? &g_array_index(s->tok, dbr_sql_token, i) : NULL;
}

static bool is_word(const stmt *s, guint i, const char *w)
{
    const dbr_sql_token *t = tok_at(s, i);

    return t && t->kind == DBR_SQL_WORD && t->len == strlen(w) &&
           g_ascii_strncasecmp(s->sql + t->start, w, t->len) == 0;
}

/* A name as the server resolves it: an unquoted word in any case, or a
 * quoted name spelled exactly ("set_config", "pg_temp"). */
static bool is_name(const stmt *s, guint i, const char *w)
{
    const dbr_sql_token *t = tok_at(s, i);
    size_t n = strlen(w);

    if (is_word(s, i, w))
        return true;
    return t && t->kind == DBR_SQL_QUOTED_NAME && t->len == n + 2 && s->sql[t->start] == '"' &&
           memcmp(s->sql + t->start + 1, w, n) == 0;
}

/* A name starting with prefix, quoted or not (pg_temp, pg_temp_3). */
static bool name_starts(const stmt *s, guint i, const char *prefix)
{
    const dbr_sql_token *t = &g_array_index(s->tok, dbr_sql_token, i);
    size_t n = strlen(prefix);

    if (t->kind == DBR_SQL_WORD)
        return t->len >= n && g_ascii_strncasecmp(s->sql + t->start, prefix, n) == 0;
    return t->kind == DBR_SQL_QUOTED_NAME && s->sql[t->start] == '"' && t->len >= n + 2 &&
           memcmp(s->sql + t->start + 1, prefix, n) == 0;
}

static bool is_punct(const stmt *s, guint i, char c)
{
    const dbr_sql_token *t = tok_at(s, i);

    return t && t->kind == DBR_SQL_PUNCTUATION && t->len == 1 && s->sql[t->start] == c;
}

static bool says_on_commit_drop(const stmt *s)
{
    for (guint i = 0; i + 2 < s->tok->len; i++)
        if (is_word(s, i, "on") && is_word(s, i + 1, "commit") && is_word(s, i + 2, "drop"))
            return true;
    return false;
}

/* set_config(name, value, is_local) at token i: local only when the third
 * argument is the bare word true. */
static bool set_config_is_local(const stmt *s, guint i)
{
    guint depth = 0, commas = 0, third = 0, third_start = 0;

    if (!is_punct(s, i + 1, '('))
        return true; /* not a call: a column or a name that only looks alike */
    for (guint j = i + 1; j < s->tok->len; j++) {
        if (is_punct(s, j, '(') || is_punct(s, j, '[')) {
            depth++;
        } else if (is_punct(s, j, ')') || is_punct(s, j, ']')) {
            if (--depth == 0)
                break;
        } else if (depth == 1 && is_punct(s, j, ',')) {
            if (++commas == 2)
                third_start = j + 1;
            continue;
        }
        if (depth >= 1 && commas == 2 && j >= third_start)
            third++;
    }
    if (third != 1)
        return false;
    if (is_word(s, third_start, "true"))
        return true;
    /* a literal the server reads as true: 'true', 't', 'on', 'yes', '1' */
    {
        const dbr_sql_token *t = &g_array_index(s->tok, dbr_sql_token, third_start);
        static const char *const yes[] = {"'true'", "'t'", "'on'", "'yes'", "'1'"};

        for (size_t k = 0; t->kind == DBR_SQL_STRING && k < G_N_ELEMENTS(yes); k++)
            if (t->len == strlen(yes[k]) &&
                g_ascii_strncasecmp(s->sql + t->start, yes[k], t->len) == 0)
                return true;
    }
    return false;
}

/* pg_settings at i is the target of an UPDATE: UPDATE [ONLY]
 * [pg_catalog.]pg_settings. */
static bool updates_pg_settings(const stmt *s, guint i)
{
    guint j = i;

    if (!is_name(s, i, "pg_settings"))
        return false;
    if (j >= 2 && is_punct(s, j - 1, '.') && is_name(s, j - 2, "pg_catalog"))
        j -= 2;
    if (j >= 1 && is_word(s, j - 1, "only"))
        j--;
    return j >= 1 && is_word(s, j - 1, "update");
}

static const char *statement_bound(const stmt *s)
{
    if (s->tok->len == 0)
        return NULL;
    if (is_word(s, 0, "set"))
        return is_word(s, 1, "local") || is_word(s, 1, "transaction") ||
                       is_word(s, 1, "constraints")
                   ? NULL
                   : "SET";
    if (is_word(s, 0, "reset"))
        return "RESET";
    if (is_word(s, 0, "prepare") && !is_word(s, 1, "transaction"))
        return "PREPARE";
    if (is_word(s, 0, "listen"))
        return "LISTEN";
    if (is_word(s, 0, "load"))
        return "LOAD";
    if (is_word(s, 0, "declare"))
        for (guint i = 1; i + 1 < s->tok->len; i++)
            if (is_word(s, i, "with") && is_word(s, i + 1, "hold"))
                return "DECLARE ... WITH HOLD";
    for (guint i = 0; i < s->tok->len; i++) {
        const dbr_sql_token *t = &g_array_index(s->tok, dbr_sql_token, i);

        if (t->kind != DBR_SQL_WORD && t->kind != DBR_SQL_QUOTED_NAME)
            continue;
        /* CREATE [GLOBAL|LOCAL|OR REPLACE] TEMP ..., SELECT ... INTO TEMP
         * (not INSERT INTO temp, a table that happens to be called so) */
        if ((is_word(s, i, "temp") || is_word(s, i, "temporary")) && i > 0 &&
            (is_word(s, i - 1, "create") || is_word(s, i - 1, "global") ||
             is_word(s, i - 1, "local") || is_word(s, i - 1, "replace") ||
             (is_word(s, i - 1, "into") &&
              !(i >= 2 && (is_word(s, i - 2, "insert") || is_word(s, i - 2, "merge"))))) &&
            !says_on_commit_drop(s))
            return "TEMPORARY";
        if (name_starts(s, i, "pg_temp"))
            return "pg_temp";
        if (is_name(s, i, "set_config") && !set_config_is_local(s, i))
            return "set_config";
        if (updates_pg_settings(s, i))
            return "UPDATE pg_settings";
        for (size_t k = 0; k < G_N_ELEMENTS(advisory_functions); k++)
            if (is_name(s, i, advisory_functions[k]) && is_punct(s, i + 1, '('))
                return advisory_functions[k];
    }
    return NULL;
}

const char *pq_session_bound(const char *sql)
{
    size_t len = strlen(sql), pos = 0;
    dbr_sql_statement one;
    const char *found = NULL;
    stmt s = {.sql = sql, .tok = g_array_new(FALSE, FALSE, sizeof(dbr_sql_token))};

    while (!found && dbr_sql_next_statement(sql, len, &pos, &one)) {
        size_t at = one.start, end = one.start + one.len;

        g_array_set_size(s.tok, 0);
        while (at < end) {
            dbr_sql_token t;

            at = dbr_sql_lex(sql, end, at, &t);
            if (t.kind == DBR_SQL_END)
                break;
            if (t.kind != DBR_SQL_SPACE && t.kind != DBR_SQL_COMMENT)
                g_array_append_val(s.tok, t);
        }
        found = statement_bound(&s);
    }
    g_array_free(s.tok, TRUE);
    return found;
}
