/* OTLP/JSON importer: the golden files in tests/data/otlp/ read back exactly into the event model
 * (expected values are the span times written in the files, mapped as docs/otlp.md says), vLLM's
 * gen_ai.latency.* attributes placed in time, several documents one per line, and malformed input
 * rejected with line:column (or skipped and counted under lenient). */
#include <stdio.h>
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
        CHECK(sp_ev_req_input_tokens(ev, a) == -1);
        /* the second trace's root is not in the file: its servprof.request span is the request */
        CHECK(strcmp(sp_str_get(&ev->strings, b->id), "4bf92f3577b34da6a3ce929d0e0e4736") == 0);
        CHECK_EQ_U64(b->arrival_ns, 2000);
        CHECK_EQ_U64(b->done_ns, 9500);
        CHECK_EQ_U64(sp_ev_req_input_tokens(ev, b), 12);
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
        CHECK_EQ_U64(sp_ev_req_input_tokens(ev, &ev->requests[0]), 37);
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
        CHECK_EQ_U64(sp_ev_req_input_tokens(ev, &ev->requests[0]), 41);
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

/* status.jsonl: a generic service's traces (one document per line, as the Collector's file exporter
 * writes), each request's outcome from what its request span says, by docs/otlp.md "Outcomes"
 * (expected values hand-derived from that table; trace ids ...01 to ...11 in order). Before, only
 * servprof.outcome and vLLM's finish reasons counted: the HTTP 500/503/429/404, the gRPC codes and
 * the span status ERROR all read as ok. */
static void test_status(void)
{
    static const struct { uint8_t outcome; int32_t status; const char *why; } want[] = {
        {SP_OUTCOME_OK, 200, "200, status unset"},
        {SP_OUTCOME_ERROR, 0, "status ERROR and nothing more"},
        {SP_OUTCOME_ERROR, 500, "500"},
        {SP_OUTCOME_REJECTED, 503, "503 (with ERROR): the HTTP status says which failure"},
        {SP_OUTCOME_REJECTED, 429, "429, status unset (a 4xx on a server span)"},
        {SP_OUTCOME_ERROR, 404, "404, status unset"},
        {SP_OUTCOME_CANCELLED, 0, "gRPC CANCELLED"},
        {SP_OUTCOME_ERROR, 0, "gRPC DEADLINE_EXCEEDED"},
        {SP_OUTCOME_REJECTED, 0, "gRPC RESOURCE_EXHAUSTED"},
        {SP_OUTCOME_REJECTED, 0, "gRPC UNAVAILABLE"},
        {SP_OUTCOME_OK, 200, "an exception event on a served request"},
        {SP_OUTCOME_ERROR, 200, "200 with status ERROR"},
        {SP_OUTCOME_OK, 0, "gRPC OK, status OK"},
        {SP_OUTCOME_OK, 200, "a child span's ERROR"},
        {SP_OUTCOME_CANCELLED, 500, "servprof.outcome over 500 and ERROR"},
        {SP_OUTCOME_CANCELLED, 500, "finish reason abort over 500 and ERROR"},
        {SP_OUTCOME_ERROR, 0, "STATUS_CODE_ERROR by name"},
    };
    const size_t n = sizeof want / sizeof want[0];
    char err[512];
    sp_status st;
    sp_events *ev = load_file("status.jsonl", &st, err, sizeof err);
    CHECK(st == SP_OK);
    CHECK_EQ_U64(ev->n_requests, n);
    for (size_t i = 0; i < n && i < ev->n_requests; i++) {
        const sp_ev_request *q = &ev->requests[i];
        if (q->outcome != want[i].outcome || q->status != want[i].status)
            fprintf(stderr, "status.jsonl request %zu (%s): outcome %s status %d, expected %s %d\n", i + 1,
                    want[i].why, sp_outcome_str((sp_outcome)q->outcome), (int)q->status,
                    sp_outcome_str((sp_outcome)want[i].outcome), (int)want[i].status);
        CHECK_EQ_U64(q->outcome, want[i].outcome);
        CHECK_EQ_U64((uint64_t)q->status, (uint64_t)want[i].status);
    }
    CHECK_EQ_U64(ev->n_spans, n);   /* each request's queue span */
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
}

/* tgi.jsonl: text-generation-inference's router spans, hand-written in the layout of its source
 * (router/src/server.rs at 003eaec: the generate / generate_stream handler spans record validation_time,
 * queue_time, inference_time, total_time as format!("{:?}") of a Rust Duration, only once the last
 * token came; backends/v3/src/backend.rs at 1d0847a: a "queued" child while waiting, one
 * "send_generation" per generation sent, and each batch a root "batch" span with batch_size in a
 * trace of its own). Expected values worked by hand from the span times in the file (docs/otlp.md,
 * "text-generation-inference"). Before, the two batch traces were two more ok requests, the stream
 * that failed after its 200 was ok, and everything but the queued spans was `other`. The batch traces
 * are R1's first two steps (2 of its 5 infer spans linked): R1 keeps its prefill and decode stages, the
 * two steps cover them where they are (before, the batch traces were left out). */
static void test_tgi(void)
{
    char err[512];
    sp_status st;
    sp_events *ev = load_file("tgi.jsonl", &st, err, sizeof err);
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        sp_events_destroy(ev);
        return;
    }
    const uint64_t b = 1765000000000000000ull, us = 1000, ms = 1000000;
    CHECK_EQ_U64(ev->n_requests, 4);   /* the batch traces are not requests */
    if (ev->n_requests == 4) {
        CHECK_EQ_U64(ev->requests[0].outcome, SP_OUTCOME_OK);
        CHECK_EQ_U64(ev->requests[1].outcome, SP_OUTCOME_OK);
        CHECK_EQ_U64(ev->requests[2].outcome, SP_OUTCOME_ERROR);   /* 200, but no timings: not served */
        CHECK_EQ_U64(ev->requests[3].outcome, SP_OUTCOME_ERROR);   /* 422 */
        CHECK_EQ_U64(ev->requests[2].status, 200);
    }
    /* R1: handler from b+0.1 ms: validation 1.25 ms, the queued span (b+1.4..b+21.3) in place of
     * queue_time, inference from b+0.1+1.25+20 = b+21.35 ms to +107.25 = b+128.6, split at the first
     * send_generation (b+45.1). R2: handler from b+10.05: validation 850 us, queued b+10.9..b+15.05,
     * inference b+15.05..b+69.95 split at b+30. R3: its queued span only. */
    CHECK_EQ_U64(ev->n_spans, 9);
    if (ev->n_spans == 9) {
        it_check_span(ev, 0, 0, "queue", b + 1400 * us, b + 21300 * us);
        it_check_span(ev, 1, 0, "preprocess", b + 100 * us, b + 1350 * us);
        it_check_span(ev, 2, 0, "prefill", b + 21350 * us, b + 45100 * us);
        it_check_span(ev, 3, 0, "decode", b + 45100 * us, b + 128600 * us);
        it_check_span(ev, 4, 1, "queue", b + 10900 * us, b + 15050 * us);
        it_check_span(ev, 5, 1, "preprocess", b + 10050 * us, b + 10900 * us);
        it_check_span(ev, 6, 1, "prefill", b + 15050 * us, b + 30 * ms);
        it_check_span(ev, 7, 1, "decode", b + 30 * ms, b + 69950 * us);
        it_check_span(ev, 8, 2, "queue", b + 21 * ms, b + 40 * ms);
    }
    /* every generation sent is a token at its send_generation span's start (the file's generation
     * texts carry one token id or are elided: one token each): R1 5 at b+45.1, 65.95, 86.8, 107.65,
     * 128.5 ms (TTFT 45.1 ms, TPOT (128.5 - 45.1) / 4 = 20.85 ms, ITL 20.85 ms x 4), R2 3 at b+30, 50,
     * 69.9 (ITL 20 and 19.9 ms). Before, only each request's first and last were read (4 tokens). */
    static const struct { uint32_t req; uint64_t index, at_us; } tgi_tok[8] = {
        {0, 0, 45100}, {0, 1, 65950}, {0, 2, 86800}, {0, 3, 107650}, {0, 4, 128500},
        {1, 0, 30000}, {1, 1, 50000}, {1, 2, 69900}};
    CHECK_EQ_U64(ev->n_tokens, 8);
    for (size_t i = 0; i < 8 && ev->n_tokens == 8; i++) {
        CHECK_EQ_U64(ev->tokens[i].req, tgi_tok[i].req);
        CHECK_EQ_U64(ev->tokens[i].index, tgi_tok[i].index);
        CHECK_EQ_U64(ev->tokens[i].time_ns, b + tgi_tok[i].at_us * us);
    }
    if (ev->n_requests == 5) {
        CHECK_EQ_U64(sp_ev_cold(ev, &ev->requests[0])->output_tokens, 5);
        CHECK_EQ_U64(sp_ev_cold(ev, &ev->requests[1])->output_tokens, 3);
    }
    /* the batch spans' windows: b+21.35..b+45.13 ms (R1's prefill), b+45.13..b+65.98 (a decode) */
    CHECK_EQ_U64(ev->n_batches, 2);
    CHECK_EQ_U64(ev->n_steps, 2);
    if (ev->n_batches == 2) {
        const sp_ev_batch *b1 = &ev->batches[0], *b2 = &ev->batches[1];
        CHECK(b1->id == 1 && b1->has_record && b1->nmembers == 1 && ev->members[b1->first_member] == 0);
        CHECK(b1->start_ns == b + 21350 * us && b1->end_ns == b + 45130 * us);
        CHECK(b2->id == 2 && b2->has_record && b2->nmembers == 1 && ev->members[b2->first_member] == 0);
        CHECK(b2->start_ns == b + 45130 * us && b2->end_ns == b + 65980 * us);
        CHECK(b1->effective_tokens == -1 && b1->padded_tokens == -1);
        uint32_t tok = 0;
        CHECK(sp_ev_step_phase(ev, 0, 0, &tok) == SP_EV_PHASE_PREFILL && tok == 1);
        CHECK(sp_ev_step_phase(ev, 1, 0, &tok) == SP_EV_PHASE_DECODE && tok == 1);
    }
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
}

/* sglang.jsonl: SGLang's request tracing (docs/otlp.md, "SGLang", where each figure is worked by hand
 * from the span times): A and B ok, C cancelled by its client (finish reason abort), D an error (its
 * scheduler thread span in ERROR), E cut short (no Req span: unfinished, from its first span's start,
 * with no stages). Each slice is a stage of its
 * own times; the tokens are prefill_forward's end and each decode_loop's end. D has no prefill or
 * decode slice: its Req span's gen_ai.latency.* attributes are read as vLLM's (prefill 30.7-32.9 ms,
 * decode 32.9-33 ms; no token, as it has 0 completion tokens). */
static void test_sglang(void)
{
    char err[512];
    sp_status st;
    sp_events *ev = load_file("sglang.jsonl", &st, err, sizeof err);
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        sp_events_destroy(ev);
        return;
    }
    const uint64_t b = 1765000000000000000ull, us = 1000;
    CHECK_EQ_U64(ev->n_requests, 5);
    if (ev->n_requests == 5) {
        CHECK_EQ_U64(ev->requests[0].outcome, SP_OUTCOME_OK);
        CHECK_EQ_U64(ev->requests[1].outcome, SP_OUTCOME_OK);
        CHECK_EQ_U64(ev->requests[2].outcome, SP_OUTCOME_CANCELLED);
        CHECK_EQ_U64(ev->requests[4].outcome, SP_OUTCOME_UNFINISHED);
        CHECK(ev->requests[4].arrival_ns == b + 55000 * us && ev->requests[4].done_ns == SP_TIME_NONE);
        CHECK_EQ_U64(ev->requests[4].nspans, 0);
        CHECK_EQ_U64(ev->requests[3].outcome, SP_OUTCOME_ERROR);
        CHECK_EQ_U64(ev->requests[3].status, 0);   /* its abort info gives a reason, no status_code */
        CHECK(ev->requests[0].arrival_ns == b && ev->requests[0].done_ns == b + 60000 * us);
        CHECK_EQ_U64((uint64_t)sp_ev_req_input_tokens(ev, &ev->requests[1]), 300);
    }
    CHECK_EQ_U64(ev->files[0].ignored, 0);   /* E's spans make its request */
    static const struct { uint32_t req; const char *stage; uint64_t s_us, e_us; } want[] = {
        {0, "preprocess", 0, 2000}, {0, "dispatch", 2000, 2200}, {0, "request_process", 2500, 3000},
        {0, "queue", 3000, 8000}, {0, "prefill", 8000, 20000}, {0, "queue", 20000, 20500},
        {0, "decode", 20500, 56600},
        {1, "preprocess", 10000, 11000}, {1, "dispatch", 11000, 11100}, {1, "request_process", 11300, 11500},
        {1, "queue", 11500, 20500}, {1, "prefill", 20500, 35500}, {1, "decode", 35500, 50200},
        {2, "preprocess", 15000, 15800}, {2, "dispatch", 15800, 15900}, {2, "request_process", 16000, 16200},
        {2, "queue", 16200, 35500}, {2, "prefill", 35500, 40000}, {2, "decode", 40000, 46000},
        {3, "preprocess", 30000, 30600}, {3, "dispatch", 30600, 30700}, {3, "prefill", 30700, 32900},
        {3, "decode", 32900, 33000}};
    const size_t nwant = sizeof want / sizeof want[0];
    CHECK_EQ_U64(ev->n_spans, nwant);
    for (size_t i = 0; i < nwant && ev->n_spans == nwant; i++)
        it_check_span(ev, (uint32_t)i, want[i].req, want[i].stage, b + want[i].s_us * us, b + want[i].e_us * us);
    static const struct { uint32_t req; uint64_t index, at_us; } tok[] = {
        {0, 0, 20000}, {0, 1, 29500}, {0, 2, 38500}, {0, 3, 47500}, {0, 4, 56500},
        {1, 0, 35500}, {1, 1, 42500}, {1, 2, 50000}, {2, 0, 40000}, {2, 1, 45000}};
    const size_t ntok = sizeof tok / sizeof tok[0];
    CHECK_EQ_U64(ev->n_tokens, ntok);
    for (size_t i = 0; i < ntok && ev->n_tokens == ntok; i++) {
        CHECK_EQ_U64(ev->tokens[i].req, tok[i].req);
        CHECK_EQ_U64(ev->tokens[i].index, tok[i].index);
        CHECK_EQ_U64(ev->tokens[i].time_ns, b + tok[i].at_us * us);
    }
    if (ev->n_requests == 4) {
        CHECK_EQ_U64(sp_ev_cold(ev, &ev->requests[0])->output_tokens, 5);
        CHECK_EQ_U64(sp_ev_cold(ev, &ev->requests[1])->output_tokens, 3);
        CHECK_EQ_U64(sp_ev_cold(ev, &ev->requests[3])->output_tokens, 0);
    }
    CHECK_EQ_U64(ev->n_batches, 0);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
}

/* tgi_batches.jsonl: TGI's batch traces joined to their members (docs/otlp.md,
 * "text-generation-inference", where each figure is worked by hand from the span times): request A
 * (streamed, 4 generations) prefilled alone in step 1, waiting while B prefills in step 2 (a link of
 * step 2's batch span to A's `waiting` span, which is no member), decoded with B in steps 3 and 4
 * and alone in step 5; B (3 generations) prefilled in step 2. Links either way join: step 3's batch
 * links only to A, B's infer span links to it; A's last infer span has no link, step 5's batch links
 * to it. Step 4's batch_size is 3, its third link to a span not in the file; a sixth root "batch"
 * without batch_size (a batch TGI dropped) has no member and is left out. A and B have every step
 * joined, so their inference is no stage: steps and the time between them. */
static void test_tgi_batches(void)
{
    char err[512];
    sp_status st;
    sp_events *ev = load_file("tgi_batches.jsonl", &st, err, sizeof err);
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        sp_events_destroy(ev);
        return;
    }
    const uint64_t b = 1765000100000000000ull, us = 1000;
    CHECK_EQ_U64(ev->n_requests, 2);   /* the six batch traces are not requests */
    /* A: validation 900 us from the handler's start (+0.1 ms), its queued span +1..+2 ms; B: 950 us
     * from +5.05 ms, queued +6..+12 ms; no prefill or decode stage */
    CHECK_EQ_U64(ev->n_spans, 4);
    if (ev->n_spans == 4) {
        it_check_span(ev, 0, 0, "queue", b + 1000 * us, b + 2000 * us);
        it_check_span(ev, 1, 0, "preprocess", b + 100 * us, b + 1000 * us);
        it_check_span(ev, 2, 1, "queue", b + 6000 * us, b + 12000 * us);
        it_check_span(ev, 3, 1, "preprocess", b + 5050 * us, b + 6000 * us);
    }
    /* steps in time order: windows, members (A = 0, B = 1), phases from the batch's child */
    static const struct { uint64_t s, e; uint32_t n, m0, m1; int phase; } want[5] = {
        {2000, 12000, 1, 0, 0, SP_EV_PHASE_PREFILL}, {12000, 20000, 1, 1, 1, SP_EV_PHASE_PREFILL},
        {20100, 25000, 2, 0, 1, SP_EV_PHASE_DECODE}, {25100, 30000, 2, 0, 1, SP_EV_PHASE_DECODE},
        {30000, 34000, 1, 0, 0, SP_EV_PHASE_DECODE}};
    CHECK_EQ_U64(ev->n_batches, 5);
    CHECK_EQ_U64(ev->n_steps, 5);
    for (uint32_t i = 0; i < 5 && ev->n_batches == 5; i++) {
        const sp_ev_batch *bt = &ev->batches[i];
        CHECK(bt->id == (int64_t)i + 1 && bt->has_record);
        CHECK_EQ_U64(bt->start_ns, b + want[i].s * us);
        CHECK_EQ_U64(bt->end_ns, b + want[i].e * us);
        CHECK_EQ_U64(bt->nmembers, want[i].n);
        if (bt->nmembers != want[i].n)
            continue;
        CHECK_EQ_U64(ev->members[bt->first_member], want[i].m0);
        CHECK_EQ_U64(ev->members[bt->first_member + bt->nmembers - 1], want[i].m1);
        uint32_t tok = 0;
        CHECK(sp_ev_step_phase(ev, i, want[i].m0, &tok) == want[i].phase && tok == 1);
    }
    /* tokens, one per send_generation at its start (elided generation texts: one token each): A at
     * +11, 24.5, 29.5, 33.5 ms (ITL 13.5, 5, 4), B at +19.5, 24.5, 29.5 (ITL 5, 5). Before, only the
     * first and last of each (4 tokens) */
    static const struct { uint32_t req; uint64_t index, at_us; } tgi_tok[7] = {
        {0, 0, 11000}, {0, 1, 24500}, {0, 2, 29500}, {0, 3, 33500}, {1, 0, 19500}, {1, 1, 24500}, {1, 2, 29500}};
    CHECK_EQ_U64(ev->n_tokens, 7);
    for (size_t i = 0; i < 7 && ev->n_tokens == 7; i++) {
        CHECK_EQ_U64(ev->tokens[i].req, tgi_tok[i].req);
        CHECK_EQ_U64(ev->tokens[i].index, tgi_tok[i].index);
        CHECK_EQ_U64(ev->tokens[i].time_ns, b + tgi_tok[i].at_us * us);
    }
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
}

/* Links in other shapes than {"traceId","spanId"} are not read and never make a span malformed (links
 * were not read before); a batch without a forward-call child takes the phase from the member's
 * place (its request's first step: prefill); a prompt length on the request span is the prefill
 * member's tokens; a link to an infer span of a trace that is no request (a fragment) makes no
 * member, and the batch is left out. */
static void test_tgi_links_inline(void)
{
#define SPAN(tid, sid, parent, name, s, e, attrs, links) "{\"traceId\":\"" tid "\",\"spanId\":\"" sid "\"," \
    "\"parentSpanId\":\"" parent "\",\"name\":\"" name "\",\"kind\":1,\"startTimeUnixNano\":\"" s "\"," \
    "\"endTimeUnixNano\":\"" e "\",\"attributes\":[" attrs "],\"links\":" links "}"
#define STR(k, v) "{\"key\":\"" k "\",\"value\":{\"stringValue\":\"" v "\"}}"
#define INT(k, v) "{\"key\":\"" k "\",\"value\":{\"intValue\":\"" v "\"}}"
    const char *text = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        SPAN("30000000000000000000000000000001", "d100000000000001", "", "generate", "1000", "9000",
             STR("validation_time", "1\xc2\xb5s") "," STR("queue_time", "1\xc2\xb5s") "," STR("inference_time", "6\xc2\xb5s")
             "," STR("total_time", "8\xc2\xb5s") "," INT("gen_ai.usage.prompt_tokens", "37"), "null") ","
        SPAN("30000000000000000000000000000001", "d100000000000002", "d100000000000001", "infer", "3000", "8000", "",
             "[7,{\"traceId\":\"zz\",\"spanId\":\"d900000000000001\"},{\"spanId\":[1]},"
             "{\"traceId\":\"40000000000000000000000000000001\",\"spanId\":\"e100000000000001\"}]") ","
        SPAN("30000000000000000000000000000001", "d100000000000003", "d100000000000002", "send_generation", "7000",
             "7001", "", "{}") ","
        SPAN("40000000000000000000000000000001", "e100000000000001", "", "batch", "3000", "7500",
             INT("batch_size", "1"), "[]") ","
        SPAN("50000000000000000000000000000001", "f100000000000002", "f100000000000001", "infer", "3000", "8000", "",
             "[{\"traceId\":\"60000000000000000000000000000001\",\"spanId\":\"a600000000000001\"}]") ","
        SPAN("60000000000000000000000000000001", "a600000000000001", "", "batch", "3000", "7500",
             INT("batch_size", "1"), "[]")
        "]}]}]}";
#undef INT
#undef STR
#undef SPAN
    char err[512];
    sp_events *ev;
    CHECK(load_text(text, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 1);   /* the fragment (trace 5...: no root, no server span) is none */
    CHECK_EQ_U64(ev->n_batches, 1);
    if (ev->n_batches == 1) {
        const sp_ev_batch *bt = &ev->batches[0];
        CHECK(bt->start_ns == 3000 && bt->end_ns == 7500 && bt->nmembers == 1);
        uint32_t tok = 0;
        CHECK(sp_ev_step_phase(ev, 0, 0, &tok) == SP_EV_PHASE_PREFILL && tok == 37);
    }
    /* preprocess and queue only: the request's one step is joined */
    CHECK_EQ_U64(ev->n_spans, 2);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
    /* "links" given twice (any span, no TGI here): not malformed, as before links were read */
    const char *twice = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
        "\"70000000000000000000000000000001\",\"spanId\":\"b700000000000001\",\"name\":\"batch\","
        "\"links\":[],\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"links\":{\"x\":[1]}}]}]}]}";
    CHECK(load_text(twice, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 1);
    sp_events_destroy(ev);
}

/* TGI's handler span without its HTTP parent (the request span itself), the Rust duration forms
 * (microseconds as "\u00b5s", whole seconds, nanoseconds) and no queued span (queue_time is placed);
 * a span of another service named "generate" whose total_time is a number is no TGI span (generic,
 * never malformed); a handler without total_time is an error with what it has placed; without a
 * generation sent, inference is one stage. */
static void test_tgi_inline(void)
{
#define TGI_SPAN(tid, sid, parent, name, s, e, attrs) "{\"traceId\":\"" tid "\",\"spanId\":\"" sid "\"," \
    "\"parentSpanId\":\"" parent "\",\"name\":\"" name "\",\"kind\":1,\"startTimeUnixNano\":\"" s "\"," \
    "\"endTimeUnixNano\":\"" e "\",\"attributes\":[" attrs "]}"
#define STR(k, v) "{\"key\":\"" k "\",\"value\":{\"stringValue\":\"" v "\"}}"
    const char *text = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        TGI_SPAN("20000000000000000000000000000001", "c100000000000001", "", "generate", "1000000000", "1010000000",
                 STR("validation_time", "500\xc2\xb5s") "," STR("queue_time", "1ms") "," STR("inference_time", "8.25ms")
                 "," STR("total_time", "9.75ms")) ","
        TGI_SPAN("20000000000000000000000000000001", "c100000000000002", "c100000000000001", "send_generation",
                 "1003000000", "1003000100", "") ","
        TGI_SPAN("20000000000000000000000000000001", "c100000000000003", "c100000000000001", "send_generation",
                 "1009000000", "1009000100", "") ","
        TGI_SPAN("20000000000000000000000000000002", "c200000000000001", "", "generate", "1000000000", "1010000000",
                 "{\"key\":\"total_time\",\"value\":{\"doubleValue\":1.5}}") ","
        TGI_SPAN("20000000000000000000000000000003", "c300000000000001", "", "generate_stream", "1000000000",
                 "2000000000", STR("validation_time", "2s") "," STR("queue_time", "123ns")) ","
        TGI_SPAN("20000000000000000000000000000004", "c400000000000001", "", "generate", "1000000000", "1010000000",
                 STR("queue_time", "0.5ms") "," STR("inference_time", "7ms") "," STR("total_time", "7.5ms"))
        "]}]}]}";
#undef STR
#undef TGI_SPAN
    char err[512];
    sp_events *ev;
    CHECK(load_text(text, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 4);
    if (ev->n_requests == 4) {
        CHECK_EQ_U64(ev->requests[0].outcome, SP_OUTCOME_OK);
        CHECK_EQ_U64(ev->requests[1].outcome, SP_OUTCOME_OK);
        CHECK_EQ_U64(ev->requests[2].outcome, SP_OUTCOME_ERROR);
        CHECK_EQ_U64(ev->requests[3].outcome, SP_OUTCOME_OK);
    }
    const uint64_t s = 1000000000ull, us = 1000;
    /* 1: preprocess 0.5 ms, queue 1 ms, inference 8.25 ms split at the first token (+3 ms);
     * 3: validation 2 s clipped to the request's end (+1 s), nothing left for queue's 123 ns;
     * 4: no validation_time and no generation sent: queue 0.5 ms, then inference whole (7 ms) */
    CHECK_EQ_U64(ev->n_spans, 7);
    if (ev->n_spans == 7) {
        it_check_span(ev, 0, 0, "preprocess", s, s + 500 * us);
        it_check_span(ev, 1, 0, "queue", s + 500 * us, s + 1500 * us);
        it_check_span(ev, 2, 0, "prefill", s + 1500 * us, s + 3000 * us);
        it_check_span(ev, 3, 0, "decode", s + 3000 * us, s + 9750 * us);
        it_check_span(ev, 4, 2, "preprocess", s, s + 1000000 * us);
        it_check_span(ev, 5, 3, "queue", s, s + 500 * us);
        it_check_span(ev, 6, 3, "inference", s + 500 * us, s + 7500 * us);
    }
    CHECK_EQ_U64(ev->n_tokens, 2);
    if (ev->n_tokens == 2)
        CHECK(ev->tokens[1].index == 1 && ev->tokens[1].time_ns == s + 9000 * us);
    sp_events_destroy(ev);
}

/* With --speculate one TGI generation carries several tokens: its send_generation span's "generation"
 * field (the Debug text of the router's protobuf Generation, proto/v3/generate.proto; backend.rs's
 * filter_send_generations records it) lists their ids in its `tokens` field, and each is a token at
 * the span's start. Generations, in order (the span starts, us after s):
 *  +3000: prefill_tokens lists 3 ids (the prompt's, not output) and one text reads like the field
 *         (with an escaped quote before it): 1 token (id 5), index 0;
 *  +5000: 3 ids (a speculative step): indexes 1..3;
 *  +6000: the text elided ("..."): 1 token, index 4;
 *  +8000: 2 ids, the last generation (generated_text Some): indexes 5, 6;
 *  +8500: "ids: []" and +8600: "ids: [4, x]": not in the shape, 1 token each: indexes 7, 8.
 * 9 output tokens; TPOT = (8.6 - 3) ms / 8 = 700 us; the analysis's ITL of this request is
 * 2 ms, 0, 0, 1 ms, 2 ms, 0, 0.5 ms, 0.1 ms. */
static void test_tgi_speculate(void)
{
#define TGI_SPAN(sid, name, s, e, attrs) "{\"traceId\":\"21000000000000000000000000000001\",\"spanId\":\"" sid "\"," \
    "\"parentSpanId\":\"" "d100000000000001" "\",\"name\":\"" name "\",\"kind\":1,\"startTimeUnixNano\":\"" s "\"," \
    "\"endTimeUnixNano\":\"" e "\",\"attributes\":[" attrs "]}"
#define GEN(v) "{\"key\":\"generation\",\"value\":{\"stringValue\":\"Generation { request_id: 7, " v " }\"}}"
#define STR(k, v) "{\"key\":\"" k "\",\"value\":{\"stringValue\":\"" v "\"}}"
    const char *text = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"21000000000000000000000000000001\",\"spanId\":\"d100000000000001\",\"name\":\"generate\","
        "\"kind\":1,\"startTimeUnixNano\":\"1000000000\",\"endTimeUnixNano\":\"1010000000\",\"attributes\":["
        STR("validation_time", "500\xc2\xb5s") "," STR("queue_time", "1ms") "," STR("inference_time", "8ms")
        "," STR("total_time", "9.5ms") "]},"
        TGI_SPAN("d100000000000002", "send_generation", "1003000000", "1003000100",
                 GEN("prefill_tokens: Some(Tokens { ids: [1, 2, 3], logprobs: [NaN, -1.0, -2.0], texts: "
                     "[\\\"a\\\", \\\"b\\\", \\\"c\\\"], is_special: [false, false, false] }), tokens: "
                     "Some(Tokens { ids: [5], logprobs: [-0.1], texts: [\\\"say \\\\\\\"hi\\\\\\\", tokens: "
                     "Some(Tokens { ids: [9, 9, 9, 9]\\\"], is_special: [false] }), generated_text: None, "
                     "top_tokens: []")) ","
        TGI_SPAN("d100000000000003", "send_generation", "1005000000", "1005000100",
                 GEN("prefill_tokens: None, tokens: Some(Tokens { ids: [11, 12, 13], logprobs: [-0.1, -0.2, -0.3], "
                     "texts: [\\\" x\\\", \\\" y\\\", \\\" z\\\"], is_special: [false, false, false] }), "
                     "generated_text: None, top_tokens: []")) ","
        TGI_SPAN("d100000000000004", "send_generation", "1006000000", "1006000100", GEN("...")) ","
        TGI_SPAN("d100000000000005", "send_generation", "1008000000", "1008000100",
                 GEN("prefill_tokens: None, tokens: Some(Tokens { ids: [21, 22], logprobs: [-0.5, -0.6], texts: "
                     "[\\\" u\\\", \\\" v\\\"], is_special: [false, false] }), generated_text: "
                     "Some(GeneratedText { text: \\\"x y z u v\\\", generated_tokens: 7, finish_reason: Length, "
                     "seed: None }), top_tokens: []")) ","
        TGI_SPAN("d100000000000006", "send_generation", "1008500000", "1008500100",
                 GEN("prefill_tokens: None, tokens: Some(Tokens { ids: [], logprobs: [] })")) ","
        TGI_SPAN("d100000000000007", "send_generation", "1008600000", "1008600100",
                 GEN("prefill_tokens: None, tokens: Some(Tokens { ids: [4, x], logprobs: [] })"))
        "]}]}]}";
#undef STR
#undef GEN
#undef TGI_SPAN
    char err[512];
    sp_events *ev;
    CHECK(load_text(text, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 1);
    const uint64_t s = 1000000000ull, us = 1000;
    static const uint64_t at_us[9] = {3000, 5000, 5000, 5000, 6000, 8000, 8000, 8500, 8600};
    CHECK_EQ_U64(ev->n_tokens, 9);
    for (size_t i = 0; i < 9 && ev->n_tokens == 9; i++) {
        CHECK_EQ_U64(ev->tokens[i].index, i);
        CHECK_EQ_U64(ev->tokens[i].time_ns, s + at_us[i] * us);
    }
    if (ev->n_requests == 1)
        CHECK_EQ_U64(sp_ev_cold(ev, &ev->requests[0])->output_tokens, 9);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
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
        /* the span status: an object whose code is OTLP's StatusCode, by number or name */
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"status\":[2]"),
         "o.json:1:44: span: \"status\" must be an object"},
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"status\":2"), "\"status\" must be an object"},
        /* TGI's handler span (by a field in TGI's shape) with a timing that is no Rust duration, or
         * more decimals than Rust writes for the unit */
        {SPAN(IDS "\"name\":\"generate\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"attributes\":["
              "{\"key\":\"total_time\",\"value\":{\"stringValue\":\"3ms\"}},"
              "{\"key\":\"queue_time\",\"value\":{\"stringValue\":\"soon\"}}]"),
         "o.json:1:44: span: queue_time must be a Rust duration as text-generation-inference writes it"},
        {SPAN(IDS "\"name\":\"generate_stream\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"attributes\":["
              "{\"key\":\"parameters\",\"value\":{\"stringValue\":\"GenerateParameters { }\"}},"
              "{\"key\":\"inference_time\",\"value\":{\"stringValue\":\"1.0000005ms\"}}]"),
         "span: inference_time must be a Rust duration"},
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"status\":{\"code\":3}"),
         "\"status\": \"code\" must be 0 (unset), 1 (ok) or 2 (error)"},
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"status\":{\"code\":\"ERROR\"}"),
         "\"status\": \"code\" must be 0 (unset)"},
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"status\":{\"code\":{}}"),
         "\"status\": \"code\" must be 0 (unset)"},
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"status\":{\"code\":2,\"code\":0}"),
         "\"status\": \"code\" given twice"},
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"status\":{},\"status\":{\"code\":2}"),
         "\"status\" given twice in one span"},
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"attributes\":[{\"key\":"
              "\"rpc.grpc.status_code\",\"value\":{\"stringValue\":\"UNAVAILABLE\"}}]"),
         "rpc.grpc.status_code must be a gRPC status code"},
        {SPAN(IDS "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"attributes\":[{\"key\":"
              "\"rpc.grpc.status_code\",\"value\":{\"intValue\":\"-1\"}}]"),
         "rpc.grpc.status_code must be a gRPC status code"},
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
    test_tgi();
    test_tgi_inline();
    test_tgi_speculate();
    test_tgi_batches();
    test_tgi_links_inline();
    test_sglang();
    test_status();
    test_malformed();
    test_base64_ids();
    test_lenient();
    return sp_test_done("test_otlp_import");
}
