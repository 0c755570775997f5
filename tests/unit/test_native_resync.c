/* A damaged native trace loses only what is damaged (docs/native-format.md "Reading rule"): the reader
 * resynchronises at the next block that checks out. A trace recorded here (600 batches of 8 requests,
 * flushed every 4 batches: about 180 small blocks; a request's stages straddle flushes) is damaged in
 * each way below; what must load is worked out by resync_testutil.h from the blocks left intact, and
 * each file's loss (regions, offsets, undecodable and orphaned records, end) and the log warnings are
 * checked. Every case is read by the serial and by the pipelined reader, which must agree exactly. */
#include <time.h>
#include <zlib.h>

#include "import/import_int.h"
#include "resync_testutil.h"
#include "trace_testutil.h"

#define BATCHES 600
#define LATE_FROM 300

static char g_log[65536];
static size_t g_log_len;

static void capture(void *user, sp_log_level level, const char *message)
{
    (void)user;
    (void)level;
    int k = snprintf(g_log + g_log_len, sizeof g_log - g_log_len, "%s\n", message);
    if (k > 0 && (size_t)k < sizeof g_log - g_log_len)
        g_log_len += (size_t)k;
}

/* One load: the event set, its file's loss, the warnings logged. */
typedef struct loaded {
    sp_events *ev;
    sp_file_loss loss;
    char log[65536];
} loaded;

static void load_as(const unsigned char *d, size_t n, int mode, loaded *out)
{
    sp_import_native_set_mode(mode);
    g_log_len = 0;
    g_log[0] = '\0';
    char err[512];
    if (sp_events_create(&out->ev) != SP_OK)
        exit(1);
    sp_status st = sp_events_load_buffer(out->ev, "dmg.sptrace", d, n, NULL, err, sizeof err);
    CHECK(st == SP_OK);
    if (st != SP_OK)
        fprintf(stderr, "  load failed: %s\n", err);
    CHECK(sp_events_file_loss(out->ev, 0, &out->loss) == SP_OK);
    snprintf(out->log, sizeof out->log, "%s", g_log);
}

static void check_same_loss(const sp_file_loss *a, const sp_file_loss *b)
{
    CHECK_EQ_U64(a->lost_blocks, b->lost_blocks);
    CHECK_EQ_U64(a->lost_bytes, b->lost_bytes);
    CHECK_EQ_U64(a->first_lost_offset, b->first_lost_offset);
    CHECK_EQ_U64(a->regions, b->regions);
    CHECK_EQ_U64(a->n_listed, b->n_listed);
    for (size_t i = 0; i < a->n_listed && i < b->n_listed; i++) {
        CHECK_EQ_U64(a->region[i].offset, b->region[i].offset);
        CHECK_EQ_U64(a->region[i].bytes, b->region[i].bytes);
        CHECK_EQ_U64(a->region[i].blocks, b->region[i].blocks);
        CHECK_EQ_U64(a->region[i].to_end, b->region[i].to_end);
    }
    CHECK_EQ_U64(a->undecodable, b->undecodable);
    CHECK_EQ_U64(a->orphaned, b->orphaned);
    CHECK_EQ_U64(a->end, b->end);
}

/* Loads `d` with both readers; checks they agree, that what loaded is what the kept blocks hold
 * (rt_expected), and that the finishing pass takes the orphans without --lenient. Returns the serial
 * load (the caller destroys it) and writes the expectation to `*e`. */
static void load_both(const unsigned char *d, size_t n, const unsigned char *f, const rt_block *b, size_t nb,
                      const int *keep, const char *what, loaded *out, rt_expect *e)
{
    static loaded piped;
    size_t before = (size_t)sp_test_failures;
    load_as(d, n, SP_NATIVE_SERIAL, out);
    load_as(d, n, SP_NATIVE_PIPELINED, &piped);
    tt_lines a = {0}, p = {0};
    tt_lines_of(out->ev, &a);
    tt_lines_of(piped.ev, &p);
    tt_check_equal(&a, &p);
    tt_free(&a);
    tt_free(&p);
    check_same_loss(&out->loss, &piped.loss);
    CHECK(strcmp(out->log, piped.log) == 0);

    *e = rt_expected(f, b, nb, keep);
    sp_events_summary s;
    sp_events_summarize(out->ev, &s);
    CHECK_EQ_U64(s.requests, e->requests);
    CHECK_EQ_U64(s.stage_spans, e->spans);
    CHECK_EQ_U64(s.batches, e->batches);
    CHECK_EQ_U64(s.kernels, e->kernels);
    CHECK_EQ_U64(s.copies, e->copies);
    CHECK_EQ_U64(s.launches, e->launches);
    CHECK_EQ_U64(s.undecodable, e->undecodable);
    CHECK_EQ_U64(s.skipped, 0);
    CHECK_EQ_U64(out->loss.end, e->end ? SP_TRACE_END_CLEAN : SP_TRACE_END_UNCLEAN);
    char err[512];
    CHECK(sp_ev_finish(out->ev, false, err, sizeof err) == SP_OK); /* not lenient: orphans are no error */
    CHECK(sp_events_file_loss(out->ev, 0, &out->loss) == SP_OK);
    CHECK_EQ_U64(out->loss.orphaned, e->orphaned);
    sp_events_destroy(piped.ev);
    if ((size_t)sp_test_failures != before)
        fprintf(stderr, "  (%s)\n", what);
}

static void keep_all_but(int *keep, size_t nb, size_t lo, size_t hi)
{
    for (size_t k = 0; k < nb; k++)
        keep[k] = k < lo || k > hi;
}

/* A block frame holding only `len` payload bytes of records copied from `src` (checksum computed). */
static size_t frame(unsigned char *out, const unsigned char *payload, uint32_t len, uint32_t records)
{
    sp_wr32(out, SP_NATIVE_BLOCK_MAGIC);
    sp_wr32(out + 4, len);
    sp_wr32(out + 8, records);
    memmove(out + 16, payload, len);
    sp_wr32(out + 12, sp_crc32(sp_crc32(0, out, 12), out + 16, len));
    return 16 + (size_t)len;
}

int main(void)
{
    sp_set_log(capture, NULL);
    char path[256];
    tt_path(path, "resync");
    CHECK(rt_record(path, BATCHES, 4, LATE_FROM) == 0);
    size_t n;
    unsigned char *f = rt_read(path, &n);
    CHECK(f != NULL);
    if (!f)
        return sp_test_done("test_native_resync");
    static rt_block b[RT_MAX_BLOCKS];
    size_t nb = rt_walk(f, n, b, RT_MAX_BLOCKS);
    CHECK(nb >= 150); /* at least one block per flush */
    CHECK_EQ_U64(b[nb - 1].end, n);
    unsigned char *d = malloc(n + 4096);
    static int keep[RT_MAX_BLOCKS];
    loaded L;
    rt_expect e;
    char msg[256];

    /* intact: nothing lost, the recorder closed it, nothing logged */
    keep_all_but(keep, nb, nb, nb);
    load_both(f, n, f, b, nb, keep, "intact", &L, &e);
    CHECK_EQ_U64(e.requests, BATCHES * 8);
    CHECK_EQ_U64(L.loss.regions + L.loss.lost_bytes + L.loss.orphaned + L.loss.undecodable, 0);
    CHECK(L.loss.end == SP_TRACE_END_CLEAN && L.loss.first_lost_offset == UINT64_MAX);
    CHECK(L.log[0] == '\0');
    CHECK(sp_events_describe_loss(L.ev, msg, sizeof msg) == 0 && msg[0] == '\0');
    sp_events_destroy(L.ev);

    /* one flipped byte a third of the way in: only its block is lost; reading resumes at the next */
    size_t at = n / 3, k = 0;
    while (b[k].end <= at)
        k++;
    memcpy(d, f, n);
    d[at] ^= 0x41;
    keep_all_but(keep, nb, k, k);
    load_both(d, n, f, b, nb, keep, "one flipped byte", &L, &e);
    CHECK_EQ_U64(L.loss.regions, 1);
    CHECK_EQ_U64(L.loss.lost_blocks, 1);
    CHECK_EQ_U64(L.loss.first_lost_offset, b[k].start);
    CHECK_EQ_U64(L.loss.lost_bytes, b[k].end - b[k].start);
    CHECK(L.loss.region[0].to_end == 0);
    CHECK(e.requests < BATCHES * 8 && e.requests > BATCHES * 8 - 100); /* all but the block's own */
    CHECK(e.orphaned > 0); /* stages recorded a flush ahead of their requests */
    snprintf(msg, sizeof msg, "dmg.sptrace: byte %zu: block checksum mismatch; resynchronised at byte %zu (1 block, %zu bytes lost)",
             b[k].start, b[k].end, b[k].end - b[k].start);
    CHECK(strstr(L.log, msg) != NULL);
    CHECK(strstr(g_log, "left out") != NULL); /* the orphans, said by the finishing pass */
    char desc[1024];
    CHECK(sp_events_describe_loss(L.ev, desc, sizeof desc) == 2); /* the block, the orphans */
    snprintf(msg, sizeof msg, "dmg.sptrace: 1 block (%zu bytes) lost at byte %zu, ", b[k].end - b[k].start, b[k].start);
    CHECK(strstr(desc, msg) == desc);
    sp_events_destroy(L.ev);

    /* a block header's size made impossible, then made smaller: the scan finds the next block */
    memcpy(d, f, n);
    sp_wr32(d + b[k].start + 4, 0xfffffff0u);
    load_both(d, n, f, b, nb, keep, "size out of range", &L, &e);
    CHECK_EQ_U64(L.loss.first_lost_offset, b[k].start);
    CHECK_EQ_U64(L.loss.lost_bytes, b[k].end - b[k].start);
    CHECK_EQ_U64(L.loss.lost_blocks, 1);
    CHECK(strstr(L.log, "not a block header (bad magic or size)") != NULL);
    sp_events_destroy(L.ev);
    memcpy(d, f, n);
    sp_wr32(d + b[k].start + 4, sp_rd32(f + b[k].start + 4) - 8);
    load_both(d, n, f, b, nb, keep, "size smaller", &L, &e);
    CHECK_EQ_U64(L.loss.lost_bytes, b[k].end - b[k].start);
    CHECK_EQ_U64(L.loss.lost_blocks, 1);
    sp_events_destroy(L.ev);

    /* two neighbouring corrupt blocks are one region of 2 blocks; two apart are two regions */
    memcpy(d, f, n);
    d[b[k].start + 20] ^= 1;
    d[b[k + 1].start + 20] ^= 1;
    keep_all_but(keep, nb, k, k + 1);
    load_both(d, n, f, b, nb, keep, "two neighbours", &L, &e);
    CHECK_EQ_U64(L.loss.regions, 1);
    CHECK_EQ_U64(L.loss.lost_blocks, 2);
    CHECK_EQ_U64(L.loss.lost_bytes, b[k + 1].end - b[k].start);
    sp_events_destroy(L.ev);
    memcpy(d, f, n);
    d[b[k].start + 20] ^= 1;
    d[b[k + 5].start + 20] ^= 1;
    keep_all_but(keep, nb, nb, nb);
    keep[k] = keep[k + 5] = 0;
    load_both(d, n, f, b, nb, keep, "two apart", &L, &e);
    CHECK_EQ_U64(L.loss.regions, 2);
    CHECK_EQ_U64(L.loss.region[1].offset, b[k + 5].start);
    sp_events_destroy(L.ev);

    /* ten corrupt blocks: all counted, the first SP_LOSS_MAX_REGIONS listed */
    memcpy(d, f, n);
    keep_all_but(keep, nb, nb, nb);
    for (size_t j = 0; j < 10; j++) {
        d[b[10 + 7 * j].start + 30] ^= 0x80;
        keep[10 + 7 * j] = 0;
    }
    load_both(d, n, f, b, nb, keep, "ten corrupt blocks", &L, &e);
    CHECK_EQ_U64(L.loss.regions, 10);
    CHECK_EQ_U64(L.loss.lost_blocks, 10);
    CHECK_EQ_U64(L.loss.n_listed, SP_LOSS_MAX_REGIONS);
    CHECK_EQ_U64(L.loss.region[7].offset, b[10 + 7 * 7].start);
    CHECK(sp_events_describe_loss(L.ev, desc, sizeof desc) > 0 && strstr(desc, "in 10 regions") &&
          strstr(desc, " and 2 more"));
    sp_events_destroy(L.ev);

    /* cut inside a block's payload, then inside a header: the tail is one region to the end */
    keep_all_but(keep, nb, k, nb);
    load_both(f, b[k].start + 100, f, b, nb, keep, "cut in a payload", &L, &e);
    CHECK_EQ_U64(L.loss.regions, 1);
    CHECK_EQ_U64(L.loss.first_lost_offset, b[k].start);
    CHECK_EQ_U64(L.loss.lost_bytes, 100);
    CHECK(L.loss.region[0].to_end == 1 && L.loss.end == SP_TRACE_END_UNCLEAN);
    snprintf(msg, sizeof msg, "dmg.sptrace: byte %zu: block cut off; the rest of the file is lost (1 block, 100 bytes)",
             b[k].start);
    CHECK(strstr(L.log, msg) != NULL);
    CHECK(strstr(L.log, "no end record") != NULL);
    sp_events_destroy(L.ev);
    load_both(f, b[k].start + 7, f, b, nb, keep, "cut in a header", &L, &e);
    CHECK_EQ_U64(L.loss.lost_bytes, 7);
    CHECK(strstr(L.log, "block header cut off") != NULL);
    sp_events_destroy(L.ev);

    /* the end record missing (the last block re-framed without it): nothing lost, but not closed */
    size_t kend = rt_find(f, b, nb, SP_REC_END, UINT32_MAX);
    CHECK(kend == nb - 1);
    memcpy(d, f, n);
    unsigned char *last = d + b[nb - 1].start;
    size_t m = 0;
    uint32_t recs = 0;
    unsigned char *pl = malloc(b[nb - 1].end - b[nb - 1].start);
    for (size_t p = b[nb - 1].start + 16; p < b[nb - 1].end;) {
        uint64_t h = sp_rd64(f + p);
        size_t sz = (h >> 16) & 0xffff;
        if ((h & 0xffff) != SP_REC_END) {
            memcpy(pl + m, f + p, sz);
            m += sz;
            recs++;
        }
        p += sz;
    }
    size_t n2 = b[nb - 1].start + frame(last, pl, (uint32_t)m, recs);
    free(pl);
    CHECK_EQ_U64(n2, n - 8);
    static rt_block b2[RT_MAX_BLOCKS];
    CHECK_EQ_U64(rt_walk(d, n2, b2, RT_MAX_BLOCKS), nb);
    keep_all_but(keep, nb, nb, nb);
    load_both(d, n2, d, b2, nb, keep, "no end record", &L, &e);
    CHECK(e.end == 0 && e.requests == BATCHES * 8);
    CHECK(L.loss.end == SP_TRACE_END_UNCLEAN && L.loss.regions == 0);
    CHECK(sp_events_describe_loss(L.ev, desc, sizeof desc) == 1 &&
          strstr(desc, "the recorder did not close cleanly") != NULL);
    sp_events_destroy(L.ev);

    /* the block defining "late_kernel" lost: the 300 kernels of batches 300..599 that use it are
     * undecodable (BATCHES - LATE_FROM, from the recording loop), not an error */
    size_t kname = rt_find(f, b, nb, SP_REC_NAME, 6); /* ids 4, 5: gemm, cudaLaunchKernel; 6: late */
    CHECK(kname < nb && kname > 0);
    memcpy(d, f, n);
    d[b[kname].end - 1] ^= 0x20;
    keep_all_but(keep, nb, kname, kname);
    load_both(d, n, f, b, nb, keep, "name block lost", &L, &e);
    CHECK_EQ_U64(e.undecodable, BATCHES - LATE_FROM);
    CHECK_EQ_U64(L.loss.undecodable, BATCHES - LATE_FROM);
    CHECK(strstr(L.log, "300 records use a name defined only in a lost block") != NULL);
    CHECK(sp_events_describe_loss(L.ev, desc, sizeof desc) > 0 && strstr(desc, "300 records undecodable"));
    sp_events_destroy(L.ev);
    /* ... while the same undefined id with no loss before it is malformed, as before */
    memcpy(d, f, b[kname].start);
    memcpy(d + b[kname].start, f + b[kname].end, n - b[kname].end);
    sp_events *ev;
    sp_events_create(&ev);
    char err[512];
    CHECK(sp_events_load_buffer(ev, "cutout.sptrace", d, n - (b[kname].end - b[kname].start), NULL, err,
                                sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "never defined") != NULL);
    sp_events_destroy(ev);

    /* 13 bytes of garbage between two blocks: resynchronised at the next block, off the 8-byte grid */
    memcpy(d, f, b[k].start);
    memset(d + b[k].start, 0xaa, 13);
    memcpy(d + b[k].start + 13, f + b[k].start, n - b[k].start);
    keep_all_but(keep, nb, nb, nb);
    load_both(d, n + 13, f, b, nb, keep, "garbage inserted", &L, &e);
    CHECK_EQ_U64(L.loss.first_lost_offset, b[k].start);
    CHECK_EQ_U64(L.loss.lost_bytes, 13);
    sp_events_destroy(L.ev);

    /* a zeroed 4 KiB page from inside block k over the start of k + 1: both lost, k + 2 on survive */
    memcpy(d, f, n);
    size_t z = b[k + 1].start - 2048;
    CHECK(z > b[k].start && b[k + 1].end > z + 4096);
    memset(d + z, 0, 4096);
    keep_all_but(keep, nb, k, k + 1);
    load_both(d, n, f, b, nb, keep, "zeroed page", &L, &e);
    CHECK_EQ_U64(L.loss.regions, 1);
    CHECK_EQ_U64(L.loss.lost_bytes, b[k + 1].end - b[k].start);
    sp_events_destroy(L.ev);

    /* the same one-byte damage in a .gz file: the same loss, offsets in the uncompressed stream */
    char gzpath[300];
    snprintf(gzpath, sizeof gzpath, "%s.gz", path);
    memcpy(d, f, n);
    d[at] ^= 0x41;
    gzFile gz = gzopen(gzpath, "wb");
    CHECK(gz != NULL);
    gzwrite(gz, d, (unsigned)n);
    gzclose(gz);
    for (int mode = SP_NATIVE_SERIAL; mode <= SP_NATIVE_PIPELINED; mode++) {
        sp_import_native_set_mode(mode);
        sp_events_create(&ev);
        CHECK(sp_events_load_file(ev, gzpath, NULL, err, sizeof err) == SP_OK);
        sp_file_loss gl;
        sp_events_file_loss(ev, 0, &gl);
        CHECK_EQ_U64(gl.first_lost_offset, b[k].start);
        CHECK_EQ_U64(gl.lost_bytes, b[k].end - b[k].start);
        sp_events_destroy(ev);
    }
    unlink(gzpath);

    /* many false candidates (the block magic and a 1 MiB size every 8 bytes, 8 MiB of them) cost
     * checks bounded by NAT_RESYNC_BUDGET, and the intact blocks after them are still found. Without
     * the bound this is a million 1 MiB checksums (minutes); with it, well under a second. */
    size_t junk = (size_t)8 << 20, gap = (size_t)4 << 20;
    size_t n3 = b[k].start + junk + gap + (n - b[k].start);
    unsigned char *big = malloc(n3);
    CHECK(big != NULL);
    memcpy(big, f, b[k].start);
    for (size_t p = 0; p < junk; p += 8) {
        sp_wr32(big + b[k].start + p, SP_NATIVE_BLOCK_MAGIC);
        sp_wr32(big + b[k].start + p + 4, 1u << 20);
    }
    memset(big + b[k].start + junk, 0, gap);
    memcpy(big + b[k].start + junk + gap, f + b[k].start, n - b[k].start);
    keep_all_but(keep, nb, nb, nb);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    load_both(big, n3, f, b, nb, keep, "false candidates", &L, &e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(secs < 30); /* both readers; about 0.1 s without sanitizers */
    CHECK_EQ_U64(L.loss.lost_bytes, junk + gap);
    printf("false candidates: both readers in %.2f s\n", secs);
    sp_events_destroy(L.ev);
    free(big);

    free(d);
    free(f);
    unlink(path);
    sp_set_log(NULL, NULL);
    return sp_test_done("test_native_resync");
}
