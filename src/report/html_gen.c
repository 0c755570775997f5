/* The HTML report's generation section (docs/html-report.md, docs/generation.md): TTFT, TPOT and ITL,
 * the verdicts on TTFT and on TPOT with their rankings, one stacked bar per table of the shares of its
 * p50/p95/p99, the two tables, steps, KV cache and cost per output token, and what the trace cannot
 * show. Formats what the analysis kept; everything from the trace is escaped. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/html_int.h"
#include "report/report_int.h"

static void kpi(FILE *out, const char *value, const char *label)
{
    fprintf(out, "<div class=\"kpi\"><b>%s</b><span>%s</span></div>", value, label);
}

static void verdict_box(FILE *out, const char *id, const char *what, const sp_verdict *v)
{
    char b[64];
    fprintf(out, "<div class=\"verdict%s\" id=\"%s\"><p class=\"big\">%s: ", v->stage ? "" : " none", id, what);
    sp_html_esc(out, v->sentence ? v->sentence : "no verdict", 2000);
    fputs("</p>", out);
    if (!v->stage || !v->n_ranking) {
        fputs("</div>\n", out);
        return;
    }
    fputs("<table class=\"num ranking\"><thead><tr><th>candidate</th><th>group</th><th>share of p95</th>"
          "<th>p95 saving</th><th>fix</th></tr></thead><tbody>\n", out);
    for (size_t k = 0; k < v->n_ranking; k++) {
        const sp_verdict_rank *q = &v->ranking[k];
        if (!(q->share_p95 > 0))
            continue;
        fputs(q->share_p95 < 0.05 ? "<tr class=\"minor\"><td>" : "<tr><td>", out);
        /* "useful decode kernel", the name the verdict sentence and the text report's ranking give it */
        size_t sl = strlen(q->stage);
        int useful = q->group == SP_GROUP_MODEL && sl >= 6 && !strcmp(q->stage + sl - 6, "kernel");
        if (useful && sl > 6)
            fputs("useful ", out);
        sp_html_esc(out, q->stage, 200);
        if (useful && sl == 6)
            fputs(" (useful)", out);
        fprintf(out, "</td><td>%s</td><td>%s</td>", sp_verdict_group_str(q->group),
                sp_rep_fmt_pct(b, sizeof b, q->share_p95));
        sp_fmt_dur(b, sizeof b, (double)q->saving_p95_ns);
        fprintf(out, "<td>%s</td><td class=\"fix\">", b);
        sp_html_esc(out, q->fix ? q->fix : "", 400);
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody></table></div>\n", out);
}

/* One bar per percentile of the table's figure, split by row share (each adds up to 100%). */
static void share_bars(FILE *out, const char *id, const char *figure, const sp_gen_table *t)
{
    if (!t->count)
        return;
    const double left = 120, right = 16, bar_h = 26, gap = 12, top = 6, plot_w = SP_HTML_W - left - right;
    fprintf(out, "<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-labelledby=\"%s-t\">"
                 "<title id=\"%s-t\">Row shares of p50, p95 and p99 %s</title>\n",
            id, SP_HTML_W, top + 3 * (bar_h + gap), id, id, figure);
    static const char *const names[3] = {"p50", "p95", "p99"};
    uint64_t val[3] = {t->value.p50_ns, t->value.p95_ns, t->value.p99_ns};
    char b[64];
    for (int j = 0; j < 3; j++) {
        double y = top + j * (bar_h + gap);
        sp_fmt_dur(b, sizeof b, (double)val[j]);
        fprintf(out, "<text class=\"strong\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s %s</text>\n", left - 8,
                y + bar_h / 2 + 4, names[j], b);
        sp_html_share_bar bar = {out, left, left, plot_w, y, bar_h, names[j], 90, 16};
        for (size_t i = 0; i < t->n_rows; i++) {
            const sp_gen_row *s = &t->rows[i];
            sp_html_share_seg(&bar, s->name, j == 0 ? s->share_p50 : j == 1 ? s->share_p95 : s->share_p99);
        }
    }
    fputs("</svg>\n", out);
}

/* A duration, or n/a where the table has no requests (the JSON's null; the text report's n/a). */
static const char *dur_or_na(char *buf, size_t len, double ns, int have)
{
    return sp_fmt_dur(buf, len, have ? ns : NAN);
}

static void table(FILE *out, const char *id, const char *figure, const char *total, const sp_gen_table *t)
{
    char a[32], b[32], c[32], d[32], s1[16], s2[16], s3[16];
    /* a table of no requests (none has a first token, or none has two output tokens) has no figures:
     * its rows and total read n/a, as in the JSON and the text report */
    int have = t->count > 0;
    fprintf(out, "<table class=\"num\" id=\"%s\"><thead><tr><th>%s stage</th><th>p50</th><th>p95</th><th>p99</th>"
                 "<th>mean</th><th>%% of p50</th><th>%% of p95</th><th>%% of p99</th></tr></thead><tbody>\n",
            id, figure);
    for (size_t i = 0; i < t->n_rows; i++) {
        const sp_gen_row *s = &t->rows[i];
        fputs("<tr><td>", out);
        sp_html_esc(out, s->name, 200);
        fprintf(out, "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                dur_or_na(a, sizeof a, (double)s->q.p50_ns, have), dur_or_na(b, sizeof b, (double)s->q.p95_ns, have),
                dur_or_na(c, sizeof c, (double)s->q.p99_ns, have), dur_or_na(d, sizeof d, s->q.mean_ns, have),
                sp_rep_fmt_pct(s1, sizeof s1, have ? s->share_p50 : NAN),
                sp_rep_fmt_pct(s2, sizeof s2, have ? s->share_p95 : NAN),
                sp_rep_fmt_pct(s3, sizeof s3, have ? s->share_p99 : NAN));
    }
    const sp_quantiles *q = &t->value;
    const char *all = have ? "100%" : "n/a";
    fprintf(out, "<tr><td><b>%s</b></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                 "<td>%s</td></tr>\n</tbody></table>\n",
            total, dur_or_na(a, sizeof a, (double)q->p50_ns, have), dur_or_na(b, sizeof b, (double)q->p95_ns, have),
            dur_or_na(c, sizeof c, (double)q->p99_ns, have), dur_or_na(d, sizeof d, q->mean_ns, have), all, all, all);
}

void sp_rep_html_generation(FILE *out, const sp_report *r)
{
    const sp_gen_summary *g = r->generation;
    char b[64], e[64];
    fputs("<section id=\"generation\"><h2>Generation: time to first token and time per output token</h2>\n"
          "<p>TTFT is each request's time to its first output token, TPOT its time per output token after the "
          "first; both tables partition that time by stage, and each share is of the requests around that "
          "percentile of the table's own figure.</p>\n<div class=\"kpis\">", out);
    const struct { const char *label; const sp_quantiles *q; } k[] = {
        {"TTFT p95", &g->ttft}, {"TPOT p95", &g->tpot}, {"ITL p95", &g->itl}, {"end-to-end p95", &g->e2e}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (k[i].q->count)
            sp_fmt_dur(b, sizeof b, (double)k[i].q->p95_ns);
        else
            snprintf(b, sizeof b, "n/a");
        kpi(out, b, k[i].label);
    }
    snprintf(b, sizeof b, "%" PRIu64, g->output_tokens);
    kpi(out, b, "output tokens");
    if (g->output_tokens && r->cost.window_ns)
        kpi(out, sp_rep_fmt_cost_per_request(b, sizeof b, g->cost_per_output_token, SP_REP_1M_DOLLARS),
            "cost per 1M output tokens");
    fputs("</div>\n", out);
    if (g->client_requests) {
        fprintf(out, "<p>The streaming client (%" PRIu64 " requests, from the intended send time): TTFT p95 %s, "
                "TPOT p95 %s, ", g->client_requests, sp_fmt_dur(b, sizeof b, (double)g->client_ttft.p95_ns),
                sp_fmt_dur(e, sizeof e, (double)g->client_tpot.p95_ns));
        fprintf(out, "ITL p95 %s, ", sp_fmt_dur(b, sizeof b, (double)g->client_itl.p95_ns));
        fprintf(out, "end-to-end p95 %s.</p>\n", sp_fmt_dur(b, sizeof b, (double)g->client_e2e.p95_ns));
    }
    verdict_box(out, "verdict-ttft", "TTFT", &g->ttft_table.verdict);
    verdict_box(out, "verdict-tpot", "TPOT", &g->tpot_table.verdict);
    share_bars(out, "ttft-shares", "TTFT", &g->ttft_table);
    /* with a client trace the TTFT table's requests are timed from the send (the text report's "TTFT
     * (sent)"): its total is not the server's TTFT above */
    table(out, "ttft-table", "TTFT", g->has_client ? "TTFT (sent)" : "TTFT", &g->ttft_table);
    share_bars(out, "tpot-shares", "TPOT", &g->tpot_table);
    table(out, "tpot-table", "TPOT", "TPOT", &g->tpot_table);
    if (g->steps) {
        fprintf(out, "<p>%" PRIu64 " steps, %" PRIu64 " with a prefill member; padding waste %s in prefill steps, ",
                g->steps, g->prefill_steps, sp_rep_fmt_pct(b, sizeof b, g->padding_prefill.waste_fraction));
        fprintf(out, "%s in decode-only steps", sp_rep_fmt_pct(b, sizeof b, g->padding_decode.waste_fraction));
        if (g->kv_steps)
            fprintf(out, "; KV cache of %" PRId64 " tokens, occupancy p95 %s, %s unused (time-weighted)",
                    g->kv_capacity_tokens, sp_rep_fmt_pct(b, sizeof b, g->kv_occupancy_p95),
                    sp_rep_fmt_pct(e, sizeof e, g->kv_waste_fraction));
        fputs(".</p>\n", out);
    }
    if (g->n_limits) {
        fputs("<p class=\"note\">What this trace cannot show:</p><ul class=\"note\">", out);
        for (size_t i = 0; i < g->n_limits; i++) {
            fputs("<li>", out);
            sp_html_esc(out, g->limits[i], 1000);
            fputs("</li>", out);
        }
        fputs("</ul>\n", out);
    }
    fputs("</section>\n", out);
}
