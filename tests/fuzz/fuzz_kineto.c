/* libFuzzer target: arbitrary bytes through the Kineto (PyTorch profiler) importer, format forced to
 * Kineto, exact and --hta-compat, strict and lenient, with and without a --map spec. Any result is
 * fine except a crash, a leak or a sanitizer report; a successful load must survive sp_ev_finish, the
 * analysis (in the same mode) and the text and JSON writers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/events_int.h"
#include "servprof/analyze.h"
#include "servprof/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int mode = 0; mode < 4; mode++) {
        sp_events *ev;
        if (sp_events_create(&ev) != SP_OK)
            return 0;
        sp_load_options opt;
        sp_load_options_init(&opt);
        opt.format = SP_FORMAT_KINETO;
        opt.lenient = mode & 1;
        opt.hta_compat = (mode >> 1) & 1;
        opt.map = mode == 3 ? "request=req,stage:preprocess=tok,batch=b" : NULL;
        char err[512];
        if (sp_events_load_buffer(ev, "fuzz.json", data, size, &opt, err, sizeof err) == SP_OK &&
            sp_ev_finish(ev, true, err, sizeof err) == SP_OK) {
            /* the analysis of what loaded: steps, graph launches and HTA's merge of sub-us events */
            sp_analyze_options ao;
            sp_analyze_options_init(&ao);
            ao.lenient = 1;
            ao.hta_compat = opt.hta_compat;
            sp_report *r = NULL;
            if (sp_analyze(ev, &ao, &r, err, sizeof err) == SP_OK) {
                static FILE *sink;
                if (!sink)
                    sink = fopen("/dev/null", "w");
                if (sink) {
                    sp_report_write_text(r, sink);
                    sp_report_write_json(r, sink);
                }
                sp_report_destroy(r);
            }
        }
        sp_events_destroy(ev);
    }
    return 0;
}
