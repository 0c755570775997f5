/* Nearest-rank percentiles on exact integer values (DESIGN section 4) and the sorting they need: an
 * LSD radix sort for uint64 durations, so stage columns of millions of requests sort in linear time. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

size_t sp_ana_rank(size_t n, unsigned xx)
{
    /* DESIGN section 4: k = ceil(xx * n / 100) = (xx * n + 99) / 100, at least 1 */
    size_t k = ((size_t)xx * n + 99) / 100;
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return k;
}

sp_status sp_ana_sort_u64(uint64_t *v, size_t n, uint64_t *tmp)
{
    if (n < 2)
        return SP_OK;
    uint64_t or_all = 0;
    for (size_t i = 0; i < n; i++)
        or_all |= v[i];
    int own = 0;
    if (!tmp) {
        tmp = malloc(n * sizeof *tmp);
        if (!tmp)
            return SP_ERR_NOMEM;
        own = 1;
    }
    uint64_t *src = v, *dst = tmp;
    size_t count[256];
    /* 8-bit digits, skipping digits that are zero in every value (durations rarely use the top bytes) */
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if (((or_all >> shift) & 0xff) == 0)
            continue;
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xff]++;
        size_t sum = 0;
        for (size_t d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
    if (own)
        free(tmp);
    return SP_OK;
}

void sp_ana_quantiles_sorted(const uint64_t *v, size_t n, sp_quantiles *q)
{
    memset(q, 0, sizeof *q);
    if (!n)
        return;
    q->count = n;
    q->min_ns = v[0];
    q->max_ns = v[n - 1];
    q->p50_ns = v[sp_ana_rank(n, 50) - 1];
    q->p95_ns = v[sp_ana_rank(n, 95) - 1];
    q->p99_ns = v[sp_ana_rank(n, 99) - 1];
    /* mean in long double: sums of ns over millions of requests stay exact enough */
    long double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (long double)v[i];
    q->mean_ns = (double)(sum / (long double)n);
}

sp_status sp_ana_quantiles(uint64_t *v, size_t n, sp_quantiles *q)
{
    sp_status st = sp_ana_sort_u64(v, n, NULL);
    if (st)
        return st;
    sp_ana_quantiles_sorted(v, n, q);
    return SP_OK;
}

static int double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void sp_ana_sort_double(double *v, size_t n)
{
    qsort(v, n, sizeof *v, double_cmp);
}

double sp_ana_pick_double(const double *sorted, size_t n, unsigned xx)
{
    return n ? sorted[sp_ana_rank(n, xx) - 1] : 0.0;
}
