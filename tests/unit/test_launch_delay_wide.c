/* The GPU figures' launch delays in 4 bytes (gpu_launch.c, sp_ana_launch_stats_add): while every delay
 * is below 2^32 ns the column takes 4 bytes a delay; the first of 2^32 ns or more widens it to 8 bytes,
 * the delays so far copied (sp_ana_launch_delay_wide). The figures must be exact either way: the
 * launch delay's count, min, max, p50/p95/p99 and mean against a naive reference (the delays worked out
 * here from how the set is built, sorted with qsort, picked at DESIGN section 4's nearest rank), and
 * the report byte for byte the one of the 8-byte column from the start (sp_ana_launch_delay_narrow 0).
 *
 * The set (hand-built): calls k = 0..NCALLS-1 in one file, call [T, T + 4 us], T = base + k 100 us,
 * id k + 1, each with a kernel of 5 us that starts d_k after the call's end: d_k = ((37 k) mod 1000 +
 * 1) us, but for every k divisible by 53 (151 calls, 1.9% of them: p99 lies among them)
 * d_k = 2^32 ns + k us. Those kernels start 4.29 s after their calls, after every other kernel: the
 * column widens at its 7,850th delay, all the narrow ones copied. Three ways:
 * - no long delay (every d_k as for k not divisible by 53): the column is never widened;
 * - the long delays as above (base 0);
 * - the same with base 5 s and one more call at 0 whose kernel starts 2^32 ns + 1 ns after its end,
 *   before every other kernel: the column widens at its first delay. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/quantile.h"
#include "ana_switches_testutil.h"
#include "analyze_routes_testutil.h"
#include "ev_build.h"
#include "testlib.h"

#define NCALLS 8000
#define LONG_NS ((uint64_t)1 << 32)

/* every call is a cudaLaunchKernel of file 0 */
static void add_call(sp_events *ev, uint64_t corr, uint64_t s, uint64_t e)
{
    eb_launch_named(ev, corr, s, e, 0, "cudaLaunchKernel");
}

static uint64_t delay_of(uint64_t k, int way)
{
    if (way && k % 53 == 0)
        return LONG_NS + k * 1000;
    return ((37 * k) % 1000 + 1) * 1000;
}

/* The set of `way` (0, 1, 2 as above); its delays into d[] (*nd of them) when d is not NULL. */
static sp_events *build(int way, uint64_t *d, size_t *nd)
{
    sp_events *ev = eb_new();
    uint64_t base = way == 2 ? 5000000000ull : 0;
    size_t n = 0;
    for (uint64_t k = 0; k < NCALLS; k++) {
        uint64_t t = base + k * 100000, dk = delay_of(k, way);
        add_call(ev, k + 1, t, t + 4000);
        eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, t + 4000 + dk, t + 4000 + dk + 5000, "gemm", 0, 0, k + 1, 0, 0);
        if (d)
            d[n++] = dk;
    }
    if (way == 2) {
        add_call(ev, NCALLS + 1, 0, 4000);
        eb_act_full(ev, SP_ACT_KERNEL, SP_EV_NONE, 4000 + LONG_NS + 1, 4000 + LONG_NS + 5001, "gemm", 0, 0, NCALLS + 1,
                    0, 0);
        if (d)
            d[n++] = LONG_NS + 1;
    }
    if (nd)
        *nd = n;
    return ev;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static char *report_of(int way, int narrow, size_t *len, sp_quantiles *q, size_t *widened)
{
    sp_events *ev = build(way, NULL, NULL);
    sp_ana_launch_delay_narrow = narrow;
    size_t w0 = sp_ana_launch_delays_widened;
    sp_report *r = eb_analyze(ev, NULL);
    *widened = sp_ana_launch_delays_widened - w0;
    ana_switches_reset();
    *q = r->gpu.launch_delay;
    char *buf = ar_report_bytes(r, len);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return buf;
}

static void one_way(int way, const char *what)
{
    uint64_t *d = malloc((NCALLS + 1) * sizeof *d);
    size_t n = 0;
    sp_events_destroy(build(way, d, &n));
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += d[i];
    qsort(d, n, sizeof *d, cmp_u64);
    size_t l1 = 0, l2 = 0, w1 = 0, w2 = 0;
    sp_quantiles q1, q2;
    char *narrow = report_of(way, 1, &l1, &q1, &w1);
    char *wide = report_of(way, 0, &l2, &q2, &w2);
    CHECK(narrow && wide && ar_same_bytes(wide, l2, narrow, l1, what, 0));
    CHECK_EQ_U64(w1, way ? 1 : 0); /* widened once where a delay needs it, else never */
    CHECK_EQ_U64(w2, 0);
    const sp_quantiles *qs[2] = {&q1, &q2};
    for (int j = 0; j < 2; j++) {
        const sp_quantiles *q = qs[j];
        CHECK_EQ_U64(q->count, n);
        CHECK_EQ_U64(q->min_ns, d[0]);
        CHECK_EQ_U64(q->max_ns, d[n - 1]);
        CHECK_EQ_U64(q->p50_ns, d[sp_rank(n, SP_PCT(50)) - 1]);
        CHECK_EQ_U64(q->p95_ns, d[sp_rank(n, SP_PCT(95)) - 1]);
        CHECK_EQ_U64(q->p99_ns, d[sp_rank(n, SP_PCT(99)) - 1]);
        CHECK(q->mean_ns == (double)((long double)sum / (long double)n));
    }
    if (way) /* the set is as meant: p99 among the long delays, p95 not */
        CHECK(q1.p99_ns >= LONG_NS && q1.p95_ns < LONG_NS);
    free(narrow);
    free(wide);
    free(d);
}

int main(void)
{
    one_way(0, "every delay below 2^32 ns");
    one_way(1, "long delays last: widened at the 7,850th");
    one_way(2, "a long delay first: widened at once");
    return sp_test_done("test_launch_delay_wide");
}
