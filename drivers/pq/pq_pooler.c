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
 *   third argument is not the word true; UPDATE pg_settings; the session
 *   advisory lock functions; dblink_connect.
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

static bool is_word(const stmt *s, guint i, const char *w)
{
    const dbr_sql_token *t;

    if (i >= s->tok->len)
        return false;
    t = &g_array_index(s->tok, dbr_sql_token, i);
    return t->kind == DBR_SQL_WORD && t->len == strlen(w) &&
           g_ascii_strncasecmp(s->sql + t->start, w, t->len) == 0;
}

static bool is_punct(const stmt *s, guint i, char c)
{
    const dbr_sql_token *t;

    if (i >= s->tok->len)
        return false;
    t = &g_array_index(s->tok, dbr_sql_token, i);
    return t->kind == DBR_SQL_PUNCTUATION && t->len == 1 && s->sql[t->start] == c;
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
    return third == 1 && is_word(s, third_start, "true");
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

        if (t->kind != DBR_SQL_WORD)
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
        if (t->len >= 7 && g_ascii_strncasecmp(s->sql + t->start, "pg_temp", 7) == 0)
            return "pg_temp";
        if (is_word(s, i, "set_config") && !set_config_is_local(s, i))
            return "set_config";
        if (is_word(s, i, "pg_settings") && i > 0 && is_word(s, i - 1, "update"))
            return "UPDATE pg_settings";
        for (size_t k = 0; k < G_N_ELEMENTS(advisory_functions); k++)
            if (is_word(s, i, advisory_functions[k]) && is_punct(s, i + 1, '('))
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
