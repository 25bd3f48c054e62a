/* SPDX-License-Identifier: MIT */
/*
 * The dbr tool's command line, run as users run it (DBR_TEST_TOOL): real
 * help, usage errors that say what is wrong, JSON on errors too, "did you
 * mean", the config file named once, a missing migrate plugin explained,
 * and `dbr health` as a Nagios-style probe: a database that cannot be
 * reached is critical (2), a config or usage error unknown (3). No server
 * is needed: the database here is a closed loopback port.
 */
#include <arpa/inet.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../testutil.h"

typedef struct run {
    int status;
    char *out, *err;
} run;

static void run_free(run *r)
{
    g_free(r->out);
    g_free(r->err);
}

/* Runs the tool with the NULL-terminated arguments. */
static run tool(const char *first, ...)
{
    GPtrArray *argv = g_ptr_array_new();
    run r = {0};
    int wait_status = -1;
    va_list ap;

    ck_assert_msg(getenv("DBR_TEST_TOOL"), "DBR_TEST_TOOL is not set: run through meson test");
    g_ptr_array_add(argv, getenv("DBR_TEST_TOOL"));
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        g_ptr_array_add(argv, (char *)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    ck_assert(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &r.out,
                           &r.err, &wait_status, NULL));
    ck_assert_msg(WIFEXITED(wait_status), "the tool did not exit: status %d", wait_status);
    r.status = WEXITSTATUS(wait_status);
    g_ptr_array_free(argv, TRUE);
    return r;
}

#define RUN(...) tool(__VA_ARGS__, NULL)

static char *write_config(const char *name, const char *text)
{
    char *dir = t_tmpdir("tool"), *path = g_build_filename(dir, name, NULL);

    ck_assert(g_file_set_contents(path, text, -1, NULL));
    g_free(dir);
    return path;
}

/* A loopback port nothing listens on: bound, then closed. */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert(fd >= 0);
    ck_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static JsonObject *parse_object(JsonParser *p, const char *text)
{
    ck_assert_msg(json_parser_load_from_data(p, text, -1, NULL), "not JSON: %s", text);
    ck_assert_msg(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)), "not an object: %s", text);
    return json_node_get_object(json_parser_get_root(p));
}

#define HAS(haystack, needle)                                                                      \
    ck_assert_msg(strstr(haystack, needle), "\"%s\" not in:\n%s", needle, haystack)
#define HASNT(haystack, needle)                                                                    \
    ck_assert_msg(!strstr(haystack, needle), "\"%s\" in:\n%s", needle, haystack)

START_TEST(test_tool_help_is_real)
{
    run r = RUN("--help");

    ck_assert_int_eq(r.status, 0);
    HAS(r.out, "check");
    HAS(r.out, "--config FILE");
    HAS(r.out, "DBR_MODULE_PATH");
    run_free(&r);
    r = RUN("health", "--help");
    ck_assert_int_eq(r.status, 0);
    HAS(r.out, "usage: dbr health -c FILE");
    HAS(r.out, "--json");
    HAS(r.out, "3  unknown");
    run_free(&r);
    r = RUN("help", "migrate");
    ck_assert_int_eq(r.status, 0);
    HAS(r.out, "[plugin.migrate]");
    HAS(r.out, "dry-run");
    run_free(&r);
}
END_TEST

START_TEST(test_tool_usage_errors_say_what_is_wrong)
{
    char *ini = write_config("usage.ini", "[database]\ndriver = fake\n");
    run r = RUN("check", "-c");

    ck_assert_int_eq(r.status, 2);
    HAS(r.err, "-c needs the config file");
    run_free(&r);
    r = RUN("check");
    ck_assert_int_eq(r.status, 2);
    HAS(r.err, "-c FILE is required");
    run_free(&r);
    r = RUN("check", "-c", ini, "extra");
    ck_assert_int_eq(r.status, 2);
    HAS(r.err, "unexpected argument \"extra\"");
    run_free(&r);
    r = RUN("migrate", "-c", ini, "up", "now");
    ck_assert_int_eq(r.status, 2);
    HAS(r.err, "unexpected argument \"now\"");
    run_free(&r);
    r = RUN("chek", "-c", ini);
    ck_assert_int_eq(r.status, 2);
    HAS(r.err, "unknown command \"chek\"; did you mean check?");
    run_free(&r);
    r = RUN("check", "--jsn", "-c", ini);
    ck_assert_int_eq(r.status, 2);
    HAS(r.err, "unknown option \"--jsn\"; did you mean --json?");
    run_free(&r);
    /* the probe's usage errors are "unknown", not "critical" */
    r = RUN("health", "--bogus");
    ck_assert_int_eq(r.status, 3);
    run_free(&r);
    g_free(ini);
}
END_TEST

START_TEST(test_tool_migrate_without_the_plugin_says_how_to_add_it)
{
    char *ini = write_config("nomigrate.ini", "[database]\ndriver = fake\n");
    run r = RUN("migrate", "-c", ini, "status");

    ck_assert_int_eq(r.status, 1);
    HAS(r.err, "no migrate plugin");
    HAS(r.err, "plugins = ..., migrate");
    HAS(r.err, "[plugin.migrate]");
    HASNT(r.err, "dbr_control");
    run_free(&r);
    r = RUN("migrate", "-c", ini, "stauts");
    ck_assert_int_eq(r.status, 2);
    HAS(r.err, "unknown command \"stauts\"; did you mean status?");
    HASNT(r.err, "dbr_control");
    run_free(&r);
    g_free(ini);
}
END_TEST

START_TEST(test_tool_names_the_config_file_once)
{
    char *dir = t_tmpdir("tool"), *ini = g_build_filename(dir, "absent.ini", NULL);
    run r = RUN("check", "-c", ini);
    const char *first;

    ck_assert_int_eq(r.status, 1);
    first = strstr(r.err, "absent.ini");
    ck_assert_msg(first && !strstr(first + 1, "absent.ini"), "named twice: %s", r.err);
    run_free(&r);
    g_free(ini);
    g_free(dir);
}
END_TEST

START_TEST(test_tool_prints_json_on_errors_too)
{
    g_autoptr(JsonParser) p = json_parser_new();
    char *ini = write_config("json.ini", "[database]\ndriver = fake\nconinfo = x\n");
    run r = RUN("check", "-c", ini, "--json");
    JsonObject *o;

    ck_assert_int_eq(r.status, 1);
    o = parse_object(p, r.out);
    ck_assert(!json_object_get_boolean_member(o, "ok"));
    HAS(json_object_get_string_member(o, "error"), "did you mean conninfo?");
    ck_assert_str_eq(json_object_get_string_member(o, "error_kind"), "config");
    run_free(&r);
    r = RUN("health", "--json", "-c", ini);
    ck_assert_int_eq(r.status, 3);
    o = parse_object(p, r.out);
    ck_assert_str_eq(json_object_get_string_member(o, "status"), "unknown");
    run_free(&r);
    r = RUN("frob", "--json");
    ck_assert_int_eq(r.status, 2);
    o = parse_object(p, r.out);
    HAS(json_object_get_string_member(o, "error"), "unknown command");
    run_free(&r);
    g_free(ini);
}
END_TEST

START_TEST(test_tool_health_of_an_unreachable_database_is_critical)
{
    g_autoptr(JsonParser) p = json_parser_new();
    char *text = g_strdup_printf("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=%d "
                                 "dbname=app user=app\nconnect_timeout = 2s\n",
                                 closed_port());
    char *ini = write_config("down.ini", text), *with_health, *ini2;
    run r = RUN("health", "-c", ini);
    JsonObject *o;

    ck_assert_int_eq(r.status, 2);
    HAS(r.out, "critical");
    HASNT(r.out, " ms\n"); /* no latency line */
    run_free(&r);
    r = RUN("health", "-c", ini, "--json");
    ck_assert_int_eq(r.status, 2);
    o = parse_object(p, r.out);
    ck_assert_str_eq(json_object_get_string_member(o, "status"), "critical");
    ck_assert(!json_object_has_member(o, "ping_seconds"));
    run_free(&r);
    /* the health plugin's check, on a db that opens without connecting */
    with_health = g_strconcat(text, "connect_on_open = false\n[chain]\nplugins = health\n", NULL);
    ini2 = write_config("down-health.ini", with_health);
    r = RUN("health", "-c", ini2);
    ck_assert_int_eq(r.status, 2);
    HAS(r.out, "check failed");
    HASNT(r.out, " ms\n"); /* no latency line */
    run_free(&r);
    r = RUN("health", "-c", ini2, "--json");
    ck_assert_int_eq(r.status, 2);
    o = parse_object(p, r.out);
    ck_assert(!json_object_has_member(o, "ping_seconds"));
    ck_assert(!json_object_has_member(o, "query_seconds"));
    run_free(&r);
    g_free(ini2);
    /* a conninfo only the connect can find wrong is the config's fault: unknown */
    ini2 = write_config("badconninfo.ini", "[database]\ndriver = pq\nconninfo = usr=app\n");
    r = RUN("health", "-c", ini2);
    ck_assert_int_eq(r.status, 3);
    run_free(&r);
    g_free(ini2);
    g_free(with_health);
    g_free(ini);
    g_free(text);
}
END_TEST

/* Every member of a but except is a member of b (shown as text). */
static void ck_members_in(JsonObject *a, JsonObject *b, const char *except, const char *text)
{
    GList *members = json_object_get_members(a);

    for (GList *l = members; l; l = l->next)
        ck_assert_msg((except && strcmp(l->data, except) == 0) ||
                          json_object_has_member(b, l->data),
                      "no %s in %s", (char *)l->data, text);
    g_list_free(members);
}

/* Without the health plugin, a ping that fails reads as the plugin's failed
 * check does: the same members (checked_at, the whole pool) and its
 * check_failed alert (the tool's own copy of the shape listed none). */
START_TEST(test_tool_health_without_the_plugin_has_the_plugin_shape)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(JsonParser) q = json_parser_new();
    char *text = g_strdup_printf("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=%d "
                                 "dbname=app user=app\nconnect_timeout = 2s\n"
                                 "connect_on_open = false\n",
                                 closed_port());
    char *with_health = g_strconcat(text, "[chain]\nplugins = health\n", NULL);
    char *ini = write_config("down-basic.ini", text);
    char *ini2 = write_config("down-plugin.ini", with_health);
    run r = RUN("health", "-c", ini, "--json"), r2 = RUN("health", "-c", ini2, "--json");
    JsonObject *o, *o2, *a;
    JsonArray *alerts;

    ck_assert_int_eq(r.status, 2);
    ck_assert_int_eq(r2.status, 2);
    o = parse_object(p, r.out);
    o2 = parse_object(q, r2.out);
    /* every member the tool writes, the plugin writes too, and the other
     * way round but for the breaker's state, which only the plugin sees */
    ck_members_in(o, o2, NULL, r2.out);
    ck_members_in(o2, o, "breaker", r.out);
    ck_assert_int_gt(json_object_get_int_member(o, "checked_at"), 0);
    ck_assert(json_object_has_member(json_object_get_object_member(o, "pool"), "wait_count"));
    alerts = json_object_get_array_member(o, "alerts");
    ck_assert_int_eq(json_array_get_length(alerts), 1);
    a = json_array_get_object_element(alerts, 0);
    ck_assert_str_eq(json_object_get_string_member(a, "condition"), "check_failed");
    ck_assert_str_eq(json_object_get_string_member(a, "severity"), "critical");
    run_free(&r2);
    run_free(&r);
    /* and people read the alert too */
    r = RUN("health", "-c", ini);
    ck_assert_int_eq(r.status, 2);
    HAS(r.out, "critical: check_failed = 1 (threshold 1)");
    run_free(&r);
    g_free(ini2);
    g_free(ini);
    g_free(with_health);
    g_free(text);
}
END_TEST

/* A health plugin the chain names otherwise ([plugin.hc] module = its path)
 * is asked by that name: the tool used to ask for "health" and fail
 * (unknown, 3) where dbr migrate found its plugin by the chain's name. */
START_TEST(test_tool_health_asks_the_plugin_by_the_chain_name)
{
    g_autoptr(JsonParser) p = json_parser_new();
    char *text = g_strdup_printf("[database]\ndriver = pq\nconninfo = host=127.0.0.1 port=%d "
                                 "dbname=app user=app\nconnect_timeout = 2s\n"
                                 "connect_on_open = false\n[chain]\nplugins = hc\n"
                                 "[plugin.hc]\nmodule = %s/plugins/dbr-plugin-health.so\n",
                                 closed_port(), getenv("DBR_TEST_BUILD_ROOT"));
    char *ini = write_config("renamed-health.ini", text);
    run r = RUN("health", "-c", ini, "--json");
    JsonObject *o;

    ck_assert_msg(r.status == 2, "exit %d: %s", r.status, r.out);
    o = parse_object(p, r.out);
    ck_assert_str_eq(json_object_get_string_member(o, "status"), "critical");
    ck_assert(json_object_has_member(o, "breaker")); /* the plugin's report */
    run_free(&r);
    g_free(ini);
    g_free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tool");
    TCase *tc = tcase_create("tool");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tool_help_is_real);
    tcase_add_test(tc, test_tool_usage_errors_say_what_is_wrong);
    tcase_add_test(tc, test_tool_migrate_without_the_plugin_says_how_to_add_it);
    tcase_add_test(tc, test_tool_names_the_config_file_once);
    tcase_add_test(tc, test_tool_prints_json_on_errors_too);
    tcase_add_test(tc, test_tool_health_of_an_unreachable_database_is_critical);
    tcase_add_test(tc, test_tool_health_without_the_plugin_has_the_plugin_shape);
    tcase_add_test(tc, test_tool_health_asks_the_plugin_by_the_chain_name);
    suite_add_tcase(s, tc);
    return t_run(s);
}
