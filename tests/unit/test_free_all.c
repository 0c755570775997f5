/* The freeing at an analysis' end on two threads (sp_free_all, util_int.h): the large blocks' pages
 * handed back to the kernel by two threads a piece at a time, then every block freed.
 *
 * 1. sp_free_all itself on lists that mix NULL entries, small blocks and blocks of 1-9 MiB (written
 *    whole, in part, or never), on one thread and on two, many times over: nothing leaks and nothing is
 *    freed twice (the sanitizer build runs this test with leak detection), and a block that is not on
 *    the list, written before and allocated between the listed ones, reads back unchanged (the pages
 *    handed back are only the listed blocks' own).
 * 2. The route the CLI takes (release_events; sp_ana_free and sp_events_destroy of a released set
 *    free on two threads): every trace of analyze_routes_testutil.h analysed with release_events with
 *    both thresholds at 1 (every set takes the two-thread freeing) and with both at SIZE_MAX (one
 *    thread, the old route): JSON and text reports byte-identical, and each set destroyed after. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "analyze_routes_testutil.h"
#include "common/util_int.h"
#include "model/events_int.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void free_lists(void)
{
    enum { N = 24 };
    for (int round = 0; round < 16; round++) {
        void *p[N];
        size_t n = 0;
        /* a block kept alive through the frees, among the listed ones */
        size_t keep_bytes = (size_t)3 << 20;
        unsigned char *keep = NULL;
        for (int i = 0; i < N; i++) {
            uint64_t r = next();
            if (i == N / 2) {
                keep = malloc(keep_bytes);
                CHECK(keep != NULL);
                if (keep)
                    for (size_t k = 0; k < keep_bytes; k++)
                        keep[k] = (unsigned char)(k * 7 + (size_t)round);
            }
            if (r % 5 == 0) {
                p[n++] = NULL;
                continue;
            }
            size_t bytes = r % 3 == 0 ? (size_t)(r >> 8) % 4096 + 1 : ((size_t)1 << 20) + (size_t)(r >> 8) % ((size_t)8 << 20);
            unsigned char *b = malloc(bytes);
            CHECK(b != NULL);
            if (!b)
                continue;
            /* written whole, the first half, or only the first byte */
            size_t w = r % 7 < 3 ? bytes : r % 7 < 5 ? bytes / 2 : 1;
            memset(b, (int)(r & 0xff), w);
            p[n++] = b;
        }
        sp_free_all(p, n, round & 1);
        int same = 1;
        for (size_t k = 0; keep && k < keep_bytes; k++)
            same &= keep[k] == (unsigned char)(k * 7 + (size_t)round);
        CHECK(same);
        free(keep);
    }
    /* empty lists and lists of NULL */
    sp_free_all(NULL, 0, 1);
    void *none[3] = {NULL, NULL, NULL};
    sp_free_all(none, 3, 1);
    sp_free_all(none, 3, 0);
}

static int compared;

/* The report of `paths` analysed with release_events, both thresholds at `threads_at`; the set is
 * destroyed after (released: on two threads when threads_at lets it). */
static char *analyse(const char *const *paths, int n, int lenient, size_t threads_at, size_t *len)
{
    sp_events *ev = ar_load(paths, n, lenient);
    if (!ev)
        return NULL;
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.lenient = lenient;
    o.release_events = 1;
    sp_report *r = NULL;
    char err[512];
    sp_ana_two_threads_min = sp_ev_two_threads_min = threads_at;
    sp_status st = sp_analyze(ev, &o, &r, err, sizeof err);
    CHECK(st != SP_OK || ev->released);
    sp_events_destroy(ev); /* the two-thread route when released and threads_at is 1 */
    sp_ana_two_threads_min = SP_ANA_TWO_THREADS_MIN;
    sp_ev_two_threads_min = SP_EV_TWO_THREADS_MIN;
    if (st != SP_OK) {
        fprintf(stderr, "analyse %s: %s (%s)\n", paths[0], err, sp_status_str(st));
        return NULL;
    }
    char *buf = ar_report_bytes(r, len);
    sp_report_destroy(r);
    return buf;
}

static void same_report(const char *const *paths, int n, int lenient, void *user)
{
    (void)user;
    size_t l1 = 0, l2 = 0;
    char *one = analyse(paths, n, lenient, SIZE_MAX, &l1);
    char *two = analyse(paths, n, lenient, 1, &l2);
    CHECK(one != NULL && two != NULL);
    if (one && two) {
        CHECK(l1 > 0 && l1 == l2 && memcmp(one, two, l1) == 0);
        if (l1 != l2 || memcmp(one, two, l1))
            fprintf(stderr, "reports differ for %s (%zu vs %zu bytes)\n", paths[0], l1, l2);
        compared++;
    }
    free(one);
    free(two);
}

int main(void)
{
    free_lists();
    ar_each_trace("free_all", &rng_state, same_report, NULL);
    fprintf(stderr, "%d comparisons\n", compared);
    CHECK(compared == AR_TRACES);
    return sp_test_done("test_free_all");
}
