/* OTLP/JSON importer: the golden files in tests/data/otlp/ read back exactly into the event model
 * (expected values are the span times written in the files, mapped as docs/otlp.md says), vLLM's
 * gen_ai.latency.* attributes placed in time, several documents one per line, and malformed input
 * rejected with line:column (or skipped and counted under lenient). */
#include <stdlib.h>
#include <string.h>

#include "import_testutil.h"

static sp_events *load_file(const char *rel, sp_status *st, char *err, size_t errlen)
{
    return it_load_data("otlp", rel, st, err, errlen);
}

static sp_status load_text(const char *text, int lenient, sp_events **out, char *err, size_t errlen)
{
    return it_load_text(SP_FORMAT_OTLP, "o.json", text, lenient, out, err, errlen);
}

/* stages.jsonl: two documents (one per line), two traces sharing batch 5. */
static void test_stages(void)
{
    char err[512];
    sp_status st;
    sp_events *ev = load_file("stages.jsonl", &st, err, sizeof err);
    CHECK(st == SP_OK);
    CHECK(ev->n_files == 1 && ev->files[0].format == SP_FORMAT_OTLP);
    CHECK_EQ_U64(ev->n_requests, 2);
    if (ev->n_requests == 2) {
        /* requests come in trace-id order; the first trace's request is its root span */
        const sp_ev_request *a = &ev->requests[0], *b = &ev->requests[1];
        CHECK(strcmp(sp_str_get(&ev->strings, a->id), "0af7651916cd43dd8448eb211c80319c") == 0);
        CHECK_EQ_U64(a->arrival_ns, 1000);
        CHECK_EQ_U64(a->done_ns, 9000);
        CHECK(a->input_tokens == -1);
        /* the second trace's root is not in the file: its servprof.request span is the request */
        CHECK(strcmp(sp_str_get(&ev->strings, b->id), "4bf92f3577b34da6a3ce929d0e0e4736") == 0);
        CHECK_EQ_U64(b->arrival_ns, 2000);
        CHECK_EQ_U64(b->done_ns, 9500);
        CHECK_EQ_U64(b->input_tokens, 12);
    }
    /* tokenize -> preprocess (name), "batch wait" -> queue (servprof.stage), Detokenize -> postprocess
     * (name, any case); "infer" and "cache lookup" are no stages */
    CHECK_EQ_U64(ev->n_spans, 3);
    it_check_span(ev, 0, 0, "preprocess", 1100, 1600);
    it_check_span(ev, 1, 0, "queue", 1600, 3000);
    it_check_span(ev, 2, 0, "postprocess", 8000, 8800);
    CHECK_EQ_U64(ev->n_batches, 1);
    if (ev->n_batches == 1) {
        const sp_ev_batch *b = &ev->batches[0];
        CHECK(b->id == 5 && b->has_record);
        CHECK_EQ_U64(b->start_ns, 3000);   /* earliest start of the spans naming batch 5 */
        CHECK_EQ_U64(b->end_ns, 8200);     /* latest end */
        CHECK_EQ_U64(b->nmembers, 2);
        CHECK_EQ_U64(ev->members[b->first_member], 0);
        CHECK_EQ_U64(ev->members[b->first_member + 1], 1);
    }
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
}

/* vllm.json: vLLM's llm_request spans. Seconds are converted exactly (0.05 s = 50,000,000 ns). */
static void test_vllm(void)
{
    char err[512];
    sp_status st;
    sp_events *ev = load_file("vllm.json", &st, err, sizeof err);
    CHECK(st == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 2);
    const uint64_t s = 1700000000000000000ull, s2 = 1700000001000000000ull, ms = 1000000;
    if (ev->n_requests == 2) {
        CHECK_EQ_U64(ev->requests[0].arrival_ns, s);
        CHECK_EQ_U64(ev->requests[0].done_ns, s + 250 * ms);
        CHECK_EQ_U64(ev->requests[0].input_tokens, 37);
        CHECK_EQ_U64(ev->requests[1].arrival_ns, s2);
    }
    CHECK_EQ_U64(ev->n_spans, 6);
    /* first: TTFT 0.12 s puts the first token at +120 ms (vLLM measures TTFT from arrival); prefill
     * 0.06 s ends there (+60..+120), queue 0.05 s ends where prefill starts (+10..+60), decode 0.12 s
     * runs from the first token (+120..+240); the 10 ms from arrival to the queue are named by no
     * attribute (other) */
    it_check_span(ev, 0, 0, "queue", s + 10 * ms, s + 60 * ms);
    it_check_span(ev, 1, 0, "prefill", s + 60 * ms, s + 120 * ms);
    it_check_span(ev, 2, 0, "decode", s + 120 * ms, s + 240 * ms);
    /* its 7 completion tokens: the first at +120 ms, the last (index 6) at the end of decode */
    CHECK_EQ_U64(ev->n_tokens, 3);
    if (ev->n_tokens == 3) {
        CHECK_EQ_U64(ev->tokens[0].index, 0);
        CHECK_EQ_U64(ev->tokens[0].time_ns, s + 120 * ms);
        CHECK_EQ_U64(ev->tokens[1].index, 6);
        CHECK_EQ_U64(ev->tokens[1].time_ns, s + 240 * ms);
        /* second: no completion tokens: only its first token, at TTFT 0.03 s */
        CHECK_EQ_U64(ev->tokens[2].req, 1);
        CHECK_EQ_U64(ev->tokens[2].time_ns, s2 + 30 * ms);
    }
    /* second: no prefill/decode attributes: prefill = ttft - queue = 0.03 - 0.01, decode = e2e - ttft
     * = 0.1 - 0.03 */
    it_check_span(ev, 3, 1, "queue", s2, s2 + 10 * ms);
    it_check_span(ev, 4, 1, "prefill", s2 + 10 * ms, s2 + 30 * ms);
    it_check_span(ev, 5, 1, "decode", s2 + 30 * ms, s2 + 100 * ms);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
}

/* vllm_v1.json: two llm_request spans in the layout of vLLM's v1 engine (OutputProcessor.do_tracing,
 * vllm/v1/engine/output_processor.py: kind SERVER, start = arrival, the client's traceparent as parent,
 * TTFT from arrival, queue = scheduled - queued, prefill = first token - scheduled, decode = last token
 * - first token, inference = last token - scheduled; gen_ai.response.finish_reasons a JSON list as a
 * string). The second is what that code writes for a request that finished without a token (newer
 * vllm/v1/metrics/stats.py leaves first_token_latency and first/last_token_ts at their unset 0.0):
 * TTFT 0, prefill = inference = 0 - scheduled_ts (-4981.25 s), decode 0 - 0. Before, that negative
 * value made the whole file malformed. */
static void test_vllm_v1(void)
{
    char err[512];
    sp_status st;
    sp_events *ev = load_file("vllm_v1.json", &st, err, sizeof err);
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        sp_events_destroy(ev);
        return;
    }
    CHECK_EQ_U64(ev->n_requests, 2);
    const uint64_t s = 1760000000000000000ull, s2 = 1760000001000000000ull, ms = 1000000;
    if (ev->n_requests == 2) {
        /* trace-id order; each the earliest server span of its trace (its parent is the client's) */
        CHECK_EQ_U64(ev->requests[0].arrival_ns, s);
        CHECK_EQ_U64(ev->requests[0].done_ns, s + 256 * ms);
        CHECK_EQ_U64(ev->requests[0].input_tokens, 41);
        CHECK_EQ_U64(ev->requests[1].arrival_ns, s2);
        CHECK_EQ_U64(ev->requests[1].done_ns, s2 + 51 * ms);
        /* gen_ai.response.finish_reasons: ["length"] is ok, ["error"] (vLLM's FinishReason.ERROR, a
         * request-level internal error) an error */
        CHECK_EQ_U64(ev->requests[0].outcome, SP_OUTCOME_OK);
        CHECK_EQ_U64(ev->requests[1].outcome, SP_OUTCOME_ERROR);
    }
    /* first: TTFT 0.095 s: first token at +95 ms; prefill 0.07 ends there (+25..+95), queue 0.02 before
     * it (+5..+25), decode 0.16 from the first token (+95..+255); the last of 9 tokens (index 8) at
     * +255. Second: TTFT 0 with no completion token is no first token, the negative prefill is not
     * measured, so queue 0.03 s runs from arrival (+0..+30) and nothing else is placed (decode 0). */
    CHECK_EQ_U64(ev->n_spans, 4);
    it_check_span(ev, 0, 0, "queue", s + 5 * ms, s + 25 * ms);
    it_check_span(ev, 1, 0, "prefill", s + 25 * ms, s + 95 * ms);
    it_check_span(ev, 2, 0, "decode", s + 95 * ms, s + 255 * ms);
    it_check_span(ev, 3, 1, "queue", s2, s2 + 30 * ms);
    CHECK_EQ_U64(ev->n_tokens, 2);
    if (ev->n_tokens == 2) {
        CHECK(ev->tokens[0].req == 0 && ev->tokens[0].index == 0 && ev->tokens[0].time_ns == s + 95 * ms);
        CHECK(ev->tokens[1].req == 0 && ev->tokens[1].index == 8 && ev->tokens[1].time_ns == s + 255 * ms);
    }
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
}

/* vllm_v0.json: two llm_request spans in the layout of vLLM's v0 engine (LLMEngine.create_trace_span,
 * vllm/engine/llm_engine.py: root SERVER span from arrival; time_in_queue = first scheduled - arrival,
 * TTFT and e2e from arrival, time_in_scheduler, and with --collect-detailed-traces
 * time_in_model_forward / _execute; no prefill or decode attribute; completion_tokens summed over the
 * finished sequences, gen_ai.usage.num_sequences their number). The second has n = 2: its 20
 * completion tokens are two sequences' while decode (e2e - TTFT = 0.18 s) ends with the longer one,
 * so it gets no last token; before, its last token (index 19) gave a TPOT of 180 / 19 = 9.47 ms, half
 * the per-sequence figure. */
static void test_vllm_v0(void)
{
    char err[512];
    sp_status st;
    sp_events *ev = load_file("vllm_v0.json", &st, err, sizeof err);
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        sp_events_destroy(ev);
        return;
    }
    const uint64_t s = 1720000000000000000ull, s2 = 1720000001000000000ull, ms = 1000000;
    CHECK_EQ_U64(ev->n_requests, 2);
    /* first: prefill = TTFT - queue = 0.045 s ending at the first token (+60 ms), queue 0.015 from
     * arrival, decode = e2e - TTFT = 0.12 s; second: queue 0.01, prefill 0.04, decode 0.18 */
    CHECK_EQ_U64(ev->n_spans, 6);
    it_check_span(ev, 0, 0, "queue", s, s + 15 * ms);
    it_check_span(ev, 1, 0, "prefill", s + 15 * ms, s + 60 * ms);
    it_check_span(ev, 2, 0, "decode", s + 60 * ms, s + 180 * ms);
    it_check_span(ev, 3, 1, "queue", s2, s2 + 10 * ms);
    it_check_span(ev, 4, 1, "prefill", s2 + 10 * ms, s2 + 50 * ms);
    it_check_span(ev, 5, 1, "decode", s2 + 50 * ms, s2 + 230 * ms);
    /* first: tokens 0 (+60) and 6 (+180): TPOT 120 / 6 = 20 ms; second: only its first token (+50) */
    CHECK_EQ_U64(ev->n_tokens, 3);
    if (ev->n_tokens == 3) {
        CHECK(ev->tokens[0].req == 0 && ev->tokens[0].index == 0 && ev->tokens[0].time_ns == s + 60 * ms);
        CHECK(ev->tokens[1].req == 0 && ev->tokens[1].index == 6 && ev->tokens[1].time_ns == s + 180 * ms);
        CHECK(ev->tokens[2].req == 1 && ev->tokens[2].index == 0 && ev->tokens[2].time_ns == s2 + 50 * ms);
    }
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
}

/* vLLM's finish reasons as outcomes, one trace each (trace ids in order): ["abort"] cancelled, a bare
 * "stop" ok, ["stop","error"] error, a servprof.outcome beside them wins, and a value that is not a
 * string (the semantic conventions' string array) is ignored, never malformed. */
static void test_vllm_finish_reasons(void)
{
#define FR_SPAN(tid, attrs) "{\"traceId\":\"" tid "\",\"spanId\":\"b7ad6b7169203331\",\"name\":\"llm_request\"," \
    "\"kind\":2,\"startTimeUnixNano\":\"1000\",\"endTimeUnixNano\":\"2000\",\"attributes\":[" attrs "]}"
#define FR(v) "{\"key\":\"gen_ai.response.finish_reasons\",\"value\":" v "}"
    const char *text = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        FR_SPAN("10000000000000000000000000000001", FR("{\"stringValue\":\"[\\\"abort\\\"]\"}")) ","
        FR_SPAN("10000000000000000000000000000002", FR("{\"stringValue\":\"stop\"}")) ","
        FR_SPAN("10000000000000000000000000000003", FR("{\"stringValue\":\"[\\\"stop\\\", \\\"error\\\"]\"}")) ","
        FR_SPAN("10000000000000000000000000000004", FR("{\"stringValue\":\"[\\\"abort\\\"]\"}")
                ",{\"key\":\"servprof.outcome\",\"value\":{\"stringValue\":\"rejected\"}}") ","
        FR_SPAN("10000000000000000000000000000005", FR("{\"arrayValue\":{\"values\":[{\"stringValue\":\"abort\"}]}}"))
        "]}]}]}";
#undef FR
#undef FR_SPAN
    char err[512];
    sp_events *ev;
    CHECK(load_text(text, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 5);
    if (ev->n_requests == 5) {
        CHECK_EQ_U64(ev->requests[0].outcome, SP_OUTCOME_CANCELLED);
        CHECK_EQ_U64(ev->requests[1].outcome, SP_OUTCOME_OK);
        CHECK_EQ_U64(ev->requests[2].outcome, SP_OUTCOME_ERROR);
        CHECK_EQ_U64(ev->requests[3].outcome, SP_OUTCOME_REJECTED);
        CHECK_EQ_U64(ev->requests[4].outcome, SP_OUTCOME_OK);
    }
    sp_events_destroy(ev);
}

#define SPAN(extra) "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" extra "}]}]}]}"
#define IDS "\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\","

static void test_malformed(void)
{
    static const it_bad_input cases[] = {
        {SPAN("\"traceId\":\"xyz\",\"spanId\":\"b7ad6b7169203331\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\""),
         "o.json:1:44: span: \"traceId\" must be 32 hex digits"},
        {SPAN(IDS "\"startTimeUnixNano\":\"9\",\"endTimeUnixNano\":\"2\""), "endTimeUnixNano (2) is before"},
        {SPAN(IDS "\"endTimeUnixNano\":\"2\""), "missing \"startTimeUnixNano\""},
        {SPAN(IDS "\"startTimeUnixNano\":\"1.5\",\"endTimeUnixNano\":\"2\""), "must be a non-negative integer"},
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"attributes\":[{\"key\":"
              "\"gen_ai.latency.time_in_queue\",\"value\":{\"stringValue\":\"soon\"}}]"),
         "gen_ai.latency.time_in_queue must be a number of seconds"},
        {"{\"resourceSpans\":{}}", "o.json:1:18: \"resourceSpans\" must be an array"},
        /* a member read here given twice: which start is the span's? */
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"5\",\"startTimeUnixNano\":\"3\""),
         "o.json:1:44: span: \"startTimeUnixNano\" given twice in one span"},
        {"[1]", "o.json:1:1: expected an OTLP/JSON document"},
        {"{\"resourceSpans\":[\n{\"scopeSpans\":[{\"spans\":[{\"traceId\":", "o.json: line 2"},
        {"", "no OTLP/JSON document"},
    };
    it_expect_errors(SP_FORMAT_OTLP, "o.json", cases, sizeof cases / sizeof cases[0]);
}

/* Ids in base64, as generic protobuf JSON encoders write bytes fields: the same trace as in hex (the
 * base64 texts below are Python's base64.b64encode / urlsafe_b64encode of the hex ids' bytes). */
static void test_base64_ids(void)
{
    const char *hex =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\",\"kind\":2,"
        "\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"50\"},"
        "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"fbffbffbffbffbff\",\"name\":\"queue\","
        "\"parentSpanId\":\"b7ad6b7169203331\",\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"20\"}]}]}]}";
    const char *b64 =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"CvdlGRbNQ92ESOshHIAxnA==\",\"spanId\":\"t61rcWkgMzE=\",\"kind\":2,"
        "\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"50\"},"
        "{\"traceId\":\"CvdlGRbNQ92ESOshHIAxnA\",\"spanId\":\"-_-_-_-_-_8\",\"name\":\"queue\","
        "\"parentSpanId\":\"t61rcWkgMzE\",\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"20\"}]}]}]}";
    char err[512];
    sp_events *a, *b;
    CHECK(load_text(hex, 0, &a, err, sizeof err) == SP_OK);
    CHECK(load_text(b64, 0, &b, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(a->n_requests, 1);
    CHECK_EQ_U64(b->n_requests, 1);
    if (a->n_requests == 1 && b->n_requests == 1) {
        CHECK(strcmp(sp_str_get(&b->strings, b->requests[0].id), "0af7651916cd43dd8448eb211c80319c") == 0);
        CHECK_EQ_U64(b->requests[0].arrival_ns, 10);
        CHECK_EQ_U64(b->requests[0].done_ns, 50);
    }
    /* the queue span's parent (base64, unpadded) is the request span: it is a stage of the request */
    CHECK_EQ_U64(b->n_spans, 1);
    if (b->n_spans == 1)
        it_check_span(b, 0, 0, "queue", 10, 20);
    sp_events_destroy(a);
    sp_events_destroy(b);
    static const it_bad_input cases[] = {
        /* 24 characters, one not base64 */
        {SPAN("\"traceId\":\"CvdlGRbNQ92ESOshHIAx*A==\",\"spanId\":\"b7ad6b7169203331\",\"startTimeUnixNano\":\"1\","
              "\"endTimeUnixNano\":\"2\""), "o.json:1:44: span: \"traceId\" must be 32 hex digits (or 16 bytes in base64)"},
        /* the last digit carries bits beyond the 8 bytes ('F' = 000101: not canonical) */
        {SPAN("\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"t61rcWkgMzF=\",\"startTimeUnixNano\":\"1\","
              "\"endTimeUnixNano\":\"2\""), "\"spanId\" must be 16 hex digits (or 8 bytes in base64)"},
        /* padding where a digit belongs */
        {SPAN("\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"t61rcWkgM===\",\"startTimeUnixNano\":\"1\","
              "\"endTimeUnixNano\":\"2\""), "\"spanId\" must be 16 hex digits"},
    };
    it_expect_errors(SP_FORMAT_OTLP, "o.json", cases, sizeof cases / sizeof cases[0]);
}

static void test_lenient(void)
{
    const char *text =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[\n"
        "{" IDS "\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"50\"},\n"
        "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b71692033\",\"name\":\"queue\","
        "\"parentSpanId\":\"b7ad6b7169203331\",\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"20\"}]}]}]}";
    char err[512];
    sp_events *ev;
    CHECK(load_text(text, 0, &ev, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "o.json:3:1: span: \"spanId\" must be 16 hex digits") != NULL);
    sp_events_destroy(ev);
    CHECK(load_text(text, 1, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->files[0].skipped, 1);
    CHECK_EQ_U64(ev->n_requests, 1);
    CHECK_EQ_U64(ev->n_spans, 0);
    sp_events_destroy(ev);
}

int main(void)
{
    test_stages();
    test_vllm();
    test_vllm_v0();
    test_vllm_v1();
    test_vllm_finish_reasons();
    test_malformed();
    test_base64_ids();
    test_lenient();
    return sp_test_done("test_otlp_import");
}
