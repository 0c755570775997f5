/* The what-if service-time fit: recovers known non-negative coefficients from synthetic batches (exact
 * and with seeded noise), reports its error honestly, drops terms the data cannot separate, and never
 * returns a negative cost: where unconstrained least squares (solved independently here from the
 * normal equations) goes negative, the fit is the non-negative optimum (checked by its optimality
 * conditions), and a trace with no physical fit is an error that says why. */
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "servprof/whatif.h"
#include "testlib.h"

/* The model the batches are generated from: a=100 us, b=5 us per request, c=200 ns per padded token,
 * d=0.5 ns per size*len^2 (the attention term). */
static double truth(double size, double len)
{
    return 100000.0 + 5000.0 * size + 200.0 * size * len + 0.5 * size * len * len;
}

static double term(unsigned j, double size, double len)
{
    return j == 0 ? 1.0 : j == 1 ? size : j == 2 ? size * len : size * len * len;
}

/* splitmix64 mapped to [-1, 1): seeded noise for the fixtures */
static double noise(uint64_t *s)
{
    return sp_bits_to_unit(sp_splitmix64(s)) * 2.0 - 1.0;
}

/* Unconstrained least squares on terms 0..k-1 by the normal equations (X^T X) c = X^T y, solved by
 * Gaussian elimination with partial pivoting: a reference independent of the fit's Gram-Schmidt. */
static void normal_equations(const sp_whatif_batch_obs *b, size_t n, unsigned k, double c[4])
{
    double A[4][5] = {{0}};
    for (size_t i = 0; i < n; i++)
        for (unsigned r = 0; r < k; r++) {
            double xr = term(r, b[i].size, b[i].padded_len);
            for (unsigned q = 0; q < k; q++)
                A[r][q] += xr * term(q, b[i].size, b[i].padded_len);
            A[r][k] += xr * (double)b[i].duration_ns;
        }
    for (unsigned p = 0; p < k; p++) {
        unsigned best = p;
        for (unsigned r = p + 1; r < k; r++)
            if (fabs(A[r][p]) > fabs(A[best][p]))
                best = r;
        for (unsigned q = 0; q <= k; q++) {
            double t = A[p][q];
            A[p][q] = A[best][q];
            A[best][q] = t;
        }
        for (unsigned r = p + 1; r < k; r++) {
            double f = A[r][p] / A[p][p];
            for (unsigned q = p; q <= k; q++)
                A[r][q] -= f * A[p][q];
        }
    }
    memset(c, 0, 4 * sizeof *c);
    for (unsigned p = k; p-- > 0;) {
        double s = A[p][k];
        for (unsigned q = p + 1; q < k; q++)
            s -= A[p][q] * c[q];
        c[p] = s / A[p][p];
    }
}

/* Gradient of the squared error, X^T (X c - y), per term. At the non-negative optimum (the KKT
 * conditions) it is 0 for every positive coefficient and >= 0 for every coefficient held at 0. */
static void gradient(const sp_whatif_batch_obs *b, size_t n, const double c[4], double g[4])
{
    memset(g, 0, 4 * sizeof *g);
    for (size_t i = 0; i < n; i++) {
        double r = -(double)b[i].duration_ns;
        for (unsigned j = 0; j < 4; j++)
            r += c[j] * term(j, b[i].size, b[i].padded_len);
        for (unsigned j = 0; j < 4; j++)
            g[j] += r * term(j, b[i].size, b[i].padded_len);
    }
}

static void exact_and_noisy(void)
{
    sp_whatif_batch_obs b[16 * 8];
    size_t n = 0;
    for (uint32_t s = 1; s <= 16; s++)
        for (uint32_t l = 16; l <= 128; l += 16)
            b[n++] = (sp_whatif_batch_obs){s, l, (uint64_t)(truth(s, l) + 0.5)};

    /* exact data: the four coefficients come back (rounding to whole ns is the only error) */
    sp_whatif_fit f;
    CHECK(sp_whatif_fit_batches(b, n, 0, &f, NULL, 0) == SP_OK);
    CHECK_EQ_U64(f.used, 0xf);
    CHECK_EQ_U64(f.clamped, 0);
    CHECK_NEAR(f.coef[0], 100000.0, 5.0);
    CHECK_NEAR(f.coef[1], 5000.0, 1.0);
    CHECK_NEAR(f.coef[2], 200.0, 0.05);
    CHECK_NEAR(f.coef[3], 0.5, 0.001);
    CHECK(f.r2 > 0.999999);
    CHECK(f.mape < 1e-5);
    CHECK_EQ_U64(f.n, n);
    CHECK_NEAR(sp_whatif_fit_predict(&f, 8, 64), truth(8, 64), 5.0);
    /* the range seen: sizes 1..16, padded lengths 16..128 */
    CHECK(f.size_min == 1 && f.size_max == 16 && f.len_min == 16 && f.len_max == 128);
    CHECK(sp_whatif_fit_covers(&f, 16, 128));
    CHECK(!sp_whatif_fit_covers(&f, 17, 64));
    CHECK(!sp_whatif_fit_covers(&f, 4, 8));
    CHECK(!sp_whatif_fit_covers(&f, 4, 129));
    sp_whatif_fit_clear(&f);
    sp_whatif_fit_clear(&f); /* idempotent */

    /* the linear model (a, b, c all positive) with +-5% uniform seeded noise, four batches per grid
     * point: the noise averages out over 512 batches, so the coefficients come back within 10% (a),
     * 20% (b: its column is small beside c's) and 2% (c) */
    sp_whatif_batch_obs nb[4 * 16 * 8];
    uint64_t seed = 42;
    size_t m = 0;
    for (int rep = 0; rep < 4; rep++)
        for (size_t i = 0; i < n; i++) {
            double t = 100000.0 + 5000.0 * b[i].size + 200.0 * b[i].size * b[i].padded_len;
            nb[m] = b[i];
            nb[m++].duration_ns = (uint64_t)(t * (1.0 + 0.05 * noise(&seed)));
        }
    CHECK(sp_whatif_fit_batches(nb, m, 0x7, &f, NULL, 0) == SP_OK);
    CHECK_EQ_U64(f.used, 0x7);
    CHECK_EQ_U64(f.clamped, 0);
    CHECK_NEAR(f.coef[0], 100000.0, 10000.0);
    CHECK_NEAR(f.coef[1], 5000.0, 1000.0);
    CHECK_NEAR(f.coef[2], 200.0, 4.0);
    /* uniform +-5% noise has a mean absolute value of 2.5% */
    CHECK(f.mape > 0.015 && f.mape < 0.035);
    sp_whatif_fit_clear(&f);

    /* +-10% alternating noise on data with a d term, fitted by the linear model: the error says so */
    for (size_t i = 0; i < n; i++) {
        nb[i] = b[i];
        nb[i].duration_ns = (uint64_t)(truth(b[i].size, b[i].padded_len) * (i % 2 ? 1.1 : 0.9));
    }
    CHECK(sp_whatif_fit_batches(nb, n, 0x7, &f, NULL, 0) == SP_OK);
    CHECK_EQ_U64(f.used, 0x7);
    CHECK(f.mape > 0.05 && f.mape < 0.2);
    CHECK(f.r2 > 0.9 && f.r2 < 0.999);
    CHECK_EQ_U64(f.n_ratios, n);
    /* the relative residuals average about 1 (the fit is unbiased on average) */
    double mean = 0;
    for (size_t i = 0; i < f.n_ratios; i++)
        mean += f.ratios[i];
    CHECK_NEAR(mean / (double)f.n_ratios, 1.0, 0.05);
    sp_whatif_fit_clear(&f);

    /* one padded length only (a static shape): size*len is size times a constant and size*len^2 too,
     * so only a and b can be fitted; predictions at that length stay exact */
    sp_whatif_batch_obs sb[16];
    for (uint32_t s = 1; s <= 16; s++)
        sb[s - 1] = (sp_whatif_batch_obs){s, 64, (uint64_t)truth(s, 64)};
    CHECK(sp_whatif_fit_batches(sb, 16, 0, &f, NULL, 0) == SP_OK);
    CHECK_EQ_U64(f.used, 0x3);
    CHECK_NEAR(sp_whatif_fit_predict(&f, 5, 64), truth(5, 64), 2.0);
    CHECK(f.r2 > 0.999999);
    sp_whatif_fit_clear(&f);
}

static void never_negative(void)
{
    /* Two batches on the line t = -1 ms + 0.2 ms x size (hand-computed through (10, 1 ms) and
     * (20, 3 ms)): unconstrained, the fixed cost is -1 ms. Held at 0, the best per-request cost is
     * sum(s*y) / sum(s^2) = (10*1e6 + 20*3e6) / (100 + 400) = 140 us. */
    sp_whatif_batch_obs fb[2] = {{10, 10, 1000000}, {20, 10, 3000000}};
    sp_whatif_fit f;
    CHECK(sp_whatif_fit_batches(fb, 2, 0x3, &f, NULL, 0) == SP_OK);
    CHECK_NEAR(f.coef_ls[0], -1000000.0, 1e-3);
    CHECK_NEAR(f.coef_ls[1], 200000.0, 1e-3);
    CHECK_NEAR(f.coef[0], 0.0, 0.0);
    CHECK_NEAR(f.coef[1], 140000.0, 1e-3);
    CHECK_EQ_U64(f.clamped, 0x1);
    /* the floor still holds for tiny batches: half the fastest observed (1 ms / 2) beats 140 us */
    CHECK_NEAR(sp_whatif_fit_predict(&f, 1, 10), 500000.0, 1e-6);
    CHECK_NEAR(sp_whatif_fit_predict(&f, 15, 10), 2100000.0, 1e-3);
    sp_whatif_fit_clear(&f);

    /* The case behind the issue (servprof synth's trace: padding to multiples of 64 makes padded
     * tokens carry the size): batches cost 300 us + 3.6 us per padded token, but each one is 40 us
     * faster per member than that, with noise. Unconstrained least squares gives a negative cost per
     * request; the fit must not. */
    sp_whatif_batch_obs b[3 * 16 * 4];
    size_t n = 0;
    uint64_t seed = 7;
    for (int rep = 0; rep < 3; rep++)
        for (uint32_t s = 1; s <= 16; s++)
            for (uint32_t l = 64; l <= 256; l += 64) {
                double t = 300000.0 + 3600.0 * s * l - 40000.0 * s;
                b[n++] = (sp_whatif_batch_obs){s, l, (uint64_t)(t * (1.0 + 0.05 * noise(&seed)))};
            }
    double ls[4];
    normal_equations(b, n, 3, ls);
    CHECK(ls[1] < 0); /* the fixture does what it claims */
    CHECK(sp_whatif_fit_batches(b, n, 0x7, &f, NULL, 0) == SP_OK);
    for (unsigned j = 0; j < 3; j++) {
        CHECK(f.coef[j] >= 0);
        CHECK_NEAR(f.coef_ls[j], ls[j], 1e-6 * fabs(ls[j]) + 1e-6);
    }
    CHECK(f.clamped & 0x2);
    CHECK_NEAR(f.coef[1], 0.0, 0.0);
    /* optimality (KKT) of the non-negative fit, relative to the gradient's scale */
    double g[4], g0[4];
    gradient(b, n, f.coef, g);
    gradient(b, n, (double[4]){0, 0, 0, 0}, g0);
    for (unsigned j = 0; j < 3; j++) {
        double scale = fabs(g0[j]);
        if (f.coef[j] > 0)
            CHECK_NEAR(g[j] / scale, 0.0, 1e-9);
        else
            CHECK(g[j] / scale >= -1e-9);
    }
    sp_whatif_fit_clear(&f);

    /* no physical fit: every batch took 0 ns, so every non-negative cost is 0 */
    sp_whatif_batch_obs zb[3] = {{1, 10, 0}, {2, 10, 0}, {4, 20, 0}};
    char err[256] = "";
    memset(&f, 0, sizeof f);
    CHECK(sp_whatif_fit_batches(zb, 3, 0x7, &f, err, sizeof err) == SP_ERR_STATE);
    CHECK(strstr(err, "no physical fit") != NULL);
    CHECK(f.ratios == NULL); /* *out untouched */
}

int main(void)
{
    exact_and_noisy();
    never_negative();

    /* bad input */
    sp_whatif_fit f;
    sp_whatif_batch_obs b = {1, 10, 100};
    CHECK(sp_whatif_fit_batches(&b, 0, 0, &f, NULL, 0) == SP_ERR_INVALID);
    sp_whatif_batch_obs zero = {0, 10, 100};
    CHECK(sp_whatif_fit_batches(&zero, 1, 0, &f, NULL, 0) == SP_ERR_INVALID);
    sp_whatif_fit_clear(NULL);
    return sp_test_done("test_whatif_fit");
}
