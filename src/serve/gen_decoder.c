/* GPT-2-style decoder-only transformer on the CPU, float32, matrix products through OpenBLAS, with a
 * KV cache: a step's sequences (prefill chunks and single decode tokens alike) run as one batch of
 * rows through the projections and the feed-forward, and each attends causally over its own cache.
 * Weights come from a seed or a safetensors file (GPT2Model names, read by safetensors.c), and every
 * operation reports its time so the service can record it. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "serve/blas_int.h"
#include "serve/cpu_model_int.h"
#include "serve/cuda/dec_layout.h"
#include "serve/gen_int.h"
#include "serve/safetensors_int.h"

typedef struct dec_layer {
    float *ln1_g, *ln1_b;
    float *w_qkv, *b_qkv;   /* [H, 3H] */
    float *w_o, *b_o;       /* [H, H] */
    float *ln2_g, *ln2_b;
    float *w_fc, *b_fc;     /* [H, F] */
    float *w_proj, *b_proj; /* [F, H] */
} dec_layer;

struct sp_decoder {
    sp_decoder_config cfg;
    float *blob; /* every weight, one allocation */
    size_t blob_floats;
    float *wte, *wpe, *lnf_g, *lnf_b;
    dec_layer *layers;
};

struct sp_decoder_kv {
    uint32_t layers, slots, positions, hidden;
    float *k, *v; /* [layer][slot][position][hidden] */
};

struct sp_decoder_ws {
    size_t max_rows, max_logits;
    size_t rows, hidden, ffn, keys, sel; /* what the buffers hold room for */
    float *x, *a, *qkv, *ctx, *ffn_buf, *scores, *sel_buf;
};

/* ---- layout and creation ---- */

static sp_status cfg_check(const sp_decoder_config *c, char *err, size_t errlen)
{
    return sp_cpu_model_check("decoder", c->vocab_size, c->hidden, c->layers, c->heads, c->ffn, c->max_len, err,
                              errlen);
}

static sp_status dec_alloc(const sp_decoder_config *cfg, sp_decoder **out)
{
    size_t H = cfg->hidden, F = cfg->ffn;
    size_t per_layer = 2 * H + 3 * H * H + 3 * H + H * H + H + 2 * H + H * F + F + F * H + H;
    size_t total = (size_t)cfg->vocab_size * H + (size_t)cfg->max_len * H + 2 * H + per_layer * cfg->layers;
    sp_decoder *dec = calloc(1, sizeof(*dec));
    if (!dec)
        return SP_ERR_NOMEM;
    dec->cfg = *cfg;
    dec->blob = malloc(total * sizeof(float));
    dec->layers = calloc(cfg->layers ? cfg->layers : 1, sizeof(dec_layer));
    if (!dec->blob || !dec->layers) {
        sp_decoder_destroy(dec);
        return SP_ERR_NOMEM;
    }
    dec->blob_floats = total;
    float *p = dec->blob;
#define TAKE(ptr, n) ((ptr) = p, p += (n))
    TAKE(dec->wte, (size_t)cfg->vocab_size * H);
    TAKE(dec->wpe, (size_t)cfg->max_len * H);
    TAKE(dec->lnf_g, H);
    TAKE(dec->lnf_b, H);
    for (uint32_t l = 0; l < cfg->layers; l++) {
        dec_layer *L = &dec->layers[l];
        TAKE(L->ln1_g, H);
        TAKE(L->ln1_b, H);
        TAKE(L->w_qkv, 3 * H * H);
        TAKE(L->b_qkv, 3 * H);
        TAKE(L->w_o, H * H);
        TAKE(L->b_o, H);
        TAKE(L->ln2_g, H);
        TAKE(L->ln2_b, H);
        TAKE(L->w_fc, H * F);
        TAKE(L->b_fc, F);
        TAKE(L->w_proj, F * H);
        TAKE(L->b_proj, H);
    }
#undef TAKE
    *out = dec;
    return SP_OK;
}

void sp_decoder_destroy(sp_decoder *dec)
{
    if (!dec)
        return;
    free(dec->blob);
    free(dec->layers);
    free(dec);
}

const sp_decoder_config *sp_decoder_get_config(const sp_decoder *dec) { return &dec->cfg; }

/* LayerNorms start as the identity (gain 1, bias 0), as GPT-2's initialisation has them. */
static void layernorms_identity(sp_decoder *dec)
{
    size_t H = dec->cfg.hidden;
    sp_cpu_model_fill_const(dec->lnf_g, H, 1.0f);
    sp_cpu_model_fill_const(dec->lnf_b, H, 0.0f);
    for (uint32_t l = 0; l < dec->cfg.layers; l++) {
        sp_cpu_model_fill_const(dec->layers[l].ln1_g, H, 1.0f);
        sp_cpu_model_fill_const(dec->layers[l].ln1_b, H, 0.0f);
        sp_cpu_model_fill_const(dec->layers[l].ln2_g, H, 1.0f);
        sp_cpu_model_fill_const(dec->layers[l].ln2_b, H, 0.0f);
    }
}

sp_status sp_decoder_create_seeded(const sp_decoder_config *cfg, uint64_t seed, sp_decoder **out, char *err,
                                   size_t errlen)
{
    sp_status st = cfg_check(cfg, err, errlen);
    if (st != SP_OK || (st = sp_blas_open(err, errlen)) != SP_OK)
        return st;
    sp_decoder *dec;
    if ((st = dec_alloc(cfg, &dec)) != SP_OK) {
        sp_errf(err, errlen, "decoder: out of memory for the weights");
        return st;
    }
    sp_cpu_model_fill_seeded(dec->blob, dec->blob_floats, seed); /* GPT-2's N(0, 0.02) in spirit */
    layernorms_identity(dec);
    *out = dec;
    return SP_OK;
}

/* ---- safetensors (GPT2Model names) ---- */

#define DEC_MAX_TENSORS (4 + 12 * SP_ENC_MAX_LAYERS)

static size_t dec_tensors(const sp_decoder *dec, sp_st_tensor *t)
{
    size_t H = dec->cfg.hidden, F = dec->cfg.ffn, n = 0;
    char nm[96];
    n = sp_st_add(t, n, "wte.weight", dec->wte, dec->cfg.vocab_size, H, 2);
    n = sp_st_add(t, n, "wpe.weight", dec->wpe, dec->cfg.max_len, H, 2);
    for (uint32_t l = 0; l < dec->cfg.layers; l++) {
        const dec_layer *L = &dec->layers[l];
#define T2(suffix, ptr, a, b) (snprintf(nm, sizeof(nm), "h.%u.%s", l, suffix), n = sp_st_add(t, n, nm, ptr, a, b, 2))
#define T1(suffix, ptr, a) (snprintf(nm, sizeof(nm), "h.%u.%s", l, suffix), n = sp_st_add(t, n, nm, ptr, a, 0, 1))
        T1("ln_1.weight", L->ln1_g, H);
        T1("ln_1.bias", L->ln1_b, H);
        T2("attn.c_attn.weight", L->w_qkv, H, 3 * H);
        T1("attn.c_attn.bias", L->b_qkv, 3 * H);
        T2("attn.c_proj.weight", L->w_o, H, H);
        T1("attn.c_proj.bias", L->b_o, H);
        T1("ln_2.weight", L->ln2_g, H);
        T1("ln_2.bias", L->ln2_b, H);
        T2("mlp.c_fc.weight", L->w_fc, H, F);
        T1("mlp.c_fc.bias", L->b_fc, F);
        T2("mlp.c_proj.weight", L->w_proj, F, H);
        T1("mlp.c_proj.bias", L->b_proj, H);
#undef T1
#undef T2
    }
    n = sp_st_add(t, n, "ln_f.weight", dec->lnf_g, H, 0, 1);
    n = sp_st_add(t, n, "ln_f.bias", dec->lnf_b, H, 0, 1);
    return n;
}

sp_status sp_decoder_save_safetensors(const sp_decoder *dec, const char *path, char *err, size_t errlen)
{
    sp_st_tensor *t = malloc(DEC_MAX_TENSORS * sizeof(*t));
    if (!t)
        return SP_ERR_NOMEM;
    size_t n = dec_tensors(dec, t);
    sp_status st = sp_st_save(path, t, n, err, errlen);
    free(t);
    return st;
}

/* The model's size from the file's shapes: width and vocabulary from wte, positions from wpe, layers
 * counted by their c_attn weights, the feed-forward width from layer 0's c_fc. */
static sp_status dec_config_of(const sp_st_file *sf, const char *prefix, uint32_t heads, sp_decoder_config *cfg,
                               char *err, size_t errlen)
{
    const char *path = sf->path;
    memset(cfg, 0, sizeof(*cfg));
    cfg->heads = heads;
    size_t d0;
    sp_status st;
    if ((st = sp_st_embedding(sf, prefix, "wte.weight", " (GPT-2 names expected)", SP_ENC_MAX_HIDDEN, &cfg->hidden,
                              &d0, err, errlen)) != SP_OK)
        return st;
    cfg->vocab_size = (uint32_t)d0;
    if ((st = sp_st_rows(sf, prefix, "wpe.weight", cfg->hidden, &d0, err, errlen)) != SP_OK)
        return st;
    cfg->max_len = (uint32_t)(d0 > SP_ENC_MAX_LEN ? SP_ENC_MAX_LEN + 1 : d0);
    cfg->layers = sp_st_count_layers(sf, prefix, "h.", ".attn.c_attn.weight", SP_ENC_MAX_LAYERS);
    if (cfg->layers > 0) {
        json_t *fc = sp_st_get(sf, prefix, "h.0.mlp.c_fc.weight");
        json_t *fs = json_is_object(fc) ? json_object_get(fc, "shape") : NULL;
        if (!json_is_array(fs) || json_array_size(fs) != 2 || !json_is_integer(json_array_get(fs, 1)) ||
            json_integer_value(json_array_get(fs, 1)) <= 0 || json_integer_value(json_array_get(fs, 1)) > SP_ENC_MAX_FFN) {
            sp_errf(err, errlen, "%s: tensor h.0.mlp.c_fc.weight [hidden, ffn] is missing or has a bad shape", path);
            return SP_ERR_FORMAT;
        }
        cfg->ffn = (uint32_t)json_integer_value(json_array_get(fs, 1));
    } else {
        cfg->ffn = cfg->hidden; /* unused with no layers, but must be valid */
    }
    return cfg_check(cfg, err, errlen);
}

static sp_status dec_create(const sp_st_file *sf, const char *prefix, uint32_t heads, void **model, char *err,
                            size_t errlen)
{
    sp_decoder_config cfg;
    sp_status st = dec_config_of(sf, prefix, heads, &cfg, err, errlen);
    if (st == SP_OK && (st = dec_alloc(&cfg, (sp_decoder **)model)) != SP_OK)
        sp_errf(err, errlen, "%s: out of memory for the weights", sf->path);
    return st;
}

static size_t dec_tensors_of(const void *model, sp_st_tensor *t) { return dec_tensors(model, t); }
static void dec_destroy_model(void *model) { sp_decoder_destroy(model); }

sp_status sp_decoder_load_safetensors(const char *path, uint32_t heads, sp_decoder **out, char *err, size_t errlen)
{
    /* GPT2Model names, with or without the "transformer." prefix a GPT2LMHeadModel checkpoint has */
    static const sp_st_model_kind kind = {"wte.weight", "transformer.", DEC_MAX_TENSORS, NULL,
                                          dec_create, dec_tensors_of, dec_destroy_model};
    void *dec;
    sp_status st = sp_blas_open(err, errlen);
    if (st != SP_OK)
        return st;
    st = sp_st_load_model(path, heads, &kind, &dec, err, errlen);
    if (st == SP_OK)
        *out = dec;
    return st;
}

void sp_decoder_get_view(const sp_decoder *dec, sp_decoder_view *out)
{
    sp_decoder_view v = {dec->wte, dec->wpe, dec->lnf_g, dec->lnf_b, dec->blob, dec->blob_floats};
    *out = v;
}

void sp_decoder_get_layer_view(const sp_decoder *dec, uint32_t layer, sp_decoder_layer_view *out)
{
    const dec_layer *L = &dec->layers[layer];
    sp_decoder_layer_view v = {L->ln1_g, L->ln1_b, L->w_qkv, L->b_qkv, L->w_o,    L->b_o,
                               L->ln2_g, L->ln2_b, L->w_fc,  L->b_fc,  L->w_proj, L->b_proj};
    *out = v;
}

/* ---- KV cache and workspace ---- */

sp_status sp_decoder_kv_create(const sp_decoder *dec, uint32_t slots, uint32_t positions, sp_decoder_kv **out)
{
    if (slots == 0 || positions == 0 || positions > dec->cfg.max_len)
        return SP_ERR_INVALID;
    sp_decoder_kv *kv = calloc(1, sizeof(*kv));
    if (!kv)
        return SP_ERR_NOMEM;
    kv->layers = dec->cfg.layers;
    kv->slots = slots;
    kv->positions = positions;
    kv->hidden = dec->cfg.hidden;
    size_t n = (size_t)(kv->layers ? kv->layers : 1) * slots * positions * kv->hidden;
    kv->k = malloc(n * sizeof(float));
    kv->v = malloc(n * sizeof(float));
    if (!kv->k || !kv->v) {
        sp_decoder_kv_destroy(kv);
        return SP_ERR_NOMEM;
    }
    *out = kv;
    return SP_OK;
}

void sp_decoder_kv_destroy(sp_decoder_kv *kv)
{
    if (!kv)
        return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

/* Where layer l's keys (or values) of slot s start: positions x hidden floats. */
static size_t kv_at(const sp_decoder_kv *kv, uint32_t l, uint32_t s)
{
    return (((size_t)l * kv->slots + s) * kv->positions) * kv->hidden;
}

sp_status sp_decoder_ws_create(size_t max_rows, size_t max_logits, sp_decoder_ws **out)
{
    sp_decoder_ws *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return SP_ERR_NOMEM;
    ws->max_rows = max_rows;
    ws->max_logits = max_logits;
    *out = ws;
    return SP_OK;
}

static void ws_free_buffers(sp_decoder_ws *ws)
{
    free(ws->x);
    free(ws->a);
    free(ws->qkv);
    free(ws->ctx);
    free(ws->ffn_buf);
    free(ws->scores);
    free(ws->sel_buf);
    ws->x = ws->a = ws->qkv = ws->ctx = ws->ffn_buf = ws->scores = ws->sel_buf = NULL;
    ws->rows = ws->hidden = ws->ffn = ws->keys = ws->sel = 0;
}

void sp_decoder_ws_destroy(sp_decoder_ws *ws)
{
    if (!ws)
        return;
    ws_free_buffers(ws);
    free(ws);
}

/* Makes *buf hold at least `need` floats, growing to `want` (>= need); the old contents are not kept. */
static sp_status grow(float **buf, size_t *have, size_t need, size_t want)
{
    if (need <= *have)
        return SP_OK;
    free(*buf);
    *buf = malloc((want ? want : 1) * sizeof(float));
    *have = *buf ? want : 0;
    return *buf ? SP_OK : SP_ERR_NOMEM;
}

/* Grows the workspace to `rows` rows, `sel` logit rows and a score block of `keys` floats, each to at
 * least twice what it held, so a steady load (a sequence's keys grow by one per decode step) stops
 * allocating after a few steps. */
static sp_status ws_reserve(sp_decoder_ws *ws, size_t rows, size_t H, size_t F, size_t keys, size_t sel)
{
    if (rows > ws->max_rows || sel > ws->max_logits)
        return SP_ERR_LIMIT;
    if (H != ws->hidden || F != ws->ffn) {
        ws_free_buffers(ws);
        ws->hidden = H;
        ws->ffn = F;
    }
    if (rows > ws->rows) {
        size_t want = ws->rows ? ws->rows : 16;
        while (want < rows)
            want *= 2;
        if (want > ws->max_rows)
            want = ws->max_rows;
        size_t have[5] = {0, 0, 0, 0, 0};
        ws->rows = 0;
        if (grow(&ws->x, &have[0], 1, want * H) != SP_OK || grow(&ws->a, &have[1], 1, want * H) != SP_OK ||
            grow(&ws->qkv, &have[2], 1, want * 3 * H) != SP_OK || grow(&ws->ctx, &have[3], 1, want * H) != SP_OK ||
            grow(&ws->ffn_buf, &have[4], 1, want * F) != SP_OK)
            return SP_ERR_NOMEM;
        ws->rows = want;
    }
    size_t ks = ws->keys;
    if (grow(&ws->scores, &ws->keys, keys, keys > 2 * ks ? keys : 2 * ks) != SP_OK)
        return SP_ERR_NOMEM;
    size_t have_sel = ws->sel * H, ss = ws->sel;
    if (grow(&ws->sel_buf, &have_sel, sel * H, (sel > 2 * ss ? sel : 2 * ss) * H) != SP_OK)
        return SP_ERR_NOMEM;
    ws->sel = have_sel / H;
    return SP_OK;
}

/* ---- forward pass ---- */

size_t sp_decoder_op_count(const sp_decoder *dec) { return 3 + (size_t)SP_DEC_OPS_PER_LAYER * dec->cfg.layers; }

const char *sp_decoder_op_name(const sp_decoder *dec, size_t index, char *buf, size_t buflen)
{
    static const char *const per_layer[SP_DEC_OPS_PER_LAYER] = {"ln1", "qkv_gemm", "attention", "attn_out_gemm",
                                                                 "ln2", "ffn_gemm1", "gelu", "ffn_gemm2"};
    size_t n = sp_decoder_op_count(dec);
    if (index == 0)
        snprintf(buf, buflen, "embed");
    else if (index + 2 == n)
        snprintf(buf, buflen, "ln_f");
    else if (index + 1 == n)
        snprintf(buf, buflen, "lm_head");
    else if (index < n)
        snprintf(buf, buflen, "l%zu.%s", (index - 1) / SP_DEC_OPS_PER_LAYER,
                 per_layer[(index - 1) % SP_DEC_OPS_PER_LAYER]);
    else
        snprintf(buf, buflen, "?");
    return buf;
}

/* out[r] = LayerNorm(in[r]) over rows of width H, with GPT-2's epsilon. */
static void layernorm(const float *in, float *out, size_t rows, size_t H, const float *g, const float *b)
{
    sp_cpu_layernorm(in, out, rows, H, g, b, SP_DEC_LN_EPS);
}

/* C[rows, out] = A[rows, in] W[in, out] + bias (GPT-2's Conv1D), or C += A W + bias with `accumulate`
 * (the residual add). */
static void conv1d(const float *A, size_t rows, size_t in, const float *W, const float *bias, size_t outw, float *C,
                   int accumulate)
{
    for (size_t r = 0; r < rows; r++) {
        float *c = C + r * outw;
        if (accumulate)
            for (size_t j = 0; j < outw; j++)
                c[j] += bias[j];
        else
            memcpy(c, bias, outw * sizeof(float));
    }
    sp_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)outw, (int)in, 1.0f, A, (int)in, W,
                   (int)outw, 1.0f, C, (int)outw);
}

/* GPT-2's GELU ("gelu_new"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
static float gelu_tanh(float x)
{
    return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
}

#define OP_DONE(k)                                   \
    do {                                             \
        uint64_t now_ = sp_now_ns();                 \
        if (on_op)                                   \
            on_op(user, (k), t0, now_);              \
        t0 = now_;                                   \
    } while (0)

/* Checks the step's sequences against the model and the cache (dec_layout.c: the checks the CUDA
 * decoder makes too); sums their rows, logit rows and the largest score block (rows x keys) one
 * attention needs. The workspace's caps are ws_reserve's (SP_ERR_LIMIT). */
static sp_status check_seqs(const sp_decoder *dec, const sp_decoder_kv *kv, const sp_dec_seq *seqs, size_t nseqs,
                            size_t *rows, size_t *nlogits, size_t *keys)
{
    const sp_decoder_config *c = &dec->cfg;
    if (kv->layers != c->layers || kv->hidden != c->hidden)
        return SP_ERR_INVALID;
    sp_dec_limits lim = {c->vocab_size, c->max_len, kv->slots, kv->positions, SIZE_MAX, SIZE_MAX};
    sp_dec_layout lay;
    sp_status st = sp_dec_layout_build(seqs, nseqs, &lim, NULL, &lay);
    if (st != SP_OK)
        return st;
    *rows = lay.rows;
    *nlogits = lay.logits;
    *keys = 0;
    for (size_t i = 0; i < nseqs; i++) {
        size_t blk = (size_t)seqs[i].rows * (seqs[i].start + seqs[i].n);
        if (blk > *keys)
            *keys = blk;
    }
    return SP_OK;
}

/* Each sequence's attention for layer l: its new keys and values go into its slot, then every row
 * (padding rows like the last real one) attends over the cached positions it may see. */
static void attention(const sp_decoder *dec, sp_decoder_kv *kv, sp_decoder_ws *ws, uint32_t l, const sp_dec_seq *seqs,
                      size_t nseqs)
{
    const size_t H = dec->cfg.hidden, nh = dec->cfg.heads, d = H / nh;
    const float scale = 1.0f / sqrtf((float)d);
    size_t row0 = 0;
    for (size_t i = 0; i < nseqs; i++) {
        const sp_dec_seq *s = &seqs[i];
        float *K = kv->k + kv_at(kv, l, s->slot), *V = kv->v + kv_at(kv, l, s->slot);
        const float *q = ws->qkv + row0 * 3 * H;
        for (uint32_t j = 0; j < s->n; j++) {
            memcpy(K + (size_t)(s->start + j) * H, q + (size_t)j * 3 * H + H, H * sizeof(float));
            memcpy(V + (size_t)(s->start + j) * H, q + (size_t)j * 3 * H + 2 * H, H * sizeof(float));
        }
        size_t T = s->start + s->n, R = s->rows;
        for (size_t h = 0; h < nh; h++) {
            sp_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)T, (int)d, scale, q + h * d,
                           (int)(3 * H), K + h * d, (int)H, 0.0f, ws->scores, (int)T);
            for (size_t r = 0; r < R; r++) {
                /* causal: row r sees positions 0..start+r; a padding row sees what the last real row does */
                size_t see = s->start + (r < s->n ? r : s->n - 1) + 1;
                float *row = ws->scores + r * T;
                float mx = row[0];
                for (size_t j = 1; j < see; j++)
                    mx = row[j] > mx ? row[j] : mx;
                float sum = 0.0f;
                for (size_t j = 0; j < see; j++) {
                    row[j] = expf(row[j] - mx);
                    sum += row[j];
                }
                float inv = 1.0f / sum;
                for (size_t j = 0; j < see; j++)
                    row[j] *= inv;
                for (size_t j = see; j < T; j++)
                    row[j] = 0.0f;
            }
            sp_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)d, (int)T, 1.0f, ws->scores, (int)T,
                           V + h * d, (int)H, 0.0f, ws->ctx + row0 * H + h * d, (int)H);
        }
        row0 += R;
    }
}

sp_status sp_decoder_forward(const sp_decoder *dec, sp_decoder_kv *kv, sp_decoder_ws *ws, const sp_dec_seq *seqs,
                             size_t nseqs, float *logits, sp_encoder_op_fn on_op, void *user)
{
    const sp_decoder_config *c = &dec->cfg;
    size_t N, nlog, keys;
    sp_status st = check_seqs(dec, kv, seqs, nseqs, &N, &nlog, &keys);
    if (st != SP_OK)
        return st;
    const size_t H = c->hidden, F = c->ffn;
    if ((st = ws_reserve(ws, N, H, F, keys, nlog)) != SP_OK)
        return st;
    uint64_t t0 = sp_now_ns();
    size_t op = 0;

    /* embed: token + position; a padding row repeats the last real token one position on (clamped
     * to the model's positions): work the device does and nobody reads */
    size_t row = 0;
    for (size_t i = 0; i < nseqs; i++) {
        const sp_dec_seq *s = &seqs[i];
        for (uint32_t r = 0; r < s->rows; r++, row++) {
            int32_t id = s->ids[r < s->n ? r : s->n - 1];
            size_t pos = (size_t)s->start + r;
            if (pos >= c->max_len)
                pos = c->max_len - 1;
            const float *te = dec->wte + (size_t)id * H, *pe = dec->wpe + pos * H;
            float *x = ws->x + row * H;
            for (size_t j = 0; j < H; j++)
                x[j] = te[j] + pe[j];
        }
    }
    OP_DONE(op++);

    for (uint32_t l = 0; l < c->layers; l++) {
        const dec_layer *L = &dec->layers[l];
        layernorm(ws->x, ws->a, N, H, L->ln1_g, L->ln1_b);
        OP_DONE(op++);
        conv1d(ws->a, N, H, L->w_qkv, L->b_qkv, 3 * H, ws->qkv, 0);
        OP_DONE(op++);
        attention(dec, kv, ws, l, seqs, nseqs);
        OP_DONE(op++);
        conv1d(ws->ctx, N, H, L->w_o, L->b_o, H, ws->x, 1);
        OP_DONE(op++);
        layernorm(ws->x, ws->a, N, H, L->ln2_g, L->ln2_b);
        OP_DONE(op++);
        conv1d(ws->a, N, H, L->w_fc, L->b_fc, F, ws->ffn_buf, 0);
        OP_DONE(op++);
        for (size_t i = 0; i < N * F; i++)
            ws->ffn_buf[i] = gelu_tanh(ws->ffn_buf[i]);
        OP_DONE(op++);
        conv1d(ws->ffn_buf, N, F, L->w_proj, L->b_proj, H, ws->x, 1);
        OP_DONE(op++);
    }

    /* the final LayerNorm and the tied head, only for the last real row of each sequence that gives
     * logits: the other rows' outputs are never read */
    size_t m = 0;
    row = 0;
    for (size_t i = 0; i < nseqs; i++) {
        if (seqs[i].logits)
            layernorm(ws->x + (row + seqs[i].n - 1) * H, ws->sel_buf + m++ * H, 1, H, dec->lnf_g, dec->lnf_b);
        row += seqs[i].rows;
    }
    OP_DONE(op++);
    if (m > 0)
        sp_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)c->vocab_size, (int)H, 1.0f, ws->sel_buf,
                       (int)H, dec->wte, (int)H, 0.0f, logits, (int)c->vocab_size);
    OP_DONE(op++);
    return SP_OK;
}
