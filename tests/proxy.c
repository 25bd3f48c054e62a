/* SPDX-License-Identifier: MIT */
/* The loopback fault proxy of proxy.h: one thread, one poll loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

#define MAX_PAIRS 64

struct t_proxy {
    int listen_fd, port, target_port;
    int wake[2];
    GMutex lock;
    bool stalled, cut, stop;
    int pairs[MAX_PAIRS][2]; /* client, server; -1 when free */
    GThread *thread;
};

static int connect_target(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void close_pair(t_proxy *p, int i)
{
    close(p->pairs[i][0]);
    close(p->pairs[i][1]);
    p->pairs[i][0] = p->pairs[i][1] = -1;
}

static gpointer proxy_loop(gpointer data)
{
    t_proxy *p = data;

    for (;;) {
        struct pollfd fds[2 + 2 * MAX_PAIRS];
        int idx[2 + 2 * MAX_PAIRS];
        int n = 0;
        bool stalled;

        g_mutex_lock(&p->lock);
        if (p->stop) {
            g_mutex_unlock(&p->lock);
            break;
        }
        if (p->cut) {
            for (int i = 0; i < MAX_PAIRS; i++)
                if (p->pairs[i][0] >= 0)
                    close_pair(p, i);
            p->cut = false;
        }
        stalled = p->stalled;
        g_mutex_unlock(&p->lock);
        fds[n] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        idx[n++] = -1;
        fds[n] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        idx[n++] = -2;
        for (int i = 0; i < MAX_PAIRS && !stalled; i++) {
            if (p->pairs[i][0] < 0)
                continue;
            for (int side = 0; side < 2; side++) {
                fds[n] = (struct pollfd){.fd = p->pairs[i][side], .events = POLLIN};
                idx[n++] = i * 2 + side;
            }
        }
        if (poll(fds, (nfds_t)n, -1) < 0 && errno != EINTR)
            break;
        for (int k = 0; k < n; k++) {
            if (!fds[k].revents)
                continue;
            if (idx[k] == -1) {
                char buf[64];

                if (read(p->wake[0], buf, sizeof(buf)) < 0) {
                    /* nothing to do: the loop re-reads its state */
                }
            } else if (idx[k] == -2) {
                int c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC), s, i;

                if (c < 0)
                    continue;
                s = connect_target(p->target_port);
                for (i = 0; i < MAX_PAIRS && p->pairs[i][0] >= 0; i++)
                    ;
                if (s < 0 || i == MAX_PAIRS) {
                    close(c);
                    if (s >= 0)
                        close(s);
                    continue;
                }
                p->pairs[i][0] = c;
                p->pairs[i][1] = s;
            } else {
                int i = idx[k] / 2, side = idx[k] % 2;
                char buf[16384];
                ssize_t got;

                if (p->pairs[i][0] < 0)
                    continue;
                got = read(p->pairs[i][side], buf, sizeof(buf));
                if (got <= 0 || write(p->pairs[i][!side], buf, (size_t)got) != got)
                    close_pair(p, i);
            }
        }
    }
    return NULL;
}

static void poke(t_proxy *p)
{
    if (write(p->wake[1], "x", 1) < 0) {
        /* the pipe is full: the loop is awake anyway */
    }
}

t_proxy *t_proxy_start(int target_port)
{
    t_proxy *p = g_new0(t_proxy, 1);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->target_port = target_port;
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert(p->listen_fd >= 0);
    g_assert(bind(p->listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    g_assert(listen(p->listen_fd, 64) == 0);
    g_assert(getsockname(p->listen_fd, (struct sockaddr *)&a, &len) == 0);
    p->port = ntohs(a.sin_port);
    g_assert(pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) == 0);
    for (int i = 0; i < MAX_PAIRS; i++)
        p->pairs[i][0] = p->pairs[i][1] = -1;
    g_mutex_init(&p->lock);
    p->thread = g_thread_new("proxy", proxy_loop, p);
    return p;
}

int t_proxy_port(const t_proxy *p)
{
    return p->port;
}

void t_proxy_stall(t_proxy *p, bool stalled)
{
    g_mutex_lock(&p->lock);
    p->stalled = stalled;
    g_mutex_unlock(&p->lock);
    poke(p);
}

int t_proxy_client_bytes_waiting(t_proxy *p)
{
    int total = 0;

    g_mutex_lock(&p->lock);
    for (int i = 0; i < MAX_PAIRS; i++) {
        int n = 0;

        if (p->pairs[i][0] >= 0 && ioctl(p->pairs[i][0], FIONREAD, &n) == 0)
            total += n;
    }
    g_mutex_unlock(&p->lock);
    return total;
}

void t_proxy_cut(t_proxy *p)
{
    g_mutex_lock(&p->lock);
    p->cut = true;
    g_mutex_unlock(&p->lock);
    poke(p);
}

void t_proxy_stop(t_proxy *p)
{
    if (!p)
        return;
    g_mutex_lock(&p->lock);
    p->stop = true;
    g_mutex_unlock(&p->lock);
    poke(p);
    g_thread_join(p->thread);
    for (int i = 0; i < MAX_PAIRS; i++)
        if (p->pairs[i][0] >= 0)
            close_pair(p, i);
    close(p->listen_fd);
    close(p->wake[0]);
    close(p->wake[1]);
    g_mutex_clear(&p->lock);
    g_free(p);
}
