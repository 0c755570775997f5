/* sp_analyze against a naive reference on a few hundred random small traces: a per-request painter
 * that visits every integer ns of each request's life and applies the rules of docs/analysis.md
 * directly, percentiles by sorting everything, shares by summing everything over a window built with
 * a closed-form widening, and a per-ns device-state painter for the cost split. Traces include
 * multi-batch requests, overlapping batches, spans and activity, activity tied by window, and client
 * merges. */
#include <stdlib.h>
#include <string.h>

#include "ev_build.h"
#include "share_window_ref.h"
#include "testlib.h"
#include "xorshift_testutil.h"

#define MAXR 24
#define MAXB 8
#define MAXA 24
#define MAXS 4
#define TMAX 400

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rin(uint64_t lo, uint64_t hi) { return xs64_in(&rng_state, lo, hi); } /* inclusive */

static const char *const stage_names[] = {"preprocess", "queue", "postprocess", "auth", "tok"};

typedef struct {
    uint64_t arr, done;
    int client;
    uint64_t intended, send, cdone;
    int64_t tokens;
    int nspans;
    int sname[MAXS];
    uint64_t ss[MAXS], se[MAXS];
    uint32_t idx;
} greq;

typedef struct {
    uint64_t s, e;
    int64_t eff, pad;
    uint32_t dev;
    int nmem;
    int mem[MAXR];
    uint32_t idx;
} gbatch;

typedef struct {
    uint8_t kind;
    int batch; /* -1 none */
    uint64_t s, e;
    uint32_t dev;
} gact;

static int nr, nb, na;
static greq R[MAXR];
static gbatch B[MAXB];
static gact A[MAXA];

/* reference stage ids: 0 queue 1 preprocess 2 h2d 3 kernel 4 gap 5 d2h 6 postprocess 7 network
 * 8 auth 9 tok 10 other */
#define NST 11
static const char *const ref_names[NST] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h",
                                           "postprocess", "network", "auth", "tok", "other"};
static int ref_of_stage(int sname)
{
    static const int map[] = {1, 0, 6, 8, 9};
    return map[sname];
}

static double waste_of(int b)
{
    if (B[b].eff < 0 || B[b].pad <= 0)
        return 0;
    double w = 1.0 - (double)B[b].eff / (double)B[b].pad;
    return w < 0 ? 0 : w > 1 ? 1 : w;
}

static int act_label(uint8_t k)
{
    if (k == SP_ACT_KERNEL || k == SP_ACT_D2D || k == SP_ACT_MEMSET)
        return 0;
    if (k == SP_ACT_H2D)
        return 1;
    if (k == SP_ACT_D2H)
        return 2;
    return -1;
}

static int member(int b, int r)
{
    for (int k = 0; k < B[b].nmem; k++)
        if (B[b].mem[k] == r)
            return 1;
    return 0;
}

static uint64_t times[MAXR][NST];
static double pad_t[MAXR];
static uint64_t life[MAXR];

static void naive_partition(void)
{
    memset(times, 0, sizeof times);
    memset(pad_t, 0, sizeof pad_t);
    for (int r = 0; r < nr; r++) {
        const greq *q = &R[r];
        uint64_t lo = q->arr, hi = q->done;
        if (q->client) {
            lo = q->send < lo ? q->send : lo;
            hi = q->cdone > hi ? q->cdone : hi;
        }
        life[r] = hi - lo;
        /* first/last effective batch ns for the between-batch queue */
        uint64_t fs = UINT64_MAX, le = 0;
        for (int b = 0; b < nb; b++) {
            if (!member(b, r))
                continue;
            uint64_t s = B[b].s > q->arr ? B[b].s : q->arr, e = B[b].e < q->done ? B[b].e : q->done;
            if (e > s) {
                fs = s < fs ? s : fs;
                le = e > le ? e : le;
            }
        }
        for (uint64_t t = lo; t < hi; t++) {
            /* after done: network; before the arrival (t >= lo only with a client record): a span's
             * where one covers t (docs/analysis.md, "End-to-end"), else network */
            if (t >= q->done) {
                times[r][7]++;
                continue;
            }
            /* the earliest-started (then lowest index) batch window of this request holding t */
            int wb = -1;
            for (int b = 0; b < nb && t >= q->arr; b++) {
                if (!member(b, r) || t < B[b].s || t >= B[b].e)
                    continue;
                if (wb < 0 || B[b].s < B[wb].s || (B[b].s == B[wb].s && b < wb))
                    wb = b;
            }
            if (wb >= 0) {
                int best = 3;
                for (int k = 0; k < na; k++) {
                    int lbl = act_label(A[k].kind);
                    if (lbl < 0 || t < A[k].s || t >= A[k].e)
                        continue;
                    if (A[k].batch == wb || (A[k].batch < 0 && A[k].dev == B[wb].dev))
                        best = lbl < best ? lbl : best;
                }
                static const int row[4] = {3, 2, 5, 4};
                times[r][row[best]]++;
                if (best == 0)
                    pad_t[r] += waste_of(wb);
                continue;
            }
            /* spans: latest start, then earliest end, then smaller name */
            int ws = -1;
            for (int k = 0; k < q->nspans; k++) {
                if (t < q->ss[k] || t >= q->se[k])
                    continue;
                if (ws < 0 || q->ss[k] > q->ss[ws] ||
                    (q->ss[k] == q->ss[ws] &&
                     (q->se[k] < q->se[ws] ||
                      (q->se[k] == q->se[ws] && strcmp(stage_names[q->sname[k]], stage_names[q->sname[ws]]) < 0))))
                    ws = k;
            }
            if (ws >= 0)
                times[r][ref_of_stage(q->sname[ws])]++;
            else if (t < q->arr)
                times[r][7]++;
            else if (fs != UINT64_MAX && t >= fs && t < le)
                times[r][0]++;
            else
                times[r][10]++;
        }
    }
}

static int u64cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t naive_pct(const uint64_t *v, int n, unsigned xx)
{
    uint64_t s[MAXR];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, u64cmp);
    /* smallest k with k >= xx n / 100 */
    int k = 1;
    while ((uint64_t)k * 100 < (uint64_t)xx * (uint64_t)n)
        k++;
    return s[k - 1];
}

/* Requests by life; equal lives by the documented stable key (docs/analysis.md, "Ties"): the id
 * text ("r<index>", compared as text, so "r10" < "r2"), then arrival. */
static int order[MAXR];
static int ord_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    if (life[x] != life[y])
        return life[x] < life[y] ? -1 : 1;
    char ix[16], iy[16];
    snprintf(ix, sizeof ix, "r%d", x);
    snprintf(iy, sizeof iy, "r%d", y);
    return strcmp(ix, iy);
}

static double naive_share(unsigned xx, int stage, const double *per)
{
    size_t lo, hi;
    naive_window((size_t)nr, xx, &lo, &hi);
    double num = 0, den = 0;
    for (int k = (int)lo; k <= (int)hi; k++) {
        int r = order[k - 1];
        num += per ? per[r] : (double)times[r][stage];
        den += (double)life[r];
    }
    return den > 0 ? num / den : 0;
}

/* per-ns device states over the cost window: useful, padding, copies, gap, no_batch */
static void naive_cost(double st[5], uint64_t *window, int *ndev)
{
    uint64_t w0 = UINT64_MAX, w1 = 0;
    for (int r = 0; r < nr; r++) {
        w0 = R[r].arr < w0 ? R[r].arr : w0;
        w1 = R[r].done > w1 ? R[r].done : w1;
    }
    int devs[2] = {0, 0};
    for (int k = 0; k < na; k++) {
        if (A[k].kind == SP_ACT_SYNC)
            continue;
        devs[A[k].dev] = 1;
        w0 = A[k].s < w0 ? A[k].s : w0;
        w1 = A[k].e > w1 ? A[k].e : w1;
    }
    for (int b = 0; b < nb; b++)
        devs[B[b].dev] = 1;
    memset(st, 0, 5 * sizeof *st);
    *ndev = devs[0] + devs[1];
    *window = w0 == UINT64_MAX ? 0 : w1 - w0;
    if (w0 == UINT64_MAX)
        return;
    for (uint32_t d = 0; d < 2; d++) {
        if (!devs[d])
            continue;
        for (uint64_t t = w0; t < w1; t++) {
            int kern = 0, copy = 0, wb = -1;
            for (int k = 0; k < na; k++) {
                if (A[k].dev != d || A[k].kind == SP_ACT_SYNC || t < A[k].s || t >= A[k].e)
                    continue;
                if (act_label(A[k].kind) == 0)
                    kern = 1;
                else
                    copy = 1;
            }
            for (int b = 0; b < nb; b++) {
                if (B[b].dev != d || t < B[b].s || t >= B[b].e)
                    continue;
                if (wb < 0 || B[b].s < B[wb].s || (B[b].s == B[wb].s && b < wb))
                    wb = b;
            }
            if (kern) {
                double w = wb >= 0 ? waste_of(wb) : 0;
                st[1] += w;
                st[0] += 1 - w;
            } else if (copy)
                st[2] += 1;
            else if (wb >= 0)
                st[3] += 1;
            else
                st[4] += 1;
        }
    }
}

static void gen(void)
{
    nr = (int)rin(0, MAXR - 4);
    nb = (int)rin(0, MAXB);
    na = (int)rin(0, MAXA);
    for (int r = 0; r < nr; r++) {
        greq *q = &R[r];
        memset(q, 0, sizeof *q);
        q->arr = rin(10, 250);
        q->done = q->arr + rin(0, 120);
        q->tokens = rin(0, 4) ? (int64_t)rin(1, 50) : -1;
        q->client = rin(0, 3) == 0;
        if (q->client) {
            q->send = q->arr - rin(0, 8);
            q->intended = q->send - rin(0, 3);
            q->cdone = q->done + rin(0, 8);
        }
        q->nspans = (int)rin(0, MAXS);
        for (int k = 0; k < q->nspans; k++) {
            q->sname[k] = (int)rin(0, 4);
            q->ss[k] = q->arr + rin(0, 130) - 5;
            q->se[k] = q->ss[k] + rin(0, 60);
        }
    }
    for (int b = 0; b < nb; b++) {
        gbatch *g = &B[b];
        g->s = rin(20, 330);
        g->e = g->s + rin(0, 50);
        g->eff = rin(0, 3) ? (int64_t)rin(0, 40) : -1;
        g->pad = rin(0, 3) ? (int64_t)rin(1, 60) : -1;
        g->dev = (uint32_t)rin(0, 1);
        g->nmem = 0;
        for (int r = 0; r < nr; r++)
            if (rin(0, 2) == 0)
                g->mem[g->nmem++] = r;
    }
    for (int k = 0; k < na; k++) {
        gact *x = &A[k];
        static const uint8_t kinds[] = {SP_ACT_KERNEL, SP_ACT_KERNEL, SP_ACT_KERNEL, SP_ACT_H2D, SP_ACT_D2H,
                                        SP_ACT_D2D, SP_ACT_MEMSET, SP_ACT_COPY_OTHER, SP_ACT_SYNC};
        x->kind = kinds[rin(0, 8)];
        x->s = rin(15, 370);
        x->e = x->s + rin(0, 40);
        x->dev = (uint32_t)rin(0, 1);
        x->batch = nb && rin(0, 1) ? (int)rin(0, (uint64_t)nb - 1) : -1;
    }
}

static sp_events *build(void)
{
    sp_events *ev = eb_new();
    for (int r = 0; r < nr; r++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", r);
        R[r].idx = eb_req_f(ev, 0, id, R[r].arr, R[r].done, R[r].tokens);
        if (R[r].client)
            eb_client(ev, id, R[r].intended, R[r].send, R[r].cdone);
    }
    for (int r = 0; r < nr; r++)
        for (int k = 0; k < R[r].nspans; k++)
            eb_span(ev, R[r].idx, stage_names[R[r].sname[k]], R[r].ss[k], R[r].se[k]);
    for (int b = 0; b < nb; b++) {
        uint32_t m[MAXR];
        for (int k = 0; k < B[b].nmem; k++)
            m[k] = R[B[b].mem[k]].idx;
        B[b].idx = eb_batch_f(ev, 0, b, B[b].s, B[b].e, B[b].eff, B[b].pad, B[b].dev, m, (size_t)B[b].nmem);
    }
    for (int k = 0; k < na; k++)
        eb_act_full(ev, A[k].kind, A[k].batch < 0 ? SP_EV_NONE : B[A[k].batch].idx, A[k].s, A[k].e,
                    A[k].kind == SP_ACT_KERNEL ? "k" : NULL, 0, A[k].dev, 0, 0, 0);
    return ev;
}

static void check_one(int iter)
{
    gen();
    sp_events *ev = build();
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    opt.price_per_hour = 7.2;
    sp_report *r = eb_analyze(ev, &opt);
    naive_partition();
    int fails_before = sp_test_failures;
    CHECK_EQ_U64(r->request_count, nr);
    int has_net = 0, present[NST] = {0};
    for (int q = 0; q < nr; q++) {
        has_net |= R[q].client;
        for (int k = 0; k < R[q].nspans; k++)
            present[ref_of_stage(R[q].sname[k])] = 1;
    }
    /* rows: the 7 fixed, network when merged, named that occur, other */
    size_t want_rows = 8 + (size_t)has_net + (size_t)present[8] + (size_t)present[9];
    CHECK_EQ_U64(r->n_stages, want_rows);
    for (int i = 0; i < nr; i++)
        order[i] = i;
    qsort(order, (size_t)nr, sizeof *order, ord_cmp);
    for (int s = 0; s < NST; s++) {
        const sp_stage_row *row = eb_row(r, ref_names[s]);
        if (!row) {
            int must = s <= 6 || s == 10 || (s == 7 && has_net) || (s >= 8 && s <= 9 && present[s]);
            CHECK(!must);
            continue;
        }
        uint64_t col[MAXR], total = 0;
        for (int q = 0; q < nr; q++) {
            col[q] = times[q][s];
            total += col[q];
        }
        if (row->total_ns != total) fprintf(stderr, "  stage %s\n", ref_names[s]);
        CHECK_EQ_U64(row->total_ns, total);
        if (nr) {
            CHECK_EQ_U64(row->q.p50_ns, naive_pct(col, nr, 50));
            CHECK_EQ_U64(row->q.p95_ns, naive_pct(col, nr, 95));
            CHECK_EQ_U64(row->q.p99_ns, naive_pct(col, nr, 99));
            CHECK_NEAR(row->share_p50, naive_share(50, s, NULL), 1e-9);
            CHECK_NEAR(row->share_p95, naive_share(95, s, NULL), 1e-9);
            CHECK_NEAR(row->share_p99, naive_share(99, s, NULL), 1e-9);
        }
    }
    /* shares sum to 1 */
    if (nr) {
        double sum = 0;
        for (size_t s = 0; s < r->n_stages; s++)
            sum += r->stages[s].share_p95;
        int any = 0;
        for (int q = 0; q < nr; q++)
            any |= life[q] > 0;
        if (any)
            CHECK_NEAR(sum, 1.0, 1e-9);
        CHECK_NEAR(r->padding.share_p95, naive_share(95, 0, pad_t), 1e-9);
        /* end-to-end is the life the stages partition (client-observed where a client record
         * joined); the server's own latency is reported beside it */
        uint64_t lat[MAXR];
        for (int q = 0; q < nr; q++)
            lat[q] = life[q];
        CHECK_EQ_U64(r->latency.p95_ns, naive_pct(lat, nr, 95));
        for (int q = 0; q < nr; q++)
            lat[q] = R[q].done - R[q].arr;
        CHECK_EQ_U64(r->server_latency.p95_ns, naive_pct(lat, nr, 95));
    }
    double pt = 0;
    for (int q = 0; q < nr; q++)
        pt += pad_t[q];
    CHECK(llabs((long long)r->padding.padding_ns_total - (long long)llround(pt)) <= 1);
    /* cost states */
    double st[5];
    uint64_t window;
    int ndev;
    naive_cost(st, &window, &ndev);
    CHECK_EQ_U64(r->cost.window_ns, window);
    double devns = (double)window * (ndev ? ndev : 1);
    if (window)
        for (int s = 0; s < 5; s++)
            CHECK_NEAR(r->cost.by_state_share[s], (ndev ? st[s] : (s == 4 ? (double)window : 0)) / devns, 1e-9);
    CHECK_NEAR(r->cost.bill, 7.2 * (double)window / 3.6e12, 1e-15);
    if (sp_test_failures != fails_before)
        fprintf(stderr, "  (random trace %d: %d requests, %d batches, %d activities)\n", iter, nr, nb, na);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

int main(void)
{
    for (int i = 0; i < 400; i++)
        check_one(i);
    return sp_test_done("test_analyze_random");
}
