/* OTLP/JSON export (docs/otlp.md, "Export"): a finished event set's requests, their stage spans and
 * batch windows, their client side, and the batches themselves, as OpenTelemetry spans in the
 * protocol's JSON encoding, one ExportTraceServiceRequest document per line. It exports the events,
 * read through the model's read-only view (model/events_view.h), like the Perfetto writer. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/mix.h"
#include "common/tracectx.h"
#include "common/util_int.h"
#include "model/events_view.h"
#include "report/report_int.h"

/* Requests (with all their spans) and batches per document: bounded lines for line-oriented
 * readers (the Collector's otlpjsonfile receiver), few enough documents for a large trace. */
#define OTLP_REQUESTS_PER_DOC 500u
#define OTLP_BATCHES_PER_DOC 1000u
/* A document's weight (docs/otlp.md, "Export"): its output-token events plus 5 per span (a token event
 * is ~140 bytes, a request's span of a step ~640), at most OTLP_DOC_WEIGHT, so that a line of long
 * generations (a request has a span per step it ran in, and an event per token) stays under ~6 MB. A document ends at the
 * first request boundary past it, or between a request's token spans (OTLP_TOKENS_PER_SPAN) when one
 * request alone weighs more. A trace without generation data (a few spans per request) reaches
 * OTLP_REQUESTS_PER_DOC first, as before. */
#define OTLP_DOC_WEIGHT 40000u
#define OTLP_SPAN_WEIGHT 5u
/* Token events on one span: the request span holds the first ones, a `servprof.tokens` child span each
 * further run; under the importer's cap of events per span (OTLP_MAX_EVENTS, 4096), as OpenTelemetry
 * SDKs cap a span's events (128 by default) too. */
#define OTLP_TOKENS_PER_SPAN 1000u

/* SpanKind (opentelemetry/proto/trace/v1/trace.proto) */
enum { KIND_INTERNAL = 1, KIND_SERVER = 2, KIND_CLIENT = 3 };
/* Status.StatusCode */
enum { STATUS_ERROR = 2 };

void sp_otlp_options_init(sp_otlp_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
}

typedef struct ox {
    FILE *out;
    const sp_events *ev;
    sp_otlp_options opt;
    int64_t *offset;      /* per file: what its times add to become Unix times */
    uint64_t *last;       /* per file: its trace's last time (sp_view_file.last_ns), where its unfinished
                             requests' spans end */
    uint64_t *salt;       /* per file: mixed into the ids servprof makes up (derive) */
    sp_otlp_result res;
    uint64_t doc_spans;   /* spans written in the current document */
    uint64_t doc_tokens;  /* output token events written in the current document */
    int comma;            /* an attribute was written before in the current list */
} ox;

/* The ids of one exported request's spans. */
typedef struct req_ids {
    uint8_t trace[16];
    uint8_t span[8];      /* the server span (the request) */
    uint8_t parent[8];
    int has_parent;
    uint8_t client[8];    /* the client span (when the request has client times) */
    uint8_t flags;
} req_ids;

/* Ids servprof makes up where the trace recorded none: `n` bytes from hashes of the request's id text
 * (or a batch's id) and the file's salt, so one trace exported twice gives the same ids, and never all
 * zero (an invalid W3C id). `what` keeps a request's trace, span and client ids apart. */
static void derive(uint64_t salt, const char *text, uint64_t num, uint64_t what, uint8_t *out, size_t n)
{
    for (size_t w = 0; w < n / 8; w++) {
        uint64_t seed = sp_mix64(salt ^ sp_mix64(what * 4 + w + 1) ^ num);
        uint64_t h = sp_hash_bytes(text, strlen(text), seed);
        if (h == 0)
            h = 1;
        for (int b = 0; b < 8; b++)
            out[8 * w + (size_t)b] = (uint8_t)(h >> (56 - 8 * b));
    }
}

/* Where a request's span ends (docs/otlp.md, "Export"): its done time; for an unfinished request (no
 * done: the trace ended first) its trace's last time, where the analysis measures its time to
 * (docs/analysis.md section 0a, "Unfinished"). SP_VIEW_NO_TIME: no span (no valid [start, end]). */
static uint64_t request_end(const ox *x, const sp_view_request *rq)
{
    if (rq->arrival_ns == SP_VIEW_NO_TIME)
        return SP_VIEW_NO_TIME;
    uint64_t end = rq->outcome == SP_OUTCOME_UNFINISHED ? x->last[rq->file] : rq->has_record ? rq->done_ns
                                                                                             : SP_VIEW_NO_TIME;
    return end != SP_VIEW_NO_TIME && end >= rq->arrival_ns ? end : SP_VIEW_NO_TIME;
}

/* A request that becomes a span: a record, or an unfinished request (one its stages or batches name,
 * in a trace that ended first), with a well-formed [arrival, end]. */
static int request_exported(const ox *x, const sp_view_request *rq)
{
    return request_end(x, rq) != SP_VIEW_NO_TIME;
}

static int client_times(const sp_view_request *rq)
{
    return rq->client_send_ns != SP_VIEW_NO_TIME && rq->client_done_ns != SP_VIEW_NO_TIME &&
           rq->client_done_ns >= rq->client_send_ns;
}

/* The request's ids (docs/otlp.md, "Export"): its recorded trace context, else the trace the client
 * sent, else made up; its parent the caller's span, else the client span written with it. */
static void ids_of(const ox *x, const sp_view_request *rq, req_ids *o)
{
    memset(o, 0, sizeof *o);
    uint64_t salt = x->salt[rq->file];
    o->flags = SP_TRACE_FLAG_SAMPLED;
    if (rq->has_trace) {
        memcpy(o->trace, rq->trace.trace_id, 16);
        memcpy(o->span, rq->trace.span_id, 8);
        memcpy(o->parent, rq->trace.parent_id, 8);
        o->has_parent = !sp_bytes_zero(o->parent, 8);
        o->flags = rq->trace.flags;
    } else {
        if (rq->client_has_trace)
            memcpy(o->trace, rq->client_trace_id, 16);
        else
            derive(salt, rq->id, 0, 0, o->trace, 16);
        derive(salt, rq->id, 0, 1, o->span, 8);
    }
    if (!client_times(rq))
        return;
    if (rq->client_has_trace && memcmp(rq->client_trace_id, o->trace, 16) == 0)
        memcpy(o->client, rq->client_span_id, 8);
    else
        derive(salt, rq->id, 0, 2, o->client, 8);
    if (!o->has_parent) {
        memcpy(o->parent, o->client, 8);
        o->has_parent = 1;
    }
}

static void batch_ids(const ox *x, const sp_view_batch *b, uint8_t trace[16], uint8_t span[8])
{
    derive(x->salt[b->file], "batch", (uint64_t)b->id, 3, trace, 16);
    derive(x->salt[b->file], "batch", (uint64_t)b->id, 4, span, 8);
}

/* ---- JSON pieces ---- */

static void put_hex(FILE *out, const uint8_t *bytes, size_t n)
{
    char buf[33];
    sp_hex_write(bytes, n, buf);
    putc('"', out);
    fputs(buf, out);
    putc('"', out);
}

/* A time of file `file` as Unix nanoseconds, a string of digits (OTLP/JSON writes 64-bit integers
 * as strings); clamped to 0 below the epoch. */
static void put_time(const ox *x, uint32_t file, uint64_t t)
{
    int64_t off = x->offset[file];
    uint64_t u;
    if (off >= 0)
        u = t + (uint64_t)off;
    else
        u = t > (uint64_t)0 - (uint64_t)off ? t - ((uint64_t)0 - (uint64_t)off) : 0;
    fprintf(x->out, "\"%" PRIu64 "\"", u);
}

static void sep(ox *x)
{
    if (x->comma)
        putc(',', x->out);
    x->comma = 1;
}

static void attr_str(ox *x, const char *key, const char *v)
{
    sep(x);
    fprintf(x->out, "{\"key\":\"%s\",\"value\":{\"stringValue\":", key);
    sp_json_write_str(x->out, v, 0);
    fputs("}}", x->out);
}

static void attr_int(ox *x, const char *key, int64_t v)
{
    sep(x);
    fprintf(x->out, "{\"key\":\"%s\",\"value\":{\"intValue\":\"%" PRId64 "\"}}", key, v);
}

static void attr_bool(ox *x, const char *key, int v)
{
    sep(x);
    fprintf(x->out, "{\"key\":\"%s\",\"value\":{\"boolValue\":%s}}", key, v ? "true" : "false");
}

/* Opens one span object up to its attributes list, which the caller fills (attr_*) and closes with
 * span_end. */
static void span_begin(ox *x, const uint8_t trace[16], const uint8_t span[8], const uint8_t *parent, uint8_t flags,
                       const char *name, int kind, uint32_t file, uint64_t start, uint64_t end)
{
    FILE *out = x->out;
    if (x->doc_spans)
        putc(',', out); /* one document per line: no line break inside one */
    fputs("{\"traceId\":", out);
    put_hex(out, trace, 16);
    fputs(",\"spanId\":", out);
    put_hex(out, span, 8);
    if (parent) {
        fputs(",\"parentSpanId\":", out);
        put_hex(out, parent, 8);
    }
    fprintf(out, ",\"flags\":%u,\"name\":", (unsigned)flags);
    sp_json_write_str(out, name, 0);
    fprintf(out, ",\"kind\":%d,\"startTimeUnixNano\":", kind);
    put_time(x, file, start);
    fputs(",\"endTimeUnixNano\":", out);
    put_time(x, file, end >= start ? end : start);
    fputs(",\"attributes\":[", out);
    x->comma = 0;
    x->doc_spans++;
    x->res.spans++;
}

/* Closes the attributes list; `status_error` adds an error status with that message. */
static void span_end(ox *x, const char *status_error)
{
    fputs("]", x->out);
    if (status_error) {
        fprintf(x->out, ",\"status\":{\"code\":%d,\"message\":", STATUS_ERROR);
        sp_json_write_str(x->out, status_error, 0);
        putc('}', x->out);
    }
    putc('}', x->out);
}

/* One document's head: the file's resource and servprof's scope, up to the spans list. */
static void doc_begin(ox *x, uint32_t file)
{
    sp_view_file f;
    sp_view_file_at(x->ev, file, &f);
    const char *service = x->opt.service_name ? x->opt.service_name : sp_events_property(x->ev, file, "service");
    fputs("{\"resourceSpans\":[{\"resource\":{\"attributes\":[", x->out);
    x->comma = 0;
    attr_str(x, "service.name", service && service[0] ? service : "servprof");
    attr_str(x, "servprof.trace_file", f.path);
    /* the price the traces' report bills at (the first file's, DESIGN 7), on every document, so that
     * `servprof analyze` of the export bills as the original's report did, not at the default price */
    sp_view_file first;
    sp_view_file_at(x->ev, 0, &first);
    if (first.price_per_hour > 0) {
        sep(x);
        fputs("{\"key\":\"servprof.price_per_hour\",\"value\":{\"doubleValue\":", x->out);
        sp_rep_json_num(x->out, first.price_per_hour, 17);
        fputs("}}", x->out);
    }
    /* its "inference" stage is an engine's model time (TGI's inference_time): said, so that the verdict
     * of the export reads it as model time, as the original's did, not as a stage of the user's own */
    if (f.model_inference)
        attr_str(x, SP_OTLP_MODEL_STAGES, "inference");
    /* a trace its recorder did not close (no end record): said, so that a report of the export says
     * so, as the original's did (docs/otlp.md, "Export") */
    if (f.unclean)
        attr_str(x, SP_OTLP_TRACE_END, "unclean");
    /* the file's trace properties (its device, its batching policy: docs/native-format.md
     * "Properties"), so that a report or a what-if of the export reads what the original's did */
    char key[sizeof SP_OTLP_PROPERTY_PREFIX + SP_PROP_MAX_KEY];
    for (size_t i = 0; i < sp_view_props(x->ev); i++) {
        uint32_t pf;
        const char *k, *v;
        sp_view_prop_at(x->ev, i, &pf, &k, &v);
        if (pf != file)
            continue;
        snprintf(key, sizeof key, "%s%s", SP_OTLP_PROPERTY_PREFIX, k);
        attr_str(x, key, v);
    }
    fputs("]},\"scopeSpans\":[{\"scope\":{\"name\":\"servprof\",\"version\":\"" SP_VERSION_STRING "\"},\"spans\":[",
          x->out);
    x->doc_spans = 0;
    x->doc_tokens = 0;
}

static void doc_end(ox *x)
{
    fputs("]}]}]}\n", x->out);
}

/* The current document has reached its weight (OTLP_DOC_WEIGHT). */
static int doc_full(const ox *x)
{
    return x->doc_tokens + OTLP_SPAN_WEIGHT * x->doc_spans >= OTLP_DOC_WEIGHT;
}

/* ---- requests ---- */

/* Request `idx`'s tokens [from, to) as span events (the caller opened the "events" list): each a
 * `servprof.token` event at the time it left the server, with its 0-based index. */
static void write_token_events(ox *x, size_t idx, const sp_view_request *rq, uint32_t from, uint32_t to)
{
    for (uint32_t k = from; k < to; k++) {
        uint64_t index, t;
        sp_view_request_token(x->ev, idx, k, &index, &t);
        fputs(k > from ? ",{\"timeUnixNano\":" : "{\"timeUnixNano\":", x->out);
        put_time(x, rq->file, t);
        fprintf(x->out, ",\"name\":\"" SP_OTLP_TOKEN_EVENT "\",\"attributes\":[{\"key\":\"" SP_OTLP_TOKEN_INDEX
                        "\",\"value\":{\"intValue\":\"%" PRIu64 "\"}}]}",
                index);
    }
    x->doc_tokens += to - from;
}

/* The request's first n_tokens tokens past the first OTLP_TOKENS_PER_SPAN, OTLP_TOKENS_PER_SPAN to a
 * child span of the request span (`servprof.tokens`, from its first token's time to its last's); a
 * document that has reached OTLP_TOKENS_PER_DOC ends between two of them, the trace going on in the
 * next (a reader joins a trace's spans over the whole file). */
static void write_token_spans(ox *x, size_t idx, const sp_view_request *rq, uint32_t n_tokens, const req_ids *id)
{
    for (uint32_t from = OTLP_TOKENS_PER_SPAN, k = 0; from < n_tokens; from += OTLP_TOKENS_PER_SPAN, k++) {
        uint32_t to = n_tokens - from > OTLP_TOKENS_PER_SPAN ? from + OTLP_TOKENS_PER_SPAN : n_tokens;
        if (doc_full(x)) {
            doc_end(x);
            doc_begin(x, rq->file);
        }
        uint64_t index, t0, t1;
        sp_view_request_token(x->ev, idx, from, &index, &t0);
        sp_view_request_token(x->ev, idx, to - 1, &index, &t1);
        uint8_t sid[8];
        derive(x->salt[rq->file], rq->id, k, 7, sid, 8);
        span_begin(x, id->trace, sid, id->span, id->flags, SP_OTLP_TOKEN_SPAN, KIND_INTERNAL, rq->file, t0, t1);
        fputs("],\"events\":[", x->out);
        write_token_events(x, idx, rq, from, to);
        span_end(x, NULL);
    }
}

/* Request `idx`'s phase and tokens in step `b` (its member entry), written on its span of the step. */
static void write_step_member(ox *x, size_t idx, uint32_t bi, const sp_view_batch *b)
{
    for (uint32_t m = 0; m < b->n_members; m++) {
        if (sp_view_batch_member(x->ev, bi, m) != idx)
            continue;
        uint32_t tokens = 0;
        const char *phase = sp_view_phase_name(sp_view_step_member(x->ev, bi, m, &tokens));
        if (!phase)
            return;
        attr_str(x, SP_OTLP_STEP_PHASE, phase);
        attr_int(x, SP_OTLP_STEP_TOKENS, tokens);
        return;
    }
}

static const char *error_status(const sp_view_request *rq)
{
    return rq->outcome == SP_OUTCOME_REJECTED || rq->outcome == SP_OUTCOME_ERROR ? sp_outcome_str(rq->outcome)
                                                                                 : NULL;
}

/* A request's spans: the server span (kind SERVER), its client span (kind CLIENT) when the client's
 * times are known, one INTERNAL span per stage span and one per batch it ran in (servprof.batch,
 * linked to the batch's own span). */
static void write_request(ox *x, size_t idx, const sp_view_request *rq)
{
    uint64_t end = request_end(x, rq);
    /* an unfinished request's output tokens up to its span's end: a token record is not among the
     * records that give the trace's last time, so one can come after it (the reader refuses a token
     * event outside its span) */
    uint32_t n_tokens = rq->n_tokens;
    if (rq->outcome == SP_OUTCOME_UNFINISHED)
        for (uint32_t k = 0; k < n_tokens; k++) {
            uint64_t index, t;
            sp_view_request_token(x->ev, idx, k, &index, &t);
            if (t > end) {
                x->res.tokens_left_out += n_tokens - k;
                n_tokens = k;
                break;
            }
        }
    req_ids id;
    ids_of(x, rq, &id);
    char name[64];
    if (client_times(rq)) {
        span_begin(x, id.trace, id.client, NULL, id.flags, "client request", KIND_CLIENT, rq->file,
                   rq->client_send_ns, rq->client_done_ns);
        attr_str(x, "servprof.client", rq->id);
        if (rq->client_intended_ns != SP_VIEW_NO_TIME && rq->client_intended_ns <= rq->client_send_ns)
            attr_int(x, "servprof.client.send_delay_ns", (int64_t)(rq->client_send_ns - rq->client_intended_ns));
        span_end(x, NULL);
    }
    span_begin(x, id.trace, id.span, id.has_parent ? id.parent : NULL, id.flags, "request", KIND_SERVER, rq->file,
               rq->arrival_ns, end);
    attr_str(x, "servprof.request", rq->id);
    if (rq->input_tokens >= 0)
        attr_int(x, "gen_ai.usage.input_tokens", rq->input_tokens);
    if (rq->status > 0)
        attr_int(x, "http.response.status_code", rq->status);
    /* an ok request answered with an error status (the application said ok) says so, or the reader
     * would take the status for its outcome (docs/otlp.md, "Outcomes") */
    if (rq->outcome != SP_OUTCOME_OK || rq->status >= 400)
        attr_str(x, "servprof.outcome", sp_outcome_str(rq->outcome));
    /* generation (docs/generation.md): the output tokens, and each token's time as an event, so that a
     * report of the export has the TTFT, TPOT and ITL tables of the original's */
    if (rq->output_tokens >= 0)
        attr_int(x, "gen_ai.usage.output_tokens", rq->output_tokens);
    if (n_tokens) {
        fputs("],\"events\":[", x->out);
        write_token_events(x, idx, rq, 0, n_tokens < OTLP_TOKENS_PER_SPAN ? n_tokens : OTLP_TOKENS_PER_SPAN);
    }
    span_end(x, error_status(rq));
    sp_view_span sp;
    for (uint32_t k = 0; k < rq->n_spans; k++) {
        sp_view_request_span(x->ev, idx, k, &sp);
        uint8_t sid[8];
        derive(x->salt[rq->file], rq->id, k, 5, sid, 8);
        span_begin(x, id.trace, sid, id.span, id.flags, sp.stage, KIND_INTERNAL, rq->file, sp.start_ns, sp.end_ns);
        attr_str(x, "servprof.stage", sp.stage);
        span_end(x, NULL);
    }
    sp_view_batch b;
    for (uint32_t k = 0; k < rq->n_batches; k++) {
        sp_view_batch_at(x->ev, sp_view_request_batch(x->ev, idx, k), &b);
        if (!b.has_record || b.start_ns == SP_VIEW_NO_TIME || b.end_ns == SP_VIEW_NO_TIME)
            continue;
        uint8_t sid[8], bt[16], bs[8];
        derive(x->salt[rq->file], rq->id, k, 6, sid, 8);
        batch_ids(x, &b, bt, bs);
        snprintf(name, sizeof name, "batch %" PRId64, b.id);
        span_begin(x, id.trace, sid, id.span, id.flags, name, KIND_INTERNAL, rq->file, b.start_ns, b.end_ns);
        attr_int(x, "servprof.batch", b.id);
        attr_int(x, "servprof.batch.size", b.n_members);
        if (b.effective_tokens >= 0)
            attr_int(x, "servprof.batch.effective_tokens", b.effective_tokens);
        if (b.padded_tokens >= 0)
            attr_int(x, "servprof.batch.padded_tokens", b.padded_tokens);
        if (b.is_step)
            write_step_member(x, idx, sp_view_request_batch(x->ev, idx, k), &b);
        fputs("],\"links\":[{\"traceId\":", x->out);
        put_hex(x->out, bt, 16);
        fputs(",\"spanId\":", x->out);
        put_hex(x->out, bs, 8);
        fputs(",\"attributes\":[]}", x->out);
        span_end(x, NULL);
    }
    write_token_spans(x, idx, rq, n_tokens, &id);
}

/* ---- batches: a span of their own (a trace each), linked to their members' request spans ---- */

static int batch_exported(const sp_view_batch *b)
{
    return b->has_record && b->start_ns != SP_VIEW_NO_TIME && b->end_ns != SP_VIEW_NO_TIME && b->end_ns >= b->start_ns;
}

static void write_batch(ox *x, size_t idx, const sp_view_batch *b)
{
    uint8_t bt[16], bs[8];
    batch_ids(x, b, bt, bs);
    char name[64];
    snprintf(name, sizeof name, "batch %" PRId64, b->id);
    span_begin(x, bt, bs, NULL, SP_TRACE_FLAG_SAMPLED, name, KIND_INTERNAL, b->file, b->start_ns, b->end_ns);
    attr_bool(x, "servprof.request", 0); /* not a request's trace (the importer skips it) */
    attr_int(x, "servprof.batch", b->id);
    attr_int(x, "servprof.batch.size", b->n_members);
    attr_int(x, "servprof.device", b->device);
    if (b->effective_tokens >= 0)
        attr_int(x, "servprof.batch.effective_tokens", b->effective_tokens);
    if (b->padded_tokens >= 0)
        attr_int(x, "servprof.batch.padded_tokens", b->padded_tokens);
    /* a step's KV cache after it (its members' phases are on their own spans of it) */
    if (b->is_step && b->kv_used_tokens >= 0)
        attr_int(x, SP_OTLP_STEP_KV_USED, b->kv_used_tokens);
    if (b->is_step && b->kv_capacity_tokens > 0)
        attr_int(x, SP_OTLP_STEP_KV_CAPACITY, b->kv_capacity_tokens);
    fputs("],\"links\":[", x->out);
    sp_view_request rq;
    int first = 1;
    for (uint32_t m = 0; m < b->n_members; m++) {
        uint32_t q = sp_view_batch_member(x->ev, idx, m);
        if (q == SP_VIEW_NONE)
            continue;
        sp_view_request_at(x->ev, q, &rq);
        if (!request_exported(x, &rq))
            continue;
        req_ids id;
        ids_of(x, &rq, &id);
        fputs(first ? "{\"traceId\":" : ",{\"traceId\":", x->out);
        first = 0;
        put_hex(x->out, id.trace, 16);
        fputs(",\"spanId\":", x->out);
        put_hex(x->out, id.span, 8);
        fputs(",\"attributes\":[]}", x->out);
    }
    span_end(x, NULL);
    x->res.batches++;
}

/* ---- the documents ---- */

/* Every exported request of `file`, OTLP_REQUESTS_PER_DOC to a document. */
static void write_file_requests(ox *x, uint32_t file)
{
    const sp_events *ev = x->ev;
    sp_view_request rq;
    uint64_t in_doc = 0;
    for (size_t i = 0, n = sp_view_requests(ev); i < n && !ferror(x->out); i++) {
        sp_view_request_at(ev, i, &rq);
        if (rq.file != file || (!rq.has_record && rq.outcome != SP_OUTCOME_UNFINISHED))
            continue;
        if (!request_exported(x, &rq)) {
            x->res.skipped_requests++;
            continue;
        }
        if (in_doc == 0)
            doc_begin(x, file);
        write_request(x, i, &rq);
        x->res.requests++;
        x->res.unfinished_requests += rq.outcome == SP_OUTCOME_UNFINISHED;
        if (++in_doc == OTLP_REQUESTS_PER_DOC || doc_full(x)) {
            doc_end(x);
            in_doc = 0;
        }
    }
    if (in_doc)
        doc_end(x);
}

static void write_file_batches(ox *x, uint32_t file)
{
    const sp_events *ev = x->ev;
    sp_view_batch b;
    uint64_t in_doc = 0;
    for (size_t i = 0, n = sp_view_batches(ev); i < n && !ferror(x->out); i++) {
        sp_view_batch_at(ev, i, &b);
        if (b.file != file || !batch_exported(&b))
            continue;
        if (in_doc == 0)
            doc_begin(x, file);
        write_batch(x, i, &b);
        if (++in_doc == OTLP_BATCHES_PER_DOC) {
            doc_end(x);
            in_doc = 0;
        }
    }
    if (in_doc)
        doc_end(x);
}

/* Whether file `f` has anything to export (requests, or batches). */
static int file_has_spans(const ox *x, uint32_t f)
{
    const sp_events *ev = x->ev;
    sp_view_request rq;
    for (size_t i = 0, n = sp_view_requests(ev); i < n; i++) {
        sp_view_request_at(ev, i, &rq);
        if (rq.file == f && request_exported(x, &rq))
            return 1;
    }
    sp_view_batch b;
    for (size_t i = 0, n = sp_view_batches(ev); i < n; i++) {
        sp_view_batch_at(ev, i, &b);
        if (b.file == f && batch_exported(&b))
            return 1;
    }
    return 0;
}

sp_status sp_report_write_otlp(const sp_events *ev, const sp_otlp_options *opt, FILE *out, sp_otlp_result *result,
                               char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!ev || !out)
        return SP_ERR_INVALID;
    if (!sp_view_finished(ev))
        return SP_ERR_STATE;
    sp_status ready = sp_view_ids_ready(ev);
    if (ready)
        return ready;
    ox x;
    memset(&x, 0, sizeof x);
    x.out = out;
    x.ev = ev;
    sp_otlp_options_init(&x.opt);
    if (opt)
        sp_options_copy(&x.opt, sizeof x.opt, opt, opt->struct_size, sizeof x.opt);
    size_t nf = sp_view_files(ev);
    x.offset = calloc(nf ? nf : 1, sizeof *x.offset);
    x.salt = calloc(nf ? nf : 1, sizeof *x.salt);
    x.last = calloc(nf ? nf : 1, sizeof *x.last);
    if (!x.offset || !x.salt || !x.last) {
        free(x.offset);
        free(x.salt);
        free(x.last);
        return SP_ERR_NOMEM;
    }
    for (uint32_t f = 0; f < nf; f++) {
        sp_view_file vf;
        sp_view_file_at(ev, f, &vf);
        x.last[f] = vf.last_ns;
    }
    sp_status st = SP_OK;
    char *has = calloc(nf ? nf : 1, 1);
    if (!has)
        st = SP_ERR_NOMEM;
    /* every file with spans needs Unix time: its own anchor, else the caller's */
    for (uint32_t f = 0; f < nf && !st; f++) {
        sp_view_file vf;
        sp_view_file_at(ev, f, &vf);
        has[f] = (char)file_has_spans(&x, f);
        if (vf.has_unix_offset)
            x.offset[f] = vf.unix_offset_ns;
        else if (x.opt.has_unix_offset)
            x.offset[f] = x.opt.unix_offset_ns;
        else if (has[f]) {
            sp_errf(err, errlen,
                    "%s: its times are on a clock with no tie to Unix time (no wall-clock anchor in the trace: "
                    "docs/otlp.md, \"Export\"); give the offset to add (servprof export --unix-offset NS)",
                    vf.path);
            st = SP_ERR_FORMAT;
        }
        x.salt[f] = sp_mix64((uint64_t)x.offset[f] ^ sp_mix64((uint64_t)f + 0x5350u));
    }
    for (uint32_t f = 0; f < nf && !st && !ferror(out); f++) {
        if (!has[f])
            continue;
        write_file_requests(&x, f);
        write_file_batches(&x, f);
    }
    free(has);
    free(x.offset);
    free(x.salt);
    free(x.last);
    if (st)
        return st;
    if (result)
        *result = x.res;
    return sp_rep_finish(out);
}
