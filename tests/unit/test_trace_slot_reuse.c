/* A thread that registers its buffer into a slot while the writer is between taking the rings' heads
 * and draining them (the slot emptied by an exited thread's retire): the writer must leave that ring
 * to its next cycle. It used to drain it at once, with no happens-before edge to the new buffer (the
 * data race ThreadSanitizer reported in writer.c's drain) and up to the head it had kept for the
 * exited thread: unwritten ring bytes were read, the new ring's tail moved past its head, and every
 * later record of the new thread was lost without a drop being counted. The writer's test hook
 * (trace_int.h) opens the gap deterministically. Expected counts: the records each thread made. */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "trace/trace_int.h"
#include "trace_testutil.h"

#define FIRST 200 /* records of the thread that exits first */
#define SECOND 100 /* records of the thread that takes its slot */

static sp_recorder *g_rec;
static sem_t g_go, g_registered, g_more;
static atomic_int g_armed;

static void *first(void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < FIRST; i++)
        sp_record_stage(g_rec, i, SP_STAGE_PREPROCESS, 1000 * i, 1000 * i + 10);
    return NULL;
}

static void *second(void *arg)
{
    (void)arg;
    sem_wait(&g_go);
    sp_record_stage(g_rec, 100000, SP_STAGE_QUEUE, 1, 2); /* registers into the emptied slot */
    sem_post(&g_registered);
    sem_wait(&g_more);
    for (uint64_t i = 1; i < SECOND; i++)
        sp_record_stage(g_rec, 100000 + i, SP_STAGE_QUEUE, 1000 * i, 1000 * i + 5);
    return NULL;
}

/* On the writer thread, once: lets the second thread register and record while the writer waits. */
static void in_gap(void)
{
    if (!atomic_exchange(&g_armed, 0))
        return;
    sem_post(&g_go);
    sem_wait(&g_registered);
}

int main(void)
{
    char path[256];
    tt_path(path, "slot_reuse");
    sp_recorder_options opt;
    sp_recorder_options_init(&opt);
    opt.max_threads = 1;              /* one slot: the second thread must reuse the first's */
    opt.thread_buffer_bytes = 64 * 1024;
    opt.flush_interval_ms = 60000;    /* the writer runs on flush and close only ... */
    sp_trace_no_early_wake = true;    /* ... and not when a ring passes half full */
    sem_init(&g_go, 0, 0);
    sem_init(&g_registered, 0, 0);
    sem_init(&g_more, 0, 0);
    CHECK(sp_recorder_open(path, &opt, &g_rec) == SP_OK);

    pthread_t a, b;
    pthread_create(&a, NULL, first, NULL);
    pthread_join(a, NULL);
    CHECK(sp_recorder_flush(g_rec) == SP_OK); /* drains the exited thread's ring and empties its slot */

    sp_trace_writer_hook = in_gap;
    atomic_store(&g_armed, 1);
    pthread_create(&b, NULL, second, NULL);
    CHECK(sp_recorder_flush(g_rec) == SP_OK); /* the second thread registers inside this cycle */
    CHECK(atomic_load(&g_armed) == 0);
    sp_trace_writer_hook = NULL;
    sem_post(&g_more);
    pthread_join(b, NULL);

    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(g_rec, d);
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        CHECK_EQ_U64(d[c], 0);
    CHECK(sp_recorder_close(g_rec) == SP_OK);

    sp_events *ev = tt_load(path);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.stage_spans, FIRST + SECOND);
    CHECK_EQ_U64(s.dropped, 0);
    sp_events_destroy(ev);
    sem_destroy(&g_go);
    sem_destroy(&g_registered);
    sem_destroy(&g_more);
    unlink(path);
    return sp_test_done("test_trace_slot_reuse");
}
