/* CUDA graph launches (docs/analysis.md section 4): every node of a graph joins its one graph launch
 * call on correlation id, so graph launches are reported on their own (launches, kernels per launch,
 * launch-to-first-node delay) and their nodes are kept out of the per-kernel launch delay and the
 * short-kernel count. A constructed trace of 3 graph launches of 10 kernels each (three spellings of
 * the call) and 4 ordinary launches; the expected figures are worked out by hand below. */
#include <stdlib.h>
#include <string.h>

#include "ev_build.h"
#include "testlib.h"

static void launch_named(sp_events *ev, const char *name, uint64_t corr, uint64_t s, uint64_t e)
{
    sp_ev_launch l;
    memset(&l, 0, sizeof l);
    l.correlation = corr;
    l.start_ns = s;
    l.end_ns = e;
    eb_check(sp_str_intern(&ev->strings, name, strlen(name), &l.name), "intern");
    eb_check(sp_ev_add_launch(ev, &l), "add_launch");
}

static char *render(const sp_report *r, int json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        exit(1);
    CHECK((json ? sp_report_write_json(r, f) : sp_report_write_text(r, f)) == SP_OK);
    fclose(f);
    return buf;
}

int main(void)
{
    static const char *const graph_calls[] = {"cudaGraphLaunch", "cudaGraphLaunch_v10000", "cuGraphLaunch"};
    sp_events *ev = eb_new();
    /* Graph i: call [T, T + 5 us] with T = i ms, correlation 100 (i + 1); its 10 kernels start 20 us
     * after T, 3 us apart, 2 us each (shorter than the 5 us call: short kernels, were they counted).
     * Graph 2 also has a memset node. First node delay = 20 - 5 = 15 us for each graph. */
    for (uint64_t i = 0; i < 3; i++) {
        uint64_t t = i * 1000000, corr = 100 * (i + 1);
        launch_named(ev, graph_calls[i], corr, t, t + 5000);
        for (uint64_t j = 0; j < 10; j++)
            eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, t + 20000 + j * 3000, t + 22000 + j * 3000, "graph_node", 0, 0,
                        corr, 0, 0);
        if (i == 2)
            eb_act_full(ev, SP_ACT_MEMSET, SP_EV_NONE, t + 60000, t + 61000, NULL, 0, 0, corr, 64, 0);
    }
    /* Ordinary launches k = 0..3: call [T, T + 4 us] at T = 3 ms + k * 100 us, kernel after the call's
     * end by 1, 2, 3 and 10 us, lasting 1, 5, 5, 5 us: delays sum 16 us, max 10 us, p50 (2nd of 4)
     * 2 us; one kernel (1 us) is shorter than its 4 us call; CPU and GPU sums 16 us each. */
    static const uint64_t delay[] = {1000, 2000, 3000, 10000}, dur[] = {1000, 5000, 5000, 5000};
    for (uint64_t k = 0; k < 4; k++) {
        uint64_t t = 3000000 + k * 100000;
        launch_named(ev, "cudaLaunchKernel", k + 1, t, t + 4000);
        eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, t + 4000 + delay[k], t + 4000 + delay[k] + dur[k], "gemm", 0, 0,
                    k + 1, 0, 0);
    }
    sp_report *r = eb_analyze(ev, NULL);
    const sp_gpu_summary *g = &r->gpu;
    const sp_graph_launch_summary *gl = &g->graph;
    CHECK_EQ_U64(gl->launches, 3);
    CHECK_EQ_U64(gl->kernels, 30);
    CHECK_EQ_U64(gl->work, 31);
    CHECK_EQ_U64(gl->kernels_per_launch.count, 3);
    CHECK_EQ_U64(gl->kernels_per_launch.p50_ns, 10);
    CHECK_EQ_U64(gl->kernels_per_launch.max_ns, 10);
    CHECK_EQ_U64(gl->first_delay.min_ns, 15000);
    CHECK_EQ_U64(gl->first_delay.max_ns, 15000);
    CHECK_EQ_U64(gl->cpu_sum_ns, 15000);
    /* the per-kernel launch statistics cover the 4 ordinary launches only (with the graph nodes they
     * would be 35 rows with delays up to 47 us and 31 more short kernels) */
    CHECK_EQ_U64(g->launches_joined, 4);
    CHECK_EQ_U64(g->launch_delay.count, 4);
    CHECK_EQ_U64(g->launch_delay_sum_ns, 16000);
    CHECK_EQ_U64(g->launch_delay_max_ns, 10000);
    CHECK_EQ_U64(g->launch_delay.p50_ns, 2000);
    CHECK_EQ_U64(g->launch_cpu_sum_ns, 16000);
    CHECK_EQ_U64(g->launch_gpu_sum_ns, 16000);
    CHECK_EQ_U64(g->short_kernels, 1);
    CHECK_EQ_U64(g->kernels, 34);   /* every kernel is still device work */
    char *text = render(r, 0), *json = render(r, 1);
    CHECK(text && strstr(text, "graph launches: 3 calls launched 30 kernels (per launch p50 10, max 10)"));
    CHECK(text && strstr(text, "launches: 4 joined on correlation id"));
    CHECK(json && strstr(json, "\"graph_launches\":{\"launches\":3,\"kernels\":30,\"work\":31,"));
    CHECK(json && strstr(json, "\"launch\":{\"joined\":4,"));
    free(text);
    free(json);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return sp_test_done("test_gpu_graph_launch");
}
