/* Steps (docs/analysis.md section 4, "Steps"): the host ranges that mark forward passes or training
 * steps (ProfilerStep#N, top-level record_function or NVTX ranges) become device windows, and the
 * device's busy and idle time is split into inside and outside them. Idle inside a step is a forward
 * pass starving its device (launch overhead, a slow host); idle outside is the device waiting for work
 * nobody sent. A step's window reaches past its host end to the last device work launched inside it,
 * since the device runs behind the host. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

/* A merged host window of one file, growing to the device work launched inside it. */
typedef struct host_win {
    uint32_t file;
    uint64_t s, e, dev_end;
} host_win;

static int host_win_cmp(const void *a, const void *b)
{
    const host_win *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return (x->e > y->e) - (x->e < y->e);
}

/* The window of `file` that holds time t (s <= t < e), or NULL. Windows are merged per file. */
static host_win *window_at(host_win *w, size_t n, uint32_t file, uint64_t t)
{
    size_t lo = 0, hi = n;   /* first window after (file, t) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w[mid].file < file || (w[mid].file == file && w[mid].s <= t))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    host_win *c = &w[lo - 1];
    return c->file == file && t >= c->s && t < c->e ? c : NULL;
}

sp_status sp_ana_step_windows(const sp_ana *a, const sp_ana_launches *li, sp_ival **out, size_t *n)
{
    const sp_events *ev = a->ev;
    *out = NULL;
    *n = 0;
    if (!ev->n_marks)
        return SP_OK;
    host_win *w = malloc(ev->n_marks * sizeof *w);
    if (!w)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < ev->n_marks; i++)
        w[i] = (host_win){ev->marks[i].file, ev->marks[i].start_ns, ev->marks[i].end_ns, ev->marks[i].end_ns};
    qsort(w, ev->n_marks, sizeof *w, host_win_cmp);
    /* merge overlapping marks of one file (nested or concurrent ranges on several threads) */
    size_t m = 0;
    for (size_t i = 0; i < ev->n_marks; i++) {
        if (m && w[i].file == w[m - 1].file && w[i].s <= w[m - 1].e) {
            if (w[i].e > w[m - 1].e)
                w[m - 1].e = w[m - 1].dev_end = w[i].e;
        } else {
            w[m++] = w[i];
        }
    }
    /* each window reaches the end of the device work launched inside it */
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        if (a->act_dev[i] == SP_EV_NONE)
            continue;
        uint32_t slot = sp_ana_launch_slot(li, x);
        if (slot == SP_EV_NONE)
            continue;
        host_win *c = window_at(w, m, x->file, sp_ana_launch_start(li, slot));
        if (c && x->end_ns > c->dev_end)
            c->dev_end = x->end_ns;
    }
    sp_ival *v = malloc((m ? m : 1) * sizeof *v);
    if (!v) {
        free(w);
        return SP_ERR_NOMEM;
    }
    for (size_t i = 0; i < m; i++)
        v[i] = (sp_ival){w[i].s, w[i].dev_end > w[i].e ? w[i].dev_end : w[i].e};
    free(w);
    *n = m ? sp_ival_merge(v, m) : 0;
    *out = v;
    return SP_OK;
}

uint64_t sp_ival_clip(const sp_ival *w, size_t n, uint64_t s, uint64_t e)
{
    size_t lo = 0, hi = n;   /* the first interval ending after s */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w[mid].e <= s)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint64_t t = 0;
    for (size_t i = lo; i < n && w[i].s < e; i++) {
        uint64_t a = w[i].s > s ? w[i].s : s, b = w[i].e < e ? w[i].e : e;
        if (b > a)
            t += b - a;
    }
    return t;
}

static sp_step_source source_of(const sp_events *ev)
{
    sp_step_source src = SP_STEPS_NONE;
    for (size_t i = 0; i < ev->n_marks; i++) {
        sp_step_source s = ev->marks[i].kind == SP_MARK_PROFILER_STEP ? SP_STEPS_PROFILER_STEP
                           : ev->marks[i].kind == SP_MARK_USER_RANGE ? SP_STEPS_RECORD_FUNCTION
                                                                     : SP_STEPS_NVTX;
        if (src == SP_STEPS_NONE)
            src = s;
        else if (src != s)
            return SP_STEPS_MIXED;
    }
    return src;
}

void sp_ana_step_figures(sp_ana *a, const sp_ival *busy, size_t nbusy, const sp_ival *win, size_t nwin)
{
    sp_step_summary *st = &a->r->gpu.steps;
    st->count = a->ev->n_marks;
    st->source = source_of(a->ev);
    if (!st->count)
        return;
    uint64_t first = nbusy ? busy[0].s : 0, last = nbusy ? busy[nbusy - 1].e : 0;
    uint64_t busy_all = sp_ival_total(busy, nbusy);
    st->window_ns = sp_ival_total(win, nwin);
    st->busy_inside_ns = sp_ival_overlap(busy, nbusy, win, nwin);
    st->busy_outside_ns = busy_all - st->busy_inside_ns;
    /* analysed = |windows union [first, last)|; busy + idle_inside + idle_outside = analysed */
    st->analysed_ns = st->window_ns + (last - first) - sp_ival_clip(win, nwin, first, last);
    st->idle_inside_ns = st->window_ns - st->busy_inside_ns;
    st->idle_outside_ns = st->analysed_ns - st->window_ns - st->busy_outside_ns;
}
