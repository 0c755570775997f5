/* CUDA backend of the reference service's encoder (servprof serve --device cuda), part of the
 * libservprof-cuda.so module: the same BERT-style forward pass as src/serve/encoder.c, with cuBLAS
 * for the matrix products (strided batched for attention) and small kernels for the rest, on one
 * stream per worker with pinned host buffers, and optionally one CUDA graph per batch shape so the
 * launch gaps between kernels shrink. The weights come as the plain view of cuda_backend.h. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/cuda/cuda_util.cuh"
#include "serve/cuda/dec_layout.h" /* the graph cache, sp_graph_lru */
#include "serve/cuda/encoder_cuda.h"

#define SP_CUDA_LN_EPS 1e-12f     /* BERT's layer_norm_eps, as in encoder.c */
#define SP_CUDA_GRAPH_CAP_MAX 4096u

/* Weights on the device: one allocation at the host blob's offsets. */
struct dev_layer {
    const float *wqkv, *bqkv, *wo, *bo, *ln1_g, *ln1_b, *w1, *b1, *w2, *b2, *ln2_g, *ln2_b;
};

/* the sizes of the model (sp_cuda_weights without the pointers) */
struct model_config {
    uint32_t vocab_size, hidden, layers, heads, ffn, max_len;
};

struct sp_cuda_model {
    model_config cfg;
    int device;
    float *blob;
    const float *tok_emb, *pos_emb, *type_emb, *emb_ln_g, *emb_ln_b;
    dev_layer *layers; /* host array of device pointers */
};


struct sp_cuda_ws {
    sp_cuda_model *m;
    size_t max_seqs, max_len, max_tokens;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    /* pinned host side: lengths then ids in one buffer (one host-to-device copy), embeddings out */
    int32_t *h_in;
    float *h_out;
    /* device side */
    int32_t *d_in; /* [max_seqs] lengths, then [max_tokens] ids */
    float *x, *qkv, *q, *k, *v, *ctx, *ctxh, *tmp, *ffn, *scores, *out;
    /* graphs, keyed by shape_key(batch, padded length) */
    sp_graph_lru graphs;
    size_t pending_batch, pending_len; /* shape run eagerly, to capture next (0: none) */
    sp_cuda_ws_stats stats;
};

/* ---- devices ---- */

extern "C" int sp_cuda_device_count(char *why, size_t whylen)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        if (why && whylen)
            snprintf(why, whylen, "no usable CUDA device: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
        cudaGetLastError(); /* clear the sticky-free error so later calls start clean */
        return 0;
    }
    if (n <= 0 && why && whylen)
        snprintf(why, whylen, "no CUDA device found");
    return n > 0 ? n : 0;
}

extern "C" void sp_cuda_device_describe(int device, char *buf, size_t buflen)
{
    cudaDeviceProp p;
    int drv = 0;
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
        snprintf(buf, buflen, "device %d (properties unavailable)", device);
        return;
    }
    cudaDriverGetVersion(&drv);
    snprintf(buf, buflen, "%s, sm_%d%d, %.0f GiB, driver %d.%d", p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), drv / 1000, (drv % 1000) / 10);
}

/* ---- weights ---- */

/* Is [p, p + n) inside the view's blob? */
static bool in_blob(const sp_cuda_weights *w, const float *p, size_t n)
{
    return p && p >= w->blob && (size_t)(p - w->blob) <= w->blob_floats && n <= w->blob_floats - (size_t)(p - w->blob);
}

/* Every tensor of the view lies inside its blob with its full size, so the device copy of the blob
 * holds each at the same offset (the shapes are encoder.c's). */
static bool view_ok(const sp_cuda_weights *w)
{
    if (!w || !w->blob || !w->layer || w->hidden == 0 || w->heads == 0 || w->hidden % w->heads != 0)
        return false;
    size_t H = w->hidden, F = w->ffn;
    bool ok = in_blob(w, w->tok_emb, (size_t)w->vocab_size * H) && in_blob(w, w->pos_emb, (size_t)w->max_len * H) &&
              in_blob(w, w->type_emb, H) && in_blob(w, w->emb_ln_g, H) && in_blob(w, w->emb_ln_b, H);
    for (uint32_t l = 0; ok && l < w->layers; l++) {
        const sp_cuda_layer_weights *L = &w->layer[l];
        ok = in_blob(w, L->wqkv, 3 * H * H) && in_blob(w, L->bqkv, 3 * H) && in_blob(w, L->wo, H * H) &&
             in_blob(w, L->bo, H) && in_blob(w, L->ln1_g, H) && in_blob(w, L->ln1_b, H) && in_blob(w, L->w1, F * H) &&
             in_blob(w, L->b1, F) && in_blob(w, L->w2, H * F) && in_blob(w, L->b2, H) && in_blob(w, L->ln2_g, H) &&
             in_blob(w, L->ln2_b, H);
    }
    return ok;
}

extern "C" sp_status sp_cuda_model_create(const sp_cuda_weights *w, int device, sp_cuda_model **out, char *err,
                                          size_t errlen)
{
    if (!view_ok(w)) {
        if (err && errlen)
            snprintf(err, errlen, "cuda: the weights view is inconsistent (a tensor outside its blob, or a bad shape)");
        return SP_ERR_INVALID;
    }
    const sp_cuda_weights &v = *w;
    model_config cfg_ = {w->vocab_size, w->hidden, w->layers, w->heads, w->ffn, w->max_len};
    const model_config *cfg = &cfg_;
    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaSetDevice", e);
        return SP_ERR_IO;
    }
    sp_cuda_model *m = (sp_cuda_model *)calloc(1, sizeof(*m));
    if (!m)
        return SP_ERR_NOMEM;
    m->cfg = *cfg;
    m->device = device;
    m->layers = (dev_layer *)calloc(cfg->layers ? cfg->layers : 1, sizeof(dev_layer));
    if (!m->layers) {
        free(m);
        return SP_ERR_NOMEM;
    }
    if ((e = cudaMalloc((void **)&m->blob, v.blob_floats * sizeof(float))) != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaMalloc (weights)", e);
        sp_cuda_model_destroy(m);
        return SP_ERR_NOMEM;
    }
    /* once, at start: a plain synchronous copy is right */
    if ((e = cudaMemcpy(m->blob, v.blob, v.blob_floats * sizeof(float), cudaMemcpyHostToDevice)) != cudaSuccess) {
        sp_cuda_errf(err, errlen, "uploading the weights", e);
        sp_cuda_model_destroy(m);
        return SP_ERR_IO;
    }
#define DEV(p) (m->blob + ((p) - v.blob))
    m->tok_emb = DEV(v.tok_emb);
    m->pos_emb = DEV(v.pos_emb);
    m->type_emb = DEV(v.type_emb);
    m->emb_ln_g = DEV(v.emb_ln_g);
    m->emb_ln_b = DEV(v.emb_ln_b);
    for (uint32_t l = 0; l < cfg->layers; l++) {
        const sp_cuda_layer_weights &L = v.layer[l];
        dev_layer d = {DEV(L.wqkv), DEV(L.bqkv), DEV(L.wo),  DEV(L.bo), DEV(L.ln1_g), DEV(L.ln1_b),
                       DEV(L.w1),   DEV(L.b1),   DEV(L.w2),  DEV(L.b2), DEV(L.ln2_g), DEV(L.ln2_b)};
        m->layers[l] = d;
    }
#undef DEV
    *out = m;
    return SP_OK;
}

extern "C" void sp_cuda_model_destroy(sp_cuda_model *m)
{
    if (!m)
        return;
    if (m->blob)
        cudaFree(m->blob);
    free(m->layers);
    free(m);
}

/* ---- kernels ----
 * Row-wise kernels use one block of ROW_THREADS per row; reductions go through warp shuffles and
 * one shared slot per warp. Every kernel works on the whole padded shape, like encoder.c. */

#define ROW_THREADS 128

/* row[0..H) (in shared memory) := LayerNorm(row) * g + b, written to dst; two passes as encoder.c */
__device__ static void row_layernorm(const float *row, int H, const float *g, const float *b, float *dst,
                                     float *red)
{
    float s = 0.0f;
    for (int j = threadIdx.x; j < H; j += blockDim.x)
        s += row[j];
    float mean = sp_block_sum(s, red) / (float)H;
    float q = 0.0f;
    for (int j = threadIdx.x; j < H; j += blockDim.x) {
        float d = row[j] - mean;
        q += d * d;
    }
    float var = sp_block_sum(q, red) / (float)H;
    float inv = 1.0f / sqrtf(var + SP_CUDA_LN_EPS);
    for (int j = threadIdx.x; j < H; j += blockDim.x)
        dst[j] = (row[j] - mean) * inv * g[j] + b[j];
}

/* embedding lookup: x[row] = LayerNorm(tok[id] + pos[t] + type[0]) */
__global__ void sp_embed_layernorm(const int32_t *ids, const float *tok, const float *pos, const float *type,
                                   const float *g, const float *b, float *x, int S, int H)
{
    extern __shared__ float sh[];
    float *row = sh, *red = sh + H;
    int r = blockIdx.x, t = r % S;
    const float *te = tok + (size_t)ids[r] * H, *pe = pos + (size_t)t * H;
    for (int j = threadIdx.x; j < H; j += blockDim.x)
        row[j] = te[j] + pe[j] + type[j];
    __syncthreads();
    row_layernorm(row, H, g, b, x + (size_t)r * H, red);
}

/* bias add, fused with the split into heads: qkv[N, 3H] (+ bias) -> q, k, v [batch*heads, S, d] */
__global__ void sp_bias_split_heads(const float *qkv, const float *bias, float *q, float *k, float *v, int S,
                                    int H, int heads, size_t total)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) /* total = N * 3H */
        return;
    int d = H / heads;
    size_t row = i / (3 * (size_t)H);
    int c = (int)(i % (3 * (size_t)H));
    int which = c / H, within = c % H, h = within / d, e = within % d;
    size_t b = row / S, t = row % S;
    float val = qkv[i] + bias[c];
    float *dst = which == 0 ? q : which == 1 ? k : v;
    dst[((b * heads + h) * S + t) * d + e] = val;
}

/* masked softmax over keys: one warp per score row; keys at or past the sequence's length get 0 */
__global__ void sp_softmax_mask(float *scores, const int32_t *lengths, int S, int heads, size_t rows)
{
    size_t r = (size_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= rows)
        return;
    int len = lengths[r / ((size_t)S * heads)];
    float *row = scores + r * S;
    float mx = -INFINITY;
    for (int j = lane; j < len; j += 32)
        mx = fmaxf(mx, row[j]);
    for (int o = 16; o > 0; o >>= 1)
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float sum = 0.0f;
    for (int j = lane; j < len; j += 32) {
        float e = expf(row[j] - mx);
        row[j] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    float inv = 1.0f / sum;
    for (int j = lane; j < S; j += 32)
        row[j] = j < len ? row[j] * inv : 0.0f;
}

/* heads back into rows: ctxh [batch*heads, S, d] -> ctx [N, H] */
__global__ void sp_merge_heads(const float *ctxh, float *ctx, int S, int H, int heads, size_t total)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) /* total = N * H */
        return;
    int d = H / heads;
    size_t row = i / H;
    int c = (int)(i % H), h = c / d, e = c % d;
    size_t b = row / S, t = row % S;
    ctx[i] = ctxh[((b * heads + h) * S + t) * d + e];
}

/* x[row] = LayerNorm(x[row] + y[row] + bias): the bias of the product before, the residual, the norm */
__global__ void sp_bias_residual_layernorm(float *x, const float *y, const float *bias, const float *g,
                                           const float *b, int H)
{
    extern __shared__ float sh[];
    float *row = sh, *red = sh + H;
    size_t r = blockIdx.x;
    float *xr = x + r * H;
    const float *yr = y + r * H;
    for (int j = threadIdx.x; j < H; j += blockDim.x)
        row[j] = xr[j] + (yr[j] + bias[j]);
    __syncthreads();
    row_layernorm(row, H, g, b, xr, red);
}

/* bias add and exact GELU (x * Phi(x), as BERT and encoder.c) */
__global__ void sp_bias_gelu(float *f, const float *bias, int F, size_t total)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total)
        return;
    float v = f[i] + bias[i % F];
    f[i] = 0.5f * v * (1.0f + erff(v * 0.70710678f));
}

/* mean pooling over the real tokens: one block per sequence */
__global__ void sp_mean_pool(const float *x, const int32_t *lengths, float *out, int S, int H)
{
    int b = blockIdx.x, len = lengths[b];
    float inv = 1.0f / (float)len;
    for (int j = threadIdx.x; j < H; j += blockDim.x) {
        float s = 0.0f;
        for (int t = 0; t < len; t++)
            s += x[((size_t)b * S + t) * H + j];
        out[(size_t)b * H + j] = s * inv;
    }
}

/* ---- workspace ---- */

extern "C" void sp_cuda_ws_destroy(sp_cuda_ws *ws)
{
    if (!ws)
        return;
    cudaSetDevice(ws->m->device);
    for (size_t i = 0; i < ws->graphs.n; i++)
        cudaGraphExecDestroy((cudaGraphExec_t)sp_graph_lru_at(&ws->graphs, i));
    sp_graph_lru_free(&ws->graphs);
    if (ws->blas)
        cublasDestroy(ws->blas);
    if (ws->stream)
        cudaStreamDestroy(ws->stream);
    void *dev[] = {ws->blas_ws, ws->d_in, ws->x, ws->qkv, ws->q, ws->k, ws->v, ws->ctx, ws->ctxh,
                   ws->tmp, ws->ffn, ws->scores, ws->out};
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
        if (dev[i])
            cudaFree(dev[i]);
    if (ws->h_in)
        cudaFreeHost(ws->h_in);
    if (ws->h_out)
        cudaFreeHost(ws->h_out);
    free(ws);
}

extern "C" sp_status sp_cuda_ws_create(sp_cuda_model *m, size_t max_seqs, size_t max_len, size_t graph_cap,
                                       sp_cuda_ws **out, char *err, size_t errlen)
{
    if (!m || max_seqs == 0 || max_len == 0 || max_len > m->cfg.max_len || graph_cap > SP_CUDA_GRAPH_CAP_MAX) {
        if (err && errlen)
            snprintf(err, errlen, "cuda: bad workspace shape (%zu sequences x %zu tokens, %zu graphs)", max_seqs,
                     max_len, graph_cap);
        return SP_ERR_INVALID;
    }
    cudaError_t e = cudaSetDevice(m->device);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaSetDevice", e);
        return SP_ERR_IO;
    }
    sp_cuda_ws *ws = (sp_cuda_ws *)calloc(1, sizeof(*ws));
    if (!ws)
        return SP_ERR_NOMEM;
    ws->m = m;
    ws->max_seqs = max_seqs;
    ws->max_len = max_len;
    ws->max_tokens = max_seqs * max_len;
    size_t N = ws->max_tokens, H = m->cfg.hidden, F = m->cfg.ffn, nh = m->cfg.heads;
    const char *what = "cudaStreamCreate";
    if ((e = cudaStreamCreateWithFlags(&ws->stream, cudaStreamNonBlocking)) != cudaSuccess)
        goto cuda_fail;
    what = "cudaHostAlloc";
    if ((e = cudaHostAlloc((void **)&ws->h_in, (max_seqs + N) * sizeof(int32_t), cudaHostAllocDefault)) !=
            cudaSuccess ||
        (e = cudaHostAlloc((void **)&ws->h_out, max_seqs * H * sizeof(float), cudaHostAllocDefault)) != cudaSuccess)
        goto cuda_fail;
    what = "cudaMalloc (activations)";
    if ((e = cudaMalloc((void **)&ws->d_in, (max_seqs + N) * sizeof(int32_t))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->x, N * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->qkv, N * 3 * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->q, N * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->k, N * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->v, N * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->ctx, N * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->ctxh, N * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->tmp, N * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->ffn, N * F * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->scores, max_seqs * nh * max_len * max_len * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&ws->out, max_seqs * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc(&ws->blas_ws, SP_CUDA_BLAS_WORKSPACE)) != cudaSuccess)
        goto cuda_fail;
    {
        if (sp_graph_lru_init(&ws->graphs, graph_cap) != SP_OK) {
            sp_cuda_ws_destroy(ws);
            return SP_ERR_NOMEM;
        }
    }
    {
        sp_status bst = sp_cuda_blas_open(ws->stream, ws->blas_ws, &ws->blas, err, errlen);
        if (bst != SP_OK) {
            sp_cuda_ws_destroy(ws);
            return bst;
        }
    }
    *out = ws;
    return SP_OK;
cuda_fail:
    sp_cuda_errf(err, errlen, what, e);
    sp_cuda_ws_destroy(ws);
    return e == cudaErrorMemoryAllocation ? SP_ERR_NOMEM : SP_ERR_IO;
}

extern "C" void sp_cuda_ws_get_stats(const sp_cuda_ws *ws, sp_cuda_ws_stats *out) { *out = ws->stats; }

/* C[rows, outw] = A[rows, in] W[outw, in]^T (row-major, nn.Linear), without the bias. In cuBLAS's
 * column-major terms C^T = W^T' A^T: op(W) = T, op(A) = N, m = outw, n = rows, k = in. */
static cublasStatus_t linear(cublasHandle_t h, const float *A, int rows, int in, const float *W, int outw, float *C)
{
    const float one = 1.0f, zero = 0.0f;
    return cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, outw, rows, in, &one, W, in, A, in, &zero, C, outw);
}

/* Enqueues one whole forward pass for (batch, S) on ws->stream: copy in, kernels, copy out. The
 * inputs must already be in ws->h_in. Used directly (eager) or under stream capture (graphs). */
static sp_status enqueue_forward(sp_cuda_ws *ws, int batch, int S, char *err, size_t errlen)
{
    const sp_cuda_model *m = ws->m;
    const int H = (int)m->cfg.hidden, F = (int)m->cfg.ffn, nh = (int)m->cfg.heads, d = H / nh, N = batch * S;
    cudaStream_t st = ws->stream;
    const int32_t *d_len = ws->d_in, *d_ids = ws->d_in + ws->max_seqs;
    size_t in_bytes = (ws->max_seqs + (size_t)N) * sizeof(int32_t);
    /* lengths occupy the first max_seqs slots, ids follow: one copy carries both */
    cudaError_t e = cudaMemcpyAsync(ws->d_in, ws->h_in, in_bytes, cudaMemcpyHostToDevice, st);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "host-to-device copy", e);
        return SP_ERR_IO;
    }
    const size_t row_shmem = ((size_t)H + 32) * sizeof(float);
    sp_embed_layernorm<<<N, ROW_THREADS, row_shmem, st>>>(d_ids, m->tok_emb, m->pos_emb, m->type_emb, m->emb_ln_g,
                                                          m->emb_ln_b, ws->x, S, H);
    const float scale = 1.0f / sqrtf((float)d), one = 1.0f, zero = 0.0f;
    const long long sq = (long long)S * d, ss = (long long)S * S;
    const int bh = batch * nh;
    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    for (uint32_t l = 0; l < m->cfg.layers && bs == CUBLAS_STATUS_SUCCESS; l++) {
        const dev_layer *L = &m->layers[l];
        bs = linear(ws->blas, ws->x, N, H, L->wqkv, 3 * H, ws->qkv);
        size_t tot = (size_t)N * 3 * H;
        sp_bias_split_heads<<<(unsigned)((tot + 255) / 256), 256, 0, st>>>(ws->qkv, L->bqkv, ws->q, ws->k, ws->v,
                                                                          S, H, nh, tot);
        /* scores[z][i][j] = scale * q_i . k_j, z = b * heads + h. Column-major: scores^T = K Q^T,
         * op(K) = T (K is d x S column-major), op(Q) = N; m = n = S, k = d. */
        if (bs == CUBLAS_STATUS_SUCCESS)
            bs = cublasSgemmStridedBatched(ws->blas, CUBLAS_OP_T, CUBLAS_OP_N, S, S, d, &scale, ws->k, d, sq, ws->q, d,
                                           sq, &zero, ws->scores, S, ss, bh);
        size_t rows = (size_t)bh * S;
        sp_softmax_mask<<<(unsigned)((rows + 3) / 4), 128, 0, st>>>(ws->scores, d_len, S, nh, rows);
        /* ctx[z] = P[z] V[z]. Column-major: ctx^T (d x S) = V^T (d x S) P^T (S x S): m = d, n = S, k = S. */
        if (bs == CUBLAS_STATUS_SUCCESS)
            bs = cublasSgemmStridedBatched(ws->blas, CUBLAS_OP_N, CUBLAS_OP_N, d, S, S, &one, ws->v, d, sq, ws->scores,
                                           S, ss, &zero, ws->ctxh, d, sq, bh);
        tot = (size_t)N * H;
        sp_merge_heads<<<(unsigned)((tot + 255) / 256), 256, 0, st>>>(ws->ctxh, ws->ctx, S, H, nh, tot);
        if (bs == CUBLAS_STATUS_SUCCESS)
            bs = linear(ws->blas, ws->ctx, N, H, L->wo, H, ws->tmp);
        sp_bias_residual_layernorm<<<N, ROW_THREADS, row_shmem, st>>>(ws->x, ws->tmp, L->bo, L->ln1_g, L->ln1_b, H);
        if (bs == CUBLAS_STATUS_SUCCESS)
            bs = linear(ws->blas, ws->x, N, H, L->w1, F, ws->ffn);
        tot = (size_t)N * F;
        sp_bias_gelu<<<(unsigned)((tot + 255) / 256), 256, 0, st>>>(ws->ffn, L->b1, F, tot);
        if (bs == CUBLAS_STATUS_SUCCESS)
            bs = linear(ws->blas, ws->ffn, N, F, L->w2, H, ws->tmp);
        sp_bias_residual_layernorm<<<N, ROW_THREADS, row_shmem, st>>>(ws->x, ws->tmp, L->b2, L->ln2_g, L->ln2_b, H);
    }
    if (bs != CUBLAS_STATUS_SUCCESS) {
        sp_cuda_blas_errf(err, errlen, "matrix product", bs);
        return SP_ERR_IO;
    }
    sp_mean_pool<<<batch, ROW_THREADS, 0, st>>>(ws->x, d_len, ws->out, S, H);
    if ((e = cudaGetLastError()) != cudaSuccess) {
        sp_cuda_errf(err, errlen, "kernel launch", e);
        return SP_ERR_IO;
    }
    e = cudaMemcpyAsync(ws->h_out, ws->out, (size_t)batch * H * sizeof(float), cudaMemcpyDeviceToHost, st);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "device-to-host copy", e);
        return SP_ERR_IO;
    }
    return SP_OK;
}

/* A batch shape as one graph cache key. */
static uint64_t shape_key(size_t batch, size_t S) { return (uint64_t)batch << 32 | (uint64_t)S; }

struct capture_ctx {
    sp_cuda_ws *ws;
    int batch, S;
};

static sp_status enqueue_shape(void *ctx, char *err, size_t errlen)
{
    const capture_ctx *c = (const capture_ctx *)ctx;
    return enqueue_forward(c->ws, c->batch, c->S, err, errlen);
}

extern "C" sp_status sp_cuda_ws_capture_pending(sp_cuda_ws *ws, char *err, size_t errlen)
{
    if (!ws->pending_batch)
        return SP_OK;
    int batch = (int)ws->pending_batch, S = (int)ws->pending_len;
    ws->pending_batch = ws->pending_len = 0;
    if (sp_graph_lru_find(&ws->graphs, shape_key((size_t)batch, (size_t)S)))
        return SP_OK;
    cudaError_t e = cudaSetDevice(ws->m->device);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaSetDevice", e);
        return SP_ERR_IO;
    }
    capture_ctx ctx = {ws, batch, S};
    cudaGraphExec_t exec = NULL;
    sp_status cs = sp_cuda_capture(ws->stream, enqueue_shape, &ctx, &exec, err, errlen);
    if (cs != SP_OK)
        return cs;
    /* full: the least recently used shape's graph makes room */
    void *gone = sp_graph_lru_put(&ws->graphs, shape_key((size_t)batch, (size_t)S), (void *)exec);
    if (gone) {
        cudaGraphExecDestroy((cudaGraphExec_t)gone);
        ws->stats.graph_evictions++;
    }
    ws->stats.graph_captures++;
    return SP_OK;
}

extern "C" sp_status sp_cuda_forward(sp_cuda_ws *ws, const int32_t *ids, const uint32_t *lengths, size_t batch,
                                     size_t padded_len, float *out, char *err, size_t errlen)
{
    const model_config *c = &ws->m->cfg;
    size_t S = padded_len, N = batch * S, H = c->hidden;
    if (batch == 0 || S == 0 || S > c->max_len)
        return SP_ERR_INVALID;
    if (batch > ws->max_seqs || S > ws->max_len)
        return SP_ERR_LIMIT;
    if (!sp_forward_inputs_valid(ids, lengths, batch, S, c->vocab_size))
        return SP_ERR_INVALID;
    /* the pinned staging buffer is what the copy (and a captured graph) reads */
    for (size_t b = 0; b < batch; b++)
        ws->h_in[b] = (int32_t)lengths[b];
    memcpy(ws->h_in + ws->max_seqs, ids, N * sizeof(int32_t));
    cudaError_t e = cudaSetDevice(ws->m->device);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaSetDevice", e);
        return SP_ERR_IO;
    }
    sp_status st = SP_OK;
    cudaGraphExec_t g = (cudaGraphExec_t)sp_graph_lru_find(&ws->graphs, shape_key(batch, S));
    if (g) {
        ws->stats.graph_replays++;
        if ((e = cudaGraphLaunch(g, ws->stream)) != cudaSuccess) {
            sp_cuda_errf(err, errlen, "cudaGraphLaunch", e);
            return SP_ERR_IO;
        }
    } else if ((st = enqueue_forward(ws, (int)batch, (int)S, err, errlen)) != SP_OK) {
        cudaStreamSynchronize(ws->stream);
        return st;
    }
    if ((e = cudaStreamSynchronize(ws->stream)) != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaStreamSynchronize", e);
        return SP_ERR_IO;
    }
    memcpy(out, ws->h_out, batch * H * sizeof(float));
    ws->stats.forwards++;
    /* a new shape ran eagerly (which also loads its kernels, so capture never triggers a lazy
     * module load); it is captured later, outside the batch's window */
    if (ws->graphs.cap && !g) {
        ws->pending_batch = batch;
        ws->pending_len = S;
    }
    return SP_OK;
}
