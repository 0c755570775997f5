/* The injection entry of libservprof-cupti.so: CUDA calls InitializeInjection when the library is
 * named by CUDA_INJECTION64_PATH; it opens a recorder (libservprof.so, which this library links),
 * starts the collector (cupti.c) on it and writes the trace at exit (docs/gpu.md, "Two ways in"). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "servprof/cupti.h"

/* The recorder injection opened, and its file. */
static sp_recorder *g_own_rec;
static char g_trace_path[4096];

/* In injection mode this library stands in for the application, so its diagnostics go to stderr. */
static void stderr_log(void *user, sp_log_level level, const char *message)
{
    (void)user;
    if (level >= SP_LOG_INFO)
        fprintf(stderr, "%s\n", message);
}

static void injection_atexit(void)
{
    sp_cupti_stats s;
    sp_status st = sp_cupti_stop();
    sp_cupti_get_stats(&s);
    sp_status cst = sp_recorder_close(g_own_rec);
    g_own_rec = NULL;
    fprintf(stderr,
            "servprof-cupti: wrote %s: %llu kernels (%.3f ms summed), %llu copies, %llu memsets, %llu syncs, "
            "%llu launches (%llu batch-attributed), %llu dropped by CUPTI, clock offset %lld ns "
            "+/- %llu ns, drift %lld ns%s%s\n",
            g_trace_path, (unsigned long long)s.kernels, (double)s.kernel_ns / 1e6,
            (unsigned long long)s.copies,
            (unsigned long long)s.memsets, (unsigned long long)s.syncs,
            (unsigned long long)s.launches, (unsigned long long)s.attributed,
            (unsigned long long)s.cupti_dropped, (long long)s.clock_offset_ns,
            (unsigned long long)s.clock_error_ns, (long long)s.clock_drift_ns,
            st != SP_OK ? " (collector was not running)" : "",
            cst != SP_OK ? " (WRITE FAILED)" : "");
}

SP_API int InitializeInjection(void)
{
    static atomic_int once;
    /* relaxed: only one caller may win; nothing else is published through the flag */
    if (atomic_exchange_explicit(&once, 1, memory_order_relaxed))
        return 1;
    sp_set_log(stderr_log, NULL);
    const char *env = getenv("SERVPROF_TRACE");
    if (env && *env)
        snprintf(g_trace_path, sizeof g_trace_path, "%s", env);
    else
        snprintf(g_trace_path, sizeof g_trace_path, "servprof-%ld.sptrace", (long)getpid());
    sp_recorder *rec = NULL;
    sp_status st = sp_recorder_open(g_trace_path, NULL, &rec);
    if (st != SP_OK) {
        fprintf(stderr, "servprof-cupti: cannot open trace %s: %s; this process runs untraced\n",
                g_trace_path, sp_status_str(st));
        return 1;
    }
    sp_cupti_options opt;
    sp_cupti_options_init(&opt);
    opt.record_nvtx_batches = 1; /* an unmodified process records no batches of its own */
    st = sp_cupti_start(rec, &opt);
    if (st != SP_OK) {
        sp_cupti_stats s;
        sp_cupti_get_stats(&s);
        sp_recorder_close(rec);
        unlink(g_trace_path); /* an empty trace would read as "no GPU work" */
        fprintf(stderr, "servprof-cupti: %s; this process runs UNTRACED (no trace written)\n",
                s.subscriber_conflict ? "another CUPTI subscriber (Nsight, the PyTorch profiler, ...) "
                                        "is active"
                                      : sp_status_str(st));
        return 1;
    }
    g_own_rec = rec;
    atexit(injection_atexit);
    fprintf(stderr, "servprof-cupti: tracing this process's GPU activity to %s\n", g_trace_path);
    return 1;
}
