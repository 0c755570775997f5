/* `servprof demo`: the embedded default. Starts the reference service in-process on an ephemeral
 * 127.0.0.1 port with a recorder, drives it with the open-loop load generator, stops it (flushing the
 * trace), loads the server's trace and the client's trace into one event set and prints the report.
 * Uses only the public API. When the build has no service or load generator it falls back to
 * `servprof synth` + `servprof analyze` and says so. docs/demo.md describes what it runs. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_opts.h"
#include "commands.h"
#include "demo_int.h"
#include "servprof/analyze.h"
#include "servprof/events.h"
/* load.h and serve.h for their defaults and limits in every build; their functions only in a live one */
#include "servprof/load.h"
#include "servprof/serve.h"
#include "servprof/servprof.h"
#include "servprof/synth.h"

#if defined(SERVPROF_SERVE_ENABLED) && defined(SERVPROF_LOAD_ENABLED)
#define DEMO_LIVE 1
#include "servprof/trace.h"
#else
#define DEMO_LIVE 0
#endif

/* Default offered load. Measured on the shared 2-core development VM (docs/demo.md, "Default
 * rate"): with the default model (2 layers, width 128), batcher (16 per batch, 2 ms window) and
 * log-normal requests of 32 words on average, the service saturates at 240-300 requests/s while
 * other builds share the cores (load average 3-4). 120/s keeps the worker busy about a third to
 * half of the time, so the report shows batching, padding and the model at work without a standing
 * queue. */
#define DEMO_DEFAULT_RATE 120.0
#define DEMO_DEFAULT_DURATION_S 10.0
#define DEMO_MAX_DURATION_S 3600.0
#define DEMO_DEFAULT_SEED 1
#define DEMO_PATH_MAX SP_DEMO_PATH_MAX
/* The demo's one client opens up to this many connections (the service's per-address cap is lifted) */
#define DEMO_CONNECTIONS 256
/* The queue holds about 4 s of offered load, between the service's default capacity and this */
#define DEMO_MAX_QUEUE 100000

typedef struct demo_opts {
    double duration_s;
    double rate;
    sp_load_arrival arrival;  /* --arrival: poisson, constant or gamma */
    double gamma_cv;          /* with gamma */
    double length_mean;       /* words per request (log-normal arithmetic mean) */
    double length_sigma;
    unsigned max_batch;
    double max_queue_delay_ms;
    unsigned pad_to;
    const char *buckets;      /* as given, for the header; parsed into bucket_list */
    unsigned bucket_list[SP_SERVER_MAX_BUCKETS];
    size_t n_buckets;
    unsigned layers, hidden, heads, ffn, max_len;
    unsigned workers;
    uint64_t seed;
    double price_per_hour;    /* 0: the report's default */
    int json;
    const char *perfetto;
    const char *html;
    const char *keep_traces;  /* folder for the traces; NULL: a temporary folder, removed after */
    const char *device;       /* "cpu" or "cuda" (sp_server_options.device) */
    unsigned cuda_device;
    int cuda_graphs;
    int progress;             /* -1: when stderr is a terminal */
} demo_opts;

static void demo_usage(FILE *f)
{
    fprintf(f,
            "usage: servprof demo [OPTIONS]\n\n"
            "The embedded default: starts the reference inference service (servprof serve) in this process\n"
            "on an ephemeral 127.0.0.1 port, recording every stage; drives it with the open-loop load\n"
            "generator (servprof load: Poisson arrivals, log-normal request lengths); stops it; merges the\n"
            "server's trace with the client's (joined on X-Request-Id, so `network` and client latency from\n"
            "the intended send time appear); analyses both and prints the report. See docs/demo.md.\n"
            "`servprof demo --generate` does the same for the text generation service (TTFT and TPOT\n"
            "by stage); `servprof demo --generate --help` lists its options.\n\n"
            "Load:\n"
            "  --duration S            seconds of load (default %.0f)\n"
            "  --rate R                target requests per second (default %.0f)\n"
            "  --arrival A             poisson (default), constant, or gamma:CV (gamma gaps with that\n"
            "                          coefficient of variation)\n"
            "  --length-mean W         mean words per request, log-normal (default %g)\n"
            "  --length-sigma S        sd of ln(words) (default %g)\n"
            "Batching (the service's policy):\n"
            "  --max-batch N           inputs per batch (default %u)\n"
            "  --max-queue-delay-ms D  how long the oldest waiting request waits for company (default %g)\n"
            "  --pad-to N              static shape: every batch padded to N tokens (raises --max-len to N)\n"
            "  --buckets L1,L2,...     length buckets, each batch padded to its bucket's bound (raises\n"
            "                          --max-len to the largest; default: pad each batch to its longest\n"
            "                          member)\n"
            "  --workers N             batch worker threads (default %u)\n"
            "Model (weights generated from --seed; nothing is downloaded):\n"
            "  --layers N              encoder layers (default %u)\n"
            "  --hidden N              model width (default %u)\n"
            "  --heads N               attention heads; must divide --hidden (default %u)\n"
            "  --ffn N                 feed-forward width (default %u)\n"
            "  --max-len N             tokens per input incl. [CLS]/[SEP] (default %u)\n"
            "  --device D              cpu (default, OpenBLAS) or cuda (the service's CUDA backend, recorded\n"
            "                          with CUPTI; a build without it says so)\n"
            "  --cuda-device N         GPU index with --device cuda (default 0)\n"
            "  --cuda-graphs           with --device cuda: replay each batch shape as a CUDA graph\n"
            "  --seed N                seeds the weights and the load's arrivals and texts (default %d)\n"
            "Report:\n"
            "  --price-per-hour P      instance price in dollars per hour (default: the report's $%.2f/h)\n"
            "  --json                  print the JSON report (servprof.report/1) instead of the table;\n"
            "                          the run description then goes to standard error\n"
            "  --perfetto FILE         also write a Chrome/Perfetto trace (open in ui.perfetto.dev)\n"
            "  --html FILE             also write the self-contained HTML report (docs/html-report.md)\n"
            "  --keep-traces DIR       keep the server trace (DIR/server.sptrace) and the client trace\n"
            "                          (DIR/client.jsonl) to re-analyse later with\n"
            "                          `servprof analyze DIR/server.sptrace DIR/client.jsonl`;\n"
            "                          default: a temporary folder, removed at the end\n"
            "  --progress              progress line on standard error once per second even when it is\n"
            "                          not a terminal\n"
            "  --no-progress           never print the progress line\n"
            "  -h, --help              this text\n\n"
            "exit status: 0 success, 1 the run or the analysis failed, 2 usage error\n",
            DEMO_DEFAULT_DURATION_S, DEMO_DEFAULT_RATE, SP_LOAD_DEFAULT_LENGTH_MEAN, SP_LOAD_DEFAULT_LENGTH_SIGMA,
            SP_SERVER_DEFAULT_MAX_BATCH, SP_SERVER_DEFAULT_MAX_QUEUE_DELAY_MS, SP_SERVER_DEFAULT_WORKERS,
            SP_SERVER_DEFAULT_LAYERS, SP_SERVER_DEFAULT_HIDDEN, SP_SERVER_DEFAULT_HEADS, SP_SERVER_DEFAULT_FFN,
            SP_SERVER_DEFAULT_MAX_LEN, DEMO_DEFAULT_SEED, SP_DEFAULT_PRICE_PER_HOUR);
}

/* ---- fallback: no service or load generator in this build ---- */

#if !DEMO_LIVE
static int demo_fallback(const demo_opts *o)
{
    double requests = o->rate * o->duration_s;
    if (requests > SP_SYNTH_MAX_REQUESTS)
        return sp_cli_usage_error("demo", "--rate x --duration asks for %.0f requests; the simulated service "
                                  "takes at most %u", requests, SP_SYNTH_MAX_REQUESTS);
    fprintf(stderr,
            "servprof demo: this build has no reference service or load generator (libmicrohttpd, jansson\n"
            "or OpenBLAS was missing at configure time; see docs/serve.md). Falling back to a SIMULATED\n"
            "trace: servprof synth, then servprof analyze. The figures below come from a model of a\n"
            "batched service, not from a measured one.\n\n");
    char dir[DEMO_PATH_MAX];
    int drc = sp_demo_trace_dir(o->keep_traces, dir);
    if (drc)
        return drc;
    char trace[DEMO_PATH_MAX + 32];
    snprintf(trace, sizeof trace, "%s/synth.jsonl", dir);
    /* the simulated service runs the demo's load and batching policy */
    sp_synth_options so;
    sp_synth_options_init(&so);
    so.gpu = 1;
    so.requests = requests < 1 ? 1 : (uint64_t)nearbyint(requests);
    so.rate = o->rate;
    so.seed = o->seed;
    so.max_batch = o->max_batch;
    so.batch_window_ms = o->max_queue_delay_ms;
    if (o->pad_to)
        so.pad_to = o->pad_to;
    if (o->price_per_hour > 0)
        so.price_per_hour = o->price_per_hour;
    fprintf(stderr, "== servprof synth --gpu --requests %" PRIu64 " --rate %.6g --seed %" PRIu64 " --max-batch %u "
                    "--batch-window-ms %.6g --pad-to %u -o %s\n",
            so.requests, so.rate, so.seed, so.max_batch, so.batch_window_ms, so.pad_to, trace);
    int rc = sp_cli_synth_write("demo", &so, trace);
    if (rc == 0) {
        char *aargv[10];
        int an = 0;
        aargv[an++] = "analyze";
        if (o->json)
            aargv[an++] = "--json";
        if (o->perfetto) {
            aargv[an++] = "--perfetto";
            aargv[an++] = (char *)o->perfetto;
        }
        if (o->html) {
            aargv[an++] = "--html";
            aargv[an++] = (char *)o->html;
        }
        aargv[an++] = trace;
        aargv[an] = NULL;
        rc = sp_cmd_analyze(an, aargv);
    }
    if (o->keep_traces) {
        if (rc == 0)
            fprintf(stderr, "trace kept: servprof analyze %s\n", trace);
    } else {
        remove(trace);
        rmdir(dir);
    }
    return rc;
}
#endif

/* ---- live demo ---- */

#if DEMO_LIVE
static void demo_on_progress(void *user, const sp_load_progress *p)
{
    sp_demo_progress_line(p, ((const demo_opts *)user)->duration_s, "in flight");
}

static void describe_policy(const demo_opts *o, char *buf, size_t len)
{
    int n = snprintf(buf, len, "max-batch %u, window %.6g ms, ", o->max_batch, o->max_queue_delay_ms);
    if (n < 0 || (size_t)n >= len)
        return;
    if (o->pad_to)
        snprintf(buf + n, len - (size_t)n, "static shape %u tokens", o->pad_to);
    else if (o->buckets)
        snprintf(buf + n, len - (size_t)n, "length buckets %s", o->buckets);
    else
        snprintf(buf + n, len - (size_t)n, "padded to each batch's longest member");
}

/* The service's options for the demo: its model and batching policy, an ephemeral 127.0.0.1 port,
 * room in the queue for the offered load, and no per-address cap for its one client. */
static void demo_server_options(const demo_opts *o, sp_server_options *so)
{
    sp_server_options_init(so);
    so->host = "127.0.0.1";
    so->port = 0;
    so->seed = o->seed;
    so->layers = o->layers;
    so->hidden = o->hidden;
    so->heads = o->heads;
    so->ffn = o->ffn;
    so->max_len = o->max_len;
    so->max_batch = o->max_batch;
    so->max_queue_delay_ms = o->max_queue_delay_ms;
    so->pad_to = o->pad_to;
    so->workers = o->workers;
    so->device = o->device;
    so->cuda_device = o->cuda_device;
    so->cuda_graphs = o->cuda_graphs;
    /* an open-loop client may have many requests in flight at saturation: give the queue room for
     * several seconds of them instead of answering 503, so the report shows queueing, not errors */
    double want_cap = o->rate * 4;
    if (want_cap > so->queue_capacity)
        so->queue_capacity = want_cap > DEMO_MAX_QUEUE ? DEMO_MAX_QUEUE : (unsigned)want_cap;
    /* the demo's one client is its own load generator: one address with up to DEMO_CONNECTIONS */
    so->max_connections_per_ip = 0;
    for (size_t i = 0; i < o->n_buckets; i++)
        so->buckets[i] = o->bucket_list[i];
    /* a static shape or a bucket beyond the default input length makes no sense cut short: the
     * demo raises max-len to fit it */
    if (so->pad_to > so->max_len)
        so->max_len = so->pad_to;
    for (int i = 0; i < SP_SERVER_MAX_BUCKETS && so->buckets[i]; i++)
        if (so->buckets[i] > so->max_len)
            so->max_len = so->buckets[i];
}

/* The load generator's configuration for the demo (the URL and the trace are set once known). */
static void demo_load_config(const demo_opts *o, sp_load_config *lc)
{
    sp_load_config_init(lc);
    lc->rate = o->rate;
    lc->duration_s = o->duration_s;
    lc->seed = o->seed;
    lc->length = SP_LOAD_LENGTH_LOGNORMAL;
    lc->length_mean = o->length_mean;
    lc->length_sigma = o->length_sigma;
    lc->id_prefix = "demo";
    lc->connections = DEMO_CONNECTIONS;
    lc->arrival = o->arrival;
    lc->gamma_cv = o->gamma_cv;
}

/* What is run, at the top of the output. */
static void print_run_header(FILE *hdr, const sp_server_options *so, const sp_load_config *lc, const sp_server *srv,
                             const char *dir, void *user)
{
    const demo_opts *o = user;
    char policy[256];
    describe_policy(o, policy, sizeof policy);
    const char *arrival = lc->arrival == SP_LOAD_ARRIVAL_POISSON ? "Poisson" :
                          lc->arrival == SP_LOAD_ARRIVAL_CONSTANT ? "constant" : "gamma";
    fprintf(hdr, "servprof demo: reference service (servprof serve, in-process) driven by servprof load\n");
    const char *note = sp_server_device_note(srv);
    if (strncmp(note, "device: ", 8) == 0)
        note += 8;
    fprintf(hdr, "  device   %s%s\n", note, o->cuda_graphs ? ", CUDA graphs per batch shape" : "");
    fprintf(hdr, "  model    encoder %u layers, hidden %u, %u heads, ffn %u, max-len %u (weights from seed %" PRIu64 ")\n",
            so->layers, so->hidden, so->heads, so->ffn, so->max_len, o->seed);
    fprintf(hdr, "  policy   %s, %u worker%s\n", policy, so->workers, so->workers == 1 ? "" : "s");
    fprintf(hdr, "  load     %s arrivals at %.6g req/s for %.6g s, log-normal lengths (mean %.6g words, sigma %.6g)\n",
            arrival, o->rate, o->duration_s, o->length_mean, o->length_sigma);
    fprintf(hdr, "  traces   %s%s\n\n", dir, o->keep_traces ? "" : " (temporary)");
    fflush(hdr);
}

/* What happened: the load generator's and the service's counts. */
static void print_run_outcome(FILE *hdr, const sp_load_result *res, const sp_server_stats *ss, void *user)
{
    const demo_opts *o = user;
    fprintf(hdr, "load: %" PRIu64 " sent, %" PRIu64 " ok, %" PRIu64 " 503, %" PRIu64 " other status, %" PRIu64
                 " no response; achieved %.1f ok/s of %.6g\n"
                 "service: %" PRIu64 " batches, %" PRIu64 " inputs, %" PRIu64 " tokens (%" PRIu64
                 " padded), %" PRIu64 " rejected (queue full)\n\n",
            res->sent, res->ok, res->status_503, res->status_other,
            res->connect_errors + res->timeouts + res->io_errors + res->protocol_errors + res->unsent,
            res->achieved_rate, o->rate, ss->batches, ss->sequences, ss->effective_tokens, ss->padded_tokens,
            ss->rejected_full);
    fflush(hdr);
}

static int demo_live(const demo_opts *o)
{
    sp_server_options so;
    demo_server_options(o, &so);
    sp_load_config lc;
    demo_load_config(o, &lc);
    sp_demo_report_opts ro = {o->price_per_hour, o->json, o->perfetto, o->html, o->keep_traces};
    /* what is run, at the top; with --json stdout holds only the JSON report */
    sp_demo_live d = {"demo", &so, &lc, "/v1/embeddings", o->progress, demo_on_progress, &ro,
                      o->json ? stderr : stdout, print_run_header, print_run_outcome, (void *)o};
    return sp_demo_run_live(&d);
}
#endif

/* Whether arg is --generate as getopt would take it: any abbreviation (no other demo option starts
 * with 'g'), with or without "=VALUE", which the generation demo's parser then refuses by name. */
static bool names_generate(const char *arg)
{
    static const char name[] = "generate";
    if (strncmp(arg, "--", 2) != 0)
        return false;
    size_t n = strcspn(arg + 2, "=");
    return n > 0 && n < sizeof name && strncmp(arg + 2, name, n) == 0;
}

int sp_cmd_demo(int argc, char **argv)
{
    /* the generation demo has options of its own (demo_generate.c) */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (names_generate(argv[i]))
            return sp_cmd_demo_generate(argc, argv);
    /* the service's and the load generator's own defaults (serve.h, load.h), so the demo runs what
     * `servprof serve` and `servprof load` would */
    demo_opts o = {
        .duration_s = DEMO_DEFAULT_DURATION_S, .rate = DEMO_DEFAULT_RATE, .arrival = SP_LOAD_ARRIVAL_POISSON,
        .gamma_cv = 1, .length_mean = SP_LOAD_DEFAULT_LENGTH_MEAN, .length_sigma = SP_LOAD_DEFAULT_LENGTH_SIGMA,
        .max_batch = SP_SERVER_DEFAULT_MAX_BATCH, .max_queue_delay_ms = SP_SERVER_DEFAULT_MAX_QUEUE_DELAY_MS,
        .pad_to = 0, .buckets = NULL, .layers = SP_SERVER_DEFAULT_LAYERS, .hidden = SP_SERVER_DEFAULT_HIDDEN,
        .heads = SP_SERVER_DEFAULT_HEADS, .ffn = SP_SERVER_DEFAULT_FFN, .max_len = SP_SERVER_DEFAULT_MAX_LEN,
        .workers = SP_SERVER_DEFAULT_WORKERS, .seed = DEMO_DEFAULT_SEED, .price_per_hour = 0, .json = 0,
        .perfetto = NULL, .html = NULL, .keep_traces = NULL, .device = "cpu", .cuda_device = 0, .cuda_graphs = 0,
        .progress = -1,
    };
    enum {
        O_DURATION = 256, O_RATE, O_ARRIVAL, O_LMEAN, O_LSIGMA, O_MAX_BATCH, O_DELAY, O_PAD_TO, O_BUCKETS,
        O_WORKERS, O_LAYERS, O_HIDDEN, O_HEADS, O_FFN, O_MAX_LEN, O_DEVICE, O_SEED, O_PRICE, O_JSON,
        O_PERFETTO, O_HTML, O_KEEP, O_PROGRESS, O_NO_PROGRESS, O_CUDA_DEVICE, O_CUDA_GRAPHS
    };
    static const struct option longopts[] = {
        {"duration", required_argument, 0, O_DURATION}, {"rate", required_argument, 0, O_RATE},
        {"arrival", required_argument, 0, O_ARRIVAL}, {"length-mean", required_argument, 0, O_LMEAN},
        {"length-sigma", required_argument, 0, O_LSIGMA}, {"max-batch", required_argument, 0, O_MAX_BATCH},
        {"max-queue-delay-ms", required_argument, 0, O_DELAY}, {"pad-to", required_argument, 0, O_PAD_TO},
        {"buckets", required_argument, 0, O_BUCKETS}, {"workers", required_argument, 0, O_WORKERS},
        {"layers", required_argument, 0, O_LAYERS}, {"hidden", required_argument, 0, O_HIDDEN},
        {"heads", required_argument, 0, O_HEADS}, {"ffn", required_argument, 0, O_FFN},
        {"max-len", required_argument, 0, O_MAX_LEN}, {"device", required_argument, 0, O_DEVICE},
        {"seed", required_argument, 0, O_SEED}, {"price-per-hour", required_argument, 0, O_PRICE},
        {"json", no_argument, 0, O_JSON}, {"perfetto", required_argument, 0, O_PERFETTO},
        {"html", required_argument, 0, O_HTML},
        {"keep-traces", required_argument, 0, O_KEEP}, {"progress", no_argument, 0, O_PROGRESS},
        {"no-progress", no_argument, 0, O_NO_PROGRESS}, {"cuda-device", required_argument, 0, O_CUDA_DEVICE},
        {"cuda-graphs", no_argument, 0, O_CUDA_GRAPHS}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    sp_cli_getopt_begin();
    int c;
    size_t k;
    static const char *const devices[] = {"cpu", "cuda"};
    const char *replay = NULL;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_DURATION: ok = sp_cli_number("demo", "--duration", optarg, 0.1, DEMO_MAX_DURATION_S, &o.duration_s); break;
        case O_RATE: ok = sp_cli_number("demo", "--rate", optarg, 0.1, 1e6, &o.rate); break;
        case O_ARRIVAL: ok = sp_cli_arrival("demo", "--arrival", optarg, false, &o.arrival, &o.gamma_cv, &replay); break;
        case O_LMEAN: ok = sp_cli_number("demo", "--length-mean", optarg, 1, SP_LOAD_MAX_WORDS, &o.length_mean); break;
        case O_LSIGMA:
            ok = sp_cli_number("demo", "--length-sigma", optarg, 0, SP_LOAD_MAX_LENGTH_SIGMA, &o.length_sigma);
            break;
        case O_MAX_BATCH: ok = sp_cli_uint("demo", "--max-batch", optarg, 1, SP_SERVER_MAX_BATCH, &o.max_batch); break;
        case O_DELAY:
            ok = sp_cli_number("demo", "--max-queue-delay-ms", optarg, 0, SP_SERVER_MAX_QUEUE_DELAY_MS,
                               &o.max_queue_delay_ms);
            break;
        case O_PAD_TO: ok = sp_cli_uint("demo", "--pad-to", optarg, 2, SP_SERVER_MAX_LEN, &o.pad_to); break;
        case O_BUCKETS:
            o.buckets = optarg;
            ok = sp_cli_uint_list("demo", "--buckets", optarg, 2, SP_SERVER_MAX_LEN, true, o.bucket_list, SP_SERVER_MAX_BUCKETS,
                                  &o.n_buckets);
            break;
        case O_WORKERS: ok = sp_cli_uint("demo", "--workers", optarg, 1, SP_SERVER_MAX_WORKERS, &o.workers); break;
        case O_LAYERS: ok = sp_cli_uint("demo", "--layers", optarg, 1, SP_SERVER_MAX_LAYERS, &o.layers); break;
        case O_HIDDEN: ok = sp_cli_uint("demo", "--hidden", optarg, 1, SP_SERVER_MAX_HIDDEN, &o.hidden); break;
        case O_HEADS: ok = sp_cli_uint("demo", "--heads", optarg, 1, SP_SERVER_MAX_HIDDEN, &o.heads); break;
        case O_FFN: ok = sp_cli_uint("demo", "--ffn", optarg, 1, SP_SERVER_MAX_FFN, &o.ffn); break;
        case O_MAX_LEN: ok = sp_cli_uint("demo", "--max-len", optarg, 2, SP_SERVER_MAX_LEN, &o.max_len); break;
        case O_DEVICE:
            /* a build without the CUDA backend refuses "cuda" in sp_server_start, with the reason */
            ok = sp_cli_choice("demo", "--device", optarg, devices, 2, &k);
            o.device = devices[ok ? k : 0];
            break;
        case O_CUDA_DEVICE: ok = sp_cli_uint("demo", "--cuda-device", optarg, 0, 1024, &o.cuda_device); break;
        case O_CUDA_GRAPHS: o.cuda_graphs = 1; break;
        case O_SEED: ok = sp_cli_u64("demo", "--seed", optarg, 0, UINT32_MAX, &o.seed); break;
        case O_PRICE: ok = sp_cli_price("demo", optarg, &o.price_per_hour); break;
        case O_JSON: o.json = 1; break;
        case O_PERFETTO: o.perfetto = optarg; break;
        case O_HTML: o.html = optarg; break;
        case O_KEEP: o.keep_traces = optarg; break;
        case O_PROGRESS: o.progress = 1; break;
        case O_NO_PROGRESS: o.progress = 0; break;
        case 'h': demo_usage(stdout); return 0;
        default: return sp_cli_option_error("demo", c, argc, argv, longopts);
        }
        if (!ok)
            return 2;
    }
    if (optind < argc)
        return sp_cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    if (o.pad_to && o.buckets)
        return sp_cli_usage_error("demo", "--pad-to and --buckets exclude each other");
    if (o.cuda_graphs && strcmp(o.device, "cuda") != 0)
        return sp_cli_usage_error("demo", "--cuda-graphs needs --device cuda");
    if (o.hidden % o.heads != 0)
        return sp_cli_usage_error("demo", "--heads %u must divide --hidden %u", o.heads, o.hidden);
    sp_cli_log_to_stderr("demo"); /* the recorder's and the loader's warnings, e.g. a trace it could not write */
#if DEMO_LIVE
    return demo_live(&o);
#else
    return demo_fallback(&o);
#endif
}
