/* sp_analyze_options.release_events (docs/analysis.md section 8, "Memory"): the analysis frees the
 * set's id maps, its stage spans (page by page behind the partition, then the array) and its launch
 * calls once it has done with them; the report must not change by a byte.
 *
 * 1. Differential: every trace of analyze_routes_testutil.h (JSONL, Kineto, synth runs, recorder-
 *    written native traces alone, two together and one cut short) analysed without and with
 *    release_events: the CLI's configuration (no per-request rows, the default discard step), and
 *    with the per-request rows kept, the discard step at 1 byte (every request hands back the whole
 *    pages behind it, so a page discarded too early reads as zero spans and changes the stage times)
 *    on one thread and on two; and the same with the released pages recycled: the spans' pages each
 *    thread has read moved under its next rows of stage times, lives and padding times
 *    (sp_ana_move_pages; a page moved under a row already written, tried, fails 52 checks), and the
 *    last span pages and the launch calls kept for the scratch stack (sp_ana_keep_per_request: all of
 *    them, none, 8 and 40 bytes a request, so that a thread keeps part of its stretch; two kept
 *    stretches given to the stack as one, tried, fails it; and the launch calls kept with no span
 *    page, as past sp_ana_keep_spans_max requests, on one thread and two). JSON, text and rows must be byte-identical
 *    to the plain analysis. Every released route also writes the launch calls over the front half of
 *    their array in the GPU figures' join (sp_ana_launch_overwrite, where the ids are dense), and the
 *    routes at the 1-byte step hand the back half's pages back behind every call the join reads
 *    (sp_ana_launch_discard_step), so that a page handed back before the join has read it reads as
 *    zero calls and changes the launch figures (the read point + one page, tried: the test fails).
 *    The plain analyses hold the stage times in 8 bytes and malloc every scratch
 *    array; the released ones in 4 bytes (sp_ana_narrow; one route in 8, with pages moved under them)
 *    and, with the rows kept, take every scratch array however small from the analysis' scratch stack
 *    (sp_ana_scratch_min at 1), so those must not change a byte either.
 * 2. After a release: the set's files and properties (the batching policy the what-if quote reads)
 *    still read; analysing it again, loading into it, the Perfetto and OTLP writers and the what-if
 *    workload are SP_ERR_STATE. A trace with generation data (JSONL, native) keeps its spans (the
 *    generation tables paint the requests' lives again). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "ana_switches_testutil.h"
#include "analyze_routes_testutil.h"
#include "servprof/whatif.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

typedef struct route {
    int release;
    int keep_requests;
    size_t threads_at;   /* sp_ana_two_threads_min */
    size_t discard_step; /* sp_ana_discard_step */
    int narrow;          /* sp_ana_narrow */
    size_t scratch_min;  /* sp_ana_scratch_min */
    size_t keep;         /* sp_ana_keep_per_request */
    int move;            /* sp_ana_move_pages */
    size_t spans_max;    /* sp_ana_keep_spans_max */
    int helper_first;    /* sp_ana_cost_helper_first */
    size_t cost_discard; /* sp_ana_cost_discard_step */
    size_t ahead_every;  /* sp_ana_cost_ahead_every (0: SP_ANA_COST_AHEAD_EVERY) */
} route;

/* A released set answers no second analysis: it is refused, not run on freed arrays. */
static void refused_again(sp_events *ev, const sp_analyze_options *o, sp_report *r)
{
    (void)r;
    char err[512];
    sp_report *again = NULL;
    CHECK(sp_analyze(ev, o, &again, err, sizeof err) == SP_ERR_STATE);
    CHECK(again == NULL);
    CHECK(strstr(err, "released") != NULL);
}

/* One analysis by `rt`: the report's bytes (ar_report_bytes), NULL when it fails. */
static char *analyse(const char *const *paths, int n, int lenient, const route *rt, size_t *len)
{
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = rt->keep_requests;
    o.lenient = lenient;
    o.release_events = rt->release;
    sp_ana_two_threads_min = rt->threads_at;
    sp_ana_discard_step = rt->discard_step;
    sp_ana_launch_discard_step = rt->discard_step == 1 ? 1 : SP_ANA_LAUNCH_DISCARD_STEP;
    sp_ana_narrow = rt->narrow;
    sp_ana_scratch_min = rt->scratch_min;
    sp_ana_keep_per_request = rt->keep;
    sp_ana_move_pages = rt->move;
    sp_ana_keep_spans_max = rt->spans_max;
    sp_ana_cost_helper_first = rt->helper_first;
    sp_ana_cost_discard_step = rt->cost_discard;
    sp_ana_cost_ahead_every = rt->ahead_every ? rt->ahead_every : SP_ANA_COST_AHEAD_EVERY;
    char *buf = ar_analyse(paths, n, lenient, &o, rt->release ? refused_again : NULL, len);
    ana_switches_reset();
    return buf;
}

/* the released routes of same_with_release */
#define NR_ROUTES 14

static int compared;

static void same_with_release(const char *const *paths, int n, int lenient, void *user)
{
    (void)user;
    static const route plain = {0, 0, SIZE_MAX, SP_ANA_DISCARD_STEP, 0, SIZE_MAX, 0, 0, SP_ANA_KEEP_SPANS_MAX, 0,
                                SP_ANA_COST_DISCARD_STEP, 0},
                       plain_rows = {0, 1, SIZE_MAX, SP_ANA_DISCARD_STEP, 0, SIZE_MAX, 0, 0, SP_ANA_KEEP_SPANS_MAX, 0,
                                     SP_ANA_COST_DISCARD_STEP, 0};
    /* the released routes: the CLI's; the rows kept with every page handed back as soon as it is
     * behind and nothing recycled, on one thread and two; then the pages recycled, every array from the
     * scratch stack: all span pages and launch calls kept (nothing handed back) on one thread and on
     * two, and a few bytes a request, so that each thread moves the pages behind it under its rows'
     * next pages as soon as they are whole (sp_ana_move_pages) and keeps the rest of its stretch (the
     * second thread's stretch, or part of it, and, past it, the first's); the last with 8-byte stage
     * times, whose rows the pages move under too; and, as past SP_ANA_KEEP_SPANS_MAX requests, the
     * launch calls kept with no span page, on one thread and two; then the CLI's on two threads, the
     * activity's pages handed back by the cost's helper a page at a time (sp_ana_cost_discard_step),
     * beside the steps after the cost, and all of them before the verdict (sp_ana_cost_helper_first),
     * so that a step after the cost that read the activity would read zeros; and the last again with
     * the pass saying where it is at every activity, so that the helper hands back each page behind
     * the pass as soon as the pass has left it, before the pass ends (sp_ana_cost_discarded_early):
     * a pass that read a page again, or a page handed back ahead of the pass, would read zeros */
    static const route released[NR_ROUTES] = {{1, 0, SP_ANA_TWO_THREADS_MIN, SP_ANA_DISCARD_STEP, 1, SP_ANA_SCRATCH_MIN,
                                        SP_ANA_KEEP_PER_REQUEST, 1, SP_ANA_KEEP_SPANS_MAX, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 1, SIZE_MAX, 1, 1, 1, 0, 0, SP_ANA_KEEP_SPANS_MAX, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 1, 1, 1, 1, 1, 0, 0, SP_ANA_KEEP_SPANS_MAX, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 1, SIZE_MAX, 1, 1, 1, SIZE_MAX, 1, SP_ANA_KEEP_SPANS_MAX, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 1, 1, 1, 1, 1, SIZE_MAX, 1, SP_ANA_KEEP_SPANS_MAX, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 0, 1, 1, 1, 1, 8, 1, SP_ANA_KEEP_SPANS_MAX, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 1, 1, 1, 1, 1, 40, 1, SP_ANA_KEEP_SPANS_MAX, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 1, SIZE_MAX, 1, 1, 1, 0, 1, SP_ANA_KEEP_SPANS_MAX, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 1, 1, 1, 0, 1, 8, 1, SP_ANA_KEEP_SPANS_MAX, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 1, SIZE_MAX, 1, 1, 1, SIZE_MAX, 1, 0, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 1, 1, 1, 1, 1, SIZE_MAX, 1, 0, 0, SP_ANA_COST_DISCARD_STEP, 0},
                                       {1, 0, 1, SP_ANA_DISCARD_STEP, 1, SP_ANA_SCRATCH_MIN, SP_ANA_KEEP_PER_REQUEST, 1,
                                        SP_ANA_KEEP_SPANS_MAX, 0, 1, 0},
                                       {1, 0, 1, SP_ANA_DISCARD_STEP, 1, SP_ANA_SCRATCH_MIN, SP_ANA_KEEP_PER_REQUEST, 1,
                                        SP_ANA_KEEP_SPANS_MAX, 1, 1, 0},
                                       {1, 0, 1, SP_ANA_DISCARD_STEP, 1, SP_ANA_SCRATCH_MIN, SP_ANA_KEEP_PER_REQUEST, 1,
                                        SP_ANA_KEEP_SPANS_MAX, 1, 1, 1}};
    for (int k = 0; k < NR_ROUTES; k++) {
        size_t l1 = 0, l2 = 0;
        char *ref = analyse(paths, n, lenient, released[k].keep_requests ? &plain_rows : &plain, &l1);
        char *rel = analyse(paths, n, lenient, &released[k], &l2);
        CHECK(ref != NULL);
        CHECK(rel != NULL);
        if (ref && rel) {
            CHECK(ar_same_bytes(ref, l1, rel, l2, paths[0], k));
            compared++;
        }
        free(ref);
        free(rel);
    }
}

/* What a released set still answers, and what it refuses. */
static void after_release(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/sp_release_%d", P_tmpdir, (int)getpid());
    ar_write_native(path, 600, &rng_state);
    const char *p = path;
    sp_events *ev = ar_load(&p, 1, 1);
    CHECK(ev != NULL);
    if (!ev)
        return;
    CHECK(ev->n_spans > 0 && ev->n_launches > 0);
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.lenient = 1;
    o.release_events = 1;
    sp_report *r = NULL;
    char err[512] = "";
    CHECK(sp_analyze(ev, &o, &r, err, sizeof err) == SP_OK);
    CHECK(r != NULL && r->request_count > 0);
    CHECK(ev->released && ev->spans == NULL && ev->n_spans == 0 && ev->launches == NULL && ev->n_launches == 0);
    CHECK(ev->req_map.count == 0 && ev->strings.num.count == 0);
    /* kept: files, properties, strings */
    CHECK(sp_events_file_path(ev, 0) != NULL && strcmp(sp_events_file_path(ev, 0), path) == 0);
    /* refused */
    sp_load_options lo;
    sp_load_options_init(&lo);
    err[0] = '\0';
    CHECK(sp_events_load_file(ev, path, &lo, err, sizeof err) == SP_ERR_STATE);
    CHECK(strstr(err, "released") != NULL);
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (f) {
        CHECK(sp_report_write_perfetto(r, ev, f) == SP_ERR_STATE);
        sp_otlp_options oo;
        sp_otlp_options_init(&oo);
        CHECK(sp_report_write_otlp(ev, &oo, f, NULL, err, sizeof err) == SP_ERR_STATE);
        fclose(f);
    }
    sp_whatif_workload w;
    memset(&w, 0, sizeof w);
    CHECK(sp_whatif_workload_from_events(ev, 1, &w, err, sizeof err) == SP_ERR_STATE);
    sp_report_destroy(r);
    sp_events_destroy(ev);

    /* the properties stay: the what-if quote reads the batching policy from a released set */
    char synth[4096];
    snprintf(synth, sizeof synth, "%s/tests/data/synth/cpu_requests12_seed3.jsonl", SP_SOURCE_DIR);
    p = synth;
    ev = ar_load(&p, 1, 0);
    CHECK(ev != NULL);
    if (ev) {
        sp_whatif_observed before, after;
        CHECK(sp_whatif_observed_from_events(ev, &before, err, sizeof err) == SP_OK);
        CHECK(sp_whatif_observed_from_trace(&before)); /* synth records its policy */
        const char *mb = sp_events_property(ev, 0, "policy.max_batch");
        char max_batch[64];
        snprintf(max_batch, sizeof max_batch, "%s", mb ? mb : "");
        CHECK(max_batch[0] != '\0');
        o.lenient = 0;
        r = NULL;
        CHECK(sp_analyze(ev, &o, &r, err, sizeof err) == SP_OK);
        CHECK(ev->released);
        mb = sp_events_property(ev, 0, "policy.max_batch");
        CHECK(mb != NULL && strcmp(mb, max_batch) == 0);
        CHECK(sp_whatif_observed_from_events(ev, &after, err, sizeof err) == SP_OK);
        CHECK(sp_whatif_observed_from_trace(&after));
        CHECK(after.policy.max_batch == before.policy.max_batch && after.policy.max_delay_ns == before.policy.max_delay_ns);
        sp_report_destroy(r);
        sp_events_destroy(ev);
    }

    /* generation data (the repository's JSONL example, a recorder's steps and tokens): the spans stay
     * for the generation tables, the launches and maps go */
    char gen[4096];
    snprintf(gen, sizeof gen, "%s/tests/data/generation/example.jsonl", SP_SOURCE_DIR);
    ar_write_native_mix(path, 600, 1, &rng_state);
    const char *const gens[2] = {gen, path};
    for (int k = 0; k < 2; k++) {
        ev = ar_load(&gens[k], 1, k);
        CHECK(ev != NULL);
        if (!ev)
            continue;
        size_t spans = ev->n_spans;
        CHECK(spans > 0);
        r = NULL;
        o.lenient = k;
        CHECK(sp_analyze(ev, &o, &r, err, sizeof err) == SP_OK);
        CHECK(r != NULL && r->generation != NULL && r->generation->steps > 0);
        CHECK(ev->released && ev->n_spans == spans && ev->spans != NULL && ev->launches == NULL);
        sp_report_destroy(r);
        sp_events_destroy(ev);
    }
    remove(path);
}

int main(void)
{
    after_release();
    ar_each_trace("release", &rng_state, same_with_release, NULL);
    fprintf(stderr, "%d comparisons; the cost's helper handed %zu bytes of activity back, %zu during the pass\n",
            compared, (size_t)atomic_load(&sp_ana_cost_discarded), (size_t)atomic_load(&sp_ana_cost_discarded_early));
    fprintf(stderr, "the GPU figures wrote %zu launch calls over their arrays and handed %zu bytes back during the join\n",
            sp_ana_launch_overwritten, sp_ana_launch_discarded_early);
    CHECK(compared == NR_ROUTES * AR_TRACES);
    CHECK(sp_ana_launch_overwritten > 0);
    CHECK(sp_ana_launch_discarded_early > 0);
    CHECK(atomic_load(&sp_ana_cost_discarded) > 0);
    CHECK(atomic_load(&sp_ana_cost_discarded_early) > 0);
    return sp_test_done("test_analyze_release");
}
