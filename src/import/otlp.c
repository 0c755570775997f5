/* Importer for OpenTelemetry OTLP/JSON traces (docs/otlp.md): resourceSpans/scopeSpans/spans, one
 * document or several (the OTLP file exporter writes one per line). A trace's request span becomes a
 * request with the trace id as its id; stage spans and vLLM's gen_ai.latency.* attributes become its
 * stages; spans carrying servprof.batch become batches. vLLM's, text-generation-inference's and SGLang's
 * spans are read in their engines' layouts (docs/otlp.md). */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/sort.h"
#include "common/tracectx.h"
#include "common/util_int.h"
#include "import/import_int.h"
#include "format/native_format.h"
#include "import/json.h"
#include "import/triton_int.h"

#define OTLP_MAX_SPANS (8u << 20)     /* hard cap on spans kept from one file */
#define OTLP_TEXT_MAX 256             /* bytes of a stage name (longer names are malformed) */
#define OTLP_MAX_EVENTS 4096          /* events in one span (the SDKs' default limit is 128) */
#define OTLP_MAX_LINKS 4096           /* links read from one span (the SDKs' default limit is 128); more
                                       * are not read */

/* The span's status.code (OTLP's Status.StatusCode): UNSET unless the instrumentation says. */
enum { SPAN_STATUS_UNSET = 0, SPAN_STATUS_OK = 1, SPAN_STATUS_ERROR = 2 };

/* vLLM's request latency attributes (seconds, as doubles), from vLLM's SpanAttributes. */
enum lat {
    LAT_QUEUE, LAT_TTFT, LAT_E2E, LAT_SCHEDULER, LAT_FORWARD, LAT_EXECUTE, LAT_PREFILL, LAT_DECODE,
    LAT_INFERENCE, LAT_COUNT
};

static const char *const g_lat_names[LAT_COUNT] = {
    "gen_ai.latency.time_in_queue", "gen_ai.latency.time_to_first_token", "gen_ai.latency.e2e",
    "gen_ai.latency.time_in_scheduler", "gen_ai.latency.time_in_model_forward",
    "gen_ai.latency.time_in_model_execute", "gen_ai.latency.time_in_model_prefill",
    "gen_ai.latency.time_in_model_decode", "gen_ai.latency.time_in_model_inference"};

/* Hugging Face text-generation-inference's request timings (docs/otlp.md, "text-generation-inference"):
 * fields of the router's handler span (router/src/server.rs, generate / generate_stream / completions),
 * recorded with format!("{:?}") of a Rust Duration ("1.25ms", "850\u00b5s", "2.5s"), as OTLP strings. */
enum tgi_dur { TGI_VALIDATION, TGI_QUEUE, TGI_INFERENCE, TGI_TOTAL, TGI_PER_TOKEN, TGI_DUR_COUNT };

static const char *const g_tgi_names[TGI_DUR_COUNT] = {
    "validation_time", "queue_time", "inference_time", "total_time", "time_per_token"};

/* What a span is in TGI's layout (its name and fields say; meaningful only in a file with a handler
 * span): the request's handler span, a batch's own root span, one generation sent to the request, the
 * request's span for one step (`infer`, linked to the step's batch span), and the batch's forward call
 * (`prefill` or `decode`, the batch span's child). */
enum { TGI_SPAN_NONE, TGI_SPAN_HANDLER, TGI_SPAN_BATCH, TGI_SPAN_SEND, TGI_SPAN_INFER, TGI_SPAN_PREFILL,
       TGI_SPAN_DECODE };

/* What a span is in SGLang's request tracing (docs/otlp.md, "SGLang"; observability/trace.py and
 * req_time_stats.py): the request's root span (attribute module "sglang::request"), another module's
 * root (e.g. "sglang::mooncake", a KV transfer's: no request), a thread span (thread_label and pid, named
 * "... (host:... | pid:...)"), or
 * a slice, named for its RequestStage. A slice's name counts only in a trace with a root or thread span
 * of SGLang's: another service's span called "decode_loop" is not read so. */
enum {
    SGL_NONE, SGL_REQ, SGL_OTHER_MODULE, SGL_THREAD, SGL_TOKENIZE, SGL_DISPATCH, SGL_REQUEST_PROCESS,
    SGL_PREFILL_WAITING, SGL_PREFILL_FORWARD, SGL_CHUNKED_PREFILL, SGL_DECODE_WAITING, SGL_DECODE_FORWARD,
    SGL_DECODE_LOOP, SGL_UNMAPPED /* + index into g_sgl_unmapped */
};

/* SGLang's slices that servprof does not map (PD disaggregation's, the mini load balancer's,
 * speculative decoding's): their time stays `other`, and the file's warning names and counts them. */
static const char *const g_sgl_unmapped[] = {
    "prefill_prepare", "prefill_bootstrap", "prefill_transfer_kv_cache", "decode_prepare", "decode_bootstrap",
    "decode_transferred", "fake_output", "quick_finish", "mini_lb_launch", "wait_pd_finish", "spec_verify"};
#define SGL_N_UNMAPPED (sizeof g_sgl_unmapped / sizeof g_sgl_unmapped[0])

/* A span link kept (OTLP's Span.Link: the linked span's trace and span id), only on TGI's `infer` and
 * `batch` spans: TGI ties a batch to its members' steps by links both ways (docs/otlp.md). */
typedef struct olink {
    uint32_t seq;            /* the owning span's order in the file (ospan.seq) */
    uint8_t trace[16], span[8];
} olink;

/* TGI's steps being joined, per span by its index in the sorted otlp.spans (tgi_join_links). */
typedef struct tgi_join {
    uint32_t batch;          /* an infer span: the batch span it is joined to; SP_EV_NONE: none */
    uint32_t req;            /* an infer span: its trace's request; SP_EV_NONE: none */
    uint32_t nj;             /* a batch span: infer spans joined to it */
    int8_t phase;            /* a batch span: its forward call's phase (sp_ev_phase); -1: no child */
    bool first;              /* an infer span: its request's first step */
    bool read;               /* a batch span: read as a step */
} tgi_join;

/* A span as kept: only what building the model needs. */
typedef struct ospan {
    uint8_t trace[16];
    uint8_t id[8], parent[8];
    bool has_parent;
    bool is_request;         /* attribute servprof.request, not false */
    bool not_request;        /* attribute servprof.request: false (never the request span) */
    uint8_t sgl;             /* SGL_*: what the span is in SGLang's layout (meaningful in its traces) */
    sp_str request_id;       /* servprof.request's string value: the request's id; SP_EV_NONE */
    bool has_flags;
    uint8_t flags;           /* "flags": the W3C trace flags (its low 8 bits) */
    uint16_t nevents;        /* its events (at most OTLP_MAX_EVENTS): counted for SGLang's warning */
    union {
        uint32_t tgi_h;      /* a TGI handler span: index into otlp.tgih, its timings; SP_EV_NONE: none */
        uint32_t tgi_bsize;  /* a TGI batch span: its batch_size; SP_EV_NONE: none given */
        uint32_t tgi_ntok;   /* a TGI send_generation span: the tokens its generation carries (its
                              * Debug text's tokens.ids); 0: not given, read as 1 */
    };
    int64_t batch_effective; /* servprof.batch.effective_tokens; < 0 absent */
    int8_t outcome;          /* servprof.outcome (sp_outcome); < 0 absent */
    int8_t span_status;      /* the span's status.code: SPAN_STATUS_UNSET, _OK or _ERROR */
    int16_t grpc_status;     /* rpc.grpc.status_code; < 0 absent */
    int32_t http_status;     /* http.response.status_code; 0 absent. An SGLang thread span: the
                              * status_code its abort info gives (docs/otlp.md, "SGLang") */
    int64_t batch_padded;    /* servprof.batch.padded_tokens; < 0 absent */
    bool server;             /* kind SERVER */
    bool has_batch;
    bool has_lat;
    bool lat_negative;       /* a gen_ai.latency.* value below 0: read as not measured (docs/otlp.md) */
    int8_t finish_outcome;   /* gen_ai.response.finish_reasons as an outcome (sp_outcome); < 0 absent */
    uint8_t tgi;             /* TGI_SPAN_*: what the span is in TGI's layout */
    bool tgi_done;           /* a TGI handler span with total_time: the router saw the last token */
    bool sgl_autoclosed;     /* an SGLang thread span its tracer closed itself (outcome_of) */
    int64_t batch;           /* servprof.batch */
    int64_t input_tokens;    /* gen_ai.usage.prompt_tokens; < 0 unknown */
    int64_t output_tokens;   /* gen_ai.usage.completion_tokens; < 0 unknown */
    int64_t lat[LAT_COUNT];  /* ns; < 0 absent */
    sp_str stage;            /* SP_EV_NONE: not a stage span */
    int32_t num_seqs;        /* gen_ai.usage.num_sequences, at most INT32_MAX; < 0 absent (here: the hole
                              * before `start`, so the record stays 216 bytes) */
    uint64_t start, end;
    uint32_t line, column;
    uint32_t seq;            /* order in the file (stable sorting) */
    uint32_t tri;            /* index into otlp.tri: the span's Triton facts; SP_EV_NONE: none */
} ospan;

/* An output token as servprof's export writes it (docs/otlp.md, "Export"): a `servprof.token` event
 * with its index, on the request span or a `servprof.tokens` child of it. Kept by the owning span's
 * order in the file (ospan.seq), so spans without tokens cost nothing more. */
typedef struct otok {
    uint32_t seq;            /* the owning span's ospan.seq */
    uint64_t index, time;
} otok;

/* A span's generation step attributes (servprof export's, docs/otlp.md "Export"): on a request's span
 * of a step, its phase and tokens in it; on the step's own span, the KV cache after it. Out of line,
 * by ospan.seq, like otok. */
typedef struct ostep {
    uint32_t seq;
    int8_t phase;            /* sp_ev_phase; < 0 absent */
    int64_t tokens;          /* < 0 absent */
    int64_t kv_used, kv_cap; /* < 0 absent */
} ostep;

/* What a span says in Triton's OpenTelemetry layout (docs/triton.md, "OpenTelemetry mode"): kept out
 * of line, for the spans that have any, so spans of other services cost nothing more. */
typedef struct otri {
    uint64_t ts[SP_TRITON_TS_COUNT];   /* its events with Triton's timestamp names; SP_TIME_NONE */
    sp_str model, version;   /* model_name / model_version attributes; SP_EV_NONE */
    sp_str request_id;       /* request_id attribute (non-empty); SP_EV_NONE */
    bool any_event;          /* the span had an event, of any name */
    bool triton_event;       /* ... with one of Triton's timestamp names */
} otri;

/* A Triton trace's request as the Triton model names it (otlp.tri_req, by record index). */
typedef struct otri_req {
    uint32_t root;           /* the trace's root span (index into spans): its context and times */
    sp_str request_id;       /* the top model span's request_id; SP_EV_NONE */
} otri_req;

typedef struct otlp {
    sp_import_ctx *ctx;
    sp_json_lexer lx;
    ospan *spans;
    size_t n, cap;
    bool lenient;
    bool warned_dup_id;      /* said once that two traces name one request id */
    sp_known_stages ks;
    double price_per_hour;   /* a resource's servprof.price_per_hour; 0: none given */
    bool model_inference;    /* a resource's servprof.model_stages names "inference" (servprof export of a
                                file whose stage "inference" is an engine's model time) */
    bool unclean;            /* a resource's servprof.trace_end is "unclean" (servprof export of a trace its
                                recorder did not close) */
    sp_str warned_props[SP_PROP_MAX_KEYS]; /* property keys already said to differ between resources */
    size_t n_warned_props;
    uint64_t fragments, fragment_spans;   /* traces (and their spans) with no request span */
    uint64_t negative_lat_spans;          /* spans with a negative gen_ai.latency.* value */
    uint32_t negative_line, negative_col; /* the first such span's */
    uint64_t multi_lat_traces, multi_lat_spans; /* traces with more than one span carrying latencies,
                                                 * and those spans beyond the one read */
    uint64_t tgi_handlers;   /* spans in TGI's handler layout: the file is TGI's router's */
    uint64_t tgi_requests;   /* requests read in TGI's layout */
    uint64_t tgi_batch_traces; /* TGI's batch traces read as steps */
    uint64_t tgi_batch_empty;  /* ... left out: no member found (e.g. no batch_size: a batch TGI dropped
                                * before it took a request) */
    uint64_t tgi_missing;      /* members a batch's batch_size counts that no link joined to a request */
    uint64_t tgi_partial;      /* requests with some but not all of their steps (infer spans) joined */
    uint64_t tgi_stepped;      /* requests with every step joined */
    uint64_t sgl_requests;   /* requests read in SGLang's layout */
    uint64_t sgl_cut;        /* SGLang's traces with no request span (cut short), and their spans */
    uint64_t sgl_cut_spans;
    uint64_t sgl_other_module; /* SGLang's traces of another module's root (no request) */
    uint64_t sgl_multi_req;  /* SGLang requests whose trace holds more than one Req span (PD
                              * disaggregation's prefill and decode servers): the earliest is read */
    uint64_t sgl_attrs_only; /* SGLang requests with no prefill or decode slice: read from their
                              * gen_ai.latency.* attributes */
    uint64_t sgl_unmapped[SGL_N_UNMAPPED]; /* slices not mapped, by name */
    uint64_t sgl_unknown;    /* spans of other names in SGLang's requests, not stages */
    uint64_t sgl_chunked;    /* chunked_prefill slices: inside prefill_forward, not stages */
    uint64_t sgl_events;     /* span events in SGLang's requests (schedule, retract): not read */
    olink *links;            /* links of TGI's infer and batch spans */
    size_t nlinks, caplinks;
    tgi_join *tj;            /* by sorted span index, while building (TGI's steps); NULL: none */
    int64_t (*tgih)[TGI_DUR_COUNT]; /* TGI handler spans' timings, ns, < 0 absent (ospan.tgi_h): kept
                                     * out of line, so other spans cost nothing more */
    size_t ntgih, captgih;
    otri *tri;               /* Triton facts of the spans that have any (ospan.tri) */
    size_t ntri, captri;
    sp_triton_set triton;    /* traces in Triton's layout, built by triton_build.c */
    otri_req *tri_req;       /* by triton record index */
    size_t captri_req;
    otok *toks;              /* servprof.token events, by span order in the file (otok.seq) */
    size_t ntoks, captoks;
    ostep *steps;            /* servprof.step.* attributes, by span order in the file (ostep.seq) */
    size_t nsteps, capsteps;
} otlp;

/* A servprof.token event as read, with where it is for a message. */
typedef struct rtok {
    uint64_t index, time;
    uint32_t line, col;
} rtok;

/* One span object as read. */
typedef struct sread {
    ospan s;
    bool has_trace, has_id, has_start, has_end;
    char name[OTLP_TEXT_MAX];
    size_t name_len;
    bool has_name;
    char stage[OTLP_TEXT_MAX];
    size_t stage_len;
    bool has_stage;
    otri tri;                /* Triton facts as read; kept when has_tri */
    bool has_tri;
    int64_t tgi_dur[TGI_DUR_COUNT]; /* TGI's timing fields as read, ns; < 0 absent */
    int tgi_bad;             /* a TGI timing field that is not a Rust duration (tgi_dur); -1 none */
    bool tgi_params;         /* a "parameters" field in TGI's shape (GenerateParameters { ... }) */
    bool tgi_batch_size;     /* an integer "batch_size" field */
    int64_t batch_size;      /* its value */
    uint32_t tgi_gen_tokens; /* a "generation" field in TGI's shape: its tokens (tgi_generation_tokens); 0 */
    uint8_t sgl_module;      /* a "module" string: SGL_REQ ("sglang::request"), SGL_OTHER_MODULE
                              * ("sglang::..." else), SGL_NONE */
    bool sgl_thread_label, sgl_pid; /* a "thread_label" string, an integer "pid" */
    bool sgl_autoclosed;     /* "reason" (or "abort_info"): the tracer's own auto-close */
    int64_t sgl_status_code; /* an integer "status_code" in 100..999; -1 none */
    uint32_t nevents;        /* events read */
    uint8_t (*links)[24];    /* "links" as read: trace id then span id; OTLP_MAX_LINKS of room */
    size_t nlinks;
    uint32_t bad_line, bad_col;   /* where the first problem is when not at the span's start (an event) */
    char bad[200];
    rtok *toks;              /* servprof.token events as read; room for OTLP_MAX_EVENTS */
    uint32_t ntoks;
    ostep step;              /* servprof.step.* as read (seq unset) */
    bool has_step;
} sread;

static void bad(sread *r, const char *fmt, ...) SP_PRINTF(2, 3);

static void bad(sread *r, const char *fmt, ...)
{
    if (r->bad[0])
        return;   /* the first problem is the one reported */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->bad, sizeof r->bad, fmt, ap);
    va_end(ap);
}

static bool key_is(const sp_json_token *k, const char *lit)
{
    size_t n = strlen(lit);
    return k->len == n && memcmp(k->str, lit, n) == 0;
}

static int b64_digit(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Base64 text of exactly n bytes into `out`: the standard or the URL-safe alphabet, with or without
 * '=' padding, and no stray bits in the last digit. */
static bool parse_base64(const char *s, size_t len, uint8_t *out, size_t n)
{
    size_t digits = (4 * n + 2) / 3, padded = (n + 2) / 3 * 4;
    if (len == padded)
        for (size_t i = digits; i < padded; i++)
            if (s[i] != '=')
                return false;
    if (len != padded && len != digits)
        return false;
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < digits; i++) {
        int d = b64_digit(s[i]);
        if (d < 0)
            return false;
        acc = acc << 6 | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return k == n && acc == 0;
}

/* A trace or span id of n bytes: OTLP/JSON's hex (2n digits), or base64, which generic protobuf JSON
 * encoders write for bytes fields (the protobuf JSON mapping; some exporters and older SDKs). The two
 * never have the same length. */
static bool parse_id(const char *s, size_t len, uint8_t *out, size_t n)
{
    return len == 2 * n ? sp_hex_read(s, len, out, n) : parse_base64(s, len, out, n);
}

/* An integer given as a JSON integer or as a string of digits (OTLP/JSON encodes 64-bit integers as
 * strings). */
static bool token_int(const sp_json_token *t, int64_t *out)
{
    const char *s = t->str;
    size_t len = t->len;
    if (t->type != SP_JSON_NUMBER && t->type != SP_JSON_STRING)
        return false;
    if (len == 0 || len > 24 || memchr(s, '.', len) || memchr(s, 'e', len) || memchr(s, 'E', len))
        return false;
    bool exact;
    int64_t v;
    if (sp_json_decimal_to_int(s, len, 0, &v, &exact) != SP_OK || !exact)
        return false;
    *out = v;
    return true;
}

/* Seconds as JSON number text (or a string of it) to ns, exactly, without going through double. The
 * value may be negative (the caller decides what that means). */
static bool token_seconds_ns(const sp_json_token *t, int64_t *out)
{
    if (t->type != SP_JSON_NUMBER && t->type != SP_JSON_STRING)
        return false;
    if (t->len == 0 || t->len > 64)
        return false;
    int64_t v;
    if (sp_json_decimal_to_int(t->str, t->len, 9, &v, NULL) != SP_OK)
        return false;
    *out = v;
    return true;
}

/* A Rust Duration as its Debug format writes it (core::time::Duration's fmt::Debug, which TGI's router
 * records with format!("{:?}")): whole seconds and up to 9 decimals then "s" when at least 1 s, else
 * milliseconds (up to 6 decimals) "ms", microseconds (up to 3) "\u00b5s", or whole nanoseconds "ns";
 * trailing zeros of the decimals are left out, so the text is the exact value. "us" is taken for
 * "\u00b5s". To ns exactly. */
static bool rust_duration_ns(const char *s, size_t n, int64_t *out)
{
    static const struct { const char *unit; int64_t scale; int decimals; } units[] = {
        {"ns", 1, 0}, {"\xc2\xb5s", 1000, 3}, {"us", 1000, 3}, {"ms", 1000000, 6}, {"s", 1000000000, 9}};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t ul = strlen(units[u].unit);
        if (n <= ul || memcmp(s + n - ul, units[u].unit, ul) != 0)
            continue;
        size_t m = n - ul, i = 0;
        int64_t whole = 0, frac = 0, scale = units[u].scale;
        if (!(s[0] >= '0' && s[0] <= '9'))
            return false;
        for (; i < m && s[i] >= '0' && s[i] <= '9'; i++) {
            if (whole > (INT64_MAX / scale - 9) / 10)
                return false;
            whole = whole * 10 + (s[i] - '0');
        }
        int digits = 0;
        if (i < m && s[i] == '.') {
            for (i++; i < m && s[i] >= '0' && s[i] <= '9'; i++) {
                if (++digits > units[u].decimals)
                    return false;
                frac = frac * 10 + (s[i] - '0');
            }
            if (digits == 0)
                return false;
        }
        if (i != m)
            return false;
        for (int d = digits; d < units[u].decimals; d++)
            frac *= 10;
        /* frac is now in units of scale / 10^decimals */
        int64_t per = scale;
        for (int d = 0; d < units[u].decimals; d++)
            per /= 10;
        *out = whole * scale + frac * per;
        return true;
    }
    return false;
}

/* Reads an attribute value object {"stringValue": ...} etc.; the '{' is consumed. Hands the scalar
 * inside to `want` (a token copy valid until the next lexer call) through `*got`. */
static sp_status read_anyvalue(otlp *o, sp_json_token *got, bool *has)
{
    sp_json_token t;
    *has = false;
    for (;;) {
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_OBJ_END)
            return SP_OK;
        bool scalar_key = key_is(&t, "stringValue") || key_is(&t, "intValue") || key_is(&t, "doubleValue") ||
                          key_is(&t, "boolValue");
        if (!scalar_key || *has) {
            if (sp_json_skip(&o->lx))   /* arrayValue, kvlistValue, bytesValue: not used */
                return sp_json_fail(&o->lx, o->ctx);
            continue;
        }
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
            if (sp_json_skip_rest(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            continue;
        }
        *got = t;
        *has = true;
        /* the token's text is only valid until the next lexer call: the caller's value must be taken
         * now, so stop here and let the caller finish the object with sp_json_skip_rest */
        return SP_OK;
    }
}

/* The tokens a TGI generation carries, from its send_generation span's "generation" field: the Rust
 * Debug text of the router's protobuf Generation (proto/v3/generate.proto: request_id, prefill_tokens,
 * tokens, generated_text, top_tokens; docs/otlp.md, "text-generation-inference"), e.g. "Generation {
 * request_id: 0, prefill_tokens: None, tokens: Some(Tokens { ids: [330, 12], logprobs: ..., texts:
 * [...], ... }), ... }". With --speculate one generation carries the accepted tokens, each an id.
 * The ids of the generation's own `tokens` field are counted: a field at the struct's top level,
 * found outside the quoted texts (Debug escapes a quote inside one as \"), so neither
 * prefill_tokens nor a text that reads like a field is taken. 0 when the text is not in that shape
 * (elided, no ids, another version's layout): the caller then counts the generation as one token. */
static uint32_t tgi_generation_tokens(const char *s, size_t n)
{
    static const char head[] = "Generation {", field[] = ", tokens: Some(Tokens { ids: [";
    const size_t hl = sizeof head - 1, fl = sizeof field - 1;
    if (n < hl || memcmp(s, head, hl) != 0)
        return 0;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {   /* a quoted text: skipped to its closing quote */
            for (i++; i < n && s[i] != '"'; i++)
                i += s[i] == '\\';
            continue;
        }
        if (c == '{' || c == '[' || c == '(')
            depth++;
        else if (c == '}' || c == ']' || c == ')')
            depth--;
        if (depth != 1 || c != ',' || n - i < fl || memcmp(s + i, field, fl) != 0)
            continue;
        /* the ids: unsigned integers separated by ", ", up to the ']' */
        uint32_t count = 0;
        size_t j = i + fl;
        for (;;) {
            if (j >= n || s[j] < '0' || s[j] > '9')
                return 0;   /* not an id where one must be (also "[]": a generation has a token) */
            while (j < n && s[j] >= '0' && s[j] <= '9')
                j++;
            count += count < UINT32_MAX;
            if (j < n && s[j] == ']')
                return count;
            if (j + 1 >= n || s[j] != ',' || s[j + 1] != ' ')
                return 0;
            j += 2;
        }
    }
    return 0;
}

enum attr {
    A_NONE = -1, A_STAGE = LAT_COUNT, A_REQUEST, A_BATCH, A_PROMPT_TOKENS, A_COMPLETION_TOKENS, A_BATCH_EFFECTIVE,
    A_BATCH_PADDED, A_OUTCOME, A_HTTP_STATUS, A_TRITON_MODEL, A_TRITON_VERSION, A_TRITON_REQUEST,
    A_FINISH_REASONS, A_NUM_SEQUENCES, A_GRPC_STATUS, A_TGI_PARAMS, A_TGI_BATCH_SIZE, A_TGI_GENERATION,
    A_SGL_MODULE, A_SGL_THREAD_LABEL, A_SGL_PID, A_SGL_STATUS_CODE, A_SGL_REASON, A_STEP_PHASE, A_STEP_TOKENS,
    A_STEP_KV_USED, A_STEP_KV_CAP,
    A_TGI_DUR   /* + enum tgi_dur */
};

static int attr_of(const char *k, size_t n)
{
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(k, lit, n) == 0)
    if (IS("servprof.stage"))
        return A_STAGE;
    if (IS("servprof.request"))
        return A_REQUEST;
    if (IS("servprof.batch"))
        return A_BATCH;
    if (IS("servprof.batch.effective_tokens"))
        return A_BATCH_EFFECTIVE;
    if (IS("servprof.batch.padded_tokens"))
        return A_BATCH_PADDED;
    if (IS("servprof.outcome"))
        return A_OUTCOME;
    if (IS(SP_OTLP_STEP_PHASE))
        return A_STEP_PHASE;
    if (IS(SP_OTLP_STEP_TOKENS))
        return A_STEP_TOKENS;
    if (IS(SP_OTLP_STEP_KV_USED))
        return A_STEP_KV_USED;
    if (IS(SP_OTLP_STEP_KV_CAPACITY))
        return A_STEP_KV_CAP;
    if (IS("http.response.status_code") || IS("http.status_code"))
        return A_HTTP_STATUS;
    if (IS("gen_ai.usage.prompt_tokens") || IS("gen_ai.usage.input_tokens"))
        return A_PROMPT_TOKENS;
    if (IS("gen_ai.usage.completion_tokens") || IS("gen_ai.usage.output_tokens"))
        return A_COMPLETION_TOKENS;
    if (IS("gen_ai.response.finish_reasons"))
        return A_FINISH_REASONS;
    if (IS("rpc.grpc.status_code"))
        return A_GRPC_STATUS;
    if (IS("gen_ai.usage.num_sequences"))
        return A_NUM_SEQUENCES;
    /* text-generation-inference's router: span fields (docs/otlp.md) */
    if (IS("parameters"))
        return A_TGI_PARAMS;
    if (IS("batch_size"))
        return A_TGI_BATCH_SIZE;
    if (IS("generation"))
        return A_TGI_GENERATION;
    for (int i = 0; i < TGI_DUR_COUNT; i++)
        if (strlen(g_tgi_names[i]) == n && memcmp(g_tgi_names[i], k, n) == 0)
            return A_TGI_DUR + i;
    /* SGLang's root and thread spans (observability/trace.py) and its abort info (a finish reason's
     * to_json()); names other services use too, so a value of another shape is ignored */
    if (IS("module"))
        return A_SGL_MODULE;
    if (IS("thread_label"))
        return A_SGL_THREAD_LABEL;
    if (IS("pid"))
        return A_SGL_PID;
    if (IS("status_code"))
        return A_SGL_STATUS_CODE;
    if (IS("reason") || IS("abort_info"))
        return A_SGL_REASON;
    /* Triton's OpenTelemetry mode: these names in its docs, the triton. ones in an earlier tracer
     * (docs/triton.md, "OpenTelemetry mode") */
    if (IS("model_name") || IS("triton.model_name"))
        return A_TRITON_MODEL;
    if (IS("model_version") || IS("triton.model_version"))
        return A_TRITON_VERSION;
    if (IS("request_id") || IS("triton.request_id"))
        return A_TRITON_REQUEST;
#undef IS
    for (int i = 0; i < LAT_COUNT; i++)
        if (strlen(g_lat_names[i]) == n && memcmp(g_lat_names[i], k, n) == 0)
            return i;
    return A_NONE;
}

/* A Triton attribute (model_name, model_version, request_id). These names are common enough in other
 * services' spans that a value of another shape is ignored, never malformed: they count only in a
 * trace of Triton's layout (a model span with Triton's timestamp events). */
static sp_status triton_attribute(otlp *o, sread *r, int which, const sp_json_token *v)
{
    bool text = v->type == SP_JSON_STRING || (which == A_TRITON_VERSION && v->type == SP_JSON_NUMBER);
    if (!text || v->len == 0 || v->len >= SP_TRITON_NAME_MAX || memchr(v->str, 0, v->len))
        return SP_OK;
    sp_str *dst = which == A_TRITON_MODEL ? &r->tri.model : which == A_TRITON_VERSION ? &r->tri.version
                                                                                      : &r->tri.request_id;
    r->has_tri = true;
    return sp_str_intern(&o->ctx->ev->strings, v->str, v->len, dst);
}

/* gen_ai.response.finish_reasons as an outcome: vLLM writes the request's reasons as the text of a
 * JSON list (json.dumps(["stop"])), from FINISH_REASON_STRINGS (stop, length, abort, error,
 * repetition; vllm/v1/engine/__init__.py): "error" (a request-level internal error, e.g. a KV load
 * failure) is error, "abort" (aborted) cancelled, any other reason ok. The words are looked for in the
 * text, so a bare "abort" reads the same; a value that is not a string is ignored. */
static int8_t finish_outcome_of(const sp_json_token *v)
{
    if (v->type != SP_JSON_STRING)
        return -1;
    bool error = false, abort_ = false, any = false;
    for (size_t i = 0; i < v->len;) {
        size_t j = i;
        while (j < v->len && ((v->str[j] >= 'a' && v->str[j] <= 'z') || (v->str[j] >= 'A' && v->str[j] <= 'Z') ||
                              v->str[j] == '_'))
            j++;
        if (j > i) {
            any = true;
            error |= j - i == 5 && strncasecmp(v->str + i, "error", 5) == 0;
            abort_ |= j - i == 5 && strncasecmp(v->str + i, "abort", 5) == 0;
            i = j;
        } else {
            i++;
        }
    }
    return error ? SP_OUTCOME_ERROR : abort_ ? SP_OUTCOME_CANCELLED : any ? SP_OUTCOME_OK : -1;
}

static void bad_at(sread *r, uint32_t line, uint32_t col, const char *fmt, ...) SP_PRINTF(4, 5);

/* A problem at line:col inside the span (an event), reported there rather than at the span's start. */
static void bad_at(sread *r, uint32_t line, uint32_t col, const char *fmt, ...)
{
    if (r->bad[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->bad, sizeof r->bad, fmt, ap);
    va_end(ap);
    r->bad_line = line;
    r->bad_col = col;
}

/* "links": [{"traceId": "...", "spanId": "...", ...}, ...]; the '[' is consumed. Only the linked span's
 * ids are read, and only where a reader needs them (TGI's batches); so a link that is not in this shape
 * is not read, and never makes the span malformed: links were not read at all before, and a span's
 * own facts do not depend on them. The first OTLP_MAX_LINKS are kept. */
static sp_status read_links(otlp *o, sread *r)
{
    sp_json_token t;
    for (;;) {
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_ARR_END)
            return SP_OK;
        if (t.type != SP_JSON_OBJ_BEGIN) {
            if (t.type == SP_JSON_ARR_BEGIN && sp_json_skip_rest(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            continue;
        }
        uint8_t ids[24];
        bool has_trace = false, has_span = false;
        for (;;) {
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            if (t.type == SP_JSON_OBJ_END)
                break;
            bool is_trace = key_is(&t, "traceId"), is_span = key_is(&t, "spanId");
            if (!is_trace && !is_span) {
                if (sp_json_skip(&o->lx))   /* traceState, attributes, flags, ... */
                    return sp_json_fail(&o->lx, o->ctx);
                continue;
            }
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
                if (sp_json_skip_rest(&o->lx))
                    return sp_json_fail(&o->lx, o->ctx);
                continue;
            }
            if (t.type != SP_JSON_STRING)
                continue;
            if (is_trace)
                has_trace = parse_id(t.str, t.len, ids, 16);
            else
                has_span = parse_id(t.str, t.len, ids + 16, 8);
        }
        if (has_trace && has_span && r->nlinks < OTLP_MAX_LINKS)
            memcpy(r->links[r->nlinks++], ids, 24);
    }
}

/* An event's "attributes" (the '[' is consumed): only servprof.token.index is read (servprof export's
 * token events). *state: 0 not given, 1 a non-negative integer (in *index), 2 given in another shape
 * or twice. */
static sp_status read_token_index(otlp *o, uint64_t *index, int *state)
{
    sp_json_token t;
    for (;;) {
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_ARR_END)
            return SP_OK;
        if (t.type != SP_JSON_OBJ_BEGIN) {
            if (t.type == SP_JSON_ARR_BEGIN && sp_json_skip_rest(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            continue;
        }
        bool ours = false;
        for (;;) {
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            if (t.type == SP_JSON_OBJ_END)
                break;
            if (key_is(&t, "key")) {
                if (sp_json_next(&o->lx, &t))
                    return sp_json_fail(&o->lx, o->ctx);
                if (t.type == SP_JSON_STRING)
                    ours = key_is(&t, SP_OTLP_TOKEN_INDEX);
                else if ((t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) && sp_json_skip_rest(&o->lx))
                    return sp_json_fail(&o->lx, o->ctx);
                continue;
            }
            if (!key_is(&t, "value") || !ours) {
                if (sp_json_skip(&o->lx))
                    return sp_json_fail(&o->lx, o->ctx);
                continue;
            }
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            if (t.type != SP_JSON_OBJ_BEGIN) {
                if (t.type == SP_JSON_ARR_BEGIN && sp_json_skip_rest(&o->lx))
                    return sp_json_fail(&o->lx, o->ctx);
                *state = 2;
                continue;
            }
            sp_json_token v;
            bool has;
            sp_status st = read_anyvalue(o, &v, &has);
            if (st)
                return st;
            int64_t x;
            if (has && *state == 0 && token_int(&v, &x) && x >= 0) {
                *index = (uint64_t)x;
                *state = 1;
            } else {
                *state = 2;
            }
            if (has && sp_json_skip_rest(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
        }
    }
}

/* "events": [{"timeUnixNano": "...", "name": "...", "attributes": [...]}, ...]; the '[' is consumed.
 * Every event needs a time (a non-negative integer, as the span's times); one with a Triton timestamp
 * name is kept (the first of a name), the rest only counted. */
static sp_status read_events(otlp *o, sread *r)
{
    sp_json_token t;
    for (;;) {
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_ARR_END)
            return SP_OK;
        uint32_t line = t.line, col = t.column;
        if (t.type != SP_JSON_OBJ_BEGIN) {
            if (t.type == SP_JSON_ARR_BEGIN && sp_json_skip_rest(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            bad_at(r, line, col, "\"events\" must hold {\"timeUnixNano\":...,\"name\":...} objects");
            continue;
        }
        /* counted over the span, not this list: a span may repeat its "events" key, and r->toks holds
         * OTLP_MAX_EVENTS tokens in all (two lists of 4096 tokens wrote past it) */
        if (++r->nevents > OTLP_MAX_EVENTS) {
            bad_at(r, line, col, "more than %u events in one span", OTLP_MAX_EVENTS);
            if (sp_json_skip_rest(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            continue;
        }
        r->tri.any_event = true;
        bool has_time = false, time_bad = false, seen_time = false, seen_name = false, is_token = false;
        int which = -1, index_state = 0;
        uint64_t ns = 0, index = 0;
        for (;;) {
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            if (t.type == SP_JSON_OBJ_END)
                break;
            bool is_time = key_is(&t, "timeUnixNano"), is_name = key_is(&t, "name");
            if (key_is(&t, "attributes")) {
                if (sp_json_next(&o->lx, &t))
                    return sp_json_fail(&o->lx, o->ctx);
                if (t.type == SP_JSON_ARR_BEGIN) {
                    sp_status st = read_token_index(o, &index, &index_state);
                    if (st)
                        return st;
                } else if (t.type == SP_JSON_OBJ_BEGIN && sp_json_skip_rest(&o->lx)) {
                    return sp_json_fail(&o->lx, o->ctx);
                }
                continue;
            }
            if (!is_time && !is_name) {
                if (sp_json_skip(&o->lx))   /* attributes, droppedAttributesCount */
                    return sp_json_fail(&o->lx, o->ctx);
                continue;
            }
            if ((is_time && seen_time) || (is_name && seen_name))
                bad_at(r, line, col, "event: \"%s\" given twice", is_time ? "timeUnixNano" : "name");
            seen_time |= is_time;
            seen_name |= is_name;
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
                if (sp_json_skip_rest(&o->lx))
                    return sp_json_fail(&o->lx, o->ctx);
                time_bad |= is_time;
                if (is_name)
                    bad_at(r, line, col, "event: \"name\" must be a string");
                continue;
            }
            int64_t x;
            if (is_time) {
                if (!token_int(&t, &x) || x < 0)
                    time_bad = true;
                else {
                    ns = (uint64_t)x;
                    has_time = true;
                }
            } else if (t.type != SP_JSON_STRING) {
                bad_at(r, line, col, "event: \"name\" must be a string");
            } else {
                which = sp_triton_ts_find(t.str, t.len);
                is_token = key_is(&t, SP_OTLP_TOKEN_EVENT);
            }
        }
        if (time_bad || !has_time) {
            bad_at(r, line, col, "event%s%s%s: \"timeUnixNano\" %s", which >= 0 ? " \"" : "",
                   which >= 0 ? sp_triton_ts_name(which) : "", which >= 0 ? "\"" : "",
                   time_bad ? "must be a non-negative integer (ns since the Unix epoch)" : "is missing");
            continue;
        }
        if (which >= 0) {
            r->has_tri = r->tri.triton_event = true;
            if (r->tri.ts[which] == SP_TIME_NONE)
                r->tri.ts[which] = ns;   /* a repeated name keeps its first time, as in Triton's own file */
        }
        if (is_token) {   /* servprof export's output token (docs/otlp.md, "Export") */
            if (index_state != 1)
                bad_at(r, line, col, "event \"" SP_OTLP_TOKEN_EVENT "\": \"" SP_OTLP_TOKEN_INDEX "\" %s",
                       index_state ? "must be given once, as a non-negative integer (the token's 0-based index)"
                                   : "is missing (the token's 0-based index)");
            else
                r->toks[r->ntoks++] = (rtok){index, ns, line, col};
        }
    }
}

/* "attributes": [{"key": "...", "value": {...}}, ...]; the '[' is consumed. */
static sp_status read_attributes(otlp *o, sread *r)
{
    sp_json_token t;
    for (;;) {
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_ARR_END)
            return SP_OK;
        if (t.type != SP_JSON_OBJ_BEGIN) {
            if (t.type == SP_JSON_ARR_BEGIN && sp_json_skip_rest(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            bad(r, "\"attributes\" must hold {\"key\":...,\"value\":{...}} objects");
            continue;
        }
        int which = A_NONE;
        bool key_seen = false;
        /* "value" may come before "key": then it cannot be interpreted and is skipped */
        for (;;) {
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            if (t.type == SP_JSON_OBJ_END)
                break;
            if (key_is(&t, "key")) {
                if (sp_json_next(&o->lx, &t))
                    return sp_json_fail(&o->lx, o->ctx);
                if (t.type == SP_JSON_STRING) {
                    which = attr_of(t.str, t.len);
                    key_seen = true;
                } else if ((t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) &&
                           sp_json_skip_rest(&o->lx)) {
                    return sp_json_fail(&o->lx, o->ctx);
                }
                continue;
            }
            if (!key_is(&t, "value") || !key_seen || which == A_NONE) {
                if (sp_json_skip(&o->lx))
                    return sp_json_fail(&o->lx, o->ctx);
                continue;
            }
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            if (t.type != SP_JSON_OBJ_BEGIN) {
                if (t.type == SP_JSON_ARR_BEGIN && sp_json_skip_rest(&o->lx))
                    return sp_json_fail(&o->lx, o->ctx);
                bad(r, "attribute value must be an object such as {\"stringValue\":...}");
                continue;
            }
            sp_json_token v;
            bool has;
            sp_status st = read_anyvalue(o, &v, &has);
            if (st)
                return st;
            if (has) {
                int64_t x;
                if (which < LAT_COUNT) {
                    if (!token_seconds_ns(&v, &x))
                        bad(r, "%s must be a number of seconds", g_lat_names[which]);
                    else if (x < 0)
                        /* vLLM's v1 engine subtracts timestamps a request never reached (unset: 0.0),
                         * e.g. time_in_model_prefill = first token (none) - scheduled for a request that
                         * finished without a token: not measured, counted and said once per file */
                        r->s.lat_negative = true;
                    else {
                        r->s.lat[which] = x;
                        r->s.has_lat = true;
                    }
                } else if (which == A_STAGE) {
                    if (v.type != SP_JSON_STRING || v.len == 0 || v.len >= OTLP_TEXT_MAX || memchr(v.str, 0, v.len))
                        bad(r, "servprof.stage must be a non-empty string under %u bytes", OTLP_TEXT_MAX);
                    else {
                        memcpy(r->stage, v.str, v.len);
                        r->stage_len = v.len;
                        r->has_stage = true;
                    }
                } else if (which == A_REQUEST) {
                    r->s.is_request = v.type != SP_JSON_FALSE;
                    r->s.not_request = v.type == SP_JSON_FALSE;
                    /* a string names the request (servprof export writes the trace's own id) */
                    if (v.type == SP_JSON_STRING) {
                        if (v.len == 0 || v.len >= SP_EV_MAX_STRING || memchr(v.str, 0, v.len))
                            bad(r, "servprof.request must be a non-empty request id under %u bytes, or a boolean",
                                SP_EV_MAX_STRING);
                        else if (v.len == 4 && memcmp(v.str, "true", 4) == 0)
                            ; /* the flag written as text */
                        else if (v.len == 5 && memcmp(v.str, "false", 5) == 0) {
                            r->s.is_request = false;
                            r->s.not_request = true;
                        } else {
                            sp_status ist = sp_str_intern(&o->ctx->ev->strings, v.str, v.len, &r->s.request_id);
                            if (ist)
                                return ist;
                        }
                    }
                } else if (which == A_OUTCOME) {
                    int oc = -1;
                    for (int k = 0; v.type == SP_JSON_STRING && k < SP_OUTCOME_COUNT && oc < 0; k++)
                        if (strlen(sp_outcome_str((sp_outcome)k)) == v.len &&
                            memcmp(sp_outcome_str((sp_outcome)k), v.str, v.len) == 0)
                            oc = k;
                    if (oc < 0)
                        bad(r, "servprof.outcome must be ok, rejected, error, cancelled or unfinished");
                    else
                        r->s.outcome = (int8_t)oc;
                } else if (which == A_HTTP_STATUS) {
                    if (!token_int(&v, &x) || x < 0 || x > 999)
                        bad(r, "http.response.status_code must be an HTTP status (0..999)");
                    else
                        r->s.http_status = (int32_t)x;
                } else if (which == A_GRPC_STATUS) {
                    /* gRPC's codes are 0..16; a larger one is a code this side does not know, which
                     * gRPC reads as UNKNOWN: kept, and an error (grpc_outcome) */
                    if (!token_int(&v, &x) || x < 0 || x > INT16_MAX)
                        bad(r, "rpc.grpc.status_code must be a gRPC status code (an integer 0..32767)");
                    else
                        r->s.grpc_status = (int16_t)x;
                } else if (which == A_BATCH_EFFECTIVE || which == A_BATCH_PADDED) {
                    if (!token_int(&v, &x) || x < 0)
                        bad(r, "%s must be a non-negative integer", which == A_BATCH_EFFECTIVE
                                                                        ? "servprof.batch.effective_tokens"
                                                                        : "servprof.batch.padded_tokens");
                    else if (which == A_BATCH_EFFECTIVE)
                        r->s.batch_effective = x;
                    else
                        r->s.batch_padded = x;
                } else if (which == A_BATCH) {
                    if (!token_int(&v, &x))
                        bad(r, "servprof.batch must be an integer batch id");
                    else {
                        r->s.batch = x;
                        r->s.has_batch = true;
                    }
                } else if (which == A_STEP_PHASE) {
                    int ph = v.type == SP_JSON_STRING ? sp_ev_phase_of(v.str, v.len) : -1;
                    if (ph < 0)
                        bad(r, SP_OTLP_STEP_PHASE " must be \"decode\", \"prefill\" or \"prefill_chunk\"");
                    r->step.phase = (int8_t)ph;
                    r->has_step = true;
                } else if (which == A_STEP_TOKENS || which == A_STEP_KV_USED || which == A_STEP_KV_CAP) {
                    static const char *const names[] = {SP_OTLP_STEP_TOKENS, SP_OTLP_STEP_KV_USED,
                                                        SP_OTLP_STEP_KV_CAPACITY};
                    int k = which - A_STEP_TOKENS;
                    if (!token_int(&v, &x) || x < 0 || (k == 0 && x > UINT32_MAX))
                        bad(r, "%s must be a non-negative integer%s", names[k], k == 0 ? " under 2^32" : "");
                    else
                        *(k == 0 ? &r->step.tokens : k == 1 ? &r->step.kv_used : &r->step.kv_cap) = x;
                    r->has_step = true;
                } else if (which == A_FINISH_REASONS) {
                    r->s.finish_outcome = finish_outcome_of(&v);
                } else if (which >= A_TGI_DUR) {
                    /* TGI's timings; on a span not named as TGI's handler they are not read (other
                     * services may use these names: read_span decides) */
                    if (v.type != SP_JSON_STRING || !rust_duration_ns(v.str, v.len, &x))
                        r->tgi_bad = which - A_TGI_DUR;
                    else
                        r->tgi_dur[which - A_TGI_DUR] = x;
                } else if (which == A_TGI_PARAMS) {
                    r->tgi_params = v.type == SP_JSON_STRING && v.len >= 18 &&
                                    memcmp(v.str, "GenerateParameters", 18) == 0;
                } else if (which == A_TGI_GENERATION) {
                    r->tgi_gen_tokens = v.type == SP_JSON_STRING ? tgi_generation_tokens(v.str, v.len) : 0;
                } else if (which == A_TGI_BATCH_SIZE) {
                    r->tgi_batch_size = token_int(&v, &x) && x >= 0;
                    r->batch_size = x;
                } else if (which == A_SGL_MODULE) {
                    if (v.type == SP_JSON_STRING && v.len >= 8 && memcmp(v.str, "sglang::", 8) == 0)
                        r->sgl_module = v.len == 15 && memcmp(v.str + 8, "request", 7) == 0 ? SGL_REQ
                                                                                           : SGL_OTHER_MODULE;
                } else if (which == A_SGL_THREAD_LABEL) {
                    r->sgl_thread_label = v.type == SP_JSON_STRING;
                } else if (which == A_SGL_PID) {
                    r->sgl_pid = token_int(&v, &x);
                } else if (which == A_SGL_REASON) {
                    /* the tracer's own abort when a request's context is dropped with a thread span
                     * open (trace.py's __del__; trace_async.py writes it as abort_info) */
                    r->sgl_autoclosed = v.type == SP_JSON_STRING && v.len == 31 &&
                                        memcmp(v.str, "have unclosed span, auto closed", 31) == 0;
                } else if (which == A_SGL_STATUS_CODE) {
                    if (token_int(&v, &x) && x >= 100 && x <= 999)
                        r->sgl_status_code = x;
                } else if (which == A_NUM_SEQUENCES) {
                    if (token_int(&v, &x) && x >= 0)   /* another shape: not vLLM's, ignored */
                        r->s.num_seqs = x > INT32_MAX ? INT32_MAX : (int32_t)x;
                } else if (which == A_PROMPT_TOKENS) {
                    if (!token_int(&v, &x) || x < 0)
                        bad(r, "gen_ai.usage.prompt_tokens must be a non-negative integer");
                    else
                        r->s.input_tokens = x;
                } else if (which == A_COMPLETION_TOKENS) {
                    if (!token_int(&v, &x) || x < 0)
                        bad(r, "gen_ai.usage.completion_tokens must be a non-negative integer");
                    else
                        r->s.output_tokens = x;
                } else {
                    sp_status ist = triton_attribute(o, r, which, &v);
                    if (ist)
                        return ist;
                }
                if (sp_json_skip_rest(&o->lx))   /* the rest of the value object */
                    return sp_json_fail(&o->lx, o->ctx);
            }
        }
    }
}

/* "status": {"code": 2, "message": "..."}; the '{' is consumed. The code is OTLP's StatusCode enum:
 * the Collector's file exporter writes the number, protobuf JSON encoders may write the name; an empty
 * object (the file exporter's for an unset status) or no code is UNSET. The message is not read. */
static sp_status read_span_status(otlp *o, sread *r)
{
    static const char *const names[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};
    sp_json_token t;
    bool seen_code = false;
    for (;;) {
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_OBJ_END)
            return SP_OK;
        if (!key_is(&t, "code")) {
            if (sp_json_skip(&o->lx))   /* message, and anything else */
                return sp_json_fail(&o->lx, o->ctx);
            continue;
        }
        if (seen_code)
            bad(r, "\"status\": \"code\" given twice");
        seen_code = true;
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        int code = -1;
        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
            if (sp_json_skip_rest(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
        } else if (t.type == SP_JSON_NUMBER) {
            if (t.is_int && t.i >= SPAN_STATUS_UNSET && t.i <= SPAN_STATUS_ERROR)
                code = (int)t.i;
        } else if (t.type == SP_JSON_STRING) {
            for (int i = 0; i < 3 && code < 0; i++)
                if (key_is(&t, names[i]))
                    code = i;
        }
        if (code < 0)
            bad(r, "\"status\": \"code\" must be 0 (unset), 1 (ok) or 2 (error), or STATUS_CODE_UNSET, "
                   "STATUS_CODE_OK or STATUS_CODE_ERROR");
        else
            r->s.span_status = (int8_t)code;
    }
}

/* The stage a span's name maps to when it has no servprof.stage attribute (docs/otlp.md). */
static sp_str stage_of_name(otlp *o, const char *s, size_t n)
{
    static const struct { const char *name; int stage; } map[] = {
        {"preprocess", 0}, {"preprocessing", 0}, {"tokenize", 0}, {"tokenization", 0},
        {"queue", 1}, {"queued", 1}, {"queueing", 1}, {"queuing", 1},
        {"postprocess", 2}, {"postprocessing", 2}, {"detokenize", 2}, {"detokenization", 2}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i].name) == n && strncasecmp(map[i].name, s, n) == 0)
            return map[i].stage == 0 ? o->ks.preprocess : map[i].stage == 1 ? o->ks.queue : o->ks.postprocess;
    return SP_EV_NONE;
}

/* What an SGLang slice of this name is (RequestStage's stage names in req_time_stats.py; `dispatch`
 * became `api_server_dispatch` and `dc_dispatch` `dpc_dispatch` in later versions); SGL_NONE for a name
 * SGLang does not write. */
static uint8_t sgl_slice_of(const char *s, size_t n)
{
#define SGL_SLICE(lit, v) {lit, sizeof(lit) - 1, v}
    static const struct { const char *name; size_t len; uint8_t sgl; } map[] = {
        SGL_SLICE("tokenize", SGL_TOKENIZE), SGL_SLICE("dispatch", SGL_DISPATCH),
        SGL_SLICE("api_server_dispatch", SGL_DISPATCH), SGL_SLICE("dc_dispatch", SGL_DISPATCH),
        SGL_SLICE("dpc_dispatch", SGL_DISPATCH), SGL_SLICE("request_process", SGL_REQUEST_PROCESS),
        SGL_SLICE("prefill_waiting", SGL_PREFILL_WAITING), SGL_SLICE("prefill_forward", SGL_PREFILL_FORWARD),
        SGL_SLICE("chunked_prefill", SGL_CHUNKED_PREFILL), SGL_SLICE("decode_waiting", SGL_DECODE_WAITING),
        SGL_SLICE("decode_forward", SGL_DECODE_FORWARD), SGL_SLICE("decode_loop", SGL_DECODE_LOOP)};
#undef SGL_SLICE
    /* every span with a name comes here: most names (an HTTP route, a function) leave at this test (the
     * names above are 8 to 25 bytes, start with one of these letters, and only the two of 8 bytes have
     * no '_') */
    bool plain = n == 8;
    if (n < 8 || n > 25 || !memchr("acdfmpqrstw", s[0], 11) || (memchr(s, '_', n) != NULL) == plain)
        return SGL_NONE;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].len == n && memcmp(map[i].name, s, n) == 0)
            return map[i].sgl;
    for (size_t i = 0; i < SGL_N_UNMAPPED; i++)
        if (strlen(g_sgl_unmapped[i]) == n && memcmp(g_sgl_unmapped[i], s, n) == 0)
            return (uint8_t)(SGL_UNMAPPED + i);
    return SGL_NONE;
}

static sp_status skip_or_fail(otlp *o, sp_status st)
{
    if (st != SP_ERR_PARSE)
        return st;
    if (!o->lenient) {
        o->ctx->skippable = true;
        return st;
    }
    uint64_t n = ++o->ctx->ev->files[o->ctx->file].skipped;
    if (n <= 10)
        sp_log(SP_LOG_WARN, "skipped malformed OTLP span: %s", o->ctx->err ? o->ctx->err : "");
    return SP_OK;
}

/* One span object; its '{' (at line, col) is consumed. */
static sp_status read_span(otlp *o, sread *r, uint32_t line, uint32_t col)
{
    memset(&r->s, 0, sizeof r->s);
    r->has_trace = r->has_id = r->has_start = r->has_end = r->has_name = r->has_stage = false;
    r->bad[0] = '\0';
    r->s.input_tokens = -1;
    r->s.output_tokens = -1;
    r->s.request_id = SP_EV_NONE;
    r->s.batch_effective = r->s.batch_padded = -1;
    r->s.outcome = -1;
    r->s.grpc_status = -1;
    r->s.finish_outcome = -1;
    r->s.num_seqs = -1;
    for (int i = 0; i < LAT_COUNT; i++)
        r->s.lat[i] = -1;
    r->s.stage = SP_EV_NONE;
    r->s.tri = SP_EV_NONE;
    for (int i = 0; i < TGI_DUR_COUNT; i++)
        r->tgi_dur[i] = -1;
    r->s.tgi_h = SP_EV_NONE;
    r->tgi_bad = -1;
    r->tgi_params = r->tgi_batch_size = false;
    r->batch_size = -1;
    r->tgi_gen_tokens = 0;
    r->sgl_module = SGL_NONE;
    r->sgl_thread_label = r->sgl_pid = r->sgl_autoclosed = false;
    r->sgl_status_code = -1;
    r->nevents = 0;
    r->nlinks = 0;
    r->ntoks = 0;
    r->has_step = false;
    r->step = (ostep){0, -1, -1, -1, -1};
    r->s.line = line;
    r->s.column = col;
    r->has_tri = false;
    r->bad_line = r->bad_col = 0;
    memset(&r->tri, 0, sizeof r->tri);
    r->tri.model = r->tri.version = r->tri.request_id = SP_EV_NONE;
    for (int k = 0; k < SP_TRITON_TS_COUNT; k++)
        r->tri.ts[k] = SP_TIME_NONE;
    sp_json_token t;
    unsigned seen = 0;
    for (;;) {
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_OBJ_END)
            break;
        enum { K_OTHER, K_TRACE, K_SPAN, K_PARENT, K_NAME, K_KIND, K_START, K_END, K_ATTRS, K_FLAGS, K_EVENTS,
               K_STATUS, K_LINKS } k = K_OTHER;
        if (key_is(&t, "traceId"))
            k = K_TRACE;
        else if (key_is(&t, "spanId"))
            k = K_SPAN;
        else if (key_is(&t, "parentSpanId"))
            k = K_PARENT;
        else if (key_is(&t, "name"))
            k = K_NAME;
        else if (key_is(&t, "kind"))
            k = K_KIND;
        else if (key_is(&t, "startTimeUnixNano"))
            k = K_START;
        else if (key_is(&t, "endTimeUnixNano"))
            k = K_END;
        else if (key_is(&t, "attributes"))
            k = K_ATTRS;
        else if (key_is(&t, "flags"))
            k = K_FLAGS;
        else if (key_is(&t, "events"))
            k = K_EVENTS;
        else if (key_is(&t, "status"))
            k = K_STATUS;
        else if (key_is(&t, "links"))
            k = K_LINKS;
        if (k == K_OTHER) {
            if (sp_json_skip(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            continue;
        }
        /* a member read here, given twice: JSON leaves which counts open (RFC 8259 section 4), and no
         * OTLP encoder writes that, so the span is malformed; except links, which never make a span
         * malformed (read_links): both lists are read */
        if (k != K_LINKS && (seen & (1u << k)))
            bad(r, "\"%.*s\" given twice in one span", (int)t.len, t.str);
        seen |= 1u << k;
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (k == K_ATTRS && t.type == SP_JSON_ARR_BEGIN) {
            sp_status st = read_attributes(o, r);
            if (st)
                return st;
            continue;
        }
        if (k == K_EVENTS && t.type == SP_JSON_ARR_BEGIN) {
            sp_status st = read_events(o, r);
            if (st)
                return st;
            continue;
        }
        if (k == K_STATUS && t.type == SP_JSON_OBJ_BEGIN) {
            sp_status st = read_span_status(o, r);
            if (st)
                return st;
            continue;
        }
        if (k == K_LINKS) {   /* another shape than an array: not read (read_links) */
            /* kept only for TGI's infer and batch spans: where the name came first (OTLP/JSON writes
             * it before links), another span's links are skipped unread, as before they were read */
            bool keep = !r->has_name || (r->name_len == 5 && memcmp(r->name, "infer", 5) == 0) ||
                        (r->name_len == 5 && memcmp(r->name, "batch", 5) == 0);
            sp_status st = SP_OK;
            if (t.type == SP_JSON_ARR_BEGIN && keep)
                st = read_links(o, r);
            else if ((t.type == SP_JSON_ARR_BEGIN || t.type == SP_JSON_OBJ_BEGIN) && sp_json_skip_rest(&o->lx))
                st = sp_json_fail(&o->lx, o->ctx);
            if (st)
                return st;
            continue;
        }

        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
            if (sp_json_skip_rest(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            if (k == K_STATUS)
                bad(r, "\"status\" must be an object {\"code\":...,\"message\":...}");
            else
                bad(r, "a span's \"%s\" must not be a container", k == K_ATTRS ? "attributes" : k == K_EVENTS ? "events" : "field");
            continue;
        }
        int64_t x;
        switch (k) {
        case K_TRACE:
            if (t.type != SP_JSON_STRING || !parse_id(t.str, t.len, r->s.trace, 16))
                bad(r, "\"traceId\" must be 32 hex digits (or 16 bytes in base64)");
            else
                r->has_trace = true;
            break;
        case K_SPAN:
            if (t.type != SP_JSON_STRING || !parse_id(t.str, t.len, r->s.id, 8))
                bad(r, "\"spanId\" must be 16 hex digits (or 8 bytes in base64)");
            else
                r->has_id = true;
            break;
        case K_PARENT:
            if (t.type == SP_JSON_NULL || (t.type == SP_JSON_STRING && t.len == 0))
                break;   /* a root span */
            if (t.type != SP_JSON_STRING || !parse_id(t.str, t.len, r->s.parent, 8))
                bad(r, "\"parentSpanId\" must be 16 hex digits (or 8 bytes in base64) or empty");
            else
                r->s.has_parent = true;
            break;
        case K_NAME:
            if (t.type != SP_JSON_STRING)
                bad(r, "\"name\" must be a string");
            else if (t.len < OTLP_TEXT_MAX) {
                memcpy(r->name, t.str, t.len);
                r->name_len = t.len;
                r->has_name = true;
            }
            break;
        case K_KIND:
            /* SPAN_KIND_SERVER is 2 in the enum; OTLP/JSON writes the number, some writers the name */
            if (t.type == SP_JSON_NUMBER)
                r->s.server = t.is_int && t.i == 2;
            else if (t.type == SP_JSON_STRING)
                r->s.server = key_is(&t, "SPAN_KIND_SERVER");
            break;
        case K_FLAGS:
            /* fixed32 in the protocol: a JSON number; bits 0-7 are the W3C trace flags */
            if (!token_int(&t, &x) || x < 0 || x > UINT32_MAX)
                bad(r, "\"flags\" must be an unsigned 32-bit integer");
            else {
                r->s.flags = (uint8_t)(x & 0xff);
                r->s.has_flags = true;
            }
            break;
        case K_START:
        case K_END:
            if (!token_int(&t, &x) || x < 0) {
                bad(r, "\"%s\" must be a non-negative integer (ns since the Unix epoch)",
                    k == K_START ? "startTimeUnixNano" : "endTimeUnixNano");
            } else if (k == K_START) {
                r->s.start = (uint64_t)x;
                r->has_start = true;
            } else {
                r->s.end = (uint64_t)x;
                r->has_end = true;
            }
            break;
        case K_EVENTS:
            if (t.type != SP_JSON_NULL)
                bad(r, "\"events\" must be an array");
            break;
        case K_STATUS:
            if (t.type != SP_JSON_NULL)
                bad(r, "\"status\" must be an object {\"code\":...,\"message\":...}");
            break;
        default:
            bad(r, "\"attributes\" must be an array");
            break;
        }
    }
    if (!r->bad[0]) {
        if (!r->has_trace || !r->has_id)
            bad(r, "missing \"%s\"", r->has_trace ? "spanId" : "traceId");
        else if (!r->has_start || !r->has_end)
            bad(r, "missing \"%s\"", r->has_start ? "endTimeUnixNano" : "startTimeUnixNano");
        else if (r->s.end < r->s.start)
            bad(r, "endTimeUnixNano (%llu) is before startTimeUnixNano (%llu)", (unsigned long long)r->s.end,
                (unsigned long long)r->s.start);
    }
    /* servprof export's generation data (docs/otlp.md, "Export"): a token leaves the server within the
     * request's life, so its event lies within its span; a step member's phase and tokens come together,
     * on a span of a batch */
    for (uint32_t k = 0; !r->bad[0] && k < r->ntoks; k++)
        if (r->toks[k].time < r->s.start || r->toks[k].time > r->s.end)
            bad_at(r, r->toks[k].line, r->toks[k].col,
                   "event \"" SP_OTLP_TOKEN_EVENT "\" (index %llu) at %llu is outside its span [%llu, %llu]",
                   (unsigned long long)r->toks[k].index, (unsigned long long)r->toks[k].time,
                   (unsigned long long)r->s.start, (unsigned long long)r->s.end);
    if (!r->bad[0] && r->has_step) {
        if ((r->step.phase >= 0) != (r->step.tokens >= 0))
            bad(r, "%s without %s (a step member gives both)",
                r->step.phase >= 0 ? SP_OTLP_STEP_PHASE : SP_OTLP_STEP_TOKENS,
                r->step.phase >= 0 ? SP_OTLP_STEP_TOKENS : SP_OTLP_STEP_PHASE);
        else if (!r->s.has_batch)
            bad(r, "servprof.step.* attributes on a span without servprof.batch (they describe a step)");
        else if (r->step.kv_cap > 0 && r->step.kv_used > r->step.kv_cap)
            bad(r, SP_OTLP_STEP_KV_USED " (%lld) is more than " SP_OTLP_STEP_KV_CAPACITY " (%lld)",
                (long long)r->step.kv_used, (long long)r->step.kv_cap);
    }
    int first, second;
    if (!r->bad[0] && r->tri.triton_event && sp_triton_ts_misordered(r->tri.ts, &first, &second))
        bad(r, "event %s (%llu) is before %s (%llu)", sp_triton_ts_name(second),
            (unsigned long long)r->tri.ts[second], sp_triton_ts_name(first), (unsigned long long)r->tri.ts[first]);
    if (r->bad[0])
        return skip_or_fail(o, sp_import_fail_at(o->ctx, r->bad_line ? r->bad_line : line, r->bad_line ? r->bad_col : col,
                                                 SP_ERR_PARSE, "span: %s", r->bad));
    /* TGI's layout (docs/otlp.md, "text-generation-inference"): the router's handler span by its name
     * and fields, a batch's root span, the spans of each generation sent and each step's infer span */
#define NAMED(lit) (r->has_name && r->name_len == sizeof(lit) - 1 && memcmp(r->name, lit, r->name_len) == 0)
    /* TGI's by a field in TGI's shape (a Rust duration, GenerateParameters): another service's span of
     * one of these names with fields of another shape is not read as TGI's, never malformed */
    bool tgi_shaped = r->tgi_params;
    for (int i = 0; i < TGI_DUR_COUNT; i++)
        tgi_shaped |= r->tgi_dur[i] >= 0;
    if ((NAMED("generate") || NAMED("generate_stream") || NAMED("completions") || NAMED("chat_completions")) &&
        tgi_shaped) {
        if (r->tgi_bad >= 0)
            return skip_or_fail(o, sp_import_fail_at(o->ctx, line, col, SP_ERR_PARSE,
                                                     "span: %s must be a Rust duration as text-generation-inference "
                                                     "writes it, e.g. {\"stringValue\":\"12.5ms\"}",
                                                     g_tgi_names[r->tgi_bad]));
        r->s.tgi = TGI_SPAN_HANDLER;
        r->s.tgi_done = r->tgi_dur[TGI_TOTAL] >= 0;
        o->tgi_handlers++;
    } else {
        /* a root "batch" without batch_size too: TGI records it once the batch has its requests
         * (queue.rs), so one it dropped (too small, every entry gone) has none */
        if (NAMED("batch") && !r->s.has_parent) {
            r->s.tgi = TGI_SPAN_BATCH;
            r->s.tgi_bsize = r->tgi_batch_size && r->batch_size < SP_EV_NONE ? (uint32_t)r->batch_size : SP_EV_NONE;
        } else if (NAMED("send_generation")) {
            r->s.tgi = TGI_SPAN_SEND;
            r->s.tgi_ntok = r->tgi_gen_tokens;
        } else if (NAMED("infer") && r->s.has_parent) {
            r->s.tgi = TGI_SPAN_INFER;
        } else if (NAMED("prefill") && r->s.has_parent) {
            r->s.tgi = TGI_SPAN_PREFILL;
        } else if (NAMED("decode") && r->s.has_parent) {
            r->s.tgi = TGI_SPAN_DECODE;
        }
    }
#undef NAMED
    r->s.nevents = (uint16_t)(r->nevents < UINT16_MAX ? r->nevents : UINT16_MAX);
    if (r->sgl_module != SGL_NONE)
        r->s.sgl = r->sgl_module;
    else if (r->sgl_thread_label && r->sgl_pid && r->has_name && r->name_len >= 6 &&
             memmem(r->name, r->name_len, "(host:", 6)) {
        /* SGLang names a thread span "<label> [TP n] (host:<8 hex> | pid:<pid>)" (trace.py) */
        r->s.sgl = SGL_THREAD;
        r->s.sgl_autoclosed = r->sgl_autoclosed;
        if (r->sgl_status_code > 0 && r->s.http_status == 0)
            r->s.http_status = (int32_t)r->sgl_status_code;
    } else if (r->has_name)
        r->s.sgl = sgl_slice_of(r->name, r->name_len);
    struct sp_events *ev = o->ctx->ev;
    sp_status st;
    if (r->has_stage) {
        if ((st = sp_str_intern(&ev->strings, r->stage, r->stage_len, &r->s.stage)))
            return st;
    } else if (r->has_name) {
        r->s.stage = stage_of_name(o, r->name, r->name_len);
    }
    if (o->n >= OTLP_MAX_SPANS)
        return sp_import_fail_at(o->ctx, line, col, SP_ERR_LIMIT, "more than %u spans in one file", OTLP_MAX_SPANS);
    if ((st = SP_GROW(o->spans, o->cap, o->n + 1, OTLP_MAX_SPANS)))
        return st;
    if (r->s.tgi == TGI_SPAN_HANDLER) {
        if ((st = SP_GROW(o->tgih, o->captgih, o->ntgih + 1, OTLP_MAX_SPANS)))
            return st;
        r->s.tgi_h = (uint32_t)o->ntgih;
        memcpy(o->tgih[o->ntgih++], r->tgi_dur, sizeof r->tgi_dur);
    }
    if (r->nlinks && (r->s.tgi == TGI_SPAN_BATCH || r->s.tgi == TGI_SPAN_INFER)) {
        if ((st = SP_GROW(o->links, o->caplinks, o->nlinks + r->nlinks, (size_t)OTLP_MAX_SPANS * 4)))
            return st;
        for (size_t i = 0; i < r->nlinks; i++) {
            olink *l = &o->links[o->nlinks++];
            l->seq = (uint32_t)o->n;
            memcpy(l->trace, r->links[i], 16);
            memcpy(l->span, r->links[i] + 16, 8);
        }
    }
    if (r->has_tri) {
        if ((st = SP_GROW(o->tri, o->captri, o->ntri + 1, OTLP_MAX_SPANS)))
            return st;
        r->s.tri = (uint32_t)o->ntri;
        o->tri[o->ntri++] = r->tri;
    }
    if (r->ntoks) {
        if ((st = SP_GROW(o->toks, o->captoks, o->ntoks + r->ntoks, SP_EV_MAX_RECORDS)))
            return st;
        for (uint32_t k = 0; k < r->ntoks; k++)
            o->toks[o->ntoks++] = (otok){(uint32_t)o->n, r->toks[k].index, r->toks[k].time};
    }
    if (r->has_step) {
        if ((st = SP_GROW(o->steps, o->capsteps, o->nsteps + 1, OTLP_MAX_SPANS)))
            return st;
        r->step.seq = (uint32_t)o->n;
        o->steps[o->nsteps++] = r->step;
    }
    r->s.seq = (uint32_t)o->n;
    if (r->s.lat_negative && o->negative_lat_spans++ == 0) {
        o->negative_line = line;
        o->negative_col = col;
    }
    o->spans[o->n++] = r->s;
    return SP_OK;
}

/* Walks an array of objects, calling `fn` on each object's members (the '[' is consumed). */
typedef sp_status (*member_fn)(otlp *o, sread *r, const sp_json_token *key, uint32_t line, uint32_t col);

static sp_status walk_objects(otlp *o, sread *r, member_fn fn, const char *what)
{
    sp_json_token t;
    for (;;) {
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_ARR_END)
            return SP_OK;
        if (t.type != SP_JSON_OBJ_BEGIN)
            return sp_import_fail_at(o->ctx, t.line, t.column, SP_ERR_PARSE, "expected an object in \"%s\"", what);
        uint32_t line = t.line, col = t.column;
        if (!fn) {
            sp_status st = read_span(o, r, line, col);
            if (st)
                return st;
            continue;
        }
        for (;;) {
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            if (t.type == SP_JSON_OBJ_END)
                break;
            sp_status st = fn(o, r, &t, line, col);
            if (st)
                return st;
        }
    }
}

/* Inside a scopeSpans object: "spans". */
static sp_status scope_member(otlp *o, sread *r, const sp_json_token *key, uint32_t line, uint32_t col)
{
    if (!key_is(key, "spans"))
        return sp_json_skip(&o->lx) ? sp_json_fail(&o->lx, o->ctx) : SP_OK;
    sp_json_token t;
    if (sp_json_next(&o->lx, &t))
        return sp_json_fail(&o->lx, o->ctx);
    if (t.type != SP_JSON_ARR_BEGIN)
        return sp_import_fail_at(o->ctx, t.line, t.column, SP_ERR_PARSE, "\"spans\" must be an array");
    return walk_objects(o, r, NULL, "spans");
}

/* One file holds one value per property, but an export of several traces (servprof export --otlp
 * a.sptrace b.sptrace) writes each trace's own properties into its own resource: when a resource
 * sets KEY to another value than an earlier one did, the later is kept (as a later JSONL meta line's
 * or native property record's is) and a warning names the key and both values, once per key, since
 * the report then reads one trace's property for all of them. */
static sp_status warn_property_differs(otlp *o, const char *key, size_t klen, const char *text, size_t tlen,
                                       uint32_t line, uint32_t col)
{
    char keyz[SP_PROP_MAX_KEY + 1];
    snprintf(keyz, sizeof keyz, "%.*s", (int)klen, key);
    const char *was = sp_ev_get_prop(o->ctx->ev, o->ctx->file, keyz);
    if (!was || (strlen(was) == tlen && memcmp(was, text, tlen) == 0))
        return SP_OK;
    sp_str k;
    sp_status st = sp_str_intern(&o->ctx->ev->strings, key, klen, &k);
    if (st)
        return st;
    for (size_t i = 0; i < o->n_warned_props; i++)
        if (o->warned_props[i] == k)
            return SP_OK;
    if (o->n_warned_props < SP_PROP_MAX_KEYS)
        o->warned_props[o->n_warned_props++] = k;
    sp_log(SP_LOG_WARN, "%s:%u:%u: resource attribute %s%s is \"%.*s\" here but \"%.200s\" in an earlier "
           "resource of this file (an export of traces whose properties differ): the later value is kept for "
           "the whole file", o->ctx->name, line, col, SP_OTLP_PROPERTY_PREFIX, keyz, (int)(tlen > 200 ? 200 : tlen),
           text, was);
    return SP_OK;
}

/* A resource's servprof.property.KEY attribute: trace property KEY of this file, as servprof export
 * writes it (docs/otlp.md), checked as the other formats check a property. */
static sp_status resource_property(otlp *o, const char *key, size_t klen, const sp_json_token *v, bool has,
                                   uint32_t line, uint32_t col)
{
    if (!sp_prop_key_valid(key, klen))
        return sp_import_fail_at(o->ctx, line, col, SP_ERR_PARSE,
                                 "resource attribute %s%.*s: a property key must be 1..%u characters of "
                                 "[A-Za-z0-9._-]",
                                 SP_OTLP_PROPERTY_PREFIX, (int)(klen > 64 ? 64 : klen), key, SP_PROP_MAX_KEY);
    /* a number or a boolean is kept as its text, as a JSONL meta line's properties are */
    const char *text = has && v->type == SP_JSON_TRUE ? "true" : has && v->type == SP_JSON_FALSE ? "false" : v->str;
    size_t tlen = has && (v->type == SP_JSON_TRUE || v->type == SP_JSON_FALSE) ? strlen(text) : v->len;
    if (!has || (v->type != SP_JSON_STRING && v->type != SP_JSON_NUMBER && v->type != SP_JSON_TRUE &&
                 v->type != SP_JSON_FALSE) || tlen > SP_PROP_MAX_VALUE || memchr(text, 0, tlen))
        return sp_import_fail_at(o->ctx, line, col, SP_ERR_PARSE, "resource attribute %s%.*s must be a "
                                 "{\"stringValue\":...} of at most %u bytes without NUL (or a number or boolean)",
                                 SP_OTLP_PROPERTY_PREFIX, (int)klen, key, SP_PROP_MAX_VALUE);
    sp_status st = warn_property_differs(o, key, klen, text, tlen, line, col);
    if (!st)
        st = sp_ev_set_prop(o->ctx->ev, o->ctx->file, key, klen, text, tlen);
    if (st == SP_ERR_LIMIT)
        return sp_import_fail_at(o->ctx, line, col, SP_ERR_LIMIT, "more than %u trace properties", SP_PROP_MAX_KEYS);
    return st;
}

/* A resource's servprof.price_per_hour attribute: the price servprof export carries over from the trace
 * (docs/otlp.md), bounded as a servprof.events/1 meta price is (SP_MAX_PRICE_PER_HOUR); one file holds
 * one price. */
static sp_status resource_price(otlp *o, const sp_json_token *v, bool has, uint32_t line, uint32_t col)
{
    double price = NAN;
    if (has && (v->type == SP_JSON_NUMBER || v->type == SP_JSON_STRING) &&
        sp_json_number_to_double(v->str, v->len, &price) != SP_OK)
        price = NAN;
    if (!(price > 0 && price <= SP_MAX_PRICE_PER_HOUR))
        return sp_import_fail_at(o->ctx, line, col, SP_ERR_PARSE, "resource attribute servprof.price_per_hour must "
                                 "be {\"doubleValue\":P} with P in (0, %g] dollars per hour (SP_MAX_PRICE_PER_HOUR)",
                                 SP_MAX_PRICE_PER_HOUR);
    if (o->price_per_hour > 0 && price != o->price_per_hour)
        return sp_import_fail_at(o->ctx, line, col, SP_ERR_PARSE, "resource attribute servprof.price_per_hour %.9g "
                                 "differs from the %.9g an earlier resource of this file gives", price,
                                 o->price_per_hour);
    o->price_per_hour = price;
    return SP_OK;
}

/* A resource's servprof.model_stages attribute (SP_OTLP_MODEL_STAGES): the stages of the exported file
 * that are an engine's model time, names separated by commas. "inference" marks the file as the OTLP
 * reader marks TGI's (sp_ev_file.model_inference); another name is no stage this version reads so and
 * is passed over (a later version may name more). */
static sp_status resource_model_stages(otlp *o, const sp_json_token *v, bool has, uint32_t line, uint32_t col)
{
    if (!has || v->type != SP_JSON_STRING)
        return sp_import_fail_at(o->ctx, line, col, SP_ERR_PARSE, "resource attribute " SP_OTLP_MODEL_STAGES
                                 " must be a {\"stringValue\":...} of stage names separated by commas, e.g. "
                                 "{\"stringValue\":\"inference\"}");
    if (sp_import_model_stages_inference(v->str, v->len))
        o->model_inference = true;
    return SP_OK;
}

/* A resource's servprof.trace_end attribute (SP_OTLP_TRACE_END): "unclean", the recorder of the exported
 * file did not close it (no end record), so the file is marked as the native reader marks such a trace
 * (sp_ev_file.end); one resource saying so marks the file. */
static sp_status resource_trace_end(otlp *o, const sp_json_token *v, bool has, uint32_t line, uint32_t col)
{
    if (!has || v->type != SP_JSON_STRING || v->len != 7 || memcmp(v->str, "unclean", 7) != 0)
        return sp_import_fail_at(o->ctx, line, col, SP_ERR_PARSE, "resource attribute " SP_OTLP_TRACE_END
                                 " must be {\"stringValue\":\"unclean\"} (the recorder did not close the exported "
                                 "trace)");
    o->unclean = true;
    return SP_OK;
}

/* One resource attribute {"key":...,"value":{...}} (the '{' consumed): servprof.price_per_hour,
 * servprof.model_stages, servprof.trace_end and servprof.property.KEY are read; the rest is skipped. */
static sp_status resource_attribute(otlp *o)
{
    enum { OTHER, PRICE, MODEL_STAGES, TRACE_END, PROPERTY } which = OTHER;
    char key[SP_PROP_MAX_KEY + 1];
    size_t klen = 0;
    const size_t plen = sizeof SP_OTLP_PROPERTY_PREFIX - 1;
    sp_json_token t;
    for (;;) {
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_OBJ_END)
            return SP_OK;
        if (key_is(&t, "key")) {
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            which = OTHER;
            if (t.type == SP_JSON_STRING && key_is(&t, "servprof.price_per_hour")) {
                which = PRICE;
            } else if (t.type == SP_JSON_STRING && key_is(&t, SP_OTLP_MODEL_STAGES)) {
                which = MODEL_STAGES;
            } else if (t.type == SP_JSON_STRING && key_is(&t, SP_OTLP_TRACE_END)) {
                which = TRACE_END;
            } else if (t.type == SP_JSON_STRING && t.len > plen && memcmp(t.str, SP_OTLP_PROPERTY_PREFIX, plen) == 0) {
                which = PROPERTY;
                klen = t.len - plen > SP_PROP_MAX_KEY ? SP_PROP_MAX_KEY + 1 : t.len - plen;
                memcpy(key, t.str + plen, klen > SP_PROP_MAX_KEY ? SP_PROP_MAX_KEY : klen);
            } else if ((t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) && sp_json_skip_rest(&o->lx)) {
                return sp_json_fail(&o->lx, o->ctx);
            }
            continue;
        }
        if (!key_is(&t, "value") || which == OTHER) {
            if (sp_json_skip(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            continue;
        }
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        uint32_t line = t.line, col = t.column;
        sp_json_token v;
        bool has = false;
        if (t.type == SP_JSON_OBJ_BEGIN) {
            sp_status st = read_anyvalue(o, &v, &has);
            if (st)
                return st;
        } else if ((t.type == SP_JSON_ARR_BEGIN) && sp_json_skip_rest(&o->lx)) {
            return sp_json_fail(&o->lx, o->ctx);
        }
        /* v's text is good until the next lexer call: used here, before the rest of the value is skipped */
        sp_status st = which == PRICE          ? resource_price(o, &v, has, line, col)
                       : which == MODEL_STAGES ? resource_model_stages(o, &v, has, line, col)
                       : which == TRACE_END    ? resource_trace_end(o, &v, has, line, col)
                                               : resource_property(o, key, klen, &v, has, line, col);
        if (st)
            return st;
        which = OTHER;
        if (has && sp_json_skip_rest(&o->lx)) /* the rest of the value object */
            return sp_json_fail(&o->lx, o->ctx);
    }
}

/* A resource object (the '{' consumed): its "attributes". */
static sp_status read_resource(otlp *o)
{
    sp_json_token t;
    for (;;) {
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_OBJ_END)
            return SP_OK;
        if (!key_is(&t, "attributes")) {
            if (sp_json_skip(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            continue;
        }
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type != SP_JSON_ARR_BEGIN) {
            if (t.type == SP_JSON_OBJ_BEGIN && sp_json_skip_rest(&o->lx))
                return sp_json_fail(&o->lx, o->ctx);
            continue; /* a resource's other attributes are not read: nothing to check */
        }
        for (;;) {
            if (sp_json_next(&o->lx, &t))
                return sp_json_fail(&o->lx, o->ctx);
            if (t.type == SP_JSON_ARR_END)
                break;
            sp_status st = SP_OK;
            if (t.type == SP_JSON_OBJ_BEGIN)
                st = resource_attribute(o);
            else if (t.type == SP_JSON_ARR_BEGIN && sp_json_skip_rest(&o->lx))
                st = sp_json_fail(&o->lx, o->ctx);
            if (st)
                return st;
        }
    }
}

/* Inside a resourceSpans object: "resource" (its servprof.price_per_hour) and "scopeSpans" (or the older
 * "instrumentationLibrarySpans"). */
static sp_status resource_member(otlp *o, sread *r, const sp_json_token *key, uint32_t line, uint32_t col)
{
    if (key_is(key, "resource")) {
        sp_json_token t;
        if (sp_json_next(&o->lx, &t))
            return sp_json_fail(&o->lx, o->ctx);
        if (t.type == SP_JSON_OBJ_BEGIN)
            return read_resource(o);
        if (t.type == SP_JSON_ARR_BEGIN && sp_json_skip_rest(&o->lx))
            return sp_json_fail(&o->lx, o->ctx);
        return SP_OK;
    }
    if (!key_is(key, "scopeSpans") && !key_is(key, "instrumentationLibrarySpans"))
        return sp_json_skip(&o->lx) ? sp_json_fail(&o->lx, o->ctx) : SP_OK;
    sp_json_token t;
    if (sp_json_next(&o->lx, &t))
        return sp_json_fail(&o->lx, o->ctx);
    if (t.type != SP_JSON_ARR_BEGIN)
        return sp_import_fail_at(o->ctx, t.line, t.column, SP_ERR_PARSE, "\"scopeSpans\" must be an array");
    return walk_objects(o, r, scope_member, "scopeSpans");
}

/* ---------- building the model ---------- */

static int span_cmp(const void *a, const void *b)
{
    const ospan *x = a, *y = b;
    int c = memcmp(x->trace, y->trace, 16);
    if (c)
        return c;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct bmember {
    int64_t batch;
    uint32_t req;            /* SP_EV_NONE: the batch's own span (servprof export's), for its KV only */
    uint32_t span;           /* the span (index into the sorted otlp.spans): its step attributes
                              * (step_of) and its place for a message; in what was padding, so the
                              * record stays 48 bytes (one per span of a batch: a file's peak memory) */
    uint64_t start, end;
    int64_t effective, padded;   /* the batch's tokens as a span gives them; < 0 absent */
} bmember;
_Static_assert(sizeof(bmember) == 48, "a batch member record stays 48 bytes");

/* The servprof.step.* attributes of the span at file order `seq`; NULL when it has none. */
static const ostep *step_of(const otlp *o, uint32_t seq)
{
    size_t lo = 0, hi = o->nsteps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->steps[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < o->nsteps && o->steps[lo].seq == seq ? &o->steps[lo] : NULL;
}

/* The request's output tokens from servprof export's token events on its trace's spans (docs/otlp.md,
 * "Export"), as the native reader adds token records; and the request span's gen_ai.usage.output_tokens
 * as the record's output_tokens, where the file holds such data (a foreign file's is read as before). */
static sp_status place_servprof_tokens(otlp *o, const ospan *g, size_t n, size_t rs, uint32_t req)
{
    struct sp_events *ev = o->ctx->ev;
    sp_status st;
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = o->ntoks;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (o->toks[mid].seq < g[i].seq)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < o->ntoks && o->toks[lo].seq == g[i].seq; lo++)
            if ((st = sp_ev_add_token(ev, req, o->toks[lo].index, o->toks[lo].time)))
                return st;
    }
    if (g[rs].output_tokens >= 0 && g[rs].request_id != SP_EV_NONE && !g[rs].has_lat) {
        sp_ev_request_cold *rc;
        if ((st = sp_ev_cold_get(ev, req, &rc)))
            return st;
        rc->output_tokens = g[rs].output_tokens;
    }
    return SP_OK;
}

static int bmember_cmp(const void *a, const void *b)
{
    const bmember *x = a, *y = b;
    if (x->batch != y->batch)
        return x->batch < y->batch ? -1 : 1;
    return x->req < y->req ? -1 : x->req > y->req;
}

/* Does the trace [g, g+n) hold a span that was a stage named `stage`? */
static bool has_stage(const ospan *g, size_t n, sp_str stage, size_t req_span)
{
    for (size_t i = 0; i < n; i++)
        if (i != req_span && g[i].stage == stage)
            return true;
    return false;
}

static uint64_t clampadd(uint64_t a, int64_t d, uint64_t limit)
{
    uint64_t v = a + (uint64_t)d;
    if (v < a || v > limit)
        v = limit;
    return v;
}

/* vLLM's latency attributes placed in time (docs/otlp.md). With time_to_first_token the first token
 * is at start + TTFT (vLLM measures TTFT from arrival), prefill ends there and queue ends where prefill
 * starts (vLLM: queued until scheduled, prefill until the first token), decode runs from the first token
 * to the last; without it, queue, prefill and decode follow each other from the start. Each piece is
 * clipped to [start, done]. The first and last tokens become token records (docs/generation.md), so
 * the TTFT and TPOT tables cover vLLM's requests as far as the attributes go. */
static sp_status place_latencies(otlp *o, const ospan *g, size_t n, size_t req_span, uint32_t req,
                                 sp_str s_prefill, sp_str s_decode)
{
    /* the request span's latencies, else the earliest span's that has any; others are counted: vLLM's
     * v1 engine writes one llm_request span per sequence of a request with n > 1, all into the trace
     * of the caller's traceparent (docs/otlp.md) */
    const ospan *c = g[req_span].has_lat ? &g[req_span] : NULL;
    uint64_t more = 0;
    for (size_t i = 0; i < n; i++)
        if (g[i].has_lat && !c)
            c = &g[i];
        else if (g[i].has_lat && &g[i] != c)
            more++;
    if (!c)
        return SP_OK;
    if (more) {
        o->multi_lat_traces++;
        o->multi_lat_spans += more;
    }
    struct sp_events *ev = o->ctx->ev;
    uint64_t done = ev->requests[req].done_ns;
    const int64_t *lat = c->lat;
    int64_t out = c->output_tokens;   /* the output tokens: the latencies' span's, else any span's */
    for (size_t i = 0; i < n && out < 0; i++)
        out = g[i].output_tokens;
    int64_t nseq = c->num_seqs;  /* sequences the output tokens are summed over (vLLM v0: n or best_of) */
    for (size_t i = 0; i < n && nseq < 0; i++)
        nseq = g[i].num_seqs;
    /* vLLM's v1 engine writes time_to_first_token 0.0 (its unset value) for a request that finished
     * without a token: no first token, so no TTFT */
    int64_t ttft = lat[LAT_TTFT] == 0 && out == 0 ? -1 : lat[LAT_TTFT];
    int64_t q = lat[LAT_QUEUE] >= 0 ? lat[LAT_QUEUE] : 0;
    int64_t prefill = lat[LAT_PREFILL];
    if (prefill < 0 && ttft >= 0 && ttft >= q)
        prefill = ttft - q;
    int64_t decode = lat[LAT_DECODE];
    if (decode < 0 && lat[LAT_E2E] >= 0 && ttft >= 0 && lat[LAT_E2E] >= ttft)
        decode = lat[LAT_E2E] - ttft;
    uint64_t t0 = c->start < done ? c->start : done;
    uint64_t t1, t2; /* queue [t0', t1), prefill [t1, t2) */
    if (ttft >= 0) {
        t2 = clampadd(t0, ttft, done);
        uint64_t p = prefill >= 0 ? (uint64_t)prefill : 0;
        t1 = t2 - t0 > p ? t2 - p : t0;
        uint64_t qs = t1 - t0 > (uint64_t)q ? t1 - (uint64_t)q : t0;
        t0 = qs;
    } else {
        t1 = clampadd(t0, q, done);
        t2 = prefill >= 0 ? clampadd(t1, prefill, done) : t1;
    }
    sp_status st;
    if (lat[LAT_QUEUE] >= 0 && !has_stage(g, n, o->ks.queue, req_span) && t1 > t0 &&
        (st = sp_ev_add_span(ev, req, o->ks.queue, t0, t1)))
        return st;
    if (prefill >= 0 && !has_stage(g, n, s_prefill, req_span) && t2 > t1 &&
        (st = sp_ev_add_span(ev, req, s_prefill, t1, t2)))
        return st;
    uint64_t t3 = decode >= 0 ? clampadd(t2, decode, done) : t2;
    if (decode >= 0 && !has_stage(g, n, s_decode, req_span) && t3 > t2 &&
        (st = sp_ev_add_span(ev, req, s_decode, t2, t3)))
        return st;
    /* the first token (TTFT known) and the last (completion tokens >= 2 and decode known): their times
     * only; vLLM's spans carry no other token's. With several sequences (vLLM v0's num_sequences > 1,
     * n or best_of) completion_tokens sums them all while decode ends with the longest, whose length
     * the span does not give: no last token, so no TPOT (it would divide by the sum) */
    if (out >= 0 || ev->requests[req].cold != SP_EV_NONE) {   /* else it reads -1 already */
        sp_ev_request_cold *rc;
        if ((st = sp_ev_cold_get(ev, req, &rc)))
            return st;
        rc->output_tokens = out;
    }
    if (ttft < 0 || out == 0)
        return SP_OK;
    if ((st = sp_ev_add_token(ev, req, 0, t2)))
        return st;
    if (out >= 2 && decode >= 0 && nseq <= 1)
        st = sp_ev_add_token(ev, req, (uint64_t)out - 1, t3);
    return st;
}

/* TGI's handler timings placed in time (docs/otlp.md, "text-generation-inference"). The router measures
 * them from one start (its handler's Instant::now(), as the handler span opens): validation until the
 * request was queued, queue until its first batch started (prefill), inference from then until the
 * last token; they follow each other from the handler span's start, each clipped to the request's
 * end. A stage the trace has as a real span (TGI's "queued" span) is not derived again, but its time
 * still counts before the next piece. Each generation sent to the request has a send_generation span:
 * the first is the first token, which splits inference into prefill (until it) and decode (after it),
 * as vLLM's spans are read; each gives its tokens their time, so every token is a token record (and
 * ITL is read), and their count is the output tokens. Without a generation sent, inference stays one
 * stage, "inference". */
static sp_status place_tgi(otlp *o, const ospan *g, size_t n, size_t base, size_t rs, uint32_t req,
                           sp_str s_prefill, sp_str s_decode, sp_str s_inference)
{
    struct sp_events *ev = o->ctx->ev;
    const ospan *h = NULL;
    for (size_t i = 0; i < n && !h; i++)
        if (g[i].tgi == TGI_SPAN_HANDLER)
            h = &g[i];
    if (!h)
        return SP_OK;
    o->tgi_requests++;
    /* its steps (tgi_join_links): with every infer span joined to a batch read as a step, inference is
     * those steps and the time between them, so it is not derived as stages; with some joined, the
     * stages stay and the steps found cover them where they are (DESIGN 3: a batch window first) */
    size_t ninfer = 0, joined = 0;
    for (size_t i = 0; i < n; i++)
        if (g[i].tgi == TGI_SPAN_INFER) {
            ninfer++;
            joined += o->tj && o->tj[base + i].batch != SP_EV_NONE;
        }
    bool stepped = ninfer && joined == ninfer;
    o->tgi_stepped += stepped;
    o->tgi_partial += joined && !stepped;
    const ospan *first = NULL;
    for (size_t i = 0; i < n && !first; i++)   /* g is in start order */
        if (g[i].tgi == TGI_SPAN_SEND)
            first = &g[i];
    uint64_t done = ev->requests[req].done_ns;
    uint64_t t = h->start < done ? h->start : done;
    const sp_str stage[3] = {o->ks.preprocess, o->ks.queue, first ? s_prefill : s_inference};
    const int dur[3] = {TGI_VALIDATION, TGI_QUEUE, TGI_INFERENCE};
    sp_status st;
    for (int k = 0; k < (stepped ? 2 : 3); k++) {
        int64_t d = o->tgih[h->tgi_h][dur[k]];
        if (d < 0)
            continue;
        uint64_t e = clampadd(t, d, done);
        uint64_t cut = e;   /* prefill ends at the first token, decode runs from there to e */
        if (k == 2 && first)
            cut = first->start < t ? t : first->start > e ? e : first->start;
        if (cut > t && !has_stage(g, n, stage[k], rs)) {
            if ((st = sp_ev_add_span(ev, req, stage[k], t, cut)))
                return st;
            /* the engine's model time whole, not a stage of the user's own (sp_ev_file.model_inference) */
            ev->files[o->ctx->file].model_inference += stage[k] == s_inference;
        }
        if (e > cut && !has_stage(g, n, s_decode, rs) && (st = sp_ev_add_span(ev, req, s_decode, cut, e)))
            return st;
        t = e;
    }
    if (!first)
        return SP_OK;
    /* every token at its generation's send_generation start: the router opens that span just before it
     * hands the generation's tokens to the request's channel (backend.rs, filter_send_generations and
     * send_responses), and its end only adds the bookkeeping after; the start also keeps the first
     * token where it was. A generation carries the tokens its Debug text lists (several with
     * --speculate), one when the text does not say: all at one time, as a chunk's tokens are
     * (docs/generation.md, "ITL per token") */
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (g[i].tgi != TGI_SPAN_SEND)
            continue;
        for (uint32_t j = 0; j < (g[i].tgi_ntok ? g[i].tgi_ntok : 1); j++)
            if ((st = sp_ev_add_token(ev, req, k++, g[i].start)))
                return st;
    }
    sp_ev_request_cold *rc;
    if ((st = sp_ev_cold_get(ev, req, &rc)))
        return st;
    rc->output_tokens = (int64_t)k;
    return SP_OK;
}

/* The stages SGLang's slices become (interned with a file's first SGLang trace, build). */
typedef struct sgl_stages {
    sp_str dispatch, request_process, prefill, decode;
} sgl_stages;

/* What an SGLang request's slices say beyond their stages (sgl_slice_stages): the first token (the
 * earliest prefill_forward's end: a retracted request prefills again), decode_forward's end, how many
 * decode_loop slices, and whether any of these model slices is there. */
typedef struct sgl_marks {
    uint64_t first, dec_end;
    size_t nloops;
    bool model;
} sgl_marks;

/* Adds the slices of the request's trace [g, g+n) as its stages (the table in docs/otlp.md, "SGLang")
 * and counts what is not read. */
static sp_status sgl_slice_stages(otlp *o, const ospan *g, size_t n, size_t rs, uint32_t req, const sgl_stages *sg,
                                  sgl_marks *mk)
{
    *mk = (sgl_marks){UINT64_MAX, 0, 0, false};
    bool multi = false;
    sp_status st = SP_OK;
    for (size_t i = 0; i < n && st == SP_OK; i++) {
        o->sgl_events += g[i].nevents;
        if (i == rs)
            continue;
        multi |= g[i].sgl == SGL_REQ;
        sp_str stage = SP_EV_NONE;
        switch (g[i].sgl) {
        case SGL_DISPATCH: stage = sg->dispatch; break;
        case SGL_REQUEST_PROCESS: stage = sg->request_process; break;
        case SGL_PREFILL_WAITING:
        case SGL_DECODE_WAITING: stage = o->ks.queue; break;
        case SGL_PREFILL_FORWARD:
            stage = sg->prefill;
            mk->first = g[i].end < mk->first ? g[i].end : mk->first;
            break;
        case SGL_DECODE_FORWARD:
            stage = sg->decode;
            mk->dec_end = g[i].end > mk->dec_end ? g[i].end : mk->dec_end;
            break;
        case SGL_DECODE_LOOP: mk->nloops++; break;
        case SGL_CHUNKED_PREFILL: o->sgl_chunked++; break;
        case SGL_REQ:
        case SGL_OTHER_MODULE:
        case SGL_THREAD:
        case SGL_TOKENIZE: break;
        default:
            if (g[i].sgl >= SGL_UNMAPPED)
                o->sgl_unmapped[g[i].sgl - SGL_UNMAPPED]++;
            else if (g[i].stage == SP_EV_NONE)
                o->sgl_unknown++;
            break;
        }
        mk->model |= g[i].sgl == SGL_PREFILL_FORWARD || g[i].sgl == SGL_DECODE_FORWARD || g[i].sgl == SGL_DECODE_LOOP;
        /* a slice that is a stage by servprof.stage too was added as that (build) */
        if (stage != SP_EV_NONE && g[i].stage == SP_EV_NONE && g[i].end > g[i].start)
            st = sp_ev_add_span(o->ctx->ev, req, stage, g[i].start, g[i].end);
    }
    o->sgl_multi_req += multi;
    return st;
}

/* The request's tokens from its slices: the first at prefill_forward's end, one more at each
 * decode_loop's end after it, in time order; its output tokens completion_tokens, else their count. */
static sp_status sgl_tokens(otlp *o, const ospan *g, size_t n, size_t rs, uint32_t req, const sgl_marks *mk)
{
    struct sp_events *ev = o->ctx->ev;
    const uint64_t done = ev->requests[req].done_ns;
    int64_t out = g[rs].output_tokens;   /* gen_ai.usage.completion_tokens on the root (request_tracing.py) */
    for (size_t i = 0; i < n && out < 0; i++)
        out = g[i].output_tokens;
    uint64_t k = 0;
    sp_status st = SP_OK;
    if (mk->first != UINT64_MAX) {
        uint64_t *ends = malloc((mk->nloops ? mk->nloops : 1) * sizeof *ends);
        if (!ends)
            return SP_ERR_NOMEM;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (i != rs && g[i].sgl == SGL_DECODE_LOOP)
                ends[m++] = g[i].end;
        if ((st = sp_sort_u64(ends, m, NULL))) {
            free(ends);
            return st;
        }
        size_t b = 0;   /* a step's result before the first token is none of this request's */
        while (b < m && ends[b] < mk->first)
            b++;
        st = sp_ev_add_token(ev, req, k++, mk->first < done ? mk->first : done);
        /* with speculative decoding a step accepts several tokens, which the slices do not count: when
         * completion_tokens says more than the steps, the last step's token takes the last index, so
         * TPOT stays per token (the pair before it is then no ITL gap) */
        for (size_t i = b; i < m && st == SP_OK; i++, k++)
            st = sp_ev_add_token(ev, req, i + 1 == m && out > (int64_t)(k + 1) ? (uint64_t)out - 1 : k,
                                 ends[i] < done ? ends[i] : done);
        free(ends);
        /* no decode_loop slice (a trace level under 3): the last token ends decode_forward, as vLLM's
         * attributes give the first and the last only */
        if (st == SP_OK && k == 1 && out >= 2 && mk->dec_end > mk->first) {
            st = sp_ev_add_token(ev, req, (uint64_t)out - 1, mk->dec_end < done ? mk->dec_end : done);
            k = (uint64_t)out;
        }
    }
    if (st || (out < 0 && k == 0))
        return st;
    sp_ev_request_cold *rc;
    if ((st = sp_ev_cold_get(ev, req, &rc)))
        return st;
    rc->output_tokens = out >= 0 ? out : (int64_t)k;
    return SP_OK;
}

/* SGLang's slices placed as the request's stages and tokens (docs/otlp.md, "SGLang"). Each slice has
 * its own times (req_time_stats.py's trace_slice): dispatch and request_process are the way to the
 * scheduler's wait queue, prefill_waiting (and decode_waiting, from the prefill's end to the first
 * decode step) the queue, prefill_forward (chunked_prefill slices inside it) the prefill and
 * decode_forward the decode, the model's time whole, as vLLM's and TGI's spans give it. The scheduler
 * ends prefill_forward when it processes the prefill's result, the first token, and one decode_loop
 * slice at each decode step's result: those ends are the token times. tokenize is the preprocess stage
 * by the stage name rule (build). With no prefill or decode slice (a request refused before its
 * prefill, or the scheduler's spans not in the file), *placed is false: the request span's
 * gen_ai.latency.* attributes give the model's time and tokens, read as vLLM's. */
static sp_status place_sglang(otlp *o, const ospan *g, size_t n, size_t rs, uint32_t req, const sgl_stages *sg,
                              bool *placed)
{
    o->sgl_requests++;
    sgl_marks mk;
    sp_status st = sgl_slice_stages(o, g, n, rs, req, sg, &mk);
    *placed = mk.model;
    if (st || !mk.model) {
        o->sgl_attrs_only += st == SP_OK;
        return st;
    }
    return sgl_tokens(o, g, n, rs, req, &mk);
}

/* The request of a trace's request span: named by its servprof.request string when it has one that
 * no earlier trace of the file took (servprof export writes each request's own id there), else by the
 * trace id in hex (docs/otlp.md, "Requests"). */
static sp_status request_of(otlp *o, const ospan *rs, const char *trace_hex, uint32_t *out)
{
    struct sp_events *ev = o->ctx->ev;
    const uint32_t file = o->ctx->file;
    if (rs->request_id != SP_EV_NONE) {
        const char *id = sp_str_get(&ev->strings, rs->request_id);
        uint32_t req;
        sp_status st = sp_ev_request_ref(ev, file, id, strlen(id), &req);
        if (st)
            return st;
        if (!ev->requests[req].has_record) {
            *out = req;
            return SP_OK;
        }
        if (!o->warned_dup_id) {
            sp_log(SP_LOG_WARN, "%s:%u:%u: two traces name request \"%.64s\" (servprof.request); the later is "
                   "known by its trace id %s", o->ctx->name, rs->line, rs->column, id, trace_hex);
            o->warned_dup_id = true;
        }
    }
    return sp_ev_request_ref(ev, file, trace_hex, 32, out);
}

/* The request's W3C trace context: its request span's ids and flags. */
static sp_status set_trace_context(otlp *o, uint32_t req, const ospan *rs)
{
    sp_trace_context tc;
    memcpy(tc.trace_id, rs->trace, 16);
    memcpy(tc.span_id, rs->id, 8);
    memset(tc.parent_id, 0, 8);
    if (rs->has_parent)
        memcpy(tc.parent_id, rs->parent, 8);
    tc.flags = rs->has_flags ? rs->flags : SP_TRACE_FLAG_SAMPLED;
    sp_status st = sp_ev_request_set_trace(o->ctx->ev, req, &tc);
    return st == SP_ERR_INVALID ? SP_OK : st;   /* an all-zero span id: the request keeps no trace context */
}

/* ---------- Triton's OpenTelemetry layout ---------- */

/* Is the trace [g, g+n) in Triton's OpenTelemetry layout: a span naming a model (model_name) and a
 * span with an event of Triton's timestamp names (REQUEST_START, COMPUTE_START, ...)? */
static bool triton_layout(const otlp *o, const ospan *g, size_t n)
{
    bool model = false, events = false;
    for (size_t i = 0; i < n && !(model && events); i++) {
        if (g[i].tri == SP_EV_NONE)
            continue;
        model |= o->tri[g[i].tri].model != SP_EV_NONE;
        events |= o->tri[g[i].tri].triton_event;
    }
    return model && events;
}

static uint64_t span_key(const uint8_t id[8])
{
    uint64_t k;
    memcpy(&k, id, 8);
    return k;
}

/* The span's model span: itself or its nearest ancestor naming a model; n when none (the trace's
 * InferRequest span). Ancestors are followed up to SP_TRITON_MAX_DEPTH, which also ends a loop. */
static size_t model_span_of(const otlp *o, const ospan *g, size_t n, const sp_hmap *ids, size_t i)
{
    for (int d = 0; d <= SP_TRITON_MAX_DEPTH && i < n; d++) {
        if (g[i].tri != SP_EV_NONE && o->tri[g[i].tri].model != SP_EV_NONE)
            return i;
        if (!g[i].has_parent)
            return n;
        uint32_t p = sp_hmap_find(ids, span_key(g[i].parent), NULL, NULL);
        i = p == SP_HMAP_NONE ? n : p;
    }
    return n;
}

static void merge_ts(sp_triton_trace *r, const otri *t)
{
    for (int k = 0; k < SP_TRITON_TS_COUNT; k++)
        if (r->ts[k] == SP_TIME_NONE)
            r->ts[k] = t->ts[k];
    r->any_ts |= t->any_event;
}

/* One trace in Triton's layout while it becomes Triton trace records. */
typedef struct tview {
    const ospan *g;          /* its spans, in start order */
    size_t n;
    sp_hmap ids;             /* span id -> index in g */
    uint32_t *rec;           /* index in g -> record index (model spans), else SP_EV_NONE */
    size_t top, root;        /* the top-level model span, the trace's root span; n: none */
} tview;

/* A record per model span; finds the trace's root span (the earliest whose parent is not in the
 * file). */
static sp_status triton_records(otlp *o, tview *v)
{
    struct sp_events *ev = o->ctx->ev;
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", v->g[0].trace[i]);
    for (size_t i = 0; i < v->n; i++) {
        const ospan *sp = &v->g[i];
        v->rec[i] = SP_EV_NONE;
        bool in_file = sp->has_parent && sp_hmap_find(&v->ids, span_key(sp->parent), NULL, NULL) != SP_HMAP_NONE;
        if (!in_file && v->root == v->n)
            v->root = i;
        if (sp->tri == SP_EV_NONE || o->tri[sp->tri].model == SP_EV_NONE)
            continue;
        const otri *t = &o->tri[sp->tri];
        sp_triton_trace *r;
        sp_status st = sp_triton_trace_ref(&o->triton, (int64_t)o->triton.n + 1, sp->line, sp->column, &r);
        if (st)
            return st;
        v->rec[i] = (uint32_t)(o->triton.n - 1);
        r->model = t->model;
        r->version = t->version;
        char label[SP_TRITON_NAME_MAX + 80];
        int ln = snprintf(label, sizeof label, "model span \"%s\" of trace %s", sp_str_get(&ev->strings, t->model), hex);
        if ((st = sp_str_intern(&ev->strings, label, (size_t)ln < sizeof label ? (size_t)ln : sizeof label - 1, &r->label)))
            return st;
        merge_ts(r, t);
    }
    return SP_OK;
}

/* Each record's parent: the nearest model span above it; the first with none is the top level, and
 * any later one is attached to it. */
static void triton_link(otlp *o, tview *v)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->rec[i] == SP_EV_NONE)
            continue;
        size_t p = v->g[i].has_parent ? sp_hmap_find(&v->ids, span_key(v->g[i].parent), NULL, NULL) : SP_HMAP_NONE;
        size_t m = p == SP_HMAP_NONE ? v->n : model_span_of(o, v->g, v->n, &v->ids, p);
        sp_triton_trace *r = &o->triton.tr[v->rec[i]];
        if (m < v->n && m != i)
            r->parent = o->triton.tr[v->rec[m]].id;
        else if (v->top == v->n)
            v->top = i;
        else
            r->parent = o->triton.tr[v->rec[v->top]].id;
    }
}

/* A trace in Triton's layout as Triton trace records (docs/triton.md, "OpenTelemetry mode"): one per
 * model span, its parent the nearest model span above it (an ensemble's or a BLS model's); each other
 * span's events (the compute span's COMPUTE_*, the InferRequest span's HTTP_*) go to its nearest model
 * span, or to the top-level one. The top-level model span (the earliest with no model above it) is the
 * request; any other such span is attached to it, so the trace stays one request. `base` is g's index
 * in o->spans. */
static sp_status triton_trace(otlp *o, const ospan *g, size_t n, size_t base)
{
    tview v = {g, n, {0}, NULL, n, n};
    sp_status st = SP_OK;
    for (size_t i = 0; i < n && st == SP_OK; i++)
        st = sp_hmap_put(&v.ids, span_key(g[i].id), (uint32_t)i);
    if (st == SP_OK && !(v.rec = malloc(n * sizeof *v.rec)))
        st = SP_ERR_NOMEM;
    if (st == SP_OK)
        st = triton_records(o, &v);
    if (st == SP_OK)
        triton_link(o, &v);
    if (st == SP_OK && v.top < n) {
        /* the other spans' events */
        for (size_t i = 0; i < n; i++) {
            if (v.rec[i] != SP_EV_NONE || g[i].tri == SP_EV_NONE)
                continue;
            size_t m = model_span_of(o, g, n, &v.ids, i);
            merge_ts(&o->triton.tr[v.rec[m < n ? m : v.top]], &o->tri[g[i].tri]);
        }
        /* where no timestamp gives arrival or done: the root span's times (Triton's InferRequest) */
        size_t root = v.root < n ? v.root : v.top;
        sp_triton_trace *r = &o->triton.tr[v.rec[v.top]];
        r->span_start = g[root].start;
        r->span_end = g[root].end;
        if ((st = SP_GROW(o->tri_req, o->captri_req, o->triton.n, OTLP_MAX_SPANS)) == SP_OK)
            o->tri_req[v.rec[v.top]] = (otri_req){(uint32_t)(base + root), o->tri[g[v.top].tri].request_id};
    }
    free(v.rec);
    sp_hmap_free(&v.ids);
    return st;
}

/* The request of a Triton trace (sp_triton_set.request_ref): named by the top model span's request_id
 * when no earlier trace took it, else as any other trace (docs/otlp.md); its trace context is the root
 * span's. */
static sp_status triton_request(void *arg, const sp_triton_trace *r, uint32_t *out)
{
    otlp *o = arg;
    const otri_req *tq = &o->tri_req[r - o->triton.tr];
    const ospan *rs = &o->spans[tq->root];
    ospan named = *rs;
    if (named.request_id == SP_EV_NONE)
        named.request_id = tq->request_id;
    char id[33];
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", rs->trace[i]);
    sp_status st = request_of(o, &named, id, out);
    return st ? st : set_trace_context(o, *out, rs);
}

/* An HTTP status as an outcome, by the rule servprof's own recorders apply when they answer
 * (python/servprof/asgi.py, src/serve/record.c): 503 and 429 rejected (refused for capacity), any
 * other 4xx or 5xx an error, the rest ok. OpenTelemetry's server spans leave a 4xx's status unset
 * (the client's fault), but the request was not served all the same. */
static int http_outcome(int32_t status)
{
    return status == 503 || status == 429 ? SP_OUTCOME_REJECTED : status >= 400 ? SP_OUTCOME_ERROR : SP_OUTCOME_OK;
}

/* A gRPC status code as an outcome (codes from grpc/doc/statuscodes.md): OK ok, CANCELLED (1: the
 * caller went away) cancelled, RESOURCE_EXHAUSTED (8) and UNAVAILABLE (14), the codes gRPC servers
 * answer when they shed load, rejected (HTTP's 429 and 503 map to them), and every other code,
 * DEADLINE_EXCEEDED (4) included (the service did not answer in time, as an HTTP 504), an error. */
static int grpc_outcome(int32_t code)
{
    return code == 0 ? SP_OUTCOME_OK : code == 1 ? SP_OUTCOME_CANCELLED
           : code == 8 || code == 14 ? SP_OUTCOME_REJECTED : SP_OUTCOME_ERROR;
}

/* The request's outcome (docs/otlp.md, "Outcomes"), one precedence for every trace, most specific
 * first: the request span's servprof.outcome (servprof's own, written by servprof export), else
 * vLLM's finish reasons on any span of the trace, else the request span's HTTP status, else its gRPC
 * status. A span status ERROR on the request span makes a request that none of these calls a failure
 * an error: instrumentations leave a success status UNSET unless something else failed (the response
 * body, an exception), so ERROR beside a 200 is that failure. -1: nothing says (ok). A child span's
 * status and `exception` events do not count: a call inside the request may fail and be retried or
 * handled while the request is served. */
/* The first SGLang thread span of [g, g+n) that aborted its request with error info (status ERROR, not
 * the tracer's own auto-close; docs/otlp.md, "SGLang"), or n: its status_code, when given, is the
 * request's status, and it makes the request an error (outcome_of). */
static size_t sgl_abort_span(const ospan *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (g[i].sgl == SGL_THREAD && g[i].span_status == SPAN_STATUS_ERROR && !g[i].sgl_autoclosed)
            return i;
    return n;
}

static int outcome_of(const ospan *g, size_t n, size_t rs)
{
    if (g[rs].outcome >= 0)
        return g[rs].outcome;
    int oc = -1;
    for (size_t i = 0; i < n && oc < 0; i++)   /* on vLLM's llm_request span: the request span or below */
        oc = g[i].finish_outcome;
    if (oc < 0 && g[rs].http_status > 0)
        oc = http_outcome(g[rs].http_status);
    if (oc < 0 && g[rs].grpc_status >= 0)
        oc = grpc_outcome(g[rs].grpc_status);
    if ((oc < 0 || oc == SP_OUTCOME_OK) && g[rs].span_status == SPAN_STATUS_ERROR)
        oc = SP_OUTCOME_ERROR;
    /* TGI's handler records its timings only when the last token came (server.rs): a handler span
     * without total_time was not served, whatever its HTTP status (a stream answers 200 first) */
    for (size_t i = 0; i < n && (oc < 0 || oc == SP_OUTCOME_OK); i++)
        if (g[i].tgi == TGI_SPAN_HANDLER && !g[i].tgi_done)
            oc = SP_OUTCOME_ERROR;
    /* SGLang sets ERROR on a thread span only when it aborts the request with error info (trace.py's
     * abort(abort_info): a request over the KV capacity, a failed KV transfer, ...), while a client's
     * abort leaves it unset: the request failed, whatever its finish reason ("abort" reads cancelled),
     * as the info's status_code says when it gives one (docs/otlp.md, "SGLang"); not the tracer's own
     * auto-close of a span left open, which says nothing of the request */
    size_t ab = sgl_abort_span(g, n);
    if (ab < n)
        oc = g[ab].http_status >= 400 ? http_outcome(g[ab].http_status) : SP_OUTCOME_ERROR;
    return oc;
}

/* ---------- TGI's batches as generation steps (docs/otlp.md, "text-generation-inference") ---------- */


/* A span id looked up in one trace (span ids are unique only within their trace). */
typedef struct tgi_key {
    const ospan *spans;
    const uint8_t *trace;
} tgi_key;

static bool tgi_same_trace(const void *ctx, uint32_t v)
{
    const tgi_key *k = ctx;
    return memcmp(k->spans[v].trace, k->trace, 16) == 0;
}

/* Joins TGI's steps: each infer span to its batch span, by a link either way (TGI makes both:
 * follows_from in backend.rs and queue.rs); a link to any other span (a `waiting` span of a request
 * that waits while others prefill, the span that asked for the batch) is no member. Each batch span's
 * phase is its child's name (`prefill` or `decode`). Fills o->tj. */
static sp_status tgi_join_links(otlp *o)
{
    size_t n = o->n;
    uint32_t *pos = malloc((n ? n : 1) * sizeof *pos);   /* file order (seq) -> sorted index */
    o->tj = malloc((n ? n : 1) * sizeof *o->tj);
    if (!pos || !o->tj) {
        free(pos);
        return SP_ERR_NOMEM;
    }
    sp_hmap ids = {0};
    sp_status st = SP_OK;
    for (size_t i = 0; i < n; i++) {
        const ospan *sp = &o->spans[i];
        pos[sp->seq] = (uint32_t)i;
        o->tj[i] = (tgi_join){SP_EV_NONE, SP_EV_NONE, 0, -1, false, false};
        if (st == SP_OK && (sp->tgi == TGI_SPAN_BATCH || sp->tgi == TGI_SPAN_INFER))
            st = sp_hmap_put(&ids, span_key(sp->id), (uint32_t)i);
    }
    for (size_t i = 0; i < n && st == SP_OK; i++) {
        const ospan *c = &o->spans[i];
        if ((c->tgi != TGI_SPAN_PREFILL && c->tgi != TGI_SPAN_DECODE) || !c->has_parent)
            continue;
        tgi_key key = {o->spans, c->trace};
        uint32_t b = sp_hmap_find(&ids, span_key(c->parent), tgi_same_trace, &key);
        if (b != SP_HMAP_NONE && o->spans[b].tgi == TGI_SPAN_BATCH)
            o->tj[b].phase = c->tgi == TGI_SPAN_PREFILL ? SP_EV_PHASE_PREFILL : SP_EV_PHASE_DECODE;
    }
    for (size_t l = 0; l < o->nlinks && st == SP_OK; l++) {
        const olink *lk = &o->links[l];
        uint32_t from = pos[lk->seq];
        tgi_key key = {o->spans, lk->trace};
        uint32_t to = sp_hmap_find(&ids, span_key(lk->span), tgi_same_trace, &key);
        if (to == SP_HMAP_NONE)
            continue;
        uint32_t b = o->spans[from].tgi == TGI_SPAN_INFER ? to : from;
        uint32_t inf = b == to ? from : to;
        if (o->spans[b].tgi != TGI_SPAN_BATCH || o->spans[inf].tgi != TGI_SPAN_INFER || o->tj[inf].batch != SP_EV_NONE)
            continue;   /* one step per infer span: the first link read joins it */
        o->tj[inf].batch = b;
        o->tj[b].nj++;
    }
    free(pos);
    sp_hmap_free(&ids);
    return st;
}

/* A joined step member: its batch span, its request, its phase and tokens in the step. */
typedef struct tgi_member {
    uint64_t start;          /* the batch span's start: steps are numbered in time order */
    uint32_t batch, req;
    uint32_t tokens;
    uint8_t phase;
} tgi_member;

static int tgi_member_cmp(const void *a, const void *b)
{
    const tgi_member *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->batch != y->batch)
        return x->batch < y->batch ? -1 : 1;
    return x->req < y->req ? -1 : x->req > y->req;
}

/* Each TGI batch span with a member becomes a step (docs/generation.md): its window the batch span's,
 * its members the requests of the infer spans joined to it, each in the phase of the batch's forward
 * call (without that child: prefill in the request's first step, else decode) and with the tokens the
 * step computed for it, 1 for a decode; a prefill's are the prompt's when the request span gives them,
 * else 1 (TGI's spans do not give the prompt's length). Token counts are not effective tokens (a
 * prefill's may be 1 for a whole prompt), so the batch's tokens stay unknown. Ids from *next_id on. */
static sp_status tgi_steps(otlp *o, int64_t *next_id)
{
    struct sp_events *ev = o->ctx->ev;
    tgi_member *m = NULL;
    size_t nm = 0, cap = 0;
    sp_status st = SP_OK;
    for (size_t i = 0; i < o->n && st == SP_OK; i++) {
        const tgi_join *j = &o->tj[i];
        if (o->spans[i].tgi != TGI_SPAN_INFER || j->batch == SP_EV_NONE || j->req == SP_EV_NONE)
            continue;
        int8_t ph = o->tj[j->batch].phase;
        uint8_t phase = (uint8_t)(ph >= 0 ? ph : j->first ? SP_EV_PHASE_PREFILL : SP_EV_PHASE_DECODE);
        int64_t in = sp_ev_req_input_tokens(ev, &ev->requests[j->req]);
        uint32_t tokens = phase == SP_EV_PHASE_PREFILL && in > 0 && in <= UINT32_MAX ? (uint32_t)in : 1;
        if ((st = SP_GROW(m, cap, nm + 1, OTLP_MAX_SPANS)) == SP_OK)
            m[nm++] = (tgi_member){o->spans[j->batch].start, j->batch, j->req, tokens, phase};
    }
    if (nm > 1)
        qsort(m, nm, sizeof *m, tgi_member_cmp);
    uint32_t *reqs = st == SP_OK ? malloc((nm ? nm : 1) * sizeof *reqs) : NULL;
    uint32_t *toks = st == SP_OK ? malloc((nm ? nm : 1) * sizeof *toks) : NULL;
    uint8_t *phases = st == SP_OK ? malloc(nm ? nm : 1) : NULL;
    if (st == SP_OK && (!reqs || !toks || !phases))
        st = SP_ERR_NOMEM;
    for (size_t a = 0; a < nm && st == SP_OK;) {
        size_t b = a, k = 0;
        for (; b < nm && m[b].batch == m[a].batch; b++) {
            if (k && reqs[k - 1] == m[b].req)
                continue;   /* two infer spans of one request in one step: one member */
            reqs[k] = m[b].req;
            toks[k] = m[b].tokens;
            phases[k++] = m[b].phase;
        }
        const ospan *bs = &o->spans[m[a].batch];
        uint32_t bi;
        if ((st = sp_ev_batch_ref(ev, o->ctx->file, (*next_id)++, &bi)) ||
            (st = sp_ev_batch_set_members(ev, bi, reqs, k)))
            break;
        sp_ev_batch *bt = &ev->batches[bi];
        bt->start_ns = bs->start;
        bt->end_ns = bs->end;
        bt->effective_tokens = bt->padded_tokens = -1;
        bt->has_record = true;
        if ((st = sp_ev_set_step(ev, bi, phases, toks, k, -1, 0)))
            break;
        o->tgi_batch_traces++;
        o->tj[m[a].batch].read = true;
        if (bs->tgi_bsize != SP_EV_NONE && bs->tgi_bsize > k)
            o->tgi_missing += bs->tgi_bsize - k;
        a = b;
    }
    /* joined batches whose infer spans are all in traces read as no request (fragments) */
    for (size_t i = 0; i < o->n && st == SP_OK; i++)
        if (o->spans[i].tgi == TGI_SPAN_BATCH && o->tj[i].nj && !o->tj[i].read) {
            o->tgi_batch_empty++;
            o->tgi_missing += o->spans[i].tgi_bsize != SP_EV_NONE ? o->spans[i].tgi_bsize : 0;
        }
    free(reqs);
    free(toks);
    free(phases);
    free(m);
    return st;
}

static sp_status build(otlp *o)
{
    struct sp_events *ev = o->ctx->ev;
    const uint32_t file = o->ctx->file;
    sp_str s_prefill, s_decode, s_inference = SP_EV_NONE;
    sp_status st;
    if ((st = sp_str_intern(&ev->strings, "prefill", 7, &s_prefill)) ||
        (st = sp_str_intern(&ev->strings, "decode", 6, &s_decode)))
        return st;
    if (o->tgi_handlers && (st = sp_str_intern(&ev->strings, "inference", 9, &s_inference)))
        return st;
    sgl_stages sg = {SP_EV_NONE, SP_EV_NONE, s_prefill, s_decode};   /* interned with the first SGLang trace */
    if (o->n > 1)
        qsort(o->spans, o->n, sizeof *o->spans, span_cmp);
    if (o->tgi_handlers && (st = tgi_join_links(o)))
        return st;
    bmember *bm = NULL;
    size_t nbm = 0, capbm = 0;

    for (size_t a = 0; a < o->n && st == SP_OK;) {
        size_t b = a;
        while (b < o->n && memcmp(o->spans[b].trace, o->spans[a].trace, 16) == 0)
            b++;
        const ospan *g = &o->spans[a];
        size_t n = b - a;
        if (o->ntri && triton_layout(o, g, n)) {
            st = triton_trace(o, g, n, a);
            a = b;
            continue;
        }
        a = b;
        /* the request span: servprof.request, else the earliest root, else the earliest server span
         * (its parent is outside this file) */
        size_t rs = n;
        for (size_t i = 0; i < n && rs == n; i++)
            if (g[i].is_request)
                rs = i;
        for (size_t i = 0; i < n && rs == n; i++)
            if (!g[i].has_parent && !g[i].not_request)
                rs = i;
        /* SGLang's (docs/otlp.md, "SGLang"): a root or thread span of its tracing; its request span,
         * when the caller's traceparent made it a child of a span not in the file, is its Req root */
        bool sgl = false;
        for (size_t i = 0; i < n && !sgl; i++)
            sgl = g[i].sgl == SGL_REQ || g[i].sgl == SGL_OTHER_MODULE || g[i].sgl == SGL_THREAD;
        for (size_t i = 0; sgl && i < n && rs == n; i++)
            if (g[i].sgl == SGL_REQ && !g[i].not_request)
                rs = i;
        for (size_t i = 0; i < n && rs == n; i++)
            if (g[i].server && !g[i].not_request)
                rs = i;
        size_t base = (size_t)(g - o->spans);
        if (sgl && rs < n && g[rs].sgl == SGL_OTHER_MODULE) {
            /* another module's root (sglang::mooncake's KV transfers): no request; counted in SGLang's
             * warning, not as a fragment */
            ev->files[file].ignored += n;
            o->sgl_other_module++;
            continue;
        }
        if (sgl && rs == n) {
            /* a request cut short: the API server ends the Req root last, so an export that stopped
             * before the request finished has its threads' spans and slices only. An unfinished request
             * (DESIGN 8a: the trace ended first), arriving at its first span's start (tokenize starts
             * at the API server's receipt), known by its trace id; counted in SGLang's warning */
            char id[33];
            for (int i = 0; i < 16; i++)
                snprintf(id + 2 * i, 3, "%02x", g[0].trace[i]);
            uint32_t req;
            if ((st = sp_ev_request_ref(ev, file, id, 32, &req)))
                break;
            sp_ev_request *q = &ev->requests[req];
            if (!q->has_record) {
                q->arrival_ns = g[0].start;   /* g is in start order */
                q->done_ns = SP_TIME_NONE;
                q->outcome = SP_OUTCOME_UNFINISHED;
                q->has_record = true;
            }
            o->sgl_cut++;
            o->sgl_cut_spans += n;
            continue;
        }
        if (sgl && sg.dispatch == SP_EV_NONE &&
            ((st = sp_str_intern(&ev->strings, "dispatch", 8, &sg.dispatch)) ||
             (st = sp_str_intern(&ev->strings, "request_process", 15, &sg.request_process))))
            break;
        if (rs < n && o->tgi_handlers && g[rs].tgi == TGI_SPAN_BATCH) {
            /* TGI's batch, a trace of its own linked to its members' steps: not a request; a step
             * (tgi_steps) when a link joins it to a member, else left out (docs/otlp.md,
             * "text-generation-inference") */
            if (!o->tj || o->tj[base + rs].nj == 0) {
                ev->files[file].ignored += n;
                o->tgi_batch_empty++;
                o->tgi_missing += g[rs].tgi_bsize != SP_EV_NONE ? g[rs].tgi_bsize : 0;
            }
            continue;
        }
        if (rs == n) {
            ev->files[file].ignored += n;   /* a trace fragment with no request span */
            size_t maybe = 0;   /* spans not marked as never a request (an exported batch's own trace) */
            for (size_t i = 0; i < n && st == SP_OK; i++) {
                maybe += !g[i].not_request;
                /* an exported step's own span: its KV cache (servprof.step.kv_*) */
                const ostep *sp = o->nsteps && g[i].not_request && g[i].has_batch ? step_of(o, g[i].seq) : NULL;
                if (sp && (st = SP_GROW(bm, capbm, nbm + 1, OTLP_MAX_SPANS)) == SP_OK)
                    bm[nbm++] = (bmember){g[i].batch, SP_EV_NONE, (uint32_t)(base + i), g[i].start, g[i].end, -1,
                                          -1};
            }
            if (maybe) {
                o->fragments++;
                o->fragment_spans += n;
            }
            continue;
        }
        char id[33];
        for (int i = 0; i < 16; i++)
            snprintf(id + 2 * i, 3, "%02x", g[rs].trace[i]);
        uint32_t req;
        if ((st = request_of(o, &g[rs], id, &req)))
            break;
        sp_ev_request *q = &ev->requests[req];
        if ((st = set_trace_context(o, req, &g[rs])))
            break;
        q->arrival_ns = g[rs].start;
        q->done_ns = g[rs].end;
        int64_t in = g[rs].input_tokens;
        for (size_t i = 0; i < n && in < 0; i++)
            in = g[i].input_tokens;
        if ((st = sp_ev_req_set_input_tokens(ev, req, in)))
            break;
        q->has_record = true;
        int oc = outcome_of(g, n, rs);
        if (oc >= 0)
            q->outcome = (uint8_t)oc;
        q->status = g[rs].http_status;
        size_t ab = sgl && q->status == 0 ? sgl_abort_span(g, n) : n;   /* SGLang's abort info (outcome_of) */
        if (ab < n)
            q->status = g[ab].http_status;
        for (size_t i = 0; i < n && st == SP_OK; i++) {
            if (i != rs && g[i].stage != SP_EV_NONE)
                st = sp_ev_add_span(ev, req, g[i].stage, g[i].start, g[i].end);
            if (st == SP_OK && g[i].has_batch) {
                if ((st = SP_GROW(bm, capbm, nbm + 1, OTLP_MAX_SPANS)) == SP_OK)
                    bm[nbm++] = (bmember){g[i].batch, req, (uint32_t)(base + i), g[i].start, g[i].end,
                                          g[i].batch_effective, g[i].batch_padded};
            }
        }
        bool placed = false;
        if (st == SP_OK && sgl)
            st = place_sglang(o, g, n, rs, req, &sg, &placed);
        if (st == SP_OK && !placed)
            st = place_latencies(o, g, n, rs, req, s_prefill, s_decode);
        if (st == SP_OK && o->tgi_handlers)
            st = place_tgi(o, g, n, base, rs, req, s_prefill, s_decode, s_inference);
        if (st == SP_OK && (o->ntoks || o->nsteps))
            st = place_servprof_tokens(o, g, n, rs, req);
        if (o->tj) {   /* its steps' request; its first step (g is in start order) */
            bool first = true;
            for (size_t i = 0; i < n; i++)
                if (g[i].tgi == TGI_SPAN_INFER) {
                    o->tj[base + i].req = req;
                    o->tj[base + i].first = first;
                    first = false;
                }
        }
    }
    /* batches: the window spans every span naming the batch; members are their requests */
    if (st == SP_OK && nbm) {
        qsort(bm, nbm, sizeof *bm, bmember_cmp);
        uint32_t *reqs = malloc(nbm * sizeof *reqs);
        uint32_t *toks = o->nsteps ? malloc(nbm * sizeof *toks) : NULL;
        uint8_t *phases = o->nsteps ? malloc(nbm) : NULL;
        if (!reqs || (o->nsteps && (!toks || !phases)))
            st = SP_ERR_NOMEM;
        for (size_t a = 0; a < nbm && st == SP_OK;) {
            size_t b = a, k = 0, with_phase = 0, without = nbm;
            uint64_t s = bm[a].start, e = bm[a].end;
            int64_t eff = -1, pad = -1, kv_used = -1, kv_cap = 0;
            for (; b < nbm && bm[b].batch == bm[a].batch; b++) {
                const ostep *sp = o->nsteps ? step_of(o, o->spans[bm[b].span].seq) : NULL;
                if (bm[b].req == SP_EV_NONE) {   /* the step's own span (sorted last): its KV cache */
                    if (sp && sp->kv_used >= 0)
                        kv_used = sp->kv_used;
                    if (sp && sp->kv_cap > 0)
                        kv_cap = sp->kv_cap;
                    continue;
                }
                if (k == 0 || reqs[k - 1] != bm[b].req) {
                    if (phases) {   /* the member's phase in the step, from its first span of it */
                        phases[k] = sp && sp->phase >= 0 ? (uint8_t)sp->phase : 0;
                        toks[k] = sp && sp->phase >= 0 ? (uint32_t)sp->tokens : 0;
                        if (sp && sp->phase >= 0)
                            with_phase++;
                        else if (without == nbm)
                            without = b;
                    }
                    reqs[k++] = bm[b].req;
                }
                if (bm[b].effective >= 0)
                    eff = bm[b].effective;
                if (bm[b].padded >= 0)
                    pad = bm[b].padded;
                if (bm[b].start < s)
                    s = bm[b].start;
                if (bm[b].end > e)
                    e = bm[b].end;
            }
            size_t at = a;
            a = b;
            if (k == 0)   /* only the own span of a step none of whose members is in the file */
                continue;
            if (with_phase && without != nbm) {
                /* a step (servprof export's) with a member span that gives no phase: which is it? */
                /* a step (servprof export's) with a member span that gives no phase: which is it? Under
                 * --lenient the span is counted and the batch read as a plain batch */
                const ospan *at_span = &o->spans[bm[without].span];
                st = skip_or_fail(o, sp_import_fail_at(o->ctx, at_span->line, at_span->column, SP_ERR_PARSE,
                                                       "span: batch %lld is a step (its other members' spans give "
                                                       SP_OTLP_STEP_PHASE "), but this member's span gives none",
                                                       (long long)bm[at].batch));
                if (st)
                    break;
                with_phase = 0;
            }
            uint32_t bi;
            if ((st = sp_ev_batch_ref(ev, file, bm[at].batch, &bi)) ||
                (st = sp_ev_batch_set_members(ev, bi, reqs, k)))
                break;
            sp_ev_batch *bt = &ev->batches[bi];
            bt->start_ns = s;
            bt->end_ns = e;
            bt->effective_tokens = eff;
            bt->padded_tokens = pad;
            bt->has_record = true;
            if (with_phase && (st = sp_ev_set_step(ev, bi, phases, toks, k, kv_used, kv_cap)))
                break;
        }
        free(reqs);
        free(toks);
        free(phases);
    }
    /* TGI's steps, then Triton's traces: batch ids after the file's own (servprof.batch) ones */
    int64_t first = 1;
    for (size_t i = 0; i < nbm; i++)
        if (bm[i].batch >= first)
            first = bm[i].batch < INT64_MAX - (int64_t)SP_TRITON_MAX_TRACES - (int64_t)OTLP_MAX_SPANS ? bm[i].batch + 1
                                                                                                      : first;
    if (st == SP_OK && o->tj)
        st = tgi_steps(o, &first);
    if (st == SP_OK && o->triton.n) {
        o->triton.first_batch_id = first;
        st = sp_triton_build(&o->triton);
    }
    free(bm);
    return st;
}

sp_status sp_import_otlp(sp_import_ctx *ctx)
{
    otlp o;
    memset(&o, 0, sizeof o);
    o.ctx = ctx;
    o.lenient = ctx->opt && ctx->opt->lenient;
    o.triton.ctx = ctx;
    o.triton.lenient = o.lenient;
    o.triton.skipped_what = "OTLP trace in Triton's layout";
    o.triton.request_ref = triton_request;
    o.triton.request_arg = &o;
    sp_ev_known_stages(ctx->ev, &o.ks);
    sp_json_limits lim;
    sp_json_limits_init(&lim);
    lim.max_depth = 64;
    lim.multiple_values = true;   /* JSON lines: one document per line */
    lim.no_double = true;         /* numbers are converted from their text exactly */
    sread *r = malloc(sizeof *r);
    if (r && !(r->links = malloc(OTLP_MAX_LINKS * sizeof *r->links))) {
        free(r);
        r = NULL;
    }
    if (r && !(r->toks = malloc(OTLP_MAX_EVENTS * sizeof *r->toks))) {
        free(r->links);
        free(r);
        r = NULL;
    }
    sp_status st = r ? sp_json_init_input(&o.lx, ctx->in, &lim) : SP_ERR_NOMEM;
    uint64_t docs = 0;
    while (st == SP_OK) {
        sp_json_token t;
        if (sp_json_next(&o.lx, &t)) {
            st = sp_json_fail(&o.lx, o.ctx);
            break;
        }
        if (t.type == SP_JSON_EOF)
            break;
        if (t.type != SP_JSON_OBJ_BEGIN) {
            st = sp_import_fail_at(o.ctx, t.line, t.column, SP_ERR_PARSE,
                         "expected an OTLP/JSON document ({\"resourceSpans\":[...]})");
            break;
        }
        docs++;
        /* A document names "resourceSpans"; one that names other members only (a servprof.events/1
         * record, {"foo":1}) is not OTLP trace data, and reading it as an empty document would give a
         * report of 0 requests. {} (an empty request, as the protobuf JSON mapping may write it) is
         * empty data, not an error. */
        uint32_t doc_line = t.line, doc_col = t.column;
        bool members = false, spans = false;
        for (;;) {
            if (sp_json_next(&o.lx, &t)) {
                st = sp_json_fail(&o.lx, o.ctx);
                break;
            }
            if (t.type == SP_JSON_OBJ_END) {
                if (members && !spans)
                    st = sp_import_fail_at(o.ctx, doc_line, doc_col, SP_ERR_PARSE,
                                           "expected an OTLP/JSON document ({\"resourceSpans\":[...]}); this "
                                           "one has no \"resourceSpans\"");
                break;
            }
            members = true;
            if (!key_is(&t, "resourceSpans")) {
                if (sp_json_skip(&o.lx)) {
                    st = sp_json_fail(&o.lx, o.ctx);
                    break;
                }
                continue;
            }
            if (sp_json_next(&o.lx, &t)) {
                st = sp_json_fail(&o.lx, o.ctx);
                break;
            }
            if (t.type != SP_JSON_ARR_BEGIN) {
                st = sp_import_fail_at(o.ctx, t.line, t.column, SP_ERR_PARSE, "\"resourceSpans\" must be an array");
                break;
            }
            spans = true;
            if ((st = walk_objects(&o, r, resource_member, "resourceSpans")))
                break;
        }
    }
    if (st == SP_OK && docs == 0)
        st = sp_import_fail_at(o.ctx, 1, 1, SP_ERR_PARSE, "no OTLP/JSON document (expected {\"resourceSpans\":[...]})");
    if (st == SP_OK)
        st = build(&o);
    if (st == SP_OK && o.n == 0 && ctx->ev->files[ctx->file].skipped == 0)
        sp_log(SP_LOG_WARN, "%s: no spans in the file's %llu OTLP/JSON document%s: no requests", ctx->name,
               (unsigned long long)docs, docs == 1 ? "" : "s");
    if (st == SP_OK && o.fragments)
        /* what the report cannot show: those traces are counted only as ignored records */
        sp_log(SP_LOG_WARN, "%s: left out %llu trace%s (%llu span%s) with no request span: no root span, no "
               "server span and no servprof.request attribute, e.g. a client's or a database's spans whose "
               "server span is in another file (docs/otlp.md, \"Requests\")", ctx->name,
               (unsigned long long)o.fragments, o.fragments == 1 ? "" : "s",
               (unsigned long long)o.fragment_spans, o.fragment_spans == 1 ? "" : "s");
    if (st == SP_OK && o.multi_lat_traces)
        sp_log(SP_LOG_WARN, "%s: %llu trace%s hold%s more than one span with gen_ai.latency.* attributes: %llu span%s "
               "left out, as one trace is one request (its request span's latencies are read, else the "
               "earliest span's); vLLM's v1 engine writes one llm_request span per sequence of a request with "
               "n > 1, all in the trace of the caller's traceparent (docs/otlp.md, \"vLLM's latency "
               "attributes\")", ctx->name, (unsigned long long)o.multi_lat_traces, o.multi_lat_traces == 1 ? "" : "s",
               o.multi_lat_traces == 1 ? "s" : "", (unsigned long long)o.multi_lat_spans,
               o.multi_lat_spans == 1 ? "" : "s");
    if (st == SP_OK && o.tgi_requests && !o.tgi_batch_traces)
        /* no batch trace to join: the counts of the joining would all read 0 */
        sp_log(SP_LOG_WARN, "%s: %llu request%s read in text-generation-inference's layout: validation_time and "
               "queue_time are the preprocess and queue stages; the file has no batch traces, so no generation "
               "steps: each request's inference_time is one stretch of the model's unmeasured time (prefill "
               "and decode stages split at the first send_generation span, else one inference stage), with no "
               "kernel split, padding or KV-cache figures, and a stream cut by its client reads as an error "
               "(docs/otlp.md, \"text-generation-inference\")", ctx->name,
               (unsigned long long)o.tgi_requests, o.tgi_requests == 1 ? "" : "s");
    else if (st == SP_OK && o.tgi_requests)
        /* what TGI's spans cannot show, and how its batches were joined (docs/otlp.md,
         * "text-generation-inference") */
        sp_log(SP_LOG_WARN, "%s: %llu request%s read in text-generation-inference's layout: validation_time and "
               "queue_time are the preprocess and queue stages; %llu batch trace%s read as generation steps, "
               "joined through the links of their infer spans to %llu request%s, whose inference is then those "
               "steps and the time between them (%llu of them with some steps not found keep%s inference_time "
               "as prefill and decode stages outside the steps found; %llu request%s with no step found keep%s "
               "them whole); %llu batch trace%s with no member found left out, "
               "%llu member%s that a batch_size counts not found (links to spans not in the file); the steps "
               "have no device time, so their windows are the model's unmeasured time (no kernel split, "
               "padding or KV-cache figures), a prefill member counts 1 token unless the request gives its "
               "prompt's, and a stream cut by its client reads as an error (docs/otlp.md, "
               "\"text-generation-inference\")", ctx->name,
               (unsigned long long)o.tgi_requests, o.tgi_requests == 1 ? "" : "s",
               (unsigned long long)o.tgi_batch_traces, o.tgi_batch_traces == 1 ? "" : "s",
               (unsigned long long)(o.tgi_stepped + o.tgi_partial), o.tgi_stepped + o.tgi_partial == 1 ? "" : "s",
               (unsigned long long)o.tgi_partial, o.tgi_partial == 1 ? "s" : "",
               (unsigned long long)(o.tgi_requests - o.tgi_stepped - o.tgi_partial),
               o.tgi_requests - o.tgi_stepped - o.tgi_partial == 1 ? "" : "s",
               o.tgi_requests - o.tgi_stepped - o.tgi_partial == 1 ? "s" : "",
               (unsigned long long)o.tgi_batch_empty, o.tgi_batch_empty == 1 ? "" : "s",
               (unsigned long long)o.tgi_missing, o.tgi_missing == 1 ? "" : "s");
    if (st == SP_OK && (o.sgl_requests || o.sgl_cut || o.sgl_other_module)) {
        /* what SGLang's spans give and what was not read, once per file (docs/otlp.md, "SGLang") */
        char names[SGL_N_UNMAPPED * 48] = "";
        size_t len = 0;
        uint64_t unmapped = 0;
        for (size_t i = 0; i < SGL_N_UNMAPPED; i++)
            if (o.sgl_unmapped[i]) {
                unmapped += o.sgl_unmapped[i];
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s %llu", len ? ", " : "",
                                        g_sgl_unmapped[i], (unsigned long long)o.sgl_unmapped[i]);
            }
        sp_log(SP_LOG_WARN, "%s: %llu request%s read in SGLang's layout: tokenize is the preprocess stage, "
               "dispatch and request_process stages of their own, prefill_waiting and decode_waiting the queue, "
               "prefill_forward and decode_forward the prefill and decode stages (the model's time whole: no "
               "kernel split, padding or KV-cache figures), the first token at prefill_forward's end and one "
               "at each decode_loop's end (the scheduler's times, before the detokenizer); %llu of them with no "
               "prefill or decode slice read from their gen_ai.latency.* attributes as vLLM's; not read: %llu slice%s servprof does not "
               "map%s%s%s, %llu chunked_prefill slice%s (inside prefill_forward), %llu span%s of other names, "
               "%llu span event%s (schedule, retract); %llu trace%s cut short read as %s (%llu span%s with "
               "no request root span: the export ended before the request did, so no stages); left out: "
               "%llu trace%s of another module (e.g. sglang::mooncake's KV transfers); %llu request%s with more than one Req span "
               "(PD disaggregation's prefill and decode servers, not mapped: the earliest is the request, "
               "the others' slices its stages) (docs/otlp.md, \"SGLang\")", ctx->name,
               (unsigned long long)o.sgl_requests, o.sgl_requests == 1 ? "" : "s",
               (unsigned long long)o.sgl_attrs_only, (unsigned long long)unmapped, unmapped == 1 ? "" : "s",
               unmapped ? " (" : "", names, unmapped ? ")" : "",
               (unsigned long long)o.sgl_chunked, o.sgl_chunked == 1 ? "" : "s",
               (unsigned long long)o.sgl_unknown, o.sgl_unknown == 1 ? "" : "s",
               (unsigned long long)o.sgl_events, o.sgl_events == 1 ? "" : "s",
               (unsigned long long)o.sgl_cut, o.sgl_cut == 1 ? "" : "s",
               o.sgl_cut == 1 ? "an unfinished request" : "unfinished requests",
               (unsigned long long)o.sgl_cut_spans, o.sgl_cut_spans == 1 ? "" : "s",
               (unsigned long long)o.sgl_other_module, o.sgl_other_module == 1 ? "" : "s",
               (unsigned long long)o.sgl_multi_req, o.sgl_multi_req == 1 ? "" : "s");
    }
    if (st == SP_OK && o.negative_lat_spans)
        sp_log(SP_LOG_WARN, "%s:%u:%u: %llu span%s (the first here) carr%s a negative gen_ai.latency.* value, read as "
               "not measured: vLLM's v1 engine computes them from timestamps a request never reached, e.g. "
               "time_in_model_prefill of a request that finished without a token (docs/otlp.md, \"vLLM's latency "
               "attributes\")", ctx->name, o.negative_line, o.negative_col, (unsigned long long)o.negative_lat_spans,
               o.negative_lat_spans == 1 ? "" : "s", o.negative_lat_spans == 1 ? "ies" : "y");
    if (st == SP_OK) {
        /* OTLP times are Unix times already */
        ctx->ev->files[ctx->file].has_unix_offset = true;
        ctx->ev->files[ctx->file].unix_offset_ns = 0;
        if (o.price_per_hour > 0)
            ctx->ev->files[ctx->file].price_per_hour = o.price_per_hour;
        /* at least one request's: the mark's count is of requests (sp_ev_file.model_inference), and the
         * export says only that the file has some */
        if (o.model_inference && !ctx->ev->files[ctx->file].model_inference)
            ctx->ev->files[ctx->file].model_inference = 1;
        /* the report says the recorder did not close it, as the original's did, and that the end
         * record was missing from the trace exported to this file (the export itself is whole); its
         * requests each came with a record (their spans), so the mark makes none of them unfinished */
        if (o.unclean) {
            ctx->ev->files[ctx->file].end = SP_TRACE_END_UNCLEAN;
            ctx->ev->files[ctx->file].end_by_export = true;
        }
    }
    if (st == SP_OK && ctx->err && ctx->errlen)
        ctx->err[0] = '\0';
    sp_json_fini(&o.lx);
    if (r) {
        free(r->links);
        free(r->toks);
    }
    free(r);
    free(o.toks);
    free(o.steps);
    free(o.spans);
    free(o.links);
    free(o.tj);
    free(o.tri);
    free(o.tgih);
    free(o.tri_req);
    sp_triton_set_free(&o.triton);
    return st;
}
