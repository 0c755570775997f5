/* The writer thread cannot be started at open (a thread limit: RLIMIT_NPROC, a cgroup's pids.max):
 * sp_recorder_open returns SP_ERR_NOMEM and says why, once, through the log callback and
 * sp_recorder_last_error ("cannot record to PATH: cannot start the writer thread: ..."); the next
 * open, with threads to spare, records as usual. Before, the open failed without a word: the last
 * error was empty and nothing was logged. The test is linked with --wrap=pthread_create
 * (tests/CMakeLists.txt); the wrapper fails one call with EAGAIN, as pthread_create does at a limit. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "trace_testutil.h"

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);

static _Atomic int g_fail_next;

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    if (atomic_exchange(&g_fail_next, 0))
        return EAGAIN;
    return __real_pthread_create(t, a, fn, arg);
}

static int g_logged;
static char g_msg[1024];

static void on_log(void *user, sp_log_level level, const char *message)
{
    (void)user;
    if (level == SP_LOG_ERROR) {
        g_logged++;
        snprintf(g_msg, sizeof g_msg, "%s", message);
    }
}

int main(void)
{
    sp_set_log(on_log, NULL);
    char path[256];
    tt_path(path, "writer-start");
    sp_recorder *rec = NULL;
    atomic_store(&g_fail_next, 1);
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_ERR_NOMEM);
    CHECK(rec == NULL);
    char err[640];
    sp_recorder_last_error(err, sizeof err);
    CHECK_MSG(strstr(err, path) && strstr(err, "cannot start the writer thread") &&
                  strstr(err, strerror(EAGAIN)),
              "last error: %s", err);
    CHECK_EQ_U64(g_logged, 1);
    CHECK_MSG(strncmp(g_msg, "servprof: ", 10) == 0, "logged: %s", g_msg);
    sp_record_request(rec, 1, 10, 20, -1); /* the NULL recorder: nothing */

    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_recorder_last_error(err, sizeof err);
    CHECK_MSG(err[0] == 0, "last error after a good open: %s", err);
    sp_record_request(rec, 1, 10, 20, -1);
    CHECK(sp_recorder_close(rec) == SP_OK);
    sp_events *ev = tt_load(path);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.requests, 1);
    sp_events_destroy(ev);
    unlink(path);
    sp_set_log(NULL, NULL);
    return sp_test_done("test_trace_writer_start");
}
