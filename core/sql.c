/* SPDX-License-Identifier: MIT */
/* Leading keywords of SQL text (include/dbr/sql.h). */
#include <glib.h>
#include <string.h>

#include <dbr/sql.h>

const char *dbr_sql_next_word(const char *sql, char *word, size_t len)
{
    size_t n = 0;

    for (;;) {
        /* Empty statements (";") run nothing on the server: skip them. */
        while (g_ascii_isspace(*sql) || *sql == ';')
            sql++;
        if (sql[0] == '-' && sql[1] == '-') {
            sql += strcspn(sql, "\r\n"); /* as the server's lexer ends it */
        } else if (sql[0] == '/' && sql[1] == '*') {
            int depth = 0;

            do {
                if (sql[0] == '/' && sql[1] == '*')
                    depth++, sql += 2;
                else if (sql[0] == '*' && sql[1] == '/')
                    depth--, sql += 2;
                else
                    sql++;
            } while (*sql && depth > 0);
        } else {
            break;
        }
    }
    while (g_ascii_isalpha(*sql)) {
        if (n + 1 < len)
            word[n++] = g_ascii_tolower(*sql);
        sql++;
    }
    word[n] = '\0';
    return sql;
}
