/* The one exact quantile engine (src/common/sort.h, src/common/quantile.h) against a naive reference:
 * qsort for the order, and for the rank the smallest value v with count(x <= v) x 100000 >= q x n
 * (nearest rank by its definition, counted rather than computed), for n = 1..300 and larger sizes,
 * whole and fractional percents, ties, durations, timestamps and full 64-bit values; the double
 * variant the same way; hand-computed known answers. */
#include <stdlib.h>
#include <string.h>

#include "common/quantile.h"
#include "common/sort.h"
#include "testlib.h"
#include "xorshift_testutil.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void) { return xs64_next(&rng); }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The q-th percentile of sorted s[n] by definition: the smallest value that at least q/100000 of the
 * values are at or below. */
static uint64_t naive_pick(const uint64_t *s, size_t n, uint32_t q)
{
    for (size_t i = 0; i < n; i++) {
        size_t le = i + 1;
        while (le < n && s[le] == s[i])
            le++;
        if ((uint64_t)le * 100000u >= (uint64_t)q * n)
            return s[i];
    }
    return s[n - 1];
}

static const uint32_t qs[] = {1, 1000, 5000, 25000, 50000, 75000, 90000, 95000, 99000, 99900, 99999, 100000};

static void check_column(uint64_t *v, size_t n)
{
    uint64_t *s = malloc(n * sizeof *s);
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_u64);
    CHECK(sp_sort_u64(v, n, NULL) == SP_OK);
    CHECK(memcmp(v, s, n * sizeof *v) == 0);
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        CHECK_EQ_U64(sp_pick_u64(v, n, qs[k]), naive_pick(s, n, qs[k]));
        size_t r = sp_rank(n, qs[k]);
        CHECK(r >= 1 && r <= n);
    }
    free(s);
}

static void test_random(void)
{
    static uint64_t v[300];
    for (size_t n = 1; n <= 300; n++)
        for (int shape = 0; shape < 4; shape++) {
            for (size_t i = 0; i < n; i++) {
                uint64_t x = rnd();
                /* ties, durations below 2^24 ns, timestamps sharing their top bytes, any value */
                v[i] = shape == 0 ? x % 7 : shape == 1 ? x >> 40 : shape == 2 ? 1712195495519698000ull + (x >> 34) : x;
            }
            check_column(v, n);
        }
    size_t big = 200000;
    uint64_t *w = malloc(big * sizeof *w);
    for (size_t i = 0; i < big; i++)
        w[i] = (i & 1) ? rnd() % 50000000u : rnd();
    check_column(w, big);
    free(w);
}

/* sp_rank against DESIGN section 4's own formula for whole percents, (XX x n + 99) / 100 at least 1,
 * and the definition (smallest k with k x 100000 >= q x n) for every q in thousandths. */
static void test_rank(void)
{
    for (size_t n = 1; n <= 400; n++) {
        for (unsigned xx = 1; xx <= 100; xx++) {
            size_t k = ((size_t)xx * n + 99) / 100;
            CHECK_EQ_U64(sp_rank(n, SP_PCT(xx)), k < 1 ? 1 : k);
        }
        for (uint32_t q = 0; q <= 100000; q += 997) {
            size_t k = 1;
            while ((uint64_t)k * 100000u < (uint64_t)q * n)
                k++;
            CHECK_EQ_U64(sp_rank(n, q), k);
        }
    }
    CHECK_EQ_U64(sp_rank(0, SP_PCT(50)), 0);
    CHECK_EQ_U64(sp_pick_u64(NULL, 0, SP_PCT(50)), 0);
    CHECK_NEAR(sp_pick_double(NULL, 0, SP_PCT(50)), 0.0, 0);
}

static void test_known(void)
{
    /* hand-computed: n = 10 -> p50 rank 5, p90 rank 9, p95 rank ceil(9.5) = 10; n = 1000 ->
     * p99.9 rank 999, p99 rank 990; n = 40 -> p95 rank 38 */
    uint64_t ten[10] = {7, 3, 10, 1, 9, 2, 8, 4, 6, 5};
    CHECK(sp_sort_u64(ten, 10, NULL) == SP_OK);
    CHECK_EQ_U64(sp_pick_u64(ten, 10, SP_PCT(50)), 5);
    CHECK_EQ_U64(sp_pick_u64(ten, 10, SP_PCT(90)), 9);
    CHECK_EQ_U64(sp_pick_u64(ten, 10, SP_PCT(95)), 10);
    CHECK_EQ_U64(sp_rank(1000, 99900), 999);
    CHECK_EQ_U64(sp_rank(1000, SP_PCT(99)), 990);
    CHECK_EQ_U64(sp_rank(40, SP_PCT(95)), 38);
    uint64_t one = 42;
    CHECK_EQ_U64(sp_pick_u64(&one, 1, 1), 42);
    CHECK_EQ_U64(sp_pick_u64(&one, 1, SP_PCT(100)), 42);
    /* a caller's buffer gives the same order */
    uint64_t a[5] = {5, 1, 4, 2, 3}, tmp[5];
    CHECK(sp_sort_u64(a, 5, tmp) == SP_OK);
    for (uint64_t i = 0; i < 5; i++)
        CHECK_EQ_U64(a[i], i + 1);
    /* doubles: waste fractions 0.5, 0.125, 0.25, 0 -> sorted 0, 0.125, 0.25, 0.5; p50 rank 2 */
    double d[4] = {0.5, 0.125, 0.25, 0};
    sp_sort_double(d, 4);
    CHECK_NEAR(d[0], 0, 0);
    CHECK_NEAR(d[3], 0.5, 0);
    CHECK_NEAR(sp_pick_double(d, 4, SP_PCT(50)), 0.125, 0);
    CHECK_NEAR(sp_pick_double(d, 4, SP_PCT(95)), 0.5, 0);
}

int main(void)
{
    test_rank();
    test_known();
    test_random();
    return sp_test_done("test_quantile");
}
