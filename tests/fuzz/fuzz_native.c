/* libFuzzer target for the native trace importer: any bytes, read as a native trace (strict and
 * lenient), must load or fail with a message, never crash, hang or grow without bound; what loads
 * must also pass the model's finishing pass under lenient. Each input is tried as is, with its block
 * checksums recomputed (so mutations reach the record parser instead of stopping at the CRC), and
 * recomputed but for the middle block's (so the reader must resynchronise past it and read on, and
 * records using names it defined become undecodable). The serial and the pipelined reader must agree
 * on the status, the counts and the loss; a disagreement aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "import/import_int.h"
#include "model/events_int.h"
#include "servprof/events.h"
#include "format/native_format.h"

/* Recomputes every block's checksum; returns the offset of the middle block's header (0: fewer than 3
 * blocks). */
static size_t fix_checksums(uint8_t *d, size_t n)
{
    size_t pos = SP_NATIVE_FILE_HEADER, starts[64], nb = 0;
    while (pos + SP_NATIVE_BLOCK_HEADER <= n) {
        uint32_t len = sp_rd32(d + pos + 4);
        if (len > n - pos - SP_NATIVE_BLOCK_HEADER)
            break;
        uLong crc = crc32(0L, d + pos, 12);
        crc = crc32(crc, d + pos + SP_NATIVE_BLOCK_HEADER, len);
        sp_wr32(d + pos + 12, (uint32_t)crc);
        if (nb < 64)
            starts[nb++] = pos;
        pos += SP_NATIVE_BLOCK_HEADER + len;
    }
    return nb >= 3 ? starts[nb / 2] : 0;
}

/* One load with the reader in `mode`: status, counts and the loss, for comparing the two readers. */
typedef struct fz_result {
    sp_status st;
    sp_events_summary s;
    sp_file_loss loss;
} fz_result;

static void load(const uint8_t *in, size_t size, int lenient, int mode, fz_result *out)
{
    memset(out, 0, sizeof *out);
    sp_import_native_set_mode(mode);
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        abort();
    sp_load_options opt;
    sp_load_options_init(&opt);
    opt.format = SP_FORMAT_NATIVE;
    opt.lenient = lenient;
    char err[512];
    out->st = sp_events_load_buffer(ev, "fuzz.sptrace", in, size, &opt, err, sizeof err);
    if (out->st == SP_OK) {
        sp_events_file_loss(ev, 0, &out->loss);
        (void)sp_ev_finish(ev, true, err, sizeof err);
        sp_events_summarize(ev, &out->s);
    }
    sp_events_destroy(ev);
}

static int same(const fz_result *a, const fz_result *b)
{
    const sp_file_loss *x = &a->loss, *y = &b->loss;
    if (a->st != b->st || memcmp(&a->s, &b->s, sizeof a->s) != 0 || x->lost_blocks != y->lost_blocks ||
        x->lost_bytes != y->lost_bytes || x->regions != y->regions || x->undecodable != y->undecodable ||
        x->end != y->end || x->first_lost_offset != y->first_lost_offset)
        return 0;
    for (size_t i = 0; i < x->n_listed; i++)
        if (x->region[i].offset != y->region[i].offset || x->region[i].bytes != y->region[i].bytes ||
            x->region[i].blocks != y->region[i].blocks || x->region[i].to_end != y->region[i].to_end)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed = malloc(size ? size : 1), *broken = malloc(size ? size : 1);
    if (!fixed || !broken) {
        free(fixed);
        free(broken);
        return 0;
    }
    if (size)
        memcpy(fixed, data, size);
    size_t mid = fix_checksums(fixed, size);
    if (size)
        memcpy(broken, fixed, size);
    if (mid)
        broken[mid + 12] ^= 1; /* the middle block's checksum */
    const uint8_t *inputs[3] = {data, fixed, broken};
    for (int round = 0; round < 6; round++) {
        if (round >= 4 && !mid)
            break;
        fz_result serial, piped;
        load(inputs[round / 2], size, round & 1, SP_NATIVE_SERIAL, &serial);
        load(inputs[round / 2], size, round & 1, SP_NATIVE_PIPELINED, &piped);
        if (!same(&serial, &piped))
            abort(); /* the two readers must never disagree */
    }
    free(fixed);
    free(broken);
    return 0;
}
