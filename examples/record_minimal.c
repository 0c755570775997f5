/* The smallest serving loop instrumented with libservprof: one thread receives requests, a batcher
 * groups them, a "model" runs each batch. It shows the calls a real stack makes (open, intern,
 * record request / stage / batch / kernel, close) through the SP_* macros, and writes a native trace
 * that `servprof analyze` reads. Built with -DSERVPROF_DISABLE every macro compiles to nothing: the
 * program then references no servprof symbol and writes no trace.
 * Build: cc -Iinclude examples/record_minimal.c -Lbuild -lservprof -o record_minimal */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "servprof/trace.h"

/* The stand-in work keeps its own clock, so it runs the same with recording compiled out. */
static uint64_t work_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void spin_ns(uint64_t ns)
{
    uint64_t end = work_clock_ns() + ns;
    while (work_clock_ns() < end)
        ;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "record_minimal.sptrace";
    sp_recorder *rec;
    sp_status st = SP_RECORDER_OPEN(path, NULL, &rec);
    if (st != SP_OK) {
        fprintf(stderr, "record_minimal: cannot record to %s (status %d)\n", path, (int)st);
        return 1;
    }
    sp_name_id gemm = SP_INTERN(rec, "gemm");
    (void)gemm; /* unused when recording is compiled out */
    enum { BATCH = 4, BATCHES = 50 };
    for (uint64_t b = 0; b < BATCHES; b++) {
        uint64_t ids[BATCH], arrival[BATCH], queued[BATCH];
        for (int i = 0; i < BATCH; i++) {
            ids[i] = b * BATCH + (uint64_t)i + 1;
            arrival[i] = SP_NOW();
            spin_ns(20000); /* parse + tokenise */
            queued[i] = SP_NOW();
            SP_STAGE(rec, ids[i], SP_STAGE_PREPROCESS, arrival[i], queued[i]);
        }
        uint64_t start = SP_NOW();
        for (int i = 0; i < BATCH; i++)
            SP_STAGE(rec, ids[i], SP_STAGE_QUEUE, queued[i], start);
        sp_kernel_record k = {b, gemm, 0, 0, 0, SP_NOW(), 0};
        spin_ns(200000); /* the model */
        k.end_ns = SP_NOW();
        SP_KERNEL(rec, &k);
        uint64_t end = SP_NOW();
        SP_BATCH(rec, b, ids, BATCH, start, end, 4 * 10, 4 * 16);
        /* responses are serialised one after another: each request's postprocess runs from the
         * batch's end (its output is ready) until its own response is sent */
        for (int i = 0; i < BATCH; i++) {
            spin_ns(10000); /* serialise the response */
            uint64_t done = SP_NOW();
            SP_STAGE(rec, ids[i], SP_STAGE_POSTPROCESS, end, done);
            SP_REQUEST(rec, ids[i], arrival[i], done, 10);
            (void)done;
        }
        (void)ids, (void)arrival, (void)queued, (void)start, (void)end, (void)k;
    }
    st = SP_RECORDER_CLOSE(rec);
    if (st != SP_OK) {
        fprintf(stderr, "record_minimal: closing %s failed (status %d)\n", path, (int)st);
        return 1;
    }
#ifdef SERVPROF_DISABLE
    printf("recording compiled out (SERVPROF_DISABLE): no trace written\n");
#else
    printf("wrote %s: servprof analyze %s\n", path, path);
#endif
    return 0;
}
