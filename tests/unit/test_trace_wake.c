/* A ring passing half full wakes the writer at once, without waiting for the flush period: with a
 * 10-minute period, records filling just over half a 64 KiB ring reach the file (sizes by hand from
 * the 16-byte block header and 32-byte stage records). The file's size is observed by polling, with a bound, never
 * by sleeping a guessed time. */
#include <sched.h>
#include <sys/stat.h>
#include <time.h>

#include "format/native_format.h"
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

int main(void)
{
    char path[256];
    tt_path(path, "wake");
    sp_recorder_options opt;
    sp_recorder_options_init(&opt);
    opt.thread_buffer_bytes = 64 * 1024;
    opt.flush_interval_ms = 600000;
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, &opt, &rec) == SP_OK);
    /* after a flush the writer has finished its first cycles and sleeps for the period */
    CHECK(sp_recorder_flush(rec) == SP_OK);
    long long start = file_size(path); /* file header and the first block (meta, names) */
    CHECK(start > 0);

    /* 900 stage records = 28,800 bytes: under the 32 KiB mark, so nothing wakes the writer */
    for (uint64_t i = 0; i < 900; i++)
        sp_record_stage(rec, i, SP_STAGE_QUEUE, i, i + 1);
    CHECK_EQ_U64(file_size(path), start);

    /* 200 more: record 1025 is the first past the mark (1025 x 32 > 32,768), so its thread wakes the
     * writer, which drains what was published by then: one block of k records, 1024 <= k <= 1100 */
    for (uint64_t i = 900; i < 1100; i++)
        sp_record_stage(rec, i, SP_STAGE_QUEUE, i, i + 1);
    long long least = start + SP_NATIVE_BLOCK_HEADER + 1024 * SP_REC_SIZE_STAGE;
    double t0 = mono_s();
    while (file_size(path) < least && mono_s() - t0 < 20)
        sched_yield();
    long long got = file_size(path) - start - SP_NATIVE_BLOCK_HEADER;
    CHECK(got % SP_REC_SIZE_STAGE == 0);
    CHECK(got / SP_REC_SIZE_STAGE >= 1024 && got / SP_REC_SIZE_STAGE <= 1100);

    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(rec, d);
    CHECK_EQ_U64(d[SP_DROP_BUFFER_FULL], 0);
    CHECK(sp_recorder_close(rec) == SP_OK);
    remove(path);
    return sp_test_done("test_trace_wake");
}
