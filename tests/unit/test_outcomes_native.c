/* Outcomes in the native format (DESIGN 8a, docs/native-format.md record 13): sp_record_outcome round
 * trips (a later record replaces an earlier one, an outcome out of range is a counted drop); a trace
 * the recorder did not close (its bytes taken after a flush, before close: what kill -9 leaves) makes
 * the requests its records name without a request record unfinished, from their first record to the
 * trace's last time, and leaves the batch in flight out, where the same records closed cleanly are
 * still an error; a malformed outcome record is refused with its byte offset, or skipped under
 * lenient. All times are the test's own, so every expected figure is hand-computed below. */
#include <sys/stat.h>

#include "format/native_format.h"
#include "trace_testutil.h"

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    struct stat sb;
    if (!fp || stat(path, &sb) != 0)
        exit(1);
    *n = (size_t)sb.st_size;
    unsigned char *f = malloc(*n ? *n : 1);
    if (!f || fread(f, 1, *n, fp) != *n)
        exit(1);
    fclose(fp);
    return f;
}

static sp_report *analyze_mem(const char *name, const unsigned char *data, size_t len, int lenient,
                              sp_status want, const char *want_err)
{
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    sp_load_options lo;
    sp_load_options_init(&lo);
    lo.lenient = lenient;
    char err[512] = "";
    sp_status st = sp_events_load_buffer(ev, name, data, len, &lo, err, sizeof err);
    sp_report *r = NULL;
    if (st == SP_OK) {
        sp_analyze_options ao;
        sp_analyze_options_init(&ao);
        ao.lenient = lenient;
        st = sp_analyze(ev, &ao, &r, err, sizeof err);
    }
    CHECK(st == want);
    if (want_err && !strstr(err, want_err)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, want_err);
        CHECK(0);
    }
    sp_events_destroy(ev);
    return st == SP_OK ? r : NULL;
}

/* Flips the outcome code of the first outcome record with code `from` to `to` and fixes its block's
 * checksum (docs/native-format.md: CRC-32 of header bytes 0..11, then the payload). Returns the
 * record's file offset, or 0 when there is none. */
static size_t patch_outcome(unsigned char *f, size_t n, uint32_t from, uint32_t to)
{
    size_t pos = SP_NATIVE_FILE_HEADER;
    while (pos + SP_NATIVE_BLOCK_HEADER <= n) {
        uint32_t len = sp_rd32(f + pos + 4);
        size_t end = pos + SP_NATIVE_BLOCK_HEADER + len;
        for (size_t p = pos + SP_NATIVE_BLOCK_HEADER; p < end;) {
            uint64_t h = sp_rd64(f + p);
            if ((h & 0xffff) == SP_REC_OUTCOME && (uint32_t)(h >> 32) == from) {
                sp_wr32(f + p + 4, to);
                uint32_t crc = sp_crc32(0, f + pos, 12);
                sp_wr32(f + pos + 12, sp_crc32(crc, f + pos + SP_NATIVE_BLOCK_HEADER, len));
                return p;
            }
            p += (h >> 16) & 0xffff;
        }
        pos = end;
    }
    return 0;
}

int main(void)
{
    char path[256];
    tt_path(path, "outcomes");
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_name_id gemm = sp_recorder_intern(rec, "gemm");
    /* request 1, ok: [1000, 5000], in batch 5 [2000, 4000] with a kernel */
    sp_record_request(rec, 1, 1000, 5000, 10);
    sp_record_stage(rec, 1, SP_STAGE_PREPROCESS, 1000, 2000);
    uint64_t m1[1] = {1};
    sp_record_batch(rec, 5, m1, 1, 2000, 4000, 10, 16);
    sp_kernel_record k5 = {5, gemm, 0, 0, 0, 2500, 3500};
    sp_record_kernel(rec, &k5);
    sp_record_stage(rec, 1, SP_STAGE_POSTPROCESS, 4000, 5000);
    /* request 2, rejected with 503: [1500, 1800] */
    sp_record_stage(rec, 2, SP_STAGE_PREPROCESS, 1500, 1800);
    sp_record_request(rec, 2, 1500, 1800, 4);
    sp_record_outcome(rec, 2, SP_OUTCOME_REJECTED, 503);
    /* request 3: an error 500, then cancelled (status 0): the later record counts */
    sp_record_request(rec, 3, 1600, 6000, -1);
    sp_record_outcome(rec, 3, SP_OUTCOME_ERROR, 500);
    sp_record_outcome(rec, 3, SP_OUTCOME_CANCELLED, 0);
    /* an outcome the format has no code for: dropped and counted, never written */
    sp_record_outcome(rec, 4, SP_OUTCOME_COUNT, 200);
    /* in flight when the process dies: request 10 queued [3200, 7000] into batch 8, whose kernel
     * [7000, 7500] was recorded but not the batch itself; request 11 only preprocessed */
    sp_record_stage(rec, 10, SP_STAGE_PREPROCESS, 3000, 3200);
    sp_record_stage(rec, 10, SP_STAGE_QUEUE, 3200, 7000);
    sp_kernel_record k8 = {8, gemm, 0, 0, 0, 7000, 7500};
    sp_record_kernel(rec, &k8);
    sp_record_stage(rec, 11, SP_STAGE_PREPROCESS, 6500, 6600);
    uint64_t drops[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(rec, drops);
    CHECK_EQ_U64(drops[SP_DROP_TOO_LARGE], 1);
    CHECK(sp_recorder_flush(rec) == SP_OK);
    size_t n_cut;
    unsigned char *cut = read_all(path, &n_cut); /* what kill -9 would leave: no end record */
    CHECK(sp_recorder_close(rec) == SP_OK);
    size_t n_clean;
    unsigned char *clean = read_all(path, &n_clean);
    unlink(path);
    CHECK(n_clean > n_cut);

    /* the cut trace analyses without lenient */
    sp_report *r = analyze_mem("killed.sptrace", cut, n_cut, 0, SP_OK, NULL);
    if (r) {
        CHECK_EQ_U64(r->requests_total, 5);
        CHECK_EQ_U64(r->request_count, 1);
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_OK].count, 1);
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_REJECTED].count, 1);
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_ERROR].count, 0);
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_CANCELLED].count, 1);
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_UNFINISHED].count, 2);
        CHECK_NEAR(r->rejection_rate, 0.2, 1e-12);
        /* the trace's last time is the in-flight kernel's end, 7500: request 10 ran from 3000 (its
         * first record) for 4500, request 11 from 6500 for 1000; nearest rank over {1000, 4500}:
         * p50 rank 1 -> 1000, p95 rank 2 -> 4500 */
        const sp_quantiles *u = &r->outcomes[SP_OUTCOME_UNFINISHED].latency;
        CHECK_EQ_U64(u->count, 2);
        CHECK_EQ_U64(u->p50_ns, 1000);
        CHECK_EQ_U64(u->p95_ns, 4500);
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_REJECTED].latency.max_ns, 300);
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_CANCELLED].latency.max_ns, 4400);
        /* the cancelled request's later record had status 0: only the 503 is listed */
        CHECK(r->n_statuses == 1 && r->statuses[0].status == 503 && r->statuses[0].count == 1);
        CHECK_EQ_U64(r->unfinished_batches, 1);
        CHECK_EQ_U64(r->unclean_files, 1);
        CHECK(r->file_quality && r->file_quality[0].loss.end == SP_TRACE_END_UNCLEAN &&
              r->file_quality[0].loss.regions == 0 && r->file_quality[0].loss.orphaned == 0);
        CHECK_EQ_U64(r->skipped_records, 0);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        CHECK(sp_report_write_text(r, f) == SP_OK);
        fclose(f);
        CHECK(strstr(buf, "the recorder did not close cleanly: killed.sptrace has no end record") != NULL);
        /* the drop counts are the last ones the cut trace kept, not necessarily the recorder's final */
        CHECK(strstr(buf, "dropped by the recorder up to its last count (") != NULL);
        CHECK(strstr(buf, "2 unfinished") != NULL);
        CHECK(strstr(buf, "1 batch in flight at the end left out") != NULL);
        free(buf);
        sp_report_destroy(r);
    }

    /* the same records closed cleanly: nothing says why 10 and 11 have no request record */
    r = analyze_mem("closed.sptrace", clean, n_clean, 0, SP_ERR_PARSE,
                    "closed.sptrace: request id \"10\" is referenced by a stage or batch but has no request record");
    sp_report_destroy(r);
    r = analyze_mem("closed.sptrace", clean, n_clean, 1, SP_OK, NULL);
    if (r) {
        /* lenient: 10, 11 and batch 8 skipped, not unfinished */
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_UNFINISHED].count, 0);
        CHECK_EQ_U64(r->requests_total, 3);
        CHECK_EQ_U64(r->skipped_records, 3);
        CHECK_EQ_U64(r->unclean_files, 0);
        CHECK_EQ_U64(r->drops[SP_DROP_TOO_LARGE].count, 1);
        sp_report_destroy(r);
    }

    /* a malformed outcome record (code 9): an error naming its byte, or skipped under lenient */
    size_t off = patch_outcome(cut, n_cut, SP_OUTCOME_REJECTED, 9);
    CHECK(off > 0);
    char want[128];
    snprintf(want, sizeof want, "killed.sptrace: byte %zu: malformed outcome record", off);
    r = analyze_mem("killed.sptrace", cut, n_cut, 0, SP_ERR_PARSE, want);
    sp_report_destroy(r);
    r = analyze_mem("killed.sptrace", cut, n_cut, 1, SP_OK, NULL);
    if (r) {
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_REJECTED].count, 0);
        CHECK_EQ_U64(r->outcomes[SP_OUTCOME_OK].count, 2); /* request 2 without its outcome */
        CHECK_EQ_U64(r->skipped_records, 1);
        sp_report_destroy(r);
    }
    free(cut);
    free(clean);
    return sp_test_done("test_outcomes_native");
}
