/* The server loop the trivial benchmark endpoints (bench_load_target.c, bench_sse_target.c) share:
 * one epoll thread on 127.0.0.1 that prints "port N" once listening, accepts keep-alive
 * connections and hands each readiness event of one to the endpoint's answerer, until --seconds
 * have passed; and the framing of a request (headers, then a Content-Length body). Header-only:
 * each endpoint is one program. */
#ifndef SP_BENCH_TARGET_H
#define SP_BENCH_TARGET_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define RBUF 16384

typedef struct tconn {
    int fd;
    size_t len;
    char *out; /* bench_sse_target: the unsent rest of the answers */
    size_t out_len, out_off, out_cap;
    char buf[RBUF];
} tconn;

static tconn *g_conns[MAX_CONNS];

/* Length of the first complete request in b[n] (headers + Content-Length body), 0 if incomplete,
 * -1 if malformed; *head gets the headers' length when it is complete. */
static long request_frame(const char *b, size_t n, size_t *head)
{
    const char *end = NULL;
    for (size_t i = 3; i < n; i++)
        if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
            end = b + i + 1;
            break;
        }
    if (!end)
        return n >= RBUF ? -1 : 0;
    *head = (size_t)(end - b);
    unsigned long cl = 0;
    for (const char *p = b; p < end; p++) {
        if ((p == b || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
            cl = strtoul(p + 15, NULL, 10);
            break;
        }
    }
    if (*head + cl > RBUF)
        return -1;
    return *head + cl <= n ? (long)(*head + cl) : 0;
}

static void drop(int ep, tconn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    g_conns[c->fd % MAX_CONNS] = NULL;
    free(c->out);
    free(c);
}

/* Reads what the peer sent into c->buf: 1 when it got bytes, 0 when none have come yet or the peer
 * is gone (then c is dropped). */
static int target_recv(int ep, tconn *c)
{
    ssize_t got = recv(c->fd, c->buf + c->len, RBUF - c->len, 0);
    if (got <= 0) {
        if (!(got < 0 && (errno == EAGAIN || errno == EINTR)))
            drop(ep, c);
        return 0;
    }
    c->len += (size_t)got;
    return 1;
}

/* The endpoints' options: --port N, --seconds S and, where `extra` names it, one more whole number. */
static void target_args(int argc, char **argv, int *port, double *seconds, const char *extra, long *extra_val)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            *port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            *seconds = atof(argv[i + 1]);
        else if (extra && strcmp(argv[i], extra) == 0)
            *extra_val = atol(argv[i + 1]);
    }
}

/* Listens on 127.0.0.1:port (0: any free port), prints "port N", and calls on_ready(ep, c, events)
 * for each readiness event of a connection until `seconds` have passed. `name` prefixes an error.
 * Returns the program's exit status. */
static int target_serve(const char *name, int port, double seconds, void (*on_ready)(int, tconn *, uint32_t))
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1024) != 0) {
        fprintf(stderr, "%s: bind/listen: %s\n", name, strerror(errno));
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct epoll_event evs[256];
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
            break;
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                for (;;) {
                    int cfd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (cfd < 0)
                        break;
                    if (cfd >= MAX_CONNS || g_conns[cfd]) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    tconn *c = calloc(1, sizeof *c);
                    c->fd = cfd;
                    g_conns[cfd] = c;
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ce);
                }
                continue;
            }
            if (g_conns[fd])
                on_ready(ep, g_conns[fd], evs[i].events);
        }
    }
    return 0;
}

#endif
