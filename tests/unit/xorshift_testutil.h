/* The tests' own reproducible random inputs: xorshift64 (G. Marsaglia, "Xorshift RNGs", J. Stat.
 * Software 8(14), 2003; shifts 13, 7, 17) on a state the test seeds, independent of the library's RNG
 * (common/rng.h) so that a change there cannot change what a test feeds the code it checks. */
#ifndef SERVPROF_TEST_XORSHIFT_TESTUTIL_H
#define SERVPROF_TEST_XORSHIFT_TESTUTIL_H

#include <stdint.h>

/* The next value of the stream in *state (never 0 from a seed that is not 0). */
static inline uint64_t xs64_next(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* A value in [lo, hi], both included (modulo: the small bias does not matter to a test's inputs). */
static inline uint64_t xs64_in(uint64_t *state, uint64_t lo, uint64_t hi)
{
    return lo + xs64_next(state) % (hi - lo + 1);
}

#endif
