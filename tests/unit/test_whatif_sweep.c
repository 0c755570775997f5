/* What-if sweeps: list and padding parsing (good and bad input), the Cartesian grid, and choosing
 * the cheapest policy that meets a p95 objective. */
#include <string.h>

#include "servprof/whatif.h"
#include "testlib.h"

static void parsing(void)
{
    uint32_t v[8];
    uint64_t d[8];
    size_t n = 0;
    char err[256];
    CHECK(sp_whatif_parse_u32_list("8,16,32", 4096, v, 8, &n, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(n, 3);
    CHECK_EQ_U64(v[0], 8);
    CHECK_EQ_U64(v[2], 32);
    CHECK(sp_whatif_parse_u32_list("8,,32", 4096, v, 8, &n, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "'' in '8,,32'") != NULL);
    CHECK(sp_whatif_parse_u32_list("0", 4096, v, 8, &n, err, sizeof err) == SP_ERR_PARSE);
    CHECK(sp_whatif_parse_u32_list("-4", 4096, v, 8, &n, err, sizeof err) == SP_ERR_PARSE);
    CHECK(sp_whatif_parse_u32_list("5000", 4096, v, 8, &n, err, sizeof err) == SP_ERR_PARSE);
    CHECK(sp_whatif_parse_u32_list("4x", 4096, v, 8, &n, err, sizeof err) == SP_ERR_PARSE);
    CHECK(sp_whatif_parse_u32_list("", 4096, v, 8, &n, err, sizeof err) == SP_ERR_PARSE);
    CHECK(sp_whatif_parse_u32_list("1,2,3", 4096, v, 2, &n, err, sizeof err) == SP_ERR_LIMIT);
    CHECK(sp_whatif_parse_ms_list("0,0.5,2", d, 8, &n, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(n, 3);
    CHECK_EQ_U64(d[0], 0);
    CHECK_EQ_U64(d[1], 500000);
    CHECK_EQ_U64(d[2], 2000000);
    CHECK(sp_whatif_parse_ms_list("-1", d, 8, &n, err, sizeof err) == SP_ERR_PARSE);
    CHECK(sp_whatif_parse_ms_list("nan", d, 8, &n, err, sizeof err) == SP_ERR_PARSE);
    CHECK(sp_whatif_parse_ms_list("2,", d, 8, &n, err, sizeof err) == SP_ERR_PARSE);

    sp_whatif_policy p;
    sp_whatif_policy_init(&p);
    CHECK(sp_whatif_parse_pad("static:64", &p, err, sizeof err) == SP_OK);
    CHECK(p.pad == SP_WHATIF_PAD_STATIC && p.pad_to == 64);
    CHECK(sp_whatif_parse_pad("buckets:32,64,128", &p, err, sizeof err) == SP_OK);
    CHECK(p.pad == SP_WHATIF_PAD_BUCKETS && p.buckets[0] == 32 && p.buckets[2] == 128 && p.buckets[3] == 0);
    CHECK(sp_whatif_parse_pad("longest", &p, err, sizeof err) == SP_OK);
    CHECK(p.pad == SP_WHATIF_PAD_LONGEST && p.buckets[0] == 0);
    CHECK(sp_whatif_parse_pad("buckets:64,32", &p, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "ascend") != NULL);
    CHECK(sp_whatif_parse_pad("static:", &p, err, sizeof err) == SP_ERR_PARSE);
    CHECK(sp_whatif_parse_pad("static:8,16", &p, err, sizeof err) == SP_ERR_PARSE);
    CHECK(sp_whatif_parse_pad("shortest", &p, err, sizeof err) == SP_ERR_PARSE);
    char buf[128];
    sp_whatif_parse_pad("buckets:32,64", &p, err, sizeof err);
    p.max_batch = 8;
    p.max_delay_ns = 500000;
    /* the delay in the report's duration units (sp_fmt_dur: 500000 ns is "500.0 us") */
    CHECK(strcmp(sp_whatif_policy_str(&p, buf, sizeof buf), "mb=8 delay=500.0 us pad=buckets:32,64 inst=1") == 0);
}

static void grid(void)
{
    sp_whatif_policy base, pads[2], out[64];
    sp_whatif_policy_init(&base);
    char err[128];
    sp_whatif_policy_init(&pads[0]);
    sp_whatif_policy_init(&pads[1]);
    sp_whatif_parse_pad("longest", &pads[0], err, sizeof err);
    sp_whatif_parse_pad("static:32", &pads[1], err, sizeof err);
    uint32_t mb[3] = {4, 8, 16}, inst[2] = {1, 2};
    uint64_t delay[1] = {1000000};
    size_t n = 0;
    /* 3 x 1 x 2 x 2 = 12, instances fastest, then pad, then delay, then max batch */
    CHECK(sp_whatif_grid(&base, mb, 3, delay, 1, pads, 2, inst, 2, out, 64, &n) == SP_OK);
    CHECK_EQ_U64(n, 12);
    CHECK(out[0].max_batch == 4 && out[0].pad == SP_WHATIF_PAD_LONGEST && out[0].instances == 1);
    CHECK(out[1].max_batch == 4 && out[1].instances == 2);
    CHECK(out[2].pad == SP_WHATIF_PAD_STATIC && out[2].pad_to == 32 && out[2].instances == 1);
    CHECK(out[11].max_batch == 16 && out[11].pad == SP_WHATIF_PAD_STATIC && out[11].instances == 2);
    CHECK(out[5].max_delay_ns == 1000000 && out[5].queue_capacity == 256);
    CHECK(sp_whatif_grid(&base, mb, 3, delay, 1, pads, 2, inst, 2, out, 11, &n) == SP_ERR_LIMIT);
}

static sp_whatif_result row(double cost, uint64_t p95_ms, uint64_t rejected)
{
    sp_whatif_result r;
    memset(&r, 0, sizeof r);
    r.completed = 100;
    r.cost_per_request = cost;
    r.latency.p95_ns = p95_ms * 1000000;
    r.rejected = rejected;
    return r;
}

static void slo(void)
{
    sp_whatif_result r[5] = {
        row(2.0, 10, 0),    /* meets 20 ms, expensive */
        row(1.0, 30, 0),    /* cheapest, too slow */
        row(1.001, 15, 0),  /* meets; cost ties with #3 (within 0.5%) but slower */
        row(1.0, 12, 0),    /* meets, cheapest, fastest of the tie: the choice */
        row(0.5, 5, 3),     /* fast and cheap but rejects requests: does not meet */
    };
    size_t best = 99;
    CHECK(sp_whatif_pick_slo(r, 5, 20000000, &best) == SP_OK);
    CHECK_EQ_U64(best, 3);
    CHECK(r[0].meets_slo && !r[1].meets_slo && r[2].meets_slo && r[3].meets_slo && !r[4].meets_slo);
    /* a tighter objective: only #0 (10 ms) */
    CHECK(sp_whatif_pick_slo(r, 5, 11000000, &best) == SP_OK);
    CHECK_EQ_U64(best, 0);
    /* nothing meets 1 ms: SP_ERR_STATE, best untouched */
    best = 77;
    CHECK(sp_whatif_pick_slo(r, 5, 1000000, &best) == SP_ERR_STATE);
    CHECK_EQ_U64(best, 77);
    for (int i = 0; i < 5; i++)
        CHECK(!r[i].meets_slo);
}

int main(void)
{
    parsing();
    grid();
    slo();
    return sp_test_done("test_whatif_sweep");
}
