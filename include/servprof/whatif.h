/* servprof what-if: fits a batch service-time model to the batches of one profile and replays the
 * profile's arrivals through other batching policies (max batch, queue delay, padding, instances) in
 * a discrete-event simulation of the reference service's batcher, predicting percentiles,
 * throughput, utilisation and cost per request. docs/whatif.md gives the model and its limits. */
#ifndef SERVPROF_WHATIF_H
#define SERVPROF_WHATIF_H

#include <stdio.h>

#include "servprof/analyze.h"
#include "servprof/events.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_WHATIF_MAX_BUCKETS 16     /* as the reference service's batcher */
#define SP_WHATIF_MAX_INSTANCES 1024
#define SP_WHATIF_MAX_POLICIES 4096  /* grid size cap */
#define SP_WHATIF_MAX_REQUESTS (1u << 26)
/* Limits of a policy's settings (a trace's policy properties and the parsers below refuse values
 * outside them; the reference service's own limits where it has one). */
#define SP_WHATIF_MAX_BATCH 4096u             /* max_batch: 1.. (as SP_SERVER_MAX_BATCH) */
#define SP_WHATIF_MAX_DELAY_MS 60000u         /* max_delay_ns: 0..this many ms */
#define SP_WHATIF_MAX_QUEUE_CAPACITY 1000000u /* queue_capacity: 1.. */
#define SP_WHATIF_MAX_LEN 65536u              /* max_len, pad_to, bucket bounds: 1.. */

typedef enum sp_whatif_pad {
    SP_WHATIF_PAD_LONGEST = 0,  /* each batch padded to its longest member */
    SP_WHATIF_PAD_STATIC,       /* every input cut to and padded to pad_to */
    SP_WHATIF_PAD_BUCKETS,      /* padded to the bound of its length bucket; beyond the last: max_len */
    SP_WHATIF_PAD_MULTIPLE      /* padded to its longest member rounded up to a multiple of pad_to
                                   (servprof synth's rule); pad_to 1 is SP_WHATIF_PAD_LONGEST */
} sp_whatif_pad;

/* One batching policy, with the reference service's semantics (src/serve/batcher.c). */
typedef struct sp_whatif_policy {
    uint32_t max_batch;        /* requests per batch (one input each) */
    uint64_t max_delay_ns;     /* how long the oldest queued request waits for company */
    sp_whatif_pad pad;
    uint32_t pad_to;           /* SP_WHATIF_PAD_STATIC: the shape; SP_WHATIF_PAD_MULTIPLE: the multiple */
    uint32_t buckets[SP_WHATIF_MAX_BUCKETS]; /* SP_WHATIF_PAD_BUCKETS: ascending, 0-terminated */
    uint32_t instances;        /* workers, each running one batch at a time */
    uint32_t queue_capacity;   /* requests that may wait; an arrival beyond it is rejected (503) */
    uint32_t max_len;          /* the service's max tokens per input (bucket overflow pads to it) */
} sp_whatif_policy;

/* The service's defaults: max batch 16, 2 ms, longest, 1 instance, queue 256, max len 128. */
SP_API void sp_whatif_policy_init(sp_whatif_policy *p);

/* Writes a short description ("mb=16 delay=2.00 ms pad=longest inst=1", the delay in the report's
 * duration units) into buf; returns buf. */
SP_API const char *sp_whatif_policy_str(const sp_whatif_policy *p, char *buf, size_t buflen);

/* Writes the padding rule alone ("longest", "static:64", "buckets:32,64,128", "multiple:64"); returns buf. */
SP_API const char *sp_whatif_pad_str(const sp_whatif_policy *p, char *buf, size_t buflen);

/* Room for any padding rule's text (sp_whatif_pad_str): "buckets:" and 15 bounds of up to 5 digits. */
#define SP_WHATIF_PAD_STR_MAX (SP_WHATIF_MAX_BUCKETS * 12 + 16)

/* Rewrites `p` into its canonical form, so two policies that batch alike compare equal: fields the
 * padding rule does not use are cleared, multiple:1 becomes longest. */
SP_API void sp_whatif_policy_normalize(sp_whatif_policy *p);

/* 1 when `a` and `b` batch alike (equal after sp_whatif_policy_normalize), else 0. */
SP_API int sp_whatif_policy_equal(const sp_whatif_policy *a, const sp_whatif_policy *b);

/* The settings in which `a` and `b` differ after normalising: bit (1 << sp_whatif_setting) each. */
SP_API unsigned sp_whatif_policy_diff(const sp_whatif_policy *a, const sp_whatif_policy *b);

/* One observed batch: members, padded length (padded tokens / members) and window duration. */
typedef struct sp_whatif_batch_obs {
    uint32_t size;
    uint32_t padded_len;
    uint64_t duration_ns;
} sp_whatif_batch_obs;

/* Service-time model t = a + b*size + c*size*padded_len + d*size*padded_len^2 (ns): a fixed cost per
 * batch, a cost per request, a cost per padded token and an attention-like term. Fitted by
 * non-negative least squares: every coefficient is a cost, so none may be below 0 (docs/whatif.md,
 * "The fit"). Terms the data cannot tell apart (e.g. one padded length only) are dropped
 * (coefficient 0, `used` bit clear). Relative residuals obs/pred are kept so the simulation can
 * resample them. */
typedef struct sp_whatif_fit {
    double coef[4];            /* a, b, c, d: the non-negative fit used for predictions */
    double coef_ls[4];         /* the unconstrained least squares over the same terms, for the record */
    unsigned used;             /* bit i: coefficient i was fitted (its term is independent of the others) */
    unsigned clamped;          /* bit i: term i is used but the constraint holds it at 0 (unconstrained,
                                  coef_ls[i] differs: usually negative) */
    size_t n;                  /* batches fitted */
    double r2;                 /* 1 - SSres/SStot (1 when SStot is 0 and the fit is exact) */
    double mape;               /* mean |pred - obs| / obs */
    uint64_t min_ns, max_ns;   /* floor of the prediction: min_ns / 2 (see docs/whatif.md) */
    uint32_t size_min, size_max;   /* batch sizes the fit has seen */
    uint32_t len_min, len_max;     /* padded lengths the fit has seen */
    double *ratios;            /* n relative residuals obs/pred, owned; NULL after sp_whatif_fit_clear */
    size_t n_ratios;
} sp_whatif_fit;

/* Fits `n` batches (n >= 1). `terms` is a bit mask of the coefficients to try (0: all four).
 * Writes `*out` only on success (free with sp_whatif_fit_clear). SP_ERR_INVALID if n == 0 or a batch
 * has size 0; SP_ERR_STATE when no physical fit exists (every non-negative cost would be 0), with
 * the reason in `err`; SP_ERR_NOMEM. `err` may be NULL. */
SP_API sp_status sp_whatif_fit_batches(const sp_whatif_batch_obs *b, size_t n, unsigned terms,
                                       sp_whatif_fit *out, char *err, size_t errlen);
/* Predicted window of a batch of `size` requests padded to `padded_len`, in ns (at least the floor). */
SP_API double sp_whatif_fit_predict(const sp_whatif_fit *f, uint32_t size, uint32_t padded_len);
/* 1 when a batch of `size` requests padded to `padded_len` lies within the sizes and padded lengths
 * the fit has seen; 0 when predicting it extrapolates. */
SP_API int sp_whatif_fit_covers(const sp_whatif_fit *f, uint32_t size, uint32_t padded_len);
/* The name of coefficient `term` (0..3), e.g. "cost per request". Static string. */
SP_API const char *sp_whatif_term_name(unsigned term);
SP_API void sp_whatif_fit_clear(sp_whatif_fit *f);

/* One request of the workload to replay. */
typedef struct sp_whatif_request {
    uint64_t arrival_ns;       /* received by the server */
    uint64_t pre_ns;           /* arrival -> enqueue (preprocess); kept under every policy */
    uint64_t post_ns;          /* batch end -> done (postprocess); kept under every policy */
    uint32_t tokens;           /* input length, [CLS]/[SEP] included */
    uint64_t observed_ns;      /* measured latency, 0 if unknown */
} sp_whatif_request;

/* Workload extracted from a profile: requests (sorted by enqueue time) and batches. */
typedef struct sp_whatif_workload {
    sp_whatif_request *reqs;
    size_t n_reqs;
    sp_whatif_batch_obs *batches;
    size_t n_batches;
    uint32_t max_batch_seen;   /* largest batch in the profile */
    uint32_t max_tokens_seen;  /* longest request input in the profile */
    uint32_t max_queued_seen;  /* most requests waiting for a batch at once (enqueued, not yet
                                  dispatched); 0 when unknown (sp_whatif_workload_from_arrays) */
    uint64_t head_wait_p50_ns; /* median wait of the oldest member of batches smaller than the
                                  largest: an estimate of the profiled max queue delay (but see
                                  head_wait_all_full) */
    double price_per_hour;     /* from the trace's meta, <= 0 unknown */
    sp_quantiles observed;     /* measured latency of the requests with observed_ns > 0 */
    uint64_t measured_rejected; /* of reqs, those the profiled service rejected (DESIGN 8a): the
                                   measured rejection rate is measured_rejected / n_reqs, comparable
                                   with a simulated result's rejected / requests */
    uint64_t unknown_len;      /* of reqs, those whose input length the trace does not give (no
                                  input_tokens, no batch with effective tokens: e.g. refused at the
                                  connection cap before they were read); they take typical_len */
    uint32_t typical_len;      /* the median input length of the others; 0 when unknown_len is 0 */
    int typical_from_padded;   /* no request's length was known: typical_len is the median padded
                                  length per member of the batches instead */
    int head_wait_all_full;    /* no batch was smaller than the largest (each filled before its
                                  deadline): head_wait_p50_ns is instead the longest wait of a
                                  batch's oldest member, the least max queue delay under which every
                                  batch fills (0 would dispatch each request alone) */
} sp_whatif_workload;

/* Extracts the workload from a loaded event set (finishing it). The requests are the offered load:
 * every request with a record and a valid [arrival, done] whose outcome is ok, rejected or cancelled,
 * and every unfinished one with a start (DESIGN 8a); requests answered with an error are not replayed.
 * Only ok requests carry an observed latency. A request without input_tokens takes its batch's
 * effective tokens / members; one with neither (never batched) takes the median input length of the
 * requests whose length is known (counted in unknown_len), not 1 token.
 * `lenient`: unresolved references are dropped and counted instead of failing (sp_ev_finish).
 * Writes `*out` only on success (free with sp_whatif_workload_clear). SP_ERR_INVALID with a message
 * if there are no usable requests or batches; SP_ERR_FORMAT with a message for a generation trace
 * with steps (continuous batching, docs/generation.md, which the simulator does not replay);
 * SP_ERR_PARSE if references do not resolve; SP_ERR_LIMIT; SP_ERR_NOMEM. */
SP_API sp_status sp_whatif_workload_from_events(sp_events *ev, int lenient, sp_whatif_workload *out,
                                                char *err, size_t errlen);
/* Copies `n` requests (sorted here by enqueue time) and `nb` batches into a workload (for tests and
 * synthetic studies). */
SP_API sp_status sp_whatif_workload_from_arrays(const sp_whatif_request *reqs, size_t n,
                                                const sp_whatif_batch_obs *b, size_t nb,
                                                sp_whatif_workload *out);
SP_API void sp_whatif_workload_clear(sp_whatif_workload *w);

/* ---- the policy that ran ---- */

/* Where one setting of the observed policy came from. */
typedef enum sp_whatif_origin {
    SP_WHATIF_FROM_DEFAULT = 0,   /* in neither the trace nor the options: the reference service's
                                     default, assumed */
    SP_WHATIF_FROM_TRACE,         /* the trace's policy.* properties (docs/native-format.md) */
    SP_WHATIF_FROM_INFERRED,      /* estimated from the profile's batches and requests */
    SP_WHATIF_FROM_OPTION         /* given by the caller */
} sp_whatif_origin;

/* "default", "trace", "inferred", "option". */
SP_API const char *sp_whatif_origin_str(sp_whatif_origin o);

/* The settings of a policy, for origins and advice. */
typedef enum sp_whatif_setting {
    SP_WHATIF_SET_MAX_BATCH = 0,
    SP_WHATIF_SET_DELAY,
    SP_WHATIF_SET_PAD,
    SP_WHATIF_SET_INSTANCES,
    SP_WHATIF_SET_QUEUE_CAPACITY,
    SP_WHATIF_SET_MAX_LEN,
    SP_WHATIF_SET_COUNT
} sp_whatif_setting;

/* The CLI's name of a setting: "max-batch", "max-queue-delay", "pad", "instances",
 * "queue-capacity", "max-len". */
SP_API const char *sp_whatif_setting_str(sp_whatif_setting s);

/* The value of setting `s` of `p` as the reports print it ("16", "2.00 ms", "buckets:32,64"; the delay
 * in the report's duration units) into buf; returns buf. SP_WHATIF_PAD_STR_MAX bytes hold any. */
SP_API const char *sp_whatif_setting_value(const sp_whatif_policy *p, sp_whatif_setting s, char *buf,
                                           size_t len);

/* The profiled policy and where each of its settings came from. */
typedef struct sp_whatif_observed {
    sp_whatif_policy policy;
    sp_whatif_origin origin[SP_WHATIF_SET_COUNT];
    int file;                  /* the file the trace's policy was read from, -1: none carries one */
    char source[256];          /* that file's name (cut to fit), "" when none */
    int files_differ;          /* another file carries a different policy (the first one is used) */
    char differ[256];          /* which key differs and where, when files_differ */
} sp_whatif_observed;

/* Reads the batching policy from the trace's properties: from the first loaded file that carries any
 * policy.* key (docs/native-format.md "Properties"; policy.pad_multiple is servprof synth's rule,
 * SP_WHATIF_PAD_MULTIPLE). Settings the trace lacks keep the defaults of sp_whatif_policy_init with
 * origin SP_WHATIF_FROM_DEFAULT. Writes `*out` only on success. SP_ERR_PARSE when a policy property
 * has a value that is not a valid setting: the message names the file, the key and the value.
 * `ev` is only read. */
SP_API sp_status sp_whatif_observed_from_events(const sp_events *ev, sp_whatif_observed *out, char *err,
                                                size_t errlen);

/* Fills the settings still at SP_WHATIF_FROM_DEFAULT that the profile can estimate (origin
 * SP_WHATIF_FROM_INFERRED): max batch = the largest batch seen; delay = the median wait of the
 * oldest member of batches smaller than the largest; max len = the longest input seen and queue
 * capacity = the most requests waiting at once, each only when above the default (the service must
 * have allowed at least that). Call it after setting SP_WHATIF_FROM_OPTION settings. */
SP_API void sp_whatif_observed_infer(sp_whatif_observed *o, const sp_whatif_workload *w);

/* 1 when the trace carried max batch, delay and padding rule (what a prediction needs), else 0. */
SP_API int sp_whatif_observed_from_trace(const sp_whatif_observed *o);

/* What one policy is predicted to do. */
typedef struct sp_whatif_result {
    sp_whatif_policy policy;
    uint64_t requests, completed, rejected;  /* rejected: queue full (503) */
    sp_quantiles latency;      /* arrival -> done of completed requests (nearest rank) */
    sp_quantiles queue;        /* enqueue -> dispatch */
    uint64_t batches;
    double mean_batch;
    double waste;              /* 1 - effective/padded tokens */
    uint64_t window_ns;        /* first arrival -> last done */
    double throughput_rps;     /* completed / window */
    double utilisation;        /* busy instance-time / (instances x window) */
    double price_per_hour, bill, cost_per_request;  /* bill = price x instances x window */
    int meets_slo;             /* set by sp_whatif_pick_slo */
    uint64_t extrapolated_batches; /* simulated batches outside the fit's sizes or padded lengths
                                      (sp_whatif_fit_covers): their times are extrapolations */
    uint32_t largest_batch;    /* the largest simulated batch */
    uint32_t longest_padded, shortest_padded; /* padded lengths of the simulated batches */
} sp_whatif_result;

typedef struct sp_whatif_sim_options {
    int resample;              /* multiply each batch's predicted time by a relative residual of
                                  the fit drawn at random (seeded); 0: deterministic times */
    uint64_t seed;
    double price_per_hour;     /* > 0 */
} sp_whatif_sim_options;

SP_API void sp_whatif_sim_options_init(sp_whatif_sim_options *o);

/* Replays `w` through `p` with service times from `fit`. Writes `*out` only on success.
 * SP_ERR_INVALID for a bad policy (max_batch, instances, capacity, max_len 0, buckets not ascending,
 * pad_to 0 under static); SP_ERR_NOMEM. Deterministic for a given seed. Thread-safe. */
SP_API sp_status sp_whatif_simulate(const sp_whatif_workload *w, const sp_whatif_fit *fit,
                                    const sp_whatif_policy *p, const sp_whatif_sim_options *o,
                                    sp_whatif_result *out);

/* ---- sweeps ---- */

/* Parses "8,16,32" (positive integers up to `max`) into v[cap]; *n gets the count. SP_ERR_PARSE
 * with a message naming the item for a bad list; SP_ERR_LIMIT beyond cap. */
SP_API sp_status sp_whatif_parse_u32_list(const char *s, uint32_t max, uint32_t *v, size_t cap,
                                          size_t *n, char *err, size_t errlen);
/* Parses "0.5,2,5" (non-negative milliseconds, at most 60000) into ns. */
SP_API sp_status sp_whatif_parse_ms_list(const char *s, uint64_t *v, size_t cap, size_t *n, char *err,
                                         size_t errlen);
/* Parses one padding policy: "longest", "static:N", "buckets:32,64,128" or "multiple:N" into
 * p->pad/pad_to/buckets. */
SP_API sp_status sp_whatif_parse_pad(const char *s, sp_whatif_policy *p, char *err, size_t errlen);

/* The Cartesian product max_batch x delay x pad x instances, in that nesting order (instances
 * fastest); other fields from `base`. pads[i] supplies pad/pad_to/buckets. Writes at most cap
 * policies; SP_ERR_LIMIT if the product is larger. */
SP_API sp_status sp_whatif_grid(const sp_whatif_policy *base, const uint32_t *mb, size_t n_mb,
                                const uint64_t *delay, size_t n_delay, const sp_whatif_policy *pads,
                                size_t n_pads, const uint32_t *inst, size_t n_inst,
                                sp_whatif_policy *out, size_t cap, size_t *n_out);

/* Marks each result's meets_slo (p95 <= slo_ns and nothing rejected) and writes the index of the
 * cheapest that meets it to *best (costs within 0.5% of each other are a tie, since policies on the
 * same instance count differ only by a few ns of window: then lower p95, then earlier). SP_ERR_STATE (and *best untouched)
 * when none does. */
/* Relative difference under which two costs per request are the same price (sp_whatif_pick_slo; the
 * SLO line names such a tie). */
#define SP_WHATIF_COST_TIE 0.005
/* Whether costs `a` and `b` are the same price: within SP_WHATIF_COST_TIE of the larger. */
static inline int sp_whatif_cost_tied(double a, double b)
{
    double d = a > b ? a - b : b - a;
    return d <= SP_WHATIF_COST_TIE * (a > b ? a : b);
}
SP_API sp_status sp_whatif_pick_slo(sp_whatif_result *r, size_t n, uint64_t slo_ns, size_t *best);

/* ---- a study: the observed policy and a sweep, simulated, with advice; its writers ---- */

/* Least relative p95 gain a change must predict before the advice names it: smaller differences
 * are within what resampled residuals move between runs. */
#define SP_WHATIF_ADVICE_MIN_GAIN 0.02

typedef struct sp_whatif_study_options {
    sp_whatif_sim_options sim; /* sim.price_per_hour > 0 overrides the price; else the trace's, else
                                  SP_DEFAULT_PRICE_PER_HOUR (then price_is_default) */
    uint64_t slo_p95_ns;       /* > 0: pick the cheapest policy that meets p95 <= this */
} sp_whatif_study_options;

/* Resampling on, seed 1, no price (the trace's or the default), no SLO. */
SP_API void sp_whatif_study_options_init(sp_whatif_study_options *o);

/* A profile too thin to predict from (docs/whatif.md, "A thin profile"): below either count the study
 * still runs, and its writers say plainly that its figures describe the few batches seen, not the
 * service. 8 batches: twice the costs of the largest model (four), so that each cost is fitted from
 * more than one batch and the residuals the simulation resamples are more than the fit's own echo; 30
 * requests: with fewer, p95 and p99 are the slowest one or two requests. */
#define SP_WHATIF_THIN_REQUESTS 30u
#define SP_WHATIF_THIN_BATCHES 8u

/* 1 when `w` has fewer than SP_WHATIF_THIN_REQUESTS requests or SP_WHATIF_THIN_BATCHES batches, with
 * what is short written to `why` ("1 request and 1 batch: fewer than the 30 requests and 8 batches a
 * prediction needs"); else 0 and `why` "". `why` may be NULL. */
SP_API int sp_whatif_profile_thin(const sp_whatif_workload *w, char *why, size_t len);

/* The advice: the candidate that lowers predicted p95 most (by at least SP_WHATIF_ADVICE_MIN_GAIN
 * and without rejecting more requests), preferring candidates that differ from the observed policy
 * in one setting only, so the advice names the setting that helped. */
typedef struct sp_whatif_advice {
    int found;
    size_t row;                /* index into the study's results */
    unsigned settings;         /* bit sp_whatif_setting: the settings that differ from the observed */
} sp_whatif_advice;

typedef struct sp_whatif_study {
    /* borrowed from the caller of sp_whatif_study_run; they must outlive the study's writers */
    const sp_whatif_workload *workload;
    const sp_whatif_fit *fit;
    const sp_whatif_observed *observed;
    sp_whatif_sim_options sim; /* as simulated, the price resolved */
    int price_is_default;
    sp_whatif_result *results; /* owned: [0] the observed policy simulated, then distinct candidates */
    size_t n_results;
    size_t duplicates;         /* candidates dropped as equal to the observed policy or an earlier one */
    uint64_t slo_p95_ns;       /* 0: none asked */
    int slo_met;               /* a policy meets it: slo_best is the cheapest */
    size_t slo_best;
    sp_whatif_advice advice;
} sp_whatif_study;

/* Simulates the observed policy, then each of the `n` candidates that is not equal
 * (sp_whatif_policy_equal) to it or to an earlier candidate, picks the SLO choice and the advice.
 * `w`, `fit` and `obs` are borrowed and must outlive `*out`. Writes `*out` only on success (free with
 * sp_whatif_study_clear). SP_ERR_INVALID with a message naming the policy when one cannot be
 * simulated; SP_ERR_LIMIT beyond SP_WHATIF_MAX_POLICIES candidates; SP_ERR_NOMEM. */
SP_API sp_status sp_whatif_study_run(const sp_whatif_workload *w, const sp_whatif_fit *fit,
                                     const sp_whatif_observed *obs, const sp_whatif_policy *candidates,
                                     size_t n, const sp_whatif_study_options *opt, sp_whatif_study *out,
                                     char *err, size_t errlen);
/* NULL is fine. */
SP_API void sp_whatif_study_clear(sp_whatif_study *s);

/* The writers of a study (sp_whatif_write_text, _json, _html) are declared in servprof/report.h,
 * which analyze.h includes, and live in the report library (libservprof-report). */

/* ---- the verdict's prediction (DESIGN section 8) ---- */

/* When the verdict of `r` (analysed from `ev` by sp_analyze) names a batching setting (`queue` or
 * `padding`), simulates the natural change on the same trace and stores it in r->prediction, which
 * the report writers print with the verdict: for queue, a quarter of the max queue delay, or, behind
 * a saturated device, twice the max batch when batches are full, else one more instance; for
 * padding, bucketing by powers of two (or, under a static shape longer than every input, the
 * shortest static shape that cuts none). The observed policy must come from the trace
 * (sp_whatif_observed_from_trace); when it does not, or the trace lacks what the simulation needs,
 * r->prediction says why (state SP_PREDICTION_UNAVAILABLE). Other verdicts leave it untouched, and so
 * does a generation trace with steps (continuous batching, which the simulator does not replay).
 * `lenient` as in sp_analyze_options. Returns SP_OK, or SP_ERR_NOMEM; SP_ERR_INVALID for NULL
 * arguments. Not thread-safe on the same report. */
SP_API sp_status sp_whatif_quote_verdict(sp_events *ev, sp_report *r, int lenient);

/* Whether sp_whatif_quote_verdict may read `ev`'s requests and spans after sp_analyze: 1 when the
 * trace carries the batching policy (the quote may then replay the trace), else 0 (NULL too): without
 * it the quote reads only the properties, which a set released by its analysis keeps. A caller that
 * analyses with sp_analyze_options.release_events and then quotes must not release a set this says
 * 1 of (the quote would return SP_ERR_STATE). Reads `ev` only. */
SP_API int sp_whatif_quote_reads_events(const sp_events *ev);

#ifdef __cplusplus
}
#endif

#endif
