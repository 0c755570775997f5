/* WordPiece tokenizer: known answers against the shipped data/tokenizer.json, and bad vocabulary
 * files rejected with a message naming the file. The expected pieces are worked out by hand from
 * BERT's rules (lowercase, strip accents, split punctuation, greedy longest match with "##"), and the
 * test also checks the vocabulary facts each answer relies on (e.g. "hello" is not a token but "hell"
 * and "##o" are), so a regenerated vocabulary that changes an answer fails loudly, not silently. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#ifndef SERVPROF_SERVE_ENABLED
int main(void) { return 77; }
#else
#include "serve/serve_int.h"

static sp_tokenizer *tok;

static int in_vocab(const char *piece) { return sp_tokenizer_id(tok, piece, strlen(piece)) >= 0; }

/* Encodes `text` and compares with the space-separated pieces in `expect`. */
static void check_pieces(const char *text, size_t max_tokens, const char *expect)
{
    int32_t ids[256];
    size_t n = sp_tokenizer_encode(tok, text, strlen(text), ids, max_tokens);
    char got[2048] = "";
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(got, " ");
        strcat(got, sp_tokenizer_piece(tok, ids[i]));
    }
    sp_test_checks++;
    if (strcmp(got, expect) != 0) {
        sp_test_failures++;
        fprintf(stderr, "encode(\"%s\") = \"%s\", expected \"%s\"\n", text, got, expect);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void check_bad(const char *text, const char *want_in_msg)
{
    char path[512], err[512] = "";
    snprintf(path, sizeof(path), "%s/tests/tok_bad_%d.json", SP_BUILD_DIR, (int)getpid());
    write_file(path, text);
    sp_tokenizer *t = NULL;
    sp_status st = sp_tokenizer_load(path, &t, err, sizeof(err));
    CHECK(st != SP_OK);
    CHECK(t == NULL);
    CHECK(strstr(err, path) != NULL);
    if (!strstr(err, want_in_msg)) {
        sp_test_failures++;
        fprintf(stderr, "error \"%s\" does not mention \"%s\"\n", err, want_in_msg);
    }
    sp_test_checks++;
    unlink(path);
}

int main(void)
{
    char err[512];
    sp_status st = sp_tokenizer_load(SP_SOURCE_DIR "/data/tokenizer.json", &tok, err, sizeof(err));
    CHECK(st == SP_OK);
    if (st != SP_OK) {
        fprintf(stderr, "%s\n", err);
        return sp_test_done("test_tokenizer");
    }
    CHECK_EQ_U64(sp_tokenizer_vocab_size(tok), 5000); /* scripts/build-vocab.py --size default */
    /* scripts/build-vocab.py puts the specials first: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3 */
    CHECK_EQ_U64(sp_tokenizer_pad_id(tok), 0);
    CHECK_EQ_U64(sp_tokenizer_id(tok, "[CLS]", 5), 2);
    CHECK_EQ_U64(sp_tokenizer_id(tok, "[SEP]", 5), 3);

    /* "Hello, World!": lowercased to "hello" "," "world" "!". "hello" is not a token; the longest
     * prefix that is, is "hell", leaving "##o". "world": "wor" + "##ld". */
    CHECK(!in_vocab("hello") && in_vocab("hell") && in_vocab("##o"));
    CHECK(!in_vocab("world") && !in_vocab("worl") && in_vocab("wor") && in_vocab("##ld"));
    check_pieces("Hello, World!", 64, "[CLS] hell ##o , wor ##ld ! [SEP]");

    /* whole words that are tokens stay whole; tabs and newlines are whitespace */
    CHECK(in_vocab("the") && in_vocab("quick") && in_vocab("brown") && in_vocab("fox"));
    check_pieces("the\tQUICK  brown\nfox", 64, "[CLS] the quick brown fox [SEP]");

    /* accents stripped after lowercasing (BERT's NFD + drop Mn): "Café" -> "cafe" -> ca ##fe,
     * "NAÏVE" -> "naive" -> na ##ive (neither "cafe"/"caf" nor "naive"/"naiv"/"nai" is a token) */
    CHECK(!in_vocab("cafe") && !in_vocab("caf") && in_vocab("ca") && in_vocab("##fe"));
    CHECK(!in_vocab("naive") && !in_vocab("naiv") && !in_vocab("nai") && in_vocab("na") && in_vocab("##ive"));
    check_pieces("Caf\xc3\xa9 NA\xc3\x8fVE", 64, "[CLS] ca ##fe na ##ive [SEP]");
    /* the same with a combining acute accent (U+0301) instead of the precomposed letter */
    check_pieces("Cafe\xcc\x81", 64, "[CLS] ca ##fe [SEP]");

    /* digits: the vocabulary has every ASCII character bare and with "##", and no digit merges */
    CHECK(!in_vocab("12") && !in_vocab("##23"));
    check_pieces("12345", 64, "[CLS] 1 ##2 ##3 ##4 ##5 [SEP]");

    /* a character with no piece makes its whole word [UNK] (the euro sign is not in the vocabulary) */
    CHECK(!in_vocab("\xe2\x82\xac") && !in_vocab("##\xe2\x82\xac"));
    check_pieces("the a\xe2\x82\xac" "b fox", 64, "[CLS] the [UNK] fox [SEP]");
    /* CJK characters are words of their own: "a中b" is a, [UNK], b */
    check_pieces("a\xe4\xb8\xad" "b", 64, "[CLS] a [UNK] b [SEP]");
    /* a word longer than max_input_chars_per_word (100) is [UNK], even though "a" is a token */
    char longw[160];
    memset(longw, 'a', 150);
    longw[150] = 0;
    check_pieces(longw, 64, "[CLS] [UNK] [SEP]");
    /* control characters and invalid UTF-8 are dropped (clean_text) */
    check_pieces("the\x01 \xff" "fox", 64, "[CLS] the fox [SEP]");
    check_pieces("", 64, "[CLS] [SEP]");

    /* truncation keeps [SEP] last: 4 tokens = [CLS] + 2 pieces + [SEP] */
    check_pieces("the quick brown fox", 4, "[CLS] the quick [SEP]");
    check_pieces("Hello", 3, "[CLS] hell [SEP]");

    /* cost grows with the input; the output never passes max_tokens */
    {
        size_t big = 200000;
        char *text = malloc(big + 1);
        for (size_t i = 0; i < big; i++)
            text[i] = (i % 6 == 5) ? ' ' : "brown"[i % 6];
        text[big] = 0;
        int32_t ids[128];
        size_t n = sp_tokenizer_encode(tok, text, big, ids, 128);
        CHECK_EQ_U64(n, 128);
        CHECK_EQ_U64(ids[127], 3);
        free(text);
    }

    /* bad files */
    {
        char path[] = "/nonexistent/tokenizer.json";
        sp_tokenizer *t = NULL;
        CHECK(sp_tokenizer_load(path, &t, err, sizeof(err)) == SP_ERR_IO && t == NULL);
    }
    check_bad("{\"model\": {\"type\": \"WordPiece\",\n \"vocab\": {\"a\": 0,}}}", ":2:"); /* line 2 */
    check_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "WordPiece");
    check_bad("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2}}}",
              "lacks");
    check_bad("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 0, \"[SEP]\": 2}}}",
              "used twice");
    check_bad("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 7}}}", "id of vocabulary token");
    check_bad("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "missing or empty");

    sp_tokenizer_destroy(tok);
    sp_tokenizer_destroy(NULL);
    return sp_test_done("test_tokenizer");
}
#endif
