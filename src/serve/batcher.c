/* Dynamic batcher: a bounded FIFO of waiting requests from which worker threads take batches of up
 * to max_batch sequences, as soon as that many of one length bucket wait or the oldest has waited
 * max_delay (Triton's max_queue_delay), padded to the longest member, a bucket bound or a static
 * shape. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/serve_int.h"

struct sp_batcher {
    sp_batcher_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC, the clock of sp_now_ns */
    sp_batch_item *items; /* FIFO: [0, count), oldest first */
    size_t count;
    int closed;
};

sp_status sp_batcher_create(const sp_batcher_config *cfg, sp_batcher **out)
{
    if (!cfg || cfg->max_batch == 0 || cfg->capacity == 0 || cfg->max_len == 0)
        return SP_ERR_INVALID;
    for (int i = 1; i < SP_BATCHER_MAX_BUCKETS && cfg->buckets[i]; i++)
        if (cfg->buckets[i] <= cfg->buckets[i - 1])
            return SP_ERR_INVALID;
    sp_batcher *b = calloc(1, sizeof(*b));
    if (!b)
        return SP_ERR_NOMEM;
    b->items = calloc(cfg->capacity, sizeof(*b->items));
    if (!b->items) {
        free(b);
        return SP_ERR_NOMEM;
    }
    b->cfg = *cfg;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&b->mu, NULL);
    *out = b;
    return SP_OK;
}

void sp_batcher_destroy(sp_batcher *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b->items);
    free(b);
}

/* The padded length a request is grouped under: the static shape, its bucket, or 0 (no grouping:
 * the batch pads to its longest member). */
static uint32_t bucket_of(const sp_batcher_config *c, uint32_t len)
{
    if (c->pad_to)
        return c->pad_to;
    if (!c->buckets[0])
        return 0;
    for (int i = 0; i < SP_BATCHER_MAX_BUCKETS && c->buckets[i]; i++)
        if (len <= c->buckets[i])
            return c->buckets[i];
    return c->max_len;
}

sp_status sp_batcher_push(sp_batcher *b, void *user, uint32_t seqs, uint32_t max_len, uint64_t now_ns)
{
    pthread_mutex_lock(&b->mu);
    sp_status st = SP_OK;
    if (b->closed) {
        st = SP_ERR_STATE;
    } else if (b->count == b->cfg.capacity) {
        st = SP_ERR_LIMIT;
    } else {
        sp_batch_item *it = &b->items[b->count++];
        it->user = user;
        it->seqs = seqs ? seqs : 1;
        it->max_len = max_len;
        it->bucket = bucket_of(&b->cfg, max_len);
        it->enqueue_ns = now_ns;
        pthread_cond_signal(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return st;
}

size_t sp_batcher_next(sp_batcher *b, sp_batch_item *out, size_t cap, uint32_t *padded_len)
{
    pthread_mutex_lock(&b->mu);
    for (;;) {
        if (b->count == 0) {
            if (b->closed) {
                pthread_mutex_unlock(&b->mu);
                return 0;
            }
            pthread_cond_wait(&b->cv, &b->mu);
            continue;
        }
        const sp_batch_item *head = &b->items[0];
        uint64_t waiting = 0;
        for (size_t i = 0; i < b->count && waiting < b->cfg.max_batch; i++)
            if (b->items[i].bucket == head->bucket)
                waiting += b->items[i].seqs;
        uint64_t deadline = head->enqueue_ns + b->cfg.max_delay_ns;
        if (!b->closed && waiting < b->cfg.max_batch && sp_now_ns() < deadline) {
            struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
            continue;
        }
        /* take the head, then later requests of its bucket in arrival order while they fit */
        uint32_t key = head->bucket;
        size_t n = 0, keep = 0;
        uint64_t seqs = 0;
        uint32_t longest = 0;
        int full = 0;
        for (size_t i = 0; i < b->count; i++) {
            sp_batch_item *it = &b->items[i];
            int take = !full && it->bucket == key && n < cap && (n == 0 || seqs + it->seqs <= b->cfg.max_batch);
            if (it->bucket == key && !take)
                full = 1; /* FIFO within a bucket: nobody overtakes a request that did not fit */
            if (take) {
                out[n++] = *it;
                seqs += it->seqs;
                if (it->max_len > longest)
                    longest = it->max_len;
            } else {
                b->items[keep++] = *it;
            }
        }
        b->count = keep;
        *padded_len = key ? key : longest;
        if (b->count)
            pthread_cond_signal(&b->cv); /* another worker may have a batch due */
        pthread_mutex_unlock(&b->mu);
        return n;
    }
}

void sp_batcher_close(sp_batcher *b)
{
    pthread_mutex_lock(&b->mu);
    b->closed = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

size_t sp_batcher_depth(sp_batcher *b)
{
    pthread_mutex_lock(&b->mu);
    size_t n = b->count;
    pthread_mutex_unlock(&b->mu);
    return n;
}
