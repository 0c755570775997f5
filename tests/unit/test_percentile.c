/* Nearest-rank percentiles (DESIGN section 4) against a naive sort for n = 1..200, the radix sort
 * against qsort, the share-of-pXX window against an independent closed form of the widening, and
 * the mean bit for bit against its definition (the sorted values added in long double, divided by n)
 * on sums below 2^64 (the integer route), at 2^64 - 1, and past it (the loop). The selection path
 * (sp_ana_quantiles_select, sp_select_ranks_u64) against the sorted one, struct for struct and bit for
 * bit: ties, n = 1, 2, all values equal, p95 on a rank boundary (n = 20, 40, 100), one value in most
 * places with a few around it, shared high bytes, full 64-bit values, sums past 2^64, and ranks asked
 * for twice or out of order. sp_ana_llround against llround, bit for bit: halves, the values just
 * below and above them, 2^52 and around it, negatives, large values, random costs in ns.
 * sp_ev_num_rank_key against sp_ev_num_prefix (the decimal text's first eight bytes): the same order
 * and the same ties on pairs of ids of 1-20 digits, powers of ten and their neighbours. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/sort.h"
#include "share_window_ref.h"
#include "testlib.h"
#include "xorshift_testutil.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { return xs64_next(&rng); }

static int u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* smallest k >= 1 with k * 100 >= xx * n: the nearest rank, computed without the integer formula */
static size_t naive_rank(size_t n, unsigned xx)
{
    size_t k = 1;
    while (k * 100 < (size_t)xx * n)
        k++;
    return k;
}

static void test_quantiles(void)
{
    static const unsigned pcts[] = {1, 25, 50, 90, 95, 99, 100};
    for (size_t n = 1; n <= 200; n++) {
        for (int rep = 0; rep < 3; rep++) {
            uint64_t v[200], s[200];
            /* mixes small values (ties), large values (high radix digits) */
            for (size_t i = 0; i < n; i++)
                v[i] = rep == 0 ? rnd() % 10 : rep == 1 ? rnd() % 100000 : rnd();
            memcpy(s, v, n * sizeof *v);
            qsort(s, n, sizeof *s, u64cmp);
            for (size_t p = 0; p < sizeof pcts / sizeof *pcts; p++)
                CHECK_EQ_U64(sp_rank(n, SP_PCT(pcts[p])), naive_rank(n, pcts[p]));
            sp_quantiles q;
            CHECK(sp_ana_quantiles(v, n, &q) == SP_OK);
            CHECK(memcmp(v, s, n * sizeof *v) == 0); /* sorted in place */
            CHECK_EQ_U64(q.count, n);
            CHECK_EQ_U64(q.min_ns, s[0]);
            CHECK_EQ_U64(q.max_ns, s[n - 1]);
            CHECK_EQ_U64(q.p50_ns, s[naive_rank(n, 50) - 1]);
            CHECK_EQ_U64(q.p95_ns, s[naive_rank(n, 95) - 1]);
            CHECK_EQ_U64(q.p99_ns, s[naive_rank(n, 99) - 1]);
            long double sum = 0;
            for (size_t i = 0; i < n; i++)
                sum += (long double)s[i];
            CHECK_NEAR(q.mean_ns, (double)(sum / n), fabs((double)(sum / n)) * 1e-12);
        }
    }
    /* n = 0: all zero */
    sp_quantiles q;
    memset(&q, 0xff, sizeof q);
    CHECK(sp_ana_quantiles(NULL, 0, &q) == SP_OK);
    CHECK_EQ_U64(q.count, 0);
    CHECK_EQ_U64(q.p95_ns, 0);
    /* hand examples: n = 10 -> p50 rank 5, p95 rank ceil(9.5) = 10, p99 rank 10 */
    uint64_t ten[10] = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    sp_ana_quantiles(ten, 10, &q);
    CHECK_EQ_U64(q.p50_ns, 5);
    CHECK_EQ_U64(q.p95_ns, 10);
    CHECK_NEAR(q.mean_ns, 5.5, 0);
    /* n = 40 -> p95 rank 38 */
    uint64_t forty[40];
    for (int i = 0; i < 40; i++)
        forty[i] = (uint64_t)(40 - i);
    sp_ana_quantiles(forty, 40, &q);
    CHECK_EQ_U64(q.p95_ns, 38);
}

static void test_windows(void)
{
    static const unsigned pcts[] = {50, 95, 99};
    for (size_t n = 1; n <= 300; n++)
        for (int p = 0; p < 3; p++) {
            size_t lo, hi, nl, nh;
            sp_ana_share_window(n, pcts[p], &lo, &hi);
            naive_window(n, pcts[p], &nl, &nh);
            CHECK_EQ_U64(lo, nl);
            CHECK_EQ_U64(hi, nh);
            CHECK(lo >= 1 && hi <= n && hi - lo + 1 >= (n < 20 ? n : 20));
        }
    /* hand examples. n = 30, p95: 29..29 -> +28, +30, then below only -> 11..30.
     * n = 100, p95: ceil(94) = 94 .. ceil(96) = 96 (3) -> 17 more: 9 below, 8 above -> 85..104 capped:
     * above has 4 (97..100), so below takes 13 -> 81..100.
     * n = 1000, p50: 490..510 = 21 >= 20, no widening. */
    size_t lo, hi;
    sp_ana_share_window(30, 95, &lo, &hi);
    CHECK_EQ_U64(lo, 11);
    CHECK_EQ_U64(hi, 30);
    sp_ana_share_window(100, 95, &lo, &hi);
    CHECK_EQ_U64(lo, 81);
    CHECK_EQ_U64(hi, 100);
    sp_ana_share_window(1000, 50, &lo, &hi);
    CHECK_EQ_U64(lo, 490);
    CHECK_EQ_U64(hi, 510);
    sp_ana_share_window(1, 99, &lo, &hi);
    CHECK_EQ_U64(lo, 1);
    CHECK_EQ_U64(hi, 1);
}

static void test_radix_large(void)
{
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof *v), *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++)
        v[i] = (i & 1) ? rnd() : rnd() >> 40;
    memcpy(s, v, n * sizeof *v);
    qsort(s, n, sizeof *s, u64cmp);
    CHECK(sp_sort_u64(v, n, NULL) == SP_OK);
    CHECK(memcmp(v, s, n * sizeof *v) == 0);
    free(v);
    free(s);
}

/* the mean as docs/analysis.md defines it: ascending values added in long double, over n */
static double mean_ref(const uint64_t *sorted, size_t n)
{
    long double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (long double)sorted[i];
    return (double)(sum / (long double)n);
}

static void test_mean_exact(void)
{
    enum { N = 3001 };
    uint64_t *v = malloc(N * sizeof *v);
    for (int shape = 0; shape < 5; shape++) {
        for (size_t n = 1; n <= N; n += n < 10 ? 1 : 997) {
            for (size_t i = 0; i < n; i++) {
                uint64_t x = rnd();
                switch (shape) {
                case 0: v[i] = x % 1000000007; break;           /* durations: the integer route */
                case 1: v[i] = x >> 12; break;                   /* sums up to ~2^63.6 */
                case 2: v[i] = UINT64_MAX / n + (i < UINT64_MAX % n); break; /* sum exactly 2^64 - 1 */
                case 3: v[i] = (x >> 1) | ((uint64_t)1 << 62); break;   /* past 2^64 from n = 4 */
                case 4: v[i] = x; break;                         /* any */
                }
            }
            qsort(v, n, sizeof *v, u64cmp);
            sp_quantiles q;
            sp_ana_quantiles_sorted(v, n, &q);
            double want = mean_ref(v, n);
            CHECK(memcmp(&q.mean_ns, &want, sizeof want) == 0);
        }
    }
    free(v);
}

/* One column both ways: sorted (sp_ana_quantiles, the reference) and selected. */
static void check_select(const uint64_t *v, size_t n)
{
    static const uint32_t pct[] = {SP_PCT(5), SP_PCT(25), SP_PCT(75), SP_PCT(95), SP_PCT(1), SP_PCT(100), 99900, SP_PCT(50)};
    enum { NP = sizeof pct / sizeof *pct };
    uint64_t *s = malloc((n ? n : 1) * sizeof *s), *w = malloc((n ? n : 1) * sizeof *w);
    uint64_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    memcpy(s, v, n * sizeof *v);
    memcpy(w, v, n * sizeof *v);
    sp_quantiles qs, qw;
    memset(&qw, 0xa5, sizeof qw);
    CHECK(sp_ana_quantiles(s, n, &qs) == SP_OK);
    for (size_t np = 0; np <= NP; np += NP) {
        uint64_t picked[NP];
        memcpy(w, v, n * sizeof *v);
        CHECK(sp_ana_quantiles_select(w, n, tmp, &qw, pct, np, picked) == SP_OK);
        CHECK(memcmp(&qs, &qw, sizeof qs) == 0); /* every field, the mean's bits too */
        for (size_t j = 0; j < np; j++)
            CHECK_EQ_U64(picked[j], sp_pick_u64(s, n, pct[j]));
    }
    memcpy(w, v, n * sizeof *v);
    CHECK(sp_ana_quantiles_select_in(NULL, w, n, &qw) == SP_OK);
    CHECK(memcmp(&qs, &qw, sizeof qs) == 0);
    /* the engine itself: every rank of small columns, repeated ranks, ranks at both ends */
    if (n) {
        uint64_t or_k = 0, and_k = ~(uint64_t)0;
        for (size_t i = 0; i < n; i++) {
            or_k |= v[i];
            and_k &= v[i];
        }
        size_t ks[SP_SELECT_RANKS_MAX], nk = 0;
        uint64_t got[SP_SELECT_RANKS_MAX];
        if (n <= 40) {
            for (size_t k = 0; k < n; k++)
                ks[nk++] = k;
        } else {
            size_t pick[] = {0, 0, 1, n / 3, n / 2, n / 2, n - 2, n - 1, n - 1};
            for (size_t j = 0; j < sizeof pick / sizeof *pick; j++)
                ks[nk++] = pick[j];
        }
        memcpy(w, v, n * sizeof *v);
        sp_select_ranks_u64(w, n, tmp, or_k ^ and_k, ks, nk, got);
        for (size_t j = 0; j < nk; j++)
            CHECK_EQ_U64(got[j], s[ks[j]]);
    }
    free(s);
    free(w);
    free(tmp);
}

static void test_select(void)
{
    enum { N = 70000 };
    uint64_t *v = malloc(N * sizeof *v);
    static const size_t sizes[] = {0, 1, 2, 3, 19, 20, 21, 32, 33, 40, 64, 100, 257, 1000, 4099, 69999};
    for (int shape = 0; shape < 9; shape++) {
        for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
            size_t n = sizes[z];
            for (size_t i = 0; i < n; i++) {
                uint64_t x = rnd();
                switch (shape) {
                case 0: v[i] = x % 7; break;                               /* ties */
                case 1: v[i] = 123456789; break;                           /* all equal */
                case 2: v[i] = x % 50000000; break;                        /* durations */
                case 3: v[i] = 0x17a0000000000000ull + x % 3000000000ull; break; /* shared high bytes */
                case 4: v[i] = x; break;                                   /* full 64-bit */
                case 5: v[i] = x % 100 ? 1000 : 1000 + x % 300 - 150 * (x % 2); break; /* one value, a few round it */
                case 6: v[i] = (x >> 1) | ((uint64_t)1 << 62); break;      /* sums past 2^64: the sorted route */
                case 7: v[i] = i; break;                                   /* in order */
                case 8: v[i] = (x % 4) << 40 | (x >> 60); break;           /* digits apart, zeros between */
                }
            }
            check_select(v, n);
        }
    }
    /* known answers (nearest rank, DESIGN section 4): n = 20 puts p95 on rank 19 exactly */
    uint64_t twenty[20];
    for (int i = 0; i < 20; i++)
        twenty[i] = (uint64_t)(20 - i) * 10;
    uint64_t tmp[20], p5;
    sp_quantiles q;
    uint32_t five = SP_PCT(5);
    CHECK(sp_ana_quantiles_select(twenty, 20, tmp, &q, &five, 1, &p5) == SP_OK);
    CHECK_EQ_U64(q.min_ns, 10);
    CHECK_EQ_U64(q.max_ns, 200);
    CHECK_EQ_U64(q.p50_ns, 100);
    CHECK_EQ_U64(q.p95_ns, 190);
    CHECK_EQ_U64(q.p99_ns, 200);
    CHECK_EQ_U64(p5, 10);
    CHECK_NEAR(q.mean_ns, 105.0, 0);
    free(v);
}

static void check_round(double x)
{
    CHECK_EQ_U64((uint64_t)sp_ana_llround(x), (uint64_t)llround(x));
}

static void test_llround(void)
{
    static const double fixed[] = {0.0, -0.0, 0.5, 1.5, 2.5, 0.49999999999999994, 0.5000000000000001, 1e-300,
                                   4503599627370495.5, 4503599627370496.0, 4503599627370497.0, 2251799813685247.5,
                                   9007199254740993.0, -0.5, -1.5, -2.4, 1e18, 123456.49999999999, 3.0};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        check_round(fixed[i]);
        check_round(nextafter(fixed[i], 1e300));
        check_round(nextafter(fixed[i], -1e300));
    }
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rnd();
        check_round((double)(r % 100000000) / 1e3 + 0.0005);        /* near halves */
        check_round((double)(r >> 11) * 0x1p-53 * 1e9);             /* cost x 1e9 */
        check_round((double)(r % 1000000) + 0.5);                    /* exact halves */
        check_round((double)(r >> 12) + (double)(r & 1) * 0.5);      /* up to 2^52, halves */
    }
}

static int sign_u64(uint64_t a, uint64_t b) { return (a > b) - (a < b); }

static void test_num_rank_key(void)
{
    enum { M = 400 };
    uint64_t v[M];
    size_t m = 0;
    uint64_t p = 1;
    for (int d = 0; d < 20; d++, p *= 10) { /* 10^d and its neighbours, and 10^d x 1.2 */
        v[m++] = p;
        v[m++] = p - 1;
        v[m++] = p + 1;
        v[m++] = p + p / 5;
    }
    v[m++] = 0;
    v[m++] = UINT64_MAX;
    v[m++] = 12345678;
    v[m++] = 123456780;
    v[m++] = 123456789;
    v[m++] = 1234567;
    while (m < M) {
        uint64_t r = rnd();
        v[m++] = r >> (r % 64); /* 1-20 digits */
    }
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < M; j++)
            CHECK_EQ_U64((uint64_t)(sign_u64(sp_ev_num_rank_key(v[i]), sp_ev_num_rank_key(v[j])) + 1),
                         (uint64_t)(sign_u64(sp_ev_num_prefix(v[i]), sp_ev_num_prefix(v[j])) + 1));
    for (size_t i = 0; i < M; i++)
        CHECK(sp_ev_num_rank_key(v[i]) < ((uint64_t)1 << 30));
    /* known answers: "1" < "10" (a prefix first), "10" ties "100000000" only past 8 digits */
    CHECK(sp_ev_num_rank_key(1) < sp_ev_num_rank_key(10));
    CHECK(sp_ev_num_rank_key(19) < sp_ev_num_rank_key(2));
    CHECK_EQ_U64(sp_ev_num_rank_key(123456780), sp_ev_num_rank_key(123456789));
    CHECK_EQ_U64(sp_ev_num_rank_key(0), 0);
}

int main(void)
{
    test_quantiles();
    test_mean_exact();
    test_windows();
    test_radix_large();
    test_select();
    test_llround();
    test_num_rank_key();
    return sp_test_done("test_percentile");
}
