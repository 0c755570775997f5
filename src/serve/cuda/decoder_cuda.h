/* Inside the CUDA backend module: the generation service's decoder on the GPU (decoder_cuda.cu),
 * whose functions module.c puts in the table of cuda_backend.h (each is documented there, under its
 * table field, dec_*). */
#ifndef SERVPROF_DECODER_CUDA_H
#define SERVPROF_DECODER_CUDA_H

#include "serve/cuda_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

sp_status sp_cuda_dec_create(const sp_cuda_dec_weights *w, int device, const sp_cuda_dec_shape *shape,
                             sp_cuda_dec **out, char *err, size_t errlen);
void sp_cuda_dec_destroy(sp_cuda_dec *d);
sp_status sp_cuda_dec_step(sp_cuda_dec *d, const sp_cuda_dec_seq *seqs, size_t nseqs, float *logits, char *err,
                           size_t errlen);
sp_status sp_cuda_dec_capture_pending(sp_cuda_dec *d, char *err, size_t errlen);
void sp_cuda_dec_get_stats(const sp_cuda_dec *d, sp_cuda_ws_stats *out);

#ifdef __cplusplus
}
#endif

#endif
