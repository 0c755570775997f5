/* The smallest serving loop instrumented with libservprof: one thread receives requests, a batcher
 * groups them, a "model" runs each batch. It shows the calls a real stack makes (open, intern,
 * record request / stage / batch / kernel, close) and writes a native trace that `servprof analyze`
 * reads. Build: cc -Iinclude examples/record_minimal.c -Lbuild -lservprof -o record_minimal */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "servprof/trace.h"

static void spin_ns(uint64_t ns)
{
    uint64_t end = sp_now_ns() + ns;
    while (sp_now_ns() < end)
        ;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "record_minimal.sptrace";
    sp_recorder *rec;
    sp_status st = sp_recorder_open(path, NULL, &rec);
    if (st != SP_OK) {
        fprintf(stderr, "record_minimal: %s: %s\n", path, sp_status_str(st));
        return 1;
    }
    sp_name_id gemm = sp_recorder_intern(rec, "gemm");
    enum { BATCH = 4, BATCHES = 50 };
    for (uint64_t b = 0; b < BATCHES; b++) {
        uint64_t ids[BATCH], arrival[BATCH], queued[BATCH];
        for (int i = 0; i < BATCH; i++) {
            ids[i] = b * BATCH + (uint64_t)i + 1;
            arrival[i] = sp_now_ns();
            spin_ns(20000); /* parse + tokenise */
            queued[i] = sp_now_ns();
            sp_record_stage(rec, ids[i], SP_STAGE_PREPROCESS, arrival[i], queued[i]);
        }
        uint64_t start = sp_now_ns();
        for (int i = 0; i < BATCH; i++)
            sp_record_stage(rec, ids[i], SP_STAGE_QUEUE, queued[i], start);
        sp_kernel_record k = {b, gemm, 0, 0, 0, sp_now_ns(), 0};
        spin_ns(200000); /* the model */
        k.end_ns = sp_now_ns();
        sp_record_kernel(rec, &k);
        uint64_t end = sp_now_ns();
        sp_record_batch(rec, b, ids, BATCH, start, end, 4 * 10, 4 * 16);
        /* responses are serialised one after another: each request's postprocess runs from the
         * batch's end (its output is ready) until its own response is sent */
        for (int i = 0; i < BATCH; i++) {
            spin_ns(10000); /* serialise the response */
            uint64_t done = sp_now_ns();
            sp_record_stage(rec, ids[i], SP_STAGE_POSTPROCESS, end, done);
            sp_record_request(rec, ids[i], arrival[i], done, 10);
        }
    }
    st = sp_recorder_close(rec);
    if (st != SP_OK) {
        fprintf(stderr, "record_minimal: closing %s: %s\n", path, sp_status_str(st));
        return 1;
    }
    printf("wrote %s: servprof analyze %s\n", path, path);
    return 0;
}
