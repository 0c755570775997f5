/* The integer-keyed map of u64map.h, shared by the event model's numeric string table and the native
 * importer's request map. */
#include <stdlib.h>

#include "common/u64map.h"
#include "common/util_int.h"

#define SP_U64MAP_MAX_PROBE 64u

static sp_status rebuild(sp_u64map *m, size_t n, bool mixed)
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
    for (size_t i = 0; i < m->nslots; i++) {
        if (!m->vals[i])
            continue;
        size_t j = (mixed ? sp_mix64(m->keys[i]) : m->keys[i]) & (n - 1);
        while (vals[j])
            j = (j + 1) & (n - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->nslots = n;
    m->mixed = mixed;
    return SP_OK;
}

sp_status sp_u64map_slot(sp_u64map *m, uint64_t key, bool grow, size_t min_slots, size_t max_slots,
                         size_t *slot)
{
    if (!grow && !m->nslots)
        return SP_ERR_STATE;
    if (grow && (m->count + 1) * 2 > m->nslots) {
        size_t n = m->nslots ? m->nslots * 2 : min_slots;
        if (n > max_slots)
            return SP_ERR_LIMIT;
        sp_status st = rebuild(m, n, m->mixed);
        if (st)
            return st;
    }
    for (;;) {
        size_t mask = m->nslots - 1;
        size_t j = (m->mixed ? sp_mix64(key) : key) & mask;
        unsigned probes = 0;
        while (m->vals[j] && m->keys[j] != key) {
            j = (j + 1) & mask;
            if (++probes == SP_U64MAP_MAX_PROBE && !m->mixed)
                break;
        }
        if (probes < SP_U64MAP_MAX_PROBE || m->mixed || !grow) {
            /* a read-only probe past the limit just keeps going (the loop above stopped early) */
            while (m->vals[j] && m->keys[j] != key)
                j = (j + 1) & mask;
            *slot = j;
            return SP_OK;
        }
        sp_status st = rebuild(m, m->nslots, true);
        if (st)
            return st;
    }
}

void sp_u64map_free(sp_u64map *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->nslots = m->count = 0;
    m->mixed = false;
}
