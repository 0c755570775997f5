/* Exact latency percentiles for the load generator: every recorded value is kept (32 bytes per
 * request, capped by SP_LOAD_MAX_REQUESTS), sorted (common/sort.h), and read by nearest rank
 * (common/quantile.h, DESIGN section 4). */
#include <stdlib.h>
#include <string.h>

#include "common/quantile.h"
#include "common/sort.h"
#include "load/load_int.h"

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
    lat->p50 = sp_pick_u64(vals, n, SP_PCT(50));
    lat->p90 = sp_pick_u64(vals, n, SP_PCT(90));
    lat->p95 = sp_pick_u64(vals, n, SP_PCT(95));
    lat->p99 = sp_pick_u64(vals, n, SP_PCT(99));
    lat->p999 = sp_pick_u64(vals, n, 99900); /* p99.9 */
    lat->max = vals[n - 1];
}
