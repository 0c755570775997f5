/* GPU timeline (DESIGN section 6): busy/idle/span and compute time as exact unions of device
 * intervals, HTA's per-stream idle breakdown (host_wait / kernel_wait / other), kernel time by name,
 * copies by kind and the device kind; it runs the launch statistics (gpu_launch.c), the step split
 * (gpu_steps.c) and, under hta_compat, HTA's own temporal breakdown (gpu_hta.c). */
#include <math.h>
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

/* Per stream of the idle breakdown while the activity is walked: its row, its key, the end its next
 * gap is measured from. */
struct stream_acc {
    sp_stream_idle row;
    struct stream_key key;
    int64_t prev_end;
};

/* One pass over the activity in start order: each activity's stream numbered (in order of first
 * appearance) and its gap to the stream's previous end counted at once, each stream's state in its
 * own record; a stream's activities come in the same order as when grouped, and the sums are of
 * integers, so the rows are those of a walk stream by stream. */
static sp_status idle_breakdown(sp_ana *a, const sp_ana_launches *li, const sp_ival *win, size_t nwin,
                                sp_ana_launch_acc *ls)
{
    sp_events *ev = a->ev;
    sp_gpu_summary *g = &a->r->gpu;
    sp_pairmap sm;
    sp_status st = sp_pairmap_init(&sm, 64);
    if (st)
        return st;
    /* the last activity's stream key and number before the memo: a device's activities mostly follow
     * on one stream, and the number is a function of the key (the map numbers a key once) */
    uint64_t last_k1 = 0, last_k2 = 0;
    uint32_t last_s = SP_HMAP_NONE;
    sp_pair_memo smemo;
    sp_pair_memo_init(&smemo);
    int hta = a->opt.hta_compat;
    struct stream_acc *acc = NULL;
    size_t seen = 0, cap = 0;
    struct stream_key *keys = NULL;
    for (size_t i = 0; i < ev->n_acts; i++) {
        if (a->act_dev[i] == SP_EV_NONE)
            continue;
        const sp_ev_activity *x = &ev->acts[i];
        uint32_t s;
        uint64_t k1 = ((uint64_t)x->file << 32) | x->device, k2 = x->stream_ix; /* one index a value */
        if (last_s != SP_HMAP_NONE && k1 == last_k1 && k2 == last_k2) {
            s = last_s;
        } else {
            st = sp_pair_memo_get(&smemo, &sm, k1, k2, &s);
            if (st)
                goto out;
            last_k1 = k1;
            last_k2 = k2;
            last_s = s;
        }
        /* the launch statistics in the same pass: each activity's launch call looked up once */
        uint32_t slot = sp_ana_launch_slot_inl(li, x);
        sp_ana_launch_stats_add(a, li, ls, x, slot);
        /* signed: under hta_compat a sub-us event's end is 1 us before its start, possibly before 0 */
        int64_t start = (int64_t)x->start_ns, end = hta ? sp_ana_hta_end(a, x) : (int64_t)x->end_ns;
        if (s >= seen) { /* a new stream: its first activity opens it (s == seen) */
            if (seen == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct stream_acc *n2 = realloc(acc, nc * sizeof *n2);
                st = SP_ERR_NOMEM;
                if (!n2)
                    goto out;
                acc = n2;
                cap = nc;
            }
            memset(&acc[seen], 0, sizeof acc[seen]);
            acc[seen].key = (struct stream_key){x->file, x->device, sp_ev_act_stream(ev, x), s};
            acc[seen].prev_end = end;
            seen++;
            continue;
        }
        struct stream_acc *sa = &acc[s];
        int64_t prev_end = sa->prev_end;
        if (start > prev_end) {
            uint64_t gap = (uint64_t)(start - prev_end); /* the gap, what HTA sums */
            /* DESIGN section 6 / HTA: host_wait when the launch started after the previous event
             * ended; else kernel_wait under 30 us; else other */
            int cat = slot != SP_EV_NONE && (int64_t)sp_ana_launch_start(li, slot) > prev_end ? 0
                      : gap < SP_ANA_KERNEL_WAIT_NS                                            ? 1
                                                                                               : 2;
            count_gap(g, &sa->row, cat, prev_end, start, win, nwin);
        }
        /* HTA measures from the immediately preceding event's end (also when that end precedes its
         * start); by default we measure from the latest end so far, so events overlapping on one
         * stream never count idle twice */
        if (hta || end > prev_end)
            sa->prev_end = end;
    }
    st = SP_ERR_NOMEM;
    size_t ns = seen;
    keys = malloc((ns ? ns : 1) * sizeof *keys);
    g->idle_breakdown = calloc(ns ? ns : 1, sizeof *g->idle_breakdown);
    if (!keys || !g->idle_breakdown)
        goto out;
    g->n_streams = ns;
    for (size_t s = 0; s < ns; s++)
        keys[s] = acc[s].key;
    qsort(keys, ns, sizeof *keys, stream_key_cmp);
    for (size_t k = 0; k < ns; k++) {
        sp_stream_idle *row = &g->idle_breakdown[k];
        *row = acc[keys[k].sid].row;
        row->stream = keys[k].stream;
        row->device = keys[k].device;
    }
    st = SP_OK;
out:
    sp_pairmap_free(&sm);
    free(acc);
    free(keys);
    return st;
}

/* Kernel time by name: sp_ana_gpu's pass over the activity numbers the kernels' names (in order of
 * first appearance) and counts each name's kernels (kernel_count), then kernel_stats writes each
 * kernel's duration into its name's segment of `dur`, in start order (the grouped order), reading
 * the activity in order once more. */
#define KNAME_SLOTS 64
typedef struct kernel_counts {
    sp_pairmap km;       /* (name, 0) -> the name's number */
    /* A direct-mapped memo of a kernel name id's number and its sp_ana_is_nccl answer, both functions
     * of the id alone (the map numbers a name once), so a hit gives what asking gives; the slot is the
     * id's Fibonacci hash (one multiply; the ids are few per trace). SP_EV_NONE: an empty slot, never
     * stored, so an unnamed kernel always asks. */
    sp_str mid[KNAME_SLOTS];
    uint32_t mk[KNAME_SLOTS];
    uint8_t mnccl[KNAME_SLOTS];
    size_t *off, cap;    /* off[k + 1]: name k's kernels (summed into offsets by kernel_stats) */
    uint32_t *first;     /* each name's first kernel */
} kernel_counts;

static sp_status kernel_counts_init(kernel_counts *kc)
{
    memset(kc, 0, sizeof *kc);
    for (size_t h = 0; h < KNAME_SLOTS; h++)
        kc->mid[h] = SP_EV_NONE;
    return sp_pairmap_init(&kc->km, 256);
}

/* The number of kernel name `id` (numbered in order of first asking) and whether it is a
 * communication kernel (*nccl, when not NULL). */
static inline sp_status kernel_name(kernel_counts *kc, const sp_strtab *t, sp_str id, uint32_t *k, int *nccl)
{
    uint32_t h = (uint32_t)(((uint64_t)id * 0x9e3779b97f4a7c15ull) >> 58); /* 6 bits: 64 slots */
    if (kc->mid[h] == id && id != SP_EV_NONE) {
        *k = kc->mk[h];
        if (nccl)
            *nccl = kc->mnccl[h];
        return SP_OK;
    }
    int added;
    sp_status st = sp_pairmap_get(&kc->km, id, 0, k, &added);
    if (st)
        return st;
    int c = sp_ana_is_nccl(sp_str_get(t, id)) != 0;
    if (nccl)
        *nccl = c;
    if (id != SP_EV_NONE) {
        kc->mid[h] = id;
        kc->mk[h] = *k;
        kc->mnccl[h] = (uint8_t)c;
    }
    return SP_OK;
}

static void kernel_counts_free(kernel_counts *kc)
{
    sp_pairmap_free(&kc->km);
    free(kc->off);
    free(kc->first);
    kc->off = NULL;
    kc->first = NULL;
}

/* Kernel i (a device, kind SP_ACT_KERNEL), name number k, into its name's count. */
static sp_status kernel_count(kernel_counts *kc, uint32_t k, size_t i)
{
    if (k + 1 >= kc->cap) { /* a new name is the next number */
        size_t nc = kc->cap ? kc->cap * 2 : 64;
        size_t *o2 = realloc(kc->off, nc * sizeof *o2);
        if (!o2)
            return SP_ERR_NOMEM;
        kc->off = o2;
        uint32_t *f2 = realloc(kc->first, nc * sizeof *f2);
        if (!f2)
            return SP_ERR_NOMEM;
        kc->first = f2;
        memset(kc->off + kc->cap, 0, (nc - kc->cap) * sizeof *kc->off);
        kc->cap = nc;
    }
    if (!kc->off[k + 1])
        kc->first[k] = (uint32_t)i;
    kc->off[k + 1]++;
    return SP_OK;
}

static sp_status kernel_stats(sp_ana *a, kernel_counts *kc)
{
    sp_events *ev = a->ev;
    sp_gpu_summary *g = &a->r->gpu;
    size_t *fill = NULL;
    uint64_t *dur = NULL;
    struct kstat_tmp *ks = NULL;
    sp_status st = SP_ERR_NOMEM;
    size_t nk = kc->km.count;
    if (!kc->off && !(kc->off = calloc(1, sizeof *kc->off)))
        goto out;
    size_t *off = kc->off;
    off[0] = 0;
    for (size_t k = 0; k < nk; k++)
        off[k + 1] += off[k];
    fill = malloc((nk ? nk : 1) * sizeof *fill);
    dur = sp_ana_scratch_get(a->scratch, off[nk] * sizeof *dur); /* one per kernel, grouped by name */
    ks = calloc(nk ? nk : 1, sizeof *ks);
    g->kernel_stats = calloc(nk ? nk : 1, sizeof *g->kernel_stats);
    if (!fill || !dur || !ks || !g->kernel_stats)
        goto out;
    memcpy(fill, off, nk * sizeof *fill);
    for (size_t i = 0; nk && i < ev->n_acts; i++) {
        if (a->act_dev[i] == SP_EV_NONE || ev->acts[i].kind != SP_ACT_KERNEL)
            continue;
        uint32_t k;
        st = kernel_name(kc, &ev->strings, sp_ev_act_name(&ev->acts[i]), &k, NULL); /* numbered already */
        if (st)
            goto out;
        uint64_t d = ev->acts[i].end_ns - ev->acts[i].start_ns;
        dur[fill[k]++] = d;
        ks[k].total += d;
    }
    st = SP_ERR_NOMEM;
    sp_pairmap_free(&kc->km);
    for (size_t k = 0; k < nk; k++) {
        ks[k].kid = (uint32_t)k;
        ks[k].name = sp_str_get(&ev->strings, sp_ev_act_name(&ev->acts[kc->first[k]]));
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
        /* selected, not sorted: nobody keeps the column (percentile.c: the same figures) */
        st = sp_ana_quantiles_select_in(a->scratch, dur + off[id], row->count, &row->q);
        if (st)
            goto out;
        st = SP_ERR_NOMEM;
    }
    g->n_kernel_stats = nk;
    st = SP_OK;
out:
    free(fill);
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
    return a->opt.hta_compat && x->kind == SP_ACT_SYNC && sp_ev_act_stream(a->ev, x) != -1 &&
           x->start_ns != SP_TIME_NONE &&
           x->end_ns != SP_TIME_NONE && x->end_ns >= x->start_ns;
}

/* docs/analysis.md section 4, "Device kind": judged over the files with device work (all files when
 * none has any, by their `device` property alone). */
static sp_status device_kind(sp_ana *a, const uint8_t *has, int any)
{
    const sp_events *ev = a->ev;
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

sp_status sp_ana_gpu_join(sp_ana *a, sp_ana_launches *li)
{
    /* under release_events nothing reads the set's launch calls after this step: the join may write
     * its own, half as large, over them (docs/analysis.md section 8, "Memory") */
    sp_status st = sp_ana_launches_build(a->ev, li, a->opt.release_events);
    a->launches_overwritten = li->calls != NULL;
    return st;
}

sp_status sp_ana_gpu(sp_ana *a, sp_ana_launches *joined)
{
    sp_events *ev = a->ev;
    sp_gpu_summary *g = &a->r->gpu;
    sp_ana_launches li; /* the join, built ahead or below: freed on every way out */
    if (joined) {
        li = *joined;
        memset(joined, 0, sizeof *joined);
    } else {
        memset(&li, 0, sizeof li);
    }
    /* busy and compute: unions over acts in start order (sorted by sp_ev_finish); the busy union is
     * kept as intervals for the step split */
    busy_union bu = {{0, 0}, 0, 0, NULL, 0};
    if (ev->n_marks && !(bu.v = malloc((ev->n_acts ? ev->n_acts : 1) * sizeof *bu.v))) {
        sp_ana_launches_free(&li);
        return SP_ERR_NOMEM;
    }
    uint64_t first = SP_TIME_NONE, last = 0, compute = 0;
    uint64_t cs = 0, ce = 0;
    int copen = 0;
    static const char *const kind_names[] = {"h2d", "d2h", "d2d", "memset", "other"};
    uint64_t ccount[5] = {0}, cbytes[5] = {0}, ctime[5] = {0};
    /* the files with device work, for device_kind; the kernels by name, for kernel_stats */
    uint8_t *has_file = calloc(ev->n_files ? ev->n_files : 1, 1);
    int any_file = 0;
    kernel_counts kc;
    sp_status kst = kernel_counts_init(&kc);
    if (!has_file || kst) {
        free(bu.v);
        free(has_file);
        kernel_counts_free(&kc);
        sp_ana_launches_free(&li);
        return kst ? kst : SP_ERR_NOMEM;
    }
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        int sync = hta_sync(a, x);
        if (a->act_dev[i] == SP_EV_NONE && !sync)
            continue;
        if (a->act_dev[i] != SP_EV_NONE && x->file < ev->n_files) {
            has_file[x->file] = 1;
            any_file = 1;
        }
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
            uint32_t k = 0;
            int nccl = 0;
            if (!kst)
                kst = kernel_name(&kc, &ev->strings, sp_ev_act_name(x), &k, &nccl);
            if (!kst)
                kst = kernel_count(&kc, k, i);
            else /* the figures are discarded: only the answer matters as before */
                nccl = sp_ana_is_nccl(sp_str_get(&ev->strings, sp_ev_act_name(x))) != 0;
            if (!nccl) {
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
            cbytes[ci] += sp_ev_act_bytes(x);
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
    sp_ana_launch_acc ls;
    memset(&ls, 0, sizeof ls);
    sp_ival *win = NULL;
    size_t nwin = 0;
    sp_status st = SP_ERR_NOMEM;
    size_t nc = 0;
    for (int k = 0; k < 5; k++)
        nc += ccount[k] > 0;
    g->copy_stats = calloc(nc ? nc : 1, sizeof *g->copy_stats);
    if (!g->copy_stats)
        goto out;
    for (int k = 0; k < 5; k++) {
        if (!ccount[k])
            continue;
        sp_copy_stat *c = &g->copy_stats[g->n_copy_stats++];
        c->kind = kind_names[k];
        c->count = ccount[k];
        c->bytes = cbytes[k];
        c->total_ns = ctime[k];
        /* bytes per ns is GB/s; unknown (not 0 GB/s) where no copy of the kind carries a byte count
         * (Triton's and some Kineto traces time copies without their size) */
        c->gbytes_per_s = ctime[k] && cbytes[k] ? (double)cbytes[k] / (double)ctime[k] : NAN;
    }
    st = joined ? SP_OK : sp_ana_gpu_join(a, &li);
    if (!st)
        st = sp_ana_step_windows(a, &li, &win, &nwin);
    if (!st)
        st = sp_ana_launch_stats_begin(a, &ls);
    if (!st)
        st = idle_breakdown(a, &li, win, nwin, &ls);
    if (!st) {
        sp_ana_step_figures(a, bu.v, bu.n, win, nwin);
        st = sp_ana_launch_stats_end(a, &li, &ls);
    }
    /* the join, the windows and the busy union have had their last readers */
    sp_ana_launches_free(&li);
    /* past SP_ANA_KEEP_SPANS_MAX requests the stage rows' arrays would not fit the written calls'
     * pages well (each takes a chunk its size): they go back now, not after the partition, which
     * they would otherwise sit beside at its peak (docs/analysis.md section 8, "Memory") */
    if (a->launches_overwritten && ev->n_requests > sp_ana_keep_spans_max) {
        sp_ana_launch_calls_give_back(ev);
        a->launch_calls_back = 1;
    }
    free(win);
    win = NULL;
    free(bu.v);
    bu.v = NULL;
    if (!st)
        st = kst ? kst : kernel_stats(a, &kc);
    if (!st)
        st = device_kind(a, has_file, any_file);
    if (!st)
        st = sp_ana_gpu_hta(a);
out:
    kernel_counts_free(&kc);
    sp_ana_launch_stats_free(a, &ls);
    sp_ana_launches_free(&li);
    free(win);
    free(bu.v);
    free(has_file);
    return st;
}
