/* Private state shared by the analyzer's files: the working context one sp_analyze call builds
 * (valid requests, per-batch facts, per-request stage times) and the small interval, sorting and
 * percentile helpers every stage of the analysis uses. See docs/analysis.md for the rules. */
#ifndef SERVPROF_ANALYZE_INT_H
#define SERVPROF_ANALYZE_INT_H

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/quantile.h"
#include "common/sort.h"
#include "analyze/report_store.h"
#include "analyze/shared_rules.h"
#include "model/events_int.h"
#include "servprof/analyze.h"

/* Named (non-built-in) stages one analysis may report; more is SP_ERR_LIMIT, because the per-request
 * stage matrix is requests x stages. */
#define SP_ANA_MAX_NAMED_STAGES 64u
/* Stage rows at most: seven fixed, network, the named ones, other. */
#define SP_ANA_MAX_STAGES (SP_ANA_MAX_NAMED_STAGES + 9u)
/* HTA's kernel_wait threshold: gaps under 30 us between events on a stream (DESIGN section 6). */
#define SP_ANA_KERNEL_WAIT_NS 30000u
/* Verdict thresholds for recommending a model change (DESIGN section 8, docs/analysis.md). */
#define SP_ANA_MODEL_MIN_KERNEL_SHARE 0.5
#define SP_ANA_MODEL_MAX_GAP_SHARE 0.1
#define SP_ANA_MODEL_MAX_PADDING_SHARE 0.1
/* GPU-only verdict: busy/span at or above this is "busy", below it "starved". */
#define SP_ANA_GPU_BUSY_FRACTION 0.8

/* Half-open interval [s, e) in ns. */
typedef struct sp_ival {
    uint64_t s, e;
} sp_ival;

/* Batch-window labels, in priority order (DESIGN section 3). */
enum { SP_LBL_KERNEL = 0, SP_LBL_H2D, SP_LBL_D2H, SP_LBL_GAP, SP_LBL_COUNT };

/* One piece of a request's partitioned life (sp_ana_request_pieces): [s, e) and what owns it. `level`
 * is a batch-window label (SP_LBL_*: `payload` is the batch index) or one of SP_PIECE_*. */
typedef struct sp_ana_piece {
    uint64_t s, e;
    uint32_t level;
    uint32_t payload;
} sp_ana_piece;

enum {
    SP_PIECE_SPAN = SP_LBL_COUNT, /* the request's own stage span: `payload` is its stage row */
    SP_PIECE_BETWEEN,             /* between its first and last batch windows, covered by nothing:
                                     DESIGN 3's queue */
    SP_PIECE_OTHER                /* covered by nothing */
};

/* A batch window's labelled pieces are contiguous (they partition [start, end)), so each is kept as
 * its start in sp_ana.seg_s and its label in sp_ana.seg_label; it ends where the next one starts,
 * the last one at the batch's end: 9 bytes a piece instead of 24 (issue 15: peak memory). */

/* Per-batch facts (indexed like ev->batches). */
typedef struct sp_ana_batch {
    double waste;            /* 1 - effective/padded, clamped to [0, 1]; 0 when tokens unknown */
    uint32_t first_seg, nsegs; /* into sp_ana.seg_s/seg_label: a partition of [start, end) by label (the
                                  segment arrays hold at most SP_ANA_MAX_SEGS) */
    uint32_t dev;            /* index into the analysis' device list */
    uint8_t valid;           /* has a record and a well-formed window */
    uint8_t has_tokens;
} sp_ana_batch;
_Static_assert(sizeof(sp_ana_batch) == 24, "a batch's analysis facts are 24 bytes (they were 40)");
#define SP_ANA_MAX_SEGS ((size_t)UINT32_MAX) /* batch pieces in all (sp_ana_batch.first_seg, nsegs) */

/* Device key: (file, device); activity ties and cost states are per device of a file. */
typedef struct sp_devkey {
    uint32_t file, device;
} sp_devkey;

/* Working context of one sp_analyze call. */
/* Whole pages of an array the analysis has done with (NULL, 0: none). */
typedef struct sp_ana_stretch {
    void *p;
    size_t bytes;
} sp_ana_stretch;

typedef struct sp_ana {
    sp_events *ev;
    sp_analyze_options opt;
    sp_report *r;
    uint64_t t0_ns;                /* when sp_analyze began (progress) */
    unsigned step_no, step_count;  /* progress: steps begun so far, of how many */
    /* analysed requests (indexes into ev->requests) */
    uint32_t *reqs;
    size_t n_reqs;
    /* batches */
    sp_ana_batch *b;
    /* batch pieces: start (see first_seg), absolute (seg_s), or as the offset from the batch's start
     * in 4 bytes (seg_off32) when every valid batch window is under 2^32 ns; the other is NULL. Read
     * them with sp_ana_seg_start. */
    uint64_t *seg_s;
    uint32_t *seg_off32;
    uint8_t *seg_label;            /* batch pieces: label (SP_LBL_*) */
    size_t n_segs, cap_seg_s, cap_seg_label;
    /* how build_segments tied the activity, for tests: 1 in one pass (every activity names its batch,
     * the batches in order); 0 by the counting sort; -1 by the counting sort after the one pass had
     * built some batches' pieces and given up */
    int segs_one_pass;
    /* devices */
    sp_devkey *devs;
    size_t n_devs;
    uint32_t *act_dev;             /* per activity: index into devs, SP_EV_NONE for sync */
    /* stages: fixed rows then network (optional), named (alphabetical), other */
    size_t n_stages;
    int st_queue, st_pre, st_h2d, st_kernel, st_gap, st_d2h, st_post, st_network, st_other;
    sp_str *named_ids;             /* stage name ids of named rows, alphabetical */
    size_t n_named;
    /* n_reqs x n_stages stage times, row-major per request: 4 bytes each (times32) when every analysed
     * life fits in 32 bits, else 8 (times); the other is NULL (docs/analysis.md section 8, "Memory").
     * A stage time is at most its request's life, so the narrow matrix holds each one exactly. Read
     * them with sp_ana_time. */
    uint64_t *times;
    uint32_t *times32;
    /* over the analysed requests (select_requests, which reads every request record once): the longest
     * life, the first arrival and last done (SP_TIME_NONE and 0 without any), and whether any has a
     * usable client record (without one each life is [arrival, done)) */
    uint64_t max_life, first_arrival, last_done;
    int any_client;
    double *padding;               /* per analysed request: padding time (DESIGN section 5) */
    int padding_summed;            /* their total is in r->padding (sp_ana_padding_total) */
    uint64_t *life;                /* per analysed request: hi - lo */
    uint32_t *by_latency;          /* analysed-request positions sorted by life, ties by request id
                                      text, then arrival, then file (docs/analysis.md, "Ties"); only
                                      with the detail, or where the windows below are not taken */
    uint32_t *share_win[3];        /* without by_latency: the p50, p95 and p99 share windows'
                                      positions in rank order, ranks lo..hi of sp_ana_share_window */
    int has_network;
    sp_str loop_stage[2];          /* the names event_loop, event_loop_wait (SP_EV_NONE: absent) */
    uint64_t skipped;              /* malformed records skipped under lenient */
    sp_report_detail *detail;      /* r->detail: filled along the way under keep_detail, else NULL */
    struct sp_ana_paint *paint;    /* the partition's scratch, kept for sp_ana_request_pieces */
    double *req_cost;              /* per analysed request: its apportioned cost (cost.c); from a->scratch */
    struct sp_ana_scratch *scratch; /* the steps' large scratch arrays (scratch.c); NULL: malloc */
    sp_ana_stretch spans_kept[2];  /* under release_events: the span pages each partition thread kept in */
    void *rank_scratch[2];         /* the ranking's two record arrays when taken ahead (sp_ana_rank_reserve) */
    int launches_overwritten;      /* the GPU figures' join wrote over ev->launches (li->calls) */
    int launch_calls_back;         /* and the GPU figures handed those calls' pages back */
    pthread_t tail_th;             /* cost_and_verdict's second thread, when it is left to hand the */
    int tail_join;                 /* activity's pages back (sp_ana_join_tail) */
} sp_ana;

/* The start of batch piece k (an index into the pieces), which belongs to batch b. */
static inline uint64_t sp_ana_seg_start(const sp_ana *a, const sp_ev_batch *b, size_t k)
{
    return a->seg_s ? a->seg_s[k] : b->start_ns + a->seg_off32[k];
}

/* Analysed request i's time in stage row s. */
static inline uint64_t sp_ana_time(const sp_ana *a, size_t i, size_t s)
{
    size_t k = i * a->n_stages + s;
    return a->times32 ? a->times32[k] : a->times[k];
}

/* A request with usable client times, whose life is client-observed (docs/analysis.md, "Client
 * merge"). */
static inline int sp_ana_has_client(const struct sp_events *ev, const sp_ev_request *q)
{
    const sp_ev_request_cold *c = sp_ev_cold(ev, q);
    return c->client_send_ns != SP_TIME_NONE && c->client_done_ns != SP_TIME_NONE &&
           c->client_done_ns >= c->client_send_ns;
}

/* Device work (DESIGN section 6): every activity but a synchronisation wait. */
static inline int sp_ana_act_is_work(const sp_ev_activity *x)
{
    return x->kind != SP_ACT_SYNC;
}

/* Whether a request is among the analysed ones (docs/analysis.md, "Outcomes"): it has a request
 * record and its outcome is in the scope (ok; or any finished outcome under SP_SCOPE_FINISHED). */
static inline int sp_ana_in_scope(const sp_ev_request *q, sp_outcome_scope scope)
{
    if (!q->has_record || q->outcome == SP_OUTCOME_UNFINISHED)
        return 0;
    return q->outcome == SP_OUTCOME_OK || scope == SP_SCOPE_FINISHED;
}

/* Under release_events the set's stage spans go once the partition has made them stage times (the
 * pages behind each partition thread as it walks them, then the array), unless a generation trace's
 * tables will read them again (docs/analysis.md section 8, "Memory"). */
static inline int sp_ana_releases_spans(const sp_ana *a)
{
    return a->opt.release_events && !a->ev->n_tokens && !a->ev->n_steps;
}
/* The partition hands read span pages back in steps of this many bytes; a variable (defined in
 * partition.c) so that tests can make small traces take every step. */
#define SP_ANA_DISCARD_STEP ((size_t)4 << 20)
extern size_t sp_ana_discard_step;
/* Under release_events the partition keeps the last span pages it read, this many bytes an analysed
 * request less the launch calls' bytes, and the launch calls after the GPU figures, in for the scratch
 * stack instead of handing them back, so that the stage rows' arrays (the ranking's two 16-byte records,
 * two 8-byte columns and the request figures' 8-byte column a request, at once) land on pages already
 * in (docs/analysis.md section 8, "Memory"). Not all of it: pages kept are in while the partition ends,
 * and 36 leaves the peak where it was on the 10 M-event native trace (40 raised it on the 100 M-event
 * one, 48 on both). A variable
 * (defined in partition.c) so that tests can keep every page (SIZE_MAX) or none (0). */
#define SP_ANA_KEEP_PER_REQUEST ((size_t)36)
extern size_t sp_ana_keep_per_request;
/* The span pages of that budget are kept only up to this many analysed requests: until the ranking's
 * 16-byte records fill a scratch chunk (128 MiB). Past it every stage row array takes a chunk its own
 * size, the columns land in the GPU figures' chunks already in or in fresh ones, and the kept span
 * pages raised the peak (4.93 GB against 4.72 at the end of the stage rows of the 100 M-event native
 * trace, docs/BENCHMARKS.md, branch keptfit); the launch calls are kept where whole, and where written
 * over (release_events) past this many request records handed back by the GPU figures instead (gpu.c).
 * A variable (defined in partition.c) so that tests take both routes. */
#define SP_ANA_KEEP_SPANS_MAX (((size_t)128 << 20) / 16)
extern size_t sp_ana_keep_spans_max;
/* Under release_events the partition threads move the span pages they have read under their next rows
 * of stage times, lives and padding times (sp_move_pages) instead of only handing them back; 0 (tests)
 * discards them as before. Defined in partition.c. */
extern int sp_ana_move_pages;
/* Under release_events, after the partition and the GPU figures: the set's spans (unless the
 * generation tables read them again) and launch calls, their kept pages handed to the scratch stack,
 * the rest back to the kernel; without a stack, freed (analyze.c). */
void sp_ana_recycle_released(sp_ana *a);

/* ---- scratch.c: large scratch arrays kept from step to step (docs/analysis.md section 8, "Memory") ---- */
/* A stack of arrays in a few large chunks: a step takes an array and gives it back when done; once
 * every array taken after it is back, its place is taken again, by the next array of any size in any
 * step or thread, on pages that are already in. Arrays given back last-in first-out free their place
 * at once. Safe to use from the steps that run beside each other. */
typedef struct sp_ana_scratch sp_ana_scratch;
/* Requests below this many bytes are plain malloc (a variable, defined in scratch.c, so that tests can
 * send small traces' arrays through the stack too). */
#define SP_ANA_SCRATCH_MIN ((size_t)1 << 20)
extern size_t sp_ana_scratch_min;
/* NULL when out of memory: sp_ana_scratch_get is then malloc, sp_ana_scratch_put free. */
sp_ana_scratch *sp_ana_scratch_create(void);
/* Frees every block (every one must have been given back). NULL is fine. */
void sp_ana_scratch_destroy(sp_ana_scratch *s);
/* The most blocks sp_ana_scratch_release hands out. */
#define SP_ANA_SCRATCH_BLOCKS 12
/* sp_ana_scratch_destroy, but the blocks (at most SP_ANA_SCRATCH_BLOCKS) go to out[] for the caller
 * to free instead; returns how many. Only the stack itself is freed here. NULL is fine (0). */
size_t sp_ana_scratch_release(sp_ana_scratch *s, void **out);
/* At least `bytes` (at least one) of uninitialised memory, or NULL when out of memory. */
void *sp_ana_scratch_get(sp_ana_scratch *s, size_t bytes);
/* Gives back what sp_ana_scratch_get returned (NULL is fine). */
void sp_ana_scratch_put(sp_ana_scratch *s, void *p);
/* Hands the stack memory that is already in and that nobody reads again: `n` stretches (lo[k], len[k]
 * bytes; at most four in all, each inside `block`) become chunks that arrays are carved from before
 * any other, and `block` (a malloc'd array of the event set the analysis has done with) is freed with
 * the stack. 1: taken; 0: not (no room, or no stack), the caller still owns `block`. Stretches too short
 * for one aligned array are left unused. */
int sp_ana_scratch_adopt(sp_ana_scratch *s, void *block, void *const *lo, const size_t *len, size_t n);
/* Zeroes `bytes` at p by writing. For sums built with += (which read first): a read of calloc's fresh,
 * untouched pages maps the shared zero page, which the first write then copies: a second fault per
 * page, and a TLB flush on every core that runs a thread of the process (the two-thread steps). Plain
 * memset after malloc does not do: GCC turns malloc + memset into calloc. */
void sp_ana_zero(void *p, size_t bytes);
/* A zeroed array of n doubles (at least one) for sums built with +=, zeroed by writing
 * (sp_ana_zero); NULL when out of memory. Free it with free(). */
double *sp_ana_zeroed_doubles(size_t n);

/* ---- two threads (docs/analysis.md section 8, "Two threads") ---- */
/* From this many analysed requests on, two steps use a second thread: the second half of the
 * per-request partition, and the stage columns while the requests are ranked. Each part writes
 * fields the other does not touch, so the report is the same. A variable (defined in partition.c)
 * so that tests can make small sets take the two-thread route too. */
#define SP_ANA_TWO_THREADS_MIN 65536u
extern size_t sp_ana_two_threads_min;
/* Whether the stage times and the batch pieces' starts may be held in 4 bytes when every life and
 * every batch window fits (1, the default; defined in partition.c) or always in 8 (0): tests compare
 * the two. */
extern int sp_ana_narrow;
/* Whether the per-request partition may take its shortcuts for the common shapes (1, the default;
 * defined in partition.c): spans that do not overlap summed as they are instead of through the span
 * heap, the stage row from a small hash instead of a binary search, a batch's first piece found by a
 * scan when it has few. 0 forces the general path everywhere: tests compare the two. */
extern int sp_ana_part_fast;
/* The most batch pieces an analysis takes (SP_ANA_MAX_SEGS; a test lowers it): past it, SP_ERR_LIMIT. */
extern size_t sp_ana_max_segs;

/* sp_ana_quantiles (common/quantile.h's summary of v, sorted in place) with the sort's scratch from
 * the scratch stack `s` (percentile.c). SP_ERR_NOMEM. */
sp_status sp_ana_quantiles_in(sp_ana_scratch *s, uint64_t *v, size_t n, sp_quantiles *q);
/* The same figures as sp_ana_quantiles_in, and the nearest-rank values of the percentiles pct[0..np)
 * (SP_PCT units) into picked[0..np), by selection instead of a sort (sp_select_ranks_u64): exact order
 * statistics, so every figure is bit-identical to the sorted path's; the mean too, from the same
 * integer sum (a sum past 2^64 takes the sorted path). v's order is lost (not sorted); tmp holds n
 * values (NULL only when n < 2); np <= SP_SELECT_RANKS_MAX - 3. SP_OK (the sorted path with a tmp
 * cannot fail). */
sp_status sp_ana_quantiles_select(uint64_t *v, size_t n, uint64_t *tmp, sp_quantiles *q, const uint32_t *pct, size_t np,
                                  uint64_t *picked);
/* What sp_ana_quantiles_select learns in its first pass over a column: the least and greatest value,
 * the OR and the AND of all values, their sum modulo 2^64 and whether it wrapped. */
typedef struct sp_ana_col_stats {
    uint64_t lo, hi, or_k, and_k, sum;
    int wrapped;
} sp_ana_col_stats;
/* The stats of no value yet; sp_ana_col_stats_add takes each value in. */
#define SP_ANA_COL_STATS_NONE ((sp_ana_col_stats){~(uint64_t)0, 0, 0, ~(uint64_t)0, 0, 0})
/* Takes x into st: the extremes, the bits that vary and the sum (exact while it stays below 2^64: the
 * same number whatever the order). `checked` 0 skips the overflow check where the caller knows the sum
 * cannot wrap (values below 2^32, at most 2^32 of them) and sets `wrapped` itself. */
static inline void sp_ana_col_stats_add(sp_ana_col_stats *st, uint64_t x, int checked)
{
    st->lo = x < st->lo ? x : st->lo;
    st->hi = x > st->hi ? x : st->hi;
    st->or_k |= x;
    st->and_k &= x;
    if (checked)
        st->wrapped |= __builtin_add_overflow(st->sum, x, &st->sum);
    else
        st->sum += x;
}
/* The stats of v[n] (lo = UINT64_MAX, hi = 0 when n is 0). */
void sp_ana_col_stats_of(const uint64_t *v, size_t n, sp_ana_col_stats *st);
/* sp_ana_quantiles_select with the column's stats already taken (in the pass that filled it): no pass
 * of its own before the selection. */
sp_status sp_ana_quantiles_select_stats(uint64_t *v, size_t n, uint64_t *tmp, const sp_ana_col_stats *st, sp_quantiles *q,
                                        const uint32_t *pct, size_t np, uint64_t *picked);
/* Whether sp_ana_quantiles_select_stats, given these stats and np extra percentiles, reads only v[0]
 * (every value equal, the selection's route): then a caller may fill v[0] alone. */
int sp_ana_select_reads_one(const sp_ana_col_stats *cs, size_t np);
/* Whether sp_ana_quantiles_select_stats, given these stats and np extra percentiles, selects on
 * common/sort.h's digits (some bit varies, the sum did not wrap): then a caller that fills v may count
 * the selection's first digit (sp_select_first_digit) as it does and pass the counts to
 * sp_ana_quantiles_select_counted. */
int sp_ana_select_takes_counts(const sp_ana_col_stats *cs, size_t np);
/* sp_ana_quantiles_select_stats with the counts of the selection's first digit (count[d]: how many of
 * v have digit d of sp_select_first_digit(or_k ^ and_k, n)), only where sp_ana_select_takes_counts
 * says so: the selection makes no counting pass of its own first. The same figures. */
sp_status sp_ana_quantiles_select_counted(uint64_t *v, size_t n, uint64_t *tmp, const sp_ana_col_stats *cs,
                                          const size_t *count, sp_quantiles *q, const uint32_t *pct, size_t np,
                                          uint64_t *picked);
/* sp_ana_quantiles_select without extra percentiles, its tmp from the scratch stack `s`. SP_ERR_NOMEM. */
sp_status sp_ana_quantiles_select_in(sp_ana_scratch *s, uint64_t *v, size_t n, sp_quantiles *q);
/* The same over 32-bit values (a column known to fit: sp_select_ranks_u32), the same figures as over the
 * values widened. Reorders v. SP_ERR_NOMEM. */
sp_status sp_ana_quantiles_select_u32_in(sp_ana_scratch *s, uint32_t *v, size_t n, sp_quantiles *q);

/* ---- outcomes.c ---- */
/* Counts every request by outcome and status, each outcome's own latency, the rejection rate and
 * the batches in flight at an unclean end (docs/analysis.md section 0a). Requests outside the scope
 * with a record but no valid [arrival, done] are errors unless lenient (then skipped and counted),
 * as the partition does for those in it; *skipped grows by those. Reads the set and the options
 * only, writes only the report's outcome figures, so it may run beside sp_ana_partition_requests (which
 * checks the requests in the scope). */
sp_status sp_ana_outcomes(sp_ana *a, uint64_t *skipped, char *err, size_t errlen);

/* A request's life [*lo, *hi): [arrival, done), or with a client record [min(client_send, arrival),
 * max(client_done, done)) (docs/analysis.md, "Client merge"). The request has a valid [arrival, done]. */
static inline void sp_ana_life_bounds(const struct sp_events *ev, const sp_ev_request *q, uint64_t *lo,
                                      uint64_t *hi)
{
    *lo = q->arrival_ns;
    *hi = q->done_ns;
    if (sp_ana_has_client(ev, q)) {
        const sp_ev_request_cold *c = sp_ev_cold(ev, q);
        *lo = c->client_send_ns < *lo ? c->client_send_ns : *lo;
        *hi = c->client_done_ns > *hi ? c->client_done_ns : *hi;
    }
}

/* ---- share.c ---- */
/* Window W of ranks [lo, hi] (1-based, inclusive) for share of pXX over n requests (DESIGN 4). */
void sp_ana_share_window(size_t n, unsigned xx, size_t *lo, size_t *hi);
/* The report's stage rows, named (DESIGN section 3 order, network, named stages, other). */
sp_status sp_ana_name_rows(sp_ana *a);
/* Stage rows: quantiles, totals and shares of p50/p95/p99 from a->times. `idle` (may be NULL): other
 * work of the caller's that reads nothing the rows write, taken once by the thread that first finds
 * no column left while the other ends its last one. */
sp_status sp_ana_stage_rows(sp_ana *a, void (*idle)(sp_ana *));
/* Takes the latency ranking's two record arrays from the scratch stack into a->rank_scratch now (those
 * not taken yet; NULL where out of memory, which the ranking then reports); the ranking uses and gives
 * them back, sp_ana_free gives back what it did not use. */
void sp_ana_rank_reserve(sp_ana *a);
/* Whether the latency ranking's radix sort may take digits of up to 11 bits, as few as cover the
 * bits in which the keys differ, their counts in one pass (1, the default; defined in share.c), or
 * one pass per varying byte (0). A stable sort has one result: tests compare the two. */
extern int sp_ana_rank_wide;
/* Whether the ranking sorts numeric ids' keys (below 2^30) packed with their positions into 8-byte
 * values instead of 16-byte records (1, the default; defined in share.c): the same order, half the
 * bytes moved. 0 takes the records: tests compare the two. */
extern int sp_ana_rank_pack;
/* Whether the ranking's sort by latency takes each life (when all are below 2^32) packed with its
 * place in the id-prefix order into 8 bytes (1, the default; defined in share.c) instead of 16-byte
 * (life, prefix rank, position) records (0): the same ranking. Tests compare the two. */
extern int sp_ana_rank_life_pack;
/* Whether the request figures take the server-side latency's figures from the end-to-end latency's
 * when no request has a client record, the two columns then being the same lives (1, the default;
 * defined in figures.c), or copy and select the column again (0). Tests compare the two. */
extern int sp_ana_server_copy;
/* Whether the stage rows take every column's stats in one pass over the stage matrix and skip
 * gathering a column whose values are all equal (1, the default; defined in share.c), or gather each
 * column with its stats (0): tests compare the two. */
extern int sp_ana_cols_fast;
/* Whether the stage columns (with sp_ana_cols_fast) count each varying column's first selection digit
 * in the pass that gathers it (1, the default; defined in share.c), or leave the count to the
 * selection's own pass (0): the same figures. Tests compare the two. */
extern int sp_ana_cols_counted;
/* The ranking's radix sort on its own, for tests: order[0..n) receives 0..n-1 sorted stably by
 * key[], by whichever route sp_ana_rank_wide and sp_ana_rank_pack choose (packed when every key is
 * below 2^32). SP_ERR_NOMEM; SP_ERR_INVALID past 2^32 keys. */
sp_status sp_ana_rank_keys(const uint64_t *key, size_t n, uint32_t *order);
/* Share of pXX of an arbitrary per-request time (double), e.g. padding: xx 50, 95 or 99 (the windows
 * the stage rows took; any xx where the full ranking was built). */
double sp_ana_share_of(const sp_ana *a, unsigned xx, const double *per_req);
/* Whether the stage rows take the three share windows by selection (1, the default; defined in
 * share.c: the windows' boundary lives selected, the requests between them sorted by the full key)
 * instead of ranking every request (0). The full ranking is built anyway with the detail (the request
 * rows and the detail come in rank order), or where the lives tie too much for the windows to be
 * small. The same windows: tests compare the two. */
extern int sp_ana_share_select;
/* Whether the stage rows will rank every request (the detail, sp_ana_share_select 0, no request, or
 * every life equal); 0 where they take the windows by selection, or fall back to the ranking only
 * after counting the windows' candidates. */
int sp_ana_rows_rank_all(const sp_ana *a);
/* For tests: the full ranking into a->by_latency (what the stage rows build with the detail). */
sp_status sp_ana_rank_requests(sp_ana *a);
/* For tests: the share windows by selection into a->share_win (n >= 1); *taken 0 (nothing kept) where
 * every life is equal or the requests whose lives lie within the windows' boundaries number more than
 * SP_ANA_SHARE_CANDIDATES_MAX_DIV-th of n plus 64. */
sp_status sp_ana_share_windows_select(sp_ana *a, int *taken);
#define SP_ANA_SHARE_CANDIDATES_MAX_DIV 8u

/* ---- intervals (padding.c keeps the helpers: they are the same sweep everywhere) ---- */
/* Sorts `v` by start and merges overlapping/adjacent intervals in place; returns the new count. */
size_t sp_ival_merge(sp_ival *v, size_t n);
/* Total length of disjoint sorted intervals. */
uint64_t sp_ival_total(const sp_ival *v, size_t n);
/* |A intersect B| for two disjoint sorted lists. */
uint64_t sp_ival_overlap(const sp_ival *a, size_t na, const sp_ival *b, size_t nb);
/* The same inside [lo, hi): each piece of the intersection clipped to the range. */
uint64_t sp_ival_overlap_in(const sp_ival *a, size_t na, const sp_ival *b, size_t nb, uint64_t lo, uint64_t hi);
/* Half `h` of sp_ival_overlap(a, na, b, nb) (both lists sorted and disjoint): the overlap before `cut`
 * (h 0) or from it (h 1); the two add up to the whole (cost.c takes them on two threads). */
uint64_t sp_ana_overlap_half(const sp_ival *a, size_t na, const sp_ival *b, size_t nb, uint64_t cut, int h);

/* ---- partition.c ---- */
/* DESIGN section 3 over every analysed request: sp_ana_devices, then sp_ana_partition_requests. */
sp_status sp_ana_partition(sp_ana *a, char *err, size_t errlen);
/* The partition's first part: checks the batch windows and activity times (SP_ERR_PARSE with a message
 * unless lenient), each batch's waste, and the device list in (file, device) order with each
 * activity's device (a->b, a->devs, a->act_dev): all that the GPU figures (sp_ana_gpu) read of the
 * partition, so they may run beside the rest. */
sp_status sp_ana_devices(sp_ana *a, char *err, size_t errlen);
/* The rest: batch pieces, the analysed requests, the stage rows, and each request's stage times,
 * padding time and life (a->times, a->padding, a->life). Writes nothing sp_ana_gpu reads or writes. */
sp_status sp_ana_partition_requests(sp_ana *a, char *err, size_t errlen);
/* Analysed request i's life [arrival, done) as DESIGN 3 partitions it, in time order, disjoint and
 * covering it: batch pieces by label, its own spans, the uncovered time between its batch windows, and
 * other (the same rules as its stage times); with a client record, before them its spans' pieces in
 * [client send, arrival) (SP_PIECE_SPAN: time they take from `network`, docs/analysis.md "End-to-end").
 * *out is valid until the next call. Runs after the
 * partition. SP_ERR_NOMEM. */
sp_status sp_ana_request_pieces(sp_ana *a, size_t i, const sp_ana_piece **out, size_t *n_out);
/* Frees what the partition kept for sp_ana_request_pieces. */
void sp_ana_paint_free(sp_ana *a);

/* ---- padding.c ---- */
/* The batches' padding figures (tokens, waste fraction and percentiles; DESIGN section 5): they read
 * only the batches and the partition's batch flags, so they may run beside the stage rows. */
sp_status sp_ana_padding_waste(sp_ana *a);
/* Test switch: 0 sorts the batches' waste even without the detail (padding.c's selection). */
extern int sp_ana_waste_select;
/* The requests' padding figures (total padding time, its p95 share): after the stage rows' ranking
 * (a->by_latency). The total unless sp_ana_padding_total took it already. */
sp_status sp_ana_padding(sp_ana *a);
/* The requests' total padding time (r->padding.padding_ns_total; a->padding_summed set): it reads
 * only the partition's padding times, so the stage rows' thread that runs out of columns first takes
 * it while the other ends its last one (sp_ana_stage_rows' `idle`, analyze.c), where it would
 * otherwise wait; `beside` 1 there, which counts it in sp_ana_padding_total_beside (tests). */
void sp_ana_padding_total(sp_ana *a, int beside);
extern atomic_size_t sp_ana_padding_total_beside;
/* Test switch: 0 leaves the padding total to sp_ana_padding, after the stage rows (analyze.c). */
extern int sp_ana_padding_in_rows;

/* ---- gpu.c ---- */
struct sp_ana_launches;
/* The GPU figures' launch join (sp_ana_launches_build under release_events as sp_ana_gpu builds it),
 * which reads nothing of the partition: built ahead into `li`, before the device list is, its calls
 * written over half their array before the partition's rows grow (docs/analysis.md section 8,
 * "Memory"). Sets a->launches_overwritten. sp_ana_launches_free(li) whatever it returns. */
sp_status sp_ana_gpu_join(sp_ana *a, struct sp_ana_launches *li);
/* The GPU figures (DESIGN section 6). `joined`: the join sp_ana_gpu_join built (taken and freed here),
 * or NULL to build it here. */
sp_status sp_ana_gpu(sp_ana *a, struct sp_ana_launches *joined);

/* ---- gpu_hta.c ---- */
/* Under hta_compat: HTA's temporal breakdown with its rounding, its validity and the note. */
sp_status sp_ana_gpu_hta(sp_ana *a);
/* HTA's end of an activity under hta_compat: 1 us before its start for a flagged sub-us event. */
int64_t sp_ana_hta_end(const sp_ana *a, const sp_ev_activity *x);

/* ---- gpu_steps.c ---- */
/* The merged device windows of the step marks (sp_step_summary); *out is NULL and *n 0 without
 * marks. Free *out. */
struct sp_ana_launches;
sp_status sp_ana_step_windows(const sp_ana *a, const struct sp_ana_launches *li, sp_ival **out, size_t *n);
/* Fills r->gpu.steps (count, source, the time figures) from the busy union and the windows. */
void sp_ana_step_figures(sp_ana *a, const sp_ival *busy, size_t nbusy, const sp_ival *win, size_t nwin);
/* |[s, e) intersect W| for disjoint sorted W. */
uint64_t sp_ival_clip(const sp_ival *w, size_t n, uint64_t s, uint64_t e);

/* sp_pairmap_get through a small direct-mapped memo of (k1, k2) -> index: the GPU figures number
 * streams with it once per event, mostly the same few pairs in runs (kernel names have a memo of
 * their own in gpu.c). An index never
 * changes once given, so a memo hit answers what the map would; a miss asks the map and keeps the
 * answer. Only the keys that hit are kept out of the map's probing; the map and its count (the
 * number of distinct pairs) are the same as without the memo. */
#define SP_PAIR_MEMO_SLOTS 64
typedef struct sp_pair_memo {
    uint64_t k1[SP_PAIR_MEMO_SLOTS], k2[SP_PAIR_MEMO_SLOTS];
    uint32_t v[SP_PAIR_MEMO_SLOTS]; /* SP_HMAP_NONE: empty */
} sp_pair_memo;
static inline void sp_pair_memo_init(sp_pair_memo *c)
{
    for (size_t i = 0; i < SP_PAIR_MEMO_SLOTS; i++)
        c->v[i] = SP_HMAP_NONE;
}
static inline sp_status sp_pair_memo_get(sp_pair_memo *c, sp_pairmap *m, uint64_t k1, uint64_t k2, uint32_t *out)
{
    uint32_t h = (uint32_t)(sp_mix64(k2 + k1 * 0x9e3779b97f4a7c15ull) >> 58); /* 6 bits: 64 slots */
    if (c->v[h] != SP_HMAP_NONE && c->k1[h] == k1 && c->k2[h] == k2) {
        *out = c->v[h];
        return SP_OK;
    }
    int added;
    sp_status st = sp_pairmap_get(m, k1, k2, out, &added);
    if (!st) {
        c->k1[h] = k1;
        c->k2[h] = k2;
        c->v[h] = *out;
    }
    return st;
}

/* ---- verdict_gpu.c ---- */
/* The verdict of a trace without requests (docs/analysis.md section 6). */
sp_status sp_ana_verdict_gpu(sp_ana *a);

/* ---- names.c: the analysis' words (a leaf) ---- */
/* HTA's computation kernels exclude communication kernels: names containing "nccl" (any case). */
int sp_ana_is_nccl(const char *name);
/* A predicate on names, memoised per interned name id: the GPU passes ask the same few names (the
 * kernels', the launch calls') once per event, so a small direct-mapped table of (id, answer) pairs
 * turns the per-event string scan into a lookup. The answer is the predicate's on sp_str_get's
 * text, always: a slot holds one id at a time and a miss recomputes it. */
#define SP_NAME_MEMO_SLOTS 64
typedef struct sp_name_memo {
    int (*pred)(const char *name);
    sp_str id[SP_NAME_MEMO_SLOTS];  /* SP_EV_NONE: empty */
    uint8_t val[SP_NAME_MEMO_SLOTS];
} sp_name_memo;
void sp_name_memo_init(sp_name_memo *m, int (*pred)(const char *name));
static inline int sp_name_memo_get(sp_name_memo *m, const sp_strtab *t, sp_str id)
{
    if (id == SP_EV_NONE)
        return m->pred(sp_str_get(t, id));
    uint32_t h = (uint32_t)(sp_mix64(id) >> 58); /* 6 bits: 64 slots */
    if (m->id[h] != id) {
        m->val[h] = (uint8_t)(m->pred(sp_str_get(t, id)) != 0);
        m->id[h] = id;
    }
    return m->val[h];
}
/* "37%" and "12.3 us" as the verdict sentences write them. */
void sp_ana_fmt_pct(char *buf, size_t n, double f);
void sp_ana_fmt_dur(char *buf, size_t n, uint64_t ns);

/* ---- cost.c (the price rule and the bill: shared_rules.h) ---- */
/* The per-request cost's two passes that a second thread can share (docs/analysis.md section 8, "Two
 * threads"): the members' weights (their tokens over their batch's) and the nano-dollar column with
 * its exact sum and stats, each in chunks of sp_ana_cost_chunk batches or requests taken through a
 * counter. The cost opens each pass in turn; a helper (sp_ana_cost_help) takes chunks of whichever is
 * open until sp_ana_cost_share_close. Every figure is the same however the chunks fall. Before them,
 * while the cost's activity pass fills each device's unions, the helper populates their next pages
 * (no byte written: only the faults move to the helper), and it may take each device's gap (an
 * overlap of two interval lists) while the cost sums that device's padding. */
typedef struct sp_ana_cost_share {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int phase;   /* how many phases were opened (0: none yet) */
    int kind;    /* the last one's (cost.c): the pages ahead of the activity pass, a device's gap, the
                    weights, the nano column, or closed */
    int helping; /* the helper is in a pass's chunks */
    int joined;  /* the last pass the helper came to */
    int left;    /* the helper has left the share for good (sp_ana_cost_help returned) */
    int acts_done; /* the cost has read the activity */
    void *discard; /* pages the helper hands back (sp_ana_cost_share_discard) not yet taken */
    size_t discard_bytes;
    void *pass;  /* cost.c's open pass */
} sp_ana_cost_share;
#define SP_ANA_COST_CHUNK 16384
/* The pages ahead of the cost's activity pass (its unions' places) the helper populates, and how
 * often (activities, a power of two) the pass says where it is. */
#define SP_ANA_COST_AHEAD ((size_t)2 << 20)
#define SP_ANA_COST_AHEAD_EVERY 4096
/* Test switch: those bytes (at least 1). */
extern size_t sp_ana_cost_ahead;
/* Test switch: SP_ANA_COST_AHEAD_EVERY (a power of two; 1: the pass says where it is at every activity). */
extern size_t sp_ana_cost_ahead_every;
/* For the tests: bytes the helpers have populated ahead of the activity pass, over the process. */
extern atomic_size_t sp_ana_cost_populated;
/* Test switch: batches or requests a chunk (at least 1). */
extern size_t sp_ana_cost_chunk;
/* For the tests: chunks the helpers have taken (sp_ana_cost_help), over the process. */
extern atomic_size_t sp_ana_cost_helped;
/* For the tests: devices' gaps the helpers have computed, over the process. */
extern atomic_size_t sp_ana_cost_gaps_helped;
/* Test switch: 1 leaves every chunk of each pass and each device's gap to the helper (the cost waits
 * until the helper has come to the phase and left it), and has the activity pass wait until the
 * helper populates ahead of it. Only where a helper surely comes (the two-thread route). */
extern int sp_ana_cost_helper_first;
void sp_ana_cost_share_init(sp_ana_cost_share *sh);
/* No pass opens after it; the helper returns. Idempotent. */
void sp_ana_cost_share_close(sp_ana_cost_share *sh);
void sp_ana_cost_share_destroy(sp_ana_cost_share *sh);
/* The helper's side: takes chunks of each pass the cost opens until the share is closed. */
void sp_ana_cost_help(sp_ana_cost_share *sh);
/* Test switch: 0 keeps the activity's pages in after the cost (cost_and_verdict's second thread hands
 * them back under release_events, kept detail aside; with sp_ana_cost_helper_first the cost's thread
 * waits for all of them to be back before the verdict, so that a later step reading the activity
 * would read zeros). */
extern int sp_ana_tail_discard;
/* Joins cost_and_verdict's second thread where it was left to hand pages back. */
void sp_ana_join_tail(sp_ana *a);
/* Pages (whole ones inside `p`, `bytes` long) the helper hands back to the kernel: while the cost's
 * activity pass runs, those wholly below the activity the pass last said it had come to (cost.c,
 * drop_behind: the pass reads the activity once, in order); once the cost has read the activity, a
 * step at a time while no pass is open, the rest after the share closes. Only for the activity's
 * pages, which nothing reads after the cost's activity pass. Before the helper starts. */
void sp_ana_cost_share_discard(sp_ana_cost_share *sh, void *p, size_t bytes);
#define SP_ANA_COST_DISCARD_STEP ((size_t)4 << 20)
/* Test switch: those steps' bytes (rounded up to whole pages). */
extern size_t sp_ana_cost_discard_step;
/* For the tests: bytes the helpers have handed back that way, over the process. */
extern atomic_size_t sp_ana_cost_discarded;
/* For the tests: the part of those the helper handed back during the cost's activity pass, the pages
 * behind the pass's last word (every SP_ANA_COST_AHEAD_EVERY activities), over the process. */
extern atomic_size_t sp_ana_cost_discarded_early;
/* Waits until the helper has left the share for good (after sp_ana_cost, which closes it). */
void sp_ana_cost_share_wait_left(sp_ana_cost_share *sh);
/* The cost (DESIGN section 7); `sh` NULL: every chunk on this thread. Closes `sh` before it returns. */
sp_status sp_ana_cost(sp_ana *a, sp_ana_cost_share *sh);

/* ---- verdict.c: candidates, ranking, p95 savings ---- */
/* (the verdict's three parts are declared after sp_verdict_cand, below) */

/* ---- verdict_render.c: the sentence, written from the ranking (docs/analysis.md section 6) ---- */
/* A candidate under this share of p95 is never named in the sentence. */
#define SP_ANA_VERDICT_MIN_SHARE 0.05
/* Candidates after the leader above this share are listed in order, each with its group and fix. */
#define SP_ANA_VERDICT_LIST_SHARE 0.10
/* A candidate at most this far below the leader is level with it: the sentence says so. */
#define SP_ANA_VERDICT_LEVEL_BAND 0.05
/* "The model is not the bottleneck" only when useful kernel time is at least this far below the
 * leader. */
#define SP_ANA_VERDICT_MODEL_MARGIN 0.10
/* Share comparisons against these cut-offs forgive this much floating-point error, so that
 * 0.30 - 0.25 counts as 5 points. */
#define SP_ANA_VERDICT_EPS 1e-9

/* What a candidate is: its stage row's role, with the kernel stage split in two (DESIGN 8). */
typedef enum sp_cand_kind {
    SP_CAND_QUEUE = 0,
    SP_CAND_PREPROCESS,
    SP_CAND_H2D,
    SP_CAND_KERNEL,          /* useful kernel work: the kernel stage less padding */
    SP_CAND_PADDING,         /* kernel work on padding (DESIGN 5) */
    SP_CAND_GAP,
    SP_CAND_D2H,
    SP_CAND_POSTPROCESS,
    SP_CAND_NETWORK,
    SP_CAND_NAMED,
    SP_CAND_OTHER,           /* unattributed: instrumentation, never a fix */
    /* generation tables (docs/generation.md) */
    SP_CAND_BETWEEN,         /* between a request's steps: the scheduler and other sequences' steps */
    SP_CAND_MODEL_TIME       /* a phase's whole time that the trace does not split (vLLM's spans) */
} sp_cand_kind;

/* Which steps a device candidate's time is in (generation tables); NONE elsewhere. */
typedef enum sp_cand_phase {
    SP_CAND_PHASE_NONE = 0,
    SP_CAND_PHASE_PREFILL,
    SP_CAND_PHASE_DECODE
} sp_cand_phase;

/* One verdict candidate, as ranked. Strings are static or owned by the report. */
typedef struct sp_verdict_cand {
    sp_cand_kind kind;
    int row;                 /* its stage row (kernel and padding: the kernel row) */
    const char *name;        /* the ranking's stage name ("kernel" for useful work) */
    sp_verdict_group group;
    double share;            /* share of p95 */
    uint64_t saving_ns;      /* p95 saving if its time were removed */
    const char *fix;         /* short fix text */
    sp_cand_phase phase;     /* prefill or decode steps (generation tables); NONE elsewhere */
} sp_verdict_cand;

/* What the sentence needs beyond the ranking. */
/* The gap candidate's fix where the trace records no kernel (kernels_unmeasured below): its time is
 * the batch windows' whole time, the model's compute included. A CPU run records its compute as
 * kernel spans, not with a GPU profiler. */
#define SP_ANA_GAP_UNMEASURED_FIX                                                                      \
    "record the device's kernels (CUPTI, the PyTorch profiler) before acting on it: the trace has none, " \
    "so this is the batches' whole time, the model's compute included"
#define SP_ANA_GAP_UNMEASURED_FIX_CPU                                                                  \
    "record the model's compute as kernel spans before acting on it: the trace has none, so this is "   \
    "the batches' whole time, the model's compute included"

/* The same for a generation table's gap rows (docs/generation.md, "Verdicts"): a step is a batch. */
#define SP_ANA_STEP_GAP_UNMEASURED_FIX                                                                 \
    "record the device's kernels (CUPTI, the PyTorch profiler) before acting on it: the trace has none, " \
    "so this is the steps' whole time, the model's compute included"
#define SP_ANA_STEP_GAP_UNMEASURED_FIX_CPU                                                             \
    "record the model's compute as kernel spans before acting on it: the trace has none, so this is "   \
    "the steps' whole time, the model's compute included"

typedef struct sp_verdict_facts {
    double waste_fraction;   /* padding waste over all batches, for the padding candidate's reading */
    int queue_saturated;     /* sp_ana_queue_saturated: a batch in flight >= SP_ANA_SATURATED_IN_FLIGHT
                                of the window, full batches, or a service that refuses requests */
    int queue_refusing;      /* saturated only by the refusals (sp_ana_refusing, not the device's) */
    double in_flight;        /* the fraction of the window with a batch in flight */
    int batches_full;        /* sp_ana_batches_full: the median batch holds policy.max_batch */
    int queue_past_window;   /* sp_ana_queue_past_window: batches not full, the queue's p95 past the
                                window, no saturation; the figures below are its reading's */
    uint64_t queue_p95_ns;   /* the queue stage's p95 */
    uint64_t window_ns;      /* policy.max_queue_delay_ns */
    uint64_t batch_p50;      /* the median batch (requests) */
    uint64_t max_batch;      /* policy.max_batch */
    uint64_t requests_total; /* requests of every outcome (DESIGN 8a) */
    uint64_t rejected;       /* of them, rejected */
    uint64_t errors;         /* of them, answered with an error (`error` outcome) */
    int errors_analysed;     /* the scope is every finished request (--outcomes all): the errors'
                                latency is in the figures the sentence gives */
    uint64_t cancelled;      /* of them, cancelled by their clients (`cancelled` outcome) */
    uint64_t cancelled_p50_ns; /* their latency p50; 0 with none of their times known */
    uint64_t cancelled_timed;  /* how many of them have a latency */
    uint64_t timed_out_ok;     /* clients' time-outs on requests the server answered ok (analysed as ok,
                                  with the server's time: client_records_timed_out_ok) */
    uint64_t unfinished;     /* of them, in flight when the trace ended */
    uint64_t analysed;       /* the requests the figures are over (request_count: ok, or every
                                finished one under --outcomes all) */
    uint64_t analysed_p95_ns; /* their end-to-end p95; 0 in a generation table's facts */
    /* generation tables (docs/generation.md); zero for DESIGN 8's verdict on end-to-end latency */
    const char *metric;      /* what p95 is of: NULL "latency", else e.g. "TTFT", "TPOT" */
    double step_gap[3];      /* by sp_cand_phase: the gap share of those steps' device time at p95 */
    double between_other;    /* of `between steps` at p95, the part while other steps ran; < 0: unknown */
    int kv_full;             /* the KV cache is nearly full at p95 of steps (queue-led readings) */
    int device_cpu;          /* the steps ran on the CPU: no kernel launches to be bound by */
    int kernels_unmeasured;  /* no kernel in the trace (no device kernel, no time in the kernel row):
                                the model's compute is inside named stages, if anywhere, so the
                                sentence does not clear the model (DESIGN 8); in a generation table,
                                set only where the trace has steps, whose gap rows then hold it */
    int event_loop;          /* the server serves from an asyncio event loop (sp_ana_event_loop): a
                                blocked loop shows as network and other, and the readings say so */
} sp_verdict_facts;

/* The fewest analysed requests a verdict may judge the model on when requests of other outcomes are
 * left out of the analysis (docs/analysis.md section 6, "Few served requests"): DESIGN 4's share window. */
#define SP_ANA_VERDICT_MIN_ANALYSED 20
/* Whether the verdict rests on a thin sample: fewer than SP_ANA_VERDICT_MIN_ANALYSED analysed requests
 * while requests of another outcome are outside the analysis. */
int sp_ana_verdict_thin(const sp_verdict_facts *f);
/* Fills the outcome facts (rejected ... analysed_p95_ns) from the report. */
void sp_ana_verdict_outcome_facts(const sp_report *r, sp_verdict_facts *f);

/* A table whose rows partition a whole per request, for the p95 savings of its candidates: DESIGN 3's
 * stage table (whole: the life), or a generation table (whole: the TTFT window, or the TPOT window
 * whose figures are per output token). */
#define SP_ANA_TABLE_MAX_KERNELS 2
typedef struct sp_ana_table {
    size_t n, ns;             /* requests, rows */
    const uint64_t *total;    /* per request: the whole, ns */
    const uint64_t *times;    /* n x ns, ns */
    const uint64_t *divisor;  /* per request (>= 1), or NULL for 1: the table's figures are time /
                                 divisor, rounded to the nearest ns (sp_ana_div_round) */
    int kernel_row[SP_ANA_TABLE_MAX_KERNELS];          /* rows split into useful work and padding */
    const double *padding[SP_ANA_TABLE_MAX_KERNELS];   /* per request: that row's padding time */
    size_t n_kernels;
    struct sp_ana_scratch *scratch; /* where the savings' column comes from; NULL: malloc */
    const uint32_t *times32;  /* when not NULL, the n x ns times in 4 bytes each (times is unused) */
    const sp_stage_row *rows; /* when not NULL, the stage rows of these times (their least and greatest
                                 value: sp_ana_savings_start) */
    const sp_quantiles *total_q; /* when not NULL, the quantiles of total[0..n) (its p95: the base's
                                    without a pass, where there is no divisor) */
} sp_ana_table;

/* llround(x), bit for bit, without the library call where x is in [0, 2^52): there trunc(x) and
 * x - trunc(x) are exact, so a fraction of at least one half rounds up, as llround rounds halves away
 * from zero; elsewhere (negative, larger, NaN) llround itself. For the per-request loops that round
 * costs and padding times (cost.c, verdict.c). */
static inline long long sp_ana_llround(double x)
{
    if (x >= 0 && x < 4503599627370496.0) {
        long long t = (long long)x;
        return t + (x - (double)t >= 0.5);
    }
    return llround(x);
}

/* x / d rounded to the nearest integer (halves up); d >= 1. */
static inline uint64_t sp_ana_div_round(uint64_t x, uint64_t d)
{
    return x / d + (x % d >= d - x % d);
}

/* Each candidate's p95 saving over `t`: p95 of the figures minus p95 of the figures with the
 * candidate's time removed from every request. SP_ERR_NOMEM. */
sp_status sp_ana_p95_savings(const sp_ana_table *t, sp_verdict_cand *cs, size_t nc);
/* Room for every candidate: each stage row (at most SP_ANA_MAX_NAMED_STAGES named ones) plus the
 * kernel split. */
#define SP_ANA_VERDICT_MAX_CANDS (SP_ANA_MAX_NAMED_STAGES + 16)
/* The same work shared by threads: sp_ana_savings_start, then sp_ana_savings_work on each thread that
 * helps (each takes the next of the nc + 1 selections, the base and one per candidate, until none is
 * left; SP_ERR_NOMEM when its column cannot be had, and then the job's figures are incomplete), then,
 * once every sp_ana_savings_work has returned SP_OK, sp_ana_savings_end writes cs[].saving_ns. The
 * figures do not depend on which thread selects what. */
typedef struct sp_ana_savings_job {
    sp_ana_table t;
    sp_verdict_cand *cs;
    size_t nc;
    atomic_size_t next; /* the next of todo[] to select */
    size_t todo[SP_ANA_VERDICT_MAX_CANDS + 1]; /* the selections: 0 the base, c + 1 candidate c */
    size_t ntodo;
    uint64_t p95[SP_ANA_VERDICT_MAX_CANDS + 1];
    uint8_t has[SP_ANA_VERDICT_MAX_CANDS + 1]; /* 0: the candidate has no time (no saving) */
    uint8_t level[SP_ANA_VERDICT_MAX_CANDS + 1]; /* 1: candidate c's time is level[c + 1]'s x for every
                                                    request, its p95 taken from the base's */
    uint64_t x[SP_ANA_VERDICT_MAX_CANDS + 1];
    int fused; /* 1: one thread selects every item in two passes over the table (sp_ana_savings_fused) */
} sp_ana_savings_job;
/* Test switch: 0 takes a pass, a column and a selection per candidate; 1 (the default) selects two or
 * more candidates together: two passes over the table, each candidate's figures counted into buckets
 * below the base's p95, then only those of the bucket that holds the p95 gathered and selected. */
extern int sp_ana_savings_fused;
/* The most values the fused route gathers for one candidate (or n / 64, if more); past it the
 * candidate takes its own pass and column. A test switch (0: every candidate with time takes its own
 * pass once its bucket holds more than n / 64). */
#define SP_ANA_SAVINGS_BUCKET_MAX 4096
extern size_t sp_ana_savings_bucket_max;
/* 1 (the default): the fused route's candidates first by one pass over the requests whose total
 * reaches a window taken from a sample of every SP_ANA_SAVINGS_STRIDE-th request (at least
 * SP_ANA_SAVINGS_SAMPLE_MIN of them), each candidate's figures in its window gathered and those above
 * counted; a candidate whose p95 falls outside its window takes the two passes. 0 (a test switch): the
 * two passes for all. */
extern int sp_ana_savings_window;
#define SP_ANA_SAVINGS_STRIDE 64
extern size_t sp_ana_savings_stride;
/* Test switch: how many of the sample's ranks the window reaches either side of the p95's; SIZE_MAX
 * (the default): four standard deviations of the sample's count, plus 8. */
extern size_t sp_ana_savings_window_ranks;
/* The fewest requests the sample takes (a wider stride is narrowed to reach it; every request below
 * twice as many); a test switch. */
#define SP_ANA_SAVINGS_SAMPLE_MIN 1024
extern size_t sp_ana_savings_sample_min;
/* How many candidates the window route has answered, and how many it sent on to the two passes
 * (counted for the tests). */
extern atomic_size_t sp_ana_savings_window_hits, sp_ana_savings_window_misses;
/* Test switch: 0 selects every candidate's figures, even one whose time is the same for every request
 * (sp_ana_savings_start). */
extern int sp_ana_savings_level;
void sp_ana_savings_start(sp_ana_savings_job *j, const sp_ana_table *t, sp_verdict_cand *cs, size_t nc);
sp_status sp_ana_savings_work(sp_ana_savings_job *j);
void sp_ana_savings_end(sp_ana_savings_job *j);
/* Descending share; equal shares keep the order given (stable). */
void sp_ana_rank_candidates(sp_verdict_cand *cs, size_t nc);
/* Whether the report's device ran at saturation (`f->in_flight`, `f->queue_saturated` from the cost's
 * no-batch share): the end-to-end verdict and the generation tables' verdicts read it alike. */
void sp_ana_verdict_saturation(const sp_report *r, sp_verdict_facts *f);
/* The fix of model time a trace gives whole (SP_CAND_MODEL_TIME), in both verdicts. */
#define SP_ANA_MODEL_TIME_FIX                                                                                 \
    "record the steps (servprof's recorder) or profile the device (Kineto, Nsight Systems) to tell kernel from gap"
/* The short fix of a DESIGN 8 candidate (no figures). */
const char *sp_ana_verdict_fix(sp_cand_kind k, int saturated, int recommend_model, int cpu);
/* Writes the ranking, leader and sentence (rendered with `f`) into `v`, strings owned by the report;
 * `cs` ranked, savings and fixes filled; no what-if clause (clause_at SIZE_MAX). */
sp_status sp_ana_verdict_store(sp_report *r, const sp_verdict_cand *cs, size_t nc, const sp_verdict_facts *f,
                               int recommend, sp_verdict *v);
/* What a trace says of its named stages' model time (sp_ana_verdict_candidates' `model`, flags):
 * GENERATION, it has generation data (sp_ana_has_generation), so that its stages "prefill" and "decode"
 * are the model's time as a whole (sp_ana_model_stage); INFERENCE, an importer derived its stage
 * "inference" from an engine's model timing (sp_ana_model_inference). */
#define SP_ANA_MODEL_GENERATION 1
#define SP_ANA_MODEL_INFERENCE 2
/* The candidates of a report's stage rows in report order (DESIGN 8: the kernel row split into useful
 * work and padding), with their shares of p95 and no savings yet. `model` (SP_ANA_MODEL_* flags): which
 * named stages are the model's time as a whole, model-group candidates; 0 for aggregated counters
 * (buckets.c), which say neither. Returns how many (at most cap). */
size_t sp_ana_verdict_candidates(const sp_report *r, int model, sp_verdict_cand *cs, size_t cap);
/* Ranks candidates whose savings are filled, gives each its fix and writes r->verdict: ranking, leader,
 * sentence (facts from r's padding, cost and outcomes). `queue_fix`: NULL, or for a service that batches
 * continuously (generation steps) the queue's fix, [0] beside a device with room and [1] behind a
 * saturated one (sp_ana_verdict: the running-sequence limit, or shorter steps when no step ran that many
 * sequences, each worded by what the trace says its server has), not a batch window. Shared by the
 * analysis of a trace and the report from aggregated counters (buckets.c). `generation`: the trace has
 * generation data (sp_ana_has_generation), so its stream and detokenize stages get the generation tables'
 * fixes (sp_ana_gen_stage_fix). SP_OK or SP_ERR_NOMEM. */
sp_status sp_ana_verdict_decide(sp_report *r, sp_verdict_cand *cs, size_t nc, const char *const *queue_fix,
                                int generation, int event_loop);
/* Whether the trace says its server serves requests from an asyncio event loop: an `event_loop`
 * property of `asyncio` (the Python package's ASGI and aiohttp middleware write it; docs/native-format.md,
 * "Properties"). A blocking call on such a loop delays reading requests (the client's `network`) and
 * handing out other requests' tokens (`other`): the fixes of those rows say so (verdict.c). */
int sp_ana_event_loop(const sp_ana *a);
/* The queue's fix when it waits past the window without saturation (sp_ana_queue_past_window), and
 * the same for a server that runs an asyncio event loop (sp_ana_event_loop). The window stays in it:
 * the rule cannot tell a late batcher from one worker busy with the batches before, and there a
 * shorter window frees the worker sooner (a synth trace the simulator replays within 25%: p95 13.10
 * ms -> 8.46 ms with a quarter window, 10.45 ms with one more instance; docs/analysis.md). */
#define SP_ANA_QUEUE_PAST_WINDOW_FIX                                                                    \
    "shorten the batch window with max-queue-delay, and find why the batcher dispatches late: a host "   \
    "too busy to run it on time (CPU contention), or too few workers, each batch waiting for a free one"
#define SP_ANA_QUEUE_PAST_WINDOW_EVENT_LOOP_FIX                                                         \
    "shorten the batch window with max-queue-delay, and find why the batcher dispatches late: look "       \
    "first for a blocked event loop (a blocking call in an "                                               \
    "async handler delays the batcher that runs on it: run it in a thread), then a host too busy to run "   \
    "it on time (CPU contention), or too few workers, each batch waiting for a free one"
/* The same when the verdict's what-if found one more instance lowers p95 more than the quarter window
 * (sp_report_quote_prediction; docs/whatif.md, "The verdict's prediction"): the instance leads. */
#define SP_ANA_QUEUE_PAST_WINDOW_INSTANCE_FIX                                                           \
    "add a worker (one more instance), since each batch waits for a free one, then shorten the batch "    \
    "window with max-queue-delay, and check that the host is not too busy to run the batcher on time "    \
    "(CPU contention)"
#define SP_ANA_QUEUE_PAST_WINDOW_EVENT_LOOP_INSTANCE_FIX                                                \
    "add a worker (one more instance), since each batch waits for a free one, then shorten the batch "    \
    "window with max-queue-delay, and look for a blocked event loop (a blocking call in an async "        \
    "handler delays the batcher that runs on it: run it in a thread) or a host too busy to run the "      \
    "batcher on time (CPU contention)"
/* The fix of the `event_loop` stage: the Python middleware's measured stalls of the asyncio event loop
 * during which its thread was busy on the CPU (docs/python.md, "Event loop stalls"), in every verdict
 * and ranking that names it. */
#define SP_ANA_EVENT_LOOP_STAGE "event_loop"
#define SP_ANA_EVENT_LOOP_FIX                                                                            \
    "the asyncio event loop was blocked while the request waited on it: move blocking work (CPU-bound "   \
    "tokenisation, detokenisation, torch calls) off the loop with run_in_executor/to_thread"
/* The same for `event_loop_wait`: stalls during which the loop's thread was mostly off the CPU. */
#define SP_ANA_EVENT_LOOP_WAIT_STAGE "event_loop_wait"
#define SP_ANA_EVENT_LOOP_WAIT_FIX                                                                       \
    "the asyncio event loop ran late while its thread was off the CPU: a blocking call that waits "     \
    "(synchronous I/O, time.sleep, a lock, the GIL held by another thread) or a host short of CPU; run " \
    "blocking calls with run_in_executor/to_thread, or give the service more CPU"
/* The fix of a named stage that servprof knows by its name (event_loop, event_loop_wait; in a generation table also
 * detokenize and stream: sp_ana_gen_stage_fix, `event_loop` as there), or NULL: then the named stage's own. */
const char *sp_ana_named_stage_fix(const char *name, int generation, int event_loop);
/* The fixes of `network` and `other` in a trace whose server runs an asyncio event loop. */
#define SP_ANA_NETWORK_EVENT_LOOP_FIX                                                                   \
    "look first for a blocked event loop in the server (a blocking call in an async handler or response "  \
    "generator holds every request's read and write, and that time counts here: run it in a thread), then "  \
    "set TCP_NODELAY on the server's sockets where it is off (Nagle's algorithm holds a response for the "    \
    "client's delayed ACK), put clients closer, reuse connections or shrink payloads"
#define SP_ANA_OTHER_EVENT_LOOP_FIX                                                                      \
    "not a fix: add stage spans for the time no span or batch window covers (in an asyncio server, time "   \
    "waiting for a blocked event loop: a blocking call in an async handler or response generator; run it " \
    "in a thread)"

/* Whether the trace says its server takes --max-num-seqs: a `service` property of servprof's own
 * generating servers, or a `policy.max_num_seqs` property (verdict.c). Elsewhere a queue's fix
 * names the limit by what it is, SP_ANA_SEQS_CAP, with the flag of the servers that have one. */
int sp_ana_names_seqs_flag(const sp_ana *a);
#define SP_ANA_SEQS_CAP "the scheduler's cap on concurrent sequences (--max-num-seqs in vLLM and servprof serve)"
/* Whether the trace says its server takes --max-num-batched-tokens: a `policy.max_num_batched_tokens`
 * property, or a `service` property of servprof's own generating servers (verdict.c). Elsewhere a fix
 * names the budget by what it is, SP_ANA_TOKENS_BUDGET. */
int sp_ana_names_tokens_flag(const sp_ana *a);
int sp_ana_lacks_chunked_prefill(const sp_ana *a);
/* Whether the trace has generation data: an analysed request with token records, or a step. The
 * batches are read for steps (here and in sp_ana_verdict) only where the set has a step record;
 * sp_ana_step_passes counts those passes (tests). */
int sp_ana_has_generation(const sp_ana *a);
extern atomic_size_t sp_ana_step_passes;
/* Whether an importer derived some file's stage "inference" from an engine's model timing
 * (sp_ev_file.model_inference: TGI's inference_time, docs/otlp.md); a JSONL trace's own stage of that
 * name is never so marked. In verdict.c. */
int sp_ana_model_inference(const sp_ana *a);
/* The phase whose model time DESIGN 3 named stage `name` is, measured whole (docs/otlp.md: vLLM's and
 * TGI's spans), or SP_CAND_PHASE_NONE: "prefill" and "decode" in a trace with generation data
 * (SP_ANA_MODEL_GENERATION in `model`, sp_ana_has_generation). The one rule for the generation tables' "(model)" rows and the
 * end-to-end verdict's model-time candidates; elsewhere (an image service's own "decode") a named stage
 * is the service's runtime. In verdict.c, which generation.c calls. */
sp_cand_phase sp_ana_model_stage(int model, const char *name);
/* The fix for a generation service's own named stage that has one (detokenize, stream), for the
 * generation tables and the end-to-end verdict alike; NULL for any other name. `event_loop`: the server
 * runs an asyncio event loop (sp_ana_event_loop), where a blocking detokenize holds every other stream
 * (a user's service detokenised on its loop: docs/python.md, "Event loop stalls"). */
const char *sp_ana_gen_stage_fix(const char *name, int event_loop);
#define SP_ANA_DETOKENIZE_EVENT_LOOP_FIX                                                                \
    "detokenise incrementally, off the step loop, and not as a blocking call on the asyncio event loop, " \
    "where it holds every other stream (run it with run_in_executor/to_thread)"
#define SP_ANA_TOKENS_BUDGET \
    "the scheduler's token budget per step (--max-num-batched-tokens in vLLM and servprof serve)"
/* The verdict of a report with requests but none in the scope (DESIGN 8a): what became of them. */
sp_status sp_ana_verdict_unserved(sp_report *r);
/* The verdict in three parts (DESIGN section 8), so that the costly middle one can run beside the
 * cost: the candidates from the stage rows and padding figures (none without analysed requests);
 * their p95 savings, which read only a->life, a->times and a->padding and write only cs[].saving_ns
 * (SP_ERR_NOMEM); then the ranking and the sentence, which read the cost's figures too. */
size_t sp_ana_verdict_candidates_of(const sp_ana *a, sp_verdict_cand *cs, size_t cap);
/* The p95 savings' work for sp_ana_savings_work (nothing when there are no analysed requests). */
void sp_ana_verdict_savings_start(const sp_ana *a, sp_ana_savings_job *j, sp_verdict_cand *cs, size_t nc);
sp_status sp_ana_verdict(sp_ana *a, sp_verdict_cand *cs, size_t nc);

/* The model rule over a ranking (rank[0] leads): 1 when useful kernel work leads with at least
 * SP_ANA_MODEL_MIN_KERNEL_SHARE of p95, gap and padding are each under their SP_ANA_MODEL_MAX_*
 * share, and no candidate is level with it; else 0. */
int sp_ana_verdict_recommend_model(const sp_verdict_cand *rank, size_t n);

/* Writes the verdict sentence for `rank[0..n)` (descending share; rank[0] leads) into buf[len] like
 * snprintf: NUL-terminated when len > 0, and returns the length the whole sentence needs, so a caller
 * can size a buffer with a first call (buf NULL, len 0). `leader_clause` is an optional quantified
 * fix (e.g. "max-queue-delay 2 -> 0.5 ms: predicted p95 8.4 -> 6.1 ms"), quoted after the leader's
 * fix when the leader is a configuration candidate; NULL or "" for none. Reads only its arguments. */
size_t sp_ana_verdict_render(const sp_verdict_cand *rank, size_t n, const sp_verdict_facts *f,
                             const char *leader_clause, char *buf, size_t len);
/* The sentence for a trace whose requests are all outside the scope (none analysed), written like
 * sp_ana_verdict_render: what the requests' outcomes were, and the rejection clause. `counts` is
 * indexed by sp_outcome. */
size_t sp_ana_verdict_render_unserved(const uint64_t counts[SP_OUTCOME_COUNT], const sp_verdict_facts *f,
                                      char *buf, size_t len);

/* ---- generation.c (docs/generation.md) ---- */
/* The TTFT and TPOT tables, ITL, the client's figures, steps, padding, KV cache and cost per output
 * token, and the two verdicts, into r->generation (left NULL for a trace without generation data).
 * Runs after the verdict. SP_ERR_PARSE with a message (token times outside a request's life or out of
 * order, unless lenient), SP_ERR_NOMEM. */
sp_status sp_ana_generation(sp_ana *a, char *err, size_t errlen);
/* ---- requests.c ---- */
/* Each analysed request's stage times and padding time in latency-rank order into *rows (arrays
 * allocated; the report's detail owns them). Runs after sp_ana_padding. */
sp_status sp_ana_request_rows(sp_ana *a, sp_request_rows *rows);

/* ---- analyze.c: the pipeline ---- */
/* Frees everything the stages allocated in `a` (not `a` itself). NULL is fine. */
void sp_ana_free(sp_ana *a);

/* ---- timeline.c ---- */
/* The busiest slice of the device timeline (docs/analysis.md, "Timeline slice") into *sl, its arrays
 * allocated (the report's detail owns them) and kernel names copied into the report. Runs after the
 * partition. */
sp_status sp_ana_timeline_slice(sp_ana *a, sp_timeline_slice *sl);

/* ---- figures.c: figures counted or copied from the event set ---- */
/* Latency percentiles (end-to-end, server side, client) and batch sizes. Runs after the partition;
 * reads only a->life, a->reqs, a->b and the set, so it may run beside the stage rows. */
sp_status sp_ana_request_figures(sp_ana *a);
/* The clock reconciliation of the event set, with the files' names (DESIGN 8a). */
sp_status sp_ana_clock_figures(sp_ana *a);
/* Data quality: the recorder's drops by cause, skipped records, each file's losses and their totals. */
sp_status sp_ana_quality_figures(sp_ana *a);

/* ---- gpu_launch.c: launch calls joined on correlation id ---- */
/* A launch call as the GPU figures read it once joined: its start, its length (below 2^32 ns) and its
 * name (for the join's ties). 16 bytes where sp_ev_launch takes 32: under release_events the join
 * writes these over the front half of the set's launch array as it reads it, and hands the back half's
 * pages back (docs/analysis.md section 8, "Memory"). */
typedef struct sp_ana_launch_c {
    uint64_t start_ns;
    uint32_t dur_ns;
    sp_str name;
} sp_ana_launch_c;
/* Launch calls by (file, correlation); of several with one id, the earliest start, then end, then
 * name wins (docs/analysis.md, "Ties"). */
typedef struct sp_ana_launches {
    sp_hmap map;        /* correlation + file x an odd constant -> index into ev->launches of the winner */
    /* The direct route, when each file's correlation ids are dense (the map is then empty): file f's
     * id c in [lo[f], lo[f] + span[f]) at slot[off[f] + c - lo[f]], the winner's index + 1 (0: none). */
    uint32_t *slot;
    uint64_t *lo, *span, *off;
    size_t n_files;
    const sp_ev_launch *launches; /* ev->launches: an entry is checked against the call itself */
    /* the direct route with `overwrite`: call i is calls[i] (which lie over ev->launches), and
     * ev->launches is no longer a launch array; NULL: call i is launches[i] */
    const sp_ana_launch_c *calls;
    uint8_t *graph;     /* index into ev->launches -> 1 for a winning CUDA graph launch call */
} sp_ana_launches;
/* Builds the join of ev's launch calls. With `overwrite` (release_events: nothing reads the set's
 * launch calls after the GPU figures but sp_ana_recycle_released) and the direct route, where every
 * joined call is shorter than 2^32 ns, each call is written over the front half of ev->launches as
 * sp_ana_launch_c and the back half's pages go back to the kernel; li->calls then says so. */
sp_status sp_ana_launches_build(sp_events *ev, sp_ana_launches *li, int overwrite);
void sp_ana_launches_free(sp_ana_launches *li);
/* Where the join wrote the calls over ev->launches and nothing reads them any more: the whole pages of
 * the written calls back to the kernel (the back half's went during the join). */
void sp_ana_launch_calls_give_back(sp_events *ev);
/* For tests: the bytes sp_ana_launch_calls_give_back handed back; and the joins built ahead on the
 * second thread (analyze.c, sp_ana_gpu_join beside the device list). */
extern size_t sp_ana_launch_calls_given_back, sp_ana_launch_joined_ahead;
/* Call `slot`'s start and end (slot as sp_ana_launch_slot gives it, not SP_EV_NONE). */
static inline uint64_t sp_ana_launch_start(const sp_ana_launches *li, uint32_t slot)
{
    return li->calls ? li->calls[slot].start_ns : li->launches[slot].start_ns;
}
static inline uint64_t sp_ana_launch_end(const sp_ana_launches *li, uint32_t slot)
{
    return li->calls ? li->calls[slot].start_ns + li->calls[slot].dur_ns : li->launches[slot].end_ns;
}
/* Test switch: 0 never overwrites the launch calls (the join reads ev->launches as before). */
extern int sp_ana_launch_overwrite;
/* Under overwrite the join hands the back half's pages back each time it has read this many bytes
 * more of the array; a variable so that tests can take a step at every call (1). */
#define SP_ANA_LAUNCH_DISCARD_STEP ((size_t)4 << 20)
extern size_t sp_ana_launch_discard_step;
/* For tests: the calls the joins wrote over their arrays, and the bytes of the back halves handed back
 * before the join's last call (written by the GPU figures' thread; read once the analysis is back). */
extern size_t sp_ana_launch_overwritten, sp_ana_launch_discarded_early;
/* A CUDA/HIP graph launch call's name: it contains "GraphLaunch". */
int sp_ana_is_graph_launch(const char *name);
/* The index into ev->launches of the launch call of `x`, SP_EV_NONE when it has none. */
uint32_t sp_ana_launch_slot(const sp_ana_launches *li, const sp_ev_activity *x);
/* The same, with the direct route inline (the GPU figures' per-activity join). */
static inline uint32_t sp_ana_launch_slot_inl(const sp_ana_launches *li, const sp_ev_activity *x)
{
    if (!li->slot || !x->correlation)
        return sp_ana_launch_slot(li, x);
    uint32_t f = x->file;
    uint64_t c = x->correlation;
    if (f >= li->n_files || c < li->lo[f] || c - li->lo[f] >= li->span[f])
        return SP_EV_NONE;
    return li->slot[li->off[f] + (c - li->lo[f])] - 1; /* 0 - 1: SP_EV_NONE */
}
/* Test switch: 0 joins through the map even where the ids are dense. */
extern int sp_ana_launch_direct;
/* Per-kernel launch statistics over ordinary launches, and graph launches on their own, taken in the
 * GPU figures' pass over the activity (gpu.c, idle_breakdown): sp_ana_launch_stats_begin, then
 * sp_ana_launch_stats_add for each activity with a device, in order, then sp_ana_launch_stats_end
 * (which frees the accumulators; sp_ana_launch_stats_free where the pass fails). */
typedef struct sp_ana_graph_acc { /* per graph launch call: its nodes and the first node's start */
    uint64_t kernels, work, first_start;
} sp_ana_graph_acc;
typedef struct sp_ana_launch_acc {
    /* the ordinary launches' delays, nd of them: in 4 bytes each (d32) while every one is below 2^32
     * ns, as nearly every delay is (docs/analysis.md section 8, "Memory"); from the first that is not,
     * all of them in 8 (delays, d32 then given back) */
    uint32_t *d32;
    uint64_t *delays;
    size_t nd;
    int nomem;             /* the 8-byte column could not be had */
    sp_ana_graph_acc *acc; /* indexed like ev->launches; written for graph calls only */
} sp_ana_launch_acc;
/* Test switch: 0 keeps the delays in 8 bytes from the start (the route before the 4-byte column). */
extern int sp_ana_launch_delay_narrow;
/* For tests: the delay columns widened to 8 bytes by a delay of 2^32 ns or more. */
extern size_t sp_ana_launch_delays_widened;
sp_status sp_ana_launch_stats_begin(sp_ana *a, sp_ana_launch_acc *s);
/* Delay d into the 8-byte column: the first that does not fit 4 bytes widens the column (its values
 * copied), later ones are appended; out of memory, s->nomem. */
void sp_ana_launch_delay_wide(sp_ana *a, sp_ana_launch_acc *s, uint64_t d);
sp_status sp_ana_launch_stats_end(sp_ana *a, const sp_ana_launches *li, sp_ana_launch_acc *s);
void sp_ana_launch_stats_free(sp_ana *a, sp_ana_launch_acc *s);
/* Activity x (a->act_dev set) whose launch call is ev->launches[slot] (SP_EV_NONE: none). */
static inline void sp_ana_launch_stats_add(sp_ana *a, const sp_ana_launches *li, sp_ana_launch_acc *s,
                                           const sp_ev_activity *x, uint32_t slot)
{
    if (slot == SP_EV_NONE)
        return;
    sp_gpu_summary *g = &a->r->gpu;
    if (li->graph[slot]) {
        sp_ana_graph_acc *ga = &s->acc[slot];
        if (!ga->work || x->start_ns < ga->first_start)
            ga->first_start = x->start_ns;
        ga->work++;
        ga->kernels += x->kind == SP_ACT_KERNEL;
        return;
    }
    /* DESIGN section 6: launch delay = GPU start - end of the launch call, floored at 0 */
    uint64_t l_start = sp_ana_launch_start(li, slot), l_end = sp_ana_launch_end(li, slot);
    uint64_t d = x->start_ns > l_end ? x->start_ns - l_end : 0;
    if (s->d32 && d <= UINT32_MAX)
        s->d32[s->nd++] = (uint32_t)d;
    else
        sp_ana_launch_delay_wide(a, s, d);
    g->launch_delay_sum_ns += d;
    if (d > g->launch_delay_max_ns)
        g->launch_delay_max_ns = d;
    uint64_t cpu = l_end - l_start, gpu = x->end_ns - x->start_ns;
    g->launch_cpu_sum_ns += cpu;
    g->launch_gpu_sum_ns += gpu;
    if (x->kind == SP_ACT_KERNEL && gpu < cpu)
        g->short_kernels++;
}

/* `name` as every report shows it (demangle.c): a copy the report owns, demangled when it is a C++
 * symbol (sp_demangle; *demangled is then 1), else as it is. NULL without memory. */
const char *sp_ana_display_name(sp_report *r, const char *name, int *demangled);

#endif
