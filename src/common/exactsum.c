/* An exact, order-free sum of doubles (exactsum.h). Hand-written: the analysis needs sums over a
 * million requests that no order of lines changes, rounded once; Debian 12 ships no C library for an
 * exact (or correctly rounded) floating-point sum, and a long double sum depends on the order of its
 * terms in its last bits. The adds (exactsum.h) go to one integer accumulator per exponent; here they
 * are lined up as one fixed-point number of 32-bit digits and rounded once. */
#include "common/exactsum.h"

#include <float.h>
#include <math.h>

/* Fixed-point digits of 32 bits, the lowest bit weighing 2^-1074 (a subnormal's unit): accumulator e
 * (at most 2^117 in magnitude) starts at bit e - 1 (e = 0: bit 0), so the highest, 2046, reaches bit
 * 2045 + 117 < 68 * 32. */
#define DIGITS 68

void sp_exact_sum_init(sp_exact_sum *s)
{
    memset(s, 0, sizeof *s);
}

void sp_exact_sum_merge(sp_exact_sum *s, const sp_exact_sum *other)
{
    for (int e = 0; e < SP_EXACT_SUM_EXPONENTS; e++)
        s->by_exp[e] += other->by_exp[e];
    s->special |= other->special;
}

/* Each digit back into [0, 2^32), its carry (of either sign) into the next; the top digit keeps the
 * sign. */
static void carry_all(int64_t *d)
{
    for (int k = 0; k < DIGITS - 1; k++) {
        int64_t low = (int64_t)((uint64_t)d[k] & 0xffffffffu);
        d[k + 1] += (d[k] - low) / ((int64_t)1 << 32); /* exact: d[k] - low is a multiple of 2^32 */
        d[k] = low;
    }
}

long double sp_exact_sum_value(const sp_exact_sum *s)
{
    if (s->special & 4u || (s->special & 3u) == 3u)
        return NAN;
    if (s->special)
        return s->special & 1u ? INFINITY : -INFINITY;
    int64_t d[DIGITS] = {0};
    /* every accumulator's magnitude in 32-bit pieces, each shifted into two digits (below 2^63 each, and
     * at most 2 x 2047 x 4 of them reach one digit: no overflow before the carries) */
    for (int e = 0; e < SP_EXACT_SUM_EXPONENTS; e++) {
        __int128 v = s->by_exp[e];
        if (!v)
            continue;
        int neg = v < 0;
        unsigned __int128 u = neg ? -(unsigned __int128)v : (unsigned __int128)v;
        unsigned sh = e ? (unsigned)e - 1 : 0, k = sh >> 5, r = sh & 31u;
        for (unsigned i = 0; i < 4; i++) {
            uint64_t piece = (uint64_t)(u >> (32 * i)) & 0xffffffffu;
            uint64_t at = piece << r; /* below 2^63 */
            int64_t lo = (int64_t)(at & 0xffffffffu), hi = (int64_t)(at >> 32);
            d[k + i] += neg ? -lo : lo;
            d[k + i + 1] += neg ? -hi : hi;
        }
    }
    carry_all(d);
    int neg = d[DIGITS - 1] < 0;
    if (neg) { /* the magnitude: each digit negated, the carries taken again */
        for (int k = 0; k < DIGITS; k++)
            d[k] = -d[k];
        carry_all(d);
    }
    int t = DIGITS - 1;
    while (t >= 0 && !d[t])
        t--;
    if (t < 0)
        return 0.0L;
    /* the top four digits in a 128-bit window (the top one not 0: at least 97 significant bits), the
     * rest only as a sticky bit; rounded to P bits, P the long double's precision (at most 64), ties to
     * even */
    unsigned __int128 w = 0;
    for (int k = t; k > t - 4; k--)
        w = w << 32 | (unsigned __int128)(k >= 0 ? (uint64_t)d[k] : 0);
    int sticky = 0;
    for (int k = t - 4; k >= 0 && !sticky; k--)
        sticky = d[k] != 0;
    const unsigned P = LDBL_MANT_DIG < 64 ? LDBL_MANT_DIG : 64;
    unsigned nb = 64 - (unsigned)__builtin_clzll((uint64_t)d[t]); /* bits in the top digit, 1..32 */
    unsigned cut = 96 + nb - P;                                     /* bits below the P kept: >= 33 */
    uint64_t mant = (uint64_t)(w >> cut);
    unsigned __int128 rem = w & (((unsigned __int128)1 << cut) - 1), half = (unsigned __int128)1 << (cut - 1);
    int exp2 = (int)cut + 32 * (t - 3) - 1074;
    if (rem > half || (rem == half && (sticky || (mant & 1)))) {
        mant++;
        if (P == 64 ? mant == 0 : mant >> (P & 63)) { /* carried out of the P bits: 2^P */
            mant = (uint64_t)1 << (P - 1);
            exp2++;
        }
    }
    long double v = ldexpl((long double)mant, exp2);
    return neg ? -v : v;
}
