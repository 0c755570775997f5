/* CUDA backend of the generation service's decoder (servprof serve --generate --device cuda), part
 * of the libservprof-cuda.so module: the same GPT-2-style forward pass as src/serve/gen_decoder.c
 * with its KV cache on the device, cuBLAS for the matrix products and small kernels for the rest
 * (LayerNorm, bias adds, GELU, the cache writes, attention over the cache), on one stream with
 * pinned host buffers; the logits of the sequences that give a token are copied back and sampled on
 * the host, as the CPU backend samples. A step's inputs (tokens, slots, positions, how far each row
 * sees) travel as one block of int32 through one host-to-device copy (dec_layout.h), so with graphs
 * on, a decode step of k sequences is captured once and replayed with new tokens and positions. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/cuda/cuda_util.cuh"
#include "serve/cuda/dec_layout.h"
#include "serve/cuda/decoder_cuda.h"

#define DEC_LN_EPS 1e-5f               /* GPT-2's, as SP_DEC_LN_EPS in gen_int.h */
#define DEC_GRAPH_CAP_MAX 4096u
#define DEC_THREADS 128

struct dec_layer {
    const float *ln1_g, *ln1_b, *w_qkv, *b_qkv, *w_o, *b_o, *ln2_g, *ln2_b, *w_fc, *b_fc, *w_proj, *b_proj;
};

struct sp_cuda_dec {
    uint32_t V, H, L, heads, F, P; /* the model's sizes */
    int device;
    sp_dec_limits lim;
    float *blob;
    const float *wte, *wpe, *lnf_g, *lnf_b;
    dec_layer *layers; /* host array of device pointers */
    float *kc, *vc;    /* KV cache [layer][slot][position][hidden] */
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    int32_t *h_in, *d_in; /* the step's input block (dec_layout.h), pinned and on the device */
    float *h_out;         /* the logits, pinned */
    float *x, *a, *qkv, *ctx, *ffn, *sel, *logits;
    sp_graph_lru graphs;
    uint32_t pending_key; /* a decode shape run eagerly, to capture next (0: none) */
    sp_cuda_ws_stats stats;
};

/* ---- kernels ----
 * One block of DEC_THREADS per row for the row-wise ones; block reductions through warp shuffles
 * and one shared slot per warp (red: 32 floats). */

__device__ static float dec_block_max(float v, float *red)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0)
        red[warp] = v;
    __syncthreads();
    float t = red[0];
    for (int i = 1; i < nw; i++)
        t = fmaxf(t, red[i]);
    return t;
}

/* x[r] = wte[id[r]] + wpe[pos[r]] */
__global__ static void dec_embed(const int32_t *in, int N, const float *wte, const float *wpe, float *x, int H)
{
    int r = blockIdx.x;
    const float *te = wte + (size_t)in[SP_DEC_IN_ID * N + r] * H, *pe = wpe + (size_t)in[SP_DEC_IN_POS * N + r] * H;
    for (int j = threadIdx.x; j < H; j += blockDim.x)
        x[(size_t)r * H + j] = te[j] + pe[j];
}

/* out[r] = LayerNorm(in[from ? from[r] : r]) * g + b, two passes as gen_decoder.c */
__global__ static void dec_layernorm(const float *in, float *out, const int32_t *from, int H, const float *g,
                                     const float *b)
{
    __shared__ float red[32];
    int r = blockIdx.x;
    const float *x = in + (size_t)(from ? from[r] : r) * H;
    float s = 0.0f;
    for (int j = threadIdx.x; j < H; j += blockDim.x)
        s += x[j];
    float mean = sp_block_sum(s, red) / (float)H;
    float q = 0.0f;
    for (int j = threadIdx.x; j < H; j += blockDim.x) {
        float d = x[j] - mean;
        q += d * d;
    }
    float inv = 1.0f / sqrtf(sp_block_sum(q, red) / (float)H + DEC_LN_EPS);
    for (int j = threadIdx.x; j < H; j += blockDim.x)
        out[(size_t)r * H + j] = (x[j] - mean) * inv * g[j] + b[j];
}

__global__ static void dec_add_bias(float *y, const float *bias, int width, size_t total)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total)
        y[i] += bias[i % width];
}

/* bias add and GPT-2's GELU, tanh form, as gen_decoder.c */
__global__ static void dec_bias_gelu(float *f, const float *bias, int F, size_t total)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total)
        return;
    float v = f[i] + bias[i % F];
    f[i] = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
}

/* Each real row's key and value (qkv columns H..3H) into its slot at wpos; padding rows write none. */
__global__ static void dec_kv_write(const float *qkv, const int32_t *in, int N, float *K, float *V,
                                    size_t slot_stride, int H)
{
    int r = blockIdx.x, wpos = in[SP_DEC_IN_WPOS * N + r];
    if (wpos < 0)
        return;
    size_t at = (size_t)in[SP_DEC_IN_SLOT * N + r] * slot_stride + (size_t)wpos * H;
    const float *src = qkv + (size_t)r * 3 * H;
    for (int j = threadIdx.x; j < H; j += blockDim.x) {
        K[at + j] = src[H + j];
        V[at + j] = src[2 * H + j];
    }
}

/* Row r, head h (one block each): softmax(q . K[0..see) * scale) V over its slot's cache. Shared:
 * 32 floats of reduction, the query (d), the scores (up to the cache's positions). */
__global__ static void dec_attention(const float *qkv, const int32_t *in, int N, const float *K, const float *V,
                                     size_t slot_stride, float *ctx, int H, int d, float scale)
{
    extern __shared__ float sh[];
    float *red = sh, *q = sh + 32, *p = q + d;
    int r = blockIdx.x, h = blockIdx.y, see = in[SP_DEC_IN_SEE * N + r];
    size_t base = (size_t)in[SP_DEC_IN_SLOT * N + r] * slot_stride + (size_t)h * d;
    const float *Ks = K + base, *Vs = V + base;
    for (int e = threadIdx.x; e < d; e += blockDim.x)
        q[e] = qkv[(size_t)r * 3 * H + (size_t)h * d + e];
    __syncthreads();
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < see; j += blockDim.x) {
        const float *k = Ks + (size_t)j * H;
        float s = 0.0f;
        for (int e = 0; e < d; e++)
            s += q[e] * k[e];
        s *= scale;
        p[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = dec_block_max(mx, red);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < see; j += blockDim.x) {
        float e = expf(p[j] - mx);
        p[j] = e;
        sum += e;
    }
    float inv = 1.0f / sp_block_sum(sum, red); /* its barriers make every p[j] visible */
    for (int e = threadIdx.x; e < d; e += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < see; j++)
            acc += p[j] * Vs[(size_t)j * H + e];
        ctx[(size_t)r * H + (size_t)h * d + e] = acc * inv;
    }
}

/* ---- weights ---- */

static bool in_blob(const sp_cuda_dec_weights *w, const float *p, size_t n)
{
    return p && p >= w->blob && (size_t)(p - w->blob) <= w->blob_floats && n <= w->blob_floats - (size_t)(p - w->blob);
}

/* Every tensor lies inside the blob with its full size (the shapes of gen_decoder.c). */
static bool view_ok(const sp_cuda_dec_weights *w)
{
    if (!w || !w->blob || (w->layers && !w->layer) || w->vocab_size == 0 || w->hidden == 0 || w->heads == 0 ||
        w->hidden % w->heads != 0 || w->ffn == 0 || w->max_len == 0)
        return false;
    size_t H = w->hidden, F = w->ffn;
    bool ok = in_blob(w, w->wte, (size_t)w->vocab_size * H) && in_blob(w, w->wpe, (size_t)w->max_len * H) &&
              in_blob(w, w->lnf_g, H) && in_blob(w, w->lnf_b, H);
    for (uint32_t l = 0; ok && l < w->layers; l++) {
        const sp_cuda_dec_layer_weights *L = &w->layer[l];
        ok = in_blob(w, L->ln1_g, H) && in_blob(w, L->ln1_b, H) && in_blob(w, L->w_qkv, 3 * H * H) &&
             in_blob(w, L->b_qkv, 3 * H) && in_blob(w, L->w_o, H * H) && in_blob(w, L->b_o, H) &&
             in_blob(w, L->ln2_g, H) && in_blob(w, L->ln2_b, H) && in_blob(w, L->w_fc, H * F) &&
             in_blob(w, L->b_fc, F) && in_blob(w, L->w_proj, F * H) && in_blob(w, L->b_proj, H);
    }
    return ok;
}

extern "C" void sp_cuda_dec_destroy(sp_cuda_dec *d)
{
    if (!d)
        return;
    cudaSetDevice(d->device);
    for (size_t i = 0; i < d->graphs.n; i++)
        cudaGraphExecDestroy((cudaGraphExec_t)sp_graph_lru_at(&d->graphs, i));
    sp_graph_lru_free(&d->graphs);
    if (d->blas)
        cublasDestroy(d->blas);
    if (d->stream)
        cudaStreamDestroy(d->stream);
    void *dev[] = {d->blob, d->kc, d->vc, d->blas_ws, d->d_in, d->x, d->a, d->qkv, d->ctx, d->ffn, d->sel, d->logits};
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
        if (dev[i])
            cudaFree(dev[i]);
    if (d->h_in)
        cudaFreeHost(d->h_in);
    if (d->h_out)
        cudaFreeHost(d->h_out);
    free(d->layers);
    free(d);
}

/* The weights uploaded once and the device pointers of each tensor at its blob offset. */
static cudaError_t upload(sp_cuda_dec *d, const sp_cuda_dec_weights *w)
{
    cudaError_t e = cudaMalloc((void **)&d->blob, w->blob_floats * sizeof(float));
    if (e == cudaSuccess) /* once, at start: a plain synchronous copy is right */
        e = cudaMemcpy(d->blob, w->blob, w->blob_floats * sizeof(float), cudaMemcpyHostToDevice);
    if (e != cudaSuccess)
        return e;
#define DEV(p) (d->blob + ((p) - w->blob))
    d->wte = DEV(w->wte);
    d->wpe = DEV(w->wpe);
    d->lnf_g = DEV(w->lnf_g);
    d->lnf_b = DEV(w->lnf_b);
    for (uint32_t l = 0; l < w->layers; l++) {
        const sp_cuda_dec_layer_weights &L = w->layer[l];
        dec_layer x = {DEV(L.ln1_g), DEV(L.ln1_b), DEV(L.w_qkv), DEV(L.b_qkv), DEV(L.w_o),    DEV(L.b_o),
                       DEV(L.ln2_g), DEV(L.ln2_b), DEV(L.w_fc),  DEV(L.b_fc),  DEV(L.w_proj), DEV(L.b_proj)};
        d->layers[l] = x;
    }
#undef DEV
    return cudaSuccess;
}

/* The KV cache, the input and output buffers and the activations for the shape. */
static cudaError_t alloc_buffers(sp_cuda_dec *d, const char **what)
{
    const sp_dec_limits *lim = &d->lim;
    size_t N = lim->max_rows, M = lim->max_logits, H = d->H;
    size_t kv = (size_t)(d->L ? d->L : 1) * lim->slots * lim->positions * H;
    size_t ints = SP_DEC_IN_ARRAYS * N + M;
    cudaError_t e;
    *what = "cudaHostAlloc";
    if ((e = cudaHostAlloc((void **)&d->h_in, ints * sizeof(int32_t), cudaHostAllocDefault)) != cudaSuccess ||
        (e = cudaHostAlloc((void **)&d->h_out, M * d->V * sizeof(float), cudaHostAllocDefault)) != cudaSuccess)
        return e;
    *what = "cudaMalloc (KV cache)";
    if ((e = cudaMalloc((void **)&d->kc, kv * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&d->vc, kv * sizeof(float))) != cudaSuccess)
        return e;
    *what = "cudaMalloc (activations)";
    if ((e = cudaMalloc((void **)&d->d_in, ints * sizeof(int32_t))) != cudaSuccess ||
        (e = cudaMalloc((void **)&d->x, N * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&d->a, N * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&d->qkv, N * 3 * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&d->ctx, N * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&d->ffn, N * d->F * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&d->sel, M * H * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc((void **)&d->logits, M * d->V * sizeof(float))) != cudaSuccess ||
        (e = cudaMalloc(&d->blas_ws, SP_CUDA_BLAS_WORKSPACE)) != cudaSuccess)
        return e;
    *what = "cudaStreamCreate";
    return cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking);
}

extern "C" sp_status sp_cuda_dec_create(const sp_cuda_dec_weights *w, int device, const sp_cuda_dec_shape *shape,
                                        sp_cuda_dec **out, char *err, size_t errlen)
{
    if (!view_ok(w)) {
        if (err && errlen)
            snprintf(err, errlen, "cuda: the decoder's weights view is inconsistent (a tensor outside its blob, or a "
                                  "bad shape)");
        return SP_ERR_INVALID;
    }
    if (!shape || shape->slots == 0 || shape->positions == 0 || shape->positions > w->max_len ||
        shape->max_rows == 0 || shape->max_logits == 0 || shape->graph_cap > DEC_GRAPH_CAP_MAX) {
        if (err && errlen)
            snprintf(err, errlen, "cuda: bad decoder shape (slots, positions 1..%u, rows, logits, graphs 0..%u)",
                     w->max_len, DEC_GRAPH_CAP_MAX);
        return SP_ERR_INVALID;
    }
    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaSetDevice", e);
        return SP_ERR_IO;
    }
    sp_cuda_dec *d = (sp_cuda_dec *)calloc(1, sizeof(*d));
    if (!d)
        return SP_ERR_NOMEM;
    d->V = w->vocab_size;
    d->H = w->hidden;
    d->L = w->layers;
    d->heads = w->heads;
    d->F = w->ffn;
    d->P = w->max_len;
    d->device = device;
    sp_dec_limits lim = {w->vocab_size, w->max_len, shape->slots, shape->positions, shape->max_rows,
                         shape->max_logits};
    d->lim = lim;
    d->layers = (dec_layer *)calloc(w->layers ? w->layers : 1, sizeof(dec_layer));
    if (!d->layers || sp_graph_lru_init(&d->graphs, shape->graph_cap) != SP_OK) {
        sp_cuda_dec_destroy(d);
        return SP_ERR_NOMEM;
    }
    const char *what = "uploading the weights";
    if ((e = upload(d, w)) != cudaSuccess || (e = alloc_buffers(d, &what)) != cudaSuccess) {
        sp_cuda_errf(err, errlen, what, e);
        sp_cuda_dec_destroy(d);
        return e == cudaErrorMemoryAllocation ? SP_ERR_NOMEM : SP_ERR_IO;
    }
    sp_status st = sp_cuda_blas_open(d->stream, d->blas_ws, &d->blas, err, errlen);
    if (st != SP_OK) {
        sp_cuda_dec_destroy(d);
        return st;
    }
    *out = d;
    return SP_OK;
}

extern "C" void sp_cuda_dec_get_stats(const sp_cuda_dec *d, sp_cuda_ws_stats *out) { *out = d->stats; }

/* C[rows, outw] = A[rows, in] W[in, out] (+ C with beta 1: the residual), GPT-2's Conv1D without the
 * bias. Column-major: C^T (outw x rows) = W^T A^T where W^T is W read column-major with ld outw. */
static cublasStatus_t conv1d(cublasHandle_t h, const float *A, int rows, int in, const float *W, int outw, float *C,
                             float beta)
{
    const float one = 1.0f;
    return cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, outw, rows, in, &one, W, outw, A, in, &beta, C, outw);
}

static unsigned blocks_of(size_t total) { return (unsigned)((total + 255) / 256); }

/* Enqueues one step of N rows, m of which give logits, on d->stream: the input block's copy (ints
 * entries, already in d->h_in), the forward pass, the logits' copy back. Used eagerly or under
 * stream capture (a decode graph). */
static sp_status enqueue_step(sp_cuda_dec *d, int N, int m, size_t ints, char *err, size_t errlen)
{
    const int H = (int)d->H, F = (int)d->F, nh = (int)d->heads, hd = H / nh;
    const size_t slot_stride = (size_t)d->lim.positions * H, layer_stride = d->lim.slots * slot_stride;
    cudaStream_t st = d->stream;
    cudaError_t e = cudaMemcpyAsync(d->d_in, d->h_in, ints * sizeof(int32_t), cudaMemcpyHostToDevice, st);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "host-to-device copy", e);
        return SP_ERR_IO;
    }
    dec_embed<<<N, DEC_THREADS, 0, st>>>(d->d_in, N, d->wte, d->wpe, d->x, H);
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t att_shmem = (32 + (size_t)hd + d->lim.positions) * sizeof(float);
    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    for (uint32_t l = 0; l < d->L && bs == CUBLAS_STATUS_SUCCESS; l++) {
        const dec_layer *L = &d->layers[l];
        float *K = d->kc + l * layer_stride, *V = d->vc + l * layer_stride;
        dec_layernorm<<<N, DEC_THREADS, 0, st>>>(d->x, d->a, NULL, H, L->ln1_g, L->ln1_b);
        bs = conv1d(d->blas, d->a, N, H, L->w_qkv, 3 * H, d->qkv, 0.0f);
        dec_add_bias<<<blocks_of((size_t)N * 3 * H), 256, 0, st>>>(d->qkv, L->b_qkv, 3 * H, (size_t)N * 3 * H);
        dec_kv_write<<<N, DEC_THREADS, 0, st>>>(d->qkv, d->d_in, N, K, V, slot_stride, H);
        dec_attention<<<dim3((unsigned)N, (unsigned)nh), DEC_THREADS, att_shmem, st>>>(d->qkv, d->d_in, N, K, V,
                                                                                      slot_stride, d->ctx, H, hd, scale);
        if (bs == CUBLAS_STATUS_SUCCESS)
            bs = conv1d(d->blas, d->ctx, N, H, L->w_o, H, d->x, 1.0f);
        dec_add_bias<<<blocks_of((size_t)N * H), 256, 0, st>>>(d->x, L->b_o, H, (size_t)N * H);
        dec_layernorm<<<N, DEC_THREADS, 0, st>>>(d->x, d->a, NULL, H, L->ln2_g, L->ln2_b);
        if (bs == CUBLAS_STATUS_SUCCESS)
            bs = conv1d(d->blas, d->a, N, H, L->w_fc, F, d->ffn, 0.0f);
        dec_bias_gelu<<<blocks_of((size_t)N * F), 256, 0, st>>>(d->ffn, L->b_fc, F, (size_t)N * F);
        if (bs == CUBLAS_STATUS_SUCCESS)
            bs = conv1d(d->blas, d->ffn, N, F, L->w_proj, H, d->x, 1.0f);
        dec_add_bias<<<blocks_of((size_t)N * H), 256, 0, st>>>(d->x, L->b_proj, H, (size_t)N * H);
    }
    if (bs == CUBLAS_STATUS_SUCCESS && m > 0) {
        /* the final LayerNorm of the rows giving logits only, then the tied head: logits[m, V] =
         * sel[m, H] wte^T; column-major logits^T (V x m) = wte (H x V read column-major)^T sel^T */
        dec_layernorm<<<m, DEC_THREADS, 0, st>>>(d->x, d->sel, d->d_in + SP_DEC_IN_ARRAYS * N, H, d->lnf_g,
                                                 d->lnf_b);
        const float one = 1.0f, zero = 0.0f;
        bs = cublasSgemm(d->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)d->V, m, H, &one, d->wte, H, d->sel, H, &zero,
                         d->logits, (int)d->V);
    }
    if (bs != CUBLAS_STATUS_SUCCESS) {
        sp_cuda_blas_errf(err, errlen, "matrix product", bs);
        return SP_ERR_IO;
    }
    if ((e = cudaGetLastError()) != cudaSuccess) {
        sp_cuda_errf(err, errlen, "kernel launch", e);
        return SP_ERR_IO;
    }
    if (m > 0 && (e = cudaMemcpyAsync(d->h_out, d->logits, (size_t)m * d->V * sizeof(float), cudaMemcpyDeviceToHost,
                                      st)) != cudaSuccess) {
        sp_cuda_errf(err, errlen, "device-to-host copy", e);
        return SP_ERR_IO;
    }
    return SP_OK;
}

extern "C" sp_status sp_cuda_dec_step(sp_cuda_dec *d, const sp_cuda_dec_seq *seqs, size_t nseqs, float *logits,
                                      char *err, size_t errlen)
{
    sp_dec_layout lay;
    /* checks first, then the pinned block the copy (and a captured graph) reads */
    sp_status st = sp_dec_layout_build(seqs, nseqs, &d->lim, d->h_in, &lay);
    if (st != SP_OK) {
        if (err && errlen)
            snprintf(err, errlen, "cuda: decoder step of %zu sequences refused: %s", nseqs,
                     st == SP_ERR_LIMIT ? "more rows or logits than the shape holds"
                                        : "a bad slot, position or token id");
        return st;
    }
    cudaError_t e = cudaSetDevice(d->device);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaSetDevice", e);
        return SP_ERR_IO;
    }
    cudaGraphExec_t g = lay.graph_key ? (cudaGraphExec_t)sp_graph_lru_find(&d->graphs, lay.graph_key) : NULL;
    if (g) {
        d->stats.graph_replays++;
        if ((e = cudaGraphLaunch(g, d->stream)) != cudaSuccess) {
            sp_cuda_errf(err, errlen, "cudaGraphLaunch", e);
            return SP_ERR_IO;
        }
    } else if ((st = enqueue_step(d, (int)lay.rows, (int)lay.logits, lay.ints, err, errlen)) != SP_OK) {
        cudaStreamSynchronize(d->stream);
        return st;
    }
    if ((e = cudaStreamSynchronize(d->stream)) != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaStreamSynchronize", e);
        return SP_ERR_IO;
    }
    if (lay.logits)
        memcpy(logits, d->h_out, lay.logits * d->V * sizeof(float));
    d->stats.forwards++;
    /* a new decode shape ran eagerly (loading its kernels, so capture never triggers a lazy module
     * load); it is captured later, outside the step's window */
    if (d->graphs.cap && !g && lay.graph_key)
        d->pending_key = lay.graph_key;
    return SP_OK;
}

/* k single-token decodes: k rows, k logits, a block of k x SP_DEC_IN_ARRAYS + k entries */
struct capture_ctx {
    sp_cuda_dec *d;
    uint32_t k;
};

static sp_status enqueue_decode(void *ctx, char *err, size_t errlen)
{
    const capture_ctx *c = (const capture_ctx *)ctx;
    return enqueue_step(c->d, (int)c->k, (int)c->k, (size_t)c->k * (SP_DEC_IN_ARRAYS + 1), err, errlen);
}

extern "C" sp_status sp_cuda_dec_capture_pending(sp_cuda_dec *d, char *err, size_t errlen)
{
    uint32_t k = d->pending_key;
    d->pending_key = 0;
    if (!k || sp_graph_lru_find(&d->graphs, k))
        return SP_OK;
    cudaError_t e = cudaSetDevice(d->device);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaSetDevice", e);
        return SP_ERR_IO;
    }
    capture_ctx ctx = {d, k};
    cudaGraphExec_t exec = NULL;
    sp_status st = sp_cuda_capture(d->stream, enqueue_decode, &ctx, &exec, err, errlen);
    if (st != SP_OK)
        return st;
    void *gone = sp_graph_lru_put(&d->graphs, k, (void *)exec);
    if (gone) {
        cudaGraphExecDestroy((cudaGraphExec_t)gone);
        d->stats.graph_evictions++;
    }
    d->stats.graph_captures++;
    return SP_OK;
}
