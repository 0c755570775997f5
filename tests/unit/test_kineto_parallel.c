/* The Kineto importer's two-thread path (docs/kineto.md) against its serial path, which is the
 * reference: for every trace the reports (JSON, text, Perfetto), the model's counts and the error
 * message (text, byte offset, line) must be byte-identical. The split finder is checked against a
 * second, independent reading of the same bytes by the JSON lexer; and every test counts the imports
 * that really took the parallel path, so none passes by falling back to the serial one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "import/import_int.h"
#include "import/json.h"
#include "model/events_int.h"
#include "testlib.h"
#include "gunzip_testutil.h"

/* ---- the finder against the lexer ---- */

/* Where the lexer sees the elements of the array that starts at data[p0 - 1] ('['): each element's
 * first byte and the ',' after it (or -1). Returns the count. */
static size_t lexer_elements(const char *data, size_t len, size_t p0, size_t *start, long *comma, size_t max)
{
    sp_json_lexer lx;
    CHECK(sp_json_init_buffer(&lx, data + p0 - 1, len - (p0 - 1), NULL) == SP_OK);
    sp_json_token t;
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_ARR_BEGIN);
    size_t n = 0;
    for (;;) {
        if (sp_json_next(&lx, &t) != SP_OK) {
            CHECK(!"reference: not JSON");
            break;
        }
        if (t.type == SP_JSON_ARR_END)
            break;
        CHECK(n < max);
        start[n] = (size_t)t.offset + p0 - 1;
        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN)
            CHECK(sp_json_skip_rest(&lx) == SP_OK);
        uint64_t o;
        sp_json_position(&lx, &o, NULL, NULL);
        size_t q = (size_t)o + p0 - 1;
        while (q < len && (data[q] == ' ' || data[q] == '\n' || data[q] == '\t' || data[q] == '\r'))
            q++;
        comma[n] = q < len && data[q] == ',' ? (long)q : -1;
        n++;
    }
    sp_json_fini(&lx);
    return n;
}

/* The finder over data[p0..] for every target, fed in pieces of `piece` bytes, against the lexer:
 * the element after the first ',' at or past the target, with its line and the line's start. */
static void check_finder(const char *data, size_t p0, size_t piece)
{
    size_t len = strlen(data);
    static size_t start[4096];
    static long comma[4096];
    size_t n = lexer_elements(data, len, p0, start, comma, 4096);
    CHECK(n > 2);
    for (size_t target = p0; target <= len; target++) {
        sp_json_split sc;
        sp_json_split_init(&sc, target - p0);
        int r = 0;
        for (size_t o = p0; o < len && r == 0; o += piece)
            r = sp_json_split_feed(&sc, data + o, o + piece <= len ? piece : len - o);
        long want = -1;   /* the first element after a ',' that starts at or past the target */
        for (size_t i = 1; i < n; i++)
            if (comma[i - 1] >= 0 && start[i] >= target) {
                want = (long)start[i];
                break;
            }
        if (want < 0) {
            CHECK(r == -1);   /* the array's ']' comes first */
            continue;
        }
        CHECK(r == 1);
        CHECK_EQ_U64(sc.found + p0, (uint64_t)want);
        uint64_t lines = 0, ls = 0;
        for (size_t i = p0; i < (size_t)want; i++)
            if (data[i] == '\n') {
                lines++;
                ls = i + 1 - p0;
            }
        CHECK_EQ_U64(sc.lines, lines);
        CHECK_EQ_U64(sc.line_start, ls);
    }
}

/* ---- traces ---- */

/* A trace whose every byte is near something a naive splitter gets wrong: names and args holding
 * brackets, braces, commas, escaped quotes and backslashes, "\u" escapes of them, nested objects and
 * arrays in args, non-object elements, odd whitespace and newlines; and the events that matter:
 * kernels, copies, launches, serving annotations (requests, batches, stages), ProfilerStep marks. */
static char *tricky_trace(int requests, const char *base_pos, const char *extra_event)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "{\"schemaVersion\": 1, \"deviceProperties\": [{\"name\": \"x]},[\\\"\", \"id\": 0}],\n");
    if (strcmp(base_pos, "before") == 0)
        fprintf(f, "\"baseTimeNanoseconds\": 1700000000000000000,\n");
    fprintf(f, "\"traceEvents\": [\n");
    long t = 1000;
    int corr = 1;
    for (int r = 0; r < requests; r++) {
        if (r)
            fprintf(f, r % 3 ? ",\n" : " ,\r\n\t ");
        fprintf(f, "  {\"ph\": \"X\", \"cat\": \"user_annotation\", \"name\": \"servprof.request:r%d\", \"pid\": 1, "
                   "\"tid\": 7, \"ts\": %ld.5, \"dur\": 400.25, \"args\": {\"note\": \"a],{\\\"b\\\\\"}}, \n", r, t);
        fprintf(f, "  {\"ph\": \"X\", \"cat\": \"user_annotation\", \"name\": \"servprof.stage.queue:r%d\", \"pid\": 1, "
                   "\"tid\": 7, \"ts\": %ld.5, \"dur\": 50}", r, t);
        fprintf(f, ",{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.batch:%d[r%d]\",\"pid\":1,"
                   "\"tid\":7,\"ts\":%ld,\"dur\":300,\"args\":{\"x\":[1,[2,{\"y\":\"]]\"}],{}]}}", r, r, t + 60);
        fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"cuda_runtime\", \"name\": \"cudaLaunchKernel\", \"pid\": 1, "
                   "\"tid\": 7, \"ts\": %ld, \"dur\": 5, \"args\": {\"correlation\": %d, \"cbid\": 211}}", t + 70, corr);
        fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"gemm<\\\"{[,]}\\\"\\\\u005d>\", \"pid\": 0, "
                   "\"tid\": 7, \"ts\": %ld.125, \"dur\": 120.001, \"args\": {\"device\": 0, \"stream\": 7, "
                   "\"correlation\": %d, \"grid\": [1, 2, 3]}}", t + 80, corr);
        corr++;
        fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"gpu_memcpy\", \"name\": \"Memcpy DtoH (Device -> Pinned)\", "
                   "\"pid\": 0, \"tid\": 8, \"ts\": %ld, \"dur\": 9, \"args\": {\"device\": 0, \"stream\": 8, "
                   "\"correlation\": %d, \"bytes\": 4096, \"kind\": \"DtoH\"}}", t + 210, corr);
        fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"cuda_runtime\", \"name\": \"cudaMemcpyAsync\", \"pid\": 1, "
                   "\"tid\": 7, \"ts\": %ld, \"dur\": 3, \"args\": {\"correlation\": %d}}", t + 200, corr);
        corr++;
        fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"cpu_op\", \"name\": \"aten::mm\\\"]}\", \"pid\": 1, \"tid\": 7, "
                   "\"ts\": %ld, \"dur\": 20, \"args\": {\"Input Dims\": [[8, 8], [8, 8]], \"s\": \"\\\\\"}}", t + 65);
        fprintf(f, ",\n  {\"ph\": \"f\", \"id\": %d, \"pid\": 1, \"tid\": 7, \"ts\": %ld, \"cat\": \"ac2g\", "
                   "\"name\": \"\\u007b\\u005b\\u002c\"}", corr, t + 70);
        fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"python_function\", \"name\": \"x.py(1): f\", \"pid\": 1, "
                   "\"tid\": 7, \"ts\": %ld, \"dur\": 1}", t + 66);
        if (r % 4 == 0)
            fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"cpu_op\", \"name\": \"ProfilerStep#%d\", \"pid\": 1, "
                       "\"tid\": 7, \"ts\": %ld, \"dur\": 1000}", r / 4, t - 10);
        if (r % 5 == 2)
            fprintf(f, ",\n  {\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 1, \"tid\": 7, "
                       "\"args\": {\"name\": \"[,]{\\\"}\"}}");
        if (r % 5 == 3)
            fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"user_annotation\", \"name\": \"fwd\", \"pid\": 1, "
                       "\"tid\": 7, \"ts\": %ld, \"dur\": 100}", t + 60);
        /* ranges only a training step runs, counted in the file (sp_ev_file.training_ranges): autograd's
         * backward for odd r, an optimizer step for r = 4 */
        if (r % 2 == 1)
            fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"cpu_op\", \"name\": \"autograd::engine::evaluate_function: "
                       "MmBackward0\", \"pid\": 1, \"tid\": 7, \"ts\": %ld, \"dur\": 30}", t + 300);
        if (r == 4)
            fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"user_annotation\", \"name\": \"Optimizer.step#SGD.step\", "
                       "\"pid\": 1, \"tid\": 7, \"ts\": %ld, \"dur\": 40}", t + 340);
        if (extra_event && r == requests - 2)
            fprintf(f, ",\n  %s", extra_event);
        t += 500;
    }
    fprintf(f, "\n]");
    if (strcmp(base_pos, "after") == 0)
        fprintf(f, ", \"baseTimeNanoseconds\": 1700000000000000000");
    fprintf(f, ", \"traceName\": \"[{,\\\"\"}\n");
    fclose(f);
    return buf;
}

/* ---- one load, everything it produced ---- */

typedef struct outputs {
    sp_status st;
    char err[1024];
    char *json, *text, *perfetto;
    uint64_t counts[12];
    int skippable;               /* sp_events_load_skippable after the load */
} outputs;

static void outputs_free(outputs *o)
{
    free(o->json);
    free(o->text);
    free(o->perfetto);
}

static outputs run(const void *data, size_t len, int mode, uint64_t split_at, int lenient, int hta)
{
    outputs o;
    memset(&o, 0, sizeof o);
    sp_import_kineto_set_mode(mode, split_at);
    sp_load_options lo;
    sp_load_options_init(&lo);
    lo.lenient = lenient;
    lo.hta_compat = hta;
    sp_events *ev = NULL;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    o.st = sp_events_load_buffer(ev, "t.json", data, len, &lo, o.err, sizeof o.err);
    o.skippable = sp_events_load_skippable(ev);
    sp_import_kineto_set_mode(SP_KINETO_AUTO, 0);
    if (o.st == SP_OK) {
        uint64_t c[12] = {ev->n_acts, ev->n_launches, ev->n_requests, ev->n_spans, ev->n_batches, ev->n_members,
                          ev->n_marks, ev->files[0].skipped, ev->files[0].ignored, ev->n_files, 0,
                          ev->files[0].training_ranges};
        memcpy(o.counts, c, sizeof c);
        sp_analyze_options ao;
        sp_analyze_options_init(&ao);
        ao.hta_compat = hta;
        ao.keep_detail = 1;
        sp_report *r = NULL;
        if (sp_analyze(ev, &ao, &r, o.err, sizeof o.err) == SP_OK) {
            size_t l = 0;
            FILE *f = open_memstream(&o.json, &l);
            CHECK(sp_report_write_json(r, f) == SP_OK);
            fclose(f);
            f = open_memstream(&o.text, &l);
            CHECK(sp_report_write_text(r, f) == SP_OK);
            fclose(f);
            f = open_memstream(&o.perfetto, &l);
            CHECK(sp_report_write_perfetto(r, ev, f) == SP_OK);
            fclose(f);
            sp_report_destroy(r);
        } else
            o.counts[10] = 1;   /* analysis refused: its message (in err) is compared */
    }
    sp_events_destroy(ev);
    return o;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Compares a parallel load with the serial one; prints the first difference. */
static bool same(const outputs *s, const outputs *p, const char *what, uint64_t split)
{
    bool ok = s->st == p->st && strcmp(s->err, p->err) == 0 && s->skippable == p->skippable &&
              memcmp(s->counts, p->counts, sizeof s->counts) == 0 &&
              same_str(s->json, p->json) && same_str(s->text, p->text) && same_str(s->perfetto, p->perfetto);
    if (!ok)
        fprintf(stderr, "  %s, split at %llu: serial %s \"%s\" (skippable %d), parallel %s \"%s\" (skippable %d)\n",
                what, (unsigned long long)split, sp_status_str(s->st), s->err, s->skippable, sp_status_str(p->st),
                p->err, p->skippable);
    CHECK(ok);
    return ok;
}

/* Every split target from the traceEvents '[' to the end: each must give the serial outputs; the
 * parallel path must have been taken exactly where the lexer sees a ',' at or past the target. */
static void every_split(const char *what, const char *data, int lenient, int hta, bool expect_error)
{
    size_t len = strlen(data);
    outputs s = run(data, len, SP_KINETO_SERIAL, 0, lenient, hta);
    CHECK((s.st != SP_OK) == expect_error);
    if (expect_error)
        fprintf(stderr, "   %s: %s\n", what, s.err);
    const char *arr = strstr(data, "\"traceEvents\": [");
    CHECK(arr != NULL);
    size_t p0 = (size_t)(arr - data) + strlen("\"traceEvents\": [");
    static size_t start[4096];
    static long comma[4096];
    size_t n = expect_error ? 0 : lexer_elements(data, len, p0, start, comma, 4096);
    unsigned long runs0 = sp_import_kineto_parallel_runs();
    unsigned long want = 0, bad = 0;
    /* every byte; under the sanitizers (ten times slower) every third, which still lands on every
     * kind of byte of the trace's repeating events */
    size_t stride = getenv("SP_SANITIZED") ? 3 : 1;
    for (size_t target = p0 + 1; target <= len; target += stride) {
        outputs p = run(data, len, SP_KINETO_PARALLEL, target, lenient, hta);
        if (!same(&s, &p, what, target) && ++bad > 5) {
            outputs_free(&p);
            break;
        }
        outputs_free(&p);
        /* taken when the first element at or past the target is not the array's first (the serial
         * reader hands over there), unless an error ends the serial reading before it */
        if (n >= 2 && target > start[0] && target <= start[n - 1])
            want++;
    }
    unsigned long got = sp_import_kineto_parallel_runs() - runs0;
    fprintf(stderr, "   %s: %zu bytes, %zu elements, parallel path taken %lu times\n", what, len, n, got);
    if (!expect_error)
        CHECK_EQ_U64(got, want);
    else
        CHECK(got > 0);
    outputs_free(&s);
}

int main(void)
{
    /* the finder against the lexer, fed whole, byte by byte and in odd pieces */
    char *tr = tricky_trace(6, "after", NULL);
    size_t p0 = (size_t)(strstr(tr, "\"traceEvents\": [") - tr) + strlen("\"traceEvents\": [");
    check_finder(tr, p0, strlen(tr));
    check_finder(tr, p0, 1);
    check_finder(tr, p0, 7);
    free(tr);
    check_finder("[1,\"a,b\" , [2,3],{\"x\":\"\\\\\"},\n\"\\\"]\",{}]", 1, 1);

    /* every split point of tricky traces: base time before, after, absent; lenient; hta */
    tr = tricky_trace(5, "after", NULL);
    {
        /* the serial load counts the training ranges (r = 1, 3: autograd; r = 4: the optimizer step),
         * so that every split checks the parallel path counts them too */
        outputs s = run(tr, strlen(tr), SP_KINETO_SERIAL, 0, 0, 0);
        CHECK(s.st == SP_OK);
        CHECK_EQ_U64(s.counts[11], 3);
        outputs_free(&s);
    }
    every_split("tricky, base after", tr, 0, 0, false);
    every_split("tricky, hta", tr, 0, 1, false);
    free(tr);
    tr = tricky_trace(5, "before", NULL);
    every_split("tricky, base before", tr, 0, 0, false);
    free(tr);
    tr = tricky_trace(5, "none", "7, [1, {\"ph\": 3}], \"s\"");
    every_split("tricky, non-objects, lenient", tr, 1, 0, false);
    every_split("tricky, non-objects, strict", tr, 0, 0, true);
    {
        /* a non-object element is what lenient skips: the load says so (and every split the same) */
        outputs s = run(tr, strlen(tr), SP_KINETO_SERIAL, 0, 0, 0);
        CHECK(s.st == SP_ERR_PARSE && s.skippable == 1);
        outputs_free(&s);
    }
    free(tr);

    /* errors in the second half: the same message, offset and line as serial */
    static const char *const bad[] = {
        "{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"k\", \"ts\": 5, \"dur\": -1}",   /* read_event */
        "{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"k\", \"dur\": 1}",              /* handle_event */
        "{\"cat\": \"kernel\", \"name\": \"k\", \"ts\": 1}",                              /* no ph */
        "{\"ph\": \"X\", \"ts\": 1, \"args\": [1]}",                                      /* args */
        "{\"ph\": \"X\", \"ts\": 12x}",                                                   /* the lexer */
        "{\"ph\": \"X\", \"ts\": 1, \"name\": \"a\\qb\"}",                                /* bad escape */
        "{\"ph\": \"X\", \"cat\": \"user_annotation\", \"name\": \"servprof.batch:x\", \"ts\": 1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tr = tricky_trace(3, "after", bad[i]);
        char what[64];
        snprintf(what, sizeof what, "error %zu", i);
        every_split(what, tr, 0, 0, true);
        snprintf(what, sizeof what, "error %zu, lenient", i);
        bool lexer_error = i == 4 || i == 5;
        /* strict: sp_events_load_skippable is 1 exactly where lenient skips the event (not after
         * a lexer error, which lenient cannot read past); every_split checked each split the same */
        outputs s = run(tr, strlen(tr), SP_KINETO_SERIAL, 0, 0, 0);
        CHECK(s.st == SP_ERR_PARSE);
        CHECK_EQ_U64((uint64_t)s.skippable, (uint64_t)!lexer_error);
        outputs_free(&s);
        every_split(what, tr, 1, 0, lexer_error);
        free(tr);
    }

    /* a file on disk (the second thread reads it with pread) and the same file gzipped (read serially
     * even when the parallel path is forced: a gzip stream cannot be entered in the middle) */
    tr = tricky_trace(6, "after", NULL);
    for (int gz = 0; gz <= 1; gz++) {
        char path[] = "/tmp/sp_kpar_XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        close(fd);
        if (gz) {
            gzFile g = gzopen(path, "wb");
            CHECK(g && gzwrite(g, tr, (unsigned)strlen(tr)) == (int)strlen(tr));
            gzclose(g);
        } else {
            FILE *f = fopen(path, "wb");
            CHECK(f && fwrite(tr, 1, strlen(tr), f) == strlen(tr));
            fclose(f);
        }
        outputs s = run(tr, strlen(tr), SP_KINETO_SERIAL, 0, 0, 0);
        for (int mode = SP_KINETO_SERIAL; mode <= SP_KINETO_PARALLEL; mode++) {
            sp_import_kineto_set_mode(mode, 0);
            unsigned long r0 = sp_import_kineto_parallel_runs();
            sp_events *ev = NULL;
            char err[512] = "";
            CHECK(sp_events_create(&ev) == SP_OK);
            CHECK(sp_events_load_file(ev, path, NULL, err, sizeof err) == SP_OK);
            sp_import_kineto_set_mode(SP_KINETO_AUTO, 0);
            CHECK_EQ_U64(sp_import_kineto_parallel_runs() - r0, (uint64_t)(mode == SP_KINETO_PARALLEL && !gz));
            CHECK_EQ_U64(ev->n_acts, s.counts[0]);
            CHECK_EQ_U64(ev->n_launches, s.counts[1]);
            CHECK_EQ_U64(ev->n_requests, s.counts[2]);
            CHECK_EQ_U64(ev->files[0].ignored, s.counts[8]);
            sp_events_destroy(ev);
        }
        outputs_free(&s);
        remove(path);
    }
    free(tr);

    /* the real traces, split in the middle: identical outputs, the parallel path taken */
    static const char *const real[] = {"alexnet_a100", "amd_mi250_rocm", "cpu_only", "cuda_event_sync",
                                       "cuda_graph_h200", "ns_resolution_resnet_v100", "trace_compare_base",
                                       "triton_kernel_example", "execution_trace_simple_add"};
    for (size_t i = 0; i < sizeof real / sizeof *real; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/data/kineto/%s.json.gz", SP_SOURCE_DIR, real[i]);
        size_t len;
        char *d = gunzip_file(path, &len);
        CHECK(d != NULL);
        if (!d)
            continue;
        for (int hta = 0; hta <= 1; hta++) {
            outputs s = run(d, len, SP_KINETO_SERIAL, 0, 0, hta);
            unsigned long r0 = sp_import_kineto_parallel_runs();
            outputs p = run(d, len, SP_KINETO_PARALLEL, 0, 0, hta);
            bool took = sp_import_kineto_parallel_runs() == r0 + 1;
            fprintf(stderr, "   %s%s: %zu bytes, %s, parallel %s\n", real[i], hta ? " (hta)" : "", len,
                    s.st == SP_OK ? "loaded" : s.err, took ? "taken" : "NOT taken");
            same(&s, &p, real[i], 0);
            if (strcmp(real[i], "execution_trace_simple_add") != 0)   /* not a Kineto trace */
                CHECK(took);
            outputs_free(&s);
            outputs_free(&p);
        }
        free(d);
    }
    return sp_test_done("test_kineto_parallel");
}
