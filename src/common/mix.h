/* The 64-bit mixing function of splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom
 * number generators", OOPSLA 2014; the variant with Stafford's "Mix13" constants that Vigna's
 * splitmix64.c uses): one home for the generator (common/rng.h) and the hashes built on it
 * (common/u64map.h, sp_hash_bytes). */
#ifndef SERVPROF_MIX_H
#define SERVPROF_MIX_H

#include <stdint.h>

/* A cheap, well-spread bijection of 64-bit integers: every output bit depends on every input bit. */
static inline uint64_t sp_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

#endif
