/* The trace file deleted while recording (the file, or the folder holding it, removed by a clean-up):
 * the writer notices at its next cycle, says so once (the log callback, sp_recorder_last_error),
 * stops writing to a file no one can read any more (so it no longer fills the disk unseen) and counts
 * later records as write_failed; flush and close return SP_ERR_IO. Before, recording went on into the
 * deleted file and flush and close returned SP_OK: every record after the deletion was lost without
 * a word. */
#include <sys/stat.h>

#include "trace_testutil.h"

static int g_logged;
static char g_msg[1024];

static void on_log(void *user, sp_log_level level, const char *message)
{
    (void)user;
    if (level == SP_LOG_ERROR && strstr(message, "deleted")) {
        g_logged++;
        snprintf(g_msg, sizeof g_msg, "%s", message);
    }
}

int main(void)
{
    sp_set_log(on_log, NULL);
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/servprof-deleted-%ld", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (long)getpid());
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(path, sizeof path, "%s/t.sptrace", dir);

    sp_recorder *rec = NULL;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    for (uint64_t i = 1; i <= 5; i++)
        sp_record_request(rec, i, 10 * i, 10 * i + 5, -1);
    CHECK(sp_recorder_flush(rec) == SP_OK);
    CHECK_EQ_U64(g_logged, 0);

    /* the folder goes, file and all */
    CHECK(unlink(path) == 0);
    CHECK(rmdir(dir) == 0);
    for (uint64_t i = 6; i <= 15; i++)
        sp_record_request(rec, i, 10 * i, 10 * i + 5, -1);
    CHECK(sp_recorder_flush(rec) == SP_ERR_IO);
    char err[640];
    sp_recorder_last_error(err, sizeof err);
    CHECK_MSG(strstr(err, path) && strstr(err, "was deleted while recording"), "last error: %s", err);
    CHECK_EQ_U64(g_logged, 1);
    CHECK_MSG(strncmp(g_msg, "servprof: ", 10) == 0, "logged: %s", g_msg);
    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(rec, d);
    CHECK_EQ_U64(d[SP_DROP_WRITE_FAILED], 10);

    /* recording goes on without blocking; said once */
    for (uint64_t i = 16; i <= 20; i++)
        sp_record_request(rec, i, 10 * i, 10 * i + 5, -1);
    CHECK(sp_recorder_close(rec) == SP_ERR_IO);
    CHECK_EQ_U64(g_logged, 1);
    sp_recorder_drops(rec, d);
    CHECK_EQ_U64(d[SP_DROP_WRITE_FAILED], 15);

    /* a new recorder at a path that exists again records as usual */
    tt_path(path, "deleted-again");
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_record_request(rec, 1, 10, 15, -1);
    CHECK(sp_recorder_close(rec) == SP_OK);
    sp_events *ev = tt_load(path);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.requests, 1);
    sp_events_destroy(ev);
    unlink(path);
    sp_set_log(NULL, NULL);
    return sp_test_done("test_trace_deleted");
}
