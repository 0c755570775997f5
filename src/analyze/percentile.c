/* The analyzer's summary of a column of durations (sp_quantiles: count, min, max, p50/p95/p99,
 * mean), on the common engine: common/sort.h sorts, common/quantile.h picks by nearest rank
 * (DESIGN section 4). */
#include <float.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/quantile.h"
#include "common/sort.h"

void sp_ana_quantiles_sorted(const uint64_t *v, size_t n, sp_quantiles *q)
{
    memset(q, 0, sizeof *q);
    if (!n)
        return;
    q->count = n;
    q->min_ns = v[0];
    q->max_ns = v[n - 1];
    q->p50_ns = sp_pick_u64(v, n, SP_PCT(50));
    q->p95_ns = sp_pick_u64(v, n, SP_PCT(95));
    q->p99_ns = sp_pick_u64(v, n, SP_PCT(99));
    /* mean in long double: sums of ns over millions of requests stay exact enough */
    long double sum = 0;
#if LDBL_MANT_DIG >= 64
    /* Where long double holds every integer below 2^64 (x86's 80-bit, quad), the sum added in long
     * double is exact while it stays below 2^64: every partial sum is such an integer, as the values
     * are. Then the integer sum is the same number, added without x87's serial latency (issue 15);
     * past 2^64, the loop below as before. */
    uint64_t isum = 0;
    int wrapped = 0;
    for (size_t i = 0; i < n; i++)
        wrapped |= __builtin_add_overflow(isum, v[i], &isum);
    if (!wrapped)
        sum = (long double)isum;
    else
#endif
        for (size_t i = 0; i < n; i++)
            sum += (long double)v[i];
    q->mean_ns = (double)(sum / (long double)n);
}

sp_status sp_ana_quantiles_in(sp_ana_scratch *s, uint64_t *v, size_t n, sp_quantiles *q)
{
    uint64_t *tmp = n >= 2 ? sp_ana_scratch_get(s, n * sizeof *tmp) : NULL;
    if (n >= 2 && !tmp)
        return SP_ERR_NOMEM;
    sp_status st = sp_sort_u64(v, n, tmp);
    sp_ana_scratch_put(s, tmp);
    if (!st)
        sp_ana_quantiles_sorted(v, n, q);
    return st;
}

sp_status sp_ana_quantiles(uint64_t *v, size_t n, sp_quantiles *q)
{
    sp_status st = sp_sort_u64(v, n, NULL);
    if (st)
        return st;
    sp_ana_quantiles_sorted(v, n, q);
    return SP_OK;
}
