/* `servprof load --stream` end to end (sp_load_run with stream) against a server-sent events server
 * started inside the test on a 127.0.0.1 ephemeral port, which streams a known token schedule: the
 * first token D0 after it read the request, then one every G, each at an absolute time (so lateness
 * never accumulates), and logs when it began each token's write.
 * - The client's token arrival times are never before the server began writing them and never later
 *   than half a token gap G/2 after that (a reading later than that could not tell neighbouring
 *   tokens apart: the tolerance comes from the schedule); TTFT, TPOT, ITL and e2e match the schedule within that
 *   tolerance; output tokens equal each request's max_tokens, which the server read from the body.
 *   A client thread that a busy machine does not run for G/2 also reads late, but not run after run:
 *   a run with a late token is tried again, at most three runs, and the last one is judged (a client
 *   that stamps tokens wrongly fails all three).
 * - Chat bodies: the role-only first delta is no token.
 * - Failures: an error event mid-stream, a connection closed mid-stream, a 2xx that is not an event
 *   stream, a stream without [DONE] and a 503 are each counted where docs/load.md says, never a crash,
 *   and the request before them still succeeds.
 * - The client trace has the generation contract's fields (first_token_ns, token_ns, output_tokens)
 *   and they agree with the server's log. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json_mini.h"
#include "load/load_int.h"
#include "loopback_server_testutil.h"
#include "testlib.h"

/* G/2 is the tolerance of every timing check below, so G is long enough that a busy machine's
 * scheduling stalls (tens of ms on two cores shared by several builds; 20 ms was not) stay under it */
#define D0_NS 100000000ull /* first token, after the request is read */
#define G_NS 100000000ull  /* then one token every G */
#define MAX_REQ 32
#define MAX_TOK 16

/* What the server does with request number k (1-based, from the X-Request-Id "t-k"). */
enum behaviour { B_SCHEDULE, B_ERROR_EVENT, B_CLOSE_EARLY, B_NOT_SSE, B_NO_DONE, B_503 };

typedef struct server {
    lb_server net;
    int port;
    bool chat;                  /* expect chat bodies, answer with chat deltas */
    bool failures;              /* request k behaves as k_failures[k - 1] */
    pthread_mutex_t mu;
    /* by request number */
    uint64_t recv_ns[MAX_REQ + 1], write_ns[MAX_REQ + 1][MAX_TOK];
    int max_tokens[MAX_REQ + 1], sent_tokens[MAX_REQ + 1];
    int bad_bodies;
} server;

static const enum behaviour k_failures[] = {B_SCHEDULE, B_ERROR_EVENT, B_CLOSE_EARLY, B_NOT_SSE, B_NO_DONE, B_503};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock sp_now_ns reads */
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000ull), (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Sends one chunk of chunked coding holding `data`. */
static bool send_chunk(int fd, const char *data)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%zx\r\n%s\r\n", strlen(data), data);
    return send_all(fd, buf, (size_t)n);
}

/* Streams one response; false when the connection is to be closed. */
static bool answer(server *s, int fd, int k, int max_tokens, uint64_t t_recv)
{
    enum behaviour b = s->failures && k >= 1 && k <= 6 ? k_failures[k - 1] : B_SCHEDULE;
    static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n";
    if (b == B_503) {
        static const char r[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                "Content-Length: 2\r\n\r\n{}";
        return send_all(fd, r, sizeof r - 1);
    }
    if (b == B_NOT_SSE) { /* the server ignored "stream":true */
        static const char body[] = "{\"choices\":[{\"text\":\"whole\"}],\"object\":\"text_completion\"}";
        char r[256];
        int n = snprintf(r, sizeof r, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         sizeof body - 1, body);
        return send_all(fd, r, (size_t)n);
    }
    if (!send_all(fd, sse_head, sizeof sse_head - 1))
        return false;
    if (s->chat && !send_chunk(fd, "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"))
        return false;
    int n = b == B_SCHEDULE || b == B_NO_DONE ? max_tokens : 2;
    for (int i = 0; i < n && i < MAX_TOK; i++) {
        sleep_until(t_recv + D0_NS + (uint64_t)i * G_NS);
        const char *ev = s->chat ? "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\"}}]}\n\n"
                                 : "data: {\"choices\":[{\"index\":0,\"text\":\" w\",\"finish_reason\":null}]}\n\n";
        /* taken before the write: the client cannot have the token earlier (after it, the client,
         * woken on another core, may already have read the token before send() returns here) */
        uint64_t t = now_ns();
        if (!send_chunk(fd, ev))
            return false;
        pthread_mutex_lock(&s->mu);
        s->write_ns[k][i] = t;
        s->sent_tokens[k] = i + 1;
        pthread_mutex_unlock(&s->mu);
    }
    if (b == B_CLOSE_EARLY)
        return false; /* mid-stream: no last chunk */
    if (b == B_ERROR_EVENT &&
        !send_chunk(fd, "data: {\"error\":{\"message\":\"the engine died\",\"type\":\"InternalServerError\",\"code\":500}}\n\n"))
        return false;
    char usage[160];
    snprintf(usage, sizeof usage, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":%d}}\n\n", n);
    if (!send_chunk(fd, usage))
        return false;
    if (b != B_NO_DONE && !send_chunk(fd, "data: [DONE]\n\n"))
        return false;
    return send_all(fd, "0\r\n\r\n", 5);
}

/* Serves one connection: reads requests, checks the body, streams the answer. */
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
        size_t head;
        if (!lb_request_len(buf, len, &head))
            continue;
        char *end = buf + head - 4;
        uint64_t t_recv = now_ns();
        char *id = strcasestr(buf, "\r\nX-Request-Id: t-");
        int k = id && id < end ? atoi(id + 18) : 0;
        char *mt = strstr(buf + head, "\"max_tokens\":");
        int max_tokens = mt ? atoi(mt + 13) : 0;
        bool shape = strncmp(buf + head, "{\"model\":\"servprof\",", 20) == 0 &&
                     strstr(buf + head, s->chat ? "\"messages\":[{\"role\":\"user\",\"content\":\"" : "\"prompt\":\"") &&
                     strstr(buf + head, "\"stream\":true,\"stream_options\":{\"include_usage\":true}}") &&
                     strstr(buf, "\r\nAccept: text/event-stream\r\n");
        pthread_mutex_lock(&s->mu);
        if (k < 1 || k > MAX_REQ || max_tokens < 1 || max_tokens > MAX_TOK || !shape) {
            s->bad_bodies++;
            pthread_mutex_unlock(&s->mu);
            break;
        }
        s->recv_ns[k] = t_recv;
        s->max_tokens[k] = max_tokens;
        pthread_mutex_unlock(&s->mu);
        len = 0;
        if (!answer(s, fd, k, max_tokens, t_recv))
            return;
    }
}

static void server_start(server *s, bool chat, bool failures)
{
    memset(s, 0, sizeof *s);
    s->chat = chat;
    s->failures = failures;
    pthread_mutex_init(&s->mu, NULL);
    lb_start(&s->net, 64, MAX_REQ, handle, s);
    s->port = s->net.port;
}

static void server_stop(server *s)
{
    lb_stop(&s->net);
    pthread_mutex_destroy(&s->mu);
}

/* The client trace's record of request number k, parsed with the tests' own JSON parser. */
typedef struct client_line {
    bool present;
    uint64_t intended, send, done, first;
    long status, output_tokens, max_tokens;
    int n_times;
    uint64_t times[MAX_TOK * 2];
    char stream_error[32];
} client_line;

static int read_trace(const char *path, client_line *out, int max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[65536];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        jv v;
        const char *why;
        size_t at;
        if (jv_parse(line, strlen(line), &v, &why, &at) != 0) {
            fprintf(stderr, "trace line %d: %s at %zu\n", lineno, why, at);
            fclose(f);
            return -1;
        }
        const jv *ev = jv_path(&v, "ev");
        if (lineno == 1) {
            const jv *st = jv_get(&v, "stream");
            CHECK(ev && strcmp(ev->str, "meta") == 0 && st && st->type == JV_BOOL && st->boolean);
        } else if (ev && strcmp(ev->str, "client") == 0) {
            const jv *id = jv_get(&v, "id");
            int k = id && id->type == JV_STR && strncmp(id->str, "t-", 2) == 0 ? atoi(id->str + 2) : 0;
            if (k >= 1 && k < max) {
                client_line *c = &out[k];
                c->present = true;
                /* times as written, exactly (a double holds ns exactly only up to 2^53) */
                c->intended = strtoull(jv_get(&v, "intended_ns")->raw, NULL, 10);
                c->send = strtoull(jv_get(&v, "send_ns")->raw, NULL, 10);
                c->done = strtoull(jv_get(&v, "done_ns")->raw, NULL, 10);
                c->status = (long)jv_get(&v, "status")->num;
                const jv *mt = jv_get(&v, "max_tokens"), *ot = jv_get(&v, "output_tokens");
                const jv *ft = jv_get(&v, "first_token_ns"), *tn = jv_get(&v, "token_ns");
                const jv *se = jv_get(&v, "stream_error");
                c->max_tokens = mt ? (long)mt->num : -1;
                c->output_tokens = ot ? (long)ot->num : -1;
                c->first = ft ? strtoull(ft->raw, NULL, 10) : 0;
                c->n_times = tn && tn->type == JV_ARR ? (int)tn->n : -1;
                for (int i = 0; tn && i < c->n_times && i < MAX_TOK * 2; i++)
                    c->times[i] = strtoull(tn->items[i].raw, NULL, 10);
                snprintf(c->stream_error, sizeof c->stream_error, "%s", se && se->type == JV_STR ? se->str : "");
                n++;
            }
        }
        jv_free(&v);
    }
    fclose(f);
    return n;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static sp_load_result *run(server *s, bool chat, int requests, double rate, const char *trace)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/%s", s->port, chat ? "chat/completions" : "completions");
    sp_load_config o;
    sp_load_config_init(&o);
    sp_load_config_stream(&o, chat);
    o.url = url;
    o.arrival = SP_LOAD_ARRIVAL_CONSTANT;
    o.rate = rate;
    o.requests = (uint64_t)requests;
    o.connections = 8;
    o.timeout_s = 10;
    o.id_prefix = "t";
    o.length = SP_LOAD_LENGTH_FIXED;
    o.length_fixed = 12;
    o.output_length = SP_LOAD_LENGTH_UNIFORM; /* max_tokens 3..8, read back by the server */
    o.output_min = 3;
    o.output_max = 8;
    o.trace_path = trace;
    sp_load_result *r = NULL;
    char err[256] = "";
    sp_status st = sp_load_run(&o, &r, err, sizeof err);
    CHECK(st == SP_OK);
    if (st != SP_OK)
        fprintf(stderr, "run: %s\n", err);
    return r;
}

/* Tokens of requests 1..n that the client stamped more than G/2 after the server began writing them. */
static uint64_t count_late(const server *s, const client_line *cl, int n_req)
{
    uint64_t late = 0;
    for (int k = 1; k <= n_req; k++)
        for (int i = 0; i < s->sent_tokens[k] && i < cl[k].n_times; i++)
            late += cl[k].times[i] > s->write_ns[k][i] + G_NS / 2;
    return late;
}

/* The schedule, read back: per token, server write <= client arrival <= server write + G/2.
 * A token stamped later than that means the client stamps tokens wrongly, which repeats in every run,
 * or that its thread was not running (a busy machine), which does not: a run with late tokens is
 * tried again (false), and the last try (last_try) is judged whatever it shows. */
static bool test_schedule(bool chat, bool last_try)
{
    enum { N_REQ = 6 };
    server s;
    server_start(&s, chat, false);
    char trace[] = "/tmp/sp_load_stream_XXXXXX";
    close(mkstemp(trace));
    sp_load_result *r = run(&s, chat, N_REQ, 10.0, trace); /* every 100 ms; each lasts 100 + 7 x 100 ms at most */
    server_stop(&s);
    if (!r)
        return true;
    CHECK_EQ_U64(s.bad_bodies, 0);
    CHECK_EQ_U64(r->ok, N_REQ);
    CHECK_EQ_U64(r->stream_errors, 0);
    const sp_load_stream_result *g = &r->streamed;
    static client_line cl[MAX_REQ + 1];
    memset(cl, 0, sizeof cl);
    CHECK_EQ_U64(read_trace(trace, cl, MAX_REQ + 1), N_REQ);
    uint64_t late = count_late(&s, cl, N_REQ);
    if (late && !last_try) {
        fprintf(stderr, "test_load_stream: %llu token(s) read more than G/2 late (a stalled client?): again\n",
                (unsigned long long)late);
        sp_load_result_destroy(r);
        unlink(trace);
        return false;
    }
    uint64_t tokens = 0, itl_n = 0, early = 0, fields_bad = 0;
    /* what the figures must be, from the server's log: first write - intended send (TTFT), its TPOT
     * and its gaps; and TTFT's largest value from the trace, which the figures are made of */
    uint64_t srv_ttft_max = 0, trace_ttft_max = 0, srv_tpot[N_REQ] = {0}, srv_gaps[N_REQ * MAX_TOK];
    size_t n_gaps = 0;
    for (int k = 1; k <= N_REQ; k++) {
        const client_line *c = &cl[k];
        int n = s.sent_tokens[k];
        tokens += (uint64_t)n;
        itl_n += (uint64_t)(n - 1);
        /* the body asked for max_tokens, the server streamed that many, the client counted them */
        fields_bad += !c->present || c->status != 200 || c->max_tokens != s.max_tokens[k] || n != s.max_tokens[k] ||
                      c->output_tokens != n || c->n_times != n || c->first != c->times[0];
        fields_bad += !(c->intended <= c->send && c->send <= c->first && c->times[n > 0 ? n - 1 : 0] <= c->done);
        for (int i = 0; i < n && i < c->n_times; i++) {
            early += c->times[i] < s.write_ns[k][i];
            if (i) {
                fields_bad += c->times[i] < c->times[i - 1];
                srv_gaps[n_gaps++] = s.write_ns[k][i] - s.write_ns[k][i - 1];
            }
        }
        if (n >= 2 && c->present) {
            uint64_t st = s.write_ns[k][0] - c->intended;
            srv_ttft_max = st > srv_ttft_max ? st : srv_ttft_max;
            trace_ttft_max = c->first - c->intended > trace_ttft_max ? c->first - c->intended : trace_ttft_max;
            srv_tpot[k - 1] = (s.write_ns[k][n - 1] - s.write_ns[k][0]) / (uint64_t)(n - 1);
        }
    }
    CHECK_EQ_U64(fields_bad, 0);
    CHECK_EQ_U64(early, 0);
    CHECK_EQ_U64(late, 0);
    CHECK_EQ_U64(g->output_tokens, tokens);
    CHECK_EQ_U64(g->usage_reported, N_REQ);
    CHECK_EQ_U64(g->prompt_tokens, 7 * N_REQ);
    CHECK_EQ_U64(g->without_tokens, 0);
    CHECK_EQ_U64(g->ttft.count, N_REQ);
    CHECK_EQ_U64(g->tpot.count, N_REQ); /* every max_tokens >= 3 */
    CHECK_EQ_U64(g->itl.count, itl_n);
    /* TTFT: the server waits D0 after reading the request, which comes after the send; the largest
     * is the trace's, and within G/2 of the server's first write. TPOT and ITL: every token within
     * [write, write + G/2] moves each request's TPOT and each gap by less than G/2, so their medians
     * stay within G/2 of the server's (sorting keeps an element-wise bound). e2e: at least
     * D0 + 2 G (3 tokens at least). The schedule itself (G) is the server's business: only checked
     * loosely, as a sanity check of the test server. */
    CHECK(g->ttft_send.p50 >= D0_NS && g->ttft.p50 >= g->ttft_send.p50);
    CHECK_EQ_U64(g->ttft.max, trace_ttft_max);
    CHECK(g->ttft.max >= srv_ttft_max && g->ttft.max <= srv_ttft_max + G_NS / 2);
    qsort(srv_tpot, N_REQ, sizeof *srv_tpot, cmp_u64);
    qsort(srv_gaps, n_gaps, sizeof *srv_gaps, cmp_u64);
    uint64_t tpot_med = srv_tpot[(N_REQ + 1) / 2 - 1], gap_med = srv_gaps[(n_gaps + 1) / 2 - 1]; /* nearest rank */
    CHECK_NEAR((double)g->tpot.p50, (double)tpot_med, (double)G_NS / 2);
    CHECK_NEAR((double)g->itl.p50, (double)gap_med, (double)G_NS / 2);
    CHECK_NEAR(gap_med, (double)G_NS, (double)G_NS / 2);
    CHECK(g->e2e.p50 >= D0_NS + 2 * G_NS);
    CHECK(g->output_tokens_per_s > 0);
    sp_load_result_destroy(r);
    unlink(trace);
    return true;
}

/* Request 1 succeeds; 2-6 fail in the five ways the server knows. */
static void test_failures(void)
{
    server s;
    server_start(&s, false, true);
    char trace[] = "/tmp/sp_load_stream_XXXXXX";
    close(mkstemp(trace));
    sp_load_result *r = run(&s, false, 6, 20.0, trace);
    server_stop(&s);
    if (!r)
        return;
    CHECK_EQ_U64(r->scheduled, 6);
    CHECK_EQ_U64(r->ok, 1);
    CHECK_EQ_U64(r->status_503, 1);
    CHECK_EQ_U64(r->responses, 2);           /* the 200 that streamed and the 503 */
    CHECK_EQ_U64(r->io_errors, 1);           /* closed mid-stream */
    CHECK_EQ_U64(r->stream_errors, 3);
    CHECK_EQ_U64(r->streamed.failed[SP_LOAD_STREAM_ERROR_EVENT], 1);
    CHECK_EQ_U64(r->streamed.failed[SP_LOAD_STREAM_NOT_SSE], 1);
    CHECK_EQ_U64(r->streamed.failed[SP_LOAD_STREAM_NO_DONE], 1);
    CHECK(strcmp(r->streamed.first_error, "error event: the engine died") == 0);
    CHECK_EQ_U64(r->streamed.ttft.count, 1); /* figures over successes only */
    CHECK_EQ_U64(r->streamed.output_tokens, (uint64_t)s.max_tokens[1]);
    static client_line cl[MAX_REQ + 1];
    memset(cl, 0, sizeof cl);
    CHECK_EQ_U64(read_trace(trace, cl, MAX_REQ + 1), 6);
    CHECK(cl[2].status == SP_LOAD_ERR_STREAM && strcmp(cl[2].stream_error, "error event") == 0);
    CHECK(cl[2].output_tokens == 2 && cl[2].n_times == 2); /* the tokens before the error */
    CHECK(cl[3].status == SP_LOAD_ERR_IO && cl[3].output_tokens == 2);
    CHECK(cl[4].status == SP_LOAD_ERR_STREAM && strcmp(cl[4].stream_error, "not an event stream") == 0);
    CHECK(cl[5].status == SP_LOAD_ERR_STREAM && strcmp(cl[5].stream_error, "no [DONE]") == 0);
    CHECK(cl[6].status == 503 && cl[6].output_tokens == 0 && cl[6].n_times == -1);
    sp_load_result_destroy(r);
    unlink(trace);
}

int main(void)
{
    for (int t = 0; t < 3 && !test_schedule(false, t == 2); t++) {
    }
    for (int t = 0; t < 3 && !test_schedule(true, t == 2); t++) {
    }
    test_failures();
    return sp_test_done("test_load_stream");
}
