/* The GPU collector's core: turns CUPTI activity (through mirror structs that need no CUPTI headers)
 * into recorder calls, converts CUPTI timestamps to the trace clock and ties device work to batches.
 * Everything here is plain C so it is unit-tested on machines with no GPU and no CUDA toolkit;
 * src/gpu/cupti.c is the thin layer that talks to CUPTI itself. */
#ifndef SERVPROF_GPU_INT_H
#define SERVPROF_GPU_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hmap.h"
#include "servprof/trace.h"

/* ---- Clock alignment (docs/gpu.md, "Clock alignment") ----
 * One paired read: CLOCK_MONOTONIC before, the CUPTI timestamp, CLOCK_MONOTONIC after. */
typedef struct sp_gpu_clock_sample {
    uint64_t mono_before_ns;
    uint64_t gpu_ns;
    uint64_t mono_after_ns;
} sp_gpu_clock_sample;

/* mono = gpu + offset_ns. `error_ns` bounds |true offset - offset_ns| given the sample used: half the
 * width of its bracket, rounded up. */
typedef struct sp_gpu_clock {
    int64_t offset_ns;
    uint64_t error_ns;
    uint64_t bracket_ns;  /* width (after - before) of the narrowest bracket */
} sp_gpu_clock;

/* Fits the offset from `n` paired reads: the sample with the narrowest bracket wins (min-bracket),
 * and the CUPTI read is taken to have happened at the bracket's midpoint. Samples whose bracket is
 * reversed (after < before) are ignored. Writes `*out` only on success; SP_ERR_INVALID if no usable
 * sample. */
sp_status sp_gpu_clock_fit(const sp_gpu_clock_sample *s, size_t n, sp_gpu_clock *out);

/* Converts a CUPTI timestamp to trace time, saturating at 0 and UINT64_MAX - 1. */
uint64_t sp_gpu_clock_to_mono(const sp_gpu_clock *c, uint64_t gpu_ns);

/* ---- Correlation id -> batch id map ----
 * CUPTI correlation ids grow monotonically within a process, so a direct-mapped table indexed by
 * id modulo the capacity keeps the most recent `cap` launches: a fixed-size ring with O(1) lookup.
 * A kernel that completes after `cap` newer launches loses its batch id (it is then recorded with
 * SP_NO_BATCH and the analyzer ties it by window); `evicted` counts such overwrites.
 * Lock-free: launching threads put (from CUPTI's API callback, on the launch's critical path) while
 * the buffer thread gets. Each slot is a small seqlock: put clears the key, writes the batch, then
 * publishes the key (release); get reads key, batch, key again and accepts only an unchanged key.
 * Two puts racing on one slot need ids `cap` apart in flight at once; the later key wins and the
 * slot's batch is one of the two (documented bound, not observed with cap >= 16 Ki). */
typedef struct sp_gpu_corrmap {
    _Atomic uint64_t *keys;     /* correlation id; 0 = empty */
    _Atomic uint64_t *batches;
    size_t cap;                 /* power of two */
    _Atomic uint64_t evicted;   /* live entries overwritten by a newer id */
} sp_gpu_corrmap;

#define SP_GPU_CORRMAP_DEFAULT (1u << 16)
#define SP_GPU_CORRMAP_MAX (1u << 22)

/* `cap` is rounded up to a power of two, at least 16, at most SP_GPU_CORRMAP_MAX (0: default).
 * Returns SP_ERR_NOMEM. */
sp_status sp_gpu_corrmap_init(sp_gpu_corrmap *m, size_t cap);
void sp_gpu_corrmap_free(sp_gpu_corrmap *m);
/* Correlation 0 and batch SP_NO_BATCH are ignored. Thread-safe (see above). */
void sp_gpu_corrmap_put(sp_gpu_corrmap *m, uint64_t correlation, uint64_t batch_id);
/* SP_NO_BATCH when absent or evicted. Thread-safe. */
uint64_t sp_gpu_corrmap_get(sp_gpu_corrmap *m, uint64_t correlation);
uint64_t sp_gpu_corrmap_evicted(sp_gpu_corrmap *m);

/* ---- Batch windows (lean mode: no API callbacks) ----
 * Without launch callbacks there is no correlation id to tie device work by, so the collector keeps
 * the recent batch windows (sp_cupti_batch_begin .. end, or servprof.batch NVTX ranges), host clock,
 * in a ring, and ties each kernel, copy or memset to the latest-starting window that contains the
 * activity's start (trace clock). That is exact when windows do not overlap, i.e. one thread
 * launches batches at a time and each window lasts until its device work is done (the service with
 * one worker: the forward pass waits on its stream). Windows opened by different threads that
 * overlap are marked ambiguous; activity falling in an ambiguous window is not tied (SP_NO_BATCH:
 * the analyzer then ties it to every batch window it overlaps, DESIGN section 2) and counted.
 * Opening and closing take a mutex (twice per batch); a lookup takes it briefly per record. */
#define SP_GPU_WINDOWS_DEFAULT (1u << 14)
#define SP_GPU_WINDOWS_SCAN 64u   /* windows looked back over, for overlaps and for a match */
#define SP_GPU_WINDOW_OPEN UINT64_MAX

typedef struct sp_gpu_window {
    uint64_t start_ns, end_ns;  /* end SP_GPU_WINDOW_OPEN while open */
    uint64_t batch_id;
    uintptr_t thread;           /* opener's token: overlaps on one thread nest, not ambiguous */
    int ambiguous;
} sp_gpu_window;

typedef struct sp_gpu_windows {
    sp_gpu_window *w;
    size_t cap;                 /* power of two */
    uint64_t next;              /* windows opened so far; window i lives in slot i % cap */
    pthread_mutex_t mu;
    uint64_t tied, ambiguous, unmatched, overlaps;
} sp_gpu_windows;

/* `cap` rounded up to a power of two, at least 16, at most 1 Mi (0: default). SP_ERR_NOMEM. */
sp_status sp_gpu_windows_init(sp_gpu_windows *ws, size_t cap);
void sp_gpu_windows_free(sp_gpu_windows *ws);
/* Opens a window for `batch_id` starting at `now_ns` (host clock, non-decreasing across calls, so
 * the ring stays in start order: the caller reads the clock inside, see sp_gpu_windows_open_now).
 * Returns its sequence number for sp_gpu_windows_close. SP_NO_BATCH ids open nothing (returns
 * UINT64_MAX). */
uint64_t sp_gpu_windows_open(sp_gpu_windows *ws, uint64_t batch_id, uint64_t now_ns, uintptr_t thread);
/* Same, reading sp_now_ns() under the lock (monotonic order across threads). */
uint64_t sp_gpu_windows_open_now(sp_gpu_windows *ws, uint64_t batch_id, uintptr_t thread);
/* Closes window `seq` at `now_ns` (no-op if it left the ring or seq is UINT64_MAX). */
void sp_gpu_windows_close(sp_gpu_windows *ws, uint64_t seq, uint64_t now_ns);
/* The batch whose window contains `start_ns` (trace clock): the latest-starting one among the last
 * SP_GPU_WINDOWS_SCAN; SP_NO_BATCH when none does or it is ambiguous. Counts tied / ambiguous /
 * unmatched. */
uint64_t sp_gpu_windows_find(sp_gpu_windows *ws, uint64_t start_ns);

/* ---- Per-thread batch window ----
 * A small stack per thread: sp_cupti_batch_begin and "servprof.batch" NVTX ranges push, their ends
 * pop. Other NVTX ranges push the current value again so pushes and pops stay paired. Deeper than
 * SP_GPU_BATCH_DEPTH: the extra levels are counted, not stored, and inherit the top. */
#define SP_GPU_BATCH_DEPTH 32
void sp_gpu_thread_batch_push(uint64_t batch_id);
/* Returns the batch id that was on top (SP_NO_BATCH when the stack was empty). */
uint64_t sp_gpu_thread_batch_pop(void);
/* The batch the calling thread is in, SP_NO_BATCH outside any. */
uint64_t sp_gpu_thread_batch(void);

/* Parses an NVTX range into a batch id: "servprof.batch:<decimal id>", or exactly "servprof.batch"
 * with a 64-bit unsigned payload (`has_payload`). Returns 1 and writes `*out` on a match, else 0.
 * SP_NO_BATCH itself is not a valid id. */
int sp_gpu_batch_range_id(const char *message, int has_payload, uint64_t payload, uint64_t *out);

/* ---- Record conversion ---- */

/* CUPTI memcpy kinds (CUpti_ActivityMemcpyKind); cupti.c checks these equal the header's values. */
enum {
    SP_GPU_MEMCPY_UNKNOWN = 0,
    SP_GPU_MEMCPY_HTOD = 1,
    SP_GPU_MEMCPY_DTOH = 2,
    SP_GPU_MEMCPY_HTOA = 3,
    SP_GPU_MEMCPY_ATOH = 4,
    SP_GPU_MEMCPY_ATOA = 5,
    SP_GPU_MEMCPY_ATOD = 6,
    SP_GPU_MEMCPY_DTOA = 7,
    SP_GPU_MEMCPY_DTOD = 8,
    SP_GPU_MEMCPY_HTOH = 9,
    SP_GPU_MEMCPY_PTOP = 10
};

/* CUPTI synchronisation types (CUpti_ActivitySynchronizationType), checked likewise. */
enum {
    SP_GPU_SYNC_UNKNOWN = 0,
    SP_GPU_SYNC_EVENT_SYNCHRONIZE = 1,
    SP_GPU_SYNC_STREAM_WAIT_EVENT = 2,
    SP_GPU_SYNC_STREAM_SYNCHRONIZE = 3,
    SP_GPU_SYNC_CONTEXT_SYNCHRONIZE = 4,
    SP_GPU_SYNC_TYPE_COUNT = 5
};

/* Host or array memory on either side maps to its direction; array-to-array and device arrays on
 * the same device are d2d; host-to-host, peer-to-peer and unknown kinds are "other". */
sp_copy_kind sp_gpu_copy_kind(uint32_t cupti_memcpy_kind);

/* Static name recorded for a synchronisation ("sync:stream_synchronize", ...). */
const char *sp_gpu_sync_name(uint32_t cupti_sync_type);

/* Is this runtime/driver API function (as cuptiGetCallbackName names it, e.g. "cudaLaunchKernel_v7000")
 * one whose calls are recorded as launches: kernel launches, memcpy, memset, graph launches. */
int sp_gpu_is_launch_api(const char *function_name);

/* Mirror of the fields of CUpti_ActivityKernel* that servprof uses. */
typedef struct sp_gpu_kernel_act {
    const char *name;   /* borrowed; may be NULL */
    uint64_t start, end; /* CUPTI timestamps */
    uint32_t device, stream, correlation;
} sp_gpu_kernel_act;

/* Mirror of CUpti_ActivityMemcpy* / CUpti_ActivityMemset*. */
typedef struct sp_gpu_copy_act {
    int is_memset;
    uint32_t memcpy_kind; /* SP_GPU_MEMCPY_*; ignored for memsets */
    uint64_t bytes;
    uint64_t start, end;
    uint32_t device, stream, correlation;
} sp_gpu_copy_act;

/* Mirror of CUpti_ActivitySynchronization*. */
typedef struct sp_gpu_sync_act {
    uint32_t type;      /* SP_GPU_SYNC_* */
    uint64_t start, end;
    uint32_t correlation;
} sp_gpu_sync_act;

/* Interned kernel names, cached so each distinct name takes the recorder's lock once: the name's
 * hash -> names[] (common/hmap.h). The cache holds at most SP_GPU_NAMES_MAX names (beyond that each
 * lookup asks the recorder, which dedupes, so ids stay right, only slower). */
#define SP_GPU_NAMES_MAX 8192u
typedef struct sp_gpu_names {
    sp_hmap map;
    struct sp_gpu_name *names;  /* [SP_GPU_NAMES_MAX]: the cached names and their ids */
    size_t count;
} sp_gpu_names;

/* Counters the collector reports in its stats and at exit. */
typedef struct sp_gpu_counts {
    uint64_t kernels, copies, memsets, syncs, launches;
    uint64_t invalid;           /* records with a zero or reversed time range: not recorded */
    uint64_t cupti_dropped;     /* records CUPTI dropped (cuptiActivityGetNumDroppedRecords) */
    uint64_t attributed;        /* kernels and copies recorded with a batch id */
    uint64_t kernel_ns;         /* sum of recorded kernels' durations (overlaps counted twice) */
} sp_gpu_counts;

/* Conversion state. One per collector; the record functions below are not thread-safe against
 * each other (cupti.c serialises buffer processing with `lock`). */
typedef struct sp_gpu_ctx {
    sp_recorder *rec;           /* borrowed */
    sp_gpu_clock clock;
    sp_gpu_corrmap map;
    sp_gpu_names names;
    pthread_mutex_t lock;       /* serialises buffer processing: names and counts (the map and the
                                   windows are thread-safe on their own) */
    sp_name_id sync_names[SP_GPU_SYNC_TYPE_COUNT];
    sp_gpu_counts counts;
    /* lean mode: tie by window instead of by correlation id (sp_gpu_ctx_use_windows) */
    int by_window;
    sp_gpu_windows windows;
} sp_gpu_ctx;

/* `rec` is borrowed and may be NULL (records are then only counted). `clock` is copied.
 * Returns SP_ERR_NOMEM. */
sp_status sp_gpu_ctx_init(sp_gpu_ctx *c, sp_recorder *rec, const sp_gpu_clock *clock, size_t map_cap);
void sp_gpu_ctx_free(sp_gpu_ctx *c);
/* Switches the ctx to tie activity by batch window (lean mode) and sets up the window ring.
 * Activity is then tied by correlation first (if some launch was noted) and by window otherwise.
 * SP_ERR_NOMEM. */
sp_status sp_gpu_ctx_use_windows(sp_gpu_ctx *c, size_t cap);

/* A launch was made on the calling thread with this correlation id: ties it to the thread's current
 * batch, if any. Thread-safe and lock-free (a thread-local read and, inside a batch, three atomic
 * stores): it runs on the launch's critical path. */
void sp_gpu_note_launch(sp_gpu_ctx *c, uint64_t correlation);

/* Pure conversions (no recorder calls), exposed for tests. Return 0 when the record is invalid
 * (zero or reversed times) and must be skipped; `*out` is then untouched. */
int sp_gpu_kernel_convert(sp_gpu_ctx *c, const sp_gpu_kernel_act *a, sp_name_id name,
                          sp_kernel_record *out);
int sp_gpu_copy_convert(sp_gpu_ctx *c, const sp_gpu_copy_act *a, sp_copy_record *out);

/* Convert and record. Callers hold c->lock. */
void sp_gpu_emit_kernel(sp_gpu_ctx *c, const sp_gpu_kernel_act *a);
void sp_gpu_emit_copy(sp_gpu_ctx *c, const sp_gpu_copy_act *a);
void sp_gpu_emit_sync(sp_gpu_ctx *c, const sp_gpu_sync_act *a);
/* `count` records CUPTI dropped: counted into the trace as SP_DROP_BUFFER_FULL. */
void sp_gpu_emit_cupti_drops(sp_gpu_ctx *c, uint64_t count);

/* Cached kernel-name id (interning through c->rec on a miss). SP_NAME_NONE for NULL/empty. */
sp_name_id sp_gpu_kernel_name(sp_gpu_ctx *c, const char *name);

#endif
