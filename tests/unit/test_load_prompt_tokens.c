/* Streaming prompts ask for N prompt tokens as N words of the prompt word list (docs/load.md "Prompt
 * tokens"): every word of the list is one whole token of the project's tokenizer (data/tokenizer.json,
 * loaded with the service's own WordPiece code), so a prompt of N words encodes to exactly N tokens
 * plus [CLS] and [SEP]; max_tokens per request follow --output-length (fixed, uniform range, log-normal
 * mean) and the pairs file, from their own random stream, so prompts do not change with them. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#ifndef SERVPROF_SERVE_ENABLED
int main(void) { return 77; } /* the tokenizer is the service's: compiled out with it */
#else
#include "load/load_int.h"
#include "serve/serve_int.h"

static void test_words_are_tokens(sp_tokenizer *tok)
{
    size_t n;
    const char *const *w = sp_load_prompt_words(&n);
    CHECK_EQ_U64(n, 64);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t ids[8];
        size_t k = sp_tokenizer_encode(tok, w[i], strlen(w[i]), ids, 8);
        if (k != 3) { /* [CLS] word [SEP] */
            fprintf(stderr, "'%s' is %zu tokens\n", w[i], k - 2);
            bad++;
        }
        for (size_t j = 0; j < i; j++)
            bad += strcmp(w[i], w[j]) == 0; /* no repeats: 64 distinct draws */
    }
    CHECK_EQ_U64(bad, 0);
}

static void test_prompts(sp_tokenizer *tok)
{
    sp_load_config o;
    sp_load_config_init(&o);
    sp_load_config_stream(&o, false);
    o.length = SP_LOAD_LENGTH_UNIFORM;
    o.length_min = 1;
    o.length_max = 900;
    sp_textgen t;
    CHECK(sp_textgen_init(&t, &o, NULL, 0) == SP_OK);
    static char text[SP_LOAD_MAX_TEXT];
    static int32_t ids[1024];
    int bad = 0;
    for (uint64_t i = 0; i < 200; i++) {
        uint32_t words;
        size_t len = sp_textgen_text(&t, i, text, sizeof text, &words);
        size_t k = sp_tokenizer_encode(tok, text, len, ids, 1024);
        if (k != (size_t)words + 2 || words != sp_textgen_words(&t, i))
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    sp_textgen_free(&t);
}

static void test_output_lengths(void)
{
    sp_load_config o;
    sp_load_config_init(&o);
    sp_load_config_stream(&o, false);
    sp_textgen t;
    CHECK(sp_textgen_init(&t, &o, NULL, 0) == SP_OK);
    CHECK_EQ_U64(sp_textgen_max_tokens(&t, 5), SP_LOAD_DEFAULT_OUTPUT_TOKENS); /* default fixed:128 */
    sp_textgen_free(&t);

    /* uniform 10..20: every value in range, mean 15 (sd of the mean over 20000 draws: 3.2/141 = 0.02) */
    o.output_length = SP_LOAD_LENGTH_UNIFORM;
    o.output_min = 10;
    o.output_max = 20;
    CHECK(sp_textgen_init(&t, &o, NULL, 0) == SP_OK);
    double sum = 0;
    int out = 0;
    for (uint64_t i = 0; i < 20000; i++) {
        uint32_t m = sp_textgen_max_tokens(&t, i);
        out += m < 10 || m > 20;
        sum += m;
    }
    CHECK_EQ_U64(out, 0);
    CHECK_NEAR(sum / 20000, 15.0, 0.15);
    CHECK_NEAR(sp_textgen_mean_max_tokens(&t), 15.0, 1e-12);
    /* the prompt of a request does not depend on the output distribution */
    char a[4096], b[4096];
    uint32_t wa, wb;
    size_t la = sp_textgen_text(&t, 7, a, sizeof a, &wa);
    sp_textgen_free(&t);
    o.output_length = SP_LOAD_LENGTH_LOGNORMAL;
    o.output_mean = 200;
    o.output_sigma = 0.5;
    CHECK(sp_textgen_init(&t, &o, NULL, 0) == SP_OK);
    size_t lb = sp_textgen_text(&t, 7, b, sizeof b, &wb);
    CHECK(la == lb && wa == wb && memcmp(a, b, la) == 0);
    /* log-normal: arithmetic mean 200 by construction; sd 200 sqrt(e^0.25 - 1) = 107, standard error
     * over 20000 draws 0.76: allow 4 */
    sum = 0;
    for (uint64_t i = 0; i < 20000; i++)
        sum += sp_textgen_max_tokens(&t, i);
    CHECK_NEAR(sum / 20000, 200.0, 4.0);
    sp_textgen_free(&t);

    /* FILE is no output distribution; a max_tokens over the cap is refused */
    o.output_length = SP_LOAD_LENGTH_FILE;
    char err[256] = "";
    CHECK(sp_textgen_init(&t, &o, err, sizeof err) == SP_ERR_INVALID);
    o.output_length = SP_LOAD_LENGTH_FIXED;
    o.output_fixed = SP_LOAD_MAX_OUTPUT_TOKENS + 1;
    CHECK(sp_textgen_init(&t, &o, err, sizeof err) == SP_ERR_INVALID);
    CHECK(strstr(err, "fixed output length must be in [1, 32768] tokens") != NULL);
}

static void test_pairs(sp_tokenizer *tok)
{
    char path[] = "/tmp/sp_load_pairs_XXXXXX";
    int fd = mkstemp(path);
    const char *good = "# prompt output\n12 5\n\n3,40\r\n 7\t9 \n";
    CHECK(write(fd, good, strlen(good)) == (ssize_t)strlen(good));
    close(fd);
    sp_load_config o;
    sp_load_config_init(&o);
    sp_load_config_stream(&o, false);
    o.pairs_path = path;
    sp_textgen t;
    char err[256] = "";
    CHECK(sp_textgen_init(&t, &o, err, sizeof err) == SP_OK);
    /* in order, cycled: (12, 5), (3, 40), (7, 9), (12, 5) */
    const uint32_t want_p[] = {12, 3, 7, 12}, want_o[] = {5, 40, 9, 5};
    for (uint64_t i = 0; i < 4; i++) {
        static char text[4096];
        static int32_t ids[64];
        uint32_t words;
        size_t len = sp_textgen_text(&t, i, text, sizeof text, &words);
        CHECK_EQ_U64(words, want_p[i]);
        CHECK_EQ_U64(sp_tokenizer_encode(tok, text, len, ids, 64), want_p[i] + 2);
        CHECK_EQ_U64(sp_textgen_max_tokens(&t, i), want_o[i]);
    }
    CHECK_NEAR(sp_textgen_mean_max_tokens(&t), 18.0, 1e-12); /* (5 + 40 + 9) / 3 */
    sp_textgen_free(&t);

    /* malformed lines are named by file and line */
    const char *bad[] = {"5 5\n5\n", "5 5\n0 4\n", "5 x\n", "5 5 5\n", "1 32769\n", "# only\n"};
    const char *line[] = {":2:", ":2:", ":1:", ":1:", ":1:", "no pairs"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fd = open(path, O_WRONLY | O_TRUNC);
        CHECK(write(fd, bad[i], strlen(bad[i])) == (ssize_t)strlen(bad[i]));
        close(fd);
        err[0] = '\0';
        CHECK(sp_textgen_init(&t, &o, err, sizeof err) == SP_ERR_PARSE);
        if (!strstr(err, line[i]) || !strstr(err, path))
            fprintf(stderr, "message for '%s': %s\n", bad[i], err);
        CHECK(strstr(err, line[i]) && strstr(err, path));
    }
    unlink(path);
    /* a pairs file without streaming is refused */
    o.stream = false;
    CHECK(sp_textgen_init(&t, &o, err, sizeof err) == SP_ERR_INVALID);
}

int main(void)
{
    sp_tokenizer *tok = NULL;
    char err[512];
    if (sp_tokenizer_load(SP_SOURCE_DIR "/data/tokenizer.json", &tok, err, sizeof err) != SP_OK) {
        fprintf(stderr, "tokenizer: %s\n", err);
        return 1;
    }
    test_words_are_tokens(tok);
    test_prompts(tok);
    test_output_lengths();
    test_pairs(tok);
    sp_tokenizer_destroy(tok);
    return sp_test_done("test_load_prompt_tokens");
}
#endif
