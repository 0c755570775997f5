/* Threads that record and exit: their buffers are retired through the pthread key destructor, drained
 * by the writer and freed (AddressSanitizer's leak check fails the test otherwise), and their slots
 * are reused, so a thread cap of 4 serves 64 short-lived threads without a no_buffer drop. Threads
 * still alive at close, and threads that exit after close, must not leak either. */
#include <pthread.h>
#include <semaphore.h>

#include "trace_testutil.h"

static sp_recorder *g_rec;

static void *short_lived(void *arg)
{
    uint64_t base = (uint64_t)(intptr_t)arg * 1000;
    for (uint64_t i = 0; i < 100; i++)
        sp_record_stage(g_rec, base + i, SP_STAGE_PREPROCESS, i, i + 1);
    return NULL;
}

static sem_t g_recorded, g_closed;

static void *outlives_close(void *arg)
{
    (void)arg;
    sp_record_stage(g_rec, 424242, SP_STAGE_QUEUE, 1, 2);
    sem_post(&g_recorded);
    sem_wait(&g_closed);
    sp_record_stage(g_rec, 424243, SP_STAGE_QUEUE, 1, 2); /* after close: dropped, counted */
    return NULL;
}

int main(void)
{
    char path[256];
    tt_path(path, "exit");
    sp_recorder_options opt;
    sp_recorder_options_init(&opt);
    opt.max_threads = 4;
    opt.thread_buffer_bytes = 64 * 1024;
    CHECK(sp_recorder_open(path, &opt, &g_rec) == SP_OK);
    for (int wave = 0; wave < 16; wave++) {
        pthread_t th[4];
        for (int k = 0; k < 4; k++)
            pthread_create(&th[k], NULL, short_lived, (void *)(intptr_t)(wave * 4 + k));
        for (int k = 0; k < 4; k++)
            pthread_join(th[k], NULL);
        /* the threads' key destructors ran before join returned; a writer cycle frees their slots */
        CHECK(sp_recorder_flush(g_rec) == SP_OK);
    }
    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(g_rec, d);
    CHECK_EQ_U64(d[SP_DROP_NO_BUFFER], 0);
    CHECK_EQ_U64(d[SP_DROP_BUFFER_FULL], 0);

    sem_init(&g_recorded, 0, 0);
    sem_init(&g_closed, 0, 0);
    pthread_t late;
    pthread_create(&late, NULL, outlives_close, NULL);
    sem_wait(&g_recorded);
    CHECK(sp_recorder_close(g_rec) == SP_OK); /* the live thread's record is drained at close */
    sem_post(&g_closed);
    pthread_join(late, NULL); /* it exits after close: its buffer header is freed by its destructor */
    sp_recorder_drops(g_rec, d);
    CHECK_EQ_U64(d[SP_DROP_AFTER_CLOSE], 1);

    sp_events *ev = tt_load(path);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.stage_spans, 64 * 100 + 1);
    CHECK_EQ_U64(s.dropped, 0);
    sp_events_destroy(ev);

    /* a second recorder in the same process: threads' stale buffers from the first are replaced */
    CHECK(sp_recorder_open(path, &opt, &g_rec) == SP_OK);
    pthread_t th;
    pthread_create(&th, NULL, short_lived, (void *)(intptr_t)7);
    pthread_join(th, NULL);
    sp_record_stage(g_rec, 1, SP_STAGE_QUEUE, 1, 2);
    CHECK(sp_recorder_close(g_rec) == SP_OK);
    ev = tt_load(path);
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.stage_spans, 101);
    sp_events_destroy(ev);
    sem_destroy(&g_recorded);
    sem_destroy(&g_closed);
    unlink(path);
    return sp_test_done("test_trace_exit");
}
