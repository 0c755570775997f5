/* The text side of generation: choosing the next token from the decoder's logits (greedy, or a seeded
 * draw with temperature and top-k), the chat template that turns messages into a prompt, each output
 * token's text (WordPiece pieces back to words), and the stop-string check. */
#include <math.h>
#include <string.h>

#include "serve/gen_int.h"

/* ---- sampling ---- */

/* Candidate order for top-k: larger logit first, ties to the lower id, so the set is the same on
 * every machine. */
static int before(float va, float ia, float vb, float ib)
{
    return va > vb || (va == vb && ia < ib);
}

static void swap_pair(float *v, float *ids, size_t a, size_t b)
{
    float tv = v[a], ti = ids[a];
    v[a] = v[b];
    ids[a] = ids[b];
    v[b] = tv;
    ids[b] = ti;
}

/* Moves the k best (value, id) pairs of v[0..n) / ids[0..n) to the front, 1 <= k < n (quickselect,
 * Lomuto's partition around the middle element). Invariant: everything in [0, lo) beats everything
 * from lo on, everything from hi on is beaten by everything before hi, and lo <= k <= hi. */
static void select_top(float *v, float *ids, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        swap_pair(v, ids, lo + (hi - lo) / 2, hi - 1);
        size_t store = lo;
        for (size_t i = lo; i < hi - 1; i++)
            if (before(v[i], ids[i], v[hi - 1], ids[hi - 1]))
                swap_pair(v, ids, i, store++);
        swap_pair(v, ids, store, hi - 1);
        if (store == k || store + 1 == k)
            return;
        if (store > k)
            hi = store;
        else
            lo = store + 1;
    }
}

int32_t sp_gen_sample(const float *logits, size_t vocab, const uint8_t *banned, const sp_gen_sampling *s,
                      sp_rng *rng, float *scratch)
{
    if (s->temperature <= 0.0) {
        int32_t best = -1;
        for (size_t i = 0; i < vocab; i++)
            if (!(banned && banned[i]) && (best < 0 || logits[i] > logits[best]))
                best = (int32_t)i;
        return best;
    }
    /* candidates as (logit, id) pairs; ids are below 2^24, exact in a float */
    float *v = scratch, *ids = scratch + vocab;
    size_t n = 0;
    for (size_t i = 0; i < vocab; i++) {
        if (banned && banned[i])
            continue;
        v[n] = logits[i];
        ids[n] = (float)i;
        n++;
    }
    if (n == 0)
        return -1;
    if (s->top_k > 0 && s->top_k < n) {
        select_top(v, ids, n, s->top_k);
        n = s->top_k;
    }
    float mx = v[0];
    for (size_t i = 1; i < n; i++)
        mx = v[i] > mx ? v[i] : mx;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += exp(((double)v[i] - mx) / s->temperature);
    double u = sp_rng_uniform(rng) * sum, acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        acc += exp(((double)v[i] - mx) / s->temperature);
        if (u < acc)
            return (int32_t)ids[i];
    }
    return (int32_t)ids[n - 1]; /* u within rounding of sum */
}

/* ---- prompt and output text ---- */

static size_t put(char *out, size_t cap, size_t at, const char *s, size_t n)
{
    if (at < cap) {
        size_t k = at + n < cap ? n : cap - at;
        memcpy(out + at, s, k);
    }
    return at + n;
}

size_t sp_gen_chat_prompt(const sp_gen_message *m, size_t n, char *out, size_t cap)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        at = put(out, cap, at, m[i].role, m[i].role_len);
        at = put(out, cap, at, ": ", 2);
        at = put(out, cap, at, m[i].content, m[i].content_len);
        at = put(out, cap, at, "\n", 1);
    }
    at = put(out, cap, at, "assistant:", 10);
    if (cap > 0)
        out[at < cap ? at : cap - 1] = '\0';
    return at;
}

size_t sp_gen_token_text(const sp_tokenizer *tok, int32_t id, int first, char *out, size_t cap)
{
    const char *p = sp_tokenizer_piece(tok, id);
    size_t at = 0;
    if (!p)
        p = "";
    if (strncmp(p, "##", 2) == 0) {
        at = put(out, cap, at, p + 2, strlen(p + 2));
    } else {
        if (!first)
            at = put(out, cap, at, " ", 1);
        at = put(out, cap, at, p, strlen(p));
    }
    if (cap > 0)
        out[at < cap ? at : cap - 1] = '\0';
    return at;
}

int sp_gen_stop_found(const char *text, size_t len, size_t from, char *const *stop, const size_t *stop_len,
                      size_t n_stop)
{
    for (size_t i = 0; i < n_stop; i++) {
        size_t sl = stop_len[i];
        if (sl == 0 || sl > len)
            continue;
        /* a match ending at or after `from` + 1 starts at or after from + 1 - sl */
        size_t b = from + 1 > sl ? from + 1 - sl : 0;
        for (size_t at = b; at + sl <= len; at++)
            if (memcmp(text + at, stop[i], sl) == 0)
                return 1;
    }
    return 0;
}
