/* `servprof synth`: writes a sample servprof.events/1 JSONL trace (DESIGN section 9) of a simulated
 * dynamically-batched inference service: Poisson arrivals, log-normal prompt lengths, tokenisation,
 * a batcher with a size cap and a batch window, padding to a bucket, one device that runs one batch
 * at a time, and postprocessing. Deterministic for a seed. The model is documented in docs/synth.md;
 * the constants below are the ones that page quotes. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"
#include "commands.h"
#include "servprof/servprof.h"

#define SYNTH_MAX_REQUESTS 10000000ull
#define SYNTH_MAX_BATCH 4096u
#define SYNTH_T0_NS 1000000000ull   /* the trace's clock starts at 1 s, like a monotonic clock would */
#define SYNTH_LAYERS 2              /* encoder layers: 4 kernels each, after one embedding kernel */
#define SYNTH_HIDDEN 768            /* model width: sets the output copy size */
#define SYNTH_TOKENS_MEDIAN 48.0    /* log-normal prompt length: median and sigma of its log */
#define SYNTH_TOKENS_SIGMA 0.7
#define SYNTH_TOKENS_MAX 512
#define SYNTH_PCIE_BYTES_PER_NS 12.0 /* 12 GB/s host<->device */

typedef struct synth_opts {
    uint64_t requests;
    double rate;           /* requests per second */
    uint64_t seed;
    unsigned max_batch;
    double window_ms;
    unsigned pad_to;
    int gpu;
    double price;
    const char *output;
} synth_opts;

/* ---- deterministic randomness: splitmix64 seeding xoshiro256** ---- */

typedef struct synth_rng {
    uint64_t s[4];
} synth_rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(synth_rng *r)
{
    uint64_t result = rotl(r->s[1] * 5, 7) * 9;
    uint64_t t = r->s[1] << 17;
    r->s[2] ^= r->s[0];
    r->s[3] ^= r->s[1];
    r->s[1] ^= r->s[2];
    r->s[0] ^= r->s[3];
    r->s[2] ^= t;
    r->s[3] = rotl(r->s[3], 45);
    return result;
}

/* Uniform in (0, 1): never 0, so log() is safe. */
static double rng_uniform(synth_rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_normal(synth_rng *r)
{
    /* Box-Muller; one value per call keeps the stream simple to reason about */
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* A multiplicative jitter with median 1 (log-normal, sigma 0.2). */
static double jitter(synth_rng *r)
{
    return exp(0.2 * rng_normal(r));
}

/* ---- the simulation ---- */

typedef struct synth_req {
    uint64_t arrival, ready, dispatch, batch_end, done;
    uint32_t tokens;
    uint32_t pre_ns, post_ns;
} synth_req;

static int ready_cmp(const void *a, const void *b)
{
    const synth_req *const *x = a, *const *y = b;
    if ((*x)->ready != (*y)->ready)
        return (*x)->ready < (*y)->ready ? -1 : 1;
    return (*x)->arrival < (*y)->arrival ? -1 : (*x)->arrival > (*y)->arrival;
}

/* Index of a request, for its id "r<index+1>". */
static uint64_t req_index(const synth_req *base, const synth_req *r)
{
    return (uint64_t)(r - base);
}

/* One device record of a batch, kept until the batch's end time is known. */
typedef struct synth_act {
    const char *name;      /* kernel name, or NULL for a copy */
    const char *copy_kind; /* "h2d" / "d2h" for a copy */
    uint64_t bytes, start, end;
} synth_act;

#define SYNTH_ACTS_MAX (2 + 1 + SYNTH_LAYERS * 4)

/* Runs one batch on the device from `t`; writes its batch, copy and kernel lines; returns its end.
 * Kernel cost per padded token (ns) at padded length 64; attention grows with the padded length. */
static uint64_t run_batch(FILE *out, const synth_opts *o, synth_rng *rng, uint64_t batch_id, synth_req **members,
                          unsigned n, const synth_req *base, uint64_t t)
{
    static const struct {
        const char *name;
        double ns_per_token;
        int quadratic;
    } layer[] = {
        {"gemm_qkv_f16", 250, 0},
        {"attention_softmax_f16", 150, 1},
        {"gemm_ffn_f16", 500, 0},
        {"layernorm_f16", 50, 0},
    };
    synth_act acts[SYNTH_ACTS_MAX];
    size_t na = 0;
    uint32_t longest = 0;
    uint64_t effective = 0;
    for (unsigned i = 0; i < n; i++) {
        effective += members[i]->tokens;
        if (members[i]->tokens > longest)
            longest = members[i]->tokens;
    }
    uint32_t padded_len = (longest + o->pad_to - 1) / o->pad_to * o->pad_to;
    uint64_t padded = (uint64_t)padded_len * n;
    /* the CPU backend is four times slower per token and has no copies or launch gaps */
    double speed = o->gpu ? 1.0 : 4.0;
    uint64_t start = t;
    if (o->gpu) {
        uint64_t bytes = padded * 8; /* token ids and attention mask, int32 each */
        t += 8000;                   /* the host prepares the inputs and launches the copy */
        uint64_t d = 5000 + (uint64_t)((double)bytes / SYNTH_PCIE_BYTES_PER_NS);
        acts[na++] = (synth_act){NULL, "h2d", bytes, t, t + d};
        t += d;
    }
    for (int k = -1; k < SYNTH_LAYERS * 4; k++) {
        const char *name = k < 0 ? "embedding_gather" : layer[k % 4].name;
        double per_tok = k < 0 ? 50 : layer[k % 4].ns_per_token;
        if (k >= 0 && layer[k % 4].quadratic)
            per_tok *= (double)padded_len / 64.0;
        if (o->gpu)
            t += 4000 + rng_next(rng) % 8000; /* launch gap: 4-12 us */
        uint64_t d = (uint64_t)((5000.0 + per_tok * (double)padded) * speed * exp(0.05 * rng_normal(rng)));
        acts[na++] = (synth_act){name, NULL, 0, t, t + d};
        t += d;
    }
    if (o->gpu) {
        uint64_t bytes = (uint64_t)n * SYNTH_HIDDEN * 4; /* pooled fp32 output per request */
        t += 3000;
        uint64_t d = 5000 + (uint64_t)((double)bytes / SYNTH_PCIE_BYTES_PER_NS);
        acts[na++] = (synth_act){NULL, "d2h", bytes, t, t + d};
        t += d;
        t += 2000; /* the stream synchronisation returns to the host */
    }
    fprintf(out, "{\"ev\":\"batch\",\"batch\":%" PRIu64 ",\"requests\":[", batch_id);
    for (unsigned i = 0; i < n; i++)
        fprintf(out, "%s\"r%" PRIu64 "\"", i ? "," : "", req_index(base, members[i]) + 1);
    fprintf(out,
            "],\"device\":0,\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 ",\"effective_tokens\":%" PRIu64
            ",\"padded_tokens\":%" PRIu64 "}\n",
            start, t, effective, padded);
    int stream = o->gpu ? 7 : 0;
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

static int synth_run(const synth_opts *o, FILE *out)
{
    synth_req *reqs = calloc(o->requests, sizeof *reqs);
    synth_req **order = calloc(o->requests, sizeof *order);
    synth_req **members = calloc(o->max_batch, sizeof *members);
    if (!reqs || !order || !members) {
        free(reqs);
        free(order);
        free(members);
        fprintf(stderr, "servprof synth: out of memory for %" PRIu64 " requests\n", o->requests);
        return 1;
    }
    synth_rng rng;
    uint64_t seed = o->seed;
    for (int i = 0; i < 4; i++)
        rng.s[i] = splitmix64(&seed);

    fprintf(out,
            "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"price_per_hour\":%.6g,"
            "\"generator\":\"servprof synth " SP_VERSION_STRING "\",\"seed\":%" PRIu64 ",\"requests\":%" PRIu64
            ",\"rate\":%.6g,\"max_batch\":%u,\"batch_window_ms\":%.6g,\"pad_to\":%u,\"backend\":\"%s\","
            /* the simulated service's device and policy as trace properties (docs/jsonl-format.md) */
            "\"properties\":{\"service\":\"servprof-synth\",\"device\":\"%s\",\"policy.max_batch\":\"%u\","
            "\"policy.max_queue_delay_ns\":\"%" PRIu64 "\",\"policy.workers\":\"1\",\"policy.pad_multiple\":\"%u\"}}\n",
            o->price, o->seed, o->requests, o->rate, o->max_batch, o->window_ms, o->pad_to, o->gpu ? "gpu" : "cpu",
            o->gpu ? "cuda" : "cpu", o->max_batch, (uint64_t)(o->window_ms * 1e6), o->pad_to);

    /* arrivals (Poisson: exponential gaps), lengths (log-normal), tokenisation time */
    double t = (double)SYNTH_T0_NS;
    for (uint64_t i = 0; i < o->requests; i++) {
        synth_req *r = &reqs[i];
        t += -log(rng_uniform(&rng)) / o->rate * 1e9;
        r->arrival = (uint64_t)t;
        double len = SYNTH_TOKENS_MEDIAN * exp(SYNTH_TOKENS_SIGMA * rng_normal(&rng));
        r->tokens = len < 1 ? 1 : len > SYNTH_TOKENS_MAX ? SYNTH_TOKENS_MAX : (uint32_t)len;
        r->pre_ns = (uint32_t)((40000.0 + 1500.0 * r->tokens) * jitter(&rng));
        r->post_ns = (uint32_t)((20000.0 + 500.0 * r->tokens) * jitter(&rng));
        r->ready = r->arrival + r->pre_ns;
        order[i] = r;
    }
    qsort(order, o->requests, sizeof *order, ready_cmp);

    /* the batcher: a batch closes when it is full or its window (from its first request) ends, and
     * is dispatched when the device is free; it then takes every ready request, up to the cap */
    uint64_t window_ns = (uint64_t)(o->window_ms * 1e6);
    uint64_t device_free = 0, batch_id = 0;
    size_t next = 0;
    while (next < o->requests) {
        uint64_t close = order[next]->ready + window_ns;
        size_t last = next + o->max_batch - 1;
        if (last < o->requests && order[last]->ready < close)
            close = order[last]->ready;
        uint64_t dispatch = close > device_free ? close : device_free;
        unsigned n = 0;
        while (next < o->requests && n < o->max_batch && order[next]->ready <= dispatch)
            members[n++] = order[next++];
        uint64_t end = run_batch(out, o, &rng, ++batch_id, members, n, reqs, dispatch);
        for (unsigned i = 0; i < n; i++) {
            members[i]->dispatch = dispatch;
            members[i]->batch_end = end;
            members[i]->done = end + members[i]->post_ns;
        }
        device_free = end;
    }

    for (uint64_t i = 0; i < o->requests; i++) {
        const synth_req *r = &reqs[i];
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
    free(reqs);
    free(order);
    free(members);
    return 0;
}

static void synth_usage(FILE *out)
{
    fprintf(out,
            "usage: servprof synth [OPTIONS]\n\n"
            "Writes a sample servprof.events/1 JSONL trace of a simulated dynamically-batched inference\n"
            "service (Poisson arrivals, log-normal prompt lengths, preprocess/queue/postprocess spans,\n"
            "batches padded to a bucket, copies and kernels on one device). The same seed gives the same\n"
            "trace. The simulated model is described in docs/synth.md.\n\n"
            "options:\n"
            "  --requests N           requests to simulate (default 2000, at most %llu)\n"
            "  --rate R               mean arrival rate, requests per second (default 1000 with --gpu,\n"
            "                         200 without: about a fifth of what the backend sustains)\n"
            "  --seed S               random seed (default 1)\n"
            "  --max-batch B          largest batch the batcher forms (default 16, at most %u)\n"
            "  --batch-window-ms W    how long a batch waits for more requests after its first one\n"
            "                         arrives, in milliseconds (default 4)\n"
            "  --pad-to P             pad each batch to its longest request rounded up to a multiple\n"
            "                         of P tokens (default 64; 1: pad to the longest only)\n"
            "  --gpu                  GPU backend: host-to-device copy, kernels launched with small\n"
            "                         gaps, device-to-host copy (default: CPU backend, the same\n"
            "                         operators back to back, 4x slower, no copies)\n"
            "  --price-per-hour X     instance price written into the trace (default 4.0)\n"
            "  --format jsonl         output format (only jsonl)\n"
            "  -o, --output FILE      write to FILE instead of standard output\n"
            "  -h, --help             this help\n",
            (unsigned long long)SYNTH_MAX_REQUESTS, SYNTH_MAX_BATCH);
}

enum { OPT_REQUESTS = 256, OPT_RATE, OPT_SEED, OPT_MAX_BATCH, OPT_WINDOW, OPT_PAD, OPT_GPU, OPT_PRICE, OPT_FORMAT };

int sp_cmd_synth(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"requests", required_argument, NULL, OPT_REQUESTS},
        {"rate", required_argument, NULL, OPT_RATE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"max-batch", required_argument, NULL, OPT_MAX_BATCH},
        {"batch-window-ms", required_argument, NULL, OPT_WINDOW},
        {"pad-to", required_argument, NULL, OPT_PAD},
        {"gpu", no_argument, NULL, OPT_GPU},
        {"price-per-hour", required_argument, NULL, OPT_PRICE},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    synth_opts o = {2000, 0, 1, 16, 4.0, 64, 0, 4.0, NULL}; /* rate 0: the backend's default */
    sp_cli_getopt_begin();
    int c;
    size_t k;
    static const char *const formats[] = {"jsonl"};
    while ((c = getopt_long(argc, argv, ":o:h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_REQUESTS:
            if (!sp_cli_u64("synth", "--requests", optarg, 1, SYNTH_MAX_REQUESTS, &o.requests))
                return 2;
            break;
        case OPT_RATE:
            if (!sp_cli_number("synth", "--rate", optarg, 1e-3, 1e9, &o.rate))
                return 2;
            break;
        case OPT_SEED:
            if (!sp_cli_u64("synth", "--seed", optarg, 0, UINT64_MAX, &o.seed))
                return 2;
            break;
        case OPT_MAX_BATCH:
            if (!sp_cli_uint("synth", "--max-batch", optarg, 1, SYNTH_MAX_BATCH, &o.max_batch))
                return 2;
            break;
        case OPT_WINDOW:
            if (!sp_cli_number("synth", "--batch-window-ms", optarg, 0, 60000, &o.window_ms))
                return 2;
            break;
        case OPT_PAD:
            if (!sp_cli_uint("synth", "--pad-to", optarg, 1, SYNTH_TOKENS_MAX, &o.pad_to))
                return 2;
            break;
        case OPT_GPU: o.gpu = 1; break;
        case OPT_PRICE:
            if (!sp_cli_positive("synth", "--price-per-hour", optarg, 1e6, &o.price))
                return 2;
            break;
        case OPT_FORMAT:
            if (!sp_cli_choice("synth", "--format", optarg, formats, 1, &k))
                return 2;
            break;
        case 'o': o.output = optarg; break;
        case 'h': synth_usage(stdout); return 0;
        default: return sp_cli_option_error("synth", c, argc, argv, long_opts);
        }
    }
    if (optind < argc)
        return sp_cli_usage_error("synth", "unexpected argument '%s'", argv[optind]);
    if (o.rate == 0)
        o.rate = o.gpu ? 1000.0 : 200.0;
    FILE *out = stdout;
    if (o.output && !(out = fopen(o.output, "w"))) {
        fprintf(stderr, "servprof synth: %s: cannot create: %s\n", o.output, strerror(errno));
        return 1;
    }
    int rc = synth_run(&o, out);
    /* a stream whose write failed keeps the unwritten bytes, so flushing again names the reason */
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "servprof synth: writing %s failed: %s\n", o.output ? o.output : "standard output",
                strerror(errno));
        rc = 1;
    }
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "servprof synth: writing %s failed: %s\n", o.output, strerror(errno));
        rc = 1;
    }
    return rc;
}
