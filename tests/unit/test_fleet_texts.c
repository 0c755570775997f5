/* The fleet report without a Prometheus server: three "replicas" record the same kind of service one
 * after the other through the recorder with live metrics, each one's /metrics text is kept, and
 * sp_fleet_report_texts sums them. Checked against the analyzer over the three traces (the reference):
 * counts and tokens exactly; latency percentiles within one bucket (a factor 2^(1/4)); every stage's
 * share of p95 within 0.05 and the same verdict; and the estimate itself against a reference
 * implementation of docs/analysis.md's bucket rule computed here from the analyzer's per-request
 * partition, to 1e-9 (so the metrics, the text, its parsing and the sums lose nothing). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/rng.h"
#include "servprof/fleet.h"
#include "fleet/fleet_int.h"
#include "testlib.h"
#include "trace/tap_int.h"
#include "trace_testutil.h"

#define REPLICAS 3
#define REQUESTS 700

/* A service like the reference one: preprocess, a queue whose wait depends on the replica (the tail is
 * queue-heavy), batches of 1-4 requests with h2d, kernels and d2h in the window, postprocess. */
static void record_replica(sp_recorder *rec, int replica, uint64_t base)
{
    sp_rng r;
    sp_rng_seed(&r, 42 + (uint64_t)replica, 0);
    sp_name_id kn = sp_recorder_intern(rec, "encoder");
    sp_name_id tok = sp_recorder_intern(rec, "tokenize");
    uint64_t t = base, id = 1, bid = 1;
    while (id <= REQUESTS) {
        uint32_t nm = 1 + (uint32_t)(sp_rng_next(&r) % 4);
        uint64_t members[4];
        uint64_t dispatch = t + 2000000 + sp_rng_next(&r) % 1000000;
        /* the window: h2d, the kernel (longer for more members), d2h, then a gap */
        uint64_t k0 = dispatch + 50000, k1 = k0 + 800000 + 400000 * nm + sp_rng_next(&r) % 600000;
        uint64_t end = k1 + 150000;
        /* a service answers after the batch: each request's own record comes last (docs/metrics.md) */
        uint64_t arr[4], dn[4], first = id;
        int64_t tk[4];
        int rej[4];
        for (uint32_t m = 0; m < nm && id <= REQUESTS; m++, id++) {
            members[m] = id;
            uint64_t arrival = t + sp_rng_next(&r) % 1500000;
            /* a queue wait with a heavy tail on replica 2 */
            uint64_t extra = replica == 2 && sp_rng_next(&r) % 10 == 0 ? 20000000 + sp_rng_next(&r) % 30000000 : 0;
            uint64_t enq = arrival + 300000 + sp_rng_next(&r) % 400000;
            uint64_t disp = dispatch + extra;
            sp_record_stage(rec, id, SP_STAGE_PREPROCESS, arrival, enq);
            sp_record_stage(rec, id, tok, arrival + 10000, arrival + 200000);
            sp_record_stage(rec, id, SP_STAGE_QUEUE, enq, disp > enq ? disp : enq);
            uint64_t done = (disp > end ? disp : end) + 100000 + sp_rng_next(&r) % 300000;
            sp_record_stage(rec, id, SP_STAGE_POSTPROCESS, disp > end ? disp : end, done);
            arr[m] = arrival;
            dn[m] = done;
            tk[m] = 10 + (int64_t)(sp_rng_next(&r) % 50);
            rej[m] = sp_rng_next(&r) % 50 == 0;
        }
        nm = (uint32_t)(id - first);
        sp_copy_record h = {bid, SP_COPY_H2D, 0, 0, 0, 4096, dispatch, k0};
        sp_record_copy(rec, &h);
        sp_kernel_record k = {bid, kn, 0, 0, 0, k0, k1};
        sp_record_kernel(rec, &k);
        sp_copy_record d = {bid, SP_COPY_D2H, 0, 0, 0, 1024, k1, k1 + 50000};
        sp_record_copy(rec, &d);
        sp_record_batch(rec, bid, members, nm, dispatch, end, 30 * nm, 64 * nm);
        for (uint32_t m = 0; m < nm; m++) {
            sp_record_request(rec, first + m, arr[m], dn[m], tk[m]);
            if (rej[m])
                sp_record_outcome(rec, first + m, SP_OUTCOME_REJECTED, 503);
        }
        bid++;
        t = end;
    }
}

/* The bucket of a latency, by the metrics' bounds (le inclusive). */
static int bucket_of(uint64_t ns) { return sp_mx_bucket(ns); }

/* docs/analysis.md's estimate of a share of pXX, written out again here from the per-request
 * partition: buckets' request counts and stage sums, the window of DESIGN 4 on the ranks, each bucket
 * weighted by the part of its ranks inside it. */
static double reference_share(const sp_ana *a, unsigned xx, int row)
{
    double cnt[SP_MX_BUCKETS] = {0}, stage[SP_MX_BUCKETS] = {0}, life[SP_MX_BUCKETS] = {0};
    for (size_t i = 0; i < a->n_reqs; i++) {
        int b = bucket_of(a->life[i]);
        cnt[b] += 1;
        life[b] += (double)a->life[i];
        stage[b] += row >= 0 ? (double)sp_ana_time(a, i, (size_t)row) : a->padding[i];
    }
    size_t lo, hi;
    sp_ana_share_window(a->n_reqs, xx, &lo, &hi);
    double num = 0, den = 0, below = 0;
    for (int b = 0; b < SP_MX_BUCKETS; b++) {
        double s = below > (double)(lo - 1) ? below : (double)(lo - 1);
        double e = below + cnt[b] < (double)hi ? below + cnt[b] : (double)hi;
        if (cnt[b] > 0 && e > s) {
            double w = (e - s) / cnt[b];
            num += w * stage[b];
            den += w * life[b];
        }
        below += cnt[b];
    }
    return den > 0 ? num / den : 0;
}

static int row_of(const sp_ana *a, const sp_events *ev, const char *name)
{
    for (size_t s = 0; s < a->n_stages; s++) {
        const char *n = (int)s == a->st_queue ? "queue" : (int)s == a->st_pre ? "preprocess" : (int)s == a->st_h2d ? "h2d"
                        : (int)s == a->st_kernel ? "kernel" : (int)s == a->st_gap ? "gap" : (int)s == a->st_d2h ? "d2h"
                        : (int)s == a->st_post ? "postprocess" : (int)s == a->st_other ? "other"
                        : (int)s == a->st_network ? "network"
                        : sp_str_get(&ev->strings, a->named_ids[s - 7 - (a->st_network >= 0)]);
        if (strcmp(n, name) == 0)
            return (int)s;
    }
    return -1;
}

/* A /metrics text's servprof_metrics_uptime_seconds (0 when it has none). */
static double uptime_of(const char *text)
{
    const char *at = strstr(text, "\nservprof_metrics_uptime_seconds ");
    return at ? strtod(at + strlen("\nservprof_metrics_uptime_seconds "), NULL) : 0;
}

int main(void)
{
    char paths[REPLICAS][256];
    char *texts[REPLICAS];
    size_t lens[REPLICAS];
    for (int k = 0; k < REPLICAS; k++) {
        char tag[32];
        snprintf(tag, sizeof tag, "fleet-r%d", k);
        tt_path(paths[k], tag);
        sp_recorder_options o;
        sp_recorder_options_init(&o);
        o.live_metrics = 1;
        o.price_per_hour = 3.0;
        sp_recorder *rec = NULL;
        CHECK(sp_recorder_open(paths[k], &o, &rec) == SP_OK);
        if (!rec)
            return sp_test_done("test_fleet_texts");
        sp_recorder_set_property(rec, "device", "cpu");
        record_replica(rec, k, sp_now_ns());
        CHECK(sp_recorder_flush(rec) == SP_OK);
        CHECK(sp_recorder_metrics_text(rec, &texts[k], &lens[k]) == SP_OK);
        CHECK(sp_recorder_close(rec) == SP_OK);
    }
    sp_fleet_text in[REPLICAS] = {{"r0:1", texts[0], lens[0]}, {"r1:1", texts[1], lens[1]}, {"r2:1", texts[2], lens[2]}};
    sp_report *fleet = NULL;
    char err[512] = "";
    CHECK(sp_fleet_report_texts(in, REPLICAS, NULL, &fleet, err, sizeof err) == SP_OK);
    if (!fleet) {
        fprintf(stderr, "fleet report: %s\n", err);
        return sp_test_done("test_fleet_texts");
    }
    /* the reference: the analyzer over the three traces together, and its per-request partition */
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    for (int k = 0; k < REPLICAS; k++)
        CHECK(sp_events_load_file(ev, paths[k], NULL, err, sizeof err) == SP_OK);
    sp_report *exact = NULL;
    CHECK(sp_analyze(ev, NULL, &exact, err, sizeof err) == SP_OK);
    sp_ana a;
    memset(&a, 0, sizeof a);
    a.ev = ev;
    sp_analyze_options_init(&a.opt);
    a.st_network = -1;
    CHECK(sp_ana_partition(&a, err, sizeof err) == SP_OK);

    CHECK(fleet->source != NULL);
    if (fleet->source) {
        CHECK_EQ_U64(fleet->source->n_replicas, REPLICAS);
        CHECK(strcmp(fleet->source->replicas[0], "metrics/r0:1") == 0);
        CHECK_NEAR(fleet->source->bucket_growth, pow(2, 0.25), 1e-12);
    }
    /* counts and tokens: exact */
    CHECK_EQ_U64(fleet->request_count, exact->request_count);
    CHECK_EQ_U64(fleet->requests_total, exact->requests_total);
    CHECK_EQ_U64(fleet->outcomes[SP_OUTCOME_REJECTED].count, exact->outcomes[SP_OUTCOME_REJECTED].count);
    CHECK_EQ_U64(fleet->batch_count, exact->batch_count);
    CHECK_EQ_U64((uint64_t)fleet->padding.effective_tokens, (uint64_t)exact->padding.effective_tokens);
    CHECK_EQ_U64((uint64_t)fleet->padding.padded_tokens, (uint64_t)exact->padding.padded_tokens);
    CHECK_NEAR(fleet->padding.waste_fraction, exact->padding.waste_fraction, 1e-12);
    CHECK_NEAR(fleet->latency.mean_ns, exact->latency.mean_ns, 1.0);
    CHECK_NEAR(fleet->cost.price_per_hour, 3.0, 0);
    CHECK(fleet->gpu.device_kind == SP_DEVICE_CPU);
    /* percentiles: within one bucket, a factor 2^(1/4) */
    const double g = pow(2, 0.25);
    uint64_t fl[3] = {fleet->latency.p50_ns, fleet->latency.p95_ns, fleet->latency.p99_ns};
    uint64_t ex[3] = {exact->latency.p50_ns, exact->latency.p95_ns, exact->latency.p99_ns};
    for (int q = 0; q < 3; q++) {
        CHECK((double)fl[q] <= (double)ex[q] * g + 1 && (double)fl[q] >= (double)ex[q] / g - 1);
        if (!((double)fl[q] <= (double)ex[q] * g + 1 && (double)fl[q] >= (double)ex[q] / g - 1))
            fprintf(stderr, "p%d: fleet %" PRIu64 " exact %" PRIu64 "\n", q == 0 ? 50 : q == 1 ? 95 : 99, fl[q], ex[q]);
    }
    /* each stage's share of p95: the documented estimate exactly, and near the exact share */
    double worst = 0;
    for (size_t s = 0; s < fleet->n_stages; s++) {
        const sp_stage_row *fr = &fleet->stages[s];
        int row = row_of(&a, ev, fr->name);
        CHECK(row >= 0);
        if (row < 0)
            continue;
        CHECK_NEAR(fr->share_p95, reference_share(&a, 95, row), 1e-9);
        CHECK_NEAR(fr->share_p50, reference_share(&a, 50, row), 1e-9);
        CHECK_NEAR(fr->share_p99, reference_share(&a, 99, row), 1e-9);
        CHECK_EQ_U64(fr->total_ns, exact->stages[row].total_ns);
        double d = fabs(fr->share_p95 - exact->stages[row].share_p95);
        worst = d > worst ? d : worst;
        CHECK(d <= 0.05);
    }
    /* padding is summed in fractions of a ns and written to the ns */
    CHECK_NEAR(fleet->padding.share_p95, reference_share(&a, 95, -1), 1e-7);
    CHECK(fabs(fleet->padding.share_p95 - exact->padding.share_p95) <= 0.05);
    fprintf(stderr, "largest difference of a share of p95 from the exact one: %.4f\n", worst);
    /* the same verdict */
    CHECK(fleet->verdict.stage && exact->verdict.stage && strcmp(fleet->verdict.stage, exact->verdict.stage) == 0);
    CHECK(fleet->verdict.group == exact->verdict.group);
    fprintf(stderr, "verdict: fleet %s, exact %s\n", fleet->verdict.stage ? fleet->verdict.stage : "-",
            exact->verdict.stage ? exact->verdict.stage : "-");
    /* the writers take it: text names the replicas, JSON carries the source */
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    CHECK(sp_report_write_text(fleet, f) == SP_OK);
    fclose(f);
    CHECK(buf && strstr(buf, "metrics/r1:1") != NULL);
    if (getenv("SP_TEST_VERBOSE") && buf)
        fputs(buf, stderr);
    free(buf);
    f = open_memstream(&buf, &blen);
    CHECK(sp_report_write_json(fleet, f) == SP_OK);
    fclose(f);
    CHECK(buf && strstr(buf, "\"source\"") != NULL && strstr(buf, "\"p95_us\":null") != NULL);
    free(buf);

    /* a replica that answered nothing yet: the report is of a window of live metrics, not of a
     * trace, and says so (it said "no requests in the trace", "no device activity in the trace") */
    {
        char idle_path[256];
        tt_path(idle_path, "fleet-idle");
        sp_recorder_options o;
        sp_recorder_options_init(&o);
        o.live_metrics = 1;
        sp_recorder *rec = NULL;
        CHECK(sp_recorder_open(idle_path, &o, &rec) == SP_OK);
        char *it = NULL;
        size_t il = 0;
        CHECK(rec && sp_recorder_metrics_text(rec, &it, &il) == SP_OK);
        sp_fleet_text idle = {"idle:1", it, il};
        sp_report *empty = NULL;
        CHECK_MSG(sp_fleet_report_texts(&idle, 1, NULL, &empty, err, sizeof err) == SP_OK, "%s", err);
        char *eb = NULL;
        size_t el = 0;
        FILE *ef = open_memstream(&eb, &el);
        CHECK(empty && ef && sp_report_write_text(empty, ef) == SP_OK);
        if (ef)
            fclose(ef);
        CHECK_MSG(eb && strstr(eb, "no requests in the window: no latency") != NULL, "%s", eb ? eb : "");
        CHECK_MSG(eb && strstr(eb, "no device activity in the window") != NULL, "%s", eb ? eb : "");
        CHECK_MSG(eb && strstr(eb, "in the trace") == NULL, "%s", eb ? eb : "");
        free(eb);
        sp_report_destroy(empty);
        sp_metrics_text_free(it);
        sp_recorder_close(rec);
        unlink(idle_path);
    }

    /* a window reaching back before the replicas started (Prometheus' --range 1h over replicas whose
     * metrics have run for seconds) holds nothing before them: each replica's bill is its uptime, not
     * the hour (it was $4.00 of no_batch at $4/h for replicas up for seconds), the fleet's the sum of
     * the three (docs/fleet.md, "Cost"; before, the longest uptime once), the report's window the
     * longest uptime, and the header says how much of the range the metrics cover */
    {
        sp_fl_set set = {NULL, 0, 0};
        for (int k = 0; k < REPLICAS; k++)
            CHECK(sp_fl_parse_exposition(&set, in[k].replica, texts[k], lens[k], err, sizeof err) == SP_OK);
        double up = 0;
        for (size_t i = 0; i < set.n; i++)
            if (!strcmp(set.s[i].metric, "servprof_metrics_uptime_seconds") && set.s[i].value > up)
                up = set.s[i].value;
        CHECK(up > 0 && up < 60);
        sp_fl_origin hour = {"prometheus", "http://prom:9090", "", "1h", 3600.0, 0, 0};
        sp_report *h = NULL;
        CHECK_MSG(sp_fl_report(&set, &hour, &h, err, sizeof err) == SP_OK, "%s", err);
        if (h) {
            CHECK_NEAR((double)h->cost.window_ns, up * 1e9, 1.0);
            CHECK(h->source && h->source->range_s == 3600.0 && h->source->window_s == up);
            double want = 0; /* the replicas' price, $3/h, over each one's uptime */
            for (int k = 0; k < REPLICAS; k++)
                want += 3.0 * uptime_of(texts[k]) / 3600.0;
            CHECK(want > 3.0 * up / 3600.0); /* three replicas' time, more than the longest one's */
            CHECK_NEAR(h->cost.bill, want, 1e-12);
            char *hb = NULL;
            size_t hl = 0;
            FILE *hf = open_memstream(&hb, &hl);
            CHECK(hf && sp_report_write_text(h, hf) == SP_OK);
            if (hf)
                fclose(hf);
            CHECK_MSG(hb && strstr(hb, "window 1h (the replicas' metrics cover its last "), "%s", hb ? hb : "");
            free(hb);
        }
        sp_report_destroy(h);
        /* a range within the uptime is billed whole, and the header has no such note */
        sp_fl_origin short_range = {"prometheus", "http://prom:9090", "", "1s", up / 2, 0, 0};
        CHECK(sp_fl_report(&set, &short_range, &h, err, sizeof err) == SP_OK);
        if (h)
            CHECK_NEAR((double)h->cost.window_ns, up / 2 * 1e9, 1.0);
        sp_report_destroy(h);
        sp_fl_set_free(&set);
    }

    /* Prometheus' `up` at 0 for a replica (its last scrape in the window failed: killed or hung
     * midway) names it in the header and the JSON's source.replicas_down; `up` 1 names nothing, nor does
     * `up` 1 of a target with no servprof series (it answered without them: no replica). A target of the
     * replicas' job at `up` 0 with no servprof series never answered in the window: it is named apart
     * ("never answered in the window", JSON source.replicas_never; before, it was neither counted nor
     * named), but not one of another job (a node exporter the selector also matched). Before, a
     * replica killed midway was listed with the others and nothing said its figures stopped early. */
    {
        sp_fl_set set = {NULL, 0, 0};
        for (int k = 0; k < REPLICAS; k++)
            CHECK(sp_fl_parse_exposition(&set, in[k].replica, texts[k], lens[k], err, sizeof err) == SP_OK);
        const char *names[2] = {"job", "instance"};
        const char *v0[2] = {"metrics", in[0].replica}, *v1[2] = {"metrics", in[1].replica},
                   *vx[2] = {"metrics", "127.0.0.1:8000"}, *vy[2] = {"metrics", "127.0.0.1:8001"},
                   *vz[2] = {"node", "127.0.0.1:9100"};
        CHECK(sp_fl_set_add(&set, "up", 2, names, v0, 1) == SP_OK);
        CHECK(sp_fl_set_add(&set, "up", 2, names, vx, 0) == SP_OK);
        CHECK(sp_fl_set_add(&set, "up", 2, names, vy, 1) == SP_OK);
        CHECK(sp_fl_set_add(&set, "up", 2, names, vz, 0) == SP_OK);
        sp_fl_origin o = {"prometheus", "http://prom:9090", "", "1s", 1.0, 0, 0};
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1)
                CHECK(sp_fl_set_add(&set, "up", 2, names, v1, 0) == SP_OK);
            sp_report *h = NULL;
            CHECK_MSG(sp_fl_report(&set, &o, &h, err, sizeof err) == SP_OK, "%s", err);
            if (!h)
                continue;
            char want[256];
            snprintf(want, sizeof want, "metrics/%s", in[1].replica);
            CHECK(h->source && h->source->n_down == (size_t)pass);
            CHECK(pass == 0 || (h->source->n_down == 1 && !strcmp(h->source->down[0], want)));
            /* never answered: named whichever the pass, and in no count of replicas */
            CHECK(h->source->n_never == 1 && !strcmp(h->source->never[0], "metrics/127.0.0.1:8000"));
            CHECK(h->source->n_replicas == REPLICAS);
            char *tb = NULL, *jb = NULL;
            size_t tl = 0, jl = 0;
            FILE *tf = open_memstream(&tb, &tl), *jf = open_memstream(&jb, &jl);
            CHECK(tf && jf && sp_report_write_text(h, tf) == SP_OK && sp_report_write_json(h, jf) == SP_OK);
            if (tf)
                fclose(tf);
            if (jf)
                fclose(jf);
            char line[512];
            snprintf(line, sizeof line, "before): %s\n", want); /* the sentence's end, after its wrap */
            char jwant[512];
            snprintf(jwant, sizeof jwant, "\"replicas_down\":[\"%s\"],", want);
            CHECK_MSG(tb && strstr(tb, "\nnever answered in the window (Prometheus' up is 0 and it has no servprof "
                                       "series: not in the figures\n  nor the 3 replicas above): "
                                       "metrics/127.0.0.1:8000\n") &&
                          !strstr(tb, "8001") && !strstr(tb, "node/"),
                      "%s", tb ? tb : "");
            CHECK_MSG(jb && strstr(jb, "\"replicas_never\":[\"metrics/127.0.0.1:8000\"]}"), "%s", jb ? jb : "");
            if (pass == 0) {
                CHECK_MSG(tb && !strstr(tb, "stopped answering"), "%s", tb ? tb : "");
                CHECK_MSG(jb && strstr(jb, "\"replicas_down\":[],"), "%s", jb ? jb : "");
            } else {
                CHECK_MSG(tb && strstr(tb, "\nstopped answering in the window (Prometheus' last scrape failed; "
                                           "the figures hold what was scraped") && strstr(tb, line),
                          "%s", tb ? tb : "");
                CHECK_MSG(jb && strstr(jb, jwant), "%s", jb ? jb : "");
            }
            /* the HTML page's header names them too (before, it named neither) */
            char *hb = NULL;
            size_t hl = 0;
            FILE *hf = open_memstream(&hb, &hl);
            CHECK(hf && sp_report_write_html(h, NULL, hf) == SP_OK);
            if (hf)
                fclose(hf);
            CHECK_MSG(hb && strstr(hb, "<p class=\"warn\">Never answered in the window (Prometheus' up is 0 and it "
                                       "has no servprof series: not in the figures nor the 3 replicas): "
                                       "metrics/127.0.0.1:8000</p>\n") && !strstr(hb, "8001") && !strstr(hb, "node/"),
                      "%s", hb ? hb : "");
            char hwant[512];
            snprintf(hwant, sizeof hwant, "<p class=\"warn\">Stopped answering in the window (Prometheus' last "
                     "scrape failed; the figures hold what was scraped before): %s</p>\n", want);
            /* the page's first line says what the report covers: its 3 replicas, as the text's header
             * does, not the "0 files" a report made from no files had */
            CHECK_MSG(hb && strstr(hb, "<p class=\"sub\">3 replicas (a fleet report), ") && !strstr(hb, "0 files"),
                      "%s", hb ? hb : "");
            if (pass == 0)
                CHECK_MSG(hb && !strstr(hb, "Stopped answering"), "%s", hb ? hb : "");
            else
                CHECK_MSG(hb && strstr(hb, hwant), "%s", hb ? hb : "");
            free(hb);
            free(tb);
            free(jb);
            sp_report_destroy(h);
        }
        sp_fl_set_free(&set);
    }

    /* no replica answered: the error names the targets whose last scrape failed (up 0), the likely
     * replicas; before, it said only that the series are not there */
    {
        sp_fl_set set = {NULL, 0, 0};
        const char *names[2] = {"job", "instance"};
        const char *va[2] = {"serve", "10.0.0.4:8000"}, *vb[2] = {"serve", "10.0.0.5:8000"};
        CHECK(sp_fl_set_add(&set, "up", 2, names, va, 0) == SP_OK);
        CHECK(sp_fl_set_add(&set, "up", 2, names, vb, 1) == SP_OK);
        sp_fl_origin o = {"prometheus", "http://prom:9090", "{job=\"serve\"}", "5m", 300.0, 0, 0};
        sp_report *h = NULL;
        CHECK(sp_fl_report(&set, &o, &h, err, sizeof err) == SP_ERR_FORMAT && h == NULL);
        CHECK_MSG(strstr(err, "no servprof_requests_total series matching {job=\"serve\"}") &&
                      strstr(err, "; Prometheus' last scrape in the window failed (up 0) for: serve/10.0.0.4:8000") &&
                      !strstr(err, "10.0.0.5"),
                  "%s", err);
        sp_fl_set_free(&set);
    }

    /* a text that is not the exposition format: an error naming the replica and line */
    sp_fleet_text bad = {"r9:1", "servprof_requests_total{outcome=\"ok\" 3\n", 40};
    sp_report *none = NULL;
    CHECK(sp_fleet_report_texts(&bad, 1, NULL, &none, err, sizeof err) == SP_ERR_PARSE && none == NULL);
    CHECK(strstr(err, "r9:1: line 1") != NULL);
    /* a replica's servprof_price_per_hour that no recorder publishes (above SP_MAX_PRICE_PER_HOUR, negative,
     * NaN, Inf): refused as a trace's meta price is, naming the replica and the metric, with the option
     * given or not; the bound itself is a price, and the option above it is refused */
    {
        const char *needle = "\nservprof_price_per_hour 3\n";
        char *at = strstr(texts[1], needle);
        CHECK_MSG(at != NULL, "replica r1:1 publishes its price");
        const char *prices[] = {"1e300", "1000000.5", "-3", "NaN", "+Inf", "1e6"};
        for (size_t i = 0; at && i < sizeof prices / sizeof *prices; i++) {
            size_t cap = lens[1] + 64;
            char *priced = malloc(cap);
            size_t head = (size_t)(at - texts[1]) + 1, tail = head + strlen(needle) - 2;
            int n = snprintf(priced, cap, "%.*sservprof_price_per_hour %s%s", (int)head, texts[1], prices[i],
                             texts[1] + tail);
            CHECK(n > 0 && (size_t)n < cap);
            sp_fleet_text two[2] = {in[0], {"r1:1", priced, (size_t)n}};
            for (int opt = 0; opt < 2; opt++) {
                sp_fleet_options fo;
                sp_fleet_options_init(&fo);
                fo.price_per_hour = opt ? 5.0 : 0;
                sp_status fs = sp_fleet_report_texts(two, 2, &fo, &none, err, sizeof err);
                if (i + 1 < sizeof prices / sizeof *prices)
                    CHECK_MSG(fs == SP_ERR_PARSE && none == NULL && strstr(err, "replica metrics/r1:1") &&
                                  strstr(err, "servprof_price_per_hour"),
                              "price %s: %s", prices[i], err);
                else {
                    /* at the bound: each replica billed at its own price over its uptime, the price the
                     * bill over the replica-hours (before: the mean of the two prices, (1e6 + 3) / 2) */
                    double u0 = uptime_of(in[0].text), u1 = uptime_of(priced);
                    double bill = (3.0 * u0 + 1e6 * u1) / 3600.0;
                    CHECK_MSG(fs == SP_OK && none &&
                                  fabs(none->cost.bill - (opt ? 5.0 * (u0 + u1) / 3600.0 : bill)) < 1e-9 &&
                                  fabs(none->cost.price_per_hour - (opt ? 5.0 : bill * 3600.0 / (u0 + u1))) < 1e-6,
                              "price %s: %s", prices[i], err);
                }
                sp_report_destroy(none);
                none = NULL;
            }
            free(priced);
        }
        sp_fleet_options fo;
        sp_fleet_options_init(&fo);
        fo.price_per_hour = 2e6;
        CHECK(sp_fleet_report_texts(in, REPLICAS, &fo, &none, err, sizeof err) == SP_ERR_INVALID && none == NULL);
        CHECK(sp_fleet_options_check(&fo, err, sizeof err) == SP_ERR_INVALID && strstr(err, "--price-per-hour"));
    }
    /* A fleet of 200 replicas with long names (about 10 KB of names): the header's sentence names
     * every one, the last included. The sentence was built in a 4096-byte line, so it stopped mid-name
     * after about 90 replicas while the count said 200 (found by tests/cli/report_crosscheck.sh's
     * fleet mode). The replicas' texts are replica 0's, each under its own name. */
    {
        enum { MANY = 200 };
        sp_fleet_text *many = calloc(MANY, sizeof *many);
        char(*names)[64] = calloc(MANY, sizeof *names);
        CHECK(many && names);
        for (int i = 0; many && names && i < MANY; i++) {
            snprintf(names[i], sizeof names[i], "replica-%03d.serving.example.internal:8000", i);
            many[i] = (sp_fleet_text){names[i], texts[0], lens[0]};
        }
        sp_report *big = NULL;
        CHECK(many && names && sp_fleet_report_texts(many, MANY, NULL, &big, err, sizeof err) == SP_OK && big);
        if (big) {
            CHECK(big->source->n_replicas == MANY);
            char *tb = NULL;
            size_t tl = 0;
            FILE *tf = open_memstream(&tb, &tl);
            CHECK(tf && sp_report_write_text(big, tf) == SP_OK);
            if (tf)
                fclose(tf);
            int named = 0;
            for (int i = 0; tb && i < MANY; i++) {
                char want[80];
                /* each name whole, followed by the list's comma or the sentence's end */
                snprintf(want, sizeof want, "%s%s", names[i], i + 1 < MANY ? "," : "\n");
                named += strstr(tb, want) != NULL;
            }
            CHECK_MSG(named == MANY, "the replicas sentence names %d of %d replicas", named, MANY);
            free(tb);
            sp_report_destroy(big);
        }
        free(many);
        free(names);
    }
    /* a text without servprof's metrics */
    sp_fleet_text other = {"r8:1", "up 1\n", 5};
    CHECK(sp_fleet_report_texts(&other, 1, NULL, &none, err, sizeof err) == SP_ERR_FORMAT && none == NULL);

    sp_ana_free(&a);
    sp_report_destroy(exact);
    sp_report_destroy(fleet);
    sp_events_destroy(ev);
    for (int k = 0; k < REPLICAS; k++) {
        sp_metrics_text_free(texts[k]);
        unlink(paths[k]);
    }
    return sp_test_done("test_fleet_texts");
}
