/* SPDX-License-Identifier: MIT */
/* dbr check: load config, driver and plugins without connecting; print the chain. */
#include <json-glib/json-glib.h>
#include <stdio.h>

#include "tool.h"

static void add_module(JsonBuilder *b, dbr_db *db, int index)
{
    dbr_module_info m;
    char **settings = dbr_chain_settings(db, index);

    dbr_chain_module(db, index, &m);
    json_builder_begin_object(b);
    dbr_json_add_str(b, "name", m.name);
    dbr_json_add_str(b, "module", m.module);
    dbr_json_add_str(b, "version", m.version);
    dbr_json_add_str(b, "path", m.path);
    json_builder_set_member_name(b, "settings");
    json_builder_begin_object(b);
    for (char **s = settings; s && *s; s++) {
        char **kv = g_strsplit(*s, " = ", 2);

        dbr_json_add_str(b, kv[0], kv[1] ? kv[1] : "");
        g_strfreev(kv);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    dbr_strv_free(settings);
}

static void print_module(dbr_db *db, int index)
{
    dbr_module_info m;
    char **settings = dbr_chain_settings(db, index);

    dbr_chain_module(db, index, &m);
    printf("%s %-10s %s %s (%s)\n", index < 0 ? "driver" : "plugin", m.name, m.module, m.version,
           m.path);
    if (*m.description)
        printf("       %s\n", m.description);
    for (char **s = settings; s && *s; s++)
        printf("         %s\n", *s);
    dbr_strv_free(settings);
}

int cmd_check(const tool_opts *o)
{
    dbr_error *err = NULL;
    dbr_db *db = tool_open(o, true, &err);
    int n;

    if (!db) {
        n = tool_fail_error(o, TOOL_FAILED, err);
        dbr_error_free(err);
        return n;
    }
    n = dbr_chain_count(db);
    if (o->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree char *text = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "ok");
        json_builder_add_boolean_value(b, TRUE);
        dbr_json_add_str(b, "config", o->config);
        json_builder_set_member_name(b, "driver");
        add_module(b, db, -1);
        json_builder_set_member_name(b, "chain");
        json_builder_begin_array(b);
        for (int i = 0; i < n; i++)
            add_module(b, db, i);
        json_builder_end_array(b);
        json_builder_end_object(b);
        text = dbr_json_pretty(b);
        printf("%s\n", text);
    } else {
        printf("%s: ok\n\ncalls go through, outermost first:\n", o->config);
        for (int i = 0; i < n; i++)
            print_module(db, i);
        print_module(db, -1);
    }
    dbr_close(db);
    return TOOL_OK;
}
