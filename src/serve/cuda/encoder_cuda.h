/* Inside the CUDA backend module: the encoder on the GPU (encoder_cuda.cu), whose functions module.c
 * puts in the table of cuda_backend.h (each is documented there, under its table field). */
#ifndef SERVPROF_ENCODER_CUDA_H
#define SERVPROF_ENCODER_CUDA_H

#include "serve/cuda_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

int sp_cuda_device_count(char *why, size_t whylen);
void sp_cuda_device_describe(int device, char *buf, size_t buflen);
sp_status sp_cuda_model_create(const sp_cuda_weights *w, int device, sp_cuda_model **out, char *err,
                               size_t errlen);
void sp_cuda_model_destroy(sp_cuda_model *m);
sp_status sp_cuda_ws_create(sp_cuda_model *m, size_t max_seqs, size_t max_len, size_t graph_cap,
                            sp_cuda_ws **out, char *err, size_t errlen);
void sp_cuda_ws_destroy(sp_cuda_ws *ws);
sp_status sp_cuda_forward(sp_cuda_ws *ws, const int32_t *ids, const uint32_t *lengths, size_t batch,
                          size_t padded_len, float *out, char *err, size_t errlen);
sp_status sp_cuda_ws_capture_pending(sp_cuda_ws *ws, char *err, size_t errlen);
void sp_cuda_ws_get_stats(const sp_cuda_ws *ws, sp_cuda_ws_stats *out);

#ifdef __cplusplus
}
#endif

#endif
