/* The one RNG (src/common/rng.h) against published reference outputs, its conversions to doubles at
 * their edges, and the moments of its normal and gamma variates against the distributions'.
 * Sources of the known answers:
 * - splitmix64 from seed 1234567: 6457827717110365317, 3203168211198807973, 9817491932198370423,
 *   4593380528125082431, 16408922859458223821, the figures given by the Rosetta Code task
 *   "Pseudo-random numbers/Splitmix64" (Vigna's splitmix64.c).
 * - xoshiro256** from the state {1, 2, 3, 4}: 11520, 0, 1509978240, 1215971899390074240,
 *   1216172134540287360, 607988272756665600, 16172922978634559625, 8476171486693032832,
 *   10595114339597558777, 2904607092377533576, the vector of the Rust crate rand_xoshiro's
 *   Xoshiro256StarStar test, produced there with Blackman and Vigna's reference C code. The first
 *   output is also checkable by hand: rotl(2 x 5, 7) x 9 = 1280 x 9 = 11520. */
#include <stdint.h>

#include "common/rng.h"
#include "testlib.h"

static void test_splitmix64(void)
{
    static const uint64_t want[] = {6457827717110365317ull, 3203168211198807973ull, 9817491932198370423ull,
                                    4593380528125082431ull, 16408922859458223821ull};
    uint64_t x = 1234567;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_EQ_U64(sp_splitmix64(&x), want[i]);
    /* the state advances by the golden-ratio constant per output */
    CHECK_EQ_U64(x, 1234567 + 5 * 0x9e3779b97f4a7c15ull);
}

static void test_xoshiro256ss(void)
{
    static const uint64_t want[] = {11520ull, 0ull, 1509978240ull, 1215971899390074240ull,
                                    1216172134540287360ull, 607988272756665600ull, 16172922978634559625ull,
                                    8476171486693032832ull, 10595114339597558777ull, 2904607092377533576ull};
    sp_rng r = {{1, 2, 3, 4}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_EQ_U64(sp_rng_next(&r), want[i]);
}

/* Seeding: stream 0 is the plain splitmix64 expansion of the seed (the first four outputs above);
 * other streams differ, and the same (seed, stream) repeats. */
static void test_seeding(void)
{
    sp_rng r, a, b;
    sp_rng_seed(&r, 1234567, 0);
    CHECK_EQ_U64(r.s[0], 6457827717110365317ull);
    CHECK_EQ_U64(r.s[1], 3203168211198807973ull);
    CHECK_EQ_U64(r.s[2], 9817491932198370423ull);
    CHECK_EQ_U64(r.s[3], 4593380528125082431ull);
    sp_rng_seed(&a, 1234567, 1);
    sp_rng_seed(&b, 1234567, 1);
    int same_as_stream0 = 1;
    for (int i = 0; i < 4; i++)
        same_as_stream0 &= a.s[i] == r.s[i];
    CHECK(!same_as_stream0);
    int repeats = 1;
    for (int i = 0; i < 1000; i++)
        repeats &= sp_rng_next(&a) == sp_rng_next(&b);
    CHECK(repeats);
}

/* The conversions at their edges: [0, 1) reaches 0 and 1 - 2^-53; (0, 1) never 0 or 1, even for
 * all-ones bits (where k + 0.5 would round up to 2^53). */
static void test_unit_edges(void)
{
    CHECK(sp_bits_to_unit(0) == 0.0);
    CHECK(sp_bits_to_unit(UINT64_MAX) == 1.0 - 0x1.0p-53);
    CHECK(sp_bits_to_unit(1ull << 63) == 0.5);
    CHECK(sp_bits_to_unit(2047) == 0.0); /* the low 11 bits are dropped */
    CHECK(sp_bits_to_open_unit(0) == 0x1.0p-54);
    CHECK(sp_bits_to_open_unit(UINT64_MAX) < 1.0);
    CHECK(sp_bits_to_open_unit(UINT64_MAX) > 1.0 - 0x1.0p-52);
    CHECK(sp_bits_to_open_unit(1ull << 63) == 0.5 + 0x1.0p-54);
    double lo = 1, hi = 0;
    sp_rng r;
    sp_rng_seed(&r, 7, 0);
    for (int i = 0; i < 100000; i++) {
        double u = sp_rng_uniform(&r);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    CHECK(lo > 0.0 && lo < 1e-3);
    CHECK(hi < 1.0 && hi > 1.0 - 1e-3);
}

/* Sample mean and variance of n draws. */
static void moments(double (*draw)(sp_rng *, double), double arg, uint64_t seed, int n, double *mean, double *var)
{
    sp_rng r;
    sp_rng_seed(&r, seed, 0);
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        double x = draw(&r, arg);
        s += x;
        s2 += x * x;
    }
    *mean = s / n;
    *var = (s2 - n * *mean * *mean) / (n - 1);
}

static double draw_polar(sp_rng *r, double unused) { (void)unused; return sp_rng_normal(r); }
static double draw_box_muller(sp_rng *r, double unused) { (void)unused; return sp_rng_normal_box_muller(r); }
static double draw_gamma(sp_rng *r, double shape) { return sp_rng_gamma(r, shape); }

/* Moments over n = 10^6 draws. Tolerances are five standard errors: the mean's is sigma / sqrt(n); the
 * variance's is sigma^2 sqrt((2 + excess kurtosis) / n), the excess kurtosis being 0 for the normal
 * and 6 / shape for gamma(shape) (mean = variance = shape). */
static void test_distributions(void)
{
    const int n = 1000000;
    double m, v;
    moments(draw_polar, 0, 11, n, &m, &v);
    CHECK_NEAR(m, 0.0, 5 * 1e-3);
    CHECK_NEAR(v, 1.0, 5 * sqrt(2.0 / n));
    moments(draw_box_muller, 0, 12, n, &m, &v);
    CHECK_NEAR(m, 0.0, 5 * 1e-3);
    CHECK_NEAR(v, 1.0, 5 * sqrt(2.0 / n));
    static const double shapes[] = {0.3, 1.0, 4.0};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double k = shapes[i];
        moments(draw_gamma, k, 13 + i, n, &m, &v);
        CHECK_NEAR(m, k, 5 * sqrt(k / n));
        CHECK_NEAR(v, k, 5 * k * sqrt((2.0 + 6.0 / k) / n));
    }
    /* Box-Muller takes exactly two uniforms per value: the stream position after a draw is known */
    sp_rng a, b;
    sp_rng_seed(&a, 99, 0);
    b = a;
    (void)sp_rng_normal_box_muller(&a);
    (void)sp_rng_next(&b);
    (void)sp_rng_next(&b);
    CHECK_EQ_U64(sp_rng_next(&a), sp_rng_next(&b));
}

int main(void)
{
    test_splitmix64();
    test_xoshiro256ss();
    test_seeding();
    test_unit_edges();
    test_distributions();
    return sp_test_done("test_rng");
}
