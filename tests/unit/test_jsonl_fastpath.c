/* The JSONL importer reads ordinary lines with a fast path of its own and everything else with the
 * JSON lexer. Differential test: each trace below is loaded as written (ordinary lines: fast path) and
 * with every line rewritten so that the fast path must give up on it (an ignored member holding an
 * array, which only the lexer skips), and the two event models must be identical, field by field.
 * The lines probe the fast path's edges: spacing, duplicate keys, unknown keys, -0, 18 and 19 digit
 * integers, integer ids, empty and mixed "requests" arrays, a line without a final newline. */
#include <stdlib.h>
#include <string.h>

#include "import_testutil.h"

static sp_events *load(const char *text, size_t len, sp_status *st, char *err, size_t errlen)
{
    sp_events *ev;
    *st = it_load_buffer(SP_FORMAT_JSONL, "t.jsonl", text, len, 0, &ev, err, errlen);
    return ev;
}

/* Inserts `,"zz":[null]` before each line's last '}' (lines without one are left alone). */
static char *force_slow(const char *text)
{
    size_t n = strlen(text), lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    char *out = malloc(n + lines * 16 + 1);
    size_t o = 0;
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        const char *e = nl ? nl : s + strlen(s);
        const char *brace = NULL;
        for (const char *q = s; q < e; q++)
            if (*q == '}')
                brace = q;
        for (const char *q = s; q < e; q++) {
            if (q == brace) {
                memcpy(out + o, ",\"zz\":[null]", 12);
                o += 12;
            }
            out[o++] = *q;
        }
        if (nl)
            out[o++] = '\n';
        s = nl ? nl + 1 : e;
    }
    out[o] = '\0';
    return out;
}

static void same_model(const sp_events *a, const sp_events *b)
{
    CHECK_EQ_U64(a->n_requests, b->n_requests);
    CHECK_EQ_U64(a->n_spans, b->n_spans);
    CHECK_EQ_U64(a->n_batches, b->n_batches);
    CHECK_EQ_U64(a->n_acts, b->n_acts);
    CHECK_EQ_U64(a->n_launches, b->n_launches);
    CHECK_EQ_U64(a->n_clients, b->n_clients);
    if (a->n_requests != b->n_requests || a->n_spans != b->n_spans || a->n_batches != b->n_batches ||
        a->n_acts != b->n_acts || a->n_launches != b->n_launches || a->n_clients != b->n_clients)
        return;
    for (size_t i = 0; i < a->n_requests; i++) {
        const sp_ev_request *x = &a->requests[i], *y = &b->requests[i];
        CHECK(strcmp(sp_str_get(&a->strings, x->id), sp_str_get(&b->strings, y->id)) == 0);
        CHECK_EQ_U64(x->arrival_ns, y->arrival_ns);
        CHECK_EQ_U64(x->done_ns, y->done_ns);
        CHECK(sp_ev_req_input_tokens(a, x) == sp_ev_req_input_tokens(b, y));
        CHECK(x->has_record == y->has_record);
        CHECK_EQ_U64(sp_ev_cold(a, x)->client_send_ns, sp_ev_cold(b, y)->client_send_ns);
        CHECK(sp_ev_cold(a, x)->output_tokens == sp_ev_cold(b, y)->output_tokens);
    }
    for (size_t i = 0; i < a->n_spans; i++) {
        const sp_ev_span *x = &a->spans[i], *y = &b->spans[i];
        CHECK_EQ_U64(x->req, y->req);
        CHECK(strcmp(sp_str_get(&a->strings, x->stage), sp_str_get(&b->strings, y->stage)) == 0);
        CHECK_EQ_U64(x->start_ns, y->start_ns);
        CHECK_EQ_U64(x->end_ns, y->end_ns);
    }
    for (size_t i = 0; i < a->n_batches; i++) {
        const sp_ev_batch *x = &a->batches[i], *y = &b->batches[i];
        CHECK(x->id == y->id);
        CHECK_EQ_U64(x->start_ns, y->start_ns);
        CHECK_EQ_U64(x->end_ns, y->end_ns);
        CHECK(x->effective_tokens == y->effective_tokens && x->padded_tokens == y->padded_tokens);
        CHECK_EQ_U64(x->nmembers, y->nmembers);
        CHECK_EQ_U64(x->device, y->device);
        for (uint32_t m = 0; m < x->nmembers && m < y->nmembers; m++)
            CHECK_EQ_U64(a->members[x->first_member + m], b->members[y->first_member + m]);
    }
    for (size_t i = 0; i < a->n_acts; i++) {
        const sp_ev_activity *x = &a->acts[i], *y = &b->acts[i];
        CHECK_EQ_U64(x->start_ns, y->start_ns);
        CHECK_EQ_U64(x->end_ns, y->end_ns);
        CHECK_EQ_U64(x->correlation, y->correlation);
        CHECK_EQ_U64(sp_ev_act_bytes(x), sp_ev_act_bytes(y));
        CHECK(sp_ev_act_stream(a, x) == sp_ev_act_stream(b, y));
        CHECK_EQ_U64(x->batch, y->batch);
        CHECK_EQ_U64(x->device, y->device);
        CHECK_EQ_U64(x->kind, y->kind);
        if (sp_ev_act_name(x) != SP_EV_NONE && sp_ev_act_name(y) != SP_EV_NONE)
            CHECK(strcmp(sp_str_get(&a->strings, sp_ev_act_name(x)), sp_str_get(&b->strings, sp_ev_act_name(y))) == 0);
        else
            CHECK(sp_ev_act_name(x) == sp_ev_act_name(y));
    }
    for (size_t i = 0; i < a->n_launches; i++) {
        const sp_ev_launch *x = &a->launches[i], *y = &b->launches[i];
        CHECK_EQ_U64(x->start_ns, y->start_ns);
        CHECK_EQ_U64(x->end_ns, y->end_ns);
        CHECK_EQ_U64(x->correlation, y->correlation);
        CHECK(strcmp(sp_str_get(&a->strings, x->name), sp_str_get(&b->strings, y->name)) == 0);
    }
    for (size_t i = 0; i < a->n_clients; i++) {
        const sp_ev_client *x = &a->clients[i], *y = &b->clients[i];
        CHECK(strcmp(sp_str_get(&a->strings, x->id), sp_str_get(&b->strings, y->id)) == 0);
        CHECK_EQ_U64(x->intended_ns, y->intended_ns);
        CHECK_EQ_U64(x->send_ns, y->send_ns);
        CHECK_EQ_U64(x->done_ns, y->done_ns);
        CHECK(x->status == y->status);
    }
    CHECK_EQ_U64(a->files[0].ignored, b->files[0].ignored);
}

/* Loads `text` both ways; both must give `want` (and the same message, minus the column the extra
 * member shifts) and, when they load, the same model. */
static void both_ways(const char *text, sp_status want)
{
    char *slow = force_slow(text);
    char e1[512], e2[512];
    sp_status s1, s2;
    sp_events *a = load(text, strlen(text), &s1, e1, sizeof e1);
    sp_events *b = load(slow, strlen(slow), &s2, e2, sizeof e2);
    sp_test_checks++;
    if (s1 != want || s2 != want) {
        sp_test_failures++;
        fprintf(stderr, "text:\n%s\n  fast: %d %s\n  slow: %d %s\n  wanted %d\n", text, (int)s1, e1, (int)s2, e2,
                (int)want);
    }
    if (s1 == SP_OK && s2 == SP_OK)
        same_model(a, b);
    else
        CHECK(strcmp(e1, e2) == 0);   /* semantic errors name no column: identical */
    sp_events_destroy(a);
    sp_events_destroy(b);
    free(slow);
}

static void test_valid(void)
{
    /* every record kind, compact */
    both_ways("{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\"}\n"
              "{\"ev\":\"request\",\"id\":\"req-1\",\"arrival_ns\":1000,\"done_ns\":9000,\"input_tokens\":12}\n"
              "{\"ev\":\"stage\",\"id\":\"req-1\",\"stage\":\"queue\",\"start_ns\":1000,\"end_ns\":2000}\n"
              "{\"ev\":\"batch\",\"batch\":3,\"requests\":[\"req-1\",7],\"start_ns\":2000,\"end_ns\":8000,"
              "\"effective_tokens\":12,\"padded_tokens\":16,\"device\":1}\n"
              "{\"ev\":\"kernel\",\"batch\":3,\"name\":\"gemm\",\"stream\":-7,\"device\":0,\"correlation\":5,"
              "\"start_ns\":2100,\"end_ns\":2500}\n"
              "{\"ev\":\"copy\",\"kind\":\"h2d\",\"bytes\":0,\"stream\":7,\"start_ns\":2000,\"end_ns\":2050}\n"
              "{\"ev\":\"launch\",\"name\":\"cudaLaunchKernel\",\"correlation\":5,\"start_ns\":2000,\"end_ns\":2010}\n"
              "{\"ev\":\"client\",\"id\":\"req-1\",\"intended_ns\":900,\"send_ns\":950,\"done_ns\":9100,\"status\":-2}\n"
              "{\"ev\":\"future_kind\",\"x\":1}\n",
              SP_OK);
    /* spacing (spaces, tabs, CR) everywhere JSON allows it; integer ids; -0; 18 digits; duplicate keys
     * (the last wins, as with the lexer); unknown keys with strings and integers; empty "requests";
     * no final newline */
    both_ways("  { \"ev\" : \"request\" ,\t\"id\" : 42 , \"arrival_ns\" :1, \"done_ns\": 2 }  \r\n"
              "{\"ev\":\"request\",\"id\":\"b\",\"arrival_ns\":-0,\"done_ns\":999999999999999999}\n"
              "{\"ev\":\"stage\",\"id\":\"b\",\"stage\":\"x\",\"stage\":\"y\",\"start_ns\":5,\"start_ns\":6,\"end_ns\":7}\n"
              "{\"note\":\"hello world, a longer text than sixteen bytes\",\"n\":-12,\"ev\":\"stage\",\"id\":42,"
              "\"stage\":\"z\",\"start_ns\":1,\"end_ns\":2}\n"
              "{\"ev\":\"batch\",\"batch\":-1,\"requests\":[ ],\"start_ns\":1,\"end_ns\":2}\n"
              "{\"ev\":\"batch\",\"batch\":2,\"requests\":[ \"b\" , 42 ,\"c\"],\"requests\":[\"b\"],\"start_ns\":1,\"end_ns\":2}\n"
              "{\"ev\":\"launch\",\"name\":\"l\",\"correlation\":0,\"start_ns\":1,\"end_ns\":1}",
              SP_OK);
}

static void test_invalid(void)
{
    /* a 19-digit integer is beyond the fast path; the lexer reads it exactly */
    both_ways("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":1000000000000000000,\"done_ns\":1000000000000000001}\n",
              SP_OK);
    /* semantic errors on lines the fast path reads: the same message as the lexer path gives */
    both_ways("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":5,\"done_ns\":2}\n", SP_ERR_PARSE);
    both_ways("{\"ev\":\"request\",\"id\":\"\",\"arrival_ns\":1,\"done_ns\":2}\n", SP_ERR_PARSE);
    both_ways("{\"ev\":\"request\",\"id\":-3,\"arrival_ns\":-1,\"done_ns\":2}\n", SP_ERR_PARSE);
    both_ways("{\"ev\":\"batch\",\"batch\":1,\"requests\":[\"\"],\"start_ns\":1,\"end_ns\":2}\n", SP_ERR_PARSE);
    both_ways("{\"ev\":\"request\",\"arrival_ns\":1,\"done_ns\":2}\n", SP_ERR_PARSE);
}

int main(void)
{
    test_valid();
    test_invalid();
    return sp_test_done("test_jsonl_fastpath");
}
