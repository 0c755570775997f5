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

void sp_ana_col_stats_of(const uint64_t *v, size_t n, sp_ana_col_stats *st)
{
    /* one pass for the extremes, the sum (exact while it stays below 2^64, as in
     * sp_ana_quantiles_sorted: the same number whatever the order) and the bits that vary */
    sp_ana_col_stats acc = SP_ANA_COL_STATS_NONE;
    for (size_t i = 0; i < n; i++)
        sp_ana_col_stats_add(&acc, v[i], 1);
    *st = acc;
}

sp_status sp_ana_quantiles_select(uint64_t *v, size_t n, uint64_t *tmp, sp_quantiles *q, const uint32_t *pct, size_t np,
                                  uint64_t *picked)
{
    sp_ana_col_stats st;
    sp_ana_col_stats_of(v, n, &st);
    return sp_ana_quantiles_select_stats(v, n, tmp, &st, q, pct, np, picked);
}

int sp_ana_select_reads_one(const sp_ana_col_stats *cs, size_t np)
{
#if LDBL_MANT_DIG >= 64
    /* the selection's route below, with nothing varying: sp_select_ranks_u64 answers v[0] */
    return cs->or_k == cs->and_k && !cs->wrapped && np + 3 <= SP_SELECT_RANKS_MAX;
#else
    (void)cs;
    (void)np;
    return 0; /* the sorted route reads every value */
#endif
}

int sp_ana_select_takes_counts(const sp_ana_col_stats *cs, size_t np)
{
#if LDBL_MANT_DIG >= 64
    /* the selection's route below, with some bit varying: sp_select_ranks_u64 counts a first digit */
    return cs->or_k != cs->and_k && !cs->wrapped && np + 3 <= SP_SELECT_RANKS_MAX;
#else
    (void)cs;
    (void)np;
    return 0;
#endif
}

static sp_status select_stats(uint64_t *v, size_t n, uint64_t *tmp, const sp_ana_col_stats *cs, const size_t *count,
                              sp_quantiles *q, const uint32_t *pct, size_t np, uint64_t *picked);

sp_status sp_ana_quantiles_select_stats(uint64_t *v, size_t n, uint64_t *tmp, const sp_ana_col_stats *cs, sp_quantiles *q,
                                        const uint32_t *pct, size_t np, uint64_t *picked)
{
    return select_stats(v, n, tmp, cs, NULL, q, pct, np, picked);
}

sp_status sp_ana_quantiles_select_counted(uint64_t *v, size_t n, uint64_t *tmp, const sp_ana_col_stats *cs,
                                          const size_t *count, sp_quantiles *q, const uint32_t *pct, size_t np,
                                          uint64_t *picked)
{
    return select_stats(v, n, tmp, cs, count, q, pct, np, picked);
}

/* sp_ana_quantiles_select_stats, with the selection's first counts when `count` is not NULL (only
 * where sp_ana_select_takes_counts says the selection is taken) */
static sp_status select_stats(uint64_t *v, size_t n, uint64_t *tmp, const sp_ana_col_stats *cs, const size_t *count,
                              sp_quantiles *q, const uint32_t *pct, size_t np, uint64_t *picked)
{
    memset(q, 0, sizeof *q);
    if (!n) {
        for (size_t j = 0; j < np; j++)
            picked[j] = 0;
        return SP_OK;
    }
#if LDBL_MANT_DIG >= 64
    uint64_t lo = cs->lo, hi = cs->hi, or_k = cs->or_k, and_k = cs->and_k, isum = cs->sum;
    if (!cs->wrapped && np + 3 <= SP_SELECT_RANKS_MAX) {
        /* the nearest ranks (DESIGN section 4) of p50, p95, p99 and the extra percentiles, ascending,
         * each with the slot its value goes to */
        size_t ks[SP_SELECT_RANKS_MAX] = {0}, slot[SP_SELECT_RANKS_MAX] = {0};
        uint64_t got[SP_SELECT_RANKS_MAX];
        size_t nk = 0;
        for (size_t j = 0; j < np + 3; j++) {
            uint32_t p = j < 3 ? (j == 0 ? SP_PCT(50) : j == 1 ? SP_PCT(95) : SP_PCT(99)) : pct[j - 3];
            size_t k = sp_rank(n, p) - 1, m = nk++;
            while (m > 0 && ks[m - 1] > k) {
                ks[m] = ks[m - 1];
                slot[m] = slot[m - 1];
                m--;
            }
            ks[m] = k;
            slot[m] = j;
        }
        uint64_t val[SP_SELECT_RANKS_MAX] = {0};
        if (count)
            sp_select_ranks_u64_counted(v, n, tmp, or_k ^ and_k, count, ks, nk, got);
        else
            sp_select_ranks_u64(v, n, tmp, or_k ^ and_k, ks, nk, got);
        for (size_t m = 0; m < nk; m++)
            val[slot[m]] = got[m];
        q->count = n;
        q->min_ns = lo;
        q->max_ns = hi;
        q->p50_ns = val[0];
        q->p95_ns = val[1];
        q->p99_ns = val[2];
        q->mean_ns = (double)((long double)isum / (long double)n);
        for (size_t j = 0; j < np; j++)
            picked[j] = val[3 + j];
        return SP_OK;
    }
#endif
    /* a sum past 2^64 (added in long double in sorted order) or no 64-bit long double: sorted */
    sp_status st = sp_sort_u64(v, n, tmp);
    if (st)
        return st;
    sp_ana_quantiles_sorted(v, n, q);
    for (size_t j = 0; j < np; j++)
        picked[j] = sp_pick_u64(v, n, pct[j]);
    return SP_OK;
}

sp_status sp_ana_quantiles_select_in(sp_ana_scratch *s, uint64_t *v, size_t n, sp_quantiles *q)
{
    uint64_t *tmp = n >= 2 ? sp_ana_scratch_get(s, n * sizeof *tmp) : NULL;
    if (n >= 2 && !tmp)
        return SP_ERR_NOMEM;
    sp_status st = sp_ana_quantiles_select(v, n, tmp, q, NULL, 0, NULL);
    sp_ana_scratch_put(s, tmp);
    return st;
}

sp_status sp_ana_quantiles_select_u32_in(sp_ana_scratch *s, uint32_t *v, size_t n, sp_quantiles *q)
{
    memset(q, 0, sizeof *q);
    if (!n)
        return SP_OK;
    sp_ana_col_stats cs = SP_ANA_COL_STATS_NONE;
    for (size_t i = 0; i < n; i++)
        sp_ana_col_stats_add(&cs, v[i], 1);
#if LDBL_MANT_DIG >= 64
    if (!cs.wrapped) {
        /* select_stats' selection route, on the 32-bit values: the same ranks, the same picks */
        size_t ks[3] = {sp_rank(n, SP_PCT(50)) - 1, sp_rank(n, SP_PCT(95)) - 1, sp_rank(n, SP_PCT(99)) - 1};
        uint64_t got[3];
        uint32_t *tmp = n >= 2 ? sp_ana_scratch_get(s, n * sizeof *tmp) : NULL;
        if (n >= 2 && !tmp)
            return SP_ERR_NOMEM;
        sp_select_ranks_u32(v, n, tmp, cs.or_k ^ cs.and_k, ks, 3, got);
        sp_ana_scratch_put(s, tmp);
        q->count = n;
        q->min_ns = cs.lo;
        q->max_ns = cs.hi;
        q->p50_ns = got[0];
        q->p95_ns = got[1];
        q->p99_ns = got[2];
        q->mean_ns = (double)((long double)cs.sum / (long double)n);
        return SP_OK;
    }
#endif
    /* the sorted route (a sum past 2^64, or no 64-bit long double): on the values widened */
    uint64_t *w = sp_ana_scratch_get(s, n * sizeof *w);
    if (!w)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        w[i] = v[i];
    sp_status st = sp_ana_quantiles_select_in(s, w, n, q);
    sp_ana_scratch_put(s, w);
    return st;
}
