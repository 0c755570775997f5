/* The load generator's exact percentiles against a naive reference: qsort, then the smallest value
 * v with count(x <= v) x 100000 >= q x n (nearest rank by its definition, counted rather than
 * indexed), on random data of many sizes and shapes; plus hand-computed known answers. */
#include <stdlib.h>
#include <string.h>

#include "common/quantile.h"
#include "load/load_int.h"
#include "testlib.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t naive(const uint64_t *vals, size_t n, uint32_t q)
{
    uint64_t *s = malloc(n * sizeof *s);
    memcpy(s, vals, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_u64);
    uint64_t ans = s[n - 1];
    for (size_t i = 0; i < n; i++) {
        size_t le = 0;
        for (size_t j = 0; j < n && s[j] <= s[i]; j++)
            le++;
        if ((uint64_t)le * 100000 >= (uint64_t)q * n) {
            ans = s[i];
            break;
        }
    }
    free(s);
    return ans;
}

static void test_known(void)
{
    /* 1..10: p50 is the 5th smallest (ceil(0.5 x 10) = 5), p90 the 9th, p95/p99/p99.9 the 10th */
    uint64_t v[10] = {7, 3, 10, 1, 9, 2, 8, 4, 6, 5};
    sp_load_latency l;
    sp_load_latency_fill(v, 10, &l);
    CHECK_EQ_U64(l.p50, 5);
    CHECK_EQ_U64(l.p90, 9);
    CHECK_EQ_U64(l.p95, 10);
    CHECK_EQ_U64(l.p999, 10);
    CHECK_EQ_U64(l.max, 10);
    CHECK_NEAR(l.mean, 5.5, 1e-12);
    /* 1..1000: p99.9 = ceil(0.999 x 1000) = 999th smallest = 999; p99 = 990 */
    uint64_t *w = malloc(1000 * sizeof *w);
    for (int i = 0; i < 1000; i++)
        w[i] = 1000 - (uint64_t)i;
    sp_load_latency_fill(w, 1000, &l);
    CHECK_EQ_U64(l.p999, 999);
    CHECK_EQ_U64(l.p99, 990);
    CHECK_EQ_U64(w[0], 1); /* sorted in place */
    free(w);
    sp_load_latency_fill(NULL, 0, &l);
    CHECK_EQ_U64(l.count, 0);
    CHECK_EQ_U64(l.p99, 0);
    uint64_t one = 42;
    CHECK_EQ_U64(sp_pick_u64(&one, 1, 50000), 42);
    CHECK_EQ_U64(sp_pick_u64(&one, 1, 1), 42);
}

static void test_random(void)
{
    sp_rng rng;
    sp_rng_seed(&rng, 5, 0);
    const size_t sizes[] = {1, 2, 3, 7, 63, 64, 65, 100, 999, 1000, 1001, 2500};
    const uint32_t qs[] = {1, 50000, 90000, 95000, 99000, 99900, 99999, 100000};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        for (int shape = 0; shape < 3; shape++) {
            size_t n = sizes[si];
            uint64_t *v = malloc(n * sizeof *v), *orig = malloc(n * sizeof *v);
            for (size_t i = 0; i < n; i++) {
                uint64_t x = sp_rng_next(&rng);
                /* small values with many ties, latency-like values, full 64-bit values (all radix passes) */
                v[i] = shape == 0 ? x % 10 : shape == 1 ? x % 50000000 : x;
            }
            memcpy(orig, v, n * sizeof *v);
            sp_load_latency l;
            sp_load_latency_fill(v, n, &l);
            int sorted = 1;
            for (size_t i = 1; i < n; i++)
                sorted &= v[i - 1] <= v[i];
            CHECK(sorted);
            for (size_t qi = 0; qi < sizeof qs / sizeof *qs; qi++)
                CHECK_EQ_U64(sp_pick_u64(v, n, qs[qi]), naive(orig, n, qs[qi]));
            CHECK_EQ_U64(l.p50, naive(orig, n, 50000));
            CHECK_EQ_U64(l.p999, naive(orig, n, 99900));
            free(v);
            free(orig);
        }
    }
}

int main(void)
{
    test_known();
    test_random();
    return sp_test_done("test_load_percentile");
}
