/* servprof serve: the reference inference service. An HTTP/1.1 embeddings endpoint in the OpenAI
 * shape (POST /v1/embeddings, GET /healthz) in front of a WordPiece tokenizer, a dynamic batcher and
 * a BERT-style transformer encoder on the CPU or a CUDA GPU, every stage recorded with libservprof
 * (trace.h). With `generate` set it is a text generation service instead: OpenAI completions and chat
 * completions (streamed as server-sent events or not) in front of a continuous-batching scheduler and
 * a GPT-2-style decoder with a KV cache, every step and output token recorded.
 * docs/serve.md describes the service, its options and what each recorded stage covers. */
#ifndef SERVPROF_SERVE_H
#define SERVPROF_SERVE_H

#include "servprof/servprof.h"
#include "servprof/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sp_server sp_server;

#define SP_SERVER_MAX_BUCKETS 16

/* Limits sp_server_start enforces: an option outside them is refused (SP_ERR_INVALID). The model
 * size caps keep a bad option or weights file from asking for absurd memory. */
#define SP_SERVER_MAX_BATCH 4096u             /* max_batch: 1.. */
#define SP_SERVER_MAX_QUEUE_DELAY_MS 60000.0  /* max_queue_delay_ms: 0.. */
#define SP_SERVER_MAX_QUEUE_CAPACITY 1000000u /* queue_capacity: 1.. */
#define SP_SERVER_MAX_WORKERS 64u             /* workers: 1.. */
#define SP_SERVER_MAX_HTTP_THREADS 64u        /* http_threads: 1.. */
#define SP_SERVER_MAX_BODY ((size_t)1 << 30)  /* max_body: 1.. */
#define SP_SERVER_MAX_INPUTS 4096u            /* max_inputs: 1.. */
#define SP_SERVER_MAX_CONNECTIONS 100000u     /* max_connections: 1..; max_connections_per_ip: 0.. */
#define SP_SERVER_MIN_HEADER_BYTES 1024u      /* max_header_bytes: MIN..MAX */
#define SP_SERVER_MAX_HEADER_BYTES 65536u
#define SP_SERVER_MAX_TIMEOUT_S 3600.0        /* header_timeout_s, body_timeout_s: 0.. */
#define SP_SERVER_MAX_LAYERS 64u              /* layers: 1.. */
#define SP_SERVER_MAX_HIDDEN 4096u            /* hidden: 1..; heads divide it */
#define SP_SERVER_MAX_FFN 16384u              /* ffn: 1.. */
#define SP_SERVER_MAX_LEN 4096u               /* max_len: 2..; pad_to: 2..max_len; buckets: ..max_len */
#define SP_SERVER_MAX_CUDA_GRAPH_CAP 4096u    /* cuda_graph_cap: 1.. */
#define SP_SERVER_MAX_NUM_SEQS 1024u          /* max_num_seqs: 1.. */
#define SP_SERVER_MAX_BATCHED_TOKENS 65536u   /* max_num_batched_tokens: max_num_seqs.. */

/* Defaults of sp_server_options_init for the model and the batcher, here too for programs that
 * describe the service without starting it (`servprof demo`, whose simulated fallback has no service). */
#define SP_SERVER_DEFAULT_LAYERS 2u
#define SP_SERVER_DEFAULT_HIDDEN 128u
#define SP_SERVER_DEFAULT_HEADS 4u
#define SP_SERVER_DEFAULT_FFN 512u
#define SP_SERVER_DEFAULT_MAX_LEN 128u
#define SP_SERVER_DEFAULT_MAX_BATCH 16u
#define SP_SERVER_DEFAULT_MAX_QUEUE_DELAY_MS 2.0
#define SP_SERVER_DEFAULT_WORKERS 1u
#define SP_SERVER_DEFAULT_QUEUE_CAPACITY 256u
#define SP_SERVER_DEFAULT_MAX_NUM_SEQS 16u
#define SP_SERVER_DEFAULT_MAX_BATCHED_TOKENS 512u
#define SP_SERVER_DEFAULT_MAX_TOKENS 16u      /* output tokens of a request that names no max_tokens
                                                 (OpenAI's completions default) */

/* Server options. Strings are borrowed until sp_server_start returns (it copies what it keeps). */
typedef struct sp_server_options {
    const char *host;          /* numeric IPv4 or IPv6 address to bind; default "127.0.0.1" */
    unsigned port;             /* 0: an ephemeral port (sp_server_port tells which) */
    const char *tokenizer_path;/* Hugging Face tokenizer.json (WordPiece); NULL: the shipped
                                  data/tokenizer.json (sp_server_default_tokenizer) */
    const char *weights_path;  /* safetensors (BertModel names, F32); NULL: weights from `seed` */
    uint64_t seed;             /* default 1 */
    const char *model_name;    /* "model" in responses; NULL (the default): "servprof-encoder", or
                                  "servprof-decoder" with `generate` */
    /* model size (ignored where the weights file fixes it; heads always applies) */
    unsigned layers;           /* default SP_SERVER_DEFAULT_LAYERS (2) */
    unsigned hidden;           /* default SP_SERVER_DEFAULT_HIDDEN (128) */
    unsigned heads;            /* default SP_SERVER_DEFAULT_HEADS (4) */
    unsigned ffn;              /* default SP_SERVER_DEFAULT_FFN (512) */
    unsigned max_len;          /* tokens per input, [CLS] and [SEP] included; default
                                  SP_SERVER_DEFAULT_MAX_LEN (128). With `generate`: the context,
                                  prompt and output tokens together */
    /* batching */
    unsigned max_batch;        /* sequences per batch; default SP_SERVER_DEFAULT_MAX_BATCH (16) */
    double max_queue_delay_ms; /* how long the oldest request waits for company; default
                                  SP_SERVER_DEFAULT_MAX_QUEUE_DELAY_MS (2 ms) */
    unsigned queue_capacity;   /* requests that may wait; when full: 503 + Retry-After; default
                                  SP_SERVER_DEFAULT_QUEUE_CAPACITY (256) */
    unsigned pad_to;           /* > 0: static shape, inputs cut to and padded to this length */
    unsigned buckets[SP_SERVER_MAX_BUCKETS]; /* ascending length buckets, 0-terminated; none: pad
                                                each batch to its longest member */
    unsigned workers;          /* batch worker threads; default SP_SERVER_DEFAULT_WORKERS (1) */
    unsigned http_threads;     /* HTTP threads (libmicrohttpd thread pool); default 1 */
    /* limits */
    size_t max_body;           /* request body bytes; larger: 413; default 1 MiB */
    unsigned max_inputs;       /* strings in one request's "input"; more: 400; default 256 */
    unsigned max_connections;  /* open connections, counted from accept to close; one more is answered
                                  503 (JSON, Retry-After: 1) and closed; default 1024 */
    unsigned max_connections_per_ip; /* open connections from one client address; one more: 503 and
                                  closed; 0: no per-address cap; default 256 (a quarter of the
                                  connections, so one address cannot hold them all) */
    unsigned connection_timeout_s; /* idle connection timeout (libmicrohttpd's: any byte resets it;
                                  it bounds a stalled answer); default 30 */
    double header_timeout_s;   /* a request's line and headers must all arrive within this many
                                  seconds of its start (the connection's accept, or the previous
                                  answer on a keep-alive connection, so idle keep-alive connections
                                  close after it too); bytes trickling in do not extend it; past it
                                  the connection is closed (408 if it had sent part of a head);
                                  0: none; default 10 */
    double body_timeout_s;     /* a request's body must all arrive within this many seconds of its
                                  headers, however it trickles; past it the connection is closed;
                                  0: none; default 30 */
    size_t max_header_bytes;   /* request line and headers; more: 431 (414 for the line alone);
                                  1024..65536; default 16384 */
    /* recording: every stage, batch and operation goes here; NULL: nothing recorded. Borrowed:
       must stay open until sp_server_destroy. */
    sp_recorder *recorder;
    /* device (docs/serve.md, "CUDA backend") */
    const char *device;        /* "cpu" (default) or "cuda"; "cuda" in a build without the CUDA
                                  backend fails with "this build has no CUDA backend" */
    unsigned cuda_device;      /* GPU index; default 0 */
    int cuda_graphs;           /* capture each batch shape (batch x padded length) in a CUDA graph
                                  on first use and replay it after; with generate, each decode step
                                  size (number of sequences; prefill steps stay eager); default 0 */
    unsigned cuda_graph_cap;   /* graphs kept per worker, least recently used evicted; default 64 */
    int cupti_mode;            /* with a recorder and --device cuda, how CUPTI records device activity
                                  (docs/gpu.md, "Lean mode"): SP_SERVER_CUPTI_AUTO (0, default): lean
                                  with one worker, launches with more; SP_SERVER_CUPTI_OFF: no CUPTI
                                  (batches and stages only); SP_SERVER_CUPTI_LEAN: activity records,
                                  no API callbacks, kernels and copies tied to batches by window;
                                  SP_SERVER_CUPTI_LAUNCHES: also launch-call callbacks, launches
                                  recorded and work tied to batches by correlation id */
    /* generation (docs/serve.md, "Generation"); the batching options above (max_batch,
       max_queue_delay_ms, pad_to, buckets, workers > 1, max_inputs) are the encoder's and are refused
       with it; queue_capacity, the model sizes and max_len apply to both */
    int generate;              /* 1: POST /v1/completions and /v1/chat/completions on a decoder-only
                                  model (GPT-2 layout, seeded or safetensors) with a KV cache and a
                                  continuous-batching scheduler; /v1/embeddings is not served; CPU only */
    unsigned max_num_seqs;     /* sequences running at once (each holds a KV cache slot of max_len
                                  tokens); default SP_SERVER_DEFAULT_MAX_NUM_SEQS (16) */
    unsigned max_num_batched_tokens; /* tokens one step computes, prefill padding included; at least
                                  max_num_seqs, and at least max_len without chunked_prefill;
                                  default SP_SERVER_DEFAULT_MAX_BATCHED_TOKENS (512) */
    int chunked_prefill;       /* 1: a prompt longer than a step's remaining budget is prefilled in
                                  chunks over several steps; default 0 */
    unsigned prefill_bucket;   /* > 0: each prefill (chunk) is padded to a multiple of this many tokens,
                                  and the padding is computed (a static-shape device's waste);
                                  default 0 (none) */
    unsigned kv_capacity_tokens; /* KV cache tokens the running sequences may reserve (a sequence
                                  reserves its prompt plus max_tokens - 1 when it is admitted, and
                                  waits while that does not fit); at most max_num_seqs x max_len;
                                  0 (default): max_num_seqs x max_len */
} sp_server_options;

enum { SP_SERVER_CUPTI_AUTO = 0, SP_SERVER_CUPTI_OFF, SP_SERVER_CUPTI_LEAN, SP_SERVER_CUPTI_LAUNCHES };

/* Fills `opt` with the defaults above. */
SP_API void sp_server_options_init(sp_server_options *opt);

/* Path of the tokenizer.json the project ships (the source tree's data/, or $SERVPROF_DATA_DIR). */
SP_API const char *sp_server_default_tokenizer(void);

/* Loads the tokenizer and the model, starts the workers and the HTTP listener, and returns once the
 * socket is listening. `*out` is written only on success. On failure `err` (may be NULL) says what
 * went wrong (a file and what was wrong in it, a bad option, a port another process listens on:
 * the socket is bound without SO_REUSEPORT, so a taken port is an error, never a shared one). Returns
 * SP_ERR_INVALID (options), SP_ERR_IO (files, bind), SP_ERR_PARSE / SP_ERR_FORMAT (tokenizer or
 * weights files), SP_ERR_NOMEM. Sets OpenBLAS to one thread: each worker runs its own batch. */
SP_API sp_status sp_server_start(const sp_server_options *opt, sp_server **out, char *err, size_t errlen);

/* Writes the weights `opt` would generate (seed, sizes, the tokenizer's vocabulary size) to `path`
 * as safetensors, so they can be served again with weights_path. Same errors as sp_server_start. */
SP_API sp_status sp_server_save_weights(const sp_server_options *opt, const char *path, char *err, size_t errlen);

/* The bound TCP port. */
SP_API unsigned sp_server_port(const sp_server *srv);

/* Stops accepting work, lets the workers finish every queued request (each gets its response),
 * then closes the listener. Safe to call more than once and from any thread but a server thread;
 * not from a signal handler. */
SP_API void sp_server_stop(sp_server *srv);

/* Stops (if needed) and frees. NULL is fine. */
SP_API void sp_server_destroy(sp_server *srv);

/* Counters since start; read at any time from any thread. */
typedef struct sp_server_stats {
    uint64_t requests;        /* HTTP requests received (a first head the front door refused included) */
    uint64_t ok;              /* 200 responses to /v1/embeddings */
    uint64_t rejected_full;   /* 503: the queue was full (rejected_stopping: the server was stopping) */
    uint64_t bad_request;     /* 400 (from the handler or the front door) */
    uint64_t too_large;       /* 413, and 414/431 for a request line or headers too large */
    uint64_t not_found;       /* 404 */
    uint64_t bad_method;      /* 405 */
    uint64_t unsupported_media; /* 415: a Content-Type other than JSON */
    uint64_t client_gone;     /* connections closed before their response was sent */
    uint64_t batches;         /* generation: steps (as `steps`) */
    uint64_t sequences;       /* inputs embedded; generation: step members, the sequences each step
                                 ran summed over steps (a sequence counted once per step) */
    uint64_t effective_tokens;/* sum of input lengths; generation: of the step members' tokens */
    uint64_t padded_tokens;   /* batch size x padded length, summed */
    uint64_t queue_depth;     /* requests waiting now */
    uint64_t graph_captures;  /* CUDA graphs captured (--cuda-graphs) */
    uint64_t graph_replays;   /* batches run by replaying a captured graph */
    /* connections (the front door: caps, the first request head's screen, deadlines) */
    uint64_t connections_accepted;      /* admitted */
    uint64_t connections_refused_cap;   /* 503 and closed: max_connections were open */
    uint64_t connections_refused_per_ip;/* 503 and closed: max_connections_per_ip from its address */
    uint64_t header_timeouts;  /* closed at the header deadline (idle keep-alive ones included) */
    uint64_t body_timeouts;    /* closed at the body deadline */
    uint64_t bad_heads;        /* first request heads answered 400/413/414/431/501/505 before
                                  libmicrohttpd saw them (not in `requests`) */
    uint64_t connections_open; /* open now */
    uint64_t connections_peak; /* most open at once */
    /* generation (0 for the encoder) */
    uint64_t steps;            /* scheduler steps run */
    uint64_t prompt_tokens;    /* prompt tokens prefilled (padding not included) */
    uint64_t generated_tokens; /* output tokens produced */
    uint64_t running_seqs;     /* sequences running now (holding a KV cache slot); queue_depth counts
                                  the requests waiting to be admitted */
    /* the service's own routes (last, so the fields above keep their offsets) */
    uint64_t metrics_served;   /* 200 answers to GET /metrics */
    uint64_t health_served;    /* 200 answers to GET /healthz */
    uint64_t rejected_stopping;/* 503: the request came in on an open connection while the server
                                  was stopping */
} sp_server_stats;

SP_API void sp_server_get_stats(const sp_server *srv, sp_server_stats *stats);

/* One line on the device the model runs on and how its activity is recorded (for the CLI to print
 * on stderr): "cpu (OpenBLAS)", or the GPU's name and whether CUPTI records kernels and copies or
 * could not start (another CUPTI subscriber: then batches are recorded, device activity is not).
 * Owned by the server; valid until sp_server_destroy. */
SP_API const char *sp_server_device_note(const sp_server *srv);

#ifdef __cplusplus
}
#endif

#endif
