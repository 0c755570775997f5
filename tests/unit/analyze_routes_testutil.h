/* Traces for the tests that analyse one input by two routes and compare the reports byte for byte
 * (test_analyze_two_threads: one thread and two; test_analyze_release: with and without
 * release_events): the repository's JSONL test traces (synth, generation, OTLP-derived stages), two
 * of its Kineto traces (a GPU timeline with few requests or none, CUDA graph launches), synth runs (CPU
 * and GPU backends, several seeds and batch caps; one with a load generator's client records in a
 * second file), and native traces written by the recorder with
 * overlapping batches, activity tied by id and by window, launches, outcomes, statuses, requests left
 * without a request record, text labels and stage spans in any order, alone, two files together, one
 * with generation steps and tokens, and one cut short (no end record, a lost tail). */
#ifndef SERVPROF_TEST_ANALYZE_ROUTES_TESTUTIL_H
#define SERVPROF_TEST_ANALYZE_ROUTES_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "servprof/analyze.h"
#include "servprof/events.h"
#include "servprof/report.h"
#include "servprof/synth.h"
#include "servprof/trace.h"
#include "testlib.h"
#include "xorshift_testutil.h"

/* Loads the files `paths` (n of them) into a new set; NULL when one fails (the message goes to stderr). */
static inline sp_events *ar_load(const char *const *paths, int n, int lenient)
{
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        return NULL;
    char err[512];
    sp_load_options lo;
    sp_load_options_init(&lo);
    lo.lenient = lenient;
    for (int i = 0; i < n; i++)
        if (sp_events_load_file(ev, paths[i], &lo, err, sizeof err) != SP_OK) {
            fprintf(stderr, "load %s: %s\n", paths[i], err);
            sp_events_destroy(ev);
            return NULL;
        }
    return ev;
}

/* The JSON report, then the text report, then (with keep_requests) the request rows' bytes, in one
 * malloc'd buffer of *len bytes. */
static inline char *ar_report_bytes(const sp_report *r, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    sp_report_write_json(r, f);
    sp_report_write_text(r, f);
    if (r->detail) {
        const sp_request_rows *rows = &r->detail->requests;
        fwrite(rows->stage_ns, sizeof *rows->stage_ns, rows->n * rows->n_stages, f);
        fwrite(rows->padding_ns, sizeof *rows->padding_ns, rows->n, f);
        fwrite(rows->by_arrival, sizeof *rows->by_arrival, rows->n, f);
    }
    fclose(f);
    return buf;
}

/* What a route test checks of the set and its report between the analysis and the report's bytes. */
typedef void ar_check_fn(sp_events *ev, const sp_analyze_options *o, sp_report *r);

/* Loads `paths`, analyses them with `o` and returns the report's bytes (ar_report_bytes) once
 * `check` (when not NULL) has seen the set and the report; NULL when the load or the analysis fails
 * (the message, naming paths[0], goes to stderr). Switches the caller set for the analysis stay as
 * they are: the caller puts them back. */
static inline char *ar_analyse(const char *const *paths, int n, int lenient, const sp_analyze_options *o,
                               ar_check_fn *check, size_t *len)
{
    sp_events *ev = ar_load(paths, n, lenient);
    if (!ev)
        return NULL;
    char err[512];
    sp_report *r = NULL;
    sp_status st = sp_analyze(ev, o, &r, err, sizeof err);
    char *buf = NULL;
    if (st != SP_OK)
        fprintf(stderr, "analyse %s: %s (%s)\n", paths[0], err, sp_status_str(st));
    else {
        if (check)
            check(ev, o, r);
        buf = ar_report_bytes(r, len);
    }
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return buf;
}

/* Whether a route's report bytes (b, lb) equal the reference's (a, la), which must not be empty;
 * when not, says so on stderr, naming `what` (the trace) and the route's number. NULL reports
 * (failed analyses) are never the same. */
static inline int ar_same_bytes(const char *a, size_t la, const char *b, size_t lb, const char *what, int route)
{
    if (!a || !b)
        return 0;
    int same = la > 0 && la == lb && memcmp(a, b, la) == 0;
    if (!same)
        fprintf(stderr, "route %d: reports differ for %s (%zu vs %zu bytes)\n", route, what, la, lb);
    return same;
}

/* A native trace of a random serving mix written by the recorder: `nreq` requests in batches that
 * may overlap, kernels and copies tied by batch id or left to the window, launches, some outcomes
 * and statuses, some requests with no request record (skipped and counted under lenient), some text
 * labels, spans in any order. With `generation`, each batch is a generation step (members in prefill
 * or decode) and each request's three output tokens are recorded. */
static inline void ar_write_native_mix(const char *path, unsigned nreq, int generation, uint64_t *rng)
{
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    o.thread_buffer_bytes = 16u << 20;
    sp_recorder *rec;
    if (sp_recorder_open(path, &o, &rec) != SP_OK) {
        CHECK(!"recorder_open");
        return;
    }
    sp_name_id kn[3] = {sp_recorder_intern(rec, "gemm"), sp_recorder_intern(rec, "attn"),
                        sp_recorder_intern(rec, "ncclAllReduce")};
    sp_name_id ln = sp_recorder_intern(rec, "cudaLaunchKernel");
    uint64_t t = 1000000, batch = 0, corr = 1;
    for (unsigned r = 0; r < nreq;) {
        unsigned size = (unsigned)xs64_in(rng, 1, 6);
        uint64_t m[8];
        uint64_t bs = t + xs64_in(rng, 20000, 200000), be = bs + xs64_in(rng, 50000, 400000);
        for (unsigned i = 0; i < size && r < nreq; i++, r++) {
            uint64_t id = r * 7 + 3; /* not dense: the reader's maps see gaps */
            m[i] = id;
            uint64_t arr = t + xs64_in(rng, 0, 20000), done = be + xs64_in(rng, 0, 300000);
            if (xs64_in(rng, 0, 40))
                sp_record_request(rec, id, arr, done, (int64_t)xs64_in(rng, 1, 500));
            if (!xs64_in(rng, 0, 25))
                sp_record_outcome(rec, id, (sp_outcome)xs64_in(rng, 1, 3), (int)xs64_in(rng, 400, 599));
            if (!xs64_in(rng, 0, 30)) {
                char lbl[32];
                int ll = snprintf(lbl, sizeof lbl, "req-%llu", (unsigned long long)id);
                sp_record_request_label(rec, id, lbl, (size_t)ll);
            }
            if (generation)
                for (uint64_t k = 0; k < 3; k++)
                    sp_record_token(rec, id, k, be + (done - be) * k / 3);
            sp_record_stage(rec, id, SP_STAGE_POSTPROCESS, be, done);
            sp_record_stage(rec, id, SP_STAGE_PREPROCESS, arr, arr + xs64_in(rng, 1000, 15000));
            if (xs64_in(rng, 0, 1))
                sp_record_stage(rec, id, SP_STAGE_QUEUE, arr + 15000, bs);
        }
        if (generation) {
            uint8_t ph[8];
            uint32_t tk[8];
            uint64_t eff = 0;
            for (unsigned i = 0; i < size; i++) {
                ph[i] = (uint8_t)(i % 2 ? SP_PHASE_DECODE : SP_PHASE_PREFILL);
                tk[i] = i % 2 ? 1 : 16;
                eff += tk[i];
            }
            sp_step_record st = {batch, bs, be, eff, 16 * size, xs64_in(rng, 0, 900), 1000, size, m, ph, tk};
            sp_record_step(rec, &st);
        } else {
            sp_record_batch(rec, batch, m, size, bs, be, xs64_in(rng, 0, 300), 300);
        }
        for (int k = 0; k < 3; k++) {
            uint64_t ks = bs + xs64_in(rng, 0, 50000), ke = ks + xs64_in(rng, 1000, 100000);
            sp_kernel_record kr = {xs64_in(rng, 0, 5) ? batch : SP_NO_BATCH, kn[xs64_in(rng, 0, 2)], 0,
                                   (uint32_t)xs64_in(rng, 7, 8), corr, ks, ke};
            sp_record_kernel(rec, &kr);
            sp_record_launch(rec, ln, corr, ks > 20000 ? ks - 20000 : ks, ks > 20000 ? ks - 15000 : ks);
            corr++;
        }
        sp_copy_record c = {batch, SP_COPY_H2D, 0, 7, 0, 65536, bs, bs + xs64_in(rng, 1000, 20000)};
        sp_record_copy(rec, &c);
        batch++;
        t += xs64_in(rng, 30000, 300000); /* batches overlap when this is below their length */
    }
    sp_recorder_close(rec);
}

static inline void ar_write_native(const char *path, unsigned nreq, uint64_t *rng)
{
    ar_write_native_mix(path, nreq, 0, rng);
}

/* How many inputs ar_each_trace hands over. */
#define AR_TRACES (5 + 6 + 1 + 5 + 1 + 1)

/* Calls fn(paths, n, lenient, user) for each input above (AR_TRACES calls); `tag` names the
 * temporary files. */
static inline void ar_each_trace(const char *tag, uint64_t *rng,
                                 void (*fn)(const char *const *paths, int n, int lenient, void *user), void *user)
{
    static const char *const data[] = {"tests/data/synth/cpu_requests12_seed3.jsonl",
                                       "tests/data/generation/example.jsonl", "tests/data/otlp/stages.jsonl",
                                       "tests/data/kineto/alexnet_a100.json.gz",
                                       "tests/data/kineto/cuda_graph_h200.json.gz"};
    char path[4096];
    for (size_t i = 0; i < sizeof data / sizeof *data; i++) {
        snprintf(path, sizeof path, "%s/%s", SP_SOURCE_DIR, data[i]);
        const char *p = path;
        fn(&p, 1, 0, user);
    }
    char tmp[2][256];
    for (int k = 0; k < 2; k++)
        snprintf(tmp[k], sizeof tmp[k], "%s/sp_%s_%d_%d", P_tmpdir, tag, (int)getpid(), k);
    /* synth runs: CPU and GPU backends, several seeds and batch caps */
    for (int run = 0; run < 6; run++) {
        sp_synth_options so;
        sp_synth_options_init(&so);
        so.requests = 1500 + 500 * (uint64_t)run;
        so.seed = 11 + (uint64_t)run;
        so.gpu = run & 1;
        so.max_batch = run < 3 ? 8 : 32;
        FILE *f = fopen(tmp[0], "w");
        char err[256];
        CHECK(f && sp_synth_write(&so, f, err, sizeof err) == SP_OK);
        if (f)
            fclose(f);
        const char *p = tmp[0];
        fn(&p, 1, 0, user);
    }
    /* the last synth run with a load generator's client records in a second file (another clock):
     * joined, duplicated, failed and unjoined records, client-observed lives and the network row */
    FILE *cf = fopen(tmp[1], "w");
    CHECK(cf != NULL);
    if (cf) {
        for (unsigned i = 1; i <= 4200; i++) {
            uint64_t send = 2000000000ull + 1000ull * i + xs64_in(rng, 0, 500);
            int status = xs64_in(rng, 0, 30) ? 200 : xs64_in(rng, 0, 1) ? 503 : -1;
            fprintf(cf, "{\"ev\":\"client\",\"id\":\"r%u\",\"intended_ns\":%llu,\"send_ns\":%llu,"
                        "\"done_ns\":%llu,\"status\":%d}\n",
                    i % 97 ? i : i - 1, (unsigned long long)(send - 300), (unsigned long long)send,
                    (unsigned long long)(send + xs64_in(rng, 5000000, 40000000)), status);
        }
        fclose(cf);
        const char *sc[2] = {tmp[0], tmp[1]};
        fn(sc, 2, 0, user);
    }
    /* recorder-written native traces, alone and two files together */
    for (int run = 0; run < 4; run++) {
        ar_write_native(tmp[0], 800 + 700 * (unsigned)run, rng);
        const char *p = tmp[0];
        fn(&p, 1, 1, user); /* lenient: some requests have no request record */
        if (run == 3) {
            ar_write_native(tmp[1], 900, rng);
            const char *two[2] = {tmp[0], tmp[1]};
            fn(two, 2, 1, user);
        }
    }
    /* generation steps and tokens, native */
    ar_write_native_mix(tmp[1], 1200, 1, rng);
    const char *g = tmp[1];
    fn(&g, 1, 1, user);
    /* cut short: the tail of the last file lost with its end record (a kill -9) */
    FILE *f = fopen(tmp[0], "rb");
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (f)
        fclose(f);
    CHECK(size > 4096 && truncate(tmp[0], (off_t)(size * 2 / 3)) == 0);
    const char *p = tmp[0];
    fn(&p, 1, 1, user);
    remove(tmp[0]);
    remove(tmp[1]);
}

#endif
