/* servprof recording library (libservprof): a serving stack records per-request stage spans, batches
 * and device activity into per-thread buffers that never block the caller; a background writer drains
 * them into a native trace file (docs/native-format.md). When buffers are full, records are dropped
 * and counted by cause; the counts go into the trace and every report shows them. */
#ifndef SERVPROF_TRACE_H
#define SERVPROF_TRACE_H

#include "servprof/servprof.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One recorder per process at a time (the per-thread buffers hang off thread-local storage). */
typedef struct sp_recorder sp_recorder;

/* Name ids. Stage and kernel names are interned once (sp_recorder_intern) and the hot path passes
 * the small id, never a string. Ids 1..3 are the known stages, always defined. 0 is "no name". */
typedef uint32_t sp_name_id;
#define SP_NAME_NONE 0u
#define SP_STAGE_PREPROCESS 1u
#define SP_STAGE_QUEUE 2u
#define SP_STAGE_POSTPROCESS 3u

/* "Not tied to a batch by id": the analyzer ties such device activity to the batch whose window it
 * falls in on the same device. */
#define SP_NO_BATCH UINT64_MAX

/* Copy kinds, as in the event model (DESIGN section 2). */
typedef enum sp_copy_kind {
    SP_COPY_H2D = 0,
    SP_COPY_D2H = 1,
    SP_COPY_D2D = 2,
    SP_COPY_MEMSET = 3, /* device memset: device-side work like a d2d copy */
    SP_COPY_OTHER = 4   /* host-to-host, peer-to-peer and anything else */
} sp_copy_kind;

/* Why a record was dropped. Counted per cause, written into the trace, shown in reports. */
typedef enum sp_drop_cause {
    SP_DROP_BUFFER_FULL = 0, /* the thread's ring was full: the writer fell behind */
    SP_DROP_TOO_LARGE,       /* a record larger than a buffer (e.g. a batch with too many members) */
    SP_DROP_NO_BUFFER,       /* a thread's buffer could not be allocated (thread cap or no memory) */
    SP_DROP_WRITE_FAILED,    /* the writer could not write a block to the file */
    SP_DROP_REENTRANT,       /* recording re-entered from a signal handler on the same thread (or a
                                handler's first record while its thread was inside a servprof call) */
    SP_DROP_AFTER_CLOSE,     /* recorded after sp_recorder_close or in a forked child not recording */
    SP_DROP_CAUSE_COUNT
} sp_drop_cause;

/* Static name of a drop cause ("buffer_full", ...), as written in traces and reports. */
SP_API const char *sp_drop_cause_str(sp_drop_cause cause);

/* How a request ended (DESIGN 8a). A request without a recorded outcome is SP_OUTCOME_OK. Latency
 * percentiles, shares and the verdict cover `ok` requests; the others are counted and reported with
 * their own latency (docs/analysis.md, "Outcomes"). */
typedef enum sp_outcome {
    SP_OUTCOME_OK = 0,      /* answered successfully */
    SP_OUTCOME_REJECTED,    /* refused for lack of capacity, e.g. 503 when the queue is full */
    SP_OUTCOME_ERROR,       /* answered with an error (a 4xx or 5xx other than a rejection) */
    SP_OUTCOME_CANCELLED,   /* the client went away before the response was delivered */
    SP_OUTCOME_UNFINISHED,  /* still in flight when the trace ended (the analysis gives this outcome to
                               requests of a trace that did not close cleanly) */
    SP_OUTCOME_COUNT
} sp_outcome;

/* Static name of an outcome ("ok", "rejected", "error", "cancelled", "unfinished"), as written in
 * JSONL traces and reports; "unknown" for a value out of range. */
SP_API const char *sp_outcome_str(sp_outcome outcome);


/* Options of sp_recorder_open. ABI rule for every options struct of libservprof and the collector:
 * fill it with its _init function, which sets `struct_size` to the size this program was built with;
 * the library reads only the fields that fit in that size (defaults for the rest), and later versions
 * only ever append fields, so a program built against these headers keeps working with a newer
 * libservprof.so. A struct_size of 0 (a zeroed struct) reads as this version's layout. */
typedef struct sp_recorder_options {
    size_t struct_size;          /* sizeof(sp_recorder_options) the caller was built with */
    size_t thread_buffer_bytes;  /* per-thread ring size; 0: default (16 MiB: about 50 ms of
                                    5 M events/s, enough to ride out the writer waiting for a
                                    core or for the kernel's writeback; docs/BENCHMARKS.md) */
    size_t max_threads;          /* threads that may get a buffer; 0: default (64); rings take at
                                    most max_threads x thread_buffer_bytes (1 GiB by default),
                                    allocated on each thread's first record. A thread past the
                                    cap drops its records as SP_DROP_NO_BUFFER, and tries again
                                    once a slot is free: an exited thread's buffer is retired at
                                    the writer's next cycle, which such a thread wakes at once */
    unsigned flush_interval_ms;  /* the writer's base wake-up period; 0: default (10 ms). While it
                                    finds little to write the writer lengthens its period, up to
                                    8 x this (at most 1 s); a flush, the close, a thread whose
                                    ring passes half full (or 1/16 while the period is longer than
                                    this) wakes it at once and puts it back to this
                                    (docs/recording.md: freshness, what a crash loses) */
    double price_per_hour;       /* instance price written into the trace; <= 0: unknown; above
                                    SP_MAX_PRICE_PER_HOUR or NaN: sp_recorder_open fails */
    int on_fork_child;           /* 0: the child records to "<path>.<pid>"; 1: the child drops
                                    (counted as SP_DROP_AFTER_CLOSE) */
    int live_metrics;            /* 1: keep live metrics of what is recorded for
                                    sp_recorder_metrics_text (docs/metrics.md): the writer thread reads
                                    the records it drains; the hot path does not change. 0 (default):
                                    none */
    unsigned metrics_settle_ms;  /* live metrics: how long after its own record a request waits for
                                    records that come late (device work from CUPTI's buffers) before
                                    it is counted; 0 (default): the writer cycle after its record. A
                                    flush or close counts everything at once */
} sp_recorder_options;

/* Fills `opt` with the defaults and sets struct_size. */
SP_API void sp_recorder_options_init(sp_recorder_options *opt);

/* Opens `path` for writing and starts the writer thread. The recorder owns the file: a regular file
 * is locked (flock, advisory, held until close) before it is truncated, so a second process given
 * the same path fails here and leaves the first one's trace intact; a pipe or device (/dev/null) is
 * neither locked nor truncated. The file header is written before this returns. `opt` may be NULL
 * (defaults); it is copied. `*out` is written only on success. Returns SP_ERR_IO if the file cannot
 * be created (its folder missing, permissions), another process is recording to it, or the header
 * cannot be written (a full disk); SP_ERR_STATE if a recorder is already open in this process;
 * SP_ERR_INVALID if `path` or `out` is NULL, or the price is NaN or above SP_MAX_PRICE_PER_HOUR
 * (nothing is created); SP_ERR_NOMEM (also when the writer thread cannot be started: a thread limit).
 * On SP_ERR_IO, and when the writer thread cannot be started, sp_recorder_last_error says why (it also
 * goes to the log callback).
 * Thread-safe. */
SP_API sp_status sp_recorder_open(const char *path, const sp_recorder_options *opt, sp_recorder **out);

/* Stops recording, drains every thread's buffer, writes the final drop counts and closes the file.
 * NULL is fine. Records made after (or during) close are dropped as SP_DROP_AFTER_CLOSE. Returns the
 * first write error, if any (SP_ERR_IO; sp_recorder_last_error gives the system's reason, e.g. "No
 * space left on device"); a trace file deleted while recording (the file or its folder removed) counts
 * as one. After the first failed write the recorder writes nothing more to the file
 * (a reader stops at the torn block anyway) and counts every later record as SP_DROP_WRITE_FAILED;
 * the file keeps the blocks written before it. Call once, from one thread. */
SP_API sp_status sp_recorder_close(sp_recorder *rec);

/* Asks the writer to drain everything recorded so far and waits until it is on disk. Not for the hot
 * path. Returns SP_ERR_IO once a write has failed (see sp_recorder_close). */
SP_API sp_status sp_recorder_flush(sp_recorder *rec);

/* Copies into `buf` (at most buflen bytes, NUL-terminated) why the recorder last failed in this
 * process: an open that returned SP_ERR_IO ("cannot create /x/t.sptrace: the folder /x does not
 * exist", "cannot record to t.sptrace: another process (pid 4242) is recording to it"), or the first
 * failed write of the current or last session ("writing t.sptrace failed: No space left on device;
 * ..."). "" when nothing failed since the last successful open. Returns `buf`. Thread-safe. */
SP_API const char *sp_recorder_last_error(char *buf, size_t buflen);

/* Interns a name (stage or kernel) and returns its id; the same string always gets the same id.
 * `name` is copied. May take a lock: call at set-up, or cache the id. Returns SP_NAME_NONE on
 * failure (NULL, empty, longer than 4095 bytes, or no memory). */
SP_API sp_name_id sp_recorder_intern(sp_recorder *rec, const char *name);

/* Attaches a property to the trace (servprof.h "Trace properties"), e.g. the service's device
 * ("device" -> "cpu") or batching policy ("policy.max_batch" -> "16"); servprof's analysis reads the
 * keys docs/native-format.md lists. Setting a key again replaces its value. Written with the writer's
 * next block (and again into a forked child's own trace). Not for the hot path: takes a lock.
 * `key` and `value` are copied. Returns SP_ERR_INVALID (NULL, a key that is empty, longer than
 * SP_PROP_MAX_KEY or not [A-Za-z0-9._-], a value longer than SP_PROP_MAX_VALUE), SP_ERR_LIMIT (a new
 * key beyond SP_PROP_MAX_KEYS), SP_ERR_STATE (the recorder is not open), SP_ERR_NOMEM. */
SP_API sp_status sp_recorder_set_property(sp_recorder *rec, const char *key, const char *value);

/* Current drop counts, indexed by sp_drop_cause. `counts` must have SP_DROP_CAUSE_COUNT entries. */
SP_API void sp_recorder_drops(const sp_recorder *rec, uint64_t counts[SP_DROP_CAUSE_COUNT]);

/* The HTTP Content-Type of sp_recorder_metrics_text's text. */
#define SP_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The live metrics of a recorder opened with live_metrics, in Prometheus' text exposition format
 * 0.0.4, for a /metrics endpoint (docs/metrics.md names every metric and label): the end-to-end
 * latency histogram (log-spaced buckets, 4 per octave) and, for each of its buckets, the time each
 * stage took in the requests that fell in it, so shares of p50/p95/p99 survive summing over replicas
 * and time; padding time and tokens, batch sizes, outcomes and HTTP statuses, TTFT and TPOT of
 * generation, device time by state (DESIGN 7), drops by cause. A request is counted once the writer
 * has read all its records: a writer cycle after its own record, and metrics_settle_ms later (a flush
 * counts every request recorded before it). `*text` gets a NUL-terminated string of `*len` bytes,
 * the caller's to free with sp_metrics_text_free; both are written only on success. Returns
 * SP_ERR_INVALID (a NULL argument), SP_ERR_STATE (the recorder is not open, or was opened without
 * live_metrics), SP_ERR_NOMEM. Thread-safe; not for the hot path: it copies the aggregate under a
 * lock and formats some 100 KB (docs/BENCHMARKS.md). */
SP_API sp_status sp_recorder_metrics_text(sp_recorder *rec, char **text, size_t *len);

/* Frees a text from sp_recorder_metrics_text. NULL is fine. */
SP_API void sp_metrics_text_free(char *text);

/* ---- Hot path. Never blocks, never allocates after a thread's first record, returns nothing the
 * caller must check: each call records, or counts a drop. `rec` may be NULL (the call does nothing).
 * Times are sp_now_ns() values. Request and batch ids are the caller's and need not be dense. ---- */

/* A request's life on the server: received at `arrival_ns`, response sent at `done_ns`.
 * `input_tokens` < 0: unknown. `request_id` names one request in the trace: a second request record
 * for it with other times or tokens makes servprof analyze refuse the trace (--lenient keeps the
 * first). The library does not check: that would need the ids of ended requests on the hot path, which
 * takes no lock and allocates nothing. Take ids from one counter per recorder (an atomic fetch-add, as
 * servprof serve does) and put a client's id (X-Request-Id) in a label (sp_record_request_label), which
 * may repeat (docs/recording.md, "Misuse"). */
SP_API void sp_record_request(sp_recorder *rec, uint64_t request_id, uint64_t arrival_ns,
                              uint64_t done_ns, int64_t input_tokens);

/* The outcome of request `request_id`, recorded beside its request record (sp_record_request, whose
 * `done_ns` is then when the rejection or error was answered, or when the server saw the client
 * gone). `http_status` is the status answered (or that would have been), 0 for none; values outside
 * 0..999 are recorded as 0. A request with no outcome record is SP_OUTCOME_OK; a later outcome record
 * for the same request replaces an earlier one. An outcome of SP_OUTCOME_COUNT or more is dropped as
 * SP_DROP_TOO_LARGE (it cannot be written). */
SP_API void sp_record_outcome(sp_recorder *rec, uint64_t request_id, sp_outcome outcome, int32_t http_status);

/* Gives request `request_id` an external string id (a traceparent trace id, an X-Request-Id), so
 * a client's trace joins the server's. `label` is copied (at most 255 bytes; longer is cut). */
SP_API void sp_record_request_label(sp_recorder *rec, uint64_t request_id, const char *label,
                                    size_t label_len);

/* W3C Trace Context (https://www.w3.org/TR/trace-context/) of one request: the trace it belongs to,
 * the span this service gives it, and the caller's span (the `traceparent` header's parent-id). */
typedef struct sp_trace_context {
    uint8_t trace_id[16];    /* trace-id; all zero is invalid */
    uint8_t span_id[8];      /* this service's span for the request; all zero is invalid */
    uint8_t parent_id[8];    /* the caller's span; all zero: none (the request started the trace) */
    uint8_t flags;           /* trace-flags; bit 0 (SP_TRACE_FLAG_SAMPLED): the caller records it */
} sp_trace_context;
#define SP_TRACE_FLAG_SAMPLED 0x01u

/* Reads a `traceparent` header value (`len` bytes, no NUL needed) into `out`'s trace_id, parent_id
 * (the header's parent-id) and flags, and zeroes span_id (the caller gives its own span, e.g. 8
 * random bytes). The rules of the W3C Recommendation: lower-case hex; version 00 is exactly
 * "00-<32 hex>-<16 hex>-<2 hex>"; a higher version (not ff) has that prefix and, when longer, a '-'
 * after it; trace-id and parent-id are not all zero. Surrounding spaces and tabs are ignored.
 * Returns SP_OK, or SP_ERR_INVALID (NULL, or not a valid header: `out` untouched; a service then
 * starts a trace of its own or records none). Thread-safe, allocates nothing. */
SP_API sp_status sp_trace_context_parse(const char *traceparent, size_t len, sp_trace_context *out);

/* Records request `request_id`'s trace context (docs/native-format.md, "Trace context"): the analysis
 * joins a client's records to the request by trace id when their ids differ, and `servprof export
 * --otlp` writes the request's spans under these ids. `ctx` is copied; a NULL ctx, an all-zero trace
 * id or an all-zero span id is dropped as SP_DROP_TOO_LARGE (it cannot be written as valid ids).
 * Record it once per request, beside its request record; a later one replaces an earlier one. */
SP_API void sp_record_request_trace(sp_recorder *rec, uint64_t request_id, const sp_trace_context *ctx);

/* One stage span of a request (DESIGN section 2): `stage` is SP_STAGE_* or an interned name. */
SP_API void sp_record_stage(sp_recorder *rec, uint64_t request_id, sp_name_id stage,
                            uint64_t start_ns, uint64_t end_ns);

/* One batch: its execution window (dispatch until outputs are back on the host), members, and
 * effective (sum of member lengths) and padded (what the device computed) tokens. `members` is
 * copied; at most 4096 members (more: dropped as SP_DROP_TOO_LARGE). */
SP_API void sp_record_batch(sp_recorder *rec, uint64_t batch_id, const uint64_t *members,
                            size_t member_count, uint64_t start_ns, uint64_t end_ns,
                            uint64_t effective_tokens, uint64_t padded_tokens);

/* Phases of a step member (sp_step_record.phases): what the step computed for that request. */
#define SP_PHASE_DECODE 0u        /* one token: the request's previous output token, giving the next */
#define SP_PHASE_PREFILL 1u       /* the whole prompt, or the last chunk of it: gives the first token */
#define SP_PHASE_PREFILL_CHUNK 2u /* a part of the prompt, more to come (chunked prefill) */

/* Most members one step record holds: 64 + 16 x members bytes must fit a record (65528 bytes). */
#define SP_STEP_MAX_MEMBERS 4091u

/* One step of a continuous-batching scheduler (docs/native-format.md, record `step`): a batch in
 * DESIGN's batch model (window from dispatch until its new tokens are on the host; effective and
 * padded tokens) that also says, per member, its phase and how many of its tokens the step computed,
 * and the KV cache's occupancy. A step record is also the batch's record: record no separate batch.
 * The three member arrays have member_count entries each and are copied. */
typedef struct sp_step_record {
    uint64_t batch_id;           /* the step's id, shared by its device activity as a batch id */
    uint64_t start_ns;           /* dispatched */
    uint64_t end_ns;             /* its outputs (the new tokens) are on the host */
    uint64_t effective_tokens;   /* sum of the members' tokens in this step */
    uint64_t padded_tokens;      /* what the device computed (e.g. prefill padded to a bucket) */
    uint64_t kv_used_tokens;     /* KV cache tokens in use after the step */
    uint64_t kv_capacity_tokens; /* KV cache capacity in tokens; 0: unknown */
    size_t member_count;         /* 0..SP_STEP_MAX_MEMBERS; more: dropped as SP_DROP_TOO_LARGE */
    const uint64_t *members;     /* request ids */
    const uint8_t *phases;       /* SP_PHASE_* per member (values above 255 cannot be given) */
    const uint32_t *tokens;      /* tokens the step computed per member (1 for a decode) */
} sp_step_record;

/* Records one scheduler step. `s` NULL, or a member array NULL with member_count > 0: nothing is
 * recorded. A phase above 0xff is impossible by type; a phase outside SP_PHASE_* is written as given
 * (readers treat it as malformed). */
SP_API void sp_record_step(sp_recorder *rec, const sp_step_record *s);

/* Output token `index` (0-based, in output order) of request `request_id` left the server at
 * `time_ns`: the end of the write of the streamed chunk that carries it, or, for a response sent
 * whole, the end of the step that produced it. Recorded once per output token. */
SP_API void sp_record_token(sp_recorder *rec, uint64_t request_id, uint64_t index, uint64_t time_ns);

/* Device activity: a kernel. `batch_id` may be SP_NO_BATCH. `correlation` 0: none. */
typedef struct sp_kernel_record {
    uint64_t batch_id;
    sp_name_id name;
    uint32_t device;
    uint32_t stream;
    uint64_t correlation;
    uint64_t start_ns;
    uint64_t end_ns;
} sp_kernel_record;
SP_API void sp_record_kernel(sp_recorder *rec, const sp_kernel_record *k);

/* Device activity: a copy or memset. */
typedef struct sp_copy_record {
    uint64_t batch_id;
    sp_copy_kind kind;
    uint32_t device;
    uint32_t stream;
    uint64_t correlation;
    uint64_t bytes;
    uint64_t start_ns;
    uint64_t end_ns;
} sp_copy_record;
SP_API void sp_record_copy(sp_recorder *rec, const sp_copy_record *c);

/* A host-side launch call (cudaLaunchKernel, cudaMemcpyAsync, ...), joined to device work on
 * `correlation` for launch statistics (DESIGN section 6). */
SP_API void sp_record_launch(sp_recorder *rec, sp_name_id name, uint64_t correlation,
                             uint64_t start_ns, uint64_t end_ns);

/* Adds `count` drops of `cause` seen by a collector outside the library (e.g. CUPTI's own dropped
 * records, counted as SP_DROP_BUFFER_FULL by the GPU collector). */
SP_API void sp_recorder_add_drops(sp_recorder *rec, sp_drop_cause cause, uint64_t count);

/* ---- Macros: the whole recording API as macros that compile to nothing when SERVPROF_DISABLE is
 * defined (CMake option SERVPROF_DISABLE, or -DSERVPROF_DISABLE), so a stack can build its
 * instrumentation out entirely: arguments are not evaluated, no servprof symbol is referenced,
 * SP_RECORDER_OPEN yields SP_OK and a NULL recorder, SP_INTERN SP_NAME_NONE, SP_NOW 0. ---- */
#ifdef SERVPROF_DISABLE
#define SP_RECORDER_OPEN(path, opt, out) (*(out) = NULL, SP_OK)
#define SP_RECORDER_CLOSE(rec) ((void)(rec), SP_OK)
#define SP_INTERN(rec, name) ((sp_name_id)SP_NAME_NONE)
#define SP_NOW() ((uint64_t)0)
#define SP_REQUEST(rec, id, arrival, done, tokens) ((void)0)
#define SP_LABEL(rec, id, label, len) ((void)0)
#define SP_STAGE(rec, id, stage, start, end) ((void)0)
#define SP_BATCH(rec, id, members, n, start, end, eff, padded) ((void)0)
#define SP_KERNEL(rec, kernel_record) ((void)0)
#define SP_COPY(rec, copy_record) ((void)0)
#define SP_LAUNCH(rec, name, correlation, start, end) ((void)0)
#define SP_OUTCOME(rec, id, outcome, status) ((void)0)
#define SP_TRACE(rec, id, ctx) ((void)0)
#define SP_STEP(rec, step_record) ((void)0)
#define SP_TOKEN(rec, id, index, time) ((void)0)
#else
#define SP_RECORDER_OPEN(path, opt, out) sp_recorder_open((path), (opt), (out))
#define SP_RECORDER_CLOSE(rec) sp_recorder_close(rec)
#define SP_INTERN(rec, name) sp_recorder_intern((rec), (name))
#define SP_NOW() sp_now_ns()
#define SP_REQUEST(rec, id, arrival, done, tokens) sp_record_request((rec), (id), (arrival), (done), (tokens))
#define SP_LABEL(rec, id, label, len) sp_record_request_label((rec), (id), (label), (len))
#define SP_STAGE(rec, id, stage, start, end) sp_record_stage((rec), (id), (stage), (start), (end))
#define SP_BATCH(rec, id, members, n, start, end, eff, padded) \
    sp_record_batch((rec), (id), (members), (n), (start), (end), (eff), (padded))
#define SP_KERNEL(rec, kernel_record) sp_record_kernel((rec), (kernel_record))
#define SP_COPY(rec, copy_record) sp_record_copy((rec), (copy_record))
#define SP_LAUNCH(rec, name, correlation, start, end) sp_record_launch((rec), (name), (correlation), (start), (end))
#define SP_OUTCOME(rec, id, outcome, status) sp_record_outcome((rec), (id), (outcome), (status))
#define SP_TRACE(rec, id, ctx) sp_record_request_trace((rec), (id), (ctx))
#define SP_STEP(rec, step_record) sp_record_step((rec), (step_record))
#define SP_TOKEN(rec, id, index, time) sp_record_token((rec), (id), (index), (time))
#endif

#ifdef __cplusplus
}
#endif

#endif
