/* The launch join (gpu_launch.c) on correlation ids that pile up on one home slot: ids (k + 1) << 24
 * share their low 24 bits, so placed by their low bits every key would land on one slot of the table
 * and the join switches to mixed placement. The same trace with sequential ids k + 1 (no pile-up)
 * must give the same figures, and both the figures worked out by hand below:
 *   files f = 0, 1, calls k = 0..299: call [T, T + 4 us], T = f s + k 100 us; its kernel starts
 *   d_k = (k mod 7) + 1 us after the call's end and lasts 5 us.
 *   joined 600; delay sum = 2 x (42 x 28 + (1 + ... + 6)) = 2 x 1197 us = 2394 us; max 7 us;
 *   CPU sum 600 x 4 us = 2400 us; GPU sum 600 x 5 us = 3000 us; no kernel is shorter than its call.
 * Two more calls that must lose (docs/analysis.md, "Ties": the earliest start wins): for k = 0 of
 * file 0 a second call [T + 1 us, T + 3 us], and for k = 1 of file 0 a later cudaGraphLaunch call
 * [T + 2 us, T + 3 us]; had either won, the delay sum would grow by 1 us, or a graph launch would
 * appear. One kernel with an id no call carries is not joined (but is device work: 601 kernels). The
 * two files carry the same ids and must stay apart: joined across files, delays would be off by 1 s. */
#include <stdlib.h>
#include <string.h>

#include "ev_build.h"
#include "testlib.h"

#define NCALLS 300

static void check_trace(int shift)
{
    sp_events *ev = eb_new();
    uint32_t f1 = eb_file(ev, "test2");
    for (uint32_t f = 0; f < 2; f++) {
        for (uint64_t k = 0; k < NCALLS; k++) {
            uint64_t t = f * 1000000000ull + k * 100000, corr = (k + 1) << shift;
            eb_launch(ev, corr, t, t + 4000, f == 0 ? 0 : f1);
            if (f == 0 && k == 0)
                eb_launch(ev, corr, t + 1000, t + 3000, 0);
            if (f == 0 && k == 1) {
                sp_ev_launch l;
                memset(&l, 0, sizeof l);
                l.correlation = corr;
                l.start_ns = t + 2000;
                l.end_ns = t + 3000;
                eb_check(sp_str_intern(&ev->strings, "cudaGraphLaunch", 15, &l.name), "intern");
                eb_check(sp_ev_add_launch(ev, &l), "add_launch");
            }
            uint64_t s = t + 4000 + ((k % 7) + 1) * 1000;
            eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, s, s + 5000, "gemm", 0, 0, corr, 0, f == 0 ? 0 : f1);
        }
    }
    eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, 500000000, 500001000, "gemm", 0, 0, (uint64_t)(NCALLS + 5) << shift, 0,
                0);
    sp_report *r = eb_analyze(ev, NULL);
    const sp_gpu_summary *g = &r->gpu;
    CHECK_EQ_U64(g->kernels, 601);
    CHECK_EQ_U64(g->launches_joined, 600);
    CHECK_EQ_U64(g->launch_delay.count, 600);
    CHECK_EQ_U64(g->launch_delay_sum_ns, 2394000);
    CHECK_EQ_U64(g->launch_delay_max_ns, 7000);
    CHECK_EQ_U64(g->launch_cpu_sum_ns, 2400000);
    CHECK_EQ_U64(g->launch_gpu_sum_ns, 3000000);
    CHECK_EQ_U64(g->short_kernels, 0);
    CHECK_EQ_U64(g->graph.launches, 0);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

int main(void)
{
    check_trace(0);
    check_trace(24);
    return sp_test_done("test_launch_join_pileup");
}
