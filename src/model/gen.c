/* The event model's generation part (docs/generation.md): steps (batches whose members each carry a
 * phase and a token count, and the KV cache after the step), each request's output tokens as they
 * left the server, and a streaming client's token arrivals; and the finishing pass's work on tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "model/events_int.h"

const char *const sp_ev_phase_names[SP_EV_PHASE_COUNT] = {"decode", "prefill", "prefill_chunk"};

int sp_ev_phase_of(const char *s, size_t n)
{
    for (int q = 0; q < SP_EV_PHASE_COUNT; q++)
        if (strlen(sp_ev_phase_names[q]) == n && memcmp(sp_ev_phase_names[q], s, n) == 0)
            return q;
    return -1;
}

sp_status sp_ev_set_step(struct sp_events *ev, uint32_t batch, const uint8_t *phases, const uint32_t *tokens,
                         size_t n, int64_t kv_used, int64_t kv_capacity)
{
    if (batch >= ev->n_batches || n != ev->batches[batch].nmembers)
        return SP_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if (phases[i] >= SP_EV_PHASE_COUNT)
            return SP_ERR_INVALID;
    sp_status st = SP_GROW(ev->step_members, ev->cap_step_members, ev->n_step_members + n, SP_EV_MAX_RECORDS);
    if (!st)
        st = SP_GROW(ev->steps, ev->cap_steps, ev->n_steps + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    uint32_t first = (uint32_t)ev->n_step_members;
    for (size_t i = 0; i < n; i++)
        ev->step_members[first + i] = (sp_ev_step_member){tokens[i], phases[i]};
    ev->n_step_members += n;
    /* a repeated step record replaces the earlier one's entry (its members stay as garbage, as a
     * repeated batch record's do) */
    ev->batches[batch].step = (uint32_t)ev->n_steps;
    ev->steps[ev->n_steps++] = (sp_ev_step){batch, first, kv_used < 0 ? -1 : kv_used,
                                            kv_capacity <= 0 ? 0 : kv_capacity};
    ev->finished = false;
    return SP_OK;
}

void sp_ev_clear_step(struct sp_events *ev, uint32_t batch)
{
    if (batch < ev->n_batches && ev->batches[batch].step != SP_EV_NONE) {
        ev->batches[batch].step = SP_EV_NONE;
        ev->finished = false;
    }
}

int sp_ev_step_phase(const struct sp_events *ev, uint32_t batch, uint32_t req, uint32_t *tokens)
{
    const sp_ev_batch *b = &ev->batches[batch];
    if (b->step == SP_EV_NONE)
        return -1;
    const sp_ev_step *s = &ev->steps[b->step];
    for (uint32_t m = 0; m < b->nmembers; m++)
        if (ev->members[b->first_member + m] == req) {
            if (tokens)
                *tokens = ev->step_members[s->first + m].tokens;
            return ev->step_members[s->first + m].phase;
        }
    return -1;
}

sp_status sp_ev_add_token(struct sp_events *ev, uint32_t req, uint64_t index, uint64_t time_ns)
{
    sp_status st = SP_GROW(ev->tokens, ev->cap_tokens, ev->n_tokens + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    ev->tokens[ev->n_tokens++] = (sp_ev_token){req, index, time_ns};
    ev->finished = false;
    return SP_OK;
}

sp_status sp_ev_add_client_tokens(struct sp_events *ev, const uint64_t *times, size_t n, uint32_t *out_first)
{
    if (n > SP_EV_MAX_RECORDS)
        return SP_ERR_LIMIT;
    sp_status st = SP_GROW(ev->client_tokens, ev->cap_client_tokens, ev->n_client_tokens + n, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    if (n)
        memcpy(ev->client_tokens + ev->n_client_tokens, times, n * sizeof *times);
    *out_first = (uint32_t)ev->n_client_tokens;
    ev->n_client_tokens += n;
    ev->finished = false;
    return SP_OK;
}

/* Tokens by request, index, then time: a request's tokens in output order, and of two records for
 * one index the earlier first. */
static int token_cmp(const void *a, const void *b)
{
    const sp_ev_token *x = a, *y = b;
    if (x->req != y->req)
        return x->req < y->req ? -1 : 1;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return (x->time_ns > y->time_ns) - (x->time_ns < y->time_ns);
}

sp_status sp_ev_finish_tokens(struct sp_events *ev, bool lenient, sp_ev_token_clash *clash)
{
    /* only requests with a side record can hold an earlier finish's tokens */
    for (size_t i = 0; i < ev->n_req_colds; i++)
        ev->req_colds[i].first_token = ev->req_colds[i].ntokens = 0;
    if (!ev->n_tokens)
        return SP_OK;
    qsort(ev->tokens, ev->n_tokens, sizeof *ev->tokens, token_cmp);
    size_t m = 0;
    for (size_t i = 0; i < ev->n_tokens; i++) {
        const sp_ev_token *t = &ev->tokens[i];
        if (m && ev->tokens[m - 1].req == t->req && ev->tokens[m - 1].index == t->index) {
            if (ev->tokens[m - 1].time_ns == t->time_ns)
                continue;   /* an exact repeat is harmless */
            if (!lenient) {
                *clash = (sp_ev_token_clash){t->req, t->index, ev->tokens[m - 1].time_ns, t->time_ns};
                return SP_ERR_PARSE;
            }
            ev->files[ev->requests[t->req].file].skipped++;
            continue;
        }
        ev->tokens[m++] = *t;
    }
    ev->n_tokens = m;
    /* sorted by request: one side record per run of a request's tokens */
    sp_ev_request_cold *qc = NULL;
    for (size_t i = 0; i < m; i++) {
        if (!i || ev->tokens[i].req != ev->tokens[i - 1].req) {
            sp_status st = sp_ev_cold_get(ev, ev->tokens[i].req, &qc);
            if (st)
                return st;
            qc->first_token = (uint32_t)i;
        }
        qc->ntokens++;
    }
    return SP_OK;
}
