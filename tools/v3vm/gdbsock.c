/* SPDX-License-Identifier: MIT */
/*
 * v3vm: serve the gdb stub over TCP.  The VM thread runs v3_gdb_serve();
 * a watcher thread accepts the debugger (when the VM starts without
 * waiting for it) and, while the VM runs, polls the connection and calls
 * v3_gdb_interrupt() when input is waiting (Ctrl-C, or a debugger
 * attaching to a running VM).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <v3/error.h>
#include "gdbsock.h"

struct gdbconn {
    int lfd;                    /* listening socket */
    int fd;                     /* the connection, -1 until accepted (atomic) */
    int quit;                   /* atomic: watcher must end */
    struct v3_gdbstub *gs;
};

int gdbsock_parse(const char *spec, char *host, size_t host_len, unsigned *port)
{
    const char *p = spec, *colon;
    char *end;
    unsigned long v;

    if (!strncmp(p, "tcp:", 4))
        p += 4;
    colon = strrchr(p, ':');
    if (colon) {
        size_t hl = (size_t)(colon - p);
        if (hl >= host_len)
            return -1;
        memcpy(host, p, hl);
        host[hl] = 0;
        p = colon + 1;
    } else {
        host[0] = 0;
    }
    errno = 0;
    v = strtoul(p, &end, 10);
    if (errno || end == p || *end || v == 0 || v > 65535)
        return -1;
    *port = (unsigned)v;
    return 0;
}

static long sock_read(void *priv, void *buf, size_t len)
{
    struct gdbconn *c = priv;
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 ? -1 : (long)n;
    }
}

static int sock_write(void *priv, const void *buf, size_t len)
{
    struct gdbconn *c = priv;
    const char *p = buf;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int sock_ready(void *priv)
{
    struct gdbconn *c = priv;
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1;
}

static int accept_one(struct gdbconn *c)
{
    int one = 1, fd;
    do
        fd = accept(c->lfd, NULL, NULL);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    __atomic_store_n(&c->fd, fd, __ATOMIC_SEQ_CST);
    return 0;
}

static void *watcher(void *arg)
{
    struct gdbconn *c = arg;

    while (!__atomic_load_n(&c->quit, __ATOMIC_SEQ_CST)) {
        struct pollfd p;
        int fd = __atomic_load_n(&c->fd, __ATOMIC_SEQ_CST);
        if (fd < 0) {
            p.fd = c->lfd;
            p.events = POLLIN;
            if (poll(&p, 1, 100) == 1 && accept_one(c) == 0)
                fprintf(stderr, "v3vm: gdb connected\n");
            continue;
        }
        p.fd = fd;
        p.events = POLLIN | POLLRDHUP;
        if (poll(&p, 1, 100) != 1)
            continue;
        /* input is waiting; the stub reads it once the VM stopped (no-op when not running) */
        v3_gdb_interrupt(c->gs);
        if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
            break;              /* the debugger went away: nothing more to watch */
        usleep(10000);
    }
    return NULL;
}

static int listen_on(const char *host, unsigned port)
{
    struct addrinfo hints, *ai = NULL, *a;
    char ports[16];
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(ports, sizeof(ports), "%u", port);
    rc = getaddrinfo(host[0] ? host : NULL, ports, &hints, &ai);
    if (rc) {
        fprintf(stderr, "v3vm: gdb: cannot resolve '%s': %s\n", host, gai_strerror(rc));
        return -1;
    }
    for (a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        fprintf(stderr, "v3vm: gdb: cannot listen on port %u: %s\n", port, strerror(errno));
    return fd;
}

int gdbsock_run(struct v3_vm *vm, const char *host, unsigned port, int wait, struct v3_vm_result *res)
{
    struct gdbconn c = { .lfd = -1, .fd = -1 };
    struct v3_gdb_io io = { .read = sock_read, .write = sock_write, .ready = sock_ready, .priv = &c };
    pthread_t th;
    int err, ret = -1;

    c.lfd = listen_on(host, port);
    if (c.lfd < 0)
        return -1;
    c.gs = v3_gdb_create(vm, &io, &err);
    if (!c.gs) {
        fprintf(stderr, "v3vm: gdb: cannot create the stub: %s\n", v3_strerror(err));
        close(c.lfd);
        return -1;
    }
    if (wait) {
        fprintf(stderr, "v3vm: waiting for gdb on port %u\n", port);
        if (accept_one(&c) < 0) {
            fprintf(stderr, "v3vm: gdb: accept failed: %s\n", strerror(errno));
            goto out;
        }
    }
    else
        fprintf(stderr, "v3vm: gdb stub listening on port %u\n", port);
    if (pthread_create(&th, NULL, watcher, &c)) {
        fprintf(stderr, "v3vm: gdb: cannot start the watcher thread\n");
        goto out;
    }
    v3_gdb_serve(c.gs, wait ? V3_GDB_WAIT : 0, res);
    __atomic_store_n(&c.quit, 1, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    ret = 0;
out:
    v3_gdb_free(c.gs);
    if (c.fd >= 0)
        close(c.fd);
    close(c.lfd);
    return ret;
}
