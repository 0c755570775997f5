/* The stage rows' share windows by selection (share.c, sp_ana_share_select = 1: each window's boundary
 * lives selected, the requests between them sorted by the full key) against the full latency ranking
 * (0, and what the detail takes), and the stage columns shared by two threads.
 *
 * 1. Known answer: five requests, ids 1..5, lives 300, 100, 300, 200, 100 ns, each request's preprocess
 *    time its id. n < 20, so every window holds all five; DESIGN 8a ranks by life, ties by id: the
 *    windows hold ids 2, 5, 4, 1, 3 in that order (worked by hand).
 * 2. The windows themselves (sp_ana_share_windows_select after the partition) against the stretches
 *    of the full ranking (sp_ana_rank_requests) at the same ranks, over sets of 1 to 20,000 requests:
 *    numeric ids short and sharing their first eight digits, text ids sharing their first eight bytes,
 *    both mixed (equal prefixes, so the full key decides ties on life); lives from four values (ties
 *    at every window's boundaries; past a few hundred requests too many candidates: the ranking is
 *    taken), from 200 values (ties at the boundaries, few candidates), spread, all equal (never by
 *    selection), one past 2^33 ns (in the p99 window: its lives span 2^32 or more, not by selection; the stage times in 8 bytes);
 *    tied arrivals. n < 20, n = 1 and the p99 window reaching rank n are among them.
 *    Every set's route checked against the rule counted by brute force (expect_taken); and the
 *    candidates' limit exactly (candidates_limit: totals of the limit - 1, the limit, the limit + 1 over
 *    9,000 requests, past the gathering pass' blocks of 4,096).
 * 3. Whole reports without the detail (no request rows: the route the CLI's --json takes) of the same
 *    sets and of analyze_routes_testutil.h's inputs, with the selection off on one thread and on with
 *    two threads from two requests on (the columns shared), compared byte for byte. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "ana_switches_testutil.h"
#include "analyze_routes_testutil.h"
#include "ev_build.h"
#include "testlib.h"
#include "xorshift_testutil.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rin(uint64_t lo, uint64_t hi) { return xs64_in(&rng_state, lo, hi); } /* inclusive */

/* ---- 1. known answer ---- */

static void known_answer(void)
{
    static const uint64_t life[5] = {300, 100, 300, 200, 100};
    static const uint64_t want[5] = {2, 5, 4, 1, 3}; /* by (life, id), worked by hand */
    sp_events *ev = eb_new();
    for (uint64_t i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof id, "%llu", (unsigned long long)(i + 1));
        uint64_t t = 1000 + 1000 * i;
        uint32_t q = eb_req(ev, id, t, t + life[i]);
        eb_span(ev, q, "preprocess", t, t + i + 1);
        eb_span(ev, q, "queue", t + i + 1, t + life[i]);
    }
    sp_ana a;
    char err[256];
    CHECK(sp_ev_finish(ev, 0, err, sizeof err) == SP_OK);
    CHECK(ana_partition_of(&a, ev, err, sizeof err) == SP_OK);
    int taken = 0;
    CHECK(a.n_reqs == 5 && sp_ana_share_windows_select(&a, &taken) == SP_OK && taken);
    for (int j = 0; taken && j < 3; j++)
        for (size_t k = 0; k < 5; k++)
            CHECK_EQ_U64(sp_ana_time(&a, a.share_win[j][k], (size_t)a.st_pre), want[k]);
    sp_ana_free(&a);
    sp_events_destroy(ev);
}

/* ---- 2. the windows against the full ranking ---- */

enum { LIVES_FEW, LIVES_MANY, LIVES_SPREAD, LIVES_EQUAL, LIVES_ONE_HUGE, LIVES_KINDS };

/* `ev` (n requests) finished and partitioned into *a, its windows taken by selection (whether the
 * selection route took them: the return) and then its full ranking, for the two to be compared. */
static int windows_both_ways(sp_events *ev, size_t n, sp_ana *a)
{
    char err[256];
    CHECK(sp_ev_finish(ev, 0, err, sizeof err) == SP_OK);
    CHECK(ana_partition_of(a, ev, err, sizeof err) == SP_OK && a->n_reqs == n);
    int taken = 0;
    CHECK(sp_ana_share_windows_select(a, &taken) == SP_OK);
    CHECK(sp_ana_rank_requests(a) == SP_OK);
    return taken;
}

static sp_events *window_set(size_t n, int ids, int lives)
{
    sp_events *ev = eb_new();
    for (size_t i = 0; i < n; i++) {
        char id[40];
        size_t k = (i * 7919) % n; /* ids not in arrival order */
        eb_id_of(id, sizeof id, k, ids, 5);
        uint64_t life;
        switch (lives) {
        case LIVES_FEW:
            life = 900 + 100 * rin(0, 3);
            break;
        case LIVES_MANY:
            life = 900 + 10 * rin(0, 199);
            break;
        case LIVES_SPREAD:
            life = rin(600, 5000000);
            break;
        case LIVES_EQUAL:
            life = 900;
            break;
        default:
            life = i == n / 2 ? ((uint64_t)1 << 33) + 5 : 900 + 100 * rin(0, 3);
            break;
        }
        uint64_t t = 1000000 + 1000 * (rin(0, 3) ? i : i / 2), a = rin(0, 300), b = rin(0, 300);
        uint32_t q = eb_req(ev, id, t, t + life);
        eb_span(ev, q, "preprocess", t, t + a);
        eb_span(ev, q, "queue", t + a, t + a + b);
        eb_span(ev, q, "postprocess", t + a + b, t + life);
    }
    return ev;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Whether the windows are taken by selection, by the rule counted by brute force: the lives not all
 * equal, each window's boundary lives (the sorted lives at its ranks lo and hi) less than 2^32 apart,
 * and the requests whose lives lie within each window's boundaries (its candidates) at most
 * n / SP_ANA_SHARE_CANDIDATES_MAX_DIV + 64 over the three windows; *total the candidates. */
static int expect_taken(const sp_ana *a, size_t *total)
{
    size_t n = a->n_reqs;
    *total = 0;
    if (!n)
        return 0;
    uint64_t *s = malloc(n * sizeof *s);
    CHECK(s != NULL);
    if (!s)
        return 0;
    memcpy(s, a->life, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_u64);
    int ok = s[0] != s[n - 1];
    static const unsigned pct[3] = {50, 95, 99};
    for (int j = 0; j < 3; j++) {
        size_t lo, hi;
        sp_ana_share_window(n, pct[j], &lo, &hi);
        uint64_t b0 = s[lo - 1], b1 = s[hi - 1];
        ok &= b1 - b0 <= UINT32_MAX;
        for (size_t i = 0; i < n; i++)
            *total += a->life[i] >= b0 && a->life[i] <= b1;
    }
    free(s);
    return ok && *total <= n / SP_ANA_SHARE_CANDIDATES_MAX_DIV + 64;
}

static const size_t sizes[] = {1, 2, 5, 19, 20, 21, 57, 500, 3000, 20000};
#define N_SIZES (sizeof sizes / sizeof *sizes)

static int windows_compared, windows_taken, ranked_instead;

static void windows_against_ranking(void)
{
    for (size_t z = 0; z < N_SIZES; z++)
        for (int ids = 0; ids < EB_IDS_KINDS; ids++)
            for (int lives = 0; lives < LIVES_KINDS; lives++) {
                size_t n = sizes[z];
                sp_events *ev = window_set(n, ids, lives);
                sp_ana a;
                int taken = windows_both_ways(ev, n, &a);
                size_t total = 0;
                CHECK_MSG(taken == expect_taken(&a, &total), "taken %d, %zu candidates: n %zu ids %d lives %d",
                          taken, total, n, ids, lives);
                if (lives == LIVES_EQUAL || n == 1 || (lives == LIVES_ONE_HUGE && n >= 2))
                    CHECK_MSG(!taken, "taken: n %zu ids %d lives %d", n, ids, lives); /* every life equal; or the p99 window spanning 2^32 ns */
                if (lives == LIVES_MANY || lives == LIVES_SPREAD)
                    CHECK_MSG(taken || n == 1, "not taken: n %zu ids %d lives %d", n, ids, lives);
                if (taken) {
                    windows_taken++;
                    static const unsigned pct[3] = {50, 95, 99};
                    for (int j = 0; j < 3; j++) {
                        size_t lo, hi;
                        sp_ana_share_window(n, pct[j], &lo, &hi);
                        CHECK(lo >= 1 && hi <= n);
                        if (j == 2)
                            CHECK(hi == n);
                        int same = memcmp(a.share_win[j], a.by_latency + lo - 1, (hi - lo + 1) * sizeof(uint32_t)) == 0;
                        CHECK_MSG(same, "window p%u differs: n %zu ids %d lives %d", pct[j], n, ids, lives);
                    }
                } else {
                    ranked_instead++;
                }
                windows_compared++;
                sp_ana_free(&a);
                sp_events_destroy(ev);
            }
}

/* The candidates' limit exactly, past several of the gathering pass' blocks (share.c checks the total
 * once a block of requests): n = 9000 distinct lives, 10 ns apart in a scattered order, but for the k
 * requests ranked just below the p50 window's lower boundary, which take the boundary's life: the
 * candidates total the windows' sizes plus k. k is set so that they total the limit, one less and one
 * more (counted by brute force, expect_taken); the windows are taken up to the limit, not past it,
 * and where taken equal the full ranking's stretches. */
static sp_events *edge_set(size_t n, size_t k)
{
    size_t lo, hi;
    sp_ana_share_window(n, 50, &lo, &hi);
    sp_events *ev = eb_new();
    for (size_t i = 0; i < n; i++) {
        char id[40];
        eb_id_of(id, sizeof id, i, EB_IDS_SHORT, 5);
        size_t v = (i * 7919) % n; /* the life's rank - 1 with no ties */
        if (v + 1 < lo && v + 1 + k >= lo)
            v = lo - 1;
        uint64_t t = 1000000 + 1000 * i, life = 1000 + 10 * v;
        uint32_t q = eb_req(ev, id, t, t + life);
        eb_span(ev, q, "preprocess", t, t + life / 3);
        eb_span(ev, q, "queue", t + life / 3, t + life);
    }
    return ev;
}

static int edge_case(size_t n, size_t k, size_t *total)
{
    sp_events *ev = edge_set(n, k);
    sp_ana a;
    int taken = windows_both_ways(ev, n, &a);
    CHECK_MSG(taken == expect_taken(&a, total), "edge: taken %d, %zu candidates, k %zu", taken, *total, k);
    static const unsigned pct[3] = {50, 95, 99};
    for (int j = 0; taken && j < 3; j++) {
        size_t lo, hi;
        sp_ana_share_window(n, pct[j], &lo, &hi);
        CHECK(memcmp(a.share_win[j], a.by_latency + lo - 1, (hi - lo + 1) * sizeof(uint32_t)) == 0);
    }
    sp_ana_free(&a);
    sp_events_destroy(ev);
    return taken;
}

static void candidates_limit(void)
{
    const size_t n = 9000, most = n / SP_ANA_SHARE_CANDIDATES_MAX_DIV + 64;
    size_t total0 = 0, total = 0;
    CHECK(edge_case(n, 0, &total0));
    CHECK(total0 < most);
    size_t k = most - total0; /* the candidates total the limit */
    CHECK(edge_case(n, k - 1, &total) && total == most - 1);
    CHECK(edge_case(n, k, &total) && total == most);
    CHECK(!edge_case(n, k + 1, &total) && total == most + 1);
}

/* ---- 3. whole reports without the detail ---- */

static char *report_of(sp_events *ev, int select)
{
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    sp_ana_share_select = select;
    if (select)
        sp_ana_two_threads_min = 2; /* the windows beside the columns, and both threads on the columns */
    sp_report *r = NULL;
    char err[256];
    sp_status st = sp_analyze(ev, &o, &r, err, sizeof err);
    ana_switches_reset();
    if (st != SP_OK) {
        fprintf(stderr, "sp_analyze: %s (%s)\n", err, sp_status_str(st));
        return NULL;
    }
    size_t len = 0;
    char *buf = ar_report_bytes(r, &len);
    sp_report_destroy(r);
    return buf;
}

static int reports_compared;

static void sets_reports(void)
{
    for (size_t z = 0; z < N_SIZES; z++)
        for (int ids = 0; ids < EB_IDS_KINDS; ids++)
            for (int lives = 0; lives < LIVES_KINDS; lives++) {
                uint64_t seed = rng_state;
                char *rep[2];
                for (int on = 0; on < 2; on++) {
                    rng_state = seed; /* two builds of one set: sp_analyze finishes what it reads */
                    sp_events *ev = window_set(sizes[z], ids, lives);
                    rep[on] = report_of(ev, on);
                    sp_events_destroy(ev);
                }
                CHECK(rep[0] && rep[1]);
                if (rep[0] && rep[1]) {
                    CHECK_MSG(strcmp(rep[0], rep[1]) == 0, "reports differ: n %zu ids %d lives %d", sizes[z], ids, lives);
                    reports_compared++;
                }
                free(rep[0]);
                free(rep[1]);
            }
}

static void trace_turned(const char *const *paths, int n, int lenient, void *user)
{
    int *compared = user;
    char *rep[2];
    size_t len[2] = {0, 0};
    for (int on = 0; on < 2; on++) {
        sp_analyze_options o;
        sp_analyze_options_init(&o);
        o.lenient = lenient;
        sp_ana_share_select = on;
        if (on)
            sp_ana_two_threads_min = 2;
        rep[on] = ar_analyse(paths, n, lenient, &o, NULL, &len[on]);
        ana_switches_reset();
    }
    CHECK(rep[0] && rep[1]);
    if (rep[0] && rep[1]) {
        CHECK(ar_same_bytes(rep[0], len[0], rep[1], len[1], paths[0], 1));
        (*compared)++;
    }
    free(rep[0]);
    free(rep[1]);
}

int main(void)
{
    known_answer();
    windows_against_ranking();
    fprintf(stderr, "%d sets: windows by selection in %d, the ranking in %d\n", windows_compared, windows_taken,
            ranked_instead);
    CHECK(windows_compared == (int)N_SIZES * EB_IDS_KINDS * LIVES_KINDS);
    CHECK(windows_taken > windows_compared / 3 && ranked_instead > 0);
    candidates_limit();
    sets_reports();
    CHECK(reports_compared == (int)N_SIZES * EB_IDS_KINDS * LIVES_KINDS);
    int traces = 0;
    ar_each_trace("sharewin", &rng_state, trace_turned, &traces);
    fprintf(stderr, "%d reports of sets and %d of traces compared\n", reports_compared, traces);
    CHECK(traces == AR_TRACES);
    return sp_test_done("test_analyze_share_windows");
}
