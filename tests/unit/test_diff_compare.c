/* servprof diff's library (include/servprof/diff.h) apart from the bootstrap's numbers
 * (test_diff_bootstrap.c):
 *  - a run read back from its own servprof.report/1 JSON has the analysis's figures (durations exact
 *    to the ns, shares to the 6 digits the report writes), and the reader names file, line and key
 *    when a report is damaged; a servprof document of another schema is told apart from a trace;
 *  - a run compared with itself: every change 0, every interval holding 0, no condition holds;
 *    from reports, point estimates only;
 *  - stages of both runs merged in report order, a stage one run lacks counted 0 there;
 *  - the condition grammar: accepted forms and their fields, refused forms;
 *  - the rule, on hand-made metrics: rise and fall, interval bound or point, relative to BASE, BASE 0;
 *  - a run loaded from a trace quotes the verdict's what-if prediction as `servprof analyze` does
 *    (sp_whatif_quote_verdict after sp_analyze): its sentence is the quoted analysis's byte for byte,
 *    with the policy in the trace (a prediction), under release_events, and without the policy (the
 *    note that there is none).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff/diff_int.h"
#include "report/diff_fmt.h"
#include "ev_build.h"
#include "testlib.h"
#include "servprof/report.h"
#include "servprof/whatif.h"

/* 40 requests with preprocess, queue and a batch each (kernel with padding), and with `named` a
 * stage span "db" in every fourth request; the queue takes `queue_ns` x (1 + i % 5). */
static sp_report *analyse(uint64_t queue_ns, int named, int keep)
{
    sp_events *ev = eb_new();
    for (int i = 0; i < 40; i++) {
        char id[8];
        snprintf(id, sizeof id, "r%02d", i);
        uint64_t a = 100000u * (uint64_t)i, q = queue_ns * (uint64_t)(1 + i % 5);
        uint64_t b0 = a + 1000 + q, b1 = b0 + 5000 + 100u * (uint64_t)(i % 7);
        uint32_t r = eb_req(ev, id, a, b1 + 500);
        eb_span(ev, r, "preprocess", a, a + 1000);
        eb_span(ev, r, "queue", a + 1000, b0);
        if (named && i % 4 == 0)
            eb_span(ev, r, "db", b1, b1 + 500);
        else
            eb_span(ev, r, "postprocess", b1, b1 + 500);
        uint32_t b = eb_batch(ev, i, b0, b1, 30, 40, &r, 1);
        eb_act(ev, SP_ACT_KERNEL, b, b0, b1);
    }
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = keep;
    sp_report *rep;
    char err[256];
    if (sp_analyze(ev, &o, &rep, err, sizeof err) != SP_OK) {
        fprintf(stderr, "fixture: %s\n", err);
        exit(1);
    }
    sp_events_destroy(ev);
    return rep;
}

static char *report_json(const sp_report *r, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f || sp_report_write_json(r, f) != SP_OK) {
        fprintf(stderr, "fixture: writing the report\n");
        exit(1);
    }
    fclose(f);
    return buf;
}

static void test_report_round_trip(void)
{
    sp_report *r = analyse(2000, 1, 0);
    size_t len;
    char *js = report_json(r, &len);
    CHECK_MSG(sp_diff_sniff(js, len, NULL, 0) == SP_DIFF_DOC_REPORT, "sniff: a report");
    CHECK_MSG(sp_diff_sniff("{\"ev\":\"meta\"}\n", 13, NULL, 0) == SP_DIFF_DOC_OTHER, "sniff: a JSONL trace");
    char schema[64];
    CHECK_MSG(sp_diff_sniff("{\"schema\":\"servprof.diff/1\"}", 28, schema, sizeof schema) == SP_DIFF_DOC_FOREIGN &&
              strcmp(schema, "servprof.diff/1") == 0,
              "sniff: another servprof schema");
    sp_diff_run *run;
    char err[512];
    sp_status st;
    CHECK_MSG(sp_diff_run_read_report("r.json", js, len, &run, err, sizeof err) == SP_OK, "read: %s", err);
    CHECK_MSG(run->source == SP_DIFF_FROM_REPORT && run->n_rows == 0, "a report has no rows");
    CHECK_MSG(run->requests == 40 && run->files == 1, "requests %llu", (unsigned long long)run->requests);
    CHECK_MSG(run->lat_ns[0] == r->latency.p50_ns && run->lat_ns[1] == r->latency.p95_ns &&
              run->lat_ns[2] == r->latency.p99_ns,
              "latency read back exactly");
    CHECK_MSG(run->n_stages == r->n_stages, "stages %zu vs %zu", run->n_stages, r->n_stages);
    for (size_t s = 0; s < r->n_stages && s < run->n_stages; s++) {
        CHECK_MSG(strcmp(run->stages[s].name, r->stages[s].name) == 0, "stage %zu name", s);
        CHECK_MSG(run->stages[s].p95_ns == r->stages[s].q.p95_ns && run->stages[s].p50_ns == r->stages[s].q.p50_ns,
                  "stage %s percentiles", r->stages[s].name);
        /* the report writes 6 significant digits */
        CHECK_MSG(fabs(run->stages[s].share_p95 - r->stages[s].share_p95) <=
                      5e-6 * fabs(r->stages[s].share_p95) + 1e-12,
                  "stage %s share %.9g vs %.9g", r->stages[s].name, run->stages[s].share_p95, r->stages[s].share_p95);
    }
    CHECK_MSG(fabs(run->padding_share_p95 - r->padding.share_p95) < 1e-6 && r->padding.share_p95 > 0, "padding share");
    CHECK_MSG(fabs(run->waste_fraction - 0.25) < 1e-9, "waste 1 - 30/40 = 0.25, read %g", run->waste_fraction);
    CHECK_MSG(fabs(run->per_request - r->cost.per_request) <= 1e-8 * r->cost.per_request, "cost per request");
    CHECK_MSG(run->verdict_stage && r->verdict.stage && strcmp(run->verdict_stage, r->verdict.stage) == 0, "verdict");
    CHECK_MSG(run->verdict_sentence && strcmp(run->verdict_sentence, r->verdict.sentence) == 0, "sentence");

    /* the same figures from the analysis directly */
    sp_diff_run *direct;
    CHECK_MSG(sp_diff_run_from_report(r, "direct", &direct) == SP_OK, "from report");
    CHECK_MSG(direct->lat_ns[1] == run->lat_ns[1] && direct->n_rows == 0, "no keep_requests: no rows");

    /* the same run from its report and from its analysis: point estimates only, every change 0, money
     * and shares too (the analysis' exact figures are compared at the report's 9 and 6 digits) */
    sp_diff *d;
    CHECK_MSG(sp_diff_compare(run, direct, NULL, &d, err, sizeof err) == SP_OK, "compare: %s", err);
    CHECK_MSG(!d->intervals, "reports give no intervals");
    for (size_t k = 0; k < d->n_metrics; k++) {
        const sp_diff_metric *m = &d->metrics[k];
        CHECK_MSG(!m->has_interval, "%s has an interval", m->path);
        CHECK_MSG(m->change == 0 || isnan(m->change), "%s changed by %g", m->path, m->change);
    }
    sp_diff_destroy(d);
    sp_diff_run_destroy(direct);
    sp_diff_run_destroy(run);

    /* damaged reports: the file, the line and the key */
    char *bad = strdup(js);
    char *p = strstr(bad, "\"share_of_bill\"");
    memcpy(p, "\"share_of_bilX\"", 15);
    CHECK_MSG(sp_diff_run_read_report("bad.json", bad, len, &run, err, sizeof err) == SP_ERR_PARSE &&
              strstr(err, "bad.json:") && strstr(err, "padding.share_of_bill missing"),
              "missing key: %s", err);
    free(bad);
    bad = strdup(js);
    p = strstr(bad, "\"p95_us\":");
    p[9] = '"'; /* "p95_us":"123.456,... : now a string, then malformed */
    CHECK_MSG(sp_diff_run_read_report("bad.json", bad, len, &run, err, sizeof err) == SP_ERR_PARSE &&
                  strstr(err, "bad.json"),
              "malformed: %s", err);
    free(bad);
    const char *wrong = "{\"schema\":\"servprof.report/1\",\"files\":1,\"requests\":{\"count\":\"many\"}}";
    CHECK_MSG(sp_diff_run_read_report("w.json", wrong, strlen(wrong), &run, err, sizeof err) == SP_ERR_PARSE &&
              strstr(err, "w.json:1: requests.count: expected an integer >= 0, got a string"),
              "wrong kind: %s", err);
    /* a price a report never holds (above SP_MAX_PRICE_PER_HOUR, 0, negative): refused like the option and a
     * trace's meta price, naming the file, line and key; the bound itself is a price */
    const char *prices[] = {"1e300", "1000000.5", "0", "-4", "1000000"};
    for (size_t i = 0; i < sizeof prices / sizeof *prices; i++) {
        char *src = strdup(js); /* as above: a copy, not the writer's buffer */
        char *at = strstr(src, "\"price_per_hour\":");
        CHECK_MSG(at != NULL, "the report has a price");
        if (!at) {
            free(src);
            break;
        }
        at += strlen("\"price_per_hour\":");
        size_t head = (size_t)(at - src), num = strcspn(at, ",}");
        size_t blen = len - num + strlen(prices[i]);
        char *priced = malloc(blen + 1);
        memcpy(priced, src, head);
        memcpy(priced + head, prices[i], strlen(prices[i]));
        memcpy(priced + head + strlen(prices[i]), at + num, len - head - num + 1);
        free(src);
        st = sp_diff_run_read_report("p.json", priced, blen, &run, err, sizeof err);
        if (i + 1 < sizeof prices / sizeof *prices)
            CHECK_MSG(st == SP_ERR_PARSE && strstr(err, "p.json:") && strstr(err, "cost.price_per_hour") &&
                          strstr(err, prices[i]),
                      "price %s: %s", prices[i], err);
        else {
            CHECK_MSG(st == SP_OK && run->price_per_hour == SP_MAX_PRICE_PER_HOUR, "price %s: %s", prices[i], err);
            if (st == SP_OK)
                sp_diff_run_destroy(run);
        }
        free(priced);
    }
    const char *other = "{\"schema\":\"servprof.whatif/1\"}";
    CHECK_MSG(sp_diff_run_read_report("o.json", other, strlen(other), &run, err, sizeof err) == SP_ERR_FORMAT,
              "other schema: %s", err);
    free(js);
    sp_report_destroy(r);
}

static void test_self_and_union(void)
{
    sp_report *r1 = analyse(2000, 1, 1), *r2 = analyse(6000, 0, 1);
    sp_diff_run *a, *b;
    CHECK_MSG(sp_diff_run_from_report(r1, "one", &a) == SP_OK && a->n_rows == 40, "rows kept");
    CHECK_MSG(sp_diff_run_from_report(r2, "two", &b) == SP_OK, "run two");
    char err[512];
    sp_diff_options o;
    sp_diff_options_init(&o);
    o.resamples = 400;
    sp_diff *d;
    CHECK_MSG(sp_diff_compare(a, a, &o, &d, err, sizeof err) == SP_OK, "self: %s", err);
    CHECK_MSG(d->intervals, "traces give intervals");
    /* 40 requests: the default block, max(100, ceil(sqrt(40)) = 7) cut to 40 / 10, is 4 */
    CHECK_MSG(d->base.block == 4 && d->after.block == 4, "self: blocks of %zu and %zu", d->base.block, d->after.block);
    for (size_t k = 0; k < d->n_metrics; k++) {
        const sp_diff_metric *m = &d->metrics[k];
        CHECK_MSG(m->change == 0 || isnan(m->change), "self: %s changed by %g", m->path, m->change);
        if (m->has_interval)
            CHECK_MSG(m->lo <= 0 && m->hi >= 0, "self: %s interval [%g, %g] misses 0", m->path, m->lo, m->hi);
    }
    const char *specs[] = {"p95:+0%", "p95:-0%", "stage.queue.share_of_p95:+0", "stage.db.p95:+0ns"};
    for (size_t i = 0; i < 4; i++) {
        sp_diff_condition c;
        CHECK_MSG(sp_diff_condition_parse(specs[i], &c, err, sizeof err) == SP_OK, "%s: %s", specs[i], err);
        CHECK_MSG(sp_diff_check_condition(d, &c, err, sizeof err) == SP_OK, "%s: %s", specs[i], err);
    }
    CHECK_MSG(d->n_checks == 4 && d->n_holding == 0, "self: %zu conditions hold", d->n_holding);
    sp_diff_destroy(d);

    /* one has "db", the other not: merged in report order (named before other), 0 where missing */
    CHECK_MSG(sp_diff_compare(a, b, &o, &d, err, sizeof err) == SP_OK, "compare: %s", err);
    const char *want[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h", "postprocess", "db", "other"};
    CHECK_MSG(d->n_stages == 9, "%zu stages", d->n_stages);
    for (size_t u = 0; u < d->n_stages && u < 9; u++)
        CHECK_MSG(strcmp(d->stages[u].name, want[u]) == 0, "stage %zu: %s, expected %s", u, d->stages[u].name, want[u]);
    CHECK_MSG(d->stages[7].in_base && !d->stages[7].in_new, "db only in BASE");
    const sp_diff_metric *m = sp_diff_find(d, "stage.db.p99");
    CHECK_MSG(m && m->base_value == 500 && m->new_value == 0 && m->has_interval, "db p99 500 ns -> 0");
    /* queue grows 3x: its p95 (the 38th of 40: (95 x 40 + 99) / 100) is 5 x 2000 -> 5 x 6000 ns, the
     * largest value, which 8 of the 40 requests have */
    m = sp_diff_find(d, "stage.queue.p95");
    CHECK_MSG(m && m->base_value == 10000 && m->new_value == 30000 && m->change == 20000 && m->lo <= 20000 &&
              m->hi >= 20000,
              "queue p95 10 -> 30 us, interval [%g, %g]", m ? m->lo : -1, m ? m->hi : -1);
    CHECK_MSG(sp_diff_find(d, "p95") == sp_diff_find(d, "latency.p95") && sp_diff_find(d, "p95"), "alias");
    CHECK_MSG(!sp_diff_find(d, "stage.nosuch.p95"), "no such stage");
    sp_diff_condition c;
    CHECK_MSG(sp_diff_condition_parse("stage.nosuch.p95:+1%", &c, err, sizeof err) == SP_OK, "parse");
    CHECK_MSG(sp_diff_check_condition(d, &c, err, sizeof err) == SP_ERR_INVALID && strstr(err, "queue, preprocess"),
              "unknown stage names the stages: %s", err);
    CHECK_MSG(sp_diff_condition_parse("stage.queue.p95:+100%", &c, err, sizeof err) == SP_OK &&
              sp_diff_check_condition(d, &c, err, sizeof err) == SP_OK && d->checks[0].holds,
              "queue p95 +200%% holds beyond +100%%");
    sp_diff_destroy(d);

    /* options and empty runs */
    o.resamples = 0;
    CHECK_MSG(sp_diff_compare(a, b, &o, &d, err, sizeof err) == SP_ERR_INVALID, "resamples 0");
    sp_diff_options_init(&o);
    o.confidence = 1.0;
    CHECK_MSG(sp_diff_compare(a, b, &o, &d, err, sizeof err) == SP_ERR_INVALID, "confidence 1");
    sp_diff_options_init(&o);
    o.block = SP_DIFF_MAX_BLOCK + 1;
    CHECK_MSG(sp_diff_compare(a, b, &o, &d, err, sizeof err) == SP_ERR_INVALID && strstr(err, "block"), "block: %s",
              err);
    o.block = 1000; /* longer than both runs of 40: cut to 40 / 10, as the default is */
    o.resamples = 100;
    CHECK_MSG(sp_diff_compare(a, b, &o, &d, err, sizeof err) == SP_OK && d->base.block == 4 && d->after.block == 4,
              "a block over a tenth of the run is cut to it: %s", err);
    sp_diff_destroy(d);
    sp_diff_run *empty = sp_diff_run_new();
    empty->label = strdup("empty");
    CHECK_MSG(sp_diff_compare(empty, b, NULL, &d, err, sizeof err) == SP_ERR_INVALID && strstr(err, "BASE (empty)"),
              "no requests: %s", err);
    sp_diff_run_destroy(empty);
    sp_diff_run_destroy(a);
    sp_diff_run_destroy(b);
    sp_report_destroy(r1);
    sp_report_destroy(r2);
}

static void test_grammar(void)
{
    static const struct {
        const char *spec, *metric;
        sp_diff_unit unit;
        int direction, relative;
        double threshold;
    } ok[] = {
        {"p95:+5%", "latency.p95", SP_DIFF_UNIT_NS, 1, 1, 0.05},
        {"latency.p99:-2.5%", "latency.p99", SP_DIFF_UNIT_NS, -1, 1, 0.025},
        {"p50:+2ms", "latency.p50", SP_DIFF_UNIT_NS, 1, 0, 2e6},
        {"p50:+1.5us", "latency.p50", SP_DIFF_UNIT_NS, 1, 0, 1500},
        {"p99:+1s", "latency.p99", SP_DIFF_UNIT_NS, 1, 0, 1e9},
        {"p99:+250ns", "latency.p99", SP_DIFF_UNIT_NS, 1, 0, 250},
        {"stage.queue.share_of_p95:+0.05", "stage.queue.share_of_p95", SP_DIFF_UNIT_FRACTION, 1, 0, 0.05},
        /* points, as diff prints share changes: 5pts is the same threshold as 0.05 */
        {"stage.queue.share_of_p95:+5pts", "stage.queue.share_of_p95", SP_DIFF_UNIT_FRACTION, 1, 0, 0.05},
        {"padding.waste_fraction:-2.5pts", "padding.waste_fraction", SP_DIFF_UNIT_FRACTION, -1, 0, 0.025},
        {"stage.db.lookup:x.p95:+10%", "stage.db.lookup:x.p95", SP_DIFF_UNIT_NS, 1, 1, 0.10},
        {"padding.waste_fraction:-0.1", "padding.waste_fraction", SP_DIFF_UNIT_FRACTION, -1, 0, 0.1},
        {"cost.per_request:+10%", "cost.per_request", SP_DIFF_UNIT_DOLLARS, 1, 1, 0.10},
        {"cost.per_request_by_state.gap:+0.000001", "cost.per_request_by_state.gap", SP_DIFF_UNIT_DOLLARS, 1, 0, 1e-6},
        {"requests.count:-10%", "requests.count", SP_DIFF_UNIT_COUNT, -1, 1, 0.10},
    };
    char err[512];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        sp_diff_condition c;
        sp_status st = sp_diff_condition_parse(ok[i].spec, &c, err, sizeof err);
        CHECK_MSG(st == SP_OK, "%s: %s", ok[i].spec, err);
        if (st)
            continue;
        CHECK_MSG(strcmp(c.metric, ok[i].metric) == 0 && c.unit == ok[i].unit && c.direction == ok[i].direction &&
                  c.relative == ok[i].relative && c.threshold == ok[i].threshold && strcmp(c.spec, ok[i].spec) == 0,
                  "%s: metric %s unit %d dir %d rel %d threshold %.17g", ok[i].spec, c.metric, (int)c.unit, c.direction,
                  c.relative, c.threshold);
    }
    static const char *const bad[] = {
        "p95",                 /* no threshold */
        "p95:5%",              /* no direction */
        "p95:+5",              /* a duration without a unit */
        "p95:+5 ms",           /* a blank */
        "p95:++5%",            /* two signs */
        "p95:+-5%",
        "p95:+%",              /* no digits */
        "p95:+1e3ms",          /* no exponents */
        "p95:+0x10ms",
        "p96:+5%",             /* no such percentile */
        "latency.p90:+5%",
        "stage..p95:+5%",      /* an empty stage name */
        "stage.queue.p90:+5%", /* no such field */
        "stage.queue:+5%",
        "stage.queue.share_of_p95:+5ms", /* a unit on a share */
        "stage.queue.share_of_p95:+1.5", /* a share moves by at most 1 */
        "stage.queue.share_of_p95:+101pts", /* ... 100 points */
        "stage.queue.share_of_p95:+5pt",
        "cost.per_request_by_state.idle:+5%",
        "cost.per_request:+5us",
        "requests.count:+5s",
        "p95:+1234567890123456%", /* 16 digits */
        "",
        ":+5%",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sp_diff_condition c;
        err[0] = '\0';
        CHECK_MSG(sp_diff_condition_parse(bad[i], &c, err, sizeof err) == SP_ERR_INVALID && strstr(err, "condition '"),
                  "'%s' accepted (%s)", bad[i], err);
    }
    /* pts on a metric that is no share: refused, saying why */
    static const char *const no_pts[] = {"p95:+5pts", "cost.per_request:+5pts", "requests.count:+5pts"};
    for (size_t i = 0; i < sizeof no_pts / sizeof no_pts[0]; i++) {
        sp_diff_condition c;
        err[0] = '\0';
        CHECK_MSG(sp_diff_condition_parse(no_pts[i], &c, err, sizeof err) == SP_ERR_INVALID &&
                      strstr(err, "pts (points of a share) apply only to shares and fractions"),
                  "'%s': %s", no_pts[i], err);
    }
    char longer[SP_DIFF_MAX_SPEC + 10];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    sp_diff_condition c;
    CHECK_MSG(sp_diff_condition_parse(longer, &c, err, sizeof err) == SP_ERR_INVALID, "over-long spec");
}

/* The rule of docs/diff.md, "Conditions", on metrics made by hand. */
static void test_rule(void)
{
    sp_diff_metric m;
    memset(&m, 0, sizeof m);
    m.unit = SP_DIFF_UNIT_NS;
    m.base_value = 10e6; /* 10 ms */
    m.new_value = 11e6;
    m.change = 1e6;
    m.rel_change = 0.1;
    m.has_interval = 1;
    m.lo = 0.4e6; /* +4% at the lower bound */
    m.hi = 1.6e6;
    sp_diff_condition c;
    sp_diff_check k;
    char err[256];
    /* +10% point change, but the lower bound is +4%: +5% does not hold with confidence, +3% does */
    sp_diff_condition_parse("p95:+5%", &c, err, sizeof err);
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(!k.holds && k.basis == SP_DIFF_BASIS_INTERVAL && fabs(k.bound - 0.04) < 1e-12, "+5%%: bound %g", k.bound);
    sp_diff_condition_parse("p95:+3%", &c, err, sizeof err);
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(k.holds, "+3%% holds");
    /* absolute: lower bound 400 us is beyond 0.3 ms, not beyond 0.4 ms (strictly beyond) */
    sp_diff_condition_parse("p95:+300us", &c, err, sizeof err);
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(k.holds && k.bound == 0.4e6, "+300us holds");
    sp_diff_condition_parse("p95:+400us", &c, err, sizeof err);
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(!k.holds, "+400us: equal is not beyond");
    /* a fall is judged at the upper bound: +1.6 ms is no fall */
    sp_diff_condition_parse("p95:-0%", &c, err, sizeof err);
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(!k.holds && fabs(k.bound - 0.16) < 1e-12, "fall: upper bound %g", k.bound);
    m.lo = -3e6;
    m.hi = -2e6;
    m.change = -2.5e6;
    sp_diff_condition_parse("p95:-15%", &c, err, sizeof err);
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(k.holds && fabs(k.bound + 0.2) < 1e-12, "fall beyond 15%%: bound %g", k.bound);
    /* without an interval, the point change decides */
    m.has_interval = 0;
    sp_diff_condition_parse("p95:-20%", &c, err, sizeof err);
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(k.holds && k.basis == SP_DIFF_BASIS_POINT && fabs(k.bound + 0.25) < 1e-12, "point: %g", k.bound);
    /* BASE 0: any rise is beyond a relative threshold, no fall is */
    m.base_value = 0;
    m.has_interval = 1;
    m.lo = 1;
    m.hi = 5;
    sp_diff_condition_parse("stage.gap.p95:+50%", &c, err, sizeof err);
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(k.holds && k.base_zero, "from 0: a rise holds");
    m.lo = 0;
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(!k.holds && k.base_zero, "from 0: lower bound 0 is no rise");
    sp_diff_condition_parse("stage.gap.p95:-50%", &c, err, sizeof err);
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(!k.holds, "from 0: no fall");
    /* a value the report has as null never holds */
    m.base_value = NAN;
    m.has_interval = 0;
    m.change = NAN;
    sp_diff_condition_parse("padding.share_of_p95:+0", &c, err, sizeof err);
    sp_diff_evaluate(&m, &c, &k);
    CHECK_MSG(!k.holds, "NaN never holds");
}

/* A relative bound below -100% (a rise's lower bound: BASE's resampled p95 ran above its own value)
 * is printed as computed, with the words saying it is a bootstrap artefact (docs/diff.md,
 * "Conditions"); a bound above -100% reads as before. The metric is made by hand: BASE 10 ms, the
 * lower bound of the change -12.28 ms, so -122.8% of BASE. */
static void test_artefact_words(void)
{
    sp_diff d;
    memset(&d, 0, sizeof d);
    d.opt.confidence = 0.95;
    sp_diff_metric m;
    memset(&m, 0, sizeof m);
    m.unit = SP_DIFF_UNIT_NS;
    m.base_value = 10e6;
    m.new_value = 9e6;
    m.change = -1e6;
    m.has_interval = 1;
    m.lo = -12.28e6;
    m.hi = 2e6;
    sp_diff_condition c;
    sp_diff_check k;
    char err[256], bound[48], basis[256];
    CHECK(sp_diff_condition_parse("p95:+5%", &c, err, sizeof err) == SP_OK);
    sp_diff_evaluate(&m, &c, &k);
    k.cond = c;
    CHECK_MSG(!k.holds && fabs(k.bound + 1.228) < 1e-12, "bound %g", k.bound);
    sp_rep_diff_bound(bound, sizeof bound, &k);
    CHECK_MSG(strcmp(bound, "-122.8%") == 0, "bound '%s'", bound); /* the raw figure stays */
    sp_rep_diff_basis_words(&d, &k, basis, sizeof basis);
    CHECK_MSG(strcmp(basis, "lower bound of the 95% interval; below -100% only because resamples of BASE run "
                            "above BASE's value, a bootstrap artefact: no value falls by more than 100%") == 0,
              "basis '%s'", basis);
    m.lo = -9e6; /* -90%: a fall a value can make */
    sp_diff_evaluate(&m, &c, &k);
    k.cond = c;
    sp_rep_diff_basis_words(&d, &k, basis, sizeof basis);
    CHECK_MSG(strcmp(basis, "lower bound of the 95% interval") == 0, "basis '%s'", basis);
}

/* A queue-bound JSONL trace: 50 requests 20 ms apart, each alone in a 1 ms batch after waiting
 * 10 ms in the queue (89% of its 11.2 ms), with `props` in the meta line. */
static char *queue_jsonl(const char *props, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        exit(1);
    fprintf(f, "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"%s}\n", props);
    for (unsigned long long i = 0; i < 50; i++) {
        unsigned long long t = i * 20000000, q = t + 100000, b = q + 10000000, e = b + 1000000, d = e + 100000;
        unsigned long long tok = 10 + (i * 7) % 31;
        fprintf(f, "{\"ev\":\"request\",\"id\":\"r%llu\",\"arrival_ns\":%llu,\"done_ns\":%llu,\"input_tokens\":%llu}\n",
                i, t, d, tok);
        fprintf(f, "{\"ev\":\"stage\",\"id\":\"r%llu\",\"stage\":\"preprocess\",\"start_ns\":%llu,\"end_ns\":%llu}\n", i, t, q);
        fprintf(f, "{\"ev\":\"stage\",\"id\":\"r%llu\",\"stage\":\"queue\",\"start_ns\":%llu,\"end_ns\":%llu}\n", i, q, b);
        fprintf(f, "{\"ev\":\"batch\",\"batch\":%llu,\"requests\":[\"r%llu\"],\"start_ns\":%llu,\"end_ns\":%llu,"
                   "\"effective_tokens\":%llu,\"padded_tokens\":%llu}\n", i, i, b, e, tok, tok);
        fprintf(f, "{\"ev\":\"kernel\",\"batch\":%llu,\"name\":\"encoder\",\"stream\":0,\"start_ns\":%llu,"
                   "\"end_ns\":%llu}\n", i, b, e);
        fprintf(f, "{\"ev\":\"stage\",\"id\":\"r%llu\",\"stage\":\"postprocess\",\"start_ns\":%llu,\"end_ns\":%llu}\n", i, e,
                d);
    }
    fclose(f);
    return buf;
}

/* The sentence `servprof analyze` writes for the trace (sp_analyze, then sp_whatif_quote_verdict),
 * and the sentence of the diff run loaded from it with release_events as given. */
static void check_quote_as_analyze(const char *props, int release, const char *want_clause)
{
    size_t len;
    char *trace = queue_jsonl(props, &len);
    sp_events *ev;
    sp_report *r = sp_test_analyze_jsonl(trace, &ev);
    CHECK(sp_whatif_quote_verdict(ev, r, 0) == SP_OK);
    CHECK_MSG(r->verdict.stage && strcmp(r->verdict.stage, "queue") == 0, "a queue verdict");
    CHECK_MSG(r->verdict.sentence && strstr(r->verdict.sentence, want_clause), "analyze's sentence: %s",
              r->verdict.sentence);

    sp_diff_input in = {.name = "q.jsonl", .data = trace, .len = len};
    sp_analyze_options ao;
    sp_analyze_options_init(&ao);
    ao.release_events = release;
    sp_diff_run *run = NULL;
    char err[512] = "";
    sp_status st = sp_diff_run_load(&in, 1, NULL, &ao, &run, err, sizeof err);
    CHECK_MSG(st == SP_OK, "load: %s %s", sp_status_str(st), err);
    if (st == SP_OK)
        CHECK_MSG(run->verdict_sentence && strcmp(run->verdict_sentence, r->verdict.sentence) == 0,
                  "release_events %d: the diff run's sentence\n  %s\nis not analyze's\n  %s", release,
                  run->verdict_sentence ? run->verdict_sentence : "(none)", r->verdict.sentence);
    sp_diff_run_destroy(run);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    free(trace);
}

static void test_quote_as_analyze(void)
{
    static const char policy[] = ",\"properties\":{\"policy.max_batch\":\"8\",\"policy.max_queue_delay_ns\":"
                                 "\"10000000\",\"policy.pad\":\"longest\",\"policy.workers\":\"1\"}";
    /* a quarter of the 10 ms window (docs/whatif.md, "The verdict's prediction") */
    check_quote_as_analyze(policy, 0, " (what-if: max-queue-delay 10.00 ms -> 2.50 ms: predicted p95 ");
    check_quote_as_analyze(policy, 1, " (what-if: max-queue-delay 10.00 ms -> 2.50 ms: predicted p95 ");
    check_quote_as_analyze("", 0, " (what-if: the trace does not carry the batching policy: no prediction)");
}

/* A share's change in points (sp_rep_diff_change): one decimal, more where one would print a change
 * that is not zero as "-0.0" or "+0.0" (a preprocess share 1.62% -> 1.59% printed "-0.0 pts"; an
 * interval [-0.04, -0.01] with its star printed "[-0.0 pts, -0.0 pts] *"). */
static void test_points(void)
{
    static const struct {
        double change;
        const char *want;
    } cases[] = {
        {0.05, "+5.0 pts"},       {-0.0123, "-1.2 pts"}, {0, "0.0 pts"},         {-0.0003, "-0.03 pts"},
        {0.0001, "+0.01 pts"},    {0.00004, "+0.004 pts"}, {-0.000004, "-0.0004 pts"}, {0.0005, "+0.1 pts"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[48];
        sp_rep_diff_change(buf, sizeof buf, SP_DIFF_UNIT_FRACTION, cases[i].change);
        CHECK_MSG(strcmp(buf, cases[i].want) == 0, "%g: '%s', want '%s'", cases[i].change, buf, cases[i].want);
    }
}

int main(void)
{
    test_points();
    test_report_round_trip();
    test_self_and_union();
    test_grammar();
    test_rule();
    test_artefact_words();
    test_quote_as_analyze();
    return sp_test_done("test_diff_compare");
}
