/* The one hash map of servprof: an open-addressing table (linear probing, at most half full, a power
 * of two slots) from 64-bit keys to 32-bit values, for integer ids and for hashed text or tuples.
 * Its mixer is common/mix.h's sp_mix64; text is hashed with sp_hash_bytes (common/util_int.h). */
#ifndef SERVPROF_HMAP_H
#define SERVPROF_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mix.h"
#include "servprof/servprof.h"

/* Keys are of two kinds:
 * - integer keys (ids, interned-string offsets, packed small tuples): stored and compared exactly;
 *   lookups pass eq = NULL.
 * - hashed keys (text, tuples): the stored key is a hash or a combination of the parts, so two
 *   different keys may share one; lookups pass an `eq` that checks an entry against the caller's own
 *   record, and the map holds any number of entries with one key.
 * Keys are placed by their low bits, so sequential ids share cache lines (hashes are already mixed);
 * an insert that has to step over 64 slots (keys piling up on the same low bits) switches the map to
 * placing every key by sp_mix64 for good, so no input makes probing slow. A lookup never looks
 * further from a key's home than the farthest any entry lies from its own (`reach`), so a missing
 * key inside a long run of sequential ids costs no more than a present one. */

#define SP_HMAP_NONE UINT32_MAX /* "no value"; values are 0 .. UINT32_MAX - 1 */

typedef struct sp_hmap {
    uint64_t *keys;     /* meaningful where vals is not 0 */
    uint32_t *vals;     /* value + 1; 0 = empty slot */
    size_t nslots;      /* a power of two, or 0 before the first insert */
    size_t count;
    size_t reach;       /* the farthest any entry lies from its home slot */
    bool mixed;         /* keys placed by sp_mix64(key) instead of their low bits */
} sp_hmap;

/* Whether the entry holding `value` is the key the caller looks for (hashed keys). `ctx` is the
 * lookup's own argument. */
typedef bool (*sp_hmap_eq_fn)(const void *ctx, uint32_t value);

/* Empties `m` and sizes it for `expected` entries without growing (0: no slots yet). Returns SP_OK
 * or SP_ERR_NOMEM (the map is then empty and valid). A zeroed sp_hmap is an empty map too. */
sp_status sp_hmap_init(sp_hmap *m, size_t expected);

/* Frees the arrays; the map is then empty and reusable. NULL is fine. */
void sp_hmap_free(sp_hmap *m);

/* Removes every entry, keeping the slots. */
void sp_hmap_clear(sp_hmap *m);

/* Makes room for `more` entries beyond count without growing in between. SP_OK, SP_ERR_NOMEM or
 * SP_ERR_LIMIT (past 2^32 entries); the map is unchanged on failure. */
sp_status sp_hmap_reserve(sp_hmap *m, size_t more);

/* Adds the entry (key, value) without looking for key first: the caller knows it is new, or (hashed
 * keys) allows several entries per key. Grows as needed. SP_OK, SP_ERR_NOMEM, SP_ERR_LIMIT (value
 * is SP_HMAP_NONE, or past 2^32 entries); the map is unchanged on failure. */
sp_status sp_hmap_put(sp_hmap *m, uint64_t key, uint32_t value);

/* Removes the entry (key, value); false when there is none. Later entries of its run move back, so
 * lookups keep finding them (no tombstones). */
bool sp_hmap_remove(sp_hmap *m, uint64_t key, uint32_t value);

/* The home slot of `key`. The map must have slots. */
static inline size_t sp_hmap_home(const sp_hmap *m, uint64_t key)
{
    return (size_t)(m->mixed ? sp_mix64(key) : key) & (m->nslots - 1);
}

/* The value of the entry with `key` (and, with `eq`, for which eq(ctx, value) holds), or
 * SP_HMAP_NONE. Inline, so a constant `eq` is inlined into the probe. Never changes the map. */
static inline uint32_t sp_hmap_find(const sp_hmap *m, uint64_t key, sp_hmap_eq_fn eq, const void *ctx)
{
    if (!m->count)
        return SP_HMAP_NONE;
    const size_t mask = m->nslots - 1;
    size_t j = sp_hmap_home(m, key);
    for (size_t d = 0; d <= m->reach; d++, j = (j + 1) & mask) {
        uint32_t v = m->vals[j];
        if (!v)
            break;
        if (m->keys[j] == key && (!eq || eq(ctx, v - 1)))
            return v - 1;
    }
    return SP_HMAP_NONE;
}

/* Dense indexes 0, 1, 2, ... for distinct pairs of 64-bit keys, in first-seen order, keeping the
 * pairs (pairs[i] is the pair with index i): the map above keyed by k2 + k1 x an odd constant, so
 * sequential k2 under one k1 (correlation ids of one file, streams of one device) are neighbours. */
typedef struct sp_pairmap {
    sp_hmap map;
    uint64_t (*pairs)[2];
    size_t count, cap;
} sp_pairmap;

/* Empties `m`, sized for `expected` pairs. SP_OK or SP_ERR_NOMEM (then empty and valid). */
sp_status sp_pairmap_init(sp_pairmap *m, size_t expected);
/* Frees the arrays; the map is then empty and reusable. NULL is fine. */
void sp_pairmap_free(sp_pairmap *m);
/* The index of (k1, k2), adding it with index `count` when new (*added tells). SP_OK, SP_ERR_NOMEM
 * or SP_ERR_LIMIT (past 2^30 pairs); *out and *added are written only on SP_OK. */
sp_status sp_pairmap_get(sp_pairmap *m, uint64_t k1, uint64_t k2, uint32_t *out, int *added);
/* The index of (k1, k2), or SP_HMAP_NONE. */
uint32_t sp_pairmap_find(const sp_pairmap *m, uint64_t k1, uint64_t k2);

#endif
