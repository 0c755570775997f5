// A small CUDA program for checking the GPU collector (scripts/gpu-check.sh): a loop of
// host-to-device copies, two kernels and a device-to-host copy per iteration, each iteration in an
// NVTX range "servprof.batch:<i>". It times every kernel with cudaEvents and prints the totals on
// one line ("CUDAEVENT kernels=N kernel_ms=X") so the collector's figures can be compared to it.
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#define CK(call)                                                                           \
    do {                                                                                   \
        cudaError_t e_ = (call);                                                           \
        if (e_ != cudaSuccess) {                                                           \
            std::fprintf(stderr, "cuda_vector_add: %s: %s\n", #call, cudaGetErrorString(e_)); \
            std::exit(1);                                                                  \
        }                                                                                  \
    } while (0)

__global__ void vector_add(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        c[i] = a[i] + b[i];
}

__global__ void scale(float *c, float s, int n, int reps)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        for (int r = 0; r < reps; r++) // some arithmetic so the kernel lasts long enough to time
            c[i] = c[i] * s + 1.0f / (1.0f + r);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? std::atoi(argv[1]) : 100;
    const int n = 1 << 20;
    const size_t bytes = n * sizeof(float);
    std::vector<float> ha(n, 1.0f), hb(n, 2.0f), hc(n);
    float *a, *b, *c;
    CK(cudaMalloc(&a, bytes));
    CK(cudaMalloc(&b, bytes));
    CK(cudaMalloc(&c, bytes));
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    const int kernels_per_iter = 2;
    std::vector<cudaEvent_t> ev(2 * kernels_per_iter * iters);
    for (auto &e : ev)
        CK(cudaEventCreate(&e));

    for (int it = 0; it < iters; it++) {
        char range[64];
        std::snprintf(range, sizeof range, "servprof.batch:%d", it);
        nvtxRangePushA(range);
        CK(cudaMemcpyAsync(a, ha.data(), bytes, cudaMemcpyHostToDevice, s));
        CK(cudaMemcpyAsync(b, hb.data(), bytes, cudaMemcpyHostToDevice, s));
        cudaEvent_t *e = &ev[2 * kernels_per_iter * it];
        CK(cudaEventRecord(e[0], s));
        vector_add<<<(n + 255) / 256, 256, 0, s>>>(a, b, c, n);
        CK(cudaEventRecord(e[1], s));
        CK(cudaEventRecord(e[2], s));
        scale<<<(n + 255) / 256, 256, 0, s>>>(c, 0.5f, n, 64);
        CK(cudaEventRecord(e[3], s));
        CK(cudaMemcpyAsync(hc.data(), c, bytes, cudaMemcpyDeviceToHost, s));
        CK(cudaStreamSynchronize(s));
        nvtxRangePop();
    }
    CK(cudaGetLastError());
    double total_ms = 0;
    for (size_t i = 0; i < ev.size(); i += 2) {
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, ev[i], ev[i + 1]));
        total_ms += ms;
    }
    // c = (1 + 2), then 64 rounds of c = c * 0.5 + 1/(1+r): check one element on the host.
    double want = 3.0;
    for (int r = 0; r < 64; r++)
        want = want * 0.5 + 1.0 / (1.0 + r);
    if (std::abs(hc[n - 1] - want) > 1e-3 * std::abs(want)) {
        std::fprintf(stderr, "cuda_vector_add: wrong result %f, expected %f\n", hc[n - 1], want);
        return 1;
    }
    std::printf("CUDAEVENT kernels=%d kernel_ms=%.3f iterations=%d\n", kernels_per_iter * iters,
                total_ms, iters);
    for (auto &e : ev)
        CK(cudaEventDestroy(e));
    CK(cudaStreamDestroy(s));
    CK(cudaFree(a));
    CK(cudaFree(b));
    CK(cudaFree(c));
    return 0;
}
