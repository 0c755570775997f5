/* Test helper for the Kineto importer's tests (test_kineto_import.c, test_kineto_parallel.c,
 * test_kineto_fast.c): a gzipped trace of tests/data read whole into memory. */
#ifndef SERVPROF_TEST_GUNZIP_TESTUTIL_H
#define SERVPROF_TEST_GUNZIP_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

/* The uncompressed bytes of `path` (gzip, or plain: zlib reads both), NUL-terminated, length in *len;
 * NULL when the file cannot be opened. Exits on out of memory (a test's helper). */
static inline char *gunzip_file(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "gunzip_file: out of memory reading %s\n", path);
            exit(1);
        }
        if (n == cap) {
            char *bigger = realloc(buf, 2 * cap + 1);
            if (!bigger)
                free(buf);
            buf = bigger;
            cap *= 2;
            continue;
        }
        int r = gzread(f, buf + n, (unsigned)(cap - n));
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    gzclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

#endif
