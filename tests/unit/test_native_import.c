/* The native importer on hand-built traces (docs/native-format.md written out byte by byte here, not
 * by the recorder): name definitions, labels replacing numeric ids (and a label that collides),
 * copy-kind mapping, "no batch", drop counts (cumulative: the largest wins), price, unknown record
 * types skipped, malformed records an error with the byte offset (or skipped under lenient), and the
 * recorder's CRC-32 against zlib's. */
#include <zlib.h>

#include "format/native_format.h"
#include "trace_testutil.h"

/* what the importer logged (its warnings), for the checks that name a record */
static char g_log[4096];

static void capture_log(void *user, sp_log_level level, const char *message)
{
    (void)user;
    (void)level;
    size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof g_log - n, "%s\n", message);
}

typedef struct tbuild {
    unsigned char data[65536];
    size_t len;
    size_t block_start;
    uint32_t records;
} tbuild;

static void tb_begin(tbuild *b)
{
    memcpy(b->data, "SPTRACE1", 8);
    sp_wr32(b->data + 8, 1);
    sp_wr32(b->data + 12, 16);
    b->len = 16;
}

static void tb_block_open(tbuild *b)
{
    b->block_start = b->len;
    b->len += 16;
    b->records = 0;
}

static void tb_block_close(tbuild *b)
{
    unsigned char *h = b->data + b->block_start;
    uint32_t plen = (uint32_t)(b->len - b->block_start - 16);
    sp_wr32(h, SP_NATIVE_BLOCK_MAGIC);
    sp_wr32(h + 4, plen);
    sp_wr32(h + 8, b->records);
    uLong crc = crc32(0L, h, 12);
    crc = crc32(crc, h + 16, plen);
    sp_wr32(h + 12, (uint32_t)crc);
}

/* A record: type, aux, then `n` words. */
static size_t tb_rec(tbuild *b, uint32_t type, uint32_t aux, const uint64_t *w, size_t n)
{
    size_t at = b->len;
    sp_wr64(b->data + b->len, sp_rec_header(type, (uint32_t)(8 + 8 * n), aux));
    b->len += 8;
    for (size_t i = 0; i < n; i++, b->len += 8)
        sp_wr64(b->data + b->len, w[i]);
    b->records++;
    return at;
}

static void tb_text(tbuild *b, uint32_t type, uint32_t aux, uint64_t first, const char *s)
{
    uint64_t w[64] = {0};
    size_t n = 0;
    if (type == SP_REC_LABEL)
        w[n++] = first;
    size_t len = strlen(s);
    memcpy(&w[n], s, len);
    n += (len + 7) / 8;
    tb_rec(b, type, aux, w, n);
}

static sp_status load(tbuild *b, int lenient, sp_events **out, char *err, size_t errlen)
{
    sp_events_create(out);
    sp_load_options lo;
    sp_load_options_init(&lo);
    lo.lenient = lenient;
    return sp_events_load_buffer(*out, "hand.sptrace", b->data, b->len, &lo, err, errlen);
}

int main(void)
{
    /* CRC-32 check value of "123456789" is 0xCBF43926 (the published CRC-32/ISO-HDLC check); then
     * the recorder's table-driven CRC against zlib's on odd lengths and alignments */
    CHECK_EQ_U64(sp_crc32(0, "123456789", 9), 0xCBF43926u);
    static unsigned char rnd[5000];
    uint32_t x = 99;
    for (size_t i = 0; i < sizeof rnd; i++) {
        x = x * 1664525u + 1013904223u;
        rnd[i] = (unsigned char)(x >> 24);
    }
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len < 200; len += 7)
            CHECK_EQ_U64(sp_crc32(0, rnd + off, len), crc32(0L, rnd + off, (uInt)len));
    CHECK_EQ_U64(sp_crc32(sp_crc32(0, rnd, 1000), rnd + 1000, 4000), crc32(0L, rnd, 5000));
    /* lengths around the folding path's 64-byte minimum and 16-byte steps, from any start value
     * (PCLMULQDQ on x86-64 CPUs that have it, tables elsewhere: both must agree with zlib) */
    for (size_t off = 0; off < 17; off += 3)
        for (size_t len = 48; len < 1200; len += 5) {
            uint32_t start = (uint32_t)(len * 2654435761u);
            CHECK_EQ_U64(sp_crc32(start, rnd + off, len), crc32(start, rnd + off, (uInt)len));
        }

    static tbuild b;
    tb_begin(&b);
    tb_block_open(&b);
    double price = 3.25;
    uint64_t bits;
    memcpy(&bits, &price, 8);
    uint64_t meta[6] = {bits, 1, 2, 3, 4, 5};
    tb_rec(&b, SP_REC_META, 1, meta, 6);
    tb_text(&b, SP_REC_NAME, 9, 0, "gemm_f32");
    uint64_t req1[4] = {1, 1000, 905000, 37};
    tb_rec(&b, SP_REC_REQUEST, 0, req1, 4);
    uint64_t req2[4] = {2, 2000, 906000, (uint64_t)-1};
    tb_rec(&b, SP_REC_REQUEST, 0, req2, 4);
    uint64_t st1[3] = {1, 1000, 51000};
    tb_rec(&b, SP_REC_STAGE, SP_STAGE_PREPROCESS, st1, 3); /* id 1 needs no definition */
    tb_text(&b, SP_REC_LABEL, 7, 1, "abc-123");          /* after use: request 1 is renamed */
    uint64_t unknown[2] = {5, 6};
    tb_rec(&b, 200, 0, unknown, 2);                      /* a later version's record: skipped */
    uint64_t drops1[6] = {5, 0, 0, 0, 0, 0};
    tb_rec(&b, SP_REC_DROPS, 6, drops1, 6);
    tb_block_close(&b);
    tb_block_open(&b);
    uint64_t batch[7] = {7, 301000, 801000, 60, 80, 1, 2};
    tb_rec(&b, SP_REC_BATCH, 2, batch, 7);
    uint64_t kern[5] = {7, 3 | (5ull << 32), 11, 331000, 761000};
    tb_rec(&b, SP_REC_KERNEL, 9, kern, 5);
    uint64_t cp[6] = {SP_NO_BATCH, 0, 12, 4096, 301000, 321000};
    tb_rec(&b, SP_REC_COPY, SP_COPY_MEMSET, cp, 6);
    uint64_t la[3] = {11, 320000, 325000};
    tb_rec(&b, SP_REC_LAUNCH, 9, la, 3);
    tb_text(&b, SP_REC_LABEL, 7, 2, "abc-123");          /* collides with request 1's label */
    tb_text(&b, SP_REC_LABEL, 5, 3, "fresh");            /* labels a request not seen yet */
    uint64_t req3[4] = {3, 1, 2, 0};
    tb_rec(&b, SP_REC_REQUEST, 0, req3, 4);
    uint64_t drops2[6] = {9, 1, 0, 0, 2, 0};
    tb_rec(&b, SP_REC_DROPS, 6, drops2, 6);
    tb_rec(&b, SP_REC_END, 0, NULL, 0);
    tb_block_close(&b);

    sp_events *ev;
    char err[512];
    g_log[0] = '\0';
    sp_set_log(capture_log, NULL);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_OK);
    sp_set_log(NULL, NULL);
    /* the colliding label is named once, with the request that keeps its numeric id */
    CHECK(strstr(g_log, "label \"abc-123\" is already the id of another request") != NULL);
    CHECK(strstr(g_log, "request 2 keeps its numeric id") != NULL);
    CHECK(strstr(g_log, "labels were already the ids") == NULL); /* one only: no total */
    tt_lines got = {0}, want = {0};
    tt_lines_of(ev, &got);
    tt_add(&want, "R abc-123 1000 905000 37");
    tt_add(&want, "R 2 2000 906000 -1");
    tt_add(&want, "R fresh 1 2 0");
    tt_add(&want, "S abc-123 preprocess 1000 51000");
    tt_add(&want, "B 7 301000 801000 60 80 abc-123 2");
    char line[256];
    snprintf(line, sizeof line, "A %d gemm_f32 7 3 5 11 0 331000 761000", SP_ACT_KERNEL);
    tt_add(&want, line);
    snprintf(line, sizeof line, "A %d  -1 0 0 12 4096 301000 321000", SP_ACT_MEMSET);
    tt_add(&want, line);
    tt_add(&want, "L gemm_f32 11 320000 325000");
    tt_check_equal(&got, &want);
    tt_free(&got);
    tt_free(&want);
    CHECK_NEAR(ev->files[0].price_per_hour, 3.25, 0);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_BUFFER_FULL], 9);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_TOO_LARGE], 1);
    CHECK_EQ_U64(ev->files[0].drops[SP_DROP_REENTRANT], 2);
    CHECK_EQ_U64(ev->files[0].skipped, 1); /* the colliding label */
    /* the id map follows the rename: the label finds request 1, the old text finds nothing */
    uint32_t idx;
    size_t before = ev->n_requests;
    CHECK(sp_ev_request_ref(ev, 0, "abc-123", 7, &idx) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, before);
    char idtext[SP_EV_ID_TEXT];
    CHECK(strcmp(sp_ev_id_text(ev, &ev->requests[idx], idtext, NULL), "abc-123") == 0);
    CHECK(sp_ev_request_ref(ev, 0, "1", 1, &idx) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, before + 1);
    CHECK(sp_ev_finish(ev, true, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);

    /* Labels that are decimal text: requests made from numeric ids skip the model's text-id map
     * until the first label, so these check that the label still sees them. Label "2" on request 1
     * collides with request 2's id text (skipped, counted); label "9" on unseen request 4 makes a
     * request whose text is "9", and request id 9 then names that same request, as any text lookup
     * of "9" in this file would: its request record is that request's second, the same here (harmless;
     * a different one is malformed, below). */
    tb_begin(&b);
    tb_block_open(&b);
    uint64_t n1[4] = {1, 100, 200, 1}, n2[4] = {2, 300, 400, 2}, n4[4] = {4, 10, 20, 4},
             n9[4] = {9, 10, 20, 4};
    tb_rec(&b, SP_REC_REQUEST, 0, n1, 4);
    tb_rec(&b, SP_REC_REQUEST, 0, n2, 4);
    tb_text(&b, SP_REC_LABEL, 1, 1, "2");
    tb_text(&b, SP_REC_LABEL, 1, 4, "9");
    tb_rec(&b, SP_REC_REQUEST, 0, n4, 4);
    tb_rec(&b, SP_REC_REQUEST, 0, n9, 4);
    tb_block_close(&b);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_OK);
    tt_lines gotn = {0}, wantn = {0};
    tt_lines_of(ev, &gotn);
    tt_add(&wantn, "R 1 100 200 1");
    tt_add(&wantn, "R 2 300 400 2");
    tt_add(&wantn, "R 9 10 20 4");
    tt_check_equal(&gotn, &wantn);
    tt_free(&gotn);
    tt_free(&wantn);
    CHECK_EQ_U64(ev->n_requests, 3);
    CHECK_EQ_U64(ev->files[0].skipped, 1);
    /* the numeric requests are found by their text afterwards; they keep their numbers, so "2" (the
     * refused label's text and request 2's) was never interned, and "9" (the label) was */
    CHECK(sp_ev_request_ref(ev, 0, "1", 1, &idx) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 3);
    CHECK(strcmp(sp_ev_id_text(ev, &ev->requests[idx], idtext, NULL), "1") == 0);
    CHECK(ev->requests[idx].id_num && ev->requests[1].id_num && !ev->requests[2].id_num);
    CHECK(strcmp(sp_ev_id_text(ev, &ev->requests[1], idtext, NULL), "2") == 0);
    CHECK_EQ_U64(sp_str_find(&ev->strings, "2", 1), SP_EV_NONE);
    CHECK(sp_str_find(&ev->strings, "9", 1) == ev->requests[2].id);
    sp_events_destroy(ev);
    /* request 9's own life differs from request 4's: two lives under the text "9", named by it */
    tb_begin(&b);
    tb_block_open(&b);
    uint64_t n9b[4] = {9, 30, 40, 9};
    tb_text(&b, SP_REC_LABEL, 1, 4, "9");
    tb_rec(&b, SP_REC_REQUEST, 0, n4, 4);
    tb_rec(&b, SP_REC_REQUEST, 0, n9b, 4);
    tb_block_close(&b);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "second request record for request \"9\" (id 9)") != NULL);
    sp_events_destroy(ev);

    /* a stage using an undefined name id is malformed: error with its byte offset, or skipped */
    tb_begin(&b);
    tb_block_open(&b);
    tb_rec(&b, SP_REC_REQUEST, 0, req1, 4);
    size_t at = tb_rec(&b, SP_REC_STAGE, 42, st1, 3);
    tb_rec(&b, SP_REC_STAGE, SP_STAGE_QUEUE, st1, 3);
    tb_block_close(&b);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_ERR_PARSE);
    snprintf(line, sizeof line, "hand.sptrace: byte %zu:", at);
    CHECK(strstr(err, line) != NULL);
    CHECK(sp_events_load_skippable(ev) == 1);   /* lenient would have skipped it: the CLI says so */
    sp_events_destroy(ev);
    CHECK(load(&b, 1, &ev, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_skippable(ev) == 0);
    CHECK_EQ_U64(ev->n_spans, 1);
    CHECK_EQ_U64(ev->files[0].skipped, 1);
    sp_events_destroy(ev);

    /* wrong sizes and an unknown copy kind are malformed too */
    tb_begin(&b);
    tb_block_open(&b);
    tb_rec(&b, SP_REC_REQUEST, 0, req1, 3); /* 32 bytes, not 40 */
    tb_rec(&b, SP_REC_COPY, 9, cp, 6);      /* kind 9 */
    uint64_t bad_batch[6] = {1, 2, 3, 4, 5, 6};
    tb_rec(&b, SP_REC_BATCH, 3, bad_batch, 6); /* says 3 members, carries 1 */
    tb_block_close(&b);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "byte 32:") && strstr(err, "request"));
    sp_events_destroy(ev);
    CHECK(load(&b, 1, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->files[0].skipped, 3);
    CHECK_EQ_U64(ev->n_acts, 0);
    sp_events_destroy(ev);

    /* a record whose size runs past its block: the rest of the block is unusable */
    tb_begin(&b);
    tb_block_open(&b);
    tb_rec(&b, SP_REC_REQUEST, 0, req1, 4);
    at = tb_rec(&b, SP_REC_REQUEST, 0, req2, 4);
    sp_wr64(b.data + at, sp_rec_header(SP_REC_REQUEST, 4000, 0));
    tb_block_close(&b);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_ERR_PARSE);
    sp_events_destroy(ev);
    CHECK(load(&b, 1, &ev, err, sizeof err) == SP_OK);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.requests, 1);
    sp_events_destroy(ev);

    /* a meta price above SP_MAX_PRICE_PER_HOUR (1e300 here) is malformed, as the option refuses it;
     * lenient, the record is skipped and the file has no price */
    tb_begin(&b);
    tb_block_open(&b);
    double huge = 1e300;
    memcpy(&bits, &huge, 8);
    uint64_t hmeta[6] = {bits, 1, 2, 3, 4, 5};
    at = tb_rec(&b, SP_REC_META, 1, hmeta, 6);
    tb_rec(&b, SP_REC_REQUEST, 0, req1, 4);
    tb_block_close(&b);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_ERR_PARSE);
    snprintf(line, sizeof line, "hand.sptrace: byte %zu: meta price per hour above", at);
    CHECK(strstr(err, line) != NULL);
    sp_events_destroy(ev);
    CHECK(load(&b, 1, &ev, err, sizeof err) == SP_OK);
    CHECK(ev->files[0].price_per_hour <= 0);
    sp_events_destroy(ev);

    /* ids that all share their low bits (k << 24) pile up in the importer's id map until it switches
     * to mixed hashing: every one still loads */
    tb_begin(&b);
    tb_block_open(&b);
    for (uint64_t k = 1; k <= 300; k++) {
        uint64_t rq[4] = {k << 24, k, k + 1, 1};
        tb_rec(&b, SP_REC_REQUEST, 0, rq, 4);
        uint64_t sg[3] = {k << 24, k, k + 1};
        tb_rec(&b, SP_REC_STAGE, SP_STAGE_QUEUE, sg, 3);
    }
    tb_block_close(&b);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_OK);
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.requests, 300);
    CHECK_EQ_U64(ev->n_requests, 300);
    CHECK_EQ_U64(s.stage_spans, 300);
    sp_events_destroy(ev);

    /* Messages name a record's file offset in a later block too (the block's payload offset plus
     * the record's place in it), and the name lookups: a kernel or launch with name id 0 has no
     * name; name id 0 for a stage, an id never defined and one past every definition are
     * malformed. Each bad record sits in the second block between good ones: strict, an error at
     * its offset (counted here from the bytes written); lenient, skipped and the rest loaded. */
    static const struct {
        uint32_t type, aux;
        const char *what;
    } badrec[] = {
        {SP_REC_STAGE, 0, "stage record uses a stage name id that was never defined"},
        {SP_REC_STAGE, 77, "stage record uses a stage name id that was never defined"},
        {SP_REC_STAGE, 900000, "stage record uses a stage name id that was never defined"},
        {SP_REC_KERNEL, 77, "kernel record uses a name id that was never defined"},
        {SP_REC_KERNEL, 900000, "kernel record uses a name id that was never defined"},
        {SP_REC_LAUNCH, 77, "launch record uses a name id that was never defined"},
        {SP_REC_LAUNCH, 900000, "launch record uses a name id that was never defined"},
        {SP_REC_REQUEST, 0, "request record of the wrong size (40 bytes expected)"},
    };
    for (size_t c = 0; c < sizeof badrec / sizeof *badrec; c++) {
        tb_begin(&b);
        tb_block_open(&b);
        tb_text(&b, SP_REC_NAME, 9, 0, "gemm_f32");
        tb_rec(&b, SP_REC_REQUEST, 0, req1, 4);
        tb_rec(&b, SP_REC_STAGE, SP_STAGE_QUEUE, st1, 3);
        tb_block_close(&b);
        tb_block_open(&b);
        tb_rec(&b, SP_REC_REQUEST, 0, req2, 4);
        uint64_t w[5] = {2, 3, 11, 331000, 761000}; /* the first 3 or 5 words of each kind's record */
        size_t nw = badrec[c].type == SP_REC_STAGE ? 3 : badrec[c].type == SP_REC_KERNEL ? 5 : 3;
        at = tb_rec(&b, badrec[c].type, badrec[c].aux, w, nw);
        uint64_t st2[3] = {2, 2000, 52000};
        tb_rec(&b, SP_REC_STAGE, SP_STAGE_POSTPROCESS, st2, 3);
        tb_rec(&b, SP_REC_KERNEL, 0, kern, 5); /* no name: loaded */
        tb_rec(&b, SP_REC_LAUNCH, 0, la, 3);   /* no name: loaded */
        tb_block_close(&b);
        CHECK(at > b.block_start + 16);
        CHECK(load(&b, 0, &ev, err, sizeof err) == SP_ERR_PARSE);
        snprintf(line, sizeof line, "hand.sptrace: byte %zu: %s", at, badrec[c].what);
        CHECK(strstr(err, line) != NULL);
        if (!strstr(err, line))
            fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", c, err, line);
        sp_events_destroy(ev);
        CHECK(load(&b, 1, &ev, err, sizeof err) == SP_OK);
        CHECK_EQ_U64(ev->files[0].skipped, 1);
        tt_lines gotb = {0}, wantb = {0};
        tt_lines_of(ev, &gotb);
        tt_add(&wantb, "R 1 1000 905000 37");
        tt_add(&wantb, "R 2 2000 906000 -1");
        tt_add(&wantb, "S 1 queue 1000 51000");
        tt_add(&wantb, "S 2 postprocess 2000 52000");
        snprintf(line, sizeof line, "A %d  7 3 5 11 0 331000 761000", SP_ACT_KERNEL);
        tt_add(&wantb, line);
        tt_add(&wantb, "L  11 320000 325000");
        tt_check_equal(&gotb, &wantb);
        tt_free(&gotb);
        tt_free(&wantb);
        sp_events_destroy(ev);
    }

    /* a second block whose payload ends in 4 bytes that cannot hold a record header, and one whose
     * record runs past the block's end: errors at those bytes' file offsets; lenient, the records
     * before them load */
    for (int cut = 0; cut < 2; cut++) {
        tb_begin(&b);
        tb_block_open(&b);
        tb_rec(&b, SP_REC_REQUEST, 0, req1, 4);
        tb_block_close(&b);
        tb_block_open(&b);
        tb_rec(&b, SP_REC_REQUEST, 0, req2, 4);
        at = b.len;
        if (cut == 0) {
            sp_wr32(b.data + b.len, 0x00280003u);
            b.len += 4;
        } else {
            at = tb_rec(&b, SP_REC_REQUEST, 0, req3, 4);
            sp_wr64(b.data + at, sp_rec_header(SP_REC_REQUEST, 48, 0));
        }
        tb_block_close(&b);
        CHECK(load(&b, 0, &ev, err, sizeof err) == SP_ERR_PARSE);
        snprintf(line, sizeof line, "hand.sptrace: byte %zu: %s", at,
                 cut == 0 ? "record header cut off inside a block"
                          : "record size is not a multiple of 8 within its block");
        CHECK(strstr(err, line) != NULL);
        if (!strstr(err, line))
            fprintf(stderr, "cut %d: got \"%s\", want \"%s\"\n", cut, err, line);
        sp_events_destroy(ev);
        CHECK(load(&b, 1, &ev, err, sizeof err) == SP_OK);
        CHECK_EQ_U64(ev->files[0].skipped, 1);
        CHECK_EQ_U64(ev->n_requests, 2);
        sp_events_destroy(ev);
    }

    /* request ids out of order: new ones inside the reader's id table (made inline), one far past it
     * (the table's hash map), then new ones inside the table again (with the map no longer empty:
     * through the map's route); each record lands on its own request, and the requests come in
     * first-appearance order */
    tb_begin(&b);
    tb_block_open(&b);
    static const struct {
        uint32_t type;
        uint64_t id;
    } seq[] = {{SP_REC_STAGE, 7}, {SP_REC_STAGE, 3},       {SP_REC_REQUEST, 9}, {SP_REC_STAGE, 3},
               {SP_REC_REQUEST, 7}, {SP_REC_STAGE, 5},     {SP_REC_STAGE, 1000000}, {SP_REC_REQUEST, 8},
               {SP_REC_STAGE, 1000000}, {SP_REC_STAGE, 8}, {SP_REC_REQUEST, 3}, {SP_REC_STAGE, 9},
               {SP_REC_STAGE, 4}};
    for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
        uint64_t t = 100 * (i + 1);
        if (seq[i].type == SP_REC_STAGE) {
            uint64_t sw[3] = {seq[i].id, t, t + 50};
            tb_rec(&b, SP_REC_STAGE, SP_STAGE_QUEUE, sw, 3);
        } else {
            uint64_t rw[4] = {seq[i].id, t, t + 90, i};
            tb_rec(&b, SP_REC_REQUEST, 0, rw, 4);
        }
    }
    tb_block_close(&b);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_OK);
    static const char *const order[] = {"7", "3", "9", "5", "1000000", "8", "4"};
    CHECK_EQ_U64(ev->n_requests, 7);
    for (size_t i = 0; i < 7 && i < ev->n_requests; i++)
        CHECK(strcmp(sp_ev_id_text(ev, &ev->requests[i], idtext, NULL), order[i]) == 0);
    tt_lines goto_ = {0}, wanto = {0};
    tt_lines_of(ev, &goto_);
    tt_add(&wanto, "S 7 queue 100 150");
    tt_add(&wanto, "S 3 queue 200 250");
    tt_add(&wanto, "R 9 300 390 2");
    tt_add(&wanto, "S 3 queue 400 450");
    tt_add(&wanto, "R 7 500 590 4");
    tt_add(&wanto, "S 5 queue 600 650");
    tt_add(&wanto, "S 1000000 queue 700 750");
    tt_add(&wanto, "R 8 800 890 7");
    tt_add(&wanto, "S 1000000 queue 900 950");
    tt_add(&wanto, "S 8 queue 1000 1050");
    tt_add(&wanto, "R 3 1100 1190 10");
    tt_add(&wanto, "S 9 queue 1200 1250");
    tt_add(&wanto, "S 4 queue 1300 1350");
    tt_check_equal(&goto_, &wanto);
    tt_free(&goto_);
    tt_free(&wanto);
    sp_events_destroy(ev);

    /* Batch records through the members array's growth (a batch's members go straight into the
     * model's array when it has room, through a copy when it must grow): 600 records of 0 to 5
     * members (the first one empty, before the array exists), later records of 100 batch ids
     * replacing their members, and a step record for batch 5 replaced by a batch record (the step
     * goes) while batch 6's step record after its batch record stays. Expected lines from the
     * records written, the last record of each id winning. The pipeline grows the arrays before
     * each block, so it takes the direct route; the serial path (test_native_import_serial) takes
     * the copy at each doubling (a mutation in either route fails its test). */
    {
        static tbuild bb;
        tb_begin(&bb);
        tb_block_open(&bb);
        for (uint64_t q = 1; q <= 40; q++) {
            uint64_t rw[4] = {q, q, q + 1, 0};
            tb_rec(&bb, SP_REC_REQUEST, 0, rw, 4);
        }
        enum { NB = 600, IDS = 500 };
        static char wantline[IDS + 1][256];
        for (uint64_t i = 0; i < NB; i++) {
            if (bb.len > sizeof bb.data - 200) {
                CHECK(0);
                break;
            }
            if (i % 150 == 149) { /* a few blocks */
                tb_block_close(&bb);
                tb_block_open(&bb);
            }
            uint64_t id = i < IDS ? i + 1 : (i * 7) % IDS + 1; /* the last 300 repeat earlier ids */
            uint32_t n = (uint32_t)((i * 5 + id) % 6);
            if (i == 0)
                n = 0;
            uint64_t w[5 + 5] = {id, 1000 + i, 2000 + i, n, 8};
            int k = snprintf(wantline[id], sizeof wantline[id], "B %llu %llu %llu %u 8", (unsigned long long)id,
                             (unsigned long long)(1000 + i), (unsigned long long)(2000 + i), n);
            for (uint32_t m = 0; m < n; m++) {
                w[5 + m] = (i * 3 + m * 11) % 40 + 1;
                k += snprintf(wantline[id] + k, sizeof wantline[id] - (size_t)k, " %llu",
                              (unsigned long long)w[5 + m]);
            }
            if (id == 5 && i == 4) { /* batch 5: a step record first, then this batch record */
                uint64_t sw[9] = {5, 1, 2, 3, 8, 0, 0, 1, 3};
                tb_rec(&bb, SP_REC_STEP, 1, sw, 9);
            }
            tb_rec(&bb, SP_REC_BATCH, n, w, 5 + n);
            if (id == 6 && i == 5) { /* batch 6: its step record after the batch record */
                uint64_t sw[9] = {6, 1, 2, 3, 8, 0, 0, 2, 3};
                tb_rec(&bb, SP_REC_STEP, 1, sw, 9);
                snprintf(wantline[6], sizeof wantline[6], "B 6 1 2 3 8 2");
            }
        }
        tb_block_close(&bb);
        CHECK(bb.len <= sizeof bb.data);
        CHECK(load(&bb, 0, &ev, err, sizeof err) == SP_OK);
        CHECK_EQ_U64(ev->n_batches, IDS);
        tt_lines gotb = {0}, wantb = {0};
        tt_lines_of(ev, &gotb);
        for (uint64_t q = 1; q <= 40; q++) {
            snprintf(line, sizeof line, "R %llu %llu %llu 0", (unsigned long long)q, (unsigned long long)q,
                     (unsigned long long)(q + 1));
            tt_add(&wantb, line);
        }
        for (int id = 1; id <= IDS; id++)
            tt_add(&wantb, wantline[id]);
        tt_check_equal(&gotb, &wantb);
        tt_free(&gotb);
        tt_free(&wantb);
        CHECK(ev->n_batches >= 6 && ev->batches[4].step == SP_EV_NONE && ev->batches[5].step != SP_EV_NONE);
        sp_events_destroy(ev);
    }

    /* empty blocks (no payload, so no buffer may have been made for one yet) first and between
     * others: nothing to parse, nothing lost */
    tb_begin(&b);
    tb_block_open(&b);
    tb_block_close(&b);
    tb_block_open(&b);
    tb_rec(&b, SP_REC_REQUEST, 0, req1, 4);
    tb_block_close(&b);
    tb_block_open(&b);
    tb_block_close(&b);
    tb_block_open(&b);
    tb_rec(&b, SP_REC_REQUEST, 0, req2, 4);
    tb_block_close(&b);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_requests, 2);
    CHECK_EQ_U64(ev->files[0].skipped + ev->files[0].lost_regions, 0);
    sp_events_destroy(ev);

    /* a file that is only a header is an empty trace */
    tb_begin(&b);
    CHECK(load(&b, 0, &ev, err, sizeof err) == SP_OK);
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.files, 1);
    CHECK_EQ_U64(s.requests + s.stage_spans + s.skipped, 0);
    sp_events_destroy(ev);
    return sp_test_done("test_native_import");
}
