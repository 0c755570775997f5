/* The analysis' scratch stack (src/analyze/scratch.c) and the stage times' width (docs/analysis.md
 * section 8, "Memory").
 *
 * 1. The stack: an array given back is reused by the next one (last in, first out); one given back
 *    out of order is reused once everything taken after it is back; arrays handed out at once never
 *    overlap, also past the per-chunk and chunk limits and for an array larger than a chunk; requests
 *    under sp_ana_scratch_min and a NULL stack are plain malloc. The reference is the rule itself,
 *    worked by hand for each sequence below.
 * 2. Threads: four threads take and give back arrays of random sizes in random order, each filling
 *    its arrays with its own byte and checking them before giving them back; a byte another thread
 *    wrote means two live arrays overlapped.
 * 3. sp_ana_zero writes zeros over what was there.
 * 4. The width: a request whose life and batch window are 2^32 - 1 ns (the most 4 bytes hold) is
 *    partitioned into the narrow stage matrix and narrow batch pieces, one of 2^32 ns into the wide
 *    ones; every stage time is the same as the wide analysis gives (forced with sp_ana_narrow = 0),
 *    each row sums to the life, the kernel time (the window less 100 ns at each end, worked by hand)
 *    is whole, and the JSON and text reports are byte-identical both ways.
 * 5. Stretches of the event set's arrays handed to the stack (sp_ana_scratch_adopt), and 6. moving
 *    pages (sp_move_pages): the rules worked by hand, see each. */
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/util_int.h"
#include "ana_switches_testutil.h"
#include "analyze_routes_testutil.h"
#include "ev_build.h"

#define MB ((size_t)1 << 20)

/* ---- 1. the stack ---- */

static void stack_rules(void)
{
    sp_ana_scratch *s = sp_ana_scratch_create();
    CHECK(s != NULL);
    if (!s)
        return;
    /* last in, first out */
    unsigned char *a = sp_ana_scratch_get(s, 2 * MB);
    CHECK(a != NULL);
    sp_ana_scratch_put(s, a);
    unsigned char *a2 = sp_ana_scratch_get(s, 3 * MB);
    CHECK(a2 == a); /* the same place, now longer: nothing was taken after it */
    /* out of order: b's place comes back only once c (taken after it) is back */
    unsigned char *b = sp_ana_scratch_get(s, 2 * MB), *c = sp_ana_scratch_get(s, 2 * MB);
    CHECK(b == a2 + 3 * MB); /* 3 MB is a multiple of the 64-byte alignment */
    CHECK(c == b + 2 * MB);
    sp_ana_scratch_put(s, b);
    unsigned char *d = sp_ana_scratch_get(s, MB);
    CHECK(d == c + 2 * MB); /* b is under c: not reused yet */
    sp_ana_scratch_put(s, d);
    sp_ana_scratch_put(s, c); /* pops c, then the marked b */
    unsigned char *e = sp_ana_scratch_get(s, MB);
    CHECK(e == b);
    sp_ana_scratch_put(s, e);
    sp_ana_scratch_put(s, a2);
    CHECK(sp_ana_scratch_get(s, MB) == a); /* empty again */
    sp_ana_scratch_put(s, a);
    /* a size that is not a multiple of 64: the next array starts on the next multiple */
    unsigned char *f = sp_ana_scratch_get(s, MB + 1), *g = sp_ana_scratch_get(s, MB);
    CHECK(f == a && g == a + MB + 64);
    sp_ana_scratch_put(s, g);
    sp_ana_scratch_put(s, f);
    /* larger than a chunk: a chunk of its own (its pages are never touched here) */
    unsigned char *big = sp_ana_scratch_get(s, 300 * MB);
    CHECK(big != NULL && big != a);
    sp_ana_scratch_put(s, big);
    /* many at once: past the 32 arrays one chunk hands out and past the chunks; none overlap */
    enum { MANY = 300 };
    static unsigned char *live[MANY];
    for (int i = 0; i < MANY; i++) {
        live[i] = sp_ana_scratch_get(s, MB);
        CHECK(live[i] != NULL);
        if (live[i]) {
            live[i][0] = (unsigned char)i;
            live[i][MB - 1] = (unsigned char)i;
        }
    }
    int bad = 0;
    for (int i = 0; i < MANY; i++)
        bad += live[i] && (live[i][0] != (unsigned char)i || live[i][MB - 1] != (unsigned char)i);
    CHECK_EQ_U64(bad, 0);
    for (int i = 0; i < MANY; i += 2) /* every other one first, then the rest backwards */
        sp_ana_scratch_put(s, live[i]);
    for (int i = MANY - 1; i > 0; i -= 2)
        sp_ana_scratch_put(s, live[i]);
    CHECK(sp_ana_scratch_get(s, MB) == a); /* everything back: the first chunk is empty again */
    sp_ana_scratch_put(s, a);
    /* under the minimum: plain malloc, never a place in the stack */
    unsigned char *small = sp_ana_scratch_get(s, 100);
    CHECK(small != NULL);
    unsigned char *h = sp_ana_scratch_get(s, MB);
    CHECK(h == a && small != a);
    sp_ana_scratch_put(s, small);
    sp_ana_scratch_put(s, h);
    /* zero bytes: one */
    unsigned char *z = sp_ana_scratch_get(s, 0);
    CHECK(z != NULL);
    sp_ana_scratch_put(s, z);
    sp_ana_scratch_put(s, NULL);
    sp_ana_scratch_destroy(s);
    /* no stack: malloc and free */
    unsigned char *m = sp_ana_scratch_get(NULL, 2 * MB);
    CHECK(m != NULL);
    if (m)
        m[2 * MB - 1] = 1;
    sp_ana_scratch_put(NULL, m);
    sp_ana_scratch_destroy(NULL);
}

/* ---- 2. threads ---- */

typedef struct th_job {
    sp_ana_scratch *s;
    unsigned char tag;
    uint64_t rng;
    int bad;
} th_job;

static void *th_run(void *arg)
{
    th_job *j = arg;
    unsigned char *p[4] = {0};
    size_t n[4] = {0};
    for (int it = 0; it < 3000; it++) {
        int k = (int)(xs64_next(&j->rng) % 4);
        if (p[k]) {
            for (size_t i = 0; i < n[k]; i++)
                j->bad += p[k][i] != j->tag;
            sp_ana_scratch_put(j->s, p[k]);
            p[k] = NULL;
        } else {
            n[k] = 1 + (size_t)(xs64_next(&j->rng) % 20000);
            p[k] = sp_ana_scratch_get(j->s, n[k]);
            if (!p[k]) {
                j->bad++;
                continue;
            }
            memset(p[k], j->tag, n[k]);
        }
    }
    for (int k = 0; k < 4; k++)
        sp_ana_scratch_put(j->s, p[k]);
    return NULL;
}

static void threads(void)
{
    sp_ana_scratch *s = sp_ana_scratch_create();
    CHECK(s != NULL);
    sp_ana_scratch_min = 1; /* small arrays, so that many are live and the chunks' stacks fill */
    th_job jobs[4];
    pthread_t th[4];
    int started[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (th_job){s, (unsigned char)(0xA0 + i), 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1), 0};
        started[i] = pthread_create(&th[i], NULL, th_run, &jobs[i]) == 0;
        CHECK(started[i]);
    }
    for (int i = 0; i < 4; i++)
        if (started[i]) {
            pthread_join(th[i], NULL);
            CHECK_EQ_U64(jobs[i].bad, 0);
        }
    sp_ana_scratch_min = SP_ANA_SCRATCH_MIN;
    /* everything is back: the first array taken now is the first chunk's start, as the first was */
    unsigned char *p = sp_ana_scratch_get(s, MB), *q = sp_ana_scratch_get(s, MB);
    CHECK(q == p + MB);
    sp_ana_scratch_put(s, q);
    sp_ana_scratch_put(s, p);
    sp_ana_scratch_destroy(s);
}

/* ---- 3. zeroing ---- */

static void zeroing(void)
{
    size_t n = 3 * MB + 5;
    unsigned char *p = malloc(n);
    CHECK(p != NULL);
    if (!p)
        return;
    memset(p, 0xff, n);
    sp_ana_zero(p, n);
    size_t nz = 0;
    for (size_t i = 0; i < n; i++)
        nz += p[i] != 0;
    CHECK_EQ_U64(nz, 0);
    free(p);
    double *d = sp_ana_zeroed_doubles(1000);
    CHECK(d != NULL);
    int bad = 0;
    for (size_t i = 0; d && i < 1000; i++)
        bad += d[i] != 0.0;
    CHECK_EQ_U64(bad, 0);
    free(d);
}

/* ---- 4. the width ---- */

/* Requests whose lives reach `longest`: one of exactly that life, in a batch whose window is its life,
 * with a kernel from 100 ns after the window's start to 100 ns before its end (so that one stage time
 * is near the bound too: kernel longest - 200, gap 200), and a few short ones with a preprocess span. */
static sp_events *width_set(uint64_t longest)
{
    sp_events *ev = eb_new();
    uint64_t t0 = 1000000;
    uint32_t r = eb_req(ev, "long", t0, t0 + longest);
    uint32_t b = eb_batch(ev, 1, t0, t0 + longest, -1, -1, &r, 1);
    eb_act(ev, SP_ACT_KERNEL, b, t0 + 100, t0 + longest - 100);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "short-%d", i);
        uint64_t a = t0 + 1000 * (uint64_t)i;
        uint32_t q = eb_req(ev, id, a, a + 700 + 11 * (uint64_t)i);
        eb_span(ev, q, "preprocess", a, a + 100);
    }
    return ev;
}

/* The partition of width_set(longest) with the stage times narrow or wide: *narrow_used says which
 * matrix it filled; the stage times are copied to `out` (n x ns), the lives to `life`. */
static size_t width_partition(uint64_t longest, int narrow, int *narrow_used, uint64_t *out, uint64_t *life,
                              size_t cap)
{
    sp_events *ev = width_set(longest);
    char err[256];
    CHECK(sp_ev_finish(ev, 0, err, sizeof err) == SP_OK);
    sp_ana a;
    sp_ana_narrow = narrow;
    sp_status st = ana_partition_of(&a, ev, err, sizeof err);
    CHECK(st == SP_OK);
    size_t n = 0;
    if (!st) {
        *narrow_used = a.times32 != NULL;
        CHECK((a.times32 != NULL) != (a.times != NULL));
        CHECK((a.seg_off32 != NULL) == (a.times32 != NULL)); /* the window is the life here */
        CHECK((a.seg_off32 != NULL) != (a.seg_s != NULL));
        CHECK_EQ_U64(a.max_life, longest);
        n = a.n_reqs * a.n_stages;
        CHECK(n <= cap && a.n_reqs <= cap);
        for (size_t i = 0; i < a.n_reqs && n <= cap; i++) {
            uint64_t sum = 0;
            for (size_t k = 0; k < a.n_stages; k++) {
                out[i * a.n_stages + k] = sp_ana_time(&a, i, k);
                sum += out[i * a.n_stages + k];
            }
            life[i] = a.life[i];
            CHECK_EQ_U64(sum, a.life[i]); /* DESIGN 3: the rows partition the life */
        }
    }
    sp_ana_free(&a);
    sp_events_destroy(ev);
    return n;
}

/* The whole analysis of width_set(longest), narrow or wide: the report's bytes. */
static char *width_report(uint64_t longest, int narrow, size_t *len)
{
    sp_events *ev = width_set(longest);
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = 1;
    sp_report *r = NULL;
    char err[256];
    sp_ana_narrow = narrow;
    sp_status st = sp_analyze(ev, &o, &r, err, sizeof err);
    sp_ana_narrow = 1;
    CHECK(st == SP_OK);
    char *buf = st ? NULL : ar_report_bytes(r, len);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return buf;
}

static void width(void)
{
    static const uint64_t longest[2] = {UINT32_MAX, (uint64_t)UINT32_MAX + 1};
    for (int w = 0; w < 2; w++) {
        uint64_t t4[64], t8[64], l4[8], l8[8];
        int used4 = -1, used8 = -1;
        size_t n4 = width_partition(longest[w], 1, &used4, t4, l4, 64);
        size_t n8 = width_partition(longest[w], 0, &used8, t8, l8, 64);
        CHECK(used4 == (w == 0)); /* 2^32 - 1 fits 4 bytes, 2^32 does not */
        CHECK(used8 == 0);
        CHECK(n4 == n8 && n4 > 0);
        CHECK(n4 == n8 && memcmp(t4, t8, n4 * sizeof *t4) == 0);
        /* the long request's kernel time, at the bound's edge: whole in both */
        int found = 0, gap = 0;
        for (size_t i = 0; i < n4; i++) {
            found += t4[i] == longest[w] - 200;
            gap += t4[i] == 200;
        }
        CHECK_EQ_U64(gap, 1);
        CHECK_EQ_U64(found, 1);
        size_t len4 = 0, len8 = 0;
        char *r4 = width_report(longest[w], 1, &len4), *r8 = width_report(longest[w], 0, &len8);
        CHECK(r4 && r8 && len4 == len8 && memcmp(r4, r8, len4) == 0);
        free(r4);
        free(r8);
    }
}

/* ---- 5. adopted stretches ---- */

/* sp_ana_scratch_adopt, the rules worked by hand: a stretch given to the stack is where the next
 * arrays go before any chunk of the stack's own, one after another from the stretch's first 16-byte
 * boundary, last in first out; of the stretches that hold an array, the one with the least room left
 * takes it; one that none holds goes to a chunk; a stretch too short for one 64-byte array is left
 * unused; at most four stretches in all (a fifth is refused, the caller keeps its block); the block is
 * freed with the stack (the sanitized run's leak check sees a block lost or freed twice). */
static void adopted(void)
{
    sp_ana_scratch_min = 1; /* arrays under 1 MB through the stack too */
    sp_ana_scratch *s = sp_ana_scratch_create();
    CHECK(s != NULL);
    if (!s) {
        sp_ana_scratch_min = SP_ANA_SCRATCH_MIN;
        return;
    }
    unsigned char *block = malloc(8 * MB + 64);
    CHECK(block != NULL);
    if (!block) {
        sp_ana_scratch_destroy(s);
        sp_ana_scratch_min = SP_ANA_SCRATCH_MIN;
        return;
    }
    /* two stretches: [block + 1, +3 MB) starts on block + 16 (malloc aligns on 16 at least), and
     * [block + 4 MB, +2 MB + 8); a third of 40 bytes holds no array */
    void *lo[3] = {block + 1, block + 4 * MB, block + 7 * MB};
    size_t len[3] = {3 * MB, 2 * MB + 8, 40};
    CHECK(sp_ana_scratch_adopt(s, block, lo, len, 3) == 1);
    /* the first holds 3 MB - 64 (whole 64-byte steps from block + 16), the second 2 MB: an array goes
     * to the one with the least room that holds it */
    unsigned char *a = sp_ana_scratch_get(s, MB), *b = sp_ana_scratch_get(s, MB);
    CHECK(a == block + 4 * MB);
    CHECK(b == a + MB); /* the second is full now */
    unsigned char *c = sp_ana_scratch_get(s, MB);
    CHECK(c == block + 16);
    unsigned char *d = sp_ana_scratch_get(s, 2 * MB - 64);
    CHECK(d == c + MB); /* fills the first exactly */
    unsigned char *e = sp_ana_scratch_get(s, MB); /* no room left in either: a chunk of the stack's own */
    CHECK(e != NULL && (e < block || e >= block + 8 * MB + 64));
    memset(a, 1, MB);
    memset(b, 2, MB);
    memset(c, 3, MB);
    memset(d, 4, 2 * MB - 64);
    memset(e, 5, MB);
    CHECK(a[MB - 1] == 1 && b[0] == 2 && c[MB - 1] == 3 && d[0] == 4 && d[2 * MB - 65] == 4);
    sp_ana_scratch_put(s, d);
    unsigned char *f = sp_ana_scratch_get(s, 64);
    CHECK(f == d); /* last in, first out within a stretch */
    sp_ana_scratch_put(s, f);
    sp_ana_scratch_put(s, c); /* the first empty again: 3 MB - 64 of room */
    sp_ana_scratch_put(s, b); /* the second: 1 MB */
    unsigned char *g = sp_ana_scratch_get(s, MB);
    CHECK(g == b); /* the least room that holds it */
    unsigned char *h = sp_ana_scratch_get(s, 2 * MB);
    CHECK(h == block + 16);
    /* two stretches taken (the 40 bytes took no place): two more fit, four in all; a fifth is refused */
    unsigned char *other = malloc(2 * MB), *third = malloc(MB);
    CHECK(other != NULL && third != NULL);
    if (other && third) {
        void *lo2[2] = {other, other + MB};
        size_t len2[2] = {MB, MB};
        CHECK(sp_ana_scratch_adopt(s, other, lo2, len2, 2) == 1);
        void *lo3[1] = {third};
        size_t len3[1] = {MB};
        CHECK(sp_ana_scratch_adopt(s, third, lo3, len3, 1) == 0);
    } else {
        free(other);
    }
    free(third);
    /* a NULL stack or block takes nothing */
    CHECK(sp_ana_scratch_adopt(NULL, block, lo, len, 1) == 0);
    CHECK(sp_ana_scratch_adopt(s, NULL, lo, len, 1) == 0);
    sp_ana_scratch_destroy(s); /* frees block and other */
    sp_ana_scratch_min = SP_ANA_SCRATCH_MIN;
}

/* ---- 6. sp_move_pages ---- */

/* Known answer, by construction: four pages of one mapping filled with their page number, the middle two
 * moved onto two pages of another mapping (filled with 0xee): those read 1 and 2 afterwards, the
 * other's untouched page still 0xee, the first mapping's pages 0 and 3 unchanged and its pages 1 and 2
 * zero (as after sp_discard_pages). Pages not aligned, or a length not a whole page, are refused with
 * nothing moved. Where the kernel lacks MREMAP_DONTUNMAP (before Linux 5.7) the move is refused: the
 * test then checks that nothing changed. */
static void move_pages(void)
{
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *src = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *dst = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(src != MAP_FAILED && dst != MAP_FAILED);
    if (src == MAP_FAILED || dst == MAP_FAILED)
        return;
    for (size_t k = 0; k < 4; k++)
        memset(src + k * pg, (int)k, pg);
    memset(dst, 0xee, 3 * pg);
    CHECK(sp_move_pages(src + pg + 1, dst, pg) == -1);
    CHECK(sp_move_pages(src + pg, dst, pg - 1) == -1);
    CHECK(src[pg + 1] == 1 && dst[0] == 0xee);
    int moved = sp_move_pages(src + pg, dst + pg, 2 * pg) == 0;
#ifdef __linux__
    CHECK(moved); /* the kernels this project builds on have MREMAP_DONTUNMAP */
#endif
    int ok = 1;
    for (size_t b = 0; b < pg; b++) {
        ok &= src[b] == 0 && src[3 * pg + b] == 3 && dst[b] == 0xee;
        ok &= moved ? (dst[pg + b] == 1 && dst[2 * pg + b] == 2 && src[pg + b] == 0 && src[2 * pg + b] == 0)
                    : (dst[pg + b] == 0xee && src[pg + b] == 1 && src[2 * pg + b] == 2);
    }
    CHECK(ok);
    munmap(src, 4 * pg);
    munmap(dst, 3 * pg);
}

int main(void)
{
    stack_rules();
    threads();
    adopted();
    move_pages();
    zeroing();
    width();
    return sp_test_done("test_analyze_scratch");
}
