/* SPDX-License-Identifier: MIT */
/*
 * JSON text as dbr writes it: pretty documents from a JsonBuilder, and the
 * two values written by hand where JsonGenerator's form is wrong for people
 * (it prints every double with 17 significant digits: 0.0062170000000000003).
 * Shared by the tool and the plugins that answer in JSON (common/).
 */
#ifndef DBR_COMMON_JSON_TEXT_H
#define DBR_COMMON_JSON_TEXT_H

#include <glib.h>
#include <json-glib/json-glib.h>

/* The builder's document as indented JSON text; g_free it. */
char *dbr_json_pretty(JsonBuilder *b);
/* A member name and its string or integer value: the two shapes written most. */
void dbr_json_add_str(JsonBuilder *b, const char *name, const char *value);
void dbr_json_add_int(JsonBuilder *b, const char *name, long long value);
/* Appends v with at most 6 decimals (a microsecond in seconds) and no
 * trailing zeros; NaN and infinities, which JSON lacks, as 0. */
void dbr_json_number(GString *out, double v);
/* Appends s as a quoted, escaped JSON string; invalid UTF-8 is replaced,
 * NULL is "". */
void dbr_json_string(GString *out, const char *s);

#endif
