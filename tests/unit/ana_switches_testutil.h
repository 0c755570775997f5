/* The analysis' test switches (analyze/analyze_int.h, model/events_int.h) for the tests that run one
 * input by several routes, and one partition on a hand-built set. */
#ifndef SERVPROF_TEST_ANA_SWITCHES_TESTUTIL_H
#define SERVPROF_TEST_ANA_SWITCHES_TESTUTIL_H

#include <string.h>

#include "analyze/analyze_int.h"
#include "model/events_int.h"
#include "analyze_routes_testutil.h"

/* Every switch a route test may turn, back at the value the library starts with. */
static inline void ana_switches_reset(void)
{
    sp_ana_two_threads_min = SP_ANA_TWO_THREADS_MIN;
    sp_ev_two_threads_min = SP_EV_TWO_THREADS_MIN;
    sp_ana_discard_step = SP_ANA_DISCARD_STEP;
    sp_ana_narrow = 1;
    sp_ana_scratch_min = SP_ANA_SCRATCH_MIN;
    sp_ana_keep_per_request = SP_ANA_KEEP_PER_REQUEST;
    sp_ana_move_pages = 1;
    sp_ana_keep_spans_max = SP_ANA_KEEP_SPANS_MAX;
    sp_ana_part_fast = 1;
    sp_ana_rank_wide = 1;
    sp_ana_rank_pack = 1;
    sp_ana_rank_life_pack = 1;
    sp_ana_server_copy = 1;
    sp_ana_cols_fast = 1;
    sp_ana_cols_counted = 1;
    sp_ana_savings_level = 1;
    sp_ana_savings_fused = 1;
    sp_ana_savings_bucket_max = SP_ANA_SAVINGS_BUCKET_MAX;
    sp_ana_savings_window = 1;
    sp_ana_savings_stride = SP_ANA_SAVINGS_STRIDE;
    sp_ana_savings_window_ranks = SIZE_MAX;
    sp_ana_savings_sample_min = SP_ANA_SAVINGS_SAMPLE_MIN;
    sp_ana_launch_direct = 1;
    sp_ana_launch_overwrite = 1;
    sp_ana_launch_discard_step = SP_ANA_LAUNCH_DISCARD_STEP;
    sp_ana_launch_delay_narrow = 1;
    sp_ana_waste_select = 1;
    sp_ana_cost_chunk = SP_ANA_COST_CHUNK;
    sp_ana_cost_helper_first = 0;
    sp_ana_cost_ahead = SP_ANA_COST_AHEAD;
    sp_ana_cost_ahead_every = SP_ANA_COST_AHEAD_EVERY;
    sp_ana_cost_discard_step = SP_ANA_COST_DISCARD_STEP;
    sp_ana_tail_discard = 1;
    sp_ana_padding_in_rows = 1;
}

/* Runs the partition step alone on the finished set `ev` into `a` (default options, no network row),
 * with the switches as the caller set them; the switches are put back after. The caller frees a's
 * arrays (sp_ana_free) and the set. */
static inline sp_status ana_partition_of(sp_ana *a, sp_events *ev, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->ev = ev;
    sp_analyze_options_init(&a->opt);
    a->st_network = -1;
    sp_status st = sp_ana_partition(a, err, errlen);
    ana_switches_reset();
    return st;
}

/* One input of ana_same_both_ways: its report with the switch off and on. */
struct ana_both_ways {
    void (*turn)(int on);
    int compared;
};

static inline char *ana_report_turned(const char *const *paths, int n, int lenient, struct ana_both_ways *w, int on,
                                      size_t *len)
{
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = 1;
    o.lenient = lenient;
    w->turn(on);
    char *buf = ar_analyse(paths, n, lenient, &o, NULL, len);
    ana_switches_reset();
    return buf;
}

static inline void ana_same_turned(const char *const *paths, int n, int lenient, void *user)
{
    struct ana_both_ways *w = user;
    size_t l1 = 0, l2 = 0;
    char *general = ana_report_turned(paths, n, lenient, w, 0, &l1);
    char *fast = ana_report_turned(paths, n, lenient, w, 1, &l2);
    CHECK(general != NULL && fast != NULL);
    if (general && fast) {
        CHECK(ar_same_bytes(general, l1, fast, l2, paths[0], 1));
        w->compared++;
    }
    free(general);
    free(fast);
}

/* The whole report (ar_report_bytes, with the request rows) of every input of ar_each_trace with
 * turn(0) (the general route) and turn(1) (the shortcuts), compared byte for byte; returns how many
 * inputs both analysed (AR_TRACES when all did). */
static inline int ana_same_both_ways(const char *tag, uint64_t *rng, void (*turn)(int on))
{
    struct ana_both_ways w = {turn, 0};
    ar_each_trace(tag, rng, ana_same_turned, &w);
    fprintf(stderr, "%d traces compared\n", w.compared);
    return w.compared;
}

#endif
