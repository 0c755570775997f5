/* Share of pXX (DESIGN section 4): the requests around the pXX rank, widened to at least
 * min(20, n), and each stage's part of their summed end-to-end latency. Also the stage rows'
 * per-stage percentiles. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/sort.h"

void sp_ana_share_window(size_t n, unsigned xx, size_t *lo_out, size_t *hi_out)
{
    if (!n) {
        *lo_out = *hi_out = 0;
        return;
    }
    /* DESIGN section 4: ranks ceil((xx-1) n / 100) .. ceil((xx+1) n / 100), p99 through n; the
     * nearest ranks of p(xx-1) and p(xx+1), so clamped to [1, n] */
    size_t lo = sp_rank(n, SP_PCT(xx - 1));
    size_t hi = xx >= 99 ? n : sp_rank(n, SP_PCT(xx + 1));
    if (lo > hi)
        lo = hi;
    size_t need = n < 20 ? n : 20;
    /* widen one below, then one above, alternately; an exhausted side hands its turn to the other */
    int below = 1;
    while (hi - lo + 1 < need) {
        if (below) {
            if (lo > 1)
                lo--;
            else
                hi++;
        } else {
            if (hi < n)
                hi++;
            else
                lo--;
        }
        below = !below;
    }
    *lo_out = lo;
    *hi_out = hi;
}

void sp_share_window(size_t n, unsigned xx, size_t *lo, size_t *hi)
{
    if (xx < 1 || xx > 99) { /* no pXX window outside these */
        *lo = *hi = 0;
        return;
    }
    sp_ana_share_window(n, xx, lo, hi);
}

/* One analysed request in the latency ranking, with the stable key that breaks ties (DESIGN 8a):
 * end-to-end latency, then the request id text, then arrival, then the file. A file never holds two
 * requests with one id, so no two requests compare equal and the order never depends on the order of
 * lines. */
struct lat_key {
    uint64_t life;
    sp_ev_idkey id;          /* the id's text, or its number (events_int.h, reqid.c) */
    uint64_t arrival;
    uint32_t file;
    uint32_t pos;
};

static int lat_key_cmp(const void *a, const void *b)
{
    const struct lat_key *x = a, *y = b;
    if (x->life != y->life)
        return x->life < y->life ? -1 : 1;
    int c = sp_ev_id_key_cmp(&x->id, &y->id);
    if (c)
        return c;
    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return (x->file > y->file) - (x->file < y->file);
}

/* The first eight bytes of a string as a big-endian number, zero-padded: two such prefixes order as
 * strcmp orders the strings' first eight bytes (strcmp compares unsigned chars; a string that ends
 * early pads with 0, below every byte of a longer one). Equal prefixes say nothing more. */
static uint64_t id_prefix(const char *s)
{
    uint64_t v = 0;
    unsigned i = 0;
    for (; i < 8 && s[i]; i++)
        v = v << 8 | (unsigned char)s[i];
    return i ? v << (8 * (8 - i)) : 0; /* a shift by 64 is undefined */
}

/* A ranking record for the radix passes, 16 bytes: the key a pass sorts on, what breaks its ties and
 * the request's position. The ranking sorts (pre, -, pos) by the id prefix first, then (life, rank of
 * the prefix, pos) by latency: two stable LSD sorts of 16-byte records instead of one of 24, a third
 * less scratch and memory traffic (issue 15: the stage rows' scratch is the analysis' peak). */
struct rank_rec {
    uint64_t key;
    uint32_t tie;
    uint32_t pos;
};

/* One stable counting pass on byte `shift / 8` of the key (the bytewise route, sp_ana_rank_wide = 0). */
static void rank_pass(const struct rank_rec *src, struct rank_rec *dst, size_t n, unsigned shift)
{
    size_t count[256] = {0};
    for (size_t i = 0; i < n; i++)
        count[(src[i].key >> shift) & 0xff]++;
    size_t sum = 0;
    for (size_t d = 0; d < 256; d++) {
        size_t c = count[d];
        count[d] = sum;
        sum += c;
    }
    for (size_t i = 0; i < n; i++)
        dst[count[(src[i].key >> shift) & 0xff]++] = src[i];
}

int sp_ana_rank_wide = 1;
int sp_ana_rank_pack = 1;

#define RANK_DIGIT_MAX 11u /* bits: 2,048 counters of 4 bytes, 8 KiB a digit */

/* Every digit's counts in one pass: nd digits of `bits` bits from bit `lo` on of each key KEY(i),
 * digit d's 2^bits counters at count + (d << bits); up to three digits written out (the usual
 * rankings: ids of up to eight digits, latencies below 2^33). The body of rank_counts and
 * packed_counts, which differ only in where a key is. */
#define RANK_COUNTS(KEY)                                                                           \
    do {                                                                                           \
        const uint64_t mask = ((uint64_t)1 << bits) - 1;                                           \
        uint32_t *c0 = count, *c1 = count + ((size_t)1 << bits), *c2 = count + ((size_t)2 << bits); \
        const unsigned b1 = bits, b2 = 2 * bits;                                                   \
        if (nd == 1) {                                                                             \
            for (size_t i = 0; i < n; i++)                                                         \
                c0[(KEY(i) >> lo) & mask]++;                                                       \
        } else if (nd == 2) {                                                                      \
            for (size_t i = 0; i < n; i++) {                                                       \
                uint64_t k = KEY(i) >> lo;                                                         \
                c0[k & mask]++;                                                                    \
                c1[(k >> b1) & mask]++;                                                            \
            }                                                                                      \
        } else if (nd == 3) {                                                                      \
            for (size_t i = 0; i < n; i++) {                                                       \
                uint64_t k = KEY(i) >> lo;                                                         \
                c0[k & mask]++;                                                                    \
                c1[(k >> b1) & mask]++;                                                            \
                c2[(k >> b2) & mask]++;                                                            \
            }                                                                                      \
        } else {                                                                                   \
            for (size_t i = 0; i < n; i++) {                                                       \
                uint64_t k = KEY(i) >> lo;                                                         \
                for (unsigned d = 0; d < nd; d++)                                                  \
                    count[((size_t)d << bits) + ((k >> (d * bits)) & mask)]++;                     \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void rank_counts(const struct rank_rec *s, size_t n, unsigned lo, unsigned bits, uint32_t *count, unsigned nd)
{
#define REC_KEY(i) s[i].key
    RANK_COUNTS(REC_KEY);
#undef REC_KEY
}

static void packed_counts(const uint64_t *v, size_t n, unsigned lo, unsigned bits, uint32_t *count, unsigned nd)
{
#define PACKED_KEY(i) v[i]
    RANK_COUNTS(PACKED_KEY);
#undef PACKED_KEY
}

/* The digits of a wide sort (rank_sort_wide, packed_sort_wide): as few of up to RANK_DIGIT_MAX bits as
 * cover the span of bits in which some keys differ (`varying`, not 0), from bit *lo on. */
static void rank_digits(uint64_t varying, unsigned *lo, unsigned *nd, unsigned *bits)
{
    *lo = (unsigned)__builtin_ctzll(varying);
    unsigned width = 64 - (unsigned)__builtin_clzll(varying) - *lo;
    *nd = (width + RANK_DIGIT_MAX - 1) / RANK_DIGIT_MAX;
    *bits = (width + *nd - 1) / *nd;
}

/* Turns a digit's counts c[0..radix) into the places its keys go; true when one digit value holds
 * all n keys (the pass would move nothing). */
static int rank_offsets(uint32_t *c, size_t radix, size_t n)
{
    uint32_t sum = 0;
    int constant = 0;
    for (size_t v = 0; v < radix; v++) {
        uint32_t x = c[v];
        constant |= x == n;
        c[v] = sum;
        sum += x;
    }
    return constant;
}

/* Sorts src[0..n) by key over the span of bits in which some keys differ (`varying`, not 0), in
 * digits of up to RANK_DIGIT_MAX bits, as few as cover that span, their counts all taken in one pass
 * first; a digit every key shares moves nothing and is skipped. n < 2^32 (pos is 32 bits). Returns 0
 * without sorting when the counts cannot be allocated. */
static int rank_sort_wide(struct rank_rec **src, struct rank_rec **dst, size_t n, uint64_t varying)
{
    unsigned lo, nd, bits;
    rank_digits(varying, &lo, &nd, &bits);
    size_t radix = (size_t)1 << bits;
    uint64_t mask = radix - 1;
    uint32_t *count = calloc(nd * radix, sizeof *count);
    if (!count)
        return 0;
    rank_counts(*src, n, lo, bits, count, nd);
    for (unsigned d = 0; d < nd; d++) {
        uint32_t *c = count + d * radix;
        unsigned shift = lo + d * bits;
        if (rank_offsets(c, radix, n))
            continue;
        const struct rank_rec *from = *src;
        struct rank_rec *to = *dst;
        for (size_t i = 0; i < n; i++)
            to[c[(from[i].key >> shift) & mask]++] = from[i];
        *dst = *src;
        *src = to;
    }
    free(count);
    return 1;
}

/* rank_sort_wide for keys below 2^32 packed with their position into one 8-byte value (key << 32 |
 * pos: half the bytes of a record to move); `varying` is the packed values' (bits 32 and up only).
 * The same stable order: pos is already ascending within equal keys and no pass reorders equal keys. */
static int packed_sort_wide(uint64_t **src, uint64_t **dst, size_t n, uint64_t varying)
{
    unsigned lo, nd, bits;
    rank_digits(varying, &lo, &nd, &bits);
    size_t radix = (size_t)1 << bits;
    uint64_t mask = radix - 1;
    uint32_t *count = calloc(nd * radix, sizeof *count);
    if (!count)
        return 0;
    packed_counts(*src, n, lo, bits, count, nd);
    for (unsigned d = 0; d < nd; d++) {
        uint32_t *c = count + d * radix;
        unsigned shift = lo + d * bits;
        if (rank_offsets(c, radix, n))
            continue;
        const uint64_t *from = *src;
        uint64_t *to = *dst;
        for (size_t i = 0; i < n; i++)
            to[c[(from[i] >> shift) & mask]++] = from[i];
        *dst = *src;
        *src = to;
    }
    free(count);
    return 1;
}

/* Sorts src[0..n) by key, stably, with LSD passes over the bits in which some keys differ (a bit
 * every key shares moves nothing); the result ends in *src or *dst, whichever it names on return. A
 * stable sort by the key has one result, so the digits chosen change nothing but the time: wide ones
 * (rank_sort_wide, fewer passes) unless sp_ana_rank_wide is 0, then a pass per varying byte.
 * `varying`: the OR of the keys XOR their AND, taken where the records were filled. */
static void rank_sort(struct rank_rec **src, struct rank_rec **dst, size_t n, uint64_t varying)
{
    if (!varying || (sp_ana_rank_wide && n <= UINT32_MAX && rank_sort_wide(src, dst, n, varying)))
        return;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if (!((varying >> shift) & 0xff))
            continue;
        rank_pass(*src, *dst, n, shift);
        struct rank_rec *t = *src;
        *src = *dst;
        *dst = t;
    }
}

sp_status sp_ana_rank_keys(const uint64_t *key, size_t n, uint32_t *order)
{
    struct rank_rec *rec = malloc((n ? n : 1) * sizeof *rec), *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!rec || !tmp || n > UINT32_MAX) {
        free(rec);
        free(tmp);
        return rec && tmp ? SP_ERR_INVALID : SP_ERR_NOMEM;
    }
    uint64_t or_k = 0, and_k = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        or_k |= key[i];
        and_k &= key[i];
    }
    if (sp_ana_rank_pack && or_k <= UINT32_MAX) { /* build_by_latency's route for numeric ids */
        uint64_t *ps = (uint64_t *)rec, *pd = ps + n;
        for (size_t i = 0; i < n; i++)
            ps[i] = key[i] << 32 | i;
        uint64_t varying = (or_k ^ and_k) << 32;
        sp_status st = !varying || packed_sort_wide(&ps, &pd, n, varying) ? SP_OK : SP_ERR_NOMEM;
        for (size_t i = 0; !st && i < n; i++)
            order[i] = (uint32_t)ps[i];
        free(rec);
        free(tmp);
        return st;
    }
    for (size_t i = 0; i < n; i++)
        rec[i] = (struct rank_rec){key[i], 0, (uint32_t)i};
    struct rank_rec *src = rec, *dst = tmp;
    rank_sort(&src, &dst, n, or_k ^ and_k);
    for (size_t i = 0; i < n; i++)
        order[i] = src[i].pos;
    free(rec);
    free(tmp);
    return SP_OK;
}

int sp_ana_rank_life_pack = 1;

/* The requests in id-prefix order (build_by_latency's first sort): packed values (prefix key << 32 |
 * position) where `packed` is not NULL, else 16-byte records. */
struct pre_order {
    const uint64_t *packed;
    const struct rank_rec *rec;
};

static inline uint32_t pre_pos(const struct pre_order *o, size_t j)
{
    return o->packed ? (uint32_t)o->packed[j] : o->rec[j].pos;
}

static inline uint64_t pre_key(const struct pre_order *o, size_t j)
{
    return o->packed ? o->packed[j] >> 32 : o->rec[j].key;
}

/* Sorts runs[0..m) of requests that tie on (life, id prefix) by the full key (lat_key_cmp) into
 * out[0..m); *lk grows to hold them. SP_ERR_NOMEM. */
static sp_status order_run(const sp_ana *a, const uint32_t *pos, size_t m, struct lat_key **lk, size_t *cap,
                           uint32_t *out)
{
    if (m > *cap) {
        struct lat_key *g = realloc(*lk, m * sizeof *g);
        if (!g)
            return SP_ERR_NOMEM;
        *lk = g;
        *cap = m;
    }
    const sp_events *ev = a->ev;
    for (size_t k = 0; k < m; k++) {
        const sp_ev_request *q = &ev->requests[a->reqs[pos[k]]];
        (*lk)[k] = (struct lat_key){a->life[pos[k]], sp_ev_id_key(ev, q), q->arrival_ns, q->file, pos[k]};
    }
    qsort(*lk, m, sizeof **lk, lat_key_cmp);
    for (size_t k = 0; k < m; k++)
        out[k] = (*lk)[k].pos;
    return SP_OK;
}

/* The ranking's sort by latency on 8-byte values, half a record's bytes through every pass: each
 * request's life (below 2^32) << 32 | a flag at bit 31 | its position, taken in the prefix order `o`.
 * The flag says the request's prefix equals that of the one before it in the prefix order. A stable
 * sort by life leaves equal lives in prefix order, as the records' (life, prefix rank) sort does. Two
 * neighbours of equal life with equal prefixes then have the second's flag set (every request between
 * them in the prefix order has their prefix), and a flag is never set across a change of prefix, so
 * the runs of equal life joined by flags are whole runs of (life, prefix), or several of them in
 * prefix order: each ordered by the full key (lat_key_cmp, which orders prefixes as the prefix order
 * does) is the ranking, read in one sequential pass. lv and ld hold n values each; n < 2^31. *taken
 * is 0 (nothing written) when some life is 2^32 or more. */
static sp_status by_life_packed(sp_ana *a, const struct pre_order *o, uint64_t *lv, uint64_t *ld, int *taken)
{
    size_t n = a->n_reqs;
    uint64_t or_k = 0, and_k = ~(uint64_t)0, prev = 0;
    const uint64_t flag = (uint64_t)1 << 31, low = flag - 1;
    *taken = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t pos = pre_pos(o, j);
        uint64_t life = a->life[pos], pre = pre_key(o, j);
        if (life > UINT32_MAX)
            return SP_OK;
        lv[j] = life << 32 | (j && pre == prev ? flag : 0) | pos;
        prev = pre;
        or_k |= life;
        and_k &= life;
    }
    *taken = 1;
    uint64_t *s = lv, *d = ld;
    uint64_t varying = (or_k ^ and_k) << 32;
    if (varying && !packed_sort_wide(&s, &d, n, varying))
        return SP_ERR_NOMEM;
    /* the flagged runs, each in the full key's order; the rest as sorted. d (free now) holds a run's
     * positions */
    struct lat_key *lk = NULL;
    size_t cap = 0;
    uint32_t *run = (uint32_t *)d;
    sp_status st = SP_OK;
    for (size_t i = 0; i < n && !st;) {
        uint64_t life = s[i] >> 32;
        size_t e = i + 1;
        while (e < n && s[e] >> 32 == life && (s[e] & flag))
            e++;
        if (e - i == 1) {
            a->by_latency[i] = (uint32_t)(s[i] & low);
        } else {
            for (size_t k = i; k < e; k++)
                run[k - i] = (uint32_t)(s[k] & low);
            st = order_run(a, run, e - i, &lk, &cap, a->by_latency + i);
        }
        i = e;
    }
    free(lk);
    return st;
}

void sp_ana_rank_reserve(sp_ana *a)
{
    for (int k = 0; k < 2; k++)
        if (!a->rank_scratch[k])
            a->rank_scratch[k] = sp_ana_scratch_get(a->scratch, a->n_reqs * sizeof(struct rank_rec));
}

/* The ranking of DESIGN 8a in linear time: an LSD radix sort on (life, first eight bytes of the id),
 * then the full key (lat_key_cmp) within each run that ties on both, so the order is exactly the one
 * qsort with lat_key_cmp gives (no two requests compare equal). */
static sp_status build_by_latency(sp_ana *a)
{
    size_t n = a->n_reqs;
    const sp_events *ev = a->ev;
    a->by_latency = malloc((n ? n : 1) * sizeof *a->by_latency);
    sp_ana_rank_reserve(a);
    struct rank_rec *rec = a->rank_scratch[0], *tmp = a->rank_scratch[1];
    a->rank_scratch[0] = a->rank_scratch[1] = NULL;
    if (!a->by_latency || !rec || !tmp) {
        sp_ana_scratch_put(a->scratch, rec);
        sp_ana_scratch_put(a->scratch, tmp);
        return SP_ERR_NOMEM;
    }
    /* every id numeric: sp_ev_num_rank_key, which orders as the prefixes do in at most four varying
     * bytes (a decimal prefix varies in up to eight, one radix pass each); else the prefixes. The
     * numeric keys are below 2^30, so with sp_ana_rank_pack each goes with its position into one
     * 8-byte value (key << 32 | pos, rec's room holding two arrays of them: packed_sort_wide) */
    size_t nums = 0;
    int packed = sp_ana_rank_pack;
    uint64_t *pv = (uint64_t *)rec;
    uint64_t or_k = 0, and_k = ~(uint64_t)0; /* the keys' varying bits, as they are filled in */
    for (; nums < n; nums++) {
        const sp_ev_request *q = &ev->requests[a->reqs[nums]];
        if (!q->id_num)
            break;
        uint64_t key = sp_ev_num_rank_key(sp_ev_id_num(q));
        if (packed)
            pv[nums] = key << 32 | nums;
        else
            rec[nums] = (struct rank_rec){key, 0, (uint32_t)nums};
        or_k |= key;
        and_k &= key;
    }
    if (nums < n) {
        packed = 0;
        or_k = 0;
        and_k = ~(uint64_t)0;
        for (size_t k = 0; k < n; k++) {
            const sp_ev_request *q = &ev->requests[a->reqs[k]];
            uint64_t pre = q->id_num ? sp_ev_num_prefix(sp_ev_id_num(q)) : id_prefix(sp_str_get(&ev->strings, q->id));
            rec[k] = (struct rank_rec){pre, 0, (uint32_t)k};
            or_k |= pre;
            and_k &= pre;
        }
    }
    struct rank_rec *src = rec, *dst = tmp;
    uint64_t *ps = pv, *pd = pv + n;
    if (packed) {
        uint64_t varying = (or_k ^ and_k) << 32;
        if (varying && !packed_sort_wide(&ps, &pd, n, varying)) {
            sp_ana_scratch_put(a->scratch, rec);
            sp_ana_scratch_put(a->scratch, tmp);
            return SP_ERR_NOMEM;
        }
    } else {
        rank_sort(&src, &dst, n, or_k ^ and_k); /* by prefix */
    }
    /* then by latency, stably: with sp_ana_rank_life_pack and every life below 2^32, each life packed
     * with its position and a flag (by_life_packed) into 8 bytes, in the room the prefix order is not
     * in */
    if (sp_ana_rank_life_pack && n < (size_t)1 << 31) {
        struct pre_order po = {packed ? ps : NULL, src};
        uint64_t *lv = packed ? (uint64_t *)tmp : (uint64_t *)dst;
        int taken = 0;
        sp_status st = by_life_packed(a, &po, lv, lv + n, &taken);
        if (taken || st) {
            sp_ana_scratch_put(a->scratch, rec);
            sp_ana_scratch_put(a->scratch, tmp);
            return st;
        }
    }
    /* else 16-byte records: equal prefixes share a rank, so runs that tie on (life, prefix) are the
     * runs that tie on (life, tie); the records go to the array the prefix order is not in */
    uint32_t rank = 0;
    or_k = 0;
    and_k = ~(uint64_t)0;
    if (packed) {
        for (size_t i = 0; i < n; i++) {
            if (i && ps[i] >> 32 != ps[i - 1] >> 32)
                rank++;
            uint32_t pos = (uint32_t)ps[i];
            uint64_t life = a->life[pos];
            tmp[i] = (struct rank_rec){life, rank, pos};
            or_k |= life;
            and_k &= life;
        }
        src = tmp;
        dst = rec;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (i && src[i].key != src[i - 1].key)
                rank++;
            uint64_t life = a->life[src[i].pos];
            dst[i] = (struct rank_rec){life, rank, src[i].pos};
            or_k |= life;
            and_k &= life;
        }
        struct rank_rec *t = src;
        src = dst;
        dst = t;
    }
    rank_sort(&src, &dst, n, or_k ^ and_k);
    /* runs that tie on (life, prefix): the rest of the key decides; each run's positions are the
     * ranking's */
    struct lat_key *lk = NULL;
    size_t lk_cap = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && src[j].key == src[i].key && src[j].tie == src[i].tie)
            j++;
        if (j - i > 1) {
            if (j - i > lk_cap) {
                struct lat_key *g = realloc(lk, (j - i) * sizeof *lk);
                if (!g) {
                    free(lk);
                    sp_ana_scratch_put(a->scratch, rec);
                    sp_ana_scratch_put(a->scratch, tmp);
                    return SP_ERR_NOMEM;
                }
                lk = g;
                lk_cap = j - i;
            }
            for (size_t k = i; k < j; k++) {
                const sp_ev_request *q = &ev->requests[a->reqs[src[k].pos]];
                lk[k - i] = (struct lat_key){src[k].key, sp_ev_id_key(ev, q), q->arrival_ns, q->file, src[k].pos};
            }
            qsort(lk, j - i, sizeof *lk, lat_key_cmp);
            for (size_t k = i; k < j; k++)
                src[k].pos = lk[k - i].pos;
        }
        for (; i < j; i++) /* the run's final order, in the same pass */
            a->by_latency[i] = src[i].pos;
    }
    free(lk);
    sp_ana_scratch_put(a->scratch, rec);
    sp_ana_scratch_put(a->scratch, tmp);
    return SP_OK;
}

sp_status sp_ana_rank_requests(sp_ana *a)
{
    return build_by_latency(a);
}

int sp_ana_share_select = 1;

static const unsigned share_pct[3] = {50, 95, 99};

/* How many ranks ahead the share windows' sums fetch a request's figures (sp_ana_stage_rows,
 * sp_ana_share_of): the window's positions are random, so each read would otherwise miss the caches
 * one at a time. */
#define SHARE_AHEAD 16

/* The requests the share windows' gathering pass takes between two checks of its candidates' total. */
#define GATHER_BLOCK 4096

/* The positions of window j's ranks lo..hi in rank order: a stretch of the full ranking where it was
 * built, else the window taken by selection. */
static const uint32_t *window_of(const sp_ana *a, int j, size_t lo)
{
    return a->by_latency ? a->by_latency + lo - 1 : a->share_win[j];
}

/* The share windows without the full ranking. A window of ranks [lo, hi] holds the requests ranked
 * there by the full key (lat_key_cmp), which orders by life first: every request whose life lies
 * strictly between the lives at ranks lo and hi is in it, and those of exactly those lives are
 * ordered among themselves by the rest of the key. So the two boundary lives of each window are
 * selected from the life column (six ranks in one selection), the requests whose lives lie within
 * [life at lo, life at hi] gathered and sorted by the full key, and the window's ranks taken from
 * them past the `below` requests of smaller life. */
int sp_ana_rows_rank_all(const sp_ana *a)
{
    if (a->detail || !sp_ana_share_select || !a->n_reqs)
        return 1;
    for (size_t i = 1; i < a->n_reqs; i++)
        if (a->life[i] != a->life[0])
            return 0;
    return 1;
}

sp_status sp_ana_share_windows_select(sp_ana *a, int *taken)
{
    size_t n = a->n_reqs;
    const uint64_t *life = a->life;
    *taken = 0;
    uint64_t or_k = 0, and_k = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        or_k |= life[i];
        and_k &= life[i];
    }
    if (!n || or_k == and_k) /* every life equal: every request is a candidate; the full ranking */
        return SP_OK;
    size_t wlo[3], whi[3], ks[6];
    for (int j = 0; j < 3; j++) {
        sp_ana_share_window(n, share_pct[j], &wlo[j], &whi[j]);
        ks[2 * j] = wlo[j] - 1;
        ks[2 * j + 1] = whi[j] - 1;
    }
    size_t order[6] = {0, 1, 2, 3, 4, 5}; /* ks in ascending order, as the selection takes them */
    for (int i = 1; i < 6; i++)
        for (int k = i; k > 0 && ks[order[k - 1]] > ks[order[k]]; k--) {
            size_t t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    size_t sorted_ks[6];
    for (int i = 0; i < 6; i++)
        sorted_ks[i] = ks[order[i]];
    uint64_t *col = sp_ana_scratch_get(a->scratch, n * sizeof *col);
    uint64_t *tmp = sp_ana_scratch_get(a->scratch, n * sizeof *tmp);
    if (!col || !tmp) {
        sp_ana_scratch_put(a->scratch, col);
        sp_ana_scratch_put(a->scratch, tmp);
        return SP_ERR_NOMEM;
    }
    memcpy(col, life, n * sizeof *col);
    uint64_t got[6], bound[6];
    sp_select_ranks_u64(col, n, tmp, or_k ^ and_k, sorted_ks, 6, got);
    sp_ana_scratch_put(a->scratch, col);
    sp_ana_scratch_put(a->scratch, tmp);
    for (int i = 0; i < 6; i++)
        bound[order[i]] = got[i];
    /* each window's requests below its lower boundary life counted, and those within its boundaries
     * gathered (life - lower boundary) << 32 | their position, while they stay few: without a branch,
     * every request's value written past each window's candidates and kept (the count moved on) only
     * where it lies within the boundaries; the total checked once a block of GATHER_BLOCK requests, so
     * each window's array holds most + GATHER_BLOCK values (its count starts a block at most `most`) */
    size_t below[3] = {0, 0, 0}, m[3] = {0, 0, 0};
    const size_t most = n / SP_ANA_SHARE_CANDIDATES_MAX_DIV + 64;
    uint64_t *cand[3] = {NULL, NULL, NULL}, lo[3], span[3];
    sp_status st = SP_OK;
    int packs = n <= UINT32_MAX; /* positions in 32 bits, and every window's lives spanning less than 2^32 */
    for (int j = 0; j < 3; j++) {
        lo[j] = bound[2 * j];
        span[j] = bound[2 * j + 1] - lo[j];
        packs &= span[j] <= UINT32_MAX;
        if (!(cand[j] = malloc((most + GATHER_BLOCK) * sizeof *cand[j])))
            st = SP_ERR_NOMEM;
    }
    size_t total = 0;
    for (size_t i = 0; !st && packs && total <= most && i < n;) {
        size_t end = n - i > GATHER_BLOCK ? i + GATHER_BLOCK : n;
        uint64_t *c0 = cand[0], *c1 = cand[1], *c2 = cand[2];
        size_t m0 = m[0], m1 = m[1], m2 = m[2], b0 = below[0], b1 = below[1], b2 = below[2];
        for (; i < end; i++) {
            uint64_t l = life[i];
            /* below lo[j], the difference wraps past span[j] */
            uint64_t d0 = l - lo[0], d1 = l - lo[1], d2 = l - lo[2];
            b0 += l < lo[0];
            b1 += l < lo[1];
            b2 += l < lo[2];
            c0[m0] = d0 << 32 | i;
            c1[m1] = d1 << 32 | i;
            c2[m2] = d2 << 32 | i;
            m0 += d0 <= span[0];
            m1 += d1 <= span[1];
            m2 += d2 <= span[2];
        }
        m[0] = m0, m[1] = m1, m[2] = m2, below[0] = b0, below[1] = b1, below[2] = b2;
        total = m0 + m1 + m2;
    }
    uint32_t *win[3] = {NULL, NULL, NULL};
    if (!st && packs && total <= most) {
        struct lat_key *lk = NULL;
        size_t lk_cap = 0;
        uint32_t *run = NULL;
        for (int j = 0; !st && j < 3; j++) {
            if (!(win[j] = malloc((whi[j] - wlo[j] + 1) * sizeof *win[j])) ||
                !(run = realloc(run, (m[j] ? m[j] : 1) * sizeof *run))) {
                st = SP_ERR_NOMEM;
                break;
            }
            /* by life, then position: sorted by the lives alone, stably, as gathered in position order */
            uint64_t *tmp2 = malloc((m[j] ? m[j] : 1) * sizeof *tmp2);
            if (!tmp2 || sp_sort_u64_high(cand[j], m[j], tmp2, 32)) {
                free(tmp2);
                st = SP_ERR_NOMEM;
                break;
            }
            free(tmp2);
            /* runs of equal life ordered by the full key (lat_key_cmp); then ranks wlo..whi are candidates
             * wlo - 1 - below .. whi - 1 - below */
            const uint64_t *v = cand[j];
            size_t first = wlo[j] - 1 - below[j], last = whi[j] - 1 - below[j];
            for (size_t i = 0; !st && i <= last;) {
                size_t e = i + 1;
                while (e < m[j] && v[e] >> 32 == v[i] >> 32)
                    e++;
                if (e <= first) { /* wholly before the window */
                    i = e;
                    continue;
                }
                for (size_t k = i; k < e; k++)
                    run[k - i] = (uint32_t)v[k];
                if (e - i > 1)
                    st = order_run(a, run, e - i, &lk, &lk_cap, run);
                for (size_t k = i; !st && k < e; k++)
                    if (k >= first && k <= last)
                        win[j][k - first] = run[k - i];
                i = e;
            }
        }
        free(lk);
        free(run);
    }
    for (int j = 0; j < 3; j++) {
        free(cand[j]);
        if (st || !win[j] || !packs || total > most)
            free(win[j]);
        else
            a->share_win[j] = win[j];
    }
    *taken = !st && packs && total <= most;
    return st;
}

double sp_ana_share_of(const sp_ana *a, unsigned xx, const double *per_req)
{
    size_t lo, hi;
    sp_ana_share_window(a->n_reqs, xx, &lo, &hi);
    int j = xx == 50 ? 0 : xx == 95 ? 1 : xx == 99 ? 2 : -1;
    if (!lo || (!a->by_latency && (j < 0 || !a->share_win[j])))
        return 0.0;
    const uint32_t *w = window_of(a, j, lo);
    long double num = 0, den = 0;
    for (size_t k = lo; k <= hi; k++) {
        if (k + SHARE_AHEAD <= hi) {
            __builtin_prefetch(&per_req[w[k + SHARE_AHEAD - lo]]);
            __builtin_prefetch(&a->life[w[k + SHARE_AHEAD - lo]]);
        }
        uint32_t p = w[k - lo];
        num += per_req[p];
        den += (long double)a->life[p];
    }
    return den > 0 ? (double)(num / den) : 0.0;
}

static const char *const fixed_row_names[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h",
                                              "postprocess"};

sp_status sp_ana_name_rows(sp_ana *a)
{
    sp_report *r = a->r;
    r->n_stages = a->n_stages;
    r->stages = calloc(a->n_stages, sizeof *r->stages);
    if (!r->stages)
        return SP_ERR_NOMEM;
    for (size_t s = 0; s < a->n_stages; s++) {
        const char *name;
        if (s < 7)
            name = fixed_row_names[s];
        else if ((int)s == a->st_network)
            name = "network";
        else if ((int)s == a->st_other)
            name = "other";
        else
            name = sp_str_get(&a->ev->strings, a->named_ids[s - 7 - (a->st_network >= 0)]);
        r->stages[s].name = sp_report_strdup(r, name);
        if (!r->stages[s].name)
            return SP_ERR_NOMEM;
    }
    return SP_OK;
}

/* The per-stage percentiles, totals and spreads of stages [lo, hi): one column at a time, its order
 * statistics selected, the columns taken one by one by whichever thread asks next (stage_columns), so
 * that both threads share them. With sp_ana_cols_fast the first thread to come takes every column's
 * stats in one pass over the matrix while the other waits for them. */
typedef struct col_job {
    sp_ana *a;
    size_t lo, hi;
    sp_status st;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stats_state; /* 0: not started; 1: being taken; 2: in cs_all */
    size_t next;     /* the next column to take */
    void (*idle)(sp_ana *); /* sp_ana_stage_rows' `idle`: taken once (take_tail) */
    int tail_taken;
    sp_ana_col_stats cs_all[SP_ANA_MAX_STAGES];
} col_job;

int sp_ana_cols_fast = 1;

/* Rows at a time of the one pass that takes every column's stats (8 KiB of a narrow 8-stage matrix):
 * a column's values of the block are still in cache when the next column reads its own. */
#define COL_BLOCK 256u

/* Stats (sp_ana_col_stats) of stage columns [lo, lo + m) in one pass over the matrix, block by block;
 * each column's values are taken in request order, as a gather of the column would take them. */
static void stage_col_stats(const sp_ana *a, size_t lo_s, size_t m, sp_ana_col_stats *cs)
{
    size_t n = a->n_reqs, ns = a->n_stages;
    for (size_t s = 0; s < m; s++)
        cs[s] = SP_ANA_COL_STATS_NONE;
    for (size_t i0 = 0; i0 < n; i0 += COL_BLOCK) {
        size_t i1 = n - i0 < COL_BLOCK ? n : i0 + COL_BLOCK;
        for (size_t s = 0; s < m; s++) {
            sp_ana_col_stats acc = cs[s];
            if (a->times32) {
                const uint32_t *t = a->times32 + lo_s + s;
                for (size_t i = i0; i < i1; i++)
                    sp_ana_col_stats_add(&acc, t[i * ns], 0);
            } else {
                const uint64_t *t = a->times + lo_s + s;
                for (size_t i = i0; i < i1; i++)
                    sp_ana_col_stats_add(&acc, t[i * ns], 1);
            }
            cs[s] = acc;
        }
    }
    if (a->times32) /* n values below 2^32 each: below 2^64 in all while n <= 2^32 */
        for (size_t s = 0; s < m; s++)
            cs[s].wrapped = n > ((size_t)1 << 31) * 2;
}

int sp_ana_cols_counted = 1;

/* Gathers stage column s into col[0..n) and counts the first digit the column's selection takes
 * (sp_select_first_digit of its varying bits, from its stats cs) into count. */
static void gather_counted(const sp_ana *a, size_t s, uint64_t *col, const sp_ana_col_stats *cs, size_t *count)
{
    size_t n = a->n_reqs, ns = a->n_stages;
    unsigned shift;
    size_t ndig = sp_select_first_digit(cs->or_k ^ cs->and_k, n, &shift);
    uint64_t mask = ndig - 1;
    memset(count, 0, ndig * sizeof *count);
    if (a->times32) {
        const uint32_t *t = a->times32 + s;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = t[i * ns];
            col[i] = x;
            count[(x >> shift) & mask]++;
        }
    } else {
        const uint64_t *t = a->times + s;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = t[i * ns];
            col[i] = x;
            count[(x >> shift) & mask]++;
        }
    }
}

/* Stage column s's row figures (and the detail's spread): cst its stats where sp_ana_cols_fast took
 * them, else NULL; col and tmp hold n values each. */
static void stage_column(sp_ana *a, size_t s, const sp_ana_col_stats *cst_fast, uint64_t *col, uint64_t *tmp)
{
    size_t n = a->n_reqs, ns = a->n_stages;
    static const uint32_t spread_pct[3] = {SP_PCT(5), SP_PCT(25), SP_PCT(75)};
    const size_t np = a->detail ? 3 : 0;
    sp_stage_row *row = &a->r->stages[s];
    sp_ana_col_stats cst;
    /* With sp_ana_cols_fast, every column's stats first, in one pass over the matrix; then a column
     * whose values are all equal (a stage no request has: 0; or requests all alike) is not gathered,
     * as its selection reads only its first value. Else each column gathered with its stats. */
    if (cst_fast) {
        cst = *cst_fast;
        if (n && sp_ana_select_reads_one(&cst, np)) {
            col[0] = cst.lo;
        } else if (n && sp_ana_cols_counted && sp_ana_select_takes_counts(&cst, np)) {
            /* the selection's first digit counted as the column is gathered: its first pass over
             * the column not made */
            size_t count[SP_SELECT_DIGITS];
            gather_counted(a, s, col, &cst, count);
            uint64_t sp[3];
            sp_ana_quantiles_select_counted(col, n, tmp, &cst, count, &row->q, spread_pct, np, sp);
            row->total_ns = cst.sum;
            if (a->detail)
                a->detail->stage_spread[s] = (sp_stage_spread){sp[0], sp[1], sp[2]};
            return;
        } else if (a->times32)
            for (size_t i = 0; i < n; i++)
                col[i] = a->times32[i * ns + s];
        else
            for (size_t i = 0; i < n; i++)
                col[i] = a->times[i * ns + s];
    } else {
        /* the column gathered with its stats (sp_ana_col_stats): the selection needs no pass of
         * its own before it; the sum is the row's total */
        cst = SP_ANA_COL_STATS_NONE;
        if (a->times32) { /* n values below 2^32 each: below 2^64 in all while n <= 2^32 */
            for (size_t i = 0; i < n; i++) {
                col[i] = a->times32[i * ns + s];
                sp_ana_col_stats_add(&cst, col[i], 0);
            }
            cst.wrapped = n > ((size_t)1 << 31) * 2;
        } else {
            for (size_t i = 0; i < n; i++) {
                col[i] = a->times[i * ns + s];
                sp_ana_col_stats_add(&cst, col[i], 1);
            }
        }
    }
    row->total_ns = cst.sum;
    /* selected, not sorted (percentile.c): the same order statistics; with the detail, the
     * spread's DESIGN section 4 nearest ranks too */
    uint64_t sp[3];
    sp_ana_quantiles_select_stats(col, n, tmp, &cst, &row->q, spread_pct, np, sp);
    if (a->detail && n)
        a->detail->stage_spread[s] = (sp_stage_spread){sp[0], sp[1], sp[2]};
}

/* The first thread to find no column left takes the caller's other work (sp_ana_stage_rows' `idle`)
 * while the other may still be in its last column: the join's wait, where it had one, and that work
 * overlap. */
static void take_tail(col_job *j)
{
    if (!j->idle)
        return;
    pthread_mutex_lock(&j->mu);
    int mine = !j->tail_taken;
    j->tail_taken = 1;
    pthread_mutex_unlock(&j->mu);
    if (mine)
        j->idle(j->a);
}

/* One thread's share of the stage columns: the stats (if no thread has taken them yet, else waits
 * for them), then the next column not taken, until none is left, then the caller's other work if the
 * other has not taken it (take_tail). Each column's figures are its own, whichever thread takes it. */
static void *stage_columns(void *arg)
{
    col_job *j = arg;
    sp_ana *a = j->a;
    size_t n = a->n_reqs;
    pthread_mutex_lock(&j->mu);
    int mine = sp_ana_cols_fast && j->stats_state == 0 && j->next < j->hi;
    if (mine)
        j->stats_state = 1;
    while (sp_ana_cols_fast && j->stats_state == 1 && !mine)
        pthread_cond_wait(&j->cv, &j->mu);
    int left = j->next < j->hi;
    pthread_mutex_unlock(&j->mu);
    if (mine) {
        stage_col_stats(a, j->lo, j->hi - j->lo, j->cs_all);
        pthread_mutex_lock(&j->mu);
        j->stats_state = 2;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
    if (!left) {
        take_tail(j);
        return NULL;
    }
    uint64_t *col = sp_ana_scratch_get(a->scratch, n * sizeof *col);
    uint64_t *tmp = sp_ana_scratch_get(a->scratch, n * sizeof *tmp);
    if (!col || !tmp) {
        sp_ana_scratch_put(a->scratch, col);
        sp_ana_scratch_put(a->scratch, tmp);
        pthread_mutex_lock(&j->mu);
        j->st = SP_ERR_NOMEM;
        j->next = j->hi; /* the other thread takes none either: the step fails */
        pthread_mutex_unlock(&j->mu);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t s = j->next < j->hi ? j->next++ : j->hi;
        pthread_mutex_unlock(&j->mu);
        if (s >= j->hi)
            break;
        stage_column(a, s, sp_ana_cols_fast ? &j->cs_all[s - j->lo] : NULL, col, tmp);
    }
    sp_ana_scratch_put(a->scratch, tmp);
    sp_ana_scratch_put(a->scratch, col);
    take_tail(j);
    return NULL;
}

sp_status sp_ana_stage_rows(sp_ana *a, void (*idle)(sp_ana *))
{
    sp_report *r = a->r;
    size_t n = a->n_reqs, ns = a->n_stages;
    if (a->detail && !(a->detail->stage_spread = calloc(ns ? ns : 1, sizeof *a->detail->stage_spread)))
        return SP_ERR_NOMEM;
    /* Large sets: the columns' selections on a second thread while this one takes the share windows
     * (or ranks the requests) and sums them, then takes the columns the other has not (docs/analysis.md,
     * "Two threads"); each writes fields the other does not. */
    col_job cj = {.a = a, .lo = 0, .hi = ns, .st = SP_OK, .mu = PTHREAD_MUTEX_INITIALIZER,
                  .cv = PTHREAD_COND_INITIALIZER, .stats_state = 0, .next = 0, .idle = idle, .tail_taken = 0};
    pthread_t th;
    int threaded = n >= sp_ana_two_threads_min && pthread_create(&th, NULL, stage_columns, &cj) == 0;
    /* the share windows: by selection, unless the detail wants the full ranking (or the lives tie
     * too much for the windows' candidates to be few) */
    int windows = 0;
    sp_status st = SP_OK;
    if (!a->detail && sp_ana_share_select)
        st = sp_ana_share_windows_select(a, &windows);
    if (!st && !windows)
        st = build_by_latency(a);
    size_t wlo[3], whi[3];
    long double den[3] = {0, 0, 0};
    /* each window's requests row by row, every stage's sum at once (one read of a request's row, not
     * one per stage), and its lives' sum (den) in the same pass; each sum still adds its window's
     * terms in rank order, so the sums are the ones a column at a time gives. The window's positions
     * lie at random in the columns: the row and life of the request SHARE_AHEAD ranks on are fetched
     * ahead (each read would otherwise wait on memory). */
    for (int j = 0; !st && j < 3; j++) {
        sp_ana_share_window(n, share_pct[j], &wlo[j], &whi[j]);
        long double num[SP_ANA_MAX_STAGES];
        for (size_t s = 0; s < ns; s++)
            num[s] = 0;
        const uint32_t *w = wlo[j] ? window_of(a, j, wlo[j]) : NULL;
        size_t wn = wlo[j] ? whi[j] - wlo[j] + 1 : 0;
        for (size_t k = 0; k < wn; k++) {
            if (k + SHARE_AHEAD < wn) {
                size_t q = w[k + SHARE_AHEAD];
                __builtin_prefetch(&a->life[q]);
                if (a->times32) { /* a row may cross a cache line: its first and last times */
                    __builtin_prefetch(a->times32 + q * ns);
                    __builtin_prefetch(a->times32 + q * ns + (ns ? ns - 1 : 0));
                } else {
                    __builtin_prefetch(a->times + q * ns);
                    __builtin_prefetch(a->times + q * ns + (ns ? ns - 1 : 0));
                }
            }
            size_t p = w[k];
            den[j] += (long double)a->life[p];
            if (a->times32) {
                const uint32_t *row = a->times32 + p * ns;
                for (size_t s = 0; s < ns; s++)
                    num[s] += (long double)row[s];
            } else {
                const uint64_t *row = a->times + p * ns;
                for (size_t s = 0; s < ns; s++)
                    num[s] += (long double)row[s];
            }
        }
        for (size_t s = 0; s < ns; s++) {
            double share = den[j] > 0 ? (double)(num[s] / den[j]) : 0.0;
            if (j == 0)
                r->stages[s].share_p50 = share;
            else if (j == 1)
                r->stages[s].share_p95 = share;
            else
                r->stages[s].share_p99 = share;
        }
    }
    /* this thread's share of the columns: those the other has not taken by now (all of them alone) */
    stage_columns(&cj);
    if (threaded)
        pthread_join(th, NULL);
    if (!st)
        st = cj.st;
    if (st)
        return st;
    r->other_share_p95 = a->st_other >= 0 ? r->stages[a->st_other].share_p95 : 0.0;
    return SP_OK;
}
