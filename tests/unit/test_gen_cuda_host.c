/* The CUDA decoder's host-side bookkeeping (src/serve/cuda/dec_layout.c, compiled into the module and
 * here), on the CPU: a mixed step's input block, row by row, against values worked out by hand from
 * the layout dec_layout.h documents (padding rows repeat the last real token, clamp their position,
 * see what the last real row sees and write no key); the graph key of decode-only steps and of steps
 * that are not; every refusal sp_decoder_forward makes, with the out-parameter left alone; and the
 * graph cache's least-recently-used eviction. */
#include <string.h>

#include "serve/cuda/dec_layout.h"
#include "testlib.h"

static const sp_dec_limits LIM = {10, 6, 3, 6, 8, 3}; /* vocab, max_len, slots, positions, rows, logits */

static void mixed_step(void)
{
    const int32_t a[] = {7, 9}, b[] = {4}, c[] = {5};
    /* A: a prefill chunk of 2 tokens at 3..4 padded to 4 rows; B: a decode at 5; C: a prompt's
     * first token, no logits (its prompt goes on next step) */
    sp_cuda_dec_seq s[3] = {{2, 3, 2, 4, a, 1}, {0, 5, 1, 1, b, 1}, {1, 0, 1, 1, c, 0}};
    int32_t block[5 * 8 + 3];
    memset(block, 0x55, sizeof block);
    sp_dec_layout l;
    CHECK(sp_dec_layout_build(s, 3, &LIM, block, &l) == SP_OK);
    CHECK_EQ_U64(l.rows, 6);
    CHECK_EQ_U64(l.logits, 2);
    CHECK_EQ_U64(l.ints, 32);
    CHECK_EQ_U64(l.graph_key, 0); /* a prefill in it: runs eagerly */
    /* by hand: row  id slot pos see wpos
     *   A r0    7   2    3   4    3      see = start + r + 1
     *   A r1    9   2    4   5    4
     *   A r2    9   2    5   5   -1      padding: last real token, sees as r1 does
     *   A r3    9   2    5   5   -1      position 6 clamped to max_len - 1 = 5
     *   B       4   0    5   6    5
     *   C       5   1    0   1    0
     * logit rows: A's last real row (1), B's row (4); C gives none */
    const int32_t want[32] = {7, 9, 9, 9, 4, 5, /* id */ 2, 2, 2, 2, 0, 1, /* slot */
                              3, 4, 5, 5, 5, 0, /* pos */ 4, 5, 5, 5, 6, 1, /* see */
                              3, 4, -1, -1, 5, 0, /* wpos */ 1, 4};
    for (int i = 0; i < 32; i++)
        if (block[i] != want[i]) {
            fprintf(stderr, "block[%d] = %d, want %d\n", i, block[i], want[i]);
            CHECK(0);
        }
    CHECK(block[32] == 0x55555555); /* nothing written past the block */
    /* no block: the checks and the sizes only */
    sp_dec_layout l2;
    CHECK(sp_dec_layout_build(s, 3, &LIM, NULL, &l2) == SP_OK);
    CHECK_EQ_U64(l2.ints, 32);
}

static void graph_keys(void)
{
    const int32_t t[] = {1, 2};
    sp_dec_layout l;
    sp_cuda_dec_seq two[2] = {{0, 2, 1, 1, t, 1}, {2, 0, 1, 1, t + 1, 1}};
    CHECK(sp_dec_layout_build(two, 2, &LIM, NULL, &l) == SP_OK);
    CHECK_EQ_U64(l.graph_key, 2);
    CHECK_EQ_U64(l.ints, 12); /* 5 x 2 rows + 2 logit rows: what a captured graph of 2 copies */
    sp_cuda_dec_seq one[1] = {{1, 4, 1, 1, t, 1}};
    CHECK(sp_dec_layout_build(one, 1, &LIM, NULL, &l) == SP_OK);
    CHECK_EQ_U64(l.graph_key, 1);
    /* not decode-only: a one-token prompt without logits, a padded single token, two tokens */
    sp_cuda_dec_seq nolog[1] = {{1, 0, 1, 1, t, 0}}, padded[1] = {{1, 0, 1, 2, t, 1}}, pair[1] = {{1, 0, 2, 2, t, 1}};
    CHECK(sp_dec_layout_build(nolog, 1, &LIM, NULL, &l) == SP_OK && l.graph_key == 0);
    CHECK(sp_dec_layout_build(padded, 1, &LIM, NULL, &l) == SP_OK && l.graph_key == 0);
    CHECK(sp_dec_layout_build(pair, 1, &LIM, NULL, &l) == SP_OK && l.graph_key == 0);
}

static void refusals(void)
{
    const int32_t t[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, bad_id = 10, neg = -1;
    sp_dec_layout l = {99, 99, 99, 99};
    struct {
        sp_cuda_dec_seq s[2];
        size_t n;
        sp_status want;
        const char *what;
    } cases[] = {
        {{{0, 0, 1, 1, t, 1}}, 0, SP_ERR_INVALID, "no sequence"},
        {{{3, 0, 1, 1, t, 1}}, 1, SP_ERR_INVALID, "slot past the cache"},
        {{{0, 5, 2, 2, t, 1}}, 1, SP_ERR_INVALID, "positions past the cache"},
        {{{0, 0, 0, 1, t, 1}}, 1, SP_ERR_INVALID, "no token"},
        {{{0, 0, 2, 1, t, 1}}, 1, SP_ERR_INVALID, "fewer rows than tokens"},
        {{{0, 0, 1, 1, NULL, 1}}, 1, SP_ERR_INVALID, "no ids"},
        {{{0, 0, 1, 1, &bad_id, 1}}, 1, SP_ERR_INVALID, "id past the vocabulary"},
        {{{0, 0, 1, 1, &neg, 1}}, 1, SP_ERR_INVALID, "negative id"},
        {{{0, 0, 1, 1, t, 1}, {0, 1, 1, 1, t, 1}}, 2, SP_ERR_INVALID, "one slot twice"},
        {{{0, 0, 5, 5, t, 1}, {1, 0, 4, 4, t, 1}}, 2, SP_ERR_LIMIT, "9 rows past 8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sp_status st = sp_dec_layout_build(cases[i].s, cases[i].n, &LIM, NULL, &l);
        if (st != cases[i].want)
            fprintf(stderr, "%s: got %d\n", cases[i].what, (int)st);
        CHECK(st == cases[i].want);
    }
    sp_dec_limits one_logit = LIM;
    one_logit.max_logits = 1;
    sp_cuda_dec_seq two[2] = {{0, 0, 1, 1, t, 1}, {1, 0, 1, 1, t, 1}};
    CHECK(sp_dec_layout_build(two, 2, &one_logit, NULL, &l) == SP_ERR_LIMIT);
    CHECK_EQ_U64(l.rows, 99); /* written on success only */
}

static void graph_cache(void)
{
    int a, b, c;
    sp_graph_lru g;
    CHECK(sp_graph_lru_init(&g, 2) == SP_OK);
    CHECK(sp_graph_lru_find(&g, 1) == NULL);
    CHECK(sp_graph_lru_put(&g, 1, &a) == NULL);
    CHECK(sp_graph_lru_put(&g, 2, &b) == NULL);
    CHECK(sp_graph_lru_find(&g, 1) == &a); /* 1 used after 2: 2 is now the least recent */
    CHECK(sp_graph_lru_put(&g, 3, &c) == &b);
    CHECK(sp_graph_lru_find(&g, 2) == NULL);
    CHECK(sp_graph_lru_find(&g, 1) == &a);
    CHECK(sp_graph_lru_find(&g, 3) == &c);
    CHECK_EQ_U64(g.n, 2);
    sp_graph_lru_free(&g);
    sp_graph_lru none;
    CHECK(sp_graph_lru_init(&none, 0) == SP_OK);
    CHECK(sp_graph_lru_put(&none, 1, &a) == &a); /* graphs off: nothing kept, the caller destroys it */
    CHECK(sp_graph_lru_find(&none, 1) == NULL);
    sp_graph_lru_free(&none);
}

int main(void)
{
    mixed_step();
    graph_keys();
    refusals();
    graph_cache();
    return sp_test_done("test_gen_cuda_host");
}
