/* Padding waste (DESIGN section 5): per-batch waste from token counts, totals and distribution over
 * batches, and padding's share of p95 from each request's padding time (computed during the
 * partition). Also the sorted-interval helpers the GPU timeline and the cost split share. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/exactsum.h"

static int ival_cmp(const void *a, const void *b)
{
    const sp_ival *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return (x->e > y->e) - (x->e < y->e);
}

size_t sp_ival_merge(sp_ival *v, size_t n)
{
    qsort(v, n, sizeof *v, ival_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].e <= v[i].s)
            continue;
        if (m && v[i].s <= v[m - 1].e) {
            if (v[i].e > v[m - 1].e)
                v[m - 1].e = v[i].e;
        } else {
            v[m++] = v[i];
        }
    }
    return m;
}

uint64_t sp_ival_total(const sp_ival *v, size_t n)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += v[i].e - v[i].s;
    return t;
}

uint64_t sp_ival_overlap_in(const sp_ival *a, size_t na, const sp_ival *b, size_t nb, uint64_t lo, uint64_t hi)
{
    uint64_t t = 0;
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        uint64_t s = a[i].s > b[j].s ? a[i].s : b[j].s;
        uint64_t e = a[i].e < b[j].e ? a[i].e : b[j].e;
        s = s > lo ? s : lo;
        e = e < hi ? e : hi;
        if (e > s)
            t += e - s;
        if (a[i].e < b[j].e)
            i++;
        else
            j++;
    }
    return t;
}

uint64_t sp_ival_overlap(const sp_ival *a, size_t na, const sp_ival *b, size_t nb)
{
    return sp_ival_overlap_in(a, na, b, nb, 0, UINT64_MAX);
}

int sp_ana_waste_select = 1;

/* Without the detail, the batches' waste (each in [0, 1], partition.c) is picked by selection when
 * every value is a number with its sign bit clear: such doubles order as their bits do as unsigned
 * integers, and equal ones have equal bits, so the order statistics of the bits are the sorted array's
 * picks. 1 when the figures are set, 0 to sort (a negative zero, a NaN, or no room for the scratch). */
static int waste_by_selection(sp_ana *a, sp_padding_summary *pd, uint64_t *u, size_t n)
{
    uint64_t or_v = 0, and_v = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        or_v |= u[i];
        and_v &= u[i];
    }
    /* sign bit clear everywhere, and no NaN (exponent all ones with a fraction): the OR's top bit,
     * then each value's bits below +infinity's */
    if (or_v >> 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (u[i] > 0x7ff0000000000000ull)
            return 0;
    uint64_t *tmp = sp_ana_scratch_get(a->scratch, n * sizeof *tmp);
    if (!tmp)
        return 0;
    size_t ks[3] = {sp_rank(n, SP_PCT(50)) - 1, sp_rank(n, SP_PCT(95)) - 1, n - 1};
    uint64_t got[3];
    sp_select_ranks_u64(u, n, tmp, or_v ^ and_v, ks, 3, got);
    sp_ana_scratch_put(a->scratch, tmp);
    double d[3];
    memcpy(d, got, sizeof d);
    pd->waste_p50 = d[0];
    pd->waste_p95 = d[1];
    pd->waste_max = d[2];
    return 1;
}

sp_status sp_ana_padding_waste(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_padding_summary *pd = &a->r->padding;
    /* doubles for the sort (and the detail), or each double's bits for the selection: one type each */
    void *mem = malloc((ev->n_batches ? ev->n_batches : 1) * sizeof(double));
    if (!mem)
        return SP_ERR_NOMEM;
    int select = sp_ana_waste_select && !a->detail;
    double *w = mem;
    uint64_t *u = mem;
    size_t nw = 0;
    for (size_t i = 0; i < ev->n_batches; i++) {
        if (!a->b[i].valid || !a->b[i].has_tokens)
            continue;
        pd->effective_tokens += ev->batches[i].effective_tokens;
        pd->padded_tokens += ev->batches[i].padded_tokens;
        if (select) { /* a typed store of the bits, so the buffer's values are uint64_t until the sort's */
            uint64_t bits;
            memcpy(&bits, &a->b[i].waste, sizeof bits);
            u[nw++] = bits;
        } else
            w[nw++] = a->b[i].waste;
    }
    pd->batches = nw;
    /* DESIGN section 5: waste over all batches = 1 - total effective / total padded */
    if (pd->padded_tokens > 0) {
        double f = 1.0 - (double)pd->effective_tokens / (double)pd->padded_tokens;
        pd->waste_fraction = f < 0 ? 0 : f;
    }
    if (select && nw >= 2 && waste_by_selection(a, pd, u, nw)) {
        free(mem);
        return SP_OK;
    }
    if (select) /* back to doubles for the sort */
        for (size_t i = 0; i < nw; i++) {
            uint64_t b = u[i];
            double x;
            memcpy(&x, &b, sizeof x);
            w[i] = x;
        }
    sp_sort_double(w, nw);
    pd->waste_p50 = sp_pick_double(w, nw, SP_PCT(50));
    pd->waste_p95 = sp_pick_double(w, nw, SP_PCT(95));
    pd->waste_max = nw ? w[nw - 1] : 0.0;
    if (a->detail) { /* the sorted distribution is the detail's */
        a->detail->batch_waste = w;
        a->detail->n_batch_waste = nw;
    } else {
        free(w);
    }
    return SP_OK;
}

atomic_size_t sp_ana_padding_total_beside;

void sp_ana_padding_total(sp_ana *a, int beside)
{
    /* summed exactly (common/exactsum.h), rounded once to a long double: no order of the terms, so
     * none of the lines, changes it, and no ranking is needed (docs/analysis.md section 5) */
    sp_exact_sum total;
    sp_exact_sum_init(&total);
    for (size_t i = 0; i < a->n_reqs; i++)
        sp_exact_sum_add(&total, a->padding[i]);
    a->r->padding.padding_ns_total = (uint64_t)llroundl(sp_exact_sum_value(&total));
    a->padding_summed = 1;
    if (beside)
        atomic_fetch_add_explicit(&sp_ana_padding_total_beside, 1, memory_order_relaxed);
}

sp_status sp_ana_padding(sp_ana *a)
{
    if (!a->padding_summed) /* where the stage rows did not take it (sp_ana_stage_rows) */
        sp_ana_padding_total(a, 0);
    a->r->padding.share_p95 = sp_ana_share_of(a, 95, a->padding);
    return SP_OK;
}
