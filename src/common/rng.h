/* servprof's one random number generator: xoshiro256** (Blackman and Vigna, "Scrambled linear
 * pseudorandom number generators", ACM TOMS 2021; reference code xoshiro256starstar.c) seeded through
 * splitmix64 (common/mix.h), and the few distributions its users draw from. Everything seeded in
 * servprof comes from here: `servprof synth` traces, the load generator's schedules and texts, the
 * reference encoder's generated weights, the what-if simulator's resampled residuals. Their outputs
 * depend on these functions bit for bit, so a change here changes every seeded output (the tests
 * that pin them: test_rng, tests/cli/synth_golden.sh, test_synth).
 * Static inline: the generator is a handful of instructions and its callers draw in tight loops.
 * Not thread-safe per state: each thread or purpose owns its own sp_rng (or splitmix64 state). */
#ifndef SERVPROF_RNG_H
#define SERVPROF_RNG_H

#include <math.h>
#include <stdint.h>

#include "common/mix.h"

/* ---- splitmix64: a 64-bit state advanced by a constant (the golden ratio's fraction), mixed ---- */

/* Advances *state and returns the next output. Enough on its own where a few well-spread values are
 * needed (weights, residual picks); its main use is to expand one seed into xoshiro's state. */
static inline uint64_t sp_splitmix64(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    return sp_mix64(*state);
}

/* ---- turning 64 random bits into a double (the top 53 bits: a double's precision) ---- */

/* In [0, 1): k x 2^-53 for k = the top 53 bits. */
static inline double sp_bits_to_unit(uint64_t bits)
{
    return (double)(bits >> 11) * 0x1.0p-53;
}

/* In (0, 1), never 0 or 1: the same grid shifted by half a step, so log() of it is always finite and
 * never 0. (k + 0.5 rounds to even above 2^52, so the top k, 2^53 - 1, would round to exactly 1: that
 * one value is kept just below 1 instead.) */
static inline double sp_bits_to_open_unit(uint64_t bits)
{
    double u = ((double)(bits >> 11) + 0.5) * 0x1.0p-53;
    return u < 1.0 ? u : 0x1.fffffffffffffp-1;
}

/* ---- xoshiro256**: 256 bits of state, period 2^256 - 1, passes BigCrush ---- */

typedef struct sp_rng {
    uint64_t s[4]; /* never all zero (seeding through splitmix64 cannot give four zeros) */
} sp_rng;

/* Seeds `r` from (seed, stream): four splitmix64 outputs from seed ^ (stream x an odd constant), so
 * one seed gives independent-looking streams per purpose (the load generator draws arrivals and
 * texts from different streams, so changing one leaves the other as it was). Stream 0 is the plain
 * splitmix64 expansion of `seed`. */
static inline void sp_rng_seed(sp_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = sp_splitmix64(&x);
}

static inline uint64_t sp_rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* The next 64 random bits. */
static inline uint64_t sp_rng_next(sp_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = sp_rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sp_rotl64(s[3], 45);
    return result;
}

/* Uniform in (0, 1), never 0 or 1 (sp_bits_to_open_unit). */
static inline double sp_rng_uniform(sp_rng *r)
{
    return sp_bits_to_open_unit(sp_rng_next(r));
}

/* ---- normal and gamma variates ----
 * Two normal samplers, because seeded outputs depend on how many uniforms each draw consumes: the
 * load generator's schedules use the polar method, `servprof synth`'s traces use Box-Muller. Both are
 * exact standard normals; new code may use either (sp_rng_normal is the faster). */

/* Standard normal by Marsaglia's polar method (a rejection loop: two uniforms per try, about 1.27
 * tries per value; the second value of each accepted pair is not kept). */
static inline double sp_rng_normal(sp_rng *r)
{
    for (;;) {
        double u = 2.0 * sp_rng_uniform(r) - 1.0, v = 2.0 * sp_rng_uniform(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0)
            return u * sqrt(-2.0 * log(s) / s);
    }
}

/* Standard normal by the Box-Muller transform: exactly two uniforms per value (the cosine branch; the
 * sine one is not kept), so the stream position after n draws is known. */
static inline double sp_rng_normal_box_muller(sp_rng *r)
{
    double u1 = sp_rng_uniform(r), u2 = sp_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Gamma(shape, scale 1), shape > 0: Marsaglia and Tsang (2000), "A simple method for generating gamma
 * variables"; for shape < 1 the boost gamma(a) = gamma(a + 1) x U^(1/a) from the same paper. */
static inline double sp_rng_gamma(sp_rng *r, double shape)
{
    if (shape < 1.0) {
        double g = sp_rng_gamma(r, shape + 1.0);
        return g * pow(sp_rng_uniform(r), 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = sp_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = sp_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x)
            return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
}

#endif
