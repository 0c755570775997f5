/* Analyzer throughput: builds a synthetic serving trace directly in the event model (requests with
 * stage spans, batches of 4 with kernels and copies, launch calls) of about N million events and
 * times sp_analyze on it. Usage: bench_analyze [million_events] (default 10). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/events_int.h"
#include "servprof/analyze.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define DIE(x) do { if ((x) != SP_OK) { fprintf(stderr, "bench: %s failed\n", #x); return 1; } } while (0)

int main(int argc, char **argv)
{
    double millions = argc > 1 ? atof(argv[1]) : 10.0;
    size_t target = (size_t)(millions * 1e6);
    sp_events *ev;
    DIE(sp_events_create(&ev));
    uint32_t f;
    DIE(sp_ev_add_file(ev, "bench", SP_FORMAT_JSONL, &f));
    sp_known_stages ks;
    sp_ev_known_stages(ev, &ks);
    sp_str kname[4];
    const char *names[4] = {"gemm_f32", "softmax", "layernorm", "ncclAllReduce"};
    for (int i = 0; i < 4; i++)
        DIE(sp_str_intern(&ev->strings, names[i], strlen(names[i]), &kname[i]));
    /* per batch of 4 requests: 4 requests + 12 spans + 1 batch + 2 copies + 16 kernels + 16 launches
     * = 51 events */
    size_t nbatch = target / 51 + 1, events = 0;
    uint64_t t = 1000000;
    char id[32];
    for (size_t b = 0; b < nbatch; b++) {
        uint32_t mem[4];
        uint64_t bs = t + 300000, be = bs + 500000;
        for (int m = 0; m < 4; m++) {
            snprintf(id, sizeof id, "r%zu", b * 4 + (size_t)m);
            DIE(sp_ev_request_ref(ev, f, id, strlen(id), &mem[m]));
            sp_ev_request *q = &ev->requests[mem[m]];
            q->arrival_ns = t + (uint64_t)m * 1000;
            q->done_ns = be + 100000 + (uint64_t)m * 500;
            DIE(sp_ev_req_set_input_tokens(ev, mem[m], 10 + m));
            q->has_record = true;
            DIE(sp_ev_add_span(ev, mem[m], ks.preprocess, q->arrival_ns, q->arrival_ns + 50000));
            DIE(sp_ev_add_span(ev, mem[m], ks.queue, q->arrival_ns + 50000, bs));
            DIE(sp_ev_add_span(ev, mem[m], ks.postprocess, be, q->done_ns));
        }
        uint32_t bi;
        DIE(sp_ev_batch_ref(ev, f, (int64_t)b, &bi));
        ev->batches[bi].start_ns = bs;
        ev->batches[bi].end_ns = be;
        ev->batches[bi].effective_tokens = 46;
        ev->batches[bi].padded_tokens = 64;
        ev->batches[bi].has_record = true;
        DIE(sp_ev_batch_set_members(ev, bi, mem, 4));
        sp_ev_activity a;
        memset(&a, 0, sizeof a);
        a.batch = (b % 2) ? bi : SP_EV_NONE; /* half tied by id, half by window */
        a.kind = SP_ACT_H2D;
        a.start_ns = bs;
        a.end_ns = bs + 20000;
        a.nb.bytes = 4096;
        DIE(sp_ev_stream_id(ev, 0, &a.stream_ix));
        DIE(sp_ev_add_activity(ev, &a));
        uint64_t k0 = bs + 25000;
        for (int k = 0; k < 16; k++) {
            a.kind = SP_ACT_KERNEL;
            a.nb.name = kname[k % 4];
            a.start_ns = k0 + (uint64_t)k * 28000;
            a.end_ns = a.start_ns + 25000;
            a.correlation = b * 16 + (uint64_t)k + 1;
            DIE(sp_ev_stream_id(ev, k % 2, &a.stream_ix));
            DIE(sp_ev_add_activity(ev, &a));
            sp_ev_launch l = {a.start_ns - 8000, a.start_ns - 3000, a.correlation, SP_EV_NONE, f};
            DIE(sp_ev_add_launch(ev, &l));
        }
        a.kind = SP_ACT_D2H;
        a.nb.bytes = 4096;
        a.correlation = 0;
        a.start_ns = be - 30000;
        a.end_ns = be - 20000;
        DIE(sp_ev_add_activity(ev, &a));
        events += 51;
        t += 400000; /* batches overlap request lifetimes of their neighbours */
    }
    sp_analyze_options opt;
    sp_analyze_options_init(&opt);
    sp_report *r;
    char err[256];
    double t0 = now_s();
    sp_status st = sp_analyze(ev, &opt, &r, err, sizeof err);
    double t1 = now_s();
    if (st != SP_OK) {
        fprintf(stderr, "sp_analyze: %s\n", err);
        return 1;
    }
    printf("analyze: %zu events (%zu requests, %zu batches, %zu activities): %.2f s, %.2f M events/s\n",
           events, ev->n_requests, ev->n_batches, ev->n_acts, t1 - t0, (double)events / (t1 - t0) / 1e6);
    printf("verdict: %s\n", r->verdict.sentence);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return 0;
}
