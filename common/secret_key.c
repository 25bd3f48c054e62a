/* SPDX-License-Identifier: MIT */
/*
 * The one rule for which keys hold a secret, shared by the core (config
 * values in `dbr check` and logs) and the drivers (their conninfo
 * redaction), so that the two can never disagree.
 */
#include "secret_key.h"

#include <glib.h>
#include <string.h>

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
