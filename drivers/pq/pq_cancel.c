/* SPDX-License-Identifier: MIT */
/*
 * Cancel requests with a deadline.
 *
 * libpq 15's PQcancel() blocks: it connects, sends the request and waits for
 * the server to close the connection, with no timeout, so a server that is
 * frozen or behind a stalled proxy holds the calling thread for as long as
 * TCP allows. The request itself is four integers (protocol, "CancelRequest"
 * message), so this file sends it on a non-blocking socket and gives up at
 * the caller's deadline; the userver framework's PostgreSQL driver does the
 * same for the same reason.
 *
 * Waiting for the server to close the cancel connection is what makes the
 * request safe: the postmaster has signalled the backend by then, and a
 * backend that is already idle when the signal arrives drops it. So a
 * connection is never reused while its cancel request is in flight, and a
 * late cancel can never hit the next caller's statement.
 *
 * The backend's secret key is not exposed by libpq before version 17. It is
 * read from the PGcancel copy that PQgetCancel() returns, whose layout
 * (libpq-int.h: the server's address as SockAddr, then the backend's pid and
 * key) has been stable from libpq 7.4 to 16 (only those versions are
 * trusted, by PQlibVersion() at run time), and only when the copy proves itself:
 * its address family is the socket's peer's, its address length fits, and
 * its pid equals PQbackendPID().
 * Otherwise the key stays unknown and a deadline closes the connection
 * instead of canceling (the outcome is then unknown, never guessed).
 */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "pq.h"

/* libpq-int.h's SockAddr, the head of struct pg_cancel. */
typedef struct pq_sockaddr {
    struct sockaddr_storage addr;
    socklen_t salen;
} pq_sockaddr;

void pq_cancel_key_learn(dbr_driver_conn *conn)
{
    PGcancel *c = PQgetCancel(conn->pg);
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    pq_sockaddr head;
    int ids[2];

    conn->cancel.known = false;
    /* libpq 17 rebuilt its cancel code and 18 changed the struct: the
     * layout is trusted only where it is known (checked against 15's
     * libpq-int.h); elsewhere a deadline closes the connection. */
    if (PQlibVersion() >= 170000) {
        PQfreeCancel(c);
        c = NULL;
    }
    if (!c)
        return;
    memset(&peer, 0, sizeof(peer));
    if (getpeername(PQsocket(conn->pg), (struct sockaddr *)&peer, &peer_len) == 0) {
        memcpy(&head, c, sizeof(head));
        memcpy(ids, (const char *)c + sizeof(head), sizeof(ids));
        /* libpq's copy, not getpeername's: for a unix socket the lengths
         * differ (libpq keeps the whole sockaddr_un). */
        if (head.salen > 0 && head.salen <= sizeof(head.addr) &&
            head.addr.ss_family == peer.ss_family && ids[0] == PQbackendPID(conn->pg) &&
            ids[0] != 0) {
            conn->cancel.known = true;
            conn->cancel.be_pid = ids[0];
            conn->cancel.be_key = ids[1];
            conn->cancel.addr = head.addr;
            conn->cancel.addr_len = head.salen;
        }
    }
    PQfreeCancel(c);
    if (!conn->cancel.known)
        dbr_log(DBR_LOG_DEBUG, "pq", NULL,
                "cannot read this libpq's cancel key: deadlines will close the connection");
}

/* Waits for fd to be ready by deadline_us (pq_wait.c's poll loop, with no
 * ctx: the request is sent because the ctx already ended): true when it is. */
static bool ready(int fd, bool for_write, int64_t deadline_us)
{
    return pq_wait_socket(fd, for_write, NULL, deadline_us) == 1;
}

bool pq_cancel_send(const dbr_driver_conn *conn, int64_t deadline_us)
{
    const pq_cancel_key *k = &conn->cancel;
    guint32 packet[4];
    char byte;
    bool done = false;
    int fd, soerr = 0;
    socklen_t len = sizeof(soerr);

    /* No deadline would wait as long as TCP allows: never. */
    if (!k->known || deadline_us <= 0)
        return false;
    fd = socket(k->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    if (connect(fd, (const struct sockaddr *)&k->addr, k->addr_len) != 0) {
        if (errno != EINPROGRESS || !ready(fd, true, deadline_us) ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0)
            goto out;
    }
    /* Length, the CancelRequest code 1234/5678, the backend's pid and key. */
    packet[0] = g_htonl(16);
    packet[1] = g_htonl(80877102);
    packet[2] = g_htonl((guint32)k->be_pid);
    packet[3] = g_htonl((guint32)k->be_key);
    if (send(fd, packet, sizeof(packet), MSG_NOSIGNAL) != (ssize_t)sizeof(packet))
        goto out;
    /* The server answers nothing; it closes the connection once done. */
    while (ready(fd, false, deadline_us)) {
        ssize_t n = recv(fd, &byte, 1, 0);

        /* Only an orderly close is the server's acknowledgement; a reset
         * (from a proxy, say) proves nothing. */
        if (n == 0) {
            done = true;
            break;
        }
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            break;
    }
out:
    close(fd);
    return done;
}
