/* The JSON report (servprof.report/1, DESIGN section 10) from hand-filled reports: it parses as strict
 * JSON, carries every key the contract lists, gives null (never NaN, never a missing section) for
 * sections without data, escapes hostile strings, and reports write errors. */
#include <stdlib.h>
#include <string.h>

#include "json_mini.h"
#include "report_fixture.h"
#include "testlib.h"

static char *render(const sp_report *r, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f) {
        fprintf(stderr, "open_memstream failed\n");
        exit(1);
    }
    CHECK(sp_report_write_json(r, f) == SP_OK);
    fclose(f);
    return buf;
}

static int parse(const char *text, size_t len, jv *root)
{
    const char *why = NULL;
    size_t at = 0;
    if (jv_parse(text, len, root, &why, &at)) {
        fprintf(stderr, "JSON does not parse: %s at byte %zu: %.60s\n", why, at, text + (at < len ? at : len));
        return -1;
    }
    return 0;
}

static int is_num(const jv *v) { return v && v->type == JV_NUM; }
static int is_null(const jv *v) { return v && v->type == JV_NULL; }

/* Every key DESIGN section 10 lists, present in `root` (values checked elsewhere). */
static void check_contract_keys(const jv *root)
{
    static const char *const top[] = {
        "schema", "requests", "requests.count", "requests.latency_us", "requests.latency_us.p50",
        "requests.latency_us.p95", "requests.latency_us.p99", "requests.latency_us.mean", "stages",
        "padding", "padding.effective_tokens", "padding.padded_tokens", "padding.waste_fraction",
        "padding.share_of_p95", "gpu", "gpu.span_us", "gpu.busy_us", "gpu.idle_us", "gpu.kernels",
        "gpu.compute_us", "gpu.non_compute_us", "gpu.idle_breakdown", "cost", "cost.price_per_hour",
        "cost.per_request", "cost.by_state", "verdict", "verdict.stage", "verdict.group",
        "verdict.share_of_p95", "verdict.sentence", "verdict.ranking",
    };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
        const jv *v = jv_path(root, top[i]);
        if (!v)
            fprintf(stderr, "missing key %s\n", top[i]);
        CHECK(v != NULL);
    }
    const jv *schema = jv_get(root, "schema");
    CHECK(schema && schema->type == JV_STR && strcmp(schema->str, "servprof.report/1") == 0);
    const jv *stages = jv_get(root, "stages");
    CHECK(stages && stages->type == JV_ARR);
    for (size_t i = 0; stages && i < stages->n; i++) {
        static const char *const keys[] = {"name", "p50_us", "p95_us", "p99_us", "mean_us",
                                           "share_of_p50", "share_of_p95", "share_of_p99"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            CHECK(jv_get(&stages->items[i], keys[k]) != NULL);
    }
    const jv *ib = jv_path(root, "gpu.idle_breakdown");
    CHECK(ib && ib->type == JV_ARR);
    for (size_t i = 0; ib && i < ib->n; i++) {
        static const char *const keys[] = {"stream", "host_wait_us", "kernel_wait_us", "other_us"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            CHECK(jv_get(&ib->items[i], keys[k]) != NULL);
    }
    const jv *by_state = jv_path(root, "cost.by_state");
    CHECK(by_state && by_state->type == JV_OBJ && by_state->n == SP_COST_STATE_COUNT);
    for (int s = 0; by_state && s < SP_COST_STATE_COUNT && (size_t)s < by_state->n; s++)
        CHECK(strcmp(by_state->keys[s], sp_cost_state_str((sp_cost_state)s)) == 0);
}

static void test_full(void)
{
    fixture f;
    fixture_fill(&f);
    size_t len;
    char *text = render(&f.r, &len);
    jv root;
    CHECK(parse(text, len, &root) == 0);
    check_contract_keys(&root);
    CHECK_EQ_U64(jv_path(&root, "requests.count")->num, 100);
    /* 1234567 ns = 1234.567 us, written exactly (integer arithmetic, 3 decimals) */
    const jv *p50 = jv_path(&root, "requests.latency_us.p50");
    CHECK(is_num(p50) && strcmp(p50->raw, "1234.567") == 0);
    /* mean 2000000.5 ns -> 2000.0005 us, rounded to ns precision (3 decimals) */
    const jv *mean = jv_path(&root, "requests.latency_us.mean");
    CHECK(is_num(mean));
    CHECK_NEAR(mean->num, 2000.0005, 0.0011);
    const jv *stages = jv_get(&root, "stages");
    CHECK(stages->n == 5);
    if (stages->n == 5) {
        CHECK(strcmp(jv_get(&stages->items[0], "name")->str, "queue") == 0);
        CHECK(strcmp(jv_get(&stages->items[4], "name")->str, "other") == 0);
        /* stage 2 (kernel, i = 2): p95 = 1000000 x 3 ns = 3000 us */
        CHECK(strcmp(jv_get(&stages->items[2], "p95_us")->raw, "3000.000") == 0);
        double sum = 0;
        for (size_t i = 0; i < stages->n; i++)
            sum += jv_get(&stages->items[i], "share_of_p95")->num;
        CHECK_NEAR(sum, 1.0, 1e-9); /* 0.38 + 0.02 + 0.40 + 0.15 + 0.05 */
    }
    CHECK_NEAR(jv_path(&root, "padding.waste_fraction")->num, 0.4, 1e-12);
    CHECK_EQ_U64(jv_path(&root, "padding.effective_tokens")->num, 600);
    CHECK_EQ_U64(jv_path(&root, "padding.padded_tokens")->num, 1000);
    CHECK(strcmp(jv_path(&root, "gpu.idle_us")->raw, "30000.000") == 0);
    CHECK_EQ_U64(jv_path(&root, "gpu.kernels")->num, 180);
    const jv *ib = jv_path(&root, "gpu.idle_breakdown");
    CHECK(ib->n == 2);
    if (ib->n == 2) {
        CHECK_EQ_U64(jv_get(&ib->items[0], "stream")->num, 7);
        CHECK(jv_get(&ib->items[1], "stream")->num == -1);
        CHECK(strcmp(jv_get(&ib->items[1], "other_us")->raw, "24000.000") == 0);
    }
    /* the hostile kernel name comes back intact, the invalid byte as U+FFFD */
    const jv *ks = jv_path(&root, "gpu.kernel_stats");
    CHECK(ks && ks->type == JV_ARR && ks->n == 2);
    if (ks && ks->n == 2)
        CHECK(strcmp(jv_get(&ks->items[0], "name")->str, "gemm<\"f16\"\\>\n\x1b[31m\xef\xbf\xbd_end") == 0);
    CHECK_NEAR(jv_path(&root, "cost.price_per_hour")->num, 3.6, 1e-12);
    CHECK_NEAR(jv_path(&root, "cost.per_request")->num, 1e-6, 1e-15);
    CHECK(jv_path(&root, "cost.price_is_default")->type == JV_BOOL);
    const jv *vs = jv_path(&root, "verdict.stage");
    CHECK(vs && vs->type == JV_STR && strcmp(vs->str, "kernel") == 0);
    const jv *vg = jv_path(&root, "verdict.group");
    CHECK(vg && vg->type == JV_STR && strcmp(vg->str, sp_verdict_group_str(SP_GROUP_MODEL)) == 0);
    CHECK_NEAR(jv_path(&root, "verdict.share_of_p95")->num, 0.24, 1e-12);
    CHECK(strstr(jv_path(&root, "verdict.sentence")->str, "2.40 ms") != NULL);
    /* the ranking as given, in order, every entry (the one under 5% too), the hostile name intact */
    const jv *rk = jv_path(&root, "verdict.ranking");
    CHECK(rk && rk->type == JV_ARR && rk->n == 5);
    if (rk && rk->n == 5) {
        static const char *const names[5] = {"kernel", "padding", "gap", "<b>\"x\"\x1b[31m", "preprocess"};
        static const char *const saving[5] = {"2400.000", "1600.000", "1500.000", "700.000", "200.000"};
        static const double shares[5] = {0.24, 0.16, 0.15, 0.07, 0.02};
        for (size_t i = 0; i < 5; i++) {
            const jv *e = &rk->items[i];
            CHECK(strcmp(jv_get(e, "stage")->str, names[i]) == 0);
            CHECK(strcmp(jv_get(e, "group")->str, sp_verdict_group_str(f.r.verdict.ranking[i].group)) == 0);
            CHECK_NEAR(jv_get(e, "share_of_p95")->num, shares[i], 1e-12);
            CHECK(strcmp(jv_get(e, "p95_saving_us")->raw, saving[i]) == 0);
            CHECK(strcmp(jv_get(e, "fix")->str, f.r.verdict.ranking[i].fix) == 0);
        }
    }
    CHECK_EQ_U64(jv_path(&root, "drops.total")->num, 12);
    CHECK_EQ_U64(jv_path(&root, "drops.by_cause.buffer_full")->num, 12);
    CHECK(is_num(jv_path(&root, "drops.by_cause.after_close")));
    CHECK(is_num(jv_path(&root, "skipped_records")));
    jv_free(&root);
    free(text);
}

/* A GPU-only trace: no requests, no batches. Every section is present; values are 0 or null. */
static void test_empty_sections(void)
{
    sp_report r;
    memset(&r, 0, sizeof r);
    r.n_files = 1;
    r.cost.price_per_hour = SP_DEFAULT_PRICE_PER_HOUR;
    r.cost.price_is_default = 1;
    size_t len;
    char *text = render(&r, &len);
    jv root;
    CHECK(parse(text, len, &root) == 0);
    check_contract_keys(&root);
    CHECK_EQ_U64(jv_path(&root, "requests.count")->num, 0);
    static const char *const nulls[] = {
        "requests.latency_us.p50", "requests.latency_us.p95", "requests.latency_us.p99",
        "requests.latency_us.mean", "padding.effective_tokens", "padding.padded_tokens",
        "padding.waste_fraction", "padding.share_of_p95", "gpu.span_us", "gpu.busy_us", "gpu.idle_us",
        "gpu.compute_us", "gpu.non_compute_us", "cost.per_request", "cost.bill", "verdict.stage",
        "verdict.share_of_p95", "verdict.sentence", "requests.client_latency_us",
    };
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++) {
        const jv *v = jv_path(&root, nulls[i]);
        if (!is_null(v))
            fprintf(stderr, "%s should be null\n", nulls[i]);
        CHECK(is_null(v));
    }
    CHECK_EQ_U64(jv_path(&root, "gpu.kernels")->num, 0);
    CHECK_EQ_U64(jv_path(&root, "batches.count")->num, 0);
    CHECK(jv_get(&root, "stages")->n == 0);
    CHECK(jv_path(&root, "gpu.idle_breakdown")->n == 0);
    CHECK(jv_path(&root, "verdict.ranking")->type == JV_ARR && jv_path(&root, "verdict.ranking")->n == 0);
    CHECK(jv_path(&root, "clock.offsets") && jv_path(&root, "clock.offsets")->n == 0);
    CHECK(is_null(jv_path(&root, "requests.server_latency_us.p50")));
    CHECK_NEAR(jv_path(&root, "cost.price_per_hour")->num, SP_DEFAULT_PRICE_PER_HOUR, 1e-12);
    const jv *def = jv_path(&root, "cost.price_is_default");
    CHECK(def && def->type == JV_BOOL && def->boolean == 1);
    jv_free(&root);
    free(text);
}

/* The clock section and the client-merge request keys (docs/report-format.md): signed offsets
 * written exactly ("-1.001" us for -1001 ns, INT64_MIN without overflow), null bounds without pairs,
 * null uncertainty under a conflict. */
static void test_clock_section(void)
{
    fixture f;
    fixture_fill(&f);
    sp_report *r = &f.r;
    r->has_client = 1;
    r->requests_with_client = 97;
    r->server_latency = fixture_q(1000000, 9000000, 12000000, 1500000.0, 100);
    r->client_latency = fixture_q(1300000, 10500000, 13000000, 2100000.0, 97);
    sp_clock_offset o[2];
    memset(o, 0, sizeof o);
    o[0].client_file = 1;
    o[0].server_file = 0;
    o[0].source = SP_CLOCK_ESTIMATED;
    o[0].pairs = 97;
    o[0].offset_ns = -1001;
    o[0].lower_ns = 2000;   /* crossed: conflict 2000 - (-4002) = 6002 */
    o[0].upper_ns = -4002;
    o[0].conflict_ns = 6002;
    o[0].violations = 3;
    o[1].client_file = 2;
    o[1].server_file = 1;
    o[1].source = SP_CLOCK_GIVEN;
    o[1].offset_ns = INT64_MIN;
    r->clock_offsets = o;
    r->n_clock_offsets = 2;
    r->client_records_unjoined = 4;
    r->client_records_failed = 5;
    r->client_records_duplicate = 6;
    r->client_records_failed_streams = 7;
    r->client_records_unsent = 8;
    size_t len;
    char *text = render(r, &len);
    jv root;
    CHECK(parse(text, len, &root) == 0);
    check_contract_keys(&root);
    CHECK_EQ_U64(jv_path(&root, "requests.with_client_record")->num, 97);
    CHECK_NEAR(jv_path(&root, "requests.server_latency_us.p95")->num, 9000.0, 1e-9);
    CHECK_NEAR(jv_path(&root, "requests.client_latency_us.p50")->num, 1300.0, 1e-9);
    const jv *offs = jv_path(&root, "clock.offsets");
    CHECK(offs && offs->type == JV_ARR && offs->n == 2);
    if (offs && offs->n == 2) {
        const jv *a = &offs->items[0], *b = &offs->items[1];
        CHECK(jv_get(a, "source")->type == JV_STR && !strcmp(jv_get(a, "source")->str, "estimated"));
        CHECK_NEAR(jv_get(a, "offset_us")->num, -1.001, 1e-12);
        CHECK_NEAR(jv_get(a, "lower_us")->num, 2.0, 1e-12);
        CHECK_NEAR(jv_get(a, "upper_us")->num, -4.002, 1e-12);
        CHECK(is_null(jv_get(a, "uncertainty_us")));
        CHECK(jv_get(a, "conflict")->type == JV_BOOL && jv_get(a, "conflict")->boolean == 1);
        CHECK_NEAR(jv_get(a, "conflict_us")->num, 6.002, 1e-12);
        CHECK_EQ_U64(jv_get(a, "violations")->num, 3);
        CHECK_EQ_U64(jv_get(a, "pairs")->num, 97);
        CHECK(!strcmp(jv_get(b, "source")->str, "given"));
        CHECK(is_null(jv_get(b, "lower_us")) && is_null(jv_get(b, "upper_us")) && is_null(jv_get(b, "uncertainty_us")));
        CHECK_EQ_U64(jv_get(b, "server_file")->num, 1);
    }
    /* INT64_MIN ns = -9223372036854775.808 us, written from integers */
    CHECK(strstr(text, "\"offset_us\":-9223372036854775.808,") != NULL);
    CHECK_EQ_U64(jv_path(&root, "clock.client_records.unjoined")->num, 4);
    CHECK_EQ_U64(jv_path(&root, "clock.client_records.failed")->num, 5);
    CHECK_EQ_U64(jv_path(&root, "clock.client_records.duplicate")->num, 6);
    CHECK_EQ_U64(jv_path(&root, "clock.client_records.failed_streams")->num, 7);
    CHECK_EQ_U64(jv_path(&root, "clock.client_records.unsent")->num, 8);
    jv_free(&root);
    free(text);
}

/* NaN and infinity from an upstream division by zero become null, never "nan"/"inf" tokens. */
static void test_non_finite(void)
{
    fixture f;
    fixture_fill(&f);
    f.stages[1].share_p95 = NAN;
    f.stages[1].q.mean_ns = INFINITY;
    f.copies[0].gbytes_per_s = INFINITY;
    f.r.cost.by_state[SP_COST_GAP] = NAN;
    f.r.verdict.share_p95 = -INFINITY;
    f.r.padding.waste_p95 = NAN;
    size_t len;
    char *text = render(&f.r, &len);
    CHECK(strstr(text, "nan") == NULL && strstr(text, "NaN") == NULL);
    CHECK(strstr(text, "inf") == NULL && strstr(text, "Inf") == NULL);
    jv root;
    CHECK(parse(text, len, &root) == 0);
    const jv *stages = jv_get(&root, "stages");
    if (stages && stages->n == 5) {
        CHECK(is_null(jv_get(&stages->items[1], "share_of_p95")));
        CHECK(is_null(jv_get(&stages->items[1], "mean_us")));
    }
    CHECK(is_null(jv_path(&root, "verdict.share_of_p95")));
    CHECK(is_null(jv_path(&root, "padding.waste_p95")));
    jv_free(&root);
    free(text);
}

static void test_write_error(void)
{
    FILE *full = fopen("/dev/full", "w");
    if (!full) {
        printf("no /dev/full: write-error check skipped\n");
        return;
    }
    fixture f;
    fixture_fill(&f);
    CHECK(sp_report_write_json(&f.r, full) == SP_ERR_IO);
    fclose(full);
    CHECK(sp_report_write_json(NULL, stdout) == SP_ERR_INVALID);
}

int main(void)
{
    test_full();
    test_empty_sections();
    test_non_finite();
    test_clock_section();
    test_write_error();
    return sp_test_done("test_report_json");
}
