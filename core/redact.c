/* SPDX-License-Identifier: MIT */
/*
 * Which config keys hold a secret, to keep their values out of logs, error
 * text and `dbr check`. The conninfo's own secrets are the driver's to
 * find (its redact_conninfo slot, shown through dbr_conninfo_shown in
 * db.c): only it knows the syntax.
 */
#include <glib.h>
#include <string.h>

#include "settings.h"

bool dbr_secret_key(const char *key, size_t len)
{
    static const char *const words[] = {"password", "secret", "token"};
    char *low = g_ascii_strdown(key, (gssize)len);
    bool secret = false;

    for (size_t i = 0; i < G_N_ELEMENTS(words) && !secret; i++)
        secret = strstr(low, words[i]) != NULL;
    g_free(low);
    return secret;
}
