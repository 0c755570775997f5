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
    if (n == 0 || k >= n)
        return 0;
    uint64_t or_all = 0, and_all = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        or_all |= v[i];
        and_all &= v[i];
    }
    uint64_t varying = or_all ^ and_all;
    if (varying == 0)
        return v[0];
    size_t len = n, count[256];
    /* from the highest digit that varies down; the values kept share every digit above `shift` */
    for (int shift = (63 - __builtin_clzll(varying)) / 8 * 8; shift >= 0 && len > 1; shift -= 8) {
        if (((varying >> shift) & 0xff) == 0)
            continue;
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < len; i++)
            count[(v[i] >> shift) & 0xff]++;
        size_t d = 0;
        while (k >= count[d])
            k -= count[d++];
        if (count[d] == len)
            continue;
        size_t j = 0;
        for (size_t i = 0; i < len; i++)
            if (((v[i] >> shift) & 0xff) == d)
                v[j++] = v[i];
        len = j;
    }
    return v[k];
}
