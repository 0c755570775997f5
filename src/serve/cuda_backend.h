/* The CUDA backend of servprof serve is a module opened at run time (libservprof-cuda.so), so that
 * the CLI, the analysis and the CPU service never load cuBLAS, cuBLASLt, CUPTI or cudart. This
 * header is the whole contract between the module and the process that loads it: one versioned
 * entry point, the plain data that crosses it (a weights view of sizes and float pointers), the
 * module's table of functions, and the table of recorder functions the loader hands the module so
 * that the module records into the loader's recorder (one recorder per process; docs/gpu.md,
 * "Add-ons and the one recorder"). Used by src/serve/cuda_module.c (the loader) and
 * src/serve/cuda/ (the module). */
#ifndef SERVPROF_CUDA_BACKEND_H
#define SERVPROF_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "servprof/cupti.h"
#include "servprof/servprof.h"
#include "servprof/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI of the tables below. Any change to them (a field added, moved or retyped) bumps it, and
 * with it the entry point's name, so a module and a loader of different ABIs never call each other:
 * the loader finds no entry of its name and says so. The two tables also carry the servprof version
 * they were built from (SP_VERSION_STRING), and each side refuses another: the public structures
 * that cross (sp_cupti_options, sp_cupti_stats, the record structures) are those of one version. */
#define SP_CUDA_BACKEND_ABI 2 /* 2: the generation service's decoder (dec_*) */
#define SP_CUDA_BACKEND_ENTRY_SYM sp_cuda_backend_v2 /* also in src/serve/cuda/module.map */
#define SP_CUDA_STR_(x) #x
#define SP_CUDA_STR(x) SP_CUDA_STR_(x)
#define SP_CUDA_BACKEND_ENTRY SP_CUDA_STR(SP_CUDA_BACKEND_ENTRY_SYM)
#define SP_CUDA_MODULE_FILE "libservprof-cuda.so"
/* Environment variable naming the module's path, overriding the search (src/serve/cuda_module.c). */
#define SP_CUDA_MODULE_ENV "SERVPROF_CUDA_MODULE"

/* What the loader gives the module: the recorder functions of the process (those the collector
 * calls), so the module's collector records into the recorder the loader passes to cupti_start,
 * with the process's clock and log callback, and carries no recorder of its own. Borrowed for the
 * life of the process. */
typedef struct sp_cuda_host {
    uint32_t abi;        /* SP_CUDA_BACKEND_ABI */
    uint32_t size;       /* sizeof(sp_cuda_host) */
    const char *version; /* SP_VERSION_STRING of the loader */
    uint64_t (*now_ns)(void);
    void (*get_log)(sp_log_fn *fn, void **user);
    sp_name_id (*recorder_intern)(sp_recorder *rec, const char *name);
    void (*recorder_add_drops)(sp_recorder *rec, sp_drop_cause cause, uint64_t count);
    void (*record_batch)(sp_recorder *rec, uint64_t batch_id, const uint64_t *members, size_t member_count,
                         uint64_t start_ns, uint64_t end_ns, uint64_t effective_tokens, uint64_t padded_tokens);
    void (*record_kernel)(sp_recorder *rec, const sp_kernel_record *k);
    void (*record_copy)(sp_recorder *rec, const sp_copy_record *c);
    void (*record_launch)(sp_recorder *rec, sp_name_id name, uint64_t correlation, uint64_t start_ns,
                          uint64_t end_ns);
} sp_cuda_host;

/* A BERT-style encoder's weights as plain data (the layout of src/serve/encoder.c): every tensor
 * lies inside `blob`, one allocation of blob_floats floats, so the module uploads the blob once and
 * finds each tensor at the same offset on the device. Borrowed by model_create for the call only. */
typedef struct sp_cuda_layer_weights {
    const float *wqkv, *bqkv, *wo, *bo, *ln1_g, *ln1_b, *w1, *b1, *w2, *b2, *ln2_g, *ln2_b;
} sp_cuda_layer_weights;

typedef struct sp_cuda_weights {
    uint32_t vocab_size, hidden, layers, heads, ffn, max_len;
    const float *blob;
    size_t blob_floats;
    const float *tok_emb, *pos_emb, *type_emb, *emb_ln_g, *emb_ln_b; /* [V,H], [P,H], [1,H], [H], [H] */
    const sp_cuda_layer_weights *layer;                             /* [layers] */
} sp_cuda_weights;

/* The generation service's GPT-2-style decoder's weights as plain data (the layout of
 * src/serve/gen_decoder.c, whose matrices are [in, out] row-major as GPT-2's Conv1D keeps them): as
 * for the encoder, every tensor lies inside `blob`. Borrowed by dec_create for the call only. */
typedef struct sp_cuda_dec_layer_weights {
    const float *ln1_g, *ln1_b, *w_qkv, *b_qkv, *w_o, *b_o, *ln2_g, *ln2_b, *w_fc, *b_fc, *w_proj, *b_proj;
} sp_cuda_dec_layer_weights;

typedef struct sp_cuda_dec_weights {
    uint32_t vocab_size, hidden, layers, heads, ffn, max_len;
    const float *blob;
    size_t blob_floats;
    const float *wte, *wpe, *lnf_g, *lnf_b; /* [V,H] (also the tied head), [P,H], [H], [H] */
    const sp_cuda_dec_layer_weights *layer; /* [layers] */
} sp_cuda_dec_weights;

/* One sequence's part of a decoder step, on either backend (gen_int.h's sp_dec_seq is this type, so
 * the engine hands the same array to both): `n` tokens from position `start` of KV slot `slot`,
 * computed as `rows` rows (rows past n are padding: computed like the last real row, nothing cached,
 * no logits); `logits` set: the last real row's logits are wanted. */
typedef struct sp_cuda_dec_seq {
    uint32_t slot;
    uint32_t start;
    uint32_t n;
    uint32_t rows;
    const int32_t *ids; /* n token ids; borrowed for the call */
    int logits;
} sp_cuda_dec_seq;

/* What a device decoder holds room for: the KV cache's slots x positions (positions <= max_len),
 * the rows of one step (sum over its sequences) and the sequences giving logits; graph_cap > 0 turns
 * CUDA graphs on for decode steps (one graph per number of sequences, least recently used evicted). */
typedef struct sp_cuda_dec_shape {
    uint32_t slots, positions;
    size_t max_rows, max_logits, graph_cap;
} sp_cuda_dec_shape;

typedef struct sp_cuda_model sp_cuda_model; /* weights on one device */
typedef struct sp_cuda_ws sp_cuda_ws;       /* one worker's stream, buffers and graphs */
typedef struct sp_cuda_dec sp_cuda_dec;     /* a decoder on one device: weights, KV cache, stream, graphs */

typedef struct sp_cuda_ws_stats {
    uint64_t forwards, graph_captures, graph_replays, graph_evictions;
} sp_cuda_ws_stats;

/* The module's functions. None needs a GPU to be callable: without one they fail with a message. */
typedef struct sp_cuda_backend {
    uint32_t abi;        /* SP_CUDA_BACKEND_ABI */
    uint32_t size;       /* sizeof(sp_cuda_backend) */
    const char *version; /* SP_VERSION_STRING the module was built from */

    /* Number of usable CUDA devices; 0 when there is none or no driver (then `why` says which). */
    int (*device_count)(char *why, size_t whylen);
    /* Describes device `device` ("NVIDIA H100 80GB HBM3, sm_90, 80 GiB, driver 13.0") into buf. */
    void (*device_describe)(int device, char *buf, size_t buflen);

    /* Uploads the weights to `device` once. SP_ERR_INVALID for a view whose tensors are not inside
     * its blob, SP_ERR_IO (a CUDA error; `err` names it), SP_ERR_NOMEM. */
    sp_status (*model_create)(const sp_cuda_weights *w, int device, sp_cuda_model **out, char *err,
                              size_t errlen);
    void (*model_destroy)(sp_cuda_model *m); /* NULL is fine */

    /* Per-worker state: a stream, a cuBLAS handle bound to it, pinned host buffers and device
     * activations for up to max_seqs x max_len tokens. graph_cap > 0 turns CUDA graphs on: each
     * (batch, padded length) shape is captured on first use and replayed after; at most graph_cap
     * graphs are kept (the least recently used is destroyed beyond that). */
    sp_status (*ws_create)(sp_cuda_model *m, size_t max_seqs, size_t max_len, size_t graph_cap,
                           sp_cuda_ws **out, char *err, size_t errlen);
    void (*ws_destroy)(sp_cuda_ws *ws); /* NULL is fine */

    /* As sp_encoder_forward (serve_int.h), on the GPU: copies ids and lengths host-to-device, runs
     * the encoder, copies the pooled embeddings back, waits for the stream. Returns once `out`
     * holds them. SP_ERR_INVALID (shape, ids), SP_ERR_LIMIT (past the workspace), SP_ERR_IO (a CUDA
     * error; `err` names it). Call from one thread per workspace. */
    sp_status (*forward)(sp_cuda_ws *ws, const int32_t *ids, const uint32_t *lengths, size_t batch,
                         size_t padded_len, float *out, char *err, size_t errlen);
    /* With graphs on: a shape seen for the first time runs eagerly in forward; this captures it
     * into a graph so later batches of that shape replay it. The caller runs it after the batch's
     * window (capture launches nothing on the device). SP_OK when nothing is pending. */
    sp_status (*ws_capture_pending)(sp_cuda_ws *ws, char *err, size_t errlen);
    void (*ws_get_stats)(const sp_cuda_ws *ws, sp_cuda_ws_stats *out);

    /* The module's CUPTI collector, as servprof/cupti.h describes sp_cupti_*: it records into the
     * recorder given to cupti_start through the host's functions. */
    void (*cupti_options_init)(sp_cupti_options *opt);
    sp_status (*cupti_start)(sp_recorder *rec, const sp_cupti_options *opt);
    sp_status (*cupti_stop)(void);
    void (*cupti_batch_begin)(uint64_t batch_id);
    void (*cupti_batch_end)(void);
    void (*cupti_get_stats)(sp_cupti_stats *out);

    /* The generation service's decoder (ABI 2). dec_create uploads the weights to `device` and
     * allocates the KV cache, a stream with its cuBLAS handle, pinned host buffers and the
     * activations for `shape`. SP_ERR_INVALID (an inconsistent view or shape), SP_ERR_NOMEM,
     * SP_ERR_IO (a CUDA error; `err` names it). */
    sp_status (*dec_create)(const sp_cuda_dec_weights *w, int device, const sp_cuda_dec_shape *shape,
                            sp_cuda_dec **out, char *err, size_t errlen);
    void (*dec_destroy)(sp_cuda_dec *d); /* NULL is fine */
    /* As sp_decoder_forward (gen_int.h) on the GPU: one host-to-device copy of the step's inputs,
     * the forward pass, and the logits of each sequence with `logits` set, in order, copied back
     * into `logits` (vocab_size floats each); returns once they are there. A decode-only step (every
     * sequence one token, one row, giving logits) of k sequences replays the graph of k when graphs
     * are on and it was captured; a new k runs eagerly and is captured by dec_capture_pending.
     * SP_ERR_INVALID (slot, position, id, duplicate slot), SP_ERR_LIMIT (past the shape), SP_ERR_IO.
     * One thread at a time. */
    sp_status (*dec_step)(sp_cuda_dec *d, const sp_cuda_dec_seq *seqs, size_t nseqs, float *logits, char *err,
                          size_t errlen);
    /* As ws_capture_pending, for the decode step shape the last dec_step ran eagerly. */
    sp_status (*dec_capture_pending)(sp_cuda_dec *d, char *err, size_t errlen);
    void (*dec_get_stats)(const sp_cuda_dec *d, sp_cuda_ws_stats *out);
} sp_cuda_backend;

/* The module's one exported symbol, SP_CUDA_BACKEND_ENTRY. Checks `host` (ABI, size, version) and
 * keeps it; returns the module's table (static, valid for the life of the process), or NULL with a
 * message in err. Called once per process, by the loader, before any table function. */
typedef const sp_cuda_backend *(*sp_cuda_backend_entry_fn)(const sp_cuda_host *host, char *err, size_t errlen);

/* The inputs a forward pass takes on either backend (sp_encoder_forward, the module's forward): per
 * input a length from 1 to padded_len, and batch x padded_len ids, each below vocab_size. 1 when they
 * are, 0 when not (the forward then returns SP_ERR_INVALID). Header-only, so that the CPU encoder and
 * the module agree without the module linking servprof's code. */
static inline int sp_forward_inputs_valid(const int32_t *ids, const uint32_t *lengths, size_t batch,
                                          size_t padded_len, uint32_t vocab_size)
{
    for (size_t b = 0; b < batch; b++)
        if (lengths[b] == 0 || lengths[b] > padded_len)
            return 0;
    for (size_t i = 0; i < batch * padded_len; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= vocab_size)
            return 0;
    return 1;
}

#ifdef __cplusplus
}
#endif

#endif
