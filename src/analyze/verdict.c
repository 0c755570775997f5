/* The verdict (DESIGN section 8): the candidate with the largest share of p95 (kernel split into
 * padding and useful work), its group of fix, the p95 saving if its time were removed, and a sentence
 * with the figures. A trace without requests gets a GPU verdict (verdict_gpu.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

const char *sp_verdict_group_str(sp_verdict_group g)
{
    switch (g) {
    case SP_GROUP_NONE: return "none";
    case SP_GROUP_CONFIGURATION: return "configuration";
    case SP_GROUP_RUNTIME: return "runtime";
    case SP_GROUP_MODEL: return "model";
    case SP_GROUP_INSTRUMENTATION: return "instrumentation";
    }
    return "unknown";
}

static void fmt_pct(char *buf, size_t n, double f)
{
    snprintf(buf, n, "%.0f%%", f * 100.0);
}

static void fmt_dur(char *buf, size_t n, uint64_t ns)
{
    if (ns >= 10000000000ull)
        snprintf(buf, n, "%.1f s", (double)ns / 1e9);
    else if (ns >= 1000000ull)
        snprintf(buf, n, "%.2f ms", (double)ns / 1e6);
    else if (ns >= 1000ull)
        snprintf(buf, n, "%.1f us", (double)ns / 1e3);
    else
        snprintf(buf, n, "%llu ns", (unsigned long long)ns);
}

/* Candidate kinds beyond plain stage rows. */
enum { CAND_ROW = 0, CAND_PADDING, CAND_USEFUL_KERNEL };

typedef struct cand {
    int kind;
    int row;
    const char *name;
    sp_verdict_group group;
    double share;
} cand;

static uint64_t cand_time(const sp_ana *a, const cand *c, size_t i)
{
    size_t ns = a->n_stages;
    uint64_t pad = (uint64_t)llround(a->padding[i]);
    switch (c->kind) {
    case CAND_PADDING:
        return pad;
    case CAND_USEFUL_KERNEL: {
        uint64_t k = a->times[i * ns + (size_t)a->st_kernel];
        return k > pad ? k - pad : 0;
    }
    default:
        return a->times[i * ns + (size_t)c->row];
    }
}

/* p95 of end-to-end latency minus p95 of latency with the candidate's time removed from every
 * request (the "p95 saving"). */
static sp_status p95_saving(const sp_ana *a, const cand *c, uint64_t *out)
{
    size_t n = a->n_reqs;
    uint64_t *v = malloc(n * sizeof *v);
    if (!v)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = cand_time(a, c, i);
        v[i] = a->life[i] > t ? a->life[i] - t : 0;
    }
    sp_status st = sp_ana_sort_u64(v, n, NULL);
    if (st) {
        free(v);
        return st;
    }
    uint64_t reduced = v[sp_ana_rank(n, 95) - 1];
    for (size_t i = 0; i < n; i++)
        v[i] = a->life[i];
    st = sp_ana_sort_u64(v, n, NULL);
    uint64_t base = v[sp_ana_rank(n, 95) - 1];
    free(v);
    if (st)
        return st;
    *out = base > reduced ? base - reduced : 0;
    return SP_OK;
}

/* A trace without requests: verdict_gpu.c (busy, starved inside the steps, or no work sent). */
static sp_status gpu_verdict(sp_ana *a)
{
    return sp_ana_verdict_gpu(a);
}

/* The queue candidate behind a device that always has a batch in flight: capacity is the fix, and
 * kernel time per request says nothing about whether the model is the limit. */
static int queue_saturated(const sp_ana *a, const cand *c)
{
    return c->kind == CAND_ROW && c->row == a->st_queue && a->r->cost.window_ns > 0 &&
           1.0 - a->r->cost.by_state_share[SP_COST_NO_BATCH] >= SP_ANA_SATURATED_IN_FLIGHT;
}

static const char *advice_for(const sp_ana *a, const cand *c, char *buf, size_t n)
{
    if (c->kind == CAND_PADDING) {
        char w[32];
        fmt_pct(w, sizeof w, a->r->padding.waste_fraction);
        snprintf(buf, n,
                 "kernel work on padding (%s of padded tokens are padding): batch requests of similar "
                 "length (bucketing) or use variable-length batching", w);
        return buf;
    }
    if (c->row == a->st_queue) {
        double in_flight = 1.0 - a->r->cost.by_state_share[SP_COST_NO_BATCH];
        if (queue_saturated(a, c)) {
            char f[32];
            fmt_pct(f, sizeof f, in_flight);
            snprintf(buf, n,
                     "pre-batch queuing behind a saturated device (a batch is in flight %s of the "
                     "time): add replicas or capacity, or raise max-batch if batches are full; a shorter "
                     "batch window will not help", f);
            return buf;
        }
        return "pre-batch queuing: shorten the batch window (max-queue-delay) or raise traffic per replica";
    }
    if (c->row == a->st_gap)
        return "device gap inside batch windows (launch overhead, host waits, syncs): capture CUDA graphs, "
               "overlap host work with the device and remove synchronisations";
    if (c->row == a->st_h2d)
        return "host-to-device copies: pin host memory, overlap copies with compute or send less data";
    if (c->row == a->st_d2h)
        return "device-to-host copies: pin host memory, overlap copies with compute or return less data";
    if (c->row == a->st_pre)
        return "preprocessing (parsing, tokenisation): move it off the request path, parallelise it or "
               "use a faster tokenizer";
    if (c->row == a->st_post)
        return "postprocessing (de-tokenisation, serialisation): parallelise it or make responses cheaper "
               "to build";
    if (c->row == a->st_network)
        return "network and client-side time outside the server: put clients closer, reuse connections "
               "or shrink payloads";
    snprintf(buf, n, "the \"%s\" stage: optimise, parallelise or move it off the request path", c->name);
    return buf;
}

sp_status sp_ana_verdict(sp_ana *a)
{
    if (!a->n_reqs)
        return gpu_verdict(a);
    sp_report *r = a->r;
    sp_verdict *v = &r->verdict;
    cand cs[SP_ANA_MAX_NAMED_STAGES + 16];
    memset(cs, 0, sizeof cs);
    size_t nc = 0;
    double kernel_share = r->stages[a->st_kernel].share_p95;
    double pad_share = r->padding.share_p95;
    double useful_share = kernel_share - pad_share;
    if (useful_share < 0)
        useful_share = 0;
    for (size_t s = 0; s < a->n_stages; s++) {
        int row = (int)s;
        if (row == a->st_kernel) {
            cs[nc++] = (cand){CAND_USEFUL_KERNEL, row, "kernel", SP_GROUP_MODEL, useful_share};
            cs[nc++] = (cand){CAND_PADDING, row, "padding", SP_GROUP_CONFIGURATION, pad_share};
            continue;
        }
        sp_verdict_group g = SP_GROUP_RUNTIME;
        if (row == a->st_queue)
            g = SP_GROUP_CONFIGURATION;
        else if (row == a->st_other)
            g = SP_GROUP_INSTRUMENTATION;
        cs[nc++] = (cand){CAND_ROW, row, r->stages[s].name, g, r->stages[s].share_p95};
    }
    size_t best = 0;
    for (size_t k = 1; k < nc; k++)
        if (cs[k].share > cs[best].share)
            best = k;
    const cand *w = &cs[best];
    v->stage = w->kind == CAND_PADDING ? "padding" : w->kind == CAND_USEFUL_KERNEL ? "kernel" : w->name;
    v->group = w->group;
    v->share_p95 = w->share;
    sp_status st = p95_saving(a, w, &v->saving_p95_ns);
    if (st)
        return st;
    double gap_share = r->stages[a->st_gap].share_p95;
    /* DESIGN section 8 thresholds, docs/analysis.md */
    v->recommend_model = useful_share >= SP_ANA_MODEL_MIN_KERNEL_SHARE &&
                         gap_share < SP_ANA_MODEL_MAX_GAP_SHARE && pad_share < SP_ANA_MODEL_MAX_PADDING_SHARE;
    char s[1024], adv[256], pw[32], pk[32], pg[32], pp[32], dsave[32];
    fmt_pct(pw, sizeof pw, w->share);
    fmt_pct(pk, sizeof pk, kernel_share);
    fmt_pct(pg, sizeof pg, gap_share);
    fmt_pct(pp, sizeof pp, pad_share);
    fmt_dur(dsave, sizeof dsave, v->saving_p95_ns);
    if (w->group == SP_GROUP_INSTRUMENTATION) {
        snprintf(s, sizeof s,
                 "Instrumentation is missing: %s of p95 latency is covered by no stage span or batch "
                 "window; add spans for the uncovered work before acting on this report.", pw);
    } else if (w->kind == CAND_USEFUL_KERNEL) {
        if (v->recommend_model)
            snprintf(s, sizeof s,
                     "%s of p95 latency is useful kernel execution, with gap at %s and padding at %s: the "
                     "model itself is the bottleneck; a smaller or quantised model or a faster GPU would "
                     "help (removing kernel time would cut p95 by %s).", pw, pg, pp, dsave);
        else
            snprintf(s, sizeof s,
                     "%s of p95 latency is useful kernel execution (removing it would cut p95 by %s), but "
                     "with gap at %s and padding at %s it does not dominate enough to blame the model: "
                     "trim gap and padding first.", pw, dsave, pg, pp);
    } else {
        snprintf(s, sizeof s, "%s of p95 latency is %s; removing it would cut p95 by %s. Kernel execution "
                 "is %s%s", pw, advice_for(a, w, adv, sizeof adv), dsave, pk,
                 kernel_share < SP_ANA_MODEL_MIN_KERNEL_SHARE && !queue_saturated(a, w)
                     ? ": the model is not the bottleneck." : ".");
    }
    v->sentence = sp_report_strdup(r, s);
    return v->sentence ? SP_OK : SP_ERR_NOMEM;
}
