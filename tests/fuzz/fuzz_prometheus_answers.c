/* libFuzzer target: arbitrary bytes as Prometheus' answers to the fleet's queries (src/fleet:
 * prometheus.c's reading and checking of each answer, the sums over replicas and the bills of
 * samples.c, sp_report_from_buckets): the input is cut at each byte 0x1e into up to one answer per
 * query, in the order of the queries (docs/fleet.md, "The queries"); an answer refused stops the input
 * as it stops `analyze --prometheus`; the answers read so far are reported, and a report that builds is
 * written as text and JSON. fuzz_metrics_text reaches the report step from /metrics texts, whose
 * parser gives every sample job and instance and no `up`; this one reaches it from what a Prometheus
 * (or something in its place) may answer. Any result is fine except a crash, a leak or a sanitizer
 * report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_int.h"
#include "servprof/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nq = sp_fl_query_count();
    sp_fl_set set = {NULL, 0, 0};
    char err[1024], q[2048];
    size_t at = 0;
    sp_status st = SP_OK;
    for (size_t k = 0; k < nq && at <= size && !st; k++) {
        const uint8_t *end = size > at ? memchr(data + at, 0x1e, size - at) : NULL;
        size_t len = end ? (size_t)(end - (data + at)) : size - at;
        if (sp_fl_query_text(k, "{job=\"fuzz\"}", "10m", q, sizeof q))
            break;
        st = sp_fl_add_answer(&set, k, q, (const char *)data + at, len, err, sizeof err);
        at += len + 1;
    }
    sp_fl_origin origin = {"prometheus", "http://127.0.0.1:9090", "{job=\"fuzz\"}", "10m", 600, 1796000000.0, 0};
    sp_report *r = NULL;
    if (!st && sp_fl_report(&set, &origin, &r, err, sizeof err) == SP_OK) {
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            sp_report_write_text(r, null);
            sp_report_write_json(r, null);
            fclose(null);
        }
        sp_report_destroy(r);
    }
    sp_fl_set_free(&set);
    return 0;
}
