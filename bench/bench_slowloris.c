/* A slowloris attack on an HTTP server, with real requests timed alongside: N connections from one
 * loopback address each send a request line, then one header line every INTERVAL seconds, and come
 * back RETRY seconds after the server closes or refuses them; meanwhile a client on 127.0.0.1 sends
 * REAL_RATE embeddings requests per second, each on a fresh connection. Prints how many connections
 * the attacker held, how the server turned it away, and the real requests' latency.
 * Used by bench/slowloris.bench.sh (docs/BENCHMARKS.md, "Reliability"). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "analyze/analyze_int.h"
#include "servprof/servprof.h"

static unsigned g_port;
static atomic_int g_stop;

static int connect_from(const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in s = {0}, d = {0};
    s.sin_family = AF_INET;
    inet_pton(AF_INET, src, &s.sin_addr);
    d.sin_family = AF_INET;
    d.sin_port = htons((uint16_t)g_port);
    d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&s, sizeof(s)) != 0 || connect(fd, (struct sockaddr *)&d, sizeof(d)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the real client ---- */

typedef struct real_stats {
    double rate;
    uint64_t *lat; /* ns of each answered 200 */
    size_t n, cap, failed, sent;
} real_stats;

static void *real_main(void *arg)
{
    real_stats *rs = arg;
    const char *body = "{\"input\":\"the quick brown fox jumps over the lazy dog\"}";
    char req[512];
    snprintf(req, sizeof(req),
             "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             strlen(body), body);
    uint64_t period = (uint64_t)(1e9 / rs->rate), next = sp_now_ns();
    static char buf[1 << 16];
    while (!atomic_load(&g_stop)) {
        uint64_t t0 = sp_now_ns();
        rs->sent++;
        int fd = connect_from("127.0.0.1"), ok = 0;
        if (fd >= 0) {
            struct timeval tv = {5, 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            size_t got = 0;
            ssize_t n;
            if (send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req))
                while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
                    got += (size_t)n;
            buf[got] = 0;
            ok = strncmp(buf, "HTTP/1.1 200", 12) == 0;
            close(fd);
        }
        uint64_t dt = sp_now_ns() - t0;
        if (ok && rs->n < rs->cap)
            rs->lat[rs->n++] = dt;
        else if (!ok)
            rs->failed++;
        next += period;
        uint64_t now = sp_now_ns();
        if (next > now) {
            struct timespec ts = {(time_t)((next - now) / 1000000000u), (long)((next - now) % 1000000000u)};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* ---- the attacker ---- */

typedef struct conn {
    int fd;
    uint64_t opened_ns, next_ns, retry_ns;
} conn;

int main(int argc, char **argv)
{
    unsigned n = 1100;
    double interval = 5, duration = 30, retry = 1, real_rate = 10;
    const char *source = "127.0.0.2";
    if (argc < 2) {
        fprintf(stderr, "usage: bench_slowloris PORT [CONNECTIONS [INTERVAL_S [DURATION_S [RETRY_S [REAL_RATE "
                        "[SOURCE]]]]]]\n");
        return 2;
    }
    g_port = (unsigned)atoi(argv[1]);
    if (argc > 2)
        n = (unsigned)atoi(argv[2]);
    if (argc > 3)
        interval = atof(argv[3]);
    if (argc > 4)
        duration = atof(argv[4]);
    if (argc > 5)
        retry = atof(argv[5]);
    if (argc > 6)
        real_rate = atof(argv[6]);
    if (argc > 7)
        source = argv[7];
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 256) {
        rl.rlim_cur = rl.rlim_max < n + 256 ? rl.rlim_max : n + 256;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    conn *cs = calloc(n, sizeof(*cs));
    struct pollfd *pf = calloc(n, sizeof(*pf));
    unsigned *idx = calloc(n, sizeof(*idx));
    real_stats rs = {real_rate, NULL, 0, (size_t)(real_rate * duration * 2 + 16), 0, 0};
    rs.lat = calloc(rs.cap, sizeof(uint64_t));
    if (!cs || !pf || !idx || !rs.lat)
        return 1;
    uint64_t opened = 0, refused = 0, closed = 0, connect_failed = 0, held_peak = 0;
    double life_min = 1e9, life_max = 0, held_sum = 0;
    uint64_t held_samples = 0;
    uint64_t start = sp_now_ns(), end = start + (uint64_t)(duration * 1e9), next_sample = start + 1000000000ull;
    uint64_t iv = (uint64_t)(interval * 1e9), rt = (uint64_t)(retry * 1e9);
    /* open the attack first, then start the real client */
    for (unsigned i = 0; i < n; i++)
        cs[i].fd = -1;
    pthread_t th;
    int started = 0;
    char buf[4096];
    for (uint64_t now = sp_now_ns(); now < end; now = sp_now_ns()) {
        unsigned np = 0, held = 0;
        for (unsigned i = 0; i < n; i++) {
            conn *c = &cs[i];
            if (c->fd < 0 && now >= c->retry_ns) {
                c->fd = connect_from(source);
                if (c->fd < 0) {
                    connect_failed++;
                    c->retry_ns = now + rt;
                    continue;
                }
                fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
                opened++;
                c->opened_ns = now;
                c->next_ns = now + iv;
                (void)send(c->fd, "POST /v1/embeddings HTTP/1.1\r\n", 30, MSG_NOSIGNAL);
            } else if (c->fd >= 0 && now >= c->next_ns) {
                (void)send(c->fd, "X-Trickle: a\r\n", 14, MSG_NOSIGNAL);
                c->next_ns = now + iv;
            }
            if (c->fd >= 0) {
                pf[np] = (struct pollfd){c->fd, POLLIN, 0};
                idx[np++] = i;
                /* held: the server kept it (a refused connection hears 503 within milliseconds) */
                held += now - c->opened_ns >= 1000000000ull;
            }
        }
        if (!started)
            started = pthread_create(&th, NULL, real_main, &rs) == 0;
        if (now >= next_sample) {
            held_sum += held;
            held_samples++;
            next_sample += 1000000000ull;
        }
        if (held > held_peak)
            held_peak = held;
        poll(pf, np, 50);
        now = sp_now_ns();
        for (unsigned k = 0; k < np; k++) {
            if (!pf[k].revents)
                continue;
            conn *c = &cs[idx[k]];
            ssize_t r = recv(c->fd, buf, sizeof(buf) - 1, 0);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                continue;
            if (r > 0 && strncmp(buf, "HTTP/1.1 503", 12) == 0) {
                refused++;
            } else {
                double life = (double)(now - c->opened_ns) / 1e9;
                closed++;
                life_min = life < life_min ? life : life_min;
                life_max = life > life_max ? life : life_max;
            }
            close(c->fd);
            c->fd = -1;
            c->retry_ns = now + rt;
        }
    }
    atomic_store(&g_stop, 1);
    if (started)
        pthread_join(th, NULL);
    for (unsigned i = 0; i < n; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    sp_quantiles q;
    memset(&q, 0, sizeof(q));
    sp_ana_quantiles(rs.lat, rs.n, &q);
    printf("attack: %u connections from %s, a header line every %.3g s each, for %.3g s (back %.3g s after a "
           "close)\n",
           n, source, interval, duration, retry);
    printf("attack: %llu connections opened (%llu connects failed); held at most %llu at once, %.0f on average; "
           "%llu refused with 503; %llu closed by the server after %.2f..%.2f s\n",
           (unsigned long long)opened, (unsigned long long)connect_failed, (unsigned long long)held_peak,
           held_samples ? held_sum / (double)held_samples : 0.0, (unsigned long long)refused,
           (unsigned long long)closed, closed ? life_min : 0.0, life_max);
    printf("real: %zu requests from 127.0.0.1 (%.3g/s, fresh connection each): %zu answered 200, %zu failed; "
           "latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           rs.sent, real_rate, rs.n, rs.failed, (double)q.p50_ns / 1e6, (double)q.p99_ns / 1e6,
           (double)q.max_ns / 1e6);
    free(cs);
    free(pf);
    free(idx);
    free(rs.lat);
    return rs.failed ? 1 : 0;
}
