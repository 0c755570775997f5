/* Small internal helpers shared by every part: error messages, logging, checked growth. */
#ifndef SERVPROF_UTIL_INT_H
#define SERVPROF_UTIL_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "servprof/servprof.h"

#if defined(__GNUC__)
#define SP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SP_PRINTF(a, b)
#endif

/* Writes a formatted message into err[errlen] (NUL-terminated when errlen > 0; err may be NULL). */
void sp_errf(char *err, size_t errlen, const char *fmt, ...) SP_PRINTF(3, 4);

/* Sends a message to the user's log callback, if any (util.c in libservprof; log_forward.c in the
 * add-on shared objects, which forwards to libservprof's callback). */
void sp_log(sp_log_level level, const char *fmt, ...) SP_PRINTF(2, 3);
/* What both sp_log's do (helpers.c): formats the message (at most 1023 bytes) and hands it to `fn`
 * with `user`; nothing when `fn` is NULL. */
void sp_log_to(sp_log_fn fn, void *user, sp_log_level level, const char *fmt, va_list ap);

/* sp_grow's growing part (helpers.c), for when `need` exceeds *cap. */
sp_status sp_grow_slow(void **arr, size_t *cap, size_t need, size_t elem, size_t max);

/* Grows *arr (element size `elem`) so it holds at least `need` elements, doubling; refuses past
 * `max` elements. Returns SP_OK, SP_ERR_NOMEM or SP_ERR_LIMIT; *arr and *cap change only on SP_OK.
 * Inline, because per-item loops (the partition's pieces, the importers) call it once an item and
 * it almost always has room: out of line, the call itself was 2-3% of a native analysis (issue 15). */
static inline sp_status sp_grow(void **arr, size_t *cap, size_t need, size_t elem, size_t max)
{
    if (need <= *cap)
        return SP_OK;
    return sp_grow_slow(arr, cap, need, elem, max);
}

#define SP_GROW(arr, cap, need, max) sp_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)), (max))

/* Faults in the whole pages of a fresh, zeroed (calloc) buffer of `bytes` as writable, in one call
 * (Linux 5.14 MADV_POPULATE_WRITE; a no-op elsewhere, and for buffers under 64 KiB). Contents do not
 * change. For hash tables that are probed before they are written: otherwise each page is first
 * mapped to the shared zero page, then faulted again on the first insert, and that second fault
 * flushes the TLB of every CPU the process ran on (an IPI per page once a second thread exists). */
void sp_prefault(void *p, size_t bytes);
/* Why the open file `f` cannot be read as a file's bytes (strerror's text: "Is a directory" for a
 * folder, which opens for reading, or "not a regular file" for a FIFO or a device), or NULL when it is
 * a regular file, its size then in *size (when `size` is not NULL). */
const char *sp_file_not_regular(FILE *f, long long *size);
/* A symbol to resolve from a library opened with sp_dl_open: its name, and where its address goes (a
 * function pointer's address, cast: dlsym gives object pointers, which POSIX makes convertible). */
typedef struct sp_dl_sym {
    const char *name;
    void **slot;
} sp_dl_sym;
/* Opens the library `soname` with dlopen (RTLD_NOW | RTLD_LOCAL) and puts the address of each of
 * syms[0..n) in its slot (dl.c). Returns the handle, never to be closed by the caller's state; NULL
 * when it cannot be opened ("<user> needs <what> (<soname>; Debian: <package>), which could not be
 * loaded: <dlerror>" in err) or lacks a symbol ("<soname> has no <name>"). In its own archive
 * (servprof_dl, for the service and the fleet client), not in the recorder's objects. */
void *sp_dl_open(const char *soname, const char *user, const char *what, const char *package,
                 const sp_dl_sym *syms, size_t n, char *err, size_t errlen);
/* The system's page size (4096 when it does not say). */
size_t sp_page_size(void);
/* Faults in the whole pages inside [p, p + bytes) as writable in one call, whatever the size
 * (MADV_POPULATE_WRITE, as sp_prefault): no byte changes, a page already in stays as it is. A hint. */
void sp_populate_pages(void *p, size_t bytes);

/* Hands the whole pages inside [p, p + bytes) of a buffer the caller has finished reading back to the
 * kernel (MADV_DONTNEED): they no longer count in the resident set, and read as zero if touched
 * again. The partial pages at either end (and so the allocator's header before `p`) are kept, so a
 * neighbour's bytes on a shared page are never lost. A hint: failure, or a no-op elsewhere, changes
 * no figure. For freeing a large array piece by piece while a pass walks it. */
void sp_discard_pages(void *p, size_t bytes);
/* Moves the `bytes` of pages at `from` (whole pages, in one private anonymous mapping, and in) to `to`
 * (whole pages, none of which anyone has written or will read before writing): what was mapped at `to`
 * goes, and `from` reads as fresh zero pages afterwards, as after sp_discard_pages. The pages move with
 * their contents, without a fault each where `to` is first written (Linux: mremap with
 * MREMAP_DONTUNMAP). 0, or -1 with nothing changed (elsewhere always; the caller then discards). */
int sp_move_pages(void *from, void *to, size_t bytes);

/* Frees the n blocks p[0..n) (NULL entries skipped). With `two` set, the pages of the large blocks
 * first go back to the kernel on two threads (the calling one and one started for it; one when it
 * cannot be started), 4 MiB at a time each, so that the unmapping of a few hundred MB runs on two
 * cores instead of one; the frees then unmap regions with no pages left. Returns when every block is
 * freed. For the large arrays an analysis leaves at its end (servprof analyze). */
void sp_free_all(void **p, size_t n, int two);

/* Copies a caller's options struct into the library's `dst` (already holding the defaults) under the
 * ABI rule of trace.h: only the first `src_size` bytes the caller has (its struct_size; 0 stands for
 * `zero_size`, the first layout that had the field), at most dst_size; then sets dst's struct_size
 * (its first member) to dst_size. */
void sp_options_copy(void *dst, size_t dst_size, const void *src, size_t src_size, size_t zero_size);

/* 64-bit hash of bytes (FNV-1a folded with a final mix). */
uint64_t sp_hash_bytes(const void *data, size_t len, uint64_t seed);

/* The decimal text of `v` (digits only, no leading zero) into out[0..len), not NUL-terminated, two
 * digits per division; returns len (1..20). The one u64 formatter of the model's interned ids, the
 * native importer and the load generator's request ids. */
static inline size_t sp_u64_dec(uint64_t v, char out[20])
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                   "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";
    char tmp[20];
    size_t n = 20;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        tmp[--n] = pairs[2 * r + 1];
        tmp[--n] = pairs[2 * r];
    }
    if (v >= 10) {
        tmp[--n] = pairs[2 * v + 1];
        tmp[--n] = pairs[2 * v];
    } else {
        tmp[--n] = (char)('0' + v);
    }
    memcpy(out, tmp + n, 20 - n);
    return 20 - n;
}

/* The value of the hex digit `c` (0-9, a-f, A-F), or -1 when it is not one. */
static inline int sp_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
