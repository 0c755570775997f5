/* The exact sum of doubles (common/exactsum.h), which the padding total and the cost's mean take so
 * that no order of the requests changes them.
 *
 * 1. Known answers worked by hand: an empty sum and one whose terms cancel are +0; 2^70 + 1 - 2^70 is
 *    1 in any order (a double or long double sum gives 0 or 1 by order); ten times 0.1 (the double
 *    3602879701896397 * 2^-55) is (2^55 + 2) * 2^-55 = 1 + 2^-54; three least subnormals are 3 *
 *    2^-1074; twice DBL_MAX is 2^1025 - 2^972; with a 64-bit long double, 1 + 2^-64 is a tie rounded
 *    to even (1), 1 + 2^-64 + 2^-100 rounds up (1 + 2^-63), 1 + 2^-63 + 2^-64 is a tie rounded up to
 *    even (1 + 2^-62); infinities and NaNs as IEEE addition gives them.
 * 2. Random terms (both signs, exponents over 40 bits) against a __float128 sum, exact for these
 *    (their bits span under 113) and rounded once to long double by the conversion; the same terms
 *    shuffled, and split over two sums merged, give the same bits. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/exactsum.h"
#include "testlib.h"
#include "xorshift_testutil.h"

static long double sum_of(const double *v, size_t n)
{
    static sp_exact_sum s; /* 32 KiB: not on the stack */
    sp_exact_sum_init(&s);
    for (size_t i = 0; i < n; i++)
        sp_exact_sum_add(&s, v[i]);
    return sp_exact_sum_value(&s);
}

static int same_bits(long double x, long double y)
{
    return x == y && signbit(x) == signbit(y);
}

static void known_answers(void)
{
    CHECK(same_bits(sum_of(NULL, 0), 0.0L));
    double cancel[4] = {1.5, -0.25, -1.5, 0.25};
    CHECK(same_bits(sum_of(cancel, 4), 0.0L));
    double big[3] = {0x1p70, 1.0, -0x1p70}, big2[3] = {1.0, 0x1p70, -0x1p70};
    CHECK(sum_of(big, 3) == 1.0L && sum_of(big2, 3) == 1.0L);
    double tenth[10];
    for (int i = 0; i < 10; i++)
        tenth[i] = 0.1;
    CHECK(sum_of(tenth, 10) == 1.0L + 0x1p-54L);
    double sub[3] = {DBL_TRUE_MIN, DBL_TRUE_MIN, DBL_TRUE_MIN};
    CHECK(sum_of(sub, 3) == 3.0L * (long double)DBL_TRUE_MIN);
    double mx[2] = {DBL_MAX, DBL_MAX};
    CHECK(sum_of(mx, 2) == 0x1p1025L - 0x1p972L);
    double neg[2] = {-1.5, -0.25};
    CHECK(sum_of(neg, 2) == -1.75L);
    if (LDBL_MANT_DIG == 64) {
        double tie[2] = {1.0, 0x1p-64}, up[3] = {1.0, 0x1p-64, 0x1p-100}, odd[3] = {1.0, 0x1p-63, 0x1p-64};
        CHECK(sum_of(tie, 2) == 1.0L);
        CHECK(sum_of(up, 3) == 1.0L + 0x1p-63L);
        CHECK(sum_of(odd, 3) == 1.0L + 0x1p-62L);
    }
    double inf[2] = {INFINITY, 1.0}, ninf[2] = {-INFINITY, 1.0}, both[2] = {INFINITY, -INFINITY}, nan1[2] = {NAN, 1.0};
    CHECK(sum_of(inf, 2) == INFINITY);
    CHECK(sum_of(ninf, 2) == -INFINITY);
    CHECK(isnan(sum_of(both, 2)));
    CHECK(isnan(sum_of(nan1, 2)));
}

static void random_terms(void)
{
#if defined(__SIZEOF_FLOAT128__) && LDBL_MANT_DIG == 64
    enum { N = 4096 };
    static double v[N];
    static sp_exact_sum s1, s2;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)xs64_in(&rng, 1, N);
        int signs = round % 3; /* 0: non-negative; 1: both; 2: mostly cancelling pairs */
        __float128 ref = 0;
        for (size_t i = 0; i < n; i++) {
            double m = (double)(xs64_next(&rng) >> 11) * 0x1p-53; /* [0, 1) */
            double x = ldexp(m, (int)xs64_in(&rng, 0, 40));
            if (signs == 1 && (xs64_next(&rng) & 1))
                x = -x;
            if (signs == 2 && i % 2)
                x = -v[i - 1] + ldexp(1.0, -(int)xs64_in(&rng, 0, 30));
            v[i] = x;
            ref += (__float128)x;
        }
        long double want = (long double)ref;
        long double got = sum_of(v, n);
        CHECK_MSG(same_bits(got, want) || (got == 0 && want == 0), "round %d: %La, expected %La", round, got, want);
        for (size_t i = n; i > 1; i--) { /* shuffled */
            size_t k = (size_t)xs64_in(&rng, 0, i - 1);
            double t = v[i - 1];
            v[i - 1] = v[k];
            v[k] = t;
        }
        CHECK(same_bits(sum_of(v, n), got));
        sp_exact_sum_init(&s1);
        sp_exact_sum_init(&s2);
        for (size_t i = 0; i < n; i++)
            sp_exact_sum_add(i % 3 ? &s1 : &s2, v[i]);
        sp_exact_sum_merge(&s1, &s2);
        CHECK(same_bits(sp_exact_sum_value(&s1), got));
    }
#endif
}

int main(void)
{
    known_answers();
    random_terms();
    return sp_test_done("test_exact_sum");
}
