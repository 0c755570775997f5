/* The live metrics' device timeline: device work and batch windows as the tap reads them, swept into
 * the cost states of DESIGN 7 (useful, padding, copies, gap, no batch) slice by slice behind a
 * watermark. Work is recorded when it ends, so the watermark trails the present by the settle time,
 * a second and the longest interval seen: by then everything that started before it has come in, and
 * each slice is swept exactly as the analyzer sweeps a whole trace (src/analyze/cost.c), so the sums
 * of the slices are the whole window's figures. */
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "trace/tap_int.h"

#define DT_MAX_ITEMS ((size_t)4 << 20)       /* work and batches in flight, all devices together */
#define DT_MIN_STEP_NS 100000000ull          /* sweep when the watermark moved 100 ms or more */
#define DT_LONGEST_CAP_NS 60000000000ull     /* the lag never grows past a minute */
#define DT_CLOCK_SLACK_NS 3600000000000ull   /* work an hour or more away from now: another clock */

typedef struct dt_work {
    uint64_t s, e;
    uint8_t kind, untied;
} dt_work;

typedef struct dt_batch {
    uint64_t s, e;
    int64_t id;
    double waste;
} dt_batch;

typedef struct dt_piece {
    uint64_t s, e;
    double waste;
} dt_piece;

typedef struct dt_ival {
    uint64_t s, e;
} dt_ival;

typedef struct dt_dev {
    uint32_t id;
    dt_work *work;
    size_t nwork, capwork;
    size_t nuntied;              /* of the work held, how much has no batch (sp_devtime_untied) */
    dt_batch *batches;           /* windows whose start the watermark has not passed */
    size_t nb, capb;
    dt_piece *pieces;            /* windows made disjoint (the earlier batch holds the device), by start */
    size_t npc, cappc;
    uint64_t hold_until;         /* the latest end of the windows made into pieces */
    uint64_t kernels, copies;    /* seen since the last sweep */
} dt_dev;

struct sp_devtime {
    dt_dev dev[SP_MX_MAX_DEVICES];
    size_t n;
    size_t items;                /* work + batches + pieces held, all devices */
    uint64_t w;                  /* swept up to here */
    uint64_t longest;
    dt_ival *kl, *ul;            /* sweep scratch */
    size_t capkl, capul;
};

sp_status sp_devtime_create(uint64_t start_ns, sp_devtime **out)
{
    sp_devtime *d = calloc(1, sizeof *d);
    if (!d)
        return SP_ERR_NOMEM;
    d->w = start_ns;
    d->n = 1; /* device 0: the native format's batches are on it */
    *out = d;
    return SP_OK;
}

void sp_devtime_destroy(sp_devtime *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->dev[i].work);
        free(d->dev[i].batches);
        free(d->dev[i].pieces);
    }
    free(d->kl);
    free(d->ul);
    free(d);
}

static dt_dev *dev_get(sp_devtime *d, uint32_t id)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->dev[i].id == id)
            return &d->dev[i];
    if (d->n == SP_MX_MAX_DEVICES)
        return NULL;
    dt_dev *x = &d->dev[d->n++];
    memset(x, 0, sizeof *x);
    x->id = id;
    x->hold_until = d->w;
    return x;
}

/* Common checks of an interval on arrival: another clock, before the watermark (late). Clips a start
 * the watermark has passed. Returns false with the reason when it is left out. */
static bool admit(sp_devtime *d, uint64_t *s, uint64_t e, uint64_t now, int *lost)
{
    if (e < *s) {
        *lost = SP_MX_LOST_MALFORMED;
        return false;
    }
    if (*s + DT_CLOCK_SLACK_NS < now || *s > now + DT_CLOCK_SLACK_NS) {
        *lost = SP_MX_LOST_CLOCK;
        return false;
    }
    if (e <= d->w && e > *s) {
        *lost = SP_MX_LOST_LATE;
        return false;
    }
    if (*s < d->w)
        *s = d->w; /* the part before the watermark is lost; the rest still counts */
    if (d->items >= DT_MAX_ITEMS) {
        *lost = SP_MX_LOST_FULL;
        return false;
    }
    uint64_t len = e - *s;
    if (len > d->longest)
        d->longest = len < DT_LONGEST_CAP_NS ? len : DT_LONGEST_CAP_NS;
    return true;
}

bool sp_devtime_add_work(sp_devtime *d, uint32_t device, int kind, bool untied, uint64_t s, uint64_t e,
                         uint64_t now, int *lost_reason)
{
    dt_dev *x = dev_get(d, device);
    if (!x) {
        *lost_reason = SP_MX_LOST_FULL;
        return false;
    }
    if (kind == SP_DT_KERNEL)
        x->kernels++;
    else
        x->copies++;
    if (e == s)
        return true; /* counted, but covers no time */
    if (!admit(d, &s, e, now, lost_reason))
        return false;
    if (SP_GROW(x->work, x->capwork, x->nwork + 1, DT_MAX_ITEMS)) {
        *lost_reason = SP_MX_LOST_FULL;
        return false;
    }
    x->work[x->nwork++] = (dt_work){s, e, (uint8_t)kind, (uint8_t)untied};
    x->nuntied += untied;
    d->items++;
    return true;
}

bool sp_devtime_add_batch(sp_devtime *d, int64_t id, uint64_t s, uint64_t e, double waste, uint64_t now,
                          int *lost_reason)
{
    dt_dev *x = &d->dev[0];
    if (e == s)
        return true;
    if (!admit(d, &s, e, now, lost_reason))
        return false;
    if (SP_GROW(x->batches, x->capb, x->nb + 1, DT_MAX_ITEMS)) {
        *lost_reason = SP_MX_LOST_FULL;
        return false;
    }
    x->batches[x->nb++] = (dt_batch){s, e, id, waste};
    d->items++;
    return true;
}

void sp_devtime_untied(const sp_devtime *d, uint64_t s, uint64_t e,
                       void (*fn)(void *ctx, int kind, uint64_t s, uint64_t e), void *ctx)
{
    const dt_dev *x = &d->dev[0];
    /* every batch settles through here: with no untied work held (the usual case: all device work
     * names its batch) skip the scan, which would otherwise cost batches x work in flight */
    if (!x->nuntied)
        return;
    for (size_t i = 0; i < x->nwork; i++) {
        const dt_work *w = &x->work[i];
        if (w->untied && w->s < e && w->e > s)
            fn(ctx, w->kind, w->s, w->e);
    }
}

static int batch_cmp(const void *a, const void *b)
{
    const dt_batch *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int ival_cmp(const void *a, const void *b)
{
    const dt_ival *x = a, *y = b;
    return (x->s > y->s) - (x->s < y->s);
}

/* Sorts and merges intervals in place; returns the count of the disjoint union. */
static size_t merge(dt_ival *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, ival_cmp);
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i].s <= v[k].e) {
            if (v[i].e > v[k].e)
                v[k].e = v[i].e;
        } else {
            v[++k] = v[i];
        }
    }
    return k + 1;
}

static uint64_t total(const dt_ival *v, size_t n)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += v[i].e - v[i].s;
    return t;
}

/* |[s, e) intersect V| for disjoint sorted V. */
static uint64_t overlap(const dt_ival *v, size_t n, uint64_t s, uint64_t e)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n && v[i].s < e; i++) {
        uint64_t a = v[i].s > s ? v[i].s : s, b = v[i].e < e ? v[i].e : e;
        if (b > a)
            t += b - a;
    }
    return t;
}

/* Device x's slice [w0, w1) by state (DESIGN 7, as src/analyze/cost.c's device_states). */
static void sweep_device(sp_devtime *d, dt_dev *x, uint64_t w0, uint64_t w1, double st[SP_MX_DEV_STATES])
{
    /* windows that started before w1 become disjoint pieces, in start order */
    if (x->nb) {
        qsort(x->batches, x->nb, sizeof *x->batches, batch_cmp);
        size_t keep = 0;
        for (size_t i = 0; i < x->nb; i++) {
            const dt_batch *b = &x->batches[i];
            if (b->s >= w1) {
                x->batches[keep++] = *b;
                continue;
            }
            uint64_t s = b->s > x->hold_until ? b->s : x->hold_until;
            if (b->e > x->hold_until)
                x->hold_until = b->e;
            d->items--;
            if (b->e <= s)
                continue;
            if (SP_GROW(x->pieces, x->cappc, x->npc + 1, DT_MAX_ITEMS))
                continue; /* out of memory: the window reads as no batch */
            x->pieces[x->npc++] = (dt_piece){s, b->e, b->waste};
            d->items++;
        }
        x->nb = keep;
    }
    size_t nk = 0, nu = 0;
    if (SP_GROW(d->kl, d->capkl, x->nwork + 1, DT_MAX_ITEMS) || SP_GROW(d->ul, d->capul, x->nwork + 1, DT_MAX_ITEMS))
        return;
    size_t keep = 0;
    for (size_t i = 0; i < x->nwork; i++) {
        const dt_work *w = &x->work[i];
        if (w->s < w1) {
            uint64_t s = w->s > w0 ? w->s : w0, e = w->e < w1 ? w->e : w1;
            if (e > s) {
                if (w->kind == SP_DT_KERNEL)
                    d->kl[nk++] = (dt_ival){s, e};
                d->ul[nu++] = (dt_ival){s, e};
            }
        }
        if (w->e > w1) {
            x->work[keep++] = *w;
        } else {
            d->items--;
            x->nuntied -= w->untied;
        }
    }
    x->nwork = keep;
    nk = merge(d->kl, nk);
    nu = merge(d->ul, nu);
    uint64_t k_total = total(d->kl, nk), u_total = total(d->ul, nu);
    uint64_t w_total = 0, w_busy = 0;
    double pad = 0;
    size_t pk = 0;
    for (size_t i = 0; i < x->npc; i++) {
        const dt_piece *p = &x->pieces[i];
        uint64_t s = p->s > w0 ? p->s : w0, e = p->e < w1 ? p->e : w1;
        if (e > s) {
            w_total += e - s;
            w_busy += overlap(d->ul, nu, s, e);
            /* DESIGN section 7: kernel time in a batch window x that batch's waste is padding */
            pad += (double)overlap(d->kl, nk, s, e) * p->waste;
        }
        if (p->e > w1)
            x->pieces[pk++] = *p;
        else
            d->items--;
    }
    x->npc = pk;
    uint64_t gap = w_total - w_busy;
    st[SP_MX_DEV_PADDING] = pad;
    st[SP_MX_DEV_USEFUL] = (double)k_total - pad;
    st[SP_MX_DEV_COPIES] = (double)(u_total - k_total);
    st[SP_MX_DEV_GAP] = (double)gap;
    st[SP_MX_DEV_NO_BATCH] = (double)((w1 - w0) - u_total - gap);
}

void sp_devtime_sweep(sp_devtime *d, uint64_t now, uint64_t settle_ns, uint64_t force_to, sp_mx *m)
{
    uint64_t target;
    if (force_to) {
        target = force_to;
    } else {
        uint64_t lag = settle_ns + 1000000000ull + d->longest;
        target = now > lag ? now - lag : 0;
        if (target < d->w + DT_MIN_STEP_NS)
            target = 0;
    }
    for (size_t i = 0; i < d->n; i++) {
        dt_dev *x = &d->dev[i];
        if (x->kernels || x->copies) {
            sp_mx_add_activity(m, x->id, x->kernels, x->copies);
            x->kernels = x->copies = 0;
        }
    }
    if (target <= d->w)
        return;
    for (size_t i = 0; i < d->n; i++) {
        double st[SP_MX_DEV_STATES] = {0};
        sweep_device(d, &d->dev[i], d->w, target, st);
        sp_mx_add_device(m, d->dev[i].id, st);
    }
    d->w = target;
}
