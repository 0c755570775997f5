/* What the load generator sends and when: the arrival processes
 * (Poisson, constant, gamma with a chosen coefficient of variation, replay), request texts whose
 * word counts follow the chosen length distribution and, for streaming generation, each request's
 * max_tokens (a distribution, or a file of prompt/output token pairs). Everything is deterministic
 * for a seed. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_esc_int.h"
#include "common/util_int.h"
#include "load/load_int.h"

/* ---- arrivals ---- */

sp_status sp_arrivals_init(sp_arrivals *a, const sp_load_config *o, const uint64_t *replay,
                           size_t n_replay, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->kind = o->arrival;
    if (o->arrival != SP_LOAD_ARRIVAL_REPLAY) {
        if (!(o->rate > 0.0) || o->rate > SP_LOAD_MAX_RATE) {
            sp_errf(err, errlen, "rate must be in (0, %g] requests per second, not %g", SP_LOAD_MAX_RATE, o->rate);
            return SP_ERR_INVALID;
        }
        a->gap_mean_ns = 1e9 / o->rate;
    }
    switch (o->arrival) {
    case SP_LOAD_ARRIVAL_POISSON:
    case SP_LOAD_ARRIVAL_CONSTANT:
        break;
    case SP_LOAD_ARRIVAL_GAMMA:
        if (!(o->gamma_cv > 0.0) || o->gamma_cv > SP_LOAD_MAX_GAMMA_CV) {
            sp_errf(err, errlen, "gamma burstiness (coefficient of variation) must be in (0, %g], not %g",
                    SP_LOAD_MAX_GAMMA_CV, o->gamma_cv);
            return SP_ERR_INVALID;
        }
        /* gamma gaps with shape k and scale theta have mean k*theta and CV 1/sqrt(k) */
        a->shape = 1.0 / (o->gamma_cv * o->gamma_cv);
        break;
    case SP_LOAD_ARRIVAL_REPLAY:
        if (!replay || n_replay == 0) {
            sp_errf(err, errlen, "replay needs at least one timestamp");
            return SP_ERR_INVALID;
        }
        a->replay = replay;
        a->n_replay = n_replay;
        break;
    default:
        sp_errf(err, errlen, "unknown arrival process %d", (int)o->arrival);
        return SP_ERR_INVALID;
    }
    sp_rng_seed(&a->rng, o->seed, 1);
    return SP_OK;
}

bool sp_arrivals_next(sp_arrivals *a, uint64_t *offset_ns)
{
    uint64_t i = a->index;
    switch (a->kind) {
    case SP_LOAD_ARRIVAL_CONSTANT:
        /* i * gap rather than a running sum, so rounding never accumulates into drift */
        *offset_ns = (uint64_t)llround((double)i * a->gap_mean_ns);
        break;
    case SP_LOAD_ARRIVAL_POISSON:
        /* the first request goes at offset 0; then exponential gaps, -ln(U) * mean */
        if (i > 0)
            a->t_ns += -log(sp_rng_uniform(&a->rng)) * a->gap_mean_ns;
        *offset_ns = (uint64_t)a->t_ns;
        break;
    case SP_LOAD_ARRIVAL_GAMMA:
        if (i > 0)
            a->t_ns += sp_rng_gamma(&a->rng, a->shape) * (a->gap_mean_ns / a->shape);
        *offset_ns = (uint64_t)a->t_ns;
        break;
    case SP_LOAD_ARRIVAL_REPLAY:
        if (i >= a->n_replay)
            return false;
        *offset_ns = a->replay[i];
        break;
    }
    a->index++;
    return true;
}

/* Reads a whole file, refusing more than `cap` bytes. */
static sp_status read_file(const char *path, size_t cap, char **data, size_t *len, char *err,
                           size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sp_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return SP_ERR_IO;
    }
    size_t cap_buf = 65536, n = 0;
    char *buf = malloc(cap_buf + 1);
    if (!buf) {
        fclose(f);
        return SP_ERR_NOMEM;
    }
    for (;;) {
        if (n == cap_buf) {
            if (cap_buf >= cap) {
                free(buf);
                fclose(f);
                sp_errf(err, errlen, "%s: larger than the limit of %zu bytes", path, cap);
                return SP_ERR_LIMIT;
            }
            size_t nc = cap_buf * 2 > cap ? cap : cap_buf * 2;
            char *nb = realloc(buf, nc + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return SP_ERR_NOMEM;
            }
            buf = nb;
            cap_buf = nc;
        }
        errno = 0;
        size_t got = fread(buf + n, 1, cap_buf - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f), read_errno = errno;
    fclose(f);
    if (bad) {
        free(buf);
        /* a directory opens and fails here with EISDIR */
        sp_errf(err, errlen, "%s: read error: %s", path, read_errno ? strerror(read_errno) : "unknown error");
        return SP_ERR_IO;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return SP_OK;
}

#define SP_LOAD_MAX_FILE ((size_t)256 << 20)

sp_status sp_load_read_replay(const char *path, uint64_t **offsets, size_t *n_out, char *err,
                              size_t errlen)
{
    char *data;
    size_t len;
    sp_status st = read_file(path, SP_LOAD_MAX_FILE, &data, &len, err, errlen);
    if (st != SP_OK)
        return st;
    uint64_t *arr = NULL;
    size_t cap = 0, n = 0, lineno = 0;
    double first = 0.0, prev = 0.0;
    char *p = data, *end = data + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        char *q = p;
        while (q < le && isspace((unsigned char)*q))
            q++;
        if (q < le && *q != '#') {
            /* the line is NUL-terminated for strtod by overwriting its newline */
            char saved = *le;
            if (le < end)
                *le = '\0';
            char *e;
            errno = 0;
            double v = strtod(q, &e);
            while (e < le && isspace((unsigned char)*e))
                e++;
            bool ok = e != q && e == le && errno == 0 && isfinite(v) && v >= 0.0;
            if (le < end)
                *le = saved;
            if (!ok) {
                sp_errf(err, errlen, "%s:%zu: expected a timestamp in seconds (a number >= 0)", path,
                        lineno);
                st = SP_ERR_PARSE;
                goto out;
            }
            if (n == 0)
                first = prev = v;
            if (v < prev) {
                sp_errf(err, errlen, "%s:%zu: timestamp %.9g is before the previous one (%.9g)", path,
                        lineno, v, prev);
                st = SP_ERR_PARSE;
                goto out;
            }
            if (v - first > 1e7) {
                sp_errf(err, errlen, "%s:%zu: more than 1e7 s after the first timestamp", path, lineno);
                st = SP_ERR_LIMIT;
                goto out;
            }
            prev = v;
            st = SP_GROW(arr, cap, n + 1, SP_LOAD_MAX_REQUESTS);
            if (st != SP_OK) {
                sp_errf(err, errlen, "%s:%zu: more than %u timestamps", path, lineno,
                        SP_LOAD_MAX_REQUESTS);
                goto out;
            }
            arr[n++] = (uint64_t)llround((v - first) * 1e9);
        }
        p = nl ? nl + 1 : end;
    }
    if (n == 0) {
        sp_errf(err, errlen, "%s: no timestamps", path);
        st = SP_ERR_PARSE;
        goto out;
    }
    *offsets = arr;
    *n_out = n;
    arr = NULL;
    st = SP_OK;
out:
    free(arr);
    free(data);
    return st;
}

/* ---- texts ---- */

/* Any deterministic word list does: ordinary lower-case English words, 3 to 8 letters, so that a
 * word-piece tokenizer sees roughly one to two tokens per word. */
static const char *const k_words[64] = {
    "time",    "person", "year",   "way",     "day",    "thing",  "man",    "world",
    "life",    "hand",   "part",   "child",   "eye",    "woman",  "place",  "work",
    "week",    "case",   "point",  "number",  "group",  "problem", "fact",  "good",
    "new",     "first",  "last",   "long",    "great",  "little", "own",    "other",
    "old",     "right",  "big",    "high",    "small",  "large",  "next",   "early",
    "young",   "public", "bad",    "able",    "serve",  "model",  "batch",  "token",
    "request", "queue",  "kernel", "latency", "budget", "signal", "river",  "window",
    "garden",  "silver", "market", "letter",  "summer", "engine", "planet", "orange"};

/* Streaming prompts: common English words that are each one whole token of the project's tokenizer
 * (data/tokenizer.json, WordPiece; tests/unit/test_load_prompt_tokens.c checks every one) and, being
 * frequent words, one token of the byte-pair tokenizers LLMs use, so a prompt of N words is about N
 * prompt tokens (docs/load.md "Prompt tokens"). */
static const char *const k_prompt_words[64] = {
    "over",  "under", "back",  "hand",  "new",   "part",  "wind",  "wood",  "sand",  "head",  "air",
    "black", "water", "fire",  "land",  "work",  "foot",  "snow",  "play",  "book",  "form",  "pass",
    "show",  "cross", "hair",  "high",  "sign",  "ball",  "school", "short", "dog",  "gold",  "call",
    "long",  "north", "turn",  "camp",  "end",   "sun",   "bed",   "down",  "arm",   "post",  "past",
    "add",   "act",   "band",  "count", "red",   "car",   "man",   "out",   "art",   "top",   "key",
    "heart", "star",  "step",  "good",  "class", "night", "road",  "year",  "week"};

const char *const *sp_load_prompt_words(size_t *n)
{
    *n = sizeof k_prompt_words / sizeof k_prompt_words[0];
    return k_prompt_words;
}

/* Checks and prepares one length distribution; `what` names it in messages, `cap` is its maximum. */
static sp_status lendist_init(sp_lendist *d, sp_load_length kind, double mean, double sigma, unsigned min,
                              unsigned max, unsigned fixed, unsigned cap, const char *what, const char *unit,
                              char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    switch (kind) {
    case SP_LOAD_LENGTH_LOGNORMAL:
        if (!(mean >= 1.0) || mean > cap || !(sigma >= 0.0) || sigma > SP_LOAD_MAX_LENGTH_SIGMA) {
            sp_errf(err, errlen, "log-normal %s needs mean in [1, %u] %s and sigma in [0, %g]", what, cap, unit,
                    SP_LOAD_MAX_LENGTH_SIGMA);
            return SP_ERR_INVALID;
        }
        /* E[exp(N(mu, s^2))] = exp(mu + s^2/2): mu is chosen so the arithmetic mean is `mean` */
        d->sigma = sigma;
        d->mu = log(mean) - 0.5 * sigma * sigma;
        return SP_OK;
    case SP_LOAD_LENGTH_UNIFORM:
        if (min < 1 || max < min || max > cap) {
            sp_errf(err, errlen, "uniform %s needs 1 <= min <= max <= %u %s", what, cap, unit);
            return SP_ERR_INVALID;
        }
        d->min = min;
        d->max = max;
        return SP_OK;
    case SP_LOAD_LENGTH_FIXED:
        if (fixed < 1 || fixed > cap) {
            sp_errf(err, errlen, "fixed %s must be in [1, %u] %s", what, cap, unit);
            return SP_ERR_INVALID;
        }
        d->fixed = fixed;
        return SP_OK;
    default:
        sp_errf(err, errlen, "unknown %s distribution %d", what, (int)kind);
        return SP_ERR_INVALID;
    }
}

/* One draw from a distribution, capped at `cap`, at least 1. */
static uint32_t lendist_draw(const sp_lendist *d, sp_rng *rng, unsigned cap)
{
    switch (d->kind) {
    case SP_LOAD_LENGTH_LOGNORMAL: {
        double w = exp(d->mu + d->sigma * sp_rng_normal(rng));
        if (!(w < (double)cap))
            return cap;
        long n = lround(w);
        return n < 1 ? 1u : (uint32_t)n;
    }
    case SP_LOAD_LENGTH_UNIFORM:
        return d->min + (uint32_t)(sp_rng_next(rng) % ((uint64_t)d->max - d->min + 1));
    case SP_LOAD_LENGTH_FIXED:
        return d->fixed;
    default:
        return 1;
    }
}

sp_status sp_textgen_init(sp_textgen *t, const sp_load_config *o, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->kind = o->length;
    t->seed = o->seed;
    if (o->stream) {
        sp_status st;
        t->prompt_words = true;
        if (o->pairs_path) {
            /* the pairs give both lengths; `length` and `output_length` are not used */
            if ((st = sp_load_read_pairs(o->pairs_path, &t->pairs, &t->n_pairs, err, errlen)) != SP_OK)
                return st;
            t->kind = SP_LOAD_LENGTH_FIXED; /* not FILE: the words come from the prompt list */
            return SP_OK;
        }
        if (o->output_length == SP_LOAD_LENGTH_FILE) {
            sp_errf(err, errlen, "output lengths come from a distribution or a pairs file, not a text file");
            return SP_ERR_INVALID;
        }
        if ((st = lendist_init(&t->output, o->output_length, o->output_mean, o->output_sigma, o->output_min,
                               o->output_max, o->output_fixed, SP_LOAD_MAX_OUTPUT_TOKENS, "output length",
                               "tokens", err, errlen)) != SP_OK)
            return st;
    } else if (o->pairs_path) {
        sp_errf(err, errlen, "a pairs file of prompt and output tokens needs streaming generation");
        return SP_ERR_INVALID;
    }
    if (o->length != SP_LOAD_LENGTH_FILE)
        return lendist_init(&t->input, o->length, o->length_mean, o->length_sigma, o->length_min, o->length_max,
                            o->length_fixed, SP_LOAD_MAX_WORDS, "length", "words", err, errlen);
    if (!o->length_path) {
        sp_errf(err, errlen, "length from a file needs a path");
        return SP_ERR_INVALID;
    }
    char *data;
    size_t len;
    sp_status st = read_file(o->length_path, SP_LOAD_MAX_FILE, &data, &len, err, errlen);
    if (st != SP_OK)
        return st;
    size_t cap = 0, cap_w = 0, lineno = 0;
    char *p = data, *end = data + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        if (le > p && le[-1] == '\r')
            le--;
        size_t ll = (size_t)(le - p);
        if (ll > 0) {
            if (ll * SP_JSON_ESC_MAX > SP_LOAD_MAX_TEXT) {
                sp_errf(err, errlen, "%s:%zu: line longer than the limit of %u bytes (escaped)",
                        o->length_path, lineno, SP_LOAD_MAX_TEXT);
                st = SP_ERR_LIMIT;
                goto fail;
            }
            if ((st = SP_GROW(t->lines, cap, t->n_lines + 1, SP_LOAD_MAX_REQUESTS)) != SP_OK ||
                (st = SP_GROW(t->line_words, cap_w, t->n_lines + 1, SP_LOAD_MAX_REQUESTS)) != SP_OK) {
                sp_errf(err, errlen, "%s:%zu: too many lines", o->length_path, lineno);
                goto fail;
            }
            char *esc = malloc(ll * SP_JSON_ESC_MAX + 1);
            if (!esc) {
                st = SP_ERR_NOMEM;
                goto fail;
            }
            uint32_t words = 0;
            bool in_word = false;
            for (size_t i = 0; i < ll; i++) {
                bool sp = isspace((unsigned char)p[i]);
                if (!sp && !in_word)
                    words++;
                in_word = !sp;
            }
            /* the common escaper's rule: bytes that are not UTF-8 are sent as U+FFFD, so every body
             * is valid JSON text */
            esc[sp_json_escape(esc, ll * SP_JSON_ESC_MAX, p, ll, 0, NULL)] = '\0';
            t->lines[t->n_lines] = esc;
            t->line_words[t->n_lines] = words;
            t->n_lines++;
        }
        p = nl ? nl + 1 : end;
    }
    free(data);
    if (t->n_lines == 0) {
        sp_errf(err, errlen, "%s: no non-empty lines", o->length_path);
        sp_textgen_free(t);
        return SP_ERR_PARSE;
    }
    return SP_OK;
fail:
    free(data);
    sp_textgen_free(t);
    return st;
}

void sp_textgen_free(sp_textgen *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_lines; i++)
        free(t->lines[i]);
    free(t->lines);
    free(t->line_words);
    free(t->pairs);
    t->lines = NULL;
    t->line_words = NULL;
    t->n_lines = 0;
    t->pairs = NULL;
    t->n_pairs = 0;
}

/* Each request's draw comes from its own stream seeded by (seed, index), so a request's text does
 * not depend on the order in which requests were sent (retries, connection races). */
static void request_rng(const sp_textgen *t, uint64_t index, sp_rng *rng)
{
    sp_rng_seed(rng, t->seed, 0x100000000ull + index);
}

static uint32_t draw_words(sp_textgen *t, uint64_t index, sp_rng *rng)
{
    if (t->n_pairs)
        return t->pairs[2 * (index % t->n_pairs)];
    if (t->kind == SP_LOAD_LENGTH_FILE)
        return t->line_words[index % t->n_lines];
    return lendist_draw(&t->input, rng, SP_LOAD_MAX_WORDS);
}

uint32_t sp_textgen_words(sp_textgen *t, uint64_t index)
{
    sp_rng rng;
    request_rng(t, index, &rng);
    return draw_words(t, index, &rng);
}

size_t sp_textgen_text(sp_textgen *t, uint64_t index, char *buf, size_t cap, uint32_t *words)
{
    sp_rng rng;
    request_rng(t, index, &rng);
    uint32_t n = draw_words(t, index, &rng);
    if (t->kind == SP_LOAD_LENGTH_FILE) {
        const char *line = t->lines[index % t->n_lines];
        size_t ll = strlen(line);
        if (ll > cap)
            ll = cap; /* cannot happen with the buffer sized to SP_LOAD_MAX_TEXT */
        memcpy(buf, line, ll);
        *words = n;
        return ll;
    }
    const char *const *list = t->prompt_words ? k_prompt_words : k_words;
    size_t k = 0;
    uint32_t w = 0;
    for (; w < n; w++) {
        const char *word = list[sp_rng_next(&rng) >> 58];
        size_t wl = strlen(word);
        if (k + wl + 1 > cap)
            break;
        if (w)
            buf[k++] = ' ';
        memcpy(buf + k, word, wl);
        k += wl;
    }
    *words = w;
    return k;
}

/* ---- streaming: output lengths ---- */

uint32_t sp_textgen_max_tokens(const sp_textgen *t, uint64_t index)
{
    if (t->n_pairs)
        return t->pairs[2 * (index % t->n_pairs) + 1];
    /* a stream of its own per request, apart from the text's (request_rng), so that changing the
     * output distribution leaves every prompt as it was */
    sp_rng rng;
    sp_rng_seed(&rng, t->seed, 0x200000000ull + index);
    return lendist_draw(&t->output, &rng, SP_LOAD_MAX_OUTPUT_TOKENS);
}

double sp_textgen_mean_max_tokens(const sp_textgen *t)
{
    if (t->n_pairs) {
        double sum = 0.0;
        for (size_t i = 0; i < t->n_pairs; i++)
            sum += t->pairs[2 * i + 1];
        return sum / (double)t->n_pairs;
    }
    switch (t->output.kind) {
    case SP_LOAD_LENGTH_LOGNORMAL: return exp(t->output.mu + 0.5 * t->output.sigma * t->output.sigma);
    case SP_LOAD_LENGTH_UNIFORM: return 0.5 * ((double)t->output.min + (double)t->output.max);
    case SP_LOAD_LENGTH_FIXED: return t->output.fixed;
    default: return 0.0;
    }
}

/* Reads one unsigned decimal in [lo, hi] at *p (after blanks); false if there is none or it is out
 * of range. */
static bool read_count(const char **p, const char *end, uint32_t lo, uint32_t hi, uint32_t *out)
{
    const char *q = *p;
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    uint64_t v = 0;
    const char *d = q;
    while (q < end && *q >= '0' && *q <= '9' && q - d < 12)
        v = v * 10 + (uint64_t)(*q++ - '0');
    if (q == d || v < lo || v > hi || (q < end && *q >= '0' && *q <= '9'))
        return false;
    *p = q;
    *out = (uint32_t)v;
    return true;
}

sp_status sp_load_read_pairs(const char *path, uint32_t **pairs_out, size_t *n_out, char *err, size_t errlen)
{
    char *data;
    size_t len;
    sp_status st = read_file(path, SP_LOAD_MAX_FILE, &data, &len, err, errlen);
    if (st != SP_OK)
        return st;
    uint32_t *pairs = NULL;
    size_t cap = 0, n = 0, lineno = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        if (le > p && le[-1] == '\r')
            le--;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (q < le && *q != '#') {
            uint32_t prompt, output;
            bool ok = read_count(&q, le, 1, SP_LOAD_MAX_WORDS, &prompt);
            if (ok) {
                while (q < le && (*q == ' ' || *q == '\t'))
                    q++;
                if (q < le && *q == ',')
                    q++;
                ok = read_count(&q, le, 1, SP_LOAD_MAX_OUTPUT_TOKENS, &output);
                while (ok && q < le && (*q == ' ' || *q == '\t'))
                    q++;
                ok = ok && q == le;
            }
            if (!ok) {
                sp_errf(err, errlen,
                        "%s:%zu: expected \"PROMPT_TOKENS OUTPUT_TOKENS\" (prompt in [1, %u], output in [1, %u])",
                        path, lineno, SP_LOAD_MAX_WORDS, SP_LOAD_MAX_OUTPUT_TOKENS);
                st = SP_ERR_PARSE;
                goto out;
            }
            if ((st = SP_GROW(pairs, cap, 2 * (n + 1), 2 * (size_t)SP_LOAD_MAX_REQUESTS)) != SP_OK) {
                sp_errf(err, errlen, "%s:%zu: more than %u pairs", path, lineno, SP_LOAD_MAX_REQUESTS);
                goto out;
            }
            pairs[2 * n] = prompt;
            pairs[2 * n + 1] = output;
            n++;
        }
        p = nl ? nl + 1 : end;
    }
    if (n == 0) {
        sp_errf(err, errlen, "%s: no pairs", path);
        st = SP_ERR_PARSE;
        goto out;
    }
    *pairs_out = pairs;
    *n_out = n;
    pairs = NULL;
    st = SP_OK;
out:
    free(pairs);
    free(data);
    return st;
}
