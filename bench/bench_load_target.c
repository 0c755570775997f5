/* A trivial, fast HTTP/1.1 endpoint for benchmarking load generators (bench/load.bench.sh): one
 * epoll thread on 127.0.0.1 that answers every request (any method, Content-Length bodies) with a
 * small 200 JSON response on a keep-alive connection. It prints "port N" once listening and exits
 * after --seconds (default 120) so a forgotten one cannot linger.
 * usage: bench_load_target [--port N] [--seconds S] */
#include "bench_target.h"

static const char k_resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n"
                             "\r\n{\"object\":\"list\",\"data\":[]}";

/* Answers every complete request in the buffer (pipelined ones too), in one write. */
static void on_ready(int ep, tconn *c, uint32_t events)
{
    (void)events;
    if (!target_recv(ep, c))
        return;
    char out[sizeof k_resp * 32];
    size_t olen = 0, head;
    long rl;
    while ((rl = request_frame(c->buf, c->len, &head)) > 0 && olen + sizeof k_resp < sizeof out) {
        memcpy(out + olen, k_resp, sizeof k_resp - 1);
        olen += sizeof k_resp - 1;
        memmove(c->buf, c->buf + rl, c->len - (size_t)rl);
        c->len -= (size_t)rl;
    }
    if (rl < 0) {
        drop(ep, c);
        return;
    }
    if (olen && send(c->fd, out, olen, MSG_NOSIGNAL) != (ssize_t)olen)
        drop(ep, c); /* a full socket buffer on a 27-byte reply means a dead peer */
}

int main(int argc, char **argv)
{
    int port = 0;
    double seconds = 120;
    target_args(argc, argv, &port, &seconds, NULL, NULL);
    return target_serve("bench_load_target", port, seconds, on_ready);
}
