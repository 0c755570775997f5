/* libFuzzer target: arbitrary bytes through the Kineto (PyTorch profiler) importer, format forced to
 * Kineto, exact and --hta-compat, strict and lenient, with and without a --map spec. Any result is
 * fine except a crash, a leak or a sanitizer report; a successful load must survive sp_ev_finish. */
#include <stdint.h>
#include <stdlib.h>

#include "model/events_int.h"
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
        if (sp_events_load_buffer(ev, "fuzz.json", data, size, &opt, err, sizeof err) == SP_OK)
            sp_ev_finish(ev, true, err, sizeof err);
        sp_events_destroy(ev);
    }
    return 0;
}
