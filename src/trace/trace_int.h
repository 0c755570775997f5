/* The native trace format's constants and record layouts (docs/native-format.md), shared by the
 * recorder that writes it (src/trace/recorder.c) and the importer that reads it
 * (src/import/native.c). Everything on disk is little-endian. */
#ifndef SERVPROF_TRACE_INT_H
#define SERVPROF_TRACE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- file and block framing ---- */
#define SP_NATIVE_MAGIC "SPTRACE1"          /* 8 bytes at offset 0 (import.c detects this) */
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
    SP_REC_OUTCOME = 13 /* aux: sp_outcome; request id, HTTP status (i64; 0: none) */
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
#define SP_NATIVE_MAX_STATUS 999  /* HTTP statuses an outcome record carries; others are 0 */

static inline uint64_t sp_rec_header(uint32_t type, uint32_t size, uint32_t aux)
{
    return (uint64_t)type | ((uint64_t)size << 16) | ((uint64_t)aux << 32);
}

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
 * zlib. `crc` is the running value (0 to start). */
uint32_t sp_crc32(uint32_t crc, const void *data, size_t len);

/* Test hook: when set, called inside every record's critical section (after the re-entrancy guard is
 * raised), so a test can deliver a signal there. Never set outside tests. */
extern void (*sp_trace_busy_hook)(void);

/* Test hook: when true, a ring passing half full does not wake the writer early, so a test with a
 * long flush interval knows exactly when the writer drains (flush and close only). */
extern bool sp_trace_no_early_wake;

#endif
