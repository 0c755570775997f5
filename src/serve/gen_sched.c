/* The continuous-batching scheduler of the generation service: a bounded waiting queue, the running
 * sequences (each holding a KV cache slot and a reservation of cache tokens), and the plan of each
 * step. A step holds every running sequence's next decode token, then the next chunk of prompts still
 * being prefilled, then newly admitted prompts, within the step's token budget; new requests join
 * only here, at a step boundary. docs/serve.md, "Scheduler", states the rules. */
#include <stdlib.h>
#include <string.h>

#include "serve/gen_int.h"

struct sp_gen_sched {
    sp_gen_sched_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int closed;
    /* waiting: a ring of queue_capacity */
    sp_gen_seq **wait;
    size_t whead, wcount;
    /* running, in admission order */
    sp_gen_seq **run;
    size_t nrun;
    uint32_t *free_slots; /* a stack of the slots no sequence holds */
    size_t nfree;
    uint64_t kv_reserved;
};

sp_status sp_gen_sched_create(const sp_gen_sched_config *cfg, sp_gen_sched **out)
{
    if (cfg->max_num_seqs == 0 || cfg->max_num_batched_tokens < cfg->max_num_seqs || cfg->queue_capacity == 0 ||
        cfg->kv_capacity_tokens == 0 || cfg->prefill_bucket > cfg->max_num_batched_tokens)
        return SP_ERR_INVALID;
    sp_gen_sched *s = calloc(1, sizeof(*s));
    if (!s)
        return SP_ERR_NOMEM;
    s->cfg = *cfg;
    s->wait = calloc(cfg->queue_capacity, sizeof(*s->wait));
    s->run = calloc(cfg->max_num_seqs, sizeof(*s->run));
    s->free_slots = calloc(cfg->max_num_seqs, sizeof(*s->free_slots));
    if (!s->wait || !s->run || !s->free_slots) {
        sp_gen_sched_destroy(s);
        return SP_ERR_NOMEM;
    }
    /* slot 0 on top, so a lone sequence always runs in slot 0 */
    for (uint32_t i = 0; i < cfg->max_num_seqs; i++)
        s->free_slots[i] = cfg->max_num_seqs - 1 - i;
    s->nfree = cfg->max_num_seqs;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    *out = s;
    return SP_OK;
}

void sp_gen_sched_destroy(sp_gen_sched *s)
{
    if (!s)
        return;
    if (s->wait && s->run && s->free_slots) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    free(s->wait);
    free(s->run);
    free(s->free_slots);
    free(s);
}

uint32_t sp_gen_sched_padded(const sp_gen_sched *s, uint32_t tokens)
{
    uint32_t b = s->cfg.prefill_bucket;
    return b ? (tokens + b - 1) / b * b : tokens;
}

sp_status sp_gen_sched_push(sp_gen_sched *s, sp_gen_seq *seq)
{
    if (seq->prompt_len == 0 || seq->max_new == 0)
        return SP_ERR_INVALID;
    uint32_t reserve = sp_gen_seq_reserve(seq->prompt_len, seq->max_new);
    if (reserve > s->cfg.kv_capacity_tokens ||
        (!s->cfg.chunked_prefill && sp_gen_sched_padded(s, seq->prompt_len) > s->cfg.max_num_batched_tokens))
        return SP_ERR_INVALID;
    seq->reserved = reserve;
    seq->computed = seq->generated = 0;
    seq->running = seq->finished = 0;
    pthread_mutex_lock(&s->mu);
    sp_status st = SP_OK;
    if (s->closed)
        st = SP_ERR_STATE;
    else if (s->wcount == s->cfg.queue_capacity)
        st = SP_ERR_LIMIT;
    if (st == SP_OK) {
        s->wait[(s->whead + s->wcount) % s->cfg.queue_capacity] = seq;
        s->wcount++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* The prompt tokens of a prefill (chunk) that fit `budget` tokens once padded: all `left` if they fit,
 * else (with chunked prefill) the most whose padding fits; 0 when none does. */
static uint32_t chunk_fit(const sp_gen_sched *s, uint32_t left, uint64_t budget)
{
    if (sp_gen_sched_padded(s, left) <= budget)
        return left;
    if (!s->cfg.chunked_prefill)
        return 0;
    uint32_t b = s->cfg.prefill_bucket ? s->cfg.prefill_bucket : 1;
    uint64_t fit = budget / b * b;
    return fit < left ? (uint32_t)fit : left;
}

static void add_work(sp_gen_plan *p, sp_gen_seq *seq, uint8_t phase, uint32_t tokens, uint32_t rows, int first)
{
    sp_gen_work *w = &p->work[p->n++];
    w->seq = seq;
    w->phase = phase;
    w->start = seq->computed;
    w->tokens = tokens;
    w->rows = rows;
    w->gives_token = phase != SP_PHASE_PREFILL_CHUNK;
    w->first = first;
    p->effective += tokens;
    p->padded += rows;
}

/* Plans a step (with s->mu held). */
static void plan_step(sp_gen_sched *s, sp_gen_plan *p)
{
    p->n = 0;
    p->effective = p->padded = 0;
    uint64_t budget = s->cfg.max_num_batched_tokens;
    /* decodes first: max_num_batched_tokens >= max_num_seqs, so every running decode fits */
    for (size_t i = 0; i < s->nrun; i++) {
        sp_gen_seq *q = s->run[i];
        if (q->computed >= q->prompt_len) {
            add_work(p, q, SP_PHASE_DECODE, 1, 1, 0);
            budget--;
        }
    }
    /* prompts being prefilled in chunks, oldest first */
    for (size_t i = 0; i < s->nrun; i++) {
        sp_gen_seq *q = s->run[i];
        if (q->computed >= q->prompt_len)
            continue;
        uint32_t left = q->prompt_len - q->computed, c = chunk_fit(s, left, budget);
        if (c == 0)
            break; /* no overtaking: a later prompt waits for the earlier one's chunks */
        uint32_t rows = sp_gen_sched_padded(s, c);
        add_work(p, q, c == left ? SP_PHASE_PREFILL : SP_PHASE_PREFILL_CHUNK, c, rows, 0);
        budget -= rows;
    }
    /* admission, in arrival order: a slot, the KV reservation and some budget, or the head waits */
    while (s->wcount > 0 && s->nrun < s->cfg.max_num_seqs) {
        sp_gen_seq *q = s->wait[s->whead];
        if (s->kv_reserved + q->reserved > s->cfg.kv_capacity_tokens)
            break;
        uint32_t c = chunk_fit(s, q->prompt_len, budget);
        if (c == 0)
            break;
        s->whead = (s->whead + 1) % s->cfg.queue_capacity;
        s->wcount--;
        q->slot = s->free_slots[--s->nfree];
        q->running = 1;
        s->kv_reserved += q->reserved;
        s->run[s->nrun++] = q;
        uint32_t rows = sp_gen_sched_padded(s, c);
        add_work(p, q, c == q->prompt_len ? SP_PHASE_PREFILL : SP_PHASE_PREFILL_CHUNK, c, rows, 1);
        budget -= rows;
    }
}

size_t sp_gen_sched_next(sp_gen_sched *s, sp_gen_plan *plan, int wait)
{
    pthread_mutex_lock(&s->mu);
    /* with nothing running, the head of the queue always fits (push refused what never could) */
    while (wait && s->nrun == 0 && s->wcount == 0 && !s->closed)
        pthread_cond_wait(&s->cv, &s->mu);
    plan_step(s, plan);
    pthread_mutex_unlock(&s->mu);
    return plan->n;
}

void sp_gen_sched_complete(sp_gen_sched *s, const sp_gen_plan *plan)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < plan->n; i++) {
        sp_gen_seq *q = plan->work[i].seq;
        q->computed += plan->work[i].tokens;
        if (plan->work[i].gives_token)
            q->generated++;
    }
    pthread_mutex_unlock(&s->mu);
}

void sp_gen_sched_release(sp_gen_sched *s)
{
    pthread_mutex_lock(&s->mu);
    size_t k = 0;
    for (size_t i = 0; i < s->nrun; i++) {
        sp_gen_seq *q = s->run[i];
        if (!q->finished) {
            s->run[k++] = q;
            continue;
        }
        q->running = 0;
        s->free_slots[s->nfree++] = q->slot;
        s->kv_reserved -= q->reserved;
    }
    s->nrun = k;
    pthread_mutex_unlock(&s->mu);
}

void sp_gen_sched_close(sp_gen_sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->closed = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void sp_gen_sched_get_state(sp_gen_sched *s, sp_gen_sched_state *out)
{
    pthread_mutex_lock(&s->mu);
    out->waiting = s->wcount;
    out->running = s->nrun;
    out->kv_reserved = s->kv_reserved;
    out->kv_used = 0;
    for (size_t i = 0; i < s->nrun; i++)
        out->kv_used += s->run[i]->computed;
    pthread_mutex_unlock(&s->mu);
}
