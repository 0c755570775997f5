/* libFuzzer target for the native trace importer: any bytes, read as a native trace (strict and
 * lenient), must load or fail with a message, never crash, hang or grow without bound; what loads
 * must also pass the model's finishing pass under lenient. Each input is tried as is and with its
 * block checksums recomputed, so mutations reach the record parser instead of stopping at the CRC. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "model/events_int.h"
#include "servprof/events.h"
#include "trace/trace_int.h"

static void fix_checksums(uint8_t *d, size_t n)
{
    size_t pos = SP_NATIVE_FILE_HEADER;
    while (pos + SP_NATIVE_BLOCK_HEADER <= n) {
        uint32_t len = sp_rd32(d + pos + 4);
        if (len > n - pos - SP_NATIVE_BLOCK_HEADER)
            return;
        uLong crc = crc32(0L, d + pos, 12);
        crc = crc32(crc, d + pos + SP_NATIVE_BLOCK_HEADER, len);
        sp_wr32(d + pos + 12, (uint32_t)crc);
        pos += SP_NATIVE_BLOCK_HEADER + len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed)
        return 0;
    if (size)
        memcpy(fixed, data, size);
    fix_checksums(fixed, size);
    for (int round = 0; round < 4; round++) {
        int lenient = round & 1;
        const uint8_t *in = round < 2 ? data : fixed;
        sp_events *ev;
        if (sp_events_create(&ev) != SP_OK)
            return 0;
        sp_load_options opt;
        sp_load_options_init(&opt);
        opt.format = SP_FORMAT_NATIVE;
        opt.lenient = lenient;
        char err[512];
        if (sp_events_load_buffer(ev, "fuzz.sptrace", in, size, &opt, err, sizeof err) == SP_OK)
            (void)sp_ev_finish(ev, true, err, sizeof err);
        sp_events_destroy(ev);
    }
    free(fixed);
    return 0;
}
