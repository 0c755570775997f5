/* A request that comes in while the server is stopping is answered 503 "the server is stopping" and
 * counted as such (sp_server_stats.rejected_stopping, the stop line's "503 stopping"), not as a full
 * queue (rejected_full): the stop line once said "1 503 queue full" after a SIGTERM with an empty
 * queue. How, without timing assertions: the request's head goes in first (the server counts it:
 * observed in its stats), sp_server_stop runs in a thread, the test waits until a new connection is
 * refused (the front door has closed the listening socket: stopping is set), then sends the body.
 * The stop waits up to 2 s for requests already begun, so the body arrives while it waits; a
 * machine too slow for that window gets no answer, and the test skips (77) rather than guess. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loopback_client_testutil.h"
#include "serve_testutil.h"
#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED)
int main(void) { return 77; }
#else
#include "servprof/serve.h"

static unsigned g_port;

static int connect_local(void) { return lb_connect(g_port, 10); }

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void *stop_thread(void *srv)
{
    sp_server_stop(srv);
    return NULL;
}

int main(void)
{
    sp_server_options o;
    sp_test_small_server(&o, 32);
    sp_server *srv = NULL;
    char err[512] = "";
    sp_status st = sp_server_start(&o, &srv, err, sizeof(err));
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        fprintf(stderr, "start: %s\n", err);
        return sp_test_done("test_serve_stopping");
    }
    g_port = sp_server_port(srv);
    const char *body = "{\"input\":\"hello\"}";
    char head[256];
    snprintf(head, sizeof head,
             "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             strlen(body));
    int fd = connect_local();
    CHECK(fd >= 0);
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
    /* the head is in when the server has counted the request (polled: observed, not timed) */
    sp_server_stats s;
    for (int i = 0; i < 10000; i++) {
        sp_server_get_stats(srv, &s);
        if (s.requests >= 1)
            break;
        pause_ms(1);
    }
    CHECK_EQ_U64(s.requests, 1);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, stop_thread, srv) == 0);
    /* stopping is set once the listening socket is closed: a new connection is refused */
    for (int i = 0; i < 10000; i++) {
        int probe = connect_local();
        if (probe < 0)
            break;
        close(probe);
        pause_ms(1);
    }
    CHECK(send(fd, body, strlen(body), MSG_NOSIGNAL) == (ssize_t)strlen(body));
    char buf[4096];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = 0;
        if (strstr(buf, "\r\n\r\n") && strstr(buf, "}}"))
            break;
    }
    buf[got] = 0;
    close(fd);
    pthread_join(th, NULL);
    if (got == 0) {
        fprintf(stderr, "no answer: the stop's 2 s wait for begun requests ended first (a slow machine); skipped\n");
        sp_server_destroy(srv);
        return 77;
    }
    CHECK(strncmp(buf, "HTTP/1.1 503", 12) == 0);
    CHECK(strstr(buf, "the server is stopping") != NULL);
    CHECK(strstr(buf, "Retry-After: 1") != NULL);
    sp_server_get_stats(srv, &s);
    CHECK_EQ_U64(s.rejected_stopping, 1);
    CHECK_EQ_U64(s.rejected_full, 0);
    sp_server_destroy(srv);
    return sp_test_done("test_serve_stopping");
}
#endif
