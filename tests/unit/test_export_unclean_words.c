/* The words for a trace without its end record, native and exported (docs/otlp.md "Export"): a native
 * trace cut as kill -9 leaves it (bytes taken after a flush, before close) keeps "killed.sptrace has no
 * end record" and "dropped by the recorder up to its last count"; its OTLP export (servprof.trace_end
 * "unclean") is a whole file, so its report says the trace exported to it had no end record, in the
 * outcome line, the loss sentence and the HTML, and loaded beside a native trace that closed cleanly
 * the drop counts (that trace's, complete) are not said to stop at a last count. The expected words are
 * the writers' own (src/report/text.c, html.c, src/model/loss.c); before, the export read like a native
 * trace ("e.jsonl has no end record", "up to its last count"). */
#include <sys/stat.h>

#include "servprof/report.h"
#include "trace_testutil.h"

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    struct stat sb;
    if (!fp || stat(path, &sb) != 0)
        exit(1);
    *n = (size_t)sb.st_size;
    unsigned char *f = malloc(*n ? *n : 1);
    if (!f || fread(f, 1, *n, fp) != *n)
        exit(1);
    fclose(fp);
    return f;
}

/* Loads each (name, bytes) into one set and analyses it; exits the test on failure. */
static sp_report *analyze_bufs(sp_events **ev_out, size_t n, const char *const *names,
                               const unsigned char *const *data, const size_t *len)
{
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[512] = "";
    for (size_t i = 0; i < n; i++) {
        sp_status st = sp_events_load_buffer(ev, names[i], data[i], len[i], NULL, err, sizeof err);
        if (st != SP_OK) {
            fprintf(stderr, "loading %s failed: %s\n", names[i], err);
            exit(1);
        }
    }
    sp_report *r = NULL;
    if (sp_analyze(ev, NULL, &r, err, sizeof err) != SP_OK) {
        fprintf(stderr, "analysis failed: %s\n", err);
        exit(1);
    }
    *ev_out = ev;
    return r;
}

/* The report's text (html 0) or HTML (html 1) with each run of white space made one space, so that a
 * sentence the text writer wrapped reads whole. Owned by the caller. */
static char *report_flat(const sp_report *r, const sp_events *ev, int html)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    CHECK((html ? sp_report_write_html(r, ev, f) : sp_report_write_text(r, f)) == SP_OK);
    fclose(f);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int space = buf[i] == ' ' || buf[i] == '\n';
        if (space && o > 0 && buf[o - 1] == ' ')
            continue;
        buf[o++] = space ? ' ' : buf[i];
    }
    buf[o] = '\0';
    return buf;
}

static void check_has(const char *text, const char *want, int present)
{
    if ((strstr(text, want) != NULL) != present) {
        fprintf(stderr, "the report %s \"%s\"\n", present ? "lacks" : "has", want);
        CHECK(0);
    }
}

int main(void)
{
    /* a trace cut as kill -9 leaves it: request 1 done, request 2 in flight (preprocessed only) */
    char path[256];
    tt_path(path, "exportwords-cut");
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_record_stage(rec, 1, SP_STAGE_PREPROCESS, 1000, 2000);
    sp_record_request(rec, 1, 1000, 5000, 10);
    sp_record_stage(rec, 2, SP_STAGE_PREPROCESS, 3000, 3200);
    CHECK(sp_recorder_flush(rec) == SP_OK);
    size_t n_cut;
    unsigned char *cut = read_all(path, &n_cut);
    CHECK(sp_recorder_close(rec) == SP_OK);
    unlink(path);
    /* a trace closed cleanly: request 1 alone */
    tt_path(path, "exportwords-clean");
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    sp_record_request(rec, 1, 1000, 5000, 10);
    CHECK(sp_recorder_close(rec) == SP_OK);
    size_t n_clean;
    unsigned char *clean = read_all(path, &n_clean);
    unlink(path);

    /* the native trace keeps its words */
    sp_events *ev;
    const char *names1[] = {"killed.sptrace"};
    const unsigned char *data1[] = {cut};
    size_t len1[] = {n_cut};
    sp_report *r = analyze_bufs(&ev, 1, names1, data1, len1);
    CHECK_EQ_U64(r->unclean_files, 1);
    CHECK(r->file_quality[0].loss.end == SP_TRACE_END_UNCLEAN && !r->file_quality[0].loss.end_by_export);
    char *text = report_flat(r, ev, 0);
    check_has(text, "the recorder did not close cleanly: killed.sptrace has no end record (killed, crashed or "
                    "still writing); requests in flight are unfinished, measured to the trace's last time", 1);
    check_has(text, "dropped by the recorder up to its last count (", 1);
    check_has(text, "lost: killed.sptrace: the recorder did not close cleanly (no end record)", 1);
    free(text);
    /* its export says it did not close cleanly */
    char *otlp = NULL;
    size_t n_otlp = 0;
    FILE *f = open_memstream(&otlp, &n_otlp);
    CHECK(f != NULL);
    char err[512] = "";
    CHECK(sp_report_write_otlp(ev, NULL, f, NULL, err, sizeof err) == SP_OK);
    fclose(f);
    CHECK(strstr(otlp, "{\"key\":\"servprof.trace_end\",\"value\":{\"stringValue\":\"unclean\"}}") != NULL);
    sp_report_destroy(r);
    sp_events_destroy(ev);

    /* the export beside the clean native trace: the export's words, and complete drop counts */
    const char *names2[] = {"clean.sptrace", "e.jsonl"};
    const unsigned char *data2[] = {clean, (const unsigned char *)otlp};
    size_t len2[] = {n_clean, n_otlp};
    r = analyze_bufs(&ev, 2, names2, data2, len2);
    CHECK_EQ_U64(r->unclean_files, 1);
    CHECK(r->file_quality[0].loss.end == SP_TRACE_END_CLEAN && !r->file_quality[0].loss.end_by_export);
    CHECK(r->file_quality[1].loss.end == SP_TRACE_END_UNCLEAN && r->file_quality[1].loss.end_by_export);
    text = report_flat(r, ev, 0);
    check_has(text, "the recorder did not close cleanly: the trace exported to e.jsonl had no end record (killed, "
                    "crashed or still writing); requests in flight are unfinished, measured to the trace's last "
                    "time", 1);
    check_has(text, "lost: e.jsonl: the recorder did not close cleanly (the trace exported to it had no end record)",
              1);
    check_has(text, "has no end record", 0);
    check_has(text, "data quality: 0 records dropped by the recorder (", 1);
    check_has(text, "up to its last count", 0);
    free(text);
    char loss[256];
    CHECK(sp_report_describe_loss(r, loss, sizeof loss) == 1);
    CHECK(strcmp(loss, "e.jsonl: the recorder did not close cleanly (the trace exported to it had no end record)") ==
          0);
    char *html = report_flat(r, ev, 1);
    check_has(html, "The recorder did not close cleanly: the trace exported to e.jsonl had no end record (killed, "
                    "crashed or still writing).</p>", 1);
    check_has(html, "has no end record", 0);
    check_has(html, "<tr><td>records dropped by the recorder</td>", 1);
    free(html);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    free(otlp);
    free(cut);
    free(clean);
    return sp_test_done("test_export_unclean_words");
}
