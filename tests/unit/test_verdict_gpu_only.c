/* The verdict of traces without requests (docs/analysis.md section 6): a table of constructed traces,
 * each with the verdict worked out by hand from the rules (figures in the comments): a busy device,
 * starved inside the steps by host_wait and by kernel_wait, idle outside the steps, no step marks
 * (starved: hedged; busy: device-bound), a training loop's steps (in every file or some) and a CPU-only
 * run. Each case checks the stage and group, the words of the sentence, that it names no candidate
 * under 5% of the analysed time (and every one at or above it), and that the sentence agrees with the
 * JSON report: the same stage, group and sentence, and the winner's percentage recomputed from the JSON
 * figures (gpu.steps, gpu.busy_us). Last, a CPU run's request-trace verdict names no GPU and no CUDA
 * graphs in its fixes. */
#include <stdlib.h>
#include <string.h>

#include "ev_build.h"
#include "json_mini.h"
#include "testlib.h"

#define US 1000ull

static uint64_t g_corr;

/* A kernel of `dur` us at `at` us on stream 0, launched by a call starting at `launch` us (3 us). */
static void kernel(sp_events *ev, uint64_t at, uint64_t dur, uint64_t launch)
{
    uint64_t corr = ++g_corr;
    eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, at * US, (at + dur) * US, "k", 0, 0, corr, 0, 0);
    eb_launch(ev, corr, launch * US, (launch + 3) * US, 0);
}

/* 4 steps [k ms, k ms + 950 us), one kernel [k ms + 10 us, k ms + 960 us) launched at k ms + 5 us.
 * Windows [k ms, k ms + 960 us) (the kernel outlasts the step), 3840 us; span [10, 3960] us; analysed
 * [0, 3960] = 3960 us. Busy 3800 (96%; 3800 / 3840 = 99% inside); idle inside 40 (1%), outside 120
 * (3%): kernel / model, and neither idle share is named. */
static void busy_steps(sp_events *ev)
{
    for (uint64_t k = 0; k < 4; k++) {
        eb_mark(ev, SP_MARK_PROFILER_STEP, "ProfilerStep#1", k * 1000 * US, (k * 1000 + 950) * US);
        kernel(ev, k * 1000 + 10, 950, k * 1000 + 5);
    }
}

/* 2 steps [0, 1000) and [1000, 2000) us; in each two 100 us kernels at S+100 and S+600, launched at
 * S+90 and S+550 (after the first ended at S+200). Windows [0, 2000]; span [100, 1700]; analysed 2000.
 * Busy 400 (20%), idle inside 1600 (80%), outside 0: gap / runtime. Stream gaps (all host_wait: each
 * launch starts after the previous end): 200..600, 700..1100, 1200..1600 = 1200 us; the other 400 us
 * lie before the first or after the last kernel: host_wait is 1200 / 1600 = 75% of the idle inside. */
static void host_wait_steps(sp_events *ev)
{
    for (uint64_t k = 0; k < 2; k++) {
        uint64_t s = k * 1000;
        eb_mark(ev, SP_MARK_PROFILER_STEP, "ProfilerStep#2", s * US, (s + 1000) * US);
        kernel(ev, s + 100, 100, s + 90);
        kernel(ev, s + 600, 100, s + 550);
    }
}

/* 1 record_function range [0, 1000) us with 40 kernels of 20 us at 10 + 26 i, all launched early (at i
 * us, before the previous kernel ends): gaps of 6 us, kernel_wait. Last end 10 + 39*26 + 20 = 1044, so
 * the window is [0, 1044]: analysed 1044, busy 800 (77%), idle inside 244 (23%): gap / runtime;
 * kernel_wait 39 * 6 = 234 of 234 + 10 (before the first kernel) = 96%. */
static void kernel_wait_steps(sp_events *ev)
{
    eb_mark(ev, SP_MARK_USER_RANGE, "forward", 0, 1000 * US);
    for (uint64_t i = 0; i < 40; i++)
        kernel(ev, 10 + 26 * i, 20, i);
}

/* 3 NVTX steps [k*10 ms, k*10 ms + 1 ms), one kernel [S + 50 us, S + 1000 us) launched at S + 10 us.
 * Windows 3000 us; span [50, 21000] us; analysed [0, 21000] = 21000. Busy 2850 (14%), idle inside 150
 * (1%), idle outside 18000 (86%): no_batch / configuration, busy 95% inside the steps. */
static void idle_outside_steps(sp_events *ev)
{
    for (uint64_t k = 0; k < 3; k++) {
        uint64_t s = k * 10000;
        eb_mark(ev, SP_MARK_NVTX, "step", s * US, (s + 1000) * US);
        kernel(ev, s + 50, 950, s + 10);
    }
}

/* No marks: kernels [0,100) and [500,600) us, the second launched at 450 (after the first ended):
 * span 600, busy 200 (33%): no stage, group none, hedged; host_wait 400 us is all the stream idle. */
static void starved_no_marks(sp_events *ev)
{
    kernel(ev, 0, 100, 0);
    kernel(ev, 500, 100, 450);
}

/* No marks: kernels [0,400) and [410,900) us: span 900, busy 890 (99%): kernel / model. */
static void busy_no_marks(sp_events *ev)
{
    kernel(ev, 0, 400, 0);
    kernel(ev, 410, 490, 1);
}

/* host_wait_steps recorded on the CPU (trace property device = cpu): the same verdict, in words of
 * the CPU. */
static void cpu_steps(sp_events *ev)
{
    host_wait_steps(ev);
    eb_check(sp_ev_set_prop(ev, 0, "device", 6, "cpu", 3), "set_prop");
}

/* The same traces from a training loop (docs/analysis.md section 4, "Steps": the Kineto importer counts
 * autograd's backward and the optimizer's step ranges in the file, sp_ev_file.training_ranges): the
 * figures are the same, the steps are training steps. */
static void host_wait_training(sp_events *ev)
{
    host_wait_steps(ev);
    ev->files[0].training_ranges = 3;
}

static void starved_no_marks_training(sp_events *ev)
{
    starved_no_marks(ev);
    ev->files[0].training_ranges = 1;
}

/* Two files, only the first shows training: neither forward passes nor training steps, "steps". */
static void host_wait_some_training(sp_events *ev)
{
    host_wait_training(ev);
    eb_file(ev, "inference");
}

typedef struct vcase {
    const char *name;
    void (*build)(sp_events *ev);
    const char *stage;        /* NULL: none */
    sp_verdict_group group;
    const char *words;        /* must be in the sentence */
    const char *noun;         /* "GPU" or "CPU" in the JSON gpu.device_kind / the sentence */
} vcase;

static const vcase g_cases[] = {
    {"busy device", busy_steps, "kernel", SP_GROUP_MODEL,
     "is busy 96% of the 3.96 ms analysed (4 ProfilerStep ranges mark the steps; busy 99% inside them)", "GPU"},
    {"starved, host_wait", host_wait_steps, "gap", SP_GROUP_RUNTIME,
     "The device is starved inside its forward passes: it is idle 80% of the 2.00 ms analysed inside the steps (2 "
     "ProfilerStep ranges), mostly host_wait (75% of",
     "GPU"},
    {"starved, kernel_wait", kernel_wait_steps, "gap", SP_GROUP_RUNTIME,
     "(1 record_function range), mostly kernel_wait (96% of", "GPU"},
    {"idle outside steps", idle_outside_steps, "no_batch", SP_GROUP_CONFIGURATION,
     "waits for work nobody sent: it is idle 86% of the 21.00 ms analysed outside the steps (3 NVTX ranges), "
     "and busy 95% inside them",
     "GPU"},
    {"no marks, starved", starved_no_marks, NULL, SP_GROUP_NONE,
     "idle 67% of the 600.0 us GPU span; most stream idle time is host_wait (400.0 us, 100% of it). The trace "
     "cannot tell missing load from slow launches: mark forward passes with torch.profiler's schedule",
     "GPU"},
    {"starved, training", host_wait_training, "gap", SP_GROUP_RUNTIME,
     "The device is starved inside its training steps: it is idle 80% of the 2.00 ms analysed inside the steps "
     "(2 ProfilerStep ranges), mostly host_wait (75% of",
     "GPU"},
    {"starved, some files training", host_wait_some_training, "gap", SP_GROUP_RUNTIME,
     "The device is starved inside its steps: it is idle 80% of the 2.00 ms analysed inside the steps", "GPU"},
    {"no marks, starved, training", starved_no_marks_training, NULL, SP_GROUP_NONE,
     "The trace cannot tell missing load from slow launches: mark training steps with torch.profiler's schedule "
     "(ProfilerStep), record_function or NVTX ranges.",
     "GPU"},
    {"no marks, busy", busy_no_marks, "kernel", SP_GROUP_MODEL, "cover 99% of the 900.0 us GPU span", "GPU"},
    {"CPU-only", cpu_steps, "gap", SP_GROUP_RUNTIME, "The CPU is starved inside its forward passes", "CPU"},
};

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

static double num(const jv *root, const char *path)
{
    const jv *v = jv_path(root, path);
    CHECK(v && v->type == JV_NUM);
    return v && v->type == JV_NUM ? v->num : NAN;
}

static void pct(char *buf, size_t n, double f)
{
    snprintf(buf, n, "%.0f%%", f * 100.0);
}

/* A candidate the sentence names only at or above 5%, as "<phrase> X%": present iff share >= 5%, with
 * the share recomputed from the JSON. */
static void check_mention(const char *sentence, const char *phrase, double share, const char *cname)
{
    const char *at = strstr(sentence, phrase);
    if ((at != NULL) != (share >= 0.05)) {
        fprintf(stderr, "  %s: \"%s\" %s, share %.4f\n", cname, phrase, at ? "named" : "not named", share);
        CHECK(0);
        return;
    }
    if (at) {
        char want[32];
        pct(want, sizeof want, share);
        CHECK(strncmp(at + strlen(phrase) + 1, want, strlen(want)) == 0);
    }
}

static void run(const vcase *c)
{
    int before = sp_test_failures;
    g_corr = 0;
    sp_events *ev = eb_new();
    c->build(ev);
    sp_report *r = eb_analyze(ev, NULL);
    const sp_verdict *v = &r->verdict;
    CHECK(c->stage ? v->stage && !strcmp(v->stage, c->stage) : v->stage == NULL);
    CHECK_EQ_U64(v->group, c->group);
    CHECK(v->sentence && strstr(v->sentence, c->words));
    char *text = render(r, 0), *json = render(r, 1);
    /* a CPU run never speaks of a GPU, in any case of the letters */
    if (!strcmp(c->noun, "CPU"))
        CHECK(text && !strcasestr(text, "gpu") && strstr(text, "device (CPU)"));
    jv root;
    const char *why;
    size_t at;
    CHECK(json && jv_parse(json, strlen(json), &root, &why, &at) == 0);
    const jv *js = jv_path(&root, "verdict.stage"), *jg = jv_path(&root, "verdict.group"),
             *jsent = jv_path(&root, "verdict.sentence"), *jk = jv_path(&root, "gpu.device_kind");
    CHECK(js && (c->stage ? js->type == JV_STR && !strcmp(js->str, c->stage) : js->type == JV_NULL));
    CHECK(jg && jg->type == JV_STR && !strcmp(jg->str, sp_verdict_group_str(c->group)));
    CHECK(jsent && jsent->type == JV_STR && !strcmp(jsent->str, v->sentence));
    CHECK(jk && jk->type == JV_STR && !strcmp(jk->str, strcmp(c->noun, "CPU") ? "unknown" : "cpu"));
    const jv *count = jv_path(&root, "gpu.steps.count");
    char want[32];
    if (count && count->num > 0) {
        double an = num(&root, "gpu.steps.analysed_us");
        double sh_busy = (num(&root, "gpu.steps.busy_inside_us") + num(&root, "gpu.steps.busy_outside_us")) / an;
        double sh_in = num(&root, "gpu.steps.idle_inside_us") / an;
        double sh_out = num(&root, "gpu.steps.idle_outside_us") / an;
        CHECK_NEAR(sh_busy + sh_in + sh_out, 1.0, 1e-9);
        double win = !strcmp(c->stage, "kernel") ? sh_busy : !strcmp(c->stage, "gap") ? sh_in : sh_out;
        pct(want, sizeof want, win);
        CHECK(strstr(v->sentence, want) != NULL);
        if (strcmp(c->stage, "kernel"))
            check_mention(v->sentence, "Kernels and copies cover", sh_busy, c->name);
        if (strcmp(c->stage, "gap"))
            check_mention(v->sentence, "Idle inside the steps:", sh_in, c->name);
        if (strcmp(c->stage, "no_batch"))
            check_mention(v->sentence, "Idle outside the steps:", sh_out, c->name);
    } else {
        double util = num(&root, "gpu.busy_us") / num(&root, "gpu.span_us");
        pct(want, sizeof want, c->stage ? util : 1.0 - util);
        CHECK(strstr(v->sentence, want) != NULL);
        /* without marks the sentence never claims anything about steps */
        CHECK(!strstr(v->sentence, "steps:") && !strstr(v->sentence, "inside the steps"));
    }
    if (sp_test_failures != before)
        fprintf(stderr, "case \"%s\": %s\n", c->name, v->sentence ? v->sentence : "(no sentence)");
    jv_free(&root);
    free(text);
    free(json);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* A request trace of a CPU run: the ranked verdict's fixes (docs/analysis.md section 6) name no GPU.
 * 20 requests [i ms, i ms + 1 ms), each alone in a batch over its whole life; in `kernel_led` a kernel
 * covers the batch (useful kernel 100% of p95: the model is recommended, "a faster GPU/CPU"), else
 * the trace records no kernel at all (gap 100%, but the device's work is unrecorded: no "capture CUDA
 * graphs" on either device). */
static void request_wording(int kernel_led, int cpu)
{
    sp_events *ev = eb_new();
    for (uint64_t i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%llu", (unsigned long long)i);
        uint32_t q = eb_req(ev, id, i * 1000 * US, (i * 1000 + 1000) * US);
        uint32_t b = eb_batch(ev, (int64_t)i, i * 1000 * US, (i * 1000 + 1000) * US, -1, -1, &q, 1);
        if (kernel_led)
            eb_act(ev, SP_ACT_KERNEL, b, i * 1000 * US, (i * 1000 + 1000) * US);
    }
    if (cpu)
        eb_check(sp_ev_set_prop(ev, 0, "device", 6, "cpu", 3), "set_prop");
    sp_report *r = eb_analyze(ev, NULL);
    const char *sent = r->verdict.sentence;
    CHECK(r->verdict.stage && !strcmp(r->verdict.stage, kernel_led ? "kernel" : "gap"));
    if (kernel_led) {
        CHECK(sent && (strstr(sent, "GPU") != NULL || strstr(sent, "CUDA") != NULL) == !cpu);
        CHECK(sent && strstr(sent, cpu ? "a faster CPU" : "a faster GPU"));
    } else {
        /* no kernel anywhere: nothing shows the device idle in the batch windows (docs/analysis.md
         * section 6, the gap rule), so no CUDA-graph advice on either device; what records the
         * compute is named for each */
        CHECK(sent && !strstr(sent, "CUDA"));
        CHECK(sent && strstr(sent, cpu ? "record the model's compute as kernel spans"
                                       : "record the device's kernels (CUPTI, the PyTorch profiler)"));
    }
    char *text = render(r, 0);
    if (cpu)
        CHECK(text && !strcasestr(text, "gpu") && !strstr(text, "CUDA"));
    if (sp_test_failures)
        fprintf(stderr, "request wording (kernel %d, cpu %d): %s\n", kernel_led, cpu, sent ? sent : "-");
    free(text);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

int main(void)
{
    for (size_t i = 0; i < sizeof g_cases / sizeof g_cases[0]; i++)
        run(&g_cases[i]);
    for (int k = 0; k < 2; k++)
        for (int cpu = 0; cpu < 2; cpu++)
            request_wording(k, cpu);
    return sp_test_done("test_verdict_gpu_only");
}
