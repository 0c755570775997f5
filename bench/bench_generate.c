/* Generated tokens per second of the CPU reference decoder (servprof serve --generate's model, default
 * size: 2 layers, width 128, 4 heads, ffn 512, the shipped 5000-token vocabulary, context 128), one
 * OpenBLAS thread as the service runs it: decode steps of 1, 4 and 16 sequences (the forward pass and
 * greedy sampling of each step), and prefill throughput. Same-run references: an OpenBLAS sgemm rate
 * at the decoder's feed-forward shape, and the encoder's throughput at the service's defaults. Where
 * the CUDA backend module loads and finds a GPU (servprof serve --generate --device cuda's decoder),
 * the same decode steps on the GPU, eager and replayed from CUDA graphs, with the logits copied back
 * and sampled on the host as the service does; else one line says why not.
 * Usage: bench_generate [REPEATS] (default 5; each figure is the median of the repeats). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "serve/gen_service_int.h"

void openblas_set_num_threads(int num_threads);

enum { LAYERS = 2, HIDDEN = 128, HEADS = 4, FFN = 512, CTX = 128, PROMPT = 16, DECODE = 96 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static const sp_gen_sampling GREEDY = {0.0, 0};

/* `batch` sequences in slots 0.. each with the same PROMPT-token prompt, giving logits. */
static void prompts(int batch, int32_t *prompt, sp_dec_seq *s)
{
    for (int i = 0; i < PROMPT; i++)
        prompt[i] = 100 + 37 * i;
    for (int b = 0; b < batch; b++) {
        sp_dec_seq p = {(uint32_t)b, 0, PROMPT, PROMPT, prompt, 1};
        s[b] = p;
    }
}

/* After the prefill: each sequence's greedy first token, and the sequences turned into decodes of it. */
static void first_tokens(int batch, const float *logits, size_t V, float *scratch, int32_t *last, sp_dec_seq *s)
{
    for (int b = 0; b < batch; b++) {
        last[b] = sp_gen_sample(logits + (size_t)b * V, V, NULL, &GREEDY, NULL, scratch);
        s[b].start = PROMPT;
        s[b].n = s[b].rows = 1;
        s[b].ids = &last[b];
    }
}

/* Decode tokens per second with `batch` sequences: each prefilled with PROMPT tokens (not timed),
 * then DECODE steps of one token each (timed: forward and greedy sampling). */
static double decode_rate(const sp_decoder *dec, int batch)
{
    size_t V = sp_decoder_get_config(dec)->vocab_size;
    sp_decoder_kv *kv;
    sp_decoder_ws *ws;
    if (sp_decoder_kv_create(dec, (uint32_t)batch, CTX, &kv) != SP_OK ||
        sp_decoder_ws_create((size_t)batch * PROMPT, (size_t)batch, &ws) != SP_OK)
        exit(1);
    float *logits = malloc((size_t)batch * V * sizeof(float)), *scratch = malloc(2 * V * sizeof(float));
    int32_t prompt[PROMPT], last[64];
    sp_dec_seq s[64];
    prompts(batch, prompt, s);
    if (sp_decoder_forward(dec, kv, ws, s, (size_t)batch, logits, NULL, NULL) != SP_OK)
        exit(1);
    first_tokens(batch, logits, V, scratch, last, s);
    uint64_t t0 = sp_now_ns();
    for (int step = 0; step < DECODE; step++) {
        if (sp_decoder_forward(dec, kv, ws, s, (size_t)batch, logits, NULL, NULL) != SP_OK)
            exit(1);
        for (int b = 0; b < batch; b++) {
            last[b] = sp_gen_sample(logits + (size_t)b * V, V, NULL, &GREEDY, NULL, scratch);
            s[b].start++;
        }
    }
    double secs = (double)(sp_now_ns() - t0) / 1e9;
    free(logits);
    free(scratch);
    sp_decoder_ws_destroy(ws);
    sp_decoder_kv_destroy(kv);
    return (double)batch * DECODE / secs;
}

/* As decode_rate on the GPU through the backend module (graph_cap > 0: decode steps replay a graph
 * after the first, captured outside the timing). Returns 0 when the device refuses. */
static double cuda_decode_rate(const sp_cuda_backend *cb, const sp_decoder *dec, int batch, size_t graph_cap)
{
    size_t V = sp_decoder_get_config(dec)->vocab_size;
    char err[512];
    sp_cuda_dec_weights wv;
    sp_cuda_dec *gd = NULL;
    sp_cuda_dec_shape shape = {(uint32_t)batch, CTX, (size_t)batch * PROMPT, (size_t)batch, graph_cap};
    if (sp_gen_dec_weights_view(dec, &wv) != SP_OK)
        exit(1);
    sp_status st = cb->dec_create(&wv, 0, &shape, &gd, err, sizeof err);
    sp_gen_dec_weights_view_free(&wv);
    if (st != SP_OK) {
        fprintf(stderr, "cuda: %s\n", err);
        return 0;
    }
    float *logits = malloc((size_t)batch * V * sizeof(float)), *scratch = malloc(2 * V * sizeof(float));
    int32_t prompt[PROMPT], last[64];
    sp_dec_seq s[64];
    prompts(batch, prompt, s);
    double rate = 0;
    if (cb->dec_step(gd, s, (size_t)batch, logits, err, sizeof err) != SP_OK)
        goto out;
    first_tokens(batch, logits, V, scratch, last, s);
    /* one untimed decode step: loads the kernels and, with graphs, is captured after */
    if (cb->dec_step(gd, s, (size_t)batch, logits, err, sizeof err) != SP_OK ||
        cb->dec_capture_pending(gd, err, sizeof err) != SP_OK)
        goto out;
    for (int b = 0; b < batch; b++)
        s[b].start++;
    uint64_t t0 = sp_now_ns();
    for (int step = 0; step < DECODE - 1; step++) {
        if (cb->dec_step(gd, s, (size_t)batch, logits, err, sizeof err) != SP_OK)
            goto out;
        for (int b = 0; b < batch; b++) {
            last[b] = sp_gen_sample(logits + (size_t)b * V, V, NULL, &GREEDY, NULL, scratch);
            s[b].start++;
        }
    }
    rate = (double)batch * (DECODE - 1) / ((double)(sp_now_ns() - t0) / 1e9);
out:
    if (rate == 0)
        fprintf(stderr, "cuda: %s\n", err);
    free(logits);
    free(scratch);
    cb->dec_destroy(gd);
    return rate;
}

/* The GPU lines: each decode batch eager and with graphs, or why there are none. */
static void cuda_rates(const sp_decoder *dec, const int *batches, size_t nb, int repeats, double *v)
{
    const sp_cuda_backend *cb;
    char why[1024] = "";
    if (sp_cuda_backend_load(&cb, why, sizeof why) != SP_OK || cb->device_count(why, sizeof why) == 0) {
        printf("cuda: not measured (%s)\n", why);
        return;
    }
    char desc[200];
    cb->device_describe(0, desc, sizeof desc);
    printf("cuda: %s; logits copied back and sampled on the host, as the service does\n", desc);
    for (size_t i = 0; i < nb; i++)
        for (int graphs = 0; graphs < 2; graphs++) {
            for (int r = 0; r < repeats; r++)
                v[r] = cuda_decode_rate(cb, dec, batches[i], graphs ? 4 : 0);
            printf("cuda decode, %2d sequences per step, %-11s %8.0f tokens/s\n", batches[i],
                   graphs ? "CUDA graphs:" : "eager:", median(v, repeats));
        }
}

/* Prefill tokens per second: 8 prompts of 64 tokens in one step (512 tokens, the default budget). */
static double prefill_rate(const sp_decoder *dec)
{
    size_t V = sp_decoder_get_config(dec)->vocab_size;
    sp_decoder_kv *kv;
    sp_decoder_ws *ws;
    if (sp_decoder_kv_create(dec, 8, CTX, &kv) != SP_OK || sp_decoder_ws_create(512, 8, &ws) != SP_OK)
        exit(1);
    float *logits = malloc(8 * V * sizeof(float));
    int32_t ids[64];
    for (int i = 0; i < 64; i++)
        ids[i] = 50 + 11 * i;
    sp_dec_seq s[8];
    for (int b = 0; b < 8; b++) {
        sp_dec_seq p = {(uint32_t)b, 0, 64, 64, ids, 1};
        s[b] = p;
    }
    int reps = 20;
    uint64_t t0 = sp_now_ns();
    for (int r = 0; r < reps; r++)
        if (sp_decoder_forward(dec, kv, ws, s, 8, logits, NULL, NULL) != SP_OK)
            exit(1);
    double secs = (double)(sp_now_ns() - t0) / 1e9;
    free(logits);
    sp_decoder_ws_destroy(ws);
    sp_decoder_kv_destroy(kv);
    return 512.0 * reps / secs;
}

/* GFLOP/s of sgemm at the feed-forward's shape for 16 rows: [16 x 128] x [128 x 512]. */
static double sgemm_rate(void)
{
    enum { M = 16, K = HIDDEN, N = FFN, REPS = 20000 };
    float *a = malloc(M * K * sizeof(float)), *b = malloc(K * N * sizeof(float)), *c = malloc(M * N * sizeof(float));
    for (int i = 0; i < M * K; i++)
        a[i] = (float)(i % 13) * 0.01f;
    for (int i = 0; i < K * N; i++)
        b[i] = (float)(i % 7) * 0.01f;
    uint64_t t0 = sp_now_ns();
    for (int r = 0; r < REPS; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    double secs = (double)(sp_now_ns() - t0) / 1e9;
    free(a);
    free(b);
    free(c);
    return 2.0 * M * K * N * REPS / secs / 1e9;
}

/* The encoder's sequences per second at the service's defaults: batches of 16 inputs of 32 tokens. */
static double encoder_rate(uint32_t vocab)
{
    char err[256];
    sp_encoder_config ec = {vocab, HIDDEN, LAYERS, HEADS, FFN, CTX};
    sp_encoder *enc;
    sp_encoder_ws *ws;
    if (sp_encoder_create_seeded(&ec, 1, &enc, err, sizeof err) != SP_OK || sp_encoder_ws_create(16 * 32, &ws) != SP_OK)
        exit(1);
    int32_t ids[16 * 32];
    uint32_t lens[16];
    float *out = malloc(16 * HIDDEN * sizeof(float));
    for (int i = 0; i < 16 * 32; i++)
        ids[i] = 5 + i % 4000;
    for (int b = 0; b < 16; b++)
        lens[b] = 32;
    int reps = 50;
    uint64_t t0 = sp_now_ns();
    for (int r = 0; r < reps; r++)
        if (sp_encoder_forward(enc, ws, ids, lens, 16, 32, out, NULL, NULL) != SP_OK)
            exit(1);
    double secs = (double)(sp_now_ns() - t0) / 1e9;
    free(out);
    sp_encoder_ws_destroy(ws);
    sp_encoder_destroy(enc);
    return 16.0 * reps / secs;
}

int main(int argc, char **argv)
{
    int repeats = argc > 1 ? atoi(argv[1]) : 5;
    if (repeats < 1 || repeats > 100)
        repeats = 5;
    openblas_set_num_threads(1);
    char err[256];
    sp_tokenizer *tok;
    if (sp_tokenizer_load(SP_SOURCE_DIR "/data/tokenizer.json", &tok, err, sizeof err) != SP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    uint32_t vocab = (uint32_t)sp_tokenizer_vocab_size(tok);
    sp_tokenizer_destroy(tok);
    sp_decoder_config cfg = {vocab, HIDDEN, LAYERS, HEADS, FFN, CTX};
    sp_decoder *dec;
    if (sp_decoder_create_seeded(&cfg, 1, &dec, err, sizeof err) != SP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static const int batches[] = {1, 4, 16};
    double v[100];
    printf("decoder: %u layers, width %u, %u heads, ffn %u, vocab %u, context %u; 1 OpenBLAS thread; median of %d\n",
           LAYERS, HIDDEN, HEADS, FFN, vocab, CTX, repeats);
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
        for (int r = 0; r < repeats; r++)
            v[r] = decode_rate(dec, batches[i]);
        printf("decode, %2d sequences per step: %8.0f tokens/s\n", batches[i], median(v, repeats));
    }
    for (int r = 0; r < repeats; r++)
        v[r] = prefill_rate(dec);
    printf("prefill, 8 x 64 tokens per step: %8.0f tokens/s\n", median(v, repeats));
    for (int r = 0; r < repeats; r++)
        v[r] = sgemm_rate();
    printf("reference: sgemm [16x128]x[128x512]: %.2f GFLOP/s\n", median(v, repeats));
    for (int r = 0; r < repeats; r++)
        v[r] = encoder_rate(vocab);
    printf("reference: encoder, batches of 16 x 32 tokens: %.0f sequences/s\n", median(v, repeats));
    cuda_rates(dec, batches, sizeof batches / sizeof batches[0], repeats, v);
    sp_decoder_destroy(dec);
    return 0;
}
