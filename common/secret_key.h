/* SPDX-License-Identifier: MIT */
/* Which configuration or connection keyword names a secret (common/). */
#ifndef DBR_COMMON_SECRET_KEY_H
#define DBR_COMMON_SECRET_KEY_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the value of a key named key (len bytes) is a secret: its name
 * holds "password", "secret" or "token", in any case (libpq's password,
 * sslpassword and oauth_client_secret, dbr's password_file, a user
 * plugin's api_token); wider than needed on purpose, since a harmless
 * value hidden costs nothing and a secret shown cannot be taken back. */
bool dbr_secret_key(const char *key, size_t len);

#endif
