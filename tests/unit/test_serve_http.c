/* servprof serve end to end on 127.0.0.1 with an ephemeral port, driven by libcurl: 200 and the
 * OpenAI response shape, 400, 405, 413, 404, 503 with Retry-After when the queue is full, a client
 * that leaves mid-request, and the recorded trace: every served request with its stages, batches
 * and operations, the traceparent / X-Request-Id used as the request's id, and every other
 * /v1/embeddings request with its outcome and status (errors, the client that left, the 503, a
 * connection the front door refused at the per-address cap). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve_testutil.h"
#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED) || !defined(SP_HAVE_CURL)
int main(void) { return 77; }
#else
#include <curl/curl.h>
#include <jansson.h>

#include "curl_testutil.h"

#include "model/events_int.h"
#include "servprof/serve.h"

typedef struct reply {
    long status;
    char body[1 << 16];
    size_t len;
    char request_id[300];
    char retry_after[32];
    char allow[64];
} reply;

static size_t on_body(char *p, size_t sz, size_t n, void *user)
{
    reply *r = user;
    size_t k = sz * n;
    if (r->len + k < sizeof(r->body)) {
        memcpy(r->body + r->len, p, k);
        r->len += k;
        r->body[r->len] = 0;
    }
    return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *user)
{
    reply *r = user;
    ct_header_value(p, sz * n, "X-Request-Id", r->request_id, sizeof(r->request_id));
    ct_header_value(p, sz * n, "Retry-After", r->retry_after, sizeof(r->retry_after));
    ct_header_value(p, sz * n, "Allow", r->allow, sizeof(r->allow));
    return sz * n;
}

static CURL *make_easy(unsigned port, const char *method, const char *path, const char *body, size_t body_len,
                       const char *header, reply *r, struct curl_slist **hl)
{
    memset(r, 0, sizeof(*r));
    CURL *c = ct_easy(port, path, body, body_len, header, 20L, on_body, on_header, r, hl);
    if (method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    return c;
}

static long do_request(unsigned port, const char *method, const char *path, const char *body, const char *header,
                       reply *r)
{
    struct curl_slist *hl;
    CURL *c = make_easy(port, method, path, body, body ? strlen(body) : 0, header, r, &hl);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    else
        fprintf(stderr, "curl: %s\n", curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    return r->status;
}

/* Checks the OpenAI embeddings response shape; returns the parsed body (caller frees). */
static json_t *check_shape(const reply *r, size_t n_inputs, size_t hidden, long tokens)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    CHECK(j != NULL);
    if (!j)
        return NULL;
    CHECK(strcmp(json_string_value(json_object_get(j, "object")), "list") == 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "model")), "servprof-encoder") == 0);
    json_t *data = json_object_get(j, "data");
    CHECK_EQ_U64(json_array_size(data), n_inputs);
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *d = json_array_get(data, i);
        CHECK(strcmp(json_string_value(json_object_get(d, "object")), "embedding") == 0);
        CHECK_EQ_U64(json_integer_value(json_object_get(d, "index")), i);
        CHECK_EQ_U64(json_array_size(json_object_get(d, "embedding")), hidden);
    }
    json_t *usage = json_object_get(j, "usage");
    if (tokens >= 0) {
        CHECK_EQ_U64(json_integer_value(json_object_get(usage, "prompt_tokens")), tokens);
        CHECK_EQ_U64(json_integer_value(json_object_get(usage, "total_tokens")), tokens);
    }
    return j;
}

static double emb_diff(json_t *a, size_t ia, json_t *b, size_t ib)
{
    json_t *ea = json_object_get(json_array_get(json_object_get(a, "data"), ia), "embedding");
    json_t *eb = json_object_get(json_array_get(json_object_get(b, "data"), ib), "embedding");
    double m = 0;
    for (size_t i = 0; i < json_array_size(ea); i++) {
        double d = fabs(json_number_value(json_array_get(ea, i)) - json_number_value(json_array_get(eb, i)));
        m = d > m ? d : m;
    }
    return json_array_size(ea) == json_array_size(eb) && json_array_size(ea) > 0 ? m : 1e9;
}

static sp_server_options small_options(void)
{
    sp_server_options o;
    sp_test_small_server(&o, 32);
    o.max_batch = 4;
    o.max_queue_delay_ms = 0.5;
    o.max_body = 4096;
    return o;
}

/* Is there a request with this text id in the loaded trace? */
static int trace_has_id(sp_events *ev, const char *id)
{
    for (size_t i = 0; i < ev->n_requests; i++)
        if (sp_ev_id_is(ev, &ev->requests[i], id, strlen(id)) && ev->requests[i].has_record)
            return 1;
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char trace[512], err[1024] = "";
    snprintf(trace, sizeof(trace), "%s/tests/serve_http_%d.sptrace", SP_BUILD_DIR, (int)getpid());
    sp_recorder *rec = NULL;
    CHECK(sp_recorder_open(trace, NULL, &rec) == SP_OK);

    sp_server_options o = small_options();
    o.recorder = rec;
    sp_server *srv = NULL;
    sp_status st = sp_server_start(&o, &srv, err, sizeof(err));
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        fprintf(stderr, "start: %s\n", err);
        return sp_test_done("test_serve_http");
    }
    unsigned port = sp_server_port(srv);
    CHECK(port > 0);
    reply r;
    long served = 0;

    /* 200: one string. "Hello, World!" is 8 tokens ([CLS] hell ##o , wor ##ld ! [SEP], see
     * test_tokenizer). The traceparent's trace id becomes the request id. */
    const char *trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", "{\"input\":\"Hello, World!\",\"model\":\"x\"}",
                            "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &r),
                 200);
    served++;
    CHECK(strcmp(r.request_id, trace_id) == 0);
    json_t *one = check_shape(&r, 1, 32, 8);

    /* 200: a list of strings, with an X-Request-Id; the same text gives the same embedding when
     * batched with longer inputs (padding is masked) */
    CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings",
                            "{\"input\":[\"the quick brown fox jumps over the lazy dog again and again\","
                            "\"Hello, World!\",\"x\"],\"encoding_format\":\"float\"}",
                            "X-Request-Id: client-req-42", &r),
                 200);
    served++;
    CHECK(strcmp(r.request_id, "client-req-42") == 0);
    json_t *three = check_shape(&r, 3, 32, -1);
    if (one && three)
        CHECK(emb_diff(one, 0, three, 1) <= 1e-5);
    json_decref(one);
    json_decref(three);

    /* a malformed traceparent is ignored: the server's own numeric id is echoed */
    CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", "{\"input\":\"a\"}", "traceparent: 00-zz-yy-01", &r), 200);
    served++;
    CHECK(r.request_id[0] >= '1' && r.request_id[0] <= '9');

    /* 400s */
    CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", "{\"input\": [\"a\",}", NULL, &r), 400);
    CHECK(strstr(r.body, "not valid JSON") != NULL);
    CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", "{\"input\": 5}", NULL, &r), 400);
    CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", "{\"input\": []}", NULL, &r), 400);
    CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", "{\"text\": \"a\"}", NULL, &r), 400);
    CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", "[\"a\"]", NULL, &r), 400);
    CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", "{\"input\":\"a\",\"encoding_format\":\"base64\"}", NULL,
                            &r),
                 400);
    /* 405, 404, healthz */
    CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", NULL, NULL, &r), 405);
    CHECK(strcmp(r.allow, "POST") == 0);
    CHECK_EQ_U64(do_request(port, NULL, "/healthz", "{}", NULL, &r), 405);
    CHECK_EQ_U64(do_request(port, NULL, "/v2/nothing", NULL, NULL, &r), 404);
    CHECK_EQ_U64(do_request(port, NULL, "/healthz", NULL, NULL, &r), 200);
    CHECK(strstr(r.body, "\"ok\"") != NULL);
    /* 413: a body over --max-body (4096), announced by Content-Length */
    {
        size_t big = 10000;
        char *body = malloc(big + 1);
        memset(body, 'a', big);
        memcpy(body, "{\"input\":\"", 10);
        memcpy(body + big - 2, "\"}", 2);
        body[big] = 0;
        CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", body, NULL, &r), 413);
        /* and sent chunked, without a Content-Length */
        CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", body, "Transfer-Encoding: chunked", &r), 413);
        free(body);
    }
    /* a client that leaves halfway through its body: the server notices and keeps serving */
    {
        sp_server_stats before;
        sp_server_get_stats(srv, &before);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
        const char *half = "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"input\":";
        CHECK(write(fd, half, strlen(half)) == (ssize_t)strlen(half));
        /* leave only once the server has the request (its headers are in), then vanish */
        sp_server_stats now = before;
        uint64_t deadline = sp_now_ns() + 10000000000ull;
        while (now.requests == before.requests && sp_now_ns() < deadline) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL); /* polling an observable counter, bounded by the deadline */
            sp_server_get_stats(srv, &now);
        }
        close(fd);
        deadline = sp_now_ns() + 10000000000ull;
        while (now.client_gone == before.client_gone && sp_now_ns() < deadline) {
            CHECK_EQ_U64(do_request(port, NULL, "/healthz", NULL, NULL, &r), 200);
            sp_server_get_stats(srv, &now);
        }
        CHECK_EQ_U64(now.client_gone, before.client_gone + 1);
    }
    sp_server_stats s;
    sp_server_get_stats(srv, &s);
    CHECK_EQ_U64(s.ok, (uint64_t)served);
    CHECK_EQ_U64(s.bad_request, 6);
    CHECK_EQ_U64(s.bad_method, 2);
    CHECK_EQ_U64(s.not_found, 1);
    CHECK_EQ_U64(s.too_large, 2);
    CHECK(s.batches >= 3);
    CHECK(s.padded_tokens >= s.effective_tokens);
    sp_server_destroy(srv);
    CHECK(sp_recorder_close(rec) == SP_OK);

    /* the trace: each served request with its label as id, preprocess/queue/postprocess spans,
     * batches and per-operation kernels (embed + 8 per layer + pool) */
    {
        sp_events *ev;
        CHECK(sp_events_create(&ev) == SP_OK);
        st = sp_events_load_file(ev, trace, NULL, err, sizeof(err));
        CHECK(st == SP_OK);
        if (st != SP_OK)
            fprintf(stderr, "load: %s\n", err);
        sp_events_summary sum;
        sp_events_summarize(ev, &sum);
        /* every /v1/embeddings request is recorded (DESIGN 8a): the 3 served, the 6 answered 400,
         * the 405 and the two 413s, and the client that left; not /healthz or the 404 */
        CHECK_EQ_U64(sum.requests, (uint64_t)served + 6 + 1 + 2 + 1);
        /* three spans per served request, and the preprocess span of each 400 (its parse) */
        CHECK_EQ_U64(sum.stage_spans, 3 * (uint64_t)served + 6);
        uint64_t by_outcome[SP_OUTCOME_COUNT] = {0}, by_status[600] = {0};
        for (size_t i = 0; i < ev->n_requests; i++) {
            const sp_ev_request *q = &ev->requests[i];
            by_outcome[q->outcome]++;
            if (q->outcome != SP_OUTCOME_OK && q->status > 0 && q->status < 600)
                by_status[q->status]++;
            CHECK(q->has_record && q->done_ns >= q->arrival_ns);
        }
        CHECK_EQ_U64(by_outcome[SP_OUTCOME_OK], (uint64_t)served);
        CHECK_EQ_U64(by_outcome[SP_OUTCOME_ERROR], 6 + 1 + 2);
        CHECK_EQ_U64(by_outcome[SP_OUTCOME_CANCELLED], 1);
        CHECK_EQ_U64(by_outcome[SP_OUTCOME_REJECTED], 0);
        CHECK_EQ_U64(by_status[400], 6);
        CHECK_EQ_U64(by_status[405], 1);
        CHECK_EQ_U64(by_status[413], 2);
        CHECK(sum.batches >= 3);
        CHECK_EQ_U64(sum.kernels, sum.batches * (2 + 8 * 1));
        CHECK_EQ_U64(sum.copies, 0); /* on the CPU there is no copy, and none is invented */
        CHECK(trace_has_id(ev, trace_id));
        CHECK(trace_has_id(ev, "client-req-42"));
        sp_events_destroy(ev);
        unlink(trace);
    }

    /* 503 when the queue is full: a second server whose batches wait up to a minute for company
     * (max_batch 16, one waiting request), with room for one waiting request; recorded, so the trace
     * shows the rejection and the waiting request that stop still answers */
    {
        sp_server_options o2 = small_options();
        o2.max_batch = 16;
        o2.max_queue_delay_ms = 60000;
        o2.queue_capacity = 1;
        CHECK(sp_recorder_open(trace, NULL, &rec) == SP_OK);
        o2.recorder = rec;
        CHECK(sp_server_start(&o2, &srv, err, sizeof(err)) == SP_OK);
        port = sp_server_port(srv);
        reply first;
        struct curl_slist *hl;
        CURL *c = make_easy(port, NULL, "/v1/embeddings", "{\"input\":\"waiting\"}", 19, NULL, &first, &hl);
        CURLM *m = curl_multi_init();
        curl_multi_add_handle(m, c);
        int running = 1;
        sp_server_stats s2 = {0};
        uint64_t deadline = sp_now_ns() + 10000000000ull;
        while (s2.queue_depth == 0 && sp_now_ns() < deadline) {
            curl_multi_perform(m, &running);
            curl_multi_poll(m, NULL, 0, 5, NULL);
            sp_server_get_stats(srv, &s2);
        }
        CHECK_EQ_U64(s2.queue_depth, 1);
        CHECK_EQ_U64(do_request(port, NULL, "/v1/embeddings", "{\"input\":\"no room\"}", NULL, &r), 503);
        CHECK(strcmp(r.retry_after, "1") == 0);
        /* stop answers the waiting request instead of dropping it */
        sp_server_stop(srv);
        deadline = sp_now_ns() + 10000000000ull;
        while (running && sp_now_ns() < deadline) {
            curl_multi_perform(m, &running);
            curl_multi_poll(m, NULL, 0, 5, NULL);
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &first.status);
        CHECK_EQ_U64(first.status, 200);
        json_decref(check_shape(&first, 1, 32, -1));
        curl_multi_remove_handle(m, c);
        curl_easy_cleanup(c);
        curl_multi_cleanup(m);
        curl_slist_free_all(hl);
        sp_server_get_stats(srv, &s2);
        CHECK_EQ_U64(s2.rejected_full, 1);
        sp_server_destroy(srv);
        CHECK(sp_recorder_close(rec) == SP_OK);
        /* the trace: the rejected request with its record, outcome and status, and the waiting one
         * answered at stop as an ok request with all three stages; analysed without --lenient */
        sp_events *ev;
        CHECK(sp_events_create(&ev) == SP_OK);
        CHECK(sp_events_load_file(ev, trace, NULL, err, sizeof(err)) == SP_OK);
        sp_report *rep = NULL;
        CHECK(sp_analyze(ev, NULL, &rep, err, sizeof(err)) == SP_OK);
        if (rep) {
            CHECK_EQ_U64(rep->requests_total, 2);
            CHECK_EQ_U64(rep->request_count, 1);
            CHECK_EQ_U64(rep->outcomes[SP_OUTCOME_OK].count, 1);
            CHECK_EQ_U64(rep->outcomes[SP_OUTCOME_REJECTED].count, 1);
            CHECK_EQ_U64(rep->outcomes[SP_OUTCOME_REJECTED].latency.count, 1);
            CHECK_NEAR(rep->rejection_rate, 0.5, 1e-12);
            CHECK(rep->n_statuses == 1 && rep->statuses[0].status == 503 && rep->statuses[0].count == 1);
            CHECK_EQ_U64(rep->unclean_files, 0);
        }
        sp_report_destroy(rep);
        sp_events_destroy(ev);
        unlink(trace);
    }
    /* a connection the front door refuses at the per-address cap (503 before any request is read) is
     * a rejected request in the trace too, with its status and no spans */
    {
        sp_server_options o3 = small_options();
        o3.max_connections_per_ip = 1;
        CHECK(sp_recorder_open(trace, NULL, &rec) == SP_OK);
        o3.recorder = rec;
        CHECK(sp_server_start(&o3, &srv, err, sizeof(err)) == SP_OK);
        port = sp_server_port(srv);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int held = socket(AF_INET, SOCK_STREAM, 0), refused = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(connect(held, (struct sockaddr *)&a, sizeof(a)) == 0);
        /* the held one is counted once the server has accepted it: wait for that, bounded */
        sp_server_stats s3 = {0};
        uint64_t deadline = sp_now_ns() + 10000000000ull;
        while (s3.connections_accepted == 0 && sp_now_ns() < deadline) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL); /* polling an observable counter, bounded by the deadline */
            sp_server_get_stats(srv, &s3);
        }
        CHECK(connect(refused, (struct sockaddr *)&a, sizeof(a)) == 0);
        char ans[512] = "";
        ssize_t got = recv(refused, ans, sizeof(ans) - 1, 0); /* the server answers and closes */
        CHECK(got > 12 && strncmp(ans, "HTTP/1.1 503", 12) == 0);
        close(refused);
        close(held);
        sp_server_get_stats(srv, &s3);
        CHECK_EQ_U64(s3.connections_refused_per_ip, 1);
        sp_server_destroy(srv);
        CHECK(sp_recorder_close(rec) == SP_OK);
        sp_events *ev;
        CHECK(sp_events_create(&ev) == SP_OK);
        CHECK(sp_events_load_file(ev, trace, NULL, err, sizeof(err)) == SP_OK);
        sp_report *rep = NULL;
        CHECK(sp_analyze(ev, NULL, &rep, err, sizeof(err)) == SP_OK);
        if (rep) {
            CHECK_EQ_U64(rep->requests_total, 1);
            CHECK_EQ_U64(rep->outcomes[SP_OUTCOME_REJECTED].count, 1);
            CHECK(rep->n_statuses == 1 && rep->statuses[0].status == 503);
        }
        CHECK_EQ_U64(ev->n_spans, 0);
        sp_report_destroy(rep);
        sp_events_destroy(ev);
        unlink(trace);
    }
    /* start failures: a bad option and a missing tokenizer, each with a message */
    {
        sp_server_options bad = small_options();
        bad.heads = 5;
        err[0] = 0;
        CHECK(sp_server_start(&bad, &srv, err, sizeof(err)) == SP_ERR_INVALID);
        CHECK(strstr(err, "heads") != NULL);
        bad = small_options();
        bad.tokenizer_path = "/nonexistent/tokenizer.json";
        CHECK(sp_server_start(&bad, &srv, err, sizeof(err)) == SP_ERR_IO);
        CHECK(strstr(err, "/nonexistent/tokenizer.json") != NULL);
    }
    curl_global_cleanup();
    return sp_test_done("test_serve_http");
}
#endif
