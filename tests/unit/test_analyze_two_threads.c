/* The analysis' two-thread route (docs/analysis.md, "Two threads") against its one-thread route, and
 * the latency ranking against qsort with the ranking's full key.
 *
 * 1. Differential: every trace below is loaded twice and analysed once with the thresholds
 *    sp_ana_two_threads_min and sp_ev_two_threads_min above its size (one thread) and once with them
 *    at 1 (a second thread takes the activity order and batch lists of the finishing pass, the GPU
 *    figures and outcomes beside the partition, half the per-request partition, the stage columns,
 *    the request figures beside the ranking, and the verdict's p95 savings beside the cost; sets with
 *    device activity, outcomes, errors under lenient and generation data exercise each); the JSON and text reports
 *    and the per-request rows (keep_requests) must be byte-identical; a fourth analysis takes the
 *    two-thread route with the per-request cost's shared passes in chunks of one (sp_ana_cost_chunk),
 *    so that the second thread, its savings done, takes some of their chunks (how many is printed),
 *    and a fifth with every chunk of both passes left to the second thread (sp_ana_cost_helper_first);
 *    the cost's mean (in no report) and percentiles are compared bit for bit too. The fourth has the
 *    second thread populate the pages ahead of the cost's activity pass a page at a time
 *    (sp_ana_cost_ahead at 1) where it comes to them, the fifth has the pass wait until it has come
 *    (at least one round of SP_ANA_COST_AHEAD bytes); the bytes populated are printed, and some must
 *    be. The fifth also leaves each device's gap (the overlap of its batch windows and its all-work
 *    union) to the second thread; the gaps it computed are printed, and some must be. The one-thread
 *    analysis takes the requests' padding total after the stage rows (sp_ana_padding_in_rows at 0),
 *    the others by the stage rows' thread that runs out of columns first (how often is printed; some
 *    must). A set without a step record must have no batch that is a step and no pass over its
 *    batches for steps (sp_ana_step_passes), and some sets with step records must have one. The one-thread analysis holds the
 *    stage times in 8 bytes and mallocs every scratch array; the two-thread one holds them in 4 bytes
 *    (sp_ana_narrow) and takes every scratch array, however small, from the analysis' scratch
 *    stack (sp_ana_scratch_min at 1), which the threads share; a third analysis does the latter on one
 *    thread. Traces: the repository's JSONL
 *    test traces (synth, generation, OTLP-derived stages), two of its Kineto traces (a GPU timeline
 *    with few requests or none, CUDA graph launches), synth runs (CPU and GPU backends, several
 *    seeds and batch caps), and native traces written by the recorder with overlapping batches,
 *    activity tied by id and by window, launches, outcomes, statuses, requests left without a
 *    request record, text labels and stage spans in any order, and one cut short
 *    (analyze_routes_testutil.h).
 * 2. Ranking (DESIGN 8a): requests whose latencies tie in groups, with ids built to defeat the radix
 *    pass on the first eight bytes (equal first eight bytes, ids that are prefixes of others, bytes
 *    above 0x7f, the same id in two files with different arrivals); the reference is qsort with
 *    (latency, strcmp of the id, arrival, file), computed here from the known inputs. Each request
 *    carries a preprocess span of a unique length, so the rows' preprocess column names the request at
 *    each rank.
 * 3. Failures: the GPU figures and the outcomes run on the second thread while the first partitions
 *    the requests, each with its own message buffer. A set whose outcomes fail (a rejected request
 *    with done before arrival), one whose partition fails too (an ok request so), one whose activity
 *    check fails before the second thread starts:
 *    each must fail with the same status and the same message by both routes, the message naming
 *    the request the one-thread order meets first (the partition's before the outcomes'); lenient,
 *    the same reports, with the skipped requests counted once. Then each again with launch calls under
 *    release_events: the second thread builds the GPU figures' join first and writes the calls over
 *    before the device list, the partition or the outcomes fail (the calls are then freed, not
 *    recycled). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze/analyze_int.h"
#include "ana_switches_testutil.h"
#include "analyze_routes_testutil.h"
#include "ev_build.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    return xs64_next(&rng_state);
}

/* One analysis of the files `paths` (n of them) with `threads_at` as the two-thread threshold, the
 * stage times narrow or not (sp_ana_narrow) and `scratch_min` as sp_ana_scratch_min: the JSON
 * report, then the text report, then the request rows' bytes, in one malloc'd buffer. NULL when
 * loading or analysing fails (the status and message go to stderr). */
/* sp_ana_cost_chunk, sp_ana_cost_helper_first and sp_ana_cost_ahead for analyse */
static size_t cost_chunk = SP_ANA_COST_CHUNK, cost_ahead = SP_ANA_COST_AHEAD;
static int helper_first;

/* The last analysis' per-request cost figures, bit for bit (the mean is in no report, and the
 * percentiles' mean only rounded there). */
static double last_cost_mean;
static sp_quantiles last_cost_q;
/* Sets with a step record whose batches were read for steps, and sets without one: the batches are
 * never read for steps there (sp_ana_step_passes; verdict.c), and none of them is a step. */
static int step_sets, stepless_sets;
static size_t step_passes_before;
static void keep_cost(sp_events *ev, const sp_analyze_options *o, sp_report *r)
{
    (void)o;
    last_cost_mean = r->cost.request_cost_mean;
    last_cost_q = r->cost.request_cost_nano;
    size_t passes = atomic_load(&sp_ana_step_passes) - step_passes_before;
    if (ev->n_steps) {
        step_sets += passes > 0;
    } else {
        stepless_sets++;
        CHECK_EQ_U64(passes, 0);
        for (size_t b = 0; b < ev->n_batches; b++)
            CHECK(ev->batches[b].step == SP_EV_NONE);
    }
}

static char *analyse(const char *const *paths, int n, int lenient, size_t threads_at, int narrow, size_t scratch_min,
                     size_t *len)
{
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = 1;
    o.lenient = lenient;
    sp_ana_two_threads_min = sp_ev_two_threads_min = threads_at;
    sp_ana_narrow = narrow;
    sp_ana_scratch_min = scratch_min;
    sp_ana_cost_chunk = cost_chunk;
    sp_ana_cost_helper_first = helper_first;
    sp_ana_cost_ahead = cost_ahead;
    memset(&last_cost_q, 0xa5, sizeof last_cost_q);
    last_cost_mean = -1.0;
    step_passes_before = atomic_load(&sp_ana_step_passes);
    char *buf = ar_analyse(paths, n, lenient, &o, keep_cost, len);
    ana_switches_reset();
    return buf;
}

static int compared;

static void same_both_routes(const char *const *paths, int n, int lenient, void *user)
{
    (void)user;
    size_t l1 = 0, l2 = 0, l3 = 0, l4 = 0;
    sp_ana_padding_in_rows = 0; /* the requests' padding total after the stage rows, as before */
    char *one = analyse(paths, n, lenient, SIZE_MAX, 0, SIZE_MAX, &l1);
    double one_mean = last_cost_mean;
    sp_quantiles one_q = last_cost_q;
    char *two = analyse(paths, n, lenient, 1, 1, 1, &l2);
    char *pooled = analyse(paths, n, lenient, SIZE_MAX, 1, 1, &l3);
    /* the per-request cost's shared passes in chunks of one batch or request, so that the second
     * thread, its savings done, takes some of them even in small sets */
    cost_chunk = 1;
    cost_ahead = 1; /* the pages ahead of the activity pass one at a time, where the helper comes to them */
    char *chunked = analyse(paths, n, lenient, 1, 1, 1, &l4);
    if (one && chunked) {
        CHECK(memcmp(&one_mean, &last_cost_mean, sizeof one_mean) == 0);
        CHECK(memcmp(&one_q, &last_cost_q, sizeof one_q) == 0);
    }
    /* every chunk of both passes on the second thread (sp_ana_cost_helper_first), in chunks of three;
     * the activity pass waits for the helper to come to its pages ahead, which it populates at least
     * once (SP_ANA_COST_AHEAD bytes of each union at a time) */
    cost_ahead = SP_ANA_COST_AHEAD;
    cost_chunk = 3;
    helper_first = 1;
    size_t l5 = 0;
    char *helped = analyse(paths, n, lenient, 1, 1, 1, &l5);
    helper_first = 0;
    cost_chunk = SP_ANA_COST_CHUNK;
    CHECK(helped != NULL);
    if (one && helped) {
        CHECK(ar_same_bytes(one, l1, helped, l5, paths[0], 5));
        CHECK(memcmp(&one_mean, &last_cost_mean, sizeof one_mean) == 0);
        CHECK(memcmp(&one_q, &last_cost_q, sizeof one_q) == 0);
    }
    free(helped);
    CHECK(one != NULL);
    CHECK(two != NULL);
    CHECK(pooled != NULL);
    CHECK(chunked != NULL);
    if (one && two && pooled && chunked) {
        CHECK(ar_same_bytes(one, l1, two, l2, paths[0], 2));
        CHECK(ar_same_bytes(one, l1, pooled, l3, paths[0], 3));
        CHECK(ar_same_bytes(one, l1, chunked, l4, paths[0], 4));
        compared++;
    }
    free(one);
    free(two);
    free(pooled);
    free(chunked);
}

/* ---- 2. the ranking ---- */

#define NRANK 600

typedef struct rank_ref {
    uint64_t life;
    char id[48];
    uint64_t arrival;
    uint32_t file;
    uint64_t pre; /* the unique preprocess span length that identifies it in the rows */
} rank_ref;

static int rank_cmp(const void *a, const void *b)
{
    const rank_ref *x = a, *y = b;
    if (x->life != y->life)
        return x->life < y->life ? -1 : 1;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return (x->file > y->file) - (x->file < y->file);
}

/* numeric: the first `numeric` requests have numeric ids (1000000 + i, seven digits, which no text id
 * here has; their text orders as their numbers do), the rest text ids: all numeric, the ranking takes
 * the numeric keys (src/analyze/share.c, packed with their positions); a text id among them, at any
 * position, sends it to the ids' prefixes; the same ranking either way */
static void ranking(size_t threads_at, int numeric)
{
    static const char *const stems[] = {"", "abcdefgh", "abcdefg", "request-00000", "\xc3\xa9t\xc3\xa9-",
                                        "9", "10", "req"};
    static rank_ref R[NRANK];
    sp_events *ev = eb_new();
    uint32_t f1 = eb_file(ev, "second");
    for (int i = 0; i < NRANK; i++) {
        rank_ref *q = &R[i];
        /* ids: a stem then a short number; every 5th reuses request i-1's id in the other file */
        if (i % 5 == 4) {
            strcpy(q->id, R[i - 1].id);
            q->file = R[i - 1].file ? 0 : f1;
        } else if (i < numeric) {
            snprintf(q->id, sizeof q->id, "%d", 1000000 + i);
            q->file = (uint32_t)(rnd() % 2 ? f1 : 0);
        } else {
            snprintf(q->id, sizeof q->id, "%s%u", stems[rnd() % 8], (unsigned)(rnd() % 40));
            q->file = (uint32_t)(rnd() % 2 ? f1 : 0);
        }
        /* no duplicate (file, id): a file never holds one id twice */
        for (int j = 0; j < i; j++)
            if (R[j].file == q->file && !strcmp(R[j].id, q->id)) {
                snprintf(q->id + strlen(q->id), sizeof q->id - strlen(q->id), "x%d", i);
                break;
            }
        q->life = 100000 + 1000 * (rnd() % 4); /* four latencies: large tie groups */
        q->arrival = 1000000 + rnd() % 5000;
        q->pre = 1 + (uint64_t)i;
        uint32_t r;
        if (i < numeric) {
            CHECK(sp_ev_request_ref_u64(ev, q->file, strtoull(q->id, NULL, 10), &r) == SP_OK);
            ev->requests[r].arrival_ns = q->arrival;
            ev->requests[r].done_ns = q->arrival + q->life;
            ev->requests[r].has_record = true;
        } else {
            r = eb_req_f(ev, q->file, q->id, q->arrival, q->arrival + q->life, -1);
        }
        eb_span(ev, r, "preprocess", q->arrival, q->arrival + q->pre);
    }
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = 1;
    sp_report *rep = NULL;
    char err[256];
    sp_ana_two_threads_min = sp_ev_two_threads_min = threads_at;
    sp_status st = sp_analyze(ev, &o, &rep, err, sizeof err);
    sp_ana_two_threads_min = SP_ANA_TWO_THREADS_MIN;
    sp_ev_two_threads_min = SP_EV_TWO_THREADS_MIN;
    CHECK(st == SP_OK);
    if (st == SP_OK) {
        qsort(R, NRANK, sizeof *R, rank_cmp);
        const sp_request_rows *rows = &rep->detail->requests;
        CHECK_EQ_U64(rows->n, NRANK);
        size_t bad = 0;
        for (size_t k = 0; k < rows->n && k < NRANK; k++)
            bad += rows->stage_ns[k * rows->n_stages + 1] != R[k].pre; /* row 1: preprocess */
        CHECK_EQ_U64(bad, 0);
    }
    sp_report_destroy(rep);
    sp_events_destroy(ev);
}

/* ---- 3. failures ---- */

/* A small set with device work (so that the GPU figures and outcomes take the second thread at
 * threshold 1): ok requests in batches with kernels, one rejected request with done before arrival
 * (the outcomes' error), and per `how`: 1 an ok request so too (the partition's error), 2 a kernel
 * ending before it starts (sp_ana_devices' error), 3 nothing more. */
/* 1: the failing sets carry launch calls too (ids 1..8, dense) and are analysed under release_events,
 * so that the join, built ahead on the second thread, writes them over before the step fails */
static int g_released;

static sp_events *failing_set(int how)
{
    sp_events *ev = eb_new();
    for (uint64_t k = 0; g_released && k < 8; k++)
        eb_launch(ev, k + 1, 900000 + 1000 * k, 900500 + 1000 * k, 0);
    uint32_t m[4];
    for (int i = 0; i < 8; i++) {
        char id[16];
        snprintf(id, sizeof id, "ok-%d", i);
        uint64_t t = 1000000 + 100000 * (uint64_t)i;
        m[i % 4] = eb_req(ev, id, t, t + 90000);
        if (i % 4 == 3) {
            uint32_t b = eb_batch(ev, i / 4, t + 10000, t + 60000, 30, 40, m, 4);
            eb_act(ev, SP_ACT_KERNEL, b, t + 12000, t + 50000);
        }
    }
    uint32_t rj = eb_req(ev, "bad-rejected", 2000000, 1900000);
    ev->requests[rj].outcome = SP_OUTCOME_REJECTED;
    ev->requests[rj].status = 503;
    if (how == 1)
        eb_req(ev, "bad-ok", 2100000, 2000000);
    if (how == 2)
        eb_act(ev, SP_ACT_KERNEL, SP_EV_NONE, 2200000, 2100000);
    return ev;
}

static void same_failure(int how, const char *names)
{
    sp_status st[2];
    char err[2][512];
    size_t over = sp_ana_launch_overwritten, ahead = sp_ana_launch_joined_ahead;
    for (int route = 0; route < 2; route++) {
        sp_events *ev = failing_set(how);
        sp_analyze_options o;
        sp_analyze_options_init(&o);
        o.release_events = g_released;
        sp_report *r = NULL;
        sp_ana_two_threads_min = sp_ev_two_threads_min = route ? 1 : SIZE_MAX;
        st[route] = sp_analyze(ev, &o, &r, err[route], sizeof err[route]);
        sp_ana_two_threads_min = SP_ANA_TWO_THREADS_MIN;
        sp_ev_two_threads_min = SP_EV_TWO_THREADS_MIN;
        CHECK(r == NULL);
        sp_report_destroy(r);
        sp_events_destroy(ev);
    }
    CHECK(st[0] == SP_ERR_PARSE && st[1] == SP_ERR_PARSE);
    CHECK(strcmp(err[0], err[1]) == 0);
    if (g_released) { /* the two-thread route built its join ahead and wrote the 8 calls over */
        CHECK_EQ_U64(sp_ana_launch_joined_ahead - ahead, 1);
        CHECK(sp_ana_launch_overwritten - over >= 8);
    }
    CHECK(strstr(err[1], names) != NULL);
    if (strcmp(err[0], err[1]) || !strstr(err[1], names))
        fprintf(stderr, "failure %d: one thread \"%s\", two \"%s\"\n", how, err[0], err[1]);
    /* lenient: the same report both ways; the bad requests (and activity) skipped and counted once */
    size_t len[2];
    char *rep[2];
    uint64_t skipped[2];
    for (int route = 0; route < 2; route++) {
        sp_events *ev = failing_set(how);
        sp_analyze_options o;
        sp_analyze_options_init(&o);
        o.lenient = 1;
        o.release_events = g_released;
        sp_report *r = NULL;
        char e[512];
        sp_ana_two_threads_min = sp_ev_two_threads_min = route ? 1 : SIZE_MAX;
        CHECK(sp_analyze(ev, &o, &r, e, sizeof e) == SP_OK);
        sp_ana_two_threads_min = SP_ANA_TWO_THREADS_MIN;
        sp_ev_two_threads_min = SP_EV_TWO_THREADS_MIN;
        rep[route] = r ? ar_report_bytes(r, &len[route]) : NULL;
        skipped[route] = r ? r->skipped_records : 0;
        sp_report_destroy(r);
        sp_events_destroy(ev);
    }
    CHECK(rep[0] && rep[1] && len[0] == len[1] && memcmp(rep[0], rep[1], len[0]) == 0);
    /* the rejected request, plus the ok request or the activity of sets 1 and 2 */
    CHECK_EQ_U64(skipped[0], how == 3 ? 1 : 2);
    CHECK_EQ_U64(skipped[1], skipped[0]);
    free(rep[0]);
    free(rep[1]);
}

int main(void)
{
    same_failure(1, "\"bad-ok\"");
    same_failure(2, "ends before it starts");
    same_failure(3, "\"bad-rejected\"");
    g_released = 1;
    same_failure(1, "\"bad-ok\"");
    same_failure(2, "ends before it starts");
    same_failure(3, "\"bad-rejected\"");
    g_released = 0;

    ranking(SIZE_MAX, 0);
    ranking(1, 0);
    /* numeric ids: all, the first three quarters, the first quarter */
    for (int k = 0; k < 3; k++) {
        static const int numeric[3] = {NRANK, NRANK * 3 / 4, NRANK / 4};
        ranking(SIZE_MAX, numeric[k]);
        ranking(1, numeric[k]);
    }
    ar_each_trace("two_threads", &rng_state, same_both_routes, NULL);
    fprintf(stderr, "%d traces compared; the cost's helper took %zu chunks, %zu devices' gaps, populated %zu bytes ahead\n",
            compared, (size_t)atomic_load(&sp_ana_cost_helped), (size_t)atomic_load(&sp_ana_cost_gaps_helped),
            (size_t)atomic_load(&sp_ana_cost_populated));
    fprintf(stderr, "padding totals taken by the stage rows' threads: %zu; sets read for steps: %d, sets without "
            "a step record (not read): %d\n", (size_t)atomic_load(&sp_ana_padding_total_beside), step_sets, stepless_sets);
    CHECK(compared == AR_TRACES);
    CHECK(atomic_load(&sp_ana_padding_total_beside) > 0);
    CHECK(step_sets > 0);
    CHECK(stepless_sets > 0);
    CHECK(atomic_load(&sp_ana_cost_gaps_helped) > 0);
    CHECK(atomic_load(&sp_ana_cost_populated) > 0);
    return sp_test_done("test_analyze_two_threads");
}
