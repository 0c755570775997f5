/* A decoder step's checks, input block and graph key, and the graph cache (dec_layout.h). Plain C with
 * no CUDA call: the same file is part of servprof_serve and of the CUDA module. */
#include <stdlib.h>

#include "serve/cuda/dec_layout.h"

static sp_status check_step(const sp_cuda_dec_seq *seqs, size_t nseqs, const sp_dec_limits *lim, size_t *rows,
                            size_t *logits)
{
    *rows = *logits = 0;
    if (nseqs == 0 || !seqs)
        return SP_ERR_INVALID;
    for (size_t i = 0; i < nseqs; i++) {
        const sp_cuda_dec_seq *s = &seqs[i];
        if (s->slot >= lim->slots || s->n == 0 || s->rows < s->n || !s->ids ||
            (uint64_t)s->start + s->n > lim->positions)
            return SP_ERR_INVALID;
        for (uint32_t j = 0; j < s->n; j++)
            if (s->ids[j] < 0 || (uint32_t)s->ids[j] >= lim->vocab_size)
                return SP_ERR_INVALID;
        for (size_t k = 0; k < i; k++)
            if (seqs[k].slot == s->slot)
                return SP_ERR_INVALID;
        *rows += s->rows;
        *logits += s->logits != 0;
    }
    if (*rows > lim->max_rows || *logits > lim->max_logits)
        return SP_ERR_LIMIT;
    return SP_OK;
}

sp_status sp_dec_layout_build(const sp_cuda_dec_seq *seqs, size_t nseqs, const sp_dec_limits *lim, int32_t *block,
                              sp_dec_layout *out)
{
    size_t N, m;
    sp_status st = check_step(seqs, nseqs, lim, &N, &m);
    if (st != SP_OK)
        return st;
    int decode_only = 1;
    size_t row = 0, li = 0;
    for (size_t i = 0; i < nseqs; i++) {
        const sp_cuda_dec_seq *s = &seqs[i];
        decode_only &= s->n == 1 && s->rows == 1 && s->logits != 0;
        for (uint32_t r = 0; block && r < s->rows; r++, row++) {
            uint32_t real = r < s->n ? r : s->n - 1;
            uint64_t pos = (uint64_t)s->start + r;
            block[SP_DEC_IN_ID * N + row] = s->ids[real];
            block[SP_DEC_IN_SLOT * N + row] = (int32_t)s->slot;
            block[SP_DEC_IN_POS * N + row] = (int32_t)(pos < lim->max_len ? pos : lim->max_len - 1);
            block[SP_DEC_IN_SEE * N + row] = (int32_t)(s->start + real + 1);
            block[SP_DEC_IN_WPOS * N + row] = r < s->n ? (int32_t)pos : -1;
        }
        if (block && s->logits)
            block[SP_DEC_IN_ARRAYS * N + li++] = (int32_t)(row - s->rows + s->n - 1);
    }
    sp_dec_layout l = {N, m, SP_DEC_IN_ARRAYS * N + m, decode_only ? (uint32_t)nseqs : 0};
    *out = l;
    return SP_OK;
}

sp_status sp_graph_lru_init(sp_graph_lru *c, size_t cap)
{
    sp_graph_lru z = {NULL, cap, 0, 0};
    if (cap && !(z.e = calloc(cap, sizeof(*z.e))))
        return SP_ERR_NOMEM;
    *c = z;
    return SP_OK;
}

void sp_graph_lru_free(sp_graph_lru *c)
{
    free(c->e);
    c->e = NULL;
    c->n = c->cap = 0;
}

void *sp_graph_lru_find(sp_graph_lru *c, uint64_t key)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].key == key) {
            c->e[i].last_use = ++c->tick;
            return c->e[i].graph;
        }
    return NULL;
}

void *sp_graph_lru_put(sp_graph_lru *c, uint64_t key, void *graph)
{
    if (c->cap == 0)
        return graph;
    void *gone = NULL;
    size_t slot = c->n;
    if (c->n == c->cap) {
        slot = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].last_use < c->e[slot].last_use)
                slot = i;
        gone = c->e[slot].graph;
    } else {
        c->n++;
    }
    sp_graph_lru_entry e = {key, graph, ++c->tick};
    c->e[slot] = e;
    return gone;
}
