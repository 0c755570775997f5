/* Sorting for the integer columns every part sorts (durations, ids): one LSD radix sort, so each
 * part's percentiles get the same linear-time engine. */
#ifndef SERVPROF_SORT_H
#define SERVPROF_SORT_H

#include <stddef.h>
#include <stdint.h>

#include "servprof/servprof.h"

/* Sorts v[n] ascending: LSD radix sort on 8-bit digits, skipping every digit that is the same in all
 * values (durations rarely use their top bytes; timestamps share theirs), so n values below 2^32 take
 * at most four passes. `tmp` must hold n values, or be NULL (then it is allocated and freed here).
 * Returns SP_OK, or SP_ERR_NOMEM (v unchanged) when tmp is NULL and cannot be allocated. */
sp_status sp_sort_u64(uint64_t *v, size_t n, uint64_t *tmp);

/* Sorts v[n] by v >> low_bits (0..63) alone, stably: values with the same high bits keep their order,
 * whatever their low bits. For a key packed above an index (key << low_bits | i, with i counting up):
 * sorting the keys stably then needs no pass over the index's digits. Otherwise as sp_sort_u64. */
sp_status sp_sort_u64_high(uint64_t *v, size_t n, uint64_t *tmp, unsigned low_bits);

/* The value sp_sort_u64 would leave at v[k] (k < n; 0 when n is 0): an MSD radix selection, each
 * round counting the remaining values' digit (the 11 highest bits that still vary over 65,536 values
 * or more, else 8) and keeping those in the digit that holds rank k, in place (usually two rounds
 * over a shrinking set). Reorders v. For one percentile of a column that is not needed sorted. */
uint64_t sp_select_u64(uint64_t *v, size_t n, size_t k);
/* sp_select_u64 with the bits in which some values differ (the OR of all values XOR their AND)
 * taken by the caller in the pass that filled v: no pass of its own before the first count. */
uint64_t sp_select_u64_varying(uint64_t *v, size_t n, size_t k, uint64_t varying);

/* The most ranks one sp_select_ranks_u64 call takes. */
#define SP_SELECT_RANKS_MAX 64

/* The values sp_sort_u64 would leave at v[ks[0]], ..., v[ks[nk-1]] into out[0..nk): ks ascending
 * (repeats allowed), each below n, nk <= SP_SELECT_RANKS_MAX. `varying` is the bits in which some
 * values differ (the OR of all values XOR their AND), which the caller's own pass over v computes.
 * An MSD radix selection on the digits sp_select_u64 takes (from the highest bit that varies), each
 * round counts the digit, copies only the values whose digit holds a wanted rank to where a sort would put them
 * (ping-ponging between v and tmp, which must hold n values) and goes on inside each such digit;
 * ranges of at most 32 values are sorted by insertion. The order statistics are exact, so the picks
 * equal a full sort's, in about two passes over v instead of one per varying byte. Scrambles v and
 * tmp. */
void sp_select_ranks_u64(uint64_t *v, size_t n, uint64_t *tmp, uint64_t varying, const size_t *ks, size_t nk,
                         uint64_t *out);

/* sp_select_ranks_u64 over 32-bit values (`varying` below 2^32, `tmp` n values): the same digits and
 * rounds, the same picks as over the values widened, in half the bytes (a column known to fit). */
void sp_select_ranks_u32(uint32_t *v, size_t n, uint32_t *tmp, uint64_t varying, const size_t *ks, size_t nk,
                         uint64_t *out);

/* The most digit values sp_select_first_digit gives. */
#define SP_SELECT_DIGITS 2048
/* The digit sp_select_ranks_u64 counts first over n values whose varying bits are `varying` (not 0):
 * value x counts at (x >> *shift) & (returned - 1); returns how many digit values there are (at most
 * SP_SELECT_DIGITS). */
size_t sp_select_first_digit(uint64_t varying, size_t n, unsigned *shift);
/* sp_select_ranks_u64 with the counts of its first digit (sp_select_first_digit's: count[d] values of
 * v have digit d) taken by the caller in the pass that filled v: the selection's first pass over v is
 * not made. The same picks. */
void sp_select_ranks_u64_counted(uint64_t *v, size_t n, uint64_t *tmp, uint64_t varying, const size_t *count,
                                 const size_t *ks, size_t nk, uint64_t *out);

/* Sorts base[n] (elements of `size` bytes) into cmp's order as qsort does, in one pass when they are
 * in order already or nearly so: an insertion sort while it takes at most 8 moves an element on
 * average (elements of at most 64 bytes), qsort for the rest of the work past that. For a cmp that
 * calls no two different elements equal (a total order of what the elements hold), so that every sort
 * gives the same array. Record lists that arrive in time order (batches) then cost one comparison an
 * element instead of qsort's n log n. */
void sp_sort_mostly_sorted(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

#endif
