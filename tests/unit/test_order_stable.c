/* A report never depends on the order of lines in a file (DESIGN 8a): a trace crafted so that every
 * tie the analysis meets decides a figure (equal latencies around the share windows, batches starting
 * together on one device and in one request, kernels equal but for their name, launch calls sharing a
 * correlation id, spans equal but for their stage, requests with the same arrival and done) gives
 * the figures the documented tie keys give, and byte-identical JSON, Perfetto and HTML output, whatever
 * the order of its lines (shuffled with fixed seeds, and reversed). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "testlib.h"

#define MAX_LINES 256

static char *lines[MAX_LINES];
static size_t n_lines;

static void add_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void add_line(const char *fmt, ...)
{
    va_list ap;
    char buf[512];
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n_lines >= MAX_LINES) {
        fprintf(stderr, "fixture: too many lines\n");
        exit(1);
    }
    lines[n_lines++] = strdup(buf);
}

/* The crafted trace (times in ns).
 * - 40 requests q00..q39, each 1 ms long; q00..q19 are all preprocess, q20..q39 all queue. Arrivals
 *   are scrambled against the ids (q2k and q2k+1 share theirs), so neither the order of lines nor of
 *   arrivals matches the tie key.
 * - m1..m4, shorter (30-120 us), so they take ranks 1..4 of the 44:
 *   m1 [1.99 ms, 2.11 ms] in batch 7; m2 [1.99, 2.06] in batch 3; m3 [1.99, 2.11] in batches 7 and 3;
 *   each queues until 2.0 ms. Batches 7 [2.0, 2.1] (waste 0.5) and 3 [2.0, 2.05] (waste 0) start
 *   together on device 0, where two untied kernels "gemm" and "attn" cover [2.0, 2.1] on one stream,
 *   both with correlation 11, which two launch calls carry: [1.995, 1.996] and [1.994, 1.999].
 *   m4 [2.99, 3.02] in batch 9 [3.0, 3.01] on device 1 (an h2d copy covers it); its spans "tokenize"
 *   and "detok" both cover [2.99, 2.995]. */
static void build_trace(void)
{
    add_line("{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"price_per_hour\":3.6}");
    for (int i = 0; i < 40; i++) {
        unsigned long long arr = 10000000ull + 1000ull * (unsigned long long)(((i / 2) * 17) % 20);
        add_line("{\"ev\":\"request\",\"id\":\"q%02d\",\"arrival_ns\":%llu,\"done_ns\":%llu}", i, arr, arr + 1000000);
        add_line("{\"ev\":\"stage\",\"id\":\"q%02d\",\"stage\":\"%s\",\"start_ns\":%llu,\"end_ns\":%llu}", i,
                 i < 20 ? "preprocess" : "queue", arr, arr + 1000000);
    }
    add_line("{\"ev\":\"request\",\"id\":\"m1\",\"arrival_ns\":1990000,\"done_ns\":2110000}");
    add_line("{\"ev\":\"request\",\"id\":\"m2\",\"arrival_ns\":1990000,\"done_ns\":2060000}");
    add_line("{\"ev\":\"request\",\"id\":\"m3\",\"arrival_ns\":1990000,\"done_ns\":2110000}");
    for (int m = 1; m <= 3; m++)
        add_line("{\"ev\":\"stage\",\"id\":\"m%d\",\"stage\":\"queue\",\"start_ns\":1990000,\"end_ns\":2000000}", m);
    add_line("{\"ev\":\"batch\",\"batch\":7,\"requests\":[\"m1\",\"m3\"],\"device\":0,\"start_ns\":2000000,"
             "\"end_ns\":2100000,\"effective_tokens\":10,\"padded_tokens\":20}");
    add_line("{\"ev\":\"batch\",\"batch\":3,\"requests\":[\"m2\",\"m3\"],\"device\":0,\"start_ns\":2000000,"
             "\"end_ns\":2050000,\"effective_tokens\":20,\"padded_tokens\":20}");
    add_line("{\"ev\":\"kernel\",\"name\":\"gemm\",\"stream\":0,\"device\":0,\"correlation\":11,\"start_ns\":2000000,\"end_ns\":2100000}");
    add_line("{\"ev\":\"kernel\",\"name\":\"attn\",\"stream\":0,\"device\":0,\"correlation\":11,\"start_ns\":2000000,\"end_ns\":2100000}");
    add_line("{\"ev\":\"launch\",\"name\":\"cudaLaunchKernel\",\"correlation\":11,\"start_ns\":1995000,\"end_ns\":1996000}");
    add_line("{\"ev\":\"launch\",\"name\":\"cudaLaunchKernel\",\"correlation\":11,\"start_ns\":1994000,\"end_ns\":1999000}");
    add_line("{\"ev\":\"request\",\"id\":\"m4\",\"arrival_ns\":2990000,\"done_ns\":3020000}");
    add_line("{\"ev\":\"stage\",\"id\":\"m4\",\"stage\":\"tokenize\",\"start_ns\":2990000,\"end_ns\":2995000}");
    add_line("{\"ev\":\"stage\",\"id\":\"m4\",\"stage\":\"detok\",\"start_ns\":2990000,\"end_ns\":2995000}");
    add_line("{\"ev\":\"batch\",\"batch\":9,\"requests\":[\"m4\"],\"device\":1,\"start_ns\":3000000,\"end_ns\":3010000}");
    add_line("{\"ev\":\"copy\",\"batch\":9,\"kind\":\"h2d\",\"bytes\":4096,\"device\":1,\"stream\":2,\"start_ns\":3000000,\"end_ns\":3010000}");
}

static uint64_t rng_state;

static uint64_t xorshift(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* The lines in the order `perm`, as one JSONL text. */
static char *text_of(const size_t *perm)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    for (size_t i = 0; i < n_lines; i++)
        fprintf(f, "%s\n", lines[perm[i]]);
    fclose(f);
    return buf;
}

typedef struct outputs {
    char *json, *perfetto, *html;
} outputs;

static outputs analyze_text(const char *text, sp_report **keep)
{
    sp_events *ev = sp_test_load_jsonl(text);
    sp_report *r;
    char err[512];
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    opt.keep_detail = 1; /* the HTML charts too */
    if (sp_analyze(ev, &opt, &r, err, sizeof err) != SP_OK) {
        fprintf(stderr, "analyze failed: %s\n", err);
        exit(1);
    }
    outputs o = {NULL, NULL, NULL};
    size_t l1 = 0, l2 = 0, l3 = 0;
    FILE *f = open_memstream(&o.json, &l1);
    CHECK(sp_report_write_json(r, f) == SP_OK);
    fclose(f);
    f = open_memstream(&o.perfetto, &l2);
    CHECK(sp_report_write_perfetto(r, ev, f) == SP_OK);
    fclose(f);
    f = open_memstream(&o.html, &l3);
    CHECK(sp_report_write_html(r, ev, f) == SP_OK);
    fclose(f);
    if (keep)
        *keep = r;
    else
        sp_report_destroy(r);
    sp_events_destroy(ev);
    return o;
}

static const sp_stage_row *row(const sp_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_stages; i++)
        if (!strcmp(r->stages[i].name, name))
            return &r->stages[i];
    return NULL;
}

/* The figures the documented keys give (docs/analysis.md, "Ties"), worked out by hand. */
static void check_figures(const sp_report *r)
{
    CHECK_EQ_U64(r->request_count, 44);
    /* Ranks by (life, id text): m4 (30 us), m2 (70 us), m1, m3 (120 us; "m1" < "m3"), then the 40 q's
     * by id: rank k holds q(k-5).
     * p95 window: ranks ceil(94 x 44 / 100) = 42 .. ceil(96 x 44 / 100) = 43, widened below (41), above
     * (44), then below only to 20 ranks: 25..44 = q20..q39, all queue: share 1.
     * p99: 44..44, widened below to 25..44: the same. p50: 22..23, widened 9 below and 9 above to
     * 13..32 = q08..q27: 12 preprocess, 8 queue, of equal lives: 0.6 and 0.4. */
    size_t lo, hi;
    sp_ana_share_window(44, 50, &lo, &hi);
    CHECK(lo == 13 && hi == 32);
    sp_ana_share_window(44, 95, &lo, &hi);
    CHECK(lo == 25 && hi == 44);
    const sp_stage_row *queue = row(r, "queue"), *pre = row(r, "preprocess");
    CHECK(queue && pre);
    if (queue && pre) {
        CHECK_NEAR(queue->share_p95, 1.0, 1e-12);
        CHECK_NEAR(queue->share_p99, 1.0, 1e-12);
        CHECK_NEAR(queue->share_p50, 0.4, 1e-12);
        CHECK_NEAR(pre->share_p50, 0.6, 1e-12);
    }
    /* m3 rides batches 7 and 3, which start together: batch 3 (the smaller id) comes first and keeps
     * [2.0, 2.05] (waste 0); batch 7 gets [2.05, 2.1]: 50 us of kernel x 0.5 = 25 us of padding. m1:
     * 100 us x 0.5 = 50 us; m2: 0. Total 75 us. */
    CHECK_EQ_U64(r->padding.padding_ns_total, 75000);
    /* On device 0 the same rule: batch 3 holds [2.0, 2.05], batch 7 [2.05, 2.1]: 25 us of padding
     * device time, over the window [1.99 ms, 11.019 ms] x 2 devices. */
    double window = (double)r->cost.window_ns;
    CHECK_EQ_U64(r->cost.window_ns, 11019000 - 1990000);
    CHECK_NEAR(r->cost.by_state_share[SP_COST_PADDING] * window * 2, 25000.0, 1e-6);
    /* the launch joined to correlation 11 is the earliest-starting one, [1.994, 1.999]: both kernels
     * wait 2.0 - 1.999 = 1 us */
    CHECK_EQ_U64(r->gpu.launches_joined, 2);
    CHECK_EQ_U64(r->gpu.launch_delay.p50_ns, 1000);
    CHECK_EQ_U64(r->gpu.launch_delay.max_ns, 1000);
    /* kernels of equal total: by name */
    CHECK_EQ_U64(r->gpu.n_kernel_stats, 2);
    if (r->gpu.n_kernel_stats == 2)
        CHECK(!strcmp(r->gpu.kernel_stats[0].name, "attn") && !strcmp(r->gpu.kernel_stats[1].name, "gemm"));
    /* m4's equal spans: the smaller name, detok, owns [2.99, 2.995] */
    const sp_stage_row *detok = row(r, "detok"), *tok = row(r, "tokenize");
    CHECK(detok && tok && detok->total_ns == 5000 && tok->total_ns == 0);
}

int main(void)
{
    build_trace();
    size_t perm[MAX_LINES];
    for (size_t i = 0; i < n_lines; i++)
        perm[i] = i;
    char *text = text_of(perm);
    sp_report *r = NULL;
    outputs base = analyze_text(text, &r);
    check_figures(r);
    sp_report_destroy(r);
    free(text);
    /* five shuffles (Fisher-Yates, fixed seeds) and the reversed file */
    for (int round = 0; round < 6; round++) {
        for (size_t i = 0; i < n_lines; i++)
            perm[i] = round == 5 ? n_lines - 1 - i : i;
        rng_state = 0x9E3779B97F4A7C15ull * (uint64_t)(round + 1);
        for (size_t i = n_lines - 1; round < 5 && i > 0; i--) {
            size_t j = (size_t)(xorshift() % (i + 1));
            size_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        text = text_of(perm);
        outputs o = analyze_text(text, &r);
        check_figures(r);
        sp_report_destroy(r);
        if (strcmp(o.json, base.json) != 0)
            fprintf(stderr, "round %d: the JSON report differs\n", round);
        CHECK(strcmp(o.json, base.json) == 0);
        if (strcmp(o.perfetto, base.perfetto) != 0)
            fprintf(stderr, "round %d: the Perfetto output differs\n", round);
        CHECK(strcmp(o.perfetto, base.perfetto) == 0);
        if (strcmp(o.html, base.html) != 0)
            fprintf(stderr, "round %d: the HTML report differs\n", round);
        CHECK(strcmp(o.html, base.html) == 0);
        free(o.json);
        free(o.perfetto);
        free(o.html);
        free(text);
    }
    free(base.json);
    free(base.perfetto);
    free(base.html);
    for (size_t i = 0; i < n_lines; i++)
        free(lines[i]);
    return sp_test_done("test_order_stable");
}
