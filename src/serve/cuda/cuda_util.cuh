/* What the module's GPU code shares (encoder_cuda.cu, decoder_cuda.cu): error messages that name the
 * failing CUDA or cuBLAS call, a cuBLAS handle set up on a stream for capture, capturing a stream's
 * work into an instantiated graph, and the block-wide sum of the row kernels. CUDA sources only. */
#ifndef SERVPROF_CUDA_UTIL_CUH
#define SERVPROF_CUDA_UTIL_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "servprof/servprof.h"

/* cuBLAS workspace: NVIDIA's advice for Hopper, and fixed so graph capture never allocates. */
#define SP_CUDA_BLAS_WORKSPACE (32u << 20)

/* "cuda: <what>: <CUDA's message> (<error name>)" into err (NULL is fine). */
void sp_cuda_errf(char *err, size_t errlen, const char *what, cudaError_t e);
/* "cuda: <what>: cuBLAS status <s>" into err (NULL is fine). */
void sp_cuda_blas_errf(char *err, size_t errlen, const char *what, cublasStatus_t s);

/* A cuBLAS handle bound to `stream` with `workspace` (SP_CUDA_BLAS_WORKSPACE bytes of device memory)
 * as its workspace and full FP32 products (no TF32, so results match the CPU backends). SP_ERR_IO
 * with err naming the failing call; *out is written on success only. */
sp_status sp_cuda_blas_open(cudaStream_t stream, void *workspace, cublasHandle_t *out, char *err, size_t errlen);

/* Captures what enqueue(ctx) puts on `stream` (thread-local mode: other threads' streams keep running
 * eagerly) and instantiates it into *out. The enqueue's own failure is returned as it is; a CUDA
 * failure is SP_ERR_IO with err naming the call. */
typedef sp_status (*sp_cuda_enqueue_fn)(void *ctx, char *err, size_t errlen);
sp_status sp_cuda_capture(cudaStream_t stream, sp_cuda_enqueue_fn enqueue, void *ctx, cudaGraphExec_t *out,
                          char *err, size_t errlen);

/* The sum of v over the block, returned to every thread, through warp shuffles and one shared slot per
 * warp (red: 32 floats). Every thread of the block must call it. */
static __device__ __forceinline__ float sp_block_sum(float v, float *red)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = (blockDim.x + 31) >> 5;
    __syncthreads(); /* red may still be read from the previous call */
    if (lane == 0)
        red[warp] = v;
    __syncthreads();
    float t = 0.0f;
    for (int i = 0; i < nw; i++)
        t += red[i];
    return t;
}

#endif
