/* SPDX-License-Identifier: MIT */
/*
 * Whether a statement may leave state in the session that outlives it, so
 * that the pool resets the connection before its next user (reset = auto).
 *
 * Read from the text, without parsing, and erring on the side of "yes": a
 * false "yes" costs one DISCARD ALL round trip when the connection goes
 * back to the pool, a false "no" leaks a setting, a role, a temporary table
 * or a lock to another caller. What the text cannot show is a function
 * that changes the session inside its body; docs/configuration.md says to
 * use reset = always for those.
 *
 * "Yes" for: SET (not SET LOCAL, SET TRANSACTION or SET CONSTRAINTS, which
 * end with the transaction), RESET, PREPARE, LISTEN, DECLARE (a cursor WITH
 * HOLD), LOAD, DO and CALL (their bodies may SET), any script, and any
 * statement that names temp or temporary (CREATE TEMP TABLE, SELECT INTO
 * TEMP), the session's own schema pg_temp (CREATE TABLE pg_temp.t) or the
 * pg_settings view (UPDATE pg_settings SET ...), or calls set_config, a
 * session-level advisory lock function or dblink_connect.
 */
#include <glib.h>
#include <string.h>

#include <dbr/sql.h>

#include "pq_session.h"

static const char *const changing_first_words[] = {"reset", "prepare", "listen", "declare",
                                                   "load",  "do",      "call"};

/* Names that change the session wherever they appear. The session-level
 * advisory lock functions all contain "advisory_lock"; the transaction
 * level ones ("advisory_xact_lock") do not. */
static const char *const changing_names[] = {"temp",           "temporary",   "set_config",
                                             "dblink_connect", "pg_settings", "dblink_connect_u"};

static bool ident_char(char c)
{
    return g_ascii_isalnum(c) || c == '_' || c == '$';
}

static bool names_session_state(const char *sql)
{
    const char *p = sql;

    while (*p) {
        const char *start;
        size_t len;

        if (!g_ascii_isalpha(*p) && *p != '_') {
            p++;
            continue;
        }
        start = p;
        while (ident_char(*p))
            p++;
        len = (size_t)(p - start);
        if (len < 4)
            continue;
        /* pg_temp, and pg_temp_3 as a session's own schema is named */
        if (len >= 7 && g_ascii_strncasecmp(start, "pg_temp", 7) == 0)
            return true;
        for (size_t i = 0; i < G_N_ELEMENTS(changing_names); i++)
            if (strlen(changing_names[i]) == len &&
                g_ascii_strncasecmp(start, changing_names[i], len) == 0)
                return true;
        /* pg_advisory_lock, pg_try_advisory_lock_shared, ... */
        if (len >= 13) {
            for (const char *q = start; q + 13 <= p; q++)
                if (g_ascii_strncasecmp(q, "advisory_lock", 13) == 0)
                    return true;
        }
    }
    return false;
}

bool pq_session_changing(const char *sql, bool script)
{
    char first[16], second[16];
    const char *rest;

    if (script)
        return true;
    rest = dbr_sql_next_word(sql, first, sizeof(first));
    if (strcmp(first, "set") == 0) {
        dbr_sql_next_word(rest, second, sizeof(second));
        return strcmp(second, "local") != 0 && strcmp(second, "transaction") != 0 &&
               strcmp(second, "constraints") != 0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(changing_first_words); i++)
        if (strcmp(first, changing_first_words[i]) == 0)
            return true;
    return names_session_state(rest);
}
