/* Internals of the HTML report (html.c writes the page, html_chart.c the SVG pieces; diff_html.c
 * writes the diff page in the same style): HTML escaping
 * that always yields valid text, the fixed colour of each stage, and chart primitives whose output
 * size depends only on their bin/row counts. Shared with the unit tests. */
#ifndef SERVPROF_HTML_INT_H
#define SERVPROF_HTML_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "servprof/analyze.h"
#include "servprof/report.h"

/* sp_report_write_html_whatif with a warning (NULL: none) shown first, in the warning style. */
sp_status sp_html_whatif_section(const sp_whatif_row *rows, size_t n, const char *warning, FILE *out);

/* Charts are drawn in a viewBox this wide and scale to the page width. */
#define SP_HTML_W 900.0

/* Writes `s` as HTML text or attribute value: & < > " ' become references; bytes that are not
 * well-formed UTF-8, control characters (other than tab and newline) and noncharacters become
 * U+FFFD, so nothing from a trace can open a tag or break the document. At most `max_bytes` input
 * bytes (0: no limit), cut at a character boundary with an ellipsis. */
void sp_html_esc(FILE *out, const char *s, size_t max_bytes);

/* The fixed colour ("#rrggbb") of a stage, the same in every chart: the built-in stages and
 * "padding" have their own, any other name gets one from a palette by a hash of the name. */
const char *sp_html_stage_colour(const char *name);
/* Cost states reuse the colour of the stage they come from (useful: kernel, copies: h2d, ...). */
const char *sp_html_cost_colour(sp_cost_state s);

/* A labelled vertical line on a histogram (a percentile). */
typedef struct sp_html_marker {
    double x;
    const char *label;       /* static text, e.g. "p95" */
} sp_html_marker;

typedef struct sp_html_hist {
    const char *id;          /* element id ([a-z0-9-], not from the trace) */
    const char *title;       /* accessible name of the chart */
    const char *unit;        /* what is counted: "requests", "batches" */
    const uint64_t *counts;  /* nbins counts */
    size_t nbins;
    double lo, hi;           /* x range of the bins: bin k covers edge(k) .. edge(k+1) */
    int log_x;               /* bins and axis are log-spaced (lo > 0) */
    int x_is_fraction;       /* x values are fractions shown as percentages, else ns */
    const char *colour;
    const sp_html_marker *marks;
    size_t n_marks;
} sp_html_hist;

/* A histogram as one <svg>: one rect class="bar" per non-empty bin, each with a <title> giving its
 * range and count; axes with labels; markers as lines with text. */
void sp_html_histogram(FILE *out, const sp_html_hist *h);

/* Lower edge of bin k of h (k == nbins gives hi). */
double sp_html_hist_edge(const sp_html_hist *h, size_t k);
/* Bin of value v in h, clamped to [0, nbins). */
size_t sp_html_hist_bin(const sp_html_hist *h, double v);

/* A bar of shares drawn left to right (the stage-share charts of the report, its generation section
 * and the diff page): `x` starts at `left` and advances with each segment; `of` ("p95") ends each
 * segment's title; a segment at least `label_w` wide is labelled with its name (cut at `label_bytes`)
 * and share. */
typedef struct sp_html_share_bar {
    FILE *out;
    double x, left, plot_w, y, bar_h;
    const char *of;
    double label_w;
    size_t label_bytes;
} sp_html_share_bar;

/* The next segment of bar b: `name`'s share (nothing when not > 0), in the stage's colour, cut at the
 * bar's end (a share over 1 counts as 1). */
void sp_html_share_seg(sp_html_share_bar *b, const char *name, double share);

/* A legend (HTML list of colour swatches and names; names escaped). */
void sp_html_legend(FILE *out, const char *const *names, const char *const *colours, size_t n);

/* The page's start, up to and including its <h1> (the title, escaped): doctype, head with the one
 * stylesheet of every servprof page (the analysis report, the diff), body. */
void sp_html_page_open(FILE *out, const char *title);

/* An <svg class="chart"> of viewBox width SP_HTML_W and `height`, named by `title` (static text). */
void sp_html_svg_open(FILE *out, const char *id, double height, const char *title);

/* Text for a value on an axis: a duration ("4.56 ms") or a percentage. */
void sp_html_fmt_x(char *buf, size_t len, double v, int is_fraction);

#endif
