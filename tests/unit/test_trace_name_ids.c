/* A record that names a stage, kernel or launch by an id the recorder never interned is left out of
 * the file by the writer and counted as a too_large drop (shown in reports), and the rest of the
 * trace, records on either side of it in the same ring included, still loads. Before, one such
 * record (a stage recorded with the SP_NAME_NONE a failed sp_recorder_intern returns, a made-up id, or
 * an id kept from an earlier recorder) made every reader refuse the whole trace: "stage record uses a
 * stage name id that was never defined". The expected lines are the valid records this test makes. */
#include "trace_testutil.h"

int main(void)
{
    char path[256];
    tt_path(path, "name-ids");
    sp_recorder *rec = NULL;

    /* a first session interns names past the known stages, then closes: its ids are stale after */
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_name_id old_a = sp_recorder_intern(rec, "old-a"), old_b = sp_recorder_intern(rec, "old-b");
    CHECK(old_a > SP_STAGE_POSTPROCESS && old_b > old_a);
    CHECK(sp_recorder_close(rec) == SP_OK);

    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_name_id gemm = sp_recorder_intern(rec, "gemm"); /* the first new id: old_a's number again */
    CHECK_EQ_U64(gemm, old_a);
    sp_name_id failed = sp_recorder_intern(rec, ""); /* a failed intern: SP_NAME_NONE */
    CHECK_EQ_U64(failed, SP_NAME_NONE);

    sp_record_request(rec, 1, 100, 400, 3);
    sp_record_stage(rec, 1, SP_STAGE_QUEUE, 100, 150);             /* valid */
    sp_record_stage(rec, 1, gemm, 150, 200);                       /* valid: an interned name */
    sp_record_stage(rec, 1, failed, 200, 250);                     /* 1: SP_NAME_NONE as a stage */
    sp_record_stage(rec, 1, 9999, 250, 300);                       /* 2: never interned */
    sp_record_stage(rec, 1, old_b, 300, 350);                      /* 3: an earlier recorder's id */
    uint64_t members[1] = {1};
    sp_record_batch(rec, 7, members, 1, 150, 350, 3, 4);
    sp_kernel_record k = {.batch_id = 7, .name = gemm, .correlation = 5, .start_ns = 160, .end_ns = 340};
    sp_record_kernel(rec, &k);                                     /* valid */
    k.name = SP_NAME_NONE;
    k.correlation = 6;
    sp_record_kernel(rec, &k);                                     /* valid: a kernel may have no name */
    k.name = 4242;
    sp_record_kernel(rec, &k);                                     /* 4 */
    sp_record_launch(rec, gemm, 5, 155, 158);                      /* valid */
    sp_record_launch(rec, 4243, 6, 156, 159);                      /* 5 */

    CHECK(sp_recorder_flush(rec) == SP_OK); /* the writer counts them as it drains */
    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(rec, d);
    CHECK_EQ_U64(d[SP_DROP_TOO_LARGE], 5);
    CHECK_EQ_U64(d[SP_DROP_BUFFER_FULL] + d[SP_DROP_NO_BUFFER] + d[SP_DROP_AFTER_CLOSE], 0);
    CHECK(sp_recorder_close(rec) == SP_OK);

    sp_events *ev = tt_load(path); /* exits the test when the trace is refused */
    tt_lines got = {0}, want = {0};
    tt_lines_of(ev, &got);
    tt_add(&want, "R 1 100 400 3");
    tt_add(&want, "S 1 queue 100 150");
    tt_add(&want, "S 1 gemm 150 200");
    tt_add(&want, "B 7 150 350 3 4 1");
    tt_add(&want, "A 0 gemm 7 0 0 5 0 160 340");
    tt_add(&want, "A 0  7 0 0 6 0 160 340");
    tt_add(&want, "L gemm 5 155 158");
    tt_check_equal(&got, &want);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_TOO_LARGE], 5); /* written into the trace */
    sp_events_destroy(ev);
    tt_free(&got);
    tt_free(&want);
    unlink(path);
    return sp_test_done("test_trace_name_ids");
}
