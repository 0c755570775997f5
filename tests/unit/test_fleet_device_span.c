/* A fleet report's device line: its span is device time summed over the replicas' devices, so a
 * 600 s window over two devices reads "span 1200.000 s"; the text and HTML reports say "over 2 devices
 * (summed)" then, and nothing for one device. Figures made by hand (sp_report_from_buckets): two
 * devices of 600 s each (300 s useful, 300 s with no batch) give span 1200 s, busy 600 s (50%). */
#include <stdlib.h>
#include <string.h>

#include "servprof/analyze.h"
#include "servprof/report.h"
#include "testlib.h"

/* The text (html = 0) or HTML report of `n_devices` devices of 600 s each over a 600 s window. */
static char *report_of(size_t n_devices, int html)
{
    static const double upper[2] = {0.1, INFINITY};
    static const double count[2] = {10, 0};
    double device_s[2][SP_COST_STATE_COUNT];
    memset(device_s, 0, sizeof device_s);
    for (size_t d = 0; d < 2; d++) {
        device_s[d][SP_COST_USEFUL] = 300;
        device_s[d][SP_COST_NO_BATCH] = 300;
    }
    const char *const replicas[2] = {"serve/a:1", "serve/b:1"};
    sp_report_source src;
    memset(&src, 0, sizeof src);
    src.kind = "metrics";
    src.url = "test";
    src.selector = "";
    src.range = "10m";
    src.window_s = 600;
    src.n_replicas = n_devices;
    src.replicas = replicas;
    src.bucket_growth = 1.189207115002721;
    sp_bucket_figures f;
    sp_bucket_figures_init(&f);
    f.n_buckets = 2;
    f.upper_s = upper;
    f.count = count;
    f.outcomes[SP_OUTCOME_OK] = 10;
    f.n_devices = n_devices;
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
    CHECK_EQ_U64(r->gpu.devices_summed, n_devices);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    CHECK((html ? sp_report_write_html(r, NULL, out) : sp_report_write_text(r, out)) == SP_OK);
    fclose(out);
    sp_report_destroy(r);
    return buf;
}

int main(void)
{
    char *two = report_of(2, 0);
    CHECK_MSG(two && strstr(two, "device (CPU): span 1200.000 s over 2 devices (summed), busy 600.000 s (50.0%)"),
              "%s", two ? two : "");
    free(two);
    char *one = report_of(1, 0);
    CHECK_MSG(one && strstr(one, "device (CPU): span 600.000 s, busy 300.000 s (50.0%)") && !strstr(one, "summed"),
              "%s", one ? one : "");
    free(one);
    char *html = report_of(2, 1);
    CHECK(html && strstr(html, "<p>span 1200.000 s over 2 devices (summed), busy "));
    free(html);
    return sp_test_done("test_fleet_device_span");
}
