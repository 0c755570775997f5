/* The native reader's request-id map (native_ids_int.h): a dense table for the run of ids a recorder
 * numbers sequentially, the hash map for every id the table cannot cover within its memory bound. */
#include <stdlib.h>
#include <string.h>

#include "import/native_ids_int.h"

#define NIDS_FIRST ((uint64_t)4096) /* the first table's size, in ids */

/* Makes the table cover `id` (keeping what it covers): true, or false when that would take it past
 * its bound (or memory ran out), and the id then goes to the hash map. The size at least doubles on
 * each growth, so the copies cost O(1) an id; a growth that cannot double within the bound is not
 * made at all, so ids spaced a few apart stop the table early instead of growing it step by step. */
static bool nids_cover(sp_nids *m, uint64_t id)
{
    if (id == UINT64_MAX)
        return false; /* lo + cap must stay <= UINT64_MAX */
    uint64_t lo, hi; /* the ids that must be covered, [lo, hi) */
    if (!m->cap) {
        lo = id;
        hi = id + 1;
    } else if (id < m->lo) {
        lo = id;
        hi = m->lo + m->cap;
    } else {
        lo = m->lo;
        hi = id + 1;
    }
    uint64_t need = hi - lo;
    uint64_t cap = m->cap * 2 > need ? m->cap * 2 : need;
    if (cap < NIDS_FIRST)
        cap = NIDS_FIRST;
    uint64_t limit = (uint64_t)SP_NIDS_SLACK * ((uint64_t)m->count + 1) + SP_NIDS_MIN;
    if (cap > limit || cap > SIZE_MAX / sizeof *m->dense)
        return false;
    /* where the new room goes: below for a growth down, above otherwise (a sixteenth below for the
     * first table: a trace's first id is not always its lowest) */
    uint64_t nlo;
    if (!m->cap)
        nlo = lo - (lo < cap / 16 ? lo : cap / 16);
    else if (id < m->lo)
        nlo = hi >= cap ? hi - cap : 0;
    else
        nlo = m->lo;
    if (nlo > UINT64_MAX - cap)
        nlo = UINT64_MAX - cap; /* still covers [lo, hi): hi <= UINT64_MAX and cap >= need */
    uint32_t *dense;
    size_t shift = (size_t)(m->lo - nlo); /* where the old table's first entry lands */
    if (m->cap && shift == 0) {
        dense = realloc(m->dense, (size_t)cap * sizeof *dense);
        if (!dense)
            return false;
        memset(dense + m->cap, 0, (size_t)(cap - m->cap) * sizeof *dense);
    } else {
        dense = calloc((size_t)cap, sizeof *dense);
        if (!dense)
            return false;
        if (m->cap)
            memcpy(dense + shift, m->dense, (size_t)m->cap * sizeof *dense);
        free(m->dense);
    }
    m->dense = dense;
    m->lo = nlo;
    m->cap = cap;
    return true;
}

sp_status sp_nids_put_slow(sp_nids *m, uint64_t id, uint32_t idx)
{
    if (idx == SP_HMAP_NONE)
        return SP_ERR_LIMIT;
    if (id - m->lo < m->cap || nids_cover(m, id)) {
        m->dense[id - m->lo] = idx + 1;
        m->count++;
        return SP_OK;
    }
    return sp_hmap_put(&m->map, id, idx);
}

void sp_nids_free(sp_nids *m)
{
    if (!m)
        return;
    free(m->dense);
    sp_hmap_free(&m->map);
    memset(m, 0, sizeof *m);
}
