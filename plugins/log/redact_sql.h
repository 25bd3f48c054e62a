/* SPDX-License-Identifier: MIT */
/* SQL text with its literals replaced, fit for a log line. */
#ifndef DBR_LOG_REDACT_SQL_H
#define DBR_LOG_REDACT_SQL_H

/* 'text' and E'text' become '?', $tag$...$tag$ becomes $$?$$, numbers
 * become ?; identifiers, keywords, comments and $1 placeholders stay. Free
 * with g_free. */
char *log_redact_sql(const char *sql);

#endif
