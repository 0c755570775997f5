/* The entry point of libservprof-cuda.so, the CUDA backend module of servprof serve: the table of
 * cuda_backend.h, made of the GPU encoder (encoder_cuda.cu), the generation service's GPU decoder
 * (decoder_cuda.cu) and the CUPTI collector (src/gpu/cupti.c, compiled in), which records into the
 * loader's recorder through the host table (module_host.c). */
#include "serve/cuda/decoder_cuda.h"
#include "serve/cuda/encoder_cuda.h"
#include "serve/cuda/module_host.h"
#include "servprof/cupti.h"

static const sp_cuda_backend g_backend = {
    .abi = SP_CUDA_BACKEND_ABI,
    .size = (uint32_t)sizeof(sp_cuda_backend),
    .version = SP_VERSION_STRING,
    .device_count = sp_cuda_device_count,
    .device_describe = sp_cuda_device_describe,
    .model_create = sp_cuda_model_create,
    .model_destroy = sp_cuda_model_destroy,
    .ws_create = sp_cuda_ws_create,
    .ws_destroy = sp_cuda_ws_destroy,
    .forward = sp_cuda_forward,
    .ws_capture_pending = sp_cuda_ws_capture_pending,
    .ws_get_stats = sp_cuda_ws_get_stats,
    .cupti_options_init = sp_cupti_options_init,
    .cupti_start = sp_cupti_start,
    .cupti_stop = sp_cupti_stop,
    .cupti_batch_begin = sp_cupti_batch_begin,
    .cupti_batch_end = sp_cupti_batch_end,
    .cupti_get_stats = sp_cupti_get_stats,
    .dec_create = sp_cuda_dec_create,
    .dec_destroy = sp_cuda_dec_destroy,
    .dec_step = sp_cuda_dec_step,
    .dec_capture_pending = sp_cuda_dec_capture_pending,
    .dec_get_stats = sp_cuda_dec_get_stats,
};

/* the one exported symbol (module.map), of type sp_cuda_backend_entry_fn */
__attribute__((visibility("default"))) const sp_cuda_backend *SP_CUDA_BACKEND_ENTRY_SYM(const sp_cuda_host *host,
                                                                                        char *err, size_t errlen);

const sp_cuda_backend *SP_CUDA_BACKEND_ENTRY_SYM(const sp_cuda_host *host, char *err, size_t errlen)
{
    if (!sp_cuda_module_attach(host, err, errlen))
        return NULL;
    return &g_backend;
}
