/* libFuzzer target: arbitrary bytes through `servprof diff`'s reader of servprof.report/1 documents
 * (src/diff/report_read.c), the one input of the diff that is not a trace. A document that reads is
 * compared with itself and the comparison written in every format, with a condition on each kind of
 * metric, so that whatever the reader accepts the rest survives. Any result is fine except a crash, a
 * leak or a sanitizer report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "diff/diff_int.h"
#include "servprof/diff.h"
#include "servprof/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    (void)sp_diff_sniff(data, size, err, sizeof err);
    sp_diff_run *run = NULL;
    if (sp_diff_run_read_report("fuzz.json", data, size, &run, err, sizeof err) != SP_OK)
        return 0;
    sp_diff *d = NULL;
    if (sp_diff_compare(run, run, NULL, &d, err, sizeof err) == SP_OK) {
        static const char *const specs[] = {"p95:+5%", "stage.queue.share_of_p95:+0.05", "stage.kernel.p95:-1ms",
                                            "padding.waste_fraction:+0.01", "cost.per_request:+10%"};
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
            sp_diff_condition c;
            if (sp_diff_condition_parse(specs[i], &c, err, sizeof err) == SP_OK)
                (void)sp_diff_check_condition(d, &c, err, sizeof err);
        }
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            sp_diff_write_text(d, null);
            sp_diff_write_json(d, null);
            sp_diff_write_html(d, null);
            fclose(null);
        }
        sp_diff_destroy(d);
    }
    sp_diff_run_destroy(run);
    return 0;
}
