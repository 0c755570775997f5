/* The integer map (src/common/u64map.c) against a naive reference (a linear search over every
 * inserted pair): sequential ids, random ids, and ids that pile up on the same low bits (multiples of
 * 2^20), which must switch the map to mixed hashing and still find every key. */
#include <stdlib.h>

#include "common/u64map.h"
#include "testlib.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void run(const char *what, uint64_t (*key_of)(size_t), size_t n)
{
    sp_u64map m = {0};
    uint64_t *ref = malloc(n * sizeof *ref);
    size_t nref = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = key_of(i);
        size_t slot;
        CHECK(sp_u64map_slot(&m, k, true, 16, (size_t)1 << 30, &slot) == SP_OK);
        int naive = -1;
        for (size_t r = 0; r < nref; r++)
            if (ref[r] == k)
                naive = (int)r;
        if (naive >= 0) {
            CHECK_EQ_U64(m.vals[slot], (uint64_t)naive + 1);
        } else {
            CHECK_EQ_U64(m.vals[slot], 0);
            m.keys[slot] = k;
            m.vals[slot] = (uint32_t)nref + 1;
            m.count++;
            ref[nref++] = k;
        }
    }
    for (size_t r = 0; r < nref; r++) {
        size_t slot;
        CHECK(sp_u64map_slot(&m, ref[r], false, 16, (size_t)1 << 30, &slot) == SP_OK);
        CHECK_EQ_U64(m.vals[slot], r + 1);
    }
    size_t slot;
    CHECK(sp_u64map_slot(&m, UINT64_MAX - 7, false, 16, (size_t)1 << 30, &slot) == SP_OK);
    CHECK_EQ_U64(m.vals[slot], 0);
    printf("%s: %zu keys, %zu slots, mixed %d\n", what, nref, m.nslots, (int)m.mixed);
    sp_u64map_free(&m);
    free(ref);
}

static uint64_t seq(size_t i) { return i + 1; }
static uint64_t rnd(size_t i) { return i % 7 == 3 ? 42 : next_rand(); } /* with repeats */
static uint64_t piled(size_t i) { return (uint64_t)(i % 1500) << 20; } /* same low bits, repeated */

int main(void)
{
    sp_u64map empty = {0};
    size_t slot = 99;
    CHECK(sp_u64map_slot(&empty, 1, false, 16, 1024, &slot) == SP_ERR_STATE);
    CHECK_EQ_U64(slot, 99); /* out-parameter untouched on failure */
    run("sequential", seq, 3000);
    run("random", rnd, 3000);
    run("piled", piled, 3000);
    sp_u64map tiny = {0};
    for (uint64_t k = 1; k <= 8; k++) {
        sp_status st = sp_u64map_slot(&tiny, k, true, 4, 8, &slot);
        if (st != SP_OK) {
            CHECK(st == SP_ERR_LIMIT);
            CHECK(k == 5); /* the 5th insert would need 16 slots */
            break;
        }
        tiny.keys[slot] = k;
        tiny.vals[slot] = 1;
        tiny.count++;
    }
    sp_u64map_free(&tiny);
    return sp_test_done("test_u64map");
}
