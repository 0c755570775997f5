/* Launch statistics (DESIGN section 6, docs/analysis.md section 4): device work joined to its launch
 * call on (file, correlation id). Ordinary launches give the per-kernel launch delay; CUDA graph
 * launches, whose one call launches every node of the graph under its own correlation id, are
 * reported on their own (launches, kernels per launch, delay to the first node) and kept out of the
 * per-kernel figures, where each node's position inside the graph would read as launch delay. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/util_int.h"

/* cudaGraphLaunch, cudaGraphLaunch_v10000, cuGraphLaunch, hipGraphLaunch, ... */
int sp_ana_is_graph_launch(const char *name)
{
    return strstr(name, "GraphLaunch") != NULL;
}

/* When several launch calls carry one id, the earliest start wins, then the earliest end, then the
 * smaller name: never the first line (docs/analysis.md, "Ties"). */
static int launch_better(const sp_events *ev, uint64_t xs, uint64_t xe, sp_str xn, uint64_t ys, uint64_t ye,
                         sp_str yn)
{
    if (xs != ys)
        return xs < ys;
    if (xe != ye)
        return xe < ye;
    return strcmp(sp_str_get(&ev->strings, xn), sp_str_get(&ev->strings, yn)) < 0;
}

/* The join keeps no copy of its keys: the map's key is k2 + k1 x an odd constant, as sp_pairmap's (so
 * the sequential correlation ids of one file are neighbours), its value the index of the winning
 * call, and an entry is checked against that call's own file and correlation id. */
static uint64_t launch_key(uint32_t file, uint64_t correlation)
{
    return correlation + (uint64_t)file * 0x9e3779b97f4a7c15ull;
}

struct launch_probe {
    const sp_ev_launch *launches;
    uint32_t file;
    uint64_t correlation;
};

static bool launch_eq(const void *ctx, uint32_t value)
{
    const struct launch_probe *p = ctx;
    const sp_ev_launch *l = &p->launches[value];
    return l->correlation == p->correlation && l->file == p->file;
}

int sp_ana_launch_direct = 1;
int sp_ana_launch_overwrite = 1;

static uint32_t launch_find(const sp_ana_launches *li, uint32_t file, uint64_t correlation)
{
    if (li->slot) {
        if (file >= li->n_files || correlation < li->lo[file] || correlation - li->lo[file] >= li->span[file])
            return SP_HMAP_NONE;
        return li->slot[li->off[file] + (correlation - li->lo[file])] - 1; /* 0 - 1: SP_HMAP_NONE */
    }
    struct launch_probe p = {li->launches, file, correlation};
    return sp_hmap_find(&li->map, launch_key(file, correlation), launch_eq, &p);
}

/* A call the join takes: a correlation id and valid times. */
static int launch_joins(const sp_ev_launch *l)
{
    return l->correlation && l->start_ns != SP_TIME_NONE && l->end_ns != SP_TIME_NONE && l->end_ns >= l->start_ns;
}

/* The direct route's table when every file's ids, from its least to its greatest, take at most twice
 * as many slots as the file has calls, plus 64 (a recorder numbers its calls in order; 4 bytes a slot
 * where the map takes 24 bytes a call): 1 when built, 0 to take the map, -1 out of memory. *narrow:
 * whether every call that joins is shorter than 2^32 ns (an sp_ana_launch_c holds it). */
static int direct_build(const sp_events *ev, sp_ana_launches *li, int *narrow)
{
    uint64_t longest = 0;
    size_t nf = ev->n_files;
    if (!sp_ana_launch_direct || !nf || !ev->n_launches)
        return 0;
    uint64_t *lo = malloc(nf * sizeof *lo), *hi = calloc(nf, sizeof *hi), *cnt = calloc(nf, sizeof *cnt);
    uint64_t *span = NULL, *off = NULL;
    int ok = lo && hi && cnt;
    for (size_t f = 0; ok && f < nf; f++)
        lo[f] = UINT64_MAX;
    for (size_t i = 0; ok && i < ev->n_launches; i++) {
        const sp_ev_launch *l = &ev->launches[i];
        if (!launch_joins(l))
            continue;
        if (l->file >= nf) {
            ok = 0; /* not expected: the map takes it */
            break;
        }
        if (l->end_ns - l->start_ns > longest)
            longest = l->end_ns - l->start_ns;
        lo[l->file] = l->correlation < lo[l->file] ? l->correlation : lo[l->file];
        hi[l->file] = l->correlation > hi[l->file] ? l->correlation : hi[l->file];
        cnt[l->file]++;
    }
    int mem = 1;
    if (ok) {
        span = malloc(nf * sizeof *span);
        off = malloc(nf * sizeof *off);
        mem = ok = span && off;
    }
    uint64_t total = 0;
    for (size_t f = 0; ok && f < nf; f++) {
        span[f] = cnt[f] ? hi[f] - lo[f] + 1 : 0; /* hi - lo < 2^64 - 1: ids are not 0 */
        off[f] = total;
        if (span[f] > 2 * cnt[f] + 64 || span[f] > ((uint64_t)1 << 40))
            ok = 0;
        else
            total += span[f];
    }
    if (ok && !(li->slot = calloc(total ? total : 1, sizeof *li->slot)))
        mem = ok = 0;
    free(hi);
    free(cnt);
    if (!ok) {
        free(lo);
        free(span);
        free(off);
        return mem ? 0 : -1;
    }
    li->lo = lo;
    li->span = span;
    li->off = off;
    li->n_files = nf;
    *narrow = longest <= UINT32_MAX;
    return 1;
}

/* Under `overwrite`: the whole pages of the launch array's back half (from the end of the calls as
 * sp_ana_launch_c, `front` bytes) below `read`, which no call lies in any more, back to the kernel
 * from where the last call left off (*done); with `read` at the array's end, its room past the calls
 * too. The bytes it hands back. */
static size_t give_back_behind(sp_events *ev, size_t front, size_t read, uintptr_t *done)
{
    uintptr_t base = (uintptr_t)ev->launches, page = sp_page_size();
    uintptr_t lo = (base + front + page - 1) & ~(page - 1);
    uintptr_t hi = (base + read) & ~(page - 1);
    if (*done > lo)
        lo = *done;
    if (hi <= lo)
        return 0;
    sp_discard_pages((void *)lo, hi - lo);
    *done = hi;
    return hi - lo;
}

size_t sp_ana_launch_discard_step = SP_ANA_LAUNCH_DISCARD_STEP;
size_t sp_ana_launch_overwritten, sp_ana_launch_discarded_early;

sp_status sp_ana_launches_build(sp_events *ev, sp_ana_launches *li, int overwrite)
{
    memset(li, 0, sizeof *li);
    if (ev->n_launches >= SP_HMAP_NONE)
        return SP_ERR_LIMIT;
    li->launches = ev->launches;
    int narrow = 0;
    int direct = direct_build(ev, li, &narrow);
    if (direct < 0)
        return SP_ERR_NOMEM;
    sp_status st = direct ? SP_OK : sp_hmap_init(&li->map, ev->n_launches);
    if (st)
        return st;
    li->graph = calloc(ev->n_launches ? ev->n_launches : 1, sizeof *li->graph);
    if (!li->graph)
        return SP_ERR_NOMEM;
    /* call i goes to calls[i], bytes [16i, 16i + 16) of the array: below call i's own bytes (from 32i)
     * but for i = 0, which is read whole first; so every call is read before anything is written over
     * it. Both through memcpy, as the two types share the bytes. */
    unsigned char *over =
        direct && narrow && overwrite && sp_ana_launch_overwrite ? (unsigned char *)ev->launches : NULL;
    sp_ana_launch_c *calls = (sp_ana_launch_c *)over;
    /* the back half's pages go as the loop reads past them, a step at a time */
    size_t front = ev->n_launches * sizeof *calls, step = sp_ana_launch_discard_step ? sp_ana_launch_discard_step : 1;
    size_t next = front + step;
    uintptr_t done = 0;
    sp_name_memo graph;
    sp_name_memo_init(&graph, sp_ana_is_graph_launch);
    sp_str last_name = SP_EV_NONE; /* the last call's name and its answer, before the memo */
    int last_graph = 0;
    for (size_t i = 0; i < ev->n_launches; i++) {
        sp_ev_launch l;
        memcpy(&l, &ev->launches[i], sizeof l);
        if (!launch_joins(&l))
            continue;
        if (over) {
            sp_ana_launch_c c = {l.start_ns, (uint32_t)(l.end_ns - l.start_ns), l.name};
            memcpy(over + i * sizeof c, &c, sizeof c);
            if ((i + 1) * sizeof l >= next) {
                sp_ana_launch_discarded_early += give_back_behind(ev, front, (i + 1) * sizeof l, &done);
                next = (i + 1) * sizeof l + step;
            }
        }
        uint64_t key = launch_key(l.file, l.correlation);
        /* direct: every call that joins lies in its file's span (direct_build measured them) */
        uint32_t *dslot = direct ? &li->slot[li->off[l.file] + (l.correlation - li->lo[l.file])] : NULL;
        uint32_t old = direct ? *dslot - 1 : launch_find(li, l.file, l.correlation);
        if (old != SP_HMAP_NONE) {
            int better;
            if (calls)
                better = launch_better(ev, l.start_ns, l.end_ns, l.name, calls[old].start_ns,
                                       calls[old].start_ns + calls[old].dur_ns, calls[old].name);
            else
                better = launch_better(ev, l.start_ns, l.end_ns, l.name, ev->launches[old].start_ns,
                                       ev->launches[old].end_ns, ev->launches[old].name);
            if (!better)
                continue;
            if (!direct)
                sp_hmap_remove(&li->map, key, old);
            if (li->graph[old])
                li->graph[old] = 0;
        }
        /* i < n_launches < SP_HMAP_NONE */
        if (direct)
            *dslot = (uint32_t)i + 1;
        else if ((st = sp_hmap_put(&li->map, key, (uint32_t)i)))
            return st;
        if (l.name == SP_EV_NONE)
            continue;
        if (l.name != last_name) {
            last_graph = sp_name_memo_get(&graph, &ev->strings, l.name);
            last_name = l.name;
        }
        /* written only for graph calls: the zeroed pages of the rest stay unwritten */
        if (last_graph)
            li->graph[i] = 1;
    }
    if (over) {
        sp_ana_launch_overwritten += ev->n_launches;
        li->calls = calls;
        li->launches = NULL;
        (void)give_back_behind(ev, front, ev->cap_launches * sizeof *ev->launches, &done);
    }
    return SP_OK;
}

size_t sp_ana_launch_calls_given_back;

void sp_ana_launch_calls_give_back(sp_events *ev)
{
    uintptr_t base = (uintptr_t)ev->launches, page = sp_page_size();
    uintptr_t lo = (base + page - 1) & ~(page - 1);
    uintptr_t hi = (base + ev->n_launches * sizeof(sp_ana_launch_c)) & ~(page - 1);
    if (hi > lo) {
        sp_discard_pages((void *)lo, hi - lo);
        sp_ana_launch_calls_given_back += hi - lo;
    }
}

void sp_ana_launches_free(sp_ana_launches *li)
{
    sp_hmap_free(&li->map);
    free(li->graph);
    free(li->slot);
    free(li->lo);
    free(li->span);
    free(li->off);
    memset(li, 0, sizeof *li);
}

uint32_t sp_ana_launch_slot(const sp_ana_launches *li, const sp_ev_activity *x)
{
    return x->correlation ? launch_find(li, x->file, x->correlation) : SP_EV_NONE;
}

static sp_status graph_stats(sp_ana *a, const sp_ana_launches *li, const sp_ana_graph_acc *acc, size_t n)
{
    sp_graph_launch_summary *gs = &a->r->gpu.graph;
    size_t ng = 0; /* the graph calls with device work: sized by them, not by every call */
    for (size_t d = 0; d < n; d++)
        ng += li->graph[d] && acc[d].work;
    uint64_t *kpl = malloc((ng ? ng : 1) * sizeof *kpl), *delay = malloc((ng ? ng : 1) * sizeof *delay);
    if (!kpl || !delay) {
        free(kpl);
        free(delay);
        return SP_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t d = 0; d < n; d++) {
        if (!li->graph[d] || !acc[d].work)
            continue;
        uint64_t start = sp_ana_launch_start(li, (uint32_t)d), end = sp_ana_launch_end(li, (uint32_t)d);
        kpl[k] = acc[d].kernels;
        /* as for one kernel: the first node's start - the end of the call, floored at 0 */
        delay[k] = acc[d].first_start > end ? acc[d].first_start - end : 0;
        gs->cpu_sum_ns += end - start;
        gs->kernels += acc[d].kernels;
        gs->work += acc[d].work;
        k++;
    }
    gs->launches = k;
    sp_status st = sp_ana_quantiles_select_in(a->scratch, kpl, k, &gs->kernels_per_launch);
    if (!st)
        st = sp_ana_quantiles_select_in(a->scratch, delay, k, &gs->first_delay);
    free(kpl);
    free(delay);
    return st;
}

int sp_ana_launch_delay_narrow = 1;
size_t sp_ana_launch_delays_widened;

sp_status sp_ana_launch_stats_begin(sp_ana *a, sp_ana_launch_acc *s)
{
    sp_events *ev = a->ev;
    size_t n = ev->n_acts ? ev->n_acts : 1;
    memset(s, 0, sizeof *s);
    /* the delays in 4 bytes: half the column's pages, in beside the partition's rows (the command's
     * peak on large traces, docs/analysis.md section 8, "Memory") */
    if (sp_ana_launch_delay_narrow)
        s->d32 = sp_ana_scratch_get(a->scratch, n * sizeof *s->d32);
    else
        s->delays = sp_ana_scratch_get(a->scratch, n * sizeof *s->delays);
    /* acc is written for graph calls only: mostly untouched, calloc's lazy zeros */
    s->acc = calloc(ev->n_launches ? ev->n_launches : 1, sizeof *s->acc);
    if ((!s->d32 && !s->delays) || !s->acc) {
        sp_ana_launch_stats_free(a, s);
        return SP_ERR_NOMEM;
    }
    return SP_OK;
}

void sp_ana_launch_delay_wide(sp_ana *a, sp_ana_launch_acc *s, uint64_t d)
{
    if (s->nomem)
        return;
    if (s->d32) { /* the first delay of 2^32 ns or more: the column so far into 8 bytes a delay */
        uint64_t *w = sp_ana_scratch_get(a->scratch, (a->ev->n_acts ? a->ev->n_acts : 1) * sizeof *w);
        if (!w) {
            s->nomem = 1;
            return;
        }
        for (size_t i = 0; i < s->nd; i++)
            w[i] = s->d32[i];
        sp_ana_scratch_put(a->scratch, s->d32);
        s->d32 = NULL;
        s->delays = w;
        sp_ana_launch_delays_widened++;
    }
    s->delays[s->nd++] = d;
}

sp_status sp_ana_launch_stats_end(sp_ana *a, const sp_ana_launches *li, sp_ana_launch_acc *s)
{
    sp_gpu_summary *g = &a->r->gpu;
    g->launches_joined = s->nd;
    /* selected, not sorted: nobody keeps the column (percentile.c: the same figures, either width) */
    sp_status st = s->nomem ? SP_ERR_NOMEM
                   : s->d32 ? sp_ana_quantiles_select_u32_in(a->scratch, s->d32, s->nd, &g->launch_delay)
                            : sp_ana_quantiles_select_in(a->scratch, s->delays, s->nd, &g->launch_delay);
    if (!st)
        st = graph_stats(a, li, s->acc, a->ev->n_launches);
    sp_ana_launch_stats_free(a, s);
    return st;
}

void sp_ana_launch_stats_free(sp_ana *a, sp_ana_launch_acc *s)
{
    sp_ana_scratch_put(a->scratch, s->d32);
    sp_ana_scratch_put(a->scratch, s->delays);
    free(s->acc);
    memset(s, 0, sizeof *s);
}
