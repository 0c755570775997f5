/* The stage rows' shortcuts (src/analyze/share.c) against their general routes.
 *
 * 1. The latency ranking's radix sort (sp_ana_rank_keys): keys below 2^32 packed with their positions
 *    into 8-byte values (sp_ana_rank_pack = 1, the route of numeric ids), 16-byte records with wide
 *    digits (sp_ana_rank_wide = 1: digits of up to 11 bits over the bits in which the keys differ, all
 *    counts in one pass, a digit every key shares skipped) and with a pass per varying byte (0), each
 *    against a reference: qsort of (key, position) pairs, which is the one stable order. Key sets:
 *    none, one, two; all equal; one bit varying (bit 0, bit 63); the ranking's numeric-id keys (below
 *    2^30); random contiguous bit spans of every width from 1 to 64 at random offsets (and of 1 to 32
 *    below 2^32), with constant bits above and below; keys with gaps (only a high and a low field
 *    vary, so the digits between are constant); few distinct keys (long runs of ties, whose order is
 *    the input's); full 64-bit keys.
 * 2. The stage columns (sp_ana_cols_fast = 1: every column's stats in one pass over the matrix, a
 *    column whose values are all equal not gathered) against the gather of each column with its stats
 *    (0): every stage row's figures (count, min, max, p50/p95/p99, mean bit for bit, total, shares) and
 *    the detail's 5/25/75 spread, for sets whose requests are all alike (every column constant, some
 *    of them 0), alike but for one request, spread, with lives past 2^32 (the 8-byte matrix), small
 *    and past sp_ana_two_threads_min (the columns on a second thread). Known answer for the first:
 *    n requests each with preprocess 10, queue 20, postprocess 30 ns (by hand from DESIGN section 4:
 *    every nearest rank of a constant column is that value, its mean the value, its total n times it).
 * 3. Whole reports (JSON, text and the request rows) of every input of analyze_routes_testutil.h
 *    (numeric ids and text ids, so both the packed and the record route) with every shortcut and with
 *    none: byte-identical. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "ana_switches_testutil.h"
#include "analyze_routes_testutil.h"
#include "ev_build.h"
#include "testlib.h"
#include "xorshift_testutil.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { return xs64_next(&rng_state); }
static uint64_t rin(uint64_t lo, uint64_t hi) { return xs64_in(&rng_state, lo, hi); } /* inclusive */

/* ---- 1. the ranking's radix sort ---- */

struct kp {
    uint64_t key;
    uint32_t pos;
};

static int kp_cmp(const void *a, const void *b)
{
    const struct kp *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int sorts_checked, sorts_packed; /* key sets, and those all below 2^32 (the packed route) */

static void check_keys(const uint64_t *key, size_t n, const char *what)
{
    struct kp *ref = malloc((n ? n : 1) * sizeof *ref);
    uint32_t *packed = malloc((n ? n : 1) * sizeof *packed), *wide = malloc((n ? n : 1) * sizeof *wide),
             *bytes = malloc((n ? n : 1) * sizeof *bytes);
    CHECK(ref && packed && wide && bytes);
    if (!ref || !packed || !wide || !bytes)
        goto out;
    for (size_t i = 0; i < n; i++)
        ref[i] = (struct kp){key[i], (uint32_t)i};
    qsort(ref, n, sizeof *ref, kp_cmp);
    CHECK(sp_ana_rank_keys(key, n, packed) == SP_OK); /* packed when every key is below 2^32 */
    sp_ana_rank_pack = 0;
    CHECK(sp_ana_rank_keys(key, n, wide) == SP_OK);
    sp_ana_rank_wide = 0;
    CHECK(sp_ana_rank_keys(key, n, bytes) == SP_OK);
    sp_ana_rank_wide = sp_ana_rank_pack = 1;
    int ok = 1, small = 1;
    for (size_t i = 0; i < n; i++) {
        ok &= packed[i] == ref[i].pos && wide[i] == ref[i].pos && bytes[i] == ref[i].pos;
        small &= key[i] <= UINT32_MAX;
    }
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "rank sort differs from the reference: %s, n = %zu\n", what, n);
    sorts_checked++;
    sorts_packed += small;
out:
    free(ref);
    free(packed);
    free(wide);
    free(bytes);
}

static void rank_sorts(void)
{
    enum { N = 5000 };
    uint64_t *k = calloc(N, sizeof *k);
    CHECK(k != NULL);
    if (!k)
        return;
    check_keys(k, 0, "none");
    k[0] = 7;
    check_keys(k, 1, "one");
    k[0] = 9;
    k[1] = 3;
    check_keys(k, 2, "two, reversed");
    for (size_t i = 0; i < N; i++)
        k[i] = 0x123456789abcdefull;
    check_keys(k, N, "all equal");
    for (size_t i = 0; i < N; i++)
        k[i] = 0x1000 | (rnd() & 1);
    check_keys(k, N, "bit 0");
    for (size_t i = 0; i < N; i++)
        k[i] = (rnd() & 1) << 63 | 5;
    check_keys(k, N, "bit 63");
    for (size_t i = 0; i < N; i++) /* sp_ev_num_rank_key's shape: eight digits x 8 + count - 1 */
        k[i] = rin(10000000, 99999999) * 8 + rin(0, 7);
    check_keys(k, N, "numeric-id keys");
    for (unsigned width = 1; width <= 64; width++) {
        unsigned lo = (unsigned)rin(0, 64 - width);
        uint64_t span = width == 64 ? ~(uint64_t)0 : (((uint64_t)1 << width) - 1) << lo;
        uint64_t fixed = rnd() & ~span;
        size_t n = (size_t)rin(2, N);
        for (size_t i = 0; i < n; i++)
            k[i] = fixed | (rnd() & span);
        check_keys(k, n, "a span of varying bits");
        for (size_t i = 0; i < n; i++) /* the span's ends varying, so its width is the whole span */
            k[i] = fixed | (rnd() & span & ((uint64_t)1 << lo | (uint64_t)1 << (lo + width - 1)));
        check_keys(k, n, "a span's two ends");
    }
    for (unsigned width = 1; width <= 32; width++) { /* spans below 2^32: the packed route */
        unsigned lo = (unsigned)rin(0, 32 - width);
        uint64_t span = (((uint64_t)1 << width) - 1) << lo;
        uint64_t fixed = rnd() & ~span & 0xffffffffull;
        size_t n = (size_t)rin(2, N);
        for (size_t i = 0; i < n; i++)
            k[i] = fixed | (rnd() & span);
        check_keys(k, n, "a span of varying bits below 2^32");
    }
    for (int rep = 0; rep < 20; rep++) {
        size_t n = (size_t)rin(2, N);
        for (size_t i = 0; i < n; i++) /* a high and a low field; the 40 bits between constant */
            k[i] = (rnd() & 0xfull) << 56 | 0x00aa55aa55aa0000ull | (rnd() & 0xfffull);
        check_keys(k, n, "gaps");
        uint64_t few[5] = {rnd(), rnd(), rnd() >> 20, 0, ~(uint64_t)0};
        for (size_t i = 0; i < n; i++)
            k[i] = few[rin(0, 4)];
        check_keys(k, n, "five distinct keys");
        for (size_t i = 0; i < n; i++)
            k[i] = rnd();
        check_keys(k, n, "full 64-bit");
    }
    free(k);
}

/* ---- 2. the stage columns ---- */

typedef struct rows_out {
    size_t ns;
    sp_stage_row *rows;
    sp_stage_spread *spread;
} rows_out;

/* Analyses ev with keep_detail, the stage columns by the route `fast`, and keeps the stage rows. */
static int stage_rows_of(sp_events *ev, int fast, rows_out *o)
{
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    opt.keep_detail = 1;
    sp_ana_cols_fast = fast;
    sp_report *r = NULL;
    char err[256];
    sp_status st = sp_analyze(ev, &opt, &r, err, sizeof err);
    sp_ana_cols_fast = 1;
    if (st != SP_OK) {
        fprintf(stderr, "sp_analyze: %s (%s)\n", err, sp_status_str(st));
        return 0;
    }
    o->ns = r->n_stages;
    o->rows = malloc(o->ns * sizeof *o->rows);
    o->spread = malloc(o->ns * sizeof *o->spread);
    if (!o->rows || !o->spread) {
        sp_report_destroy(r);
        return 0;
    }
    memcpy(o->rows, r->stages, o->ns * sizeof *o->rows);
    memcpy(o->spread, r->detail->stage_spread, o->ns * sizeof *o->spread);
    for (size_t s = 0; s < o->ns; s++)
        o->rows[s].name = NULL; /* owned by the report */
    sp_report_destroy(r);
    return 1;
}

static int cols_compared, const_cols;

static void same_rows(sp_events *ev, const char *what)
{
    rows_out g = {0}, f = {0};
    int ok = stage_rows_of(ev, 0, &g) && stage_rows_of(ev, 1, &f) && g.ns == f.ns;
    CHECK(ok);
    for (size_t s = 0; ok && s < g.ns; s++) {
        const sp_stage_row *x = &g.rows[s], *y = &f.rows[s];
        int eq = x->q.count == y->q.count && x->q.min_ns == y->q.min_ns && x->q.max_ns == y->q.max_ns &&
                 x->q.p50_ns == y->q.p50_ns && x->q.p95_ns == y->q.p95_ns && x->q.p99_ns == y->q.p99_ns &&
                 memcmp(&x->q.mean_ns, &y->q.mean_ns, sizeof x->q.mean_ns) == 0 && x->total_ns == y->total_ns &&
                 memcmp(&x->share_p50, &y->share_p50, sizeof(double)) == 0 &&
                 memcmp(&x->share_p95, &y->share_p95, sizeof(double)) == 0 &&
                 memcmp(&x->share_p99, &y->share_p99, sizeof(double)) == 0 &&
                 memcmp(&g.spread[s], &f.spread[s], sizeof g.spread[s]) == 0;
        CHECK(eq);
        if (!eq)
            fprintf(stderr, "%s: stage row %zu differs\n", what, s);
        const_cols += x->q.count && x->q.min_ns == x->q.max_ns;
        cols_compared++;
    }
    free(g.rows);
    free(g.spread);
    free(f.rows);
    free(f.spread);
}

/* n requests of preprocess, queue, postprocess spans one after another; `shape` 0: all alike, 1: all
 * alike but request n/2, 2: spread, 3: all alike but request n/2's preprocess 1 ns longer (a column
 * that varies in its lowest bit only); `scale` multiplies every time (2^22 puts lives past 2^32). */
static sp_events *column_set(size_t n, int shape, uint64_t scale)
{
    sp_events *ev = eb_new();
    uint64_t t = 1000;
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%zu", i + 1);
        uint64_t a = 10, b = 20, c = 30;
        if (shape == 2 || (shape == 1 && i == n / 2)) {
            a = rin(0, 50);
            b = rin(1, 50);
            c = rin(0, 50);
        }
        if (shape == 3 && i == n / 2)
            a++;
        a *= scale;
        b *= scale;
        c *= scale;
        uint32_t q = eb_req(ev, id, t, t + a + b + c);
        eb_span(ev, q, "preprocess", t, t + a);
        eb_span(ev, q, "queue", t + a, t + a + b);
        eb_span(ev, q, "postprocess", t + a + b, t + a + b + c);
        t += 100 * scale;
    }
    return ev;
}

static void known_constant(void)
{
    sp_events *ev = column_set(1000, 0, 1);
    rows_out o = {0};
    CHECK(stage_rows_of(ev, 1, &o));
    static const uint64_t want[3] = {10, 20, 30}; /* preprocess, queue, postprocess */
    for (int k = 0; k < 3; k++) {
        size_t s = k == 0 ? 1 : k == 1 ? 0 : 6; /* DESIGN section 3's row order */
        const sp_stage_row *x = &o.rows[s];
        CHECK(o.ns > 6 && x->q.count == 1000);
        CHECK(x->q.min_ns == want[k] && x->q.max_ns == want[k] && x->q.p50_ns == want[k] &&
              x->q.p95_ns == want[k] && x->q.p99_ns == want[k]);
        CHECK(x->q.mean_ns == (double)want[k] && x->total_ns == 1000 * want[k]);
        CHECK(o.spread[s].p5_ns == want[k] && o.spread[s].p25_ns == want[k] && o.spread[s].p75_ns == want[k]);
    }
    free(o.rows);
    free(o.spread);
    sp_events_destroy(ev);
}

static void columns(void)
{
    static const size_t sizes[] = {1, 2, 3, 20, 101, 1000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (int shape = 0; shape < 4; shape++)
            for (int wide = 0; wide < 2; wide++) {
                sp_events *ev = column_set(sizes[k], shape, wide ? (uint64_t)1 << 27 : 1);
                same_rows(ev, "column set");
                sp_events_destroy(ev);
            }
    /* the columns on a second thread, beside the ranking */
    size_t keep = sp_ana_two_threads_min;
    sp_ana_two_threads_min = 2;
    for (int shape = 0; shape < 4; shape++) {
        sp_events *ev = column_set(3000, shape, 1);
        same_rows(ev, "column set, two threads");
        sp_events_destroy(ev);
    }
    sp_ana_two_threads_min = keep;
}

/* ---- 3. whole reports ---- */

/* The shortcuts on or off (ana_same_both_ways). */
static void turn(int on)
{
    sp_ana_rank_wide = sp_ana_rank_pack = sp_ana_cols_fast = on;
}

int main(void)
{
    rank_sorts();
    fprintf(stderr, "%d key sets sorted, %d of them by the packed route too\n", sorts_checked, sorts_packed);
    CHECK(sorts_packed > 10 && sorts_packed < sorts_checked);
    known_constant();
    columns();
    fprintf(stderr, "%d stage rows compared, %d of them constant columns\n", cols_compared, const_cols);
    CHECK(const_cols > 0 && const_cols < cols_compared);
    CHECK(ana_same_both_ways("rankcols", &rng_state, turn) == AR_TRACES);
    return sp_test_done("test_analyze_rankcols");
}
