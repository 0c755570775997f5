/* The what-if service-time fit: recovers known coefficients from synthetic batches, reports its
 * error (R^2, mean abs % error) honestly under noise, and drops terms the data cannot separate. */
#include <stdlib.h>

#include "servprof/whatif.h"
#include "testlib.h"

/* The model the batches are generated from: a=100 us, b=5 us per request, c=200 ns per padded token,
 * d=0.5 ns per size*len^2 (the attention term). */
static double truth(double size, double len)
{
    return 100000.0 + 5000.0 * size + 200.0 * size * len + 0.5 * size * len * len;
}

int main(void)
{
    sp_whatif_batch_obs b[16 * 8];
    size_t n = 0;
    for (uint32_t s = 1; s <= 16; s++)
        for (uint32_t l = 16; l <= 128; l += 16)
            b[n++] = (sp_whatif_batch_obs){s, l, (uint64_t)(truth(s, l) + 0.5)};

    /* exact data: the four coefficients come back (rounding to whole ns is the only error) */
    sp_whatif_fit f;
    CHECK(sp_whatif_fit_batches(b, n, 0, &f) == SP_OK);
    CHECK_EQ_U64(f.used, 0xf);
    CHECK_NEAR(f.coef[0], 100000.0, 5.0);
    CHECK_NEAR(f.coef[1], 5000.0, 1.0);
    CHECK_NEAR(f.coef[2], 200.0, 0.05);
    CHECK_NEAR(f.coef[3], 0.5, 0.001);
    CHECK(f.r2 > 0.999999);
    CHECK(f.mape < 1e-5);
    CHECK_EQ_U64(f.n, n);
    CHECK_NEAR(sp_whatif_fit_predict(&f, 8, 64), truth(8, 64), 5.0);
    sp_whatif_fit_clear(&f);
    sp_whatif_fit_clear(&f); /* idempotent */

    /* +-10% multiplicative noise, alternating: the coefficients stay close and the error says 10% */
    sp_whatif_batch_obs nb[16 * 8];
    for (size_t i = 0; i < n; i++) {
        nb[i] = b[i];
        nb[i].duration_ns = (uint64_t)(truth(b[i].size, b[i].padded_len) * (i % 2 ? 1.1 : 0.9));
    }
    CHECK(sp_whatif_fit_batches(nb, n, 0x7, &f) == SP_OK); /* linear model on data with a d term */
    CHECK_EQ_U64(f.used, 0x7);
    CHECK(f.mape > 0.05 && f.mape < 0.2);
    CHECK(f.r2 > 0.9 && f.r2 < 0.999);
    CHECK_EQ_U64(f.n_ratios, n);
    /* the relative residuals average about 1 (the fit is unbiased on average) */
    double m = 0;
    for (size_t i = 0; i < f.n_ratios; i++)
        m += f.ratios[i];
    CHECK_NEAR(m / (double)f.n_ratios, 1.0, 0.05);
    sp_whatif_fit_clear(&f);

    /* one padded length only (a static shape): size*len is size times a constant and size*len^2 too,
     * so only a and b can be fitted; predictions at that length stay exact */
    sp_whatif_batch_obs sb[16];
    for (uint32_t s = 1; s <= 16; s++)
        sb[s - 1] = (sp_whatif_batch_obs){s, 64, (uint64_t)truth(s, 64)};
    CHECK(sp_whatif_fit_batches(sb, 16, 0, &f) == SP_OK);
    CHECK_EQ_U64(f.used, 0x3);
    CHECK_NEAR(sp_whatif_fit_predict(&f, 5, 64), truth(5, 64), 2.0);
    CHECK(f.r2 > 0.999999);
    sp_whatif_fit_clear(&f);

    /* the floor: a fit extrapolated below zero predicts half the fastest batch observed */
    sp_whatif_batch_obs fb[2] = {{10, 10, 1000000}, {20, 10, 3000000}}; /* t = -1 ms + 0.2 ms x size */
    CHECK(sp_whatif_fit_batches(fb, 2, 0x3, &f) == SP_OK);
    CHECK_NEAR(sp_whatif_fit_predict(&f, 1, 10), 500000.0, 1e-6);
    CHECK_NEAR(sp_whatif_fit_predict(&f, 15, 10), 2000000.0, 1.0);
    sp_whatif_fit_clear(&f);

    /* bad input */
    CHECK(sp_whatif_fit_batches(b, 0, 0, &f) == SP_ERR_INVALID);
    sp_whatif_batch_obs zero = {0, 10, 100};
    CHECK(sp_whatif_fit_batches(&zero, 1, 0, &f) == SP_ERR_INVALID);
    sp_whatif_fit_clear(NULL);
    return sp_test_done("test_whatif_fit");
}
