/* servprof fleet: the usual report (stage table with shares of pXX, padding, cost, verdict) for a fleet
 * of replicas, from the live metrics each one exposes at /metrics (trace.h, sp_recorder_metrics_text;
 * docs/metrics.md), summed over every replica and over a window: read from Prometheus' HTTP query API,
 * or from /metrics texts scraped once. The report is an sp_report estimated from aggregated counters
 * (analyze.h, sp_report_from_buckets); its `source` names the replicas and the window; the writers of
 * report.h write it. docs/fleet.md walks from one replica to a fleet report. */
#ifndef SERVPROF_FLEET_H
#define SERVPROF_FLEET_H

#include "servprof/analyze.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options of the fleet report; fill with sp_fleet_options_init (trace.h's ABI rule: struct_size).
 * Strings are borrowed for the call. */
typedef struct sp_fleet_options {
    size_t struct_size;
    const char *range;        /* the window, a Prometheus duration ("5m", "1h30m", "90s"); NULL: "5m" */
    const char *selector;     /* label matchers the replicas' series must match, as PromQL writes them
                                 after a metric name: {job="serve"}; NULL or "": every servprof series */
    double at_unix_s;         /* the window's end, Unix seconds; 0: Prometheus' present */
    double timeout_s;         /* per HTTP request; 0: 30 s */
    double price_per_hour;    /* > 0: bill at this price (at most SP_MAX_PRICE_PER_HOUR); 0: the replicas'
                                 servprof_price_per_hour, else SP_DEFAULT_PRICE_PER_HOUR (the report says which) */
} sp_fleet_options;

SP_API void sp_fleet_options_init(sp_fleet_options *opt);

/* Checks the options before anything is fetched: the range is a Prometheus duration of at least 1 s
 * and at most what Prometheus takes (2562047h47m16s854ms, its int64 nanoseconds), the selector one
 * {...} of label matchers, the price in [0, SP_MAX_PRICE_PER_HOUR] (0: none), the time finite and >= 0.
 * Returns SP_OK or
 * SP_ERR_INVALID with a message naming the option in `err`. */
SP_API sp_status sp_fleet_options_check(const sp_fleet_options *opt, char *err, size_t errlen);

/* Whether this build can query Prometheus (it needs libcurl and jansson at build time). */
SP_API int sp_fleet_has_prometheus(void);

/* The fleet report over the window that ends at opt->at_unix_s (or now) and lasts opt->range, from the
 * Prometheus server at `url` (http:// or https://, e.g. http://127.0.0.1:9090): each counter's
 * increase() over the window, summed over every series the selector matches (docs/fleet.md lists the
 * queries). `*out` is written only on success; free it with sp_report_destroy. Returns SP_ERR_INVALID
 * (options, URL), SP_ERR_IO (Prometheus cannot be reached, answers an HTTP error or refuses a query:
 * `err` quotes it), SP_ERR_PARSE (an answer that is not Prometheus' JSON, or one that servprof
 * refuses, such as NaN, a negative count, a series twice or histograms that do not hold together:
 * docs/fleet.md, "What Prometheus must answer"; `err` quotes the query; or a replica's
 * servprof_price_per_hour that is neither 0 nor in (0, SP_MAX_PRICE_PER_HOUR]: `err` names the replica
 * and the metric), SP_ERR_FORMAT (no servprof
 * series match: `err` says what was asked), SP_ERR_UNSUPPORTED (sp_fleet_has_prometheus is 0),
 * SP_ERR_NOMEM. */
SP_API sp_status sp_fleet_report_prometheus(const char *url, const sp_fleet_options *opt, sp_report **out,
                                            char *err, size_t errlen);

/* One replica's /metrics text, scraped once. */
typedef struct sp_fleet_text {
    const char *replica;      /* its name in the report ("host:port") */
    const char *text;
    size_t len;
} sp_fleet_text;

/* The fleet report from texts scraped once from each replica: the counters since each one started
 * (the window is the longest any replica's device timeline covers; opt->range and selector are not
 * used). A text that is not the exposition format is SP_ERR_PARSE naming the replica and line, a
 * servprof_price_per_hour that is neither 0 nor in (0, SP_MAX_PRICE_PER_HOUR] SP_ERR_PARSE naming the
 * replica and the metric;
 * SP_ERR_PARSE too when the histograms do not hold together (an le that is not a number, a bucket
 * the latency histogram lacks, cumulative sums that fall); SP_ERR_FORMAT when no text holds servprof's
 * metrics; SP_ERR_INVALID (options), SP_ERR_NOMEM. */
SP_API sp_status sp_fleet_report_texts(const sp_fleet_text *texts, size_t n, const sp_fleet_options *opt,
                                       sp_report **out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
