/* `servprof synth`: writes a sample servprof.events/1 JSONL trace of a simulated dynamically-batched
 * inference service. The simulator is a library function (include/servprof/synth.h, src/synth/);
 * this file parses the options and calls it. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli_opts.h"
#include "commands.h"
#include "servprof/servprof.h"
#include "servprof/synth.h"

static void synth_usage(FILE *out)
{
    sp_synth_options d;
    sp_synth_options_init(&d);
    fprintf(out,
            "usage: servprof synth [OPTIONS]\n\n"
            "Writes a sample servprof.events/1 JSONL trace of a simulated dynamically-batched inference\n"
            "service (Poisson arrivals, log-normal prompt lengths, preprocess/queue/postprocess spans,\n"
            "batches padded to a bucket, copies and kernels on one device). The same seed gives the same\n"
            "trace. The simulated model is described in docs/synth.md.\n\n"
            "options:\n"
            "  --requests N           requests to simulate (default %llu, at most %u)\n"
            "  --rate R               mean arrival rate, requests per second (default %.0f with --gpu,\n"
            "                         %.0f without: about a fifth of what the backend sustains)\n"
            "  --seed S               random seed (default %llu)\n"
            "  --max-batch B          largest batch the batcher forms (default %u, at most %u)\n"
            "  --batch-window-ms W    how long a batch waits for more requests after its first one\n"
            "                         is ready (preprocessed), in milliseconds (default %g)\n"
            "  --pad-to P             pad each batch to its longest request rounded up to a multiple\n"
            "                         of P tokens (default %u; 1: pad to the longest only)\n"
            "  --gpu                  GPU backend: host-to-device copy, kernels launched with small\n"
            "                         gaps, device-to-host copy (default: CPU backend, the same\n"
            "                         operators back to back, 4x slower, no copies)\n"
            "  --price-per-hour X     instance price written into the trace (default %.1f)\n"
            "  --format jsonl         output format (only jsonl)\n"
            "  -o, --output FILE      write to FILE instead of standard output\n"
            "  -h, --help             this help\n",
            (unsigned long long)d.requests, SP_SYNTH_MAX_REQUESTS, SP_SYNTH_DEFAULT_RATE_GPU,
            SP_SYNTH_DEFAULT_RATE_CPU, (unsigned long long)d.seed, d.max_batch, SP_SYNTH_MAX_BATCH,
            d.batch_window_ms, d.pad_to, d.price_per_hour);
}

int sp_cli_synth_write(const char *cmd, const sp_synth_options *o, const char *path)
{
    FILE *out = stdout;
    if (path && !(out = fopen(path, "w"))) {
        fprintf(stderr, "servprof %s: %s: cannot create: %s\n", cmd, path, strerror(errno));
        return 1;
    }
    char err[256] = "";
    sp_status st = sp_synth_write(o, out, err, sizeof err);
    int rc = 0;
    if (st == SP_ERR_IO) {
        fprintf(stderr, "servprof %s: writing %s failed: %s\n", cmd, path ? path : "standard output", err);
        rc = 1;
    } else if (st != SP_OK) {
        fprintf(stderr, "servprof %s: %s\n", cmd, err[0] ? err : sp_status_str(st));
        rc = 1;
    }
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "servprof %s: writing %s failed: %s\n", cmd, path, strerror(errno));
        rc = 1;
    }
    return rc;
}

enum { OPT_REQUESTS = 256, OPT_RATE, OPT_SEED, OPT_MAX_BATCH, OPT_WINDOW, OPT_PAD, OPT_GPU, OPT_PRICE, OPT_FORMAT };

int sp_cmd_synth(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"requests", required_argument, NULL, OPT_REQUESTS},
        {"rate", required_argument, NULL, OPT_RATE},
        {"seed", required_argument, NULL, OPT_SEED},
        {"max-batch", required_argument, NULL, OPT_MAX_BATCH},
        {"batch-window-ms", required_argument, NULL, OPT_WINDOW},
        {"pad-to", required_argument, NULL, OPT_PAD},
        {"gpu", no_argument, NULL, OPT_GPU},
        {"price-per-hour", required_argument, NULL, OPT_PRICE},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sp_synth_options o;
    sp_synth_options_init(&o);
    const char *output = NULL;
    sp_cli_getopt_begin();
    int c;
    size_t k;
    static const char *const formats[] = {"jsonl"};
    while ((c = getopt_long(argc, argv, ":o:h", long_opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case OPT_REQUESTS: ok = sp_cli_u64("synth", "--requests", optarg, 1, SP_SYNTH_MAX_REQUESTS, &o.requests); break;
        case OPT_RATE:
            ok = sp_cli_number("synth", "--rate", optarg, SP_SYNTH_MIN_RATE, SP_SYNTH_MAX_RATE, &o.rate);
            break;
        case OPT_SEED: ok = sp_cli_u64("synth", "--seed", optarg, 0, UINT64_MAX, &o.seed); break;
        case OPT_MAX_BATCH: ok = sp_cli_uint("synth", "--max-batch", optarg, 1, SP_SYNTH_MAX_BATCH, &o.max_batch); break;
        case OPT_WINDOW:
            ok = sp_cli_number("synth", "--batch-window-ms", optarg, 0, SP_SYNTH_MAX_WINDOW_MS, &o.batch_window_ms);
            break;
        case OPT_PAD: ok = sp_cli_uint("synth", "--pad-to", optarg, 1, SP_SYNTH_MAX_TOKENS, &o.pad_to); break;
        case OPT_GPU: o.gpu = 1; break;
        case OPT_PRICE: ok = sp_cli_price("synth", optarg, &o.price_per_hour); break;
        case OPT_FORMAT: ok = sp_cli_choice("synth", "--format", optarg, formats, 1, &k); break;
        case 'o': output = optarg; break;
        case 'h': synth_usage(stdout); return 0;
        default: return sp_cli_option_error("synth", c, argc, argv, long_opts);
        }
        if (!ok)
            return 2;
    }
    if (optind < argc)
        return sp_cli_usage_error("synth", "unexpected argument '%s'", argv[optind]);
    return sp_cli_synth_write("synth", &o, output);
}
