/* The pieces the CPU encoder and decoder share (cpu_model_int.h). */
#include "serve/cpu_model_int.h"

#include <math.h>

#include "common/rng.h"
#include "common/util_int.h"
#include "serve/serve_int.h"

sp_status sp_cpu_model_check(const char *what, uint32_t vocab, uint32_t hidden, uint32_t layers, uint32_t heads,
                             uint32_t ffn, uint32_t max_len, char *err, size_t errlen)
{
    if (vocab == 0 || vocab > SP_ENC_MAX_VOCAB || hidden == 0 || hidden > SP_ENC_MAX_HIDDEN ||
        layers > SP_ENC_MAX_LAYERS || ffn == 0 || ffn > SP_ENC_MAX_FFN || max_len < 2 || max_len > SP_ENC_MAX_LEN ||
        heads == 0 || hidden % heads != 0) {
        sp_errf(err, errlen,
                "%s: bad size (vocab %u, hidden %u, layers %u, heads %u, ffn %u, max-len %u): need hidden <= %u "
                "divisible by heads, layers <= %u, ffn <= %u, 2 <= max-len <= %u",
                what, vocab, hidden, layers, heads, ffn, max_len, SP_ENC_MAX_HIDDEN, SP_ENC_MAX_LAYERS,
                SP_ENC_MAX_FFN, SP_ENC_MAX_LEN);
        return SP_ERR_INVALID;
    }
    return SP_OK;
}

void sp_cpu_model_fill_seeded(float *w, size_t n, uint64_t seed)
{
    const float a = 0.02f * 1.7320508f;
    for (size_t i = 0; i < n; i++)
        w[i] = a * (float)(sp_bits_to_unit(sp_splitmix64(&seed)) * 2.0 - 1.0);
}

void sp_cpu_model_fill_const(float *p, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        p[i] = v;
}

void sp_cpu_layernorm(const float *in, float *out, size_t rows, size_t H, const float *g, const float *b, float eps)
{
    for (size_t r = 0; r < rows; r++) {
        const float *x = in + r * H;
        float *y = out + r * H;
        float mean = 0.0f;
        for (size_t j = 0; j < H; j++)
            mean += x[j];
        mean /= (float)H;
        float var = 0.0f;
        for (size_t j = 0; j < H; j++) {
            float d = x[j] - mean;
            var += d * d;
        }
        var /= (float)H;
        float inv = 1.0f / sqrtf(var + eps);
        for (size_t j = 0; j < H; j++)
            y[j] = (x[j] - mean) * inv * g[j] + b[j];
    }
}
