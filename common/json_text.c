/* SPDX-License-Identifier: MIT */
/* JSON text as dbr writes it (json_text.h). */
#include <math.h>
#include <string.h>

#include "json_text.h"

char *dbr_json_pretty(JsonBuilder *b)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_data(gen, NULL);
}

void dbr_json_add_str(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

void dbr_json_add_int(JsonBuilder *b, const char *name, long long value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

void dbr_json_number(GString *out, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    char *end;

    if (!isfinite(v))
        v = 0;
    g_ascii_formatd(buf, sizeof(buf), "%.6f", v);
    end = buf + strlen(buf);
    while (end > buf && end[-1] == '0')
        *--end = '\0';
    if (end > buf && end[-1] == '.')
        *--end = '\0';
    if (strcmp(buf, "-0") == 0)
        strcpy(buf, "0");
    g_string_append(out, buf);
}

void dbr_json_string(GString *out, const char *s)
{
    char *valid = g_utf8_make_valid(s ? s : "", -1);

    g_string_append_c(out, '"');
    for (const char *p = valid; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if (c == '"' || c == '\\')
            g_string_append_printf(out, "\\%c", c);
        else if (c < 0x20)
            g_string_append_printf(out, "\\u%04x", c);
        else
            g_string_append_c(out, (char)c);
    }
    g_string_append_c(out, '"');
    g_free(valid);
}
