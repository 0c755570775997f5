/* The live metrics' tap (src/trace/tap.c): a known answer worked by hand, the Prometheus text it
 * renders, and every request of random traces against the analyzer's own partition of the same
 * trace file (src/analyze/partition.c, the reference), stage by stage and exactly. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyze/analyze_int.h"
#include "common/rng.h"
#include "testlib.h"
#include "trace/recorder_int.h"
#include "trace/tap_int.h"
#include "trace/trace_int.h"
#include "trace_testutil.h"

/* ---- what the test hook saw: per request, its figures by stage name ---- */
#define MAX_SEEN 4096
#define MAX_ROWS_SEEN 16
typedef struct seen_req {
    uint64_t id;
    sp_outcome outcome;
    uint64_t latency;
    double padding;
    size_t n;
    char name[MAX_ROWS_SEEN][32];
    uint64_t ns[MAX_ROWS_SEEN];
} seen_req;
static seen_req g_seen[MAX_SEEN];
static size_t g_nseen;
static sp_recorder *g_rec;

static void hook(uint64_t id, const sp_mx_request *q)
{
    if (g_nseen == MAX_SEEN)
        return;
    seen_req *s = &g_seen[g_nseen++];
    memset(s, 0, sizeof *s);
    s->id = id;
    s->outcome = q->outcome;
    s->latency = q->latency_ns;
    s->padding = q->padding_ns;
    /* the hook runs on the writer thread under the aggregate's lock: the row names are there */
    sp_mx *m = sp_tap_metrics(g_rec->tap);
    for (size_t r = 0; q->row_ns && r < q->n_rows; r++) {
        if (!q->row_ns[r] || s->n == MAX_ROWS_SEEN)
            continue;
        snprintf(s->name[s->n], sizeof s->name[0], "%s", sp_mx_row_name(m, r));
        s->ns[s->n++] = q->row_ns[r];
    }
}

static const seen_req *seen_of(uint64_t id)
{
    for (size_t i = 0; i < g_nseen; i++)
        if (g_seen[i].id == id)
            return &g_seen[i];
    return NULL;
}

static uint64_t seen_ns(const seen_req *s, const char *name)
{
    for (size_t k = 0; k < s->n; k++)
        if (strcmp(s->name[k], name) == 0)
            return s->ns[k];
    return 0;
}

static sp_recorder *open_live(const char *path, unsigned settle_ms)
{
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    o.live_metrics = 1;
    o.metrics_settle_ms = settle_ms;
    sp_recorder *rec = NULL;
    CHECK(sp_recorder_open(path, &o, &rec) == SP_OK);
    g_rec = rec;
    g_nseen = 0;
    sp_tap_test_hook = hook;
    return rec;
}

/* The value of the exposition line that starts with `series` followed by a space; NAN if none. */
static double metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NAN;
}

/* ---- the example of DESIGN section 9, worked by hand ---- */
static void test_known_answer(void)
{
    char path[256];
    tt_path(path, "mx-known");
    sp_recorder *rec = open_live(path, 0);
    uint64_t b = sp_now_ns();
    /* DESIGN 9's request r1: preprocess 1000-51000, queue 51000-301000, batch 7 [301000, 801000) with
     * 60 of 80 tokens effective, h2d 301000-321000, kernel 331000-761000, d2h 771000-781000,
     * postprocess 801000-905000, arrival 1000, done 905000 (all + b) */
    uint64_t members[1] = {1};
    sp_record_stage(rec, 1, SP_STAGE_PREPROCESS, b + 1000, b + 51000);
    sp_record_stage(rec, 1, SP_STAGE_QUEUE, b + 51000, b + 301000);
    sp_copy_record h2d = {7, SP_COPY_H2D, 0, 0, 0, 4096, b + 301000, b + 321000};
    sp_record_copy(rec, &h2d);
    sp_kernel_record k = {7, sp_recorder_intern(rec, "gemm_f32"), 0, 0, 0, b + 331000, b + 761000};
    sp_record_kernel(rec, &k);
    sp_copy_record d2h = {7, SP_COPY_D2H, 0, 0, 0, 2048, b + 771000, b + 781000};
    sp_record_copy(rec, &d2h);
    sp_record_batch(rec, 7, members, 1, b + 301000, b + 801000, 60, 80);
    sp_record_stage(rec, 1, SP_STAGE_POSTPROCESS, b + 801000, b + 905000);
    sp_record_request(rec, 1, b + 1000, b + 905000, 37);
    /* and a rejected one: counted by outcome and status, not partitioned */
    sp_record_request(rec, 2, b + 2000, b + 3000, -1);
    sp_record_outcome(rec, 2, SP_OUTCOME_REJECTED, 503);
    sp_tap_test_sweep_to = b + 1000000;
    CHECK(sp_recorder_flush(rec) == SP_OK);
    sp_tap_test_sweep_to = 0;
    CHECK_EQ_U64(g_nseen, 2);
    const seen_req *s = seen_of(1);
    CHECK(s != NULL);
    if (s) {
        /* by hand: the window 301000-801000 is h2d 20000, gap 10000 (321000-331000), kernel 430000, gap
         * 10000 (761000-771000), d2h 10000, gap 20000 (781000-801000) */
        CHECK_EQ_U64(seen_ns(s, "preprocess"), 50000);
        CHECK_EQ_U64(seen_ns(s, "queue"), 250000);
        CHECK_EQ_U64(seen_ns(s, "h2d"), 20000);
        CHECK_EQ_U64(seen_ns(s, "kernel"), 430000);
        CHECK_EQ_U64(seen_ns(s, "gap"), 40000);
        CHECK_EQ_U64(seen_ns(s, "d2h"), 10000);
        CHECK_EQ_U64(seen_ns(s, "postprocess"), 104000);
        CHECK_EQ_U64(seen_ns(s, "other"), 0);
        CHECK_EQ_U64(s->latency, 904000);
        /* DESIGN 5: 430000 x (1 - 60/80) */
        CHECK_NEAR(s->padding, 107500.0, 1e-6);
    }
    char *text = NULL;
    size_t len = 0;
    CHECK(sp_recorder_metrics_text(rec, &text, &len) == SP_OK);
    CHECK(text && strlen(text) == len);
    if (text) {
        /* 904 us lies in (2^(-41/4), 2^(-40/4)] s = (821 us, 977 us]: le 0.000976562 */
        CHECK_NEAR(metric(text, "servprof_request_duration_seconds_bucket{le=\"0.000976562\"}"), 1, 0);
        CHECK_NEAR(metric(text, "servprof_request_duration_seconds_bucket{le=\"0.000821188\"}"), 0, 0);
        CHECK_NEAR(metric(text, "servprof_request_duration_seconds_count"), 1, 0);
        CHECK_NEAR(metric(text, "servprof_request_duration_seconds_sum"), 0.000904, 1e-12);
        CHECK_NEAR(metric(text, "servprof_request_stage_seconds_total{stage=\"queue\",le=\"+Inf\"}"), 0.00025, 1e-12);
        CHECK_NEAR(metric(text, "servprof_request_stage_seconds_total{stage=\"queue\",le=\"0.000821188\"}"), 0, 0);
        CHECK_NEAR(metric(text, "servprof_request_stage_seconds_total{stage=\"gap\",le=\"0.000976562\"}"), 0.00004,
                   1e-12);
        CHECK_NEAR(metric(text, "servprof_request_padding_seconds_total{le=\"+Inf\"}"), 0.0001075, 1e-12);
        CHECK_NEAR(metric(text, "servprof_requests_total{outcome=\"ok\"}"), 1, 0);
        CHECK_NEAR(metric(text, "servprof_requests_total{outcome=\"rejected\"}"), 1, 0);
        CHECK_NEAR(metric(text, "servprof_requests_status_total{outcome=\"rejected\",status=\"503\"}"), 1, 0);
        CHECK_NEAR(metric(text, "servprof_batch_tokens_total{kind=\"effective\"}"), 60, 0);
        CHECK_NEAR(metric(text, "servprof_batch_tokens_total{kind=\"padded\"}"), 80, 0);
        CHECK_NEAR(metric(text, "servprof_batch_size_bucket{le=\"1\"}"), 1, 0);
        /* waste 0.25 lies in (0.2, 0.3] */
        CHECK_NEAR(metric(text, "servprof_batch_padding_ratio_bucket{le=\"0.2\"}"), 0, 0);
        CHECK_NEAR(metric(text, "servprof_batch_padding_ratio_bucket{le=\"0.3\"}"), 1, 0);
        /* device 0 up to b + 1 ms (DESIGN 7, by hand): kernel 430000 of which 25% padding, copies 30000,
         * gap 40000; the rest of the swept time no_batch */
        CHECK_NEAR(metric(text, "servprof_device_seconds_total{device=\"0\",state=\"padding\"}"), 0.0001075, 1e-12);
        CHECK_NEAR(metric(text, "servprof_device_seconds_total{device=\"0\",state=\"useful\"}"), 0.0003225, 1e-12);
        CHECK_NEAR(metric(text, "servprof_device_seconds_total{device=\"0\",state=\"copies\"}"), 0.00003, 1e-12);
        CHECK_NEAR(metric(text, "servprof_device_seconds_total{device=\"0\",state=\"gap\"}"), 0.00004, 1e-12);
        CHECK_NEAR(metric(text, "servprof_device_activities_total{device=\"0\",kind=\"kernel\"}"), 1, 0);
        CHECK_NEAR(metric(text, "servprof_device_activities_total{device=\"0\",kind=\"copy\"}"), 2, 0);
        CHECK_NEAR(metric(text, "servprof_metrics_pending_requests"), 0, 0);
    }
    sp_metrics_text_free(text);
    CHECK(sp_recorder_close(rec) == SP_OK);
    sp_tap_test_hook = NULL;
    unlink(path);
}

/* ---- the text: well-formed, cumulative, and the stages add up to the latency sum ---- */
static void check_exposition(const char *text)
{
    double prev = -1, stage_inf = 0;
    const char *cur_series = NULL;
    size_t cur_len = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        CHECK(nl != NULL);
        if (!nl)
            break;
        if (*p == '#') {
            CHECK(strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0);
        } else {
            /* name{labels} value: a metric name of [a-zA-Z_:][a-zA-Z0-9_:]* */
            const char *q = p;
            CHECK((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_' || *q == ':');
            while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_' ||
                   *q == ':')
                q++;
            if (*q == '{') {
                const char *close = strstr(q, "} ");
                CHECK(close && close < nl);
                q = close ? close + 1 : nl;
            }
            CHECK(*q == ' ');
            char *end;
            double v = strtod(q + 1, &end);
            CHECK(end == nl);
            CHECK(v >= 0);
            /* within one series of one stage (or the histogram), cumulative buckets never go down */
            const char *le = strstr(p, "le=\"");
            if (le && le < nl) {
                size_t series_len = (size_t)(le - p);
                if (cur_series && series_len == cur_len && strncmp(cur_series, p, series_len) == 0)
                    CHECK(v >= prev - 1e-12);
                cur_series = p;
                cur_len = series_len;
                prev = v;
                if (strncmp(p, "servprof_request_stage_seconds_total{", 37) == 0 && strstr(le, "+Inf") &&
                    strstr(le, "+Inf") < nl)
                    stage_inf += v;
            }
        }
        p = nl + 1;
    }
    /* DESIGN 3: every ns of a request goes to one stage, so the stages sum to the latency sum */
    CHECK_NEAR(stage_inf, metric(text, "servprof_request_duration_seconds_sum"), 1e-6);
}

/* ---- random traces: each request as the analyzer partitions the same file ---- */
static uint64_t rnd(sp_rng *r, uint64_t n) { return sp_rng_next(r) % n; }

static void record_random(sp_recorder *rec, uint64_t seed, uint64_t base, size_t n_req)
{
    sp_rng r;
    sp_rng_seed(&r, seed, 0);
    sp_name_id names[] = {SP_STAGE_PREPROCESS, SP_STAGE_QUEUE, SP_STAGE_POSTPROCESS,
                          sp_recorder_intern(rec, "tokenize"), sp_recorder_intern(rec, "detokenize"),
                          sp_recorder_intern(rec, "kernel"), sp_recorder_intern(rec, "network")};
    sp_name_id kname = sp_recorder_intern(rec, "k");
    uint64_t *arrival = calloc(n_req + 1, sizeof *arrival), *done = calloc(n_req + 1, sizeof *done);
    for (uint64_t id = 1; id <= n_req; id++) {
        arrival[id] = base + rnd(&r, 2000000);
        done[id] = arrival[id] + 1 + rnd(&r, 400000);
        /* 0..5 spans, some overlapping, some outside the life */
        int ns = (int)rnd(&r, 6);
        for (int k = 0; k < ns; k++) {
            uint64_t s = arrival[id] + rnd(&r, 500000) - 50000;
            sp_record_stage(rec, id, names[rnd(&r, 7)], s, s + rnd(&r, 200000));
        }
    }
    /* batches of 1..4 random members, some requests in two or more, windows anywhere near their lives */
    uint64_t bid = 100;
    for (size_t k = 0; k < n_req / 2; k++, bid++) {
        uint64_t m[4];
        uint32_t nm = 1 + (uint32_t)rnd(&r, 4);
        for (uint32_t j = 0; j < nm; j++)
            m[j] = 1 + rnd(&r, n_req);
        uint64_t s = arrival[m[0]] + rnd(&r, 300000), e = s + rnd(&r, 150000);
        int na = (int)rnd(&r, 5);
        for (int j = 0; j < na; j++) {
            uint64_t as = s + rnd(&r, 160000) - 5000, ae = as + rnd(&r, 60000);
            int kind = (int)rnd(&r, 7);
            uint64_t tie = rnd(&r, 3) ? bid : SP_NO_BATCH;
            uint32_t dev = tie == SP_NO_BATCH && rnd(&r, 4) == 0 ? 1 : 0;
            if (kind < 2) {
                sp_kernel_record kr = {tie, kname, dev, 0, 0, as, ae};
                sp_record_kernel(rec, &kr);
            } else {
                sp_copy_kind ck[] = {SP_COPY_H2D, SP_COPY_D2H, SP_COPY_D2D, SP_COPY_MEMSET, SP_COPY_OTHER};
                sp_copy_record cr = {tie, ck[kind - 2], dev, 0, 0, 64, as, ae};
                sp_record_copy(rec, &cr);
            }
        }
        sp_record_batch(rec, bid, m, nm, s, e, rnd(&r, 100), 100);
    }
    for (uint64_t id = 1; id <= n_req; id++) {
        sp_record_request(rec, id, arrival[id], done[id], -1);
        if (rnd(&r, 10) == 0)
            sp_record_outcome(rec, id, SP_OUTCOME_REJECTED, 503);
    }
    free(arrival);
    free(done);
}

static void test_random_vs_analyzer(uint64_t seed)
{
    char path[256];
    tt_path(path, "mx-random");
    /* the random batches' untied work may be recorded after the record of a batch whose window it
     * overlaps (a service records a batch after its work): a writer cycle falling between the two would
     * settle the batch without it, a difference from the analyzer that depends on timing (seen under a
     * sanitizer on a loaded machine). Settling after a minute leaves everything to the flush. */
    sp_recorder *rec = open_live(path, 60000);
    const size_t n_req = 400;
    record_random(rec, seed, sp_now_ns(), n_req);
    char *text = NULL;
    size_t len = 0;
    CHECK(sp_recorder_flush(rec) == SP_OK);
    CHECK(sp_recorder_metrics_text(rec, &text, &len) == SP_OK);
    CHECK(sp_recorder_close(rec) == SP_OK);
    sp_tap_test_hook = NULL;
    if (text)
        check_exposition(text);
    sp_events *ev = tt_load(path);
    char err[256];
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_ana a;
    memset(&a, 0, sizeof a);
    a.ev = ev;
    sp_analyze_options_init(&a.opt);
    a.st_network = -1;
    CHECK(sp_ana_partition(&a, err, sizeof err) == SP_OK);
    /* every request the tap saw: ok ones with the analyzer's stage times, the others by outcome */
    CHECK_EQ_U64(g_nseen, n_req);
    size_t ok_seen = 0;
    for (size_t i = 0; i < g_nseen; i++)
        ok_seen += g_seen[i].outcome == SP_OUTCOME_OK;
    CHECK_EQ_U64(ok_seen, a.n_reqs);
    uint64_t lat_sum = 0;
    int mismatches = 0;
    for (size_t i = 0; i < a.n_reqs; i++) {
        const sp_ev_request *q = &ev->requests[a.reqs[i]];
        char idtext[SP_EV_ID_TEXT];
        const seen_req *s = seen_of(strtoull(sp_ev_id_text(ev, q, idtext, NULL), NULL, 10));
        CHECK(s != NULL);
        if (!s)
            continue;
        CHECK_EQ_U64(s->latency, a.life[i]);
        lat_sum += a.life[i];
        for (size_t row = 0; row < a.n_stages; row++) {
            const char *name = row == (size_t)a.st_queue         ? "queue"
                               : row == (size_t)a.st_pre         ? "preprocess"
                               : row == (size_t)a.st_h2d         ? "h2d"
                               : row == (size_t)a.st_kernel      ? "kernel"
                               : row == (size_t)a.st_gap         ? "gap"
                               : row == (size_t)a.st_d2h         ? "d2h"
                               : row == (size_t)a.st_post        ? "postprocess"
                               : (int)row == a.st_network        ? "network"
                               : row == (size_t)a.st_other       ? "other"
                                                                  : sp_str_get(&ev->strings, a.named_ids[row - 7 - (a.st_network >= 0)]);
            uint64_t want = sp_ana_time(&a, i, row), got = seen_ns(s, name);
            if (want != got && mismatches++ < 10)
                fprintf(stderr, "request %" PRIu64 " stage %s: tap %" PRIu64 ", analyzer %" PRIu64 "\n", s->id, name,
                        got, want);
            CHECK_EQ_U64(got, want);
        }
        CHECK_NEAR(s->padding, a.padding[i], 1e-6 * (1 + a.padding[i]));
    }
    if (text) {
        CHECK_NEAR(metric(text, "servprof_request_duration_seconds_count"), (double)a.n_reqs, 0);
        CHECK_NEAR(metric(text, "servprof_request_duration_seconds_sum"), (double)lat_sum / 1e9, 1e-9);
        CHECK_NEAR(metric(text, "servprof_requests_total{outcome=\"rejected\"}"), (double)(n_req - a.n_reqs), 0);
    }
    sp_metrics_text_free(text);
    sp_ana_free(&a);
    sp_events_destroy(ev);
    unlink(path);
}

/* ---- the API's refusals ---- */
static void test_refusals(void)
{
    char path[256];
    tt_path(path, "mx-off");
    sp_recorder *rec = NULL;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    char *text = (char *)1;
    size_t len = 7;
    /* opened without live metrics: nothing to render, and the out-parameters stay as they were */
    CHECK(sp_recorder_metrics_text(rec, &text, &len) == SP_ERR_STATE);
    CHECK(text == (char *)1 && len == 7);
    CHECK(sp_recorder_metrics_text(rec, NULL, &len) == SP_ERR_INVALID);
    CHECK(sp_recorder_metrics_text(NULL, &text, &len) == SP_ERR_INVALID);
    CHECK(sp_recorder_close(rec) == SP_OK);
    /* after close: the recorder is not open */
    CHECK(sp_recorder_metrics_text(rec, &text, &len) == SP_ERR_STATE);
    sp_metrics_text_free(NULL);
    unlink(path);
}

/* ---- buckets: 4 per octave, le inclusive ---- */
static void test_buckets(void)
{
    /* 2^(-52/4) s = 2^-13 s = 122070.3125 ns; 1 s = 2^0 is bound k = 0, index 52 */
    CHECK_NEAR(sp_mx_bound_ns(0), 122070.3125, 1e-6);
    CHECK_NEAR(sp_mx_bound_ns(52), 1e9, 1e-3);
    CHECK_NEAR(sp_mx_bound_ns(SP_MX_FINITE - 1), 128e9, 1e-1);
    CHECK_EQ_U64(sp_mx_bucket(0), 0);
    CHECK_EQ_U64(sp_mx_bucket(122070), 0);
    CHECK_EQ_U64(sp_mx_bucket(122071), 1);
    CHECK_EQ_U64(sp_mx_bucket(1000000000), 52);
    CHECK_EQ_U64(sp_mx_bucket(1000000001), 53);
    CHECK_EQ_U64(sp_mx_bucket(UINT64_MAX), SP_MX_FINITE);
    for (int i = 1; i < SP_MX_FINITE; i++)
        CHECK_NEAR(sp_mx_bound_ns(i) / sp_mx_bound_ns(i - 1), 1.189207115002721, 1e-12);
}


/* ---- an outcome recorded right after its request, drained a writer cycle later ----
 * The writer is held in its cycle (sp_trace_writer_hook: after it read the rings' heads, before it
 * drains) so that the order is known: cycle A reads the heads after the request record of request 5
 * and before its outcome record (rejected), which cycle B drains. docs/metrics.md: a request is
 * counted one cycle after the cycle that drained its own record, so in B's turn, with its outcome. The
 * tap counted it in A's own turn before (ok): this test failed there (checked). */
static atomic_int g_gate_armed, g_gate_in, g_gate_go;

static void gate(void)
{
    if (!atomic_exchange(&g_gate_armed, 0))
        return;
    atomic_store(&g_gate_in, 1);
    while (!atomic_load(&g_gate_go)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&g_gate_go, 0);
}

/* Holds the writer's next cycle after its heads are read; returns once it is held. */
static void hold_next_cycle(void)
{
    atomic_store(&g_gate_in, 0);
    atomic_store(&g_gate_armed, 1);
    while (!atomic_load(&g_gate_in)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

static void release_cycle(void)
{
    atomic_store(&g_gate_go, 1);
}

static void test_outcome_a_cycle_later(void)
{
    char path[256];
    tt_path(path, "mx-late-outcome");
    sp_recorder *rec = open_live(path, 0);
    sp_trace_writer_hook = gate;
    uint64_t b = sp_now_ns();
    hold_next_cycle();                                    /* cycle Z: its heads are read */
    sp_record_request(rec, 5, b + 1000, b + 3000, -1);    /* after Z's heads: drained by A */
    release_cycle();
    hold_next_cycle();                                    /* cycle A: it holds the request record */
    sp_record_outcome(rec, 5, SP_OUTCOME_REJECTED, 503);  /* after A's heads: drained by B */
    release_cycle();
    /* B's turn (and more) without a flush, which would count everything at once */
    for (int k = 0; k < 2; k++) {
        hold_next_cycle();
        release_cycle();
    }
    sp_trace_writer_hook = NULL;
    const seen_req *s = seen_of(5);
    CHECK(s != NULL);
    if (s)
        CHECK(s->outcome == SP_OUTCOME_REJECTED);
    CHECK(sp_recorder_close(rec) == SP_OK);
    sp_tap_test_hook = NULL;
    unlink(path);
}

int main(void)
{
    test_buckets();
    test_refusals();
    test_known_answer();
    test_outcome_a_cycle_later();
    for (uint64_t seed = 1; seed <= 6; seed++)
        test_random_vs_analyzer(seed);
    return sp_test_done("test_metrics_tap");
}
