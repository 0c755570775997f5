/* Cost attribution (DESIGN section 7): the instance bill over the profiled window, split by the state
 * of each device in each ns (useful kernel, padding kernel, copies, gap, no batch in flight), the
 * per-request average, and a per-request cost that apportions each batch's device time by tokens. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyze/analyze_int.h"
#include "common/exactsum.h"
#include "common/util_int.h"

/* Appends [s, e) to a list built in start order, merging with the last interval when they touch;
 * returns by how many ns the list's total length (sp_ival_total) grew. */
static inline uint64_t push_sorted(sp_ival *v, size_t *n, uint64_t s, uint64_t e)
{
    if (e <= s)
        return 0;
    if (*n && s <= v[*n - 1].e) {
        uint64_t grew = e > v[*n - 1].e ? e - v[*n - 1].e : 0;
        if (grew)
            v[*n - 1].e = e;
        return grew;
    }
    v[(*n)++] = (sp_ival){s, e};
    return e - s;
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

/* The profiled window's requests' part: the analysed requests' first arrival and last done (taken when
 * they were selected); devices_acts widens it by the activity (first activity start, last end). */
static void cost_window_requests(const sp_ana *a, uint64_t *w0_out, uint64_t *w1_out)
{
    *w0_out = a->n_reqs ? a->first_arrival : SP_TIME_NONE;
    *w1_out = a->n_reqs ? a->last_done : 0;
}

/* Scratch of one cost pass. */
typedef struct cost_work {
    uint64_t w0, w1;          /* the profiled window */
    size_t *aoff, *boff;      /* per device d: its activity's place aoff[d] .. aoff[d+1]), bord[boff[d] .. boff[d+1]) */
    struct bstart *bord;      /* analysed batches grouped by device, each sorted by start and id */
    sp_ival *kl, *ul;         /* per device d from aoff[d] on: its kernel-like union, all-work union */
    size_t *nk, *nu;          /* per device: the lengths of those */
    uint64_t *tk, *tu;        /* per device: their total lengths in ns (sp_ival_total's, kept as they grow) */
    sp_ival *wl;              /* one device's batch window pieces */
    struct piece *pieces;     /* one device's batch windows, made disjoint */
    uint64_t *piece_len;      /* per batch: the length of its disjoint piece (0: none) */
    sp_ana_scratch *sc;       /* where the arrays above but the offsets come from */
} cost_work;

/* Gives back what only device_states reads, the last taken first. */
static void cost_work_drop_states(cost_work *w)
{
    sp_ana_scratch_put(w->sc, w->kl);
    sp_ana_scratch_put(w->sc, w->ul);
    sp_ana_scratch_put(w->sc, w->pieces);
    sp_ana_scratch_put(w->sc, w->wl);
    w->ul = w->kl = w->wl = NULL;
    w->pieces = NULL;
}

static void cost_work_free(cost_work *w)
{
    free(w->aoff);
    free(w->boff);
    free(w->nk);
    free(w->nu);
    free(w->tk);
    free(w->tu);
    cost_work_drop_states(w);
    sp_ana_scratch_put(w->sc, w->piece_len);
    sp_ana_scratch_put(w->sc, w->bord);
}

/* Allocates the scratch, counts each device's activity (its unions' places) and groups the batches by
 * device. */
static sp_status cost_work_init(const sp_ana *a, cost_work *w)
{
    const sp_events *ev = a->ev;
    size_t nd = a->n_devs, na = ev->n_acts, nb = ev->n_batches;
    w->aoff = calloc(nd + 1, sizeof *w->aoff);
    w->boff = calloc(nd + 1, sizeof *w->boff);
    w->nk = calloc(nd + 1, sizeof *w->nk);
    w->nu = calloc(nd + 1, sizeof *w->nu);
    w->tk = calloc(nd + 1, sizeof *w->tk);
    w->tu = calloc(nd + 1, sizeof *w->tu);
    w->sc = a->scratch;
    /* the device states' own arrays last, so that they come off the scratch stack first
     * (cost_work_drop_states) and the per-request costs take their place */
    w->bord = sp_ana_scratch_get(w->sc, nb * sizeof *w->bord);
    w->piece_len = sp_ana_scratch_get(w->sc, nb * sizeof *w->piece_len);
    w->wl = sp_ana_scratch_get(w->sc, nb * sizeof *w->wl);
    w->pieces = sp_ana_scratch_get(w->sc, nb * sizeof *w->pieces);
    /* the all-work union before the kernel-like one: it is the longer (it holds the kernel-like
     * activity too), so the room kl leaves unused past its fill is at the top, where no page is
     * faulted in for it, rather than between the two */
    w->ul = sp_ana_scratch_get(w->sc, na * sizeof *w->ul);
    w->kl = sp_ana_scratch_get(w->sc, na * sizeof *w->kl);
    size_t *fb = malloc((nd ? nd : 1) * sizeof *fb);
    if (!w->aoff || !w->boff || !w->nk || !w->nu || !w->tk || !w->tu || !w->bord || !w->kl || !w->ul || !w->wl ||
        !w->pieces || !w->piece_len || !fb) {
        free(fb);
        return SP_ERR_NOMEM;
    }
    sp_ana_zero(w->piece_len, nb * sizeof *w->piece_len);
    for (size_t i = 0; i < na; i++)
        if (a->act_dev[i] != SP_EV_NONE)
            w->aoff[a->act_dev[i] + 1]++;
    for (size_t i = 0; i < nb; i++)
        if (a->b[i].valid)
            w->boff[a->b[i].dev + 1]++;
    for (size_t d = 0; d < nd; d++) {
        w->aoff[d + 1] += w->aoff[d];
        w->boff[d + 1] += w->boff[d];
    }
    memcpy(fb, w->boff, nd * sizeof *fb);
    for (size_t i = 0; i < nb; i++)
        if (a->b[i].valid)
            w->bord[fb[a->b[i].dev]++] = (struct bstart){ev->batches[i].start_ns, ev->batches[i].id, (uint32_t)i};
    free(fb);
    return SP_OK;
}

size_t sp_ana_cost_ahead = SP_ANA_COST_AHEAD;
size_t sp_ana_cost_ahead_every = SP_ANA_COST_AHEAD_EVERY;
atomic_size_t sp_ana_cost_populated;

/* The helper's pages ahead of devices_acts (sp_ana_cost_share's first phase): where the current
 * device's unions are filled to and where their places end, as devices_acts last published them
 * (every SP_ANA_COST_AHEAD_EVERY activities), and whether the pass is done. */
typedef struct cost_ahead {
    atomic_uintptr_t at[2], end[2]; /* the kernel-like union, the all-work union: next byte, places' end */
    atomic_size_t left;             /* bytes either union can still grow by (the activities left) */
    atomic_uintptr_t read_to;       /* the first activity the pass has not read (every one before it is read) */
    atomic_uintptr_t dropped_to;    /* the helper has handed back the activity's pages below this address */
    atomic_int done;
} cost_ahead;

/* devices_acts' progress on device `d` (its unions' lengths nk, nu; `left` activities still to read)
 * for the helper. */
static void ahead_publish(cost_ahead *ah, const cost_work *w, size_t d, size_t nk, size_t nu, size_t left,
                          const sp_ev_activity *read_to)
{
    /* the activities before read_to read (the pass never comes back to them): after them, so that the
     * helper's acquire sees them done before it hands their pages back */
    atomic_store_explicit(&ah->read_to, (uintptr_t)read_to, memory_order_release);
    atomic_store_explicit(&ah->left, left * sizeof *w->ul, memory_order_relaxed);
    sp_ival *kl = w->kl + w->aoff[d], *ul = w->ul + w->aoff[d];
    size_t n = w->aoff[d + 1] - w->aoff[d];
    atomic_store_explicit(&ah->at[0], (uintptr_t)(kl + nk), memory_order_relaxed);
    atomic_store_explicit(&ah->at[1], (uintptr_t)(ul + nu), memory_order_relaxed);
    atomic_store_explicit(&ah->end[0], (uintptr_t)(kl + n), memory_order_relaxed);
    atomic_store_explicit(&ah->end[1], (uintptr_t)(ul + n), memory_order_relaxed);
}

/* The helper's part while devices_acts runs: the pages of each union's next sp_ana_cost_ahead bytes
 * (no further than the current device's places, nor than the activities left could fill: at the
 * end of the pass no page past the unions' last is populated), populated writable before devices_acts comes to
 * them (MADV_POPULATE_WRITE: no byte changes, a page already in is left as it is), so that the main
 * thread does not stop for their faults; a short sleep when it is that far ahead already. Until
 * devices_acts is done (with sp_ana_cost_helper_first, one round first whatever the pass has done).
 * Only pages of the scratch arrays kl and ul are named, each a page the pass may write (one its
 * places share). */
static int drop_behind(sp_ana_cost_share *sh, cost_ahead *ah, uintptr_t page);

static void populate_ahead(cost_ahead *ah, sp_ana_cost_share *sh)
{
    const uintptr_t page = sp_page_size(), step = (uintptr_t)256 << 10;
    uintptr_t upto[2] = {0, 0}, upto_end[2] = {0, 0}; /* populated to, in the places ending there */
    const uintptr_t ahead = sp_ana_cost_ahead ? sp_ana_cost_ahead : 1;
    int once = sp_ana_cost_helper_first;
    while (once-- > 0 || !atomic_load_explicit(&ah->done, memory_order_acquire)) {
        int did = 0;
        for (int k = 0; k < 2; k++) {
            uintptr_t at = atomic_load_explicit(&ah->at[k], memory_order_relaxed);
            uintptr_t end = atomic_load_explicit(&ah->end[k], memory_order_relaxed);
            uintptr_t left = atomic_load_explicit(&ah->left, memory_order_relaxed);
            if (end <= at)
                continue; /* no places left, or the two read from different devices */
            if (end != upto_end[k] || upto[k] < at) {
                upto[k] = at & ~(page - 1); /* another device's places, or the pass went past */
                upto_end[k] = end;
            }
            uintptr_t lim = ahead < left ? ahead : left;
            uintptr_t to = end - at > lim ? at + lim : end;
            to = (to + page - 1) & ~(page - 1); /* the page its last byte is on */
            if (upto[k] >= to)
                continue;
            uintptr_t hi = to - upto[k] > step ? upto[k] + step : to;
            sp_populate_pages((void *)upto[k], hi - upto[k]); /* both ends on page boundaries */
            atomic_fetch_add_explicit(&sp_ana_cost_populated, hi - upto[k], memory_order_relaxed);
            upto[k] = hi;
            did = 1;
        }
        did |= drop_behind(sh, ah, page);
        if (!did) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
}

/* The test route (sp_ana_cost_helper_first): waits until the helper has handed back every page of the
 * activity wholly below `read_to` that it hands back (drop_behind), so that in every run the pass reads
 * what comes after on pages a wrong hand-back (one too far) would have zeroed. */
static void ahead_wait_dropped(cost_ahead *ah, const sp_ev_activity *read_to)
{
    const uintptr_t page = sp_page_size(), to = (uintptr_t)read_to & ~(page - 1);
    while (atomic_load_explicit(&ah->dropped_to, memory_order_acquire) < to) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
}

/* Every device's activity, read once in the events' order (a device's activity is in start order
 * there, so each device sees the same sequence a per-device pass would): its kernel-like and
 * all-work unions (at w->kl, w->ul from w->aoff[d] on, lengths w->nk[d], w->nu[d], total ns w->tk[d],
 * w->tu[d]: the sums of their lengths mod 2^64, taken as the unions grow) and the profiled
 * window widened to hold every activity's start and end (DESIGN section 7: first arrival or activity
 * start to last done or activity end). */
static void devices_acts(const sp_ana *a, cost_work *w, uint64_t *w0, uint64_t *w1, cost_ahead *ah)
{
    const sp_events *ev = a->ev;
    const size_t na = ev->n_acts;
    uint64_t lo = *w0, hi = *w1;
    /* the current device's unions and lengths in locals, stored back when the device changes */
    uint32_t cur = SP_EV_NONE;
    sp_ival *kl = NULL, *ul = NULL;
    size_t nk = 0, nu = 0;
    uint64_t tk = 0, tu = 0;
    const size_t every = sp_ana_cost_ahead_every ? sp_ana_cost_ahead_every - 1 : 0; /* a mask */
    for (size_t i = 0; i < na; i++) {
        uint32_t d = a->act_dev[i];
        if (d == SP_EV_NONE)
            continue;
        if (ah && !(i & every) && cur != SP_EV_NONE) {
            ahead_publish(ah, w, cur, nk, nu, na - i, &ev->acts[i]); /* for the helper (populate_ahead) */
            if (sp_ana_cost_helper_first)
                ahead_wait_dropped(ah, &ev->acts[i]);
        }
        if (d != cur) {
            if (cur != SP_EV_NONE) {
                w->nk[cur] = nk;
                w->nu[cur] = nu;
                w->tk[cur] = tk;
                w->tu[cur] = tu;
            }
            cur = d;
            kl = w->kl + w->aoff[d];
            ul = w->ul + w->aoff[d];
            nk = w->nk[d];
            nu = w->nu[d];
            tk = w->tk[d];
            tu = w->tu[d];
        }
        const sp_ev_activity *x = &ev->acts[i];
        uint64_t s = x->start_ns, e = x->end_ns;
        lo = s < lo ? s : lo;
        hi = e > hi ? e : hi;
        if (is_kernel_like(x->kind))
            tk += push_sorted(kl, &nk, s, e);
        tu += push_sorted(ul, &nu, s, e);
    }
    if (cur != SP_EV_NONE) {
        w->nk[cur] = nk;
        w->nu[cur] = nu;
        w->tk[cur] = tk;
        w->tu[cur] = tu;
    }
    *w0 = lo;
    *w1 = hi;
}

/* What the share's kinds of phase hand the helper (sp_ana_cost_share.kind). */
enum { SHARE_NONE, SHARE_AHEAD, SHARE_GAP, SHARE_WEIGHTS, SHARE_NANO, SHARE_CLOSED };
static int share_open(sp_ana_cost_share *sh, int kind, void *p);
static void share_wait_for(sp_ana_cost_share *sh, int seq);

/* One device's gap (its batch windows' ns outside its all-work union) needs the overlap of the two
 * lists, an integer in any order: it is taken in two halves, the overlap before and from a time `cut`
 * (the middle batch window's start), each by whichever thread takes it first: the helper takes the
 * first half while the cost's thread sums the device's padding, then the second if the cost's thread
 * has not, which takes it (and then the first, if still free) once its padding is summed. */
typedef struct gap_job {
    const sp_ival *wl, *ul;
    size_t nw, nu;
    uint64_t cut;
    atomic_int taken[2];
    uint64_t overlap[2];
} gap_job;

atomic_size_t sp_ana_cost_gaps_helped;

/* The first list element of v[0..n) (sorted, disjoint) whose end lies past `cut`: those before it end
 * at or before the cut. */
static size_t first_ending_after(const sp_ival *v, size_t n, uint64_t cut)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (v[m].e > cut)
            hi = m;
        else
            lo = m + 1;
    }
    return lo;
}

/* The first list element of v[0..n) whose start lies at or past `cut`. */
static size_t first_starting_from(const sp_ival *v, size_t n, uint64_t cut)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (v[m].s >= cut)
            hi = m;
        else
            lo = m + 1;
    }
    return lo;
}

uint64_t sp_ana_overlap_half(const sp_ival *a, size_t na, const sp_ival *b, size_t nb, uint64_t cut, int h)
{
    if (!h) /* the elements that start before the cut */
        return sp_ival_overlap_in(a, first_starting_from(a, na, cut), b, first_starting_from(b, nb, cut), 0, cut);
    size_t ia = first_ending_after(a, na, cut), ib = first_ending_after(b, nb, cut); /* those that end after */
    return sp_ival_overlap_in(a + ia, na - ia, b + ib, nb - ib, cut, UINT64_MAX);
}

/* Computes half `h` of the job's overlap unless another thread took it; returns whether this one did. */
static int gap_take(gap_job *g, int h)
{
    int free_job = 0;
    if (!atomic_compare_exchange_strong(&g->taken[h], &free_job, 1))
        return 0;
    g->overlap[h] = sp_ana_overlap_half(g->wl, g->nw, g->ul, g->nu, g->cut, h);
    return 1;
}

/* Device `d`'s ns of the window by state (DESIGN section 7), added to state[], from its unions
 * (devices_acts). Sorts the device's batches in w->bord and records each one's disjoint piece in
 * w->piece_len. With `sh`, the overlap for the gap is opened to its helper (`g`, this device's job
 * from here on, in two halves) while this thread sums the padding. */
static void device_states(const sp_ana *a, cost_work *w, size_t d, uint64_t window_ns, long double *state,
                          sp_ana_cost_share *sh, gap_job *g)
{
    const sp_events *ev = a->ev;
    const sp_ival *kl = w->kl + w->aoff[d], *ul = w->ul + w->aoff[d];
    const size_t nk = w->nk[d], nu = w->nu[d];
    size_t nw = 0;
    /* batch windows on this device, made disjoint: where windows overlap, the earlier batch holds the
     * device (the same rule as a request's own overlapping batches) */
    sp_sort_mostly_sorted(w->bord + w->boff[d], w->boff[d + 1] - w->boff[d], sizeof *w->bord, bstart_cmp);
    uint64_t prev_end = w->w0;
    size_t np = 0;
    for (size_t j = w->boff[d]; j < w->boff[d + 1]; j++) {
        const sp_ev_batch *b = &ev->batches[w->bord[j].idx];
        uint64_t s = b->start_ns > prev_end ? b->start_ns : prev_end;
        uint64_t e = b->end_ns < w->w1 ? b->end_ns : w->w1;
        if (b->end_ns > prev_end)
            prev_end = b->end_ns;
        if (e <= s)
            continue;
        w->pieces[np++] = (struct piece){s, e, w->bord[j].idx};
        w->wl[nw++] = (sp_ival){s, e};
        w->piece_len[w->bord[j].idx] = e - s;
    }
    uint64_t k_total = w->tk[d], u_total = w->tu[d]; /* sp_ival_total(kl, nk), sp_ival_total(ul, nu) */
    uint64_t w_total = sp_ival_total(w->wl, nw);
    g->wl = w->wl;
    g->nw = nw;
    g->ul = ul;
    g->nu = nu;
    g->cut = nw ? w->wl[nw / 2].s : 0;
    atomic_store_explicit(&g->taken[1], 0, memory_order_relaxed);
    atomic_store_explicit(&g->taken[0], 0, memory_order_release); /* the fields above before it */
    int seq = share_open(sh, SHARE_GAP, g);
    if (sp_ana_cost_helper_first)
        share_wait_for(sh, seq);
    long double pad = 0;
    size_t kp = 0;
    for (size_t j = 0; j < np; j++) {
        const struct piece *pc = &w->pieces[j];
        while (kp < nk && kl[kp].e <= pc->s)
            kp++;
        uint64_t in = 0;
        for (size_t m = kp; m < nk && kl[m].s < pc->e; m++) {
            uint64_t s = kl[m].s > pc->s ? kl[m].s : pc->s;
            uint64_t e = kl[m].e < pc->e ? kl[m].e : pc->e;
            in += e - s;
        }
        /* DESIGN section 7: kernel time in a batch window x that batch's waste is padding */
        pad += (long double)in * a->b[pc->batch].waste;
    }
    gap_take(g, 1); /* the halves the helper has not taken */
    gap_take(g, 0);
    share_wait_for(sh, 0); /* and if it took one, until it is done */
    uint64_t gap = w_total - (g->overlap[0] + g->overlap[1]);
    state[SP_COST_PADDING] += pad;
    state[SP_COST_USEFUL] += (long double)k_total - pad;
    state[SP_COST_COPIES] += (long double)(u_total - k_total);
    state[SP_COST_GAP] += (long double)gap;
    state[SP_COST_NO_BATCH] += (long double)(window_ns - u_total - gap);
}

/* A member's weight in its batch's cost: its tokens in the step for a generation step (the tokens the
 * step computed for it, docs/generation.md), else its input tokens; < 0 when unknown. */
static int64_t member_tokens(const sp_events *ev, const sp_ev_batch *b, uint32_t m)
{
    if (b->step != SP_EV_NONE)
        return ev->step_members[ev->steps[b->step].first + m].tokens;
    return sp_ev_req_input_tokens(ev, &ev->requests[ev->members[b->first_member + m]]);
}

size_t sp_ana_cost_chunk = SP_ANA_COST_CHUNK;
atomic_size_t sp_ana_cost_helped;
int sp_ana_cost_helper_first;

/* One of request_costs' shared passes (sp_ana_cost_share): what its chunks read and write, and the
 * helper's part of the nano column's sum and stats. */
typedef struct cost_pass {
    const sp_ana *a;
    const cost_work *w;
    const uint64_t *moff; /* weights: per place j of w->bord, its members' place in mw (moff[j + 1]: the end) */
    double *mw;           /* weights: per member in that order, its share of its batch's cost; < 0 where
                             the share is already added (the member's only batch) */
    const uint32_t *pos_of; /* weights: each request's analysed place (NULL: its index) */
    double per_dev_ns;    /* weights: the price of a device ns */
    atomic_size_t deferred; /* weights: members whose share is left to the ordered scatter */
    atomic_size_t equal;    /* weights: batches split in equal shares (a member's tokens unknown) */
    atomic_size_t split;    /* weights: batches with a cost to share */
    double *rcost;        /* per analysed request, its cost: summed by the weights pass (members of one
                             batch) and the ordered scatter, read by the nano pass */
    uint64_t *nano;       /* nano: per analysed request, its cost in whole nano-dollars */
    size_t nb, nr, chunk; /* the places of w->bord, the analysed requests; a chunk's length */
    atomic_size_t next[2]; /* per pass (the weights, the nano column): its next chunk */
    sp_exact_sum helper_sum;
    sp_ana_col_stats helper_stats;
} cost_pass;

/* The members' weights of the batches at w->bord[j0 .. j1): each member's tokens over its batch's
 * (member_tokens), or an equal share when any member's count is unknown or the batch has no tokens.
 * A member in no other batch (its request's batch list, which counts every recorded batch, holds
 * one) has its share added to its cost here, the only add onto its zero, and its weight marked done
 * (-1); the others' shares are left to the ordered scatter (request_costs). */
static void weights_chunk(cost_pass *p, size_t j0, size_t j1)
{
    const sp_events *ev = p->a->ev;
    size_t deferred = 0, equal = 0, split = 0;
    for (size_t j = j0; j < j1; j++) {
        size_t idx = p->w->bord[j].idx;
        const sp_ev_batch *b = &ev->batches[idx];
        uint64_t at = p->moff[j];
        if (p->moff[j + 1] == at)
            continue; /* no cost to share */
        double bcost = p->per_dev_ns * (double)p->w->piece_len[idx];
        int64_t tok = 0;
        int known = 1;
        for (uint32_t m = 0; m < b->nmembers; m++) {
            int64_t t = member_tokens(ev, b, m);
            if (t < 0)
                known = 0;
            else
                tok += t;
        }
        equal += !(known && tok > 0);
        split++;
        for (uint32_t m = 0; m < b->nmembers; m++) {
            double wt = known && tok > 0 ? (double)member_tokens(ev, b, m) / (double)tok
                                         : 1.0 / (double)b->nmembers;
            uint32_t ri = ev->members[b->first_member + m];
            if (sp_ev_req_nbatches(ev, &ev->requests[ri]) != 1) {
                p->mw[at + m] = wt;
                deferred++;
                continue;
            }
            uint32_t pos = p->pos_of ? p->pos_of[ri] : ri;
            if (pos != SP_EV_NONE)
                p->rcost[pos] += bcost * wt;
            p->mw[at + m] = -1.0;
        }
    }
    if (deferred)
        atomic_fetch_add_explicit(&p->deferred, deferred, memory_order_relaxed);
    if (equal)
        atomic_fetch_add_explicit(&p->equal, equal, memory_order_relaxed);
    if (split)
        atomic_fetch_add_explicit(&p->split, split, memory_order_relaxed);
}

/* The nano-dollar column of requests [i0, i1), its exact sum and its stats (sp_ana_col_stats_of's)
 * added to `sum` and `cst`. */
static void nano_chunk(const cost_pass *p, size_t i0, size_t i1, sp_exact_sum *sum, sp_ana_col_stats *cst)
{
    for (size_t i = i0; i < i1; i++) {
        sp_exact_sum_add(sum, p->rcost[i]);
        uint64_t x = (uint64_t)sp_ana_llround(p->rcost[i] * 1e9);
        p->nano[i] = x;
        sp_ana_col_stats_add(cst, x, 1);
    }
}

/* Takes the open pass's chunks until none is left; SHARE_WEIGHTS the weights, SHARE_NANO the nano
 * column (into `sum` and `cst`). Returns how many it took. */
static size_t pass_chunks(cost_pass *p, int kind, sp_exact_sum *sum, sp_ana_col_stats *cst)
{
    const size_t n = kind == SHARE_WEIGHTS ? p->nb : p->nr;
    for (size_t taken = 0;; taken++) {
        size_t k = atomic_fetch_add(&p->next[kind == SHARE_NANO], 1);
        if (k >= (n + p->chunk - 1) / p->chunk)
            return taken;
        size_t lo = k * p->chunk, hi = n - lo < p->chunk ? n : lo + p->chunk;
        if (kind == SHARE_WEIGHTS)
            weights_chunk(p, lo, hi);
        else
            nano_chunk(p, lo, hi, sum, cst);
    }
}

/* Stats of two parts of one column as the stats of the whole (the values unsigned: the running sum
 * wraps in either order exactly when the whole sum passes 2^64). */
static void col_stats_merge(sp_ana_col_stats *st, const sp_ana_col_stats *o)
{
    st->lo = o->lo < st->lo ? o->lo : st->lo;
    st->hi = o->hi > st->hi ? o->hi : st->hi;
    st->or_k |= o->or_k;
    st->and_k &= o->and_k;
    st->wrapped |= o->wrapped;
    st->wrapped |= __builtin_add_overflow(st->sum, o->sum, &st->sum);
}

void sp_ana_cost_share_init(sp_ana_cost_share *sh)
{
    memset(sh, 0, sizeof *sh);
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->cv, NULL);
}

void sp_ana_cost_share_destroy(sp_ana_cost_share *sh)
{
    pthread_cond_destroy(&sh->cv);
    pthread_mutex_destroy(&sh->mu);
}

/* Opens a phase of kind `kind` to the helper (SHARE_AHEAD: the pages ahead of devices_acts, `p` a
 * cost_ahead; SHARE_GAP: a device's gap, `p` a gap_job; SHARE_WEIGHTS, SHARE_NANO: a pass, `p` its
 * cost_pass), or with SHARE_CLOSED closes the share (p NULL). Returns the phase's number (0 without
 * a share). */
static int share_open(sp_ana_cost_share *sh, int kind, void *p)
{
    if (!sh)
        return 0;
    pthread_mutex_lock(&sh->mu);
    if (sh->kind != SHARE_CLOSED) {
        sh->phase++;
        sh->kind = kind;
        sh->pass = p;
    }
    int seq = sh->phase;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    return seq;
}

void sp_ana_cost_share_close(sp_ana_cost_share *sh)
{
    share_open(sh, SHARE_CLOSED, NULL);
}

/* Waits until the helper has left the open phase (it takes no chunk after the counter ran out, no
 * job once it is taken); with `seq` (sp_ana_cost_helper_first), until it has come to that phase and
 * left it. */
static void share_wait_for(sp_ana_cost_share *sh, int seq)
{
    if (!sh)
        return;
    pthread_mutex_lock(&sh->mu);
    while (sh->helping || sh->joined < seq)
        pthread_cond_wait(&sh->cv, &sh->mu);
    pthread_mutex_unlock(&sh->mu);
}

static void share_wait(sp_ana_cost_share *sh)
{
    share_wait_for(sh, 0);
}

/* Waits until the helper has come to phase `seq` (or a later one). */
static void share_wait_joined(sp_ana_cost_share *sh, int seq)
{
    if (!sh)
        return;
    pthread_mutex_lock(&sh->mu);
    while (sh->joined < seq)
        pthread_cond_wait(&sh->cv, &sh->mu);
    pthread_mutex_unlock(&sh->mu);
}

size_t sp_ana_cost_discard_step = SP_ANA_COST_DISCARD_STEP;
atomic_size_t sp_ana_cost_discarded;

/* The hand-back's step: sp_ana_cost_discard_step rounded up to whole pages (at least one). */
static size_t discard_step(size_t page)
{
    size_t step = (sp_ana_cost_discard_step + page - 1) / page * page;
    return step ? step : page;
}

/* Takes `bytes` (whole pages, at most sh->discard_bytes) off the front of the pages sh->discard names
 * and returns where they begin: called with sh->mu held. */
static void *discard_front(sp_ana_cost_share *sh, size_t bytes)
{
    void *p = sh->discard;
    sh->discard = (char *)sh->discard + bytes;
    sh->discard_bytes -= bytes;
    return p;
}

/* The next step of the pages sh->discard names (NULL when none is left): called with sh->mu held. */
static void *discard_take(sp_ana_cost_share *sh, size_t *bytes)
{
    if (!sh->discard_bytes)
        return NULL;
    size_t step = discard_step(sp_page_size());
    *bytes = sh->discard_bytes < step ? sh->discard_bytes : step;
    return discard_front(sh, *bytes);
}

atomic_size_t sp_ana_cost_discarded_early;

/* The helper's part of the hand-back while the activity pass runs (populate_ahead): the pages of
 * sh->discard wholly below the first activity the pass has not read (ah->read_to), a step at a time
 * once a whole step (or the rest) lies behind it; with sp_ana_cost_helper_first whatever lies behind.
 * So the activity's pages go as the pass reads them, while its unions fill fresh pages, instead of
 * both being in at the pass's end. Returns whether it handed pages back. */
static int drop_behind(sp_ana_cost_share *sh, cost_ahead *ah, uintptr_t page)
{
    uintptr_t rt = atomic_load_explicit(&ah->read_to, memory_order_acquire) & ~(page - 1);
    pthread_mutex_lock(&sh->mu);
    uintptr_t lo = (uintptr_t)sh->discard;
    size_t avail = sh->discard_bytes && lo < rt ? (size_t)(rt - lo) : 0;
    avail = avail < sh->discard_bytes ? avail : sh->discard_bytes;
    size_t step = discard_step(page);
    if (!avail || (avail < step && avail < sh->discard_bytes && !sp_ana_cost_helper_first)) {
        if (!avail)
            atomic_store_explicit(&ah->dropped_to, rt, memory_order_release); /* nothing left below */
        pthread_mutex_unlock(&sh->mu);
        return 0;
    }
    size_t bytes = avail < step ? avail : step;
    void *p = discard_front(sh, bytes);
    pthread_mutex_unlock(&sh->mu);
    sp_discard_pages(p, bytes);
    atomic_fetch_add_explicit(&sp_ana_cost_discarded, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&sp_ana_cost_discarded_early, bytes, memory_order_relaxed);
    atomic_store_explicit(&ah->dropped_to, (uintptr_t)p + bytes, memory_order_release);
    return 1;
}

void sp_ana_cost_share_discard(sp_ana_cost_share *sh, void *p, size_t bytes)
{
    const uintptr_t page = sp_page_size();
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + bytes) & ~(page - 1);
    sh->discard = p && hi > lo ? (void *)lo : NULL;
    sh->discard_bytes = p && hi > lo ? hi - lo : 0;
}

void sp_ana_cost_help(sp_ana_cost_share *sh)
{
    int seen = 0;
    pthread_mutex_lock(&sh->mu);
    for (;;) {
        while (sh->phase == seen) {
            size_t bytes;
            void *p = sh->acts_done ? discard_take(sh, &bytes) : NULL;
            if (!p) {
                pthread_cond_wait(&sh->cv, &sh->mu);
                continue;
            }
            /* nothing open, and the activity pass done: a step of the pages to hand back */
            pthread_mutex_unlock(&sh->mu);
            sp_discard_pages(p, bytes);
            atomic_fetch_add_explicit(&sp_ana_cost_discarded, bytes, memory_order_relaxed);
            pthread_mutex_lock(&sh->mu);
        }
        if (sh->kind == SHARE_CLOSED)
            break;
        seen = sh->phase;
        int kind = sh->kind;
        void *pass = sh->pass;
        sh->helping = 1;
        sh->joined = seen;
        pthread_cond_broadcast(&sh->cv); /* share_wait_joined */
        pthread_mutex_unlock(&sh->mu);
        if (kind == SHARE_AHEAD) {
            populate_ahead(pass, sh);
        } else if (kind == SHARE_GAP) {
            for (int h = 0; h < 2; h++)
                if (gap_take(pass, h))
                    atomic_fetch_add_explicit(&sp_ana_cost_gaps_helped, 1, memory_order_relaxed);
        } else {
            cost_pass *p = pass;
            size_t took = pass_chunks(p, kind, &p->helper_sum, &p->helper_stats);
            atomic_fetch_add_explicit(&sp_ana_cost_helped, took, memory_order_relaxed);
        }
        pthread_mutex_lock(&sh->mu);
        sh->helping = 0;
        pthread_cond_broadcast(&sh->cv);
    }
    void *rest = sh->discard; /* the pages not handed back yet: after the share is left */
    size_t rest_bytes = sh->discard_bytes;
    sh->discard_bytes = 0;
    sh->left = 1; /* nothing of `sh` is touched after this unlock: it may go at once */
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    if (rest_bytes) {
        sp_discard_pages(rest, rest_bytes);
        atomic_fetch_add_explicit(&sp_ana_cost_discarded, rest_bytes, memory_order_relaxed);
    }
}

void sp_ana_cost_share_wait_left(sp_ana_cost_share *sh)
{
    pthread_mutex_lock(&sh->mu);
    while (!sh->left)
        pthread_cond_wait(&sh->cv, &sh->mu);
    pthread_mutex_unlock(&sh->mu);
}

/* Per-request cost: each batch's device time (its disjoint window piece) at the per-device-ns price,
 * split among members by tokens (member_tokens; equally when any member's count is unknown); its mean
 * and percentiles. Each analysed request's cost stays in a->req_cost. The members' weights and the
 * nano column are taken in chunks that `sh`'s helper may share (sp_ana_cost_share). */
static sp_status request_costs(sp_ana *a, const cost_work *w, double per_dev_ns, sp_ana_cost_share *sh)
{
    const sp_events *ev = a->ev;
    sp_cost_summary *c = &a->r->cost;
    const size_t nbord = w->boff[a->n_devs];
    /* kept after the step (a->req_cost, given back by sp_ana_free): taken first, so that the scratch
     * taken after it comes off the stack when given back */
    double *rcost = sp_ana_scratch_get(a->scratch, a->n_reqs * sizeof *rcost);
    if (rcost)
        sp_ana_zero(rcost, a->n_reqs * sizeof *rcost); /* summed with += */
    /* each request's place among the analysed ones; none to build when every request is analysed in
     * its own place (a->reqs the identity: then a request's place is its index) */
    int identity = a->n_reqs == ev->n_requests;
    for (size_t i = 0; identity && i < a->n_reqs; i++)
        identity = a->reqs[i] == i;
    uint32_t *pos_of = identity ? NULL : sp_ana_scratch_get(a->scratch, ev->n_requests * sizeof *pos_of);
    uint64_t *nano = sp_ana_scratch_get(a->scratch, a->n_reqs * sizeof *nano);
    /* the weights' places, then the weights (given back before the selection takes its scratch) */
    uint64_t *moff = sp_ana_scratch_get(a->scratch, (nbord + 1) * sizeof *moff);
    double *mw = NULL;
    cost_pass *p = malloc(sizeof *p);
    sp_status st = SP_ERR_NOMEM;
    if (!rcost || (!identity && !pos_of) || !nano || !moff || !p)
        goto out;
    moff[0] = 0;
    for (size_t j = 0; j < nbord; j++) {
        const sp_ev_batch *b = &ev->batches[w->bord[j].idx];
        moff[j + 1] = moff[j] + (w->piece_len[w->bord[j].idx] ? b->nmembers : 0);
    }
    if (!(mw = sp_ana_scratch_get(a->scratch, (moff[nbord] ? moff[nbord] : 1) * sizeof *mw)))
        goto out;
    memset(p, 0, sizeof *p);
    p->a = a;
    p->w = w;
    p->moff = moff;
    p->mw = mw;
    p->rcost = rcost;
    p->nano = nano;
    p->nb = nbord;
    p->nr = a->n_reqs;
    p->chunk = sp_ana_cost_chunk ? sp_ana_cost_chunk : 1;
    p->pos_of = identity ? NULL : pos_of;
    p->per_dev_ns = per_dev_ns;
    atomic_init(&p->deferred, 0);
    atomic_init(&p->equal, 0);
    atomic_init(&p->split, 0);
    atomic_init(&p->next[0], 0);
    atomic_init(&p->next[1], 0);
    sp_exact_sum_init(&p->helper_sum);
    p->helper_stats = SP_ANA_COL_STATS_NONE;
    for (size_t i = 0; !identity && i < ev->n_requests; i++)
        pos_of[i] = SP_EV_NONE;
    for (size_t i = 0; !identity && i < a->n_reqs; i++)
        pos_of[a->reqs[i]] = (uint32_t)i;
    int seq = share_open(sh, SHARE_WEIGHTS, p);
    if (sp_ana_cost_helper_first)
        share_wait_for(sh, seq);
    pass_chunks(p, SHARE_WEIGHTS, NULL, NULL);
    share_wait(sh);
    a->r->cost_batches_equal = atomic_load(&p->equal);
    a->r->cost_batches_split = atomic_load(&p->split);
    /* the shares of requests in several batches, batches in device order, then start order (bord): such
     * a request sums its shares in an order no line order changes (none left: no pass) */
    const size_t nscatter = atomic_load(&p->deferred) ? nbord : 0;
    for (size_t j = 0; j < nscatter; j++) {
        uint64_t at = p->moff[j], end = p->moff[j + 1];
        if (at == end)
            continue;
        const sp_ev_batch *b = &ev->batches[w->bord[j].idx];
        double bcost = per_dev_ns * (double)w->piece_len[w->bord[j].idx];
        for (uint32_t m = 0; m < b->nmembers; m++) {
            if (mw[at + m] < 0)
                continue; /* added by the weights pass */
            uint32_t ri = ev->members[b->first_member + m];
            uint32_t pos = identity ? ri : pos_of[ri];
            if (pos == SP_EV_NONE)
                continue;
            rcost[pos] += bcost * mw[at + m];
        }
    }
    sp_ana_scratch_put(a->scratch, mw);
    sp_ana_scratch_put(a->scratch, moff);
    mw = NULL;
    moff = NULL;
    /* the mean's sum exact, so in any order (see sp_ana_padding): taken in request order, in chunks;
     * the nano-dollar column's stats (sp_ana_col_stats_of's) taken as it fills: no pass of their own */
    sp_exact_sum sum;
    sp_exact_sum_init(&sum);
    sp_ana_col_stats cst = SP_ANA_COL_STATS_NONE;
    seq = share_open(sh, SHARE_NANO, p);
    if (sp_ana_cost_helper_first)
        share_wait_for(sh, seq);
    pass_chunks(p, SHARE_NANO, &sum, &cst);
    share_wait(sh);
    sp_ana_cost_share_close(sh);
    sp_exact_sum_merge(&sum, &p->helper_sum);
    col_stats_merge(&cst, &p->helper_stats);
    c->request_cost_mean = a->n_reqs ? (double)(sp_exact_sum_value(&sum) / (long double)a->n_reqs) : 0.0;
    /* sp_ana_quantiles_select_in with those stats: its scratch taken here, after nano, as it would */
    uint64_t *sel = a->n_reqs >= 2 ? sp_ana_scratch_get(a->scratch, a->n_reqs * sizeof *sel) : NULL;
    if (a->n_reqs >= 2 && !sel)
        goto out;
    st = sp_ana_quantiles_select_stats(nano, a->n_reqs, sel, &cst, &c->request_cost_nano, NULL, 0, NULL);
    sp_ana_scratch_put(a->scratch, sel);
    a->req_cost = rcost; /* the generation figures price output tokens with it */
    rcost = NULL;
out:
    sp_ana_cost_share_close(sh);
    share_wait(sh);
    free(p);
    sp_ana_scratch_put(a->scratch, mw);
    sp_ana_scratch_put(a->scratch, moff);
    sp_ana_scratch_put(a->scratch, nano);
    sp_ana_scratch_put(a->scratch, pos_of);
    sp_ana_scratch_put(a->scratch, rcost);
    return st;
}

static sp_status cost_run(sp_ana *a, sp_ana_cost_share *sh)
{
    sp_events *ev = a->ev;
    sp_cost_summary *c = &a->r->cost;
    /* price: option, else the first file's, else the stated default */
    c->price_per_hour = sp_ana_price(a->opt.price_per_hour,
                                     ev->n_files ? ev->files[0].price_per_hour : 0.0,
                                     &c->price_is_default);
    cost_work w;
    memset(&w, 0, sizeof w);
    sp_status st = cost_work_init(a, &w);
    if (st) {
        cost_work_free(&w);
        return st;
    }
    size_t nd = a->n_devs;
    /* each device's activity read once, for its unions and the window */
    cost_window_requests(a, &w.w0, &w.w1);
    /* the helper, its savings done, populates the unions' next pages while the pass fills them */
    cost_ahead ah, *ahp = sh && nd ? &ah : NULL;
    if (ahp) {
        for (int k = 0; k < 2; k++) {
            atomic_init(&ah.at[k], 0);
            atomic_init(&ah.end[k], 0);
        }
        atomic_init(&ah.done, 0);
        atomic_init(&ah.left, 0);
        ahead_publish(&ah, &w, 0, 0, 0, a->ev->n_acts, a->ev->acts);
        atomic_init(&ah.dropped_to, 0);
        int seq = share_open(sh, SHARE_AHEAD, &ah);
        if (sp_ana_cost_helper_first)
            share_wait_joined(sh, seq);
    }
    devices_acts(a, &w, &w.w0, &w.w1, ahp);
    if (ahp)
        atomic_store_explicit(&ah.done, 1, memory_order_release);
    if (sh) {
        /* the activity read: the helper, when it has nothing open, may hand its pages back */
        pthread_mutex_lock(&sh->mu);
        sh->acts_done = 1;
        pthread_cond_broadcast(&sh->cv);
        pthread_mutex_unlock(&sh->mu);
    }
    if (w.w0 == SP_TIME_NONE) {
        sp_ana_cost_share_close(sh); /* no helper comes to `ah` after this frame */
        share_wait(sh);              /* and none is left in it */
        cost_work_free(&w);
        return SP_OK; /* nothing timed: a zero bill */
    }
    c->window_ns = w.w1 - w.w0;
    c->bill = sp_ana_bill(c->price_per_hour, c->window_ns);
    c->per_request = a->n_reqs ? c->bill / (double)a->n_reqs : 0.0;
    long double state[SP_COST_STATE_COUNT] = {0};
    gap_job g; /* each device's in turn; alive until the helper can no longer come to its phase */
    memset(&g, 0, sizeof g);
    atomic_init(&g.taken[0], 1);
    atomic_init(&g.taken[1], 1);
    for (size_t d = 0; d < nd; d++)
        device_states(a, &w, d, c->window_ns, state, sh, &g);
    if (!nd)
        state[SP_COST_NO_BATCH] = (long double)c->window_ns;
    long double dev_ns = (long double)c->window_ns * (long double)(nd ? nd : 1);
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        c->by_state_share[s] = dev_ns > 0 ? (double)(state[s] / dev_ns) : 0.0;
        c->by_state[s] = c->bill * c->by_state_share[s];
    }
    a->r->padding.share_of_bill = c->by_state_share[SP_COST_PADDING];
    share_wait(sh); /* the helper has left `ah` and the unions' pages (long since: they are done) */
    cost_work_drop_states(&w);
    st = request_costs(a, &w, dev_ns > 0 ? c->bill / (double)dev_ns : 0.0, sh);
    cost_work_free(&w);
    return st;
}

sp_status sp_ana_cost(sp_ana *a, sp_ana_cost_share *sh)
{
    sp_status st = cost_run(a, sh);
    sp_ana_cost_share_close(sh);
    return st;
}
