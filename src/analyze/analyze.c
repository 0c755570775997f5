/* sp_analyze: the analysis pipeline. Checks the options, finishes the event set, then runs the stages
 * in order (partition, GPU timeline, outcomes, stage rows and shares, request and clock figures,
 * padding, the per-request rows when asked, cost, verdict, the timeline slice when detail is kept,
 * data quality) over one working context and hands back the report they filled. Steps that do not
 * depend on each other run side by side on large sets (docs/analysis.md section 8, "Two threads").
 * Each stage lives in its own file; the report object is report_store.c. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__ /* defined by the headers above */
#include <malloc.h>
#endif

#include "analyze/analyze_int.h"
#include "common/util_int.h"

void sp_analyze_options_init(sp_analyze_options *opt)
{
    memset(opt, 0, sizeof *opt);
}

void sp_ana_free(sp_ana *a)
{
    if (!a)
        return;
    sp_ana_scratch_put(a->scratch, a->rank_scratch[1]);
    sp_ana_scratch_put(a->scratch, a->rank_scratch[0]);
    sp_ana_scratch_put(a->scratch, a->req_cost);
    sp_ana_paint_free(a);
    for (int j = 0; j < 3; j++)
        free(a->share_win[j]);
    void *blocks[13 + SP_ANA_SCRATCH_BLOCKS] = {a->reqs, a->b, a->seg_s, a->seg_off32, a->seg_label, a->devs,
                                               a->act_dev, a->named_ids, a->times, a->times32, a->padding,
                                               a->life, a->by_latency};
    size_t n = 13 + sp_ana_scratch_release(a->scratch, blocks + 13);
    a->scratch = NULL;
    /* under release_events (servprof analyze) a large set's arrays, a few hundred MB, are freed on two
     * threads: their unmapping is most of what is left of the analysis, and would run on one core */
    sp_free_all(blocks, n, a->opt.release_events && a->n_reqs >= sp_ana_two_threads_min);
}

/* `block` (`bytes` long, an array of the set the analysis has done with): its stretches `kept` (whole
 * pages, in address order) go to the scratch stack, which frees the block with itself, and its other
 * pages back to the kernel; without a stretch worth a scratch array, or without room, it is freed. */
static void recycle(sp_ana *a, void *block, size_t bytes, const sp_ana_stretch *kept, size_t n)
{
    void *lo[2];
    size_t len[2], m = 0;
    for (size_t k = 0; k < n && m < 2; k++)
        if (kept[k].p && kept[k].bytes && kept[k].bytes >= sp_ana_scratch_min) {
            lo[m] = kept[k].p;
            len[m++] = kept[k].bytes;
        }
    if (!block || !m || !sp_ana_scratch_adopt(a->scratch, block, lo, len, m)) {
        free(block);
        return;
    }
    uintptr_t at = (uintptr_t)block, end = (uintptr_t)block + bytes;
    for (size_t k = 0; k < m; k++) {
        sp_discard_pages((void *)at, (uintptr_t)lo[k] - at);
        at = (uintptr_t)lo[k] + len[k];
    }
    if (end > at)
        sp_discard_pages((void *)at, end - at);
}

void sp_ana_recycle_released(sp_ana *a)
{
    size_t n = a->n_reqs, per = sp_ana_keep_per_request;
    size_t budget = per && n > SIZE_MAX / per ? SIZE_MAX : n * per, bytes;
    if (sp_ana_releases_spans(a)) {
        void *spans = sp_ev_take_spans(a->ev, &bytes);
        recycle(a, spans, bytes, a->spans_kept, 2);
    }
    /* the calls' pages, not the room after them, which the import may never have touched. Where the
     * GPU figures wrote the calls over the array's front half and handed the back half's pages back
     * (docs/analysis.md section 8, "Memory"): up to SP_ANA_KEEP_SPANS_MAX requests, where span pages
     * are kept beside them, the stretch is still the whole array, so that the stage rows' arrays find
     * the places they fitted before (the back half's pages fault in again there, after the
     * partition's peak; kept to the front half, the ranking's records of the 10 M-event uniform trace
     * took a fresh chunk and raised its peak by 18 MB); past it, the written calls alone (the whole
     * array raised the 100 M-event trace's RSS at the cost's start by ~70 MiB and its peak with it);
     * none where the GPU figures handed them back already (past that many request records) */
    size_t call = a->launches_overwritten && n > sp_ana_keep_spans_max ? sizeof(sp_ana_launch_c) : sizeof(sp_ev_launch);
    size_t used = a->launch_calls_back ? 0 : a->ev->n_launches * call; /* handed back: none kept */
    void *launches = sp_ev_take_launches(a->ev, &bytes);
    sp_ana_stretch k = {launches, used < budget ? used : budget};
    recycle(a, launches, bytes, &k, 1);
}

/* Progress (sp_analyze_options.progress): the step starting now, or with NULL the end. */
static void step(sp_ana *a, const char *what)
{
    if (!a->opt.progress)
        return;
    if (what)
        a->step_no++;
    sp_analyze_progress p = {what, a->step_no, a->step_count, (double)(sp_now_ns() - a->t0_ns) / 1e9, what == NULL};
    a->opt.progress(a->opt.progress_user, &p);
}

/* Steps run on a second thread beside the pipeline's own (docs/analysis.md section 8, "Two
 * threads"): the GPU figures and the outcomes beside the request partition, the verdict's p95
 * savings beside the cost. Each writes only its own part of the report and of this job. */
typedef struct beside_job {
    sp_ana *a;
    sp_status st;
    /* GPU figures, then outcomes: the outcomes' status, skipped records and message (errlen bytes) */
    sp_status outcomes_st;
    uint64_t skipped;
    char *err;
    size_t errlen;
    /* p95 savings: the candidates and the shared work */
    sp_verdict_cand *cs;
    size_t nc;
    sp_ana_savings_job *savings;
    sp_ana_cost_share *cost; /* then the cost's shared passes */
    /* outcomes, then GPU figures: the device list's gate, and the GPU figures' launch join built ahead
     * with its status */
    struct devices_gate *gate;
    sp_ana_launches *join;
    sp_status join_st;
} beside_job;

/* After the stage rows' threads: glibc keeps what a thread freed in an arena of its own, which this
 * thread's later allocations do not reuse, so without this the peak could grow by that thread's
 * small scratch (the large arrays are in a->scratch, which every thread shares); malloc_trim hands
 * the free pages of every arena back to the kernel (a few ms). Elsewhere nothing. */
static void give_back_thread_scratch(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* Whether the device list is built (partition_gpu_outcomes): the GPU figures wait for it. */
typedef struct devices_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0: being built; 1: built; -1: failed (no GPU figures) */
} devices_gate;

size_t sp_ana_launch_joined_ahead;

static void *outcomes_gpu_run(void *arg)
{
    beside_job *j = arg;
    devices_gate *g = j->gate;
    j->join_st = sp_ana_gpu_join(j->a, j->join);
    sp_ana_launch_joined_ahead++;
    /* the GPU figures next where the device list is built by now (their calls, table and delays
     * then go before the partition's rows grow further), else the outcomes while it is */
    pthread_mutex_lock(&g->mu);
    int state = g->state;
    pthread_mutex_unlock(&g->mu);
    int outcomes_done = !state;
    if (outcomes_done) {
        j->outcomes_st = sp_ana_outcomes(j->a, &j->skipped, j->err, j->errlen);
        pthread_mutex_lock(&g->mu);
        while (!g->state)
            pthread_cond_wait(&g->cv, &g->mu);
        state = g->state;
        pthread_mutex_unlock(&g->mu);
    }
    if (state > 0)
        j->st = j->join_st ? j->join_st : sp_ana_gpu(j->a, j->join);
    sp_ana_launches_free(j->join); /* where sp_ana_gpu did not take it */
    if (!outcomes_done)
        j->outcomes_st = sp_ana_outcomes(j->a, &j->skipped, j->err, j->errlen);
    return NULL;
}

static void *request_figures_run(void *arg)
{
    beside_job *j = arg;
    j->st = sp_ana_request_figures(j->a);
    if (!j->st)
        j->st = sp_ana_padding_waste(j->a);
    return NULL;
}

static void *savings_run(void *arg)
{
    beside_job *j = arg;
    j->st = sp_ana_savings_work(j->savings);
    sp_ana_cost_help(j->cost); /* `j` is not read once the helper has left the cost's share */
    return NULL;
}

int sp_ana_tail_discard = 1;

void sp_ana_join_tail(sp_ana *a)
{
    if (a->tail_join)
        pthread_join(a->tail_th, NULL);
    a->tail_join = 0;
}

/* Partition, GPU figures, outcomes. The outcomes read only the set's requests and files, the GPU
 * figures only the set's activity and launches and the partition's device list (sp_ana_devices), so
 * from SP_ANA_TWO_THREADS_MIN activities on a second thread computes the outcomes while this one
 * numbers the devices (which would otherwise run alone on one core), then waits for the device list
 * and computes the GPU figures while this one partitions the requests (one thread for both, as one
 * malloc arena: two threads' arenas raised the peak). The outcomes' message goes to a buffer of its
 * own, copied to `err` only when nothing before it failed, so the first failure in the one-thread
 * order (devices, partition, GPU figures, outcomes) is the one reported; their counts are taken only
 * then too. The GPU figures come early so that the launches can go before the stage rows' scratch.
 * The second thread builds the GPU figures' launch join first, while this one numbers the devices
 * (the join reads no device): under release_events the join writes the calls over half their array
 * and hands the other half back (gpu_launch.c), so that half is gone before the partition's rows grow
 * (docs/analysis.md section 8, "Memory"). */
static sp_status partition_gpu_outcomes(sp_ana *a, char *err, size_t errlen)
{
    step(a, "partitioning request time into stages");
    devices_gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    sp_ana_launches join;
    memset(&join, 0, sizeof join);
    beside_job j = {a, SP_OK, SP_OK, 0, errlen ? calloc(1, errlen) : NULL, errlen, NULL, 0, NULL, NULL, &g, &join,
                    SP_OK};
    pthread_t th;
    int threaded = a->ev->n_acts >= sp_ana_two_threads_min && (j.err || !errlen) &&
                   pthread_create(&th, NULL, outcomes_gpu_run, &j) == 0;
    sp_status st = sp_ana_devices(a, err, errlen);
    pthread_mutex_lock(&g.mu);
    g.state = st ? -1 : 1;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    if (!st)
        st = sp_ana_partition_requests(a, err, errlen);
    if (!st)
        step(a, "GPU timeline and kernels");
    /* no malloc_trim here: the GPU figures' large scratch is in a->scratch, and what the thread's arena
     * keeps is what the stage rows' threads (which reuse that arena) take next: trimmed, it would be
     * faulted in again */
    if (threaded)
        pthread_join(th, NULL);
    else if (!st)
        j.st = sp_ana_gpu(a, NULL);
    if (!st && !j.st) {
        step(a, "outcomes");
        if (threaded) {
            if (j.outcomes_st && errlen)
                memcpy(err, j.err, errlen);
        } else {
            j.outcomes_st = sp_ana_outcomes(a, &j.skipped, err, errlen);
        }
        a->skipped += j.skipped;
    }
    free(j.err);
    if (a->launches_overwritten && (st || j.st)) { /* no longer launch calls: gone, the set released */
        size_t bytes;
        free(sp_ev_take_launches(a->ev, &bytes));
    }
    if (st)
        return st;
    if (!j.st && a->opt.release_events)
        sp_ana_recycle_released(a); /* the spans (as sp_ana_releases_spans says) and the launch calls */
    else if (sp_ana_releases_spans(a))
        sp_ev_release_spans(a->ev);
    return j.st ? j.st : j.outcomes_st;
}

int sp_ana_padding_in_rows = 1;

/* The requests' padding total, taken by the stage rows' thread that first runs out of columns. */
static void padding_total_beside(sp_ana *a)
{
    sp_ana_padding_total(a, 1);
}

/* The stage rows, then the request, clock and padding figures. The request figures (latency
 * percentiles and batch sizes) and the batches' padding figures (sp_ana_padding_waste) read only the
 * requests' lives and records, the batches and the partition's batch flags, and write report fields no
 * stage row touches, so from SP_ANA_TWO_THREADS_MIN analysed requests on they run on a thread of their
 * own while the stage rows rank the requests on this one and sort their columns on a second: three
 * threads on two cores, which balance as the scheduler lets them. The requests' padding total (it
 * reads only the partition's padding times) is taken by the stage rows' thread that first runs out of
 * columns; their padding share needs the p95 window and comes after. */
static sp_status stage_rows_and_figures(sp_ana *a)
{
    step(a, "stage percentiles and shares");
    /* the ranking's records (the step's largest arrays) taken before the threads start theirs, so that
     * they get the scratch stack's places that fit them (docs/analysis.md section 8, "Memory"); only
     * where the stage rows rank every request, not where they take the share windows by selection */
    if (sp_ana_rows_rank_all(a))
        sp_ana_rank_reserve(a);
    beside_job fj = {a, SP_OK, SP_OK, 0, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, SP_OK};
    pthread_t th;
    int threaded = a->n_reqs >= sp_ana_two_threads_min && pthread_create(&th, NULL, request_figures_run, &fj) == 0;
    sp_status st = sp_ana_name_rows(a);
    if (!st)
        st = sp_ana_stage_rows(a, sp_ana_padding_in_rows ? padding_total_beside : NULL);
    if (threaded) {
        pthread_join(th, NULL);
        give_back_thread_scratch();
    }
    if (st)
        return st;
    step(a, "latency, clock and padding figures");
    if (!threaded)
        request_figures_run(&fj);
    st = fj.st;
    if (!st)
        st = sp_ana_clock_figures(a);
    if (!st)
        st = sp_ana_padding(a);
    return st;
}

/* The cost, then the verdict. The verdict's p95 savings (its costly part: a pass and a selection for
 * the base and each candidate) read the per-request times and the stage rows' candidates, nothing the
 * cost writes, so from SP_ANA_TWO_THREADS_MIN analysed requests on they run on a second thread beside
 * the cost, and this thread, once the cost is done, takes the selections the second has not started
 * (sp_ana_savings_work), so that neither waits alone for the other. The second thread, its savings
 * done, takes chunks of the per-request cost's two shared passes (the members' weights, the nano
 * column: sp_ana_cost_share) that this one has not. */
static sp_status cost_and_verdict(sp_ana *a)
{
    step(a, "cost per request");
    sp_verdict_cand cs[SP_ANA_VERDICT_MAX_CANDS];
    sp_ana_savings_job sj;
    size_t nc = sp_ana_verdict_candidates_of(a, cs, SP_ANA_VERDICT_MAX_CANDS);
    sp_ana_verdict_savings_start(a, &sj, cs, nc);
    sp_ana_cost_share sh;
    sp_ana_cost_share_init(&sh);
    beside_job vj = {a, SP_OK, SP_OK, 0, NULL, 0, cs, nc, &sj, &sh, NULL, NULL, SP_OK};
    /* under release_events nothing after the cost reads the activity but the timeline slice (kept
     * detail only): the second thread hands its pages back behind the cost's activity pass, and the
     * rest while this one goes on, so that the pass's unions and the whole activity are never in
     * together and the set's final free has that much less to unmap (docs/analysis.md section 8,
     * "Memory") */
    int discard = a->opt.release_events && !a->detail && sp_ana_tail_discard && a->ev->n_acts;
    if (discard)
        sp_ana_cost_share_discard(&sh, a->ev->acts, a->ev->n_acts * sizeof *a->ev->acts);
    pthread_t th;
    int threaded = a->n_reqs >= sp_ana_two_threads_min && pthread_create(&th, NULL, savings_run, &vj) == 0;
    sp_status st = sp_ana_cost(a, threaded ? &sh : NULL), mine = SP_OK;
    if (threaded && !st)
        mine = sp_ana_savings_work(&sj);
    if (threaded && !st && discard && !sp_ana_cost_helper_first) {
        sp_ana_cost_share_wait_left(&sh); /* its savings done (they come first), the pages its own */
        a->tail_th = th;
        a->tail_join = 1; /* joined after the last step (sp_ana_join_tail) */
    } else if (threaded) {
        pthread_join(th, NULL);
    }
    sp_ana_cost_share_destroy(&sh);
    if (st)
        return st;
    step(a, "verdict");
    if (!threaded)
        vj.st = sp_ana_savings_work(&sj);
    if (!vj.st)
        vj.st = mine;
    if (vj.st)
        return vj.st;
    sp_ana_savings_end(&sj);
    return sp_ana_verdict(a, cs, nc);
}

/* The stages in order; each reads what the earlier ones left in `a`. Under release_events each array
 * of the set is freed after the last stage that reads it (docs/analysis.md section 8, "Memory"). */
static sp_status run_stages(sp_ana *a, char *err, size_t errlen)
{
    sp_status st = partition_gpu_outcomes(a, err, errlen);
    if (!st)
        st = stage_rows_and_figures(a);
    if (!st && a->opt.keep_requests) {
        step(a, "per-request rows");
        st = sp_ana_request_rows(a, &a->detail->requests);
    }
    if (!st)
        st = cost_and_verdict(a);
    if (!st) {
        step(a, "generation figures");
        st = sp_ana_generation(a, err, errlen);
    }
    if (!st && a->detail) {
        step(a, "timeline slice");
        st = sp_ana_timeline_slice(a, &a->detail->timeline);
    }
    if (st == SP_ERR_NOMEM && (!err || !errlen || !err[0]))
        sp_errf(err, errlen, "out of memory during analysis");
    else if (st == SP_ERR_LIMIT && (!err || !errlen || !err[0]))
        sp_errf(err, errlen, "analysis exceeds a size limit");
    if (!st) {
        step(a, "data quality");
        if ((st = sp_ana_quality_figures(a)))
            sp_errf(err, errlen, "out of memory");
    }
    return st;
}

sp_status sp_analyze(sp_events *ev, const sp_analyze_options *opt, sp_report **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!ev || !out) {
        sp_errf(err, errlen, "sp_analyze: events and out must not be NULL");
        return SP_ERR_INVALID;
    }
    sp_analyze_options o;
    if (opt)
        o = *opt;
    else
        sp_analyze_options_init(&o);
    if (o.clock_mode != SP_CLOCK_AUTO && o.clock_mode != SP_CLOCK_NONE && o.clock_mode != SP_CLOCK_FIXED) {
        sp_errf(err, errlen, "sp_analyze: unknown clock mode %d", (int)o.clock_mode);
        return SP_ERR_INVALID;
    }
    if (o.outcomes != SP_SCOPE_OK && o.outcomes != SP_SCOPE_FINISHED) {
        sp_errf(err, errlen, "sp_analyze: unknown outcome scope %d", (int)o.outcomes);
        return SP_ERR_INVALID;
    }
    if (ev->released) {
        sp_errf(err, errlen, "sp_analyze: the event set was released by an earlier analysis (release_events)");
        return SP_ERR_STATE;
    }
    sp_ana a;
    memset(&a, 0, sizeof a);
    a.ev = ev;
    a.opt = o;
    a.st_network = -1;
    a.t0_ns = sp_now_ns();
    /* the steps run_stages announces, and the finish */
    a.step_count = 10 + (o.keep_requests != 0) + (o.keep_detail || o.keep_requests);
    step(&a, "finishing the event set");
    sp_status st = sp_ev_set_clock(ev, o.clock_mode, o.clock_offset_ns);
    if (!st)
        st = sp_ev_finish(ev, o.lenient != 0, err, errlen);
    if (st) {
        if (st == SP_ERR_NOMEM)
            sp_errf(err, errlen, "out of memory while finishing the event set");
        return st;
    }
    if (o.release_events)
        sp_ev_release_maps(ev); /* nothing is interned or found by id from here on */
    sp_report *r = sp_report_new();
    if (!r) {
        sp_errf(err, errlen, "out of memory");
        return SP_ERR_NOMEM;
    }
    a.r = r;
    if ((o.keep_detail || o.keep_requests) && !(a.detail = sp_report_keep_detail(r))) {
        sp_errf(err, errlen, "out of memory");
        sp_report_destroy(r);
        return SP_ERR_NOMEM;
    }
    a.scratch = sp_ana_scratch_create(); /* NULL: the steps malloc their scratch */
    st = run_stages(&a, err, errlen);
    sp_ana_free(&a);
    sp_ana_join_tail(&a); /* after the analysis' own frees, which it runs beside */
    if (st) {
        sp_report_destroy(r);
        return st;
    }
    r->hta_compat = o.hta_compat != 0;
    step(&a, NULL);
    *out = r;
    return SP_OK;
}
