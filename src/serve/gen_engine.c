/* The generation engine: one thread that runs the scheduler's steps back to back. Each step lays its
 * members out (a prefill chunk's prompt tokens, a decode's last output token), runs them through the
 * decoder as one batch (on the CPU or the GPU: gen_device.c), picks each finishing member's next
 * token, records the step (its window from dispatch until the new tokens are on the host, members with phases and tokens, padding, KV cache
 * occupancy) and hands every new token to its request (gen_answer.c); requests that finished leave
 * the scheduler before the next step is planned. docs/serve.md, "What is recorded". */
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "serve/gen_service_int.h"

/* The decoder's view of the step's members. */
static void lay_out(sp_gen *gen, const sp_gen_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const sp_gen_work *w = &p->work[i];
        sp_gen_req *g = w->seq->user;
        sp_dec_seq *d = &gen->dseqs[i];
        d->slot = w->seq->slot;
        d->start = w->start;
        d->n = w->tokens;
        d->rows = w->rows;
        d->ids = w->phase == SP_PHASE_DECODE ? &g->last_token : g->prompt + w->start;
        d->logits = w->gives_token;
    }
}

/* Records the step: DESIGN's batch (window, effective and padded tokens) with each member's phase and
 * tokens and the KV cache's occupancy after it. */
static void record_step(sp_gen *gen, const sp_gen_plan *p, uint64_t start, uint64_t end)
{
    sp_recorder *rec = gen->srv->rec;
    if (!rec)
        return;
    uint64_t members[SP_SERVER_MAX_NUM_SEQS];
    uint8_t phases[SP_SERVER_MAX_NUM_SEQS];
    uint32_t tokens[SP_SERVER_MAX_NUM_SEQS];
    for (size_t i = 0; i < p->n; i++) {
        members[i] = ((sp_gen_req *)p->work[i].seq->user)->id;
        phases[i] = p->work[i].phase;
        tokens[i] = p->work[i].tokens;
    }
    sp_gen_sched_state ss;
    sp_gen_sched_get_state(gen->sched, &ss);
    sp_step_record s = {gen->step_id, start, end, p->effective, p->padded, ss.kv_used, gen->sc.kv_capacity_tokens,
                        p->n, members, phases, tokens};
    sp_record_step(rec, &s);
}

/* Runs one planned step. */
static void run_step(sp_gen *gen, sp_gen_plan *p)
{
    sp_server *srv = gen->srv;
    uint64_t dispatch = sp_now_ns();
    gen->step_id = atomic_fetch_add_explicit(&srv->next_batch, 1, memory_order_relaxed);
    for (size_t i = 0; i < p->n; i++) {
        sp_gen_req *g = p->work[i].seq->user;
        if (p->work[i].first)
            sp_record_stage(srv->rec, g->id, SP_STAGE_QUEUE, g->enqueue_ns, dispatch);
        if (p->work[i].phase != SP_PHASE_DECODE)
            atomic_fetch_add_explicit(&gen->prompt_tokens, p->work[i].tokens, memory_order_relaxed);
    }
    lay_out(gen, p);
    sp_status st = sp_gen_device_forward(gen, p->n);
    /* the next tokens, on the host: sampling is part of the step */
    int32_t *next = gen->next;
    if (st == SP_OK) {
        uint64_t t0 = sp_now_ns();
        size_t m = 0, V = sp_decoder_get_config(gen->dec)->vocab_size;
        for (size_t i = 0; i < p->n; i++) {
            if (!p->work[i].gives_token)
                continue;
            sp_gen_req *g = p->work[i].seq->user;
            uint8_t *banned = gen->banned;
            banned[gen->eos] = (uint8_t)g->ignore_eos; /* a request that ignores EOS never draws it */
            next[i] = sp_gen_sample(gen->logits + m++ * V, V, banned, &g->sampling, &g->rng, gen->scratch);
        }
        /* on the CPU sampling is recorded as the step's last operation; with the CUDA decoder it is
         * host work between the logits' copy and the step's end (the device idles: gap) */
        if (srv->rec && !gen->cdec) {
            sp_kernel_record k = {gen->step_id, gen->op_sample, 0, 0, 0, t0, sp_now_ns()};
            sp_record_kernel(srv->rec, &k);
        }
    }
    uint64_t end = sp_now_ns();
    sp_gen_sched_complete(gen->sched, p);
    record_step(gen, p, dispatch, end);
    atomic_fetch_add_explicit(&gen->steps, 1, memory_order_relaxed);
    SP_SRV_STAT_ADD(srv, batches, 1);
    SP_SRV_STAT_ADD(srv, sequences, p->n);
    SP_SRV_STAT_ADD(srv, effective_tokens, p->effective);
    SP_SRV_STAT_ADD(srv, padded_tokens, p->padded);
    for (size_t i = 0; i < p->n; i++) {
        sp_gen_req *g = p->work[i].seq->user;
        if (st != SP_OK)
            sp_gen_emit(g, -1, end, 1);
        else if (p->work[i].gives_token)
            sp_gen_emit(g, next[i], end, 0);
        if (!g->seq.finished) {
            /* a client that went away: its sequence stops here */
            pthread_mutex_lock(&g->mu);
            int gone = g->cancelled;
            pthread_mutex_unlock(&g->mu);
            g->seq.finished = gone;
        }
    }
    sp_gen_device_after_step(gen, st);
}

static void *engine_main(void *arg)
{
    sp_gen *gen = arg;
    sp_gen_plan *p = &gen->plan;
    while (sp_gen_sched_next(gen->sched, p, 1) > 0) {
        run_step(gen, p);
        sp_gen_sched_release(gen->sched);
        /* the scheduler let go of the finished sequences: so does the engine */
        for (size_t i = 0; i < p->n; i++)
            if (p->work[i].seq->finished)
                sp_gen_req_unref(p->work[i].seq->user);
    }
    return NULL;
}

sp_status sp_gen_engine_start(sp_gen *gen, char *err, size_t errlen)
{
    if (pthread_create(&gen->engine, NULL, engine_main, gen) != 0) {
        sp_errf(err, errlen, "cannot start the generation engine thread");
        return SP_ERR_NOMEM;
    }
    gen->engine_started = 1;
    return SP_OK;
}

void sp_gen_engine_join(sp_gen *gen)
{
    if (gen->engine_started) {
        pthread_join(gen->engine, NULL);
        gen->engine_started = 0;
    }
}
