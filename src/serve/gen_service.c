/* The generation service's lifecycle (servprof serve --generate): its options and their checks, the
 * model (the project's tokenizer and the decoder, seeded or from safetensors), its device (CPU or
 * CUDA, gen_device.c), the scheduler and the engine thread, the trace properties that write the
 * policy down, stop, destroy and the counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "serve/blas_int.h"
#include "serve/gen_service_int.h"

sp_status sp_gen_check_options(const sp_server_options *o, char *err, size_t errlen)
{
    if (o->max_num_seqs == 0 || o->max_num_seqs > SP_SERVER_MAX_NUM_SEQS ||
        o->max_num_batched_tokens < o->max_num_seqs || o->max_num_batched_tokens > SP_SERVER_MAX_BATCHED_TOKENS ||
        o->prefill_bucket > o->max_num_batched_tokens) {
        sp_errf(err, errlen,
                "option out of range (max-num-seqs 1..%u, max-num-batched-tokens max-num-seqs..%u, prefill-bucket "
                "0..max-num-batched-tokens): got max-num-seqs %u, max-num-batched-tokens %u, prefill-bucket %u",
                SP_SERVER_MAX_NUM_SEQS, SP_SERVER_MAX_BATCHED_TOKENS, o->max_num_seqs, o->max_num_batched_tokens,
                o->prefill_bucket);
        return SP_ERR_INVALID;
    }
    if (o->workers != 1 || o->pad_to || o->buckets[0]) {
        sp_errf(err, errlen, "--generate runs one engine with its own padding (--prefill-bucket): --workers must be "
                             "1 and --pad-to / --buckets are not used");
        return SP_ERR_INVALID;
    }
    const char *dev = o->device && *o->device ? o->device : "cpu";
    if (strcmp(dev, "cpu") != 0 && strcmp(dev, "cuda") != 0) {
        sp_errf(err, errlen, "unknown device '%s' (cpu or cuda)", dev);
        return SP_ERR_INVALID;
    }
    return SP_OK;
}

/* The project's tokenizer and the decoder, and the context they allow; then the checks that need the
 * context (a prompt of context - 1 tokens must fit one step without chunked prefill; the KV capacity
 * at most what the slots hold). */
static sp_status load_model(sp_server *srv, sp_gen *gen, const sp_server_options *opt, const char *tpath, char *err,
                            size_t errlen)
{
    sp_status st;
    if ((st = sp_tokenizer_load(tpath, &srv->tok, err, errlen)) != SP_OK)
        return st;
    size_t tv = sp_tokenizer_vocab_size(srv->tok);
    if (opt->weights_path) {
        if ((st = sp_decoder_load_safetensors(opt->weights_path, opt->heads, &gen->dec, err, errlen)) != SP_OK)
            return st;
        if (sp_decoder_get_config(gen->dec)->vocab_size < tv) {
            sp_errf(err, errlen, "%s: the model's vocabulary (%u) is smaller than the tokenizer's (%zu)",
                    opt->weights_path, sp_decoder_get_config(gen->dec)->vocab_size, tv);
            return SP_ERR_INVALID;
        }
    } else {
        sp_decoder_config cfg = {(uint32_t)tv, opt->hidden, opt->layers, opt->heads, opt->ffn, opt->max_len};
        if ((st = sp_decoder_create_seeded(&cfg, opt->seed, &gen->dec, err, errlen)) != SP_OK)
            return st;
    }
    const sp_decoder_config *dc = sp_decoder_get_config(gen->dec);
    gen->context = dc->max_len < opt->max_len ? dc->max_len : opt->max_len;
    uint32_t b = opt->prefill_bucket, longest = gen->context - 1;
    uint32_t padded = b ? (longest + b - 1) / b * b : longest;
    if (!opt->chunked_prefill && padded > opt->max_num_batched_tokens) {
        sp_errf(err, errlen,
                "--max-num-batched-tokens %u is less than the longest prompt, %u tokens (context %u - 1%s): raise "
                "it or add --chunked-prefill",
                opt->max_num_batched_tokens, padded, gen->context, b ? ", padded to the prefill bucket" : "");
        return SP_ERR_INVALID;
    }
    uint64_t slots_hold = (uint64_t)opt->max_num_seqs * gen->context;
    if (opt->kv_capacity_tokens > slots_hold) {
        sp_errf(err, errlen, "--kv-capacity-tokens %u exceeds what the cache's slots hold (max-num-seqs %u x context %u)",
                opt->kv_capacity_tokens, opt->max_num_seqs, gen->context);
        return SP_ERR_INVALID;
    }
    return SP_OK;
}

/* Ids the sampler never picks: [PAD], [CLS], [MASK], [UNK] (they have no text of their own). */
static void ban_special(sp_server *srv, sp_gen *gen)
{
    static const char *const special[] = {"[PAD]", "[CLS]", "[MASK]", "[UNK]"};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        int32_t id = sp_tokenizer_id(srv->tok, special[i], strlen(special[i]));
        if (id >= 0)
            gen->banned[id] = 1;
    }
    gen->eos = sp_tokenizer_id(srv->tok, "[SEP]", 5);
}

/* The engine's buffers for the largest step (the decoder's own are its device's, gen_device.c). */
static sp_status alloc_buffers(sp_gen *gen)
{
    const sp_decoder_config *dc = sp_decoder_get_config(gen->dec);
    size_t V = dc->vocab_size, S = gen->sc.max_num_seqs;
    gen->plan.work = calloc(S, sizeof(*gen->plan.work));
    gen->dseqs = calloc(S, sizeof(*gen->dseqs));
    gen->logits = malloc(S * V * sizeof(float));
    gen->scratch = malloc(2 * V * sizeof(float));
    gen->next = calloc(S, sizeof(*gen->next));
    gen->banned = calloc(V, 1);
    if (!gen->plan.work || !gen->dseqs || !gen->logits || !gen->scratch || !gen->next || !gen->banned)
        return SP_ERR_NOMEM;
    return SP_OK;
}

/* Interns the decoder's operations and the generation stages once, so recording passes ids. */
static sp_status intern_names(sp_server *srv, sp_gen *gen)
{
    gen->op_count = sp_decoder_op_count(gen->dec);
    gen->op_names = calloc(gen->op_count, sizeof(*gen->op_names));
    if (!gen->op_names)
        return SP_ERR_NOMEM;
    if (!srv->rec)
        return SP_OK;
    for (size_t i = 0; i < gen->op_count; i++) {
        char nm[64];
        gen->op_names[i] = sp_recorder_intern(srv->rec, sp_decoder_op_name(gen->dec, i, nm, sizeof(nm)));
    }
    gen->op_sample = sp_recorder_intern(srv->rec, "sample");
    gen->stage_detokenize = sp_recorder_intern(srv->rec, "detokenize");
    gen->stage_stream = sp_recorder_intern(srv->rec, "stream");
    return SP_OK;
}

/* Writes the service's mode, device, model and scheduling policy into the trace as properties
 * (docs/native-format.md "Properties"), so the analysis reads the policy that ran. Best effort. */
static void record_properties(const sp_server *srv, const sp_gen *gen)
{
    if (!srv->rec)
        return;
    const sp_decoder_config *dc = sp_decoder_get_config(gen->dec);
    const sp_gen_sched_config *c = &gen->sc;
    struct {
        const char *key;
        uint64_t val;
    } nums[] = {
        {"policy.max_num_seqs", c->max_num_seqs},
        {"policy.max_num_batched_tokens", c->max_num_batched_tokens},
        {"policy.chunked_prefill", (uint64_t)(c->chunked_prefill != 0)},
        {"policy.prefill_bucket", c->prefill_bucket},
        {"policy.queue_capacity", c->queue_capacity},
        {"policy.kv_capacity_tokens", c->kv_capacity_tokens},
        {"policy.max_len", gen->context},
        {"model.layers", dc->layers},
        {"model.hidden", dc->hidden},
        {"model.heads", dc->heads},
        {"model.ffn", dc->ffn},
    };
    sp_recorder_set_property(srv->rec, "service", "servprof-serve");
    sp_recorder_set_property(srv->rec, "mode", "generate");
    sp_recorder_set_property(srv->rec, "device", srv->cuda ? "cuda" : "cpu");
    char v[32];
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)nums[i].val);
        sp_recorder_set_property(srv->rec, nums[i].key, v);
    }
}

sp_status sp_gen_start(sp_server *srv, const sp_server_options *opt, const char *tokenizer_path, char *err,
                       size_t errlen)
{
    sp_status st = sp_gen_check_options(opt, err, errlen);
    if (st != SP_OK)
        return st;
    sp_gen *gen = calloc(1, sizeof(*gen));
    if (!gen)
        return SP_ERR_NOMEM;
    srv->gen = gen;
    gen->srv = srv;
    if ((st = load_model(srv, gen, opt, tokenizer_path, err, errlen)) != SP_OK)
        return st;
    sp_gen_sched_config *sc = &gen->sc;
    sc->max_num_seqs = opt->max_num_seqs;
    sc->max_num_batched_tokens = opt->max_num_batched_tokens;
    sc->chunked_prefill = opt->chunked_prefill != 0;
    sc->prefill_bucket = opt->prefill_bucket;
    sc->queue_capacity = opt->queue_capacity;
    sc->kv_capacity_tokens = opt->kv_capacity_tokens ? opt->kv_capacity_tokens : opt->max_num_seqs * gen->context;
    if ((st = sp_gen_sched_create(sc, &gen->sched)) != SP_OK) {
        sp_errf(err, errlen, "cannot create the scheduler: %s", sp_status_str(st));
        return st;
    }
    if ((st = sp_gen_device_open(srv, gen, opt, err, errlen)) != SP_OK)
        return st;
    if ((st = alloc_buffers(gen)) != SP_OK || (st = intern_names(srv, gen)) != SP_OK)
        return st;
    ban_special(srv, gen);
    /* one BLAS thread: one engine runs the steps, and the cores are shared with HTTP */
    sp_blas_set_threads(1);
    /* CUDA: CUPTI from here on, so the trace's GPU timeline is the serving, not the upload */
    sp_srv_device_start_recording(srv);
    record_properties(srv, gen);
    return sp_gen_engine_start(gen, err, errlen);
}

void sp_gen_stop(sp_server *srv)
{
    if (!srv->gen)
        return;
    if (srv->gen->sched)
        sp_gen_sched_close(srv->gen->sched);
    sp_gen_engine_join(srv->gen);
}

void sp_gen_destroy(sp_server *srv)
{
    sp_gen *gen = srv->gen;
    if (!gen)
        return;
    sp_gen_stop(srv);
    sp_gen_sched_destroy(gen->sched);
    sp_gen_device_close(srv, gen);
    sp_decoder_destroy(gen->dec);
    free(gen->plan.work);
    free(gen->dseqs);
    free(gen->logits);
    free(gen->scratch);
    free(gen->next);
    free(gen->banned);
    free(gen->op_names);
    free(gen);
    srv->gen = NULL;
}

sp_status sp_gen_save_weights(const sp_server_options *opt, const char *tokenizer_path, const char *path, char *err,
                              size_t errlen)
{
    sp_tokenizer *tok;
    sp_status st = sp_tokenizer_load(tokenizer_path, &tok, err, errlen);
    if (st != SP_OK)
        return st;
    sp_decoder_config cfg = {(uint32_t)sp_tokenizer_vocab_size(tok), opt->hidden, opt->layers, opt->heads, opt->ffn,
                             opt->max_len};
    sp_tokenizer_destroy(tok);
    sp_decoder *dec;
    if ((st = sp_decoder_create_seeded(&cfg, opt->seed, &dec, err, errlen)) != SP_OK)
        return st;
    st = sp_decoder_save_safetensors(dec, path, err, errlen);
    sp_decoder_destroy(dec);
    return st;
}

void sp_gen_get_stats(const sp_server *srv, sp_server_stats *s)
{
    sp_gen *gen = srv->gen;
    if (!gen)
        return;
    s->steps = atomic_load_explicit(&gen->steps, memory_order_relaxed);
    s->prompt_tokens = atomic_load_explicit(&gen->prompt_tokens, memory_order_relaxed);
    s->generated_tokens = atomic_load_explicit(&gen->generated_tokens, memory_order_relaxed);
    sp_gen_device_graph_stats(gen, &s->graph_captures, &s->graph_replays);
    if (gen->sched) {
        sp_gen_sched_state ss;
        sp_gen_sched_get_state(gen->sched, &ss);
        s->queue_depth = ss.waiting;
        s->running_seqs = ss.running;
    }
}
