/* Exact latency percentiles for the load generator: every recorded value is kept (32 bytes per
 * request, capped by SP_LOAD_MAX_REQUESTS), sorted, and read by nearest rank (DESIGN section 4). */
#include <stdlib.h>
#include <string.h>

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

/* LSD radix sort, 16 bits a pass, skipping passes where every value has the same digit (latencies
 * below 2^32 ns need only two passes). Faster than qsort's comparison calls on millions of values. */
static void radix_sort_u64(uint64_t *v, size_t n)
{
    if (n < 64) {
        for (size_t i = 1; i < n; i++) {
            uint64_t x = v[i];
            size_t j = i;
            for (; j > 0 && v[j - 1] > x; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
        return;
    }
    uint64_t *tmp = malloc(n * sizeof *tmp);
    size_t *count = malloc(65536 * sizeof *count);
    if (!tmp || !count) {
        /* no memory for the fast path: qsort sorts in place */
        free(tmp);
        free(count);
        qsort(v, n, sizeof *v, cmp_u64);
        return;
    }
    uint64_t *src = v, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65536 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xffff]++;
        if (count[(src[0] >> shift) & 0xffff] == n)
            continue;
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
    free(tmp);
    free(count);
}

void sp_load_latency_fill(uint64_t *vals, size_t n, sp_load_latency *lat)
{
    memset(lat, 0, sizeof *lat);
    if (n == 0)
        return;
    radix_sort_u64(vals, n);
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
