/* What the files of the generation service share: the service's generation state (the decoder, its
 * KV cache, the scheduler and the engine thread), a generation request's state, which the HTTP side
 * and the engine share, and the calls between them. gen_service.c starts and stops it and records
 * what ends; gen_request.c reads a request; gen_engine.c runs the steps; gen_answer.c writes the
 * answers, streamed or whole. The service's HTTP side (handler.c) calls in through the functions at
 * the end. Private to src/serve. */
#ifndef SERVPROF_SERVE_GEN_SERVICE_INT_H
#define SERVPROF_SERVE_GEN_SERVICE_INT_H

#include "serve/gen_int.h"
#include "serve/server_int.h"

#define SP_GEN_MAX_STOP 4         /* stop strings per request (OpenAI's limit) */
#define SP_GEN_MAX_STOP_BYTES 256 /* bytes per stop string */

/* The service's generation state (srv->gen). The engine thread alone runs steps; the scheduler is
 * the only thing HTTP threads and the engine both touch, through its lock. */
typedef struct sp_gen {
    sp_server *srv;
    sp_decoder *dec;
    sp_decoder_kv *kv;
    sp_decoder_ws *ws;        /* the CPU's KV cache and workspace (gen_device.c), or */
    sp_cuda_dec *cdec;        /* --device cuda: the decoder on the GPU with its KV cache (srv->cb's) */
    sp_gen_sched *sched;
    sp_gen_sched_config sc;
    uint32_t context;         /* max_len: prompt and output tokens together */
    uint8_t *banned;          /* per vocabulary id: never sampled ([PAD], [CLS], [MASK], [UNK]) */
    int32_t eos;              /* [SEP]: generating it ends the output (unless ignore_eos) */
    pthread_t engine;
    int engine_started;
    /* the engine's buffers for one step, sized at start for the largest */
    sp_gen_plan plan;
    sp_dec_seq *dseqs;
    float *logits, *scratch;  /* max_num_seqs x vocab logits; 2 x vocab floats for sampling */
    int32_t *next;            /* per member: the token its step gave */
    uint64_t step_id;         /* the step running (the op hook records kernels with it) */
    /* names interned once, so the hot path passes ids */
    sp_name_id *op_names;
    size_t op_count;
    sp_name_id op_sample, stage_detokenize, stage_stream;
    _Atomic uint64_t steps, prompt_tokens, generated_tokens;
} sp_gen;

/* One generation request, shared by its HTTP thread and the engine. Fields marked [mu] are read and
 * written under `mu`; the rest belong to one side, as marked. */
typedef struct sp_gen_req {
    sp_gen_seq seq;            /* the scheduler's view of it (seq.user is this) */
    sp_gen *gen;
    pthread_mutex_t mu;
    int refs;                  /* [mu] the HTTP side's and, from the push until it finishes, the engine's */
    struct MHD_Connection *conn; /* [mu] NULL once libmicrohttpd completed the request */
    sp_srv_req *http;          /* the HTTP request; the engine touches it only to resume a whole
                                  response's suspended connection (the connection cannot end while
                                  suspended) */
    uint64_t id;
    uint64_t arrival_ns, enqueue_ns;
    /* what was asked (set by gen_request.c, read-only afterwards) */
    int chat, stream, include_usage, ignore_eos;
    sp_gen_sampling sampling;
    char *stop[SP_GEN_MAX_STOP];
    size_t stop_len[SP_GEN_MAX_STOP];
    size_t n_stop;
    int32_t *prompt;
    uint32_t prompt_len;
    uint64_t created;          /* Unix seconds, for "created" */
    /* the engine's */
    sp_rng rng;
    int32_t last_token;
    uint32_t n_out;            /* output tokens produced */
    char *text;                /* the output text so far (stop strings are looked for in it) */
    size_t text_len, text_cap;
    const char *finish_reason; /* "length" or "stop" once finished */
    /* shared [mu] */
    int done;                  /* [mu] the engine finished: the last bytes or the whole answer are ready */
    int failed;                /* [mu] the step failed: the answer is an error */
    int cancelled;             /* [mu] the client went away: the engine stops at its next step */
    int suspended;             /* [mu] the stream reader suspended the connection until more bytes come */
    char *sse;                 /* [mu] a streamed response's bytes, from its first event on */
    size_t sse_len, sse_cap;
    uint64_t *tok_end;         /* [mu] per output token: where its event ends in sse */
    uint64_t *tok_ready;       /* [mu] per output token: when its event was handed to the HTTP side */
    uint32_t n_ready;          /* [mu] output tokens whose events are in sse */
    uint64_t final_ready_ns;   /* [mu] when the closing events ([DONE]) were handed over */
    char *resp;                /* [mu] a whole response's body, once done */
    size_t resp_len;
    unsigned resp_status;
    uint64_t post_start_ns;    /* a whole response: when its assembly began */
    /* the HTTP thread's (the stream reader) */
    uint32_t tok_written;      /* output tokens whose event was written */
    uint64_t last_write_end;   /* when the reader last found a write finished */
    uint64_t end_ns;           /* when the stream's last byte was written */
} sp_gen_req;

/* ---------------- lifecycle and records (gen_service.c) ---------------- */

/* Checks the generation options (with their limits' names in the message). */
sp_status sp_gen_check_options(const sp_server_options *o, char *err, size_t errlen);
/* Loads the tokenizer (`tokenizer_path`, resolved by the caller) and the decoder, sizes the KV cache
 * and the scheduler, interns the names, writes the trace properties and starts the engine thread.
 * `opt` is the caller's (for the weights path). */
sp_status sp_gen_start(sp_server *srv, const sp_server_options *opt, const char *tokenizer_path, char *err,
                       size_t errlen);
/* Closes the scheduler and joins the engine once every queued and running request has its answer. */
void sp_gen_stop(sp_server *srv);
void sp_gen_destroy(sp_server *srv);
/* Writes the generated decoder weights `opt` describes (vocabulary from `tokenizer_path`) to `path`. */
sp_status sp_gen_save_weights(const sp_server_options *opt, const char *tokenizer_path, const char *path, char *err,
                              size_t errlen);
void sp_gen_get_stats(const sp_server *srv, sp_server_stats *s);

/* Drops one reference (the HTTP side's or the engine's); the last frees the request. */
void sp_gen_req_unref(sp_gen_req *g);

/* ---------------- reading a request (gen_request.c) ---------------- */

/* Parses r's body as a completions (chat: chat completions) request, tokenises its prompt and checks
 * it against the context. Returns a new request, or NULL with an OpenAI-shaped 400 (500 when out of
 * memory) set on r. */
sp_gen_req *sp_gen_parse_request(sp_srv_req *r, int chat);

/* ---------------- the decoder's device (gen_device.c) ---------------- */

/* The device `opt->device` names, set up for gen's decoder and scheduler sizes: on the CPU the KV
 * cache and workspace; with "cuda" the backend module, the GPU and the decoder uploaded to it (CUPTI
 * is started after, by sp_srv_device_start_recording). On failure `err` says why. */
sp_status sp_gen_device_open(sp_server *srv, sp_gen *gen, const sp_server_options *opt, char *err, size_t errlen);
void sp_gen_device_close(sp_server *srv, sp_gen *gen);
/* Runs gen->dseqs[0..n) as one step into gen->logits, recording its operations (CPU) or bracketing
 * its device work for CUPTI with gen->step_id (CUDA). */
sp_status sp_gen_device_forward(sp_gen *gen, size_t n);
/* After a step was recorded and its tokens handed over: captures a new decode step size into a CUDA
 * graph (--cuda-graphs). */
void sp_gen_device_after_step(sp_gen *gen, sp_status step_status);
/* Adds the decoder's CUDA graph captures and replays (nothing on the CPU). */
void sp_gen_device_graph_stats(const sp_gen *gen, uint64_t *captures, uint64_t *replays);
/* The decoder's weights as the module's plain view (the layer array allocated: free it with
 * sp_gen_dec_weights_view_free). SP_ERR_NOMEM. */
sp_status sp_gen_dec_weights_view(const sp_decoder *dec, sp_cuda_dec_weights *out);
void sp_gen_dec_weights_view_free(sp_cuda_dec_weights *w);

/* ---------------- the engine (gen_engine.c) ---------------- */

sp_status sp_gen_engine_start(sp_gen *gen, char *err, size_t errlen);
void sp_gen_engine_join(sp_gen *gen);

/* ---------------- answers (gen_answer.c) ---------------- */

/* The engine's side: output token `tok` of g from the step that ended at `step_end` (or, tok < 0,
 * the end of the output: the end-of-sequence token, or the step failed when `failed`): its text, the
 * stop checks, its event for a stream or its token record for a whole answer, and, when the output
 * ends, the closing events or the whole answer, handed to the HTTP side. Returns 1 when g finished. */
int sp_gen_emit(sp_gen_req *g, int32_t tok, uint64_t step_end, int failed);

/* The HTTP side: the SSE response of a streamed request, read by libmicrohttpd. */
struct MHD_Response *sp_gen_stream_response(sp_gen_req *g);

/* ---------------- calls from the HTTP side (handler.c) ---------------- */

/* The route of a generation service's path (SP_SRV_ROUTE_COMPLETIONS / _CHAT), or 0. */
int sp_gen_route(const char *url);
/* The whole request is in: parse it, queue it, and answer (a stream's headers at once; a whole
 * answer once the engine resumes the connection). */
enum MHD_Result sp_gen_request_in(sp_srv_req *r);
/* Resumed by the engine: the whole answer goes out. */
enum MHD_Result sp_gen_on_resumed(sp_srv_req *r);
/* libmicrohttpd completed the request (toe: how): its request record and outcome, and the HTTP
 * side's reference let go. */
void sp_gen_request_ended(sp_server *srv, sp_srv_req *r, enum MHD_RequestTerminationCode toe);

#endif
