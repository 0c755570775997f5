/* servprof report writers (libservprof-report): an analysis (sp_report, analyze.h) as text for people,
 * as JSON for tools (servprof.report/1, DESIGN section 10), as a self-contained HTML page with charts,
 * and the events it came from as a Chrome/Perfetto trace; a what-if study (whatif.h) as a table,
 * as JSON (servprof.whatif/1) or inside the HTML page; and a comparison of two runs (diff.h) as text,
 * JSON (servprof.diff/1) or an HTML page. Writers format what the analysis kept; they
 * compute nothing of their own. docs/report-format.md, docs/html-report.md and docs/whatif.md describe
 * the outputs.
 *
 * Every writer streams to `out` and returns SP_OK, or SP_ERR_IO if writing fails, with errno set to
 * the system's reason (e.g. ENOSPC, "No space left on device") so a caller can name it; a writer
 * stops at the first failed write rather than format the rest for nothing. The caller still closes
 * `out`. Arguments are borrowed and only read; a report may be written from several threads at once. */
#ifndef SERVPROF_REPORT_H
#define SERVPROF_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "servprof/analyze.h"
#include "servprof/events.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the analysis ---- */

/* The text report (docs/report-format.md, "Text report"). SP_ERR_INVALID for NULL arguments. */
SP_API sp_status sp_report_write_text(const sp_report *r, FILE *out);
/* One servprof.report/1 JSON object (docs/report-format.md, "JSON report"). SP_ERR_INVALID for NULL
 * arguments. */
SP_API sp_status sp_report_write_json(const sp_report *r, FILE *out);
/* Chrome-trace JSON (opens in ui.perfetto.dev): requests, stages, batches and device activity on
 * separate tracks. It exports the events themselves, so it needs the finished event set `ev` the
 * report came from (SP_ERR_INVALID when NULL, SP_ERR_STATE when not finished; sp_analyze finishes
 * it); `r` (may be NULL) adds the verdict. SP_ERR_NOMEM. */
SP_API sp_status sp_report_write_perfetto(const sp_report *r, const sp_events *ev, FILE *out);

/* ---- OpenTelemetry export (docs/otlp.md, "Export") ---- */

/* Options of sp_report_write_otlp (trace.h's ABI rule: fill with sp_otlp_options_init). */
typedef struct sp_otlp_options {
    size_t struct_size;          /* sizeof(sp_otlp_options) the caller was built with */
    int has_unix_offset;         /* unix_offset_ns is given: */
    int64_t unix_offset_ns;      /* what the times of a file with no wall-clock anchor of its own (a
                                    JSONL trace without unix_offset_ns, a Kineto or Nsight trace) add
                                    to become Unix times, in ns */
    const char *service_name;    /* the resource's service.name; NULL: the trace's `service` property,
                                    else "servprof"; borrowed for the call */
} sp_otlp_options;

SP_API void sp_otlp_options_init(sp_otlp_options *opt);

/* What sp_report_write_otlp wrote. */
typedef struct sp_otlp_result {
    uint64_t requests;           /* requests exported (each a trace's server span) */
    uint64_t spans;              /* spans in all: requests, their client, stage and batch spans, batches */
    uint64_t batches;            /* batches exported as spans of their own */
    uint64_t skipped_requests;   /* requests left out: their times give no span (a recorded request
                                    without a valid [arrival, done], kept under lenient; an unfinished
                                    request that nothing of its own gave a start) */
    /* appended (the caller's struct must be this version's): */
    uint64_t unfinished_requests; /* of `requests`, the unfinished (in flight when their trace ended):
                                    their spans end at their trace's last time */
    uint64_t tokens_left_out;    /* output tokens of unfinished requests timed after that end (a token
                                    record does not count for the trace's last time): not written */
} sp_otlp_result;

/* The events as OpenTelemetry spans in OTLP/JSON (the protocol's JSON encoding), one
 * ExportTraceServiceRequest document per line, that an OpenTelemetry Collector (otlpjsonfile
 * receiver) or any OTLP/HTTP endpoint (one line per POST to /v1/traces) ingests, and that servprof's
 * own OTLP importer reads back to the same requests, stage spans and batches. Per request: a SERVER
 * span under its recorded W3C trace context (sp_record_request_trace; ids servprof makes up when it
 * has none), a CLIENT span when a load generator's times are merged, an INTERNAL span per stage span
 * and per batch it ran in; per batch a span of its own linked to its members' spans. Times become
 * Unix times with each file's wall-clock anchor (a native trace's meta record) or opt's offset.
 * `ev` must be finished (sp_analyze finishes it). `opt` may be NULL; `result` may be NULL (else
 * written on success). Returns SP_ERR_INVALID (NULL ev or out), SP_ERR_STATE (not finished),
 * SP_ERR_FORMAT with a message naming the file in `err` (a file to export has no wall-clock anchor
 * and opt gives no offset; nothing is written), SP_ERR_NOMEM, SP_ERR_IO. */
SP_API sp_status sp_report_write_otlp(const sp_events *ev, const sp_otlp_options *opt, FILE *out,
                                      sp_otlp_result *result, char *err, size_t errlen);

/* ---- HTML report (docs/html-report.md) ---- */

/* One row of a what-if comparison (`servprof whatif`): a batching policy and the figures predicted
 * for it. Every pointer is borrowed for the duration of the call that reads the row. */
typedef struct sp_whatif_row {
    const char *policy;          /* label shown in the table and the chart, e.g. "window 2 ms, max 32" */
    uint64_t p50_ns, p95_ns, p99_ns;   /* predicted end-to-end latency percentiles */
    double throughput_rps;       /* requests per second; < 0 or not finite: unknown ("n/a") */
    double cost_per_request;     /* dollars; < 0 or not finite: unknown ("n/a") */
    int is_baseline;             /* the measured policy: marked in the table and the chart */
} sp_whatif_row;

/* Most what-if rows one section draws; more are listed as left out, so the output stays bounded. */
#define SP_HTML_MAX_WHATIF_ROWS 64

typedef struct sp_html_options {
    const char *title;           /* page title (escaped); NULL: "servprof report" */
    const sp_whatif_row *whatif; /* borrowed; NULL or n_whatif 0: no what-if section */
    size_t n_whatif;
    const char *whatif_warning;  /* borrowed; NULL: none. Shown first in the what-if section (escaped),
                                    e.g. that the profile is too thin to predict from */
} sp_html_options;

SP_API void sp_html_options_init(sp_html_options *opt);

/* Self-contained HTML5 report (inline CSS and SVG; no scripts, no fetches: it opens offline): the
 * verdict, stage shares of p50/p95/p99, the latency distribution, each stage's distribution, padding
 * waste per batch, the busiest slice of the device timeline, the cost split and data quality.
 * Everything is drawn from `r`: the distributions and the timeline from r->detail, which the analysis
 * keeps when asked (sp_analyze_options.keep_detail); without it those charts are replaced by a note.
 * Output size is bounded whatever the trace size (docs/html-report.md). `ev` is not read: the report
 * carries what the page draws (it remains so that programs written for earlier versions, which passed
 * the event set, compile; pass NULL). Returns SP_ERR_INVALID (NULL r or out), SP_ERR_NOMEM, SP_ERR_IO
 * if writing fails. */
SP_API sp_status sp_report_write_html(const sp_report *r, const sp_events *ev, FILE *out);
/* The same with options (`opt` may be NULL: defaults), e.g. what-if rows to add as a section. */
SP_API sp_status sp_report_write_html_opts(const sp_report *r, const sp_events *ev, const sp_html_options *opt,
                                           FILE *out);
/* The what-if section alone, for embedding in a page this library did not write: one <section>
 * element holding a table and an inline SVG bar chart of p50/p95/p99 per policy. At most
 * SP_HTML_MAX_WHATIF_ROWS rows are drawn. `rows` may be NULL when n is 0. Returns SP_ERR_IO. */
SP_API sp_status sp_report_write_html_whatif(const sp_whatif_row *rows, size_t n, FILE *out);

/* ---- a what-if study (sp_whatif_study, whatif.h; built when the what-if library is) ---- */

struct sp_whatif_study;

/* The terminal table (docs/whatif.md "Output"): the observed policy and where each setting came from,
 * the fit, one row per policy with durations in the report's units and an extrapolation mark, the
 * advice and the SLO choice. SP_ERR_INVALID for a study without results, SP_ERR_NOMEM, SP_ERR_IO. */
SP_API sp_status sp_whatif_write_text(const struct sp_whatif_study *s, FILE *out);
/* The same as one servprof.whatif/1 JSON object (docs/whatif.md "JSON"). SP_ERR_INVALID, SP_ERR_IO. */
SP_API sp_status sp_whatif_write_json(const struct sp_whatif_study *s, FILE *out);
/* The HTML report of `r` with the study as its what-if section, the observed policy marked as the
 * baseline (sp_report_write_html_opts; `ev` is not read). SP_ERR_INVALID, SP_ERR_NOMEM, SP_ERR_IO. */
SP_API sp_status sp_whatif_write_html(const struct sp_whatif_study *s, const sp_report *r, const sp_events *ev,
                                      FILE *out);

/* ---- a comparison of two runs (sp_diff, diff.h; docs/diff.md) ---- */

struct sp_diff;

/* The terminal diff (docs/diff.md "Output"): both runs, end-to-end latency, each stage's p50/p95/p99
 * and share of p95, padding and cost, each with BASE, NEW, the change and its interval; the verdict
 * before and after; the conditions checked and whether they hold. SP_ERR_INVALID, SP_ERR_IO. */
SP_API sp_status sp_diff_write_text(const struct sp_diff *d, FILE *out);
/* The same as one servprof.diff/1 JSON object (docs/diff.md "JSON"). SP_ERR_INVALID, SP_ERR_IO. */
SP_API sp_status sp_diff_write_json(const struct sp_diff *d, FILE *out);
/* A self-contained HTML page in the style of the HTML report (docs/diff.md "HTML"): the gate, both
 * verdicts, shares of p95 before and after, each change with its interval, and every figure in
 * tables. SP_ERR_INVALID, SP_ERR_IO. */
SP_API sp_status sp_diff_write_html(const struct sp_diff *d, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
