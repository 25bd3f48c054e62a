/* SPDX-License-Identifier: MIT */
/*
 * JSON text as dbr writes it, shared by the tool and the plugins that
 * answer in JSON (common/).
 */
#ifndef DBR_COMMON_JSON_TEXT_H
#define DBR_COMMON_JSON_TEXT_H

#include <glib.h>
#include <json-glib/json-glib.h>

/* The builder's document as indented JSON text; g_free it. */
char *dbr_json_pretty(JsonBuilder *b);

#endif
