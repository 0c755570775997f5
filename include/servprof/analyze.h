/* servprof analyzer: turns an event set into the stage partition, percentiles, shares of p50/p95/p99,
 * padding waste, GPU timeline, cost split and verdict of DESIGN sections 3 to 8: one sp_report, and
 * with keep_detail what charts of it draw. servprof/report.h writes a report as text, JSON
 * (servprof.report/1, DESIGN section 10), HTML or a Chrome/Perfetto trace. */
#ifndef SERVPROF_ANALYZE_H
#define SERVPROF_ANALYZE_H

#include <stdio.h>

#include "servprof/events.h"
#include "servprof/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default instance price when neither --price-per-hour nor the trace gives one: an on-demand
 * single-GPU cloud instance, stated in every report. */
#define SP_DEFAULT_PRICE_PER_HOUR 4.0

/* Which requests the latency percentiles, stage shares, padding share, cost per request and the
 * verdict cover (DESIGN 8a; docs/analysis.md, "Outcomes"). Every outcome is counted either way. */
typedef enum sp_outcome_scope {
    SP_SCOPE_OK = 0,       /* `ok` requests only (the default) */
    SP_SCOPE_FINISHED      /* every finished request: ok, rejected, error and cancelled (`unfinished`
                              ones have no done time and are never in them) */
} sp_outcome_scope;

/* "ok" or "all", as the CLI's --outcomes and the JSON report's outcomes.scope write them. */
SP_API const char *sp_outcome_scope_str(sp_outcome_scope scope);

/* Where a running analysis is, for a progress line (sp_analyze_options.progress): sp_analyze calls
 * the function on the calling thread before each of its steps and once after the last (done = 1).
 * The steps and their number depend on the options (docs/cli.md, --progress). */
typedef struct sp_analyze_progress {
    const char *step;        /* the step starting now ("partitioning request time into stages", ...);
                                NULL when done */
    unsigned index, count;   /* this step's number, 1-based, of `count` (at done: count, count) */
    double elapsed_s;        /* seconds since sp_analyze was called */
    int done;
} sp_analyze_progress;

typedef void (*sp_analyze_progress_fn)(void *user, const sp_analyze_progress *p);

typedef struct sp_analyze_options {
    double price_per_hour;   /* > 0 overrides the trace's price; <= 0: the trace's, else default */
    int hta_compat;          /* GPU figures as HTA computes them (DESIGN section 6) */
    int lenient;             /* unresolved references are skipped and counted, not errors */
    sp_clock_mode clock_mode;  /* client-to-server clock mapping (events.h); default SP_CLOCK_AUTO */
    int64_t clock_offset_ns;   /* server clock - client clock, for SP_CLOCK_FIXED */
    sp_outcome_scope outcomes; /* default SP_SCOPE_OK */
    int keep_detail;           /* keep what charts draw beyond the figures (sp_report_detail): the
                                  latency distribution, each stage's spread, per-batch waste and the
                                  busiest slice of the device timeline; default 0 (report.detail NULL) */
    int keep_requests;         /* also keep each analysed request's stage times and padding time
                                  (sp_report_detail.requests), what resampling requests needs (servprof
                                  diff's bootstrap); implies keep_detail; default 0 */
    int release_events;        /* the caller reads nothing of the set after this call but its files,
                                  properties and interned strings, then destroys it: the analysis frees
                                  the set's id maps once it is finished, its stage spans once the
                                  requests are partitioned (not for a trace with generation data), its
                                  launch calls once the GPU figures are in, and its activity's pages
                                  once the cost has read them (not with keep_detail), so its peak memory is
                                  lower, and lays its own arrays on their pages where it can, so it
                                  faults fewer fresh pages in (docs/analysis.md section 8, "Memory";
                                  Linux moves span pages with mremap). The report is the same
                                  byte for byte. Afterwards, success or not, loading into the set,
                                  analysing it again, sp_report_write_perfetto, sp_report_write_otlp
                                  and sp_whatif_workload_from_events return SP_ERR_STATE; default 0 */
    sp_analyze_progress_fn progress; /* called before each step of the analysis; NULL: none (default) */
    void *progress_user;
} sp_analyze_options;

SP_API void sp_analyze_options_init(sp_analyze_options *opt);

/* Percentiles of a set of durations, nearest rank (DESIGN section 4), in ns. */
typedef struct sp_quantiles {
    uint64_t p50_ns, p95_ns, p99_ns;
    uint64_t min_ns, max_ns;
    double mean_ns;
    uint64_t count;
} sp_quantiles;

/* One stage row (DESIGN section 3 order). */
typedef struct sp_stage_row {
    const char *name;        /* owned by the report */
    sp_quantiles q;          /* over all requests (a request without the stage counts 0) */
    double share_p50, share_p95, share_p99;  /* DESIGN section 4 */
    uint64_t total_ns;       /* summed over requests */
} sp_stage_row;

typedef struct sp_stream_idle {
    int64_t stream;
    uint32_t device;
    uint64_t host_wait_ns, kernel_wait_ns, other_ns;
} sp_stream_idle;

typedef struct sp_kernel_stat {
    const char *name;        /* owned by the report; demangled (sp_demangle) when the trace gives a C++
                                symbol */
    uint64_t count;
    uint64_t total_ns;
    sp_quantiles q;
    const char *mangled;     /* the name as the trace gives it when it was demangled, else NULL; owned
                                by the report (appended: earlier fields keep their offsets) */
} sp_kernel_stat;

typedef struct sp_copy_stat {
    const char *kind;        /* "h2d", "d2h", "d2d", "memset", "other" */
    uint64_t count, bytes, total_ns;
    double gbytes_per_s;     /* bytes / total time */
} sp_copy_stat;

/* What the device of the traced work is (docs/analysis.md section 4, "Device kind"): the CPU when
 * every file with device activity says so (trace property `device` = `cpu`), a GPU when every such
 * file is a GPU trace (Kineto, Nsight Systems, or `device` other than `cpu`), mixed when both occur,
 * unknown when some file does not say. Reports speak of "the CPU" only for SP_DEVICE_CPU. */
typedef enum sp_device_kind {
    SP_DEVICE_UNKNOWN = 0,
    SP_DEVICE_GPU,
    SP_DEVICE_CPU,
    SP_DEVICE_MIXED
} sp_device_kind;

/* "unknown", "gpu", "cpu", "mixed". */
SP_API const char *sp_device_kind_str(sp_device_kind k);
/* The word a report uses for the device: "CPU", "GPU" (also for unknown: traces with device work
 * are GPU traces unless they say otherwise) or "device" (mixed). */
SP_API const char *sp_device_kind_noun(sp_device_kind k);

/* CUDA graph launches (cudaGraphLaunch, cuGraphLaunch, hipGraphLaunch and versioned names): every
 * node of a graph carries its launch's correlation id, so they are reported on their own and kept out
 * of the per-kernel launch statistics (docs/analysis.md section 4). */
typedef struct sp_graph_launch_summary {
    uint64_t launches;                /* graph launch calls that launched device work */
    uint64_t kernels;                 /* kernels joined to them */
    uint64_t work;                    /* all device work joined to them (kernels, copies, memsets) */
    sp_quantiles kernels_per_launch;  /* counts in the _ns fields (like batch_size), not ns */
    sp_quantiles first_delay;         /* launch call end -> its first device work's start, floored at 0 */
    uint64_t cpu_sum_ns;              /* summed duration of the graph launch calls */
} sp_graph_launch_summary;

/* Where step marks came from (docs/analysis.md section 4, "Steps"). */
typedef enum sp_step_source {
    SP_STEPS_NONE = 0,
    SP_STEPS_PROFILER_STEP,           /* torch.profiler's ProfilerStep#N */
    SP_STEPS_RECORD_FUNCTION,         /* top-level record_function ranges */
    SP_STEPS_NVTX,                    /* top-level NVTX push/pop ranges */
    SP_STEPS_MIXED
} sp_step_source;

/* "none", "ProfilerStep", "record_function", "NVTX", "mixed". */
SP_API const char *sp_step_source_str(sp_step_source s);

/* Device time inside and outside the ranges that mark forward passes or steps. A step's device window
 * runs from its start to the later of its end and the end of the last device work launched inside it
 * (launch call start inside the step, joined on correlation id); windows are merged. Analysed time is
 * the device span together with the windows: busy + idle_inside + idle_outside = analysed. */
typedef struct sp_step_summary {
    uint64_t count;                   /* step marks; 0: the figures below are 0 */
    sp_step_source source;
    uint64_t window_ns;               /* |union of the steps' device windows| */
    uint64_t analysed_ns;             /* |device span union the windows| */
    uint64_t busy_inside_ns, idle_inside_ns;
    uint64_t busy_outside_ns, idle_outside_ns;
    /* stream idle gaps (the idle breakdown's, by its category) clipped to the windows, summed over
     * streams */
    uint64_t host_wait_inside_ns, kernel_wait_inside_ns, other_inside_ns;
} sp_step_summary;

typedef struct sp_gpu_summary {
    int present;             /* any device activity at all */
    uint64_t span_ns, busy_ns, idle_ns, compute_ns, non_compute_ns;
    uint64_t kernels, copies, memsets;
    size_t n_streams;
    sp_stream_idle *idle_breakdown;   /* per stream, sorted by device then stream */
    size_t n_kernel_stats;
    sp_kernel_stat *kernel_stats;     /* by total time, descending */
    size_t n_copy_stats;
    sp_copy_stat *copy_stats;
    /* launch statistics (DESIGN section 6): joined on correlation id */
    uint64_t launches_joined;
    uint64_t launch_delay_sum_ns, launch_delay_max_ns;
    sp_quantiles launch_delay;
    uint64_t launch_cpu_sum_ns, launch_gpu_sum_ns;
    uint64_t short_kernels;           /* kernels shorter than their launch call */
    /* launch statistics above are over ordinary launches; graph launches are here */
    sp_graph_launch_summary graph;
    sp_device_kind device_kind;
    sp_step_summary steps;
    /* HTA's temporal breakdown under hta_compat (docs/analysis.md section 4, "HTA rounding"): its
     * figures by its own rules, signed, since sub-us events rounded to -1 us can push them below 0.
     * When HTA's own checks hold and every figure is >= 0 (hta_breakdown_valid), span/idle/compute/
     * non_compute above are these figures and busy is span - idle; otherwise they hold servprof's
     * figures of the same rounded events (each such event at zero length), and hta_breakdown_note
     * (owned by the report) says why HTA cannot produce them. All zero/NULL without hta_compat. */
    int hta_breakdown_valid;
    const char *hta_breakdown_note;
    int64_t hta_kernel_time_ns, hta_idle_ns, hta_compute_ns, hta_non_compute_ns;
    uint64_t hta_end_early;           /* GPU events whose HTA-rounded end is 1 us before their start */
    /* > 1: span, busy, idle, compute and non_compute are device time summed over this many devices
     * (a fleet report: each replica's device seconds over the window), so the span is not one clock's
     * and the text says so; 0 for a trace's report (one clock, the figures are unions) */
    size_t devices_summed;
} sp_gpu_summary;

/* Device states of DESIGN section 7, in this order everywhere. */
typedef enum sp_cost_state {
    SP_COST_USEFUL = 0,   /* kernel work on effective tokens */
    SP_COST_PADDING,      /* kernel work on padding */
    SP_COST_COPIES,       /* copies not overlapped by kernels */
    SP_COST_GAP,          /* a batch in flight, the device idle */
    SP_COST_NO_BATCH,     /* no batch in flight */
    SP_COST_STATE_COUNT
} sp_cost_state;

SP_API const char *sp_cost_state_str(sp_cost_state s);

typedef struct sp_cost_summary {
    double price_per_hour;
    int price_is_default;     /* no price given: SP_DEFAULT_PRICE_PER_HOUR */
    uint64_t window_ns;       /* profiled window: first arrival (or activity) to last done */
    double bill;              /* price x window */
    double per_request;       /* bill / requests (0 when there are none) */
    double by_state[SP_COST_STATE_COUNT];       /* money */
    double by_state_share[SP_COST_STATE_COUNT]; /* fractions of the bill */
    sp_quantiles request_cost_nano;  /* per-request apportioned cost (token-weighted), in 1e-9 units */
    double request_cost_mean;
} sp_cost_summary;

typedef struct sp_padding_summary {
    uint64_t batches;             /* batches with token counts */
    int64_t effective_tokens, padded_tokens;
    double waste_fraction;        /* 1 - effective/padded over all batches; 0 when none */
    double waste_p50, waste_p95, waste_max; /* per-batch waste distribution */
    double share_p95;             /* DESIGN section 5 */
    double share_of_bill;
    uint64_t padding_ns_total;    /* summed over requests */
} sp_padding_summary;

typedef enum sp_verdict_group {
    SP_GROUP_NONE = 0,            /* no requests: GPU-only verdict or nothing */
    SP_GROUP_CONFIGURATION,
    SP_GROUP_RUNTIME,
    SP_GROUP_MODEL,
    SP_GROUP_INSTRUMENTATION      /* `other` is largest: instrumentation is missing */
} sp_verdict_group;

SP_API const char *sp_verdict_group_str(sp_verdict_group g);

/* One candidate of the verdict's ranking (DESIGN section 8, docs/analysis.md section 6). */
typedef struct sp_verdict_rank {
    const char *stage;            /* "queue", "padding", "kernel" (useful work), "gap", ..., named, "other" */
    sp_verdict_group group;       /* `other`: SP_GROUP_INSTRUMENTATION (never a fix) */
    double share_p95;             /* the candidate's share of p95 (kernel: useful only) */
    uint64_t saving_p95_ns;       /* p95 saving if the candidate's time were removed from every request */
    const char *fix;              /* short fix text, no figures */
} sp_verdict_rank;

typedef struct sp_verdict {
    const char *stage;            /* candidate name ("queue", "padding", "kernel", ...), or NULL */
    sp_verdict_group group;
    double share_p95;             /* the candidate's share (kernel: useful only) */
    uint64_t saving_p95_ns;       /* p95 saving if the candidate's time were removed */
    int recommend_model;          /* DESIGN section 8: useful kernel time dominates, gap & padding small */
    const char *sentence;         /* one or more sentences with the figures; owned by the report */
    /* Every candidate, by descending share of p95 (equal shares: report order, useful kernel before
     * padding); ranking[0] is the verdict's stage whenever `stage` is not NULL. Empty (NULL, 0) for
     * a trace without requests. Owned by the report, like every string it points to. */
    sp_verdict_rank *ranking;
    size_t n_ranking;
    size_t clause_at;             /* where sp_report_quote_prediction inserts the what-if clause in
                                     `sentence` (after the leader's fix); SIZE_MAX: no place for one
                                     (the leader is not a configuration candidate) */
    int prediction_quoted;        /* the sentence quotes the report's prediction */
} sp_verdict;

/* The requests of one outcome (DESIGN 8a). */
typedef struct sp_outcome_row {
    uint64_t count;               /* requests with this outcome */
    sp_quantiles latency;         /* their own latency, over those whose times allow it (its count may
                                     be below `count`): end-to-end as in the stage table (client-observed
                                     when a client record joined, else arrival -> done); unfinished:
                                     from their start to the last time of their trace */
} sp_outcome_row;

/* Requests that ended with one HTTP status (non-ok outcomes that carry one). */
typedef struct sp_status_row {
    int32_t status;
    uint64_t count;
} sp_status_row;

/* Distinct statuses a report lists; requests with further statuses are counted in
 * sp_report.statuses_unlisted. */
#define SP_REPORT_MAX_STATUSES 16

/* Rejection rate from which the verdict says requests are being rejected (docs/analysis.md). */
#define SP_REJECTION_SIGNIFICANT 0.01

/* Whether `n` of `total` requests reach SP_REJECTION_SIGNIFICANT (with the verdict's 1e-9 tolerance on a
 * share at its threshold): the one test for the verdict's rejection and error clauses and the HTML
 * report's flags, so that a share is flagged exactly where the verdict speaks of it. */
static inline int sp_outcome_significant(uint64_t n, uint64_t total)
{
    return total && (double)n / (double)total + 1e-9 >= SP_REJECTION_SIGNIFICANT;
}

/* The what-if simulator's prediction for the natural change of a configuration verdict (DESIGN
 * section 8). The analyzer leaves it empty; sp_whatif_quote_verdict (whatif.h) fills it, since the
 * analysis library does not depend on the simulator. */
typedef enum sp_prediction_state {
    SP_PREDICTION_NONE = 0,       /* not attempted: not a batching verdict, or no simulator ran */
    SP_PREDICTION_DONE,           /* setting/from/to and the two p95 figures hold */
    SP_PREDICTION_UNAVAILABLE     /* attempted; `note` says why there is no prediction */
} sp_prediction_state;

typedef struct sp_verdict_prediction {
    sp_prediction_state state;
    const char *setting;          /* "max-queue-delay", "max-batch", "instances", "pad" (static) */
    const char *from, *to;        /* the setting's value before and after, in report units ("2.00 ms",
                                     "16", "buckets:16,32,64,128"); owned by the report */
    uint64_t p95_before_ns;       /* simulated p95 of the observed policy */
    uint64_t p95_after_ns;        /* simulated p95 after the change */
    int extrapolated;             /* the changed policy's batches leave the sizes or padded lengths seen */
    const char *note;             /* UNAVAILABLE: why there is no prediction; DONE: a caveat (why it
                                     extrapolates, rejections) or NULL; owned by the report */
    /* DONE, a queue past the window only (docs/whatif.md, "The verdict's prediction"): the other change
     * simulated beside the quoted one and not chosen, for the sentence to name; alt_setting is NULL
     * when one change was simulated. Owned by the report. */
    const char *alt_setting;
    const char *alt_from, *alt_to;
    uint64_t alt_p95_after_ns;    /* simulated p95 after the other change */
    int alt_extrapolated;         /* the other change's batches leave the sizes or padded lengths seen */
} sp_verdict_prediction;

/* The prediction in words, as the verdict quotes it: "max-queue-delay 2.00 ms -> 500.0 us: predicted
 * p95 8.40 ms -> 6.10 ms (simulated from this trace)", or why there is none; "" for
 * SP_PREDICTION_NONE. Written like snprintf (buf may be NULL when len is 0); returns the length the
 * whole text needs. */
SP_API size_t sp_verdict_prediction_str(const sp_verdict_prediction *p, char *buf, size_t len);

typedef struct sp_drop_row {
    const char *cause;            /* static */
    uint64_t count;
} sp_drop_row;

/* One loaded file's data quality: what it lost (sp_file_loss in events.h). */
typedef struct sp_file_quality {
    const char *path;             /* owned by the report */
    sp_file_loss loss;
    int clock_shifted;            /* its times were moved onto file clock_onto's clock by the files'
                                     wall-clock anchors (replicas on different hosts; docs/cli.md): */
    int64_t clock_shift_ns;       /* by this much, added to each time as recorded */
    size_t clock_onto;            /* the earlier file (position in load order) whose clock it is on */
} sp_file_quality;

/* ---- Detail: what the analysis keeps for charts (sp_analyze_options.keep_detail) ----
 * The report's figures are percentiles, shares and totals; a chart of a distribution needs more. With
 * keep_detail the analysis keeps it, so a writer (the HTML report) draws without analysing again. All
 * of it is owned by the report. Sizes grow with the trace: the latency array with the requests
 * (8 bytes each), the waste array with the batches, the slice with the device work inside it. */

/* The spread of one stage's per-request times (a request without the stage counts 0, as in its row),
 * at nearest ranks (DESIGN section 4) below the row's own p50/p95/p99: what a box plot draws. */
typedef struct sp_stage_spread {
    uint64_t p5_ns, p25_ns, p75_ns;
} sp_stage_spread;

/* One piece of device work (kernel, copy, memset; never a sync) in the timeline slice. */
typedef struct sp_slice_activity {
    uint64_t start_ns, end_ns;    /* end >= start */
    uint64_t bytes;               /* copies and memsets; 0 for kernels */
    int64_t stream;
    uint32_t file, device;        /* file: index in load order */
    sp_act_kind kind;             /* events.h */
    const char *name;             /* the kernel's name, NULL when the activity has none */
} sp_slice_activity;

/* One batch window overlapping the timeline slice. */
typedef struct sp_slice_batch {
    uint64_t start_ns, end_ns;
    int64_t id;                   /* the trace's id (ids are per file) */
    uint32_t file;
    uint32_t members;             /* requests in the batch */
    int has_tokens;               /* token counts known: `waste` holds */
    double waste;                 /* 1 - effective/padded (DESIGN section 5) */
} sp_slice_batch;

/* The busiest slice of the device timeline (docs/analysis.md, "Timeline slice"): a window a few p95
 * batch windows long, where the device work that starts in it sums to the most device time. */
typedef struct sp_timeline_slice {
    uint64_t work;                /* device work activities (with valid times) in the whole trace;
                                     0: there is no slice and the rest is zero */
    uint64_t first_ns;            /* the start of the first of them */
    uint64_t start_ns, end_ns;    /* the slice, [start, end) */
    size_t n_acts;
    sp_slice_activity *acts;      /* the device work overlapping the slice (one of zero length counts
                                     when it starts inside), by start time (ties: the event set's order) */
    size_t n_batches;
    sp_slice_batch *batches;      /* analysed batch windows overlapping the slice, in the event set's
                                     batch order */
} sp_timeline_slice;

/* Each analysed request's own figures, one row per request in latency-rank order: row k is the
 * request whose end-to-end latency is sp_report_detail.latency_ns[k], equal latencies in the order
 * the share windows take them (docs/analysis.md sections 2 and 7). With them a resampling of requests
 * recomputes every per-request figure of the report (stage percentiles, shares of pXX, padding's
 * share) exactly as the analysis does. Kept with sp_analyze_options.keep_requests; otherwise n is 0
 * and the arrays NULL. */
typedef struct sp_request_rows {
    size_t n;                     /* rows: = request_count */
    size_t n_stages;              /* columns: = sp_report.n_stages, in stage-row order */
    uint64_t *stage_ns;           /* n x n_stages, row-major: each request's time in each stage (a
                                     request without the stage has 0); a row sums to its latency */
    double *padding_ns;           /* n: each request's padding time (DESIGN section 5) */
    uint32_t *by_arrival;         /* n: the rows in order of arrival (file, then arrival, then id
                                     text), so a resampling can keep neighbouring requests together:
                                     queueing makes their latencies depend on each other */
} sp_request_rows;

typedef struct sp_report_detail {
    size_t n_latency;             /* = request_count */
    uint64_t *latency_ns;         /* each analysed request's end-to-end latency (the figure of
                                     sp_report.latency), ascending */
    sp_stage_spread *stage_spread;  /* one per stage row, indexed like sp_report.stages */
    size_t n_batch_waste;         /* = padding.batches */
    double *batch_waste;          /* the waste of each analysed batch with token counts, ascending
                                     (the distribution of padding.waste_p50, _p95, _max) */
    sp_timeline_slice timeline;
    sp_request_rows requests;     /* with keep_requests, else empty */
} sp_report_detail;

/* ---- Generation (docs/generation.md): TTFT and TPOT broken down by stage ----
 * For traces with generation data (output token records or step records). Steps are batches; a request
 * belongs to many. The TTFT table partitions each request's [arrival, first token] as DESIGN 3
 * partitions a life, the TPOT table its [first token, last token] divided by (output tokens - 1). */

/* One row of a TTFT or TPOT table. */
typedef struct sp_gen_row {
    const char *name;             /* "queue", "prefill kernel", "between steps", ...; owned by the report */
    sp_quantiles q;               /* per request, in the table's unit (TTFT: ns; TPOT: ns per output token) */
    double share_p50, share_p95, share_p99;  /* DESIGN 4 over the table's own distribution */
    uint64_t total_ns;            /* the row's time summed over the table's requests (TPOT: undivided) */
} sp_gen_row;

typedef struct sp_gen_table {
    uint64_t count;               /* requests in the table */
    sp_quantiles value;           /* the table's figure per request: TTFT, or TPOT (ns per output token) */
    size_t n_rows;
    sp_gen_row *rows;             /* report order (docs/generation.md); rows always shown, then any other
                                     row with time in this table */
    double padding_share_p95;     /* kernel time on padding (DESIGN 5, steps' waste), share of p95 */
    sp_verdict verdict;           /* DESIGN 8 on this table (no what-if clause) */
} sp_gen_table;

/* Effective against padded tokens of a set of steps (DESIGN 5). */
typedef struct sp_gen_padding {
    uint64_t steps;               /* steps with token counts */
    int64_t effective_tokens, padded_tokens;
    double waste_fraction;        /* 1 - effective / padded; 0 when none */
} sp_gen_padding;

typedef struct sp_gen_summary {
    uint64_t requests;            /* analysed requests with output token records */
    uint64_t requests_no_first;   /* of them, without a record of their first token (index 0): in
                                     neither table */
    uint64_t requests_bad_tokens; /* left out under lenient: token times outside the request's life or
                                     out of index order (an error otherwise) */
    uint64_t output_tokens;       /* summed: each request's record's output_tokens, else its last token
                                     index + 1 */
    sp_quantiles output_tokens_per_request;  /* counts in the _ns fields */
    sp_quantiles ttft;            /* first token - arrival */
    sp_quantiles tpot;            /* (last - first token) / (output tokens - 1), >= 2 tokens */
    sp_quantiles itl;             /* gaps between consecutive tokens, all requests pooled */
    sp_quantiles e2e;             /* done - arrival of these requests */
    sp_gen_table ttft_table, tpot_table;
    /* the streaming client's own measurement, from the intended send time (docs/generation.md) */
    int has_client;
    uint64_t client_requests;     /* joined client records with a first token */
    sp_quantiles client_ttft, client_tpot, client_itl, client_e2e;
    /* steps */
    uint64_t steps;               /* analysed step records */
    uint64_t prefill_steps;       /* of them, with a prefill or prefill-chunk member */
    sp_quantiles step_members;    /* requests per step (counts) */
    sp_gen_padding padding_prefill;  /* steps with a prefill member */
    sp_gen_padding padding_decode;   /* decode-only steps */
    /* KV cache over the steps with a known capacity, time-weighted by step duration */
    uint64_t kv_steps;
    int64_t kv_capacity_tokens;   /* the largest capacity */
    double kv_used_mean_tokens;
    double kv_occupancy_p50, kv_occupancy_p95, kv_occupancy_max; /* used / capacity per step */
    double kv_waste_fraction;     /* sum (capacity - used) x duration / sum capacity x duration */
    /* cost (DESIGN 7) per output token */
    double cost_per_output_token;                          /* bill / output tokens */
    double cost_per_output_token_by_state[SP_COST_STATE_COUNT];
    sp_quantiles request_cost_per_token_nano; /* per request: its apportioned cost / its output tokens,
                                                 in 1e-9 money units */
    /* what the trace cannot show (no steps, no per-token times, ...), one sentence each; owned by the
     * report */
    size_t n_limits;
    const char **limits;
} sp_gen_summary;

/* One replica's instance bill in a report estimated from aggregated counters (DESIGN 7 per instance:
 * its price over its own window; docs/fleet.md, "Cost"). */
typedef struct sp_replica_bill {
    double price_per_hour;        /* the replica's price; <= 0: SP_DEFAULT_PRICE_PER_HOUR (the report
                                     copies the price it billed) */
    double window_s;              /* the time it is billed: the range, or its metrics' uptime when
                                     shorter; for a replica that stopped answering, what was scraped */
    double state_s[SP_COST_STATE_COUNT]; /* its devices' seconds in each state of DESIGN 7, summed over
                                     its devices (all 0: it reports no device time, all no_batch) */
    double bill;                  /* price x window: filled in the report's copy */
} sp_replica_bill;

/* Where a report's figures came from when they were estimated from aggregated counters (live metrics
 * summed over replicas and time, docs/metrics.md) rather than analysed from traces; NULL for traces.
 * Every string and the replica list are owned by the report. */
typedef struct sp_report_source {
    const char *kind;             /* "prometheus" (Prometheus' query API) or "metrics" (scraped text) */
    const char *url;              /* where the figures were read */
    const char *selector;         /* the label matchers the series matched ("" for none) */
    const char *range;            /* the window as given ("5m"), "" when it is since the replicas started */
    double window_s;              /* the window's length in seconds: the bill's window; at most
                                     the longest replica's metrics uptime */
    double end_unix_s;            /* the window's end, Unix time (0: unknown) */
    size_t n_replicas;
    const char *const *replicas;  /* each replica whose series the figures sum ("job/instance") */
    double bucket_growth;         /* ratio of consecutive latency bucket bounds (2^(1/4)): the
                                     resolution of every latency figure and share (docs/fleet.md) */
    double range_s;               /* the window asked for (range), seconds; window_s is shorter when
                                     the replicas' metrics started inside it (0: no range given) */
    size_t n_down;
    const char *const *down;      /* the replicas (of `replicas`) whose last scrape in the window failed
                                     (Prometheus' `up` 0): stopped or not answering at the window's end,
                                     their figures end at their last answer. None from texts. */
    size_t n_never;
    const char *const *never;     /* targets of the replicas' jobs whose scrapes never succeeded in the
                                     window (Prometheus' `up` 0 and no servprof series): replicas that
                                     never answered, in no figure and not in `replicas`. None from texts. */
    /* Each replica's instance bill, n_replicas entries in `replicas`' order (appended). The report's
     * bill is their sum and its states the sum of theirs (a fleet of three replicas is three instances'
     * bill); NULL: the figures are billed as one instance, price x window_s, as before. */
    const sp_replica_bill *bills;
    /* The replicas (of `replicas`, in its order) that exported no servprof_device_seconds_total series
     * while another replica did (appended): their bills are all no_batch (docs/fleet.md, "Cost"), which
     * the report says, naming them. None when no replica has device series (a CPU-only fleet). */
    size_t n_nodev;
    const char *const *nodev;
} sp_report_source;

typedef struct sp_report {
    /* requests */
    uint64_t request_count;
    sp_quantiles latency;          /* end-to-end: the client-observed latency (send -> response
                                      received, on the server clock) of requests with a client
                                      record, arrival -> done of the others; the stages add up to it */
    sp_quantiles server_latency;   /* server side, arrival -> done, of every request */
    int has_client;                /* client-side (load generator) times merged */
    uint64_t requests_with_client; /* analysed requests whose end-to-end is client-observed */
    sp_quantiles client_latency;   /* from intended send time to response, when merged (open loop) */
    /* clock reconciliation (DESIGN 8a), one per (client file, server file) pair that joined; the
     * paths are owned by the report */
    size_t n_clock_offsets;
    sp_clock_offset *clock_offsets;
    uint64_t client_records_unjoined;  /* no request has the id (nor the trace id) */
    uint64_t client_records_unfinished; /* the id is only an unfinished request's: its server
                                           record never came (the trace ended first); transport
                                           errors of such requests included */
    uint64_t client_records_failed;    /* transport errors: no response, not joined (those of an
                                          unfinished request are in client_records_unfinished) */
    uint64_t client_records_duplicate; /* another record for the same request was joined */
    /* stages (DESIGN section 3 order, then named others, then other) */
    size_t n_stages;
    sp_stage_row *stages;
    double other_share_p95;        /* unattributed time, reported as missing instrumentation */
    sp_padding_summary padding;
    uint64_t batch_count;
    sp_quantiles batch_size;       /* members per batch (the unit is requests, not ns) */
    sp_gpu_summary gpu;
    sp_cost_summary cost;
    sp_verdict verdict;
    sp_verdict_prediction prediction; /* printed with the verdict; see sp_verdict_prediction */
    /* data quality */
    sp_drop_row drops[SP_DROP_CAUSE_COUNT];
    uint64_t drops_total;
    uint64_t skipped_records;      /* lenient */
    size_t n_files;
    int hta_compat;
    /* data lost from damaged traces (docs/native-format.md "Reading rule"), totals over the files */
    sp_file_quality *file_quality;  /* n_files entries, in load order */
    uint64_t lost_blocks, lost_bytes;
    uint64_t undecodable_records;   /* records using a name defined only in a lost block */
    uint64_t orphaned_records;      /* requests and batches whose own record was lost */
    size_t unclean_files;           /* native traces the recorder did not close cleanly */
    /* outcomes (DESIGN 8a; docs/analysis.md, "Outcomes"): request_count and every latency, share and
     * cost figure above cover the requests of `outcome_scope`; these count every request */
    sp_outcome_scope outcome_scope;
    sp_outcome_row outcomes[SP_OUTCOME_COUNT]; /* indexed by sp_outcome */
    uint64_t requests_total;       /* requests of every outcome */
    double rejection_rate;         /* outcomes[REJECTED].count / requests_total; 0 without requests */
    sp_status_row statuses[SP_REPORT_MAX_STATUSES]; /* non-ok requests by HTTP status, ascending */
    size_t n_statuses;
    uint64_t statuses_unlisted;    /* non-ok requests with a status beyond the listed ones */
    uint64_t unfinished_batches;   /* batches in flight when an unclean trace ended (left out); the
                                      unclean traces are counted in unclean_files and named in
                                      file_quality (loss.end SP_TRACE_END_UNCLEAN) */
    sp_report_detail *detail;      /* with sp_analyze_options.keep_detail, else NULL; owned by the report */
    sp_gen_summary *generation;    /* traces with generation data (docs/generation.md), else NULL; owned
                                      by the report */
    /* W3C trace context (docs/analysis.md, "Client merge"; appended, so earlier fields keep their
     * offsets): */
    uint64_t client_records_by_trace;  /* joined by trace id, their id text matching no request */
    uint64_t trace_context_requests;   /* recorded requests that carry a trace context */
    uint64_t trace_context_matched;    /* joined pairs whose both sides carry one and agree: one trace
                                          id, and the server's parent span is the client's span */
    uint64_t trace_context_mismatched; /* joined pairs whose both sides carry one and disagree (a proxy
                                          between them started a trace of its own, or ids are wrong) */
    /* Estimated from aggregated counters (sp_report_from_buckets): where from, which replicas and
     * window; NULL for a report analysed from traces. Such a report has no per-request data: its
     * stages' own p50/p95/p99, per-request costs, the other outcomes' latencies and the GPU's
     * per-stream, kernel and copy tables are absent (zero), and writers say so. */
    const sp_report_source *source;
    /* Loaded files from other tools (Kineto, Nsight Systems, Triton, OTLP), whose formats carry no
     * recorder drop counts (appended; 0 in a report built by hand keeps the old wording). When every
     * file is one (other_tool_files == n_files > 0), servprof's recorder never ran and `drops` counts
     * nothing: the writers say drops are not known rather than "0 dropped by the recorder". */
    size_t other_tool_files;
    /* client records with status -6 (servprof load --stream: a 2xx whose event stream failed, e.g. no
     * [DONE]): a response came, so not in client_records_failed; not joined either (appended) */
    uint64_t client_records_failed_streams;
    /* client records with status -5 (servprof load: never sent, the run stopped before they could be
     * sent): no request went out, so not in client_records_failed; not joined either (appended) */
    uint64_t client_records_unsent;
    /* Stage spans of the analysed requests that reached outside their request's life [arrival, done)
     * and were clipped to it (docs/analysis.md section 1): most likely an instrumentation bug. The first
     * such request (in the analysed requests' order) by its id text and its file's path, owned by the
     * report; both NULL when spans_clipped is 0 (appended). */
    uint64_t spans_clipped;
    const char *spans_clipped_request;
    const char *spans_clipped_file;
    /* The client records that match no request (docs/analysis.md "Client merge"), by what the client
     * saw (appended): client_records_unjoined split by the HTTP status it got (2xx; 429 or 503,
     * rejected; any other), so these three add up to it; and the transport errors (no response, in
     * client_records_failed) whose id matches no request either. client_records_total counts every
     * client record loaded, so that a reader can tell a few lost records from traces that do not
     * belong together. */
    uint64_t client_records_unjoined_2xx;
    uint64_t client_records_unjoined_rejected;
    uint64_t client_records_unjoined_other;
    uint64_t client_records_failed_unmatched;
    uint64_t client_records_total;
    /* The batches whose device time the per-request cost split among their analysed members
     * (cost_batches_split), and of those the ones split in equal shares, as a member's token count was
     * unknown (or all were 0); the others by their tokens (appended) */
    uint64_t cost_batches_split, cost_batches_equal;
    /* The trace's batching policy, its `policy.max_batch` and `policy.max_queue_delay_ns` properties
     * (docs/native-format.md, "Properties"; the first file's that parses), 0 where no file carries one:
     * with the median batch that full and the queue's p95 over twice the window, the queue waits for
     * capacity, not for the window (docs/analysis.md, "Saturation"; appended) */
    uint32_t policy_max_batch;
    uint64_t policy_max_queue_delay_ns;
    /* Of client_records_unfinished, the records with an HTTP status (the client got an answer): the
     * server answered them, but the trace ended (kill -9) after their arrival was written and before
     * their end was (docs/analysis.md "Client merge"; appended) */
    uint64_t client_records_unfinished_answered;
    /* Of client_records_failed, the clients' time-outs on requests the server answered ok: the client
     * gave up before the answer came, which a server that is not told of it (aiohttp) records ok with
     * its own time (docs/analysis.md section 6, "Cancellations"; appended) */
    uint64_t client_records_timed_out_ok;
} sp_report;

/* Demangles an Itanium C++ ABI symbol ("_Z...": the names CUDA kernels carry in CUPTI records, and in
 * Kineto and Nsight traces when their tool did not demangle them) as c++filt, nsys and torch.profiler
 * show it, e.g. "_Z5saxpyifPfS_" as "saxpy(int, float, float*, float*)". Every report shows kernel
 * names this way. Writes the text into `buf` (NUL-terminated, cut to len - 1 bytes; `buf` may be NULL when len is
 * 0) and returns its full length, like snprintf. Returns 0, `buf` "", when `symbol` is not a mangled
 * name (it is shown as it is), cannot be demangled, is longer than 4095 bytes, or this build has no
 * demangler (sp_demangle_available). Thread-safe. */
SP_API size_t sp_demangle(const char *symbol, char *buf, size_t len);
/* 1 when servprof was built with a demangler (libiberty's cplus_demangle_v3, Debian libiberty-dev),
 * else 0 (kernel names are then shown as the traces give them). */
SP_API int sp_demangle_available(void);

/* ---- A report from aggregated counters (docs/fleet.md) ----
 * Live metrics summed over replicas and time keep, for each end-to-end latency bucket, how many ok
 * requests fell in it and how long each stage took in them (docs/metrics.md). From these the figures of
 * DESIGN 4 to 8 are estimated within the buckets' resolution: percentiles by interpolating in the
 * bucket that holds the rank; the share of pXX of a stage over the window of DESIGN 4 with each bucket
 * weighted by the part of its requests the window holds; p95 savings by shifting each bucket by its
 * mean candidate time (docs/analysis.md, "Reports from aggregated counters"). */

/* One stage's time in the ok requests of each latency bucket. */
typedef struct sp_bucket_stage {
    const char *name;             /* "queue", "preprocess", "h2d", "kernel", "gap", "d2h", "postprocess",
                                     "network", "other" or a named stage; copied */
    const double *seconds;        /* n_buckets entries (not cumulative) */
} sp_bucket_stage;

/* A histogram of counts (not cumulative) under ascending upper bounds; the last may be INFINITY. */
typedef struct sp_bucket_hist {
    size_t n;
    const double *upper;
    const double *count;
} sp_bucket_hist;

/* Requests that were not ok, by outcome and HTTP status. */
typedef struct sp_bucket_status {
    sp_outcome outcome;
    int32_t status;
    double count;
} sp_bucket_status;

/* Aggregated figures. Counts are doubles: Prometheus' increase() extrapolates to the window's edges.
 * Pointers are borrowed for the call. Fill with sp_bucket_figures_init (it zeroes everything). */
typedef struct sp_bucket_figures {
    size_t n_buckets;
    const double *upper_s;        /* latency bucket bounds in seconds, ascending; the last may be INFINITY */
    const double *count;          /* ok requests per bucket */
    size_t n_stages;
    const sp_bucket_stage *stages;
    const double *padding_s;      /* padding time per bucket (part of the kernel stage); NULL: none */
    double outcomes[SP_OUTCOME_COUNT];     /* requests by outcome (ok included) */
    size_t n_statuses;
    const sp_bucket_status *statuses;
    double batches, batch_members;          /* batches and their members summed */
    sp_bucket_hist batch_size;              /* members per batch */
    double token_batches, effective_tokens, padded_tokens;  /* batches with token counts, their tokens */
    sp_bucket_hist batch_waste;             /* per-batch waste 1 - effective / padded */
    size_t n_devices;
    const double (*device_s)[SP_COST_STATE_COUNT]; /* per device: seconds in each state of DESIGN 7 */
    double kernels, copies;                 /* device work recorded */
    double drops[SP_DROP_CAUSE_COUNT];      /* records the recorders dropped */
    double uncounted;                       /* what the live metrics could not count (data quality) */
    double price_per_hour;                  /* <= 0: SP_DEFAULT_PRICE_PER_HOUR, and the report says so */
    sp_device_kind device_kind;
    const sp_report_source *source;         /* copied into the report; required (window_s > 0) */
} sp_bucket_figures;

SP_API void sp_bucket_figures_init(sp_bucket_figures *f);

/* Builds a report from aggregated figures (the rules in docs/analysis.md, "Reports from aggregated
 * counters"); the writers of report.h write it like any other. `*out` is written only on success; free
 * it with sp_report_destroy. Returns SP_ERR_INVALID (with a message in `err`) for figures that do not
 * hold together: no source, a window <= 0, bounds not ascending, a negative or non-finite count;
 * SP_ERR_NOMEM. */
SP_API sp_status sp_report_from_buckets(const sp_bucket_figures *f, sp_report **out, char *err, size_t errlen);

/* Analyses `ev` (finishing it first). `opt` may be NULL. `*out` is written only on success; free it
 * with sp_report_destroy. Returns SP_ERR_PARSE with a message in `err` when references do not resolve
 * (unless lenient), SP_ERR_NOMEM, SP_ERR_STATE for a set an earlier analysis released. `ev` is
 * modified only by sorting, and under `opt->release_events` by freeing what the analysis has done with. */
SP_API sp_status sp_analyze(sp_events *ev, const sp_analyze_options *opt, sp_report **out,
                            char *err, size_t errlen);

SP_API void sp_report_destroy(sp_report *r);

/* The window of latency ranks that share of pXX (xx in 1..99) is taken over, among n requests sorted
 * by end-to-end latency (DESIGN section 4; docs/analysis.md section 2): 1-based ranks *lo through *hi,
 * inclusive, at least min(20, n) of them; both 0 when n is 0. For recomputing shares from
 * sp_request_rows, e.g. on a resample of requests. */
SP_API void sp_share_window(size_t n, unsigned xx, size_t *lo, size_t *hi);

/* Quotes r->prediction (filled by the what-if simulator, sp_whatif_quote_verdict in whatif.h) in the
 * verdict sentence, as " (what-if: <sp_verdict_prediction_str>)" right after the leading
 * configuration candidate's fix (DESIGN section 8: a configuration verdict quotes the what-if
 * prediction for the natural change). Does nothing when there is no prediction, no place for one
 * (verdict.clause_at is SIZE_MAX) or it is already quoted. Returns SP_OK, SP_ERR_INVALID (NULL),
 * SP_ERR_NOMEM (the sentence is then unchanged). */
SP_API sp_status sp_report_quote_prediction(sp_report *r);

/* Whether the report's data are incomplete, in one line for people: what each file lost (regions with
 * their byte offsets, undecodable and orphaned records, an unclean end, the recorder's drops, skipped
 * records; as sp_events_describe_loss) and the records the analysis skipped. Returns how many such things
 * it names: 0 when nothing was lost (`buf` then holds ""). This is the list `--strict` fails on
 * (docs/cli.md). `buf` is always NUL-terminated when len > 0 (a long list ends with "..."); it may be
 * NULL when len is 0. */
SP_API size_t sp_report_describe_loss(const sp_report *r, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

/* The report writers (text, JSON, HTML, Perfetto, what-if output) have their own header and library
 * (libservprof-report); it is included here so that programs written when they were declared in this
 * header still compile. New code includes servprof/report.h. */
#include "servprof/report.h"

#endif
