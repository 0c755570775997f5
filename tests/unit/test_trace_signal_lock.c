/* A signal handler that records, interrupting a thread inside a library call that holds one of the
 * recorder's locks (sp_recorder_drops, _flush, _metrics_text, _intern, _set_property), when that
 * record is the thread's first: the record is dropped as reentrant and the service goes on. Before,
 * the handler's first record took the recorder's lock to register the thread's buffer, a lock its own
 * thread held: the thread hung, and the writer with it, waiting on that lock.
 *
 * The test makes the interruption certain rather than likely: it is linked with
 * --wrap=pthread_mutex_lock (tests/CMakeLists.txt), and the wrapper raises SIGUSR1 right after the
 * armed lock is taken. A hang is caught by alarm(): the test is killed and fails. */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "trace/recorder_int.h"
#include "trace_testutil.h"

int __real_pthread_mutex_lock(pthread_mutex_t *m);

static pthread_mutex_t *_Atomic g_armed; /* the lock after whose taking the signal comes */
/* set on the calling thread only: the recorder's writer thread takes the same lock now and then, and
 * the signal raised there instead came too late for the caller's check (1 run in ~300 under load) */
static _Thread_local int t_caller;
static sp_recorder *g_rec;
static volatile sig_atomic_t g_handled;

int __wrap_pthread_mutex_lock(pthread_mutex_t *m);
int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
    int r = __real_pthread_mutex_lock(m);
    pthread_mutex_t *want = m;
    if (t_caller && atomic_compare_exchange_strong(&g_armed, &want, NULL))
        raise(SIGUSR1); /* to this thread, while it holds m */
    return r;
}

static void on_usr1(int sig)
{
    (void)sig;
    sp_record_request(g_rec, 1000 + (uint64_t)g_handled, 1, 2, -1);
    g_handled++;
}

enum { CALL_DROPS, CALL_FLUSH, CALL_METRICS, CALL_INTERN, CALL_PROPERTY, CALL_COUNT };
static const char *const call_name[CALL_COUNT] = {"drops", "flush", "metrics_text", "intern", "set_property"};

/* A fresh thread (no buffer yet) makes one library call with its lock armed. */
static void *caller(void *arg)
{
    int call = (int)(intptr_t)arg;
    t_caller = 1;
    atomic_store(&g_armed, call == CALL_INTERN || call == CALL_PROPERTY ? &g_rec->names_mu : &g_rec->mu);
    uint64_t d[SP_DROP_CAUSE_COUNT];
    char *text = NULL;
    size_t len;
    switch (call) {
    case CALL_DROPS: sp_recorder_drops(g_rec, d); break;
    case CALL_FLUSH: sp_recorder_flush(g_rec); break;
    case CALL_METRICS: CHECK(sp_recorder_metrics_text(g_rec, &text, &len) == SP_OK); break;
    case CALL_INTERN: sp_recorder_intern(g_rec, "a-name"); break;
    case CALL_PROPERTY: sp_recorder_set_property(g_rec, "service", "x"); break;
    }
    sp_metrics_text_free(text);
    CHECK(atomic_load(&g_armed) == NULL); /* the signal came */
    return NULL;
}

/* Runs the first `ncalls` calls, each on a fresh thread; returns the reentrant drops they caused. */
static uint64_t run_calls(int ncalls)
{
    uint64_t before[SP_DROP_CAUSE_COUNT], after[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(g_rec, before);
    for (int c = 0; c < ncalls; c++) {
        sig_atomic_t h = g_handled;
        pthread_t t;
        CHECK(pthread_create(&t, NULL, caller, (void *)(intptr_t)c) == 0);
        pthread_join(t, NULL);
        CHECK_MSG(g_handled == h + 1, "%s: the handler ran", call_name[c]);
    }
    sp_recorder_drops(g_rec, after);
    return after[SP_DROP_REENTRANT] - before[SP_DROP_REENTRANT];
}

int main(void)
{
    alarm(30); /* a hang fails the test (SIGALRM's default action) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);

    char path[256];
    tt_path(path, "signal-lock");
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    o.live_metrics = 1;
    CHECK(sp_recorder_open(path, &o, &g_rec) == SP_OK);
    /* every call's handler record is dropped as reentrant (the thread had no buffer) */
    CHECK_EQ_U64(run_calls(CALL_COUNT), CALL_COUNT);

    /* a forked child: its first record starts its own trace under both locks (the names are written
     * under names_mu), so a handler interrupting intern there must not wait either. set_property,
     * last, takes no lock in a child that has not recorded yet: left out */
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        uint64_t n = run_calls(CALL_PROPERTY);
        sp_record_request(g_rec, 1, 1, 2, -1); /* the child's trace starts: the recorder still works */
        uint64_t d[SP_DROP_CAUSE_COUNT];
        sp_recorder_drops(g_rec, d);
        int ok = n == CALL_PROPERTY && d[SP_DROP_AFTER_CLOSE] == 0 && sp_recorder_close(g_rec) == SP_OK;
        char child[300];
        snprintf(child, sizeof child, "%s.%ld", path, (long)getpid());
        unlink(child);
        _exit(ok ? 0 : 1);
    }
    int ws = 0;
    CHECK(pid > 0 && waitpid(pid, &ws, 0) == pid);
    CHECK_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "forked child: status %d", ws);

    /* the thread that records normally still does, and the trace loads */
    sp_record_request(g_rec, 1, 10, 20, -1);
    CHECK(sp_recorder_close(g_rec) == SP_OK);
    sp_events *ev = tt_load(path);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.requests, 1);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_REENTRANT], CALL_COUNT);
    sp_events_destroy(ev);
    unlink(path);
    return sp_test_done("test_trace_signal_lock");
}
