/* Stage partition of each request (DESIGN section 3): every ns of a request's life goes to exactly
 * one stage. Batch windows are first cut into kernel / h2d / d2h / gap pieces from the device activity
 * tied to them; each request's life is then painted with its batch pieces, its own stage spans, the
 * queue between its batches, the network time outside the server (client merge) and `other`.
 * All work is sweeps over sorted interval endpoints; nothing is per-ns. Rules: docs/analysis.md. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/span_heap.h"
#include "common/util_int.h"

#define SP_ANA_MAX_ITEMS ((size_t)1 << 32)

/* ---------- the painter: labelled intervals with priority levels ---------- */

/* An item or a painted piece: [s, e), its level (lower wins) and a payload, meaningful for levels
 * whose items are disjoint. The pieces sp_ana_request_pieces hands out are these. */
typedef sp_ana_piece paint_item;

typedef struct paint_ev {
    uint64_t t;
    uint32_t level, payload;
    int32_t delta;       /* +1 start, -1 end */
} paint_ev;

#define PAINT_MAX_LEVELS 8

typedef struct painter {
    paint_item *items;
    size_t n_items, cap_items;
    paint_ev *evs;
    size_t cap_evs;
    paint_item *out;     /* painted pieces, in time order */
    size_t n_out, cap_out;
} painter;

static void painter_free(painter *p)
{
    free(p->items);
    free(p->evs);
    free(p->out);
}

static sp_status painter_add(painter *p, uint64_t s, uint64_t e, uint32_t level, uint32_t payload)
{
    if (e <= s)
        return SP_OK;
    sp_status st = SP_GROW(p->items, p->cap_items, p->n_items + 1, SP_ANA_MAX_ITEMS);
    if (st)
        return st;
    p->items[p->n_items++] = (paint_item){s, e, level, payload};
    return SP_OK;
}

static int paint_ev_cmp(const void *a, const void *b)
{
    const paint_ev *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->delta > y->delta) - (x->delta < y->delta); /* ends before starts */
}

/* Paints the items: each elementary piece of time goes to the lowest active level (with that level's
 * latest-started payload). Pieces covered by nothing are not emitted. Clears the items. */
static sp_status painter_run(painter *p)
{
    p->n_out = 0;
    size_t nev = p->n_items * 2;
    sp_status st = SP_GROW(p->evs, p->cap_evs, nev ? nev : 1, SP_ANA_MAX_ITEMS * 2);
    if (st)
        return st;
    for (size_t i = 0; i < p->n_items; i++) {
        const paint_item *it = &p->items[i];
        p->evs[2 * i] = (paint_ev){it->s, it->level, it->payload, +1};
        p->evs[2 * i + 1] = (paint_ev){it->e, it->level, it->payload, -1};
    }
    p->n_items = 0;
    if (nev <= 64) {
        /* small sets (one batch's pieces): insertion sort beats qsort's set-up */
        for (size_t i = 1; i < nev; i++) {
            paint_ev x = p->evs[i];
            size_t j = i;
            while (j > 0 && paint_ev_cmp(&p->evs[j - 1], &x) > 0) {
                p->evs[j] = p->evs[j - 1];
                j--;
            }
            p->evs[j] = x;
        }
    } else {
        qsort(p->evs, nev, sizeof *p->evs, paint_ev_cmp);
    }
    uint32_t cnt[PAINT_MAX_LEVELS] = {0};
    uint32_t pay[PAINT_MAX_LEVELS] = {0};
    size_t k = 0;
    while (k < nev) {
        uint64_t t = p->evs[k].t;
        while (k < nev && p->evs[k].t == t) {
            const paint_ev *e = &p->evs[k++];
            if (e->delta > 0) {
                cnt[e->level]++;
                pay[e->level] = e->payload;
            } else {
                cnt[e->level]--;
            }
        }
        if (k == nev)
            break;
        uint64_t next = p->evs[k].t;
        int top = -1;
        for (int l = 0; l < PAINT_MAX_LEVELS; l++)
            if (cnt[l]) {
                top = l;
                break;
            }
        if (top < 0)
            continue;
        if (p->n_out && p->out[p->n_out - 1].e == t && p->out[p->n_out - 1].level == (uint32_t)top &&
            p->out[p->n_out - 1].payload == pay[top]) {
            p->out[p->n_out - 1].e = next;
            continue;
        }
        st = SP_GROW(p->out, p->cap_out, p->n_out + 1, SP_ANA_MAX_ITEMS);
        if (st)
            return st;
        p->out[p->n_out++] = (paint_item){t, next, (uint32_t)top, pay[top]};
    }
    return SP_OK;
}

/* ---------- batches, devices and activity ties ---------- */

/* Label of an activity inside a batch window: kernel, d2d and memset are device compute (DESIGN 3:
 * "kernel or device-to-device copy"; a memset is device-side work like a d2d copy). Other copies
 * (peer, host-to-host) have no stage of their own: they leave the time to `gap`. */
static int act_label(const sp_ev_activity *x)
{
    switch (x->kind) {
    case SP_ACT_KERNEL:
    case SP_ACT_D2D:
    case SP_ACT_MEMSET:
        return SP_LBL_KERNEL;
    case SP_ACT_H2D:
        return SP_LBL_H2D;
    case SP_ACT_D2H:
        return SP_LBL_D2H;
    default:
        return -1;
    }
}

struct tie {
    uint32_t batch, act;
};

struct bstart {
    uint64_t start;
    uint32_t idx;
};

/* Batches of one device by start (the order among equal starts does not matter here: every batch
 * whose window an activity overlaps gets it). */
static int bstart_cmp(const void *a, const void *b)
{
    const struct bstart *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int devkey_cmp(const void *a, const void *b)
{
    const sp_devkey *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return (x->device > y->device) - (x->device < y->device);
}

/* Numbers the devices in (file, device) order instead of first-mention order, so sums over devices
 * (the cost split) add up in an order no line order changes. */
static sp_status order_devices(sp_ana *a)
{
    size_t nd = a->n_devs;
    if (nd < 2)
        return SP_OK;
    sp_devkey *sorted = malloc(nd * sizeof *sorted);
    uint32_t *rank = malloc(nd * sizeof *rank);
    if (!sorted || !rank) {
        free(sorted);
        free(rank);
        return SP_ERR_NOMEM;
    }
    memcpy(sorted, a->devs, nd * sizeof *sorted);
    qsort(sorted, nd, sizeof *sorted, devkey_cmp);
    for (size_t d = 0; d < nd; d++) {
        const sp_devkey *k = bsearch(&a->devs[d], sorted, nd, sizeof *sorted, devkey_cmp);
        rank[d] = (uint32_t)(k - sorted);
    }
    for (size_t i = 0; i < a->ev->n_batches; i++)
        if (a->b[i].valid)
            a->b[i].dev = rank[a->b[i].dev];
    for (size_t i = 0; i < a->ev->n_acts; i++)
        if (a->act_dev[i] != SP_EV_NONE)
            a->act_dev[i] = rank[a->act_dev[i]];
    memcpy(a->devs, sorted, nd * sizeof *sorted);
    free(sorted);
    free(rank);
    return SP_OK;
}

/* The last (file, device) numbered and its number: a trace's batches and activity come mostly in runs of
 * one device, so most of them skip the map. The map gives a key it holds the same number each time, so
 * the numbers are those of the map alone. */
typedef struct dev_memo {
    uint64_t file, device;
    uint32_t num; /* SP_HMAP_NONE: nothing remembered yet */
} dev_memo;

static sp_status device_number(sp_pairmap *dm, dev_memo *m, uint64_t file, uint64_t device, uint32_t *out)
{
    if (m->num != SP_HMAP_NONE && m->file == file && m->device == device) {
        *out = m->num;
        return SP_OK;
    }
    int added;
    sp_status st = sp_pairmap_get(dm, file, device, out, &added);
    if (!st)
        *m = (dev_memo){file, device, *out};
    return st;
}

sp_status sp_ana_devices(sp_ana *a, char *err, size_t errlen)
{
    sp_events *ev = a->ev;
    sp_status st = SP_OK;
    a->b = calloc(ev->n_batches ? ev->n_batches : 1, sizeof *a->b);
    a->act_dev = malloc((ev->n_acts ? ev->n_acts : 1) * sizeof *a->act_dev);
    if (!a->b || !a->act_dev)
        return SP_ERR_NOMEM;
    sp_pairmap dm;
    st = sp_pairmap_init(&dm, 16);
    if (st)
        return st;
    dev_memo memo = {0, 0, SP_HMAP_NONE};
    for (size_t i = 0; i < ev->n_batches; i++) {
        const sp_ev_batch *b = &ev->batches[i];
        sp_ana_batch *ab = &a->b[i];
        if (!b->has_record)
            continue;
        if (b->start_ns == SP_TIME_NONE || b->end_ns == SP_TIME_NONE || b->end_ns < b->start_ns) {
            if (!a->opt.lenient) {
                sp_errf(err, errlen, "%s: batch %lld has no valid window (end before start or missing)",
                        sp_str_get(&ev->strings, ev->files[b->file].path), (long long)b->id);
                st = SP_ERR_PARSE;
                goto out;
            }
            a->skipped++;
            continue;
        }
        ab->valid = 1;
        if (b->effective_tokens >= 0 && b->padded_tokens > 0) {
            /* DESIGN section 5: waste = 1 - effective / padded */
            double w = 1.0 - (double)b->effective_tokens / (double)b->padded_tokens;
            ab->waste = w < 0 ? 0 : w > 1 ? 1 : w;
            ab->has_tokens = 1;
        }
        st = device_number(&dm, &memo, b->file, b->device, &ab->dev);
        if (st)
            goto out;
    }
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        a->act_dev[i] = SP_EV_NONE;
        if (x->start_ns == SP_TIME_NONE || x->end_ns == SP_TIME_NONE || x->end_ns < x->start_ns) {
            if (!a->opt.lenient) {
                sp_errf(err, errlen, "%s: device activity \"%s\" ends before it starts",
                        sp_str_get(&ev->strings, ev->files[x->file].path), sp_str_get(&ev->strings, sp_ev_act_name(x)));
                st = SP_ERR_PARSE;
                goto out;
            }
            a->skipped++;
            continue;
        }
        if (!sp_ana_act_is_work(x))
            continue;
        st = device_number(&dm, &memo, x->file, x->device, &a->act_dev[i]);
        if (st)
            goto out;
    }
    a->n_devs = dm.count;
    a->devs = malloc((a->n_devs ? a->n_devs : 1) * sizeof *a->devs);
    if (!a->devs) {
        st = SP_ERR_NOMEM;
        goto out;
    }
    for (size_t j = 0; j < dm.count; j++)
        a->devs[j] = (sp_devkey){(uint32_t)dm.pairs[j][0], (uint32_t)dm.pairs[j][1]};
    st = order_devices(a);
out:
    sp_pairmap_free(&dm);
    return st;
}

/* A first capacity of n (at least one), within the analysis' item limit: a hint, so never an error. */
static size_t hint_cap(size_t n)
{
    return n < 1 ? 1 : n > SP_ANA_MAX_ITEMS ? SP_ANA_MAX_ITEMS : n;
}

/* Appends batch b's pieces to a->seg_* (room for 2n + 1 more) straight from its n activities (indexes
 * into ev->acts, labelled) when those, clipped to the window and leaving out the empty ones, come in
 * start order without overlapping: the usual batch, a stream's kernels and copies one after another.
 * The painter would give the same pieces: `gap` between them and at the ends, touching pieces of one
 * label merged into one. Returns 0 and leaves a->n_segs as it was when two overlap or come out of
 * order: the painter decides then. */
static int segments_in_order(sp_ana *a, const sp_ev_batch *b, const uint32_t *acts, size_t n, int narrow)
{
    const sp_ev_activity *av = a->ev->acts;
    const uint64_t b0 = b->start_ns, b1 = b->end_ns;
    size_t k = a->n_segs;
    uint64_t cur = b0;     /* where the pieces so far end */
    int last = -1;         /* the label of the last piece; -1: none yet */
#define PUT_PIECE(ps, lbl)                                                                                 \
    do {                                                                                                   \
        if (narrow)                                                                                        \
            a->seg_off32[k] = (uint32_t)((ps) - b0);                                                       \
        else                                                                                               \
            a->seg_s[k] = (ps);                                                                            \
        a->seg_label[k++] = (uint8_t)(lbl);                                                                \
        last = (lbl);                                                                                      \
    } while (0)
    for (size_t t = 0; t < n; t++) {
        const sp_ev_activity *x = &av[acts[t]];
        uint64_t s = x->start_ns > b0 ? x->start_ns : b0;
        uint64_t e = x->end_ns < b1 ? x->end_ns : b1;
        if (e <= s)
            continue; /* the painter takes no empty item */
        if (s < cur)
            return 0; /* overlaps the one before, or starts before it */
        int lbl = act_label(x);
        if (s > cur) {
            PUT_PIECE(cur, SP_LBL_GAP);
            PUT_PIECE(s, lbl);
        } else if (lbl != last) {
            PUT_PIECE(s, lbl);
        } /* else it touches the last piece, of its label: that one grows */
        cur = e;
    }
    if (cur < b1)
        PUT_PIECE(cur, SP_LBL_GAP);
#undef PUT_PIECE
    a->n_segs = k;
    return 1;
}

/* Appends valid batch bi's pieces to a->seg_* from its n tied activities (indexes into ev->acts, in
 * index order) and sets its segment range: straight from the activities when they come in order
 * (segments_in_order), else by the painter p: kernel > h2d > d2h over a base `gap` covering the
 * window. */
static sp_status batch_segments(sp_ana *a, size_t bi, const uint32_t *acts, size_t n, int narrow, painter *p)
{
    const sp_events *ev = a->ev;
    const sp_ev_batch *b = &ev->batches[bi];
    sp_status st;
    /* n activities and the gap under them make at most 2n + 1 pieces: the batch's range then fits
     * sp_ana_batch's 32-bit first_seg and nsegs */
    if (a->n_segs + 2 * n + 1 > sp_ana_max_segs)
        return SP_ERR_LIMIT;
    a->b[bi].first_seg = (uint32_t)a->n_segs;
    if (sp_ana_part_fast) {
        size_t room = a->n_segs + 2 * n + 1;
        if (narrow)
            st = SP_GROW(a->seg_off32, a->cap_seg_s, room, SP_ANA_MAX_ITEMS);
        else
            st = SP_GROW(a->seg_s, a->cap_seg_s, room, SP_ANA_MAX_ITEMS);
        if (!st)
            st = SP_GROW(a->seg_label, a->cap_seg_label, room, SP_ANA_MAX_ITEMS);
        if (st)
            return st;
        if (segments_in_order(a, b, acts, n, narrow)) {
            a->b[bi].nsegs = (uint32_t)(a->n_segs - a->b[bi].first_seg);
            return SP_OK;
        }
    }
    for (size_t k = 0; k < n; k++) {
        const sp_ev_activity *x = &ev->acts[acts[k]];
        uint64_t s = x->start_ns > b->start_ns ? x->start_ns : b->start_ns;
        uint64_t e = x->end_ns < b->end_ns ? x->end_ns : b->end_ns;
        st = painter_add(p, s, e, (uint32_t)act_label(x), 0);
        if (st)
            return st;
    }
    st = painter_add(p, b->start_ns, b->end_ns, SP_LBL_GAP, 0);
    if (!st)
        st = painter_run(p);
    if (!st && narrow)
        st = SP_GROW(a->seg_off32, a->cap_seg_s, a->n_segs + p->n_out, SP_ANA_MAX_ITEMS);
    else if (!st)
        st = SP_GROW(a->seg_s, a->cap_seg_s, a->n_segs + p->n_out, SP_ANA_MAX_ITEMS);
    if (!st)
        st = SP_GROW(a->seg_label, a->cap_seg_label, a->n_segs + p->n_out, SP_ANA_MAX_ITEMS);
    if (st)
        return st;
    /* the gap under everything makes the pieces contiguous from start to end: starts suffice */
    for (size_t k = 0; k < p->n_out; k++) {
        if (narrow)
            a->seg_off32[a->n_segs] = (uint32_t)(p->out[k].s - b->start_ns);
        else
            a->seg_s[a->n_segs] = p->out[k].s;
        a->seg_label[a->n_segs++] = (uint8_t)p->out[k].level;
    }
    a->b[bi].nsegs = (uint32_t)(a->n_segs - a->b[bi].first_seg);
    return SP_OK;
}

/* Whether activity i takes part in the batch pieces at all: on a device, of a label, not empty. */
static inline int act_tied(const sp_ana *a, size_t i)
{
    const sp_ev_activity *x = &a->ev->acts[i];
    return a->act_dev[i] != SP_EV_NONE && act_label(x) >= 0 && x->end_ns != x->start_ns;
}

/* How many batches the one pass gathers at once: batches whose windows overlap (a device's next batch
 * copied in while the last one's kernels run) interleave their activities in start order. */
#define ONE_PASS_OPEN 64

struct open_batch {
    uint32_t *acts; /* its tied activities so far, in index order */
    size_t n, cap;
};

/* Room for `most` batch pieces: their starts (4-byte offsets when `narrow`, else times) and labels. */
static sp_status grow_segments(sp_ana *a, int narrow, size_t most)
{
    sp_status st = narrow ? SP_GROW(a->seg_off32, a->cap_seg_s, hint_cap(most), SP_ANA_MAX_ITEMS)
                          : SP_GROW(a->seg_s, a->cap_seg_s, hint_cap(most), SP_ANA_MAX_ITEMS);
    return st ? st : SP_GROW(a->seg_label, a->cap_seg_label, hint_cap(most), SP_ANA_MAX_ITEMS);
}

/* The usual trace in one pass over the activity: each tied activity names its batch, and none names a
 * batch ONE_PASS_OPEN or more before the latest one named (batches in index order, a few at a time
 * overlapping). A batch's pieces are built once an activity names a batch that far after it (or at the
 * end), from its ties in index order, batch by batch in index order: what build_segments' counting
 * sort gives. Sets *done when it built them all; leaves a->n_segs at 0 and *done at 0 when an
 * activity ties by window or names a batch already built: build_segments decides then. */
static sp_status segments_one_pass(sp_ana *a, int narrow, painter *p, int *done)
{
    const sp_events *ev = a->ev;
    size_t nb = ev->n_batches, na = ev->n_acts;
    struct open_batch open[ONE_PASS_OPEN];
    memset(open, 0, sizeof open);
    size_t next = 0; /* the first batch not built: next .. next + ONE_PASS_OPEN - 1 gather in open[] */
    sp_status st = SP_OK;
    *done = 0;
    for (size_t i = 0; i <= na; i++) {
        size_t to = nb; /* build the batches before this one; at the end, all */
        uint32_t bt = 0;
        if (i < na) {
            if (!act_tied(a, i))
                continue;
            bt = ev->acts[i].batch;
            if (bt == SP_EV_NONE)
                goto give_up; /* ties by window: perhaps to several batches */
            if (bt >= nb || !a->b[bt].valid)
                continue;
            if (bt < next)
                goto give_up; /* its batch is built */
            to = bt - next >= ONE_PASS_OPEN ? bt - ONE_PASS_OPEN + 1 : next;
        }
        for (; next < to; next++) {
            struct open_batch *o = &open[next % ONE_PASS_OPEN];
            if (a->b[next].valid) {
                st = batch_segments(a, next, o->acts, o->n, narrow, p);
                if (st)
                    goto out;
            }
            o->n = 0;
        }
        if (i < na) {
            struct open_batch *o = &open[bt % ONE_PASS_OPEN];
            st = SP_GROW(o->acts, o->cap, o->n + 1, SP_ANA_MAX_ITEMS);
            if (st)
                goto out;
            o->acts[o->n++] = (uint32_t)i;
        }
    }
    *done = 1;
    a->segs_one_pass = 1;
    goto out;
give_up:
    a->segs_one_pass = a->n_segs ? -1 : 0;
    a->n_segs = 0;
out:
    for (size_t k = 0; k < ONE_PASS_OPEN; k++)
        free(open[k].acts);
    return st;
}

/* Ties each activity to batches: by batch index, or (SP_EV_NONE) to every valid batch on the same
 * (file, device) whose window it overlaps. Fills a->seg_s, a->seg_label and each batch's segment range. */
static sp_status build_segments(sp_ana *a)
{
    sp_events *ev = a->ev;
    size_t nb = ev->n_batches, nd = a->n_devs;
    sp_status st = SP_ERR_NOMEM;
    struct tie *ties = NULL;
    size_t n_ties = 0, cap_ties = 0;
    size_t *dev_off = calloc(nd + 1, sizeof *dev_off);
    struct bstart *byd = malloc((nb ? nb : 1) * sizeof *byd);
    uint64_t *pmax = malloc((nb ? nb : 1) * sizeof *pmax);
    size_t *boff = NULL;
    uint32_t *bacts = NULL;
    painter p = {0};
    if (!dev_off || !byd || !pmax)
        goto out;
    /* valid batches grouped by device, each group by start, with prefix max of ends; the longest
     * window decides the pieces' width (a piece's start is inside its window) */
    uint64_t max_win = 0;
    for (size_t i = 0; i < nb; i++)
        if (a->b[i].valid) {
            dev_off[a->b[i].dev + 1]++;
            uint64_t w = ev->batches[i].end_ns - ev->batches[i].start_ns;
            max_win = w > max_win ? w : max_win;
        }
    for (size_t d = 0; d < nd; d++)
        dev_off[d + 1] += dev_off[d];
    const int narrow = sp_ana_narrow && max_win <= UINT32_MAX;
    if (sp_ana_part_fast) {
        /* sized for the most the one pass can make, as below */
        size_t n_valid = dev_off[nd], na = ev->n_acts;
        size_t most = na <= (SIZE_MAX - n_valid) / 2 ? 2 * na + n_valid : SIZE_MAX;
        st = grow_segments(a, narrow, most);
        int done = 0;
        if (!st)
            st = segments_one_pass(a, narrow, &p, &done);
        if (st || done)
            goto out;
        st = SP_ERR_NOMEM;
    }
    {
        size_t *fill = malloc((nd ? nd : 1) * sizeof *fill);
        if (!fill)
            goto out;
        memcpy(fill, dev_off, nd * sizeof *fill);
        for (size_t i = 0; i < nb; i++)
            if (a->b[i].valid)
                byd[fill[a->b[i].dev]++] = (struct bstart){ev->batches[i].start_ns, (uint32_t)i};
        free(fill);
    }
    for (size_t d = 0; d < nd; d++) {
        sp_sort_mostly_sorted(byd + dev_off[d], dev_off[d + 1] - dev_off[d], sizeof *byd, bstart_cmp);
        uint64_t m = 0;
        for (size_t k = dev_off[d]; k < dev_off[d + 1]; k++) {
            uint64_t e = ev->batches[byd[k].idx].end_ns;
            m = e > m ? e : m;
            pmax[k] = m;
        }
    }
    /* Sized once for the usual trace, where each activity names its batch (one tie each), and the
     * pieces below for the most the ties can make (a batch's k activities paint at most 2k + 1 pieces
     * over its gap): growing by doubling would copy each array, faulting its pages in twice. Pages
     * never written are never faulted in. Both still grow past these if they must. */
    st = SP_GROW(ties, cap_ties, hint_cap(ev->n_acts), SP_ANA_MAX_ITEMS);
    if (st)
        goto out;
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        if (a->act_dev[i] == SP_EV_NONE || act_label(x) < 0 || x->end_ns == x->start_ns)
            continue;
        if (x->batch != SP_EV_NONE) {
            if (x->batch < nb && a->b[x->batch].valid) {
                st = SP_GROW(ties, cap_ties, n_ties + 1, SP_ANA_MAX_ITEMS);
                if (st)
                    goto out;
                ties[n_ties++] = (struct tie){x->batch, (uint32_t)i};
            }
            continue;
        }
        uint32_t d = a->act_dev[i];
        /* batches with start < act end form a prefix of the group */
        size_t lo = dev_off[d], hi = dev_off[d + 1];
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (byd[mid].start < x->end_ns)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t k = lo; k-- > dev_off[d];) {
            if (pmax[k] <= x->start_ns)
                break; /* every earlier batch ends before the activity starts */
            if (ev->batches[byd[k].idx].end_ns > x->start_ns) {
                st = SP_GROW(ties, cap_ties, n_ties + 1, SP_ANA_MAX_ITEMS);
                if (st)
                    goto out;
                ties[n_ties++] = (struct tie){byd[k].idx, (uint32_t)i};
            }
        }
    }
    /* counting sort of ties by batch */
    st = SP_ERR_NOMEM;
    boff = calloc(nb + 1, sizeof *boff);
    bacts = malloc((n_ties ? n_ties : 1) * sizeof *bacts);
    if (!boff || !bacts)
        goto out;
    for (size_t t = 0; t < n_ties; t++)
        boff[ties[t].batch + 1]++;
    for (size_t i = 0; i < nb; i++)
        boff[i + 1] += boff[i];
    {
        size_t *fill = malloc((nb ? nb : 1) * sizeof *fill);
        if (!fill)
            goto out;
        memcpy(fill, boff, nb * sizeof *fill);
        for (size_t t = 0; t < n_ties; t++)
            bacts[fill[ties[t].batch]++] = ties[t].act;
        free(fill);
    }
    size_t n_valid = dev_off[nd], most = n_ties <= (SIZE_MAX - n_valid) / 2 ? 2 * n_ties + n_valid : SIZE_MAX;
    st = grow_segments(a, narrow, most);
    if (st)
        goto out;
    /* per batch: paint kernel > h2d > d2h over a base `gap` covering the window */
    for (size_t i = 0; i < nb; i++) {
        if (!a->b[i].valid)
            continue;
        st = batch_segments(a, i, bacts + boff[i], boff[i + 1] - boff[i], narrow, &p);
        if (st)
            goto out;
    }
    st = SP_OK;
out:
    free(ties);
    free(dev_off);
    free(byd);
    free(pmax);
    free(boff);
    free(bacts);
    painter_free(&p);
    return st;
}

/* ---------- stage rows ---------- */

struct id_row {
    sp_str id;
    int row;
};

static int id_row_cmp(const void *a, const void *b)
{
    const struct id_row *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

struct name_ref {
    const char *name;
    sp_str id;
};

static int name_ref_cmp(const void *a, const void *b)
{
    const struct name_ref *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static const char *const fixed_names[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h",
                                          "postprocess"};

/* The message for more named stages than SP_ANA_MAX_NAMED_STAGES: which files hold them (the
 * limit is on the files together) and the first names, which often show an id put into the stage
 * name. `lk` (sorted by id) marks named stages with row -1; `named` is sorted by name. */
static sp_status too_many_stages(const sp_ana *a, const struct id_row *lk, size_t nu, const struct name_ref *named,
                                 size_t n_named, char *err, size_t errlen)
{
    const sp_events *ev = a->ev;
    uint8_t *has = calloc(ev->n_files ? ev->n_files : 1, 1);
    /* calloc: GCC cannot see that sp_ev_files_label reads only the nf entries written */
    uint32_t *files = calloc(ev->n_files ? ev->n_files : 1, sizeof *files);
    if (!has || !files) {
        free(has);
        free(files);
        return SP_ERR_NOMEM;
    }
    for (size_t i = 0; i < a->n_reqs; i++) {
        const sp_ev_request *q = &ev->requests[a->reqs[i]];
        for (uint32_t k = 0; k < q->nspans && !has[q->file]; k++) {
            struct id_row key = {ev->spans[q->first_span + k].stage, 0};
            const struct id_row *hit = bsearch(&key, lk, nu, sizeof *lk, id_row_cmp);
            if (hit && hit->row == -1)
                has[q->file] = 1;
        }
    }
    size_t nf = 0;
    for (size_t f = 0; f < ev->n_files; f++)
        if (has[f])
            files[nf++] = (uint32_t)f;
    char where[512];
    sp_ev_files_label(ev, files, nf, where, sizeof where);
    sp_errf(err, errlen, "%s: %zu distinct stage names besides the built-in ones%s (e.g. \"%s\", \"%s\", \"%s\"); "
            "at most %u are supported: is a request id or a number part of the stage name?",
            where, n_named, nf > 1 ? " in these files together" : "", named[0].name, named[1].name, named[2].name,
            SP_ANA_MAX_NAMED_STAGES);
    free(has);
    free(files);
    return SP_ERR_LIMIT;
}

/* The distinct stage ids of the analysed requests' spans: a set (open addressing, id + 1 in each slot,
 * 0 empty), filled by select_requests in its pass over the requests; a trace has a handful of stage
 * names among millions of spans. */
typedef struct stage_set {
    uint64_t *slot;
    size_t cap, n;
    sp_status st; /* SP_ERR_NOMEM once growing it failed */
    /* the key last added at each of a request's first span positions (mod 4), 0 none: requests
     * mostly carry the same stages in the same order, so most spans skip the hash (a key stays in the
     * set once added) */
    uint64_t recent[4];
} stage_set;

/* An empty set; one that cannot be had holds SP_ERR_NOMEM for build_stage_rows to give. */
static void stage_set_init(stage_set *set)
{
    set->n = 0;
    memset(set->recent, 0, sizeof set->recent);
    set->slot = calloc(64, sizeof *set->slot);
    set->cap = set->slot ? 64 : 0;
    set->st = set->slot ? SP_OK : SP_ERR_NOMEM;
}

/* Adds key (a stage id + 1) unless the set holds it. */
static inline void stage_set_add(stage_set *set, uint64_t key)
{
    size_t cap = set->cap;
    uint64_t *slot = set->slot;
    size_t h = (size_t)(key * 0x9E3779B97F4A7C15ull >> 32) & (cap - 1);
    while (slot[h] && slot[h] != key)
        h = (h + 1) & (cap - 1);
    if (slot[h])
        return;
    slot[h] = key;
    if (++set->n * 2 <= cap)
        return;
    uint64_t *g = calloc(cap * 2, sizeof *g); /* rehash at half full */
    if (!g) {
        set->st = SP_ERR_NOMEM;
        return;
    }
    for (size_t j = 0; j < cap; j++) {
        if (!slot[j])
            continue;
        size_t h2 = (size_t)(slot[j] * 0x9E3779B97F4A7C15ull >> 32) & (cap * 2 - 1);
        while (g[h2])
            h2 = (h2 + 1) & (cap * 2 - 1);
        g[h2] = slot[j];
    }
    free(slot);
    set->slot = g;
    set->cap = cap * 2;
}

/* Adds the stage ids of q's spans. */
static void stage_set_add_spans(stage_set *set, const sp_events *ev, const sp_ev_request *q)
{
    const int memo = sp_ana_part_fast; /* 0: every span through the hash (the general route) */
    for (uint32_t k = 0; k < q->nspans && !set->st; k++) {
        uint64_t key = (uint64_t)ev->spans[q->first_span + k].stage + 1;
        if (memo && key == set->recent[k & 3])
            continue;
        stage_set_add(set, key);
        set->recent[k & 3] = key; /* in the set now (or the set failed, and is not read) */
    }
}

/* Whether every stage id the event set's spans ever carried (sp_events.span_stages) names one of the
 * seven fixed rows or `other`. Then the stage rows are the same whichever of those stages the analysed
 * requests' spans carry (build_stage_rows gives those rows in every case, and adds rows only for
 * `network` and named stages), and a lookup entry for a stage no analysed span carries is never read:
 * the set can take the list instead of a pass over every analysed request's spans. */
static int span_stages_all_fixed(const sp_events *ev)
{
    if (ev->span_stages_over)
        return 0;
    for (uint32_t i = 0; i < ev->n_span_stages; i++) {
        const char *name = sp_str_get(&ev->strings, ev->span_stages[i]);
        int fixed = name && !strcmp(name, "other");
        for (int f = 0; name && !fixed && f < 7; f++)
            fixed = !strcmp(name, fixed_names[f]);
        if (!fixed)
            return 0;
    }
    return 1;
}

/* Decides the stage rows: the seven fixed ones, `network` when client times are merged or a span
 * carries that name, the named others that occur in spans of analysed requests (alphabetical), and
 * `other`. Returns the span-stage -> row lookup sorted by id; a->named_ids holds the named rows. */
static sp_status build_stage_rows(sp_ana *a, stage_set *set, struct id_row **lookup, size_t *n_lookup, char *err,
                                  size_t errlen)
{
    sp_events *ev = a->ev;
    /* the distinct stage ids of the analysed requests' spans (select_requests); the set is freed here */
    size_t cap = set->cap, nu = set->n;
    uint64_t *slot = set->slot;
    set->slot = NULL;
    sp_status st = set->st;
    uint64_t *tmp = st ? NULL : malloc((nu ? nu : 1) * sizeof *tmp);
    if (!tmp) {
        free(slot);
        return SP_ERR_NOMEM;
    }
    nu = 0;
    for (size_t j = 0; j < cap; j++)
        if (slot[j])
            tmp[nu++] = slot[j] - 1;
    free(slot);
    if ((st = sp_sort_u64(tmp, nu, NULL))) {
        free(tmp);
        return st;
    }
    struct id_row *lk = malloc((nu ? nu : 1) * sizeof *lk);
    struct name_ref *named = malloc((nu ? nu : 1) * sizeof *named);
    if (!lk || !named) {
        free(tmp);
        free(lk);
        free(named);
        return SP_ERR_NOMEM;
    }
    size_t n_named = 0;
    for (size_t i = 0; i < nu; i++) {
        const char *name = sp_str_get(&ev->strings, (sp_str)tmp[i]);
        lk[i].id = (sp_str)tmp[i];
        lk[i].row = -1;
        for (int f = 0; f < 7; f++)
            if (!strcmp(name, fixed_names[f]))
                lk[i].row = f;
        if (lk[i].row >= 0)
            continue;
        if (!strcmp(name, "network")) {
            a->has_network = 1;
            lk[i].row = -2; /* fixed below */
        } else if (!strcmp(name, "other")) {
            lk[i].row = -3;
        } else {
            named[n_named++] = (struct name_ref){name, (sp_str)tmp[i]};
        }
    }
    free(tmp);
    qsort(named, n_named, sizeof *named, name_ref_cmp);
    if (n_named > SP_ANA_MAX_NAMED_STAGES) {
        st = too_many_stages(a, lk, nu, named, n_named, err, errlen);
        free(lk);
        free(named);
        return st;
    }
    a->st_queue = 0;
    a->st_pre = 1;
    a->st_h2d = 2;
    a->st_kernel = 3;
    a->st_gap = 4;
    a->st_d2h = 5;
    a->st_post = 6;
    int row = 7;
    a->st_network = a->has_network ? row++ : -1;
    int first_named = row;
    row += (int)n_named;
    a->st_other = row++;
    a->n_stages = (size_t)row;
    a->n_named = n_named;
    a->named_ids = malloc((n_named ? n_named : 1) * sizeof *a->named_ids);
    if (!a->named_ids) {
        free(lk);
        free(named);
        return SP_ERR_NOMEM;
    }
    for (size_t k = 0; k < n_named; k++)
        a->named_ids[k] = named[k].id;
    for (size_t i = 0; i < nu; i++) {
        if (lk[i].row == -2)
            lk[i].row = a->st_network;
        else if (lk[i].row == -3)
            lk[i].row = a->st_other;
        else if (lk[i].row == -1) {
            for (size_t k = 0; k < n_named; k++)
                if (named[k].id == lk[i].id)
                    lk[i].row = first_named + (int)k;
        }
    }
    free(named);
    qsort(lk, nu, sizeof *lk, id_row_cmp);
    *lookup = lk;
    *n_lookup = nu;
    return SP_OK;
}

static int lookup_row(const struct id_row *lk, size_t n, sp_str id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lk[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && lk[lo].id == id ? lk[lo].row : -1;
}

/* The same lookup as a small open-addressing table (a trace has a handful of stage names, and a
 * request's spans name a few of them over and over): one probe where lookup_row takes a binary
 * search. A slot with row -1 is empty. */
struct stage_slot {
    sp_str id;
    int row;
};

typedef struct stage_hash {
    struct stage_slot *slot;
    uint32_t shift;          /* a table of 2^(32 - shift) slots */
} stage_hash;

static inline size_t stage_slot_of(const stage_hash *h, sp_str id)
{
    return (size_t)((uint32_t)(id * 0x9E3779B1u) >> h->shift);
}

static sp_status build_stage_hash(const struct id_row *lk, size_t nlk, stage_hash *h)
{
    uint32_t bits = 4; /* at most a quarter full */
    while (bits < 31 && ((size_t)1 << bits) < nlk * 4)
        bits++;
    size_t n = (size_t)1 << bits;
    h->slot = malloc(n * sizeof *h->slot);
    if (!h->slot)
        return SP_ERR_NOMEM;
    h->shift = 32 - bits;
    for (size_t k = 0; k < n; k++)
        h->slot[k] = (struct stage_slot){0, -1};
    for (size_t i = 0; i < nlk; i++) {
        if (lk[i].row < 0)
            continue; /* not found either way */
        size_t k = stage_slot_of(h, lk[i].id);
        while (h->slot[k].row != -1)
            k = (k + 1) & (n - 1);
        h->slot[k] = (struct stage_slot){lk[i].id, lk[i].row};
    }
    return SP_OK;
}

static inline int stage_hash_row(const stage_hash *h, sp_str id)
{
    size_t mask = ((size_t)1 << (32 - h->shift)) - 1;
    for (size_t k = stage_slot_of(h, id);; k = (k + 1) & mask) {
        if (h->slot[k].row == -1 || h->slot[k].id == id)
            return h->slot[k].row;
    }
}

/* ---------- stage spans: latest start wins ---------- */

typedef struct span_scratch {
    struct sp_cspan *c;
    size_t cap_c;
    uint32_t *heap;
    size_t cap_heap;
    /* clip_disjoint_spans' memo of stage_hash_row: the stage looked up last at each of a request's
     * span positions (mod 4) and its row, always a pair the hash gives (stage_memo_init); requests
     * mostly carry the same stages in the same order */
    sp_str memo_id[4];
    int memo_row[4];
} span_scratch;

static void stage_memo_init(span_scratch *ss, const stage_hash *sh)
{
    for (int k = 0; k < 4; k++) {
        ss->memo_id[k] = 0;
        ss->memo_row[k] = stage_hash_row(sh, 0);
    }
}

/* Adds the request's stage spans, clipped to [from, to) and resolved to disjoint owned pieces, as
 * painter items at `level` with the stage row as payload. Which span owns an instant depends only on
 * the spans over it (their own edges, not the clipped ones), so two windows side by side resolve as
 * one window over both would. */
static sp_status add_span_pieces(sp_ana *a, const sp_ev_request *q, const struct id_row *lk, size_t nlk,
                                 const stage_hash *sh, span_scratch *ss, painter *p, uint32_t level,
                                 uint64_t from, uint64_t to)
{
    sp_events *ev = a->ev;
    sp_status st = SP_GROW(ss->c, ss->cap_c, (size_t)q->nspans + 1, SP_ANA_MAX_ITEMS);
    if (!st)
        st = SP_GROW(ss->heap, ss->cap_heap, (size_t)q->nspans + 1, SP_ANA_MAX_ITEMS);
    if (st)
        return st;
    size_t m = 0;
    for (uint32_t k = 0; k < q->nspans; k++) {
        const sp_ev_span *sp = &ev->spans[q->first_span + k];
        uint64_t s = sp->start_ns > from ? sp->start_ns : from;
        uint64_t e = sp->end_ns < to ? sp->end_ns : to;
        if (sp->start_ns == SP_TIME_NONE || sp->end_ns == SP_TIME_NONE || e <= s)
            continue;
        int row = sp_ana_part_fast ? stage_hash_row(sh, sp->stage) : lookup_row(lk, nlk, sp->stage);
        if (row < 0)
            continue;
        /* spans are sorted by start, so clipped starts stay non-decreasing */
        ss->c[m++] = (struct sp_cspan){s, e, sp->start_ns, sp->end_ns, sp_str_get(&ev->strings, sp->stage), row};
    }
    size_t nh = 0, i = 0;
    uint64_t t = m ? ss->c[0].s : 0;
    while (i < m || nh) {
        while (i < m && ss->c[i].s <= t)
            sp_cspan_heap_push(ss->heap, &nh, ss->c, (uint32_t)i++);
        while (nh && ss->c[ss->heap[0]].e <= t)
            sp_cspan_heap_pop(ss->heap, &nh, ss->c);
        if (!nh) {
            if (i == m)
                break;
            t = ss->c[i].s;
            continue;
        }
        const struct sp_cspan *top = &ss->c[ss->heap[0]];
        uint64_t next = top->e;
        if (i < m && ss->c[i].s < next)
            next = ss->c[i].s;
        st = painter_add(p, t, next, level, (uint32_t)top->row);
        if (st)
            return st;
        t = next;
    }
    return SP_OK;
}

/* ---------- per-request partition ---------- */

/* The analysed requests: a record, an outcome in the scope (docs/analysis.md, "Outcomes") and a
 * well-formed [arrival, done]; whether any has client times (the network row). Their spans' stage ids
 * go into `set` in the same pass (for build_stage_rows). */
static sp_status select_requests(sp_ana *a, stage_set *set, char *err, size_t errlen)
{
    const sp_events *ev = a->ev;
    a->reqs = malloc((ev->n_requests ? ev->n_requests : 1) * sizeof *a->reqs);
    if (!a->reqs)
        return SP_ERR_NOMEM;
    a->max_life = 0;
    a->first_arrival = SP_TIME_NONE;
    a->last_done = 0;
    /* the usual trace (preprocess, queue, postprocess): the stage set from the event set's list, and
     * this pass reads no span; sp_ana_part_fast = 0 takes every analysed span (the general route) */
    const int from_list = sp_ana_part_fast && span_stages_all_fixed(ev);
    for (uint32_t k = 0; from_list && k < ev->n_span_stages && !set->st; k++)
        stage_set_add(set, (uint64_t)ev->span_stages[k] + 1);
    for (size_t i = 0; i < ev->n_requests; i++) {
        const sp_ev_request *q = &ev->requests[i];
        if (!sp_ana_in_scope(q, a->opt.outcomes))
            continue; /* no record: skipped by sp_ev_finish (lenient); other outcomes: outcomes.c */
        if (q->arrival_ns == SP_TIME_NONE || q->done_ns == SP_TIME_NONE || q->done_ns < q->arrival_ns) {
            if (!a->opt.lenient) {
                sp_errf(err, errlen, "%s: request \"%s\" has no valid [arrival, done] (done before arrival or missing)",
                        sp_str_get(&ev->strings, ev->files[q->file].path), sp_str_get(&ev->strings, q->id));
                return SP_ERR_PARSE;
            }
            a->skipped++;
            continue;
        }
        a->reqs[a->n_reqs++] = (uint32_t)i;
        if (!from_list)
            stage_set_add_spans(set, ev, q);
        uint64_t lo, hi;
        sp_ana_life_bounds(ev, q, &lo, &hi);
        if (hi - lo > a->max_life)
            a->max_life = hi - lo;
        if (q->arrival_ns < a->first_arrival)
            a->first_arrival = q->arrival_ns;
        if (q->done_ns > a->last_done)
            a->last_done = q->done_ns;
        if (sp_ana_has_client(ev, q))
            a->any_client = a->has_network = 1;
    }
    return SP_OK;
}

/* Scratch of the per-request partition, reused from one request to the next, and kept after the
 * partition for sp_ana_request_pieces (a->paint). */
typedef struct sp_ana_paint {
    struct id_row *lk;       /* stage name -> row (build_stage_rows) */
    size_t nlk;
    stage_hash sh;           /* the same as a hash (build_stage_hash) */
    painter p;
    span_scratch ss;
    paint_item *bp;          /* the request's batch pieces: time order, disjoint */
    size_t n_bp, cap_bp;
    uint64_t first_s, last_e; /* from the first batch piece's window start to the last one's end;
                                 first_s SP_TIME_NONE: none */
    /* window_sums: the last batch's pieces summed by label over its whole window (win_valid), or
     * over part of it (the sums of the request just taken; not kept) */
    uint64_t win_t[SP_LBL_COUNT];
    double win_pad;
    int win_padded, win_valid;
    uint32_t win_batch;
    /* stage spans reaching outside their request's [arrival, done), clipped (docs/analysis.md section
     * 1): how many, and the first such request by earlier_request (an index into a->reqs; read only
     * when spans_outside > 0) */
    uint64_t spans_outside;
    size_t first_outside;
} req_scratch;

/* A batch's nsg pieces: starts s64[j], or b0 + o32[j] when held as offsets from the batch's start;
 * the last ends at b1. */
typedef struct piece_run {
    const uint64_t *s64;
    const uint32_t *o32;
    uint64_t b0, b1;
    size_t nsg;
} piece_run;

static inline uint64_t piece_start(const piece_run *pr, size_t j)
{
    return pr->s64 ? pr->s64[j] : pr->b0 + pr->o32[j];
}

/* Of the run's pieces, the last that starts at or before es (the first that ends after it); 0 when none. */
static size_t last_piece_at(const piece_run *pr, uint64_t es)
{
    size_t lo = 0, hi = pr->nsg;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (piece_start(pr, mid) <= es)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : 0;
}

/* Piece j of the run clipped to [es, ee) into [*s, *e): 1; 0 when it ends at or before es (go on); -1
 * when it starts at or after ee, or j is past the last (the pieces after it start later: stop). */
static inline int piece_clip(const piece_run *pr, size_t j, uint64_t es, uint64_t ee, uint64_t *s, uint64_t *e)
{
    if (j >= pr->nsg)
        return -1;
    uint64_t seg_s = piece_start(pr, j);
    if (seg_s >= ee)
        return -1;
    uint64_t seg_e = j + 1 < pr->nsg ? piece_start(pr, j + 1) : pr->b1;
    if (seg_e <= es)
        return 0;
    *s = seg_s > es ? seg_s : es;
    *e = seg_e < ee ? seg_e : ee;
    return 1;
}

/* The labelled pieces of request q's batch windows, in start order, clipped to [arrival, done); where
 * two of its windows overlap, the earlier batch keeps the overlap. */
static sp_status batch_pieces(const sp_ana *a, const sp_ev_request *q, req_scratch *rs)
{
    const sp_events *ev = a->ev;
    uint64_t prev_end = 0, first_s = SP_TIME_NONE, last_e = 0;
    size_t n_bp = 0;
    sp_status st = SP_OK;
    for (uint32_t k = 0, nb = sp_ev_req_nbatches(ev, q); !st && k < nb; k++) {
        uint32_t bi = ev->req_batches[q->first_batch + k];
        if (!a->b[bi].valid)
            continue;
        const sp_ev_batch *b = &ev->batches[bi];
        uint64_t es = b->start_ns;
        if (es < prev_end)
            es = prev_end;
        if (es < q->arrival_ns)
            es = q->arrival_ns;
        uint64_t ee = b->end_ns < q->done_ns ? b->end_ns : q->done_ns;
        if (b->end_ns > prev_end)
            prev_end = b->end_ns;
        if (ee <= es)
            continue;
        if (first_s == SP_TIME_NONE)
            first_s = es;
        last_e = ee;
        const size_t f = a->b[bi].first_seg;
        const uint8_t *lb = a->seg_label + f;
        /* the batch's piece starts, absolute or from its start (sp_ana_seg_start, read once here) */
        const piece_run pr = {a->seg_s ? a->seg_s + f : NULL, a->seg_s ? NULL : a->seg_off32 + f, b->start_ns,
                              b->end_ns, a->b[bi].nsegs};
        size_t lo_i = 0;
        /* the first piece that ends after es (with a few pieces the scan below finds it as soon: it
         * skips those that end at or before es) */
        if (pr.nsg > 4 || !sp_ana_part_fast)
            lo_i = last_piece_at(&pr, es);
        /* room for every piece left of this batch: no check per piece */
        if ((st = SP_GROW(rs->bp, rs->cap_bp, n_bp + (pr.nsg - lo_i), SP_ANA_MAX_ITEMS)))
            break;
        paint_item *out = rs->bp;
        uint64_t s, e;
        for (size_t j = lo_i;; j++) {
            int got = piece_clip(&pr, j, es, ee, &s, &e);
            if (got < 0)
                break;
            if (got)
                out[n_bp++] = (paint_item){s, e, lb[j], bi};
        }
    }
    rs->first_s = first_s;
    rs->last_e = last_e;
    rs->n_bp = n_bp;
    return st;
}

/* The request's stage spans clipped to [arrival, done) as partition_request's pieces would take them
 * (ss->c's s, e and row only), and *disjoint: whether each starts at or after the one before ends.
 * Then the span heap would hand out exactly these as the pieces (each span owns all of itself);
 * otherwise *disjoint is 0 as soon as one overlaps, and the general path starts over. */
static sp_status clip_disjoint_spans(const sp_ana *a, const sp_ev_request *q, const stage_hash *sh, span_scratch *ss,
                                     size_t *m_out, int *disjoint)
{
    const sp_ev_span *sp = a->ev->spans + q->first_span;
    const uint32_t n = q->nspans;
    const uint64_t arr = q->arrival_ns, done = q->done_ns;
    *disjoint = 0;
    *m_out = 0;
    sp_status st = SP_GROW(ss->c, ss->cap_c, (size_t)n + 1, SP_ANA_MAX_ITEMS);
    if (st)
        return st;
    struct sp_cspan *c = ss->c;
    size_t m = 0;
    uint64_t prev_e = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t s = sp[k].start_ns > arr ? sp[k].start_ns : arr;
        uint64_t e = sp[k].end_ns < done ? sp[k].end_ns : done;
        if (sp[k].start_ns == SP_TIME_NONE || sp[k].end_ns == SP_TIME_NONE || e <= s)
            continue;
        int row;
        if (sp[k].stage == ss->memo_id[k & 3]) {
            row = ss->memo_row[k & 3];
        } else {
            row = stage_hash_row(sh, sp[k].stage);
            ss->memo_id[k & 3] = sp[k].stage;
            ss->memo_row[k & 3] = row;
        }
        if (row < 0)
            continue;
        if (s < prev_e)
            return SP_OK; /* overlaps the one before */
        prev_e = e;
        c[m].s = s;
        c[m].e = e;
        c[m].row = row;
        m++;
    }
    *m_out = m;
    *disjoint = 1;
    return SP_OK;
}

/* Sums a request's span pieces (disjoint, in time order) into its stage times: what each keeps of
 * itself after the batch pieces, and how much of that lies between the first and last batch window. */
typedef struct span_sum {
    const paint_item *bp;    /* the batch pieces: time order, disjoint */
    size_t n_bp;
    uint64_t first_s, last_e;
    size_t j;                /* the first batch piece that may still meet a piece */
    uint64_t in_spans, spans_between;
} span_sum;

static inline void take_span_piece(span_sum *acc, uint64_t *tm, uint64_t xs, uint64_t xe, size_t row)
{
    const paint_item *bp = acc->bp;
    const size_t n_bp = acc->n_bp;
    size_t j = acc->j;
    while (j < n_bp && bp[j].e <= xs)
        j++;
    acc->j = j;
    uint64_t ov = 0;
    for (size_t m = j; m < n_bp && bp[m].s < xe; m++) {
        uint64_t s = bp[m].s > xs ? bp[m].s : xs;
        uint64_t e = bp[m].e < xe ? bp[m].e : xe;
        ov += e - s;
    }
    uint64_t own = xe - xs - ov;
    tm[row] += own;
    acc->in_spans += own;
    if (acc->first_s != SP_TIME_NONE) {
        uint64_t s = xs > acc->first_s ? xs : acc->first_s;
        uint64_t e = xe < acc->last_e ? xe : acc->last_e;
        /* batch pieces lie inside [first_s, last_e), so ov is all inside it */
        if (e > s)
            acc->spans_between += (e - s) - ov;
    }
}

/* Adds to tm (kernel, h2d, d2h, gap) what batch bi's pieces hold of [es, ee) (inside its window) and
 * to *padding each kernel piece's share, as partition_request's sum over batch_pieces' pieces would,
 * in the same order. A whole window's sums are kept (rs->win_*) for the next request of the batch: the
 * requests of a batch come one after another. */
static void window_sums(const sp_ana *a, uint32_t bi, uint64_t es, uint64_t ee, req_scratch *rs, uint64_t *tm,
                        double *padding)
{
    const sp_ev_batch *b = &a->ev->batches[bi];
    const int whole = es == b->start_ns && ee == b->end_ns;
    if (!whole || !rs->win_valid || rs->win_batch != bi) {
        uint64_t t[SP_LBL_COUNT] = {0};
        double pad = 0; /* a request's padding starts at 0 (sp_ana_zeroed_doubles) */
        int padded = 0;
        const size_t f = a->b[bi].first_seg;
        const uint8_t *lb = a->seg_label + f;
        const piece_run pr = {a->seg_s ? a->seg_s + f : NULL, a->seg_s ? NULL : a->seg_off32 + f, b->start_ns,
                              b->end_ns, a->b[bi].nsegs};
        const double waste = a->b[bi].waste;
        size_t j = 0;
        if (!whole && pr.nsg > 4)
            j = last_piece_at(&pr, es);
        uint64_t s, e;
        for (;; j++) {
            int got = piece_clip(&pr, j, es, ee, &s, &e);
            if (got < 0)
                break;
            if (!got)
                continue;
            uint64_t len = e - s;
            t[lb[j]] += len;
            if (lb[j] == SP_LBL_KERNEL) {
                pad += (double)len * waste;
                padded = 1;
            }
        }
        memcpy(rs->win_t, t, sizeof t);
        rs->win_pad = pad;
        rs->win_padded = padded;
        rs->win_valid = whole;
        rs->win_batch = bi;
    }
    tm[a->st_kernel] += rs->win_t[SP_LBL_KERNEL];
    tm[a->st_h2d] += rs->win_t[SP_LBL_H2D];
    tm[a->st_d2h] += rs->win_t[SP_LBL_D2H];
    tm[a->st_gap] += rs->win_t[SP_LBL_GAP];
    if (rs->win_padded)
        *padding = rs->win_pad;
}

/* Stores request i's row of stage times: each is at most its life, so the narrow matrix takes it whole
 * (the partition chose the width by the longest life). */
static void store_times(sp_ana *a, size_t i, const uint64_t *tm)
{
    size_t ns = a->n_stages;
    if (a->times32) {
        uint32_t *d = a->times32 + i * ns;
        for (size_t s = 0; s < ns; s++)
            d[s] = (uint32_t)tm[s];
    } else {
        memcpy(a->times + i * ns, tm, ns * sizeof *tm);
    }
}

/* Whether request x comes before y in the order the reports name "the first" of several requests by:
 * the earlier arrival, then the request id (sp_ev_id_key's order), then the file: a key that never
 * depends on the order of a trace's lines (DESIGN 8a). Only called for the rare requests whose spans
 * reach outside their life. */
static bool earlier_request(const sp_events *ev, const sp_ev_request *x, const sp_ev_request *y)
{
    if (x->arrival_ns != y->arrival_ns)
        return x->arrival_ns < y->arrival_ns;
    sp_ev_idkey kx = sp_ev_id_key(ev, x), ky = sp_ev_id_key(ev, y);
    int c = sp_ev_id_key_cmp(&kx, &ky);
    if (c)
        return c < 0;
    return x->file < y->file;
}

/* Gives request q's own spans' time in [lo, arrival), lo its client send on the server clock, to their
 * stages instead of `network` (docs/analysis.md, "End-to-end"). A span before the arrival is time the
 * server knows the request waited on, though it had not read it yet: the Python middlewares record the
 * event loop's stalls that ended before a request's arrival as its `event_loop`/`event_loop_wait`
 * spans (docs/python.md, "Event loop stalls"), and a request whose bytes came in while the loop was
 * blocked waited on the loop, not on the network. Only the part after the client's send counts: before
 * it the request did not exist. Exact where the clocks are (the offset's width is the report's). */
static sp_status pre_arrival_spans(sp_ana *a, const sp_ev_request *q, req_scratch *rs, uint64_t lo, uint64_t *tm)
{
    rs->p.n_items = 0;
    sp_status st = add_span_pieces(a, q, rs->lk, rs->nlk, &rs->sh, &rs->ss, &rs->p, 0, lo, q->arrival_ns);
    uint64_t got = 0;
    for (size_t k = 0; !st && k < rs->p.n_items; k++) {
        uint64_t len = rs->p.items[k].e - rs->p.items[k].s;
        tm[rs->p.items[k].payload] += len;
        got += len;
    }
    tm[a->st_network] -= got; /* the pieces are disjoint and inside [lo, arrival): at most that */
    rs->p.n_items = 0;
    return st;
}

/* Whether span sp of request q is one of the loop stalls the Python middlewares record before a
 * request's arrival (an `event_loop` or `event_loop_wait` span that ends by it): a candidate by design,
 * of which only the part after the client's send counts (pre_arrival_spans), so no instrumentation bug
 * to warn of when it lies outside the life. */
static int loop_wait_before(const sp_ana *a, const sp_ev_request *q, const sp_ev_span *sp)
{
    return sp->end_ns <= q->arrival_ns && sp->stage != SP_EV_NONE &&
           (sp->stage == a->loop_stage[0] || sp->stage == a->loop_stage[1]);
}

/* Analysed request i's life and stage times (DESIGN section 3) into a->life, a->times (or times32)
 * and a->padding. The row is summed here and stored once: the matrix's fresh pages are only written. */
static sp_status partition_request(sp_ana *a, size_t i, req_scratch *rs)
{
    const sp_events *ev = a->ev;
    const sp_ev_request *q = &ev->requests[a->reqs[i]];
    uint64_t tm[SP_ANA_MAX_STAGES];
    memset(tm, 0, a->n_stages * sizeof *tm);
    uint64_t lo, hi;
    /* client merge: life [client_send, client_done] (on the server clock since sp_ev_finish), widened
     * to hold [arrival, done] where clocks conflict; time outside [arrival, done] is network */
    sp_ana_life_bounds(ev, q, &lo, &hi);
    sp_status st = SP_OK;
    if (sp_ana_has_client(ev, q)) {
        tm[a->st_network] += (q->arrival_ns - lo) + (hi - q->done_ns);
        /* spans are sorted by start: one before the arrival is the first */
        if (q->nspans && lo < q->arrival_ns && ev->spans[q->first_span].start_ns < q->arrival_ns &&
            (st = pre_arrival_spans(a, q, rs, lo, tm)))
            return st;
    }
    a->life[i] = hi - lo;
    a->padding[i] = 0.0; /* summed below */
    const paint_item *bp;
    size_t n_bp;
    uint64_t first_s, last_e, in_batches = 0;
    paint_item whole; /* one window's pieces as one: see below */
    uint32_t nb = sp_ev_req_nbatches(ev, q);
    if (sp_ana_part_fast && nb <= 1) {
        /* At most one batch: its pieces are contiguous over [first_s, last_e), so each span meets
         * them where it meets that interval, and their sums by label come from the window's pieces
         * (window_sums); the pieces themselves are not needed. */
        first_s = SP_TIME_NONE;
        last_e = 0;
        n_bp = 0;
        uint32_t bi = nb ? ev->req_batches[q->first_batch] : 0;
        if (nb && a->b[bi].valid) {
            const sp_ev_batch *b = &ev->batches[bi];
            uint64_t es = b->start_ns > q->arrival_ns ? b->start_ns : q->arrival_ns;
            uint64_t ee = b->end_ns < q->done_ns ? b->end_ns : q->done_ns;
            if (ee > es) {
                window_sums(a, bi, es, ee, rs, tm, &a->padding[i]);
                first_s = es;
                last_e = ee;
                in_batches = ee - es;
                whole = (paint_item){es, ee, SP_LBL_GAP, bi};
                n_bp = 1;
            }
        }
        bp = &whole;
    } else {
        st = batch_pieces(a, q, rs);
        if (st)
            return st;
        bp = rs->bp;
        n_bp = rs->n_bp;
        first_s = rs->first_s;
        last_e = rs->last_e;
        /* batch pieces win everywhere: sorted and disjoint (windows are taken in start order and
         * clipped to the end of the previous ones) */
        uint64_t t_kernel = 0, t_h2d = 0, t_d2h = 0, t_gap = 0;
        double pad = a->padding[i]; /* summed in the same order, stored once */
        int padded = 0;
        for (size_t k = 0; k < n_bp; k++) {
            uint64_t len = bp[k].e - bp[k].s;
            in_batches += len;
            switch (bp[k].level) {
            case SP_LBL_KERNEL:
                t_kernel += len;
                /* DESIGN section 5: padding time = kernel time in the window x the batch's waste */
                pad += (double)len * a->b[bp[k].payload].waste;
                padded = 1;
                break;
            case SP_LBL_H2D:
                t_h2d += len;
                break;
            case SP_LBL_D2H:
                t_d2h += len;
                break;
            default:
                t_gap += len;
                break;
            }
        }
        if (padded)
            a->padding[i] = pad;
        tm[a->st_kernel] += t_kernel;
        tm[a->st_h2d] += t_h2d;
        tm[a->st_d2h] += t_d2h;
        tm[a->st_gap] += t_gap;
    }
    /* spans reaching outside the life are clipped to it below; counted here, once per span (the fast
     * route may give way to the heap's), so the analysis can say so */
    const sp_ev_span *own = ev->spans + q->first_span;
    uint64_t outside = 0;
    for (uint32_t k = 0; k < q->nspans; k++)
        outside += (own[k].start_ns < lo && !loop_wait_before(a, q, &own[k])) ||
                   (own[k].end_ns > q->done_ns && own[k].end_ns != SP_TIME_NONE);
    if (outside && (!rs->spans_outside || earlier_request(ev, q, &ev->requests[a->reqs[rs->first_outside]])))
        rs->first_outside = i;
    rs->spans_outside += outside;
    /* span pieces (sorted, disjoint) get what the batch pieces leave of them: the clipped spans
     * themselves where none overlaps the next (the usual request), else the span heap's pieces */
    span_sum acc = {bp, n_bp, first_s, last_e, 0, 0, 0};
    int disjoint = 0;
    if (sp_ana_part_fast) {
        size_t m;
        st = clip_disjoint_spans(a, q, &rs->sh, &rs->ss, &m, &disjoint);
        if (st)
            return st;
        for (size_t k = 0; disjoint && k < m; k++)
            take_span_piece(&acc, tm, rs->ss.c[k].s, rs->ss.c[k].e, (size_t)rs->ss.c[k].row);
    }
    if (!disjoint) {
        rs->p.n_items = 0;
        st = add_span_pieces(a, q, rs->lk, rs->nlk, &rs->sh, &rs->ss, &rs->p, 0, q->arrival_ns, q->done_ns);
        if (st)
            return st;
        for (size_t k = 0; k < rs->p.n_items; k++)
            take_span_piece(&acc, tm, rs->p.items[k].s, rs->p.items[k].e, rs->p.items[k].payload);
        rs->p.n_items = 0;
    }
    const uint64_t in_spans = acc.in_spans, spans_between = acc.spans_between;
    /* DESIGN section 3: between the request's batch windows, time no span covers is queue */
    uint64_t between = first_s != SP_TIME_NONE ? (last_e - first_s) - in_batches - spans_between : 0;
    tm[a->st_queue] += between;
    tm[a->st_other] += (q->done_ns - q->arrival_ns) - in_batches - in_spans - between;
    store_times(a, i, tm);
    return SP_OK;
}

static void paint_free(req_scratch *rs)
{
    if (!rs)
        return;
    free(rs->lk);
    free(rs->sh.slot);
    free(rs->bp);
    painter_free(&rs->p);
    free(rs->ss.c);
    free(rs->ss.heap);
    free(rs);
}

void sp_ana_paint_free(sp_ana *a)
{
    paint_free(a->paint);
    a->paint = NULL;
}

/* Where a partition thread lays the span pages it has read (under release_events): the stretch of one
 * per-request array its rows fill (the stage times, lives, padding times), [next, end) the whole pages
 * of it that no write has reached and no page has been moved to yet. */
typedef struct part_dest {
    uintptr_t base; /* the array */
    size_t width;   /* bytes a request */
    uintptr_t next, end;
} part_dest;

/* One thread's share of the per-request partition: requests [lo, hi) with its own scratch (the stage
 * lookup is shared, read-only). Each request writes only its own row of times, padding and life, so
 * the halves need no lock and the figures are those of one thread in order. Under release_events it
 * hands back the span pages it has read up to `limit` (discard_read_spans), moving what it can of them
 * under its own rows' pages in `dest`. */
typedef struct part_job {
    /* its own cache lines: the two threads' jobs lie side by side on the caller's stack, and one
     * thread's writes (the moves, the status) would otherwise take the line the other reads from */
    _Alignas(64) sp_ana *a;
    req_scratch *rs;
    size_t lo, hi;
    uintptr_t limit;
    part_dest dest[3];
    int moving;   /* pages are moved, not only discarded (sp_ana_move_pages and the kernel allow it) */
    size_t moves; /* mremap calls so far */
    sp_status st;
} part_job;

#define PART_PAGE ((uintptr_t)4096)
/* Each move can leave the process a mapping or two more (the kernel merges neighbours where it can);
 * past this many moves a thread only discards, so that the mappings stay far below the kernel's
 * limit (vm.max_map_count, 65,530 by default) whatever the trace's size: 2 GiB of rows a thread at
 * 1 MiB a move, about 45 M analysed requests on two threads. */
#define PART_MAX_MOVES ((size_t)2048)

/* The destinations of a thread: each array's whole pages inside [lo, hi)'s rows (a page shared with the
 * other thread's rows, or with bytes outside the array, is written where it is). */
static void part_dests(part_job *j)
{
    sp_ana *a = j->a;
    size_t ns = a->n_stages;
    j->dest[0] = (part_dest){a->times32 ? (uintptr_t)a->times32 : (uintptr_t)a->times,
                             ns * (a->times32 ? sizeof *a->times32 : sizeof *a->times), 0, 0};
    j->dest[1] = (part_dest){(uintptr_t)a->life, sizeof *a->life, 0, 0};
    j->dest[2] = (part_dest){(uintptr_t)a->padding, sizeof *a->padding, 0, 0};
    for (int d = 0; d < 3; d++) {
        part_dest *x = &j->dest[d];
        x->next = (x->base + j->lo * x->width + PART_PAGE - 1) & ~(PART_PAGE - 1);
        x->end = (x->base + j->hi * x->width) & ~(PART_PAGE - 1);
        if (x->end < x->next || !x->width)
            x->end = x->next;
    }
}

/* Moves read span pages [p, e) under the destinations' pages that request i and the later ones will
 * write, the one least far ahead of its writes first, 1 MiB at a time; returns where the pages not
 * moved start. Pages at and past a destination's write position (row i onwards) are untouched: rows
 * are written in order, only by this thread. */
static uintptr_t move_read_spans(part_job *j, size_t i, uintptr_t p, uintptr_t e)
{
    const uintptr_t step = (uintptr_t)1 << 20;
    while (p < e && j->moving && j->moves < PART_MAX_MOVES) {
        part_dest *best = NULL;
        uintptr_t best_ahead = 0;
        for (int d = 0; d < 3; d++) {
            part_dest *x = &j->dest[d];
            uintptr_t written = (x->base + i * x->width + PART_PAGE - 1) & ~(PART_PAGE - 1);
            if (x->next < written)
                x->next = written < x->end ? written : x->end;
            if (x->next < x->end && (!best || x->next - written < best_ahead)) {
                best = x;
                best_ahead = x->next - written;
            }
        }
        if (!best)
            break;
        uintptr_t len = e - p;
        if (len > step)
            len = step;
        if (len > best->end - best->next)
            len = best->end - best->next;
        if (sp_move_pages((void *)p, (void *)best->next, len) != 0) {
            j->moving = 0; /* not on this kernel or this mapping: discard from here on */
            break;
        }
        j->moves++;
        p += len;
        best->next += len;
    }
    return p;
}

/* Under release_events (sp_ana_releases_spans) each thread hands the span pages it has read back to the
 * kernel as it goes, so the spans' memory falls while the stage times' grows; where it can, it moves
 * them under the pages its next rows of stage times, lives and padding will fill instead, so that those
 * are not faulted in fresh (docs/analysis.md section 8, "Memory"). Spans are sorted by request, so a
 * thread's requests read one stretch of the array in order; the pages wholly between its first
 * request's spans and its current request's (request i's) were read by it alone (or by no one:
 * requests outside the analysis) and are read by no one again. The partial page at the stretch's start
 * may hold the other thread's spans and is kept. Nothing at or past `limit` is handed back: the
 * stretch's last pages stay in for the scratch stack (sp_ana_recycle_released). */
static void discard_read_spans(part_job *j, size_t i, uintptr_t *mark)
{
    const sp_ana *a = j->a;
    const sp_ev_request *q = &a->ev->requests[a->reqs[i]];
    if (!q->nspans)
        return;
    uintptr_t cur = (uintptr_t)(a->ev->spans + q->first_span);
    if (cur > j->limit)
        cur = j->limit;
    if (!*mark)
        *mark = cur; /* this thread's first span */
    else if (cur - *mark >= sp_ana_discard_step) {
        /* whole pages only: the page holding `cur` is kept until a later request's spans lie past it */
        uintptr_t p = (*mark + PART_PAGE - 1) & ~(PART_PAGE - 1), e = cur & ~(PART_PAGE - 1);
        if (e > p) {
            p = move_read_spans(j, i, p, e);
            sp_discard_pages((void *)p, e - p);
            *mark = e;
        }
    }
}

/* The whole pages of the spans of requests [lo, hi) (analysed positions) that lie in their last
 * `keep` bytes (all of them when they are fewer) in `out`; where discard_read_spans stops in `limit`
 * (UINTPTR_MAX when they have no span). Returns how many bytes of spans that keeps. */
static size_t kept_stretch(const sp_ana *a, size_t lo, size_t hi, size_t keep, uintptr_t *limit,
                           sp_ana_stretch *out)
{
    const sp_events *ev = a->ev;
    size_t f = lo, l = hi;
    while (f < hi && !ev->requests[a->reqs[f]].nspans)
        f++;
    while (l > f && !ev->requests[a->reqs[l - 1]].nspans)
        l--;
    *out = (sp_ana_stretch){NULL, 0};
    *limit = UINTPTR_MAX;
    if (f == l)
        return 0;
    const sp_ev_request *first = &ev->requests[a->reqs[f]], *last = &ev->requests[a->reqs[l - 1]];
    const uintptr_t page = PART_PAGE;
    uintptr_t s = (uintptr_t)(ev->spans + first->first_span);
    uintptr_t e = (uintptr_t)(ev->spans + last->first_span + last->nspans);
    uintptr_t from = e - s > keep ? e - keep : s;
    *limit = from;
    from = (from + page - 1) & ~(page - 1);
    size_t kept = (size_t)(e - *limit);
    e &= ~(page - 1);
    if (e > from)
        *out = (sp_ana_stretch){(void *)from, (size_t)(e - from)};
    return kept;
}

static void *part_run(void *arg)
{
    part_job *j = arg;
    sp_ana *a = j->a;
    req_scratch *rs = j->rs;
    const size_t hi = j->hi;
    const int discard = sp_ana_releases_spans(a);
    uintptr_t mark = 0;
    if (discard) {
        part_dests(j);
        j->moving = sp_ana_move_pages;
    }
    /* the status in a local, stored once: no write to the job per request */
    sp_status st = SP_OK;
    for (size_t i = j->lo; !st && i < hi; i++) {
        if (discard)
            discard_read_spans(j, i, &mark);
        st = partition_request(a, i, rs);
    }
    j->st = st;
    return NULL;
}

static size_t spans_to_keep(const sp_ana *a);

/* Under release_events: where each thread stops handing span pages back, so that spans_to_keep bytes
 * of the spans the partition reads stay in, half from the end of each thread's stretch (the rest of a
 * thread's stretch feeds its own rows' pages, sp_move_pages: a thread that kept everything would have
 * none to move), the rest of one too short from the other's; and where those pages are (a->spans_kept,
 * for sp_ana_recycle_released). */
static void keep_spans(sp_ana *a, part_job *first, part_job *second)
{
    a->spans_kept[0] = a->spans_kept[1] = (sp_ana_stretch){NULL, 0};
    first->limit = second->limit = UINTPTR_MAX;
    if (!sp_ana_releases_spans(a))
        return;
    size_t keep = spans_to_keep(a), used = 0;
    if (second->lo < second->hi)
        used = kept_stretch(a, second->lo, second->hi, keep / 2, &second->limit, &a->spans_kept[1]);
    used = kept_stretch(a, first->lo, first->hi, keep - used, &first->limit, &a->spans_kept[0]);
    if (second->lo < second->hi && keep - used > keep / 2) /* the first's stretch was short */
        kept_stretch(a, second->lo, second->hi, keep - used, &second->limit, &a->spans_kept[1]);
}

size_t sp_ana_two_threads_min = SP_ANA_TWO_THREADS_MIN;
int sp_ana_narrow = 1;
int sp_ana_part_fast = 1;
size_t sp_ana_max_segs = SP_ANA_MAX_SEGS;
size_t sp_ana_discard_step = SP_ANA_DISCARD_STEP;
size_t sp_ana_keep_per_request = SP_ANA_KEEP_PER_REQUEST;
size_t sp_ana_keep_spans_max = SP_ANA_KEEP_SPANS_MAX;
int sp_ana_move_pages = 1;

/* Under release_events: how many bytes of span pages the partition keeps in for the scratch stack
 * (docs/analysis.md section 8, "Memory"): what the steps after it take at once, sp_ana_keep_per_request
 * a request, less the launch calls, whose pages go to the stack too; none past sp_ana_keep_spans_max
 * requests. */
static size_t spans_to_keep(const sp_ana *a)
{
    size_t n = a->n_reqs, per = sp_ana_keep_per_request;
    if (n > sp_ana_keep_spans_max)
        return 0;
    size_t want = per && n > SIZE_MAX / per ? SIZE_MAX : n * per;
    size_t launches = a->ev->n_launches * sizeof *a->ev->launches;
    return want > launches ? want - launches : 0;
}

/* Keeps in the report how many stage spans reached outside their request's life and were clipped to
 * it, and the first such request (the earliest arrival, ties by earlier_request's key, so that the
 * report does not depend on the order of lines, DESIGN 8a), for the reports' data quality (docs/report-format.md), and says so on stderr. A warning, not
 * an error: the rule is documented (docs/analysis.md section 1), but a span outside its request is most
 * likely an instrumentation bug the user should hear of. SP_ERR_NOMEM when the names cannot be kept
 * (the analysis then fails as on any other allocation failure). */
static sp_status keep_spans_outside(sp_ana *a, const req_scratch *one, const req_scratch *two)
{
    uint64_t n = one->spans_outside + (two ? two->spans_outside : 0);
    if (!n)
        return SP_OK;
    const sp_events *ev = a->ev;
    const sp_ev_request *q = one->spans_outside ? &ev->requests[a->reqs[one->first_outside]] : NULL;
    if (two && two->spans_outside) {
        const sp_ev_request *q2 = &ev->requests[a->reqs[two->first_outside]];
        if (!q || earlier_request(ev, q2, q))
            q = q2;
    }
    char buf[SP_EV_ID_TEXT];
    const char *id = sp_ev_id_text(ev, q, buf, NULL), *path = sp_str_get(&ev->strings, ev->files[q->file].path);
    sp_report *r = a->r; /* NULL where a test runs the partition alone (sp_ana_partition) */
    if (r) {
        r->spans_clipped = n;
        r->spans_clipped_request = sp_report_strdup(r, id);
        r->spans_clipped_file = sp_report_strdup(r, path);
        if (!r->spans_clipped_request || !r->spans_clipped_file)
            return SP_ERR_NOMEM;
    }
    sp_log(SP_LOG_WARN, "%" PRIu64 " stage %s outside %s request's life [arrival, done) and %s clipped to it "
           "(docs/analysis.md section 1); the first: request \"%.64s\" in %s", n, n == 1 ? "span reaches" :
           "spans reach", n == 1 ? "its" : "their", n == 1 ? "was" : "were", id, path);
    return SP_OK;
}

sp_status sp_ana_partition_requests(sp_ana *a, char *err, size_t errlen)
{
    sp_status st = build_segments(a);
    if (st)
        return st;
    stage_set set;
    stage_set_init(&set);
    st = select_requests(a, &set, err, errlen);
    req_scratch *rs = st ? NULL : calloc(1, sizeof *rs);
    if (!rs) {
        free(set.slot);
        return st ? st : SP_ERR_NOMEM;
    }
    st = build_stage_rows(a, &set, &rs->lk, &rs->nlk, err, errlen);
    /* the loop stages' ids, from the named rows (the event set's name map is gone by now) */
    a->loop_stage[0] = a->loop_stage[1] = SP_EV_NONE;
    for (size_t k = 0; !st && k < a->n_named; k++) {
        const char *name = sp_str_get(&a->ev->strings, a->named_ids[k]);
        if (!strcmp(name, "event_loop"))
            a->loop_stage[0] = a->named_ids[k];
        else if (!strcmp(name, "event_loop_wait"))
            a->loop_stage[1] = a->named_ids[k];
    }
    if (!st)
        st = build_stage_hash(rs->lk, rs->nlk, &rs->sh);
    if (!st)
        stage_memo_init(&rs->ss, &rs->sh);
    if (st) {
        paint_free(rs);
        return st;
    }
    size_t n = a->n_reqs, ns = a->n_stages;
    /* every row is written whole (store_times): malloc, not calloc */
    if (sp_ana_narrow && a->max_life <= UINT32_MAX)
        a->times32 = malloc((n ? n * ns : 1) * sizeof *a->times32);
    else
        a->times = malloc((n ? n * ns : 1) * sizeof *a->times);
    /* every request's padding starts at 0 in partition_request: malloc, so that its pages are first
     * written by the partition (or moved under it) */
    a->padding = malloc((n ? n : 1) * sizeof *a->padding);
    a->life = malloc((n ? n : 1) * sizeof *a->life);
    if ((!a->times && !a->times32) || !a->padding || !a->life)
        st = SP_ERR_NOMEM;
    a->paint = rs; /* kept for sp_ana_request_pieces; sp_ana_free frees it */
    if (st)
        return st;
    /* Large sets: the second half on a second thread (docs/analysis.md, "Two threads"); one that cannot
     * be started leaves its half to this one. */
    part_job first = {a, rs, 0, n, UINTPTR_MAX, {{0}}, 0, 0, SP_OK};
    part_job second = {a, NULL, n, n, UINTPTR_MAX, {{0}}, 0, 0, SP_OK};
    pthread_t th;
    int threaded = 0;
    if (n >= sp_ana_two_threads_min && n >= 2 && (second.rs = calloc(1, sizeof *second.rs))) {
        second.rs->lk = rs->lk; /* shared, read-only; not freed through second.rs */
        second.rs->nlk = rs->nlk;
        second.rs->sh = rs->sh;
        stage_memo_init(&second.rs->ss, &second.rs->sh);
        second.lo = first.hi = n / 2;
        keep_spans(a, &first, &second);
        threaded = pthread_create(&th, NULL, part_run, &second) == 0;
        if (!threaded) {
            first.hi = n;
            second.lo = n;
        }
    }
    if (!threaded)
        keep_spans(a, &first, &second);
    part_run(&first);
    if (threaded)
        pthread_join(th, NULL);
    sp_status kept = first.st || second.st ? SP_OK : keep_spans_outside(a, rs, second.rs);
    if (second.rs) {
        second.rs->lk = NULL;
        second.rs->sh.slot = NULL;
        paint_free(second.rs);
    }
    return first.st ? first.st : second.st ? second.st : kept;
}

sp_status sp_ana_request_pieces(sp_ana *a, size_t i, const sp_ana_piece **out, size_t *n_out)
{
    req_scratch *rs = a->paint;
    if (!rs)
        return SP_ERR_STATE;
    const sp_ev_request *q = &a->ev->requests[a->reqs[i]];
    sp_status st = batch_pieces(a, q, rs);
    if (st)
        return st;
    /* DESIGN 3's precedence as levels: batch pieces (by label; disjoint), the request's own spans
     * (resolved to disjoint pieces), the time between its first and last batch windows, and `other`
     * under everything in [arrival, done) */
    rs->p.n_items = 0;
    for (size_t k = 0; k < rs->n_bp && !st; k++)
        st = painter_add(&rs->p, rs->bp[k].s, rs->bp[k].e, rs->bp[k].level, rs->bp[k].payload);
    /* with a client record, the spans' pieces in [client send, arrival) too (pre_arrival_spans) */
    uint64_t lo, hi;
    sp_ana_life_bounds(a->ev, q, &lo, &hi);
    if (!st)
        st = add_span_pieces(a, q, rs->lk, rs->nlk, &rs->sh, &rs->ss, &rs->p, SP_PIECE_SPAN, lo, q->done_ns);
    if (!st && rs->first_s != SP_TIME_NONE)
        st = painter_add(&rs->p, rs->first_s, rs->last_e, SP_PIECE_BETWEEN, 0);
    if (!st)
        st = painter_add(&rs->p, q->arrival_ns, q->done_ns, SP_PIECE_OTHER, 0);
    if (!st)
        st = painter_run(&rs->p);
    if (st)
        return st;
    *out = rs->p.out;
    *n_out = rs->p.n_out;
    return SP_OK;
}

sp_status sp_ana_partition(sp_ana *a, char *err, size_t errlen)
{
    sp_status st = sp_ana_devices(a, err, errlen);
    return st ? st : sp_ana_partition_requests(a, err, errlen);
}
