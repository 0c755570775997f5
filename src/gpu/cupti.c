/* The GPU collector's CUPTI layer: subscribes to CUPTI, hands it activity buffers, translates its
 * records into the mirror structs of gpu_int.h, records launch calls from API callbacks on the
 * launching thread and follows "servprof.batch" NVTX ranges (the injection entry point is
 * inject.c). Built only when the CUDA toolkit with CUPTI is found (src/gpu/CMakeLists.txt), into
 * libservprof-cupti.so and into the CUDA backend module of servprof serve; it records through the
 * public recorder functions, which each of those resolves to the process's one recorder. */
#include <cupti.h>
#include <generated_nvtx_meta.h>
#include <nvtx3/nvToolsExt.h>

#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util_int.h"
#include "gpu/gpu_int.h"
#include "servprof/cupti.h"

/* The core mirrors CUPTI's enum values so it needs no CUPTI headers; keep them honest. */
_Static_assert((int)SP_GPU_MEMCPY_HTOD == (int)CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, "memcpy kind");
_Static_assert((int)SP_GPU_MEMCPY_DTOH == (int)CUPTI_ACTIVITY_MEMCPY_KIND_DTOH, "memcpy kind");
_Static_assert((int)SP_GPU_MEMCPY_HTOA == (int)CUPTI_ACTIVITY_MEMCPY_KIND_HTOA, "memcpy kind");
_Static_assert((int)SP_GPU_MEMCPY_ATOH == (int)CUPTI_ACTIVITY_MEMCPY_KIND_ATOH, "memcpy kind");
_Static_assert((int)SP_GPU_MEMCPY_ATOA == (int)CUPTI_ACTIVITY_MEMCPY_KIND_ATOA, "memcpy kind");
_Static_assert((int)SP_GPU_MEMCPY_ATOD == (int)CUPTI_ACTIVITY_MEMCPY_KIND_ATOD, "memcpy kind");
_Static_assert((int)SP_GPU_MEMCPY_DTOA == (int)CUPTI_ACTIVITY_MEMCPY_KIND_DTOA, "memcpy kind");
_Static_assert((int)SP_GPU_MEMCPY_DTOD == (int)CUPTI_ACTIVITY_MEMCPY_KIND_DTOD, "memcpy kind");
_Static_assert((int)SP_GPU_MEMCPY_HTOH == (int)CUPTI_ACTIVITY_MEMCPY_KIND_HTOH, "memcpy kind");
_Static_assert((int)SP_GPU_MEMCPY_PTOP == (int)CUPTI_ACTIVITY_MEMCPY_KIND_PTOP, "memcpy kind");
_Static_assert((int)SP_GPU_SYNC_EVENT_SYNCHRONIZE == (int)CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_EVENT_SYNCHRONIZE, "sync");
_Static_assert((int)SP_GPU_SYNC_STREAM_WAIT_EVENT == (int)CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_WAIT_EVENT, "sync");
_Static_assert((int)SP_GPU_SYNC_STREAM_SYNCHRONIZE == (int)CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE, "sync");
_Static_assert((int)SP_GPU_SYNC_CONTEXT_SYNCHRONIZE == (int)CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE, "sync");

#define SP_CUPTI_DEFAULT_BUFFER (4u << 20)
#define SP_CUPTI_DEFAULT_MAX_BUFFERS 64u
#define SP_CUPTI_CLOCK_SAMPLES 32

/* Launch names per callback id, interned at start. Sized from CUPTI's own id ranges. */
#define SP_RT_NAMES CUPTI_RUNTIME_TRACE_CBID_SIZE
#define SP_DRV_NAMES CUPTI_DRIVER_TRACE_CBID_SIZE

static const CUpti_ActivityKind sp_kinds[] = {
    CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY, CUPTI_ACTIVITY_KIND_MEMSET,
    CUPTI_ACTIVITY_KIND_SYNCHRONIZATION, /* last: enabled only with record_syncs */
};
#define SP_NKINDS (sizeof sp_kinds / sizeof sp_kinds[0])

/* One collector per process (CUPTI allows one subscriber). start/stop/stats serialise on
 * state_lock; `running` is read by callbacks on other threads (acquire, so a callback that sees 1
 * also sees the ctx initialised before it was set). */
static struct {
    pthread_mutex_t state_lock;
    atomic_int running;
    int ctx_ready;
    sp_gpu_ctx ctx;
    sp_cupti_options opt;
    CUpti_SubscriberHandle sub;
    int enabled[SP_NKINDS];
    atomic_uint outstanding_buffers;
    sp_name_id rt_names[SP_RT_NAMES];
    sp_name_id drv_names[SP_DRV_NAMES];
    sp_name_id nvtx_batch_name;
    sp_cupti_stats last;          /* conflict info and final counters */
} g = {.state_lock = PTHREAD_MUTEX_INITIALIZER};

/* Per-thread state: nesting of recorded runtime launches (driver calls inside them are not
 * recorded again) and the NVTX ranges pushed on this thread. */
static _Thread_local unsigned tls_rt_depth;
#define SP_NVTX_DEPTH SP_GPU_BATCH_DEPTH
static _Thread_local struct {
    uint64_t start_ns;
    uint64_t batch_id;   /* SP_NO_BATCH: not a servprof.batch range */
} tls_nvtx[SP_NVTX_DEPTH];
static _Thread_local unsigned tls_nvtx_depth;
/* Batch windows opened on this thread (sequence numbers, UINT64_MAX: none), one per batch level,
 * so sp_cupti_batch_end / the NVTX pop closes the window its begin opened. */
static _Thread_local uint64_t tls_win[SP_GPU_BATCH_DEPTH];
static _Thread_local unsigned tls_win_depth;

/* sizeof(sp_cupti_options) in 0.2, the first layout with struct_size (trace.h, "ABI rule"). */
#define OPTIONS_SIZE_0_2 (offsetof(sp_cupti_options, api_callbacks) + sizeof(int))

SP_API void sp_cupti_options_init(sp_cupti_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->record_launches = 1;
    opt->record_syncs = 1;
}

/* Opens this level's batch window when the collector runs (windows tie device work in lean mode
 * and back correlation up where no launch was noted). The token telling threads apart is the
 * address of a thread-local. */
static void win_push(uint64_t batch_id)
{
    uint64_t seq = UINT64_MAX;
    /* acquire: pairs with the release store in sp_cupti_start (ctx initialised) */
    if (batch_id != SP_NO_BATCH && atomic_load_explicit(&g.running, memory_order_acquire) && g.ctx.by_window)
        seq = sp_gpu_windows_open_now(&g.ctx.windows, batch_id, (uintptr_t)&tls_win_depth);
    if (tls_win_depth < SP_GPU_BATCH_DEPTH)
        tls_win[tls_win_depth] = seq;
    if (tls_win_depth < UINT32_MAX)
        tls_win_depth++;
}

static void win_pop(void)
{
    if (tls_win_depth == 0)
        return;
    tls_win_depth--;
    if (tls_win_depth >= SP_GPU_BATCH_DEPTH || tls_win[tls_win_depth] == UINT64_MAX)
        return;
    if (atomic_load_explicit(&g.running, memory_order_acquire) && g.ctx.by_window)
        sp_gpu_windows_close(&g.ctx.windows, tls_win[tls_win_depth], sp_now_ns());
}

SP_API void sp_cupti_batch_begin(uint64_t batch_id)
{
    sp_gpu_thread_batch_push(batch_id);
    win_push(batch_id);
}

SP_API void sp_cupti_batch_end(void)
{
    win_pop();
    (void)sp_gpu_thread_batch_pop();
}

static const char *cupti_err(CUptiResult r)
{
    const char *s = NULL;
    if (cuptiGetResultString(r, &s) != CUPTI_SUCCESS || !s)
        return "unknown CUPTI error";
    return s;
}

static sp_status measure_clock(sp_gpu_clock *out)
{
    sp_gpu_clock_sample s[SP_CUPTI_CLOCK_SAMPLES];
    size_t n = 0;
    for (int i = 0; i < SP_CUPTI_CLOCK_SAMPLES; i++) {
        uint64_t ts = 0;
        s[n].mono_before_ns = sp_now_ns();
        CUptiResult r = cuptiGetTimestamp(&ts);
        s[n].mono_after_ns = sp_now_ns();
        s[n].gpu_ns = ts;
        if (r == CUPTI_SUCCESS)
            n++;
    }
    return sp_gpu_clock_fit(s, n, out);
}

/* ---- Activity buffers ---- */

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
    *max_records = 0;
    *buffer = NULL;
    *size = 0;
    /* relaxed: a count with a cap, no data published through it */
    unsigned prev = atomic_fetch_add_explicit(&g.outstanding_buffers, 1, memory_order_relaxed);
    if (prev >= g.opt.max_buffers) {
        /* Hard cap on memory handed to CUPTI: CUPTI then drops records and counts them, and
         * buffer_completed reports those counts. */
        atomic_fetch_sub_explicit(&g.outstanding_buffers, 1, memory_order_relaxed);
        return;
    }
    void *p = aligned_alloc(8, g.opt.buffer_bytes);
    if (!p) {
        atomic_fetch_sub_explicit(&g.outstanding_buffers, 1, memory_order_relaxed);
        return;
    }
    *buffer = p;
    *size = g.opt.buffer_bytes;
}

static void process_record(const CUpti_Activity *r)
{
    sp_gpu_ctx *c = &g.ctx;
    switch (r->kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
        const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)r;
        sp_gpu_kernel_act a = {k->name, k->start, k->end, k->deviceId, k->streamId, k->correlationId};
        sp_gpu_emit_kernel(c, &a);
        break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
        const CUpti_ActivityMemcpy6 *m = (const CUpti_ActivityMemcpy6 *)r;
        sp_gpu_copy_act a = {0, m->copyKind, m->bytes, m->start, m->end, m->deviceId, m->streamId,
                             m->correlationId};
        sp_gpu_emit_copy(c, &a);
        break;
    }
    case CUPTI_ACTIVITY_KIND_MEMSET: {
        const CUpti_ActivityMemset4 *m = (const CUpti_ActivityMemset4 *)r;
        sp_gpu_copy_act a = {1, 0, m->bytes, m->start, m->end, m->deviceId, m->streamId, m->correlationId};
        sp_gpu_emit_copy(c, &a);
        break;
    }
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
        const CUpti_ActivitySynchronization2 *s = (const CUpti_ActivitySynchronization2 *)r;
        if (g.opt.record_syncs) {
            sp_gpu_sync_act a = {(uint32_t)s->type, s->start, s->end, s->correlationId};
            sp_gpu_emit_sync(c, &a);
        }
        break;
    }
    default:
        break;
    }
}

static void CUPTIAPI buffer_completed(CUcontext cuctx, uint32_t stream, uint8_t *buffer, size_t size,
                                      size_t valid)
{
    CUpti_Activity *r = NULL;
    pthread_mutex_lock(&g.ctx.lock);
    if (valid > 0) {
        while (cuptiActivityGetNextRecord(buffer, valid, &r) == CUPTI_SUCCESS)
            process_record(r);
    }
    size_t dropped = 0;
    if (cuptiActivityGetNumDroppedRecords(cuctx, stream, &dropped) == CUPTI_SUCCESS && dropped > 0)
        sp_gpu_emit_cupti_drops(&g.ctx, dropped);
    pthread_mutex_unlock(&g.ctx.lock);
    free(buffer);
    if (buffer)
        atomic_fetch_sub_explicit(&g.outstanding_buffers, 1, memory_order_relaxed);
}

/* ---- API and NVTX callbacks ---- */

/* Runs inside every recorded launch call, on the launching thread: kept to a thread-local read,
 * the lock-free correlation map and one clock read per callback, and nothing at all for a driver
 * call nested in a runtime launch beyond mapping its id. */
static void on_api(CUpti_CallbackDomain dom, CUpti_CallbackId cbid, const CUpti_CallbackData *cd)
{
    int runtime = dom == CUPTI_CB_DOMAIN_RUNTIME_API;
    if (cd->callbackSite == CUPTI_API_ENTER) {
        /* Tie the launch to the thread's batch before the device can possibly run it. A driver call
         * nested in a runtime launch gets mapped too, in case its id is the one on the activity. */
        sp_gpu_note_launch(&g.ctx, cd->correlationId);
        if (runtime)
            tls_rt_depth++;
        else if (tls_rt_depth > 0)
            return; /* nested: not recorded, so no clock read */
        if (g.opt.record_launches && cd->correlationData)
            *cd->correlationData = sp_now_ns();
        return;
    }
    if (runtime && tls_rt_depth > 0)
        tls_rt_depth--;
    else if (!runtime && tls_rt_depth > 0)
        return; /* nested inside a recorded runtime launch */
    if (!g.opt.record_launches || !cd->correlationData)
        return;
    uint64_t end = sp_now_ns();
    sp_name_id name = SP_NAME_NONE;
    if (runtime && cbid < SP_RT_NAMES)
        name = g.rt_names[cbid];
    else if (!runtime && cbid < SP_DRV_NAMES)
        name = g.drv_names[cbid];
    sp_record_launch(g.ctx.rec, name, cd->correlationId, *cd->correlationData, end);
    /* relaxed: a statistic */
    __atomic_fetch_add(&g.ctx.counts.launches, 1, __ATOMIC_RELAXED);
}

static void on_nvtx(CUpti_CallbackId cbid, const CUpti_NvtxData *nd)
{
    if (cbid == CUPTI_CBID_NVTX_nvtxRangePop) {
        if (tls_nvtx_depth == 0)
            return;
        tls_nvtx_depth--;
        win_pop();
        (void)sp_gpu_thread_batch_pop();
        if (tls_nvtx_depth < SP_NVTX_DEPTH && tls_nvtx[tls_nvtx_depth].batch_id != SP_NO_BATCH &&
            g.opt.record_nvtx_batches)
            sp_record_batch(g.ctx.rec, tls_nvtx[tls_nvtx_depth].batch_id, NULL, 0,
                            tls_nvtx[tls_nvtx_depth].start_ns, sp_now_ns(), 0, 0);
        return;
    }
    const char *msg = NULL;
    int has_payload = 0;
    uint64_t payload = 0;
    if (cbid == CUPTI_CBID_NVTX_nvtxRangePushA) {
        const nvtxRangePushA_params *p = nd->functionParams;
        msg = p ? p->message : NULL;
    } else if (cbid == CUPTI_CBID_NVTX_nvtxRangePushEx) {
        const nvtxRangePushEx_params *p = nd->functionParams;
        const nvtxEventAttributes_t *a = p ? p->eventAttrib : NULL;
        if (a && a->messageType == NVTX_MESSAGE_TYPE_ASCII)
            msg = a->message.ascii;
        if (a && (a->payloadType == NVTX_PAYLOAD_TYPE_UNSIGNED_INT64 ||
                  (a->payloadType == NVTX_PAYLOAD_TYPE_INT64 && a->payload.llValue >= 0))) {
            has_payload = 1;
            payload = a->payload.ullValue;
        }
    } else {
        return;
    }
    uint64_t id = SP_NO_BATCH;
    int is_batch = sp_gpu_batch_range_id(msg, has_payload, payload, &id);
    /* Every push pushes a batch level (other ranges inherit the current batch) so pops pair up. */
    sp_gpu_thread_batch_push(is_batch ? id : sp_gpu_thread_batch());
    win_push(is_batch ? id : SP_NO_BATCH); /* only batch ranges open a window */
    if (tls_nvtx_depth < SP_NVTX_DEPTH) {
        tls_nvtx[tls_nvtx_depth].batch_id = is_batch ? id : SP_NO_BATCH;
        tls_nvtx[tls_nvtx_depth].start_ns = sp_now_ns();
    }
    if (tls_nvtx_depth < UINT32_MAX)
        tls_nvtx_depth++;
}

static void CUPTIAPI on_callback(void *user, CUpti_CallbackDomain dom, CUpti_CallbackId cbid,
                                 const void *data)
{
    /* acquire: pairs with the release store in sp_cupti_start, so g.ctx is seen initialised */
    if (!atomic_load_explicit(&g.running, memory_order_acquire))
        return;
    if (dom == CUPTI_CB_DOMAIN_RUNTIME_API || dom == CUPTI_CB_DOMAIN_DRIVER_API)
        on_api(dom, cbid, data);
    else if (dom == CUPTI_CB_DOMAIN_NVTX)
        on_nvtx(cbid, data);
}

/* Interns "cudaLaunchKernel" for "cudaLaunchKernel_v7000": the version suffix is CUPTI's. */
static sp_name_id intern_api_name(sp_recorder *rec, const char *fn)
{
    char buf[128];
    size_t len = strlen(fn);
    if (len >= sizeof buf)
        return sp_recorder_intern(rec, fn);
    memcpy(buf, fn, len + 1);
    char *v = strstr(buf, "_v");
    if (v && v[2] >= '0' && v[2] <= '9' && strspn(v + 2, "0123456789") == strlen(v + 2))
        *v = '\0';
    return sp_recorder_intern(rec, buf);
}

static CUptiResult enable_launch_callbacks(CUpti_CallbackDomain dom, uint32_t size, sp_name_id *names)
{
    for (uint32_t id = 1; id < size; id++) {
        const char *fn = NULL;
        if (cuptiGetCallbackName(dom, id, &fn) != CUPTI_SUCCESS || !sp_gpu_is_launch_api(fn))
            continue;
        names[id] = intern_api_name(g.ctx.rec, fn);
        CUptiResult r = cuptiEnableCallback(1, g.sub, dom, id);
        if (r != CUPTI_SUCCESS)
            return r;
    }
    return CUPTI_SUCCESS;
}

/* NVTX calls reach CUPTI only when NVTX loads it as its injection library; point NVTX at the
 * libcupti this library is linked to, unless the user chose one. Too late if the process already
 * made an NVTX call (NVTX reads the variable once). */
static void point_nvtx_at_cupti(void)
{
    Dl_info info;
    if (getenv("NVTX_INJECTION64_PATH"))
        return;
    if (dladdr((void *)cuptiSubscribe, &info) && info.dli_fname && info.dli_fname[0] == '/') {
        setenv("NVTX_INJECTION64_PATH", info.dli_fname, 0);
        sp_log(SP_LOG_INFO, "servprof-cupti: NVTX_INJECTION64_PATH=%s for NVTX batch ranges",
               info.dli_fname);
    }
}

static void disable_all(void)
{
    for (size_t i = 0; i < SP_NKINDS; i++) {
        if (g.enabled[i])
            cuptiActivityDisable(sp_kinds[i]);
        g.enabled[i] = 0;
    }
    if (g.sub) {
        cuptiUnsubscribe(g.sub);
        g.sub = NULL;
    }
}

static sp_status start_locked(sp_recorder *rec, const sp_cupti_options *opt)
{
    sp_gpu_clock clock;
    CUptiResult r;

    memset(&g.last, 0, sizeof g.last);
    sp_cupti_options_init(&g.opt);
    if (opt)
        sp_options_copy(&g.opt, sizeof g.opt, opt, opt->struct_size, OPTIONS_SIZE_0_2);
    if (g.opt.buffer_bytes == 0)
        g.opt.buffer_bytes = SP_CUPTI_DEFAULT_BUFFER;
    if (g.opt.buffer_bytes < 64 * 1024)
        g.opt.buffer_bytes = 64 * 1024;
    g.opt.buffer_bytes = (g.opt.buffer_bytes + 7) & ~(size_t)7;
    if (g.opt.max_buffers == 0)
        g.opt.max_buffers = SP_CUPTI_DEFAULT_MAX_BUFFERS;

    if (measure_clock(&clock) != SP_OK) {
        sp_log(SP_LOG_ERROR, "servprof-cupti: cuptiGetTimestamp failed: CUPTI is not usable here");
        return SP_ERR_UNSUPPORTED;
    }
    if (g.ctx_ready) { /* a previous session's state: no callback can reach it any more */
        sp_gpu_ctx_free(&g.ctx);
        g.ctx_ready = 0;
    }
    if (g.opt.api_callbacks < SP_CUPTI_API_ALL || g.opt.api_callbacks > SP_CUPTI_API_NONE) {
        sp_log(SP_LOG_ERROR, "servprof-cupti: api_callbacks %d is not one of SP_CUPTI_API_*", g.opt.api_callbacks);
        return SP_ERR_INVALID;
    }
    if (g.opt.api_callbacks == SP_CUPTI_API_NONE)
        g.opt.record_launches = 0; /* lean: no callback sees a launch */
    if (sp_gpu_ctx_init(&g.ctx, rec, &clock, g.opt.correlation_cap) != SP_OK)
        return SP_ERR_NOMEM;
    g.ctx_ready = 1;
    /* windows in every mode: the only tie in lean mode, and a fallback for work whose launch was not
     * seen (a driver call with runtime-only callbacks); left untied where windows overlap */
    if (sp_gpu_ctx_use_windows(&g.ctx, 0) != SP_OK)
        return SP_ERR_NOMEM;
    memset(g.rt_names, 0, sizeof g.rt_names);
    memset(g.drv_names, 0, sizeof g.drv_names);

    CUpti_SubscriberParams sp;
    char other[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN + 1] = "";
    memset(&sp, 0, sizeof sp);
    sp.structSize = CUpti_SubscriberParams_STRUCT_SIZE;
    sp.subscriberName = "servprof";
    sp.oldSubscriberName = other;
    sp.oldSubscriberSize = CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN;
    r = cuptiSubscribe_v2(&g.sub, on_callback, NULL, &sp);
    if (r != CUPTI_SUCCESS) {
        g.sub = NULL;
        other[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN] = '\0';
        g.last.subscriber_conflict = r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED;
        snprintf(g.last.conflict_with, sizeof g.last.conflict_with, "%.63s", other);
        if (g.last.subscriber_conflict) {
            sp_log(SP_LOG_ERROR,
                   "servprof-cupti: another CUPTI subscriber is active (%s): Nsight, the PyTorch "
                   "profiler or another tracer holds CUPTI; GPU activity is NOT traced",
                   other[0] ? other : "name not reported");
            return SP_ERR_STATE;
        }
        sp_log(SP_LOG_ERROR, "servprof-cupti: cuptiSubscribe failed: %s; GPU activity is NOT traced",
               cupti_err(r));
        return SP_ERR_UNSUPPORTED;
    }
    g.nvtx_batch_name = SP_NAME_NONE;
    r = CUPTI_SUCCESS;
    if (g.opt.api_callbacks != SP_CUPTI_API_NONE)
        r = enable_launch_callbacks(CUPTI_CB_DOMAIN_RUNTIME_API, SP_RT_NAMES, g.rt_names);
    if (r == CUPTI_SUCCESS && g.opt.api_callbacks == SP_CUPTI_API_ALL)
        r = enable_launch_callbacks(CUPTI_CB_DOMAIN_DRIVER_API, SP_DRV_NAMES, g.drv_names);
    if (r == CUPTI_SUCCESS)
        r = cuptiEnableCallback(1, g.sub, CUPTI_CB_DOMAIN_NVTX, CUPTI_CBID_NVTX_nvtxRangePushA);
    if (r == CUPTI_SUCCESS)
        r = cuptiEnableCallback(1, g.sub, CUPTI_CB_DOMAIN_NVTX, CUPTI_CBID_NVTX_nvtxRangePushEx);
    if (r == CUPTI_SUCCESS)
        r = cuptiEnableCallback(1, g.sub, CUPTI_CB_DOMAIN_NVTX, CUPTI_CBID_NVTX_nvtxRangePop);
    if (r == CUPTI_SUCCESS)
        r = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
    for (size_t i = 0; r == CUPTI_SUCCESS && i < SP_NKINDS; i++) {
        if (sp_kinds[i] == CUPTI_ACTIVITY_KIND_SYNCHRONIZATION && !g.opt.record_syncs)
            continue; /* its records would be thrown away: do not make CUPTI trace the waits */
        r = cuptiActivityEnable(sp_kinds[i]);
        g.enabled[i] = r == CUPTI_SUCCESS;
    }
    if (r != CUPTI_SUCCESS) {
        disable_all();
        g.last.subscriber_conflict = r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED;
        sp_log(SP_LOG_ERROR, "servprof-cupti: enabling CUPTI activity failed: %s (another profiler "
               "may hold CUPTI); GPU activity is NOT traced", cupti_err(r));
        return g.last.subscriber_conflict ? SP_ERR_STATE : SP_ERR_UNSUPPORTED;
    }
    point_nvtx_at_cupti();
    g.last.clock_offset_ns = clock.offset_ns;
    g.last.clock_error_ns = clock.error_ns;
    /* release: callbacks that read running == 1 (acquire) see the ctx and names written above */
    atomic_store_explicit(&g.running, 1, memory_order_release);
    g.last.api_callbacks = g.opt.api_callbacks;
    static const char *const modes[] = {"runtime and driver launch callbacks",
                                        "runtime launch callbacks", "lean: no API callbacks"};
    sp_log(SP_LOG_INFO, "servprof-cupti: started (%s); clock offset %lld ns (+/- %llu ns)",
           modes[g.opt.api_callbacks], (long long)clock.offset_ns, (unsigned long long)clock.error_ns);
    return SP_OK;
}

SP_API sp_status sp_cupti_start(sp_recorder *rec, const sp_cupti_options *opt)
{
    if (!rec)
        return SP_ERR_INVALID;
    pthread_mutex_lock(&g.state_lock);
    sp_status st = atomic_load_explicit(&g.running, memory_order_relaxed) ? SP_ERR_STATE
                                                                           : start_locked(rec, opt);
    pthread_mutex_unlock(&g.state_lock);
    return st;
}

static void fill_counts(sp_cupti_stats *s)
{
    s->kernels = g.ctx.counts.kernels;
    s->copies = g.ctx.counts.copies;
    s->memsets = g.ctx.counts.memsets;
    s->syncs = g.ctx.counts.syncs;
    s->launches = __atomic_load_n(&g.ctx.counts.launches, __ATOMIC_RELAXED);
    s->attributed = g.ctx.counts.attributed;
    s->kernel_ns = g.ctx.counts.kernel_ns;
    s->cupti_dropped = g.ctx.counts.cupti_dropped;
    s->invalid = g.ctx.counts.invalid;
    s->correlation_evicted = sp_gpu_corrmap_evicted(&g.ctx.map);
    s->api_callbacks = g.opt.api_callbacks;
    if (g.ctx.windows.w) {
        pthread_mutex_lock(&g.ctx.windows.mu);
        s->window_tied = g.ctx.windows.tied;
        s->window_ambiguous = g.ctx.windows.ambiguous;
        s->window_unmatched = g.ctx.windows.unmatched;
        s->window_overlaps = g.ctx.windows.overlaps;
        pthread_mutex_unlock(&g.ctx.windows.mu);
    }
}

SP_API sp_status sp_cupti_stop(void)
{
    pthread_mutex_lock(&g.state_lock);
    if (!atomic_load_explicit(&g.running, memory_order_relaxed)) {
        pthread_mutex_unlock(&g.state_lock);
        return SP_ERR_STATE;
    }
    CUptiResult r = cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    if (r != CUPTI_SUCCESS)
        sp_log(SP_LOG_WARN, "servprof-cupti: cuptiActivityFlushAll: %s", cupti_err(r));
    disable_all();
    /* CUPTI may still deliver a last buffer from its worker during disable; flush once more. */
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    atomic_store_explicit(&g.running, 0, memory_order_relaxed);
    sp_gpu_clock end;
    pthread_mutex_lock(&g.ctx.lock);
    fill_counts(&g.last);
    pthread_mutex_unlock(&g.ctx.lock);
    if (measure_clock(&end) == SP_OK) {
        g.last.clock_drift_ns = end.offset_ns - g.last.clock_offset_ns;
        g.last.clock_stop_error_ns = end.error_ns;
    }
    sp_log(SP_LOG_INFO,
           "servprof-cupti: stopped; %llu kernels, %llu copies, %llu memsets, %llu launches, "
           "%llu dropped by CUPTI; clock drift %lld ns over the run (+/- %llu ns)",
           (unsigned long long)g.last.kernels, (unsigned long long)g.last.copies,
           (unsigned long long)g.last.memsets, (unsigned long long)g.last.launches,
           (unsigned long long)g.last.cupti_dropped, (long long)g.last.clock_drift_ns,
           (unsigned long long)(g.last.clock_error_ns + g.last.clock_stop_error_ns));
    /* The ctx is kept (not freed) so a straggling callback on another thread never touches freed
     * memory; the next start frees it. */
    pthread_mutex_unlock(&g.state_lock);
    return SP_OK;
}

SP_API void sp_cupti_get_stats(sp_cupti_stats *out)
{
    if (!out)
        return;
    pthread_mutex_lock(&g.state_lock);
    *out = g.last;
    if (atomic_load_explicit(&g.running, memory_order_relaxed)) {
        out->running = 1;
        pthread_mutex_lock(&g.ctx.lock);
        fill_counts(out);
        pthread_mutex_unlock(&g.ctx.lock);
    }
    pthread_mutex_unlock(&g.state_lock);
}
