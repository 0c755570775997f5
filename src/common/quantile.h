/* Exact percentiles by nearest rank (DESIGN section 4), for every part that reports them: the
 * analyzer's stage columns, the load generator's latencies, what-if's predictions, the HTML charts.
 * Values are sorted with common/sort.h (integers) or sp_sort_double; a pXX is then one index. */
#ifndef SERVPROF_QUANTILE_H
#define SERVPROF_QUANTILE_H

#include <stddef.h>
#include <stdint.h>

/* A whole percent in the unit sp_rank takes (thousandths of a percent): SP_PCT(95) is p95. */
#define SP_PCT(xx) ((uint32_t)(xx) * 1000u)

/* The nearest rank k (1-based) of the q-th percentile of n values, q in thousandths of a percent
 * (p99.9 is 99900): k = ceil(q x n / 100000) computed in integers, at least 1, at most n; 0 when
 * n is 0. For a whole percent XX this is DESIGN section 4's (XX x n + 99) / 100. */
size_t sp_rank(size_t n, uint32_t q);

/* The q-th percentile of sorted[0..n): sorted[sp_rank(n, q) - 1]; 0 when n is 0. */
uint64_t sp_pick_u64(const uint64_t *sorted, size_t n, uint32_t q);
double sp_pick_double(const double *sorted, size_t n, uint32_t q);

/* Sorts v[n] ascending (no NaNs expected; they would sort as equal to everything). */
void sp_sort_double(double *v, size_t n);

#endif
