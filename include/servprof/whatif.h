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

typedef enum sp_whatif_pad {
    SP_WHATIF_PAD_LONGEST = 0,  /* each batch padded to its longest member */
    SP_WHATIF_PAD_STATIC,       /* every input cut to and padded to pad_to */
    SP_WHATIF_PAD_BUCKETS       /* padded to the bound of its length bucket; beyond the last: max_len */
} sp_whatif_pad;

/* One batching policy, with the reference service's semantics (src/serve/batcher.c). */
typedef struct sp_whatif_policy {
    uint32_t max_batch;        /* requests per batch (one input each) */
    uint64_t max_delay_ns;     /* how long the oldest queued request waits for company */
    sp_whatif_pad pad;
    uint32_t pad_to;           /* SP_WHATIF_PAD_STATIC */
    uint32_t buckets[SP_WHATIF_MAX_BUCKETS]; /* SP_WHATIF_PAD_BUCKETS: ascending, 0-terminated */
    uint32_t instances;        /* workers, each running one batch at a time */
    uint32_t queue_capacity;   /* requests that may wait; an arrival beyond it is rejected (503) */
    uint32_t max_len;          /* the service's max tokens per input (bucket overflow pads to it) */
} sp_whatif_policy;

/* The service's defaults: max batch 16, 2 ms, longest, 1 instance, queue 256, max len 128. */
SP_API void sp_whatif_policy_init(sp_whatif_policy *p);

/* Writes a short description ("mb=16 delay=2ms pad=longest inst=1") into buf; returns buf. */
SP_API const char *sp_whatif_policy_str(const sp_whatif_policy *p, char *buf, size_t buflen);

/* One observed batch: members, padded length (padded tokens / members) and window duration. */
typedef struct sp_whatif_batch_obs {
    uint32_t size;
    uint32_t padded_len;
    uint64_t duration_ns;
} sp_whatif_batch_obs;

/* Service-time model t = a + b*size + c*size*padded_len + d*size*padded_len^2 (ns), fitted by least
 * squares. Terms the data cannot tell apart (e.g. one padded length only) are dropped (coefficient 0,
 * `used` bit clear). Relative residuals obs/pred are kept so the simulation can resample them. */
typedef struct sp_whatif_fit {
    double coef[4];            /* a, b, c, d */
    unsigned used;             /* bit i: coefficient i was fitted */
    size_t n;                  /* batches fitted */
    double r2;                 /* 1 - SSres/SStot (1 when SStot is 0 and the fit is exact) */
    double mape;               /* mean |pred - obs| / obs */
    uint64_t min_ns, max_ns;   /* floor of the prediction: min_ns / 2 (see docs/whatif.md) */
    double *ratios;            /* n relative residuals obs/pred, owned; NULL after sp_whatif_fit_clear */
    size_t n_ratios;
} sp_whatif_fit;

/* Fits `n` batches (n >= 1). `terms` is a bit mask of the coefficients to try (0: all four).
 * Writes `*out` only on success (free with sp_whatif_fit_clear). SP_ERR_INVALID if n == 0 or a batch
 * has size 0; SP_ERR_NOMEM. */
SP_API sp_status sp_whatif_fit_batches(const sp_whatif_batch_obs *b, size_t n, unsigned terms,
                                       sp_whatif_fit *out);
/* Predicted window of a batch of `size` requests padded to `padded_len`, in ns (at least the floor). */
SP_API double sp_whatif_fit_predict(const sp_whatif_fit *f, uint32_t size, uint32_t padded_len);
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
    uint64_t head_wait_p50_ns; /* median wait of the oldest member of batches smaller than the
                                  largest: an estimate of the profiled max queue delay */
    double price_per_hour;     /* from the trace's meta, <= 0 unknown */
    sp_quantiles observed;     /* measured latency of the requests with observed_ns > 0 */
    uint64_t measured_rejected; /* of reqs, those the profiled service rejected (DESIGN 8a): the
                                   measured rejection rate is measured_rejected / n_reqs, comparable
                                   with a simulated result's rejected / requests */
} sp_whatif_workload;

/* Extracts the workload from a loaded event set (finishing it). The requests are the offered load:
 * every request with a record and a valid [arrival, done] whose outcome is ok, rejected or cancelled,
 * and every unfinished one with a start (DESIGN 8a); requests answered with an error are not replayed.
 * Only ok requests carry an observed latency. A request without input_tokens takes its batch's
 * effective tokens / members.
 * `lenient`: unresolved references are dropped and counted instead of failing (sp_ev_finish).
 * Writes `*out` only on success (free with sp_whatif_workload_clear). SP_ERR_INVALID with a message
 * if there are no usable requests or batches; SP_ERR_PARSE if references do not resolve; SP_ERR_LIMIT;
 * SP_ERR_NOMEM. */
SP_API sp_status sp_whatif_workload_from_events(sp_events *ev, int lenient, sp_whatif_workload *out,
                                                char *err, size_t errlen);
/* Copies `n` requests (sorted here by enqueue time) and `nb` batches into a workload (for tests and
 * synthetic studies). */
SP_API sp_status sp_whatif_workload_from_arrays(const sp_whatif_request *reqs, size_t n,
                                                const sp_whatif_batch_obs *b, size_t nb,
                                                sp_whatif_workload *out);
SP_API void sp_whatif_workload_clear(sp_whatif_workload *w);

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
/* Parses one padding policy: "longest", "static:N", "buckets:32,64,128" into p->pad/pad_to/buckets. */
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
SP_API sp_status sp_whatif_pick_slo(sp_whatif_result *r, size_t n, uint64_t slo_ns, size_t *best);

#ifdef __cplusplus
}
#endif

#endif
