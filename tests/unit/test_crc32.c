/* sp_crc32 (src/format/crc32.c) by each of its routes (tables, 128-bit PCLMULQDQ folds, 4 x 512-bit
 * VPCLMULQDQ folds), whichever this CPU has, against zlib's crc32(): an independent implementation of
 * the same CRC, the reference for every value here. The routes' length thresholds (64 and 256 bytes)
 * and 16-byte steps are all crossed by the lengths 0..1024, from random offsets and start values; the
 * recorder's block framing, which checksums with sp_crc32 too, on a payload of a block's size. */
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "format/native_format.h"
#include "testlib.h"

#define BUF_BYTES ((1u << 20) + 4096u)

static unsigned char *g_buf;
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd32(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

static uint32_t zlib_crc(uint32_t start, const unsigned char *p, size_t len)
{
    return (uint32_t)crc32(start, p, (uInt)len);
}

/* Every route this CPU has, and sp_crc32 itself, against zlib on one range. */
static void check_range(uint32_t start, size_t off, size_t len)
{
    uint32_t want = zlib_crc(start, g_buf + off, len);
    CHECK_MSG(sp_crc32(start, g_buf + off, len) == want, "sp_crc32 start %u off %zu len %zu", start, off, len);
    for (int r = SP_CRC_TABLES; r <= (int)sp_crc32_route(); r++) {
        uint32_t got = 0;
        CHECK(sp_crc32_by((sp_crc_route)r, start, g_buf + off, len, &got));
        CHECK_MSG(got == want, "route %d start %u off %zu len %zu: %08x, zlib %08x", r, start, off, len, got, want);
    }
}

static void test_check_value(void)
{
    /* the published check value of CRC-32/ISO-HDLC over "123456789" */
    for (int r = SP_CRC_TABLES; r <= (int)sp_crc32_route(); r++) {
        uint32_t got = 0;
        CHECK(sp_crc32_by((sp_crc_route)r, 0, "123456789", 9, &got));
        CHECK_EQ_U64(got, 0xCBF43926u);
    }
    CHECK_EQ_U64(sp_crc32(0, "123456789", 9), 0xCBF43926u);
}

static void test_every_length(void)
{
    for (size_t len = 0; len <= 1024; len++) {
        check_range(0, 0, len);
        for (int i = 0; i < 3; i++)
            check_range(rnd32(), rnd32() % 4096u, len);
    }
}

static void test_long_and_chained(void)
{
    /* a whole block's payload (1 MiB) and odd lengths past it, at odd offsets */
    check_range(0, 0, 1u << 20);
    check_range(rnd32(), 7, (1u << 20) + 13);
    check_range(rnd32(), 4093, 1000003);
    /* the running value carried over pieces of random lengths (some under each threshold, some over)
     * gives the whole range's CRC, by every route */
    size_t total = (1u << 20) + 999;
    uint32_t want = zlib_crc(0, g_buf + 1, total);
    for (int r = SP_CRC_TABLES; r <= (int)sp_crc32_route(); r++) {
        uint32_t c = 0;
        size_t at = 0;
        while (at < total) {
            size_t piece = rnd32() % 3 == 0 ? rnd32() % 300 : rnd32() % 70000;
            if (piece > total - at)
                piece = total - at;
            CHECK(sp_crc32_by((sp_crc_route)r, c, g_buf + 1 + at, piece, &c));
            at += piece;
        }
        CHECK_MSG(c == want, "route %d chained: %08x, zlib %08x", r, c, want);
    }
}

static void test_routes(void)
{
    /* a route past the CPU's is refused and leaves the value alone */
    sp_crc_route best = sp_crc32_route();
    printf("test_crc32: route %d of %d\n", (int)best, (int)SP_CRC_VPCLMUL512);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* a CPU that has a folding route's instructions gets that route: its init-time self-check
     * passed (a wrong constant or lane order falls back silently, costing only speed) */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"))
        CHECK(best >= SP_CRC_CLMUL128);
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1") &&
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("vpclmulqdq"))
        CHECK(best == SP_CRC_VPCLMUL512);
#endif
    if (best < SP_CRC_VPCLMUL512) {
        uint32_t got = 12345;
        CHECK(!sp_crc32_by((sp_crc_route)(best + 1), 0, g_buf, 512, &got));
        CHECK_EQ_U64(got, 12345);
    }
    uint32_t got = 0;
    CHECK(sp_crc32_by(SP_CRC_TABLES, 0, g_buf, 0, &got));
    CHECK_EQ_U64(got, 0);
    /* values outside the enum are refused too */
    got = 777;
    CHECK(!sp_crc32_by((sp_crc_route)-1, 0, g_buf, 512, &got));
    CHECK(!sp_crc32_by((sp_crc_route)(SP_CRC_VPCLMUL512 + 1), 0, g_buf, 512, &got));
    CHECK_EQ_U64(got, 777);
}

static void test_block_frame(void)
{
    /* the writer's framing of a 1 MiB payload in two pieces (a ring's wrap): the checksum the docs
     * define (docs/native-format.md, "Block": header bytes 0..11, then the payload), by zlib */
    unsigned char h[SP_NATIVE_BLOCK_HEADER];
    size_t na = 700001, nb = (1u << 20) - na;
    sp_native_block_frame(h, 5, g_buf + 3, na, g_buf + 3 + na, nb);
    uint32_t want = zlib_crc(zlib_crc(0, h, 12), g_buf + 3, na + nb);
    CHECK_EQ_U64(sp_rd32(h + 12), want);
    CHECK(sp_native_block_crc_ok(h, g_buf + 3, (uint32_t)(na + nb)));
}

int main(void)
{
    g_buf = malloc(BUF_BYTES);
    CHECK(g_buf != NULL);
    if (!g_buf)
        return sp_test_done("test_crc32");
    for (size_t i = 0; i < BUF_BYTES; i++)
        g_buf[i] = (unsigned char)rnd32();
    test_check_value();
    test_every_length();
    test_long_and_chained();
    test_routes();
    test_block_frame();
    free(g_buf);
    return sp_test_done("test_crc32");
}
