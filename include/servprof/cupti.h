/* servprof GPU collector (libservprof-cupti): records CUDA kernels, memcpy, memset, synchronisation
 * and launch calls from CUPTI into a servprof recorder, with CUPTI timestamps aligned to the trace
 * clock and device work tied to batches. Link it beside libservprof (it records through
 * libservprof.so's functions and carries no recorder of its own) and call sp_cupti_start, or inject
 * it into an unmodified CUDA process with CUDA_INJECTION64_PATH=libservprof-cupti.so (docs/gpu.md). */
#ifndef SERVPROF_CUPTI_H
#define SERVPROF_CUPTI_H

#include "servprof/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options of sp_cupti_start, under trace.h's ABI rule: fill with sp_cupti_options_init, which sets
 * struct_size; the collector reads only the fields that fit in it. */
typedef struct sp_cupti_options {
    size_t struct_size;       /* sizeof(sp_cupti_options) the caller was built with (0: this version's) */
    size_t buffer_bytes;      /* size of each CUPTI activity buffer; 0: default (4 MiB) */
    size_t max_buffers;       /* buffers handed to CUPTI at once; beyond that CUPTI drops records
                                 (counted); 0: default (64) */
    size_t correlation_cap;   /* launches remembered for batch attribution; 0: default (65536) */
    int record_launches;      /* record launch calls (cudaLaunchKernel, cudaMemcpy*, ...): default 1 */
    int record_syncs;         /* record synchronisation activity: default 1 */
    int record_nvtx_batches;  /* record each "servprof.batch" NVTX range as a batch (window only,
                                 no members or tokens): default 0 when linked (the stack records
                                 its batches), 1 when injected */
    int api_callbacks;        /* which CUDA API calls CUPTI calls back on (docs/gpu.md, "Lean mode"):
                                 SP_CUPTI_API_ALL (0, the default): runtime and driver launch calls,
                                 so launches are recorded and device work is tied to batches by
                                 correlation id; SP_CUPTI_API_RUNTIME: runtime launch calls only;
                                 SP_CUPTI_API_NONE (lean): no API callbacks at all, no launch
                                 records, device work tied to the batch window it starts in
                                 (exact when one thread launches batches at a time) */
} sp_cupti_options;

enum { SP_CUPTI_API_ALL = 0, SP_CUPTI_API_RUNTIME = 1, SP_CUPTI_API_NONE = 2 };

/* Fills `opt` with the defaults. */
SP_API void sp_cupti_options_init(sp_cupti_options *opt);

/* Starts collecting into `rec` (borrowed; must stay open until sp_cupti_stop returns). `opt` may be
 * NULL (defaults); it is copied. Call before the CUDA work to be traced, from one thread.
 * Returns SP_OK; SP_ERR_INVALID if rec is NULL; SP_ERR_STATE if the collector is already started or
 * another CUPTI subscriber (Nsight Systems, the PyTorch profiler, ...) holds CUPTI: then nothing is
 * traced, the process runs on, the reason goes to the log callback and sp_cupti_get_stats reports
 * `subscriber_conflict`; SP_ERR_UNSUPPORTED if CUPTI fails to initialise (no driver);
 * SP_ERR_NOMEM. */
SP_API sp_status sp_cupti_start(sp_recorder *rec, const sp_cupti_options *opt);

/* Flushes CUPTI's buffers into the recorder, re-measures the clock offset (drift), unsubscribes.
 * The recorder stays open (the caller closes it). SP_ERR_STATE if not started. */
SP_API sp_status sp_cupti_stop(void);

/* Marks the calling thread as working on batch `batch_id` until sp_cupti_batch_end: kernels and
 * copies launched from this thread meanwhile are recorded with this batch id. Nests (a stack per
 * thread, 32 deep). Cheap (while the collector runs, each call also reads the clock once and takes
 * a mutex briefly to keep the batch's window); safe to call when the collector is not started (then
 * it only keeps the thread's stack). SP_NO_BATCH is ignored as an id but still pushes a level. */
SP_API void sp_cupti_batch_begin(uint64_t batch_id);
SP_API void sp_cupti_batch_end(void);

typedef struct sp_cupti_stats {
    int running;
    int subscriber_conflict;      /* start failed because another CUPTI subscriber is present */
    char conflict_with[64];       /* the other subscriber's name as CUPTI reports it ("" unknown) */
    uint64_t kernels, copies, memsets, syncs, launches;
    uint64_t attributed;          /* kernels/copies/memsets recorded with a batch id */
    uint64_t kernel_ns;           /* sum of kernel durations (concurrent kernels each count) */
    uint64_t cupti_dropped;       /* records CUPTI dropped; also in the trace as buffer_full */
    uint64_t invalid;             /* records with missing timestamps, not recorded */
    uint64_t correlation_evicted; /* launches forgotten before their device work completed */
    int64_t clock_offset_ns;      /* trace time = CUPTI time + offset, measured at start */
    uint64_t clock_error_ns;      /* bound on the offset's error (half the best bracket) */
    int64_t clock_drift_ns;       /* offset at stop - offset at start (0 until stopped) */
    uint64_t clock_stop_error_ns;
    int api_callbacks;            /* the SP_CUPTI_API_* the collector ran with */
    /* tying by batch window (used where no launch was noted, e.g. lean mode): activity tied to a
     * window, falling in overlapping windows of two threads (left untied), in no window */
    uint64_t window_tied, window_ambiguous, window_unmatched;
    uint64_t window_overlaps;     /* batch windows of different threads that overlapped */
} sp_cupti_stats;

/* Snapshot of the collector's counters (valid also after stop or a failed start). */
SP_API void sp_cupti_get_stats(sp_cupti_stats *out);

/* Entry point CUDA calls when this library is named by CUDA_INJECTION64_PATH: opens a recorder on
 * $SERVPROF_TRACE (default servprof-<pid>.sptrace), starts the collector and writes the trace at
 * exit. Returns 1 (success to CUDA) even when tracing cannot start, so the process runs on. */
SP_API int InitializeInjection(void);

#ifdef __cplusplus
}
#endif

#endif
