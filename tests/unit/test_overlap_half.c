/* The gap's overlap in two halves (cost.c: sp_ana_overlap_half, each half on whichever thread takes it).
 * Known answers, worked by hand from the definition |A intersect B| (two sorted lists of disjoint
 * intervals [s, e)), and then a differential: for random lists (disjoint, sorted, some touching, some
 * empty lists, a value near 2^64) the two halves at every cut that matters (0, every interval's start
 * and end, a point inside each, one before and one past everything, UINT64_MAX) add up to
 * sp_ival_overlap of the whole lists, and each half equals a brute-force overlap clipped to its side
 * (every pair of intervals intersected with [0, cut) or [cut, UINT64_MAX)). */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "testlib.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* sum over every pair of |a_i intersect b_j intersect [lo, hi)| */
static uint64_t brute(const sp_ival *a, size_t na, const sp_ival *b, size_t nb, uint64_t lo, uint64_t hi)
{
    uint64_t t = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++) {
            uint64_t s = a[i].s > b[j].s ? a[i].s : b[j].s, e = a[i].e < b[j].e ? a[i].e : b[j].e;
            s = s > lo ? s : lo;
            e = e < hi ? e : hi;
            if (e > s)
                t += e - s;
        }
    return t;
}

static void check_cut(const sp_ival *a, size_t na, const sp_ival *b, size_t nb, uint64_t cut)
{
    uint64_t h0 = sp_ana_overlap_half(a, na, b, nb, cut, 0), h1 = sp_ana_overlap_half(a, na, b, nb, cut, 1);
    CHECK_EQ_U64(h0 + h1, sp_ival_overlap(a, na, b, nb));
    CHECK_EQ_U64(h0, brute(a, na, b, nb, 0, cut));
    CHECK_EQ_U64(h1, brute(a, na, b, nb, cut, UINT64_MAX));
}

/* n sorted disjoint intervals from `at` on: gaps of 0 (touching) to 9, lengths 1 to 12 */
static size_t make_list(sp_ival *v, size_t n, uint64_t at)
{
    for (size_t i = 0; i < n; i++) {
        at += rnd() % 10;
        uint64_t len = 1 + rnd() % 12;
        v[i] = (sp_ival){at, at + len};
        at += len;
    }
    return n;
}

static void every_cut(const sp_ival *a, size_t na, const sp_ival *b, size_t nb)
{
    const sp_ival *l[2] = {a, b};
    size_t n[2] = {na, nb};
    check_cut(a, na, b, nb, 0);
    check_cut(a, na, b, nb, UINT64_MAX);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < n[k]; i++) {
            check_cut(a, na, b, nb, l[k][i].s);
            check_cut(a, na, b, nb, l[k][i].e);
            check_cut(a, na, b, nb, l[k][i].s + (l[k][i].e - l[k][i].s) / 2);
            if (l[k][i].s)
                check_cut(a, na, b, nb, l[k][i].s - 1);
        }
}

int main(void)
{
    /* by hand: A = [0,10) [20,30), B = [5,25). |A and B| = [5,10) + [20,25) = 10.
     * cut 7: before [5,7) = 2, from it [7,10) + [20,25) = 8; cut 22 (inside A's second and B):
     * before [5,10) + [20,22) = 7, from [22,25) = 3; cut 15 (between A's two): 5 and 5; cut 0: 0 and
     * 10; cut 40: 10 and 0 */
    sp_ival a[2] = {{0, 10}, {20, 30}}, b[1] = {{5, 25}};
    static const uint64_t cuts[5][3] = {{7, 2, 8}, {22, 7, 3}, {15, 5, 5}, {0, 0, 10}, {40, 10, 0}};
    for (int k = 0; k < 5; k++) {
        CHECK_EQ_U64(sp_ana_overlap_half(a, 2, b, 1, cuts[k][0], 0), cuts[k][1]);
        CHECK_EQ_U64(sp_ana_overlap_half(a, 2, b, 1, cuts[k][0], 1), cuts[k][2]);
        CHECK_EQ_U64(sp_ana_overlap_half(b, 1, a, 2, cuts[k][0], 0), cuts[k][1]); /* either list first */
        CHECK_EQ_U64(sp_ana_overlap_half(b, 1, a, 2, cuts[k][0], 1), cuts[k][2]);
    }
    /* touching intervals: A = [0,5) [5,9), B = [5,6); cut 5: 0 and 1 */
    sp_ival t[2] = {{0, 5}, {5, 9}}, u[1] = {{5, 6}};
    CHECK_EQ_U64(sp_ana_overlap_half(t, 2, u, 1, 5, 0), 0);
    CHECK_EQ_U64(sp_ana_overlap_half(t, 2, u, 1, 5, 1), 1);
    /* empty lists */
    CHECK_EQ_U64(sp_ana_overlap_half(a, 0, b, 1, 7, 0) + sp_ana_overlap_half(a, 0, b, 1, 7, 1), 0);
    CHECK_EQ_U64(sp_ana_overlap_half(a, 2, b, 0, 7, 0) + sp_ana_overlap_half(a, 2, b, 0, 7, 1), 0);
    /* near the top of the clock: A = [2^64 - 100, 2^64 - 1), B = [2^64 - 50, 2^64 - 2): 48 in all */
    sp_ival hi_a[1] = {{UINT64_MAX - 99, UINT64_MAX}}, hi_b[1] = {{UINT64_MAX - 49, UINT64_MAX - 1}};
    CHECK_EQ_U64(sp_ana_overlap_half(hi_a, 1, hi_b, 1, UINT64_MAX - 10, 0), 39);
    CHECK_EQ_U64(sp_ana_overlap_half(hi_a, 1, hi_b, 1, UINT64_MAX - 10, 1), 9);
    every_cut(hi_a, 1, hi_b, 1);

    /* random lists, as the cost builds them: batch windows and a union */
    sp_ival x[60], y[90];
    for (int round = 0; round < 200; round++) {
        size_t nx = make_list(x, rnd() % 61, rnd() % 20), ny = make_list(y, rnd() % 91, rnd() % 20);
        every_cut(x, nx, y, ny);
        every_cut(y, ny, x, nx);
    }
    return sp_test_done("test_overlap_half");
}
