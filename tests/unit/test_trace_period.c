/* The writer's adaptive period (docs/recording.md, "When records reach the file"): the rule itself,
 * checked against sequences worked by hand from it, then a live recorder whose idle writer lengthens
 * its period to the longest one, whose flush still returns with every record in the file, and whose
 * resting writer is woken by a thread as soon as 1/16 of its ring waits (the wake at half a ring at
 * the base period is test_trace_wake's). Everything live is observed by polling with a bound,
 * never by sleeping a guessed time. */
#include <limits.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>

#include "format/native_format.h"
#include "trace/recorder_int.h"
#include "trace_testutil.h"

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The rule, by hand: the longest period is 8 x base capped at 1000 ms (a base above 1000 ms stays);
 * a cycle under 8/1024 of every ring doubles the period (to the longest at most), one at 16/1024 of a
 * ring or more halves it (to the base at least), between the two it stays, and an early wake goes
 * back to the base. */
static void check_rule(void)
{
    CHECK_EQ_U64(sp_rec_max_period(10), 80);
    CHECK_EQ_U64(sp_rec_max_period(1), 8);
    CHECK_EQ_U64(sp_rec_max_period(125), 1000);
    CHECK_EQ_U64(sp_rec_max_period(200), 1000);  /* 1600 capped */
    CHECK_EQ_U64(sp_rec_max_period(2000), 2000); /* a base above the cap is kept */
    CHECK_EQ_U64(sp_rec_max_period(UINT_MAX), UINT_MAX); /* no overflow */

    /* quiet from the start: 10, 20, 40, 80, then it stays at 80 */
    unsigned p = 10;
    const unsigned quiet[] = {20, 40, 80, 80};
    for (int i = 0; i < 4; i++) {
        p = sp_rec_next_period(p, 10, 0, false);
        CHECK_EQ_U64(p, quiet[i]);
    }
    CHECK_EQ_U64(sp_rec_next_period(80, 10, 7, false), 80);   /* 7 < 8: still quiet */
    CHECK_EQ_U64(sp_rec_next_period(40, 10, 7, false), 80);
    CHECK_EQ_U64(sp_rec_next_period(40, 10, 8, false), 40);   /* between: stays */
    CHECK_EQ_U64(sp_rec_next_period(40, 10, 15, false), 40);
    CHECK_EQ_U64(sp_rec_next_period(80, 10, 16, false), 40);  /* busy: halves */
    CHECK_EQ_U64(sp_rec_next_period(40, 10, 200, false), 20);
    CHECK_EQ_U64(sp_rec_next_period(20, 10, 200, false), 10);
    CHECK_EQ_U64(sp_rec_next_period(10, 10, 200, false), 10); /* never under the base */
    CHECK_EQ_U64(sp_rec_next_period(80, 10, 0, true), 10);    /* woken early: the base at once */
    CHECK_EQ_U64(sp_rec_next_period(80, 10, 15, true), 10);
    /* a base whose double passes the longest: 600 -> 1000, not 1200 */
    CHECK_EQ_U64(sp_rec_next_period(600, 200, 0, false), 1000);
    /* a base above the cap never moves */
    CHECK_EQ_U64(sp_rec_next_period(5000, 5000, 0, false), 5000);
}

int main(void)
{
    check_rule();

    char path[256];
    tt_path(path, "period");
    sp_recorder_options opt;
    sp_recorder_options_init(&opt);
    opt.thread_buffer_bytes = 64 * 1024;
    opt.flush_interval_ms = 10;
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, &opt, &rec) == SP_OK);

    /* nothing recorded: the period climbs to the longest, 80 ms (within 10 + 20 + 40 ms of cycles) */
    double t0 = mono_s();
    while (atomic_load_explicit(&rec->writer_period_ms, memory_order_relaxed) != 80 && mono_s() - t0 < 20)
        sched_yield();
    CHECK_EQ_U64(atomic_load_explicit(&rec->writer_period_ms, memory_order_relaxed), 80);

    /* a flush still returns with every record before it in the file: one block of 10 stage records */
    CHECK(sp_recorder_flush(rec) == SP_OK);
    long long start = file_size(path);
    for (uint64_t i = 0; i < 10; i++)
        sp_record_stage(rec, i, SP_STAGE_QUEUE, i, i + 1);
    CHECK(sp_recorder_flush(rec) == SP_OK);
    CHECK_EQ_U64(file_size(path), start + SP_NATIVE_BLOCK_HEADER + 10 * SP_REC_SIZE_STAGE);

    /* back to the longest period, then 200 stage records (6,400 bytes) pass 1/16 of the 64 KiB ring
     * (4,096 bytes: record 129 is the first past it) but not half of it: a resting writer is woken
     * by that, so it counts a sleep cut short, and the records reach the file */
    t0 = mono_s();
    while (atomic_load_explicit(&rec->writer_period_ms, memory_order_relaxed) != 80 && mono_s() - t0 < 20)
        sched_yield();
    CHECK_EQ_U64(atomic_load_explicit(&rec->writer_period_ms, memory_order_relaxed), 80);
    uint64_t early = atomic_load_explicit(&rec->writer_early, memory_order_relaxed);
    start = file_size(path);
    for (uint64_t i = 0; i < 200; i++)
        sp_record_stage(rec, i, SP_STAGE_QUEUE, i, i + 1);
    t0 = mono_s();
    while (atomic_load_explicit(&rec->writer_early, memory_order_relaxed) == early && mono_s() - t0 < 20)
        sched_yield();
    CHECK(atomic_load_explicit(&rec->writer_early, memory_order_relaxed) > early);
    long long least = start + SP_NATIVE_BLOCK_HEADER + 129 * SP_REC_SIZE_STAGE;
    t0 = mono_s();
    while (file_size(path) < least && mono_s() - t0 < 20)
        sched_yield();
    CHECK(file_size(path) >= least);

    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(rec, d);
    CHECK_EQ_U64(d[SP_DROP_BUFFER_FULL], 0);
    CHECK(sp_recorder_close(rec) == SP_OK);

    /* the file holds every record: 10 + 200 stage events */
    sp_events *ev = tt_load(path);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.stage_spans, 210);
    CHECK_EQ_U64(s.dropped, 0);
    sp_events_destroy(ev);
    remove(path);
    return sp_test_done("test_trace_period");
}
