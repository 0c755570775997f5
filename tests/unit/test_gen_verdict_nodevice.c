/* The TTFT and TPOT verdicts on a trace with generation steps and no device activity (an OTLP export of
 * spans, a hand-written trace): DESIGN 3 makes each step window gap, but nothing shows the device idle
 * in it, so the verdicts follow the end-to-end verdict's rule (docs/analysis.md, "Fix texts";
 * docs/generation.md, "Verdicts"): the gap rows read "time inside ... steps with no device activity
 * recorded", their fix is to record the kernels, never CUDA graphs or syncs, and the model is neither
 * cleared nor given a "launch-bound" reading. Figures worked out by hand below. */
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

static double share_of(const sp_gen_table *t, const char *name)
{
    for (size_t i = 0; i < t->n_rows; i++)
        if (!strcmp(t->rows[i].name, name))
            return t->rows[i].share_p95;
    return -1;
}

/* One request n1: arrival 0, queue 0..500, a prefill step 500..700 (token 0 at 700), decode steps
 * 700..900 and 900..1100 (tokens 1 and 2 at their ends), done 1100; `extra` is appended (a kernel). */
static void trace(char *buf, size_t cap, const char *device, const char *extra)
{
    snprintf(buf, cap,
             "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"properties\":{\"device\":"
             "\"%s\"}}\n"
             "{\"ev\":\"request\",\"id\":\"n1\",\"arrival_ns\":0,\"done_ns\":1100}\n"
             "{\"ev\":\"stage\",\"id\":\"n1\",\"stage\":\"queue\",\"start_ns\":0,\"end_ns\":500}\n"
             "{\"ev\":\"step\",\"batch\":1,\"requests\":[\"n1\"],\"phases\":[\"prefill\"],\"tokens\":[8],"
             "\"start_ns\":500,\"end_ns\":700}\n"
             "{\"ev\":\"token\",\"id\":\"n1\",\"index\":0,\"time_ns\":700}\n"
             "{\"ev\":\"step\",\"batch\":2,\"requests\":[\"n1\"],\"phases\":[\"decode\"],\"tokens\":[1],"
             "\"start_ns\":700,\"end_ns\":900}\n"
             "{\"ev\":\"token\",\"id\":\"n1\",\"index\":1,\"time_ns\":900}\n"
             "{\"ev\":\"step\",\"batch\":3,\"requests\":[\"n1\"],\"phases\":[\"decode\"],\"tokens\":[1],"
             "\"start_ns\":900,\"end_ns\":1100}\n"
             "{\"ev\":\"token\",\"id\":\"n1\",\"index\":2,\"time_ns\":1100}\n%s",
             device, extra);
}

static const char *const LAUNCH_ADVICE[] = {"CUDA graphs", "launch-bound", "synchronisations", "overlap host work",
                                            "The model is not the bottleneck"};

static void no_advice_on_launches(const char *s)
{
    for (size_t i = 0; i < sizeof LAUNCH_ADVICE / sizeof LAUNCH_ADVICE[0]; i++)
        if (strstr(s, LAUNCH_ADVICE[i])) {
            fprintf(stderr, "says \"%s\": %s\n", LAUNCH_ADVICE[i], s);
            CHECK(0);
        }
}

/* TTFT = 700: queue 500 (5/7), prefill gap 200 (2/7, the step window, no kernel). n = 1, so these are
 * the shares of p95. queue leads (71%), prefill gap 29% is listed with the recording fix, and the model
 * clause says the compute is inside the prefill gap row. TPOT = (1100 - 700) / 2 = 200 per token, all
 * decode step windows: decode gap 100%, saving 200. */
static void gpu_trace(void)
{
    char buf[4096];
    trace(buf, sizeof buf, "cuda", "");
    sp_report *r = analyze_text(buf);
    CHECK(r->generation != NULL);
    const sp_gen_table *tt = &r->generation->ttft_table, *tp = &r->generation->tpot_table;
    CHECK_EQ_U64(tt->value.p95_ns, 700);
    CHECK_NEAR(share_of(tt, "queue"), 5.0 / 7, 1e-12);
    CHECK_NEAR(share_of(tt, "prefill gap"), 2.0 / 7, 1e-12);
    const sp_verdict *v = &tt->verdict;
    printf("ttft: %s\n", v->sentence ? v->sentence : "(none)");
    CHECK(v->stage && !strcmp(v->stage, "queue"));
    CHECK(v->sentence && strstr(v->sentence, " Next: prefill gap 29% (runtime: record the device's kernels (CUPTI, "
                                             "the PyTorch profiler) before acting on it: the trace has none, so this "
                                             "is the steps' whole time, the model's compute included)."));
    CHECK(v->sentence && strstr(v->sentence, " The model's compute is not measured (the trace records no device "
                                             "compute), so its time cannot be told apart from the steps (prefill "
                                             "gap) that hold it."));
    if (v->sentence)
        no_advice_on_launches(v->sentence);

    CHECK_EQ_U64(tp->value.p95_ns, 200);
    CHECK_NEAR(share_of(tp, "decode gap"), 1.0, 1e-12);
    v = &tp->verdict;
    printf("tpot: %s\n", v->sentence ? v->sentence : "(none)");
    CHECK(v->stage && !strcmp(v->stage, "decode gap"));
    CHECK(v->group == SP_GROUP_RUNTIME);
    CHECK_EQ_U64(v->saving_p95_ns, 200);
    CHECK(v->sentence && !strncmp(v->sentence, "100% of p95 TPOT is time inside decode steps with no device activity "
                                                "recorded (decode gap, runtime): record the device's kernels",
                                  strlen("100% of p95 TPOT is time inside decode steps with no device activity "
                                         "recorded (decode gap, runtime): record the device's kernels")));
    if (v->sentence)
        no_advice_on_launches(v->sentence);
    CHECK(v->n_ranking > 0 && v->ranking[0].fix && strstr(v->ranking[0].fix, "record the device's kernels"));
    sp_report_destroy(r);
}

/* The same trace from a CPU run: its compute is recorded as kernel spans, so that is the fix. */
static void cpu_trace(void)
{
    char buf[4096];
    trace(buf, sizeof buf, "cpu", "");
    sp_report *r = analyze_text(buf);
    const sp_verdict *v = &r->generation->tpot_table.verdict;
    printf("cpu: %s\n", v->sentence ? v->sentence : "(none)");
    CHECK(v->sentence && strstr(v->sentence, "(decode gap, runtime): record the model's compute as kernel spans "
                                             "before acting on it: the trace has none, so this is the steps' whole "
                                             "time, the model's compute included"));
    if (v->sentence)
        no_advice_on_launches(v->sentence);
    sp_report_destroy(r);
}

/* One kernel anywhere (10 ns in the prefill step) and the device was recorded: the decode steps, with
 * no kernel in them, were idle, 100% gap, and the TPOT verdict is the launch-bound reading again. */
static void one_kernel(void)
{
    char buf[4096];
    trace(buf, sizeof buf, "cuda",
          "{\"ev\":\"kernel\",\"batch\":1,\"name\":\"k\",\"stream\":0,\"start_ns\":600,\"end_ns\":610}\n");
    sp_report *r = analyze_text(buf);
    const sp_verdict *v = &r->generation->tpot_table.verdict;
    printf("one kernel: %s\n", v->sentence ? v->sentence : "(none)");
    CHECK(v->sentence && strstr(v->sentence, "100% of p95 TPOT is device gap inside decode steps (decode gap, "
                                             "runtime; decode steps are 100% gap: launch-bound): capture decode in "
                                             "CUDA graphs"));
    sp_report_destroy(r);
}

int main(void)
{
    gpu_trace();
    cpu_trace();
    one_kernel();
    return sp_test_done("test_gen_verdict_nodevice");
}
