/* How a diff's figures read for people, shared by its text and HTML writers (diff_text.c,
 * diff_html.c): values and changes in the unit of their metric (durations by magnitude, fractions as
 * percentages and their changes in points, money, counts), intervals and condition thresholds. */
#ifndef SERVPROF_REPORT_DIFF_FMT_H
#define SERVPROF_REPORT_DIFF_FMT_H

#include <stddef.h>

#include "servprof/diff.h"

/* A value: "4.56 ms", "41.3%", "$0.0012", "4000"; "n/a" when NaN. Returns buf. */
char *sp_rep_diff_value(char *buf, size_t len, sp_diff_unit u, double v);
/* A signed change: "+1.23 ms", "-5.2 pts" (fractions), "+$0.0012", "+12"; "n/a" when NaN. */
char *sp_rep_diff_change(char *buf, size_t len, sp_diff_unit u, double change);
/* The change with its relative size for durations, money and counts: "+1.23 ms (+12.3%)". */
char *sp_rep_diff_change_rel(char *buf, size_t len, const sp_diff_metric *m);
/* "[+1.10 ms, +1.40 ms]", or "-" when the metric has no interval. */
char *sp_rep_diff_interval(char *buf, size_t len, const sp_diff_metric *m);
/* The interval lies wholly above or wholly below 0. */
int sp_rep_diff_excludes_zero(const sp_diff_metric *m);
/* A condition's threshold as given, signed by its direction: "+5.0%", "+5.0 pts", "+2.00 ms". */
char *sp_rep_diff_threshold(char *buf, size_t len, const sp_diff_condition *c);
/* A check's bound in the terms of its threshold: "+7.1 pts", "+1.2%"; "n/a" when not computable. */
char *sp_rep_diff_bound(char *buf, size_t len, const sp_diff_check *k);
/* What one side covers, as the text and HTML headers say it: "2 files, analysed traces, $4.00/h
 * (default)", "3 replicas (a fleet report), read from its report, $2.50/h". */
char *sp_rep_diff_side_inputs(char *buf, size_t len, const sp_diff_side *s);
/* Why a relative bound can read below -100%, in words the text's conditions and the HTML's chart share
 * (docs/diff.md, "Conditions"): it follows the figure. */
#define SP_REP_DIFF_ARTEFACT                                                                                 \
    "below -100% only because resamples of BASE run above BASE's value, a bootstrap artefact: no value "  \
    "falls by more than 100%"
/* What the bound is, in words: "lower bound of the 95% interval", "upper bound ...", "point change"; a
 * relative bound below -100% adds SP_REP_DIFF_ARTEFACT. */
const char *sp_rep_diff_basis_words(const sp_diff *d, const sp_diff_check *k, char *buf, size_t len);

/* The gate's count with its grammar: "0 of 1 condition holds", "1 of 3 conditions holds", "2 of 3
 * conditions hold" (the verb agrees with the holding count, or with the one condition there is). */
char *sp_rep_diff_gate_count(char *buf, size_t len, const sp_diff *d);

/* Why a diff has no intervals, in one sentence ("BASE is a servprof.report/1 report: ..."); "" when
 * it has them. */
char *sp_rep_diff_no_interval_reason(char *buf, size_t len, const sp_diff *d);

/* When one run's end-to-end latency is the client's (a client trace merged) and the other's the
 * server's, a sentence saying so, into buf; "" when both measure it alike. */
char *sp_rep_diff_e2e_note(char *buf, size_t len, const sp_diff *d);
/* A note when one run is a generation service's and the other is not (sp_diff.generation), else "". */
char *sp_rep_diff_kind_note(char *buf, size_t len, const sp_diff *d);

/* The bootstrap's blocks in words, into buf: "blocks of 100 requests in arrival order", or "blocks of
 * 100 (BASE) and 50 (NEW) requests in arrival order"; "single requests" when both are 1. Returns buf. */
char *sp_rep_diff_blocks(char *buf, size_t len, const sp_diff *d);

#endif
