/* The one radix sort (src/common/sort.h) against qsort, the naive reference, on columns shaped like
 * the ones servprof sorts: full 64-bit values, durations (small, top bytes zero), absolute
 * timestamps (top bytes shared and not zero, the digits the sort skips), equal values, a few values
 * only, and with a caller's buffer. sp_sort_u64_high against a stable reference (qsort by the high
 * bits, then by input position) on keys packed above their position and on low bits in any order.
 * sp_sort_mostly_sorted against qsort with a total order: a few places out, far out (its
 * insertion sort runs out of budget part way), reversed, shuffled; elements of 16 and of 72 bytes
 * (qsort only). sp_select_u64 against the sorted array's element at ranks 0, 1, the middle, p95 and
 * n - 1, and sp_select_ranks_u64 at 64 ranks and at p50/p95/p99/max, on every column shape above and
 * on latencies with fixed low bits, bits that vary far apart, and a narrow cluster beside a spread
 * (100,000 values take the selections' 11-bit digits, smaller columns 8-bit ones); sp_select_ranks_u32
 * at the same ranks on every such column whose values fit 32 bits (any 32-bit value among them). */
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/sort.h"
#include "testlib.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The columns sp_select_ranks_u32 was checked on (every value below 2^32). */
static size_t g_u32_checked;

/* Sorts a copy of v[n] both ways and compares. */
static void check_sorts(const uint64_t *v, size_t n, int caller_tmp)
{
    uint64_t *a = malloc((n + 1) * sizeof *a), *b = malloc((n + 1) * sizeof *b), *tmp = NULL;
    memcpy(a, v, n * sizeof *a);
    memcpy(b, v, n * sizeof *b);
    if (caller_tmp)
        tmp = malloc((n + 1) * sizeof *tmp);
    CHECK(sp_sort_u64(a, n, tmp) == SP_OK);
    qsort(b, n, sizeof *b, cmp_u64);
    CHECK(n == 0 || memcmp(a, b, n * sizeof *a) == 0);
    size_t ranks[] = {0, 1, n / 2, n ? (95 * n + 99) / 100 - 1 : 0, n ? n - 1 : 0};
    for (size_t k = 0; k < sizeof ranks / sizeof ranks[0]; k++) {
        if (ranks[k] >= n)
            continue;
        memcpy(a, v, n * sizeof *a);
        CHECK_EQ_U64(sp_select_u64(a, n, ranks[k]), b[ranks[k]]);
    }
    /* sp_select_ranks_u64: the most ranks it takes at once, spread over the column with repeats,
     * and the report's own (p50, p95, p99, max) */
    if (n) {
        size_t ks[SP_SELECT_RANKS_MAX], nk = SP_SELECT_RANKS_MAX;
        for (size_t j = 0; j < nk; j++)
            ks[j] = (n - 1) * j / (nk - 1);
        uint64_t or_v = 0, and_v = ~(uint64_t)0, got[SP_SELECT_RANKS_MAX];
        for (size_t i = 0; i < n; i++) {
            or_v |= v[i];
            and_v &= v[i];
        }
        uint64_t *t2 = malloc(n * sizeof *t2);
        memcpy(a, v, n * sizeof *a);
        sp_select_ranks_u64(a, n, t2, or_v ^ and_v, ks, nk, got);
        size_t bad = 0;
        for (size_t j = 0; j < nk; j++)
            bad += got[j] != b[ks[j]];
        CHECK_EQ_U64(bad, 0);
        size_t few[] = {(n - 1) / 2, (95 * n + 99) / 100 - 1, (99 * n + 99) / 100 - 1, n - 1};
        memcpy(a, v, n * sizeof *a);
        sp_select_ranks_u64(a, n, t2, or_v ^ and_v, few, 4, got);
        for (size_t j = 0; j < 4; j++)
            CHECK_EQ_U64(got[j], b[few[j]]);
        free(t2);
        if (!(or_v >> 32)) { /* every value fits 32 bits: sp_select_ranks_u32 at the same ranks */
            uint32_t *n32 = malloc(n * sizeof *n32), *t32 = malloc(n * sizeof *t32);
            for (size_t i = 0; i < n; i++)
                n32[i] = (uint32_t)v[i];
            sp_select_ranks_u32(n32, n, t32, or_v ^ and_v, ks, nk, got);
            bad = 0;
            for (size_t j = 0; j < nk; j++)
                bad += got[j] != b[ks[j]];
            CHECK_EQ_U64(bad, 0);
            for (size_t i = 0; i < n; i++)
                n32[i] = (uint32_t)v[i];
            sp_select_ranks_u32(n32, n, t32, or_v ^ and_v, few, 4, got);
            for (size_t j = 0; j < 4; j++)
                CHECK_EQ_U64(got[j], b[few[j]]);
            g_u32_checked++;
            free(n32);
            free(t32);
        }
    }
    free(a);
    free(b);
    free(tmp);
}

static unsigned g_low_bits;

struct at_u64 {
    uint64_t v;
    size_t at;
};

/* by v >> g_low_bits, then input position: a stable sort's order, whatever qsort's own */
static int cmp_high_then_at(const void *a, const void *b)
{
    const struct at_u64 *x = a, *y = b;
    uint64_t hx = x->v >> g_low_bits, hy = y->v >> g_low_bits;
    if (hx != hy)
        return hx < hy ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at);
}

static void check_sort_high(const uint64_t *v, size_t n, unsigned low_bits)
{
    uint64_t *a = malloc((n + 1) * sizeof *a);
    struct at_u64 *b = malloc((n + 1) * sizeof *b);
    memcpy(a, v, n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        b[i] = (struct at_u64){v[i], i};
    CHECK(sp_sort_u64_high(a, n, NULL, low_bits) == SP_OK);
    g_low_bits = low_bits;
    qsort(b, n, sizeof *b, cmp_high_then_at);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += a[i] != b[i].v;
    CHECK_EQ_U64(bad, 0);
    free(a);
    free(b);
}

static void test_sort_high(sp_rng *r, uint64_t *v)
{
    static const size_t sizes[] = {0, 1, 2, 3, 17, 1000, 100000};
    static const unsigned lows[] = {0, 1, 7, 8, 17, 21, 40, 63};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t li = 0; li < sizeof lows / sizeof lows[0]; li++) {
            size_t n = sizes[si];
            unsigned low = lows[li];
            uint64_t low_mask = ((uint64_t)1 << low) - 1;
            for (int shape = 0; shape < 3; shape++) {
                for (size_t i = 0; i < n; i++) {
                    uint64_t x = sp_rng_next(r);
                    switch (shape) {
                    case 0: v[i] = x; break;                                /* low bits in any order */
                    case 1: v[i] = (x % 5) << low | (i & low_mask); break;  /* few keys above positions */
                    case 2: v[i] = (x >> low << low) | (~i & low_mask); break; /* low bits descending */
                    }
                }
                check_sort_high(v, n, low);
            }
        }
}

/* a record keyed by (key, tag): no two equal, so every sort leaves one array */
struct rec {
    uint64_t key;
    uint32_t tag;
    uint32_t pad;
};

struct big_rec {
    struct rec r;
    uint64_t fill[7];
};

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->tag > y->tag) - (x->tag < y->tag);
}

static void test_mostly_sorted(sp_rng *r)
{
    static const size_t sizes[] = {0, 1, 2, 3, 10, 100, 1000, 50000};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int shape = 0; shape < 4; shape++) {
            size_t n = sizes[si];
            struct rec *a = malloc((n + 1) * sizeof *a), *b = malloc((n + 1) * sizeof *b);
            struct big_rec *c = malloc((n + 1) * sizeof *c);
            for (size_t i = 0; i < n; i++) /* keys with many equal, tags unique */
                a[i] = (struct rec){sp_rng_next(r) % (n / 3 + 1), (uint32_t)i, 0};
            if (shape < 3)
                qsort(a, n, sizeof *a, rec_cmp);
            if (shape == 1 || shape == 2) { /* each swapped with one up to 5 (shape 1) or n/2 places on */
                size_t reach = shape == 1 ? 5 : n / 2 + 1;
                for (size_t i = 0; i + 1 < n; i++) {
                    size_t j = i + 1 + sp_rng_next(r) % reach;
                    j = j < n ? j : n - 1;
                    struct rec t = a[i];
                    a[i] = a[j];
                    a[j] = t;
                }
            }
            if (shape == 0) /* then reversed */
                for (size_t i = 0; i < n / 2; i++) {
                    struct rec t = a[i];
                    a[i] = a[n - 1 - i];
                    a[n - 1 - i] = t;
                }
            for (size_t i = 0; i < n; i++)
                c[i] = (struct big_rec){a[i], {(uint64_t)i, 0, 0, 0, 0, 0, 0}};
            memcpy(b, a, n * sizeof *a);
            sp_sort_mostly_sorted(a, n, sizeof *a, rec_cmp);
            sp_sort_mostly_sorted(c, n, sizeof *c, rec_cmp);
            qsort(b, n, sizeof *b, rec_cmp);
            size_t bad = 0;
            for (size_t i = 0; i < n; i++)
                bad += rec_cmp(&a[i], &b[i]) != 0 || rec_cmp(&c[i].r, &b[i]) != 0;
            CHECK_EQ_U64(bad, 0);
            free(a);
            free(b);
            free(c);
        }
}

int main(void)
{
    sp_rng r;
    sp_rng_seed(&r, 2024, 0);
    static const size_t sizes[] = {0, 1, 2, 3, 17, 255, 256, 1000, 100000};
    uint64_t *v = malloc(100000 * sizeof *v);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        for (int shape = 0; shape < 9; shape++) {
            for (size_t i = 0; i < n; i++) {
                uint64_t x = sp_rng_next(&r);
                switch (shape) {
                case 0: v[i] = x; break;                                   /* any 64-bit value */
                case 1: v[i] = x >> 40; break;                             /* durations below 2^24 ns */
                case 2: v[i] = 1712195495519698000ull + (x >> 34); break;  /* timestamps, shared top */
                case 3: v[i] = 42; break;                                  /* all equal */
                case 4: v[i] = (x & 1) ? 0xff00ff00ff00ff00ull : 7; break; /* two values */
                /* latencies in whole us as ns: ~20 varying bits above three that never do */
                case 5: v[i] = 1000 * (1 + (x >> 44) * (x >> 60)); break;
                /* bits that vary far apart: the low three and bit 50 */
                case 6: v[i] = (x & 7) | ((x >> 13 & 1) << 50); break;
                /* most values in one narrow cluster (a digit's range holds most of the column
                 * again, so the next round takes a wide digit too), the rest spread */
                case 7: v[i] = (x & 7) ? (5ull << 30) + (x >> 50) : x >> 20; break;
                case 8: v[i] = x >> 32; break; /* any 32-bit value (sp_select_ranks_u32's top digit) */
                }
            }
            check_sorts(v, n, 0);
            check_sorts(v, n, 1);
        }
    }
    /* shapes 1, 3 and 8 fit 32 bits at every size; 4 (7 alone) at size 1 */
    CHECK(g_u32_checked >= 2 * 3 * 8);
    test_sort_high(&r, v);
    test_mostly_sorted(&r);
    free(v);
    return sp_test_done("test_sort");
}
