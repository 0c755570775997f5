/* The tests' naive reference of DESIGN section 4's share window (docs/analysis.md): requests ranked
 * 1..n by life, the ranks from ceil((x-1)% of n) to ceil((x+1)% of n) (to n at p99 and above),
 * widened to min(n, 20) in closed form: the deficit d splits ceil(d/2) below and floor(d/2) above, and
 * what one side cannot take goes to the other. Used against sp_ana_share_window (test_percentile.c)
 * and inside the analyzer's random reference (test_analyze_random.c). */
#ifndef SERVPROF_TEST_SHARE_WINDOW_REF_H
#define SERVPROF_TEST_SHARE_WINDOW_REF_H

#include <stddef.h>

static inline void naive_window(size_t n, unsigned xx, size_t *lo, size_t *hi)
{
    size_t l = 1, h = n;
    while (l * 100 < (size_t)(xx - 1) * n)
        l++;
    if (xx < 99) {
        h = 1;
        while (h * 100 < (size_t)(xx + 1) * n)
            h++;
    }
    if (h > n)
        h = n;
    size_t need = n < 20 ? n : 20;
    if (h - l + 1 < need) {
        size_t d = need - (h - l + 1), below = (d + 1) / 2, above = d / 2;
        if (below > l - 1) {
            above += below - (l - 1);
            below = l - 1;
        }
        if (h + above > n) {
            below += h + above - n;
            above = n - h;
        }
        l -= below;
        h += above;
    }
    *lo = l;
    *hi = h;
}

#endif
