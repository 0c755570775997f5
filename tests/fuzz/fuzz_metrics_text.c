/* libFuzzer target: arbitrary bytes as a replica's /metrics text (Prometheus text format 0.0.4) through
 * the fleet report (src/fleet: the exposition parser, the sums over replicas, sp_report_from_buckets),
 * once alone and once beside a second copy of itself as another replica; a report that builds is written
 * as text and JSON. Any result is fine except a crash, a leak or a sanitizer report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "servprof/fleet.h"
#include "servprof/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_fleet_text t[2] = {{"a:1", (const char *)data, size}, {"b:2", (const char *)data, size}};
    sp_fleet_options o;
    sp_fleet_options_init(&o);
    for (size_t n = 1; n <= 2; n++) {
        sp_report *r = NULL;
        char err[512];
        if (sp_fleet_report_texts(t, n, &o, &r, err, sizeof err) != SP_OK)
            continue;
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            sp_report_write_text(r, null);
            sp_report_write_json(r, null);
            fclose(null);
        }
        sp_report_destroy(r);
    }
    return 0;
}
