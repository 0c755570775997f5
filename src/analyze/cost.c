/* Cost attribution (DESIGN section 7): the instance bill over the profiled window, split by the state
 * of each device in each ns (useful kernel, padding kernel, copies, gap, no batch in flight), the
 * per-request average, and a per-request cost that apportions each batch's device time by tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

/* Appends [s, e) to a list built in start order, merging with the last interval when they touch. */
static void push_sorted(sp_ival *v, size_t *n, uint64_t s, uint64_t e)
{
    if (e <= s)
        return;
    if (*n && s <= v[*n - 1].e) {
        if (e > v[*n - 1].e)
            v[*n - 1].e = e;
        return;
    }
    v[(*n)++] = (sp_ival){s, e};
}

struct piece {
    uint64_t s, e;
    uint32_t batch;
};

struct bstart {
    uint64_t start;
    int64_t id;
    uint32_t idx;
};

/* One device's batches by start, equal starts by batch id (a device belongs to one file), so which
 * batch holds the device never depends on the order of lines (docs/analysis.md, "Ties"). */
static int bstart_cmp(const void *a, const void *b)
{
    const struct bstart *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int is_kernel_like(uint8_t kind)
{
    return kind == SP_ACT_KERNEL || kind == SP_ACT_D2D || kind == SP_ACT_MEMSET;
}

double sp_ana_price(double option_price, double trace_price, int *is_default)
{
    /* DESIGN section 7: the option, else the trace's, else the stated default */
    *is_default = 0;
    if (option_price > 0)
        return option_price;
    if (trace_price > 0)
        return trace_price;
    *is_default = 1;
    return SP_DEFAULT_PRICE_PER_HOUR;
}

double sp_ana_bill(double price_per_hour, uint64_t window_ns)
{
    /* DESIGN section 7: bill = price x window (3.6e12 ns per hour) */
    return price_per_hour * (double)window_ns / 3.6e12;
}

sp_status sp_ana_cost(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_cost_summary *c = &a->r->cost;
    sp_status st = SP_ERR_NOMEM;
    /* price: option, else the first file's, else the stated default */
    c->price_per_hour = sp_ana_price(a->opt.price_per_hour,
                                     ev->n_files ? ev->files[0].price_per_hour : 0.0,
                                     &c->price_is_default);
    /* window: first arrival or activity start to last done or activity end */
    uint64_t w0 = SP_TIME_NONE, w1 = 0;
    for (size_t i = 0; i < a->n_reqs; i++) {
        const sp_ev_request *q = &ev->requests[a->reqs[i]];
        w0 = q->arrival_ns < w0 ? q->arrival_ns : w0;
        w1 = q->done_ns > w1 ? q->done_ns : w1;
    }
    for (size_t i = 0; i < ev->n_acts; i++) {
        if (a->act_dev[i] == SP_EV_NONE)
            continue;
        w0 = ev->acts[i].start_ns < w0 ? ev->acts[i].start_ns : w0;
        w1 = ev->acts[i].end_ns > w1 ? ev->acts[i].end_ns : w1;
    }
    if (w0 == SP_TIME_NONE)
        return SP_OK; /* nothing timed: a zero bill */
    c->window_ns = w1 - w0;
    c->bill = sp_ana_bill(c->price_per_hour, c->window_ns);
    c->per_request = a->n_reqs ? c->bill / (double)a->n_reqs : 0.0;

    size_t nd = a->n_devs, na = ev->n_acts, nb = ev->n_batches;
    size_t *aoff = calloc(nd + 1, sizeof *aoff);
    size_t *boff = calloc(nd + 1, sizeof *boff);
    uint32_t *aord = malloc((na ? na : 1) * sizeof *aord);
    struct bstart *bord = malloc((nb ? nb : 1) * sizeof *bord);
    sp_ival *kl = malloc((na ? na : 1) * sizeof *kl);
    sp_ival *ul = malloc((na ? na : 1) * sizeof *ul);
    sp_ival *wl = malloc((nb ? nb : 1) * sizeof *wl);
    struct piece *pieces = malloc((nb ? nb : 1) * sizeof *pieces);
    uint64_t *piece_len = calloc(nb ? nb : 1, sizeof *piece_len);
    double *rcost = calloc(a->n_reqs ? a->n_reqs : 1, sizeof *rcost);
    uint32_t *pos_of = malloc((ev->n_requests ? ev->n_requests : 1) * sizeof *pos_of);
    uint64_t *nano = malloc((a->n_reqs ? a->n_reqs : 1) * sizeof *nano);
    if (!aoff || !boff || !aord || !bord || !kl || !ul || !wl || !pieces || !piece_len || !rcost ||
        !pos_of || !nano)
        goto out;
    /* group activity and batches by device (acts keep their start order) */
    for (size_t i = 0; i < na; i++)
        if (a->act_dev[i] != SP_EV_NONE)
            aoff[a->act_dev[i] + 1]++;
    for (size_t i = 0; i < nb; i++)
        if (a->b[i].valid)
            boff[a->b[i].dev + 1]++;
    for (size_t d = 0; d < nd; d++) {
        aoff[d + 1] += aoff[d];
        boff[d + 1] += boff[d];
    }
    {
        size_t *fa = malloc((nd ? nd : 1) * sizeof *fa), *fb = malloc((nd ? nd : 1) * sizeof *fb);
        if (!fa || !fb) {
            free(fa);
            free(fb);
            goto out;
        }
        memcpy(fa, aoff, nd * sizeof *fa);
        memcpy(fb, boff, nd * sizeof *fb);
        for (size_t i = 0; i < na; i++)
            if (a->act_dev[i] != SP_EV_NONE)
                aord[fa[a->act_dev[i]]++] = (uint32_t)i;
        for (size_t i = 0; i < nb; i++)
            if (a->b[i].valid)
                bord[fb[a->b[i].dev]++] = (struct bstart){ev->batches[i].start_ns, ev->batches[i].id, (uint32_t)i};
        free(fa);
        free(fb);
    }
    long double state[SP_COST_STATE_COUNT] = {0};
    size_t ndev_billed = nd ? nd : 1;
    for (size_t d = 0; d < nd; d++) {
        size_t nk = 0, nu = 0, nw = 0;
        for (size_t j = aoff[d]; j < aoff[d + 1]; j++) {
            const sp_ev_activity *x = &ev->acts[aord[j]];
            uint64_t s = x->start_ns, e = x->end_ns; /* inside [w0, w1] by construction */
            if (is_kernel_like(x->kind))
                push_sorted(kl, &nk, s, e);
            push_sorted(ul, &nu, s, e);
        }
        /* batch windows on this device, made disjoint: where windows overlap, the earlier batch
         * holds the device (the same rule as a request's own overlapping batches) */
        qsort(bord + boff[d], boff[d + 1] - boff[d], sizeof *bord, bstart_cmp);
        uint64_t prev_end = w0;
        size_t np = 0;
        for (size_t j = boff[d]; j < boff[d + 1]; j++) {
            const sp_ev_batch *b = &ev->batches[bord[j].idx];
            uint64_t s = b->start_ns > prev_end ? b->start_ns : prev_end;
            uint64_t e = b->end_ns < w1 ? b->end_ns : w1;
            if (b->end_ns > prev_end)
                prev_end = b->end_ns;
            if (e <= s)
                continue;
            pieces[np++] = (struct piece){s, e, bord[j].idx};
            wl[nw++] = (sp_ival){s, e};
            piece_len[bord[j].idx] = e - s;
        }
        uint64_t k_total = sp_ival_total(kl, nk), u_total = sp_ival_total(ul, nu);
        uint64_t w_total = sp_ival_total(wl, nw);
        uint64_t gap = w_total - sp_ival_overlap(wl, nw, ul, nu);
        long double pad = 0;
        size_t kp = 0;
        for (size_t j = 0; j < np; j++) {
            while (kp < nk && kl[kp].e <= pieces[j].s)
                kp++;
            uint64_t in = 0;
            for (size_t m = kp; m < nk && kl[m].s < pieces[j].e; m++) {
                uint64_t s = kl[m].s > pieces[j].s ? kl[m].s : pieces[j].s;
                uint64_t e = kl[m].e < pieces[j].e ? kl[m].e : pieces[j].e;
                in += e - s;
            }
            /* DESIGN section 7: kernel time in a batch window x that batch's waste is padding */
            pad += (long double)in * a->b[pieces[j].batch].waste;
        }
        state[SP_COST_PADDING] += pad;
        state[SP_COST_USEFUL] += (long double)k_total - pad;
        state[SP_COST_COPIES] += (long double)(u_total - k_total);
        state[SP_COST_GAP] += (long double)gap;
        state[SP_COST_NO_BATCH] += (long double)(c->window_ns - u_total - gap);
    }
    if (!nd)
        state[SP_COST_NO_BATCH] = (long double)c->window_ns;
    long double dev_ns = (long double)c->window_ns * (long double)ndev_billed;
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        c->by_state_share[s] = dev_ns > 0 ? (double)(state[s] / dev_ns) : 0.0;
        c->by_state[s] = c->bill * c->by_state_share[s];
    }
    a->r->padding.share_of_bill = c->by_state_share[SP_COST_PADDING];

    /* per-request cost: each batch's device time (its disjoint window piece) at the per-device-ns
     * price, split among members by input tokens (equally when any member's count is unknown) */
    double per_dev_ns = dev_ns > 0 ? c->bill / (double)dev_ns : 0.0;
    for (size_t i = 0; i < ev->n_requests; i++)
        pos_of[i] = SP_EV_NONE;
    for (size_t i = 0; i < a->n_reqs; i++)
        pos_of[a->reqs[i]] = (uint32_t)i;
    /* batches in device order, then start order (bord): a request in several batches sums its shares
     * in an order no line order changes */
    for (size_t j = 0; j < boff[nd]; j++) {
        size_t i = bord[j].idx;
        const sp_ev_batch *b = &ev->batches[i];
        if (!piece_len[i] || !b->nmembers)
            continue;
        double bcost = per_dev_ns * (double)piece_len[i];
        int64_t tok = 0;
        int known = 1;
        for (uint32_t m = 0; m < b->nmembers; m++) {
            int64_t t = ev->requests[ev->members[b->first_member + m]].input_tokens;
            if (t < 0)
                known = 0;
            else
                tok += t;
        }
        for (uint32_t m = 0; m < b->nmembers; m++) {
            uint32_t ri = ev->members[b->first_member + m];
            if (pos_of[ri] == SP_EV_NONE)
                continue;
            double w = known && tok > 0 ? (double)ev->requests[ri].input_tokens / (double)tok
                                        : 1.0 / (double)b->nmembers;
            rcost[pos_of[ri]] += bcost * w;
        }
    }
    long double sum = 0;
    for (size_t i = 0; i < a->n_reqs; i++) {
        sum += rcost[a->by_latency[i]]; /* rank order: see sp_ana_padding */
        nano[i] = (uint64_t)llround(rcost[i] * 1e9);
    }
    c->request_cost_mean = a->n_reqs ? (double)(sum / (long double)a->n_reqs) : 0.0;
    st = sp_ana_quantiles(nano, a->n_reqs, &c->request_cost_nano);
out:
    free(aoff);
    free(boff);
    free(aord);
    free(bord);
    free(kl);
    free(ul);
    free(wl);
    free(pieces);
    free(piece_len);
    free(rcost);
    free(pos_of);
    free(nano);
    return st;
}
