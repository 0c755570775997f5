/* The analyzer's small key map: open addressing from a pair of 64-bit keys to a dense index, which
 * gives dense ids to devices, streams, kernel names and launch correlations (analyze_int.h). Moved
 * here from analyze.c unchanged; the common hash map is to replace it. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t key_hash(uint64_t k1, uint64_t k2)
{
    return mix64(k1 * 0x9e3779b97f4a7c15ull ^ mix64(k2 + 0x632be59bd9b4e019ull));
}

static sp_status keymap_resize(sp_keymap *m, size_t nslots)
{
    sp_keyslot *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < m->nslots; i++) {
        if (!m->slots[i].val)
            continue;
        size_t j = key_hash(m->slots[i].k1, m->slots[i].k2) & (nslots - 1);
        while (slots[j].val)
            j = (j + 1) & (nslots - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
    return SP_OK;
}

sp_status sp_keymap_init(sp_keymap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    size_t n = 16;
    while (n < expected * 2 && n < ((size_t)1 << 31))
        n *= 2;
    return keymap_resize(m, n);
}

void sp_keymap_free(sp_keymap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

uint32_t sp_keymap_find(const sp_keymap *m, uint64_t k1, uint64_t k2)
{
    if (!m->nslots)
        return SP_EV_NONE;
    size_t j = key_hash(k1, k2) & (m->nslots - 1);
    while (m->slots[j].val) {
        if (m->slots[j].k1 == k1 && m->slots[j].k2 == k2)
            return m->slots[j].val - 1;
        j = (j + 1) & (m->nslots - 1);
    }
    return SP_EV_NONE;
}

sp_status sp_keymap_get(sp_keymap *m, uint64_t k1, uint64_t k2, uint32_t *out, int *added)
{
    uint32_t found = sp_keymap_find(m, k1, k2);
    if (found != SP_EV_NONE) {
        *out = found;
        *added = 0;
        return SP_OK;
    }
    if (m->count >= SP_EV_MAX_RECORDS)
        return SP_ERR_LIMIT;
    if ((m->count + 1) * 2 > m->nslots) {
        sp_status st = keymap_resize(m, m->nslots * 2);
        if (st)
            return st;
    }
    size_t j = key_hash(k1, k2) & (m->nslots - 1);
    while (m->slots[j].val)
        j = (j + 1) & (m->nslots - 1);
    m->slots[j] = (sp_keyslot){k1, k2, (uint32_t)m->count + 1};
    *out = (uint32_t)m->count++;
    *added = 1;
    return SP_OK;
}
