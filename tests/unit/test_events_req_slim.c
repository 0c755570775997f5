/* The 48-byte request record (src/model/events_int.h, sp_ev_request; docs/analysis.md section 8,
 * "Memory"): what it keeps in less room comes back exact.
 * - The input tokens take 4 bytes where the count fits them; one outside 32 bits goes to the side
 *   record. JSONL requests with 0, 1, 2^31 - 1 (the last that fits), 2^31, 2^32, 2^53 + 1 and
 *   INT64_MAX tokens, and none (-1), read back through the event view as the trace wrote them; an
 *   exact repeat of a wide request's record is taken, one with another wide count refused. The
 *   native reader (a trace from sp_record_request) does the same for 2^31, 2^40 + 7 and INT64_MAX.
 * - Status, outcome and the two flags share 2 bytes: statuses 0, 200, 429, 503 and 999 with every
 *   outcome, read back as written, from JSONL and from the native reader (sp_record_outcome).
 * - The batch count is where the next request's list starts: requests in 2, 0, 3, 0 and 1 batches,
 *   the last request of the set in one (its list ends at the end of req_batches), read back through
 *   the view with each list's batch ids.
 * The expected values are the trace text's own. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/events_int.h"
#include "model/events_view.h"
#include "servprof/trace.h"
#include "testlib.h"
#include "trace_testutil.h"

static const char *k_jsonl =
    "{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":1000,\"done_ns\":9000,\"input_tokens\":0,\"status\":200}\n"
    "{\"ev\":\"request\",\"id\":\"b\",\"arrival_ns\":1100,\"done_ns\":9100,\"input_tokens\":1,"
    "\"outcome\":\"rejected\",\"status\":429}\n"
    "{\"ev\":\"request\",\"id\":\"c\",\"arrival_ns\":1200,\"done_ns\":9200,\"input_tokens\":2147483647,"
    "\"outcome\":\"error\",\"status\":999}\n"
    "{\"ev\":\"request\",\"id\":\"d\",\"arrival_ns\":1300,\"done_ns\":9300,\"input_tokens\":2147483648,"
    "\"outcome\":\"cancelled\",\"status\":503}\n"
    "{\"ev\":\"request\",\"id\":\"e\",\"arrival_ns\":1400,\"done_ns\":9400,\"input_tokens\":4294967296}\n"
    "{\"ev\":\"request\",\"id\":\"f\",\"arrival_ns\":1500,\"done_ns\":9500,\"input_tokens\":9007199254740993}\n"
    "{\"ev\":\"request\",\"id\":\"g\",\"arrival_ns\":1600,\"input_tokens\":9223372036854775807,"
    "\"outcome\":\"unfinished\"}\n"
    "{\"ev\":\"request\",\"id\":\"h\",\"arrival_ns\":1700,\"done_ns\":9700}\n"
    /* an exact repeat of a wide request's record: taken */
    "{\"ev\":\"request\",\"id\":\"d\",\"arrival_ns\":1300,\"done_ns\":9300,\"input_tokens\":2147483648,"
    "\"outcome\":\"cancelled\",\"status\":503}\n"
    /* batches: a in 2 (10, 30), c in 3 (10, 20, 30), e in 1 (20), h (the last request) in 1 (40) */
    "{\"ev\":\"batch\",\"batch\":10,\"requests\":[\"a\",\"c\"],\"device\":0,\"start_ns\":2000,\"end_ns\":2500}\n"
    "{\"ev\":\"batch\",\"batch\":20,\"requests\":[\"c\",\"e\"],\"device\":0,\"start_ns\":3000,\"end_ns\":3500}\n"
    "{\"ev\":\"batch\",\"batch\":30,\"requests\":[\"a\",\"c\"],\"device\":0,\"start_ns\":4000,\"end_ns\":4500}\n"
    "{\"ev\":\"batch\",\"batch\":40,\"requests\":[\"h\"],\"device\":0,\"start_ns\":5000,\"end_ns\":5500}\n";

static void test_jsonl_exact(void)
{
    static const struct {
        const char *id;
        int64_t tokens;
        sp_outcome outcome;
        int32_t status;
        uint32_t n_batches;
        int64_t batch_ids[3];
    } want[] = {
        {"a", 0, SP_OUTCOME_OK, 200, 2, {10, 30}},
        {"b", 1, SP_OUTCOME_REJECTED, 429, 0, {0}},
        {"c", 2147483647, SP_OUTCOME_ERROR, 999, 3, {10, 20, 30}},
        {"d", 2147483648ll, SP_OUTCOME_CANCELLED, 503, 0, {0}},
        {"e", 4294967296ll, SP_OUTCOME_OK, 0, 1, {20}},
        {"f", 9007199254740993ll, SP_OUTCOME_OK, 0, 0, {0}},
        {"g", INT64_MAX, SP_OUTCOME_UNFINISHED, 0, 0, {0}},
        {"h", -1, SP_OUTCOME_OK, 0, 1, {40}},
    };
    size_t n = sizeof want / sizeof want[0];
    sp_events *ev = NULL;
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[512] = "";
    sp_status st = sp_events_load_buffer(ev, "reqs.jsonl", k_jsonl, strlen(k_jsonl), NULL, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "load failed: %s\n", err);
    CHECK(st == SP_OK);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(sp_view_requests(ev), n);
    CHECK_EQ_U64(ev->n_req_colds, 4); /* d, e, f, g: their counts do not fit 32 bits */
    for (size_t i = 0; i < n && i < sp_view_requests(ev); i++) {
        sp_view_request q;
        sp_view_request_at(ev, i, &q);
        CHECK(strcmp(q.id, want[i].id) == 0);
        CHECK(q.input_tokens == want[i].tokens);
        if (q.input_tokens != want[i].tokens)
            fprintf(stderr, "  request %s: %" PRId64 " tokens, want %" PRId64 "\n", want[i].id, q.input_tokens,
                    want[i].tokens);
        CHECK_EQ_U64(q.outcome, want[i].outcome);
        CHECK_EQ_U64(q.status, want[i].status);
        CHECK(q.has_record);
        CHECK_EQ_U64(q.n_batches, want[i].n_batches);
        for (uint32_t k = 0; k < q.n_batches && k < want[i].n_batches; k++)
            CHECK_EQ_U64(ev->batches[sp_view_request_batch(ev, i, k)].id, want[i].batch_ids[k]);
    }
    sp_events_destroy(ev);
}

/* A second record for a wide request with another wide count is two requests under one id: refused. */
static void test_jsonl_wide_repeat_differs(void)
{
    const char *t = "{\"ev\":\"request\",\"id\":\"d\",\"arrival_ns\":1300,\"done_ns\":9300,\"input_tokens\":2147483648}\n"
                    "{\"ev\":\"request\",\"id\":\"d\",\"arrival_ns\":1300,\"done_ns\":9300,\"input_tokens\":2147483649}\n";
    sp_events *ev = NULL;
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[512] = "";
    sp_status st = sp_events_load_buffer(ev, "rep.jsonl", t, strlen(t), NULL, err, sizeof err);
    CHECK(st != SP_OK);
    CHECK(strstr(err, "duplicate request record") != NULL);
    sp_events_destroy(ev);
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    *n = b && len > 0 ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static void test_native_exact(void)
{
    static const struct {
        int64_t tokens;
        sp_outcome outcome;
        int32_t status;
    } want[] = {
        {5, SP_OUTCOME_OK, 0},
        {2147483648ll, SP_OUTCOME_REJECTED, 429},
        {(1ll << 40) + 7, SP_OUTCOME_ERROR, 999},
        {INT64_MAX, SP_OUTCOME_CANCELLED, 503},
        {-1, SP_OUTCOME_OK, 200},
    };
    size_t n = sizeof want / sizeof want[0];
    char path[256];
    tt_path(path, "req_slim");
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    for (size_t i = 0; i < n; i++) {
        uint64_t id = 1 + i;
        sp_record_request(rec, id, 1000 + 100 * i, 9000 + 100 * i, want[i].tokens);
        sp_record_outcome(rec, id, want[i].outcome, want[i].status);
    }
    CHECK(sp_recorder_close(rec) == SP_OK);
    size_t len = 0;
    unsigned char *buf = read_all(path, &len);
    unlink(path);
    sp_events *ev = NULL;
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[512] = "";
    sp_status st = sp_events_load_buffer(ev, "req_slim.sptrace", buf, len, NULL, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "load failed: %s\n", err);
    CHECK(st == SP_OK);
    free(buf);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    CHECK(sp_view_ids_ready(ev) == SP_OK);
    CHECK_EQ_U64(sp_view_requests(ev), n);
    CHECK_EQ_U64(ev->n_req_colds, 3);
    for (size_t i = 0; i < n && i < sp_view_requests(ev); i++) {
        sp_view_request q;
        sp_view_request_at(ev, i, &q);
        char id[24];
        snprintf(id, sizeof id, "%zu", i + 1);
        CHECK(strcmp(q.id, id) == 0);
        CHECK(q.input_tokens == want[i].tokens);
        CHECK_EQ_U64(q.outcome, want[i].outcome);
        CHECK_EQ_U64(q.status, want[i].status);
        CHECK_EQ_U64(q.n_batches, 0);
    }
    sp_events_destroy(ev);
}

int main(void)
{
    CHECK_EQ_U64(sizeof(sp_ev_request), 48);
    test_jsonl_exact();
    test_jsonl_wide_repeat_differs();
    test_native_exact();
    return sp_test_done("test_events_req_slim");
}
