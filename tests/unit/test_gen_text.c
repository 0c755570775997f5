/* The generation service's text side: sampling (greedy and its ties, banned ids, top-k, and the
 * frequencies of seeded draws against softmax(logits / temperature) worked out by hand), the chat
 * template, each output token's text from the shipped WordPiece vocabulary, and the stop-string
 * check. */
#include <string.h>

#include "testlib.h"

#ifndef SERVPROF_SERVE_ENABLED
int main(void) { return 77; }
#else
#include "serve/gen_int.h"

/* Frequencies of `n` draws from logits {0, ln 2, ln 4, -inf-ish banned} vs the expected ones. */
static void check_draws(double temperature, uint32_t top_k, const double *want)
{
    float logits[4] = {0.0f, (float)log(2.0), (float)log(4.0), 5.0f};
    uint8_t banned[4] = {0, 0, 0, 1}; /* the most likely id is banned: never drawn */
    float scratch[8];
    sp_gen_sampling s = {temperature, top_k};
    sp_rng rng;
    sp_rng_seed(&rng, 11, 0);
    int count[4] = {0}, outside = 0;
    const int n = 70000;
    for (int i = 0; i < n; i++) {
        int32_t t = sp_gen_sample(logits, 4, banned, &s, &rng, scratch);
        if (t >= 0 && t < 4)
            count[t]++;
        else
            outside++;
    }
    CHECK_EQ_U64(outside, 0);
    CHECK_EQ_U64(count[3], 0);
    /* binomial standard deviation at n = 70000 is at most 0.0019: 0.01 is over 5 of them */
    for (int i = 0; i < 3; i++)
        CHECK_NEAR((double)count[i] / n, want[i], 0.01);
}

int main(void)
{
    /* greedy: the largest logit, ties to the lowest id, banned ids skipped, all banned: -1 */
    float l[5] = {0.5f, 2.0f, 2.0f, -1.0f, 1.0f};
    float scratch[10];
    sp_gen_sampling greedy = {0.0, 0};
    CHECK_EQ_U64(sp_gen_sample(l, 5, NULL, &greedy, NULL, scratch), 1);
    uint8_t ban1[5] = {0, 1, 0, 0, 0};
    CHECK_EQ_U64(sp_gen_sample(l, 5, ban1, &greedy, NULL, scratch), 2);
    uint8_t all[5] = {1, 1, 1, 1, 1};
    CHECK(sp_gen_sample(l, 5, all, &greedy, NULL, scratch) == -1);
    /* top_k = 1 at any temperature is greedy (with the same tie rule) */
    sp_gen_sampling k1 = {1.5, 1};
    sp_rng rng;
    sp_rng_seed(&rng, 1, 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ_U64(sp_gen_sample(l, 5, NULL, &k1, &rng, scratch), 1);

    /* probabilities by hand: softmax of {0, ln 2, ln 4} is {1, 2, 4} / 7; at temperature 0.5 the
     * weights square, {1, 4, 16} / 21; top_k = 2 keeps ids 1 and 2, {2, 4} / 6 */
    const double t1[3] = {1.0 / 7, 2.0 / 7, 4.0 / 7};
    const double t05[3] = {1.0 / 21, 4.0 / 21, 16.0 / 21};
    const double k2[3] = {0.0, 2.0 / 6, 4.0 / 6};
    check_draws(1.0, 0, t1);
    check_draws(0.5, 0, t05);
    check_draws(1.0, 2, k2);

    /* the same seed draws the same sequence; another seed another one */
    float flat[64];
    for (int i = 0; i < 64; i++)
        flat[i] = (float)(i % 7) * 0.1f;
    float sc[128];
    sp_gen_sampling t = {1.0, 0};
    int32_t x[20], y[20], z[20];
    sp_rng r1, r2, r3;
    sp_rng_seed(&r1, 5, 0);
    sp_rng_seed(&r2, 5, 0);
    sp_rng_seed(&r3, 6, 0);
    for (int i = 0; i < 20; i++) {
        x[i] = sp_gen_sample(flat, 64, NULL, &t, &r1, sc);
        y[i] = sp_gen_sample(flat, 64, NULL, &t, &r2, sc);
        z[i] = sp_gen_sample(flat, 64, NULL, &t, &r3, sc);
    }
    CHECK(memcmp(x, y, sizeof x) == 0);
    CHECK(memcmp(x, z, sizeof x) != 0);
    /* top_k over many candidates with ties: only the k best (values 0.6, ids 6, 13, ...) are drawn */
    sp_gen_sampling k3 = {1.0, 3};
    int seen[64] = {0};
    for (int i = 0; i < 300; i++) {
        int32_t d = sp_gen_sample(flat, 64, NULL, &k3, &r1, sc);
        if (d >= 0 && d < 64)
            seen[d]++;
    }
    CHECK(seen[6] > 0 && seen[13] > 0 && seen[20] > 0);
    CHECK_EQ_U64(seen[6] + seen[13] + seen[20], 300);

    /* the chat template */
    sp_gen_message m[2] = {{"system", "Be brief.", 6, 9}, {"user", "hi", 4, 2}};
    char buf[128];
    size_t n = sp_gen_chat_prompt(m, 2, buf, sizeof buf);
    CHECK(strcmp(buf, "system: Be brief.\nuser: hi\nassistant:") == 0);
    CHECK_EQ_U64(n, strlen(buf));
    char small[8];
    CHECK_EQ_U64(sp_gen_chat_prompt(m, 2, small, sizeof small), n); /* the length it needs */
    CHECK(strlen(small) == 7);

    /* token text from the shipped vocabulary: a word piece starts a word after a space (none for the
     * first token of a chat reply), a "##" piece joins the word before it */
    char err[512];
    sp_tokenizer *tok;
    CHECK(sp_tokenizer_load(SP_SOURCE_DIR "/data/tokenizer.json", &tok, err, sizeof err) == SP_OK);
    int32_t the = sp_tokenizer_id(tok, "the", 3), ing = sp_tokenizer_id(tok, "##ing", 5);
    CHECK(the >= 0 && ing >= 0);
    char tt[64];
    CHECK_EQ_U64(sp_gen_token_text(tok, the, 0, tt, sizeof tt), 4);
    CHECK(strcmp(tt, " the") == 0);
    sp_gen_token_text(tok, the, 1, tt, sizeof tt);
    CHECK(strcmp(tt, "the") == 0);
    sp_gen_token_text(tok, ing, 0, tt, sizeof tt);
    CHECK(strcmp(tt, "ing") == 0);
    sp_tokenizer_destroy(tok);

    /* stop strings: found when the text from `from` on completes one; one found earlier is not
     * looked for again */
    char *stop[2] = {"END", "\n\n"};
    size_t sl[2] = {3, 2};
    const char *txt = "abc EN";
    CHECK(!sp_gen_stop_found(txt, strlen(txt), 4, stop, sl, 2));
    const char *txt2 = "abc END";
    CHECK(sp_gen_stop_found(txt2, strlen(txt2), 6, stop, sl, 2));  /* "D" completed it */
    CHECK(sp_gen_stop_found(txt2, strlen(txt2), 4, stop, sl, 2));  /* " END" arrived at once */
    const char *txt3 = "END and more";
    CHECK(!sp_gen_stop_found(txt3, strlen(txt3), 4, stop, sl, 2)); /* before the new text */
    const char *txt4 = "one\n\ntwo";
    CHECK(sp_gen_stop_found(txt4, strlen(txt4), 4, stop, sl, 2));
    CHECK(!sp_gen_stop_found(txt4, strlen(txt4), 4, stop, sl, 0));
    return sp_test_done("test_gen_text");
}
#endif
