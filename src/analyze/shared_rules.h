/* The analyzer's rules that the what-if simulator applies too, so that a prediction and the report it
 * is quoted in count the same way: the quantile summary (percentile.c, DESIGN section 4), the price
 * rule and the bill (cost.c, DESIGN section 7) and the saturation threshold of the queue verdict.
 * With report_store.h (a report's strings) it is the analyzer's one door for src/whatif, which never
 * includes analyze_int.h (the analyzer's working state); analyze_int.h includes this header. */
#ifndef SERVPROF_SHARED_RULES_H
#define SERVPROF_SHARED_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "servprof/analyze.h"

/* Queue-dominated verdicts: when a batch is in flight at least this fraction of the profiled window
 * (cost state "no batch in flight" below 1 - this), the queue builds up behind a saturated device, and
 * the advice is capacity, not a shorter batch window (docs/analysis.md, "Verdict"). The what-if quote
 * uses it to word its prediction as the verdict does. */
#define SP_ANA_SATURATED_IN_FLIGHT 0.85

/* How many times the trace's window the queue's p95 must exceed to be "past the window": the requests
 * around p95 waited longer than any window holds a request (sp_ana_batches_full,
 * sp_ana_queue_past_window). */
#define SP_ANA_PAST_WINDOW 2

/* The queue stage's p95 (ns), 0 when the report has no queue row. */
static inline uint64_t sp_ana_queue_p95(const sp_report *r)
{
    for (size_t s = 0; s < r->n_stages; s++)
        if (r->stages[s].name && !strcmp(r->stages[s].name, "queue"))
            return r->stages[s].q.p95_ns;
    return 0;
}

/* Whether the trace's policy (policy.max_queue_delay_ns) is known and the queue's p95 is over
 * SP_ANA_PAST_WINDOW times that window. Not for generation steps (no batch window). */
static inline int sp_ana_queue_p95_past_window(const sp_report *r)
{
    if (!r->policy_max_queue_delay_ns || (r->generation && r->generation->steps))
        return 0;
    return sp_ana_queue_p95(r) / SP_ANA_PAST_WINDOW > r->policy_max_queue_delay_ns;
}

/* The other sign of a queue that waits for capacity: the median batch holds the trace's max batch
 * (`policy.max_batch`) and the queue's p95 is over twice the trace's window
 * (`policy.max_queue_delay_ns`): batches mostly leave full, and the requests around p95 waited far
 * longer than any window holds a request, for a batcher still busy with the batches before theirs;
 * a shorter window changes little. A host that cannot keep the device fed (a Python service's event
 * loop) saturates so while the device is idle between batches. The median alone is not enough: at a
 * rate that fills half the batches within the window the others wait the whole window, and those
 * are the requests around p95. Not for generation steps (no batch window). */
static inline int sp_ana_batches_full(const sp_report *r)
{
    if (!r->policy_max_batch || !r->policy_max_queue_delay_ns || !r->batch_size.count ||
        r->batch_size.p50_ns < r->policy_max_batch || (r->generation && r->generation->steps))
        return 0;
    return sp_ana_queue_p95_past_window(r);
}

/* The device's saturation (docs/analysis.md, "Saturation"): a batch in flight at least
 * SP_ANA_SATURATED_IN_FLIGHT of the window, or full batches (sp_ana_batches_full). */
static inline int sp_ana_device_saturated(const sp_report *r)
{
    return (r->cost.window_ns > 0 && 1.0 - r->cost.by_state_share[SP_COST_NO_BATCH] >= SP_ANA_SATURATED_IN_FLIGHT) ||
           sp_ana_batches_full(r);
}

/* A service past its capacity by its own word: it refused (rejected, e.g. 503 from a full queue) at
 * least SP_REJECTION_SIGNIFICANT of all requests, the share from which the verdict says requests are
 * being rejected. Its queue is no batch window's doing, whatever the device's busy time (a Python
 * service whose event loop, not the model, is the limit keeps the device idle between batches). */
static inline int sp_ana_refusing(const sp_report *r)
{
    return sp_outcome_significant(r->outcomes[SP_OUTCOME_REJECTED].count, r->requests_total);
}

/* The queue verdict's saturation (docs/analysis.md, "Saturation"): the device's
 * (sp_ana_device_saturated), or a service that refuses requests (sp_ana_refusing). */
static inline int sp_ana_queue_saturated(const sp_report *r)
{
    return sp_ana_device_saturated(r) || sp_ana_refusing(r);
}

/* A queue past the window that is no saturation (docs/analysis.md, "Queue past the window"): the
 * trace carries policy.max_batch and policy.max_queue_delay_ns, the median batch is under max_batch
 * (batches leave before they fill, so the window is what sends them), the queue's p95 is over
 * SP_ANA_PAST_WINDOW times the window, and the queue is not saturated (sp_ana_queue_saturated). A
 * window caps a request's wait for its batch to fill; the wait past it is the batcher dispatching
 * late (a host too busy to run it on time, a blocked event loop, too few workers), which the fix
 * names beside the shorter window. Not for generation steps. */
static inline int sp_ana_queue_past_window(const sp_report *r)
{
    if (!r->policy_max_batch || !r->policy_max_queue_delay_ns || !r->batch_size.count ||
        r->batch_size.p50_ns >= r->policy_max_batch || (r->generation && r->generation->steps))
        return 0;
    return sp_ana_queue_p95_past_window(r) && !sp_ana_queue_saturated(r);
}

/* ---- percentile.c (sorting and ranks: common/sort.h, common/quantile.h) ---- */
/* Fills q from ascending v[n]. n == 0 gives all zero. */
void sp_ana_quantiles_sorted(const uint64_t *v, size_t n, sp_quantiles *q);
/* Sorts v in place and fills q. SP_OK or SP_ERR_NOMEM. */
sp_status sp_ana_quantiles(uint64_t *v, size_t n, sp_quantiles *q);

/* ---- cost.c ---- */
/* Price rule of DESIGN section 7: `option_price` if > 0, else `trace_price` if > 0, else
 * SP_DEFAULT_PRICE_PER_HOUR (then *is_default = 1). */
double sp_ana_price(double option_price, double trace_price, int *is_default);
/* Instance bill for `window_ns` at `price_per_hour` (DESIGN section 7). */
double sp_ana_bill(double price_per_hour, uint64_t window_ns);

#endif
