/* End-to-end runs of sp_load_run against small HTTP servers started inside the test on a 127.0.0.1
 * ephemeral port: every request answered and traced once with a unique id that the server saw as
 * X-Request-Id; a slow server makes corrected latency exceed uncorrected (coordinated omission made
 * visible) while the schedule keeps its spacing; connect errors when nothing listens; timeouts when
 * the server never answers; 503s and other statuses counted apart and kept out of the achieved rate;
 * protocol errors when the server does not speak HTTP; an unresolvable host is a run error naming it.
 * Counts are small and every run is bounded by its timeout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load/load_int.h"
#include "loopback_server_testutil.h"
#include "testlib.h"

#define MAX_IDS 4096

/* MODE_ROTATE answers 200, 503, 404, 200, ... by the server's request count; MODE_503 answers only
 * 503; MODE_GARBAGE answers bytes that are not HTTP. */
enum { MODE_FAST, MODE_SLOW, MODE_SILENT, MODE_ROTATE, MODE_503, MODE_GARBAGE };

typedef struct server {
    lb_server net;
    int port, mode;
    long delay_ms;
    pthread_mutex_t mu;
    char *ids[MAX_IDS];
    int n_ids;
    int bad_requests;
    int answered; /* requests answered so far (MODE_ROTATE's counter) */
} server;

/* Serves one connection: reads requests (headers + Content-Length body), records X-Request-Id,
 * answers 200 (after delay_ms in MODE_SLOW; never in MODE_SILENT). Ends when the client closes. */
static void handle(void *user, int fd)
{
    server *s = user;
    char buf[65536];
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        for (;;) {
            size_t head, whole = lb_request_len(buf, len, &head);
            if (!whole)
                break;
            char *end = buf + head - 4, *id = strcasestr(buf, "\r\nX-Request-Id: ");
            pthread_mutex_lock(&s->mu);
            if (id && id < end && s->n_ids < MAX_IDS) {
                char *e = strstr(id + 2, "\r\n");
                s->ids[s->n_ids++] = strndup(id + 16, (size_t)(e - id - 16));
            } else {
                s->bad_requests++;
            }
            /* the body must be the embeddings shape */
            if (strncmp(buf + head, "{\"input\":\"", 10) != 0 || !strstr(buf + head, "\",\"model\":\"servprof\"}"))
                s->bad_requests++;
            pthread_mutex_unlock(&s->mu);
            memmove(buf, buf + whole, len - whole);
            len -= whole;
            buf[len] = '\0';
            if (s->mode == MODE_SILENT)
                continue;
            if (s->mode == MODE_SLOW) {
                struct timespec ts = {0, s->delay_ms * 1000000L};
                nanosleep(&ts, NULL); /* the server being slow is the point of the test */
            }
            static const char *const resp[] = {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                "SSH-2.0-OpenSSH_9.2\r\n", /* a service that is not HTTP */
            };
            pthread_mutex_lock(&s->mu);
            int k = s->mode == MODE_ROTATE ? s->answered % 3 : s->mode == MODE_503 ? 1 : s->mode == MODE_GARBAGE ? 3 : 0;
            s->answered++;
            pthread_mutex_unlock(&s->mu);
            if (send(fd, resp[k], strlen(resp[k]), MSG_NOSIGNAL) < 0)
                return;
        }
    }
}

static void server_start(server *s, int mode, long delay_ms)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->delay_ms = delay_ms;
    pthread_mutex_init(&s->mu, NULL);
    lb_start(&s->net, 128, LB_MAX_HANDLERS, handle, s);
    s->port = s->net.port;
}

static void server_stop(server *s)
{
    /* the client closed its connections when sp_load_run returned, so handlers are ending */
    lb_stop(&s->net);
    for (int i = 0; i < s->n_ids; i++)
        free(s->ids[i]);
    pthread_mutex_destroy(&s->mu);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct trace_rec {
    char id[64];
    unsigned long long intended, send, done;
    int status;
} trace_rec;

/* Parses the client trace: one meta line, then "client" lines. Returns the count, -1 if malformed. */
static int read_trace(const char *path, trace_rec *out, int max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1) {
            if (!strstr(line, "\"ev\":\"meta\"") || !strstr(line, "\"format\":\"servprof.events/1\"") ||
                !strstr(line, "\"clock\":\"monotonic\"")) {
                fclose(f);
                return -1;
            }
            continue;
        }
        trace_rec r;
        if (n >= max || sscanf(line, "{\"ev\":\"client\",\"id\":\"%63[^\"]\",\"intended_ns\":%llu,\"send_ns\":%llu,"
                                     "\"done_ns\":%llu,\"status\":%d",
                               r.id, &r.intended, &r.send, &r.done, &r.status) != 5) {
            fclose(f);
            return -1;
        }
        out[n++] = r;
    }
    fclose(f);
    return n;
}

static void test_fast(void)
{
    server s;
    server_start(&s, MODE_FAST, 0);
    char url[128], trace[] = "/tmp/sp_load_trace_XXXXXX";
    int tfd = mkstemp(trace);
    close(tfd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", s.port);
    sp_load_config o;
    sp_load_config_init(&o);
    o.url = url;
    o.rate = 2000;
    o.requests = 300;
    o.warmup_s = 0.01; /* the first ~20 requests are warm-up: traced, not counted */
    o.connections = 8;
    o.timeout_s = 5;
    o.length = SP_LOAD_LENGTH_UNIFORM;
    o.length_min = 1;
    o.length_max = 50;
    o.trace_path = trace;
    sp_load_result *r = NULL;
    char err[256] = "";
    sp_status st = sp_load_run(&o, &r, err, sizeof err);
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        fprintf(stderr, "run: %s\n", err);
        server_stop(&s);
        return;
    }
    CHECK_EQ_U64(r->scheduled, 300);
    CHECK_EQ_U64(r->responses, 300);
    CHECK_EQ_U64(r->ok, 300);
    CHECK_EQ_U64(r->connect_errors + r->timeouts + r->io_errors + r->protocol_errors, 0);
    CHECK(r->warmup > 0);
    CHECK_EQ_U64(r->corrected.count, 300);
    CHECK(r->corrected.p50 >= r->uncorrected.p50);
    CHECK(r->peak_connections <= 8);
    uint64_t total = r->scheduled + r->warmup;

    static trace_rec tr[2048];
    int n = read_trace(trace, tr, 2048);
    CHECK_EQ_U64(n, total); /* one line per request, warm-up included */
    int order_bad = 0, status_bad = 0;
    char **ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    for (int i = 0; i < n; i++) {
        order_bad += !(tr[i].intended <= tr[i].send && tr[i].send <= tr[i].done);
        status_bad += tr[i].status != 200;
        ids[i] = tr[i].id;
    }
    CHECK_EQ_U64(order_bad, 0);
    CHECK_EQ_U64(status_bad, 0);
    qsort(ids, (size_t)(n > 0 ? n : 0), sizeof *ids, cmp_str);
    int dups = 0;
    for (int i = 1; i < n; i++)
        dups += strcmp(ids[i - 1], ids[i]) == 0;
    CHECK_EQ_U64(dups, 0);
    /* the server saw exactly the traced ids as X-Request-Id, each once, with well-formed bodies */
    pthread_mutex_lock(&s.mu);
    CHECK_EQ_U64(s.n_ids, total);
    CHECK_EQ_U64(s.bad_requests, 0);
    qsort(s.ids, (size_t)s.n_ids, sizeof *s.ids, cmp_str);
    int same = s.n_ids == n;
    for (int i = 0; same && i < n; i++)
        same = strcmp(ids[i], s.ids[i]) == 0;
    CHECK(same);
    pthread_mutex_unlock(&s.mu);
    free(ids);
    sp_load_result_destroy(r);
    unlink(trace);
    server_stop(&s);
}

static void test_slow_server(void)
{
    /* One connection, a server taking 20 ms per request, requests every 10 ms: the server falls 10 ms
     * further behind with each request, so the k-th waits about k x 10 ms before it can even be sent.
     * Uncorrected latency stays near 20 ms; corrected latency grows toward 20 x 10 ms. */
    server s;
    server_start(&s, MODE_SLOW, 20);
    char url[128], trace[] = "/tmp/sp_load_trace_XXXXXX";
    int tfd = mkstemp(trace);
    close(tfd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", s.port);
    sp_load_config o;
    sp_load_config_init(&o);
    o.url = url;
    o.arrival = SP_LOAD_ARRIVAL_CONSTANT;
    o.rate = 100;
    o.requests = 20;
    o.connections = 1;
    o.timeout_s = 5;
    o.length = SP_LOAD_LENGTH_FIXED;
    o.length_fixed = 4;
    o.trace_path = trace;
    sp_load_result *r = NULL;
    char err[256] = "";
    CHECK(sp_load_run(&o, &r, err, sizeof err) == SP_OK);
    if (r) {
        CHECK_EQ_U64(r->responses, 20);
        /* fell behind (about 50/s delivered of 100/s): the achieved rate says so */
        CHECK(r->achieved_rate < 0.75 * r->target_rate);
        /* uncorrected p50 ~ 20 ms; corrected p50 ~ 20 + 10 x 10 = 120 ms: require at least 2x */
        CHECK(r->corrected.p50 > 2 * r->uncorrected.p50);
        CHECK(r->corrected.max > r->uncorrected.max + 100000000ull); /* the last waited ~190 ms */
        CHECK(r->lag.p99 > 100000000ull);
        CHECK(r->uncorrected.p50 >= 20000000ull); /* no response faster than the server's delay */
        sp_load_result_destroy(r);
    }
    /* the schedule was not slowed: intended times are exactly 10 ms apart */
    static trace_rec tr[64];
    int n = read_trace(trace, tr, 64);
    CHECK_EQ_U64(n, 20);
    int spacing_bad = 0;
    for (int i = 1; i < n; i++)
        spacing_bad += tr[i].intended - tr[i - 1].intended != 10000000ull;
    CHECK_EQ_U64(spacing_bad, 0);
    unlink(trace);
    server_stop(&s);
}

/* A run that keeps up reads at most 100% of target. 20 requests at 50/s are offered over 20 x 20 ms
 * = 400 ms, not over the 380 ms from the first intended send to the last (which read 20/0.38 = 105%).
 * Constant arrivals against a fast server: every answer lands long before the next gap ends, so the
 * window is exactly 400 ms and the achieved and send rates exactly 50/s; Poisson arrivals (three
 * seeds) are offered over at least N/r too, so they read no more. */
static void test_keeps_up(void)
{
    server s;
    server_start(&s, MODE_FAST, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", s.port);
    for (int k = 0; k < 4; k++) {
        sp_load_config o;
        sp_load_config_init(&o);
        o.url = url;
        o.arrival = k == 0 ? SP_LOAD_ARRIVAL_CONSTANT : SP_LOAD_ARRIVAL_POISSON;
        o.seed = (uint64_t)k;
        o.rate = 50;
        o.requests = 20;
        o.connections = 4;
        o.timeout_s = 5;
        o.length = SP_LOAD_LENGTH_FIXED;
        o.length_fixed = 4;
        sp_load_result *r = NULL;
        char err[256] = "";
        CHECK(sp_load_run(&o, &r, err, sizeof err) == SP_OK);
        if (!r)
            continue;
        CHECK_EQ_U64(r->ok, 20);
        CHECK(r->achieved_rate <= 1.005 * r->target_rate);
        CHECK(r->send_rate <= 1.005 * r->target_rate);
        CHECK(r->duration_s >= 0.4 - 1e-9);
        if (k == 0) /* on schedule: the whole 400 ms, no less */
            CHECK(r->achieved_rate >= 0.9 * r->target_rate);
        sp_load_result_destroy(r);
    }
    server_stop(&s);
}

static void test_nothing_listens(void)
{
    /* take an ephemeral port, then close it: nothing listens there */
    int port;
    int ls = lb_listen(&port, 128);
    close(ls);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", port);
    sp_load_config o;
    sp_load_config_init(&o);
    o.url = url;
    o.rate = 1000;
    o.requests = 25;
    o.timeout_s = 2;
    sp_load_result *r = NULL;
    CHECK(sp_load_run(&o, &r, NULL, 0) == SP_OK);
    if (r) {
        CHECK_EQ_U64(r->connect_errors, 25);
        CHECK_EQ_U64(r->responses, 0);
        CHECK_EQ_U64(r->corrected.count, 0);
        sp_load_result_destroy(r);
    }
}

static void test_silent_server(void)
{
    server s;
    server_start(&s, MODE_SILENT, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s.port);
    sp_load_config o;
    sp_load_config_init(&o);
    o.url = url;
    o.rate = 200;
    o.requests = 5;
    o.timeout_s = 0.2;
    sp_load_result *r = NULL;
    CHECK(sp_load_run(&o, &r, NULL, 0) == SP_OK);
    if (r) {
        CHECK_EQ_U64(r->timeouts, 5);
        CHECK_EQ_U64(r->responses, 0);
        sp_load_result_destroy(r);
    }
    server_stop(&s);
}

/* Runs `n` requests against a server in `mode`; NULL if the run failed. */
static sp_load_result *run_against(server *s, int mode, uint64_t n)
{
    server_start(s, mode, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", s->port);
    sp_load_config o;
    sp_load_config_init(&o);
    o.url = url;
    o.rate = 500;
    o.requests = n;
    o.connections = 4;
    o.timeout_s = 5;
    sp_load_result *r = NULL;
    char err[256] = "";
    if (sp_load_run(&o, &r, err, sizeof err) != SP_OK)
        fprintf(stderr, "run: %s\n", err);
    return r;
}

static void test_statuses(void)
{
    /* 30 requests answered 200, 503, 404 in turn: 10 of each, whatever the order on the wire */
    server s;
    sp_load_result *r = run_against(&s, MODE_ROTATE, 30);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_U64(r->responses, 30);
        CHECK_EQ_U64(r->ok, 10);
        CHECK_EQ_U64(r->status_503, 10);
        CHECK_EQ_U64(r->status_other, 10);
        CHECK_EQ_U64(r->http_errors, 20);
        CHECK(r->duration_s > 0);
        /* the achieved rate counts the 10 successes only; 503s and the rest have rates of their own */
        CHECK(fabs(r->achieved_rate * r->duration_s - 10) < 1e-6);
        CHECK(fabs(r->rate_503 * r->duration_s - 10) < 1e-6);
        CHECK(fabs(r->rate_other_status * r->duration_s - 10) < 1e-6);
        sp_load_result_destroy(r);
    }
    server_stop(&s);
}

static void test_only_503(void)
{
    server s;
    sp_load_result *r = run_against(&s, MODE_503, 8);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_U64(r->responses, 8);
        CHECK_EQ_U64(r->ok, 0);
        CHECK_EQ_U64(r->status_503, 8);
        CHECK_EQ_U64(r->status_other, 0);
        CHECK(r->achieved_rate == 0.0); /* answered fast, delivered nothing */
        CHECK(r->rate_503 > 0.0);
        CHECK_EQ_U64(r->n_statuses, 1);
        CHECK(r->statuses[0].status == 503 && r->statuses[0].count == 8);
        sp_load_result_destroy(r);
    }
    server_stop(&s);
}

static void test_not_http(void)
{
    server s;
    sp_load_result *r = run_against(&s, MODE_GARBAGE, 6);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_U64(r->protocol_errors, 6);
        CHECK_EQ_U64(r->responses, 0);
        CHECK_EQ_U64(r->connect_errors + r->timeouts + r->io_errors, 0);
        sp_load_result_destroy(r);
    }
    server_stop(&s);
}

static void test_unresolvable_host(void)
{
    /* .invalid never resolves (RFC 6761): a run-time failure naming the host, not a bad option */
    sp_load_config o;
    sp_load_config_init(&o);
    o.url = "http://servprof-test.invalid:8080/v1/embeddings";
    o.requests = 1;
    sp_load_result *r = NULL;
    char err[256] = "";
    CHECK(sp_load_run(&o, &r, err, sizeof err) == SP_ERR_IO);
    CHECK(r == NULL);
    CHECK(strstr(err, "servprof-test.invalid") != NULL);
}

static void test_bad_options(void)
{
    sp_load_config o;
    sp_load_config_init(&o);
    sp_load_result *r = (sp_load_result *)&o; /* must stay untouched on failure */
    char err[256] = "";
    o.url = "https://127.0.0.1/";
    CHECK(sp_load_run(&o, &r, err, sizeof err) == SP_ERR_INVALID);
    CHECK(r == (sp_load_result *)&o);
    CHECK(strstr(err, "https://127.0.0.1/") != NULL);
    sp_load_config_init(&o);
    o.connections = 0;
    CHECK(sp_load_run(&o, &r, err, sizeof err) == SP_ERR_INVALID);
    sp_load_config_init(&o);
    o.rate = 1e7;
    o.duration_s = 100; /* 1e9 requests: over the cap */
    CHECK(sp_load_run(&o, &r, err, sizeof err) == SP_ERR_LIMIT);
    sp_load_config_init(&o);
    o.id_prefix = "bad id";
    CHECK(sp_load_run(&o, &r, err, sizeof err) == SP_ERR_INVALID);
    sp_load_result_destroy(NULL);
}

int main(void)
{
    test_bad_options();
    test_fast();
    test_slow_server();
    test_keeps_up();
    test_nothing_listens();
    test_silent_server();
    test_statuses();
    test_only_503();
    test_not_http();
    test_unresolvable_host();
    return sp_test_done("test_load_e2e");
}
