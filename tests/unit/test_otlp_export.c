/* servprof export --otlp's writer (sp_report_write_otlp): every line is one OTLP/JSON
 * ExportTraceServiceRequest whose fields have the names and types the OpenTelemetry protocol gives
 * them (the schema check), and the project's own OTLP importer reads the export back to the same
 * requests (ids, times, tokens, outcomes, trace context), stage spans and batches (the round trip).
 * A trace with no tie to Unix time is refused unless the caller gives one. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/tracectx.h"
#include "json_mini.h"
#include "model/events_int.h"
#include "model/events_view.h"
#include "testlib.h"

#define UNIX0 1700000000000000000LL /* the trace's clock 0 is 2023-11-14T22:13:20Z */

/* r1 carries the context of a traceparent (parent = the caller's span); r2 none (the export makes
 * ids up); r2 runs in two batches (continuous batching); r3 was rejected; r4 never finished; a
 * named stage; a kernel (device activity is not exported). */
static const char trace_text[] =
    "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"unix_offset_ns\":1700000000000000000,"
    "\"price_per_hour\":2.5,\"properties\":{\"service\":\"test-service\",\"device\":\"cpu\",\"policy.max_batch\":\"8\"}}\n"
    "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":1000,\"done_ns\":905000,\"input_tokens\":37,"
    "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"53995c3f42cd8ad8\",\"parent_span_id\":\"00f067aa0ba902b7\"}\n"
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"preprocess\",\"start_ns\":1000,\"end_ns\":51000}\n"
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"queue\",\"start_ns\":51000,\"end_ns\":301000}\n"
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"postprocess\",\"start_ns\":801000,\"end_ns\":905000}\n"
    "{\"ev\":\"request\",\"id\":\"r2\",\"arrival_ns\":2000,\"done_ns\":1500000,\"input_tokens\":23}\n"
    "{\"ev\":\"stage\",\"id\":\"r2\",\"stage\":\"retrieve\",\"start_ns\":2000,\"end_ns\":60000}\n"
    "{\"ev\":\"stage\",\"id\":\"r2\",\"stage\":\"queue\",\"start_ns\":60000,\"end_ns\":301000}\n"
    "{\"ev\":\"batch\",\"batch\":7,\"requests\":[\"r1\",\"r2\"],\"start_ns\":301000,\"end_ns\":801000,"
    "\"effective_tokens\":60,\"padded_tokens\":80}\n"
    "{\"ev\":\"batch\",\"batch\":8,\"requests\":[\"r2\"],\"start_ns\":900000,\"end_ns\":1400000,"
    "\"effective_tokens\":23,\"padded_tokens\":32}\n"
    "{\"ev\":\"kernel\",\"batch\":7,\"name\":\"gemm\",\"stream\":0,\"start_ns\":331000,\"end_ns\":761000}\n"
    "{\"ev\":\"request\",\"id\":\"r3\",\"arrival_ns\":3000,\"done_ns\":4000,\"outcome\":\"rejected\",\"status\":503}\n"
    "{\"ev\":\"request\",\"id\":\"r4\",\"arrival_ns\":5000,\"outcome\":\"unfinished\"}\n";

static sp_events *load(const char *name, const char *text, size_t len)
{
    sp_events *ev;
    char err[512];
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    if (sp_events_load_buffer(ev, name, text, len, NULL, err, sizeof err) != SP_OK) {
        fprintf(stderr, "loading %s: %s\n", name, err);
        exit(1);
    }
    if (sp_ev_finish(ev, false, err, sizeof err) != SP_OK) {
        fprintf(stderr, "finishing %s: %s\n", name, err);
        exit(1);
    }
    return ev;
}

static char *export_text(const sp_events *ev, const sp_otlp_options *opt, size_t *len, sp_status *st,
                         sp_otlp_result *res, char *err, size_t errlen)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        exit(1);
    *st = sp_report_write_otlp(ev, opt, f, res, err, errlen);
    fclose(f);
    return buf;
}

/* ---- the schema check: OTLP's JSON encoding (opentelemetry-proto, docs/specification.md "JSON
 * Protobuf Encoding", and the trace.proto / common.proto messages): lowerCamelCase keys, trace and
 * span ids as hex (not base64), 64-bit integers (times, intValue) as strings of decimal digits, enums
 * (kind, status code) and fixed32 flags as JSON numbers. ---- */

static int is_hex_id(const jv *v, size_t bytes)
{
    if (!v || v->type != JV_STR || strlen(v->str) != 2 * bytes)
        return 0;
    int nonzero = 0;
    for (size_t i = 0; i < 2 * bytes; i++) {
        char c = v->str[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0; /* lower case, as the W3C ids are written */
        nonzero |= c != '0';
    }
    return nonzero; /* an all-zero id is invalid */
}

static int is_u64_string(const jv *v)
{
    if (!v || v->type != JV_STR || !v->str[0] || strlen(v->str) > 20)
        return 0;
    for (const char *p = v->str; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return 1;
}

static int is_int(const jv *v, double lo, double hi)
{
    return v && v->type == JV_NUM && !strpbrk(v->raw, ".eE") && v->num >= lo && v->num <= hi;
}

/* An AnyValue with exactly one of the scalar fields. */
static int any_value_ok(const jv *v)
{
    if (!v || v->type != JV_OBJ || v->n != 1)
        return 0;
    const char *k = v->keys[0];
    const jv *x = &v->items[0];
    if (strcmp(k, "stringValue") == 0)
        return x->type == JV_STR;
    if (strcmp(k, "boolValue") == 0)
        return x->type == JV_BOOL;
    if (strcmp(k, "doubleValue") == 0)
        return x->type == JV_NUM;
    if (strcmp(k, "intValue") == 0) { /* int64: a string of an optional '-' and digits */
        if (x->type != JV_STR || !x->str[0])
            return 0;
        const char *p = x->str + (x->str[0] == '-');
        if (!*p)
            return 0;
        for (; *p; p++)
            if (!isdigit((unsigned char)*p))
                return 0;
        return 1;
    }
    return 0;
}

static int attributes_ok(const jv *a)
{
    if (!a || a->type != JV_ARR)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const jv *kv = &a->items[i], *k = jv_get(kv, "key");
        if (kv->type != JV_OBJ || !k || k->type != JV_STR || !k->str[0] || !any_value_ok(jv_get(kv, "value")))
            return 0;
    }
    return 1;
}

static const char *const span_keys[] = {"traceId", "spanId", "parentSpanId", "flags", "name", "kind",
                                        "startTimeUnixNano", "endTimeUnixNano", "attributes", "events", "links", "status"};

/* Checks one span; returns a reason, or NULL. */
static const char *span_problem(const jv *s)
{
    if (s->type != JV_OBJ)
        return "a span is not an object";
    for (size_t i = 0; i < s->n; i++) {
        int known = 0;
        for (size_t k = 0; k < sizeof span_keys / sizeof span_keys[0]; k++)
            known |= strcmp(s->keys[i], span_keys[k]) == 0;
        if (!known)
            return "a key that is not a field of Span";
    }
    if (!is_hex_id(jv_get(s, "traceId"), 16))
        return "traceId is not 32 lower-case hex digits (not all zero)";
    if (!is_hex_id(jv_get(s, "spanId"), 8))
        return "spanId is not 16 lower-case hex digits (not all zero)";
    const jv *parent = jv_get(s, "parentSpanId");
    if (parent && !is_hex_id(parent, 8))
        return "parentSpanId is not 16 hex digits";
    const jv *name = jv_get(s, "name");
    if (!name || name->type != JV_STR || !name->str[0])
        return "name is missing or empty";
    if (!is_int(jv_get(s, "kind"), 1, 5)) /* SpanKind: INTERNAL 1 .. CONSUMER 5 */
        return "kind is not a SpanKind number";
    if (jv_get(s, "flags") && !is_int(jv_get(s, "flags"), 0, 4294967295.0))
        return "flags is not a fixed32";
    const jv *st = jv_get(s, "startTimeUnixNano"), *en = jv_get(s, "endTimeUnixNano");
    if (!is_u64_string(st) || !is_u64_string(en))
        return "a time is not a string of decimal digits";
    if (strtoull(en->str, NULL, 10) < strtoull(st->str, NULL, 10))
        return "endTimeUnixNano is before startTimeUnixNano";
    if (!attributes_ok(jv_get(s, "attributes")))
        return "attributes are not KeyValue objects with one AnyValue each";
    const jv *events = jv_get(s, "events");   /* Span.Event: timeUnixNano (fixed64), name, attributes */
    if (events) {
        if (events->type != JV_ARR)
            return "events is not an array";
        if (events->n > 1000)
            return "more than 1000 events on one span (the writer's cap, under the importer's 4096)";
        for (size_t i = 0; i < events->n; i++) {
            const jv *e = &events->items[i], *en_name = jv_get(e, "name");
            if (e->type != JV_OBJ || !is_u64_string(jv_get(e, "timeUnixNano")) || !en_name || en_name->type != JV_STR ||
                !attributes_ok(jv_get(e, "attributes")))
                return "an event is not {timeUnixNano (digits), name, attributes}";
            uint64_t t = strtoull(jv_get(e, "timeUnixNano")->str, NULL, 10);
            if (t < strtoull(st->str, NULL, 10) || t > strtoull(en->str, NULL, 10))
                return "an event lies outside its span";
        }
    }
    const jv *links = jv_get(s, "links");
    if (links) {
        if (links->type != JV_ARR)
            return "links is not an array";
        for (size_t i = 0; i < links->n; i++)
            if (!is_hex_id(jv_get(&links->items[i], "traceId"), 16) || !is_hex_id(jv_get(&links->items[i], "spanId"), 8) ||
                (jv_get(&links->items[i], "attributes") && !attributes_ok(jv_get(&links->items[i], "attributes"))))
                return "a link lacks a valid traceId or spanId";
    }
    const jv *status = jv_get(s, "status");
    if (status && (status->type != JV_OBJ || !is_int(jv_get(status, "code"), 0, 2)))
        return "status.code is not a StatusCode number";
    return NULL;
}

/* Every line one ExportTraceServiceRequest; every span checked; spans counted into *spans. */
static void check_schema(const char *text, size_t len, uint64_t *spans)
{
    *spans = 0;
    const char *p = text, *end = text + len;
    size_t docs = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        CHECK(nl != NULL); /* each document ends its line */
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        jv root;
        const char *why;
        size_t at;
        if (jv_parse(p, n, &root, &why, &at)) {
            fprintf(stderr, "line %zu does not parse: %s at %zu\n", docs + 1, why, at);
            CHECK(0);
            return;
        }
        docs++;
        const jv *rs = jv_get(&root, "resourceSpans");
        CHECK(root.type == JV_OBJ && root.n == 1 && rs && rs->type == JV_ARR && rs->n >= 1);
        for (size_t i = 0; rs && i < rs->n; i++) {
            const jv *r = &rs->items[i];
            CHECK(attributes_ok(jv_path(r, "resource.attributes")));
            const jv *ss = jv_get(r, "scopeSpans");
            CHECK(ss && ss->type == JV_ARR);
            for (size_t j = 0; ss && j < ss->n; j++) {
                const jv *scope = jv_path(&ss->items[j], "scope.name");
                CHECK(scope && scope->type == JV_STR && strcmp(scope->str, "servprof") == 0);
                const jv *sp = jv_get(&ss->items[j], "spans");
                CHECK(sp && sp->type == JV_ARR && sp->n > 0);
                for (size_t k = 0; sp && k < sp->n; k++) {
                    const char *why_bad = span_problem(&sp->items[k]);
                    if (why_bad) {
                        fprintf(stderr, "line %zu, span %zu: %s\n", docs, k, why_bad);
                        CHECK(0);
                    }
                    (*spans)++;
                }
            }
        }
        jv_free(&root);
        p = nl ? nl + 1 : end;
    }
    CHECK(docs >= 1);
}

/* ---- the round trip ---- */

static uint32_t find_request(const sp_events *ev, const char *id)
{
    sp_view_request rq;
    for (size_t i = 0; i < sp_view_requests(ev); i++) {
        sp_view_request_at(ev, i, &rq);
        if (strcmp(rq.id, id) == 0)
            return (uint32_t)i;
    }
    return SP_VIEW_NONE;
}

static void check_request_back(const sp_events *a, const sp_events *b, const char *id)
{
    uint32_t ia = find_request(a, id), ib = find_request(b, id);
    CHECK(ia != SP_VIEW_NONE && ib != SP_VIEW_NONE);
    if (ia == SP_VIEW_NONE || ib == SP_VIEW_NONE) {
        fprintf(stderr, "request %s is not in both\n", id);
        return;
    }
    sp_view_request x, y;
    sp_view_request_at(a, ia, &x);
    sp_view_request_at(b, ib, &y);
    /* the export's times are Unix times: the original's plus the trace's anchor */
    CHECK_EQ_U64(y.arrival_ns, x.arrival_ns + UNIX0);
    CHECK_EQ_U64(y.done_ns, x.done_ns + UNIX0);
    CHECK_EQ_U64(y.input_tokens, x.input_tokens);
    CHECK_EQ_U64(y.outcome, x.outcome);
    CHECK_EQ_U64(y.status, x.status);
    CHECK_EQ_U64(y.n_spans, x.n_spans);
    sp_view_span sx, sy;
    for (uint32_t k = 0; k < x.n_spans && k < y.n_spans; k++) {
        sp_view_request_span(a, ia, k, &sx);
        sp_view_request_span(b, ib, k, &sy);
        CHECK(strcmp(sx.stage, sy.stage) == 0);
        CHECK_EQ_U64(sy.start_ns, sx.start_ns + UNIX0);
        CHECK_EQ_U64(sy.end_ns, sx.end_ns + UNIX0);
    }
    CHECK_EQ_U64(y.n_batches, x.n_batches);
    sp_view_batch bx, by;
    for (uint32_t k = 0; k < x.n_batches && k < y.n_batches; k++) {
        sp_view_batch_at(a, sp_view_request_batch(a, ia, k), &bx);
        sp_view_batch_at(b, sp_view_request_batch(b, ib, k), &by);
        CHECK_EQ_U64(by.id, bx.id);
        CHECK_EQ_U64(by.start_ns, bx.start_ns + UNIX0);
        CHECK_EQ_U64(by.end_ns, bx.end_ns + UNIX0);
        CHECK_EQ_U64(by.n_members, bx.n_members);
        CHECK_EQ_U64(by.effective_tokens, bx.effective_tokens);
        CHECK_EQ_U64(by.padded_tokens, bx.padded_tokens);
    }
    CHECK(y.has_trace); /* every exported request is a trace */
    if (x.has_trace) {
        CHECK(memcmp(&x.trace, &y.trace, sizeof x.trace) == 0);
    }
}

static void test_round_trip_and_schema(void)
{
    sp_events *ev = load("trace.jsonl", trace_text, strlen(trace_text));
    size_t len;
    sp_status st;
    sp_otlp_result res;
    char err[512] = "";
    char *text = export_text(ev, NULL, &len, &st, &res, err, sizeof err);
    CHECK(st == SP_OK);
    /* r1, r2, r3 and r4 (unfinished: its span ends at the trace's last time, r2's done 1500000, the
     * latest time of any record); spans: 4 requests + 5 stage spans + 3 batch memberships (r1 in 7, r2
     * in 7 and 8) + 2 batches */
    CHECK_EQ_U64(res.requests, 4);
    CHECK_EQ_U64(res.unfinished_requests, 1);
    CHECK_EQ_U64(res.skipped_requests, 0);
    CHECK_EQ_U64(res.tokens_left_out, 0);
    CHECK_EQ_U64(res.batches, 2);
    CHECK_EQ_U64(res.spans, 4 + 5 + 3 + 2);
    uint64_t spans;
    check_schema(text, len, &spans);
    CHECK_EQ_U64(spans, res.spans);
    /* one trace exported twice is the same bytes (made-up ids are functions of the trace) */
    size_t len2;
    char *again = export_text(ev, NULL, &len2, &st, NULL, err, sizeof err);
    CHECK(len2 == len && memcmp(again, text, len) == 0);
    free(again);
    /* the resource names the service and the file */
    CHECK(strstr(text, "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"test-service\"}}") != NULL);
    /* the recorded context is kept: r1's server span under the caller's span */
    CHECK(strstr(text, "\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"53995c3f42cd8ad8\","
                       "\"parentSpanId\":\"00f067aa0ba902b7\"") != NULL);

    sp_events *back = load("export.otlp.jsonl", text, len);
    CHECK_EQ_U64(sp_view_requests(back), 4);
    check_request_back(ev, back, "r1");
    check_request_back(ev, back, "r2");
    check_request_back(ev, back, "r3");
    /* r4 comes back unfinished, from its arrival, its span's end at the trace's last time; the file's
     * last time (where the analysis measures it to) is the original's */
    sp_view_request r4;
    uint32_t i4 = find_request(back, "r4");
    CHECK(i4 != SP_VIEW_NONE);
    if (i4 != SP_VIEW_NONE) {
        sp_view_request_at(back, i4, &r4);
        CHECK_EQ_U64(r4.outcome, SP_OUTCOME_UNFINISHED);
        CHECK_EQ_U64(r4.arrival_ns, 5000 + UNIX0);
        CHECK_EQ_U64(r4.done_ns, 1500000 + UNIX0);
    }
    sp_view_file fa, fb;
    sp_view_file_at(ev, 0, &fa);
    sp_view_file_at(back, 0, &fb);
    CHECK_EQ_U64(fa.last_ns, 1500000);
    CHECK_EQ_U64(fb.last_ns, 1500000 + UNIX0);
    CHECK(!fa.unclean && !fb.unclean); /* a JSONL trace has no end marker: none is said */
    CHECK(strstr(text, SP_OTLP_TRACE_END) == NULL);
    CHECK_EQ_U64(sp_view_batches(back), 2);
    CHECK_EQ_U64(sp_view_activities(back), 0); /* device activity stays in the trace (Perfetto shows it) */
    /* the trace's price comes back: the export's report bills as the original's ($2.50/h, not the
     * default $4.00/h it billed at before the resource carried it) */
    sp_view_file vf;
    sp_view_file_at(back, 0, &vf);
    CHECK(vf.price_per_hour == 2.5);
    /* and so do its properties (the device's wording, whatif's observed policy) */
    CHECK(sp_events_property(back, 0, "device") && strcmp(sp_events_property(back, 0, "device"), "cpu") == 0);
    CHECK(sp_events_property(back, 0, "policy.max_batch") &&
          strcmp(sp_events_property(back, 0, "policy.max_batch"), "8") == 0);
    CHECK(sp_events_property(back, 0, "service") &&
          strcmp(sp_events_property(back, 0, "service"), "test-service") == 0);
    sp_events_destroy(back);
    CHECK(strstr(text, "{\"key\":\"servprof.property.device\",\"value\":{\"stringValue\":\"cpu\"}}") != NULL);
    CHECK(strstr(text, "{\"key\":\"servprof.price_per_hour\",\"value\":{\"doubleValue\":2.5}}") != NULL);
    /* a property attribute is checked as the other formats check one: its key's characters, a string value */
    static const char *const bad_props[] = {
        "{\"key\":\"servprof.property.de vice\",\"value\":{\"stringValue\":\"cpu\"}}",
        "{\"key\":\"servprof.property.device\",\"value\":{\"arrayValue\":{\"values\":[]}}}"};
    for (size_t i = 0; i < sizeof bad_props / sizeof *bad_props; i++) {
        const char *from = "{\"key\":\"servprof.property.device\",\"value\":{\"stringValue\":\"cpu\"}}";
        char *at = strstr(text, from);
        CHECK(at != NULL);
        if (!at)
            break;
        char *edited = NULL;
        size_t elen = 0;
        FILE *ef = open_memstream(&edited, &elen);
        if (!ef)
            exit(1);
        fprintf(ef, "%.*s%s%s", (int)(at - text), text, bad_props[i], at + strlen(from));
        fclose(ef);
        sp_events *b2;
        char e2[512] = "";
        CHECK(sp_events_create(&b2) == SP_OK);
        CHECK_MSG(sp_events_load_buffer(b2, "props.otlp.jsonl", edited, elen, NULL, e2, sizeof e2) == SP_ERR_PARSE &&
                      strstr(e2, "props.otlp.jsonl:1:") && strstr(e2, "servprof.property.de"),
                  "property %zu: %s", i, e2);
        sp_events_destroy(b2);
        free(edited);
    }
    /* a resource's price is bounded as a JSONL meta price is, and one file holds one price: errors
     * naming the file, line and column */
    static const char *const bad_prices[] = {"1e300", "0", "-1", "\"NaN\"", "1000000.5"};
    for (size_t i = 0; i <= sizeof bad_prices / sizeof *bad_prices; i++) {
        const char *from = "\"doubleValue\":2.5}";
        char *at = strstr(text, from);
        CHECK(at != NULL);
        if (!at)
            break;
        char *edited = NULL;
        size_t elen = 0;
        FILE *ef = open_memstream(&edited, &elen);
        if (!ef)
            exit(1);
        if (i < sizeof bad_prices / sizeof *bad_prices)
            fprintf(ef, "%.*s\"doubleValue\":%s}%s", (int)(at - text), text, bad_prices[i], at + strlen(from));
        else /* a second document with another price */
            fprintf(ef, "%s%.*s\"doubleValue\":3}}]},\"scopeSpans\":[]}]}\n", text, (int)(at - text),
                    text);
        fclose(ef);
        sp_events *b2;
        char e2[512] = "";
        CHECK(sp_events_create(&b2) == SP_OK);
        CHECK_MSG(sp_events_load_buffer(b2, "priced.otlp.jsonl", edited, elen, NULL, e2, sizeof e2) == SP_ERR_PARSE &&
                      strstr(e2, "priced.otlp.jsonl:") && strstr(e2, "servprof.price_per_hour"),
                  "price %s: %s", i < sizeof bad_prices / sizeof *bad_prices ? bad_prices[i] : "3 after 2.5", e2);
        sp_events_destroy(b2);
        free(edited);
    }
    free(text);
    sp_events_destroy(ev);
}

/* A JSONL trace with no unix_offset_ns has no tie to Unix time: refused with its name, nothing
 * written, unless the caller gives the offset. */
static void test_no_anchor(void)
{
    static const char t[] = "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n"
                            "{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":10,\"done_ns\":20}\n";
    sp_events *ev = load("plain.jsonl", t, strlen(t));
    size_t len;
    sp_status st;
    char err[512] = "";
    char *text = export_text(ev, NULL, &len, &st, NULL, err, sizeof err);
    CHECK(st == SP_ERR_FORMAT);
    CHECK(len == 0);
    CHECK(strstr(err, "plain.jsonl: its times are on a clock with no tie to Unix time") != NULL);
    free(text);
    sp_otlp_options o;
    sp_otlp_options_init(&o);
    o.has_unix_offset = 1;
    o.unix_offset_ns = 1000;
    o.service_name = "given";
    text = export_text(ev, &o, &len, &st, NULL, err, sizeof err);
    CHECK(st == SP_OK);
    CHECK(strstr(text, "\"startTimeUnixNano\":\"1010\",\"endTimeUnixNano\":\"1020\"") != NULL);
    CHECK(strstr(text, "\"stringValue\":\"given\"") != NULL);
    CHECK(strstr(text, "servprof.price_per_hour") == NULL); /* no price in the trace: none exported */
    CHECK(strstr(text, "servprof.property.") == NULL);      /* nor properties */
    free(text);
    /* an unfinished set is refused */
    sp_events *raw;
    CHECK(sp_events_create(&raw) == SP_OK);
    text = export_text(raw, NULL, &len, &st, NULL, err, sizeof err);
    CHECK(st == SP_ERR_STATE);
    free(text);
    sp_events_destroy(raw);
    sp_events_destroy(ev);
}

static char g_log[8192];
static size_t g_log_len;

static void capture(void *user, sp_log_level level, const char *message)
{
    (void)user;
    (void)level;
    int k = snprintf(g_log + g_log_len, sizeof g_log - g_log_len, "%s\n", message);
    if (k > 0 && (size_t)k < sizeof g_log - g_log_len)
        g_log_len += (size_t)k;
}

/* Two traces whose device property differs (cpu, cuda) and whose service agrees, exported together:
 * each document's resource carries its own trace's properties, and reading the export back as one
 * file keeps the later value with a warning naming the key and both values (once: the third
 * document sets it again), and says nothing of the service. */
static void test_props_differ(void)
{
    static const char *const devices[3] = {"cpu", "cuda", "cpu"};
    sp_events *ev;
    char err[512] = "";
    CHECK(sp_events_create(&ev) == SP_OK);
    for (int i = 0; i < 3; i++) {
        char name[16], text[512];
        snprintf(name, sizeof name, "t%d.jsonl", i);
        snprintf(text, sizeof text,
                 "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\","
                 "\"unix_offset_ns\":1700000000000000000,\"properties\":{\"service\":\"svc\",\"device\":\"%s\"}}\n"
                 "{\"ev\":\"request\",\"id\":\"r%d\",\"arrival_ns\":1000,\"done_ns\":5000}\n",
                 devices[i], i);
        CHECK_MSG(sp_events_load_buffer(ev, name, text, strlen(text), NULL, err, sizeof err) == SP_OK, "%s", err);
    }
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    size_t len;
    sp_status st;
    char *text = export_text(ev, NULL, &len, &st, NULL, err, sizeof err);
    CHECK_MSG(st == SP_OK, "%s", err);
    g_log_len = 0;
    g_log[0] = '\0';
    sp_set_log(capture, NULL);
    sp_events *back = load("mixed.otlp.jsonl", text, len);
    sp_set_log(NULL, NULL);
    CHECK_MSG(strstr(g_log, "mixed.otlp.jsonl:2:") &&
                  strstr(g_log, "resource attribute servprof.property.device is \"cuda\" here but \"cpu\" in an "
                                "earlier resource of this file"),
              "log: %s", g_log);
    const char *first = strstr(g_log, "servprof.property.device");
    CHECK(first && !strstr(first + 1, "servprof.property.device")); /* once per key */
    CHECK(!strstr(g_log, "servprof.property.service"));
    CHECK(sp_events_property(back, 0, "device") && strcmp(sp_events_property(back, 0, "device"), "cpu") == 0);
    sp_events_destroy(back);
    free(text);
    sp_events_destroy(ev);
}

/* Every outcome with and without an HTTP status reads back as it was: the reader takes a 503 or 429
 * for a rejection and another 4xx or 5xx for an error when servprof.outcome does not say (docs/otlp.md,
 * "Outcomes"), so an ok request answered 500 or 429 (the application said ok) is exported with
 * servprof.outcome ok; before, it read back as an error and a rejection. The others keep their
 * bytes: servprof.outcome only where the outcome is not ok or the status would say otherwise. */
static void test_outcomes_back(void)
{
    static const char text_in[] =
        "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"unix_offset_ns\":1700000000000000000}\n"
        "{\"ev\":\"request\",\"id\":\"served\",\"arrival_ns\":1000,\"done_ns\":9000}\n"
        "{\"ev\":\"request\",\"id\":\"served-200\",\"arrival_ns\":1100,\"done_ns\":9100,\"status\":200}\n"
        "{\"ev\":\"request\",\"id\":\"served-500\",\"arrival_ns\":1200,\"done_ns\":9200,\"status\":500}\n"
        "{\"ev\":\"request\",\"id\":\"served-429\",\"arrival_ns\":1300,\"done_ns\":9300,\"outcome\":\"ok\",\"status\":429}\n"
        "{\"ev\":\"request\",\"id\":\"rejected\",\"arrival_ns\":1400,\"done_ns\":1500,\"outcome\":\"rejected\",\"status\":503}\n"
        "{\"ev\":\"request\",\"id\":\"rejected-0\",\"arrival_ns\":1450,\"done_ns\":1550,\"outcome\":\"rejected\"}\n"
        "{\"ev\":\"request\",\"id\":\"error\",\"arrival_ns\":1600,\"done_ns\":1700,\"outcome\":\"error\",\"status\":500}\n"
        "{\"ev\":\"request\",\"id\":\"error-200\",\"arrival_ns\":1650,\"done_ns\":1750,\"outcome\":\"error\",\"status\":200}\n"
        "{\"ev\":\"request\",\"id\":\"cancelled\",\"arrival_ns\":1800,\"done_ns\":1900,\"outcome\":\"cancelled\"}\n";
    static const char *const ids[] = {"served", "served-200", "served-500", "served-429", "rejected",
                                      "rejected-0", "error", "error-200", "cancelled"};
    sp_events *ev = load("outcomes.jsonl", text_in, strlen(text_in));
    size_t len;
    sp_status st;
    char err[512] = "";
    char *text = export_text(ev, NULL, &len, &st, NULL, err, sizeof err);
    CHECK(st == SP_OK);
    sp_events *back = load("export.otlp.jsonl", text, len);
    CHECK_EQ_U64(sp_view_requests(back), sizeof ids / sizeof ids[0]);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        check_request_back(ev, back, ids[i]);
    /* ok with a status under 400 (or none) carries no servprof.outcome, as before */
    size_t n_ok = 0;
    for (const char *p = text; (p = strstr(p, "\"servprof.outcome\",\"value\":{\"stringValue\":\"ok\"}")); p++)
        n_ok++;
    CHECK_EQ_U64(n_ok, 2);
    sp_events_destroy(back);
    sp_events_destroy(ev);
    free(text);
}

/* ---- generation data (docs/otlp.md, "Export"; docs/generation.md) ---- */

/* Request "long" has LONG_TOKENS output tokens: more than one span holds (1000: the request span, then
 * `servprof.tokens` children) and more than one document holds (a weight of 40,000, a token 1 and a
 * span 5: the document ends between two of its token spans), so the export has several lines, each a
 * bounded size. */
#define LONG_TOKENS 120500u

/* A generation trace: "g1" prefilled in two chunks (steps 1, 2) beside "g2"'s whole prefill (step 1)
 * and decodes (steps 2, 3), KV cache known on steps 1 and 2 only; "long" decodes alone in step 4;
 * "g3" never finished: exported, its span ending at the trace's last time (6000000, the "s" requests'
 * done), with its step and its first token; its second token, at 7000000, comes after that end (a token
 * record is not among the records that give the trace's last time) and is left out and counted. */
static char *generation_trace(size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        exit(1);
    fputs("{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\","
          "\"unix_offset_ns\":1700000000000000000,\"properties\":{\"mode\":\"generate\"}}\n"
          "{\"ev\":\"request\",\"id\":\"g1\",\"arrival_ns\":1000,\"done_ns\":90000,\"input_tokens\":40,"
          "\"output_tokens\":2}\n"
          "{\"ev\":\"request\",\"id\":\"g2\",\"arrival_ns\":2000,\"done_ns\":80000,\"input_tokens\":8}\n"
          "{\"ev\":\"request\",\"id\":\"g3\",\"arrival_ns\":2500,\"outcome\":\"unfinished\"}\n"
          "{\"ev\":\"step\",\"batch\":1,\"requests\":[\"g1\",\"g2\",\"g3\"],\"phases\":[\"prefill_chunk\",\"prefill\","
          "\"prefill\"],\"tokens\":[24,8,5],\"start_ns\":10000,\"end_ns\":20000,\"padded_tokens\":40,"
          "\"kv_used_tokens\":37,\"kv_capacity_tokens\":512}\n"
          "{\"ev\":\"step\",\"batch\":2,\"requests\":[\"g1\",\"g2\"],\"phases\":[\"prefill\",\"decode\"],"
          "\"tokens\":[16,1],\"start_ns\":20000,\"end_ns\":30000,\"kv_used_tokens\":54,\"kv_capacity_tokens\":512}\n"
          "{\"ev\":\"step\",\"batch\":3,\"requests\":[\"g1\",\"g2\"],\"phases\":[\"decode\",\"decode\"],"
          "\"tokens\":[1,1],\"start_ns\":30000,\"end_ns\":40000}\n"
          "{\"ev\":\"token\",\"id\":\"g2\",\"index\":0,\"time_ns\":20000}\n"
          "{\"ev\":\"token\",\"id\":\"g2\",\"index\":1,\"time_ns\":30000}\n"
          "{\"ev\":\"token\",\"id\":\"g2\",\"index\":2,\"time_ns\":40000}\n"
          "{\"ev\":\"token\",\"id\":\"g1\",\"index\":0,\"time_ns\":30000}\n"
          "{\"ev\":\"token\",\"id\":\"g1\",\"index\":1,\"time_ns\":40000}\n"
          "{\"ev\":\"token\",\"id\":\"g3\",\"index\":0,\"time_ns\":20000}\n"
          "{\"ev\":\"token\",\"id\":\"g3\",\"index\":1,\"time_ns\":7000000}\n",
          f);
    fprintf(f, "{\"ev\":\"request\",\"id\":\"long\",\"arrival_ns\":100000,\"done_ns\":%u}\n",
            200000u + 10u * LONG_TOKENS);
    fprintf(f, "{\"ev\":\"step\",\"batch\":4,\"requests\":[\"long\"],\"phases\":[\"decode\"],\"tokens\":[1],"
               "\"start_ns\":100000,\"end_ns\":%u,\"kv_used_tokens\":9}\n",
            150000u + 10u * LONG_TOKENS);
    for (unsigned k = 0; k < LONG_TOKENS; k++)
        fprintf(f, "{\"ev\":\"token\",\"id\":\"long\",\"index\":%u,\"time_ns\":%u}\n", k, 150000u + 10u * k);
    /* 30 requests decoding together for 500 steps: 15,000 spans of theirs, more than a document holds
     * (8,000 spans weigh 40,000), although they are far fewer than 500 requests */
    for (unsigned r = 0; r < 30; r++)
        fprintf(f, "{\"ev\":\"request\",\"id\":\"s%u\",\"arrival_ns\":0,\"done_ns\":6000000}\n", r);
    for (unsigned k = 0; k < 500; k++) {
        fprintf(f, "{\"ev\":\"step\",\"batch\":%u,\"requests\":[", 100 + k);
        for (unsigned r = 0; r < 30; r++)
            fprintf(f, "%s\"s%u\"", r ? "," : "", r);
        fputs("],\"phases\":[", f);
        for (unsigned r = 0; r < 30; r++)
            fprintf(f, "%s\"%s\"", r ? "," : "", k ? "decode" : "prefill");
        fputs("],\"tokens\":[", f);
        for (unsigned r = 0; r < 30; r++)
            fprintf(f, "%s%u", r ? "," : "", k ? 1 : 10);
        fprintf(f, "],\"start_ns\":%u,\"end_ns\":%u}\n", 10000 * k + 10000, 10000 * k + 20000);
    }
    fclose(f);
    return buf;
}

/* The batch of `ev` with trace id `id`; SP_VIEW_NONE when none. */
static uint32_t find_batch(const sp_events *ev, int64_t id)
{
    sp_view_batch b;
    for (size_t i = 0; i < sp_view_batches(ev); i++) {
        sp_view_batch_at(ev, i, &b);
        if (b.id == id)
            return (uint32_t)i;
    }
    return SP_VIEW_NONE;
}

/* Request `id`'s tokens and output tokens read back as the original's (times + the anchor), and each
 * of its steps with its phase and tokens in them. */
static void check_generation_back(const sp_events *a, const sp_events *b, const char *id)
{
    uint32_t ia = find_request(a, id), ib = find_request(b, id);
    CHECK(ia != SP_VIEW_NONE && ib != SP_VIEW_NONE);
    if (ia == SP_VIEW_NONE || ib == SP_VIEW_NONE)
        return;
    sp_view_request x, y;
    sp_view_request_at(a, ia, &x);
    sp_view_request_at(b, ib, &y);
    CHECK_EQ_U64(y.output_tokens, x.output_tokens);
    CHECK_EQ_U64(y.n_tokens, x.n_tokens);
    uint64_t bad = 0;
    for (uint32_t k = 0; k < x.n_tokens && k < y.n_tokens; k++) {
        uint64_t ix, tx, iy, ty;
        sp_view_request_token(a, ia, k, &ix, &tx);
        sp_view_request_token(b, ib, k, &iy, &ty);
        bad += iy != ix || ty != tx + UNIX0;
    }
    CHECK_EQ_U64(bad, 0);
    for (uint32_t k = 0; k < x.n_batches && k < y.n_batches; k++) {
        uint32_t bx = sp_view_request_batch(a, ia, k), by = sp_view_request_batch(b, ib, k);
        sp_view_batch vx, vy;
        sp_view_batch_at(a, bx, &vx);
        sp_view_batch_at(b, by, &vy);
        CHECK_EQ_U64(vy.is_step, vx.is_step);
        uint32_t mx = 0, my = 0;
        while (mx < vx.n_members && sp_view_batch_member(a, bx, mx) != ia)
            mx++;
        while (my < vy.n_members && sp_view_batch_member(b, by, my) != ib)
            my++;
        uint32_t tx = 0, ty = 0;
        CHECK_EQ_U64(sp_view_step_member(b, by, my, &ty), sp_view_step_member(a, bx, mx, &tx));
        CHECK_EQ_U64(ty, tx);
    }
}

static void test_generation_back(void)
{
    size_t tlen;
    char *trace = generation_trace(&tlen);
    sp_events *ev = load("gen.jsonl", trace, tlen);
    size_t len;
    sp_status st;
    char err[512] = "";
    sp_otlp_result res;
    char *text = export_text(ev, NULL, &len, &st, &res, err, sizeof err);
    CHECK(st == SP_OK);
    CHECK_EQ_U64(res.unfinished_requests, 1);
    CHECK_EQ_U64(res.tokens_left_out, 1);
    uint64_t spans = 0;
    check_schema(text, len, &spans);
    /* the documents: a weight of 40,000 each at most (a token event 1, ~140 bytes; a span 5, ~640
     * bytes), plus the request or token span that crosses it (1000 events, or here 501 spans), so every
     * line stays under 6 MB */
    size_t lines = 0, longest = 0, most_spans = 0;
    for (const char *p = text, *nl; (nl = memchr(p, '\n', (size_t)(text + len - p))); p = nl + 1) {
        lines++;
        if ((size_t)(nl - p) > longest)
            longest = (size_t)(nl - p);
        size_t spans_here = 0;   /* every span has a "kind", links and events none */
        for (const char *k = p; (k = memmem(k, (size_t)(nl - k), "\"kind\":", 7)) != NULL; k += 7)
            spans_here++;
        if (spans_here > most_spans)
            most_spans = spans_here;
    }
    /* "long"'s 120,500 tokens and 123 spans weigh 121,115 (4 documents at least), the 30 requests'
     * 15,000 spans 75,000 (2 more at least, the first perhaps shared with "long"'s last), the batches 1 */
    CHECK(lines >= 6);
    CHECK(longest < 6u << 20);
    /* a document ends at the request after its 8,000th span: a request here has 501 */
    CHECK(most_spans <= 8000 + 501);
    sp_events *back = load("gen.otlp.jsonl", text, len);
    CHECK_EQ_U64(sp_view_requests(back), 34);
    check_generation_back(ev, back, "s0");
    check_generation_back(ev, back, "s29");
    check_generation_back(ev, back, "g1");
    check_generation_back(ev, back, "g2");
    check_generation_back(ev, back, "long");
    /* the steps' KV cache, on their own spans: known on 1, 2 and (used only) 4, unknown on 3 */
    static const struct { int64_t id, used, cap; } kv[] = {{1, 37, 512}, {2, 54, 512}, {3, -1, 0}, {4, 9, 0}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        uint32_t bi = find_batch(back, kv[i].id);
        CHECK(bi != SP_VIEW_NONE);
        if (bi == SP_VIEW_NONE)
            continue;
        sp_view_batch b;
        sp_view_batch_at(back, bi, &b);
        CHECK(b.is_step);
        CHECK_EQ_U64(b.kv_used_tokens, kv[i].used);
        CHECK_EQ_U64(b.kv_capacity_tokens, kv[i].cap);
    }
    /* step 1 read back with g3: 3 members, g1's prefill chunk, g2's and g3's prefill */
    uint32_t b1 = find_batch(back, 1);
    if (b1 != SP_VIEW_NONE) {
        sp_view_batch b;
        sp_view_batch_at(back, b1, &b);
        CHECK_EQ_U64(b.n_members, 3);
    }
    /* g3: unfinished, its span to the trace's last time, its step and phase, its first token only */
    uint32_t ia = find_request(ev, "g3"), ib = find_request(back, "g3");
    CHECK(ia != SP_VIEW_NONE && ib != SP_VIEW_NONE);
    if (ia != SP_VIEW_NONE && ib != SP_VIEW_NONE) {
        sp_view_request x, y;
        sp_view_request_at(ev, ia, &x);
        sp_view_request_at(back, ib, &y);
        CHECK_EQ_U64(x.n_tokens, 2);
        CHECK_EQ_U64(y.n_tokens, 1);
        uint64_t index = 9, t = 0;
        if (y.n_tokens)
            sp_view_request_token(back, ib, 0, &index, &t);
        CHECK_EQ_U64(index, 0);
        CHECK_EQ_U64(t, 20000 + UNIX0);
        CHECK_EQ_U64(y.outcome, SP_OUTCOME_UNFINISHED);
        CHECK_EQ_U64(y.arrival_ns, 2500 + UNIX0);
        CHECK_EQ_U64(y.done_ns, 6000000 + UNIX0);
        CHECK_EQ_U64(y.n_batches, 1);
        uint32_t tokens = 0;
        if (y.n_batches && b1 != SP_VIEW_NONE) {
            uint32_t m = 0;
            while (m < 3 && sp_view_batch_member(back, b1, m) != ib)
                m++;
            CHECK_EQ_U64(sp_view_step_member(back, b1, m, &tokens), 1); /* prefill */
        }
        CHECK_EQ_U64(tokens, 5);
    }
    sp_events_destroy(back);
    sp_events_destroy(ev);
    free(text);
    free(trace);
}

int main(void)
{
    test_generation_back();
    test_props_differ();
    test_round_trip_and_schema();
    test_no_anchor();
    test_outcomes_back();
    return sp_test_done("test_otlp_export");
}
