/* The Perfetto/Chrome-trace export from a hand-built event set (no importer, no analyzer): the output
 * parses, every slice sits on a named process and thread, slices on one track nest strictly, requests
 * that overlap in time get different rows, stage spans and batch windows sit inside their request,
 * and batches, kernels, copies and launch calls appear with their args; flow arrows bind to the
 * slices they join and the counter tracks hold hand-computed values. */
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
    CHECK(sp_ev_req_set_input_tokens(ev, r, tokens) == SP_OK);
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
    CHECK(!name || kind == SP_ACT_KERNEL);                    /* a kernel's name, */
    CHECK(bytes == 0 || sp_ev_act_kind_has_bytes((uint8_t)kind)); /* a copy's bytes (nb) */
    if (kind == SP_ACT_KERNEL)
        a.nb.name = SP_EV_NONE;
    else
        a.nb.bytes = bytes;
    if (name)
        CHECK(sp_str_intern(&ev->strings, name, strlen(name), &a.nb.name) == SP_OK);
    a.device = device;
    CHECK(sp_ev_stream_id(ev, stream, &a.stream_ix) == SP_OK);
    a.batch = batch;
    a.start_ns = s;
    a.end_ns = e;
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

/* The X slice on (pid, tid) whose span holds `ts` strictly inside (the deepest: the shortest). */
static const jv *slice_at(const jv *events, int64_t pid, int64_t tid, int64_t ts)
{
    const jv *best = NULL;
    int64_t best_len = INT64_MAX;
    for (size_t i = 0; i < events->n; i++) {
        const jv *e = &events->items[i], *ph = jv_get(e, "ph");
        if (!ph || strcmp(ph->str, "X") || (int64_t)jv_get(e, "pid")->num != pid ||
            (int64_t)jv_get(e, "tid")->num != tid)
            continue;
        int64_t s = ns_of(jv_get(e, "ts")), d = ns_of(jv_get(e, "dur"));
        if (s < ts && ts < s + d && d < best_len) {
            best = e;
            best_len = d;
        }
    }
    return best;
}

/* The counter samples of one track, "ts:value" joined by spaces (ts in ns after t0). */
static void counter_series(const jv *events, const char *name, const char *key, int64_t pid, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < events->n; i++) {
        const jv *e = &events->items[i], *ph = jv_get(e, "ph");
        if (!ph || strcmp(ph->str, "C") || strcmp(jv_get(e, "name")->str, name) ||
            (int64_t)jv_get(e, "pid")->num != pid)
            continue;
        char k[64];
        snprintf(k, sizeof k, "args.%s", key);
        const jv *v = jv_path(e, k);
        o += (size_t)snprintf(out + o, len - o, "%s%lld:%lld", o ? " " : "", (long long)ns_of(jv_get(e, "ts")),
                              v ? (long long)v->num : -1LL);
        if (o >= len)
            return;
    }
}

/* Flow arrows request -> batch -> device work, each end bound to the slice it should be (the flow
 * event's time strictly inside it, on its track; "f" with bind point "e"), and the counter tracks,
 * against values worked out by hand from build() (t0 = 1000 ns, r1's arrival):
 * - queue depth: r2 queues from 50000 (its queue span), r1 from 51000, both until batch 7 starts at
 *   301000: 1 at 49 us, 2 at 50 us, 0 at 300 us;
 * - batch size: batch 7's 2 members from 301000 to 801000: 2 at 300 us, 0 at 800 us;
 * - device 0 busy: the union of h2d [301000, 321000), the kernel [331000, 761000) and d2h
 *   [771000, 781000) (the sync is not device work); device 1: [100000, 200000). */
static void test_flows_and_counters(void)
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
        CHECK(0);
        free(text);
        sp_events_destroy(ev);
        return;
    }
    const jv *events = jv_get(&root, "traceEvents");
    int req_batch = 0, batch_dev = 0;
    for (size_t i = 0; i < events->n; i++) {
        const jv *s = &events->items[i], *ph = jv_get(s, "ph");
        if (!ph || strcmp(ph->str, "s"))
            continue;
        /* its one "f", by id */
        const jv *f = NULL;
        int fs = 0;
        for (size_t j = 0; j < events->n; j++) {
            const jv *e = &events->items[j], *p2 = jv_get(e, "ph");
            if (p2 && strcmp(p2->str, "f") == 0 && jv_get(e, "id")->num == jv_get(s, "id")->num) {
                f = e;
                fs++;
            }
        }
        CHECK(fs == 1);
        if (!f)
            continue;
        CHECK(strcmp(jv_get(f, "bp")->str, "e") == 0);
        CHECK(strcmp(jv_get(s, "cat")->str, "flow") == 0 && strcmp(jv_get(f, "cat")->str, "flow") == 0);
        const jv *from = slice_at(events, (int64_t)jv_get(s, "pid")->num, (int64_t)jv_get(s, "tid")->num,
                                  ns_of(jv_get(s, "ts")));
        const jv *to = slice_at(events, (int64_t)jv_get(f, "pid")->num, (int64_t)jv_get(f, "tid")->num,
                                ns_of(jv_get(f, "ts")));
        CHECK(from && to);
        if (!from || !to)
            continue;
        if (strcmp(jv_get(s, "name")->str, "request -> batch") == 0) {
            req_batch++;
            /* from the request's own "batch 7" child, to batch 7 on the batches track */
            CHECK(strcmp(jv_get(from, "cat")->str, "batch") == 0 && jv_get(from, "pid")->num == 2);
            CHECK(strcmp(jv_get(to, "name")->str, "batch 7") == 0 && jv_get(to, "pid")->num == 3);
        } else {
            CHECK(strcmp(jv_get(s, "name")->str, "batch -> device") == 0);
            batch_dev++;
            CHECK(strcmp(jv_get(from, "name")->str, "batch 7") == 0 && jv_get(from, "pid")->num == 3);
            CHECK(jv_get(to, "pid")->num == 1000 && jv_path(to, "args.batch")->num == 7);
        }
    }
    CHECK_EQ_U64(req_batch, 2);  /* r1 and r2 into batch 7 */
    CHECK_EQ_U64(batch_dev, 3);  /* its h2d, kernel and d2h; the other device's kernel has no batch */
    char got[256];
    counter_series(events, "queue", "depth", 2, got, sizeof got);
    CHECK(strcmp(got, "49000:1 50000:2 300000:0") == 0);
    if (strcmp(got, "49000:1 50000:2 300000:0"))
        fprintf(stderr, "queue depth: %s\n", got);
    counter_series(events, "batch", "size", 3, got, sizeof got);
    CHECK(strcmp(got, "300000:2 800000:0") == 0);
    counter_series(events, "device", "busy", 1000, got, sizeof got);
    CHECK(strcmp(got, "300000:1 320000:0 330000:1 760000:0 770000:1 780000:0") == 0);
    if (strcmp(got, "300000:1 320000:0 330000:1 760000:0 770000:1 780000:0"))
        fprintf(stderr, "device 0 busy: %s\n", got);
    counter_series(events, "device", "busy", 1001, got, sizeof got);
    CHECK(strcmp(got, "99000:1 199000:0") == 0);
    jv_free(&root);
    free(text);
    sp_events_destroy(ev);
}

int main(void)
{
    test_export();
    test_unfinished_and_empty();
    test_flows_and_counters();
    return sp_test_done("test_report_perfetto");
}
