/* Reads a native trace's records as bytes, block by block (docs/native-format.md: file header, then
 * blocks of a 16-byte header and whole records), so a test can check the layout of records the
 * importer does not read (yet) exactly as the recorder wrote them. Checksums are verified. */
#ifndef SERVPROF_NATIVE_RECORDS_H
#define SERVPROF_NATIVE_RECORDS_H

#include <stdio.h>
#include <stdlib.h>

#include "format/native_format.h"
#include "testlib.h"

/* Called for each record: its type, size and aux, and the record's bytes (header included). */
typedef void (*nr_fn)(void *user, uint32_t type, uint32_t size, uint32_t aux, const unsigned char *rec);

/* Walks every record of `path` in file order. Returns the number of records, or -1 (after a failed
 * CHECK) when the file is not a well-formed native trace. */
static inline long nr_each(const char *path, nr_fn fn, void *user)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return -1;
    unsigned char fh[SP_NATIVE_FILE_HEADER];
    uint32_t hb = 0;
    long count = -1;
    unsigned char *payload = NULL;
    if (fread(fh, 1, sizeof fh, f) != sizeof fh ||
        sp_native_file_header_check(fh, sizeof fh, &hb) != SP_NATIVE_HEADER_OK || fseek(f, (long)hb, SEEK_SET) != 0) {
        CHECK(!"bad file header");
        goto out;
    }
    count = 0;
    for (;;) {
        unsigned char bh[SP_NATIVE_BLOCK_HEADER];
        size_t got = fread(bh, 1, sizeof bh, f);
        if (got == 0)
            break;
        uint32_t len = 0;
        if (got != sizeof bh || !sp_native_block_header_ok(bh, &len)) {
            CHECK(!"bad block header");
            count = -1;
            goto out;
        }
        free(payload);
        payload = malloc(len ? len : 1);
        if (!payload || fread(payload, 1, len, f) != len || !sp_native_block_crc_ok(bh, payload, len)) {
            CHECK(!"bad block payload");
            count = -1;
            goto out;
        }
        for (uint32_t at = 0; at + 8 <= len;) {
            uint64_t h = sp_rd64(payload + at);
            uint32_t size = sp_rec_size(h);
            if (size < 8 || size % 8 || at + size > len) {
                CHECK(!"bad record size");
                count = -1;
                goto out;
            }
            fn(user, sp_rec_type(h), size, sp_rec_aux(h), payload + at);
            count++;
            at += size;
        }
    }
out:
    free(payload);
    fclose(f);
    return count;
}

#endif
