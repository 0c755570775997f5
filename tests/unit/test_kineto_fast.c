/* The Kineto importer's fast path for ordinary events (kineto_fast.c, docs/kineto.md "Reading fast") against
 * its reference, the lexer's reading of every event (the fast path turned off): for crafted traces
 * (every member, every number form, escapes, non-ASCII text, args variants, nesting, duplicates,
 * whitespace, errors) and the real traces, read serially, on two threads and through a stream that
 * hands out a few bytes at a time (so objects are cut by the window's edge everywhere), the events read
 * (every field, in file order), the model's counts, the JSON report and the error message (text, line,
 * column, byte) must be identical. Each crafted event also says which path must read it, so the test
 * fails if the fast path stops taking ordinary events or takes an unusual one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "import/import_int.h"
#include "model/events_int.h"
#include "testlib.h"
#include "gunzip_testutil.h"

/* ---- the events read, as the observer sees them ---- */

typedef struct rec {
    sp_kineto_event_view v;
    char *name;
} rec;

typedef struct evlist {
    pthread_mutex_t mu;
    rec *r;
    size_t n, cap, fast;
} evlist;

static void observer(void *arg, const sp_kineto_event_view *v)
{
    evlist *l = arg;
    pthread_mutex_lock(&l->mu);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->r = realloc(l->r, l->cap * sizeof *l->r);
        if (!l->r)
            exit(1);
    }
    rec *r = &l->r[l->n++];
    r->v = *v;
    r->name = malloc(v->name_len + 1);
    if (!r->name)
        exit(1);
    memcpy(r->name, v->name, v->name_len);
    r->name[v->name_len] = 0;
    r->v.name = NULL;
    l->fast += v->fast;
    pthread_mutex_unlock(&l->mu);
}

static int rec_cmp(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    return (x->v.offset > y->v.offset) - (x->v.offset < y->v.offset);
}

static void dedupe(evlist *l);

/* ---- one load ---- */

typedef struct cfg {
    bool fast;
    int mode;            /* SP_KINETO_SERIAL / SP_KINETO_PARALLEL */
    uint64_t split;      /* parallel: the split target (0: the middle) */
    size_t max_read;     /* > 0: a stream handing out at most this many bytes per read */
    int lenient, hta;
} cfg;

typedef struct outcome {
    sp_status st;
    char err[1024];
    uint64_t counts[10];
    char *json;
    evlist ev;
} outcome;

static void outcome_free(outcome *o)
{
    for (size_t i = 0; i < o->ev.n; i++)
        free(o->ev.r[i].name);
    free(o->ev.r);
    free(o->json);
    pthread_mutex_destroy(&o->ev.mu);
}

static void load(outcome *o, const char *data, size_t len, const cfg *c)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->ev.mu, NULL);
    sp_import_kineto_set_fast(c->fast, observer, &o->ev);
    sp_import_kineto_set_mode(c->mode, c->split);
    sp_load_options lo;
    sp_load_options_init(&lo);
    lo.lenient = c->lenient;
    lo.hta_compat = c->hta;
    lo.format = SP_FORMAT_KINETO;
    sp_events *ev = NULL;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    if (c->max_read == 0) {
        o->st = sp_events_load_buffer(ev, "t.json", data, len, &lo, o->err, sizeof o->err);
    } else {   /* the importer itself over a stream of short reads */
        uint32_t file = 0;
        sp_input *in = NULL;
        CHECK(sp_ev_add_file(ev, "t.json", SP_FORMAT_KINETO, &file) == SP_OK);
        CHECK(sp_input_open_mem(data, len, c->max_read, &in) == SP_OK);
        CHECK(sp_input_start(in, "t.json", o->err, sizeof o->err) == SP_OK);
        sp_import_ctx ctx = {.ev = ev, .file = file, .name = "t.json", .in = in, .opt = &lo,
                             .err = o->err, .errlen = sizeof o->err};
        o->st = sp_import_kineto(&ctx);
        sp_input_close(in);
    }
    sp_import_kineto_set_fast(true, NULL, NULL);
    sp_import_kineto_set_mode(SP_KINETO_AUTO, 0);
    if (o->ev.n)
        qsort(o->ev.r, o->ev.n, sizeof *o->ev.r, rec_cmp);
    dedupe(&o->ev);
    if (o->st == SP_OK) {
        uint64_t cnt[10] = {ev->n_acts, ev->n_launches, ev->n_requests, ev->n_spans, ev->n_batches, ev->n_members,
                            ev->n_marks, ev->files[0].skipped, ev->files[0].ignored, ev->n_files};
        memcpy(o->counts, cnt, sizeof cnt);
        if (c->max_read == 0) {
            sp_analyze_options ao;
            sp_analyze_options_init(&ao);
            ao.hta_compat = c->hta;
            ao.lenient = 1;
            sp_report *r = NULL;
            if (sp_analyze(ev, &ao, &r, o->err, sizeof o->err) == SP_OK) {
                size_t l = 0;
                FILE *f = open_memstream(&o->json, &l);
                CHECK(sp_report_write_json(r, f) == SP_OK);
                fclose(f);
                sp_report_destroy(r);
            }
        }
    }
    sp_events_destroy(ev);
}

static bool same_view(const sp_kineto_event_view *a, const sp_kineto_event_view *b);

/* Two threads may read an event twice (the second thread's work is dropped when the hand-over is
 * declined, e.g. a split at the array's first element): both readings must agree, and one is kept. */
static void dedupe(evlist *l)
{
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (w && l->r[w - 1].v.offset == l->r[i].v.offset) {
            CHECK(same_view(&l->r[w - 1].v, &l->r[i].v) && strcmp(l->r[w - 1].name, l->r[i].name) == 0);
            free(l->r[i].name);
            continue;
        }
        l->r[w++] = l->r[i];
    }
    l->n = w;
}

static bool same_view(const sp_kineto_event_view *a, const sp_kineto_event_view *b)
{
    return a->offset == b->offset && a->line == b->line && a->column == b->column && a->depth == b->depth &&
           a->ph == b->ph && a->cat == b->cat && a->has_ts == b->has_ts && a->has_dur == b->has_dur &&
           a->name_cut == b->name_cut && a->pid_int == b->pid_int && a->tid_int == b->tid_int &&
           a->has_stream == b->has_stream && a->has_device == b->has_device && a->has_corr == b->has_corr &&
           a->has_bytes == b->has_bytes && a->ts_ns == b->ts_ns && a->dur_ns == b->dur_ns &&
           memcmp(&a->ts_d, &b->ts_d, sizeof a->ts_d) == 0 && memcmp(&a->dur_d, &b->dur_d, sizeof a->dur_d) == 0 &&
           a->pid == b->pid && a->tid == b->tid && a->stream == b->stream && a->device == b->device &&
           a->thread == b->thread && a->corr == b->corr && a->bytes == b->bytes &&
           memcmp(a->copy_kind, b->copy_kind, sizeof a->copy_kind) == 0 && a->name_len == b->name_len;
}

/* The reference against a fast-path load: everything equal; prints the first difference. */
static bool same(const outcome *r, const outcome *f, const char *what)
{
    /* a second thread reads on past an error in the first half until it is stopped: what lies beyond
     * the reference's last event is not compared */
    size_t fn = f->ev.n;
    if (r->st != SP_OK)
        while (fn && (!r->ev.n || f->ev.r[fn - 1].v.offset > r->ev.r[r->ev.n - 1].v.offset))
            fn--;
    bool ok = r->st == f->st && strcmp(r->err, f->err) == 0 && memcmp(r->counts, f->counts, sizeof r->counts) == 0 &&
              ((!r->json && !f->json) || (r->json && f->json && strcmp(r->json, f->json) == 0));
    if (!ok)
        fprintf(stderr, "  %s: reference %s \"%s\", fast %s \"%s\"\n", what, sp_status_str(r->st), r->err,
                sp_status_str(f->st), f->err);
    if (r->ev.n != fn) {
        fprintf(stderr, "  %s: %zu events read by the reference, %zu with the fast path\n", what, r->ev.n, fn);
        ok = false;
    }
    for (size_t i = 0; ok && i < r->ev.n; i++)
        if (!same_view(&r->ev.r[i].v, &f->ev.r[i].v) || strcmp(r->ev.r[i].name, f->ev.r[i].name) != 0) {
            fprintf(stderr, "  %s: event %zu (byte %llu, \"%s\") differs\n", what, i,
                    (unsigned long long)r->ev.r[i].v.offset, r->ev.r[i].name);
            ok = false;
        }
    CHECK(ok);
    return ok;
}

/* Every way of reading `data` against the reference (fast path off, serial). Returns the fast-path load
 * (serial, whole window) for the caller's checks of which path read what. */
static void every_way(const char *what, const char *data, size_t len, int lenient, int hta, outcome *fast_serial)
{
    outcome ref;
    cfg rc = {false, SP_KINETO_SERIAL, 0, 0, lenient, hta};
    load(&ref, data, len, &rc);
    cfg c = {true, SP_KINETO_SERIAL, 0, 0, lenient, hta};
    load(fast_serial, data, len, &c);
    same(&ref, fast_serial, what);
    /* two threads, split at several places */
    for (int i = 1; i <= 7; i++) {
        cfg pc = {true, SP_KINETO_PARALLEL, len * (uint64_t)i / 8, 0, lenient, hta};
        outcome p;
        load(&p, data, len, &pc);
        char w[160];
        snprintf(w, sizeof w, "%s, two threads split at %d/8", what, i);
        same(&ref, &p, w);
        outcome_free(&p);
    }
    /* short reads: objects cut by the window's edge at every kind of byte; the JSON report is not
     * built there (the counts and every event are compared) */
    free(ref.json);
    ref.json = NULL;
    static const size_t reads[] = {1, 3, 16, 61, 200, 1000, 4099};
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
        if (len > (1u << 20) && reads[i] < 61)
            continue;   /* a byte at a time through megabytes: slow, and no different */
        for (int mode = SP_KINETO_SERIAL; mode <= SP_KINETO_PARALLEL; mode++) {
            cfg sc = {true, mode, 0, reads[i], lenient, hta};
            outcome s;
            load(&s, data, len, &sc);
            char w[160];
            snprintf(w, sizeof w, "%s, reads of %zu bytes%s", what, reads[i], mode == SP_KINETO_PARALLEL ? ", two threads" : "");
            same(&ref, &s, w);
            outcome_free(&s);
        }
    }
    outcome_free(&ref);
}

/* ---- crafted events ---- */

/* 'F': the fast path must read it (an ordinary event); 'G': it must give up (the lexer reads it). */
typedef struct crafted {
    char path;
    const char *text;
} crafted;

static const crafted g_events[] = {
    /* what Kineto writes: kernels, launches, copies, cpu_ops with shapes, flows, one line or several */
    {'F', "{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"void gemm<float, 128>(float*)\", \"pid\": 0, \"tid\": 7, "
          "\"ts\": 1712195495505582.988, \"dur\": 4.928, \"args\": {\"External id\": 112, \"queued\": 0, \"device\": 0, "
          "\"context\": 1, \"stream\": 7, \"correlation\": 135071, \"registers per thread\": 30, \"shared memory\": 0, "
          "\"blocks per SM\": 5.300000, \"warps per SM\": 21.200001, \"grid\": [4, 106, 1], \"block\": [128, 1, 1], "
          "\"est. achieved occupancy %\": 33}}"},
    {'F', "{\n    \"ph\": \"X\", \"cat\": \"cuda_runtime\", \"name\": \"cudaLaunchKernel\", \"pid\": 1102, \"tid\": 1102,\n"
          "    \"ts\": 1712195495505543.140, \"dur\": 41.768,\n    \"args\": {\n      \"External id\": 112,      "
          "\"cbid\": 211, \"correlation\": 135071\n    }\n  }"},
    {'F', "{\"ph\":\"X\",\"cat\":\"gpu_memcpy\",\"name\":\"Memcpy DtoH (Device -> Pinned)\",\"pid\":0,\"tid\":8,"
          "\"ts\":1712195495505600,\"dur\":9,\"args\":{\"device\":0,\"stream\":8,\"correlation\":7,\"bytes\":4096,"
          "\"memory bandwidth (GB/s)\":12.5}}"},
    {'F', "{\"ph\": \"X\", \"cat\": \"gpu_memcpy\", \"name\": \"CopyHostToDevice\", \"pid\": 2, \"tid\": 0, \"ts\": 4203669603771.648, "
          "\"dur\": 6.880, \"args\": {\"device\": 2, \"stream\": \"0x1f\", \"correlation\": 118, \"kind\": \"HtoD\"}}"},
    {'F', "{\r\n\t\"ph\" : \"X\" ,\r\n\t\"cat\" :\"cpu_op\", \"name\": \"aten::select\", \"pid\": 4515, \"tid\": 4515,\n"
          "    \"ts\": 1683564901550101, \"dur\": 8,\n    \"args\": {\n      \"External id\": 5,\"Ev Idx\": 4, "
          "\"Input Dims\": [[1], [], [ ], [2, [3, []]]], \"Input type\": [\"int\", \"Scalar\", \"\"], "
          "\"Concrete Inputs\": [\"\", \"1\", null, true, false, -0.5], \"Fwd thread id\": 0\n    }\n  }"},
    {'F', "{\"ph\": \"f\", \"id\": 135071, \"pid\": 0, \"tid\": 7, \"ts\": 1712195495505582.988, \"cat\": \"ac2g\", "
          "\"name\": \"ac2g\", \"bp\": \"e\"}"},
    {'F', "{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": 1, \"tid\": 7, \"args\": {\"name\": \"python thread\"}}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"cuda_sync\",\"name\":\"Stream Sync\",\"pid\":0,\"tid\":7,\"ts\":1000,\"dur\":5,"
          "\"args\":{\"stream\":7,\"device\":0,\"correlation\":99}}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"gpu_memset\",\"name\":\"Memset (Device)\",\"pid\":0,\"tid\":7,\"ts\":1001,\"dur\":2,"
          "\"args\":{\"stream\":-1,\"device\":0,\"correlation\":100,\"bytes\":16}}"},
    /* number forms the lexer's quick path takes, read the same (decimals to ns, rounding past the third) */
    {'F', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":1,\"ts\":12.5,\"dur\":0.0005,\"args\":{\"stream\":1}}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":1,\"ts\":100.1235,\"dur\":0.1234999,\"args\":{}}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":1,\"ts\":1712195495519689.0,\"dur\":0,\"args\":null}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":1.0,\"tid\":-3,\"ts\":1712195495519689.000,\"dur\":0.0}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"python_function\",\"name\":\"f\",\"pid\":0,\"tid\":1,\"ts\":-5.25,\"dur\":1}"},
    {'F', "{\"ph\":\"i\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":1,\"ts\":8999999999999999,\"dur\":123456789012345}"},
    {'F', "{\"ph\":\"i\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":1,\"ts\":1234567890123456.5,\"dur\":1.25}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":\"1102\",\"tid\":\"stream 7\",\"ts\":1,\"dur\":1,"
          "\"args\":{\"stream\":\"7\",\"device\":4294967295,\"correlation\":-1,\"bytes\":1.5,\"kind\":\"Dispatch Kernel\"}}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":1,\"ts\":2,\"dur\":1,"
          "\"args\":{\"stream\":[1,2],\"device\":null,\"correlation\":true,\"bytes\":false,\"kind\":7,\"stream\":9}}"},
    /* args before ph and cat (read, not only checked), empty and odd members, null, numbers as names */
    {'F', "{\"args\":{\"stream\":3,\"correlation\":5},\"ph\":\"X\",\"cat\":\"cpu_op\",\"name\":\"a\",\"ts\":3}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"\",\"name\":null,\"ts\":4,\"x\":[1,[2,[3,[4,[5,[6,[7]]]]]]],\"y\":true,\"z\":null,\"w\":\"\"}"},
    {'F', "{\"ph\":\"X\",\"cat\":null,\"name\":5,\"ts\":5,\"x\":1,\"x\":2,\"x\":[]}"},
    {'F', "{\"ph\":\"i\",\"s\":\"t\",\"name\":\"marker \x7f del\",\"ts\":6,\"pid\":0,\"tid\":0}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"Kernel\",\"name\":\"old spelling\",\"pid\":0,\"tid\":1,\"ts\":7,\"dur\":1}"},
    {'F', "{\"ph\"\n:\n\"X\"\n,\n\"cat\"\n:\n\"user_annotation\"\n,\n\"name\"\n:\n\"fwd pass\"\n,\n\"pid\":1,\"tid\":7,"
          "\"ts\":8,\"dur\":100\n}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"cpu_op\",\"name\":\"ProfilerStep#3\",\"pid\":1,\"tid\":7,\"ts\":1,\"dur\":1000}"},
    {'F', "{\"ph\":\"X\",\"cat\":\"user_annotation\",\"name\":\"forward\",\"pid\":1,\"tid\":7,\"ts\":2,\"dur\":800,"
          "\"args\":{\"External id\":1}}"},
    /* the lexer reads these: escapes, non-ASCII, objects inside, number forms of its general path,
     * members twice */
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"gemm<\\\"a\\\">\",\"pid\":0,\"tid\":1,\"ts\":10,\"dur\":1}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"caf\\u00e9\",\"pid\":0,\"tid\":1,\"ts\":11,\"dur\":1}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"caf\xc3\xa9\",\"pid\":0,\"tid\":1,\"ts\":12,\"dur\":1}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"n\\u0061me\":\"escaped key\",\"pid\":0,\"tid\":1,\"ts\":13,\"dur\":1}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"ker\\u006eel\",\"name\":\"k\",\"pid\":0,\"tid\":1,\"ts\":14,\"dur\":1}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"cpu_op\",\"name\":\"k\",\"ts\":15,\"args\":{\"s\":\"a\\\\b\"}}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"ts\":16,\"args\":{\"s\":\"\xe2\x82\xac\"}}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"ts\":17,\"args\":{\"device\":{\"a\":1}}}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"cpu_op\",\"name\":\"k\",\"ts\":18,\"args\":{\"x\":[{\"a\":1}]}}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"ts\":19,\"meta\":{\"a\":1}}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":1,\"ts\":1e3,\"dur\":1}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":1,\"ts\":20,\"dur\":1.5E-3}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":1,\"ts\":21,\"dur\":1,\"x\":1234567890123456789}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"first\",\"name\":\"second\",\"pid\":0,\"tid\":1,\"ts\":22,\"dur\":1}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"cpu_op\",\"cat\":\"kernel\",\"name\":\"k\",\"ts\":23,\"dur\":1,\"args\":{\"stream\":4}}"},
    {'G', "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"ts\":24,\"args\":{\"stream\":1},\"args\":{\"stream\":2}}"},
};

/* A trace of the crafted events (each `copies` times, names varied in length so strings end at every
 * byte of a 16-byte block), optionally with `extra` (an error, or non-objects) after the first round.
 * expect[] gets each event's path, in file order. */
static char *crafted_trace(int copies, const char *extra, char *expect, size_t *n_expect, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, len);
    fprintf(f, "{\"schemaVersion\": 1, \"deviceProperties\": [{\"id\": 0, \"name\": \"GPU\"}],\n\"traceEvents\": [\n");
    bool first = true;
    for (int c = 0; c < copies; c++) {
        for (size_t i = 0; i < sizeof g_events / sizeof *g_events; i++) {
            fprintf(f, first ? "  " : (i % 3 == 0 ? ",\n  " : i % 3 == 1 ? ", " : ","));
            first = false;
            fputs(g_events[i].text, f);
            if (expect)
                expect[n] = g_events[i].path;
            n++;
        }
        /* names of every length up to 40 and one past the model's cut */
        for (int l = 0; l <= 40; l += c % 2 ? 1 : 3) {
            fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"%.*s\", \"pid\": 0, \"tid\": %d, "
                       "\"ts\": %d.%03d, \"dur\": %d.5, \"args\": {\"stream\": %d, \"correlation\": %d}}",
                    l, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ", l % 4, 30000 + c * 100 + l, l * 7 % 1000, l,
                    l % 4, l + 1);
            if (expect)
                expect[n] = 'F';
            n++;
        }
        if (c == 0) {
            fprintf(f, ",\n  {\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"");
            for (int i = 0; i < 5000; i++)
                fputc('a' + i % 26, f);
            fprintf(f, "\", \"pid\": 0, \"tid\": 9, \"ts\": 40000, \"dur\": 3}");
            if (expect)
                expect[n] = 'F';
            n++;
        }
        if (c == 0 && extra) {
            fprintf(f, ",\n  %s", extra);
            if (expect)
                expect[n] = '?';   /* not an event, or an error: not checked */
            n++;
        }
    }
    fprintf(f, "\n], \"baseTimeNanoseconds\": 1700000000000000000, \"displayTimeUnit\": \"ms\"}\n");
    fclose(f);
    *n_expect = n;
    return buf;
}

static void crafted_ok(void)
{
    static char expect[4096];
    size_t n_expect, len;
    char *tr = crafted_trace(3, NULL, expect, &n_expect, &len);
    for (int hta = 0; hta <= 1; hta++) {
        outcome fs;
        every_way(hta ? "crafted, hta" : "crafted", tr, len, 0, hta, &fs);
        CHECK(fs.st == SP_OK);
        CHECK_EQ_U64(fs.ev.n, n_expect);
        size_t wrong = 0, fast = 0;
        for (size_t i = 0; i < fs.ev.n && i < n_expect; i++) {
            fast += expect[i] == 'F';
            if ((expect[i] == 'F') != fs.ev.r[i].v.fast && ++wrong <= 5)
                fprintf(stderr, "  event %zu (line %u): expected the %s path\n", i, fs.ev.r[i].v.line,
                        expect[i] == 'F' ? "fast" : "lexer's");
        }
        CHECK_EQ_U64(wrong, 0);
        CHECK_EQ_U64(fs.ev.fast, fast);
        fprintf(stderr, "   crafted%s: %zu bytes, %zu events, %zu by the fast path\n", hta ? " (hta)" : "", len,
                fs.ev.n, fs.ev.fast);
        outcome_free(&fs);
    }
    free(tr);
}

/* Errors after many fast-path events (several lines each): the same message, line, column and byte as
 * the reference, and that line is the one the error is on in the text. */
static void crafted_errors(void)
{
    static const struct {
        const char *text, *at;   /* `at`: the text the message's column points into (its first byte) */
    } bad[] = {
        {"{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"k\", \"ts\": 5, \"dur\": -1}", "-1}"},
        {"{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"k\", \"dur\": 1}", "{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"k\", \"dur\""},
        {"{\"cat\": \"kernel\", \"name\": \"k\", \"ts\": 1}", "{\"cat\": \"kernel\", \"name\": \"k\", \"ts\": 1}"},
        {"{\"ph\": \"X\", \"ts\": 1, \"args\": [1]}", "\"args\""},
        {"{\"ph\": \"X\", \"ts\": 1, \"args\": 7}", "\"args\""},
        {"{\"ph\": \"X\", \"ts\": 12x}", "x}"},
        {"{\"ph\": \"X\", \"ts\": 0123}", "123}"},
        {"{\"ph\": \"X\", \"ts\": 5.}", "}"},
        {"{\"ph\": \"X\", \"ts\": \"5\"}", "\"5\"}"},
        {"{\"ph\": \"\", \"ts\": 5}", "\"\", \"ts\": 5}"},
        {"{\"ph\": \"X\", \"cat\": 5, \"ts\": 5}", "5, \"ts\": 5}"},
        {"{\"ph\": \"X\", \"pid\": 1.5, \"ts\": 5}", "1.5, \"ts\": 5}"},
        {"{\"ph\": \"X\", \"ts\": 1234567890123456789}", "1234567890123456789}"},
        {"{\"ph\": \"X\", \"ts\": 1, \"name\": \"a\\qb\"}", "\\qb\"}"},
        {"{\"ph\": \"X\", \"ts\": 1, \"name\": \"a\x01\"}", "\x01\"}"},
        {"{\"ph\": \"X\", \"ts\": 1, \"name\": \"a\xff\"}", "\xff\"}"},
        {"{\"ph\": \"X\", \"ts\": 1, \"x\": tru}", "}"},
        {"{\"ph\": \"X\", \"ts\": 1,}", "}"},
        {"{\"ph\": \"X\" \"ts\": 1}", "\"ts\": 1}"},
        {"{\"ph\": \"X\", \"ts\": 1, \"args\": {\"a\": [1,]}}", "]}}"},
        {"{\"ph\": \"X\", \"cat\": \"user_annotation\", \"name\": \"servprof.batch:x\", \"ts\": 1}", NULL},
        {"{\"ph\": \"X\", \"ts\": 1, \"args\": {\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t n_expect, len;
        char *tr = crafted_trace(2, bad[i].text, NULL, &n_expect, &len);
        for (int lenient = 0; lenient <= 1; lenient++) {
            char what[64];
            snprintf(what, sizeof what, "error %zu%s", i, lenient ? ", lenient" : "");
            outcome fs;
            every_way(what, tr, len, lenient, 0, &fs);
            if (!lenient) {
                CHECK(fs.st != SP_OK);
                fprintf(stderr, "   %s: %s\n", what, fs.err);
            }
            if (!lenient && bad[i].at) {
                /* where the message must point: the first byte of `at` in the bad event */
                const char *ev = strstr(tr, bad[i].text);
                const char *at = ev ? strstr(ev, bad[i].at) : NULL;
                CHECK(at != NULL);
                if (at) {
                    unsigned line = 1;
                    const char *ls = tr;
                    for (const char *q = tr; q < at; q++)
                        if (*q == '\n') {
                            line++;
                            ls = q + 1;
                        }
                    char want[96];
                    snprintf(want, sizeof want, "line %u, column %u (byte %zu)", line, (unsigned)(at - ls + 1),
                             (size_t)(at - tr));
                    if (!strstr(fs.err, want))
                        fprintf(stderr, "   %s: expected \"%s\" in the message\n", what, want);
                    CHECK(strstr(fs.err, want) != NULL);
                }
            }
            outcome_free(&fs);
        }
        free(tr);
    }
    /* lenient: non-objects and events handle_event rejects, skipped the same way */
    size_t n_expect, len;
    char *tr = crafted_trace(2, "7, [1, {\"ph\": 3}], \"s\", {}, {\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"k\"}", NULL,
                             &n_expect, &len);
    outcome fs;
    every_way("non-objects, lenient", tr, len, 1, 0, &fs);
    CHECK(fs.st == SP_OK);
    CHECK(fs.counts[7] >= 5);   /* skipped: 7, [..], "s", {}, the kernel without ts */
    outcome_free(&fs);
    free(tr);
}

/* The real traces: the same events, counts and reports; nearly every event by the fast path. */
static void real_traces(void)
{
    static const char *const real[] = {"alexnet_a100", "amd_mi250_rocm", "cpu_only", "cuda_event_sync",
                                       "cuda_graph_h200", "trace_compare_base", "triton_kernel_example",
                                       "ns_resolution_resnet_v100"};
    size_t n = sizeof real / sizeof *real;
    if (getenv("SP_SANITIZED"))
        n--;   /* the 15 MB trace, read 24 ways, is minutes under the sanitizers */
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/data/kineto/%s.json.gz", SP_SOURCE_DIR, real[i]);
        size_t len;
        char *d = gunzip_file(path, &len);
        CHECK(d != NULL);
        if (!d)
            continue;
        outcome fs;
        every_way(real[i], d, len, 0, 0, &fs);
        fprintf(stderr, "   %s: %zu bytes, %zu events, %zu by the fast path\n", real[i], len, fs.ev.n, fs.ev.fast);
        CHECK(fs.st == SP_OK);
        /* Kineto's own output is ordinary: all but the events that cross the window's edge (the first
         * window holds only the bytes format detection peeked at) */
        CHECK(fs.ev.n > 0 && fs.ev.fast * 100 >= fs.ev.n * 95);
        outcome_free(&fs);
        free(d);
    }
}

int main(void)
{
    unsigned long f0 = sp_import_kineto_fast_events();
    crafted_ok();
    crafted_errors();
    real_traces();
    CHECK(sp_import_kineto_fast_events() > f0);
    return sp_test_done("test_kineto_fast");
}
