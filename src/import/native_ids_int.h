/* The native reader's map from a recorder's u64 request ids to request indexes. Recorders number
 * requests sequentially, so most ids fall in one dense run: a table indexed by (id - lo) answers them
 * with one array read and 4 bytes an id, where the hash map took 24-48 bytes an id (12-byte slots at
 * most half full) and a cache miss a lookup. Ids the table does not cover go to the hash map, so a
 * sparse or hostile trace costs what it did. Private to src/import. */
#ifndef SERVPROF_IMPORT_NATIVE_IDS_INT_H
#define SERVPROF_IMPORT_NATIVE_IDS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hmap.h"

/* The table covers ids lo .. lo + cap - 1 (lo + cap <= UINT64_MAX, so UINT64_MAX itself is always in
 * the map); it grows (by at least doubling, down or up) only while its size stays within
 * SP_NIDS_SLACK x (ids in it + 1) + SP_NIDS_MIN entries, so its memory is bounded by a small multiple
 * of the requests seen whatever the ids. An id is entered once, in the table if the table covers it
 * or can grow to, else in the map; a lookup reads the table, then the map, so an id the map took
 * before the table grew over it is still found. */
#define SP_NIDS_MIN ((uint64_t)1 << 16)
#define SP_NIDS_SLACK 4u

typedef struct sp_nids {
    uint32_t *dense;          /* dense[id - lo]: index + 1; 0 = not in the table */
    uint64_t lo;
    uint64_t cap;             /* 0: no table yet */
    size_t count;             /* entries in the table */
    sp_hmap map;              /* the ids the table does not hold */
} sp_nids;

/* The index entered for `id`, or SP_HMAP_NONE. Never changes the map. */
static inline uint32_t sp_nids_find(const sp_nids *m, uint64_t id)
{
    uint64_t k = id - m->lo; /* wraps past cap for id < lo */
    if (k < m->cap && m->dense[k])
        return m->dense[k] - 1;
    return sp_hmap_find(&m->map, id, NULL, NULL);
}

/* sp_nids_put's general part (native_ids.c): the table's growth, the hash map, the errors. */
sp_status sp_nids_put_slow(sp_nids *m, uint64_t id, uint32_t idx);

/* Enters (id, idx); the caller knows id is not entered yet (sp_nids_find said so). SP_OK,
 * SP_ERR_NOMEM or SP_ERR_LIMIT (idx is SP_HMAP_NONE); the map is unchanged on failure. An id the
 * table already covers (a recorder's next id, nearly always) is entered here, without a call. */
static inline sp_status sp_nids_put(sp_nids *m, uint64_t id, uint32_t idx)
{
    if (idx != SP_HMAP_NONE && id - m->lo < m->cap) {
        m->dense[id - m->lo] = idx + 1;
        m->count++;
        return SP_OK;
    }
    return sp_nids_put_slow(m, id, idx);
}

/* Frees both parts; the map is then empty and reusable. A zeroed sp_nids is an empty map. */
void sp_nids_free(sp_nids *m);

#endif
