/* The recorder owns its trace file and says why when it cannot: a second process opening the same
 * path fails with a message naming the first one's pid and leaves its trace intact (it used to
 * truncate it); a pipe or device such as /dev/null is not locked; a missing folder is named; a full
 * disk (/dev/full) is reported as "No space left on device", through sp_recorder_last_error and the
 * log callback; and after the first failed write the recorder writes nothing more (the records are
 * counted as write_failed), even once the disk would take bytes again. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "trace_testutil.h"

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_log[4096];

static void on_log(void *user, sp_log_level level, const char *message)
{
    (void)user;
    pthread_mutex_lock(&g_log_mu);
    if (level == SP_LOG_ERROR && strlen(g_log) + strlen(message) + 2 < sizeof g_log) {
        strcat(g_log, message);
        strcat(g_log, "\n");
    }
    pthread_mutex_unlock(&g_log_mu);
}

static int log_has(const char *words)
{
    pthread_mutex_lock(&g_log_mu);
    int has = strstr(g_log, words) != NULL;
    g_log[0] = 0;
    pthread_mutex_unlock(&g_log_mu);
    return has;
}

static int last_error_has(const char *words)
{
    char buf[640];
    sp_recorder_last_error(buf, sizeof buf);
    if (!strstr(buf, words))
        fprintf(stderr, "last error '%s' does not say '%s'\n", buf, words);
    return strstr(buf, words) != NULL;
}

/* A child that opens `path`, records `n` requests, flushes, says so on `ready`, waits for a byte on
 * `go`, records `n` more and closes. Exits 0 when all of that succeeded. */
static pid_t recording_child(const char *path, int n, int ready, int go)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    sp_recorder *rec;
    int rc = 0;
    if (sp_recorder_open(path, NULL, &rec) != SP_OK)
        _exit(10);
    for (int i = 0; i < n; i++)
        sp_record_request(rec, (uint64_t)i, 1000, 2000, 1);
    if (sp_recorder_flush(rec) != SP_OK)
        rc = 11;
    char b = 1;
    if (write(ready, &b, 1) != 1 || read(go, &b, 1) != 1)
        rc = 12;
    for (int i = n; i < 2 * n; i++)
        sp_record_request(rec, (uint64_t)i, 1000, 2000, 1);
    if (sp_recorder_close(rec) != SP_OK)
        rc = 13;
    _exit(rc);
}

static void two_processes(void)
{
    char path[256];
    tt_path(path, "owner");
    int ready[2], go[2];
    CHECK(pipe(ready) == 0 && pipe(go) == 0);
    /* forked before this process starts any thread */
    pid_t child = recording_child(path, 100, ready[1], go[0]);
    char b;
    CHECK(read(ready[0], &b, 1) == 1);
    sp_recorder *rec = NULL;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_ERR_IO);
    CHECK(rec == NULL);
    char words[128];
    snprintf(words, sizeof words, "another process (pid %ld) is recording to it", (long)child);
    CHECK(last_error_has(words));
    CHECK(log_has(words));
    CHECK(write(go[1], &b, 1) == 1);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* the first process's trace is whole: all 200 requests */
    sp_events *ev = tt_load(path);
    CHECK_EQ_U64(ev->n_requests, 200);
    sp_events_destroy(ev);
    /* and the path is free again */
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    CHECK(sp_recorder_close(rec) == SP_OK);
    unlink(path);

    /* /dev/null is shared by design: no lock, so a second process records to it too */
    child = recording_child("/dev/null", 10, ready[1], go[0]);
    CHECK(read(ready[0], &b, 1) == 1);
    CHECK(sp_recorder_open("/dev/null", NULL, &rec) == SP_OK);
    CHECK(sp_recorder_close(rec) == SP_OK);
    CHECK(write(go[1], &b, 1) == 1);
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
}

/* The descriptor this process has open on `path` (the recorder's), or -1. */
static int fd_of(const char *path)
{
    char want[PATH_MAX], link[PATH_MAX], entry[300];
    if (!realpath(path, want))
        return -1;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;
    while (d && (e = readdir(d))) {
        snprintf(entry, sizeof entry, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(entry, link, sizeof link - 1);
        if (n > 0) {
            link[n] = 0;
            if (strcmp(link, want) == 0)
                found = atoi(e->d_name);
        }
    }
    if (d)
        closedir(d);
    return found;
}

static void full_disk(void)
{
    if (access("/dev/full", W_OK) != 0) {
        printf("no /dev/full: full-disk checks skipped\n");
        return;
    }
    /* the header cannot be written: open fails and says why */
    sp_recorder *rec = NULL;
    CHECK(sp_recorder_open("/dev/full", NULL, &rec) == SP_ERR_IO);
    CHECK(last_error_has("No space left on device"));
    CHECK(log_has("No space left on device"));

    /* the disk fills while recording: the recorder's descriptor is pointed at /dev/full */
    char path[256];
    tt_path(path, "full");
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    char none[640];
    CHECK(sp_recorder_last_error(none, sizeof none)[0] == 0); /* a fresh session: nothing failed */
    for (int i = 0; i < 10; i++)
        sp_record_request(rec, (uint64_t)i, 1000, 2000, 1);
    CHECK(sp_recorder_flush(rec) == SP_OK);
    int fd = fd_of(path);
    CHECK(fd >= 0);
    struct stat before;
    CHECK(stat(path, &before) == 0);
    int full = open("/dev/full", O_WRONLY);
    CHECK(fd >= 0 && full >= 0 && dup2(full, fd) == fd);
    for (int i = 10; i < 20; i++)
        sp_record_request(rec, (uint64_t)i, 1000, 2000, 1);
    CHECK(sp_recorder_flush(rec) == SP_ERR_IO);
    CHECK(last_error_has("No space left on device"));
    CHECK(log_has("No space left on device"));
    /* the disk takes bytes again; the recorder, having stopped at the first failure, writes none */
    int again = open(path, O_WRONLY | O_APPEND);
    CHECK(again >= 0 && dup2(again, fd) == fd);
    for (int i = 20; i < 30; i++)
        sp_record_request(rec, (uint64_t)i, 1000, 2000, 1);
    CHECK(sp_recorder_flush(rec) == SP_ERR_IO);
    uint64_t drops[SP_DROP_CAUSE_COUNT];
    CHECK(sp_recorder_close(rec) == SP_ERR_IO);
    sp_recorder_drops(rec, drops);
    CHECK_EQ_U64(drops[SP_DROP_WRITE_FAILED], 20);
    CHECK(last_error_has("No space left on device"));
    struct stat after;
    CHECK(stat(path, &after) == 0);
    CHECK_EQ_U64(after.st_size, before.st_size);
    /* what was written before the failure reads back */
    sp_events *ev = tt_load(path);
    CHECK_EQ_U64(ev->n_requests, 10);
    sp_events_destroy(ev);
    close(full);
    close(again);
    unlink(path);
}

int main(void)
{
    sp_set_log(on_log, NULL);
    two_processes();

    /* a missing folder is named */
    sp_recorder *rec = NULL;
    CHECK(sp_recorder_open("/nonexistent-servprof-dir/sub/t.sptrace", NULL, &rec) == SP_ERR_IO);
    CHECK(last_error_has("the folder /nonexistent-servprof-dir/sub does not exist"));
    CHECK(log_has("does not exist"));

    full_disk();
    sp_set_log(NULL, NULL);
    return sp_test_done("test_trace_owner");
}
