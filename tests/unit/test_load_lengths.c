/* Request texts of the load generator: word counts follow the chosen distribution (log-normal mean
 * and median, uniform range and mean, fixed), the text has exactly that many words, texts are a
 * pure function of (seed, index), and a lines file is cycled in order with JSON escaping. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load/load_int.h"
#include "testlib.h"

#define N 100000

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void test_lognormal(void)
{
    sp_load_config o;
    sp_load_config_init(&o);
    o.length = SP_LOAD_LENGTH_LOGNORMAL;
    o.length_mean = 40.0;
    o.length_sigma = 0.5;
    sp_textgen t;
    CHECK(sp_textgen_init(&t, &o, NULL, 0) == SP_OK);
    uint32_t *w = malloc(N * sizeof *w);
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += w[i] = sp_textgen_words(&t, (uint64_t)i);
    /* arithmetic mean 40 by construction (mu = ln 40 - sigma^2/2); sd of a log-normal with s = 0.5
     * is 40 * sqrt(e^0.25 - 1) = 21.3, standard error 0.07: allow 0.5 (rounding to integers moves
     * the mean by much less) */
    CHECK_NEAR(sum / N, 40.0, 0.5);
    /* median = e^mu = 40 * e^-0.125 = 35.3 */
    qsort(w, N, sizeof *w, cmp_u32);
    CHECK_NEAR(w[N / 2], 35.3, 1.0);
    CHECK(w[0] >= 1);
    free(w);
    sp_textgen_free(&t);
}

static void test_uniform_fixed(void)
{
    sp_load_config o;
    sp_load_config_init(&o);
    o.length = SP_LOAD_LENGTH_UNIFORM;
    o.length_min = 5;
    o.length_max = 15;
    sp_textgen t;
    CHECK(sp_textgen_init(&t, &o, NULL, 0) == SP_OK);
    uint64_t hist[16] = {0};
    int out = 0;
    for (int i = 0; i < N; i++) {
        uint32_t w = sp_textgen_words(&t, (uint64_t)i);
        if (w < 5 || w > 15)
            out++;
        else
            hist[w]++;
    }
    CHECK_EQ_U64(out, 0);
    /* 11 values, each expected N/11 = 9091 times, binomial sd 91: allow 5 sd */
    for (int v = 5; v <= 15; v++)
        CHECK_NEAR((double)hist[v], N / 11.0, 455);
    sp_textgen_free(&t);

    o.length = SP_LOAD_LENGTH_FIXED;
    o.length_fixed = 7;
    CHECK(sp_textgen_init(&t, &o, NULL, 0) == SP_OK);
    char buf[4096];
    uint32_t words = 0;
    size_t len = sp_textgen_text(&t, 3, buf, sizeof buf, &words);
    CHECK_EQ_U64(words, 7);
    int spaces = 0;
    for (size_t i = 0; i < len; i++) {
        spaces += buf[i] == ' ';
        CHECK(buf[i] == ' ' || (buf[i] >= 'a' && buf[i] <= 'z'));
    }
    CHECK_EQ_U64(spaces, 6); /* 7 words, single spaces between */
    /* same index, same text; the text does not depend on what was generated before */
    char buf2[4096];
    uint32_t w2;
    sp_textgen_text(&t, 0, buf2, sizeof buf2, &w2);
    size_t len2 = sp_textgen_text(&t, 3, buf2, sizeof buf2, &w2);
    CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
    sp_textgen_free(&t);

    o.length_fixed = 0;
    CHECK(sp_textgen_init(&t, &o, NULL, 0) == SP_ERR_INVALID);
}

static void test_file(void)
{
    char path[] = "/tmp/sp_lines_XXXXXX";
    int fd = mkstemp(path);
    const char *text = "hello world\r\n\nsay \"hi\" \\ now\n  three   spaced words  \n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    sp_load_config o;
    sp_load_config_init(&o);
    o.length = SP_LOAD_LENGTH_FILE;
    o.length_path = path;
    sp_textgen t;
    char err[256];
    CHECK(sp_textgen_init(&t, &o, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(t.n_lines, 3); /* the empty line is skipped */
    char buf[256];
    uint32_t words;
    size_t len = sp_textgen_text(&t, 0, buf, sizeof buf, &words);
    CHECK(len == 11 && memcmp(buf, "hello world", 11) == 0); /* the CR is not part of the text */
    CHECK_EQ_U64(words, 2);
    len = sp_textgen_text(&t, 1, buf, sizeof buf, &words);
    const char *want = "say \\\"hi\\\" \\\\ now"; /* JSON-escaped quotes and backslash */
    CHECK(len == strlen(want) && memcmp(buf, want, len) == 0);
    CHECK_EQ_U64(words, 4);
    CHECK_EQ_U64(sp_textgen_words(&t, 2), 3);
    CHECK_EQ_U64(sp_textgen_words(&t, 5), 3); /* cycled: index 5 is line 5 mod 3 = 2 */
    sp_textgen_free(&t);
    unlink(path);
    o.length_path = "/nonexistent/lines.txt";
    CHECK(sp_textgen_init(&t, &o, err, sizeof err) == SP_ERR_IO);
    CHECK(strstr(err, "/nonexistent/lines.txt") != NULL);
}

int main(void)
{
    test_lognormal();
    test_uniform_fixed();
    test_file();
    return sp_test_done("test_load_lengths");
}
