/* Host helpers the module's GPU code shares (cuda_util.cuh). */
#include <stdio.h>

#include "serve/cuda/cuda_util.cuh"

void sp_cuda_errf(char *err, size_t errlen, const char *what, cudaError_t e)
{
    if (err && errlen)
        snprintf(err, errlen, "cuda: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

void sp_cuda_blas_errf(char *err, size_t errlen, const char *what, cublasStatus_t s)
{
    if (err && errlen)
        snprintf(err, errlen, "cuda: %s: cuBLAS status %d", what, (int)s);
}

sp_status sp_cuda_blas_open(cudaStream_t stream, void *workspace, cublasHandle_t *out, char *err, size_t errlen)
{
    cublasHandle_t h = NULL;
    cublasStatus_t bs = cublasCreate(&h);
    /* order matters: cublasSetStream resets the workspace to the default pool */
    if (bs == CUBLAS_STATUS_SUCCESS)
        bs = cublasSetStream(h, stream);
    if (bs == CUBLAS_STATUS_SUCCESS)
        bs = cublasSetWorkspace(h, workspace, SP_CUDA_BLAS_WORKSPACE);
    if (bs == CUBLAS_STATUS_SUCCESS)
        bs = cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        sp_cuda_blas_errf(err, errlen, "creating the cuBLAS handle", bs);
        if (h)
            cublasDestroy(h);
        return SP_ERR_IO;
    }
    *out = h;
    return SP_OK;
}

sp_status sp_cuda_capture(cudaStream_t stream, sp_cuda_enqueue_fn enqueue, void *ctx, cudaGraphExec_t *out,
                          char *err, size_t errlen)
{
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaStreamBeginCapture", e);
        return SP_ERR_IO;
    }
    sp_status fs = enqueue(ctx, err, errlen);
    e = cudaStreamEndCapture(stream, &g);
    if (fs != SP_OK || e != cudaSuccess) {
        if (fs == SP_OK)
            sp_cuda_errf(err, errlen, "cudaStreamEndCapture", e);
        if (g)
            cudaGraphDestroy(g);
        return fs != SP_OK ? fs : SP_ERR_IO;
    }
    e = cudaGraphInstantiate(out, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        sp_cuda_errf(err, errlen, "cudaGraphInstantiate", e);
        return SP_ERR_IO;
    }
    return SP_OK;
}
