/* Known answers for servprof diff's statistics and bootstrap (src/diff/stats.c, docs/diff.md
 * "Confidence"):
 *  1. the statistics recomputed from the rows an analysis keeps (keep_requests) equal the analysis's
 *     own figures exactly: latency and stage percentiles, stage and padding shares of p95, on a
 *     simulated GPU trace and on a hand-built one whose requests all tie in latency (the analysis is
 *     the reference);
 *  2. sp_diff_bootstrap equals a naive reference written here, which builds each resample as an
 *     explicit list of drawn rows (one by one, or in circular blocks of rows consecutive in arrival
 *     order), sorts it and takes nearest ranks by DESIGN section 4's integer formula, on two small
 *     runs with ties and stages missing on either side; the kept arrival order is the trace's, and
 *     the default block length follows its documented rule;
 *  3. a case computed by hand: BASE three requests of 10 ns, NEW {10, 10, 20} ns (see the comments).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff/diff_int.h"
#include "ev_build.h"
#include "testlib.h"
#include "servprof/synth.h"

/* ---- 1. the rows reproduce the analysis ---- */

static void check_against_report(const sp_report *r, const char *what)
{
    sp_diff_run *run;
    CHECK_MSG(sp_diff_run_from_report(r, what, &run) == SP_OK, "%s: run", what);
    CHECK_MSG(run->n_rows == r->request_count, "%s: %zu rows for %llu requests", what, run->n_rows,
              (unsigned long long)r->request_count);
    sp_diff_rows rows;
    CHECK_MSG(sp_diff_rows_prepare(&rows, run) == SP_OK, "%s: prepare", what);
    size_t ns = r->n_stages;
    int col[128];
    for (size_t s = 0; s < ns; s++)
        col[s] = (int)s;
    double st[4 + 4 * 128];
    sp_diff_stats(&rows, NULL, col, ns, st);
    CHECK_MSG(st[SP_DIFF_STAT_LAT(0)] == (double)r->latency.p50_ns, "%s: p50 %.0f vs %llu", what,
              st[SP_DIFF_STAT_LAT(0)], (unsigned long long)r->latency.p50_ns);
    CHECK_MSG(st[SP_DIFF_STAT_LAT(1)] == (double)r->latency.p95_ns, "%s: p95", what);
    CHECK_MSG(st[SP_DIFF_STAT_LAT(2)] == (double)r->latency.p99_ns, "%s: p99", what);
    for (size_t s = 0; s < ns; s++) {
        const sp_stage_row *row = &r->stages[s];
        CHECK_MSG(st[SP_DIFF_STAT_STAGE(s, 0)] == (double)row->q.p50_ns, "%s: %s p50", what, row->name);
        CHECK_MSG(st[SP_DIFF_STAT_STAGE(s, 1)] == (double)row->q.p95_ns, "%s: %s p95", what, row->name);
        CHECK_MSG(st[SP_DIFF_STAT_STAGE(s, 2)] == (double)row->q.p99_ns, "%s: %s p99", what, row->name);
        CHECK_MSG(st[SP_DIFF_STAT_STAGE(s, 3)] == row->share_p95, "%s: %s share %.17g vs %.17g", what, row->name,
                  st[SP_DIFF_STAT_STAGE(s, 3)], row->share_p95);
    }
    CHECK_MSG(st[SP_DIFF_STAT_PADDING(ns)] == r->padding.share_p95, "%s: padding share %.17g vs %.17g", what,
              st[SP_DIFF_STAT_PADDING(ns)], r->padding.share_p95);
    sp_diff_rows_free(&rows);
    sp_diff_run_destroy(run);
}

static void test_rows_match_analysis_synth(void)
{
    sp_synth_options o;
    sp_synth_options_init(&o);
    o.requests = 3000;
    o.gpu = 1; /* copies, kernels, gaps and padding: every figure non-zero */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char err[256];
    CHECK_MSG(f && sp_synth_write(&o, f, err, sizeof err) == SP_OK, "synth: %s", err);
    fclose(f);
    sp_events *ev;
    CHECK_MSG(sp_events_create(&ev) == SP_OK, "create");
    CHECK_MSG(sp_events_load_buffer(ev, "synth", buf, len, NULL, err, sizeof err) == SP_OK, "load: %s", err);
    sp_analyze_options ao;
    sp_analyze_options_init(&ao);
    ao.keep_requests = 1;
    sp_report *r;
    CHECK_MSG(sp_analyze(ev, &ao, &r, err, sizeof err) == SP_OK, "analyze: %s", err);
    CHECK_MSG(r->padding.share_p95 > 0 && r->detail && r->detail->requests.n == 3000, "synth: padding and rows");
    /* each row sums to its latency: the stages partition a request's life (DESIGN section 3) */
    const sp_request_rows *rw = &r->detail->requests;
    int sums = 1;
    for (size_t k = 0; k < rw->n; k++) {
        uint64_t t = 0;
        for (size_t s = 0; s < rw->n_stages; s++)
            t += rw->stage_ns[k * rw->n_stages + s];
        sums &= t == r->detail->latency_ns[k];
    }
    CHECK_MSG(sums, "synth: a row does not sum to its latency");
    check_against_report(r, "synth --gpu");
    sp_report_destroy(r);
    sp_events_destroy(ev);
    free(buf);
}

/* 25 requests that all take 1000 ns, split between preprocess (i x 37 + 1 ns) and queue: their latency
 * ranks are decided by the id text alone (docs/analysis.md section 7), so the p95 window (ranks 5
 * to 24 of 25: DESIGN 4 widened to 20) holds a set of requests only that tie rule picks. */
static void test_rows_match_analysis_ties(void)
{
    sp_events *ev = eb_new();
    static const int order[25] = {7, 19, 3, 24, 11, 0, 15, 22, 5, 9, 17, 1, 13, 21, 4, 8, 20, 2, 16, 10,
                                  23, 6, 14, 18, 12};
    for (int k = 0; k < 25; k++) {
        int i = order[k]; /* added out of id order: the result must not depend on it */
        char id[8];
        snprintf(id, sizeof id, "r%02d", i);
        uint64_t a = 10000u * (uint64_t)k; /* arrivals in the order of the list, not of the ids */
        uint32_t q = eb_req(ev, id, a, a + 1000);
        eb_span(ev, q, "preprocess", a, a + 37u * (uint64_t)i + 1);
        eb_span(ev, q, "queue", a + 37u * (uint64_t)i + 1, a + 1000);
    }
    sp_analyze_options ao;
    sp_analyze_options_init(&ao);
    ao.keep_requests = 1;
    sp_report *r;
    char err[256];
    CHECK_MSG(sp_analyze(ev, &ao, &r, err, sizeof err) == SP_OK, "analyze: %s", err);
    /* the rows are in the analysis' rank order: the ids ascending */
    const sp_request_rows *rw = &r->detail->requests;
    CHECK_MSG(rw->n == 25, "ties: %zu rows", rw->n);
    int pre = -1;
    for (size_t s = 0; s < r->n_stages; s++)
        if (strcmp(r->stages[s].name, "preprocess") == 0)
            pre = (int)s;
    int ordered = pre >= 0;
    for (size_t k = 0; ordered && k < rw->n; k++)
        ordered = rw->stage_ns[k * rw->n_stages + (size_t)pre] == 37u * k + 1;
    CHECK_MSG(ordered, "ties: rows are not in id order");
    /* row i is request r<i>; the k-th to arrive is r<order[k]>: by_arrival is the list itself */
    int arrival_ok = rw->by_arrival != NULL;
    for (size_t k = 0; arrival_ok && k < rw->n; k++)
        arrival_ok = rw->by_arrival[k] == (uint32_t)order[k];
    CHECK_MSG(arrival_ok, "ties: by_arrival is not the order the requests arrived in");
    check_against_report(r, "ties");
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* ---- 2. the bootstrap against a naive reference ---- */

typedef struct toy {
    size_t n, ns;
    uint64_t life[64];
    uint64_t stage[64 * 4];
    double pad[64];
    uint32_t arrival[64]; /* the rows in arrival order (a permutation), or all 0: none */
} toy;

/* Deterministic rows: lives ascending with runs of equal values, stages splitting each life. */
static void toy_fill(toy *t, size_t n, size_t ns, uint64_t seed)
{
    t->n = n;
    t->ns = ns;
    uint64_t x = seed, life = 100;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        if ((x >> 60) & 1) /* half the time the next life equals this one: ties */
            life += 1 + (x >> 40) % 50;
        t->life[i] = life;
        uint64_t left = life;
        for (size_t s = 0; s + 1 < ns; s++) {
            uint64_t v = (x >> (8 * s)) % (left + 1);
            t->stage[i * ns + s] = v;
            left -= v;
        }
        t->stage[i * ns + ns - 1] = left;
        t->pad[i] = (double)t->stage[i * ns] * 0.3125 + 0.1; /* not exact in sums: order matters */
    }
    /* arrival order: a fixed shuffle of the rows (Fisher-Yates on the same generator) */
    for (size_t i = 0; i < n; i++)
        t->arrival[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t j = (size_t)((x >> 33) % i);
        uint32_t tmp = t->arrival[i - 1];
        t->arrival[i - 1] = t->arrival[j];
        t->arrival[j] = tmp;
    }
}

static sp_diff_run *toy_run(const toy *t)
{
    sp_diff_run *run = sp_diff_run_new();
    run->n_stages = t->ns;
    run->n_rows = t->n;
    run->life_ns = malloc(t->n * sizeof *run->life_ns);
    run->stage_ns = malloc(t->n * t->ns * sizeof *run->stage_ns);
    run->padding_ns = malloc(t->n * sizeof *run->padding_ns);
    run->stages = calloc(t->ns, sizeof *run->stages);
    memcpy(run->life_ns, t->life, t->n * sizeof *t->life);
    memcpy(run->stage_ns, t->stage, t->n * t->ns * sizeof *t->stage);
    memcpy(run->padding_ns, t->pad, t->n * sizeof *t->pad);
    int has_arrival = 0;
    for (size_t i = 0; i < t->n; i++)
        has_arrival |= t->arrival[i] != 0;
    if (has_arrival) {
        run->by_arrival = malloc(t->n * sizeof *run->by_arrival);
        memcpy(run->by_arrival, t->arrival, t->n * sizeof *t->arrival);
    }
    return run;
}

/* DESIGN section 4: k = (XX x n + 99) / 100 in integers, at least 1 (whole percents). */
static size_t design_rank(size_t n, unsigned xx)
{
    size_t k = (xx * n + 99) / 100;
    return k < 1 ? 1 : k;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The statistics of the drawn rows idx[0..m), computed the plain way. */
static void naive_stats(const toy *t, size_t *idx, size_t m, const int *col, size_t nu, double *out)
{
    static const unsigned pct[3] = {50, 95, 99};
    qsort(idx, m, sizeof *idx, size_cmp); /* rows are in rank order: sorted rows are the ranking */
    uint64_t v[64];
    for (int p = 0; p < 3; p++)
        out[SP_DIFF_STAT_LAT(p)] = (double)t->life[idx[design_rank(m, pct[p]) - 1]];
    size_t lo, hi;
    sp_share_window(m, 95, &lo, &hi);
    long double den = 0, pad = 0;
    for (size_t k = lo; k <= hi; k++) {
        den += (long double)t->life[idx[k - 1]];
        pad += (long double)t->pad[idx[k - 1]];
    }
    out[SP_DIFF_STAT_PADDING(nu)] = (double)(pad / den);
    for (size_t u = 0; u < nu; u++) {
        if (col[u] < 0) {
            for (int f = 0; f < 4; f++)
                out[SP_DIFF_STAT_STAGE(u, f)] = 0;
            continue;
        }
        for (size_t k = 0; k < m; k++)
            v[k] = t->stage[idx[k] * t->ns + (size_t)col[u]];
        long double num = 0;
        for (size_t k = lo; k <= hi; k++)
            num += (long double)v[k - 1];
        out[SP_DIFF_STAT_STAGE(u, 3)] = (double)(num / den);
        qsort(v, m, sizeof *v, u64_cmp);
        for (int p = 0; p < 3; p++)
            out[SP_DIFF_STAT_STAGE(u, p)] = (double)v[design_rank(m, pct[p]) - 1];
    }
}

/* docs/diff.md: a block starts at position floor(u x n) of the arrival order, u from the top 53 bits
 * of the next draw, and takes `block` rows from there, past the last back to the first; blocks until
 * n rows, the last cut short. Block 1 draws rows: the row at that position. */
static void naive_draw(sp_rng *rng, const toy *t, size_t block, size_t *idx)
{
    size_t n = t->n, k = 0;
    while (k < n) {
        size_t start = (size_t)(sp_bits_to_unit(sp_rng_next(rng)) * (double)n);
        for (size_t j = 0; j < block && k < n; j++)
            idx[k++] = block == 1 ? start : t->arrival[(start + j) % n];
    }
}

/* `block` is the option; bb and ba the block lengths it means for BASE's 23 and NEW's 31 rows */
static void bootstrap_vs_naive(unsigned block, size_t bb, size_t ba)
{
    toy b, a;
    toy_fill(&b, 23, 3, 11);
    toy_fill(&a, 31, 2, 29);
    /* union of 4 stages: BASE has columns 0,1,2 as u0,u1,u3; NEW has 0,1 as u0,u2 */
    int bcol[4] = {0, 1, -1, 2}, acol[4] = {0, -1, 1, -1};
    size_t nu = 4, ks = SP_DIFF_N_STATS(nu);
    sp_diff_run *rb = toy_run(&b), *ra = toy_run(&a);
    sp_diff_rows xb, xa;
    CHECK_MSG(sp_diff_rows_prepare(&xb, rb) == SP_OK && sp_diff_rows_prepare(&xa, ra) == SP_OK, "prepare");
    sp_diff_options o;
    sp_diff_options_init(&o);
    o.resamples = 301;
    o.seed = 12345;
    o.confidence = 0.9;
    o.block = block;
    double lo[32], hi[32];
    CHECK_MSG(sp_diff_bootstrap(&xb, bcol, &xa, acol, nu, &o, lo, hi) == SP_OK, "bootstrap");

    /* the reference: the same draws (stream 1 for BASE, 2 for NEW), explicit resamples */
    sp_rng gb, ga;
    sp_rng_seed(&gb, o.seed, 1);
    sp_rng_seed(&ga, o.seed, 2);
    double *delta = malloc(ks * o.resamples * sizeof *delta);
    size_t ib[64], ia[64];
    double sb[32], sa[32], cb[32], ca[32];
    uint32_t counts[64];
    int same_as_counts = 1;
    for (unsigned r = 0; r < o.resamples; r++) {
        naive_draw(&gb, &b, bb, ib);
        naive_draw(&ga, &a, ba, ia);
        /* the library's statistics of the same resample, through counts */
        memset(counts, 0, sizeof counts);
        for (size_t k = 0; k < b.n; k++)
            counts[ib[k]]++;
        sp_diff_stats(&xb, counts, bcol, nu, cb);
        memset(counts, 0, sizeof counts);
        for (size_t k = 0; k < a.n; k++)
            counts[ia[k]]++;
        sp_diff_stats(&xa, counts, acol, nu, ca);
        naive_stats(&b, ib, b.n, bcol, nu, sb);
        naive_stats(&a, ia, a.n, acol, nu, sa);
        for (size_t k = 0; k < ks; k++) {
            same_as_counts &= cb[k] == sb[k] && ca[k] == sa[k];
            delta[k * o.resamples + r] = sa[k] - sb[k];
        }
    }
    CHECK_MSG(same_as_counts, "block %u: the counts walk and the explicit resample disagree", block);
    /* (1 - 0.9) / 2 = 5%: nearest ranks ceil(0.05 x 301) = 16 and ceil(0.95 x 301) = 286 */
    for (size_t k = 0; k < ks; k++) {
        double *d = delta + k * o.resamples;
        qsort(d, o.resamples, sizeof *d, dbl_cmp);
        CHECK_MSG(lo[k] == d[16 - 1] && hi[k] == d[286 - 1],
                  "block %u, statistic %zu: [%.17g, %.17g] vs reference [%.17g, %.17g]", block, k, lo[k], hi[k], d[15],
                  d[285]);
    }
    free(delta);
    sp_diff_rows_free(&xb);
    sp_diff_rows_free(&xa);
    sp_diff_run_destroy(rb);
    sp_diff_run_destroy(ra);
}

static void test_bootstrap_vs_naive(void)
{
    bootstrap_vs_naive(1, 1, 1); /* requests one by one */
    bootstrap_vs_naive(2, 2, 2); /* 23 = 11 x 2 + 1 and 31 = 15 x 2 + 1 rows: the last block cut short */
    bootstrap_vs_naive(4, 2, 3); /* a given length is cut to n / 10 as the default is: 2 and 3 rows */
    bootstrap_vs_naive(0, 2, 3); /* the default: 23 and 31 rows are under 10 blocks of 100, so blocks
                                    of 23 / 10 = 2 and 31 / 10 = 3 rows (n / SP_DIFF_MIN_BLOCKS) */
}

/* The default block length (docs/diff.md, "Confidence"): max(100, ceil(sqrt(n))), cut to n / 10
 * (at least 1); an explicit length is cut to n / 10 too (at least 1; it was cut to n, and a block of
 * the whole run resamples the run itself: intervals 0 wide). Worked by hand: sqrt(4000) = 63.2 -> 64 < 100, so
 * 100; sqrt(40000) = 200 exactly; sqrt(1000001) = 1000.0005 -> 1001; n = 500: 100 > 500 / 10 = 50. */
static void test_block_len(void)
{
    static const struct {
        size_t n;
        unsigned option;
        size_t want;
    } c[] = {{4000, 0, 100},   {40000, 0, 200}, {39999, 0, 200}, {40001, 0, 201}, {1000000, 0, 1000},
             {1000001, 0, 1001}, {1000, 0, 100},  {999, 0, 99},     {500, 0, 50},     {9, 0, 1},
             {1, 0, 1},         {0, 0, 1},       {4000, 1, 1},     {4000, 7, 7},     {5, 10, 1},
             {3000, 999999, 300}, {3000, 300, 300}, {3000, 301, 300}, {40, 1000, 4}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        size_t got = sp_diff_block_len(c[i].n, c[i].option);
        CHECK_MSG(got == c[i].want, "block length of %zu requests, option %u: %zu, expected %zu", c[i].n, c[i].option,
                  got, c[i].want);
    }
    /* a block draw takes whole runs of the arrival order: with blocks of 3 over 6 rows arriving
     * 5, 4, 3, 2, 1, 0, every resample's counts come from windows (5,4,3), (4,3,2), ..., (0,5,4) */
    uint32_t arr[6] = {5, 4, 3, 2, 1, 0}, cnt[6];
    sp_rng g;
    sp_rng_seed(&g, 3, 0);
    int whole = 1;
    for (int r = 0; r < 200; r++) {
        sp_rng copy = g;
        sp_diff_draw(&g, 6, arr, 3, cnt);
        uint32_t want[6] = {0};
        for (int b = 0; b < 2; b++) {
            size_t s = (size_t)(sp_bits_to_unit(sp_rng_next(&copy)) * 6.0);
            for (size_t j = 0; j < 3; j++)
                want[arr[(s + j) % 6]]++;
        }
        whole &= memcmp(cnt, want, sizeof cnt) == 0;
    }
    CHECK_MSG(whole, "block draws are not windows of the arrival order");
}

/* ---- 3. by hand ---- */

static void test_hand_case(void)
{
    /* NEW: rows (life, stage a, stage b) = (10, 10, 0), (10, 10, 0), (20, 5, 15), in rank order. */
    toy t = {.n = 3, .ns = 2, .life = {10, 10, 20}, .stage = {10, 0, 10, 0, 5, 15}, .pad = {0, 0, 3}};
    sp_diff_run *run = toy_run(&t);
    sp_diff_rows x;
    CHECK_MSG(sp_diff_rows_prepare(&x, run) == SP_OK, "prepare");
    int col[2] = {0, 1};
    double st[12];
    /* counts (1, 1, 1): the run itself. n = 3: p50 is the 2nd smallest (k = (50 x 3 + 99) / 100 = 2),
     * 10; p95 and p99 the 3rd, 20. The share window needs min(20, 3) = 3 requests: all of them, so
     * share of b = 15 / (10 + 10 + 20) = 0.375, of a = 25 / 40 = 0.625, padding 3 / 40 = 0.075. Stage b's
     * values {0, 0, 15}: p50 0, p95 and p99 15. */
    uint32_t all[3] = {1, 1, 1};
    sp_diff_stats(&x, all, col, 2, st);
    CHECK_MSG(st[0] == 10 && st[1] == 20 && st[2] == 20, "hand (1,1,1): latency %g %g %g", st[0], st[1], st[2]);
    CHECK_MSG(st[SP_DIFF_STAT_STAGE(1, 3)] == 0.375 && st[SP_DIFF_STAT_STAGE(0, 3)] == 0.625, "hand (1,1,1): shares");
    CHECK_MSG(st[SP_DIFF_STAT_PADDING(2)] == 0.075, "hand (1,1,1): padding %g", st[SP_DIFF_STAT_PADDING(2)]);
    CHECK_MSG(st[SP_DIFF_STAT_STAGE(1, 0)] == 0 && st[SP_DIFF_STAT_STAGE(1, 1)] == 15, "hand (1,1,1): stage b");
    /* counts (0, 1, 2): {10, 20, 20}: p50 20; share of b = 30 / 50 = 0.6; stage a's values {10, 5, 5}:
     * p50 the 2nd smallest, 5; p95 10 */
    uint32_t c2[3] = {0, 1, 2};
    sp_diff_stats(&x, c2, col, 2, st);
    CHECK_MSG(st[0] == 20 && st[SP_DIFF_STAT_STAGE(1, 3)] == 0.6, "hand (0,1,2): p50 %g share %g", st[0],
              st[SP_DIFF_STAT_STAGE(1, 3)]);
    CHECK_MSG(st[SP_DIFF_STAT_STAGE(0, 0)] == 5 && st[SP_DIFF_STAT_STAGE(0, 1)] == 10, "hand (0,1,2): stage a");
    /* counts (3, 0, 0): {10, 10, 10}: everything 10, share of b 0 */
    uint32_t c3[3] = {3, 0, 0};
    sp_diff_stats(&x, c3, col, 2, st);
    CHECK_MSG(st[0] == 10 && st[2] == 10 && st[SP_DIFF_STAT_STAGE(1, 3)] == 0, "hand (3,0,0)");

    /* Draws: a resample's p50 is 20 when at least 2 of its 3 draws are the third row:
     * P = 3 x (1/3)^2 x (2/3) + (1/3)^3 = 7/27; its p99 is 20 when at least one is:
     * P = 1 - (2/3)^3 = 19/27. Over 20000 resamples the observed fractions lie within 4 standard
     * deviations (sqrt(p (1 - p) / 20000) <= 0.0036) of those. */
    sp_rng g;
    sp_rng_seed(&g, 99, 0);
    uint32_t cnt[3];
    size_t p50_hi = 0, p99_hi = 0, draws = 20000;
    for (size_t r = 0; r < draws; r++) {
        sp_diff_draw(&g, 3, NULL, 1, cnt);
        CHECK_MSG(cnt[0] + cnt[1] + cnt[2] == 3, "a resample of 3 holds %u", cnt[0] + cnt[1] + cnt[2]);
        sp_diff_stats(&x, cnt, col, 2, st);
        p50_hi += st[0] == 20;
        p99_hi += st[2] == 20;
    }
    double f50 = (double)p50_hi / (double)draws, f99 = (double)p99_hi / (double)draws;
    CHECK_MSG(fabs(f50 - 7.0 / 27) < 4 * 0.0036, "P(p50 = 20) = %.4f, expected 7/27 = %.4f", f50, 7.0 / 27);
    CHECK_MSG(fabs(f99 - 19.0 / 27) < 4 * 0.0036, "P(p99 = 20) = %.4f, expected 19/27 = %.4f", f99, 19.0 / 27);

    /* BASE: three requests of 10 ns, one stage: every resample's p50 is 10. The change of p50 is
     * 10 with probability 7/27 and 0 otherwise; both are more likely than 2.5%, so the 95% interval
     * runs from 0 to 10. */
    toy tb = {.n = 3, .ns = 1, .life = {10, 10, 10}, .stage = {10, 10, 10}, .pad = {0, 0, 0}};
    sp_diff_run *rb = toy_run(&tb);
    sp_diff_rows xb;
    CHECK_MSG(sp_diff_rows_prepare(&xb, rb) == SP_OK, "prepare");
    int bcol[2] = {0, -1};
    sp_diff_options o;
    sp_diff_options_init(&o);
    o.resamples = 2000;
    double lo[12], hi[12];
    CHECK_MSG(sp_diff_bootstrap(&xb, bcol, &x, col, 2, &o, lo, hi) == SP_OK, "bootstrap");
    CHECK_MSG(lo[0] == 0 && hi[0] == 10, "p50 change interval [%g, %g], expected [0, 10]", lo[0], hi[0]);
    /* stage b is missing in BASE (0) and NEW's share of it lies in [0, 0.75]: (0,0,3) gives
     * 45/60 = 0.75, the largest */
    CHECK_MSG(lo[SP_DIFF_STAT_STAGE(1, 3)] >= 0 && hi[SP_DIFF_STAT_STAGE(1, 3)] <= 0.75, "share interval");
    sp_diff_rows_free(&xb);
    sp_diff_run_destroy(rb);
    sp_diff_rows_free(&x);
    sp_diff_run_destroy(run);

    /* the interval's ranks: (1 - C) / 2 in thousandths of a percent */
    CHECK_MSG(sp_diff_lower_q(0.95) == 2500 && sp_diff_lower_q(0.9) == 5000 && sp_diff_lower_q(0.999) == 50 &&
              sp_diff_lower_q(0.5) == 25000,
              "lower q");
}

int main(void)
{
    test_rows_match_analysis_synth();
    test_rows_match_analysis_ties();
    test_bootstrap_vs_naive();
    test_block_len();
    test_hand_case();
    return sp_test_done("test_diff_bootstrap");
}
