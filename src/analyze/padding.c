/* Padding waste (DESIGN section 5): per-batch waste from token counts, totals and distribution over
 * batches, and padding's share of p95 from each request's padding time (computed during the
 * partition). Also the sorted-interval helpers the GPU timeline and the cost split share. */
#include <math.h>
#include <stdlib.h>

#include "analyze/analyze_int.h"

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

uint64_t sp_ival_overlap(const sp_ival *a, size_t na, const sp_ival *b, size_t nb)
{
    uint64_t t = 0;
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        uint64_t s = a[i].s > b[j].s ? a[i].s : b[j].s;
        uint64_t e = a[i].e < b[j].e ? a[i].e : b[j].e;
        if (e > s)
            t += e - s;
        if (a[i].e < b[j].e)
            i++;
        else
            j++;
    }
    return t;
}

sp_status sp_ana_padding_waste(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_padding_summary *pd = &a->r->padding;
    double *w = malloc((ev->n_batches ? ev->n_batches : 1) * sizeof *w);
    if (!w)
        return SP_ERR_NOMEM;
    size_t nw = 0;
    for (size_t i = 0; i < ev->n_batches; i++) {
        if (!a->b[i].valid || !a->b[i].has_tokens)
            continue;
        pd->effective_tokens += ev->batches[i].effective_tokens;
        pd->padded_tokens += ev->batches[i].padded_tokens;
        w[nw++] = a->b[i].waste;
    }
    pd->batches = nw;
    /* DESIGN section 5: waste over all batches = 1 - total effective / total padded */
    if (pd->padded_tokens > 0) {
        double f = 1.0 - (double)pd->effective_tokens / (double)pd->padded_tokens;
        pd->waste_fraction = f < 0 ? 0 : f;
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

sp_status sp_ana_padding(sp_ana *a)
{
    sp_padding_summary *pd = &a->r->padding;
    /* summed in latency-rank order, which no line order changes (floating-point sums depend on the
     * order of their terms) */
    long double total = 0;
    for (size_t i = 0; i < a->n_reqs; i++)
        total += a->padding[a->by_latency[i]];
    pd->padding_ns_total = (uint64_t)llroundl(total);
    pd->share_p95 = sp_ana_share_of(a, 95, a->padding);
    return SP_OK;
}
