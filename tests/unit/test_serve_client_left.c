/* A client that closes its connection while its request waits in the queue is not answered and not
 * counted ok: libmicrohttpd does not watch a suspended connection, so the server looks when a worker
 * resumes it, closes it, and records the request `cancelled` with the status it would have had (200)
 * and counts it closed early (docs/serve.md, "Errors, rejections and clients gone"). Before, its
 * answer went into the closed socket and the request was recorded ok. How, without timing: a
 * max-batch of 2 and a 60 s window hold the first request until a second one comes; the first
 * client sends its request (the server counts it: observed), closes, then a second client's request
 * fills the batch; the test waits (bounded) for the server to count the client gone. */
#include <arpa/inet.h>
#include <netinet/in.h>
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
#include "model/events_int.h"
#include "servprof/events.h"
#include "servprof/serve.h"
#include "servprof/trace.h"

static unsigned g_port;

static int connect_local(void) { return lb_connect(g_port, 30); }

static void send_request(int fd, const char *id)
{
    const char *body = "{\"input\":\"hello world\"}";
    char raw[512];
    int n = snprintf(raw, sizeof raw,
                     "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     id, strlen(body), body);
    CHECK(send(fd, raw, (size_t)n, MSG_NOSIGNAL) == n);
}

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls the server's counters until `done` says so (at most 30 s: a bound, not a timing claim). */
static void wait_stats(sp_server *srv, sp_server_stats *s, int (*done)(const sp_server_stats *))
{
    for (int i = 0; i < 30000; i++) {
        sp_server_get_stats(srv, s);
        if (done(s))
            return;
        pause_ms(1);
    }
}

static int one_request(const sp_server_stats *s) { return s->requests >= 1; }
static int one_gone(const sp_server_stats *s) { return s->client_gone >= 1 && s->ok >= 1; }

int main(void)
{
    char trace[512], err[512] = "";
    snprintf(trace, sizeof trace, "%s/tests/serve_client_left_%d.sptrace", SP_BUILD_DIR, (int)getpid());
    sp_recorder *rec = NULL;
    CHECK(sp_recorder_open(trace, NULL, &rec) == SP_OK);
    sp_server_options o;
    sp_test_small_server(&o, 32);
    o.max_batch = 2;
    o.max_queue_delay_ms = 60000;
    o.recorder = rec;
    sp_server *srv = NULL;
    sp_status st = sp_server_start(&o, &srv, err, sizeof(err));
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        fprintf(stderr, "start: %s\n", err);
        return sp_test_done("test_serve_client_left");
    }
    g_port = sp_server_port(srv);

    int gone = connect_local();
    CHECK(gone >= 0);
    send_request(gone, "left");
    sp_server_stats s;
    wait_stats(srv, &s, one_request);
    CHECK_EQ_U64(s.requests, 1);
    close(gone); /* while its request waits for company */

    int stays = connect_local();
    CHECK(stays >= 0);
    send_request(stays, "stayed");
    char buf[8192];
    ssize_t n = recv(stays, buf, sizeof buf - 1, 0);
    CHECK(n > 12);
    if (n > 0) {
        buf[n] = 0;
        CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    }
    close(stays);
    wait_stats(srv, &s, one_gone);
    CHECK_EQ_U64(s.ok, 1);
    CHECK_EQ_U64(s.client_gone, 1);
    CHECK_EQ_U64(s.batches, 1);
    sp_server_destroy(srv);
    CHECK(sp_recorder_close(rec) == SP_OK);

    /* the trace: "stayed" ok, "left" cancelled with status 200, both members of the one batch */
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    st = sp_events_load_file(ev, trace, NULL, err, sizeof err);
    CHECK(st == SP_OK);
    if (st == SP_OK) {
        int ok = 0, cancelled = 0;
        for (size_t i = 0; i < ev->n_requests; i++) {
            const sp_ev_request *q = &ev->requests[i];
            if (sp_ev_id_is(ev, q, "stayed", 6))
                ok += q->outcome == SP_OUTCOME_OK;
            if (sp_ev_id_is(ev, q, "left", 4))
                cancelled += q->outcome == SP_OUTCOME_CANCELLED && q->status == 200;
        }
        CHECK_EQ_U64(ev->n_requests, 2);
        CHECK_EQ_U64(ok, 1);
        CHECK_EQ_U64(cancelled, 1);
    }
    sp_events_destroy(ev);
    unlink(trace);
    return sp_test_done("test_serve_client_left");
}
#endif
