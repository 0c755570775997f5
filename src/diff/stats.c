/* The figures a bootstrap resample needs, recomputed from per-request rows exactly as the analysis
 * computes them on its requests (DESIGN section 4; docs/analysis.md section 2), and the resampling
 * itself. A resample is held as counts per row, never as a copy of the rows: the rows are in latency
 * rank order, so walking them with their counts visits the resample sorted, ties broken as the
 * analysis breaks them, and percentiles and the share window need no sort per resample. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/quantile.h"
#include "diff/diff_int.h"

/* ---- preparing a run's rows ---- */

typedef struct col_key {
    uint64_t v;
    uint32_t row;
} col_key;

static int col_key_cmp(const void *a, const void *b)
{
    const col_key *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

sp_status sp_diff_rows_prepare(sp_diff_rows *rows, const sp_diff_run *run)
{
    memset(rows, 0, sizeof *rows);
    size_t n = run->n_rows, ns = run->n_stages;
    if (n > UINT32_MAX)
        return SP_ERR_LIMIT;
    rows->n = n;
    rows->ns = ns;
    rows->life_ns = run->life_ns;
    rows->stage_ns = run->stage_ns;
    rows->padding_ns = run->padding_ns;
    rows->by_arrival = run->by_arrival;
    if (!n || !ns)
        return SP_OK;
    rows->order = malloc(n * ns * sizeof *rows->order);
    col_key *k = malloc(n * sizeof *k);
    if (!rows->order || !k) {
        free(k);
        sp_diff_rows_free(rows);
        return SP_ERR_NOMEM;
    }
    for (size_t s = 0; s < ns; s++) {
        for (size_t i = 0; i < n; i++)
            k[i] = (col_key){run->stage_ns[i * ns + s], (uint32_t)i};
        qsort(k, n, sizeof *k, col_key_cmp);
        for (size_t i = 0; i < n; i++)
            rows->order[s * n + i] = k[i].row;
    }
    free(k);
    return SP_OK;
}

void sp_diff_rows_free(sp_diff_rows *rows)
{
    free(rows->order);
    rows->order = NULL;
}

/* ---- statistics of one (re)sample ---- */

static inline uint32_t count_of(const uint32_t *counts, size_t i)
{
    return counts ? counts[i] : 1u;
}

/* p50, p95 and p99 by nearest rank (DESIGN section 4) over the multiset of n values that holds row
 * i's value values[i x stride] counts[i] times, visiting rows in ascending order of value: by
 * `order` when given, else by row (values already ascending). One walk down from the largest: the
 * k-th smallest is where the count from the top first reaches n - k + 1, and p99 and p95 lie near
 * the top. */
static void pick3(const uint64_t *values, size_t stride, const uint32_t *order, const uint32_t *counts, size_t n,
                  double out[3])
{
    static const uint32_t q[3] = {SP_PCT(50), SP_PCT(95), SP_PCT(99)};
    size_t need[3];
    for (int p = 0; p < 3; p++) {
        need[p] = n - sp_rank(n, q[p]) + 1;
        out[p] = 0;
    }
    int left = 3;
    size_t cum = 0;
    for (size_t j = n; j-- > 0 && left;) {
        size_t i = order ? order[j] : j;
        uint32_t c = count_of(counts, i);
        if (!c)
            continue;
        cum += c;
        for (int p = 2; p >= 0; p--) { /* p99 needs the fewest from the top */
            if (need[p] && cum >= need[p]) {
                out[p] = (double)values[i * stride];
                need[p] = 0;
                left--;
            }
        }
    }
}

/* The rows holding ranks lo..hi of the multiset (rows in rank order, row i counts[i] times): *first,
 * the lowest of them, and *below, the ranks under it. Walks down from the top, where the p95 window
 * lies: row i's ranks are n - (copies above it) - c + 1 .. n - (copies above it). */
static void window_start(const uint32_t *counts, size_t n, size_t lo, size_t *first, size_t *below)
{
    size_t cum = 0;
    *first = n;
    *below = 0;
    for (size_t i = n; i-- > 0;) {
        uint32_t c = count_of(counts, i);
        if (!c)
            continue;
        if (n - cum < lo) /* its highest rank is under the window: so is everything below */
            break;
        cum += c;
        *first = i;
        *below = n - cum;
    }
}

/* Sum over ranks lo..hi of value(row) (stage column `s`, padding when s is -1, life when -2), added
 * upwards in rank order as the analysis adds them (docs/analysis.md section 7: a sum of doubles
 * depends on the order of its terms). */
static long double window_sum(const sp_diff_rows *rows, const uint32_t *counts, size_t first, size_t below,
                              size_t lo, size_t hi, long s)
{
    long double sum = 0;
    for (size_t i = first; i < rows->n && below < hi; i++) {
        uint32_t c = count_of(counts, i);
        if (!c)
            continue;
        size_t a = below + 1, b = below + c; /* this row's ranks */
        below = b;
        size_t s0 = a > lo ? a : lo, s1 = b < hi ? b : hi;
        if (s1 < s0)
            continue;
        long double v = s == -2   ? (long double)rows->life_ns[i]
                        : s == -1 ? (long double)rows->padding_ns[i]
                                  : (long double)rows->stage_ns[i * rows->ns + (size_t)s];
        sum += (long double)(s1 - s0 + 1) * v;
    }
    return sum;
}

void sp_diff_stats(const sp_diff_rows *rows, const uint32_t *counts, const int *col, size_t nu, double *stats)
{
    size_t n = rows->n, ns = rows->ns;
    memset(stats, 0, SP_DIFF_N_STATS(nu) * sizeof *stats);
    if (!n)
        return;
    double v[3];
    pick3(rows->life_ns, 1, NULL, counts, n, v);
    for (int p = 0; p < 3; p++)
        stats[SP_DIFF_STAT_LAT(p)] = v[p];

    /* shares of p95: each stage's (and padding's) part of the window's summed latency */
    size_t lo, hi, first, below;
    sp_share_window(n, 95, &lo, &hi);
    window_start(counts, n, lo, &first, &below);
    long double den = window_sum(rows, counts, first, below, lo, hi, -2);
    if (den > 0) {
        stats[SP_DIFF_STAT_PADDING(nu)] = (double)(window_sum(rows, counts, first, below, lo, hi, -1) / den);
        for (size_t u = 0; u < nu; u++)
            if (col[u] >= 0)
                stats[SP_DIFF_STAT_STAGE(u, 3)] =
                    (double)(window_sum(rows, counts, first, below, lo, hi, col[u]) / den);
    }

    /* each stage's percentiles over all requests (a request without the stage counts 0) */
    for (size_t u = 0; u < nu; u++) {
        if (col[u] < 0 || !ns)
            continue;
        const uint32_t *ord = rows->order + (size_t)col[u] * n;
        if (rows->stage_ns[(size_t)ord[n - 1] * ns + (size_t)col[u]] == 0)
            continue; /* the largest is 0: all are */
        pick3(rows->stage_ns + col[u], ns, ord, counts, n, v);
        for (int p = 0; p < 3; p++)
            stats[SP_DIFF_STAT_STAGE(u, p)] = v[p];
    }
}

/* ---- the bootstrap ---- */

/* A position drawn uniformly from [0, n). */
static inline size_t draw_pos(sp_rng *rng, size_t n)
{
    size_t i = (size_t)(sp_bits_to_unit(sp_rng_next(rng)) * (double)n);
    return i < n ? i : n - 1;
}

void sp_diff_draw(sp_rng *rng, size_t n, const uint32_t *by_arrival, size_t block, uint32_t *counts)
{
    memset(counts, 0, n * sizeof *counts);
    if (block <= 1 || !by_arrival) {
        for (size_t k = 0; k < n; k++)
            counts[draw_pos(rng, n)]++;
        return;
    }
    for (size_t k = 0; k < n;) {
        size_t s = draw_pos(rng, n);
        for (size_t j = 0; j < block && k < n; j++, k++)
            counts[by_arrival[(s + j) % n]]++;
    }
}

size_t sp_diff_block_len(size_t n, unsigned option)
{
    if (!n)
        return 1;
    /* at least SP_DIFF_MIN_BLOCKS blocks per resample, a given length too: a block as long as the run
     * makes every resample the run itself (rotated), so every interval is 0 wide and any change, noise
     * included, "holds with confidence" (docs/diff.md, "Why blocks") */
    size_t most = n / SP_DIFF_MIN_BLOCKS;
    if (!most)
        most = 1;
    if (option)
        return option < most ? option : most;
    size_t b = (size_t)ceil(sqrt((double)n));
    while (b * b < n) /* sqrt's rounding, for huge n */
        b++;
    while (b > 1 && (b - 1) * (b - 1) >= n)
        b--;
    if (b < SP_DIFF_MIN_BLOCK)
        b = SP_DIFF_MIN_BLOCK;
    return b < most ? b : most;
}

uint32_t sp_diff_lower_q(double confidence)
{
    double q = (1.0 - confidence) / 2.0 * 100000.0;
    long v = lround(q);
    return v < 0 ? 0u : v > 50000 ? 50000u : (uint32_t)v;
}

sp_status sp_diff_bootstrap(const sp_diff_rows *base, const int *base_col, const sp_diff_rows *after,
                            const int *after_col, size_t nu, const sp_diff_options *opt, double *lo, double *hi)
{
    size_t ks = SP_DIFF_N_STATS(nu), R = opt->resamples;
    if (!R || ks > SP_DIFF_MAX_BOOT_VALUES / R)
        return SP_ERR_LIMIT;
    double *delta = malloc(ks * R * sizeof *delta);
    double *sb = malloc(ks * sizeof *sb), *sa = malloc(ks * sizeof *sa);
    uint32_t *cb = malloc((base->n ? base->n : 1) * sizeof *cb);
    uint32_t *ca = malloc((after->n ? after->n : 1) * sizeof *ca);
    sp_status st = SP_OK;
    if (!delta || !sb || !sa || !cb || !ca) {
        st = SP_ERR_NOMEM;
        goto out;
    }
    sp_rng rb, ra;
    sp_rng_seed(&rb, opt->seed, 1);
    sp_rng_seed(&ra, opt->seed, 2);
    size_t lb = sp_diff_block_len(base->n, opt->block), la = sp_diff_block_len(after->n, opt->block);
    for (size_t r = 0; r < R; r++) {
        sp_diff_draw(&rb, base->n, base->by_arrival, lb, cb);
        sp_diff_draw(&ra, after->n, after->by_arrival, la, ca);
        sp_diff_stats(base, cb, base_col, nu, sb);
        sp_diff_stats(after, ca, after_col, nu, sa);
        for (size_t k = 0; k < ks; k++)
            delta[k * R + r] = sa[k] - sb[k];
    }
    uint32_t qlo = sp_diff_lower_q(opt->confidence), qhi = 100000u - qlo;
    for (size_t k = 0; k < ks; k++) {
        double *d = delta + k * R;
        sp_sort_double(d, R);
        lo[k] = sp_pick_double(d, R, qlo);
        hi[k] = sp_pick_double(d, R, qhi);
    }
out:
    free(delta);
    free(sb);
    free(sa);
    free(cb);
    free(ca);
    return st;
}
