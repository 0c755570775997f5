/* The per-request partition's shortcuts (src/analyze/partition.c, sp_ana_part_fast) against its
 * general path.
 *
 * 1. Differential: random event sets whose requests have disjoint spans in start order (the shape the
 *    shortcut takes: each clipped span is its own piece), spans that touch end to start, nested and
 *    overlapping spans (the span heap), spans partly or wholly outside [arrival, done), empty spans,
 *    and stage names among the fixed rows, `network`, `other` and named ones; batches whose windows
 *    overlap, with device activity tied by batch and by window that cuts a window into one piece or
 *    many (more than four: the binary search over a batch's pieces), and requests in no batch, one or
 *    several, and batches whose activities come one after another, touching or apart, of one label
 *    or of several (the batch pieces straight from the activities), or not quite, and empty windows.
 *    Sets of a third kind are serving mixes (mix_set): groups of requests one after another in one
 *    batch each (the shortcut for a request with one batch, whose window's sums are kept for the
 *    next request of the batch), windows cut by some lives, a request in a second batch now and then.
 *    Each set is partitioned with the shortcuts (narrow and wide, one thread and two) and with
 *    sp_ana_part_fast = 0 (the painter for every batch window, the heap for every request, the stage
 *    lookup by binary search, the search over every batch's pieces); every life, every stage time,
 *    every padding time (bit for bit) and every request's painted pieces (sp_ana_request_pieces) must
 *    be the same, and each row sums to its life. The sets are checked to hold requests of both shapes
 *    (disjoint and overlapping spans), and to take all three routes of the batch pieces' ties: the one
 *    pass over the activity (every activity names its batch, the batches in order: the mixes), the
 *    counting sort at once (an activity tied by window before any batch was built); and sets of more
 *    batches than the one pass gathers at once, whose last activity ties by window or names the first
 *    batch (the counting sort after the one pass had built some batches and gave up), or that take the
 *    one pass whole.
 * 2. Known answers, worked by hand from DESIGN section 3 (batch pieces win, then the latest-started
 *    span, the time between batch windows is queue, the rest other), by both paths: a request with
 *    disjoint spans across one batch window, one with a span nested in another, one with touching
 *    spans and no batch, and one whose span holds its whole batch window (the shortcut for a request
 *    in at most one batch with disjoint spans).
 * 3. Whole reports: the JSON and text reports and the request rows of every input of
 *    analyze_routes_testutil.h (the repository's JSONL and Kineto traces, synth runs, native traces
 *    written by the recorder with overlapping batches, activity tied by id and by window, stage spans
 *    in any order, one cut short) are byte-identical with the shortcuts and without. */
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

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rin(uint64_t lo, uint64_t hi) { return xs64_in(&rng_state, lo, hi); } /* inclusive */

static const char *const stage_names[] = {"preprocess", "postprocess", "queue", "kernel", "network",
                                          "other", "auth", "tok", "detok"};
#define N_NAMES (sizeof stage_names / sizeof *stage_names)

#define MAXR 64
#define MAXB 10
#define TMAX 2000

static int n_disjoint, n_overlapping; /* requests of each shape over all sets (what the sets hold) */
static int n_seg_route[3]; /* shortcut partitions by a.segs_one_pass + 1: gave up late, sorted, one pass */
static int n_stage_route[2]; /* sets whose stage set the shortcut took from a pass over the spans, the list */

/* Whether the shortcut takes the stage set from the event set's list of span stages (partition.c,
 * span_stages_all_fixed): every listed stage a fixed row or `other`, written out again here. */
static int stages_from_list(const sp_events *ev)
{
    static const char *const fixed[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h", "postprocess", "other"};
    if (ev->span_stages_over)
        return 0;
    for (uint32_t i = 0; i < ev->n_span_stages; i++) {
        const char *name = sp_str_get(&ev->strings, ev->span_stages[i]);
        int hit = 0;
        for (size_t f = 0; name && f < sizeof fixed / sizeof *fixed; f++)
            hit |= !strcmp(name, fixed[f]);
        if (!hit)
            return 0;
    }
    return 1;
}

/* A serving mix (the shape of `bench_record gen`): groups of requests that come one after another,
 * each group in one batch, with stage spans one after another; the batch window inside most lives,
 * cut by some, and now and then a request in a second batch or in none. */
static sp_events *mix_set(void)
{
    sp_events *ev = eb_new();
    size_t ng = (size_t)rin(1, 12);
    uint64_t t = 1000;
    int64_t bid = 1;
    uint32_t prev[8];
    size_t nprev = 0;
    const int named = (int)rin(0, 1); /* a named stage beside the fixed ones, or none (stage_routes) */
    for (size_t g = 0; g < ng; g++) {
        size_t nm = (size_t)rin(1, 8);
        uint32_t m[8];
        uint64_t bs = t + rin(20, 80), be = bs + rin(1, 200);
        for (size_t k = 0; k < nm; k++) {
            char id[48];
            snprintf(id, sizeof id, "g%zu-%zu", g, k);
            uint64_t arr = rin(0, 3) ? t : bs + rin(0, be - bs);
            uint64_t done = rin(0, 3) ? be + rin(0, 60) : be - rin(0, be - bs);
            if (done < arr)
                done = arr;
            m[k] = eb_req(ev, id, arr, done);
            eb_span(ev, m[k], "preprocess", arr, arr + rin(0, 20));
            eb_span(ev, m[k], "queue", arr + 20, bs);
            eb_span(ev, m[k], named && rin(0, 1) ? "detok" : "postprocess", be, done + rin(0, 10));
        }
        uint32_t bi = eb_batch(ev, bid++, bs, be, (int64_t)rin(0, 400), 400, m, rin(0, 9) ? nm : nm - 1);
        uint64_t at = bs + rin(0, 10);
        for (int k = 0, na = (int)rin(0, 8); k < na && at < be; k++) {
            uint8_t kind = (uint8_t)(rin(0, 3) ? SP_ACT_KERNEL : rin(0, 1) ? SP_ACT_H2D : SP_ACT_D2H);
            uint64_t ae = at + rin(1, 30);
            eb_act(ev, kind, bi, at, ae);
            at = ae + rin(0, 10);
        }
        if (nprev && rin(0, 4) == 0) /* a request of the group before in this batch too */
            eb_batch(ev, bid++, bs, be, -1, -1, &prev[rin(0, nprev - 1)], 1);
        memcpy(prev, m, nm * sizeof *m);
        nprev = nm;
        t += rin(0, 1) ? rin(100, 300) : rin(0, 50); /* apart or overlapping the group before */
    }
    return ev;
}

/* A random set (the same one for the same rng state). */
static sp_events *random_set(int count_shapes)
{
    if (rin(0, 2) == 0)
        return mix_set();
    sp_events *ev = eb_new();
    size_t nr = (size_t)rin(1, MAXR);
    uint32_t req[MAXR];
    for (size_t i = 0; i < nr; i++) {
        char id[48];
        snprintf(id, sizeof id, "r%zu", i);
        uint64_t arr = rin(100, TMAX), done = arr + rin(0, 300);
        req[i] = eb_req(ev, id, arr, done);
        int shape = (int)rin(0, 9); /* 0..5 disjoint, 6..7 overlapping, 8 nested, 9 none */
        int ns = (int)rin(1, 6);
        int overlaps = 0;
        uint64_t t = arr > 30 ? arr - rin(0, 30) : arr, prev_e = 0;
        for (int k = 0; k < ns && shape != 9; k++) {
            uint64_t s, e;
            if (shape <= 5) {
                s = t + (rin(0, 2) ? rin(0, 15) : 0); /* often touching the one before */
                e = s + rin(0, 60);                   /* sometimes empty */
                t = e;
            } else if (shape <= 7) {
                s = arr > 40 ? arr - 40 + rin(0, done - arr + 80) : rin(0, done + 40);
                e = s + rin(0, 120);
            } else {
                s = (k == 0 ? arr : t) + rin(0, 10);
                e = s + (k == 0 ? rin(50, 300) : rin(1, 30));
                t = s;
            }
            /* an overlap among the spans the partition keeps (clipped, non-empty) */
            uint64_t cs = s > arr ? s : arr, ce = e < done ? e : done;
            if (ce > cs) {
                overlaps |= cs < prev_e;
                prev_e = ce > prev_e ? ce : prev_e;
            }
            eb_span(ev, req[i], stage_names[rin(0, N_NAMES - 1)], s, e);
        }
        if (count_shapes && shape != 9) {
            n_disjoint += !overlaps;
            n_overlapping += overlaps;
        }
    }
    size_t nb = (size_t)rin(0, MAXB);
    for (size_t b = 0; b < nb; b++) {
        uint32_t members[MAXR];
        size_t nm = 0;
        for (size_t i = 0; i < nr; i++)
            if (rin(0, 3) == 0)
                members[nm++] = req[i];
        uint64_t s = rin(50, TMAX + 200), e = s + (rin(0, 9) ? rin(1, 400) : 0); /* some empty */
        int64_t pad = rin(0, 1) ? (int64_t)rin(1, 64) : -1;
        int64_t eff = pad > 0 ? (int64_t)rin(0, (uint64_t)pad) : -1;
        uint32_t bi = eb_batch_f(ev, 0, (int64_t)b + 1, s, e, eff, pad, (uint32_t)rin(0, 1), members, nm);
        size_t na = rin(0, 2) ? rin(0, 3) : rin(5, 12); /* few pieces, or many */
        if (rin(0, 1)) {
            /* one after another (the shape segments_in_order takes): touching or apart, from before
             * the window to past it, some empty, of one label or of several; now and then one that
             * starts before the last one ends */
            uint64_t t = s > 20 ? s - rin(0, 20) : s;
            int one_label = rin(0, 2) == 0;
            for (size_t k = 0; k < na; k++) {
                uint8_t kind = (uint8_t)(one_label || rin(0, 1) ? SP_ACT_KERNEL : rin(0, 1) ? SP_ACT_H2D : SP_ACT_D2H);
                uint64_t as = t + (rin(0, 1) ? rin(0, 30) : 0), ae = as + rin(0, 60);
                if (rin(0, 15) == 0 && as > 10)
                    as -= 10;
                t = ae > as ? ae : as;
                eb_act_full(ev, kind, bi, as, ae, kind == SP_ACT_KERNEL ? "k" : NULL, 0, ev->batches[bi].device, 0, 0,
                            0);
            }
            continue;
        }
        for (size_t k = 0; k < na; k++) {
            uint8_t kind = (uint8_t)(rin(0, 2) == 0 ? SP_ACT_KERNEL : rin(0, 1) ? SP_ACT_H2D : SP_ACT_D2H);
            uint64_t as = s + rin(0, e - s + 20), ae = as + rin(1, 80);
            uint32_t tie = rin(0, 4) ? bi : SP_EV_NONE; /* by index, or by window on its device */
            eb_act_full(ev, kind, tie, as > 10 ? as - 10 : as, ae, kind == SP_ACT_KERNEL ? "k" : NULL, 0,
                        ev->batches[bi].device, 0, 0, 0);
        }
    }
    return ev;
}

typedef struct part_out {
    size_t n, ns;
    uint64_t *times, *life;
    double *padding;
    sp_ana_piece *pieces;    /* every request's painted pieces, one after the other */
    size_t *n_pieces;        /* per request */
    size_t total_pieces;
} part_out;

static void part_out_free(part_out *o)
{
    free(o->times);
    free(o->life);
    free(o->padding);
    free(o->pieces);
    free(o->n_pieces);
    memset(o, 0, sizeof *o);
}

/* Partitions `ev` (finished) with the shortcuts on or off, narrow or wide, from `threads_at` requests
 * on with two threads. */
static int partition(sp_events *ev, int fast, int narrow, size_t threads_at, part_out *o)
{
    char err[256];
    sp_ana a;
    sp_ana_part_fast = fast;
    sp_ana_narrow = narrow;
    sp_ana_two_threads_min = threads_at;
    sp_status st = ana_partition_of(&a, ev, err, sizeof err);
    memset(o, 0, sizeof *o);
    if (st) {
        fprintf(stderr, "partition: %s (%s)\n", err, sp_status_str(st));
    } else {
        o->n = a.n_reqs;
        o->ns = a.n_stages;
        if (fast && a.segs_one_pass >= -1 && a.segs_one_pass <= 1)
            n_seg_route[a.segs_one_pass + 1]++;
        o->times = malloc((o->n * o->ns + 1) * sizeof *o->times);
        o->life = malloc((o->n + 1) * sizeof *o->life);
        o->padding = malloc((o->n + 1) * sizeof *o->padding);
        o->n_pieces = malloc((o->n + 1) * sizeof *o->n_pieces);
        size_t cap = 64;
        o->pieces = malloc(cap * sizeof *o->pieces);
        CHECK(o->times && o->life && o->padding && o->n_pieces && o->pieces);
        for (size_t i = 0; i < o->n; i++) {
            uint64_t sum = 0;
            for (size_t k = 0; k < o->ns; k++)
                sum += o->times[i * o->ns + k] = sp_ana_time(&a, i, k);
            o->life[i] = a.life[i];
            o->padding[i] = a.padding[i];
            CHECK_EQ_U64(sum, a.life[i]); /* DESIGN 3: the row partitions the life */
            const sp_ana_piece *pc;
            size_t np;
            st = sp_ana_request_pieces(&a, i, &pc, &np);
            CHECK(st == SP_OK);
            if (st)
                break;
            while (o->total_pieces + np > cap)
                cap *= 2;
            o->pieces = realloc(o->pieces, cap * sizeof *o->pieces);
            CHECK(o->pieces != NULL);
            if (np) /* pc may be NULL without pieces */
                memcpy(o->pieces + o->total_pieces, pc, np * sizeof *pc);
            o->total_pieces += np;
            o->n_pieces[i] = np;
        }
    }
    sp_ana_free(&a);
    return st == SP_OK;
}

static int same(const part_out *x, const part_out *y)
{
    return x->n == y->n && x->ns == y->ns && !memcmp(x->times, y->times, x->n * x->ns * sizeof *x->times) &&
           !memcmp(x->life, y->life, x->n * sizeof *x->life) &&
           !memcmp(x->padding, y->padding, x->n * sizeof *x->padding) &&
           !memcmp(x->n_pieces, y->n_pieces, x->n * sizeof *x->n_pieces) && x->total_pieces == y->total_pieces &&
           !memcmp(x->pieces, y->pieces, x->total_pieces * sizeof *x->pieces);
}

static void differential(void)
{
    int compared = 0;
    for (int set = 0; set < 400; set++) {
        uint64_t seed = rng_state;
        part_out ref, got;
        sp_events *ev = random_set(1);
        char err[256];
        CHECK(sp_ev_finish(ev, 0, err, sizeof err) == SP_OK);
        int ok = partition(ev, 0, 0, SIZE_MAX, &ref);
        CHECK(ok);
        sp_events_destroy(ev);
        for (int route = 0; ok && route < 3; route++) {
            /* the same set again, built from the same state */
            uint64_t after = rng_state;
            rng_state = seed;
            ev = random_set(0);
            rng_state = after;
            CHECK(sp_ev_finish(ev, 0, err, sizeof err) == SP_OK);
            int narrow = route != 1;
            size_t threads_at = route == 2 ? 1 : SIZE_MAX;
            if (route == 0)
                n_stage_route[stages_from_list(ev)]++;
            if (partition(ev, 1, narrow, threads_at, &got)) {
                int eq = same(&ref, &got);
                CHECK(eq);
                if (!eq)
                    fprintf(stderr, "set %d route %d: the shortcuts differ from the general path\n", set, route);
                compared++;
            } else {
                CHECK(0);
            }
            part_out_free(&got);
            sp_events_destroy(ev);
        }
        part_out_free(&ref);
    }
    CHECK(compared == 1200);
    /* the sets hold both shapes in numbers */
    CHECK(n_disjoint > 1500);
    CHECK(n_overlapping > 700);
    fprintf(stderr, "batch pieces: %d one pass, %d sorted\n", n_seg_route[2], n_seg_route[1]);
    CHECK(n_seg_route[2] > 200);
    CHECK(n_seg_route[1] > 200);
    fprintf(stderr, "stage set: %d from the spans, %d from the list\n", n_stage_route[0], n_stage_route[1]);
    CHECK(n_stage_route[0] > 50);
    CHECK(n_stage_route[1] > 30);
}

/* Finishes the set and partitions it on the route `fast` names (sp_ana_part_fast), checking both. */
static sp_status finish_and_partition(sp_ana *a, sp_events *ev, int fast)
{
    char err[256];
    CHECK(sp_ev_finish(ev, 0, err, sizeof err) == SP_OK);
    sp_ana_part_fast = fast;
    sp_status st = ana_partition_of(a, ev, err, sizeof err);
    CHECK(st == SP_OK);
    return st;
}

/* The stage set from the list of span stages (only fixed stages there) or from the analysed spans (a
 * named stage listed): a request out of the analysis (rejected) that carries a stage no analysed
 * request carries must not change the rows either way. By hand: a: life [0, 100), preprocess [0, 30),
 * queue [30, 50): other 50. The rejected b carries postprocess (a fixed row, there anyway: the list
 * route) or detok (a named stage: the spans' route, and no detok row, since no analysed span has it).
 * Rows: the seven fixed ones and other, 8; preprocess 30, queue 20, other 50, postprocess 0. */
static void stage_routes(void)
{
    for (int named = 0; named <= 1; named++)
        for (int fast = 0; fast <= 1; fast++) {
            sp_events *ev = eb_new();
            uint32_t a0 = eb_req(ev, "a", 1000, 1100);
            eb_span(ev, a0, "preprocess", 1000, 1030);
            eb_span(ev, a0, "queue", 1030, 1050);
            uint32_t b0 = eb_req(ev, "b", 2000, 2100);
            eb_span(ev, b0, named ? "detok" : "postprocess", 2000, 2050);
            ev->requests[b0].outcome = SP_OUTCOME_REJECTED;
            CHECK_EQ_U64(ev->n_span_stages, 3);
            CHECK(stages_from_list(ev) == !named);
            sp_ana a;
            sp_status st = finish_and_partition(&a, ev, fast);
            CHECK_EQ_U64(a.n_reqs, 1);
            if (!st && a.n_reqs == 1) {
                CHECK_EQ_U64(a.n_named, 0);
                CHECK_EQ_U64(a.n_stages, 8);
                CHECK_EQ_U64(sp_ana_time(&a, 0, (size_t)a.st_pre), 30);
                CHECK_EQ_U64(sp_ana_time(&a, 0, (size_t)a.st_queue), 20);
                CHECK_EQ_U64(sp_ana_time(&a, 0, (size_t)a.st_post), 0);
                CHECK_EQ_U64(sp_ana_time(&a, 0, (size_t)a.st_other), 50);
            }
            sp_ana_free(&a);
            sp_events_destroy(ev);
        }
}

/* A serving mix of more batches than the one pass over the activity gathers at once (ONE_PASS_OPEN,
 * 64), each batch's kernels one after another, and then a last kernel tied by window (late == 0) or
 * naming the first batch (late == 1), or none (late == 2): the one pass has built batches by then and
 * must give them up for the counting sort (or, with none, take them all). */
static sp_events *late_set(int late)
{
    sp_events *ev = eb_new();
    uint64_t t = 1000;
    uint32_t first = 0;
    for (int g = 0; g < 100; g++) {
        char id[48];
        snprintf(id, sizeof id, "l%d", g);
        uint32_t r = eb_req(ev, id, t, t + 300);
        eb_span(ev, r, "preprocess", t, t + 20);
        uint32_t bi = eb_batch(ev, g + 1, t + 50, t + 250, 10, 16, &r, 1);
        if (g == 0)
            first = bi;
        for (uint64_t at = t + 60 + rin(0, 5); at + 30 < t + 250; at += 40 + rin(0, 5))
            eb_act(ev, rin(0, 3) ? SP_ACT_KERNEL : SP_ACT_H2D, bi, at, at + 30);
        t += 150; /* each window overlaps the next one's */
    }
    t -= 150;
    if (late == 0)
        eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, t + 240, t + 260, "k", 0, ev->batches[first].device, 0, 0, 0);
    else if (late == 1)
        eb_act(ev, SP_ACT_D2H, first, t + 240, t + 260); /* outside its batch's window: an empty tie */
    return ev;
}

static void late_give_up(void)
{
    for (int late = 0; late < 3; late++) {
        for (int route = 0; route < 3; route++) {
            part_out ref, got;
            uint64_t seed = rng_state;
            sp_events *ev = late_set(late);
            char err[256];
            CHECK(sp_ev_finish(ev, 0, err, sizeof err) == SP_OK);
            CHECK(partition(ev, 0, 0, SIZE_MAX, &ref));
            sp_events_destroy(ev);
            rng_state = seed;
            ev = late_set(late);
            CHECK(sp_ev_finish(ev, 0, err, sizeof err) == SP_OK);
            int before[3];
            memcpy(before, n_seg_route, sizeof before);
            CHECK(partition(ev, 1, route != 1, route == 2 ? 1 : SIZE_MAX, &got));
            CHECK(same(&ref, &got));
            CHECK_EQ_U64(n_seg_route[late == 2 ? 2 : 0], before[late == 2 ? 2 : 0] + 1);
            part_out_free(&ref);
            part_out_free(&got);
            sp_events_destroy(ev);
        }
    }
}

/* ---- 2. known answers ---- */

static void known(void)
{
    for (int fast = 0; fast <= 1; fast++) {
        sp_events *ev = eb_new();
        /* r0: life [0, 100); batch window [40, 70) with a kernel over [45, 60): pieces gap [40, 45),
         * kernel [45, 60), gap [60, 70). Spans preprocess [10, 30), auth [30, 50) (touching), and
         * postprocess [80, 120) (clipped to 100). By hand: kernel 15, gap 5 + 10; preprocess 20; auth
         * keeps [30, 40) = 10; postprocess 20; queue 0 (one window); other [0, 10) + [70, 80) = 20. */
        uint32_t r0 = eb_req(ev, "r0", 1000, 1100);
        eb_span(ev, r0, "preprocess", 1010, 1030);
        eb_span(ev, r0, "auth", 1030, 1050);
        eb_span(ev, r0, "postprocess", 1080, 1120);
        uint32_t b0 = eb_batch(ev, 1, 1040, 1070, -1, -1, &r0, 1);
        eb_act(ev, SP_ACT_KERNEL, b0, 1045, 1060);
        /* r1: life [0, 100), no batch; preprocess [10, 60) with auth [20, 30) nested: auth (the later
         * start) owns [20, 30) = 10, preprocess 40, other 50. */
        uint32_t r1 = eb_req(ev, "r1", 5000, 5100);
        eb_span(ev, r1, "preprocess", 5010, 5060);
        eb_span(ev, r1, "auth", 5020, 5030);
        /* r2: life [0, 100), no batch; preprocess [0, 30) and postprocess [30, 60) touching: each
         * keeps itself (30 and 30), other [60, 100) = 40. */
        uint32_t r2 = eb_req(ev, "r2", 7000, 7100);
        eb_span(ev, r2, "preprocess", 7000, 7030);
        eb_span(ev, r2, "postprocess", 7030, 7060);
        /* r3: life [0, 100); batch window [20, 50) with no activity: one gap piece of 30.
         * preprocess [10, 60) holds the window and keeps [10, 20) + [50, 60) = 20; postprocess
         * [70, 100) ends at done: 30; queue 0 (one window); other [0, 10) + [60, 70) = 20. */
        uint32_t r3 = eb_req(ev, "r3", 9000, 9100);
        eb_span(ev, r3, "preprocess", 9010, 9060);
        eb_span(ev, r3, "postprocess", 9070, 9100);
        eb_batch(ev, 2, 9020, 9050, -1, -1, &r3, 1);
        sp_ana a;
        sp_status st = finish_and_partition(&a, ev, fast);
        CHECK_EQ_U64(a.n_reqs, 4);
        if (!st && a.n_reqs == 4) {
            CHECK_EQ_U64(a.n_named, 1); /* auth */
            size_t auth = 7;            /* the first named row: no network row here */
            CHECK_EQ_U64(sp_ana_time(&a, 0, (size_t)a.st_kernel), 15);
            CHECK_EQ_U64(sp_ana_time(&a, 0, (size_t)a.st_gap), 15);
            CHECK_EQ_U64(sp_ana_time(&a, 0, (size_t)a.st_pre), 20);
            CHECK_EQ_U64(sp_ana_time(&a, 0, auth), 10);
            CHECK_EQ_U64(sp_ana_time(&a, 0, (size_t)a.st_post), 20);
            CHECK_EQ_U64(sp_ana_time(&a, 0, (size_t)a.st_queue), 0);
            CHECK_EQ_U64(sp_ana_time(&a, 0, (size_t)a.st_other), 20);
            CHECK_EQ_U64(sp_ana_time(&a, 1, (size_t)a.st_pre), 40);
            CHECK_EQ_U64(sp_ana_time(&a, 1, auth), 10);
            CHECK_EQ_U64(sp_ana_time(&a, 1, (size_t)a.st_other), 50);
            CHECK_EQ_U64(sp_ana_time(&a, 2, (size_t)a.st_pre), 30);
            CHECK_EQ_U64(sp_ana_time(&a, 2, (size_t)a.st_post), 30);
            CHECK_EQ_U64(sp_ana_time(&a, 2, (size_t)a.st_other), 40);
            CHECK_EQ_U64(sp_ana_time(&a, 3, (size_t)a.st_gap), 30);
            CHECK_EQ_U64(sp_ana_time(&a, 3, (size_t)a.st_pre), 20);
            CHECK_EQ_U64(sp_ana_time(&a, 3, (size_t)a.st_post), 30);
            CHECK_EQ_U64(sp_ana_time(&a, 3, (size_t)a.st_queue), 0);
            CHECK_EQ_U64(sp_ana_time(&a, 3, (size_t)a.st_other), 20);
            for (size_t r = 2; r < 4; r++)
                CHECK_EQ_U64(sp_ana_time(&a, r, auth), 0);
        }
        sp_ana_free(&a);
        sp_events_destroy(ev);
    }
}

/* ---- 3. whole reports ---- */

/* The shortcuts on or off (ana_same_both_ways). */
static void turn(int on)
{
    sp_ana_part_fast = on;
}

int main(void)
{
    known();
    stage_routes();
    differential();
    late_give_up();
    CHECK(ana_same_both_ways("partfast", &rng_state, turn) == AR_TRACES);
    return sp_test_done("test_analyze_partfast");
}
