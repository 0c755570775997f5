/* BERT-style transformer encoder on the CPU, float32, matrix products through OpenBLAS: token +
 * position embeddings, L post-LayerNorm layers of multi-head self-attention and a GELU feed-forward,
 * mean pooling over real tokens. Weights come from a seed or a safetensors file (Hugging Face
 * BertModel names), and every operation reports its time so the server can record it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "serve/blas_int.h"
#include "serve/cpu_model_int.h"
#include "serve/safetensors_int.h"
#include "serve/serve_int.h"

typedef struct enc_layer {
    float *wqkv, *bqkv; /* [3H, H] rows: query, key, value (nn.Linear layout: out x in) */
    float *wo, *bo;     /* [H, H] */
    float *ln1_g, *ln1_b;
    float *w1, *b1;     /* [F, H] */
    float *w2, *b2;     /* [H, F] */
    float *ln2_g, *ln2_b;
} enc_layer;

struct sp_encoder {
    sp_encoder_config cfg;
    float *blob; /* every weight, one allocation */
    size_t blob_floats;
    float *tok_emb, *pos_emb, *type_emb; /* [V,H], [P,H], [1,H] (token type 0) */
    float *emb_ln_g, *emb_ln_b;
    enc_layer *layers;
};

struct sp_encoder_ws {
    size_t max_tokens;
    size_t tokens, hidden, ffn, seq; /* what the buffers hold room for */
    float *x, *qkv, *ctx, *tmp, *ffn_buf, *scores;
};

static const float kLnEps = 1e-12f; /* BERT's layer_norm_eps */

/* ---- layout and creation ---- */

static sp_status cfg_check(const sp_encoder_config *c, char *err, size_t errlen)
{
    return sp_cpu_model_check("encoder", c->vocab_size, c->hidden, c->layers, c->heads, c->ffn, c->max_len, err,
                              errlen);
}

static sp_status enc_alloc(const sp_encoder_config *cfg, sp_encoder **out)
{
    size_t H = cfg->hidden, F = cfg->ffn;
    size_t per_layer = 3 * H * H + 3 * H + H * H + H + 2 * H + F * H + F + H * F + H + 2 * H;
    size_t total = (size_t)cfg->vocab_size * H + (size_t)cfg->max_len * H + H + 2 * H + per_layer * cfg->layers;
    sp_encoder *enc = calloc(1, sizeof(*enc));
    if (!enc)
        return SP_ERR_NOMEM;
    enc->cfg = *cfg;
    enc->blob = malloc(total * sizeof(float));
    enc->layers = calloc(cfg->layers ? cfg->layers : 1, sizeof(enc_layer));
    if (!enc->blob || !enc->layers) {
        sp_encoder_destroy(enc);
        return SP_ERR_NOMEM;
    }
    enc->blob_floats = total;
    float *p = enc->blob;
#define TAKE(ptr, n) ((ptr) = p, p += (n))
    TAKE(enc->tok_emb, (size_t)cfg->vocab_size * H);
    TAKE(enc->pos_emb, (size_t)cfg->max_len * H);
    TAKE(enc->type_emb, H);
    TAKE(enc->emb_ln_g, H);
    TAKE(enc->emb_ln_b, H);
    for (uint32_t l = 0; l < cfg->layers; l++) {
        enc_layer *L = &enc->layers[l];
        TAKE(L->wqkv, 3 * H * H);
        TAKE(L->bqkv, 3 * H);
        TAKE(L->wo, H * H);
        TAKE(L->bo, H);
        TAKE(L->ln1_g, H);
        TAKE(L->ln1_b, H);
        TAKE(L->w1, F * H);
        TAKE(L->b1, F);
        TAKE(L->w2, H * F);
        TAKE(L->b2, H);
        TAKE(L->ln2_g, H);
        TAKE(L->ln2_b, H);
    }
#undef TAKE
    *out = enc;
    return SP_OK;
}

void sp_encoder_destroy(sp_encoder *enc)
{
    if (!enc)
        return;
    free(enc->blob);
    free(enc->layers);
    free(enc);
}

const sp_encoder_config *sp_encoder_get_config(const sp_encoder *enc) { return &enc->cfg; }

sp_status sp_encoder_create_seeded(const sp_encoder_config *cfg, uint64_t seed, sp_encoder **out, char *err,
                                   size_t errlen)
{
    sp_status st = cfg_check(cfg, err, errlen);
    if (st != SP_OK || (st = sp_blas_open(err, errlen)) != SP_OK)
        return st;
    sp_encoder *enc;
    if ((st = enc_alloc(cfg, &enc)) != SP_OK) {
        sp_errf(err, errlen, "encoder: out of memory for the weights");
        return st;
    }
    sp_cpu_model_fill_seeded(enc->blob, enc->blob_floats, seed); /* BERT's N(0, 0.02) in spirit */
    size_t H = cfg->hidden;
    sp_cpu_model_fill_const(enc->emb_ln_g, H, 1.0f);
    sp_cpu_model_fill_const(enc->emb_ln_b, H, 0.0f);
    for (uint32_t l = 0; l < cfg->layers; l++) {
        sp_cpu_model_fill_const(enc->layers[l].ln1_g, H, 1.0f);
        sp_cpu_model_fill_const(enc->layers[l].ln1_b, H, 0.0f);
        sp_cpu_model_fill_const(enc->layers[l].ln2_g, H, 1.0f);
        sp_cpu_model_fill_const(enc->layers[l].ln2_b, H, 0.0f);
    }
    *out = enc;
    return SP_OK;
}

/* ---- safetensors (the format itself: safetensors.c) ---- */

#define ENC_MAX_TENSORS (6 + 16 * SP_ENC_MAX_LAYERS)

/* The Hugging Face BertModel tensors and where each lives in our layout. */
static size_t enc_tensors(const sp_encoder *enc, sp_st_tensor *t)
{
    size_t H = enc->cfg.hidden, F = enc->cfg.ffn, n = 0;
    char nm[96];
    n = sp_st_add(t, n, "embeddings.word_embeddings.weight", enc->tok_emb, enc->cfg.vocab_size, H, 2);
    n = sp_st_add(t, n, "embeddings.position_embeddings.weight", enc->pos_emb, enc->cfg.max_len, H, 2);
    n = sp_st_add(t, n, "embeddings.token_type_embeddings.weight", enc->type_emb, 1, H, 2);
    n = sp_st_add(t, n, "embeddings.LayerNorm.weight", enc->emb_ln_g, H, 0, 1);
    n = sp_st_add(t, n, "embeddings.LayerNorm.bias", enc->emb_ln_b, H, 0, 1);
    for (uint32_t l = 0; l < enc->cfg.layers; l++) {
        const enc_layer *L = &enc->layers[l];
#define T2(suffix, ptr, a, b) (snprintf(nm, sizeof(nm), "encoder.layer.%u.%s", l, suffix), n = sp_st_add(t, n, nm, ptr, a, b, 2))
#define T1(suffix, ptr, a) (snprintf(nm, sizeof(nm), "encoder.layer.%u.%s", l, suffix), n = sp_st_add(t, n, nm, ptr, a, 0, 1))
        T2("attention.self.query.weight", L->wqkv, H, H);
        T1("attention.self.query.bias", L->bqkv, H);
        T2("attention.self.key.weight", L->wqkv + H * H, H, H);
        T1("attention.self.key.bias", L->bqkv + H, H);
        T2("attention.self.value.weight", L->wqkv + 2 * H * H, H, H);
        T1("attention.self.value.bias", L->bqkv + 2 * H, H);
        T2("attention.output.dense.weight", L->wo, H, H);
        T1("attention.output.dense.bias", L->bo, H);
        T1("attention.output.LayerNorm.weight", L->ln1_g, H);
        T1("attention.output.LayerNorm.bias", L->ln1_b, H);
        T2("intermediate.dense.weight", L->w1, F, H);
        T1("intermediate.dense.bias", L->b1, F);
        T2("output.dense.weight", L->w2, H, F);
        T1("output.dense.bias", L->b2, H);
        T1("output.LayerNorm.weight", L->ln2_g, H);
        T1("output.LayerNorm.bias", L->ln2_b, H);
#undef T1
#undef T2
    }
    return n;
}

sp_status sp_encoder_save_safetensors(const sp_encoder *enc, const char *path, char *err, size_t errlen)
{
    sp_st_tensor *t = malloc(ENC_MAX_TENSORS * sizeof(*t));
    if (!t)
        return SP_ERR_NOMEM;
    size_t n = enc_tensors(enc, t);
    sp_status st = sp_st_save(path, t, n, err, errlen);
    free(t);
    return st;
}

/* The model's size from the file's shapes: width and vocabulary from the word embeddings, positions,
 * layers counted by their query weights, the feed-forward width from layer 0. */
static sp_status enc_config_of(const sp_st_file *sf, const char *prefix, uint32_t heads, sp_encoder_config *cfg,
                               char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->heads = heads;
    size_t d0;
    sp_status st;
    if ((st = sp_st_embedding(sf, prefix, "embeddings.word_embeddings.weight", "", SP_ENC_MAX_HIDDEN, &cfg->hidden,
                              &d0, err, errlen)) != SP_OK)
        return st;
    cfg->vocab_size = (uint32_t)d0;
    if ((st = sp_st_rows(sf, prefix, "embeddings.position_embeddings.weight", cfg->hidden, &d0, err, errlen)) != SP_OK)
        return st;
    cfg->max_len = (uint32_t)(d0 > SP_ENC_MAX_LEN ? SP_ENC_MAX_LEN + 1 : d0);
    cfg->layers = sp_st_count_layers(sf, prefix, "encoder.layer.", ".attention.self.query.weight", SP_ENC_MAX_LAYERS);
    if (cfg->layers > 0) {
        if ((st = sp_st_rows(sf, prefix, "encoder.layer.0.intermediate.dense.weight", cfg->hidden, &d0, err,
                             errlen)) != SP_OK)
            return st;
        cfg->ffn = (uint32_t)d0;
    } else {
        cfg->ffn = cfg->hidden; /* unused with no layers, but must be valid */
    }
    return cfg_check(cfg, err, errlen);
}

static sp_status enc_create(const sp_st_file *sf, const char *prefix, uint32_t heads, void **model, char *err,
                            size_t errlen)
{
    sp_encoder_config cfg;
    sp_status st = enc_config_of(sf, prefix, heads, &cfg, err, errlen);
    if (st == SP_OK && (st = enc_alloc(&cfg, (sp_encoder **)model)) != SP_OK)
        sp_errf(err, errlen, "%s: out of memory for the weights", sf->path);
    return st;
}

static size_t enc_tensors_of(const void *model, sp_st_tensor *t) { return enc_tensors(model, t); }
static void enc_destroy_model(void *model) { sp_encoder_destroy(model); }

sp_status sp_encoder_load_safetensors(const char *path, uint32_t heads, sp_encoder **out, char *err, size_t errlen)
{
    /* BertModel names, with or without the "bert." prefix a BertFor* checkpoint has; token types are
     * optional (a model without them: zeros), [T, hidden] with any T when present (only type 0 is used) */
    static const sp_st_model_kind kind = {"embeddings.word_embeddings.weight", "bert.", ENC_MAX_TENSORS,
                                          "embeddings.token_type_embeddings.weight", enc_create, enc_tensors_of,
                                          enc_destroy_model};
    void *enc;
    sp_status st = sp_blas_open(err, errlen);
    if (st != SP_OK)
        return st;
    st = sp_st_load_model(path, heads, &kind, &enc, err, errlen);
    if (st == SP_OK)
        *out = enc;
    return st;
}

void sp_encoder_get_view(const sp_encoder *enc, sp_encoder_view *out)
{
    out->blob = enc->blob;
    out->blob_floats = enc->blob_floats;
    out->tok_emb = enc->tok_emb;
    out->pos_emb = enc->pos_emb;
    out->type_emb = enc->type_emb;
    out->emb_ln_g = enc->emb_ln_g;
    out->emb_ln_b = enc->emb_ln_b;
}

void sp_encoder_get_layer_view(const sp_encoder *enc, uint32_t layer, sp_encoder_layer_view *out)
{
    const enc_layer *L = &enc->layers[layer];
    sp_encoder_layer_view v = {L->wqkv, L->bqkv, L->wo, L->bo, L->ln1_g, L->ln1_b,
                               L->w1, L->b1, L->w2, L->b2, L->ln2_g, L->ln2_b};
    *out = v;
}

/* ---- forward pass ---- */

size_t sp_encoder_op_count(const sp_encoder *enc) { return 2 + (size_t)SP_ENC_OPS_PER_LAYER * enc->cfg.layers; }

const char *sp_encoder_op_name(const sp_encoder *enc, size_t index, char *buf, size_t buflen)
{
    static const char *const per_layer[SP_ENC_OPS_PER_LAYER] = {"qkv_gemm", "attention", "attn_out_gemm",
                                                                 "layernorm1", "ffn_gemm1", "gelu", "ffn_gemm2",
                                                                 "layernorm2"};
    size_t n = sp_encoder_op_count(enc);
    if (index == 0)
        snprintf(buf, buflen, "embed");
    else if (index + 1 == n)
        snprintf(buf, buflen, "pool");
    else if (index < n)
        snprintf(buf, buflen, "l%zu.%s", (index - 1) / SP_ENC_OPS_PER_LAYER,
                 per_layer[(index - 1) % SP_ENC_OPS_PER_LAYER]);
    else
        snprintf(buf, buflen, "?");
    return buf;
}

sp_status sp_encoder_ws_create(size_t max_tokens, sp_encoder_ws **out)
{
    sp_encoder_ws *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return SP_ERR_NOMEM;
    ws->max_tokens = max_tokens;
    *out = ws;
    return SP_OK;
}

static void ws_free_buffers(sp_encoder_ws *ws)
{
    free(ws->x);
    free(ws->qkv);
    free(ws->ctx);
    free(ws->tmp);
    free(ws->ffn_buf);
    free(ws->scores);
    ws->x = ws->qkv = ws->ctx = ws->tmp = ws->ffn_buf = ws->scores = NULL;
    ws->tokens = ws->hidden = ws->ffn = ws->seq = 0;
}

void sp_encoder_ws_destroy(sp_encoder_ws *ws)
{
    if (!ws)
        return;
    ws_free_buffers(ws);
    free(ws);
}

/* Grows the workspace to hold `tokens` rows (doubling, so a steady load stops allocating). */
static sp_status ws_reserve(sp_encoder_ws *ws, size_t tokens, size_t H, size_t F, size_t S)
{
    if (tokens > ws->max_tokens)
        return SP_ERR_LIMIT;
    if (tokens <= ws->tokens && H == ws->hidden && F == ws->ffn && S <= ws->seq)
        return SP_OK;
    size_t want = ws->tokens && H == ws->hidden && F == ws->ffn ? ws->tokens : 64;
    while (want < tokens)
        want *= 2;
    if (want > ws->max_tokens)
        want = ws->max_tokens;
    size_t seq = S > ws->seq ? S : ws->seq;
    ws_free_buffers(ws);
    ws->x = malloc(want * H * sizeof(float));
    ws->qkv = malloc(want * 3 * H * sizeof(float));
    ws->ctx = malloc(want * H * sizeof(float));
    ws->tmp = malloc(want * H * sizeof(float));
    ws->ffn_buf = malloc(want * F * sizeof(float));
    ws->scores = malloc(seq * seq * sizeof(float));
    if (!ws->x || !ws->qkv || !ws->ctx || !ws->tmp || !ws->ffn_buf || !ws->scores) {
        ws_free_buffers(ws);
        return SP_ERR_NOMEM;
    }
    ws->tokens = want;
    ws->hidden = H;
    ws->ffn = F;
    ws->seq = seq;
    return SP_OK;
}

/* x[i] = LayerNorm(x[i] + add[i]) over rows of width H (add may be NULL). */
static void layernorm(float *x, const float *add, size_t rows, size_t H, const float *g, const float *b)
{
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * H;
        if (add) {
            const float *a = add + r * H;
            for (size_t j = 0; j < H; j++)
                row[j] += a[j];
        }
        sp_cpu_layernorm(row, row, 1, H, g, b, kLnEps);
    }
}

/* C[rows, out] = A[rows, in] W[out, in]^T + bias: the nn.Linear product. */
static void linear(const float *A, size_t rows, size_t in, const float *W, const float *bias, size_t outw, float *C)
{
    for (size_t r = 0; r < rows; r++)
        memcpy(C + r * outw, bias, outw * sizeof(float));
    sp_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)outw, (int)in, 1.0f, A, (int)in, W, (int)in,
                   1.0f, C, (int)outw);
}

#define OP_DONE(k)                                   \
    do {                                             \
        uint64_t now_ = sp_now_ns();                 \
        if (on_op)                                   \
            on_op(user, (k), t0, now_);              \
        t0 = now_;                                   \
    } while (0)

sp_status sp_encoder_forward(const sp_encoder *enc, sp_encoder_ws *ws, const int32_t *ids, const uint32_t *lengths,
                             size_t batch, size_t padded_len, float *out, sp_encoder_op_fn on_op, void *user)
{
    const sp_encoder_config *c = &enc->cfg;
    size_t H = c->hidden, F = c->ffn, S = padded_len, N = batch * S, nh = c->heads, d = H / nh;
    if (batch == 0 || S == 0 || S > c->max_len || !sp_forward_inputs_valid(ids, lengths, batch, S, c->vocab_size))
        return SP_ERR_INVALID;
    sp_status st = ws_reserve(ws, N, H, F, S);
    if (st != SP_OK)
        return st;
    uint64_t t0 = sp_now_ns();
    size_t op = 0;

    /* embed: token + position + token type 0, then LayerNorm */
    for (size_t b = 0; b < batch; b++)
        for (size_t t = 0; t < S; t++) {
            float *row = ws->x + (b * S + t) * H;
            const float *te = enc->tok_emb + (size_t)ids[b * S + t] * H, *pe = enc->pos_emb + t * H;
            for (size_t j = 0; j < H; j++)
                row[j] = te[j] + pe[j] + enc->type_emb[j];
        }
    layernorm(ws->x, NULL, N, H, enc->emb_ln_g, enc->emb_ln_b);
    OP_DONE(op++);

    const float scale = 1.0f / sqrtf((float)d);
    for (uint32_t l = 0; l < c->layers; l++) {
        const enc_layer *L = &enc->layers[l];
        linear(ws->x, N, H, L->wqkv, L->bqkv, 3 * H, ws->qkv);
        OP_DONE(op++);

        /* attention per sequence and head over the whole padded shape; keys at or past the
         * sequence's length get weight 0, so a real token never sees padding */
        for (size_t b = 0; b < batch; b++) {
            size_t len = lengths[b];
            const float *base = ws->qkv + b * S * 3 * H;
            for (size_t h = 0; h < nh; h++) {
                const float *Q = base + h * d, *K = base + H + h * d, *V = base + 2 * H + h * d;
                sp_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)S, (int)S, (int)d, scale, Q, (int)(3 * H),
                               K, (int)(3 * H), 0.0f, ws->scores, (int)S);
                for (size_t i = 0; i < S; i++) {
                    float *row = ws->scores + i * S;
                    float mx = row[0];
                    for (size_t j = 1; j < len; j++)
                        mx = row[j] > mx ? row[j] : mx;
                    float sum = 0.0f;
                    for (size_t j = 0; j < len; j++) {
                        row[j] = expf(row[j] - mx);
                        sum += row[j];
                    }
                    float inv = 1.0f / sum;
                    for (size_t j = 0; j < len; j++)
                        row[j] *= inv;
                    for (size_t j = len; j < S; j++)
                        row[j] = 0.0f;
                }
                sp_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)S, (int)d, (int)S, 1.0f, ws->scores,
                               (int)S, V, (int)(3 * H), 0.0f, ws->ctx + b * S * H + h * d, (int)H);
            }
        }
        OP_DONE(op++);
        linear(ws->ctx, N, H, L->wo, L->bo, H, ws->tmp);
        OP_DONE(op++);
        layernorm(ws->x, ws->tmp, N, H, L->ln1_g, L->ln1_b);
        OP_DONE(op++);
        linear(ws->x, N, H, L->w1, L->b1, F, ws->ffn_buf);
        OP_DONE(op++);
        /* exact GELU, as BERT uses: x * Phi(x) */
        for (size_t i = 0; i < N * F; i++) {
            float v = ws->ffn_buf[i];
            ws->ffn_buf[i] = 0.5f * v * (1.0f + erff(v * 0.70710678f));
        }
        OP_DONE(op++);
        linear(ws->ffn_buf, N, F, L->w2, L->b2, H, ws->tmp);
        OP_DONE(op++);
        layernorm(ws->x, ws->tmp, N, H, L->ln2_g, L->ln2_b);
        OP_DONE(op++);
    }

    /* mean pooling over the real tokens only */
    for (size_t b = 0; b < batch; b++) {
        float *o = out + b * H;
        memset(o, 0, H * sizeof(float));
        for (size_t t = 0; t < lengths[b]; t++) {
            const float *row = ws->x + (b * S + t) * H;
            for (size_t j = 0; j < H; j++)
                o[j] += row[j];
        }
        float inv = 1.0f / (float)lengths[b];
        for (size_t j = 0; j < H; j++)
            o[j] *= inv;
    }
    OP_DONE(op++);
    return SP_OK;
}
