/* Private state of the generation analysis (docs/generation.md), shared by generation.c (the TTFT and
 * TPOT tables), generation_figures.c (steps, padding, KV cache, cost per token, client figures, what the
 * trace cannot show) and generation_verdict.c (the two verdicts). */
#ifndef SERVPROF_GENERATION_INT_H
#define SERVPROF_GENERATION_INT_H

#include "analyze/analyze_int.h"

/* The rows of both tables, in report order; named stages follow GR_FIXED, then `other`. */
enum gen_row {
    GR_QUEUE = 0,
    GR_PREPROCESS,
    GR_PREFILL_KERNEL,
    GR_PREFILL_GAP,
    GR_PREFILL_H2D,
    GR_PREFILL_D2H,
    GR_PREFILL_MODEL,     /* prefill time a trace gives whole (vLLM's spans: named stage "prefill") */
    GR_DECODE_KERNEL,
    GR_DECODE_GAP,
    GR_DECODE_H2D,
    GR_DECODE_D2H,
    GR_DECODE_MODEL,      /* named stage "decode" */
    GR_BETWEEN,           /* between the request's steps, covered by no span */
    GR_DETOKENIZE,
    GR_STREAM,
    GR_POSTPROCESS,
    GR_NETWORK,
    GR_FIXED
};

/* The two windows of a request's life the tables partition. */
enum gen_window { GW_TTFT = 0, GW_TPOT, GW_COUNT };

/* One table's per-request data (requests in the table only). */
typedef struct gen_tab {
    size_t n;
    uint32_t *req;             /* per table request: index into the gen requests (gen_ctx) */
    uint64_t *times;           /* n x n_rows, ns of the window */
    uint64_t *total;           /* the window's length (TTFT: with the network time of a client merge) */
    uint64_t *div;             /* TPOT: output tokens - 1 (>= 1); TTFT: NULL */
    double *pad[2];            /* padding time of the prefill and decode kernel rows (DESIGN 5) */
    uint64_t *between_busy;    /* `between steps` time while another step of the same file ran */
    uint64_t *figure;          /* the table's figure: total (TTFT) or total / div rounded (TPOT) */
    uint32_t *order;           /* table requests by figure, ties by request id, arrival, file */
    uint32_t *vis;             /* the rows the table shows (gen rows), in report order */
    size_t n_vis;
    double pad_share[2];       /* padding share of p95 of the prefill and decode kernel rows */
    double between_other;      /* at p95: the part of `between steps` while another step ran; -1: none */
} gen_tab;

typedef struct gen_ctx {
    sp_ana *a;
    sp_gen_summary *g;
    size_t n_rows;             /* GR_FIXED + named + 1 (other) */
    const char **row_name;     /* per row; static or owned by the report */
    int *named_row;            /* per DESIGN 3 stage row of a->named_ids: its gen row */
    size_t n_gen;              /* analysed requests with token records, kept in the tables' input */
    uint32_t *gen_pos;         /* per gen request: its position among the analysed requests */
    uint64_t *out_tokens;      /* per gen request: output tokens */
    gen_tab tab[GW_COUNT];
    sp_ival *busy;             /* per file: merged step windows (between_busy), in file order */
    size_t *busy_off;          /* busy[busy_off[f] .. busy_off[f + 1]) */
} gen_ctx;

static inline size_t gen_other_row(const gen_ctx *c)
{
    return c->n_rows - 1;
}

/* ---- generation_figures.c ---- */
/* Steps, their padding by phase and the KV cache (sp_gen_summary's step figures). */
sp_status sp_gen_step_figures(gen_ctx *c);
/* Merged step windows per file into c->busy (for `between steps`' other-steps part). */
sp_status sp_gen_busy_windows(gen_ctx *c);
/* Cost per output token, overall, by device state and per request. */
sp_status sp_gen_cost_figures(gen_ctx *c);
/* The streaming client's TTFT, TPOT, ITL and end-to-end from intended send times. */
sp_status sp_gen_client_figures(gen_ctx *c);
/* What the trace cannot show, as sentences (sp_gen_summary.limits). */
sp_status sp_gen_limits(gen_ctx *c);
/* Whether the KV cache is nearly full (occupancy p95 of steps >= 90%). */
int sp_gen_kv_full(const sp_gen_summary *g);

/* ---- generation_verdict.c ---- */
/* The verdict on table `w` (DESIGN 8 over its rows), into its sp_gen_table. */
sp_status sp_gen_verdict(gen_ctx *c, int w);

#endif
