/* A hand-filled sp_report for the writer tests, independent of the analyzer: every section has data,
 * with figures chosen so the expected text is easy to compute by hand (comments give the sums). */
#ifndef SERVPROF_TEST_REPORT_FIXTURE_H
#define SERVPROF_TEST_REPORT_FIXTURE_H

#include <string.h>

#include "servprof/analyze.h"

typedef struct fixture {
    sp_report r;
    sp_stage_row stages[5];
    sp_stream_idle streams[2];
    sp_kernel_stat kernels[2];
    sp_copy_stat copies[2];
} fixture;

static const char *const fixture_causes[SP_DROP_CAUSE_COUNT] = {
    "buffer_full", "too_large", "no_buffer", "write_failed", "reentrant", "after_close",
};

static sp_quantiles fixture_q(uint64_t p50, uint64_t p95, uint64_t p99, double mean, uint64_t count)
{
    sp_quantiles q;
    memset(&q, 0, sizeof q);
    q.p50_ns = p50;
    q.p95_ns = p95;
    q.p99_ns = p99;
    q.min_ns = p50 / 2;
    q.max_ns = p99 + 1000;
    q.mean_ns = mean;
    q.count = count;
    return q;
}

/* 100 requests; latency p50 1.234567 ms, p95 10 ms, p99 12.5 ms. Shares of p95 over the five stage
 * rows: 0.38 + 0.02 + 0.40 + 0.15 + 0.05 = 1. */
static void fixture_fill(fixture *f)
{
    memset(f, 0, sizeof *f);
    sp_report *r = &f->r;
    r->n_files = 1;
    r->request_count = 100;
    r->latency = fixture_q(1234567, 10000000, 12500000, 2000000.5, 100);
    static const char *names[5] = {"queue", "preprocess", "kernel", "gap", "other"};
    static const double s95[5] = {0.38, 0.02, 0.40, 0.15, 0.05};
    for (int i = 0; i < 5; i++) {
        f->stages[i].name = names[i];
        f->stages[i].q = fixture_q(100000u * (i + 1), 1000000u * (i + 1), 2000000u * (i + 1), 150000.25 * (i + 1), 100);
        f->stages[i].share_p50 = 0.2;
        f->stages[i].share_p95 = s95[i];
        f->stages[i].share_p99 = 0.2;
        f->stages[i].total_ns = 15000025u * (i + 1);
    }
    r->n_stages = 5;
    r->stages = f->stages;
    r->other_share_p95 = 0.05;
    r->padding.batches = 20;
    r->padding.effective_tokens = 600;
    r->padding.padded_tokens = 1000;          /* waste 1 - 600/1000 = 0.4 */
    r->padding.waste_fraction = 0.4;
    r->padding.waste_p50 = 0.35;
    r->padding.waste_p95 = 0.6;
    r->padding.waste_max = 0.7;
    r->padding.share_p95 = 0.16;
    r->padding.share_of_bill = 0.37;
    r->padding.padding_ns_total = 5000000;
    r->batch_count = 20;
    r->batch_size = fixture_q(5, 8, 9, 5.0, 20);
    sp_gpu_summary *g = &r->gpu;
    g->present = 1;
    g->span_ns = 90000000;
    g->busy_ns = 60000000;
    g->idle_ns = 30000000;                    /* span - busy */
    g->compute_ns = 55000000;
    g->non_compute_ns = 5000000;
    g->kernels = 180;
    g->copies = 40;
    f->streams[0] = (sp_stream_idle){7, 0, 1000000, 2000000, 3000000};
    f->streams[1] = (sp_stream_idle){-1, 1, 0, 0, 24000000};
    g->n_streams = 2;
    g->idle_breakdown = f->streams;
    /* a hostile kernel name: quote, backslash, newline, ESC (terminal escape), an invalid byte */
    f->kernels[0].name = "gemm<\"f16\"\\>\n\x1b[31m\xff_end";
    f->kernels[0].count = 100;
    f->kernels[0].total_ns = 40000000;
    f->kernels[0].q = fixture_q(400000, 500000, 600000, 400000.0, 100);
    f->kernels[1].name = "softmax";
    f->kernels[1].count = 80;
    f->kernels[1].total_ns = 15000000;
    f->kernels[1].q = fixture_q(180000, 200000, 210000, 187500.0, 80);
    g->n_kernel_stats = 2;
    g->kernel_stats = f->kernels;
    f->copies[0] = (sp_copy_stat){"h2d", 20, 4096000, 2000000, 2.048};
    f->copies[1] = (sp_copy_stat){"d2h", 20, 1024000, 1000000, 1.024};
    g->n_copy_stats = 2;
    g->copy_stats = f->copies;
    g->launches_joined = 180;
    g->launch_delay = fixture_q(8000, 15000, 20000, 9000.0, 180);
    g->launch_delay_max_ns = 21000;
    g->launch_delay_sum_ns = 1620000;
    g->short_kernels = 3;
    sp_cost_summary *c = &r->cost;
    c->price_per_hour = 3.6;
    c->price_is_default = 0;
    c->window_ns = 100000000;                 /* 0.1 s at $3.60/h = $0.0001 */
    c->bill = 0.0001;
    c->per_request = 0.000001;
    static const double shares[SP_COST_STATE_COUNT] = {0.30, 0.37, 0.03, 0.10, 0.20};
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        c->by_state_share[s] = shares[s];
        c->by_state[s] = shares[s] * c->bill;
    }
    c->request_cost_nano = fixture_q(900, 1500, 2000, 1000.0, 100);
    c->request_cost_mean = 1e-6;
    r->verdict.stage = "kernel";
    r->verdict.group = SP_GROUP_MODEL;
    r->verdict.share_p95 = 0.24;
    r->verdict.saving_p95_ns = 2400000;
    r->verdict.sentence = "24% of p95 latency is useful kernel work: the model is the bottleneck; "
                          "a smaller or faster model would save about 2.40 ms of p95.";
    /* A ranking as a writer receives it (writers format it, they do not re-derive it): five entries,
     * one of them under 5% (the text report hides it), one with a hostile stage name. */
    static sp_verdict_rank ranking[5] = {
        {"kernel", SP_GROUP_MODEL, 0.24, 2400000, "a smaller or quantised model or a faster GPU"},
        {"padding", SP_GROUP_CONFIGURATION, 0.16, 1600000, "bucket requests by length"},
        {"gap", SP_GROUP_RUNTIME, 0.15, 1500000, "capture CUDA graphs"},
        {"<b>\"x\"\x1b[31m", SP_GROUP_RUNTIME, 0.07, 700000, "optimise it & move it"},
        {"preprocess", SP_GROUP_RUNTIME, 0.02, 200000, "use a faster tokenizer"},
    };
    r->verdict.ranking = ranking;
    r->verdict.n_ranking = 5;
    for (int i = 0; i < SP_DROP_CAUSE_COUNT; i++)
        r->drops[i].cause = fixture_causes[i];
    r->drops[SP_DROP_BUFFER_FULL].count = 12;
    r->drops_total = 12;
    r->skipped_records = 0;
}

#endif
