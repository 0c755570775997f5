/* Private helpers shared by the what-if files: the batcher's bucketing rule and the fit's and the
 * SLO pick's tolerances, so every file agrees on each. */
#ifndef SERVPROF_WHATIF_INT_H
#define SERVPROF_WHATIF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "servprof/whatif.h"

/* Tolerance of the fit's Gram-Schmidt: a term whose column keeps less than this fraction of its norm
 * after removing the earlier terms is indistinguishable from them and dropped. */
#define SP_WHATIF_DEPENDENT_TOL 1e-7

/* The padded length a request of `len` tokens is grouped under, exactly as bucket_of() in
 * src/serve/batcher.c: the static shape, its bucket bound (max_len past the last), or 0 (no
 * grouping: the batch pads to its longest member). */
uint32_t sp_whatif_bucket_of(const sp_whatif_policy *p, uint32_t len);

/* The input length the service runs: a static shape cuts inputs to pad_to (docs/serve.md). */
uint32_t sp_whatif_effective_len(const sp_whatif_policy *p, uint32_t len);

/* Why a trace's policy, read into `o` by sp_whatif_observed_from_events, gives no prediction when the
 * trace writes some policy.* property: which of the three keys a prediction needs are missing
 * ("missing policy.max_queue_delay_ns, policy.pad; a prediction needs ...") and which policy.* keys
 * servprof does not read ("not read: policy.max_queue_delay_ms"). Writes "" and returns 0 when the
 * trace has no policy.* property at all (it carries no policy), else returns 1. */
int sp_whatif_policy_gaps(const sp_events *ev, const sp_whatif_observed *o, char *buf, size_t len);

#endif
