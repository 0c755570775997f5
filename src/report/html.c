/* The self-contained HTML report: one HTML5 file with inline CSS and inline SVG charts (no scripts,
 * no fetches), drawn from the report alone: its figures, and for the distributions and the device
 * timeline the detail the analysis kept (sp_report_detail). It formats; it computes no analysis.
 * Every chart has bounded size: fixed bins, one row per stage, a capped and pixel-merged timeline
 * slice. See docs/html-report.md. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/html_int.h"
#include "report/report_int.h"

#define LAT_BINS 48
#define WASTE_BINS 20
/* log-spaced bins when the largest value is this many times the smallest non-zero one */
#define LOG_RATIO 20.0
/* GPU timeline slice: streams drawn, shapes drawn, batch windows and their lanes */
#define TL_MAX_ROWS 12
#define TL_MAX_RECTS 3000
#define TL_MAX_BATCHES 300
#define TL_LANES 3
#define MAX_KERNEL_ROWS 10

void sp_html_options_init(sp_html_options *opt)
{
    memset(opt, 0, sizeof *opt);
}

typedef struct html_ctx {
    FILE *out;
    const sp_report *r;
    const sp_report_detail *d;  /* r->detail: NULL when the analysis kept none */
} html_ctx;

/* In place of a chart that needs the analysis' detail, when the report has none. */
#define NO_DETAIL "Needs the analysis detail (the report was analysed without keep_detail)."

static const char *const css =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "margin:0 auto;max-width:980px;padding:16px 20px 40px;color:#222;background:#fff}"
    "h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd;"
    "padding-bottom:3px}.sub{color:#555;margin:0 0 12px}"
    ".verdict{border:2px solid #c0392b;background:#fdf1ef;border-radius:6px;padding:12px 16px;margin:12px 0}"
    ".verdict .big{font-size:19px;font-weight:600;margin:0 0 6px}.verdict.none{border-color:#888;"
    "background:#f4f4f4}.badge{display:inline-block;border-radius:10px;padding:1px 9px;background:#c0392b;"
    "color:#fff;font-size:12px;margin-right:6px}"
    ".kpis{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}.kpi{border:1px solid #ddd;border-radius:5px;"
    "padding:6px 10px;min-width:110px}.kpi b{display:block;font-size:17px}.kpi span{color:#666;font-size:12px}"
    "svg.chart{width:100%;height:auto;max-width:900px;display:block;margin:6px 0}"
    "svg text{font-size:12px;fill:#222}svg .axis{font-size:11px;fill:#555}svg .seglabel{font-size:11px;"
    "fill:#111}svg .strong{font-weight:600}"
    "svg .axisline,svg .tick{stroke:#888;stroke-width:1}svg .whisker{stroke:#333;stroke-width:1.5}"
    "svg .median{stroke:#000;stroke-width:2.5}svg .mark line{stroke:#333;stroke-dasharray:4 3}"
    "svg .mark text{font-size:11px}svg .bwin{fill:#eee;stroke:#777;stroke-width:1}svg .act{stroke:#fff;stroke-width:.4}"
    "ul.legend{list-style:none;padding:0;margin:4px 0 8px;display:flex;flex-wrap:wrap;gap:4px 14px}"
    "ul.legend li{font-size:12px}.sw{display:inline-block;width:11px;height:11px;margin-right:5px;"
    "vertical-align:-1px;border:1px solid rgba(0,0,0,.25)}"
    "table{border-collapse:collapse;margin:6px 0;font-size:13px}th,td{padding:3px 10px;"
    "border-bottom:1px solid #eee;text-align:left}table.num td+td{text-align:right;"
    "font-variant-numeric:tabular-nums}tr.baseline td{font-weight:600}"
    "table.ranking td.fix{text-align:left;font-variant-numeric:normal}tr.minor td{color:#888}"
    /* a table's title (the GPU block's idle time by stream) reads as the page's other labels: left, over
     * the first column's text (the cells' 10px), not centred over the table as browsers default */
    "caption{text-align:left;padding:2px 10px;font-size:13px;font-weight:600;color:#444}"
    ".note{color:#666;font-size:12px}.warn{color:#a4321f;font-weight:600}code{font-size:12px}"
    /* the diff page (diff_html.c): a passing gate, two runs side by side */
    ".verdict.pass{border-color:#2e7d32;background:#eef7ee}.badge.pass{background:#2e7d32}"
    ".sides{display:flex;flex-wrap:wrap;gap:12px}.sides>div{flex:1;min-width:280px}"
    "svg .zero{stroke:#333;stroke-width:1}svg .ci{stroke:#333;stroke-width:2}";

void sp_html_page_open(FILE *out, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          out);
    sp_html_esc(out, title, 300);
    fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", css);
    sp_html_esc(out, title, 300);
    fputs("</h1>\n", out);
}

/* ---------- small writers ---------- */

static void fmt_dur_u(char *buf, size_t len, uint64_t ns)
{
    sp_fmt_dur(buf, len, (double)ns);
}

static void kpi(FILE *out, const char *value, const char *label)
{
    fprintf(out, "<div class=\"kpi\"><b>%s</b><span>%s</span></div>", value, label);
}

void sp_html_svg_open(FILE *out, const char *id, double height, const char *title)
{
    fprintf(out,
            "<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-labelledby=\"%s-t\">"
            "<title id=\"%s-t\">%s</title>\n",
            id, SP_HTML_W, height, id, id, title);
}

static void stage_legend(html_ctx *c)
{
    const sp_report *r = c->r;
    const char *names[128], *cols[128];
    size_t n = 0;
    for (size_t s = 0; s < r->n_stages && n < 128; s++) {
        names[n] = r->stages[s].name;
        cols[n++] = sp_html_stage_colour(r->stages[s].name);
    }
    sp_html_legend(c->out, names, cols, n);
}

/* ---------- header, verdict, summary ---------- */

/* The what-if prediction on its own line (sp_rep_prediction_line). */
static void write_prediction(FILE *out, const sp_report *r)
{
    char line[1024];
    if (!sp_rep_prediction_line(r, line, sizeof line))
        return;
    fputs("<p class=\"prediction\">what-if: ", out);
    sp_html_esc(out, line, sizeof line);
    fputs("</p>", out);
}

/* The verdict's ranking: every candidate with time in the p95 window, leader first; those under 5%
 * of p95 (which the sentence never names) are muted. */
static void write_ranking(html_ctx *c)
{
    FILE *out = c->out;
    const sp_verdict *v = &c->r->verdict;
    if (!v->stage || !v->n_ranking)
        return;
    char b[64];
    fputs("<table class=\"num ranking\" id=\"ranking\"><thead><tr><th>candidate</th><th>group</th>"
          "<th>share of p95</th><th>p95 saving</th><th>fix</th></tr></thead><tbody>\n",
          out);
    size_t zero = 0;
    for (size_t k = 0; k < v->n_ranking; k++) {
        const sp_verdict_rank *q = &v->ranking[k];
        if (!(q->share_p95 > 0)) {
            zero++;
            continue;
        }
        fputs(q->share_p95 < 0.05 ? "<tr class=\"minor\"><td>" : "<tr><td>", out);
        sp_html_esc(out, q->stage, 200);
        if (!strcmp(q->stage, "kernel") && q->group == SP_GROUP_MODEL)
            fputs(" (useful)", out);
        fprintf(out, "</td><td>%s</td><td>%s</td>", sp_verdict_group_str(q->group),
                sp_rep_fmt_pct(b, sizeof b, q->share_p95));
        fmt_dur_u(b, sizeof b, q->saving_p95_ns);
        fprintf(out, "<td>%s</td><td class=\"fix\">", b);
        sp_html_esc(out, q->fix ? q->fix : "", 400);
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
    if (zero)
        fprintf(out, "<p class=\"note\">%zu %s with no time around p95 not shown.</p>\n", zero,
                zero == 1 ? "candidate" : "candidates");
}

static void write_verdict(html_ctx *c)
{
    FILE *out = c->out;
    const sp_verdict *v = &c->r->verdict;
    char b[64];
    if (!v->sentence || !v->sentence[0]) {
        fputs("<section id=\"verdict\" class=\"verdict none\"><p class=\"big\">No verdict: the trace has no "
              "requests to attribute.</p></section>\n",
              out);
        return;
    }
    fputs("<section id=\"verdict\" class=\"verdict\"><p class=\"big\">", out);
    sp_html_esc(out, v->sentence, 2000);
    fputs("</p><p>", out);
    if (v->group != SP_GROUP_NONE)
        fprintf(out, "<span class=\"badge\">%s</span>", sp_verdict_group_str(v->group));
    if (v->stage) {
        fputs("largest: <b>", out);
        sp_html_esc(out, v->stage, 200);
        fputs("</b>", out);
        /* a device-only verdict (no requests) has no share of p95 nor a saving: the JSON gives null */
        if (c->r->request_count > 0) {
            fprintf(out, ", %s of p95", sp_rep_fmt_pct(b, sizeof b, v->share_p95));
            fmt_dur_u(b, sizeof b, v->saving_p95_ns);
            fprintf(out, "; p95 saving if removed: <b>%s</b>", b);
        }
    }
    if (v->recommend_model)
        fputs("; a faster model would help: useful kernel time dominates", out);
    fputs("</p>", out);
    write_prediction(out, c->r);
    write_ranking(c);
    fputs("</section>\n", out);
}

static void write_summary(html_ctx *c)
{
    FILE *out = c->out;
    const sp_report *r = c->r;
    char b[64];
    fputs("<div class=\"kpis\" id=\"summary\">", out);
    snprintf(b, sizeof b, "%" PRIu64, r->request_count);
    kpi(out, b, "requests");
    /* without requests there is no latency and no cost per request (n/a, as the text and the JSON's
     * null), not 0 ns and $0 */
    const int have = r->request_count > 0;
    static const char *const pct_label[3] = {"latency p50", "latency p95", "latency p99"};
    const uint64_t pct_ns[3] = {r->latency.p50_ns, r->latency.p95_ns, r->latency.p99_ns};
    for (int k = 0; k < 3; k++) {
        if (have)
            fmt_dur_u(b, sizeof b, pct_ns[k]);
        else
            snprintf(b, sizeof b, "n/a");
        kpi(out, b, pct_label[k]);
    }
    /* no batch with token counts: waste unknown (the padding section says so), not 0.0% */
    sp_rep_fmt_pct(b, sizeof b, r->padding.batches > 0 ? r->padding.waste_fraction : NAN);
    kpi(out, b, "padding waste");
    if (r->gpu.present) {
        char label[32];
        sp_rep_fmt_pct(b, sizeof b, r->gpu.span_ns ? (double)r->gpu.busy_ns / (double)r->gpu.span_ns : 0.0);
        snprintf(label, sizeof label, "%s busy", sp_device_kind_noun(r->gpu.device_kind));
        kpi(out, b, label);
    }
    sp_rep_fmt_cost_per_request(b, sizeof b, have ? r->cost.per_request : NAN, SP_REP_1M_DOLLARS);
    kpi(out, b, "cost per 1M requests");
    fputs("</div>\n", out);
}

/* ---------- outcomes (DESIGN 8a) ---------- */

/* Every request by outcome, with its own latency, when some request is not ok, a trace did not close
 * cleanly or the scope is wider than ok (a trace whose requests are all ok reads as before). */
static void write_outcomes(html_ctx *c)
{
    FILE *out = c->out;
    const sp_report *r = c->r;
    if (!(r->requests_total > r->outcomes[SP_OUTCOME_OK].count || r->unclean_files || r->unfinished_batches ||
          r->outcome_scope != SP_SCOPE_OK))
        return;
    char a[32], b[32], d[32], e[32];
    /* each share flagged where the verdict speaks of it, and printed so that the figure agrees (a share
     * just below the threshold reads "0.99%", not "1.0%": sp_rep_fmt_outcome_pct) */
    uint64_t rej = r->outcomes[SP_OUTCOME_REJECTED].count, err = r->outcomes[SP_OUTCOME_ERROR].count;
    fprintf(out, "<section id=\"outcomes\"><h2>Outcomes</h2>\n<p>%" PRIu64 " requests; rejection rate "
                 "<b%s>%s</b>; errors <b%s>%s</b> of all requests. The latency, stage, padding and cost figures "
                 "cover %s.</p>\n",
            r->requests_total, sp_outcome_significant(rej, r->requests_total) ? " class=\"warn\"" : "",
            sp_rep_fmt_outcome_pct(a, sizeof a, rej, r->requests_total),
            sp_outcome_significant(err, r->requests_total) ? " class=\"warn\"" : "",
            sp_rep_fmt_outcome_pct(b, sizeof b, err, r->requests_total),
            r->outcome_scope == SP_SCOPE_OK ? "<code>ok</code> requests only" : "every finished request");
    fputs("<table class=\"num\"><thead><tr><th>outcome</th><th>requests</th><th>p50</th><th>p95</th><th>p99</th>"
          "<th>max</th></tr></thead><tbody>\n", out);
    for (int k = 0; k < SP_OUTCOME_COUNT; k++) {
        const sp_outcome_row *row = &r->outcomes[k];
        if (!row->count && k != SP_OUTCOME_OK)
            continue;
        fprintf(out, "<tr><td>%s</td><td>%" PRIu64 "</td>", sp_outcome_str((sp_outcome)k), row->count);
        if (row->latency.count)
            fprintf(out, "<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                    sp_fmt_dur(a, sizeof a, (double)row->latency.p50_ns),
                    sp_fmt_dur(b, sizeof b, (double)row->latency.p95_ns),
                    sp_fmt_dur(d, sizeof d, (double)row->latency.p99_ns),
                    sp_fmt_dur(e, sizeof e, (double)row->latency.max_ns));
        else
            fputs("<td colspan=\"4\">no times</td></tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
    /* the statuses of the requests that are not ok, as the text report's outcomes block lists them */
    if (r->n_statuses) {
        fputs("<p>HTTP statuses of the others:", out);
        for (size_t i = 0; i < r->n_statuses; i++)
            fprintf(out, "%s %" PRId32 " &#215; %" PRIu64, i ? "," : "", r->statuses[i].status, r->statuses[i].count);
        if (r->statuses_unlisted)
            fprintf(out, ", %" PRIu64 " with other statuses", r->statuses_unlisted);
        fputs(".</p>\n", out);
    }
    if (r->outcomes[SP_OUTCOME_UNFINISHED].count)
        fputs("<p class=\"note\">An unfinished request's time runs from its start to the last time of its "
              "trace.</p>\n", out);
    for (size_t f = 0; r->file_quality && f < r->n_files; f++) {
        if (r->file_quality[f].loss.end != SP_TRACE_END_UNCLEAN)
            continue;
        /* an export is whole: it is the trace exported to it that had no end record */
        int exported = r->file_quality[f].loss.end_by_export;
        fprintf(out, "<p class=\"warn\">The recorder did not close cleanly: %s", exported ? "the trace exported to " : "");
        sp_html_esc(out, r->file_quality[f].path, 300);
        fprintf(out, " %s no end record (killed, crashed or still writing).</p>\n", exported ? "had" : "has");
    }
    if (r->unfinished_batches)
        fprintf(out, "<p class=\"note\">%" PRIu64 " batch%s in flight at the end left out.</p>\n",
                r->unfinished_batches, r->unfinished_batches == 1 ? "" : "es");
    fputs("</section>\n", out);
}

/* ---------- stage shares of p50/p95/p99 ---------- */

static void write_shares(html_ctx *c)
{
    FILE *out = c->out;
    const sp_report *r = c->r;
    fputs("<section id=\"shares\"><h2>Where the time goes: stage shares of p50, p95 and p99</h2>\n"
          "<p>Each bar is the latency of the requests around that percentile, split by stage "
          "(each adds up to 100%).</p>\n",
          out);
    if (!r->request_count || !r->n_stages) {
        fputs("<p class=\"note\">No requests.</p></section>\n", out);
        return;
    }
    const double left = 120, right = 16, bar_h = 34, gap = 16, top = 6;
    double plot_w = SP_HTML_W - left - right;
    sp_html_svg_open(out, "shares-chart", top + 3 * (bar_h + gap) + 4, "Stage shares of p50, p95 and p99 latency");
    const char *names[3] = {"p50", "p95", "p99"};
    uint64_t lat[3] = {r->latency.p50_ns, r->latency.p95_ns, r->latency.p99_ns};
    char b[64];
    for (int j = 0; j < 3; j++) {
        double y = top + j * (bar_h + gap);
        fmt_dur_u(b, sizeof b, lat[j]);
        fprintf(out, "<text class=\"strong\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>", left - 8,
                y + bar_h / 2 - 2, names[j]);
        fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", left - 8,
                y + bar_h / 2 + 12, b);
        sp_html_share_bar bar = {out, left, left, plot_w, y, bar_h, names[j], 70, 12};
        for (size_t s = 0; s < r->n_stages; s++) {
            const sp_stage_row *st = &r->stages[s];
            sp_html_share_seg(&bar, st->name, j == 0 ? st->share_p50 : j == 1 ? st->share_p95 : st->share_p99);
        }
    }
    fputs("</svg>\n", out);
    stage_legend(c);
    char p[32];
    /* no batch with token counts: padding is unknown, not 0% (the text report's padding line says
     * the same) */
    if (r->padding.batches)
        fprintf(out, "<p class=\"note\">The kernel stage includes padding: padding is %s of p95 "
                     "(first order: kernel time &#215; waste).</p>\n",
                sp_rep_fmt_pct(p, sizeof p, r->padding.share_p95));
    else
        fputs("<p class=\"note\">Padding is unknown: no batch carries token counts.</p>\n", out);
    fputs("</section>\n", out);
}

/* ---------- latency distribution ---------- */

/* Range and scale for a histogram over sorted values v[n] (n > 0). */
static void hist_range(sp_html_hist *h, const uint64_t *v, size_t n)
{
    uint64_t mn = v[0], mx = v[n - 1], mnz = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > 0) {
            mnz = v[i];
            break;
        }
    if (mnz > 0 && (double)mx / (double)mnz >= LOG_RATIO) {
        h->log_x = 1;
        h->lo = (double)mnz;
        h->hi = (double)mx;
    } else {
        h->log_x = 0;
        h->lo = (double)mn;
        h->hi = mx > mn ? (double)mx : (double)mn + 1.0;
    }
}

static sp_status write_latency(html_ctx *c)
{
    FILE *out = c->out;
    const sp_report *r = c->r;
    fputs("<section id=\"latency\"><h2>End-to-end latency distribution</h2>\n", out);
    if (!c->d || !c->d->n_latency) {
        fprintf(out, "<p class=\"note\">%s</p></section>\n", c->d ? "No requests." : NO_DETAIL);
        return SP_OK;
    }
    /* end-to-end (the life the stages partition), ascending: the values of the report's percentiles */
    const uint64_t *v = c->d->latency_ns;
    size_t n = c->d->n_latency;
    uint64_t counts[LAT_BINS] = {0};
    sp_html_hist h;
    memset(&h, 0, sizeof h);
    hist_range(&h, v, n);
    h.id = "latency-chart";
    h.title = r->has_client ? "Histogram of end-to-end latency (client send to reply)"
                            : "Histogram of end-to-end latency (arrival to done)";
    h.unit = "requests";
    h.counts = counts;
    h.nbins = LAT_BINS;
    h.colour = "#4e79a7";
    for (size_t i = 0; i < n; i++)
        counts[sp_html_hist_bin(&h, (double)v[i])]++;
    sp_html_marker m[3] = {{(double)r->latency.p50_ns, "p50"},
                           {(double)r->latency.p95_ns, "p95"},
                           {(double)r->latency.p99_ns, "p99"}};
    h.marks = m;
    h.n_marks = 3;
    fprintf(out, "<p>%" PRIu64 " requests, %s, %s bins; dashed lines mark p50, p95 and p99.</p>\n",
            r->request_count,
            r->has_client ? "end-to-end as the client observed it (send to reply, on the server clock; "
                            "arrival to done for requests without a client record)"
                          : "server side (arrival to done)",
            h.log_x ? "log-spaced" : "even");
    sp_html_histogram(out, &h);
    fputs("</section>\n", out);
    return SP_OK;
}

/* ---------- per-stage distributions ---------- */

typedef struct strip {
    uint64_t lo, p25, p50, p75, p95, p99, max; /* lo: p5 with the detail, else min */
    int has_box;
} strip;

static double strip_x(double v, double lo, double hi, int log_x, double x0, double w)
{
    double f;
    if (log_x)
        f = v <= lo ? 0.0 : log(v / lo) / log(hi / lo);
    else
        f = hi > lo ? (v - lo) / (hi - lo) : 0.0;
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    return x0 + f * w;
}

static sp_status write_stages(html_ctx *c)
{
    FILE *out = c->out;
    const sp_report *r = c->r;
    size_t ns = r->n_stages;
    fputs("<section id=\"stages\"><h2>Each stage's distribution</h2>\n", out);
    if (!r->request_count || !ns) {
        fputs("<p class=\"note\">No requests.</p></section>\n", out);
        return SP_OK;
    }
    strip *sv = calloc(ns, sizeof *sv);
    if (!sv)
        return SP_ERR_NOMEM;
    int detail = c->d != NULL;
    for (size_t s = 0; s < ns; s++) {
        const sp_quantiles *q = &r->stages[s].q;
        strip *p = &sv[s];
        p->p50 = q->p50_ns;
        p->p95 = q->p95_ns;
        p->p99 = q->p99_ns;
        p->max = q->max_ns;
        p->lo = q->min_ns;
        if (detail) {
            const sp_stage_spread *sp = &c->d->stage_spread[s];
            p->lo = sp->p5_ns;
            p->p25 = sp->p25_ns;
            p->p75 = sp->p75_ns;
            p->has_box = 1;
        }
    }
    /* one axis for all stages: log when the spread is wide (stages range from us to ms) */
    uint64_t mnz = 0, mx = 0;
    for (size_t s = 0; s < ns; s++) {
        uint64_t vals[5] = {sv[s].lo, sv[s].p25, sv[s].p50, sv[s].p95, sv[s].p99};
        for (int k = 0; k < 5; k++)
            if (vals[k] > 0 && (!mnz || vals[k] < mnz))
                mnz = vals[k];
        mx = sv[s].p99 > mx ? sv[s].p99 : mx;
    }
    int log_x = mnz > 0 && (double)mx / (double)mnz >= LOG_RATIO;
    double lo = log_x ? (double)mnz : 0.0, hi = mx > 0 ? (double)mx : 1.0;
    const double left = 120, textw = 250, row_h = 26, top = 8;
    double plot_w = SP_HTML_W - left - textw;
    double height = top + row_h * (double)ns + 30;
    fprintf(out, "<p>Per request, %s axis. Whisker: %s to p99; %sthick tick: p50; dot: p95. "
                 "A request without the stage counts 0.</p>\n",
            log_x ? "log" : "linear", detail ? "p5" : "min", detail ? "box: p25 to p75; " : "");
    sp_html_svg_open(out, "stages-chart", height, "Per-stage latency distribution: percentiles per stage");
    char b[6][48];
    for (size_t s = 0; s < ns; s++) {
        const strip *p = &sv[s];
        const char *name = r->stages[s].name;
        const char *col_s = sp_html_stage_colour(name);
        double y = top + row_h * (double)s, cy = y + row_h / 2;
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", left - 8, cy + 4);
        sp_html_esc(out, name, 16);
        fputs("</text>", out);
        fmt_dur_u(b[0], sizeof b[0], p->p50);
        fmt_dur_u(b[1], sizeof b[1], p->p95);
        fmt_dur_u(b[2], sizeof b[2], p->p99);
        fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\">p50 %s &#183; p95 %s &#183; p99 %s</text>\n",
                left + plot_w + 10, cy + 4, b[0], b[1], b[2]);
        fputs("<g class=\"strip\"><title>", out);
        sp_html_esc(out, name, 200);
        fmt_dur_u(b[3], sizeof b[3], p->lo);
        fmt_dur_u(b[4], sizeof b[4], p->max);
        fprintf(out, ": %s %s, ", detail ? "p5" : "min", b[3]);
        if (p->has_box) {
            fmt_dur_u(b[5], sizeof b[5], p->p25);
            fprintf(out, "p25 %s, ", b[5]);
        }
        fprintf(out, "p50 %s, ", b[0]);
        if (p->has_box) {
            fmt_dur_u(b[5], sizeof b[5], p->p75);
            fprintf(out, "p75 %s, ", b[5]);
        }
        fprintf(out, "p95 %s, p99 %s, max %s</title>", b[1], b[2], b[4]);
        double xl = strip_x((double)p->lo, lo, hi, log_x, left, plot_w);
        double x99 = strip_x((double)p->p99, lo, hi, log_x, left, plot_w);
        fprintf(out, "<line class=\"whisker\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", xl, cy,
                x99 > xl + 1 ? x99 : xl + 1, cy);
        if (p->has_box) {
            double x25 = strip_x((double)p->p25, lo, hi, log_x, left, plot_w);
            double x75 = strip_x((double)p->p75, lo, hi, log_x, left, plot_w);
            fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"#333\"/>",
                    x25, cy - 7, x75 - x25 > 2 ? x75 - x25 : 2, 14.0, col_s);
        }
        double x50 = strip_x((double)p->p50, lo, hi, log_x, left, plot_w);
        double x95 = strip_x((double)p->p95, lo, hi, log_x, left, plot_w);
        fprintf(out, "<line class=\"median\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x50, cy - 9, x50,
                cy + 9);
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" stroke=\"#000\"/></g>\n", x95, cy, col_s);
    }
    double base = top + row_h * (double)ns;
    fprintf(out, "<line class=\"axisline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", left, base,
            left + plot_w, base);
    if (log_x) {
        int drawn = 0;
        for (double d = pow(10.0, ceil(log10(lo) - 1e-9)); d <= hi * (1 + 1e-9) && drawn < 16; d *= 10, drawn++) {
            double x = strip_x(d, lo, hi, 1, left, plot_w);
            fmt_dur_u(b[0], sizeof b[0], (uint64_t)d);
            fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", x,
                    base + 16, b[0]);
        }
    } else {
        for (int i = 0; i <= 4; i++) {
            double v = lo + (hi - lo) * i / 4.0;
            sp_fmt_dur(b[0], sizeof b[0], v);
            fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                    strip_x(v, lo, hi, 0, left, plot_w), base + 16, b[0]);
        }
    }
    fputs("\n</svg>\n", out);
    stage_legend(c);
    fputs("</section>\n", out);
    free(sv);
    return SP_OK;
}

/* ---------- padding waste per batch ---------- */

static void write_padding(html_ctx *c)
{
    FILE *out = c->out;
    const sp_report *r = c->r;
    const sp_padding_summary *pd = &r->padding;
    char a[32], b[32], d[32];
    fputs("<section id=\"padding\"><h2>Padding waste per batch</h2>\n", out);
    if (!pd->batches) {
        fputs("<p class=\"note\">No batch carries token counts: padding cannot be measured.</p></section>\n", out);
        return;
    }
    fprintf(out,
            "<p>%" PRId64 " effective of %" PRId64 " padded tokens in %" PRIu64 " batches: <b>%s waste</b>; "
            "padding is %s of p95 latency and %s of the bill. Waste of one batch = 1 &#8722; effective / "
            "padded tokens.</p>\n",
            pd->effective_tokens, pd->padded_tokens, pd->batches, sp_rep_fmt_pct(a, sizeof a, pd->waste_fraction),
            sp_rep_fmt_pct(b, sizeof b, pd->share_p95), sp_rep_fmt_pct(d, sizeof d, pd->share_of_bill));
    if (!c->d) {
        fputs("<p class=\"note\">The per-batch histogram needs the analysis detail (the report was analysed "
              "without keep_detail).</p></section>\n", out);
        return;
    }
    uint64_t counts[WASTE_BINS] = {0};
    sp_html_hist h;
    memset(&h, 0, sizeof h);
    h.id = "padding-chart";
    h.title = "Histogram of padding waste per batch";
    h.unit = "batches";
    h.counts = counts;
    h.nbins = WASTE_BINS;
    h.lo = 0;
    h.hi = 1;
    h.x_is_fraction = 1;
    h.colour = sp_html_stage_colour("padding");
    for (size_t i = 0; i < c->d->n_batch_waste; i++)
        counts[sp_html_hist_bin(&h, c->d->batch_waste[i])]++;
    sp_html_marker m[2] = {{pd->waste_p50, "p50"}, {pd->waste_p95, "p95"}};
    h.marks = m;
    h.n_marks = 2;
    sp_html_histogram(out, &h);
    fputs("</section>\n", out);
}

/* ---------- device timeline slice (the analysis' sp_timeline_slice) ---------- */

typedef struct tl_row {
    uint32_t file, device;
    int64_t stream;
} tl_row;

static int tl_row_cmp(const void *p, const void *q)
{
    const tl_row *x = p, *y = q;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    return (x->stream > y->stream) - (x->stream < y->stream);
}

/* Batch windows in the timeline: by start, then file, then id. */
static int tl_batch_before(const sp_slice_batch *x, const sp_slice_batch *y)
{
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns;
    if (x->file != y->file)
        return x->file < y->file;
    return x->id < y->id;
}

static int tl_find(const tl_row *rows, size_t n, const sp_slice_activity *x)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].file == x->file && rows[i].device == x->device && rows[i].stream == x->stream)
            return (int)i;
    return -1;
}

static const char *act_colour(sp_act_kind kind)
{
    switch (kind) {
    case SP_ACT_KERNEL: return sp_html_stage_colour("kernel");
    case SP_ACT_H2D: return sp_html_stage_colour("h2d");
    case SP_ACT_D2H: return sp_html_stage_colour("d2h");
    default: return "#6f6f6f";
    }
}

static const char *act_kind_name(sp_act_kind kind)
{
    switch (kind) {
    case SP_ACT_KERNEL: return "kernel";
    case SP_ACT_H2D: return "h2d copy";
    case SP_ACT_D2H: return "d2h copy";
    case SP_ACT_D2D: return "d2d copy";
    case SP_ACT_MEMSET: return "memset";
    default: return "copy";
    }
}

/* A run of same-kind activities on one row closer together than a pixel, drawn as one rect. */
typedef struct tl_pending {
    int open;
    double x0, x1;
    sp_act_kind kind;
    const sp_slice_activity *first;
    uint64_t count, busy_ns, start_ns, end_ns;
} tl_pending;

typedef struct tl_geom {
    uint64_t t0, t1;
    double left, plot_w;
} tl_geom;

static double tl_x(const tl_geom *g, uint64_t t)
{
    if (t <= g->t0)
        return g->left;
    if (t >= g->t1)
        return g->left + g->plot_w;
    return g->left + g->plot_w * (double)(t - g->t0) / (double)(g->t1 - g->t0);
}

static void tl_flush(html_ctx *c, const tl_geom *g, tl_pending *p, double y, size_t *rects)
{
    if (!p->open)
        return;
    FILE *out = c->out;
    char d[48], s[48];
    double w = p->x1 - p->x0 < 0.6 ? 0.6 : p->x1 - p->x0;
    fprintf(out, "<rect class=\"act\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"14\" fill=\"%s\"><title>",
            p->x0, y, w, act_colour(p->kind));
    fmt_dur_u(s, sizeof s, p->start_ns > g->t0 ? p->start_ns - g->t0 : 0);
    fmt_dur_u(d, sizeof d, p->busy_ns);
    const sp_slice_activity *x = p->first;
    if (p->count == 1) {
        if (x->name) {
            sp_html_esc(out, x->name, 300);
            fputs(": ", out);
        }
        fprintf(out, "%s, %s at +%s", act_kind_name(p->kind), d, s);
        if (x->bytes)
            fprintf(out, ", %" PRIu64 " bytes", x->bytes);
    } else {
        fprintf(out, "%" PRIu64 " %ss merged (closer than a pixel), %s busy from +%s", p->count,
                act_kind_name(p->kind), d, s);
        if (x->name) {
            fputs("; first: ", out);
            sp_html_esc(out, x->name, 300);
        }
    }
    fputs("</title></rect>\n", out);
    (*rects)++;
    p->open = 0;
}

/* The rows: the first TL_MAX_ROWS streams active in the slice, sorted by file, device and stream.
 * Activities on further streams are counted in *omitted. */
static size_t tl_rows(const sp_timeline_slice *sl, tl_row *rows, uint64_t *omitted)
{
    size_t nrows = 0;
    *omitted = 0;
    for (size_t i = 0; i < sl->n_acts; i++) {
        const sp_slice_activity *x = &sl->acts[i];
        if (tl_find(rows, nrows, x) >= 0)
            continue;
        if (nrows < TL_MAX_ROWS)
            rows[nrows++] = (tl_row){x->file, x->device, x->stream};
        else
            (*omitted)++;
    }
    qsort(rows, nrows, sizeof *rows, tl_row_cmp);
    return nrows;
}

/* The batch windows drawn: the first TL_MAX_BATCHES by (start, file, id), kept sorted by insertion,
 * so which are drawn never depends on the order of lines (docs/analysis.md, "Ties"); the others are
 * counted in *more. */
static size_t tl_pick_batches(const sp_timeline_slice *sl, uint32_t *bidx, size_t *more)
{
    size_t nbw = 0;
    *more = 0;
    for (size_t i = 0; i < sl->n_batches; i++) {
        const sp_slice_batch *bt = &sl->batches[i];
        if (nbw == TL_MAX_BATCHES) {
            (*more)++;
            if (!tl_batch_before(bt, &sl->batches[bidx[nbw - 1]]))
                continue;
            nbw--; /* the new one displaces the last */
        }
        size_t k = nbw++;
        while (k > 0 && tl_batch_before(bt, &sl->batches[bidx[k - 1]])) {
            bidx[k] = bidx[k - 1];
            k--;
        }
        bidx[k] = (uint32_t)i;
    }
    return nbw;
}

/* The batch windows, packed into TL_LANES lanes from the top; returns how many found no free lane. */
static size_t tl_draw_batches(html_ctx *c, const tl_geom *g, const uint32_t *bidx, size_t nbw, double top,
                              double lane_h)
{
    FILE *out = c->out;
    const sp_timeline_slice *sl = &c->d->timeline;
    uint64_t lane_end[TL_LANES] = {0};
    size_t dropped = 0;
    char b1[48], b2[48];
    for (size_t k = 0; k < nbw; k++) {
        const sp_slice_batch *bt = &sl->batches[bidx[k]];
        int lane = -1;
        for (int l = 0; l < TL_LANES; l++)
            if (lane_end[l] <= bt->start_ns) {
                lane = l;
                break;
            }
        if (lane < 0) {
            dropped++;
            continue;
        }
        lane_end[lane] = bt->end_ns;
        double x0 = tl_x(g, bt->start_ns), x1 = tl_x(g, bt->end_ns);
        fmt_dur_u(b1, sizeof b1, bt->end_ns - bt->start_ns);
        fprintf(out,
                "<rect class=\"bwin\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\"><title>batch %" PRId64
                ": %" PRIu32 " requests, window %s",
                x0, top + lane * lane_h, x1 - x0 > 0.6 ? x1 - x0 : 0.6, lane_h - 3, bt->id, bt->members, b1);
        if (bt->has_tokens)
            fprintf(out, ", waste %s", sp_rep_fmt_pct(b2, sizeof b2, bt->waste));
        fputs("</title></rect>", out);
        if (x1 - x0 >= 60)
            fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\">batch %" PRId64 "</text>", x0 + 3,
                    top + lane * lane_h + 10, bt->id);
        fputc('\n', out);
    }
    return dropped;
}

/* The activity rows, merging sub-pixel neighbours of the same kind, at most TL_MAX_RECTS shapes;
 * activities past the cap are counted in *not_drawn. Returns the shapes drawn. */
static size_t tl_draw_acts(html_ctx *c, const tl_geom *g, const tl_row *rows, size_t nrows, double rows_top,
                           double row_h, size_t *not_drawn)
{
    const sp_timeline_slice *sl = &c->d->timeline;
    tl_pending pend[TL_MAX_ROWS];
    memset(pend, 0, sizeof pend);
    size_t rects = 0;
    *not_drawn = 0;
    for (size_t i = 0; i < sl->n_acts; i++) {
        const sp_slice_activity *x = &sl->acts[i];
        int r = tl_find(rows, nrows, x);
        if (r < 0)
            continue;
        double x0 = tl_x(g, x->start_ns), x1 = tl_x(g, x->end_ns);
        tl_pending *p = &pend[r];
        double y = rows_top + row_h * (double)r;
        if (p->open && p->kind == x->kind && x0 < p->x1 + 0.5) {
            p->x1 = x1 > p->x1 ? x1 : p->x1;
            p->count++;
            p->busy_ns += x->end_ns - x->start_ns;
            p->end_ns = x->end_ns > p->end_ns ? x->end_ns : p->end_ns;
            continue;
        }
        if (p->open) {
            if (rects < TL_MAX_RECTS)
                tl_flush(c, g, p, y, &rects);
            else {
                *not_drawn += p->count;
                p->open = 0;
            }
        }
        *p = (tl_pending){1, x0, x1, x->kind, x, 1, x->end_ns - x->start_ns, x->start_ns, x->end_ns};
    }
    for (size_t r = 0; r < nrows; r++) {
        if (!pend[r].open)
            continue;
        if (rects < TL_MAX_RECTS)
            tl_flush(c, g, &pend[r], rows_top + row_h * (double)r, &rects);
        else
            *not_drawn += pend[r].count;
    }
    return rects;
}

static sp_status write_timeline(html_ctx *c)
{
    FILE *out = c->out;
    const char *noun = sp_device_kind_noun(c->r->gpu.device_kind);
    fprintf(out, "<section id=\"timeline\"><h2>%s timeline: the busiest slice</h2>\n", noun);
    if (!c->d) {
        fprintf(out, "<p class=\"note\">%s</p></section>\n", NO_DETAIL);
        return SP_OK;
    }
    const sp_timeline_slice *sl = &c->d->timeline;
    if (!sl->work) {
        fputs("<p class=\"note\">No device activity in the trace.</p></section>\n", out);
        return SP_OK;
    }
    uint64_t len = sl->end_ns - sl->start_ns;
    tl_geom g = {sl->start_ns, sl->end_ns, 150, SP_HTML_W - 150 - 16};
    tl_row rows[TL_MAX_ROWS];
    uint64_t omitted_streams_acts;
    size_t nrows = tl_rows(sl, rows, &omitted_streams_acts);
    uint32_t bidx[TL_MAX_BATCHES];
    size_t more_batches;
    size_t nbw = tl_pick_batches(sl, bidx, &more_batches);
    const double lane_h = 16, row_h = 20, top = 6;
    double rows_top = top + TL_LANES * lane_h + 8;
    double base = rows_top + row_h * (double)nrows;
    char b1[48], b2[48];
    fmt_dur_u(b1, sizeof b1, len);
    fmt_dur_u(b2, sizeof b2, g.t0 - sl->first_ns);
    fprintf(out,
            "<p>The %s of device activity with the most device time, starting %s after the first activity. "
            "Top: batch windows; below: kernels and copies, one row per device stream. Shapes closer "
            "together than a pixel are merged (their tooltip says how many).</p>\n",
            b1, b2);
    char chart_title[96];
    snprintf(chart_title, sizeof chart_title, "%s timeline slice: batch windows, kernels and copies per stream", noun);
    sp_html_svg_open(out, "timeline-chart", base + 30, chart_title);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">batches</text>\n", g.left - 8, top + 12);
    size_t lane_dropped = tl_draw_batches(c, &g, bidx, nbw, top, lane_h);
    for (size_t r = 0; r < nrows; r++) {
        fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", g.left - 8,
                rows_top + row_h * (double)r + 11);
        if (c->r->n_files > 1)
            fprintf(out, "file %" PRIu32 " ", rows[r].file);
        fprintf(out, "dev %" PRIu32 " stream %" PRId64 "</text>\n", rows[r].device, rows[r].stream);
    }
    size_t not_drawn;
    size_t rects = tl_draw_acts(c, &g, rows, nrows, rows_top, row_h, &not_drawn);
    fprintf(out, "<line class=\"axisline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", g.left, base,
            g.left + g.plot_w, base);
    for (int i = 0; i <= 5; i++) {
        uint64_t t = len / 5 * (uint64_t)i;
        fmt_dur_u(b1, sizeof b1, t);
        double x = tl_x(&g, g.t0 + t);
        fprintf(out, "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                     "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">+%s</text>",
                x, base, x, base + 5, x, base + 18, i == 5 ? "end" : "middle", b1);
    }
    fputs("\n</svg>\n", out);
    static const char *const names[5] = {"batch window", "kernel", "h2d copy", "d2h copy", "other copy / memset"};
    const char *cols[5] = {"#eeeeee", act_colour(SP_ACT_KERNEL), act_colour(SP_ACT_H2D), act_colour(SP_ACT_D2H),
                           act_colour(SP_ACT_MEMSET)};
    sp_html_legend(out, names, cols, 5);
    fprintf(out, "<p class=\"note\">%zu activities in the slice (of %" PRIu64 " in the trace), drawn as %zu shapes",
            sl->n_acts, sl->work, rects);
    if (omitted_streams_acts)
        fprintf(out, "; %" PRIu64 " on streams past the first %d not drawn", omitted_streams_acts, TL_MAX_ROWS);
    if (not_drawn)
        fprintf(out, "; %zu past the cap of %d shapes not drawn", not_drawn, TL_MAX_RECTS);
    if (lane_dropped || more_batches)
        fprintf(out, "; %zu overlapping batch windows not drawn", lane_dropped + more_batches);
    fputs(".</p>\n</section>\n", out);
    return SP_OK;
}

/* ---------- cost ---------- */

static void write_cost(html_ctx *c)
{
    FILE *out = c->out;
    const sp_cost_summary *k = &c->r->cost;
    char a[48], b[48], d[48], e[48], basis[160];
    fputs("<section id=\"cost\"><h2>Cost split</h2>\n", out);
    /* Each figure has its own buffer: the arguments are all evaluated before fprintf reads any. */
    /* a fleet's bill is its replicas' (docs/fleet.md, "Cost"): the sentence says how many it covers */
    char cover[192];
    fprintf(out, "<p>%s for %s%s; ", sp_rep_fmt_money(a, sizeof a, k->bill),
            sp_rep_fmt_bill_cover(cover, sizeof cover, c->r), k->price_is_default ? " (default price: none given)" : "");
    if (c->r->request_count)
        fprintf(out, "<b>%s</b> (the bill over %" PRIu64 " %s)",
                sp_rep_fmt_cost_per_request(e, sizeof e, k->per_request, SP_REP_1M_WORDS), c->r->request_count,
                sp_rep_plural(c->r->request_count, "request", "requests"));
    else
        fputs("no requests to divide it among", out);
    /* without a batch no device time is any request's: the text report's caveat, so that $0 does not
     * read as what a request costs beside the bill per request */
    if (c->r->request_count && k->request_cost_nano.count)
        fprintf(out, "; one request's own cost (its batch's device time %s), per 1M requests: p50 %s, p95 %s%s",
                sp_rep_fmt_cost_basis(basis, sizeof basis, c->r),
                sp_rep_fmt_cost_per_request(a, sizeof a, (double)k->request_cost_nano.p50_ns * 1e-9, SP_REP_1M_DOLLARS),
                sp_rep_fmt_cost_per_request(b, sizeof b, (double)k->request_cost_nano.p95_ns * 1e-9, SP_REP_1M_DOLLARS),
                c->r->batch_count ? "" : " (no batch in the trace: no device time is any request's)");
    fprintf(out, ". Each %s-second of the window is in one state.</p>\n", sp_device_kind_noun(c->r->gpu.device_kind));
    const double left = 120, right = 16, top = 6, bar_h = 34;
    double plot_w = SP_HTML_W - left - right;
    sp_html_svg_open(out, "cost-chart", top + bar_h + 8, "Share of the bill by device state");
    fprintf(out, "<text class=\"strong\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">bill</text>\n", left - 8,
            top + bar_h / 2 + 4);
    double x = left;
    const char *names[SP_COST_STATE_COUNT], *cols[SP_COST_STATE_COUNT];
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        names[s] = sp_cost_state_str((sp_cost_state)s);
        cols[s] = sp_html_cost_colour((sp_cost_state)s);
        double sh = k->by_state_share[s];
        if (!(sh > 0))
            continue;
        double w = plot_w * (sh > 1 ? 1 : sh);
        if (x + w > left + plot_w)
            w = left + plot_w - x;
        sp_rep_fmt_pct(a, sizeof a, sh);
        fprintf(out, "<rect class=\"seg\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\">"
                     "<title>%s: %s of the bill, %s</title></rect>",
                x, top, w, bar_h, cols[s], names[s], a, sp_rep_fmt_money(b, sizeof b, k->by_state[s]));
        if (w >= 80)
            fprintf(out, "<text class=\"seglabel\" x=\"%.1f\" y=\"%.1f\">%s %s</text>", x + 4, top + bar_h / 2 + 4,
                    names[s], a);
        fputc('\n', out);
        x += w;
    }
    fputs("</svg>\n", out);
    sp_html_legend(out, names, cols, SP_COST_STATE_COUNT);
    fputs("<table class=\"num\"><thead><tr><th>state</th><th>bill</th><th>per 1M requests</th><th>share</th></tr>"
          "</thead><tbody>\n",
          out);
    double nreq = c->r->request_count ? (double)c->r->request_count : 0;
    for (int s = 0; s < SP_COST_STATE_COUNT; s++)
        fprintf(out, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", names[s],
                sp_rep_fmt_money(a, sizeof a, k->by_state[s]),
                nreq > 0 ? sp_rep_fmt_cost_per_request(b, sizeof b, k->by_state[s] / nreq, SP_REP_1M_DOLLARS) : "n/a",
                sp_rep_fmt_pct(d, sizeof d, k->by_state_share[s]));
    fputs("</tbody></table>\n", out);
    char nodev[4096];
    if (sp_rep_fmt_nodev(nodev, sizeof nodev, c->r)) {
        /* the text report's sentence under its table */
        fputs("<p class=\"warn\">", out);
        sp_html_esc(out, nodev, sizeof nodev);
        fputs(".</p>\n", out);
    }
    fputs("</section>\n", out);
}

/* ---------- GPU summary ---------- */

static void write_gpu(html_ctx *c)
{
    FILE *out = c->out;
    const sp_gpu_summary *g = &c->r->gpu;
    char a[48], b[48], d[48], e[48], f[48], h[48];
    fprintf(out, "<section id=\"gpu\"><h2>%s</h2>\n", g->device_kind == SP_DEVICE_CPU ? "Device (CPU)"
                                                      : g->device_kind == SP_DEVICE_MIXED ? "Device" : "GPU");
    if (!g->present) {
        fputs("<p class=\"note\">No device activity.</p></section>\n", out);
        return;
    }
    int hta_ok = c->r->hta_compat && g->hta_breakdown_valid;
    char over[48] = ""; /* as the text's device line: several devices' time summed */
    if (g->devices_summed > 1)
        snprintf(over, sizeof over, " over %zu devices (summed)", g->devices_summed);
    /* "1 kernel, 1 copy", as the text report counts them */
    fprintf(out, "<p>span %s%s, busy %s (%s), idle %s; %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64 " %s%s.</p>\n",
            sp_fmt_dur(a, sizeof a, (double)g->span_ns), over, sp_fmt_dur(b, sizeof b, (double)g->busy_ns),
            sp_rep_fmt_pct(d, sizeof d, g->span_ns ? (double)g->busy_ns / (double)g->span_ns : 0),
            sp_fmt_dur(e, sizeof e, (double)g->idle_ns), g->kernels, sp_rep_plural(g->kernels, "kernel", "kernels"),
            g->copies, sp_rep_plural(g->copies, "copy", "copies"), g->memsets,
            sp_rep_plural(g->memsets, "memset", "memsets"),
            hta_ok ? " (HTA-compatible figures)" : c->r->hta_compat ? " (HTA's rounding, not HTA-compatible)" : "");
    if (c->r->hta_compat && g->hta_breakdown_note) {
        fputs("<p class=\"warn\">", out);
        sp_html_esc(out, g->hta_breakdown_note, 0);
        fputs("</p>\n", out);
    }
    /* the launch delay the graph sentence below keeps their nodes out of: the text report's launches line */
    if (g->launches_joined)
        fprintf(out, "<p>Launches: %" PRIu64 " joined on correlation id; launch delay p50 %s, p95 %s, max %s; %" PRIu64
                     " %s shorter than %s launch call.</p>\n",
                g->launches_joined, sp_fmt_dur(a, sizeof a, (double)g->launch_delay.p50_ns),
                sp_fmt_dur(b, sizeof b, (double)g->launch_delay.p95_ns),
                sp_fmt_dur(d, sizeof d, (double)g->launch_delay_max_ns), g->short_kernels,
                sp_rep_plural(g->short_kernels, "kernel", "kernels"), sp_rep_plural(g->short_kernels, "its", "their"));
    if (g->graph.launches)
        fprintf(out, "<p>CUDA graph launches: %" PRIu64 " calls launched %" PRIu64 " kernels (per launch p50 %" PRIu64
                     ", max %" PRIu64 "); launch to first node p50 %s, max %s. Their nodes are kept out of the "
                     "per-kernel launch delay.</p>\n",
                g->graph.launches, g->graph.kernels, g->graph.kernels_per_launch.p50_ns,
                g->graph.kernels_per_launch.max_ns, sp_fmt_dur(a, sizeof a, (double)g->graph.first_delay.p50_ns),
                sp_fmt_dur(b, sizeof b, (double)g->graph.first_delay.max_ns));
    if (g->steps.count) {
        const sp_step_summary *st = &g->steps;
        fprintf(out, "<p>Steps: %" PRIu64 " %s ranges; device windows %s of %s analysed: inside busy %s, idle %s; "
                     "outside busy %s, idle %s.</p>\n",
                st->count, sp_step_source_str(st->source), sp_fmt_dur(a, sizeof a, (double)st->window_ns),
                sp_fmt_dur(b, sizeof b, (double)st->analysed_ns),
                sp_fmt_dur(d, sizeof d, (double)st->busy_inside_ns),
                sp_fmt_dur(e, sizeof e, (double)st->idle_inside_ns),
                sp_fmt_dur(f, sizeof f, (double)st->busy_outside_ns),
                sp_fmt_dur(h, sizeof h, (double)st->idle_outside_ns));
    }
    /* the text report's "idle time by stream (HTA breakdown)": same rows, same figures */
    if (g->n_streams) {
        fputs("<table class=\"num\" id=\"gpu-idle\"><caption>idle time by stream (HTA breakdown)</caption>"
              "<thead><tr><th>device</th><th>stream</th><th>host wait</th><th>kernel wait</th><th>other</th></tr>"
              "</thead><tbody>\n",
              out);
        for (size_t i = 0; i < g->n_streams; i++) {
            const sp_stream_idle *s = &g->idle_breakdown[i];
            fprintf(out, "<tr><td>%" PRIu32 "</td><td>%" PRId64 "</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                    s->device, s->stream, sp_fmt_dur(a, sizeof a, (double)s->host_wait_ns),
                    sp_fmt_dur(b, sizeof b, (double)s->kernel_wait_ns),
                    sp_fmt_dur(d, sizeof d, (double)s->other_ns));
        }
        fputs("</tbody></table>\n", out);
    }
    if (g->n_kernel_stats) {
        fputs("<table class=\"num\"><thead><tr><th>kernel</th><th>count</th><th>total</th><th>p50</th>"
              "<th>p95</th></tr></thead><tbody>\n",
              out);
        size_t n = g->n_kernel_stats < MAX_KERNEL_ROWS ? g->n_kernel_stats : MAX_KERNEL_ROWS;
        for (size_t i = 0; i < n; i++) {
            const sp_kernel_stat *k = &g->kernel_stats[i];
            fputs("<tr><td>", out);
            sp_html_esc(out, k->name, 120);
            fprintf(out, "</td><td>%" PRIu64 "</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", k->count,
                    sp_fmt_dur(a, sizeof a, (double)k->total_ns), sp_fmt_dur(b, sizeof b, (double)k->q.p50_ns),
                    sp_fmt_dur(d, sizeof d, (double)k->q.p95_ns));
        }
        fputs("</tbody></table>\n", out);
        if (g->n_kernel_stats > n)
            fprintf(out, "<p class=\"note\">top %zu of %zu kernels by total time.</p>\n", n, g->n_kernel_stats);
    }
    fputs("</section>\n", out);
}

/* ---------- data quality ---------- */

static void write_quality(html_ctx *c)
{
    FILE *out = c->out;
    const sp_report *r = c->r;
    char a[32];
    fputs("<section id=\"quality\"><h2>Data quality</h2>\n<table class=\"num\"><tbody>\n", out);
    if (sp_rep_drops_unknown(r))
        fputs("<tr><td>records dropped by the recorder (no trace here was written by servprof's recorder; other "
              "tools' traces carry no such count)</td><td>not known</td></tr>\n", out);
    else
        fprintf(out, "<tr><td>records dropped by the recorder%s</td><td%s>%" PRIu64 "</td></tr>\n",
                sp_rep_unclean_own_files(r) ? " (up to its last count: a trace has no end record)" : "",
                r->drops_total ? " class=\"warn\"" : "", r->drops_total);
    for (int k = 0; k < SP_DROP_CAUSE_COUNT; k++)
        if (r->drops[k].count)
            fprintf(out, "<tr><td>&#160;&#160;%s</td><td>%" PRIu64 "</td></tr>\n",
                    r->drops[k].cause ? r->drops[k].cause : "?", r->drops[k].count);
    fprintf(out, "<tr><td>malformed or unresolved records skipped</td><td%s>%" PRIu64 "</td></tr>\n",
            r->skipped_records ? " class=\"warn\"" : "", r->skipped_records);
    /* the text report's rule (sp_rep_other_text): flagged from 0.1%, "under 0.1%" above zero below it */
    char other[1024];
    int other_missing = sp_rep_other_text(r, a, sizeof a, other, sizeof other);
    fprintf(out, "<tr><td>unattributed time (<code>other</code>), share of p95</td><td%s>%s</td></tr>\n",
            other_missing ? " class=\"warn\"" : "", a);
    if (r->client_records_unjoined || r->client_records_unfinished || r->client_records_failed ||
        r->client_records_failed_streams || r->client_records_unsent || r->client_records_duplicate ||
        r->has_client) {
        if (r->client_records_unfinished)
            fprintf(out, "<tr><td>client records whose request did not finish in the server trace (unfinished)"
                    "</td><td>%" PRIu64 "</td></tr>\n", r->client_records_unfinished);
        if (r->client_records_unfinished_answered)
            fprintf(out, "<tr><td>of them, answered (the server answered; the trace ended before their end "
                    "records)</td><td>%" PRIu64 "</td></tr>\n", r->client_records_unfinished_answered);
        fprintf(out, "<tr><td>client records with no matching request</td><td>%" PRIu64 "</td></tr>\n",
                r->client_records_unjoined);
        fprintf(out, "<tr><td>client records with a transport error (not joined)</td><td>%" PRIu64 "</td></tr>\n",
                r->client_records_failed);
        if (r->client_records_failed_streams)
            fprintf(out, "<tr><td>client records of a 2xx whose event stream failed (not joined)</td><td>%" PRIu64
                    "</td></tr>\n", r->client_records_failed_streams);
        if (r->client_records_unsent)
            fprintf(out, "<tr><td>client records never sent (the run stopped first; not joined)</td><td>%" PRIu64
                    "</td></tr>\n", r->client_records_unsent);
        fprintf(out, "<tr><td>client records duplicating a joined one</td><td>%" PRIu64 "</td></tr>\n",
                r->client_records_duplicate);
    }
    if ((r->has_client || r->n_clock_offsets) && r->requests_with_client < r->request_count)
        fprintf(out, "<tr><td>requests without a client record (end-to-end = arrival to done)</td><td class=\"warn\">%"
                PRIu64 "</td></tr>\n", r->request_count - r->requests_with_client);
    for (size_t k = 0; k < r->n_clock_offsets; k++) {
        const sp_clock_offset *o = &r->clock_offsets[k];
        char off[32], unc[32];
        fputs("<tr><td>clock offset (server &#8722; client) of ", out);
        sp_html_esc(out, o->client_path ? o->client_path : "?", 300);
        fputs(" on ", out);
        sp_html_esc(out, o->server_path ? o->server_path : "?", 300);
        fprintf(out, " (%s, %" PRIu64 " pairs)</td><td%s>%s", sp_clock_source_str(o->source), o->pairs,
                o->conflict_ns || o->violations ? " class=\"warn\"" : "", sp_fmt_sdur(off, sizeof off, o->offset_ns));
        if (o->pairs && !o->conflict_ns)
            fprintf(out, " &#177; %s", sp_fmt_dur(unc, sizeof unc, (double)o->uncertainty_ns));
        if (o->conflict_ns)
            fprintf(out, "; bounds conflict by %s", sp_fmt_dur(unc, sizeof unc, (double)o->conflict_ns));
        if (o->violations)
            fprintf(out, "; %" PRIu64 " requests' client times do not enclose the server's", o->violations);
        fputs("</td></tr>\n", out);
    }
    fprintf(out, "<tr><td>files</td><td>%zu</td></tr>\n", r->n_files);
    fprintf(out, "<tr><td>blocks lost (corrupt or cut off)</td><td%s>%" PRIu64 " (%" PRIu64 " bytes)</td></tr>\n",
            r->lost_blocks ? " class=\"warn\"" : "", r->lost_blocks, r->lost_bytes);
    fprintf(out, "<tr><td>records undecodable (name in a lost block)</td><td%s>%" PRIu64 "</td></tr>\n",
            r->undecodable_records ? " class=\"warn\"" : "", r->undecodable_records);
    fprintf(out, "<tr><td>requests or batches whose own record was lost</td><td%s>%" PRIu64 "</td></tr>\n",
            r->orphaned_records ? " class=\"warn\"" : "", r->orphaned_records);
    fprintf(out, "<tr><td>traces the recorder did not close cleanly</td><td%s>%zu</td></tr>\n",
            r->unclean_files ? " class=\"warn\"" : "", r->unclean_files);
    /* a row only when spans were clipped, so other pages read as before */
    if (r->spans_clipped)
        fprintf(out, "<tr><td>stage spans clipped to their request's life</td><td class=\"warn\">%" PRIu64
                "</td></tr>\n", r->spans_clipped);
    fputs("</tbody></table>\n", out);
    /* what the text report says of that share, word for word: missing instrumentation or negligible */
    if (other[0]) {
        fprintf(out, "<p class=\"%s\">Unattributed (<code>other</code>): ", other_missing ? "warn" : "note");
        sp_html_esc(out, other, sizeof other);
        fputs(".</p>\n", out);
    }
    char lost[2048];
    if (sp_rep_loss_text(r, 0, lost, sizeof lost)) {
        fputs("<p class=\"warn\">Data lost: ", out);
        sp_html_esc(out, lost, sizeof lost);
        fputs(".</p>\n", out);
    }
    /* replicas' files from different hosts put on one clock: the text report's sentence, word for word */
    for (size_t f = 0; f < r->n_files; f++)
        if (sp_rep_clock_shift_text(r, f, lost, sizeof lost)) {
            fputs("<p class=\"note\">", out);
            sp_html_esc(out, lost, sizeof lost);
            fputs("</p>\n", out);
        }
    /* what the client records that match no request most likely mean, and trace contexts that do not
     * continue the client's: the text report's sentences, word for word */
    if (sp_rep_client_unmatched_text(r, lost, sizeof lost)) {
        fputs("<p class=\"warn\">Client records: ", out);
        sp_html_esc(out, lost, sizeof lost);
        fputs(".</p>\n", out);
    }
    if (sp_rep_trace_context_text(r, lost, sizeof lost)) {
        fputs("<p class=\"warn\">", out);
        sp_html_esc(out, lost, sizeof lost);
        fputs("</p>\n", out);
    }
    /* the text report's sentence, word for word */
    if (sp_rep_spans_clipped_text(r, lost, sizeof lost)) {
        fputs("<p class=\"warn\">", out);
        sp_html_esc(out, lost, sizeof lost);
        fputs("</p>\n", out);
    }
    if (r->other_share_p95 >= 0.05)
        fputs("<p class=\"warn\">A large <code>other</code> share means instrumentation is missing: some of "
              "each request's time is covered by no span and no batch.</p>\n",
              out);
    fputs("</section>\n", out);
}

/* ---------- the page ---------- */

/* A fleet report's replicas that stopped answering in the window, and those that never answered, as
 * the text's header names them (docs/fleet.md); nothing when there are none, so other pages read as
 * before. */
static void write_source_replicas(FILE *out, const sp_report *r)
{
    const sp_report_source *src = r->source;
    if (!src)
        return;
    if (src->n_down) {
        fputs("<p class=\"warn\">Stopped answering in the window (Prometheus' last scrape failed; the figures "
              "hold what was scraped before):", out);
        for (size_t i = 0; i < src->n_down; i++) {
            fputs(i ? ", " : " ", out);
            sp_html_esc(out, src->down[i] ? src->down[i] : "?", 300);
        }
        fputs("</p>\n", out);
    }
    if (src->n_never) {
        fprintf(out, "<p class=\"warn\">Never answered in the window (Prometheus' up is 0 and it has no servprof "
                     "series: not in the figures nor the %zu replica%s):",
                src->n_replicas, src->n_replicas == 1 ? "" : "s");
        for (size_t i = 0; i < src->n_never; i++) {
            fputs(i ? ", " : " ", out);
            sp_html_esc(out, src->never[i] ? src->never[i] : "?", 300);
        }
        fputs("</p>\n", out);
    }
}

sp_status sp_report_write_html(const sp_report *r, const sp_events *ev, FILE *out)
{
    return sp_report_write_html_opts(r, ev, NULL, out);
}

sp_status sp_report_write_html_opts(const sp_report *r, const sp_events *ev, const sp_html_options *opt,
                                    FILE *out)
{
    (void)ev; /* the report's detail holds what the page draws */
    if (!r || !out)
        return SP_ERR_INVALID;
    sp_html_options o;
    if (opt)
        o = *opt;
    else
        sp_html_options_init(&o);
    html_ctx c;
    memset(&c, 0, sizeof c);
    c.out = out;
    c.r = r;
    c.d = r->detail;
    sp_html_page_open(out, o.title ? o.title : "servprof report");
    char a[48], b[48], inputs[64];
    /* a fleet report was made from no files: its replicas say what it covers, as the text's header and
     * servprof diff name them (docs/fleet.md); "0 files" read as an empty report */
    if (r->source)
        snprintf(inputs, sizeof inputs, "%zu replica%s (a fleet report)", r->source->n_replicas,
                 r->source->n_replicas == 1 ? "" : "s");
    else
        snprintf(inputs, sizeof inputs, "%zu file%s", r->n_files, r->n_files == 1 ? "" : "s");
    fprintf(out, "<p class=\"sub\">%s, %" PRIu64 " requests, %" PRIu64 " batches, window %s, "
                 "price %s/h%s</p>\n",
            inputs, r->request_count, r->batch_count,
            sp_fmt_dur(a, sizeof a, (double)r->cost.window_ns), sp_rep_fmt_price(b, sizeof b, r),
            r->cost.price_is_default ? " (default)" : "");
    write_source_replicas(out, r);
    /* each section checks the stream before it starts: a failed write stops the report there */
    write_verdict(&c);
    write_summary(&c);
    write_outcomes(&c);
    write_shares(&c);
    if (r->generation && !ferror(out)) /* only for traces with generation data (docs/generation.md) */
        sp_rep_html_generation(out, r);
    sp_status st = ferror(out) ? SP_ERR_IO : write_latency(&c);
    if (!st)
        st = ferror(out) ? SP_ERR_IO : write_stages(&c);
    if (!st) {
        write_padding(&c);
        st = ferror(out) ? SP_ERR_IO : write_timeline(&c);
    }
    if (!st) {
        write_cost(&c);
        write_gpu(&c);
        if (o.whatif && o.n_whatif)
            st = ferror(out) ? SP_ERR_IO : sp_html_whatif_section(o.whatif, o.n_whatif, o.whatif_warning, out);
    }
    if (!st) {
        write_quality(&c);
        fputs("<p class=\"note\">Written by servprof. Percentiles are nearest-rank on exact values; shares of "
              "pXX are over the requests around the pXX rank (docs/analysis.md).</p>\n</body>\n</html>\n",
              out);
    }
    if (st && st != SP_ERR_IO)
        return st;
    return sp_rep_finish(out);
}
