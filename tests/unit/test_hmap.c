/* The one hash map (src/common/hmap.h) against a naive reference (a plain array of live pairs,
 * searched linearly): random inserts, lookups and removals of integer keys with repeats, sequential
 * ids, keys that pile up on their low bits (which must switch the map to mixed placement and still
 * find everything), hashed keys that collide on purpose (eq tells them apart), growth from empty and
 * from init, clear, the limits, and the pair map's dense indexes. */
#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"
#include "common/util_int.h"
#include "testlib.h"
#include "xorshift_testutil.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) { return xs64_next(&rng); }

/* The reference: live (key, value) pairs. */
typedef struct naive {
    uint64_t *key;
    uint32_t *val;
    size_t n;
} naive;

static uint32_t naive_find(const naive *r, uint64_t key)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->key[i] == key)
            return r->val[i];
    return SP_HMAP_NONE;
}

static void naive_remove(naive *r, uint64_t key)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->key[i] == key) {
            r->key[i] = r->key[--r->n];
            r->val[i] = r->val[r->n];
            return;
        }
}

/* Every live key is found with its value, and the map holds nothing else. */
static void check_same(const sp_hmap *m, const naive *r)
{
    CHECK_EQ_U64(m->count, r->n);
    for (size_t i = 0; i < r->n; i++)
        CHECK_EQ_U64(sp_hmap_find(m, r->key[i], NULL, NULL), r->val[i]);
    size_t used = 0;
    for (size_t j = 0; j < m->nslots; j++)
        used += m->vals[j] != 0;
    CHECK_EQ_U64(used, r->n);
    CHECK(m->count * 2 <= m->nslots); /* at most half full */
}

/* Integer keys from key_of: find-or-insert, with one removal in every `remove_every` steps. */
static void run_integers(const char *what, uint64_t (*key_of)(size_t), size_t n, size_t remove_every,
                         bool want_mixed)
{
    sp_hmap m = {0};
    naive r = {malloc(n * sizeof *r.key), malloc(n * sizeof *r.val), 0};
    uint32_t next_value = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = key_of(i);
        uint32_t got = sp_hmap_find(&m, k, NULL, NULL);
        CHECK_EQ_U64(got, naive_find(&r, k));
        if (got == SP_HMAP_NONE) {
            CHECK(sp_hmap_put(&m, k, next_value) == SP_OK);
            r.key[r.n] = k;
            r.val[r.n++] = next_value++;
        }
        if (remove_every && i % remove_every == remove_every - 1 && r.n) {
            size_t victim = (size_t)(next_rand() % r.n);
            uint64_t vk = r.key[victim];
            CHECK(!sp_hmap_remove(&m, vk, r.val[victim] + 1)); /* wrong value: not removed */
            CHECK(sp_hmap_remove(&m, vk, r.val[victim]));
            naive_remove(&r, vk);
            CHECK_EQ_U64(sp_hmap_find(&m, vk, NULL, NULL), SP_HMAP_NONE);
        }
    }
    check_same(&m, &r);
    /* keys never inserted are not found (near, far and between the inserted ones) */
    for (int t = 0; t < 1000; t++) {
        uint64_t k = t < 500 ? key_of(n + (size_t)t) + 1 : next_rand();
        CHECK_EQ_U64(sp_hmap_find(&m, k, NULL, NULL), naive_find(&r, k));
    }
    CHECK_EQ_U64(m.mixed, want_mixed);
    printf("%s: %zu keys live, %zu slots, reach %zu, mixed %d\n", what, r.n, m.nslots, m.reach, (int)m.mixed);
    /* clear keeps the slots and forgets every key */
    size_t slots = m.nslots;
    sp_hmap_clear(&m);
    CHECK_EQ_U64(m.nslots, slots);
    CHECK_EQ_U64(m.count, 0);
    for (size_t i = 0; i < r.n; i++)
        CHECK_EQ_U64(sp_hmap_find(&m, r.key[i], NULL, NULL), SP_HMAP_NONE);
    sp_hmap_free(&m);
    free(r.key);
    free(r.val);
}

static uint64_t seq(size_t i) { return i + 1; }
static uint64_t rnd(size_t i) { return i % 7 == 3 ? 42 : next_rand(); } /* with repeats */
static uint64_t piled(size_t i) { return (uint64_t)(i % 1500) << 20; } /* same low bits, repeated */
static uint64_t zero_too(size_t i) { return i % 5; }                   /* 0 is a key like any other */

/* Hashed keys: "records" are small strings; the key is a deliberately weak hash (their length), so
 * most entries share a key and only eq tells them apart. */
static char words[600][8];

static bool word_eq(const void *ctx, uint32_t value)
{
    return strcmp(words[value], (const char *)ctx) == 0;
}

static void run_hashed(void)
{
    sp_hmap m;
    CHECK(sp_hmap_init(&m, 100) == SP_OK);
    CHECK(m.nslots >= 200);
    size_t slots0 = m.nslots;
    for (uint32_t i = 0; i < 600; i++) {
        snprintf(words[i], sizeof words[i], "w%u", i * 7919u % 100000u);
        uint64_t key = strlen(words[i]);
        CHECK_EQ_U64(sp_hmap_find(&m, key, word_eq, words[i]), SP_HMAP_NONE);
        CHECK(sp_hmap_put(&m, key, i) == SP_OK);
        if (i == 99)
            CHECK_EQ_U64(m.nslots, slots0); /* init sized it for 100 entries */
    }
    for (uint32_t i = 0; i < 600; i++)
        CHECK_EQ_U64(sp_hmap_find(&m, strlen(words[i]), word_eq, words[i]), i);
    CHECK_EQ_U64(sp_hmap_find(&m, 3, word_eq, "zzz"), SP_HMAP_NONE);
    /* several entries under one key: removing one leaves the others */
    CHECK(sp_hmap_remove(&m, strlen(words[5]), 5));
    CHECK_EQ_U64(sp_hmap_find(&m, strlen(words[5]), word_eq, words[5]), SP_HMAP_NONE);
    for (uint32_t i = 0; i < 600; i++)
        if (i != 5)
            CHECK_EQ_U64(sp_hmap_find(&m, strlen(words[i]), word_eq, words[i]), i);
    sp_hmap_free(&m);
    sp_hmap_free(NULL);
}

static void run_pairs(void)
{
    sp_pairmap pm;
    CHECK(sp_pairmap_init(&pm, 4) == SP_OK);
    /* three "files" with the same sequential correlation ids: equal k2 under different k1 */
    uint32_t idx;
    int added;
    for (uint64_t f = 0; f < 3; f++)
        for (uint64_t c = 1; c <= 2000; c++) {
            CHECK(sp_pairmap_get(&pm, f, c, &idx, &added) == SP_OK);
            CHECK(added);
            CHECK_EQ_U64(idx, f * 2000 + c - 1); /* dense, in first-seen order */
        }
    CHECK(sp_pairmap_get(&pm, 1, 7, &idx, &added) == SP_OK);
    CHECK(!added);
    CHECK_EQ_U64(idx, 2000 + 6);
    CHECK_EQ_U64(pm.pairs[idx][0], 1);
    CHECK_EQ_U64(pm.pairs[idx][1], 7);
    CHECK_EQ_U64(sp_pairmap_find(&pm, 3, 1), SP_HMAP_NONE);
    CHECK_EQ_U64(sp_pairmap_find(&pm, 2, 2001), SP_HMAP_NONE);
    CHECK_EQ_U64(sp_pairmap_find(&pm, 2, 2000), 3 * 2000 - 1);
    CHECK_EQ_U64(pm.count, 6000);
    sp_pairmap_free(&pm);
    sp_pairmap_free(NULL);
}

int main(void)
{
    sp_hmap empty = {0};
    CHECK_EQ_U64(sp_hmap_find(&empty, 1, NULL, NULL), SP_HMAP_NONE);
    CHECK(!sp_hmap_remove(&empty, 1, 0));
    CHECK(sp_hmap_put(&empty, 1, SP_HMAP_NONE) == SP_ERR_LIMIT); /* not a storable value */
    CHECK_EQ_U64(empty.count, 0);
    CHECK(sp_hmap_reserve(&empty, (size_t)UINT32_MAX) == SP_ERR_LIMIT);
    CHECK_EQ_U64(empty.nslots, 0); /* unchanged on failure */
    run_integers("sequential", seq, 5000, 0, false);
    run_integers("sequential, removals", seq, 5000, 3, false);
    run_integers("random", rnd, 5000, 0, false);
    run_integers("random, removals", rnd, 5000, 2, false);
    run_integers("piled", piled, 5000, 0, true);
    run_integers("piled, removals", piled, 5000, 4, true);
    run_integers("small", zero_too, 100, 0, false);
    run_hashed();
    run_pairs();
    /* The byte hash the string tables key on: known answers from an independent reference, 64-bit
     * FNV-1a and splitmix64's mixer (common/mix.h; test_rng checks it against the published
     * splitmix64 outputs) written out in Python with integers masked to 64 bits:
     *   def mix(x): x ^= x >> 30; x = x * 0xbf58476d1ce4e5b9 % 2**64; x ^= x >> 27;
     *               x = x * 0x94d049bb133111eb % 2**64; return x ^ (x >> 31)
     *   hash(b, seed) = mix(FNV-1a of b from offset basis 14695981039346656037 ^ seed) */
    CHECK_EQ_U64(sp_hash_bytes("abc", 3, 0), 0xcfd2ddeaa83fe67eull);
    CHECK_EQ_U64(sp_hash_bytes("queue", 5, 0), 0xf4700b123aeb0760ull);
    CHECK(sp_hash_bytes("abc", 3, 0) != sp_hash_bytes("abc", 3, 1));
    return sp_test_done("test_hmap");
}
