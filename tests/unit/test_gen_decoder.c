/* The generation service's decoder against a reference computation written here from GPT-2's
 * definition (plain loops in double precision, no BLAS, no cache, the whole prefix recomputed for
 * every position): the forward pass with the KV cache, step by step (a prefill, a chunked prefill,
 * padded rows, single decode tokens, other sequences in the same batch), gives the reference's
 * logits at every position, and so does recomputing the prefix without the cache. Also: greedy
 * generation is the same on every run for a seed, the safetensors round trip keeps every logit bit
 * for bit, and bad inputs are refused. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#ifndef SERVPROF_SERVE_ENABLED
int main(void) { return 77; }
#else
#include "serve/gen_int.h"

enum { V = 50, H = 16, HEADS = 2, LAYERS = 2, F = 32, P = 24, T = 12 };

/* ---- the reference: GPT-2 from its definition ---- */

static void ref_layernorm(const double *x, double *y, const float *g, const float *b)
{
    double mean = 0, var = 0;
    for (int j = 0; j < H; j++)
        mean += x[j];
    mean /= H;
    for (int j = 0; j < H; j++)
        var += (x[j] - mean) * (x[j] - mean);
    var /= H;
    for (int j = 0; j < H; j++)
        y[j] = (x[j] - mean) / sqrt(var + SP_DEC_LN_EPS) * g[j] + b[j];
}

/* y[out] = x[in] W[in, out] + b (Conv1D's layout) */
static void ref_conv(const double *x, int in, const float *W, const float *b, int out, double *y)
{
    for (int o = 0; o < out; o++) {
        double s = b[o];
        for (int i = 0; i < in; i++)
            s += x[i] * W[(size_t)i * out + o];
        y[o] = s;
    }
}

/* Logits of the next token after ids[0..n), every position recomputed from scratch. */
static void ref_logits(const sp_decoder *dec, const int32_t *ids, int n, double *logits)
{
    sp_decoder_view w;
    sp_decoder_get_view(dec, &w);
    static double x[T][H], a[T][H], q[T][3 * H], ctx[T][H], tmp[F], out[H];
    for (int t = 0; t < n; t++)
        for (int j = 0; j < H; j++)
            x[t][j] = (double)w.wte[ids[t] * H + j] + w.wpe[t * H + j];
    const int d = H / HEADS;
    for (int l = 0; l < LAYERS; l++) {
        sp_decoder_layer_view L;
        sp_decoder_get_layer_view(dec, (uint32_t)l, &L);
        for (int t = 0; t < n; t++) {
            ref_layernorm(x[t], a[t], L.ln1_g, L.ln1_b);
            ref_conv(a[t], H, L.w_qkv, L.b_qkv, 3 * H, q[t]);
        }
        for (int t = 0; t < n; t++)
            for (int h = 0; h < HEADS; h++) {
                double sc[T], mx = -1e300, sum = 0;
                for (int u = 0; u <= t; u++) { /* causal */
                    double s = 0;
                    for (int k = 0; k < d; k++)
                        s += q[t][h * d + k] * q[u][H + h * d + k];
                    sc[u] = s / sqrt((double)d);
                    mx = sc[u] > mx ? sc[u] : mx;
                }
                for (int u = 0; u <= t; u++)
                    sum += (sc[u] = exp(sc[u] - mx));
                for (int k = 0; k < d; k++) {
                    double s = 0;
                    for (int u = 0; u <= t; u++)
                        s += sc[u] / sum * q[u][2 * H + h * d + k];
                    ctx[t][h * d + k] = s;
                }
            }
        for (int t = 0; t < n; t++) {
            ref_conv(ctx[t], H, L.w_o, L.b_o, H, out);
            for (int j = 0; j < H; j++)
                x[t][j] += out[j];
            ref_layernorm(x[t], a[t], L.ln2_g, L.ln2_b);
            ref_conv(a[t], H, L.w_fc, L.b_fc, F, tmp);
            for (int k = 0; k < F; k++) /* GPT-2's GELU, tanh form */
                tmp[k] = 0.5 * tmp[k] * (1 + tanh(sqrt(2 / M_PI) * (tmp[k] + 0.044715 * pow(tmp[k], 3))));
            ref_conv(tmp, F, L.w_proj, L.b_proj, H, out);
            for (int j = 0; j < H; j++)
                x[t][j] += out[j];
        }
    }
    ref_layernorm(x[n - 1], out, w.lnf_g, w.lnf_b);
    for (int v = 0; v < V; v++) { /* the head is tied to wte */
        double s = 0;
        for (int j = 0; j < H; j++)
            s += out[j] * w.wte[v * H + j];
        logits[v] = s;
    }
}

static double max_diff(const float *got, const double *want)
{
    double m = 0;
    for (int v = 0; v < V; v++) {
        double e = fabs(got[v] - want[v]);
        m = e > m ? e : m;
    }
    return m;
}

/* float32 sums of at most F products against double: 1e-4 is far above float rounding here (logits
 * are about 0.3) and far below a wrong position, mask or cache entry (those move logits by 1e-2) */
#define TOL 1e-4

/* The cached path: sequence A (slot 1) prefilled in one piece, sequence B (slot 0) in two chunks
 * with padded rows, then both decode one token per step; every step compared with the reference. */
static void check_cached(const sp_decoder *dec, const int32_t *a, const int32_t *b)
{
    sp_decoder_kv *kv;
    sp_decoder_ws *ws;
    CHECK(sp_decoder_kv_create(dec, 2, P, &kv) == SP_OK);
    CHECK(sp_decoder_ws_create(64, 2, &ws) == SP_OK);
    float logits[2 * V];
    double ref[V];
    /* step 1: A's whole 5-token prompt; B's first chunk of 3 (no logits), padded to 4 rows */
    sp_dec_seq s1[2] = {{1, 0, 5, 5, a, 1}, {0, 0, 3, 4, b, 0}};
    CHECK(sp_decoder_forward(dec, kv, ws, s1, 2, logits, NULL, NULL) == SP_OK);
    ref_logits(dec, a, 5, ref);
    CHECK(max_diff(logits, ref) < TOL);
    /* step 2: A decodes token 5; B's last chunk (tokens 3..6) padded to 8 rows */
    sp_dec_seq s2[2] = {{1, 5, 1, 1, a + 5, 1}, {0, 3, 4, 8, b + 3, 1}};
    CHECK(sp_decoder_forward(dec, kv, ws, s2, 2, logits, NULL, NULL) == SP_OK);
    ref_logits(dec, a, 6, ref);
    CHECK(max_diff(logits, ref) < TOL);
    ref_logits(dec, b, 7, ref);
    CHECK(max_diff(logits + V, ref) < TOL);
    /* then one token each per step, B first in the batch this time */
    for (int t = 6; t < T; t++) {
        sp_dec_seq s[2] = {{0, (uint32_t)t + 1, 1, 1, b + t + 1, 1}, {1, (uint32_t)t, 1, 1, a + t, 1}};
        size_t n = t + 2 <= T ? 2 : 1;
        sp_dec_seq *ss = n == 2 ? s : s + 1;
        CHECK(sp_decoder_forward(dec, kv, ws, ss, n, logits, NULL, NULL) == SP_OK);
        if (n == 2) {
            ref_logits(dec, b, t + 2, ref);
            CHECK(max_diff(logits, ref) < TOL);
        }
        ref_logits(dec, a, t + 1, ref);
        CHECK(max_diff(logits + (n == 2 ? V : 0), ref) < TOL);
    }
    sp_decoder_ws_destroy(ws);
    sp_decoder_kv_destroy(kv);
}

/* Without the cache: each prefix recomputed in one prefill into a fresh slot. */
static void check_recomputed(const sp_decoder *dec, const int32_t *a)
{
    sp_decoder_kv *kv;
    sp_decoder_ws *ws;
    CHECK(sp_decoder_kv_create(dec, 1, P, &kv) == SP_OK);
    CHECK(sp_decoder_ws_create(64, 1, &ws) == SP_OK);
    float logits[V];
    double ref[V];
    for (int n = 1; n <= T; n++) {
        sp_dec_seq s = {0, 0, (uint32_t)n, (uint32_t)n, a, 1};
        CHECK(sp_decoder_forward(dec, kv, ws, &s, 1, logits, NULL, NULL) == SP_OK);
        ref_logits(dec, a, n, ref);
        CHECK(max_diff(logits, ref) < TOL);
    }
    sp_decoder_ws_destroy(ws);
    sp_decoder_kv_destroy(kv);
}

/* Greedy generation of `n` tokens after a prompt, with the cache. */
static void greedy(const sp_decoder *dec, const int32_t *prompt, int plen, int32_t *out, int n)
{
    sp_decoder_kv *kv;
    sp_decoder_ws *ws;
    CHECK(sp_decoder_kv_create(dec, 1, P, &kv) == SP_OK);
    CHECK(sp_decoder_ws_create(64, 1, &ws) == SP_OK);
    float logits[V], scratch[2 * V];
    sp_gen_sampling g = {0.0, 0};
    sp_dec_seq s = {0, 0, (uint32_t)plen, (uint32_t)plen, prompt, 1};
    for (int i = 0; i < n; i++) {
        CHECK(sp_decoder_forward(dec, kv, ws, &s, 1, logits, NULL, NULL) == SP_OK);
        out[i] = sp_gen_sample(logits, V, NULL, &g, NULL, scratch);
        s.start += s.n;
        s.n = s.rows = 1;
        s.ids = &out[i];
    }
    sp_decoder_ws_destroy(ws);
    sp_decoder_kv_destroy(kv);
}

static void on_op(void *user, size_t op, uint64_t start_ns, uint64_t end_ns)
{
    size_t *next = user;
    CHECK_EQ_U64(op, *next);
    CHECK(end_ns >= start_ns);
    (*next)++;
}

int main(void)
{
    char err[512] = "";
    sp_decoder_config cfg = {V, H, LAYERS, HEADS, F, P};
    sp_decoder *dec;
    CHECK(sp_decoder_create_seeded(&cfg, 7, &dec, err, sizeof err) == SP_OK);
    int32_t a[T], b[T];
    sp_rng rng;
    sp_rng_seed(&rng, 3, 0);
    for (int i = 0; i < T; i++) {
        a[i] = (int32_t)(sp_rng_next(&rng) % V);
        b[i] = (int32_t)(sp_rng_next(&rng) % V);
    }
    check_cached(dec, a, b);
    check_recomputed(dec, a);

    /* the operations, in order */
    CHECK_EQ_U64(sp_decoder_op_count(dec), 3 + 8 * LAYERS);
    char nm[64];
    CHECK(strcmp(sp_decoder_op_name(dec, 0, nm, sizeof nm), "embed") == 0);
    CHECK(strcmp(sp_decoder_op_name(dec, 3, nm, sizeof nm), "l0.attention") == 0);
    CHECK(strcmp(sp_decoder_op_name(dec, 3 + 8 * LAYERS - 1, nm, sizeof nm), "lm_head") == 0);
    {
        sp_decoder_kv *kv;
        sp_decoder_ws *ws;
        CHECK(sp_decoder_kv_create(dec, 1, P, &kv) == SP_OK);
        CHECK(sp_decoder_ws_create(8, 1, &ws) == SP_OK);
        float logits[V];
        size_t next = 0;
        sp_dec_seq s = {0, 0, 3, 3, a, 1};
        CHECK(sp_decoder_forward(dec, kv, ws, &s, 1, logits, on_op, &next) == SP_OK);
        CHECK_EQ_U64(next, sp_decoder_op_count(dec));
        /* refused: a slot past the cache, a position past it, an id past the vocabulary, two
         * sequences in one slot, fewer rows than tokens, more rows than the workspace holds */
        int32_t bad_id = V;
        sp_dec_seq bad[] = {{1, 0, 1, 1, a, 1}, {0, P - 1, 2, 2, a, 1}, {0, 0, 1, 1, &bad_id, 1}, {0, 0, 2, 1, a, 1}};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            CHECK(sp_decoder_forward(dec, kv, ws, &bad[i], 1, logits, NULL, NULL) == SP_ERR_INVALID);
        sp_dec_seq twice[2] = {{0, 0, 1, 1, a, 1}, {0, 1, 1, 1, a, 1}};
        CHECK(sp_decoder_forward(dec, kv, ws, twice, 2, logits, NULL, NULL) == SP_ERR_INVALID);
        sp_dec_seq big = {0, 0, 9, 9, a, 1};
        CHECK(sp_decoder_forward(dec, kv, ws, &big, 1, logits, NULL, NULL) == SP_ERR_LIMIT);
        sp_decoder_ws_destroy(ws);
        sp_decoder_kv_destroy(kv);
    }

    /* greedy generation: the same tokens on every run for a seed; another seed's weights differ */
    int32_t g1[10], g2[10], g3[10];
    greedy(dec, a, 3, g1, 10);
    sp_decoder *again, *other;
    CHECK(sp_decoder_create_seeded(&cfg, 7, &again, err, sizeof err) == SP_OK);
    CHECK(sp_decoder_create_seeded(&cfg, 8, &other, err, sizeof err) == SP_OK);
    greedy(again, a, 3, g2, 10);
    greedy(other, a, 3, g3, 10);
    CHECK(memcmp(g1, g2, sizeof g1) == 0);
    CHECK(memcmp(g1, g3, sizeof g1) != 0);

    /* safetensors: save, load (heads are not in the file), the same logits bit for bit */
    char path[512];
    snprintf(path, sizeof path, "%s/tests/dec_%d.safetensors", SP_BUILD_DIR, (int)getpid());
    CHECK(sp_decoder_save_safetensors(dec, path, err, sizeof err) == SP_OK);
    sp_decoder *back = NULL;
    sp_status st = sp_decoder_load_safetensors(path, HEADS, &back, err, sizeof err);
    CHECK(st == SP_OK);
    if (st == SP_OK) {
        const sp_decoder_config *bc = sp_decoder_get_config(back);
        CHECK(bc->vocab_size == V && bc->hidden == H && bc->layers == LAYERS && bc->ffn == F && bc->max_len == P);
        int32_t g4[10];
        greedy(back, a, 3, g4, 10);
        CHECK(memcmp(g1, g4, sizeof g1) == 0);
        sp_decoder_view v1, v2;
        sp_decoder_get_view(dec, &v1);
        sp_decoder_get_view(back, &v2);
        CHECK(memcmp(v1.wte, v2.wte, sizeof(float) * V * H) == 0);
        sp_decoder_destroy(back);
    }
    /* heads must divide the width */
    CHECK(sp_decoder_load_safetensors(path, 3, &back, err, sizeof err) == SP_ERR_INVALID);
    /* an encoder's file (BertModel names) is not a decoder's: the error says what was expected */
    sp_encoder_config ec = {V, H, 1, HEADS, F, P};
    sp_encoder *enc;
    CHECK(sp_encoder_create_seeded(&ec, 1, &enc, err, sizeof err) == SP_OK);
    CHECK(sp_encoder_save_safetensors(enc, path, err, sizeof err) == SP_OK);
    sp_encoder_destroy(enc);
    err[0] = 0;
    CHECK(sp_decoder_load_safetensors(path, HEADS, &back, err, sizeof err) == SP_ERR_FORMAT);
    CHECK(strstr(err, "no wte.weight") != NULL);
    unlink(path);

    sp_decoder_destroy(again);
    sp_decoder_destroy(other);
    sp_decoder_destroy(dec);
    return sp_test_done("test_gen_decoder");
}
#endif
