/* Importer for libservprof's native binary trace (docs/native-format.md): reads checksummed blocks
 * from the stream and fills the event model. A block that is corrupt or cut off is skipped up to the
 * next offset where a block checks out again (or to the end of the file: a crash or kill -9 leaves
 * such a tail); what was lost is recorded per file and announced through the log callback. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* madvise flags, memmem */
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/hmap.h"
#include "common/util_int.h"
#include "import/import_int.h"
#include "import/native_ids_int.h"
#include "format/native_format.h"

#define NAT_RECENT 4096u

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

typedef struct nat_reader {
    sp_import_ctx *ctx;
    struct sp_events *ev;
    uint32_t file;            /* ctx->file: one load a record fewer */
    const unsigned char *blk; /* the block parse_block is parsing, and its payload's file offset: */
    uint64_t blk_base;        /* a record's offset (rec_off) is computed only for a message */
    unsigned char *buf;       /* one block's payload */
    size_t cap;
    sp_str *names;            /* name id -> interned string; SP_EV_NONE: not defined */
    size_t cap_names;
    sp_nids reqs;             /* the caller's u64 request id -> index into ev->requests */
    /* recent ids, direct-mapped by their low bits: a request's records come close together, so most
     * lookups end here instead of in the large map (a cache miss each) */
    uint64_t recent_id[NAT_RECENT];
    uint32_t recent_idx[NAT_RECENT]; /* index + 1; 0 = empty */
    uint32_t members[SP_NATIVE_MAX_MEMBERS];
    uint8_t phases[SP_NATIVE_MAX_STEP_MEMBERS];   /* a step record's members (step_record) */
    uint32_t step_tokens[SP_NATIVE_MAX_STEP_MEMBERS];
    /* the caller's u64 batch id -> index into ev->batches: a recorder numbers its batches in
     * sequence too, so the dense table answers them where the model's map (batch_map, 12-byte slots
     * at most half full, rebuilt at each doubling) took ~25 MB of fresh pages on a 10 M-event trace;
     * this file's batches are made with sp_ev_batch_new and never entered there */
    sp_nids batches;
    /* the last batch looked up: a batch's kernels and copies follow it closely */
    uint64_t last_batch_id;
    uint32_t last_batch_idx;  /* index + 1; 0 = none */
    /* Until the file's first label, every request of this file was made from a distinct numeric id
     * (requests [first_req, ...)), so new ones skip the model's text-id map; the first label enters
     * them into it and text lookups take over (a label may name another request's decimal id). */
    size_t first_req;
    bool indexed;
    bool lenient;
    bool lost_some;           /* a region of this file was lost before the block being parsed */
    bool saw_end;             /* the recorder's end record was read */
    uint64_t repeated_labels; /* labels skipped because another request of the file has that text id */
} nat_reader;

/* Request index for the caller's id; new requests keep it as a number (their id is its decimal text). */
static sp_status req_of_slow(nat_reader *r, uint64_t id, uint32_t *out);

static inline __attribute__((always_inline)) sp_status req_of(nat_reader *r, uint64_t id, uint32_t *out)
{
    uint64_t k = id - r->reqs.lo; /* the dense table first: one read for a recorder's sequential ids */
    if (k < r->reqs.cap) {
        if (r->reqs.dense[k]) {
            *out = r->reqs.dense[k] - 1;
            return SP_OK;
        }
        /* A recorder's next id, nearly always: with nothing in the hash map, every id entered so far
         * is in the table, so one it covers and has not is new (req_of_slow would look in the map,
         * find nothing and make it); before a label, no text lookup is needed either. */
        if (!r->reqs.map.count && !r->indexed) {
            uint32_t idx;
            sp_status st = sp_ev_request_add_u64(r->ev, r->file, id, &idx);
            if (st)
                return st;
            /* sp_nids_put's covered case: the table covers k, and idx < SP_EV_MAX_RECORDS is never
             * SP_HMAP_NONE */
            r->reqs.dense[k] = idx + 1;
            r->reqs.count++;
            *out = idx;
            return SP_OK;
        }
    }
    size_t c = (size_t)(id & (NAT_RECENT - 1));
    if (r->recent_idx[c] && r->recent_id[c] == id) {
        *out = r->recent_idx[c] - 1;
        return SP_OK;
    }
    sp_status st = req_of_slow(r, id, out);
    if (st == SP_OK) {
        r->recent_id[c] = id;
        r->recent_idx[c] = *out + 1;
    }
    return st;
}

static sp_status req_of_slow(nat_reader *r, uint64_t id, uint32_t *out)
{
    uint32_t idx = sp_nids_find(&r->reqs, id);
    if (idx != SP_HMAP_NONE) {
        *out = idx;
        return SP_OK;
    }
    sp_status st;
    if (!r->indexed)
        st = sp_ev_request_new_u64(r->ev, r->ctx->file, id, &idx);
    else /* a label may have taken the decimal text of `id` */
        st = sp_ev_request_ref_u64(r->ev, r->ctx->file, id, &idx);
    if (st || (st = sp_nids_put(&r->reqs, id, idx)))
        return st;
    *out = idx;
    return SP_OK;
}

/* A label that another request of this file already has as its text id: skipped and counted, the
 * first one named in a warning (the usual cause: two load runs with one --id-prefix against one
 * recording server), the total at the end of the file (finish_file). */
static void repeated_label(nat_reader *r, uint64_t id, const char *label, size_t len)
{
    r->ev->files[r->ctx->file].skipped++;
    if (r->repeated_labels++)
        return;
    sp_log(SP_LOG_WARN, "%s: label \"%.*s\" is already the id of another request of this file (two runs with "
           "one id prefix?): request %" PRIu64 " keeps its numeric id, the label is skipped and counted",
           r->ctx->name, (int)(len > 64 ? 64 : len), label, id);
}

/* A label: the request's text id becomes the label, unless another request of this file already
 * has that text (then the label is skipped and counted: repeated_label). */
static sp_status apply_label(nat_reader *r, uint64_t id, const char *label, size_t len)
{
    if (!r->indexed) {
        sp_status ist = sp_ev_request_index(r->ev, r->first_req);
        if (ist)
            return ist;
        r->indexed = true;
    }
    uint32_t known = sp_nids_find(&r->reqs, id);
    if (known != SP_HMAP_NONE) {
        sp_status st = sp_ev_request_set_id(r->ev, known, label, len);
        if (st == SP_ERR_INVALID) {
            repeated_label(r, id, label, len);
            return SP_OK;
        }
        return st;
    }
    size_t before = r->ev->n_requests;
    uint32_t idx;
    sp_status st = sp_ev_request_ref(r->ev, r->ctx->file, label, len, &idx);
    if (st)
        return st;
    if (r->ev->n_requests == before) {
        /* the label names a request we already have under another id: keep them apart */
        repeated_label(r, id, label, len);
        return req_of(r, id, &idx);
    }
    return sp_nids_put(&r->reqs, id, idx);
}

/* Batch index for the caller's batch id (batch_of's lookup past the last batch, out of line). */
static __attribute__((noinline)) sp_status batch_of_slow(nat_reader *r, uint64_t id, uint32_t *out)
{
    uint32_t idx = sp_nids_find(&r->batches, id);
    if (idx == SP_HMAP_NONE) {
        sp_status st = sp_ev_batch_new(r->ev, r->ctx->file, (int64_t)id, &idx);
        if (st || (st = sp_nids_put(&r->batches, id, idx)))
            return st;
    }
    *out = idx;
    r->last_batch_id = id;
    r->last_batch_idx = idx + 1;
    return SP_OK;
}

static inline sp_status batch_of(nat_reader *r, uint64_t id, uint32_t *out)
{
    if (r->last_batch_idx && r->last_batch_id == id) {
        *out = r->last_batch_idx - 1;
        return SP_OK;
    }
    return batch_of_slow(r, id, out);
}

static int64_t to_i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v;
}

/* Name id -> string; `ok` false if the id was never defined (0 is "no name"). */
static sp_str name_of(const nat_reader *r, uint32_t id, bool *ok)
{
    *ok = true;
    if (id == SP_NAME_NONE)
        return SP_EV_NONE;
    if (id < r->cap_names && r->names[id] != SP_EV_NONE)
        return r->names[id];
    *ok = false;
    return SP_EV_NONE;
}

/* name_of's usual case, inline: the string of a defined id; SP_EV_NONE for an id never defined or 0
 * (names[0] is never defined), where the caller asks name_of which of the two it is. */
static inline sp_str name_known(const nat_reader *r, uint32_t id)
{
    return id < r->cap_names ? r->names[id] : SP_EV_NONE;
}

static sp_status define_name(nat_reader *r, uint32_t id, const char *s, size_t len)
{
    if (id >= r->cap_names) {
        size_t old = r->cap_names;
        size_t cap = old;
        sp_status st = SP_GROW(r->names, cap, (size_t)id + 1, SP_NATIVE_MAX_NAMES);
        if (st)
            return st;
        for (size_t i = old; i < cap; i++)
            r->names[i] = SP_EV_NONE;
        r->cap_names = cap;
    }
    return sp_str_intern(&r->ev->strings, s, len, &r->names[id]);
}

/* A malformed record: an error naming the byte offset, or under lenient skipped and counted. */
static sp_status bad(nat_reader *r, uint64_t off, const char *what)
{
    if (r->lenient) {
        /* counted, and the first few named as the JSONL reader names its skipped lines, so a count in
         * the report's data quality can be traced to its records */
        if (++r->ev->files[r->ctx->file].skipped <= 10)
            sp_log(SP_LOG_WARN, "skipped malformed record: %s: byte %" PRIu64 ": %s", r->ctx->name, off, what);
        return SP_OK;
    }
    sp_errf(r->ctx->err, r->ctx->errlen, "%s: byte %" PRIu64 ": %s", r->ctx->name, off, what);
    r->ctx->skippable = true;
    return SP_ERR_PARSE;
}

/* A record whose name id is not defined, in a file that lost a block before it: the definition was
 * most likely in that block, so the record cannot be decoded. Counted as lost, never an error. */
static sp_status undecodable(nat_reader *r)
{
    r->ev->files[r->ctx->file].undecodable++;
    return SP_OK;
}

/* The file offset of the record at `p` in the block being parsed, for messages. */
static uint64_t rec_off(const nat_reader *r, const unsigned char *p)
{
    return r->blk_base + (uint64_t)(p - r->blk);
}

/* A record using a name id that was never defined: undecodable after a loss, else malformed. */
static sp_status no_name(nat_reader *r, uint64_t off, const char *what)
{
    return r->lost_some ? undecodable(r) : bad(r, off, what);
}

/* A generation step (record 14, docs/generation.md): a batch record whose members each carry a phase
 * and a token count, and the KV cache after the step. Checked whole before anything is added. */
static sp_status step_record(nat_reader *r, const unsigned char *p, uint32_t size, uint32_t aux)
{
    struct sp_events *ev = r->ev;
    if (aux > SP_NATIVE_MAX_STEP_MEMBERS || size != SP_REC_SIZE_STEP_BASE + 16u * aux)
        return bad(r, rec_off(r, p), "malformed step record (size 64 + 16 per member, at most 4091 members)");
    uint64_t start = sp_rd64(p + 16), end = sp_rd64(p + 24);
    int64_t eff = to_i64(sp_rd64(p + 32)), pad = to_i64(sp_rd64(p + 40));
    int64_t kv_used = to_i64(sp_rd64(p + 48)), kv_cap = to_i64(sp_rd64(p + 56));
    if (end < start)
        return bad(r, rec_off(r, p), "step record ends before it starts");
    if (eff < 0 || pad < 0 || kv_used < 0 || kv_cap < 0)
        return bad(r, rec_off(r, p), "step record with a token count over 2^63");
    if (eff > pad)
        return bad(r, rec_off(r, p), "step record with more effective tokens than padded tokens");
    if (kv_cap > 0 && kv_used > kv_cap)
        return bad(r, rec_off(r, p), "step record with more KV cache tokens in use than its capacity");
    uint64_t sum = 0;
    for (uint32_t i = 0; i < aux; i++) {
        uint64_t w = sp_rd64(p + SP_REC_SIZE_STEP_BASE + 16 * (size_t)i + 8);
        uint64_t phase = w >> SP_STEP_PHASE_SHIFT, tokens = w & SP_STEP_TOKENS_MASK;
        if (phase >= SP_EV_PHASE_COUNT)
            return bad(r, rec_off(r, p), "step record member with an unknown phase (0 decode, 1 prefill, 2 prefill chunk expected)");
        if (tokens == 0 || tokens > UINT32_MAX)
            return bad(r, rec_off(r, p), "step record member with no tokens or more than 4294967295");
        r->phases[i] = (uint8_t)phase;
        r->step_tokens[i] = (uint32_t)tokens;
        sum += tokens;
    }
    if (sum != (uint64_t)eff)
        return bad(r, rec_off(r, p), "step record whose effective tokens are not the sum of its members' tokens");
    uint32_t b;
    sp_status st = batch_of(r, sp_rd64(p + 8), &b);
    if (st)
        return st;
    for (uint32_t i = 0; i < aux; i++)
        if ((st = req_of(r, sp_rd64(p + SP_REC_SIZE_STEP_BASE + 16 * (size_t)i), &r->members[i])))
            return st;
    if ((st = sp_ev_batch_set_members(ev, b, r->members, aux)))
        return st;
    sp_ev_batch *bt = &ev->batches[b];
    bt->start_ns = start;
    bt->end_ns = end;
    bt->effective_tokens = eff;
    bt->padded_tokens = pad;
    bt->has_record = true;
    return sp_ev_set_step(ev, b, r->phases, r->step_tokens, aux, kv_used, kv_cap);
}

/* Fills the model from one record at `p`, in the block parse_block is parsing. */
static sp_status one_record(nat_reader *r, const unsigned char *p, uint32_t type, uint32_t size,
                            uint32_t aux)
{
    struct sp_events *ev = r->ev;
    bool ok;
    sp_status st;
    switch (type) {
    case SP_REC_NAME: {
        size_t len = strnlen((const char *)p + 8, size - 8);
        if (aux == SP_NAME_NONE || aux >= SP_NATIVE_MAX_NAMES || len == 0 || len > SP_NATIVE_MAX_NAME)
            return bad(r, rec_off(r, p), "malformed name definition (id 1..1048575, 1..4095 bytes expected)");
        return define_name(r, aux, (const char *)p + 8, len);
    }
    case SP_REC_META: {
        if (size < 16)
            return bad(r, rec_off(r, p), "meta record too short");
        uint64_t bits = sp_rd64(p + 8);
        double price;
        memcpy(&price, &bits, 8);
        if (isfinite(price) && price > SP_MAX_PRICE_PER_HOUR)
            return bad(r, rec_off(r, p), "meta price per hour above SP_MAX_PRICE_PER_HOUR ($1e6/h)");
        if (isfinite(price) && price > 0)
            ev->files[r->file].price_per_hour = price;
        if (size >= 40) {
            /* the monotonic and the realtime clock read at open: times + (realtime - monotonic) are
             * Unix times (docs/native-format.md, "Meta"); 0 means the recorder read no clock */
            uint64_t mono = sp_rd64(p + 24), real = sp_rd64(p + 32);
            if (mono && real && mono <= INT64_MAX && real <= INT64_MAX) {
                ev->files[r->file].unix_offset_ns = (int64_t)real - (int64_t)mono;
                ev->files[r->file].has_unix_offset = true;
            }
        }
        return SP_OK;
    }
    case SP_REC_REQUEST: {
        if (size != SP_REC_SIZE_REQUEST)
            return bad(r, rec_off(r, p), "request record of the wrong size (40 bytes expected)");
        uint32_t idx;
        if ((st = req_of(r, sp_rd64(p + 8), &idx)))
            return st;
        sp_ev_request *q = &ev->requests[idx];
        uint64_t arrival = sp_rd64(p + 16), done = sp_rd64(p + 24);
        int64_t tokens = (int64_t)sp_rd64(p + 32);
        tokens = tokens < 0 ? -1 : tokens;
        if (q->has_record) {
            /* A request id recorded twice (docs/native-format.md, "Request"): an exact repeat is
             * harmless; two different lives for one id are two requests the instrumentation gave one
             * id, and no rule can tell which life a stage or batch record belongs to. */
            if (q->arrival_ns == arrival && q->done_ns == done && sp_ev_req_input_tokens(ev, q) == tokens)
                return SP_OK;
            /* named by its text: a label may have given the earlier record's request this id's text
             * ("Requests and labels") */
            char buf[SP_EV_ID_TEXT], what[400];
            snprintf(what, sizeof what, "second request record for request \"%.64s\" (id %" PRIu64 ") with "
                     "different times or tokens than an earlier one (expected one per request; --lenient keeps "
                     "the first)", sp_ev_id_text(ev, q, buf, NULL), sp_rd64(p + 8));
            return bad(r, rec_off(r, p), what);
        }
        q->arrival_ns = arrival;
        q->done_ns = done;
        if ((st = sp_ev_req_set_input_tokens(ev, idx, tokens)))
            return st;
        q->has_record = true;
        return SP_OK;
    }
    case SP_REC_OUTCOME: {
        if (size != SP_REC_SIZE_OUTCOME)
            return bad(r, rec_off(r, p), "outcome record of the wrong size (24 bytes expected)");
        int64_t status = (int64_t)sp_rd64(p + 16);
        _Static_assert(SP_NATIVE_MAX_STATUS <= SP_EV_MAX_STATUS, "a native status fits the request record");
        if (aux >= SP_OUTCOME_COUNT || status < 0 || status > SP_NATIVE_MAX_STATUS)
            return bad(r, rec_off(r, p), "malformed outcome record (outcome 0..4 and HTTP status 0..999 expected)");
        uint32_t idx;
        if ((st = req_of(r, sp_rd64(p + 8), &idx)))
            return st;
        /* a later outcome record for the request replaces an earlier one (trace.h) */
        ev->requests[idx].outcome = (uint8_t)aux;
        ev->requests[idx].status = (int32_t)status;
        return SP_OK;
    }
    case SP_REC_TRACE: {
        if (size != SP_REC_SIZE_TRACE || aux > 0xff)
            return bad(r, rec_off(r, p), "malformed trace-context record (48 bytes, flags 0..255 expected)");
        sp_trace_context c;
        c.flags = (uint8_t)aux;
        memcpy(c.trace_id, p + 16, 16);
        memcpy(c.span_id, p + 32, 8);
        memcpy(c.parent_id, p + 40, 8);
        uint32_t idx;
        if ((st = req_of(r, sp_rd64(p + 8), &idx)))
            return st;
        st = sp_ev_request_set_trace(ev, idx, &c);
        return st == SP_ERR_INVALID ? bad(r, rec_off(r, p), "trace-context record with an all-zero trace id or span id") : st;
    }
    case SP_REC_LABEL: {
        if (aux > SP_NATIVE_MAX_LABEL || size != 16 + ((aux + 7) & ~7u))
            return bad(r, rec_off(r, p), "malformed label record (at most 255 bytes)");
        const char *label = (const char *)p + 16;
        if (aux == 0)
            return SP_OK; /* an empty label leaves the numeric id */
        if (memchr(label, '\0', aux))
            return bad(r, rec_off(r, p), "label contains a NUL byte");
        return apply_label(r, sp_rd64(p + 8), label, aux);
    }
    case SP_REC_STAGE: {
        if (size != SP_REC_SIZE_STAGE)
            return bad(r, rec_off(r, p), "stage record of the wrong size (32 bytes expected)");
        sp_str stage = name_known(r, aux);
        if (stage == SP_EV_NONE) {
            name_of(r, aux, &ok);
            if (!ok)
                return no_name(r, rec_off(r, p), "stage record uses a stage name id that was never defined");
            return bad(r, rec_off(r, p), "stage record uses a stage name id that was never defined");
        }
        uint64_t start = sp_rd64(p + 16), end = sp_rd64(p + 24);
        if (end < start)
            return bad(r, rec_off(r, p), "stage record ends before it starts");
        uint32_t idx;
        if ((st = req_of(r, sp_rd64(p + 8), &idx)))
            return st;
        return sp_ev_add_span(ev, idx, stage, start, end);
    }
    case SP_REC_BATCH: {
        if (aux > SP_NATIVE_MAX_MEMBERS || size != SP_REC_SIZE_BATCH_BASE + 8u * aux)
            return bad(r, rec_off(r, p), "malformed batch record (at most 4096 members)");
        /* as a step record's (step_record): a token count over 2^63 reads as unknown (-1) */
        int64_t eff = to_i64(sp_rd64(p + 32)), pad = to_i64(sp_rd64(p + 40));
        if (eff >= 0 && pad >= 0 && eff > pad)
            return bad(r, rec_off(r, p), "batch record with more effective tokens than padded tokens");
        uint32_t b;
        if ((st = batch_of(r, sp_rd64(p + 8), &b)))
            return st;
        if (aux && aux <= ev->cap_members - ev->n_members) {
            /* room already (an empty batch takes the other route: the array may be NULL): the
             * members looked up straight into the model's array, which req_of never touches,
             * without the copy from r->members */
            uint32_t *m = sp_ev_batch_members_free(ev);
            for (uint32_t i = 0; i < aux; i++)
                if ((st = req_of(r, sp_rd64(p + 48 + 8 * (size_t)i), &m[i])))
                    return st;
            sp_ev_batch_commit_members(ev, b, aux);
        } else {
            for (uint32_t i = 0; i < aux; i++)
                if ((st = req_of(r, sp_rd64(p + 48 + 8 * (size_t)i), &r->members[i])))
                    return st;
            if ((st = sp_ev_batch_set_members(ev, b, r->members, aux)))
                return st;
        }
        sp_ev_batch *bt = &ev->batches[b];
        bt->start_ns = sp_rd64(p + 16);
        bt->end_ns = sp_rd64(p + 24);
        bt->effective_tokens = eff;
        bt->padded_tokens = pad;
        bt->has_record = true;
        if (bt->step != SP_EV_NONE)
            sp_ev_clear_step(ev, b); /* a later batch record replaces an earlier step record */
        return SP_OK;
    }
    case SP_REC_STEP:
        return step_record(r, p, size, aux);
    case SP_REC_TOKEN: {
        if (size != SP_REC_SIZE_TOKEN)
            return bad(r, rec_off(r, p), "token record of the wrong size (32 bytes expected)");
        uint64_t t = sp_rd64(p + 24);
        if (t == SP_TIME_NONE)
            return bad(r, rec_off(r, p), "token record without a time");
        uint32_t idx;
        if ((st = req_of(r, sp_rd64(p + 8), &idx)))
            return st;
        return sp_ev_add_token(ev, idx, sp_rd64(p + 16), t);
    }
    case SP_REC_KERNEL:
    case SP_REC_COPY: {
        bool kernel = type == SP_REC_KERNEL;
        if (size != (kernel ? SP_REC_SIZE_KERNEL : SP_REC_SIZE_COPY))
            return bad(r, rec_off(r, p), kernel ? "kernel record of the wrong size (48 bytes expected)"
                                      : "copy record of the wrong size (56 bytes expected)");
        uint64_t batch = sp_rd64(p + 8);
        sp_str kname = SP_EV_NONE;
        uint8_t kind;
        if (kernel) {
            kind = SP_ACT_KERNEL;
            kname = name_known(r, aux);
            if (kname == SP_EV_NONE && (kname = name_of(r, aux, &ok), !ok))
                return no_name(r, rec_off(r, p), "kernel record uses a name id that was never defined");
        } else {
            static const uint8_t kinds[] = {SP_ACT_H2D, SP_ACT_D2H, SP_ACT_D2D, SP_ACT_MEMSET,
                                            SP_ACT_COPY_OTHER};
            if (aux > SP_COPY_OTHER)
                return bad(r, rec_off(r, p), "copy record with an unknown kind (0..4 expected)");
            kind = kinds[aux];
        }
        uint32_t bidx = SP_EV_NONE;
        if (batch != SP_NO_BATCH && (st = batch_of(r, batch, &bidx)))
            return st;
        uint64_t ds = sp_rd64(p + 16);
        uint32_t sidx;
        if ((st = sp_ev_stream_id(ev, (int64_t)(ds >> 32), &sidx)))
            return st;
        /* filled in place (sp_ev_activity_slot): the fields of a zeroed record, as before */
        sp_ev_activity *a = sp_ev_activity_slot(ev, &st);
        if (!a)
            return st;
        a->file = (uint16_t)r->file; /* < SP_EV_MAX_FILES (sp_ev_add_file) */
        a->device = (uint32_t)ds;
        a->stream_ix = sidx;
        a->correlation = sp_rd64(p + 24);
        a->kind = kind;
        if (kernel) {
            a->nb.name = kname;
            a->start_ns = sp_rd64(p + 32);
            a->end_ns = sp_rd64(p + 40);
        } else {
            a->nb.bytes = sp_rd64(p + 32);
            a->start_ns = sp_rd64(p + 40);
            a->end_ns = sp_rd64(p + 48);
        }
        a->batch = bidx;
        sp_ev_commit_activity(ev);
        return SP_OK;
    }
    case SP_REC_LAUNCH: {
        if (size != SP_REC_SIZE_LAUNCH)
            return bad(r, rec_off(r, p), "launch record of the wrong size (32 bytes expected)");
        sp_str lname = name_known(r, aux);
        if (lname == SP_EV_NONE && (lname = name_of(r, aux, &ok), !ok))
            return no_name(r, rec_off(r, p), "launch record uses a name id that was never defined");
        sp_ev_launch *l = sp_ev_launch_slot(ev, &st); /* filled in place, as the activity above */
        if (!l)
            return st;
        l->name = lname;
        l->correlation = sp_rd64(p + 8);
        l->start_ns = sp_rd64(p + 16);
        l->end_ns = sp_rd64(p + 24);
        l->file = r->file;
        sp_ev_commit_launch(ev);
        return SP_OK;
    }
    case SP_REC_DROPS: {
        if (aux > 64 || size != 8 + 8u * aux)
            return bad(r, rec_off(r, p), "malformed drop-count record");
        /* counts are cumulative: the largest seen is the latest */
        for (uint32_t c = 0; c < aux && c < SP_DROP_CAUSE_COUNT; c++) {
            uint64_t v = sp_rd64(p + 8 + 8 * (size_t)c);
            if (v > ev->files[r->file].drops[c])
                ev->files[r->file].drops[c] = v;
        }
        return SP_OK;
    }
    case SP_REC_PROP: {
        if (size < 16)
            return bad(r, rec_off(r, p), "property record too short");
        uint64_t vl = sp_rd64(p + 8);
        size_t kpad = ((size_t)aux + 7) & ~(size_t)7;
        if (!sp_prop_key_valid((const char *)p + 16, aux) || vl > SP_PROP_MAX_VALUE ||
            size != 16 + kpad + ((vl + 7) & ~(uint64_t)7))
            return bad(r, rec_off(r, p), "malformed property record (key of 1..255 bytes of [A-Za-z0-9._-], value of "
                               "at most 4095 bytes)");
        const char *v = (const char *)p + 16 + kpad;
        if (memchr(v, '\0', (size_t)vl))
            return bad(r, rec_off(r, p), "property value contains a NUL byte");
        st = sp_ev_set_prop(ev, r->file, (const char *)p + 16, aux, v, (size_t)vl);
        return st == SP_ERR_INVALID ? bad(r, rec_off(r, p), "malformed property record") : st;
    }
    case SP_REC_END:
        r->saw_end = true;
        return SP_OK;
    default:
        return SP_OK; /* types from later versions: skipped by size */
    }
}

static sp_status parse_block(nat_reader *r, const unsigned char *p, size_t len, uint64_t base)
{
    if (!len)
        return SP_OK; /* an empty block: p may be NULL, where p + 0 is undefined */
    r->blk = p;
    r->blk_base = base;
    const unsigned char *q = p, *end = p + len;
    size_t left;
    while ((left = (size_t)(end - q)) >= 8) { /* q never passes end: size <= left */
        uint64_t hdr = sp_rd64(q);
        uint32_t type = sp_rec_type(hdr), size = sp_rec_size(hdr), aux = sp_rec_aux(hdr);
        if (size < 8 || (size & 7) || size > left) {
            /* the size is all that says where the next record starts: the rest of the block goes */
            return bad(r, rec_off(r, q), "record size is not a multiple of 8 within its block");
        }
        sp_status st = one_record(r, q, type, size, aux);
        if (st) {
            if (st != SP_ERR_PARSE)
                sp_errf(r->ctx->err, r->ctx->errlen, "%s: byte %" PRIu64 ": %s", r->ctx->name, rec_off(r, q),
                        sp_status_str(st));
            return st;
        }
        q += size;
    }
    if (left)
        return bad(r, rec_off(r, q), "record header cut off inside a block");
    return SP_OK;
}

/* Reads exactly n bytes unless the input ends: returns the count, or -1 on a read error. */
static ssize_t read_full(sp_input *in, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = sp_input_read(in, (unsigned char *)buf + got, n - got);
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static sp_status read_header(nat_reader *r)
{
    sp_import_ctx *ctx = r->ctx;
    unsigned char h[SP_NATIVE_FILE_HEADER];
    ssize_t got = read_full(ctx->in, h, sizeof h);
    if (got < 0) {
        sp_errf(ctx->err, ctx->errlen, "%s: byte %" PRIu64 ": %s", ctx->name, sp_input_offset(ctx->in),
                sp_input_error(ctx->in));
        return SP_ERR_IO;
    }
    uint32_t hlen = 0;
    switch (sp_native_file_header_check(h, (size_t)got, &hlen)) {
    case SP_NATIVE_HEADER_OK:
        break;
    case SP_NATIVE_HEADER_MAGIC:
        sp_errf(ctx->err, ctx->errlen, "%s: byte 0: not a servprof native trace (expected \"SPTRACE1\")",
                ctx->name);
        return SP_ERR_FORMAT;
    case SP_NATIVE_HEADER_CUT:
        sp_errf(ctx->err, ctx->errlen, "%s: byte %zd: file header cut off (16 bytes expected)", ctx->name,
                got);
        return SP_ERR_PARSE;
    case SP_NATIVE_HEADER_VERSION:
        sp_errf(ctx->err, ctx->errlen, "%s: byte 8: native trace version %" PRIu32
                " is not supported (this build reads version 1)", ctx->name, sp_rd32(h + 8));
        return SP_ERR_FORMAT;
    case SP_NATIVE_HEADER_SIZE:
        sp_errf(ctx->err, ctx->errlen, "%s: byte 12: file header size %" PRIu32
                " out of range (16..4096 expected)", ctx->name, sp_rd32(h + 12));
        return SP_ERR_PARSE;
    }
    unsigned char skip[SP_NATIVE_MAX_FILE_HEADER];
    size_t extra = hlen - SP_NATIVE_FILE_HEADER;
    if (extra && read_full(ctx->in, skip, extra) != (ssize_t)extra) {
        sp_errf(ctx->err, ctx->errlen, "%s: byte %" PRIu64 ": file header cut off (%" PRIu32
                " bytes expected)", ctx->name, sp_input_offset(ctx->in), hlen);
        return SP_ERR_PARSE;
    }
    return SP_OK;
}

/* ---- Reading blocks, and resynchronising past bad ones ----
 * The file as the block reader sees it: the stream, behind a window of bytes that were pushed back or
 * read ahead while looking for the next good block. On a clean trace the window stays empty and blocks
 * are read straight from the stream into their slot. Only the reading side (in the pipeline, the
 * reader thread) touches it. */
typedef struct nat_src {
    sp_input *in;
    unsigned char *win;       /* win[pos .. end) come before the stream's next byte */
    size_t pos, end, cap;
    uint64_t off;             /* file offset of the next byte handed out */
    const char *err;          /* set when a read of the stream failed: nothing after it is readable */
    bool nomem;               /* the window could not grow */
} nat_src;

/* Bytes the scan reads from the stream at a time, and searches for the magic at a time. */
#define NAT_SCAN_CHUNK ((size_t)64 << 10)
#define NAT_SCAN_LOOK ((size_t)4096)
/* CRC-32 work the scan may spend on candidates: this much, plus 4 bytes per byte it has passed, so an
 * input made of block headers that fail costs work linear in its size (docs/native-format.md). */
#define NAT_RESYNC_BUDGET ((uint64_t)32 << 20)
#define NAT_WIN_MAX ((size_t)SP_NATIVE_MAX_BLOCK + SP_NATIVE_BLOCK_HEADER + NAT_SCAN_CHUNK)

/* Hands out up to n bytes, the window's first: the count (less than n only at the end of the input),
 * or -1 when the stream failed (src->err says why). */
static ssize_t src_read(nat_src *src, void *buf, size_t n)
{
    size_t got = 0;
    if (n && src->pos < src->end) { /* n = 0: an empty block, whose buf may be NULL (memcpy's UB) */
        got = src->end - src->pos < n ? src->end - src->pos : n;
        memcpy(buf, src->win + src->pos, got);
        src->pos += got;
    }
    ssize_t k = got < n ? read_full(src->in, (unsigned char *)buf + got, n - got) : 0;
    if (k < 0) {
        src->err = sp_input_error(src->in);
        src->off += got;
        return -1;
    }
    got += (size_t)k;
    src->off += got;
    return (ssize_t)got;
}

/* Makes room for `need` bytes in the window, keeping its unread bytes at the front. */
static sp_status src_room(nat_src *src, size_t need)
{
    if (src->pos) {
        memmove(src->win, src->win + src->pos, src->end - src->pos);
        src->end -= src->pos;
        src->pos = 0;
    }
    if (need <= src->cap)
        return SP_OK;
    size_t cap = src->cap;
    sp_status st = SP_GROW(src->win, cap, need, NAT_WIN_MAX);
    if (st == SP_OK)
        src->cap = cap;
    return st;
}

/* Puts `a` then `b` back in front of what comes next, so the scan looks at them again. */
static sp_status src_unread(nat_src *src, const void *a, size_t na, const void *b, size_t nb)
{
    size_t rest = src->end - src->pos;
    sp_status st = src_room(src, na + nb + rest);
    if (st)
        return st;
    memmove(src->win + na + nb, src->win, rest);
    memcpy(src->win, a, na);
    if (nb)
        memcpy(src->win + na, b, nb);
    src->end = na + nb + rest;
    src->off -= na + nb;
    return SP_OK;
}

/* Fills the window to `need` bytes (at most NAT_WIN_MAX - NAT_SCAN_CHUNK) from the stream unless it
 * ends or fails first. Returns the bytes the window then holds. */
static size_t src_fill(nat_src *src, size_t need)
{
    if (src->end - src->pos >= need || src->err)
        return src->end - src->pos;
    size_t want = need + NAT_SCAN_CHUNK;
    if (src_room(src, want) != SP_OK && src_room(src, need) != SP_OK) {
        src->nomem = true;
        return src->end - src->pos;
    }
    while (src->end < need) {
        size_t room = (src->cap < want ? src->cap : want) - src->end;
        ssize_t k = sp_input_read(src->in, src->win + src->end, room);
        if (k < 0)
            src->err = sp_input_error(src->in);
        if (k <= 0)
            break;
        src->end += (size_t)k;
    }
    return src->end - src->pos;
}

static void src_drop(nat_src *src, size_t n)
{
    src->pos += n;
    src->off += n;
}

/* One slot of the reading side's output, acted on by the building side in file order (so errors,
 * warnings and counts come out exactly as if one thread read and parsed in turn): a block whose
 * checksum matched, a lost region (then, unless it runs to the end, the next slot holds the block
 * reading resumed at), the end of the input, or an error. */
typedef enum nat_kind { NAT_BLOCK, NAT_EOF, NAT_LOST, NAT_ERROR } nat_kind;

typedef struct nat_slot {
    unsigned char *buf;       /* the block's payload */
    size_t cap;
    uint32_t len;
    uint64_t off;             /* file offset of the block header (NAT_LOST: of the region) */
    nat_kind kind;
    const char *why;          /* NAT_LOST: what was wrong where the region starts */
    const char *stopped;      /* NAT_LOST: the stream failed while looking past it (else NULL) */
    sp_lost_region region;    /* NAT_LOST */
    sp_status st;             /* NAT_ERROR */
} nat_slot;

/* After a bad frame at src->off (its bytes pushed back), drops bytes up to the next offset where a block
 * header with the block magic, a size within limits and a matching checksum starts, or to the end of
 * the input, and describes the dropped stretch in `s` (NAT_LOST). The CRC-32 makes a false match about
 * one in 4 billion per candidate; candidates come only where the 4 magic bytes are, and their checks are
 * bounded by NAT_RESYNC_BUDGET. `frontier`: where the bad frame claimed to end; a rejected candidate at
 * or past the frontier counts as another lost block and moves it. */
static void resync(nat_src *src, nat_slot *s, const char *why, uint64_t frontier)
{
    static const unsigned char magic[4] = {SP_NATIVE_BLOCK_MAGIC & 0xff, (SP_NATIVE_BLOCK_MAGIC >> 8) & 0xff,
                                           (SP_NATIVE_BLOCK_MAGIC >> 16) & 0xff, SP_NATIVE_BLOCK_MAGIC >> 24};
    uint64_t start = src->off, blocks = 1, spent = 0;
    bool to_end = false;
    s->kind = NAT_LOST;
    s->off = start;
    s->why = why;
    s->stopped = NULL;
    src_drop(src, 1); /* the bad frame does not start where it did: look from the next byte on */
    for (;;) {
        size_t avail = src_fill(src, SP_NATIVE_BLOCK_HEADER);
        if (avail < SP_NATIVE_BLOCK_HEADER) {
            src_drop(src, avail); /* the end of the input: fewer bytes than a block header left */
            to_end = true;
            break;
        }
        /* where a header could start with all 16 of its bytes here, a page at a time: a search's
         * cost then stays small even when a candidate was read far ahead (and so under sanitizers,
         * whose memmem checks the whole range it is given) */
        size_t look = avail - SP_NATIVE_BLOCK_HEADER + 4;
        if (look > NAT_SCAN_LOOK)
            look = NAT_SCAN_LOOK;
        const unsigned char *w = src->win + src->pos;
        const unsigned char *m = memmem(w, look, magic, 4);
        if (!m) {
            src_drop(src, look - 3); /* the last 3 bytes may begin the magic */
            continue;
        }
        src_drop(src, (size_t)(m - w));
        uint32_t len;
        if (!sp_native_block_header_ok(m, &len)) {
            src_drop(src, 1);
            continue;
        }
        if (spent + len <= NAT_RESYNC_BUDGET + 4 * (src->off - start) &&
            src_fill(src, SP_NATIVE_BLOCK_HEADER + (size_t)len) >= SP_NATIVE_BLOCK_HEADER + (size_t)len) {
            spent += len;
            const unsigned char *c = src->win + src->pos;
            if (sp_native_block_crc_ok(c, c + SP_NATIVE_BLOCK_HEADER, len))
                break; /* resynchronised: the window starts with a good block */
        }
        if (src->off >= frontier) {
            blocks++;
            frontier = src->off + SP_NATIVE_BLOCK_HEADER + len;
        }
        src_drop(src, 1);
    }
    s->region = (sp_lost_region){start, src->off - start, blocks, to_end};
    s->stopped = src->err;
    if (src->nomem) {
        s->kind = NAT_ERROR; /* the window's bytes were not all looked at: no honest count to give */
        s->st = SP_ERR_NOMEM;
    }
}

/* Reads the next block into `s` and checks it; a bad one becomes a lost region (resync). */
static void read_one_block(nat_src *src, nat_slot *s)
{
    uint64_t off = src->off;
    unsigned char h[SP_NATIVE_BLOCK_HEADER];
    s->off = off;
    s->kind = NAT_BLOCK;
    ssize_t got = src_read(src, h, sizeof h);
    if (got == 0) {
        s->kind = NAT_EOF;
        return;
    }
    const char *why;
    sp_status st;
    size_t hdr = got < 0 ? 0 : (size_t)got; /* header bytes read */
    size_t have = 0;                         /* payload bytes read */
    uint64_t frontier = off + SP_NATIVE_BLOCK_HEADER;
    uint32_t len;
    if (got < 0)
        goto unreadable;
    if (hdr < sizeof h) {
        why = "block header cut off";
        frontier = off + hdr;
        goto bad;
    }
    if (!sp_native_block_header_ok(h, &len)) {
        why = "not a block header (bad magic or size)";
        goto bad;
    }
    frontier = off + SP_NATIVE_BLOCK_HEADER + len;
    if (len > s->cap) {
        size_t cap = s->cap;
        if ((st = SP_GROW(s->buf, cap, len, SP_NATIVE_MAX_BLOCK)))
            goto error;
        s->cap = cap;
    }
    got = src_read(src, s->buf, len);
    if (got < 0)
        goto unreadable;
    have = (size_t)got;
    if (have < len) {
        why = "block cut off";
        goto bad;
    }
    if (!sp_native_block_crc_ok(h, s->buf, len)) {
        why = "block checksum mismatch";
        goto bad;
    }
    s->len = len;
    return;
bad:
    if ((st = src_unread(src, h, hdr, s->buf, have)))
        goto error;
    resync(src, s, why, frontier);
    return;
unreadable:
    /* the stream itself failed (e.g. corrupt gzip data): nothing after this point can be read */
    s->kind = NAT_LOST;
    s->why = src->err;
    s->stopped = NULL;
    s->region = (sp_lost_region){off, src->off - off, 1, 1};
    return;
error:
    s->kind = NAT_ERROR;
    s->st = st;
}

/* A lost region: count it for the file and say so, with the file and byte offsets. */
static void note_lost(nat_reader *r, const nat_slot *s)
{
    const sp_lost_region *g = &s->region;
    sp_ev_file_lost(r->ev, r->ctx->file, g);
    r->lost_some = true;
    const char *blocks = g->blocks == 1 ? "block" : "blocks";
    if (g->to_end)
        sp_log(SP_LOG_WARN, "%s: byte %" PRIu64 ": %s; the rest of the file is lost (%" PRIu64 " %s, %" PRIu64
               " bytes%s%s)", r->ctx->name, g->offset, s->why, g->blocks, blocks, g->bytes,
               s->stopped ? "; reading stopped: " : "", s->stopped ? s->stopped : "");
    else
        sp_log(SP_LOG_WARN, "%s: byte %" PRIu64 ": %s; resynchronised at byte %" PRIu64 " (%" PRIu64 " %s, %" PRIu64
               " bytes lost)", r->ctx->name, g->offset, s->why, g->offset + g->bytes, g->blocks, blocks, g->bytes);
}

/* Acts on one slot: parses a block or notes a lost region (SP_OK, *more true while more may follow),
 * or ends the trace. */
static sp_status take_slot(nat_reader *r, const nat_slot *s, bool *more)
{
    *more = false;
    switch (s->kind) {
    case NAT_BLOCK:
        *more = true;
        return parse_block(r, s->buf, s->len, s->off + SP_NATIVE_BLOCK_HEADER);
    case NAT_EOF:
        return SP_OK;
    case NAT_LOST:
        note_lost(r, s);
        *more = !s->region.to_end;
        return SP_OK;
    case NAT_ERROR:
    default:
        sp_errf(r->ctx->err, r->ctx->errlen, "%s: byte %" PRIu64 ": %s", r->ctx->name, s->off,
                sp_status_str(s->st));
        return s->st;
    }
}

/* ---- Pre-faulting ----
 * About half the import was the kernel faulting in the model's fresh pages one at a time.
 * MADV_POPULATE_WRITE (Linux 5.14) faults in a range in one call, about a third cheaper per page, so
 * the next few MiB of each event array past its fill are populated (serially before each block; in
 * the pipeline by whichever thread would wait, a step at a time). It never
 * changes memory contents; on an older kernel it fails with EINVAL and is not tried again. */
#define NAT_ARRAYS 6u
#define NAT_AHEAD ((size_t)4 << 20) /* bytes populated ahead of the builder, per array */
#define NAT_AHEAD_MIN ((size_t)256 << 10)

typedef struct nat_span {
    uintptr_t base;           /* array start */
    size_t used, cap;         /* bytes */
} nat_span;

typedef struct nat_pop {
    uintptr_t done_base[NAT_ARRAYS], done_end[NAT_ARRAYS]; /* populated so far, per array */
    bool off;                 /* the kernel lacks MADV_POPULATE_WRITE */
} nat_pop;

static void arrays_of(const struct sp_events *ev, nat_span out[NAT_ARRAYS])
{
    out[0] = (nat_span){(uintptr_t)ev->requests, ev->n_requests * sizeof *ev->requests,
                        ev->cap_requests * sizeof *ev->requests};
    out[1] = (nat_span){(uintptr_t)ev->spans, ev->n_spans * sizeof *ev->spans,
                        ev->cap_spans * sizeof *ev->spans};
    out[2] = (nat_span){(uintptr_t)ev->batches, ev->n_batches * sizeof *ev->batches,
                        ev->cap_batches * sizeof *ev->batches};
    out[3] = (nat_span){(uintptr_t)ev->members, ev->n_members * sizeof *ev->members,
                        ev->cap_members * sizeof *ev->members};
    out[4] = (nat_span){(uintptr_t)ev->acts, ev->n_acts * sizeof *ev->acts,
                        ev->cap_acts * sizeof *ev->acts};
    out[5] = (nat_span){(uintptr_t)ev->launches, ev->n_launches * sizeof *ev->launches,
                        ev->cap_launches * sizeof *ev->launches};
}

/* Populates up to NAT_AHEAD bytes past each array's fill, within its capacity, but at most `budget`
 * bytes in this call: the array populated least far past its fill first, so a caller that does a
 * little at a time keeps every array about equally far ahead. Returns the bytes populated (0: every
 * array is as far ahead as it goes, or the kernel lacks the call). */
static size_t populate_some(nat_pop *pp, const nat_span *a, size_t budget)
{
    const uintptr_t page = 4096;
    size_t done = 0;
    while (!pp->off && done < budget) {
        unsigned best = NAT_ARRAYS;
        uintptr_t best_lo = 0, best_hi = 0, best_ahead = 0;
        for (unsigned i = 0; i < NAT_ARRAYS; i++) {
            if (!a[i].base)
                continue;
            uintptr_t fill = a[i].base + a[i].used;
            uintptr_t lo = (fill + page - 1) & ~(page - 1);
            /* no further ahead than the array is full (at least NAT_AHEAD_MIN): a small trace's
             * arrays, grown ahead of each block by reserve_room, would otherwise be populated far
             * past its size */
            size_t ahead = a[i].used > NAT_AHEAD_MIN ? a[i].used : NAT_AHEAD_MIN;
            if (ahead > NAT_AHEAD)
                ahead = NAT_AHEAD;
            size_t want = a[i].cap - a[i].used < ahead ? a[i].cap - a[i].used : ahead;
            uintptr_t hi = (fill + want) & ~(page - 1);
            if (pp->done_base[i] == a[i].base && pp->done_end[i] > lo)
                lo = pp->done_end[i];
            if (hi <= lo)
                continue;
            if (best == NAT_ARRAYS || lo - fill < best_ahead) {
                best = i;
                best_lo = lo;
                best_hi = hi;
                best_ahead = lo - fill;
            }
        }
        if (best == NAT_ARRAYS)
            break;
        size_t n = best_hi - best_lo;
        if (n > budget - done)
            n = (budget - done + page - 1) & ~(page - 1);
        if (madvise((void *)best_lo, n, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
            pp->off = true;
        pp->done_base[best] = a[best].base;
        pp->done_end[best] = best_lo + n;
        done += n;
    }
    return done;
}

static void populate_ahead(nat_pop *pp, const nat_span *a)
{
    populate_some(pp, a, SIZE_MAX);
}

static void src_init(nat_src *src, sp_input *in)
{
    memset(src, 0, sizeof *src);
    src->in = in;
    src->off = sp_input_offset(in);
}

static sp_status read_blocks_serial(nat_reader *r)
{
    nat_slot s;
    nat_pop pp;
    nat_src src;
    memset(&s, 0, sizeof s);
    memset(&pp, 0, sizeof pp);
    src_init(&src, r->ctx->in);
    sp_status st;
    bool more;
    do {
        nat_span a[NAT_ARRAYS];
        arrays_of(r->ev, a);
        populate_ahead(&pp, a);
        read_one_block(&src, &s);
        st = take_slot(r, &s, &more);
    } while (st == SP_OK && more);
    free(s.buf);
    free(src.win);
    return st;
}

/* ---- Two-thread pipeline ----
 * When a second core is free, a reader thread reads and checksums blocks into a small ring, while the
 * calling thread parses and builds in file order, mostly writing to pages that are already there.
 * The populating above is done NAT_POP_STEP at a time by whichever thread would otherwise wait: the
 * reader when the ring is full, the builder when it is empty. (The reader used to do all of it before
 * each block: populating is ~40% of the load's CPU, so the reader was the bottleneck and the builder
 * waited ~60% of the load; docs/BENCHMARKS.md, "The native load's wall time".) The reader also
 * resynchronises past bad blocks (resync); it may read a few blocks past one the builder fails on,
 * which are then never parsed. What may be populated is published by the builder. Arrays move only
 * while the builder holds `pf_mu`: before a block it grows them (under pf_mu) so the block cannot
 * move them, and publishes the new addresses before letting go; only if that fails does it hold pf_mu
 * over the block. Populating holds pf_mu too, so no thread populates a stale range, and the reader
 * populates while the builder parses. */
#define NAT_SLOTS 4u
#define NAT_POP_STEP ((size_t)256 << 10) /* bytes populated between two looks at the ring */

typedef struct nat_pipe {
    nat_reader *r;
    pthread_mutex_t mu;       /* guards the ring, stop and pub */
    pthread_cond_t has_data, has_room;
    nat_slot slots[NAT_SLOTS];
    size_t head, count;       /* slots[head] is the next for the builder; count filled */
    bool stop;                /* the builder is done: the reader ends at its next turn */
    nat_span pub[NAT_ARRAYS]; /* the arrays as the builder last published them */
    pthread_mutex_t pf_mu;    /* held by the reader while populating, by the builder while arrays may move */
    nat_pop pop;              /* reader only */
    nat_src src;              /* reader only */
} nat_pipe;

/* Whether parsing a block of `len` bytes may grow (move) an event array: a block adds at most one
 * entry to any array per 8 bytes (records are at least 8 bytes; a batch member is 8 bytes). */
static bool may_grow(const struct sp_events *ev, uint32_t len)
{
    size_t room = (size_t)len / 8 + 1;
    return ev->cap_requests - ev->n_requests < room || ev->cap_spans - ev->n_spans < room ||
           ev->cap_batches - ev->n_batches < room || ev->cap_members - ev->n_members < room ||
           ev->cap_acts - ev->n_acts < room || ev->cap_launches - ev->n_launches < room;
}

static bool reserve_one(void **arr, size_t *cap, size_t n, size_t room, size_t elem)
{
    size_t need = n + room < SP_EV_MAX_RECORDS ? n + room : SP_EV_MAX_RECORDS;
    return sp_grow(arr, cap, need, elem, SP_EV_MAX_RECORDS) == SP_OK;
}

/* Grows every event array ahead of a block of `len` bytes so that parsing it cannot move one (with
 * the model's own doubling, so capacities are those it would reach anyway, one step early at most;
 * only address space: pages are touched as before). Without this the builder had to hold pf_mu over
 * nearly every block (the small batch array is almost always within len/8 of its capacity), which
 * kept the reader from populating while the builder parsed: the two threads took turns. An array
 * at its record limit cannot grow, so it cannot move either. False: out of memory; the block is then
 * parsed under pf_mu as before and fails or not exactly as it would have. */
static bool reserve_room(struct sp_events *ev, uint32_t len)
{
    size_t room = (size_t)len / 8 + 1;
    return reserve_one((void **)&ev->requests, &ev->cap_requests, ev->n_requests, room,
                       sizeof *ev->requests) &&
           reserve_one((void **)&ev->spans, &ev->cap_spans, ev->n_spans, room, sizeof *ev->spans) &&
           reserve_one((void **)&ev->batches, &ev->cap_batches, ev->n_batches, room,
                       sizeof *ev->batches) &&
           reserve_one((void **)&ev->members, &ev->cap_members, ev->n_members, room,
                       sizeof *ev->members) &&
           reserve_one((void **)&ev->acts, &ev->cap_acts, ev->n_acts, room, sizeof *ev->acts) &&
           reserve_one((void **)&ev->launches, &ev->cap_launches, ev->n_launches, room,
                       sizeof *ev->launches);
}

/* One step of populating for the pipeline, by whichever thread would otherwise wait: the reader when
 * the ring is full, the builder when it is empty (the builder tries pf_mu and never waits for it).
 * False: nothing was left to populate, the kernel lacks the call, or (try) pf_mu was busy. */
static bool pipe_populate_some(nat_pipe *p, bool try)
{
    if (try) {
        if (pthread_mutex_trylock(&p->pf_mu) != 0)
            return false;
    } else {
        pthread_mutex_lock(&p->pf_mu);
    }
    nat_span a[NAT_ARRAYS];
    pthread_mutex_lock(&p->mu);
    memcpy(a, p->pub, sizeof a);
    pthread_mutex_unlock(&p->mu);
    size_t n = populate_some(&p->pop, a, NAT_POP_STEP);
    pthread_mutex_unlock(&p->pf_mu);
    return n > 0;
}

static void *pipe_reader(void *arg)
{
    nat_pipe *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->count == NAT_SLOTS && !p->stop) {
            pthread_mutex_unlock(&p->mu);
            bool did = pipe_populate_some(p, false);
            pthread_mutex_lock(&p->mu);
            if (!did && p->count == NAT_SLOTS && !p->stop)
                pthread_cond_wait(&p->has_room, &p->mu); /* the builder signals after each block */
        }
        bool stop = p->stop;
        nat_slot *s = &p->slots[(p->head + p->count) % NAT_SLOTS];
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return NULL;
        read_one_block(&p->src, s); /* a slot past the filled ones: the builder does not look at it */
        bool last = s->kind == NAT_EOF || s->kind == NAT_ERROR || (s->kind == NAT_LOST && s->region.to_end);
        pthread_mutex_lock(&p->mu);
        p->count++;
        pthread_cond_signal(&p->has_data);
        pthread_mutex_unlock(&p->mu);
        if (last)
            return NULL;
    }
}

/* Builds from the reader's slots in order; returns like read_blocks_serial. *started false: no
 * thread could be made and nothing was read (the caller goes serial). */
static sp_status read_blocks_piped(nat_reader *r, bool *started)
{
    nat_pipe *p = calloc(1, sizeof *p);
    *started = false;
    if (!p)
        return SP_OK;
    p->r = r;
    src_init(&p->src, r->ctx->in);
    arrays_of(r->ev, p->pub);
    pthread_t th;
    bool made = false;
    if (pthread_mutex_init(&p->mu, NULL) == 0) {
        if (pthread_mutex_init(&p->pf_mu, NULL) == 0) {
            if (pthread_cond_init(&p->has_data, NULL) == 0) {
                if (pthread_cond_init(&p->has_room, NULL) == 0) {
                    made = pthread_create(&th, NULL, pipe_reader, p) == 0;
                    if (!made)
                        pthread_cond_destroy(&p->has_room);
                }
                if (!made)
                    pthread_cond_destroy(&p->has_data);
            }
            if (!made)
                pthread_mutex_destroy(&p->pf_mu);
        }
        if (!made)
            pthread_mutex_destroy(&p->mu);
    }
    if (!made) {
        free(p);
        return SP_OK;
    }
    *started = true;
    sp_status st = SP_OK;
    for (bool more = true; st == SP_OK && more;) {
        pthread_mutex_lock(&p->mu);
        while (p->count == 0) {
            pthread_mutex_unlock(&p->mu);
            bool did = pipe_populate_some(p, true);
            pthread_mutex_lock(&p->mu);
            if (!did && p->count == 0)
                pthread_cond_wait(&p->has_data, &p->mu);
        }
        const nat_slot *s = &p->slots[p->head];
        pthread_mutex_unlock(&p->mu);
        bool grow = s->kind == NAT_BLOCK && may_grow(r->ev, s->len);
        if (grow) {
            pthread_mutex_lock(&p->pf_mu);
            if (reserve_room(r->ev, s->len)) {
                pthread_mutex_lock(&p->mu);
                arrays_of(r->ev, p->pub); /* the new addresses, before the reader may populate again */
                pthread_mutex_unlock(&p->mu);
                pthread_mutex_unlock(&p->pf_mu);
                grow = false;
            }
        }
        st = take_slot(r, s, &more);
        pthread_mutex_lock(&p->mu);
        arrays_of(r->ev, p->pub); /* new addresses after a growth (pf_mu still held), else new fills */
        p->head = (p->head + 1) % NAT_SLOTS;
        p->count--;
        pthread_cond_signal(&p->has_room);
        pthread_mutex_unlock(&p->mu);
        if (grow)
            pthread_mutex_unlock(&p->pf_mu);
    }
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->has_room);
    pthread_mutex_unlock(&p->mu);
    pthread_join(th, NULL);
    for (unsigned i = 0; i < NAT_SLOTS; i++)
        free(p->slots[i].buf);
    free(p->src.win);
    pthread_cond_destroy(&p->has_room);
    pthread_cond_destroy(&p->has_data);
    pthread_mutex_destroy(&p->pf_mu);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return st;
}

/* What the whole file says once read: whether the recorder closed it, and records lost for want of a
 * name (one warning for all of them, not one per record). */
static void finish_file(nat_reader *r)
{
    sp_ev_file *f = &r->ev->files[r->ctx->file];
    f->end = r->saw_end ? SP_TRACE_END_CLEAN : SP_TRACE_END_UNCLEAN;
    if (f->undecodable)
        sp_log(SP_LOG_WARN, "%s: %" PRIu64 " %s a name defined only in a lost block: not decoded, counted as lost",
               r->ctx->name, f->undecodable, f->undecodable == 1 ? "record uses" : "records use");
    if (r->repeated_labels > 1)
        sp_log(SP_LOG_WARN, "%s: %" PRIu64 " labels were already the ids of other requests of this file: skipped and "
               "counted", r->ctx->name, r->repeated_labels);
    if (!r->saw_end)
        sp_log(SP_LOG_WARN, "%s: no end record: the recorder did not close this trace cleanly (killed, crashed or "
               "still writing%s)", r->ctx->name, f->lost_regions ? ", or the end was in a lost part" : "");
}

/* relaxed: a test sets it before importing; it only picks a path, and both give the same result */
static atomic_int native_mode = SP_NATIVE_AUTO;

void sp_import_native_set_mode(int mode)
{
    atomic_store_explicit(&native_mode, mode, memory_order_relaxed);
}

/* The pipeline needs a second CPU. It used to also need the 1-minute load average to leave one free,
 * but that average counts this process's own recent imports (back-to-back imports kept it near 2 on
 * a 2-CPU machine, so it chose serial), and since the builder no longer holds pf_mu over each block
 * the pipeline costs about as much CPU as the serial path (docs/BENCHMARKS.md, "Native import"). */
static bool core_to_spare(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

static sp_status read_blocks(nat_reader *r)
{
    int mode = atomic_load_explicit(&native_mode, memory_order_relaxed);
    if (mode == SP_NATIVE_PIPELINED || (mode == SP_NATIVE_AUTO && core_to_spare())) {
        bool started;
        sp_status st = read_blocks_piped(r, &started);
        if (started)
            return st;
    }
    return read_blocks_serial(r);
}

sp_status sp_import_native(sp_import_ctx *ctx)
{
    nat_reader *r = calloc(1, sizeof *r); /* ~64 KiB of caches: not on the caller's stack */
    if (!r) {
        sp_errf(ctx->err, ctx->errlen, "%s: %s", ctx->name, sp_status_str(SP_ERR_NOMEM));
        return SP_ERR_NOMEM;
    }
    r->ctx = ctx;
    r->ev = ctx->ev;
    r->file = ctx->file;
    r->lenient = ctx->opt && ctx->opt->lenient;
    r->first_req = ctx->ev->n_requests;
    sp_status st = read_header(r);
    if (st == SP_OK) {
        /* ids 1..3 are the known stages in every trace, defined or not */
        if ((st = define_name(r, SP_STAGE_PREPROCESS, "preprocess", 10)) ||
            (st = define_name(r, SP_STAGE_QUEUE, "queue", 5)) ||
            (st = define_name(r, SP_STAGE_POSTPROCESS, "postprocess", 11)))
            sp_errf(ctx->err, ctx->errlen, "%s: %s", ctx->name, sp_status_str(st));
        else
            st = read_blocks(r);
    }
    if (st == SP_OK)
        finish_file(r);
    free(r->buf);
    free(r->names);
    sp_nids_free(&r->reqs);
    sp_nids_free(&r->batches);
    free(r);
    return st;
}
