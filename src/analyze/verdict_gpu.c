/* The verdict of a trace without requests (docs/analysis.md section 6, "Without requests"), e.g. a
 * plain torch.profiler trace. An idle device either waits for work nobody sent or starves inside its
 * forward passes (training steps, in a trace that shows training); the step marks (ProfilerStep#N,
 * record_function, NVTX) tell the two apart. Without them a starved device gets a hedged sentence that
 * says how to mark the steps. The sentence only names candidates (busy, idle inside, idle outside the
 * steps) at or above 5% of the analysed time. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/format_int.h"
#include "common/util_int.h"

/* Below this share of the analysed time a candidate is not named in the sentence (DESIGN 8). */
#define GPU_MENTION_SHARE 0.05

static double frac(uint64_t part, uint64_t whole)
{
    return whole ? (double)part / (double)whole : 0.0;
}

/* The largest idle category (HTA's: host_wait, kernel_wait, other), its time and why it happens. */
typedef struct idle_cat {
    const char *name, *why;
    uint64_t ns, total;
} idle_cat;

static idle_cat largest_cat(uint64_t hw, uint64_t kw, uint64_t ot, int cpu)
{
    idle_cat c = {NULL, NULL, 0, hw + kw + ot};
    if (hw >= kw && hw >= ot && hw > 0) {
        c.name = "host_wait";
        c.why = "the host does not issue work fast enough (CPU-bound launches or data preparation)";
        c.ns = hw;
    } else if (kw >= ot && kw > 0) {
        c.name = "kernel_wait";
        c.why = cpu ? "overhead between short back-to-back kernels; fuse kernels"
                    : "launch overhead between short back-to-back kernels; fuse kernels or capture CUDA graphs";
        c.ns = kw;
    } else if (ot > 0) {
        c.name = "other";
        c.why = "long pauses between kernels (synchronisation, data loading, other host work)";
        c.ns = ot;
    }
    return c;
}

/* Appends to the sentence s (n bytes of room, cut where it is full). */
static void add(char *s, size_t n, const char *fmt, ...) SP_PRINTF(3, 4);
static void add(char *s, size_t n, const char *fmt, ...)
{
    size_t len = strlen(s);
    if (len + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s + len, n - len, fmt, ap);
    va_end(ap);
}

/* Appends " <What> is X%." for a secondary candidate at or above GPU_MENTION_SHARE. */
static void mention(char *s, size_t n, const char *what, double share)
{
    if (share < GPU_MENTION_SHARE)
        return;
    char p[16];
    sp_ana_fmt_pct(p, sizeof p, share);
    add(s, n, " %s %s.", what, p);
}

/* What the steps are (docs/analysis.md section 4, "Steps"): "training steps" when every file of the
 * trace shows training (sp_ev_file.training_ranges: autograd's backward, optimizer steps), "steps" when
 * only some do, else "forward passes" (an inference trace, and any trace that does not say). */
static const char *steps_noun(const sp_ana *a)
{
    size_t training = 0;
    for (size_t f = 0; f < a->ev->n_files; f++)
        training += a->ev->files[f].training_ranges > 0;
    return !training ? "forward passes" : training == a->ev->n_files ? "training steps" : "steps";
}

/* No step marks: a busy device is device-bound; an idle one cannot be judged, so the sentence hedges
 * and says how to mark the steps. */
static void without_marks(sp_ana *a, char *s, size_t n, const char *noun)
{
    const sp_gpu_summary *g = &a->r->gpu;
    sp_verdict *v = &a->r->verdict;
    char p1[16], p2[16], d1[32], d2[32];
    double util = g->span_ns ? frac(g->busy_ns, g->span_ns) : 1.0;
    sp_ana_fmt_dur(d1, sizeof d1, g->span_ns);
    if (util >= SP_ANA_GPU_BUSY_FRACTION) {
        v->stage = "kernel";
        v->group = SP_GROUP_MODEL;
        sp_ana_fmt_pct(p1, sizeof p1, util);
        sp_ana_fmt_pct(p2, sizeof p2, frac(g->compute_ns, g->span_ns));
        snprintf(s, n,
                 "The %s is busy: kernels and copies cover %s of the %s %s span (%s computation): its kernels "
                 "are the bottleneck; faster kernels (fusion, lower precision) or a smaller model would help.",
                 strcmp(noun, "GPU") ? noun : "device", p1, d1, noun, p2);
        return;
    }
    uint64_t hw = 0, kw = 0, ot = 0;
    for (size_t k = 0; k < g->n_streams; k++) {
        hw += g->idle_breakdown[k].host_wait_ns;
        kw += g->idle_breakdown[k].kernel_wait_ns;
        ot += g->idle_breakdown[k].other_ns;
    }
    idle_cat c = largest_cat(hw, kw, ot, !strcmp(noun, "CPU"));
    sp_ana_fmt_pct(p1, sizeof p1, 1.0 - util);
    snprintf(s, n, "The %s is idle %s of the %s %s span", strcmp(noun, "GPU") ? noun : "device", p1, d1, noun);
    if (c.name) {
        sp_ana_fmt_dur(d2, sizeof d2, c.ns);
        sp_ana_fmt_pct(p2, sizeof p2, frac(c.ns, c.total));
        add(s, n, "; most stream idle time is %s (%s, %s of it)", c.name, d2, p2);
    }
    add(s, n,
        ". The trace cannot tell missing load from slow launches: mark %s with torch.profiler's schedule "
        "(ProfilerStep), record_function or NVTX ranges.", steps_noun(a));
}

/* The steps' analysed time is the device span together with the step windows, so steps that begin
 * long before the device's first work (a record_function range around set-up and warm-up, the
 * outermost one on its thread) analyse more time than the report's window, the device span. From
 * GPU_MENTION_SHARE of the analysed time on, the sentence says how much lies outside the span and,
 * for one step, which range it is (docs/analysis.md section 6, "Without requests"). */
static void outside_span(const sp_ana *a, char *s, size_t n, const char *dev)
{
    const sp_gpu_summary *g = &a->r->gpu;
    const sp_step_summary *st = &g->steps;
    if (st->analysed_ns <= g->span_ns || frac(st->analysed_ns - g->span_ns, st->analysed_ns) < GPU_MENTION_SHARE)
        return;
    char o[32], an[32], sp[32];
    sp_ana_fmt_dur(o, sizeof o, st->analysed_ns - g->span_ns);
    sp_ana_fmt_dur(an, sizeof an, st->analysed_ns);
    sp_fmt_dur(sp, sizeof sp, (double)g->span_ns); /* as the report's header writes its window */
    add(s, n, " The steps reach outside the %s's %s span%s: %s of the %s analysed is before its first or after its "
        "last work", dev, sp, a->r->cost.window_ns == g->span_ns ? " (the report's window)" : "", o, an);
    const sp_events *ev = a->ev;
    if (st->count == 1 && ev->n_marks == 1) {
        const char *name = sp_str_get(&ev->strings, ev->marks[0].name);
        add(s, n, "; the step analysed is the %s range \"%.80s%s\"%s", sp_step_source_str(st->source),
            name ? name : "?", name && strlen(name) > 80 ? "..." : "",
            st->source == SP_STEPS_RECORD_FUNCTION ? ", the outermost on its thread" : "");
    }
    add(s, n, ".");
}

/* With step marks: busy -> device-bound (model); idle mostly inside the steps -> starved forward
 * passes or training steps (runtime, by HTA's idle category); idle mostly outside -> no work sent
 * (configuration). */
static void with_marks(sp_ana *a, char *s, size_t n, const char *noun)
{
    const sp_gpu_summary *g = &a->r->gpu;
    const sp_step_summary *st = &g->steps;
    sp_verdict *v = &a->r->verdict;
    uint64_t busy = st->busy_inside_ns + st->busy_outside_ns;
    double sh_busy = frac(busy, st->analysed_ns), sh_in = frac(st->idle_inside_ns, st->analysed_ns),
           sh_out = frac(st->idle_outside_ns, st->analysed_ns), util_in = frac(st->busy_inside_ns, st->window_ns);
    char marks[96], pw[16], pi[16], d[32], dc[32], pc[16];
    snprintf(marks, sizeof marks, "%llu %s %s", (unsigned long long)st->count, sp_step_source_str(st->source),
             st->count == 1 ? "range" : "ranges");
    sp_ana_fmt_dur(d, sizeof d, st->analysed_ns);
    sp_ana_fmt_pct(pi, sizeof pi, util_in);
    const char *dev = strcmp(noun, "GPU") ? noun : "device";
    if (sh_busy >= SP_ANA_GPU_BUSY_FRACTION) {
        v->stage = "kernel";
        v->group = SP_GROUP_MODEL;
        sp_ana_fmt_pct(pw, sizeof pw, sh_busy);
        snprintf(s, n,
                 "The %s is busy %s of the %s analysed (%s mark the steps; busy %s inside them): its kernels are "
                 "the bottleneck; faster kernels (fusion, lower precision) or a smaller model would help.",
                 dev, pw, d, marks, pi);
        mention(s, n, "Idle inside the steps:", sh_in);
        mention(s, n, "Idle outside the steps:", sh_out);
    } else if (sh_out > sh_in) {
        v->stage = "no_batch";
        v->group = SP_GROUP_CONFIGURATION;
        sp_ana_fmt_pct(pw, sizeof pw, sh_out);
        snprintf(s, n,
                 "The %s waits for work nobody sent: it is idle %s of the %s analysed outside the steps (%s), "
                 "and busy %s inside them: send it more work (fewer replicas, larger batches, more traffic per "
                 "device) or feed it faster (data loading)%s",
                 dev, pw, d, marks, pi,
                 util_in >= SP_ANA_GPU_BUSY_FRACTION ? "; its kernels and launches are not the limit." : ".");
        mention(s, n, "Idle inside the steps:", sh_in);
        mention(s, n, "Kernels and copies cover", sh_busy);
    } else {
        v->stage = "gap";
        v->group = SP_GROUP_RUNTIME;
        sp_ana_fmt_pct(pw, sizeof pw, sh_in);
        /* stream gaps clipped to the steps, by HTA's category; idle inside the steps that no stream gap
         * covers lies before the first or after the last device work of a step (host work there) */
        uint64_t gaps = st->host_wait_inside_ns + st->kernel_wait_inside_ns + st->other_inside_ns;
        uint64_t edges = st->idle_inside_ns > gaps ? st->idle_inside_ns - gaps : 0;
        idle_cat c = largest_cat(st->host_wait_inside_ns, st->kernel_wait_inside_ns, st->other_inside_ns,
                                 !strcmp(noun, "CPU"));
        c.total += edges;
        int len = snprintf(s, n, "The %s is starved inside its %s: it is idle %s of the %s analysed inside the "
                           "steps (%s)", dev, steps_noun(a), pw, d, marks);
        if (len > 0 && (size_t)len < n) {
            if (edges >= c.ns) {
                sp_ana_fmt_dur(dc, sizeof dc, edges);
                sp_ana_fmt_pct(pc, sizeof pc, frac(edges, c.total));
                snprintf(s + len, n - (size_t)len, ", mostly before the first or after the last device work of "
                         "a step (%s, %s of the idle time inside them): host work in the step (input "
                         "preparation, output handling) runs while the %s waits.", dc, pc, dev);
            } else {
                /* stream gaps of parallel streams overlap in time, so only the share is meaningful */
                sp_ana_fmt_pct(pc, sizeof pc, frac(c.ns, c.total));
                snprintf(s + len, n - (size_t)len, ", mostly %s (%s of the stream idle time inside them): %s.",
                         c.name, pc, c.why);
            }
        }
        mention(s, n, "Idle outside the steps:", sh_out);
        mention(s, n, "Kernels and copies cover", sh_busy);
    }
    outside_span(a, s, n, dev);
}

/* Whether any client record is a streamed generation's (a first token or a token count): the load
 * generator then printed TTFT, TPOT and ITL too. */
static bool has_stream_clients(const sp_ana *a)
{
    for (size_t c = 0; c < a->ev->n_clients; c++)
        if (a->ev->clients[c].first_token_ns != SP_TIME_NONE || a->ev->clients[c].output_tokens >= 0)
            return true;
    return false;
}

sp_status sp_ana_verdict_gpu(sp_ana *a)
{
    const sp_gpu_summary *g = &a->r->gpu;
    sp_verdict *v = &a->r->verdict;
    char s[1024];
    v->stage = NULL;
    v->group = SP_GROUP_NONE;
    const char *noun = sp_device_kind_noun(g->device_kind);
    const sp_report *r = a->r;
    uint64_t clients = r->client_records_unjoined + r->client_records_failed + r->client_records_failed_streams +
                       r->client_records_unsent + r->client_records_unfinished;
    if (!g->present && clients)
        /* a load generator's trace alone (servprof load --trace, --stream): its records are the
         * client's side of requests the server's trace holds; say what to load with it (before: only
         * "nothing to analyse", and every record "with no matching request") */
        snprintf(s, sizeof s,
                 "No requests and no device activity in the trace: nothing to analyse. Its %" PRIu64 " client "
                 "record%s (a load generator's, e.g. servprof load --trace) measure%s the client's side only: "
                 "load the server's trace with %s (servprof analyze SERVER_TRACE CLIENT_TRACE); the load "
                 "generator's own summary gives the client's latency%s.",
                 clients, clients == 1 ? "" : "s", clients == 1 ? "s" : "", clients == 1 ? "it" : "them",
                 r->client_records_failed_streams || has_stream_clients(a) ? ", TTFT, TPOT and ITL" : "");
    else if (!g->present)
        snprintf(s, sizeof s, "No requests and no device activity in the trace: nothing to analyse.");
    else if (g->steps.count && g->steps.analysed_ns)
        with_marks(a, s, sizeof s, noun);
    else
        without_marks(a, s, sizeof s, noun);
    v->sentence = sp_report_strdup(a->r, s);
    return v->sentence ? SP_OK : SP_ERR_NOMEM;
}
