/* Reading generation traces (docs/generation.md): JSONL step, token and client records; native
 * records 14 (step) and 15 (token) written byte by byte here and read back; each malformed record an
 * error naming its line or byte (lenient: skipped and counted); vLLM's OTLP spans mapped onto the TTFT
 * and TPOT tables. */
#include <stdlib.h>
#include <string.h>

#include "format/native_format.h"
#include "model/events_int.h"
#include "testlib.h"

static sp_status load_text(const char *name, const char *text, int lenient, sp_events **out, char *err, size_t n)
{
    sp_events_create(out);
    sp_load_options lo;
    sp_load_options_init(&lo);
    lo.lenient = lenient;
    return sp_events_load_buffer(*out, name, text, strlen(text), &lo, err, n);
}

static void test_jsonl_records(void)
{
    static const char *t =
        "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":0,\"done_ns\":900,\"output_tokens\":2}\n"
        "{\"ev\":\"request\",\"id\":\"r2\",\"arrival_ns\":10,\"done_ns\":900}\n"
        "{\"ev\":\"step\",\"batch\":7,\"requests\":[\"r1\",\"r2\"],\"phases\":[\"prefill\",\"prefill_chunk\"],"
        "\"tokens\":[37,16],\"start_ns\":100,\"end_ns\":300,\"effective_tokens\":53,\"padded_tokens\":64,"
        "\"kv_used_tokens\":53,\"kv_capacity_tokens\":4096}\n"
        "{\"ev\":\"token\",\"id\":\"r1\",\"index\":1,\"time_ns\":500}\n"
        "{\"ev\":\"token\",\"id\":\"r1\",\"index\":0,\"time_ns\":320}\n"
        "{\"ev\":\"client\",\"id\":\"r1\",\"intended_ns\":0,\"send_ns\":1,\"done_ns\":950,\"status\":200,"
        "\"first_token_ns\":400,\"token_ns\":[400,600],\"output_tokens\":2}\n";
    sp_events *ev;
    char err[512];
    CHECK(load_text("g.jsonl", t, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_batches, 1);
    CHECK_EQ_U64(ev->n_steps, 1);
    if (ev->n_batches == 1 && ev->n_steps == 1) {
        const sp_ev_batch *b = &ev->batches[0];
        CHECK(b->step == 0);
        CHECK_EQ_U64(b->effective_tokens, 53);
        CHECK_EQ_U64(b->padded_tokens, 64);
        CHECK_EQ_U64(ev->steps[0].kv_used_tokens, 53);
        CHECK_EQ_U64(ev->steps[0].kv_capacity_tokens, 4096);
        CHECK(ev->step_members[0].phase == SP_EV_PHASE_PREFILL && ev->step_members[0].tokens == 37);
        CHECK(ev->step_members[1].phase == SP_EV_PHASE_PREFILL_CHUNK && ev->step_members[1].tokens == 16);
    }
    CHECK_EQ_U64(sp_ev_cold(ev, &ev->requests[0])->output_tokens, 2);
    CHECK(sp_ev_cold(ev, &ev->requests[1])->output_tokens == -1);
    CHECK_EQ_U64(ev->n_clients, 1);
    CHECK_EQ_U64(ev->clients[0].first_token_ns, 400);
    CHECK_EQ_U64(ev->clients[0].n_ctok, 2);
    CHECK_EQ_U64(ev->client_tokens[ev->clients[0].first_ctok + 1], 600);
    /* finishing puts a request's tokens in index order */
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(sp_ev_cold(ev, &ev->requests[0])->ntokens, 2);
    CHECK_EQ_U64(ev->tokens[sp_ev_cold(ev, &ev->requests[0])->first_token].time_ns, 320);
    CHECK_EQ_U64(sp_ev_cold(ev, &ev->requests[0])->client_first_token_ns, 400);
    sp_events_destroy(ev);
}

/* Each malformed generation line is an error naming the file and line; lenient skips and counts it. */
static void test_jsonl_malformed(void)
{
    static const char *head = "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":0,\"done_ns\":900}\n";
    static const struct { const char *line, *want; } cases[] = {
        {"{\"ev\":\"step\",\"batch\":1,\"requests\":[\"r1\"],\"tokens\":[3],\"start_ns\":1,\"end_ns\":2}",
         "missing \"phases\""},
        {"{\"ev\":\"step\",\"batch\":1,\"requests\":[\"r1\"],\"phases\":[\"prefill\"],\"start_ns\":1,\"end_ns\":2}",
         "missing \"tokens\""},
        {"{\"ev\":\"step\",\"batch\":1,\"requests\":[\"r1\"],\"phases\":[\"warmup\"],\"tokens\":[3],\"start_ns\":1,"
         "\"end_ns\":2}", "\"phases\" must hold"},
        {"{\"ev\":\"step\",\"batch\":1,\"requests\":[\"r1\"],\"phases\":[\"decode\",\"decode\"],\"tokens\":[1,1],"
         "\"start_ns\":1,\"end_ns\":2}", "\"phases\" has 2 elements but \"requests\" has 1"},
        {"{\"ev\":\"step\",\"batch\":1,\"requests\":[\"r1\"],\"phases\":[\"decode\"],\"tokens\":[0],\"start_ns\":1,"
         "\"end_ns\":2}", "\"tokens\" must hold"},
        {"{\"ev\":\"step\",\"batch\":1,\"requests\":[\"r1\"],\"phases\":[\"decode\"],\"tokens\":[1],\"start_ns\":1,"
         "\"end_ns\":2,\"effective_tokens\":5}", "\"effective_tokens\" (5) is not the sum of \"tokens\" (1)"},
        {"{\"ev\":\"step\",\"batch\":1,\"requests\":[\"r1\"],\"phases\":[\"prefill\"],\"tokens\":[40],\"start_ns\":1,"
         "\"end_ns\":2,\"padded_tokens\":32}", "are more than \"padded_tokens\""},
        {"{\"ev\":\"step\",\"batch\":1,\"requests\":[\"r1\"],\"phases\":[\"decode\"],\"tokens\":[1],\"start_ns\":1,"
         "\"end_ns\":2,\"kv_used_tokens\":9,\"kv_capacity_tokens\":8}", "\"kv_used_tokens\" (9) is more than"},
        {"{\"ev\":\"step\",\"batch\":1,\"requests\":[\"r1\"],\"phases\":[\"decode\"],\"tokens\":[1],\"start_ns\":5,"
         "\"end_ns\":2}", "\"end_ns\" (2) is before \"start_ns\" (5)"},
        {"{\"ev\":\"token\",\"id\":\"r1\",\"time_ns\":5}", "missing \"index\""},
        {"{\"ev\":\"token\",\"id\":\"r1\",\"index\":-1,\"time_ns\":5}", "\"index\" is negative"},
        {"{\"ev\":\"token\",\"id\":\"r1\",\"index\":0}", "missing \"time_ns\""},
        {"{\"ev\":\"client\",\"id\":\"r1\",\"intended_ns\":0,\"send_ns\":1,\"done_ns\":9,\"status\":200,"
         "\"token_ns\":[5,4]}", "\"token_ns\" element 2 (4) is before the one before it"},
        {"{\"ev\":\"client\",\"id\":\"r1\",\"intended_ns\":0,\"send_ns\":1,\"done_ns\":9,\"status\":200,"
         "\"first_token_ns\":12}", "\"first_token_ns\" (12) is outside"},
        {"{\"ev\":\"client\",\"id\":\"r1\",\"intended_ns\":0,\"send_ns\":1,\"done_ns\":9,\"status\":200,"
         "\"token_ns\":[5,6],\"output_tokens\":3}", "\"output_tokens\" (3) differs from the 2 times"},
        {"{\"ev\":\"request\",\"id\":\"r9\",\"arrival_ns\":0,\"done_ns\":9,\"output_tokens\":\"many\"}",
         "\"output_tokens\" must be"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024], err[512];
        snprintf(text, sizeof text, "%s%s\n", head, cases[i].line);
        sp_events *ev;
        sp_status st = load_text("bad.jsonl", text, 0, &ev, err, sizeof err);
        sp_test_checks++;
        if (st != SP_ERR_PARSE || !strstr(err, "bad.jsonl:2: ") || !strstr(err, cases[i].want)) {
            sp_test_failures++;
            fprintf(stderr, "case %zu: status %d, message \"%s\", wanted \"bad.jsonl:2: ...%s\"\n", i, (int)st, err,
                    cases[i].want);
        }
        sp_events_destroy(ev);
        st = load_text("bad.jsonl", text, 1, &ev, err, sizeof err);
        CHECK(st == SP_OK);
        CHECK_EQ_U64(ev->files[0].skipped, 1);
        CHECK_EQ_U64(ev->n_tokens + ev->n_steps, 0);
        sp_events_destroy(ev);
    }
}

/* ---- native records, byte by byte (docs/native-format.md) ---- */

typedef struct nbuf {
    unsigned char d[4096];
    size_t len, block;
    uint32_t records;
} nbuf;

static void nb_begin(nbuf *b)
{
    memset(b, 0, sizeof *b);
    memcpy(b->d, "SPTRACE1", 8);
    sp_wr32(b->d + 8, 1);
    sp_wr32(b->d + 12, 16);
    b->block = 16;
    b->len = 32; /* the block header comes at 16, the payload after it */
}

/* A record: type, aux and `n` words after the header word. Returns its byte offset in the file. */
static size_t nb_rec(nbuf *b, uint32_t type, uint32_t aux, const uint64_t *w, size_t n)
{
    size_t at = b->len;
    sp_wr64(b->d + at, (uint64_t)type | (uint64_t)(8 + 8 * n) << 16 | (uint64_t)aux << 32);
    for (size_t i = 0; i < n; i++)
        sp_wr64(b->d + at + 8 + 8 * i, w[i]);
    b->len += 8 + 8 * n;
    b->records++;
    return at;
}

static void nb_end(nbuf *b)
{
    nb_rec(b, SP_REC_END, 0, NULL, 0);
    unsigned char *h = b->d + b->block;
    uint32_t plen = (uint32_t)(b->len - b->block - 16);
    sp_wr32(h, SP_NATIVE_BLOCK_MAGIC);
    sp_wr32(h + 4, plen);
    sp_wr32(h + 8, b->records);
    sp_wr32(h + 12, sp_crc32(sp_crc32(0, h, 12), h + 16, plen));
}

static sp_status nb_load(nbuf *b, int lenient, sp_events **out, char *err, size_t n)
{
    sp_events_create(out);
    sp_load_options lo;
    sp_load_options_init(&lo);
    lo.lenient = lenient;
    return sp_events_load_buffer(*out, "gen.sptrace", b->d, b->len, &lo, err, n);
}

/* Two requests, one prefill step (request 1: 30 tokens; request 2: a 16-token chunk), one decode step
 * and tokens: record 14 is 64 + 16 x 2 = 96 bytes, record 15 32 bytes. Request 1: arrival 0, done 1000;
 * step 1 100..400, token 0 at 450, step 2 500..600 (decode), token 1 at 650: TTFT 450, TPOT 200. */
static void test_native_round_trip(void)
{
    nbuf b;
    nb_begin(&b);
    uint64_t q1[] = {1, 0, 1000, 30}, q2[] = {2, 50, 1000, 40};
    nb_rec(&b, SP_REC_REQUEST, 0, q1, 4);
    nb_rec(&b, SP_REC_REQUEST, 0, q2, 4);
    uint64_t s1[] = {11, 100, 400, 46, 64, 46, 2048,
                     1, (uint64_t)1 << SP_STEP_PHASE_SHIFT | 30, 2, (uint64_t)2 << SP_STEP_PHASE_SHIFT | 16};
    size_t s1_at = nb_rec(&b, SP_REC_STEP, 2, s1, 11);
    uint64_t s2[] = {12, 500, 600, 1, 1, 47, 2048, 1, 1};
    nb_rec(&b, SP_REC_STEP, 1, s2, 9);
    uint64_t t0[] = {1, 0, 450}, t1[] = {1, 1, 650};
    nb_rec(&b, SP_REC_TOKEN, 0, t0, 3);
    nb_rec(&b, SP_REC_TOKEN, 0, t1, 3);
    nb_end(&b);
    CHECK_EQ_U64(b.d[s1_at + 2] | b.d[s1_at + 3] << 8, 96); /* the record's size field */
    sp_events *ev;
    char err[512];
    CHECK(nb_load(&b, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_steps, 2);
    CHECK_EQ_U64(ev->n_tokens, 2);
    if (ev->n_steps == 2) {
        CHECK_EQ_U64(ev->batches[0].nmembers, 2);
        CHECK_EQ_U64(ev->batches[0].effective_tokens, 46);
        CHECK_EQ_U64(ev->steps[0].kv_capacity_tokens, 2048);
        CHECK(ev->step_members[ev->steps[0].first + 1].phase == SP_EV_PHASE_PREFILL_CHUNK);
        CHECK_EQ_U64(ev->step_members[ev->steps[0].first + 1].tokens, 16);
        CHECK(ev->step_members[ev->steps[1].first].phase == SP_EV_PHASE_DECODE);
    }
    sp_report *r = NULL;
    CHECK(sp_analyze(ev, NULL, &r, err, sizeof err) == SP_OK);
    CHECK(r && r->generation && r->generation->ttft.p50_ns == 450);
    CHECK(r && r->generation && r->generation->tpot.p50_ns == 200);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* Malformed step and token records: an error naming the byte offset, or skipped and counted. */
static void test_native_malformed(void)
{
    static const struct { uint32_t type, aux; uint64_t w[11]; size_t n; const char *want; } cases[] = {
        {SP_REC_STEP, 2, {11, 100, 400, 31, 64, 0, 0, 1, 30}, 9, "malformed step record"},
        {SP_REC_STEP, 1, {11, 100, 400, 30, 64, 0, 0, 1, (uint64_t)3 << SP_STEP_PHASE_SHIFT | 30}, 9, "unknown phase"},
        {SP_REC_STEP, 1, {11, 100, 400, 0, 64, 0, 0, 1, 0}, 9, "no tokens"},
        {SP_REC_STEP, 1, {11, 100, 400, 31, 64, 0, 0, 1, 30}, 9, "not the sum of its members' tokens"},
        {SP_REC_STEP, 1, {11, 100, 400, 30, 16, 0, 0, 1, 30}, 9, "more effective tokens than padded"},
        {SP_REC_STEP, 1, {11, 400, 100, 30, 64, 0, 0, 1, 30}, 9, "ends before it starts"},
        {SP_REC_STEP, 1, {11, 100, 400, 30, 64, 90, 80, 1, 30}, 9, "more KV cache tokens in use than its capacity"},
        {SP_REC_TOKEN, 0, {1, 0, 450, 7}, 4, "token record of the wrong size"},
        {SP_REC_TOKEN, 0, {1, 0, UINT64_MAX}, 3, "token record without a time"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nbuf b;
        nb_begin(&b);
        uint64_t q1[] = {1, 0, 1000, 30};
        nb_rec(&b, SP_REC_REQUEST, 0, q1, 4);
        size_t at = nb_rec(&b, cases[i].type, cases[i].aux, cases[i].w, cases[i].n);
        nb_end(&b);
        char want[64], err[512];
        snprintf(want, sizeof want, "gen.sptrace: byte %zu: ", at);
        sp_events *ev;
        sp_status st = nb_load(&b, 0, &ev, err, sizeof err);
        sp_test_checks++;
        if (st != SP_ERR_PARSE || !strstr(err, want) || !strstr(err, cases[i].want)) {
            sp_test_failures++;
            fprintf(stderr, "native case %zu: status %d, message \"%s\", wanted \"%s...%s\"\n", i, (int)st, err, want,
                    cases[i].want);
        }
        sp_events_destroy(ev);
        CHECK(nb_load(&b, 1, &ev, err, sizeof err) == SP_OK);
        CHECK_EQ_U64(ev->files[0].skipped, 1);
        CHECK_EQ_U64(ev->n_steps + ev->n_tokens, 0);
        sp_events_destroy(ev);
    }
}

static const sp_gen_row *row_of(const sp_gen_table *t, const char *name)
{
    for (size_t i = 0; i < t->n_rows; i++)
        if (!strcmp(t->rows[i].name, name))
            return &t->rows[i];
    return NULL;
}

/* vLLM's llm_request spans (tests/data/otlp/vllm.json) on the tables. Request 1: TTFT 0.12 s, queue
 * 0.05, prefill 0.06, decode 0.12, 7 completion tokens: TTFT [0, 120 ms) = other 10 (arrival to queue:
 * no attribute names it), queue 50, prefill (model) 60; TPOT [120, 240 ms) = decode (model) 120 over 6
 * tokens = 20 ms. Request 2: TTFT 0.03 s = queue 10 + prefill 20 (ttft - queue); no completion tokens,
 * so only its first token: in the TTFT table only. TTFT shares (n = 2) over 150 ms: other 10/150, queue
 * 60/150, prefill (model) 80/150, which leads: a model candidate that the trace cannot split. */
static void test_vllm_otlp(void)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/tests/data/otlp/vllm.json", SP_SOURCE_DIR);
    sp_events *ev;
    sp_events_create(&ev);
    CHECK(sp_events_load_file(ev, path, NULL, err, sizeof err) == SP_OK);
    sp_report *r = NULL;
    CHECK(sp_analyze(ev, NULL, &r, err, sizeof err) == SP_OK);
    const sp_gen_summary *g = r ? r->generation : NULL;
    CHECK(g != NULL);
    if (g) {
        const uint64_t ms = 1000000;
        const sp_gen_table *tt = &g->ttft_table, *tp = &g->tpot_table;
        CHECK_EQ_U64(tt->count, 2);
        CHECK_EQ_U64(tp->count, 1);
        CHECK(row_of(tt, "prefill (model)") && row_of(tt, "prefill (model)")->total_ns == 80 * ms);
        CHECK(row_of(tt, "queue") && row_of(tt, "queue")->total_ns == 60 * ms);
        CHECK(row_of(tt, "other") && row_of(tt, "other")->total_ns == 10 * ms);
        CHECK(row_of(tt, "prefill (model)") && fabs(row_of(tt, "prefill (model)")->share_p95 - 80.0 / 150) < 1e-12);
        CHECK(row_of(tp, "decode (model)") && row_of(tp, "decode (model)")->total_ns == 120 * ms);
        CHECK_EQ_U64(tp->value.p50_ns, 20 * ms);
        CHECK_EQ_U64(g->tpot.p50_ns, 20 * ms);
        CHECK_EQ_U64(g->itl.count, 0);
        CHECK_EQ_U64(g->output_tokens, 8); /* 7, and 1 for the request without a count */
        const sp_verdict *v = &tt->verdict;
        CHECK(v->stage && !strcmp(v->stage, "prefill (model)") && v->group == SP_GROUP_MODEL && !v->recommend_model);
        CHECK(v->sentence && strstr(v->sentence, "53% of p95 TTFT is prefill time as a whole (prefill (model), "
                                                 "model; the trace does not split it into kernel, gap and copies)"));
        /* and the report says what vLLM's spans cannot show */
        CHECK_EQ_U64(g->n_limits, 2);
        if (g->n_limits == 2) {
            CHECK(strstr(g->limits[0], "no step records: prefill and decode are each one stretch of time"));
            CHECK(strstr(g->limits[1], "only the first and last token times are recorded"));
        }
    }
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

int main(void)
{
    test_jsonl_records();
    test_jsonl_malformed();
    test_native_round_trip();
    test_native_malformed();
    test_vllm_otlp();
    return sp_test_done("test_gen_import");
}
