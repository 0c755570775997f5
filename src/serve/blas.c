/* OpenBLAS for the CPU model (encoder.c, gen_decoder.c), opened with dlopen when a model is built
 * rather than linked. Linked, it was loaded by every servprof command before main, `analyze` and
 * `--version` included: the dynamic linker's work on it and its constructor, which starts a thread
 * per further core, cost each start several ms (docs/BENCHMARKS.md, "Every command starts without
 * libcurl and OpenBLAS"). A table of pointers rather than a module like the CUDA backend: the model
 * makes a handful of sgemm calls per layer and needs nothing else, so one pointer (typed from cblas.h)
 * carries the whole dependency, and the model's code stays where it is. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "common/util_int.h"
#include "serve/blas_int.h"

/* The soname the build linked against before (CMake reads it from the library it finds). */
#ifndef SP_OPENBLAS_SONAME
#define SP_OPENBLAS_SONAME "libopenblas.so.0"
#endif

/* OpenBLAS's own thread count; declared here because only the pthread build's cblas.h has it. */
void openblas_set_num_threads(int num_threads);

__typeof__(cblas_sgemm) *sp_cblas_sgemm;
static __typeof__(openblas_set_num_threads) *set_threads;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static char blas_error[512];

static void blas_load(void)
{
    __typeof__(cblas_sgemm) *sgemm = NULL;
    const sp_dl_sym need[] = {{"cblas_sgemm", (void **)&sgemm}};
    void *h = sp_dl_open(SP_OPENBLAS_SONAME, "the CPU model", "OpenBLAS", "libopenblas0", need, 1, blas_error,
                         sizeof blas_error);
    if (!h)
        return;
    set_threads = (__typeof__(openblas_set_num_threads) *)dlsym(h, "openblas_set_num_threads");
    /* OpenBLAS's constructor has just started a thread per further core, and each spins on
     * sched_yield for about 0.1 s before it sleeps (docs/BENCHMARKS.md, "The native load's wall
     * time"); the service runs BLAS on one thread (sp_blas_set_threads(1)), which leaves them
     * spinning. blas_thread_shutdown_, which OpenBLAS's pthread builds export for their fork handler,
     * stops them; they start again if a multi-threaded call ever comes. Builds without it (OpenMP)
     * skip this. The CLI's main did this at start while OpenBLAS was linked. */
    int (*shutdown)(void) = (int (*)(void))dlsym(h, "blas_thread_shutdown_");
    if (shutdown)
        shutdown();
    sp_cblas_sgemm = sgemm;
}

sp_status sp_blas_open(char *err, size_t errlen)
{
    pthread_once(&blas_once, blas_load);
    if (sp_cblas_sgemm)
        return SP_OK;
    sp_errf(err, errlen, "%s", blas_error);
    return SP_ERR_UNSUPPORTED;
}

void sp_blas_set_threads(int n)
{
    if (set_threads)
        set_threads(n);
}
