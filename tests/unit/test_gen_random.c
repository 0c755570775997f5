/* The generation tables against a naive reference on a few hundred random small generation traces: a
 * painter that visits every integer ns of each request's TTFT and TPOT windows and applies the rules of
 * docs/generation.md directly (step windows by the request's phase and the device activity in them,
 * its spans, the time between its steps, other), then every row's total and per-request percentiles,
 * the tables' figures and shares by sorting and summing everything. Each request's rows must add up to
 * its TTFT and to its TPOT x (output tokens - 1); ITL is checked against the pooled token gaps. */
#include <stdlib.h>
#include <string.h>

#include "ev_build.h"
#include "testlib.h"
#include "xorshift_testutil.h"

#define MAXR 8
#define MAXSTEP 12
#define MAXSP 16

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { return xs64_next(&rng_state); }
static uint64_t rin(uint64_t lo, uint64_t hi) { return xs64_in(&rng_state, lo, hi); } /* inclusive */

/* rows of the naive painter, named as the report names them */
enum { N_QUEUE, N_PRE, N_PK, N_PG, N_PH, N_PD, N_DK, N_DG, N_DH, N_DD, N_BETWEEN, N_DETOK, N_STREAM, N_OTHER, NROW };
static const char *const row_names[NROW] = {"queue", "preprocess", "prefill kernel", "prefill gap", "prefill h2d",
                                            "prefill d2h", "decode kernel", "decode gap", "decode h2d", "decode d2h",
                                            "between steps", "detokenize", "stream", "other"};

typedef struct {
    uint64_t s, e;
    int row;
} nspan;

typedef struct {
    uint64_t arr, done;
    int nsp;
    nspan sp[MAXSP];
    int ntok;
    uint64_t tok[MAXSTEP + 1];
    int has_first;
} nreq;

typedef struct {
    uint64_t s, e;
    int nmem;
    int mem[MAXR];
    int phase[MAXR];  /* sp_ev_phase */
    uint32_t tokens[MAXR];
    int64_t pad;
    uint64_t ks, ke;  /* kernel */
    uint64_t hs, he;  /* h2d (he == hs: none) */
    uint64_t ds, de;  /* d2h */
} nstep;

static int nr, ns;
static nreq R[MAXR];
static nstep S[MAXSTEP];

/* Sequential steps; each request joins at a random step with a prefill (sometimes in two chunks),
 * then decodes in some later steps (skipping some, so other steps run between its own), with a stream
 * span and a token after each of its steps that produces one. */
static void gen(void)
{
    nr = (int)rin(1, MAXR);
    ns = (int)rin(1, MAXSTEP);
    uint64_t t = rin(20, 60);
    for (int k = 0; k < ns; k++) {
        nstep *p = &S[k];
        memset(p, 0, sizeof *p);
        p->s = t;
        p->e = t + rin(10, 60);
        p->ks = rin(p->s, p->e);
        p->ke = rin(p->ks, p->e);
        if (rnd() % 2) {
            p->hs = p->s;
            p->he = rin(p->s, p->ks);
        } else {
            p->hs = p->he = p->s;
        }
        if (rnd() % 3 == 0) {
            p->ds = rin(p->ke, p->e);
            p->de = rin(p->ds, p->e);
        } else {
            p->ds = p->de = p->e;
        }
        t = p->e + rin(0, 30); /* the gap to the next step holds the stream writes */
    }
    for (int i = 0; i < nr; i++) {
        nreq *q = &R[i];
        memset(q, 0, sizeof *q);
        int first = (int)rin(0, (uint64_t)ns - 1);
        int chunked = first + 1 < ns && rnd() % 4 == 0;
        q->arr = S[first].s > 10 ? rin(S[first].s > 40 ? S[first].s - 40 : 0, S[first].s - 1) : 0;
        uint64_t pre_e = rin(q->arr, S[first].s);
        if (pre_e > q->arr)
            q->sp[q->nsp++] = (nspan){q->arr, pre_e, N_PRE};
        if (rnd() % 4) /* sometimes the queue is not recorded: other */
            q->sp[q->nsp++] = (nspan){pre_e, S[first].s, N_QUEUE};
        int last_step = first;
        for (int k = first; k < ns; k++) {
            int in = k == first || (k == first + 1 && chunked) || rnd() % 3 != 0;
            if (!in)
                continue;
            int ph = k == first ? (chunked ? SP_EV_PHASE_PREFILL_CHUNK : SP_EV_PHASE_PREFILL)
                     : k == first + 1 && chunked ? SP_EV_PHASE_PREFILL
                                                 : SP_EV_PHASE_DECODE;
            nstep *p = &S[k];
            p->mem[p->nmem] = i;
            p->phase[p->nmem] = ph;
            p->tokens[p->nmem++] = ph == SP_EV_PHASE_DECODE ? 1 : (uint32_t)rin(2, 50);
            last_step = k;
            if (ph == SP_EV_PHASE_PREFILL_CHUNK)
                continue;
            /* the token leaves after a stream write (or, at random, at the step's end) */
            uint64_t next = k + 1 < ns ? S[k + 1].s : p->e + 30;
            uint64_t tk = rnd() % 4 ? rin(p->e, next) : p->e;
            if (tk > p->e) {
                uint64_t d = rin(p->e, tk);
                if (d > p->e && rnd() % 2)
                    q->sp[q->nsp++] = (nspan){p->e, d, N_DETOK};
                if (tk > d)
                    q->sp[q->nsp++] = (nspan){d, tk, N_STREAM};
            }
            q->tok[q->ntok++] = tk;
            if (rnd() % 5 == 0 || q->nsp >= MAXSP - 3)
                break;
        }
        uint64_t lastt = q->ntok ? q->tok[q->ntok - 1] : S[last_step].e;
        q->done = lastt + rin(0, 20);
        q->has_first = q->ntok > 0;
    }
    for (int k = 0; k < ns; k++) {
        uint64_t eff = 0;
        for (int m = 0; m < S[k].nmem; m++)
            eff += S[k].tokens[m];
        S[k].pad = (int64_t)(eff + rin(0, 8));
    }
}

static sp_events *build(void)
{
    sp_events *ev = eb_new();
    uint32_t ri[MAXR];
    char id[16];
    for (int i = 0; i < nr; i++) {
        snprintf(id, sizeof id, "g%02d", i);
        ri[i] = eb_req(ev, id, R[i].arr, R[i].done);
        static const char *const span_names[NROW] = {[N_QUEUE] = "queue", [N_PRE] = "preprocess",
                                                     [N_DETOK] = "detokenize", [N_STREAM] = "stream"};
        for (int k = 0; k < R[i].nsp; k++)
            if (R[i].sp[k].e > R[i].sp[k].s)
                eb_span(ev, ri[i], span_names[R[i].sp[k].row], R[i].sp[k].s, R[i].sp[k].e);
        for (int k = 0; k < R[i].ntok; k++)
            eb_check(sp_ev_add_token(ev, ri[i], (uint64_t)k, R[i].tok[k]), "add_token");
    }
    for (int k = 0; k < ns; k++) {
        nstep *p = &S[k];
        uint32_t mem[MAXR];
        uint8_t ph[MAXR];
        for (int m = 0; m < p->nmem; m++) {
            mem[m] = ri[p->mem[m]];
            ph[m] = (uint8_t)p->phase[m];
        }
        int64_t eff = 0;
        for (int m = 0; m < p->nmem; m++)
            eff += p->tokens[m];
        uint32_t b = eb_batch(ev, k + 1, p->s, p->e, eff, p->pad, mem, (size_t)p->nmem);
        eb_check(sp_ev_set_step(ev, b, ph, p->tokens, (size_t)p->nmem, -1, 0), "set_step");
        if (p->ke > p->ks)
            eb_act(ev, SP_ACT_KERNEL, b, p->ks, p->ke);
        if (p->he > p->hs)
            eb_act(ev, SP_ACT_H2D, b, p->hs, p->he);
        if (p->de > p->ds)
            eb_act(ev, SP_ACT_D2H, b, p->ds, p->de);
    }
    return ev;
}

/* ---- the naive painter ---- */

static int phase_in(int k, int i)
{
    for (int m = 0; m < S[k].nmem; m++)
        if (S[k].mem[m] == i)
            return S[k].phase[m];
    return -1;
}

/* The row of ns t of request i in window w (0 TTFT, 1 TPOT); *pad_w = the step's waste at a kernel ns. */
static int naive_row(int i, uint64_t t, double *pad_w)
{
    const nreq *q = &R[i];
    *pad_w = 0;
    uint64_t first_s = UINT64_MAX, last_e = 0;
    for (int k = 0; k < ns; k++) {
        int ph = phase_in(k, i);
        if (ph < 0)
            continue;
        if (S[k].s < first_s)
            first_s = S[k].s;
        if (S[k].e > last_e)
            last_e = S[k].e;
        if (t < S[k].s || t >= S[k].e)
            continue;
        int base = ph == SP_EV_PHASE_DECODE ? N_DK : N_PK;
        if (t >= S[k].ks && t < S[k].ke) {
            uint64_t eff = 0;
            for (int m = 0; m < S[k].nmem; m++)
                eff += S[k].tokens[m];
            *pad_w = 1.0 - (double)eff / (double)S[k].pad; /* DESIGN 5 */
            return base;
        }
        if (t >= S[k].hs && t < S[k].he)
            return base + 2;
        if (t >= S[k].ds && t < S[k].de)
            return base + 3;
        return base + 1;
    }
    for (int k = 0; k < q->nsp; k++) /* spans are disjoint by construction */
        if (t >= q->sp[k].s && t < q->sp[k].e)
            return q->sp[k].row;
    if (t >= first_s && t < last_e)
        return N_BETWEEN;
    return N_OTHER;
}

static uint64_t div_round(uint64_t x, uint64_t d)
{
    return (2 * x + d) / (2 * d);
}

static int u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t pick(uint64_t *v, int n, unsigned xx)
{
    qsort(v, (size_t)n, sizeof *v, u64cmp);
    int k = (int)((xx * (unsigned)n + 99) / 100);
    return v[(k < 1 ? 1 : k) - 1];
}

/* per table: requests in it, their rows, figure and divisor */
static int tn[2];
static int treq[2][MAXR];
static uint64_t trow[2][MAXR][NROW];
static uint64_t twin[2][MAXR], tdiv[2][MAXR];
static double tpad[2][MAXR];

static void naive_tables(void)
{
    tn[0] = tn[1] = 0;
    for (int i = 0; i < nr; i++) {
        const nreq *q = &R[i];
        if (!q->has_first)
            continue;
        for (int w = 0; w < 2; w++) {
            if (w == 1 && q->ntok < 2)
                continue;
            uint64_t ws = w == 0 ? q->arr : q->tok[0], we = w == 0 ? q->tok[0] : q->tok[q->ntok - 1];
            int k = tn[w]++;
            treq[w][k] = i;
            memset(trow[w][k], 0, sizeof trow[w][k]);
            tpad[w][k] = 0;
            for (uint64_t t = ws; t < we; t++) {
                double pw;
                int row = naive_row(i, t, &pw);
                trow[w][k][row]++;
                tpad[w][k] += pw;
            }
            twin[w][k] = we - ws;
            tdiv[w][k] = w == 0 ? 1 : (uint64_t)q->ntok - 1;
            uint64_t sum = 0;
            for (int r = 0; r < NROW; r++)
                sum += trow[w][k][r];
            CHECK_EQ_U64(sum, twin[w][k]); /* rows add up to TTFT, and to TPOT x (tokens - 1) */
        }
    }
}

static int ord_w;
static int ord_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    uint64_t fx = div_round(twin[ord_w][x], tdiv[ord_w][x]), fy = div_round(twin[ord_w][y], tdiv[ord_w][y]);
    if (fx != fy)
        return fx < fy ? -1 : 1;
    return treq[ord_w][x] - treq[ord_w][y]; /* ids g00, g01, ... sort like their numbers */
}

/* DESIGN 4's share window, widened alternately below then above until it holds min(20, n). */
static void window(int n, unsigned xx, int *lo, int *hi)
{
    int l = (int)(((xx - 1) * (unsigned)n + 99) / 100), h = xx >= 99 ? n : (int)(((xx + 1) * (unsigned)n + 99) / 100);
    l = l < 1 ? 1 : l;
    h = h > n ? n : h;
    int need = n < 20 ? n : 20, below = 1;
    while (h - l + 1 < need) {
        if (below ? l > 1 : h == n)
            l--;
        else
            h++;
        below = !below;
    }
    *lo = l;
    *hi = h;
}

static const sp_gen_row *row_named(const sp_gen_table *t, const char *name)
{
    for (size_t i = 0; i < t->n_rows; i++)
        if (!strcmp(t->rows[i].name, name))
            return &t->rows[i];
    return NULL;
}

static void check_table(int w, const sp_gen_table *t, int iter)
{
    int n = tn[w];
    CHECK_EQ_U64(t->count, (uint64_t)n);
    if (!n)
        return;
    int order[MAXR];
    for (int k = 0; k < n; k++)
        order[k] = k;
    ord_w = w;
    qsort(order, (size_t)n, sizeof *order, ord_cmp);
    uint64_t v[MAXR];
    for (int k = 0; k < n; k++)
        v[k] = div_round(twin[w][k], tdiv[w][k]);
    CHECK_EQ_U64(t->value.p95_ns, pick(v, n, 95));
    CHECK_EQ_U64(t->value.max_ns, v[n - 1]);
    int lo, hi;
    window(n, 95, &lo, &hi);
    long double den = 0;
    for (int r = lo; r <= hi; r++)
        den += (long double)twin[w][order[r - 1]] / (long double)tdiv[w][order[r - 1]];
    for (int row = 0; row < NROW; row++) {
        uint64_t total = 0;
        long double num = 0;
        for (int k = 0; k < n; k++) {
            total += trow[w][k][row];
            v[k] = div_round(trow[w][k][row], tdiv[w][k]);
        }
        for (int r = lo; r <= hi; r++)
            num += (long double)trow[w][order[r - 1]][row] / (long double)tdiv[w][order[r - 1]];
        const sp_gen_row *g = row_named(t, row_names[row]);
        sp_test_checks++;
        if (!g ? total != 0
               : g->total_ns != total || g->q.p95_ns != pick(v, n, 95) || g->q.p50_ns != pick(v, n, 50) ||
                     fabs(g->share_p95 - (double)(num / den)) > 1e-9) {
            sp_test_failures++;
            fprintf(stderr, "iteration %d, %s table, row %s: total %llu vs %llu, share %.9f vs %.9f\n", iter,
                    w ? "TPOT" : "TTFT", row_names[row], g ? (unsigned long long)g->total_ns : 0ull,
                    (unsigned long long)total, g ? g->share_p95 : 0.0, (double)(num / den));
        }
    }
    long double pad = 0;
    for (int r = lo; r <= hi; r++)
        pad += tpad[w][order[r - 1]] / (long double)tdiv[w][order[r - 1]];
    CHECK_NEAR(t->padding_share_p95, (double)(pad / den), 1e-9);
}

static void check_one(int iter)
{
    gen();
    sp_events *ev = build();
    sp_report *r = eb_analyze(ev, NULL);
    naive_tables();
    const sp_gen_summary *g = r->generation;
    CHECK(g != NULL);
    if (g) {
        check_table(0, &g->ttft_table, iter);
        check_table(1, &g->tpot_table, iter);
        uint64_t gaps[MAXR * (MAXSTEP + 1)];
        int ng = 0;
        for (int i = 0; i < nr; i++)
            for (int k = 1; k < R[i].ntok; k++)
                gaps[ng++] = R[i].tok[k] - R[i].tok[k - 1];
        CHECK_EQ_U64(g->itl.count, (uint64_t)ng);
        if (ng)
            CHECK_EQ_U64(g->itl.p95_ns, pick(gaps, ng, 95));
    }
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

int main(void)
{
    for (int iter = 0; iter < 300; iter++)
        check_one(iter);
    return sp_test_done("test_gen_random");
}
