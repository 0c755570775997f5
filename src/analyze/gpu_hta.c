/* HTA's temporal breakdown under hta_compat (docs/analysis.md section 4, "HTA rounding"): kernel_time,
 * idle, compute and non_compute by HTA's own interval merge, which keeps the -1 us duration of a
 * sub-us event whose rounded end (floor) precedes its rounded start (ceil), and HTA's checks on the
 * result. Where those checks fail HTA stops on an assertion; the report then says so instead of
 * presenting figures HTA cannot produce. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "analyze/analyze_int.h"

#define HTA_US 1000   /* HTA's time unit in ns: a flagged event's end is one unit before its start */

int64_t sp_ana_hta_end(const sp_ana *a, const sp_ev_activity *x)
{
    if (a->opt.hta_compat && x->hta_end_early)
        return (int64_t)x->start_ns - HTA_US;
    return (int64_t)x->end_ns;
}

/* HTA's merge of intervals taken in start order: an event opens a new group when its start is after
 * every earlier end (strictly), a group runs from its first start to its latest end, and the result
 * is the sum of (end - start) over groups. An event whose end precedes its start is therefore -1 us
 * when it opens a group (nothing earlier reaches its start) and nothing when an earlier event covers
 * it. */
typedef struct hta_merge {
    int open;
    int64_t reach;        /* the latest end of all events so far */
    int64_t gs, ge;       /* the open group */
    int64_t total;
    int64_t first;        /* the first group's start */
} hta_merge;

static void merge_add(hta_merge *m, int64_t s, int64_t e)
{
    if (!m->open) {
        m->open = 1;
        m->first = m->gs = s;
        m->ge = m->reach = e;
        return;
    }
    if (s > m->reach) {
        m->total += m->ge - m->gs;
        m->gs = s;
        m->ge = e;
    } else if (e > m->ge) {
        m->ge = e;
    }
    if (e > m->reach)
        m->reach = e;
}

/* Closes the last group; returns its end (HTA's kernel_time ends there). */
static int64_t merge_close(hta_merge *m)
{
    if (!m->open)
        return 0;
    m->total += m->ge - m->gs;
    return m->ge;
}

static void fmt_signed(char *buf, size_t n, int64_t ns)
{
    char d[32];
    sp_ana_fmt_dur(d, sizeof d, (uint64_t)(ns < 0 ? -ns : ns));
    snprintf(buf, n, "%s%s", ns < 0 ? "-" : "", d);
}

static sp_status set_note(sp_ana *a, const char *what, int64_t value, const char *check, int asserts)
{
    sp_gpu_summary *g = &a->r->gpu;
    char s[768], v[40], kt[40], idle[40], comp[40], nc[40];
    fmt_signed(v, sizeof v, value);
    fmt_signed(kt, sizeof kt, g->hta_kernel_time_ns);
    fmt_signed(idle, sizeof idle, g->hta_idle_ns);
    fmt_signed(comp, sizeof comp, g->hta_compute_ns);
    fmt_signed(nc, sizeof nc, g->hta_non_compute_ns);
    snprintf(s, sizeof s,
             "%s: by HTA's rules %s would be %s (%s), because %" PRIu64 " sub-microsecond GPU %s to an end "
             "1 us before %s start and HTA's interval merge counts each that stands alone as -1 us "
             "(kernel_time %s, idle %s, compute %s, non_compute %s); the figures shown keep %s at zero length.",
             asserts ? "HTA itself cannot produce this breakdown" : "HTA would report a negative figure here",
             what, v, check, g->hta_end_early, g->hta_end_early == 1 ? "event rounds" : "events round",
             g->hta_end_early == 1 ? "its" : "their", kt, idle, comp, nc,
             g->hta_end_early == 1 ? "that event" : "those events");
    g->hta_breakdown_note = sp_report_strdup(a->r, s);
    return g->hta_breakdown_note ? SP_OK : SP_ERR_NOMEM;
}

sp_status sp_ana_gpu_hta(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_gpu_summary *g = &a->r->gpu;
    if (!a->opt.hta_compat || !g->present)
        return SP_OK;
    hta_merge all, comp;
    memset(&all, 0, sizeof all);
    memset(&comp, 0, sizeof comp);
    /* HTA's GPU events: kernels, copies, memsets and syncs on a stream, in start order (acts are sorted
     * by sp_ev_finish; a flagged event goes first among equal starts, docs/analysis.md 4) */
    sp_name_memo nccl;
    sp_name_memo_init(&nccl, sp_ana_is_nccl);
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        int sync = x->kind == SP_ACT_SYNC && sp_ev_act_stream(ev, x) != -1 && x->start_ns != SP_TIME_NONE &&
                   x->end_ns != SP_TIME_NONE && x->end_ns >= x->start_ns;
        if (a->act_dev[i] == SP_EV_NONE && !sync)
            continue;
        int64_t s = (int64_t)x->start_ns, e = sp_ana_hta_end(a, x);
        g->hta_end_early += x->hta_end_early != 0;
        merge_add(&all, s, e);
        if (x->kind == SP_ACT_KERNEL && !sp_name_memo_get(&nccl, &ev->strings, sp_ev_act_name(x)))
            merge_add(&comp, s, e);
    }
    int64_t last_end = merge_close(&all);
    merge_close(&comp);
    /* HTA: kernel_time = last merged end - first merged start; idle = kernel_time - merged time;
     * compute = merged time of computation kernels; non_compute = kernel_time - compute - idle */
    g->hta_kernel_time_ns = last_end - all.first;
    g->hta_idle_ns = g->hta_kernel_time_ns - all.total;
    g->hta_compute_ns = comp.total;
    g->hta_non_compute_ns = g->hta_kernel_time_ns - g->hta_compute_ns - g->hta_idle_ns;
    /* HTA's own checks, in its order: idle <= kernel_time, compute <= kernel_time, non_compute >= 0 */
    if (g->hta_idle_ns > g->hta_kernel_time_ns)
        return set_note(a, "idle_time", g->hta_idle_ns, "more than kernel_time; HTA asserts idle_time <= "
                        "kernel_time and stops", 1);
    if (g->hta_compute_ns > g->hta_kernel_time_ns)
        return set_note(a, "compute_time", g->hta_compute_ns, "more than kernel_time; HTA asserts "
                        "compute_time <= kernel_time and stops", 1);
    if (g->hta_non_compute_ns < 0)
        return set_note(a, "non_compute_time", g->hta_non_compute_ns, "negative; HTA asserts "
                        "non_compute_time >= 0 and stops", 1);
    if (g->hta_kernel_time_ns < 0 || g->hta_idle_ns < 0 || g->hta_compute_ns < 0) {
        const char *what = g->hta_compute_ns < 0 ? "compute_time" : g->hta_idle_ns < 0 ? "idle_time" : "kernel_time";
        int64_t v = g->hta_compute_ns < 0 ? g->hta_compute_ns : g->hta_idle_ns < 0 ? g->hta_idle_ns
                                                                                    : g->hta_kernel_time_ns;
        return set_note(a, what, v, "negative", 0);
    }
    g->hta_breakdown_valid = 1;
    g->span_ns = (uint64_t)g->hta_kernel_time_ns;
    g->idle_ns = (uint64_t)g->hta_idle_ns;
    g->busy_ns = g->span_ns - g->idle_ns;
    g->compute_ns = (uint64_t)g->hta_compute_ns;
    g->non_compute_ns = (uint64_t)g->hta_non_compute_ns;
    return SP_OK;
}
