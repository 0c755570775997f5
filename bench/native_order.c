/* How late a native trace's records arrive after the record that closes what they belong to
 * (docs/BENCHMARKS.md, "How late a real recorder's records arrive"): the question the streaming route's
 * reader hinges on. Reads one native trace through the format module (src/format: file header, block
 * framing and checksums, record layouts), never through the importer, and prints per kind of record
 * how far it lies after its closing record, in blocks, bytes and trace time, and the most requests a
 * reader that reduces each request once all its records are in would hold open at a block boundary.
 *   native_order PATH [BLOCK_CYCLES]
 *       PATH: an uncompressed .sptrace; bad blocks are skipped as the reading rule of
 *       docs/native-format.md says, a cut tail ends the walk. BLOCK_CYCLES: the writer cycle of each
 *       good block, one number a line (from an strace of the recording process: docs/BENCHMARKS.md);
 *       with it, each kind also says how many of its records came in a later cycle than their closer.
 * Three passes over the mapped file: the blocks and where each request, batch and correlation closes;
 * the entities' completion; the distances and the held bytes. Not a test: a measurement. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/format_int.h"
#include "common/hmap.h"
#include "common/util_int.h"
#include "format/native_format.h"

#define NONE64 UINT64_MAX
#define NONE32 UINT32_MAX

/* ---- the project's growable array and u64 -> u32 map (src/common), ending the run when memory runs out ---- */

static void oom(void)
{
    fprintf(stderr, "native_order: out of memory\n");
    exit(1);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (sp_grow(&p, cap, need, elem, SIZE_MAX) != SP_OK)
        oom();
    return p;
}

/* The index of `key`, or NONE32; with `add`, a new index `next` is stored for an unseen key. */
static uint32_t map_find(sp_hmap *m, uint64_t key, bool add, uint32_t next)
{
    uint32_t v = sp_hmap_find(m, key, NULL, NULL); /* SP_HMAP_NONE is NONE32 */
    if (v != SP_HMAP_NONE || !add)
        return v;
    if (sp_hmap_put(m, key, next) != SP_OK)
        oom();
    return next;
}

/* ---- what the file holds ---- */

/* A place in the file: the record's byte offset and the ordinal of the good block it is in. */
typedef struct pos {
    uint64_t off;
    uint32_t blk;
} pos;

static const pos POS_NONE = {NONE64, NONE32};

static void pos_max(pos *a, pos b)
{
    if (b.off != NONE64 && (a->off == NONE64 || b.off > a->off))
        *a = b;
}

typedef struct req {
    pos close;        /* its `request` record (the first one) */
    uint64_t close_t; /* that record's done time */
    uint32_t first_blk; /* the first block any record names it in (its batches' member lists too) */
    pos own_last;     /* its own latest record: request, stage, token, label, outcome, trace context */
    pos done;         /* the place after which every record it needs is in: own_last and its batches' */
} req;

typedef struct batch {
    pos rec;           /* its batch or step record (the first one) */
    uint64_t end_t;
    uint32_t mem0, nmem; /* members (request indexes) in the member array */
    pos act;           /* its latest activity (kernels, copies, the launches of them) */
    pos last_member;   /* the latest `request` record among its members */
    uint64_t last_member_t;
    uint32_t open_members; /* members without a request record */
    pos done;
} batch;

typedef struct corr {
    pos act;          /* the first kernel or copy with this correlation */
    uint64_t act_t;   /* its end */
    uint32_t batch;   /* its batch (index), or NONE32 */
    pos launch;       /* the latest launch with this correlation */
} corr;

/* Kinds of record, each measured against the record that closes what it belongs to. */
enum {
    K_STAGE, K_TOKEN, K_LABEL, K_OUTCOME, K_TRACE, K_BATCH_MEMBER, K_STEP_MEMBER, K_ACT_BATCH,
    K_ACT_LASTEND, K_LAUNCH, K_COUNT
};
static const char *const k_name[K_COUNT] = {
    "stage after its request record", "token after its request record", "label after its request record",
    "outcome after its request record", "trace context after its request record",
    "batch record after a member's request record", "step record after a member's request record",
    "activity after its batch record", "activity after its batch's last member request record",
    "launch after its kernel/copy (correlation)"};
static const bool k_timed[K_COUNT] = {true, true, false, false, false, true, true, true, true, true};

typedef struct sample {
    int64_t blk, off, t, clk, cyc;
} sample;

typedef struct kstat {
    uint64_t n, after, no_closer, later_cycle;
    int64_t most_before; /* bytes: the earliest a record came before its closer */
    sample *late;
    size_t nlate, cap;
} kstat;

typedef struct lost {
    uint64_t regions, bytes, first_off;
} lost;

typedef struct trace {
    const unsigned char *map;
    size_t size;
    uint32_t header;
    /* good blocks */
    uint64_t *blk_off;   /* payload offset of each */
    uint32_t *blk_len;
    uint64_t *blk_maxt;  /* latest time any record in it gives */
    size_t nblk, blk_cap;
    lost lost;
    uint64_t malformed, records, bytes_by_type[17];
    /* entities */
    sp_hmap req_map, batch_map, corr_map;
    req *reqs;
    size_t nreq, req_cap;
    batch *batches;
    size_t nbatch, batch_cap;
    uint32_t *members;
    size_t nmembers, members_cap;
    corr *corrs;
    size_t ncorr, corr_cap;
    uint64_t dup_requests, dup_batches;
    uint64_t tmin;          /* the earliest end time any record gives (for the trace's span) */
    uint64_t *clock_before; /* per block: the latest time any earlier block gives */
    kstat k[K_COUNT];
    int64_t *blk_cycle; /* per good block: the writer cycle that wrote it (native_order's 2nd argument) */
} trace;

/* ---- the block walk (docs/native-format.md, "Reading rule") ---- */

static bool block_good_at(const trace *tr, uint64_t off, uint32_t *len)
{
    if (tr->size - off < SP_NATIVE_BLOCK_HEADER)
        return false;
    const unsigned char *h = tr->map + off;
    if (!sp_native_block_header_ok(h, len) || tr->size - off - SP_NATIVE_BLOCK_HEADER < *len)
        return false;
    return sp_native_block_crc_ok(h, h + SP_NATIVE_BLOCK_HEADER, *len);
}

/* The next good block's offset at or after `from`, or the file's size: candidates are where the magic
 * occurs, and the payload bytes checked are bounded as the importer bounds them (32 MiB plus 4 per byte
 * passed), so a file of plausible headers costs linear work. */
static uint64_t resync(const trace *tr, uint64_t from)
{
    const unsigned char magic[4] = {'S', 'P', 'B', 'K'};
    uint64_t budget = 32u << 20;
    uint64_t at = from;
    while (at + 4 <= tr->size) {
        const unsigned char *m = memmem(tr->map + at, tr->size - at, magic, 4);
        if (!m)
            break;
        uint64_t c = (uint64_t)(m - tr->map);
        budget += 4 * (c - at);
        uint32_t len;
        if (tr->size - c >= SP_NATIVE_BLOCK_HEADER && sp_native_block_header_ok(m, &len) &&
            tr->size - c - SP_NATIVE_BLOCK_HEADER >= len && len <= budget) {
            budget -= len;
            if (sp_native_block_crc_ok(m, m + SP_NATIVE_BLOCK_HEADER, len))
                return c;
        }
        at = c + 1;
    }
    return tr->size;
}

/* Calls `fn` on each good block's payload, in order, numbering them from 0. */
typedef void (*block_fn)(trace *tr, uint32_t blk, uint64_t payload_off, uint32_t len);

static void walk_blocks(trace *tr, block_fn fn, bool first_pass)
{
    uint64_t off = tr->header;
    uint32_t nb = 0;
    while (off < tr->size) {
        uint32_t len;
        if (!block_good_at(tr, off, &len)) {
            uint64_t next = resync(tr, off + 1);
            if (first_pass) {
                if (!tr->lost.regions)
                    tr->lost.first_off = off;
                tr->lost.regions++;
                tr->lost.bytes += next - off;
            }
            off = next;
            continue;
        }
        fn(tr, nb++, off + SP_NATIVE_BLOCK_HEADER, len);
        off += SP_NATIVE_BLOCK_HEADER + len;
    }
}

/* Whether a record of a known type has its format's size (others are skipped as malformed). */
static bool size_ok(uint32_t type, uint32_t size, uint32_t aux)
{
    switch (type) {
    case SP_REC_REQUEST: return size == SP_REC_SIZE_REQUEST;
    case SP_REC_STAGE: return size == SP_REC_SIZE_STAGE;
    case SP_REC_BATCH: return aux <= SP_NATIVE_MAX_MEMBERS && size == SP_REC_SIZE_BATCH_BASE + 8 * aux;
    case SP_REC_KERNEL: return size == SP_REC_SIZE_KERNEL;
    case SP_REC_COPY: return size == SP_REC_SIZE_COPY;
    case SP_REC_LAUNCH: return size == SP_REC_SIZE_LAUNCH;
    case SP_REC_STEP:
        return aux <= SP_NATIVE_MAX_STEP_MEMBERS && size == SP_REC_SIZE_STEP_BASE + SP_REC_SIZE_STEP_MEMBER * aux;
    case SP_REC_TOKEN: return size == SP_REC_SIZE_TOKEN;
    case SP_REC_LABEL: return size >= 16 && aux <= SP_NATIVE_MAX_LABEL && 16 + ((aux + 7) & ~7u) == size;
    case SP_REC_OUTCOME: return size == SP_REC_SIZE_OUTCOME;
    case SP_REC_TRACE: return size == SP_REC_SIZE_TRACE;
    default: return true;
    }
}

/* Calls `fn` on each whole, well-sized record of a block; a bad size ends the block. */
typedef void (*record_fn)(trace *tr, const unsigned char *p, uint32_t type, uint32_t size, uint32_t aux,
                          pos at);

static void walk_records(trace *tr, uint32_t blk, uint64_t payload_off, uint32_t len, record_fn fn,
                         bool count)
{
    const unsigned char *q = tr->map + payload_off, *end = q + len;
    while (end - q >= 8) {
        uint64_t hdr = sp_rd64(q);
        uint32_t type = sp_rec_type(hdr), size = sp_rec_size(hdr), aux = sp_rec_aux(hdr);
        if (size < 8 || (size & 7) || size > (size_t)(end - q)) {
            if (count)
                tr->malformed++;
            return;
        }
        if (!size_ok(type, size, aux)) {
            if (count)
                tr->malformed++;
        } else {
            if (count) {
                tr->records++;
                if (type < 17)
                    tr->bytes_by_type[type] += size;
            }
            fn(tr, q, type, size, aux, (pos){(uint64_t)(q - tr->map), blk});
        }
        q += size;
    }
}

/* ---- pass 1: blocks, entities and where they close ---- */

static uint32_t req_of(trace *tr, uint64_t id, uint32_t blk)
{
    uint32_t i = map_find(&tr->req_map, id, true, (uint32_t)tr->nreq);
    if (i == tr->nreq) {
        tr->reqs = grow(tr->reqs, &tr->req_cap, tr->nreq + 1, sizeof *tr->reqs);
        tr->reqs[tr->nreq++] = (req){POS_NONE, 0, blk, POS_NONE, POS_NONE};
    }
    return i;
}

static uint32_t batch_of(trace *tr, uint64_t id)
{
    uint32_t i = map_find(&tr->batch_map, id, true, (uint32_t)tr->nbatch);
    if (i == tr->nbatch) {
        tr->batches = grow(tr->batches, &tr->batch_cap, tr->nbatch + 1, sizeof *tr->batches);
        tr->batches[tr->nbatch++] = (batch){POS_NONE, 0, 0, 0, POS_NONE, POS_NONE, 0, 0, POS_NONE};
    }
    return i;
}

static uint32_t corr_of(trace *tr, uint64_t id)
{
    uint32_t i = map_find(&tr->corr_map, id, true, (uint32_t)tr->ncorr);
    if (i == tr->ncorr) {
        tr->corrs = grow(tr->corrs, &tr->corr_cap, tr->ncorr + 1, sizeof *tr->corrs);
        tr->corrs[tr->ncorr++] = (corr){POS_NONE, 0, NONE32, POS_NONE};
    }
    return i;
}

static void note_time(trace *tr, uint32_t blk, uint64_t t)
{
    if (t == NONE64)
        return;
    if (t > tr->blk_maxt[blk])
        tr->blk_maxt[blk] = t;
    if (t && t < tr->tmin)
        tr->tmin = t;
}

/* Whether a record of this type belongs to the request its first word names (its own records). */
static bool own_request_record(uint32_t type)
{
    return type == SP_REC_REQUEST || type == SP_REC_STAGE || type == SP_REC_TOKEN || type == SP_REC_LABEL ||
           type == SP_REC_OUTCOME || type == SP_REC_TRACE;
}

static void pass1_record(trace *tr, const unsigned char *p, uint32_t type, uint32_t size, uint32_t aux, pos at)
{
    (void)size;
    if (own_request_record(type)) {
        uint32_t r = req_of(tr, sp_rd64(p + 8), at.blk);
        pos_max(&tr->reqs[r].own_last, at);
        if (type == SP_REC_REQUEST) {
            if (tr->reqs[r].close.off == NONE64) {
                tr->reqs[r].close = at;
                tr->reqs[r].close_t = sp_rd64(p + 24);
            } else {
                tr->dup_requests++;
            }
            note_time(tr, at.blk, sp_rd64(p + 24));
        } else if (type == SP_REC_STAGE) {
            note_time(tr, at.blk, sp_rd64(p + 24));
        } else if (type == SP_REC_TOKEN) {
            note_time(tr, at.blk, sp_rd64(p + 24));
        }
        return;
    }
    switch (type) {
    case SP_REC_BATCH:
    case SP_REC_STEP: {
        uint32_t b = batch_of(tr, sp_rd64(p + 8));
        note_time(tr, at.blk, sp_rd64(p + 24));
        if (tr->batches[b].rec.off != NONE64) {
            tr->dup_batches++;
            return;
        }
        tr->batches[b].rec = at;
        tr->batches[b].end_t = sp_rd64(p + 24);
        size_t base = type == SP_REC_BATCH ? SP_REC_SIZE_BATCH_BASE : SP_REC_SIZE_STEP_BASE;
        size_t stride = type == SP_REC_BATCH ? 8 : SP_REC_SIZE_STEP_MEMBER;
        tr->members = grow(tr->members, &tr->members_cap, tr->nmembers + aux, sizeof *tr->members);
        tr->batches[b].mem0 = (uint32_t)tr->nmembers;
        tr->batches[b].nmem = aux;
        for (uint32_t i = 0; i < aux; i++)
            tr->members[tr->nmembers++] = req_of(tr, sp_rd64(p + base + stride * i), at.blk);
        return;
    }
    case SP_REC_KERNEL:
    case SP_REC_COPY: {
        uint64_t bid = sp_rd64(p + 8), cid = sp_rd64(p + 24);
        uint64_t end_t = sp_rd64(p + (type == SP_REC_KERNEL ? 40 : 48));
        note_time(tr, at.blk, end_t);
        uint32_t b = bid == NONE64 ? NONE32 : batch_of(tr, bid);
        if (b != NONE32)
            pos_max(&tr->batches[b].act, at);
        if (cid) {
            uint32_t c = corr_of(tr, cid);
            if (tr->corrs[c].act.off == NONE64) {
                tr->corrs[c].act = at;
                tr->corrs[c].act_t = end_t;
                tr->corrs[c].batch = b;
            }
        }
        return;
    }
    case SP_REC_LAUNCH: {
        uint64_t cid = sp_rd64(p + 8);
        note_time(tr, at.blk, sp_rd64(p + 24));
        if (cid) {
            uint32_t c = corr_of(tr, cid); /* may move tr->corrs: not in the same expression */
            pos_max(&tr->corrs[c].launch, at);
        }
        return;
    }
    default:
        return;
    }
}

static void pass1_block(trace *tr, uint32_t blk, uint64_t payload_off, uint32_t len)
{
    size_t before = tr->blk_cap;
    tr->blk_off = grow(tr->blk_off, &tr->blk_cap, (size_t)blk + 1, sizeof *tr->blk_off);
    if (tr->blk_cap != before) { /* the two arrays beside it, to the same capacity */
        tr->blk_len = realloc(tr->blk_len, tr->blk_cap * sizeof *tr->blk_len);
        tr->blk_maxt = realloc(tr->blk_maxt, tr->blk_cap * sizeof *tr->blk_maxt);
        if (!tr->blk_len || !tr->blk_maxt)
            oom();
    }
    tr->blk_off[blk] = payload_off;
    tr->blk_len[blk] = len;
    tr->blk_maxt[blk] = 0;
    tr->nblk = (size_t)blk + 1;
    walk_records(tr, blk, payload_off, len, pass1_record, true);
}

/* ---- completion: when every record a request or batch needs is in ----
 * A request needs its own records and, for each batch it belongs to, the batch record and the batch's
 * activity (and those kernels' launches); a batch is released once every member is. A request with no
 * `request` record, or in a batch with none, is never complete: it is held to the end. */
static void complete(trace *tr)
{
    const pos never = {NONE64 - 1, (uint32_t)tr->nblk};
    for (size_t i = 0; i < tr->ncorr; i++) {
        corr *c = &tr->corrs[i];
        if (c->batch != NONE32)
            pos_max(&tr->batches[c->batch].act, c->launch);
    }
    for (size_t i = 0; i < tr->nreq; i++) {
        req *r = &tr->reqs[i];
        r->done = r->close.off == NONE64 ? never : r->own_last;
    }
    for (size_t i = 0; i < tr->nbatch; i++) {
        batch *b = &tr->batches[i];
        pos bl = b->rec;
        if (bl.off == NONE64)
            bl = never;
        pos_max(&bl, b->act);
        for (uint32_t m = 0; m < b->nmem; m++) {
            req *r = &tr->reqs[tr->members[b->mem0 + m]];
            pos_max(&r->done, bl);
            if (r->close.off == NONE64) {
                b->open_members++;
            } else if (b->last_member.off == NONE64 || r->close.off > b->last_member.off) {
                b->last_member = r->close;
                b->last_member_t = r->close_t;
            }
        }
        b->done = bl;
    }
    for (size_t i = 0; i < tr->nbatch; i++) {
        batch *b = &tr->batches[i];
        for (uint32_t m = 0; m < b->nmem; m++)
            pos_max(&b->done, tr->reqs[tr->members[b->mem0 + m]].done);
    }
    tr->clock_before = malloc((tr->nblk + 1) * sizeof *tr->clock_before);
    if (!tr->clock_before)
        oom();
    uint64_t c = 0;
    for (size_t k = 0; k < tr->nblk; k++) {
        tr->clock_before[k] = c;
        if (tr->blk_maxt[k] > c)
            c = tr->blk_maxt[k];
    }
    tr->clock_before[tr->nblk] = c;
}

/* ---- pass 2: distances, and what a reducing reader holds ---- */

typedef struct sweep {
    int64_t *held;  /* per block: bytes taken in minus bytes released (a difference array) */
    int64_t *open;  /* per block: requests opened minus requests completed */
    int64_t *waiting; /* per block: requests closed (request record read) minus those completed */
    uint64_t owned_bytes, unowned_bytes;
} sweep;

static sweep g_sw;

static void hold(trace *tr, pos at, uint32_t size, pos done)
{
    g_sw.held[at.blk] += size;
    if (done.blk < tr->nblk)
        g_sw.held[done.blk] -= size;
    g_sw.owned_bytes += size;
}

/* How far the file's clock (the latest time any earlier block gives) had passed `t` when block `blk`
 * began: the trace time a reader keyed on that clock must wait; 0 when it had not passed it. */
static int64_t clock_lag(const trace *tr, uint32_t blk, uint64_t t)
{
    return tr->clock_before[blk] > t ? (int64_t)(tr->clock_before[blk] - t) : 0;
}

static void measure(trace *tr, int kind, pos at, pos closer, uint64_t t, uint64_t closer_t)
{
    kstat *ks = &tr->k[kind];
    if (closer.off == NONE64) {
        ks->no_closer++;
        return;
    }
    ks->n++;
    int64_t off = (int64_t)at.off - (int64_t)closer.off;
    if (off <= 0) {
        if (-off > ks->most_before)
            ks->most_before = -off;
        return;
    }
    ks->after++;
    ks->late = grow(ks->late, &ks->cap, ks->nlate + 1, sizeof *ks->late);
    int64_t cyc = tr->blk_cycle ? tr->blk_cycle[at.blk] - tr->blk_cycle[closer.blk] : 0;
    ks->later_cycle += cyc > 0;
    ks->late[ks->nlate++] = (sample){(int64_t)at.blk - (int64_t)closer.blk, off,
                                     k_timed[kind] ? (int64_t)(t - closer_t) : 0,
                                     clock_lag(tr, at.blk, closer_t), cyc};
}

static void pass2_record(trace *tr, const unsigned char *p, uint32_t type, uint32_t size, uint32_t aux, pos at)
{
    if (own_request_record(type)) {
        uint32_t r = map_find(&tr->req_map, sp_rd64(p + 8), false, 0);
        const req *q = &tr->reqs[r];
        hold(tr, at, size, q->done);
        int kind = type == SP_REC_STAGE ? K_STAGE : type == SP_REC_TOKEN ? K_TOKEN
                 : type == SP_REC_LABEL ? K_LABEL : type == SP_REC_OUTCOME ? K_OUTCOME
                 : type == SP_REC_TRACE ? K_TRACE : -1;
        if (kind >= 0)
            measure(tr, kind, at, q->close, sp_rd64(p + 24), q->close_t);
        return;
    }
    switch (type) {
    case SP_REC_BATCH:
    case SP_REC_STEP: {
        const batch *b = &tr->batches[map_find(&tr->batch_map, sp_rd64(p + 8), false, 0)];
        hold(tr, at, size, b->done);
        if (b->rec.off != at.off)
            return; /* a later record of the same batch */
        for (uint32_t m = 0; m < aux; m++) {
            const req *q = &tr->reqs[tr->members[b->mem0 + m]];
            measure(tr, type == SP_REC_BATCH ? K_BATCH_MEMBER : K_STEP_MEMBER, at, q->close, b->end_t, q->close_t);
        }
        return;
    }
    case SP_REC_KERNEL:
    case SP_REC_COPY: {
        uint64_t bid = sp_rd64(p + 8);
        uint64_t end_t = sp_rd64(p + (type == SP_REC_KERNEL ? 40 : 48));
        if (bid == NONE64) {
            g_sw.unowned_bytes += size;
            return;
        }
        const batch *b = &tr->batches[map_find(&tr->batch_map, bid, false, 0)];
        hold(tr, at, size, b->rec.off == NONE64 ? (pos){NONE64 - 1, (uint32_t)tr->nblk} : b->done);
        measure(tr, K_ACT_BATCH, at, b->rec, end_t, b->end_t);
        if (b->rec.off != NONE64 && b->nmem && !b->open_members)
            measure(tr, K_ACT_LASTEND, at, b->last_member, end_t, b->last_member_t);
        else
            tr->k[K_ACT_LASTEND].no_closer++;
        return;
    }
    case SP_REC_LAUNCH: {
        uint64_t cid = sp_rd64(p + 8);
        uint32_t c = cid ? map_find(&tr->corr_map, cid, false, 0) : NONE32;
        const corr *cr = c == NONE32 ? NULL : &tr->corrs[c];
        if (!cr || cr->act.off == NONE64) {
            tr->k[K_LAUNCH].no_closer++;
            g_sw.unowned_bytes += size;
            return;
        }
        measure(tr, K_LAUNCH, at, cr->act, sp_rd64(p + 24), cr->act_t);
        if (cr->batch == NONE32) {
            g_sw.unowned_bytes += size;
            return;
        }
        const batch *b = &tr->batches[cr->batch];
        hold(tr, at, size, b->rec.off == NONE64 ? (pos){NONE64 - 1, (uint32_t)tr->nblk} : b->done);
        return;
    }
    default:
        return;
    }
}

static void pass2_block(trace *tr, uint32_t blk, uint64_t payload_off, uint32_t len)
{
    walk_records(tr, blk, payload_off, len, pass2_record, false);
}

/* ---- printing ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* p50, p99 and the max of n values (nearest rank), sorted in place. */
static void quantiles(int64_t *v, size_t n, int64_t out[3])
{
    qsort(v, n, sizeof *v, cmp_i64);
    size_t i50 = (n * 50 + 99) / 100, i99 = (n * 99 + 99) / 100;
    out[0] = v[i50 ? i50 - 1 : 0];
    out[1] = v[i99 ? i99 - 1 : 0];
    out[2] = v[n - 1];
}

static void fmt_bytes(char *buf, size_t len, int64_t b)
{
    double a = (double)b;
    if (b >= (int64_t)1 << 20)
        snprintf(buf, len, "%.1f MiB", a / 1048576.0);
    else if (b >= 1024)
        snprintf(buf, len, "%.1f KiB", a / 1024.0);
    else
        snprintf(buf, len, "%" PRId64 " B", b);
}

/* "p50 / p99 / max" of one field of the samples. */
static void triple(const sample *s, size_t n, size_t field, int unit, char *out, size_t outlen)
{
    if (!n) {
        snprintf(out, outlen, "-");
        return;
    }
    int64_t *v = malloc(n * sizeof *v);
    if (!v)
        oom();
    for (size_t i = 0; i < n; i++)
        v[i] = field == 0 ? s[i].blk : field == 1 ? s[i].off : field == 2 ? s[i].t : field == 3 ? s[i].clk : s[i].cyc;
    int64_t q[3];
    quantiles(v, n, q);
    free(v);
    char a[3][32];
    for (int i = 0; i < 3; i++) {
        if (unit == 0)
            snprintf(a[i], sizeof a[i], "%" PRId64, q[i]);
        else if (unit == 1)
            fmt_bytes(a[i], sizeof a[i], q[i]);
        else
            sp_fmt_dur(a[i], sizeof a[i], (double)q[i]);
    }
    snprintf(out, outlen, "%s / %s / %s", a[0], a[1], a[2]);
}

static void print_report(trace *tr, const char *path)
{
    uint64_t payload = 0, maxlen = 0;
    for (size_t k = 0; k < tr->nblk; k++) {
        payload += tr->blk_len[k];
        if (tr->blk_len[k] > maxlen)
            maxlen = tr->blk_len[k];
    }
    uint64_t span = tr->tmin != NONE64 && tr->tmin < tr->clock_before[tr->nblk] ? tr->clock_before[tr->nblk] - tr->tmin : 0;
    printf("## %s\n\n", path);
    printf("%zu bytes, %zu good blocks (payload mean %.1f KiB, max %.1f KiB), %" PRIu64 " records",
           tr->size, tr->nblk, tr->nblk ? (double)payload / (double)tr->nblk / 1024.0 : 0.0,
           (double)maxlen / 1024.0, tr->records);
    if (tr->malformed)
        printf(", %" PRIu64 " malformed skipped", tr->malformed);
    if (tr->lost.regions)
        printf(", %" PRIu64 " lost regions (%" PRIu64 " bytes from byte %" PRIu64 ")", tr->lost.regions,
               tr->lost.bytes, tr->lost.first_off);
    char sbuf[32];
    sp_fmt_dur(sbuf, sizeof sbuf, (double)span);
    printf("; trace time about %s\n", sbuf);
    uint64_t closed = 0;
    for (size_t i = 0; i < tr->nreq; i++)
        closed += tr->reqs[i].close.off != NONE64;
    uint64_t batch_recs = 0;
    for (size_t i = 0; i < tr->nbatch; i++)
        batch_recs += tr->batches[i].rec.off != NONE64;
    printf("%zu requests (%" PRIu64 " with a request record), %zu batches/steps (%" PRIu64
           " with their record), %zu correlations; %" PRIu64 " repeated request records, %" PRIu64
           " repeated batch records\n\n",
           tr->nreq, closed, tr->nbatch, batch_recs, tr->ncorr, tr->dup_requests, tr->dup_batches);

    printf("| record, relative to its closer | count | after | no closer | blocks p50 / p99 / max | bytes p50 / p99 / max "
           "| own time - closer's, p50 / p99 / max | file clock past closer's, p50 / p99 / max | most before |%s\n",
           tr->blk_cycle ? " in a later writer cycle | cycles p50 / p99 / max |" : "");
    printf("|---|---|---|---|---|---|---|---|---|%s\n", tr->blk_cycle ? "---|---|" : "");
    for (int k = 0; k < K_COUNT; k++) {
        kstat *ks = &tr->k[k];
        if (!ks->n && !ks->no_closer)
            continue;
        char b[128], o[128], t[128], c[128], mb[32];
        triple(ks->late, ks->nlate, 0, 0, b, sizeof b);
        triple(ks->late, ks->nlate, 1, 1, o, sizeof o);
        if (k_timed[k])
            triple(ks->late, ks->nlate, 2, 2, t, sizeof t);
        else
            snprintf(t, sizeof t, "n/a");
        triple(ks->late, ks->nlate, 3, 2, c, sizeof c);
        fmt_bytes(mb, sizeof mb, ks->most_before);
        printf("| %s | %" PRIu64 " | %.2f%% | %" PRIu64 " | %s | %s | %s | %s | %s |", k_name[k], ks->n,
               ks->n ? 100.0 * (double)ks->after / (double)ks->n : 0.0, ks->no_closer, b, o, t, c, mb);
        if (tr->blk_cycle) {
            triple(ks->late, ks->nlate, 4, 0, c, sizeof c);
            printf(" %.2f%% | %s |", ks->n ? 100.0 * (double)ks->later_cycle / (double)ks->n : 0.0, c);
        }
        printf("\n");
    }

    /* how long after its request record a request's last needed record comes: all closed requests */
    size_t n = 0;
    sample *s = malloc((tr->nreq ? tr->nreq : 1) * sizeof *s);
    if (!s)
        oom();
    for (size_t i = 0; i < tr->nreq; i++) {
        const req *r = &tr->reqs[i];
        if (r->close.off == NONE64 || r->done.blk >= tr->nblk)
            continue;
        s[n++] = (sample){(int64_t)r->done.blk - (int64_t)r->close.blk, (int64_t)(r->done.off - r->close.off), 0,
                          r->done.off > r->close.off ? clock_lag(tr, r->done.blk, r->close_t) : 0,
                          tr->blk_cycle ? tr->blk_cycle[r->done.blk] - tr->blk_cycle[r->close.blk] : 0};
    }
    char b[128], o[128], c[128];
    triple(s, n, 0, 0, b, sizeof b);
    triple(s, n, 1, 1, o, sizeof o);
    triple(s, n, 3, 2, c, sizeof c);
    uint64_t late = 0, later_cycle = 0;
    for (size_t i = 0; i < n; i++) {
        late += s[i].off > 0;
        later_cycle += s[i].cyc > 0;
    }
    printf("| a request's last needed record (own, its batches', their activity) after its request record "
           "| %zu | %.2f%% | %zu | %s | %s | n/a | %s | - |",
           n, n ? 100.0 * (double)late / (double)n : 0.0, tr->nreq - n, b, o, c);
    if (tr->blk_cycle) {
        triple(s, n, 4, 0, c, sizeof c);
        printf(" %.2f%% | %s |", n ? 100.0 * (double)later_cycle / (double)n : 0.0, c);
    }
    printf("\n\n");
    free(s);

    /* the held memory of a reader that reduces each request and batch once complete */
    int64_t held = 0, open = 0, peak_held = 0, peak_open = 0, waiting = 0, peak_waiting = 0;
    size_t at_held = 0, at_open = 0;
    for (size_t k = 0; k < tr->nblk; k++) {
        held += g_sw.held[k];
        open += g_sw.open[k];
        waiting += g_sw.waiting[k];
        if (waiting > peak_waiting)
            peak_waiting = waiting;
        if (held > peak_held) {
            peak_held = held;
            at_held = k;
        }
        if (open > peak_open) {
            peak_open = open;
            at_open = k;
        }
    }
    char ph[32], ob[32], ub[32];
    fmt_bytes(ph, sizeof ph, peak_held);
    fmt_bytes(ob, sizeof ob, (int64_t)g_sw.owned_bytes);
    fmt_bytes(ub, sizeof ub, (int64_t)g_sw.unowned_bytes);
    printf("Open at a block boundary (a reader that reduces a request once every record it needs is in, "
           "and a batch once all its members are): at most %" PRId64 " requests open (after block %zu of %zu), "
           "at most %" PRId64 " of them closed and waiting for a late record; "
           "at most %s of records held (after block %zu), against %s of request/batch/activity records in the "
           "file (%.3f%%); %s of activity tied to no batch not counted.\n",
           peak_open, at_open, tr->nblk, peak_waiting, ph, at_held, ob,
           g_sw.owned_bytes ? 100.0 * (double)peak_held / (double)g_sw.owned_bytes : 0.0, ub);
    printf("At the end: %" PRId64 " requests still open (never complete), %s still held.\n\n", open,
           (fmt_bytes(ph, sizeof ph, held), ph));
}

static void trace_free(trace *tr)
{
    sp_hmap_free(&tr->req_map);
    sp_hmap_free(&tr->batch_map);
    sp_hmap_free(&tr->corr_map);
    free(tr->reqs);
    free(tr->batches);
    free(tr->members);
    free(tr->corrs);
    free(tr->blk_off);
    free(tr->blk_len);
    free(tr->blk_maxt);
    free(tr->clock_before);
    free(tr->blk_cycle);
    for (int k = 0; k < K_COUNT; k++)
        free(tr->k[k].late);
    free(g_sw.held);
    free(g_sw.open);
    free(g_sw.waiting);
    if (tr->map)
        munmap((void *)tr->map, tr->size);
}

/* The writer cycle of each good block, one integer a line in file order (how to get them from strace:
 * docs/BENCHMARKS.md). Ignored, with a warning, unless there is exactly one per good block and they
 * never decrease. */
static void read_cycles(trace *tr, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return;
    }
    int64_t *c = calloc(tr->nblk + 1, sizeof *c);
    size_t n = 0;
    long long v;
    bool ok = c != NULL;
    while (ok && fscanf(f, "%lld", &v) == 1) {
        if (n >= tr->nblk || (n && v < c[n - 1]))
            ok = false;
        else
            c[n++] = v;
    }
    fclose(f);
    if (!ok || n != tr->nblk) {
        fprintf(stderr, "native_order: %s: not one non-decreasing cycle number per good block (%zu blocks); "
                        "cycles ignored\n", path, tr->nblk);
        free(c);
        return;
    }
    tr->blk_cycle = c;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s TRACE.sptrace [BLOCK_CYCLES]\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        perror(argv[1]);
        return 1;
    }
    trace tr;
    memset(&tr, 0, sizeof tr);
    tr.size = (size_t)sb.st_size;
    tr.tmin = NONE64;
    if (tr.size) {
        void *m = mmap(NULL, tr.size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            perror(argv[1]);
            return 1;
        }
        tr.map = m;
    }
    close(fd);
    sp_native_header_fault hf = tr.size ? sp_native_file_header_check(tr.map, tr.size, &tr.header)
                                        : SP_NATIVE_HEADER_CUT;
    if (hf != SP_NATIVE_HEADER_OK || tr.header > tr.size) {
        fprintf(stderr, "native_order: %s: not an uncompressed native trace (bad file header)\n", argv[1]);
        return 1;
    }
    walk_blocks(&tr, pass1_block, true);
    if (argc == 3)
        read_cycles(&tr, argv[2]);
    complete(&tr);
    g_sw.held = calloc(tr.nblk + 1, sizeof *g_sw.held);
    g_sw.open = calloc(tr.nblk + 1, sizeof *g_sw.open);
    g_sw.waiting = calloc(tr.nblk + 1, sizeof *g_sw.waiting);
    if (!g_sw.held || !g_sw.open || !g_sw.waiting) {
        fprintf(stderr, "native_order: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < tr.nreq; i++) {
        const req *r = &tr.reqs[i];
        g_sw.open[r->first_blk]++;
        if (r->done.blk < tr.nblk)
            g_sw.open[r->done.blk]--;
        if (r->close.off != NONE64 && r->done.blk < tr.nblk) {
            g_sw.waiting[r->close.blk]++;
            g_sw.waiting[r->done.blk]--;
        }
    }
    walk_blocks(&tr, pass2_block, false);
    print_report(&tr, argv[1]);
    trace_free(&tr);
    return 0;
}
