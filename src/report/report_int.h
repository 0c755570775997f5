/* Helpers shared by the report writers (text.c, json.c, perfetto.c, html.c): finite-only number
 * formatting and the duration formats of the text report; JSON strings go through the common
 * escaper (common/json_esc_int.h), whose rule every writer shares.
 * Every writer streams straight to its FILE; the long ones (Perfetto's events, the HTML sections)
 * stop at the first failed write, and every one ends with sp_rep_finish. */
#ifndef SERVPROF_REPORT_INT_H
#define SERVPROF_REPORT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/format_int.h"   /* sp_fmt_dur, sp_fmt_sdur */
#include "common/json_esc_int.h" /* sp_json_write_str, sp_utf8_len: the one JSON string escaper */
#include "servprof/analyze.h"

/* A writer's last step: flushes `out` and returns SP_OK, or SP_ERR_IO when a write failed, with
 * errno left at the system's reason ("No space left on device"), as the writers' API promises. */
sp_status sp_rep_finish(FILE *out);

/* Nanoseconds as microseconds with ns precision ("1234.567"), exact (integer arithmetic). */
void sp_rep_json_us(FILE *out, uint64_t ns);

/* Signed nanoseconds as microseconds with ns precision ("-1234.567"), exact. */
void sp_rep_json_sus(FILE *out, int64_t ns);

/* A double with up to `sig` significant digits, or `null` when it is NaN or infinite. */
void sp_rep_json_num(FILE *out, double v, int sig);

/* A double of ns as microseconds ("1234.567"), or `null` when not finite. */
void sp_rep_json_us_d(FILE *out, double ns);

/* Money with enough digits for tiny per-request amounts: "$4.00", "$0.0123", "$1.23e-06". */
char *sp_rep_fmt_money(char *buf, size_t len, double v);

/* A cost per request, the one way every writer prints one (the analyze text and HTML reports, the
 * diff's, the what-if table and advice): in dollars per million requests, since per-request amounts
 * are millionths of a dollar that "$5.71e-06" makes hard to read and compare, and the what-if table
 * already spoke so. The figure has three decimals ("5.713"; below 0.001, three significant digits,
 * "0.000123"), "n/a" when not finite. Forms: SP_REP_1M_NUMBER "5.713" (a column headed "$/1M req"),
 * SP_REP_1M_DOLLARS "$5.713" (a column or clause that names "per 1M requests" itself),
 * SP_REP_1M_WORDS "$5.713 per 1M requests" (a sentence). A change's sign goes before it, written by
 * the caller from the magnitude (the diff's "-$0.120"). The generation section prints its cost per
 * output token the same way, per 1M output tokens (the unit LLM prices are quoted in), with
 * SP_REP_1M_DOLLARS and the words its own. Returns buf. */
typedef enum sp_rep_1m_form { SP_REP_1M_NUMBER, SP_REP_1M_DOLLARS, SP_REP_1M_WORDS } sp_rep_1m_form;
char *sp_rep_fmt_cost_per_request(char *buf, size_t len, double per_request, sp_rep_1m_form form);

/* Percentage of a fraction, "37.2%"; "n/a" when not finite. */
char *sp_rep_fmt_pct(char *buf, size_t len, double fraction);

/* `one` for a count of 1, else `many` ("1 request", "2 requests"), for every writer's sentences. */
static inline const char *sp_rep_plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* The share of `n` of `total` requests (a rejection or error share) as a percentage that agrees with
 * sp_outcome_significant: one decimal ("1.0%", "12.5%"), and below the threshold as many more (up to
 * 7, the test's tolerance) as it takes to print below it ("0.99%" for 1 of 101, not "1.0%"); "0.0%"
 * without requests. */
char *sp_rep_fmt_outcome_pct(char *buf, size_t len, uint64_t n, uint64_t total);

/* Share of p95 from which the unattributed (`other`) time is called missing instrumentation rather than
 * negligible (docs/report-format.md, item 7): 0.1%, the finest figure the reports print. */
#define SP_OTHER_MISSING_SHARE 0.001

/* The unattributed (`other`) share of p95 as both writers say it, so that the HTML flags it exactly
 * where the text report speaks of missing instrumentation: the share into `pct` ("2.0%"; "under 0.1%"
 * above zero and under SP_OTHER_MISSING_SHARE, never "0.0%" there), and when it is above zero the
 * sentence "P of p95 latency is covered by no stage span and no device activity: missing
 * instrumentation" (": negligible" under the threshold) into `line` (else ""). Returns 1 when the time
 * is missing instrumentation, 0 otherwise (zero, negligible, or no figure). */
int sp_rep_other_text(const sp_report *r, char *pct, size_t pct_len, char *line, size_t line_len);

/* A report's price per hour as its header says it: "$4.00", or for a fleet whose replicas are priced
 * differently their range, "$3.00-$6.00" (docs/fleet.md, "Cost"). */
char *sp_rep_fmt_price(char *buf, size_t len, const sp_report *r);

/* What the bill covers, written after "for " (docs/fleet.md, "Cost"): "a 10m window at $4.00/h" for one
 * instance (a trace's report, a one-replica fleet); "3 replicas x a 10m window at $4.00/h" for a fleet
 * whose replicas are billed the same window at the same price; else "3 replicas over a 10m window (25m
 * of replica time) at $3.00-$6.00/h, $4.20 per replica-hour". */
char *sp_rep_fmt_bill_cover(char *buf, size_t len, const sp_report *r);
/* A fleet report's replicas without device series while others have them (sp_report_source.nodev):
 * "1 of 3 replicas exported no device series (job/instance): its $0.50 is billed as no_batch", the
 * first SP_REP_NODEV_NAMED named and the rest counted; NULL (buf untouched) when there are none. */
#define SP_REP_NODEV_NAMED 5
char *sp_rep_fmt_nodev(char *buf, size_t len, const sp_report *r);
/* The sum of those replicas' bills (0 when none). */
double sp_rep_nodev_bill(const sp_report *r);

/* How one request's own cost splits its batches' device time (DESIGN 7: by effective tokens), as the
 * cost step did it (sp_report.cost_batches_split, cost_batches_equal): "by its tokens", "in equal
 * shares: no batch carries its members' token counts", or "by its tokens; equal shares in E of S
 * batches, which lack their members' token counts". */
char *sp_rep_fmt_cost_basis(char *buf, size_t len, const sp_report *r);

/* Copies `s` for a terminal: control bytes become '?', and it is cut to `width` columns (counting
 * UTF-8 characters) with "..." when longer. */
char *sp_rep_fmt_name(char *buf, size_t len, const char *s, size_t width);

/* ---- shared by the writers' sections: json_parts.c (json.c, json_gen.c), text_parts.c (text.c,
 * text_gen.c) ---- */
/* {"p50":..,"p95":..,"p99":..,"mean":..[,"min":..,"max":..],"count":N} in us; nulls when empty. */
void sp_rep_json_quantiles_us(FILE *out, const sp_quantiles *q, int with_extremes);
/* The same for counts (scale 1) or money in 1e-9 units (scale 1e-9). */
void sp_rep_json_quantiles_plain(FILE *out, const sp_quantiles *q, double scale);
/* {"useful":x,...}: v[s] / div per cost state, or null for each when !have. */
void sp_rep_json_states(FILE *out, const double *v, double div, int have, int sig);
/* A verdict's ranking as a JSON array (verdict.ranking in docs/report-format.md). */
void sp_rep_json_ranking(FILE *out, const sp_verdict *v);
/* "verdict":{"stage":..,"group":..,"share_of_p95":..,"saving_p95_us":..,"recommend_model":..,"sentence":..
 * [,"prediction":..],"ranking":[..]}: share and saving null unless `judged`; the prediction object
 * only where `prediction` is given (the report's verdict, not a generation table's). */
void sp_rep_json_verdict(FILE *out, const sp_verdict *v, int judged, const sp_verdict_prediction *prediction);
/* One row of stages[] or of a generation table: {"name":..,"p50_us","p95_us","p99_us","mean_us","max_us"
 * (null unless `have_q`; with `mean_only`, from aggregated counters, the mean alone),"share_of_p50",
 * "share_of_p95","share_of_p99" (null unless `have_shares`),"total_us"}. */
void sp_rep_json_stage_row(FILE *out, const char *name, const sp_quantiles *q, int have_q, int mean_only,
                           const double shares[3], int have_shares, uint64_t total_ns);
/* A padding summary's opening, "<key>":{"<count_key>":N,"effective_tokens":..,"padded_tokens":..,
 * "waste_fraction":.. (nulls when count is 0), left open for the caller's further keys and "}". */
void sp_rep_json_padding_head(FILE *out, const char *key, const char *count_key, uint64_t count, int64_t effective,
                              int64_t padded, double waste_fraction);
/* The terminal report's width in columns. */
#define SP_REP_TEXT_WIDTH 100
/* The text report's word wrap at SP_REP_TEXT_WIDTH columns: `text` after `lead_cols` printed columns,
 * later lines indented by `indent`. */
void sp_rep_wrap(FILE *out, const char *text, size_t lead_cols, size_t indent);
/* The candidates of a verdict from 5% of p95 up, as the text report lists them under a verdict. */
void sp_rep_text_ranking(FILE *out, const sp_verdict *v);

/* ---- the generation section (docs/generation.md), present only when r->generation ---- */
void sp_rep_text_generation(FILE *out, const sp_report *r);   /* text_gen.c */
void sp_rep_json_generation(FILE *out, const sp_report *r);   /* json_gen.c: "generation":{...} */
void sp_rep_html_generation(FILE *out, const sp_report *r);   /* html_gen.c: one <section> */

/* What the report's files lost (quality.c, with the model's words): `counts` false leaves out the
 * recorder's drops and skipped records, which the data-quality line states on its own; true is
 * sp_report_describe_loss. Returns how many things it names (0: none; `buf` holds ""). */
size_t sp_rep_loss_text(const sp_report *r, int counts, char *buf, size_t len);
/* The data-quality sentence for file `f` of the report when the loader moved its times onto an
 * earlier file's clock by the files' wall-clock anchors (import.c, align_file; docs/cli.md), for the
 * text and HTML reports alike: written into buf, 1; 0 (buf untouched) when the file was not moved. */
int sp_rep_clock_shift_text(const sp_report *r, size_t f, char *buf, size_t len);
/* The data-quality sentence for stage spans clipped to their request's life (r->spans_clipped;
 * docs/analysis.md section 1), for the text and HTML reports alike: written into buf, 1; 0 (buf
 * untouched) when none was. */
int sp_rep_spans_clipped_text(const sp_report *r, char *buf, size_t len);
/* What the client saw of its records that match no request and what that most likely means ("the N
 * with no matching request got an answer (...): ..."), and the trace-context sentence ("trace context:
 * ..."): the text report's words, for the text and HTML writers. 0 (and nothing written) when there
 * is nothing to say. */
int sp_rep_client_unmatched_text(const sp_report *r, char *buf, size_t len);
int sp_rep_trace_context_text(const sp_report *r, char *buf, size_t len);
/* 1 when no loaded trace can carry the recorder's drop counts (quality.c: every file is another
 * tool's, r->other_tool_files == r->n_files, and none was counted): the data-quality line says drops
 * are not known, not "0 dropped". */
int sp_rep_drops_unknown(const sp_report *r);
/* The files of r->unclean_files that lack their own end record (a native trace the recorder did not
 * close): the unclean ones but for OTLP exports marked so (sp_file_loss.end_by_export), which are whole
 * and carry no recorder's counts. Where the words are about a file's own end record (its drop counts
 * stop at the last one written), only these count. */
size_t sp_rep_unclean_own_files(const sp_report *r);

/* The what-if prediction for the verdict's natural change (DESIGN section 8) as a line of its own
 * (format.c): written into buf and returned when one was made and the verdict sentence does not quote
 * it already (sp_report_quote_prediction folds it into the sentence); NULL otherwise. */
const char *sp_rep_prediction_line(const sp_report *r, char *buf, size_t len);

#endif
