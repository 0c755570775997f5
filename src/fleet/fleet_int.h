/* What the fleet part's files share (src/fleet): the set of samples read from Prometheus' answers
 * (prometheus.c) or from /metrics texts (exposition.c), and its aggregation into the figures a report
 * is built from (samples.c). Calls go one way: fleet.c uses the three, prometheus.c and exposition.c
 * use samples.c. */
#ifndef SERVPROF_FLEET_INT_H
#define SERVPROF_FLEET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "servprof/analyze.h"
#include "servprof/fleet.h"

#define SP_FL_MAX_LABELS 16
#define SP_FL_MAX_SAMPLES ((size_t)4 << 20)

/* One sample: a metric name, its labels, a value. */
typedef struct sp_fl_sample {
    char *metric;
    size_t n_labels;
    char *label_name[SP_FL_MAX_LABELS];
    char *label_value[SP_FL_MAX_LABELS];
    double value;
} sp_fl_sample;

typedef struct sp_fl_set {
    sp_fl_sample *s;
    size_t n, cap;
} sp_fl_set;

void sp_fl_set_free(sp_fl_set *set);
/* Adds a sample (everything copied). SP_OK, SP_ERR_LIMIT (more than SP_FL_MAX_LABELS labels or
 * SP_FL_MAX_SAMPLES samples), SP_ERR_NOMEM. */
sp_status sp_fl_set_add(sp_fl_set *set, const char *metric, size_t n_labels, const char *const *names,
                        const char *const *values, double value);
/* The value of label `name` of a sample, NULL when it has none. */
const char *sp_fl_label(const sp_fl_sample *s, const char *name);

/* Where the samples came from, for the report's source. */
typedef struct sp_fl_origin {
    const char *kind, *url, *selector, *range;
    double window_s;          /* <= 0: derive it from the device timeline (texts since start) */
    double end_unix_s;
    double price_per_hour;    /* the option; <= 0: the replicas' price */
} sp_fl_origin;

/* The report of the samples (sp_report_from_buckets): sums every series of each servprof metric over
 * the replicas; the replicas are the distinct (job, instance) pairs of servprof_requests_total.
 * SP_ERR_FORMAT when no servprof_requests_total sample is there; SP_ERR_PARSE when a replica's
 * servprof_price_per_hour is neither 0 nor in (0, SP_MAX_PRICE_PER_HOUR] (err names the replica and the
 * metric); SP_ERR_PARSE when the samples do not hold together (err says which metric; SP_ERR_INVALID
 * before, which the CLI takes for a usage error, exit 2); SP_ERR_NOMEM. */
sp_status sp_fl_report(const sp_fl_set *set, const sp_fl_origin *origin, sp_report **out, char *err,
                       size_t errlen);

/* ---- exposition.c ---- */
/* Reads one /metrics text (Prometheus text format 0.0.4) into `set`, giving every sample the labels
 * job="metrics" and instance=`replica`. SP_ERR_PARSE naming the replica and line on a malformed line. */
sp_status sp_fl_parse_exposition(sp_fl_set *set, const char *replica, const char *text, size_t len, char *err,
                                 size_t errlen);

/* ---- prometheus.c ---- */
/* The name under which a replica's increase() of servprof_metrics_uptime_seconds over the window (the
 * time Prometheus scraped it for) is kept in the set; no replica publishes a metric of this name. */
#define SP_FL_SCRAPED_SECONDS "servprof:scraped_seconds"

/* Runs the fleet queries against `url` for the window and fills `set`; *end_unix_s gets the
 * evaluation time. Errors as sp_fleet_report_prometheus. */
sp_status sp_fl_query_prometheus(const char *url, const sp_fleet_options *opt, sp_fl_set *set, double *end_unix_s,
                                 char *err, size_t errlen);
int sp_fl_has_prometheus(void);
/* The fleet's queries (0 in a build without the client), query k's text for a selector and range, and
 * an answer's body (Prometheus' JSON) to query k read into the set as sp_fl_query_prometheus reads it:
 * SP_ERR_PARSE for a body that is not a success or an answer it refuses (err says why). For
 * tests/fuzz/fuzz_prometheus_answers.c, which feeds them arbitrary bytes. */
size_t sp_fl_query_count(void);
sp_status sp_fl_query_text(size_t k, const char *sel, const char *range, char *q, size_t qlen);
sp_status sp_fl_add_answer(sp_fl_set *set, size_t k, const char *q, const char *body, size_t len, char *err,
                           size_t errlen);

/* qsort/bsearch order of C strings held by pointer (char *[] or const char *[]): strcmp's. */
int sp_fl_str_cmp(const void *a, const void *b);

/* ---- fleet.c ---- */
/* A Prometheus duration ("5m", "1h30m") in ms: 0 with *ms set; -1 when it is not one; 1 when it is
 * longer than Prometheus takes (int64 nanoseconds, about 292 years). */
int sp_fl_duration_ms(const char *s, uint64_t *ms);
/* The same in seconds; -1 when it is not one Prometheus takes. */
double sp_fl_duration_s(const char *s);

#endif
