/* An exact sum of doubles: every finite term added into a fixed-point accumulator wide enough for any
 * double, so the total does not depend on the order of the terms and is rounded once, at the end.
 * For the analysis' sums over requests that must not depend on line order (padding.c, cost.c). */
#ifndef SERVPROF_EXACTSUM_H
#define SERVPROF_EXACTSUM_H

#include <stdint.h>
#include <string.h>

/* One 128-bit signed accumulator per binary exponent of a double: a term m * 2^(e - 1075) (m its
 * 53-bit integer significand, e its biased exponent) adds +-m to by_exp[e], so up to 2^74 terms add
 * without overflow and no term is rounded; sp_exact_sum_value lines the accumulators up at the end. */
#define SP_EXACT_SUM_EXPONENTS 2047

typedef struct sp_exact_sum {
    __int128 by_exp[SP_EXACT_SUM_EXPONENTS];
    unsigned special; /* 1: +infinity added; 2: -infinity; 4: a NaN */
} sp_exact_sum;

/* An empty sum (0). */
void sp_exact_sum_init(sp_exact_sum *s);
/* Adds x (any double: a NaN or an infinity makes the value what IEEE arithmetic would give). */
static inline void sp_exact_sum_add(sp_exact_sum *s, double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    unsigned e = (unsigned)(b >> 52) & 0x7ffu;
    if (__builtin_expect(e == 0x7ffu, 0)) {
        s->special |= b & (((uint64_t)1 << 52) - 1) ? 4u : (b >> 63 ? 2u : 1u);
        return;
    }
    /* the implicit bit of a normal number; a subnormal's m weighs as with e = 1, counted at e = 0 */
    int64_t m = (int64_t)((b & (((uint64_t)1 << 52) - 1)) | (uint64_t)(e != 0) << 52);
    int64_t neg = -(int64_t)(b >> 63);
    s->by_exp[e] += (m ^ neg) - neg;
}
/* Adds every term of other into s. */
void sp_exact_sum_merge(sp_exact_sum *s, const sp_exact_sum *other);
/* The exact sum rounded once to the nearest long double (ties to even; to 64 bits where long double
 * has more): +0 for an empty sum or one whose terms cancel; NaN, +inf or -inf as IEEE addition in any
 * order would give for the special terms. */
long double sp_exact_sum_value(const sp_exact_sum *s);

#endif
