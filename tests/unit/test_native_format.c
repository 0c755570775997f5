/* The native trace format module (src/format): block framing against zlib's crc32() as the reference
 * checksum, the file-header check's faults, the record-header layout, and the shared names, each
 * against the byte layouts and lists written in docs/native-format.md. */
#include <string.h>
#include <zlib.h>

#include "format/native_format.h"
#include "servprof/trace.h"
#include "testlib.h"

static unsigned char g_payload[3000];

/* The checksum the docs define ("CRC-32 of header bytes 0..11 followed by the payload"), computed
 * with zlib: an implementation independent of src/format/crc32.c. */
static uint32_t zlib_block_crc(const unsigned char *h, const unsigned char *payload, size_t len)
{
    uLong c = crc32(0L, h, 12);
    return (uint32_t)crc32(c, payload, (uInt)len);
}

static void test_block_frame(void)
{
    uint32_t x = 7;
    for (size_t i = 0; i < sizeof g_payload; i++) {
        x = x * 1664525u + 1013904223u;
        g_payload[i] = (unsigned char)(x >> 24);
    }
    unsigned char h[SP_NATIVE_BLOCK_HEADER], h2[SP_NATIVE_BLOCK_HEADER];
    sp_native_block_frame(h, 37, g_payload, sizeof g_payload, NULL, 0);
    /* docs/native-format.md, "Block": magic 0x4b425053 (bytes S P B K), payload size, records, crc */
    CHECK(memcmp(h, "SPBK", 4) == 0);
    CHECK_EQ_U64(sp_rd32(h + 4), sizeof g_payload);
    CHECK_EQ_U64(sp_rd32(h + 8), 37);
    CHECK_EQ_U64(sp_rd32(h + 12), zlib_block_crc(h, g_payload, sizeof g_payload));
    CHECK(sp_native_block_crc_ok(h, g_payload, sizeof g_payload));

    /* a payload given in two pieces (a ring's wrap) frames to the same 16 bytes, wherever it splits,
     * including around the CRC's 64-byte folding minimum */
    static const size_t cuts[] = {0, 1, 7, 63, 64, 65, 1000, sizeof g_payload - 1, sizeof g_payload};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t c = cuts[i];
        sp_native_block_frame(h2, 37, g_payload, c, g_payload + c, sizeof g_payload - c);
        CHECK(memcmp(h, h2, sizeof h) == 0);
    }

    /* the checksum covers the payload and the header's counted fields */
    g_payload[1234] ^= 0x10;
    CHECK(!sp_native_block_crc_ok(h, g_payload, sizeof g_payload));
    g_payload[1234] ^= 0x10;
    memcpy(h2, h, sizeof h);
    sp_wr32(h2 + 8, 38); /* records */
    CHECK(!sp_native_block_crc_ok(h2, g_payload, sizeof g_payload));
    CHECK(!sp_native_block_crc_ok(h, g_payload, sizeof g_payload - 8)); /* a shorter payload */

    /* an empty payload frames too: the checksum of the 12 header bytes alone */
    sp_native_block_frame(h2, 0, g_payload, 0, NULL, 0);
    CHECK_EQ_U64(sp_rd32(h2 + 12), zlib_block_crc(h2, g_payload, 0));
}

static void test_block_header(void)
{
    unsigned char h[SP_NATIVE_BLOCK_HEADER] = {0};
    uint32_t len = 99;
    sp_wr32(h, SP_NATIVE_BLOCK_MAGIC);
    sp_wr32(h + 4, 16u << 20); /* readers accept at most 16 MiB (docs, "Block") */
    CHECK(sp_native_block_header_ok(h, &len));
    CHECK_EQ_U64(len, 16u << 20);
    len = 99;
    sp_wr32(h + 4, (16u << 20) + 1);
    CHECK(!sp_native_block_header_ok(h, &len));
    CHECK_EQ_U64(len, 99); /* written only when accepted */
    sp_wr32(h + 4, 8);
    h[3] = 'L'; /* "SPBL" */
    CHECK(!sp_native_block_header_ok(h, &len));
}

static void test_file_header(void)
{
    /* docs/native-format.md, "File header": the bytes SPTRACE1, u32 version 1, u32 header size 16 */
    static const unsigned char want[16] = {'S', 'P', 'T', 'R', 'A', 'C', 'E', '1', 1, 0, 0, 0, 16, 0, 0, 0};
    unsigned char h[SP_NATIVE_MAX_FILE_HEADER];
    sp_native_file_header(h);
    CHECK(memcmp(h, want, 16) == 0);
    uint32_t hlen = 0;
    CHECK_EQ_U64(sp_native_file_header_check(h, 16, &hlen), SP_NATIVE_HEADER_OK);
    CHECK_EQ_U64(hlen, 16);

    /* a file cut inside the header: the magic as far as it goes, then "cut off" */
    CHECK_EQ_U64(sp_native_file_header_check(h, 3, &hlen), SP_NATIVE_HEADER_CUT);
    CHECK_EQ_U64(sp_native_file_header_check(h, 15, &hlen), SP_NATIVE_HEADER_CUT);
    CHECK_EQ_U64(sp_native_file_header_check((const unsigned char *)"SPX", 3, &hlen), SP_NATIVE_HEADER_MAGIC);
    CHECK_EQ_U64(sp_native_file_header_check((const unsigned char *)"{\"ev\":\"meta\"}   ", 16, &hlen),
                 SP_NATIVE_HEADER_MAGIC);

    sp_wr32(h + 8, 2);
    CHECK_EQ_U64(sp_native_file_header_check(h, 16, &hlen), SP_NATIVE_HEADER_VERSION);
    sp_wr32(h + 8, 1);
    /* header sizes 16..4096 (docs): the bounds and one past each */
    static const struct { uint32_t size; sp_native_header_fault want; } sizes[] = {
        {15, SP_NATIVE_HEADER_SIZE}, {16, SP_NATIVE_HEADER_OK}, {4096, SP_NATIVE_HEADER_OK},
        {4097, SP_NATIVE_HEADER_SIZE}, {0, SP_NATIVE_HEADER_SIZE}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        sp_wr32(h + 12, sizes[i].size);
        hlen = 0;
        CHECK_EQ_U64(sp_native_file_header_check(h, 16, &hlen), sizes[i].want);
        if (sizes[i].want == SP_NATIVE_HEADER_OK)
            CHECK_EQ_U64(hlen, sizes[i].size);
    }
}

static void test_record_header(void)
{
    /* docs/native-format.md, "Records": u16 type, u16 size, u32 aux, little-endian. A stage record
     * (type 5, 32 bytes) of stage name id 0x01020304: */
    static const unsigned char want[8] = {5, 0, 32, 0, 4, 3, 2, 1};
    unsigned char b[8];
    sp_wr64(b, sp_rec_header(SP_REC_STAGE, SP_REC_SIZE_STAGE, 0x01020304u));
    CHECK(memcmp(b, want, 8) == 0);
    uint64_t hdr = sp_rd64(b);
    CHECK_EQ_U64(sp_rec_type(hdr), 5);
    CHECK_EQ_U64(sp_rec_size(hdr), 32);
    CHECK_EQ_U64(sp_rec_aux(hdr), 0x01020304u);
    hdr = sp_rec_header(0xffff, SP_NATIVE_MAX_RECORD, 0xffffffffu);
    CHECK_EQ_U64(sp_rec_type(hdr), 0xffff);
    CHECK_EQ_U64(sp_rec_size(hdr), 65528);
    CHECK_EQ_U64(sp_rec_aux(hdr), 0xffffffffu);
}

static void test_names(void)
{
    /* the drop record's causes in index order, and the outcome record's codes (docs/native-format.md,
     * record types 10 and 13) */
    static const char *const drops[] = {"buffer_full", "too_large", "no_buffer", "write_failed", "reentrant",
                                        "after_close"};
    static const char *const outcomes[] = {"ok", "rejected", "error", "cancelled", "unfinished"};
    CHECK_EQ_U64(sizeof drops / sizeof drops[0], SP_DROP_CAUSE_COUNT);
    CHECK_EQ_U64(sizeof outcomes / sizeof outcomes[0], SP_OUTCOME_COUNT);
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        CHECK(strcmp(sp_drop_cause_str((sp_drop_cause)c), drops[c]) == 0);
    for (int o = 0; o < SP_OUTCOME_COUNT; o++)
        CHECK(strcmp(sp_outcome_str((sp_outcome)o), outcomes[o]) == 0);
    CHECK(strcmp(sp_drop_cause_str(SP_DROP_CAUSE_COUNT), "unknown") == 0);
    CHECK(strcmp(sp_outcome_str((sp_outcome)(SP_OUTCOME_COUNT + 3)), "unknown") == 0);

    /* property keys: 1..255 bytes of [A-Za-z0-9._-] (servprof.h) */
    char key[300];
    memset(key, 'k', sizeof key);
    CHECK(sp_prop_key_valid("servprof.batch.max_size", 23));
    CHECK(sp_prop_key_valid("A-z_0.9", 7));
    CHECK(sp_prop_key_valid(key, 255));
    CHECK(!sp_prop_key_valid(key, 256));
    CHECK(!sp_prop_key_valid("", 0));
    CHECK(!sp_prop_key_valid(NULL, 3));
    CHECK(!sp_prop_key_valid("a b", 3));
    CHECK(!sp_prop_key_valid("a=b", 3));
    CHECK(!sp_prop_key_valid("caf\xc3\xa9", 5));
    CHECK(!sp_prop_key_valid("ab\0c", 4));
}

int main(void)
{
    test_block_frame();
    test_block_header();
    test_file_header();
    test_record_header();
    test_names();
    return sp_test_done("test_native_format");
}
