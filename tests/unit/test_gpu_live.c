/* GPU collector on a real GPU: loads libservprof-cupti.so and the CUDA driver at run time (so this
 * binary runs, and skips with 77, on machines with neither), runs a few kernels, copies and a memset
 * through the driver API, some inside a batch window, and checks the trace read back: counts,
 * kinds, bytes, batch attribution, and that device times sit inside the host-side bracket of the
 * work (clock alignment), printing the measured offset, error bound and drift. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/events_int.h"
#include "servprof/cupti.h"
#include "testlib.h"

#define SKIP(...)                                                                          \
    do {                                                                                   \
        fprintf(stderr, "test_gpu_live: SKIP: " __VA_ARGS__);                              \
        fprintf(stderr, "\n");                                                             \
        exit(77);                                                                          \
    } while (0)

/* The few driver API entry points used, declared here so no CUDA header is needed. */
typedef int cu_result;
typedef unsigned long long cu_ptr;
static struct {
    cu_result (*Init)(unsigned);
    cu_result (*DeviceGetCount)(int *);
    cu_result (*DeviceGet)(int *, int);
    cu_result (*DevicePrimaryCtxRetain)(void **, int);
    cu_result (*DevicePrimaryCtxRelease)(int);
    cu_result (*CtxSetCurrent)(void *);
    cu_result (*CtxSynchronize)(void);
    cu_result (*MemAlloc)(cu_ptr *, size_t);
    cu_result (*MemFree)(cu_ptr);
    cu_result (*MemcpyHtoD)(cu_ptr, const void *, size_t);
    cu_result (*MemcpyDtoH)(void *, cu_ptr, size_t);
    cu_result (*MemsetD8)(cu_ptr, unsigned char, size_t);
    cu_result (*ModuleLoadData)(void **, const void *);
    cu_result (*ModuleGetFunction)(void **, void *, const char *);
    cu_result (*LaunchKernel)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                              unsigned, void *, void **, void **);
} cu;

/* out[i] = i for 256 threads: a real kernel with a device-side effect the test can check. */
static const char ptx[] =
    ".version 8.0\n.target sm_75\n.address_size 64\n"
    ".visible .entry sp_fill(.param .u64 out)\n{\n"
    "  .reg .b32 %r<2>;\n  .reg .b64 %rd<4>;\n"
    "  ld.param.u64 %rd1, [out];\n  cvta.to.global.u64 %rd2, %rd1;\n"
    "  mov.u32 %r1, %tid.x;\n  mul.wide.u32 %rd3, %r1, 4;\n  add.s64 %rd2, %rd2, %rd3;\n"
    "  st.global.u32 [%rd2], %r1;\n  ret;\n}\n";

#define CU(call)                                                                           \
    do {                                                                                   \
        cu_result r_ = (call);                                                             \
        if (r_ != 0) {                                                                     \
            fprintf(stderr, "test_gpu_live: %s failed: CUDA error %d\n", #call, r_);       \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static void *sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "test_gpu_live: missing symbol %s\n", name);
        exit(1);
    }
    return p;
}

int main(void)
{
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!drv)
        SKIP("no CUDA driver (libcuda.so.1: %s)", dlerror());
    *(void **)&cu.Init = sym(drv, "cuInit");
    *(void **)&cu.DeviceGetCount = sym(drv, "cuDeviceGetCount");
    int ndev = 0;
    if (cu.Init(0) != 0 || cu.DeviceGetCount(&ndev) != 0 || ndev == 0)
        SKIP("the CUDA driver reports no usable GPU");
    char libpath[4096];
    snprintf(libpath, sizeof libpath, "%s/libservprof-cupti.so", SP_BUILD_DIR);
    void *lib = dlopen(libpath, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        SKIP("collector not built (%s): configure with the CUDA toolkit", dlerror());

    *(void **)&cu.DeviceGet = sym(drv, "cuDeviceGet");
    *(void **)&cu.DevicePrimaryCtxRetain = sym(drv, "cuDevicePrimaryCtxRetain");
    *(void **)&cu.DevicePrimaryCtxRelease = sym(drv, "cuDevicePrimaryCtxRelease_v2");
    *(void **)&cu.CtxSetCurrent = sym(drv, "cuCtxSetCurrent");
    *(void **)&cu.CtxSynchronize = sym(drv, "cuCtxSynchronize");
    *(void **)&cu.MemAlloc = sym(drv, "cuMemAlloc_v2");
    *(void **)&cu.MemFree = sym(drv, "cuMemFree_v2");
    *(void **)&cu.MemcpyHtoD = sym(drv, "cuMemcpyHtoD_v2");
    *(void **)&cu.MemcpyDtoH = sym(drv, "cuMemcpyDtoH_v2");
    *(void **)&cu.MemsetD8 = sym(drv, "cuMemsetD8_v2");
    *(void **)&cu.ModuleLoadData = sym(drv, "cuModuleLoadData");
    *(void **)&cu.ModuleGetFunction = sym(drv, "cuModuleGetFunction");
    *(void **)&cu.LaunchKernel = sym(drv, "cuLaunchKernel");

    /* The recorder the collector records into: libservprof.so, which it links (dlsym on the
     * collector's handle searches its dependencies too); not this binary's static copy. */
    sp_status (*rec_open)(const char *, const sp_recorder_options *, sp_recorder **) =
        (sp_status(*)(const char *, const sp_recorder_options *, sp_recorder **))sym(lib, "sp_recorder_open");
    sp_status (*rec_close)(sp_recorder *) = (sp_status(*)(sp_recorder *))sym(lib, "sp_recorder_close");
    void (*rec_batch)(sp_recorder *, uint64_t, const uint64_t *, size_t, uint64_t, uint64_t, uint64_t,
                      uint64_t) = (void (*)(sp_recorder *, uint64_t, const uint64_t *, size_t, uint64_t,
                                            uint64_t, uint64_t, uint64_t))sym(lib, "sp_record_batch");
    uint64_t (*now)(void) = (uint64_t(*)(void))sym(lib, "sp_now_ns");
    sp_status (*start)(sp_recorder *, const sp_cupti_options *) =
        (sp_status(*)(sp_recorder *, const sp_cupti_options *))sym(lib, "sp_cupti_start");
    sp_status (*stop)(void) = (sp_status(*)(void))sym(lib, "sp_cupti_stop");
    void (*bbegin)(uint64_t) = (void (*)(uint64_t))sym(lib, "sp_cupti_batch_begin");
    void (*bend)(void) = (void (*)(void))sym(lib, "sp_cupti_batch_end");
    void (*stats)(sp_cupti_stats *) = (void (*)(sp_cupti_stats *))sym(lib, "sp_cupti_get_stats");

    char path[] = "/tmp/sp_gpu_live_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    sp_recorder *rec = NULL;
    CHECK(rec_open(path, NULL, &rec) == SP_OK);
    /* Another CUPTI subscriber first (as Nsight or the PyTorch profiler would be): the collector
     * must refuse, say why, and leave CUDA usable; then it starts once the other one is gone. */
    void *cupti = dlopen("libcupti.so.13", RTLD_NOW | RTLD_NOLOAD);
    if (!cupti)
        cupti = dlopen("libcupti.so", RTLD_NOW | RTLD_NOLOAD);
    CHECK(cupti != NULL);
    if (cupti) {
        int (*subscribe)(void **, void *, void *) = (int (*)(void **, void *, void *))sym(cupti, "cuptiSubscribe");
        int (*unsubscribe)(void *) = (int (*)(void *))sym(cupti, "cuptiUnsubscribe");
        void *other = NULL;
        if (subscribe(&other, NULL, NULL) == 0) {
            sp_cupti_stats cs;
            CHECK(start(rec, NULL) == SP_ERR_STATE);
            stats(&cs);
            CHECK(cs.subscriber_conflict == 1 && cs.running == 0);
            printf("conflict: refused as expected (other subscriber: \"%s\")\n", cs.conflict_with);
            CHECK(unsubscribe(other) == 0);
        } else {
            fprintf(stderr, "test_gpu_live: note: could not subscribe a rival; conflict path untested\n");
        }
    }
    sp_status st = start(rec, NULL);
    if (st == SP_ERR_STATE) {
        sp_cupti_stats s;
        stats(&s);
        rec_close(rec);
        unlink(path);
        if (s.subscriber_conflict)
            SKIP("another CUPTI subscriber is active (%s)", s.conflict_with);
    }
    CHECK(st == SP_OK);
    CHECK(start(rec, NULL) == SP_ERR_STATE); /* one collector at a time */

    int dev = 0;
    void *ctx = NULL, *mod = NULL, *fn = NULL;
    CU(cu.DeviceGet(&dev, 0));
    CU(cu.DevicePrimaryCtxRetain(&ctx, dev));
    CU(cu.CtxSetCurrent(ctx));
    CU(cu.ModuleLoadData(&mod, ptx));
    CU(cu.ModuleGetFunction(&fn, mod, "sp_fill"));
    const size_t bytes = 1 << 20;
    unsigned *host = calloc(bytes, 1);
    cu_ptr d = 0;
    CU(cu.MemAlloc(&d, bytes));
    CU(cu.CtxSynchronize());

    uint64_t t0 = now();
    bbegin(42);
    CU(cu.MemcpyHtoD(d, host, bytes));
    CU(cu.MemsetD8(d, 0, 4096));
    void *args[] = {&d};
    for (int i = 0; i < 5; i++)
        CU(cu.LaunchKernel(fn, 1, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    CU(cu.CtxSynchronize());
    uint64_t t_batch_end = now();
    bend();
    rec_batch(rec, 42, NULL, 0, t0, t_batch_end, 0, 0);
    for (int i = 0; i < 5; i++)
        CU(cu.LaunchKernel(fn, 1, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    CU(cu.MemcpyDtoH(host, d, bytes));
    uint64_t t1 = now();
    CHECK(host[0] == 0 && host[255] == 255); /* the kernel really ran */

    CHECK(stop() == SP_OK);
    sp_cupti_stats s;
    stats(&s);
    CHECK(rec_close(rec) == SP_OK);
    CU(cu.MemFree(d));
    CU(cu.DevicePrimaryCtxRelease(dev));
    free(host);

    printf("collector: %llu kernels, %llu copies, %llu memsets, %llu launches, %llu attributed, "
           "%llu dropped by CUPTI\n",
           (unsigned long long)s.kernels, (unsigned long long)s.copies, (unsigned long long)s.memsets,
           (unsigned long long)s.launches, (unsigned long long)s.attributed,
           (unsigned long long)s.cupti_dropped);
    printf("clock: offset %lld ns, error bound +/- %llu ns, drift over the run %lld ns "
           "(stop error +/- %llu ns)\n",
           (long long)s.clock_offset_ns, (unsigned long long)s.clock_error_ns,
           (long long)s.clock_drift_ns, (unsigned long long)s.clock_stop_error_ns);
    CHECK_EQ_U64(s.kernels, 10);
    CHECK_EQ_U64(s.copies, 2);
    CHECK_EQ_U64(s.memsets, 1);
    CHECK_EQ_U64(s.cupti_dropped, 0);

    sp_events *ev = NULL;
    char err[512] = "";
    CHECK(sp_events_create(&ev) == SP_OK);
    st = sp_events_load_file(ev, path, NULL, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "load: %s\n", err);
    CHECK(st == SP_OK);
    unlink(path);
    sp_events_summary sum;
    sp_events_summarize(ev, &sum);
    CHECK_EQ_U64(sum.kernels, 10);
    CHECK_EQ_U64(sum.copies, 3);
    CHECK(sum.launches >= 13); /* 10 cuLaunchKernel + 2 memcpy + 1 memset, plus syncs */

    size_t in_batch = 0, h2d = 0, d2h = 0, memset_n = 0;
    uint64_t slack = (uint64_t)s.clock_error_ns + (uint64_t)llabs(s.clock_drift_ns);
    int64_t min_delay = INT64_MAX;
    size_t outside = 0;
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *a = &ev->acts[i];
        if (a->kind == SP_ACT_SYNC)
            continue;
        if (a->batch != SP_EV_NONE && ev->batches[a->batch].id == 42)
            in_batch++;
        h2d += a->kind == SP_ACT_H2D && sp_ev_act_bytes(a) == bytes;
        d2h += a->kind == SP_ACT_D2H && sp_ev_act_bytes(a) == bytes;
        memset_n += a->kind == SP_ACT_MEMSET && sp_ev_act_bytes(a) == 4096;
        /* Device work happens after t0 and before t1 on the host clock: alignment within bounds. */
        if (a->start_ns + slack < t0 || a->end_ns > t1 + slack)
            outside++;
        for (size_t j = 0; j < ev->n_launches; j++)
            if (ev->launches[j].correlation == a->correlation && a->kind == SP_ACT_KERNEL) {
                int64_t delay = (int64_t)(a->start_ns - ev->launches[j].start_ns);
                if (delay < min_delay)
                    min_delay = delay;
            }
    }
    printf("alignment: %zu of %zu device records outside the host bracket; smallest "
           "(kernel start - launch call start) = %lld ns (must be > -%llu)\n",
           outside, ev->n_acts, (long long)min_delay, (unsigned long long)slack);
    CHECK_EQ_U64(outside, 0);
    CHECK(min_delay != INT64_MAX && min_delay + (int64_t)slack >= 0);
    CHECK_EQ_U64(in_batch, 7); /* h2d, memset, 5 kernels */
    CHECK_EQ_U64(h2d, 1);
    CHECK_EQ_U64(d2h, 1);
    CHECK_EQ_U64(memset_n, 1);
    sp_events_destroy(ev);
    return sp_test_done("test_gpu_live");
}
