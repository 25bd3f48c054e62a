/* SPDX-License-Identifier: MIT */
/*
 * dbr migrate: the migrate plugin's commands from the shell, with progress
 * (each migration as it starts and ends, with its duration).
 */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suggest.h"
#include "tool.h"

static void progress(const dbr_event *ev, void *user)
{
    const char *type = dbr_event_type(ev);
    FILE *out = user;

    if (strcmp(type, "migrate.start") == 0)
        fprintf(out, "applying %s %s ...\n", dbr_event_get(ev, "version"),
                dbr_event_get(ev, "description"));
    else if (strcmp(type, "migrate.start_down") == 0)
        fprintf(out, "rolling back %s %s ...\n", dbr_event_get(ev, "version"),
                dbr_event_get(ev, "description"));
    else if (strcmp(type, "migrate.applied") == 0 || strcmp(type, "migrate.rolled_back") == 0)
        fprintf(out, "  %s %s in %s ms\n", dbr_event_get(ev, "version"),
                strcmp(type, "migrate.applied") == 0 ? "applied" : "rolled back",
                dbr_event_get(ev, "duration_ms"));
    fflush(out);
}

static void print_status(JsonObject *r)
{
    JsonArray *list = json_object_get_array_member(r, "migrations");

    if (json_object_has_member(r, "note"))
        printf("note: %s\n", json_object_get_string_member(r, "note"));
    printf("schema version %" G_GINT64_FORMAT "\n", json_object_get_int_member(r, "version"));
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *m = json_array_get_object_element(list, i);

        if (json_object_has_member(m, "problem")) {
            gint64 v = json_object_get_int_member(m, "version");
            char num[32];

            g_snprintf(num, sizeof(num), v ? "%" G_GINT64_FORMAT : "?", v);
            printf("  %6s  %-9s %s: %s\n", num, "bad", json_object_get_string_member(m, "source"),
                   json_object_get_string_member(m, "problem"));
            continue;
        }
        printf("  %6" G_GINT64_FORMAT "  %-9s %-32s %s\n", json_object_get_int_member(m, "version"),
               json_object_get_string_member(m, "state"),
               json_object_get_string_member(m, "description"),
               json_object_has_member(m, "applied_at")
                   ? json_object_get_string_member(m, "applied_at")
                   : "");
    }
}

static void print_plan(JsonObject *r)
{
    JsonArray *plan = json_object_get_array_member(r, "plan");

    /* An empty plan: the result line below says so on its own. */
    for (guint i = 0; i < json_array_get_length(plan); i++) {
        JsonObject *m = json_array_get_object_element(plan, i);

        printf("-- %" G_GINT64_FORMAT " %s (%s%s)\n%s\n-- => %s%s%s\n",
               json_object_get_int_member(m, "version"),
               json_object_get_string_member(m, "description"),
               json_object_get_string_member(m, "source"),
               json_object_get_boolean_member(m, "transaction") ? "" : ", outside a transaction",
               json_object_get_string_member(m, "sql"), json_object_get_string_member(m, "result"),
               json_object_has_member(m, "error") ? ": " : "",
               json_object_has_member(m, "error") ? json_object_get_string_member(m, "error") : "");
    }
    printf("%s\n", json_object_get_string_member(r, "result"));
}

/* The migrate plugin's commands and how many arguments each takes. */
static const struct {
    const char *name;
    int min_args, max_args;
    const char *usage;
} subcommands[] = {
    {"up", 0, 0, "up"},
    {"down", 0, 1, "down [N]"},
    {"goto", 1, 1, "goto V"},
    {"status", 0, 0, "status"},
    {"dry-run", 0, 0, "dry-run"},
    {"force", 1, 1, "force V"},
    {"baseline", 1, 1, "baseline V"},
};

static int check_subcommand(const tool_opts *o)
{
    const char *names[G_N_ELEMENTS(subcommands) + 1] = {0};
    const char *near;

    if (o->argc < 1)
        return tool_fail(o, TOOL_USAGE, "usage",
                         "which command? up, down [N], goto V, status, dry-run, force V, "
                         "baseline V (see dbr migrate --help)");
    for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++) {
        int n = o->argc - 1;

        names[i] = subcommands[i].name;
        if (strcmp(o->argv[0], subcommands[i].name) != 0)
            continue;
        if (n < subcommands[i].min_args)
            return tool_fail(o, TOOL_USAGE, "usage", "%s needs an argument: dbr migrate -c FILE %s",
                             subcommands[i].name, subcommands[i].usage);
        if (n > subcommands[i].max_args)
            return tool_fail(
                o, TOOL_USAGE, "usage", "unexpected argument %s: dbr migrate -c FILE %s",
                dbr_quote(o->argv[subcommands[i].max_args + 1]).text, subcommands[i].usage);
        return -1;
    }
    near = dbr_suggest(o->argv[0], names);
    return tool_fail(o, TOOL_USAGE, "usage",
                     "unknown command %s%s%s%s (expected up, down [N], goto V, status, dry-run, "
                     "force V or baseline V)",
                     dbr_quote(o->argv[0]).text, near ? "; did you mean " : "", near ? near : "",
                     near ? "?" : "");
}

/* The chain's name of the migrate plugin (as the config names it), or NULL. */
int cmd_migrate(const tool_opts *o)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    dbr_error *err = NULL;
    char *command, *reply = NULL, *plugin;
    dbr_db *db;
    JsonObject *r;
    bool ok;
    int rc;

    if ((rc = check_subcommand(o)) >= 0)
        return rc;
    /* The config and the chain first, without connecting: a chain without
     * migrate is the config's fault, not the database's. */
    db = tool_open(o, true, &err);
    if (!db) {
        rc = tool_fail_error(o, TOOL_FAILED, err);
        dbr_error_free(err);
        return rc;
    }
    plugin = g_strdup(tool_chain_name(db, "migrate"));
    dbr_close(db);
    if (!plugin)
        return tool_fail(o, TOOL_FAILED, "config",
                         "%s has no migrate plugin: add it to the chain ([chain] plugins = ..., "
                         "migrate) and give it a group: [plugin.migrate] dir = DIRECTORY of the "
                         "migration files",
                         dbr_quote_name(o->config).text);
    command = g_strjoinv(" ", o->argv);
    db = tool_open(o, false, &err);
    if (!db) {
        rc = tool_fail_error(o, TOOL_FAILED, err);
        dbr_error_free(err);
        g_free(command);
        g_free(plugin);
        return rc;
    }
    if (!o->json)
        dbr_subscribe(db, progress, stdout);
    ok = dbr_control(db, plugin, command, &reply, &err);
    dbr_close(db);
    g_free(plugin);
    if (!ok && !reply) {
        rc = tool_fail_error(o, TOOL_FAILED, err);
        dbr_error_free(err);
        g_free(command);
        return rc;
    }
    /* A failed dry-run still says what it tried: its report on stdout (in
     * JSON mode the report, with "ok": false, is the answer), then the
     * error. */
    if (o->json) {
        printf("%s\n", reply);
    } else if (json_parser_load_from_data(parser, reply, -1, NULL)) {
        r = json_node_get_object(json_parser_get_root(parser));
        if (json_object_has_member(r, "migrations"))
            print_status(r);
        else if (json_object_has_member(r, "plan"))
            print_plan(r);
        else
            printf("schema version %" G_GINT64_FORMAT " (%u migration%s run)\n",
                   json_object_get_int_member(r, "version"),
                   json_array_get_length(json_object_get_array_member(r, "done")),
                   json_array_get_length(json_object_get_array_member(r, "done")) == 1 ? "" : "s");
    }
    free(reply);
    g_free(command);
    rc = TOOL_OK;
    if (!ok) {
        fflush(stdout);
        rc = o->json ? TOOL_FAILED : tool_fail_error(o, TOOL_FAILED, err);
        dbr_error_free(err);
    }
    return rc;
}
