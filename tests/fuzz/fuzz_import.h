/* The body the fuzz targets of the text importers share (fuzz_jsonl.c, fuzz_otlp.c, fuzz_triton.c):
 * arbitrary bytes through one importer, its format forced, strict and lenient. Any result is fine
 * except a crash, a leak or a sanitizer report; a successful load must also survive the finishing
 * pass. Header-only: each target is its own program. */
#ifndef SP_FUZZ_IMPORT_H
#define SP_FUZZ_IMPORT_H

#include <stdint.h>
#include <stdlib.h>

#include "model/events_int.h"
#include "servprof/events.h"

/* Loads data[size] as `format` under the name `name` (the importer's messages quote it), strict then
 * lenient. Returns 0, as libFuzzer wants. */
static int fuzz_import(const uint8_t *data, size_t size, sp_format format, const char *name)
{
    for (int lenient = 0; lenient < 2; lenient++) {
        sp_events *ev;
        if (sp_events_create(&ev) != SP_OK)
            return 0;
        sp_load_options opt;
        sp_load_options_init(&opt);
        opt.format = format;
        opt.lenient = lenient;
        char err[512];
        if (sp_events_load_buffer(ev, name, data, size, &opt, err, sizeof err) == SP_OK)
            sp_ev_finish(ev, lenient, err, sizeof err);
        sp_events_destroy(ev);
    }
    return 0;
}

#endif
