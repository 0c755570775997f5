/* The TPOT verdict on traces shaped like the CUDA generation service's (servprof serve --generate
 * --device cuda: device property "cuda"; each step an h2d copy of its inputs, a few small kernels with
 * launch gaps between them, a d2h copy of the logits), worked out by hand: eager, decode steps are
 * mostly gap and the verdict is "launch-bound: capture decode in CUDA graphs"; the same steps replayed
 * from a graph (kernels back to back) leave a smaller gap share and the verdict moves to the kernels;
 * the eager trace marked device "cpu" never recommends CUDA graphs. scripts/gpu-check.sh (step 13)
 * expects the same on a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static sp_report *analyze_text(const char *text)
{
    sp_events *ev = sp_test_load_jsonl(text);
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    sp_report *r = NULL;
    char err[512];
    if (sp_analyze(ev, &opt, &r, err, sizeof err) != SP_OK) {
        fprintf(stderr, "analyze failed: %s\n", err);
        exit(1);
    }
    sp_events_destroy(ev);
    return r;
}

static const sp_gen_row *row_of(const sp_gen_table *t, const char *name)
{
    for (size_t i = 0; i < t->n_rows; i++)
        if (!strcmp(t->rows[i].name, name))
            return &t->rows[i];
    return NULL;
}

static double share_of(const sp_gen_table *t, const char *name)
{
    const sp_gen_row *r = row_of(t, name);
    return r ? r->share_p95 : 0;
}

/* One request d1: a prefill step 0..100 (h2d 0..5, kernel 5..95, d2h 95..100), token 0 at 100, then
 * two decode steps of length L starting at s = 100 and 100 + L, each with an h2d copy s..s+5, three
 * 20 ns kernels starting at s + k[0..2], a d2h copy s+L-10..s+L, and its token at s + L. */
static void trace(char *buf, size_t cap, const char *device, unsigned L, const unsigned k[3])
{
    size_t n = (size_t)snprintf(
        buf, cap,
        "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"properties\":{\"device\":"
        "\"%s\"}}\n"
        "{\"ev\":\"request\",\"id\":\"d1\",\"arrival_ns\":0,\"done_ns\":%u}\n"
        "{\"ev\":\"step\",\"batch\":1,\"requests\":[\"d1\"],\"phases\":[\"prefill\"],\"tokens\":[8],\"start_ns\":0,"
        "\"end_ns\":100}\n"
        "{\"ev\":\"copy\",\"batch\":1,\"kind\":\"h2d\",\"bytes\":64,\"stream\":0,\"start_ns\":0,\"end_ns\":5}\n"
        "{\"ev\":\"kernel\",\"batch\":1,\"name\":\"k\",\"stream\":0,\"start_ns\":5,\"end_ns\":95}\n"
        "{\"ev\":\"copy\",\"batch\":1,\"kind\":\"d2h\",\"bytes\":64,\"stream\":0,\"start_ns\":95,\"end_ns\":100}\n"
        "{\"ev\":\"token\",\"id\":\"d1\",\"index\":0,\"time_ns\":100}\n",
        device, 100 + 2 * L);
    for (unsigned i = 0; i < 2; i++) {
        unsigned s = 100 + i * L, b = 2 + i;
        n += (size_t)snprintf(buf + n, cap - n,
                              "{\"ev\":\"step\",\"batch\":%u,\"requests\":[\"d1\"],\"phases\":[\"decode\"],\"tokens\":[1],"
                              "\"start_ns\":%u,\"end_ns\":%u}\n"
                              "{\"ev\":\"copy\",\"batch\":%u,\"kind\":\"h2d\",\"bytes\":24,\"stream\":0,\"start_ns\":%u,"
                              "\"end_ns\":%u}\n",
                              b, s, s + L, b, s, s + 5);
        for (int j = 0; j < 3; j++)
            n += (size_t)snprintf(buf + n, cap - n,
                                  "{\"ev\":\"kernel\",\"batch\":%u,\"name\":\"k%d\",\"stream\":0,\"start_ns\":%u,"
                                  "\"end_ns\":%u}\n",
                                  b, j, s + k[j], s + k[j] + 20);
        n += (size_t)snprintf(buf + n, cap - n,
                              "{\"ev\":\"copy\",\"batch\":%u,\"kind\":\"d2h\",\"bytes\":4000,\"stream\":0,\"start_ns\":%u,"
                              "\"end_ns\":%u}\n"
                              "{\"ev\":\"token\",\"id\":\"d1\",\"index\":%u,\"time_ns\":%u}\n",
                              b, s + L - 10, s + L, i + 1, s + L);
    }
}

/* Eager: L = 300, kernels at +20, +70, +120. TPOT window [100, 700) over 2 tokens = 300 per token:
 * per token h2d 5, kernel 60, d2h 10, gap 300 - 75 = 225. n = 1, so shares of p95 are of 300: gap
 * 0.75, kernel 0.2, h2d 5/300, d2h 10/300; the decode steps are 75% gap (>= 50%: launch-bound).
 * Without the gap TPOT is 75: saving 225. */
static void eager(void)
{
    static const unsigned k[3] = {20, 70, 120};
    char buf[8192];
    trace(buf, sizeof buf, "cuda", 300, k);
    sp_report *r = analyze_text(buf);
    CHECK(r->generation != NULL);
    const sp_gen_table *tp = &r->generation->tpot_table;
    CHECK_EQ_U64(tp->value.p95_ns, 300);
    CHECK_NEAR(share_of(tp, "decode gap"), 0.75, 1e-12);
    CHECK_NEAR(share_of(tp, "decode kernel"), 0.2, 1e-12);
    CHECK_NEAR(share_of(tp, "decode h2d"), 5.0 / 300, 1e-12);
    CHECK_NEAR(share_of(tp, "decode d2h"), 10.0 / 300, 1e-12);
    const sp_verdict *v = &tp->verdict;
    printf("eager: %s\n", v->sentence ? v->sentence : "(none)");
    CHECK(v->stage && !strcmp(v->stage, "decode gap"));
    CHECK_EQ_U64(v->saving_p95_ns, 225);
    CHECK(v->sentence && strstr(v->sentence, "75% of p95 TPOT is device gap inside decode steps (decode gap, "
                                             "runtime; decode steps are 75% gap: launch-bound): capture decode in "
                                             "CUDA graphs"));
    sp_report_destroy(r);

    /* the same trace from a CPU run: no CUDA graphs in any fix */
    trace(buf, sizeof buf, "cpu", 300, k);
    r = analyze_text(buf);
    v = &r->generation->tpot_table.verdict;
    printf("cpu: %s\n", v->sentence ? v->sentence : "(none)");
    CHECK(v->stage && !strcmp(v->stage, "decode gap"));
    CHECK(v->sentence && !strstr(v->sentence, "CUDA graphs"));
    /* and no "launch-bound": a CPU step launches nothing (docs/generation.md) */
    CHECK(v->sentence && !strstr(v->sentence, "launch-bound"));
    sp_report_destroy(r);
}

/* Graphs: L = 100, kernels back to back at +10, +30, +50. Per token h2d 5, kernel 60, d2h 10, gap
 * 100 - 75 = 25 of TPOT 100: gap share 0.25 (down from 0.75), kernel 0.6 leads (useful work: no
 * padding), model group; no "launch-bound" (25% < 50%). */
static void graphs(void)
{
    static const unsigned k[3] = {10, 30, 50};
    char buf[8192];
    trace(buf, sizeof buf, "cuda", 100, k);
    sp_report *r = analyze_text(buf);
    const sp_gen_table *tp = &r->generation->tpot_table;
    CHECK_EQ_U64(tp->value.p95_ns, 100);
    CHECK_NEAR(share_of(tp, "decode gap"), 0.25, 1e-12);
    CHECK_NEAR(share_of(tp, "decode kernel"), 0.6, 1e-12);
    const sp_verdict *v = &tp->verdict;
    printf("graphs: %s\n", v->sentence ? v->sentence : "(none)");
    CHECK(v->stage && !strcmp(v->stage, "decode kernel"));
    CHECK(v->group == SP_GROUP_MODEL);
    CHECK(v->sentence && !strstr(v->sentence, "launch-bound"));
    sp_report_destroy(r);
}

int main(void)
{
    eager();
    graphs();
    return sp_test_done("test_gen_verdict_cuda");
}
