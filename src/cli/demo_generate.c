/* `servprof demo --generate`: the generation demo. Starts the text generation service (servprof serve
 * --generate: a small decoder with a KV cache behind a continuous-batching scheduler) in-process on an
 * ephemeral 127.0.0.1 port with a recorder, drives it with the streaming open-loop load generator
 * (servprof load --stream), stops it, merges the server's and the client's traces and prints the report
 * with its TTFT and TPOT tables and verdicts. Uses only the public API. docs/demo.md, "Generation". */
#include <errno.h>
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
#include "servprof/load.h"
#include "servprof/serve.h"
#include "servprof/servprof.h"

#if defined(SERVPROF_SERVE_ENABLED) && defined(SERVPROF_LOAD_ENABLED)
#define GEN_DEMO_LIVE 1
#include "servprof/trace.h"
#else
#define GEN_DEMO_LIVE 0
#endif

#define GEN_CMD "demo --generate"
/* Default offered load. At the default sizes (decoder 2 layers, width 128; prompts and
 * outputs of 32 tokens on average) one request is about 32 decode steps and a prefill; the CPU decoder
 * makes 2,000-3,700 tokens/s at 4-16 sequences per step on the shared 2-core VM (docs/BENCHMARKS.md,
 * "Generation throughput"), so 16 requests/s (about 512 output tokens/s) keeps the scheduler busy
 * without a standing queue (docs/demo.md, "Generation", measured runs). The context of 512 tokens
 * leaves room for the log-normal tails (a prompt and output over 256 tokens was refused once in 406
 * requests at 256). */
#define GEN_DEFAULT_RATE 16.0
#define GEN_DEFAULT_DURATION_S 5.0
#define GEN_MAX_DURATION_S 3600.0
#define GEN_DEFAULT_CONTEXT 512u
#define GEN_DEFAULT_PROMPT_MEAN 32.0
#define GEN_DEFAULT_OUTPUT_MEAN 32.0
#define GEN_DEFAULT_SIGMA 0.5
#define GEN_DEFAULT_SEED 1
#define GEN_CONNECTIONS 1024
/* The waiting queue holds about 4 s of offered load (at least the service's default), unless
 * --queue-capacity says otherwise */
#define GEN_MAX_QUEUE 100000

typedef struct gen_demo_opts {
    double duration_s, rate;
    sp_load_arrival arrival;
    double gamma_cv;
    double prompt_mean, prompt_sigma;   /* prompt tokens, log-normal */
    double output_mean, output_sigma;   /* max_tokens, log-normal */
    int chat;
    unsigned layers, hidden, heads, ffn, max_len;
    unsigned max_num_seqs, max_num_batched_tokens, prefill_bucket, kv_capacity_tokens;
    int chunked_prefill;
    unsigned queue_capacity;            /* 0: about 4 s of the offered load */
    uint64_t seed;
    double price_per_hour;
    int json;
    const char *perfetto, *html, *keep_traces;
    int progress;                       /* -1: when stderr is a terminal */
} gen_demo_opts;

static void gen_usage(FILE *f)
{
    fprintf(f,
            "usage: servprof demo --generate [OPTIONS]\n\n"
            "The generation demo: starts the text generation service (servprof serve --generate: a\n"
            "GPT-2-style decoder with a KV cache behind a continuous-batching scheduler, on the CPU) in this\n"
            "process on an ephemeral 127.0.0.1 port, recording every step and output token; drives it with\n"
            "the streaming open-loop load generator (servprof load --stream: Poisson arrivals, log-normal\n"
            "prompt and output lengths, every request generating its max_tokens); stops it; merges the\n"
            "server's trace with the client's (joined on X-Request-Id) and prints the report with its TTFT\n"
            "and TPOT tables and verdicts. See docs/demo.md (\"Generation\") and docs/generation.md.\n\n"
            "Load:\n"
            "  --duration S              seconds of load (default %.0f)\n"
            "  --rate R                  target requests per second (default %.0f)\n"
            "  --arrival A               poisson (default), constant, or gamma:CV\n"
            "  --prompt-mean N           mean prompt tokens, log-normal (default %.0f)\n"
            "  --prompt-sigma S          sd of ln(prompt tokens) (default %g)\n"
            "  --output-mean N           mean max_tokens, log-normal (default %.0f)\n"
            "  --output-sigma S          sd of ln(max_tokens) (default %g)\n"
            "  --chat                    chat completions (/v1/chat/completions) instead of completions\n"
            "Scheduler (the service's policy, written into the trace):\n"
            "  --max-num-seqs N          sequences running at once (default %u)\n"
            "  --max-num-batched-tokens N  tokens one step computes (default %u, raised to --max-len\n"
            "                            without --chunked-prefill, so that any prompt fits a step)\n"
            "  --chunked-prefill         prefill a prompt longer than a step's remaining budget in chunks\n"
            "  --prefill-bucket N        pad each prefill to a multiple of N tokens (default 0: none)\n"
            "  --kv-capacity-tokens N    KV cache tokens the running sequences may reserve\n"
            "                            (default: --max-num-seqs x --max-len)\n"
            "  --queue-capacity N        requests that may wait; when full, 503 (default: about 4 s of\n"
            "                            the offered load, at least %u)\n"
            "Model (weights generated from --seed; nothing is downloaded; CPU, OpenBLAS):\n"
            "  --layers N                decoder layers (default %u)\n"
            "  --hidden N                model width (default %u)\n"
            "  --heads N                 attention heads; must divide --hidden (default %u)\n"
            "  --ffn N                   feed-forward width (default %u)\n"
            "  --max-len N               context: prompt and output tokens together (default %u)\n"
            "  --seed N                  seeds the weights, the arrivals and the prompts (default %d)\n"
            "Report:\n"
            "  --price-per-hour P        instance price in dollars per hour (default: the report's $%.2f/h)\n"
            "  --json                    print the JSON report (servprof.report/1) instead of the text;\n"
            "                            the run description then goes to standard error\n"
            "  --perfetto FILE           also write a Chrome/Perfetto trace\n"
            "  --html FILE               also write the self-contained HTML report\n"
            "  --keep-traces DIR         keep DIR/server.sptrace and DIR/client.jsonl (re-analyse with\n"
            "                            `servprof analyze DIR/server.sptrace DIR/client.jsonl`);\n"
            "                            default: a temporary folder, removed at the end\n"
            "  --progress, --no-progress the progress line on standard error (default: on a terminal)\n"
            "  -h, --help                this text\n\n"
            "exit status: 0 success, 1 the run or the analysis failed, 2 usage error\n",
            GEN_DEFAULT_DURATION_S, GEN_DEFAULT_RATE, GEN_DEFAULT_PROMPT_MEAN, GEN_DEFAULT_SIGMA,
            GEN_DEFAULT_OUTPUT_MEAN, GEN_DEFAULT_SIGMA, SP_SERVER_DEFAULT_MAX_NUM_SEQS,
            SP_SERVER_DEFAULT_MAX_BATCHED_TOKENS, SP_SERVER_DEFAULT_QUEUE_CAPACITY, SP_SERVER_DEFAULT_LAYERS,
            SP_SERVER_DEFAULT_HIDDEN, SP_SERVER_DEFAULT_HEADS, SP_SERVER_DEFAULT_FFN, GEN_DEFAULT_CONTEXT,
            GEN_DEFAULT_SEED, SP_DEFAULT_PRICE_PER_HOUR);
}

#if GEN_DEMO_LIVE
static void gen_on_progress(void *user, const sp_load_progress *p)
{
    sp_demo_progress_line(p, ((const gen_demo_opts *)user)->duration_s, "streaming");
}

/* The service's options: the decoder, the scheduler, an ephemeral 127.0.0.1 port, room in the queue
 * for the offered load, no per-address cap for its one client. */
static void gen_server_options(const gen_demo_opts *o, sp_server_options *so)
{
    sp_server_options_init(so);
    so->host = "127.0.0.1";
    so->port = 0;
    so->generate = 1;
    so->seed = o->seed;
    so->layers = o->layers;
    so->hidden = o->hidden;
    so->heads = o->heads;
    so->ffn = o->ffn;
    so->max_len = o->max_len;
    so->max_num_seqs = o->max_num_seqs;
    so->max_num_batched_tokens = o->max_num_batched_tokens;
    so->chunked_prefill = o->chunked_prefill;
    so->prefill_bucket = o->prefill_bucket;
    so->kv_capacity_tokens = o->kv_capacity_tokens;
    if (o->queue_capacity) {
        so->queue_capacity = o->queue_capacity;
    } else {
        /* an open-loop client may have many requests waiting at saturation: room for about 4 s of
         * them, so the report shows the wait as queue rather than 503s (--queue-capacity for those) */
        double want = o->rate * 4;
        if (want > so->queue_capacity)
            so->queue_capacity = want > GEN_MAX_QUEUE ? GEN_MAX_QUEUE : (unsigned)want;
    }
    so->max_connections = GEN_CONNECTIONS + 64;
    so->max_connections_per_ip = 0;
}

/* The streaming load generator's configuration (the URL and the trace are set once known). */
static void gen_load_config(const gen_demo_opts *o, sp_load_config *lc)
{
    sp_load_config_init(lc);
    sp_load_config_stream(lc, o->chat != 0);
    lc->rate = o->rate;
    lc->duration_s = o->duration_s;
    lc->seed = o->seed;
    lc->arrival = o->arrival;
    lc->gamma_cv = o->gamma_cv;
    lc->length = SP_LOAD_LENGTH_LOGNORMAL;
    lc->length_mean = o->prompt_mean;
    lc->length_sigma = o->prompt_sigma;
    lc->output_length = SP_LOAD_LENGTH_LOGNORMAL;
    lc->output_mean = o->output_mean;
    lc->output_sigma = o->output_sigma;
    lc->ignore_eos = true; /* the output lengths are the distribution's, not the seeded model's EOS */
    lc->id_prefix = "demo";
    lc->connections = GEN_CONNECTIONS;
}

static void print_gen_header(FILE *hdr, const sp_server_options *so, const sp_load_config *lc, const sp_server *srv,
                             const char *dir, void *user)
{
    (void)lc;
    (void)srv;
    const gen_demo_opts *o = user;
    const char *arrival = o->arrival == SP_LOAD_ARRIVAL_POISSON ? "Poisson" :
                          o->arrival == SP_LOAD_ARRIVAL_CONSTANT ? "constant" : "gamma";
    fprintf(hdr, "servprof demo --generate: generation service (servprof serve --generate, in-process) driven by "
                 "servprof load --stream\n");
    fprintf(hdr, "  model    decoder %u layers, hidden %u, %u heads, ffn %u, context %u (weights from seed %" PRIu64
                 "), cpu\n",
            so->layers, so->hidden, so->heads, so->ffn, so->max_len, o->seed);
    fprintf(hdr, "  policy   max-num-seqs %u, max-num-batched-tokens %u, chunked prefill %s, prefill bucket %u, "
                 "KV capacity %u tokens, queue %u\n",
            so->max_num_seqs, so->max_num_batched_tokens, so->chunked_prefill ? "on" : "off", so->prefill_bucket,
            so->kv_capacity_tokens ? so->kv_capacity_tokens : so->max_num_seqs * so->max_len, so->queue_capacity);
    fprintf(hdr, "  load     %s arrivals at %.6g req/s for %.6g s, streamed %s; log-normal prompts (mean %.6g tokens, "
                 "sigma %.6g) and max_tokens (mean %.6g, sigma %.6g), ignore_eos\n",
            arrival, o->rate, o->duration_s, o->chat ? "chat completions" : "completions", o->prompt_mean,
            o->prompt_sigma, o->output_mean, o->output_sigma);
    fprintf(hdr, "  traces   %s%s\n\n", dir, o->keep_traces ? "" : " (temporary)");
    fflush(hdr);
}

/* "p50 X ms  p95 Y ms  p99 Z ms" of a load figure */
static void print_latency(FILE *f, const char *name, const sp_load_latency *l)
{
    fprintf(f, "  %-5s p50 %.3f ms  p95 %.3f ms  p99 %.3f ms  (n=%" PRIu64 ")\n", name, l->p50 / 1e6, l->p95 / 1e6,
            l->p99 / 1e6, l->count);
}

/* The limit that refuses a drawn request with 400, in words (its flag and value): the KV cache where
 * --kv-capacity-tokens is below what the context lets a request reserve (max_len - 1: any request the
 * context takes then fits it, so only the cache refuses), else the context. (A step budget below the
 * longest prompt without chunked prefill is refused at start-up.) */
static void gen_limit_words(const gen_demo_opts *o, char *buf, size_t len)
{
    if (o->kv_capacity_tokens && o->kv_capacity_tokens < o->max_len - 1)
        snprintf(buf, len, "a KV reservation (prompt + max_tokens - 1) over the cache (--kv-capacity-tokens %u)",
                 o->kv_capacity_tokens);
    else
        snprintf(buf, len, "a prompt and max_tokens over the context (--max-len %u)", o->max_len);
}

/* What happened: the load generator's counts and its own streaming figures (from the intended send
 * time, measured on the client: the report's `client` figures come from the same trace), then the
 * service's counters. */
static void print_gen_outcome(FILE *hdr, const sp_load_result *res, const sp_server_stats *ss, void *user)
{
    const gen_demo_opts *o = user;
    const sp_load_stream_result *s = &res->streamed;
    fprintf(hdr, "load: %" PRIu64 " sent, %" PRIu64 " ok, %" PRIu64 " 503, %" PRIu64 " other status, %" PRIu64
                 " failed stream, %" PRIu64 " no response; achieved %.1f ok/s of %.6g, %" PRIu64
                 " output tokens (%.0f tokens/s)\n",
            res->sent, res->ok, res->status_503, res->status_other, res->stream_errors,
            res->connect_errors + res->timeouts + res->io_errors + res->protocol_errors + res->unsent,
            res->achieved_rate, o->rate, s->output_tokens, s->output_tokens_per_s);
    fprintf(hdr, "client (servprof load's own figures, from the intended send time):\n");
    print_latency(hdr, "TTFT", &s->ttft);
    print_latency(hdr, "TPOT", &s->tpot);
    print_latency(hdr, "ITL", &s->itl);
    print_latency(hdr, "e2e", &s->e2e); /* over successes, as the others (load.md); not the corrected
                                           latency of every response, whose fast 503s pulled it down */
    fprintf(hdr, "service: %" PRIu64 " steps, %" PRIu64 " prompt tokens prefilled, %" PRIu64 " output tokens, %" PRIu64
                 " rejected (queue full)\n\n",
            ss->steps, ss->prompt_tokens, ss->generated_tokens, ss->rejected_full);
    fflush(hdr);
    /* the demo sends only well-formed requests: what the service refuses (400) is a drawn prompt and
     * max_tokens that cannot run (serve.md, "Scheduler"): over the context or over the KV cache (the
     * reservation, prompt + max_tokens - 1); the warning names the one this run's settings make binding */
    if (res->status_other) {
        char limit[160];
        gen_limit_words(o, limit, sizeof limit);
        fprintf(stderr, "servprof %s: warning: %" PRIu64 " of %" PRIu64 " requests got an error status, most "
                        "likely 400 for %s: raise it, or lower --prompt-mean / --output-mean or their sigmas\n",
                GEN_CMD, res->status_other, res->sent, limit);
    }
}

static int gen_demo_live(const gen_demo_opts *o)
{
    sp_server_options so;
    gen_server_options(o, &so);
    sp_load_config lc;
    gen_load_config(o, &lc);
    sp_demo_report_opts ro = {o->price_per_hour, o->json, o->perfetto, o->html, o->keep_traces};
    sp_demo_live d = {GEN_CMD, &so, &lc, o->chat ? "/v1/chat/completions" : "/v1/completions", o->progress,
                      gen_on_progress, &ro, o->json ? stderr : stdout, print_gen_header, print_gen_outcome, (void *)o};
    return sp_demo_run_live(&d);
}
#endif

int sp_cmd_demo_generate(int argc, char **argv)
{
    gen_demo_opts o = {
        .duration_s = GEN_DEFAULT_DURATION_S, .rate = GEN_DEFAULT_RATE, .arrival = SP_LOAD_ARRIVAL_POISSON,
        .gamma_cv = 1, .prompt_mean = GEN_DEFAULT_PROMPT_MEAN, .prompt_sigma = GEN_DEFAULT_SIGMA,
        .output_mean = GEN_DEFAULT_OUTPUT_MEAN, .output_sigma = GEN_DEFAULT_SIGMA, .chat = 0,
        .layers = SP_SERVER_DEFAULT_LAYERS, .hidden = SP_SERVER_DEFAULT_HIDDEN, .heads = SP_SERVER_DEFAULT_HEADS,
        .ffn = SP_SERVER_DEFAULT_FFN, .max_len = GEN_DEFAULT_CONTEXT, .max_num_seqs = SP_SERVER_DEFAULT_MAX_NUM_SEQS,
        .max_num_batched_tokens = SP_SERVER_DEFAULT_MAX_BATCHED_TOKENS, .prefill_bucket = 0,
        .kv_capacity_tokens = 0, .chunked_prefill = 0, .queue_capacity = 0, .seed = GEN_DEFAULT_SEED,
        .price_per_hour = 0, .json = 0, .perfetto = NULL, .html = NULL, .keep_traces = NULL, .progress = -1,
    };
    enum {
        O_GENERATE = 256, O_DURATION, O_RATE, O_ARRIVAL, O_PMEAN, O_PSIGMA, O_OMEAN, O_OSIGMA, O_CHAT, O_LAYERS,
        O_HIDDEN, O_HEADS, O_FFN, O_MAX_LEN, O_SEQS, O_BATCHED, O_CHUNKED, O_BUCKET, O_KV, O_QUEUE, O_SEED,
        O_PRICE, O_JSON, O_PERFETTO, O_HTML, O_KEEP, O_PROGRESS, O_NO_PROGRESS
    };
    static const struct option longopts[] = {
        {"generate", no_argument, 0, O_GENERATE}, {"duration", required_argument, 0, O_DURATION},
        {"rate", required_argument, 0, O_RATE}, {"arrival", required_argument, 0, O_ARRIVAL},
        {"prompt-mean", required_argument, 0, O_PMEAN}, {"prompt-sigma", required_argument, 0, O_PSIGMA},
        {"output-mean", required_argument, 0, O_OMEAN}, {"output-sigma", required_argument, 0, O_OSIGMA},
        {"chat", no_argument, 0, O_CHAT}, {"layers", required_argument, 0, O_LAYERS},
        {"hidden", required_argument, 0, O_HIDDEN}, {"heads", required_argument, 0, O_HEADS},
        {"ffn", required_argument, 0, O_FFN}, {"max-len", required_argument, 0, O_MAX_LEN},
        {"max-num-seqs", required_argument, 0, O_SEQS}, {"max-num-batched-tokens", required_argument, 0, O_BATCHED},
        {"chunked-prefill", no_argument, 0, O_CHUNKED}, {"prefill-bucket", required_argument, 0, O_BUCKET},
        {"kv-capacity-tokens", required_argument, 0, O_KV}, {"queue-capacity", required_argument, 0, O_QUEUE},
        {"seed", required_argument, 0, O_SEED}, {"price-per-hour", required_argument, 0, O_PRICE},
        {"json", no_argument, 0, O_JSON}, {"perfetto", required_argument, 0, O_PERFETTO},
        {"html", required_argument, 0, O_HTML}, {"keep-traces", required_argument, 0, O_KEEP},
        {"progress", no_argument, 0, O_PROGRESS}, {"no-progress", no_argument, 0, O_NO_PROGRESS},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    sp_cli_getopt_begin();
    int c;
    const char *replay = NULL;
    bool batched_set = false;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_GENERATE: break;
        case O_DURATION: ok = sp_cli_number(GEN_CMD, "--duration", optarg, 0.1, GEN_MAX_DURATION_S, &o.duration_s); break;
        case O_RATE: ok = sp_cli_number(GEN_CMD, "--rate", optarg, 0.1, 1e6, &o.rate); break;
        case O_ARRIVAL: ok = sp_cli_arrival(GEN_CMD, "--arrival", optarg, false, &o.arrival, &o.gamma_cv, &replay); break;
        case O_PMEAN: ok = sp_cli_number(GEN_CMD, "--prompt-mean", optarg, 1, SP_SERVER_MAX_LEN, &o.prompt_mean); break;
        case O_PSIGMA: ok = sp_cli_number(GEN_CMD, "--prompt-sigma", optarg, 0, SP_LOAD_MAX_LENGTH_SIGMA, &o.prompt_sigma); break;
        case O_OMEAN: ok = sp_cli_number(GEN_CMD, "--output-mean", optarg, 1, SP_SERVER_MAX_LEN, &o.output_mean); break;
        case O_OSIGMA: ok = sp_cli_number(GEN_CMD, "--output-sigma", optarg, 0, SP_LOAD_MAX_LENGTH_SIGMA, &o.output_sigma); break;
        case O_CHAT: o.chat = 1; break;
        case O_LAYERS: ok = sp_cli_uint(GEN_CMD, "--layers", optarg, 1, SP_SERVER_MAX_LAYERS, &o.layers); break;
        case O_HIDDEN: ok = sp_cli_uint(GEN_CMD, "--hidden", optarg, 1, SP_SERVER_MAX_HIDDEN, &o.hidden); break;
        case O_HEADS: ok = sp_cli_uint(GEN_CMD, "--heads", optarg, 1, SP_SERVER_MAX_HIDDEN, &o.heads); break;
        case O_FFN: ok = sp_cli_uint(GEN_CMD, "--ffn", optarg, 1, SP_SERVER_MAX_FFN, &o.ffn); break;
        case O_MAX_LEN: ok = sp_cli_uint(GEN_CMD, "--max-len", optarg, 2, SP_SERVER_MAX_LEN, &o.max_len); break;
        case O_SEQS: ok = sp_cli_uint(GEN_CMD, "--max-num-seqs", optarg, 1, SP_SERVER_MAX_NUM_SEQS, &o.max_num_seqs); break;
        case O_BATCHED:
            ok = sp_cli_uint(GEN_CMD, "--max-num-batched-tokens", optarg, 1, SP_SERVER_MAX_BATCHED_TOKENS,
                             &o.max_num_batched_tokens);
            batched_set = true;
            break;
        case O_CHUNKED: o.chunked_prefill = 1; break;
        case O_BUCKET: ok = sp_cli_uint(GEN_CMD, "--prefill-bucket", optarg, 0, SP_SERVER_MAX_LEN, &o.prefill_bucket); break;
        case O_KV: ok = sp_cli_uint(GEN_CMD, "--kv-capacity-tokens", optarg, 1, UINT32_MAX, &o.kv_capacity_tokens); break;
        case O_QUEUE:
            ok = sp_cli_uint(GEN_CMD, "--queue-capacity", optarg, 1, SP_SERVER_MAX_QUEUE_CAPACITY, &o.queue_capacity);
            break;
        case O_SEED: ok = sp_cli_u64(GEN_CMD, "--seed", optarg, 0, UINT32_MAX, &o.seed); break;
        case O_PRICE: ok = sp_cli_price(GEN_CMD, optarg, &o.price_per_hour); break;
        case O_JSON: o.json = 1; break;
        case O_PERFETTO: o.perfetto = optarg; break;
        case O_HTML: o.html = optarg; break;
        case O_KEEP: o.keep_traces = optarg; break;
        case O_PROGRESS: o.progress = 1; break;
        case O_NO_PROGRESS: o.progress = 0; break;
        case 'h': gen_usage(stdout); return 0;
        default: return sp_cli_option_error(GEN_CMD, c, argc, argv, longopts);
        }
        if (!ok)
            return 2;
    }
    if (optind < argc)
        return sp_cli_usage_error(GEN_CMD, "unexpected argument '%s'", argv[optind]);
    if (o.hidden % o.heads != 0)
        return sp_cli_usage_error(GEN_CMD, "--heads %u must divide --hidden %u", o.heads, o.hidden);
    /* without chunked prefill one step must hold the longest prompt: a budget the user did not set
     * follows the context */
    if (!batched_set && !o.chunked_prefill && o.max_num_batched_tokens < o.max_len)
        o.max_num_batched_tokens = o.max_len;
    if (o.prompt_mean + o.output_mean > o.max_len)
        return sp_cli_usage_error(GEN_CMD, "--prompt-mean %g and --output-mean %g exceed the context --max-len %u: "
                                  "most requests would be refused", o.prompt_mean, o.output_mean, o.max_len);
    /* a request reserves prompt + max_tokens - 1 KV tokens (serve.md, "Scheduler"): means that do not
     * fit the cache refuse most requests as surely as the context does */
    if (o.kv_capacity_tokens && o.prompt_mean + o.output_mean - 1 > o.kv_capacity_tokens)
        return sp_cli_usage_error(GEN_CMD, "--prompt-mean %g and --output-mean %g need a KV reservation of %g tokens "
                                  "(prompt + max_tokens - 1), over --kv-capacity-tokens %u: most requests would be "
                                  "refused", o.prompt_mean, o.output_mean, o.prompt_mean + o.output_mean - 1,
                                  o.kv_capacity_tokens);
    sp_cli_log_to_stderr("demo");
#if GEN_DEMO_LIVE
    return gen_demo_live(&o);
#else
    fprintf(stderr, "servprof %s: this build has no reference service or load generator (libmicrohttpd, "
                    "jansson or OpenBLAS was missing at configure time; see docs/serve.md), and the generation "
                    "demo has no simulated fallback\n", GEN_CMD);
    return 1;
#endif
}
