/* The native trace's file header and block framing (docs/native-format.md, "File header" and
 * "Block"): the one place that knows how a block's header and checksum are laid out, for the
 * recorder's writer and the importer alike. */
#include "format/native_format.h"

void sp_native_file_header(unsigned char h[SP_NATIVE_FILE_HEADER])
{
    memcpy(h, SP_NATIVE_MAGIC, SP_NATIVE_MAGIC_BYTES);
    sp_wr32(h + 8, SP_NATIVE_VERSION);
    sp_wr32(h + 12, SP_NATIVE_FILE_HEADER);
}

sp_native_header_fault sp_native_file_header_check(const unsigned char *h, size_t got,
                                                   uint32_t *header_bytes)
{
    size_t cmp = got < SP_NATIVE_MAGIC_BYTES ? got : SP_NATIVE_MAGIC_BYTES;
    if (memcmp(h, SP_NATIVE_MAGIC, cmp) != 0)
        return SP_NATIVE_HEADER_MAGIC;
    if (got < SP_NATIVE_FILE_HEADER)
        return SP_NATIVE_HEADER_CUT;
    uint32_t version = sp_rd32(h + 8), hlen = sp_rd32(h + 12);
    if (version != SP_NATIVE_VERSION)
        return SP_NATIVE_HEADER_VERSION;
    if (hlen < SP_NATIVE_FILE_HEADER || hlen > SP_NATIVE_MAX_FILE_HEADER)
        return SP_NATIVE_HEADER_SIZE;
    *header_bytes = hlen;
    return SP_NATIVE_HEADER_OK;
}

void sp_native_block_frame(unsigned char h[SP_NATIVE_BLOCK_HEADER], uint32_t records, const void *a,
                           size_t na, const void *b, size_t nb)
{
    sp_wr32(h, SP_NATIVE_BLOCK_MAGIC);
    sp_wr32(h + 4, (uint32_t)(na + nb));
    sp_wr32(h + 8, records);
    /* the checksum covers the header's first 12 bytes, then the payload */
    uint32_t crc = sp_crc32(0, h, 12);
    crc = sp_crc32(crc, a, na);
    if (nb)
        crc = sp_crc32(crc, b, nb);
    sp_wr32(h + 12, crc);
}

bool sp_native_block_header_ok(const unsigned char h[SP_NATIVE_BLOCK_HEADER], uint32_t *payload_len)
{
    uint32_t len = sp_rd32(h + 4);
    if (sp_rd32(h) != SP_NATIVE_BLOCK_MAGIC || len > SP_NATIVE_MAX_BLOCK)
        return false;
    *payload_len = len;
    return true;
}

bool sp_native_block_crc_ok(const unsigned char h[SP_NATIVE_BLOCK_HEADER], const void *payload,
                            uint32_t len)
{
    return sp_crc32(sp_crc32(0, h, 12), payload, len) == sp_rd32(h + 12);
}
