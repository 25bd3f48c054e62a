/* SPDX-License-Identifier: MIT */
/* JSON text as dbr writes it (json_text.h). */
#include "json_text.h"

char *dbr_json_pretty(JsonBuilder *b)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_data(gen, NULL);
}
