/* The span precedence and the binary heap of span indices that resolve nested stage spans into disjoint
 * owned pieces: one home for the analyzer's partition (src/analyze/partition.c) and the recording
 * library's metrics tap (src/trace/tap.c), which must resolve spans exactly as the analyzer does.
 * Static inline: both callers use them in their sweep's inner loop, and the recording library links
 * no analysis code. */
#ifndef SERVPROF_SPAN_HEAP_H
#define SERVPROF_SPAN_HEAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sp_cspan {
    uint64_t s, e;           /* clipped to [arrival, done) */
    uint64_t rs, re;         /* as recorded: precedence is decided on these */
    const char *name;
    int row;
};

/* true when span x takes precedence over span y where both cover a ns: the later recorded start (the
 * inner span of a nesting), then the earlier recorded end, then the smaller name */
static inline int sp_cspan_better(const struct sp_cspan *x, const struct sp_cspan *y)
{
    if (x->rs != y->rs)
        return x->rs > y->rs;
    if (x->re != y->re)
        return x->re < y->re;
    return strcmp(x->name, y->name) < 0;
}

/* Pushes span index v onto the heap h[*n] (room for one more), the best span (sp_cspan_better) on top. */
static inline void sp_cspan_heap_push(uint32_t *h, size_t *n, const struct sp_cspan *c, uint32_t v)
{
    size_t i = (*n)++;
    h[i] = v;
    while (i > 0) {
        size_t par = (i - 1) / 2;
        if (!sp_cspan_better(&c[h[i]], &c[h[par]]))
            break;
        uint32_t t = h[i];
        h[i] = h[par];
        h[par] = t;
        i = par;
    }
}

/* Removes the top of the heap h[*n] (*n > 0). */
static inline void sp_cspan_heap_pop(uint32_t *h, size_t *n, const struct sp_cspan *c)
{
    h[0] = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < *n && sp_cspan_better(&c[h[l]], &c[h[best]]))
            best = l;
        if (r < *n && sp_cspan_better(&c[h[r]], &c[h[best]]))
            best = r;
        if (best == i)
            break;
        uint32_t t = h[i];
        h[i] = h[best];
        h[best] = t;
        i = best;
    }
}

#endif
