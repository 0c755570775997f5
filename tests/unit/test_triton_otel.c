/* Triton's OpenTelemetry trace mode (--trace-config mode=opentelemetry) read from the Collector's file
 * exporter (format: json): tests/data/otlp/triton_otel.jsonl, written by hand in the layout Triton's
 * tracer writes (docs/triton.md, "OpenTelemetry mode"): an InferRequest span with HTTP_* events, a
 * span per model (model_name, model_version, request_id; REQUEST_START, QUEUE_START, REQUEST_END), a
 * "compute" span under it (COMPUTE_START .. COMPUTE_END). Times are B + the offsets below, in ns.
 *
 *   trace ..fc601 (req-1): HTTP recv 1000..1500, bert queue 2100, compute 5000 (input end 5400, output
 *                          start 9400) .. 9600, request end 9700, HTTP send 9800..9900
 *   trace ..fc602 (req-2): no HTTP events (its InferRequest span 2950..9660 is not read: the
 *                          timestamps give arrival and done), bert 3000, queue 3050, the same compute
 *                          window as req-1 (batched with it), request end 9650
 *   trace ..fc603 (no request_id): bert 6000, queue 6000, compute 10000..12000 (no input/output
 *                          events: one kernel), end 12100
 *   trace ..fc604 (req-4): ensemble "pipeline" 13000..20000 (HTTP 12500..12800, 20100..20300), its
 *                          composing "preprocess" (queue 13300, compute 13500/13600/14400/14500) and
 *                          "bert" (queue 14800, compute 15000/15500/19000/19500)
 *   trace ..fc605 (23.x attribute names triton.model_name ...): bert with no compute span, 21000
 *                          (queue 21100) .. 21500, HTTP 20800..20900 and 21600..21700
 *
 * The figures below are worked out by hand from these times with docs/triton.md's table and DESIGN
 * section 3; tests/data/triton/otel_twin.json holds the same requests in Triton's own mode, and must
 * give the same stage table. */
#include <stdlib.h>
#include <string.h>

#include "import_testutil.h"
#include "testlib.h"

#define B 1733580000000000000ull

static const sp_stage_row *stage(const sp_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_stages; i++)
        if (strcmp(r->stages[i].name, name) == 0)
            return &r->stages[i];
    return NULL;
}

static sp_report *analyze(sp_events *ev)
{
    char err[512];
    sp_report *rep = NULL;
    if (sp_analyze(ev, NULL, &rep, err, sizeof err) != SP_OK) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    return rep;
}

static const sp_ev_request *request_named(const sp_events *ev, const char *id)
{
    for (size_t i = 0; i < ev->n_requests; i++)
        if (strcmp(it_str(ev, ev->requests[i].id), id) == 0)
            return &ev->requests[i];
    return NULL;
}

/* The event model: requests, their ids and times, batches regrouped. */
static void test_model(void)
{
    char err[512];
    sp_status st;
    sp_events *ev = it_load_data("otlp", "triton_otel.jsonl", &st, err, sizeof err);
    CHECK(st == SP_OK);
    if (st)
        fprintf(stderr, "%s\n", err);
    CHECK_EQ_U64(ev->n_requests, 5);   /* one per trace: the ensemble's composing models are no requests */
    struct { const char *id; uint64_t arrival, done; } want[] = {
        {"req-1", 1000, 9900},    /* HTTP_RECV_START .. HTTP_SEND_END (InferRequest's events) */
        {"req-2", 3000, 9650},    /* REQUEST_START .. REQUEST_END (bert's events), not its span 2950..9660 */
        {"5b8efff798038103d269b633813fc603", 6000, 12100},   /* no request_id: the trace id */
        {"req-4", 12500, 20300},
        {"5b8efff798038103d269b633813fc605", 20800, 21700},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const sp_ev_request *q = request_named(ev, want[i].id);
        CHECK_MSG(q != NULL, "no request %s", want[i].id);
        if (!q)
            continue;
        CHECK_EQ_U64(q->arrival_ns, B + want[i].arrival);
        CHECK_EQ_U64(q->done_ns, B + want[i].done);
    }
    /* bert [5000, 9600] (req-1 + req-2), bert [10000, 12000], preprocess [13500, 14500], bert
     * [15000, 19500]: four batches; req-1 and req-2 ran in one */
    CHECK_EQ_U64(ev->n_batches, 4);
    size_t two = 0;
    for (size_t i = 0; i < ev->n_batches; i++)
        two += ev->batches[i].nmembers == 2;
    CHECK_EQ_U64(two, 1);
    /* the request keeps the root span's trace context (a client's traceparent joins it) */
    const sp_ev_request *q = request_named(ev, "req-1");
    CHECK(q && sp_ev_cold(ev, q)->trace != SP_EV_NONE);
    sp_events_destroy(ev);
}

/* The report's figures, by hand. Per request (ns): stage partition of [arrival, done]
 *   req-1: receive 500, queue 2900, h2d 400, kernel 4000, d2h 200, send 100, other 600 + 200 = 800
 *   req-2: queue 1950, h2d 400, kernel 4000, d2h 200, other 50 + 50 = 100
 *   fc603: queue 4000, kernel 2000, other 100
 *   req-4: receive 300, queue 200 + 200 + 300 (14500..14800, between its two batches: DESIGN 3) = 700,
 *          h2d 100 + 500, kernel 800 + 3500, d2h 100 + 500, send 200, other 500 + 600 = 1100
 *   fc605: receive 100, send 100, other 700 (no compute: no queue, no batch)
 * so the means over 5 requests: queue 9550/5 = 1910, kernel 14300/5 = 2860, h2d 1400/5 = 280,
 * d2h 1000/5 = 200, receive 900/5 = 180, send 400/5 = 80, other 2800/5 = 560 (the totals are checked). */
static void test_report(void)
{
    char err[512];
    sp_status st;
    sp_events *ev = it_load_data("otlp", "triton_otel.jsonl", &st, err, sizeof err);
    sp_report *rep = st == SP_OK ? analyze(ev) : NULL;
    CHECK(rep != NULL);
    if (!rep) {
        sp_events_destroy(ev);
        return;
    }
    CHECK_EQ_U64(rep->request_count, 5);
    CHECK_EQ_U64(rep->batch_count, 4);
    CHECK_EQ_U64(rep->latency.min_ns, 900);    /* fc605 */
    CHECK_EQ_U64(rep->latency.max_ns, 8900);   /* req-1 */
    struct { const char *name; uint64_t total; } want[] = {
        {"queue", 2900 + 1950 + 4000 + 700}, {"kernel", 4000 + 4000 + 2000 + 4300}, {"h2d", 400 + 400 + 600},
        {"d2h", 200 + 200 + 600}, {"receive", 500 + 300 + 100}, {"send", 100 + 200 + 100},
        {"other", 800 + 100 + 100 + 1100 + 700}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const sp_stage_row *row = stage(rep, want[i].name);
        CHECK_MSG(row != NULL, "no stage %s", want[i].name);
        if (row)
            CHECK_MSG(row->total_ns == want[i].total, "%s: %llu ns, want %llu", want[i].name,
                      (unsigned long long)row->total_ns, (unsigned long long)want[i].total);
    }
    /* device work once per batch: kernels 4000 + 2000 + 800 + 3500; busy = the four windows
     * 4600 + 2000 + 1000 + 4500 (copies are device activity too); span 5000 .. 19500 */
    CHECK_EQ_U64(rep->gpu.kernels, 4);
    CHECK_EQ_U64(rep->gpu.busy_ns, 12100);
    CHECK_EQ_U64(rep->gpu.span_ns, 14500);
    sp_report_destroy(rep);
    sp_events_destroy(ev);
}

/* The same requests written by Triton's own mode give the same stage table. */
static void test_same_as_triton_mode(void)
{
    char err[512];
    sp_status st1, st2;
    sp_events *a = it_load_data("otlp", "triton_otel.jsonl", &st1, err, sizeof err);
    sp_events *b = it_load_data("triton", "otel_twin.json", &st2, err, sizeof err);
    CHECK(st1 == SP_OK && st2 == SP_OK);
    sp_report *ra = st1 == SP_OK ? analyze(a) : NULL, *rb = st2 == SP_OK ? analyze(b) : NULL;
    CHECK(ra && rb);
    if (ra && rb) {
        CHECK_EQ_U64(ra->n_stages, rb->n_stages);
        for (size_t i = 0; i < ra->n_stages && i < rb->n_stages; i++) {
            const sp_stage_row *x = &ra->stages[i], *y = &rb->stages[i];
            CHECK_MSG(strcmp(x->name, y->name) == 0, "row %zu: %s vs %s", i, x->name, y->name);
            CHECK_MSG(x->total_ns == y->total_ns && x->q.p50_ns == y->q.p50_ns && x->q.p95_ns == y->q.p95_ns &&
                          x->q.p99_ns == y->q.p99_ns && x->share_p50 == y->share_p50 &&
                          x->share_p95 == y->share_p95 && x->share_p99 == y->share_p99,
                      "stage %s differs between the OpenTelemetry and the Triton mode file", x->name);
        }
        CHECK_EQ_U64(ra->batch_count, rb->batch_count);
        CHECK_EQ_U64(ra->gpu.busy_ns, rb->gpu.busy_ns);
    }
    sp_report_destroy(ra);
    sp_report_destroy(rb);
    sp_events_destroy(a);
    sp_events_destroy(b);
}

/* A Triton-layout trace: InferRequest, model span, compute span; `ev1`/`ev2` are the compute span's
 * events. */
#define TRITON_DOC(ev1, ev2)                                                                               \
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[\n"                                                  \
    "{\"traceId\":\"5b8efff798038103d269b633813fc601\",\"spanId\":\"eee19b7ec3c1b101\",\"name\":\"InferRequest\"," \
    "\"startTimeUnixNano\":\"100\",\"endTimeUnixNano\":\"900\"},\n"                                        \
    "{\"traceId\":\"5b8efff798038103d269b633813fc601\",\"spanId\":\"eee19b7ec3c1b102\",\"parentSpanId\":"  \
    "\"eee19b7ec3c1b101\",\"name\":\"m\",\"startTimeUnixNano\":\"200\",\"endTimeUnixNano\":\"800\","        \
    "\"attributes\":[{\"key\":\"model_name\",\"value\":{\"stringValue\":\"m\"}}],\"events\":["             \
    "{\"timeUnixNano\":\"200\",\"name\":\"REQUEST_START\"},{\"timeUnixNano\":\"210\",\"name\":\"QUEUE_START\"}," \
    "{\"timeUnixNano\":\"800\",\"name\":\"REQUEST_END\"}]},\n"                                              \
    "{\"traceId\":\"5b8efff798038103d269b633813fc601\",\"spanId\":\"eee19b7ec3c1b103\",\"parentSpanId\":"  \
    "\"eee19b7ec3c1b102\",\"name\":\"compute\",\"startTimeUnixNano\":\"300\",\"endTimeUnixNano\":\"700\"," \
    "\"events\":[" ev1 ",\n" ev2 "]}]}]}]}"

/* Malformed events name the file and the line (and column) of the event, or of the span. */
static void test_malformed_events(void)
{
    static const it_bad_input cases[] = {
        {TRITON_DOC("{\"name\":\"COMPUTE_START\"}", "{\"timeUnixNano\":\"700\",\"name\":\"COMPUTE_END\"}"),
         "o.json:4:186: span: event \"COMPUTE_START\": \"timeUnixNano\" is missing"},
        {TRITON_DOC("{\"timeUnixNano\":\"3e2\",\"name\":\"COMPUTE_START\"}",
                    "{\"timeUnixNano\":\"700\",\"name\":\"COMPUTE_END\"}"),
         "o.json:4:186: span: event \"COMPUTE_START\": \"timeUnixNano\" must be a non-negative integer"},
        {TRITON_DOC("{\"timeUnixNano\":\"x\",\"name\":\"custom\"}", "{\"timeUnixNano\":\"700\",\"name\":\"COMPUTE_END\"}"),
         "o.json:4:186: span: event: \"timeUnixNano\" must be a non-negative integer"},
        /* the end event before the start, in one span: the span's line */
        {TRITON_DOC("{\"timeUnixNano\":\"700\",\"name\":\"COMPUTE_START\"}",
                    "{\"timeUnixNano\":\"300\",\"name\":\"COMPUTE_END\"}"),
         "o.json:4:1: span: event COMPUTE_END (300) is before COMPUTE_START (700)"},
        /* across spans (QUEUE_START on the model span, COMPUTE_START on the compute span): the model span */
        {TRITON_DOC("{\"timeUnixNano\":\"205\",\"name\":\"COMPUTE_START\"}",
                    "{\"timeUnixNano\":\"700\",\"name\":\"COMPUTE_END\"}"),
         "o.json:3:1: model span \"m\" of trace 5b8efff798038103d269b633813fc601: COMPUTE_START (205) is before "
         "QUEUE_START (210)"},
        {TRITON_DOC("{\"timeUnixNano\":\"300\",\"name\":\"COMPUTE_START\"}", "7"),
         "o.json:5:1: span: \"events\" must hold"},
        /* two model spans, each the other's parent: no top level */
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[\n"
         "{\"traceId\":\"5b8efff798038103d269b633813fc611\",\"spanId\":\"0000000000000a01\",\"parentSpanId\":"
         "\"0000000000000a02\",\"startTimeUnixNano\":\"100\",\"endTimeUnixNano\":\"900\",\"attributes\":[{\"key\":"
         "\"model_name\",\"value\":{\"stringValue\":\"a\"}}],\"events\":[{\"timeUnixNano\":\"100\",\"name\":"
         "\"REQUEST_START\"}]},\n"
         "{\"traceId\":\"5b8efff798038103d269b633813fc611\",\"spanId\":\"0000000000000a02\",\"parentSpanId\":"
         "\"0000000000000a01\",\"startTimeUnixNano\":\"100\",\"endTimeUnixNano\":\"900\",\"attributes\":[{\"key\":"
         "\"model_name\",\"value\":{\"stringValue\":\"b\"}}]}]}]}]}",
         "o.json:2:1: model span \"a\" of trace 5b8efff798038103d269b633813fc611: parent span chain loops"},
    };
    it_expect_errors(SP_FORMAT_OTLP, "o.json", cases, sizeof cases / sizeof cases[0]);

    /* the same trace, well-formed, reads; under --lenient a malformed one is skipped and counted */
    char err[512];
    sp_events *ev;
    CHECK(it_load_text(SP_FORMAT_OTLP, "o.json",
                       TRITON_DOC("{\"timeUnixNano\":300,\"name\":\"COMPUTE_START\"}",
                                  "{\"timeUnixNano\":\"700\",\"name\":\"COMPUTE_END\"}"),
                       0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 1);
    CHECK_EQ_U64(ev->n_batches, 1);
    if (ev->n_requests == 1) {   /* REQUEST_START .. REQUEST_END */
        CHECK_EQ_U64(ev->requests[0].arrival_ns, 200);
        CHECK_EQ_U64(ev->requests[0].done_ns, 800);
    }
    sp_events_destroy(ev);
    CHECK(it_load_text(SP_FORMAT_OTLP, "o.json",
                       TRITON_DOC("{\"timeUnixNano\":\"205\",\"name\":\"COMPUTE_START\"}",
                                  "{\"timeUnixNano\":\"700\",\"name\":\"COMPUTE_END\"}"),
                       1, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 0);
    CHECK_EQ_U64(ev->files[0].skipped, 1);
    sp_events_destroy(ev);
}

/* A span with more events than the cap is malformed. */
static void test_event_cap(void)
{
    const char *head = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"5b8efff798038103d269b633813fc601\","
                       "\"spanId\":\"eee19b7ec3c1b101\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"events\":[";
    const char *one = "{\"timeUnixNano\":\"1\",\"name\":\"e\"},";
    size_t n = 4097, len = strlen(head) + n * strlen(one) + 16;
    char *text = malloc(len);
    if (!text)
        exit(1);
    strcpy(text, head);
    size_t at = strlen(head);
    for (size_t i = 0; i < n; i++, at += strlen(one))
        memcpy(text + at, one, strlen(one));
    strcpy(text + at - 1, "]}]}]}]}");
    char err[512];
    sp_events *ev;
    CHECK(it_load_text(SP_FORMAT_OTLP, "o.json", text, 0, &ev, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "more than 4096 events in one span") != NULL);
    sp_events_destroy(ev);
    /* 4096 are fine: a generic span's events are read and counted, nothing more */
    strcpy(text + at - 1 - strlen(one), "]}]}]}]}");
    CHECK(it_load_text(SP_FORMAT_OTLP, "o.json", text, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 1);
    sp_events_destroy(ev);
    free(text);
}

int main(void)
{
    test_model();
    test_report();
    test_same_as_triton_mode();
    test_malformed_events();
    test_event_cap();
    return sp_test_done("test_triton_otel");
}
