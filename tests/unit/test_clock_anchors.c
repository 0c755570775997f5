/* Replicas' native traces from different hosts put on one clock by their wall-clock anchors (the meta
 * record's monotonic and realtime clocks at open; import.c, align_file; docs/cli.md): hand-built
 * traces (docs/native-format.md, byte by byte) whose anchors differ by 3 days (another host's boot)
 * and by 200 us (one host, NTP's slew), and a native trace beside a one-span OTLP trace (Unix time,
 * anchor 0). The text and HTML reports' sentence is checked word for word. The expected times, window and bill are worked out by hand
 * below from the records written here. */
#include <zlib.h>

#include "ev_build.h"
#include "format/native_format.h"
#include "servprof/report.h"
#include "trace_testutil.h"

static char g_log[8192];

static void capture_log(void *user, sp_log_level level, const char *message)
{
    (void)user;
    (void)level;
    size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof g_log - n, "%s\n", message);
}

typedef struct tbuild {
    unsigned char data[4096];
    size_t len;
    uint32_t records;
} tbuild;

static void tb_rec(tbuild *b, uint32_t type, uint32_t aux, const uint64_t *w, size_t n)
{
    sp_wr64(b->data + b->len, sp_rec_header(type, (uint32_t)(8 + 8 * n), aux));
    b->len += 8;
    for (size_t i = 0; i < n; i++, b->len += 8)
        sp_wr64(b->data + b->len, w[i]);
    b->records++;
}

#define S 1000000000ull          /* ns per second */
#define PRICE 3.6                /* $/h in both traces' meta */
#define T0 (200 * S)             /* host A's monotonic time of its request's arrival */
#define MONO_A (50 * S)          /* host A's monotonic clock at open */
#define REAL (1750000000ull * S) /* both hosts' realtime clock at open (the same instant) */
#define BOOT (259200 * S)        /* host B booted 3 days before host A: its monotonic clock is ahead */

/* One replica's trace in one block: the meta record with the clocks read at open (mono 0: none read),
 * then request 1 arriving at t, done 1 ms later, a queue span [t, t + 100 us), batch 7 holding it
 * [t + 100 us, t + 900 us) with a kernel [t + 200 us, t + 800 us), the kernel's launch, and `end`. */
static void replica(tbuild *b, uint64_t mono, uint64_t real, uint64_t t)
{
    memcpy(b->data, "SPTRACE1", 8);
    sp_wr32(b->data + 8, 1);
    sp_wr32(b->data + 12, 16);
    b->len = 32;   /* the file header, then the block header written last */
    b->records = 0;
    uint64_t bits;
    double price = PRICE;
    memcpy(&bits, &price, 8);
    uint64_t meta[6] = {bits, 1, mono, real, 4096, 4};
    tb_rec(b, SP_REC_META, 1, meta, 6);
    uint64_t name[1];
    memcpy(name, "gemm\0\0\0", 8);
    tb_rec(b, SP_REC_NAME, 9, name, 1);
    uint64_t req[4] = {1, t, t + 1000000, 16};
    tb_rec(b, SP_REC_REQUEST, 0, req, 4);
    uint64_t st[3] = {1, t, t + 100000};
    tb_rec(b, SP_REC_STAGE, SP_STAGE_QUEUE, st, 3);
    uint64_t batch[6] = {7, t + 100000, t + 900000, 16, 16, 1};
    tb_rec(b, SP_REC_BATCH, 1, batch, 6);
    uint64_t kern[5] = {7, 0, 11, t + 200000, t + 800000};
    tb_rec(b, SP_REC_KERNEL, 9, kern, 5);
    uint64_t la[3] = {11, t + 150000, t + 160000};
    tb_rec(b, SP_REC_LAUNCH, 9, la, 3);
    tb_rec(b, SP_REC_END, 0, NULL, 0);
    unsigned char *h = b->data + 16;
    uint32_t plen = (uint32_t)(b->len - 32);
    sp_wr32(h, SP_NATIVE_BLOCK_MAGIC);
    sp_wr32(h + 4, plen);
    sp_wr32(h + 8, b->records);
    uLong crc = crc32(0L, h, 12);
    crc = crc32(crc, h + 16, plen);
    sp_wr32(h + 12, (uint32_t)crc);
}

static sp_events *new_set(void)
{
    sp_events *ev = NULL;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    return ev;
}

static sp_events *load2(const tbuild *a, const tbuild *b)
{
    sp_events *ev = new_set();
    char err[512];
    g_log[0] = '\0';
    sp_set_log(capture_log, NULL);
    CHECK(sp_events_load_buffer(ev, "a.sptrace", a->data, a->len, NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "b.sptrace", b->data, b->len, NULL, err, sizeof err) == SP_OK);
    sp_set_log(NULL, NULL);
    return ev;
}

/* The JSON report of `ev` (analysed here) into a malloc'd string. */
static char *json_of(sp_events *ev, sp_report **keep)
{
    sp_report *r = eb_analyze(ev, NULL);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL && sp_report_write_json(r, f) == SP_OK);
    fclose(f);
    if (keep)
        *keep = r;
    else
        sp_report_destroy(r);
    return text;
}

/* noinline: inlined, gcc 12 takes the returned text for a pointer to the local `text` (-Wdangling-pointer) */
__attribute__((noinline)) static char *html_of(const sp_report *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL && sp_report_write_html(r, NULL, f) == SP_OK);
    fclose(f);
    return text;
}

static char *text_of(const sp_report *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL && sp_report_write_text(r, f) == SP_OK);
    fclose(f);
    return text;
}

/* A request's times in file `file` (its only one). */
static const sp_ev_request *req_of(const sp_events *ev, uint32_t file)
{
    for (size_t i = 0; i < ev->n_requests; i++)
        if (ev->requests[i].file == file)
            return &ev->requests[i];
    CHECK(!"no request");
    return &ev->requests[0];
}

int main(void)
{
    static tbuild a, b, c, u;
    const int64_t off_a = (int64_t)(REAL - MONO_A);
    /* host B's request arrives 500 us after host A's, by the wall clock: its monotonic time is host
     * A's + 3 days + 500 us */
    replica(&a, MONO_A, REAL, T0);
    replica(&b, MONO_A + BOOT, REAL, T0 + BOOT + 500000);

    /* 1. different hosts: every time of b moves by its anchor - a's = -3 days, onto a's clock */
    sp_events *ev = load2(&a, &b);
    CHECK(strstr(g_log, "apart") == NULL);   /* no gap left to warn about */
    CHECK(!ev->files[0].clock_shifted);
    CHECK(ev->files[1].clock_shifted);
    CHECK(ev->files[1].clock_shift_ns == -(int64_t)BOOT);
    CHECK_EQ_U64(ev->files[1].clock_onto, 0);
    CHECK(ev->files[1].unix_offset_ns == off_a);   /* the shifted times are still the same Unix times */
    const sp_ev_request *q = req_of(ev, 1);
    CHECK_EQ_U64(q->arrival_ns, T0 + 500000);
    CHECK_EQ_U64(q->done_ns, T0 + 1500000);
    for (size_t i = 0; i < ev->n_spans; i++)
        if (ev->requests[ev->spans[i].req].file == 1) {
            CHECK_EQ_U64(ev->spans[i].start_ns, T0 + 500000);
            CHECK_EQ_U64(ev->spans[i].end_ns, T0 + 600000);
        }
    for (size_t i = 0; i < ev->n_batches; i++)
        if (ev->batches[i].file == 1) {
            CHECK_EQ_U64(ev->batches[i].start_ns, T0 + 600000);
            CHECK_EQ_U64(ev->batches[i].end_ns, T0 + 1400000);
        }
    for (size_t i = 0; i < ev->n_acts; i++)
        if (ev->acts[i].file == 1) {
            CHECK_EQ_U64(ev->acts[i].start_ns, T0 + 700000);
            CHECK_EQ_U64(ev->acts[i].end_ns, T0 + 1300000);
        }
    for (size_t i = 0; i < ev->n_launches; i++)
        if (ev->launches[i].file == 1) {
            CHECK_EQ_U64(ev->launches[i].start_ns, T0 + 650000);
            CHECK_EQ_U64(ev->launches[i].end_ns, T0 + 660000);
        }
    /* window: a's arrival T0 to b's done T0 + 1.5 ms = 1.5 ms (not 3 days); bill: $3.6/h x 1.5 ms =
     * 3.6 x 0.0015 / 3600 = $1.5e-6 */
    sp_report *r;
    char *js = json_of(ev, &r);
    CHECK_EQ_U64(r->cost.window_ns, 1500000);
    CHECK_NEAR(r->cost.bill, 1.5e-6, 1e-18);
    CHECK(strstr(js, "\"skipped\":0,\"clock_shift_ns\":-259200000000000,\"clock_onto_file\":0}") != NULL);
    CHECK(strstr(strstr(js, "clock_shift_ns") + 1, "clock_shift_ns") == NULL);   /* a's entry has none */
    char *tx = text_of(r);
    CHECK(strstr(tx, "clocks: b.sptrace's times moved -3.0 days (-259200000000000 ns) onto a.sptrace's "
                     "clock") != NULL);
    /* the HTML page's data quality says it in the same words (its apostrophes escaped) */
    char *page = html_of(r);
    const char *sec = strstr(page, "<section id=\"quality\">");
    CHECK(sec != NULL);
    CHECK(sec && strstr(sec, "<p class=\"note\">clocks: b.sptrace&#39;s times moved -3.0 days (-259200000000000 ns) "
                             "onto a.sptrace&#39;s clock by the files&#39; wall-clock anchors (different hosts or "
                             "boots): aligned only as well as the hosts&#39; clocks agree (NTP)</p>") != NULL);
    free(page);
    /* export --otlp: b's request starts at its own Unix time, T0 + 3 days + 500 us + b's anchor */
    char *otlp = NULL;
    size_t olen = 0;
    FILE *of = open_memstream(&otlp, &olen);
    char err[512];
    CHECK(of != NULL && sp_report_write_otlp(ev, NULL, of, NULL, err, sizeof err) == SP_OK);
    fclose(of);
    char want[64];
    snprintf(want, sizeof want, "\"%llu\"",
             (unsigned long long)(T0 + BOOT + 500000 + (uint64_t)(off_a - (int64_t)BOOT)));
    CHECK(strstr(otlp, want) != NULL);
    snprintf(want, sizeof want, "\"%llu\"", (unsigned long long)(T0 + (uint64_t)off_a));
    CHECK(strstr(otlp, want) != NULL);   /* and a's at its own */
    free(otlp);
    free(tx);
    free(js);
    sp_report_destroy(r);
    sp_events_destroy(ev);

    /* 2. without b's anchor (no clock read): today's warning, times as recorded, window 3 days */
    replica(&u, 0, 0, T0 + BOOT + 500000);
    ev = load2(&a, &u);
    CHECK(strstr(g_log, "b.sptrace: its times and the earlier files' are 3 days apart") != NULL);
    CHECK(!ev->files[1].clock_shifted);
    CHECK_EQ_U64(req_of(ev, 1)->arrival_ns, T0 + BOOT + 500000);
    js = json_of(ev, &r);
    CHECK_EQ_U64(r->cost.window_ns, BOOT + 1500000);
    CHECK(strstr(js, "clock_shift") == NULL);
    free(js);
    sp_report_destroy(r);
    sp_events_destroy(ev);

    /* 3. one host (anchors 200 us apart, NTP's slew): exact times, and the very report of the same
     * files without b's anchor, so no multi-file report of one host changes */
    replica(&c, MONO_A + 600000, REAL + 800000, T0 + 500000);   /* anchor a's + 200 us */
    replica(&u, 0, 0, T0 + 500000);
    ev = load2(&a, &c);
    CHECK(g_log[0] == '\0');
    CHECK(!ev->files[1].clock_shifted);
    CHECK(ev->files[1].unix_offset_ns == off_a + 200000);
    CHECK_EQ_U64(req_of(ev, 1)->arrival_ns, T0 + 500000);
    js = json_of(ev, NULL);
    sp_events *ev2 = load2(&a, &u);
    char *js2 = json_of(ev2, NULL);
    CHECK(strcmp(js, js2) == 0);
    CHECK(strstr(js, "clock_shift") == NULL);
    free(js);
    free(js2);
    sp_events_destroy(ev);
    sp_events_destroy(ev2);

    /* 4. a shift that would take times below 0 (b's anchor 1000 s below a's, its times ~200 s):
     * refused with a warning naming both files, times as recorded */
    replica(&c, MONO_A + 1000 * S, REAL, T0);
    ev = load2(&a, &c);
    CHECK(strstr(g_log, "b.sptrace: its wall-clock anchor") != NULL && strstr(g_log, "a.sptrace's") != NULL);
    CHECK(!ev->files[1].clock_shifted);
    CHECK_EQ_U64(req_of(ev, 1)->arrival_ns, T0);
    sp_events_destroy(ev);

    /* 5. a JSONL trace's anchor (its meta's unix_offset_ns) counts as a native one's: 3 days ahead */
    char jl[512];
    snprintf(jl, sizeof jl,
             "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"unix_offset_ns\":%lld}\n"
             "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":%llu,\"done_ns\":%llu}\n",
             (long long)(off_a - (int64_t)BOOT), (unsigned long long)(T0 + BOOT + 100),
             (unsigned long long)(T0 + BOOT + 300));
    ev = new_set();
    CHECK(sp_events_load_buffer(ev, "a.sptrace", a.data, a.len, NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "b.jsonl", jl, strlen(jl), NULL, err, sizeof err) == SP_OK);
    CHECK(ev->files[1].clock_shifted && ev->files[1].clock_shift_ns == -(int64_t)BOOT);
    CHECK_EQ_U64(req_of(ev, 1)->arrival_ns, T0 + 100);
    CHECK_EQ_U64(req_of(ev, 1)->done_ns, T0 + 300);
    sp_events_destroy(ev);

    /* 6. a JSONL trace from another host holding its own client records (one clock: offset 0,
     * "same_trace"): they move with its requests, so each still encloses its request (client send
     * 50 ns before arrival, done 50 ns after), no violation, and the client life is 300 ns */
    char mixed[768];
    snprintf(mixed, sizeof mixed,
             "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"unix_offset_ns\":%lld}\n"
             "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":%llu,\"done_ns\":%llu}\n"
             "{\"ev\":\"client\",\"id\":\"r1\",\"intended_ns\":%llu,\"send_ns\":%llu,\"done_ns\":%llu,"
             "\"status\":200}\n",
             (long long)(off_a - (int64_t)BOOT), (unsigned long long)(T0 + BOOT + 100),
             (unsigned long long)(T0 + BOOT + 300), (unsigned long long)(T0 + BOOT + 40),
             (unsigned long long)(T0 + BOOT + 50), (unsigned long long)(T0 + BOOT + 350));
    ev = new_set();
    CHECK(sp_events_load_buffer(ev, "a.sptrace", a.data, a.len, NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "b.jsonl", mixed, strlen(mixed), NULL, err, sizeof err) == SP_OK);
    CHECK(ev->files[1].clock_shifted);
    CHECK_EQ_U64(ev->n_clients, 1);
    CHECK_EQ_U64(ev->clients[0].intended_ns, T0 + 40);
    CHECK_EQ_U64(ev->clients[0].send_ns, T0 + 50);
    CHECK_EQ_U64(ev->clients[0].done_ns, T0 + 350);
    r = eb_analyze(ev, NULL);
    CHECK_EQ_U64(r->n_clock_offsets, 1);
    if (r->n_clock_offsets == 1) {
        CHECK(r->clock_offsets[0].source == SP_CLOCK_SAME_TRACE);
        CHECK(r->clock_offsets[0].offset_ns == 0);
        CHECK_EQ_U64(r->clock_offsets[0].violations, 0);
        CHECK(r->clock_offsets[0].lower_ns == -50 && r->clock_offsets[0].upper_ns == 50);
    }
    sp_report_destroy(r);
    sp_events_destroy(ev);

    /* 7. an OTLP trace after a native one: its times are Unix time, its anchor 0, so it moves by
     * 0 - a's anchor = -(REAL - MONO_A) onto a's monotonic clock. Its request runs from the Unix time
     * of a's T0 + 500 us to that of T0 + 1.5 ms, i.e. T0 + 500 us to T0 + 1.5 ms on a's clock: the
     * window is a's arrival T0 to T0 + 1.5 ms = 1.5 ms. */
    char ot[1024];
    snprintf(ot, sizeof ot,
             "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
             "{\"stringValue\":\"b\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"app\"},\"spans\":[{\"traceId\":"
             "\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\",\"parentSpanId\":\"\",\"name\":"
             "\"POST /v1/embed\",\"kind\":2,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\"}]}]}]}\n",
             (unsigned long long)(T0 + 500000 + (uint64_t)off_a), (unsigned long long)(T0 + 1500000 + (uint64_t)off_a));
    ev = new_set();
    CHECK(sp_events_load_buffer(ev, "a.sptrace", a.data, a.len, NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "b.json", ot, strlen(ot), NULL, err, sizeof err) == SP_OK);
    CHECK(ev->files[1].clock_shifted && ev->files[1].clock_shift_ns == -off_a);
    CHECK_EQ_U64(req_of(ev, 1)->arrival_ns, T0 + 500000);
    CHECK_EQ_U64(req_of(ev, 1)->done_ns, T0 + 1500000);
    js = json_of(ev, &r);
    CHECK_EQ_U64(r->cost.window_ns, 1500000);
    /* -(1750000000 s - 50 s) = -1749999950 s */
    CHECK(strstr(js, "\"clock_shift_ns\":-1749999950000000000,\"clock_onto_file\":0}") != NULL);
    free(js);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    /* the other order: the OTLP file keeps its Unix times and the native one moves by +(REAL - MONO_A)
     * onto them; the same window */
    ev = new_set();
    CHECK(sp_events_load_buffer(ev, "b.json", ot, strlen(ot), NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "a.sptrace", a.data, a.len, NULL, err, sizeof err) == SP_OK);
    CHECK(!ev->files[0].clock_shifted);
    CHECK(ev->files[1].clock_shifted && ev->files[1].clock_shift_ns == off_a);
    CHECK_EQ_U64(req_of(ev, 1)->arrival_ns, T0 + (uint64_t)off_a);
    js = json_of(ev, &r);
    CHECK_EQ_U64(r->cost.window_ns, 1500000);
    CHECK(strstr(js, "\"clock_shift_ns\":1749999950000000000,\"clock_onto_file\":0}") != NULL);
    free(js);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return sp_test_done("test_clock_anchors");
}
