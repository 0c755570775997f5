/* The hash map of hmap.h: growth, insertion, removal (lookups are inline in the header). */
#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"
#include "common/util_int.h"

/* An insert that steps over this many slots switches an unmixed map to mixed placement. */
#define SP_HMAP_PILEUP 64u
#define SP_HMAP_MIN_SLOTS 16u
#define SP_HMAP_MAX_COUNT ((size_t)UINT32_MAX - 1) /* values are stored + 1 in 32 bits */

/* Moves every entry into a fresh table of `n` slots, placed as `mixed` says. */
static sp_status rebuild(sp_hmap *m, size_t n, bool mixed)
{
    uint64_t *keys = malloc(n * sizeof *keys);
    uint32_t *vals = calloc(n, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return SP_ERR_NOMEM;
    }
    /* calloc'd pages are mapped to the zero page until written: probing them first and writing later
     * faults each page twice, the second time flushing the TLB on every CPU; fault them in now */
    sp_prefault(vals, n * sizeof *vals);
    const size_t mask = n - 1;
    size_t reach = 0;
    for (size_t i = 0; i < m->nslots; i++) {
        if (!m->vals[i])
            continue;
        uint64_t k = m->keys[i];
        size_t j = (size_t)(mixed ? sp_mix64(k) : k) & mask, d = 0;
        for (; vals[j]; j = (j + 1) & mask)
            d++;
        keys[j] = k;
        vals[j] = m->vals[i];
        if (d > reach)
            reach = d;
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->nslots = n;
    m->mixed = mixed;
    m->reach = reach;
    return SP_OK;
}

sp_status sp_hmap_reserve(sp_hmap *m, size_t more)
{
    if (more > SP_HMAP_MAX_COUNT || m->count + more > SP_HMAP_MAX_COUNT)
        return SP_ERR_LIMIT;
    size_t need = (m->count + more) * 2;
    if (need <= m->nslots)
        return SP_OK;
    size_t n = m->nslots ? m->nslots * 2 : SP_HMAP_MIN_SLOTS;
    while (n < need)
        n *= 2;
    return rebuild(m, n, m->mixed);
}

sp_status sp_hmap_init(sp_hmap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    return expected ? sp_hmap_reserve(m, expected) : SP_OK;
}

void sp_hmap_free(sp_hmap *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

void sp_hmap_clear(sp_hmap *m)
{
    if (m->nslots)
        memset(m->vals, 0, m->nslots * sizeof *m->vals);
    m->count = 0;
    m->reach = 0;
}

sp_status sp_hmap_put(sp_hmap *m, uint64_t key, uint32_t value)
{
    if (value == SP_HMAP_NONE)
        return SP_ERR_LIMIT;
    sp_status st = sp_hmap_reserve(m, 1);
    if (st)
        return st;
    for (;;) {
        const size_t mask = m->nslots - 1;
        size_t j = sp_hmap_home(m, key), d = 0;
        for (; m->vals[j]; j = (j + 1) & mask)
            d++;
        if (d >= SP_HMAP_PILEUP && !m->mixed) {
            /* keys pile up on their low bits: place them all by the mixer from now on */
            st = rebuild(m, m->nslots, true);
            if (st)
                return st;
            continue;
        }
        m->keys[j] = key;
        m->vals[j] = value + 1;
        m->count++;
        if (d > m->reach)
            m->reach = d;
        return SP_OK;
    }
}

bool sp_hmap_remove(sp_hmap *m, uint64_t key, uint32_t value)
{
    if (!m->count)
        return false;
    const size_t mask = m->nslots - 1;
    size_t hole = sp_hmap_home(m, key);
    for (size_t d = 0;; d++, hole = (hole + 1) & mask) {
        if (d > m->reach || !m->vals[hole])
            return false;
        if (m->keys[hole] == key && m->vals[hole] == value + 1)
            break;
    }
    /* backward shift: an entry further on may fill the hole unless its home lies cyclically in
     * (hole, j], where a lookup starting at its home would never pass the hole */
    for (size_t j = (hole + 1) & mask; m->vals[j]; j = (j + 1) & mask) {
        size_t home = sp_hmap_home(m, m->keys[j]);
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays)
            continue;
        m->keys[hole] = m->keys[j];
        m->vals[hole] = m->vals[j];
        hole = j;
    }
    m->vals[hole] = 0;
    m->count--;
    return true;
}

/* ---------- dense indexes for key pairs ---------- */

#define SP_PAIRMAP_MAX ((size_t)1 << 30)

struct pair_probe {
    const sp_pairmap *m;
    uint64_t k1, k2;
};

static bool pair_eq(const void *ctx, uint32_t value)
{
    const struct pair_probe *p = ctx;
    return p->m->pairs[value][0] == p->k1 && p->m->pairs[value][1] == p->k2;
}

static uint64_t pair_key(uint64_t k1, uint64_t k2)
{
    return k2 + k1 * 0x9e3779b97f4a7c15ull;
}

sp_status sp_pairmap_init(sp_pairmap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    return sp_hmap_init(&m->map, expected);
}

void sp_pairmap_free(sp_pairmap *m)
{
    if (!m)
        return;
    sp_hmap_free(&m->map);
    free(m->pairs);
    memset(m, 0, sizeof *m);
}

uint32_t sp_pairmap_find(const sp_pairmap *m, uint64_t k1, uint64_t k2)
{
    struct pair_probe p = {m, k1, k2};
    return sp_hmap_find(&m->map, pair_key(k1, k2), pair_eq, &p);
}

sp_status sp_pairmap_get(sp_pairmap *m, uint64_t k1, uint64_t k2, uint32_t *out, int *added)
{
    uint32_t found = sp_pairmap_find(m, k1, k2);
    if (found != SP_HMAP_NONE) {
        *out = found;
        *added = 0;
        return SP_OK;
    }
    if (m->count >= SP_PAIRMAP_MAX)
        return SP_ERR_LIMIT;
    sp_status st = SP_GROW(m->pairs, m->cap, m->count + 1, SP_PAIRMAP_MAX);
    if (st)
        return st;
    st = sp_hmap_put(&m->map, pair_key(k1, k2), (uint32_t)m->count);
    if (st)
        return st;
    m->pairs[m->count][0] = k1;
    m->pairs[m->count][1] = k2;
    *out = (uint32_t)m->count++;
    *added = 1;
    return SP_OK;
}
