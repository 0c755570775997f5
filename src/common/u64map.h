/* An open-addressing map from 64-bit integer keys to 32-bit values, for ids that are mostly
 * sequential (request ids, decimal strings interned by value). Keys are placed by their low bits, so
 * sequential ids share cache lines; keys that pile up (a probe past 64 slots) switch the map to a
 * mixing hash for good, so no input makes probing slow. Value 0 means "empty": callers store v + 1. */
#ifndef SERVPROF_U64MAP_H
#define SERVPROF_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mix.h" /* sp_mix64: the mixing hash */
#include "servprof/servprof.h"

typedef struct sp_u64map {
    uint64_t *keys;
    uint32_t *vals;     /* 0 = empty slot */
    size_t nslots;      /* a power of two, or 0 before the first insert */
    size_t count;
    bool mixed;         /* keys placed through a mixing hash instead of their low bits */
} sp_u64map;

/* Finds `key`'s slot: its entry (vals[*slot] != 0) or the empty slot where it goes. With `grow`,
 * first makes room for one insert (the caller then fills the slot and increments count); without,
 * the map is not changed and an empty map gives SP_ERR_STATE. Returns SP_OK, SP_ERR_NOMEM,
 * SP_ERR_LIMIT (more than `max_slots` slots would be needed) or SP_ERR_STATE. */
sp_status sp_u64map_slot(sp_u64map *m, uint64_t key, bool grow, size_t min_slots, size_t max_slots,
                         size_t *slot);

/* Frees the arrays; the map is then empty and reusable. */
void sp_u64map_free(sp_u64map *m);

#endif
