/* CRC-32 (the IEEE polynomial zlib uses, so zlib's crc32() checks the same value) for the native
 * trace's block checksums, without making libservprof depend on zlib. On x86-64 CPUs with PCLMULQDQ
 * the bulk is folded with carry-less multiplies (about 10x the table speed: the writer thread and the
 * importer both checksum every byte of a trace); elsewhere, and for short tails, slice-by-8 tables. */
#include <pthread.h>
#include <stdbool.h>

#include "format/native_format.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SP_CRC_CLMUL 1
#include <immintrin.h>
#endif

static uint32_t crc_table[8][256];
static bool crc_use_clmul;
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

__attribute__((target("pclmul,sse4.1"))) static uint32_t crc_clmul(uint32_t c, const unsigned char *p,
                                                                   size_t len)
{
    __m128i x0 = _mm_loadu_si128((const __m128i *)p);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)c));
    p += 64;
    len -= 64;
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
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1")) {
        /* self-check on a few lengths and start values: fall back to the tables on any mismatch */
        unsigned char buf[320];
        uint32_t x = 12345;
        for (size_t i = 0; i < sizeof buf; i++) {
            x = x * 1664525u + 1013904223u;
            buf[i] = (unsigned char)(x >> 24);
        }
        bool ok = true;
        for (size_t len = 64; len <= sizeof buf && ok; len += 16)
            for (uint32_t start = 0; start < 3 && ok; start++) {
                uint32_t c0 = start * 0x9e3779b9u;
                ok = crc_clmul(c0, buf, len) == crc_tables(c0, buf, len);
            }
        crc_use_clmul = ok;
    }
#endif
}

uint32_t sp_crc32(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    uint32_t c = ~crc;
#ifdef SP_CRC_CLMUL
    if (crc_use_clmul && len >= 64) {
        size_t bulk = len & ~(size_t)15;
        c = crc_clmul(c, p, bulk);
        p += bulk;
        len -= bulk;
    }
#endif
    return ~crc_tables(c, p, len);
}
