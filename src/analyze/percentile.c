/* Nearest-rank percentiles on exact integer values (DESIGN section 4) and the sorting they need:
 * common/sort.h's LSD radix sort, so stage columns of millions of requests sort in linear time. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/sort.h"

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
    return sp_sort_u64(v, n, tmp);
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
