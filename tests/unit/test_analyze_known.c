/* Known-answer tests of the analyzer: small traces whose stage times, percentiles, shares (with the
 * window widening), padding, cost and verdict are computed by hand in the comments. */
#include <stdio.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "ev_build.h"
#include "testlib.h"

/* DESIGN section 9's example trace, r1 alone in batch 7.
 * Life [1000, 905000] = 904000 ns.
 *   preprocess 1000..51000 = 50000; queue 51000..301000 = 250000;
 *   window 301000..801000 (500000): h2d 301000..321000 = 20000, kernel 331000..761000 = 430000,
 *   d2h 771000..781000 = 10000, gap = 500000 - 460000 = 40000;
 *   postprocess 801000..905000 = 104000. Sum 904000, other 0.
 * Padding: waste 1 - 60/80 = 0.25; padding time 430000 x 0.25 = 107500.
 * Shares (n = 1, W = {r1}): stage / 904000. Candidates: useful kernel (430000-107500)/904000 = 0.35675
 * beats queue 0.27655 -> verdict kernel, model group, no model recommendation (0.357 < 0.5).
 * Saving: p95 life 904000 - (904000 - 322500) = 322500.
 * Cost, price 3.6/h: window 904000 ns, one device: bill = 3.6 * 904000 / 3.6e12 = 9.04e-7.
 *   kernel 430000: padding 107500, useful 322500; copies 30000; gap 500000 - 460000 = 40000;
 *   no_batch 904000 - 460000 - 40000 = 404000.
 *   per-request apportioned: batch window 500000 ns x bill / 904000 ns = 5e-7 -> 500 nano-units. */
static void test_design_example(void)
{
    sp_events *ev = eb_new();
    uint32_t r1 = eb_req(ev, "r1", 1000, 905000);
    eb_span(ev, r1, "preprocess", 1000, 51000);
    eb_span(ev, r1, "queue", 51000, 301000);
    eb_span(ev, r1, "postprocess", 801000, 905000);
    uint32_t b = eb_batch(ev, 7, 301000, 801000, 60, 80, &r1, 1);
    eb_act(ev, SP_ACT_H2D, b, 301000, 321000);
    eb_act(ev, SP_ACT_KERNEL, b, 331000, 761000);
    eb_act(ev, SP_ACT_D2H, b, 771000, 781000);
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    opt.price_per_hour = 3.6;
    sp_report *r = eb_analyze(ev, &opt);
    CHECK_EQ_U64(r->request_count, 1);
    CHECK_EQ_U64(r->n_stages, 8); /* 7 fixed + other; no network, no named */
    static const char *order[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h", "postprocess", "other"};
    static const uint64_t want[] = {250000, 50000, 20000, 430000, 40000, 10000, 104000, 0};
    for (size_t i = 0; i < 8 && i < r->n_stages; i++) {
        CHECK(!strcmp(r->stages[i].name, order[i]));
        CHECK_EQ_U64(r->stages[i].total_ns, want[i]);
        CHECK_EQ_U64(r->stages[i].q.p95_ns, want[i]);
        CHECK_NEAR(r->stages[i].share_p95, (double)want[i] / 904000.0, 1e-12);
        CHECK_NEAR(r->stages[i].share_p50, (double)want[i] / 904000.0, 1e-12);
    }
    CHECK_EQ_U64(r->latency.p50_ns, 904000);
    CHECK_NEAR(r->padding.waste_fraction, 0.25, 1e-12);
    CHECK_EQ_U64(r->padding.effective_tokens, 60);
    CHECK_EQ_U64(r->padding.padded_tokens, 80);
    CHECK_EQ_U64(r->padding.padding_ns_total, 107500);
    CHECK_NEAR(r->padding.share_p95, 107500.0 / 904000.0, 1e-12);
    CHECK(r->verdict.stage && !strcmp(r->verdict.stage, "kernel"));
    CHECK(r->verdict.group == SP_GROUP_MODEL);
    CHECK_NEAR(r->verdict.share_p95, 322500.0 / 904000.0, 1e-12);
    CHECK_EQ_U64(r->verdict.saving_p95_ns, 322500);
    CHECK(!r->verdict.recommend_model);
    CHECK(r->verdict.sentence && strstr(r->verdict.sentence, "36%"));
    CHECK_NEAR(r->cost.price_per_hour, 3.6, 0);
    CHECK(!r->cost.price_is_default);
    CHECK_EQ_U64(r->cost.window_ns, 904000);
    CHECK_NEAR(r->cost.bill, 9.04e-7, 1e-18);
    CHECK_NEAR(r->cost.per_request, 9.04e-7, 1e-18);
    CHECK_NEAR(r->cost.by_state_share[SP_COST_USEFUL], 322500.0 / 904000.0, 1e-12);
    CHECK_NEAR(r->cost.by_state_share[SP_COST_PADDING], 107500.0 / 904000.0, 1e-12);
    CHECK_NEAR(r->cost.by_state_share[SP_COST_COPIES], 30000.0 / 904000.0, 1e-12);
    CHECK_NEAR(r->cost.by_state_share[SP_COST_GAP], 40000.0 / 904000.0, 1e-12);
    CHECK_NEAR(r->cost.by_state_share[SP_COST_NO_BATCH], 404000.0 / 904000.0, 1e-12);
    CHECK_NEAR(r->cost.by_state[SP_COST_GAP], 9.04e-7 * 40000.0 / 904000.0, 1e-18);
    CHECK_NEAR(r->padding.share_of_bill, 107500.0 / 904000.0, 1e-12);
    CHECK_EQ_U64(r->cost.request_cost_nano.p50_ns, 500);
    CHECK_NEAR(r->cost.request_cost_mean, 5e-7, 1e-15);
    CHECK_EQ_U64(r->batch_count, 1);
    CHECK_EQ_U64(r->batch_size.p50_ns, 1);
    CHECK(r->gpu.present);
    CHECK_EQ_U64(r->gpu.busy_ns, 460000);
    CHECK_EQ_U64(r->gpu.span_ns, 781000 - 301000);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* 30 requests without batches, created in a shuffled order; request i (1..30) lives [0, 100 i) with a
 * queue span [0, i^2) (i^2 <= 100 i), the rest `other`.
 * Latency p50 = rank ceil(15) = 15 -> 1500; p95 rank ceil(28.5) = 29 -> 2900; p99 rank 30 -> 3000.
 * Queue p50 = 15^2 = 225, p95 = 29^2 = 841, p99 = 900.
 * Share windows (n = 30, need 20):
 *   p50: ranks ceil(14.7)=15 .. ceil(15.3)=16, widened alternately below/above by 9 each -> 6..25:
 *        sum i^2 (6..25) = 5525 - 55 = 5470, sum 100 i = 100 x 310 = 31000 -> 0.1764516...
 *   p95: ranks ceil(28.2)=29 .. ceil(28.8)=29; widening reaches 30 above after one step, the rest
 *        goes below -> 11..30: sum i^2 = 9455 - 385 = 9070, sum 100 i = 41000 -> 0.2212195...
 *   p99: ranks ceil(29.4)=30 .. n=30 -> widened below only to 11..30: same as p95.
 * Verdict: `other` (0.779 of p95) is largest -> instrumentation is missing. */
static void test_share_widening(void)
{
    sp_events *ev = eb_new();
    for (int k = 1; k <= 30; k++) {
        int i = (7 * k) % 31; /* a permutation of 1..30 */
        char id[16];
        snprintf(id, sizeof id, "q%d", i);
        uint32_t q = eb_req(ev, id, 0, (uint64_t)(100 * i));
        eb_span(ev, q, "queue", 0, (uint64_t)(i * i));
    }
    sp_report *r = eb_analyze(ev, NULL);
    CHECK_EQ_U64(r->request_count, 30);
    CHECK_EQ_U64(r->batch_count, 0);
    CHECK_EQ_U64(r->latency.p50_ns, 1500);
    CHECK_EQ_U64(r->latency.p95_ns, 2900);
    CHECK_EQ_U64(r->latency.p99_ns, 3000);
    const sp_stage_row *qr = eb_row(r, "queue");
    CHECK(qr != NULL);
    if (qr) {
        CHECK_EQ_U64(qr->q.p50_ns, 225);
        CHECK_EQ_U64(qr->q.p95_ns, 841);
        CHECK_EQ_U64(qr->q.p99_ns, 900);
        CHECK_NEAR(qr->share_p50, 5470.0 / 31000.0, 1e-12);
        CHECK_NEAR(qr->share_p95, 9070.0 / 41000.0, 1e-12);
        CHECK_NEAR(qr->share_p99, 9070.0 / 41000.0, 1e-12);
    }
    const sp_stage_row *ot = eb_row(r, "other");
    CHECK(ot && fabs(ot->share_p95 - (1.0 - 9070.0 / 41000.0)) < 1e-12);
    CHECK_NEAR(r->other_share_p95, 1.0 - 9070.0 / 41000.0, 1e-12);
    CHECK(r->verdict.group == SP_GROUP_INSTRUMENTATION);
    CHECK(r->verdict.sentence && strstr(r->verdict.sentence, "nstrumentation is missing") &&
          strstr(r->verdict.sentence, "78%"));
    CHECK(r->cost.price_is_default);
    CHECK_NEAR(r->cost.price_per_hour, SP_DEFAULT_PRICE_PER_HOUR, 0);
    CHECK_EQ_U64(r->cost.window_ns, 3000);
    CHECK_NEAR(r->cost.by_state_share[SP_COST_NO_BATCH], 1.0, 1e-12);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* One request through three batches, overlapping spans and a merged client record.
 * Server life [100, 1000), client send 50 / done 1100 (intended 40): life [50, 1100) = 1050.
 *   preprocess [100,200) and tokenize [150,250) overlap: the later start wins -> preprocess 50,
 *   tokenize 100; [250,300) before the first batch: other 50.
 *   b1 [300,400): kernel [300,380) = 80, gap 20; waste 1 - 10/20 = 0.5 -> padding 40.
 *   [400,500) between batches, no span: queue 100.
 *   b2 [500,600): untied kernel [520,560) (device 0; overlaps b2 and b3, so tied to both) = 40, gap 60
 *   (the h2d [560,650) is tied to b3 by id, so b2 does not see it).
 *   b3 [550,700) overlaps b2: the earlier batch keeps [550,600); b3 gives [600,700): its pieces are
 *   kernel [550,560), h2d [560,650), d2h [650,700) (d2h [640,700) loses [640,650) to h2d) ->
 *   h2d 50, d2h 50.
 *   [700,900) after the last batch: other 200. postprocess [900,1000) 100.
 *   network (100 - 50) + (1100 - 1000) = 150.
 * Totals: queue 100, preprocess 50, h2d 50, kernel 120, gap 80, d2h 50, postprocess 100, network 150,
 * tokenize 100, other 250: sum 1050. Client latency 1100 - 40 = 1060; server latency 900. */
static void test_multibatch_client(void)
{
    sp_events *ev = eb_new();
    uint32_t q = eb_req(ev, "x", 100, 1000);
    eb_span(ev, q, "preprocess", 100, 200);
    eb_span(ev, q, "tokenize", 150, 250);
    eb_span(ev, q, "postprocess", 900, 1000);
    uint32_t b1 = eb_batch(ev, 1, 300, 400, 10, 20, &q, 1);
    eb_batch(ev, 2, 500, 600, -1, -1, &q, 1);
    uint32_t b3 = eb_batch(ev, 3, 550, 700, -1, -1, &q, 1);
    eb_act(ev, SP_ACT_KERNEL, b1, 300, 380);
    eb_act(ev, SP_ACT_KERNEL, SP_EV_NONE, 520, 560);
    eb_act(ev, SP_ACT_H2D, b3, 560, 650);
    eb_act(ev, SP_ACT_D2H, b3, 640, 700);
    eb_client(ev, "x", 40, 50, 1100);
    sp_report *r = eb_analyze(ev, NULL);
    static const char *order[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h", "postprocess",
                                  "network", "tokenize", "other"};
    static const uint64_t want[] = {100, 50, 50, 120, 80, 50, 100, 150, 100, 250};
    CHECK_EQ_U64(r->n_stages, 10);
    for (size_t i = 0; i < 10 && i < r->n_stages; i++) {
        CHECK(!strcmp(r->stages[i].name, order[i]));
        CHECK_EQ_U64(r->stages[i].total_ns, want[i]);
        CHECK_NEAR(r->stages[i].share_p95, (double)want[i] / 1050.0, 1e-12);
    }
    CHECK(r->has_client);
    CHECK_EQ_U64(r->client_latency.p50_ns, 1060);
    /* end-to-end is the life the stages add up to (client send 50 -> reply 1100); the server's own
     * latency (100 -> 1000) is reported beside it */
    CHECK_EQ_U64(r->latency.p50_ns, 1050);
    CHECK_EQ_U64(r->server_latency.p50_ns, 900);
    CHECK_EQ_U64(r->requests_with_client, 1);
    /* client and server records in one file share its clock (DESIGN 2): offset 0, and the one pair
     * bounds it to [done - client_done, arrival - send] = [1000 - 1100, 100 - 50] = [-100, 50] */
    CHECK_EQ_U64(r->n_clock_offsets, 1);
    if (r->n_clock_offsets == 1) {
        CHECK(r->clock_offsets[0].source == SP_CLOCK_SAME_TRACE);
        CHECK(r->clock_offsets[0].offset_ns == 0);
        CHECK(r->clock_offsets[0].lower_ns == -100 && r->clock_offsets[0].upper_ns == 50);
        CHECK_EQ_U64(r->clock_offsets[0].violations, 0);
    }
    CHECK_EQ_U64(r->padding.padding_ns_total, 40);
    CHECK_NEAR(r->padding.share_p95, 40.0 / 1050.0, 1e-12);
    /* largest candidate: other 250/1050 -> instrumentation */
    CHECK(r->verdict.group == SP_GROUP_INSTRUMENTATION);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* Two members of one batch, window [0,100) fully covered by a kernel; input tokens 30 and 10;
 * eff 40, padded 50 (waste 0.2). Price 36000/h: bill = 36000 x 100 / 3.6e12 = 1e-6.
 * Cost states: padding 100 x 0.2 = 20 -> 0.2; useful 0.8.
 * Per-request: batch device time 100 ns x 1e-6/100 = 1e-6 split 30:10 -> 7.5e-7 and 2.5e-7, i.e.
 * 750 and 250 nano-units: p50 (rank 1) 250, p95 (rank 2) 750; mean 5e-7. per_request = 5e-7.
 * Queue-dominated variant: both requests also queue [-, 0): see the verdict check below. */
static void test_cost_tokens(void)
{
    sp_events *ev = eb_new();
    uint32_t m[2];
    m[0] = eb_req_f(ev, 0, "a", 0, 100, 30);
    m[1] = eb_req_f(ev, 0, "b", 0, 100, 10);
    uint32_t b = eb_batch(ev, 1, 0, 100, 40, 50, m, 2);
    eb_act(ev, SP_ACT_KERNEL, b, 0, 100);
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    opt.price_per_hour = 36000;
    sp_report *r = eb_analyze(ev, &opt);
    CHECK_NEAR(r->cost.bill, 1e-6, 1e-18);
    CHECK_NEAR(r->cost.per_request, 5e-7, 1e-18);
    CHECK_NEAR(r->cost.by_state_share[SP_COST_PADDING], 0.2, 1e-12);
    CHECK_NEAR(r->cost.by_state_share[SP_COST_USEFUL], 0.8, 1e-12);
    CHECK_EQ_U64(r->cost.request_cost_nano.p50_ns, 250);
    CHECK_EQ_U64(r->cost.request_cost_nano.p95_ns, 750);
    CHECK_NEAR(r->cost.request_cost_mean, 5e-7, 1e-15);
    /* kernel 100% of p95, padding 20%: useful 0.8 >= 0.5 but padding 0.2 >= 0.1 -> no model advice */
    CHECK(!strcmp(r->verdict.stage, "kernel"));
    CHECK(!r->verdict.recommend_model);
    CHECK_NEAR(r->verdict.share_p95, 0.8, 1e-12);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* A request in two batches among requests in one (cost.c: the weights pass adds the shares of a
 * request in one batch, the ordered scatter those of one in several). Batch 1 [0,100) holds a (30
 * input tokens) and b (10), batch 2 [100,200) holds b and c (30); a kernel fills each window. Price
 * 36000/h, window [0,200): bill = 36000 x 200 / 3.6e12 = 2e-6, 1e-8 a device ns; each batch's 100 ns
 * cost 1e-6, split by tokens: a 7.5e-7, b 2.5e-7 + 2.5e-7 = 5e-7, c 7.5e-7. Nano column {750, 500,
 * 750}: min 500, p50 (rank 2) 750, max 750; mean 2e-6 / 3. Taken on one thread, then on two with every
 * chunk of the cost's shared passes on the second (chunks of one batch or request). */
static void test_cost_two_batches(void)
{
    for (int route = 0; route < 2; route++) {
        sp_events *ev = eb_new();
        uint32_t m[2];
        uint32_t ra = eb_req_f(ev, 0, "a", 0, 100, 30);
        uint32_t rb = eb_req_f(ev, 0, "b", 0, 200, 10);
        uint32_t rc = eb_req_f(ev, 0, "c", 100, 200, 30);
        m[0] = ra;
        m[1] = rb;
        uint32_t b1 = eb_batch(ev, 1, 0, 100, 40, 40, m, 2);
        m[0] = rb;
        m[1] = rc;
        uint32_t b2 = eb_batch(ev, 2, 100, 200, 40, 40, m, 2);
        eb_act(ev, SP_ACT_KERNEL, b1, 0, 100);
        eb_act(ev, SP_ACT_KERNEL, b2, 100, 200);
        sp_analyze_options opt;
        sp_analyze_options_init(&opt);
        opt.price_per_hour = 36000;
        if (route) {
            sp_ana_two_threads_min = 1;
            sp_ana_cost_chunk = 1;
            sp_ana_cost_helper_first = 1;
        }
        sp_report *r = eb_analyze(ev, &opt);
        sp_ana_two_threads_min = SP_ANA_TWO_THREADS_MIN;
        sp_ana_cost_chunk = SP_ANA_COST_CHUNK;
        sp_ana_cost_helper_first = 0;
        CHECK_NEAR(r->cost.bill, 2e-6, 1e-18);
        CHECK_EQ_U64(r->cost.request_cost_nano.count, 3);
        CHECK_EQ_U64(r->cost.request_cost_nano.min_ns, 500);
        CHECK_EQ_U64(r->cost.request_cost_nano.p50_ns, 750);
        CHECK_EQ_U64(r->cost.request_cost_nano.max_ns, 750);
        CHECK_NEAR(r->cost.request_cost_mean, 2e-6 / 3, 1e-15);
        sp_report_destroy(r);
        sp_events_destroy(ev);
    }
}

/* Model-bound: one request [0,1000), batch [0,1000) eff 95 padded 100 (waste 0.05), kernel [0,960),
 * gap 40. Useful kernel share = (960 - 48)/1000 = 0.912 >= 0.5; gap 0.04 < 0.1; padding 0.048 < 0.1
 * -> recommend_model. Saving = 1000 - (1000 - 912) = 912.
 * Queue-bound: a second trace, request [0,1000) with queue [0,600) and batch [600,1000) all kernel:
 * queue 0.6 wins (configuration); saving 600; sentence names the batch window, and useful kernel 0.4
 * is 0.6 - 0.4 = 20 points behind, past the 10-point margin: "not the bottleneck". */
static void test_verdicts(void)
{
    sp_events *ev = eb_new();
    uint32_t q = eb_req(ev, "m", 0, 1000);
    uint32_t b = eb_batch(ev, 1, 0, 1000, 95, 100, &q, 1);
    eb_act(ev, SP_ACT_KERNEL, b, 0, 960);
    sp_report *r = eb_analyze(ev, NULL);
    CHECK(!strcmp(r->verdict.stage, "kernel"));
    CHECK(r->verdict.group == SP_GROUP_MODEL);
    CHECK(r->verdict.recommend_model);
    CHECK_NEAR(r->verdict.share_p95, 0.912, 1e-12);
    CHECK_EQ_U64(r->verdict.saving_p95_ns, 912);
    CHECK(strstr(r->verdict.sentence, "91%") != NULL);
    sp_report_destroy(r);
    sp_events_destroy(ev);

    ev = eb_new();
    q = eb_req(ev, "c", 0, 1000);
    eb_span(ev, q, "queue", 0, 600);
    b = eb_batch(ev, 1, 600, 1000, -1, -1, &q, 1);
    eb_act(ev, SP_ACT_KERNEL, b, 600, 1000);
    r = eb_analyze(ev, NULL);
    CHECK(!strcmp(r->verdict.stage, "queue"));
    CHECK(r->verdict.group == SP_GROUP_CONFIGURATION);
    CHECK_NEAR(r->verdict.share_p95, 0.6, 1e-12);
    CHECK_EQ_U64(r->verdict.saving_p95_ns, 600);
    CHECK(strstr(r->verdict.sentence, "60% of p95 latency is pre-batch queuing") != NULL);
    /* useful kernel 0.4 is 20 points behind queue 0.6, past the 10-point margin */
    CHECK(strstr(r->verdict.sentence, "The model is not the bottleneck: useful kernel time is 40% of p95, 20 "
                                      "points below queue") != NULL);
    sp_report_destroy(r);
    sp_events_destroy(ev);

    /* Saturated device: four requests arrive at 0 and are served one batch after another, each
     * batch fully covered by a kernel: a [0,1000), b [1000,1200), c [1200,1400), d [1400,1600); each
     * waits in queue until its batch starts. A batch is in flight over the whole window [0,1600), so
     * no_batch is 0% (< 15%): the queue is capacity-bound. Latencies 1000/1200/1400/1600; with n = 4
     * the p95 window holds all four (min(20, n)): sum 5200, queue 0+1000+1200+1400 = 3600 -> 69%, kernel 1000+200+200+200 = 1600 -> 31%. Queue wins; advice: capacity. */
    ev = eb_new();
    static const char *const ids[4] = {"a", "b", "c", "d"};
    const uint64_t start[4] = {0, 1000, 1200, 1400}, end[4] = {1000, 1200, 1400, 1600};
    for (int k = 0; k < 4; k++) {
        q = eb_req(ev, ids[k], 0, end[k]);
        if (start[k] > 0)
            eb_span(ev, q, "queue", 0, start[k]);
        b = eb_batch(ev, k + 1, start[k], end[k], -1, -1, &q, 1);
        eb_act(ev, SP_ACT_KERNEL, b, start[k], end[k]);
    }
    r = eb_analyze(ev, NULL);
    CHECK(!strcmp(r->verdict.stage, "queue"));
    CHECK_NEAR(r->verdict.share_p95, 3600.0 / 5200.0, 1e-12);
    CHECK(strstr(r->verdict.sentence, "saturated device") != NULL);
    CHECK(strstr(r->verdict.sentence, "add replicas") != NULL);
    CHECK(strstr(r->verdict.sentence, "not the bottleneck") == NULL);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* GPU-only trace (no requests), stream 0 with launches, stream 2 with an NCCL kernel, a sync:
 *   gemm [1000,2000) corr 1 launch [0,500): delay 500, cpu 500
 *   gemm [2010,3000) corr 2 launch [1900,1950): gap 10, launch started before prev end (2000) and
 *        10 < 30 us -> kernel_wait 10; delay 60, cpu 50
 *   gemm [103000,104000) corr 3 launch [102000,102500): gap 100000, launch started after 3000 ->
 *        host_wait 100000; delay 500, cpu 500
 *   tiny [104000,104010) corr 4 launch [103500,103600): no gap; delay 400, cpu 100 > gpu 10 -> short
 *   ncclAllReduce [1500,2500) stream 2, no launch; sync [3000,100000) ignored everywhere.
 * span 104010 - 1000 = 103010; busy = [1000,3000) + 1000 + 10 = 3010; idle 100000;
 * compute (no nccl) = 1000 + 990 + 1000 + 10 = 3000; non_compute = 3010 - 3000 = 10.
 * Launches: 4 joined, delay sum 1460, max 500; cpu sum 1150; gpu sum 3000; short 1.
 * Kernel stats by total: gemm (3, 2990), ncclAllReduce (1, 1000), tiny (1, 10).
 * Verdict: busy 3010/103010 = 2.9% -> starved, host_wait 100000 of 100010 stream idle. */
static void test_gpu_only(void)
{
    sp_events *ev = eb_new();
    eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, 1000, 2000, "gemm", 0, 0, 1, 0, 0);
    eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, 2010, 3000, "gemm", 0, 0, 2, 0, 0);
    eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, 103000, 104000, "gemm", 0, 0, 3, 0, 0);
    eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, 104000, 104010, "tiny", 0, 0, 4, 0, 0);
    eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, 1500, 2500, "ncclAllReduce", 2, 0, 0, 0, 0);
    eb_act_full(ev, SP_ACT_SYNC, SP_EV_NONE, 3000, 100000, NULL, 0, 0, 0, 0, 0);
    eb_launch(ev, 1, 0, 500, 0);
    eb_launch(ev, 2, 1900, 1950, 0);
    eb_launch(ev, 3, 102000, 102500, 0);
    eb_launch(ev, 4, 103500, 103600, 0);
    sp_report *r = eb_analyze(ev, NULL);
    const sp_gpu_summary *g = &r->gpu;
    CHECK_EQ_U64(r->request_count, 0);
    CHECK(g->present);
    CHECK_EQ_U64(g->span_ns, 103010);
    CHECK_EQ_U64(g->busy_ns, 3010);
    CHECK_EQ_U64(g->idle_ns, 100000);
    CHECK_EQ_U64(g->compute_ns, 3000);
    CHECK_EQ_U64(g->non_compute_ns, 10);
    CHECK_EQ_U64(g->kernels, 5);
    CHECK_EQ_U64(g->n_streams, 2);
    if (g->n_streams == 2) {
        CHECK_EQ_U64(g->idle_breakdown[0].stream, 0);
        CHECK_EQ_U64(g->idle_breakdown[0].host_wait_ns, 100000);
        CHECK_EQ_U64(g->idle_breakdown[0].kernel_wait_ns, 10);
        CHECK_EQ_U64(g->idle_breakdown[0].other_ns, 0);
        CHECK_EQ_U64(g->idle_breakdown[1].stream, 2);
        CHECK_EQ_U64(g->idle_breakdown[1].host_wait_ns + g->idle_breakdown[1].kernel_wait_ns +
                         g->idle_breakdown[1].other_ns, 0);
    }
    CHECK_EQ_U64(g->launches_joined, 4);
    CHECK_EQ_U64(g->launch_delay_sum_ns, 1460);
    CHECK_EQ_U64(g->launch_delay_max_ns, 500);
    CHECK_EQ_U64(g->launch_cpu_sum_ns, 1150);
    CHECK_EQ_U64(g->launch_gpu_sum_ns, 3000);
    CHECK_EQ_U64(g->short_kernels, 1);
    CHECK_EQ_U64(g->n_kernel_stats, 3);
    if (g->n_kernel_stats == 3) {
        CHECK(!strcmp(g->kernel_stats[0].name, "gemm"));
        CHECK_EQ_U64(g->kernel_stats[0].count, 3);
        CHECK_EQ_U64(g->kernel_stats[0].total_ns, 2990);
        CHECK_EQ_U64(g->kernel_stats[0].q.max_ns, 1000);
        CHECK(!strcmp(g->kernel_stats[1].name, "ncclAllReduce"));
        CHECK(!strcmp(g->kernel_stats[2].name, "tiny"));
    }
    CHECK(r->verdict.stage == NULL);
    CHECK(r->verdict.group == SP_GROUP_NONE);
    /* no step marks and a starved device: the verdict hedges (docs/analysis.md section 6) */
    CHECK(r->verdict.sentence && strstr(r->verdict.sentence, "cannot tell missing load from slow launches") &&
          strstr(r->verdict.sentence, "host_wait"));
    /* request sections present with count 0 */
    CHECK_EQ_U64(r->latency.count, 0);
    CHECK_EQ_U64(r->n_stages, 8);
    CHECK_EQ_U64(r->stages[0].q.count, 0);
    CHECK_EQ_U64(r->cost.window_ns, 103010);
    CHECK_NEAR(r->cost.by_state_share[SP_COST_USEFUL], 3010.0 / 103010.0, 1e-12);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* Kernel names beyond the GPU figures' 64-slot memo (gpu.c, kernel_name): 200 names, every 7th a
 * communication kernel ("NcCl" in its name, any case counts), 3000 kernels taking the names in a
 * scattered order on three streams in turn, none overlapping. The answers are this test's own sums:
 * kernel i runs [100 i, 100 i + 10 + i % 13), name (37 i) mod 200; compute is the sum of the
 * non-communication kernels' durations (no overlap), each name's count, total and longest come from
 * its kernels, and every stream's gaps (278 ns to 290 ns: under 30 us, no launch calls) are kernel_wait. */
static void test_gpu_many_names(void)
{
    enum { NAMES = 200, KERNELS = 3000 };
    uint64_t count[NAMES] = {0}, total[NAMES] = {0}, longest[NAMES] = {0}, compute = 0;
    uint64_t stream_end[3] = {0, 0, 0}, wait = 0;
    sp_events *ev = eb_new();
    for (uint64_t i = 0; i < KERNELS; i++) {
        uint32_t j = (uint32_t)((37 * i) % NAMES);
        char name[32];
        snprintf(name, sizeof name, j % 7 == 0 ? "k%03u_NcCl" : "k%03u", j);
        uint64_t s = 100 * i, d = 10 + i % 13;
        eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, s, s + d, name, (int64_t)(i % 3), 0, 0, 0, 0);
        count[j]++;
        total[j] += d;
        longest[j] = d > longest[j] ? d : longest[j];
        compute += j % 7 == 0 ? 0 : d;
        if (i >= 3)
            wait += s - stream_end[i % 3];
        stream_end[i % 3] = s + d;
    }
    sp_report *r = eb_analyze(ev, NULL);
    const sp_gpu_summary *g = &r->gpu;
    CHECK_EQ_U64(g->kernels, KERNELS);
    CHECK_EQ_U64(g->compute_ns, compute);
    CHECK_EQ_U64(g->n_streams, 3);
    uint64_t kw = 0, other = 0;
    for (size_t k = 0; k < g->n_streams; k++) {
        kw += g->idle_breakdown[k].kernel_wait_ns;
        other += g->idle_breakdown[k].host_wait_ns + g->idle_breakdown[k].other_ns;
    }
    CHECK_EQ_U64(kw, wait);
    CHECK_EQ_U64(other, 0);
    CHECK_EQ_U64(g->n_kernel_stats, NAMES);
    uint64_t seen = 0;
    for (size_t k = 0; k < g->n_kernel_stats; k++) {
        const sp_kernel_stat *row = &g->kernel_stats[k];
        unsigned j = NAMES;
        CHECK(sscanf(row->name, "k%3u", &j) == 1 && j < NAMES);
        if (j >= NAMES)
            continue;
        CHECK((strstr(row->name, "NcCl") != NULL) == (j % 7 == 0));
        CHECK_EQ_U64(row->count, count[j]);
        CHECK_EQ_U64(row->total_ns, total[j]);
        CHECK_EQ_U64(row->q.max_ns, longest[j]);
        seen += row->count;
        if (k)
            CHECK(row->total_ns <= g->kernel_stats[k - 1].total_ns);
    }
    CHECK_EQ_U64(seen, KERNELS);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* An empty event set: every section present and zero; the verdict says there is nothing. */
static void test_empty(void)
{
    sp_events *ev;
    eb_check(sp_events_create(&ev), "create");
    sp_report *r = eb_analyze(ev, NULL);
    CHECK_EQ_U64(r->request_count, 0);
    CHECK_EQ_U64(r->n_stages, 8);
    CHECK(!r->gpu.present);
    CHECK_EQ_U64(r->cost.window_ns, 0);
    CHECK_NEAR(r->cost.bill, 0, 0);
    CHECK(r->verdict.group == SP_GROUP_NONE && r->verdict.sentence != NULL);
    CHECK_EQ_U64(r->n_files, 0);
    CHECK_EQ_U64(r->drops_total, 0);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    sp_report_destroy(NULL);
}

/* Malformed input: done before arrival is an error naming the request; lenient skips and counts it.
 * Drops recorded in two files are summed per cause. */
static void test_errors_and_drops(void)
{
    sp_events *ev = eb_new();
    eb_req(ev, "bad", 500, 100);
    eb_req(ev, "good", 0, 10);
    sp_report *r = NULL;
    char err[256];
    CHECK(sp_analyze(ev, NULL, &r, err, sizeof err) == SP_ERR_PARSE);
    CHECK(r == NULL);
    CHECK(strstr(err, "bad") != NULL && strstr(err, "test") != NULL);
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    opt.lenient = 1;
    uint32_t f2 = eb_file(ev, "second");
    ev->files[0].drops[SP_DROP_BUFFER_FULL] = 3;
    ev->files[f2].drops[SP_DROP_BUFFER_FULL] = 4;
    ev->files[f2].drops[SP_DROP_TOO_LARGE] = 1;
    ev->files[f2].skipped = 2;
    r = eb_analyze(ev, &opt);
    CHECK_EQ_U64(r->request_count, 1);
    CHECK_EQ_U64(r->skipped_records, 3);
    CHECK_EQ_U64(r->drops[SP_DROP_BUFFER_FULL].count, 7);
    CHECK_EQ_U64(r->drops[SP_DROP_TOO_LARGE].count, 1);
    CHECK_EQ_U64(r->drops_total, 8);
    CHECK_EQ_U64(r->n_files, 2);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

static void test_strings(void)
{
    CHECK(!strcmp(sp_cost_state_str(SP_COST_USEFUL), "useful"));
    CHECK(!strcmp(sp_cost_state_str(SP_COST_NO_BATCH), "no_batch"));
    CHECK(!strcmp(sp_verdict_group_str(SP_GROUP_CONFIGURATION), "configuration"));
    CHECK(!strcmp(sp_verdict_group_str(SP_GROUP_INSTRUMENTATION), "instrumentation"));
}

int main(void)
{
    test_design_example();
    test_share_widening();
    test_multibatch_client();
    test_cost_tokens();
    test_cost_two_batches();
    test_verdicts();
    test_gpu_only();
    test_gpu_many_names();
    test_empty();
    test_errors_and_drops();
    test_strings();
    return sp_test_done("test_analyze_known");
}
