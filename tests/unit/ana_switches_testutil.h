/* The analysis' test switches (analyze/analyze_int.h, model/events_int.h) for the tests that run one
 * input by several routes, and one partition on a hand-built set. */
#ifndef SERVPROF_TEST_ANA_SWITCHES_TESTUTIL_H
#define SERVPROF_TEST_ANA_SWITCHES_TESTUTIL_H

#include <string.h>

#include "analyze/analyze_int.h"
#include "model/events_int.h"

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
    sp_ana_cols_fast = 1;
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

#endif
