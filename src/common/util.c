/* The library's process-wide pieces: version, status strings, the clock and the log callback. One
 * copy per process, in libservprof; add-ons reach the callback through sp_get_log (log_forward.c).
 * The state-free helpers are in helpers.c. */

#include <stdio.h>
#include <time.h>

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
