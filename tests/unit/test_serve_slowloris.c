/* servprof serve under a slowloris attack: 300 connections from 127.0.0.2 each trickle one header
 * line every 0.5 s (and reconnect when closed), a few more from 127.0.0.3 trickle the next head of a
 * keep-alive connection or a request body, while a client on 127.0.0.1 keeps asking for embeddings,
 * each on a fresh connection. Checks: every real request is answered 200 within 1 s; the per-address
 * cap turns the excess of the attacker's connections away with a JSON 503; every trickling
 * connection the server took is closed at its header (or body) deadline, 2 s, although it sent a
 * byte every 0.5 s (libmicrohttpd's own timeout, which every byte resets, would keep them forever);
 * and the server is healthy afterwards. On main (no per-address cap, no deadlines) the real client
 * is refused once the attacker holds max_connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve_testutil.h"
#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED)
int main(void) { return 77; }
#else
#include "servprof/serve.h"

#define N_HEAD 300    /* trickle a first request head, from 127.0.0.2 */
#define N_KEEP 5      /* a whole request, then trickle the next head, from 127.0.0.3 */
#define N_BODY 5      /* a whole head, then trickle the body, from 127.0.0.3 */
#define N_ALL (N_HEAD + N_KEEP + N_BODY)
#define PER_IP 40
#define DEADLINE_S 2.0
#define TRICKLE_NS 500000000ull
#define ATTACK_S 6.0

enum { M_HEAD, M_KEEP, M_BODY };

typedef struct attacker {
    int fd;
    int mode;
    int waiting_answer;    /* M_KEEP: the first request is out, its answer not yet in */
    uint64_t clock_ns;     /* no later than the server's deadline clock: connect (the server accepts
                              after), or for M_KEEP the first request's send (the server's clock starts
                              at its answer) */
    uint64_t next_ns;      /* next trickle */
    uint64_t retry_ns;     /* closed: reconnect at */
} attacker;

static unsigned g_port;
static atomic_int g_stop;
/* results, written by the attacker thread, read after it is joined */
static uint64_t g_refused, g_refused_json, g_reset, g_closed_by_server, g_deadline_ok, g_deadline_bad, g_body_closed, g_keep_closed,
    g_opened;
static double g_life_min = 1e9, g_life_max;

static uint64_t now_ns(void) { return sp_now_ns(); }

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
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void send_str(int fd, const char *s) { (void)send(fd, s, strlen(s), MSG_NOSIGNAL); }

static void attacker_open(attacker *a, uint64_t now)
{
    a->fd = connect_from(a->mode == M_HEAD ? "127.0.0.2" : "127.0.0.3");
    a->clock_ns = now;
    a->next_ns = now + TRICKLE_NS;
    a->waiting_answer = 0;
    if (a->fd < 0) {
        a->retry_ns = now + 100000000ull;
        return;
    }
    g_opened++;
    if (a->mode == M_HEAD) {
        send_str(a->fd, "POST /v1/embeddings HTTP/1.1\r\n");
    } else if (a->mode == M_KEEP) {
        send_str(a->fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        a->waiting_answer = 1;
    } else {
        send_str(a->fd, "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: 100\r\n\r\n{");
    }
}

/* The server said something or closed: classify, close our end, and plan a reconnect. */
static void attacker_readable(attacker *a, uint64_t now)
{
    char buf[4096];
    ssize_t n = recv(a->fd, buf, sizeof(buf) - 1, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n > 0 && a->mode == M_KEEP && a->waiting_answer) {
        /* the first answer (a /healthz 200): from now on the connection waits for a next head, which
         * we trickle. Its header deadline starts when the server finished that answer, between our
         * sending the request (clock_ns, kept: so the lifetime we measure is never short of the
         * deadline however late this thread reads) and now */
        buf[n] = 0;
        if (strstr(buf, "HTTP/1.1 200")) {
            a->waiting_answer = 0;
            a->next_ns = now + TRICKLE_NS;
            send_str(a->fd, "POST /v1/embeddings HTTP/1.1\r\n");
            return;
        }
    }
    if (n > 0) {
        buf[n] = 0;
        if (strncmp(buf, "HTTP/1.1 503", 12) == 0) {
            g_refused++;
            g_refused_json += strstr(buf, "application/json") != NULL && strstr(buf, "\"error\"") != NULL;
            close(a->fd);
            a->fd = -1;
            a->retry_ns = now + 100000000ull; /* the attacker comes straight back */
            return;
        }
    }
    if (n < 0) {
        /* reset: the server refused us and closed before our bytes arrived; not a deadline */
        g_reset++;
        close(a->fd);
        a->fd = -1;
        a->retry_ns = now + 100000000ull;
        return;
    }
    /* closed by the server (an answer such as 408, then EOF, or EOF at once) */
    double life = (double)(now - a->clock_ns) / 1e9;
    g_closed_by_server++;
    if (a->mode == M_BODY)
        g_body_closed++;
    if (a->mode == M_KEEP)
        g_keep_closed++;
    if (life < g_life_min)
        g_life_min = life;
    if (life > g_life_max)
        g_life_max = life;
    /* closed at the deadline: not before it (our clock starts no later than the server's), and not
     * long after (the reaper looks every 100 ms; the shared 2-core machine may be busy) */
    if (life >= DEADLINE_S - 0.01 && life <= DEADLINE_S + 1.5)
        g_deadline_ok++;
    else
        g_deadline_bad++;
    close(a->fd);
    a->fd = -1;
    a->retry_ns = now + 100000000ull;
}

static void *attack_main(void *arg)
{
    attacker *as = arg;
    struct pollfd *pf = calloc(N_ALL, sizeof(*pf));
    int *idx = calloc(N_ALL, sizeof(int));
    uint64_t now = now_ns();
    for (int i = 0; i < N_ALL; i++)
        attacker_open(&as[i], now);
    while (!atomic_load(&g_stop)) {
        int np = 0;
        for (int i = 0; i < N_ALL; i++) {
            if (as[i].fd >= 0) {
                pf[np] = (struct pollfd){as[i].fd, POLLIN, 0};
                idx[np++] = i;
            }
        }
        poll(pf, (nfds_t)np, 20);
        now = now_ns();
        for (int k = 0; k < np; k++)
            if (pf[k].revents)
                attacker_readable(&as[idx[k]], now);
        for (int i = 0; i < N_ALL; i++) {
            attacker *a = &as[i];
            if (a->fd < 0 && now >= a->retry_ns)
                attacker_open(a, now);
            else if (a->fd >= 0 && !a->waiting_answer && now >= a->next_ns) {
                send_str(a->fd, a->mode == M_BODY ? "\"" : "X-Trickle: a\r\n");
                a->next_ns = now + TRICKLE_NS;
            }
        }
    }
    for (int i = 0; i < N_ALL; i++)
        if (as[i].fd >= 0)
            close(as[i].fd);
    free(pf);
    free(idx);
    return NULL;
}

/* One embeddings request on a fresh connection from 127.0.0.1; returns the status (0: none) and the
 * time from connect to the whole answer. */
static int real_request(double *seconds)
{
    uint64_t t0 = now_ns();
    int fd = connect_from("127.0.0.1");
    if (fd < 0)
        return 0;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const char *body = "{\"input\":\"the quick brown fox\"}";
    char req[512];
    snprintf(req, sizeof(req),
             "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             strlen(body), body);
    send_str(fd, req);
    char buf[65536];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    close(fd);
    *seconds = (double)(now_ns() - t0) / 1e9;
    int status = 0;
    if (got > 12 && strncmp(buf, "HTTP/1.1 ", 9) == 0)
        status = atoi(buf + 9);
    if (status == 200)
        CHECK(strstr(buf, "\"embedding\"") != NULL);
    return status;
}

int main(void)
{
    /* 310 client sockets here and as many on the server's side */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048 && rl.rlim_max >= 2048) {
        rl.rlim_cur = 2048;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* the attacker's own loopback address must be bindable (Linux routes all of 127/8 to lo) */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in s2 = {0};
    s2.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.2", &s2.sin_addr);
    if (bind(probe, (struct sockaddr *)&s2, sizeof(s2)) != 0) {
        printf("cannot bind 127.0.0.2 (%s): skipped\n", strerror(errno));
        close(probe);
        return 77;
    }
    close(probe);

    sp_server_options o;
    sp_test_small_server(&o, 32);
    o.max_queue_delay_ms = 0.5;
    o.max_connections = 200; /* fewer than the attacker's 300: without the per-address cap it wins */
    o.max_connections_per_ip = PER_IP;
    o.header_timeout_s = DEADLINE_S;
    o.body_timeout_s = DEADLINE_S;
    sp_server *srv = NULL;
    char err[512] = "";
    sp_status st = sp_server_start(&o, &srv, err, sizeof(err));
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        fprintf(stderr, "start: %s\n", err);
        return sp_test_done("test_serve_slowloris");
    }
    g_port = sp_server_port(srv);

    attacker *as = calloc(N_ALL, sizeof(*as));
    for (int i = 0; i < N_ALL; i++)
        as[i].mode = i < N_HEAD ? M_HEAD : i < N_HEAD + N_KEEP ? M_KEEP : M_BODY;
    pthread_t th;
    pthread_create(&th, NULL, attack_main, as);

    /* real traffic for the whole attack: one request every 50 ms, each timed from its connect */
    int real = 0, real_ok = 0;
    double worst = 0;
    uint64_t end = now_ns() + (uint64_t)(ATTACK_S * 1e9);
    while (now_ns() < end) {
        double sec = 0;
        int status = real_request(&sec);
        real++;
        real_ok += status == 200 && sec < 1.0;
        if (status != 200)
            fprintf(stderr, "real request %d: status %d after %.3f s\n", real, status, sec);
        if (sec > worst)
            worst = sec;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL); /* pacing the client, not waiting for the server */
    }
    sp_server_stats s;
    sp_server_get_stats(srv, &s);
    atomic_store(&g_stop, 1);
    pthread_join(th, NULL);
    free(as);

    printf("real requests: %d, %d answered 200 within 1 s, slowest %.3f s\n", real, real_ok, worst);
    printf("attacker: %llu connections opened, %llu refused with 503 (%llu reset), %llu closed by the server after "
           "%.2f..%.2f s (%llu at the deadline, %llu not); keep-alive %llu, body %llu\n",
           (unsigned long long)g_opened, (unsigned long long)g_refused, (unsigned long long)g_reset,
           (unsigned long long)g_closed_by_server,
           g_life_min, g_life_max, (unsigned long long)g_deadline_ok, (unsigned long long)g_deadline_bad,
           (unsigned long long)g_keep_closed, (unsigned long long)g_body_closed);
    printf("server: %llu accepted, %llu refused at the per-address cap, %llu at the cap, %llu header and %llu "
           "body deadlines, at most %llu open\n",
           (unsigned long long)s.connections_accepted, (unsigned long long)s.connections_refused_per_ip,
           (unsigned long long)s.connections_refused_cap, (unsigned long long)s.header_timeouts,
           (unsigned long long)s.body_timeouts, (unsigned long long)s.connections_peak);

    CHECK(real >= 20);
    CHECK_EQ_U64(real_ok, real);
    CHECK(worst < 1.0);
    CHECK(g_refused > 0);                     /* the per-address cap turned the excess away */
    CHECK_EQ_U64(g_refused_json, g_refused);  /* each with a JSON 503 */
    CHECK(s.connections_refused_per_ip > 0);
    CHECK(s.connections_peak <= PER_IP + N_KEEP + N_BODY + 10); /* + the real client's few */
    /* every trickling connection the server held was closed at its deadline, not kept alive by the
     * trickle: at least one round of the 40 head tricklers, plus the keep-alive and body ones */
    CHECK(g_closed_by_server >= PER_IP + N_KEEP + N_BODY);
    CHECK_EQ_U64(g_deadline_bad, 0);
    CHECK(g_keep_closed >= N_KEEP);
    CHECK(g_body_closed >= N_BODY);
    CHECK(s.header_timeouts >= PER_IP + N_KEEP);
    CHECK(s.body_timeouts >= N_BODY);

    /* and afterwards the server answers as before */
    double sec = 0;
    CHECK_EQ_U64(real_request(&sec), 200);
    sp_server_destroy(srv);
    return sp_test_done("test_serve_slowloris");
}
#endif
