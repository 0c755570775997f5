/* A process that forks while recording: the child must not deadlock or write into the parent's file.
 * With on_fork_child = 0 the child records to "<path>.<pid>"; with 1 its records are dropped
 * (after_close) and no file appears. A thread keeps recording while the parent forks. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "trace_testutil.h"

static sp_recorder *g_rec;
static atomic_int g_stop;
static atomic_ulong g_bg_count;

static void *background(void *arg)
{
    (void)arg;
    uint64_t i = 0;
    while (!atomic_load(&g_stop)) {
        sp_record_stage(g_rec, 5000000 + i, SP_STAGE_QUEUE, i, i + 1);
        sp_recorder_intern(g_rec, "bg_name"); /* takes the names lock, racing the fork */
        i++;
        if (i % 64 == 0)
            sched_yield();
    }
    atomic_store(&g_bg_count, i);
    return NULL;
}

static int run_child(int mode, int n)
{
    sp_name_id nm = sp_recorder_intern(g_rec, "child_stage");
    if (nm == SP_NAME_NONE)
        return 10;
    for (int i = 0; i < n; i++)
        sp_record_stage(g_rec, 100000 + (uint64_t)i, nm, 1, 2);
    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(g_rec, d);
    if (mode == 1 && d[SP_DROP_AFTER_CLOSE] != (uint64_t)n)
        return 11;
    if (mode == 0 && d[SP_DROP_AFTER_CLOSE] != 0)
        return 12;
    if (sp_recorder_close(g_rec) != SP_OK)
        return 13;
    return 0;
}

static void one_mode(int mode)
{
    char path[256], child_path[300];
    tt_path(path, mode ? "fork1" : "fork0");
    sp_recorder_options opt;
    sp_recorder_options_init(&opt);
    opt.on_fork_child = mode;
    CHECK(sp_recorder_open(path, &opt, &g_rec) == SP_OK);
    atomic_store(&g_stop, 0);
    pthread_t th;
    pthread_create(&th, NULL, background, NULL);
    for (uint64_t i = 0; i < 100; i++)
        sp_record_request(g_rec, i, i, i + 10, 1);
    pid_t pids[4];
    for (int k = 0; k < 4; k++) {
        pids[k] = fork();
        if (pids[k] == 0)
            _exit(run_child(mode, 50 + k));
    }
    for (uint64_t i = 100; i < 200; i++)
        sp_record_request(g_rec, i, i, i + 10, 1);
    atomic_store(&g_stop, 1);
    pthread_join(th, NULL);
    for (int k = 0; k < 4; k++) {
        int status = 0;
        CHECK(waitpid(pids[k], &status, 0) == pids[k]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status))
            fprintf(stderr, "child %d: status %d\n", k, status);
        snprintf(child_path, sizeof child_path, "%s.%ld", path, (long)pids[k]);
        if (mode == 0) {
            /* the child's own trace: exactly its 50 + k stage records, none of the parent's */
            sp_events *ev = tt_load(child_path);
            sp_events_summary s;
            sp_events_summarize(ev, &s);
            CHECK_EQ_U64(s.stage_spans, 50 + (uint64_t)k);
            CHECK_EQ_U64(s.requests, 0);
            CHECK(ev->n_spans && strcmp(sp_str_get(&ev->strings, ev->spans[0].stage), "child_stage") == 0);
            sp_events_destroy(ev);
            unlink(child_path);
        } else {
            CHECK(access(child_path, F_OK) != 0);
        }
    }
    CHECK(sp_recorder_close(g_rec) == SP_OK);
    sp_events *ev = tt_load(path);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.requests, 200);
    CHECK_EQ_U64(s.stage_spans + s.dropped, atomic_load(&g_bg_count));
    CHECK(sp_str_find(&ev->strings, "child_stage", 11) == SP_EV_NONE);
    sp_events_destroy(ev);
    unlink(path);
}

int main(void)
{
    /* GCC 12's AddressSanitizer allocator has no fork handlers: a child forked while another thread
     * holds one of its size-class locks deadlocks in its first malloc (seen here about once in 20 runs
     * under load, in ASan's SizeClassAllocator64::GetFromAllocator). That is the sanitizer's limit,
     * not the recorder's (glibc's malloc is fork-safe), so the sanitized half of `make test` skips
     * this test and the plain half runs it. */
    if (getenv("SP_SANITIZED")) {
        printf("test_trace_fork: skipped under AddressSanitizer (its allocator is not fork-safe)\n");
        return 77;
    }
    one_mode(0);
    one_mode(1);
    /* a child that never records creates no file (mode 0) */
    char path[256], child_path[300];
    tt_path(path, "fork_idle");
    CHECK(sp_recorder_open(path, NULL, &g_rec) == SP_OK);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status;
    waitpid(pid, &status, 0);
    snprintf(child_path, sizeof child_path, "%s.%ld", path, (long)pid);
    CHECK(access(child_path, F_OK) != 0);
    CHECK(sp_recorder_close(g_rec) == SP_OK);
    unlink(path);
    return sp_test_done("test_trace_fork");
}
