/* Internals of the generation service (servprof serve --generate): the decoder-only transformer with
 * its KV cache (gen_decoder.c), token sampling and the text side of a request (gen_text.c), and the
 * continuous-batching scheduler (gen_sched.c). Each is usable and testable without HTTP or the
 * recorder; gen_service_int.h wires them into the service. Private to src/serve. */
#ifndef SERVPROF_SERVE_GEN_INT_H
#define SERVPROF_SERVE_GEN_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "serve/serve_int.h"
#include "servprof/servprof.h"

/* ---------------- decoder (gen_decoder.c) ----------------
 * GPT-2's architecture: token + learned position embeddings; per layer a pre-LayerNorm causal
 * self-attention and a pre-LayerNorm feed-forward (GELU, tanh form), each added to the residual
 * stream; a final LayerNorm; the output head is the token embedding (tied). docs/serve.md lists the
 * tensor names. */

typedef struct sp_decoder_config {
    uint32_t vocab_size;
    uint32_t hidden;  /* model width; hidden % heads == 0 */
    uint32_t layers;
    uint32_t heads;
    uint32_t ffn;     /* feed-forward width */
    uint32_t max_len; /* positions (the context length) */
} sp_decoder_config;

typedef struct sp_decoder sp_decoder;

/* Weights drawn from a seed: uniform with std 0.02 (GPT-2's N(0, 0.02) in spirit, as the encoder),
 * LayerNorm gains 1 and biases 0. */
sp_status sp_decoder_create_seeded(const sp_decoder_config *cfg, uint64_t seed, sp_decoder **out, char *err,
                                   size_t errlen);
/* Weights from a safetensors file with Hugging Face GPT2Model tensor names (optionally "transformer."
 * prefixed, as in GPT2LMHeadModel), float32; shapes give the vocabulary, width, layers, ffn and
 * positions; `heads` is not in the file. A file's "lm_head.weight" is ignored: the head is tied to
 * wte, as GPT-2's is. */
sp_status sp_decoder_load_safetensors(const char *path, uint32_t heads, sp_decoder **out, char *err,
                                      size_t errlen);
/* Writes the weights as safetensors (GPT2Model names, no prefix). */
sp_status sp_decoder_save_safetensors(const sp_decoder *dec, const char *path, char *err, size_t errlen);
void sp_decoder_destroy(sp_decoder *dec);
const sp_decoder_config *sp_decoder_get_config(const sp_decoder *dec);

/* Read-only view of the weights (a test's reference forward pass reads them). Matrices are stored as
 * GPT-2's Conv1D keeps them, [in, out] row-major: y = x W + b. Pointers borrowed from the decoder. */
typedef struct sp_decoder_layer_view {
    const float *ln1_g, *ln1_b;
    const float *w_qkv, *b_qkv;   /* [H, 3H]: query, key, value columns */
    const float *w_o, *b_o;       /* [H, H] */
    const float *ln2_g, *ln2_b;
    const float *w_fc, *b_fc;     /* [H, F] */
    const float *w_proj, *b_proj; /* [F, H] */
} sp_decoder_layer_view;
typedef struct sp_decoder_view {
    const float *wte;           /* [V, H], also the output head */
    const float *wpe;           /* [P, H] */
    const float *lnf_g, *lnf_b; /* [H] */
    const float *blob;          /* every tensor lies in blob[0..blob_floats) (one upload to a device) */
    size_t blob_floats;
} sp_decoder_view;
void sp_decoder_get_view(const sp_decoder *dec, sp_decoder_view *out);
void sp_decoder_get_layer_view(const sp_decoder *dec, uint32_t layer, sp_decoder_layer_view *out);

/* GPT-2's LayerNorm epsilon. */
#define SP_DEC_LN_EPS 1e-5f

/* The operations of one forward pass, in order: "embed", per layer i "l<i>.ln1", "l<i>.qkv_gemm",
 * "l<i>.attention", "l<i>.attn_out_gemm", "l<i>.ln2", "l<i>.ffn_gemm1", "l<i>.gelu", "l<i>.ffn_gemm2",
 * then "ln_f" and "lm_head". */
#define SP_DEC_OPS_PER_LAYER 8u
size_t sp_decoder_op_count(const sp_decoder *dec);
const char *sp_decoder_op_name(const sp_decoder *dec, size_t index, char *buf, size_t buflen);

/* The KV cache: `slots` sequences of up to `positions` tokens each, every layer's keys and values
 * (2 x layers x slots x positions x hidden floats). A slot belongs to one sequence at a time; its
 * positions 0..start-1 hold that sequence's earlier tokens. */
typedef struct sp_decoder_kv sp_decoder_kv;
sp_status sp_decoder_kv_create(const sp_decoder *dec, uint32_t slots, uint32_t positions, sp_decoder_kv **out);
void sp_decoder_kv_destroy(sp_decoder_kv *kv);

/* Scratch memory of one forward pass; grows on demand up to `max_rows` rows (sum of the sequences'
 * rows in one call) and `max_logits` sequences giving logits. */
typedef struct sp_decoder_ws sp_decoder_ws;
sp_status sp_decoder_ws_create(size_t max_rows, size_t max_logits, sp_decoder_ws **out);
void sp_decoder_ws_destroy(sp_decoder_ws *ws);

/* One sequence's part of a forward pass (the type is cuda_backend.h's, so the CUDA decoder takes the
 * same array):
 *   slot    its KV cache slot
 *   start   position of ids[0]: the slot already holds positions 0..start-1
 *   n       tokens given (>= 1): their keys and values are written at start..start+n-1
 *   rows    rows computed (>= n): rows past n are padding (a prefill padded to a bucket), computed
 *           like the last real row and then dropped (nothing cached, no logits)
 *   ids     n token ids
 *   logits  1: write the logits of the last real row (the next token's distribution) */
typedef sp_cuda_dec_seq sp_dec_seq;

/* Runs the sequences of one step as one batch: every row's projections and feed-forward in shared
 * matrix products, each sequence's attention causal over its own cache (row j of a sequence sees
 * positions 0..start+j). Writes, for each sequence with `logits` set, in order, vocab_size floats to
 * logits. Returns SP_ERR_INVALID for a bad slot, position past the cache or the model's positions, or
 * token id; SP_ERR_LIMIT past the workspace caps; SP_ERR_NOMEM. `on_op` may be NULL. One workspace
 * per thread; sequences of one call must use distinct slots. */
sp_status sp_decoder_forward(const sp_decoder *dec, sp_decoder_kv *kv, sp_decoder_ws *ws, const sp_dec_seq *seqs,
                             size_t nseqs, float *logits, sp_encoder_op_fn on_op, void *user);

/* ---------------- sampling and text (gen_text.c) ---------------- */

typedef struct sp_gen_sampling {
    double temperature; /* 0: greedy (argmax, ties to the lowest id) */
    uint32_t top_k;     /* 0: every token; else the k most likely (ties to the lowest ids) */
} sp_gen_sampling;

/* Picks the next token from `logits` (vocab entries), skipping ids with banned[id] set (banned may be
 * NULL). Greedy, or a draw from softmax(logits / temperature) over the top_k candidates with `rng`.
 * `scratch` holds 2 x vocab floats. Returns -1 when every id is banned. */
int32_t sp_gen_sample(const float *logits, size_t vocab, const uint8_t *banned, const sp_gen_sampling *s,
                      sp_rng *rng, float *scratch);

/* The chat template (docs/serve.md): each message as "<role>: <content>\n", then "assistant:". Writes
 * at most cap bytes (NUL-terminated) and returns the length the whole text needs. */
typedef struct sp_gen_message {
    const char *role, *content;
    size_t role_len, content_len;
} sp_gen_message;
size_t sp_gen_chat_prompt(const sp_gen_message *m, size_t n, char *out, size_t cap);

/* The text of output token `id` (WordPiece): a "##" piece joins the word before it; any other piece
 * starts a word, after a space unless `first` (the first token of a chat reply). Writes at most cap
 * bytes (NUL-terminated) and returns the length. */
size_t sp_gen_token_text(const sp_tokenizer *tok, int32_t id, int first, char *out, size_t cap);

/* Whether one of the stop strings occurs in text[0..len) at or after byte `from` minus the longest
 * stop string (so a stop string completed by the text from `from` on is found, and one found before
 * is not searched again). */
int sp_gen_stop_found(const char *text, size_t len, size_t from, char *const *stop, const size_t *stop_len,
                      size_t n_stop);

/* ---------------- continuous-batching scheduler (gen_sched.c) ---------------- */

typedef struct sp_gen_sched sp_gen_sched;

typedef struct sp_gen_sched_config {
    uint32_t max_num_seqs;           /* sequences running at once (each holds a KV slot) */
    uint32_t max_num_batched_tokens; /* tokens one step computes, padding included */
    int chunked_prefill;             /* 1: a prompt may be split across steps */
    uint32_t prefill_bucket;         /* > 0: a prefill (chunk) is padded to a multiple of this */
    uint32_t queue_capacity;         /* requests that may wait; more are refused */
    uint32_t kv_capacity_tokens;     /* KV cache tokens all running sequences may reserve */
} sp_gen_sched_config;

/* One sequence as the scheduler sees it. The caller fills the first block before the push and reads
 * the rest; `finished` is the caller's to set (then the sequence leaves at sp_gen_sched_release). */
typedef struct sp_gen_seq {
    void *user;
    uint32_t prompt_len; /* >= 1 */
    uint32_t max_new;    /* output tokens at most, >= 1 */
    /* the scheduler's */
    uint32_t slot;       /* KV slot while running */
    uint32_t computed;   /* positions in its cache: prompt tokens prefilled, then fed outputs */
    uint32_t generated;  /* output tokens produced */
    uint32_t reserved;   /* KV tokens reserved: prompt_len + max_new - 1 */
    int running;
    int finished;        /* the caller's: done (stop, length, cancelled) */
} sp_gen_seq;

/* KV tokens a sequence reserves when admitted: its prompt and every output token but the last (the
 * last is produced, never fed back). */
static inline uint32_t sp_gen_seq_reserve(uint32_t prompt_len, uint32_t max_new)
{
    return prompt_len + max_new - 1;
}

/* One member of a step. */
typedef struct sp_gen_work {
    sp_gen_seq *seq;
    uint8_t phase;    /* SP_PHASE_* (trace.h) */
    uint32_t start;   /* first position computed */
    uint32_t tokens;  /* real tokens computed */
    uint32_t rows;    /* tokens with padding (prefill bucket) */
    int gives_token;  /* this step's output is the sequence's next token */
    int first;        /* the sequence's first step */
} sp_gen_work;

/* A step: its members (decodes first, then prefill chunks in admission order), and their effective
 * and padded tokens. `work` is the caller's, max_num_seqs entries. */
typedef struct sp_gen_plan {
    sp_gen_work *work;
    size_t n;
    uint64_t effective, padded;
} sp_gen_plan;

sp_status sp_gen_sched_create(const sp_gen_sched_config *cfg, sp_gen_sched **out);
void sp_gen_sched_destroy(sp_gen_sched *s);

/* Rounds a prefill of `tokens` up to the bucket. */
uint32_t sp_gen_sched_padded(const sp_gen_sched *s, uint32_t tokens);

/* Queues a sequence (its user, prompt_len and max_new set). SP_ERR_INVALID: it could never run (its
 * reservation exceeds the KV capacity, or without chunked prefill its padded prompt exceeds the token
 * budget); SP_ERR_LIMIT: the waiting queue is full (answer 503); SP_ERR_STATE: closed. Thread-safe. */
sp_status sp_gen_sched_push(sp_gen_sched *s, sp_gen_seq *seq);

/* Plans the next step into `plan` (docs/serve.md, "Scheduler"): every running sequence done with its
 * prompt decodes one token; running sequences still in their prompt take the next chunk the budget
 * allows; then waiting sequences are admitted in arrival order while a slot, their KV reservation and
 * the budget allow (the first that does not fit stops admission: no overtaking). With `wait`, blocks
 * until there is work; returns the member count (0: nothing to do, or closed and drained). The
 * sequences' counters advance when the step completes (sp_gen_sched_complete). One caller thread. */
size_t sp_gen_sched_next(sp_gen_sched *s, sp_gen_plan *plan, int wait);

/* The step ran: each member's computed positions advance (and, where it gave a token, generated). */
void sp_gen_sched_complete(sp_gen_sched *s, const sp_gen_plan *plan);

/* Removes every running sequence marked finished, freeing its slot and reservation. */
void sp_gen_sched_release(sp_gen_sched *s);

/* Pushes fail from now on; sp_gen_sched_next still hands out the remaining work, then returns 0. */
void sp_gen_sched_close(sp_gen_sched *s);

typedef struct sp_gen_sched_state {
    size_t waiting, running;
    uint64_t kv_reserved; /* tokens reserved by running sequences */
    uint64_t kv_used;     /* tokens their caches hold */
} sp_gen_sched_state;
void sp_gen_sched_get_state(sp_gen_sched *s, sp_gen_sched_state *out);

#endif
