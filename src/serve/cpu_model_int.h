/* What the two CPU models (encoder.c, BERT-style; gen_decoder.c, GPT-2-style) share: the size checks,
 * the seeded weights and the LayerNorm (src/serve/cpu_model.c). */
#ifndef SP_SERVE_CPU_MODEL_INT_H
#define SP_SERVE_CPU_MODEL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "servprof/servprof.h"

/* SP_ERR_INVALID, with a message that starts with `what` ("encoder", "decoder") and names every size,
 * unless 0 < vocab <= SP_ENC_MAX_VOCAB, 0 < hidden <= SP_ENC_MAX_HIDDEN, heads divides hidden,
 * layers <= SP_ENC_MAX_LAYERS, 0 < ffn <= SP_ENC_MAX_FFN and 2 <= max_len <= SP_ENC_MAX_LEN. */
sp_status sp_cpu_model_check(const char *what, uint32_t vocab, uint32_t hidden, uint32_t layers, uint32_t heads,
                             uint32_t ffn, uint32_t max_len, char *err, size_t errlen);

/* Fills n weights from a seed: uniform with std 0.02, the N(0, 0.02) that BERT and GPT-2 initialise
 * from in spirit (half-width 0.02 x sqrt(3)). The same seed gives the same weights on every machine. */
void sp_cpu_model_fill_seeded(float *w, size_t n, uint64_t seed);

void sp_cpu_model_fill_const(float *p, size_t n, float v);

/* out[r] = LayerNorm(in[r]) over rows of width H with gains g, biases b and epsilon eps; in may be out. */
void sp_cpu_layernorm(const float *in, float *out, size_t rows, size_t H, const float *g, const float *b, float eps);

#endif
