/* Internals of the reference inference service (servprof serve): the WordPiece tokenizer, the
 * transformer encoder and the dynamic batcher. Each is usable and testable without HTTP or the
 * recorder; the service's files (server_int.h) wire them together. */
#ifndef SERVPROF_SERVE_INT_H
#define SERVPROF_SERVE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "serve/cuda_backend.h"
#include "servprof/serve.h"
#include "servprof/servprof.h"

/* ---------------- tokenizer (tokenizer.c) ---------------- */

typedef struct sp_tokenizer sp_tokenizer;

/* Hard caps on what a tokenizer.json may hold (a BERT vocabulary is ~30k tokens). */
#define SP_TOK_MAX_FILE_BYTES (64u << 20)
#define SP_TOK_MAX_VOCAB 1000000u
#define SP_TOK_MAX_TOKEN_BYTES 256u

/* Loads the WordPiece vocabulary of a Hugging Face tokenizer.json (model.type "WordPiece"). The
 * vocabulary must hold [UNK], [CLS], [SEP] and [PAD] (or model.unk_token for the first). On failure
 * writes a message naming the file and what was wrong into err. */
sp_status sp_tokenizer_load(const char *path, sp_tokenizer **out, char *err, size_t errlen);
void sp_tokenizer_destroy(sp_tokenizer *tok);
size_t sp_tokenizer_vocab_size(const sp_tokenizer *tok);
/* Id of a vocabulary string, or -1. */
int32_t sp_tokenizer_id(const sp_tokenizer *tok, const char *piece, size_t len);
/* Vocabulary string of an id (NUL-terminated, owned by the tokenizer), or NULL. */
const char *sp_tokenizer_piece(const sp_tokenizer *tok, int32_t id);
int32_t sp_tokenizer_pad_id(const sp_tokenizer *tok);

/* BERT-style encoding of UTF-8 `text`: [CLS] wordpieces [SEP], cut to `max_tokens` (>= 2) with the
 * [SEP] kept last. Writes at most max_tokens ids into `ids` and returns how many. Invalid UTF-8
 * bytes are treated as U+FFFD. Thread-safe (the tokenizer is read-only after load). */
size_t sp_tokenizer_encode(const sp_tokenizer *tok, const char *text, size_t len, int32_t *ids,
                           size_t max_tokens);

/* ---------------- encoder (encoder.c) ---------------- */

typedef struct sp_encoder_config {
    uint32_t vocab_size;
    uint32_t hidden;  /* model width */
    uint32_t layers;
    uint32_t heads;   /* hidden % heads == 0 */
    uint32_t ffn;     /* feed-forward width */
    uint32_t max_len; /* positions */
} sp_encoder_config;

typedef struct sp_encoder sp_encoder;
typedef struct sp_encoder_ws sp_encoder_ws;

/* Caps on the model size, so a bad option or file cannot ask for absurd memory. */
#define SP_ENC_MAX_HIDDEN SP_SERVER_MAX_HIDDEN
#define SP_ENC_MAX_LAYERS SP_SERVER_MAX_LAYERS
#define SP_ENC_MAX_FFN SP_SERVER_MAX_FFN
#define SP_ENC_MAX_LEN SP_SERVER_MAX_LEN
#define SP_ENC_MAX_VOCAB 1000000u

/* Weights drawn from a seed (BERT initialisation: uniform with std 0.02; LayerNorm gain 1). */
sp_status sp_encoder_create_seeded(const sp_encoder_config *cfg, uint64_t seed, sp_encoder **out,
                                   char *err, size_t errlen);
/* Weights from a safetensors file with Hugging Face BertModel tensor names (optionally "bert."
 * prefixed), float32. Shapes give the vocabulary, width, layers, ffn and positions; `heads` is not
 * in the file. Every tensor's shape and byte range is checked against the header and the file size. */
sp_status sp_encoder_load_safetensors(const char *path, uint32_t heads, sp_encoder **out, char *err,
                                      size_t errlen);
/* Writes the weights as safetensors (same names), so a seeded model can be saved and reloaded. */
sp_status sp_encoder_save_safetensors(const sp_encoder *enc, const char *path, char *err,
                                      size_t errlen);
void sp_encoder_destroy(sp_encoder *enc);
const sp_encoder_config *sp_encoder_get_config(const sp_encoder *enc);

/* Read-only view of the weights for another backend (the CUDA module's view, sp_cuda_weights_view,
 * is made from it). Pointers are borrowed from the encoder. */
typedef struct sp_encoder_layer_view {
    const float *wqkv, *bqkv, *wo, *bo, *ln1_g, *ln1_b, *w1, *b1, *w2, *b2, *ln2_g, *ln2_b;
} sp_encoder_layer_view;
typedef struct sp_encoder_view {
    const float *blob;  /* every weight, one allocation of blob_floats floats */
    size_t blob_floats;
    const float *tok_emb, *pos_emb, *type_emb, *emb_ln_g, *emb_ln_b;
} sp_encoder_view;
void sp_encoder_get_view(const sp_encoder *enc, sp_encoder_view *out);
/* layer < config.layers */
void sp_encoder_get_layer_view(const sp_encoder *enc, uint32_t layer, sp_encoder_layer_view *out);

/* The operations of one forward pass, in order: "embed", then per layer i "l<i>.qkv_gemm",
 * "l<i>.attention", "l<i>.attn_out_gemm", "l<i>.layernorm1", "l<i>.ffn_gemm1", "l<i>.gelu",
 * "l<i>.ffn_gemm2", "l<i>.layernorm2", then "pool". */
#define SP_ENC_OPS_PER_LAYER 8u
size_t sp_encoder_op_count(const sp_encoder *enc);
/* Writes op `index`'s name into buf; returns buf. */
const char *sp_encoder_op_name(const sp_encoder *enc, size_t index, char *buf, size_t buflen);

/* Called after each operation with its index and sp_now_ns() start and end. */
typedef void (*sp_encoder_op_fn)(void *user, size_t op, uint64_t start_ns, uint64_t end_ns);

/* Per-thread scratch memory; grows on demand up to `max_tokens` = batch x padded length. */
sp_status sp_encoder_ws_create(size_t max_tokens, sp_encoder_ws **out);
void sp_encoder_ws_destroy(sp_encoder_ws *ws);

/* Runs `batch` sequences padded to `padded_len` (ids[b * padded_len + t]; positions at or past
 * lengths[b] are padding, masked out of attention and pooling) and writes the mean-pooled
 * embeddings to out[b * hidden + j]. Every operation runs on the whole padded shape, as a static-
 * shape accelerator would. Returns SP_ERR_INVALID for a bad shape or id, SP_ERR_LIMIT past the
 * workspace cap, SP_ERR_NOMEM. `on_op` may be NULL. Thread-safe with one workspace per thread. */
sp_status sp_encoder_forward(const sp_encoder *enc, sp_encoder_ws *ws, const int32_t *ids,
                             const uint32_t *lengths, size_t batch, size_t padded_len, float *out,
                             sp_encoder_op_fn on_op, void *user);

/* ---------------- CUDA backend module (cuda_module.c; the contract is cuda_backend.h) ----------------
 * The same encoder on an NVIDIA GPU lives in libservprof-cuda.so (src/serve/cuda/), opened only when
 * `--device cuda` asks for it, so nothing else in the process loads a CUDA library. */

/* Opens the module once per process and returns its table (kept for the life of the process).
 * Search: $SERVPROF_CUDA_MODULE alone when set; else, in a build that made the module, beside the
 * executable, in the installed libdir relative to it, then the dynamic loader's path. On failure
 * SP_ERR_UNSUPPORTED and a message starting "cannot load libservprof-cuda.so: " (or, in a build
 * without the module and no variable set, "this build has no CUDA backend ..."). Thread-safe. */
sp_status sp_cuda_backend_load(const sp_cuda_backend **out, char *err, size_t errlen);

/* The encoder's weights as the module's plain view: pointers borrowed from `enc`; out->layer is
 * allocated (free it with sp_cuda_weights_view_free). SP_ERR_NOMEM. */
sp_status sp_cuda_weights_view(const sp_encoder *enc, sp_cuda_weights *out);
void sp_cuda_weights_view_free(sp_cuda_weights *w);

/* ---------------- dynamic batcher (batcher.c) ---------------- */

typedef struct sp_batcher sp_batcher;

#define SP_BATCHER_MAX_BUCKETS 16

typedef struct sp_batcher_config {
    uint32_t max_batch;       /* sequences per batch (a request larger than this runs alone) */
    uint64_t max_delay_ns;    /* how long the oldest waiting request may wait for company */
    uint32_t capacity;        /* requests that may wait; push beyond it fails */
    uint32_t pad_to;          /* > 0: static shape, every batch padded to this length */
    uint32_t buckets[SP_BATCHER_MAX_BUCKETS]; /* ascending length bucket bounds; 0-terminated */
    uint32_t max_len;         /* padded length of requests longer than the largest bucket */
} sp_batcher_config;

/* One waiting request: `user` is the caller's, `seqs` its sequence count, `max_len` its longest. */
typedef struct sp_batch_item {
    void *user;
    uint32_t seqs;
    uint32_t max_len;
    uint32_t bucket; /* padded length for bucketing; set by push */
    uint64_t enqueue_ns;
} sp_batch_item;

sp_status sp_batcher_create(const sp_batcher_config *cfg, sp_batcher **out);
void sp_batcher_destroy(sp_batcher *b);
/* Adds a request. SP_ERR_LIMIT: the queue is full (answer 503); SP_ERR_STATE: closed. */
sp_status sp_batcher_push(sp_batcher *b, void *user, uint32_t seqs, uint32_t max_len, uint64_t now_ns);
/* Blocks until a batch is due (max_batch sequences of one bucket wait, or the oldest has waited
 * max_delay) and moves it into items[0..cap) (cap >= 1); returns the count and its padded length.
 * After sp_batcher_close it hands out what is left without waiting, then returns 0. */
size_t sp_batcher_next(sp_batcher *b, sp_batch_item *items, size_t cap, uint32_t *padded_len);
/* Wakes every waiting sp_batcher_next; pushes fail from now on. */
void sp_batcher_close(sp_batcher *b);
size_t sp_batcher_depth(sp_batcher *b);

/* Test hook (src/serve/gen_answer.c): when set, a streamed generation's reader calls it each time
 * before it takes the request's lock, where the engine can append events while the reader waits
 * (tests/unit/test_gen_http.c widens that window with a sleep). Never set outside tests. */
extern void (*sp_gen_stream_read_hook)(void);

#endif
