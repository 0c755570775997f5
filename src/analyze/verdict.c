/* The verdict (DESIGN section 8): every candidate (stage rows, kernel split into padding and useful
 * work) ranked by share of p95, each with its group of fix and the p95 saving if its time were
 * removed; the leader is the verdict and verdict_render.c writes the sentence from the ranking.
 * A trace without requests gets a GPU verdict (verdict_gpu.c): busy, starved inside its steps, or
 * idle outside them. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/format_int.h"

/* Which of the table's kernel rows `row` is, or -1. */
static int kernel_slot(const sp_ana_table *t, int row)
{
    for (size_t k = 0; k < t->n_kernels; k++)
        if (t->kernel_row[k] == row)
            return (int)k;
    return -1;
}

/* Per-request time of a candidate (DESIGN section 8: a kernel row split into padding, section 5, and
 * useful work); `slot` is kernel_slot of its row for the kernel and padding candidates, else -1. */
static uint64_t cand_time(const sp_ana_table *t, const sp_verdict_cand *c, int slot, size_t i)
{
    size_t k = i * t->ns + (size_t)c->row;
    uint64_t row = t->times32 ? t->times32[k] : t->times[k];
    if (slot < 0)
        return row;
    uint64_t pad = (uint64_t)sp_ana_llround(t->padding[slot][i]);
    if (c->kind == SP_CAND_PADDING)
        return pad;
    return row > pad ? row - pad : 0;
}

/* Request i's figure with `x` ns of its whole `tot` removed: (tot - x) / divisor[i] when `div`, else
 * tot - x, never below 0 (DESIGN 4's values are the table's own figures). Inline, so each pass below
 * compiled for `div` 0 or 1 keeps no test of it. */
static inline uint64_t figure_of(uint64_t tot, uint64_t x, int div, const uint64_t *divisor, size_t i)
{
    uint64_t w = tot > x ? tot - x : 0;
    return div ? sp_ana_div_round(w, divisor[i]) : w;
}

static uint64_t figure_without(const sp_ana_table *t, size_t i, uint64_t t_ns)
{
    return figure_of(t->total[i], t_ns, t->divisor != NULL, t->divisor, i);
}

/* The p95 of each candidate's figures is one order statistic: selected (sp_select_u64) in place, not
 * sorted, so one column of n values is all the scratch. Item 0 is the figures as they are (the base),
 * item c + 1 the figures without candidate c; each is independent of the others, so two threads may
 * share them (sp_ana_savings_work). */
static void savings_item(const sp_ana_table *t, const sp_verdict_cand *cs, size_t item, uint64_t *v,
                         uint64_t *p95, uint8_t *has)
{
    size_t n = t->n, k95 = sp_rank(n, SP_PCT(95)) - 1;
    /* the bits that vary taken as each column fills (sp_select_u64_varying) */
    uint64_t or_v = 0, and_v = ~(uint64_t)0;
    if (item == 0) {
        for (size_t i = 0; i < n; i++) {
            v[i] = figure_without(t, i, 0);
            or_v |= v[i];
            and_v &= v[i];
        }
        *p95 = sp_select_u64_varying(v, n, k95, or_v ^ and_v);
        *has = 1;
        return;
    }
    const sp_verdict_cand *cc = &cs[item - 1];
    int slot = cc->kind == SP_CAND_PADDING || cc->kind == SP_CAND_KERNEL ? kernel_slot(t, cc->row) : -1;
    uint64_t any = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = cand_time(t, cc, slot, i);
        any |= x;
        v[i] = figure_without(t, i, x);
        or_v |= v[i];
        and_v &= v[i];
    }
    *has = any && n;
    if (*has)
        *p95 = sp_select_u64_varying(v, n, k95, or_v ^ and_v);
}

int sp_ana_savings_level = 1;

/* Whether every request's padding time in `p` (n >= 1 values) rounds to one number, *pad: checked as
 * the same bits, so that a column that only rounds alike takes the general route. */
static int padding_level(const double *p, size_t n, uint64_t *pad)
{
    uint64_t b0;
    memcpy(&b0, &p[0], sizeof b0);
    for (size_t i = 1; i < n; i++) {
        uint64_t b;
        memcpy(&b, &p[i], sizeof b);
        if (b != b0)
            return 0;
    }
    *pad = (uint64_t)sp_ana_llround(p[0]);
    return 1;
}

/* Whether candidate `c`'s time (cand_time) is one value, *x, for every request of `t`, known without
 * reading the n x ns times: its stage row's least and greatest value are equal (the row's time), and
 * for the kernel split the kernel row's padding column is one value too. `pad` caches each kernel
 * slot's padding answer (0: not asked yet, 1: level, 2: not). */
static int cand_level(const sp_ana_table *t, const sp_verdict_cand *c, uint8_t *pad, uint64_t *pad_x, uint64_t *x)
{
    if (!t->rows || t->divisor || !t->n || c->row < 0 || (size_t)c->row >= t->ns)
        return 0;
    const sp_quantiles *q = &t->rows[c->row].q;
    int slot = c->kind == SP_CAND_PADDING || c->kind == SP_CAND_KERNEL ? kernel_slot(t, c->row) : -1;
    int row_level = q->count == t->n && q->min_ns == q->max_ns;
    if (slot < 0) {
        *x = q->min_ns;
        return row_level;
    }
    if (c->kind == SP_CAND_KERNEL && !row_level)
        return 0;
    if (!pad[slot])
        pad[slot] = padding_level(t->padding[slot], t->n, &pad_x[slot]) ? 1 : 2;
    if (pad[slot] != 1)
        return 0;
    uint64_t row = q->min_ns;
    *x = c->kind == SP_CAND_PADDING ? pad_x[slot] : row > pad_x[slot] ? row - pad_x[slot] : 0;
    return 1;
}

/* Without a divisor a candidate of one time x for every request has figures max(total - x, 0), a
 * non-decreasing function of the base's figure (the request's total): so their p95 is that function of
 * the base's p95 (the same rank), and sp_ana_savings_end takes it from there; no pass, no selection.
 * Without a divisor the base's figures are the totals themselves, whose p95 the table may give
 * (total_q: the report's end-to-end latency, over the same lives). */
void sp_ana_savings_start(sp_ana_savings_job *j, const sp_ana_table *t, sp_verdict_cand *cs, size_t nc)
{
    j->t = *t;
    j->cs = cs;
    j->nc = nc < SP_ANA_VERDICT_MAX_CANDS ? nc : SP_ANA_VERDICT_MAX_CANDS;
    memset(j->has, 0, sizeof j->has);
    memset(j->level, 0, sizeof j->level);
    uint8_t pad[SP_ANA_TABLE_MAX_KERNELS] = {0};
    uint64_t pad_x[SP_ANA_TABLE_MAX_KERNELS] = {0};
    j->ntodo = 0;
    /* the base's figures are the totals: their p95 is the one of the totals' quantiles */
    if (sp_ana_savings_level && t->total_q && !t->divisor && t->n && t->total_q->count == t->n) {
        j->p95[0] = t->total_q->p95_ns;
        j->has[0] = 1;
    } else {
        j->todo[j->ntodo++] = 0;
    }
    for (size_t c = 0; c < j->nc; c++) {
        if (sp_ana_savings_level && cand_level(t, &cs[c], pad, pad_x, &j->x[c + 1]))
            j->level[c + 1] = 1;
        else
            j->todo[j->ntodo++] = c + 1;
    }
    /* two or more candidates to select over a table with requests: one fused job (savings_fused) */
    j->fused = sp_ana_savings_fused && t->n && j->ntodo >= (size_t)2 + (j->ntodo && j->todo[0] == 0);
    atomic_init(&j->next, 0);
}

int sp_ana_savings_fused = 1;

/* The fused route's buckets over [0, base p95]; a candidate whose bucket of rank k95 holds more than
 * sp_ana_savings_bucket_max values (or n / 64, if more) takes its own pass and column instead. */
#define SAVINGS_BUCKETS 2048
size_t sp_ana_savings_bucket_max = SP_ANA_SAVINGS_BUCKET_MAX;

/* The window route's bounds and answers (savings_window_route): candidate c gathers its figures of
 * [l[c], h[c]] (width[c] = h[c] - l[c]) into its cap + 1 slots of the buffer (the last one written over
 * once the cap is reached), pos[c] of them, and counts those above h[c] in above[c]. */
typedef struct savings_window {
    uint64_t l[SP_ANA_VERDICT_MAX_CANDS], h[SP_ANA_VERDICT_MAX_CANDS], width[SP_ANA_VERDICT_MAX_CANDS];
    size_t pos[SP_ANA_VERDICT_MAX_CANDS], above[SP_ANA_VERDICT_MAX_CANDS];
    size_t cap;
} savings_window;

/* One of savings_fused's passes over the table's m candidates, the first mp of them plain rows (row[c])
 * and the rest a kernel row's split (slot[c] as cand_time's, pad_only[c] for the padding candidate):
 * with `hist`, counts each figure's bucket, min(f >> shift, SAVINGS_BUCKETS), into candidate c's
 * counts (hist + c * (SAVINGS_BUCKETS + 1)) and ORs its time into any[c]; else appends each figure of
 * c's bucket tb[c] to buf[off[c]...] (candidates with alone[c] skipped). The flags are constants in
 * each call from fused_pass, so each route is compiled without their tests. */
static inline __attribute__((always_inline)) void fused_pass_of(const sp_ana_table *t, size_t m, size_t mp,
                                                                const int *row, const int *slot, const int *pad_only,
                                                                unsigned shift, uint64_t *any, uint32_t *hist,
                                                                const uint8_t *alone, const uint64_t *tb,
                                                                uint64_t *buf, const size_t *off, int narrow,
                                                                int div, int count)
{
    size_t n = t->n, ns = t->ns;
    size_t pos[SP_ANA_VERDICT_MAX_CANDS];
    uint64_t want[SP_ANA_VERDICT_MAX_CANDS], lo = UINT64_MAX;
    if (!count)
        for (size_t c = 0; c < m; c++) {
            pos[c] = off[c];
            want[c] = alone[c] ? UINT64_MAX : tb[c]; /* no figure's bucket is UINT64_MAX */
            /* the least figure any gathered bucket holds; with a divisor the figures are not times */
            if (!alone[c] && (div || (tb[c] << shift) < lo))
                lo = div ? 0 : tb[c] << shift;
        }
    int used[SP_ANA_TABLE_MAX_KERNELS] = {0};
    for (size_t c = mp; c < m; c++)
        if (count || !alone[c])
            used[slot[c]] = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t tot = t->total[i];
        /* no figure of this request exceeds its base figure (at most tot), so none lies in a bucket
         * starting above tot */
        if (!count && tot < lo)
            continue;
        const uint32_t *r32 = narrow ? t->times32 + i * ns : NULL;
        const uint64_t *r64 = narrow ? NULL : t->times + i * ns;
#define FUSED_ONE(c, x)                                                                                      \
    do {                                                                                                     \
        uint64_t f_ = figure_of(tot, (x), div, t->divisor, i);                                               \
        uint64_t bk_ = f_ >> shift;                                                                          \
        if (count) {                                                                                         \
            any[c] |= (x);                                                                                   \
            hist[(c) * (SAVINGS_BUCKETS + 1) + (bk_ < SAVINGS_BUCKETS ? bk_ : SAVINGS_BUCKETS)]++;           \
        } else if (bk_ == want[c]) {                                                                         \
            buf[pos[c]++] = f_;                                                                              \
        }                                                                                                    \
    } while (0)
        for (size_t c = 0; c < mp; c++) {
            uint64_t x = narrow ? r32[row[c]] : r64[row[c]];
            FUSED_ONE(c, x);
        }
        /* each padding column used rounded once a request (the kernel and padding candidates share it) */
        uint64_t pdv[SP_ANA_TABLE_MAX_KERNELS] = {0};
        for (size_t k = 0; k < SP_ANA_TABLE_MAX_KERNELS; k++)
            if (used[k])
                pdv[k] = (uint64_t)sp_ana_llround(t->padding[k][i]);
        for (size_t c = mp; c < m; c++) {
            uint64_t x = narrow ? r32[row[c]] : r64[row[c]];
            uint64_t pd = pdv[slot[c]];
            x = pad_only[c] ? pd : x > pd ? x - pd : 0;
            FUSED_ONE(c, x);
        }
#undef FUSED_ONE
    }
}

static void fused_pass(const sp_ana_table *t, size_t m, size_t mp, const int *row, const int *slot,
                       const int *pad_only, unsigned shift, uint64_t *any, uint32_t *hist, const uint8_t *alone,
                       const uint64_t *tb, uint64_t *buf, const size_t *off)
{
    int narrow = t->times32 != NULL, div = t->divisor != NULL, count = hist != NULL;
#define FUSED_PASS(nw, dv, ct) fused_pass_of(t, m, mp, row, slot, pad_only, shift, any, hist, alone, tb, buf, off, nw, dv, ct)
    if (count) {
        if (narrow && !div)
            FUSED_PASS(1, 0, 1);
        else if (!div)
            FUSED_PASS(0, 0, 1);
        else
            FUSED_PASS(narrow, 1, 1);
    } else {
        if (narrow && !div)
            FUSED_PASS(1, 0, 0);
        else if (!div)
            FUSED_PASS(0, 0, 0);
        else
            FUSED_PASS(narrow, 1, 0);
    }
#undef FUSED_PASS
}

/* savings_window_route's pass over the table's m candidates (ordered as fused_pass_of's, each part
 * by descending w->l): each figure of candidate c inside [l[c], h[c]] appended to its cap + 1 slots of
 * buf (the last written over once the cap is reached), those above h[c] counted. No figure exceeds its
 * request's base figure (its total where there is no divisor), so a request's candidates whose l is
 * above its total are skipped (with a divisor none is). */
static inline __attribute__((always_inline)) void window_pass_of(const sp_ana_table *t, size_t m, size_t mp,
                                                                 const int *row, const int *slot,
                                                                 const int *pad_only, savings_window *w,
                                                                 uint64_t *buf, int narrow, int div)
{
    size_t n = t->n, ns = t->ns, cap = w->cap;
    size_t pos[SP_ANA_VERDICT_MAX_CANDS] = {0}, above[SP_ANA_VERDICT_MAX_CANDS] = {0};
    uint64_t l[SP_ANA_VERDICT_MAX_CANDS], h[SP_ANA_VERDICT_MAX_CANDS], wd[SP_ANA_VERDICT_MAX_CANDS];
    uint64_t lo = UINT64_MAX;
    for (size_t c = 0; c < m; c++) {
        l[c] = w->l[c];
        h[c] = w->h[c];
        wd[c] = w->width[c];
        lo = l[c] < lo ? l[c] : lo;
    }
    if (div)
        lo = 0;
    int used[SP_ANA_TABLE_MAX_KERNELS] = {0};
    for (size_t c = mp; c < m; c++)
        used[slot[c]] = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t tot = t->total[i];
        if (tot < lo)
            continue;
        uint64_t key = div ? UINT64_MAX : tot;
        const uint32_t *r32 = narrow ? t->times32 + i * ns : NULL;
        const uint64_t *r64 = narrow ? NULL : t->times + i * ns;
#define WINDOW_ONE(c, x)                                                                                     \
    do {                                                                                                     \
        uint64_t f_ = figure_of(tot, (x), div, t->divisor, i);                                               \
        size_t p_ = pos[c];                                                                                  \
        buf[(c) * (cap + 1) + (p_ < cap ? p_ : cap)] = f_;                                                   \
        pos[c] = p_ + (f_ - l[c] <= wd[c]);                                                                  \
        above[c] += f_ > h[c];                                                                               \
    } while (0)
        size_t c = 0;
        while (c < mp && l[c] > key)
            c++;
        for (; c < mp; c++) {
            uint64_t x = narrow ? r32[row[c]] : r64[row[c]];
            WINDOW_ONE(c, x);
        }
        c = mp;
        while (c < m && l[c] > key)
            c++;
        if (c == m)
            continue;
        /* each padding column used rounded once a request (the kernel and padding candidates share it) */
        uint64_t pdv[SP_ANA_TABLE_MAX_KERNELS] = {0};
        for (size_t k = 0; k < SP_ANA_TABLE_MAX_KERNELS; k++)
            if (used[k])
                pdv[k] = (uint64_t)sp_ana_llround(t->padding[k][i]);
        for (; c < m; c++) {
            uint64_t x = narrow ? r32[row[c]] : r64[row[c]];
            uint64_t pd = pdv[slot[c]];
            x = pad_only[c] ? pd : x > pd ? x - pd : 0;
            WINDOW_ONE(c, x);
        }
#undef WINDOW_ONE
    }
    for (size_t c = 0; c < m; c++) {
        w->pos[c] = pos[c];
        w->above[c] = above[c];
    }
}

static void window_pass(const sp_ana_table *t, size_t m, size_t mp, const int *row, const int *slot,
                        const int *pad_only, savings_window *w, uint64_t *buf)
{
    int narrow = t->times32 != NULL, div = t->divisor != NULL;
    if (narrow && !div)
        window_pass_of(t, m, mp, row, slot, pad_only, w, buf, 1, 0);
    else if (!div)
        window_pass_of(t, m, mp, row, slot, pad_only, w, buf, 0, 0);
    else
        window_pass_of(t, m, mp, row, slot, pad_only, w, buf, narrow, 1);
}

/* The order of the fused passes' m candidates items[0..m) (none the base): the plain rows first,
 * then the kernel split, each with its row, slot (kernel_slot's, -1 for a plain row), whether it is
 * the padding candidate and its item; returns how many plain rows. */
static size_t fused_order(const sp_ana_savings_job *j, const size_t *items, size_t m, int *row, int *slot,
                          int *pad_only, size_t *item_of)
{
    size_t at = 0;
    for (int split = 0; split < 2; split++)
        for (size_t c = 0; c < m; c++) {
            const sp_verdict_cand *cc = &j->cs[items[c] - 1];
            int sl = cc->kind == SP_CAND_PADDING || cc->kind == SP_CAND_KERNEL ? kernel_slot(&j->t, cc->row) : -1;
            if ((sl >= 0) != split)
                continue;
            item_of[at] = items[c];
            row[at] = cc->row;
            slot[at] = sl;
            pad_only[at] = cc->kind == SP_CAND_PADDING;
            at++;
        }
    size_t mp = 0;
    while (mp < m && slot[mp] < 0)
        mp++;
    return mp;
}

/* The candidates items[0..m) (none the base) in two passes over the table, with no n-value
 * column: without candidate c a request's figure is at most its base figure (less time, and the
 * divisor's rounding is non-decreasing), so the p95 of c's figures (rank k95) is at most the base's,
 * p; the first pass counts each candidate's figures of [0, p] into SAVINGS_BUCKETS buckets of 2^shift
 * ns (the figures above p lie above rank k95), which gives the bucket holding rank k95 and the rank
 * inside it; the second gathers the figures of that bucket, and a selection among them gives the p95,
 * the value sp_select_u64 of the whole column would give. A candidate whose bucket is too full takes
 * savings_item (column `v`, got here when needed). SP_ERR_NOMEM. */
static sp_status savings_fused(sp_ana_savings_job *j, const size_t *items, size_t m)
{
    const sp_ana_table *t = &j->t;
    size_t n = t->n, k95 = sp_rank(n, SP_PCT(95)) - 1;
    uint64_t p = j->p95[0];
    unsigned shift = 0;
    while ((p >> shift) >= SAVINGS_BUCKETS)
        shift++;
    int row[SP_ANA_VERDICT_MAX_CANDS], slot[SP_ANA_VERDICT_MAX_CANDS], pad_only[SP_ANA_VERDICT_MAX_CANDS];
    uint64_t any[SP_ANA_VERDICT_MAX_CANDS] = {0}, tb[SP_ANA_VERDICT_MAX_CANDS];
    size_t rk[SP_ANA_VERDICT_MAX_CANDS], off[SP_ANA_VERDICT_MAX_CANDS + 1], item_of[SP_ANA_VERDICT_MAX_CANDS];
    uint8_t alone[SP_ANA_VERDICT_MAX_CANDS] = {0};
    size_t mp = fused_order(j, items, m, row, slot, pad_only, item_of);
    uint32_t *hist = calloc(m * (SAVINGS_BUCKETS + 1), sizeof *hist);
    if (!hist)
        return SP_ERR_NOMEM;
    fused_pass(t, m, mp, row, slot, pad_only, shift, any, hist, NULL, NULL, NULL, NULL);
    size_t cap = n / 64 > sp_ana_savings_bucket_max ? n / 64 : sp_ana_savings_bucket_max;
    off[0] = 0;
    for (size_t c = 0; c < m; c++) {
        const uint32_t *h = hist + c * (SAVINGS_BUCKETS + 1);
        size_t below = 0, b = 0;
        while (b < SAVINGS_BUCKETS && below + h[b] <= k95)
            below += h[b++];
        /* rank k95 is at most p (the bound above), whose bucket is below SAVINGS_BUCKETS; taken alone
         * otherwise, and when its bucket is too full */
        alone[c] = b == SAVINGS_BUCKETS || h[b] > cap || !any[c];
        tb[c] = b;
        rk[c] = k95 - below;
        off[c + 1] = off[c] + (alone[c] ? 0 : h[b]);
    }
    free(hist);
    sp_status st = SP_OK;
    uint64_t *buf = malloc((off[m] ? off[m] : 1) * sizeof *buf);
    if (!buf)
        return SP_ERR_NOMEM;
    if (off[m])
        fused_pass(t, m, mp, row, slot, pad_only, shift, NULL, NULL, alone, tb, buf, off);
    uint64_t *v = NULL;
    for (size_t c = 0; c < m && !st; c++) {
        size_t item = item_of[c];
        if (!any[c]) {
            j->has[item] = 0;
        } else if (!alone[c]) {
            j->p95[item] = sp_select_u64(buf + off[c], off[c + 1] - off[c], rk[c]);
            j->has[item] = 1;
        } else {
            if (!v && !(v = sp_ana_scratch_get(t->scratch, n * sizeof *v)))
                st = SP_ERR_NOMEM;
            else
                savings_item(t, j->cs, item, v, &j->p95[item], &j->has[item]);
        }
    }
    sp_ana_scratch_put(t->scratch, v);
    free(buf);
    return st;
}

int sp_ana_savings_window = 1;
size_t sp_ana_savings_stride = SP_ANA_SAVINGS_STRIDE;
size_t sp_ana_savings_window_ranks = SIZE_MAX;
size_t sp_ana_savings_sample_min = SP_ANA_SAVINGS_SAMPLE_MIN;
atomic_size_t sp_ana_savings_window_hits, sp_ana_savings_window_misses;

/* The candidates items[0..m) (none the base) in one pass over the table where a sample says where
 * each p95 lies: every stride-th request's figures without candidate c (s of them) give the window
 * [l, h] between the sample's values d ranks either side of its rank of the p95 (l 0 and h the
 * greatest value where those ranks fall outside the sample; d about four standard deviations of the
 * sample's count below the p95, plus 8). The pass gathers each candidate's figures inside its window
 * and counts those above it; the others, `below` = n - gathered - above, lie under l. Where below <=
 * k95 < below + gathered, rank k95 of the whole column is rank k95 - below among the gathered
 * figures, and a selection among them gives what sp_select_u64 of the whole column gives, whatever
 * the sample was. No figure exceeds its request's base figure (its total: no divisor), so the pass
 * skips, for each request, the candidates whose l is above its total (window_pass_of); with a divisor
 * every request is read for every candidate. The candidates
 * whose rank falls outside their window, or whose window holds more than the room taken for it
 * (twice what the sample's share promises), take savings_fused. SP_ERR_NOMEM. */
static sp_status savings_window_route(sp_ana_savings_job *j, const size_t *items, size_t m)
{
    const sp_ana_table *t = &j->t;
    size_t n = t->n, k95 = sp_rank(n, SP_PCT(95)) - 1;
    size_t stride = sp_ana_savings_stride ? sp_ana_savings_stride : 1;
    size_t smin = sp_ana_savings_sample_min ? sp_ana_savings_sample_min : 1;
    if (n / stride < smin)
        stride = n / smin ? n / smin : 1;
    size_t s = (n - 1) / stride + 1;
    /* the sample's rank of the whole column's k95 */
    size_t ks = (size_t)((double)k95 * (double)s / (double)n);
    if (ks >= s)
        ks = s - 1;
    size_t d = sp_ana_savings_window_ranks != SIZE_MAX ? sp_ana_savings_window_ranks
                                                      : (size_t)(4.0 * sqrt((double)s * 0.05 * 0.95)) + 8;
    size_t rlo = ks > d ? ks - d : 0, rhi = s - 1 - ks > d ? ks + d : s - 1;
    size_t cap = (rhi - rlo + 1) * stride * 2 + 64;
    if (cap > n)
        cap = n;
    int row[SP_ANA_VERDICT_MAX_CANDS], slot[SP_ANA_VERDICT_MAX_CANDS], pad_only[SP_ANA_VERDICT_MAX_CANDS];
    size_t item_of[SP_ANA_VERDICT_MAX_CANDS], miss[SP_ANA_VERDICT_MAX_CANDS], nmiss = 0;
    size_t mp = fused_order(j, items, m, row, slot, pad_only, item_of);
    /* the samples first, then (once the windows are known) the gathered figures in the same place */
    uint64_t *buf = sp_ana_scratch_get(t->scratch, m * (cap + 1 > s ? cap + 1 : s) * sizeof *buf);
    if (!buf)
        return SP_ERR_NOMEM;
    uint64_t *col = buf; /* candidate c's sample at col + c * s */
    savings_window *w = malloc(sizeof *w);
    if (!w) {
        sp_ana_scratch_put(t->scratch, buf);
        return SP_ERR_NOMEM;
    }
    w->cap = cap;
    /* each sampled request's figures for every candidate together: its row read once, and fetched 8
     * samples ahead (the samples are stride requests apart) */
    for (size_t q = 0; q < s; q++) {
        size_t i = q * stride;
        if (q + 8 < s) {
            size_t ia = i + 8 * stride;
            if (t->times32)
                __builtin_prefetch(t->times32 + ia * t->ns);
            else
                __builtin_prefetch(t->times + ia * t->ns);
            __builtin_prefetch(t->total + ia);
            for (size_t k = 0; k < t->n_kernels; k++)
                __builtin_prefetch(t->padding[k] + ia);
        }
        for (size_t c = 0; c < m; c++)
            col[c * s + q] = figure_without(t, i, cand_time(t, &j->cs[item_of[c] - 1], slot[c], i));
    }
    for (size_t c = 0; c < m; c++) {
        w->l[c] = rlo ? sp_select_u64(col + c * s, s, rlo) : 0;
        w->h[c] = rhi < s - 1 ? sp_select_u64(col + c * s, s, rhi) : UINT64_MAX;
        w->width[c] = w->h[c] - w->l[c];
    }
    /* the plain rows and the kernel split each by descending l, so that a request's candidates whose
     * l is above its total are the first of each part */
    for (size_t c = 1; c < m; c++)
        for (size_t k = c; k > (c < mp ? 0 : mp) && w->l[k - 1] < w->l[k]; k--) {
#define SWAP(T, a) do { T tmp_ = (a)[k]; (a)[k] = (a)[k - 1]; (a)[k - 1] = tmp_; } while (0)
            SWAP(int, row);
            SWAP(int, slot);
            SWAP(int, pad_only);
            SWAP(size_t, item_of);
            SWAP(uint64_t, w->l);
            SWAP(uint64_t, w->h);
            SWAP(uint64_t, w->width);
#undef SWAP
        }
    window_pass(t, m, mp, row, slot, pad_only, w, buf);
    for (size_t c = 0; c < m; c++) {
        size_t got = w->pos[c], above = w->above[c];
        size_t below = n - got - above; /* got + above <= n: each request counted once at most */
        if (got <= cap && below <= k95 && k95 - below < got) {
            j->p95[item_of[c]] = sp_select_u64(buf + c * (cap + 1), got, k95 - below);
            /* a candidate without time has the base's figures: its p95 is the base's, no saving */
            j->has[item_of[c]] = 1;
            atomic_fetch_add_explicit(&sp_ana_savings_window_hits, 1, memory_order_relaxed);
        } else {
            miss[nmiss++] = item_of[c];
            atomic_fetch_add_explicit(&sp_ana_savings_window_misses, 1, memory_order_relaxed);
        }
    }
    free(w);
    sp_ana_scratch_put(t->scratch, buf);
    return nmiss ? savings_fused(j, miss, nmiss) : SP_OK;
}

sp_status sp_ana_savings_work(sp_ana_savings_job *j)
{
    size_t k = atomic_fetch_add(&j->next, 1);
    if (k >= j->ntodo)
        return SP_OK;
    if (j->fused) {
        /* one thread takes the whole job: the base first where it is to be selected, then the rest */
        if (k)
            return SP_OK;
        size_t from = 0;
        if (j->todo[0] == 0) {
            uint64_t *v = sp_ana_scratch_get(j->t.scratch, j->t.n * sizeof *v);
            if (!v)
                return SP_ERR_NOMEM;
            savings_item(&j->t, j->cs, 0, v, &j->p95[0], &j->has[0]);
            sp_ana_scratch_put(j->t.scratch, v);
            from = 1;
        }
        if (from == j->ntodo)
            return SP_OK;
        return sp_ana_savings_window ? savings_window_route(j, j->todo + from, j->ntodo - from)
                                     : savings_fused(j, j->todo + from, j->ntodo - from);
    }
    uint64_t *v = sp_ana_scratch_get(j->t.scratch, j->t.n * sizeof *v);
    if (!v)
        return SP_ERR_NOMEM;
    for (; k < j->ntodo; k = atomic_fetch_add(&j->next, 1)) {
        size_t item = j->todo[k];
        savings_item(&j->t, j->cs, item, v, &j->p95[item], &j->has[item]);
    }
    sp_ana_scratch_put(j->t.scratch, v);
    return SP_OK;
}

void sp_ana_savings_end(sp_ana_savings_job *j)
{
    uint64_t base = j->p95[0];
    for (size_t c = 0; c < j->nc; c++)
        if (j->level[c + 1]) {
            uint64_t x = j->x[c + 1];
            j->has[c + 1] = x != 0; /* savings_item: some request has time (n >= 1 here) */
            j->p95[c + 1] = base > x ? base - x : 0;
        }
    for (size_t c = 0; c < j->nc; c++)
        j->cs[c].saving_ns = j->has[c + 1] && base > j->p95[c + 1] ? base - j->p95[c + 1] : 0;
}

sp_status sp_ana_p95_savings(const sp_ana_table *t, sp_verdict_cand *cs, size_t nc)
{
    sp_ana_savings_job j;
    sp_ana_savings_start(&j, t, cs, nc);
    sp_status st = sp_ana_savings_work(&j);
    if (!st)
        sp_ana_savings_end(&j);
    return st;
}

/* A trace without requests: verdict_gpu.c (busy, starved inside the steps, or no work sent). */
static sp_status gpu_verdict(sp_ana *a)
{
    return sp_ana_verdict_gpu(a);
}

/* What a stage row is, by its name: the built-in rows' names are the report's own (docs/analysis.md,
 * "Stage rows and order"); a named stage never takes one of them (a span so named adds to that row).
 * By name, so that a report built from aggregated counters (buckets.c) gets the same candidates. */
static sp_cand_kind row_kind(const char *name)
{
    static const struct {
        const char *name;
        sp_cand_kind kind;
    } fixed[] = {{"queue", SP_CAND_QUEUE}, {"preprocess", SP_CAND_PREPROCESS}, {"h2d", SP_CAND_H2D},
                 {"kernel", SP_CAND_KERNEL}, {"gap", SP_CAND_GAP}, {"d2h", SP_CAND_D2H},
                 {"postprocess", SP_CAND_POSTPROCESS}, {"network", SP_CAND_NETWORK}, {"other", SP_CAND_OTHER}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(name, fixed[i].name) == 0)
            return fixed[i].kind;
    return SP_CAND_NAMED;
}

/* The saturated queue's fix, and the same without its max-batch option: sp_report_quote_prediction
 * swaps in the latter when the quoted what-if raised max-batch and p95 did not fall. */
#define SATURATED_QUEUE_FIX                                                                                   \
    "add replicas or capacity, or raise max-batch if batches are full; a shorter batch window will not help"
#define SATURATED_QUEUE_FIX_NO_BATCH                                                                          \
    "add replicas or capacity; a larger max-batch or a shorter batch window will not help"

/* The short fix of a candidate (the ranking's `fix`): no figures, never naming another stage. A CPU
 * run (docs/analysis.md section 4, "Device kind") is never told about GPUs or CUDA graphs. */
const char *sp_ana_verdict_fix(sp_cand_kind k, int saturated, int recommend_model, int cpu)
{
    switch (k) {
    case SP_CAND_QUEUE:
        /* The queue behind a device that always has a batch in flight: capacity is the fix. */
        return saturated ? SATURATED_QUEUE_FIX
                         : "shorten the batch window with max-queue-delay, or raise traffic per replica";
    case SP_CAND_PREPROCESS: return "move it off the request path, parallelise it or use a faster tokenizer";
    case SP_CAND_H2D: return "pin host memory, overlap copies with compute or send less data";
    case SP_CAND_KERNEL:
        if (recommend_model)
            return cpu ? "a smaller or quantised model or a faster CPU" : "a smaller or quantised model or a faster GPU";
        return "not a model change yet; trim the configuration and runtime candidates first";
    case SP_CAND_PADDING: return "bucket requests by length or use variable-length batching";
    case SP_CAND_GAP:
        return cpu ? "overlap host work with the device and remove synchronisations"
                   : "capture CUDA graphs, overlap host work with the device and remove synchronisations";
    case SP_CAND_D2H: return "pin host memory, overlap copies with compute or return less data";
    case SP_CAND_POSTPROCESS: return "parallelise it or make responses cheaper to build";
    case SP_CAND_NETWORK:
        /* Nagle first: a server socket without TCP_NODELAY (uvicorn --workers N leaves it off) holds a
         * response's second write for the client's delayed ACK, ~40 ms, even on loopback */
        return "set TCP_NODELAY on the server's sockets where it is off (Nagle's algorithm holds a response for "
               "the client's delayed ACK, up to 40 ms on Linux), put clients closer, reuse connections or shrink "
               "payloads";
    case SP_CAND_NAMED: return "optimise, parallelise or move it off the request path";
    case SP_CAND_OTHER: return "not a fix: add stage spans for the time no span or batch window covers";
    case SP_CAND_MODEL_TIME: return SP_ANA_MODEL_TIME_FIX;
    case SP_CAND_BETWEEN: break; /* generation tables write their own (generation_verdict.c) */
    }
    return "";
}

/* Descending share; equal shares keep the candidates' report order (insertion sort is stable, and
 * there are at most SP_ANA_MAX_NAMED_STAGES + 20 candidates). */
void sp_ana_rank_candidates(sp_verdict_cand *cs, size_t nc)
{
    for (size_t i = 1; i < nc; i++) {
        sp_verdict_cand c = cs[i];
        size_t j = i;
        while (j > 0 && cs[j - 1].share < c.share) {
            cs[j] = cs[j - 1];
            j--;
        }
        cs[j] = c;
    }
}

size_t sp_ana_verdict_candidates(const sp_report *r, int model, sp_verdict_cand *cs, size_t cap)
{
    size_t nc = 0;
    double pad_share = r->padding.share_p95;
    for (size_t s = 0; s < r->n_stages && nc + 2 <= cap; s++) {
        int row = (int)s;
        sp_cand_kind k = row_kind(r->stages[s].name);
        if (k == SP_CAND_KERNEL) {
            double useful_share = r->stages[s].share_p95 - pad_share;
            if (useful_share < 0)
                useful_share = 0;
            cs[nc++] = (sp_verdict_cand){SP_CAND_KERNEL, row, "kernel", SP_GROUP_MODEL, useful_share, 0, NULL,
                                         SP_CAND_PHASE_NONE};
            cs[nc++] = (sp_verdict_cand){SP_CAND_PADDING, row, "padding", SP_GROUP_CONFIGURATION, pad_share, 0, NULL,
                                         SP_CAND_PHASE_NONE};
            continue;
        }
        /* vLLM's and TGI's prefill and decode: the model's time measured whole, as the generation
         * tables read them (their "(model)" rows), not a runtime stage to move off the request path;
         * so is the "inference" stage an importer derived from TGI's inference_time (both phases and
         * the waits between steps, no phase of its own) */
        sp_cand_phase ph = k == SP_CAND_NAMED ? sp_ana_model_stage(model, r->stages[s].name) : SP_CAND_PHASE_NONE;
        if (ph != SP_CAND_PHASE_NONE ||
            (k == SP_CAND_NAMED && (model & SP_ANA_MODEL_INFERENCE) && !strcmp(r->stages[s].name, "inference")))
            k = SP_CAND_MODEL_TIME;
        sp_verdict_group g = k == SP_CAND_QUEUE        ? SP_GROUP_CONFIGURATION
                             : k == SP_CAND_OTHER      ? SP_GROUP_INSTRUMENTATION
                             : k == SP_CAND_MODEL_TIME ? SP_GROUP_MODEL
                                                       : SP_GROUP_RUNTIME;
        cs[nc++] = (sp_verdict_cand){k, row, r->stages[s].name, g, r->stages[s].share_p95, 0, NULL, ph};
    }
    return nc;
}

void sp_ana_verdict_saturation(const sp_report *r, sp_verdict_facts *f)
{
    f->in_flight = 1.0 - r->cost.by_state_share[SP_COST_NO_BATCH];
    f->batches_full = sp_ana_batches_full(r);
    f->queue_saturated = sp_ana_queue_saturated(r);
    f->queue_refusing = f->queue_saturated && !sp_ana_device_saturated(r);
    f->queue_past_window = sp_ana_queue_past_window(r);
    f->queue_p95_ns = sp_ana_queue_p95(r);
    f->window_ns = r->policy_max_queue_delay_ns;
    f->batch_p50 = r->batch_size.p50_ns;
    f->max_batch = r->policy_max_batch;
}

void sp_ana_verdict_outcome_facts(const sp_report *r, sp_verdict_facts *f)
{
    f->requests_total = r->requests_total;
    f->rejected = r->outcomes[SP_OUTCOME_REJECTED].count;
    f->errors = r->outcomes[SP_OUTCOME_ERROR].count;
    f->errors_analysed = r->outcome_scope == SP_SCOPE_FINISHED;
    f->cancelled = r->outcomes[SP_OUTCOME_CANCELLED].count;
    f->cancelled_timed = r->outcomes[SP_OUTCOME_CANCELLED].latency.count;
    f->cancelled_p50_ns = f->cancelled_timed ? r->outcomes[SP_OUTCOME_CANCELLED].latency.p50_ns : 0;
    f->unfinished = r->outcomes[SP_OUTCOME_UNFINISHED].count;
    f->timed_out_ok = r->client_records_timed_out_ok;
    f->analysed = r->request_count;
}

/* What the sentence needs beyond the ranking, from the report's figures. */
static void verdict_facts(const sp_report *r, sp_verdict_facts *f)
{
    memset(f, 0, sizeof *f);
    sp_ana_verdict_outcome_facts(r, f);
    f->analysed_p95_ns = r->latency.p95_ns;
    f->waste_fraction = r->padding.waste_fraction;
    sp_ana_verdict_saturation(r, f);
    uint64_t kernel_row_ns = 0;
    for (size_t s = 0; s < r->n_stages; s++)
        if (row_kind(r->stages[s].name) == SP_CAND_KERNEL)
            kernel_row_ns += r->stages[s].total_ns;
    f->kernels_unmeasured = r->gpu.kernels == 0 && kernel_row_ns == 0;
}

sp_status sp_ana_verdict_unserved(sp_report *r)
{
    sp_verdict_facts fs;
    verdict_facts(r, &fs);
    const sp_verdict_facts *f = &fs;
    uint64_t counts[SP_OUTCOME_COUNT];
    for (int o = 0; o < SP_OUTCOME_COUNT; o++)
        counts[o] = r->outcomes[o].count;
    size_t need = sp_ana_verdict_render_unserved(counts, f, NULL, 0);
    char *s = malloc(need + 1);
    if (!s)
        return SP_ERR_NOMEM;
    sp_ana_verdict_render_unserved(counts, f, s, need + 1);
    r->verdict.stage = NULL;
    r->verdict.group = SP_GROUP_NONE;
    r->verdict.clause_at = SIZE_MAX; /* nothing to quote a what-if prediction after */
    r->verdict.sentence = sp_report_strdup(r, s);
    free(s);
    return r->verdict.sentence ? SP_OK : SP_ERR_NOMEM;
}

size_t sp_ana_verdict_candidates_of(const sp_ana *a, sp_verdict_cand *cs, size_t cap)
{
    if (!a->n_reqs)
        return 0;
    memset(cs, 0, cap * sizeof *cs);
    int model = (sp_ana_has_generation(a) ? SP_ANA_MODEL_GENERATION : 0) |
                (sp_ana_model_inference(a) ? SP_ANA_MODEL_INFERENCE : 0);
    return sp_ana_verdict_candidates(a->r, model, cs, cap);
}

void sp_ana_verdict_savings_start(const sp_ana *a, sp_ana_savings_job *j, sp_verdict_cand *cs, size_t nc)
{
    sp_ana_table t = {a->n_reqs, a->n_stages, a->life, a->times, NULL, {a->st_kernel, 0}, {a->padding, NULL}, 1,
                      a->scratch, a->times32, a->r->stages, &a->r->latency};
    sp_ana_savings_start(j, &t, cs, a->n_reqs ? nc : 0);
    if (!a->n_reqs)
        atomic_store(&j->next, 1); /* nothing to select, not even the base */
}

/* The model-time rule and the generation test it takes (analyze_int.h): here, not in generation.c,
 * which calls this file: both the generation tables and the end-to-end candidates use them. */
sp_cand_phase sp_ana_model_stage(int model, const char *name)
{
    if (!(model & SP_ANA_MODEL_GENERATION))
        return SP_CAND_PHASE_NONE;
    if (!strcmp(name, "prefill"))
        return SP_CAND_PHASE_PREFILL;
    if (!strcmp(name, "decode"))
        return SP_CAND_PHASE_DECODE;
    return SP_CAND_PHASE_NONE;
}

const char *sp_ana_gen_stage_fix(const char *name, int event_loop)
{
    if (!strcmp(name, "detokenize"))
        return event_loop ? SP_ANA_DETOKENIZE_EVENT_LOOP_FIX : "detokenise incrementally, off the step loop";
    if (!strcmp(name, "stream"))
        return "write chunks off the step loop, or send several tokens per chunk";
    return NULL;
}

const char *sp_ana_named_stage_fix(const char *name, int generation, int event_loop)
{
    if (!strcmp(name, SP_ANA_EVENT_LOOP_STAGE))
        return SP_ANA_EVENT_LOOP_FIX;
    if (!strcmp(name, SP_ANA_EVENT_LOOP_WAIT_STAGE))
        return SP_ANA_EVENT_LOOP_WAIT_FIX;
    return generation ? sp_ana_gen_stage_fix(name, event_loop) : NULL;
}

atomic_size_t sp_ana_step_passes;

int sp_ana_has_generation(const sp_ana *a)
{
    const sp_events *ev = a->ev;
    for (size_t i = 0; ev->n_tokens && i < a->n_reqs; i++)
        if (sp_ev_cold(ev, &ev->requests[a->reqs[i]])->ntokens)
            return 1;
    /* without a step record no batch is a step (a batch's step is SP_EV_NONE until sp_ev_set_step
     * makes it one): then the batches are not read, a pass over them each of the three times this is
     * asked, on the analysis' one-thread tail */
    if (ev->n_steps)
        atomic_fetch_add_explicit(&sp_ana_step_passes, 1, memory_order_relaxed);
    for (size_t b = 0; ev->n_steps && b < ev->n_batches; b++)
        if (a->b[b].valid && ev->batches[b].step != SP_EV_NONE)
            return 1;
    return 0;
}

int sp_ana_model_inference(const sp_ana *a)
{
    for (size_t f = 0; f < a->ev->n_files; f++)
        if (a->ev->files[f].model_inference)
            return 1;
    return 0;
}

/* Whether some file of the trace carries property `key` (a scheduler setting by that name) or says it
 * comes from one of servprof's own generating servers (serve --generate, the Python generation example),
 * which take the flags of both settings below. */
static int names_flag(const sp_ana *a, const char *key)
{
    for (size_t f = 0; f < a->ev->n_files; f++) {
        const char *v = sp_ev_get_prop(a->ev, (uint32_t)f, "service");
        if (sp_ev_get_prop(a->ev, (uint32_t)f, key) ||
            (v && (!strcmp(v, "servprof-serve") || !strcmp(v, "servprof-python-generate"))))
            return 1;
    }
    return 0;
}

/* Whether the trace says its server takes --max-num-seqs (docs/generation.md, "Verdicts"): a
 * `policy.max_num_seqs` property (that setting by that name), or a `service` property of servprof's own
 * generating servers (serve --generate, the Python generation example). Any other trace (a Python
 * service that records tokens without such a scheduler, another server) gets the queue's fix worded by
 * what to change, with the flag of the servers that have one in brackets (SP_ANA_SEQS_CAP). Here, not in
 * generation_verdict.c, which calls this file: both verdicts use it. */
int sp_ana_names_seqs_flag(const sp_ana *a)
{
    return names_flag(a, "policy.max_num_seqs");
}

/* The same for --max-num-batched-tokens: a `policy.max_num_batched_tokens` property, or servprof's own
 * generating servers, which both take the flag (serve --help, examples/python/generate_service.py).
 * Elsewhere the token budget is named by what it is, SP_ANA_TOKENS_BUDGET. */
int sp_ana_names_tokens_flag(const sp_ana *a)
{
    return names_flag(a, "policy.max_num_batched_tokens");
}

/* Whether some file's `event_loop` property is `asyncio` (analyze_int.h). */
int sp_ana_event_loop(const sp_ana *a)
{
    for (size_t f = 0; f < a->ev->n_files; f++) {
        const char *v = sp_ev_get_prop(a->ev, (uint32_t)f, "event_loop");
        if (v && !strcmp(v, "asyncio"))
            return 1;
    }
    return 0;
}

/* Whether the trace says its server cannot prefill in chunks, so that no fix advises it: a `service`
 * property of the Python generation example (examples/python/generate_service.py: a prompt runs whole
 * in one step, it has no such option) in some file, and no file recording `policy.chunked_prefill` 1.
 * servprof serve --generate records its own setting (0 without --chunked-prefill, which it has), and
 * any other server may have it, so those keep the advice. */
int sp_ana_lacks_chunked_prefill(const sp_ana *a)
{
    int python = 0;
    for (size_t f = 0; f < a->ev->n_files; f++) {
        const char *v = sp_ev_get_prop(a->ev, (uint32_t)f, "service");
        const char *c = sp_ev_get_prop(a->ev, (uint32_t)f, "policy.chunked_prefill");
        if (c && !strcmp(c, "1"))
            return 0;
        if (v && !strcmp(v, "servprof-python-generate"))
            python = 1;
    }
    return python;
}

/* The first file's value of the integer property `key` that parses as a number in [1, max]; 0 when no
 * file's does. */
static uint64_t policy_prop(const sp_ana *a, const char *key, uint64_t max)
{
    for (size_t f = 0; f < a->ev->n_files; f++) {
        const char *v = sp_ev_get_prop(a->ev, (uint32_t)f, key);
        char *end = NULL;
        unsigned long long n = v ? strtoull(v, &end, 10) : 0;
        if (v && end != v && !*end && n > 0 && n <= max)
            return n;
    }
    return 0;
}

sp_status sp_ana_verdict(sp_ana *a, sp_verdict_cand *cs, size_t nc)
{
    sp_report *r = a->r;
    /* the batching policy the trace says its server ran with (full batches and a queue past the
     * window: sp_ana_batches_full, sp_ana_queue_past_window) */
    r->policy_max_batch = (uint32_t)policy_prop(a, "policy.max_batch", UINT32_MAX);
    r->policy_max_queue_delay_ns = policy_prop(a, "policy.max_queue_delay_ns", UINT64_MAX);
    if (!a->n_reqs)
        return r->requests_total ? sp_ana_verdict_unserved(r) : gpu_verdict(a);
    /* a continuous-batching service (generation steps, docs/generation.md) has no batch window to
     * shorten: its queue waits for a place among the running sequences */
    int continuous = 0;
    uint32_t most = 0; /* the most sequences one step ran */
    if (a->ev->n_steps)
        atomic_fetch_add_explicit(&sp_ana_step_passes, 1, memory_order_relaxed);
    for (size_t b = 0; a->ev->n_steps && b < a->ev->n_batches; b++) /* no step record: no step */
        if (a->b[b].valid && a->ev->batches[b].step != SP_EV_NONE) {
            continuous = 1;
            if (a->ev->batches[b].nmembers > most)
                most = a->ev->batches[b].nmembers;
        }
    /* an engine's trace without step or batch records (vLLM's or TGI's spans: token times, or TGI's
     * whole inference stage) is continuous batching too: its queue is no batch window either. A
     * generation trace with batches that are not steps (static batching) keeps the window's fix. */
    int valid_batches = 0;
    for (size_t b = 0; b < a->ev->n_batches && !valid_batches; b++)
        valid_batches = a->b[b].valid;
    int generation = sp_ana_has_generation(a);
    if (!continuous && (valid_batches || (!generation && !sp_ana_model_inference(a))))
        return sp_ana_verdict_decide(r, cs, nc, NULL, generation, sp_ana_event_loop(a));
    /* the queue's fix: [0] beside a device with room, [1] behind a saturated one */
    const char *fix[2];
    /* no step ever ran --max-num-seqs sequences: the queue waited for the running step, not for a
     * place (the TTFT verdict says the same, generation_verdict.c); such a trace carries
     * policy.max_num_seqs, so that flag is named */
    const char *v = NULL;
    for (size_t f = 0; f < a->ev->n_files && !v; f++)
        v = sp_ev_get_prop(a->ev, (uint32_t)f, "policy.max_num_seqs");
    char *end = NULL;
    unsigned long long limit = v ? strtoull(v, &end, 10) : 0;
    if (v && end != v && !*end && limit > most) {
        fix[0] = fix[1] = sp_ana_lacks_chunked_prefill(a)
                              ? "shorten the steps new requests wait for (a lower --max-num-batched-tokens; this "
                                "server has no chunked prefill); steps never ran --max-num-seqs sequences"
                          : sp_ana_names_tokens_flag(a)
                              ? "shorten the steps new requests wait for (chunked prefill, a lower "
                                "--max-num-batched-tokens); steps never ran --max-num-seqs sequences"
                              : "shorten the steps new requests wait for: chunked prefill, or lower "
                                SP_ANA_TOKENS_BUDGET "; steps never ran --max-num-seqs sequences";
    } else if (sp_ana_names_seqs_flag(a)) {
        fix[0] = "raise --max-num-seqs or add a replica";
        fix[1] = "add replicas or capacity, or raise --max-num-seqs if the KV cache has room";
    } else { /* the limit worded: the trace does not say its server has the flag */
        fix[0] = "raise " SP_ANA_SEQS_CAP " or add a replica";
        fix[1] = "add replicas or capacity, or raise " SP_ANA_SEQS_CAP " if the KV cache has room";
    }
    return sp_ana_verdict_decide(r, cs, nc, fix, generation, sp_ana_event_loop(a));
}

/* Fills `v` from the ranked candidates: the ranking, the leader, the sentence. With a marker the
 * sentence is rendered with it as the leader's what-if clause: where it lands is where a later what-if
 * prediction is quoted (sp_report_quote_prediction, clause_at); the stored sentence itself has none. */
static sp_status store(sp_report *r, const sp_verdict_cand *cs, size_t nc, const sp_verdict_facts *f,
                       int recommend, const char *marker, sp_verdict *v)
{
    v->ranking = malloc((nc ? nc : 1) * sizeof *v->ranking);
    if (!v->ranking)
        return SP_ERR_NOMEM;
    v->n_ranking = nc;
    for (size_t k = 0; k < nc; k++)
        v->ranking[k] = (sp_verdict_rank){cs[k].name, cs[k].group, cs[k].share, cs[k].saving_ns, cs[k].fix};
    /* Nothing to judge when the requests around p95 took no time at all. */
    int judged = nc && cs[0].share > 0;
    v->stage = judged ? cs[0].name : NULL;
    v->group = judged ? cs[0].group : SP_GROUP_NONE;
    v->share_p95 = judged ? cs[0].share : 0;
    v->saving_p95_ns = judged ? cs[0].saving_ns : 0;
    v->recommend_model = recommend;

    size_t need = sp_ana_verdict_render(cs, nc, f, marker, NULL, 0);
    char *s = malloc(need + 1);
    if (!s)
        return SP_ERR_NOMEM;
    sp_ana_verdict_render(cs, nc, f, marker, s, need + 1);
    v->clause_at = SIZE_MAX;
    if (marker) {
        static const char clause[] = " (what-if: \x01)";
        char *m = strstr(s, clause);
        if (m) {
            v->clause_at = (size_t)(m - s);
            memmove(m, m + strlen(clause), strlen(m + strlen(clause)) + 1);
        }
    }
    v->sentence = sp_report_strdup(r, s);
    free(s);
    return v->sentence ? SP_OK : SP_ERR_NOMEM;
}

sp_status sp_ana_verdict_decide(sp_report *r, sp_verdict_cand *cs, size_t nc, const char *const *queue_fix,
                                int generation, int event_loop)
{
    sp_verdict *v = &r->verdict;
    sp_verdict_facts f;
    verdict_facts(r, &f);
    f.event_loop = event_loop;
    sp_ana_rank_candidates(cs, nc);
    int recommend = !sp_ana_verdict_thin(&f) && sp_ana_verdict_recommend_model(cs, nc);
    for (size_t k = 0; k < nc; k++) {
        /* a generation service's stream and detokenize stages: the fix the TTFT/TPOT tables give them
         * (streaming is the request path: nothing moves it off); the measured event_loop stage: its own */
        const char *own = cs[k].kind == SP_CAND_NAMED ? sp_ana_named_stage_fix(cs[k].name, generation, event_loop)
                                                      : NULL;
        cs[k].fix = own ? own
                        : sp_ana_verdict_fix(cs[k].kind, f.queue_saturated, recommend, r->gpu.device_kind == SP_DEVICE_CPU);
        /* batch windows in a trace with no kernel: DESIGN 3 calls their time gap, but nothing says
         * the device was idle in them (the model's compute is in there, unrecorded), so no advice
         * on launch overhead or syncs */
        if (f.kernels_unmeasured && cs[k].kind == SP_CAND_GAP && cs[k].phase == SP_CAND_PHASE_NONE)
            cs[k].fix = r->gpu.device_kind == SP_DEVICE_CPU ? SP_ANA_GAP_UNMEASURED_FIX_CPU : SP_ANA_GAP_UNMEASURED_FIX;
        /* a queue past the window, batches not full, no saturation: the batcher dispatches late */
        if (!queue_fix && f.queue_past_window && cs[k].kind == SP_CAND_QUEUE)
            cs[k].fix = event_loop ? SP_ANA_QUEUE_PAST_WINDOW_EVENT_LOOP_FIX : SP_ANA_QUEUE_PAST_WINDOW_FIX;
        if (queue_fix && cs[k].kind == SP_CAND_QUEUE)
            cs[k].fix = queue_fix[f.queue_saturated && !f.queue_refusing ? 1 : 0]; /* the device's (below) */
        if (event_loop && cs[k].kind == SP_CAND_NETWORK)
            cs[k].fix = SP_ANA_NETWORK_EVENT_LOOP_FIX;
        if (event_loop && cs[k].kind == SP_CAND_OTHER)
            cs[k].fix = SP_ANA_OTHER_EVENT_LOOP_FIX;
    }

    return store(r, cs, nc, &f, recommend, "\x01", v);
}

sp_status sp_ana_verdict_store(sp_report *r, const sp_verdict_cand *cs, size_t nc, const sp_verdict_facts *f,
                               int recommend, sp_verdict *v)
{
    memset(v, 0, sizeof *v);
    return store(r, cs, nc, f, recommend, NULL, v);
}

size_t sp_verdict_prediction_str(const sp_verdict_prediction *p, char *buf, size_t len)
{
    char a[32], b[32];
    int n = 0;
    if (len)
        buf[0] = '\0';
    if (p->state == SP_PREDICTION_UNAVAILABLE) {
        n = snprintf(buf, len, "%s", p->note ? p->note : "no prediction");
    } else if (p->state == SP_PREDICTION_DONE) {
        sp_fmt_dur(a, sizeof a, (double)p->p95_before_ns);
        sp_fmt_dur(b, sizeof b, (double)p->p95_after_ns);
        /* a queue past the window weighs two changes: the one not chosen, with its figure */
        char alt[240] = "", c[32];
        /* the other change lower yet not chosen: within the quote's 2% tie (SP_WHATIF_ADVICE_MIN_GAIN,
         * whatif.h, which the analysis library does not include), which goes to the window */
        if (p->alt_setting)
            snprintf(alt, sizeof alt, "; %s %s -> %s instead: predicted p95 %s%s%s", p->alt_setting,
                     p->alt_from ? p->alt_from : "?", p->alt_to ? p->alt_to : "?",
                     sp_fmt_dur(c, sizeof c, (double)p->alt_p95_after_ns), p->alt_extrapolated ? ", extrapolated" : "",
                     p->alt_p95_after_ns < p->p95_after_ns ? ", within 2%: a tie, which goes to the window, as it "
                                                             "adds no instance to the bill" : "");
        n = snprintf(buf, len, "%s %s -> %s: predicted p95 %s -> %s (simulated from this trace%s%s%s)%s",
                     p->setting ? p->setting : "?", p->from ? p->from : "?", p->to ? p->to : "?", a, b,
                     p->note ? "; " : "", p->note ? p->note : "", alt,
                     p->p95_after_ns >= p->p95_before_ns ? ": the change does not lower p95" : "");
    }
    return n > 0 ? (size_t)n : 0;
}

/* Replaces the leader's fix `from` by `to` in the ranking and in the sentence, where it ends at the
 * what-if clause (clause_at), so that the sentence, the JSON and the HTML ranking agree; nothing when
 * the leader's fix is not `from`. */
static sp_status swap_leader_fix(sp_report *r, const char *from, const char *to)
{
    sp_verdict *v = &r->verdict;
    size_t flen = strlen(from);
    if (!v->n_ranking || !v->ranking[0].fix || strcmp(v->ranking[0].fix, from) != 0 || v->clause_at < flen ||
        memcmp(v->sentence + v->clause_at - flen, from, flen) != 0)
        return SP_OK;
    size_t nlen = strlen(to), head = v->clause_at - flen;
    size_t len = strlen(v->sentence) - flen + nlen;
    char *t = malloc(len + 1);
    if (!t)
        return SP_ERR_NOMEM;
    memcpy(t, v->sentence, head);
    memcpy(t + head, to, nlen);
    strcpy(t + head + nlen, v->sentence + v->clause_at);
    const char *q = sp_report_strdup(r, t);
    free(t);
    if (!q)
        return SP_ERR_NOMEM;
    v->sentence = q;
    v->clause_at = head + nlen;
    v->ranking[0].fix = to;
    return SP_OK;
}

sp_status sp_report_quote_prediction(sp_report *r)
{
    if (!r)
        return SP_ERR_INVALID;
    sp_verdict *v = &r->verdict;
    if (v->prediction_quoted || !v->sentence || v->clause_at == SIZE_MAX || v->clause_at > strlen(v->sentence) ||
        r->prediction.state == SP_PREDICTION_NONE)
        return SP_OK;
    /* The saturated queue's fix offers a larger max-batch; when the quoted what-if is that very change
     * and it does not lower p95, the sentence would advise it and refute it in one breath. Drop the
     * option from the leader's fix (sentence and ranking, so JSON and HTML agree) and say it will not
     * help. A queue past the window whose quote chose one more instance over the quarter window leads
     * its fix with the instance (docs/whatif.md, "The verdict's prediction"). Every other case keeps
     * the fix as it was. */
    const sp_verdict_prediction *p = &r->prediction;
    int done = p->state == SP_PREDICTION_DONE && p->setting;
    sp_status st = SP_OK;
    if (done && strcmp(p->setting, "max-batch") == 0 && p->p95_after_ns >= p->p95_before_ns)
        st = swap_leader_fix(r, SATURATED_QUEUE_FIX, SATURATED_QUEUE_FIX_NO_BATCH);
    if (done && p->alt_setting && strcmp(p->setting, "instances") == 0) {
        st = swap_leader_fix(r, SP_ANA_QUEUE_PAST_WINDOW_FIX, SP_ANA_QUEUE_PAST_WINDOW_INSTANCE_FIX);
        if (!st)
            st = swap_leader_fix(r, SP_ANA_QUEUE_PAST_WINDOW_EVENT_LOOP_FIX,
                                 SP_ANA_QUEUE_PAST_WINDOW_EVENT_LOOP_INSTANCE_FIX);
    }
    if (st)
        return st;
    size_t plen = sp_verdict_prediction_str(&r->prediction, NULL, 0);
    size_t slen = strlen(v->sentence);
    char *s = malloc(slen + plen + 16);
    if (!s)
        return SP_ERR_NOMEM;
    memcpy(s, v->sentence, v->clause_at);
    size_t at = v->clause_at;
    at += (size_t)sprintf(s + at, " (what-if: ");
    sp_verdict_prediction_str(&r->prediction, s + at, plen + 1);
    at += plen;
    s[at++] = ')';
    memcpy(s + at, v->sentence + v->clause_at, slen - v->clause_at + 1);
    const char *q = sp_report_strdup(r, s);
    free(s);
    if (!q)
        return SP_ERR_NOMEM;
    v->sentence = q;
    v->prediction_quoted = 1;
    return SP_OK;
}
