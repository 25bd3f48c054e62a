/* SPDX-License-Identifier: MIT */
/*
 * A loopback TCP proxy for fault tests: forwards 127.0.0.1:port() to a
 * target port on 127.0.0.1, and on demand stalls (keeps every socket open
 * but forwards nothing, like a hung server: the kernel still ACKs, so
 * keepalives never fire) or cuts (closes every connection at once).
 */
#ifndef DBR_TEST_PROXY_H
#define DBR_TEST_PROXY_H

#include <stdbool.h>

typedef struct t_proxy t_proxy;

t_proxy *t_proxy_start(int target_port);
int t_proxy_port(const t_proxy *p);
void t_proxy_stall(t_proxy *p, bool stalled);
void t_proxy_cut(t_proxy *p);
/* Bytes clients sent that a stalled proxy holds: "the request has left". */
int t_proxy_client_bytes_waiting(t_proxy *p);
void t_proxy_stop(t_proxy *p);

#endif
