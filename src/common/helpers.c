/* State-free helpers shared by every part: error messages, the formatting both sp_log's share,
 * checked growth, pre-faulting, hashing, property keys. Nothing here holds state, so servprof's add-on
 * shared objects (the CUPTI collector, the CUDA backend module) compile their own private copy
 * (docs/gpu.md, "Add-ons and the one recorder"); what has state (the log callback, the clock) lives in
 * util.c, in libservprof. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* madvise flags */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mix.h"
#include "common/util_int.h"

void sp_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void sp_log_to(sp_log_fn fn, void *user, sp_log_level level, const char *fmt, va_list ap)
{
    if (!fn)
        return;
    /* most messages fit the stack buffer (the recorder's all do, so its record path never allocates
     * here); a longer one (an importer's summary of what it read and left out) is formatted again
     * whole rather than cut mid-sentence, and cut only if that allocation fails */
    char msg[1024];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    char *big = n >= (int)sizeof msg ? malloc((size_t)n + 1) : NULL;
    if (big)
        vsnprintf(big, (size_t)n + 1, fmt, again);
    va_end(again);
    fn(user, level, big ? big : msg);
    free(big);
}

sp_status sp_grow_slow(void **arr, size_t *cap, size_t need, size_t elem, size_t max)
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

const char *sp_file_not_regular(FILE *f, long long *size)
{
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0)
        return strerror(errno);
    if (S_ISDIR(sb.st_mode))
        return strerror(EISDIR);
    if (!S_ISREG(sb.st_mode))
        return "not a regular file";
    if (size)
        *size = (long long)sb.st_size;
    return NULL;
}

size_t sp_page_size(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? (size_t)ps : 4096;
}

void sp_populate_pages(void *p, size_t bytes)
{
    const uintptr_t page = sp_page_size();
    if (!p || bytes < page)
        return;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + bytes) & ~(page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE); /* a hint: failure changes nothing */
}

void sp_prefault(void *p, size_t bytes)
{
    if (bytes >= 16 * 4096)
        sp_populate_pages(p, bytes);
}

void sp_discard_pages(void *p, size_t bytes)
{
    const uintptr_t page = sp_page_size();
    if (!p || bytes < page)
        return;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + bytes) & ~(page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* a hint: failure changes nothing */
}

int sp_move_pages(void *from, void *to, size_t bytes)
{
#if defined(__linux__) && defined(MREMAP_FIXED)
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4 /* Linux 5.7; older kernels refuse it (EINVAL) */
#endif
    const uintptr_t page = sp_page_size();
    if (!bytes || ((uintptr_t)from | (uintptr_t)to | bytes) & (page - 1))
        return -1;
    void *r = mremap(from, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to);
    return r == MAP_FAILED ? -1 : 0;
#else
    (void)from;
    (void)to;
    (void)bytes;
    return -1;
#endif
}

uint64_t sp_hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    /* final avalanche (splitmix64's), so low bits are usable as a table index */
    return sp_mix64(h);
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
