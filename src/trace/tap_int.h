/* Live metrics of a recording process (docs/metrics.md): the tap, which reads every record the writer
 * drains and joins each request's records into the stage partition of DESIGN 3 once they are all in
 * (tap.c); the device timeline, which sweeps device work and batch windows into the cost states of
 * DESIGN 7 behind a watermark (devtime.c); and the aggregate the two add to and the Prometheus text
 * it renders (live_metrics.c). Everything but the aggregate belongs to the writer thread; the
 * aggregate has its own lock, which the writer takes once per cycle and a render takes to copy it.
 * Calls go one way: writer.c and recorder.c use tap.c, tap.c uses devtime.c and live_metrics.c. */
#ifndef SERVPROF_TAP_INT_H
#define SERVPROF_TAP_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "servprof/trace.h"

/* ---- latency buckets: log-spaced, 4 per octave (docs/metrics.md, "Buckets") ----
 * Finite upper bounds 2^(k/4) s for k = SP_MX_K_MIN .. SP_MX_K_MAX (122 us .. 128 s), then +Inf. A
 * latency L falls in the first bucket whose bound is >= L (Prometheus' `le`). */
#define SP_MX_K_MIN (-52)
#define SP_MX_K_MAX 28
#define SP_MX_FINITE (SP_MX_K_MAX - SP_MX_K_MIN + 1) /* 81 */
#define SP_MX_BUCKETS (SP_MX_FINITE + 1)             /* and +Inf */

/* The bound of finite bucket i (0 .. SP_MX_FINITE-1) in ns. */
double sp_mx_bound_ns(int i);
/* The bucket of a duration in ns: 0 .. SP_MX_BUCKETS-1. */
int sp_mx_bucket(uint64_t ns);

/* Batch size buckets (members per batch): 1, 2, 4, ... 4096, then +Inf. */
#define SP_MX_SIZE_BUCKETS 14
/* Per-batch padding waste buckets: 0.0, 0.1, ... 1.0 (upper bounds), 11 of them. */
#define SP_MX_WASTE_BUCKETS 11

/* ---- stage rows of the aggregate ----
 * Fixed rows in DESIGN 3's report order, then named stages (first seen first; rendered
 * alphabetically), then `other`; `network` only gets time from spans named so. */
enum {
    SP_MX_ROW_QUEUE = 0,
    SP_MX_ROW_PREPROCESS,
    SP_MX_ROW_H2D,
    SP_MX_ROW_KERNEL,
    SP_MX_ROW_GAP,
    SP_MX_ROW_D2H,
    SP_MX_ROW_POSTPROCESS,
    SP_MX_ROW_NETWORK,
    SP_MX_ROW_OTHER,
    SP_MX_FIXED_ROWS
};
/* Named stages the metrics keep a row for; the time of further names goes to the row named
 * SP_MX_MORE_NAMED (docs/metrics.md), so a stage name holding an id cannot grow them without end. */
#define SP_MX_MAX_NAMED 64
#define SP_MX_MORE_NAMED "more_named"
#define SP_MX_MAX_ROWS (SP_MX_FIXED_ROWS + SP_MX_MAX_NAMED + 1)

/* Device states of DESIGN 7 (the order of sp_cost_state in analyze.h). */
enum { SP_MX_DEV_USEFUL = 0, SP_MX_DEV_PADDING, SP_MX_DEV_COPIES, SP_MX_DEV_GAP, SP_MX_DEV_NO_BATCH, SP_MX_DEV_STATES };
#define SP_MX_MAX_DEVICES 64

/* What the tap could not count, by reason (servprof_metrics_lost_total). */
enum {
    SP_MX_LOST_ORPHANED = 0,  /* a request or batch whose own record never came (GC after a while) */
    SP_MX_LOST_LATE,          /* device work that came after the timeline had passed its time */
    SP_MX_LOST_FULL,          /* a table at its cap (requests, batches, device work in flight) */
    SP_MX_LOST_MALFORMED,     /* a request with done before arrival, a record too short */
    SP_MX_LOST_CLOCK,         /* device work far from sp_now_ns(): another clock, left out of states */
    SP_MX_LOST_COUNT
};

/* One finished request as the tap hands it to the aggregate. */
typedef struct sp_mx_request {
    sp_outcome outcome;
    int32_t status;           /* HTTP status, 0: none */
    uint64_t latency_ns;      /* done - arrival */
    const uint64_t *row_ns;   /* ok requests: time per stage row (n_rows entries), summing to latency */
    size_t n_rows;
    double padding_ns;        /* DESIGN 5: kernel time x its batch's waste */
    uint32_t tokens;          /* output tokens recorded (generation); 0: none */
    uint64_t ttft_ns, tpot_ns;/* with tokens >= 1 (ttft) and >= 2 (tpot) */
} sp_mx_request;

typedef struct sp_mx sp_mx;

/* ---- live_metrics.c: the aggregate ---- */
sp_status sp_mx_create(sp_mx **out);
void sp_mx_destroy(sp_mx *m);
/* The writer takes the lock around its additions of one cycle. */
void sp_mx_lock(sp_mx *m);
void sp_mx_unlock(sp_mx *m);
/* Reinitialises the lock in a forked child and empties the aggregate (the child's metrics start at
 * zero; its recorder writes its own trace). */
void sp_mx_fork_child(sp_mx *m);
/* The row of a named stage (creating it; SP_MX_MORE_NAMED past the cap). Locked. Returns -1 when out of
 * memory. */
int sp_mx_named_row(sp_mx *m, const char *name);
/* The name of aggregate row `row` (tests), NULL past the rows there are. Locked. */
const char *sp_mx_row_name(sp_mx *m, size_t row);
/* Adds one finished request. Locked. */
void sp_mx_add_request(sp_mx *m, const sp_mx_request *q);
/* Adds one batch (its record): members, token counts (< 0: unknown). Locked. */
void sp_mx_add_batch(sp_mx *m, uint32_t members, int64_t effective, int64_t padded);
/* Adds device ns by state for device `device`. Locked. */
void sp_mx_add_device(sp_mx *m, uint32_t device, const double state_ns[SP_MX_DEV_STATES]);
/* Adds kernels/copies seen on `device`. Locked. */
void sp_mx_add_activity(sp_mx *m, uint32_t device, uint64_t kernels, uint64_t copies);
/* Adds to a loss counter. Locked. */
void sp_mx_add_lost(sp_mx *m, int reason, uint64_t n);
/* Sets the gauge of requests waiting for their records. Locked. */
void sp_mx_set_pending(sp_mx *m, uint64_t n);

/* What a render needs besides the aggregate: the recorder's drop counts, price and the properties
 * `service` and `device` (NULL: not set). */
typedef struct sp_mx_context {
    uint64_t drops[SP_DROP_CAUSE_COUNT];
    double price_per_hour;
    const char *service, *device;
} sp_mx_context;

/* Renders the Prometheus text exposition (format 0.0.4) into a malloc'd string. Takes the lock to copy
 * the aggregate, formats outside it. SP_OK or SP_ERR_NOMEM. */
sp_status sp_mx_render(sp_mx *m, const sp_mx_context *ctx, char **text, size_t *len);

/* ---- devtime.c: device states behind a watermark ---- */
typedef struct sp_devtime sp_devtime;

/* Kinds of device work, as the batch window partition labels them (DESIGN 3). */
enum { SP_DT_KERNEL = 0, SP_DT_H2D, SP_DT_D2H, SP_DT_OTHER_COPY };

sp_status sp_devtime_create(uint64_t start_ns, sp_devtime **out);
void sp_devtime_destroy(sp_devtime *d);
/* A piece of device work [s, e) of `kind`; `untied`: recorded without a batch id (the tap ties it to
 * batches by window, docs/analysis.md section 1). Returns false (and counts nothing) when it must be
 * left out: *lost_reason then says why (SP_MX_LOST_*). */
bool sp_devtime_add_work(sp_devtime *d, uint32_t device, int kind, bool untied, uint64_t s, uint64_t e,
                         uint64_t now, int *lost_reason);
/* A batch window on device 0 (native batches carry no device) with its padding waste. */
bool sp_devtime_add_batch(sp_devtime *d, int64_t id, uint64_t s, uint64_t e, double waste, uint64_t now,
                          int *lost_reason);
/* Calls fn for each untied piece of work on device 0 overlapping [s, e) that the timeline still holds. */
void sp_devtime_untied(const sp_devtime *d, uint64_t s, uint64_t e,
                       void (*fn)(void *ctx, int kind, uint64_t s, uint64_t e), void *ctx);
/* Sweeps the time up to `now` - the lag (settle + 1 s + the longest interval seen) into `m` (under its
 * lock, which the caller holds). `force_to` > 0: sweep up to that time instead (tests, close). */
void sp_devtime_sweep(sp_devtime *d, uint64_t now, uint64_t settle_ns, uint64_t force_to, sp_mx *m);

/* ---- tap.c: the records of the writer's drain ---- */
typedef struct sp_tap sp_tap;
struct sp_recorder;

/* `settle_ms`: sp_recorder_options.metrics_settle_ms. */
sp_status sp_tap_create(unsigned settle_ms, sp_tap **out);
void sp_tap_destroy(sp_tap *t);
/* Reads the records in ring bytes [from, to) (whole records; the ring has wmask + 1 words). */
void sp_tap_feed(sp_tap *t, const uint64_t *ring, size_t wmask, uint64_t from, uint64_t to);
/* End of a writer cycle: settles batches and finishes requests whose records are all in, then sweeps
 * the device timeline. `rec` gives names. `force`: finish everything whose own record came, settle or
 * not (sp_recorder_flush, close). */
void sp_tap_cycle(sp_tap *t, struct sp_recorder *rec, uint64_t now, bool force);
/* The aggregate, for renders. */
sp_mx *sp_tap_metrics(sp_tap *t);
void sp_tap_fork_prepare(sp_tap *t);
void sp_tap_fork_parent(sp_tap *t);
void sp_tap_fork_child(sp_tap *t);

/* Test hook: when set, called with every request the tap finishes (its id and the figures it added),
 * so a test can compare each one with the analyzer's partition. Never set outside tests. */
extern void (*sp_tap_test_hook)(uint64_t request_id, const sp_mx_request *q);
/* Test hook: sweep the device timeline up to this time at the next forced cycle (0: the usual lag). */
extern uint64_t sp_tap_test_sweep_to;

#endif
