/* SPDX-License-Identifier: MIT */
/* The dbr command-line tool: shared helpers of its commands. */
#ifndef DBR_TOOL_H
#define DBR_TOOL_H

#include <json-glib/json-glib.h>
#include <stdbool.h>

#include <dbr/dbr.h>

#include "json_text.h"

typedef struct tool_opts {
    const char *command; /* "check", "health", "migrate" */
    const char *config;  /* -c FILE */
    bool json;           /* --json */
    int usage_exit;      /* the exit code of a usage or config error for this command */
    int argc;            /* what follows the options */
    char **argv;
} tool_opts;

/* Exit codes */
#define TOOL_OK     0
#define TOOL_FAILED 1
#define TOOL_USAGE  2
/* dbr health follows the Nagios plugin convention: 0 ok, 1 warning,
 * 2 critical (the database is down too), 3 unknown (the probe itself
 * could not run: a usage or config error). */
#define TOOL_HEALTH_CRITICAL 2
#define TOOL_HEALTH_UNKNOWN  3

int cmd_check(const tool_opts *o);
int cmd_health(const tool_opts *o);
int cmd_migrate(const tool_opts *o);

/* Opens the config the way every command does: one_shot (the tool never
 * starts a service's listener or threads), or check_only. */
dbr_db *tool_open(const tool_opts *o, bool check_only, dbr_error **err);
/* The name the chain gives the plugin module (a config may load it under
 * another name: [plugin.NAME] module = PATH), or NULL when the chain has
 * none; valid while db is open. */
const char *tool_chain_name(dbr_db *db, const char *module);

/*
 * Failures. Each prints "dbr COMMAND: MESSAGE" (and an error's detail and
 * hint) on stderr and, with --json, {"ok": false, "error": ...} on stdout,
 * then returns code. User text in fmt's arguments goes through dbr_quote.
 */
int tool_fail(const tool_opts *o, int code, const char *kind, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
/* For an error of libdbr: the config file is named once, in front, unless
 * the message already starts with it. */
int tool_fail_error(const tool_opts *o, int code, const dbr_error *err);
#endif
