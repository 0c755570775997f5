/* A trivial, fast server-sent events endpoint for benchmarking a streaming client (bench/
 * stream.bench.sh): one epoll thread on 127.0.0.1 that answers every request (any method,
 * Content-Length bodies) with an OpenAI completions stream of N tokens, written as fast as it can:
 * one chunk of chunked coding per event, each event shaped like vLLM's (id, object, created, model,
 * choices with text, logprobs, finish_reason, stop_reason; about 170 bytes), then a usage event and
 * `data: [DONE]`, on a keep-alive connection. N is the body's "max_tokens" when it has one, else
 * --tokens (default 64). It prints "port N" once listening and exits after --seconds (default 120).
 * usage: bench_sse_target [--port N] [--seconds S] [--tokens N] */
#include "bench_target.h"

#define MAX_TOKENS 4096

static const char k_head[] = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
                             "transfer-encoding: chunked\r\n\r\n";
static const char k_event[] =
    "data: {\"id\":\"cmpl-bench\",\"object\":\"text_completion\",\"created\":1718000000,\"model\":\"bench\","
    "\"choices\":[{\"index\":0,\"text\":\" w\",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}],"
    "\"usage\":null}\n\n";

static long g_tokens = 64; /* --tokens: a request's tokens when its body names no max_tokens */

/* request_frame, and *max_tokens gets the body's "max_tokens" or -1. */
static long request_len(const char *b, size_t n, long *max_tokens)
{
    size_t head;
    long len = request_frame(b, n, &head);
    if (len <= 0)
        return len;
    *max_tokens = -1;
    const char *key = "\"max_tokens\":";
    for (size_t i = head; i + 13 <= (size_t)len; i++)
        if (memcmp(b + i, key, 13) == 0) {
            *max_tokens = strtol(b + i + 13, NULL, 10);
            break;
        }
    return len;
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

static void on_ready(int ep, tconn *c, uint32_t events)
{
    int fd = c->fd;
    if (events & EPOLLOUT) {
        if (!flush_out(c)) {
            drop(ep, c);
            return;
        }
        if (c->out_len == 0) {
            struct epoll_event ce = {.events = EPOLLIN, .data.fd = fd};
            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ce);
        }
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    if (!target_recv(ep, c))
        return;
    long rl, mt = -1;
    while ((rl = request_len(c->buf, c->len, &mt)) > 0) {
        answer(c, mt >= 1 && mt <= MAX_TOKENS ? mt : g_tokens);
        memmove(c->buf, c->buf + rl, c->len - (size_t)rl);
        c->len -= (size_t)rl;
    }
    if (rl < 0 || !flush_out(c)) {
        drop(ep, c);
        return;
    }
    if (c->out_len) {
        struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ce);
    }
}

int main(int argc, char **argv)
{
    int port = 0;
    double seconds = 120;
    target_args(argc, argv, &port, &seconds, "--tokens", &g_tokens);
    if (g_tokens < 1 || g_tokens > MAX_TOKENS) {
        fprintf(stderr, "bench_sse_target: --tokens must be in [1, %d]\n", MAX_TOKENS);
        return 2;
    }
    return target_serve("bench_sse_target", port, seconds, on_ready);
}
