/* Service-time model of the what-if simulator: least squares of a batch's window duration on
 * 1, size, size*padded_len and size*padded_len^2 (docs/whatif.md, "The fit"), solved by modified
 * Gram-Schmidt so terms the data cannot separate are detected and dropped instead of blowing up. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "whatif/whatif_int.h"

static double term_value(unsigned j, double size, double len)
{
    switch (j) {
    case 0: return 1.0;
    case 1: return size;
    case 2: return size * len;
    default: return size * len * len;
    }
}

static double predict_raw(const double coef[4], double size, double len)
{
    double t = 0;
    for (unsigned j = 0; j < 4; j++)
        t += coef[j] * term_value(j, size, len);
    return t;
}

double sp_whatif_fit_predict(const sp_whatif_fit *f, uint32_t size, uint32_t padded_len)
{
    double t = predict_raw(f->coef, size, padded_len);
    /* A linear fit can go below zero when extrapolated to tiny batches; no batch has ever been
     * faster than half the fastest one observed, so that is the floor (docs/whatif.md). */
    double floor_ns = (double)f->min_ns / 2.0;
    return t < floor_ns ? floor_ns : t;
}

void sp_whatif_fit_clear(sp_whatif_fit *f)
{
    if (!f)
        return;
    free(f->ratios);
    f->ratios = NULL;
    f->n_ratios = 0;
}

sp_status sp_whatif_fit_batches(const sp_whatif_batch_obs *b, size_t n, unsigned terms,
                                sp_whatif_fit *out)
{
    if (!b || !out || n == 0)
        return SP_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if (b[i].size == 0)
            return SP_ERR_INVALID;
    if (terms == 0)
        terms = 0xf;
    double *q = malloc(n * 4 * sizeof *q); /* orthonormal columns of the kept terms */
    double *ratios = malloc(n * sizeof *ratios);
    if (!q || !ratios) {
        free(q);
        free(ratios);
        return SP_ERR_NOMEM;
    }
    double R[4][4] = {{0}};
    unsigned kept[4], nk = 0;
    for (unsigned j = 0; j < 4; j++) {
        if (!(terms & (1u << j)))
            continue;
        double *v = q + (size_t)nk * n;
        double norm0 = 0;
        for (size_t i = 0; i < n; i++) {
            v[i] = term_value(j, b[i].size, b[i].padded_len);
            norm0 += v[i] * v[i];
        }
        norm0 = sqrt(norm0);
        if (norm0 == 0)
            continue;
        for (unsigned k = 0; k < nk; k++) {
            const double *qk = q + (size_t)k * n;
            double r = 0;
            for (size_t i = 0; i < n; i++)
                r += qk[i] * v[i];
            for (size_t i = 0; i < n; i++)
                v[i] -= r * qk[i];
            R[k][nk] = r;
        }
        double nv = 0;
        for (size_t i = 0; i < n; i++)
            nv += v[i] * v[i];
        nv = sqrt(nv);
        if (nv <= SP_WHATIF_DEPENDENT_TOL * norm0)
            continue; /* a combination of the terms already kept: the data cannot tell it apart */
        for (size_t i = 0; i < n; i++)
            v[i] /= nv;
        R[nk][nk] = nv;
        kept[nk++] = j;
    }
    /* coefficients: R c = Q^T y, back substitution */
    double qty[4] = {0}, c[4] = {0};
    for (unsigned k = 0; k < nk; k++) {
        const double *qk = q + (size_t)k * n;
        for (size_t i = 0; i < n; i++)
            qty[k] += qk[i] * (double)b[i].duration_ns;
    }
    for (unsigned k = nk; k-- > 0;) {
        double s = qty[k];
        for (unsigned m = k + 1; m < nk; m++)
            s -= R[k][m] * c[m];
        c[k] = s / R[k][k];
    }
    free(q);
    sp_whatif_fit f;
    memset(&f, 0, sizeof f);
    for (unsigned k = 0; k < nk; k++) {
        f.coef[kept[k]] = c[k];
        f.used |= 1u << kept[k];
    }
    f.n = n;
    f.min_ns = UINT64_MAX;
    double mean = 0;
    for (size_t i = 0; i < n; i++) {
        mean += (double)b[i].duration_ns;
        if (b[i].duration_ns < f.min_ns)
            f.min_ns = b[i].duration_ns;
        if (b[i].duration_ns > f.max_ns)
            f.max_ns = b[i].duration_ns;
    }
    mean /= (double)n;
    double ss_res = 0, ss_tot = 0, ape = 0;
    size_t n_ape = 0;
    for (size_t i = 0; i < n; i++) {
        double y = (double)b[i].duration_ns;
        double p = sp_whatif_fit_predict(&f, b[i].size, b[i].padded_len);
        ss_res += (y - p) * (y - p);
        ss_tot += (y - mean) * (y - mean);
        if (y > 0) {
            ape += fabs(p - y) / y;
            n_ape++;
        }
        ratios[i] = p > 0 ? y / p : 1.0;
    }
    /* R^2 of a constant response: 1 when the fit reproduces it, else 0 (no variance to explain) */
    f.r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res <= 1e-9 * (mean * mean * (double)n + 1) ? 1.0 : 0.0);
    f.mape = n_ape ? ape / (double)n_ape : 0.0;
    f.ratios = ratios;
    f.n_ratios = n;
    *out = f;
    return SP_OK;
}
