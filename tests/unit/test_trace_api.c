/* The recorder's API contract: a NULL recorder is a no-op everywhere, one recorder at a time,
 * interning rules (same string same id, known stages are 1..3, limits), options defaults, and flush
 * making records visible in the file while the recorder stays open. */
#include "trace_testutil.h"

int main(void)
{
    /* NULL recorder: nothing happens, nothing crashes */
    sp_record_request(NULL, 1, 2, 3, 4);
    sp_record_request_label(NULL, 1, "x", 1);
    sp_record_stage(NULL, 1, SP_STAGE_QUEUE, 1, 2);
    uint64_t m[2] = {1, 2};
    sp_record_batch(NULL, 1, m, 2, 1, 2, 3, 4);
    sp_kernel_record kr = {0};
    sp_record_kernel(NULL, &kr);
    sp_copy_record cr = {0};
    sp_record_copy(NULL, &cr);
    sp_record_launch(NULL, 1, 2, 3, 4);
    sp_recorder_add_drops(NULL, SP_DROP_BUFFER_FULL, 5);
    CHECK(sp_recorder_intern(NULL, "x") == SP_NAME_NONE);
    CHECK(sp_recorder_close(NULL) == SP_OK);
    CHECK(sp_recorder_flush(NULL) == SP_OK);
    uint64_t d[SP_DROP_CAUSE_COUNT] = {1, 1, 1, 1, 1, 1};
    sp_recorder_drops(NULL, d);
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        CHECK_EQ_U64(d[c], 0);

    sp_recorder_options o;
    sp_recorder_options_init(&o);
    CHECK_EQ_U64(o.thread_buffer_bytes, 16u << 20); /* documented defaults (trace.h) */
    CHECK_EQ_U64(o.max_threads, 64);
    CHECK_EQ_U64(o.flush_interval_ms, 10);

    char path[256];
    tt_path(path, "api");
    sp_recorder *rec = NULL, *second = (sp_recorder *)0x1;
    CHECK(sp_recorder_open(path, NULL, NULL) == SP_ERR_INVALID);
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    CHECK(sp_recorder_open(path, NULL, &second) == SP_ERR_STATE);
    CHECK(second == (sp_recorder *)0x1); /* out-parameter untouched on failure */

    /* interning */
    CHECK_EQ_U64(sp_recorder_intern(rec, "preprocess"), SP_STAGE_PREPROCESS);
    CHECK_EQ_U64(sp_recorder_intern(rec, "queue"), SP_STAGE_QUEUE);
    CHECK_EQ_U64(sp_recorder_intern(rec, "postprocess"), SP_STAGE_POSTPROCESS);
    sp_name_id a = sp_recorder_intern(rec, "gemm"), b = sp_recorder_intern(rec, "softmax");
    CHECK(a > 3 && b > 3 && a != b);
    CHECK_EQ_U64(sp_recorder_intern(rec, "gemm"), a);
    CHECK(sp_recorder_intern(rec, "") == SP_NAME_NONE);
    CHECK(sp_recorder_intern(rec, NULL) == SP_NAME_NONE);
    static char longname[4097];
    memset(longname, 'k', 4096);
    CHECK(sp_recorder_intern(rec, longname) == SP_NAME_NONE); /* 4096 bytes: over the limit */
    longname[4095] = '\0';
    sp_name_id lng = sp_recorder_intern(rec, longname);      /* 4095 bytes: the longest allowed */
    CHECK(lng != SP_NAME_NONE);

    /* records become visible in the file on flush, before close */
    sp_record_request(rec, 1, 100, 200, -5);
    sp_record_request_label(rec, 1, "req-one", 7);
    static char longlabel[400];
    memset(longlabel, 'L', sizeof longlabel);
    sp_record_request(rec, 2, 100, 200, 7);
    sp_record_request_label(rec, 2, longlabel, sizeof longlabel); /* cut to 255 bytes */
    sp_record_stage(rec, 1, lng, 100, 150);
    sp_record_batch(rec, 3, NULL, 5, 1, 2, 3, 4); /* NULL members: a batch with none */
    CHECK(sp_recorder_flush(rec) == SP_OK);
    sp_events *ev = tt_load(path);
    tt_lines got = {0}, want = {0};
    tt_lines_of(ev, &got);
    char line[5000];
    tt_add(&want, "R req-one 100 200 -1");
    snprintf(line, sizeof line, "R %.255s 100 200 7", longlabel);
    tt_add(&want, line);
    snprintf(line, sizeof line, "S req-one %s 100 150", longname);
    tt_add(&want, line);
    tt_add(&want, "B 3 1 2 3 4");
    tt_check_equal(&got, &want);
    sp_events_destroy(ev);
    tt_free(&got);
    tt_free(&want);

    CHECK(sp_recorder_close(rec) == SP_OK);
    CHECK(sp_recorder_close(rec) == SP_ERR_STATE); /* once */
    CHECK(sp_recorder_flush(rec) == SP_ERR_STATE);
    CHECK(sp_recorder_intern(rec, "gemm") == SP_NAME_NONE);
    /* a file closed cleanly ends with the end record and loads the same */
    ev = tt_load(path);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.requests, 2);
    CHECK_EQ_U64(s.skipped, 0);
    sp_events_destroy(ev);
    unlink(path);
    return sp_test_done("test_trace_api");
}
