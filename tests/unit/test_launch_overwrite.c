/* The launch join under release_events (gpu_launch.c, sp_ana_launches_build with `overwrite`): it
 * writes each call, 16 bytes, over the front half of the set's launch array as it reads it and hands
 * the back half's pages back behind it (docs/analysis.md section 8, "Memory"). The report must be the
 * one the join gives reading the set's calls (release_events off), byte for byte.
 *
 * The set (hand-built): files f = 0, 1, calls k = 0..NCALLS-1, call [T, T + 4 us], T = f s + k 100
 * us, named cudaLaunchKernel, id k + 1; its kernel starts d_k = (k mod 7) + 1 us after the call's end
 * and lasts 5 us. Then, after every one of those (so that the first call of each id has been written
 * over long before: calls[i] lies over call i / 2), calls that meet the first one on its id
 * (docs/analysis.md, "Ties"):
 * - file 0, k = 10: a cudaGraphLaunch with the same start and end: the smaller name wins, so the
 *   graph call does (the join must read the first call's name from what it wrote);
 * - file 0, k = 20: [T - 1 us, T + 3 us]: the earlier start wins, so that kernel's delay is 2 us
 *   more (d_20 + 1 us after the call's new end) and the CPU sum the same;
 * - file 1, k = 30: [T + 1 us, T + 2 us]: the later start loses;
 * - a call with no id, and one whose end precedes its start: neither joins.
 * By hand: joined 2 NCALLS - 1 (k = 10 of file 0 goes to the graph figures: 1 graph launch, 1
 * kernel, first-node delay d_10 = 4 us); delay sum = 2 x sum_k d_k - d_10 + 1 us; CPU sum (2 NCALLS -
 * 1) x 4 us; GPU sum (2 NCALLS - 1) x 5 us.
 * Run three ways: the default step (the back half goes at the end), a step at every call, and the
 * switch off, each against release_events off; then with one call of 2^32 ns (too long for 16 bytes)
 * and with sparse ids (the map's route): no call is written over, the same report. Then on two threads,
 * the join built ahead beside the device list, the written calls kept for the recycle and handed back
 * once the GPU figures are done (past the span limit). */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/util_int.h"
#include "ana_switches_testutil.h"
#include "analyze_routes_testutil.h"
#include "ev_build.h"
#include "testlib.h"

#define NCALLS 8000

/* `shift`: ids (k + 1) << shift (24: too sparse for the direct table); `long_call`: one more call of
 * 2^32 ns on an id no kernel has */
/* 1: the set holds one request record too (ahead_way: past a span limit of 0 requests) */
static int g_request;

static sp_events *build(int shift, int long_call)
{
    sp_events *ev = eb_new();
    if (g_request)
        eb_req(ev, "r0", 0, 1000000);
    uint32_t f1 = eb_file(ev, "test2");
    for (uint32_t f = 0; f < 2; f++)
        for (uint64_t k = 0; k < NCALLS; k++) {
            uint64_t t = f * 1000000000ull + k * 100000, corr = (k + 1) << shift;
            eb_launch_named(ev, corr, t, t + 4000, f == 0 ? 0 : f1, "cudaLaunchKernel");
            uint64_t s = t + 4000 + ((k % 7) + 1) * 1000;
            eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, s, s + 5000, "gemm", 0, f, corr, 0, f == 0 ? 0 : f1);
        }
    eb_launch_named(ev, (uint64_t)11 << shift, 10 * 100000, 10 * 100000 + 4000, 0, "cudaGraphLaunch");
    eb_launch_named(ev, (uint64_t)21 << shift, 20 * 100000 - 1000, 20 * 100000 + 3000, 0, "cudaLaunchKernel");
    eb_launch_named(ev, (uint64_t)31 << shift, 1000000000ull + 30 * 100000 + 1000, 1000000000ull + 30 * 100000 + 2000, f1,
             "cudaLaunchKernel");
    eb_launch_named(ev, 0, 5000, 6000, 0, "cudaLaunchKernel");
    eb_launch_named(ev, (uint64_t)41 << shift, 2 * 100000, 2 * 100000 - 1, f1, "cudaLaunchKernel");
    if (long_call)
        eb_launch_named(ev, (uint64_t)(NCALLS + 1) << shift, 0, (uint64_t)1 << 32, 0, "cudaLaunchKernel");
    return ev;
}

static char *report_of(int shift, int long_call, int release, size_t *len, sp_gpu_summary *g)
{
    sp_events *ev = build(shift, long_call);
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.release_events = release;
    sp_report *r = eb_analyze(ev, &o);
    *g = r->gpu;
    char *buf = ar_report_bytes(r, len);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return buf;
}

static void check_by_hand(const sp_gpu_summary *g)
{
    uint64_t dsum = 0;
    for (uint64_t k = 0; k < NCALLS; k++)
        dsum += 2 * ((k % 7) + 1) * 1000;
    dsum = dsum - 4000 + 1000;
    CHECK_EQ_U64(g->kernels, 2 * NCALLS);
    CHECK_EQ_U64(g->launches_joined, 2 * NCALLS - 1);
    CHECK_EQ_U64(g->launch_delay_sum_ns, dsum);
    CHECK_EQ_U64(g->launch_delay_max_ns, 8000);
    CHECK_EQ_U64(g->launch_cpu_sum_ns, (2 * NCALLS - 1) * 4000ull);
    CHECK_EQ_U64(g->launch_gpu_sum_ns, (2 * NCALLS - 1) * 5000ull);
    CHECK_EQ_U64(g->graph.launches, 1);
    CHECK_EQ_U64(g->graph.kernels, 1);
    CHECK_EQ_U64(g->graph.first_delay.max_ns, 4000);
    CHECK_EQ_U64(g->graph.cpu_sum_ns, 4000);
}

/* one way against release_events off: the calls the join wrote over (0 or all of them) */
static void same_way(int shift, int long_call, int on, size_t step, size_t want_over, const char *what)
{
    size_t l1 = 0, l2 = 0;
    sp_gpu_summary g1, g2;
    char *ref = report_of(shift, long_call, 0, &l1, &g1);
    sp_ana_launch_overwrite = on;
    sp_ana_launch_discard_step = step;
    size_t over = sp_ana_launch_overwritten, early = sp_ana_launch_discarded_early;
    char *rel = report_of(shift, long_call, 1, &l2, &g2);
    over = sp_ana_launch_overwritten - over;
    early = sp_ana_launch_discarded_early - early;
    ana_switches_reset();
    CHECK(ref && rel && ar_same_bytes(ref, l1, rel, l2, what, 0));
    if (!long_call) {
        check_by_hand(&g1);
        check_by_hand(&g2);
    }
    CHECK_EQ_U64(over, want_over);
    /* the array's calls: 16,005 at 32 bytes, 125 pages of 4 KiB, the back half's whole pages about 62
     * of them; at a step a call all but the last go while the join reads (the last joined call is the
     * array's third last) */
    if (want_over && step == 1)
        CHECK(early >= (sp_page_size() == 4096 ? (size_t)60 * 4096 : 1));
    else
        CHECK_EQ_U64(early, 0);
    free(ref);
    free(rel);
}

/* The routes of the command on large traces (analyze.c, partition_gpu_outcomes): the join built ahead
 * on the second thread (from 1 activity on), and with that past the span limit (0 requests) the
 * written calls' pages handed back once the GPU figures are done; against release_events off on one
 * thread, byte for byte. */
static void ahead_way(size_t limit, const char *what)
{
    size_t l1 = 0, l2 = 0;
    sp_gpu_summary g1, g2;
    g_request = 1;
    char *ref = report_of(0, 0, 0, &l1, &g1);
    sp_ana_two_threads_min = 1;
    sp_ana_keep_spans_max = limit;
    size_t ahead = sp_ana_launch_joined_ahead, back = sp_ana_launch_calls_given_back;
    char *rel = report_of(0, 0, 1, &l2, &g2);
    ahead = sp_ana_launch_joined_ahead - ahead;
    back = sp_ana_launch_calls_given_back - back;
    ana_switches_reset();
    g_request = 0;
    CHECK(ref && rel && ar_same_bytes(ref, l1, rel, l2, what, 0));
    check_by_hand(&g2);
    CHECK_EQ_U64(ahead, 1);
    /* the written calls: 16,005 x 16 bytes, 62.5 pages of 4 KiB: 61 whole ones at least, wherever the
     * array starts */
    if (limit)
        CHECK_EQ_U64(back, 0);
    else
        CHECK(back >= (sp_page_size() == 4096 ? (size_t)61 * 4096 : 1));
    free(ref);
    free(rel);
}

int main(void)
{
    const size_t n = 2 * NCALLS + 5;
    same_way(0, 0, 1, SP_ANA_LAUNCH_DISCARD_STEP, n, "dense ids, default step");
    same_way(0, 0, 1, 1, n, "dense ids, a step a call");
    same_way(0, 0, 0, 1, 0, "dense ids, switch off");
    same_way(0, 1, 1, 1, 0, "a call of 2^32 ns");
    same_way(24, 0, 1, 1, 0, "sparse ids (the map)");
    ahead_way(SP_ANA_KEEP_SPANS_MAX, "the join ahead, the calls kept for the recycle");
    ahead_way(0, "the join ahead, the calls handed back after the GPU figures");
    return sp_test_done("test_launch_overwrite");
}
