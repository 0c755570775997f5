/* The verdicts on TTFT and on TPOT (DESIGN 8 applied to each generation table; docs/generation.md):
 * the table's rows as candidates, each kernel row split into useful work and padding, grouped as DESIGN 8
 * groups them, ranked by share of the table's p95 with the p95 saving of each, and the sentence written
 * by the one verdict composer (verdict_render.c) with the table's figure in place of latency. */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <inttypes.h>
#include <string.h>

#include "analyze/generation_int.h"

/* `between steps` counts as other sequences' work (a configuration fix) from this part on. */
#define GEN_BETWEEN_OTHER 0.5

static sp_cand_kind row_kind(const gen_ctx *c, size_t row, sp_cand_phase *phase)
{
    *phase = SP_CAND_PHASE_NONE;
    if (row >= GR_PREFILL_KERNEL && row <= GR_DECODE_MODEL) {
        *phase = row < GR_DECODE_KERNEL ? SP_CAND_PHASE_PREFILL : SP_CAND_PHASE_DECODE;
        static const sp_cand_kind k[5] = {SP_CAND_KERNEL, SP_CAND_GAP, SP_CAND_H2D, SP_CAND_D2H, SP_CAND_MODEL_TIME};
        return k[(row - GR_PREFILL_KERNEL) % 5];
    }
    switch (row) {
    case GR_QUEUE: return SP_CAND_QUEUE;
    case GR_PREPROCESS: return SP_CAND_PREPROCESS;
    case GR_BETWEEN: return SP_CAND_BETWEEN;
    case GR_POSTPROCESS: return SP_CAND_POSTPROCESS;
    case GR_NETWORK: return SP_CAND_NETWORK;
    default: return row == gen_other_row(c) ? SP_CAND_OTHER : SP_CAND_NAMED;
    }
}

static sp_verdict_group group_of(sp_cand_kind k, double between_other)
{
    switch (k) {
    case SP_CAND_QUEUE:
    case SP_CAND_PADDING: return SP_GROUP_CONFIGURATION;
    case SP_CAND_KERNEL:
    case SP_CAND_MODEL_TIME: return SP_GROUP_MODEL;
    case SP_CAND_OTHER: return SP_GROUP_INSTRUMENTATION;
    case SP_CAND_BETWEEN:
        /* other sequences' steps between this request's: how the scheduler mixes them */
        return between_other + 1e-9 >= GEN_BETWEEN_OTHER ? SP_GROUP_CONFIGURATION : SP_GROUP_RUNTIME;
    default: return SP_GROUP_RUNTIME;
    }
}

/* The value of trace property `key` in the first file that has it, or NULL. */
static const char *policy(const sp_ana *a, const char *key)
{
    for (size_t f = 0; f < a->ev->n_files; f++) {
        const char *v = sp_ev_get_prop(a->ev, (uint32_t)f, key);
        if (v)
            return v;
    }
    return NULL;
}

/* A fix that quotes the trace's policy setting, `fmt` with one %s; the report owns the text. NULL when
 * the trace does not carry the setting (or out of memory: the plain fix is used). */
static const char *quoting(sp_ana *a, const char *key, const char *fmt)
{
    const char *v = policy(a, key);
    char buf[256];
    if (!v || strlen(v) > 32)
        return NULL;
    snprintf(buf, sizeof buf, fmt, v);
    return sp_report_strdup(a->r, buf);
}

/* The queue's fix when no step ever ran --max-num-seqs sequences: a waiting request was not kept out by
 * the limit but by the running step (new requests join only between steps), so raising the limit
 * cannot help and shorter steps can. NULL when the trace does not carry the limit, has no steps, or
 * some step was full. */
static const char *steps_not_full(sp_ana *a)
{
    const char *v = policy(a, "policy.max_num_seqs");
    const sp_gen_summary *g = a->r->generation;
    if (!v || !g || !g->steps)
        return NULL;
    char *end;
    unsigned long long limit = strtoull(v, &end, 10);
    uint64_t most = g->step_members.max_ns; /* requests per step: counts in the _ns fields */
    if (*end || end == v || limit == 0 || most >= limit)
        return NULL;
    /* the trace carries policy.max_num_seqs, so that flag is named; the token budget's only where the
     * trace says its server has it (sp_ana_names_tokens_flag) */
    const char *shorter = sp_ana_lacks_chunked_prefill(a)
                              ? "shorter steps (a lower --max-num-batched-tokens; this server has no chunked prefill) "
                                "let them in sooner"
                          : sp_ana_names_tokens_flag(a)
                              ? "shorter steps (chunked prefill, a lower --max-num-batched-tokens) let them in sooner"
                              : "chunked prefill, or lowering " SP_ANA_TOKENS_BUDGET ", shortens the steps and lets "
                                "them in sooner";
    char buf[400];
    snprintf(buf, sizeof buf, "requests wait for the running step to end before they join (steps held at most %" PRIu64
             " of --max-num-seqs %llu): %s; raising --max-num-seqs will not help", most, limit, shorter);
    return sp_report_strdup(a->r, buf);
}

/* The fix of a generation candidate; DESIGN 8's where the text is the same. No figures of the trace's
 * times; the scheduler's settings when the trace carries them (docs/native-format.md, "Properties"). */
static const char *gen_fix(sp_ana *a, const sp_verdict_cand *cd, size_t row, const sp_verdict_facts *f,
                           int recommend, int cpu)
{
    int decode = cd->phase == SP_CAND_PHASE_DECODE;
    const char *q;
    switch (cd->kind) {
    case SP_CAND_QUEUE: {
        int flag = sp_ana_names_seqs_flag(a);
        if (f->kv_full)
            return flag ? "the KV cache is nearly full: add a replica or KV cache capacity; raising --max-num-seqs "
                          "will not help"
                        : "the KV cache is nearly full: add a replica or KV cache capacity; raising " SP_ANA_SEQS_CAP
                          " will not help";
        if ((q = steps_not_full(a)) != NULL)
            return q;
        /* the device's saturation: a scheduler that refuses requests keeps its own fix, which adds a
         * replica too (the refusal rule, sp_ana_refusing, is the batch window's) */
        if (f->queue_saturated && !f->queue_refusing) {
            /* behind a device busy nearly all the time a larger step only helps where the KV cache
             * has room: the end-to-end verdict's reading (verdict.c) */
            q = quoting(a, "policy.max_num_seqs", "add replicas or capacity, or raise --max-num-seqs (%s in this "
                                                  "trace) if the KV cache has room");
            return q ? q : flag ? "add replicas or capacity, or raise --max-num-seqs if the KV cache has room"
                                : "add replicas or capacity, or raise " SP_ANA_SEQS_CAP " if the KV cache has room";
        }
        q = quoting(a, "policy.max_num_seqs", "raise --max-num-seqs (%s in this trace) or add a replica");
        return q ? q : flag ? "raise --max-num-seqs or add a replica" : "raise " SP_ANA_SEQS_CAP " or add a replica";
    }
    case SP_CAND_KERNEL:
        if (!recommend)
            return sp_ana_verdict_fix(SP_CAND_KERNEL, 0, 0, cpu);
        if (decode)
            return cpu ? "a smaller or quantised model or a faster CPU" : "a smaller or quantised model or a faster GPU";
        return cpu ? "shorter prompts or prefix caching, a smaller or quantised model or a faster CPU"
                   : "shorter prompts or prefix caching, a smaller or quantised model or a faster GPU";
    case SP_CAND_PADDING:
        if (decode)
            return "pad decode batches to fewer sizes, or not at all";
        q = quoting(a, "policy.prefill_bucket", "pad prompts to a smaller bucket (%s tokens in this trace), or not "
                                                "at all");
        return q ? q : "pad prompts to smaller buckets, or not at all";
    case SP_CAND_GAP:
        /* steps in a trace with no kernel: DESIGN 3 calls their time gap, but nothing says the device
         * was idle in them (the end-to-end verdict's rule, verdict.c): no launch or sync advice */
        if (f->kernels_unmeasured)
            return cpu ? SP_ANA_STEP_GAP_UNMEASURED_FIX_CPU : SP_ANA_STEP_GAP_UNMEASURED_FIX;
        if (cpu)
            return sp_ana_verdict_fix(SP_CAND_GAP, 0, 0, 1);
        return decode ? "capture decode in CUDA graphs, overlap host work with the device and remove synchronisations"
                      : "overlap host work with the device and remove synchronisations in prefill";
    case SP_CAND_MODEL_TIME: return SP_ANA_MODEL_TIME_FIX;
    case SP_CAND_BETWEEN: {
        if (!(f->between_other + 1e-9 >= GEN_BETWEEN_OTHER))
            return "make the work between steps cheaper (scheduling, sampling, detokenisation on the step loop)";
        /* the flag only where the trace says its server has it (sp_ana_names_tokens_flag) */
        int flag = sp_ana_names_tokens_flag(a);
        const char *chunked = policy(a, "policy.chunked_prefill");
        if (chunked && !strcmp(chunked, "1")) {
            q = quoting(a, "policy.max_num_batched_tokens", "lower --max-num-batched-tokens (%s in this trace), so "
                                                            "other sequences' prefill chunks stall this one's steps "
                                                            "less");
            return q       ? q
                   : flag ? "lower --max-num-batched-tokens, so other sequences' prefill chunks stall this one's "
                            "steps less"
                          : "lower " SP_ANA_TOKENS_BUDGET ", so other sequences' prefill chunks stall this one's "
                            "steps less";
        }
        if (sp_ana_lacks_chunked_prefill(a)) {
            /* a server with no chunked prefill (the Python example): only its budget, and who has the rest */
            q = quoting(a, "policy.max_num_batched_tokens",
                        "lower --max-num-batched-tokens (%s in this trace), so other sequences' prefills stall this "
                        "one's steps less (this server has no chunked prefill; servprof serve --generate has "
                        "--chunked-prefill)");
            return q ? q
                     : "lower --max-num-batched-tokens, so other sequences' prefills stall this one's steps less (this "
                       "server has no chunked prefill; servprof serve --generate has --chunked-prefill)";
        }
        return flag ? "enable chunked prefill or lower --max-num-batched-tokens, so other sequences' prefills stall "
                      "this one's steps less"
                    : "enable chunked prefill or lower " SP_ANA_TOKENS_BUDGET ", so other sequences' prefills "
                      "stall this one's steps less";
    }
    case SP_CAND_NETWORK:
    case SP_CAND_OTHER:
        if (sp_ana_event_loop(a))
            return cd->kind == SP_CAND_NETWORK ? SP_ANA_NETWORK_EVENT_LOOP_FIX : SP_ANA_OTHER_EVENT_LOOP_FIX;
        return sp_ana_verdict_fix(cd->kind, 0, 0, cpu);
    case SP_CAND_NAMED:
        if (cd->name && sp_ana_named_stage_fix(cd->name, 0, 0))
            return sp_ana_named_stage_fix(cd->name, 0, 0);
        if (row == GR_DETOKENIZE)
            return sp_ana_gen_stage_fix("detokenize", sp_ana_event_loop(a));
        if (row == GR_STREAM)
            return sp_ana_gen_stage_fix("stream", 0);
        return sp_ana_verdict_fix(SP_CAND_NAMED, 0, 0, cpu);
    default:
        return sp_ana_verdict_fix(cd->kind, 0, 0, cpu);
    }
}

sp_status sp_gen_verdict(gen_ctx *c, int w)
{
    sp_ana *a = c->a;
    sp_report *r = a->r;
    sp_gen_summary *g = c->g;
    gen_tab *t = &c->tab[w];
    sp_gen_table *out = w == GW_TTFT ? &g->ttft_table : &g->tpot_table;
    if (!t->n) {
        /* no request in the table: nothing to judge */
        memset(&out->verdict, 0, sizeof out->verdict);
        out->verdict.clause_at = SIZE_MAX;
        out->verdict.sentence = sp_report_strdup(
            r, w == GW_TTFT ? "No request has a record of its first output token: there is no TTFT to attribute."
                            : "No request has two or more output tokens with times: there is no TPOT to attribute.");
        return out->verdict.sentence ? SP_OK : SP_ERR_NOMEM;
    }
    sp_verdict_facts f;
    memset(&f, 0, sizeof f);
    f.metric = w == GW_TTFT ? "TTFT" : "TPOT";
    sp_ana_verdict_outcome_facts(r, &f);
    f.between_other = t->between_other;
    f.kv_full = sp_gen_kv_full(g);
    f.event_loop = sp_ana_event_loop(c->a);
    /* a queue behind a saturated device: said as the end-to-end verdict says it, and the model not
     * cleared (the prefill's share of p95 TTFT says nothing of the device's load) */
    sp_ana_verdict_saturation(r, &f);
    /* the queue past the window is the end-to-end queue's reading (its p95 against the window), not a
     * TTFT or TPOT table's */
    f.queue_past_window = 0;
    /* each phase's gap share of its steps' device time around p95 ("decode steps are 54% gap") */
    double dev[3] = {0, 0, 0}, gap[3] = {0, 0, 0};
    for (size_t v = 0; v < out->n_rows; v++) {
        size_t row = t->vis[v];
        sp_cand_phase ph;
        sp_cand_kind k = row_kind(c, row, &ph);
        if (ph == SP_CAND_PHASE_NONE || k == SP_CAND_MODEL_TIME)
            continue;
        dev[ph] += out->rows[v].share_p95;
        if (k == SP_CAND_GAP)
            gap[ph] += out->rows[v].share_p95;
    }
    for (int ph = 1; ph < 3; ph++)
        f.step_gap[ph] = dev[ph] > 0 ? gap[ph] / dev[ph] : 0;

    /* candidates in report order, each kernel row as useful work then padding (DESIGN 8) */
    size_t cap = 2 * out->n_rows + 2, nc = 0;
    sp_verdict_cand *cs = calloc(cap, sizeof *cs);
    if (!cs)
        return SP_ERR_NOMEM;
    for (size_t v = 0; v < out->n_rows; v++) {
        size_t row = t->vis[v];
        sp_cand_phase ph;
        sp_cand_kind k = row_kind(c, row, &ph);
        double share = out->rows[v].share_p95;
        if (k == SP_CAND_KERNEL) {
            double pad = t->pad_share[ph == SP_CAND_PHASE_DECODE];
            double useful = share - pad > 0 ? share - pad : 0;
            cs[nc++] = (sp_verdict_cand){SP_CAND_KERNEL, (int)row, out->rows[v].name, SP_GROUP_MODEL, useful, 0, NULL,
                                         ph};
            cs[nc++] = (sp_verdict_cand){SP_CAND_PADDING, (int)row,
                                         ph == SP_CAND_PHASE_DECODE ? "decode padding" : "prefill padding",
                                         SP_GROUP_CONFIGURATION, pad, 0, NULL, ph};
            continue;
        }
        cs[nc++] = (sp_verdict_cand){k, (int)row, out->rows[v].name, group_of(k, t->between_other), share, 0, NULL,
                                     ph};
    }
    /* steps but no kernel anywhere (an OTLP export of spans, a hand-written trace): the steps' time is
     * the gap rows', the model's compute inside it unmeasured. Without steps (vLLM's spans) the model
     * time rows say so themselves. */
    double kernel_share = 0;
    for (size_t k = 0; k < nc; k++)
        if (cs[k].kind == SP_CAND_KERNEL || cs[k].kind == SP_CAND_PADDING)
            kernel_share += cs[k].share;
    f.kernels_unmeasured = r->gpu.kernels == 0 && kernel_share == 0 && g->steps > 0;
    sp_ana_rank_candidates(cs, nc);
    int recommend = !sp_ana_verdict_thin(&f) && sp_ana_verdict_recommend_model(cs, nc);
    int cpu = r->gpu.device_kind == SP_DEVICE_CPU;
    f.device_cpu = cpu;
    for (size_t k = 0; k < nc; k++)
        cs[k].fix = gen_fix(a, &cs[k], (size_t)cs[k].row, &f, recommend, cpu);
    /* the padding reading of the leader's phase ("N% of computed tokens are padding") */
    if (nc && cs[0].kind == SP_CAND_PADDING)
        f.waste_fraction = cs[0].phase == SP_CAND_PHASE_DECODE ? g->padding_decode.waste_fraction
                                                               : g->padding_prefill.waste_fraction;
    sp_ana_table tb = {t->n, c->n_rows, t->total, t->times, t->div, {GR_PREFILL_KERNEL, GR_DECODE_KERNEL},
                       {t->pad[0], t->pad[1]}, 2, c->a->scratch, NULL, NULL, NULL};
    sp_status st = sp_ana_p95_savings(&tb, cs, nc);
    if (!st)
        st = sp_ana_verdict_store(r, cs, nc, &f, recommend, &out->verdict);
    free(cs);
    return st;
}
