/* libFuzzer target for the native trace importer: any bytes, read as a native trace (strict and
 * lenient), must load or fail with a message, never crash, hang or grow without bound; what loads
 * must also pass the model's finishing pass under lenient. */
#include <stddef.h>
#include <stdint.h>

#include "model/events_int.h"
#include "servprof/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int lenient = 0; lenient < 2; lenient++) {
        sp_events *ev;
        if (sp_events_create(&ev) != SP_OK)
            return 0;
        sp_load_options opt;
        sp_load_options_init(&opt);
        opt.format = SP_FORMAT_NATIVE;
        opt.lenient = lenient;
        char err[512];
        if (sp_events_load_buffer(ev, "fuzz.sptrace", data, size, &opt, err, sizeof err) == SP_OK)
            (void)sp_ev_finish(ev, true, err, sizeof err);
        sp_events_destroy(ev);
    }
    return 0;
}
