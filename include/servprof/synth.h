/* servprof synth: a small simulated dynamically-batched inference service (Poisson arrivals,
 * log-normal prompt lengths, tokenisation, a batcher with a size cap and a batch window, padding to a
 * multiple, one device that runs one batch at a time, postprocessing) that writes its run as a
 * servprof.events/1 JSONL trace (DESIGN section 9), so the analyzer and the reports can be tried
 * without a GPU or a serving stack. `servprof synth` and `servprof demo`'s fallback call it.
 * docs/synth.md gives the model and its constants. Deterministic: the same options give the same
 * bytes (the RNG is xoshiro256** seeded by splitmix64 from `seed`). */
#ifndef SERVPROF_SYNTH_H
#define SERVPROF_SYNTH_H

#include <stdint.h>
#include <stdio.h>

#include "servprof/servprof.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits of the options (sp_synth_write refuses values outside them). */
#define SP_SYNTH_MAX_REQUESTS 10000000u  /* requests per trace (memory: 64 bytes each) */
#define SP_SYNTH_MAX_BATCH 4096u         /* max_batch */
#define SP_SYNTH_MAX_TOKENS 512u         /* the longest prompt; pad_to is at most this */
#define SP_SYNTH_MIN_RATE 1e-3           /* requests per second */
#define SP_SYNTH_MAX_RATE 1e9
#define SP_SYNTH_MAX_WINDOW_MS 60000.0   /* batch_window_ms */

/* The arrival rate when `rate` is 0: about a fifth of what each backend sustains (docs/synth.md). */
#define SP_SYNTH_DEFAULT_RATE_GPU 1000.0
#define SP_SYNTH_DEFAULT_RATE_CPU 200.0

/* What to simulate. Fill with sp_synth_options_init, then change fields. */
typedef struct sp_synth_options {
    uint64_t requests;       /* requests to simulate, 1..SP_SYNTH_MAX_REQUESTS; default 2000 */
    double rate;             /* mean arrival rate, requests per second, in [SP_SYNTH_MIN_RATE,
                                SP_SYNTH_MAX_RATE]; 0 (default): the backend's default rate */
    uint64_t seed;           /* default 1 */
    unsigned max_batch;      /* largest batch the batcher forms, 1..SP_SYNTH_MAX_BATCH; default 16 */
    double batch_window_ms;  /* how long a batch waits for more requests after its first one is ready,
                                0..SP_SYNTH_MAX_WINDOW_MS; default 4 */
    unsigned pad_to;         /* each batch padded to its longest request rounded up to a multiple of
                                this, 1..SP_SYNTH_MAX_TOKENS (1: the longest only); default 64 */
    int gpu;                 /* non-zero: the GPU backend (copies, kernels launched with gaps);
                                0 (default): the CPU backend (the same operators 4x slower, no copies) */
    double price_per_hour;   /* instance price written into the trace's meta line, > 0;
                                default SP_DEFAULT_PRICE_PER_HOUR (analyze.h) */
} sp_synth_options;

/* Fills `o` with the defaults above. */
SP_API void sp_synth_options_init(sp_synth_options *o);

/* The rate a run with `o` simulates: o->rate, or the backend's default when it is 0. */
SP_API double sp_synth_rate(const sp_synth_options *o);

/* Simulates the service described by `o` and writes the trace to `out` (borrowed; written in order,
 * flushed, not closed): the meta line first (format, price, the options and the simulated policy as
 * trace properties), then each batch with its copies and kernels as it is dispatched, then each
 * request with its preprocess, queue and postprocess spans. Returns SP_OK; SP_ERR_INVALID when an
 * option is out of range (`err` names it and the range); SP_ERR_NOMEM; SP_ERR_IO when writing to
 * `out` failed (`err` gives the system's reason, e.g. "No space left on device"). `err` (may be
 * NULL) gets a message on failure. Thread-safe: no global state. */
SP_API sp_status sp_synth_write(const sp_synth_options *o, FILE *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
