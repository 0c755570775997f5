/* The native trace format (docs/native-format.md) as one module: constants, record layouts (all
 * little-endian on disk), block framing and checksums, and the names both trace formats share. The
 * recorder (src/trace) writes through it, the importers read through it (native.c the records,
 * import.c the magic it detects the format by, jsonl.c the drop-cause names); neither needs the other.
 * This header is the module's one door, and only those two parts open it (tests/cli/part_doors.sh). */
#ifndef SERVPROF_NATIVE_FORMAT_H
#define SERVPROF_NATIVE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- file and block framing ---- */
#define SP_NATIVE_MAGIC "SPTRACE1"          /* 8 bytes at offset 0 (import.c detects this) */
#define SP_NATIVE_MAGIC_BYTES 8u
#define SP_NATIVE_VERSION 1u
#define SP_NATIVE_FILE_HEADER 16u            /* magic[8], u32 version, u32 header bytes */
#define SP_NATIVE_MAX_FILE_HEADER 4096u      /* readers refuse larger headers */
#define SP_NATIVE_BLOCK_MAGIC 0x4b425053u    /* "SPBK" as little-endian u32 */
#define SP_NATIVE_BLOCK_HEADER 16u           /* u32 magic, u32 payload bytes, u32 records, u32 crc */
#define SP_NATIVE_WRITE_BLOCK (1u << 20)     /* payload bytes the writer puts in one block, at most */
#define SP_NATIVE_MAX_BLOCK (16u << 20)      /* payload bytes a reader accepts in one block */

/* ---- records: an 8-byte header {u16 type, u16 size, u32 aux}, then u64 words ---- */
#define SP_NATIVE_MAX_RECORD 65528u          /* size is a u16 and a multiple of 8 */
#define SP_NATIVE_MAX_MEMBERS 4096u          /* batch members per record (trace.h) */
#define SP_NATIVE_MAX_LABEL 255u             /* request label bytes (trace.h) */
#define SP_NATIVE_MAX_NAME 4095u             /* interned name bytes (trace.h) */
#define SP_NATIVE_MAX_NAMES (1u << 20)       /* name ids per trace */

typedef enum sp_native_type {
    SP_REC_NAME = 1,    /* aux: name id; words: the name's bytes, NUL-padded to 8 */
    SP_REC_META = 2,    /* aux: clock (1 = CLOCK_MONOTONIC); price (f64 bits), pid, open mono ns,
                           open realtime ns, thread buffer bytes, max threads */
    SP_REC_REQUEST = 3, /* id, arrival, done, input tokens (i64; < 0 unknown) */
    SP_REC_LABEL = 4,   /* aux: label bytes; id, then the bytes, NUL-padded */
    SP_REC_STAGE = 5,   /* aux: stage name id; request id, start, end */
    SP_REC_BATCH = 6,   /* aux: members; id, start, end, effective, padded, member ids... */
    SP_REC_KERNEL = 7,  /* aux: name id; batch, device | stream << 32, correlation, start, end */
    SP_REC_COPY = 8,    /* aux: sp_copy_kind; batch, device | stream << 32, correlation, bytes,
                           start, end */
    SP_REC_LAUNCH = 9,  /* aux: name id; correlation, start, end */
    SP_REC_DROPS = 10,  /* aux: causes n; n cumulative counts, indexed by sp_drop_cause */
    SP_REC_END = 11,    /* the recorder closed the file cleanly */
    SP_REC_PROP = 12,   /* aux: key bytes (1..255); value bytes (u64), key NUL-padded to 8, value
                           NUL-padded to 8 */
    SP_REC_OUTCOME = 13, /* aux: sp_outcome; request id, HTTP status (i64; 0: none) */
    SP_REC_STEP = 14,   /* aux: members n; step (batch) id, start, end, effective, padded, KV cache
                           tokens in use after the step, KV capacity (0: unknown), then n pairs:
                           request id, (phase << 56) | tokens (docs/generation.md) */
    SP_REC_TOKEN = 15,  /* request id, token index (0-based), time */
    SP_REC_TRACE = 16    /* aux: W3C trace-flags; request id, trace-id (16 bytes), span-id (8 bytes),
                            parent-id (8 bytes; all zero: none), each id's bytes in order */
} sp_native_type;

#define SP_NATIVE_CLOCK_MONOTONIC 1u

/* Fixed record sizes in bytes (header included). */
#define SP_REC_SIZE_REQUEST 40u
#define SP_REC_SIZE_STAGE 32u
#define SP_REC_SIZE_BATCH_BASE 48u
#define SP_REC_SIZE_KERNEL 48u
#define SP_REC_SIZE_COPY 56u
#define SP_REC_SIZE_LAUNCH 32u
#define SP_REC_SIZE_META 56u
#define SP_REC_SIZE_OUTCOME 24u
#define SP_REC_SIZE_STEP_BASE 64u  /* + SP_REC_SIZE_STEP_MEMBER per member */
#define SP_REC_SIZE_STEP_MEMBER 16u
#define SP_REC_SIZE_TOKEN 32u
/* A step's members fit a record (SP_NATIVE_MAX_RECORD): (65528 - 64) / 16 = 4091. */
#define SP_NATIVE_MAX_STEP_MEMBERS ((SP_NATIVE_MAX_RECORD - SP_REC_SIZE_STEP_BASE) / SP_REC_SIZE_STEP_MEMBER)
/* A step member's second word: phase in the top 8 bits, tokens in the low 56. */
#define SP_STEP_PHASE_SHIFT 56u
#define SP_STEP_TOKENS_MASK ((UINT64_C(1) << SP_STEP_PHASE_SHIFT) - 1u)
#define SP_REC_SIZE_TRACE 48u
#define SP_NATIVE_MAX_STATUS 999  /* HTTP statuses an outcome record carries; others are 0 */

static inline uint64_t sp_rec_header(uint32_t type, uint32_t size, uint32_t aux)
{
    return (uint64_t)type | ((uint64_t)size << 16) | ((uint64_t)aux << 32);
}

/* The fields of a record header word (as read with sp_rd64). */
static inline uint32_t sp_rec_type(uint64_t hdr) { return (uint32_t)(hdr & 0xffff); }
static inline uint32_t sp_rec_size(uint64_t hdr) { return (uint32_t)((hdr >> 16) & 0xffff); }
static inline uint32_t sp_rec_aux(uint64_t hdr) { return (uint32_t)(hdr >> 32); }

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define SP_LE64(x) __builtin_bswap64(x)
#define SP_LE32(x) __builtin_bswap32(x)
#else
#define SP_LE64(x) (x)
#define SP_LE32(x) (x)
#endif

static inline uint64_t sp_rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return SP_LE64(v);
}

static inline uint32_t sp_rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return SP_LE32(v);
}

static inline void sp_wr64(unsigned char *p, uint64_t v)
{
    v = SP_LE64(v);
    memcpy(p, &v, 8);
}

static inline void sp_wr32(unsigned char *p, uint32_t v)
{
    v = SP_LE32(v);
    memcpy(p, &v, 4);
}

/* CRC-32 (IEEE 802.3, the polynomial and result of zlib's crc32()), so the recording library needs no
 * zlib (src/format/crc32.c). `crc` is the running value (0 to start). */
uint32_t sp_crc32(uint32_t crc, const void *data, size_t len);

/* The routes sp_crc32 can take, each faster than the one before; every one gives the same value. */
typedef enum sp_crc_route {
    SP_CRC_TABLES = 0,     /* slice-by-8 tables: any CPU */
    SP_CRC_CLMUL128,       /* x86-64 with PCLMULQDQ and SSE4.1: 128-bit folds */
    SP_CRC_VPCLMUL512      /* x86-64 with VPCLMULQDQ and AVX-512 F/BW/VL: 4 x 512-bit folds */
} sp_crc_route;

/* The fastest route this CPU has whose init-time self-check against the tables passed: the one
 * sp_crc32 takes (a route implies the ones before it). */
sp_crc_route sp_crc32_route(void);

/* sp_crc32 by the given route (for tests and benchmarks): false, *out untouched, when the CPU lacks
 * it or it failed its self-check. */
bool sp_crc32_by(sp_crc_route route, uint32_t crc, const void *data, size_t len, uint32_t *out);

/* ---- file header and block framing (src/format/framing.c) ---- */

/* Writes a version-1 file header: magic, version, header size. */
void sp_native_file_header(unsigned char h[SP_NATIVE_FILE_HEADER]);

/* What is wrong with a file header, each with the byte offset a reader names (docs/native-format.md,
 * "File header"). */
typedef enum sp_native_header_fault {
    SP_NATIVE_HEADER_OK = 0,
    SP_NATIVE_HEADER_MAGIC,   /* byte 0: not "SPTRACE1" (as far as the file goes) */
    SP_NATIVE_HEADER_CUT,     /* the file ends inside the 16 header bytes */
    SP_NATIVE_HEADER_VERSION, /* byte 8: a version this build does not read */
    SP_NATIVE_HEADER_SIZE     /* byte 12: header size outside 16..SP_NATIVE_MAX_FILE_HEADER */
} sp_native_header_fault;

/* Checks the first `got` bytes of a file (at most SP_NATIVE_FILE_HEADER are looked at). On
 * SP_NATIVE_HEADER_OK, *header_bytes is the whole header's size (the reader skips the rest). */
sp_native_header_fault sp_native_file_header_check(const unsigned char *h, size_t got,
                                                   uint32_t *header_bytes);

/* Frames a block: writes header `h` for a payload of `na` + `nb` bytes holding `records` records,
 * given in two pieces (a ring's bytes before and after its wrap; nb may be 0), with the checksum over
 * header bytes 0..11 and then the payload. The payload must not exceed SP_NATIVE_MAX_BLOCK. */
void sp_native_block_frame(unsigned char h[SP_NATIVE_BLOCK_HEADER], uint32_t records, const void *a,
                           size_t na, const void *b, size_t nb);

/* Whether `h` starts like a block header a reader accepts (magic, payload size at most
 * SP_NATIVE_MAX_BLOCK); if so, *payload_len is the size it claims. */
bool sp_native_block_header_ok(const unsigned char h[SP_NATIVE_BLOCK_HEADER], uint32_t *payload_len);

/* Whether block header `h` and its `len` payload bytes check out (the checksum matches). */
bool sp_native_block_crc_ok(const unsigned char h[SP_NATIVE_BLOCK_HEADER], const void *payload,
                            uint32_t len);

/* ---- names and rules the native and JSONL formats share (src/format/names.c) ----
 * sp_drop_cause_str and sp_outcome_str (trace.h) name drop causes and outcomes; their names are the
 * text both formats and every report use. */

/* A trace property key (servprof.h): 1..SP_PROP_MAX_KEY bytes of [A-Za-z0-9._-]. */
int sp_prop_key_valid(const char *key, size_t len);

#endif
