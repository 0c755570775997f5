/* The fleet verdict (docs/fleet.md, from Prometheus' counts) says how many requests failed like the
 * trace analysis does (docs/analysis.md section 6, "Errors"): it is the analysis' own composer fed
 * with servprof_requests_total by outcome. Figures made by hand (sp_report_from_buckets): 10 ok
 * requests in one bucket (queue and kernel time), and 5 errors: 5 of 15 = 33.3% failed; with 0 errors, no clause. */
#include <stdlib.h>
#include <string.h>

#include "servprof/analyze.h"
#include "servprof/report.h"
#include "testlib.h"

/* The fleet report's verdict sentence over 10 ok requests and `errors` errors (a copy; NULL on failure). */
static char *sentence_of(double errors)
{
    static const double upper[2] = {0.1, INFINITY};
    static const double count[2] = {10, 0};
    double device_s[1][SP_COST_STATE_COUNT];
    memset(device_s, 0, sizeof device_s);
    device_s[0][SP_COST_USEFUL] = 300;
    device_s[0][SP_COST_NO_BATCH] = 300;
    const char *const replicas[1] = {"serve/a:1"};
    sp_report_source src;
    memset(&src, 0, sizeof src);
    src.kind = "metrics";
    src.url = "test";
    src.selector = "";
    src.range = "10m";
    src.window_s = 600;
    src.n_replicas = 1;
    src.replicas = replicas;
    src.bucket_growth = 1.189207115002721;
    sp_bucket_figures f;
    sp_bucket_figures_init(&f);
    f.n_buckets = 2;
    f.upper_s = upper;
    f.count = count;
    /* queue 0.3 s and kernel 0.1 s over the bucket's 10 requests: queue leads */
    static const double queue_s[2] = {0.3, 0}, kernel_s[2] = {0.1, 0};
    const sp_bucket_stage stages[2] = {{"queue", queue_s}, {"kernel", kernel_s}};
    f.n_stages = 2;
    f.stages = stages;
    f.outcomes[SP_OUTCOME_OK] = 10;
    f.outcomes[SP_OUTCOME_ERROR] = errors;
    f.n_devices = 1;
    f.device_s = (const double (*)[SP_COST_STATE_COUNT])device_s;
    f.kernels = 10;
    f.device_kind = SP_DEVICE_CPU;
    f.source = &src;
    sp_report *r = NULL;
    char err[256] = "";
    sp_status st = sp_report_from_buckets(&f, &r, err, sizeof err);
    CHECK_MSG(st == SP_OK, "%s", err);
    if (st != SP_OK)
        return NULL;
    CHECK_EQ_U64(r->outcomes[SP_OUTCOME_ERROR].count, (uint64_t)errors);
    char *s = r->verdict.sentence ? strdup(r->verdict.sentence) : NULL;
    sp_report_destroy(r);
    return s;
}

int main(void)
{
    char *s = sentence_of(5);
    CHECK_MSG(s && strstr(s, " Requests are failing: 33.3% of all requests (5 of 15) ended in an error, so this "
                             "latency describes only the served requests; fix the failures first"),
              "%s", s ? s : "(null)");
    free(s);
    s = sentence_of(0);
    CHECK_MSG(s && !strstr(s, "failing"), "%s", s ? s : "(null)");
    free(s);
    return sp_test_done("test_fleet_errors");
}
