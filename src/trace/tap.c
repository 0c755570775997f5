/* The live metrics' tap: the writer hands it every record it drains, and it joins each request's
 * records (its own, its outcome, its stage spans, the batches that name it and their device work) into
 * the stage partition of DESIGN 3 by the rules of docs/analysis.md section 1, the analyzer's
 * (src/analyze/partition.c), once they are all in: a record that happened before a request's own
 * record is drained by the writer cycle after the one that drained that record at the latest, so a
 * request is finished one cycle later (and `metrics_settle_ms` after, for device work that comes late,
 * e.g. CUPTI's buffers). Finished requests go into the aggregate (live_metrics.c); device work and
 * batch windows also go to the device timeline (devtime.c). Runs on the writer thread only. */
#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"
#include "common/span_heap.h"
#include "common/util_int.h"
#include "format/native_format.h"
#include "trace/recorder_int.h"
#include "trace/tap_int.h"

/* The generation records of the generation contract (docs/native-format.md once they land): a `step`
 * is a batch whose members come in pairs (request id, phase << 56 | tokens), a `token` is one output
 * token leaving the server. Read here when present; nothing else depends on them. */
#define TAP_REC_STEP 14u
#define TAP_REC_TOKEN 15u
#define TAP_STEP_BASE 64u
#define TAP_TOKEN_SIZE 32u

#define TAP_MAX_REQS ((size_t)1 << 22)      /* requests in flight */
#define TAP_MAX_BATCHES ((size_t)1 << 22)   /* batches in flight */
#define TAP_MAX_PER_REQ ((size_t)1 << 20)   /* spans or batches of one request */
#define TAP_ORPHAN_NS 300000000000ull       /* a request or batch whose own record has not come in 5 min */
#define TAP_GC_EVERY_NS 1000000000ull
#define TAP_NONE UINT32_MAX
#define TAP_TIME_NONE UINT64_MAX

void (*sp_tap_test_hook)(uint64_t request_id, const sp_mx_request *q);
uint64_t sp_tap_test_sweep_to;

/* Batch-window labels in priority order (DESIGN 3), as the analyzer's SP_LBL_*. */
enum { LBL_KERNEL = 0, LBL_H2D, LBL_D2H, LBL_GAP, LBL_COUNT };

typedef struct tap_span {
    uint64_t s, e;
    uint32_t name;
} tap_span;

typedef struct tap_req {
    uint64_t id;
    uint64_t arrival, done;
    uint64_t first_ns;            /* when the tap first heard of it (orphan collection) */
    uint64_t rec_ns, rec_cycle;   /* when its own record was drained */
    uint64_t first_tok, last_tok;
    tap_span *spans;
    uint32_t nspans;
    size_t cap_spans;
    uint32_t *bat;                /* batch pool indexes */
    uint32_t nbat;
    size_t cap_bat;
    uint32_t ntok;
    int32_t status;
    uint8_t outcome, has_record, queued, used;
    uint32_t next;                /* ready queue or free list */
} tap_req;

typedef struct tap_seg {
    uint64_t s, e;
    uint32_t label;
} tap_seg;

typedef struct tap_batch {
    uint64_t id;
    uint64_t start, end;
    uint64_t first_ns, rec_ns, rec_cycle;
    int64_t eff, padded;
    double waste;
    tap_seg *segs;                /* tied device work until settled, then the window's pieces */
    uint32_t nsegs;
    size_t cap_segs;
    uint32_t refs;                /* members not finished yet */
    uint32_t members;
    uint8_t has_record, settled, valid, used, queued;
    uint32_t next;
} tap_batch;

struct sp_tap {
    uint64_t settle_ns;
    uint64_t cycle;
    sp_mx *mx;
    sp_devtime *dt;
    sp_hmap req_map, batch_map;   /* id -> pool index */
    tap_req *reqs;
    size_t n_reqs, cap_reqs, live_reqs;
    uint32_t free_req;
    uint32_t rq_head, rq_tail;    /* requests whose own record came, in that order */
    tap_batch *bats;
    size_t n_bats, cap_bats, live_bats;
    uint32_t free_bat;
    uint32_t bq_head, bq_tail;    /* batches whose record came, in that order */
    /* names: id -> text (copied from the recorder) and -> row (-2: not looked up yet) */
    char **names;
    int32_t *name_row;
    size_t cap_names;
    uint64_t lost[SP_MX_LOST_COUNT];   /* counted outside the aggregate's lock, added per cycle */
    uint64_t last_gc;
    /* scratch of one request's partition */
    uint64_t rows[SP_MX_MAX_ROWS];
    tap_seg *bp;
    size_t cap_bp;
    struct sp_cspan *cs;
    size_t cap_cs;
    uint32_t *heap;
    size_t cap_heap;
    tap_seg *pieces;
    size_t cap_pieces;
    uint32_t *border;
    size_t cap_border;
    struct pev *pev;
    size_t cap_pev;
};

struct pev {
    uint64_t t;
    uint32_t label;
    int32_t delta;
};

sp_status sp_tap_create(unsigned settle_ms, sp_tap **out)
{
    sp_tap *t = calloc(1, sizeof *t);
    if (!t)
        return SP_ERR_NOMEM;
    t->settle_ns = (uint64_t)settle_ms * 1000000u;
    t->free_req = t->free_bat = TAP_NONE;
    t->rq_head = t->rq_tail = t->bq_head = t->bq_tail = TAP_NONE;
    t->last_gc = sp_now_ns();
    if (sp_mx_create(&t->mx) != SP_OK || sp_devtime_create(t->last_gc, &t->dt) != SP_OK) {
        sp_tap_destroy(t);
        return SP_ERR_NOMEM;
    }
    *out = t;
    return SP_OK;
}

static void free_pools(sp_tap *t)
{
    for (size_t i = 0; i < t->n_reqs; i++) {
        free(t->reqs[i].spans);
        free(t->reqs[i].bat);
    }
    for (size_t i = 0; i < t->n_bats; i++)
        free(t->bats[i].segs);
    free(t->reqs);
    free(t->bats);
    t->reqs = NULL;
    t->bats = NULL;
    t->n_reqs = t->cap_reqs = t->live_reqs = t->n_bats = t->cap_bats = t->live_bats = 0;
    t->free_req = t->free_bat = TAP_NONE;
    t->rq_head = t->rq_tail = t->bq_head = t->bq_tail = TAP_NONE;
    sp_hmap_free(&t->req_map);
    sp_hmap_free(&t->batch_map);
}

void sp_tap_destroy(sp_tap *t)
{
    if (!t)
        return;
    free_pools(t);
    for (size_t i = 0; i < t->cap_names; i++)
        free(t->names[i]);
    free(t->names);
    free(t->name_row);
    free(t->bp);
    free(t->cs);
    free(t->heap);
    free(t->pieces);
    free(t->border);
    free(t->pev);
    sp_devtime_destroy(t->dt);
    sp_mx_destroy(t->mx);
    free(t);
}

sp_mx *sp_tap_metrics(sp_tap *t) { return t->mx; }

static void lose(sp_tap *t, int reason, uint64_t n) { t->lost[reason] += n; }

/* ---------------- the pools ---------------- */

/* The maps' key of a request or batch id: mixed (a bijection, so still exact), because the ids of a
 * service are often sequential, and sequential keys placed by their low bits make every entry in
 * flight one run of slots, which each removal would shift back over whole (docs/BENCHMARKS.md,
 * "Live metrics"). */
static inline uint64_t map_key(uint64_t id) { return sp_mix64(id); }

static tap_req *req_get(sp_tap *t, uint64_t id, uint64_t now)
{
    uint32_t i = sp_hmap_find(&t->req_map, map_key(id), NULL, NULL);
    if (i != SP_HMAP_NONE)
        return &t->reqs[i];
    if (t->live_reqs >= TAP_MAX_REQS) {
        lose(t, SP_MX_LOST_FULL, 1);
        return NULL;
    }
    if (t->free_req != TAP_NONE) {
        i = t->free_req;
        t->free_req = t->reqs[i].next;
    } else {
        if (SP_GROW(t->reqs, t->cap_reqs, t->n_reqs + 1, TAP_MAX_REQS)) {
            lose(t, SP_MX_LOST_FULL, 1);
            return NULL;
        }
        i = (uint32_t)t->n_reqs++;
        memset(&t->reqs[i], 0, sizeof t->reqs[i]);
    }
    if (sp_hmap_put(&t->req_map, map_key(id), i)) {
        t->reqs[i].next = t->free_req;
        t->free_req = i;
        lose(t, SP_MX_LOST_FULL, 1);
        return NULL;
    }
    tap_req *q = &t->reqs[i];
    /* the span and batch arrays of a reused slot are kept (emptied) */
    tap_span *spans = q->spans;
    uint32_t *bat = q->bat;
    size_t cs = q->cap_spans, cb = q->cap_bat;
    memset(q, 0, sizeof *q);
    q->spans = spans;
    q->bat = bat;
    q->cap_spans = cs;
    q->cap_bat = cb;
    q->id = id;
    q->first_ns = now;
    q->used = 1;
    q->next = TAP_NONE;
    q->first_tok = TAP_TIME_NONE;
    t->live_reqs++;
    return q;
}

static void req_free(sp_tap *t, tap_req *q)
{
    uint32_t i = (uint32_t)(q - t->reqs);
    sp_hmap_remove(&t->req_map, map_key(q->id), i);
    q->used = 0;
    q->nspans = q->nbat = 0;
    q->next = t->free_req;
    t->free_req = i;
    t->live_reqs--;
}

static tap_batch *batch_get(sp_tap *t, uint64_t id, uint64_t now)
{
    uint32_t i = sp_hmap_find(&t->batch_map, map_key(id), NULL, NULL);
    if (i != SP_HMAP_NONE)
        return &t->bats[i];
    if (t->live_bats >= TAP_MAX_BATCHES) {
        lose(t, SP_MX_LOST_FULL, 1);
        return NULL;
    }
    if (t->free_bat != TAP_NONE) {
        i = t->free_bat;
        t->free_bat = t->bats[i].next;
    } else {
        if (SP_GROW(t->bats, t->cap_bats, t->n_bats + 1, TAP_MAX_BATCHES)) {
            lose(t, SP_MX_LOST_FULL, 1);
            return NULL;
        }
        i = (uint32_t)t->n_bats++;
        memset(&t->bats[i], 0, sizeof t->bats[i]);
    }
    if (sp_hmap_put(&t->batch_map, map_key(id), i)) {
        t->bats[i].next = t->free_bat;
        t->free_bat = i;
        lose(t, SP_MX_LOST_FULL, 1);
        return NULL;
    }
    tap_batch *b = &t->bats[i];
    tap_seg *segs = b->segs;
    size_t cap = b->cap_segs;
    memset(b, 0, sizeof *b);
    b->segs = segs;
    b->cap_segs = cap;
    b->id = id;
    b->first_ns = now;
    b->used = 1;
    b->next = TAP_NONE;
    t->live_bats++;
    return b;
}

static void batch_free(sp_tap *t, tap_batch *b)
{
    uint32_t i = (uint32_t)(b - t->bats);
    sp_hmap_remove(&t->batch_map, map_key(b->id), i);
    b->used = 0;
    b->nsegs = 0;
    b->next = t->free_bat;
    t->free_bat = i;
    t->live_bats--;
}

/* ---------------- reading records ---------------- */

/* Word k of the record at byte position `pos` of a ring of wmask + 1 words. */
static inline uint64_t word(const uint64_t *ring, size_t wmask, uint64_t pos, size_t k)
{
    return SP_LE64(ring[((size_t)(pos >> 3) + k) & wmask]);
}

static void on_request(sp_tap *t, uint64_t id, uint64_t arrival, uint64_t done, uint64_t now)
{
    tap_req *q = req_get(t, id, now);
    if (!q)
        return;
    q->arrival = arrival;
    q->done = done;
    q->has_record = 1;
    q->rec_ns = now;
    q->rec_cycle = t->cycle;
    if (!q->queued) {
        q->queued = 1;
        uint32_t i = (uint32_t)(q - t->reqs);
        if (t->rq_tail == TAP_NONE)
            t->rq_head = i;
        else
            t->reqs[t->rq_tail].next = i;
        t->rq_tail = i;
    }
}

static void on_outcome(sp_tap *t, uint64_t id, uint32_t outcome, int64_t status, uint64_t now)
{
    tap_req *q = req_get(t, id, now);
    if (!q)
        return;
    q->outcome = outcome < SP_OUTCOME_COUNT ? (uint8_t)outcome : SP_OUTCOME_ERROR;
    q->status = status > 0 && status <= SP_NATIVE_MAX_STATUS ? (int32_t)status : 0;
}

static void on_stage(sp_tap *t, uint64_t id, uint32_t name, uint64_t s, uint64_t e, uint64_t now)
{
    tap_req *q = req_get(t, id, now);
    if (!q)
        return;
    if (SP_GROW(q->spans, q->cap_spans, (size_t)q->nspans + 1, TAP_MAX_PER_REQ)) {
        lose(t, SP_MX_LOST_FULL, 1);
        return;
    }
    q->spans[q->nspans++] = (tap_span){s, e, name};
}

static void on_token(sp_tap *t, uint64_t id, uint64_t time, uint64_t now)
{
    tap_req *q = req_get(t, id, now);
    if (!q)
        return;
    q->ntok++;
    if (q->first_tok == TAP_TIME_NONE || time < q->first_tok)
        q->first_tok = time;
    if (time > q->last_tok)
        q->last_tok = time;
}

/* A batch (or generation step) record: its window and tokens, and each member's link to it. Members
 * are read word by word from the ring: `stride` words apart starting at word `first`. */
static void on_batch(sp_tap *t, const uint64_t *ring, size_t wmask, uint64_t pos, uint32_t n, size_t first,
                     size_t stride, uint64_t id, uint64_t s, uint64_t e, uint64_t eff, uint64_t padded, uint64_t now)
{
    tap_batch *b = batch_get(t, id, now);
    if (!b)
        return;
    if (b->has_record) {
        lose(t, SP_MX_LOST_MALFORMED, 1); /* a second record for one batch id */
        return;
    }
    b->has_record = 1;
    b->start = s;
    b->end = e;
    b->eff = (int64_t)eff;
    b->padded = (int64_t)padded;
    b->valid = e >= s;
    b->members = n;
    b->waste = 0;
    if (b->eff >= 0 && b->padded > 0) {
        /* DESIGN section 5: waste = 1 - effective / padded, clamped to [0, 1] */
        double w = 1.0 - (double)b->eff / (double)b->padded;
        b->waste = w < 0 ? 0 : w > 1 ? 1 : w;
    }
    b->rec_ns = now;
    b->rec_cycle = t->cycle;
    uint32_t bi = (uint32_t)(b - t->bats);
    for (uint32_t m = 0; m < n; m++) {
        tap_req *q = req_get(t, word(ring, wmask, pos, first + (size_t)m * stride), now);
        if (!q)
            continue;
        if (SP_GROW(q->bat, q->cap_bat, (size_t)q->nbat + 1, TAP_MAX_PER_REQ)) {
            lose(t, SP_MX_LOST_FULL, 1);
            continue;
        }
        q->bat[q->nbat++] = bi;
        b->refs++;
    }
    if (b->valid) {
        int why;
        if (!sp_devtime_add_batch(t->dt, (int64_t)id, s, e, b->waste, now, &why))
            lose(t, why, 1);
    }
    b->queued = 1;
    if (t->bq_tail == TAP_NONE)
        t->bq_head = bi;
    else
        t->bats[t->bq_tail].next = bi;
    t->bq_tail = bi;
}

/* Device work: to its batch (by id) for the batch's partition, and to the device timeline. */
static void on_work(sp_tap *t, uint64_t batch, uint32_t device, int kind, uint64_t s, uint64_t e, uint64_t now)
{
    int why;
    if (!sp_devtime_add_work(t->dt, device, kind, batch == SP_NO_BATCH, s, e, now, &why))
        lose(t, why, 1);
    if (batch == SP_NO_BATCH || kind == SP_DT_OTHER_COPY || e <= s)
        return; /* untied work is tied by window when the batch settles; other copies have no stage */
    tap_batch *b = batch_get(t, batch, now);
    if (!b)
        return;
    if (b->settled) {
        lose(t, SP_MX_LOST_LATE, 1);
        return;
    }
    if (SP_GROW(b->segs, b->cap_segs, (size_t)b->nsegs + 1, TAP_MAX_PER_REQ)) {
        lose(t, SP_MX_LOST_FULL, 1);
        return;
    }
    b->segs[b->nsegs++] = (tap_seg){s, e, (uint32_t)kind};
}

/* The stage-like label of a copy (the analyzer's act_label): d2d and memset are device compute. */
static int copy_kind(uint32_t k)
{
    switch (k) {
    case SP_COPY_H2D: return SP_DT_H2D;
    case SP_COPY_D2H: return SP_DT_D2H;
    case SP_COPY_D2D:
    case SP_COPY_MEMSET: return SP_DT_KERNEL;
    default: return SP_DT_OTHER_COPY;
    }
}

void sp_tap_feed(sp_tap *t, const uint64_t *ring, size_t wmask, uint64_t from, uint64_t to)
{
    uint64_t now = sp_now_ns();
    for (uint64_t pos = from; pos < to;) {
        uint64_t h = word(ring, wmask, pos, 0);
        uint32_t type = sp_rec_type(h), size = sp_rec_size(h), aux = sp_rec_aux(h);
        if (size < 8 || (size & 7) || size > to - pos)
            return; /* the writer discards a corrupt ring the same way */
        switch (type) {
        case SP_REC_REQUEST:
            if (size >= SP_REC_SIZE_REQUEST)
                on_request(t, word(ring, wmask, pos, 1), word(ring, wmask, pos, 2), word(ring, wmask, pos, 3), now);
            break;
        case SP_REC_OUTCOME:
            if (size >= SP_REC_SIZE_OUTCOME)
                on_outcome(t, word(ring, wmask, pos, 1), aux, (int64_t)word(ring, wmask, pos, 2), now);
            break;
        case SP_REC_STAGE:
            if (size >= SP_REC_SIZE_STAGE)
                on_stage(t, word(ring, wmask, pos, 1), aux, word(ring, wmask, pos, 2), word(ring, wmask, pos, 3), now);
            break;
        case SP_REC_BATCH:
            if (size >= SP_REC_SIZE_BATCH_BASE + 8u * aux)
                on_batch(t, ring, wmask, pos, aux, 6, 1, word(ring, wmask, pos, 1), word(ring, wmask, pos, 2),
                         word(ring, wmask, pos, 3), word(ring, wmask, pos, 4), word(ring, wmask, pos, 5), now);
            break;
        case TAP_REC_STEP:
            if (size >= TAP_STEP_BASE + 16u * aux)
                on_batch(t, ring, wmask, pos, aux, 8, 2, word(ring, wmask, pos, 1), word(ring, wmask, pos, 2),
                         word(ring, wmask, pos, 3), word(ring, wmask, pos, 4), word(ring, wmask, pos, 5), now);
            break;
        case TAP_REC_TOKEN:
            if (size >= TAP_TOKEN_SIZE)
                on_token(t, word(ring, wmask, pos, 1), word(ring, wmask, pos, 3), now);
            break;
        case SP_REC_KERNEL:
            if (size >= SP_REC_SIZE_KERNEL)
                on_work(t, word(ring, wmask, pos, 1), (uint32_t)word(ring, wmask, pos, 2), SP_DT_KERNEL,
                        word(ring, wmask, pos, 4), word(ring, wmask, pos, 5), now);
            break;
        case SP_REC_COPY:
            if (size >= SP_REC_SIZE_COPY)
                on_work(t, word(ring, wmask, pos, 1), (uint32_t)word(ring, wmask, pos, 2), copy_kind(aux),
                        word(ring, wmask, pos, 5), word(ring, wmask, pos, 6), now);
            break;
        default:
            break; /* labels, launches, and records this version does not know */
        }
        pos += size;
    }
}

/* ---------------- batches settle ---------------- */

static int pev_cmp(const void *a, const void *b)
{
    const struct pev *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->delta > y->delta) - (x->delta < y->delta); /* ends before starts */
}

struct untied_ctx {
    sp_tap *t;
    const tap_batch *b;
    size_t n;
    int failed;
};

static void add_pev(sp_tap *t, size_t *n, uint64_t s, uint64_t e, uint32_t label, int *failed)
{
    if (SP_GROW(t->pev, t->cap_pev, *n + 2, (size_t)1 << 30)) {
        *failed = 1;
        return;
    }
    t->pev[(*n)++] = (struct pev){s, label, +1};
    t->pev[(*n)++] = (struct pev){e, label, -1};
}

static void untied_piece(void *ctx, int kind, uint64_t s, uint64_t e)
{
    struct untied_ctx *u = ctx;
    if (kind == SP_DT_OTHER_COPY)
        return;
    uint64_t a = s > u->b->start ? s : u->b->start, z = e < u->b->end ? e : u->b->end;
    if (z > a)
        add_pev(u->t, &u->n, a, z, (uint32_t)kind, &u->failed);
}

/* The batch's window cut into kernel / h2d / d2h / gap pieces (docs/analysis.md section 1: kernel over
 * h2d over d2h over gap) from its tied work and the untied work on device 0 overlapping it. */
static void settle_batch(sp_tap *t, tap_batch *b, sp_mx *mx)
{
    b->settled = 1;
    sp_mx_add_batch(mx, b->members, b->eff, b->padded);
    if (!b->valid) {
        b->nsegs = 0;
        return;
    }
    struct untied_ctx u = {t, b, 0, 0};
    for (uint32_t k = 0; k < b->nsegs; k++) {
        const tap_seg *g = &b->segs[k];
        uint64_t a = g->s > b->start ? g->s : b->start, z = g->e < b->end ? g->e : b->end;
        if (z > a)
            add_pev(t, &u.n, a, z, g->label, &u.failed);
    }
    sp_devtime_untied(t->dt, b->start, b->end, untied_piece, &u);
    add_pev(t, &u.n, b->start, b->end, LBL_GAP, &u.failed);
    b->nsegs = 0;
    if (u.failed || b->end == b->start) {
        if (u.failed)
            lose(t, SP_MX_LOST_FULL, 1);
        return;
    }
    qsort(t->pev, u.n, sizeof *t->pev, pev_cmp);
    uint32_t cnt[LBL_COUNT] = {0};
    size_t k = 0;
    while (k < u.n) {
        uint64_t at = t->pev[k].t;
        while (k < u.n && t->pev[k].t == at) {
            if (t->pev[k].delta > 0)
                cnt[t->pev[k].label]++;
            else
                cnt[t->pev[k].label]--;
            k++;
        }
        if (k == u.n)
            break;
        uint64_t next = t->pev[k].t;
        int top = -1;
        for (int l = 0; l < LBL_COUNT && top < 0; l++)
            if (cnt[l])
                top = l;
        if (top < 0 || next == at)
            continue;
        if (b->nsegs && b->segs[b->nsegs - 1].e == at && b->segs[b->nsegs - 1].label == (uint32_t)top) {
            b->segs[b->nsegs - 1].e = next;
            continue;
        }
        if (SP_GROW(b->segs, b->cap_segs, (size_t)b->nsegs + 1, TAP_MAX_PER_REQ)) {
            lose(t, SP_MX_LOST_FULL, 1);
            return;
        }
        b->segs[b->nsegs++] = (tap_seg){at, next, (uint32_t)top};
    }
}

static void batch_release(sp_tap *t, uint32_t bi)
{
    tap_batch *b = &t->bats[bi];
    if (b->refs)
        b->refs--;
    if (!b->refs && b->settled)
        batch_free(t, b);
}

/* ---------------- names ---------------- */

/* Copies the recorder's text of name `id` into the tap's cache (names are never renamed). Takes the
 * recorder's names lock, so it runs before the aggregate's lock is taken (lock order names, then
 * recorder, then aggregate). */
static void name_fetch(sp_tap *t, struct sp_recorder *rec, uint32_t id)
{
    if (id < t->cap_names && t->names[id])
        return;
    if (id >= t->cap_names) {
        size_t cap = t->cap_names ? t->cap_names : 16;
        while (cap <= id)
            cap *= 2;
        char **nn = realloc(t->names, cap * sizeof *nn);
        if (!nn)
            return;
        t->names = nn;
        int32_t *nr = realloc(t->name_row, cap * sizeof *nr);
        if (!nr)
            return;
        t->name_row = nr;
        for (size_t i = t->cap_names; i < cap; i++) {
            t->names[i] = NULL;
            t->name_row[i] = -2;
        }
        t->cap_names = cap;
    }
    pthread_mutex_lock(&rec->names_mu);
    if (rec->names && id > 0 && id < rec->nnames)
        t->names[id] = strdup(rec->names[id]);
    pthread_mutex_unlock(&rec->names_mu);
}

/* The row of stage name `id` (docs/analysis.md "Stage rows": a span named like a built-in row adds to
 * it), -1 when the name is unknown. Under the aggregate's lock. */
static int name_row(sp_tap *t, uint32_t id)
{
    if (id >= t->cap_names || !t->names[id])
        return -1;
    if (t->name_row[id] != -2)
        return t->name_row[id];
    static const char *const fixed[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h", "postprocess",
                                        "network", "other"};
    static const int rows[] = {SP_MX_ROW_QUEUE, SP_MX_ROW_PREPROCESS, SP_MX_ROW_H2D, SP_MX_ROW_KERNEL, SP_MX_ROW_GAP,
                               SP_MX_ROW_D2H, SP_MX_ROW_POSTPROCESS, SP_MX_ROW_NETWORK, SP_MX_ROW_OTHER};
    int row = -3;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(t->names[id], fixed[i]) == 0)
            row = rows[i];
    if (row == -3)
        row = sp_mx_named_row(t->mx, t->names[id]);
    if (row >= 0)
        t->name_row[id] = row;
    return row;
}

/* ---------------- a request's partition (docs/analysis.md section 1) ---------------- */

static int cspan_order(const void *a, const void *b)
{
    const struct sp_cspan *x = a, *y = b;
    if (x->rs != y->rs)
        return x->rs < y->rs ? -1 : 1;
    if (x->re != y->re)
        return x->re < y->re ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The request's batches in window start order, equal starts by id (the analyzer's order). */
static void order_batches(sp_tap *t, tap_req *q)
{
    for (uint32_t i = 1; i < q->nbat; i++) {
        uint32_t x = q->bat[i];
        uint32_t j = i;
        while (j > 0) {
            const tap_batch *p = &t->bats[q->bat[j - 1]], *c = &t->bats[x];
            int after = p->start > c->start || (p->start == c->start && (int64_t)p->id > (int64_t)c->id);
            if (!after)
                break;
            q->bat[j] = q->bat[j - 1];
            j--;
        }
        q->bat[j] = x;
    }
}

/* Request q's stage times into t->rows (n_rows of them) and its padding; false when out of memory. */
static bool partition(sp_tap *t, tap_req *q, size_t n_rows, double *padding)
{
    uint64_t *tm = t->rows;
    memset(tm, 0, n_rows * sizeof *tm);
    *padding = 0;
    const uint64_t lo = q->arrival, hi = q->done;
    order_batches(t, q);
    /* batch pieces: windows in start order, clipped to the life; the earlier batch keeps an overlap */
    uint64_t prev_end = 0, first_s = TAP_TIME_NONE, last_e = 0, in_batches = 0;
    size_t n_bp = 0;
    for (uint32_t k = 0; k < q->nbat; k++) {
        const tap_batch *b = &t->bats[q->bat[k]];
        if (!b->valid)
            continue;
        uint64_t es = b->start > prev_end ? b->start : prev_end;
        if (es < lo)
            es = lo;
        uint64_t ee = b->end < hi ? b->end : hi;
        if (b->end > prev_end)
            prev_end = b->end;
        if (ee <= es)
            continue;
        if (first_s == TAP_TIME_NONE)
            first_s = es;
        last_e = ee;
        for (uint32_t j = 0; j < b->nsegs; j++) {
            const tap_seg *g = &b->segs[j];
            uint64_t s = g->s > es ? g->s : es, e = g->e < ee ? g->e : ee;
            if (e <= s)
                continue;
            if (SP_GROW(t->bp, t->cap_bp, n_bp + 1, TAP_MAX_PER_REQ * 64))
                return false;
            t->bp[n_bp++] = (tap_seg){s, e, g->label};
            uint64_t len = e - s;
            in_batches += len;
            switch (g->label) {
            case LBL_KERNEL:
                tm[SP_MX_ROW_KERNEL] += len;
                /* DESIGN section 5: padding time = kernel time in the window x the batch's waste */
                *padding += (double)len * b->waste;
                break;
            case LBL_H2D: tm[SP_MX_ROW_H2D] += len; break;
            case LBL_D2H: tm[SP_MX_ROW_D2H] += len; break;
            default: tm[SP_MX_ROW_GAP] += len; break;
            }
        }
    }
    /* span pieces: clipped to the life, the latest recorded start wins where spans overlap */
    if (SP_GROW(t->cs, t->cap_cs, (size_t)q->nspans + 1, TAP_MAX_PER_REQ) ||
        SP_GROW(t->heap, t->cap_heap, (size_t)q->nspans + 1, TAP_MAX_PER_REQ))
        return false;
    size_t m = 0;
    for (uint32_t k = 0; k < q->nspans; k++) {
        const tap_span *sp = &q->spans[k];
        uint64_t s = sp->s > lo ? sp->s : lo, e = sp->e < hi ? sp->e : hi;
        int row = name_row(t, sp->name);
        if (e <= s || row < 0 || (size_t)row >= n_rows)
            continue;
        t->cs[m++] = (struct sp_cspan){s, e, sp->s, sp->e, t->names[sp->name], row};
    }
    qsort(t->cs, m, sizeof *t->cs, cspan_order);
    size_t n_pc = 0, nh = 0, i = 0;
    uint64_t at = m ? t->cs[0].s : 0;
    while (i < m || nh) {
        while (i < m && t->cs[i].s <= at)
            sp_cspan_heap_push(t->heap, &nh, t->cs, (uint32_t)i++);
        while (nh && t->cs[t->heap[0]].e <= at)
            sp_cspan_heap_pop(t->heap, &nh, t->cs);
        if (!nh) {
            if (i == m)
                break;
            at = t->cs[i].s;
            continue;
        }
        const struct sp_cspan *top = &t->cs[t->heap[0]];
        uint64_t next = top->e;
        if (i < m && t->cs[i].s < next)
            next = t->cs[i].s;
        if (n_pc && t->pieces[n_pc - 1].e == at && t->pieces[n_pc - 1].label == (uint32_t)top->row) {
            t->pieces[n_pc - 1].e = next;
        } else {
            if (SP_GROW(t->pieces, t->cap_pieces, n_pc + 1, TAP_MAX_PER_REQ * 2))
                return false;
            t->pieces[n_pc++] = (tap_seg){at, next, (uint32_t)top->row};
        }
        at = next;
    }
    /* span pieces get what the batch pieces leave of them */
    uint64_t in_spans = 0, spans_between = 0;
    size_t j = 0;
    for (size_t k = 0; k < n_pc; k++) {
        const tap_seg *x = &t->pieces[k];
        while (j < n_bp && t->bp[j].e <= x->s)
            j++;
        uint64_t ov = 0;
        for (size_t b = j; b < n_bp && t->bp[b].s < x->e; b++) {
            uint64_t s = t->bp[b].s > x->s ? t->bp[b].s : x->s, e = t->bp[b].e < x->e ? t->bp[b].e : x->e;
            ov += e - s;
        }
        uint64_t own = x->e - x->s - ov;
        tm[x->label] += own;
        in_spans += own;
        if (first_s != TAP_TIME_NONE) {
            uint64_t s = x->s > first_s ? x->s : first_s, e = x->e < last_e ? x->e : last_e;
            if (e > s)
                spans_between += (e - s) - ov;
        }
    }
    /* DESIGN section 3: between the request's batch windows, time no span covers is queue; what
     * nothing covers is other */
    uint64_t between = first_s != TAP_TIME_NONE ? (last_e - first_s) - in_batches - spans_between : 0;
    tm[SP_MX_ROW_QUEUE] += between;
    tm[SP_MX_ROW_OTHER] += (hi - lo) - in_batches - in_spans - between;
    return true;
}

/* Finishes request q: its figures into the aggregate (under its lock), its batches released. */
static void finish_request(sp_tap *t, tap_req *q)
{
    sp_mx_request r;
    memset(&r, 0, sizeof r);
    r.outcome = (sp_outcome)q->outcome;
    r.status = q->status;
    if (q->done < q->arrival) {
        lose(t, SP_MX_LOST_MALFORMED, 1);
    } else {
        r.latency_ns = q->done - q->arrival;
        bool ok = true;
        if (r.outcome == SP_OUTCOME_OK) {
            /* named rows are created as the spans are read, so take the count after */
            ok = partition(t, q, SP_MX_MAX_ROWS, &r.padding_ns);
            r.row_ns = t->rows;
            r.n_rows = SP_MX_MAX_ROWS;
            if (q->ntok) {
                r.tokens = q->ntok;
                r.ttft_ns = q->first_tok > q->arrival ? q->first_tok - q->arrival : 0;
                if (q->ntok >= 2)
                    r.tpot_ns = (q->last_tok - q->first_tok) / (q->ntok - 1);
            }
        }
        if (ok) {
            sp_mx_add_request(t->mx, &r);
            if (sp_tap_test_hook)
                sp_tap_test_hook(q->id, &r);
        } else {
            lose(t, SP_MX_LOST_FULL, 1);
        }
    }
    for (uint32_t k = 0; k < q->nbat; k++)
        batch_release(t, q->bat[k]);
    req_free(t, q);
}

/* Whether request q's own record and its batches are in (and settled). */
static bool req_ready(const sp_tap *t, const tap_req *q, uint64_t now, bool force)
{
    if (!force && (q->rec_cycle + 1 >= t->cycle || q->rec_ns + t->settle_ns > now))
        return false;
    for (uint32_t k = 0; k < q->nbat; k++)
        if (!t->bats[q->bat[k]].settled)
            return false;
    return true;
}

/* Requests or batches whose own record has not come within TAP_ORPHAN_NS: left out and counted. */
static void collect_orphans(sp_tap *t, uint64_t now)
{
    for (size_t i = 0; i < t->n_reqs; i++) {
        tap_req *q = &t->reqs[i];
        if (q->used && !q->has_record && now - q->first_ns > TAP_ORPHAN_NS) {
            lose(t, SP_MX_LOST_ORPHANED, 1);
            for (uint32_t k = 0; k < q->nbat; k++)
                batch_release(t, q->bat[k]);
            req_free(t, q);
        }
    }
    for (size_t i = 0; i < t->n_bats; i++) {
        tap_batch *b = &t->bats[i];
        if (b->used && !b->has_record && !b->refs && now - b->first_ns > TAP_ORPHAN_NS) {
            lose(t, SP_MX_LOST_ORPHANED, 1);
            batch_free(t, b);
        }
    }
}

void sp_tap_cycle(sp_tap *t, struct sp_recorder *rec, uint64_t now, bool force)
{
    t->cycle++;
    /* names first, outside the aggregate's lock (lock order): those of the requests that may finish
     * in this cycle, the queue's prefix whose own records are old enough */
    for (uint32_t i = t->rq_head; i != TAP_NONE; i = t->reqs[i].next) {
        const tap_req *q = &t->reqs[i];
        if (!force && (q->rec_cycle + 1 >= t->cycle || q->rec_ns + t->settle_ns > now))
            break;
        for (uint32_t k = 0; k < q->nspans; k++)
            name_fetch(t, rec, q->spans[k].name);
    }
    sp_mx_lock(t->mx);
    while (t->bq_head != TAP_NONE) {
        tap_batch *b = &t->bats[t->bq_head];
        if (!force && (b->rec_cycle + 1 >= t->cycle || b->rec_ns + t->settle_ns > now))
            break;
        t->bq_head = b->next;
        if (t->bq_head == TAP_NONE)
            t->bq_tail = TAP_NONE;
        b->queued = 0;
        settle_batch(t, b, t->mx);
        if (!b->refs)
            batch_free(t, b);
    }
    while (t->rq_head != TAP_NONE) {
        tap_req *q = &t->reqs[t->rq_head];
        if (!req_ready(t, q, now, force))
            break;
        t->rq_head = q->next;
        if (t->rq_head == TAP_NONE)
            t->rq_tail = TAP_NONE;
        finish_request(t, q);
    }
    if (now - t->last_gc >= TAP_GC_EVERY_NS) {
        t->last_gc = now;
        collect_orphans(t, now);
    }
    sp_devtime_sweep(t->dt, now, t->settle_ns, force ? sp_tap_test_sweep_to : 0, t->mx);
    for (int k = 0; k < SP_MX_LOST_COUNT; k++) {
        if (t->lost[k])
            sp_mx_add_lost(t->mx, k, t->lost[k]);
        t->lost[k] = 0;
    }
    sp_mx_set_pending(t->mx, t->live_reqs);
    sp_mx_unlock(t->mx);
}

void sp_tap_fork_prepare(sp_tap *t) { sp_mx_lock(t->mx); }
void sp_tap_fork_parent(sp_tap *t) { sp_mx_unlock(t->mx); }

void sp_tap_fork_child(sp_tap *t)
{
    /* the child starts with empty metrics: what the parent had in flight is the parent's */
    free_pools(t);
    sp_mx_fork_child(t->mx);
    sp_devtime *fresh;
    if (sp_devtime_create(sp_now_ns(), &fresh) == SP_OK) {
        sp_devtime_destroy(t->dt);
        t->dt = fresh;
    }
    memset(t->lost, 0, sizeof t->lost);
}
