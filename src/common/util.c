/* Status strings, the clock, the log callback and growth helpers used across servprof. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* madvise flags */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

uint64_t sp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sp_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void sp_log(sp_log_level level, const char *fmt, ...)
{
    sp_log_fn fn = g_log_fn;
    if (!fn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(g_log_user, level, msg);
}

sp_status sp_grow(void **arr, size_t *cap, size_t need, size_t elem, size_t max)
{
    if (need <= *cap)
        return SP_OK;
    if (need > max)
        return SP_ERR_LIMIT;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap = ncap > max / 2 ? max : ncap * 2;
    if (ncap > SIZE_MAX / elem)
        return SP_ERR_NOMEM;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return SP_ERR_NOMEM;
    *arr = p;
    *cap = ncap;
    return SP_OK;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

void sp_prefault(void *p, size_t bytes)
{
    const uintptr_t page = 4096;
    if (!p || bytes < 16 * page)
        return;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + bytes) & ~(page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE); /* a hint: failure changes nothing */
}

void sp_options_copy(void *dst, size_t dst_size, const void *src, size_t src_size, size_t zero_size)
{
    size_t n = src_size ? src_size : zero_size;
    if (n > dst_size)
        n = dst_size;
    if (n > sizeof(size_t))
        memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t), n - sizeof(size_t));
    memcpy(dst, &dst_size, sizeof(size_t));
}

int sp_prop_key_valid(const char *key, size_t len)
{
    if (!key || len == 0 || len > SP_PROP_MAX_KEY)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
