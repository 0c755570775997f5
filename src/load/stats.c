/* Exact latency percentiles for the load generator: every recorded value is kept (32 bytes per
 * request, capped by SP_LOAD_MAX_REQUESTS), sorted (common/sort.h), and read by nearest rank
 * (DESIGN section 4). */
#include <stdlib.h>
#include <string.h>

#include "common/sort.h"
#include "load/load_int.h"

uint64_t sp_load_rank(const uint64_t *sorted, size_t n, uint32_t q_milli_pct)
{
    if (n == 0)
        return 0;
    /* DESIGN section 4: k = ceil(q x n / 100) in integers; here q is in 1/1000 of a percent so
     * p99.9 is exact: k = (q x n + 99999) / 100000. q <= 1e5 and n <= 2^40 keep it inside 64 bits. */
    uint64_t k = ((uint64_t)q_milli_pct * n + 99999u) / 100000u;
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return sorted[k - 1];
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void sp_load_latency_fill(uint64_t *vals, size_t n, sp_load_latency *lat)
{
    memset(lat, 0, sizeof *lat);
    if (n == 0)
        return;
    if (sp_sort_u64(vals, n, NULL) != SP_OK)
        qsort(vals, n, sizeof *vals, cmp_u64); /* no memory for the radix sort's buffer: in place */
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)vals[i];
    lat->count = n;
    lat->mean = sum / (double)n;
    lat->p50 = sp_load_rank(vals, n, 50000);
    lat->p90 = sp_load_rank(vals, n, 90000);
    lat->p95 = sp_load_rank(vals, n, 95000);
    lat->p99 = sp_load_rank(vals, n, 99000);
    lat->p999 = sp_load_rank(vals, n, 99900);
    lat->max = vals[n - 1];
}
