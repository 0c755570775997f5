/* SVG and HTML building blocks of the HTML report: escaping, the fixed stage colours, histograms,
 * legends and the what-if section (a table and a bar chart from rows the caller builds). Every
 * chart is inline SVG with a <title> on each shape, so it reads without scripts and offline. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "report/html_int.h"
#include "report/report_int.h"

/* ---------- escaping ---------- */

/* Code point of a well-formed sequence of length n at p. */
static uint32_t utf8_cp(const unsigned char *p, size_t n)
{
    switch (n) {
    case 1: return p[0];
    case 2: return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    case 3: return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    default:
        return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) |
               (p[3] & 0x3F);
    }
}

/* Code points the HTML parser reports as errors in input (controls, C1 controls, noncharacters). */
static int html_bad_cp(uint32_t c)
{
    if (c < 0x20)
        return c != '\t' && c != '\n';
    if (c >= 0x7F && c <= 0x9F)
        return 1;
    if (c >= 0xFDD0 && c <= 0xFDEF)
        return 1;
    return (c & 0xFFFE) == 0xFFFE;
}

void sp_html_esc(FILE *out, const char *s, size_t max_bytes)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t used = 0;
    while (*p) {
        size_t n = sp_utf8_len(p, SIZE_MAX);
        if (max_bytes && used + (n ? n : 1) > max_bytes) {
            fputs("\xE2\x80\xA6", out); /* U+2026 */
            return;
        }
        if (n == 0 || html_bad_cp(utf8_cp(p, n))) {
            fputs("\xEF\xBF\xBD", out); /* U+FFFD */
            p += n ? n : 1;
            used += n ? n : 1;
            continue;
        }
        if (n == 1) {
            switch (*p) {
            case '&': fputs("&amp;", out); break;
            case '<': fputs("&lt;", out); break;
            case '>': fputs("&gt;", out); break;
            case '"': fputs("&quot;", out); break;
            case '\'': fputs("&#39;", out); break;
            default: putc(*p, out); break;
            }
        } else {
            fwrite(p, 1, n, out);
        }
        p += n;
        used += n;
    }
}

/* ---------- colours ---------- */

/* Tableau 10 for the built-in stages; an extra palette for named stages, picked by a hash of the
 * name so a stage keeps its colour across charts and across reports. */
static const struct {
    const char *name, *colour;
} stage_colours[] = {
    {"queue", "#4e79a7"},  {"preprocess", "#f28e2b"}, {"h2d", "#76b7b2"},   {"kernel", "#e15759"},
    {"gap", "#edc948"},    {"d2h", "#59a14f"},        {"postprocess", "#b07aa1"}, {"network", "#9c755f"},
    {"other", "#bab0ac"},  {"padding", "#ff9da7"},
};

static const char *const named_palette[] = {"#1b9e77", "#7570b3", "#66a61e", "#e6ab02",
                                            "#a6761d", "#1f78b4", "#d95f02", "#6a3d9a"};

const char *sp_html_stage_colour(const char *name)
{
    if (!name)
        name = "";
    for (size_t i = 0; i < sizeof stage_colours / sizeof stage_colours[0]; i++)
        if (strcmp(name, stage_colours[i].name) == 0)
            return stage_colours[i].colour;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return named_palette[h % (sizeof named_palette / sizeof named_palette[0])];
}

const char *sp_html_cost_colour(sp_cost_state s)
{
    switch (s) {
    case SP_COST_USEFUL: return sp_html_stage_colour("kernel");
    case SP_COST_PADDING: return sp_html_stage_colour("padding");
    case SP_COST_COPIES: return sp_html_stage_colour("h2d");
    case SP_COST_GAP: return sp_html_stage_colour("gap");
    default: return "#d7d7d7";
    }
}

void sp_html_legend(FILE *out, const char *const *names, const char *const *colours, size_t n)
{
    fputs("<ul class=\"legend\">", out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "<li><span class=\"sw\" style=\"background:%s\"></span>", colours[i]);
        sp_html_esc(out, names[i], 200);
        fputs("</li>", out);
    }
    fputs("</ul>\n", out);
}

/* ---------- histograms ---------- */

void sp_html_fmt_x(char *buf, size_t len, double v, int is_fraction)
{
    if (is_fraction)
        snprintf(buf, len, "%.0f%%", v * 100.0);
    else
        sp_fmt_dur(buf, len, v);
}

double sp_html_hist_edge(const sp_html_hist *h, size_t k)
{
    double f = (double)k / (double)h->nbins;
    if (h->log_x)
        return h->lo * pow(h->hi / h->lo, f);
    return h->lo + (h->hi - h->lo) * f;
}

/* Where v lies along the histogram's axis: 0 at lo, 1 at hi (log or linear), unclamped. */
static double hist_frac(const sp_html_hist *h, double v)
{
    if (h->log_x)
        return v <= h->lo ? 0.0 : log(v / h->lo) / log(h->hi / h->lo);
    return (v - h->lo) / (h->hi - h->lo);
}

size_t sp_html_hist_bin(const sp_html_hist *h, double v)
{
    double f = hist_frac(h, v);
    if (!(f > 0))
        return 0;
    double k = floor(f * (double)h->nbins);
    return k >= (double)h->nbins ? h->nbins - 1 : (size_t)k;
}

/* Plot area of a histogram. */
#define H_LEFT 64.0
#define H_RIGHT 16.0
#define H_TOP 34.0
#define H_PLOT 180.0
#define H_HEIGHT 250.0

static double hist_x(const sp_html_hist *h, double v)
{
    double f = hist_frac(h, v);
    if (!(f > 0))
        f = 0;
    if (f > 1)
        f = 1;
    return H_LEFT + f * (SP_HTML_W - H_LEFT - H_RIGHT);
}

static void x_tick(FILE *out, double x, double y, const char *label)
{
    fprintf(out, "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, y, x, y + 5);
    fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", x, y + 17,
            label);
}

/* Ticks of a duration or percent axis: decades (1, 10, 100 of a unit) on a log axis, five even
 * steps on a linear one. */
static void hist_axis(FILE *out, const sp_html_hist *h, double y)
{
    char buf[48];
    if (h->log_x) {
        double d = pow(10.0, ceil(log10(h->lo) - 1e-9));
        int drawn = 0;
        for (; d <= h->hi * (1 + 1e-9) && drawn < 16; d *= 10.0, drawn++) {
            sp_html_fmt_x(buf, sizeof buf, d, h->x_is_fraction);
            x_tick(out, hist_x(h, d), y, buf);
        }
        if (drawn < 2) {
            sp_html_fmt_x(buf, sizeof buf, h->lo, h->x_is_fraction);
            x_tick(out, hist_x(h, h->lo), y, buf);
            sp_html_fmt_x(buf, sizeof buf, h->hi, h->x_is_fraction);
            x_tick(out, hist_x(h, h->hi), y, buf);
        }
        return;
    }
    for (int i = 0; i <= 5; i++) {
        double v = h->lo + (h->hi - h->lo) * i / 5.0;
        sp_html_fmt_x(buf, sizeof buf, v, h->x_is_fraction);
        x_tick(out, hist_x(h, v), y, buf);
    }
}

void sp_html_histogram(FILE *out, const sp_html_hist *h)
{
    uint64_t maxc = 0, total = 0;
    for (size_t k = 0; k < h->nbins; k++) {
        maxc = h->counts[k] > maxc ? h->counts[k] : maxc;
        total += h->counts[k];
    }
    fprintf(out,
            "<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-labelledby=\"%s-t\">"
            "<title id=\"%s-t\">",
            h->id, SP_HTML_W, H_HEIGHT, h->id, h->id);
    sp_html_esc(out, h->title, 0);
    fprintf(out, " (%" PRIu64 " %s)</title>\n", total, h->unit);
    double base = H_TOP + H_PLOT;
    fprintf(out, "<line class=\"axisline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", H_LEFT, base,
            SP_HTML_W - H_RIGHT, base);
    fprintf(out, "<line class=\"axisline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", H_LEFT, H_TOP,
            H_LEFT, base);
    /* y axis: 0, half and the largest count */
    for (int i = 0; i <= 2 && maxc; i++) {
        uint64_t c = maxc * (uint64_t)i / 2;
        double y = base - H_PLOT * (double)c / (double)maxc;
        fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%" PRIu64 "</text>",
                H_LEFT - 6, y + 4, c);
    }
    fprintf(out, "<text class=\"axis\" x=\"12\" y=\"%.1f\" transform=\"rotate(-90 12 %.1f)\" "
                 "text-anchor=\"middle\">%s</text>\n",
            H_TOP + H_PLOT / 2, H_TOP + H_PLOT / 2, h->unit);
    char a[48], b[48];
    for (size_t k = 0; k < h->nbins; k++) {
        if (!h->counts[k])
            continue;
        double e0 = sp_html_hist_edge(h, k), e1 = sp_html_hist_edge(h, k + 1);
        double x0 = hist_x(h, e0), x1 = hist_x(h, e1);
        double hh = H_PLOT * (double)h->counts[k] / (double)maxc;
        if (hh < 1)
            hh = 1; /* a non-empty bin stays visible */
        double w = x1 - x0 - 1 > 0.5 ? x1 - x0 - 1 : 0.5;
        sp_html_fmt_x(a, sizeof a, e0, h->x_is_fraction);
        sp_html_fmt_x(b, sizeof b, e1, h->x_is_fraction);
        fprintf(out,
                "<rect class=\"bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\">"
                "<title>%s to %s: %" PRIu64 " %s</title></rect>\n",
                x0 + 0.5, base - hh, w, hh, h->colour, a, b, h->counts[k], h->unit);
    }
    for (size_t m = 0; m < h->n_marks; m++) {
        double x = hist_x(h, h->marks[m].x);
        sp_html_fmt_x(a, sizeof a, h->marks[m].x, h->x_is_fraction);
        fprintf(out,
                "<g class=\"mark\"><title>%s = %s</title><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s %s</text></g>\n",
                h->marks[m].label, a, x, H_TOP - 2, x, base, x, 12.0 + 13.0 * (double)(m % 2), h->marks[m].label,
                a);
    }
    hist_axis(out, h, base);
    fputs("</svg>\n", out);
}

/* ---------- what-if ---------- */

static void fmt_opt_num(char *buf, size_t len, double v, int money)
{
    if (!isfinite(v) || v < 0)
        snprintf(buf, len, "n/a");
    else if (money) /* a cost per request, under "cost per 1M requests" */
        sp_rep_fmt_cost_per_request(buf, len, v, SP_REP_1M_DOLLARS);
    else
        snprintf(buf, len, "%.1f", v);
}

sp_status sp_report_write_html_whatif(const sp_whatif_row *rows, size_t n, FILE *out)
{
    return sp_html_whatif_section(rows, n, NULL, out);
}

sp_status sp_html_whatif_section(const sp_whatif_row *rows, size_t n, const char *warning, FILE *out)
{
    if (!out)
        return SP_ERR_INVALID;
    size_t shown = n < SP_HTML_MAX_WHATIF_ROWS ? n : SP_HTML_MAX_WHATIF_ROWS;
    if (!rows)
        shown = 0;
    fputs("<section id=\"whatif\"><h2>What if: other batching policies</h2>\n", out);
    if (warning) {
        fputs("<p class=\"warn\" id=\"whatif-thin\">", out);
        sp_html_esc(out, warning, 0);
        fputs("</p>\n", out);
    }
    if (!shown) {
        fputs("<p class=\"note\">No what-if results.</p></section>\n", out);
        return sp_rep_finish(out);
    }
    fputs("<p>Predicted by replaying the profiled arrivals through each policy (<code>servprof whatif</code>)."
          "</p>\n<table class=\"num\"><thead><tr><th>policy</th><th>p50</th><th>p95</th><th>p99</th>"
          "<th>throughput (req/s)</th><th>cost per 1M requests</th></tr></thead><tbody>\n",
          out);
    char b1[48], b2[48], b3[48], b4[48], b5[48];
    uint64_t maxv = 0;
    for (size_t i = 0; i < shown; i++) {
        const sp_whatif_row *w = &rows[i];
        maxv = w->p50_ns > maxv ? w->p50_ns : maxv;
        maxv = w->p95_ns > maxv ? w->p95_ns : maxv;
        maxv = w->p99_ns > maxv ? w->p99_ns : maxv;
        fputs(w->is_baseline ? "<tr class=\"baseline\"><td>" : "<tr><td>", out);
        sp_html_esc(out, w->policy, 200);
        if (w->is_baseline)
            fputs(" (measured)", out);
        fmt_opt_num(b4, sizeof b4, w->throughput_rps, 0);
        fmt_opt_num(b5, sizeof b5, w->cost_per_request, 1);
        fprintf(out, "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                sp_fmt_dur(b1, sizeof b1, (double)w->p50_ns), sp_fmt_dur(b2, sizeof b2, (double)w->p95_ns),
                sp_fmt_dur(b3, sizeof b3, (double)w->p99_ns), b4, b5);
    }
    fputs("</tbody></table>\n", out);
    if (shown < n)
        fprintf(out, "<p class=\"note\">%zu more policies not shown (at most %d).</p>\n", n - shown,
                SP_HTML_MAX_WHATIF_ROWS);
    /* grouped bars: p50, p95, p99 of each policy on one linear axis from 0 */
    static const char *const pct_names[3] = {"p50", "p95", "p99"};
    static const char *const pct_colours[3] = {"#a0cbe8", "#4e79a7", "#1c3f66"};
    const double left = 220, right = 80, row_h = 42, bar_h = 11, top = 10;
    double plot_w = SP_HTML_W - left - right;
    double height = top + row_h * (double)shown + 30;
    fprintf(out,
            "<svg class=\"chart\" id=\"whatif-chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
            "aria-labelledby=\"whatif-chart-t\"><title id=\"whatif-chart-t\">Predicted p50, p95 and p99 "
            "latency per batching policy</title>\n",
            SP_HTML_W, height);
    for (size_t i = 0; i < shown; i++) {
        const sp_whatif_row *w = &rows[i];
        double y = top + row_h * (double)i;
        fprintf(out, "<text class=\"label%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                w->is_baseline ? " strong" : "", left - 8, y + row_h / 2);
        sp_html_esc(out, w->policy, 40);
        fputs("</text>\n", out);
        uint64_t v[3] = {w->p50_ns, w->p95_ns, w->p99_ns};
        for (int j = 0; j < 3; j++) {
            double bw = maxv ? plot_w * (double)v[j] / (double)maxv : 0;
            double by = y + 4 + bar_h * j;
            fprintf(out, "<rect class=\"wbar\" x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\">"
                         "<title>",
                    left, by, bw, bar_h - 1, pct_colours[j]);
            sp_html_esc(out, w->policy, 200);
            fprintf(out, ": %s %s</title></rect>", pct_names[j], sp_fmt_dur(b1, sizeof b1, (double)v[j]));
            fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\">%s</text>\n", left + bw + 4, by + bar_h - 2,
                    b1);
        }
    }
    fprintf(out, "<line class=\"axisline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, top, left,
            top + row_h * (double)shown);
    fputs("</svg>\n", out);
    sp_html_legend(out, pct_names, pct_colours, 3);
    fputs("</section>\n", out);
    return sp_rep_finish(out);
}

void sp_html_share_seg(sp_html_share_bar *b, const char *name, double share)
{
    if (!(share > 0))
        return;
    FILE *out = b->out;
    double w = b->plot_w * (share > 1 ? 1 : share);
    if (b->x + w > b->left + b->plot_w)
        w = b->left + b->plot_w - b->x;
    char pc[32];
    sp_rep_fmt_pct(pc, sizeof pc, share);
    fprintf(out, "<rect class=\"seg\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"><title>",
            b->x, b->y, w, b->bar_h, sp_html_stage_colour(name));
    sp_html_esc(out, name, 200);
    fprintf(out, ": %s of %s</title></rect>", pc, b->of);
    if (w >= b->label_w) {
        fprintf(out, "<text class=\"seglabel\" x=\"%.1f\" y=\"%.1f\">", b->x + 4, b->y + b->bar_h / 2 + 4);
        sp_html_esc(out, name, b->label_bytes);
        fprintf(out, " %s</text>", pc);
    }
    fputc('\n', out);
    b->x += w;
}
