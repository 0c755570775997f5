/* Private helpers shared by the what-if files: the batcher's bucketing rule, a setting's and an
 * extrapolation's text for the writers and the verdict's prediction, and a small seeded random
 * generator, so every file agrees on each. */
#ifndef SERVPROF_WHATIF_INT_H
#define SERVPROF_WHATIF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "servprof/whatif.h"

/* Tolerance of the fit's Gram-Schmidt: a term whose column keeps less than this fraction of its norm
 * after removing the earlier terms is indistinguishable from them and dropped. */
#define SP_WHATIF_DEPENDENT_TOL 1e-7

/* Relative difference under which two costs per request are the same price (sp_whatif_pick_slo). */
#define SP_WHATIF_COST_TIE 0.005

/* The padded length a request of `len` tokens is grouped under, exactly as bucket_of() in
 * src/serve/batcher.c: the static shape, its bucket bound (max_len past the last), or 0 (no
 * grouping: the batch pads to its longest member). */
uint32_t sp_whatif_bucket_of(const sp_whatif_policy *p, uint32_t len);

/* The input length the service runs: a static shape cuts inputs to pad_to (docs/serve.md). */
uint32_t sp_whatif_effective_len(const sp_whatif_policy *p, uint32_t len);

/* The value of setting `s` of `p` as the reports print it ("16", "2.00 ms", "buckets:32,64"). */
char *sp_whatif_setting_value(const sp_whatif_policy *p, sp_whatif_setting s, char *buf, size_t len);

/* Room for any padding rule's text (sp_whatif_pad_str): "buckets:" and 15 bounds of up to 5 digits. */
#define SP_WHATIF_PAD_STR_MAX (SP_WHATIF_MAX_BUCKETS * 12 + 16)

/* Why `r`'s prediction extrapolates, against the batches `f` has seen: "batches of up to 32 requests
 * (the trace's largest: 16); padded to as few as 8 tokens (the trace's fewest: 64)". "" when it does
 * not. Returns buf. */
char *sp_whatif_extrapolation_str(const sp_whatif_fit *f, const sp_whatif_result *r, char *buf, size_t len);

#endif
