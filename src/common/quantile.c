/* The nearest-rank percentiles of quantile.h. */
#include <stdlib.h>

#include "common/quantile.h"

size_t sp_rank(size_t n, uint32_t q)
{
    if (n == 0)
        return 0;
    /* DESIGN section 4: k = ceil(q x n / 100) for whole percents; in thousandths of a percent,
     * ceil(q x n / 100000). q <= 100000 and n < 2^40 keep the product inside 64 bits. */
    uint64_t k = ((uint64_t)q * n + 99999u) / 100000u;
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (size_t)k;
}

uint64_t sp_pick_u64(const uint64_t *sorted, size_t n, uint32_t q)
{
    return n ? sorted[sp_rank(n, q) - 1] : 0;
}

double sp_pick_double(const double *sorted, size_t n, uint32_t q)
{
    return n ? sorted[sp_rank(n, q) - 1] : 0.0;
}

static int double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void sp_sort_double(double *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, double_cmp);
}
