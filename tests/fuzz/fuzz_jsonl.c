/* libFuzzer target: arbitrary bytes through the servprof.events/1 JSONL importer, format forced to
 * JSONL, strict and lenient. Any result is fine except a crash, a leak or a sanitizer report; a
 * successful load must also survive the finishing pass. */
#include <stdint.h>
#include <stdlib.h>

#include "model/events_int.h"
#include "servprof/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int lenient = 0; lenient < 2; lenient++) {
        sp_events *ev;
        if (sp_events_create(&ev) != SP_OK)
            return 0;
        sp_load_options opt;
        sp_load_options_init(&opt);
        opt.format = SP_FORMAT_JSONL;
        opt.lenient = lenient;
        char err[512];
        if (sp_events_load_buffer(ev, "fuzz.jsonl", data, size, &opt, err, sizeof err) == SP_OK)
            sp_ev_finish(ev, lenient, err, sizeof err);
        sp_events_destroy(ev);
    }
    return 0;
}
