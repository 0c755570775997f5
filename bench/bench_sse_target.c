/* A trivial, fast server-sent events endpoint for benchmarking a streaming client (bench/
 * stream.bench.sh): one epoll thread on 127.0.0.1 that answers every request (any method,
 * Content-Length bodies) with an OpenAI completions stream of N tokens, written as fast as it can:
 * one chunk of chunked coding per event, each event shaped like vLLM's (id, object, created, model,
 * choices with text, logprobs, finish_reason, stop_reason; about 170 bytes), then a usage event and
 * `data: [DONE]`, on a keep-alive connection. N is the body's "max_tokens" when it has one, else
 * --tokens (default 64). It prints "port N" once listening and exits after --seconds (default 120).
 * usage: bench_sse_target [--port N] [--seconds S] [--tokens N] */
#include <arpa/inet.h>
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
#define MAX_TOKENS 4096

static const char k_head[] = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
                             "transfer-encoding: chunked\r\n\r\n";
static const char k_event[] =
    "data: {\"id\":\"cmpl-bench\",\"object\":\"text_completion\",\"created\":1718000000,\"model\":\"bench\","
    "\"choices\":[{\"index\":0,\"text\":\" w\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}],"
    "\"usage\":null}\n\n";

typedef struct tconn {
    int fd;
    size_t len;
    char *out; /* the unsent rest of the answers */
    size_t out_len, out_off, out_cap;
    char buf[RBUF];
} tconn;

static tconn *g_conns[MAX_CONNS];

/* Length of the first complete request in b[n] (headers + Content-Length body), 0 if incomplete,
 * -1 if malformed; *max_tokens gets the body's "max_tokens" or -1. */
static long request_len(const char *b, size_t n, long *max_tokens)
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
    if (head + cl > n)
        return 0;
    *max_tokens = -1;
    const char *key = "\"max_tokens\":";
    for (size_t i = head; i + 13 <= head + cl; i++)
        if (memcmp(b + i, key, 13) == 0) {
            *max_tokens = strtol(b + i + 13, NULL, 10);
            break;
        }
    return (long)(head + cl);
}

static void drop(int ep, tconn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    g_conns[c->fd % MAX_CONNS] = NULL;
    free(c->out);
    free(c);
}

static void out_append(tconn *c, const char *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t nc = c->out_cap ? c->out_cap : 65536;
        while (nc < c->out_len + n)
            nc *= 2;
        char *nb = realloc(c->out, nc);
        if (!nb)
            abort();
        c->out = nb;
        c->out_cap = nc;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

/* One streamed answer of n tokens. */
static void answer(tconn *c, long n)
{
    char hdr[32];
    out_append(c, k_head, sizeof k_head - 1);
    int hl = snprintf(hdr, sizeof hdr, "%zx\r\n", sizeof k_event - 1);
    for (long i = 0; i < n; i++) {
        out_append(c, hdr, (size_t)hl);
        out_append(c, k_event, sizeof k_event - 1);
        out_append(c, "\r\n", 2);
    }
    char usage[256];
    int ul = snprintf(usage, sizeof usage,
                      "data: {\"id\":\"cmpl-bench\",\"object\":\"text_completion\",\"created\":1718000000,"
                      "\"model\":\"bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"total_tokens\":%ld,"
                      "\"completion_tokens\":%ld}}\n\n",
                      n + 8, n);
    hl = snprintf(hdr, sizeof hdr, "%x\r\n", ul);
    out_append(c, hdr, (size_t)hl);
    out_append(c, usage, (size_t)ul);
    static const char done[] = "\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"; /* e: 14 bytes of event */
    out_append(c, done, sizeof done - 1);
}

/* Writes what it can; false when the peer is gone. */
static int flush_out(tconn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (k > 0) {
            c->out_off += (size_t)k;
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            return 1; /* the rest when the socket has room */
        return 0;
    }
    c->out_off = c->out_len = 0;
    return 1;
}

int main(int argc, char **argv)
{
    int port = 0;
    double seconds = 120;
    long tokens = 64;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--tokens") == 0)
            tokens = atol(argv[i + 1]);
    }
    if (tokens < 1 || tokens > MAX_TOKENS) {
        fprintf(stderr, "bench_sse_target: --tokens must be in [1, %d]\n", MAX_TOKENS);
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1024) != 0) {
        perror("bench_sse_target: bind/listen");
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
            if (evs[i].events & EPOLLOUT) {
                if (!flush_out(c)) {
                    drop(ep, c);
                    continue;
                }
                if (c->out_len == 0) {
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = fd};
                    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ce);
                }
            }
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            ssize_t got = recv(fd, c->buf + c->len, RBUF - c->len, 0);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                drop(ep, c);
                continue;
            }
            c->len += (size_t)got;
            long rl, mt = -1;
            while ((rl = request_len(c->buf, c->len, &mt)) > 0) {
                answer(c, mt >= 1 && mt <= MAX_TOKENS ? mt : tokens);
                memmove(c->buf, c->buf + rl, c->len - (size_t)rl);
                c->len -= (size_t)rl;
            }
            if (rl < 0 || !flush_out(c)) {
                drop(ep, c);
                continue;
            }
            if (c->out_len) {
                struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ce);
            }
        }
    }
    return 0;
}
