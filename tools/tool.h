/* SPDX-License-Identifier: MIT */
/* The dbr command-line tool: shared helpers of its commands. */
#ifndef DBR_TOOL_H
#define DBR_TOOL_H

#include <json-glib/json-glib.h>
#include <stdbool.h>

#include <dbr/dbr.h>

typedef struct tool_opts {
    const char *config; /* -c FILE */
    bool json;          /* --json */
    int argc;           /* what follows the options */
    char **argv;
} tool_opts;

/* Exit codes */
#define TOOL_OK     0
#define TOOL_FAILED 1
#define TOOL_USAGE  2

int cmd_check(const tool_opts *o);
int cmd_health(const tool_opts *o);
int cmd_migrate(const tool_opts *o);

/* The builder's document as pretty JSON text (g_free it). */
char *tool_json_text(JsonBuilder *b);
/* member name + string / integer value, the two shapes the tool writes most. */
void tool_json_str(JsonBuilder *b, const char *name, const char *value);
void tool_json_int(JsonBuilder *b, const char *name, long long value);

/* Prints "dbr: MESSAGE" (and the error's detail and hint) on stderr. */
void tool_error(const char *what, const dbr_error *err);
#endif
