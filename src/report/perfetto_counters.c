/* Counter tracks of the Perfetto export (docs/report-format.md, "Perfetto trace"): how many requests
 * wait for a batch, how many requests the batches in flight hold, and whether each device is busy,
 * over time. Each is a step function written as one "C" sample wherever its value changes; several
 * files (replicas) get a series each. They are read from the events, like the slices. */
#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"
#include "common/util_int.h"
#include "report/perfetto_int.h"

/* A change of a counter: at `t`, `delta` is added; series `file` (or a device's track). */
typedef struct step {
    uint64_t t;
    int64_t delta;
    int64_t series;
} step;

/* By series, then time; at one time, decreases first, so a request leaving the queue as another
 * enters never shows a peak that was not there. */
static int step_cmp(const void *a, const void *b)
{
    const step *x = a, *y = b;
    if (x->series != y->series)
        return x->series < y->series ? -1 : 1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->delta > y->delta) - (x->delta < y->delta);
}

/* Writes the running sums of `steps` (sorted here), one sample per distinct time, as counter `name`
 * (series `key`) of process `pid`, or of the process `series` names when `pid` is 0 (devices). Several
 * series on one process (files) are named "NAME (file N)". */
static void write_steps(pf_writer *w, step *steps, size_t n, const char *name, const char *key, int64_t pid)
{
    qsort(steps, n, sizeof *steps, step_cmp);
    int several = n && steps[0].series != steps[n - 1].series; /* replicas: a series per file */
    char label[64];
    int64_t value = 0;
    for (size_t i = 0; i < n && !ferror(w->out);) {
        int64_t series = steps[i].series;
        if (i == 0 || steps[i - 1].series != series)
            value = 0;
        uint64_t t = steps[i].t;
        for (; i < n && steps[i].series == series && steps[i].t == t; i++)
            value += steps[i].delta;
        const char *nm = name;
        if (pid && several) {
            snprintf(label, sizeof label, "%s (file %" PRId64 ")", name, series);
            nm = label;
        }
        pf_counter(w, nm, key, pid ? pid : series, t, value);
    }
}

/* Queue depth: a request waits from the start of its first queue span (else its arrival) until its
 * first batch starts (else until its last queue span ends; a request with neither never queued). */
static sp_status queue_depth(pf_writer *w)
{
    const sp_events *ev = w->ev;
    size_t nr = sp_view_requests(ev);
    step *s = malloc((2 * nr + 1) * sizeof *s);
    if (!s)
        return SP_ERR_NOMEM;
    size_t n = 0;
    sp_view_request rq;
    sp_view_span sp;
    sp_view_batch b;
    for (size_t i = 0; i < nr; i++) {
        sp_view_request_at(ev, i, &rq);
        if (!rq.has_record || rq.arrival_ns == SP_VIEW_NO_TIME)
            continue;
        uint64_t start = SP_VIEW_NO_TIME, end = SP_VIEW_NO_TIME;
        for (uint32_t k = 0; k < rq.n_spans; k++) {
            sp_view_request_span(ev, i, k, &sp);
            if (strcmp(sp.stage, "queue") != 0)
                continue;
            if (start == SP_VIEW_NO_TIME)
                start = sp.start_ns;
            end = sp.end_ns;
        }
        if (rq.n_batches) {
            sp_view_batch_at(ev, sp_view_request_batch(ev, i, 0), &b);
            if (b.has_record && b.start_ns != SP_VIEW_NO_TIME) {
                if (start == SP_VIEW_NO_TIME)
                    start = rq.arrival_ns;
                end = b.start_ns;
            }
        }
        if (start == SP_VIEW_NO_TIME || end == SP_VIEW_NO_TIME || end <= start)
            continue;
        s[n++] = (step){start, 1, rq.file};
        s[n++] = (step){end, -1, rq.file};
    }
    write_steps(w, s, n, "queue", "depth", PID_REQUESTS);
    free(s);
    return SP_OK;
}

/* Batch size: the members of the batches in flight (one batch's size when they run one at a time). */
static sp_status batch_size(pf_writer *w)
{
    const sp_events *ev = w->ev;
    size_t nb = sp_view_batches(ev);
    step *s = malloc((2 * nb + 1) * sizeof *s);
    if (!s)
        return SP_ERR_NOMEM;
    size_t n = 0;
    sp_view_batch b;
    for (size_t i = 0; i < nb; i++) {
        sp_view_batch_at(ev, i, &b);
        if (!b.has_record || b.start_ns == SP_VIEW_NO_TIME || b.end_ns == SP_VIEW_NO_TIME || b.end_ns <= b.start_ns)
            continue;
        s[n++] = (step){b.start_ns, (int64_t)b.n_members, b.file};
        s[n++] = (step){b.end_ns, -(int64_t)b.n_members, b.file};
    }
    write_steps(w, s, n, "batch", "size", PID_BATCHES);
    free(s);
    return SP_OK;
}

/* The union of one device's work so far: [start, end) not yet written. */
typedef struct busy_run {
    int64_t pid;
    uint64_t start, end;
} busy_run;

/* Device busy: 1 while any kernel, copy or memset runs on the device (DESIGN section 6: the union of
 * their intervals; synchronisation is not device work), else 0; on each device's own track. */
static sp_status device_busy(pf_writer *w)
{
    const sp_events *ev = w->ev;
    size_t na = sp_view_activities(ev);
    sp_hmap runs_of;   /* device pid -> index into runs */
    memset(&runs_of, 0, sizeof runs_of);
    busy_run *runs = NULL;
    size_t nruns = 0, cap = 0;
    step *s = malloc((2 * na + 1) * sizeof *s);
    sp_status st = s ? SP_OK : SP_ERR_NOMEM;
    size_t n = 0;
    sp_view_activity a;
    /* activity comes by start time: a run grows while the next start is inside it */
    for (size_t i = 0; i < na && !st; i++) {
        sp_view_activity_at(ev, i, &a);
        if (a.kind == SP_ACT_SYNC || a.end_ns < a.start_ns)
            continue;
        int64_t pid = pf_device_pid(a.file, a.device);
        uint32_t k = sp_hmap_find(&runs_of, (uint64_t)pid, NULL, NULL);
        if (k == SP_HMAP_NONE) {
            if ((st = SP_GROW(runs, cap, nruns + 1, SIZE_MAX / 2)) ||
                (st = sp_hmap_put(&runs_of, (uint64_t)pid, (uint32_t)nruns)))
                break;
            runs[nruns] = (busy_run){pid, a.start_ns, a.end_ns};
            nruns++;
            continue;
        }
        busy_run *r = &runs[k];
        if (a.start_ns <= r->end) {
            if (a.end_ns > r->end)
                r->end = a.end_ns;
            continue;
        }
        if (r->end > r->start) {
            s[n++] = (step){r->start, 1, pid};
            s[n++] = (step){r->end, -1, pid};
        }
        r->start = a.start_ns;
        r->end = a.end_ns;
    }
    for (size_t k = 0; k < nruns && !st; k++)
        if (runs[k].end > runs[k].start) {
            s[n++] = (step){runs[k].start, 1, runs[k].pid};
            s[n++] = (step){runs[k].end, -1, runs[k].pid};
        }
    if (!st)
        write_steps(w, s, n, "device", "busy", 0);
    free(s);
    free(runs);
    sp_hmap_free(&runs_of);
    return st;
}

sp_status sp_pf_write_counters(pf_writer *w)
{
    sp_status st = queue_depth(w);
    if (!st)
        st = batch_size(w);
    if (!st)
        st = device_busy(w);
    return st;
}
