/* A decoder step's layout, in plain C: the checks of a step's sequences that both decoders make (the
 * CPU's gen_decoder.c and the CUDA module's decoder_cuda.cu, which compiles this file too), the one
 * block of int32 inputs the CUDA decoder copies to the device (so a captured decode graph, which
 * copies that block from the same pinned buffer, is reused with new tokens, slots and positions),
 * the graph key of a step, and the least-recently-used cache of captured graphs by key (the CUDA
 * encoder's too). Tested on the CPU by tests/unit/test_gen_cuda_host.c. Private to src/serve. */
#ifndef SERVPROF_SERVE_DEC_LAYOUT_H
#define SERVPROF_SERVE_DEC_LAYOUT_H

#include "serve/cuda_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a step may use: the model's vocabulary and positions, the KV cache's slots and positions, the
 * rows and logit sequences the device buffers hold. */
typedef struct sp_dec_limits {
    uint32_t vocab_size, max_len, slots, positions;
    size_t max_rows, max_logits;
} sp_dec_limits;

/* A step's input block (int32, 5 x rows + logits entries), in arrays of `rows` entries each:
 *   id[r]    token of row r (a padding row repeats its sequence's last real token)
 *   slot[r]  its sequence's KV slot
 *   pos[r]   its position embedding: start + r within the sequence, clamped to max_len - 1
 *   see[r]   keys it attends over: start + min(r, n - 1) + 1 (causal; padding sees what the last
 *            real row sees)
 *   wpos[r]  where its key and value go in the slot (start + r), or -1 for a padding row
 * then logit_row[i], the row whose final hidden state gives sequence i's logits (the last real row
 * of each sequence with `logits` set, in order). */
enum { SP_DEC_IN_ID, SP_DEC_IN_SLOT, SP_DEC_IN_POS, SP_DEC_IN_SEE, SP_DEC_IN_WPOS, SP_DEC_IN_ARRAYS };

typedef struct sp_dec_layout {
    size_t rows;        /* N: rows of the step, padding included */
    size_t logits;      /* m: sequences giving logits */
    size_t ints;        /* entries of the input block: SP_DEC_IN_ARRAYS x rows + logits */
    uint32_t graph_key; /* k when the step is k single-token decodes each giving logits, else 0 */
} sp_dec_layout;

/* Checks the step as sp_decoder_forward does (SP_ERR_INVALID: no sequence, a slot out of range or
 * used twice, n = 0, rows < n, no ids, a position past the cache, an id past the vocabulary;
 * SP_ERR_LIMIT: more rows or logit sequences than the limits) and, when `block` is not NULL, writes
 * the input block there (room for SP_DEC_IN_ARRAYS x max_rows + max_logits entries). `out` is
 * written on success only. */
sp_status sp_dec_layout_build(const sp_cuda_dec_seq *seqs, size_t nseqs, const sp_dec_limits *lim, int32_t *block,
                              sp_dec_layout *out);

/* The captured graphs of one decoder, by key: at most `cap` kept, the least recently used one given
 * back for destruction when a new one needs its place. The graphs are opaque here (void *). */
typedef struct sp_graph_lru_entry {
    uint64_t key;
    void *graph;
    uint64_t last_use;
} sp_graph_lru_entry;

typedef struct sp_graph_lru {
    sp_graph_lru_entry *e;
    size_t cap, n;
    uint64_t tick;
} sp_graph_lru;

/* cap 0: no graphs (every find misses, put refuses). SP_ERR_NOMEM. */
sp_status sp_graph_lru_init(sp_graph_lru *c, size_t cap);
/* Frees the table (not the graphs: the caller destroys each first, see sp_graph_lru_at). */
void sp_graph_lru_free(sp_graph_lru *c);
/* The graph of `key`, marked used now; NULL when there is none. */
void *sp_graph_lru_find(sp_graph_lru *c, uint64_t key);
/* Keeps `graph` for `key` (which must not be there yet). Returns the graph it displaced (the least
 * recently used, when the cache was full) for the caller to destroy, else NULL. Returns `graph`
 * itself when cap is 0 (nothing is kept). */
void *sp_graph_lru_put(sp_graph_lru *c, uint64_t key, void *graph);
/* Entry i < c->n's graph (for destruction at the end). */
static inline void *sp_graph_lru_at(const sp_graph_lru *c, size_t i) { return c->e[i].graph; }

#ifdef __cplusplus
}
#endif

#endif
