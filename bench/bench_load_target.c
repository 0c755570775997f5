/* A trivial, fast HTTP/1.1 endpoint for benchmarking load generators (bench/load.bench.sh): one
 * epoll thread on 127.0.0.1 that answers every request (any method, Content-Length bodies) with a
 * small 200 JSON response on a keep-alive connection. It prints "port N" once listening and exits
 * after --seconds (default 120) so a forgotten one cannot linger.
 * usage: bench_load_target [--port N] [--seconds S] */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define RBUF 16384

static const char k_resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n"
                             "\r\n{\"object\":\"list\",\"data\":[]}";

typedef struct tconn {
    int fd;
    size_t len;
    char buf[RBUF];
} tconn;

static tconn *g_conns[MAX_CONNS];

/* Length of the first complete request in b[n] (headers + Content-Length body), 0 if incomplete,
 * -1 if malformed. */
static long request_len(const char *b, size_t n)
{
    const char *end = NULL;
    for (size_t i = 3; i < n; i++)
        if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
            end = b + i + 1;
            break;
        }
    if (!end)
        return n >= RBUF ? -1 : 0;
    size_t head = (size_t)(end - b);
    unsigned long cl = 0;
    for (const char *p = b; p < end; p++) {
        if ((p == b || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
            cl = strtoul(p + 15, NULL, 10);
            break;
        }
    }
    if (head + cl > RBUF)
        return -1;
    return head + cl <= n ? (long)(head + cl) : 0;
}

static void drop(int ep, tconn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    g_conns[c->fd % MAX_CONNS] = NULL;
    free(c);
}

int main(int argc, char **argv)
{
    int port = 0;
    double seconds = 120;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1024) != 0) {
        perror("bench_load_target: bind/listen");
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
            tconn *c = g_conns[fd];
            if (!c)
                continue;
            ssize_t got = recv(fd, c->buf + c->len, RBUF - c->len, 0);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                drop(ep, c);
                continue;
            }
            c->len += (size_t)got;
            /* answer every complete request in the buffer (pipelined ones too), in one write */
            char out[sizeof k_resp * 32];
            size_t olen = 0;
            long rl;
            while ((rl = request_len(c->buf, c->len)) > 0 && olen + sizeof k_resp < sizeof out) {
                memcpy(out + olen, k_resp, sizeof k_resp - 1);
                olen += sizeof k_resp - 1;
                memmove(c->buf, c->buf + rl, c->len - (size_t)rl);
                c->len -= (size_t)rl;
            }
            if (rl < 0) {
                drop(ep, c);
                continue;
            }
            if (olen && send(fd, out, olen, MSG_NOSIGNAL) != (ssize_t)olen)
                drop(ep, c); /* a full socket buffer on a 27-byte reply means a dead peer */
        }
    }
    return 0;
}
