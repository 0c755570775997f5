/* The per-name memo of the GPU passes (analyze_int.h, sp_name_memo): sp_ana_gpu and the HTA pass ask
 * sp_ana_is_nccl, the launch join sp_ana_is_graph_launch, once per interned name id instead of once
 * per event. The memo must answer exactly what the predicate answers on the name's text, whatever
 * the order of the ids and however many share a slot: 300 names (more than the 64 slots, so slots
 * are overwritten and refilled), asked 20000 times in a random order, each answer compared with the
 * direct call (the old path). The names mix the spellings the predicates look for.
 * The same for sp_pair_memo (the streams' and kernel names' numbering in gpu.c): 500 pairs asked
 * 50000 times through the memo and through a second map alone give the same index each time and
 * the same count. */
#include <stdio.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/rng.h"
#include "model/events_int.h"
#include "testlib.h"

int main(void)
{
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    static const char *const stems[] = {"ncclKernel_AllReduce", "NCCL_send", "gemm_kernel", "nccL",
                                        "cudaGraphLaunch", "cuGraphLaunch_v2", "hipGraphLaunch",
                                        "cudaLaunchKernel", "graphlaunch", "ncc", ""};
    enum { N = 300 };
    sp_str ids[N + 1];
    for (int i = 0; i < N; i++) {
        char buf[64];
        int len = snprintf(buf, sizeof buf, "%s%s%d", i % 7 ? "" : "x_", stems[i % 11], i / 11);
        CHECK(sp_str_intern(&ev->strings, buf, (size_t)len, &ids[i]) == SP_OK);
    }
    ids[N] = SP_EV_NONE; /* "no name": the predicate on "" */
    sp_name_memo nccl, graph;
    sp_name_memo_init(&nccl, sp_ana_is_nccl);
    sp_name_memo_init(&graph, sp_ana_is_graph_launch);
    sp_rng r;
    sp_rng_seed(&r, 28, 1);
    size_t yes_nccl = 0, yes_graph = 0;
    for (int k = 0; k < 20000; k++) {
        /* runs of one name as in a trace, then a jump */
        sp_str id = ids[sp_rng_next(&r) % (N + 1)];
        for (int rep = (int)(sp_rng_next(&r) % 3); rep >= 0; rep--) {
            const char *s = sp_str_get(&ev->strings, id);
            int a = sp_name_memo_get(&nccl, &ev->strings, id), b = sp_name_memo_get(&graph, &ev->strings, id);
            CHECK(a == (sp_ana_is_nccl(s) != 0));
            CHECK(b == (sp_ana_is_graph_launch(s) != 0));
            yes_nccl += a;
            yes_graph += b;
        }
    }
    /* both answers occur: the test is not passing on a constant */
    CHECK(yes_nccl > 0 && yes_graph > 0);
    CHECK(sp_ana_is_nccl("xNcCl") && !sp_ana_is_nccl("ncc") && sp_ana_is_graph_launch("cudaGraphLaunch_v10000") &&
          !sp_ana_is_graph_launch("graphlaunch"));
    sp_pairmap m1, m2;
    CHECK(sp_pairmap_init(&m1, 64) == SP_OK && sp_pairmap_init(&m2, 64) == SP_OK);
    sp_pair_memo pm;
    sp_pair_memo_init(&pm);
    for (int k = 0; k < 50000; k++) {
        uint64_t v = sp_rng_next(&r) % 500;
        uint64_t k1 = v % 3 ? (v % 5) << 32 | (v % 2) : v * 0x1000, k2 = v / 3;
        for (int rep = (int)(sp_rng_next(&r) % 4); rep >= 0; rep--) {
            uint32_t a = 0, b = 0;
            int added;
            CHECK(sp_pair_memo_get(&pm, &m1, k1, k2, &a) == SP_OK);
            CHECK(sp_pairmap_get(&m2, k1, k2, &b, &added) == SP_OK);
            CHECK(a == b);
        }
    }
    CHECK(m1.count == m2.count && m1.count > 64);
    sp_pairmap_free(&m1);
    sp_pairmap_free(&m2);
    sp_events_destroy(ev);
    return sp_test_done("test_name_memo");
}
