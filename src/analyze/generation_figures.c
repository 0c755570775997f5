/* The generation figures beside the TTFT and TPOT tables (docs/generation.md): steps and their padding
 * by phase (DESIGN 5), the KV cache's occupancy and waste (time-weighted over steps), the bill per
 * output token (DESIGN 7), the streaming client's own TTFT, TPOT, ITL and end-to-end from intended
 * send times, and what the trace cannot show. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/generation_int.h"

/* Occupancy from which the KV cache counts as full for the queue's reading (docs/generation.md). */
#define GEN_KV_FULL 0.9

static void add_padding(sp_gen_padding *p, const sp_ev_batch *b)
{
    if (b->effective_tokens < 0 || b->padded_tokens <= 0)
        return;
    p->steps++;
    p->effective_tokens += b->effective_tokens;
    p->padded_tokens += b->padded_tokens;
}

static void finish_padding(sp_gen_padding *p)
{
    /* DESIGN 5: 1 - total effective / total padded */
    if (p->padded_tokens > 0) {
        double f = 1.0 - (double)p->effective_tokens / (double)p->padded_tokens;
        p->waste_fraction = f < 0 ? 0 : f;
    }
}

sp_status sp_gen_step_figures(gen_ctx *c)
{
    const sp_ana *a = c->a;
    const sp_events *ev = a->ev;
    sp_gen_summary *g = c->g;
    size_t nb = ev->n_batches ? ev->n_batches : 1;
    uint64_t *members = malloc(nb * sizeof *members);
    double *occ = malloc(nb * sizeof *occ);
    if (!members || !occ) {
        free(members);
        free(occ);
        return SP_ERR_NOMEM;
    }
    size_t n_occ = 0;
    long double cap_time = 0, free_time = 0, used_time = 0, dur_sum = 0;
    long double cap_sum = 0, free_sum = 0, used_sum = 0; /* the same per step, for steps of no time */
    for (size_t b = 0; b < ev->n_batches; b++) {
        const sp_ev_batch *bt = &ev->batches[b];
        if (!a->b[b].valid || bt->step == SP_EV_NONE)
            continue;
        const sp_ev_step *sp = &ev->steps[bt->step];
        members[g->steps++] = bt->nmembers;
        int prefill = 0;
        for (uint32_t m = 0; m < bt->nmembers; m++)
            prefill |= ev->step_members[sp->first + m].phase != SP_EV_PHASE_DECODE;
        g->prefill_steps += prefill;
        add_padding(prefill ? &g->padding_prefill : &g->padding_decode, bt);
        if (sp->kv_capacity_tokens <= 0 || sp->kv_used_tokens < 0)
            continue;
        /* KV waste: capacity left unused, weighted by how long the step held it */
        long double dur = (long double)(bt->end_ns - bt->start_ns);
        g->kv_steps++;
        if (sp->kv_capacity_tokens > g->kv_capacity_tokens)
            g->kv_capacity_tokens = sp->kv_capacity_tokens;
        occ[n_occ++] = (double)sp->kv_used_tokens / (double)sp->kv_capacity_tokens;
        cap_time += dur * (long double)sp->kv_capacity_tokens;
        free_time += dur * (long double)(sp->kv_capacity_tokens - sp->kv_used_tokens);
        used_time += dur * (long double)sp->kv_used_tokens;
        dur_sum += dur;
        cap_sum += (long double)sp->kv_capacity_tokens;
        free_sum += (long double)(sp->kv_capacity_tokens - sp->kv_used_tokens);
        used_sum += (long double)sp->kv_used_tokens;
    }
    finish_padding(&g->padding_prefill);
    finish_padding(&g->padding_decode);
    if (dur_sum <= 0) {
        /* every step that gives the KV cache took no time: the time weights are all 0 (0/0), so each
         * step weighs the same, the limit of equal durations (analysis.md section 9, "KV cache") */
        cap_time = cap_sum;
        free_time = free_sum;
        used_time = used_sum;
        dur_sum = g->kv_steps;
    }
    g->kv_waste_fraction = cap_time > 0 ? (double)(free_time / cap_time) : 0.0;
    g->kv_used_mean_tokens = dur_sum > 0 ? (double)(used_time / dur_sum) : 0.0;
    sp_sort_double(occ, n_occ);
    g->kv_occupancy_p50 = sp_pick_double(occ, n_occ, SP_PCT(50));
    g->kv_occupancy_p95 = sp_pick_double(occ, n_occ, SP_PCT(95));
    g->kv_occupancy_max = n_occ ? occ[n_occ - 1] : 0.0;
    sp_status st = sp_ana_quantiles(members, g->steps, &g->step_members);
    free(members);
    free(occ);
    return st;
}

sp_status sp_gen_busy_windows(gen_ctx *c)
{
    const sp_ana *a = c->a;
    const sp_events *ev = a->ev;
    size_t nf = ev->n_files;
    c->busy_off = calloc(nf + 1, sizeof *c->busy_off);
    c->busy = malloc((ev->n_batches ? ev->n_batches : 1) * sizeof *c->busy);
    size_t *fill = malloc((nf ? nf : 1) * sizeof *fill);
    if (!c->busy_off || !c->busy || !fill) {
        free(fill);
        return SP_ERR_NOMEM;
    }
    for (size_t b = 0; b < ev->n_batches; b++)
        if (a->b[b].valid && ev->batches[b].step != SP_EV_NONE)
            c->busy_off[ev->batches[b].file + 1]++;
    for (size_t f = 0; f < nf; f++)
        c->busy_off[f + 1] += c->busy_off[f];
    memcpy(fill, c->busy_off, nf * sizeof *fill);
    for (size_t b = 0; b < ev->n_batches; b++)
        if (a->b[b].valid && ev->batches[b].step != SP_EV_NONE)
            c->busy[fill[ev->batches[b].file]++] = (sp_ival){ev->batches[b].start_ns, ev->batches[b].end_ns};
    free(fill);
    /* each file's windows merged in place; the merged list may be shorter: pack the files together */
    size_t at = 0;
    for (size_t f = 0; f < nf; f++) {
        size_t s = c->busy_off[f], n = c->busy_off[f + 1] - s;
        size_t m = sp_ival_merge(c->busy + s, n);
        memmove(c->busy + at, c->busy + s, m * sizeof *c->busy);
        c->busy_off[f] = at;
        at += m;
    }
    c->busy_off[nf] = at;
    return SP_OK;
}

sp_status sp_gen_cost_figures(gen_ctx *c)
{
    const sp_ana *a = c->a;
    const sp_cost_summary *cost = &a->r->cost;
    sp_gen_summary *g = c->g;
    if (g->output_tokens && cost->window_ns) {
        /* DESIGN 7's bill and its split, per output token */
        g->cost_per_output_token = cost->bill / (double)g->output_tokens;
        for (int s = 0; s < SP_COST_STATE_COUNT; s++)
            g->cost_per_output_token_by_state[s] = cost->by_state[s] / (double)g->output_tokens;
    }
    uint64_t *nano = malloc((c->n_gen ? c->n_gen : 1) * sizeof *nano);
    if (!nano)
        return SP_ERR_NOMEM;
    size_t n = 0;
    for (size_t gq = 0; a->req_cost && gq < c->n_gen; gq++)
        if (c->out_tokens[gq])
            nano[n++] = (uint64_t)llround(a->req_cost[c->gen_pos[gq]] / (double)c->out_tokens[gq] * 1e9);
    sp_status st = sp_ana_quantiles(nano, n, &g->request_cost_per_token_nano);
    free(nano);
    return st;
}

sp_status sp_gen_client_figures(gen_ctx *c)
{
    const sp_ana *a = c->a;
    const sp_events *ev = a->ev;
    sp_gen_summary *g = c->g;
    size_t n_itl = 0;
    for (size_t gq = 0; gq < c->n_gen; gq++) {
        uint32_t cr = sp_ev_cold(ev, &ev->requests[a->reqs[c->gen_pos[gq]]])->client;
        if (cr != SP_EV_NONE && ev->clients[cr].n_ctok > 1)
            n_itl += ev->clients[cr].n_ctok - 1;
    }
    size_t m = c->n_gen ? c->n_gen : 1;
    uint64_t *ttft = malloc(m * sizeof *ttft), *tpot = malloc(m * sizeof *tpot), *e2e = malloc(m * sizeof *e2e);
    uint64_t *itl = malloc((n_itl ? n_itl : 1) * sizeof *itl);
    sp_status st = ttft && tpot && e2e && itl ? SP_OK : SP_ERR_NOMEM;
    size_t nf = 0, np = 0, ne = 0, ni = 0;
    for (size_t gq = 0; gq < c->n_gen && !st; gq++) {
        uint32_t cr = sp_ev_cold(ev, &ev->requests[a->reqs[c->gen_pos[gq]]])->client;
        if (cr == SP_EV_NONE || ev->clients[cr].first_token_ns == SP_TIME_NONE)
            continue;
        const sp_ev_client *cl = &ev->clients[cr];
        /* on the client's own clock: differences need no offset. From the intended send time (the
         * open-loop schedule; the actual send when it came first), as the load generator measures */
        uint64_t from = cl->intended_ns <= cl->send_ns ? cl->intended_ns : cl->send_ns;
        ttft[nf++] = cl->first_token_ns >= from ? cl->first_token_ns - from : 0;
        e2e[ne++] = cl->done_ns >= from ? cl->done_ns - from : 0;
        const uint64_t *tn = ev->client_tokens + cl->first_ctok;
        if (cl->n_ctok >= 2) {
            tpot[np++] = sp_ana_div_round(tn[cl->n_ctok - 1] - tn[0], cl->n_ctok - 1);
            for (uint32_t j = 1; j < cl->n_ctok; j++)
                itl[ni++] = tn[j] - tn[j - 1];
        } else if (!cl->n_ctok && cl->output_tokens >= 2) {
            /* no per-token times: the load generator's TPOT, (end - first token) / (tokens - 1) */
            tpot[np++] = sp_ana_div_round(cl->done_ns - cl->first_token_ns, (uint64_t)cl->output_tokens - 1);
        }
    }
    g->client_requests = nf;
    if (!st)
        st = sp_ana_quantiles(ttft, nf, &g->client_ttft);
    if (!st)
        st = sp_ana_quantiles(tpot, np, &g->client_tpot);
    if (!st)
        st = sp_ana_quantiles(itl, ni, &g->client_itl);
    if (!st)
        st = sp_ana_quantiles(e2e, ne, &g->client_e2e);
    free(ttft);
    free(tpot);
    free(e2e);
    free(itl);
    return st;
}

static sp_status add_limit(sp_report *r, sp_gen_summary *g, const char *text)
{
    const char *s = sp_report_strdup(r, text);
    const char **v = realloc(g->limits, (g->n_limits + 1) * sizeof *v);
    if (!s || !v)
        return SP_ERR_NOMEM;
    g->limits = v;
    g->limits[g->n_limits++] = s;
    return SP_OK;
}

/* "N cancelled and M unfinished requests have output tokens (T): left out, ..." for the requests with
 * token records that the outcome scope leaves out (docs/analysis.md section 9, "Limits"); nothing when
 * there are none. */
static sp_status left_out_limit(gen_ctx *c, char *line, size_t len)
{
    const sp_ana *a = c->a;
    const sp_events *ev = a->ev;
    if (!ev->n_requests)
        return SP_OK;
    unsigned char *in = calloc(ev->n_requests, 1);
    if (!in)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < a->n_reqs; i++)
        in[a->reqs[i]] = 1;
    uint64_t by[SP_OUTCOME_COUNT] = {0}, tokens = 0, n = 0;
    for (size_t i = 0; i < ev->n_requests; i++) {
        const sp_ev_request *q = &ev->requests[i];
        const sp_ev_request_cold *qc = sp_ev_cold(ev, q);
        if (in[i] || !qc->ntokens || q->outcome >= SP_OUTCOME_COUNT)
            continue;
        by[q->outcome]++;
        n++;
        /* as choose_requests counts a request's output tokens: its output_tokens, else last index + 1 */
        uint64_t last = ev->tokens[qc->first_token + qc->ntokens - 1].index;
        tokens += qc->output_tokens > 0 && (uint64_t)qc->output_tokens > last ? (uint64_t)qc->output_tokens : last + 1;
    }
    free(in);
    if (!n)
        return SP_OK;
    size_t o = 0;
    int parts = 0;
    for (int k = 0; k < SP_OUTCOME_COUNT; k++)
        if (by[k])
            parts++;
    for (int k = 0, said = 0; k < SP_OUTCOME_COUNT && o < len; k++) {
        if (!by[k])
            continue;
        said++;
        o += (size_t)snprintf(line + o, len - o, "%s%llu %s", said == 1 ? "" : said == parts ? " and " : ", ",
                              (unsigned long long)by[k], sp_outcome_str((sp_outcome)k));
    }
    if (o < len)
        snprintf(line + o, len - o, " request%s with output tokens (%llu token%s): left out, the figures are over %s",
                 n == 1 ? "" : "s", (unsigned long long)tokens, tokens == 1 ? "" : "s",
                 a->r->outcome_scope == SP_SCOPE_FINISHED ? "finished requests"
                                                          : "ok requests (--outcomes all: every finished one)");
    return add_limit(a->r, c->g, line);
}

sp_status sp_gen_limits(gen_ctx *c)
{
    sp_report *r = c->a->r;
    sp_gen_summary *g = c->g;
    char line[512];
    sp_status st = SP_OK;
    int model_rows = 0;
    for (size_t v = 0; v < c->tab[GW_TTFT].n_vis; v++)
        model_rows |= c->tab[GW_TTFT].vis[v] == GR_PREFILL_MODEL;
    for (size_t v = 0; v < c->tab[GW_TPOT].n_vis; v++)
        model_rows |= c->tab[GW_TPOT].vis[v] == GR_DECODE_MODEL;
    if (!g->steps)
        st = add_limit(r, g, model_rows
                                 ? "no step records: prefill and decode are each one stretch of time (from the "
                                   "trace's spans, e.g. vLLM's gen_ai.latency attributes), not split into kernel, "
                                   "gap and copies, and there are no padding or KV-cache figures"
                                 : "no step records: no per-step device time (no prefill or decode kernel, gap or "
                                   "copy rows), no padding or KV-cache figures");
    else if (!g->kv_steps && !st)
        st = add_limit(r, g, "no step gives the KV cache's capacity: no KV-cache waste");
    int any_model = 0;   /* a (model) row in either table */
    for (int w = 0; w < GW_COUNT; w++)
        for (size_t v = 0; v < c->tab[w].n_vis; v++)
            any_model |= c->tab[w].vis[v] == GR_PREFILL_MODEL || c->tab[w].vis[v] == GR_DECODE_MODEL;
    if (!st && g->steps && any_model)   /* steps for some requests, a phase's time whole for others */
        st = add_limit(r, g, "some prefill or decode time is in no step record: the prefill (model) and decode "
                             "(model) rows are each one stretch of time (from the trace's spans, e.g. TGI's "
                             "inference_time of a request whose steps are not all in the file), not split into "
                             "kernel, gap and copies");
    uint64_t multi = g->output_tokens_per_request.count ? g->output_tokens_per_request.max_ns : 0;
    if (!st && multi >= 2 && !g->itl.count)
        st = add_limit(r, g, "only the first and last token times are recorded, not every token's: no "
                             "inter-token latency (TPOT is from the first and last tokens)");
    if (!st && g->requests_no_first) {
        snprintf(line, sizeof line, "%llu request%s token records but none for the first token (index 0): left "
                 "out of the TTFT and TPOT tables", (unsigned long long)g->requests_no_first,
                 g->requests_no_first == 1 ? " has" : "s have");
        st = add_limit(r, g, line);
    }
    /* requests outside the analysed outcomes that streamed tokens (a client that went away mid-stream,
     * a trace cut by a kill): the figures are not over them, and the reader should know they exist */
    if (!st)
        st = left_out_limit(c, line, sizeof line);
    if (!st && g->requests_bad_tokens) {
        snprintf(line, sizeof line, "%llu request%s token times outside %s life or out of order: left out "
                 "(--lenient)", (unsigned long long)g->requests_bad_tokens,
                 g->requests_bad_tokens == 1 ? " has" : "s have", g->requests_bad_tokens == 1 ? "its" : "their");
        st = add_limit(r, g, line);
    }
    return st;
}

/* The KV cache is nearly full around p95 of steps: the queue waits for cache space, not for a slot. */
int sp_gen_kv_full(const sp_gen_summary *g)
{
    return g->kv_steps && g->kv_occupancy_p95 + 1e-9 >= GEN_KV_FULL;
}
