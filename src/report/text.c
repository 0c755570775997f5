/* The terminal report: a header, the stage table (DESIGN sections 3-4), padding (5), cost (7), the
 * GPU timeline (6), client latency, data quality and the verdict (8) last, readable at 100 columns.
 * Names that come from traces are cleaned of control bytes before they reach a terminal. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_int.h"

#define TOP_KERNELS 10

/* The word wrap every section of this report uses (text_parts.c). */
static void wrap(FILE *out, const char *text, size_t lead_cols, size_t indent)
{
    sp_rep_wrap(out, text, lead_cols, indent);
}

/* Whether the GPU figures are HTA's (--hta-compat, and HTA could produce them). */
static int hta_figures(const sp_report *r)
{
    return r->hta_compat && (!r->gpu.present || r->gpu.hta_breakdown_valid);
}

/* A sentence naming replicas, "HEAD a, b, c", wrapped. A fleet holds hundreds of replicas: the
 * sentence is as long as its names (a fixed line cut it mid-name and named the rest nowhere, while
 * the count and the JSON held them all); without memory for it, the names go out one a line. */
static void write_names(FILE *out, const char *head, const char *const *names, size_t n)
{
    size_t need = strlen(head) + 1;
    for (size_t i = 0; i < n; i++)
        need += strlen(names[i] ? names[i] : "") + 2;
    char *line = malloc(need);
    if (!line) { /* one name a line, cleaned as wrap cleans them */
        wrap(out, head, 0, 2);
        for (size_t i = 0; i < n; i++) {
            fputs("  ", out);
            wrap(out, names[i], 2, 2);
        }
        return;
    }
    size_t o = strlen(head);
    memcpy(line, head, o + 1);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(line + o, need - o, "%s %s", i ? "," : "", names[i] ? names[i] : "");
    wrap(out, line, 0, 2);
    free(line);
}

/* A report estimated from live metrics (docs/fleet.md): which replicas, which window, where from, and
 * what the buckets' resolution means for the figures below. */
static void write_source_header(FILE *out, const sp_report *r)
{
    const sp_report_source *src = r->source;
    const sp_cost_summary *c = &r->cost;
    char win[32], price[48], when[96] = "", at[48], line[4096];
    if (*sp_fmt_utc(at, sizeof at, src->end_unix_s))
        snprintf(when, sizeof when, " ending %s", at);
    if (src->range_s > 0 && src->window_s < src->range_s) {
        /* the replicas' metrics started inside the range: the figures and the bill cover that part */
        char cov[32], tail[64];
        snprintf(tail, sizeof tail, " (the replicas' metrics cover its last %s)",
                 sp_fmt_dur(cov, sizeof cov, src->window_s * 1e9));
        size_t wl = strlen(when);
        snprintf(when + wl, sizeof when - wl, "%s", tail);
    }
    fprintf(out, "servprof fleet report: %zu %s, %" PRIu64 " %s, %" PRIu64 " %s, window %s%s, price %s/h%s\n",
            src->n_replicas, sp_rep_plural(src->n_replicas, "replica", "replicas"), r->request_count,
            sp_rep_plural(r->request_count, "request", "requests"), r->batch_count, sp_rep_plural(r->batch_count, "batch", "batches"),
            src->range && *src->range ? src->range : sp_fmt_dur(win, sizeof win, (double)c->window_ns), when,
            sp_rep_fmt_price(price, sizeof price, r), c->price_is_default ? " (default)" : "");
    char head[1024];
    snprintf(head, sizeof head, "from %s %s%s%s; replicas:", src->kind, src->url,
             src->selector && *src->selector ? " " : "", src->selector ? src->selector : "");
    write_names(out, head, src->replicas, src->n_replicas);
    if (src->n_down)
        /* a replica killed or hung inside the window: its series stop, and the figures with them */
        write_names(out, "stopped answering in the window (Prometheus' last scrape failed; the figures hold what "
                         "was scraped before):", src->down, src->n_down);
    if (src->n_never) {
        /* a replica whose every scrape in the window failed: no series, so in no figure and no count above */
        snprintf(head, sizeof head, "never answered in the window (Prometheus' up is 0 and it has no servprof "
                                    "series: not in the figures nor the %zu %s above):",
                 src->n_replicas, sp_rep_plural(src->n_replicas, "replica", "replicas"));
        write_names(out, head, src->never, src->n_never);
    }
    snprintf(line, sizeof line,
             "(estimated from the live metrics' latency buckets, each a factor %.3g wide: percentiles within a bucket, "
             "shares of pXX over the buckets around the pXX rank (docs/fleet.md); a stage's own p50/p95/p99 is not "
             "kept: n/a)", src->bucket_growth);
    wrap(out, line, 0, 1);
}

static void write_header(FILE *out, const sp_report *r)
{
    if (r->source) {
        write_source_header(out, r);
        return;
    }
    char win[32], price[32], hta[96] = "";
    const sp_cost_summary *c = &r->cost;
    const char *noun = sp_device_kind_noun(r->gpu.device_kind);
    if (r->hta_compat)
        snprintf(hta, sizeof hta, hta_figures(r) ? ", HTA-compatible %s figures"
                                                 : ", HTA's rounding (HTA cannot produce this %s breakdown)",
                 noun);
    fprintf(out, "servprof report: %zu %s, %" PRIu64 " %s, %" PRIu64 " %s, window %s, price %s/h%s%s\n",
            r->n_files, r->n_files == 1 ? "file" : "files", r->request_count,
            sp_rep_plural(r->request_count, "request", "requests"), r->batch_count,
            sp_rep_plural(r->batch_count, "batch", "batches"),
            c->window_ns ? sp_fmt_dur(win, sizeof win, (double)c->window_ns) : "n/a",
            sp_rep_fmt_money(price, sizeof price, c->price_per_hour),
            c->price_is_default ? " (default)" : "", hta);
}

static void write_latency(FILE *out, const char *label, const sp_quantiles *q)
{
    char a[24], b[24], c[24], d[24], e[24];
    fprintf(out, "%-27s p50 %-9s p95 %-9s p99 %-9s mean %-9s max %s\n", label,
            sp_fmt_dur(a, sizeof a, (double)q->p50_ns), sp_fmt_dur(b, sizeof b, (double)q->p95_ns),
            sp_fmt_dur(c, sizeof c, (double)q->p99_ns), sp_fmt_dur(d, sizeof d, q->mean_ns),
            sp_fmt_dur(e, sizeof e, (double)q->max_ns));
}

/* Whether the outcomes block has anything to say: a request that is not ok, a trace that did not
 * close cleanly, or the wider scope (a trace whose requests are all ok reads as before). */
static int outcomes_worth_saying(const sp_report *r)
{
    return r->requests_total > r->outcomes[SP_OUTCOME_OK].count || r->unclean_files || r->unfinished_batches ||
           r->outcome_scope != SP_SCOPE_OK;
}

/* The outcomes block (DESIGN 8a): counts, rejection rate, each outcome's own latency, statuses, and
 * the traces the recorder did not close cleanly. */
static void write_outcomes(FILE *out, const sp_report *r)
{
    if (!outcomes_worth_saying(r))
        return;
    char line[1024], pc[16];
    size_t o = (size_t)snprintf(line, sizeof line, "outcomes: %" PRIu64 " %s:", r->requests_total,
                                sp_rep_plural(r->requests_total, "request", "requests"));
    for (int k = 0; k < SP_OUTCOME_COUNT && o < sizeof line; k++)
        if (r->outcomes[k].count || k == SP_OUTCOME_OK)
            o += (size_t)snprintf(line + o, sizeof line - o, "%s %" PRIu64 " %s", k ? "," : "", r->outcomes[k].count,
                                  sp_outcome_str((sp_outcome)k));
    if (o < sizeof line)
        snprintf(line + o, sizeof line - o, "; rejection rate %s",
                 sp_rep_fmt_outcome_pct(pc, sizeof pc, r->outcomes[SP_OUTCOME_REJECTED].count, r->requests_total));
    fputs("\n", out);
    sp_rep_wrap(out, line, 0, 2);
    fprintf(out, "  %s\n", r->outcome_scope == SP_SCOPE_OK
                               ? "latency, stage, padding and cost figures cover ok requests (--outcomes all: every "
                                 "finished one)"
                               : "latency, stage, padding and cost figures cover every finished request "
                                 "(--outcomes all)");
    fprintf(out, "  %-12s %8s %10s %10s %10s %10s\n", "outcome", "count", "p50", "p95", "p99", "max");
    for (int k = 0; k < SP_OUTCOME_COUNT; k++) {
        const sp_outcome_row *row = &r->outcomes[k];
        if (!row->count)
            continue;
        char a[24], b[24], c[24], d[24];
        if (row->latency.count)
            fprintf(out, "  %-12s %8" PRIu64 " %10s %10s %10s %10s%s\n", sp_outcome_str((sp_outcome)k), row->count,
                    sp_fmt_dur(a, sizeof a, (double)row->latency.p50_ns),
                    sp_fmt_dur(b, sizeof b, (double)row->latency.p95_ns),
                    sp_fmt_dur(c, sizeof c, (double)row->latency.p99_ns),
                    sp_fmt_dur(d, sizeof d, (double)row->latency.max_ns),
                    k == SP_OUTCOME_UNFINISHED ? "  (run until the trace ended)" : "");
        else
            fprintf(out, "  %-12s %8" PRIu64 " %10s\n", sp_outcome_str((sp_outcome)k), row->count, "no times");
    }
    if (r->n_statuses) {
        o = (size_t)snprintf(line, sizeof line, "HTTP statuses of the others:");
        for (size_t i = 0; i < r->n_statuses && o < sizeof line; i++)
            o += (size_t)snprintf(line + o, sizeof line - o, "%s %" PRId32 " x %" PRIu64, i ? "," : "",
                                  r->statuses[i].status, r->statuses[i].count);
        if (r->statuses_unlisted && o < sizeof line)
            snprintf(line + o, sizeof line - o, ", %" PRIu64 " with other statuses", r->statuses_unlisted);
        fputs("  ", out);
        sp_rep_wrap(out, line, 2, 4);
    }
    for (size_t f = 0; r->file_quality && f < r->n_files; f++) {
        const sp_file_quality *q = &r->file_quality[f];
        if (q->loss.end != SP_TRACE_END_UNCLEAN)
            continue;
        /* with lost bytes the requests without a record are orphans (data quality), not unfinished; an
         * export is whole, so it is the trace exported to it that had no end record */
        snprintf(line, sizeof line, "the recorder did not close cleanly: %s%s %s no end record (killed, crashed or "
                 "still writing)%s", q->loss.end_by_export ? "the trace exported to " : "", q->path,
                 q->loss.end_by_export ? "had" : "has",
                 q->loss.regions ? "" : "; requests in flight are unfinished, measured to the trace's last time");
        fputs("  ", out);
        sp_rep_wrap(out, line, 2, 4);
    }
    if (r->unfinished_batches) {
        snprintf(line, sizeof line, "%" PRIu64 " %s in flight at the end left out (device activity names %s, but "
                 "no batch record came)", r->unfinished_batches,
                 sp_rep_plural(r->unfinished_batches, "batch", "batches"), sp_rep_plural(r->unfinished_batches, "it", "them"));
        fputs("  ", out);
        sp_rep_wrap(out, line, 2, 4);
    }
}

static void write_stage_table(FILE *out, const sp_report *r)
{
    char name[32], a[24], b[24], c[24], d[24], s1[16], s2[16], s3[16];
    fprintf(out, "\n%-16s %10s %10s %10s %10s   %9s %9s %9s\n", "stage", "p50", "p95", "p99", "mean",
            "% of p50", "% of p95", "% of p99");
    /* from aggregated counters a stage's own percentiles are not known (docs/fleet.md) */
    int own = !r->source;
    for (size_t i = 0; i < r->n_stages; i++) {
        const sp_stage_row *s = &r->stages[i];
        fprintf(out, "%-16s %10s %10s %10s %10s   %9s %9s %9s\n", sp_rep_fmt_name(name, sizeof name, s->name, 16),
                own ? sp_fmt_dur(a, sizeof a, (double)s->q.p50_ns) : "n/a",
                own ? sp_fmt_dur(b, sizeof b, (double)s->q.p95_ns) : "n/a",
                own ? sp_fmt_dur(c, sizeof c, (double)s->q.p99_ns) : "n/a", sp_fmt_dur(d, sizeof d, s->q.mean_ns),
                sp_rep_fmt_pct(s1, sizeof s1, s->share_p50), sp_rep_fmt_pct(s2, sizeof s2, s->share_p95),
                sp_rep_fmt_pct(s3, sizeof s3, s->share_p99));
    }
    const sp_quantiles *q = &r->latency;
    fprintf(out, "%-16s %10s %10s %10s %10s   %9s %9s %9s\n", "end-to-end",
            sp_fmt_dur(a, sizeof a, (double)q->p50_ns), sp_fmt_dur(b, sizeof b, (double)q->p95_ns),
            sp_fmt_dur(c, sizeof c, (double)q->p99_ns), sp_fmt_dur(d, sizeof d, q->mean_ns),
            "100.0%", "100.0%", "100.0%");
    fputs("(a stage's pXX is over all requests; % of pXX is its share of the latency of the requests\n"
          " around the pXX rank, so each column adds up to 100%)\n", out);
}

static void write_padding(FILE *out, const sp_report *r)
{
    const sp_padding_summary *p = &r->padding;
    char a[16], b[16], c[16], d[16], e[16], f[16];
    if (p->batches == 0) {
        fputs("\npadding: no batch carries token counts, so padding waste is unknown\n", out);
        return;
    }
    fprintf(out, "\npadding: %" PRId64 " effective of %" PRId64 " padded tokens in %" PRIu64 " %s: %s waste\n",
            p->effective_tokens, p->padded_tokens, p->batches, sp_rep_plural(p->batches, "batch", "batches"),
            sp_rep_fmt_pct(a, sizeof a, p->waste_fraction));
    fprintf(out, "  per batch: p50 %s, p95 %s, max %s\n", sp_rep_fmt_pct(b, sizeof b, p->waste_p50),
            sp_rep_fmt_pct(c, sizeof c, p->waste_p95), sp_rep_fmt_pct(d, sizeof d, p->waste_max));
    fprintf(out, "  padding is %s of p95 latency and %s of the bill (first order: kernel time x waste)\n",
            r->request_count ? sp_rep_fmt_pct(e, sizeof e, p->share_p95) : "n/a",
            sp_rep_fmt_pct(f, sizeof f, p->share_of_bill));
}

/* What the money in each state buys, for the sentence about the largest waste; `noun` is the
 * device's word ("GPU", "CPU", "device"). */
/* `measured`: the trace has device activity; without it a batch window's time is all gap by DESIGN 3,
 * but nothing says the device was idle (the verdict's rule: docs/analysis.md, "Fix texts") */
static const char *state_phrase(sp_cost_state s, const char *noun, bool measured, char *buf, size_t n)
{
    const char *what = "?";
    switch (s) {
    case SP_COST_USEFUL: return "kernel work on real tokens";
    case SP_COST_PADDING: what = "time spent on padding"; break;
    case SP_COST_COPIES: what = "time spent on copies"; break;
    case SP_COST_GAP:
        what = measured ? "time idle while a batch is in flight (launch overhead, host waits)"
                        : "time inside batch windows with no device activity recorded (the trace has none: "
                          "the batches' whole time, their compute included)";
        break;
    case SP_COST_NO_BATCH: what = "time with no batch in flight"; break;
    case SP_COST_STATE_COUNT: return "?";
    }
    snprintf(buf, n, "%s %s", noun, what);
    return buf;
}

static void write_cost(FILE *out, const sp_report *r)
{
    const sp_cost_summary *c = &r->cost;
    char a[32], e[32];
    if (c->window_ns == 0) {
        fprintf(out, "\ncost: no profiled window, so no bill (price %s/h%s)\n",
                sp_rep_fmt_money(a, sizeof a, c->price_per_hour), c->price_is_default ? ", default" : "");
        return;
    }
    /* a fleet's bill is its replicas' (docs/fleet.md, "Cost"): the line says how many it covers */
    char cover[192];
    fprintf(out, "\ncost: %s for %s%s", sp_rep_fmt_money(a, sizeof a, c->bill),
            sp_rep_fmt_bill_cover(cover, sizeof cover, r), c->price_is_default ? " (default price; set --price-per-hour)" : "");
    if (r->request_count)
        fprintf(out, "; %s\n", sp_rep_fmt_cost_per_request(e, sizeof e, c->per_request, SP_REP_1M_WORDS));
    else
        fputs("; no requests to divide it among\n", out);
    fprintf(out, "  %-12s %12s %14s %8s\n", "state", "bill", "per 1M req", "share");
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        char m1[32], m2[32], pc[16];
        fprintf(out, "  %-12s %12s %14s %8s\n", sp_cost_state_str((sp_cost_state)s),
                sp_rep_fmt_money(m1, sizeof m1, c->by_state[s]),
                r->request_count ? sp_rep_fmt_cost_per_request(m2, sizeof m2, c->by_state[s] / (double)r->request_count,
                                                                SP_REP_1M_DOLLARS)
                                 : "n/a",
                sp_rep_fmt_pct(pc, sizeof pc, c->by_state_share[s]));
    }
    char nodev[4096];
    if (sp_rep_fmt_nodev(nodev, sizeof nodev - 1, r)) {
        /* a GPU fleet's replica whose device collector is gone reads as no batch in flight: named */
        strcat(nodev, ".");
        fputs("  ", out);
        sp_rep_wrap(out, nodev, 2, 2);
    }
    if (!r->request_count)
        return;
    /* The per-request split is the bill's split (DESIGN section 7), so the shares carry over. */
    char line[320], pc[16], phrase[192];
    const char *noun = sp_device_kind_noun(r->gpu.device_kind);
    if (r->padding.batches) {
        snprintf(line, sizeof line, "%s of the per-request bill is %s.",
                 sp_rep_fmt_pct(pc, sizeof pc, c->by_state_share[SP_COST_PADDING]),
                 state_phrase(SP_COST_PADDING, noun, r->gpu.present, phrase, sizeof phrase));
        fputs("  ", out);
        sp_rep_wrap(out, line, 2, 2);
    }
    int worst = -1;
    for (int s = SP_COST_COPIES; s < SP_COST_STATE_COUNT; s++)
        if (worst < 0 || c->by_state_share[s] > c->by_state_share[worst])
            worst = s;
    if (worst >= 0 && c->by_state_share[worst] > 0 &&
        (!r->padding.batches || c->by_state_share[worst] > c->by_state_share[SP_COST_PADDING])) {
        snprintf(line, sizeof line, "%s of the per-request bill is %s.",
                 sp_rep_fmt_pct(pc, sizeof pc, c->by_state_share[worst]),
                 state_phrase((sp_cost_state)worst, noun, r->gpu.present, phrase, sizeof phrase));
        fputs("  ", out);
        sp_rep_wrap(out, line, 2, 2);
    }
    if (c->request_cost_nano.count) {
        char q1[32], q2[32], q3[32], basis[160], own[512];
        /* with no batch in the trace every request's share is $0 while the bill above is all no_batch
         * time: said, so the $0 does not read as a free request. Wrapped: the basis can be long */
        snprintf(own, sizeof own, "one request's cost (batch device time %s), per 1M requests: p50 %s, p95 %s, max %s%s",
                sp_rep_fmt_cost_basis(basis, sizeof basis, r),
                sp_rep_fmt_cost_per_request(q1, sizeof q1, (double)c->request_cost_nano.p50_ns * 1e-9, SP_REP_1M_DOLLARS),
                sp_rep_fmt_cost_per_request(q2, sizeof q2, (double)c->request_cost_nano.p95_ns * 1e-9, SP_REP_1M_DOLLARS),
                sp_rep_fmt_cost_per_request(q3, sizeof q3, (double)c->request_cost_nano.max_ns * 1e-9, SP_REP_1M_DOLLARS),
                r->batch_count ? "" : " (no batch in the trace: no device time is any request's)");
        fputs("  ", out);
        sp_rep_wrap(out, own, 2, 2);
    }
}

/* CUDA graph launches: their nodes are kept out of the launch delay above. */
static void write_graph_launches(FILE *out, const sp_gpu_summary *g)
{
    const sp_graph_launch_summary *gl = &g->graph;
    if (!gl->launches)
        return;
    char a[24], b[24], line[512];
    snprintf(line, sizeof line,
             "%" PRIu64 " %s launched %" PRIu64 " %s (per launch p50 %" PRIu64 ", max %" PRIu64
             "); launch to first node p50 %s, max %s; their nodes are not in the launch delay above",
             gl->launches, sp_rep_plural(gl->launches, "call", "calls"), gl->kernels, sp_rep_plural(gl->kernels, "kernel", "kernels"),
             gl->kernels_per_launch.p50_ns, gl->kernels_per_launch.max_ns,
             sp_fmt_dur(a, sizeof a, (double)gl->first_delay.p50_ns),
             sp_fmt_dur(b, sizeof b, (double)gl->first_delay.max_ns));
    fputs("  graph launches: ", out);
    sp_rep_wrap(out, line, 18, 4);
}

/* Device time inside and outside the step marks (docs/analysis.md section 4, "Steps"). */
static void write_steps(FILE *out, const sp_gpu_summary *g)
{
    const sp_step_summary *st = &g->steps;
    if (!st->count)
        return;
    char a[24], b[24], c[24], d[24], e[24], f[24], pc[16], line[512];
    snprintf(line, sizeof line,
             "%" PRIu64 " %s %s; device windows %s of %s analysed: inside busy %s (%s), idle %s; outside busy "
             "%s, idle %s",
             st->count, sp_step_source_str(st->source), sp_rep_plural(st->count, "range", "ranges"),
             sp_fmt_dur(a, sizeof a, (double)st->window_ns), sp_fmt_dur(b, sizeof b, (double)st->analysed_ns),
             sp_fmt_dur(c, sizeof c, (double)st->busy_inside_ns),
             sp_rep_fmt_pct(pc, sizeof pc, st->window_ns ? (double)st->busy_inside_ns / (double)st->window_ns : NAN),
             sp_fmt_dur(d, sizeof d, (double)st->idle_inside_ns),
             sp_fmt_dur(e, sizeof e, (double)st->busy_outside_ns),
             sp_fmt_dur(f, sizeof f, (double)st->idle_outside_ns));
    fputs("  steps: ", out);
    sp_rep_wrap(out, line, 9, 4);
}

static void write_gpu(FILE *out, const sp_report *r)
{
    const sp_gpu_summary *g = &r->gpu;
    char a[24], b[24], c[24], d[24], e[24], pc[16];
    /* "gpu" for GPU traces (and unlabelled ones), "device (CPU)" for CPU runs */
    const char *label = g->device_kind == SP_DEVICE_CPU ? "device (CPU)" : g->device_kind == SP_DEVICE_MIXED ? "device"
                                                                                                             : "gpu";
    if (!g->present) {
        /* a fleet report (r->source) came from live metrics over a window, not from a trace */
        fprintf(out, "\n%s: no device activity in the %s\n", label, r->source ? "window" : "trace");
        return;
    }
    /* several devices' time summed (a fleet report): a 10 min window over 2 replicas is a 20 min span,
     * and the line says why */
    char over[48] = "";
    if (g->devices_summed > 1)
        snprintf(over, sizeof over, " over %zu devices (summed)", g->devices_summed);
    fprintf(out, "\n%s%s: span %s%s, busy %s (%s), idle %s; compute %s, non-compute %s\n", label,
            !r->hta_compat ? "" : hta_figures(r) ? " (HTA-compatible)" : " (HTA's rounding, not HTA-compatible)",
            sp_fmt_dur(a, sizeof a, (double)g->span_ns), over,
            sp_fmt_dur(b, sizeof b, (double)g->busy_ns),
            sp_rep_fmt_pct(pc, sizeof pc, g->span_ns ? (double)g->busy_ns / (double)g->span_ns : NAN),
            sp_fmt_dur(c, sizeof c, (double)g->idle_ns), sp_fmt_dur(d, sizeof d, (double)g->compute_ns),
            sp_fmt_dur(e, sizeof e, (double)g->non_compute_ns));
    if (r->hta_compat && g->hta_breakdown_note) {
        fputs("  note: ", out);
        sp_rep_wrap(out, g->hta_breakdown_note, 8, 4);
    }
    fprintf(out, "  %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64 " %s\n", g->kernels,
            sp_rep_plural(g->kernels, "kernel", "kernels"), g->copies, sp_rep_plural(g->copies, "copy", "copies"),
            g->memsets, sp_rep_plural(g->memsets, "memset", "memsets"));
    if (g->n_streams) {
        fprintf(out, "  idle time by stream (HTA breakdown):\n  %-8s %-10s %12s %12s %12s\n", "device", "stream",
                "host wait", "kernel wait", "other");
        for (size_t i = 0; i < g->n_streams; i++) {
            const sp_stream_idle *s = &g->idle_breakdown[i];
            fprintf(out, "  %-8" PRIu32 " %-10" PRId64 " %12s %12s %12s\n", s->device, s->stream,
                    sp_fmt_dur(a, sizeof a, (double)s->host_wait_ns),
                    sp_fmt_dur(b, sizeof b, (double)s->kernel_wait_ns),
                    sp_fmt_dur(c, sizeof c, (double)s->other_ns));
        }
    }
    if (g->n_kernel_stats) {
        size_t n = g->n_kernel_stats < TOP_KERNELS ? g->n_kernel_stats : TOP_KERNELS;
        fprintf(out, "  top kernels by total time (%zu of %zu):\n  %-44s %8s %11s %7s %10s %10s\n", n,
                g->n_kernel_stats, "kernel", "count", "total", "% busy", "p50", "p95");
        for (size_t i = 0; i < n; i++) {
            const sp_kernel_stat *k = &g->kernel_stats[i];
            char name[200];
            fprintf(out, "  %-44s %8" PRIu64 " %11s %7s %10s %10s\n", sp_rep_fmt_name(name, sizeof name, k->name, 44),
                    k->count, sp_fmt_dur(a, sizeof a, (double)k->total_ns),
                    sp_rep_fmt_pct(pc, sizeof pc, g->busy_ns ? (double)k->total_ns / (double)g->busy_ns : NAN),
                    sp_fmt_dur(b, sizeof b, (double)k->q.p50_ns), sp_fmt_dur(c, sizeof c, (double)k->q.p95_ns));
        }
    }
    if (g->n_copy_stats) {
        fprintf(out, "  copies:\n  %-8s %8s %14s %11s %10s\n", "kind", "count", "bytes", "total", "GB/s");
        for (size_t i = 0; i < g->n_copy_stats; i++) {
            const sp_copy_stat *cs = &g->copy_stats[i];
            char rate[24], bytes[24];
            if (cs->total_ns && isfinite(cs->gbytes_per_s))
                snprintf(rate, sizeof rate, "%.2f", cs->gbytes_per_s);
            else
                snprintf(rate, sizeof rate, "n/a");
            if (cs->bytes) /* 0: the trace gives no copy's size (a real copy moves bytes) */
                snprintf(bytes, sizeof bytes, "%" PRIu64, cs->bytes);
            else
                snprintf(bytes, sizeof bytes, "n/a");
            fprintf(out, "  %-8s %8" PRIu64 " %14s %11s %10s\n", cs->kind ? cs->kind : "?", cs->count, bytes,
                    sp_fmt_dur(a, sizeof a, (double)cs->total_ns), rate);
        }
    }
    if (g->launches_joined) {
        char line[512];
        snprintf(line, sizeof line,
                 "%" PRIu64 " joined on correlation id; launch delay p50 %s, p95 %s, max %s; %" PRIu64
                 " %s shorter than %s launch call",
                 g->launches_joined, sp_fmt_dur(a, sizeof a, (double)g->launch_delay.p50_ns),
                 sp_fmt_dur(b, sizeof b, (double)g->launch_delay.p95_ns),
                 sp_fmt_dur(c, sizeof c, (double)g->launch_delay_max_ns), g->short_kernels,
                 sp_rep_plural(g->short_kernels, "kernel", "kernels"), sp_rep_plural(g->short_kernels, "its", "their"));
        fputs("  launches: ", out);
        sp_rep_wrap(out, line, 12, 4);
    }
    write_graph_launches(out, g);
    write_steps(out, g);
}

/* What an offset's source means, for the clock lines. */
static const char *clock_source_phrase(sp_clock_source s)
{
    switch (s) {
    case SP_CLOCK_ESTIMATED: return "estimated";
    case SP_CLOCK_SAME_TRACE: return "one trace, one clock";
    case SP_CLOCK_ASSUMED: return "assumed shared: --clock-offset none";
    case SP_CLOCK_GIVEN: return "given: --clock-offset";
    case SP_CLOCK_UNBOUNDED: return "not estimated: no joined pair has usable times";
    }
    return "?";
}

/* One line per (client file, server file) pair: the offset applied to the client's times and how
 * sure it is (DESIGN 8a). Conflicts are repeated as warnings under data quality. */
static void write_clocks(FILE *out, const sp_report *r)
{
    for (size_t k = 0; k < r->n_clock_offsets; k++) {
        const sp_clock_offset *o = &r->clock_offsets[k];
        char off[32], a[32], b[32], how[512], line[2048];
        if (o->source == SP_CLOCK_ESTIMATED && !o->conflict_ns)
            snprintf(how, sizeof how, "+/- %s, estimated from %" PRIu64 " request/response %s",
                     sp_fmt_dur(a, sizeof a, (double)o->uncertainty_ns), o->pairs,
                     sp_rep_plural(o->pairs, "pair", "pairs"));
        else if (o->source == SP_CLOCK_ESTIMATED)
            snprintf(how, sizeof how, "estimated from %" PRIu64 " request/response %s whose bounds conflict by %s "
                     "(see data quality)", o->pairs, sp_rep_plural(o->pairs, "pair", "pairs"),
                     sp_fmt_dur(a, sizeof a, (double)o->conflict_ns));
        else if (o->pairs && !o->conflict_ns)
            snprintf(how, sizeof how, "(%s); the %" PRIu64 " request/response %s it to [%s, %s]",
                     clock_source_phrase(o->source), o->pairs, sp_rep_plural(o->pairs, "pair bounds", "pairs bound"),
                     sp_fmt_sdur(a, sizeof a, o->lower_ns), sp_fmt_sdur(b, sizeof b, o->upper_ns));
        else
            snprintf(how, sizeof how, "(%s)", clock_source_phrase(o->source));
        snprintf(line, sizeof line, "clock offset (server - client): %s %s; client trace %s, server trace %s",
                 sp_fmt_sdur(off, sizeof off, o->offset_ns), how, o->client_path ? o->client_path : "?",
                 o->server_path ? o->server_path : "?");
        sp_rep_wrap(out, line, 0, 2);
    }
}

/* Client-merge warnings: clock conflicts, requests whose client times the offset leaves outside the
 * server's, requests without a client record and client records not used. */
static void write_client_quality(FILE *out, const sp_report *r)
{
    char a[32], b[32], c[32], line[2048];
    for (size_t k = 0; k < r->n_clock_offsets; k++) {
        const sp_clock_offset *o = &r->clock_offsets[k];
        if (o->conflict_ns) {
            snprintf(line, sizeof line,
                     "warning: the clock bounds of %s on %s conflict by %s (lower %s > upper %s over %" PRIu64
                     " pairs): the clocks drift or some times are wrong; the offset applied is %s",
                     o->client_path ? o->client_path : "?", o->server_path ? o->server_path : "?",
                     sp_fmt_dur(a, sizeof a, (double)o->conflict_ns), sp_fmt_sdur(b, sizeof b, o->lower_ns),
                     sp_fmt_sdur(c, sizeof c, o->upper_ns), o->pairs,
                     o->source == SP_CLOCK_ESTIMATED ? "their middle" : clock_source_phrase(o->source));
            sp_rep_wrap(out, line, 0, 2);
        }
        if (o->violations) {
            snprintf(line, sizeof line,
                     "warning: %" PRIu64 " %s of %s on %s, mapped with that offset, start after the server "
                     "received the request or end before it answered; end-to-end is widened to hold the "
                     "server's [arrival, done]",
                     o->violations, sp_rep_plural(o->violations, "client record", "client records"),
                     o->client_path ? o->client_path : "?", o->server_path ? o->server_path : "?");
            sp_rep_wrap(out, line, 0, 2);
        }
    }
    if ((r->has_client || r->n_clock_offsets) && r->requests_with_client < r->request_count) {
        uint64_t without = r->request_count - r->requests_with_client;
        snprintf(line, sizeof line,
                 "%" PRIu64 " of %" PRIu64 " requests have no client record with a response: their end-to-end "
                 "is the server's arrival -> done (no network time)", without, r->request_count);
        sp_rep_wrap(out, line, 0, 2);
    }
    if (r->client_records_unjoined || r->client_records_unfinished || r->client_records_failed ||
        r->client_records_failed_streams || r->client_records_unsent || r->client_records_duplicate) {
        /* records of requests the server never finished are named apart (only when there are any, so
         * that other reports read as before): they are no strays, their server record never came */
        char unfinished[320] = "";
        if (r->client_records_unfinished_answered)
            /* some got an answer: the server finished them, the trace lost their ends (kill -9) */
            snprintf(unfinished, sizeof unfinished,
                     " %" PRIu64 " whose request did not finish in the server trace (unfinished; %" PRIu64
                     " of them got an answer: the server answered, the trace ended before their end %s),",
                     r->client_records_unfinished, r->client_records_unfinished_answered,
                     sp_rep_plural(r->client_records_unfinished_answered, "record", "records"));
        else if (r->client_records_unfinished)
            snprintf(unfinished, sizeof unfinished,
                     " %" PRIu64 " whose request did not finish in the server trace (unfinished),",
                     r->client_records_unfinished);
        /* streams that got a 2xx but failed (status -6) likewise: they had a response */
        char streams[160] = "";
        if (r->client_records_failed_streams)
            snprintf(streams, sizeof streams,
                     " %" PRIu64 " failed %s (a 2xx response whose event stream failed: no [DONE], an error "
                     "event, ...),",
                     r->client_records_failed_streams, sp_rep_plural(r->client_records_failed_streams, "stream", "streams"));
        /* and requests never sent (status -5: the run stopped first): nothing went out */
        char unsent[120] = "";
        if (r->client_records_unsent)
            snprintf(unsent, sizeof unsent, " %" PRIu64 " never sent (the run stopped before they could be sent),",
                     r->client_records_unsent);
        char seen[1040] = "", why[1024];
        if (sp_rep_client_unmatched_text(r, why, sizeof why))
            snprintf(seen, sizeof seen, "; %s", why);
        snprintf(line, sizeof line,
                 "client records not used:%s %" PRIu64 " with no matching request, %" PRIu64
                 " transport %s (no response),%s%s %" PRIu64 " %s of a request's joined record%s",
                 unfinished, r->client_records_unjoined, r->client_records_failed,
                 sp_rep_plural(r->client_records_failed, "error", "errors"), streams, unsent, r->client_records_duplicate,
                 sp_rep_plural(r->client_records_duplicate, "duplicate", "duplicates"), seen);
        sp_rep_wrap(out, line, 0, 2);
    }
    if (r->trace_context_mismatched) {
        sp_rep_trace_context_text(r, line, sizeof line);
        wrap(out, line, 0, 2);
    }
}

static void write_quality(FILE *out, const sp_report *r)
{
    char pc[16], line[2048];
    if (r->request_count) {
        fputs("\n", out);
        char other[1024];
        sp_rep_other_text(r, pc, sizeof pc, other, sizeof other);
        if (other[0]) {
            snprintf(line, sizeof line, "unattributed (`other`): %s", other);
            sp_rep_wrap(out, line, 0, 2);
        } else {
            fprintf(out, "unattributed (`other`): %s of p95 latency\n", pc);
        }
    } else {
        fputs("\n", out);
    }
    /* a trace without its end record carries the drop counts of its last complete block only
     * (docs/native-format.md "Drop counts"): a full disk's write_failed drops, say, are not in it */
    size_t o;
    if (sp_rep_drops_unknown(r)) {
        /* servprof's recorder wrote none of the traces: "0 dropped by the recorder" would claim a
         * count nobody kept */
        o = (size_t)snprintf(line, sizeof line, "data quality: drops not known (no trace here was written by "
                             "servprof's recorder, which counts what it drops; other tools' traces carry no such "
                             "count)");
    } else {
        o = (size_t)snprintf(line, sizeof line, "data quality: %" PRIu64 " %s dropped by the recorder%s (",
                             r->drops_total, sp_rep_plural(r->drops_total, "record", "records"),
                             sp_rep_unclean_own_files(r) ? " up to its last count" : "");
        for (int i = 0; i < SP_DROP_CAUSE_COUNT && o < sizeof line; i++) {
            const char *cause = r->drops[i].cause ? r->drops[i].cause : sp_drop_cause_str((sp_drop_cause)i);
            o += (size_t)snprintf(line + o, sizeof line - o, "%s%s %" PRIu64, i ? ", " : "", cause,
                                  r->drops[i].count);
        }
        if (o < sizeof line)
            o += (size_t)snprintf(line + o, sizeof line - o, ")");
    }
    if (o < sizeof line)
        o += (size_t)snprintf(line + o, sizeof line - o, "; %" PRIu64 " malformed or unresolved %s skipped",
                              r->skipped_records, sp_rep_plural(r->skipped_records, "record", "records"));
    /* what damaged traces lost, with file and byte offsets (docs/native-format.md "Reading rule") */
    if (o + 8 < sizeof line && sp_rep_loss_text(r, 0, line + o + 8, sizeof line - o - 8))
        memcpy(line + o, "; lost: ", 8);
    sp_rep_wrap(out, line, 0, 2);
    /* replicas' files from different hosts put on one clock (docs/cli.md): as good as the hosts' NTP */
    for (size_t f = 0; f < r->n_files; f++)
        if (sp_rep_clock_shift_text(r, f, line, sizeof line))
            sp_rep_wrap(out, line, 0, 2);
    /* spans clipped to their request's life: a line only when there are some, so other reports read
     * as before */
    if (sp_rep_spans_clipped_text(r, line, sizeof line))
        sp_rep_wrap(out, line, 0, 2);
    write_client_quality(out, r);
}

/* The ranking under the verdict: every candidate from 5% of p95 up (the sentence never names a
 * smaller one), leader first; the JSON report carries them all. */
static void write_ranking(FILE *out, const sp_report *r)
{
    sp_rep_text_ranking(out, &r->verdict);
}

/* The what-if prediction on its own line (sp_rep_prediction_line). */
static void write_prediction(FILE *out, const sp_report *r)
{
    char line[1024];
    if (!sp_rep_prediction_line(r, line, sizeof line))
        return;
    fputs("what-if: ", out);
    sp_rep_wrap(out, line, 9, 9);
}

static void write_verdict(FILE *out, const sp_report *r)
{
    fputs("\nverdict: ", out);
    if (r->verdict.sentence)
        sp_rep_wrap(out, r->verdict.sentence, 9, 9);
    else
        fputs("none (nothing to judge)\n", out);
    write_prediction(out, r);
    write_ranking(out, r);
}

sp_status sp_report_write_text(const sp_report *r, FILE *out)
{
    if (!r || !out)
        return SP_ERR_INVALID;
    write_header(out, r);
    if (r->request_count) {
        if (r->has_client) {
            /* DESIGN 8a: with a client trace, end-to-end is what the client observed */
            write_latency(out, "end-to-end (send -> reply):", &r->latency);
            write_latency(out, "server (arrival -> done):", &r->server_latency);
            write_latency(out, "client (intended -> reply):", &r->client_latency);
        } else {
            write_latency(out, "latency (arrival -> done):", &r->latency);
        }
        if (r->batch_count && r->batch_size.count)
            fprintf(out, "%-27s p50 %-9" PRIu64 " p95 %-9" PRIu64 " max %" PRIu64 " requests\n",
                    "batch size:", r->batch_size.p50_ns, r->batch_size.p95_ns, r->batch_size.max_ns);
        /* one line per merged client file, also where no analysed request joined a client record
         * (the pairs that set the offset were other requests': rejected ones, say); the JSON's
         * clock.offsets holds them, and the text once said nothing of them */
        write_clocks(out, r);
        write_outcomes(out, r);
        write_stage_table(out, r);
        if (r->generation) /* only for traces with generation data (docs/generation.md) */
            sp_rep_text_generation(out, r);
    } else {
        if (r->requests_total)
            fputs("no requests to analyse: no latency, stage or padding-share figures\n", out);
        else
            fprintf(out, "no requests in the %s: no latency, stage or padding-share figures\n",
                    r->source ? "window" : "trace");
        write_clocks(out, r);
        write_outcomes(out, r);
    }
    write_padding(out, r);
    write_cost(out, r);
    write_gpu(out, r);
    write_quality(out, r);
    write_verdict(out, r);
    return sp_rep_finish(out);
}
