/* The continuous-batching scheduler without HTTP or a model, each plan worked out by hand from the
 * rules of docs/serve.md ("Scheduler"): new requests join at step boundaries; decodes come first, then
 * prompt chunks, then admissions in arrival order; --max-num-seqs, the token budget and the KV
 * reservation are never exceeded and nobody overtakes a request that does not fit; chunked prefill
 * splits a long prompt (the last chunk gives the first token); prefill padding to a bucket counts
 * against the budget; a full queue refuses (503), a request that could never run is invalid (400);
 * a blocked planner wakes for a push and for close. */
#include <pthread.h>
#include <string.h>

#include "testlib.h"

#ifndef SERVPROF_SERVE_ENABLED
int main(void) { return 77; }
#else
#include "serve/gen_int.h"
#include "servprof/trace.h"

static sp_gen_sched_config config(uint32_t seqs, uint32_t budget, int chunked, uint32_t bucket, uint32_t queue,
                                  uint32_t kv)
{
    sp_gen_sched_config c = {seqs, budget, chunked, bucket, queue, kv};
    return c;
}

static sp_gen_seq seq(uint32_t prompt, uint32_t max_new)
{
    sp_gen_seq q;
    memset(&q, 0, sizeof q);
    q.prompt_len = prompt;
    q.max_new = max_new;
    return q;
}

/* Checks member i of the plan. */
static void member(const sp_gen_plan *p, size_t i, const sp_gen_seq *q, uint8_t phase, uint32_t start,
                   uint32_t tokens, uint32_t rows, int first)
{
    CHECK(i < p->n);
    if (i >= p->n)
        return;
    const sp_gen_work *w = &p->work[i];
    CHECK(w->seq == q);
    CHECK_EQ_U64(w->phase, phase);
    CHECK_EQ_U64(w->start, start);
    CHECK_EQ_U64(w->tokens, tokens);
    CHECK_EQ_U64(w->rows, rows);
    CHECK_EQ_U64(w->gives_token, phase != SP_PHASE_PREFILL_CHUNK);
    CHECK_EQ_U64(w->first, first);
}

/* The engine's part after a step: advance, mark the sequences that have all their tokens, release. */
static void finish_step(sp_gen_sched *s, const sp_gen_plan *p)
{
    sp_gen_sched_complete(s, p);
    for (size_t i = 0; i < p->n; i++)
        if (p->work[i].seq->generated == p->work[i].seq->max_new)
            p->work[i].seq->finished = 1;
    sp_gen_sched_release(s);
}

static sp_gen_work work[16];

static void joins_at_step_boundaries(void)
{
    sp_gen_sched_config c = config(4, 64, 0, 0, 8, 1000);
    sp_gen_sched *s;
    CHECK(sp_gen_sched_create(&c, &s) == SP_OK);
    sp_gen_plan p = {work, 0, 0, 0};
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 0); /* nothing to do */
    sp_gen_seq a = seq(5, 3), b = seq(4, 2);
    CHECK(sp_gen_sched_push(s, &a) == SP_OK);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 1);
    member(&p, 0, &a, SP_PHASE_PREFILL, 0, 5, 5, 1);
    CHECK_EQ_U64(a.reserved, 7); /* prompt 5 + max_tokens 3 - 1 */
    /* B arrives while A's prefill runs: it joins at the next step, after A's decode */
    CHECK(sp_gen_sched_push(s, &b) == SP_OK);
    finish_step(s, &p);
    CHECK_EQ_U64(a.computed, 5);
    CHECK_EQ_U64(a.generated, 1);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 2);
    member(&p, 0, &a, SP_PHASE_DECODE, 5, 1, 1, 0);
    member(&p, 1, &b, SP_PHASE_PREFILL, 0, 4, 4, 1);
    CHECK_EQ_U64(p.effective, 5);
    CHECK_EQ_U64(p.padded, 5);
    CHECK(a.slot != b.slot);
    finish_step(s, &p);
    sp_gen_sched_state st;
    sp_gen_sched_get_state(s, &st);
    CHECK_EQ_U64(st.kv_used, 6 + 4);      /* A: prompt + 1 fed token; B: its prompt */
    CHECK_EQ_U64(st.kv_reserved, 7 + 5);  /* B: 4 + 2 - 1 */
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 2);
    member(&p, 0, &a, SP_PHASE_DECODE, 6, 1, 1, 0);
    member(&p, 1, &b, SP_PHASE_DECODE, 4, 1, 1, 0);
    finish_step(s, &p); /* A has 3 tokens, B 2: both leave */
    CHECK(a.finished && b.finished && !a.running && !b.running);
    sp_gen_sched_get_state(s, &st);
    CHECK_EQ_U64(st.running, 0);
    CHECK_EQ_U64(st.kv_reserved, 0);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 0);
    sp_gen_sched_destroy(s);
}

static void max_num_seqs_and_budget(void)
{
    /* two sequences at most: the third waits for a slot */
    sp_gen_sched_config c = config(2, 16, 0, 0, 8, 1000);
    sp_gen_sched *s;
    CHECK(sp_gen_sched_create(&c, &s) == SP_OK);
    sp_gen_plan p = {work, 0, 0, 0};
    sp_gen_seq a = seq(3, 1), b = seq(3, 2), q3 = seq(3, 1);
    CHECK(sp_gen_sched_push(s, &a) == SP_OK && sp_gen_sched_push(s, &b) == SP_OK && sp_gen_sched_push(s, &q3) == SP_OK);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 2);
    member(&p, 0, &a, SP_PHASE_PREFILL, 0, 3, 3, 1);
    member(&p, 1, &b, SP_PHASE_PREFILL, 0, 3, 3, 1);
    finish_step(s, &p); /* A (max 1 token) leaves, its slot goes to the third */
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 2);
    member(&p, 0, &b, SP_PHASE_DECODE, 3, 1, 1, 0);
    member(&p, 1, &q3, SP_PHASE_PREFILL, 0, 3, 3, 1);
    CHECK_EQ_U64(q3.slot, a.slot);
    sp_gen_sched_destroy(s);

    /* a budget of 8 tokens: prompts of 5 and 5 cannot share a step; the second joins beside the
     * first's decode (1 + 5 <= 8), and a third prompt of 3 waits behind it though 3 would fit in the
     * first step's remaining 3: no overtaking */
    c = config(4, 8, 0, 0, 8, 1000);
    CHECK(sp_gen_sched_create(&c, &s) == SP_OK);
    sp_gen_seq d = seq(5, 4), e = seq(5, 4), f = seq(3, 4);
    CHECK(sp_gen_sched_push(s, &d) == SP_OK && sp_gen_sched_push(s, &e) == SP_OK && sp_gen_sched_push(s, &f) == SP_OK);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 1);
    member(&p, 0, &d, SP_PHASE_PREFILL, 0, 5, 5, 1);
    finish_step(s, &p);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 2);
    member(&p, 0, &d, SP_PHASE_DECODE, 5, 1, 1, 0);
    member(&p, 1, &e, SP_PHASE_PREFILL, 0, 5, 5, 1);
    finish_step(s, &p);
    /* two decodes (2) + the third's prompt (3) = 5 <= 8 */
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 3);
    member(&p, 2, &f, SP_PHASE_PREFILL, 0, 3, 3, 1);
    CHECK(p.padded <= c.max_num_batched_tokens);
    /* without chunked prefill a prompt over the budget can never run */
    sp_gen_seq big = seq(9, 1);
    CHECK(sp_gen_sched_push(s, &big) == SP_ERR_INVALID);
    sp_gen_sched_destroy(s);
}

static void chunked_prefill(void)
{
    /* budget 8, chunked: a 20-token prompt runs as 8 + 8 (chunks, no token) + 4 (the last, first token);
     * with another sequence decoding beside it the chunk is 7 */
    sp_gen_sched_config c = config(4, 8, 1, 0, 8, 1000);
    sp_gen_sched *s;
    CHECK(sp_gen_sched_create(&c, &s) == SP_OK);
    sp_gen_plan p = {work, 0, 0, 0};
    sp_gen_seq a = seq(20, 2);
    CHECK(sp_gen_sched_push(s, &a) == SP_OK);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 1);
    member(&p, 0, &a, SP_PHASE_PREFILL_CHUNK, 0, 8, 8, 1);
    finish_step(s, &p);
    CHECK_EQ_U64(a.generated, 0);
    sp_gen_seq b = seq(2, 5);
    CHECK(sp_gen_sched_push(s, &b) == SP_OK);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 1); /* the chunk took the whole budget: B waits */
    member(&p, 0, &a, SP_PHASE_PREFILL_CHUNK, 8, 8, 8, 0);
    finish_step(s, &p);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 2);
    member(&p, 0, &a, SP_PHASE_PREFILL, 16, 4, 4, 0);
    member(&p, 1, &b, SP_PHASE_PREFILL, 0, 2, 2, 1);
    finish_step(s, &p);
    CHECK_EQ_U64(a.generated, 1);
    sp_gen_seq q = seq(12, 1);
    CHECK(sp_gen_sched_push(s, &q) == SP_OK);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 3); /* 2 decodes, then 6 of the new prompt */
    member(&p, 0, &a, SP_PHASE_DECODE, 20, 1, 1, 0);
    member(&p, 1, &b, SP_PHASE_DECODE, 2, 1, 1, 0);
    member(&p, 2, &q, SP_PHASE_PREFILL_CHUNK, 0, 6, 6, 1);
    sp_gen_sched_destroy(s);

    /* a bucket of 4: a 10-token prompt as a chunk of 8, then its last 2 tokens padded to 4 */
    c = config(4, 8, 1, 4, 8, 1000);
    CHECK(sp_gen_sched_create(&c, &s) == SP_OK);
    sp_gen_seq d = seq(10, 1);
    CHECK(sp_gen_sched_push(s, &d) == SP_OK);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 1);
    member(&p, 0, &d, SP_PHASE_PREFILL_CHUNK, 0, 8, 8, 1);
    finish_step(s, &p);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 1);
    member(&p, 0, &d, SP_PHASE_PREFILL, 8, 2, 4, 0);
    CHECK_EQ_U64(p.effective, 2);
    CHECK_EQ_U64(p.padded, 4);
    sp_gen_sched_destroy(s);

    /* without chunking, the bucket pads a whole prompt: 5 tokens count as 8 of the budget */
    c = config(4, 12, 0, 4, 8, 1000);
    CHECK(sp_gen_sched_create(&c, &s) == SP_OK);
    sp_gen_seq e = seq(5, 2), f = seq(5, 2);
    CHECK(sp_gen_sched_push(s, &e) == SP_OK && sp_gen_sched_push(s, &f) == SP_OK);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 1); /* 8 + 8 > 12 */
    member(&p, 0, &e, SP_PHASE_PREFILL, 0, 5, 8, 1);
    CHECK_EQ_U64(sp_gen_sched_padded(s, 9), 12);
    sp_gen_sched_destroy(s);
}

static void queue_and_kv_limits(void)
{
    /* a queue of 2: the third waiting request is refused (the service answers 503) */
    sp_gen_sched_config c = config(1, 16, 0, 0, 2, 1000);
    sp_gen_sched *s;
    CHECK(sp_gen_sched_create(&c, &s) == SP_OK);
    sp_gen_seq a = seq(2, 1), b = seq(2, 1), q3 = seq(2, 1);
    CHECK(sp_gen_sched_push(s, &a) == SP_OK);
    CHECK(sp_gen_sched_push(s, &b) == SP_OK);
    CHECK(sp_gen_sched_push(s, &q3) == SP_ERR_LIMIT);
    sp_gen_plan p = {work, 0, 0, 0};
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 1); /* A runs: one place in the queue again */
    CHECK(sp_gen_sched_push(s, &q3) == SP_OK);
    sp_gen_sched_destroy(s);

    /* KV capacity 30: reservations of 20 and 10 fill it; the next (3) waits, and so does the one
     * behind it, until the first leaves */
    c = config(4, 64, 0, 0, 8, 30);
    CHECK(sp_gen_sched_create(&c, &s) == SP_OK);
    sp_gen_seq d = seq(10, 11), e = seq(5, 6), f = seq(2, 2), g = seq(1, 1);
    CHECK(sp_gen_sched_push(s, &d) == SP_OK && sp_gen_sched_push(s, &e) == SP_OK);
    CHECK(sp_gen_sched_push(s, &f) == SP_OK && sp_gen_sched_push(s, &g) == SP_OK);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 2);
    member(&p, 0, &d, SP_PHASE_PREFILL, 0, 10, 10, 1);
    member(&p, 1, &e, SP_PHASE_PREFILL, 0, 5, 5, 1);
    sp_gen_sched_state st;
    sp_gen_sched_get_state(s, &st);
    CHECK_EQ_U64(st.kv_reserved, 30);
    CHECK_EQ_U64(st.waiting, 2);
    sp_gen_sched_complete(s, &p);
    d.finished = 1;
    sp_gen_sched_release(s);
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 0), 3);
    member(&p, 0, &e, SP_PHASE_DECODE, 5, 1, 1, 0);
    member(&p, 1, &f, SP_PHASE_PREFILL, 0, 2, 2, 1);
    member(&p, 2, &g, SP_PHASE_PREFILL, 0, 1, 1, 1);
    /* a reservation over the capacity can never be met */
    sp_gen_seq huge = seq(20, 12);
    CHECK(sp_gen_sched_push(s, &huge) == SP_ERR_INVALID);
    sp_gen_seq empty = seq(0, 1);
    CHECK(sp_gen_sched_push(s, &empty) == SP_ERR_INVALID);
    sp_gen_sched_destroy(s);

    /* configurations that cannot work */
    c = config(8, 4, 0, 0, 8, 100); /* budget under max_num_seqs: decodes would not fit */
    CHECK(sp_gen_sched_create(&c, &s) == SP_ERR_INVALID);
    c = config(0, 4, 0, 0, 8, 100);
    CHECK(sp_gen_sched_create(&c, &s) == SP_ERR_INVALID);
}

typedef struct waiter {
    sp_gen_sched *s;
    size_t got;
} waiter;

static void *wait_next(void *arg)
{
    waiter *w = arg;
    sp_gen_work wk[4];
    sp_gen_plan p = {wk, 0, 0, 0};
    w->got = sp_gen_sched_next(w->s, &p, 1);
    return NULL;
}

static void blocking_and_close(void)
{
    sp_gen_sched_config c = config(4, 16, 0, 0, 8, 100);
    sp_gen_sched *s;
    CHECK(sp_gen_sched_create(&c, &s) == SP_OK);
    /* a planner waiting for work gets the request pushed (whether it waited yet or not) */
    waiter w = {s, 99};
    pthread_t t;
    pthread_create(&t, NULL, wait_next, &w);
    sp_gen_seq a = seq(2, 3);
    CHECK(sp_gen_sched_push(s, &a) == SP_OK);
    pthread_join(t, NULL);
    CHECK_EQ_U64(w.got, 1);
    /* close: pushes fail, the work left is still handed out, then a waiting planner gets 0 */
    sp_gen_sched_close(s);
    sp_gen_seq b = seq(2, 1);
    CHECK(sp_gen_sched_push(s, &b) == SP_ERR_STATE);
    sp_gen_plan p = {work, 0, 0, 0};
    /* A again: the waiter's step was never completed, so its prompt is planned once more */
    CHECK_EQ_U64(sp_gen_sched_next(s, &p, 1), 1);
    member(&p, 0, &a, SP_PHASE_PREFILL, 0, 2, 2, 0);
    a.finished = 1;
    sp_gen_sched_release(s);
    w.got = 99;
    pthread_create(&t, NULL, wait_next, &w);
    pthread_join(t, NULL);
    CHECK_EQ_U64(w.got, 0);
    sp_gen_sched_destroy(s);

    /* a planner blocked on an idle scheduler wakes for close */
    CHECK(sp_gen_sched_create(&c, &s) == SP_OK);
    w.s = s;
    w.got = 99;
    pthread_create(&t, NULL, wait_next, &w);
    sp_gen_sched_close(s);
    pthread_join(t, NULL);
    CHECK_EQ_U64(w.got, 0);
    sp_gen_sched_destroy(s);
}

int main(void)
{
    joins_at_step_boundaries();
    max_num_seqs_and_budget();
    chunked_prefill();
    queue_and_kv_limits();
    blocking_and_close();
    return sp_test_done("test_gen_sched");
}
#endif
