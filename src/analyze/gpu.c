/* GPU timeline (DESIGN section 6): busy/idle/span and compute time as exact unions of device
 * intervals, HTA's per-stream idle breakdown (host_wait / kernel_wait / other), launch statistics
 * joined on correlation id, kernel time by name and copies by kind. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyze/analyze_int.h"

/* HTA's computation kernels exclude communication kernels: names containing "nccl" (any case). */
static int name_is_nccl(const char *s)
{
    for (; *s; s++)
        if (strncasecmp(s, "nccl", 4) == 0)
            return 1;
    return 0;
}

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

/* Launch calls by (file, correlation). When several carry one id, the earliest start wins, then the
 * earliest end, then the smaller name: never the first line (docs/analysis.md, "Ties"). */
typedef struct launch_index {
    sp_keymap map;
    uint32_t *launch;   /* dense index -> launch index */
} launch_index;

static int launch_better(const sp_events *ev, const sp_ev_launch *x, const sp_ev_launch *y)
{
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns;
    if (x->end_ns != y->end_ns)
        return x->end_ns < y->end_ns;
    return strcmp(sp_str_get(&ev->strings, x->name), sp_str_get(&ev->strings, y->name)) < 0;
}

static sp_status launch_index_build(const sp_events *ev, launch_index *li)
{
    sp_status st = sp_keymap_init(&li->map, ev->n_launches);
    if (st)
        return st;
    li->launch = malloc((ev->n_launches ? ev->n_launches : 1) * sizeof *li->launch);
    if (!li->launch)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < ev->n_launches; i++) {
        const sp_ev_launch *l = &ev->launches[i];
        if (!l->correlation || l->start_ns == SP_TIME_NONE || l->end_ns == SP_TIME_NONE ||
            l->end_ns < l->start_ns)
            continue;
        uint32_t d;
        int added;
        st = sp_keymap_get(&li->map, l->file, l->correlation, &d, &added);
        if (st)
            return st;
        if (added || launch_better(ev, l, &ev->launches[li->launch[d]]))
            li->launch[d] = (uint32_t)i;
    }
    return SP_OK;
}

static const sp_ev_launch *launch_of(const sp_events *ev, const launch_index *li, const sp_ev_activity *x)
{
    if (!x->correlation)
        return NULL;
    uint32_t d = sp_keymap_find(&li->map, x->file, x->correlation);
    return d == SP_EV_NONE ? NULL : &ev->launches[li->launch[d]];
}

static sp_status idle_breakdown(sp_ana *a, const launch_index *li)
{
    sp_events *ev = a->ev;
    sp_gpu_summary *g = &a->r->gpu;
    sp_keymap sm;
    sp_status st = sp_keymap_init(&sm, 64);
    if (st)
        return st;
    uint32_t *sid = malloc((ev->n_acts ? ev->n_acts : 1) * sizeof *sid);
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
        int added;
        st = sp_keymap_get(&sm, ((uint64_t)x->file << 32) | x->device, (uint64_t)x->stream, &sid[i], &added);
        if (st)
            goto out;
    }
    st = SP_ERR_NOMEM;
    size_t ns = sm.count;
    off = calloc(ns + 1, sizeof *off);
    order = malloc((ev->n_acts ? ev->n_acts : 1) * sizeof *order);
    keys = malloc((ns ? ns : 1) * sizeof *keys);
    g->idle_breakdown = calloc(ns ? ns : 1, sizeof *g->idle_breakdown);
    if (!off || !order || !keys || !g->idle_breakdown)
        goto out;
    g->n_streams = ns;
    /* counting sort by stream keeps each stream's events in start order (acts are sorted by start) */
    for (size_t i = 0; i < ev->n_acts; i++)
        if (sid[i] != SP_EV_NONE)
            off[sid[i] + 1]++;
    for (size_t s = 0; s < ns; s++)
        off[s + 1] += off[s];
    {
        size_t *fill = malloc((ns ? ns : 1) * sizeof *fill);
        if (!fill)
            goto out;
        memcpy(fill, off, ns * sizeof *fill);
        for (size_t i = 0; i < ev->n_acts; i++)
            if (sid[i] != SP_EV_NONE)
                order[fill[sid[i]]++] = (uint32_t)i;
        free(fill);
    }
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
        uint64_t prev_end = ev->acts[order[off[s]]].end_ns;
        for (size_t j = off[s] + 1; j < off[s + 1]; j++) {
            const sp_ev_activity *x = &ev->acts[order[j]];
            if (x->start_ns > prev_end) {
                uint64_t gap = x->start_ns - prev_end;
                const sp_ev_launch *l = launch_of(ev, li, x);
                /* DESIGN section 6 / HTA: host_wait when the launch started after the previous event
                 * ended; else kernel_wait under 30 us; else other */
                if (l && l->start_ns > prev_end)
                    row->host_wait_ns += gap;
                else if (gap < SP_ANA_KERNEL_WAIT_NS)
                    row->kernel_wait_ns += gap;
                else
                    row->other_ns += gap;
            }
            /* HTA measures from the immediately preceding event's end; by default we measure from
             * the latest end so far, so events overlapping on one stream never count idle twice */
            if (a->opt.hta_compat || x->end_ns > prev_end)
                prev_end = x->end_ns;
        }
    }
    st = SP_OK;
out:
    sp_keymap_free(&sm);
    free(sid);
    free(order);
    free(off);
    free(keys);
    return st;
}

static sp_status kernel_stats(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_gpu_summary *g = &a->r->gpu;
    sp_keymap km;
    sp_status st = sp_keymap_init(&km, 256);
    if (st)
        return st;
    uint32_t *kid = malloc((ev->n_acts ? ev->n_acts : 1) * sizeof *kid);
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
        int added;
        st = sp_keymap_get(&km, ev->acts[i].name, 0, &kid[i], &added);
        if (st)
            goto out;
    }
    st = SP_ERR_NOMEM;
    size_t nk = km.count;
    off = calloc(nk + 1, sizeof *off);
    dur = malloc((ev->n_acts ? ev->n_acts : 1) * sizeof *dur);
    ks = calloc(nk ? nk : 1, sizeof *ks);
    g->kernel_stats = calloc(nk ? nk : 1, sizeof *g->kernel_stats);
    if (!off || !dur || !ks || !g->kernel_stats)
        goto out;
    for (size_t i = 0; i < ev->n_acts; i++)
        if (kid[i] != SP_EV_NONE)
            off[kid[i] + 1]++;
    for (size_t k = 0; k < nk; k++)
        off[k + 1] += off[k];
    {
        size_t *fill = malloc((nk ? nk : 1) * sizeof *fill);
        if (!fill)
            goto out;
        memcpy(fill, off, nk * sizeof *fill);
        for (size_t i = 0; i < ev->n_acts; i++)
            if (kid[i] != SP_EV_NONE) {
                dur[fill[kid[i]]++] = ev->acts[i].end_ns - ev->acts[i].start_ns;
                ks[kid[i]].name = sp_str_get(&ev->strings, ev->acts[i].name);
            }
        free(fill);
    }
    for (size_t k = 0; k < nk; k++) {
        ks[k].kid = (uint32_t)k;
        for (size_t j = off[k]; j < off[k + 1]; j++)
            ks[k].total += dur[j];
    }
    qsort(ks, nk, sizeof *ks, kstat_cmp);
    for (size_t k = 0; k < nk; k++) {
        sp_kernel_stat *row = &g->kernel_stats[k];
        size_t id = ks[k].kid;
        row->name = sp_report_strdup(a->r, ks[k].name);
        if (!row->name)
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
    sp_keymap_free(&km);
    free(kid);
    free(off);
    free(dur);
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

sp_status sp_ana_gpu(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_gpu_summary *g = &a->r->gpu;
    /* busy and compute: unions over acts in start order (sorted by sp_ev_finish) */
    uint64_t first = SP_TIME_NONE, last = 0, busy = 0, compute = 0;
    uint64_t bs = 0, be = 0, cs = 0, ce = 0;
    int bopen = 0, copen = 0;
    static const char *const kind_names[] = {"h2d", "d2h", "d2d", "memset", "other"};
    uint64_t ccount[5] = {0}, cbytes[5] = {0}, ctime[5] = {0};
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
        if (bopen && x->start_ns <= be) {
            if (x->end_ns > be)
                be = x->end_ns;
        } else {
            if (bopen)
                busy += be - bs;
            bs = x->start_ns;
            be = x->end_ns;
            bopen = 1;
        }
        if (sync)
            continue; /* in span and busy only: not compute, not a copy */
        int ci = -1;
        switch (x->kind) {
        case SP_ACT_KERNEL:
            g->kernels++;
            if (!name_is_nccl(sp_str_get(&ev->strings, x->name))) {
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
    if (bopen)
        busy += be - bs;
    if (copen)
        compute += ce - cs;
    if (g->present) {
        /* DESIGN section 6: span = last end - first start, idle = span - busy,
         * non_compute = span - compute - idle */
        g->span_ns = last - first;
        g->busy_ns = busy;
        g->idle_ns = g->span_ns - busy;
        g->compute_ns = compute;
        g->non_compute_ns = g->span_ns - compute - g->idle_ns;
    }
    size_t nc = 0;
    for (int k = 0; k < 5; k++)
        nc += ccount[k] > 0;
    g->copy_stats = calloc(nc ? nc : 1, sizeof *g->copy_stats);
    if (!g->copy_stats)
        return SP_ERR_NOMEM;
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
    launch_index li = {0};
    sp_status st = launch_index_build(ev, &li);
    if (!st)
        st = idle_breakdown(a, &li);
    if (st)
        goto out;
    /* launch statistics: every device activity joined to its launch call on (file, correlation) */
    uint64_t *delays = malloc((ev->n_acts ? ev->n_acts : 1) * sizeof *delays);
    if (!delays) {
        st = SP_ERR_NOMEM;
        goto out;
    }
    size_t nd = 0;
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        if (a->act_dev[i] == SP_EV_NONE)
            continue;
        const sp_ev_launch *l = launch_of(ev, &li, x);
        if (!l)
            continue;
        /* DESIGN section 6: launch delay = GPU start - end of the launch call, floored at 0 */
        uint64_t d = x->start_ns > l->end_ns ? x->start_ns - l->end_ns : 0;
        delays[nd++] = d;
        g->launch_delay_sum_ns += d;
        if (d > g->launch_delay_max_ns)
            g->launch_delay_max_ns = d;
        uint64_t cpu = l->end_ns - l->start_ns, gpu = x->end_ns - x->start_ns;
        g->launch_cpu_sum_ns += cpu;
        g->launch_gpu_sum_ns += gpu;
        if (x->kind == SP_ACT_KERNEL && gpu < cpu)
            g->short_kernels++;
    }
    g->launches_joined = nd;
    st = sp_ana_quantiles(delays, nd, &g->launch_delay);
    free(delays);
    if (!st)
        st = kernel_stats(a);
out:
    sp_keymap_free(&li.map);
    free(li.launch);
    return st;
}
