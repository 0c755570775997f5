/* Dynamic batcher: batch formation (size, bucket, static shape, FIFO), the bounded queue, the
 * delay window and close. Waits are observed through the batcher itself, never slept. */
#include <pthread.h>
#include <string.h>

#include "testlib.h"

#ifndef SERVPROF_SERVE_ENABLED
int main(void) { return 77; }
#else
#include "serve/serve_int.h"

static sp_batcher_config base_cfg(void)
{
    sp_batcher_config c;
    memset(&c, 0, sizeof(c));
    c.max_batch = 4;
    c.max_delay_ns = 60ull * 1000000000ull; /* a minute: a test that waits for it fails by timeout */
    c.capacity = 8;
    c.max_len = 128;
    return c;
}

static void *wait_next(void *arg)
{
    sp_batch_item items[4];
    uint32_t pad = 0;
    size_t n = sp_batcher_next((sp_batcher *)arg, items, 4, &pad);
    return (void *)(uintptr_t)(n + 1);
}

int main(void)
{
    int tags[16];
    sp_batch_item items[16];
    uint32_t pad = 0;

    /* a full batch goes at once, without waiting out the delay; padded to its longest member */
    {
        sp_batcher_config c = base_cfg();
        sp_batcher *b;
        CHECK(sp_batcher_create(&c, &b) == SP_OK);
        uint32_t lens[5] = {7, 3, 12, 5, 9};
        for (int i = 0; i < 5; i++)
            CHECK(sp_batcher_push(b, &tags[i], 1, lens[i], sp_now_ns()) == SP_OK);
        uint64_t t0 = sp_now_ns();
        size_t n = sp_batcher_next(b, items, 16, &pad);
        CHECK(sp_now_ns() - t0 < 30ull * 1000000000ull);
        CHECK_EQ_U64(n, 4);
        CHECK_EQ_U64(pad, 12);
        for (int i = 0; i < 4; i++)
            CHECK(items[i].user == &tags[i]); /* FIFO */
        CHECK_EQ_U64(sp_batcher_depth(b), 1);
        sp_batcher_close(b);
        CHECK(sp_batcher_push(b, &tags[9], 1, 1, sp_now_ns()) == SP_ERR_STATE);
        n = sp_batcher_next(b, items, 16, &pad); /* closed: the rest goes without waiting */
        CHECK_EQ_U64(n, 1);
        CHECK(items[0].user == &tags[4]);
        CHECK_EQ_U64(pad, 9);
        CHECK_EQ_U64(sp_batcher_next(b, items, 16, &pad), 0);
        sp_batcher_destroy(b);
    }
    /* bounded queue: the push past capacity fails (the server answers 503) */
    {
        sp_batcher_config c = base_cfg();
        sp_batcher *b;
        CHECK(sp_batcher_create(&c, &b) == SP_OK);
        for (int i = 0; i < 8; i++)
            CHECK(sp_batcher_push(b, &tags[i], 1, 4, sp_now_ns()) == SP_OK);
        CHECK(sp_batcher_push(b, &tags[8], 1, 4, sp_now_ns()) == SP_ERR_LIMIT);
        CHECK_EQ_U64(sp_batcher_next(b, items, 16, &pad), 4);
        CHECK(sp_batcher_push(b, &tags[8], 1, 4, sp_now_ns()) == SP_OK); /* room again */
        sp_batcher_destroy(b);
    }
    /* buckets 16, 64: lengths 10 and 12 share bucket 16; 100 is past the largest bucket, so it pads
     * to max_len 128; 60 goes to 64. The head's bucket goes first. */
    {
        sp_batcher_config c = base_cfg();
        c.buckets[0] = 16;
        c.buckets[1] = 64;
        sp_batcher *b;
        CHECK(sp_batcher_create(&c, &b) == SP_OK);
        CHECK(sp_batcher_push(b, &tags[0], 1, 10, sp_now_ns()) == SP_OK);
        CHECK(sp_batcher_push(b, &tags[1], 1, 100, sp_now_ns()) == SP_OK);
        CHECK(sp_batcher_push(b, &tags[2], 1, 12, sp_now_ns()) == SP_OK);
        CHECK(sp_batcher_push(b, &tags[3], 1, 60, sp_now_ns()) == SP_OK);
        sp_batcher_close(b);
        CHECK_EQ_U64(sp_batcher_next(b, items, 16, &pad), 2);
        CHECK(items[0].user == &tags[0] && items[1].user == &tags[2]);
        CHECK_EQ_U64(pad, 16);
        CHECK_EQ_U64(sp_batcher_next(b, items, 16, &pad), 1);
        CHECK(items[0].user == &tags[1]);
        CHECK_EQ_U64(pad, 128);
        CHECK_EQ_U64(sp_batcher_next(b, items, 16, &pad), 1);
        CHECK_EQ_U64(pad, 64);
        sp_batcher_destroy(b);
        /* buckets must ascend */
        c.buckets[1] = 8;
        CHECK(sp_batcher_create(&c, &b) == SP_ERR_INVALID);
    }
    /* static shape: every batch pads to pad_to, whatever its members' lengths */
    {
        sp_batcher_config c = base_cfg();
        c.pad_to = 32;
        sp_batcher *b;
        CHECK(sp_batcher_create(&c, &b) == SP_OK);
        CHECK(sp_batcher_push(b, &tags[0], 1, 5, sp_now_ns()) == SP_OK);
        sp_batcher_close(b);
        CHECK_EQ_U64(sp_batcher_next(b, items, 16, &pad), 1);
        CHECK_EQ_U64(pad, 32);
        sp_batcher_destroy(b);
    }
    /* sequences, not requests, fill a batch: 3 + 3 > 4, so two batches; a request with more
     * sequences than max_batch still runs (alone) */
    {
        sp_batcher_config c = base_cfg();
        sp_batcher *b;
        CHECK(sp_batcher_create(&c, &b) == SP_OK);
        CHECK(sp_batcher_push(b, &tags[0], 3, 5, sp_now_ns()) == SP_OK);
        CHECK(sp_batcher_push(b, &tags[1], 3, 5, sp_now_ns()) == SP_OK);
        CHECK(sp_batcher_push(b, &tags[2], 9, 5, sp_now_ns()) == SP_OK);
        /* 3+3 >= 4 sequences wait, so the first batch is due without the delay */
        CHECK_EQ_U64(sp_batcher_next(b, items, 16, &pad), 1);
        CHECK(items[0].user == &tags[0]);
        CHECK_EQ_U64(sp_batcher_next(b, items, 16, &pad), 1);
        CHECK(items[0].user == &tags[1]);
        CHECK_EQ_U64(sp_batcher_next(b, items, 16, &pad), 1);
        CHECK(items[0].user == &tags[2] && items[0].seqs == 9);
        sp_batcher_destroy(b);
    }
    /* the delay window: a lone request goes once it has waited max_delay, not before */
    {
        sp_batcher_config c = base_cfg();
        c.max_delay_ns = 3000000; /* 3 ms */
        sp_batcher *b;
        CHECK(sp_batcher_create(&c, &b) == SP_OK);
        uint64_t t0 = sp_now_ns();
        CHECK(sp_batcher_push(b, &tags[0], 1, 5, t0) == SP_OK);
        CHECK_EQ_U64(sp_batcher_next(b, items, 16, &pad), 1);
        CHECK(sp_now_ns() - t0 >= 3000000);
        CHECK_EQ_U64(items[0].enqueue_ns, t0);
        sp_batcher_destroy(b);
    }
    /* close wakes a worker blocked on an empty queue */
    {
        sp_batcher_config c = base_cfg();
        sp_batcher *b;
        CHECK(sp_batcher_create(&c, &b) == SP_OK);
        pthread_t th;
        pthread_create(&th, NULL, wait_next, b);
        sp_batcher_close(b);
        void *ret;
        pthread_join(th, &ret);
        CHECK_EQ_U64((uintptr_t)ret, 1); /* returned 0 items */
        sp_batcher_destroy(b);
    }
    sp_batcher_destroy(NULL);
    return sp_test_done("test_batcher");
}
#endif
