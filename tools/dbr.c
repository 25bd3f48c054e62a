/* SPDX-License-Identifier: MIT */
/*
 * dbr - the command-line tool. A thin layer over libdbr: every command is a
 * few calls of the public API, so anything it does a program can do too.
 *
 *   dbr check  -c FILE [--json]    load config, driver and plugins; print the chain
 *   dbr health -c FILE [--json]    run one health check; exit 0 healthy, 1 warning, 2 critical
 *   dbr migrate -c FILE up|down [N]|goto V|status|dry-run|force V|baseline V [--json]
 *   dbr version
 *   dbr help [COMMAND]
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

static const struct {
    const char *name;
    int (*run)(const tool_opts *o);
    const char *usage;
    const char *help;
} commands[] = {
    {"check", cmd_check, "dbr check -c FILE [--json]",
     "Loads the config file, the driver and every plugin of the chain without\n"
     "connecting, and prints the chain with each module's settings (secrets\n"
     "redacted). Exit 0 when everything loads, 1 when something does not."},
    {"health", cmd_health, "dbr health -c FILE [--json]",
     "Opens the db, runs one health check (the health plugin's, or a ping and\n"
     "pool stats when the chain has none) and prints a report.\n"
     "Exit 0 healthy, 1 warning, 2 critical, 3 when the db cannot be opened."},
    {"migrate", cmd_migrate,
     "dbr migrate -c FILE up|down [N]|goto V|status|dry-run|force V|baseline V [--json]",
     "Runs a command of the migrate plugin ([plugin.migrate] in the config):\n"
     "  up          apply every pending migration\n"
     "  down [N]    roll back the last N (default 1)\n"
     "  goto V      move to version V, up or down\n"
     "  status      applied, pending, dirty and changed migrations, with times\n"
     "  dry-run     print the plan and the SQL, then run it in a transaction that\n"
     "              is rolled back, so a broken migration shows before it is applied\n"
     "  force V     mark V applied and clean without running anything (after\n"
     "              repairing a failed migration by hand)\n"
     "  baseline V  adopt an existing database: record 1..V as applied\n"
     "Each migration is printed as it starts and ends. Exit 0 on success, 1 on error."},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: dbr COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %s\n", commands[i].usage);
    fprintf(out, "  dbr version\n  dbr help [COMMAND]\n\n"
                 "Every command takes --help. Errors go to stderr with a non-zero exit.\n");
}

void tool_error(const char *what, const dbr_error *err)
{
    fprintf(stderr, "dbr: %s: %s\n", what, dbr_error_message(err));
    if (*dbr_error_detail(err))
        fprintf(stderr, "  detail: %s\n", dbr_error_detail(err));
    if (*dbr_error_hint(err))
        fprintf(stderr, "  hint: %s\n", dbr_error_hint(err));
}

char *tool_json_text(JsonBuilder *b)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_data(gen, NULL);
}

void tool_json_str(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

void tool_json_int(JsonBuilder *b, const char *name, long long value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static int command_help(const char *name, FILE *out)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            fprintf(out, "usage: %s\n\n%s\n", commands[i].usage, commands[i].help);
            return TOOL_OK;
        }
    }
    fprintf(stderr, "dbr: no command \"%s\"; try dbr help\n", name);
    return TOOL_USAGE;
}

int main(int argc, char **argv)
{
    tool_opts o = {0};
    const char *cmd;
    GPtrArray *rest;
    int rc;

    if (argc < 2) {
        usage(stderr);
        return TOOL_USAGE;
    }
    cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        if (argc > 2)
            return command_help(argv[2], stdout);
        usage(stdout);
        return TOOL_OK;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("dbr %s\n", dbr_version());
        return TOOL_OK;
    }
    rest = g_ptr_array_new();
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            g_ptr_array_free(rest, TRUE);
            return command_help(cmd, stdout);
        } else if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                   i + 1 < argc) {
            o.config = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "dbr %s: unknown option %s (see dbr %s --help)\n", cmd, argv[i], cmd);
            g_ptr_array_free(rest, TRUE);
            return TOOL_USAGE;
        } else {
            g_ptr_array_add(rest, argv[i]);
        }
    }
    o.argc = (int)rest->len;
    g_ptr_array_add(rest, NULL);
    o.argv = (char **)rest->pdata;
    rc = -1;
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (strcmp(commands[i].name, cmd) != 0)
            continue;
        if (!o.config) {
            fprintf(stderr, "dbr %s: -c FILE is required (see dbr %s --help)\n", cmd, cmd);
            rc = TOOL_USAGE;
        } else {
            rc = commands[i].run(&o);
        }
        break;
    }
    if (rc == -1) {
        fprintf(stderr, "dbr: unknown command \"%s\"\n", cmd);
        usage(stderr);
        rc = TOOL_USAGE;
    }
    g_ptr_array_free(rest, TRUE);
    return rc;
}
