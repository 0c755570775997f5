/* BERT-style WordPiece tokenizer over the vocabulary of a Hugging Face tokenizer.json: basic
 * tokenisation (clean, lowercase and strip accents, split on whitespace, punctuation and CJK
 * characters), then greedy longest-match-first word pieces with the "##" continuation prefix. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"
#include "common/util_int.h"
#include "serve/serve_int.h"

typedef struct tok_entry {
    uint32_t offset; /* into the string arena */
    uint32_t len;
} tok_entry;

struct sp_tokenizer {
    char *arena;           /* every piece, NUL-terminated */
    tok_entry *by_id;      /* id -> piece */
    size_t count;
    sp_hmap table;         /* hash of a piece -> its id (hashed keys) */
    size_t longest;        /* longest piece in bytes: no match can be longer */
    int lowercase;
    char prefix[16];       /* continuing_subword_prefix */
    size_t prefix_len;
    size_t max_word_chars; /* max_input_chars_per_word: longer words are [UNK] */
    int32_t unk, cls, sep, pad;
};

static uint64_t tok_hash(const char *s, size_t len) { return sp_hash_bytes(s, len, 0x9e3779b97f4a7c15ull); }

struct piece_probe {
    const sp_tokenizer *tok;
    const char *piece;
    size_t len;
};

static bool piece_eq(const void *ctx, uint32_t id)
{
    const struct piece_probe *p = ctx;
    const tok_entry *e = &p->tok->by_id[id];
    return e->len == p->len && memcmp(p->tok->arena + e->offset, p->piece, p->len) == 0;
}

int32_t sp_tokenizer_id(const sp_tokenizer *tok, const char *piece, size_t len)
{
    if (len == 0 || len > tok->longest)
        return -1;
    struct piece_probe p = {tok, piece, len};
    uint32_t id = sp_hmap_find(&tok->table, tok_hash(piece, len), piece_eq, &p);
    return id == SP_HMAP_NONE ? -1 : (int32_t)id;
}

size_t sp_tokenizer_vocab_size(const sp_tokenizer *tok) { return tok->count; }
int32_t sp_tokenizer_pad_id(const sp_tokenizer *tok) { return tok->pad; }

const char *sp_tokenizer_piece(const sp_tokenizer *tok, int32_t id)
{
    if (id < 0 || (size_t)id >= tok->count)
        return NULL;
    return tok->arena + tok->by_id[id].offset;
}

void sp_tokenizer_destroy(sp_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->arena);
    free(tok->by_id);
    sp_hmap_free(&tok->table);
    free(tok);
}

static sp_status tok_fail(sp_tokenizer *tok, json_t *root, sp_status st)
{
    sp_tokenizer_destroy(tok);
    json_decref(root);
    return st;
}

sp_status sp_tokenizer_load(const char *path, sp_tokenizer **out, char *err, size_t errlen)
{
    if (!path || !out) {
        sp_errf(err, errlen, "tokenizer: no path");
        return SP_ERR_INVALID;
    }
    /* tokenizer.json files are a few MB at most: parse the whole tree (a DOM parser is simplest). */
    FILE *f = fopen(path, "rb");
    if (!f) {
        sp_errf(err, errlen, "%s: cannot open tokenizer: %s", path, strerror(errno));
        return SP_ERR_IO;
    }
    /* a directory opens (and read as "larger than the limit"), a FIFO has no size: say what it is */
    long long size = 0;
    const char *why = sp_file_not_regular(f, &size);
    fclose(f);
    if (why) {
        sp_errf(err, errlen, "%s: cannot read tokenizer: %s", path, why);
        return SP_ERR_IO;
    }
    if (size < 0 || (unsigned long long)size > SP_TOK_MAX_FILE_BYTES) {
        sp_errf(err, errlen, "%s: tokenizer file larger than %u bytes", path, SP_TOK_MAX_FILE_BYTES);
        return SP_ERR_LIMIT;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        sp_errf(err, errlen, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column, jerr.text);
        return SP_ERR_PARSE;
    }
    json_t *model = json_object_get(root, "model");
    json_t *type = model ? json_object_get(model, "type") : NULL;
    if (!json_is_object(model) || !json_is_string(type) || strcmp(json_string_value(type), "WordPiece") != 0) {
        sp_errf(err, errlen, "%s: model.type is not \"WordPiece\"", path);
        json_decref(root);
        return SP_ERR_FORMAT;
    }
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab) || json_object_size(vocab) == 0) {
        sp_errf(err, errlen, "%s: model.vocab is missing or empty", path);
        json_decref(root);
        return SP_ERR_FORMAT;
    }
    size_t count = json_object_size(vocab);
    if (count > SP_TOK_MAX_VOCAB) {
        sp_errf(err, errlen, "%s: vocabulary of %zu tokens exceeds the limit %u", path, count, SP_TOK_MAX_VOCAB);
        json_decref(root);
        return SP_ERR_LIMIT;
    }
    sp_tokenizer *tok = calloc(1, sizeof(*tok));
    if (!tok) {
        json_decref(root);
        return SP_ERR_NOMEM;
    }
    tok->count = count;
    tok->lowercase = 1;
    json_t *norm = json_object_get(root, "normalizer");
    if (json_is_object(norm) && json_is_boolean(json_object_get(norm, "lowercase")))
        tok->lowercase = json_is_true(json_object_get(norm, "lowercase"));
    json_t *pfx = json_object_get(model, "continuing_subword_prefix");
    const char *prefix = json_is_string(pfx) ? json_string_value(pfx) : "##";
    if (strlen(prefix) >= sizeof(tok->prefix)) {
        sp_errf(err, errlen, "%s: continuing_subword_prefix longer than %zu bytes", path, sizeof(tok->prefix) - 1);
        return tok_fail(tok, root, SP_ERR_FORMAT);
    }
    strcpy(tok->prefix, prefix);
    tok->prefix_len = strlen(prefix);
    json_t *mw = json_object_get(model, "max_input_chars_per_word");
    tok->max_word_chars = json_is_integer(mw) && json_integer_value(mw) > 0 ? (size_t)json_integer_value(mw) : 100;
    /* the encoder's word buffer holds 128 characters; BERT's own limit is 100 */
    if (tok->max_word_chars > 128)
        tok->max_word_chars = 128;

    size_t arena_bytes = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        size_t len = strlen(key);
        if (len == 0 || len > SP_TOK_MAX_TOKEN_BYTES) {
            sp_errf(err, errlen, "%s: vocabulary token \"%.40s\" is empty or longer than %u bytes", path, key,
                    SP_TOK_MAX_TOKEN_BYTES);
            return tok_fail(tok, root, SP_ERR_FORMAT);
        }
        if (!json_is_integer(val) || json_integer_value(val) < 0 || (size_t)json_integer_value(val) >= count) {
            sp_errf(err, errlen, "%s: id of vocabulary token \"%.40s\" is not an integer in [0, %zu)", path, key, count);
            return tok_fail(tok, root, SP_ERR_FORMAT);
        }
        arena_bytes += len + 1;
    }
    tok->arena = malloc(arena_bytes);
    tok->by_id = calloc(count, sizeof(*tok->by_id));
    uint8_t *seen = calloc(count, 1);
    if (!tok->arena || !tok->by_id || !seen || sp_hmap_init(&tok->table, count) != SP_OK) {
        free(seen);
        return tok_fail(tok, root, SP_ERR_NOMEM);
    }
    size_t at = 0;
    json_object_foreach(vocab, key, val) {
        size_t len = strlen(key);
        size_t id = (size_t)json_integer_value(val);
        if (seen[id]) {
            sp_errf(err, errlen, "%s: vocabulary id %zu is used twice (ids must be 0..%zu, each once)", path, id,
                    count - 1);
            free(seen);
            return tok_fail(tok, root, SP_ERR_FORMAT);
        }
        seen[id] = 1;
        memcpy(tok->arena + at, key, len + 1);
        tok->by_id[id].offset = (uint32_t)at;
        tok->by_id[id].len = (uint32_t)len;
        at += len + 1;
        if (len > tok->longest)
            tok->longest = len;
        if (sp_hmap_put(&tok->table, tok_hash(key, len), (uint32_t)id) != SP_OK) {
            free(seen);
            return tok_fail(tok, root, SP_ERR_NOMEM);
        }
    }
    free(seen);
    json_t *unk = json_object_get(model, "unk_token");
    const char *unk_s = json_is_string(unk) ? json_string_value(unk) : "[UNK]";
    tok->unk = sp_tokenizer_id(tok, unk_s, strlen(unk_s));
    tok->cls = sp_tokenizer_id(tok, "[CLS]", 5);
    tok->sep = sp_tokenizer_id(tok, "[SEP]", 5);
    tok->pad = sp_tokenizer_id(tok, "[PAD]", 5);
    if (tok->unk < 0 || tok->cls < 0 || tok->sep < 0 || tok->pad < 0) {
        sp_errf(err, errlen, "%s: the vocabulary lacks one of %s, [CLS], [SEP], [PAD]", path, unk_s);
        return tok_fail(tok, root, SP_ERR_FORMAT);
    }
    json_decref(root);
    *out = tok;
    return SP_OK;
}

/* ---- basic tokenisation (BERT's BasicTokenizer) ---- */

/* Decodes one UTF-8 code point; invalid or truncated sequences give U+FFFD and consume one byte. */
static uint32_t utf8_next(const unsigned char *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    unsigned c = s[i];
    uint32_t cp;
    size_t n;
    if (c < 0x80) {
        *pos = i + 1;
        return c;
    } else if ((c & 0xe0) == 0xc0) {
        cp = c & 0x1f, n = 1;
    } else if ((c & 0xf0) == 0xe0) {
        cp = c & 0x0f, n = 2;
    } else if ((c & 0xf8) == 0xf0) {
        cp = c & 0x07, n = 3;
    } else {
        *pos = i + 1;
        return 0xfffd;
    }
    if (i + n >= len) { /* truncated */
        *pos = i + 1;
        return 0xfffd;
    }
    for (size_t k = 1; k <= n; k++) {
        if ((s[i + k] & 0xc0) != 0x80) {
            *pos = i + 1;
            return 0xfffd;
        }
        cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        *pos = i + 1;
        return 0xfffd;
    }
    *pos = i + n + 1;
    return cp;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int is_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

/* Characters BERT's clean_text drops: NUL, U+FFFD and control/format characters (category C). */
static int is_dropped(uint32_t cp)
{
    return cp == 0 || cp == 0xfffd || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xad ||
           (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff;
}

/* Unicode category P, approximated: ASCII punctuation and symbols (BERT counts those too), the
 * Latin-1 punctuation marks, General Punctuation and CJK Symbols and Punctuation. */
static int is_punct(uint32_t cp)
{
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
        return 1;
    if (cp == 0xa1 || cp == 0xa7 || cp == 0xab || cp == 0xb6 || cp == 0xb7 || cp == 0xbb || cp == 0xbf)
        return 1;
    return (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205e) || (cp >= 0x3001 && cp <= 0x3003) ||
           (cp >= 0x3008 && cp <= 0x3011) || (cp >= 0x3014 && cp <= 0x301f);
}

static int is_cjk(uint32_t cp)
{
    return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
           (cp >= 0x2a700 && cp <= 0x2ceaf) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/* Lowercasing and accent stripping (NFD, then drop combining marks), for ASCII, Latin-1 and the
 * combining diacritics block; other scripts pass through unchanged. Returns 0 to drop the char. */
static uint32_t lower_strip(uint32_t cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    if (cp < 0xc0)
        return cp;
    if (cp >= 0x300 && cp <= 0x36f)
        return 0; /* combining marks (Mn) */
    if (cp > 0xff)
        return cp;
    if (cp <= 0xde && cp != 0xd7)
        cp += 0x20; /* Latin-1 capitals */
    /* base letters of U+00E0..U+00FF after NFD; '\0' where the letter does not decompose */
    static const char base[32] = {'a', 'a', 'a', 'a', 'a', 'a', 0, 'c', 'e', 'e', 'e', 'e', 'i', 'i', 'i', 'i',
                                  0, 'n', 'o', 'o', 'o', 'o', 'o', 0, 0, 'u', 'u', 'u', 'u', 'y', 0, 'y'};
    if (cp >= 0xe0 && base[cp - 0xe0])
        return (uint32_t)(unsigned char)base[cp - 0xe0];
    return cp;
}

/* ---- WordPiece ---- */

typedef struct enc_out {
    int32_t *ids;
    size_t n, cap; /* cap excludes the slot kept for [SEP] */
} enc_out;

static void emit(enc_out *o, int32_t id)
{
    if (o->n < o->cap)
        o->ids[o->n++] = id;
}

/* Greedy longest-match-first split of one word (BERT's WordpieceTokenizer): if any position has
 * no matching piece, the whole word is [UNK]. */
static void wordpiece(const sp_tokenizer *tok, const char *w, size_t len, size_t chars, enc_out *o)
{
    if (chars > tok->max_word_chars) {
        emit(o, tok->unk);
        return;
    }
    int32_t pieces[512];
    size_t np = 0;
    char buf[SP_TOK_MAX_TOKEN_BYTES + 16];
    size_t start = 0;
    while (start < len) {
        size_t pl = start > 0 ? tok->prefix_len : 0;
        size_t end = len;
        if (end - start + pl > tok->longest)
            end = start + (tok->longest > pl ? tok->longest - pl : 0);
        int32_t found = -1;
        while (end > start) {
            /* only cut on character boundaries */
            if (end < len && ((unsigned char)w[end] & 0xc0) == 0x80) {
                end--;
                continue;
            }
            memcpy(buf, tok->prefix, pl);
            memcpy(buf + pl, w + start, end - start);
            found = sp_tokenizer_id(tok, buf, pl + end - start);
            if (found >= 0)
                break;
            end--;
        }
        if (found < 0 || np == sizeof(pieces) / sizeof(pieces[0])) {
            emit(o, tok->unk);
            return;
        }
        pieces[np++] = found;
        start = end;
    }
    for (size_t i = 0; i < np; i++)
        emit(o, pieces[i]);
}

size_t sp_tokenizer_encode(const sp_tokenizer *tok, const char *text, size_t len, int32_t *ids, size_t max_tokens)
{
    if (max_tokens < 2)
        return 0;
    enc_out o = {ids, 0, max_tokens - 1};
    emit(&o, tok->cls);
    /* a word longer than max_word_chars becomes [UNK] whatever it holds, so the buffer only needs
     * room for that many characters; past it, the word is just counted */
    char word[4 * 128 + 8];
    size_t wlen = 0, wchars = 0;
    const size_t wcap = sizeof(word) - 4;
    const unsigned char *s = (const unsigned char *)text;
    size_t pos = 0;
    while (pos < len && o.n < o.cap) {
        uint32_t cp = utf8_next(s, len, &pos);
        if (is_dropped(cp) && !is_space(cp))
            continue;
        if (tok->lowercase) {
            cp = lower_strip(cp);
            if (cp == 0)
                continue;
        }
        int single = is_punct(cp) || is_cjk(cp);
        if (is_space(cp) || single) {
            if (wchars > 0)
                wordpiece(tok, word, wlen, wchars, &o);
            wlen = wchars = 0;
            if (single) {
                char one[4];
                size_t n = utf8_put(cp, one);
                wordpiece(tok, one, n, 1, &o);
            }
            continue;
        }
        if (wlen < wcap)
            wlen += utf8_put(cp, word + wlen);
        wchars++;
        if (wlen >= wcap && wchars <= tok->max_word_chars)
            wchars = tok->max_word_chars + 1; /* cannot hold it: it is [UNK] anyway */
    }
    if (wchars > 0)
        wordpiece(tok, word, wlen, wchars, &o);
    ids[o.n++] = tok->sep;
    return o.n;
}
