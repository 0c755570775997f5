/* The device the generation service's decoder runs on: the CPU (gen_decoder.c on OpenBLAS, its KV
 * cache in host memory, each operation recorded as a kernel), or a CUDA GPU through the backend
 * module (the decoder, its KV cache and the decode graphs on the device, CUPTI recording kernels and
 * copies tied to each step by its id, as the encoder's batches are). gen_engine.c runs the steps
 * through here and knows neither. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "serve/gen_service_int.h"

sp_status sp_gen_dec_weights_view(const sp_decoder *dec, sp_cuda_dec_weights *out)
{
    const sp_decoder_config *c = sp_decoder_get_config(dec);
    sp_cuda_dec_layer_weights *layer = calloc(c->layers ? c->layers : 1, sizeof(*layer));
    if (!layer)
        return SP_ERR_NOMEM;
    sp_decoder_view v;
    sp_decoder_get_view(dec, &v);
    for (uint32_t l = 0; l < c->layers; l++) {
        sp_decoder_layer_view L;
        sp_decoder_get_layer_view(dec, l, &L);
        sp_cuda_dec_layer_weights w = {L.ln1_g, L.ln1_b, L.w_qkv, L.b_qkv, L.w_o,    L.b_o,
                                       L.ln2_g, L.ln2_b, L.w_fc,  L.b_fc,  L.w_proj, L.b_proj};
        layer[l] = w;
    }
    sp_cuda_dec_weights w = {c->vocab_size, c->hidden, c->layers, c->heads, c->ffn,   c->max_len,
                             v.blob,        v.blob_floats, v.wte, v.wpe,   v.lnf_g, v.lnf_b, layer};
    *out = w;
    return SP_OK;
}

void sp_gen_dec_weights_view_free(sp_cuda_dec_weights *w)
{
    if (!w)
        return;
    free((void *)w->layer);
    w->layer = NULL;
}

/* The module, the GPU, and the decoder on it: weights, a KV cache of max_num_seqs slots x context
 * positions, room for a step of max_num_batched_tokens rows, graphs for decode steps when asked. */
static sp_status open_cuda(sp_server *srv, sp_gen *gen, const sp_server_options *opt, char *err, size_t errlen)
{
    sp_status st = sp_srv_cuda_open(srv, err, errlen);
    if (st != SP_OK)
        return st;
    sp_cuda_dec_weights wv;
    if ((st = sp_gen_dec_weights_view(gen->dec, &wv)) != SP_OK)
        return st;
    sp_cuda_dec_shape shape = {gen->sc.max_num_seqs, gen->context, gen->sc.max_num_batched_tokens,
                               gen->sc.max_num_seqs, opt->cuda_graphs ? opt->cuda_graph_cap : 0};
    st = srv->cb->dec_create(&wv, (int)opt->cuda_device, &shape, &gen->cdec, err, errlen);
    sp_gen_dec_weights_view_free(&wv);
    return st;
}

sp_status sp_gen_device_open(sp_server *srv, sp_gen *gen, const sp_server_options *opt, char *err, size_t errlen)
{
    sp_status st;
    const char *dev = opt->device && *opt->device ? opt->device : "cpu";
    if (strcmp(dev, "cuda") == 0)
        return open_cuda(srv, gen, opt, err, errlen);
    if ((st = sp_decoder_kv_create(gen->dec, opt->max_num_seqs, gen->context, &gen->kv)) != SP_OK) {
        const sp_decoder_config *dc = sp_decoder_get_config(gen->dec);
        sp_errf(err, errlen, "cannot allocate the KV cache (%.1f MiB: 2 x %u layers x %u sequences x %u positions x "
                             "%u floats)",
                2.0 * dc->layers * opt->max_num_seqs * gen->context * dc->hidden * 4 / 1048576.0, dc->layers,
                opt->max_num_seqs, gen->context, dc->hidden);
        return st;
    }
    if (sp_decoder_ws_create(gen->sc.max_num_batched_tokens, gen->sc.max_num_seqs, &gen->ws) != SP_OK)
        return SP_ERR_NOMEM;
    snprintf(srv->device_note, sizeof(srv->device_note),
             "device: cpu (OpenBLAS, one thread), generation: one engine, continuous batching");
    return SP_OK;
}

void sp_gen_device_close(sp_server *srv, sp_gen *gen)
{
    if (srv->cb)
        srv->cb->dec_destroy(gen->cdec);
    gen->cdec = NULL;
    sp_decoder_kv_destroy(gen->kv);
    sp_decoder_ws_destroy(gen->ws);
    gen->kv = NULL;
    gen->ws = NULL;
}

/* The CPU decoder's hook after each operation: CPU work stands in for device activity, device 0,
 * stream 0, tied to the step by id (as the encoder's operations are to their batch). */
static void on_op(void *user, size_t op, uint64_t start_ns, uint64_t end_ns)
{
    sp_gen *gen = user;
    if (!gen->srv->rec)
        return;
    sp_kernel_record k = {gen->step_id, gen->op_names[op], 0, 0, 0, start_ns, end_ns};
    sp_record_kernel(gen->srv->rec, &k);
}

sp_status sp_gen_device_forward(sp_gen *gen, size_t n)
{
    sp_server *srv = gen->srv;
    if (!gen->cdec)
        return sp_decoder_forward(gen->dec, gen->kv, gen->ws, gen->dseqs, n, gen->logits, on_op, gen);
    /* the step's device work is tied to it by CUPTI correlation id, or in lean mode by this window,
     * which ends when the logits are in host memory (the step waits), so all of it falls inside */
    srv->cb->cupti_batch_begin(gen->step_id);
    sp_status st = srv->cb->dec_step(gen->cdec, gen->dseqs, n, gen->logits, NULL, 0);
    srv->cb->cupti_batch_end();
    return st;
}

void sp_gen_device_after_step(sp_gen *gen, sp_status step_status)
{
    /* a new decode step size under --cuda-graphs is captured now, after its step was recorded and
     * its tokens handed over, so the capture's host time lands in no step's window (a failed capture
     * leaves that size eager) */
    if (gen->cdec && step_status == SP_OK)
        (void)gen->srv->cb->dec_capture_pending(gen->cdec, NULL, 0);
}

void sp_gen_device_graph_stats(const sp_gen *gen, uint64_t *captures, uint64_t *replays)
{
    if (!gen->cdec)
        return;
    /* the engine's plain counters, read without a lock: good enough for a summary (as the encoder's) */
    sp_cuda_ws_stats ws;
    gen->srv->cb->dec_get_stats(gen->cdec, &ws);
    *captures += ws.graph_captures;
    *replays += ws.graph_replays;
}
