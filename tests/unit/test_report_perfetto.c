/* The Perfetto/Chrome-trace export from a hand-built event set (no importer, no analyzer): the output
 * parses, every slice sits on a named process and thread, slices on one track nest strictly, requests
 * that overlap in time get different rows, stage spans and batch windows sit inside their request,
 * and batches, kernels, copies and launch calls appear with their args. */
#include <stdlib.h>
#include <string.h>

#include "json_mini.h"
#include "model/events_int.h"
#include "testlib.h"

static uint32_t add_request(sp_events *ev, const char *id, uint64_t arrival, uint64_t done, int64_t tokens)
{
    uint32_t r;
    CHECK(sp_ev_request_ref(ev, 0, id, strlen(id), &r) == SP_OK);
    ev->requests[r].arrival_ns = arrival;
    ev->requests[r].done_ns = done;
    ev->requests[r].input_tokens = tokens;
    ev->requests[r].has_record = true;
    return r;
}

static void add_span(sp_events *ev, uint32_t req, const char *stage, uint64_t s, uint64_t e)
{
    sp_str id;
    CHECK(sp_str_intern(&ev->strings, stage, strlen(stage), &id) == SP_OK);
    CHECK(sp_ev_add_span(ev, req, id, s, e) == SP_OK);
}

static void add_act(sp_events *ev, sp_act_kind kind, const char *name, uint32_t device, int64_t stream,
                    uint32_t batch, uint64_t s, uint64_t e, uint64_t bytes)
{
    sp_ev_activity a;
    memset(&a, 0, sizeof a);
    a.kind = (uint8_t)kind;
    a.name = SP_EV_NONE;
    if (name)
        CHECK(sp_str_intern(&ev->strings, name, strlen(name), &a.name) == SP_OK);
    a.device = device;
    a.stream = stream;
    a.batch = batch;
    a.start_ns = s;
    a.end_ns = e;
    a.bytes = bytes;
    CHECK(sp_ev_add_activity(ev, &a) == SP_OK);
}

/* The DESIGN section 9 example (r1, batch 7), plus r2 whose queue span overlaps its preprocess span,
 * r3 after r1 is done, a kernel on another device and a sync wait. */
static sp_events *build(void)
{
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    uint32_t file;
    CHECK(sp_ev_add_file(ev, "hand.jsonl", SP_FORMAT_JSONL, &file) == SP_OK);
    uint32_t r1 = add_request(ev, "r1", 1000, 905000, 37);
    uint32_t r2 = add_request(ev, "r2", 2000, 910000, 23);
    add_request(ev, "r3", 950000, 960000, -1);
    add_span(ev, r1, "preprocess", 1000, 51000);
    add_span(ev, r1, "queue", 51000, 301000);
    add_span(ev, r1, "postprocess", 801000, 905000);
    add_span(ev, r2, "preprocess", 2000, 60000);
    add_span(ev, r2, "queue", 50000, 301000);
    add_span(ev, r2, "postprocess", 801000, 910000);
    uint32_t b;
    CHECK(sp_ev_batch_ref(ev, 0, 7, &b) == SP_OK);
    uint32_t members[2] = {r1, r2};
    CHECK(sp_ev_batch_set_members(ev, b, members, 2) == SP_OK);
    ev->batches[b].start_ns = 301000;
    ev->batches[b].end_ns = 801000;
    ev->batches[b].effective_tokens = 60;
    ev->batches[b].padded_tokens = 80;
    ev->batches[b].has_record = true;
    add_act(ev, SP_ACT_H2D, NULL, 0, 7, b, 301000, 321000, 4096);
    add_act(ev, SP_ACT_KERNEL, "gemm_f32", 0, 7, b, 331000, 761000, 0);
    add_act(ev, SP_ACT_D2H, NULL, 0, 7, b, 771000, 781000, 2048);
    add_act(ev, SP_ACT_KERNEL, "other_dev", 1, 3, SP_EV_NONE, 100000, 200000, 0);
    add_act(ev, SP_ACT_SYNC, NULL, 0, 7, b, 330000, 770000, 0);
    sp_ev_launch l = {320000, 325000, 5, SP_EV_NONE, 0};
    CHECK(sp_str_intern(&ev->strings, "cudaLaunchKernel", 16, &l.name) == SP_OK);
    CHECK(sp_ev_add_launch(ev, &l) == SP_OK);
    char err[256];
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    return ev;
}

static char *render(const sp_events *ev, size_t *len, sp_status *st)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        exit(1);
    *st = sp_report_write_perfetto(NULL, ev, f);
    fclose(f);
    return buf;
}

/* ns from a "us with 3 decimals" number */
static int64_t ns_of(const jv *v)
{
    return v && v->type == JV_NUM ? (int64_t)llround(v->num * 1000.0) : -1;
}

typedef struct slice {
    const jv *e;
    int64_t pid, tid, ts, end;
} slice;

static int slice_cmp(const void *a, const void *b)
{
    const slice *x = a, *y = b;
    if (x->pid != y->pid) return x->pid < y->pid ? -1 : 1;
    if (x->tid != y->tid) return x->tid < y->tid ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return (x->end < y->end) - (x->end > y->end); /* longer first: parents before children */
}

static const jv *find_x(const jv *events, const char *name, const char *cat)
{
    for (size_t i = 0; i < events->n; i++) {
        const jv *e = &events->items[i];
        const jv *ph = jv_get(e, "ph"), *nm = jv_get(e, "name"), *ct = jv_get(e, "cat");
        if (ph && strcmp(ph->str, "X") == 0 && nm && strcmp(nm->str, name) == 0 &&
            (!cat || (ct && strcmp(ct->str, cat) == 0)))
            return e;
    }
    return NULL;
}

static int has_meta(const jv *events, const char *what, int64_t pid, int64_t tid, const char *name)
{
    for (size_t i = 0; i < events->n; i++) {
        const jv *e = &events->items[i];
        const jv *ph = jv_get(e, "ph"), *nm = jv_get(e, "name");
        if (!ph || strcmp(ph->str, "M") || !nm || strcmp(nm->str, what))
            continue;
        if ((int64_t)jv_get(e, "pid")->num != pid || (tid >= 0 && (int64_t)jv_get(e, "tid")->num != tid))
            continue;
        const jv *n = jv_path(e, "args.name");
        if (!name || (n && n->type == JV_STR && strcmp(n->str, name) == 0))
            return 1;
    }
    return 0;
}

static int within(const jv *child, const jv *parent)
{
    int64_t cs = ns_of(jv_get(child, "ts")), ce = cs + ns_of(jv_get(child, "dur"));
    int64_t ps = ns_of(jv_get(parent, "ts")), pe = ps + ns_of(jv_get(parent, "dur"));
    return jv_get(child, "pid")->num == jv_get(parent, "pid")->num &&
           jv_get(child, "tid")->num == jv_get(parent, "tid")->num && cs >= ps && ce <= pe;
}

static void test_export(void)
{
    sp_events *ev = build();
    size_t len;
    sp_status st;
    char *text = render(ev, &len, &st);
    CHECK(st == SP_OK);
    jv root;
    const char *why;
    size_t at;
    if (jv_parse(text, len, &root, &why, &at)) {
        fprintf(stderr, "perfetto JSON does not parse: %s at %zu\n", why, at);
        CHECK(0);
        free(text);
        sp_events_destroy(ev);
        return;
    }
    const jv *unit = jv_get(&root, "displayTimeUnit");
    CHECK(unit && unit->type == JV_STR && strcmp(unit->str, "ns") == 0);
    const jv *events = jv_get(&root, "traceEvents");
    CHECK(events && events->type == JV_ARR);
    if (!events || events->type != JV_ARR) {
        jv_free(&root);
        free(text);
        sp_events_destroy(ev);
        return;
    }
    /* every X slice: on a named process, ts/dur numbers; collect for the nesting check */
    slice *sl = calloc(events->n, sizeof *sl);
    size_t ns = 0;
    for (size_t i = 0; i < events->n; i++) {
        const jv *e = &events->items[i];
        const jv *ph = jv_get(e, "ph");
        CHECK(ph && ph->type == JV_STR);
        if (!ph || strcmp(ph->str, "X"))
            continue;
        CHECK(jv_get(e, "name") && jv_get(e, "name")->type == JV_STR);
        CHECK(ns_of(jv_get(e, "ts")) >= 0 && ns_of(jv_get(e, "dur")) >= 0);
        int64_t pid = (int64_t)jv_get(e, "pid")->num, tid = (int64_t)jv_get(e, "tid")->num;
        CHECK(has_meta(events, "process_name", pid, -1, NULL));
        CHECK(has_meta(events, "thread_name", pid, tid, NULL));
        int64_t ts = ns_of(jv_get(e, "ts"));
        sl[ns++] = (slice){e, pid, tid, ts, ts + ns_of(jv_get(e, "dur"))};
    }
    /* 3 requests + 6 stage spans + 1 batch window per member (2) + 1 batch + 4 device + 1 launch */
    CHECK_EQ_U64(ns, 17);
    /* strict nesting per track: a slice starting inside an open one must end inside it */
    qsort(sl, ns, sizeof *sl, slice_cmp);
    for (size_t i = 0; i < ns; i++) {
        for (size_t j = i + 1; j < ns && sl[j].pid == sl[i].pid && sl[j].tid == sl[i].tid; j++) {
            if (sl[j].ts >= sl[i].end)
                break;
            if (sl[j].end > sl[i].end)
                fprintf(stderr, "overlap without nesting: %s and %s\n", jv_get(sl[i].e, "name")->str,
                        jv_get(sl[j].e, "name")->str);
            CHECK(sl[j].end <= sl[i].end);
        }
    }
    free(sl);

    /* t0 = the first arrival (r1, 1000 ns): r1 at 0.000 us lasting 904 us (905000 - 1000 ns) */
    const jv *r1 = find_x(events, "r1", "request"), *r2 = find_x(events, "r2", "request");
    const jv *r3 = find_x(events, "r3", "request");
    CHECK(r1 && r2 && r3);
    if (r1 && r2 && r3) {
        CHECK(strcmp(jv_get(r1, "ts")->raw, "0.000") == 0);
        CHECK(strcmp(jv_get(r1, "dur")->raw, "904.000") == 0);
        CHECK(ns_of(jv_get(r2, "ts")) == 1000);
        CHECK(jv_get(r1, "tid")->num != jv_get(r2, "tid")->num); /* they overlap in time */
        CHECK(jv_get(r1, "tid")->num == jv_get(r3, "tid")->num); /* r3 arrives after r1 is done */
        CHECK_EQ_U64(jv_path(r1, "args.input_tokens")->num, 37);
        const jv *b7 = NULL;
        int children = 0;
        for (size_t i = 0; i < events->n; i++) {
            const jv *e = &events->items[i];
            const jv *cat = jv_get(e, "cat");
            if (!cat || (strcmp(cat->str, "stage") && strcmp(cat->str, "batch")))
                continue;
            if (strcmp(cat->str, "batch") == 0 && (int64_t)jv_get(e, "pid")->num != (int64_t)jv_get(r1, "pid")->num) {
                b7 = e;
                continue;
            }
            CHECK(within(e, r1) || within(e, r2));
            children++;
        }
        CHECK(children == 8); /* 3 + 3 stage spans, batch 7 under r1 and under r2 */
        /* r2's queue span starts inside its preprocess span: clipped to 60000 ns (59 us after t0), the
         * true start kept in args */
        for (size_t i = 0; i < events->n; i++) {
            const jv *e = &events->items[i];
            const jv *nm = jv_get(e, "name");
            const jv *ph = jv_get(e, "ph"); /* the "queue" counter track (depth) is not a slice */
            if (nm && strcmp(nm->str, "queue") == 0 && ph && strcmp(ph->str, "X") == 0 &&
                jv_path(e, "args.start_ns")->num == 50000) {
                CHECK(ns_of(jv_get(e, "ts")) == 59000);
                CHECK(within(e, r2));
            }
        }
        CHECK(b7 != NULL);
        if (b7) {
            CHECK(strcmp(jv_get(b7, "name")->str, "batch 7") == 0);
            const jv *m = jv_path(b7, "args.members");
            CHECK(m && m->type == JV_ARR && m->n == 2);
            if (m && m->n == 2)
                CHECK(strcmp(m->items[0].str, "r1") == 0 && strcmp(m->items[1].str, "r2") == 0);
            CHECK_NEAR(jv_path(b7, "args.waste")->num, 0.25, 1e-12); /* 1 - 60/80 */
            CHECK(has_meta(events, "process_name", (int64_t)jv_get(b7, "pid")->num, -1, NULL));
        }
    }
    /* device tracks: device 0 stream 7 holds the kernel and both copies; device 1 is another process */
    const jv *k = find_x(events, "gemm_f32", "kernel"), *h2d = find_x(events, "memcpy h2d", "copy");
    const jv *k1 = find_x(events, "other_dev", "kernel");
    CHECK(k && h2d && k1);
    if (k && h2d && k1) {
        CHECK(jv_get(k, "pid")->num == jv_get(h2d, "pid")->num);
        CHECK(jv_get(k, "tid")->num == 7);
        CHECK(jv_get(k1, "pid")->num != jv_get(k, "pid")->num);
        CHECK(has_meta(events, "thread_name", (int64_t)jv_get(k, "pid")->num, 7, "stream 7"));
        CHECK(has_meta(events, "process_name", (int64_t)jv_get(k, "pid")->num, -1, "device 0"));
        CHECK_EQ_U64(jv_path(h2d, "args.bytes")->num, 4096);
        CHECK_EQ_U64(jv_path(k, "args.batch")->num, 7);
        CHECK(strcmp(jv_get(k, "dur")->raw, "430.000") == 0); /* 761000 - 331000 ns */
    }
    CHECK(find_x(events, "sync", NULL) == NULL);
    const jv *launch = find_x(events, "cudaLaunchKernel", "launch");
    CHECK(launch && jv_path(launch, "args.correlation")->num == 5);
    jv_free(&root);
    free(text);
    sp_events_destroy(ev);
}

static void test_unfinished_and_empty(void)
{
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    size_t len;
    sp_status st;
    char *text = render(ev, &len, &st);
    CHECK(st == SP_ERR_STATE); /* per-request lists exist only after sp_ev_finish */
    free(text);
    char err[128];
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    text = render(ev, &len, &st);
    CHECK(st == SP_OK);
    jv root;
    const char *why;
    size_t at;
    CHECK(jv_parse(text, len, &root, &why, &at) == 0);
    const jv *events = jv_get(&root, "traceEvents");
    CHECK(events && events->type == JV_ARR && events->n == 0);
    jv_free(&root);
    free(text);
    sp_events_destroy(ev);
}

int main(void)
{
    test_export();
    test_unfinished_and_empty();
    return sp_test_done("test_report_perfetto");
}
