/* Native records that contradict themselves or each other, as buggy instrumentation writes them
 * through the recording library (docs/recording.md, "Misuse and hard environments"): a stage span that
 * ends before it starts, a request id recorded twice with different lives, a batch with more effective
 * than padded tokens. Each is malformed (docs/native-format.md, "Records that contradict"): an error
 * naming the file and the record's byte offset, or under lenient skipped, counted in the file's
 * `skipped` and named in a warning, the rest of the trace as recorded. Before, the reader took them
 * silently: the reversed span vanished from the partition (its time became `other`), the later request
 * record replaced the earlier one, and the batch's padding waste was clamped to 0. The expected lines
 * are the valid records this test makes. */
#include "trace_testutil.h"

enum { CASE_STAGE_REVERSED, CASE_REQUEST_TWICE, CASE_TOKENS, CASE_REPEAT, CASE_COUNT };

/* The consistent trace every case starts from, and its lines. */
static void record_base(sp_recorder *rec)
{
    sp_record_request(rec, 1, 1000, 9000, 5);
    sp_record_stage(rec, 1, SP_STAGE_QUEUE, 1000, 3000);
    uint64_t members[1] = {1};
    sp_record_batch(rec, 7, members, 1, 3000, 8000, 5, 8);
}

static void want_base(tt_lines *want)
{
    tt_add(want, "R 1 1000 9000 5");
    tt_add(want, "S 1 queue 1000 3000");
    tt_add(want, "B 7 3000 8000 5 8 1");
}

static void record_case(const char *path, int c)
{
    sp_recorder *rec = NULL;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    record_base(rec);
    uint64_t members[1] = {1};
    switch (c) {
    case CASE_STAGE_REVERSED:
        sp_record_stage(rec, 1, SP_STAGE_POSTPROCESS, 9000, 8000);
        break;
    case CASE_REQUEST_TWICE:
        sp_record_request(rec, 1, 500, 20000, 5); /* another life for id 1 */
        break;
    case CASE_TOKENS:
        sp_record_batch(rec, 8, members, 1, 3000, 8000, 9, 8);
        break;
    case CASE_REPEAT:
        sp_record_request(rec, 1, 1000, 9000, 5); /* the same record again: harmless */
        break;
    }
    CHECK(sp_recorder_close(rec) == SP_OK);
}

/* The last warning the library logged (the lenient reader names what it skipped). */
static char last_warning[1024];
static void keep_warning(void *user, sp_log_level level, const char *message)
{
    (void)user;
    if (level == SP_LOG_WARN)
        snprintf(last_warning, sizeof last_warning, "%s", message);
}

static sp_status load(const char *path, int lenient, sp_events **out, char *err, size_t errlen)
{
    sp_load_options opt;
    sp_load_options_init(&opt);
    opt.lenient = lenient;
    if (sp_events_create(out) != SP_OK)
        exit(1);
    return sp_events_load_file(*out, path, &opt, err, errlen);
}

int main(void)
{
    static const char *const expect[CASE_COUNT] = {
        [CASE_STAGE_REVERSED] = "stage record ends before it starts",
        [CASE_REQUEST_TWICE] = "second request record for request \"1\" (id 1) with different times or tokens",
        [CASE_TOKENS] = "batch record with more effective tokens than padded tokens",
    };
    char path[256];
    tt_path(path, "contradict");
    sp_set_log(keep_warning, NULL);
    for (int c = 0; c < CASE_COUNT; c++) {
        record_case(path, c);
        char err[512] = "";
        sp_events *ev = NULL;
        sp_status st = load(path, 0, &ev, err, sizeof err);
        if (expect[c]) {
            CHECK(st == SP_ERR_PARSE);
            CHECK(strstr(err, path) != NULL);  /* names the file */
            CHECK(strstr(err, ": byte ") != NULL); /* and the record */
            CHECK(strstr(err, expect[c]) != NULL);
            if (!strstr(err, expect[c]))
                fprintf(stderr, "case %d: message \"%s\"\n", c, err);
            sp_events_destroy(ev);
            last_warning[0] = '\0';
            st = load(path, 1, &ev, err, sizeof err);
            /* the skipped record named, as the JSONL reader names a skipped line */
            CHECK(strstr(last_warning, "skipped malformed record: ") != NULL);
            CHECK(strstr(last_warning, path) != NULL);
            CHECK(strstr(last_warning, expect[c]) != NULL);
        }
        CHECK(st == SP_OK);
        if (st) {
            fprintf(stderr, "case %d: %s\n", c, err);
            sp_events_destroy(ev);
            continue;
        }
        CHECK_EQ_U64(ev->files[0].skipped, expect[c] ? 1 : 0);
        tt_lines got = {0}, want = {0};
        tt_lines_of(ev, &got);
        want_base(&want); /* lenient keeps the first request record and leaves the bad one out */
        tt_check_equal(&got, &want);
        tt_free(&got);
        tt_free(&want);
        sp_events_destroy(ev);
    }
    unlink(path);
    return sp_test_done("test_native_contradict");
}
