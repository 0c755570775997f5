/* Helpers for the damaged-trace tests: record a serving-like native trace with many small blocks, walk
 * its block frames (docs/native-format.md), and work out independently of the importer what must
 * survive when some blocks are lost: the records of the kept blocks, less those whose name id no kept
 * block before them defined (undecodable), and the requests and batches that kept records name but
 * whose own record is in no kept block (orphans). */
#ifndef SERVPROF_RESYNC_TESTUTIL_H
#define SERVPROF_RESYNC_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "servprof/trace.h"
#include "format/native_format.h"

#define RT_MAX_BLOCKS 4096

/* The trace the tests record: `batches` batches of 8 requests. Each step records the preprocess and
 * queue stages of the next batch's requests before the current batch, its kernel, copies and launch,
 * and its requests' postprocess stages and request records, so a request's records straddle flushes.
 * The writer is flushed every `flush_every` batches (one or more small blocks each). Kernels are named
 * "gemm" until batch `late_from`, then "late_kernel", a name interned (and so defined) only then.
 * Returns 0, or -1 when recording failed or dropped anything. */
static inline int rt_record(const char *path, uint64_t batches, uint64_t flush_every, uint64_t late_from)
{
    sp_recorder *rec;
    if (sp_recorder_open(path, NULL, &rec) != SP_OK)
        return -1;
    sp_name_id gemm = sp_recorder_intern(rec, "gemm"), late = 0;
    sp_name_id launch = sp_recorder_intern(rec, "cudaLaunchKernel");
    const uint64_t step = 400000; /* ns between batches */
    for (uint64_t b = 0; b < batches; b++) {
        uint64_t t0 = 1000000 + b * step;
        if (b == 0)
            for (uint64_t i = 0; i < 8; i++) { /* batch 0's own early stages */
                uint64_t arr = t0 + i * 1000;
                sp_record_stage(rec, i, SP_STAGE_PREPROCESS, arr, arr + 20000);
                sp_record_stage(rec, i, SP_STAGE_QUEUE, arr + 20000, t0 + 100000);
            }
        if (b + 1 < batches)
            for (uint64_t i = 0; i < 8; i++) {
                uint64_t id = (b + 1) * 8 + i, arr = t0 + step + i * 1000;
                sp_record_stage(rec, id, SP_STAGE_PREPROCESS, arr, arr + 20000);
                sp_record_stage(rec, id, SP_STAGE_QUEUE, arr + 20000, t0 + step + 100000);
            }
        if (b == late_from)
            late = sp_recorder_intern(rec, "late_kernel");
        uint64_t m[8];
        for (uint64_t i = 0; i < 8; i++)
            m[i] = b * 8 + i;
        uint64_t bs = t0 + 100000, be = bs + 200000;
        sp_record_batch(rec, b, m, 8, bs, be, 8 * 24 - b % 7, 8 * 24);
        sp_copy_record h2d = {b, SP_COPY_H2D, 0, 0, 0, 4096, bs, bs + 10000};
        sp_record_copy(rec, &h2d);
        sp_kernel_record k = {b, b >= late_from ? late : gemm, 0, 0, b + 1, bs + 20000, be - 20000};
        sp_record_kernel(rec, &k);
        sp_record_launch(rec, launch, b + 1, bs + 12000, bs + 15000);
        sp_copy_record d2h = {b, SP_COPY_D2H, 0, 0, 0, 2048, be - 15000, be - 5000};
        sp_record_copy(rec, &d2h);
        for (uint64_t i = 0; i < 8; i++) {
            uint64_t id = b * 8 + i, arr = t0 + i * 1000;
            sp_record_stage(rec, id, SP_STAGE_POSTPROCESS, be, be + 30000);
            sp_record_request(rec, id, arr, be + 30000, 24 - (int64_t)(i % 3));
        }
        if ((b + 1) % flush_every == 0 && sp_recorder_flush(rec) != SP_OK)
            return -1;
    }
    uint64_t drops[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(rec, drops);
    if (sp_recorder_close(rec) != SP_OK)
        return -1;
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        if (drops[c])
            return -1;
    return 0;
}

/* Reads a whole file; NULL on failure. */
static inline unsigned char *rt_read(const char *path, size_t *n)
{
    struct stat sb;
    FILE *fp = fopen(path, "rb");
    if (!fp || stat(path, &sb) != 0) {
        if (fp)
            fclose(fp);
        return NULL;
    }
    *n = (size_t)sb.st_size;
    unsigned char *f = malloc(*n ? *n : 1);
    if (f && fread(f, 1, *n, fp) != *n) {
        free(f);
        f = NULL;
    }
    fclose(fp);
    return f;
}

static inline int rt_write(const char *path, const unsigned char *f, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t w = fwrite(f, 1, n, fp);
    return fclose(fp) == 0 && w == n ? 0 : -1;
}

typedef struct rt_block {
    size_t start, end; /* file offsets of the frame */
} rt_block;

/* The frames of an intact trace, by their sizes. Returns how many. */
static inline size_t rt_walk(const unsigned char *f, size_t n, rt_block *out, size_t max)
{
    size_t pos = SP_NATIVE_FILE_HEADER, k = 0;
    while (pos + SP_NATIVE_BLOCK_HEADER <= n && k < max) {
        out[k].start = pos;
        out[k].end = pos + SP_NATIVE_BLOCK_HEADER + sp_rd32(f + pos + 4);
        pos = out[k++].end;
    }
    return k;
}

/* The first block holding a record of `type` (with aux `aux`, unless aux is UINT32_MAX); nb if none. */
static inline size_t rt_find(const unsigned char *f, const rt_block *b, size_t nb, uint32_t type, uint32_t aux)
{
    for (size_t k = 0; k < nb; k++)
        for (size_t p = b[k].start + SP_NATIVE_BLOCK_HEADER; p < b[k].end;) {
            uint64_t h = sp_rd64(f + p);
            if ((h & 0xffff) == type && (aux == UINT32_MAX || (uint32_t)(h >> 32) == aux))
                return k;
            p += (h >> 16) & 0xffff;
        }
    return nb;
}

/* A growable set of u64 (sorted and deduplicated by rt_set_seal). */
typedef struct rt_set {
    uint64_t *v;
    size_t n, cap;
} rt_set;

static inline void rt_set_add(rt_set *s, uint64_t x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            exit(1);
    }
    s->v[s->n++] = x;
}

static inline int rt_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static inline void rt_set_seal(rt_set *s)
{
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof *s->v, rt_u64_cmp);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] != s->v[k - 1])
            s->v[k++] = s->v[i];
    s->n = k;
}

/* Members of `a` not in `b` (both sealed). */
static inline uint64_t rt_set_minus(const rt_set *a, const rt_set *b)
{
    uint64_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        n += !(b->n && bsearch(&a->v[i], b->v, b->n, sizeof *b->v, rt_u64_cmp));
    return n;
}

/* What must load when only the blocks with keep[k] set are read. */
typedef struct rt_expect {
    uint64_t requests, spans, batches, kernels, copies, launches;
    uint64_t undecodable, orphaned;
    int end;                 /* an end record is in a kept block */
} rt_expect;

static inline rt_expect rt_expected(const unsigned char *f, const rt_block *b, size_t nb, const int *keep)
{
    rt_expect e;
    memset(&e, 0, sizeof e);
    static unsigned char defined[1u << 12];
    memset(defined, 0, sizeof defined);
    defined[1] = defined[2] = defined[3] = 1;
    rt_set req_rec = {0}, req_ref = {0}, bat_rec = {0}, bat_ref = {0};
    for (size_t k = 0; k < nb; k++) {
        if (!keep[k])
            continue;
        for (size_t p = b[k].start + SP_NATIVE_BLOCK_HEADER; p < b[k].end;) {
            uint64_t h = sp_rd64(f + p);
            uint32_t type = (uint32_t)(h & 0xffff), aux = (uint32_t)(h >> 32);
            const unsigned char *w = f + p + 8;
            bool named = aux == 0 || (aux < sizeof defined && defined[aux]);
            switch (type) {
            case SP_REC_NAME: if (aux < sizeof defined) defined[aux] = 1; break;
            case SP_REC_REQUEST: e.requests++; rt_set_add(&req_rec, sp_rd64(w)); break;
            case SP_REC_STAGE:
                if (!named) { e.undecodable++; break; }
                e.spans++;
                rt_set_add(&req_ref, sp_rd64(w));
                break;
            case SP_REC_BATCH:
                e.batches++;
                rt_set_add(&bat_rec, sp_rd64(w));
                for (uint32_t i = 0; i < aux; i++)
                    rt_set_add(&req_ref, sp_rd64(w + 40 + 8 * (size_t)i));
                break;
            case SP_REC_KERNEL:
                if (!named) { e.undecodable++; break; }
                e.kernels++;
                if (sp_rd64(w) != SP_NO_BATCH)
                    rt_set_add(&bat_ref, sp_rd64(w));
                break;
            case SP_REC_COPY:
                e.copies++;
                if (sp_rd64(w) != SP_NO_BATCH)
                    rt_set_add(&bat_ref, sp_rd64(w));
                break;
            case SP_REC_LAUNCH:
                if (!named) { e.undecodable++; break; }
                e.launches++;
                break;
            case SP_REC_END: e.end = 1; break;
            default: break;
            }
            p += (h >> 16) & 0xffff;
        }
    }
    rt_set_seal(&req_rec);
    rt_set_seal(&req_ref);
    rt_set_seal(&bat_rec);
    rt_set_seal(&bat_ref);
    e.orphaned = rt_set_minus(&req_ref, &req_rec) + rt_set_minus(&bat_ref, &bat_rec);
    free(req_rec.v);
    free(req_ref.v);
    free(bat_rec.v);
    free(bat_ref.v);
    return e;
}

#endif
