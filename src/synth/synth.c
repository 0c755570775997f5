/* The simulated service behind `servprof synth` (include/servprof/synth.h): Poisson arrivals,
 * log-normal prompt lengths, tokenisation, a batcher with a size cap and a batch window, padding to a
 * multiple, one device that runs one batch at a time, and postprocessing, written as a
 * servprof.events/1 JSONL trace. docs/synth.md documents the model; the constants below are the ones
 * that page quotes, and any change to them or to the order of random draws changes every trace
 * (tests/cli/synth_golden.sh pins them). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/util_int.h"
#include "servprof/analyze.h"
#include "servprof/synth.h"

#define SYNTH_T0_NS 1000000000ull   /* the trace's clock starts at 1 s, like a monotonic clock would */
#define SYNTH_LAYERS 2              /* encoder layers: 4 kernels each, after one embedding kernel */
#define SYNTH_HIDDEN 768            /* model width: sets the output copy size */
#define SYNTH_TOKENS_MEDIAN 48.0    /* log-normal prompt length: median and sigma of its log */
#define SYNTH_TOKENS_SIGMA 0.7
#define SYNTH_PCIE_BYTES_PER_NS 12.0 /* 12 GB/s host<->device */
#define SYNTH_CPU_SLOWDOWN 4.0      /* the CPU backend runs each operator this many times slower */
#define SYNTH_GPU_STREAM 7          /* GPU kernels and copies are on this stream; the CPU's on 0 */

void sp_synth_options_init(sp_synth_options *o)
{
    memset(o, 0, sizeof *o);
    o->requests = 2000;
    o->rate = 0;
    o->seed = 1;
    o->max_batch = 16;
    o->batch_window_ms = 4.0;
    o->pad_to = 64;
    o->gpu = 0;
    o->price_per_hour = SP_DEFAULT_PRICE_PER_HOUR;
}

double sp_synth_rate(const sp_synth_options *o)
{
    if (o->rate != 0)
        return o->rate;
    return o->gpu ? SP_SYNTH_DEFAULT_RATE_GPU : SP_SYNTH_DEFAULT_RATE_CPU;
}

static sp_status check_options(const sp_synth_options *o, char *err, size_t errlen)
{
    double rate = sp_synth_rate(o);
    if (o->requests < 1 || o->requests > SP_SYNTH_MAX_REQUESTS)
        sp_errf(err, errlen, "requests must be in [1, %u], not %" PRIu64, SP_SYNTH_MAX_REQUESTS, o->requests);
    else if (!(rate >= SP_SYNTH_MIN_RATE && rate <= SP_SYNTH_MAX_RATE))
        sp_errf(err, errlen, "rate must be in [%g, %g] requests per second, not %g", SP_SYNTH_MIN_RATE,
                SP_SYNTH_MAX_RATE, rate);
    else if (o->max_batch < 1 || o->max_batch > SP_SYNTH_MAX_BATCH)
        sp_errf(err, errlen, "max_batch must be in [1, %u], not %u", SP_SYNTH_MAX_BATCH, o->max_batch);
    else if (!(o->batch_window_ms >= 0 && o->batch_window_ms <= SP_SYNTH_MAX_WINDOW_MS))
        sp_errf(err, errlen, "batch_window_ms must be in [0, %g], not %g", SP_SYNTH_MAX_WINDOW_MS,
                o->batch_window_ms);
    else if (o->pad_to < 1 || o->pad_to > SP_SYNTH_MAX_TOKENS)
        sp_errf(err, errlen, "pad_to must be in [1, %u], not %u", SP_SYNTH_MAX_TOKENS, o->pad_to);
    else if (!(o->price_per_hour > 0 && isfinite(o->price_per_hour)))
        sp_errf(err, errlen, "price_per_hour must be a positive number, not %g", o->price_per_hour);
    else
        return SP_OK;
    return SP_ERR_INVALID;
}

/* A multiplicative jitter with median 1 (log-normal, sigma 0.2). */
static double jitter(sp_rng *r)
{
    return exp(0.2 * sp_rng_normal_box_muller(r));
}

/* ---- the simulation ---- */

typedef struct synth_req {
    uint64_t arrival, ready, dispatch, batch_end, done;
    uint32_t tokens;
    uint32_t pre_ns, post_ns;
} synth_req;

/* One run: the options with the rate resolved, the random stream, the requests. */
typedef struct synth_run {
    const sp_synth_options *o;
    double rate;
    sp_rng rng;
    FILE *out;
    synth_req *reqs;    /* in arrival order: reqs[i] is request "r<i+1>" */
    synth_req **order;  /* by ready time, then arrival */
    synth_req **members;/* the batch being formed, max_batch slots */
} synth_run;

static int ready_cmp(const void *a, const void *b)
{
    const synth_req *const *x = a, *const *y = b;
    if ((*x)->ready != (*y)->ready)
        return (*x)->ready < (*y)->ready ? -1 : 1;
    return (*x)->arrival < (*y)->arrival ? -1 : (*x)->arrival > (*y)->arrival;
}

/* One device record of a batch, kept until the batch's end time is known. */
typedef struct synth_act {
    const char *name;      /* kernel name, or NULL for a copy */
    const char *copy_kind; /* "h2d" / "d2h" for a copy */
    uint64_t bytes, start, end;
} synth_act;

#define SYNTH_ACTS_MAX (2 + 1 + SYNTH_LAYERS * 4)

/* The kernels of one encoder layer. Kernel cost per padded token (ns) at padded length 64; attention
 * grows with the padded length. */
static const struct {
    const char *name;
    double ns_per_token;
    int quadratic;
} k_layer[] = {
    {"gemm_qkv_f16", 250, 0},
    {"attention_softmax_f16", 150, 1},
    {"gemm_ffn_f16", 500, 0},
    {"layernorm_f16", 50, 0},
};

/* Simulates one batch of `n` members on the device from `t`: fills acts[] with its copies and kernels
 * and returns the batch's end. */
static uint64_t batch_device_work(synth_run *s, unsigned n, uint32_t padded_len, uint64_t t, synth_act *acts,
                                  size_t *n_acts)
{
    const int gpu = s->o->gpu;
    uint64_t padded = (uint64_t)padded_len * n;
    double speed = gpu ? 1.0 : SYNTH_CPU_SLOWDOWN;
    size_t na = 0;
    if (gpu) {
        uint64_t bytes = padded * 8; /* token ids and attention mask, int32 each */
        t += 8000;                   /* the host prepares the inputs and launches the copy */
        uint64_t d = 5000 + (uint64_t)((double)bytes / SYNTH_PCIE_BYTES_PER_NS);
        acts[na++] = (synth_act){NULL, "h2d", bytes, t, t + d};
        t += d;
    }
    for (int k = -1; k < SYNTH_LAYERS * 4; k++) {
        const char *name = k < 0 ? "embedding_gather" : k_layer[k % 4].name;
        double per_tok = k < 0 ? 50 : k_layer[k % 4].ns_per_token;
        if (k >= 0 && k_layer[k % 4].quadratic)
            per_tok *= (double)padded_len / 64.0;
        if (gpu)
            t += 4000 + sp_rng_next(&s->rng) % 8000; /* launch gap: 4-12 us */
        uint64_t d = (uint64_t)((5000.0 + per_tok * (double)padded) * speed *
                                exp(0.05 * sp_rng_normal_box_muller(&s->rng)));
        acts[na++] = (synth_act){name, NULL, 0, t, t + d};
        t += d;
    }
    if (gpu) {
        uint64_t bytes = (uint64_t)n * SYNTH_HIDDEN * 4; /* pooled fp32 output per request */
        t += 3000;
        uint64_t d = 5000 + (uint64_t)((double)bytes / SYNTH_PCIE_BYTES_PER_NS);
        acts[na++] = (synth_act){NULL, "d2h", bytes, t, t + d};
        t += d;
        t += 2000; /* the stream synchronisation returns to the host */
    }
    *n_acts = na;
    return t;
}

/* Runs batch `batch_id` of s->members[0..n) from `t` and writes its batch, copy and kernel lines;
 * returns its end. */
static uint64_t run_batch(synth_run *s, uint64_t batch_id, unsigned n, uint64_t t)
{
    synth_req **members = s->members;
    uint32_t longest = 0;
    uint64_t effective = 0;
    for (unsigned i = 0; i < n; i++) {
        effective += members[i]->tokens;
        if (members[i]->tokens > longest)
            longest = members[i]->tokens;
    }
    unsigned pad_to = s->o->pad_to;
    uint32_t padded_len = (longest + pad_to - 1) / pad_to * pad_to;
    uint64_t padded = (uint64_t)padded_len * n;
    synth_act acts[SYNTH_ACTS_MAX];
    size_t na = 0;
    uint64_t start = t;
    t = batch_device_work(s, n, padded_len, t, acts, &na);

    FILE *out = s->out;
    fprintf(out, "{\"ev\":\"batch\",\"batch\":%" PRIu64 ",\"requests\":[", batch_id);
    for (unsigned i = 0; i < n; i++)
        fprintf(out, "%s\"r%" PRIu64 "\"", i ? "," : "", (uint64_t)(members[i] - s->reqs) + 1);
    fprintf(out,
            "],\"device\":0,\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 ",\"effective_tokens\":%" PRIu64
            ",\"padded_tokens\":%" PRIu64 "}\n",
            start, t, effective, padded);
    int stream = s->o->gpu ? SYNTH_GPU_STREAM : 0;
    for (size_t i = 0; i < na; i++) {
        if (acts[i].name)
            fprintf(out,
                    "{\"ev\":\"kernel\",\"batch\":%" PRIu64 ",\"name\":\"%s\",\"device\":0,\"stream\":%d,"
                    "\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 "}\n",
                    batch_id, acts[i].name, stream, acts[i].start, acts[i].end);
        else
            fprintf(out,
                    "{\"ev\":\"copy\",\"batch\":%" PRIu64 ",\"kind\":\"%s\",\"device\":0,\"stream\":%d,"
                    "\"bytes\":%" PRIu64 ",\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 "}\n",
                    batch_id, acts[i].copy_kind, stream, acts[i].bytes, acts[i].start, acts[i].end);
    }
    return t;
}

static void write_meta(const synth_run *s)
{
    const sp_synth_options *o = s->o;
    fprintf(s->out,
            "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"price_per_hour\":%.6g,"
            "\"generator\":\"servprof synth " SP_VERSION_STRING "\",\"seed\":%" PRIu64 ",\"requests\":%" PRIu64
            ",\"rate\":%.6g,\"max_batch\":%u,\"batch_window_ms\":%.6g,\"pad_to\":%u,\"backend\":\"%s\","
            /* the simulated service's device and policy as trace properties (docs/jsonl-format.md) */
            "\"properties\":{\"service\":\"servprof-synth\",\"device\":\"%s\",\"policy.max_batch\":\"%u\","
            "\"policy.max_queue_delay_ns\":\"%" PRIu64 "\",\"policy.workers\":\"1\",\"policy.pad_multiple\":\"%u\"}}\n",
            o->price_per_hour, o->seed, o->requests, s->rate, o->max_batch, o->batch_window_ms, o->pad_to,
            o->gpu ? "gpu" : "cpu", o->gpu ? "cuda" : "cpu", o->max_batch, (uint64_t)(o->batch_window_ms * 1e6),
            o->pad_to);
}

/* Arrivals (Poisson: exponential gaps), lengths (log-normal), tokenisation and postprocessing times;
 * fills s->order by ready time. */
static void draw_requests(synth_run *s)
{
    double t = (double)SYNTH_T0_NS;
    for (uint64_t i = 0; i < s->o->requests; i++) {
        synth_req *r = &s->reqs[i];
        t += -log(sp_rng_uniform(&s->rng)) / s->rate * 1e9;
        r->arrival = (uint64_t)t;
        double len = SYNTH_TOKENS_MEDIAN * exp(SYNTH_TOKENS_SIGMA * sp_rng_normal_box_muller(&s->rng));
        r->tokens = len < 1 ? 1 : len > SP_SYNTH_MAX_TOKENS ? SP_SYNTH_MAX_TOKENS : (uint32_t)len;
        r->pre_ns = (uint32_t)((40000.0 + 1500.0 * r->tokens) * jitter(&s->rng));
        r->post_ns = (uint32_t)((20000.0 + 500.0 * r->tokens) * jitter(&s->rng));
        r->ready = r->arrival + r->pre_ns;
        s->order[i] = r;
    }
    qsort(s->order, s->o->requests, sizeof *s->order, ready_cmp);
}

/* The batcher: a batch closes when it is full or its window (from its first request) ends, and is
 * dispatched when the device is free; it then takes every ready request, up to the cap. */
static void run_batcher(synth_run *s)
{
    const uint64_t n_req = s->o->requests, max_batch = s->o->max_batch;
    uint64_t window_ns = (uint64_t)(s->o->batch_window_ms * 1e6);
    uint64_t device_free = 0, batch_id = 0;
    size_t next = 0;
    while (next < n_req) {
        uint64_t close = s->order[next]->ready + window_ns;
        size_t last = next + max_batch - 1;
        if (last < n_req && s->order[last]->ready < close)
            close = s->order[last]->ready;
        uint64_t dispatch = close > device_free ? close : device_free;
        unsigned n = 0;
        while (next < n_req && n < max_batch && s->order[next]->ready <= dispatch)
            s->members[n++] = s->order[next++];
        uint64_t end = run_batch(s, ++batch_id, n, dispatch);
        for (unsigned i = 0; i < n; i++) {
            s->members[i]->dispatch = dispatch;
            s->members[i]->batch_end = end;
            s->members[i]->done = end + s->members[i]->post_ns;
        }
        device_free = end;
    }
}

static void write_requests(const synth_run *s)
{
    FILE *out = s->out;
    for (uint64_t i = 0; i < s->o->requests; i++) {
        const synth_req *r = &s->reqs[i];
        fprintf(out,
                "{\"ev\":\"request\",\"id\":\"r%" PRIu64 "\",\"arrival_ns\":%" PRIu64 ",\"done_ns\":%" PRIu64
                ",\"input_tokens\":%" PRIu32 "}\n",
                i + 1, r->arrival, r->done, r->tokens);
        fprintf(out,
                "{\"ev\":\"stage\",\"id\":\"r%" PRIu64 "\",\"stage\":\"preprocess\",\"start_ns\":%" PRIu64
                ",\"end_ns\":%" PRIu64 "}\n",
                i + 1, r->arrival, r->ready);
        fprintf(out,
                "{\"ev\":\"stage\",\"id\":\"r%" PRIu64 "\",\"stage\":\"queue\",\"start_ns\":%" PRIu64
                ",\"end_ns\":%" PRIu64 "}\n",
                i + 1, r->ready, r->dispatch);
        fprintf(out,
                "{\"ev\":\"stage\",\"id\":\"r%" PRIu64 "\",\"stage\":\"postprocess\",\"start_ns\":%" PRIu64
                ",\"end_ns\":%" PRIu64 "}\n",
                i + 1, r->batch_end, r->done);
    }
}

sp_status sp_synth_write(const sp_synth_options *o, FILE *out, char *err, size_t errlen)
{
    if (!o || !out) {
        sp_errf(err, errlen, "no options or no output stream");
        return SP_ERR_INVALID;
    }
    sp_status st = check_options(o, err, errlen);
    if (st != SP_OK)
        return st;
    synth_run s = {.o = o, .rate = sp_synth_rate(o), .out = out};
    s.reqs = calloc(o->requests, sizeof *s.reqs);
    s.order = calloc(o->requests, sizeof *s.order);
    s.members = calloc(o->max_batch, sizeof *s.members);
    if (!s.reqs || !s.order || !s.members) {
        sp_errf(err, errlen, "out of memory for %" PRIu64 " requests", o->requests);
        st = SP_ERR_NOMEM;
        goto done;
    }
    sp_rng_seed(&s.rng, o->seed, 0);
    write_meta(&s);
    draw_requests(&s);
    run_batcher(&s);
    write_requests(&s);
    /* a stream whose write failed keeps the unwritten bytes, so flushing again names the reason */
    errno = 0;
    if (fflush(out) != 0 || ferror(out)) {
        sp_errf(err, errlen, "%s", errno ? strerror(errno) : "write error");
        st = SP_ERR_IO;
    }
done:
    free(s.reqs);
    free(s.order);
    free(s.members);
    return st;
}
