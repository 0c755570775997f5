/* Internal layout of the event model (DESIGN section 2) and its builder interface: the model's door
 * for the parts that fill it and the parts that analyse it. Importers (src/import) fill it through
 * the sp_ev_* functions below; the analyzer (src/analyze) and the what-if simulator (src/whatif, which
 * replays the same requests and batches) read the arrays directly after sp_ev_finish. Nothing else
 * includes it: the report writers read a set through events_view.h and loss_text.h, the CLI through
 * servprof/events.h. Inside the model calls go one way: view.c and loss.c use events.c, events.c uses
 * clock.c, events.c, clock.c and gen.c use cold.c (the requests' side records), and events.c and
 * clock.c use reqid.c (a request's id as text or number) (tests/cli/part_doors.sh checks both).
 * Everything is indexed by uint32_t; limits are SP_EV_MAX_* (hard caps, SP_ERR_LIMIT). */
#ifndef SERVPROF_EVENTS_INT_H
#define SERVPROF_EVENTS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "common/hmap.h"
#include "model/loss_text.h"
#include "servprof/events.h"
#include "servprof/trace.h"

#define SP_EV_MAX_RECORDS (1u << 30)      /* per array */
#define SP_EV_MAX_STRING 4096u            /* bytes in one interned string */
#define SP_EV_NONE UINT32_MAX             /* "no index" */
#define SP_TIME_NONE UINT64_MAX           /* "no time" */
#define SP_EV_MAX_FILES 65536u           /* files in one set (sp_ev_activity.file is 16 bits) */
#define SP_EV_SPAN_STAGES 16u             /* distinct span stage ids listed (sp_events.span_stages) */

/* Interned strings: offsets into one growing arena, deduplicated through hash maps (hmap.h). */
typedef struct sp_strtab {
    char *arena;
    size_t used, cap;
    sp_hmap text;         /* hash of the text -> string offset (hashed keys) */
    /* Canonical decimal strings ("0", "42": digits only, no leading zero, at most UINT64_MAX) are
     * kept here, keyed by their value, instead of in text: the usual sequential request ids then
     * sit in neighbouring slots, so interning millions of them is not a cache miss each. */
    sp_hmap num;          /* decimal strings interned by value: value -> string offset */
} sp_strtab;

/* Interned string id: offset into the arena. SP_EV_NONE means none. */
typedef uint32_t sp_str;

/* A request (server side). What every analysis reads sits here, 48 bytes; the fields only some
 * traces set (the client side of a merged load-generator trace, generation tokens, a W3C trace
 * context) sit in a side record, sp_ev_request_cold, that only the requests having one get: a
 * server-only trace of millions of requests then keeps half the bytes (docs/analysis.md section 8,
 * "Memory"). Read the cold fields through sp_ev_cold(), which gives the defaults for a request
 * without one; write them through sp_ev_cold_get(). 48 bytes, was 64, with no value lost: the input
 * tokens take 4 bytes where they fit (a count past them goes to the side record: read and write them
 * through sp_ev_req_input_tokens and sp_ev_req_set_input_tokens), the file 2 (a set takes at most
 * SP_EV_MAX_FILES), the HTTP status (0..SP_EV_MAX_STATUS), the outcome and the two flags share 2,
 * and the batch count is where the next request's list starts (batch lists are laid out in request
 * order: read it through sp_ev_req_nbatches). */
typedef struct sp_ev_request {
    uint64_t arrival_ns;     /* SP_TIME_NONE until a request record is seen */
    uint64_t done_ns;
    sp_str id;               /* the caller's id as text; when id_num, instead the low 32 bits of a number
                                (id_hi the high ones): the id is that number's decimal text, kept as the
                                number (reqid.c). Read it through sp_ev_id_text / sp_ev_id_key, never
                                sp_str_get, except where arrival_ns and done_ns do not make a well-formed
                                interval: sp_ev_finish gives every such request its text (the analysis'
                                messages name it with sp_str_get) */
    uint32_t id_hi;          /* when id_num: the number's high 32 bits */
    uint32_t first_span;     /* after sp_ev_finish: spans of this request are
                                spans[first_span .. first_span+nspans) */
    uint32_t nspans;
    uint32_t first_batch;    /* after sp_ev_finish: its list is req_batches[first_batch ..
                                first_batch + sp_ev_req_nbatches) */
    uint32_t cold;           /* its side record: index into req_colds[], or SP_EV_NONE (all defaults) */
    int32_t in_tokens;       /* input tokens, < 0: unknown; SP_EV_TOKENS_WIDE: a count outside 32 bits,
                                in the side record (sp_ev_req_input_tokens) */
    uint16_t file;           /* which loaded file it came from (ids are per file); < SP_EV_MAX_FILES */
    uint16_t status : 10;    /* HTTP status the outcome came with, 0..SP_EV_MAX_STATUS; 0: none */
    uint16_t outcome : 4;    /* sp_outcome (trace.h); SP_OUTCOME_OK unless a record says otherwise.
                                sp_ev_finish makes a request that records name but that has no
                                request record, in an unclean file that lost nothing,
                                SP_OUTCOME_UNFINISHED, and gives it as arrival_ns the earliest time
                                its records give (docs/analysis.md section 0a) */
    uint16_t has_record : 1; /* a request record was seen (not only a reference) */
    uint16_t id_num : 1;     /* the id is a number (see id) */
} sp_ev_request;
_Static_assert(sizeof(sp_ev_request) == 48, "a request's hot record is 48 bytes");
#define SP_EV_MAX_STATUS 1023 /* the largest HTTP status a request record holds (10 bits); importers take 0..999 */
#define SP_EV_TOKENS_WIDE INT32_MIN /* sp_ev_request.in_tokens: the count is in the side record */
_Static_assert(SP_OUTCOME_COUNT <= 16, "an outcome fits sp_ev_request.outcome's 4 bits");

/* A request's rarely-set fields (see sp_ev_request). A request without a side record reads as
 * sp_ev_cold_none: every time SP_TIME_NONE, output_tokens -1, no tokens, no trace, no client. */
typedef struct sp_ev_request_cold {
    uint64_t client_intended_ns; /* SP_TIME_NONE unless merged with a client trace; after
                                    sp_ev_finish on the server's clock (the pair's offset applied) */
    uint64_t client_send_ns;
    uint64_t client_done_ns;
    int64_t client_offset_ns;    /* after sp_ev_finish: theta of the joined record's (client file,
                                    server file) pair (clock.c); 0 without one */
    uint64_t client_first_token_ns; /* after sp_ev_finish: the joined record's first token on the
                                       server clock; SP_TIME_NONE when none */
    /* generation (docs/generation.md): */
    int64_t output_tokens;   /* as the request record gives it; < 0: unknown (then the token records
                                say: the last index + 1) */
    uint32_t first_token;    /* after sp_ev_finish: tokens[first_token .. +ntokens), by index */
    uint32_t ntokens;
    uint32_t trace;          /* its W3C trace context: index into traces[], or SP_EV_NONE */
    uint32_t client;         /* after sp_ev_finish: the joined client record (index into clients[]), or
                                SP_EV_NONE */
    int64_t input_tokens;    /* the request's input tokens where they do not fit its record's 32 bits
                                (sp_ev_request.in_tokens is then SP_EV_TOKENS_WIDE); else unused (-1) */
} sp_ev_request_cold;
_Static_assert(sizeof(sp_ev_request_cold) <= 72, "a side record stays small");

/* The side record of a request that has none (cold.c). */
extern const sp_ev_request_cold sp_ev_cold_none;

typedef struct sp_ev_span {
    uint32_t req;            /* index into requests */
    sp_str stage;            /* stage name */
    uint64_t start_ns, end_ns;
} sp_ev_span;

/* A batch. The 8-byte fields first, then the 4-byte ones: 64 bytes, where `file` after `id` had
 * left 4 bytes of padding and made it 72. */
typedef struct sp_ev_batch {
    int64_t id;              /* the caller's id */
    uint64_t start_ns, end_ns;   /* SP_TIME_NONE until a batch record is seen */
    int64_t effective_tokens;    /* < 0: unknown */
    int64_t padded_tokens;       /* < 0: unknown */
    uint32_t file;
    uint32_t first_member;   /* members[first_member .. +nmembers) are request indexes */
    uint32_t nmembers;
    uint32_t device;
    uint32_t step;           /* index into steps: a generation step (docs/generation.md) with each
                                member's phase and tokens; SP_EV_NONE: a plain batch */
    bool has_record;
} sp_ev_batch;
_Static_assert(sizeof(sp_ev_batch) <= 64, "a batch record fits one cache line");

/* A member's phase in a generation step (docs/generation.md; native record 14's phase values). */
typedef enum sp_ev_phase {
    SP_EV_PHASE_DECODE = 0,        /* one new token */
    SP_EV_PHASE_PREFILL = 1,       /* the whole prompt, or its last chunk: the first token comes */
    SP_EV_PHASE_PREFILL_CHUNK = 2, /* a part of the prompt, more to come */
    SP_EV_PHASE_COUNT
} sp_ev_phase;

/* The phases' names in the JSONL format and servprof export's OTLP attribute, by sp_ev_phase ("decode",
 * "prefill", "prefill_chunk"; gen.c). */
extern const char *const sp_ev_phase_names[SP_EV_PHASE_COUNT];
/* The phase named by s[0..n), or -1 when it names none. */
int sp_ev_phase_of(const char *s, size_t n);

/* What a step adds to its batch: per member (in the batch's member order) the phase and how many of
 * its tokens the step computed, and the KV cache after the step. */
typedef struct sp_ev_step {
    uint32_t batch;              /* index into batches */
    uint32_t first;              /* step_members[first .. first + the batch's nmembers) */
    int64_t kv_used_tokens;      /* < 0: unknown */
    int64_t kv_capacity_tokens;  /* <= 0: unknown */
} sp_ev_step;

typedef struct sp_ev_step_member {
    uint32_t tokens;
    uint8_t phase;               /* sp_ev_phase */
} sp_ev_step_member;

/* One output token of a request, when it left the server (docs/generation.md). */
typedef struct sp_ev_token {
    uint32_t req;                /* index into requests */
    uint64_t index;              /* 0-based, in output order */
    uint64_t time_ns;
} sp_ev_token;

/* Device activity: kernels, copies, memsets and syncs. 48 bytes (it was 64): a kernel has a name and
 * no byte count, a copy or memset a byte count and no name, a sync neither, so the two share 8 bytes
 * (`nb`, the kind says which: read them through sp_ev_act_name and sp_ev_act_bytes); the stream, a
 * 64-bit value in some formats, is an index into the set's table of distinct streams (read it
 * through sp_ev_act_stream); and the file takes 2 bytes (sp_ev_add_file refuses more than
 * SP_EV_MAX_FILES files). On a 100 M-event trace of 19 M activities that is 306 MB less. */
typedef struct sp_ev_activity {
    uint64_t start_ns, end_ns;
    uint64_t correlation;    /* 0: none */
    union {
        uint64_t bytes;      /* copies and memsets (SP_ACT_H2D .. SP_ACT_COPY_OTHER) */
        sp_str name;         /* kernels: the kernel's name (SP_EV_NONE: none) */
    } nb;                    /* syncs: 0, read as neither */
    uint32_t stream_ix;      /* index into the set's streams[] (sp_ev_stream_id) */
    uint32_t batch;          /* index into batches, or SP_EV_NONE (tie by window) */
    uint32_t device;
    uint16_t file;           /* < SP_EV_MAX_FILES */
    uint8_t kind;            /* sp_act_kind */
    /* Set only by an importer under hta_compat (Kineto): HTA's rounding (start up, end down to whole
     * us) puts this event's end 1 us before its start, a sub-us event that holds no whole us. The
     * model keeps end_ns = start_ns (ends never precede starts here); the analyzer's HTA-compatible
     * figures use start - 1 us as HTA does (docs/analysis.md section 4). */
    uint8_t hta_end_early;
} sp_ev_activity;
_Static_assert(sizeof(sp_ev_activity) == 48, "an activity record is 48 bytes");

/* The kernel's name; SP_EV_NONE for every other kind. */
static inline sp_str sp_ev_act_name(const sp_ev_activity *x)
{
    return x->kind == SP_ACT_KERNEL ? x->nb.name : SP_EV_NONE;
}

/* Whether activities of `kind` carry a byte count (copies and memsets). */
static inline bool sp_ev_act_kind_has_bytes(uint8_t kind)
{
    return kind != SP_ACT_KERNEL && kind != SP_ACT_SYNC;
}

/* The copy's or memset's byte count; 0 for kernels and syncs. */
static inline uint64_t sp_ev_act_bytes(const sp_ev_activity *x)
{
    return sp_ev_act_kind_has_bytes(x->kind) ? x->nb.bytes : 0;
}

/* Host-side launch call (cudaLaunchKernel etc.) for launch statistics. */
typedef struct sp_ev_launch {
    uint64_t start_ns, end_ns;
    uint64_t correlation;
    sp_str name;
    uint32_t file;
} sp_ev_launch;

/* Where a step mark comes from (sp_ev_mark). */
typedef enum sp_mark_kind {
    SP_MARK_PROFILER_STEP = 0,  /* Kineto ProfilerStep#N (torch.profiler's schedule) */
    SP_MARK_USER_RANGE,         /* a top-level record_function range (Kineto user_annotation) */
    SP_MARK_NVTX,               /* a top-level NVTX push/pop range (Nsight Systems) */
    SP_MARK_KIND_COUNT
} sp_mark_kind;

/* A host-side range that marks one forward pass or training step (docs/analysis.md section 4,
 * "Steps"): the GPU-only verdict tells idle time inside the steps (starved forward passes) from idle
 * time outside them (no work sent). */
typedef struct sp_ev_mark {
    uint64_t start_ns, end_ns;  /* end >= start */
    sp_str name;
    uint32_t file;
    uint8_t kind;               /* sp_mark_kind */
} sp_ev_mark;

/* A client-side record from the load generator's trace ("ev":"client"): joined at sp_ev_finish to
 * the server request with the same id text in any file (the client's ids are the server's, sent as
 * X-Request-Id), else to the request whose recorded trace context has the client's trace id (sent as
 * traceparent). Unjoined client records are counted, not errors. Times are on the client's clock
 * as recorded; the joined request gets them mapped onto its server's clock (clock.c). */
typedef struct sp_ev_client {
    sp_str id;
    uint64_t intended_ns;    /* when the open-loop schedule meant to send it */
    uint64_t send_ns;        /* when it was actually sent */
    uint64_t done_ns;        /* when the response was fully received */
    int32_t status;          /* HTTP status, or < 0 for a transport error */
    uint32_t file;
    /* streamed generation (docs/generation.md), on the client's clock: */
    uint64_t first_token_ns; /* the first content chunk's arrival; SP_TIME_NONE: none */
    int64_t output_tokens;   /* < 0: unknown */
    uint32_t first_ctok, n_ctok; /* client_tokens[first_ctok .. +n_ctok): each token's arrival */
    bool has_trace;          /* the client sent a W3C traceparent for it: */
    uint8_t trace_id[16];    /* its trace id */
    uint8_t span_id[8];      /* and the client's span (the server's parent) */
    bool by_trace;           /* after sp_ev_finish: joined by trace id, its id text matching no request */
    bool id_is_trace;        /* set by sp_ev_add_client: the id text is 32 hex digits, a trace id: */
    uint8_t id_trace[16];    /* those digits' bytes (a client that knows its requests by trace id) */
} sp_ev_client;

/* A property of one file's trace (docs/native-format.md "Properties"): e.g. "device" -> "cpu",
 * "policy.max_batch" -> "16". Keys are unique per file; a later value replaces an earlier one. */
typedef struct sp_ev_prop {
    uint32_t file;
    sp_str key, value;
} sp_ev_prop;

typedef struct sp_ev_file {
    sp_str path;
    sp_format format;
    double price_per_hour;   /* from the trace's meta; <= 0 unknown */
    uint64_t drops[SP_DROP_CAUSE_COUNT];
    uint64_t skipped;        /* malformed records skipped (lenient) */
    uint64_t ignored;        /* well-formed records of kinds this version does not know (forward
                                compatibility: skipped, not errors) */
    /* data lost (sp_file_loss in events.h; docs/native-format.md "Reading rule") */
    uint64_t lost_blocks, lost_bytes, lost_regions;
    sp_lost_region lost[SP_LOSS_MAX_REGIONS]; /* the first lost_regions of them */
    uint64_t undecodable;    /* records using a name defined only in a lost block */
    uint64_t orphaned;       /* requests and batches whose own record was lost (sp_ev_finish) */
    uint8_t end;             /* sp_trace_end: the native importer sets it (and the OTLP importer, from
                                servprof export's servprof.trace_end) */
    bool end_by_export;      /* the OTLP importer set `end` unclean from servprof.trace_end: the file is
                                whole, the trace exported to it had no end record (sp_file_loss) */
    uint64_t unfinished_batches; /* after sp_ev_finish: batches of an unclean file that lost nothing,
                                    named by device activity without a batch record (in flight at
                                    the end: left out) */
    uint64_t last_ns;        /* after sp_ev_finish: the latest time any record of the file gives (its
                                trace's end, where unfinished requests' time is measured to);
                                SP_TIME_NONE when it gives none */
    uint64_t training_ranges; /* host ranges only a training step runs (Kineto: autograd's backward
                                 nodes, optimizer steps): the file profiles training, and its step marks
                                 are training steps, not forward passes (docs/analysis.md section 4,
                                 "Steps") */
    uint64_t model_inference; /* requests given a stage "inference" that the importer derived from an
                                 engine's model timing (TGI's inference_time without a send_generation
                                 span, docs/otlp.md): the model's time as a whole, not a stage of the
                                 user's own (docs/analysis.md section 6, "Model time"); 1 where the
                                 file says so (an OTLP resource's servprof.model_stages, as servprof
                                 export writes it, or a JSONL meta's model_stages: only that it has
                                 some) */
    bool has_unix_offset;    /* the trace ties its clock to Unix time (a native meta record's realtime
                                at open, a JSONL meta's unix_offset_ns; OTLP times are Unix times): */
    int64_t unix_offset_ns;  /* a time of this file + unix_offset_ns = ns since the Unix epoch */
    bool span_done;          /* the loader (import.c) has measured the three fields below (only once a
                                second file is loaded: one file needs no check) */
    bool has_span;           /* the loader saw requests, batches or device work in the file, */
    uint64_t span_lo_ns, span_hi_ns; /* from this earliest start to this latest end, as loaded: the
                                        check that several files share a clock */
    uint64_t span_records;   /* how many requests, batches and device work records it loaded: with
                                the span, the check that a file was not given twice (a copy) */
    bool clock_shifted;      /* the loader moved every time of the file onto an earlier file's clock by
                                their wall-clock anchors (import.c, align_file; docs/cli.md): */
    int64_t clock_shift_ns;  /* by this much (added to each time as recorded; unix_offset_ns then is
                                the earlier file's) */
    uint32_t clock_onto;     /* onto this file's clock */
} sp_ev_file;

#define SP_GROW_ARRAY(name, type) type *name; size_t n_##name, cap_##name

struct sp_events {
    sp_strtab strings;
    SP_GROW_ARRAY(requests, sp_ev_request);
    SP_GROW_ARRAY(req_colds, sp_ev_request_cold); /* requests' side records (sp_ev_request.cold) */
    /* The numeric ids' decimal texts for the event view, made when a view reader first asks (view.c):
     * request i's at num_text + i * SP_EV_ID_TEXT, NUL-terminated, for the first num_texts requests */
    char *num_text;
    size_t num_texts;
    SP_GROW_ARRAY(spans, sp_ev_span);
    /* The distinct stage ids of every span appended (sp_ev_add_span), so a superset of the stages of
     * the spans the set holds (a failed load takes its spans back, not their stages): at most
     * SP_EV_SPAN_STAGES of them; span_stages_over when there were more, and the list then says
     * nothing. span_stage_seen[stage % 8] holds stage + 1 for a listed id (0: none), so that most
     * appends look at one word. The partition reads the list (partition.c, select_requests). */
    sp_str span_stages[SP_EV_SPAN_STAGES];
    uint32_t n_span_stages;
    bool span_stages_over;
    uint64_t span_stage_seen[8];
    SP_GROW_ARRAY(batches, sp_ev_batch);
    SP_GROW_ARRAY(members, uint32_t);
    SP_GROW_ARRAY(acts, sp_ev_activity);
    /* The distinct stream values of the activity (sp_ev_activity.stream_ix indexes them), in first-seen
     * order, and the map from a value to its index (sp_ev_stream_id); stream_last caches the index
     * last asked for, as activities come in runs on one stream. A failed load leaves its streams in
     * the table, unused. */
    SP_GROW_ARRAY(streams, int64_t);
    sp_hmap stream_map;
    uint32_t stream_last;
    SP_GROW_ARRAY(launches, sp_ev_launch);
    SP_GROW_ARRAY(files, sp_ev_file);
    SP_GROW_ARRAY(clients, sp_ev_client);
    SP_GROW_ARRAY(props, sp_ev_prop);
    SP_GROW_ARRAY(marks, sp_ev_mark);
    SP_GROW_ARRAY(steps, sp_ev_step);            /* generation (gen.c) */
    SP_GROW_ARRAY(step_members, sp_ev_step_member);
    SP_GROW_ARRAY(tokens, sp_ev_token);
    SP_GROW_ARRAY(client_tokens, uint64_t);
    SP_GROW_ARRAY(traces, sp_trace_context); /* requests' trace contexts (sp_ev_request.trace) */
    size_t clients_unjoined;  /* after sp_ev_finish: no recorded request has the id */
    size_t clients_unfinished; /* after sp_ev_finish: the id is only an unfinished request's (its
                                  server record never came: the trace ended first) */
    size_t clients_failed;    /* after sp_ev_finish: transport errors (status < 0 but -5, -6), never joined */
    size_t clients_failed_streams; /* after sp_ev_finish: status -6 (SP_LOAD_ERR_STREAM): a 2xx whose
                                      event stream failed (no [DONE], an error event, ...); never joined */
    size_t clients_unsent;    /* after sp_ev_finish: status -5 (SP_LOAD_ERR_UNSENT): never sent (the run
                                 stopped before they could be sent); never joined */
    size_t clients_duplicate; /* after sp_ev_finish: another record for the same request was joined */
    size_t clients_unfinished_answered; /* after sp_ev_finish: of clients_unfinished, those with a
                                           status (an answer reached the client) */
    size_t clients_unjoined_2xx;      /* after sp_ev_finish: clients_unjoined by the status the client */
    size_t clients_unjoined_rejected; /* got: 2xx, 429 or 503, any other (the three add up to it) */
    size_t clients_unjoined_other;
    size_t clients_failed_unmatched;  /* after sp_ev_finish: of clients_failed, those whose id (nor
                                         trace id) no request has, finished or not */
    size_t clients_timed_out_ok;      /* after sp_ev_finish: of clients_failed, time-outs (status -2,
                                         SP_LOAD_ERR_TIMEOUT) whose request the server answered ok:
                                         the client gave up before the answer came */
    size_t clients_by_trace;  /* after sp_ev_finish: joined by trace id (their id text matched none) */
    size_t trace_matched;     /* after sp_ev_finish: joined pairs that both carry a trace context and
                                 agree (one trace id; the request's parent is the client's span) */
    size_t trace_mismatched;  /* after sp_ev_finish: ... and disagree */
    sp_clock_mode clock_mode; /* how client times map onto server clocks (sp_ev_set_clock) */
    int64_t clock_offset_ns;  /* theta for SP_CLOCK_FIXED */
    sp_clock_offset *clock_offsets; /* after sp_ev_finish: one per (client file, server file) pair
                                       that joined, sorted by server file then client file */
    size_t n_clock_offsets;
    uint32_t *req_batches;   /* after sp_ev_finish: batch indexes per request (see first_batch) */
    size_t n_req_batches;
    sp_hmap req_map;         /* (file, text id) -> request index (events.c: req_key) */
    sp_hmap batch_map;       /* (file, batch id) -> batch index (events.c: batch_key); a native
                                file's batches are not in it (sp_ev_batch_new) until
                                sp_ev_rebuild_maps enters every batch */
    bool finished;           /* sp_ev_finish ran; adding more events clears it */
    bool released;           /* an analysis with release_events freed arrays it had done with
                                (sp_ev_release_*): only the files, properties and strings are left
                                to read; everything else is SP_ERR_STATE */
    bool has_client;         /* some request carries client-side times */
    bool load_skippable;     /* the last load failed on a record lenient skips (sp_events_load_skippable) */
};

/* Request `r`'s side record for reading: its own, or sp_ev_cold_none when it has none. */
static inline const sp_ev_request_cold *sp_ev_cold(const struct sp_events *ev, const sp_ev_request *r)
{
    return r->cold == SP_EV_NONE ? &sp_ev_cold_none : &ev->req_colds[r->cold];
}

/* Request r's input tokens (< 0: unknown), as its record was given them. */
static inline int64_t sp_ev_req_input_tokens(const struct sp_events *ev, const sp_ev_request *r)
{
    return r->in_tokens != SP_EV_TOKENS_WIDE ? r->in_tokens : ev->req_colds[r->cold].input_tokens;
}

/* Request r's batch count, after sp_ev_finish (its list ends where the next request's starts: the
 * lists are laid out in request order, batch_lists_place). */
static inline uint32_t sp_ev_req_nbatches(const struct sp_events *ev, const sp_ev_request *r)
{
    size_t i = (size_t)(r - ev->requests);
    return (i + 1 < ev->n_requests ? r[1].first_batch : (uint32_t)ev->n_req_batches) - r->first_batch;
}

/* Activity x's stream, as its trace gave it. */
static inline int64_t sp_ev_act_stream(const struct sp_events *ev, const sp_ev_activity *x)
{
    return ev->streams[x->stream_ix];
}

/* ---- Building (importers). Each returns SP_OK, SP_ERR_NOMEM or SP_ERR_LIMIT. ---- */

/* The index of stream value `stream` in the set's table (sp_ev_activity.stream), entering it when new. */
sp_status sp_ev_stream_id_add(struct sp_events *ev, int64_t stream, uint32_t *out);
static inline sp_status sp_ev_stream_id(struct sp_events *ev, int64_t stream, uint32_t *out)
{
    if (ev->stream_last < ev->n_streams && ev->streams[ev->stream_last] == stream) {
        *out = ev->stream_last;
        return SP_OK;
    }
    return sp_ev_stream_id_add(ev, stream, out);
}
/* Interns `len` bytes (not NUL-terminated) and writes the id to `*out`. */
sp_status sp_str_intern(sp_strtab *t, const char *s, size_t len, sp_str *out);
/* NUL-terminated text of an interned string; "" for SP_EV_NONE. (Inline: every part of the model may
 * read strings without calling the file that interns them.) */
static inline const char *sp_str_get(const sp_strtab *t, sp_str id)
{
    if (id == SP_EV_NONE || !t->arena || id >= t->used)
        return "";
    return t->arena + id;
}
/* Finds without interning: SP_EV_NONE if absent. */
sp_str sp_str_find(const sp_strtab *t, const char *s, size_t len);

/* A few recently interned strings (or looked-up requests) of one importer: names repeat line after
 * line (stage, kernel and launch names; a request's id on its stage lines), and comparing a handful of
 * short strings is cheaper than hashing and probing. Zero-initialise; valid for one sp_events. Each
 * hit is verified against the current text, so a cache can never answer wrongly (not valid across
 * sp_ev_request_set_id, which changes a request's text). */
#define SP_EV_CACHE_SLOTS 8
typedef struct sp_ev_cache {
    uint32_t v[SP_EV_CACHE_SLOTS];   /* id + 1; 0 = empty */
    uint32_t len[SP_EV_CACHE_SLOTS]; /* the text's length (interned text never holds a NUL) */
    uint32_t next;
} sp_ev_cache;
/* sp_str_intern through `c`. */
sp_status sp_str_intern_cached(sp_strtab *t, sp_ev_cache *c, const char *s, size_t len, sp_str *out);
/* Interns the decimal text of `v` (the same string sp_str_intern would give for it), without
 * formatting or hashing text. */
sp_status sp_str_intern_u64(sp_strtab *t, uint64_t v, sp_str *out);

/* ---- reqid.c: a request's id, text or number (sp_ev_request.id_num) ----
 * A native trace names its requests by u64; the model keeps such an id as the number (in the
 * request record: the id field and 4 bytes that were padding) instead of interning its decimal text (a
 * string in the arena and a slot of the value map, ~34 bytes a request).
 * Everything that reads an id reads it as the text it stands for: the same text as main's interned
 * one, the same order (strcmp of the texts, which is not numeric order: "10" < "9"), the same
 * equality with a text id in another file. The bottom of the model with cold.c: it calls no other
 * model file. */
#define SP_EV_ID_TEXT 21u  /* a number's decimal text (at most 20 digits) and its NUL */

/* Whether (s, len) is a canonical decimal u64 (digits only, no leading zero, at most UINT64_MAX): the
 * text sp_u64_dec writes for *v. */
bool sp_ev_dec_parse(const char *s, size_t len, uint64_t *v);
/* Whether interned string `s` is a canonical decimal u64, and which (*v). */
bool sp_ev_str_num(const sp_strtab *t, sp_str s, uint64_t *v);
/* Request `r`'s id text: its interned text, or its number's decimal text written into `buf` (which is
 * then returned). `*len` (may be NULL) gets the text's length. */
const char *sp_ev_id_text(const struct sp_events *ev, const sp_ev_request *r, char buf[SP_EV_ID_TEXT],
                          size_t *len);
/* Request `r`'s id text and `other`'s (len bytes, not NUL-terminated) are the same text. */
bool sp_ev_id_is(const struct sp_events *ev, const sp_ev_request *r, const char *other, size_t len);
/* The number of a request whose id is one (id_num). */
static inline uint64_t sp_ev_id_num(const sp_ev_request *r)
{
    return (uint64_t)r->id_hi << 32 | r->id;
}
/* A request's id as a sort key that needs no text for a numeric id: `text` the interned text (valid
 * while the set's strings are), or NULL and the number `num`. 16 bytes. */
typedef struct sp_ev_idkey {
    const char *text;
    uint64_t num;
} sp_ev_idkey;
sp_ev_idkey sp_ev_id_key(const struct sp_events *ev, const sp_ev_request *r);
/* Orders two keys as strcmp orders their texts (its sign; 0 when the texts are equal). */
int sp_ev_id_key_cmp(const sp_ev_idkey *a, const sp_ev_idkey *b);
/* The first eight bytes of the decimal text of `v` as a big-endian number, zero-padded (the latency
 * ranking's radix key, src/analyze/share.c id_prefix, without writing the text out). */
uint64_t sp_ev_num_prefix(uint64_t v);
/* For a numeric request id v, a key that orders as sp_ev_num_prefix(v) does (compared as numbers),
 * equal exactly when those are, in fewer varying bytes: the first eight digits padded with zeros to
 * eight digits, times 8, plus how many digits of the eight are v's own, minus 1 (below 2^30). The
 * latency ranking's first radix key when every id is numeric (src/analyze/share.c). */
uint64_t sp_ev_num_rank_key(uint64_t v);

/* For messages about what several files hold together: writes the paths of files[0..n) (every
 * file of `ev` when `files` is NULL) into buf, "a.jsonl", "a.jsonl, b.jsonl" or the first three and
 * "and N more files"; "(no file)" when there is none. Always NUL-terminates when len > 0. */
void sp_ev_files_label(const struct sp_events *ev, const uint32_t *files, size_t n, char *buf, size_t len);

/* Registers a new file; its index is the `file` argument of the calls below. */
sp_status sp_ev_add_file(struct sp_events *ev, const char *path, sp_format format, uint32_t *out_file);

/* Finds or creates the request with text id (`id`, `len`) in `file`; new ones have has_record false
 * and SP_TIME_NONE times. */
sp_status sp_ev_request_ref(struct sp_events *ev, uint32_t file, const char *id, size_t len,
                            uint32_t *out_req);
/* sp_ev_request_ref through `c` (request indexes). */
sp_status sp_ev_request_ref_cached(struct sp_events *ev, sp_ev_cache *c, uint32_t file, const char *id, size_t len,
                                   uint32_t *out_req);
/* Fast path for importers whose request ids are u64 (the native importer): creates a request of
 * `file` whose id is the decimal text of `id`, kept as the number (reqid.c), without consulting or
 * filling the per-file id map. The caller guarantees that no request of `file` has
 * that text yet (it keeps its own id -> request map), and must call sp_ev_request_index before any
 * text lookup in `file` (sp_ev_request_ref, sp_ev_request_set_id) so those see these requests. */
sp_status sp_ev_request_new_u64(struct sp_events *ev, uint32_t file, uint64_t id, uint32_t *out_req);
/* A new request's fields before any record sets them, its id the number `id` (reqid.c): the whole
 * 48-byte record is written, padding included, as request_init (events.c) writes a text one. */
static inline void sp_ev_request_init_num(sp_ev_request *r, uint64_t id, uint32_t file)
{
    memset(r, 0, sizeof *r);
    r->id = (sp_str)id;
    r->file = file;
    r->arrival_ns = r->done_ns = SP_TIME_NONE;
    r->in_tokens = -1;
    r->cold = SP_EV_NONE;
    r->id_num = true;
    r->id_hi = (uint32_t)(id >> 32);
}
/* sp_ev_request_new_u64, inline while the array has room (the native reader makes one a request
 * record: the call and its register saves were about half of its ~38 instructions); the growth
 * goes through the function. The same request, the same results. */
static inline sp_status sp_ev_request_add_u64(struct sp_events *ev, uint32_t file, uint64_t id, uint32_t *out_req)
{
    if (ev->n_requests >= ev->cap_requests)
        return sp_ev_request_new_u64(ev, file, id, out_req);
    uint32_t idx = (uint32_t)ev->n_requests++;
    sp_ev_request_init_num(&ev->requests[idx], id, file);
    ev->finished = false;
    *out_req = idx;
    return SP_OK;
}
/* sp_ev_request_ref for the decimal text of `id`, through the id map; a new request keeps `id` as a
 * number (reqid.c) and enters the map. */
sp_status sp_ev_request_ref_u64(struct sp_events *ev, uint32_t file, uint64_t id, uint32_t *out_req);
/* Enters requests [first, n_requests), all made by sp_ev_request_new_u64, into the id map. */
sp_status sp_ev_request_index(struct sp_events *ev, size_t first);
/* Enters every request and batch into emptied id maps again (after the arrays were cut back). */
sp_status sp_ev_rebuild_maps(struct sp_events *ev);
/* Gives request `req` the text id (`id`, `len`) in place of its current one, keeping the id map
 * right. Returns SP_ERR_INVALID if another request of the same file already has that id (nothing
 * changes then), SP_ERR_LIMIT / SP_ERR_NOMEM. */
sp_status sp_ev_request_set_id(struct sp_events *ev, uint32_t req, const char *id, size_t len);
/* Finds or creates the batch with integer id `id` in `file`. */
sp_status sp_ev_batch_ref(struct sp_events *ev, uint32_t file, int64_t id, uint32_t *out_batch);
/* Creates a batch with integer id `id` in `file` without entering it in batch_map: for an importer
 * that keeps its file's batch ids itself and never calls sp_ev_batch_ref for that file (the native
 * reader, native.c), which must not make the same (file, id) twice. SP_ERR_NOMEM, SP_ERR_LIMIT. */
sp_status sp_ev_batch_new(struct sp_events *ev, uint32_t file, int64_t id, uint32_t *out_batch);
/* Sets a batch's members (request indexes, copied). Replaces earlier members. */
sp_status sp_ev_batch_set_members(struct sp_events *ev, uint32_t batch, const uint32_t *reqs, size_t n);
/* sp_ev_batch_set_members without the copy, for an importer that has room for n members already
 * (n <= cap_members - n_members): it writes them at sp_ev_batch_members_free(ev)[0 .. n), then
 * commits; nothing is counted before the commit. The same members, first_member and counts. */
static inline uint32_t *sp_ev_batch_members_free(struct sp_events *ev)
{
    return ev->members + ev->n_members;
}
static inline void sp_ev_batch_commit_members(struct sp_events *ev, uint32_t batch, size_t n)
{
    ev->batches[batch].first_member = (uint32_t)ev->n_members;
    ev->batches[batch].nmembers = (uint32_t)n;
    ev->n_members += n;
    ev->finished = false;
}

/* The appends below: the array's growth (and its errors, SP_ERR_NOMEM and SP_ERR_LIMIT) out of line,
 * in events.c; the append into room already there inline, because the native importer makes one per
 * record (about 10 M for a 10 M-event trace) and the call, with the growth's register saves, cost
 * more than the append itself. The same result either way. */
sp_status sp_ev_add_span_grow(struct sp_events *ev, uint32_t req, sp_str stage, uint64_t start_ns,
                              uint64_t end_ns);
sp_status sp_ev_add_activity_grow(struct sp_events *ev, const sp_ev_activity *a);
sp_status sp_ev_add_launch_grow(struct sp_events *ev, const sp_ev_launch *l);
/* Room for one more activity (launch) in the array: SP_OK, SP_ERR_NOMEM, SP_ERR_LIMIT. */
sp_status sp_ev_room_activity(struct sp_events *ev);
sp_status sp_ev_room_launch(struct sp_events *ev);
/* Enters `stage` in the set's list of span stages (struct sp_events, span_stages). */
void sp_ev_note_span_stage(struct sp_events *ev, sp_str stage);

static inline sp_status sp_ev_add_span(struct sp_events *ev, uint32_t req, sp_str stage, uint64_t start_ns,
                                       uint64_t end_ns)
{
    if (ev->n_spans >= ev->cap_spans)
        return sp_ev_add_span_grow(ev, req, stage, start_ns, end_ns);
    ev->spans[ev->n_spans++] = (sp_ev_span){req, stage, start_ns, end_ns};
    if (ev->span_stage_seen[stage % 8] != (uint64_t)stage + 1)
        sp_ev_note_span_stage(ev, stage);
    ev->finished = false;
    return SP_OK;
}

static inline sp_status sp_ev_add_activity(struct sp_events *ev, const sp_ev_activity *a)
{
    if (ev->n_acts >= ev->cap_acts)
        return sp_ev_add_activity_grow(ev, a);
    ev->acts[ev->n_acts++] = *a;
    ev->finished = false;
    return SP_OK;
}

static inline sp_status sp_ev_add_launch(struct sp_events *ev, const sp_ev_launch *l)
{
    if (ev->n_launches >= ev->cap_launches)
        return sp_ev_add_launch_grow(ev, l);
    ev->launches[ev->n_launches++] = *l;
    ev->finished = false;
    return SP_OK;
}

/* The next activity's (launch's) place, zeroed, for a caller that fills it field by field and then
 * counts it (sp_ev_commit_activity, _launch): the same record as sp_ev_add_activity of a zeroed struct
 * filled the same way, without the struct on the caller's stack, whose copy read 16 bytes at a time
 * what had just been written 1 to 8 at a time, which the core cannot forward from its store buffer
 * (the native importer's stall at each kernel, copy and launch record). NULL: SP_ERR_NOMEM or
 * SP_ERR_LIMIT in *st; nothing is counted until the commit. */
static inline sp_ev_activity *sp_ev_activity_slot(struct sp_events *ev, sp_status *st)
{
    if (ev->n_acts >= ev->cap_acts && (*st = sp_ev_room_activity(ev)))
        return NULL;
    *st = SP_OK;
    sp_ev_activity *x = &ev->acts[ev->n_acts];
    memset(x, 0, sizeof *x);
    return x;
}

static inline void sp_ev_commit_activity(struct sp_events *ev)
{
    ev->n_acts++;
    ev->finished = false;
}

static inline sp_ev_launch *sp_ev_launch_slot(struct sp_events *ev, sp_status *st)
{
    if (ev->n_launches >= ev->cap_launches && (*st = sp_ev_room_launch(ev)))
        return NULL;
    *st = SP_OK;
    sp_ev_launch *x = &ev->launches[ev->n_launches];
    memset(x, 0, sizeof *x);
    return x;
}

static inline void sp_ev_commit_launch(struct sp_events *ev)
{
    ev->n_launches++;
    ev->finished = false;
}
sp_status sp_ev_add_client(struct sp_events *ev, const sp_ev_client *c);
/* Gives request `req` the trace context `ctx` (copied), replacing one it had. SP_ERR_INVALID when the
 * trace id or the span id is all zero (not valid W3C ids), SP_ERR_NOMEM, SP_ERR_LIMIT. */
sp_status sp_ev_request_set_trace(struct sp_events *ev, uint32_t req, const sp_trace_context *ctx);
/* Request `req`'s side record for writing, made (with sp_ev_cold_none's values) when it has none yet.
 * The pointer is good until the next side record is made. SP_ERR_NOMEM, SP_ERR_LIMIT. */
sp_status sp_ev_cold_get(struct sp_events *ev, uint32_t req, sp_ev_request_cold **out);
/* Gives request `req` `tokens` input tokens (< 0: unknown): in its record where they fit 32 bits, else
 * in its side record (made when it has none: SP_ERR_NOMEM, SP_ERR_LIMIT). */
sp_status sp_ev_req_set_input_tokens_wide(struct sp_events *ev, uint32_t req, int64_t tokens);
static inline sp_status sp_ev_req_set_input_tokens(struct sp_events *ev, uint32_t req, int64_t tokens)
{
    if (tokens > INT32_MIN && tokens <= INT32_MAX) {
        ev->requests[req].in_tokens = (int32_t)tokens;
        return SP_OK;
    }
    return sp_ev_req_set_input_tokens_wide(ev, req, tokens);
}
/* Adds a step mark (copied); SP_ERR_INVALID when it ends before it starts. */
sp_status sp_ev_add_mark(struct sp_events *ev, const sp_ev_mark *m);

/* Sets property `key` of `file` to `value` (both copied; a later call for the same key replaces the
 * value). At most SP_PROP_MAX_KEYS keys per file (SP_ERR_LIMIT); keys of 1..SP_PROP_MAX_KEY bytes,
 * values of at most SP_PROP_MAX_VALUE bytes (SP_ERR_INVALID otherwise). */
sp_status sp_ev_set_prop(struct sp_events *ev, uint32_t file, const char *key, size_t klen, const char *value,
                         size_t vlen);
/* The value of property `key` of `file`, or NULL when the file has none. */
const char *sp_ev_get_prop(const struct sp_events *ev, uint32_t file, const char *key);

/* Records that a stretch of `file` was lost (the native importer, once per region, in file order). */
void sp_ev_file_lost(struct sp_events *ev, uint32_t file, const sp_lost_region *region);
/* Whether `file` lost any of its bytes: references to records it lacks are then orphans, not errors. */
bool sp_ev_file_has_loss(const struct sp_events *ev, uint32_t file);
/* Fills `*out` from file `file` (which exists). */
void sp_ev_file_loss_of(const struct sp_events *ev, uint32_t file, sp_file_loss *out);

/* The order of batches where it matters (docs/analysis.md, "Ties"): by start, equal starts by file,
 * then by the trace's batch id, never by the position of a batch's first mention. A qsort key over
 * batch `idx` and its comparator. */
typedef struct sp_ev_batch_order {
    uint64_t start;
    uint32_t file;
    int64_t id;
    uint32_t idx;
} sp_ev_batch_order;
int sp_ev_batch_order_cmp(const void *a, const void *b);

/* Known stage names, interned at create: */
typedef struct sp_known_stages {
    sp_str preprocess, queue, postprocess, network;
} sp_known_stages;
void sp_ev_known_stages(struct sp_events *ev, sp_known_stages *out);

/* Sets how client times map onto server clocks (`offset_ns` is used by SP_CLOCK_FIXED). On a
 * finished set a change joins the client records again at once; otherwise sp_ev_finish uses it.
 * SP_ERR_NOMEM (the set is then unfinished). */
sp_status sp_ev_set_clock(struct sp_events *ev, sp_clock_mode mode, int64_t offset_ns);

/* ---- Releasing what an analysis has done with (sp_analyze_options.release_events) ----
 * Each frees part of a finished set and marks it released: afterwards sp_ev_finish, loading into the
 * set and the readers that need the per-event arrays (sp_view_finished) refuse it with SP_ERR_STATE;
 * its files, properties and interned strings stay readable until sp_events_destroy. */
/* The id maps: interned text and numbers, (file, id) -> request and batch. Nothing is interned or
 * looked up by id after sp_ev_finish. */
void sp_ev_release_maps(struct sp_events *ev);
/* The stage spans (each request's first_span/nspans then point nowhere). */
void sp_ev_release_spans(struct sp_events *ev);
/* The host-side launch calls. */
void sp_ev_release_launches(struct sp_events *ev);
/* As sp_ev_release_spans and sp_ev_release_launches, but the array (NULL when there is none) is handed
 * to the caller, who frees it; `bytes` is its allocated size (what the set had room for, every byte
 * of it the set's own). The analysis lays its scratch on those pages (docs/analysis.md section 8). */
void *sp_ev_take_spans(struct sp_events *ev, size_t *bytes);
void *sp_ev_take_launches(struct sp_events *ev, size_t *bytes);

/* ---- gen.c: generation steps and tokens (docs/generation.md) ---- */

/* Makes batch `batch` (its record and members already set) a step: each member's phase
 * (sp_ev_phase) and tokens, copied; `n` must be its member count (SP_ERR_INVALID otherwise, nothing
 * changes). kv_used < 0 and kv_capacity <= 0 mean unknown. SP_ERR_NOMEM, SP_ERR_LIMIT. */
sp_status sp_ev_set_step(struct sp_events *ev, uint32_t batch, const uint8_t *phases, const uint32_t *tokens,
                         size_t n, int64_t kv_used, int64_t kv_capacity);
/* Makes batch `batch` a plain batch again (a later batch record replaces a step record). */
void sp_ev_clear_step(struct sp_events *ev, uint32_t batch);
/* Adds output token `index` of request `req`, left the server at `time_ns`. */
sp_status sp_ev_add_token(struct sp_events *ev, uint32_t req, uint64_t index, uint64_t time_ns);
/* Stores a client record's token arrival times (copied) and writes where they start; call before
 * sp_ev_add_client with the record's first_ctok / n_ctok. */
sp_status sp_ev_add_client_tokens(struct sp_events *ev, const uint64_t *times, size_t n, uint32_t *out_first);
/* Two token records of one request and index at different times (sp_ev_finish_tokens' error). */
typedef struct sp_ev_token_clash {
    uint32_t req;                /* the request */
    uint64_t index;              /* the token index */
    uint64_t first_ns, second_ns;  /* the earlier and the later time */
} sp_ev_token_clash;

/* The finishing pass's part for tokens (sp_ev_finish calls it): sorts the token records by request,
 * index and time and sets each request's first_token / ntokens. Two records of one request with the
 * same index and time are one (the second is dropped); with different times they are SP_ERR_PARSE,
 * with `*clash` filled for the caller's message naming the file and the request, or under `lenient`
 * the later one is dropped and counted as skipped; SP_ERR_NOMEM when a side record cannot be made.
 * (The message is the caller's so that this file needs nothing of events.c's: no call loop inside the
 * model.) */
sp_status sp_ev_finish_tokens(struct sp_events *ev, bool lenient, sp_ev_token_clash *clash);
/* The phase of request `req` in step batch `batch`: its member entry's phase, or -1 when the batch is
 * not a step or does not name the request. Linear in the step's members. */
int sp_ev_step_phase(const struct sp_events *ev, uint32_t batch, uint32_t req, uint32_t *tokens);

/* ---- clock.c: the client join and the clock reconciliation ---- */

/* The bounds on theta = server clock - client clock that joined pairs give (DESIGN 8a). */
typedef struct sp_clock_bounds {
    int64_t lower, upper;    /* lower <= theta <= upper over every pair added */
    uint64_t n;              /* pairs added */
} sp_clock_bounds;

void sp_clock_bounds_init(sp_clock_bounds *b);
/* Adds one pair: theta <= arrival - send and theta >= done - client_done. Returns false (nothing
 * added) when a time is missing or past INT64_MAX, or an interval ends before it starts. */
bool sp_clock_bounds_add(sp_clock_bounds *b, uint64_t arrival, uint64_t done, uint64_t client_send,
                         uint64_t client_done);
/* The middle of [lower, upper], rounded down (floor, also for negative values, so that shifting every
 * bound by a constant shifts the middle by exactly that constant); also when lower > upper. n > 0. */
int64_t sp_clock_bounds_mid(const sp_clock_bounds *b);
/* A client time on the server clock: t + theta, saturated to [0, SP_TIME_NONE - 1]; SP_TIME_NONE
 * stays, and theta 0 leaves every time as it is. */
uint64_t sp_clock_map(uint64_t t, int64_t theta);

/* Joins client records to recorded requests by id text (the first file holding the id), else by
 * trace id (a client record with a trace id, or whose id text is 32 hex digits, to the first recorded
 * request whose trace context has it; docs/analysis.md, "Client merge"), chooses one
 * record per request when several carry its id (the earliest send, then the earliest reply, then the
 * earliest intended time, then the earlier file), estimates or sets each pair's offset by
 * ev->clock_mode, and writes the joined requests' client_* times on the server clock. Fills
 * clock_offsets and the client counts. SP_ERR_NOMEM. Called by sp_ev_finish. */
sp_status sp_ev_join_clients(struct sp_events *ev);

/* Joins client records to requests (sp_ev_join_clients), then sorts spans by
 * request and start, builds per-request span and batch lists, sorts activity by start.
 * Checks references: a request referenced (by a stage or a batch) but never given a request record,
 * or a batch referenced by device activity but never given a batch record, is an error naming the id
 * unless the trace says why (DESIGN 8a) or `lenient` (then they are dropped and counted as skipped in
 * their file). The trace says why when the request has an outcome record (it was rejected, failed or
 * cancelled), its file lost some of its bytes (they are orphans: counted in `orphaned` and left out),
 * or its file lost nothing but has no end record (`end` SP_TRACE_END_UNCLEAN: such requests become
 * SP_OUTCOME_UNFINISHED, such batches are counted in `unfinished_batches` and left out). Sets each
 * file's `last_ns`. Writes a message to `err`. Idempotent; called by the analyzer. From
 * sp_ev_two_threads_min spans, activities and batches on, the activity's order and the batch lists
 * are built on a second thread from the start (beside the passes over the requests and batches and
 * the spans on the calling thread, which then takes the files' device times and the activity's ties),
 * and each request's batch list is placed by both threads in ranges of sp_ev_place_chunk requests
 * (each writes fields the other does not touch; the set is the same either way). */
sp_status sp_ev_finish(struct sp_events *ev, bool lenient, char *err, size_t errlen);
/* A variable (defined in events.c) so that tests can make small sets take the two-thread route. */
#define SP_EV_TWO_THREADS_MIN 65536u
extern size_t sp_ev_two_threads_min;
/* The requests in one range the two threads of sp_ev_finish take in turn when placing the batch lists
 * (a variable so that tests can make small sets share ranges; 0 counts as 1). */
#define SP_EV_PLACE_CHUNK 16384u
extern size_t sp_ev_place_chunk;

#endif
