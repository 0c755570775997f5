/* `servprof serve`: runs the reference inference service until SIGINT/SIGTERM (or --duration),
 * recording into --trace. Prints "listening on HOST:PORT" on stdout once the socket is bound, so a
 * driver started with --port 0 can find the port. */
#ifdef SERVPROF_SERVE_ENABLED
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_opts.h"
#include "commands.h"
#include "servprof/serve.h"
#include "servprof/trace.h"

static void serve_usage(FILE *f)
{
    sp_server_options d; /* the defaults quoted are the library's */
    sp_server_options_init(&d);
    fprintf(f,
            "usage: servprof serve [OPTIONS]\n"
            "Reference inference service: POST /v1/embeddings (OpenAI request/response shape), GET /healthz,\n"
            "GET /metrics (Prometheus text). WordPiece tokenizer, dynamic batcher, BERT-style encoder on the\n"
            "CPU (OpenBLAS), every stage recorded with libservprof. With --generate: POST /v1/completions\n"
            "and /v1/chat/completions (streamed as server-sent events with \"stream\": true) on a GPT-2-style\n"
            "decoder with a KV cache and a continuous-batching scheduler, every step and output token\n"
            "recorded. Stops cleanly on SIGINT/SIGTERM. See docs/serve.md.\n"
            "\n"
            "Network:\n"
            "  --host ADDR               numeric IPv4/IPv6 address to bind (default %s)\n"
            "  --port N                  TCP port; 0 = ephemeral (default 8080). The bound port is printed\n"
            "                            as \"listening on HOST:PORT\" on stdout\n"
            "  --http-threads N          HTTP threads (default %u)\n"
            "  --max-connections N       open connections; one more gets 503 and is closed (default %u)\n"
            "  --max-connections-per-ip N  open connections from one client address; 0 = no cap\n"
            "                            (default %u)\n"
            "  --header-timeout S        a request's line and headers must arrive within S seconds of its\n"
            "                            start, however slowly they trickle; also ends idle keep-alive\n"
            "                            connections; 0 = none (default %g)\n"
            "  --body-timeout S          a request's body must arrive within S seconds of its headers;\n"
            "                            0 = none (default %g)\n"
            "  --max-header-bytes N      request line + headers; more gets 431 (default %zu)\n"
            "  --max-body BYTES          request body limit; larger gets 413 (default %zu)\n"
            "  --max-inputs N            strings per request's \"input\"; more gets 400 (default %u)\n"
            "Model:\n"
            "  --tokenizer FILE          Hugging Face tokenizer.json, WordPiece (default: the shipped\n"
            "                            tokenizer: $SERVPROF_DATA_DIR/tokenizer.json, else\n"
            "                            share/servprof/tokenizer.json beside the binary)\n"
            "  --weights FILE            safetensors with BertModel tensor names, F32 (default: weights\n"
            "                            generated from --seed; the file fixes layers/hidden/ffn/max-len)\n"
            "  --seed N                  seed of the generated weights (default %llu)\n"
            "  --layers N                encoder layers (default %u)\n"
            "  --hidden N                model width (default %u)\n"
            "  --heads N                 attention heads; must divide hidden (default %u)\n"
            "  --ffn N                   feed-forward width (default %u)\n"
            "  --max-len N               tokens per input incl. [CLS]/[SEP]; longer inputs are cut (default %u).\n"
            "                            With --generate: the context, prompt and output tokens together\n"
            "  --model-name NAME         \"model\" in responses (default servprof-encoder, or servprof-decoder\n"
            "                            with --generate)\n"
            "  --save-weights FILE       write the generated weights as safetensors and exit\n"
            "Batching:\n"
            "  --max-batch N             inputs per batch (default %u)\n"
            "  --max-queue-delay-ms D    longest the oldest waiting request waits for company; fractions\n"
            "                            allowed (default %g)\n"
            "  --queue-capacity N        requests that may wait; when full, 503 with Retry-After (default %u)\n"
            "  --pad-to N                static shape: every batch padded to N tokens (inputs cut to N)\n"
            "                            (default: pad each batch to its longest member)\n"
            "  --buckets L1,L2,...       length buckets: batch only requests of one bucket, padded to its bound\n"
            "  --workers N               batch worker threads, each with one OpenBLAS thread (default %u)\n"
            "Generation (--generate; the batching options above are the encoder's, except --queue-capacity):\n"
            "  --generate                serve completions on the decoder (GPT-2 layout; --weights takes GPT2Model\n"
            "                            tensor names) instead of embeddings, on --device cpu or cuda\n"
            "  --max-num-seqs N          sequences running at once, each with a KV cache slot (default %u)\n"
            "  --max-num-batched-tokens N  tokens one step computes, prefill padding included; at least\n"
            "                            --max-num-seqs, and the longest prompt without --chunked-prefill\n"
            "                            (default %u)\n"
            "  --chunked-prefill         split a prompt longer than a step's remaining budget across steps\n"
            "  --prefill-bucket N        pad each prefill (chunk) to a multiple of N tokens, computing the\n"
            "                            padding (default 0: none)\n"
            "  --kv-capacity-tokens N    KV cache tokens running sequences may reserve; a request reserves\n"
            "                            prompt + max_tokens - 1 when admitted and waits while that does not\n"
            "                            fit (default: --max-num-seqs x --max-len)\n"
            "Device:\n"
            "  --device cpu|cuda         run the encoder (or --generate's decoder and its KV cache) on the CPU\n"
            "                            (OpenBLAS, default) or a CUDA GPU (cuBLAS\n"
            "                            and kernels; kernels and copies recorded by CUPTI). Builds without\n"
            "                            the CUDA toolkit answer \"this build has no CUDA backend\". The\n"
            "                            backend is a module, libservprof-cuda.so, opened only then: beside\n"
            "                            servprof, in ../lib from it, or at $SERVPROF_CUDA_MODULE\n"
            "  --cuda-device N           GPU index (default %u)\n"
            "  --cuda-graphs             capture each batch shape (batch x padded length) in a CUDA graph on\n"
            "                            first use and replay it (use with --pad-to or --buckets: few shapes);\n"
            "                            with --generate: each decode step size (number of sequences), prefill\n"
            "                            steps stay eager\n"
            "  --cuda-graph-cap N        graphs kept per worker, least recently used evicted (default %u)\n"
            "  --no-cupti                with --trace: record batches and stages only, no device activity\n"
            "  --cupti-lean              with --trace: CUPTI activity records without API callbacks; kernels\n"
            "                            and copies tied to batches by window (default with one worker)\n"
            "  --cupti-launches          with --trace: also CUPTI launch-call callbacks; launches recorded,\n"
            "                            work tied by correlation id (default with several workers)\n"
            "Recording and run:\n"
            "  --trace FILE              record requests, stages, batches and operations to FILE (native\n"
            "                            trace; `servprof analyze FILE`)\n"
            "  --price-per-hour P        instance price in dollars per hour (> 0) written into the trace\n"
            "                            (and /metrics); default: none (the report uses its own)\n"
            "  --no-metrics              no live metrics: GET /metrics answers 404, and without --trace\n"
            "                            nothing is recorded (by default the recorder keeps live metrics\n"
            "                            for GET /metrics, writing to /dev/null without --trace; see\n"
            "                            docs/metrics.md)\n"
            "  --metrics-settle-ms N     count a request in /metrics N ms after its last record, for device\n"
            "                            work that comes late (CUPTI's buffers); default 0\n"
            "  --duration S              stop after S seconds (fractions allowed; default 0: run until signalled)\n"
            "  -h, --help                this text\n",
            d.host, d.http_threads, d.max_connections, d.max_connections_per_ip, d.header_timeout_s,
            d.body_timeout_s, d.max_header_bytes, d.max_body, d.max_inputs, (unsigned long long)d.seed, d.layers,
            d.hidden, d.heads, d.ffn, d.max_len, d.max_batch, d.max_queue_delay_ms, d.queue_capacity, d.workers,
            d.max_num_seqs, d.max_num_batched_tokens, d.cuda_device, d.cuda_graph_cap);
}

/* What `servprof serve` was asked for. */
typedef struct serve_args {
    sp_server_options o;
    const char *trace_path, *save_weights;
    double price, duration;
    int no_metrics;
    unsigned settle_ms;
    size_t n_buckets;
    const char *extra; /* the first argument after the options, which is one too many */
    char encoder_only[48]; /* the last option given that only the encoder takes ("" if none) */
    char generate_only[48]; /* the last option given that only --generate takes */
} serve_args;

/* Reads the options into `a` (its server options already hold the defaults). Returns -1 to go on,
 * else the exit status (0 after --help; 2 for a usage error, printed). */
static int parse_serve_options(int argc, char **argv, serve_args *a)
{
    unsigned u;
    enum {
        O_HOST = 256, O_PORT, O_HTTP_THREADS, O_MAX_CONN, O_MAX_BODY, O_MAX_INPUTS, O_TOKENIZER, O_WEIGHTS, O_SEED,
        O_LAYERS, O_HIDDEN, O_HEADS, O_FFN, O_MAX_LEN, O_MODEL_NAME, O_SAVE_WEIGHTS, O_MAX_BATCH, O_DELAY, O_QCAP,
        O_PAD_TO, O_BUCKETS, O_WORKERS, O_TRACE, O_PRICE, O_DURATION, O_HELP, O_DEVICE, O_CUDA_DEVICE,
        O_CUDA_GRAPHS, O_CUDA_GRAPH_CAP, O_NO_CUPTI, O_CUPTI_LEAN, O_CUPTI_LAUNCHES, O_MAX_CONN_IP,
        O_HEADER_TIMEOUT, O_BODY_TIMEOUT, O_MAX_HEADER, O_NO_METRICS, O_SETTLE, O_GENERATE, O_MAX_NUM_SEQS,
        O_MAX_BATCHED_TOKENS, O_CHUNKED_PREFILL, O_PREFILL_BUCKET, O_KV_CAPACITY
    };
    static const struct option longopts[] = {
        {"host", required_argument, 0, O_HOST}, {"port", required_argument, 0, O_PORT},
        {"http-threads", required_argument, 0, O_HTTP_THREADS}, {"max-connections", required_argument, 0, O_MAX_CONN},
        {"max-body", required_argument, 0, O_MAX_BODY}, {"max-inputs", required_argument, 0, O_MAX_INPUTS},
        {"tokenizer", required_argument, 0, O_TOKENIZER}, {"weights", required_argument, 0, O_WEIGHTS},
        {"seed", required_argument, 0, O_SEED}, {"layers", required_argument, 0, O_LAYERS},
        {"hidden", required_argument, 0, O_HIDDEN}, {"heads", required_argument, 0, O_HEADS},
        {"ffn", required_argument, 0, O_FFN}, {"max-len", required_argument, 0, O_MAX_LEN},
        {"model-name", required_argument, 0, O_MODEL_NAME}, {"save-weights", required_argument, 0, O_SAVE_WEIGHTS},
        {"max-batch", required_argument, 0, O_MAX_BATCH}, {"max-queue-delay-ms", required_argument, 0, O_DELAY},
        {"queue-capacity", required_argument, 0, O_QCAP}, {"pad-to", required_argument, 0, O_PAD_TO},
        {"buckets", required_argument, 0, O_BUCKETS}, {"workers", required_argument, 0, O_WORKERS},
        {"trace", required_argument, 0, O_TRACE}, {"price-per-hour", required_argument, 0, O_PRICE},
        {"duration", required_argument, 0, O_DURATION}, {"help", no_argument, 0, O_HELP},
        {"device", required_argument, 0, O_DEVICE}, {"cuda-device", required_argument, 0, O_CUDA_DEVICE},
        {"cuda-graphs", no_argument, 0, O_CUDA_GRAPHS}, {"cuda-graph-cap", required_argument, 0, O_CUDA_GRAPH_CAP},
        {"no-cupti", no_argument, 0, O_NO_CUPTI}, {"cupti-lean", no_argument, 0, O_CUPTI_LEAN},
        {"cupti-launches", no_argument, 0, O_CUPTI_LAUNCHES},
        {"max-connections-per-ip", required_argument, 0, O_MAX_CONN_IP},
        {"header-timeout", required_argument, 0, O_HEADER_TIMEOUT},
        {"body-timeout", required_argument, 0, O_BODY_TIMEOUT},
        {"max-header-bytes", required_argument, 0, O_MAX_HEADER}, {"no-metrics", no_argument, 0, O_NO_METRICS},
        {"metrics-settle-ms", required_argument, 0, O_SETTLE}, {"generate", no_argument, 0, O_GENERATE},
        {"max-num-seqs", required_argument, 0, O_MAX_NUM_SEQS},
        {"max-num-batched-tokens", required_argument, 0, O_MAX_BATCHED_TOKENS},
        {"chunked-prefill", no_argument, 0, O_CHUNKED_PREFILL},
        {"prefill-bucket", required_argument, 0, O_PREFILL_BUCKET},
        {"kv-capacity-tokens", required_argument, 0, O_KV_CAPACITY}, {0, 0, 0, 0}};
    static const char *const devices[] = {"cpu", "cuda"};
    size_t k;
    sp_cli_getopt_begin();
    int c, li;
    while ((li = -1, c = getopt_long(argc, argv, ":h", longopts, &li)) != -1) {
        char name[48];
        sp_cli_long_name(longopts, li, name, sizeof name);
        /* which side an option belongs to, for check_serve_options */
        switch (c) {
        case O_MAX_BATCH: case O_DELAY: case O_PAD_TO: case O_BUCKETS: case O_WORKERS: case O_MAX_INPUTS:
            snprintf(a->encoder_only, sizeof a->encoder_only, "%s", name);
            break;
        case O_MAX_NUM_SEQS: case O_MAX_BATCHED_TOKENS: case O_CHUNKED_PREFILL: case O_PREFILL_BUCKET: case O_KV_CAPACITY:
            snprintf(a->generate_only, sizeof a->generate_only, "%s", name);
            break;
        default: break;
        }
        switch (c) {
        case O_HOST: a->o.host = optarg; break;
        case O_PORT: if (!sp_cli_uint("serve", name, optarg, 0, 65535, &a->o.port)) return 2; break;
        case O_HTTP_THREADS: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_HTTP_THREADS, &a->o.http_threads)) return 2; break;
        case O_MAX_CONN: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_CONNECTIONS, &a->o.max_connections)) return 2; break;
        case O_MAX_CONN_IP: if (!sp_cli_uint("serve", name, optarg, 0, SP_SERVER_MAX_CONNECTIONS, &a->o.max_connections_per_ip)) return 2; break;
        case O_HEADER_TIMEOUT: if (!sp_cli_number("serve", name, optarg, 0, SP_SERVER_MAX_TIMEOUT_S, &a->o.header_timeout_s)) return 2; break;
        case O_BODY_TIMEOUT: if (!sp_cli_number("serve", name, optarg, 0, SP_SERVER_MAX_TIMEOUT_S, &a->o.body_timeout_s)) return 2; break;
        case O_GENERATE: a->o.generate = 1; break;
        case O_MAX_NUM_SEQS: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_NUM_SEQS, &a->o.max_num_seqs)) return 2; break;
        case O_MAX_BATCHED_TOKENS: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_BATCHED_TOKENS, &a->o.max_num_batched_tokens)) return 2; break;
        case O_CHUNKED_PREFILL: a->o.chunked_prefill = 1; break;
        case O_PREFILL_BUCKET: if (!sp_cli_uint("serve", name, optarg, 0, SP_SERVER_MAX_BATCHED_TOKENS, &a->o.prefill_bucket)) return 2; break;
        case O_KV_CAPACITY: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_NUM_SEQS * SP_SERVER_MAX_LEN, &a->o.kv_capacity_tokens)) return 2; break;
        case O_MAX_HEADER: if (!sp_cli_uint("serve", name, optarg, SP_SERVER_MIN_HEADER_BYTES, SP_SERVER_MAX_HEADER_BYTES, &u)) return 2; a->o.max_header_bytes = u; break;
        case O_MAX_BODY: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_BODY, &u)) return 2; a->o.max_body = u; break;
        case O_MAX_INPUTS: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_INPUTS, &a->o.max_inputs)) return 2; break;
        case O_TOKENIZER: a->o.tokenizer_path = optarg; break;
        case O_WEIGHTS: a->o.weights_path = optarg; break;
        case O_SEED: if (!sp_cli_uint("serve", name, optarg, 0, UINT32_MAX, &u)) return 2; a->o.seed = u; break;
        case O_LAYERS: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_LAYERS, &a->o.layers)) return 2; break;
        case O_HIDDEN: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_HIDDEN, &a->o.hidden)) return 2; break;
        case O_HEADS: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_HIDDEN, &a->o.heads)) return 2; break;
        case O_FFN: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_FFN, &a->o.ffn)) return 2; break;
        case O_MAX_LEN: if (!sp_cli_uint("serve", name, optarg, 2, SP_SERVER_MAX_LEN, &a->o.max_len)) return 2; break;
        case O_MODEL_NAME: a->o.model_name = optarg; break;
        case O_SAVE_WEIGHTS: a->save_weights = optarg; break;
        case O_MAX_BATCH: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_BATCH, &a->o.max_batch)) return 2; break;
        case O_DELAY: if (!sp_cli_number("serve", name, optarg, 0, SP_SERVER_MAX_QUEUE_DELAY_MS, &a->o.max_queue_delay_ms)) return 2; break;
        case O_QCAP: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_QUEUE_CAPACITY, &a->o.queue_capacity)) return 2; break;
        case O_PAD_TO: if (!sp_cli_uint("serve", name, optarg, 2, SP_SERVER_MAX_LEN, &a->o.pad_to)) return 2; break;
        case O_BUCKETS:
            memset(a->o.buckets, 0, sizeof a->o.buckets);
            if (!sp_cli_uint_list("serve", name, optarg, 1, SP_SERVER_MAX_LEN, true, a->o.buckets, SP_SERVER_MAX_BUCKETS, &a->n_buckets))
                return 2;
            break;
        case O_WORKERS: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_WORKERS, &a->o.workers)) return 2; break;
        case O_TRACE: a->trace_path = optarg; break;
        case O_NO_METRICS: a->no_metrics = 1; break;
        case O_SETTLE: if (!sp_cli_uint("serve", name, optarg, 0, 600000, &a->settle_ms)) return 2; break;
        case O_PRICE: if (!sp_cli_price("serve", optarg, &a->price)) return 2; break; /* > 0, as analyze's */
        case O_DURATION: if (!sp_cli_number("serve", name, optarg, 0, 1e9, &a->duration)) return 2; break;
        case 'h':
        case O_HELP: serve_usage(stdout); return 0;
        case O_DEVICE:
            if (!sp_cli_choice("serve", name, optarg, devices, 2, &k))
                return 2;
            a->o.device = devices[k];
            break;
        case O_CUDA_DEVICE: if (!sp_cli_uint("serve", name, optarg, 0, 1024, &a->o.cuda_device)) return 2; break;
        case O_CUDA_GRAPHS: a->o.cuda_graphs = 1; break;
        case O_CUDA_GRAPH_CAP: if (!sp_cli_uint("serve", name, optarg, 1, SP_SERVER_MAX_CUDA_GRAPH_CAP, &a->o.cuda_graph_cap)) return 2; break;
        case O_NO_CUPTI:
        case O_CUPTI_LEAN:
        case O_CUPTI_LAUNCHES: {
            int m = c == O_NO_CUPTI ? SP_SERVER_CUPTI_OFF : c == O_CUPTI_LEAN ? SP_SERVER_CUPTI_LEAN
                                                                                : SP_SERVER_CUPTI_LAUNCHES;
            if (a->o.cupti_mode != SP_SERVER_CUPTI_AUTO && a->o.cupti_mode != m)
                return sp_cli_usage_error("serve", "--no-cupti, --cupti-lean and --cupti-launches exclude each other");
            a->o.cupti_mode = m;
            break;
        }
        default: return sp_cli_option_error("serve", c, argc, argv, longopts);
        }
    }
    a->extra = optind < argc ? argv[optind] : NULL;
    return -1;
}

/* The checks of the options taken together. Returns 0, or 2 after printing the usage error. */
static int check_serve_options(const serve_args *a)
{
    const sp_server_options *o = &a->o;
    if (o->cupti_mode != SP_SERVER_CUPTI_AUTO && strcmp(o->device, "cuda") != 0)
        return sp_cli_usage_error("serve", "--no-cupti, --cupti-lean and --cupti-launches need --device cuda");
    if (o->cuda_graphs && strcmp(o->device, "cuda") != 0)
        return sp_cli_usage_error("serve", "--cuda-graphs needs --device cuda");
    if (a->extra)
        return sp_cli_usage_error("serve", "unexpected argument '%s'", a->extra);
    if (o->generate && a->encoder_only[0])
        return sp_cli_usage_error("serve", "%s is the encoder's batching option, not used with --generate (see "
                                           "--max-num-seqs, --max-num-batched-tokens, --prefill-bucket)",
                                  a->encoder_only);
    if (!o->generate && a->generate_only[0])
        return sp_cli_usage_error("serve", "%s needs --generate", a->generate_only);
    if (o->generate && o->max_num_batched_tokens < o->max_num_seqs)
        return sp_cli_usage_error("serve", "--max-num-batched-tokens %u is less than --max-num-seqs %u: every running "
                                           "sequence's decode token must fit one step",
                                  o->max_num_batched_tokens, o->max_num_seqs);
    if (o->generate && o->prefill_bucket > o->max_num_batched_tokens)
        return sp_cli_usage_error("serve", "--prefill-bucket %u exceeds --max-num-batched-tokens %u", o->prefill_bucket,
                                  o->max_num_batched_tokens);
    unsigned char addr[16];
    if (inet_pton(AF_INET, o->host, addr) != 1 && inet_pton(AF_INET6, o->host, addr) != 1) {
        fprintf(stderr, "servprof serve: --host: expected a numeric IPv4 or IPv6 address, got '%s'\n", o->host);
        return 2;
    }
    if (o->pad_to && a->n_buckets)
        return sp_cli_usage_error("serve", "--pad-to and --buckets exclude each other");
    /* without --weights the options fix the model's shape; a weights file fixes it (and says so) */
    if (!o->weights_path && o->hidden % o->heads != 0)
        return sp_cli_usage_error("serve", "--heads %u must divide --hidden %u", o->heads, o->hidden);
    if (!o->weights_path && o->pad_to > o->max_len)
        return sp_cli_usage_error("serve", "--pad-to %u exceeds --max-len %u", o->pad_to, o->max_len);
    if (!o->weights_path && a->n_buckets && o->buckets[a->n_buckets - 1] > o->max_len)
        return sp_cli_usage_error("serve", "--buckets %u exceeds --max-len %u", o->buckets[a->n_buckets - 1],
                                  o->max_len);
    return 0;
}

/* --save-weights: writes the generated weights and returns the exit status. */
static int save_weights(const sp_server_options *o, const char *path)
{
    char err[1024] = "";
    sp_status st = sp_server_save_weights(o, path, err, sizeof(err));
    if (st != SP_OK) {
        fprintf(stderr, "servprof serve: %s\n", err[0] ? err : sp_status_str(st));
        return 1;
    }
    fprintf(stderr, "servprof serve: wrote the generated weights to %s\n", path);
    return 0;
}

/* Waits for SIGINT or SIGTERM (blocked, in `sigs`), or until `duration` seconds have passed when
 * it is positive. */
static void wait_for_stop(const sigset_t *sigs, double duration)
{
    uint64_t end_ns = duration > 0 ? sp_now_ns() + (uint64_t)(duration * 1e9) : 0;
    for (;;) {
        struct timespec ts = {0, 200000000};
        if (end_ns) {
            uint64_t now = sp_now_ns();
            if (now >= end_ns)
                break;
            uint64_t left = end_ns - now;
            if (left < 200000000u)
                ts.tv_nsec = (long)left;
        }
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            break;
    }
}

static void print_serve_stats(const sp_server_stats *s, int generate)
{
    if (generate)
        fprintf(stderr,
                "servprof serve: generation: %llu steps, %llu prompt tokens prefilled, %llu output tokens; "
                "%llu padded tokens computed in all\n",
                (unsigned long long)s->steps, (unsigned long long)s->prompt_tokens,
                (unsigned long long)s->generated_tokens, (unsigned long long)s->padded_tokens);
    /* the work columns: an embedding batch's members are inputs (strings of "input"); a generation
     * step's are the sequences it ran, a sequence counted once per step (docs/serve.md) */
    fprintf(stderr,
            "servprof serve: %llu requests: %llu ok, %llu 503 queue full, %llu 503 stopping, %llu 400, %llu 413, "
            "%llu 404, %llu 405, %llu 415, %llu closed early, %llu /metrics, %llu /healthz; %llu %s, %llu "
            "%s, %llu tokens (%llu padded)\n",
            (unsigned long long)s->requests, (unsigned long long)s->ok, (unsigned long long)s->rejected_full,
            (unsigned long long)s->rejected_stopping,
            (unsigned long long)s->bad_request, (unsigned long long)s->too_large, (unsigned long long)s->not_found,
            (unsigned long long)s->bad_method, (unsigned long long)s->unsupported_media,
            (unsigned long long)s->client_gone, (unsigned long long)s->metrics_served,
            (unsigned long long)s->health_served, (unsigned long long)s->batches, generate ? "steps" : "batches",
            (unsigned long long)s->sequences, generate ? "step members" : "inputs",
            (unsigned long long)s->effective_tokens, (unsigned long long)s->padded_tokens);
    fprintf(stderr,
            "servprof serve: connections: %llu accepted, %llu refused at --max-connections, %llu at "
            "--max-connections-per-ip, %llu closed at the header deadline, %llu at the body deadline; "
            "at most %llu open\n",
            (unsigned long long)s->connections_accepted, (unsigned long long)s->connections_refused_cap,
            (unsigned long long)s->connections_refused_per_ip, (unsigned long long)s->header_timeouts,
            (unsigned long long)s->body_timeouts, (unsigned long long)s->connections_peak);
    if (s->graph_captures || s->graph_replays)
        fprintf(stderr, "servprof serve: CUDA graphs: %llu captured, %llu batches replayed\n",
                (unsigned long long)s->graph_captures, (unsigned long long)s->graph_replays);
}

/* Prints the recorder's last error (or the status) after "servprof serve: --trace: ". */
static void trace_error(sp_status st)
{
    char why[640];
    fprintf(stderr, "servprof serve: --trace: %s\n", *sp_recorder_last_error(why, sizeof why) ? why : sp_status_str(st));
}

/* Runs the service until signalled or --duration passes, then prints its counters. Returns the
 * exit status. */
static int run_service(serve_args *a)
{
    /* SIGINT/SIGTERM are blocked in every thread (the server's inherit the mask) and taken here
     * with sigtimedwait, so shutdown runs in ordinary code, not in a handler */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    sp_recorder *rec = NULL;
    char err[1024] = "";
    if (a->trace_path || !a->no_metrics) {
        /* live metrics for GET /metrics: the recorder keeps them; without --trace its file is
         * /dev/null (a device: neither locked nor truncated) */
        sp_recorder_options ro;
        sp_recorder_options_init(&ro);
        ro.price_per_hour = a->price;
        ro.live_metrics = !a->no_metrics;
        ro.metrics_settle_ms = a->settle_ms;
        sp_status st = sp_recorder_open(a->trace_path ? a->trace_path : "/dev/null", &ro, &rec);
        if (st != SP_OK) {
            if (a->trace_path)
                trace_error(st);
            else
                fprintf(stderr, "servprof serve: cannot start the recorder of /metrics: %s\n", sp_status_str(st));
            return 1;
        }
    }
    a->o.recorder = rec;
    sp_server *srv = NULL;
    sp_status st = sp_server_start(&a->o, &srv, err, sizeof(err));
    if (st != SP_OK) {
        fprintf(stderr, "servprof serve: %s\n", err[0] ? err : sp_status_str(st));
        sp_recorder_close(rec);
        return 1;
    }
    const char *host = a->o.host;
    fprintf(stderr, "servprof serve: %s\n", sp_server_device_note(srv));
    printf("listening on %s%s%s:%u\n", strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
           sp_server_port(srv));
    fflush(stdout);

    wait_for_stop(&sigs, a->duration);
    sp_server_stop(srv);
    sp_server_stats s;
    sp_server_get_stats(srv, &s);
    print_serve_stats(&s, a->o.generate);
    sp_server_destroy(srv);
    st = sp_recorder_close(rec);
    if (st != SP_OK) {
        trace_error(st);
        return 1;
    }
    return 0;
}

int sp_cmd_serve(int argc, char **argv)
{
    serve_args a;
    memset(&a, 0, sizeof a);
    sp_server_options_init(&a.o);
    a.o.port = 8080;
    int rc = parse_serve_options(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if ((rc = check_serve_options(&a)) != 0)
        return rc;
    if (a.save_weights)
        return save_weights(&a.o, a.save_weights);
    return run_service(&a);
}
#endif
