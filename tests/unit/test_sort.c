/* The one radix sort (src/common/sort.h) against qsort, the naive reference, on columns shaped like
 * the ones servprof sorts: full 64-bit values, durations (small, top bytes zero), absolute
 * timestamps (top bytes shared and not zero, the digits the sort skips), equal values, a few values
 * only, and with a caller's buffer. */
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/sort.h"
#include "testlib.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts a copy of v[n] both ways and compares. */
static void check_sorts(const uint64_t *v, size_t n, int caller_tmp)
{
    uint64_t *a = malloc((n + 1) * sizeof *a), *b = malloc((n + 1) * sizeof *b), *tmp = NULL;
    memcpy(a, v, n * sizeof *a);
    memcpy(b, v, n * sizeof *b);
    if (caller_tmp)
        tmp = malloc((n + 1) * sizeof *tmp);
    CHECK(sp_sort_u64(a, n, tmp) == SP_OK);
    qsort(b, n, sizeof *b, cmp_u64);
    CHECK(n == 0 || memcmp(a, b, n * sizeof *a) == 0);
    free(a);
    free(b);
    free(tmp);
}

int main(void)
{
    sp_rng r;
    sp_rng_seed(&r, 2024, 0);
    static const size_t sizes[] = {0, 1, 2, 3, 17, 255, 256, 1000, 100000};
    uint64_t *v = malloc(100000 * sizeof *v);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        for (int shape = 0; shape < 5; shape++) {
            for (size_t i = 0; i < n; i++) {
                uint64_t x = sp_rng_next(&r);
                switch (shape) {
                case 0: v[i] = x; break;                                   /* any 64-bit value */
                case 1: v[i] = x >> 40; break;                             /* durations below 2^24 ns */
                case 2: v[i] = 1712195495519698000ull + (x >> 34); break;  /* timestamps, shared top */
                case 3: v[i] = 42; break;                                  /* all equal */
                case 4: v[i] = (x & 1) ? 0xff00ff00ff00ff00ull : 7; break; /* two values */
                }
            }
            check_sorts(v, n, 0);
            check_sorts(v, n, 1);
        }
    }
    free(v);
    return sp_test_done("test_sort");
}
