/* SPDX-License-Identifier: MIT */
/* The dbr command-line tool: shared helpers of its commands. */
#ifndef DBR_TOOL_H
#define DBR_TOOL_H

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

/* Prints "dbr: MESSAGE" (and the error's detail and hint) on stderr. */
void tool_error(const char *what, const dbr_error *err);
#endif
