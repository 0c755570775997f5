/* Writers of a what-if study (report.h): the terminal table (durations in the report's units, columns
 * sized to their contents, an extrapolation mark per row), the servprof.whatif/1 JSON object and the
 * HTML report with the study as its what-if section. They read the study through whatif.h alone.
 * docs/whatif.md, "Output" and "JSON", describe them. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_int.h"
#include "servprof/report.h"
#include "servprof/whatif.h"

/* A cost per unit that may be far below a nanosecond (per padded token on a GPU): the report's
 * duration format, with significant digits below 10 ns where it would round to "0 ns". */
static char *fmt_cost(char *buf, size_t len, double ns)
{
    if (ns != 0 && fabs(ns) < 10)
        snprintf(buf, len, "%.3g ns", ns);
    else
        sp_fmt_dur(buf, len, round(ns)); /* whole ns: 999999.99 ns is "1.00 ms" */
    return buf;
}

/* ---- the observed policy and the fit ---- */

static const char *origin_reason(sp_whatif_setting s, const sp_whatif_workload *w)
{
    switch (s) {
    case SP_WHATIF_SET_MAX_BATCH: return " (the largest batch seen)";
    case SP_WHATIF_SET_DELAY:
        return w && w->head_wait_all_full
                   ? " (every batch was full, so none left at the deadline: at least the longest wait of a batch's "
                     "oldest member, taken as it)"
                   : " (the median wait of the oldest member of batches smaller than the largest)";
    case SP_WHATIF_SET_MAX_LEN: return " (the longest input seen)";
    case SP_WHATIF_SET_QUEUE_CAPACITY: return " (the most requests waiting at once)";
    default: return "";
    }
}

static void write_observed(FILE *out, const sp_whatif_study *s)
{
    const sp_whatif_observed *o = s->observed;
    char v[SP_WHATIF_PAD_STR_MAX];
    fputs("observed policy:", out);
    for (int k = 0; k < SP_WHATIF_SET_COUNT; k++)
        fprintf(out, "%s %s %s", k ? "," : "", sp_whatif_setting_str((sp_whatif_setting)k),
                sp_whatif_setting_value(&o->policy, (sp_whatif_setting)k, v, sizeof v));
    fputc('\n', out);
    static const struct {
        sp_whatif_origin origin;
        const char *what;
    } groups[] = {
        {SP_WHATIF_FROM_TRACE, "read from the trace"},
        {SP_WHATIF_FROM_OPTION, "given as options"},
        {SP_WHATIF_FROM_INFERRED, "inferred from the profile (not in the trace)"},
        {SP_WHATIF_FROM_DEFAULT, "assumed, the reference service's defaults (not in the trace)"},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        int first = 1;
        for (int k = 0; k < SP_WHATIF_SET_COUNT; k++) {
            if (o->origin[k] != groups[g].origin)
                continue;
            if (first) {
                fprintf(out, "  %s", groups[g].what);
                if (groups[g].origin == SP_WHATIF_FROM_TRACE && o->source[0])
                    fprintf(out, " (%s)", o->source);
                fputc(':', out);
            }
            fprintf(out, "%s %s", first ? "" : ",", sp_whatif_setting_str((sp_whatif_setting)k));
            if (groups[g].origin == SP_WHATIF_FROM_INFERRED)
                fputs(origin_reason((sp_whatif_setting)k, s->workload), out);
            first = 0;
        }
        if (!first)
            fputc('\n', out);
    }
    if (o->file < 0)
        fputs("  the trace does not carry the batching policy (no policy.* properties)\n", out);
    if (o->files_differ)
        fprintf(out, "  warning: the files' policies differ (%s): the first file's is used\n", o->differ);
}

/* " t = 140.2 us + 6.3 us x size + ...", negative terms with a minus sign */
static void write_model(FILE *out, const double c[4], unsigned used)
{
    static const char *const unit[4] = {"", " x size", " x padded tokens", " x size x len^2"};
    char b[48];
    int first = 1;
    fputs(" t =", out);
    for (unsigned j = 0; j < 4; j++) {
        if (!(used & (1u << j)) || c[j] == 0)
            continue;
        fprintf(out, "%s%s%s", first ? (c[j] < 0 ? " -" : "") : (c[j] < 0 ? " - " : " + "),
                first && c[j] >= 0 ? " " : "", fmt_cost(b, sizeof b, fabs(c[j])));
        fputs(unit[j], out);
        first = 0;
    }
    if (first)
        fputs(" 0", out);
}

static void write_fit(FILE *out, const sp_whatif_study *s)
{
    const sp_whatif_fit *f = s->fit;
    fprintf(out, "service time per batch, non-negative least squares over %zu %s:", f->n,
            sp_rep_plural(f->n, "batch", "batches"));
    write_model(out, f->coef, f->used);
    fputc('\n', out);
    if (f->clamped) {
        /* the unconstrained fit, for the record: what a plain least squares would have predicted with */
        fputs("  held at 0 by the constraint:", out);
        int first = 1;
        for (unsigned j = 0; j < 4; j++)
            if (f->clamped & (1u << j)) {
                fprintf(out, "%s %s", first ? "" : ",", sp_whatif_term_name(j));
                first = 0;
            }
        fputs(" (unconstrained:", out);
        write_model(out, f->coef_ls, f->used);
        fputs(")\n", out);
    }
    if (!(f->used & 0xcu) && f->len_min == f->len_max)
        fprintf(out, "  no cost per padded token: every batch is padded to %u tokens, so predictions for other padded "
                     "lengths (marked !) assume padding costs nothing\n",
                f->len_max);
    fprintf(out, "  R^2 %.3f, mean abs error %.1f%%, over batches of %u..%u requests padded to %u..%u tokens\n",
            f->r2, f->mape * 100.0, f->size_min, f->size_max, f->len_min, f->len_max);
    if (s->sim.resample)
        fputs("  each simulated batch's time is scaled by a relative residual of the fit drawn at random\n", out);
}

/* ---- the table ---- */

enum {
    C_LABEL, C_MB, C_DELAY, C_PAD, C_INST, C_P50, C_P95, C_P99, C_RPS, C_UTIL, C_BATCH, C_WASTE, C_REJ, C_COST,
    C_SLO, C_MARK, NCOL
};
static const char *const col_head[NCOL] = {"policy", "max-batch", "max-queue-delay", "pad", "inst", "p50", "p95", "p99",
                                           "req/s", "util", "batch", "waste", "503s", "$/1M req", "SLO", ""};
static const unsigned char col_left[NCOL] = {[C_LABEL] = 1, [C_PAD] = 1, [C_SLO] = 1, [C_MARK] = 1};
#define CELL 128

typedef char table_row[NCOL][CELL];

static void fill_policy(table_row row, const sp_whatif_policy *p)
{
    sp_whatif_setting_value(p, SP_WHATIF_SET_MAX_BATCH, row[C_MB], CELL);
    sp_whatif_setting_value(p, SP_WHATIF_SET_DELAY, row[C_DELAY], CELL);
    sp_whatif_setting_value(p, SP_WHATIF_SET_PAD, row[C_PAD], CELL);
    sp_whatif_setting_value(p, SP_WHATIF_SET_INSTANCES, row[C_INST], CELL);
}

static void fill_latency(table_row row, const sp_quantiles *q)
{
    sp_fmt_dur(row[C_P50], CELL, (double)q->p50_ns);
    sp_fmt_dur(row[C_P95], CELL, (double)q->p95_ns);
    sp_fmt_dur(row[C_P99], CELL, (double)q->p99_ns);
}

static void fill_result(table_row row, const sp_whatif_study *s, size_t i)
{
    const sp_whatif_result *r = &s->results[i];
    snprintf(row[C_LABEL], CELL, "%s", i == 0 ? "observed*" : "");
    fill_policy(row, &r->policy);
    fill_latency(row, &r->latency);
    snprintf(row[C_RPS], CELL, "%.1f", r->throughput_rps);
    snprintf(row[C_UTIL], CELL, "%.0f%%", r->utilisation * 100.0);
    snprintf(row[C_BATCH], CELL, "%.2f", r->mean_batch);
    sp_rep_fmt_pct(row[C_WASTE], CELL, r->waste);
    snprintf(row[C_REJ], CELL, "%" PRIu64, r->rejected);
    sp_rep_fmt_cost_per_request(row[C_COST], CELL, r->cost_per_request, SP_REP_1M_NUMBER);
    if (s->slo_p95_ns)
        snprintf(row[C_SLO], CELL, "%s", s->slo_met && s->slo_best == i ? "<- cheapest meeting SLO"
                                         : r->meets_slo                ? "yes"
                                                                       : "no");
    snprintf(row[C_MARK], CELL, "%s", r->extrapolated_batches ? "!" : "");
}

static void print_row(FILE *out, const table_row row, const size_t *width, int last_col, const unsigned char *skip)
{
    /* trailing blanks are not printed: the last non-empty column ends the line */
    while (last_col > 0 && (skip[last_col] || !row[last_col][0]))
        last_col--;
    for (int c = 0; c <= last_col; c++) {
        if (skip[c])
            continue;
        if (c)
            fputs("  ", out);
        int w = (int)width[c];
        if (c == last_col && col_left[c])
            fputs(row[c], out);
        else
            fprintf(out, col_left[c] ? "%-*s" : "%*s", w, row[c]);
    }
    fputc('\n', out);
}

static sp_status write_table(FILE *out, const sp_whatif_study *s)
{
    const sp_whatif_workload *w = s->workload;
    size_t nrows = s->n_results + 2; /* header, measured, results */
    table_row *rows = calloc(nrows, sizeof *rows);
    if (!rows)
        return SP_ERR_NOMEM;
    for (int c = 0; c < NCOL; c++)
        snprintf(rows[0][c], CELL, "%s", col_head[c]);
    snprintf(rows[1][C_LABEL], CELL, "measured");
    fill_latency(rows[1], &w->observed);
    for (size_t i = 0; i < s->n_results; i++)
        fill_result(rows[i + 2], s, i);
    size_t width[NCOL] = {0};
    int any_mark = 0;
    for (size_t r = 0; r < nrows; r++)
        for (int c = 0; c < NCOL; c++) {
            size_t l = strlen(rows[r][c]);
            if (l > width[c])
                width[c] = l;
            any_mark |= r > 0 && c == C_MARK && l > 0;
        }
    int last = any_mark ? C_MARK : s->slo_p95_ns ? C_SLO : C_COST;
    unsigned char skip[NCOL] = {[C_SLO] = !s->slo_p95_ns};
    for (size_t r = 0; r < nrows; r++) {
        if (r == 1 && !w->observed.count)
            continue; /* no measured latency in the profile */
        print_row(out, (const char(*)[CELL])rows[r], width, r == 1 ? C_P99 : last, skip);
    }
    free(rows);
    if (w->observed.count)
        /* at the server, as analyze's `server (arrival -> done)` row: with a client trace merged,
         * analyze's headline is the client's send -> reply, which the simulator does not model */
        fprintf(out, "measured: the profile's own latency at the server, arrival to done (%" PRIu64 " %s)\n",
                w->observed.count,
                sp_rep_plural(w->observed.count, "request", "requests"));
    fputs("* the observed policy, simulated: compare with the measured latency\n", out);
    const sp_whatif_result *o = &s->results[0];
    if (w->measured_rejected || o->rejected) {
        /* DESIGN 8a: both over the same offered load, the requests replayed; each share as analyze's
         * rejection rate prints it (sp_rep_fmt_outcome_pct), so 1 of 101 reads "0.99%", below the 1%
         * at which analyze calls the service rejecting, not "1.0%" */
        char meas[24], sim[24];
        sp_rep_fmt_outcome_pct(meas, sizeof meas, w->measured_rejected, w->n_reqs);
        sp_rep_fmt_outcome_pct(sim, sizeof sim, o->rejected, o->requests);
        fprintf(out, "rejected (503): measured %s (%" PRIu64 " of %zu %s), simulated at the observed policy %s (%" PRIu64
                     "; queue capacity %u)\n",
                meas, w->measured_rejected, w->n_reqs, sp_rep_plural(w->n_reqs, "request", "requests"), sim,
                o->rejected, o->policy.queue_capacity);
    }
    if (w->unknown_len)
        fprintf(out, "input length unknown for %" PRIu64 " %s (no input_tokens and never batched, e.g. refused "
                     "before %s read): each replayed at %u %s, the median %s\n",
                w->unknown_len, sp_rep_plural(w->unknown_len, "request", "requests"),
                sp_rep_plural(w->unknown_len, "it was", "they were"), w->typical_len,
                sp_rep_plural(w->typical_len, "token", "tokens"),
                w->typical_from_padded ? "padded length per member of the batches" : "length of the others");
    if (any_mark)
        fprintf(out, "! extrapolated: some simulated batches are larger, or padded longer or shorter, than any "
                     "batch in the trace (sizes %u..%u, padded lengths %u..%u); their times come from the fit "
                     "alone\n",
                s->fit->size_min, s->fit->size_max, s->fit->len_min, s->fit->len_max);
    if (s->duplicates)
        fprintf(out, "%zu candidate %s like a policy above and %s not repeated\n", s->duplicates,
                sp_rep_plural(s->duplicates, "policy batches", "policies batch"), sp_rep_plural(s->duplicates, "is", "are"));
    return SP_OK;
}

/* "max-queue-delay 4.00 ms -> 1.00 ms and pad longest -> buckets:16,32" */
static void describe_change(FILE *out, const sp_whatif_policy *from, const sp_whatif_policy *to, unsigned settings)
{
    char a[SP_WHATIF_PAD_STR_MAX], b[SP_WHATIF_PAD_STR_MAX];
    int n = 0, total = 0;
    for (int k = 0; k < SP_WHATIF_SET_COUNT; k++)
        total += (settings >> k) & 1u;
    for (int k = 0; k < SP_WHATIF_SET_COUNT; k++) {
        if (!(settings & (1u << k)))
            continue;
        n++;
        fprintf(out, "%s%s %s -> %s", n == 1 ? "" : n == total ? " and " : ", ",
                sp_whatif_setting_str((sp_whatif_setting)k),
                sp_whatif_setting_value(from, (sp_whatif_setting)k, a, sizeof a),
                sp_whatif_setting_value(to, (sp_whatif_setting)k, b, sizeof b));
    }
}

static void write_advice(FILE *out, const sp_whatif_study *s)
{
    const sp_whatif_result *base = &s->results[0];
    char d1[32], d2[32];
    /* on a thin profile the advice is said to rest on it before anything else (see the WARNING) */
    const char *head = sp_whatif_profile_thin(s->workload, NULL, 0)
                           ? "\nadvice (from a profile too thin to predict from: see the WARNING above): "
                           : "\nadvice: ";
    if (s->n_results < 2) {
        fprintf(out,
                "%sno candidate policy to compare (--max-batch, --max-queue-delay-ms, --pad and --instances sweep "
                "them)\n",
                head);
        return;
    }
    if (!s->advice.found) {
        fprintf(out, "%sno policy in the sweep lowers predicted p95 by %.0f%% or more without rejecting more "
                     "requests: keep the observed policy (p95 %s)\n",
                head, SP_WHATIF_ADVICE_MIN_GAIN * 100, sp_fmt_dur(d1, sizeof d1, (double)base->latency.p95_ns));
        return;
    }
    const sp_whatif_result *r = &s->results[s->advice.row];
    fputs(head, out);
    if (s->advice.settings & (s->advice.settings - 1)) {
        /* "no single setting helps" only when the sweep tried one: a grid whose every candidate changes
         * two settings (--max-batch 8,32 --max-queue-delay-ms 1 against 16 and 4 ms) tried none */
        size_t singles = 0;
        for (size_t i = 1; i < s->n_results; i++) {
            unsigned d = sp_whatif_policy_diff(&base->policy, &s->results[i].policy);
            singles += d && !(d & (d - 1));
        }
        fputs(singles ? "no single setting helps; " : "the sweep changes no setting alone; ", out);
    }
    describe_change(out, &base->policy, &r->policy, s->advice.settings);
    char c1[64], c2[64];
    fprintf(out, " lowers predicted p95 the most%s: %s -> %s (%+.0f%%), %s (observed %s)%s\n",
            (s->advice.settings & (s->advice.settings - 1)) ? "" : " of the single-setting changes",
            sp_fmt_dur(d1, sizeof d1, (double)base->latency.p95_ns),
            sp_fmt_dur(d2, sizeof d2, (double)r->latency.p95_ns),
            100.0 * ((double)r->latency.p95_ns / (double)base->latency.p95_ns - 1.0),
            sp_rep_fmt_cost_per_request(c1, sizeof c1, r->cost_per_request, SP_REP_1M_WORDS),
            sp_rep_fmt_cost_per_request(c2, sizeof c2, base->cost_per_request, SP_REP_1M_DOLLARS),
            r->extrapolated_batches ? " (extrapolated: see !)" : "");
}

static void write_slo(FILE *out, const sp_whatif_study *s)
{
    char d1[32], d2[32], pb[300];
    sp_fmt_dur(d1, sizeof d1, (double)s->slo_p95_ns);
    if (s->slo_met) {
        const sp_whatif_result *b = &s->results[s->slo_best];
        size_t meet = 0, tied = 0;
        for (size_t i = 0; i < s->n_results; i++) {
            const sp_whatif_result *x = &s->results[i];
            meet += x->meets_slo != 0;
            /* sp_whatif_pick_slo's tie: a cost within SP_WHATIF_COST_TIE of the choice's */
            tied += x->meets_slo && i != s->slo_best && sp_whatif_cost_tied(x->cost_per_request, b->cost_per_request);
        }
        /* one that meets it is "the only" one, not "the cheapest of the 1 policy that meet it"; policies
         * at the same cost in the table are a tie the sentence names, not a cheaper choice */
        char which[200];
        if (meet == 1)
            snprintf(which, sizeof which, "the only policy that meets it with no rejections");
        else if (tied)
            snprintf(which, sizeof which, "the cheapest of the %zu policies that meet it with no rejections (%zu %s "
                     "within %.1f%% of its cost: a tie, broken by the lower p95, then the earlier row)", meet, tied,
                     sp_rep_plural(tied, "other", "others"), SP_WHATIF_COST_TIE * 100);
        else
            snprintf(which, sizeof which, "the cheapest of the %zu policies that meet it with no rejections", meet);
        char cost[64];
        fprintf(out, "SLO p95 <= %s: %s, predicted p95 %s, %s with %u %s: %s%s\n",
                d1, sp_whatif_policy_str(&b->policy, pb, sizeof pb),
                sp_fmt_dur(d2, sizeof d2, (double)b->latency.p95_ns),
                sp_rep_fmt_cost_per_request(cost, sizeof cost, b->cost_per_request, SP_REP_1M_WORDS),
                b->policy.instances, sp_rep_plural(b->policy.instances, "instance", "instances"), which,
                b->extrapolated_batches ? " (extrapolated: see !)" : "");
        return;
    }
    size_t lo = 0;
    for (size_t i = 1; i < s->n_results; i++)
        if (s->results[i].latency.p95_ns < s->results[lo].latency.p95_ns)
            lo = i;
    fprintf(out, "SLO p95 <= %s: no policy meets it; the lowest predicted p95 is %s (%s%s). Sweep more instances, "
                 "max batches or delays.\n",
            d1, sp_fmt_dur(d2, sizeof d2, (double)s->results[lo].latency.p95_ns),
            sp_whatif_policy_str(&s->results[lo].policy, pb, sizeof pb),
            s->results[lo].rejected ? ", with rejections" : "");
}

sp_status sp_whatif_write_text(const sp_whatif_study *s, FILE *out)
{
    if (!s || !out || !s->n_results || !s->workload || !s->fit || !s->observed)
        return SP_ERR_INVALID;
    fprintf(out, "servprof whatif: %zu %s, %zu %s; price $%.2f/h%s\n", s->workload->n_reqs,
            sp_rep_plural(s->workload->n_reqs, "request", "requests"), s->workload->n_batches,
            sp_rep_plural(s->workload->n_batches, "batch", "batches"), s->sim.price_per_hour,
            s->price_is_default ? " (default; set --price-per-hour)" : "");
    char thin[160];
    if (sp_whatif_profile_thin(s->workload, thin, sizeof thin))
        fprintf(out, "WARNING: this profile is too thin to predict from (%s): the fit, the predicted latencies, "
                     "throughput and cost, and the advice below follow these few batches, not the service; "
                     "record a longer trace\n",
                thin);
    write_observed(out, s);
    write_fit(out, s);
    fputc('\n', out);
    sp_status st = write_table(out, s);
    if (st != SP_OK)
        return st;
    write_advice(out, s);
    if (s->slo_p95_ns)
        write_slo(out, s);
    if (fflush(out) != 0 || ferror(out))
        return SP_ERR_IO;
    return SP_OK;
}

/* ---- JSON (servprof.whatif/1) ---- */

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void json_policy(FILE *out, const sp_whatif_policy *p)
{
    char pad[SP_WHATIF_PAD_STR_MAX];
    fprintf(out, "{\"max_batch\":%u,\"max_queue_delay_ms\":", p->max_batch);
    sp_rep_json_num(out, ms(p->max_delay_ns), 9);
    fputs(",\"pad\":", out);
    sp_json_write_str(out, sp_whatif_pad_str(p, pad, sizeof pad), 0);
    fprintf(out, ",\"instances\":%u,\"queue_capacity\":%u,\"max_len\":%u}", p->instances, p->queue_capacity,
            p->max_len);
}

static void json_ms_quantiles(FILE *out, const sp_quantiles *q, int with_p99_mean)
{
    fputs("{\"p50\":", out);
    sp_rep_json_num(out, ms(q->p50_ns), 9);
    fputs(",\"p95\":", out);
    sp_rep_json_num(out, ms(q->p95_ns), 9);
    if (with_p99_mean) {
        fputs(",\"p99\":", out);
        sp_rep_json_num(out, ms(q->p99_ns), 9);
        fputs(",\"mean\":", out);
        sp_rep_json_num(out, q->mean_ns / 1e6, 9);
    }
    fputc('}', out);
}

static void json_result(FILE *out, const sp_whatif_study *s, size_t i)
{
    const sp_whatif_result *r = &s->results[i];
    fprintf(out, "{\"kind\":\"%s\",\"policy\":", i == 0 ? "observed_simulated" : "candidate");
    json_policy(out, &r->policy);
    fprintf(out, ",\"requests\":%" PRIu64 ",\"completed\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"latency_ms\":",
            r->requests, r->completed, r->rejected);
    json_ms_quantiles(out, &r->latency, 1);
    fputs(",\"queue_ms\":", out);
    json_ms_quantiles(out, &r->queue, 0);
    fprintf(out, ",\"batches\":%" PRIu64 ",\"mean_batch\":", r->batches);
    sp_rep_json_num(out, r->mean_batch, 6);
    fputs(",\"waste_fraction\":", out);
    sp_rep_json_num(out, r->waste, 6);
    fputs(",\"throughput_rps\":", out);
    sp_rep_json_num(out, r->throughput_rps, 9);
    fputs(",\"utilisation\":", out);
    sp_rep_json_num(out, r->utilisation, 6);
    fputs(",\"bill\":", out);
    sp_rep_json_num(out, r->bill, 9);
    fputs(",\"cost_per_request\":", out);
    sp_rep_json_num(out, r->cost_per_request, 9);
    fprintf(out, ",\"meets_slo\":%s,\"extrapolated\":%s,\"extrapolated_batches\":%" PRIu64
                 ",\"largest_batch\":%u,\"padded_length\":{\"min\":%u,\"max\":%u}}",
            r->meets_slo ? "true" : "false", r->extrapolated_batches ? "true" : "false", r->extrapolated_batches,
            r->largest_batch, r->shortest_padded, r->longest_padded);
}

static void json_coefs(FILE *out, const double c[4])
{
    static const char *const key[4] = {"a_ns", "b_ns_per_request", "c_ns_per_padded_token", "d_ns_per_size_len2"};
    for (unsigned j = 0; j < 4; j++) {
        fprintf(out, "%s\"%s\":", j ? "," : "", key[j]);
        sp_rep_json_num(out, c[j], 9);
    }
}

static void json_fit(FILE *out, const sp_whatif_study *s)
{
    const sp_whatif_fit *f = s->fit;
    fputs("\"fit\":{", out);
    json_coefs(out, f->coef);
    fprintf(out, ",\"terms_used\":%u,\"batches\":%zu,\"r2\":", f->used, f->n);
    sp_rep_json_num(out, f->r2, 6);
    fputs(",\"mean_abs_pct_error\":", out);
    sp_rep_json_num(out, f->mape * 100.0, 6);
    fprintf(out, ",\"resample\":%s,\"method\":\"nonnegative_least_squares\",\"clamped_terms\":[",
            s->sim.resample ? "true" : "false");
    int first = 1;
    for (unsigned j = 0; j < 4; j++)
        if (f->clamped & (1u << j)) {
            fprintf(out, "%s", first ? "" : ",");
            sp_json_write_str(out, sp_whatif_term_name(j), 0);
            first = 0;
        }
    fputs("],\"unconstrained\":{", out);
    json_coefs(out, f->coef_ls);
    fprintf(out, "},\"batch_sizes\":{\"min\":%u,\"max\":%u},\"padded_lengths\":{\"min\":%u,\"max\":%u}}", f->size_min,
            f->size_max, f->len_min, f->len_max);
}

static void json_observed(FILE *out, const sp_whatif_study *s)
{
    const sp_whatif_observed *o = s->observed;
    const sp_whatif_workload *w = s->workload;
    fprintf(out, "\"observed\":{\"measured_latency_ms\":{\"count\":%" PRIu64 ",\"p50\":", w->observed.count);
    sp_rep_json_num(out, ms(w->observed.p50_ns), 9);
    fputs(",\"p95\":", out);
    sp_rep_json_num(out, ms(w->observed.p95_ns), 9);
    fputs(",\"p99\":", out);
    sp_rep_json_num(out, ms(w->observed.p99_ns), 9);
    /* DESIGN 8a: the measured rejections of the offered load, beside the observed policy's simulated */
    const sp_whatif_result *r0 = &s->results[0];
    fprintf(out, "},\"measured_rejected\":%" PRIu64 ",\"measured_rejection_rate\":", w->measured_rejected);
    sp_rep_json_num(out, w->n_reqs ? (double)w->measured_rejected / (double)w->n_reqs : 0.0, 6);
    fputs(",\"simulated_rejection_rate\":", out);
    sp_rep_json_num(out, r0->requests ? (double)r0->rejected / (double)r0->requests : 0.0, 6);
    fputs(",\"policy\":", out);
    json_policy(out, &o->policy);
    fprintf(out, ",\"max_batch_inferred\":%s,\"delay_inferred\":%s,\"source\":{",
            o->origin[SP_WHATIF_SET_MAX_BATCH] == SP_WHATIF_FROM_INFERRED ? "true" : "false",
            o->origin[SP_WHATIF_SET_DELAY] == SP_WHATIF_FROM_INFERRED ? "true" : "false");
    static const char *const key[SP_WHATIF_SET_COUNT] = {"max_batch", "max_queue_delay", "pad", "instances",
                                                         "queue_capacity", "max_len"};
    for (int k = 0; k < SP_WHATIF_SET_COUNT; k++)
        fprintf(out, "%s\"%s\":\"%s\"", k ? "," : "", key[k], sp_whatif_origin_str(o->origin[k]));
    fprintf(out, "},\"files_differ\":%s,\"files_differ_note\":", o->files_differ ? "true" : "false");
    if (o->files_differ)
        sp_json_write_str(out, o->differ, 0);
    else
        fputs("null", out);
    fputc('}', out);
}

static void json_advice(FILE *out, const sp_whatif_study *s)
{
    fputs("\"advice\":", out);
    if (!s->advice.found) {
        fputs("null", out);
        return;
    }
    const sp_whatif_result *b = &s->results[0], *r = &s->results[s->advice.row];
    fprintf(out, "{\"choice\":%zu,\"settings\":[", s->advice.row);
    int first = 1;
    for (int k = 0; k < SP_WHATIF_SET_COUNT; k++)
        if (s->advice.settings & (1u << k)) {
            fprintf(out, "%s\"%s\"", first ? "" : ",", sp_whatif_setting_str((sp_whatif_setting)k));
            first = 0;
        }
    fputs("],\"p95_before_ms\":", out);
    sp_rep_json_num(out, ms(b->latency.p95_ns), 9);
    fputs(",\"p95_after_ms\":", out);
    sp_rep_json_num(out, ms(r->latency.p95_ns), 9);
    fprintf(out, ",\"extrapolated\":%s}", r->extrapolated_batches ? "true" : "false");
}

sp_status sp_whatif_write_json(const sp_whatif_study *s, FILE *out)
{
    if (!s || !out || !s->n_results || !s->workload || !s->fit || !s->observed)
        return SP_ERR_INVALID;
    fprintf(out, "{\"schema\":\"servprof.whatif/1\",\"requests\":%zu,\"batches\":%zu,\"price_per_hour\":",
            s->workload->n_reqs, s->workload->n_batches);
    sp_rep_json_num(out, s->sim.price_per_hour, 9);
    fprintf(out, ",\"price_is_default\":%s,", s->price_is_default ? "true" : "false");
    json_fit(out, s);
    fputc(',', out);
    json_observed(out, s);
    fputs(",\"policies\":[", out);
    for (size_t i = 0; i < s->n_results; i++) {
        if (i)
            fputc(',', out);
        json_result(out, s, i);
    }
    fprintf(out, "],\"duplicates_dropped\":%zu,\"thin_profile\":", s->duplicates);
    char thin[160];
    if (sp_whatif_profile_thin(s->workload, thin, sizeof thin)) {
        fprintf(out, "{\"min_requests\":%u,\"min_batches\":%u,\"reason\":", SP_WHATIF_THIN_REQUESTS,
                SP_WHATIF_THIN_BATCHES);
        sp_json_write_str(out, thin, 0);
        fputs("},", out);
    } else {
        fputs("null,", out);
    }
    json_advice(out, s);
    fputs(",\"slo\":", out);
    if (s->slo_p95_ns) {
        fputs("{\"p95_ms\":", out);
        sp_rep_json_num(out, ms(s->slo_p95_ns), 9);
        if (s->slo_met)
            fprintf(out, ",\"choice\":%zu}", s->slo_best);
        else
            fputs(",\"choice\":null}", out);
    } else {
        fputs("null", out);
    }
    fputs("}\n", out);
    if (fflush(out) != 0 || ferror(out))
        return SP_ERR_IO;
    return SP_OK;
}

/* ---- HTML ---- */

sp_status sp_whatif_write_html(const sp_whatif_study *s, const sp_report *r, const sp_events *ev, FILE *out)
{
    if (!s || !r || !out || !s->n_results)
        return SP_ERR_INVALID;
    /* As the text's rows: the profile as measured first (the baseline the section marks), when the
     * profile has measured latency, then the observed policy simulated (observed*), then the candidates.
     * The simulated observed policy used to be the baseline, so its prediction read as "(measured)". */
    const sp_quantiles *measured = s->workload && s->workload->observed.count ? &s->workload->observed : NULL;
    size_t first = measured ? 1 : 0, n = s->n_results + first;
    sp_whatif_row *rows = calloc(n, sizeof *rows);
    char (*labels)[448] = calloc(n, sizeof *labels);
    sp_status st = SP_ERR_NOMEM;
    if (rows && labels) {
        /* rejections as the text's 503s column and its "rejected (503)" line give them, in the label
         * (the row struct has no field for them): a policy that rejects has its percentiles over the
         * requests it served, and without the count its row read as a plain gain */
        const sp_whatif_workload *wl = s->workload;
        char rej[96] = "";
        if (measured) {
            if (wl->measured_rejected) {
                char pc[24];
                snprintf(rej, sizeof rej, "; %" PRIu64 " of %zu rejected (503), %s", wl->measured_rejected,
                         wl->n_reqs, sp_rep_fmt_outcome_pct(pc, sizeof pc, wl->measured_rejected, wl->n_reqs));
            }
            snprintf(labels[0], sizeof labels[0], "profile, %" PRIu64 " %s at the server%s", measured->count,
                     sp_rep_plural(measured->count, "request", "requests"), rej);
            rows[0] = (sp_whatif_row){labels[0], measured->p50_ns, measured->p95_ns, measured->p99_ns, -1, -1, 1};
        }
        for (size_t i = 0; i < s->n_results; i++) {
            const sp_whatif_result *x = &s->results[i];
            char pb[300], pc[24];
            rej[0] = '\0';
            if (x->rejected)
                snprintf(rej, sizeof rej, "%s%" PRIu64 " of %" PRIu64 " rejected (503), %s",
                         x->extrapolated_batches || i == 0 ? "; " : " (", x->rejected, x->requests,
                         sp_rep_fmt_outcome_pct(pc, sizeof pc, x->rejected, x->requests));
            int paren = x->extrapolated_batches || i == 0 || x->rejected;
            snprintf(labels[first + i], sizeof labels[0], "%s%s%s%s%s", i == 0 ? "observed* " : "",
                     sp_whatif_policy_str(&x->policy, pb, sizeof pb),
                     x->extrapolated_batches ? " (extrapolated" : i == 0 ? " (simulated" : "", rej, paren ? ")" : "");
            rows[first + i] = (sp_whatif_row){labels[first + i], x->latency.p50_ns, x->latency.p95_ns,
                                              x->latency.p99_ns, x->throughput_rps, x->cost_per_request, 0};
        }
        sp_html_options hopt;
        sp_html_options_init(&hopt);
        hopt.title = "servprof report with what-if results";
        hopt.whatif = rows;
        hopt.n_whatif = n;
        char thin[160], warning[400];
        if (sp_whatif_profile_thin(s->workload, thin, sizeof thin)) {
            snprintf(warning, sizeof warning, "Too thin to predict from: %s. The predictions below follow these "
                     "few batches, not the service; record a longer trace.", thin);
            hopt.whatif_warning = warning;
        }
        st = sp_report_write_html_opts(r, ev, &hopt, out);
    }
    free(rows);
    free(labels);
    return st;
}
