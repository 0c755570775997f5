/* The terminal diff (docs/diff.md, "Output"): the two runs, end-to-end latency, each stage's
 * percentiles and share of p95, padding and cost, each with BASE, NEW, the change and its interval;
 * the verdict before and after; the conditions and whether they hold. Readable at 100 columns. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "report/diff_fmt.h"
#include "report/report_int.h"
#include "servprof/diff.h"
#include "servprof/report.h"

/* label column, then BASE, NEW, change, interval */
#define COL_LABEL 20

static void row(FILE *out, const char *label, const sp_diff_metric *m)
{
    char b[48], a[48], c[64], iv[96];
    sp_rep_diff_value(b, sizeof b, m->unit, m->base_value);
    sp_rep_diff_value(a, sizeof a, m->unit, m->new_value);
    sp_rep_diff_change_rel(c, sizeof c, m);
    sp_rep_diff_interval(iv, sizeof iv, m);
    char name[64];
    sp_rep_fmt_name(name, sizeof name, label, COL_LABEL);
    fprintf(out, "  %-*s %10s %10s  %-22s %s%s\n", COL_LABEL, name, b, a, c, iv,
            sp_rep_diff_excludes_zero(m) ? " *" : "");
}

static void head(FILE *out, const sp_diff *d, const char *title)
{
    char iv[48];
    if (d->intervals)
        snprintf(iv, sizeof iv, "%g%% interval", d->opt.confidence * 100);
    else
        snprintf(iv, sizeof iv, "interval");
    fprintf(out, "\n%-*s %10s %10s  %-22s %s\n", COL_LABEL + 2, title, "BASE", "NEW", "change", iv);
}

static void write_side(FILE *out, const char *tag, const sp_diff_side *s)
{
    char inputs[160];
    fprintf(out, "  %-4s %s: %" PRIu64 " requests, %s\n", tag, s->label, s->requests,
            sp_rep_diff_side_inputs(inputs, sizeof inputs, s));
}

static void write_header(FILE *out, const sp_diff *d)
{
    fputs("servprof diff\n", out);
    write_side(out, "BASE", &d->base);
    write_side(out, "NEW", &d->after);
    char line[512];
    if (d->intervals) {
        char blocks[96];
        sp_rep_diff_blocks(blocks, sizeof blocks, d);
        snprintf(line, sizeof line,
                 "Changes carry %g%% bootstrap intervals over requests (%u resamples of each run, in %s, seed "
                 "%" PRIu64 "); * marks a change whose interval excludes 0. Padding waste and cost are point "
                 "estimates.",
                 d->opt.confidence * 100, d->opt.resamples, blocks, d->opt.seed);
    } else {
        sp_rep_diff_no_interval_reason(line, sizeof line, d);
    }
    sp_rep_wrap(out, line, 0, 0);
    if (*sp_rep_diff_e2e_note(line, sizeof line, d))
        sp_rep_wrap(out, line, 0, 0);
    if (*sp_rep_diff_kind_note(line, sizeof line, d))
        sp_rep_wrap(out, line, 0, 0);
}

static const sp_diff_metric *find(const sp_diff *d, const char *path)
{
    return sp_diff_find(d, path);
}

static void write_latency(FILE *out, const sp_diff *d)
{
    head(out, d, "end-to-end latency");
    static const char *const p[3] = {"latency.p50", "latency.p95", "latency.p99"};
    for (int j = 0; j < 3; j++) {
        const sp_diff_metric *m = find(d, p[j]);
        if (m)
            row(out, p[j] + 8, m);
    }
}

/* A stage with no time in either run at any figure is listed on one line, not as four rows. */
static int stage_idle(const sp_diff *d, size_t u)
{
    for (size_t k = 0; k < d->n_metrics; k++) {
        const sp_diff_metric *m = &d->metrics[k];
        if (m->stage == d->stages[u].name && (m->base_value != 0 || m->new_value != 0))
            return 0;
    }
    return 1;
}

static void write_stages(FILE *out, const sp_diff *d)
{
    head(out, d, "stages");
    static const char *const field[4] = {"p50", "p95", "p99", "share of p95"};
    char idle[512];
    size_t o = 0;
    idle[0] = '\0';
    for (size_t u = 0; u < d->n_stages; u++) {
        const sp_diff_stage *s = &d->stages[u];
        if (stage_idle(d, u)) {
            if (o + 1 < sizeof idle)
                o += (size_t)snprintf(idle + o, sizeof idle - o, "%s%s", o ? ", " : "", s->name);
            continue;
        }
        char name[48];
        sp_rep_fmt_name(name, sizeof name, s->name, 30);
        fprintf(out, "  %s%s\n", name,
                !s->in_base ? " (not in BASE: 0 there)" : !s->in_new ? " (not in NEW: 0 there)" : "");
        size_t f = 0;
        for (size_t k = 0; k < d->n_metrics && f < 4; k++) {
            const sp_diff_metric *m = &d->metrics[k];
            if (m->stage != s->name)
                continue;
            char label[32];
            snprintf(label, sizeof label, "  %s", field[f++]);
            row(out, label, m);
        }
    }
    if (o)
        fprintf(out, "  no time in either run: %s\n", idle);
}

static void write_padding_cost(FILE *out, const sp_diff *d)
{
    head(out, d, "padding");
    static const struct {
        const char *path, *label;
    } pad[] = {{"padding.share_of_p95", "share of p95"},
               {"padding.waste_fraction", "waste"},
               {"padding.share_of_bill", "share of the bill"}};
    for (size_t i = 0; i < sizeof pad / sizeof pad[0]; i++) {
        const sp_diff_metric *m = find(d, pad[i].path);
        if (m)
            row(out, pad[i].label, m);
    }
    head(out, d, "cost per 1M requests");
    const sp_diff_metric *m = find(d, "cost.per_request");
    if (m)
        row(out, "all", m);
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        char path[64];
        snprintf(path, sizeof path, "cost.per_request_by_state.%s", sp_cost_state_str((sp_cost_state)s));
        if ((m = find(d, path)))
            row(out, sp_cost_state_str((sp_cost_state)s), m);
    }
    if (isfinite(d->base.price_per_hour) && isfinite(d->after.price_per_hour) &&
        d->base.price_per_hour != d->after.price_per_hour)
        fputs("  note: the runs are priced differently per hour: a cost change is partly a price change\n", out);
}

static void write_verdict_side(FILE *out, const char *tag, const sp_diff_side *s)
{
    char pct[32], name[160];
    if (s->verdict_stage) {
        sp_rep_fmt_name(name, sizeof name, s->verdict_stage, 60);
        fprintf(out, "  %-4s  %s (%s), %s of p95\n", tag, name, s->verdict_group,
                sp_rep_fmt_pct(pct, sizeof pct, s->verdict_share_p95));
    } else {
        fprintf(out, "  %-4s  no candidate\n", tag);
    }
    fputs("        ", out);
    sp_rep_wrap(out, s->verdict_sentence ? s->verdict_sentence : "(no verdict)", 8, 8);
}

static void write_verdicts(FILE *out, const sp_diff *d)
{
    fputs("\nverdict\n", out);
    write_verdict_side(out, "BASE", &d->base);
    write_verdict_side(out, "NEW", &d->after);
    const char *b = d->base.verdict_stage, *a = d->after.verdict_stage;
    if ((b == NULL) != (a == NULL) || (b && a && strcmp(b, a) != 0))
        fprintf(out, "  the verdict moved: %s -> %s\n", b ? b : "none", a ? a : "none");
    else
        fputs("  the verdict names the same candidate in both runs\n", out);
}

static void write_checks(FILE *out, const sp_diff *d)
{
    if (!d->n_checks)
        return;
    fputs("\nconditions (--fail-if)\n", out);
    for (size_t i = 0; i < d->n_checks; i++) {
        const sp_diff_check *k = &d->checks[i];
        char bound[48], thr[48], basis[256], spec[SP_DIFF_MAX_SPEC + 8];
        sp_rep_diff_bound(bound, sizeof bound, k);
        sp_rep_diff_threshold(thr, sizeof thr, &k->cond);
        sp_rep_diff_basis_words(d, k, basis, sizeof basis);
        sp_rep_fmt_name(spec, sizeof spec, k->cond.spec, 90);
        fprintf(out, "  %-5s  %s\n", k->holds ? "HOLDS" : "ok", spec);
        if (k->base_zero)
            fprintf(out, "         BASE is 0: any rise counts as beyond %s, and the change (%s) %s\n", thr, basis,
                    k->holds ? "is a rise" : "is not");
        else
            fprintf(out, "         %s (%s) %s %s\n", bound, basis, k->holds ? "is beyond" : "is not beyond", thr);
    }
    char count[96];
    fprintf(out, "%s%s\n", sp_rep_diff_gate_count(count, sizeof count, d),
            d->n_holding ? ": servprof diff exits 3" : "");
}

sp_status sp_diff_write_text(const sp_diff *d, FILE *out)
{
    if (!d || !out)
        return SP_ERR_INVALID;
    write_header(out, d);
    write_latency(out, d);
    write_stages(out, d);
    write_padding_cost(out, d);
    write_verdicts(out, d);
    write_checks(out, d);
    return sp_rep_finish(out);
}
