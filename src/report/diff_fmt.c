/* The diff's figures in words and units (diff_fmt.h). */
#include <math.h>
#include <stdio.h>

#include "report/diff_fmt.h"
#include "report/report_int.h"

char *sp_rep_diff_value(char *buf, size_t len, sp_diff_unit u, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, len, "n/a");
        return buf;
    }
    switch (u) {
    case SP_DIFF_UNIT_NS: return sp_fmt_dur(buf, len, v);
    case SP_DIFF_UNIT_FRACTION: return sp_rep_fmt_pct(buf, len, v);
    /* the diff's money is cost per request (cost.per_request*), under "cost per 1M requests" */
    case SP_DIFF_UNIT_DOLLARS: return sp_rep_fmt_cost_per_request(buf, len, v, SP_REP_1M_DOLLARS);
    default: snprintf(buf, len, "%.0f", v); return buf;
    }
}

char *sp_rep_diff_change(char *buf, size_t len, sp_diff_unit u, double change)
{
    if (!isfinite(change)) {
        snprintf(buf, len, "n/a");
        return buf;
    }
    char mag[48];
    switch (u) {
    case SP_DIFF_UNIT_NS: return sp_fmt_sdur(buf, len, (int64_t)llround(change));
    case SP_DIFF_UNIT_FRACTION:
        /* a change of a share is in points: 0.41 -> 0.46 is +5.0 pts, not +12%. One decimal, or as
         * many more (up to 4) as keep a change that is not zero from reading "-0.0 pts" (a share that
         * moved 0.03 points, or an interval's bound beside a star that says it excludes zero) */
        if (change == 0) {
            snprintf(buf, len, "0.0 pts");
        } else {
            int d = 1;
            while (d < 4 && fabs(change) * 100 < 0.5 * pow(10, -d))
                d++;
            snprintf(buf, len, "%+.*f pts", d, change * 100);
        }
        return buf;
    case SP_DIFF_UNIT_DOLLARS:
        if (change == 0)
            sp_rep_fmt_cost_per_request(buf, len, 0, SP_REP_1M_DOLLARS);
        else
            snprintf(buf, len, "%c%s", change < 0 ? '-' : '+',
                     sp_rep_fmt_cost_per_request(mag, sizeof mag, fabs(change), SP_REP_1M_DOLLARS));
        return buf;
    default: snprintf(buf, len, change == 0 ? "0" : "%+.0f", change); return buf;
    }
}

char *sp_rep_diff_change_rel(char *buf, size_t len, const sp_diff_metric *m)
{
    char c[48];
    sp_rep_diff_change(c, sizeof c, m->unit, m->change);
    if (m->unit == SP_DIFF_UNIT_FRACTION || !isfinite(m->rel_change) || !isfinite(m->change))
        snprintf(buf, len, "%s", c);
    else
        snprintf(buf, len, "%s (%+.1f%%)", c, m->rel_change * 100);
    return buf;
}

char *sp_rep_diff_interval(char *buf, size_t len, const sp_diff_metric *m)
{
    if (!m->has_interval) {
        snprintf(buf, len, "-");
        return buf;
    }
    char lo[48], hi[48];
    snprintf(buf, len, "[%s, %s]", sp_rep_diff_change(lo, sizeof lo, m->unit, m->lo),
             sp_rep_diff_change(hi, sizeof hi, m->unit, m->hi));
    return buf;
}

int sp_rep_diff_excludes_zero(const sp_diff_metric *m)
{
    return m->has_interval && (m->lo > 0 || m->hi < 0);
}

char *sp_rep_diff_threshold(char *buf, size_t len, const sp_diff_condition *c)
{
    char sign = c->direction > 0 ? '+' : '-';
    if (c->relative) {
        snprintf(buf, len, "%c%g%%", sign, c->threshold * 100);
        return buf;
    }
    char mag[48];
    switch (c->unit) {
    case SP_DIFF_UNIT_NS: snprintf(buf, len, "%c%s", sign, sp_fmt_dur(mag, sizeof mag, c->threshold)); break;
    case SP_DIFF_UNIT_FRACTION: snprintf(buf, len, "%c%g pts", sign, c->threshold * 100); break;
    case SP_DIFF_UNIT_DOLLARS: /* given in dollars per request, said per 1M requests as the tables say it */
        snprintf(buf, len, "%c%s", sign, sp_rep_fmt_cost_per_request(mag, sizeof mag, c->threshold, SP_REP_1M_WORDS));
        break;
    default: snprintf(buf, len, "%c%g", sign, c->threshold); break;
    }
    return buf;
}

char *sp_rep_diff_side_inputs(char *buf, size_t len, const sp_diff_side *s)
{
    char price[32];
    sp_rep_fmt_money(price, sizeof price, s->price_per_hour);
    /* a fleet report has no files behind it (docs/fleet.md): its replicas say what it covers */
    char inputs[64];
    if (s->replicas)
        snprintf(inputs, sizeof inputs, "%zu replica%s (a fleet report)", s->replicas, s->replicas == 1 ? "" : "s");
    else
        snprintf(inputs, sizeof inputs, "%zu file%s", s->files, s->files == 1 ? "" : "s");
    /* a fleet of several replicas is billed per replica (docs/fleet.md, "Cost"): its price is a
     * replica's (their mean per replica-hour where they differ), not the fleet's per hour */
    snprintf(buf, len, "%s, %s, %s/h%s%s", inputs,
             s->source == SP_DIFF_FROM_REPORT ? "read from its report" : "analysed traces", price,
             s->replicas > 1 ? " a replica" : "", s->price_is_default ? " (default)" : "");
    return buf;
}

char *sp_rep_diff_gate_count(char *buf, size_t len, const sp_diff *d)
{
    int one = d->n_checks == 1 || d->n_holding == 1;
    snprintf(buf, len, "%zu of %zu condition%s hold%s", d->n_holding, d->n_checks, d->n_checks == 1 ? "" : "s",
             one ? "s" : "");
    return buf;
}

char *sp_rep_diff_bound(char *buf, size_t len, const sp_diff_check *k)
{
    if (!isfinite(k->bound)) {
        snprintf(buf, len, "n/a");
        return buf;
    }
    if (k->cond.relative)
        snprintf(buf, len, "%+.1f%%", k->bound * 100);
    else
        sp_rep_diff_change(buf, len, k->cond.unit, k->bound);
    return buf;
}

const char *sp_rep_diff_basis_words(const sp_diff *d, const sp_diff_check *k, char *buf, size_t len)
{
    if (k->basis == SP_DIFF_BASIS_POINT)
        snprintf(buf, len, "point change, no interval");
    else if (k->cond.relative && isfinite(k->bound) && k->bound < -1)
        /* docs/diff.md, "Conditions": the bound is a resampled change over BASE's own value; a resample
         * of BASE can run above that value, so the bound can fall below -100%, which no change can */
        snprintf(buf, len, "%s bound of the %g%% interval; %s", k->cond.direction > 0 ? "lower" : "upper",
                 d->opt.confidence * 100, SP_REP_DIFF_ARTEFACT);
    else
        snprintf(buf, len, "%s bound of the %g%% interval", k->cond.direction > 0 ? "lower" : "upper",
                 d->opt.confidence * 100);
    return buf;
}

/* Which run lacks per-request figures, and why that matters. */
char *sp_rep_diff_no_interval_reason(char *buf, size_t len, const sp_diff *d)
{
    if (d->intervals) {
        snprintf(buf, len, "%s", "");
        return buf;
    }
    const char *who = !d->base.has_rows && !d->after.has_rows ? "neither run has"
                      : !d->base.has_rows                      ? "BASE has no"
                                                               : "NEW has no";
    const sp_diff_side *s = !d->base.has_rows ? &d->base : &d->after;
    snprintf(buf, len,
             "Changes are point estimates, without intervals: %s per-request figures to resample (%s). Compare "
             "traces for intervals.",
             who,
             s->source == SP_DIFF_FROM_REPORT ? "a servprof.report/1 report carries only its figures"
                                              : "the analysis did not keep them");
    return buf;
}

/* A note on a way BASE and NEW are not alike (b, a: whether each run has the property): HEAD, BASE's
 * label, MID, NEW's label, TAIL; empty where the runs are alike. */
static char *unlike_note(char *buf, size_t len, int b, int a, const char *head, const char *mid, const char *tail,
                         const char *yes, const char *no)
{
    if (a == b)
        snprintf(buf, len, "%s", "");
    else
        snprintf(buf, len, "%s%s%s%s%s", head, b ? yes : no, mid, a ? yes : no, tail);
    return buf;
}

/* one run's end-to-end is the client's, the other's the server's: their latency changes hold the
 * network and client time, not a change of the service (docs/diff.md) */
char *sp_rep_diff_e2e_note(char *buf, size_t len, const sp_diff *d)
{
    return unlike_note(buf, len, d->with_client[0] > 0, d->with_client[1] > 0,
                       "End-to-end is not measured alike: BASE's is ", ", NEW's ",
                       ", so the latency changes include the network and client time; give both runs their client "
                       "trace, or neither, to compare the service.",
                       "the client's, send -> reply (a client trace merged)", "the server's, arrival -> done");
}

/* a generation service against one without: the same stage names measure different work (a queue for a
 * place among running sequences, not for a batch window; streaming), so the changes are not a change of
 * one service (docs/diff.md) */
char *sp_rep_diff_kind_note(char *buf, size_t len, const sp_diff *d)
{
    /* two generation runs: the diff's figures are end-to-end and its stages; a reader comparing two
     * scheduler settings asks about TTFT and TPOT, which it does not compare, so it says so and
     * where they are (before: nothing, and the tables read as if they answered that) */
    if (d->generation[0] && d->generation[1]) {
        snprintf(buf, len, "%s",
                 "Both runs are generation services: this diff compares end-to-end latency (the whole response) "
                 "and its stages, not TTFT, TPOT or ITL; `servprof analyze` gives those for each run (its "
                 "generation section).");
        return buf;
    }
    return unlike_note(buf, len, d->generation[0] != 0, d->generation[1] != 0,
                       "The runs are different kinds of service: BASE is ", ", NEW ",
                       "; their stages measure different work, so the changes are not those of one service: compare "
                       "runs of the same kind.",
                       "a generation service (continuous batching, TTFT and TPOT)",
                       "a service without generation data");
}

char *sp_rep_diff_blocks(char *buf, size_t len, const sp_diff *d)
{
    size_t b = d->base.block, a = d->after.block;
    if (a == 1 && b == 1)
        snprintf(buf, len, "single requests");
    else if (a == b)
        snprintf(buf, len, "blocks of %zu requests in arrival order", b);
    else
        snprintf(buf, len, "blocks of %zu (BASE) and %zu (NEW) requests in arrival order", b, a);
    return buf;
}
