/* The analysis' two-thread route (docs/analysis.md, "Two threads") against its one-thread route, and
 * the latency ranking against qsort with the ranking's full key.
 *
 * 1. Differential: every trace below is loaded twice and analysed once with the threshold
 *    sp_ana_two_threads_min above its request count (one thread) and once with it at 1 (the second
 *    thread takes half the per-request partition and the stage columns); the JSON and text reports
 *    and the per-request rows (keep_requests) must be byte-identical. Traces: the repository's JSONL
 *    test traces (synth, generation, OTLP-derived stages), two of its Kineto traces (a GPU timeline
 *    with few requests or none, CUDA graph launches), synth runs (CPU and GPU backends, several
 *    seeds and batch caps), and native traces written by the recorder with overlapping batches,
 *    activity tied by id and by window, launches, outcomes, statuses, requests left without a
 *    request record, text labels and stage spans in any order.
 * 2. Ranking (DESIGN 8a): requests whose latencies tie in groups, with ids built to defeat the radix
 *    pass on the first eight bytes (equal first eight bytes, ids that are prefixes of others, bytes
 *    above 0x7f, the same id in two files with different arrivals); the reference is qsort with
 *    (latency, strcmp of the id, arrival, file), computed here from the known inputs. Each request
 *    carries a preprocess span of a unique length, so the rows' preprocess column names the request at
 *    each rank. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze/analyze_int.h"
#include "ev_build.h"
#include "servprof/report.h"
#include "servprof/synth.h"
#include "servprof/trace.h"
#include "testlib.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static uint64_t rin(uint64_t lo, uint64_t hi) /* inclusive */
{
    return lo + rnd() % (hi - lo + 1);
}

/* One analysis of the files `paths` (n of them) with `threads_at` as the two-thread threshold: the
 * JSON report, then the text report, then the request rows' bytes, in one malloc'd buffer. NULL when
 * loading or analysing fails (the status and message go to stderr). */
static char *analyse(const char *const *paths, int n, int lenient, size_t threads_at, size_t *len)
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
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = 1;
    o.lenient = lenient;
    sp_report *r = NULL;
    sp_ana_two_threads_min = threads_at;
    sp_status st = sp_analyze(ev, &o, &r, err, sizeof err);
    sp_ana_two_threads_min = SP_ANA_TWO_THREADS_MIN;
    if (st != SP_OK) {
        fprintf(stderr, "analyse %s: %s (%s)\n", paths[0], err, sp_status_str(st));
        sp_events_destroy(ev);
        return NULL;
    }
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f) {
        sp_report_write_json(r, f);
        sp_report_write_text(r, f);
        const sp_request_rows *rows = &r->detail->requests;
        fwrite(rows->stage_ns, sizeof *rows->stage_ns, rows->n * rows->n_stages, f);
        fwrite(rows->padding_ns, sizeof *rows->padding_ns, rows->n, f);
        fwrite(rows->by_arrival, sizeof *rows->by_arrival, rows->n, f);
        fclose(f);
    }
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return buf;
}

static int compared;

static void same_both_routes(const char *const *paths, int n, int lenient)
{
    size_t l1 = 0, l2 = 0;
    char *one = analyse(paths, n, lenient, SIZE_MAX, &l1);
    char *two = analyse(paths, n, lenient, 1, &l2);
    CHECK(one != NULL);
    CHECK(two != NULL);
    if (one && two) {
        CHECK(l1 > 0);
        CHECK(l1 == l2 && memcmp(one, two, l1) == 0);
        if (l1 != l2 || memcmp(one, two, l1))
            fprintf(stderr, "reports differ for %s (%zu vs %zu bytes)\n", paths[0], l1, l2);
        compared++;
    }
    free(one);
    free(two);
}

/* A native trace of a random serving mix written by the recorder: `nreq` requests in batches that
 * may overlap, kernels and copies tied by batch id or left to the window, launches, some outcomes
 * and statuses, some requests with no request record (skipped and counted under lenient), some text labels, spans in any order. */
static void write_native(const char *path, unsigned nreq)
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
        unsigned size = (unsigned)rin(1, 6);
        uint64_t m[8];
        uint64_t bs = t + rin(20000, 200000), be = bs + rin(50000, 400000);
        for (unsigned i = 0; i < size && r < nreq; i++, r++) {
            uint64_t id = r * 7 + 3; /* not dense: the reader's maps see gaps */
            m[i] = id;
            uint64_t arr = t + rin(0, 20000), done = be + rin(0, 300000);
            if (rin(0, 40))
                sp_record_request(rec, id, arr, done, (int64_t)rin(1, 500));
            if (!rin(0, 25))
                sp_record_outcome(rec, id, (sp_outcome)rin(1, 3), (int)rin(400, 599));
            if (!rin(0, 30)) {
                char lbl[32];
                int ll = snprintf(lbl, sizeof lbl, "req-%llu", (unsigned long long)id);
                sp_record_request_label(rec, id, lbl, (size_t)ll);
            }
            sp_record_stage(rec, id, SP_STAGE_POSTPROCESS, be, done);
            sp_record_stage(rec, id, SP_STAGE_PREPROCESS, arr, arr + rin(1000, 15000));
            if (rin(0, 1))
                sp_record_stage(rec, id, SP_STAGE_QUEUE, arr + 15000, bs);
        }
        sp_record_batch(rec, batch, m, size, bs, be, rin(0, 300), 300);
        for (int k = 0; k < 3; k++) {
            uint64_t ks = bs + rin(0, 50000), ke = ks + rin(1000, 100000);
            sp_kernel_record kr = {rin(0, 5) ? batch : SP_NO_BATCH, kn[rin(0, 2)], 0, (uint32_t)rin(7, 8), corr,
                                   ks, ke};
            sp_record_kernel(rec, &kr);
            sp_record_launch(rec, ln, corr, ks > 20000 ? ks - 20000 : ks, ks > 20000 ? ks - 15000 : ks);
            corr++;
        }
        sp_copy_record c = {batch, SP_COPY_H2D, 0, 7, 0, 65536, bs, bs + rin(1000, 20000)};
        sp_record_copy(rec, &c);
        batch++;
        t += rin(30000, 300000); /* batches overlap when this is below their length */
    }
    sp_recorder_close(rec);
}

static void differential(void)
{
    static const char *const data[] = {"tests/data/synth/cpu_requests12_seed3.jsonl",
                                       "tests/data/generation/example.jsonl", "tests/data/otlp/stages.jsonl",
                                       "tests/data/kineto/alexnet_a100.json.gz",
                                       "tests/data/kineto/cuda_graph_h200.json.gz"};
    char path[4096];
    for (size_t i = 0; i < sizeof data / sizeof *data; i++) {
        snprintf(path, sizeof path, "%s/%s", SP_SOURCE_DIR, data[i]);
        const char *p = path;
        same_both_routes(&p, 1, 0);
    }
    char tmp[2][256];
    for (int k = 0; k < 2; k++)
        snprintf(tmp[k], sizeof tmp[k], "%s/sp_two_threads_%d_%d", P_tmpdir, (int)getpid(), k);
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
        same_both_routes(&p, 1, 0);
    }
    /* recorder-written native traces, alone and two files together */
    for (int run = 0; run < 4; run++) {
        write_native(tmp[0], 800 + 700 * (unsigned)run);
        const char *p = tmp[0];
        same_both_routes(&p, 1, 1); /* lenient: some requests have no request record */
        if (run == 3) {
            write_native(tmp[1], 900);
            const char *two[2] = {tmp[0], tmp[1]};
            same_both_routes(two, 2, 1);
        }
    }
    remove(tmp[0]);
    remove(tmp[1]);
}

/* ---- 2. the ranking ---- */

#define NRANK 600

typedef struct rank_ref {
    uint64_t life;
    char id[48];
    uint64_t arrival;
    uint32_t file;
    uint64_t pre; /* the unique preprocess span length that identifies it in the rows */
} rank_ref;

static int rank_cmp(const void *a, const void *b)
{
    const rank_ref *x = a, *y = b;
    if (x->life != y->life)
        return x->life < y->life ? -1 : 1;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return (x->file > y->file) - (x->file < y->file);
}

static void ranking(size_t threads_at)
{
    static const char *const stems[] = {"", "abcdefgh", "abcdefg", "request-00000", "\xc3\xa9t\xc3\xa9-",
                                        "9", "10", "req"};
    static rank_ref R[NRANK];
    sp_events *ev = eb_new();
    uint32_t f1 = eb_file(ev, "second");
    for (int i = 0; i < NRANK; i++) {
        rank_ref *q = &R[i];
        /* ids: a stem then a short number; every 5th reuses request i-1's id in the other file */
        if (i % 5 == 4) {
            strcpy(q->id, R[i - 1].id);
            q->file = R[i - 1].file ? 0 : f1;
        } else {
            snprintf(q->id, sizeof q->id, "%s%u", stems[rnd() % 8], (unsigned)(rnd() % 40));
            q->file = (uint32_t)(rnd() % 2 ? f1 : 0);
        }
        /* no duplicate (file, id): a file never holds one id twice */
        for (int j = 0; j < i; j++)
            if (R[j].file == q->file && !strcmp(R[j].id, q->id)) {
                snprintf(q->id + strlen(q->id), sizeof q->id - strlen(q->id), "x%d", i);
                break;
            }
        q->life = 100000 + 1000 * (rnd() % 4); /* four latencies: large tie groups */
        q->arrival = 1000000 + rnd() % 5000;
        q->pre = 1 + (uint64_t)i;
        uint32_t r = eb_req_f(ev, q->file, q->id, q->arrival, q->arrival + q->life, -1);
        eb_span(ev, r, "preprocess", q->arrival, q->arrival + q->pre);
    }
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_requests = 1;
    sp_report *rep = NULL;
    char err[256];
    sp_ana_two_threads_min = threads_at;
    sp_status st = sp_analyze(ev, &o, &rep, err, sizeof err);
    sp_ana_two_threads_min = SP_ANA_TWO_THREADS_MIN;
    CHECK(st == SP_OK);
    if (st == SP_OK) {
        qsort(R, NRANK, sizeof *R, rank_cmp);
        const sp_request_rows *rows = &rep->detail->requests;
        CHECK_EQ_U64(rows->n, NRANK);
        size_t bad = 0;
        for (size_t k = 0; k < rows->n && k < NRANK; k++)
            bad += rows->stage_ns[k * rows->n_stages + 1] != R[k].pre; /* row 1: preprocess */
        CHECK_EQ_U64(bad, 0);
    }
    sp_report_destroy(rep);
    sp_events_destroy(ev);
}

int main(void)
{
    ranking(SIZE_MAX);
    ranking(1);
    differential();
    fprintf(stderr, "%d traces compared\n", compared);
    CHECK(compared == 5 + 6 + 5);
    return sp_test_done("test_analyze_two_threads");
}
