/* servprof diff (libservprof-diff): compares two runs of a service, BASE and NEW, figure by figure:
 * end-to-end and per-stage p50/p95/p99, each stage's share of p95, padding, cost and the verdict.
 * When both runs come from traces, each per-request figure's change carries a bootstrap confidence
 * interval over requests; runs read from servprof.report/1 JSON reports carry only their figures, so
 * their changes are point estimates. Conditions such as "p95:+5%" are checked against those
 * intervals, for gating CI on a change. docs/diff.md gives the method, the metric paths, the
 * condition grammar and the servprof.diff/1 JSON; the writers (text, JSON, HTML) are in
 * servprof/report.h.
 *
 * Ownership: every pointer a function returns inside an sp_diff_run or an sp_diff is owned by it and
 * freed by its destroy function; arguments are borrowed for the call. Objects are not shared between
 * threads by the library; distinct objects may be used from distinct threads. */
#ifndef SERVPROF_DIFF_H
#define SERVPROF_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "servprof/analyze.h"
#include "servprof/events.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_DIFF_SCHEMA "servprof.diff/1"
/* Defaults of sp_diff_options (docs/diff.md, "Confidence"): a fixed seed, so a diff is reproducible
 * byte for byte. */
#define SP_DIFF_DEFAULT_SEED 1u
#define SP_DIFF_DEFAULT_RESAMPLES 1000u
#define SP_DIFF_DEFAULT_CONFIDENCE 0.95
/* Bounds of sp_diff_options: resamples, and the confidence (a two-sided level). */
#define SP_DIFF_MAX_RESAMPLES 100000u
#define SP_DIFF_MIN_CONFIDENCE 0.5
#define SP_DIFF_MAX_CONFIDENCE 0.999
/* The bootstrap's blocks (sp_diff_options.block, docs/diff.md "Confidence"): by default the larger of
 * SP_DIFF_MIN_BLOCK and ceil(sqrt(n)) requests for a run of n; default or given, at most
 * n / SP_DIFF_MIN_BLOCKS (at least 1), so that a resample is drawn from that many blocks at least. */
#define SP_DIFF_MIN_BLOCK 100u
#define SP_DIFF_MIN_BLOCKS 10u
#define SP_DIFF_MAX_BLOCK 1000000u
/* Largest servprof.report/1 document a run is read from. */
#define SP_DIFF_MAX_REPORT_BYTES ((size_t)256 << 20)
/* Longest condition text (sp_diff_condition.spec), in bytes. */
#define SP_DIFF_MAX_SPEC 255u

/* ---- one run ---- */

/* One side of a comparison: a run's figures, and its per-request figures when it came from traces. */
typedef struct sp_diff_run sp_diff_run;

/* Where a run's figures came from. */
typedef enum sp_diff_source {
    SP_DIFF_FROM_TRACES = 0,      /* traces, analysed here: per-request figures, intervals possible */
    SP_DIFF_FROM_REPORT           /* a servprof.report/1 JSON report: its figures only */
} sp_diff_source;

/* One input of a run: a file, or bytes already in memory (standard input, say). */
typedef struct sp_diff_input {
    const char *name;             /* for messages and the run's label: the path, or e.g. "<stdin>" */
    const char *path;             /* read this file; NULL: the bytes below */
    const void *data;             /* when path is NULL: len bytes, borrowed for the call */
    size_t len;
} sp_diff_input;

/* Reads one run from `n` inputs. A servprof.report/1 JSON report (a JSON object whose first member is
 * "schema": "servprof.report/1"; plain or gzip'd) is read as it is, and must be its run's only input.
 * Anything else is a trace: all of them are loaded into one event set (several files are replicas,
 * ids kept apart per file, as `servprof analyze` reads them) and analysed with `aopt` (NULL:
 * defaults) plus keep_requests, for the per-request figures the bootstrap resamples; then, as
 * `servprof analyze` does, the verdict quotes the what-if prediction (sp_whatif_quote_verdict in
 * servprof/whatif.h, with aopt's lenient; it replays the trace once when the verdict names queue or
 * padding and the trace carries its batching policy), so the run's verdict sentence is analyze's for
 * the same traces and options. aopt's release_events is ignored for a trace the quote replays. A
 * report's sentence is kept as the report gives it. `lopt` (may be NULL) applies to the traces.
 * `*out` is written only on success.
 * Returns SP_ERR_INVALID (n is 0, an input has neither path nor data, a report among other inputs,
 * bad options), SP_ERR_FORMAT (a servprof JSON document other than a report, or what the trace
 * loader cannot read), SP_ERR_IO, SP_ERR_PARSE (a malformed report or trace: the message names the
 * file, the line and the key), SP_ERR_LIMIT (a report over SP_DIFF_MAX_REPORT_BYTES), SP_ERR_NOMEM;
 * with a message in `err` (NUL-terminated when errlen > 0). */
SP_API sp_status sp_diff_run_load(const sp_diff_input *in, size_t n, const sp_load_options *lopt,
                                  const sp_analyze_options *aopt, sp_diff_run **out, char *err, size_t errlen);

/* As sp_diff_run_load; besides, `*skippable` (may be NULL; always written when given) is 1 when a
 * trace failed to load on a malformed record that sp_load_options.lenient would have skipped and
 * counted (sp_events_load_skippable), so a caller can suggest it, else 0. */
SP_API sp_status sp_diff_run_load_ex(const sp_diff_input *in, size_t n, const sp_load_options *lopt,
                                     const sp_analyze_options *aopt, sp_diff_run **out, int *skippable,
                                     char *err, size_t errlen);

/* A run from an analysis: its figures, and its per-request figures when the report kept them
 * (sp_analyze_options.keep_requests). `label` (copied; NULL: "report") names the run in the output.
 * Returns SP_ERR_INVALID (NULL r or out), SP_ERR_NOMEM. */
SP_API sp_status sp_diff_run_from_report(const sp_report *r, const char *label, sp_diff_run **out);

/* A run from the bytes of a servprof.report/1 JSON document (not compressed); `name` is used in
 * messages and as the label. Statuses and messages as sp_diff_run_load's. */
SP_API sp_status sp_diff_run_read_report(const char *name, const void *data, size_t len, sp_diff_run **out,
                                         char *err, size_t errlen);

/* NULL is fine. */
SP_API void sp_diff_run_destroy(sp_diff_run *run);

/* ---- the comparison ---- */

typedef struct sp_diff_options {
    uint64_t seed;                /* the bootstrap's RNG seed; default SP_DIFF_DEFAULT_SEED */
    unsigned resamples;           /* bootstrap resamples, 1..SP_DIFF_MAX_RESAMPLES; default 1000 */
    unsigned block;               /* requests per block of the bootstrap, consecutive in arrival order
                                     (docs/diff.md, "Confidence"), 0..SP_DIFF_MAX_BLOCK: 0 (default)
                                     the rule above; 1 resamples requests one by one; a block longer
                                     than a tenth of a run (n / SP_DIFF_MIN_BLOCKS, at least 1) is cut
                                     to that, as the default is */
    double confidence;            /* two-sided level of the intervals, in [SP_DIFF_MIN_CONFIDENCE,
                                     SP_DIFF_MAX_CONFIDENCE]; default 0.95 */
} sp_diff_options;

SP_API void sp_diff_options_init(sp_diff_options *opt);

/* What a metric's values are. */
typedef enum sp_diff_unit {
    SP_DIFF_UNIT_NS = 0,          /* a duration in ns (JSON: us) */
    SP_DIFF_UNIT_FRACTION,        /* a share or fraction in [0, 1]; its change is in points (0.05 = 5 points) */
    SP_DIFF_UNIT_DOLLARS,
    SP_DIFF_UNIT_COUNT
} sp_diff_unit;

/* "ns", "fraction", "dollars", "count". */
SP_API const char *sp_diff_unit_str(sp_diff_unit u);

/* One compared figure (docs/diff.md, "Metrics"). */
typedef struct sp_diff_metric {
    const char *path;             /* "latency.p95", "stage.queue.share_of_p95", "cost.per_request", ... */
    const char *stage;            /* a stage metric's stage name, else NULL */
    sp_diff_unit unit;
    double base_value, new_value; /* the runs' figures; NaN where a run's report has none (null) */
    double change;                /* new - base; NaN when either is NaN */
    double rel_change;            /* change / base; NaN when base is 0 or NaN */
    int has_interval;             /* lo and hi hold: the figure is per request and both runs came
                                     from traces */
    double lo, hi;                /* the bootstrap interval of `change` at the diff's confidence */
} sp_diff_metric;

/* A stage of either run, in report order (both runs' stages merged; sp_diff.stages). */
typedef struct sp_diff_stage {
    const char *name;
    int in_base, in_new;          /* the run reports the stage; a stage a run lacks counts 0 in it */
} sp_diff_stage;

/* What a diff says about one run. */
typedef struct sp_diff_side {
    const char *label;            /* its inputs ("a.jsonl", "a.jsonl + b.jsonl") */
    sp_diff_source source;
    size_t files;                 /* trace files behind it (a report's `files`) */
    size_t replicas;              /* a fleet report's replicas (its `source.replicas`: it came from
                                     live metrics, not files); 0 for traces and other reports */
    uint64_t requests;            /* analysed requests */
    int has_rows;                 /* per-request figures: the run came from traces */
    size_t block;                 /* requests per block its resamples were drawn in; 0 without
                                     intervals */
    double price_per_hour;
    int price_is_default;
    const char *verdict_stage;    /* the verdict's candidate, or NULL (analyze.h sp_verdict) */
    const char *verdict_group;    /* "configuration", "runtime", "model", "instrumentation", "none" */
    double verdict_share_p95;     /* NaN without a candidate */
    const char *verdict_sentence; /* NULL when the run has none */
} sp_diff_side;

/* ---- conditions (docs/diff.md, "Conditions") ----
 * METRIC:+THRESHOLD holds when the metric rose by more than the threshold, METRIC:-THRESHOLD when it
 * fell by more, "with confidence": for a metric with an interval, the interval's lower bound (a
 * rise) or upper bound (a fall) is beyond the threshold; for a point estimate, the change itself.
 * THRESHOLD is NUMBER% (relative to BASE's value), NUMBER with a duration unit (ns, us, ms, s; for
 * durations), or a bare NUMBER (absolute, in the metric's unit: a fraction for shares, dollars,
 * requests). */
typedef struct sp_diff_condition {
    char spec[SP_DIFF_MAX_SPEC + 1];   /* the text as given */
    char metric[SP_DIFF_MAX_SPEC + 1]; /* the metric's canonical path ("p95" gives "latency.p95") */
    sp_diff_unit unit;            /* the metric's */
    int direction;                /* +1: holds on a rise, -1: on a fall */
    int relative;                 /* threshold is a fraction of BASE's value */
    double threshold;             /* >= 0: relative (5% is 0.05), or absolute in the unit (ns for durations) */
} sp_diff_condition;

/* Parses `spec` into *out (written only on success). Returns SP_ERR_INVALID with a message naming
 * the text and what was expected (unknown metric, missing direction, a duration without a unit, a
 * unit on a share, a negative or malformed number, text over SP_DIFF_MAX_SPEC bytes). Whether a
 * named stage exists is checked by sp_diff_check_condition. */
SP_API sp_status sp_diff_condition_parse(const char *spec, sp_diff_condition *out, char *err, size_t errlen);

/* How a check decided. */
typedef enum sp_diff_basis {
    SP_DIFF_BASIS_INTERVAL = 0,   /* the bound of the metric's bootstrap interval */
    SP_DIFF_BASIS_POINT           /* the point change: the metric has no interval */
} sp_diff_basis;

typedef struct sp_diff_check {
    sp_diff_condition cond;
    size_t metric;                /* index into sp_diff.metrics */
    sp_diff_basis basis;
    double bound;                 /* what was compared with the threshold: the interval's lower bound
                                     (a rise) or upper bound (a fall), or the point change; divided by
                                     BASE's value for a relative condition; NaN when not computable */
    int base_zero;                /* relative condition, BASE's value 0: any rise counts as beyond the
                                     threshold, no fall is */
    int holds;
} sp_diff_check;

/* A comparison of two runs. Every field is read-only to callers. */
typedef struct sp_diff {
    sp_diff_side base, after;     /* BASE and NEW */
    sp_diff_options opt;          /* as used */
    int intervals;                /* both runs have per-request figures: per-request metrics have
                                     intervals */
    size_t n_stages;
    sp_diff_stage *stages;
    size_t n_metrics;
    sp_diff_metric *metrics;      /* docs/diff.md order: requests, latency, stages, padding, cost */
    size_t n_checks;
    sp_diff_check *checks;        /* in the order sp_diff_check_condition was called */
    size_t n_holding;             /* checks that hold; servprof diff exits 3 when it is not 0 */
    /* BASE's and NEW's requests whose end-to-end is the client's, send -> reply (a load generator's
     * trace merged; a report's requests.with_client_record); 0: the server's, arrival -> done. Last,
     * so that the members above keep their places. */
    uint64_t with_client[2];
    /* BASE's and NEW's report holds generation data (steps, TTFT, TPOT: a continuous-batching
     * generation service, docs/generation.md); 0: a service without (dynamic batches, one answer). */
    int generation[2];
} sp_diff;

/* Compares `base` with `after` (NEW): every metric, and with per-request figures on both sides the
 * bootstrap (docs/diff.md, "Confidence"): `opt->resamples` resamples of each run's requests, drawn
 * with replacement in blocks of requests consecutive in arrival order (a circular block bootstrap)
 * from the common RNG seeded with `opt->seed`, each metric recomputed on each, and the interval of
 * the change taken at nearest ranks of the resampled changes. `opt` may be NULL.
 * Deterministic: the same runs and options give the same diff. `*out` is written only on success.
 * Returns SP_ERR_INVALID (NULL arguments, options out of range, a run without analysed requests:
 * the message says which), SP_ERR_NOMEM. */
SP_API sp_status sp_diff_compare(const sp_diff_run *base, const sp_diff_run *after, const sp_diff_options *opt,
                                 sp_diff **out, char *err, size_t errlen);

/* The metric with canonical path or alias `path` ("p95" is "latency.p95"), or NULL. */
SP_API const sp_diff_metric *sp_diff_find(const sp_diff *d, const char *path);

/* Checks condition `c` on `d` and appends the result to d->checks (n_holding counts it when it
 * holds). Returns SP_ERR_INVALID with a message when the condition names a stage neither run has
 * (listing the stages), SP_ERR_NOMEM. */
SP_API sp_status sp_diff_check_condition(sp_diff *d, const sp_diff_condition *c, char *err, size_t errlen);

/* NULL is fine. */
SP_API void sp_diff_destroy(sp_diff *d);

#ifdef __cplusplus
}
#endif

#endif
