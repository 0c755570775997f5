/* The finishing pass's activity order (src/model/events.c, sp_ev_finish; docs/analysis.md section
 * 8): device activity out of order is sorted by start with a radix sort, then act_cmp inside equal
 * starts, then the tie pass (name text, batch). The reference is the rule itself, written out here:
 * qsort by every field act_cmp compares, then the name's text. Records that this full key calls equal
 * have the same content (the batch is SP_EV_NONE here; the ids of a name are interned), so the result
 * is one array whatever a sort does with ties, and any record out of place fails the check. Crafted
 * for many ties: few distinct starts, ends and fields, three names whose text order is not their id
 * order; laid out shuffled, reversed, in interleaved sorted blocks (a recorder's thread blocks), all
 * at one start (one long run), with starts spread over 2^63 ns (too wide to pack above the index: the
 * qsort fallback), already sorted (no sort), and sorted then each record swapped with one up to six
 * places on (the in-place insertion sort; the others run out of its budget part way, past 32 records,
 * and the radix sort finishes); sizes from 2 to 200,000. The streams (-1, 0, 1) are entered in the
 * set's stream table from 1 down, so their indexes run against their values: an order by index
 * instead of value misplaces records. */
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/util_int.h"
#include "model/events_int.h"
#include "testlib.h"

static const sp_strtab *g_strings;
static const int64_t *g_streams;

static int cmp_u(uint64_t x, uint64_t y)
{
    return (x > y) - (x < y);
}

/* the documented order: start, end, hta_end_early (set first), kind, file, device, stream,
 * correlation, bytes, then the name's text */
static int ref_cmp(const void *a, const void *b)
{
    const sp_ev_activity *x = a, *y = b;
    int c;
    if ((c = cmp_u(x->start_ns, y->start_ns)) || (c = cmp_u(x->end_ns, y->end_ns)))
        return c;
    if (x->hta_end_early != y->hta_end_early)
        return x->hta_end_early ? -1 : 1;
    if ((c = cmp_u(x->kind, y->kind)) || (c = cmp_u(x->file, y->file)) || (c = cmp_u(x->device, y->device)))
        return c;
    int64_t xs = g_streams[x->stream_ix], ys = g_streams[y->stream_ix];
    if (xs != ys)
        return xs < ys ? -1 : 1;
    if ((c = cmp_u(x->correlation, y->correlation)) || (c = cmp_u(sp_ev_act_bytes(x), sp_ev_act_bytes(y))))
        return c;
    return strcmp(sp_str_get(g_strings, sp_ev_act_name(x)), sp_str_get(g_strings, sp_ev_act_name(y)));
}

static int same_act(const sp_ev_activity *x, const sp_ev_activity *y)
{
    return x->start_ns == y->start_ns && x->end_ns == y->end_ns && x->correlation == y->correlation &&
           x->nb.bytes == y->nb.bytes && x->stream_ix == y->stream_ix && x->batch == y->batch &&
           x->device == y->device && x->file == y->file && x->kind == y->kind &&
           x->hta_end_early == y->hta_end_early;
}

enum layout { SHUFFLED, REVERSED, BLOCKS, ONE_START, WIDE, SORTED, NEAR, N_LAYOUTS };

static void check_order(size_t n, enum layout lay, sp_rng *r)
{
    sp_events *ev;
    char err[256];
    CHECK(sp_events_create(&ev) == SP_OK);
    uint32_t f0, f1;
    CHECK(sp_ev_add_file(ev, "a.sptrace", SP_FORMAT_NATIVE, &f0) == SP_OK);
    CHECK(sp_ev_add_file(ev, "b.sptrace", SP_FORMAT_NATIVE, &f1) == SP_OK);
    sp_str names[3]; /* interned "mm", "add", "zeta": ids 0, 1, 2 order unlike the text */
    CHECK(sp_str_intern(&ev->strings, "mm", 2, &names[0]) == SP_OK);
    CHECK(sp_str_intern(&ev->strings, "add", 3, &names[1]) == SP_OK);
    CHECK(sp_str_intern(&ev->strings, "zeta", 4, &names[2]) == SP_OK);
    g_strings = &ev->strings;
    uint32_t sidx[3]; /* the index of stream s - 1; entered from stream 1 down */
    for (int s = 2; s >= 0; s--)
        CHECK(sp_ev_stream_id(ev, s - 1, &sidx[s]) == SP_OK);
    CHECK(sidx[2] == 0 && sidx[0] == 2);
    g_streams = ev->streams;
    CHECK(SP_GROW(ev->acts, ev->cap_acts, n, n) == SP_OK);
    size_t blocks = 1 + n / 50;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = sp_rng_next(r);
        sp_ev_activity *a = &ev->acts[i];
        memset(a, 0, sizeof *a);
        switch (lay) {
        case SHUFFLED: case REVERSED: case SORTED: case NEAR: a->start_ns = 1000000 + (x % (n / 4 + 2)) * 1000; break;
        case BLOCKS: a->start_ns = 5000000000ull + (i % blocks) * 7 + (i / blocks) * 3 * blocks; break;
        case ONE_START: a->start_ns = 123456789; break;
        case WIDE: a->start_ns = (x & 1) ? (x >> 1) | ((uint64_t)1 << 62) : x % 1000; break;
        default: break;
        }
        x = sp_rng_next(r);
        a->end_ns = a->start_ns + (x & 1) * 500;
        a->hta_end_early = (x >> 1) % 4 == 0;
        a->kind = (uint8_t)((x >> 3) % 2);
        a->file = (x >> 5) % 2 ? f1 : f0;
        a->device = (uint32_t)((x >> 6) % 2);
        a->stream_ix = sidx[(x >> 7) % 3];
        a->correlation = (x >> 9) % 2;
        if (a->kind == SP_ACT_KERNEL) /* a kernel has a name, a copy a byte count (sp_ev_activity.nb) */
            a->nb.name = names[(x >> 11) % 3];
        else
            a->nb.bytes = (x >> 10) % 2 * 4096;
        a->batch = SP_EV_NONE;
    }
    ev->n_acts = n;
    if (lay == REVERSED || lay == SORTED || lay == NEAR)
        qsort(ev->acts, n, sizeof *ev->acts, ref_cmp);
    if (lay == NEAR) /* each record swapped with one up to 6 places on: the in-place route */
        for (size_t i = 0; i + 1 < n; i++) {
            size_t j = i + 1 + sp_rng_next(r) % 6;
            j = j < n ? j : n - 1;
            sp_ev_activity t = ev->acts[i];
            ev->acts[i] = ev->acts[j];
            ev->acts[j] = t;
        }
    if (lay == REVERSED)
        for (size_t i = 0; i < n / 2; i++) {
            sp_ev_activity t = ev->acts[i];
            ev->acts[i] = ev->acts[n - 1 - i];
            ev->acts[n - 1 - i] = t;
        }
    sp_ev_activity *want = malloc(n * sizeof *want);
    memcpy(want, ev->acts, n * sizeof *want);
    qsort(want, n, sizeof *want, ref_cmp);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    size_t misplaced = 0;
    for (size_t i = 0; i < n; i++)
        misplaced += !same_act(&ev->acts[i], &want[i]);
    if (misplaced)
        fprintf(stderr, "n = %zu, layout %d: %zu misplaced\n", n, (int)lay, misplaced);
    CHECK_EQ_U64(misplaced, 0);
    free(want);
    sp_events_destroy(ev);
}

int main(void)
{
    sp_rng r;
    sp_rng_seed(&r, 15, 0);
    static const size_t sizes[] = {2, 3, 5, 16, 17, 33, 100, 1000, 4097, 65536, 200000};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int lay = 0; lay < N_LAYOUTS; lay++)
            check_order(sizes[si], (enum layout)lay, &r);
    return sp_test_done("test_events_act_order");
}
