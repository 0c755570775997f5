/* The busiest slice of the device timeline, kept for a report to draw (sp_analyze_options.keep_detail):
 * its length from the p95 batch window, its place where the device work starting in it sums to the
 * most device time, and the device work and batch windows that overlap it. docs/analysis.md,
 * "Timeline slice", states the rule. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

/* The slice is this many p95 batch windows long (without batches: SLICE_DEFAULT_NS), so the busiest
 * batch shows whole with its neighbours; never under SLICE_MIN_NS nor over the device span. */
#define SLICE_BATCHES 3
#define SLICE_DEFAULT_NS 10000000ull
#define SLICE_MIN_NS 100000ull

/* Device work a timeline can place: not a sync, with both times, not ending before it starts. */
static int drawable(const sp_ev_activity *x)
{
    return sp_ana_act_is_work(x) && x->start_ns != SP_TIME_NONE && x->end_ns != SP_TIME_NONE &&
           x->end_ns >= x->start_ns;
}

/* Overlaps [t0, t1) (start < t1 is the caller's loop bound); zero-length ones count at their start. */
static int in_slice(const sp_ev_activity *x, uint64_t t0, uint64_t t1)
{
    return x->start_ns < t1 && (x->end_ns > t0 || x->start_ns >= t0);
}

/* Slice length: SLICE_BATCHES x the p95 batch window, within [SLICE_MIN_NS, span]. */
static sp_status slice_length(const sp_ana *a, uint64_t span, uint64_t *len_out)
{
    const sp_events *ev = a->ev;
    uint64_t len = SLICE_DEFAULT_NS;
    size_t nb = 0;
    for (size_t i = 0; i < ev->n_batches; i++)
        nb += a->b[i].valid != 0;
    if (nb) {
        uint64_t *d = malloc(nb * sizeof *d);
        if (!d)
            return SP_ERR_NOMEM;
        nb = 0;
        for (size_t i = 0; i < ev->n_batches; i++)
            if (a->b[i].valid)
                d[nb++] = ev->batches[i].end_ns - ev->batches[i].start_ns;
        sp_status st = sp_sort_u64(d, nb, NULL);
        if (st) {
            free(d);
            return st;
        }
        uint64_t p95 = sp_pick_u64(d, nb, SP_PCT(95));
        free(d);
        if (p95 > 0)
            len = p95 > UINT64_MAX / SLICE_BATCHES ? UINT64_MAX : p95 * SLICE_BATCHES;
    }
    if (len < SLICE_MIN_NS)
        len = SLICE_MIN_NS;
    if (span < len)
        len = span > 0 ? span : 1;
    *len_out = len;
    return SP_OK;
}

/* Start of the window [t, t + len) holding the most device time, over windows starting at an
 * activity's start (work in acts[first..last]): the summed durations of the work starting in it, by
 * two pointers over the start-sorted activity. */
static uint64_t busiest_start(const sp_events *ev, size_t first, size_t last, uint64_t len)
{
    uint64_t best_t = ev->acts[first].start_ns;
    double best = -1, sum = 0;
    size_t j = first;
    for (size_t i = first; i <= last; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        if (!drawable(x))
            continue;
        uint64_t end = x->start_ns > UINT64_MAX - len ? UINT64_MAX : x->start_ns + len;
        if (j < i)
            j = i;
        for (; j <= last && ev->acts[j].start_ns < end; j++)
            if (drawable(&ev->acts[j]))
                sum += (double)(ev->acts[j].end_ns - ev->acts[j].start_ns);
        if (sum > best) {
            best = sum;
            best_t = x->start_ns;
        }
        sum -= (double)(x->end_ns - x->start_ns);
    }
    return best_t;
}

static int str_cmp(const void *x, const void *y)
{
    sp_str a = *(const sp_str *)x, b = *(const sp_str *)y;
    return (a > b) - (a < b);
}

/* Copies of the kernel names the slice's activities carry, as the reports show them (demangled), one
 * per distinct name (interned ids are distinct per text): acts[k].name from ids[k] (SP_EV_NONE: NULL). */
static sp_status name_acts(sp_ana *a, sp_slice_activity *acts, const sp_str *ids, size_t n)
{
    sp_str *u = malloc((n ? n : 1) * sizeof *u);
    const char **copy = malloc((n ? n : 1) * sizeof *copy);
    if (!u || !copy) {
        free(u);
        free(copy);
        return SP_ERR_NOMEM;
    }
    size_t nu = 0;
    for (size_t k = 0; k < n; k++)
        if (ids[k] != SP_EV_NONE)
            u[nu++] = ids[k];
    qsort(u, nu, sizeof *u, str_cmp);
    sp_status st = SP_OK;
    size_t m = 0;
    for (size_t k = 0; !st && k < nu; k++) {
        if (m && u[m - 1] == u[k])
            continue;
        u[m] = u[k];
        int demangled;
        if (!(copy[m] = sp_ana_display_name(a->r, sp_str_get(&a->ev->strings, u[k]), &demangled)))
            st = SP_ERR_NOMEM;
        m++;
    }
    for (size_t k = 0; !st && k < n; k++) {
        acts[k].name = NULL;
        if (ids[k] == SP_EV_NONE)
            continue;
        size_t lo = 0, hi = m; /* ids[k] is among u[0..m) */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (u[mid] <= ids[k])
                lo = mid;
            else
                hi = mid;
        }
        acts[k].name = copy[lo];
    }
    free(u);
    free(copy);
    return st;
}

/* The device work and the batch windows overlapping [t0, t1), into `sl`. */
static sp_status keep_slice(sp_ana *a, size_t first, size_t last, sp_timeline_slice *sl)
{
    const sp_events *ev = a->ev;
    uint64_t t0 = sl->start_ns, t1 = sl->end_ns;
    size_t n = 0, nb = 0;
    for (size_t i = first; i <= last && ev->acts[i].start_ns < t1; i++)
        n += drawable(&ev->acts[i]) && in_slice(&ev->acts[i], t0, t1);
    for (size_t i = 0; i < ev->n_batches; i++)
        nb += a->b[i].valid && ev->batches[i].start_ns < t1 && ev->batches[i].end_ns > t0;
    sl->acts = calloc(n ? n : 1, sizeof *sl->acts);
    sl->batches = calloc(nb ? nb : 1, sizeof *sl->batches);
    sp_str *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!sl->acts || !sl->batches || !ids) {
        free(ids);
        return SP_ERR_NOMEM;
    }
    for (size_t i = first; i <= last && ev->acts[i].start_ns < t1; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        if (!drawable(x) || !in_slice(x, t0, t1))
            continue;
        ids[sl->n_acts] = sp_ev_act_name(x);
        sl->acts[sl->n_acts++] = (sp_slice_activity){x->start_ns, x->end_ns, sp_ev_act_bytes(x),
                                                     sp_ev_act_stream(ev, x), x->file, x->device,
                                                     (sp_act_kind)x->kind, NULL};
    }
    for (size_t i = 0; i < ev->n_batches; i++) {
        const sp_ev_batch *bt = &ev->batches[i];
        if (!a->b[i].valid || bt->start_ns >= t1 || bt->end_ns <= t0)
            continue;
        sl->batches[sl->n_batches++] = (sp_slice_batch){bt->start_ns, bt->end_ns,          bt->id,
                                                        bt->file,     bt->nmembers,         a->b[i].has_tokens,
                                                        a->b[i].waste};
    }
    sp_status st = name_acts(a, sl->acts, ids, sl->n_acts);
    free(ids);
    return st;
}

sp_status sp_ana_timeline_slice(sp_ana *a, sp_timeline_slice *sl)
{
    const sp_events *ev = a->ev;
    memset(sl, 0, sizeof *sl);
    size_t first = SIZE_MAX, last = 0;
    for (size_t i = 0; i < ev->n_acts; i++)
        if (drawable(&ev->acts[i])) {
            if (first == SIZE_MAX)
                first = i;
            last = i;
            sl->work++;
        }
    if (!sl->work)
        return SP_OK;
    uint64_t span_lo = ev->acts[first].start_ns, span_hi = 0;
    for (size_t i = first; i <= last; i++)
        if (drawable(&ev->acts[i]) && ev->acts[i].end_ns > span_hi)
            span_hi = ev->acts[i].end_ns;
    uint64_t len;
    sp_status st = slice_length(a, span_hi - span_lo, &len);
    if (st)
        return st;
    uint64_t best_t = busiest_start(ev, first, last, len);
    /* start a little before the batch window it begins in, so batch boundaries and the gaps between
     * batches show rather than one batch's back-to-back kernels */
    uint64_t t0 = best_t;
    for (size_t i = 0; i < ev->n_batches; i++) {
        const sp_ev_batch *bt = &ev->batches[i];
        if (a->b[i].valid && bt->start_ns <= best_t && bt->end_ns > best_t && bt->start_ns < t0)
            t0 = bt->start_ns;
    }
    t0 = t0 > span_lo && t0 - span_lo > len / 20 ? t0 - len / 20 : span_lo;
    if (t0 > span_hi - len)
        t0 = span_hi - len;
    sl->first_ns = span_lo;
    sl->start_ns = t0;
    sl->end_ns = t0 + len;
    return keep_slice(a, first, last, sl);
}
