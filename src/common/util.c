/* The library's process-wide pieces: version, status strings, the clock and the log callback. One
 * copy per process, in libservprof; add-ons reach the callback through sp_get_log (log_forward.c).
 * The state-free helpers are in helpers.c. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common/util_int.h"

static sp_log_fn g_log_fn;
static void *g_log_user;

const char *sp_version(void)
{
    return SP_VERSION_STRING;
}

unsigned sp_version_number(void)
{
    return SP_VERSION_NUMBER;
}

const char *sp_status_str(sp_status status)
{
    switch (status) {
    case SP_OK: return "ok";
    case SP_ERR_NOMEM: return "out of memory";
    case SP_ERR_IO: return "input/output error";
    case SP_ERR_PARSE: return "malformed input";
    case SP_ERR_FORMAT: return "unrecognised or unsupported format";
    case SP_ERR_INVALID: return "invalid argument";
    case SP_ERR_STATE: return "not allowed in the current state";
    case SP_ERR_UNSUPPORTED: return "not supported in this build or on this machine";
    case SP_ERR_LIMIT: return "input exceeds a limit";
    }
    return "unknown status";
}

void sp_set_log(sp_log_fn fn, void *user)
{
    g_log_fn = fn;
    g_log_user = user;
}

void sp_get_log(sp_log_fn *fn, void **user)
{
    if (fn)
        *fn = g_log_fn;
    if (user)
        *user = g_log_user;
}

uint64_t sp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sp_log(sp_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sp_log_to(g_log_fn, g_log_user, level, fmt, ap);
    va_end(ap);
}

/* Blocks under this many bytes are only freed. */
#define FREE_ALL_DISCARD_MIN ((size_t)1 << 20)
/* The most blocks whose pages go back on two threads; the rest are only freed. */
#define FREE_ALL_MAX 64
/* The threads take the blocks' bytes, counted across the blocks in list order, this many at a time:
 * pages never touched cost next to nothing to hand back, so a fixed half each would not balance. */
#define FREE_ALL_PIECE ((size_t)4 << 20)

typedef struct discard_job {
    void *const *p;
    const size_t *bytes;
    size_t n, total;
    atomic_size_t next; /* the next piece's first byte */
} discard_job;

static void *discard_run(void *arg)
{
    discard_job *j = arg;
    size_t lo;
    while ((lo = atomic_fetch_add(&j->next, FREE_ALL_PIECE)) < j->total) {
        size_t hi = j->total - lo < FREE_ALL_PIECE ? j->total : lo + FREE_ALL_PIECE, at = 0;
        for (size_t i = 0; i < j->n && at < hi; at += j->bytes[i], i++) {
            size_t s = lo > at ? lo - at : 0, e = hi - at < j->bytes[i] ? hi - at : j->bytes[i];
            if (e > s)
                sp_discard_pages((char *)j->p[i] + s, e - s);
        }
    }
    return NULL;
}

void sp_free_all(void **p, size_t n, int two)
{
#ifdef __GLIBC__
    /* The kernel unmaps one region at a time (a munmap waits for the one before to finish freeing
     * its pages), but hands pages back for two threads at once (MADV_DONTNEED takes the address
     * space's lock only to read): the large blocks' pages go back on two threads, a piece at a time
     * each, and the frees that follow unmap regions with no pages left. */
    void *big[FREE_ALL_MAX];
    size_t bytes[FREE_ALL_MAX], nb = 0, total = 0;
    for (size_t i = 0; two && i < n && nb < FREE_ALL_MAX; i++) {
        size_t b = p[i] ? malloc_usable_size(p[i]) : 0;
        if (b >= FREE_ALL_DISCARD_MIN) {
            big[nb] = p[i];
            bytes[nb++] = b;
            total += b;
        }
    }
    if (nb) {
        discard_job j;
        j.p = big;
        j.bytes = bytes;
        j.n = nb;
        j.total = total;
        atomic_init(&j.next, 0);
        pthread_t th;
        int threaded = pthread_create(&th, NULL, discard_run, &j) == 0;
        discard_run(&j);
        if (threaded)
            pthread_join(th, NULL);
    }
#else
    (void)two;
#endif
    for (size_t i = 0; i < n; i++)
        free(p[i]);
}
