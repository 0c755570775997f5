/* Launch statistics (DESIGN section 6, docs/analysis.md section 4): device work joined to its launch
 * call on (file, correlation id). Ordinary launches give the per-kernel launch delay; CUDA graph
 * launches, whose one call launches every node of the graph under its own correlation id, are
 * reported on their own (launches, kernels per launch, delay to the first node) and kept out of the
 * per-kernel figures, where each node's position inside the graph would read as launch delay. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

/* cudaGraphLaunch, cudaGraphLaunch_v10000, cuGraphLaunch, hipGraphLaunch, ... */
int sp_ana_is_graph_launch(const char *name)
{
    return strstr(name, "GraphLaunch") != NULL;
}

/* When several launch calls carry one id, the earliest start wins, then the earliest end, then the
 * smaller name: never the first line (docs/analysis.md, "Ties"). */
static int launch_better(const sp_events *ev, const sp_ev_launch *x, const sp_ev_launch *y)
{
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns;
    if (x->end_ns != y->end_ns)
        return x->end_ns < y->end_ns;
    return strcmp(sp_str_get(&ev->strings, x->name), sp_str_get(&ev->strings, y->name)) < 0;
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
 * where the map takes 24 bytes a call): 1 when built, 0 to take the map, -1 out of memory. */
static int direct_build(const sp_events *ev, sp_ana_launches *li)
{
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
    return 1;
}

sp_status sp_ana_launches_build(const sp_events *ev, sp_ana_launches *li)
{
    memset(li, 0, sizeof *li);
    if (ev->n_launches >= SP_HMAP_NONE)
        return SP_ERR_LIMIT;
    li->launches = ev->launches;
    int direct = direct_build(ev, li);
    if (direct < 0)
        return SP_ERR_NOMEM;
    sp_status st = direct ? SP_OK : sp_hmap_init(&li->map, ev->n_launches);
    if (st)
        return st;
    li->graph = calloc(ev->n_launches ? ev->n_launches : 1, sizeof *li->graph);
    if (!li->graph)
        return SP_ERR_NOMEM;
    sp_name_memo graph;
    sp_name_memo_init(&graph, sp_ana_is_graph_launch);
    sp_str last_name = SP_EV_NONE; /* the last call's name and its answer, before the memo */
    int last_graph = 0;
    for (size_t i = 0; i < ev->n_launches; i++) {
        const sp_ev_launch *l = &ev->launches[i];
        if (!launch_joins(l))
            continue;
        uint64_t key = launch_key(l->file, l->correlation);
        /* direct: every call that joins lies in its file's span (direct_build measured them) */
        uint32_t *dslot = direct ? &li->slot[li->off[l->file] + (l->correlation - li->lo[l->file])] : NULL;
        uint32_t old = direct ? *dslot - 1 : launch_find(li, l->file, l->correlation);
        if (old != SP_HMAP_NONE) {
            if (!launch_better(ev, l, &ev->launches[old]))
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
        if (l->name == SP_EV_NONE)
            continue;
        if (l->name != last_name) {
            last_graph = sp_name_memo_get(&graph, &ev->strings, l->name);
            last_name = l->name;
        }
        /* written only for graph calls: the zeroed pages of the rest stay unwritten */
        if (last_graph)
            li->graph[i] = 1;
    }
    return SP_OK;
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

const sp_ev_launch *sp_ana_launch_of(const sp_events *ev, const sp_ana_launches *li, const sp_ev_activity *x)
{
    uint32_t d = sp_ana_launch_slot(li, x);
    return d == SP_EV_NONE ? NULL : &ev->launches[d];
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
        const sp_ev_launch *l = &a->ev->launches[d];
        kpl[k] = acc[d].kernels;
        /* as for one kernel: the first node's start - the end of the call, floored at 0 */
        delay[k] = acc[d].first_start > l->end_ns ? acc[d].first_start - l->end_ns : 0;
        gs->cpu_sum_ns += l->end_ns - l->start_ns;
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

sp_status sp_ana_launch_stats_begin(sp_ana *a, sp_ana_launch_acc *s)
{
    sp_events *ev = a->ev;
    memset(s, 0, sizeof *s);
    s->delays = sp_ana_scratch_get(a->scratch, ev->n_acts * sizeof *s->delays);
    /* acc is written for graph calls only: mostly untouched, calloc's lazy zeros */
    s->acc = calloc(ev->n_launches ? ev->n_launches : 1, sizeof *s->acc);
    if (!s->delays || !s->acc) {
        sp_ana_scratch_put(a->scratch, s->delays);
        free(s->acc);
        memset(s, 0, sizeof *s);
        return SP_ERR_NOMEM;
    }
    return SP_OK;
}

sp_status sp_ana_launch_stats_end(sp_ana *a, const sp_ana_launches *li, sp_ana_launch_acc *s)
{
    sp_gpu_summary *g = &a->r->gpu;
    g->launches_joined = s->nd;
    /* selected, not sorted: nobody keeps the column (percentile.c: the same figures) */
    sp_status st = sp_ana_quantiles_select_in(a->scratch, s->delays, s->nd, &g->launch_delay);
    if (!st)
        st = graph_stats(a, li, s->acc, a->ev->n_launches);
    sp_ana_launch_stats_free(a, s);
    return st;
}

void sp_ana_launch_stats_free(sp_ana *a, sp_ana_launch_acc *s)
{
    sp_ana_scratch_put(a->scratch, s->delays);
    free(s->acc);
    memset(s, 0, sizeof *s);
}
