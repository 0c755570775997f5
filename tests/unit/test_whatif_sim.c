/* The what-if simulator on hand-computable cases (each expected value is worked out in the comment
 * above its check), and replaying a synthetic trace through its own policy: against an independent
 * single-worker batcher written here, exactly without noise and within tolerance with noise. */
#include <stdlib.h>
#include <string.h>

#include "servprof/whatif.h"
#include "testlib.h"

#define MS 1000000ull
#define US 1000ull

/* A fit t = a + b*size + c*size*len built directly (as if fitted), no residuals. */
static sp_whatif_fit model(double a, double b, double c)
{
    sp_whatif_fit f;
    memset(&f, 0, sizeof f);
    f.coef[0] = a;
    f.coef[1] = b;
    f.coef[2] = c;
    f.used = 7;
    f.min_ns = 0;
    return f;
}

static sp_whatif_workload wl(const sp_whatif_request *r, size_t n)
{
    sp_whatif_batch_obs b = {1, 1, 1};
    sp_whatif_workload w;
    if (sp_whatif_workload_from_arrays(r, n, &b, 1, &w) != SP_OK)
        exit(1);
    return w;
}

static sp_whatif_sim_options det(void)
{
    sp_whatif_sim_options o;
    sp_whatif_sim_options_init(&o);
    o.resample = 0;
    o.price_per_hour = 4.0;
    return o;
}

static void fifo_one_server(void)
{
    /* max-batch 1, no delay, fixed service S = 1 ms, arrivals every 0.5 ms: a D/D/1 queue in
     * overload. Request i arrives at 0.5i ms, starts when i-1 is done at i ms, ends at (i+1) ms:
     * latency (i+1) - 0.5i = 1 + 0.5i ms. With 10 requests: 1, 1.5, ..., 5.5 ms.
     * Nearest rank: p50 is the 5th smallest (3.0 ms), p95 and p99 the 10th (5.5 ms). */
    sp_whatif_request r[10];
    for (int i = 0; i < 10; i++)
        r[i] = (sp_whatif_request){(uint64_t)i * MS / 2, 0, 0, 20, 0};
    sp_whatif_workload w = wl(r, 10);
    sp_whatif_fit f = model(1.0 * MS, 0, 0);
    sp_whatif_policy p;
    sp_whatif_policy_init(&p);
    p.max_batch = 1;
    p.max_delay_ns = 0;
    sp_whatif_sim_options o = det();
    sp_whatif_result res;
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_OK);
    CHECK_EQ_U64(res.completed, 10);
    CHECK_EQ_U64(res.rejected, 0);
    CHECK_EQ_U64(res.batches, 10);
    CHECK_EQ_U64(res.latency.p50_ns, 3 * MS);
    CHECK_EQ_U64(res.latency.p95_ns, 5500 * US);
    CHECK_EQ_U64(res.latency.max_ns, 5500 * US);
    CHECK_EQ_U64(res.latency.min_ns, 1 * MS);
    /* queue wait of i is i - 0.5i = 0.5i ms: p50 (5th) = 2 ms */
    CHECK_EQ_U64(res.queue.p50_ns, 2 * MS);
    /* window 0 .. 10 ms, busy all of it: utilisation 1, 1000 req/s;
     * bill = $4/h x 10 ms = 4 x 0.01 / 3600 dollars; per request / 10 */
    CHECK_EQ_U64(res.window_ns, 10 * MS);
    CHECK_NEAR(res.utilisation, 1.0, 1e-12);
    CHECK_NEAR(res.throughput_rps, 1000.0, 1e-9);
    CHECK_NEAR(res.cost_per_request, 4.0 * 0.01 / 3600.0 / 10.0, 1e-15);

    /* preprocess 100 us and postprocess 50 us per request add 150 us to every latency (the arrival
     * stream, shifted by 100 us, keeps its spacing) */
    for (int i = 0; i < 10; i++) {
        r[i].pre_ns = 100 * US;
        r[i].post_ns = 50 * US;
    }
    sp_whatif_workload_clear(&w);
    w = wl(r, 10);
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_OK);
    CHECK_EQ_U64(res.latency.p50_ns, 3150 * US);
    CHECK_EQ_U64(res.latency.p99_ns, 5650 * US);

    /* two instances: 4 requests at time 0, S = 1 ms: two start at 0, two at 1 ms: latencies 1,1,2,2;
     * window 2 ms billed twice: 2 x $4/h x 2 ms / 4 requests */
    sp_whatif_request b4[4];
    for (int i = 0; i < 4; i++)
        b4[i] = (sp_whatif_request){0, 0, 0, 20, 0};
    sp_whatif_workload_clear(&w);
    w = wl(b4, 4);
    p.instances = 2;
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_OK);
    CHECK_EQ_U64(res.latency.p50_ns, 1 * MS);
    CHECK_EQ_U64(res.latency.max_ns, 2 * MS);
    CHECK_NEAR(res.cost_per_request, 2 * 4.0 * 0.002 / 3600.0 / 4.0, 1e-15);
    CHECK_NEAR(res.utilisation, 1.0, 1e-12);
    sp_whatif_workload_clear(&w);

    /* queue capacity 2, one instance, max-batch 1: arrivals at 0, 1, 2, 3, 4 ns. #0 is taken at once
     * (busy until 1 ms), #1 and #2 fill the queue, #3 and #4 find it full: 2 rejected (503).
     * Latencies: 1 ms, 2 ms - 1 ns, 3 ms - 2 ns. */
    sp_whatif_request c5[5];
    for (int i = 0; i < 5; i++)
        c5[i] = (sp_whatif_request){(uint64_t)i, 0, 0, 20, 0};
    w = wl(c5, 5);
    p.instances = 1;
    p.queue_capacity = 2;
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_OK);
    CHECK_EQ_U64(res.rejected, 2);
    CHECK_EQ_U64(res.completed, 3);
    CHECK_EQ_U64(res.latency.max_ns, 3 * MS - 2);
    CHECK_EQ_U64(res.latency.p50_ns, 2 * MS - 1);
    sp_whatif_workload_clear(&w);
}

static void delay_window(void)
{
    /* max-batch 4, delay 2 ms, S = 1 ms + 0.1 ms x size.
     * Three requests at 0, 0.5, 1 ms: never 4 waiting, so the head's deadline (2 ms) dispatches all
     * three; S(3) = 1.3 ms, done at 3.3 ms: latencies 3.3, 2.8, 2.3 ms.
     * Four at 10, 10.1, 10.2, 10.3 ms: the fourth fills the batch at 10.3 ms; S(4) = 1.4 ms, done at
     * 11.7 ms: latencies 1.7, 1.6, 1.5, 1.4 ms. All seven sorted: 1.4 1.5 1.6 1.7 2.3 2.8 3.3;
     * p50 = 4th = 1.7 ms, p95 = 7th = 3.3 ms. Two batches, mean 3.5. */
    sp_whatif_request r[7] = {
        {0, 0, 0, 10, 0},           {500 * US, 0, 0, 10, 0},   {1000 * US, 0, 0, 10, 0},
        {10000 * US, 0, 0, 10, 0},  {10100 * US, 0, 0, 10, 0}, {10200 * US, 0, 0, 10, 0},
        {10300 * US, 0, 0, 10, 0},
    };
    sp_whatif_workload w = wl(r, 7);
    sp_whatif_fit f = model(1.0 * MS, 0.1 * MS, 0);
    sp_whatif_policy p;
    sp_whatif_policy_init(&p);
    p.max_batch = 4;
    p.max_delay_ns = 2 * MS;
    sp_whatif_sim_options o = det();
    sp_whatif_result res;
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_OK);
    CHECK_EQ_U64(res.batches, 2);
    CHECK_NEAR(res.mean_batch, 3.5, 1e-12);
    CHECK_EQ_U64(res.latency.p50_ns, 1700 * US);
    CHECK_EQ_U64(res.latency.p95_ns, 3300 * US);
    CHECK_EQ_U64(res.latency.min_ns, 1400 * US);
    sp_whatif_workload_clear(&w);
}

static void padding_rules(void)
{
    /* buckets 32,64, max-batch 2, delay 1 ms, S = 1 us per padded token.
     * Lengths 10 @0, 50 @0.1 ms, 20 @0.2 ms. At 0.2 ms the head's bucket (32) holds two (#0, #2):
     * dispatched, padded to 32: S = 64 us, done 0.264 ms. #1 (bucket 64) is alone: its deadline
     * 1.1 ms dispatches it padded to 64: S = 64 us, done 1.164 ms. Latencies 0.264, 0.064 (#2),
     * 1.064 ms (#1). Waste = 1 - (10+20+50)/(64+64) = 0.375. */
    sp_whatif_request r[3] = {{0, 0, 0, 10, 0}, {100 * US, 0, 0, 50, 0}, {200 * US, 0, 0, 20, 0}};
    sp_whatif_workload w = wl(r, 3);
    sp_whatif_fit f = model(0, 0, 1000.0);
    sp_whatif_policy p;
    sp_whatif_policy_init(&p);
    p.max_batch = 2;
    p.max_delay_ns = 1 * MS;
    char err[128];
    CHECK(sp_whatif_parse_pad("buckets:32,64", &p, err, sizeof err) == SP_OK);
    sp_whatif_sim_options o = det();
    sp_whatif_result res;
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_OK);
    CHECK_EQ_U64(res.batches, 2);
    CHECK_EQ_U64(res.latency.min_ns, 64 * US);
    CHECK_EQ_U64(res.latency.p50_ns, 264 * US);
    CHECK_EQ_U64(res.latency.max_ns, 1064 * US);
    CHECK_NEAR(res.waste, 0.375, 1e-12);

    /* longest: the head's "bucket" is everyone; at 0.1 ms two wait: batch {#0,#1} padded to 50,
     * S = 100 us, done 0.2 ms; #2 alone waits to 1.2 ms, S = 20 us: done 1.22 ms.
     * Waste = 1 - 80/(100+20) = 1/3. */
    CHECK(sp_whatif_parse_pad("longest", &p, err, sizeof err) == SP_OK);
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_OK);
    CHECK_EQ_U64(res.latency.max_ns, 1020 * US);
    CHECK_EQ_U64(res.latency.min_ns, 100 * US);
    CHECK_NEAR(res.waste, 1.0 / 3.0, 1e-12);

    /* static:16: inputs cut to 16, everyone in one group padded to 16: {#0,#1} at 0.1 ms, S = 32 us;
     * #2 alone at 1.2 ms, S = 16 us: latencies 0.132, 0.032, 1.016 ms. Effective = 10+16+16 = 42 of 48: waste 0.125 */
    CHECK(sp_whatif_parse_pad("static:16", &p, err, sizeof err) == SP_OK);
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_OK);
    CHECK_EQ_U64(res.latency.max_ns, 1016 * US);
    CHECK_EQ_U64(res.latency.min_ns, 32 * US);  /* #1: 0.1 -> 0.132 ms */
    CHECK_EQ_U64(res.latency.p50_ns, 132 * US); /* #0: 0 -> 0.132 ms */
    CHECK_NEAR(res.waste, 0.125, 1e-12);
    sp_whatif_workload_clear(&w);

    /* invalid policies */
    p.max_batch = 0;
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_ERR_INVALID);
}

/* ---- replay of a synthetic trace through its own policy ---- */

/* The "true" service: t = 300 us + 40 us x size + 2 us x padded tokens. */
static double true_svc(uint32_t size, uint32_t len)
{
    return 300000.0 + 40000.0 * size + 2000.0 * size * len;
}

/* An independent single-worker, longest-padding, unbounded-queue batcher: with no buckets the
 * batches are consecutive runs of the FIFO, so each batch's dispatch time has a closed form:
 * t = max(worker free, min(enqueue of the (head+mb-1)-th, head's enqueue + delay), head's enqueue).
 * Writes each request's latency and the batches; `noise` multiplies each batch time. */
static size_t reference_batcher(const sp_whatif_request *r, size_t n, uint32_t mb, uint64_t delay,
                                const double *noise, uint64_t *lat, sp_whatif_batch_obs *bo)
{
    uint64_t free_at = 0;
    size_t nb = 0;
    for (size_t head = 0; head < n;) {
        uint64_t eh = r[head].arrival_ns + r[head].pre_ns;
        uint64_t t_due = eh + delay;
        if (head + mb - 1 < n) {
            uint64_t t_full = r[head + mb - 1].arrival_ns + r[head + mb - 1].pre_ns;
            if (t_full < t_due)
                t_due = t_full;
        }
        uint64_t t = free_at > t_due ? free_at : t_due;
        if (t < eh)
            t = eh;
        size_t end = head;
        uint32_t longest = 0;
        while (end < n && end - head < mb && r[end].arrival_ns + r[end].pre_ns <= t) {
            if (r[end].tokens > longest)
                longest = r[end].tokens;
            end++;
        }
        uint32_t size = (uint32_t)(end - head);
        uint64_t svc = (uint64_t)(true_svc(size, longest) * noise[nb % 97]);
        bo[nb++] = (sp_whatif_batch_obs){size, longest, svc};
        for (size_t i = head; i < end; i++)
            lat[i] = t + svc + r[i].post_ns - r[i].arrival_ns;
        free_at = t + svc;
        head = end;
    }
    return nb;
}

static void replay_own_policy(void)
{
    enum { N = 4000 };
    sp_whatif_request *r = calloc(N, sizeof *r);
    uint64_t *lat = calloc(N, sizeof *lat);
    sp_whatif_batch_obs *bo = calloc(N, sizeof *bo);
    if (!r || !lat || !bo)
        exit(1);
    /* Poisson arrivals at 1500/s, lengths 8..71, pre 50..99 us, post 20..59 us, from a fixed seed */
    uint64_t seed = 42, t = 0;
    for (int i = 0; i < N; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double u = ((double)(seed >> 11) + 0.5) / 9007199254740992.0;
        t += (uint64_t)(-log(u) / 1500.0 * 1e9);
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        r[i] = (sp_whatif_request){t, 50 * US + (seed >> 40) % (50 * US), 20 * US + (seed >> 20) % (40 * US),
                                   8 + (uint32_t)((seed >> 33) % 64), 0};
    }
    /* keep enqueue order = arrival order (the reference batcher assumes it) */
    for (int i = 1; i < N; i++)
        if (r[i].arrival_ns + r[i].pre_ns < r[i - 1].arrival_ns + r[i - 1].pre_ns)
            r[i].pre_ns = r[i - 1].arrival_ns + r[i - 1].pre_ns - r[i].arrival_ns;
    double ones[97], noisy[97];
    for (int i = 0; i < 97; i++) {
        ones[i] = 1.0;
        noisy[i] = 0.85 + 0.3 * (double)((i * 37) % 97) / 96.0; /* uniform-ish in [0.85, 1.15] */
    }
    const uint32_t mb = 8;
    const uint64_t delay = 2 * MS;
    sp_whatif_policy p;
    sp_whatif_policy_init(&p);
    p.max_batch = mb;
    p.max_delay_ns = delay;
    p.queue_capacity = N;

    /* 1. no noise: the fit is exact and the simulator must reproduce every percentile to the ns
     *    (up to the fit's sub-ns rounding of service times) */
    size_t nb = reference_batcher(r, N, mb, delay, ones, lat, bo);
    for (int i = 0; i < N; i++)
        r[i].observed_ns = lat[i];
    sp_whatif_workload w;
    CHECK(sp_whatif_workload_from_arrays(r, N, bo, nb, &w) == SP_OK);
    CHECK_EQ_U64(w.observed.count, N);
    sp_whatif_fit f;
    CHECK(sp_whatif_fit_batches(w.batches, w.n_batches, 0x7, &f, NULL, 0) == SP_OK);
    CHECK_NEAR(f.coef[2], 2000.0, 1.0);
    sp_whatif_sim_options o = det();
    sp_whatif_result res;
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_OK);
    CHECK_EQ_U64(res.completed, N);
    CHECK_EQ_U64(res.batches, nb);
    CHECK_NEAR((double)res.latency.p50_ns, (double)w.observed.p50_ns, 2000.0);
    CHECK_NEAR((double)res.latency.p95_ns, (double)w.observed.p95_ns, 2000.0);
    CHECK_NEAR((double)res.latency.p99_ns, (double)w.observed.p99_ns, 2000.0);
    sp_whatif_fit_clear(&f);
    sp_whatif_workload_clear(&w);

    /* 2. +-15% batch-time noise: fitted from the noisy batches and resampling the residuals, the
     *    replay stays within 10% of the observed p50/p95/p99 */
    nb = reference_batcher(r, N, mb, delay, noisy, lat, bo);
    for (int i = 0; i < N; i++)
        r[i].observed_ns = lat[i];
    CHECK(sp_whatif_workload_from_arrays(r, N, bo, nb, &w) == SP_OK);
    CHECK(sp_whatif_fit_batches(w.batches, w.n_batches, 0x7, &f, NULL, 0) == SP_OK);
    CHECK(f.mape > 0.03 && f.mape < 0.15);
    o.resample = 1;
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &res) == SP_OK);
    CHECK_NEAR((double)res.latency.p50_ns / (double)w.observed.p50_ns, 1.0, 0.10);
    CHECK_NEAR((double)res.latency.p95_ns / (double)w.observed.p95_ns, 1.0, 0.10);
    CHECK_NEAR((double)res.latency.p99_ns / (double)w.observed.p99_ns, 1.0, 0.10);
    /* same seed, same answer */
    sp_whatif_result again;
    CHECK(sp_whatif_simulate(&w, &f, &p, &o, &again) == SP_OK);
    CHECK_EQ_U64(again.latency.p95_ns, res.latency.p95_ns);
    sp_whatif_fit_clear(&f);
    sp_whatif_workload_clear(&w);
    free(r);
    free(lat);
    free(bo);
}

int main(void)
{
    fifo_one_server();
    delay_window();
    padding_rules();
    replay_own_policy();
    return sp_test_done("test_whatif_sim");
}
