/* Writes the serving-mix JSONL trace of the end-to-end analysis benchmark (bench/analyze_e2e.bench.sh,
 * issue 15) to standard output: REQUESTS requests of lognormal-ish length in batches of 1 to 3 (a
 * lightly loaded encoder service), each batch a host-to-device copy, a 12-layer model of 4 kernels a
 * layer (48 kernels, each with its host launch call, joined by correlation id) and a device-to-host
 * copy. That is about 54 events per request (4 request lines, 99 batch lines per 2 requests), so
 * 26,000 requests make ~1.4 M events and ~155 MB, the trace issue 15 describes. Batches are written
 * as they are dispatched, each request after its batch (as a recorder flushes them).
 * Usage: bench_mix_gen REQUESTS [SEED] > trace.jsonl */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/rng.h"

static const char *const kernels[4] = {"sm80_gemm_f16_128x128_tn", "fmha_fwd_f16_64x64", "layer_norm_fwd",
                                       "gelu_add_f16"};
static const unsigned kernel_ns_per_token[4] = {900, 600, 120, 150};

int main(int argc, char **argv)
{
    if (argc < 2 || atoll(argv[1]) <= 0) {
        fprintf(stderr, "usage: bench_mix_gen REQUESTS [SEED] > trace.jsonl\n");
        return 2;
    }
    uint64_t nreq = (uint64_t)atoll(argv[1]);
    sp_rng rng;
    sp_rng_seed(&rng, argc > 2 ? (uint64_t)atoll(argv[2]) : 1, 15);
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    printf("{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\",\"price_per_hour\":4.0}\n");
    uint64_t t = 1000000000ull, rid = 0, corr = 0, dev_free = t;
    for (uint64_t b = 0; rid < nreq; b++) {
        unsigned n = 1 + (unsigned)(sp_rng_next(&rng) % 3);
        if (rid + n > nreq)
            n = (unsigned)(nreq - rid);
        uint64_t arr[3], tok[3], maxtok = 0, eff = 0;
        for (unsigned i = 0; i < n; i++) {
            t += 20000 + sp_rng_next(&rng) % 400000; /* ~4.6k requests/s */
            arr[i] = t;
            tok[i] = 8 + sp_rng_next(&rng) % 24 + ((sp_rng_next(&rng) & 7) == 0 ? sp_rng_next(&rng) % 400 : 0);
            eff += tok[i];
            if (tok[i] > maxtok)
                maxtok = tok[i];
        }
        uint64_t ready = t + 40000 + tok[n - 1] * 1500; /* last member's preprocess ends */
        uint64_t start = ready > dev_free ? ready : dev_free;
        uint64_t padded = ((maxtok + 63) / 64) * 64 * n;
        uint64_t k = start + 8000;
        printf("{\"ev\":\"copy\",\"batch\":%llu,\"kind\":\"h2d\",\"bytes\":%llu,\"stream\":7,\"start_ns\":%llu,\"end_ns\":%llu}\n",
               (unsigned long long)b, (unsigned long long)(padded * 8), (unsigned long long)k,
               (unsigned long long)(k + 5000 + padded));
        k += 6000 + padded;
        for (unsigned l = 0; l < 48; l++) {
            corr++;
            uint64_t gap = 4000 + sp_rng_next(&rng) % 8000;
            uint64_t dur = 3000 + kernel_ns_per_token[l % 4] * padded / 8 + sp_rng_next(&rng) % 2000;
            printf("{\"ev\":\"launch\",\"name\":\"cudaLaunchKernel\",\"correlation\":%llu,\"start_ns\":%llu,\"end_ns\":%llu}\n"
                   "{\"ev\":\"kernel\",\"batch\":%llu,\"name\":\"%s\",\"stream\":7,\"correlation\":%llu,"
                   "\"start_ns\":%llu,\"end_ns\":%llu}\n",
                   (unsigned long long)corr, (unsigned long long)(k + gap - 3500), (unsigned long long)(k + gap - 500),
                   (unsigned long long)b, kernels[l % 4], (unsigned long long)corr, (unsigned long long)(k + gap),
                   (unsigned long long)(k + gap + dur));
            k += gap + dur;
        }
        printf("{\"ev\":\"copy\",\"batch\":%llu,\"kind\":\"d2h\",\"bytes\":%u,\"stream\":7,\"start_ns\":%llu,\"end_ns\":%llu}\n",
               (unsigned long long)b, n * 3072, (unsigned long long)(k + 3000), (unsigned long long)(k + 8000));
        uint64_t end = k + 10000;
        printf("{\"ev\":\"batch\",\"batch\":%llu,\"requests\":[", (unsigned long long)b);
        for (unsigned i = 0; i < n; i++)
            printf("%s\"req-%08llu\"", i ? "," : "", (unsigned long long)(rid + i));
        printf("],\"start_ns\":%llu,\"end_ns\":%llu,\"effective_tokens\":%llu,\"padded_tokens\":%llu}\n",
               (unsigned long long)start, (unsigned long long)end, (unsigned long long)eff, (unsigned long long)padded);
        for (unsigned i = 0; i < n; i++) {
            uint64_t pre = arr[i] + 40000 + tok[i] * 1500, done = end + 20000 + tok[i] * 500;
            unsigned long long id = (unsigned long long)(rid + i);
            printf("{\"ev\":\"request\",\"id\":\"req-%08llu\",\"arrival_ns\":%llu,\"done_ns\":%llu,\"input_tokens\":%llu}\n"
                   "{\"ev\":\"stage\",\"id\":\"req-%08llu\",\"stage\":\"preprocess\",\"start_ns\":%llu,\"end_ns\":%llu}\n"
                   "{\"ev\":\"stage\",\"id\":\"req-%08llu\",\"stage\":\"queue\",\"start_ns\":%llu,\"end_ns\":%llu}\n"
                   "{\"ev\":\"stage\",\"id\":\"req-%08llu\",\"stage\":\"postprocess\",\"start_ns\":%llu,\"end_ns\":%llu}\n",
                   id, (unsigned long long)arr[i], (unsigned long long)done, (unsigned long long)tok[i],
                   id, (unsigned long long)arr[i], (unsigned long long)pre,
                   id, (unsigned long long)pre, (unsigned long long)start,
                   id, (unsigned long long)end, (unsigned long long)done);
        }
        rid += n;
        dev_free = end;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
