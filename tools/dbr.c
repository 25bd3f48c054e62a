/* SPDX-License-Identifier: MIT */
/*
 * dbr - the command-line tool. A thin layer over libdbr: every command is a
 * few calls of the public API, so anything it does a program can do too.
 *
 *   dbr check  -c FILE [--json]    load config, driver and plugins; print the chain
 *   dbr health -c FILE [--json]    run one health check; exit 0 healthy, 1 warning,
 *                                  2 critical, 3 unknown
 *   dbr migrate -c FILE up|down [N]|goto V|status|dry-run|force V|baseline V [--json]
 *   dbr version
 *   dbr help [COMMAND]
 *
 * The tool opens the db one_shot: it runs beside a service that uses the same
 * config file and must never start that service's listener or threads.
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "suggest.h"
#include "tool.h"

#define OPTIONS_HELP                                                                               \
    "options:\n"                                                                                   \
    "  -c, --config FILE   the config file (the one the service uses)\n"                           \
    "      --json          print JSON on stdout, errors included\n"                                \
    "  -h, --help          this help\n"

typedef struct command {
    const char *name;
    int (*run)(const tool_opts *o);
    int max_args; /* positional arguments after the options */
    int usage_exit;
    const char *summary;
    const char *usage;
    const char *help;
} command;

static const command commands[] = {
    {"check", cmd_check, 0, TOOL_USAGE, "load the config, driver and plugins without connecting",
     "dbr check -c FILE [--json]",
     "Loads the config file, the driver and every plugin of the chain without\n"
     "connecting to the database, and prints the chain with each module's\n"
     "settings (secrets redacted). Run it after editing the config.\n\n" OPTIONS_HELP
     "\nexit status: 0 everything loads, 1 something does not, 2 usage error.\n\n"
     "example:\n  dbr check -c /etc/app/db.ini\n"},
    {"health", cmd_health, 0, TOOL_HEALTH_UNKNOWN,
     "run one health check (exit 0 healthy, 1 warning, 2 critical, 3 unknown)",
     "dbr health -c FILE [--json]",
     "Opens the db, runs one health check (the health plugin's when the chain\n"
     "has one, else a ping and the pool's stats) and prints a report. It starts\n"
     "neither the health plugin's endpoint (listen =) nor its monitor thread,\n"
     "so it runs beside the service that uses the same config file.\n\n" OPTIONS_HELP
     "\nexit status, as a Nagios plugin's:\n"
     "  0  healthy\n"
     "  1  warning\n"
     "  2  critical: a check failed, or the database cannot be reached\n"
     "  3  unknown: a usage or config error, so no check could run\n\n"
     "example:\n  dbr health -c /etc/app/db.ini --json\n"},
    {"migrate", cmd_migrate, 2, TOOL_USAGE, "apply, roll back or inspect schema migrations",
     "dbr migrate -c FILE up|down [N]|goto V|status|dry-run|force V|baseline V [--json]",
     "Runs a command of the migrate plugin, which the config's chain must\n"
     "load ([chain] plugins = ..., migrate, and a [plugin.migrate] group with\n"
     "dir = the directory of the migration files):\n"
     "  up          apply every pending migration\n"
     "  down [N]    roll back the last N (default 1)\n"
     "  goto V      move to version V, up or down\n"
     "  status      applied, pending, dirty and changed migrations, with times\n"
     "  dry-run     print the plan and the SQL, then run it in a transaction that\n"
     "              is rolled back, so a broken migration shows before it is applied\n"
     "  force V     mark V applied and clean without running anything (after\n"
     "              repairing a failed migration by hand)\n"
     "  baseline V  adopt an existing database: record 1..V as applied\n"
     "Each migration is printed as it starts and ends.\n\n" OPTIONS_HELP
     "\nexit status: 0 success, 1 error, 2 usage error.\n\n"
     "examples:\n  dbr migrate -c /etc/app/db.ini status\n"
     "  dbr migrate -c /etc/app/db.ini up\n"},
};

static const char *const command_names[] = {"check", "health", "migrate", "version", "help", NULL};
static const char *const option_names[] = {"--config", "--json", "--help", NULL};

static void usage(FILE *out)
{
    fprintf(out, "usage: dbr COMMAND [OPTIONS]\n\n"
                 "The command-line side of libdbr: check a config file, probe a database,\n"
                 "run schema migrations. Every command reads the config file the service\n"
                 "uses, and none starts the service's endpoint or background threads.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-9s %s\n  %-9s %s\n\n", "version", "print the version", "help",
            "dbr help COMMAND is dbr COMMAND --help");
    fprintf(out, "%s",
            "options of every command:\n"
            "  -c, --config FILE   the config file\n"
            "      --json          print JSON on stdout, errors included\n"
            "  -h, --help          help on the command\n\n"
            "environment:\n"
            "  DBR_MODULE_PATH     more directories (absolute, ':'-separated) to look\n"
            "                      for drivers and plugins in\n\n"
            "Errors go to stderr with a non-zero exit. See dbr COMMAND --help.\n");
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* " (did you mean X?)" or "". */
static char *did_you_mean(const char *word, const char *const *known)
{
    const char *near = dbr_suggest(word, known);

    return near ? g_strdup_printf("; did you mean %s?", near) : g_strdup("");
}

static void json_error(const tool_opts *o, int code, const char *kind, const char *message,
                       const char *detail, const char *hint)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    if (o->command && strcmp(o->command, "health") == 0)
        dbr_json_add_str(b, "status", code == TOOL_HEALTH_CRITICAL ? "critical" : "unknown");
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, FALSE);
    if (o->command)
        dbr_json_add_str(b, "command", o->command);
    dbr_json_add_str(b, "error", message);
    dbr_json_add_str(b, "error_kind", kind);
    if (detail && *detail)
        dbr_json_add_str(b, "detail", detail);
    if (hint && *hint)
        dbr_json_add_str(b, "hint", hint);
    dbr_json_add_int(b, "exit", code);
    json_builder_end_object(b);
    text = dbr_json_pretty(b);
    printf("%s\n", text);
}

int tool_fail(const tool_opts *o, int code, const char *kind, const char *fmt, ...)
{
    g_autofree char *message = NULL;
    va_list ap;

    va_start(ap, fmt);
    message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "dbr%s%s: %s\n", o->command ? " " : "", o->command ? o->command : "", message);
    if (o->json)
        json_error(o, code, kind, message, NULL, NULL);
    return code;
}

int tool_fail_error(const tool_opts *o, int code, const dbr_error *err)
{
    const char *msg = dbr_error_message(err);
    dbr_quoted name = dbr_quote_name(o->config ? o->config : "");
    g_autofree char *message = NULL;

    /* Config errors start with the file's name already: never say it twice. */
    if (o->config && !g_str_has_prefix(msg, name.text))
        message = g_strdup_printf("%s: %s", name.text, msg);
    else
        message = g_strdup(msg);
    /* Advice to run `dbr migrate ...` is for this config: say so, so that
     * the command can be pasted as it is. */
    if (o->config && strstr(message, "`dbr migrate ")) {
        g_autofree char *quoted = g_shell_quote(o->config);
        g_autofree char *with = g_strdup_printf("`dbr migrate -c %s ", quoted);
        char **parts = g_strsplit(message, "`dbr migrate ", -1);

        g_free(message);
        message = g_strjoinv(with, parts);
        g_strfreev(parts);
    }
    fprintf(stderr, "dbr %s: %s\n", o->command, message);
    if (*dbr_error_detail(err))
        fprintf(stderr, "  detail: %s\n", dbr_error_detail(err));
    if (*dbr_error_hint(err))
        fprintf(stderr, "  hint: %s\n", dbr_error_hint(err));
    if (o->json)
        json_error(o, code, dbr_error_kind_name(dbr_error_kind_of(err)), message,
                   dbr_error_detail(err), dbr_error_hint(err));
    return code;
}

dbr_db *tool_open(const tool_opts *o, bool check_only, dbr_error **err)
{
    dbr_open_opts opts = {.config_path = o->config, .check_only = check_only, .one_shot = true};

    return dbr_open_with(&opts, err);
}

const char *tool_chain_name(dbr_db *db, const char *module)
{
    for (int i = 0; i < dbr_chain_count(db); i++) {
        dbr_module_info m;

        if (dbr_chain_module(db, i, &m) && strcmp(m.module, module) == 0)
            return m.name;
    }
    return NULL;
}

static int unknown_command(tool_opts *o, const char *name)
{
    g_autofree char *hint = did_you_mean(name, command_names);

    o->command = NULL;
    return tool_fail(o, TOOL_USAGE, "usage",
                     "unknown command %s%s (commands: check, health, migrate, version, help; "
                     "see dbr --help)",
                     dbr_quote(name).text, hint);
}

static int help(tool_opts *o, int argc, char **argv)
{
    const command *c;

    if (argc == 0) {
        usage(stdout);
        return TOOL_OK;
    }
    if (argc > 1)
        return tool_fail(o, TOOL_USAGE, "usage", "help takes one command, got %d arguments", argc);
    if (strcmp(argv[0], "version") == 0 || strcmp(argv[0], "help") == 0) {
        usage(stdout);
        return TOOL_OK;
    }
    if (!(c = find_command(argv[0])))
        return unknown_command(o, argv[0]);
    printf("usage: %s\n\n%s", c->usage, c->help);
    return TOOL_OK;
}

/* Parses a command's options into o; returns -1 to go on, else an exit code. */
static int parse_options(const command *c, tool_opts *o, int argc, char **argv, GPtrArray *rest)
{
    bool options_done = false;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];

        if (options_done || a[0] != '-' || !a[1]) {
            g_ptr_array_add(rest, argv[i]);
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("usage: %s\n\n%s", c->usage, c->help);
            return TOOL_OK;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc || !*argv[i + 1])
                return tool_fail(o, c->usage_exit, "usage",
                                 "%s needs the config file: %s FILE (see dbr %s --help)", a, a,
                                 c->name);
            o->config = argv[++i];
        } else if (g_str_has_prefix(a, "--config=")) {
            o->config = a + strlen("--config=");
            if (!*o->config)
                return tool_fail(o, c->usage_exit, "usage",
                                 "--config= needs the config file: --config=FILE");
        } else if (g_str_has_prefix(a, "-c") && a[2] != '-') {
            o->config = a + 2; /* -cFILE, as getopt reads it */
        } else {
            g_autofree char *hint = did_you_mean(a, option_names);

            return tool_fail(o, c->usage_exit, "usage", "unknown option %s%s (see dbr %s --help)",
                             dbr_quote(a).text, hint, c->name);
        }
    }
    if ((int)rest->len > c->max_args) {
        const char *extra = g_ptr_array_index(rest, c->max_args);

        if (c->max_args == 0)
            return tool_fail(o, c->usage_exit, "usage",
                             "unexpected argument %s: %s takes none besides its options (see "
                             "dbr %s --help)",
                             dbr_quote(extra).text, c->name, c->name);
        return tool_fail(o, c->usage_exit, "usage",
                         "unexpected argument %s: %s takes at most %d (see dbr %s --help)",
                         dbr_quote(extra).text, c->name, c->max_args, c->name);
    }
    if (!o->config)
        return tool_fail(o, c->usage_exit, "usage",
                         "which config file? -c FILE is required (see dbr %s --help)", c->name);
    return -1;
}

int main(int argc, char **argv)
{
    tool_opts o = {0};
    const command *c;
    GPtrArray *rest;
    int rc;

    /* --json anywhere asks for JSON, even for an error found before it. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--json") == 0)
            o.json = true;
    if (argc < 2) {
        usage(stderr);
        return TOOL_USAGE;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0)
        return help(&o, argc - 2, argv + 2);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        o.command = "version";
        if (argc > 2)
            return tool_fail(&o, TOOL_USAGE, "usage", "unexpected argument %s",
                             dbr_quote(argv[2]).text);
        printf("dbr %s\n", dbr_version());
        return TOOL_OK;
    }
    if (!(c = find_command(argv[1]))) {
        if (argv[1][0] == '-')
            return tool_fail(&o, TOOL_USAGE, "usage",
                             "%s before a command: options follow it, as in dbr check -c FILE "
                             "(see dbr --help)",
                             dbr_quote(argv[1]).text);
        return unknown_command(&o, argv[1]);
    }
    o.command = c->name;
    o.usage_exit = c->usage_exit;
    rest = g_ptr_array_new();
    rc = parse_options(c, &o, argc - 2, argv + 2, rest);
    if (rc < 0) {
        o.argc = (int)rest->len;
        g_ptr_array_add(rest, NULL);
        o.argv = (char **)rest->pdata;
        rc = c->run(&o);
    }
    g_ptr_array_free(rest, TRUE);
    return rc;
}
