/* Generation analysis (docs/generation.md): TTFT and TPOT broken down by stage. Each request's life is
 * partitioned as DESIGN 3 partitions it (partition.c's pieces); the TTFT table takes the pieces in
 * [arrival, first token), the TPOT table those in [first token, last token) divided by (output tokens -
 * 1). A piece inside a step window goes to the prefill or decode rows by the request's phase in that
 * step; uncovered time between its steps is `between steps`. Shares of p50/p95/p99 are DESIGN 4 over
 * each table's own distribution. Also TTFT, TPOT, ITL and end-to-end percentiles; the rest of the
 * figures and the verdicts are generation_figures.c's and generation_verdict.c's. */
#include <stdlib.h>
#include <string.h>

#include "analyze/generation_int.h"
#include "common/util_int.h"

static const char *const g_fixed_names[GR_FIXED] = {
    "queue", "preprocess", "prefill kernel", "prefill gap", "prefill h2d", "prefill d2h", "prefill (model)",
    "decode kernel", "decode gap", "decode h2d", "decode d2h", "decode (model)", "between steps", "detokenize",
    "stream", "postprocess", "network"};

/* Rows each table always shows (zero when unused), besides any other row with time in it. */
static int always_shown(int w, size_t row, int client)
{
    switch (row) {
    case GR_BETWEEN:
    case GR_STREAM:
        return 1;
    case GR_QUEUE:
    case GR_PREPROCESS:
    case GR_PREFILL_KERNEL:
    case GR_PREFILL_GAP:
    case GR_PREFILL_H2D:
    case GR_PREFILL_D2H:
        return w == GW_TTFT;
    case GR_NETWORK:
        return w == GW_TTFT && client;
    case GR_DECODE_KERNEL:
    case GR_DECODE_GAP:
    case GR_DECODE_H2D:
    case GR_DECODE_D2H:
    case GR_DETOKENIZE:
        return w == GW_TPOT;
    default:
        return 0;
    }
}

/* The rows: the fixed ones, DESIGN 3's named stages other than those with a fixed row of their own,
 * alphabetical as there, then `other`. */
static sp_status name_rows(gen_ctx *c)
{
    sp_ana *a = c->a;
    c->named_row = malloc((a->n_named ? a->n_named : 1) * sizeof *c->named_row);
    c->row_name = malloc((GR_FIXED + a->n_named + 1) * sizeof *c->row_name);
    if (!c->named_row || !c->row_name)
        return SP_ERR_NOMEM;
    for (size_t r = 0; r < GR_FIXED; r++)
        c->row_name[r] = g_fixed_names[r];
    size_t next = GR_FIXED;
    for (size_t k = 0; k < a->n_named; k++) {
        const char *name = sp_str_get(&a->ev->strings, a->named_ids[k]);
        if (!strcmp(name, "detokenize"))
            c->named_row[k] = GR_DETOKENIZE;
        else if (!strcmp(name, "stream"))
            c->named_row[k] = GR_STREAM;
        else if (sp_ana_model_stage(SP_ANA_MODEL_GENERATION, name) == SP_CAND_PHASE_PREFILL) /* the tables: generation data */
            c->named_row[k] = GR_PREFILL_MODEL;
        else if (sp_ana_model_stage(SP_ANA_MODEL_GENERATION, name) == SP_CAND_PHASE_DECODE)
            c->named_row[k] = GR_DECODE_MODEL;
        else {
            c->named_row[k] = (int)next;
            if (!(c->row_name[next++] = sp_report_strdup(a->r, name)))
                return SP_ERR_NOMEM;
        }
    }
    c->row_name[next++] = "other";
    c->n_rows = next;
    return SP_OK;
}

/* The gen row a span piece of DESIGN 3 stage row `row` goes to in window `w`. A span named like a
 * device stage (kernel, gap, h2d, d2h) counts for the window's phase. */
static size_t span_row(const gen_ctx *c, int w, uint32_t row)
{
    const sp_ana *a = c->a;
    int r = (int)row;
    size_t dev = w == GW_TTFT ? GR_PREFILL_KERNEL : GR_DECODE_KERNEL;
    if (r == a->st_queue)
        return GR_QUEUE;
    if (r == a->st_pre)
        return GR_PREPROCESS;
    if (r == a->st_post)
        return GR_POSTPROCESS;
    if (r == a->st_network)
        return GR_NETWORK;
    if (r == a->st_kernel)
        return dev;
    if (r == a->st_gap)
        return dev + 1;
    if (r == a->st_h2d)
        return dev + 2;
    if (r == a->st_d2h)
        return dev + 3;
    size_t first_named = 7 + (a->st_network >= 0);
    if (r >= (int)first_named && r < a->st_other)
        return (size_t)c->named_row[(size_t)r - first_named];
    return gen_other_row(c);
}

/* ---------- each gen request's phase in each of its steps ---------- */

typedef struct gen_phase {
    uint32_t req;    /* gen request */
    uint32_t batch;
    uint8_t phase;   /* sp_ev_phase */
} gen_phase;

static int gen_phase_cmp(const void *x, const void *y)
{
    const gen_phase *p = x, *q = y;
    if (p->req != q->req)
        return p->req < q->req ? -1 : 1;
    if (p->batch != q->batch)
        return p->batch < q->batch ? -1 : 1;
    return (p->phase > q->phase) - (p->phase < q->phase);
}

typedef struct phase_map {
    gen_phase *v;
    size_t n;
    size_t *off;     /* per gen request: v[off[g] .. off[g + 1]) */
} phase_map;

static sp_status build_phases(const gen_ctx *c, phase_map *pm)
{
    const sp_ana *a = c->a;
    const sp_events *ev = a->ev;
    uint32_t *gen_of = malloc((ev->n_requests ? ev->n_requests : 1) * sizeof *gen_of);
    pm->off = calloc(c->n_gen + 1, sizeof *pm->off);
    if (!gen_of || !pm->off) {
        free(gen_of);
        return SP_ERR_NOMEM;
    }
    for (size_t i = 0; i < ev->n_requests; i++)
        gen_of[i] = SP_EV_NONE;
    for (size_t gq = 0; gq < c->n_gen; gq++)
        gen_of[a->reqs[c->gen_pos[gq]]] = (uint32_t)gq;
    size_t cap = 0;
    sp_status st = SP_OK;
    for (size_t b = 0; b < ev->n_batches && !st; b++) {
        const sp_ev_batch *bt = &ev->batches[b];
        if (!a->b[b].valid || bt->step == SP_EV_NONE)
            continue;
        const sp_ev_step *sp = &ev->steps[bt->step];
        for (uint32_t m = 0; m < bt->nmembers && !st; m++) {
            uint32_t gq = gen_of[ev->members[bt->first_member + m]];
            if (gq == SP_EV_NONE)
                continue;
            if (!(st = SP_GROW(pm->v, cap, pm->n + 1, SP_EV_MAX_RECORDS)))
                pm->v[pm->n++] = (gen_phase){gq, (uint32_t)b, ev->step_members[sp->first + m].phase};
        }
    }
    free(gen_of);
    if (st)
        return st;
    if (pm->n)
        qsort(pm->v, pm->n, sizeof *pm->v, gen_phase_cmp);
    for (size_t k = 0; k < pm->n; k++)
        pm->off[pm->v[k].req + 1]++;
    for (size_t gq = 0; gq < c->n_gen; gq++)
        pm->off[gq + 1] += pm->off[gq];
    return SP_OK;
}

/* Request gq's phase in batch b, or -1 when b is not a step that names it. */
static int phase_of(const phase_map *pm, uint32_t gq, uint32_t b)
{
    size_t lo = pm->off[gq], hi = pm->off[gq + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pm->v[mid].batch < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < pm->off[gq + 1] && pm->v[lo].batch == b ? pm->v[lo].phase : -1;
}

/* ---------- choosing the requests ---------- */

/* A request's token records, checked: times inside [arrival, done] and not decreasing with the index
 * (docs/generation.md). Returns SP_OK, or SP_ERR_PARSE with the message (the caller skips the request
 * under lenient). */
static sp_status check_tokens(const sp_ana *a, const sp_ev_request *q, char *err, size_t errlen)
{
    const sp_events *ev = a->ev;
    const sp_ev_request_cold *qc = sp_ev_cold(ev, q);
    const sp_ev_token *tk = &ev->tokens[qc->first_token];
    for (uint32_t k = 0; k < qc->ntokens; k++) {
        const char *why = NULL;
        if (tk[k].time_ns < q->arrival_ns || tk[k].time_ns > q->done_ns)
            why = "is outside the request's [arrival, done]";
        else if (k && tk[k].time_ns < tk[k - 1].time_ns)
            why = "is before the token with the index before it (tokens leave in output order)";
        if (why) {
            char idtext[SP_EV_ID_TEXT];
            sp_errf(err, errlen, "%s: request \"%s\": the token record with index %llu (at %llu ns) %s "
                    "(--lenient leaves the request out of the generation tables)",
                    sp_str_get(&ev->strings, ev->files[q->file].path), sp_ev_id_text(ev, q, idtext, NULL),
                    (unsigned long long)tk[k].index, (unsigned long long)tk[k].time_ns, why);
            return SP_ERR_PARSE;
        }
    }
    return SP_OK;
}

static sp_status tab_alloc(gen_tab *t, size_t n, size_t nrows, int with_div)
{
    size_t m = n ? n : 1;
    t->n = n;
    t->req = malloc(m * sizeof *t->req);
    t->times = calloc(m * nrows, sizeof *t->times);
    t->total = calloc(m, sizeof *t->total);
    t->div = with_div ? malloc(m * sizeof *t->div) : NULL;
    t->pad[0] = calloc(m, sizeof *t->pad[0]);
    t->pad[1] = calloc(m, sizeof *t->pad[1]);
    t->between_busy = calloc(m, sizeof *t->between_busy);
    t->figure = malloc(m * sizeof *t->figure);
    t->order = malloc(m * sizeof *t->order);
    t->vis = malloc((nrows ? nrows : 1) * sizeof *t->vis);
    if (!t->req || !t->times || !t->total || (with_div && !t->div) || !t->pad[0] || !t->pad[1] ||
        !t->between_busy || !t->figure || !t->order || !t->vis)
        return SP_ERR_NOMEM;
    return SP_OK;
}

static void tab_free(gen_tab *t)
{
    free(t->req);
    free(t->times);
    free(t->total);
    free(t->div);
    free(t->pad[0]);
    free(t->pad[1]);
    free(t->between_busy);
    free(t->figure);
    free(t->order);
    free(t->vis);
}

static void ctx_free(gen_ctx *c)
{
    free(c->row_name);
    free(c->named_row);
    free(c->gen_pos);
    free(c->out_tokens);
    for (int w = 0; w < GW_COUNT; w++)
        tab_free(&c->tab[w]);
    free(c->busy);
    free(c->busy_off);
}

/* The gen requests (analysed, with token records that check out), their output tokens, and which
 * table each is in: TTFT with a record of the first token, TPOT with one of a later token too. */
static sp_status choose_requests(gen_ctx *c, char *err, size_t errlen)
{
    sp_ana *a = c->a;
    const sp_events *ev = a->ev;
    size_t n = a->n_reqs;
    c->gen_pos = malloc((n ? n : 1) * sizeof *c->gen_pos);
    c->out_tokens = malloc((n ? n : 1) * sizeof *c->out_tokens);
    if (!c->gen_pos || !c->out_tokens)
        return SP_ERR_NOMEM;
    size_t nt[GW_COUNT] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        const sp_ev_request *q = &ev->requests[a->reqs[i]];
        const sp_ev_request_cold *qc = sp_ev_cold(ev, q);
        if (!qc->ntokens)
            continue;
        sp_status st = check_tokens(a, q, err, errlen);
        if (st) {
            if (!a->opt.lenient)
                return st;
            c->g->requests_bad_tokens++;
            a->skipped++;
            continue;
        }
        const sp_ev_token *tk = &ev->tokens[qc->first_token];
        uint64_t last = tk[qc->ntokens - 1].index;
        uint64_t out = qc->output_tokens > 0 && (uint64_t)qc->output_tokens > last ? (uint64_t)qc->output_tokens
                                                                                   : last + 1;
        c->out_tokens[c->n_gen] = out;
        c->gen_pos[c->n_gen++] = (uint32_t)i;
        if (tk[0].index != 0) {
            c->g->requests_no_first++;
            continue;
        }
        nt[GW_TTFT]++;
        nt[GW_TPOT] += last >= 1;
    }
    sp_status st = tab_alloc(&c->tab[GW_TTFT], nt[GW_TTFT], c->n_rows, 0);
    if (!st)
        st = tab_alloc(&c->tab[GW_TPOT], nt[GW_TPOT], c->n_rows, 1);
    return st;
}

/* ---------- painting the windows ---------- */

/* |[s, e) intersect the merged step windows of `file`|. */
static uint64_t busy_overlap(const gen_ctx *c, uint32_t file, uint64_t s, uint64_t e)
{
    if (!c->busy_off)
        return 0;
    return sp_ival_clip(c->busy + c->busy_off[file], c->busy_off[file + 1] - c->busy_off[file], s, e);
}

/* Adds the pieces' time inside [ws, we) to table request k of window w. */
static void paint_window(gen_ctx *c, int w, size_t k, uint32_t gq, const phase_map *pm, const sp_ana_piece *pc,
                         size_t np, uint64_t ws, uint64_t we, uint32_t file)
{
    const sp_ana *a = c->a;
    gen_tab *t = &c->tab[w];
    uint64_t *tm = t->times + k * c->n_rows;
    for (size_t j = 0; j < np; j++) {
        uint64_t s = pc[j].s > ws ? pc[j].s : ws, e = pc[j].e < we ? pc[j].e : we;
        if (e <= s)
            continue;
        uint64_t len = e - s;
        if (pc[j].level < SP_LBL_COUNT) {
            /* a step piece: the request's phase in that step, else (a plain batch) the window's */
            int ph = phase_of(pm, gq, pc[j].payload);
            int prefill = ph < 0 ? w == GW_TTFT : ph != SP_EV_PHASE_DECODE;
            size_t base = prefill ? GR_PREFILL_KERNEL : GR_DECODE_KERNEL;
            static const size_t off[SP_LBL_COUNT] = {0, 2, 3, 1}; /* kernel, h2d, d2h, gap */
            tm[base + off[pc[j].level]] += len;
            if (pc[j].level == SP_LBL_KERNEL) /* DESIGN 5: kernel time x the step's waste */
                t->pad[!prefill][k] += (double)len * a->b[pc[j].payload].waste;
        } else if (pc[j].level == SP_PIECE_SPAN) {
            tm[span_row(c, w, pc[j].payload)] += len;
        } else if (pc[j].level == SP_PIECE_BETWEEN) {
            tm[GR_BETWEEN] += len;
            t->between_busy[k] += busy_overlap(c, file, s, e);
        } else {
            tm[gen_other_row(c)] += len;
        }
    }
}

/* Fills both tables' per-request rows, and the server-side TTFT, TPOT, ITL and end-to-end sets. */
static sp_status fill_tables(gen_ctx *c)
{
    sp_ana *a = c->a;
    const sp_events *ev = a->ev;
    sp_gen_summary *g = c->g;
    phase_map pm = {0};
    size_t n_itl = 0;
    for (size_t gq = 0; gq < c->n_gen; gq++)
        n_itl += sp_ev_cold(ev, &ev->requests[a->reqs[c->gen_pos[gq]]])->ntokens - 1;
    size_t m = c->n_gen ? c->n_gen : 1;
    uint64_t *ttft = malloc(m * sizeof *ttft), *tpot = malloc(m * sizeof *tpot), *e2e = malloc(m * sizeof *e2e);
    uint64_t *outs = malloc(m * sizeof *outs), *itl = malloc((n_itl ? n_itl : 1) * sizeof *itl);
    sp_status st = ttft && tpot && e2e && outs && itl ? build_phases(c, &pm) : SP_ERR_NOMEM;
    size_t nf = 0, np = 0, ni = 0, k[GW_COUNT] = {0, 0};
    for (size_t gq = 0; gq < c->n_gen && !st; gq++) {
        size_t i = c->gen_pos[gq];
        const sp_ev_request *q = &ev->requests[a->reqs[i]];
        const sp_ev_request_cold *qc = sp_ev_cold(ev, q);
        const sp_ev_token *tk = &ev->tokens[qc->first_token];
        uint32_t nt = qc->ntokens;
        e2e[gq] = q->done_ns - q->arrival_ns;
        outs[gq] = c->out_tokens[gq];
        for (uint32_t j = 1; j < nt; j++) /* ITL: consecutive tokens only (a missing one breaks the pair) */
            if (tk[j].index == tk[j - 1].index + 1)
                itl[ni++] = tk[j].time_ns - tk[j - 1].time_ns;
        if (tk[0].index != 0)
            continue;
        uint64_t t1 = tk[0].time_ns, tl = tk[nt - 1].time_ns, last = tk[nt - 1].index;
        ttft[nf++] = t1 - q->arrival_ns;
        if (last >= 1)
            tpot[np++] = sp_ana_div_round(tl - t1, last);
        const sp_ana_piece *pc;
        size_t npc;
        if ((st = sp_ana_request_pieces(a, i, &pc, &npc)))
            break;
        /* TTFT: [arrival, first token); with a client record carrying a first token, from the send
         * to its arrival there, the time outside the server being network (DESIGN 8a) */
        gen_tab *tt = &c->tab[GW_TTFT];
        size_t kt = k[GW_TTFT]++;
        tt->req[kt] = (uint32_t)gq;
        paint_window(c, GW_TTFT, kt, (uint32_t)gq, &pm, pc, npc, q->arrival_ns, t1, q->file);
        uint64_t lo = q->arrival_ns, hi = t1;
        if (sp_ana_has_client(ev, q) && qc->client_first_token_ns != SP_TIME_NONE) {
            lo = qc->client_send_ns < lo ? qc->client_send_ns : lo;
            hi = qc->client_first_token_ns > hi ? qc->client_first_token_ns : hi;
            /* the request's spans before its arrival (a loop stall it waited on unread) are their
             * stages' there, as in the end-to-end partition; the pieces before the arrival are spans */
            uint64_t before = 0;
            for (size_t j = 0; j < npc && pc[j].s < q->arrival_ns; j++) {
                uint64_t s = pc[j].s > lo ? pc[j].s : lo, e = pc[j].e < q->arrival_ns ? pc[j].e : q->arrival_ns;
                before += e > s ? e - s : 0;
            }
            paint_window(c, GW_TTFT, kt, (uint32_t)gq, &pm, pc, npc, lo, q->arrival_ns, q->file);
            tt->times[kt * c->n_rows + GR_NETWORK] += (q->arrival_ns - lo) - before + (hi - t1);
        }
        tt->total[kt] = hi - lo;
        if (last < 1)
            continue;
        /* TPOT: [first token, last token), per output token after the first */
        gen_tab *tp = &c->tab[GW_TPOT];
        size_t kp = k[GW_TPOT]++;
        tp->req[kp] = (uint32_t)gq;
        tp->div[kp] = last;
        tp->total[kp] = tl - t1;
        paint_window(c, GW_TPOT, kp, (uint32_t)gq, &pm, pc, npc, t1, tl, q->file);
    }
    if (!st)
        st = sp_ana_quantiles(ttft, nf, &g->ttft);
    if (!st)
        st = sp_ana_quantiles(tpot, np, &g->tpot);
    if (!st)
        st = sp_ana_quantiles(itl, ni, &g->itl);
    if (!st)
        st = sp_ana_quantiles(e2e, c->n_gen, &g->e2e);
    if (!st)
        st = sp_ana_quantiles(outs, c->n_gen, &g->output_tokens_per_request);
    for (size_t gq = 0; gq < c->n_gen; gq++)
        g->output_tokens += c->out_tokens[gq];
    free(ttft);
    free(tpot);
    free(e2e);
    free(outs);
    free(itl);
    free(pm.v);
    free(pm.off);
    return st;
}

/* ---------- shares, quantiles and the shown rows ---------- */

/* A table request in the ranking of its figure, with DESIGN 8a's stable tie key. */
struct fig_key {
    uint64_t figure;
    sp_ev_idkey id;          /* the id's text, or its number (events_int.h, reqid.c) */
    uint64_t arrival;
    uint32_t file;
    uint32_t k;
};

static int fig_key_cmp(const void *x, const void *y)
{
    const struct fig_key *p = x, *q = y;
    if (p->figure != q->figure)
        return p->figure < q->figure ? -1 : 1;
    int s = sp_ev_id_key_cmp(&p->id, &q->id);
    if (s)
        return s;
    if (p->arrival != q->arrival)
        return p->arrival < q->arrival ? -1 : 1;
    return (p->file > q->file) - (p->file < q->file);
}

static sp_status rank_table(gen_ctx *c, gen_tab *t)
{
    const sp_ana *a = c->a;
    const sp_events *ev = a->ev;
    struct fig_key *fk = malloc((t->n ? t->n : 1) * sizeof *fk);
    if (!fk)
        return SP_ERR_NOMEM;
    for (size_t k = 0; k < t->n; k++) {
        /* DESIGN 4 ranks the table's own figure: TTFT, or TPOT (window / (tokens - 1), to the ns) */
        t->figure[k] = t->div ? sp_ana_div_round(t->total[k], t->div[k]) : t->total[k];
        const sp_ev_request *q = &ev->requests[a->reqs[c->gen_pos[t->req[k]]]];
        fk[k] = (struct fig_key){t->figure[k], sp_ev_id_key(ev, q), q->arrival_ns, q->file, (uint32_t)k};
    }
    if (t->n)
        qsort(fk, t->n, sizeof *fk, fig_key_cmp);
    for (size_t k = 0; k < t->n; k++)
        t->order[k] = fk[k].k;
    free(fk);
    return SP_OK;
}

/* Request k's part of a per-request time in the table's unit (TPOT: per output token). */
static long double per_unit(const gen_tab *t, size_t k, long double x)
{
    return t->div ? x / (long double)t->div[k] : x;
}

/* DESIGN 4's share of pXX of the per-request values x(k) (row time, padding...): their sum over the
 * window around the pXX rank of the figure, over the sum of the window's figures before rounding. */
static double share_of(const gen_tab *t, unsigned xx, const uint64_t *times, size_t stride, size_t row,
                       const double *pad0, const double *pad1)
{
    size_t lo, hi;
    sp_ana_share_window(t->n, xx, &lo, &hi);
    if (!lo)
        return 0.0;
    long double num = 0, den = 0;
    for (size_t r = lo; r <= hi; r++) {
        size_t k = t->order[r - 1];
        long double x = times ? (long double)times[k * stride + row] : 0;
        if (pad0)
            x += pad0[k];
        if (pad1)
            x += pad1[k];
        num += per_unit(t, k, x);
        den += per_unit(t, k, (long double)t->total[k]);
    }
    return den > 0 ? (double)(num / den) : 0.0;
}

static sp_status table_rows(gen_ctx *c, int w, sp_gen_table *out)
{
    gen_tab *t = &c->tab[w];
    sp_status st = rank_table(c, t);
    if (st)
        return st;
    out->count = t->n;
    uint64_t *col = malloc((t->n ? t->n : 1) * sizeof *col);
    if (!col)
        return SP_ERR_NOMEM;
    memcpy(col, t->figure, t->n * sizeof *col);
    st = sp_ana_quantiles(col, t->n, &out->value);
    int client = c->g->has_client;
    t->n_vis = 0;
    for (size_t r = 0; r < c->n_rows; r++) {
        uint64_t any = 0;
        for (size_t k = 0; k < t->n; k++)
            any |= t->times[k * c->n_rows + r];
        if (any || always_shown(w, r, client) || r == gen_other_row(c))
            t->vis[t->n_vis++] = (uint32_t)r;
    }
    out->rows = calloc(t->n_vis ? t->n_vis : 1, sizeof *out->rows);
    if (!out->rows)
        st = SP_ERR_NOMEM;
    out->n_rows = st ? 0 : t->n_vis;
    static const unsigned pct[3] = {50, 95, 99};
    for (size_t v = 0; v < out->n_rows && !st; v++) {
        size_t r = t->vis[v];
        sp_gen_row *row = &out->rows[v];
        row->name = c->row_name[r];
        for (size_t k = 0; k < t->n; k++) {
            uint64_t x = t->times[k * c->n_rows + r];
            row->total_ns += x;
            col[k] = t->div ? sp_ana_div_round(x, t->div[k]) : x;
        }
        st = sp_ana_quantiles(col, t->n, &row->q);
        double sh[3];
        for (int j = 0; j < 3; j++)
            sh[j] = share_of(t, pct[j], t->times, c->n_rows, r, NULL, NULL);
        row->share_p50 = sh[0];
        row->share_p95 = sh[1];
        row->share_p99 = sh[2];
    }
    free(col);
    t->pad_share[0] = share_of(t, 95, NULL, 0, 0, t->pad[0], NULL);
    t->pad_share[1] = share_of(t, 95, NULL, 0, 0, t->pad[1], NULL);
    out->padding_share_p95 = share_of(t, 95, NULL, 0, 0, t->pad[0], t->pad[1]);
    /* the other-steps part of `between steps` around p95: both shares are over the same window */
    double between = share_of(t, 95, t->times, c->n_rows, GR_BETWEEN, NULL, NULL);
    t->between_other = -1;
    if (between > 0)
        t->between_other = share_of(t, 95, t->between_busy, 1, 0, NULL, NULL) / between;
    return st;
}

/* ---------- the stage ---------- */

sp_status sp_ana_generation(sp_ana *a, char *err, size_t errlen)
{
    if (!sp_ana_has_generation(a))
        return SP_OK;
    sp_gen_summary *g = calloc(1, sizeof *g);
    if (!g)
        return SP_ERR_NOMEM;
    a->r->generation = g; /* owned by the report from here on */
    gen_ctx c;
    memset(&c, 0, sizeof c);
    c.a = a;
    c.g = g;
    sp_status st = name_rows(&c);
    if (!st)
        st = choose_requests(&c, err, errlen);
    if (!st) {
        g->requests = c.n_gen;
        for (size_t gq = 0; gq < c.n_gen && !g->has_client; gq++) {
            const sp_ev_request *q = &a->ev->requests[a->reqs[c.gen_pos[gq]]];
            g->has_client =
                sp_ana_has_client(a->ev, q) && sp_ev_cold(a->ev, q)->client_first_token_ns != SP_TIME_NONE;
        }
        st = sp_gen_busy_windows(&c);
    }
    if (!st)
        st = fill_tables(&c);
    if (!st)
        st = sp_gen_step_figures(&c);
    if (!st)
        st = table_rows(&c, GW_TTFT, &g->ttft_table);
    if (!st)
        st = table_rows(&c, GW_TPOT, &g->tpot_table);
    if (!st)
        st = sp_gen_client_figures(&c);
    if (!st)
        st = sp_gen_cost_figures(&c);
    if (!st)
        st = sp_gen_verdict(&c, GW_TTFT);
    if (!st)
        st = sp_gen_verdict(&c, GW_TPOT);
    if (!st)
        st = sp_gen_limits(&c);
    ctx_free(&c);
    return st;
}
