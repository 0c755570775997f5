/* Kineto importer: exact timestamps (ns fractions, baseTimeNanoseconds before or after traceEvents),
 * exact GPU figures of real traces against an independent reading of the same JSON, CPU-only traces, the serving annotation convention and --map, malformed input, and step marks. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "import/json.h"
#include "model/events_int.h"
#include "testlib.h"
#include "gunzip_testutil.h"

static sp_events *load_text(const char *text, const sp_load_options *opt, sp_status *st, char *err, size_t errlen)
{
    sp_events *ev = NULL;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    *st = sp_events_load_buffer(ev, "t.json", text, strlen(text), opt, err, errlen);
    return ev;
}

static sp_events *load_ok(const char *text, const sp_load_options *opt)
{
    char err[512];
    sp_status st;
    sp_events *ev = load_text(text, opt, &st, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "load failed: %s\n", err);
    CHECK(st == SP_OK);
    return ev;
}

/* Expects a failure whose message holds `want` and a position. */
static void expect_error(const char *what, const void *data, size_t len, const char *want)
{
    sp_events *ev = NULL;
    char err[512] = "";
    CHECK(sp_events_create(&ev) == SP_OK);
    sp_status st = sp_events_load_buffer(ev, "bad.json", data, len, NULL, err, sizeof err);
    fprintf(stderr, "   %s -> %s: %s\n", what, sp_status_str(st), err);
    CHECK(st != SP_OK);
    CHECK(strstr(err, "bad.json") != NULL);
    CHECK(strstr(err, want) != NULL);
    CHECK(ev->n_acts == 0 && ev->n_files == 0);
    sp_events_destroy(ev);
}

static void test_timestamps(void)
{
    /* "ts": 1234567.891 us = 1234567891 ns exactly; dur 0.5 us = 500 ns (hand conversion) */
    const char *t1 = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\","
                     "\"pid\":0,\"tid\":7,\"ts\":1234567.891,\"dur\":0.5,\"args\":{\"stream\":7,\"device\":0}}]}";
    sp_events *ev = load_ok(t1, NULL);
    CHECK_EQ_U64(ev->n_acts, 1);
    if (ev->n_acts == 1) {
        CHECK_EQ_U64(ev->acts[0].start_ns, 1234567891ull);
        CHECK_EQ_U64(ev->acts[0].end_ns, 1234568391ull);
        CHECK_EQ_U64(sp_ev_act_stream(ev, &ev->acts[0]), 7);
    }
    sp_events_destroy(ev);
    /* relative us plus baseTimeNanoseconds, the base written after traceEvents: 10^15 + 5.5 us */
    const char *t2 = "{\"traceEvents\":[{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":7,"
                     "\"ts\":5.5,\"dur\":1.25}],\"baseTimeNanoseconds\":1000000000000000}";
    ev = load_ok(t2, NULL);
    CHECK_EQ_U64(ev->n_acts, 1);
    if (ev->n_acts == 1) {
        CHECK_EQ_U64(ev->acts[0].start_ns, 1000000000005500ull);
        CHECK_EQ_U64(ev->acts[0].end_ns, 1000000000006750ull);
        CHECK_EQ_U64(sp_ev_act_stream(ev, &ev->acts[0]), 7);   /* from tid when args have no stream */
    }
    sp_events_destroy(ev);
    /* the same with the base first */
    const char *t3 = "{\"baseTimeNanoseconds\":1000000000000000,\"traceEvents\":[{\"ph\":\"X\",\"cat\":\"kernel\","
                     "\"name\":\"k\",\"pid\":0,\"tid\":7,\"ts\":5.5,\"dur\":1.25}]}";
    ev = load_ok(t3, NULL);
    if (ev->n_acts == 1)
        CHECK_EQ_U64(ev->acts[0].start_ns, 1000000000005500ull);
    sp_events_destroy(ev);
    /* hta: start ceil, end floor, earliest event at 0: ts 10.2 -> 11, end 10.2+5.9 = 16.1 -> 16; the
     * launch at 3.7 -> 4 is the earliest, so the kernel is [7, 12] us */
    const char *t4 = "[{\"ph\":\"X\",\"cat\":\"cuda_runtime\",\"name\":\"cudaLaunchKernel\",\"pid\":1,\"tid\":1,"
                     "\"ts\":3.7,\"dur\":2,\"args\":{\"correlation\":5}},"
                     "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":7,\"ts\":10.2,\"dur\":5.9,"
                     "\"args\":{\"correlation\":5}}]";
    sp_load_options opt;
    sp_load_options_init(&opt);
    opt.hta_compat = 1;
    ev = load_ok(t4, &opt);
    CHECK_EQ_U64(ev->n_acts, 1);
    CHECK_EQ_U64(ev->n_launches, 1);
    if (ev->n_acts == 1 && ev->n_launches == 1) {
        CHECK_EQ_U64(ev->acts[0].start_ns, 7000);
        CHECK_EQ_U64(ev->acts[0].end_ns, 12000);
        CHECK_EQ_U64(ev->launches[0].start_ns, 0);
        CHECK_EQ_U64(ev->launches[0].end_ns, 1000);   /* floor(5.7) - 4 */
        CHECK_EQ_U64(ev->acts[0].correlation, 5);
    }
    sp_events_destroy(ev);
}

/* ---- an independent reading of a real trace: GPU intervals straight from the JSON text ---- */

typedef struct ival {
    int64_t s, e;
} ival;

static int ival_cmp(const void *a, const void *b)
{
    const ival *x = a, *y = b;
    return (x->s > y->s) - (x->s < y->s);
}

/* Every X event of cat kernel/gpu_memcpy/gpu_memset: exact [ts, ts+dur] in ns. */
static void independent_figures(const char *text, size_t len, uint64_t *span, uint64_t *busy, uint64_t *kernels)
{
    sp_json_lexer lx;
    sp_json_init_buffer(&lx, text, len, NULL);
    sp_json_token t;
    size_t cap = 1024, n = 0;
    ival *iv = malloc(cap * sizeof *iv);
    *kernels = 0;
    int depth_ev = -1;
    int gpu = 0, kern = 0, x = 0;
    int64_t ts = 0, dur = 0;
    uint32_t ev_depth = 0;
    while (sp_json_next(&lx, &t) == SP_OK && t.type != SP_JSON_EOF) {
        if (t.type == SP_JSON_OBJ_BEGIN && depth_ev < 0 && lx.depth >= 2) {
            /* an event object: depth 3 inside {"traceEvents":[...]}, depth 2 in a bare array */
            depth_ev = 1;
            ev_depth = t.depth;
            gpu = kern = x = 0;
            ts = dur = 0;
            continue;
        }
        if (depth_ev > 0 && t.type == SP_JSON_OBJ_END && t.depth == ev_depth - 1) {
            if (gpu && x) {
                if (n == cap)
                    iv = realloc(iv, (cap *= 2) * sizeof *iv);
                iv[n++] = (ival){ts, ts + dur};
                *kernels += (uint64_t)kern;
            }
            depth_ev = -1;
            continue;
        }
        if (depth_ev > 0 && t.type == SP_JSON_KEY && t.depth == ev_depth) {
            char key[8] = "";
            if (t.len < sizeof key)
                memcpy(key, t.str, t.len);
            sp_json_next(&lx, &t);
            if (strcmp(key, "cat") == 0 && t.type == SP_JSON_STRING) {
                kern = t.len == 6 && memcmp(t.str, "kernel", 6) == 0;
                gpu = kern || (t.len == 10 && (memcmp(t.str, "gpu_memcpy", 10) == 0 || memcmp(t.str, "gpu_memset", 10) == 0));
            } else if (strcmp(key, "ph") == 0 && t.type == SP_JSON_STRING)
                x = t.len == 1 && t.str[0] == 'X';
            else if (strcmp(key, "ts") == 0 && t.type == SP_JSON_NUMBER)
                sp_json_us_to_ns(t.str, t.len, &ts, NULL);
            else if (strcmp(key, "dur") == 0 && t.type == SP_JSON_NUMBER)
                sp_json_us_to_ns(t.str, t.len, &dur, NULL);
            else if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN)
                sp_json_skip_rest(&lx);
        }
    }
    sp_json_fini(&lx);
    qsort(iv, n, sizeof *iv, ival_cmp);
    int64_t first = n ? iv[0].s : 0, last = 0, cs = 0, ce = 0, tot = 0;
    for (size_t i = 0; i < n; i++) {
        if (iv[i].e > last)
            last = iv[i].e;
        if (i && iv[i].s <= ce) {
            if (iv[i].e > ce)
                ce = iv[i].e;
        } else {
            tot += i ? ce - cs : 0;
            cs = iv[i].s;
            ce = iv[i].e;
        }
    }
    if (n)
        tot += ce - cs;
    *span = n ? (uint64_t)(last - first) : 0;
    *busy = (uint64_t)tot;
    free(iv);
}

static void test_exact_real(const char *name)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/tests/data/kineto/%s.json.gz", SP_SOURCE_DIR, name);
    size_t len = 0;
    char *text = gunzip_file(path, &len);
    CHECK(text != NULL);
    if (!text)
        return;
    uint64_t span, busy, kernels;
    independent_figures(text, len, &span, &busy, &kernels);
    sp_events *ev = NULL;
    sp_events_create(&ev);
    sp_status st = sp_events_load_file(ev, path, NULL, err, sizeof err);
    CHECK(st == SP_OK);
    sp_report *r = NULL;
    if (st == SP_OK)
        st = sp_analyze(ev, NULL, &r, err, sizeof err);
    CHECK(st == SP_OK);
    if (st == SP_OK) {
        fprintf(stderr, "   %s: span %llu busy %llu kernels %llu (independent: %llu %llu %llu)\n", name,
                (unsigned long long)r->gpu.span_ns, (unsigned long long)r->gpu.busy_ns,
                (unsigned long long)r->gpu.kernels, (unsigned long long)span, (unsigned long long)busy,
                (unsigned long long)kernels);
        CHECK_EQ_U64(r->gpu.span_ns, span);
        CHECK_EQ_U64(r->gpu.busy_ns, busy);
        CHECK_EQ_U64(r->gpu.idle_ns, span - busy);
        CHECK_EQ_U64(r->gpu.kernels, kernels);
        sp_report_destroy(r);
    } else
        fprintf(stderr, "%s: %s\n", name, err);
    sp_events_destroy(ev);
    free(text);
}

static void test_cpu_only(void)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/tests/data/kineto/cpu_only.json.gz", SP_SOURCE_DIR);
    for (int hta = 0; hta < 2; hta++) {
        sp_events *ev = NULL;
        sp_events_create(&ev);
        sp_load_options opt;
        sp_load_options_init(&opt);
        opt.hta_compat = hta;
        CHECK(sp_events_load_file(ev, path, &opt, err, sizeof err) == SP_OK);
        CHECK_EQ_U64(ev->n_acts, 0);
        CHECK_EQ_U64(ev->n_launches, 0);
        sp_report *r = NULL;
        CHECK(sp_analyze(ev, NULL, &r, err, sizeof err) == SP_OK);
        if (r)
            CHECK(!r->gpu.present);
        sp_report_destroy(r);
        sp_events_destroy(ev);
    }
}

static void test_annotations(void)
{
    /* A serving loop annotated with record_function names only (docs/kineto.md):
     *   r1 lives 100..1000 us, r2 150..1000 us; preprocess 100..150 (r1), 150..200 (r2);
     *   batch 7 [r1,r2] 300..800 us, inside it an unnamed stage "servprof.stage.pack" 305..315 us
     *   (given to the batch's members); an H2D copy and a kernel launched inside the batch on the same
     *   thread; the kernel ends at 850 us, after the annotation, so the window stretches to 850;
     *   postprocess [r1,r2] 850..950. A kernel launched outside any batch stays untied. */
    const char *t =
        "{\"traceEvents\":["
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.request:r1;tokens=5\",\"pid\":1,\"tid\":1,\"ts\":100,\"dur\":900},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.request:r2;tokens=3\",\"pid\":1,\"tid\":2,\"ts\":150,\"dur\":850},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.stage.preprocess:r1\",\"pid\":1,\"tid\":1,\"ts\":100,\"dur\":50},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.stage.preprocess\",\"pid\":1,\"tid\":2,\"ts\":150,\"dur\":50},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.batch:7[r1,r2];effective=8;padded=10\",\"pid\":1,\"tid\":3,\"ts\":300,\"dur\":500},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.stage.pack\",\"pid\":1,\"tid\":3,\"ts\":305,\"dur\":10},"
        "{\"ph\":\"X\",\"cat\":\"cuda_runtime\",\"name\":\"cudaMemcpyAsync\",\"pid\":1,\"tid\":3,\"ts\":310,\"dur\":10,\"args\":{\"correlation\":11}},"
        "{\"ph\":\"X\",\"cat\":\"gpu_memcpy\",\"name\":\"Memcpy HtoD (Pageable -> Device)\",\"pid\":0,\"tid\":7,\"ts\":320,\"dur\":20,"
        "\"args\":{\"device\":0,\"stream\":7,\"correlation\":11,\"bytes\":4096}},"
        "{\"ph\":\"X\",\"cat\":\"cuda_runtime\",\"name\":\"cudaLaunchKernel\",\"pid\":1,\"tid\":3,\"ts\":330,\"dur\":10,\"args\":{\"correlation\":12}},"
        "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"gemm\",\"pid\":0,\"tid\":7,\"ts\":350,\"dur\":500,\"args\":{\"device\":0,\"stream\":7,\"correlation\":12}},"
        "{\"ph\":\"X\",\"cat\":\"cuda_runtime\",\"name\":\"cudaLaunchKernel\",\"pid\":1,\"tid\":3,\"ts\":900,\"dur\":10,\"args\":{\"correlation\":13}},"
        "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"warmup\",\"pid\":0,\"tid\":7,\"ts\":920,\"dur\":5,\"args\":{\"device\":0,\"stream\":7,\"correlation\":13}},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.stage.postprocess[r1,r2]\",\"pid\":1,\"tid\":3,\"ts\":850,\"dur\":100},"
        "{\"ph\":\"X\",\"cat\":\"python_function\",\"name\":\"torch/nn/modules/module.py(1501): _call_impl\",\"pid\":1,\"tid\":3,\"ts\":301,\"dur\":4}"
        "]}";
    sp_events *ev = load_ok(t, NULL);
    CHECK_EQ_U64(ev->n_requests, 2);
    CHECK_EQ_U64(ev->n_batches, 1);
    CHECK_EQ_U64(ev->n_spans, 6);   /* 2 preprocess, 2 pack, 2 postprocess */
    CHECK_EQ_U64(ev->n_acts, 3);
    CHECK_EQ_U64(ev->n_launches, 3);
    if (ev->n_batches == 1) {
        const sp_ev_batch *b = &ev->batches[0];
        CHECK_EQ_U64(b->id, 7);
        CHECK_EQ_U64(b->nmembers, 2);
        CHECK_EQ_U64(b->effective_tokens, 8);
        CHECK_EQ_U64(b->padded_tokens, 10);
        CHECK_EQ_U64(b->start_ns, 300000);
        CHECK_EQ_U64(b->end_ns, 850000);
    }
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *x = &ev->acts[i];
        if (x->correlation == 13)
            CHECK(x->batch == SP_EV_NONE);
        else
            CHECK(x->batch == 0);
        if (x->correlation == 11) {
            CHECK_EQ_U64(x->kind, SP_ACT_H2D);
            CHECK_EQ_U64(sp_ev_act_bytes(x), 4096);
        }
    }
    for (size_t i = 0; i < ev->n_requests; i++) {
        const sp_ev_request *q = &ev->requests[i];
        const char *id = sp_str_get(&ev->strings, q->id);
        CHECK(q->has_record);
        CHECK_EQ_U64(q->done_ns, 1000000);
        CHECK_EQ_U64(q->arrival_ns, strcmp(id, "r1") == 0 ? 100000 : 150000);
        CHECK_EQ_U64(sp_ev_req_input_tokens(ev, q), strcmp(id, "r1") == 0 ? 5 : 3);
    }
    char err[512];
    sp_report *r = NULL;
    CHECK(sp_analyze(ev, NULL, &r, err, sizeof err) == SP_OK);
    if (r) {
        CHECK_EQ_U64(r->request_count, 2);
        CHECK_EQ_U64(r->batch_count, 1);
        /* r1: preprocess 50 us; r2: 50 us -> both requests show a preprocess stage */
        int saw_pre = 0, saw_kernel = 0;
        for (size_t i = 0; i < r->n_stages; i++) {
            if (strcmp(r->stages[i].name, "preprocess") == 0) {
                saw_pre = 1;
                CHECK_EQ_U64(r->stages[i].total_ns, 100000);
            }
            if (strcmp(r->stages[i].name, "kernel") == 0)
                saw_kernel = r->stages[i].total_ns > 0;
        }
        CHECK(saw_pre && saw_kernel);
        CHECK(r->verdict.stage != NULL);
        sp_report_destroy(r);
    }
    sp_events_destroy(ev);

    /* --map: the user's own record_function names; unnamed batches are numbered 1, 2 in start order */
    const char *m =
        "{\"traceEvents\":["
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"req:a\",\"pid\":1,\"tid\":1,\"ts\":0,\"dur\":100},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"tokenize:a\",\"pid\":1,\"tid\":1,\"ts\":0,\"dur\":10},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"infer[a]\",\"pid\":1,\"tid\":1,\"ts\":50,\"dur\":20},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"infer[a]\",\"pid\":1,\"tid\":1,\"ts\":20,\"dur\":20}"
        "]}";
    sp_load_options opt;
    sp_load_options_init(&opt);
    opt.map = "request=req,stage:preprocess=tokenize,batch=infer";
    ev = load_ok(m, &opt);
    CHECK_EQ_U64(ev->n_requests, 1);
    CHECK_EQ_U64(ev->n_spans, 1);
    CHECK_EQ_U64(ev->n_batches, 2);
    if (ev->n_spans == 1)
        CHECK(strcmp(sp_str_get(&ev->strings, ev->spans[0].stage), "preprocess") == 0);
    for (size_t i = 0; i < ev->n_batches; i++)   /* batch 1 is the earlier one (20 us) */
        CHECK_EQ_U64(ev->batches[i].start_ns, ev->batches[i].id == 1 ? 20000 : 50000);
    sp_events_destroy(ev);

    /* unnamed batches on several threads: numbered in (thread, start) order, threads by pid, then tid
     * (docs/annotations.md), whatever order the lines come in. By hand: (pid 1, tid 2) at 5 us is
     * batch 1, (pid 1, tid 10) at 1 us batch 2, (pid 3, tid 1) at 0 us batch 3, and a thread named
     * by text sorts after every numbered one: batch 4. */
    const char *w =
        "{\"traceEvents\":["
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.batch\",\"pid\":3,\"tid\":1,\"ts\":0,\"dur\":10},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.batch\",\"pid\":\"w\",\"tid\":\"x\",\"ts\":0,\"dur\":20},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.batch\",\"pid\":1,\"tid\":10,\"ts\":1,\"dur\":10},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.batch\",\"pid\":1,\"tid\":2,\"ts\":5,\"dur\":10}"
        "]}";
    ev = load_ok(w, NULL);
    CHECK_EQ_U64(ev->n_batches, 4);
    for (size_t i = 0; i < ev->n_batches; i++) {
        const sp_ev_batch *b = &ev->batches[i];
        /* the two at 0 us end apart: pid 3's at 10 us, the named thread's at 20 us */
        uint64_t want = b->start_ns == 5000 ? 1 : b->start_ns == 1000 ? 2 : b->end_ns == 10000 ? 3 : 4;
        CHECK_EQ_U64(b->id, want);
    }
    sp_events_destroy(ev);
    /* a bad --map is an argument error */
    sp_status st;
    opt.map = "stage=foo";
    ev = load_text(m, &opt, &st, err, sizeof err);
    CHECK(st == SP_ERR_INVALID);
    CHECK(strstr(err, "--map") != NULL);
    sp_events_destroy(ev);
}

/* Args that are skipped whole (cpu_op, a flow) may hold anything well-formed: brackets and escaped
 * quotes inside strings, nesting; the kernel after them still gets its own args (stream 7, device 0,
 * correlation 5, as written). */
static void test_skipped_args(void)
{
    const char *t = "{\"traceEvents\":[\n"
                    "{\"ph\":\"X\",\"cat\":\"cpu_op\",\"name\":\"op\",\"pid\":1,\"tid\":1,\"ts\":1,\"dur\":9,"
                    "\"args\":{\"s\":\"]}\\\"{[\",\"n\":[{\"x\":null,\"y\":[true,false,-1.5e2]}],\"u\":\"\\u00e9\"}},\n"
                    "{\"ph\":\"f\",\"cat\":\"ac2g\",\"id\":5,\"ts\":3,\"args\":{\"correlation\":99}},\n"
                    "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":7,\"ts\":2,\"dur\":3,"
                    "\"args\":{\"grid\":[1,2,3],\"stream\":7,\"device\":0,\"correlation\":5}}]}";
    sp_events *ev = load_ok(t, NULL);
    CHECK_EQ_U64(ev->n_acts, 1);
    if (ev->n_acts == 1) {
        CHECK(sp_ev_act_stream(ev, &ev->acts[0]) == 7);
        CHECK_EQ_U64(ev->acts[0].correlation, 5);
    }
    sp_events_destroy(ev);
}

static void test_malformed(void)
{
    const char *cut = "{\"traceEvents\":[{\"ph\":\"X\",\"cat\":\"kernel\",\"ts\":1";
    expect_error("truncated", cut, strlen(cut), "line 1");
    const char *wrong = "{\"traceEvents\":5}";
    expect_error("traceEvents not an array", wrong, strlen(wrong), "\"traceEvents\" must be an array");
    const char *ts = "{\"traceEvents\":[\n{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"ts\":\"12\",\"dur\":1}]}";
    expect_error("ts a string", ts, strlen(ts), "line 2, column 42");
    /* "args" not an object: the message points at the "args" key (line 2, column 11, byte 17 + 10: 10 bytes of
     * {"ph":"X", precede it) */
    const char *args = "{\"traceEvents\":[\n{\"ph\":\"X\",\"args\":[1],\"ts\":1}]}";
    expect_error("args an array", args, strlen(args), "line 2, column 11 (byte 27): \"args\" must be an object");
    const char *args2 = "{\"traceEvents\":[\n{\"ph\":\"X\",\"args\":7,\"ts\":1}]}";
    expect_error("args a number", args2, strlen(args2), "line 2, column 11 (byte 27): \"args\" must be an object");
    /* args of a cpu_op are passed over whole (the lexer's token-free skip) but still checked: line 2 is
     * {"ph":"X","cat":"cpu_op","args":... with "args" at column 26 (byte 17 + 25 = 42), its '{' at 33,
     * so in {"s":"a<0x01>"} the 0x01 is column 40 (byte 56), and in {"a":[1}} the '}' is column 40 too */
    const char *sk1 = "{\"traceEvents\":[\n{\"ph\":\"X\",\"cat\":\"cpu_op\",\"args\":[1],\"ts\":1}]}";
    expect_error("skipped args an array", sk1, strlen(sk1), "line 2, column 26 (byte 42): \"args\" must be an object");
    const char *sk2 = "{\"traceEvents\":[\n{\"ph\":\"X\",\"cat\":\"cpu_op\",\"args\":{\"s\":\"a\x01\"},\"ts\":1}]}";
    expect_error("control char in skipped args", sk2, strlen(sk2), "line 2, column 40 (byte 56): control character 0x01");
    const char *sk3 = "{\"traceEvents\":[\n{\"ph\":\"X\",\"cat\":\"cpu_op\",\"args\":{\"a\":[1}},\"ts\":1}]}";
    expect_error("unbalanced skipped args", sk3, strlen(sk3), "line 2, column 40 (byte 56): expected ',' or ']'");
    const char *sk4 = "{\"traceEvents\":[\n{\"ph\":\"X\",\"cat\":\"cpu_op\",\"args\":{\"a\":\"\\x\"},\"ts\":1}]}";
    expect_error("bad escape in skipped args", sk4, strlen(sk4), "line 2, column 39 (byte 55): invalid escape '\\x'");
    /* 20 integer digits: beyond the 16-digit fast path (whose digit loop must not overflow: UBSan) and,
     * times 1000, beyond int64 */
    const char *big = "{\"traceEvents\":[{\"ph\":\"X\",\"cat\":\"kernel\",\"ts\":17074155555555555555.5,\"dur\":1}]}";
    expect_error("ts too large", big, strlen(big), "\"ts\" is out of range");
    const char *dur = "{\"traceEvents\":[{\"ph\":\"X\",\"cat\":\"kernel\",\"ts\":1,\"dur\":-4}]}";
    expect_error("negative dur", dur, strlen(dur), "\"dur\" is negative");
    const char *ph = "{\"traceEvents\":[{\"ph\":7}]}";
    expect_error("ph a number", ph, strlen(ph), "\"ph\" must be");
    const char *ann = "{\"traceEvents\":[{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"servprof.batch:x\",\"ts\":1}]}";
    expect_error("bad batch annotation", ann, strlen(ann), "batch id must be an integer");
    /* deep nesting inside args */
    char deep[1200];
    size_t n = (size_t)snprintf(deep, sizeof deep, "{\"traceEvents\":[{\"ph\":\"X\",\"args\":{\"x\":");
    for (int i = 0; i < 200; i++)
        deep[n++] = '[';
    for (int i = 0; i < 200; i++)
        deep[n++] = ']';
    n += (size_t)snprintf(deep + n, sizeof deep - n, "}}]}");
    expect_error("deep nesting", deep, n, "byte");
    /* gzip cut off: the first half of a real trace's .gz */
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/kineto/alexnet_a100.json.gz", SP_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f) {
        static unsigned char gz[1 << 16];
        size_t len = fread(gz, 1, sizeof gz, f);
        fclose(f);
        expect_error("gzip cut off", gz, len / 2, "gzip");
    }
    /* lenient: the malformed event is skipped and counted */
    sp_load_options opt;
    sp_load_options_init(&opt);
    opt.lenient = 1;
    const char *mixed = "{\"traceEvents\":[{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"ts\":\"x\",\"dur\":1,"
                        "\"args\":{\"a\":[1,{\"b\":2}]}},{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"ts\":1,\"dur\":1}]}";
    sp_events *ev = load_ok(mixed, &opt);
    CHECK_EQ_U64(ev->n_acts, 1);
    CHECK_EQ_U64(ev->files[0].skipped, 1);
    sp_events_destroy(ev);
}

/* Step marks (docs/kineto.md, "Steps"): ProfilerStep#N ranges when the file has any (cpu_op or
 * user_annotation); otherwise the record_function (user_annotation) ranges that are top-level on their
 * thread, except PyTorch's own data-loading and optimizer ranges and C++ operator names. */
static void test_step_marks(void)
{
    static const char with_steps[] =
        "{\"traceEvents\":["
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"ProfilerStep#1\",\"pid\":1,\"tid\":1,\"ts\":100,\"dur\":50},"
        "{\"ph\":\"X\",\"cat\":\"cpu_op\",\"name\":\"ProfilerStep#2\",\"pid\":1,\"tid\":1,\"ts\":150,\"dur\":40},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"forward\",\"pid\":1,\"tid\":1,\"ts\":105,\"dur\":20},"
        "{\"ph\":\"X\",\"cat\":\"gpu_user_annotation\",\"name\":\"ProfilerStep#1\",\"pid\":0,\"tid\":7,\"ts\":101,\"dur\":50}"
        "]}";
    sp_events *ev = load_ok(with_steps, NULL);
    CHECK_EQ_U64(ev->n_marks, 2);
    for (size_t i = 0; i < ev->n_marks; i++)
        CHECK_EQ_U64(ev->marks[i].kind, SP_MARK_PROFILER_STEP);
    if (ev->n_marks == 2) {
        CHECK_EQ_U64(ev->marks[0].start_ns, 100000);
        CHECK_EQ_U64(ev->marks[0].end_ns, 150000);
        CHECK(!strcmp(sp_str_get(&ev->strings, ev->marks[1].name), "ProfilerStep#2"));
    }
    sp_events_destroy(ev);
    /* no ProfilerStep: "forward" on thread 1 and on thread 2 are top-level; "layer1" nests in thread 1's
     * forward; the DataLoader and Optimizer ranges, "aten::mm" and cpu_op ranges never mark steps */
    static const char without_steps[] =
        "{\"traceEvents\":["
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__\","
        "\"pid\":1,\"tid\":1,\"ts\":0,\"dur\":5},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"forward\",\"pid\":1,\"tid\":1,\"ts\":10,\"dur\":90},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"layer1\",\"pid\":1,\"tid\":1,\"ts\":20,\"dur\":10},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"forward\",\"pid\":1,\"tid\":2,\"ts\":10,\"dur\":40},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"Optimizer.step#SGD.step\",\"pid\":1,\"tid\":1,\"ts\":110,\"dur\":9},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"aten::mm\",\"pid\":1,\"tid\":3,\"ts\":120,\"dur\":9},"
        "{\"ph\":\"X\",\"cat\":\"cpu_op\",\"name\":\"aten::linear\",\"pid\":1,\"tid\":4,\"ts\":130,\"dur\":9}"
        "]}";
    ev = load_ok(without_steps, NULL);
    CHECK_EQ_U64(ev->n_marks, 2);
    uint64_t ends = 0;
    for (size_t i = 0; i < ev->n_marks; i++) {
        CHECK_EQ_U64(ev->marks[i].kind, SP_MARK_USER_RANGE);
        CHECK(!strcmp(sp_str_get(&ev->strings, ev->marks[i].name), "forward"));
        ends += ev->marks[i].end_ns;
    }
    CHECK_EQ_U64(ends, 100000 + 50000);
    sp_events_destroy(ev);
    /* real traces: cuda_event_sync has one ProfilerStep; ns_resolution_resnet_v100 five, of which
     * --hta-compat drops the last (HTA drops the last step's CPU events) */
    static const struct {
        const char *file;
        int hta;
        uint64_t marks;
        const char *stage;
    } real[] = {{"cuda_event_sync", 0, 1, "gap"}, {"ns_resolution_resnet_v100", 0, 5, "kernel"},
                {"ns_resolution_resnet_v100", 1, 4, "kernel"}};
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        char path[1024], err[512];
        snprintf(path, sizeof path, "%s/tests/data/kineto/%s.json.gz", SP_SOURCE_DIR, real[i].file);
        CHECK(sp_events_create(&ev) == SP_OK);
        sp_load_options lo;
        sp_load_options_init(&lo);
        lo.hta_compat = real[i].hta;
        CHECK(sp_events_load_file(ev, path, &lo, err, sizeof err) == SP_OK);
        CHECK_EQ_U64(ev->n_marks, real[i].marks);
        for (size_t m = 0; m < ev->n_marks; m++)
            CHECK_EQ_U64(ev->marks[m].kind, SP_MARK_PROFILER_STEP);
        /* a sensible verdict: the resnet steps keep their device busy (HTA: idle 10113 of 384634 us,
         * 97% busy), the single cuda_event_sync step is mostly host time around 263 us of device work */
        sp_analyze_options ao;
        sp_analyze_options_init(&ao);
        ao.hta_compat = real[i].hta;
        sp_report *r = NULL;
        CHECK(sp_analyze(ev, &ao, &r, err, sizeof err) == SP_OK);
        if (r) {
            CHECK(r->verdict.stage && !strcmp(r->verdict.stage, real[i].stage));
            CHECK_EQ_U64(r->gpu.steps.count, real[i].marks);
            fprintf(stderr, "   %s%s: %s\n", real[i].file, real[i].hta ? " (hta)" : "", r->verdict.sentence);
            sp_report_destroy(r);
        }
        sp_events_destroy(ev);
    }
}

/* A training loop's trace (docs/analysis.md section 4, "Steps"): the file counts the host ranges only a
 * training step runs, autograd's backward nodes (cpu_op "autograd::engine::evaluate_function: ...") and
 * torch.optim's step ranges ("Optimizer.step#...", user_annotation or cpu_op), never their
 * gpu_user_annotation copies nor other names; the GPU-only verdict then calls the steps training steps.
 * Inference traces keep "forward passes". */
static void test_training(void)
{
    static const char t[] =
        "{\"traceEvents\":["
        "{\"ph\":\"X\",\"cat\":\"cpu_op\",\"name\":\"autograd::engine::evaluate_function: AddmmBackward0\","
        "\"pid\":1,\"tid\":1,\"ts\":10,\"dur\":5},"
        "{\"ph\":\"X\",\"cat\":\"cpu_op\",\"name\":\"AddmmBackward0\",\"pid\":1,\"tid\":1,\"ts\":11,\"dur\":3},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"Optimizer.step#SGD.step\",\"pid\":1,\"tid\":1,"
        "\"ts\":20,\"dur\":5},"
        "{\"ph\":\"X\",\"cat\":\"gpu_user_annotation\",\"name\":\"Optimizer.step#SGD.step\",\"pid\":0,\"tid\":7,"
        "\"ts\":21,\"dur\":5},"
        "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"Optimizer.zero_grad#SGD.zero_grad\",\"pid\":1,"
        "\"tid\":1,\"ts\":30,\"dur\":2},"
        "{\"ph\":\"X\",\"cat\":\"cpu_op\",\"name\":\"autograd::engine\",\"pid\":1,\"tid\":1,\"ts\":40,\"dur\":2}"
        "]}";
    sp_events *ev = load_ok(t, NULL);
    CHECK_EQ_U64(ev->files[0].training_ranges, 2); /* the evaluate_function and the step */
    sp_events_destroy(ev);
    /* real traces, counted independently (Python over the JSON: ph X, cat cpu_op named
     * "autograd::engine::evaluate_function...", or cat cpu_op / user_annotation named "Optimizer.step#..."):
     * amd_mi250_rocm (ROCm, a training loop: SGD) 6 + 1, ns_resolution_resnet_v100 (ResNet DDP training)
     * 1710 + 5; cuda_event_sync none */
    static const struct {
        const char *file;
        uint64_t ranges;
        const char *words;
    } real[] = {{"amd_mi250_rocm", 7, "The device is starved inside its training steps: it is idle 98% of the 9.34 ms "
                                      "analysed inside the steps (2 ProfilerStep ranges)"},
                {"ns_resolution_resnet_v100", 1715, "The device is busy 98% of the 483.52 ms analysed"},
                {"cuda_event_sync", 0, "The device is starved inside its forward passes: it is idle 98% of the 3.15 ms "
                                       "analysed inside the steps (1 ProfilerStep range)"}};
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++)
        for (int hta = 0; hta < 2; hta++) {
            char path[1024], err[512];
            snprintf(path, sizeof path, "%s/tests/data/kineto/%s.json.gz", SP_SOURCE_DIR, real[i].file);
            CHECK(sp_events_create(&ev) == SP_OK);
            sp_load_options lo;
            sp_load_options_init(&lo);
            lo.hta_compat = hta;
            CHECK(sp_events_load_file(ev, path, &lo, err, sizeof err) == SP_OK);
            CHECK_MSG(ev->files[0].training_ranges == real[i].ranges, "%s: %llu training ranges", real[i].file,
                      (unsigned long long)ev->files[0].training_ranges);
            sp_report *r = NULL;
            CHECK(sp_analyze(ev, NULL, &r, err, sizeof err) == SP_OK);
            if (r && !hta)
                CHECK_MSG(r->verdict.sentence && strstr(r->verdict.sentence, real[i].words), "%s: %s", real[i].file,
                          r->verdict.sentence ? r->verdict.sentence : "(none)");
            sp_report_destroy(r);
            sp_events_destroy(ev);
        }
}

/* torch.profiler without Kineto (Debian's torch 1.13) writes a bare array of X events with no "cat"
 * and a string pid, as export_chrome_trace did on this machine for a servprof.torch-annotated loop:
 * the servprof.* ranges are read as user_annotation ranges (request, stages, batch), the other
 * cat-less events (aten::...) stay ignored and are no step marks. Before, every event was ignored and
 * the report said "no requests in the trace" with exit 0. */
static void test_without_cat(void)
{
    const char *t =
        "[{\"name\":\"servprof.request:p0;tokens=4\",\"ph\":\"X\",\"ts\":178,\"dur\":2214,\"tid\":1,\"pid\":\"CPU functions\",\"args\":{}},"
        "{\"name\":\"servprof.stage.preprocess:p0\",\"ph\":\"X\",\"ts\":217,\"dur\":470,\"tid\":1,\"pid\":\"CPU functions\",\"args\":{}},"
        "{\"name\":\"aten::randn\",\"ph\":\"X\",\"ts\":319,\"dur\":77,\"tid\":1,\"pid\":\"CPU functions\",\"args\":{}},"
        "{\"name\":\"servprof.batch:1[p0];effective=4;padded=4\",\"ph\":\"X\",\"ts\":721,\"dur\":1571,\"tid\":1,\"pid\":\"CPU functions\",\"args\":{}},"
        "{\"name\":\"aten::linear\",\"ph\":\"X\",\"ts\":800,\"dur\":300,\"tid\":1,\"pid\":\"CPU functions\",\"args\":{}},"
        "{\"name\":\"servprof.stage.postprocess:p0\",\"ph\":\"X\",\"ts\":2300,\"dur\":53,\"tid\":1,\"pid\":\"CPU functions\",\"args\":{}}]";
    sp_events *ev = load_ok(t, NULL);
    CHECK_EQ_U64(ev->n_requests, 1);
    CHECK_EQ_U64(ev->n_batches, 1);
    CHECK_EQ_U64(ev->n_spans, 2); /* preprocess, postprocess */
    CHECK_EQ_U64(ev->n_acts, 0);
    if (ev->n_requests == 1) {
        CHECK_EQ_U64(ev->requests[0].arrival_ns, 178000);
        CHECK_EQ_U64(ev->requests[0].done_ns, 2392000);
        CHECK_EQ_U64(sp_ev_req_input_tokens(ev, &ev->requests[0]), 4);
    }
    if (ev->n_batches == 1) {
        CHECK_EQ_U64(ev->batches[0].effective_tokens, 4);
        CHECK_EQ_U64(ev->batches[0].start_ns, 721000);
    }
    CHECK_EQ_U64(ev->files[0].ignored, 2); /* the aten:: events */
    sp_events_destroy(ev);
}

int main(void)
{
    test_timestamps();
    const char *exact[] = {"cuda_event_sync", "alexnet_a100", "ns_resolution_resnet_v100", "amd_mi250_rocm",
                           "triton_kernel_example", "trace_compare_base", "cuda_graph_h200"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        test_exact_real(exact[i]);
    test_cpu_only();
    test_annotations();
    test_skipped_args();
    test_malformed();
    test_step_marks();
    test_without_cat();
    test_training();
    return sp_test_done("test_kineto_import");
}
