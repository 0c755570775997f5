/* Service-time model of the what-if simulator: a batch's window duration as a non-negative
 * combination of 1, size, size*padded_len and size*padded_len^2 (docs/whatif.md, "The fit"). Terms
 * the data cannot separate are found by modified Gram-Schmidt and dropped; the non-negative least
 * squares solution is then found exactly by solving every subset of the remaining terms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "whatif/whatif_int.h"

static const char *const term_names[4] = {"fixed cost per batch", "cost per request", "cost per padded token",
                                          "cost per size x len^2"};

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
    /* With non-negative costs the prediction only falls below the fastest batch for batches smaller
     * or shorter than any observed; no batch is taken to be faster than half the fastest one seen
     * (docs/whatif.md). */
    double floor_ns = (double)f->min_ns / 2.0;
    return t < floor_ns ? floor_ns : t;
}

int sp_whatif_fit_covers(const sp_whatif_fit *f, uint32_t size, uint32_t padded_len)
{
    return f->n == 0 || (size >= f->size_min && size <= f->size_max && padded_len >= f->len_min &&
                         padded_len <= f->len_max);
}

void sp_whatif_fit_clear(sp_whatif_fit *f)
{
    if (!f)
        return;
    free(f->ratios);
    f->ratios = NULL;
    f->n_ratios = 0;
}

const char *sp_whatif_term_name(unsigned term)
{
    return term < 4 ? term_names[term] : "unknown term";
}

/* Least squares of the durations on the `k` terms listed in `terms` (columns must be independent of
 * each other, or the dependent ones are skipped), by modified Gram-Schmidt. `q` holds n*4 doubles of
 * scratch. Writes coefficients by term into c[4] (0 for terms skipped) and returns the bit mask of
 * the terms it kept. */
static unsigned least_squares(const sp_whatif_batch_obs *b, size_t n, const unsigned *terms, unsigned k,
                              double *q, double c[4])
{
    double R[4][4] = {{0}};
    unsigned kept[4], nk = 0;
    for (unsigned t = 0; t < k; t++) {
        unsigned j = terms[t];
        double *v = q + (size_t)nk * n;
        double norm0 = 0;
        for (size_t i = 0; i < n; i++) {
            v[i] = term_value(j, b[i].size, b[i].padded_len);
            norm0 += v[i] * v[i];
        }
        norm0 = sqrt(norm0);
        if (norm0 == 0)
            continue;
        for (unsigned m = 0; m < nk; m++) {
            const double *qm = q + (size_t)m * n;
            double r = 0;
            for (size_t i = 0; i < n; i++)
                r += qm[i] * v[i];
            for (size_t i = 0; i < n; i++)
                v[i] -= r * qm[i];
            R[m][nk] = r;
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
    /* R x = Q^T y, back substitution */
    double qty[4] = {0}, x[4] = {0};
    for (unsigned m = 0; m < nk; m++) {
        const double *qm = q + (size_t)m * n;
        for (size_t i = 0; i < n; i++)
            qty[m] += qm[i] * (double)b[i].duration_ns;
    }
    for (unsigned m = nk; m-- > 0;) {
        double s = qty[m];
        for (unsigned p = m + 1; p < nk; p++)
            s -= R[m][p] * x[p];
        x[m] = s / R[m][m];
    }
    memset(c, 0, 4 * sizeof *c);
    unsigned mask = 0;
    for (unsigned m = 0; m < nk; m++) {
        c[kept[m]] = x[m];
        mask |= 1u << kept[m];
    }
    return mask;
}

static double sum_sq_residuals(const sp_whatif_batch_obs *b, size_t n, const double c[4])
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double r = (double)b[i].duration_ns - predict_raw(c, b[i].size, b[i].padded_len);
        s += r * r;
    }
    return s;
}

/* Non-negative least squares over the independent terms `mask`: the solution of the constrained
 * problem is the unconstrained solution on its own support (the terms it leaves positive), so
 * solving each of the at most 15 subsets and keeping the best feasible one is exact. The empty
 * subset (all costs 0) is always feasible. */
static void nonnegative_fit(const sp_whatif_batch_obs *b, size_t n, unsigned mask, double *q, double best[4])
{
    double best_sse = sum_sq_residuals(b, n, (double[4]){0, 0, 0, 0});
    memset(best, 0, 4 * sizeof *best);
    for (unsigned sub = 1; sub < 16; sub++) {
        if ((sub & mask) != sub)
            continue;
        unsigned terms[4], k = 0;
        for (unsigned j = 0; j < 4; j++)
            if (sub & (1u << j))
                terms[k++] = j;
        double c[4];
        least_squares(b, n, terms, k, q, c);
        int feasible = 1;
        for (unsigned j = 0; j < 4; j++)
            feasible &= c[j] >= 0;
        if (!feasible)
            continue;
        double sse = sum_sq_residuals(b, n, c);
        if (sse < best_sse) {
            best_sse = sse;
            memcpy(best, c, 4 * sizeof *best);
        }
    }
}

sp_status sp_whatif_fit_batches(const sp_whatif_batch_obs *b, size_t n, unsigned terms, sp_whatif_fit *out,
                                char *err, size_t errlen)
{
    if (!b || !out || n == 0) {
        sp_errf(err, errlen, "no batches to fit");
        return SP_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++)
        if (b[i].size == 0) {
            sp_errf(err, errlen, "a batch has no members");
            return SP_ERR_INVALID;
        }
    if (terms == 0)
        terms = 0xf;
    double *q = malloc(n * 4 * sizeof *q);
    double *ratios = malloc(n * sizeof *ratios);
    if (!q || !ratios) {
        free(q);
        free(ratios);
        return SP_ERR_NOMEM;
    }
    sp_whatif_fit f;
    memset(&f, 0, sizeof f);
    unsigned order[4], k = 0;
    for (unsigned j = 0; j < 4; j++)
        if (terms & (1u << j))
            order[k++] = j;
    f.used = least_squares(b, n, order, k, q, f.coef_ls);
    nonnegative_fit(b, n, f.used, q, f.coef);
    free(q);
    for (unsigned j = 0; j < 4; j++)
        if ((f.used & (1u << j)) && f.coef[j] == 0 && f.coef_ls[j] != 0)
            f.clamped |= 1u << j;
    int any = 0;
    for (unsigned j = 0; j < 4; j++)
        any |= f.coef[j] > 0;
    if (!any) {
        free(ratios);
        sp_errf(err, errlen,
                (terms & 1u) ? "no physical fit: every batch window lasted 0 ns"
                             : "no physical fit: batch windows do not grow with any term of the model (every "
                               "non-negative cost is 0); include the fixed cost per batch");
        return SP_ERR_STATE;
    }
    f.n = n;
    f.min_ns = UINT64_MAX;
    f.size_min = f.len_min = UINT32_MAX;
    double mean = 0;
    for (size_t i = 0; i < n; i++) {
        mean += (double)b[i].duration_ns;
        if (b[i].duration_ns < f.min_ns)
            f.min_ns = b[i].duration_ns;
        if (b[i].duration_ns > f.max_ns)
            f.max_ns = b[i].duration_ns;
        if (b[i].size < f.size_min)
            f.size_min = b[i].size;
        if (b[i].size > f.size_max)
            f.size_max = b[i].size;
        if (b[i].padded_len < f.len_min)
            f.len_min = b[i].padded_len;
        if (b[i].padded_len > f.len_max)
            f.len_max = b[i].padded_len;
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
