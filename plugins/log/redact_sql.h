/* SPDX-License-Identifier: MIT */
/* SQL text with its literals replaced, fit for a log line. */
#ifndef DBR_LOG_REDACT_SQL_H
#define DBR_LOG_REDACT_SQL_H

/*
 * Every string ('text', E'text', N'', U&'', B'', X'') becomes '?', every
 * dollar-quoted string $$?$$, every number ?, and every comment an empty
 * block comment with a ? in it (comments carry data too: tags, values
 * pasted in by a caller); names, keywords, operators and $1 placeholders
 * stay. The text is cut into tokens by dbr_sql_lex, PostgreSQL's own rules,
 * so a quote inside a comment or a backslash in a standard string cannot
 * shift what counts as a literal. Free with g_free.
 */
char *log_redact_sql(const char *sql);

/* The first keyword of sql and " ... (not logged: a syntax error)" (g_free):
 * what is shown of a statement the server could not parse. */
char *log_first_word(const char *sql);

/*
 * A server's error message fit for a log line. Data exceptions (SQLSTATE
 * class 22: 'invalid input syntax for type integer: "..."') quote the
 * offending value, and syntax errors (42601: 'syntax error at or near
 * "..."') the SQL around the error, literals included: for those the
 * message is cut at its first quote (ASCII, guillemets or curly quotes, as
 * translations use them). Other messages quote names, which can be data
 * too (a literal cast to regclass): every quoted part becomes an ellipsis.
 * Integrity violations put the row's values in DETAIL, which is never
 * logged. Free with g_free.
 */
char *log_redact_server_message(const char *message, const char *sqlstate);

#endif
