/* CRC-32 (the IEEE polynomial zlib uses, so zlib's crc32() checks the same value) for the native
 * trace's block checksums, without making libservprof depend on zlib. On x86-64 CPUs with PCLMULQDQ
 * the bulk is folded with carry-less multiplies (about 10x the table speed: the writer thread and the
 * importer both checksum every byte of a trace), 4 x 512 bits a step with VPCLMULQDQ where the CPU
 * has it and AVX-512 (about 3x that again); elsewhere, and for short tails, slice-by-8 tables. */
#include <pthread.h>
#include <stdbool.h>

#include "format/native_format.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SP_CRC_CLMUL 1
#include <immintrin.h>
#endif

static uint32_t crc_table[8][256];
static bool crc_use_clmul;   /* the 128-bit folding passed its self-check on this CPU */
static bool crc_use_vpclmul; /* the 512-bit folding did too */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* The running (not inverted) CRC register over `len` bytes, eight at a time. */
static uint32_t crc_tables(uint32_t c, const unsigned char *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t lo = sp_rd32(p) ^ c, hi = sp_rd32(p + 4);
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#ifdef SP_CRC_CLMUL
/* Folding with carry-less multiplication (Intel, "Fast CRC Computation for Generic Polynomials Using
 * PCLMULQDQ Instruction", 2009), bit-reflected form. The constants are x^k mod P(x) for the fold
 * distances (512 and 128 bits, then 64 and 32 for the final reduction), bit-reflected; the Barrett
 * step uses P(x) itself and floor(x^64 / P(x)). `len` is a multiple of 16, at least 64. The init
 * self-check below compares this against the tables, so a wrong constant can only cost speed. */
#define K1 0x154442bd4ull  /* fold by 512, low qword */
#define K2 0x1c6e41596ull  /* fold by 512, high qword */
#define K3 0x1751997d0ull  /* fold by 128, low qword */
#define K4 0x0ccaa009eull  /* fold by 128, high qword */
#define K5 0x163cd6124ull  /* 64 -> 32 bits */
#define KP 0x1db710641ull  /* P(x), reflected */
#define KU 0x1f7011641ull  /* floor(x^64 / P(x)), reflected */

__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold16(__m128i x, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* The fold's last steps: x0..x3 hold the running state of the 64 bytes before `p` (x0 first); folds
 * the remaining `len` bytes (a multiple of 16) in and reduces to the 32-bit register. */
__attribute__((target("pclmul,sse4.1"))) static inline uint32_t crc_clmul_finish(__m128i x0, __m128i x1,
                                                                                __m128i x2, __m128i x3,
                                                                                const unsigned char *p,
                                                                                size_t len)
{
    __m128i k = _mm_set_epi64x((long long)K2, (long long)K1);
    while (len >= 64) {
        x0 = _mm_xor_si128(fold16(x0, k), _mm_loadu_si128((const __m128i *)p));
        x1 = _mm_xor_si128(fold16(x1, k), _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = _mm_xor_si128(fold16(x2, k), _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = _mm_xor_si128(fold16(x3, k), _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        len -= 64;
    }
    k = _mm_set_epi64x((long long)K4, (long long)K3);
    x0 = _mm_xor_si128(fold16(x0, k), x1);
    x0 = _mm_xor_si128(fold16(x0, k), x2);
    x0 = _mm_xor_si128(fold16(x0, k), x3);
    while (len >= 16) {
        x0 = _mm_xor_si128(fold16(x0, k), _mm_loadu_si128((const __m128i *)p));
        p += 16;
        len -= 16;
    }
    /* 128 -> 64 bits (appending 32 zero bits), then 64 -> 32 */
    __m128i t = _mm_clmulepi64_si128(k, x0, 0x01); /* K4 * low qword */
    x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), t);
    __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
    __m128i hi = _mm_srli_si128(x0, 4);
    x0 = _mm_clmulepi64_si128(_mm_and_si128(x0, mask32), _mm_set_epi64x(0, (long long)K5), 0x00);
    x0 = _mm_xor_si128(x0, hi);
    /* Barrett reduction, 64 -> 32 bits */
    __m128i kb = _mm_set_epi64x((long long)KU, (long long)KP);
    __m128i keep = x0;
    t = _mm_clmulepi64_si128(_mm_and_si128(x0, mask32), kb, 0x10); /* low dword * u */
    t = _mm_clmulepi64_si128(_mm_and_si128(t, mask32), kb, 0x00);  /* * P */
    return (uint32_t)_mm_extract_epi32(_mm_xor_si128(t, keep), 1);
}

__attribute__((target("pclmul,sse4.1"))) static uint32_t crc_clmul(uint32_t c, const unsigned char *p,
                                                                   size_t len)
{
    __m128i x0 = _mm_loadu_si128((const __m128i *)p);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)c));
    return crc_clmul_finish(x0, x1, x2, x3, p + 64, len - 64);
}

/* The same folding four 512-bit lanes of 128-bit folds at a time (VPCLMULQDQ on zmm registers): 256
 * bytes a step, folded 2048 bits ahead (K1W, K2W: x^(2048+32) and x^(2048-32) mod P, bit-reflected
 * and shifted left by one like K1 and K2, which are the same for 512 bits). The four registers are
 * then folded into the last one by 512 bits each, whose four 128-bit lanes are the 64-byte state the
 * 128-bit route carries on with. `len` is a multiple of 16, at least 256. */
#define K1W 0x11542778aull /* fold by 2048, low qword */
#define K2W 0x1322d1430ull /* fold by 2048, high qword */

#define SP_CRC_AVX512 "avx512f,avx512vl,avx512bw,vpclmulqdq,pclmul,sse4.1"

__attribute__((target(SP_CRC_AVX512))) static inline __m512i fold64(__m512i x, __m512i k, __m512i add)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11),
                                     add, 0x96); /* a ^ b ^ c */
}

__attribute__((target(SP_CRC_AVX512))) static uint32_t crc_vpclmul(uint32_t c, const unsigned char *p,
                                                                   size_t len)
{
    __m512i z0 = _mm512_loadu_si512((const void *)p);
    __m512i z1 = _mm512_loadu_si512((const void *)(p + 64));
    __m512i z2 = _mm512_loadu_si512((const void *)(p + 128));
    __m512i z3 = _mm512_loadu_si512((const void *)(p + 192));
    z0 = _mm512_xor_si512(z0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)c)));
    p += 256;
    len -= 256;
    __m512i k = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)K2W, (long long)K1W));
    while (len >= 256) {
        z0 = fold64(z0, k, _mm512_loadu_si512((const void *)p));
        z1 = fold64(z1, k, _mm512_loadu_si512((const void *)(p + 64)));
        z2 = fold64(z2, k, _mm512_loadu_si512((const void *)(p + 128)));
        z3 = fold64(z3, k, _mm512_loadu_si512((const void *)(p + 192)));
        p += 256;
        len -= 256;
    }
    k = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)K2, (long long)K1));
    z1 = fold64(z0, k, z1);
    z2 = fold64(z1, k, z2);
    z3 = fold64(z2, k, z3);
    return crc_clmul_finish(_mm512_extracti32x4_epi32(z3, 0), _mm512_extracti32x4_epi32(z3, 1),
                            _mm512_extracti32x4_epi32(z3, 2), _mm512_extracti32x4_epi32(z3, 3), p, len);
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#ifdef SP_CRC_CLMUL
    __builtin_cpu_init();
    /* self-check each folding route against the tables on a few lengths and start values, and fall
     * back (to the 128-bit route, or the tables) on any mismatch */
    unsigned char buf[1024];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1664525u + 1013904223u;
        buf[i] = (unsigned char)(x >> 24);
    }
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1")) {
        bool ok = true;
        for (size_t len = 64; len <= 320 && ok; len += 16)
            for (uint32_t start = 0; start < 3 && ok; start++) {
                uint32_t c0 = start * 0x9e3779b9u;
                ok = crc_clmul(c0, buf, len) == crc_tables(c0, buf, len);
            }
        crc_use_clmul = ok;
    }
    /* avx512f also tells that the OS saves the zmm registers (libgcc checks XCR0) */
    if (crc_use_clmul && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("vpclmulqdq")) {
        bool ok = true;
        /* every 16-byte tail after 0 and 1 steps of 256 bytes (256..512), then 3 steps (1024): a few
         * microseconds once, in every process the writer runs in too */
        for (size_t len = 256; len <= sizeof buf && ok; len = len < 512 ? len + 16 : len * 2)
            for (uint32_t start = 0; start < 3 && ok; start++) {
                uint32_t c0 = start * 0x9e3779b9u;
                ok = crc_vpclmul(c0, buf, len) == crc_tables(c0, buf, len);
            }
        crc_use_vpclmul = ok;
    }
#endif
}

/* The running register over `len` bytes by route `r` (which must be usable here). */
static uint32_t crc_by(sp_crc_route r, uint32_t c, const unsigned char *p, size_t len)
{
#ifdef SP_CRC_CLMUL
    if (r == SP_CRC_VPCLMUL512 && len >= 256) {
        size_t bulk = len & ~(size_t)15;
        c = crc_vpclmul(c, p, bulk);
        p += bulk;
        len -= bulk;
    } else if (r != SP_CRC_TABLES && len >= 64) {
        size_t bulk = len & ~(size_t)15;
        c = crc_clmul(c, p, bulk);
        p += bulk;
        len -= bulk;
    }
#else
    (void)r;
#endif
    return crc_tables(c, p, len);
}

sp_crc_route sp_crc32_route(void)
{
    pthread_once(&crc_once, crc_init);
    return crc_use_vpclmul ? SP_CRC_VPCLMUL512 : crc_use_clmul ? SP_CRC_CLMUL128 : SP_CRC_TABLES;
}

bool sp_crc32_by(sp_crc_route route, uint32_t crc, const void *data, size_t len, uint32_t *out)
{
    if ((unsigned)route > (unsigned)sp_crc32_route()) /* a value outside the enum too */
        return false;
    *out = ~crc_by(route, ~crc, data, len);
    return true;
}

uint32_t sp_crc32(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_by(crc_use_vpclmul ? SP_CRC_VPCLMUL512 : crc_use_clmul ? SP_CRC_CLMUL128 : SP_CRC_TABLES,
                   ~crc, data, len);
}
