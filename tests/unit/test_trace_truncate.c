/* A native trace cut off by a crash (kill -9) or damaged on disk must still load everything it holds
 * intact. The trace is recorded with flushes in between so it has many blocks; the test walks the
 * block frames itself (docs/native-format.md) to know what each block holds, then cuts the file at
 * every block boundary (nothing lost), at random bytes (the blocks before the cut survive, the tail is
 * one lost region to the end), and corrupts single bytes (every other block survives: the reader
 * resynchronises at the next block; records whose name was defined only in the corrupt block are
 * counted as undecodable). */
#include <sys/stat.h>
#include <zlib.h>

#include "format/native_format.h"
#include "trace_testutil.h"

#define MAX_NAMES 64

/* Per-block records by type, and the name ids each block defines and uses (stage, kernel, launch),
 * from the test's own walk of the frames. */
typedef struct block_info {
    size_t start, end;   /* file offsets of the frame */
    size_t counts[16];
    size_t uses[16][MAX_NAMES];  /* uses[type][name id]: records of that type using the id */
    int defines[MAX_NAMES];      /* name records for the id */
} block_info;

static size_t walk(const unsigned char *f, size_t n, block_info *out, size_t max)
{
    size_t pos = SP_NATIVE_FILE_HEADER, k = 0;
    while (pos + 16 <= n && k < max) {
        uint32_t len = sp_rd32(f + pos + 4);
        memset(&out[k], 0, sizeof out[k]);
        out[k].start = pos;
        out[k].end = pos + 16 + len;
        for (size_t p = pos + 16; p < out[k].end;) {
            uint64_t h = sp_rd64(f + p);
            unsigned type = (unsigned)(h & 15);
            uint32_t aux = (uint32_t)(h >> 32);
            out[k].counts[type]++;
            if (type == SP_REC_NAME && aux < MAX_NAMES)
                out[k].defines[aux]++;
            if ((type == SP_REC_STAGE || type == SP_REC_KERNEL || type == SP_REC_LAUNCH) && aux < MAX_NAMES)
                out[k].uses[type][aux]++;
            p += (h >> 16) & 0xffff;
        }
        pos = out[k].end;
        k++;
    }
    return k;
}

/* Checks what loaded against the blocks whose `keep` is set (all others lost): records of kept blocks
 * count, except stage, kernel and launch records whose name id no kept block before them defined
 * (ids 1..3 are always defined): those are undecodable. `lost_blocks` as the reader must count them. */
static uint64_t expect_blocks(sp_events *ev, const block_info *b, size_t nb, const int *keep, uint64_t lost_blocks,
                              const char *what)
{
    size_t c[16] = {0};
    uint64_t undecodable = 0;
    int defined[MAX_NAMES] = {0, 1, 1, 1};
    for (size_t k = 0; k < nb; k++) {
        if (!keep[k])
            continue;
        for (int t = 0; t < 16; t++) {
            size_t used = 0;
            if (t == SP_REC_STAGE || t == SP_REC_KERNEL || t == SP_REC_LAUNCH)
                for (int id = 1; id < MAX_NAMES; id++)
                    if (!defined[id])
                        used += b[k].uses[t][id];
            c[t] += b[k].counts[t] - used;
            undecodable += used;
        }
        for (int id = 0; id < MAX_NAMES; id++)
            defined[id] |= b[k].defines[id] > 0;
    }
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    size_t before = (size_t)sp_test_failures;
    CHECK_EQ_U64(s.requests, c[SP_REC_REQUEST]);
    CHECK_EQ_U64(s.stage_spans, c[SP_REC_STAGE]);
    CHECK_EQ_U64(s.batches, c[SP_REC_BATCH]);
    CHECK_EQ_U64(s.kernels, c[SP_REC_KERNEL]);
    CHECK_EQ_U64(s.copies, c[SP_REC_COPY]);
    CHECK_EQ_U64(s.launches, c[SP_REC_LAUNCH]);
    CHECK_EQ_U64(s.skipped, 0); /* losses are not malformed records */
    CHECK_EQ_U64(s.undecodable, undecodable);
    CHECK_EQ_U64(s.lost_blocks, lost_blocks);
    if ((size_t)sp_test_failures != before)
        fprintf(stderr, "  (%s)\n", what);
    return undecodable;
}

/* The first `nblocks` blocks kept, none lost or `lost` of them (a cut tail). */
static void expect_prefix(sp_events *ev, const block_info *b, size_t nb, size_t nblocks, uint64_t lost,
                          const char *what)
{
    int keep[256];
    for (size_t k = 0; k < nb; k++)
        keep[k] = k < nblocks;
    expect_blocks(ev, b, nb, keep, lost, what);
}

static sp_events *load_mem(const unsigned char *data, size_t len, sp_status *st, char *err, size_t errlen)
{
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    *st = sp_events_load_buffer(ev, "cut.sptrace", data, len, NULL, err, errlen);
    return ev;
}

int main(void)
{
    char path[256];
    tt_path(path, "truncate");
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_name_id k = sp_recorder_intern(rec, "attention");
    for (uint64_t phase = 0; phase < 12; phase++) {
        for (uint64_t i = 0; i < 40 + phase * 30; i++) {
            uint64_t id = phase * 10000 + i;
            sp_record_request(rec, id, id * 10, id * 10 + 9, 4);
            sp_record_stage(rec, id, SP_STAGE_QUEUE, id * 10, id * 10 + 3);
            if (i % 10 == 0) {
                uint64_t m[2] = {id, id + 1};
                sp_record_batch(rec, id, m, 2, id * 10 + 3, id * 10 + 8, 8, 8);
                sp_kernel_record kr = {id, k, 0, 0, id, id * 10 + 4, id * 10 + 7};
                sp_record_kernel(rec, &kr);
                sp_copy_record cr = {id, SP_COPY_H2D, 0, 0, 0, 64, id * 10 + 3, id * 10 + 4};
                sp_record_copy(rec, &cr);
                sp_record_launch(rec, k, id, id * 10 + 3, id * 10 + 4);
            }
        }
        if (phase == 5)
            sp_recorder_intern(rec, "late_name"); /* a definition in a middle block */
        CHECK(sp_recorder_flush(rec) == SP_OK);
    }
    CHECK(sp_recorder_close(rec) == SP_OK);

    FILE *fp = fopen(path, "rb");
    struct stat sb;
    CHECK(fp && stat(path, &sb) == 0);
    size_t n = (size_t)sb.st_size;
    unsigned char *f = malloc(n);
    CHECK(fread(f, 1, n, fp) == n);
    fclose(fp);
    block_info b[256];
    size_t nb = walk(f, n, b, 256);
    CHECK(nb >= 12); /* at least one block per flush */
    CHECK_EQ_U64(b[nb - 1].end, n);

    /* whole file, then cut at every block boundary: nothing lost that was complete, nothing noted */
    char err[512], what[128];
    sp_status st;
    for (size_t cut = 0; cut <= nb; cut++) {
        size_t len = cut == 0 ? SP_NATIVE_FILE_HEADER : b[cut - 1].end;
        sp_events *ev = load_mem(f, len, &st, err, sizeof err);
        CHECK(st == SP_OK);
        snprintf(what, sizeof what, "cut at the end of block %zu", cut);
        expect_prefix(ev, b, nb, cut, 0, what);
        sp_events_destroy(ev);
    }
    /* cut at random bytes inside block k: blocks before k survive, the tail from k's start is one lost
     * region to the end of the file */
    uint32_t x = 12345;
    for (int trial = 0; trial < 200; trial++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t len = SP_NATIVE_FILE_HEADER + x % (n - SP_NATIVE_FILE_HEADER);
        size_t kb = 0;
        while (kb < nb && b[kb].end <= len)
            kb++;
        size_t kept_end = kb ? b[kb - 1].end : SP_NATIVE_FILE_HEADER;
        sp_events *ev = load_mem(f, len, &st, err, sizeof err);
        CHECK(st == SP_OK);
        snprintf(what, sizeof what, "cut at byte %zu, inside block %zu", len, kb);
        expect_prefix(ev, b, nb, kb, len == kept_end ? 0 : 1, what);
        sp_file_loss loss;
        CHECK(sp_events_file_loss(ev, 0, &loss) == SP_OK);
        CHECK_EQ_U64(loss.lost_bytes, len - kept_end);
        if (len != kept_end) {
            CHECK_EQ_U64(loss.regions, 1);
            CHECK_EQ_U64(loss.first_lost_offset, kept_end);
            CHECK(loss.region[0].to_end == 1);
        }
        CHECK(loss.end == SP_TRACE_END_UNCLEAN); /* the end record is in the last block */
        sp_events_destroy(ev);
    }
    /* one flipped byte in block k (header or payload) fails its checksum: every other block survives,
     * and the one lost region is exactly block k */
    size_t undecodable_cases = 0;
    for (size_t kb = 0; kb < nb; kb++) {
        if (kb % 3 && !b[kb].defines[4] && !b[kb].defines[5]) /* every third, and the names' blocks */
            continue;
        size_t at = b[kb].start + 4 + (size_t)(x % (b[kb].end - b[kb].start - 4));
        x = x * 1103515245u + 12345u;
        f[at] ^= 0x41;
        sp_events *ev = load_mem(f, n, &st, err, sizeof err);
        CHECK(st == SP_OK);
        int keep[256];
        for (size_t j = 0; j < nb; j++)
            keep[j] = j != kb;
        snprintf(what, sizeof what, "byte %zu of block %zu flipped", at, kb);
        undecodable_cases += expect_blocks(ev, b, nb, keep, 1, what) > 0;
        sp_file_loss loss;
        CHECK(sp_events_file_loss(ev, 0, &loss) == SP_OK);
        CHECK_EQ_U64(loss.first_lost_offset, b[kb].start);
        CHECK_EQ_U64(loss.lost_bytes, b[kb].end - b[kb].start);
        CHECK(loss.region[0].to_end == (kb == nb - 1));
        sp_events_destroy(ev);
        f[at] ^= 0x41;
    }
    CHECK(undecodable_cases > 0); /* the block defining "attention" (id 4) precedes every kernel */
    /* the whole file still loads, and the names defined in block 0 and later are right */
    sp_events *ev = load_mem(f, n, &st, err, sizeof err);
    CHECK(st == SP_OK);
    expect_prefix(ev, b, nb, nb, 0, "whole file");
    CHECK(sp_str_find(&ev->strings, "attention", 9) != SP_EV_NONE);
    CHECK(sp_str_find(&ev->strings, "late_name", 9) != SP_EV_NONE);
    sp_events_destroy(ev);

    /* a bad header is an error naming the file and the byte offset */
    sp_load_options lo;
    sp_load_options_init(&lo);
    lo.format = SP_FORMAT_NATIVE;
    unsigned char hdr[16];
    memcpy(hdr, f, 16);
    f[3] = 'X';
    sp_events_create(&ev);
    CHECK(sp_events_load_buffer(ev, "bad.sptrace", f, n, &lo, err, sizeof err) == SP_ERR_FORMAT);
    CHECK(strstr(err, "bad.sptrace") && strstr(err, "byte 0"));
    memcpy(f, hdr, 16);
    sp_wr32(f + 8, 7); /* version 7 */
    CHECK(sp_events_load_buffer(ev, "bad.sptrace", f, n, &lo, err, sizeof err) == SP_ERR_FORMAT);
    CHECK(strstr(err, "bad.sptrace") && strstr(err, "byte 8") && strstr(err, "version 7"));
    memcpy(f, hdr, 16);
    sp_wr32(f + 12, 8); /* header size below 16 */
    CHECK(sp_events_load_buffer(ev, "bad.sptrace", f, n, &lo, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "byte 12") != NULL);
    memcpy(f, hdr, 16);
    CHECK(sp_events_load_buffer(ev, "short.sptrace", f, 11, NULL, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "short.sptrace") && strstr(err, "byte 11"));
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.files, 0); /* failed loads leave nothing behind */
    sp_events_destroy(ev);

    /* gzip-compressed traces load too, and a cut .gz keeps its complete blocks */
    char gzpath[300];
    snprintf(gzpath, sizeof gzpath, "%s.gz", path);
    gzFile gz = gzopen(gzpath, "wb");
    CHECK(gz != NULL);
    gzwrite(gz, f, (unsigned)n);
    gzclose(gz);
    ev = tt_load(gzpath);
    expect_prefix(ev, b, nb, nb, 0, "gzip");
    sp_events_destroy(ev);
    unlink(gzpath);

    free(f);
    unlink(path);
    return sp_test_done("test_trace_truncate");
}
