/* Drops are counted by cause, never block, and reach the trace: tiny buffers with a writer that does
 * not wake (buffer_full), records too large for a buffer (too_large), a thread over the thread cap
 * (no_buffer), a signal handler recording on a thread that is mid-record (reentrant), and records
 * after close (after_close). Expected counts are computed by hand from the buffer size. */
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "trace/trace_int.h"
#include "trace_testutil.h"

static sp_recorder *g_rec;
static int g_handler_calls;

static void on_signal(int sig)
{
    (void)sig;
    g_handler_calls++;
    sp_record_stage(g_rec, 777, SP_STAGE_QUEUE, 1, 2); /* re-enters the interrupted record */
}

static void raise_in_record(void)
{
    raise(SIGUSR1);
}

static void *second_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        sp_record_stage(g_rec, 1, SP_STAGE_QUEUE, 1, 2);
    return NULL;
}

int main(void)
{
    char path[256];
    tt_path(path, "drops");
    sp_recorder_options opt;
    sp_recorder_options_init(&opt);
    opt.thread_buffer_bytes = 1024;  /* 1024 / 32-byte stage records = 32 records fit */
    opt.flush_interval_ms = 600000;  /* the writer only drains on flush and close... */
    sp_trace_no_early_wake = true;   /* ...and not when the ring passes half full */
    opt.max_threads = 1;
    CHECK(sp_recorder_open(path, &opt, &g_rec) == SP_OK);
    /* the writer's first cycle runs as it starts: done here, before the ring fills, so that it cannot
     * drain the ring in the middle of the loop below (a slow thread start under ASan once let 32 more
     * records in); after it the writer sleeps for the whole flush interval */
    CHECK(sp_recorder_flush(g_rec) == SP_OK);

    /* buffer_full: 100 stage records, 32 fit, 68 dropped */
    for (uint64_t i = 0; i < 100; i++)
        sp_record_stage(g_rec, i, SP_STAGE_QUEUE, i, i + 1);
    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(g_rec, d);
    CHECK_EQ_U64(d[SP_DROP_BUFFER_FULL], 68);
    CHECK(sp_recorder_flush(g_rec) == SP_OK);
    /* after a flush the ring is empty again: 32 more fit */
    for (uint64_t i = 100; i < 140; i++)
        sp_record_stage(g_rec, i, SP_STAGE_QUEUE, i, i + 1);
    sp_recorder_drops(g_rec, d);
    CHECK_EQ_U64(d[SP_DROP_BUFFER_FULL], 68 + 8);
    CHECK(sp_recorder_flush(g_rec) == SP_OK);

    /* too_large: a batch of 4097 members (over the API's 4096), and one of 200 members whose record
     * (48 + 200 * 8 = 1648 bytes) exceeds the 1024-byte buffer */
    static uint64_t members[5000];
    sp_record_batch(g_rec, 1, members, 4097, 0, 1, 1, 1);
    sp_record_batch(g_rec, 2, members, 200, 0, 1, 1, 1);
    sp_recorder_drops(g_rec, d);
    CHECK_EQ_U64(d[SP_DROP_TOO_LARGE], 2);

    /* no_buffer: max_threads is 1 and this thread holds the one buffer */
    pthread_t th;
    pthread_create(&th, NULL, second_thread, NULL);
    pthread_join(th, NULL);
    sp_recorder_drops(g_rec, d);
    CHECK_EQ_U64(d[SP_DROP_NO_BUFFER], 5);

    /* reentrant: a signal delivered inside a record (through the test hook) records from its handler;
     * that inner record is dropped, the interrupted one is kept */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    sp_trace_busy_hook = raise_in_record;
    sp_record_stage(g_rec, 500, SP_STAGE_POSTPROCESS, 5, 6);
    sp_record_stage(g_rec, 501, SP_STAGE_POSTPROCESS, 5, 6);
    sp_trace_busy_hook = NULL;
    CHECK_EQ_U64(g_handler_calls, 2);
    sp_recorder_drops(g_rec, d);
    CHECK_EQ_U64(d[SP_DROP_REENTRANT], 2);

    /* counts added by a collector outside the library */
    sp_recorder_add_drops(g_rec, SP_DROP_BUFFER_FULL, 1000);
    sp_recorder_add_drops(g_rec, SP_DROP_CAUSE_COUNT, 5); /* out of range: ignored */
    CHECK(sp_recorder_close(g_rec) == SP_OK);

    /* after close: counted, and the recorder pointer stays safe to call */
    sp_record_stage(g_rec, 9, SP_STAGE_QUEUE, 1, 2);
    sp_record_request(g_rec, 9, 1, 2, 3);
    sp_recorder_drops(g_rec, d);
    CHECK_EQ_U64(d[SP_DROP_AFTER_CLOSE], 2);
    CHECK_EQ_U64(d[SP_DROP_BUFFER_FULL], 68 + 8 + 1000);

    /* the trace carries the final counts (taken at close, so not the after-close ones) */
    sp_events *ev = tt_load(path);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_BUFFER_FULL], 1076);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_TOO_LARGE], 2);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_NO_BUFFER], 5);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_REENTRANT], 2);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_AFTER_CLOSE], 0);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_WRITE_FAILED], 0);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.dropped, 1076 + 2 + 5 + 2);
    CHECK_EQ_U64(s.stage_spans, 32 + 32 + 2); /* what fit, twice, and the two interrupted records */
    sp_events_destroy(ev);
    unlink(path);

    /* write_failed: once the file may not grow (RLIMIT_FSIZE at its current size), the block of the
     * next flush fails: its 32 records are counted, and close reports the error */
    CHECK(sp_recorder_open(path, &opt, &g_rec) == SP_OK);
    CHECK(sp_recorder_flush(g_rec) == SP_OK); /* the writer's first cycle, as above */
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)sb.st_size;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    for (uint64_t i = 0; i < 32; i++)
        sp_record_stage(g_rec, i, SP_STAGE_QUEUE, i, i + 1);
    CHECK(sp_recorder_flush(g_rec) == SP_ERR_IO);
    sp_recorder_drops(g_rec, d);
    CHECK_EQ_U64(d[SP_DROP_WRITE_FAILED], 32);
    CHECK(sp_recorder_close(g_rec) == SP_ERR_IO);
    setrlimit(RLIMIT_FSIZE, &old);
    ev = tt_load(path); /* what made it to disk before the limit is still a valid trace */
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.stage_spans, 0);
    sp_events_destroy(ev);
    unlink(path);
    /* a file that cannot be created */
    CHECK(sp_recorder_open("/nonexistent-dir/x.sptrace", &opt, &g_rec) == SP_ERR_IO);
    CHECK(strcmp(sp_drop_cause_str(SP_DROP_BUFFER_FULL), "buffer_full") == 0);
    CHECK(strcmp(sp_drop_cause_str(SP_DROP_AFTER_CLOSE), "after_close") == 0);
    return sp_test_done("test_trace_drops");
}
