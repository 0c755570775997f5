/* sp_ev_finish on one thread and on two (sp_ev_two_threads_min; src/model/events.c): the activity's
 * order and the batch lists built on a second thread beside the passes over the requests and batches
 * and the spans on the calling thread, which then takes the files' device times and the activity's
 * ties; then each request's batch list placed by both threads in ranges (sp_ev_place_chunk: here also
 * ranges of 1 and 3 requests, so that small sets share them). The set
 * must come out the same either way, field by field: every trace of analyze_routes_testutil.h (JSONL,
 * Kineto with tied kernels, synth runs, recorder-written native traces with overlapping batches,
 * outcomes, labels, two files, one cut short) loaded twice and finished once by each route, then the
 * activity (order and every field), the spans' order and each request's span and batch lists, the
 * per-request batch indexes, each request's arrival and outcome, and each file's last time compared;
 * and the two-thread set's activity checked against the order events.c documents (written out
 * again here), ties by name included (a recorder's trace written here has tied kernels, out of order). The
 * reports of both routes are compared by test_analyze_two_threads. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze_routes_testutil.h"
#include "model/events_int.h"

static uint64_t rng_state = 0x51ED2701A3F4C0DEull;
static int compared;
static size_t tied_pairs; /* neighbours equal by time, kind, file, device, stream, correlation, bytes */

/* The activity's order as events.c documents it, written out again here: time, then HTA's early end,
 * kind, file, device, stream, correlation, bytes; among those equal, the kernel name's text, then tied
 * by window before tied by batch id, then the batch id. */
static int u64cmp(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

static int act_order(const sp_events *ev, const sp_ev_activity *x, const sp_ev_activity *y, int *tie)
{
    int c;
    *tie = 0;
    if ((c = u64cmp(x->start_ns, y->start_ns)) || (c = u64cmp(x->end_ns, y->end_ns)))
        return c;
    if (x->hta_end_early != y->hta_end_early)
        return x->hta_end_early ? -1 : 1;
    if ((c = u64cmp(x->kind, y->kind)) || (c = u64cmp(x->file, y->file)) || (c = u64cmp(x->device, y->device)))
        return c;
    if (sp_ev_act_stream(ev, x) != sp_ev_act_stream(ev, y))
        return sp_ev_act_stream(ev, x) < sp_ev_act_stream(ev, y) ? -1 : 1;
    if ((c = u64cmp(x->correlation, y->correlation)) || (c = u64cmp(sp_ev_act_bytes(x), sp_ev_act_bytes(y))))
        return c;
    *tie = 1;
    if ((c = strcmp(sp_str_get(&ev->strings, sp_ev_act_name(x)), sp_str_get(&ev->strings, sp_ev_act_name(y)))))
        return c;
    int bx = x->batch < ev->n_batches, by = y->batch < ev->n_batches;
    if (bx != by)
        return bx < by ? -1 : 1;
    int64_t ix = bx ? ev->batches[x->batch].id : 0, iy = by ? ev->batches[y->batch].id : 0;
    return (ix > iy) - (ix < iy);
}

static sp_events *finished(const char *const *paths, int n, int lenient, size_t threads_at, size_t place_chunk,
                           sp_status *st)
{
    sp_events *ev = ar_load(paths, n, lenient);
    if (!ev)
        return NULL;
    char err[512] = "";
    sp_ev_two_threads_min = threads_at;
    sp_ev_place_chunk = place_chunk;
    *st = sp_ev_finish(ev, lenient != 0, err, sizeof err);
    sp_ev_two_threads_min = SP_EV_TWO_THREADS_MIN;
    sp_ev_place_chunk = SP_EV_PLACE_CHUNK;
    return ev;
}

static void same_set(const char *const *paths, int n, int lenient, void *user)
{
    sp_status s1 = SP_OK, s2 = SP_OK;
    sp_events *one = finished(paths, n, lenient, SIZE_MAX, SP_EV_PLACE_CHUNK, &s1);
    /* two threads, placing the batch lists in ranges of 3 requests (shared between the threads when
     * the calling one is done with the spans first: either way the set is the same) */
    sp_events *two = finished(paths, n, lenient, 1, *(const size_t *)user, &s2);
    CHECK(one != NULL && two != NULL);
    if (!one || !two) {
        sp_events_destroy(one);
        sp_events_destroy(two);
        return;
    }
    CHECK(s1 == s2);
    int same = one->n_acts == two->n_acts && one->n_spans == two->n_spans &&
               one->n_requests == two->n_requests && one->n_files == two->n_files &&
               one->n_req_batches == two->n_req_batches;
    for (size_t i = 0; same && i < one->n_acts; i++) {
        const sp_ev_activity *x = &one->acts[i], *y = &two->acts[i];
        same = x->start_ns == y->start_ns && x->end_ns == y->end_ns && x->correlation == y->correlation &&
               sp_ev_act_bytes(x) == sp_ev_act_bytes(y) && sp_ev_act_stream(one, x) == sp_ev_act_stream(two, y) &&
               sp_ev_act_name(x) == sp_ev_act_name(y) && x->batch == y->batch &&
               x->device == y->device && x->file == y->file && x->kind == y->kind &&
               x->hta_end_early == y->hta_end_early;
    }
    int ordered = 1;
    for (size_t i = 0; s2 == SP_OK && i + 1 < two->n_acts; i++) {
        int tie;
        ordered &= act_order(two, &two->acts[i], &two->acts[i + 1], &tie) <= 0;
        tied_pairs += (size_t)tie;
    }
    CHECK(ordered);
    for (size_t i = 0; same && i < one->n_spans; i++)
        same = one->spans[i].req == two->spans[i].req && one->spans[i].start_ns == two->spans[i].start_ns &&
               one->spans[i].end_ns == two->spans[i].end_ns && one->spans[i].stage == two->spans[i].stage;
    for (size_t i = 0; same && i < one->n_requests; i++) {
        const sp_ev_request *x = &one->requests[i], *y = &two->requests[i];
        same = x->first_span == y->first_span && x->nspans == y->nspans && x->first_batch == y->first_batch &&
               sp_ev_req_nbatches(one, x) == sp_ev_req_nbatches(two, y) && x->arrival_ns == y->arrival_ns && x->outcome == y->outcome;
    }
    for (size_t i = 0; same && s1 == SP_OK && i < one->n_req_batches; i++)
        same = one->req_batches[i] == two->req_batches[i];
    for (size_t f = 0; same && f < one->n_files; f++)
        same = one->files[f].last_ns == two->files[f].last_ns;
    CHECK(same);
    if (!same)
        fprintf(stderr, "the finished sets differ for %s\n", paths[0]);
    compared++;
    sp_events_destroy(one);
    sp_events_destroy(two);
}

/* A recorder's trace whose kernels tie: each batch's four kernels share start, end, device, stream
 * and (no) correlation, named out of alphabetical order, two of one name (one tied to its batch by
 * id, one by window); every third batch is written before the one it follows, so the activity is not
 * in order as read. */
static void write_ties(const char *path)
{
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    sp_recorder *rec;
    if (sp_recorder_open(path, &o, &rec) != SP_OK) {
        CHECK(!"recorder_open");
        return;
    }
    sp_name_id kn[3] = {sp_recorder_intern(rec, "zeta"), sp_recorder_intern(rec, "alpha"),
                        sp_recorder_intern(rec, "mid")};
    for (uint64_t k = 0; k < 300; k++) {
        uint64_t b = k % 3 == 1 ? k + 1 : k % 3 == 2 ? k - 1 : k; /* 0, 2, 1, 3, 5, 4, ... */
        uint64_t bs = 1000000 + b * 100000, be = bs + 80000, id = b + 1;
        sp_record_request(rec, id, bs - 5000, be + 5000, 1);
        uint64_t m[1] = {id};
        sp_record_batch(rec, b, m, 1, bs, be, 0, 1);
        for (int j = 0; j < 4; j++) {
            sp_kernel_record kr = {j == 3 ? SP_NO_BATCH : b, kn[j == 3 ? 1 : j], 0, 7, 0, bs + 1000, bs + 50000};
            sp_record_kernel(rec, &kr);
        }
    }
    sp_recorder_close(rec);
}

int main(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/sp_finish_ties_%d", P_tmpdir, (int)getpid());
    write_ties(path);
    const char *p = path;
    size_t chunk = SP_EV_PLACE_CHUNK;
    same_set(&p, 1, 0, &chunk);
    remove(path);
    CHECK(tied_pairs > 0);
    /* every trace three times: the lists placed in one range (small sets), then in ranges of 1 and 3 */
    ar_each_trace("finish_threads", &rng_state, same_set, &chunk);
    chunk = 1;
    ar_each_trace("finish_threads", &rng_state, same_set, &chunk);
    chunk = 3;
    ar_each_trace("finish_threads", &rng_state, same_set, &chunk);
    fprintf(stderr, "%d comparisons\n", compared);
    fprintf(stderr, "%zu tied neighbours\n", tied_pairs);
    CHECK(compared == 3 * AR_TRACES + 1);
    return sp_test_done("test_finish_threads");
}
