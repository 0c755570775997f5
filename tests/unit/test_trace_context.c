/* W3C trace context end to end inside the library: the traceparent parser against the
 * Recommendation's rules and its own example header, the recorder's trace-context record and the
 * native meta record's wall-clock anchor read back through the model, the JSONL keys and their
 * errors, and the client join by trace id with the report's trace-context counts. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tracectx.h"
#include "json_mini.h"
#include "model/events_view.h"
#include "trace_testutil.h"

/* The example header of the W3C Trace Context Recommendation (section 3.2.2.1,
 * https://www.w3.org/TR/trace-context/): version 00, trace-id 4bf92f3577b34da6a3ce929d0e0e4736,
 * parent-id 00f067aa0ba902b7, sampled. */
#define SPEC_TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int parses(const char *tp)
{
    sp_trace_context c;
    return sp_trace_context_parse(tp, strlen(tp), &c) == SP_OK;
}

static void test_parse(void)
{
    sp_trace_context c;
    memset(&c, 0xaa, sizeof c);
    CHECK(sp_trace_context_parse(SPEC_TP, strlen(SPEC_TP), &c) == SP_OK);
    static const uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                    0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    static const uint8_t pid[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
    CHECK(memcmp(c.trace_id, tid, 16) == 0);
    CHECK(memcmp(c.parent_id, pid, 8) == 0);
    CHECK(sp_bytes_zero(c.span_id, 8)); /* the caller gives its own */
    CHECK_EQ_U64(c.flags, 1);
    /* the writer gives back the header with the span as the parent */
    memcpy(c.span_id, pid, 8);
    char out[SP_TRACEPARENT_LEN + 1];
    sp_traceparent_write(&c, out);
    CHECK(strcmp(out, SPEC_TP) == 0);
    /* accepted: not sampled; optional white space; a later version with a field of its own appended
     * (the Recommendation's forward-compatibility rule), or without one */
    CHECK(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    CHECK(parses(" \t" SPEC_TP " "));
    CHECK(parses("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds"));
    CHECK(parses("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09"));
    /* refused */
    CHECK(!parses("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));  /* version ff */
    CHECK(!parses("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));  /* upper case */
    CHECK(!parses("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));  /* zero trace-id */
    CHECK(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));  /* zero parent-id */
    CHECK(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")); /* 00 has no more */
    CHECK(!parses("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));  /* no '-' after */
    CHECK(!parses("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"));    /* short trace-id */
    CHECK(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"));      /* no flags */
    CHECK(!parses("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"));
    CHECK(!parses("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
    CHECK(!parses(""));
    CHECK(sp_trace_context_parse(NULL, 0, &c) == SP_ERR_INVALID);
}

static void ctx_of(sp_trace_context *c, uint8_t t, uint8_t s, uint8_t p, uint8_t flags)
{
    memset(c->trace_id, t, 16);
    memset(c->span_id, s, 8);
    memset(c->parent_id, p, 8);
    c->flags = flags;
}

/* The recorder writes the context (record 16) and the native importer gives it back; ids that are
 * not valid W3C ids are dropped and counted, never written. The meta record ties the clock to Unix
 * time. */
static void test_native_record(void)
{
    char path[256];
    tt_path(path, "tracectx");
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t expect_offset = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec - (int64_t)sp_now_ns();
    sp_trace_context a, b, bad;
    ctx_of(&a, 0x11, 0x22, 0x33, 1);
    ctx_of(&b, 0x44, 0x55, 0x00, 0); /* a root: no parent */
    sp_record_request(rec, 1, 1000, 2000, 3);
    sp_record_request_trace(rec, 1, &a);
    sp_record_request(rec, 2, 1500, 2500, 3);
    sp_record_request_trace(rec, 2, &b);
    ctx_of(&bad, 0x11, 0x00, 0x33, 1); /* zero span id */
    sp_record_request_trace(rec, 2, &bad);
    sp_record_request_trace(rec, 2, NULL);
    CHECK(sp_recorder_close(rec) == SP_OK);
    /* on disk, as docs/native-format.md lays it out (not through native_format.h, so a renumbering
     * fails here): header {u16 type 16, u16 size 48, u32 aux = flags 1}, request id 1, then the ids'
     * bytes in order: 16 x 0x11, 8 x 0x22, 8 x 0x33. Types 14 and 15 are the generation records. */
    static const uint8_t want_rec[48] = {
        16, 0, 48, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
        0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33};
    FILE *raw = fopen(path, "rb");
    CHECK(raw != NULL);
    static uint8_t bytes[1 << 16];
    size_t nb = raw ? fread(bytes, 1, sizeof bytes, raw) : 0;
    if (raw)
        fclose(raw);
    int found = 0;
    for (size_t i = 0; i + sizeof want_rec <= nb && !found; i += 8) /* records are 8-byte aligned */
        found = memcmp(bytes + i, want_rec, sizeof want_rec) == 0;
    CHECK(found);
    sp_events *ev = tt_load(path);
    char err[256];
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_TOO_LARGE], 2);
    CHECK_EQ_U64(sp_view_requests(ev), 2);
    sp_view_request rq;
    for (size_t i = 0; i < sp_view_requests(ev); i++) {
        sp_view_request_at(ev, i, &rq);
        CHECK(rq.has_trace);
        const sp_trace_context *want = strcmp(rq.id, "1") == 0 ? &a : &b;
        CHECK(memcmp(&rq.trace.trace_id, want->trace_id, 16) == 0);
        CHECK(memcmp(&rq.trace.span_id, want->span_id, 8) == 0);
        CHECK(memcmp(&rq.trace.parent_id, want->parent_id, 8) == 0);
        CHECK_EQ_U64(rq.trace.flags, want->flags);
    }
    sp_view_file vf;
    sp_view_file_at(ev, 0, &vf);
    CHECK(vf.has_unix_offset);
    /* realtime - monotonic as read here, within the time between our reads and the recorder's */
    CHECK(llabs(vf.unix_offset_ns - expect_offset) < 1000000000LL);
    sp_events_destroy(ev);
    remove(path);
}

/* JSONL: a request's and a client's trace context, the meta's anchor, and malformed ids named by
 * line. */
static void test_jsonl(void)
{
    sp_events *ev = sp_test_load_jsonl(
        "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"unix_offset_ns\":-5}\n"
        "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":10,\"done_ns\":20,\"trace_id\":\"4BF92F3577B34DA6A3CE929D0E0E4736\","
        "\"span_id\":\"1111111111111111\",\"parent_span_id\":\"00f067aa0ba902b7\",\"trace_flags\":0}\n"
        "{\"ev\":\"request\",\"id\":\"r2\",\"arrival_ns\":10,\"done_ns\":20}\n"
        "{\"ev\":\"client\",\"id\":\"r1\",\"intended_ns\":5,\"send_ns\":6,\"done_ns\":25,\"status\":200,"
        "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"}\n");
    char err[256];
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    CHECK(ev->files[0].has_unix_offset && ev->files[0].unix_offset_ns == -5);
    sp_view_request rq;
    for (size_t i = 0; i < sp_view_requests(ev); i++) {
        sp_view_request_at(ev, i, &rq);
        if (strcmp(rq.id, "r1") == 0) {
            char hex[33];
            CHECK(rq.has_trace);
            sp_hex_write(rq.trace.trace_id, 16, hex);
            CHECK(strcmp(hex, "4bf92f3577b34da6a3ce929d0e0e4736") == 0); /* either case in, one value */
            CHECK_EQ_U64(rq.trace.flags, 0);
            CHECK(rq.client_has_trace);
            CHECK(memcmp(rq.client_span_id, rq.trace.parent_id, 8) == 0);
        } else {
            CHECK(!rq.has_trace);
        }
    }
    CHECK_EQ_U64(ev->trace_matched, 1);
    sp_events_destroy(ev);

    static const struct {
        const char *line, *says;
    } bad[] = {
        {"{\"ev\":\"request\",\"id\":\"r\",\"arrival_ns\":1,\"done_ns\":2,\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}",
         "\"trace_id\" without \"span_id\""},
        {"{\"ev\":\"request\",\"id\":\"r\",\"arrival_ns\":1,\"done_ns\":2,\"trace_id\":\"4bf9\",\"span_id\":\"1111111111111111\"}",
         "\"trace_id\" must be 32 hex digits"},
        {"{\"ev\":\"client\",\"id\":\"r\",\"intended_ns\":1,\"send_ns\":1,\"done_ns\":2,\"status\":200,"
         "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"0000000000000000\"}",
         "\"span_id\" is all zeros"},
        {"{\"ev\":\"request\",\"id\":\"r\",\"arrival_ns\":1,\"done_ns\":2,\"parent_span_id\":\"1111111111111111\"}",
         "\"parent_span_id\" without \"trace_id\""},
        {"{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"unix_offset_ns\":\"now\"}", "\"unix_offset_ns\" must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sp_events *e2;
        CHECK(sp_events_create(&e2) == SP_OK);
        char text[512];
        snprintf(text, sizeof text, "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n%s\n", bad[i].line);
        CHECK(sp_events_load_buffer(e2, "bad.jsonl", text, strlen(text), NULL, err, sizeof err) == SP_ERR_PARSE);
        if (!strstr(err, "bad.jsonl:2: ") || !strstr(err, bad[i].says)) {
            fprintf(stderr, "message \"%s\" lacks \"bad.jsonl:2: ... %s\"\n", err, bad[i].says);
            CHECK(0);
        }
        sp_events_destroy(e2);
    }
}

/* A client whose ids the server did not keep (it labelled its requests otherwise) still joins, by
 * the trace id it sent: carried in its record, or as its id text. The report counts the joins and
 * whether the server continued the client's span. */
static void test_join_by_trace(void)
{
    static const char server[] =
        "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n"
        "{\"ev\":\"request\",\"id\":\"s1\",\"arrival_ns\":1000,\"done_ns\":2000,"
        "\"trace_id\":\"11111111111111111111111111111111\",\"span_id\":\"aaaaaaaaaaaaaaaa\",\"parent_span_id\":\"c1c1c1c1c1c1c1c1\"}\n"
        "{\"ev\":\"request\",\"id\":\"s2\",\"arrival_ns\":3000,\"done_ns\":4000,"
        "\"trace_id\":\"22222222222222222222222222222222\",\"span_id\":\"bbbbbbbbbbbbbbbb\",\"parent_span_id\":\"0123456789abcdef\"}\n"
        "{\"ev\":\"request\",\"id\":\"s3\",\"arrival_ns\":5000,\"done_ns\":6000,"
        "\"trace_id\":\"33333333333333333333333333333333\",\"span_id\":\"cccccccccccccccc\"}\n"
        "{\"ev\":\"request\",\"id\":\"s4\",\"arrival_ns\":7000,\"done_ns\":8000}\n";
    static const char client[] =
        "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n"
        /* joins s1 by trace id; the server's parent is this span: they agree */
        "{\"ev\":\"client\",\"id\":\"c-1\",\"intended_ns\":900,\"send_ns\":900,\"done_ns\":2100,\"status\":200,"
        "\"trace_id\":\"11111111111111111111111111111111\",\"span_id\":\"c1c1c1c1c1c1c1c1\"}\n"
        /* joins s2 by trace id, but the server continued another span (a proxy between them) */
        "{\"ev\":\"client\",\"id\":\"c-2\",\"intended_ns\":2900,\"send_ns\":2900,\"done_ns\":4100,\"status\":200,"
        "\"trace_id\":\"22222222222222222222222222222222\",\"span_id\":\"c2c2c2c2c2c2c2c2\"}\n"
        /* knows its request by trace id only: its id text is the trace id */
        "{\"ev\":\"client\",\"id\":\"33333333333333333333333333333333\",\"intended_ns\":4900,\"send_ns\":4900,"
        "\"done_ns\":6100,\"status\":200}\n"
        /* joins by id text as always */
        "{\"ev\":\"client\",\"id\":\"s4\",\"intended_ns\":6900,\"send_ns\":6900,\"done_ns\":8100,\"status\":200}\n"
        /* a trace nobody recorded */
        "{\"ev\":\"client\",\"id\":\"c-5\",\"intended_ns\":6900,\"send_ns\":6900,\"done_ns\":8100,\"status\":200,"
        "\"trace_id\":\"55555555555555555555555555555555\",\"span_id\":\"c5c5c5c5c5c5c5c5\"}\n";
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[256];
    CHECK(sp_events_load_buffer(ev, "server.jsonl", server, strlen(server), NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "client.jsonl", client, strlen(client), NULL, err, sizeof err) == SP_OK);
    sp_report *r = NULL;
    CHECK(sp_analyze(ev, NULL, &r, err, sizeof err) == SP_OK);
    if (r) {
        CHECK_EQ_U64(r->requests_with_client, 4);
        CHECK_EQ_U64(r->client_records_by_trace, 3);
        CHECK_EQ_U64(r->client_records_unjoined, 1);
        CHECK_EQ_U64(r->trace_context_requests, 3);
        CHECK_EQ_U64(r->trace_context_matched, 1);
        CHECK_EQ_U64(r->trace_context_mismatched, 1);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        CHECK(sp_report_write_json(r, f) == SP_OK);
        fclose(f);
        jv root;
        const char *why;
        size_t at;
        CHECK(jv_parse(buf, len, &root, &why, &at) == 0);
        CHECK_EQ_U64(jv_path(&root, "clock.client_records.by_trace_id")->num, 3);
        CHECK_EQ_U64(jv_path(&root, "clock.trace_context.requests")->num, 3);
        CHECK_EQ_U64(jv_path(&root, "clock.trace_context.matched")->num, 1);
        CHECK_EQ_U64(jv_path(&root, "clock.trace_context.mismatched")->num, 1);
        jv_free(&root);
        free(buf);
        buf = NULL;
        f = open_memstream(&buf, &len);
        CHECK(sp_report_write_text(r, f) == SP_OK);
        fclose(f);
        CHECK(strstr(buf, "trace context: 1 of 2 joined requests continue another trace or span") != NULL);
        free(buf);
    }
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

int main(void)
{
    test_parse();
    test_native_record();
    test_jsonl();
    test_join_by_trace();
    return sp_test_done("test_trace_context");
}
