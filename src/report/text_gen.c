/* The text report's generation section (docs/generation.md, docs/report-format.md): TTFT, TPOT, ITL
 * and end-to-end (the server's, and the streaming client's from intended send times), the TTFT and TPOT
 * tables with their shares, steps with padding and the KV cache, cost per output token, what the trace
 * cannot show, and the verdicts on TTFT and on TPOT. Formats what the analysis kept. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report_int.h"

static void quantile_line(FILE *out, const char *label, const sp_quantiles *q)
{
    char a[24], b[24], c[24], d[24], e[24];
    if (!q->count) {
        fprintf(out, "  %-6s none\n", label);
        return;
    }
    fprintf(out, "  %-6s p50 %-9s p95 %-9s p99 %-9s mean %-9s max %s  (%" PRIu64 ")\n", label,
            sp_fmt_dur(a, sizeof a, (double)q->p50_ns), sp_fmt_dur(b, sizeof b, (double)q->p95_ns),
            sp_fmt_dur(c, sizeof c, (double)q->p99_ns), sp_fmt_dur(d, sizeof d, q->mean_ns),
            sp_fmt_dur(e, sizeof e, (double)q->max_ns), q->count);
}

/* A duration, or n/a where the table has no requests (the JSON's null: no invented 0 ns). */
static const char *dur_or_na(char *buf, size_t len, double ns, int have)
{
    return sp_fmt_dur(buf, len, have ? ns : NAN);
}

static void table(FILE *out, const char *title, const char *figure, const sp_gen_table *t)
{
    char name[32], a[24], b[24], c[24], d[24], s1[16], s2[16], s3[16];
    /* a table of no requests (none has a first token, or none has two output tokens) has no figures:
     * its rows and total read n/a, as in the JSON, where they once read 0 ns and 0.0% of 100.0% */
    int have = t->count > 0;
    fprintf(out, "\n%-16s %10s %10s %10s %10s   %9s %9s %9s\n", title, "p50", "p95", "p99", "mean", "% of p50",
            "% of p95", "% of p99");
    for (size_t i = 0; i < t->n_rows; i++) {
        const sp_gen_row *s = &t->rows[i];
        fprintf(out, "%-16s %10s %10s %10s %10s   %9s %9s %9s\n", sp_rep_fmt_name(name, sizeof name, s->name, 16),
                dur_or_na(a, sizeof a, (double)s->q.p50_ns, have), dur_or_na(b, sizeof b, (double)s->q.p95_ns, have),
                dur_or_na(c, sizeof c, (double)s->q.p99_ns, have), dur_or_na(d, sizeof d, s->q.mean_ns, have),
                sp_rep_fmt_pct(s1, sizeof s1, have ? s->share_p50 : NAN),
                sp_rep_fmt_pct(s2, sizeof s2, have ? s->share_p95 : NAN),
                sp_rep_fmt_pct(s3, sizeof s3, have ? s->share_p99 : NAN));
    }
    const sp_quantiles *q = &t->value;
    const char *all = have ? "100.0%" : "n/a";
    fprintf(out, "%-16s %10s %10s %10s %10s   %9s %9s %9s\n", figure, dur_or_na(a, sizeof a, (double)q->p50_ns, have),
            dur_or_na(b, sizeof b, (double)q->p95_ns, have), dur_or_na(c, sizeof c, (double)q->p99_ns, have),
            dur_or_na(d, sizeof d, q->mean_ns, have), all, all, all);
}

static void padding_part(char *buf, size_t len, const char *what, const sp_gen_padding *p)
{
    char pc[16];
    if (!p->steps)
        snprintf(buf, len, "%s: none with token counts", what);
    else
        snprintf(buf, len, "%s: %" PRId64 " effective of %" PRId64 " padded tokens (%s waste)", what,
                 p->effective_tokens, p->padded_tokens, sp_rep_fmt_pct(pc, sizeof pc, p->waste_fraction));
}

static void steps_part(FILE *out, const sp_gen_summary *g)
{
    char line[1024], x[256], y[256], a[16], b[16], c[16], d[16];
    if (!g->steps)
        return;
    snprintf(line, sizeof line, "steps: %" PRIu64 " (%" PRIu64 " with a prefill member); requests per step p50 %"
             PRIu64 ", max %" PRIu64, g->steps, g->prefill_steps, g->step_members.p50_ns, g->step_members.max_ns);
    fputs("\n", out);
    sp_rep_wrap(out, line, 0, 2);
    padding_part(x, sizeof x, "prefill steps", &g->padding_prefill);
    padding_part(y, sizeof y, "decode-only steps", &g->padding_decode);
    snprintf(line, sizeof line, "padding: %s; %s", x, y);
    fputs("  ", out);
    sp_rep_wrap(out, line, 2, 4);
    if (g->kv_steps) {
        snprintf(line, sizeof line, "KV cache: capacity %" PRId64 " tokens; in use %.0f tokens on average "
                 "(time-weighted); occupancy per step p50 %s, p95 %s, max %s; %s of it unused (waste)",
                 g->kv_capacity_tokens, g->kv_used_mean_tokens, sp_rep_fmt_pct(a, sizeof a, g->kv_occupancy_p50),
                 sp_rep_fmt_pct(b, sizeof b, g->kv_occupancy_p95), sp_rep_fmt_pct(c, sizeof c, g->kv_occupancy_max),
                 sp_rep_fmt_pct(d, sizeof d, g->kv_waste_fraction));
        fputs("  ", out);
        sp_rep_wrap(out, line, 2, 4);
    }
}

static void cost_part(FILE *out, const sp_report *r, const sp_gen_summary *g)
{
    if (!g->output_tokens || !r->cost.window_ns)
        return;
    char line[1024], m[32];
    size_t o = (size_t)snprintf(line, sizeof line, "cost per 1M output tokens: %s (",
                                sp_rep_fmt_cost_per_request(m, sizeof m, g->cost_per_output_token, SP_REP_1M_DOLLARS));
    for (int s = 0; s < SP_COST_STATE_COUNT && o < sizeof line; s++)
        o += (size_t)snprintf(line + o, sizeof line - o, "%s%s %s", s ? ", " : "", sp_cost_state_str((sp_cost_state)s),
                              sp_rep_fmt_cost_per_request(m, sizeof m, g->cost_per_output_token_by_state[s],
                                                          SP_REP_1M_DOLLARS));
    if (o < sizeof line)
        o += (size_t)snprintf(line + o, sizeof line - o, ")");
    const sp_quantiles *q = &g->request_cost_per_token_nano;
    if (q->count && o < sizeof line) {
        char a[32], b[32];
        snprintf(line + o, sizeof line - o, "; one request's cost per 1M output tokens (its steps' device time by "
                 "its tokens in each step) p50 %s, p95 %s%s",
                 sp_rep_fmt_cost_per_request(a, sizeof a, (double)q->p50_ns * 1e-9, SP_REP_1M_DOLLARS),
                 sp_rep_fmt_cost_per_request(b, sizeof b, (double)q->p95_ns * 1e-9, SP_REP_1M_DOLLARS),
                 r->batch_count ? "" : " (no step in the trace: no device time is any request's)");
    }
    sp_rep_wrap(out, line, 0, 2);
}

static void verdict_part(FILE *out, const char *label, const sp_verdict *v)
{
    fprintf(out, "%s ", label);
    sp_rep_wrap(out, v->sentence ? v->sentence : "none (nothing to judge)", strlen(label) + 1, 9);
    sp_rep_text_ranking(out, v);
}

void sp_rep_text_generation(FILE *out, const sp_report *r)
{
    const sp_gen_summary *g = r->generation;
    char line[512];
    snprintf(line, sizeof line, "generation: %" PRIu64 " %s with output tokens, %" PRIu64 " output tokens "
             "(per request p50 %" PRIu64 ", max %" PRIu64 ")", g->requests, g->requests == 1 ? "request" : "requests",
             g->output_tokens, g->output_tokens_per_request.p50_ns, g->output_tokens_per_request.max_ns);
    fputs("\n", out);
    sp_rep_wrap(out, line, 0, 2);
    quantile_line(out, "TTFT", &g->ttft);
    quantile_line(out, "TPOT", &g->tpot);
    quantile_line(out, "ITL", &g->itl);
    quantile_line(out, "e2e", &g->e2e);
    if (g->client_requests) {
        fprintf(out, "  client, from the intended send time (%" PRIu64 " %s):\n", g->client_requests,
                g->client_requests == 1 ? "request" : "requests");
        quantile_line(out, "TTFT", &g->client_ttft);
        quantile_line(out, "TPOT", &g->client_tpot);
        quantile_line(out, "ITL", &g->client_itl);
        quantile_line(out, "e2e", &g->client_e2e);
    }
    table(out, "TTFT stage", g->has_client ? "TTFT (sent)" : "TTFT", &g->ttft_table);
    table(out, "TPOT stage", "TPOT", &g->tpot_table);
    fprintf(out, "(TTFT: each request's [%s, first token]; TPOT: its [first token, last token] / (output tokens - 1);\n"
                 " %% of pXX is over each table's own requests around its pXX rank)\n",
            g->has_client ? "send" : "arrival");
    steps_part(out, g);
    cost_part(out, r, g);
    for (size_t i = 0; i < g->n_limits; i++) {
        fputs("  cannot show: ", out);
        sp_rep_wrap(out, g->limits[i], 16, 4);
    }
    fputs("\n", out);
    verdict_part(out, "TTFT verdict:", &g->ttft_table.verdict);
    verdict_part(out, "TPOT verdict:", &g->tpot_table.verdict);
}
