/* Private parts of the diff library (include/servprof/diff.h): the run object (one side's figures
 * and, from traces, its per-request rows), the statistics recomputed on a resample of those rows and
 * the bootstrap that draws the resamples, the reader of servprof.report/1 documents, and the diff's
 * own string storage. docs/diff.md states the rules these implement. */
#ifndef SERVPROF_DIFF_INT_H
#define SERVPROF_DIFF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "servprof/diff.h"

/* ---- run_store.c: one side (filled by run.c and report_read.c) ---- */

/* One stage row of a run, as its report gives it. */
typedef struct sp_diff_stage_fig {
    char *name;
    uint64_t p50_ns, p95_ns, p99_ns;
    int pct_unknown;  /* the report gives no p50/p95/p99 of the stage (null: a fleet report, estimated from
                         aggregated counters, knows only each stage's share): those metrics are NaN */
    double share_p95;
} sp_diff_stage_fig;

struct sp_diff_run {
    char *label;
    sp_diff_source source;
    size_t files;
    size_t replicas;                  /* a fleet report's replicas (its source.replicas); 0 otherwise */
    uint64_t requests;
    uint64_t with_client;             /* requests whose end-to-end is the client's (send -> reply) */
    uint64_t requests_total;          /* requests of every outcome, from traces (0: not known, a report) */
    uint64_t clients_unjoined;        /* client records joined to no request, from traces */
    int generation;                   /* a generation service's run (the report's generation data:
                                         steps, TTFT and TPOT, docs/generation.md) */
    uint64_t lat_ns[3];               /* end-to-end p50, p95, p99 */
    size_t n_stages;
    sp_diff_stage_fig *stages;        /* report order */
    /* NaN where the report has null */
    double waste_fraction, padding_share_p95, padding_share_of_bill;
    double price_per_hour;
    int price_is_default;
    double per_request;
    double per_request_by_state[SP_COST_STATE_COUNT];
    char *verdict_stage;              /* NULL: none */
    char *verdict_group;
    double verdict_share_p95;         /* NaN: none */
    char *verdict_sentence;           /* NULL: none */
    /* per-request rows, latency-rank order (sp_request_rows); n_rows 0 without them */
    size_t n_rows;
    uint64_t *life_ns;                /* ascending */
    uint64_t *stage_ns;               /* n_rows x n_stages, row-major */
    double *padding_ns;
    uint32_t *by_arrival;             /* n_rows: the rows in arrival order */
};

/* An empty run (every double NaN, strings NULL), or NULL when out of memory. */
sp_diff_run *sp_diff_run_new(void);

/* A copy of s (NULL stays NULL); NULL also when out of memory, which *failed then records. */
char *sp_diff_strdup(const char *s, int *failed);

/* ---- report_read.c: a servprof.report/1 document ---- */

/* What the bytes at data[0..len) are, from their first JSON tokens. */
typedef enum sp_diff_doc {
    SP_DIFF_DOC_OTHER = 0,            /* not a servprof JSON document: a trace, for the loader */
    SP_DIFF_DOC_REPORT,               /* "schema": "servprof.report/1" first */
    SP_DIFF_DOC_FOREIGN               /* another servprof schema first ("servprof.diff/1", ...) */
} sp_diff_doc;

/* Looks at the start of data[0..len) (a prefix is enough: a few hundred bytes). For
 * SP_DIFF_DOC_FOREIGN the schema's name is copied into schema[schema_len]. */
sp_diff_doc sp_diff_sniff(const void *data, size_t len, char *schema, size_t schema_len);

/* ---- stats.c: the figures recomputed from per-request rows ---- */

/* Statistics per resample, in this order: end-to-end p50, p95, p99; for each stage of the diff
 * (union order) its p50, p95, p99 and share of p95; padding's share of p95. */
#define SP_DIFF_STAT_LAT(j) ((size_t)(j))
#define SP_DIFF_STAT_STAGE(u, f) ((size_t)3 + 4 * (size_t)(u) + (size_t)(f)) /* f: 0 p50, 1 p95, 2 p99, 3 share */
#define SP_DIFF_STAT_PADDING(nu) ((size_t)3 + 4 * (size_t)(nu))
#define SP_DIFF_N_STATS(nu) ((size_t)4 + 4 * (size_t)(nu))

/* One run's rows, ready to be resampled. */
typedef struct sp_diff_rows {
    size_t n, ns;
    const uint64_t *life_ns;          /* n, ascending (latency-rank order) */
    const uint64_t *stage_ns;         /* n x ns */
    const double *padding_ns;         /* n */
    const uint32_t *by_arrival;       /* n: the rows in arrival order */
    uint32_t *order;                  /* ns x n: per column, the rows by ascending time (owned) */
} sp_diff_rows;

/* Points `rows` at the run's per-request rows and sorts each stage column's order. Returns SP_OK,
 * SP_ERR_LIMIT (more than UINT32_MAX rows), SP_ERR_NOMEM. */
sp_status sp_diff_rows_prepare(sp_diff_rows *rows, const sp_diff_run *run);
void sp_diff_rows_free(sp_diff_rows *rows);

/* The statistics (SP_DIFF_N_STATS(nu) of them) of the multiset that holds row i counts[i] times
 * (counts NULL: each row once; the counts sum to rows->n), as the analysis computes them on its
 * requests: nearest-rank percentiles (DESIGN 4) and shares of p95 over the window of
 * sp_share_window, sums in ascending rank order. col[u] is the column of union stage u in these
 * rows, or -1 when the run lacks it (its statistics are then 0). */
void sp_diff_stats(const sp_diff_rows *rows, const uint32_t *counts, const int *col, size_t nu, double *stats);

/* One resample's row counts (summing to n): blocks of `block` rows consecutive in `by_arrival`
 * (circularly: past the last row comes the first), each starting at a position drawn uniformly with
 * replacement (the top 53 bits of the next 64 as a fraction of n, floored), until n rows are drawn;
 * the last block is cut short. Block 1 (or by_arrival NULL) draws rows one by one. */
void sp_diff_draw(sp_rng *rng, size_t n, const uint32_t *by_arrival, size_t block, uint32_t *counts);

/* The block length a run of n requests is resampled in: `option` when not 0 (at most n / 10), else
 * max(SP_DIFF_MIN_BLOCK, ceil(sqrt(n))) cut to n / SP_DIFF_MIN_BLOCKS (at least 1). */
size_t sp_diff_block_len(size_t n, unsigned option);

/* The bootstrap (docs/diff.md, "Confidence"): for r = 1..resamples, a resample of BASE's rows
 * (RNG stream 1 of the seed) and of NEW's (stream 2), each drawn in blocks of
 * sp_diff_block_len(n, opt->block), and the change of every statistic; lo[k] and
 * hi[k] get the nearest-rank percentiles (1 - confidence) / 2 and (1 + confidence) / 2 of the
 * changes of statistic k. Returns SP_OK, SP_ERR_LIMIT (resamples x statistics over
 * SP_DIFF_MAX_BOOT_VALUES), SP_ERR_NOMEM. */
#define SP_DIFF_MAX_BOOT_VALUES ((size_t)64 << 20)
sp_status sp_diff_bootstrap(const sp_diff_rows *base, const int *base_col, const sp_diff_rows *after,
                            const int *after_col, size_t nu, const sp_diff_options *opt, double *lo, double *hi);

/* The nearest-rank percentile, in thousandths of a percent (common/quantile.h), of the interval's
 * lower end: (1 - confidence) / 2; the upper end is 100000 minus it. */
uint32_t sp_diff_lower_q(double confidence);

/* ---- condition.c ---- */

/* The canonical path of metric path or alias `in` ("p95" is "latency.p95") into canon[len], and its
 * unit. Returns 0, or -1 when `in` is no metric's path (a stage's existence is not checked). */
int sp_diff_metric_path(const char *in, char *canon, size_t len, sp_diff_unit *unit);

/* Decides condition `c` on metric `m` into k's basis, bound, base_zero and holds (docs/diff.md,
 * "Conditions"). */
void sp_diff_evaluate(const sp_diff_metric *m, const sp_diff_condition *c, sp_diff_check *k);

#endif
