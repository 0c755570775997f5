/* The radix sort of common/sort.h. */
#include <stdlib.h>
#include <string.h>

#include "common/sort.h"

sp_status sp_sort_u64(uint64_t *v, size_t n, uint64_t *tmp)
{
    return sp_sort_u64_high(v, n, tmp, 0);
}

sp_status sp_sort_u64_high(uint64_t *v, size_t n, uint64_t *tmp, unsigned low_bits)
{
    if (n < 2 || low_bits > 63)
        return SP_OK;
    uint64_t or_all = 0, and_all = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        or_all |= v[i];
        and_all &= v[i];
    }
    uint64_t varying = (or_all ^ and_all) >> low_bits << low_bits; /* key bits not the same in every value */
    if (varying == 0)
        return SP_OK;
    int own = 0;
    if (!tmp) {
        tmp = malloc(n * sizeof *tmp);
        if (!tmp)
            return SP_ERR_NOMEM;
        own = 1;
    }
    uint64_t *src = v, *dst = tmp;
    size_t count[256];
    for (unsigned shift = low_bits; shift < 64; shift += 8) {
        if (((varying >> shift) & 0xff) == 0)
            continue; /* a digit all values share: counting on it would move nothing */
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xff]++;
        size_t sum = 0;
        for (size_t d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
    if (own)
        free(tmp);
    return SP_OK;
}

void sp_sort_mostly_sorted(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    unsigned char *v = base, x[64];
    size_t budget = 8 * n;
    if (n < 2)
        return;
    if (size > sizeof x) {
        qsort(base, n, size, cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        if (cmp(v + (i - 1) * size, v + i * size) <= 0)
            continue;
        memcpy(x, v + i * size, size);
        size_t j = i;
        do {
            if (budget-- == 0) { /* far out of order: put the element back in its hole, qsort the rest */
                memcpy(v + j * size, x, size);
                qsort(base, n, size, cmp);
                return;
            }
            memmove(v + j * size, v + (j - 1) * size, size);
            j--;
        } while (j > 0 && cmp(v + (j - 1) * size, x) > 0);
        memcpy(v + j * size, x, size);
    }
}

uint64_t sp_select_u64(uint64_t *v, size_t n, size_t k)
{
    uint64_t or_all = 0, and_all = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        or_all |= v[i];
        and_all &= v[i];
    }
    return sp_select_u64_varying(v, n, k, or_all ^ and_all);
}

/* The selections' digit: at most SEL_WIDE bits (2,048 counters, 16 KiB: within L1) over a range of
 * at least SEL_WIDE_MIN values, else 8, its top at the highest bit that still varies and never below
 * the lowest. A digit aligned to whole bytes split values of ~20 varying bits (latencies in ns) into
 * 16 buckets first, then into 256 of a sixteenth of the column: the column was read four times where
 * two reads do now. Which digits are counted does not change a pick: each round keeps exactly the
 * values whose digit holds the rank. */
#define SEL_WIDE 11
#define SEL_WIDE_MIN 65536u
_Static_assert(SP_SELECT_DIGITS == 1u << SEL_WIDE, "sort.h's SP_SELECT_DIGITS is the widest digit");

static unsigned sel_digit(uint64_t varying, unsigned hb, size_t len)
{
    unsigned width = len >= SEL_WIDE_MIN ? SEL_WIDE : 8, lb = (unsigned)__builtin_ctzll(varying);
    return hb + 1 >= lb + width ? hb + 1 - width : lb; /* the digit's lowest bit */
}

uint64_t sp_select_u64_varying(uint64_t *v, size_t n, size_t k, uint64_t varying)
{
    if (n == 0 || k >= n)
        return 0;
    if (varying == 0)
        return v[0];
    size_t len = n, count[1u << SEL_WIDE];
    /* from the highest bit that varies down; the values kept share every bit above the digit */
    unsigned hb = (unsigned)(63 - __builtin_clzll(varying));
    for (;;) {
        unsigned shift = sel_digit(varying, hb, len);
        uint64_t mask = (2ull << (hb - shift)) - 1;
        memset(count, 0, (size_t)(mask + 1) * sizeof count[0]);
        for (size_t i = 0; i < len; i++)
            count[(v[i] >> shift) & mask]++;
        size_t d = 0;
        while (k >= count[d])
            k -= count[d++];
        if (count[d] != len) {
            size_t j = 0;
            for (size_t i = 0; i < len; i++)
                if (((v[i] >> shift) & mask) == d)
                    v[j++] = v[i];
            len = j;
        }
        uint64_t below = varying & ((1ull << shift) - 1);
        if (len <= 1 || !below)
            break;
        hb = (unsigned)(63 - __builtin_clzll(below));
    }
    return v[k];
}

/* The selection of sp_select_ranks_u64 and sp_select_ranks_u32, written once for both value types (T)
 * and named by SFX: insertion_SFX sorts the small ranges a selection ends in; select_ranks_SFX is one
 * round over src[len], whose values differ only in the bits of `varying` (not 0): it counts the highest
 * such digit, copies the digits that hold a wanted rank to their places in dst (where a sort would put
 * them), then goes on inside each of them with src as its scratch. The wanted digits' values go to
 * where a sort would put them: at[] serves as each one's next free place, then is given back (all of a
 * wanted digit's values are placed: its end less its count is its start again). */
#define SELECT_RANKS_OF(T, SFX)                                                                                     \
    static void insertion_##SFX(T *v, size_t n)                                                                    \
    {                                                                                                               \
        for (size_t i = 1; i < n; i++) {                                                                            \
            T x = v[i];                                                                                             \
            size_t j = i;                                                                                           \
            while (j > 0 && v[j - 1] > x) {                                                                         \
                v[j] = v[j - 1];                                                                                    \
                j--;                                                                                                \
            }                                                                                                       \
            v[j] = x;                                                                                               \
        }                                                                                                           \
    }                                                                                                               \
    static void select_ranks_##SFX(T *src, T *dst, size_t len, uint64_t varying, const size_t *ks, size_t nk,     \
                                   uint64_t *out, const size_t *counted)                                            \
    {                                                                                                               \
        unsigned hb = (unsigned)(63 - __builtin_clzll(varying)), shift = sel_digit(varying, hb, len);              \
        size_t ndig = (size_t)2 << (hb - shift), mask = ndig - 1;                                                  \
        size_t count[1u << SEL_WIDE], at[1u << SEL_WIDE];                                                          \
        unsigned char wanted[1u << SEL_WIDE];                                                                      \
        memset(wanted, 0, ndig);                                                                                   \
        if (counted) { /* the caller's counts of this digit, taken as it filled src */                            \
            memcpy(count, counted, ndig * sizeof count[0]);                                                        \
        } else {                                                                                                    \
            memset(count, 0, ndig * sizeof count[0]);                                                              \
            for (size_t i = 0; i < len; i++)                                                                        \
                count[(src[i] >> shift) & mask]++;                                                                 \
        }                                                                                                           \
        size_t sum = 0;                                                                                             \
        for (size_t d = 0; d < ndig; d++) {                                                                         \
            at[d] = sum;                                                                                            \
            sum += count[d];                                                                                        \
        }                                                                                                           \
        for (size_t j = 0, d = 0; j < nk; j++) {                                                                    \
            while (ks[j] >= at[d] + count[d])                                                                       \
                d++;                                                                                                \
            wanted[d] = 1;                                                                                          \
        }                                                                                                           \
        for (size_t i = 0; i < len; i++) {                                                                          \
            size_t d = (size_t)(src[i] >> shift) & mask;                                                           \
            if (wanted[d])                                                                                          \
                dst[at[d]++] = src[i];                                                                              \
        }                                                                                                           \
        for (size_t d = 0; d < ndig; d++)                                                                           \
            if (wanted[d])                                                                                          \
                at[d] -= count[d];                                                                                  \
        /* each wanted digit's values, with the ranks inside it */                                                 \
        size_t rel[64];                                                                                             \
        for (size_t j = 0; j < nk;) {                                                                               \
            size_t d = 0;                                                                                           \
            while (ks[j] >= at[d] + count[d])                                                                       \
                d++;                                                                                                \
            size_t m = 0;                                                                                           \
            while (j + m < nk && ks[j + m] < at[d] + count[d]) {                                                    \
                rel[m] = ks[j + m] - at[d];                                                                         \
                m++;                                                                                                \
            }                                                                                                       \
            T *part = dst + at[d], *scratch = src + at[d];                                                         \
            size_t plen = count[d];                                                                                 \
            if (plen <= 32) {                                                                                       \
                insertion_##SFX(part, plen);                                                                        \
                for (size_t r = 0; r < m; r++)                                                                      \
                    out[j + r] = part[rel[r]];                                                                      \
            } else {                                                                                                \
                T or_k = 0, and_k = (T)~(T)0;                                                                       \
                for (size_t i = 0; i < plen; i++) {                                                                 \
                    or_k |= part[i];                                                                                \
                    and_k &= part[i];                                                                               \
                }                                                                                                   \
                if (or_k == and_k) {                                                                                \
                    for (size_t r = 0; r < m; r++)                                                                  \
                        out[j + r] = part[0];                                                                       \
                } else {                                                                                            \
                    select_ranks_##SFX(part, scratch, plen, (uint64_t)(or_k ^ and_k), rel, m, out + j, NULL);      \
                }                                                                                                   \
            }                                                                                                       \
            j += m;                                                                                                 \
        }                                                                                                           \
    }

SELECT_RANKS_OF(uint64_t, u64)
SELECT_RANKS_OF(uint32_t, u32)

size_t sp_select_first_digit(uint64_t varying, size_t n, unsigned *shift)
{
    unsigned hb = (unsigned)(63 - __builtin_clzll(varying));
    *shift = sel_digit(varying, hb, n);
    return (size_t)2 << (hb - *shift);
}

void sp_select_ranks_u64_counted(uint64_t *v, size_t n, uint64_t *tmp, uint64_t varying, const size_t *count,
                                 const size_t *ks, size_t nk, uint64_t *out)
{
    if (!n || !nk)
        return;
    if (!varying) {
        for (size_t j = 0; j < nk; j++)
            out[j] = v[0];
        return;
    }
    select_ranks_u64(v, tmp, n, varying, ks, nk, out, count);
}

void sp_select_ranks_u64(uint64_t *v, size_t n, uint64_t *tmp, uint64_t varying, const size_t *ks, size_t nk,
                         uint64_t *out)
{
    sp_select_ranks_u64_counted(v, n, tmp, varying, NULL, ks, nk, out);
}

void sp_select_ranks_u32(uint32_t *v, size_t n, uint32_t *tmp, uint64_t varying, const size_t *ks, size_t nk,
                         uint64_t *out)
{
    if (!n || !nk)
        return;
    if (!varying) {
        for (size_t j = 0; j < nk; j++)
            out[j] = v[0];
        return;
    }
    select_ranks_u32(v, tmp, n, varying, ks, nk, out, NULL);
}
