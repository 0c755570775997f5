/* Threads that record once and exit (a thread per request or connection) hold their slots until the
 * writer retires their buffers. A thread whose first record finds every slot taken drops it as
 * no_buffer, wakes the writer (which retires the exited threads' buffers at once, not at its next
 * period), and records again once a slot is free. Before, such a thread dropped every record for the
 * rest of the recorder's life (a worker pool started after a burst of short threads recorded
 * nothing), and the slots waited for the writer's period: 2000 threads one after another, one alive
 * at a time, lost 90% of their records with 64 slots. The writer's period here is a minute, so only
 * the wake can make it run within the test's wait. */
#include <pthread.h>

#include "trace/recorder_int.h"
#include "trace_testutil.h"

static sp_recorder *g_rec;

static void *record_once(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    sp_record_request(g_rec, id, 10 * id, 10 * id + 5, -1);
    return NULL;
}

static uint64_t drops_of(sp_drop_cause c)
{
    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(g_rec, d);
    return d[c];
}

/* The long-lived thread: its first record finds no slot; once the woken writer has retired the
 * exited threads' buffers, its next records go in. */
static void *worker(void *arg)
{
    (void)arg;
    uint64_t cycles = atomic_load(&g_rec->writer_cycles);
    record_once((void *)(uintptr_t)100);
    CHECK_EQ_U64(drops_of(SP_DROP_NO_BUFFER), 1);
    /* the writer was woken: it runs a cycle well within 10 s although its period is 60 s */
    uint64_t until = sp_now_ns() + 10000000000ull;
    while (atomic_load(&g_rec->writer_cycles) == cycles && sp_now_ns() < until)
        usleep(1000);
    CHECK_MSG(atomic_load(&g_rec->writer_cycles) > cycles, "the writer was not woken");
    for (uint64_t id = 101; id <= 103; id++)
        record_once((void *)(uintptr_t)id);
    CHECK_EQ_U64(drops_of(SP_DROP_NO_BUFFER), 1);
    return NULL;
}

int main(void)
{
    char path[256];
    tt_path(path, "thread-churn");
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    o.max_threads = 4;
    o.thread_buffer_bytes = 64 << 10;
    o.flush_interval_ms = 60000;
    CHECK(sp_recorder_open(path, &o, &g_rec) == SP_OK);
    while (atomic_load(&g_rec->writer_cycles) == 0) /* its first cycle is over: it now sleeps a minute */
        usleep(1000);
    for (uintptr_t id = 1; id <= 4; id++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, record_once, (void *)id) == 0);
        pthread_join(t, NULL);
    }
    pthread_t w;
    CHECK(pthread_create(&w, NULL, worker, NULL) == 0);
    pthread_join(w, NULL);
    CHECK(sp_recorder_close(g_rec) == SP_OK);

    sp_events *ev = tt_load(path);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.requests, 7); /* 1..4 and 101..103 */
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_NO_BUFFER], 1);
    sp_events_destroy(ev);
    unlink(path);
    return sp_test_done("test_trace_thread_churn");
}
