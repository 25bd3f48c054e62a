/* SPDX-License-Identifier: MIT */
/*
 * dbr migrate: the migrate plugin's commands from the shell, with progress
 * (each migration as it starts and ends, with its duration).
 */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

    if (!json_array_get_length(plan))
        printf("nothing to apply\n");
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

int cmd_migrate(const tool_opts *o)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    dbr_error *err = NULL;
    char *command, *reply = NULL;
    dbr_db *db;
    JsonObject *r;
    bool ok;

    if (o->argc < 1) {
        fprintf(stderr, "dbr migrate: which command? up, down [N], goto V, status, dry-run, "
                        "force V, baseline V\n");
        return TOOL_USAGE;
    }
    command = g_strjoinv(" ", o->argv);
    db = dbr_open(o->config, &err);
    if (!db) {
        tool_error(o->config, err);
        dbr_error_free(err);
        g_free(command);
        return TOOL_FAILED;
    }
    if (!o->json)
        dbr_subscribe(db, progress, stdout);
    ok = dbr_control(db, "migrate", command, &reply, &err);
    dbr_close(db);
    if (!ok && !reply) {
        tool_error(command, err);
        dbr_error_free(err);
        g_free(command);
        return TOOL_FAILED;
    }
    /* a failed dry-run still says what it tried: on stdout, then the error */
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
    if (!ok) {
        fflush(stdout);
        tool_error(command, err);
        dbr_error_free(err);
    }
    g_free(command);
    return ok ? TOOL_OK : TOOL_FAILED;
}
