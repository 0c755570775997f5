/* The read-only door of the event model (src/model/view.c): a finished event set's requests, their
 * stage spans and batches, batches and their members, host launch calls and device activity, one
 * record at a time as plain values with their strings resolved. It is for code outside the model that
 * exports the events themselves rather than the analysis of them (the Perfetto trace writer); it
 * gives no way to change a set, and none of the model's storage (events_int.h) shows through.
 *
 * Internal, not public: the records follow the model's layout after sp_ev_finish (spans sorted per
 * request, activity by start), which may change with the model. Indexes are the model's own; they are
 * stable while the set is not modified. Every function takes a finished set (sp_view_finished) and an
 * index below the matching count; strings are owned by the set and live as long as it does. */
#ifndef SERVPROF_EVENTS_VIEW_H
#define SERVPROF_EVENTS_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "servprof/events.h"
#include "servprof/trace.h"

#define SP_VIEW_NO_TIME UINT64_MAX   /* a time that is not known */
#define SP_VIEW_NONE UINT32_MAX      /* no index */

typedef struct sp_view_request {
    const char *id;              /* the id text (ids are per file) */
    uint32_t file;               /* loaded file number */
    int has_record;              /* a request record was read (not only references to it) */
    uint64_t arrival_ns, done_ns;
    int64_t input_tokens;        /* < 0: unknown */
    uint64_t client_intended_ns, client_send_ns, client_done_ns; /* joined client times, on the server
                                                                    clock; SP_VIEW_NO_TIME when none */
    sp_outcome outcome;
    int32_t status;              /* HTTP status; 0: none */
    uint32_t n_spans;            /* sp_view_request_span k < n_spans, by start */
    uint32_t n_batches;          /* sp_view_request_batch k < n_batches, by start */
    int has_trace;               /* a W3C trace context was recorded for it (trace.h): */
    sp_trace_context trace;      /* its trace id, its span, the caller's span */
    int client_has_trace;        /* the joined client record carries the trace it sent: */
    uint8_t client_trace_id[16]; /* its trace id */
    uint8_t client_span_id[8];   /* and the client's span */
    int64_t output_tokens;       /* as its record gives them; < 0: unknown */
    uint32_t n_tokens;           /* its output token records, sp_view_request_token k < n_tokens */
} sp_view_request;

typedef struct sp_view_file {
    const char *path;
    sp_format format;
    int has_unix_offset;         /* the trace ties its clock to Unix time: */
    int64_t unix_offset_ns;      /* a time of this file + unix_offset_ns = ns since the Unix epoch */
    double price_per_hour;       /* the trace's instance price; 0: none given */
    int model_inference;         /* its stage "inference" is an engine's model time whole, not a stage
                                    of the user's own (sp_ev_file.model_inference) */
    int unclean;                 /* the recorder did not close it (no end record, SP_TRACE_END_UNCLEAN):
                                    its unfinished requests were in flight when it ended */
    uint64_t last_ns;            /* the trace's last time, where an unfinished request's time is
                                    measured to (sp_ev_file.last_ns); SP_VIEW_NO_TIME when none */
} sp_view_file;

typedef struct sp_view_span {
    const char *stage;
    uint64_t start_ns, end_ns;
} sp_view_span;

typedef struct sp_view_batch {
    int64_t id;                  /* the trace's id (per file) */
    uint32_t file, device;
    int has_record;
    uint64_t start_ns, end_ns;   /* SP_VIEW_NO_TIME without a record */
    int64_t effective_tokens, padded_tokens; /* < 0: unknown */
    uint32_t n_members;          /* sp_view_batch_member k < n_members */
    int is_step;                 /* a generation step: sp_view_step_member gives each member's phase */
    int64_t kv_used_tokens;      /* a step's KV cache after it; < 0: unknown */
    int64_t kv_capacity_tokens;  /* <= 0: unknown */
} sp_view_batch;

typedef struct sp_view_launch {
    const char *name;            /* "" when it has none */
    uint64_t start_ns, end_ns;
    uint64_t correlation;
    uint32_t file;
} sp_view_launch;

typedef struct sp_view_activity {
    sp_act_kind kind;
    const char *name;            /* the kernel's name; "" when it has none (copies) */
    uint64_t start_ns, end_ns;
    uint64_t bytes;
    uint64_t correlation;        /* 0: none */
    int64_t stream;
    uint32_t file, device;
    uint32_t batch;              /* index of the batch it is tied to, or SP_VIEW_NONE */
} sp_view_activity;

/* Whether sp_ev_finish has run on the set since it was last changed (sp_analyze runs it), and the set
 * still holds its arrays (an analysis with release_events frees some: then 0). */
int sp_view_finished(const sp_events *ev);

/* Makes the texts of numeric request ids that sp_view_request_at hands out (once per set; a native
 * trace's ids are kept as numbers until a view asks). SP_OK, or SP_ERR_NOMEM: a writer calls it before
 * it writes, so that no memory fails the export instead of giving requests empty ids. */
sp_status sp_view_ids_ready(const sp_events *ev);

size_t sp_view_files(const sp_events *ev);
size_t sp_view_requests(const sp_events *ev);
size_t sp_view_batches(const sp_events *ev);
size_t sp_view_launches(const sp_events *ev);
/* Device activity, by start time. */
size_t sp_view_activities(const sp_events *ev);

void sp_view_file_at(const sp_events *ev, size_t i, sp_view_file *out);
/* The trace properties of every file, in the order they were set: sp_view_props counts them, and
 * sp_view_prop_at gives the i-th one's file, key and value (pointers good while `ev` lives). */
size_t sp_view_props(const sp_events *ev);
void sp_view_prop_at(const sp_events *ev, size_t i, uint32_t *file, const char **key, const char **value);
void sp_view_request_at(const sp_events *ev, size_t i, sp_view_request *out);
void sp_view_request_span(const sp_events *ev, size_t req, uint32_t k, sp_view_span *out);
/* The index of request `req`'s k-th batch. */
uint32_t sp_view_request_batch(const sp_events *ev, size_t req, uint32_t k);
void sp_view_batch_at(const sp_events *ev, size_t i, sp_view_batch *out);
/* The request index of batch `b`'s k-th member; SP_VIEW_NONE when it names no loaded request. */
uint32_t sp_view_batch_member(const sp_events *ev, size_t b, uint32_t k);
/* Request `req`'s k-th output token (by index): its 0-based index and when it left the server. */
void sp_view_request_token(const sp_events *ev, size_t req, uint32_t k, uint64_t *index, uint64_t *time_ns);
/* A phase's name as the JSONL format writes it ("decode", "prefill", "prefill_chunk"), NULL for a
 * value that is no phase. */
const char *sp_view_phase_name(int phase);

/* The phase (sp_ev_phase's values: 0 decode, 1 prefill, 2 prefill_chunk) and tokens of step `b`'s k-th
 * member; -1 when the batch is not a step. */
int sp_view_step_member(const sp_events *ev, size_t b, uint32_t k, uint32_t *tokens);
void sp_view_launch_at(const sp_events *ev, size_t i, sp_view_launch *out);
void sp_view_activity_at(const sp_events *ev, size_t i, sp_view_activity *out);

#endif
