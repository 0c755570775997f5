/* HTA's rounding under hta_compat (docs/analysis.md section 4, "HTA rounding"): events whose rounded
 * end falls 1 us before their start (sp_ev_activity.hta_end_early) against a reference written the
 * way HTA computes with pandas, on random traces in whole us: its interval merge (sort by start, a new
 * group where a start exceeds the running maximum of all earlier ends, each group from its minimum
 * start to its maximum end), kernel_time / idle / compute / non_compute from the merged sums, HTA's
 * three assertions, and the per-stream idle breakdown measured from the previous event's end. The
 * analyzer computes the merge as a streaming sweep; the reference uses arrays of running maxima and
 * group ids, as HTA does. */
#include <stdlib.h>
#include <string.h>

#include "ev_build.h"
#include "testlib.h"
#include "xorshift_testutil.h"

#define NA 30

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { return xs64_next(&rng); }

typedef struct ract {
    uint8_t kind, flag, nccl;
    int64_t s, e;        /* e: HTA's end (s - 1000 when flagged) */
    int64_t stream;
    uint64_t corr;
    int64_t launch;      /* launch call start, -1 without one */
} ract;

static ract A[NA];
static int na;
static int n_valid, n_invalid;   /* both outcomes must occur, or the test proves little */

/* The order sp_ev_finish gives: start, stored end (a flagged event stores end = start), flagged first,
 * kind. */
static int ord(const void *pa, const void *pb)
{
    const ract *x = &A[*(const int *)pa], *y = &A[*(const int *)pb];
    int64_t xe = x->flag ? x->s : x->e, ye = y->flag ? y->s : y->e;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    if (xe != ye)
        return xe < ye ? -1 : 1;
    if (x->flag != y->flag)
        return x->flag ? -1 : 1;
    return (x->kind > y->kind) - (x->kind < y->kind);
}

/* HTA's merge over events idx[0..n) (sorted): the cumulative maximum of earlier ends, group ids by a
 * cumulative sum of "start > that maximum", then min start / max end per group. */
static void hta_merge(const int *idx, int n, int64_t *merged, int64_t *first, int64_t *last)
{
    int64_t cummax[NA];
    int group[NA];
    for (int i = 0; i < n; i++) {
        cummax[i] = i == 0 ? INT64_MIN : (cummax[i - 1] > A[idx[i - 1]].e ? cummax[i - 1] : A[idx[i - 1]].e);
        group[i] = (i == 0 ? 0 : group[i - 1]) + (i > 0 && A[idx[i]].s > cummax[i]);
    }
    *merged = 0;
    *first = *last = 0;
    int ngroups = n ? group[n - 1] + 1 : 0;
    for (int gi = 0; gi < ngroups; gi++) {
        int64_t gs = INT64_MAX, ge = INT64_MIN;
        for (int i = 0; i < n; i++)
            if (group[i] == gi) {
                gs = A[idx[i]].s < gs ? A[idx[i]].s : gs;
                ge = A[idx[i]].e > ge ? A[idx[i]].e : ge;
            }
        *merged += ge - gs;
        if (gi == 0)
            *first = gs;
        if (gi == ngroups - 1)
            *last = ge;
    }
}

static void one(int iter)
{
    static const uint8_t kinds[] = {SP_ACT_KERNEL, SP_ACT_KERNEL, SP_ACT_KERNEL, SP_ACT_H2D, SP_ACT_MEMSET,
                                    SP_ACT_SYNC};
    na = 1 + (int)(rnd() % NA);
    for (int i = 0; i < na; i++) {
        ract *x = &A[i];
        x->kind = kinds[rnd() % 6];
        x->s = (int64_t)(rnd() % 120) * 1000;
        int64_t dur = rnd() % 3 ? 0 : (int64_t)(1 + rnd() % 40) * 1000;
        x->flag = dur == 0 && rnd() % 3 != 0;   /* most zero-length events are sub-us ones HTA gives -1 us */
        x->e = x->flag ? x->s - 1000 : x->s + dur;
        x->stream = (int64_t)(rnd() % 3);
        if (x->kind == SP_ACT_SYNC && rnd() % 4 == 0)
            x->stream = -1;
        x->nccl = x->kind == SP_ACT_KERNEL && rnd() % 5 == 0;
        x->corr = (uint64_t)i + 1;
        x->launch = rnd() % 2 ? (int64_t)(rnd() % 130) * 1000 : -1;
    }
    sp_events *ev = eb_new();
    for (int i = 0; i < na; i++) {
        eb_act_full(ev, A[i].kind, SP_EV_NONE, (uint64_t)A[i].s, (uint64_t)(A[i].flag ? A[i].s : A[i].e),
                    A[i].kind != SP_ACT_KERNEL ? NULL : A[i].nccl ? "ncclKernel" : "k", A[i].stream, 0, A[i].corr, 0,
                    0);
        ev->acts[ev->n_acts - 1].hta_end_early = A[i].flag;
        if (A[i].launch >= 0)
            eb_launch(ev, A[i].corr, (uint64_t)A[i].launch, (uint64_t)A[i].launch + 500, 0);
    }
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    opt.hta_compat = 1;
    sp_report *r = eb_analyze(ev, &opt);
    const sp_gpu_summary *g = &r->gpu;
    int before = sp_test_failures;

    /* HTA's GPU events: everything with a stream (syncs with stream -1 are not) */
    int idx[NA], n = 0, cidx[NA], nc = 0;
    uint64_t flagged = 0;
    for (int i = 0; i < na; i++)
        if (A[i].kind != SP_ACT_SYNC || A[i].stream != -1)
            idx[n++] = i;
    qsort(idx, (size_t)n, sizeof *idx, ord);
    for (int i = 0; i < n; i++) {
        flagged += A[idx[i]].flag;
        if (A[idx[i]].kind == SP_ACT_KERNEL && !A[idx[i]].nccl)
            cidx[nc++] = idx[i];
    }
    CHECK_EQ_U64(g->present, n > 0);
    if (n > 0) {
        int64_t merged, first, last, comp, f2, l2;
        hta_merge(idx, n, &merged, &first, &last);
        hta_merge(cidx, nc, &comp, &f2, &l2);
        int64_t kt = last - first, idle = kt - merged, noncomp = kt - comp - idle;
        CHECK(g->hta_kernel_time_ns == kt);
        CHECK(g->hta_idle_ns == idle);
        CHECK(g->hta_compute_ns == comp);
        CHECK(g->hta_non_compute_ns == noncomp);
        CHECK_EQ_U64(g->hta_end_early, flagged);
        /* HTA's assertions, and no negative figure in the unsigned fields */
        int valid = idle <= kt && comp <= kt && noncomp >= 0 && kt >= 0 && idle >= 0 && comp >= 0;
        CHECK_EQ_U64(g->hta_breakdown_valid, valid);
        n_valid += valid;
        n_invalid += !valid;
        CHECK((g->hta_breakdown_note == NULL) == valid);
        if (valid) {
            CHECK_EQ_U64(g->span_ns, (uint64_t)kt);
            CHECK_EQ_U64(g->idle_ns, (uint64_t)idle);
            CHECK_EQ_U64(g->busy_ns, (uint64_t)merged);
            CHECK_EQ_U64(g->compute_ns, (uint64_t)comp);
            CHECK_EQ_U64(g->non_compute_ns, (uint64_t)noncomp);
        }
    }
    /* idle breakdown per stream (syncs excluded), each gap from the previous event's HTA end */
    size_t row = 0;
    for (int64_t st = 0; st < 3; st++) {
        int sidx[NA], m = 0;
        for (int i = 0; i < na; i++)
            if (A[i].stream == st && A[i].kind != SP_ACT_SYNC)
                sidx[m++] = i;
        if (!m)
            continue;
        qsort(sidx, (size_t)m, sizeof *sidx, ord);
        int64_t hw = 0, kw = 0, ot = 0, prev = A[sidx[0]].e;
        for (int k = 1; k < m; k++) {
            const ract *x = &A[sidx[k]];
            if (x->s > prev) {
                int64_t gap = x->s - prev;
                if (x->launch >= 0 && x->launch > prev)
                    hw += gap;
                else if (gap < 30000)
                    kw += gap;
                else
                    ot += gap;
            }
            prev = x->e;
        }
        CHECK(row < g->n_streams);
        if (row < g->n_streams) {
            CHECK_EQ_U64(g->idle_breakdown[row].stream, st);
            CHECK_EQ_U64(g->idle_breakdown[row].host_wait_ns, hw);
            CHECK_EQ_U64(g->idle_breakdown[row].kernel_wait_ns, kw);
            CHECK_EQ_U64(g->idle_breakdown[row].other_ns, ot);
        }
        row++;
    }
    CHECK_EQ_U64(g->n_streams, row);
    if (sp_test_failures != before)
        fprintf(stderr, "  (trace %d, %d activities)\n", iter, na);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* One sub-us event alone: kernel_time -1 us, merged -1 us, idle 0 > kernel_time: HTA's first
 * assertion (idle_time <= kernel_time) fails; servprof keeps the event at zero length. */
static void lone_event(void)
{
    sp_events *ev = eb_new();
    eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, 5000, 5000, "k", 7, 0, 0, 0, 0);
    ev->acts[0].hta_end_early = 1;
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    opt.hta_compat = 1;
    sp_report *r = eb_analyze(ev, &opt);
    CHECK(!r->gpu.hta_breakdown_valid);
    CHECK(r->gpu.hta_kernel_time_ns == -1000 && r->gpu.hta_idle_ns == 0);
    CHECK(r->gpu.hta_breakdown_note && strstr(r->gpu.hta_breakdown_note, "idle_time <= kernel_time"));
    CHECK_EQ_U64(r->gpu.span_ns, 0);
    sp_report_destroy(r);
    /* without hta_compat the flag means nothing: a zero-length kernel, no HTA figures */
    r = eb_analyze(ev, NULL);
    CHECK(!r->gpu.hta_breakdown_valid && r->gpu.hta_breakdown_note == NULL && r->gpu.hta_end_early == 0);
    CHECK_EQ_U64(r->gpu.span_ns, 0);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

int main(void)
{
    for (int i = 0; i < 400; i++)
        one(i);
    fprintf(stderr, "%d traces HTA can break down, %d it cannot\n", n_valid, n_invalid);
    CHECK(n_valid > 20 && n_invalid > 20);
    lone_event();
    return sp_test_done("test_gpu_hta_rounding");
}
