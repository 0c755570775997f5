/* Nsight Systems SQLite importer: databases built here with the SQLite API from the documented export
 * schema (tests/data/nsys/schema.sql) and a hand-written trace (golden.sql) read back exactly into the
 * event model; a wrong schema version, a foreign SQLite file, a corrupt or truncated file, bad rows
 * (strict and lenient), a missing column and a view in place of a table are refused clearly. Top-level
 * NVTX push/pop ranges become step marks; a CUDA graph launch is reported apart. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/events_int.h"
#include "testlib.h"

#ifndef SERVPROF_HAVE_SQLITE
int main(void)
{
    printf("test_nsys_import: SQLite not available, skipped\n");
    return 77;
}
#else
#include <sqlite3.h>

static char g_dir[256];

static char *read_text(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/nsys/%s", SP_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        exit(1);
    static char buf[3][16384];
    static int k;
    char *b = buf[k++ % 3];
    size_t n = fread(b, 1, sizeof buf[0] - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

/* Builds database `name` in the temp dir from the SQL texts given (NULL-terminated). */
static const char *make_db(const char *name, ...)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    unlink(path);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        exit(1);
    va_list ap;
    va_start(ap, name);
    const char *sql;
    while ((sql = va_arg(ap, const char *)) != NULL) {
        char *msg = NULL;
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
            fprintf(stderr, "fixture SQL failed: %s\n", msg);
            exit(1);
        }
    }
    va_end(ap);
    sqlite3_close(db);
    return path;
}

static sp_status load_map(const char *path, int lenient, const char *map, sp_events **out, char *err, size_t errlen)
{
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    sp_load_options opt;
    sp_load_options_init(&opt);
    opt.lenient = lenient;
    opt.map = map;
    sp_status st = sp_events_load_file(ev, path, &opt, err, errlen);   /* detected from the content */
    *out = ev;
    return st;
}

static sp_status load(const char *path, int lenient, sp_events **out, char *err, size_t errlen)
{
    return load_map(path, lenient, NULL, out, err, errlen);
}

static const char *S(const sp_events *ev, sp_str id)
{
    return sp_str_get(&ev->strings, id);
}

static void check_act(const sp_events *ev, size_t i, int kind, const char *name, uint64_t a, uint64_t b,
                      uint64_t bytes, uint64_t corr)
{
    CHECK(i < ev->n_acts);
    if (i >= ev->n_acts)
        return;
    const sp_ev_activity *x = &ev->acts[i];
    CHECK_EQ_U64(x->kind, kind);
    CHECK(name ? strcmp(S(ev, sp_ev_act_name(x)), name) == 0 : sp_ev_act_name(x) == SP_EV_NONE);
    CHECK_EQ_U64(x->start_ns, a);
    CHECK_EQ_U64(x->end_ns, b);
    CHECK_EQ_U64(sp_ev_act_bytes(x), bytes);
    CHECK_EQ_U64(x->correlation, corr);
    CHECK_EQ_U64(sp_ev_act_stream(ev, x), 7);
    CHECK_EQ_U64(x->batch, SP_EV_NONE);   /* tied to batches by window, on the analyzer's side */
}

static void test_golden(void)
{
    const char *path = make_db("golden.sqlite", read_text("schema.sql"), read_text("golden.sql"), (char *)NULL);
    char err[512];
    sp_events *ev;
    sp_status st = load(path, 0, &ev, err, sizeof err);
    CHECK(st == SP_OK);
    if (st) {
        fprintf(stderr, "%s\n", err);
        sp_events_destroy(ev);
        return;
    }
    CHECK(ev->files[0].format == SP_FORMAT_NSYS);
    /* tables in the order read: kernels, memcpy, memset, synchronisation; rows in table order */
    CHECK_EQ_U64(ev->n_acts, 7);
    check_act(ev, 0, SP_ACT_KERNEL, "gemm_kernel(float*)", 2000, 5000, 0, 11);   /* demangledName */
    check_act(ev, 1, SP_ACT_KERNEL, "softmax_kernel", 6000, 6500, 0, 13);
    check_act(ev, 2, SP_ACT_H2D, NULL, 1000, 1800, 4096, 10);   /* copyKind 1 = HtoD */
    check_act(ev, 3, SP_ACT_D2H, NULL, 7000, 7400, 2048, 14);   /* 2 = DtoH */
    check_act(ev, 4, SP_ACT_D2D, NULL, 7500, 7600, 512, 16);    /* 8 = DtoD */
    check_act(ev, 5, SP_ACT_MEMSET, NULL, 1900, 1950, 256, 12);
    check_act(ev, 6, SP_ACT_SYNC, NULL, 6600, 6900, 0, 15);
    /* launches: only the runtime calls whose correlation id a kernel carries (11 and 13) */
    CHECK_EQ_U64(ev->n_launches, 2);
    if (ev->n_launches == 2) {
        CHECK_EQ_U64(ev->launches[0].start_ns, 1500);
        CHECK_EQ_U64(ev->launches[0].end_ns, 1700);
        CHECK_EQ_U64(ev->launches[0].correlation, 11);
        CHECK(strcmp(S(ev, ev->launches[0].name), "cudaLaunchKernel_v7000") == 0);
        CHECK_EQ_U64(ev->launches[1].correlation, 13);
    }
    /* NVTX: r1 from text, r2 from textId -> StringIds */
    CHECK_EQ_U64(ev->n_requests, 2);
    if (ev->n_requests == 2) {
        CHECK(strcmp(S(ev, ev->requests[0].id), "r1") == 0);
        CHECK_EQ_U64(ev->requests[0].arrival_ns, 500);
        CHECK_EQ_U64(ev->requests[0].done_ns, 8000);
        CHECK(strcmp(S(ev, ev->requests[1].id), "r2") == 0);
        CHECK_EQ_U64(ev->requests[1].arrival_ns, 600);
        CHECK_EQ_U64(ev->requests[1].done_ns, 8100);
    }
    CHECK_EQ_U64(sp_ev_req_input_tokens(ev, &ev->requests[0]), 12);   /* ;tokens=12 */
    /* spans in the order resolved (docs/annotations.md): stage ranges in (thread, start) order, all on one
     * thread here: preprocess 500, queue 900, then `forward` 2000 (no id) charged to each member of the
     * batch range that encloses it, r1 then r2, then postprocess 7700 */
    CHECK_EQ_U64(ev->n_spans, 5);
    if (ev->n_spans == 5) {
        const char *names[5] = {"preprocess", "queue", "forward", "forward", "postprocess"};
        const uint64_t a[5] = {500, 900, 2000, 2000, 7700}, b[5] = {900, 1000, 5000, 5000, 8000};
        const uint64_t req[5] = {0, 0, 0, 1, 0};
        for (int i = 0; i < 5; i++) {
            CHECK_EQ_U64(ev->spans[i].req, req[i]);
            CHECK(strcmp(S(ev, ev->spans[i].stage), names[i]) == 0);
            CHECK_EQ_U64(ev->spans[i].start_ns, a[i]);
            CHECK_EQ_U64(ev->spans[i].end_ns, b[i]);
        }
    }
    CHECK_EQ_U64(ev->n_batches, 1);
    if (ev->n_batches == 1) {
        const sp_ev_batch *b = &ev->batches[0];
        CHECK(b->id == 3 && b->has_record);
        CHECK_EQ_U64(b->start_ns, 1000);
        CHECK_EQ_U64(b->end_ns, 7700);
        CHECK_EQ_U64(b->effective_tokens, 5);
        CHECK_EQ_U64(b->padded_tokens, 8);
        CHECK_EQ_U64(b->nmembers, 2);
        CHECK_EQ_U64(ev->members[b->first_member], 0);
        CHECK_EQ_U64(ev->members[b->first_member + 1], 1);
    }
    /* servprof.future:x and a stage without a request id are ignored, not errors; the mark (no end)
     * and torch.matmul are not ours */
    CHECK_EQ_U64(ev->files[0].ignored, 2);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
}

static void expect_fail(const char *path, int lenient, sp_status want, const char *msg);

/* The annotation convention as Kineto has it (docs/annotations.md): unnamed batches numbered 1, 2, ...,
 * stages without ids charged through the enclosing range on the same thread (globalTid), --map names,
 * and malformed names refused naming the row (or skipped under --lenient). */
static void test_convention(void)
{
    const char *ver = "INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_SCHEMA_VERSION', '3.11.0');";
    const char *path = make_db("conv.sqlite", read_text("schema.sql"), ver,
        "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid) VALUES"
        " (100, 900, 59, 'req:a', 1),"                  /* --map request=req */
        " (200, 400, 59, 'tok', 1),"                    /* --map stage:preprocess=tok: inside req:a */
        " (100, 900, 59, 'servprof.request:b', 2),"
        " (200, 400, 59, 'servprof.stage.tok2', 1),"    /* thread 1: request a, not b */
        " (500, 800, 59, 'servprof.batch[a,b]', 3),"    /* no id: batch 1 */
        " (600, 700, 59, 'servprof.stage.run', 3),"     /* inside the batch on thread 3: a and b */
        " (950, 990, 59, 'servprof.batch;eff=1;pad=4', 3);", (char *)NULL);
    char err[512];
    sp_events *ev;
    sp_status st = load_map(path, 0, "request=req,stage:preprocess=tok", &ev, err, sizeof err);
    CHECK(st == SP_OK);
    if (st)
        fprintf(stderr, "%s\n", err);
    CHECK_EQ_U64(ev->n_requests, 2);
    CHECK_EQ_U64(ev->n_batches, 2);
    if (ev->n_batches == 2) {
        CHECK(ev->batches[0].id == 1 && ev->batches[0].nmembers == 2 && ev->batches[0].start_ns == 500);
        CHECK(ev->batches[1].id == 2 && ev->batches[1].nmembers == 0);
        CHECK(ev->batches[1].effective_tokens == 1 && ev->batches[1].padded_tokens == 4);
    }
    /* preprocess (tok) and tok2 on thread 1 -> request a (index 0); run -> a and b */
    CHECK_EQ_U64(ev->n_spans, 4);
    for (size_t i = 0; i < ev->n_spans; i++) {
        const char *nm = S(ev, ev->spans[i].stage);
        if (strcmp(nm, "run") != 0)
            CHECK_EQ_U64(ev->spans[i].req, 0);
        CHECK(strcmp(nm, "preprocess") == 0 || strcmp(nm, "tok2") == 0 || strcmp(nm, "run") == 0);
    }
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    sp_events_destroy(ev);
    /* the old Nsight-only member syntax and a non-integer batch id are malformed: an error naming the row */
    const char *bad = make_db("conv_bad.sqlite", read_text("schema.sql"), ver,
        "INSERT INTO NVTX_EVENTS (start, end, eventType, text) VALUES (1, 2, 59, 'servprof.request:r'),"
        " (1, 5, 59, 'servprof.batch:3:r1,r2');", (char *)NULL);
    expect_fail(bad, 0, SP_ERR_PARSE,
                "table NVTX_EVENTS, row 2: annotation \"servprof.batch:3:r1,r2\": a batch id must be an integer");
    CHECK(load(bad, 1, &ev, err, sizeof err) == SP_OK);   /* lenient: skipped and counted */
    CHECK_EQ_U64(ev->n_batches, 0);
    CHECK_EQ_U64(ev->n_requests, 1);
    CHECK_EQ_U64(ev->files[0].skipped, 1);
    sp_events_destroy(ev);
    /* a malformed --map is refused before the file is read */
    CHECK(load_map(path, 0, "bogus=x", &ev, err, sizeof err) == SP_ERR_INVALID);
    CHECK(strstr(err, "--map entry \"bogus=x\": unknown role") != NULL);
    sp_events_destroy(ev);
}

/* Only a kernel table: missing tables are fine. */
static void test_kernels_only(void)
{
    const char *path = make_db("kernels.sqlite",
        "CREATE TABLE META_DATA_EXPORT (name TEXT, value TEXT);"
        "INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_SCHEMA_VERSION', '2.7.1');"
        "CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INT, end INT, deviceId INT, streamId INT,"
        " correlationId INT, shortName INT);"
        "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (10, 20, 1, 3, 5, 1);", (char *)NULL);
    char err[512];
    sp_events *ev;
    CHECK(load(path, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_acts, 1);
    if (ev->n_acts == 1) {
        CHECK_EQ_U64(ev->acts[0].device, 1);
        CHECK(strcmp(S(ev, sp_ev_act_name(&ev->acts[0])), "(unnamed kernel)") == 0);   /* no StringIds table */
    }
    sp_events_destroy(ev);
}

/* Step marks from NVTX (docs/nsys.md, "Steps"): push/pop ranges (eventType 59) that are top-level on
 * their thread and follow no servprof convention; operator ranges ("aten::mm, seq = 3", what
 * emit_nvtx writes), start/end ranges (eventType 60) and nested ranges are not steps. And a CUDA
 * graph launch (cudaGraphLaunch_v10000) whose 3 kernels share its correlation id is reported apart
 * from the ordinary launch. */
static void test_steps_and_graphs(void)
{
    const char *path = make_db("steps.sqlite", read_text("schema.sql"),
        "INSERT INTO StringIds VALUES (1, 'node'), (2, 'cudaGraphLaunch_v10000'), (3, 'cudaLaunchKernel_v7000');"
        "INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_SCHEMA_VERSION', '3.11.0');"
        "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL (start, end, deviceId, contextId, streamId, correlationId,"
        " globalPid, demangledName, shortName) VALUES (2000, 2500, 0, 1, 7, 50, 1, 1, 1),"
        " (2600, 3000, 0, 1, 7, 50, 1, 1, 1), (3100, 3900, 0, 1, 7, 50, 1, 1, 1), (9500, 9900, 0, 1, 7, 60, 1, 1, 1);"
        "INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (1000, 1500, 1, 5, 50, 2, 0), (9000, 9200, 1, 5, 60, 3, 0);"
        "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid) VALUES"
        " (500, 5000, 59, 'step', 5), (600, 700, 59, 'inner', 5), (800, 900, 59, 'aten::mm, seq = 3', 6),"
        " (8000, 12000, 59, 'step', 5), (100, 20000, 60, 'async range', 7), (100, 200, 59, 'servprof.future:x', 5);",
        (char *)NULL);
    char err[512];
    sp_events *ev;
    CHECK(load(path, 0, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->n_marks, 2);
    for (size_t i = 0; i < ev->n_marks; i++) {
        CHECK_EQ_U64(ev->marks[i].kind, SP_MARK_NVTX);
        CHECK(strcmp(S(ev, ev->marks[i].name), "step") == 0);
    }
    if (ev->n_marks == 2)
        CHECK_EQ_U64(ev->marks[0].start_ns + ev->marks[1].start_ns, 500 + 8000);
    sp_report *r = NULL;
    CHECK(sp_analyze(ev, NULL, &r, err, sizeof err) == SP_OK);
    if (r) {
        CHECK_EQ_U64(r->gpu.graph.launches, 1);
        CHECK_EQ_U64(r->gpu.graph.kernels, 3);
        CHECK_EQ_U64(r->gpu.graph.first_delay.max_ns, 500);   /* 2000 - 1500 */
        CHECK_EQ_U64(r->gpu.launches_joined, 1);
        CHECK_EQ_U64(r->gpu.launch_delay_max_ns, 300);        /* 9500 - 9200 */
        CHECK_EQ_U64(r->gpu.steps.count, 2);
        CHECK_EQ_U64(r->gpu.steps.source, SP_STEPS_NVTX);
        sp_report_destroy(r);
    }
    sp_events_destroy(ev);
}

static void expect_fail(const char *path, int lenient, sp_status want, const char *msg)
{
    char err[512] = "";
    sp_events *ev;
    sp_status st = load(path, lenient, &ev, err, sizeof err);
    CHECK(st == want);
    CHECK(strstr(err, msg) != NULL);
    CHECK(strstr(err, path) != NULL);   /* the message names the file */
    if (st != want || !strstr(err, msg))
        fprintf(stderr, "got %d \"%s\", want \"%s\"\n", (int)st, err, msg);
    CHECK_EQ_U64(ev->n_acts + ev->n_requests, 0);
    sp_events_destroy(ev);
}

static void test_refused(void)
{
    const char *schema = read_text("schema.sql");
    expect_fail(make_db("v1.sqlite", schema, "INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_SCHEMA_VERSION', '1.0');",
                        (char *)NULL), 0, SP_ERR_FORMAT,
                "unsupported Nsight Systems export schema version \"1.0\" (this build reads export schema versions "
                "2.x to 3.x)");
    expect_fail(make_db("v9.sqlite", schema, "INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_SCHEMA_VERSION', '9.1');",
                        (char *)NULL), 0, SP_ERR_FORMAT, "version \"9.1\"");
    expect_fail(make_db("nover.sqlite", schema, (char *)NULL), 0, SP_ERR_FORMAT, "no EXPORT_SCHEMA_VERSION");
    expect_fail(make_db("other.sqlite", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);", (char *)NULL), 0,
                SP_ERR_FORMAT, "not an Nsight Systems export: no META_DATA_EXPORT table");
    const char *ver = "INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_SCHEMA_VERSION', '3.11.0');";
    const char *badrow = make_db("badrow.sqlite", schema, ver,
        "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL (start, end, deviceId, contextId, streamId, correlationId,"
        " demangledName, shortName) VALUES (10, 20, 0, 1, 7, 1, 1, 1), (50, 40, 0, 1, 7, 2, 1, 1);", (char *)NULL);
    expect_fail(badrow, 0, SP_ERR_PARSE, "table CUPTI_ACTIVITY_KIND_KERNEL, row 2: end is before start");
    char err[512];
    sp_events *ev;
    CHECK(load(badrow, 1, &ev, err, sizeof err) == SP_OK);   /* lenient: the row is skipped and counted */
    CHECK_EQ_U64(ev->n_acts, 1);
    CHECK_EQ_U64(ev->files[0].skipped, 1);
    sp_events_destroy(ev);
    expect_fail(make_db("nocol.sqlite", "CREATE TABLE META_DATA_EXPORT (name TEXT, value TEXT);", ver,
                        "CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INT, end INT, deviceId INT, correlationId INT);",
                        (char *)NULL), 0, SP_ERR_FORMAT,
                "table CUPTI_ACTIVITY_KIND_KERNEL has no column streamId (export schema version 3.11.0)");
    expect_fail(make_db("view.sqlite", "CREATE TABLE META_DATA_EXPORT (name TEXT, value TEXT);", ver,
                        "CREATE VIEW CUPTI_ACTIVITY_KIND_KERNEL AS SELECT 1 AS start;", (char *)NULL), 0,
                SP_ERR_FORMAT, "CUPTI_ACTIVITY_KIND_KERNEL is a view, not a table");
    /* corrupt: the SQLite magic followed by garbage */
    char path[512];
    snprintf(path, sizeof path, "%s/corrupt.sqlite", g_dir);
    FILE *f = fopen(path, "wb");
    unsigned char junk[2048];
    memcpy(junk, "SQLite format 3", 16);
    for (size_t i = 16; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    {
        char e2[512] = "";
        sp_events *ev2;
        sp_status st = load(path, 0, &ev2, e2, sizeof e2);
        CHECK(st == SP_ERR_FORMAT || st == SP_ERR_PARSE);
        CHECK(strstr(e2, "corrupt") != NULL || strstr(e2, "not an SQLite database") != NULL);
        CHECK(strstr(e2, path) != NULL);
        sp_events_destroy(ev2);
    }
    /* truncated: the golden database cut in half fails cleanly (no crash, message names the file) */
    const char *golden = make_db("golden2.sqlite", schema, read_text("golden.sql"), (char *)NULL);
    FILE *g = fopen(golden, "rb");
    static unsigned char whole[1 << 16];
    size_t n = fread(whole, 1, sizeof whole, g);
    fclose(g);
    snprintf(path, sizeof path, "%s/truncated.sqlite", g_dir);
    f = fopen(path, "wb");
    fwrite(whole, 1, n / 2, f);
    fclose(f);
    {
        char e2[512] = "";
        sp_events *ev2;
        sp_status st = load(path, 0, &ev2, e2, sizeof e2);
        CHECK(st != SP_OK);
        CHECK(strstr(e2, path) != NULL);
        sp_events_destroy(ev2);
    }
    /* from memory: refused, an SQLite export must be a file */
    {
        char e2[512] = "";
        sp_events *ev2;
        CHECK(sp_events_create(&ev2) == SP_OK);
        CHECK(sp_events_load_buffer(ev2, "mem.sqlite", whole, n, NULL, e2, sizeof e2) == SP_ERR_FORMAT);
        CHECK(strstr(e2, "must be an uncompressed file on disk") != NULL);
        sp_events_destroy(ev2);
    }
}

static char g_log[1024];

static void capture_log(void *user, sp_log_level level, const char *message)
{
    (void)user;
    if (level == SP_LOG_WARN && !g_log[0])
        snprintf(g_log, sizeof g_log, "%s", message);
}

/* Loads `path` and returns the first warning it logged ("" when none). */
static const char *load_warning(const char *path)
{
    char err[512];
    sp_events *ev = NULL;
    g_log[0] = '\0';
    sp_set_log(capture_log, NULL);
    CHECK(load(path, 0, &ev, err, sizeof err) == SP_OK);
    sp_set_log(NULL, NULL);
    sp_events_destroy(ev);
    return g_log;
}

/* nsys writes a table only for what it traced and found: an export with no kernel table or no NVTX
 * table loads, and a warning says what the report will lack and which profile option records it. */
static void test_untraced(void)
{
    static const char meta[] = "CREATE TABLE META_DATA_EXPORT (name TEXT, value TEXT);"
                               "INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_SCHEMA_VERSION', '3.11.0');";
    const char *w = load_warning(make_db("meta_only.sqlite", meta, (char *)NULL));
    CHECK(strstr(w, "meta_only.sqlite: no CUDA kernel and no NVTX range in the export (no "
                    "CUPTI_ACTIVITY_KIND_KERNEL or NVTX_EVENTS table)") != NULL);
    w = load_warning(make_db("kernels_no_nvtx.sqlite", meta,
        "CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INT, end INT, deviceId INT, streamId INT,"
        " correlationId INT, shortName INT);"
        "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (10, 20, 1, 3, 5, 1);", (char *)NULL));
    CHECK(strstr(w, "kernels_no_nvtx.sqlite: no NVTX range in the export (no NVTX_EVENTS table): the report "
                    "has no requests") != NULL);
    w = load_warning(make_db("nvtx_no_kernels.sqlite", meta,
        "CREATE TABLE NVTX_EVENTS (start INT NOT NULL, end INT, eventType INT NOT NULL, text TEXT);"
        "INSERT INTO NVTX_EVENTS VALUES (1, 9, 59, 'servprof.request:r1');", (char *)NULL));
    CHECK(strstr(w, "nvtx_no_kernels.sqlite: no CUDA kernel in the export (no CUPTI_ACTIVITY_KIND_KERNEL "
                    "table)") != NULL);
    /* both tables, even empty ones: nothing to say */
    w = load_warning(make_db("both.sqlite", read_text("schema.sql"),
                             "INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_SCHEMA_VERSION', '3.11.0');", (char *)NULL));
    CHECK(w[0] == '\0');
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/sp_nsys_XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    test_golden();
    test_kernels_only();
    test_convention();
    test_steps_and_graphs();
    test_refused();
    test_untraced();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return sp_test_done("test_nsys_import");
}
#endif
