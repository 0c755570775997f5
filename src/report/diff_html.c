/* The diff as a self-contained HTML page in the analysis report's style (html.c's stylesheet, the
 * fixed stage colours, inline SVG, no scripts, no fetches): the CI gate, both verdicts side by side,
 * stage shares of p95 before and after, and each change with its interval as a dot and whisker
 * around zero; then every figure in tables. docs/diff.md, "HTML". Output size depends only on the
 * number of stages. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "report/diff_fmt.h"
#include "report/html_int.h"
#include "report/report_int.h"
#include "servprof/diff.h"
#include "servprof/report.h"

/* ---------- a change with its interval, per row, around zero ---------- */

typedef struct forest_row {
    const char *label;       /* from the trace (a stage name): escaped */
    const char *colour;
    double point, lo, hi;    /* in the chart's unit */
    int has_interval;
} forest_row;

/* What a forest chart's x axis shows. */
typedef enum { AXIS_RELATIVE, AXIS_POINTS } axis_kind;

/* A tick label: relative changes as percentages, share changes in points, with the decimals the
 * tick step needs. */
static void axis_text(char *buf, size_t len, double v, axis_kind k, double step)
{
    int dec = step * 100 >= 1 - 1e-9 ? 0 : step * 100 >= 0.1 - 1e-12 ? 1 : 2;
    if (fabs(v) < step * 1e-6) {
        snprintf(buf, len, "0");
        return;
    }
    if (k == AXIS_RELATIVE)
        snprintf(buf, len, "%+.*f%%", dec, v * 100);
    else
        snprintf(buf, len, "%+.*f pts", dec, v * 100);
}

/* A round tick step (1, 2 or 5 x 10^k) giving about four intervals over `range`. */
static double nice_step(double range)
{
    double raw = range / 4, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static double fx(double v, double lo, double hi, double x0, double w)
{
    return x0 + (v - lo) / (hi - lo) * w;
}

/* A relative change is drawn no lower than -100%: a bound below it is a bootstrap artefact (docs/diff.md,
 * "Conditions"), no change any value can make. */
static double drawn(double v, axis_kind k)
{
    return k == AXIS_RELATIVE && v < -1 ? -1 : v;
}

/* One row per change: a whisker over its interval and a dot at the change, a line at zero. A relative
 * interval reaching below -100% is drawn from -100%, marked there with "*", and its tooltip and a note
 * under the chart give the computed bound and say why it is no fall (as the text's conditions do). */
static void forest(FILE *out, const char *id, const char *title, const forest_row *rows, size_t n, axis_kind k)
{
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        double a = drawn(rows[i].has_interval ? rows[i].lo : rows[i].point, k);
        double b = drawn(rows[i].has_interval ? rows[i].hi : rows[i].point, k);
        if (isfinite(a) && a < lo)
            lo = a;
        if (isfinite(b) && b > hi)
            hi = b;
    }
    if (!(hi > lo)) {
        lo = -0.01;
        hi = 0.01;
    }
    double pad = (hi - lo) * 0.06;
    lo -= pad;
    hi += pad;
    const double left = 170, right = 20, top = 8, row_h = 24, axis_h = 28;
    double w = SP_HTML_W - left - right;
    sp_html_svg_open(out, id, top + (double)n * row_h + axis_h, title);
    double zx = fx(0, lo, hi, left, w), bottom = top + (double)n * row_h;
    fprintf(out, "<line class=\"zero\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", zx, top, zx, bottom);
    fprintf(out, "<line class=\"axisline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, bottom,
            left + w, bottom);
    char t[48];
    double step = nice_step(hi - lo);
    for (double v = ceil(lo / step) * step; v <= hi; v += step) {
        double x = fx(v, lo, hi, left, w);
        axis_text(t, sizeof t, v, k, step);
        fprintf(out, "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                     "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                x, bottom, x, bottom + 4, x, bottom + 17, t);
    }
    for (size_t i = 0; i < n; i++) {
        const forest_row *r = &rows[i];
        double y = top + ((double)i + 0.5) * row_h;
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", left - 8, y + 4);
        sp_html_esc(out, r->label, 40);
        fputs("</text>", out);
        if (!isfinite(r->point)) {
            fputs("\n", out);
            continue;
        }
        char p[48], a[48], b[48];
        axis_text(p, sizeof p, r->point, k, 0.001);
        fputs("<g class=\"change\"><title>", out);
        sp_html_esc(out, r->label, 200);
        if (r->has_interval) {
            int cut = drawn(r->lo, k) != r->lo;
            double x1 = fx(drawn(r->lo, k), lo, hi, left, w);
            axis_text(a, sizeof a, r->lo, k, 0.001);
            axis_text(b, sizeof b, r->hi, k, 0.001);
            fprintf(out, ": %s, interval %s to %s", p, a, b);
            if (cut)
                fprintf(out, " (the lower bound is %s; drawn from -100%%)", SP_REP_DIFF_ARTEFACT);
            fprintf(out, "</title><line class=\"ci\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x1, y,
                    fx(drawn(r->hi, k), lo, hi, left, w), y);
            if (cut)
                fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">*</text>", x1 - 3,
                        y + 4);
        } else {
            fprintf(out, ": %s (point estimate)</title>", p);
        }
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\" stroke=\"#333\"/></g>\n",
                fx(r->point, lo, hi, left, w), y, r->colour);
    }
    fputs("</svg>\n", out);
    for (size_t i = 0; i < n; i++) {
        const forest_row *r = &rows[i];
        if (!r->has_interval || !isfinite(r->point) || drawn(r->lo, k) == r->lo)
            continue;
        char a[48];
        axis_text(a, sizeof a, r->lo, k, 0.001);
        fputs("<p class=\"note\">* ", out);
        sp_html_esc(out, r->label, 200);
        fprintf(out, ": the interval's lower bound, %s, is %s. The whisker stops at -100%%.</p>\n", a,
                SP_REP_DIFF_ARTEFACT);
    }
}

/* ---------- tables ---------- */

static void table_open(FILE *out, const sp_diff *d, const char *first)
{
    fprintf(out, "<table class=\"num\"><thead><tr><th>%s</th><th>BASE</th><th>NEW</th><th>change</th>"
                 "<th>%s</th></tr></thead><tbody>\n",
            first, d->intervals ? "interval" : "interval (none: point estimates)");
}

static void table_row(FILE *out, const char *label, const sp_diff_metric *m)
{
    char b[48], a[48], c[64], iv[96];
    sp_rep_diff_value(b, sizeof b, m->unit, m->base_value);
    sp_rep_diff_value(a, sizeof a, m->unit, m->new_value);
    sp_rep_diff_change_rel(c, sizeof c, m);
    sp_rep_diff_interval(iv, sizeof iv, m);
    int sig = sp_rep_diff_excludes_zero(m);
    fputs("<tr><td>", out);
    sp_html_esc(out, label, 200);
    fprintf(out, "</td><td>%s</td><td>%s</td><td>%s%s%s</td><td>%s</td></tr>\n", b, a, sig ? "<b>" : "", c,
            sig ? "</b>" : "", iv);
}

/* ---------- sections ---------- */

static void write_head(FILE *out, const sp_diff *d)
{
    const sp_diff_side *s[2] = {&d->base, &d->after};
    fputs("<p class=\"sub\">", out);
    for (int i = 0; i < 2; i++) {
        fprintf(out, "%s <b>", i ? "<br>NEW" : "BASE");
        sp_html_esc(out, s[i]->label, 300);
        char inputs[160];
        fprintf(out, "</b>: %" PRIu64 " requests, ", s[i]->requests);
        sp_html_esc(out, sp_rep_diff_side_inputs(inputs, sizeof inputs, s[i]), 0);
    }
    fputs("</p>\n<p class=\"note\">", out);
    if (d->intervals) {
        char blocks[96];
        sp_rep_diff_blocks(blocks, sizeof blocks, d);
        fprintf(out, "Intervals: %g%% bootstrap over requests, %u resamples of each run in %s, seed %" PRIu64
                     "; a bold change has an interval that excludes 0. Padding waste and cost are point "
                     "estimates.",
                d->opt.confidence * 100, d->opt.resamples, blocks, d->opt.seed);
    } else {
        char why[256];
        sp_html_esc(out, sp_rep_diff_no_interval_reason(why, sizeof why, d), 0);
    }
    fputs("</p>\n", out);
    char e2e[400];
    if (*sp_rep_diff_e2e_note(e2e, sizeof e2e, d)) {
        fputs("<p class=\"note\">", out);
        sp_html_esc(out, e2e, 0);
        fputs("</p>\n", out);
    }
    if (*sp_rep_diff_kind_note(e2e, sizeof e2e, d)) {
        fputs("<p class=\"note\">", out);
        sp_html_esc(out, e2e, 0);
        fputs("</p>\n", out);
    }
}

static void write_gate(FILE *out, const sp_diff *d)
{
    if (!d->n_checks)
        return;
    int fails = d->n_holding > 0;
    char count[96];
    fprintf(out, "<section id=\"gate\" class=\"verdict%s\"><p class=\"big\">%s: %s</p>\n", fails ? "" : " pass",
            fails ? "The gate fails" : "The gate passes", sp_rep_diff_gate_count(count, sizeof count, d));
    fputs("<table class=\"num\"><thead><tr><th>condition</th><th>result</th><th>bound</th><th>threshold</th>"
          "<th>basis</th></tr></thead><tbody>\n", out);
    for (size_t i = 0; i < d->n_checks; i++) {
        const sp_diff_check *k = &d->checks[i];
        char bound[48], thr[48], basis[256];
        sp_rep_diff_bound(bound, sizeof bound, k);
        sp_rep_diff_threshold(thr, sizeof thr, &k->cond);
        sp_rep_diff_basis_words(d, k, basis, sizeof basis);
        fputs("<tr><td><code>", out);
        sp_html_esc(out, k->cond.spec, 300);
        fprintf(out, "</code></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                k->holds ? "<span class=\"warn\">holds</span>" : "does not hold",
                k->base_zero ? "BASE is 0" : bound, thr, basis);
    }
    fputs("</tbody></table></section>\n", out);
}

static void write_verdicts(FILE *out, const sp_diff *d)
{
    fputs("<section id=\"verdicts\"><h2>Verdict before and after</h2><div class=\"sides\">\n", out);
    const sp_diff_side *s[2] = {&d->base, &d->after};
    for (int i = 0; i < 2; i++) {
        char pct[32];
        fprintf(out, "<div class=\"verdict%s\"><p><span class=\"badge\">%s</span>", s[i]->verdict_stage ? "" : " none",
                i ? "NEW" : "BASE");
        if (s[i]->verdict_stage) {
            fputs("<b>", out);
            sp_html_esc(out, s[i]->verdict_stage, 200);
            fputs("</b> (", out);
            sp_html_esc(out, s[i]->verdict_group, 100);
            fprintf(out, "), %s of p95", sp_rep_fmt_pct(pct, sizeof pct, s[i]->verdict_share_p95));
        }
        fputs("</p><p>", out);
        sp_html_esc(out, s[i]->verdict_sentence ? s[i]->verdict_sentence : "No verdict.", 2000);
        fputs("</p></div>\n", out);
    }
    fputs("</div></section>\n", out);
}

static void write_latency(FILE *out, const sp_diff *d)
{
    fputs("<section id=\"latency\"><h2>End-to-end latency</h2>\n", out);
    static const char *const p[3] = {"latency.p50", "latency.p95", "latency.p99"};
    forest_row rows[3];
    size_t n = 0;
    table_open(out, d, "percentile");
    for (int j = 0; j < 3; j++) {
        const sp_diff_metric *m = sp_diff_find(d, p[j]);
        if (!m)
            continue;
        table_row(out, p[j] + 8, m);
        double base = fabs(m->base_value);
        rows[n++] = (forest_row){p[j] + 8, "#4e79a7", base > 0 ? m->change / base : NAN,
                                 base > 0 ? m->lo / base : NAN, base > 0 ? m->hi / base : NAN,
                                 m->has_interval && base > 0};
    }
    fputs("</tbody></table>\n", out);
    fputs("<p>Relative change from BASE, with its interval:</p>\n", out);
    forest(out, "latency-change", "Relative change of end-to-end latency percentiles, with intervals", rows, n,
           AXIS_RELATIVE);
    fputs("</section>\n", out);
}

/* A stage with any time in either run. */
static int stage_busy(const sp_diff *d, size_t u)
{
    for (size_t k = 0; k < d->n_metrics; k++)
        if (d->metrics[k].stage == d->stages[u].name &&
            (d->metrics[k].base_value != 0 || d->metrics[k].new_value != 0))
            return 1;
    return 0;
}

static const sp_diff_metric *stage_metric(const sp_diff *d, size_t u, const char *field)
{
    char path[SP_DIFF_MAX_SPEC + 32];
    snprintf(path, sizeof path, "stage.%s.%s", d->stages[u].name, field);
    return sp_diff_find(d, path);
}

static void write_shares(FILE *out, const sp_diff *d)
{
    fputs("<section id=\"shares\"><h2>Where p95 goes, before and after</h2>\n"
          "<p>Each bar is the latency of the requests around p95, split by stage (DESIGN section 4).</p>\n",
          out);
    const double left = 120, right = 16, bar_h = 34, gap = 16, top = 6;
    double plot_w = SP_HTML_W - left - right;
    sp_html_svg_open(out, "shares-chart", top + 2 * (bar_h + gap) + 4, "Stage shares of p95, BASE and NEW");
    for (int side = 0; side < 2; side++) {
        double y = top + side * (bar_h + gap);
        fprintf(out, "<text class=\"strong\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", left - 8,
                y + bar_h / 2 + 4, side ? "NEW" : "BASE");
        sp_html_share_bar bar = {out, left, left, plot_w, y, bar_h, "p95", 70, 12};
        for (size_t u = 0; u < d->n_stages; u++) {
            const sp_diff_metric *m = stage_metric(d, u, "share_of_p95");
            sp_html_share_seg(&bar, d->stages[u].name, m ? (side ? m->new_value : m->base_value) : 0);
        }
    }
    fputs("</svg>\n", out);
    const char *names[160], *cols[160];
    size_t nl = 0;
    for (size_t u = 0; u < d->n_stages && nl < 160; u++) {
        names[nl] = d->stages[u].name;
        cols[nl++] = sp_html_stage_colour(d->stages[u].name);
    }
    sp_html_legend(out, names, cols, nl);

    /* the change of each busy stage's share, and padding's, in points */
    forest_row rows[162];
    size_t n = 0;
    for (size_t u = 0; u < d->n_stages && n < 160; u++) {
        const sp_diff_metric *m = stage_metric(d, u, "share_of_p95");
        if (!m || !stage_busy(d, u))
            continue;
        rows[n++] = (forest_row){d->stages[u].name, sp_html_stage_colour(d->stages[u].name), m->change, m->lo, m->hi,
                                 m->has_interval};
    }
    const sp_diff_metric *pm = sp_diff_find(d, "padding.share_of_p95");
    if (pm && isfinite(pm->change))
        rows[n++] = (forest_row){"padding (in kernel)", sp_html_stage_colour("padding"), pm->change, pm->lo, pm->hi,
                                 pm->has_interval};
    fputs("<p>Change of each stage's share of p95, in points, with its interval:</p>\n", out);
    forest(out, "shares-change", "Change of each stage's share of p95, with intervals", rows, n, AXIS_POINTS);
    fputs("</section>\n", out);
}

static void write_stage_table(FILE *out, const sp_diff *d)
{
    fputs("<section id=\"stages\"><h2>Each stage</h2>\n", out);
    table_open(out, d, "stage");
    static const char *const field[4] = {"p50", "p95", "p99", "share_of_p95"};
    size_t idle = 0;
    for (size_t u = 0; u < d->n_stages; u++) {
        if (!stage_busy(d, u)) {
            idle++;
            continue;
        }
        for (int f = 0; f < 4; f++) {
            const sp_diff_metric *m = stage_metric(d, u, field[f]);
            if (!m)
                continue;
            char label[SP_DIFF_MAX_SPEC + 32];
            snprintf(label, sizeof label, "%s %s%s", d->stages[u].name, f == 3 ? "share of p95" : field[f],
                     !d->stages[u].in_base ? " (not in BASE)" : !d->stages[u].in_new ? " (not in NEW)" : "");
            table_row(out, label, m);
        }
    }
    fputs("</tbody></table>\n", out);
    if (idle)
        fprintf(out, "<p class=\"note\">%zu stage%s with no time in either run not shown.</p>\n", idle,
                idle == 1 ? "" : "s");
    fputs("</section>\n", out);
}

static void write_padding_cost(FILE *out, const sp_diff *d)
{
    fputs("<section id=\"padding-cost\"><h2>Padding and cost</h2>\n", out);
    table_open(out, d, "figure");
    static const struct {
        const char *path, *label;
    } rows[] = {{"padding.share_of_p95", "padding: share of p95"},
                {"padding.waste_fraction", "padding: waste"},
                {"padding.share_of_bill", "padding: share of the bill"},
                {"cost.per_request", "cost per 1M requests"}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const sp_diff_metric *m = sp_diff_find(d, rows[i].path);
        if (m)
            table_row(out, rows[i].label, m);
    }
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        char path[64], label[64];
        snprintf(path, sizeof path, "cost.per_request_by_state.%s", sp_cost_state_str((sp_cost_state)s));
        snprintf(label, sizeof label, "cost per 1M requests: %s", sp_cost_state_str((sp_cost_state)s));
        const sp_diff_metric *m = sp_diff_find(d, path);
        if (m)
            table_row(out, label, m);
    }
    fputs("</tbody></table>\n", out);
    char a[32], b[32];
    fprintf(out, "<p class=\"note\">Price: BASE %s/h, NEW %s/h. Waste and cost are totals over each run: point "
                 "estimates.</p>\n</section>\n",
            sp_rep_fmt_money(a, sizeof a, d->base.price_per_hour), sp_rep_fmt_money(b, sizeof b, d->after.price_per_hour));
}

sp_status sp_diff_write_html(const sp_diff *d, FILE *out)
{
    if (!d || !out)
        return SP_ERR_INVALID;
    sp_html_page_open(out, "servprof diff");
    write_head(out, d);
    write_gate(out, d);
    write_verdicts(out, d);
    if (!ferror(out))
        write_latency(out, d);
    if (!ferror(out))
        write_shares(out, d);
    if (!ferror(out))
        write_stage_table(out, d);
    if (!ferror(out))
        write_padding_cost(out, d);
    fputs("<p class=\"note\">Written by servprof diff (docs/diff.md). Percentiles are nearest-rank on exact "
          "values; shares of p95 are over the requests around the p95 rank.</p>\n</body>\n</html>\n",
          out);
    return sp_rep_finish(out);
}
