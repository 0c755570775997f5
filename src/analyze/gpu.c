/* GPU timeline (DESIGN section 6): busy/idle/span and compute time as exact unions of device
 * intervals, HTA's per-stream idle breakdown (host_wait / kernel_wait / other), kernel time by name,
 * copies by kind and the device kind; it runs the launch statistics (gpu_launch.c), the step split
 * (gpu_steps.c) and, under hta_compat, HTA's own temporal breakdown (gpu_hta.c). */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

struct stream_key {
    uint32_t file, device;
    int64_t stream;
    uint32_t sid;
};

static int stream_key_cmp(const void *a, const void *b)
{
    const struct stream_key *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->stream != y->stream)
        return x->stream < y->stream ? -1 : 1;
    return (x->file > y->file) - (x->file < y->file);
}

struct kstat_tmp {
    uint32_t kid;
    uint64_t total;
    const char *name;
};

static int kstat_cmp(const void *a, const void *b)
{
    const struct kstat_tmp *x = a, *y = b;
    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* One stream gap of the idle breakdown, by category; the part inside the step windows also goes to the
 * steps' inside figures. */
static void count_gap(sp_gpu_summary *g, sp_stream_idle *row, int cat, int64_t from, int64_t to, const sp_ival *win,
                      size_t nwin)
{
    uint64_t gap = (uint64_t)(to - from);
    uint64_t in = nwin ? sp_ival_clip(win, nwin, from > 0 ? (uint64_t)from : 0, (uint64_t)to) : 0;
    if (cat == 0) {
        row->host_wait_ns += gap;
        g->steps.host_wait_inside_ns += in;
    } else if (cat == 1) {
        row->kernel_wait_ns += gap;
        g->steps.kernel_wait_inside_ns += in;
    } else {
        row->other_ns += gap;
        g->steps.other_inside_ns += in;
    }
}

/* Groups the activities by a dense id (SP_EV_NONE: left out) with a counting sort: group k's
 * activities are order[off[k] .. off[k+1]), in their order in the set (start order). */
static sp_status group_acts(sp_ana_scratch *sc, const uint32_t *id, size_t n, size_t ngroups, size_t **off_out,
                            uint32_t **order_out)
{
    size_t *off = calloc(ngroups + 1, sizeof *off);
    size_t *fill = malloc((ngroups ? ngroups : 1) * sizeof *fill);
    if (!off || !fill) {
        free(off);
        free(fill);
        return SP_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (id[i] != SP_EV_NONE)
            off[id[i] + 1]++;
    for (size_t k = 0; k < ngroups; k++)
        off[k + 1] += off[k];
    /* sized by the activities grouped, not by all of them */
    uint32_t *order = sp_ana_scratch_get(sc, off[ngroups] * sizeof *order); /* sp_ana_scratch_put it */
    if (!order) {
        free(off);
        free(fill);
        return SP_ERR_NOMEM;
    }
    memcpy(fill, off, ngroups * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        if (id[i] != SP_EV_NONE)
            order[fill[id[i]]++] = (uint32_t)i;
    free(fill);
    *off_out = off;
    *order_out = order;
    return SP_OK;
}

static sp_status idle_breakdown(sp_ana *a, const sp_ana_launches *li, const sp_ival *win, size_t nwin)
{
    sp_events *ev = a->ev;
    sp_gpu_summary *g = &a->r->gpu;
    sp_pairmap sm;
    sp_status st = sp_pairmap_init(&sm, 64);
    if (st)
        return st;
    sp_pair_memo smemo;
    sp_pair_memo_init(&smemo);
    uint32_t *sid = sp_ana_scratch_get(a->scratch, ev->n_acts * sizeof *sid);
    uint32_t *order = NULL;
    size_t *off = NULL;
    struct stream_key *keys = NULL;
    st = SP_ERR_NOMEM;
    if (!sid)
        goto out;
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        sid[i] = SP_EV_NONE;
        if (a->act_dev[i] == SP_EV_NONE)
            continue;
        st = sp_pair_memo_get(&smemo, &sm, ((uint64_t)x->file << 32) | x->device, (uint64_t)x->stream, &sid[i]);
        if (st)
            goto out;
    }
    st = SP_ERR_NOMEM;
    size_t ns = sm.count;
    keys = malloc((ns ? ns : 1) * sizeof *keys);
    g->idle_breakdown = calloc(ns ? ns : 1, sizeof *g->idle_breakdown);
    /* each stream's events stay in start order (acts are sorted by start) */
    if (!keys || !g->idle_breakdown || group_acts(a->scratch, sid, ev->n_acts, ns, &off, &order))
        goto out;
    sp_ana_scratch_put(a->scratch, sid); /* its last reader was the grouping */
    sid = NULL;
    g->n_streams = ns;
    for (size_t s = 0; s < ns; s++) {
        const sp_ev_activity *x0 = &ev->acts[order[off[s]]];
        keys[s] = (struct stream_key){x0->file, x0->device, x0->stream, (uint32_t)s};
    }
    qsort(keys, ns, sizeof *keys, stream_key_cmp);
    for (size_t k = 0; k < ns; k++) {
        size_t s = keys[k].sid;
        sp_stream_idle *row = &g->idle_breakdown[k];
        row->stream = keys[k].stream;
        row->device = keys[k].device;
        /* signed: under hta_compat a sub-us event's end is 1 us before its start, possibly before 0 */
        int64_t prev_end = sp_ana_hta_end(a, &ev->acts[order[off[s]]]);
        for (size_t j = off[s] + 1; j < off[s + 1]; j++) {
            const sp_ev_activity *x = &ev->acts[order[j]];
            int64_t start = (int64_t)x->start_ns, end = sp_ana_hta_end(a, x);
            if (start > prev_end) {
                uint64_t gap = (uint64_t)(start - prev_end);   /* the gap, what HTA sums */
                const sp_ev_launch *l = sp_ana_launch_of(ev, li, x);
                /* DESIGN section 6 / HTA: host_wait when the launch started after the previous event
                 * ended; else kernel_wait under 30 us; else other */
                int cat = l && (int64_t)l->start_ns > prev_end ? 0 : gap < SP_ANA_KERNEL_WAIT_NS ? 1 : 2;
                count_gap(g, row, cat, prev_end, start, win, nwin);
            }
            /* HTA measures from the immediately preceding event's end (also when that end precedes its
             * start); by default we measure from the latest end so far, so events overlapping on one
             * stream never count idle twice */
            if (a->opt.hta_compat || end > prev_end)
                prev_end = end;
        }
    }
    st = SP_OK;
out:
    sp_pairmap_free(&sm);
    sp_ana_scratch_put(a->scratch, sid);
    sp_ana_scratch_put(a->scratch, order);
    free(off);
    free(keys);
    return st;
}

static sp_status kernel_stats(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_gpu_summary *g = &a->r->gpu;
    sp_pairmap km;
    sp_status st = sp_pairmap_init(&km, 256);
    if (st)
        return st;
    sp_pair_memo kmemo;
    sp_pair_memo_init(&kmemo);
    uint32_t *kid = sp_ana_scratch_get(a->scratch, ev->n_acts * sizeof *kid);
    uint32_t *order = NULL;
    size_t *off = NULL;
    uint64_t *dur = NULL;
    struct kstat_tmp *ks = NULL;
    st = SP_ERR_NOMEM;
    if (!kid)
        goto out;
    for (size_t i = 0; i < ev->n_acts; i++) {
        kid[i] = SP_EV_NONE;
        if (a->act_dev[i] == SP_EV_NONE || ev->acts[i].kind != SP_ACT_KERNEL)
            continue;
        st = sp_pair_memo_get(&kmemo, &km, ev->acts[i].name, 0, &kid[i]);
        if (st)
            goto out;
    }
    st = SP_ERR_NOMEM;
    size_t nk = km.count;
    sp_pairmap_free(&km);
    if (group_acts(a->scratch, kid, ev->n_acts, nk, &off, &order))
        goto out;
    sp_ana_scratch_put(a->scratch, kid); /* its last reader was the grouping */
    kid = NULL;
    dur = sp_ana_scratch_get(a->scratch, off[nk] * sizeof *dur); /* one per kernel, in `order` */
    ks = calloc(nk ? nk : 1, sizeof *ks);
    g->kernel_stats = calloc(nk ? nk : 1, sizeof *g->kernel_stats);
    if (!dur || !ks || !g->kernel_stats)
        goto out;
    for (size_t k = 0; k < nk; k++) {
        ks[k].kid = (uint32_t)k;
        ks[k].name = sp_str_get(&ev->strings, ev->acts[order[off[k]]].name);
        for (size_t j = off[k]; j < off[k + 1]; j++) {
            const sp_ev_activity *x = &ev->acts[order[j]];
            dur[j] = x->end_ns - x->start_ns;
            ks[k].total += dur[j];
        }
    }
    qsort(ks, nk, sizeof *ks, kstat_cmp);
    for (size_t k = 0; k < nk; k++) {
        sp_kernel_stat *row = &g->kernel_stats[k];
        size_t id = ks[k].kid;
        int demangled;
        row->name = sp_ana_display_name(a->r, ks[k].name, &demangled);
        if (!row->name || (demangled && !(row->mangled = sp_report_strdup(a->r, ks[k].name))))
            goto out;
        row->count = off[id + 1] - off[id];
        row->total_ns = ks[k].total;
        st = sp_ana_quantiles(dur + off[id], row->count, &row->q);
        if (st)
            goto out;
        st = SP_ERR_NOMEM;
    }
    g->n_kernel_stats = nk;
    st = SP_OK;
out:
    sp_pairmap_free(&km);
    sp_ana_scratch_put(a->scratch, kid);
    sp_ana_scratch_put(a->scratch, order);
    free(off);
    sp_ana_scratch_put(a->scratch, dur);
    free(ks);
    return st;
}

/* Under hta_compat a synchronisation on a stream is a GPU event as HTA defines it
 * (data/kineto/README.md): it counts in the span (kernel_time) and in the busy union, so as
 * non-compute time; it stays out of compute, copies, launch statistics, kernel statistics and the
 * idle breakdown, which HTA computes over kernels, copies and memsets only. act_dev is SP_EV_NONE
 * for every sync, so the other parts of the analysis never see them. */
static int hta_sync(const sp_ana *a, const sp_ev_activity *x)
{
    return a->opt.hta_compat && x->kind == SP_ACT_SYNC && x->stream != -1 && x->start_ns != SP_TIME_NONE &&
           x->end_ns != SP_TIME_NONE && x->end_ns >= x->start_ns;
}

/* docs/analysis.md section 4, "Device kind": judged over the files with device work (all files when
 * none has any, by their `device` property alone). */
static sp_status device_kind(sp_ana *a)
{
    const sp_events *ev = a->ev;
    uint8_t *has = calloc(ev->n_files ? ev->n_files : 1, 1);
    if (!has)
        return SP_ERR_NOMEM;
    int any = 0;
    for (size_t i = 0; i < ev->n_acts; i++)
        if (a->act_dev[i] != SP_EV_NONE && ev->acts[i].file < ev->n_files) {
            has[ev->acts[i].file] = 1;
            any = 1;
        }
    size_t cpu = 0, gpu = 0, unknown = 0;
    for (uint32_t f = 0; f < ev->n_files; f++) {
        if (any && !has[f])
            continue;
        const char *d = sp_ev_get_prop(ev, f, "device");
        if (d && strcasecmp(d, "cpu") == 0)
            cpu++;
        else if (d || (any && (ev->files[f].format == SP_FORMAT_KINETO || ev->files[f].format == SP_FORMAT_NSYS)))
            gpu++;   /* Kineto and Nsight traces record GPU work; any other `device` value is a GPU */
        else
            unknown++;
    }
    free(has);
    a->r->gpu.device_kind = cpu && gpu     ? SP_DEVICE_MIXED
                          : unknown        ? SP_DEVICE_UNKNOWN
                          : cpu            ? SP_DEVICE_CPU
                          : gpu            ? SP_DEVICE_GPU
                                           : SP_DEVICE_UNKNOWN;
    return SP_OK;
}

/* The busy union, built in start order; its intervals are kept only when the step split needs them
 * (`v` non-NULL), so a trace without step marks costs no memory per event here. */
typedef struct busy_union {
    sp_ival cur;
    int open;
    uint64_t total;
    sp_ival *v;
    size_t n;
} busy_union;

static void busy_close(busy_union *b)
{
    if (!b->open)
        return;
    b->total += b->cur.e - b->cur.s;
    if (b->v)
        b->v[b->n++] = b->cur;
    b->open = 0;
}

static void busy_add(busy_union *b, uint64_t s, uint64_t e)
{
    if (b->open && s <= b->cur.e) {
        if (e > b->cur.e)
            b->cur.e = e;
        return;
    }
    busy_close(b);
    b->cur = (sp_ival){s, e};
    b->open = 1;
}

sp_status sp_ana_gpu(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_gpu_summary *g = &a->r->gpu;
    /* busy and compute: unions over acts in start order (sorted by sp_ev_finish); the busy union is
     * kept as intervals for the step split */
    busy_union bu = {{0, 0}, 0, 0, NULL, 0};
    if (ev->n_marks && !(bu.v = malloc((ev->n_acts ? ev->n_acts : 1) * sizeof *bu.v)))
        return SP_ERR_NOMEM;
    uint64_t first = SP_TIME_NONE, last = 0, compute = 0;
    uint64_t cs = 0, ce = 0;
    int copen = 0;
    static const char *const kind_names[] = {"h2d", "d2h", "d2d", "memset", "other"};
    uint64_t ccount[5] = {0}, cbytes[5] = {0}, ctime[5] = {0};
    sp_name_memo nccl;
    sp_name_memo_init(&nccl, sp_ana_is_nccl);
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        int sync = hta_sync(a, x);
        if (a->act_dev[i] == SP_EV_NONE && !sync)
            continue;
        g->present = 1;
        if (first == SP_TIME_NONE)
            first = x->start_ns;
        if (x->end_ns > last)
            last = x->end_ns;
        busy_add(&bu, x->start_ns, x->end_ns);
        if (sync)
            continue; /* in span and busy only: not compute, not a copy */
        int ci = -1;
        switch (x->kind) {
        case SP_ACT_KERNEL:
            g->kernels++;
            if (!sp_name_memo_get(&nccl, &ev->strings, x->name)) {
                if (copen && x->start_ns <= ce) {
                    if (x->end_ns > ce)
                        ce = x->end_ns;
                } else {
                    if (copen)
                        compute += ce - cs;
                    cs = x->start_ns;
                    ce = x->end_ns;
                    copen = 1;
                }
            }
            break;
        case SP_ACT_H2D: ci = 0; break;
        case SP_ACT_D2H: ci = 1; break;
        case SP_ACT_D2D: ci = 2; break;
        case SP_ACT_MEMSET: ci = 3; break;
        default: ci = 4; break;
        }
        if (ci >= 0) {
            if (ci == 3)
                g->memsets++;
            else
                g->copies++;
            ccount[ci]++;
            cbytes[ci] += x->bytes;
            ctime[ci] += x->end_ns - x->start_ns;
        }
    }
    if (copen)
        compute += ce - cs;
    busy_close(&bu);
    if (g->present) {
        /* DESIGN section 6: span = last end - first start, idle = span - busy,
         * non_compute = span - compute - idle */
        g->span_ns = last - first;
        g->busy_ns = bu.total;
        g->idle_ns = g->span_ns - g->busy_ns;
        g->compute_ns = compute;
        g->non_compute_ns = g->span_ns - compute - g->idle_ns;
    }
    sp_ana_launches li;
    sp_ival *win = NULL;
    size_t nwin = 0;
    sp_status st = SP_ERR_NOMEM;
    size_t nc = 0;
    for (int k = 0; k < 5; k++)
        nc += ccount[k] > 0;
    g->copy_stats = calloc(nc ? nc : 1, sizeof *g->copy_stats);
    if (!g->copy_stats) {
        memset(&li, 0, sizeof li);
        goto out;
    }
    for (int k = 0; k < 5; k++) {
        if (!ccount[k])
            continue;
        sp_copy_stat *c = &g->copy_stats[g->n_copy_stats++];
        c->kind = kind_names[k];
        c->count = ccount[k];
        c->bytes = cbytes[k];
        c->total_ns = ctime[k];
        /* bytes per ns is GB/s */
        c->gbytes_per_s = ctime[k] ? (double)cbytes[k] / (double)ctime[k] : 0.0;
    }
    st = sp_ana_launches_build(ev, &li);
    if (!st)
        st = sp_ana_step_windows(a, &li, &win, &nwin);
    if (!st)
        st = idle_breakdown(a, &li, win, nwin);
    if (!st) {
        sp_ana_step_figures(a, bu.v, bu.n, win, nwin);
        st = sp_ana_launch_stats(a, &li);
    }
    /* the join, the windows and the busy union have had their last readers */
    sp_ana_launches_free(&li);
    free(win);
    win = NULL;
    free(bu.v);
    bu.v = NULL;
    if (!st)
        st = kernel_stats(a);
    if (!st)
        st = device_kind(a);
    if (!st)
        st = sp_ana_gpu_hta(a);
out:
    sp_ana_launches_free(&li);
    free(win);
    free(bu.v);
    return st;
}
